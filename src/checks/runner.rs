//! Runs the configured battery with the cockpit's backends: HTTP checks over
//! HTTP, `ready` through the platform, `query` through the metrics source,
//! `logs` over the entries the log tail has seen. [`CheckRunner`] is the seam
//! the runtime runs a battery through (one index at a time).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::Utc;

use super::{CheckKind, CheckResult, CheckSpec, CheckStatus, Finding, QueryCheck, QueryMetric};
use crate::core::duration;
use crate::core::model::{MetricKind, MetricsBatch, Severity};
use crate::core::state::CheckInfo;
use crate::logs::RecentLogs;
use crate::metrics::{MetricsSource, MetricsWindow};
use crate::platform::Platform;

/// Where a battery of checks is aimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTarget {
    pub revision: String,
    pub tag_url: Option<String>,
    pub service_url: Option<String>,
    /// The stable revision, when there is one other than `revision`.
    pub stable: Option<String>,
}

/// Runs the configured verification checks, one index at a time.
#[async_trait::async_trait]
pub trait CheckRunner: Send + Sync {
    fn count(&self) -> usize;
    async fn run(&self, index: usize, target: &CheckTarget) -> CheckResult;
}

/// How much later than a check's own timeout the runner gives up on it.
const BACKSTOP: Duration = Duration::from_secs(1);

/// What a `query` check measured when there was no data.
pub const NO_DATA: &str = crate::core::state::NO_DATA;
/// How long a `query` check waits before asking again when there is no data.
const NO_DATA_RETRY: Duration = Duration::from_secs(5);

/// The battery, with what its checks need.
pub struct Runner {
    specs: Vec<CheckSpec>,
    platform: Arc<dyn Platform>,
    metrics: Arc<dyn MetricsSource>,
    recent_logs: Option<RecentLogs>,
    client: reqwest::Client,
}

impl Runner {
    pub fn new(
        specs: Vec<CheckSpec>,
        platform: Arc<dyn Platform>,
        metrics: Arc<dyn MetricsSource>,
        recent_logs: Option<RecentLogs>,
    ) -> Runner {
        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("canary-cockpit/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Runner {
            specs,
            platform,
            metrics,
            recent_logs,
            client,
        }
    }

    /// What the Checks panel shows before anything ran.
    pub fn infos(specs: &[CheckSpec]) -> Vec<CheckInfo> {
        specs
            .iter()
            .map(|s| CheckInfo {
                name: s.name.clone(),
                kind: s.kind.name().to_string(),
                blocking: s.blocking,
            })
            .collect()
    }

