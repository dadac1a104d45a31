//! `[[checks]]`: the verification battery, one table per check. The keys
//! every check takes are in [`Common`]; each kind's own keys are in its own
//! struct ([`Http`], [`Query`], ...), and [`RawKind`] is the enum of those,
//! tagged by `kind = "..."`. A key of another kind has no field in the
//! kind's struct, so the kind refuses it, named as such.
//!
//! Adding a key to a kind: one line in the kind's `leaves!`, and its reading
//! in the kind's `validate`. Adding a kind: a `leaves!` struct, a line in
//! `kinds!`, and its `validate` (the checks module has its runner).

use std::ops::Range;
use std::sync::LazyLock;
use std::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::{Spanned, Value};

use super::{expected, Leaf, Table, DURATION};
use crate::checks::{
    CheckKind, CheckSpec, HttpCheck, JsonExpectation, LogsCheck, MetricsEndpointCheck, QueryCheck,
    QueryMetric,
};
use crate::config::validate::Cx;
use crate::config::ConfigError;
use crate::core::model::Severity;

/// Declares a table of plain values that serde does not read by itself: a
/// check's keys are gathered first, then each is given to the table that
/// takes it. Generates the struct, `KEYS`, `expected` and `take`.
macro_rules! leaves {
    ($(#[$meta:meta])* struct $name:ident { $( $key:ident => $expected:expr, )* }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub(in crate::config) struct $name {
            $( pub $key: Leaf, )*
        }

        impl $name {
            /// The keys, in documentation order.
            const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];

            fn expected(key: &str) -> Option<&'static str> {
                match key {
                    $( stringify!($key) => Some($expected), )*
                    _ => None,
                }
            }

            /// Takes the value of `key`; gives it back when there is no such key here.
            #[allow(unused_variables)] // a kind without keys of its own
            fn take(&mut self, key: &str, value: Spanned<Value>) -> Result<(), Spanned<Value>> {
                $(
                    if key == stringify!($key) {
                        self.$key = Some(value);
                        return Ok(());
                    }
                )*
                Err(value)
            }
        }
    };
}

/// Declares the kinds: the tag written in `kind = "..."` and the struct of
/// the kind's own keys. Generates [`RawKind`].
macro_rules! kinds {
    ($( $tag:literal => $variant:ident, )*) => {
        /// A check's own keys, by kind.
        #[derive(Debug)]
        pub(in crate::config) enum RawKind {
            $( $variant($variant), )*
        }

        impl RawKind {
            /// Every kind: its tag and its own keys, in documentation order.
            const ALL: &'static [(&'static str, &'static [&'static str])] =
                &[$( ($tag, $variant::KEYS), )*];

            /// The kind `tag` names, with none of its keys yet.
            fn new(tag: &str) -> Option<RawKind> {
                match tag {
                    $( $tag => Some(RawKind::$variant($variant::default())), )*
                    _ => None,
                }
            }

            /// The kind's own keys.
            fn keys(&self) -> &'static [&'static str] {
                match self {
                    $( RawKind::$variant(_) => $variant::KEYS, )*
                }
            }

            /// Takes `key` if this kind has it; gives the value back if not.
            fn take(&mut self, key: &str, value: Spanned<Value>) -> Result<(), Spanned<Value>> {
                match self {
                    $( RawKind::$variant(k) => k.take(key, value), )*
                }
            }

            /// What `key` accepts, in whichever kind has it.
            fn expected(key: &str) -> Option<&'static str> {
                None $( .or_else(|| $variant::expected(key)) )*
            }
        }
    };
}

const URL: &str =
    "a URL template such as \"{tag_url}/api/health\" ({tag_url}, {service_url}, {revision})";
const NUMBER: &str = "a number";
const SEVERITY: &str =
    "one of: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY";

leaves! {
    /// The keys every check takes.
    struct Common {
        name => "a short name for the check, e.g. \"health\"",
        kind => "one of: \"http\", \"ready\", \"metrics-endpoint\", \"query\", \"logs\"",
        blocking => "true (a failure blocks and may roll back) or false (it only warns)",
        timeout => DURATION,
    }
}

leaves! {
    /// `kind = "http"`: a request to the revision, its status and body checked.
    struct Http {
        method => "an HTTP method such as \"GET\" or \"HEAD\"",
        url => URL,
        expect_status => "an HTTP status between 100 and 599",
        json => "a list of expectations such as [\"status == \\\"ok\\\"\"]",
        body_regex => "a regular expression",
        retries => "a number of retries between 0 and 100",
        interval => DURATION,
    }
}

