//! `[[checks]]`: the verification battery, one table per check.

use std::time::Duration;

use toml::{Spanned, Value};

use super::{expected, Leaf, DURATION};
use crate::checks::{
    CheckKind, CheckSpec, HttpCheck, JsonExpectation, LogsCheck, MetricsEndpointCheck, QueryCheck,
    QueryMetric,
};
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::model::Severity;

const URL: &str =
    "a URL template such as \"{tag_url}/api/health\" ({tag_url}, {service_url}, {revision})";
const NUMBER: &str = "a number";

table! {
    /// One `[[checks]]` entry.
    struct RawCheck {
        name: Leaf => "a short name for the check, e.g. \"health\"",
        kind: Leaf => "one of: \"http\", \"ready\", \"metrics-endpoint\", \"query\", \"logs\"",
        blocking: Leaf => "true (a failure blocks and may roll back) or false (it only warns)",
        timeout: Leaf => DURATION,
        method: Leaf => "an HTTP method such as \"GET\" or \"HEAD\"",
        url: Leaf => URL,
        expect_status: Leaf => "an HTTP status between 100 and 599",
        json: Leaf => "a list of expectations such as [\"status == \\\"ok\\\"\"]",
        body_regex: Leaf => "a regular expression",
        retries: Leaf => "a number of retries between 0 and 100",
        interval: Leaf => DURATION,
        condition: Leaf => "a condition such as \"memory_analysis_failure_total <= 2\"",
        metric: Leaf => "one of: \"error_percent\", \"p95_latency_ms\", \"requests_per_second\"",
        promql: Leaf => "a PromQL expression giving one number, using {revision} and {rate_window}",
        max: Leaf => NUMBER,
        min: Leaf => NUMBER,
        compare_to_stable: Leaf => "true or false",
        margin: Leaf => NUMBER,
        window: Leaf => DURATION,
        severity: Leaf => "one of: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY",
    }
}

/// Keys every check takes.
const COMMON_CHECK_KEYS: &[&str] = &["name", "kind", "blocking", "timeout"];

/// Each check kind and the keys it takes besides [`COMMON_CHECK_KEYS`].
const CHECK_KIND_KEYS: &[(&str, &[&str])] = &[
    (
        "http",
        &[
            "method",
            "url",
            "expect_status",
            "json",
            "body_regex",
            "retries",
            "interval",
        ],
    ),
    ("metrics-endpoint", &["url", "condition"]),
    ("ready", &[]),
    (
        "query",
        &[
            "metric",
            "promql",
            "max",
            "min",
            "compare_to_stable",
            "margin",
            "window",
        ],
    ),
    ("logs", &["severity", "window"]),
];

