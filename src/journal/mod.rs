//! The audit journal: append-only JSON Lines, one record per event, fsynced
//! before the cockpit reports the action done. File mode 0600. Replayed on
//! start; a torn last line (killed mid-write) is reported and skipped.

pub mod release;
pub mod report;

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::core::model::TrafficSplit;
use crate::core::plan::{Phase, PlanSpec};
use crate::core::roles::RoleHistory;

/// The records are the core's; the journal writes and reads them.
pub use crate::core::record::{CheckRecord, Event, MetricSummary, Outcome, Record, Who};

// The environment is read here, at the edge, not in the core.
impl Who {
    /// From `$USER` (or `$LOGNAME`) and `$SSH_CLIENT` / `$SSH_CONNECTION`.
    pub fn from_env() -> Who {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let from = std::env::var("SSH_CLIENT")
            .or_else(|_| std::env::var("SSH_CONNECTION"))
            .ok()
            .and_then(|v| v.split_whitespace().next().map(str::to_string));
        Who { user, from }
    }
}

/// A change requested without an outcome record.
#[derive(Clone, Debug, PartialEq)]
pub struct Unresolved {
    pub id: u64,
    pub kind: String,
    pub before: TrafficSplit,
    pub after: TrafficSplit,
    /// The process that sent it, when recorded.
    pub pid: Option<u32>,
}

impl Unresolved {
    /// Sent by another canary process that is still running: in flight
    /// there, its outcome is that process's to write.
    pub fn in_flight_elsewhere(&self) -> bool {
        self.pid
            .is_some_and(|p| p != std::process::id() && canary_alive(p))
    }
}

/// Whether `pid` is a running `canary` (Linux: its command line; elsewhere
/// any live process).
fn canary_alive(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => cmd
            .split(|b| *b == 0)
            .next()
            .is_some_and(|arg0| String::from_utf8_lossy(arg0).contains("canary")),
        Err(_) if cfg!(target_os = "linux") => false,
        Err(_) => {
            // SAFETY: signal 0 only checks that the process exists.
            i32::try_from(pid).is_ok_and(|p| unsafe { libc::kill(p, 0) } == 0)
        }
    }
}

/// What replaying a journal found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    pub records: Vec<Record>,
    /// Lines that could not be read (a torn last line, or damage), with why.
    pub skipped: Vec<(usize, String)>,
}

impl Replay {
    /// A plan that was running when the journal stops: its spec, canary,
    /// stable and last phase. `None` when no plan or when it finished.
    pub fn interrupted_plan(&self) -> Option<(String, String, PlanSpec, Phase, DateTime<Utc>)> {
        let mut current: Option<(String, String, PlanSpec, Phase, DateTime<Utc>)> = None;
        for r in &self.records {
            match &r.event {
                Event::PlanStarted {
                    canary,
                    stable,
                    spec,
                    ..
                } => {
                    current = Some((
                        canary.clone(),
                        stable.clone(),
                        spec.clone(),
                        Phase::Idle,
                        r.at,
                    ))
                }
                Event::PlanTransition { to, .. } => {
                    if let Some(c) = current.as_mut() {
                        c.3 = to.clone();
                    }
                }
                _ => {}
            }
        }
        current.filter(|c| !c.3.is_finished())
    }

    /// What the history tells [`crate::core::roles`]: every applied change's
    /// `before` and `after` (reconciled as applied included), in order.
    pub fn role_history(&self) -> RoleHistory {
        let mut h = RoleHistory::default();
        for r in &self.records {
            match &r.event {
                Event::TrafficApplied { before, after, .. }
                | Event::TrafficReconciled {
                    outcome: Outcome::Applied,
                    before,
                    after,
                    ..
                } => h.observe_change(before, after),
                Event::ServiceObserved { traffic } => {
                    h.observe(traffic);
                }
                _ => {}
            }
        }
        h
    }

    /// The last split the platform confirmed (or was read back at).
    pub fn last_split(&self) -> Option<&TrafficSplit> {
        self.records.iter().rev().find_map(|r| match &r.event {
            Event::TrafficApplied { after, .. } => Some(after),
            Event::TrafficReconciled {
                outcome: Outcome::Applied,
                after,
                read_back,
                ..
            } => Some(read_back.as_ref().unwrap_or(after)),
            Event::TrafficReconciled {
                read_back: Some(s), ..
            } => Some(s),
            _ => None,
        })
    }

    /// Changes requested without an outcome record (a crash in between,
    /// or still in flight in another process), oldest first.
    pub fn unresolved(&self) -> Vec<Unresolved> {
        let mut open: Vec<Unresolved> = Vec::new();
        for r in &self.records {
            match &r.event {
                Event::TrafficRequested {
                    id,
                    kind,
                    before,
                    after,
                    pid,
                    ..
                } => open.push(Unresolved {
                    id: *id,
                    kind: kind.clone(),
                    before: before.clone(),
                    after: after.clone(),
                    pid: *pid,
                }),
                // The latest request with that id (older sessions counted
                // from 1: ids may repeat in old journals).
                Event::TrafficApplied { id, .. }
                | Event::TrafficFailed { id, .. }
                | Event::TrafficReconciled { id, .. } => {
                    if let Some(i) = open.iter().rposition(|o| o.id == *id) {
                        open.remove(i);
                    }
                }
                _ => {}
            }
        }
        open
    }