leaves! {
    /// `kind = "metrics-endpoint"`: a condition on the revision's own `/metrics`.
    struct MetricsEndpoint {
        url => URL,
        condition => "a condition such as \"memory_analysis_failure_total <= 2\"",
    }
}

leaves! {
    /// `kind = "ready"`: the revision is ready; no keys of its own.
    struct Ready {}
}

leaves! {
    /// `kind = "query"`: a number from the metrics source, against bounds or the stable.
    struct Query {
        metric => "one of: \"error_percent\", \"p95_latency_ms\", \"requests_per_second\"",
        promql => "a PromQL expression giving one number, using {revision} and {rate_window}",
        max => NUMBER,
        min => NUMBER,
        compare_to_stable => "true or false",
        margin => NUMBER,
        window => DURATION,
    }
}

leaves! {
    /// `kind = "logs"`: no log entry at or above a severity.
    struct Logs {
        severity => SEVERITY,
        window => DURATION,
    }
}

kinds! {
    "http" => Http,
    "metrics-endpoint" => MetricsEndpoint,
    "ready" => Ready,
    "query" => Query,
    "logs" => Logs,
}

/// One `[[checks]]` table as written: the common keys, and the others in
/// the order written, for the kind to take.
#[derive(Debug, Default)]
pub(in crate::config) struct RawCheck {
    common: Common,
    own: Vec<(String, Spanned<Value>)>,
}

impl Table for RawCheck {
    /// The common keys, then every kind's, each once.
    fn keys() -> &'static [&'static str] {
        static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
            let mut keys = Common::KEYS.to_vec();
            for (_, own) in RawKind::ALL {
                for key in *own {
                    if !keys.contains(key) {
                        keys.push(key);
                    }
                }
            }
            keys
        });
        &KEYS
    }

    fn expected(key: &str) -> Option<&'static str> {
        Common::expected(key).or_else(|| RawKind::expected(key))
    }
}

impl<'de> Deserialize<'de> for RawCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = RawCheck;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCheck, A::Error> {
        let mut check = RawCheck::default();
        while let Some(key) = map.next_key_seed(KnownKey)? {
            let value: Spanned<Value> = map.next_value()?;
            if let Err(value) = check.common.take(&key, value) {
                check.own.push((key, value));
            }
        }
        Ok(check)
    }
}

/// A key some check takes; any other is refused where it is written, as
/// serde refuses an unknown key of any other table.
struct KnownKey;

impl<'de> DeserializeSeed<'de> for KnownKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KnownKey {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the name of a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if RawCheck::keys().contains(&key) {
            Ok(key.to_string())
        } else {
            Err(E::unknown_field(key, RawCheck::keys()))
        }
    }
}

