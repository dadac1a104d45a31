//! `[logs]`: the log tail, and where the logs come from when the platform's
//! own source is not used (files, commands).

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::{Spanned, Value};

use super::{expected, Leaf};
use crate::config::validate::{expand_home, found, Cx};
use crate::config::ConfigError;
use crate::core::model::Severity;

const SEVERITY: &str =
    "one of: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY";

table! {
    struct Raw {
        buffer_lines: Leaf => "a number of lines between 100 and 1000000",
        min_severity: Leaf => SEVERITY,
        follow: Leaf => "true or false",
        #[serde(default)]
        files: BTreeMap<String, Spanned<Value>> => "a table of revision = \"path/to/file.log\"",
        #[serde(default)]
        commands: BTreeMap<String, Spanned<Value>> => "a table of revision = \"shell command\", e.g. \"kubectl logs -f deploy/app-v2\"",
    }
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

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<LogsConfig, ConfigError> {
        let d = LogsConfig::default();
        let min_severity = match cx.string(&self.min_severity, "logs.min_severity")? {
            None => d.min_severity,
            Some((s, l)) => Severity::parse(s)
                .ok_or_else(|| cx.wrong_value(l, "logs.min_severity", format!("{s:?}")))?,
        };
        let files = revision_table(cx, &self.files, "logs.files")?
            .into_iter()
            .map(|(rev, path)| (rev, expand_home(&path)))
            .collect();
        let commands = revision_table(cx, &self.commands, "logs.commands")?;
        Ok(LogsConfig {
            files,
            commands,
            buffer_lines: cx
                .int(&self.buffer_lines, "logs.buffer_lines", 100..=1_000_000)?
                .unwrap_or(d.buffer_lines),
            min_severity,
            follow: cx.boolean(&self.follow, "logs.follow")?.unwrap_or(d.follow),
        })
    }
}

/// A `revision = "non-empty string"` table such as `[logs] files`.
fn revision_table(
    cx: &Cx,
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
                let message = format!("invalid value {}, expected {}", found(other), expected(key));
                return Err(cx.at(leaf, &format!("{key}.{revision}"), message));
            }
        }
    }
    Ok(out)
}
