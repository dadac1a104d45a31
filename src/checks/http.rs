//! `http` checks: a request to a URL template, an expected status, optional JSON
//! field expectations and a body regex, retried at an interval within the timeout.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use regex::Regex;
use reqwest::header::USER_AGENT;
use serde_json::Value;

use super::fetch::{describe_error, excerpt, read_capped, read_prefix, MAX_BODY};
use super::{validate_template, CheckContext, CheckKind, CheckResult, CheckSpec, Finding};
use crate::core::duration;

pub(crate) const AGENT: &str = concat!("canary-cockpit/", env!("CARGO_PKG_VERSION"));

/// An HTTP request and what its response must look like.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpCheck {
    pub method: reqwest::Method,
    /// E.g. `{tag_url}/api/health`; see [`CheckContext::expand`].
    pub url_template: String,
    pub expect_status: u16,
    /// Every one must hold; the body must then be JSON.
    pub json: Vec<JsonExpectation>,
    /// Must match somewhere in the body (`regex` crate syntax).
    pub body_regex: Option<String>,
    /// Further attempts after a failed one: `retries: 4` makes up to 5 requests.
    /// Every failure is retried (the revision may still be starting), within the timeout.
    pub retries: u32,
    /// Pause between attempts.
    pub interval: Duration,
}

impl HttpCheck {
    /// `GET url_template` expecting 200, no other expectation, no retry.
    pub fn get(url_template: impl Into<String>) -> Self {
        HttpCheck {
            method: reqwest::Method::GET,
            url_template: url_template.into(),
            expect_status: 200,
            json: Vec::new(),
            body_regex: None,
            retries: 0,
            interval: Duration::from_secs(1),
        }
    }

    /// Whether the body has to be read (JSON or regex expectations). A status-only
    /// check never reads it, so it passes whatever the body's size or encoding.
    pub fn needs_body(&self) -> bool {
        !self.json.is_empty() || self.body_regex.is_some()
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        validate_template(&self.url_template)?;
        if let Some(re) = &self.body_regex {
            Regex::new(re).map_err(|e| format!("invalid body regex: {e}"))?;
        }
        reqwest::StatusCode::from_u16(self.expect_status)
            .map_err(|_| format!("{} is not an HTTP status", self.expect_status))?;
        Ok(())
    }
}

/// `path == value`: a field of the JSON body must equal a JSON value.
///
/// The path is dotted (`status`, `checks.db.status`, `items.0.name`: a number indexes
/// an array), or a JSON pointer when it starts with `/` (`/checks/db.v2`). Numbers
/// compare by value (`1 == 1.0`).
#[derive(Clone, Debug, PartialEq)]
pub struct JsonExpectation {
    pub path: String,
    pub value: Value,
}

impl JsonExpectation {
    /// Parses `status == "ok"`, `checks.db == true`, `version == 3`. A right-hand side
    /// that is not JSON is taken as a string: `status == ok` means `"ok"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (path, value) = s
            .split_once("==")
            .ok_or_else(|| format!("expected `field == value` in {s:?}"))?;
        let path = path.trim();
        let value = value.trim();
        if path.is_empty() {
            return Err(format!("no field before == in {s:?}"));
        }
        if value.is_empty() {
            return Err(format!("no value after == in {s:?}"));
        }
        let value = match serde_json::from_str::<Value>(value) {
            Ok(v) => v,
            Err(_) if !value.starts_with(['"', '{', '[']) => Value::String(value.to_owned()),
            Err(e) => return Err(format!("invalid JSON value {value} in {s:?}: {e}")),
        };
        Ok(JsonExpectation {
            path: path.to_owned(),
            value,
        })
    }

    /// The field the path points at, if present.
    pub fn lookup<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        if self.path.starts_with('/') {
            return doc.pointer(&self.path);
        }
        self.path.split('.').try_fold(doc, |v, seg| match v {
            Value::Object(map) => map.get(seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
    }

    /// Whether `doc` satisfies the expectation; on failure, (measured, reason).
    pub fn check(&self, doc: &Value) -> Result<(), (Option<String>, String)> {
        match self.lookup(doc) {
            None => Err((None, format!("JSON field {} is missing", self.path))),
            Some(v) if json_eq(v, &self.value) => Ok(()),
            Some(v) => {
                let shown = excerpt(v.to_string().as_bytes(), 80);
                Err((
                    Some(format!("{} = {shown}", self.path)),
                    format!(
                        "JSON field {} is {shown}, expected {}",
                        self.path, self.value
                    ),
                ))
            }
        }
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl fmt::Display for JsonExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} == {}", self.path, self.value)
    }
}

impl FromStr for JsonExpectation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JsonExpectation::parse(s)
    }
}

