//! A log source that runs one command per revision (`kubectl logs -f …`,
//! `journalctl -fu …`, `ssh host tail -F …`) and tails its standard output
//! and standard error, line by line, through the same parser as log files.
//!
//! Each command runs under `sh -c` in a background task that reads its output
//! into a bounded buffer; `poll` drains it. A command that ends is reported
//! (with its exit status) and started again after a pause, so a dropped
//! `kubectl` connection heals by itself. Memory is bounded: past
//! [`MAX_PENDING`] unread lines the oldest are dropped and the loss is said.

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::file::parse_line;
use super::LogSource;
use crate::core::error::BackendError;
use crate::core::model::{LogEntry, Severity};

/// Lines kept between two polls, per source.
pub const MAX_PENDING: usize = 20_000;
/// Longest line kept (longer ones are cut).
const MAX_LINE: usize = 16 * 1024;
/// Pause before a command that ended is started again.
const RESTART_AFTER: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Pending {
    entries: VecDeque<LogEntry>,
    dropped: u64,
}

/// Tails the output of one command per revision.
pub struct CommandLogs {
    pending: Arc<Mutex<Pending>>,
    tasks: Vec<JoinHandle<()>>,
}

impl CommandLogs {
    /// Starts `revision → shell command` at once (on the current tokio runtime).
    pub fn start(commands: BTreeMap<String, String>) -> CommandLogs {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let tasks = commands
            .into_iter()
            .map(|(revision, command)| tokio::spawn(run(revision, command, pending.clone())))
            .collect();
        CommandLogs { pending, tasks }
    }
}

impl Drop for CommandLogs {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn push(pending: &Mutex<Pending>, entry: LogEntry) {
    let mut p = pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if p.entries.len() >= MAX_PENDING {
        p.entries.pop_front();
        p.dropped += 1;
    }
    p.entries.push_back(entry);
}

fn note(revision: &str, severity: Severity, message: String) -> LogEntry {
    LogEntry {
        timestamp: Utc::now(),
        revision: Some(revision.to_string()),
        severity,
        status: None,
        message,
    }
}

/// Runs the command for ever: lines out, restarts when it ends.
async fn run(revision: String, command: String, pending: Arc<Mutex<Pending>>) {
    loop {
        let child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("log command for {revision} cannot start: {e}");
                push(&pending, note(&revision, Severity::Error, msg));
                tokio::time::sleep(RESTART_AFTER * 5).await;
                continue;
            }
        };
        let out = child.stdout.take().map(|s| {
            tokio::spawn(read_lines(
                BufReader::new(s),
                revision.clone(),
                pending.clone(),
            ))
        });
        let err = child.stderr.take().map(|s| {
            tokio::spawn(read_lines(
                BufReader::new(s),
                revision.clone(),
                pending.clone(),
            ))
        });
        let status = child.wait().await;
        for t in [out, err].into_iter().flatten() {
            let _ = t.await;
        }
        let how = match status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        push(
            &pending,
            note(
                &revision,
                Severity::Warning,
                format!("log command for {revision} ended ({how}); starting it again"),
            ),
        );
        tokio::time::sleep(RESTART_AFTER).await;
    }
}

async fn read_lines<R: tokio::io::AsyncRead + Unpin>(
    mut reader: BufReader<R>,
    revision: String,
    pending: Arc<Mutex<Pending>>,
) {
    // Bytes, not `lines()`: a line is cut at MAX_LINE (memory stays bounded
    // even without a newline) and bytes that are not UTF-8 are replaced
    // instead of ending the reader (and restarting the command).
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') && buf.len() == MAX_LINE && !skip_line(&mut reader).await {
            return;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        push(&pending, parse_line(line, &revision, Utc::now()));
    }
}

/// Drops the rest of an over-long line; false when the output ended.
async fn skip_line<R: tokio::io::AsyncRead + Unpin>(reader: &mut BufReader<R>) -> bool {
    let mut skip = Vec::new();
    loop {
        skip.clear();
        match reader.take(64 * 1024).read_until(b'\n', &mut skip).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if skip.last() == Some(&b'\n') => return true,
            Ok(_) => {}
        }
    }
}

#[async_trait]
impl LogSource for CommandLogs {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<LogEntry> = p.entries.drain(..).collect();
        if p.dropped > 0 {
            let n = std::mem::take(&mut p.dropped);
            out.insert(
                0,
                LogEntry {
                    timestamp: Utc::now(),
                    revision: None,
                    severity: Severity::Warning,
                    status: None,
                    message: format!(
                        "{n} log lines dropped: the commands wrote faster than the tail reads"
                    ),
                },
            );
        }
        Ok(out)
    }
}
