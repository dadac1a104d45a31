//! From text to a checked [`Config`], with every error located.

use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_path_to_error::Segment;
use toml::{Spanned, Value};

use super::raw::{self, Leaf, RawConfig, CHECK_KIND_KEYS, COMMON_CHECK_KEYS, KNOWN_KEYS};
use super::{
    format_duration, parse_duration, CloudRunConfig, ColorChoice, Config, ConfigError, DemoConfig,
    DiagnosticsConfig, GatesConfig, GoogleAuth, HaproxyConfig, JournalConfig, LogsConfig,
    MetricsConfig, NotifyConfig, PlatformKind, PrometheusConfig, RefreshConfig, ServiceConfig,
    TrafficConfig, UiConfig, DEMO_PROJECT, DEMO_REGION, DEMO_SERVICE,
};
use crate::checks::{
    CheckKind, CheckSpec, HttpCheck, JsonExpectation, LogsCheck, MetricsEndpointCheck, QueryCheck,
    QueryMetric,
};
use crate::core::judge::{JudgeMode, JudgeSettings};
use crate::core::keymap::{Command, Key, KeyList, Keymap, KeymapError};
use crate::core::model::Severity;
use crate::core::plan::{OnFailure, PlanMode, PlanSpec, PlanStep};

/// Durations shorter than this are refused everywhere.
const MIN_DURATION: Duration = Duration::from_millis(100);
/// Bounds on `metrics.window / metrics.step`.
const MIN_POINTS: u128 = 2;
const MAX_POINTS: u128 = 1000;

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// What a key accepts, for "expected ..." in messages.
fn expected(key: &str) -> &'static str {
    const DURATION: &str =
        "a duration of at least 100ms such as \"500ms\", \"2s\", \"15m\" or \"1h30m\"";
    match key {
        "service.platform" => "one of: \"cloud-run\", \"haproxy\", \"simulator\"",
        "service.name" => "a service name without spaces, e.g. \"emergence-app\"",
        "service.project" => "a Google Cloud project id without spaces, e.g. \"my-project-123\"",
        "service.region" => "a region without spaces, e.g. \"europe-west1\"",
        "service.stable_revision" => {
            "a revision name without spaces, e.g. \"emergence-app-00041-abc\""
        }
        "service.canary_tag" => "a traffic tag without spaces, e.g. \"canary\"",
        "traffic.step" => "a number of points between 1 and 50",
        "traffic.max_step" => "a number of points between 1 and 100",
        "refresh.service" | "refresh.metrics" | "refresh.logs" | "metrics.window"
        | "metrics.step" => DURATION,
        "gates.error_percent" => "a percentage between 0 and 100",
        "gates.window" | "gates.sustain" | "verification.timeout" | "notify.timeout"
        | "plan.steps.observe" | "checks.timeout" | "checks.interval" | "checks.window" => {
            DURATION
        }
        "gates.min_requests" => "a number of requests, 0 or more",
        "plan.mode" => "one of: \"manual\", \"auto\"",
        "judge.mode" => "one of: \"off\", \"observe\" (shown and journaled, never acts), \"act\"",
        "judge.alpha" => "a false-alarm rate between 0.0001 and 0.2, e.g. 0.01",
        "judge.error_margin" => "a number of points of 5xx between 0 and 100, e.g. 0.5",
        "judge.latency_margin_ms" => "a number of milliseconds, 0 or more, e.g. 50",
        "judge.min_requests" => "a number of requests, 1 or more",
        "deploy.tag" => "a tag template: lowercase letters, digits, dashes and {date}, e.g. \"canary-{date}\"",
        "deploy.checks" | "revisions.prune_after_promote" => "true or false",
        "revisions.keep" => "a number of revisions between 1 and 1000",
        "plan.on_failure" => "one of: \"rollback\", \"pause\", \"step-down\"",
        "plan.steps" => "a list of steps such as [{ percent = 10, observe = \"15m\" }, { percent = 100, observe = \"0s\" }], rising, ending at 100",
        "plan.steps.percent" => "a percentage between 1 and 100",
        "journal.dir" => "a directory path",
        "journal.enabled" => "true or false",
        "notify.webhook_url" => "an http:// or https:// URL (or set CANARY_WEBHOOK_URL instead)",
        "notify.retries" => "a number of retries between 0 and 10",
        "cloud_run.monitoring_endpoint" => "an http:// or https:// URL, the root of a Prometheus HTTP API",
        "haproxy.socket" => "a unix socket path or \"tcp://host:port\" of HAProxy's Runtime API (level admin)",
        "haproxy.backend" => "the name of the HAProxy backend whose servers are the revisions",
        "haproxy.stable" | "haproxy.canary" => "the name of a server of the backend",
        "haproxy.timeout" | "prometheus.rate_window" => DURATION,
        "prometheus.url" => "an http:// or https:// URL such as \"http://127.0.0.1:9090\"",
        "prometheus.bearer_token_env" => "the name of an environment variable, e.g. \"PROMETHEUS_TOKEN\"",
        "prometheus.request_rate" | "prometheus.error_percent" | "prometheus.p95_latency_ms" => {
            "a PromQL template using {revision} and {rate_window}"
        }
        "logs.files" => "a table of revision = \"path/to/file.log\"",
        "logs.commands" => "a table of revision = \"shell command\", e.g. \"kubectl logs -f deploy/app-v2\"",
        "cloud_run.logging_endpoint" => "an http:// or https:// URL such as \"https://logging.googleapis.com\"",
        "cloud_run.endpoint" => "an http:// or https:// URL such as \"https://run.googleapis.com\" or \"http://127.0.0.1:8080\"",
        "cloud_run.auth" => "one of: \"adc\", \"gcloud\", \"none\"",
        "checks.name" => "a short name for the check, e.g. \"health\"",
        "checks.kind" => "one of: \"http\", \"ready\", \"metrics-endpoint\", \"query\", \"logs\"",
        "checks.blocking" => "true (a failure blocks and may roll back) or false (it only warns)",
        "checks.method" => "an HTTP method such as \"GET\" or \"HEAD\"",
        "checks.url" => "a URL template such as \"{tag_url}/api/health\" ({tag_url}, {service_url}, {revision})",
        "checks.expect_status" => "an HTTP status between 100 and 599",
        "checks.json" => "a list of expectations such as [\"status == \\\"ok\\\"\"]",
        "checks.body_regex" => "a regular expression",
        "checks.retries" => "a number of retries between 0 and 100",
        "checks.condition" => "a condition such as \"memory_analysis_failure_total <= 2\"",
        "checks.promql" => "a PromQL expression giving one number, using {revision} and {rate_window}",
        "checks.metric" => "one of: \"error_percent\", \"p95_latency_ms\", \"requests_per_second\"",
        "checks.max" | "checks.min" | "checks.margin" => "a number",
        "checks.compare_to_stable" => "true or false",
        "checks.severity" => {
            "one of: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY"
        }
        "gates.p95_latency_ms" => "a number of milliseconds greater than 0",
        "logs.buffer_lines" => "a number of lines between 100 and 1000000",
        "logs.min_severity" => {
            "one of: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY"
        }
        "logs.follow" => "true or false",
        "ui.max_fps" => "a number of frames per second between 1 and 120",
        "ui.color" => "one of: \"auto\", \"always\", \"never\"",
        "demo.scenario" => "a built-in scenario name such as \"healthy\" or a path to a scenario file",
        "demo.seed" => "a whole number, 0 or more",
        "diagnostics.log_level" => "one of: \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
        "diagnostics.log_dir" => "a directory path",
        k if k.starts_with("keys.") => {
            "a key such as \"r\", \"Ctrl-r\" or \"PageUp\", or a list of keys such as [\"j\", \"Down\"]"
        }
        _ => "a valid value",
    }
}

