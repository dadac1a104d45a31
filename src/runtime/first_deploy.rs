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
use crate::core::state::{CheckRow, Mode, State};

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
                // Before any traffic a metric has no data: that is no
                // verdict on the canary (the plan's first step checks again,
                // with traffic, and there it counts).
                let (unjudged, failures): (Vec<&CheckRow>, Vec<&CheckRow>) = b
                    .blocking_failures()
                    .into_iter()
                    .partition(|r| r.result.as_ref().is_some_and(|x| x.no_data()));
                let unjudged: Vec<String> = unjudged.iter().map(|r| r.info.name.clone()).collect();
                let failed: Vec<String> = failures
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
                let names: Vec<String> = failures.iter().map(|r| r.info.name.clone()).collect();
                if failed.is_empty() {
                    if !unjudged.is_empty() {
                        let message = format!(
                            "before any traffic, no data for {} on {revision}: not a verdict; \
                             checked again with traffic at the plan's first step",
                            unjudged.join(", ")
                        );
                        let effects =
                            engine.step(state, Action::Drive(DriveRequest::Note { message }));
                        watcher.saw(state, &Seen::Other, &effects);
                    }
                    return if stopping {
                        Next::End(stopped(&revision))
                    } else {
                        Next::Canary(revision)
                    };
                }
                let reason = format!(
                    "{} blocking check{} failed on {revision} before any traffic: {}",
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::Utc;

    use super::*;
    use crate::core::action::Effect;
    use crate::core::error::BackendError;
    use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
    use crate::core::plan::{OnCancel, PlanMode, PlanSpec, PlanStep};
    use crate::core::release::DeployRequest;
    use crate::core::state::Settings;
    use crate::platform::release::{Releases, SnapshotSink};
    use crate::platform::simulator::{Scenario, Simulator};
    use crate::platform::Platform;
    use crate::runtime::headless::{self, Options};
    use crate::runtime::{Backends, Timing};

    /// The simulator, whose first `conflicts` deploys are refused as a
    /// conflict (the service moved: nothing was created).
    struct Conflicting {
        sim: Simulator,
        conflicts: AtomicUsize,
        /// How long each deploy takes before the simulator's own.
        slow: Duration,
    }

    #[async_trait]
    impl Platform for Conflicting {
        fn info(&self) -> PlatformInfo {
            self.sim.info()
        }
        async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
            self.sim.snapshot().await
        }
        async fn set_traffic(
            &self,
            split: &TrafficSplit,
            expect: &Version,
        ) -> Result<ServiceSnapshot, BackendError> {
            self.sim.set_traffic(split, expect).await
        }
        fn releases(&self) -> Result<&dyn Releases, String> {
            Ok(self)
        }
    }

    #[async_trait]
    impl Releases for Conflicting {
        async fn deploy(
            &self,
            request: &DeployRequest,
            expect: &Version,
            progress: SnapshotSink,
        ) -> Result<ServiceSnapshot, BackendError> {
            tokio::time::sleep(self.slow).await;
            let left = self.conflicts.load(Ordering::SeqCst);
            if left > 0 {
                self.conflicts.store(left - 1, Ordering::SeqCst);
                return Err(BackendError::Conflict("the etag moved".into()));
            }
            self.sim
                .releases()
                .expect("the simulator deploys")
                .deploy(request, expect, progress)
                .await
        }
        async fn delete_revision(
            &self,
            revision: &str,
            progress: SnapshotSink,
        ) -> Result<ServiceSnapshot, BackendError> {
            self.sim
                .releases()
                .expect("the simulator deletes")
                .delete_revision(revision, progress)
                .await
        }
    }

    #[derive(Default)]
    struct Seeing(Vec<Seen>);

    impl Watcher for Seeing {
        fn saw(&mut self, _: &State, seen: &Seen, _: &[Effect]) {
            self.0.push(seen.clone());
        }
    }

    /// `--image r/app:2 --steps 20:1m,100 --auto` against the healthy
    /// simulator whose first `conflicts` deploys are conflicts.
    async fn release(conflicts: usize) -> (State, Ending, Vec<Seen>) {
        release_with(conflicts, None).await
    }

    /// As [`release`]; `abort_after`: a cockpit's abort arrives (from the
    /// lease) that long after the start.
    async fn release_with(
        conflicts: usize,
        abort_after: Option<Duration>,
    ) -> (State, Ending, Vec<Seen>) {
        release_slow(conflicts, abort_after, Duration::ZERO, None).await
    }

    /// As [`release_with`]; each deploy takes `slow` more, and SIGTERM
    /// comes `sigterm_after` the start.
    async fn release_slow(
        conflicts: usize,
        abort_after: Option<Duration>,
        slow: Duration,
        sigterm_after: Option<Duration>,
    ) -> (State, Ending, Vec<Seen>) {
        let sim = Simulator::new(Scenario::builtin("healthy").expect("scenario"), 1);
        let platform: Arc<dyn Platform> = Arc::new(Conflicting {
            sim,
            conflicts: AtomicUsize::new(conflicts),
            slow,
        });
        let state = State::new(Settings::default(), platform.info(), Utc::now());
        let spec = PlanSpec {
            steps: vec![
                PlanStep {
                    percent: 20,
                    observe: Duration::from_secs(60),
                },
                PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                },
            ],
            mode: PlanMode::Auto,
            ..PlanSpec::domain_default()
        };
        let (cancel_tx, cancel) = tokio::sync::mpsc::channel(1);
        if let Some(after) = sigterm_after {
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = cancel_tx.send("SIGTERM").await;
            });
        } else {
            // Kept open: a closed channel is no cancellation.
            std::mem::forget(cancel_tx);
        }
        let opts = Options {
            spec,
            reason: None,
            timeout: Duration::from_secs(3600),
            on_cancel: OnCancel::Pause,
            cancel,
            deploy: Some(Deploy {
                image: "r/app:2".into(),
                tag: None,
                env: Vec::new(),
            }),
        };
        let backends = Backends::bare(platform);
        let timing = Timing {
            service: Duration::from_millis(200),
            ..Timing::default()
        };
        let (tx, rx) = super::super::channel();
        if let Some(after) = abort_after {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let request = crate::core::lease::RemoteRequest {
                    kind: crate::core::lease::RequestKind::Abort,
                    by: "bob@laptop".into(),
                    at: Utc::now(),
                    acked: None,
                };
                let _ = tx
                    .send(crate::core::action::Action::Drive(
                        crate::core::action::DriveRequest::Remote(request),
                    ))
                    .await;
            });
        }
        let mut seeing = Seeing::default();
        let (state, ending) =
            headless::run(state, backends, timing, opts, tx, rx, &mut seeing).await;
        (state, ending, seeing.0)
    }

    fn deploys(seen: &[Seen]) -> Vec<Option<&'static str>> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Deployed { error, .. } => Some(error.as_ref().map(|e| e.1)),
                _ => None,
            })
            .collect()
    }

    /// A deploy refused as a conflict (a lease renewal moved the etag) is
    /// made again on what is there now; the plan then drives the new
    /// revision, not the old one tagged `canary`. (No metrics here: the
    /// run pauses for a human at the end of its window.)
    #[tokio::test(start_paused = true)]
    async fn a_deploy_refused_as_a_conflict_is_made_again_then_the_plan_drives_it() {
        let (state, ending, seen) = release(1).await;
        assert_eq!(deploys(&seen), [Some("conflict"), None], "{seen:?}");
        let plan = state.plan.as_ref().expect("the plan started");
        let deployed = state
            .release
            .last_deploy
            .as_ref()
            .map(|(r, _)| r.clone())
            .expect("deployed");
        assert_eq!(plan.canary, deployed);
        assert_ne!(plan.canary, "emergence-app-00043-kaw");
        assert!(matches!(ending, Ending::Waiting(_)), "{ending:?}");
    }

    /// A cockpit's abort while the image deploys: the run stops before the
    /// plan starts; no traffic moves to the revision someone asked to abort.
    #[tokio::test(start_paused = true)]
    async fn an_abort_from_a_cockpit_during_the_deploy_stops_before_any_traffic() {
        let (state, ending, seen) = release_with(0, Some(Duration::from_millis(700))).await;
        assert!(
            seen.iter().any(|s| matches!(s, Seen::Remote(_))),
            "the request was seen: {seen:?}"
        );
        assert!(state.plan.is_none(), "the plan never started");
        let snapshot = state.snapshot.as_ref().expect("read");
        if let Some((revision, _)) = &state.release.last_deploy {
            assert_eq!(snapshot.traffic.percent_of(revision), 0, "{snapshot:?}");
        }
        assert!(state.change.is_none(), "nothing in flight");
        match ending {
            Ending::Waiting(why) => assert!(why.contains("no traffic was changed"), "{why}"),
            other => panic!("expected a stop before traffic, got {other:?}"),
        }
    }

    /// SIGTERM while a deploy takes longer than the settle bound (a Cloud
    /// Run deploy: 1–2 minutes): the run waits for it, journals its outcome
    /// once and stops before any traffic (exit 4), instead of failing with
    /// the deploy's outcome unjournaled.
    #[tokio::test(start_paused = true)]
    async fn sigterm_during_a_long_deploy_waits_for_its_outcome() {
        let (state, ending, seen) = release_slow(
            0,
            None,
            Duration::from_secs(90),
            Some(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(deploys(&seen), [None], "one outcome, known: {seen:?}");
        assert!(state.plan.is_none(), "the plan never started");
        match ending {
            Ending::Waiting(why) => assert!(why.contains("no traffic was changed"), "{why}"),
            other => panic!("expected a stop before traffic, got {other:?}"),
        }
    }

    /// A service that keeps moving: the run gives up, nothing deployed.
    #[tokio::test(start_paused = true)]
    async fn a_deploy_that_keeps_conflicting_fails_the_run() {
        let (state, ending, seen) = release(usize::MAX).await;
        assert_eq!(deploys(&seen).len(), CONFLICTS as usize + 1, "{seen:?}");
        assert!(state.plan.is_none());
        match ending {
            Ending::Failed(why) => assert!(why.contains("kept changing"), "{why}"),
            other => panic!("expected failed, got {other:?}"),
        }
    }
}