/// The `[[checks]]` list, in order; names are unique.
pub(super) fn validate(list: &[Spanned<RawCheck>], cx: &Cx) -> Result<Vec<CheckSpec>, ConfigError> {
    let mut out: Vec<CheckSpec> = Vec::new();
    for item in list {
        let spec = check(cx, item)?;
        if out.iter().any(|c| c.name == spec.name) {
            let leaf = item.get_ref().common.name.as_ref();
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

/// One check being read: where its table is, and its name, for messages.
struct At<'a> {
    cx: &'a Cx<'a>,
    span: Range<usize>,
    name: String,
}

impl At<'_> {
    /// A key the check needs and does not have: the error is on the table.
    fn missing(&self, key: &str, why: &str) -> ConfigError {
        self.cx.error(
            Some(self.span.clone()),
            Some(&format!("checks.{key}")),
            format!("missing: {why}"),
        )
    }

    /// The `url` template, required; `what` is the example's path.
    fn url(&self, leaf: &Leaf, kind: &str, what: &str) -> Result<String, ConfigError> {
        let Some((s, l)) = self.cx.string(leaf, "checks.url")? else {
            return Err(self.missing(
                "url",
                &format!(
                    "check {:?} ({kind}) needs a url, e.g. url = \"{{tag_url}}/{what}\"",
                    self.name
                ),
            ));
        };
        crate::checks::validate_template(s).map_err(|e| {
            self.cx
                .at(l, "checks.url", format!("invalid value {s:?}: {e}"))
        })?;
        Ok(s.to_string())
    }
}

fn check(cx: &Cx, item: &Spanned<RawCheck>) -> Result<CheckSpec, ConfigError> {
    let c = &item.get_ref().common;
    let mut at = At {
        cx,
        span: item.span(),
        name: String::new(),
    };
    at.name = cx
        .string(&c.name, "checks.name")?
        .map(|(s, l)| {
            if s.trim().is_empty() {
                Err(cx.wrong_value(l, "checks.name", format!("{s:?}")))
            } else {
                Ok(s.trim().to_string())
            }
        })
        .transpose()?
        .ok_or_else(|| at.missing("name", "every check needs a name, e.g. name = \"health\""))?;
    let name = at.name.clone();
    let Some((kind_name, kind_leaf)) = cx.string(&c.kind, "checks.kind")? else {
        return Err(at.missing(
            "kind",
            &format!("check {name:?} needs a kind: {}", expected("checks.kind")),
        ));
    };
    let Some(mut kind) = RawKind::new(kind_name) else {
        return Err(cx.wrong_value(kind_leaf, "checks.kind", format!("{kind_name:?}")));
    };
    // Keys that belong to other kinds are mistakes, not silently ignored.
    for (key, value) in &item.get_ref().own {
        if let Err(value) = kind.take(key, value.clone()) {
            let own = kind.keys();
            let message = if own.is_empty() {
                format!(
                    "unknown key for a {kind_name} check, which takes only {}",
                    Common::KEYS.join(", ")
                )
            } else {
                format!(
                    "unknown key for a {kind_name} check; expected one of: {}, {}",
                    Common::KEYS.join(", "),
                    own.join(", ")
                )
            };
            return Err(cx.at(&value, &format!("checks.{key}"), message));
        }
    }
    let blocking = cx.boolean(&c.blocking, "checks.blocking")?.unwrap_or(true);
    let timeout = cx
        .duration(&c.timeout, "checks.timeout")?
        .unwrap_or(Duration::from_secs(30));
    let kind = match kind {
        RawKind::Http(h) => CheckKind::Http(h.validate(&at)?),
        RawKind::MetricsEndpoint(m) => CheckKind::MetricsEndpoint(m.validate(&at)?),
        RawKind::Ready(_) => CheckKind::Ready,
        RawKind::Query(q) => CheckKind::Query(q.validate(&at)?),
        RawKind::Logs(l) => CheckKind::Logs(l.validate(&at)?),
    };
    Ok(CheckSpec {
        name,
        kind,
        blocking,
        timeout,
    })
}

impl Http {
    fn validate(&self, at: &At) -> Result<HttpCheck, ConfigError> {
        let cx = at.cx;
        let mut h = HttpCheck::get(at.url(&self.url, "http", "api/health")?);
        if let Some((m, l)) = cx.string(&self.method, "checks.method")? {
            h.method = reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| cx.wrong_value(l, "checks.method", format!("{m:?}")))?;
        }
        if let Some(code) = cx.int::<u16>(&self.expect_status, "checks.expect_status", 100..=599)? {
            h.expect_status = code;
        }
        if let Some(l) = &self.json {
            let Value::Array(items) = l.get_ref() else {
                return Err(cx.wrong_type(l, "checks.json"));
            };
            for item in items {
                let Value::String(text) = item else {
                    return Err(cx.wrong_type(l, "checks.json"));
                };
                let e = JsonExpectation::parse(text)
                    .map_err(|e| cx.at(l, "checks.json", format!("invalid value {text:?}: {e}")))?;
                h.json.push(e);
            }
        }
        if let Some((re, l)) = cx.string(&self.body_regex, "checks.body_regex")? {
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
        if let Some(n) = cx.int(&self.retries, "checks.retries", 0..=100)? {
            h.retries = n;
        }
        if let Some(i) = cx.duration(&self.interval, "checks.interval")? {
            h.interval = i;
        }
        Ok(h)
    }
}

impl MetricsEndpoint {
    fn validate(&self, at: &At) -> Result<MetricsEndpointCheck, ConfigError> {
        let cx = at.cx;
        let url = at.url(&self.url, "metrics-endpoint", "api/metrics")?;
        let Some((cond, l)) = cx.string(&self.condition, "checks.condition")? else {
            return Err(at.missing(
                "condition",
                &format!(
                    "check {:?} (metrics-endpoint) needs a condition, e.g. condition = \"memory_analysis_failure_total <= 2\"",
                    at.name
                ),
            ));
        };
        crate::checks::expr::parse_condition(cond).map_err(|e| {
            cx.at(
                l,
                "checks.condition",
                format!("invalid value {cond:?}: {e}"),
            )
        })?;
        Ok(MetricsEndpointCheck {
            url_template: url,
            condition: cond.to_string(),
        })
    }
}

impl Query {
    fn validate(&self, at: &At) -> Result<QueryCheck, ConfigError> {
        let cx = at.cx;
        let name = &at.name;
        let metric = match (
            cx.string(&self.metric, "checks.metric")?,
            cx.string(&self.promql, "checks.promql")?,
        ) {
            (Some((m, l)), None) => QueryMetric::parse(m)
                .ok_or_else(|| cx.wrong_value(l, "checks.metric", format!("{m:?}")))?,
            (None, Some((q, l))) => {
                crate::metrics::prometheus::expand(q, "r", Duration::from_secs(60))
                    .map_err(|e| cx.at(l, "checks.promql", format!("invalid value {q:?}: {e}")))?;
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
                return Err(at.missing(
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
            max: cx.float(&self.max, "checks.max", |_| true)?,
            min: cx.float(&self.min, "checks.min", |_| true)?,
            compare_to_stable: cx
                .boolean(&self.compare_to_stable, "checks.compare_to_stable")?
                .unwrap_or(false),
            margin: cx
                .float(&self.margin, "checks.margin", |x| x >= 0.0)?
                .unwrap_or(0.0),
            window: cx
                .duration(&self.window, "checks.window")?
                .unwrap_or(Duration::from_secs(300)),
        };
        if q.max.is_none() && q.min.is_none() && !q.compare_to_stable {
            return Err(at.missing(
                "max",
                &format!("query check {name:?} needs max, min or compare_to_stable = true"),
            ));
        }
        Ok(q)
    }
}

impl Logs {
    fn validate(&self, at: &At) -> Result<LogsCheck, ConfigError> {
        let cx = at.cx;
        let severity = match cx.string(&self.severity, "checks.severity")? {
            None => Severity::Error,
            Some((s, l)) => Severity::parse(s)
                .ok_or_else(|| cx.wrong_value(l, "checks.severity", format!("{s:?}")))?,
        };
        Ok(LogsCheck {
            severity,
            window: cx
                .duration(&self.window, "checks.window")?
                .unwrap_or(Duration::from_secs(300)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::validate::parse;

    fn err(check: &str) -> ConfigError {
        let text = format!("[service]\nplatform = \"simulator\"\n[[checks]]\n{check}");
        parse(&text, Path::new("t.toml")).expect_err(&text)
    }

    /// The messages list the keys in documentation order: the common ones,
    /// then each kind's in the order of the kinds, each once.
    #[test]
    fn the_keys_of_all_kinds_in_order() {
        assert_eq!(
            RawCheck::keys().join(", "),
            "name, kind, blocking, timeout, method, url, expect_status, json, body_regex, \
             retries, interval, condition, metric, promql, max, min, compare_to_stable, margin, \
             window, severity"
        );
        for (tag, _) in RawKind::ALL {
            assert!(crate::checks::KINDS.contains(tag), "{tag}");
        }
        assert_eq!(RawKind::ALL.len(), crate::checks::KINDS.len());
    }

    /// A key of another kind has no field in the kind's struct: refused,
    /// the first one written named, wherever `kind` is written.
    #[test]
    fn a_key_of_another_kind_is_refused_by_the_kind() {
        let e = err("method = \"GET\"\nname = \"l\"\npromql = \"x\"\nkind = \"logs\"\n");
        assert_eq!(e.key.as_deref(), Some("checks.method"));
        assert_eq!(e.line, Some(4));
        assert_eq!(
            e.message,
            "unknown key for a logs check; expected one of: name, kind, blocking, timeout, severity, window"
        );
        let e = err("name = \"r\"\nkind = \"ready\"\nwindow = \"1m\"\n");
        assert_eq!(e.key.as_deref(), Some("checks.window"));
        assert_eq!(
            e.message,
            "unknown key for a ready check, which takes only name, kind, blocking, timeout"
        );
        // A key of its own kind is taken.
        let text = "[service]\nplatform = \"simulator\"\n[[checks]]\nwindow = \"1m\"\nname = \"l\"\nkind = \"logs\"\n";
        let c = parse(text, Path::new("t.toml")).expect("valid");
        assert!(
            matches!(&c.checks[0].kind, CheckKind::Logs(l) if l.window == Duration::from_secs(60))
        );
    }

    /// A key no kind takes is refused where it is written, like an unknown
    /// key of any other table.
    #[test]
    fn a_key_no_kind_takes_is_unknown() {
        let e = err("name = \"a\"\nkind = \"ready\"\n\nretires = 3\n");
        assert_eq!(e.key.as_deref(), Some("checks.retires"));
        assert_eq!((e.line, e.column), (Some(7), Some(1)));
        assert!(
            e.message
                .starts_with("unknown key; expected one of: name, kind, blocking"),
            "{e}"
        );
        assert!(e.message.ends_with("(did you mean `retries`?)"), "{e}");
    }
}