    /// Runs one check to an outcome, within its own timeout.
    pub async fn outcome(&self, spec: &CheckSpec, target: &CheckTarget) -> CheckResult {
        let started = Instant::now();
        let fut = async {
            match &spec.kind {
                CheckKind::Http(_) | CheckKind::MetricsEndpoint(_) => {
                    let ctx = super::CheckContext {
                        revision: target.revision.clone(),
                        tag_url: target.tag_url.clone(),
                        service_url: target.service_url.clone(),
                    };
                    super::run(spec, &ctx, &self.client).await
                }
                CheckKind::Ready => {
                    self.ready(target)
                        .await
                        .into_result(spec.blocking, started.elapsed(), 1)
                }
                CheckKind::Query(q) => {
                    // Metrics lag behind traffic (Cloud Monitoring by minutes):
                    // "no data" is asked again until the check's time is nearly up.
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        let v = self.query(q, target).await;
                        let no_data = v.measured.as_deref() == Some(NO_DATA);
                        if no_data && started.elapsed() + 2 * NO_DATA_RETRY < spec.timeout {
                            tokio::time::sleep(NO_DATA_RETRY).await;
                            continue;
                        }
                        break v.into_result(spec.blocking, started.elapsed(), attempts);
                    }
                }
                CheckKind::Logs(l) => self.logs(l.severity, l.window, target).into_result(
                    spec.blocking,
                    started.elapsed(),
                    0,
                ),
            }
        };
        // http and metrics-endpoint keep their own timeout and say what the
        // attempts met; this one is the backstop, a moment later.
        let limit = match spec.kind {
            CheckKind::Http(_) | CheckKind::MetricsEndpoint(_) => spec.timeout + BACKSTOP,
            _ => spec.timeout,
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(o) => o,
            Err(_) => Finding::fail(format!(
                "no answer within the check's timeout ({})",
                duration::human(spec.timeout)
            ))
            .into_result(spec.blocking, started.elapsed(), 0),
        }
    }

    async fn ready(&self, target: &CheckTarget) -> Finding {
        match self.platform.snapshot().await {
            Err(e) => Finding::fail(format!("cannot read the service: {e}")),
            Ok(snap) => match snap.revision(&target.revision) {
                None => Finding::fail(format!(
                    "the platform does not list revision {}",
                    target.revision
                )),
                Some(r) if r.ready => Finding {
                    passed: true,
                    measured: Some("ready".into()),
                    expected: Some("ready".into()),
                    reason: format!("{} is ready", r.name),
                },
                Some(r) => Finding {
                    passed: false,
                    measured: Some("not ready".into()),
                    expected: Some("ready".into()),
                    reason: match &r.status_message {
                        Some(m) if !m.is_empty() => format!("{} is not ready: {m}", r.name),
                        _ => format!("{} is not ready", r.name),
                    },
                },
            },
        }
    }

    async fn query(&self, q: &QueryCheck, target: &CheckTarget) -> Finding {
        let label = q.metric.label();
        let over = duration::human(q.window);
        let (value, stable_value) = match self.measure(q, target).await {
            Ok(v) => v,
            Err(verdict) => return verdict,
        };
        let Some(value) = value else {
            return Finding {
                passed: false,
                measured: Some(NO_DATA.into()),
                expected: threshold_text(q, None),
                reason: format!(
                    "no {label} data for {} in the last {over}: it may get no traffic",
                    target.revision
                ),
            };
        };
        let stable_value = if q.compare_to_stable {
            let stable = target.stable.as_deref().unwrap_or_default();
            match stable_value {
                Some(v) => Some(v),
                None => {
                    return Finding {
                        passed: false,
                        measured: Some(fmt_num(value)),
                        expected: threshold_text(q, None),
                        reason: format!("no {label} data for the stable {stable} to compare with"),
                    }
                }
            }
        } else {
            None
        };
        let mut failures = Vec::new();
        if let Some(max) = q.max {
            if value > max {
                failures.push(format!("{} > max {}", fmt_num(value), fmt_num(max)));
            }
        }
        if let Some(min) = q.min {
            if value < min {
                failures.push(format!("{} < min {}", fmt_num(value), fmt_num(min)));
            }
        }
        if let Some(s) = stable_value {
            if value > s + q.margin {
                failures.push(format!(
                    "{} > stable {} + {}",
                    fmt_num(value),
                    fmt_num(s),
                    fmt_num(q.margin)
                ));
            }
        }
        Finding {
            passed: failures.is_empty(),
            measured: Some(fmt_num(value)),
            expected: threshold_text(q, stable_value),
            reason: if failures.is_empty() {
                format!("{label} over {over}: {} within bounds", fmt_num(value))
            } else {
                format!("{label} over {over}: {}", failures.join("; "))
            },
        }
    }

    /// The canary's value and (when compared) the stable's; `Err` is a
    /// verdict already (the source failed).
    async fn measure(
        &self,
        q: &QueryCheck,
        target: &CheckTarget,
    ) -> Result<(Option<f64>, Option<f64>), Finding> {
        let stable = if q.compare_to_stable {
            match &target.stable {
                Some(s) => Some(s.clone()),
                None => return Err(Finding::fail("no stable revision to compare with")),
            }
        } else {
            None
        };
        let kind = match &q.metric {
            QueryMetric::ErrorPercent => MetricKind::ErrorPercent,
            QueryMetric::P95LatencyMs => MetricKind::LatencyP95,
            QueryMetric::RequestsPerSecond => MetricKind::RequestRate,
            QueryMetric::PromQl(template) => {
                let fail = |e: crate::core::error::BackendError| {
                    Finding::fail(format!("cannot run the query: {e}"))
                };
                let canary = self
                    .metrics
                    .instant(template, &target.revision)
                    .await
                    .map_err(fail)?;
                let stable = match &stable {
                    Some(s) => self.metrics.instant(template, s).await.map_err(fail)?,
                    None => None,
                };
                return Ok((canary, stable));
            }
        };
        let mut revisions = vec![target.revision.clone()];
        revisions.extend(stable.clone());
        let window = MetricsWindow {
            end: Utc::now(),
            span: q.window,
            step: (q.window / 30).max(Duration::from_secs(1)),
        };
        let batch = self
            .metrics
            .fetch(&revisions, window)
            .await
            .map_err(|e| Finding::fail(format!("cannot read the metrics: {e}")))?;
        Ok((
            window_value(&batch, &target.revision, kind),
            stable.and_then(|s| window_value(&batch, &s, kind)),
        ))
    }

    fn logs(&self, min: Severity, window: Duration, target: &CheckTarget) -> Finding {
        let Some(recent) = &self.recent_logs else {
            return Finding::fail("no log source to look at");
        };
        let now = Utc::now();
        let from = now - chrono::Duration::from_std(window).unwrap_or_default();
        let scan = recent.scan(&target.revision, min, from);
        let expected = Some(format!("0 ≥ {}", min.as_str()));
        if scan.count > 0 {
            let newest = scan
                .newest
                .map(|e| format!(": latest {} {}", e.timestamp.format("%H:%M:%S"), e.message))
                .unwrap_or_default();
            return Finding {
                passed: false,
                measured: Some(scan.count.to_string()),
                expected,
                reason: format!(
                    "{} entries at {} or above in the last {}{newest}",
                    scan.count,
                    min.as_str(),
                    duration::human(window)
                ),
            };
        }
        let coverage = match scan.covered_from {
            Some(c) if c > from => format!(
                " (logs seen for the last {} only)",
                duration::human((now - c).to_std().unwrap_or_default())
            ),
            Some(_) => String::new(),
            None => " (no logs received yet)".into(),
        };
        Finding {
            passed: true,
            measured: Some("0".into()),
            expected,
            reason: format!(
                "no entry at {} or above in the last {}{coverage}",
                min.as_str(),
                duration::human(window)
            ),
        }
    }
}

