//! The configuration file: strict TOML (unknown keys are errors), every value
//! checked, and every error naming the file, the line, the key and what was
//! expected.
//!
//! ```text
//! config error: /etc/canary.toml:12: key `traffic.step`: invalid value 0, expected a number of points between 1 and 50
//! ```
//!
//! `config.example.toml` at the repository root documents every key.

mod duration;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks::CheckSpec;
use crate::core::keymap::{KeyList, Keymap};
use crate::core::model::Severity;
use crate::core::plan::PlanSpec;

pub use duration::{format_duration, parse_duration};
pub use raw::KNOWN_KEYS;

/// The environment variable naming a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "CANARY_CONFIG";

/// Service name, project and region used by [`Config::demo`] and filled in
/// for `platform = "simulator"` when the file leaves them out.
pub const DEMO_SERVICE: &str = "emergence-app";
pub const DEMO_PROJECT: &str = "demo-project";
pub const DEMO_REGION: &str = "europe-west1";

/// The whole configuration, validated. `Default` is the documented defaults
/// (platform cloud-run with an empty service name: not a usable config alone).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub service: ServiceConfig,
    pub traffic: TrafficConfig,
    pub refresh: RefreshConfig,
    pub metrics: MetricsConfig,
    pub gates: GatesConfig,
    /// `[judge]`: the statistical judge.
    pub judge: crate::core::judge::JudgeSettings,
    pub plan: PlanSpec,
    /// `[deploy]` and `[revisions]`: deploys of new revisions and prunes.
    pub release: crate::core::release::ReleaseSettings,
    /// The whole verification battery must finish within this.
    pub verification_timeout: Duration,
    /// The `[[checks]]` list, in order.
    pub checks: Vec<CheckSpec>,
    pub journal: JournalConfig,
    pub notify: NotifyConfig,
    pub cloud_run: CloudRunConfig,
    pub haproxy: Option<HaproxyConfig>,
    pub prometheus: Option<PrometheusConfig>,
    pub logs: LogsConfig,
    pub ui: UiConfig,
    pub demo: DemoConfig,
    pub diagnostics: DiagnosticsConfig,
    /// The `[keys]` table as written (command name → key or keys).
    pub keys: BTreeMap<String, KeyList>,
    /// The default keymap with `keys` applied, already checked for conflicts.
    pub keymap: Keymap,
    /// The file this came from; `None` for built-in defaults.
    pub source: Option<PathBuf>,
}

/// The battery's global timeout when the file does not set one (`DOMAIN.md`: 10 min).
pub const DEFAULT_VERIFICATION_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for Config {
    fn default() -> Self {
        Config {
            service: ServiceConfig::default(),
            traffic: TrafficConfig::default(),
            refresh: RefreshConfig::default(),
            metrics: MetricsConfig::default(),
            gates: GatesConfig::default(),
            judge: crate::core::judge::JudgeSettings::default(),
            plan: PlanSpec::domain_default(),
            release: crate::core::release::ReleaseSettings::default(),
            verification_timeout: DEFAULT_VERIFICATION_TIMEOUT,
            checks: Vec::new(),
            journal: JournalConfig::default(),
            notify: NotifyConfig::default(),
            cloud_run: CloudRunConfig::default(),
            haproxy: None,
            prometheus: None,
            logs: LogsConfig::default(),
            ui: UiConfig::default(),
            demo: DemoConfig::default(),
            diagnostics: DiagnosticsConfig::default(),
            keys: BTreeMap::new(),
            keymap: Keymap::default(),
            source: None,
        }
    }
}

/// Which backend drives traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKind {
    #[default]
    CloudRun,
    Haproxy,
    Simulator,
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 3] = [
        PlatformKind::CloudRun,
        PlatformKind::Haproxy,
        PlatformKind::Simulator,
    ];

    /// The name used in the config: `cloud-run`, `haproxy`, `simulator`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::CloudRun => "cloud-run",
            PlatformKind::Haproxy => "haproxy",
            PlatformKind::Simulator => "simulator",
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub platform: PlatformKind,
    /// The service name; empty only in [`Config::default`] (a file must set it
    /// unless the platform is the simulator).
    pub name: String,
    /// Google Cloud project (required for Cloud Run).
    pub project: Option<String>,
    /// Cloud Run region (required for Cloud Run).
    pub region: Option<String>,
    /// Pinned rollback target; when `None` the cockpit works it out.
    pub stable_revision: Option<String>,
    /// The traffic tag that marks the canary revision.
    pub canary_tag: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            platform: PlatformKind::CloudRun,
            name: String::new(),
            project: None,
            region: None,
            stable_revision: None,
            canary_tag: "canary".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrafficConfig {
    /// Points of traffic moved by one `+`/`-` press, 1..=50.
    pub step: u8,
    /// Changes larger than this ask for confirmation, 1..=100, `>= step`.
    pub max_step: u8,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            step: 5,
            max_step: 25,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    pub service: Duration,
    pub metrics: Duration,
    pub logs: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            service: Duration::from_secs(2),
            metrics: Duration::from_secs(5),
            logs: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// How much history the sparklines show.
    pub window: Duration,
    /// Resolution; `window / step` is between 2 and 1000 points.
    pub step: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            window: Duration::from_secs(600),
            step: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatesConfig {
    /// Share of 5xx responses, in percent, 0..=100.
    pub error_percent: f64,
    /// 95th percentile latency, milliseconds, > 0.
    pub p95_latency_ms: f64,
    /// How much recent data a verdict looks at.
    pub window: Duration,
    /// A gate must stay red this long before it counts (noise guard).
    pub sustain: Duration,
    /// Fewer canary requests than this in the window is "no data".
    pub min_requests: u64,
}

impl Default for GatesConfig {
    fn default() -> Self {
        GatesConfig {
            error_percent: 1.0,
            p95_latency_ms: 500.0,
            window: Duration::from_secs(60),
            sustain: Duration::from_secs(20),
            min_requests: 50,
        }
    }
}

/// Where the audit journal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// `None`: `<XDG state dir>/journal`.
    pub dir: Option<PathBuf>,
    /// `false` turns the journal off (the screen then says so).
    pub enabled: bool,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            dir: None,
            enabled: true,
        }
    }
}

