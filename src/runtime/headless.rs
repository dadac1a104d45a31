//! The engine without a terminal: `canary release`. The same [`Engine`]
//! as the cockpit (pollers, `update`, effects as background tasks, the
//! journal recorder and the notifier); no screen, no raw mode, no keys.
//! It starts the plan once the service has been read, feeds ticks and
//! results to `update`, and stops when the plan is finished or needs a
//! human (paused, waiting for approval, the timeout), or when cancelled,
//! after putting the plan in the safe state the config chose.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{drain, sleep_until_opt, Backends, Engine, Timing, SETTLE};
use crate::core::action::{Action, DriveRequest, Effect};
use crate::core::plan::{Phase, PlanSpec};
use crate::core::state::State;

pub use super::first_deploy::Deploy;
pub use crate::core::plan::OnCancel;

/// Sent on the cancel channel when the driver's lease was lost: the run
/// pauses whatever `on_cancel` says (someone else drives now).
pub const LEASE_LOST: &str = "lease-lost";

/// How a headless run goes.
pub struct Options {
    pub spec: PlanSpec,
    /// Journaled with the start.
    pub reason: Option<String>,
    /// The whole run must end by then: the plan is paused (exit "waiting").
    pub timeout: Duration,
    pub on_cancel: OnCancel,
    /// A signal's name, when the run is cancelled.
    pub cancel: mpsc::Receiver<&'static str>,
    /// `--image`: deployed and checked on its tag URL first; the plan's
    /// canary is then the new revision.
    pub deploy: Option<Deploy>,
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The canary is at 100 %.
    Promoted,
    /// The plan rolled back (a gate or check failed, or cancelled with rollback).
    RolledBack(String),
    /// Stopped, waiting for a human: paused, waiting for approval, no data
    /// at the end of the timeout.
    Waiting(String),
    /// Could not act: a step or the rollback failed on the platform, the
    /// service could not be read, the start was refused.
    Failed(String),
    /// The revision deployed by `--image` failed a blocking check on its
    /// tag URL before any traffic: the canary was bad, nothing to roll back.
    Rejected(String),
}

/// What an action was, kept before `update` consumes it (for watchers).
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// New metrics: the gates were evaluated on fresh numbers.
    Metrics,
    /// A traffic change failed on the platform.
    TrafficFailed {
        id: u64,
        error: String,
    },
    /// The run was cancelled by this signal.
    Cancelled {
        signal: &'static str,
        then: OnCancel,
    },
    /// The timeout ran out.
    TimedOut,
    /// The journal could not be written.
    JournalFailed(String),
    /// A notification gave up.
    NotifyFailed(String),
    /// A deploy finished: `error` is the message and `failed`, `unknown`
    /// (its outcome could not be read back) or `conflict` (asked again).
    Deployed {
        id: u64,
        error: Option<(String, &'static str)>,
    },
    /// The deployed revision failed blocking checks before any traffic.
    Rejected {
        revision: String,
        tag: Option<String>,
        failed: Vec<String>,
        reason: String,
    },
    /// A cockpit's request, read from the lease.
    Remote(crate::core::lease::RemoteRequest),
    Other,
}

impl Seen {
    fn of(action: &Action) -> Seen {
        match action {
            Action::MetricsLoaded(_) | Action::MetricsFailed(_) => Seen::Metrics,
            Action::TrafficFailed { id, error } => Seen::TrafficFailed {
                id: *id,
                error: error.to_string(),
            },
            Action::JournalFailed(e) => Seen::JournalFailed(e.clone()),
            Action::NotifyFailed(e) => Seen::NotifyFailed(e.clone()),
            Action::Release(crate::core::release::ReleaseEvent::Deployed { id, result }) => {
                use crate::core::error::BackendError;
                Seen::Deployed {
                    id: *id,
                    error: result.as_ref().err().map(|e| {
                        let outcome = match e {
                            BackendError::Unconfirmed { .. } => "unknown",
                            BackendError::Conflict(_) => "conflict",
                            _ => "failed",
                        };
                        (e.to_string(), outcome)
                    }),
                }
            }
            Action::Drive(DriveRequest::Remote(r)) => Seen::Remote(r.clone()),
            _ => Seen::Other,
        }
    }
}

