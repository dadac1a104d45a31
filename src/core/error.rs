//! Errors that backends report; they travel back to `update` as actions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::TrafficSplit;

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
    /// A change was sent but whether it was applied is not known: the answer
    /// was lost and re-reading the service failed, or the service now shows
    /// a third split. `read_back` is that split, when it could be read.
    #[error("not known whether the change was applied: {message}")]
    Unconfirmed {
        message: String,
        read_back: Option<TrafficSplit>,
    },
    /// Anything else (malformed response, I/O error...).
    #[error("{0}")]
    Other(String),
}

/// A call that failed and is tried again: what the screen shows ("retrying
/// (2/5)") and what a script says on stderr while it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retrying {
    /// Which call, e.g. "PATCH service emergence-app".
    pub call: String,
    /// The try about to be made (2 for the first retry).
    pub attempt: u32,
    /// Tries in all.
    pub of: u32,
    /// The wait before it.
    pub wait: Duration,
    /// Why the last try failed.
    pub why: String,
}

impl std::fmt::Display for Retrying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}; retrying ({}/{}) in {}",
            self.call,
            self.why,
            self.attempt,
            self.of,
            super::duration::human(self.wait)
        )
    }
}

/// Hears of every retry a backend makes, and of how an unclear answer was
/// resolved (the screen shows it, a script says it on stderr). Called from
/// the backend's task: it must not block.
pub type RetryObserver = std::sync::Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a backend tells while a call is under way: a retry, or how an
/// unclear answer to a change was resolved by reading the platform again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Retrying(Retrying),
    /// `answer` was neither a clean success nor a clean refusal; reading the
    /// platform again showed the change `outcome` ("applied", "not applied").
    ReadBack {
        call: String,
        answer: String,
        outcome: String,
    },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Retrying(r) => r.fmt(f),
            Progress::ReadBack {
                call,
                answer,
                outcome,
            } => write!(
                f,
                "{call}: the answer was unclear ({answer}); reading the service again shows \
                 it {outcome}"
            ),
        }
    }
}

impl BackendError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, BackendError::Conflict(_))
    }

    /// A refusal that proves nothing was applied (the version did not match,
    /// the request was invalid, not allowed, or its object is gone). Any
    /// other answer to a write (5xx, 429, a timeout, a dropped connection,
    /// a garbled body) leaves its outcome to be read back.
    pub fn is_clean_refusal(&self) -> bool {
        matches!(
            self,
            BackendError::Conflict(_)
                | BackendError::Refused(_)
                | BackendError::Auth(_)
                | BackendError::NotFound(_)
        )
    }

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
