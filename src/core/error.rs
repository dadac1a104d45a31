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
