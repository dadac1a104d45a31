//! A fresh baseline for the judge (`[judge] baseline = "deploy"`): what the
//! cockpit keeps while it deploys one before a plan starts, and while it
//! deletes it after the plan. The rules are in `update::baseline`; the
//! split is [`super::plan::Plan::split_for`].

use super::plan::PlanSpec;

/// The tag a baseline revision carries.
pub const TAG: &str = "baseline";

/// A plan waiting for its baseline to be deployed and ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prep {
    /// The service's traffic when the start was asked for: the plan starts
    /// only if it is still that when the baseline is ready.
    pub split: crate::core::model::TrafficSplit,
    pub spec: PlanSpec,
    pub canary: String,
    pub stable: String,
    /// Journaled with the start (`canary release --reason`).
    pub reason: Option<String>,
    /// The stable's image.
    pub image: String,
    /// The deploy in flight: its id and the revision it creates.
    pub deploy: Option<(u64, String)>,
    /// Conflicts met (the service moved under the deploy): sent again
    /// after the next read, up to [`MAX_CONFLICTS`].
    pub conflicts: u32,
    /// Cancelled (abort, a signal, a cockpit's request) while deploying:
    /// the plan will not start, the baseline is deleted.
    pub cancelled: Option<String>,
}

/// How many conflicts a baseline deploy is sent again after.
pub const MAX_CONFLICTS: u32 = 3;

/// A baseline to delete once it has no traffic and nothing else runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleanup {
    pub revision: String,
    /// Why (the plan's end), journaled with the deletion.
    pub why: String,
    /// The deletion sent, if any.
    pub delete_id: Option<u64>,
    /// Said once that it waits for the baseline's traffic to go.
    pub said_waiting: bool,
}

/// The baseline's part of the state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaselineRun {
    pub prep: Option<Prep>,
    pub cleanup: Option<Cleanup>,
    /// A plan start that was cancelled while its baseline deployed: why
    /// (a headless run ends on it, nothing was ever sent to the canary).
    pub stopped: Option<String>,
    /// The service version at which an unready baseline's share was last
    /// sent back to the stable (one try per version).
    pub pulled_at: Option<crate::core::model::Version>,
}