/// A request-weighted mean for rates and ratios, a plain mean for latency.
fn window_value(batch: &MetricsBatch, revision: &str, kind: MetricKind) -> Option<f64> {
    let series = batch.series.get(&(revision.to_string(), kind))?;
    let rates = batch
        .series
        .get(&(revision.to_string(), MetricKind::RequestRate));
    let mut sum = 0.0;
    let mut weight = 0.0;
    for (t, v) in &series.points {
        if !v.is_finite() {
            continue;
        }
        let w = match (kind, rates) {
            (MetricKind::ErrorPercent, Some(r)) => r
                .points
                .iter()
                .find(|(rt, _)| rt == t)
                .map_or(0.0, |(_, rv)| if rv.is_finite() { *rv } else { 0.0 }),
            _ => 1.0,
        };
        sum += v * w;
        weight += w;
    }
    (weight > 0.0).then(|| sum / weight)
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn threshold_text(q: &QueryCheck, stable: Option<f64>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(max) = q.max {
        parts.push(format!("≤ {}", fmt_num(max)));
    }
    if let Some(min) = q.min {
        parts.push(format!("≥ {}", fmt_num(min)));
    }
    if q.compare_to_stable {
        match stable {
            Some(s) => parts.push(format!("≤ {}", fmt_num(s + q.margin))),
            None => parts.push(format!("≤ stable + {}", fmt_num(q.margin))),
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[async_trait::async_trait]
impl CheckRunner for Runner {
    fn count(&self) -> usize {
        self.specs.len()
    }

    async fn run(&self, index: usize, target: &CheckTarget) -> CheckResult {
        match self.specs.get(index) {
            Some(spec) => self.outcome(spec, target).await,
            None => CheckResult {
                status: CheckStatus::Fail,
                measured: None,
                expected: None,
                reason: format!("no check number {index}"),
                duration: Duration::ZERO,
                attempts: 0,
            },
        }
    }
}
