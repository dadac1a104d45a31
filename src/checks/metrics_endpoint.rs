//! `metrics-endpoint` checks: fetch an app's Prometheus text exposition, parse it with
//! [`crate::metrics::exposition`], and evaluate a [condition](super::expr) over it.

use std::time::Instant;

use reqwest::header::{ACCEPT, USER_AGENT};

use super::expr::{parse_condition, Condition};
use super::fetch::{describe_error, excerpt, read_capped, read_prefix};
use super::http::AGENT;
use super::{validate_template, CheckContext, CheckKind, CheckResult, CheckSpec, Finding};
use crate::core::duration;
use crate::metrics::exposition;

/// The most of an exposition a check reads (8 MiB).
pub const METRICS_MAX_BODY: usize = 8 << 20;

/// `GET url_template`, then `condition` over the samples.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsEndpointCheck {
    /// E.g. `{tag_url}/api/metrics`.
    pub url_template: String,
    /// E.g. `memory_analysis_failure_total <= 2`; see [`super::expr`].
    pub condition: String,
}

impl MetricsEndpointCheck {
    pub(crate) fn validate(&self) -> Result<(), String> {
        validate_template(&self.url_template)?;
        parse_condition(&self.condition)
            .map_err(|e| format!("invalid condition {:?}: {e}", self.condition))?;
        Ok(())
    }
}

/// Runs a [`MetricsEndpointCheck`]: one request within `spec.timeout`. The measured
/// value is the condition's left-hand side, the expected one its comparison and
/// right-hand side (`> 0.8`).
pub async fn run_metrics_endpoint(
    spec: &CheckSpec,
    ctx: &CheckContext,
    client: &reqwest::Client,
) -> CheckResult {
    let start = Instant::now();
    let early = |v: Finding| v.into_result(spec.blocking, start.elapsed(), 0);
    let CheckKind::MetricsEndpoint(check) = &spec.kind else {
        return early(Finding::fail("not a metrics-endpoint check"));
    };
    let condition = match parse_condition(&check.condition) {
        Ok(c) => c,
        Err(e) => {
            return early(Finding::fail(format!(
                "invalid condition {:?}: {e}",
                check.condition
            )))
        }
    };
    let expected = format!("{} {}", condition.op, condition.text(&condition.rhs));
    let url = match ctx.expand(&check.url_template) {
        Ok(url) => url,
        Err(e) => return early(Finding::fail(e)),
    };
    let fetch = evaluate(&condition, &url, client);
    let mut verdict = match tokio::time::timeout(spec.timeout, fetch).await {
        Ok(v) => v,
        Err(_) => Finding::fail(format!("timed out after {}", duration::human(spec.timeout))),
    };
    if verdict.expected.is_none() {
        verdict.expected = Some(expected);
    }
    verdict.into_result(spec.blocking, start.elapsed(), 1)
}

async fn evaluate(condition: &Condition, url: &str, client: &reqwest::Client) -> Finding {
    let request = client
        .get(url)
        .header(USER_AGENT, AGENT)
        .header(ACCEPT, "text/plain; version=0.0.4");
    let resp = match request.send().await {
        Ok(r) => r,
        Err(e) => return Finding::fail(format!("{} ({url})", describe_error(&e))),
    };
    let status = resp.status();
    if !status.is_success() {
        let quoted = excerpt(&read_prefix(resp, 1024).await, 120);
        let mut reason = format!("HTTP {} from the metrics endpoint", status.as_u16());
        if !quoted.is_empty() {
            reason.push_str(&format!(": {quoted}"));
        }
        return Finding::fail(reason);
    }
    let body = match read_capped(resp, METRICS_MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return Finding::fail(format!("metrics endpoint: {e}")),
    };
    let parsed = match exposition::parse(&body) {
        Ok(p) => p,
        Err(e) => {
            return Finding::fail(format!(
                "the metrics endpoint did not return a valid text exposition: {e}"
            ))
        }
    };
    let lhs = condition.text(&condition.lhs);
    match condition.evaluate(&parsed) {
        Err(e) => Finding::fail(e.to_string()),
        Ok(ev) => {
            let reason = if ev.passed {
                format!("{lhs} = {} ({})", ev.measured_text(), ev.expected_text())
            } else {
                format!(
                    "{lhs} = {}, expected {}",
                    ev.measured_text(),
                    ev.expected_text()
                )
            };
            Finding {
                passed: ev.passed,
                measured: Some(ev.measured_text()),
                expected: Some(ev.expected_text()),
                reason,
            }
        }
    }
}
