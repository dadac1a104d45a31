//! The audit journal: append-only JSON Lines, one record per event, fsynced
//! before the cockpit reports the action done. File mode 0600. Replayed on
//! start; a torn last line (killed mid-write) is reported and skipped.

pub mod release;
pub mod report;

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::TrafficSplit;
use crate::core::plan::{Phase, PlanSpec};
use crate::core::roles::RoleHistory;

/// Who did it: the login and, over SSH, the client address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

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

/// One check's result as journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub reason: String,
    pub duration_ms: u64,
    pub blocking: bool,
}

/// A revision's signals, averaged over the metrics window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub revision: String,
    pub rps: Option<f64>,
    pub error_percent: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// What became of a traffic change whose answer was not clean, or that a
/// crash interrupted, once the platform was read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The platform serves the split asked for.
    Applied,
    /// The platform still serves the split before.
    NotApplied,
    /// Neither can be told (the platform could not be read, or shows a third split).
    Unknown,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::NotApplied => "not applied",
            Outcome::Unknown => "outcome unknown",
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    SessionStart {
        platform: String,
        read_only: bool,
    },
    SessionEnd,
    /// Sent to the platform (before the answer).
    TrafficRequested {
        id: u64,
        kind: String,
        before: TrafficSplit,
        after: TrafficSplit,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The process that sent it: while it lives, the change is in
        /// flight there, not interrupted (another canary does not reconcile it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// The platform confirmed it.
    TrafficApplied {
        id: u64,
        kind: String,
        before: TrafficSplit,
        after: TrafficSplit,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        took_ms: i64,
    },
    TrafficFailed {
        id: u64,
        kind: String,
        before: TrafficSplit,
        after: TrafficSplit,
        error: String,
    },
    /// The outcome of change `id`, found by reading the platform: after an
    /// answer that was neither a clean success nor a clean refusal, or on
    /// the next start after a crash left it without an outcome.
    TrafficReconciled {
        id: u64,
        kind: String,
        before: TrafficSplit,
        after: TrafficSplit,
        outcome: Outcome,
        /// The split the platform reported when reconciling.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_back: Option<TrafficSplit>,
        why: String,
    },
    /// A read of the service found one revision at 100 % that the history
    /// did not know as such (changed outside the cockpit): kept so that the
    /// screen and the scripting commands, which both replay the journal,
    /// agree on the stable revision.
    ServiceObserved {
        traffic: TrafficSplit,
    },
    /// Why change `id` was made, given after it was sent (a rollback goes
    /// out at the first confirmation; its reason follows).
    TrafficReason {
        id: u64,
        kind: String,
        reason: String,
    },
    PlanStarted {
        canary: String,
        stable: String,
        spec: PlanSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canary_image: Option<String>,
    },
    /// Metrics of the canary and the stable when a phase ended.
    PhaseMetrics {
        phase: String,
        revisions: Vec<MetricSummary>,
    },
    PlanTransition {
        from: Phase,
        to: Phase,
        why: String,
    },
    Checks {
        revision: String,
        results: Vec<CheckRecord>,
    },
    Note {
        message: String,
    },
    /// The statistical judge's verdict changed: its whole evidence.
    Judge {
        evidence: Box<crate::core::judge::Evidence>,
    },
    /// A deploy sent to the platform (before the answer), then its outcome.
    DeployRequested(release::DeployRequested),
    DeployFinished(release::DeployFinished),
    /// Revisions about to be deleted, then each one's outcome.
    RevisionDeleteRequested(release::DeleteRequested),
    RevisionDeleted(release::RevisionDeleted),
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub who: Who,
    pub service: String,
    #[serde(flatten)]
    pub event: Event,
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