/// How a value looks in "invalid type: ..." messages.
fn found(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {s:?}"),
        Value::Integer(n) => format!("integer {n}"),
        Value::Float(x) => format!("float {x}"),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Datetime(d) => format!("datetime {d}"),
        Value::Array(_) => "array".into(),
        Value::Table(_) => "table".into(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count())
        + 1;
    (line, column)
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to a misspelt name, if close enough.
fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2 && *d < name.chars().count().max(c.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Cx<'_> {
    fn error(&self, span: Option<Range<usize>>, key: Option<&str>, message: String) -> ConfigError {
        let (line, column) = span.map(|s| line_col(self.text, s.start)).unzip();
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.map(str::to_string),
            message,
        }
    }

    fn at(&self, leaf: &Spanned<Value>, key: &str, message: String) -> ConfigError {
        self.error(Some(leaf.span()), Some(key), message)
    }

    fn wrong_type(&self, leaf: &Spanned<Value>, key: &str) -> ConfigError {
        let message = format!(
            "invalid type: {}, expected {}",
            found(leaf.get_ref()),
            expected(key)
        );
        self.at(leaf, key, message)
    }

    fn wrong_value(
        &self,
        leaf: &Spanned<Value>,
        key: &str,
        shown: impl std::fmt::Display,
    ) -> ConfigError {
        self.at(
            leaf,
            key,
            format!("invalid value {shown}, expected {}", expected(key)),
        )
    }

    /// Line of the `[section]` header, else of the first value of that section.
    fn section_line(&self, section: &str, leaves: &[&Leaf]) -> Option<usize> {
        let header = self.text.lines().position(|line| {
            line.trim()
                .strip_prefix('[')
                .filter(|rest| !rest.starts_with('['))
                .and_then(|rest| rest.split(']').next())
                .is_some_and(|name| name.trim() == section)
        });
        header.map(|i| i + 1).or_else(|| {
            leaves
                .iter()
                .filter_map(|l| l.as_ref())
                .map(|l| line_col(self.text, l.span().start).0)
                .min()
        })
    }

    fn missing(&self, section: &str, leaves: &[&Leaf], key: &str, why: &str) -> ConfigError {
        let line = self.section_line(section, leaves);
        let mut message = format!("missing: {why}");
        if line.is_none() {
            message.push_str(&format!("; add a [{section}] section"));
        }
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            key: Some(key.to_string()),
            message,
        }
    }

    fn int<T: TryFrom<i64>>(
        &self,
        leaf: &Leaf,
        key: &str,
        range: RangeInclusive<i64>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(l) = leaf else { return Ok(None) };
        match l.get_ref() {
            Value::Integer(n) if range.contains(n) => T::try_from(*n)
                .map(Some)
                .map_err(|_| self.wrong_value(l, key, n)),
            Value::Integer(n) => Err(self.wrong_value(l, key, n)),
            _ => Err(self.wrong_type(l, key)),
        }
    }

    fn float(
        &self,
        leaf: &Leaf,
        key: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<Option<f64>, ConfigError> {
        let Some(l) = leaf else { return Ok(None) };
        let x = match l.get_ref() {
            Value::Float(x) => *x,
            // TOML integers are at most 2^63, well within f64's range.
            Value::Integer(n) => *n as f64,
            _ => return Err(self.wrong_type(l, key)),
        };
        if x.is_finite() && ok(x) {
            Ok(Some(x))
        } else {
            Err(self.wrong_value(l, key, x))
        }
    }

    fn boolean(&self, leaf: &Leaf, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some(l) = leaf else { return Ok(None) };
        match l.get_ref() {
            Value::Boolean(b) => Ok(Some(*b)),
            _ => Err(self.wrong_type(l, key)),
        }
    }

    /// A string, with the leaf for further checks.
    fn string<'l>(
        &self,
        leaf: &'l Leaf,
        key: &str,
    ) -> Result<Option<(&'l str, &'l Spanned<Value>)>, ConfigError> {
        let Some(l) = leaf else { return Ok(None) };
        match l.get_ref() {
            Value::String(s) => Ok(Some((s.as_str(), l))),
            _ => Err(self.wrong_type(l, key)),
        }
    }

    /// A non-empty string without whitespace (names, ids, tags).
    fn word(&self, leaf: &Leaf, key: &str) -> Result<Option<String>, ConfigError> {
        match self.string(leaf, key)? {
            None => Ok(None),
            Some((s, l)) if s.is_empty() || s.chars().any(char::is_whitespace) => {
                Err(self.wrong_value(l, key, format!("{s:?}")))
            }
            Some((s, _)) => Ok(Some(s.to_string())),
        }
    }

    fn duration(&self, leaf: &Leaf, key: &str) -> Result<Option<Duration>, ConfigError> {
        let Some((s, l)) = self.string(leaf, key)? else {
            return Ok(None);
        };
        let d = parse_duration(s).map_err(|reason| {
            self.at(
                l,
                key,
                format!("invalid value {s:?}: {reason}; expected {}", expected(key)),
            )
        })?;
        if d < MIN_DURATION {
            return Err(self.at(
                l,
                key,
                format!("invalid value {s:?}: too short, expected {}", expected(key)),
            ));
        }
        Ok(Some(d))
    }

    /// One of a fixed set of names.
    fn choice<T: Copy>(
        &self,
        leaf: &Leaf,
        key: &str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, ConfigError> {
        let Some((s, l)) = self.string(leaf, key)? else {
            return Ok(None);
        };
        match options.iter().find(|(name, _)| *name == s) {
            Some((_, v)) => Ok(Some(*v)),
            None => Err(self.wrong_value(l, key, format!("{s:?}"))),
        }
    }

    fn service(&self, r: &raw::RawService) -> Result<ServiceConfig, ConfigError> {
        let leaves = [
            &r.platform,
            &r.name,
            &r.project,
            &r.region,
            &r.stable_revision,
            &r.canary_tag,
        ];
        let platform = match &r.platform {
            Some(l) if matches!(l.get_ref(), Value::String(s) if s == "kubernetes") => {
                let message = format!(
                    "invalid value {}: not supported by this version yet, expected {}",
                    l.get_ref(),
                    expected("service.platform")
                );
                return Err(self.at(l, "service.platform", message));
            }
            _ => self
                .choice(
                    &r.platform,
                    "service.platform",
                    &PlatformKind::ALL.map(|p| (p.as_str(), p)),
                )?
                .unwrap_or_default(),
        };
        let mut name = self.word(&r.name, "service.name")?;
        let mut project = self.word(&r.project, "service.project")?;
        let mut region = self.word(&r.region, "service.region")?;
        let stable_revision = self.word(&r.stable_revision, "service.stable_revision")?;
        let canary_tag = self.word(&r.canary_tag, "service.canary_tag")?;
        match platform {
            PlatformKind::CloudRun => {
                let needs = [
                    (
                        &name,
                        "service.name",
                        "the Cloud Run service name, e.g. name = \"my-service\"",
                    ),
                    (
                        &project,
                        "service.project",
                        "the Google Cloud project, e.g. project = \"my-project-123\"",
                    ),
                    (
                        &region,
                        "service.region",
                        "the Cloud Run region, e.g. region = \"europe-west1\"",
                    ),
                ];
                for (value, key, what) in needs {
                    if value.is_none() {
                        let why = format!("platform \"cloud-run\" needs {what}");
                        return Err(self.missing("service", &leaves, key, &why));
                    }
                }
            }
            PlatformKind::Haproxy => {
                if name.is_none() {
                    let why =
                        "platform \"haproxy\" needs a service name, e.g. name = \"my-service\"";
                    return Err(self.missing("service", &leaves, "service.name", why));
                }
            }
            PlatformKind::Simulator => {
                name.get_or_insert_with(|| DEMO_SERVICE.into());
                project.get_or_insert_with(|| DEMO_PROJECT.into());
                region.get_or_insert_with(|| DEMO_REGION.into());
            }
        }
        let defaults = ServiceConfig::default();
        Ok(ServiceConfig {
            platform,
            name: name.unwrap_or_default(),
            project,
            region,
            stable_revision,
            canary_tag: canary_tag.unwrap_or(defaults.canary_tag),
        })
    }

    fn traffic(&self, r: &raw::RawTraffic) -> Result<TrafficConfig, ConfigError> {
        let d = TrafficConfig::default();
        let step = self.int(&r.step, "traffic.step", 1..=50)?.unwrap_or(d.step);
        let max_step = self
            .int(&r.max_step, "traffic.max_step", 1..=100)?
            .unwrap_or(d.max_step);
        if max_step < step {
            return Err(match (&r.max_step, &r.step) {
                (Some(l), _) => self.at(
                    l,
                    "traffic.max_step",
                    format!("invalid value {max_step}, expected at least traffic.step ({step})"),
                ),
                (None, Some(l)) => self.at(
                    l,
                    "traffic.step",
                    format!(
                        "invalid value {step}: larger than traffic.max_step ({max_step}, the default); set max_step to at least {step}"
                    ),
                ),
                (None, None) => self.error(None, Some("traffic.max_step"), "max_step is smaller than step".into()),
            });
        }
        Ok(TrafficConfig { step, max_step })
    }

    fn refresh(&self, r: &raw::RawRefresh) -> Result<RefreshConfig, ConfigError> {
        let d = RefreshConfig::default();
        Ok(RefreshConfig {
            service: self
                .duration(&r.service, "refresh.service")?
                .unwrap_or(d.service),
            metrics: self
                .duration(&r.metrics, "refresh.metrics")?
                .unwrap_or(d.metrics),
            logs: self.duration(&r.logs, "refresh.logs")?.unwrap_or(d.logs),
        })
    }

    fn metrics(&self, r: &raw::RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let d = MetricsConfig::default();
        let window = self
            .duration(&r.window, "metrics.window")?
            .unwrap_or(d.window);
        let step = self.duration(&r.step, "metrics.step")?.unwrap_or(d.step);
        let points = window.as_millis() / step.as_millis().max(1);
        if !(MIN_POINTS..=MAX_POINTS).contains(&points) {
            let advice = if points < MIN_POINTS {
                "use a smaller step or a longer window"
            } else {
                "use a larger step or a shorter window"
            };
            let detail = format!(
                "a window of {} at a step of {} gives {points} points, expected between {MIN_POINTS} and {MAX_POINTS}; {advice}",
                format_duration(window),
                format_duration(step)
            );
            let (leaf, key) = match (&r.step, &r.window) {
                (Some(l), _) => (l, "metrics.step"),
                (None, Some(l)) => (l, "metrics.window"),
                (None, None) => return Err(self.error(None, Some("metrics.step"), detail)),
            };
            let shown = match leaf.get_ref() {
                Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            return Err(self.at(leaf, key, format!("invalid value {shown}: {detail}")));
        }
        Ok(MetricsConfig { window, step })
    }

    fn gates(&self, r: &raw::RawGates) -> Result<GatesConfig, ConfigError> {
        let d = GatesConfig::default();
        Ok(GatesConfig {
            error_percent: self
                .float(&r.error_percent, "gates.error_percent", |x| {
                    (0.0..=100.0).contains(&x)
                })?
                .unwrap_or(d.error_percent),
            p95_latency_ms: self
                .float(&r.p95_latency_ms, "gates.p95_latency_ms", |x| x > 0.0)?
                .unwrap_or(d.p95_latency_ms),
            window: self
                .duration(&r.window, "gates.window")?
                .unwrap_or(d.window),
            sustain: self
                .duration_or_zero(&r.sustain, "gates.sustain")?
                .unwrap_or(d.sustain),
            min_requests: self
                .int(&r.min_requests, "gates.min_requests", 0..=i64::MAX)?
                .unwrap_or(d.min_requests),
        })
    }

    fn judge(&self, r: &raw::RawJudge) -> Result<JudgeSettings, ConfigError> {
        let d = JudgeSettings::default();
        let modes = [JudgeMode::Off, JudgeMode::Observe, JudgeMode::Act].map(|m| (m.as_str(), m));
        Ok(JudgeSettings {
            mode: self
                .choice(&r.mode, "judge.mode", &modes)?
                .unwrap_or(d.mode),
            alpha: self
                .float(&r.alpha, "judge.alpha", |x| (0.0001..=0.2).contains(&x))?
                .unwrap_or(d.alpha),
            error_margin_points: self
                .float(&r.error_margin, "judge.error_margin", |x| {
                    (0.0..=100.0).contains(&x)
                })?
                .unwrap_or(d.error_margin_points),
            latency_margin_ms: self
                .float(&r.latency_margin_ms, "judge.latency_margin_ms", |x| {
                    x >= 0.0
                })?
                .unwrap_or(d.latency_margin_ms),
            min_requests: self
                .int::<i64>(&r.min_requests, "judge.min_requests", 1..=i64::MAX)?
                .map_or(d.min_requests, |n| n as f64),
            ..d
        })
    }

    /// `[deploy]` and `[revisions]`.
    fn release(
        &self,
        d: &raw::RawDeploy,
        r: &raw::RawRevisions,
    ) -> Result<crate::core::release::ReleaseSettings, ConfigError> {
        let def = crate::core::release::ReleaseSettings::default();
        let tag = match self.string(&d.tag, "deploy.tag")? {
            None => def.tag,
            Some((t, l)) => {
                let sample = crate::core::release::expand_tag(t, chrono::Utc::now());
                if crate::core::release::check_tag(&sample).is_err() {
                    return Err(self.wrong_value(l, "deploy.tag", format!("{t:?}")));
                }
                t.to_string()
            }
        };
        Ok(crate::core::release::ReleaseSettings {
            tag,
            checks_after_deploy: self
                .boolean(&d.checks, "deploy.checks")?
                .unwrap_or(def.checks_after_deploy),
            keep: self
                .int::<usize>(&r.keep, "revisions.keep", 1..=1000)?
                .unwrap_or(def.keep),
            prune_after_promote: self
                .boolean(&r.prune_after_promote, "revisions.prune_after_promote")?
                .unwrap_or(def.prune_after_promote),
        })
    }

    /// A duration where `"0s"` is allowed (no sustain, no observation).
    fn duration_or_zero(&self, leaf: &Leaf, key: &str) -> Result<Option<Duration>, ConfigError> {
        if let Some(l) = leaf {
            if let Value::String(s) = l.get_ref() {
                if parse_duration(s).is_ok_and(|d| d.is_zero()) {
                    return Ok(Some(Duration::ZERO));
                }
            }
        }
        self.duration(leaf, key)
    }

    fn plan(&self, r: &raw::RawPlan) -> Result<PlanSpec, ConfigError> {
        let d = PlanSpec::domain_default();
        let mode = self
            .choice(
                &r.mode,
                "plan.mode",
                &[("manual", PlanMode::Manual), ("auto", PlanMode::Auto)],
            )?
            .unwrap_or(d.mode);
        let on_failure = self
            .choice(
                &r.on_failure,
                "plan.on_failure",
                &[
                    ("rollback", OnFailure::Rollback),
                    ("pause", OnFailure::Pause),
                    ("step-down", OnFailure::StepDown),
                ],
            )?
            .unwrap_or(d.on_failure);
        let steps = match &r.steps {
            None => d.steps,
            Some(list) => {
                let mut steps = Vec::new();
                for item in list.get_ref() {
                    let step = item.get_ref();
                    let Some(percent) =
                        self.int::<u8>(&step.percent, "plan.steps.percent", 1..=100)?
                    else {
                        return Err(self.error(
                            Some(item.span()),
                            Some("plan.steps.percent"),
                            "missing: every step needs a percent, e.g. { percent = 10, observe = \"15m\" }".into(),
                        ));
                    };
                    let observe = self
                        .duration_or_zero(&step.observe, "plan.steps.observe")?
                        .unwrap_or(Duration::ZERO);
                    steps.push(PlanStep { percent, observe });
                }
                steps
            }
        };
        let spec = PlanSpec {
            steps,
            mode,
            on_failure,
        };
        if let Err(why) = spec.validate() {
            let span = r.steps.as_ref().map(|s| s.span());
            return Err(self.error(
                span,
                Some("plan.steps"),
                format!("{why}; expected {}", expected("plan.steps")),
            ));
        }
        Ok(spec)
    }

    fn journal(&self, r: &raw::RawJournal) -> Result<JournalConfig, ConfigError> {
        let d = JournalConfig::default();
        let dir = match self.string(&r.dir, "journal.dir")? {
            None => d.dir,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(self.wrong_value(l, "journal.dir", format!("{s:?}")))
            }
            Some((s, _)) => Some(expand_home(s)),
        };
        Ok(JournalConfig {
            dir,
            enabled: self
                .boolean(&r.enabled, "journal.enabled")?
                .unwrap_or(d.enabled),
        })
    }

    /// An http(s) URL. `secret`: the value is never echoed in messages.
    fn url(&self, leaf: &Leaf, key: &str, secret: bool) -> Result<Option<String>, ConfigError> {
        let Some((s, l)) = self.string(leaf, key)? else {
            return Ok(None);
        };
        let ok = reqwest::Url::parse(s)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            let shown = if secret {
                "(not shown: it is a secret)".to_string()
            } else {
                format!("{s:?}")
            };
            return Err(self.wrong_value(l, key, shown));
        }
        Ok(Some(s.trim_end_matches('/').to_string()))
    }

    fn notify(&self, r: &raw::RawNotify) -> Result<NotifyConfig, ConfigError> {
        let d = NotifyConfig::default();
        Ok(NotifyConfig {
            webhook_url: self.url(&r.webhook_url, "notify.webhook_url", true)?,
            timeout: self
                .duration(&r.timeout, "notify.timeout")?
                .unwrap_or(d.timeout),
            retries: self
                .int(&r.retries, "notify.retries", 0..=10)?
                .unwrap_or(d.retries),
        })
    }

    fn cloud_run(&self, r: &raw::RawCloudRun) -> Result<CloudRunConfig, ConfigError> {
        Ok(CloudRunConfig {
            endpoint: self.url(&r.endpoint, "cloud_run.endpoint", false)?,
            logging_endpoint: self.url(&r.logging_endpoint, "cloud_run.logging_endpoint", false)?,
            monitoring_endpoint: self.url(
                &r.monitoring_endpoint,
                "cloud_run.monitoring_endpoint",
                false,
            )?,
            auth: self
                .choice(
                    &r.auth,
                    "cloud_run.auth",
                    &GoogleAuth::ALL.map(|a| (a.as_str(), a)),
                )?
                .unwrap_or_default(),
        })
    }

    /// A `revision = "non-empty string"` table such as `[logs] files`.
    fn revision_table(
        &self,
        table: &BTreeMap<String, Spanned<Value>>,
        key: &str,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut out = BTreeMap::new();
        for (revision, leaf) in table {
            match leaf.get_ref() {
                Value::String(v) if !v.trim().is_empty() => {
                    out.insert(revision.clone(), v.clone());
                }
                other => {
                    let message =
                        format!("invalid value {}, expected {}", found(other), expected(key));
                    return Err(self.at(leaf, &format!("{key}.{revision}"), message));
                }
            }
        }
        Ok(out)
    }

    fn haproxy(
        &self,
        r: &raw::RawHaproxy,
        platform: PlatformKind,
    ) -> Result<Option<HaproxyConfig>, ConfigError> {
        let leaves = [&r.socket, &r.backend, &r.stable, &r.canary, &r.timeout];
        let socket = self.string(&r.socket, "haproxy.socket")?;
        if let Some((s, l)) = socket {
            crate::platform::haproxy::Socket::parse(s)
                .map_err(|e| self.at(l, "haproxy.socket", format!("invalid value {s:?}: {e}")))?;
        }
        let backend = self.word(&r.backend, "haproxy.backend")?;
        if platform != PlatformKind::Haproxy {
            return Ok(None);
        }
        let Some((socket, _)) = socket else {
            return Err(self.missing(
                "haproxy",
                &leaves,
                "haproxy.socket",
                "platform \"haproxy\" needs the Runtime API socket, e.g. socket = \"/run/haproxy/admin.sock\"",
            ));
        };
        let Some(backend) = backend else {
            return Err(self.missing(
                "haproxy",
                &leaves,
                "haproxy.backend",
                "platform \"haproxy\" needs the backend, e.g. backend = \"app\"",
            ));
        };
        Ok(Some(HaproxyConfig {
            socket: socket.to_string(),
            backend,
            stable: self.word(&r.stable, "haproxy.stable")?,
            canary: self.word(&r.canary, "haproxy.canary")?,
            timeout: self
                .duration(&r.timeout, "haproxy.timeout")?
                .unwrap_or(Duration::from_secs(5)),
        }))
    }

    fn prometheus(&self, r: &raw::RawPrometheus) -> Result<Option<PrometheusConfig>, ConfigError> {
        let url = self.url(&r.url, "prometheus.url", false)?;
        let template = |leaf: &Leaf, key: &str| -> Result<Option<String>, ConfigError> {
            let Some((s, l)) = self.string(leaf, key)? else {
                return Ok(None);
            };
            crate::metrics::prometheus::expand(s, "r", Duration::from_secs(60))
                .map_err(|e| self.at(l, key, format!("invalid value {s:?}: {e}")))?;
            Ok(Some(s.to_string()))
        };
        let cfg = PrometheusConfig {
            url: url.clone().unwrap_or_default(),
            rate_window: self
                .duration(&r.rate_window, "prometheus.rate_window")?
                .unwrap_or(Duration::from_secs(60)),
            bearer_token_env: self.word(&r.bearer_token_env, "prometheus.bearer_token_env")?,
            request_rate: template(&r.request_rate, "prometheus.request_rate")?,
            error_percent: template(&r.error_percent, "prometheus.error_percent")?,
            p95_latency_ms: template(&r.p95_latency_ms, "prometheus.p95_latency_ms")?,
        };
        if url.is_none() {
            let leaves = [
                &r.rate_window,
                &r.bearer_token_env,
                &r.request_rate,
                &r.error_percent,
                &r.p95_latency_ms,
            ];
            if leaves.iter().any(|l| l.is_some()) {
                return Err(self.missing(
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

    fn checks(&self, list: &[Spanned<raw::RawCheck>]) -> Result<Vec<CheckSpec>, ConfigError> {
        let mut out: Vec<CheckSpec> = Vec::new();
        for item in list {
            let spec = self.check(item)?;
            if out.iter().any(|c| c.name == spec.name) {
                let leaf = item.get_ref().name.as_ref();
                let message = format!("invalid value {:?}: another check has this name", spec.name);
                return Err(match leaf {
                    Some(l) => self.at(l, "checks.name", message),
                    None => self.error(Some(item.span()), Some("checks.name"), message),
                });
            }
            out.push(spec);
        }
        Ok(out)
    }

    fn check(&self, item: &Spanned<raw::RawCheck>) -> Result<CheckSpec, ConfigError> {
        let c = item.get_ref();
        let missing = |key: &str, why: &str| {
            self.error(
                Some(item.span()),
                Some(&format!("checks.{key}")),
                format!("missing: {why}"),
            )
        };
        let name = self
            .string(&c.name, "checks.name")?
            .map(|(s, l)| {
                if s.trim().is_empty() {
                    Err(self.wrong_value(l, "checks.name", format!("{s:?}")))
                } else {
                    Ok(s.trim().to_string())
                }
            })
            .transpose()?
            .ok_or_else(|| missing("name", "every check needs a name, e.g. name = \"health\""))?;
        let Some((kind_name, kind_leaf)) = self.string(&c.kind, "checks.kind")? else {
            return Err(missing(
                "kind",
                &format!("check {name:?} needs a kind: {}", expected("checks.kind")),
            ));
        };
        // Keys that belong to other kinds are mistakes, not silently ignored.
        let Some(&(_, allowed)) = CHECK_KIND_KEYS.iter().find(|(k, _)| *k == kind_name) else {
            return Err(self.wrong_value(kind_leaf, "checks.kind", format!("{kind_name:?}")));
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
                return Err(self.at(l, &format!("checks.{key}"), message));
            }
        }
        let blocking = self
            .boolean(&c.blocking, "checks.blocking")?
            .unwrap_or(true);
        let timeout = self
            .duration(&c.timeout, "checks.timeout")?
            .unwrap_or(Duration::from_secs(30));
        let url = |what: &str| -> Result<String, ConfigError> {
            let Some((s, l)) = self.string(&c.url, "checks.url")? else {
                return Err(missing(
                    "url",
                    &format!("check {name:?} ({kind_name}) needs a url, e.g. url = \"{{tag_url}}/{what}\""),
                ));
            };
            crate::checks::validate_template(s)
                .map_err(|e| self.at(l, "checks.url", format!("invalid value {s:?}: {e}")))?;
            Ok(s.to_string())
        };
        let kind = match kind_name {
            "http" => {
                let mut h = HttpCheck::get(url("api/health")?);
                if let Some((m, l)) = self.string(&c.method, "checks.method")? {
                    h.method = reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| self.wrong_value(l, "checks.method", format!("{m:?}")))?;
                }
                if let Some(code) =
                    self.int::<u16>(&c.expect_status, "checks.expect_status", 100..=599)?
                {
                    h.expect_status = code;
                }
                if let Some(l) = &c.json {
                    let Value::Array(items) = l.get_ref() else {
                        return Err(self.wrong_type(l, "checks.json"));
                    };
                    for item in items {
                        let Value::String(text) = item else {
                            return Err(self.wrong_type(l, "checks.json"));
                        };
                        let e = JsonExpectation::parse(text).map_err(|e| {
                            self.at(l, "checks.json", format!("invalid value {text:?}: {e}"))
                        })?;
                        h.json.push(e);
                    }
                }
                if let Some((re, l)) = self.string(&c.body_regex, "checks.body_regex")? {
                    regex::Regex::new(re).map_err(|e| {
                        let first = e.to_string();
                        let first = first.lines().last().unwrap_or_default().trim().to_string();
                        self.at(
                            l,
                            "checks.body_regex",
                            format!("invalid value {re:?}: {first}"),
                        )
                    })?;
                    h.body_regex = Some(re.to_string());
                }
                if let Some(n) = self.int(&c.retries, "checks.retries", 0..=100)? {
                    h.retries = n;
                }
                if let Some(i) = self.duration(&c.interval, "checks.interval")? {
                    h.interval = i;
                }
                CheckKind::Http(h)
            }
            "metrics-endpoint" => {
                let url = url("api/metrics")?;
                let Some((cond, l)) = self.string(&c.condition, "checks.condition")? else {
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
                    self.at(
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
                    self.string(&c.metric, "checks.metric")?,
                    self.string(&c.promql, "checks.promql")?,
                ) {
                    (Some((m, l)), None) => QueryMetric::parse(m)
                        .ok_or_else(|| self.wrong_value(l, "checks.metric", format!("{m:?}")))?,
                    (None, Some((q, l))) => {
                        crate::metrics::prometheus::expand(q, "r", Duration::from_secs(60))
                            .map_err(|e| {
                                self.at(l, "checks.promql", format!("invalid value {q:?}: {e}"))
                            })?;
                        QueryMetric::PromQl(q.to_string())
                    }
                    (Some(_), Some((_, l))) => {
                        return Err(self.at(
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
                    max: self.float(&c.max, "checks.max", |_| true)?,
                    min: self.float(&c.min, "checks.min", |_| true)?,
                    compare_to_stable: self
                        .boolean(&c.compare_to_stable, "checks.compare_to_stable")?
                        .unwrap_or(false),
                    margin: self
                        .float(&c.margin, "checks.margin", |x| x >= 0.0)?
                        .unwrap_or(0.0),
                    window: self
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
                let severity = match self.string(&c.severity, "checks.severity")? {
                    None => Severity::Error,
                    Some((s, l)) => Severity::parse(s)
                        .ok_or_else(|| self.wrong_value(l, "checks.severity", format!("{s:?}")))?,
                };
                CheckKind::Logs(LogsCheck {
                    severity,
                    window: self
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

    fn logs(&self, r: &raw::RawLogs) -> Result<LogsConfig, ConfigError> {
        let d = LogsConfig::default();
        let min_severity = match self.string(&r.min_severity, "logs.min_severity")? {
            None => d.min_severity,
            Some((s, l)) => Severity::parse(s)
                .ok_or_else(|| self.wrong_value(l, "logs.min_severity", format!("{s:?}")))?,
        };
        let files = self
            .revision_table(&r.files, "logs.files")?
            .into_iter()
            .map(|(rev, path)| (rev, expand_home(&path)))
            .collect();
        let commands = self.revision_table(&r.commands, "logs.commands")?;
        Ok(LogsConfig {
            files,
            commands,
            buffer_lines: self
                .int(&r.buffer_lines, "logs.buffer_lines", 100..=1_000_000)?
                .unwrap_or(d.buffer_lines),
            min_severity,
            follow: self.boolean(&r.follow, "logs.follow")?.unwrap_or(d.follow),
        })
    }

    fn ui(&self, r: &raw::RawUi) -> Result<UiConfig, ConfigError> {
        let d = UiConfig::default();
        let colors =
            [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never].map(|c| (c.as_str(), c));
        Ok(UiConfig {
            max_fps: self
                .int(&r.max_fps, "ui.max_fps", 1..=120)?
                .unwrap_or(d.max_fps),
            color: self
                .choice(&r.color, "ui.color", &colors)?
                .unwrap_or(d.color),
        })
    }

    fn demo(&self, r: &raw::RawDemo) -> Result<DemoConfig, ConfigError> {
        let d = DemoConfig::default();
        let scenario = match self.string(&r.scenario, "demo.scenario")? {
            None => d.scenario,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(self.wrong_value(l, "demo.scenario", format!("{s:?}")))
            }
            Some((s, _)) => s.to_string(),
        };
        Ok(DemoConfig {
            scenario,
            seed: self
                .int(&r.seed, "demo.seed", 0..=i64::MAX)?
                .unwrap_or(d.seed),
        })
    }

    fn diagnostics(&self, r: &raw::RawDiagnostics) -> Result<DiagnosticsConfig, ConfigError> {
        let d = DiagnosticsConfig::default();
        let log_level = match self.string(&r.log_level, "diagnostics.log_level")? {
            None => d.log_level,
            Some((s, l)) => {
                let lower = s.trim().to_ascii_lowercase();
                if !LOG_LEVELS.contains(&lower.as_str()) {
                    return Err(self.wrong_value(l, "diagnostics.log_level", format!("{s:?}")));
                }
                lower
            }
        };
        let log_dir = match self.string(&r.log_dir, "diagnostics.log_dir")? {
            None => None,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(self.wrong_value(l, "diagnostics.log_dir", format!("{s:?}")))
            }
            Some((s, _)) => Some(expand_home(s)),
        };
        Ok(DiagnosticsConfig { log_level, log_dir })
    }

    fn keys(
        &self,
        table: &BTreeMap<String, Spanned<Value>>,
    ) -> Result<(BTreeMap<String, KeyList>, Keymap), ConfigError> {
        let mut keys = BTreeMap::new();
        for (command, leaf) in table {
            let key = format!("keys.{command}");
            let list = match leaf.get_ref() {
                Value::String(s) => KeyList::One(s.clone()),
                Value::Array(items) => {
                    let mut names = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::String(s) => names.push(s.clone()),
                            other => {
                                let message = format!(
                                    "invalid type: {} in the list, expected {}",
                                    found(other),
                                    expected(&key)
                                );
                                return Err(self.at(leaf, &key, message));
                            }
                        }
                    }
                    KeyList::Many(names)
                }
                _ => return Err(self.wrong_type(leaf, &key)),
            };
            keys.insert(command.clone(), list);
        }
        let keymap =
            Keymap::with_overrides(&keys).map_err(|e| self.keymap_error(table, &keys, e))?;
        Ok((keys, keymap))
    }

    fn keymap_error(
        &self,
        table: &BTreeMap<String, Spanned<Value>>,
        keys: &BTreeMap<String, KeyList>,
        e: KeymapError,
    ) -> ConfigError {
        if let Some(leaf) = table.get(&e.command) {
            let mut message = e.message;
            if Command::from_name(&e.command).is_none() {
                if let Some(s) = suggest(&e.command, Command::ALL.map(Command::name)) {
                    message.push_str(&format!(" (did you mean `{s}`?)"));
                }
            }
            return self.at(leaf, &format!("keys.{}", e.command), message);
        }
        // A default binding of a command the file does not mention collides
        // with a key the file binds: point at the file's entry.
        let defaults = Keymap::defaults();
        if let Some(cmd) = Command::from_name(&e.command) {
            let taken = defaults.keys(cmd);
            for (name, list) in keys {
                let hit = list
                    .keys()
                    .into_iter()
                    .filter_map(|k| Key::parse(k).ok())
                    .find(|k| taken.contains(k));
                if let (Some(k), Some(leaf)) = (hit, table.get(name)) {
                    let message = format!(
                        "key `{k}` is already bound to `{}` by default; bind `{}` to another key too",
                        e.command, e.command
                    );
                    return self.at(leaf, &format!("keys.{name}"), message);
                }
            }
        }
        let line = self.section_line("keys", &[]);
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            key: Some(format!("keys.{}", e.command)),
            message: e.message,
        }
    }

    /// The dotted key written on the line holding `offset` (`ui.max_fps`).
    fn key_on_line(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset.min(self.text.len()))?;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text.get(start..)?.lines().next()?;
        let (name, _) = line.split_once('=')?;
        let name = name.trim();
        if name.is_empty() || name.starts_with(['[', '#']) {
            return None;
        }
        let section = before.get(..start)?.lines().rev().find_map(|l| {
            let l = l.trim();
            l.starts_with('[').then(|| {
                l.trim_start_matches('[')
                    .split(']')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
        });
        Some(match section.filter(|s| !s.is_empty()) {
            Some(s) => format!("{s}.{name}"),
            None => name.to_string(),
        })
    }

    /// Maps a structural error (syntax, unknown key, a section that is not a table).
    fn structural(&self, err: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
        let path: Vec<String> = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                Segment::Map { key } if !key.starts_with("$__") => Some(key.clone()),
                _ => None,
            })
            .collect();
        let inner = err.into_inner();
        let span = inner.span();
        let message = inner
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let key = path.join(".");
        match path.as_slice() {
            // A value the TOML parser itself rejects (an integer beyond 64
            // bits): name the key written on that line.
            [] if message.contains("number") || message.contains("integer") => {
                let key = span.as_ref().and_then(|s| self.key_on_line(s.start));
                self.error(span, key.as_deref(), message)
            }
            [] => self.error(span, None, message),
            [.., name] if message.starts_with("unknown field") => {
                let joined = path[..path.len() - 1].join(".");
                let section = if path.len() == 1 { None } else { Some(&joined) };
                let candidates: Vec<&str> = match section {
                    None => KNOWN_KEYS
                        .iter()
                        .map(|(s, _)| *s)
                        .filter(|s| !s.contains('.'))
                        .collect(),
                    Some(s) => KNOWN_KEYS
                        .iter()
                        .find(|(name, _)| name == s)
                        .map(|(_, keys)| keys.to_vec())
                        .unwrap_or_default(),
                };
                let mut message =
                    format!("unknown key; expected one of: {}", candidates.join(", "));
                if let Some(s) = suggest(name, candidates.iter().copied()) {
                    message.push_str(&format!(" (did you mean `{s}`?)"));
                } else if let Some(s) =
                    section.filter(|_| KNOWN_KEYS.iter().any(|(k, _)| k == name))
                {
                    message.push_str(&format!(
                        " (`{name}` is a section: keys written after the [{s}] header belong to [{s}]; start a [{name}] section instead)"
                    ));
                }
                self.error(span, Some(&key), message)
            }
            [section] if section == "checks" => {
                let message = format!(
                    "{message}: write each check as its own [[checks]] table (two brackets), see config.example.toml"
                );
                self.error(span, Some(&key), message)
            }
            [section] => {
                let message = if message.starts_with("invalid type") {
                    format!("{message}: write it as a [{section}] section")
                } else {
                    format!("expected a table: write it as a single [{section}] section")
                };
                self.error(span, Some(&key), message)
            }
            [section, name, ..] => {
                // A dotted key or a `[section.name]` header made a leaf a table.
                let key = format!("{section}.{name}");
                let message = format!("invalid type: table, expected {}", expected(&key));
                self.error(span, Some(&key), message)
            }
        }
    }
}

/// `~/x` → `$HOME/x`; anything else as written.
fn expand_home(s: &str) -> PathBuf {
    let rest = if s == "~" {
        Some("")
    } else {
        s.strip_prefix("~/")
    };
    match (rest, directories::BaseDirs::new()) {
        (Some(rest), Some(dirs)) => dirs.home_dir().join(rest),
        _ => PathBuf::from(s),
    }
}

pub(super) fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let cx = Cx { text, file: origin };
    let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| cx.structural(e))?;
    let service = cx.service(&raw.service)?;
    let traffic = cx.traffic(&raw.traffic)?;
    let refresh = cx.refresh(&raw.refresh)?;
    let metrics = cx.metrics(&raw.metrics)?;
    let gates = cx.gates(&raw.gates)?;
    let judge = cx.judge(&raw.judge)?;
    let plan = cx.plan(&raw.plan)?;
    let release = cx.release(&raw.deploy, &raw.revisions)?;
    let verification_timeout = cx
        .duration(&raw.verification.timeout, "verification.timeout")?
        .unwrap_or(super::DEFAULT_VERIFICATION_TIMEOUT);
    let checks = cx.checks(&raw.checks)?;
    let journal = cx.journal(&raw.journal)?;
    let notify = cx.notify(&raw.notify)?;
    let cloud_run = cx.cloud_run(&raw.cloud_run)?;
    let haproxy = cx.haproxy(&raw.haproxy, service.platform)?;
    let prometheus = cx.prometheus(&raw.prometheus)?;
    let logs = cx.logs(&raw.logs)?;
    let ui = cx.ui(&raw.ui)?;
    let demo = cx.demo(&raw.demo)?;
    let diagnostics = cx.diagnostics(&raw.diagnostics)?;
    let (keys, keymap) = cx.keys(&raw.keys)?;
    Ok(Config {
        service,
        traffic,
        refresh,
        metrics,
        gates,
        judge,
        plan,
        release,
        verification_timeout,
        checks,
        journal,
        notify,
        cloud_run,
        haproxy,
        prometheus,
        logs,
        ui,
        demo,
        diagnostics,
        keys,
        keymap,
        source: Some(origin.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` followed by a valid `[service]` section.
    fn err(text: &str) -> ConfigError {
        let text = format!("{text}\n[service]\nplatform = \"simulator\"\n");
        parse(&text, Path::new("t.toml")).expect_err(&text)
    }

    #[test]
    fn line_and_column() {
        let t = "a\nbé = 1\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 2), (2, 1));
        assert_eq!(line_col(t, 7), (2, 5));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("stepp", ["step", "max_step"]), Some("step"));
        assert_eq!(suggest("zzz", ["step", "max_step"]), None);
        assert_eq!(
            suggest("rollbak", Command::ALL.map(Command::name)),
            Some("rollback")
        );
    }

    /// Sections written as arrays of tables.
    const ARRAYS: [&str; 2] = ["checks", "plan.steps"];

    /// `KNOWN_KEYS` (used in messages) matches what the raw structs accept.
    #[test]
    fn known_keys_match_the_schema() {
        for (section, keys) in KNOWN_KEYS {
            let header = if ARRAYS.contains(section) {
                format!("[[{section}]]")
            } else {
                format!("[{section}]")
            };
            for key in *keys {
                let text = format!("{header}\n{key} = []\n");
                match parse(&text, Path::new("t.toml")) {
                    Ok(_) => {}
                    Err(e) => assert!(
                        !e.message.starts_with("unknown key"),
                        "{section}.{key}: {e}"
                    ),
                }
            }
            let text = format!("{header}\nzzz_not_a_key = 1\n");
            let result = parse(&text, Path::new("t.toml"));
            if *section != "keys" {
                let e = result.expect_err(&text);
                assert!(e.message.starts_with("unknown key"), "{e}");
                assert_eq!(
                    e.message,
                    format!("unknown key; expected one of: {}", keys.join(", "))
                );
            }
        }
    }

    #[test]
    fn every_known_key_has_a_description() {
        for (section, keys) in KNOWN_KEYS {
            for key in *keys {
                assert_ne!(
                    expected(&format!("{section}.{key}")),
                    "a valid value",
                    "{section}.{key}"
                );
            }
        }
    }

    #[test]
    fn a_leaf_written_as_a_table() {
        let e = err("[traffic.step]\na = 1\n");
        assert_eq!(e.key.as_deref(), Some("traffic.step"));
        assert_eq!(e.line, Some(1));
        assert!(e.message.starts_with("invalid type: table"), "{e}");
        let e = err("[keys]\nquit.x = \"q\"\n");
        assert_eq!(e.key.as_deref(), Some("keys.quit"));
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn home_expansion() {
        assert_eq!(expand_home("/var/log"), PathBuf::from("/var/log"));
        if let Some(dirs) = directories::BaseDirs::new() {
            assert_eq!(expand_home("~/logs"), dirs.home_dir().join("logs"));
        }
    }
}
