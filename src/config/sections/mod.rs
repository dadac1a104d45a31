//! One file per section of the config file. Each holds, side by side, the
//! section's raw table (what serde reads, with every value's position), what
//! each key accepts (the "expected ..." of error messages), the checked type
//! the cockpit uses and the validation from one to the other.
//!
//! Adding a key to a section: one line in its `table!` (name, raw type, what
//! it accepts), a field in its checked type, and a line in its `validate`,
//! all in that section's file. Unknown-key messages, did-you-mean and
//! "expected" texts follow; `config.example.toml` must document the key (a
//! test insists).
//!
//! Adding a section (e.g. `[kubernetes]`): a new file here on the model of
//! `haproxy.rs` (a `table!`, the checked type, `validate`), then in this file
//! its `mod`, its field in [`RawConfig`], its line in [`SECTIONS`] (the order
//! of the documentation) and its line in [`RawConfig::validate`]; its field
//! in [`Config`](super::Config), with its default; and the section in
//! `config.example.toml` (a test insists).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::validate::Cx;
use super::{Config, ConfigError};

/// Declares a section's raw table, each key once: its name, its type as serde
/// reads it (usually [`Leaf`]: any value, with its position, typed and
/// range-checked by `validate`) and what it accepts. Generates the struct
/// (unknown keys refused) and its [`Table`] impl: the keys in documentation
/// order (shown by "unknown key; expected one of") and the texts.
macro_rules! table {
    (
        $(#[$meta:meta])*
        struct $name:ident { $($body:tt)* }
    ) => {
        table! { $(#[$meta])* expecting "a table" struct $name { $($body)* } }
    };
    (
        $(#[$meta:meta])*
        expecting $expecting:literal
        struct $name:ident {
            $( $(#[$fmeta:meta])* $key:ident: $ty:ty => $expected:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields, expecting = $expecting)]
        pub(in crate::config) struct $name {
            $( $(#[$fmeta])* pub $key: $ty, )*
        }

        impl $crate::config::sections::Table for $name {
            fn keys() -> &'static [&'static str] {
                &[$(stringify!($key)),*]
            }

            fn expected(key: &str) -> Option<&'static str> {
                match key {
                    $( stringify!($key) => Some($expected), )*
                    _ => None,
                }
            }
        }
    };
}

mod checks;
mod cloud_run;
mod demo;
mod deploy;
mod diagnostics;
mod gates;
mod haproxy;
mod journal;
mod judge;
mod keys;
mod kubernetes;
mod logs;
mod metrics;
mod notify;
mod plan;
mod plans;
mod prometheus;
mod refresh;
mod revisions;
mod service;
mod traffic;
mod ui;
mod verification;

pub use cloud_run::{CloudRunConfig, GoogleAuth};
pub use demo::DemoConfig;
pub use diagnostics::DiagnosticsConfig;
pub use gates::GatesConfig;
pub use haproxy::HaproxyConfig;
pub use journal::JournalConfig;
pub use kubernetes::{KubeMode, KubernetesConfig, MetricLabels};
pub use logs::LogsConfig;
pub use metrics::MetricsConfig;
pub use notify::{NotifyConfig, WEBHOOK_ENV};
pub use plans::NamedPlan;
pub use prometheus::PrometheusConfig;
pub use refresh::RefreshConfig;
pub use service::{PlatformKind, ServiceConfig};
pub use traffic::TrafficConfig;
pub use ui::{ColorChoice, UiConfig};
pub use verification::DEFAULT_VERIFICATION_TIMEOUT;

/// One value as written, with its byte range in the file.
pub(super) type Leaf = Option<Spanned<Value>>;

/// "expected ..." for every duration.
pub(super) const DURATION: &str =
    "a duration of at least 100ms such as \"500ms\", \"2s\", \"15m\" or \"1h30m\"";

/// A raw table: its keys and what each accepts (see [`table!`]).
pub(in crate::config) trait Table {
    /// The keys, in documentation order.
    fn keys() -> &'static [&'static str];
    /// What `key` accepts, for "expected ..." in messages.
    fn expected(key: &str) -> Option<&'static str>;
}

/// A section of the file, as messages name it.
pub(super) struct Section {
    /// `traffic`; a nested list is `plan.steps`.
    pub name: &'static str,
    pub keys: fn() -> &'static [&'static str],
    pub expected: fn(&str) -> Option<&'static str>,
}

const fn section<T: Table>(name: &'static str) -> Section {
    Section {
        name,
        keys: T::keys,
        expected: T::expected,
    }
}

/// Every section, in documentation order.
pub(super) const SECTIONS: &[Section] = &[
    section::<service::Raw>("service"),
    section::<traffic::Raw>("traffic"),
    section::<refresh::Raw>("refresh"),
    section::<metrics::Raw>("metrics"),
    section::<gates::Raw>("gates"),
    section::<judge::Raw>("judge"),
    section::<plan::Raw>("plan"),
    section::<plan::RawStep>("plan.steps"),
    section::<deploy::Raw>("deploy"),
    section::<revisions::Raw>("revisions"),
    section::<verification::Raw>("verification"),
    section::<checks::RawCheck>("checks"),
    section::<journal::Raw>("journal"),
    section::<notify::Raw>("notify"),
    section::<cloud_run::Raw>("cloud_run"),
    section::<haproxy::Raw>("haproxy"),
    section::<kubernetes::Raw>("kubernetes"),
    section::<prometheus::Raw>("prometheus"),
    section::<logs::Raw>("logs"),
    section::<ui::Raw>("ui"),
    section::<demo::Raw>("demo"),
    section::<diagnostics::Raw>("diagnostics"),
    section::<keys::Raw>("keys"),
];

/// Every section and the keys it accepts, in documentation order.
/// `keys` is free-form (command names, checked by the keymap).
pub fn known_keys() -> &'static [(&'static str, &'static [&'static str])] {
    static KNOWN: LazyLock<Vec<(&'static str, &'static [&'static str])>> =
        LazyLock::new(|| SECTIONS.iter().map(|s| (s.name, (s.keys)())).collect());
    &KNOWN
}

/// What a dotted key (`traffic.step`, `plan.steps.percent`, `keys.quit`)
/// accepts, for "expected ..." in messages.
pub(super) fn expected(key: &str) -> &'static str {
    // A named plan's keys are `[plan]`'s: `plans.ci.mode` is `plan.mode`.
    let named;
    let key = match key.strip_prefix("plans.").and_then(|r| r.split_once('.')) {
        Some((_, rest)) => {
            named = format!("plan.{rest}");
            named.as_str()
        }
        None => key,
    };
    SECTIONS
        .iter()
        .filter_map(|s| Some((s, key.strip_prefix(s.name)?.strip_prefix('.')?)))
        // The longest section wins: `plan.steps.percent` is `percent` of `plan.steps`.
        .max_by_key(|(s, _)| s.name.len())
        .and_then(|(s, rest)| (s.expected)(rest))
        .unwrap_or("a valid value")
}

/// The file as serde sees it: strict structure (unknown keys refused), every
/// value kept with its position so that `validate` can say where it is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawConfig {
    #[serde(default)]
    service: service::Raw,
    #[serde(default)]
    traffic: traffic::Raw,
    #[serde(default)]
    refresh: refresh::Raw,
    #[serde(default)]
    metrics: metrics::Raw,
    #[serde(default)]
    gates: gates::Raw,
    #[serde(default)]
    judge: judge::Raw,
    #[serde(default)]
    plan: plan::Raw,
    #[serde(default)]
    plans: plans::Raw,
    #[serde(default)]
    deploy: deploy::Raw,
    #[serde(default)]
    revisions: revisions::Raw,
    #[serde(default)]
    verification: verification::Raw,
    #[serde(default)]
    checks: Vec<Spanned<checks::RawCheck>>,
    #[serde(default)]
    journal: journal::Raw,
    #[serde(default)]
    notify: notify::Raw,
    #[serde(default)]
    cloud_run: cloud_run::Raw,
    #[serde(default)]
    haproxy: haproxy::Raw,
    #[serde(default)]
    kubernetes: kubernetes::Raw,
    #[serde(default)]
    prometheus: prometheus::Raw,
    #[serde(default)]
    logs: logs::Raw,
    #[serde(default)]
    ui: ui::Raw,
    #[serde(default)]
    demo: demo::Raw,
    #[serde(default)]
    diagnostics: diagnostics::Raw,
    #[serde(default)]
    keys: BTreeMap<String, Spanned<Value>>,
}

impl RawConfig {
    /// Every section checked, in the file's documentation order (the first
    /// problem is the one reported).
    pub(super) fn validate(&self, cx: &Cx, origin: &Path) -> Result<Config, ConfigError> {
        let service = self.service.validate(cx)?;
        let traffic = self.traffic.validate(cx)?;
        let refresh = self.refresh.validate(cx)?;
        let metrics = self.metrics.validate(cx)?;
        let gates = self.gates.validate(cx)?;
        let judge = self.judge.validate(cx)?;
        gates::check_observe(&self.gates, &gates, judge.mode, cx)?;
        let plan = self.plan.validate(cx)?;
        let on_cancel = self.plan.on_cancel(cx, "plan")?.unwrap_or_default();
        let plans = plans::validate(&self.plans, cx)?;
        let release = self.deploy.validate(cx, Default::default())?;
        let release = self.revisions.validate(cx, release)?;
        let verification_timeout = self.verification.validate(cx)?;
        let checks = checks::validate(&self.checks, cx)?;
        let journal = self.journal.validate(cx)?;
        let notify = self.notify.validate(cx)?;
        let cloud_run = self.cloud_run.validate(cx)?;
        let haproxy = self.haproxy.validate(cx, service.platform)?;
        let kubernetes = cx.kubernetes(&self.kubernetes, service.platform, &service.name)?;
        let plan = cx.blue_green_plan(&kubernetes, &self.plan, plan)?;
        let prometheus = self.prometheus.validate(cx)?;
        let logs = self.logs.validate(cx)?;
        let ui = self.ui.validate(cx)?;
        let demo = self.demo.validate(cx)?;
        let diagnostics = self.diagnostics.validate(cx)?;
        let (keys, keymap) = keys::validate(&self.keys, cx)?;
        Ok(Config {
            service,
            traffic,
            refresh,
            metrics,
            gates,
            judge,
            plan,
            on_cancel,
            plans,
            release,
            verification_timeout,
            checks,
            journal,
            notify,
            cloud_run,
            haproxy,
            kubernetes,
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
}
