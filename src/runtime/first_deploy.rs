//! `canary release --image`: before the plan, the new revision is deployed
//! exactly as the cockpit's `D` then `y` deploy it (the same `update`, the
//! same request journaled before anything is sent, the same outcome
//! records; the command line is the confirmation), waited for until ready,
//! and checked on its tag URL by the battery the cockpit runs after a
//! deploy. Then the plan starts with it as the canary; or the run ends:
//! the deploy failed (exit 1), or a blocking check failed before any
//! traffic (exit 3: the canary was bad, and nothing needs rolling back).

use super::headless::{Ending, Seen, Watcher};
use super::Engine;
use crate::core::action::{Action, DriveRequest};
use crate::core::state::{Mode, State};

/// What to deploy first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deploy {
    /// REPOSITORY:TAG or REPOSITORY@sha256:…
    pub image: String,
    /// The traffic tag (default `[deploy] tag`).
    pub tag: Option<String>,
    /// `KEY=VALUE`, plain values (journaled by name only).
    pub env: Vec<String>,
}

/// How many times a deploy refused as a conflict (the service moved under
/// it) is made again before the run gives up.
const CONFLICTS: u32 = 3;

enum Stage {
    /// Not sent yet (or to be sent again after a conflict).
    Send,
    /// Sent: the platform is creating the revision.
    Deploying { id: u64, revision: String },
    /// Ready at 0 %: the battery runs against its tag URL.
    Checking { revision: String, battery: u64 },
}

/// What the run does next.
pub(super) enum Next {
    /// Keep going: the deploy or its checks are still running.
    Wait,
    /// Deployed, ready and checked: start the plan with it as the canary.
    Canary(String),
    /// The run ends here.
    End(Ending),
}

pub(super) struct FirstDeploy {
    deploy: Deploy,
    reason: Option<String>,
    stage: Stage,
    conflicts: u32,
}

impl FirstDeploy {
    pub(super) fn new(deploy: Deploy, reason: Option<String>) -> FirstDeploy {
        FirstDeploy {
            deploy,
            reason,
            stage: Stage::Send,
            conflicts: 0,
        }
    }

    /// Called after every batch of actions once the service has been read;
    /// `stopping`: the run was cancelled or timed out.
    pub(super) fn poll(
        &mut self,
        state: &mut State,
        engine: &mut Engine,
        watcher: &mut dyn Watcher,
        stopping: bool,
    ) -> Next {
        match &self.stage {
            Stage::Send => {
                if stopping {
                    return Next::End(Ending::Waiting(
                        "stopped before the deploy was sent: nothing was changed".into(),
                    ));
                }
                // A release always checks the new revision before it gets
                // traffic, whatever the screen's `[deploy] checks` says.
                state.settings.release.checks_after_deploy = true;
                let request = DriveRequest::Deploy {
                    image: self.deploy.image.clone(),
                    tag: self.deploy.tag.clone(),
                    env: self.deploy.env.clone(),
                    reason: self.reason.clone(),
                };
                let effects = engine.step(state, Action::Drive(request));
                watcher.saw(state, &Seen::Other, &effects);
                match &state.release.deploy {
                    Some(d) => {
                        self.stage = Stage::Deploying {
                            id: d.id,
                            revision: d.request.revision.clone(),
                        };
                        Next::Wait
                    }
                    None => Next::End(Ending::Failed(format!(
                        "the deploy was not sent: {}",
                        state
                            .message
                            .as_ref()
                            .map_or("refused".to_string(), |m| m.text.clone())
                    ))),
                }
            }
            Stage::Deploying { id, revision } => {
                if state.release.deploy.as_ref().is_some_and(|d| d.id == *id) {
                    return Next::Wait;
                }
                // A conflict: the service is read again (then the screen
                // would ask again); made again on what is there now.
                let reasked = matches!(&state.mode, Mode::Release(_));
                if state.release.conflicted.is_some() || reasked {
                    if !reasked {
                        return Next::Wait;
                    }
                    self.conflicts += 1;
                    if self.conflicts > CONFLICTS {
                        return Next::End(Ending::Failed(format!(
                            "the service kept changing under the deploy ({CONFLICTS} conflicts): \
                             nothing was deployed"
                        )));
                    }
                    self.stage = Stage::Send;
                    return self.poll(state, engine, watcher, stopping);
                }
                let revision = revision.clone();
                match &state.release.last_deploy {
                    Some((r, Err(e))) if *r == revision => Next::End(Ending::Failed(format!(
                        "the deploy of {revision} failed: {}; no traffic was changed",
                        e.trim_end_matches('.')
                    ))),
                    Some((r, Ok(()))) if *r == revision => {
                        let checking = state
                            .battery
                            .as_ref()
                            .filter(|b| b.revision == revision && b.finished.is_none())
                            .map(|b| b.id);
                        match checking {
                            _ if stopping => Next::End(stopped(&revision)),
                            Some(battery) => {
                                self.stage = Stage::Checking { revision, battery };
                                Next::Wait
                            }
                            // No checks configured: nothing to wait for.
                            None => Next::Canary(revision),
                        }
                    }
                    _ => Next::Wait,
                }
            }
            Stage::Checking { revision, battery } => {
                let revision = revision.clone();
                let Some(b) = state.battery.as_ref().filter(|b| b.id == *battery) else {
                    return Next::End(Ending::Failed(format!(
                        "the checks of {revision} were replaced by another battery"
                    )));
                };
                if b.finished.is_none() {
                    return if stopping {
                        Next::End(stopped(&revision))
                    } else {
                        Next::Wait
                    };
                }
                let failed: Vec<String> = b
                    .blocking_failures()
                    .iter()
                    .map(|r| {
                        let res = r.result.as_ref();
                        let numbers = match (
                            res.and_then(|x| x.measured.as_deref()),
                            res.and_then(|x| x.expected.as_deref()),
                        ) {
                            (Some(m), Some(e)) => format!(", {m} vs {e}"),
                            _ => String::new(),
                        };
                        format!(
                            "{} ({}{numbers})",
                            r.info.name,
                            res.map_or("failed", |x| x.reason.as_str())
                        )
                    })
                    .collect();
                let names: Vec<String> = b
                    .blocking_failures()
                    .iter()
                    .map(|r| r.info.name.clone())
                    .collect();
                if failed.is_empty() {
                    return if stopping {
                        Next::End(stopped(&revision))
                    } else {
                        Next::Canary(revision)
                    };
                }
                let reason = format!(
                    "{} blocking check{} failed on the tag URL of {revision}: {}",
                    failed.len(),
                    if failed.len() == 1 { "" } else { "s" },
                    failed.join("; ")
                );
                let request = DriveRequest::Reject {
                    revision: revision.clone(),
                    reason: reason.clone(),
                };
                let effects = engine.step(state, Action::Drive(request));
                let tag = state
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.revision(&revision))
                    .and_then(|r| r.tag.clone());
                let seen = Seen::Rejected {
                    revision,
                    tag,
                    failed: names,
                    reason: reason.clone(),
                };
                watcher.saw(state, &seen, &effects);
                Next::End(Ending::Rejected(reason))
            }
        }
    }
}

/// Cancelled or timed out once the revision exists: it stays at 0 %, the
/// plan never started; a human decides.
fn stopped(revision: &str) -> Ending {
    Ending::Waiting(format!(
        "stopped before the plan started: {revision} is deployed at 0 % with its tag; \
         no traffic was changed"
    ))
}
