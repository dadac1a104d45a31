//! Everything that can happen ([`Action`]) and everything the core asks the
//! runtime to do ([`Effect`]).

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::error::BackendError;
use super::model::{LogEntry, MetricsBatch, ServiceSnapshot, TrafficSplit, Version};

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
    /// A read of the service finished. `requested_at` orders it against traffic changes.
    ServiceLoaded {
        snapshot: ServiceSnapshot,
        requested_at: DateTime<Utc>,
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
    /// SIGTERM / SIGHUP / SIGINT: leave now, restoring the terminal.
    Terminate(&'static str),
}

/// What a change is, for confirmations, messages and (later) the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Shift,
    Set,
    Promote,
    Rollback,
}

impl ChangeKind {
    pub fn verb(self) -> &'static str {
        match self {
            ChangeKind::Shift => "shift",
            ChangeKind::Set => "set split",
            ChangeKind::Promote => "promote",
            ChangeKind::Rollback => "rollback",
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
    },
    /// The set of revisions changed: metrics pollers should ask for these.
    WatchRevisions(Vec<String>),
    /// Leave the event loop and restore the terminal.
    Quit,
}