impl RawCheck {
    /// The kind-specific keys and their values, to refuse a key the kind
    /// does not take.
    fn specific(&self) -> [(&'static str, &Leaf); 16] {
        [
            ("promql", &self.promql),
            ("method", &self.method),
            ("url", &self.url),
            ("expect_status", &self.expect_status),
            ("json", &self.json),
            ("body_regex", &self.body_regex),
            ("retries", &self.retries),
            ("interval", &self.interval),
            ("condition", &self.condition),
            ("metric", &self.metric),
            ("max", &self.max),
            ("min", &self.min),
            ("compare_to_stable", &self.compare_to_stable),
            ("margin", &self.margin),
            ("window", &self.window),
            ("severity", &self.severity),
        ]
    }
}

pub(super) fn validate(list: &[Spanned<RawCheck>], cx: &Cx) -> Result<Vec<CheckSpec>, ConfigError> {
    let mut out: Vec<CheckSpec> = Vec::new();
    for item in list {
        let spec = check(cx, item)?;
        if out.iter().any(|c| c.name == spec.name) {
            let leaf = item.get_ref().name.as_ref();
            let message = format!("invalid value {:?}: another check has this name", spec.name);
            return Err(match leaf {
                Some(l) => cx.at(l, "checks.name", message),
                None => cx.error(Some(item.span()), Some("checks.name"), message),
            });
        }
        out.push(spec);
    }
    Ok(out)
}

fn check(cx: &Cx, item: &Spanned<RawCheck>) -> Result<CheckSpec, ConfigError> {
    let c = item.get_ref();
    let missing = |key: &str, why: &str| {
        cx.error(
            Some(item.span()),
            Some(&format!("checks.{key}")),
            format!("missing: {why}"),
        )
    };
    let name = cx
        .string(&c.name, "checks.name")?
        .map(|(s, l)| {
            if s.trim().is_empty() {
                Err(cx.wrong_value(l, "checks.name", format!("{s:?}")))
            } else {
                Ok(s.trim().to_string())
            }
        })
        .transpose()?
        .ok_or_else(|| missing("name", "every check needs a name, e.g. name = \"health\""))?;
    let Some((kind_name, kind_leaf)) = cx.string(&c.kind, "checks.kind")? else {
        return Err(missing(
            "kind",
            &format!("check {name:?} needs a kind: {}", expected("checks.kind")),
        ));
    };
    // Keys that belong to other kinds are mistakes, not silently ignored.
    let Some(&(_, allowed)) = CHECK_KIND_KEYS.iter().find(|(k, _)| *k == kind_name) else {
        return Err(cx.wrong_value(kind_leaf, "checks.kind", format!("{kind_name:?}")));
    };
    for (key, leaf) in c.specific() {
        if let (Some(l), false) = (leaf, allowed.contains(&key)) {
            let message = if allowed.is_empty() {
                format!(
                    "unknown key for a {kind_name} check, which takes only {}",
                    COMMON_CHECK_KEYS.join(", ")
                )
            } else {
                format!(
                    "unknown key for a {kind_name} check; expected one of: {}, {}",
                    COMMON_CHECK_KEYS.join(", "),
                    allowed.join(", ")
                )
            };
            return Err(cx.at(l, &format!("checks.{key}"), message));
        }
    }
    let blocking = cx.boolean(&c.blocking, "checks.blocking")?.unwrap_or(true);
    let timeout = cx
        .duration(&c.timeout, "checks.timeout")?
        .unwrap_or(Duration::from_secs(30));
    let url = |what: &str| -> Result<String, ConfigError> {
        let Some((s, l)) = cx.string(&c.url, "checks.url")? else {
            return Err(missing(
                "url",
                &format!(
                    "check {name:?} ({kind_name}) needs a url, e.g. url = \"{{tag_url}}/{what}\""
                ),
            ));
        };
        crate::checks::validate_template(s)
            .map_err(|e| cx.at(l, "checks.url", format!("invalid value {s:?}: {e}")))?;
        Ok(s.to_string())
    };
    let kind = match kind_name {
        "http" => {
            let mut h = HttpCheck::get(url("api/health")?);
            if let Some((m, l)) = cx.string(&c.method, "checks.method")? {
                h.method = reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| cx.wrong_value(l, "checks.method", format!("{m:?}")))?;
            }
            if let Some(code) =
                cx.int::<u16>(&c.expect_status, "checks.expect_status", 100..=599)?
            {
                h.expect_status = code;
            }
            if let Some(l) = &c.json {
                let Value::Array(items) = l.get_ref() else {
                    return Err(cx.wrong_type(l, "checks.json"));
                };
                for item in items {
                    let Value::String(text) = item else {
                        return Err(cx.wrong_type(l, "checks.json"));
                    };
                    let e = JsonExpectation::parse(text).map_err(|e| {
                        cx.at(l, "checks.json", format!("invalid value {text:?}: {e}"))
                    })?;
                    h.json.push(e);
                }
            }
            if let Some((re, l)) = cx.string(&c.body_regex, "checks.body_regex")? {
                regex::Regex::new(re).map_err(|e| {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or_default().trim().to_string();
                    cx.at(
                        l,
                        "checks.body_regex",
                        format!("invalid value {re:?}: {first}"),
                    )
                })?;
                h.body_regex = Some(re.to_string());
            }
            if let Some(n) = cx.int(&c.retries, "checks.retries", 0..=100)? {
                h.retries = n;
            }
            if let Some(i) = cx.duration(&c.interval, "checks.interval")? {
                h.interval = i;
            }
            CheckKind::Http(h)
        }
        "metrics-endpoint" => {
            let url = url("api/metrics")?;
            let Some((cond, l)) = cx.string(&c.condition, "checks.condition")? else {
                return Err(missing(
                    "condition",
                    &format!("check {name:?} (metrics-endpoint) needs a condition, e.g. condition = \"memory_analysis_failure_total <= 2\""),
                ));
            };
            let m = MetricsEndpointCheck {
                url_template: url,
                condition: cond.to_string(),
            };
            crate::checks::expr::parse_condition(cond).map_err(|e| {
                cx.at(
                    l,
                    "checks.condition",
                    format!("invalid value {cond:?}: {e}"),
                )
            })?;
            CheckKind::MetricsEndpoint(m)
        }
        "ready" => CheckKind::Ready,
        "query" => {
            let metric = match (
                cx.string(&c.metric, "checks.metric")?,
                cx.string(&c.promql, "checks.promql")?,
            ) {
                (Some((m, l)), None) => QueryMetric::parse(m)
                    .ok_or_else(|| cx.wrong_value(l, "checks.metric", format!("{m:?}")))?,
                (None, Some((q, l))) => {
                    crate::metrics::prometheus::expand(q, "r", Duration::from_secs(60)).map_err(
                        |e| cx.at(l, "checks.promql", format!("invalid value {q:?}: {e}")),
                    )?;
                    QueryMetric::PromQl(q.to_string())
                }
                (Some(_), Some((_, l))) => {
                    return Err(cx.at(
                        l,
                        "checks.promql",
                        "a query check takes metric or promql, not both".into(),
                    ))
                }
                (None, None) => {
                    return Err(missing(
                        "metric",
                        &format!(
                            "check {name:?} (query) needs a metric ({}) or promql",
                            expected("checks.metric")
                        ),
                    ))
                }
            };
            let q = QueryCheck {
                metric,
                max: cx.float(&c.max, "checks.max", |_| true)?,
                min: cx.float(&c.min, "checks.min", |_| true)?,
                compare_to_stable: cx
                    .boolean(&c.compare_to_stable, "checks.compare_to_stable")?
                    .unwrap_or(false),
                margin: cx
                    .float(&c.margin, "checks.margin", |x| x >= 0.0)?
                    .unwrap_or(0.0),
                window: cx
                    .duration(&c.window, "checks.window")?
                    .unwrap_or(Duration::from_secs(300)),
            };
            if q.max.is_none() && q.min.is_none() && !q.compare_to_stable {
                return Err(missing(
                    "max",
                    &format!("query check {name:?} needs max, min or compare_to_stable = true"),
                ));
            }
            CheckKind::Query(q)
        }
        "logs" => {
            let severity = match cx.string(&c.severity, "checks.severity")? {
                None => Severity::Error,
                Some((s, l)) => Severity::parse(s)
                    .ok_or_else(|| cx.wrong_value(l, "checks.severity", format!("{s:?}")))?,
            };
            CheckKind::Logs(LogsCheck {
                severity,
                window: cx
                    .duration(&c.window, "checks.window")?
                    .unwrap_or(Duration::from_secs(300)),
            })
        }
        _ => unreachable!("kind checked above"),
    };
    Ok(CheckSpec {
        name,
        kind,
        blocking,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sections::Table;
    use std::collections::BTreeSet;

    /// The three lists of check keys cannot drift apart: the table's keys,
    /// the per-kind lists, and `RawCheck::specific`.
    #[test]
    fn check_key_lists_agree() {
        let all: BTreeSet<&str> = RawCheck::keys().iter().copied().collect();
        let mut from_kinds: BTreeSet<&str> = COMMON_CHECK_KEYS.iter().copied().collect();
        for (_, keys) in CHECK_KIND_KEYS {
            from_kinds.extend(keys.iter().copied());
        }
        assert_eq!(all, from_kinds);
        let specific: BTreeSet<&str> = RawCheck::default()
            .specific()
            .iter()
            .map(|(k, _)| *k)
            .collect();
        let expected: BTreeSet<&str> = all
            .difference(&COMMON_CHECK_KEYS.iter().copied().collect())
            .copied()
            .collect();
        assert_eq!(specific, expected);
    }
}
