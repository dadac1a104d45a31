//! `[journal]`: where the audit journal goes.

use std::path::PathBuf;

use super::Leaf;
use crate::config::validate::{expand_home, Cx};
use crate::config::{default_log_dir, ConfigError};

table! {
    struct Raw {
        dir: Leaf => "a directory path",
        enabled: Leaf => "true or false",
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

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<JournalConfig, ConfigError> {
        let d = JournalConfig::default();
        let dir = match cx.string(&self.dir, "journal.dir")? {
            None => d.dir,
            Some((s, l)) if s.trim().is_empty() => {
                return Err(cx.wrong_value(l, "journal.dir", format!("{s:?}")))
            }
            Some((s, _)) => Some(expand_home(s)),
        };
        Ok(JournalConfig {
            dir,
            enabled: cx
                .boolean(&self.enabled, "journal.enabled")?
                .unwrap_or(d.enabled),
        })
    }
}
