//! Verification checks against a revision, as plain async functions: each takes a
//! [`CheckSpec`], a [`CheckContext`] (which revision, which URLs) and an HTTP client,
//! and returns a [`CheckResult`]. They never panic and never return early with an
//! error: every failure becomes an outcome with a reason a person can act on.
//!
//! Kinds so far: [`CheckKind::Http`] and [`CheckKind::MetricsEndpoint`]. Others
//! (ready, query, logs) are added as variants of [`CheckKind`] and arms of [`run`].

pub mod expr;
mod fetch;
pub mod http;
pub mod metrics_endpoint;
pub mod runner;

use std::time::Duration;

pub use crate::core::state::{CheckResult, CheckStatus};
pub use fetch::MAX_BODY;
pub use http::{run_http, HttpCheck, JsonExpectation};
pub use metrics_endpoint::{run_metrics_endpoint, MetricsEndpointCheck, METRICS_MAX_BODY};
pub use runner::{CheckRunner, CheckTarget};

/// One configured check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    pub name: String,
    pub kind: CheckKind,
    /// `true`: a failure blocks promotion (and may roll back); `false`: it only warns.
    pub blocking: bool,
    /// For the whole check, retries included.
    pub timeout: Duration,
}

/// What a check does.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    Http(HttpCheck),
    MetricsEndpoint(MetricsEndpointCheck),
    /// The platform reports the revision ready.
    Ready,
    /// A metric of the revision over a recent window against a threshold,
    /// optionally compared with the stable revision.
    Query(QueryCheck),
    /// No entry of the revision at or above a severity in a recent window.
    Logs(LogsCheck),
}

impl CheckKind {
    /// The name used in the config: `http`, `ready`, ...
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Http(_) => "http",
            CheckKind::MetricsEndpoint(_) => "metrics-endpoint",
            CheckKind::Ready => "ready",
            CheckKind::Query(_) => "query",
            CheckKind::Logs(_) => "logs",
        }
    }
}

/// The kinds a config may name.
pub const KINDS: [&str; 5] = ["http", "ready", "metrics-endpoint", "query", "logs"];

/// What a `query` check measures.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryMetric {
    /// 5xx share in percent, from the metrics source.
    ErrorPercent,
    /// 95th percentile latency in milliseconds, from the metrics source.
    P95LatencyMs,
    /// Requests per second, from the metrics source.
    RequestsPerSecond,
    /// A PromQL expression (`{revision}` replaced), for Prometheus-API sources.
    PromQl(String),
}

