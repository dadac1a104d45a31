//! `[gates]`: the fixed thresholds a canary must stay within.

use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::judge::JudgeMode;
use crate::core::state::GatesMode;

table! {
    struct Raw {
        mode: Leaf => "one of: \"act\" (a red gate rolls back, too little data holds the plan), \"observe\" (shown and journaled, never acts; needs judge.mode = \"act\")",
        error_percent: Leaf => "a percentage between 0 and 100",
        p95_latency_ms: Leaf => "a number of milliseconds greater than 0",
        window: Leaf => DURATION,
        sustain: Leaf => DURATION,
        min_requests: Leaf => "a number of requests, 0 or more",
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatesConfig {
    /// Act on the plan, or only observe (the judge then decides alone).
    pub mode: GatesMode,
    /// Share of 5xx responses, in percent, 0..=100.
    pub error_percent: f64,
    /// 95th percentile latency, milliseconds, > 0.
    pub p95_latency_ms: f64,
    /// How much recent data a verdict looks at.
    pub window: Duration,
    /// A gate must stay red this long before it counts (noise guard).
    pub sustain: Duration,
    /// Fewer canary requests than this in the window is "no data".
    pub min_requests: u64,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            mode: GatesMode::Act,
            error_percent: 1.0,
            p95_latency_ms: 500.0,
            window: Duration::from_secs(60),
            sustain: Duration::from_secs(20),
            min_requests: 50,
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<GatesConfig, ConfigError> {
        let d = GatesConfig::default();
        let modes = [GatesMode::Act, GatesMode::Observe].map(|m| (m.as_str(), m));
        Ok(GatesConfig {
            mode: cx
                .choice(&self.mode, "gates.mode", &modes)?
                .unwrap_or(d.mode),
            error_percent: cx
                .float(&self.error_percent, "gates.error_percent", |x| {
                    (0.0..=100.0).contains(&x)
                })?
                .unwrap_or(d.error_percent),
            p95_latency_ms: cx
                .float(&self.p95_latency_ms, "gates.p95_latency_ms", |x| x > 0.0)?
                .unwrap_or(d.p95_latency_ms),
            window: cx
                .duration(&self.window, "gates.window")?
                .unwrap_or(d.window),
            sustain: cx
                .duration_or_zero(&self.sustain, "gates.sustain")?
                .unwrap_or(d.sustain),
            min_requests: cx
                .int(&self.min_requests, "gates.min_requests", 0..=i64::MAX)?
                .unwrap_or(d.min_requests),
        })
    }
}

/// Thresholds that only observe leave the metrics to the judge: refused
/// unless the judge acts, or nothing would hold back a canary on its numbers
/// (never promote blind).
pub(super) fn check_observe(
    raw: &Raw,
    gates: &GatesConfig,
    judge: JudgeMode,
    cx: &Cx,
) -> Result<(), ConfigError> {
    match (&raw.mode, gates.mode) {
        (Some(leaf), GatesMode::Observe) if judge != JudgeMode::Act => Err(cx.at(
            leaf,
            "gates.mode",
            format!(
                "gates.mode = \"observe\" needs judge.mode = \"act\" (it is \"{}\"): \
                 with neither acting, nothing would stop a canary on its metrics; \
                 set judge.mode = \"act\" or keep gates.mode = \"act\"",
                judge.as_str()
            ),
        )),
        _ => Ok(()),
    }
}
