//! Errors that backends report; they travel back to `update` as actions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A backend failure, classified so the cockpit can say what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BackendError {
    /// Someone else changed the service since it was read (etag / resourceVersion mismatch).
    #[error("the service changed since it was read: {0}")]
    Conflict(String),
    /// The platform refused the request as invalid (unknown revision, not ready, bad split).
    #[error("refused: {0}")]
    Refused(String),
    /// Credentials missing or insufficient.
    #[error("not authorised: {0}")]
    Auth(String),
    /// The service, project or revision does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Temporarily unavailable or rate limited; retry later.
    #[error("unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The request took too long.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The platform accepted the change but it failed while being applied.
    #[error("the change failed: {0}")]
    Failed(String),
    /// Anything else (malformed response, I/O error...).
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// Worth retrying without asking the operator.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackendError::Unavailable { .. } | BackendError::Timeout(_)
        )
    }
}

/// The start of a peer's answer for an error message: one line (control
/// characters and runs of blanks become one space), at most `max` characters
/// then `…`, `(empty)` when there is nothing to show.
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.is_empty() {
        return "(empty)".into();
    }
    if one_line.chars().count() > max {
        let mut cut: String = one_line.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

#[cfg(test)]
mod excerpt_tests {
    use super::excerpt;

    #[test]
    fn one_line_no_control_characters_cut_with_an_ellipsis() {
        assert_eq!(excerpt("  internal\n  error ", 50), "internal error");
        // An escape sequence from a peer never reaches the terminal.
        assert_eq!(excerpt("a\u{1b}[2Jb\u{7}c", 50), "a [2Jb c");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
        assert_eq!(excerpt(" \n\t", 5), "(empty)");
    }
}