    /// A change id no record uses yet: ids stay unique across sessions
    /// (and across a screen and a script), so requests pair with outcomes.
    pub fn fresh_change_id(&self) -> u64 {
        let used = self
            .records
            .iter()
            .filter_map(|r| match &r.event {
                Event::TrafficRequested { id, .. }
                | Event::TrafficApplied { id, .. }
                | Event::TrafficFailed { id, .. }
                | Event::TrafficReconciled { id, .. } => Some(*id),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        fresh_change_id().max(used + 1)
    }
}

/// The record of a change's result: applied, failed (nothing applied), or
/// reconciled as unknown (the split read back, and why).
pub fn outcome_record(
    id: u64,
    kind: String,
    before: TrafficSplit,
    after: TrafficSplit,
    reason: Option<String>,
    took_ms: i64,
    result: Result<(), &crate::core::error::BackendError>,
) -> Event {
    use crate::core::error::BackendError;
    match result {
        Ok(()) => Event::TrafficApplied {
            id,
            kind,
            before,
            after,
            reason,
            took_ms,
        },
        Err(BackendError::Unconfirmed { message, read_back }) => Event::TrafficReconciled {
            id,
            kind,
            before,
            after,
            outcome: Outcome::Unknown,
            read_back: read_back.clone(),
            why: message.clone(),
        },
        Err(e) => Event::TrafficFailed {
            id,
            kind,
            before,
            after,
            error: e.to_string(),
        },
    }
}

/// A change id from the clock (microseconds): unique across sessions.
pub fn fresh_change_id() -> u64 {
    Utc::now().timestamp_micros().max(1) as u64
}

/// Reads a journal. Never fails on content: bad lines are skipped and listed.
pub fn replay(path: &Path) -> io::Result<Replay> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(e) => return Err(e),
    };
    let mut out = Replay::default();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        n += 1;
        let complete = line.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text) {
            Ok(r) => out.records.push(r),
            Err(e) => {
                let why = if !complete {
                    "torn last line (the writer was killed, or the disk filled up, mid-write); \
                     skipped"
                        .to_string()
                } else if e.is_eof() {
                    // Torn by a kill (or a full disk), then closed off by the next start.
                    "torn record (the writer was killed, or the disk filled up, mid-write); skipped"
                        .to_string()
                } else {
                    format!("unreadable record: {e}; skipped")
                };
                out.skipped.push((n, why));
            }
        }
    }
    Ok(out)
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The last append failed: the next one reopens the file first (the
    /// disk may have been freed, the file replaced).
    failed: bool,
}

impl Journal {
    /// Opens (creating with mode 0600) for appending. If the last line is torn,
    /// a newline is added so the next record starts clean.
    pub fn open(path: &Path) -> io::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            file.seek(SeekFrom::Start(len - 1))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
            }
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            failed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record as one line and waits until it is on disk. When
    /// that fails (a full disk), what was written of the line is cut off
    /// again, so no fragment is left behind.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.failed {
            *self = Journal::open(&self.path)?;
            self.failed = true;
        }
        let len = self.file.metadata().map(|m| m.len()).ok();
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.failed = false;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                if let Some(len) = len.filter(|_| self.file.metadata().is_ok_and(|m| m.is_file())) {
                    let _ = self.file.set_len(len);
                }
                Err(e)
            }
        }
    }
}

/// The journal file for a service under `dir`.
pub fn path_for(dir: &Path, service: &str) -> PathBuf {
    let safe: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal as the cockpit wrote it before the records moved into the
    /// core: the demo's bad canary rolled back by the plan (written by the
    /// binary itself), then one line of each kind the demo does not write.
    const OLDER: &str = include_str!("testdata/demo-0.1.jsonl");

    #[test]
    fn an_older_journal_reads_and_writes_back_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, OLDER).expect("write");
        let replay = replay(&old).expect("replay");
        assert!(replay.skipped.is_empty(), "{:?}", replay.skipped);
        assert_eq!(replay.records.len(), OLDER.lines().count());
        let kinds: std::collections::BTreeSet<&str> = replay
            .records
            .iter()
            .map(|r| match &r.event {
                Event::SessionStart { .. } => "session-start",
                Event::SessionEnd => "session-end",
                Event::TrafficRequested { .. } => "traffic-requested",
                Event::TrafficApplied { .. } => "traffic-applied",
                Event::TrafficFailed { .. } => "traffic-failed",
                Event::TrafficReconciled { .. } => "traffic-reconciled",
                Event::ServiceObserved { .. } => "service-observed",
                Event::TrafficReason { .. } => "traffic-reason",
                Event::PlanStarted { .. } => "plan-started",
                Event::PhaseMetrics { .. } => "phase-metrics",
                Event::PlanTransition { .. } => "plan-transition",
                Event::Checks { .. } => "checks",
                Event::Note { .. } => "note",
                Event::Judge { .. } => "judge",
                Event::GatesObserved(_) => "gates-observed",
                Event::DeployRequested(_) => "deploy-requested",
                Event::DeployFinished(_) => "deploy-finished",
                Event::RevisionDeleteRequested(_) => "revision-delete-requested",
                Event::RevisionDeleted(_) => "revision-deleted",
            })
            .collect();
        assert_eq!(kinds.len(), 14, "every kind of record: {kinds:?}");
        assert_eq!(
            replay.records.last().map(|r| &r.who),
            Some(&Who {
                user: "oncall".into(),
                from: Some("10.0.0.7".into())
            })
        );

        let new = dir.path().join("new.jsonl");
        let mut journal = Journal::open(&new).expect("open");
        for r in &replay.records {
            journal.append(r).expect("append");
        }
        let written = std::fs::read_to_string(&new).expect("read");
        for (n, (was, is)) in OLDER.lines().zip(written.lines()).enumerate() {
            assert_eq!(was, is, "line {}", n + 1);
        }
        assert_eq!(written, OLDER);
    }
}