impl QueryMetric {
    pub const BUILT_IN: [&'static str; 3] =
        ["error_percent", "p95_latency_ms", "requests_per_second"];

    pub fn parse(s: &str) -> Option<QueryMetric> {
        match s {
            "error_percent" => Some(QueryMetric::ErrorPercent),
            "p95_latency_ms" => Some(QueryMetric::P95LatencyMs),
            "requests_per_second" => Some(QueryMetric::RequestsPerSecond),
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            QueryMetric::ErrorPercent => "5xx %".into(),
            QueryMetric::P95LatencyMs => "p95 ms".into(),
            QueryMetric::RequestsPerSecond => "req/s".into(),
            QueryMetric::PromQl(q) => q.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueryCheck {
    pub metric: QueryMetric,
    /// The value must be at most this.
    pub max: Option<f64>,
    /// The value must be at least this.
    pub min: Option<f64>,
    /// Also: the canary's value is at most the stable's plus `margin`.
    pub compare_to_stable: bool,
    pub margin: f64,
    /// How far back the value is averaged.
    pub window: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogsCheck {
    pub severity: crate::core::model::Severity,
    pub window: Duration,
}

impl CheckSpec {
    /// Checks what can be checked before running: templates name known
    /// placeholders, the body regex and the metrics condition parse.
    pub fn validate(&self) -> Result<(), String> {
        match &self.kind {
            CheckKind::Http(h) => h.validate(),
            CheckKind::MetricsEndpoint(m) => m.validate(),
            CheckKind::Ready | CheckKind::Logs(_) => Ok(()),
            CheckKind::Query(q) => {
                if q.max.is_none() && q.min.is_none() && !q.compare_to_stable {
                    return Err("a query check needs max, min or compare_to_stable = true".into());
                }
                if let QueryMetric::PromQl(t) = &q.metric {
                    crate::metrics::prometheus::expand(t, "r", Duration::from_secs(60))?;
                }
                Ok(())
            }
        }
    }
}

/// Runs a check that needs only HTTP (`http`, `metrics-endpoint`). The kinds
/// that need the cockpit's backends (`ready`, `query`, `logs`) are run by
/// [`runner::Runner`]; here they fail with a reason saying so.
pub async fn run(spec: &CheckSpec, ctx: &CheckContext, client: &reqwest::Client) -> CheckResult {
    match &spec.kind {
        CheckKind::Http(_) => run_http(spec, ctx, client).await,
        CheckKind::MetricsEndpoint(_) => run_metrics_endpoint(spec, ctx, client).await,
        other => Finding::fail(format!(
            "a {} check needs the cockpit's platform and sources",
            other.name()
        ))
        .into_result(spec.blocking, Duration::ZERO, 0),
    }
}

/// What a check runs against: values for the URL template placeholders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckContext {
    /// `{revision}`.
    pub revision: String,
    /// `{tag_url}`: the URL that reaches this revision alone.
    pub tag_url: Option<String>,
    /// `{service_url}`: the service's main URL.
    pub service_url: Option<String>,
}

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["tag_url", "service_url", "revision"];

impl CheckContext {
    /// Replaces `{tag_url}`, `{service_url}` and `{revision}` in `template`. An unknown
    /// placeholder, or one without a value (no tag URL for this revision), is an
    /// error. A URL value's trailing `/` is dropped when the template goes on with `/`.
    pub fn expand(&self, template: &str) -> Result<String, String> {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                return Ok(out);
            };
            let name = &after[..close];
            let tail = &after[close + 1..];
            let value = match name {
                "revision" => Some(self.revision.as_str()),
                "tag_url" => self.tag_url.as_deref(),
                "service_url" => self.service_url.as_deref(),
                _ if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    return Err(format!(
                        "unknown placeholder {{{name}}} in {template} (known: {{tag_url}}, {{service_url}}, {{revision}})"
                    ))
                }
                _ => {
                    // Not a placeholder (e.g. a literal brace); keep it.
                    out.push('{');
                    rest = after;
                    continue;
                }
            };
            let value = value.filter(|v| !v.is_empty()).ok_or_else(|| match name {
                "tag_url" => format!(
                    "revision {} has no tag URL, which {template} needs",
                    self.revision
                ),
                "service_url" => format!("the service has no URL, which {template} needs"),
                _ => format!("no revision name, which {template} needs"),
            })?;
            if tail.starts_with('/') && name != "revision" {
                out.push_str(value.trim_end_matches('/'));
            } else {
                out.push_str(value);
            }
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Checks a template's placeholders without values.
pub fn validate_template(template: &str) -> Result<(), String> {
    let ctx = CheckContext {
        revision: "r".into(),
        tag_url: Some("http://t".into()),
        service_url: Some("http://s".into()),
    };
    ctx.expand(template).map(|_| ())
}

/// A pass or a failure, before the blocking/warning decision and the timing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Finding {
    pub passed: bool,
    pub measured: Option<String>,
    pub expected: Option<String>,
    pub reason: String,
}

impl Finding {
    pub(crate) fn fail(reason: impl Into<String>) -> Self {
        Finding {
            passed: false,
            measured: None,
            expected: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn into_result(
        self,
        blocking: bool,
        duration: Duration,
        attempts: u32,
    ) -> CheckResult {
        let status = match (self.passed, blocking) {
            (true, _) => CheckStatus::Pass,
            (false, true) => CheckStatus::Fail,
            (false, false) => CheckStatus::Warn,
        };
        CheckResult {
            status,
            measured: self.measured,
            expected: self.expected,
            reason: self.reason,
            duration,
            attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(tag: Option<&str>) -> CheckContext {
        CheckContext {
            revision: "app-00043-kap".into(),
            tag_url: tag.map(Into::into),
            service_url: Some("https://app.example/".into()),
        }
    }

    #[test]
    fn expand_fills_placeholders() {
        let c = ctx(Some("https://canary---app.example/"));
        assert_eq!(
            c.expand("{tag_url}/api/health?r={revision}").as_deref(),
            Ok("https://canary---app.example/api/health?r=app-00043-kap")
        );
        assert_eq!(
            c.expand("{service_url}x").as_deref(),
            Ok("https://app.example/x")
        );
        assert_eq!(c.expand("plain").as_deref(), Ok("plain"));
        assert_eq!(c.expand("a{b-c}d{").as_deref(), Ok("a{b-c}d{"));
    }

    #[test]
    fn expand_refuses_missing_and_unknown() {
        let c = ctx(None);
        let e = c.expand("{tag_url}/api/health").expect_err("no tag");
        assert!(e.contains("has no tag URL"), "{e}");
        let e = c.expand("{tagurl}/x").expect_err("unknown");
        assert!(e.contains("unknown placeholder {tagurl}"), "{e}");
        assert!(validate_template("{tag_url}/ok").is_ok());
    }

    #[test]
    fn failing_warning_check_warns() {
        let v = Finding::fail("nope");
        assert_eq!(
            v.clone().into_result(false, Duration::ZERO, 1).status,
            CheckStatus::Warn
        );
        assert_eq!(
            v.into_result(true, Duration::ZERO, 1).status,
            CheckStatus::Fail
        );
    }
}
