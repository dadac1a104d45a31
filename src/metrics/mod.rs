//! Sources of per-revision metrics.

pub mod exposition;
pub mod prometheus;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::core::error::BackendError;
use crate::core::model::MetricsBatch;

/// The window a metrics poll asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsWindow {
    pub end: DateTime<Utc>,
    pub span: Duration,
    pub step: Duration,
}

impl MetricsWindow {
    /// The window's start put on a fixed grid (a multiple of the step since
    /// the epoch), as dashboards do: the points of two polls a few seconds
    /// apart then fall on the same instants and the same values, instead of
    /// cutting the same seconds differently at every refresh.
    pub fn grid_start(&self) -> DateTime<Utc> {
        let span = chrono::Duration::from_std(self.span).unwrap_or(chrono::Duration::zero());
        let start = self.end - span;
        let step_ms = i64::try_from(self.step.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let grid = start.timestamp_millis().div_euclid(step_ms) * step_ms;
        DateTime::<Utc>::from_timestamp_millis(grid).unwrap_or(start)
    }

    /// `now` rounded up to a multiple of `step`: every poll then asks for
    /// points on the same grid, so a point read again replaces its older
    /// reading (the judge counts each interval once). The newest point is
    /// the interval still filling (stamped at its end, up to a step ahead),
    /// so nothing waits for a whole step to be seen.
    pub fn aligned_end(now: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(0);
        if step_ms <= 0 {
            return now;
        }
        let ms = now.timestamp_millis();
        let rem = ms.rem_euclid(step_ms);
        let up = if rem == 0 { ms } else { ms - rem + step_ms };
        DateTime::<Utc>::from_timestamp_millis(up).unwrap_or(now)
    }
}

/// Requests/s, 5xx % and p95 latency per revision over a window.
#[async_trait]
pub trait MetricsSource: Send + Sync {
    async fn fetch(
        &self,
        revisions: &[String],
        window: MetricsWindow,
    ) -> Result<MetricsBatch, BackendError>;

    /// One PromQL template (`{revision}`, `{rate_window}`) for `revision`,
    /// evaluated now, for the `query` checks: one number, `None` when it has
    /// no data. Sources without PromQL say so.
    async fn instant(&self, template: &str, revision: &str) -> Result<Option<f64>, BackendError> {
        let _ = (template, revision);
        Err(BackendError::Other(
            "this metrics source cannot run PromQL: use metric = \"error_percent\", \"p95_latency_ms\" or \"requests_per_second\"".into(),
        ))
    }
}

/// A metrics source that is not available: every fetch says why, so the
/// gates show "no data" with the reason rather than zeros.
pub struct Unavailable {
    why: String,
}

impl Unavailable {
    pub fn new(why: impl Into<String>) -> Unavailable {
        Unavailable { why: why.into() }
    }
}

#[async_trait]
impl MetricsSource for Unavailable {
    async fn fetch(
        &self,
        _revisions: &[String],
        _window: MetricsWindow,
    ) -> Result<MetricsBatch, BackendError> {
        Err(BackendError::Other(self.why.clone()))
    }
}
