//! `[metrics]`: how much history the sparklines show, at which resolution.

use std::time::Duration;

use toml::Value;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::{format_duration, ConfigError};

/// Bounds on `metrics.window / metrics.step`.
const MIN_POINTS: u128 = 2;
const MAX_POINTS: u128 = 1000;

table! {
    struct Raw {
        window: Leaf => DURATION,
        step: Leaf => DURATION,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// How much history the sparklines show.
    pub window: Duration,
    /// Resolution; `window / step` is between 2 and 1000 points.
    pub step: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window: Duration::from_secs(600),
            step: Duration::from_secs(10),
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<MetricsConfig, ConfigError> {
        let d = MetricsConfig::default();
        let window = cx
            .duration(&self.window, "metrics.window")?
            .unwrap_or(d.window);
        let step = cx.duration(&self.step, "metrics.step")?.unwrap_or(d.step);
        let points = window.as_millis() / step.as_millis().max(1);
        if !(MIN_POINTS..=MAX_POINTS).contains(&points) {
            let advice = if points < MIN_POINTS {
                "use a smaller step or a longer window"
            } else {
                "use a larger step or a shorter window"
            };
            let detail = format!(
                "a window of {} at a step of {} gives {points} points, expected between {MIN_POINTS} and {MAX_POINTS}; {advice}",
                format_duration(window),
                format_duration(step)
            );
            let (leaf, key) = match (&self.step, &self.window) {
                (Some(l), _) => (l, "metrics.step"),
                (None, Some(l)) => (l, "metrics.window"),
                (None, None) => return Err(cx.error(None, Some("metrics.step"), detail)),
            };
            let shown = match leaf.get_ref() {
                Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            return Err(cx.at(leaf, key, format!("invalid value {shown}: {detail}")));
        }
        Ok(MetricsConfig { window, step })
    }
}
