//! The fake's Cloud Monitoring side: the Prometheus HTTP API at
//! `v1/projects/P/location/global/prometheus/api/v1/query_range` and `/query`
//! (GET with a query string as the REST reference shows, or POST with a form
//! or a JSON `QueryRangeRequest` body as the discovery document has it).
//!
//! There is no PromQL engine: it recognises the five queries
//! [`QueryTemplates::cloud_run`](canary::metrics::prometheus::QueryTemplates::cloud_run)
//! writes (request rate, 5xx percent, p95 latency, the latency buckets by
//! `le` and the newest sample's time of one revision) and answers
//! them from synthetic traffic: [`FakeMonitoring::request_rate`] requests per
//! second spread over the revisions by their share in `trafficStatuses` (what
//! is actually served), each revision with its own error percent and p95. A
//! revision without traffic has no series ("no data", as the real API). Any
//! other query is a 400 `bad_data`, as Prometheus answers one it cannot parse.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::state::FakeState;

/// Prometheus caps a range query at this many points per series.
const MAX_POINTS: f64 = 11_000.0;

/// How a revision behaves under traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RevisionBehaviour {
    /// Share of 5xx responses, percent.
    pub error_percent: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
}

impl Default for RevisionBehaviour {
    fn default() -> RevisionBehaviour {
        RevisionBehaviour {
            error_percent: 0.0,
            p95_ms: 120.0,
        }
    }
}

/// The synthetic traffic behind the PromQL answers.
pub struct FakeMonitoring {
    /// Requests per second across the whole service.
    pub request_rate: f64,
    /// By revision short name; others behave as [`RevisionBehaviour::default`].
    pub behaviour: BTreeMap<String, RevisionBehaviour>,
    /// How a revision created by a deploy behaves (`None`: as the default).
    pub deployed: Option<RevisionBehaviour>,
    /// How far behind the newest sample is (Cloud Monitoring can lag by
    /// minutes): what `max(timestamp(…))` answers, `now` minus this.
    pub sample_lag_secs: f64,
}

impl Default for FakeMonitoring {
    fn default() -> FakeMonitoring {
        FakeMonitoring {
            request_rate: 50.0,
            behaviour: BTreeMap::new(),
            deployed: None,
            sample_lag_secs: 0.0,
        }
    }
}

/// The signal a recognised query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    RequestRate,
    ErrorPercent,
    LatencyP95,
    /// `sum by (le) (rate(request_latencies_bucket[…]))`: one series per bucket.
    LatencyBuckets,
    /// `max(timestamp(request_count{…}))`: the newest sample's unix time.
    Freshness,
}

/// A recognised query: which signal of which revision (of which service, when named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub signal: Signal,
    pub service: Option<String>,
    pub revision: String,
}

/// A Prometheus API error: HTTP status, `errorType`, `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl PromError {
    fn bad_data(message: impl Into<String>) -> PromError {
        PromError {
            status: 400,
            kind: "bad_data",
            message: message.into(),
        }
    }

    pub fn body(&self) -> String {
        json!({"status": "error", "errorType": self.kind, "error": self.message}).to_string()
    }
}

type Selector = BTreeMap<String, String>;

/// Splits `query` into a skeleton (whitespace outside strings removed, each
/// `{…}` selector emptied, each `[…]` range emptied) and the selectors' labels.
fn skeleton(query: &str) -> Result<(String, Vec<Selector>), String> {
    let mut out = String::new();
    let mut selectors = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '[' => {
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
                out.push_str("[]");
            }
            '{' => {
                let mut sel = Selector::new();
                loop {
                    while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                        chars.next();
                    }
                    if chars.peek() == Some(&'}') {
                        chars.next();
                        break;
                    }
                    let mut name = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            name.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    if name.is_empty() || chars.next() != Some('=') {
                        return Err("unexpected character in a label matcher".into());
                    }
                    if chars.peek() == Some(&'~') {
                        return Err(format!("regex matcher on {name}: not supported"));
                    }
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    if chars.next() != Some('"') {
                        return Err(format!("label {name}: expected a quoted string"));
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            None => return Err("unterminated quoted string".into()),
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => return Err("unterminated quoted string".into()),
                            },
                            Some(c) => value.push(c),
                        }
                    }
                    sel.insert(name, value);
                }
                selectors.push(sel);
                out.push_str("{}");
            }
            c => out.push(c),
        }
    }
    Ok((out, selectors))
}

