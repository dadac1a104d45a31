//! The file as serde sees it: strict structure (`deny_unknown_fields`), every
//! value kept as a spanned `toml::Value` so that typing and range checks are
//! done by `validate` with the value's position at hand.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::{Spanned, Value};

/// One value as written, with its byte range in the file.
pub(super) type Leaf = Option<Spanned<Value>>;

/// Every section and the keys it accepts, in documentation order.
/// `keys` is free-form (command names, checked by the keymap).
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "service",
        &[
            "platform",
            "name",
            "project",
            "region",
            "stable_revision",
            "canary_tag",
        ],
    ),
    ("traffic", &["step", "max_step"]),
    ("refresh", &["service", "metrics", "logs"]),
    ("metrics", &["window", "step"]),
    (
        "gates",
        &[
            "error_percent",
            "p95_latency_ms",
            "window",
            "sustain",
            "min_requests",
        ],
    ),
    (
        "judge",
        &[
            "mode",
            "alpha",
            "error_margin",
            "latency_margin_ms",
            "min_requests",
        ],
    ),
    ("plan", &["mode", "on_failure", "steps"]),
    ("deploy", &["tag", "checks"]),
    ("revisions", &["keep", "prune_after_promote"]),
    ("plan.steps", STEP_KEYS),
    ("verification", &["timeout"]),
    ("checks", CHECK_KEYS),
    ("journal", &["dir", "enabled"]),
    ("notify", &["webhook_url", "timeout", "retries"]),
    (
        "cloud_run",
        &[
            "endpoint",
            "logging_endpoint",
            "monitoring_endpoint",
            "auth",
        ],
    ),
    (
        "haproxy",
        &["socket", "backend", "stable", "canary", "timeout"],
    ),
    (
        "prometheus",
        &[
            "url",
            "rate_window",
            "bearer_token_env",
            "request_rate",
            "error_percent",
            "p95_latency_ms",
        ],
    ),
    (
        "logs",
        &[
            "buffer_lines",
            "min_severity",
            "follow",
            "files",
            "commands",
        ],
    ),
    ("ui", &["max_fps", "color"]),
    ("demo", &["scenario", "seed"]),
    ("diagnostics", &["log_level", "log_dir"]),
    ("keys", &[]),
];

/// Keys of one `[[checks]]` entry.
pub const CHECK_KEYS: &[&str] = &[
    "name",
    "kind",
    "blocking",
    "timeout",
    "method",
    "url",
    "expect_status",
    "json",
    "body_regex",
    "retries",
    "interval",
    "condition",
    "metric",
    "promql",
    "max",
    "min",
    "compare_to_stable",
    "margin",
    "window",
    "severity",
];

/// Keys every check takes.
pub const COMMON_CHECK_KEYS: &[&str] = &["name", "kind", "blocking", "timeout"];

