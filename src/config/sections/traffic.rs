//! `[traffic]`: how far one key press moves traffic, and from how far on a
//! change asks first.

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;

table! {
    struct Raw {
        step: Leaf => "a number of points between 1 and 50",
        max_step: Leaf => "a number of points between 1 and 100",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrafficConfig {
    /// Points of traffic moved by one `+`/`-` press, 1..=50.
    pub step: u8,
    /// Changes larger than this ask for confirmation, 1..=100, `>= step`.
    pub max_step: u8,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            step: 5,
            max_step: 25,
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<TrafficConfig, ConfigError> {
        let d = TrafficConfig::default();
        let step = cx
            .int(&self.step, "traffic.step", 1..=50)?
            .unwrap_or(d.step);
        let max_step = cx
            .int(&self.max_step, "traffic.max_step", 1..=100)?
            .unwrap_or(d.max_step);
        if max_step < step {
            return Err(match (&self.max_step, &self.step) {
                (Some(l), _) => cx.at(
                    l,
                    "traffic.max_step",
                    format!("invalid value {max_step}, expected at least traffic.step ({step})"),
                ),
                (None, Some(l)) => cx.at(
                    l,
                    "traffic.step",
                    format!(
                        "invalid value {step}: larger than traffic.max_step ({max_step}, the default); set max_step to at least {step}"
                    ),
                ),
                (None, None) => cx.error(None, Some("traffic.max_step"), "max_step is smaller than step".into()),
            });
        }
        Ok(TrafficConfig { step, max_step })
    }
}
