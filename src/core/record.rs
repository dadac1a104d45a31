//! The journal's records: what happened, who did it, when. Core types,
//! because `update` decides what to journal ([`crate::core::action::Effect::Journal`])
//! and the history view reads records back; [`crate::journal`] writes them as
//! JSON Lines and reads them (older journals included: the serde shape here
//! is the file format, pinned by `src/journal`'s test on a journal an older binary wrote, and `tests/core/journal.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::TrafficSplit;
use super::plan::{Phase, PlanSpec};

/// Who did it: the login and, over SSH, the client address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
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
        evidence: Box<super::judge::Evidence>,
    },
    /// The fixed thresholds' verdict changed while they only observe
    /// (`[gates] mode = "observe"`): what they would have done, never acted on.
    GatesObserved(GatesObserved),
    /// A deploy sent to the platform (before the answer), then its outcome.
    DeployRequested(super::release::DeployRequested),
    DeployFinished(super::release::DeployFinished),
    /// Revisions about to be deleted, then each one's outcome.
    RevisionDeleteRequested(super::release::DeleteRequested),
    RevisionDeleted(super::release::RevisionDeleted),
}

/// The thresholds' verdict while they only observe, and the numbers (means
/// over the gates' window) it was reached on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatesObserved {
    /// `green`, `no-data`, `confirming` (red, not yet for `sustain`) or `red`.
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    pub canary: Option<String>,
    pub error_percent: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_error_percent: f64,
    pub max_p95_ms: f64,
}

impl GatesObserved {
    /// `thresholds (observe only): red — canary 5xx 1.30 % > gate 1 % (not acted on)`.
    pub fn text(&self) -> String {
        let why = self
            .why
            .as_deref()
            .map_or(String::new(), |w| format!(" — {w}"));
        let acted = match self.verdict.as_str() {
            "red" | "confirming" => " (not acted on)",
            _ => "",
        };
        format!("thresholds (observe only): {}{why}{acted}", self.verdict)
    }
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
