//! `[notify]`: chat notifications (a webhook).

use std::fmt;
use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;

/// The environment variable that overrides `notify.webhook_url`.
pub const WEBHOOK_ENV: &str = "CANARY_WEBHOOK_URL";

table! {
    struct Raw {
        webhook_url: Leaf => "an http:// or https:// URL (or set CANARY_WEBHOOK_URL instead)",
        timeout: Leaf => DURATION,
        retries: Leaf => "a number of retries between 0 and 10",
    }
}

/// Chat notifications. The URL is a secret: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub webhook_url: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhook_url: None,
            timeout: Duration::from_secs(5),
            retries: 3,
        }
    }
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl NotifyConfig {
    /// `$CANARY_WEBHOOK_URL` when set and non-empty, else the file's URL.
    pub fn url_with_env(&self) -> Option<String> {
        std::env::var(WEBHOOK_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.webhook_url.clone())
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<NotifyConfig, ConfigError> {
        let d = NotifyConfig::default();
        Ok(NotifyConfig {
            webhook_url: cx.url(&self.webhook_url, "notify.webhook_url", true)?,
            timeout: cx
                .duration(&self.timeout, "notify.timeout")?
                .unwrap_or(d.timeout),
            retries: cx
                .int(&self.retries, "notify.retries", 0..=10)?
                .unwrap_or(d.retries),
        })
    }
}