/// Each check kind and the keys it takes besides [`COMMON_CHECK_KEYS`].
pub const CHECK_KIND_KEYS: &[(&str, &[&str])] = &[
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

/// Keys of one `[[plan.steps]]` entry.
pub const STEP_KEYS: &[&str] = &["percent", "observe"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawConfig {
    #[serde(default)]
    pub service: RawService,
    #[serde(default)]
    pub traffic: RawTraffic,
    #[serde(default)]
    pub refresh: RawRefresh,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub gates: RawGates,
    #[serde(default)]
    pub judge: RawJudge,
    #[serde(default)]
    pub plan: RawPlan,
    #[serde(default)]
    pub deploy: RawDeploy,
    #[serde(default)]
    pub revisions: RawRevisions,
    #[serde(default)]
    pub verification: RawVerification,
    #[serde(default)]
    pub checks: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    pub journal: RawJournal,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub cloud_run: RawCloudRun,
    #[serde(default)]
    pub haproxy: RawHaproxy,
    #[serde(default)]
    pub prometheus: RawPrometheus,
    #[serde(default)]
    pub logs: RawLogs,
    #[serde(default)]
    pub ui: RawUi,
    #[serde(default)]
    pub demo: RawDemo,
    #[serde(default)]
    pub diagnostics: RawDiagnostics,
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawService {
    pub platform: Leaf,
    pub name: Leaf,
    pub project: Leaf,
    pub region: Leaf,
    pub stable_revision: Leaf,
    pub canary_tag: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawTraffic {
    pub step: Leaf,
    pub max_step: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawRefresh {
    pub service: Leaf,
    pub metrics: Leaf,
    pub logs: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawMetrics {
    pub window: Leaf,
    pub step: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawJudge {
    pub mode: Leaf,
    pub alpha: Leaf,
    pub error_margin: Leaf,
    pub latency_margin_ms: Leaf,
    pub min_requests: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawGates {
    pub error_percent: Leaf,
    pub p95_latency_ms: Leaf,
    pub window: Leaf,
    pub sustain: Leaf,
    pub min_requests: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawPlan {
    pub mode: Leaf,
    pub on_failure: Leaf,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with percent and observe")]
pub(super) struct RawStep {
    pub percent: Leaf,
    pub observe: Leaf,
}

/// `[deploy]`: what a deploy of a new revision does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawDeploy {
    pub tag: Leaf,
    pub checks: Leaf,
}

/// `[revisions]`: how many old revisions a prune keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawRevisions {
    pub keep: Leaf,
    pub prune_after_promote: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawVerification {
    pub timeout: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawCheck {
    pub name: Leaf,
    pub kind: Leaf,
    pub blocking: Leaf,
    pub timeout: Leaf,
    pub method: Leaf,
    pub url: Leaf,
    pub expect_status: Leaf,
    pub json: Leaf,
    pub body_regex: Leaf,
    pub retries: Leaf,
    pub interval: Leaf,
    pub condition: Leaf,
    pub metric: Leaf,
    pub promql: Leaf,
    pub max: Leaf,
    pub min: Leaf,
    pub compare_to_stable: Leaf,
    pub margin: Leaf,
    pub window: Leaf,
    pub severity: Leaf,
}

impl RawCheck {
    /// The kind-specific keys and their values, to refuse a key the kind
    /// does not take.
    pub(super) fn specific(&self) -> [(&'static str, &Leaf); 16] {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawJournal {
    pub dir: Leaf,
    pub enabled: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawNotify {
    pub webhook_url: Leaf,
    pub timeout: Leaf,
    pub retries: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawCloudRun {
    pub endpoint: Leaf,
    pub logging_endpoint: Leaf,
    pub monitoring_endpoint: Leaf,
    pub auth: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawLogs {
    pub buffer_lines: Leaf,
    pub min_severity: Leaf,
    pub follow: Leaf,
    #[serde(default)]
    pub files: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    pub commands: BTreeMap<String, Spanned<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawHaproxy {
    pub socket: Leaf,
    pub backend: Leaf,
    pub stable: Leaf,
    pub canary: Leaf,
    pub timeout: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawPrometheus {
    pub url: Leaf,
    pub rate_window: Leaf,
    pub bearer_token_env: Leaf,
    pub request_rate: Leaf,
    pub error_percent: Leaf,
    pub p95_latency_ms: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawUi {
    pub max_fps: Leaf,
    pub color: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawDemo {
    pub scenario: Leaf,
    pub seed: Leaf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawDiagnostics {
    pub log_level: Leaf,
    pub log_dir: Leaf,
}

#[cfg(test)]
mod check_key_tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The three lists of check keys cannot drift apart: `CHECK_KEYS` (the
    /// table's known keys), the per-kind lists, and `RawCheck::specific`.
    #[test]
    fn check_key_lists_agree() {
        let all: BTreeSet<&str> = CHECK_KEYS.iter().copied().collect();
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
