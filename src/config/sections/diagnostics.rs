//! `[diagnostics]`: the diagnostic log (not the audit journal).

use std::path::PathBuf;

use super::Leaf;
use crate::config::validate::{expand_home, Cx};
use crate::config::{default_log_dir, ConfigError};

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

table! {
    struct Raw {
        log_level: Leaf => "one of: \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
        log_dir: Leaf => "a directory path",
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

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<DiagnosticsConfig, ConfigError> {
        let d = DiagnosticsConfig::default();
        let log_level = match cx.string(&self.log_level, "diagnostics.log_level")? {
            None => d.log_level,
            Some((s, l)) => {
                let lower = s.trim().to_ascii_lowercase();
                if !LOG_LEVELS.contains(&lower.as_str()) {
                    return Err(cx.wrong_value(l, "diagnostics.log_level", format!("{s:?}")));
                }
                lower
            }
        };
        let log_dir = match cx.string(&self.log_dir, "diagnostics.log_dir")? {
            None => None,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(cx.wrong_value(l, "diagnostics.log_dir", format!("{s:?}")))
            }
            Some((s, _)) => Some(expand_home(s)),
        };
        Ok(DiagnosticsConfig { log_level, log_dir })
    }
}
