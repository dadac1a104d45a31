//! `[verification]`: the battery of checks as a whole.

use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;

/// The battery's global timeout when the file does not set one (`DOMAIN.md`: 10 min).
pub const DEFAULT_VERIFICATION_TIMEOUT: Duration = Duration::from_secs(600);

table! {
    struct Raw {
        timeout: Leaf => DURATION,
    }
}

impl Raw {
    /// The whole battery's timeout.
    pub(super) fn validate(&self, cx: &Cx) -> Result<Duration, ConfigError> {
        Ok(cx
            .duration(&self.timeout, "verification.timeout")?
            .unwrap_or(DEFAULT_VERIFICATION_TIMEOUT))
    }
}
