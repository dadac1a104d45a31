//! `[prometheus]`: a Prometheus HTTP API for the metrics (self-hosted; Cloud
//! Run uses Cloud Monitoring's unless this is set).

use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::ConfigError;

const TEMPLATE: &str = "a PromQL template using {revision} and {rate_window}";

table! {
    struct Raw {
        url: Leaf => "an http:// or https:// URL such as \"http://127.0.0.1:9090\"",
        rate_window: Leaf => DURATION,
        bearer_token_env: Leaf => "the name of an environment variable, e.g. \"PROMETHEUS_TOKEN\"",
        request_rate: Leaf => TEMPLATE,
        error_percent: Leaf => TEMPLATE,
        p95_latency_ms: Leaf => TEMPLATE,
        latency_buckets: Leaf => "a PromQL template giving one series per le bucket (sum by (le) (rate(..._bucket[{rate_window}]))), or \"\" for none",
        latency_buckets_unit: Leaf => "the unit of the buckets' le label: \"s\" or \"ms\"",
        freshness: Leaf => "a PromQL template giving the unix time of the revision's newest sample (max(timestamp(...))), or \"\" for none",
    }
}

/// A Prometheus HTTP API for the metrics (self-hosted; Cloud Run uses Cloud
/// Monitoring's unless this is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    pub url: String,
    pub rate_window: Duration,
    /// The name of an environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// PromQL templates (`{revision}`, `{rate_window}`); `None`: the platform's defaults.
    pub request_rate: Option<String>,
    pub error_percent: Option<String>,
    pub p95_latency_ms: Option<String>,
    /// The latency histogram per `le` for the judge; `Some("")`: none.
    pub latency_buckets: Option<String>,
    /// Milliseconds per unit of `le` (1000: seconds); `None`: the platform's.
    pub latency_buckets_le_ms: Option<u32>,
    /// The newest raw sample's time per revision (the source's lag);
    /// `Some("")`: not asked; `None`: the platform's.
    pub freshness: Option<String>,
}

impl Raw {
    /// `None` when the section is not written.
    pub(super) fn validate(&self, cx: &Cx) -> Result<Option<PrometheusConfig>, ConfigError> {
        let url = cx.url(&self.url, "prometheus.url", false)?;
        let template = |leaf: &Leaf, key: &str| -> Result<Option<String>, ConfigError> {
            let Some((s, l)) = cx.string(leaf, key)? else {
                return Ok(None);
            };
            crate::metrics::prometheus::expand(s, "r", Duration::from_secs(60))
                .map_err(|e| cx.at(l, key, format!("invalid value {s:?}: {e}")))?;
            Ok(Some(s.to_string()))
        };
        let cfg = PrometheusConfig {
            url: url.clone().unwrap_or_default(),
            rate_window: cx
                .duration(&self.rate_window, "prometheus.rate_window")?
                .unwrap_or(Duration::from_secs(60)),
            bearer_token_env: cx.word(&self.bearer_token_env, "prometheus.bearer_token_env")?,
            request_rate: template(&self.request_rate, "prometheus.request_rate")?,
            error_percent: template(&self.error_percent, "prometheus.error_percent")?,
            p95_latency_ms: template(&self.p95_latency_ms, "prometheus.p95_latency_ms")?,
            latency_buckets: template(&self.latency_buckets, "prometheus.latency_buckets")?,
            latency_buckets_le_ms: cx.choice(
                &self.latency_buckets_unit,
                "prometheus.latency_buckets_unit",
                &[("s", 1000), ("ms", 1)],
            )?,
            freshness: template(&self.freshness, "prometheus.freshness")?,
        };
        if url.is_none() {
            let leaves = [
                &self.rate_window,
                &self.bearer_token_env,
                &self.request_rate,
                &self.error_percent,
                &self.p95_latency_ms,
                &self.latency_buckets,
                &self.latency_buckets_unit,
                &self.freshness,
            ];
            if leaves.iter().any(|l| l.is_some()) {
                return Err(cx.missing(
                    "prometheus",
                    &leaves,
                    "prometheus.url",
                    "the [prometheus] section needs url, e.g. url = \"http://127.0.0.1:9090\"",
                ));
            }
            return Ok(None);
        }
        Ok(Some(cfg))
    }
}
