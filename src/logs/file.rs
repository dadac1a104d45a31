//! A [`LogSource`] that tails one file per revision, like `tail -F`:
//! - follows appends; a last line without its `\n` waits until it is complete;
//! - a file that shrinks was truncated: reading starts again at its beginning;
//! - a file replaced by another (rotation: new inode at the path) is read to its
//!   end, then the new file is read from its beginning;
//! - a missing file is reported once, then waited for;
//! - each poll reads at most [`FileLogOptions::max_bytes_per_poll`] per file, the
//!   rest comes with the next polls; a line longer than `max_line_bytes` is cut.
//!
//! Lines are JSON objects (the sample app's, Cloud Logging-like: `timestamp`,
//! `severity`, `message`, `httpRequest.status`) or plain text (an RFC 3339
//! timestamp and a level word among the first words are recognised).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::LogSource;
use crate::core::error::BackendError;
use crate::core::model::{LogEntry, Severity};

/// Limits of a tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLogOptions {
    /// How much of an existing file's end is read on the first poll (older
    /// content is skipped, up to the next line start).
    pub backlog_bytes: u64,
    /// The most read from one file in one poll.
    pub max_bytes_per_poll: usize,
    /// A longer line is emitted cut at this length.
    pub max_line_bytes: usize,
}

