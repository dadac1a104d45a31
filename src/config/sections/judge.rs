//! `[judge]`: the statistical judge (its settings type lives with the judge).

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::judge::{JudgeMode, JudgeSettings};
use crate::core::plan::Baseline;

table! {
    struct Raw {
        mode: Leaf => "one of: \"off\", \"observe\" (shown and journaled, never acts), \"act\"",
        alpha: Leaf => "a false-alarm rate between 0.0001 and 0.2, e.g. 0.01",
        error_margin: Leaf => "a number of points of 5xx between 0 and 100, e.g. 0.5",
        latency_margin_ms: Leaf => "a number of milliseconds, 0 or more, e.g. 50",
        min_requests: Leaf => "a number of requests, 1 or more",
        baseline: Leaf => "one of: \"none\" (the stable), \"deploy\" (a fresh revision of the stable's image, where the platform can deploy)",
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<JudgeSettings, ConfigError> {
        let d = JudgeSettings::default();
        let modes = [JudgeMode::Off, JudgeMode::Observe, JudgeMode::Act].map(|m| (m.as_str(), m));
        Ok(JudgeSettings {
            mode: cx
                .choice(&self.mode, "judge.mode", &modes)?
                .unwrap_or(d.mode),
            alpha: cx
                .float(&self.alpha, "judge.alpha", |x| (0.0001..=0.2).contains(&x))?
                .unwrap_or(d.alpha),
            error_margin_points: cx
                .float(&self.error_margin, "judge.error_margin", |x| {
                    (0.0..=100.0).contains(&x)
                })?
                .unwrap_or(d.error_margin_points),
            latency_margin_ms: cx
                .float(&self.latency_margin_ms, "judge.latency_margin_ms", |x| {
                    x >= 0.0
                })?
                .unwrap_or(d.latency_margin_ms),
            min_requests: cx
                .int::<i64>(&self.min_requests, "judge.min_requests", 1..=i64::MAX)?
                .map_or(d.min_requests, |n| n as f64),
            baseline: cx
                .choice(
                    &self.baseline,
                    "judge.baseline",
                    &[Baseline::None, Baseline::Deploy].map(|b| (b.as_str(), b)),
                )?
                .unwrap_or(d.baseline),
            ..d
        })
    }
}
