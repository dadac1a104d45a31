//! `[refresh]`: how often the service, the metrics and the logs are read.

use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;

table! {
    struct Raw {
        service: Leaf => DURATION,
        metrics: Leaf => DURATION,
        logs: Leaf => DURATION,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    pub service: Duration,
    pub metrics: Duration,
    pub logs: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            service: Duration::from_secs(2),
            metrics: Duration::from_secs(5),
            logs: Duration::from_secs(2),
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<RefreshConfig, ConfigError> {
        let d = RefreshConfig::default();
        Ok(RefreshConfig {
            service: cx
                .duration(&self.service, "refresh.service")?
                .unwrap_or(d.service),
            metrics: cx
                .duration(&self.metrics, "refresh.metrics")?
                .unwrap_or(d.metrics),
            logs: cx.duration(&self.logs, "refresh.logs")?.unwrap_or(d.logs),
        })
    }
}