impl Default for FileLogOptions {
    fn default() -> Self {
        FileLogOptions {
            backlog_bytes: 16 * 1024,
            max_bytes_per_poll: 256 * 1024,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// One file being followed.
#[derive(Debug)]
struct Tail {
    revision: String,
    path: PathBuf,
    file: Option<File>,
    /// (device, inode) of the open file.
    id: Option<(u64, u64)>,
    offset: u64,
    partial: Vec<u8>,
    /// Skip up to the first `\n` (started in the middle of the backlog).
    skip_line: bool,
    /// Opened at least once (the backlog applies only to the first open).
    started: bool,
    missing_reported: bool,
}

/// Tails of several files, one per revision.
#[derive(Debug)]
pub struct FileLogs {
    /// Shared with the blocking reader, so that a failed read never loses
    /// the tails (their offsets) for the polls after it.
    tails: Arc<Mutex<Vec<Tail>>>,
    options: FileLogOptions,
}

impl FileLogs {
    /// Revision name → log file path, with default limits.
    pub fn new(files: BTreeMap<String, PathBuf>) -> FileLogs {
        FileLogs::with_options(files, FileLogOptions::default())
    }

    pub fn with_options(files: BTreeMap<String, PathBuf>, options: FileLogOptions) -> FileLogs {
        let tails = files
            .into_iter()
            .map(|(revision, path)| Tail {
                revision,
                path,
                file: None,
                id: None,
                offset: 0,
                partial: Vec::new(),
                skip_line: false,
                started: false,
                missing_reported: false,
            })
            .collect();
        FileLogs {
            tails: Arc::new(Mutex::new(tails)),
            options,
        }
    }

    /// Everything appended since the previous call, oldest first (blocking I/O).
    pub fn poll_now(&mut self) -> Vec<LogEntry> {
        read_tails(&self.tails, &self.options)
    }
}

fn read_tails(tails: &Mutex<Vec<Tail>>, options: &FileLogOptions) -> Vec<LogEntry> {
    let now = Utc::now();
    let mut out = Vec::new();
    let mut tails = tails.lock().unwrap_or_else(PoisonError::into_inner);
    for t in tails.iter_mut() {
        t.poll(options, now, &mut out);
    }
    out.sort_by_key(|e| e.timestamp);
    out
}

#[async_trait]
impl LogSource for FileLogs {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let tails = Arc::clone(&self.tails);
        let options = self.options;
        tokio::task::spawn_blocking(move || read_tails(&tails, &options))
            .await
            .map_err(|e| BackendError::Other(format!("reading log files failed: {e}")))
    }
}

fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Tail {
    fn notice(&self, severity: Severity, now: DateTime<Utc>, message: String) -> LogEntry {
        LogEntry {
            timestamp: now,
            revision: Some(self.revision.clone()),
            severity,
            status: None,
            message,
        }
    }

    /// Opens the file at the path; `false` when there is none.
    fn open(&mut self, opts: &FileLogOptions, now: DateTime<Utc>, out: &mut Vec<LogEntry>) -> bool {
        let opened = File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m)));
        match opened {
            Ok((file, meta)) => {
                self.id = Some(file_id(&meta));
                self.offset = 0;
                self.skip_line = false;
                if !self.started && meta.len() > opts.backlog_bytes {
                    self.offset = meta.len() - opts.backlog_bytes;
                    self.skip_line = true;
                }
                self.started = true;
                self.missing_reported = false;
                self.file = Some(file);
                true
            }
            Err(e) => {
                if !self.missing_reported {
                    self.missing_reported = true;
                    let why = if e.kind() == std::io::ErrorKind::NotFound {
                        "does not exist (yet)".to_string()
                    } else {
                        format!("cannot be opened: {e}")
                    };
                    out.push(self.notice(
                        Severity::Warning,
                        now,
                        format!("log file {} {why}", self.path.display()),
                    ));
                }
                false
            }
        }
    }

    fn poll(&mut self, opts: &FileLogOptions, now: DateTime<Utc>, out: &mut Vec<LogEntry>) {
        let mut budget = opts.max_bytes_per_poll;
        // Twice at most: the end of a rotated file, then the new one.
        for _ in 0..2 {
            if self.file.is_none() && !self.open(opts, now, out) {
                return;
            }
            let at_path = std::fs::metadata(&self.path).ok().map(|m| file_id(&m));
            let len = match self.file.as_ref().map(File::metadata) {
                Some(Ok(m)) => m.len(),
                _ => {
                    self.file = None;
                    return;
                }
            };
            if at_path == self.id && len < self.offset {
                out.push(self.notice(
                    Severity::Notice,
                    now,
                    format!(
                        "log file {} was truncated; reading it from the start",
                        self.path.display()
                    ),
                ));
                self.partial.clear();
                self.offset = 0;
                self.skip_line = false;
            }
            budget -= self.read(budget, opts, now, out);
            let drained = self.offset >= len;
            if at_path != self.id && drained {
                // Rotated or removed: what is left of the old file is complete.
                self.flush_partial(now, out);
                self.file = None;
                self.id = None;
                if at_path.is_none() || budget == 0 {
                    return;
                }
                continue;
            }
            return;
        }
    }

    /// Reads up to `budget` bytes from the offset; returns how many.
    fn read(
        &mut self,
        budget: usize,
        opts: &FileLogOptions,
        now: DateTime<Utc>,
        out: &mut Vec<LogEntry>,
    ) -> usize {
        let Some(file) = self.file.as_mut() else {
            return 0;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return 0;
        }
        let mut buf = Vec::new();
        let n = match file.take(budget as u64).read_to_end(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                out.push(self.notice(
                    Severity::Warning,
                    now,
                    format!("reading log file {} failed: {e}", self.path.display()),
                ));
                return 0;
            }
        };
        self.offset += n as u64;
        let mut data = &buf[..];
        if self.skip_line {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    data = &data[i + 1..];
                    self.skip_line = false;
                }
                None => return n,
            }
        }
        self.partial.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let line = &self.partial[start..start + i];
            if let Some(e) = self.entry(line, now) {
                out.push(e);
            }
            start += i + 1;
        }
        self.partial.drain(..start);
        if self.partial.len() > opts.max_line_bytes {
            let cut: Vec<u8> = self.partial.drain(..).take(opts.max_line_bytes).collect();
            if let Some(mut e) = self.entry(&cut, now) {
                e.message.push_str(" … (line cut)");
                out.push(e);
            }
        }
        n
    }

    fn flush_partial(&mut self, now: DateTime<Utc>, out: &mut Vec<LogEntry>) {
        let rest = std::mem::take(&mut self.partial);
        if let Some(e) = self.entry(&rest, now) {
            out.push(e);
        }
    }

    fn entry(&self, line: &[u8], now: DateTime<Utc>) -> Option<LogEntry> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return None;
        }
        Some(parse_line(text, &self.revision, now))
    }
}

/// One log line to an entry: a JSON object, or plain text. `now` stands in for
/// a missing or unreadable timestamp.
pub fn parse_line(line: &str, revision: &str, now: DateTime<Utc>) -> LogEntry {
    if line.trim_start().starts_with('{') {
        if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) {
            return from_json(&obj, line, revision, now);
        }
    }
    from_plain(line, revision, now)
}

