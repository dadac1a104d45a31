//! The configuration file: strict TOML (unknown keys are errors), every value
//! checked, and every error naming the file, the line, the key and what was
//! expected.
//!
//! ```text
//! config error: /etc/canary.toml:12: key `traffic.step`: invalid value 0, expected a number of points between 1 and 50
//! ```
//!
//! `config.example.toml` at the repository root documents every key.

mod sections;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checks::CheckSpec;
use crate::core::keymap::{KeyList, Keymap};
use crate::core::plan::PlanSpec;

/// The config's durations: the grammar is [`crate::core::duration`]'s.
pub use crate::core::duration::{format as format_duration, parse as parse_duration};
pub use sections::{
    known_keys, AuditConfig, CloudRunConfig, ColorChoice, DemoConfig, DiagnosticsConfig,
    GatesConfig, GoogleAuth, HaproxyConfig, JournalConfig, KubeMode, KubernetesConfig, LogsConfig,
    MetricLabels, MetricsConfig, NamedPlan, NotifyConfig, PlatformKind, PrometheusConfig,
    RefreshConfig, ServiceConfig, SharedSink, TrafficConfig, UiConfig,
    DEFAULT_VERIFICATION_TIMEOUT, WEBHOOK_ENV,
};

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
    /// `[plan] on_cancel`: what a cancelled `canary release` leaves.
    pub on_cancel: crate::core::plan::OnCancel,
    /// `[plans.NAME]`: named plans (`canary release --plan NAME`).
    pub plans: BTreeMap<String, NamedPlan>,
    /// `[deploy]` and `[revisions]`: deploys of new revisions and prunes.
    pub release: crate::core::release::ReleaseSettings,
    /// The whole verification battery must finish within this.
    pub verification_timeout: Duration,
    /// The `[[checks]]` list, in order.
    pub checks: Vec<CheckSpec>,
    pub journal: JournalConfig,
    pub notify: NotifyConfig,
    /// `[audit]`: the shared audit trail.
    pub audit: AuditConfig,
    pub cloud_run: CloudRunConfig,
    pub haproxy: Option<HaproxyConfig>,
    /// `[kubernetes]` (`platform = "kubernetes"` only).
    pub kubernetes: Option<KubernetesConfig>,
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
            on_cancel: Default::default(),
            plans: BTreeMap::new(),
            release: crate::core::release::ReleaseSettings::default(),
            verification_timeout: DEFAULT_VERIFICATION_TIMEOUT,
            checks: Vec::new(),
            journal: JournalConfig::default(),
            notify: NotifyConfig::default(),
            audit: AuditConfig::default(),
            cloud_run: CloudRunConfig::default(),
            haproxy: None,
            kubernetes: None,
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