impl JournalConfig {
    /// The journal file of `service`, when the journal is on and a directory is known.
    pub fn path_for(&self, service: &str) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        let dir = self
            .dir
            .clone()
            .or_else(|| default_log_dir().map(|d| d.join("journal")))?;
        Some(crate::journal::path_for(&dir, service))
    }
}

/// The environment variable that overrides `notify.webhook_url`.
pub const WEBHOOK_ENV: &str = "CANARY_WEBHOOK_URL";

/// Chat notifications. The URL is a secret: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub webhook_url: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhook_url: None,
            timeout: Duration::from_secs(5),
            retries: 3,
        }
    }
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl NotifyConfig {
    /// `$CANARY_WEBHOOK_URL` when set and non-empty, else the file's URL.
    pub fn url_with_env(&self) -> Option<String> {
        std::env::var(WEBHOOK_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.webhook_url.clone())
    }
}

/// How the cockpit authenticates to Google APIs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoogleAuth {
    /// Application Default Credentials, then `gcloud auth print-access-token`.
    #[default]
    Adc,
    /// `gcloud auth print-access-token` only.
    Gcloud,
    /// No credentials (emulators and the test fake).
    None,
}

impl GoogleAuth {
    pub const ALL: [GoogleAuth; 3] = [GoogleAuth::Adc, GoogleAuth::Gcloud, GoogleAuth::None];

