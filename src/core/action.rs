//! Everything that can happen ([`Action`]) and everything the core asks the
//! runtime to do ([`Effect`]).

use super::error::{BackendError, Progress};
use super::key::KeyEvent;
use super::model::{LogEntry, MetricsBatch, ServiceSnapshot, TrafficSplit, Version};
use super::record::{Event, Record};
use super::state::CheckResult;

/// An input to [`super::update::update`]: a key, a tick, or a result from a
/// background task.
#[derive(Clone, Debug)]
pub enum Action {
    /// Time passed (the clock comes with every action as `now`).
    Tick,
    /// A key press; the state's keymap and mode decide what it means.
    Key(KeyEvent),
    /// Text pasted into the terminal (only used by input boxes).
    Paste(String),
    /// The terminal was resized: redraw.
    Resize,
    /// A read of the service finished. `generation`: the state's
    /// [`write_generation`](crate::core::state::State::write_generation) when
    /// the read started, which orders it against traffic changes.
    ServiceLoaded {
        snapshot: ServiceSnapshot,
        generation: u64,
    },
    ServiceFailed(BackendError),
    /// The platform confirmed traffic change `id`.
    TrafficApplied {
        id: u64,
        snapshot: ServiceSnapshot,
    },
    TrafficFailed {
        id: u64,
        error: BackendError,
    },
    LogBatch(Vec<LogEntry>),
    LogsFailed(BackendError),
    MetricsLoaded(MetricsBatch),
    MetricsFailed(BackendError),
    /// A check of battery `battery` started running.
    CheckStarted {
        battery: u64,
        index: usize,
    },
    /// A check of battery `battery` finished.
    CheckFinished {
        battery: u64,
        index: usize,
        result: CheckResult,
    },
    /// Writing the audit journal failed: shown loudly, never silent.
    JournalFailed(String),
    /// The journal's state changed: `Some(why)` broken, `None` writable again.
    JournalHealth(Option<String>),
    /// A backend call is being tried again, or an unclear answer was resolved.
    Progress(Progress),
    /// Changes a crash left without an outcome were reconciled against the
    /// platform on start: one line each, shown once.
    Reconciled(Vec<String>),
    /// A webhook notification gave up after its retries.
    NotifyFailed(String),
    /// The journal was read for the history view (newest last).
    JournalLoaded(Result<Vec<Record>, String>),
    /// The Markdown report was written (its path), or why not.
    ReportWritten(Result<String, String>),
    /// SIGTERM / SIGHUP / SIGINT: leave now, restoring the terminal.
    Terminate(&'static str),
    /// A deploy or a deletion of revisions finished (or one step of it).
    Release(super::release::ReleaseEvent),
    /// A revision kept warm was scaled to 0 (what was done), or not.
    ScaledDown {
        revision: String,
        result: Result<String, BackendError>,
    },
    /// A request to the plan from no key: `canary release` starting its
    /// plan, pausing or rolling back when cancelled.
    Drive(DriveRequest),
    /// The driver's lease was read (`None`: nobody holds it), with where
    /// it is kept.
    LeaseRead {
        lease: Result<Option<super::lease::LeaseInfo>, String>,
        location: String,
    },
    /// This cockpit's request was written into the lease (as written), or why not.
    LeaseRequested(Result<super::lease::RemoteRequest, String>),
}

/// What a headless driver (or a remote cockpit) asks of the plan.
#[derive(Clone, Debug, PartialEq)]
pub enum DriveRequest {
    /// Start this plan for the canary, rolling back to the stable (roles).
    Start {
        spec: super::plan::PlanSpec,
        reason: Option<String>,
    },
    /// Pause a running plan (nothing advances, nothing rolls back).
    Pause { reason: String },
    /// Resume a paused plan.
    Resume,
    /// Abort: roll back to the plan's stable.
    Abort { reason: String },
    /// Nobody sits at a headless run: answer the question a conflict
    /// re-asked (the service's version moved under a plan step). Sent again
    /// when the traffic is still the last split confirmed (only the version
    /// moved); else the plan pauses: the split changed under the driver.
    AnswerReask,
    /// The split the platform serves is not the plan's: someone else moved
    /// it. The plan pauses (the driver stops instead of fighting).
    SplitMoved { reason: String },
    /// A cockpit's request, read from the driver's lease: pause, resume or
    /// abort, by whom (`user@host`), written when. Journaled with who asked.
    Remote(crate::core::lease::RemoteRequest),
}

/// A change's number as the screen shows it: `#4821`, the last four digits
/// of its id (ids are unique across sessions, hence long; the journal keeps
/// them whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeNo(pub u64);

impl std::fmt::Display for ChangeNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 >= 100_000 {
            write!(f, "#{:04}", self.0 % 10_000)
        } else {
            write!(f, "#{}", self.0)
        }
    }
}

#[cfg(test)]
mod change_no_tests {
    use super::ChangeNo;

    #[test]
    fn long_ids_show_their_last_four_digits() {
        assert_eq!(ChangeNo(7).to_string(), "#7");
        assert_eq!(ChangeNo(1_764_491_234_567_890).to_string(), "#7890");
        assert_eq!(ChangeNo(1_764_491_234_560_012).to_string(), "#0012");
    }
}

/// What a change is, for confirmations, messages and (later) the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Shift,
    Set,
    Promote,
    Rollback,
    /// A step of the promotion plan (0-based).
    Plan(usize),
}

impl ChangeKind {
    pub fn verb(self) -> String {
        match self {
            ChangeKind::Shift => "shift".into(),
            ChangeKind::Set => "set split".into(),
            ChangeKind::Promote => "promote".into(),
            ChangeKind::Rollback => "rollback".into(),
            ChangeKind::Plan(step) => format!("plan step {}", step + 1),
        }
    }
}

/// Work for the runtime; each becomes a background task that sends actions back.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Read the service now (besides the periodic refresh).
    RefreshService,
    /// Apply a split, if the service is still at `expect`.
    SetTraffic {
        id: u64,
        split: TrafficSplit,
        expect: Version,
        kind: ChangeKind,
        /// The split before, for the journal.
        before: TrafficSplit,
        reason: Option<String>,
    },
    /// Run the verification battery against a revision; results come back as
    /// `CheckStarted` / `CheckFinished` for each check index.
    RunChecks {
        battery: u64,
        revision: String,
        tag_url: Option<String>,
        service_url: Option<String>,
        /// The rollback target, for checks that compare the canary with it.
        stable: Option<String>,
    },
    /// Append a record to the audit journal (fsynced).
    Journal(Event),
    /// Tell the team (Slack-compatible webhook); never blocks traffic.
    Notify(String),
    /// The set of revisions changed: metrics pollers should ask for these.
    WatchRevisions(Vec<String>),
    /// The log tail shows one revision (`None`: all): sources that can read
    /// less should.
    FocusLogs(Option<String>),
    /// Read the audit journal for the history view.
    LoadJournal,
    /// Write the Markdown deployment report next to the journal.
    WriteReport,
    /// Put text on the terminal's clipboard (OSC 52) and in the diagnostic
    /// log (terminals that refuse OSC 52 still leave a copy there).
    Copy(String),
    /// Leave the event loop and restore the terminal.
    Quit,
    /// Deploy a revision, or delete some (journaled before anything is sent).
    Release(super::release::ReleaseEffect),
    /// Scale a revision that no longer serves to 0 (blue/green's old colour
    /// once its keep-warm time is over).
    ScaleDown { revision: String },
    /// Write this request into the driver's lease (the runtime adds who
    /// asks, `user@host`, and when), with the platform's concurrency control.
    RequestLease(super::lease::RequestKind),
}