/// Watches the engine: every action that went through `update`, the state
/// after it and the effects it produced.
pub trait Watcher {
    fn saw(&mut self, state: &State, seen: &Seen, effects: &[Effect]);
}

/// Runs the plan headless until it ends; returns the final state and why.
pub async fn run(
    mut state: State,
    backends: Backends,
    timing: Timing,
    mut opts: Options,
    tx: mpsc::Sender<Action>,
    mut rx: mpsc::Receiver<Action>,
    watcher: &mut dyn Watcher,
) -> (State, Ending) {
    let mut engine = Engine::start(&state, backends, &timing, &tx);
    let mut tick = tokio::time::interval(timing.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let deadline = Instant::now() + opts.timeout;
    // After the timeout or a cancellation: the plan is being put in its
    // safe state; the run ends when it is there, or at this bound.
    let mut settling: Option<(Instant, Option<String>)> = None;
    let mut started = false;
    // A step failed on the platform and paused the plan: no human can fix
    // that by resuming, the run failed (exit 1), unlike a pause it chose.
    let mut step_failed = false;
    let mut cancel_open = true;
    let mut first_deploy = opts
        .deploy
        .take()
        .map(|d| super::first_deploy::FirstDeploy::new(d, opts.reason.clone()));
    // Paused by a cockpit's request (written into the lease): the driver
    // keeps the lease and waits for a resume or an abort, until its timeout
    // (exit 4 then), instead of ending: a cockpit on another machine has
    // no other way to hand the plan back.
    let mut held = false;

    let ending = 'main: loop {
        let bound = settling.as_ref().map(|(at, _)| *at);
        let (action, seen) = tokio::select! {
            Some(a) = rx.recv() => (a, None),
            _ = tick.tick() => (Action::Tick, None),
            sig = opts.cancel.recv(), if cancel_open => match sig {
                None => { cancel_open = false; continue }
                Some(signal) => {
                    cancel_open = false;
                    settling = Some((Instant::now() + SETTLE, None));
                    // A lost lease means someone else drives now: stop, never fight.
                    let then = if signal == LEASE_LOST { OnCancel::Pause } else { opts.on_cancel };
                    let reason = if signal == LEASE_LOST {
                        "the lease was lost: another driver took over".to_string()
                    } else {
                        format!("{signal}: the release was cancelled")
                    };
                    let request = match then {
                        OnCancel::Pause => DriveRequest::Pause { reason },
                        OnCancel::Rollback => DriveRequest::Abort { reason },
                    };
                    (Action::Drive(request), Some(Seen::Cancelled { signal, then }))
                }
            },
            _ = tokio::time::sleep_until(deadline), if settling.is_none() => {
                let why = format!(
                    "the release's timeout ({}) ran out",
                    crate::core::duration::format(opts.timeout)
                );
                settling = Some((Instant::now() + SETTLE, Some(why.clone())));
                (Action::Drive(DriveRequest::Pause { reason: why }), Some(Seen::TimedOut))
            },
            _ = sleep_until_opt(bound) => {
                // A deploy in flight is waited for (its task ends at the
                // platform's own deploy timeout with a journaled outcome):
                // cut off, its outcome would go unjournaled and the lease
                // given back while the revision is still being created.
                if state.release.deploy.is_some() {
                    if let Some(s) = settling.as_mut() {
                        s.0 = Instant::now() + SETTLE;
                    }
                    continue;
                }
                break 'main Ending::Failed(
                    "the plan did not reach a safe state in time (a change still in flight)".into(),
                );
            }
        };
        // What was seen (a signal, the timeout) belongs to the first action of
        // the batch only: the actions drained with it are reported for what
        // they are, or a cancellation would be told once per action.
        let mut seen = seen;
        for action in engine.batch(action, &state, &mut rx) {
            let seen = seen.take().unwrap_or_else(|| Seen::of(&action));
            if let Seen::Remote(r) = &seen {
                held = r.kind == crate::core::lease::RequestKind::Pause;
                // Before the plan started (deploying, checking the new
                // revision): a pause or an abort stops the run there, before
                // any traffic; nothing reaches a plan the journal resumed
                // (an old, interrupted one: never driven by this run).
                if !started {
                    if r.kind != crate::core::lease::RequestKind::Resume && settling.is_none() {
                        settling = Some((
                            Instant::now() + SETTLE,
                            Some(format!("{}: stopped before the plan started", r.describe())),
                        ));
                    }
                    if state.plan.is_some() {
                        watcher.saw(&state, &seen, &[]);
                        continue;
                    }
                }
            }
            let applying = matches!(state.active_phase(), Some(Phase::Applying { .. }));
            let effects = engine.step(&mut state, action);
            // Only the failure that paused the plan: a conflict re-asked and
            // sent again (a lease renewal moved the etag) is no failure.
            step_failed |= matches!(seen, Seen::TrafficFailed { .. })
                && applying
                && matches!(state.active_phase(), Some(Phase::Paused { .. }));
            watcher.saw(&state, &seen, &effects);
        }
        engine.reap();

        if !started {
            if state.snapshot.is_none() {
                if let Some((_, why)) = &settling {
                    let read = state
                        .service_health
                        .error
                        .as_ref()
                        .map_or(String::new(), |(e, _)| format!(": {e}"));
                    break 'main Ending::Failed(format!(
                        "{}; the service was never read{read}",
                        why.clone().unwrap_or_else(|| "cancelled".into())
                    ));
                }
                continue;
            }
            // `--image`: deployed and checked first, then the canary.
            let canary = match first_deploy
                .as_mut()
                .map(|d| d.poll(&mut state, &mut engine, watcher, settling.is_some()))
            {
                None => None,
                Some(super::first_deploy::Next::Wait) => continue,
                Some(super::first_deploy::Next::Canary(c)) => Some(c),
                Some(super::first_deploy::Next::End(end)) => break 'main end,
            };
            started = true;
            let (spec, reason) = (opts.spec.clone(), opts.reason.clone());
            let request = match canary {
                Some(canary) => DriveRequest::StartFor {
                    canary,
                    spec,
                    reason,
                },
                None => DriveRequest::Start { spec, reason },
            };
            let effects = engine.step(&mut state, Action::Drive(request));
            watcher.saw(&state, &Seen::Other, &effects);
            // (A plan whose baseline deploys first starts when it is ready.)
            if state.active_phase().is_none() && state.baseline.prep.is_none() {
                let why = state
                    .message
                    .as_ref()
                    .map_or("the plan could not start".into(), |m| m.text.clone());
                break 'main Ending::Failed(why);
            }
        }
        // Nobody answers a dialog here: a conflict's re-ask is answered
        // (sent again if only the version moved), and a split someone else
        // set stops the driver.
        if matches!(state.mode, crate::core::state::Mode::Confirm(_)) {
            let effects = engine.step(&mut state, Action::Drive(DriveRequest::AnswerReask));
            watcher.saw(&state, &Seen::Other, &effects);
        }
        if let Some(reason) = crate::core::update::split_moved(&state) {
            let effects = engine.step(
                &mut state,
                Action::Drive(DriveRequest::SplitMoved { reason }),
            );
            watcher.saw(&state, &Seen::Other, &effects);
        }
        // Resumed (or aborted): the hold is over.
        if held && !matches!(state.active_phase(), Some(Phase::Paused { .. })) {
            held = false;
        }
        // …or until someone moves the split (the rollback key): then it ends.
        if held && moved_while_paused(&state) {
            held = false;
        }
        if held && settling.is_none() {
            continue;
        }
        if let Some(end) = ending(&state, step_failed, settling.is_some()) {
            break 'main end;
        }
    };
    // Changes and notifications still running land before the process ends
    // (the journal's records are in order behind the recorder's queue).
    let notifier = engine.notifier().clone();
    let mut changes = engine.stop();
    drain(&mut changes, SETTLE).await;
    notifier.idle(Duration::from_secs(20)).await;
    (state, ending)
}

