//! The command line: its arguments ([`args`]), `canary journal` and `canary
//! report` ([`history`]), and the scripting commands `canary status`,
//! `canary set` and `canary rollback`, as library functions here and run
//! from the command line by [`script`].
//!
//! They apply the same rules as the screen: splits are built only valid
//! ([`crate::core::model::TrafficSplit`]: sums to 100), `canary=10` names a
//! revision or a tag and the stable revision takes the remainder
//! ([`crate::core::traffic::parse_assignment`]), no traffic goes to a revision
//! that is not ready ([`crate::core::traffic::check_ready`]), the change is
//! sent with the version it was decided on, and the audit journal gets the
//! same `traffic-requested` (before sending) and `traffic-applied` /
//! `traffic-failed` records the screen writes.
//!
//! Exit codes ([`CliError::exit_code`]): 0 done (or nothing to do), 1 refused
//! or failed, 2 bad usage.

pub mod args;
mod change;
pub mod events;
pub mod history;
pub mod plan_status;
pub mod reconcile;
pub mod release;
pub mod script;
mod status;
pub mod unattended;

use std::path::Path;

pub use args::{Args, ChangeArgs, Sub};
pub use change::{rollback, set, ChangeOutcome, ChangeReport};
pub use status::{status, RevisionStatus, Share, StatusReport};

use crate::core::error::BackendError;
use crate::core::model::ServiceSnapshot;
pub use crate::core::roles::StableFrom;
use crate::core::roles::{decide, RoleInputs, Roles};
use crate::journal::{self, Event, Journal, Who};

/// What the screen's settings would say: which tag marks the canary, and a
/// stable revision pinned in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOptions {
    pub canary_tag: String,
    /// Rollback target pinned in the config (`stable = "…"`), name or tag.
    pub stable_pin: Option<String>,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            canary_tag: "canary".into(),
            stable_pin: None,
        }
    }
}

/// Options plus the audit trail: the journal (None: not journaled, e.g.
/// `--no-journal`), who is acting and why.
pub struct Context<'a> {
    pub options: CliOptions,
    pub journal: Option<&'a mut Journal>,
    pub who: Who,
    pub reason: Option<String>,
    /// The journal `canary status` reads the plan from (it opens none for writing).
    pub plan_journal: Option<std::path::PathBuf>,
}

impl<'a> Context<'a> {
    /// `$USER` / `$SSH_CLIENT`, no reason.
    pub fn new(options: CliOptions, journal: Option<&'a mut Journal>) -> Context<'a> {
        Context {
            options,
            journal,
            who: Who::from_env(),
            reason: None,
            plan_journal: None,
        }
    }

    pub fn with_reason(mut self, reason: Option<String>) -> Context<'a> {
        self.reason = reason.filter(|r| !r.trim().is_empty());
        self
    }

    fn journal_path(&self) -> Option<&Path> {
        self.journal.as_deref().map(Journal::path)
    }

    /// Appends one record, fsynced.
    fn record(&mut self, service: &str, event: Event) -> Result<(), String> {
        let Some(j) = self.journal.as_deref_mut() else {
            return Ok(());
        };
        let record = journal::Record {
            at: chrono::Utc::now(),
            who: self.who.clone(),
            service: service.to_string(),
            event,
        };
        j.append(&record)
            .map_err(|e| format!("{}: {e}", j.path().display()))
    }
}

/// Why a command did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments: unknown revision or tag, malformed `NAME=PERCENT`,
    /// shares that do not add up. Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A guardrail said no (unready revision, stable unknown). Exit code 1.
    #[error("refused: {0}")]
    Refused(String),
    /// A change was computed but `--yes` was not given: nothing was sent.
    /// The report holds the preview. Exit code 1.
    #[error("not applied: re-run with --yes to apply {}", .0.after_flag())]
    NotConfirmed(Box<ChangeReport>),
    /// The journal could not record the request: nothing was sent. Exit code 1.
    #[error("the audit journal cannot be written ({0}): nothing was sent")]
    Journal(String),
    /// The platform failed or refused. Exit code 1.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl CliError {
    /// 2 for bad usage, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Who is stable and who is the canary, by the screen's rule
/// ([`crate::core::roles::decide`]): the pin, a plan the journal shows
/// running, the revision at 100 %, the journal's last revision at 100 %, the
/// only non-canary revision with traffic, else the largest share (a guess).
fn roles(
    snapshot: &ServiceSnapshot,
    opts: &CliOptions,
    journal: Option<&Path>,
) -> Result<Roles, CliError> {
    if let Some(pin) = opts.stable_pin.as_deref() {
        if snapshot.resolve(pin).is_none() {
            return Err(CliError::Usage(format!(
                "the pinned stable revision `{pin}` is neither a revision nor a tag of {}",
                snapshot.service
            )));
        }
    }
    let replay = journal
        .filter(|p| p.is_file())
        .and_then(|p| journal::replay(p).ok())
        .unwrap_or_default();
    let plan = replay.interrupted_plan();
    Ok(decide(RoleInputs {
        snapshot,
        pin: opts.stable_pin.as_deref(),
        canary_tag: &opts.canary_tag,
        history: &replay.role_history(),
        plan: plan.as_ref().map(|p| (p.0.as_str(), p.1.as_str())),
        pending: None,
    }))
}