const COUNT: &str = "run_googleapis_com:request_count";
const LATENCIES: &str = "run_googleapis_com:request_latencies_bucket";

/// Recognises the Cloud Run queries of `QueryTemplates::cloud_run`.
pub fn recognise(query: &str) -> Result<Recognised, String> {
    let unknown = || {
        format!(
            "the fake Cloud Monitoring only answers the cockpit's Cloud Run queries, not `{query}`"
        )
    };
    let (shape, sels) = skeleton(query).map_err(|e| format!("parse error: {e}"))?;
    let rate = format!("sum(rate({COUNT}{{}}[]))");
    let (signal, sel) = if shape == rate && sels.len() == 1 {
        (Signal::RequestRate, sels[0].clone())
    } else if shape == format!("100*{rate}/{rate}") && sels.len() == 2 {
        let mut errors = sels[0].clone();
        if errors.remove("response_code_class").as_deref() != Some("5xx")
            || errors != sels[1]
            || sels[1].contains_key("response_code_class")
        {
            return Err(unknown());
        }
        (Signal::ErrorPercent, sels[1].clone())
    } else if shape == format!("histogram_quantile(0.95,sumby(le)(rate({LATENCIES}{{}}[])))")
        && sels.len() == 1
    {
        (Signal::LatencyP95, sels[0].clone())
    } else if shape == format!("sumby(le)(rate({LATENCIES}{{}}[]))") && sels.len() == 1 {
        (Signal::LatencyBuckets, sels[0].clone())
    } else if shape == format!("max(timestamp({COUNT}{{}}))") && sels.len() == 1 {
        (Signal::Freshness, sels[0].clone())
    } else {
        return Err(unknown());
    };
    if sel
        .get("monitored_resource")
        .is_some_and(|r| r != "cloud_run_revision")
    {
        return Err(unknown());
    }
    let revision = sel
        .get("revision_name")
        .cloned()
        .ok_or_else(|| format!("no revision_name=\"…\" in `{query}`"))?;
    Ok(Recognised {
        signal,
        service: sel.get("service_name").cloned(),
        revision,
    })
}

fn labels(le: Option<String>) -> Value {
    match le {
        Some(le) => json!({ "le": le }),
        None => json!({}),
    }
}

/// Cloud Run's request latencies are a distribution with exponential
/// buckets (Cloud Monitoring's `Exponential`: bucket i ≥ 1 ends at
/// `scale · growthFactor^i`); its PromQL API shows them as `_bucket` series
/// with a cumulative `le` in ms. Here: scale 1 ms, growth 1.4, 40 finite
/// buckets (to ~700 s), and the requests log-normal (σ 0.35, the simulator's)
/// with the revision's p95. `(le, share of requests at or under it)`.
pub fn latency_buckets(p95_ms: f64) -> Vec<(String, f64)> {
    const SCALE_MS: f64 = 1.0;
    const GROWTH: f64 = 1.4;
    const FINITE: i32 = 40;
    let median = p95_ms / (1.645f64 * 0.35).exp();
    let mut out: Vec<(String, f64)> = (1..=FINITE)
        .map(|i| {
            let le = SCALE_MS * GROWTH.powi(i);
            let share = canary::core::judge::stats::norm_cdf((le / median).ln() / 0.35);
            (sample(le), share)
        })
        .collect();
    out.push(("+Inf".into(), 1.0));
    out
}