    pub fn as_str(self) -> &'static str {
        match self {
            GoogleAuth::Adc => "adc",
            GoogleAuth::Gcloud => "gcloud",
            GoogleAuth::None => "none",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudRunConfig {
    /// `None`: the public API.
    pub endpoint: Option<String>,
    /// Cloud Logging; `None`: `endpoint` when set (the test fake serves
    /// both), else the public API.
    pub logging_endpoint: Option<String>,
    /// Cloud Monitoring's Prometheus API root; `None`: the public API
    /// (`https://monitoring.googleapis.com/v1/projects/P/location/global/prometheus`).
    pub monitoring_endpoint: Option<String>,
    pub auth: GoogleAuth,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogsConfig {
    /// Size of the log ring buffer, 100..=1_000_000 lines.
    pub buffer_lines: usize,
    pub min_severity: Severity,
    pub follow: bool,
    /// Revision → log file, tailed (the HAProxy stack's apps write one each).
    pub files: BTreeMap<String, PathBuf>,
    /// Revision → shell command whose output is tailed (`kubectl logs -f …`).
    pub commands: BTreeMap<String, String>,
}

impl LogsConfig {
    /// Whether the file sets its own log sources (files or commands).
    pub fn has_own_sources(&self) -> bool {
        !self.files.is_empty() || !self.commands.is_empty()
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            buffer_lines: 10_000,
            min_severity: Severity::Default,
            follow: true,
            files: BTreeMap::new(),
            commands: BTreeMap::new(),
        }
    }
}

/// `platform = "haproxy"`: one backend, its servers are the revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaproxyConfig {
    /// A unix socket path or `tcp://host:port` (Runtime API, `level admin`).
    pub socket: String,
    pub backend: String,
    pub stable: Option<String>,
    pub canary: Option<String>,
    pub timeout: Duration,
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UiConfig {
    /// 1..=120.
    pub max_fps: u32,
    pub color: ColorChoice,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            max_fps: 30,
            color: ColorChoice::Auto,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    /// Colour unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// Whether to draw in colour, reading `NO_COLOR` from the environment.
    pub fn use_color(self) -> bool {
        self.use_color_with(std::env::var_os("NO_COLOR").as_deref())
    }

    /// Whether to draw in colour given the value of `NO_COLOR` (<https://no-color.org>:
    /// set and non-empty means no colour).
    pub fn use_color_with(self, no_color: Option<&OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => no_color.filter(|v| !v.is_empty()).is_none(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// A built-in scenario name or a path to a scenario file.
    pub scenario: String,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            scenario: "healthy".into(),
            seed: 42,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosticsConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (always lowercase here).
    pub log_level: String,
    /// Where the diagnostic log goes; `None` means [`default_log_dir`].
    /// A leading `~/` is expanded to the home directory.
    pub log_dir: Option<PathBuf>,
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        DiagnosticsConfig {
            log_level: "info".into(),
            log_dir: None,
        }
    }
}

impl DiagnosticsConfig {
    /// `log_dir`, else [`default_log_dir`].
    pub fn log_dir_or_default(&self) -> Option<PathBuf> {
        self.log_dir.clone().or_else(default_log_dir)
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text; `origin` is the file it came from (used in errors
    /// and kept in [`Config::source`]).
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        validate::parse(text, origin)
    }

    /// The defaults for `--demo` without a config file: the simulator.
    pub fn demo() -> Config {
        Config {
            service: ServiceConfig {
                platform: PlatformKind::Simulator,
                name: DEMO_SERVICE.into(),
                project: Some(DEMO_PROJECT.into()),
                region: Some(DEMO_REGION.into()),
                ..ServiceConfig::default()
            },
            ..Config::default()
        }
    }
}

/// A config problem, located: file, line and column (1-based) when known, and
/// the dotted key (`traffic.step`) when the problem is about one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config error: {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "canary")
}

/// `<XDG config dir>/canary/config.toml`, whether it exists or not.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// Where the diagnostic log goes by default: the XDG state dir
/// (`~/.local/state/canary`), or the local data dir on systems without one.
pub fn default_log_dir() -> Option<PathBuf> {
    project_dirs().map(|d| {
        d.state_dir()
            .map_or_else(|| d.data_local_dir().join("logs"), Path::to_path_buf)
    })
}

/// Which config file to read: the explicit `--config` path, else
/// `$CANARY_CONFIG` (when set and non-empty), else the default path if that
/// file exists. `None` means "no config file".
pub fn locate(cli: Option<&Path>) -> Option<PathBuf> {
    locate_with(
        cli,
        std::env::var_os(CONFIG_ENV).as_deref(),
        default_config_path().as_deref(),
    )
}

/// [`locate`] with its inputs made explicit (for tests).
pub fn locate_with(
    cli: Option<&Path>,
    env: Option<&OsStr>,
    default_path: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    if let Some(p) = env.filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    default_path.filter(|p| p.is_file()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_prefers_cli_then_env_then_existing_default() {
        let dir = std::env::temp_dir();
        let missing = dir.join("canary-config-test-does-not-exist.toml");
        assert_eq!(
            locate_with(
                Some(Path::new("/a.toml")),
                Some(OsStr::new("/b.toml")),
                None
            ),
            Some(PathBuf::from("/a.toml"))
        );
        assert_eq!(
            locate_with(None, Some(OsStr::new("/b.toml")), Some(&missing)),
            Some(PathBuf::from("/b.toml"))
        );
        assert_eq!(
            locate_with(None, Some(OsStr::new("")), Some(&missing)),
            None
        );
        assert_eq!(locate_with(None, None, Some(&missing)), None);
        // An existing default is used: the crate's own manifest stands in for it.
        let existing = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(
            locate_with(None, None, Some(&existing)),
            Some(existing.clone())
        );
    }

    #[test]
    fn default_path_is_under_canary() {
        if let Some(p) = default_config_path() {
            assert!(
                p.ends_with("canary/config.toml") || p.ends_with("config.toml"),
                "{p:?}"
            );
        }
    }

    #[test]
    fn no_color_is_honoured_by_auto_only() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(!ColorChoice::Auto.use_color_with(set));
        assert!(ColorChoice::Auto.use_color_with(empty));
        assert!(ColorChoice::Auto.use_color_with(None));
        assert!(ColorChoice::Always.use_color_with(set));
        assert!(!ColorChoice::Never.use_color_with(None));
    }

    #[test]
    fn error_display() {
        let e = ConfigError {
            file: PathBuf::from("/etc/canary.toml"),
            line: Some(12),
            column: Some(8),
            key: Some("traffic.step".into()),
            message: "invalid value 0, expected a number of points between 1 and 50".into(),
        };
        assert_eq!(
            e.to_string(),
            "config error: /etc/canary.toml:12: key `traffic.step`: invalid value 0, expected a number of points between 1 and 50"
        );
        let e = ConfigError {
            line: None,
            column: None,
            key: None,
            message: "cannot read the file: gone".into(),
            ..e
        };
        assert_eq!(
            e.to_string(),
            "config error: /etc/canary.toml: cannot read the file: gone"
        );
    }
}