fn from_json(
    obj: &serde_json::Map<String, Value>,
    line: &str,
    revision: &str,
    now: DateTime<Utc>,
) -> LogEntry {
    let str_of = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str).map(str::to_string))
    };
    let timestamp = ["timestamp", "time", "ts", "@timestamp"]
        .iter()
        .find_map(|k| obj.get(*k))
        .and_then(|v| match v {
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Value::Number(n) => n.as_f64().and_then(|secs| {
                // Seconds, or milliseconds when too large to be seconds.
                let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
                DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32)
            }),
            _ => None,
        })
        .unwrap_or(now);
    let http = obj.get("httpRequest").and_then(Value::as_object);
    let status = http
        .and_then(|h| h.get("status"))
        .or_else(|| obj.get("status"))
        .or_else(|| obj.get("status_code"))
        .and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .and_then(|n| u16::try_from(n).ok())
        .filter(|s| (100..600).contains(s));
    let severity = str_of(&["severity", "level", "lvl"])
        .and_then(|s| Severity::parse(&s))
        .unwrap_or_else(|| from_status(status));
    let message = str_of(&["message", "msg", "textPayload"]).unwrap_or_else(|| match http {
        Some(h) => {
            let f = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            format!(
                "{} {} {}",
                f("requestMethod"),
                f("requestUrl"),
                status.map_or("-".into(), |s| s.to_string())
            )
        }
        None => line.to_string(),
    });
    LogEntry {
        timestamp,
        revision: Some(revision.to_string()),
        severity,
        status,
        message,
    }
}

fn from_status(status: Option<u16>) -> Severity {
    match status {
        Some(500..) => Severity::Error,
        Some(400..=499) => Severity::Warning,
        Some(_) => Severity::Info,
        None => Severity::Default,
    }
}

fn from_plain(line: &str, revision: &str, now: DateTime<Utc>) -> LogEntry {
    let mut timestamp = None;
    let mut severity = None;
    for word in line.split_whitespace().take(4) {
        if timestamp.is_none() {
            if let Ok(t) = DateTime::parse_from_rfc3339(word.trim_matches(|c| c == '[' || c == ']'))
            {
                timestamp = Some(t.with_timezone(&Utc));
                continue;
            }
        }
        let w = word
            .trim_start_matches("level=")
            .trim_matches(|c: char| matches!(c, '[' | ']' | ':' | '(' | ')' | '"'));
        if severity.is_none() && w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()) {
            severity = Severity::parse(w);
        }
    }
    LogEntry {
        timestamp: timestamp.unwrap_or(now),
        revision: Some(revision.to_string()),
        severity: severity.unwrap_or(Severity::Default),
        status: None,
        message: line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn parses_sample_app_json() {
        let l = r#"{"timestamp":"2026-11-20T09:59:58.5Z","severity":"ERROR","revision":"x","message":"GET / 500 3.0ms","httpRequest":{"requestMethod":"GET","requestUrl":"/","status":500}}"#;
        let e = parse_line(l, "emergence-app-v2", now());
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.status, Some(500));
        assert_eq!(e.message, "GET / 500 3.0ms");
        assert_eq!(e.revision.as_deref(), Some("emergence-app-v2"));
        assert_eq!(e.timestamp, now() - chrono::Duration::milliseconds(1500));
        let e = parse_line(
            r#"{"httpRequest":{"requestMethod":"POST","requestUrl":"/a","status":404},"time":1795000000}"#,
            "r",
            now(),
        );
        assert_eq!(e.severity, Severity::Warning);
        assert_eq!(e.message, "POST /a 404");
        assert_eq!(e.timestamp.timestamp(), 1795000000);
        let e = parse_line(
            r#"{"level":"warn","msg":"slow","status":"200"}"#,
            "r",
            now(),
        );
        assert_eq!(
            (e.severity, e.status, e.message.as_str()),
            (Severity::Warning, Some(200), "slow")
        );
    }

    #[test]
    fn parses_plain_lines() {
        let e = parse_line("2026-11-20T09:00:00Z ERROR database gone", "r", now());
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-20T09:00:00+00:00");
        assert_eq!(e.message, "2026-11-20T09:00:00Z ERROR database gone");
        let e = parse_line("[warn] disk at 91%", "r", now());
        assert_eq!((e.severity, e.timestamp), (Severity::Warning, now()));
        let e = parse_line("level=info msg=started", "r", now());
        assert_eq!(e.severity, Severity::Info);
        let e = parse_line("just text {not json", "r", now());
        assert_eq!(e.severity, Severity::Default);
        let e = parse_line("{broken json", "r", now());
        assert_eq!(e.message, "{broken json");
    }
}