/// A time as Prometheus accepts it: float Unix seconds or RFC 3339.
fn parse_time(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// A step: float seconds or a Prometheus duration (`15s`, `1m`, `1500ms`).
fn parse_step(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return (v.is_finite() && v > 0.0).then_some(v);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (secs > 0.0).then_some(secs)
}

/// The parameters of a request: the query string, then a POST body (a form, or
/// a JSON object of strings as in the discovery document), the body winning.
pub fn params(query: &[(String, String)], body: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = query.iter().cloned().collect();
    let trimmed = body.trim();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
            for (k, v) in map {
                if let Value::String(s) = v {
                    out.insert(k, s);
                }
            }
        }
    } else if !trimmed.is_empty() {
        if let Ok(u) = reqwest::Url::parse(&format!("http://fake/?{trimmed}")) {
            out.extend(u.query_pairs().into_owned());
        }
    }
    out
}

/// A Prometheus sample value as it writes them.
fn sample(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

impl FakeState {
    /// The share of `revision` of `service` in project `project`, as served now.
    fn served_percent(&self, project: &str, service: Option<&str>, revision: &str) -> i32 {
        let prefix = format!("projects/{project}/locations/");
        self.services
            .iter()
            .filter(|(name, svc)| {
                name.starts_with(&prefix) && service.is_none_or(|s| svc.short() == s)
            })
            .flat_map(|(_, svc)| svc.resource.traffic_statuses.iter())
            .filter(|t| t.revision.as_deref() == Some(revision))
            .filter_map(|t| t.percent)
            .sum()
    }

    /// The value of a recognised query now (`None`: no series).
    fn value(&self, project: &str, q: &Recognised) -> Option<f64> {
        let percent = self.served_percent(project, q.service.as_deref(), &q.revision);
        if percent <= 0 {
            return None;
        }
        let b = self
            .monitoring
            .behaviour
            .get(&q.revision)
            .copied()
            .unwrap_or_default();
        let rate = self.monitoring.request_rate * f64::from(percent) / 100.0;
        Some(match q.signal {
            Signal::RequestRate | Signal::LatencyBuckets | Signal::Freshness => rate,
            Signal::ErrorPercent => b.error_percent,
            Signal::LatencyP95 => b.p95_ms,
        })
    }

    /// The series a recognised query answers with now: one unlabelled value,
    /// or for the buckets one `(le, value)` per bucket (no series: no traffic).
    fn series(&self, project: &str, q: &Recognised) -> Vec<(Option<String>, f64)> {
        let Some(v) = self.value(project, q) else {
            return vec![];
        };
        if q.signal != Signal::LatencyBuckets {
            return vec![(None, v)];
        }
        let p95 = self
            .monitoring
            .behaviour
            .get(&q.revision)
            .copied()
            .unwrap_or_default()
            .p95_ms;
        latency_buckets(p95)
            .into_iter()
            .map(|(le, share)| (Some(le), v * share))
            .collect()
    }

    /// Answers `query_range` (`range`) or `query` for `project`: the JSON body
    /// of a success, or a Prometheus error.
    pub fn promql(
        &self,
        project: &str,
        range: bool,
        params: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, PromError> {
        let query = params
            .get("query")
            .filter(|q| !q.is_empty())
            .ok_or_else(|| PromError::bad_data("invalid parameter \"query\": empty query"))?;
        let time_param = |name: &str| -> Result<Option<f64>, PromError> {
            params
                .get(name)
                .map(|s| {
                    parse_time(s).ok_or_else(|| {
                        PromError::bad_data(format!(
                            "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
                        ))
                    })
                })
                .transpose()
        };
        let now_secs = now.timestamp_millis() as f64 / 1000.0;
        let recognised = if range {
            let start = time_param("start")?
                .ok_or_else(|| PromError::bad_data("invalid parameter \"start\": missing"))?;
            let end = time_param("end")?
                .ok_or_else(|| PromError::bad_data("invalid parameter \"end\": missing"))?;
            let step_raw = params
                .get("step")
                .ok_or_else(|| PromError::bad_data("invalid parameter \"step\": missing"))?;
            let step = parse_step(step_raw).ok_or_else(|| {
                PromError::bad_data(format!(
                    "invalid parameter \"step\": cannot parse \"{step_raw}\" to a valid duration"
                ))
            })?;
            if end < start {
                return Err(PromError::bad_data(
                    "invalid parameter \"end\": end timestamp must not be before start time",
                ));
            }
            if (end - start) / step > MAX_POINTS {
                return Err(PromError::bad_data(
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
                ));
            }
            let q = recognise(query).map_err(PromError::bad_data)?;
            let mut result: Vec<Value> = Vec::new();
            for (le, v) in self.series(project, &q) {
                let mut values = Vec::new();
                let mut t = start;
                // Nothing in the future, as a real store.
                while t <= end + 1e-9 && t <= now_secs + 1e-9 {
                    values.push(json!([t, sample(v)]));
                    t += step;
                }
                if !values.is_empty() {
                    result.push(json!({"metric": labels(le), "values": values}));
                }
            }
            json!({"resultType": "matrix", "result": result})
        } else {
            let at = time_param("time")?.unwrap_or(now_secs);
            let q = recognise(query).map_err(PromError::bad_data)?;
            let newest = at.min(now_secs) - self.monitoring.sample_lag_secs;
            let result: Vec<Value> = self
                .series(project, &q)
                .into_iter()
                .map(|(le, v)| {
                    let v = if q.signal == Signal::Freshness {
                        newest
                    } else {
                        v
                    };
                    json!({"metric": labels(le), "value": [at, sample(v)]})
                })
                .collect();
            json!({"resultType": "vector", "result": result})
        };
        Ok(json!({"status": "success", "data": recognised}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canary::metrics::prometheus::{expand, QueryTemplates};
    use std::time::Duration;

    #[test]
    fn recognises_the_cockpits_cloud_run_queries() {
        let t = QueryTemplates::cloud_run("emergence-app");
        let q = |tpl: &str| expand(tpl, "emergence-app-00042-xuv", Duration::from_secs(120));
        for (tpl, signal) in [
            (&t.request_rate, Signal::RequestRate),
            (&t.error_percent, Signal::ErrorPercent),
            (&t.latency_p95, Signal::LatencyP95),
            (
                t.latency_buckets.as_ref().expect("a buckets query"),
                Signal::LatencyBuckets,
            ),
            (
                t.freshness.as_ref().expect("a freshness query"),
                Signal::Freshness,
            ),
        ] {
            let r = recognise(&q(tpl).expect("expands")).expect("recognised");
            assert_eq!(r.signal, signal);
            assert_eq!(r.revision, "emergence-app-00042-xuv");
            assert_eq!(r.service.as_deref(), Some("emergence-app"));
        }
        assert!(recognise("up").is_err());
        assert!(recognise("sum(rate(run_googleapis_com:request_count{}[1m]))").is_err());
        assert!(recognise(
            "sum(rate(run_googleapis_com:request_count{revision_name=~\"a.*\"}[1m]))"
        )
        .is_err());
        let spaced =
            "sum ( rate ( run_googleapis_com:request_count{ revision_name = \"a\\\"b\" } [5m] ) )";
        assert_eq!(recognise(spaced).expect("ok").revision, "a\"b");
    }

    #[test]
    fn latency_buckets_are_cumulative_and_hold_the_p95() {
        let b = latency_buckets(450.0);
        assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{b:?}");
        assert_eq!(b.last().map(|x| (x.0.as_str(), x.1)), Some(("+Inf", 1.0)));
        // The bucket that crosses 95 % ends within one growth factor of 450.
        let le: f64 = b
            .iter()
            .find(|x| x.1 >= 0.95)
            .and_then(|x| x.0.parse().ok())
            .expect("a finite bucket over 95 %");
        assert!((450.0..450.0 * 1.4).contains(&le), "{le}");
    }

    #[test]
    fn times_and_steps() {
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000.5));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000.0));
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_step("15"), Some(15.0));
        assert_eq!(parse_step("1m"), Some(60.0));
        assert_eq!(parse_step("1500ms"), Some(1.5));
        assert_eq!(parse_step("0"), None);
        let p = params(
            &[("query".into(), "a".into())],
            r#"{"query":"b","start":"1"}"#,
        );
        assert_eq!(p["query"], "b");
        assert_eq!(p["start"], "1");
        assert_eq!(params(&[], "query=up%7B%7D&step=2")["query"], "up{}");
    }
}