/// Paused, nothing in flight, and the canary's share is not the paused
/// step's: someone moved the split (a cockpit's rollback key).
fn moved_while_paused(state: &State) -> bool {
    let (Some(plan), Some(snapshot)) = (state.plan.as_ref(), state.snapshot.as_ref()) else {
        return false;
    };
    let Phase::Paused { step, .. } = &plan.phase else {
        return false;
    };
    state.change.is_none()
        && state.queued.is_none()
        && snapshot.traffic.percent_of(&plan.canary)
            != plan.split_for(*step).percent_of(&plan.canary)
}

/// Whether the run is over: the plan finished, or it needs a human. Never
/// while a change is in flight or queued (its outcome comes first).
fn ending(state: &State, step_failed: bool, settling: bool) -> Option<Ending> {
    if state.change.is_some() || state.queued.is_some() {
        return None;
    }
    // The baseline deploys before the plan; or it is being deleted after
    // it (or about to be: it has no traffic left, the next read sends it).
    if state.baseline.prep.is_some()
        || state.release.delete.is_some()
        || crate::core::update::baseline_cleanup_pending(state)
    {
        return None;
    }
    if let Some(why) = &state.baseline.stopped {
        return Some(Ending::Waiting(why.clone()));
    }
    let plan = state.plan.as_ref()?;
    Some(match &plan.phase {
        Phase::Promoted => Ending::Promoted,
        Phase::RolledBack { reason } => Ending::RolledBack(reason.clone()),
        Phase::Failed { reason } => Ending::Failed(reason.clone()),
        // The reason names the platform's error ("step N could not be applied: …").
        Phase::Paused { reason, .. } if step_failed && !settling => Ending::Failed(reason.clone()),
        Phase::Paused { reason, .. } => Ending::Waiting(reason.clone()),
        p @ Phase::WaitingApproval { .. } => Ending::Waiting(p.label()),
        // Cancelled or timed out while applying a step: once it landed, pause.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use chrono::Utc;

    use super::*;
    use crate::core::error::BackendError;
    use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
    use crate::core::plan::{PlanMode, PlanStep};
    use crate::core::state::Settings;
    use crate::platform::simulator::{Scenario, Simulator};
    use crate::platform::Platform;

    /// The simulator, whose first `refusals` traffic changes are refused
    /// with `refusal` (nothing applied).
    struct Refusing {
        sim: Simulator,
        refusals: AtomicUsize,
        refusal: fn() -> BackendError,
    }

    #[async_trait::async_trait]
    impl Platform for Refusing {
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
            let left = self.refusals.load(Ordering::SeqCst);
            if left > 0 {
                self.refusals.store(left - 1, Ordering::SeqCst);
                return Err((self.refusal)());
            }
            self.sim.set_traffic(split, expect).await
        }
    }

    /// What the run saw, for the asserts.
    #[derive(Default)]
    struct Seeing(Vec<Seen>);

    impl Watcher for Seeing {
        fn saw(&mut self, _: &State, seen: &Seen, _: &[Effect]) {
            self.0.push(seen.clone());
        }
    }

    /// A run of `20:10m,100 --auto` against the healthy simulator whose first
    /// `refusals` changes are refused with `refusal`; after 20 s someone else
    /// sets 50/50. Returns the final state, the ending, what was seen, and
    /// the canary's name.
    async fn drive(
        refusals: usize,
        refusal: fn() -> BackendError,
    ) -> (State, Ending, Vec<Seen>, String) {
        let sim = Simulator::new(Scenario::builtin("healthy").expect("scenario"), 1);
        let platform: Arc<dyn Platform> = Arc::new(Refusing {
            sim: sim.clone(),
            refusals: AtomicUsize::new(refusals),
            refusal,
        });
        let first = sim.snapshot().await.expect("snapshot");
        let mut state = State::new(Settings::default(), platform.info(), Utc::now());
        // As replayed from the journal: the split the last change left.
        state.last_applied = Some(first.traffic.clone());
        let canary = first.resolve("canary").expect("canary").name.clone();
        let stable = first.traffic.largest().expect("stable").to_string();
        let theirs = TrafficSplit::new([(stable, 50), (canary.clone(), 50)]).expect("valid");
        let spec = PlanSpec {
            steps: vec![
                PlanStep {
                    percent: 20,
                    observe: Duration::from_secs(600),
                },
                PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                },
            ],
            mode: PlanMode::Auto,
            ..PlanSpec::domain_default()
        };
        let (_cancel_tx, cancel) = mpsc::channel(1);
        let opts = Options {
            spec,
            reason: None,
            timeout: Duration::from_secs(3600),
            on_cancel: OnCancel::Pause,
            cancel,
            deploy: None,
        };
        let timing = Timing {
            service: Duration::from_millis(200),
            ..Timing::default()
        };
        let mover = {
            let sim = sim.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                sim.set_traffic_externally(&theirs).expect("their change");
            })
        };
        let backends = Backends::bare(platform);
        let (tx, rx) = super::super::channel();
        let mut seeing = Seeing::default();
        let (state, ending) = run(state, backends, timing, opts, tx, rx, &mut seeing).await;
        mover.abort();
        (state, ending, seeing.0, canary)
    }

    fn failures(seen: &[Seen]) -> usize {
        seen.iter()
            .filter(|s| matches!(s, Seen::TrafficFailed { .. }))
            .count()
    }

    /// A step refused as a conflict (only the version moved: a Cloud Run
    /// lease renewal) is sent again and lands; when the plan pauses later
    /// for another reason (the split moved under the driver), the run waits
    /// for a human (exit 4): the conflict, long resolved, does not turn it
    /// into a platform failure.
    #[tokio::test(start_paused = true)]
    async fn a_conflict_sent_again_does_not_fail_a_later_pause() {
        let (state, ending, seen, canary) =
            drive(1, || BackendError::Conflict("the etag moved".into())).await;
        assert_eq!(
            failures(&seen),
            1,
            "the first step was refused as a conflict"
        );
        assert_eq!(
            state.last_applied.as_ref().map(|s| s.percent_of(&canary)),
            Some(20),
            "the step was sent again and landed"
        );
        match &ending {
            Ending::Waiting(reason) => {
                assert!(reason.contains("changed under the driver"), "{reason}")
            }
            other => panic!("expected waiting (paused), got {other:?}"),
        }
    }

    /// A step the platform refuses pauses the plan, and the run failed
    /// (exit 1), naming the platform's error.
    #[tokio::test(start_paused = true)]
    async fn a_step_the_platform_refuses_fails_the_run() {
        let (state, ending, seen, _) = drive(usize::MAX, || {
            BackendError::Refused("quota exceeded".into())
        })
        .await;
        assert_eq!(failures(&seen), 1, "{seen:?}");
        assert!(
            matches!(state.active_phase(), Some(Phase::Paused { .. })),
            "{:?}",
            state.active_phase()
        );
        match &ending {
            Ending::Failed(reason) => assert!(
                reason.contains("could not be applied") && reason.contains("quota exceeded"),
                "{reason}"
            ),
            other => panic!("expected failed, got {other:?}"),
        }
    }
}