/// Runs an [`HttpCheck`]: up to `1 + retries` attempts, `interval` apart, all within
/// `spec.timeout`. Passes on the first attempt that meets every expectation.
pub async fn run_http(
    spec: &CheckSpec,
    ctx: &CheckContext,
    client: &reqwest::Client,
) -> CheckResult {
    let start = Instant::now();
    let CheckKind::Http(check) = &spec.kind else {
        return Finding::fail("not an http check").into_result(spec.blocking, start.elapsed(), 0);
    };
    let early = |v: Finding| v.into_result(spec.blocking, start.elapsed(), 0);
    let url = match ctx.expand(&check.url_template) {
        Ok(url) => url,
        Err(e) => return early(Finding::fail(e)),
    };
    let regex = match check.body_regex.as_deref().map(Regex::new).transpose() {
        Ok(re) => re,
        Err(e) => return early(Finding::fail(format!("invalid body regex: {e}"))),
    };
    let mut attempts = 0;
    let mut last: Option<Finding> = None;
    let tries = attempt_loop(
        check,
        &url,
        regex.as_ref(),
        client,
        &mut attempts,
        &mut last,
    );
    let verdict = match tokio::time::timeout(spec.timeout, tries).await {
        Ok(v) => v,
        Err(_) => {
            let mut reason = format!("timed out after {}", duration::human(spec.timeout));
            let measured = last.as_ref().and_then(|v| v.measured.clone());
            if let Some(prev) = last {
                reason.push_str(&format!(
                    " ({attempts} attempts; the last failure: {})",
                    prev.reason
                ));
            }
            Finding {
                passed: false,
                measured,
                expected: Some(check.expect_status.to_string()),
                reason,
            }
        }
    };
    verdict.into_result(spec.blocking, start.elapsed(), attempts)
}

async fn attempt_loop(
    check: &HttpCheck,
    url: &str,
    regex: Option<&Regex>,
    client: &reqwest::Client,
    attempts: &mut u32,
    last: &mut Option<Finding>,
) -> Finding {
    loop {
        *attempts += 1;
        let mut v = attempt(check, url, regex, client).await;
        if v.passed || *attempts > check.retries {
            if *attempts > 1 {
                v.reason.push_str(&format!(" (attempt {})", *attempts));
            }
            return v;
        }
        *last = Some(v);
        tokio::time::sleep(check.interval).await;
    }
}

/// One request and the checks on its response.
async fn attempt(
    check: &HttpCheck,
    url: &str,
    regex: Option<&Regex>,
    client: &reqwest::Client,
) -> Finding {
    let expected = check.expect_status.to_string();
    let fail = |measured: Option<String>, reason: String| Finding {
        passed: false,
        measured,
        expected: Some(expected.clone()),
        reason,
    };
    let request = client
        .request(check.method.clone(), url)
        .header(USER_AGENT, AGENT);
    let resp = match request.send().await {
        Ok(r) => r,
        Err(e) => return fail(None, format!("{} ({url})", describe_error(&e))),
    };
    let status = resp.status().as_u16();
    if status != check.expect_status {
        let quoted = excerpt(&read_prefix(resp, 1024).await, 120);
        let mut reason = format!("HTTP {status}, expected {}", check.expect_status);
        if !quoted.is_empty() {
            reason.push_str(&format!(": {quoted}"));
        }
        return fail(Some(status.to_string()), reason);
    }
    let mut passed = vec![format!("HTTP {status}")];
    if check.needs_body() {
        let body = match read_capped(resp, MAX_BODY).await {
            Ok(body) => body,
            Err(e) => return fail(Some(status.to_string()), format!("HTTP {status} but {e}")),
        };
        let text = match std::str::from_utf8(&body) {
            Ok(text) => text,
            Err(e) => {
                let what = if check.json.is_empty() {
                    "the regex"
                } else {
                    "JSON fields"
                };
                return fail(
                    Some(status.to_string()),
                    format!(
                        "HTTP {status} but the body is not UTF-8 (invalid byte at offset {}), so {what} cannot be checked",
                        e.valid_up_to()
                    ),
                );
            }
        };
        if !check.json.is_empty() {
            let doc: Value = match serde_json::from_str(text) {
                Ok(doc) => doc,
                Err(e) if text.trim().is_empty() => {
                    return fail(
                        Some(status.to_string()),
                        format!("HTTP {status} but the body is empty, not JSON ({e})"),
                    )
                }
                Err(e) => {
                    return fail(
                        Some(status.to_string()),
                        format!(
                            "HTTP {status} but the body is not JSON ({e}): {}",
                            excerpt(&body, 80)
                        ),
                    )
                }
            };
            for exp in &check.json {
                if let Err((measured, reason)) = exp.check(&doc) {
                    return Finding {
                        passed: false,
                        measured,
                        expected: Some(exp.to_string()),
                        reason,
                    };
                }
                passed.push(exp.to_string());
            }
        }
        if let Some(re) = regex {
            if !re.is_match(text) {
                return Finding {
                    passed: false,
                    measured: None,
                    expected: Some(format!("/{re}/")),
                    reason: format!("body does not match /{re}/: {}", excerpt(&body, 80)),
                };
            }
            passed.push(format!("body matches /{re}/"));
        }
    }
    Finding {
        passed: true,
        measured: Some(status.to_string()),
        expected: Some(expected.clone()),
        reason: passed.join(", "),
    }
}
