//! From text to a checked [`Config`], with every error located.

use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_path_to_error::Segment;
use toml::{Spanned, Value};

use super::sections::{expected, known_keys, Leaf, RawConfig};
use super::{parse_duration, Config, ConfigError};

/// Durations shorter than this are refused everywhere.
const MIN_DURATION: Duration = Duration::from_millis(100);

/// How a value looks in "invalid type: ..." messages.
pub(super) fn found(v: &Value) -> String {
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
pub(super) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2 && *d < name.chars().count().max(c.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// What the section validators need: the text (for positions) and the file
/// (for messages), and how to read and check one value.
pub(super) struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Cx<'_> {
    pub(super) fn error(
        &self,
        span: Option<Range<usize>>,
        key: Option<&str>,
        message: String,
    ) -> ConfigError {
        let (line, column) = span.map(|s| line_col(self.text, s.start)).unzip();
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.map(str::to_string),
            message,
        }
    }

    pub(super) fn at(&self, leaf: &Spanned<Value>, key: &str, message: String) -> ConfigError {
        self.error(Some(leaf.span()), Some(key), message)
    }

    pub(super) fn wrong_type(&self, leaf: &Spanned<Value>, key: &str) -> ConfigError {
        let message = format!(
            "invalid type: {}, expected {}",
            found(leaf.get_ref()),
            expected(key)
        );
        self.at(leaf, key, message)
    }

    pub(super) fn wrong_value(
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
    pub(super) fn section_line(&self, section: &str, leaves: &[&Leaf]) -> Option<usize> {
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

    /// A key that is missing: the error is on the section's header line.
    pub(super) fn missing(
        &self,
        section: &str,
        leaves: &[&Leaf],
        key: &str,
        why: &str,
    ) -> ConfigError {
        self.in_section(section, leaves, key, format!("missing: {why}"))
    }

    /// An error about the section as a whole, on its header line (else the
    /// line of its first value); with no line, the message says to add it.
    pub(super) fn in_section(
        &self,
        section: &str,
        leaves: &[&Leaf],
        key: &str,
        mut message: String,
    ) -> ConfigError {
        let line = self.section_line(section, leaves);
        if line.is_none() && message.starts_with("missing") {
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

    pub(super) fn int<T: TryFrom<i64>>(
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

    pub(super) fn float(
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

    pub(super) fn boolean(&self, leaf: &Leaf, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some(l) = leaf else { return Ok(None) };
        match l.get_ref() {
            Value::Boolean(b) => Ok(Some(*b)),
            _ => Err(self.wrong_type(l, key)),
        }
    }

    /// A string, with the leaf for further checks.
    pub(super) fn string<'l>(
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
    pub(super) fn word(&self, leaf: &Leaf, key: &str) -> Result<Option<String>, ConfigError> {
        match self.string(leaf, key)? {
            None => Ok(None),
            Some((s, l)) if s.is_empty() || s.chars().any(char::is_whitespace) => {
                Err(self.wrong_value(l, key, format!("{s:?}")))
            }
            Some((s, _)) => Ok(Some(s.to_string())),
        }
    }

    pub(super) fn duration(&self, leaf: &Leaf, key: &str) -> Result<Option<Duration>, ConfigError> {
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
    pub(super) fn choice<T: Copy>(
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

    /// A duration where `"0s"` is allowed (no sustain, no observation).
    pub(super) fn duration_or_zero(
        &self,
        leaf: &Leaf,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        if let Some(l) = leaf {
            if let Value::String(s) = l.get_ref() {
                if parse_duration(s).is_ok_and(|d| d.is_zero()) {
                    return Ok(Some(Duration::ZERO));
                }
            }
        }
        self.duration(leaf, key)
    }

    /// An http(s) URL. `secret`: the value is never echoed in messages.
    pub(super) fn url(
        &self,
        leaf: &Leaf,
        key: &str,
        secret: bool,
    ) -> Result<Option<String>, ConfigError> {
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
                    None => known_keys()
                        .iter()
                        .map(|(s, _)| *s)
                        .filter(|s| !s.contains('.'))
                        .collect(),
                    Some(s) => known_keys()
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
                    section.filter(|_| known_keys().iter().any(|(k, _)| k == name))
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
pub(super) fn expand_home(s: &str) -> PathBuf {
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
    raw.validate(&cx, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keymap::Command;

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

    /// `known_keys()` (used in messages) matches what the raw structs accept.
    #[test]
    fn known_keys_match_the_schema() {
        for (section, keys) in known_keys() {
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
        for (section, keys) in known_keys() {
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
