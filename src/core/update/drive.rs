//! Requests to the plan that come from no key: `canary release` starting
//! its plan headless, the safe state on cancellation (SIGTERM in a CI job),
//! and (later) a cockpit's request written into the lease. They go through
//! the same plan engine and the same guardrails as the keys: only the
//! confirmation dialog is left out (the command line was the confirmation;
//! a cockpit's request was confirmed on that cockpit).

use super::plan::{abort, feed, plan_active};
use super::say;
use crate::core::action::{DriveRequest, Effect};
use crate::core::lease::{RemoteRequest, RequestKind};
use crate::core::plan::{Phase, PlanEvent};
use crate::core::record::Event;
use crate::core::state::{Level, Mode, State};

pub(super) fn on_request(state: &mut State, request: DriveRequest, fx: &mut Vec<Effect>) {
    match request {
        DriveRequest::Start { spec, reason } => start(state, None, spec, reason, fx),
        DriveRequest::StartFor {
            canary,
            spec,
            reason,
        } => start(state, Some(canary), spec, reason, fx),
        DriveRequest::Deploy {
            image,
            tag,
            env,
            reason,
        } => super::deploy::unattended(state, &image, tag.as_deref(), &env, reason, fx),
        DriveRequest::Reject { revision, reason } => reject(state, &revision, &reason, fx),
        DriveRequest::Note { message } => {
            say(state, Level::Info, message.clone());
            fx.push(Effect::Journal(Event::Note { message }));
        }
        DriveRequest::Pause { reason } if state.baseline.prep.is_some() => {
            super::baseline::cancel(state, &reason, fx);
        }
        DriveRequest::Abort { reason } if state.baseline.prep.is_some() => {
            super::baseline::cancel(state, &reason, fx);
        }
        DriveRequest::Pause { reason } => {
            if plan_active(state) && !matches!(state.active_phase(), Some(Phase::Paused { .. })) {
                feed(
                    state,
                    PlanEvent::Pause {
                        reason: reason.clone(),
                    },
                    fx,
                );
                // Nobody is watching a headless run: the team hears of it.
                if let Some(plan) = state.plan.as_ref() {
                    let share = plan.ceiling();
                    fx.push(Effect::Notify(format!(
                        "{}: plan paused — canary {} keeps {share} % (stable {}) — {reason}",
                        state.info.service, plan.canary, plan.stable
                    )));
                }
            }
        }
        DriveRequest::Resume => {
            if matches!(state.active_phase(), Some(Phase::Paused { .. })) {
                feed(state, PlanEvent::TogglePause, fx);
            }
        }
        DriveRequest::Abort { reason } => {
            if plan_active(state) {
                abort(state, reason, fx);
            }
        }
        DriveRequest::AnswerReask => answer_reask(state, fx),
        DriveRequest::Remote(request) => remote(state, request, fx),
        DriveRequest::SplitMoved { reason } => {
            if plan_active(state) && !matches!(state.active_phase(), Some(Phase::Paused { .. })) {
                feed(state, PlanEvent::Pause { reason }, fx);
            }
        }
    }
}

/// A cockpit's request read from the lease: journaled with who asked, then
/// obeyed as the same request from no key would be.
fn remote(state: &mut State, request: RemoteRequest, fx: &mut Vec<Effect>) {
    let from = format!("from the cockpit of {}", request.by);
    let obeyed = match request.kind {
        RequestKind::Pause => {
            plan_active(state) && !matches!(state.active_phase(), Some(Phase::Paused { .. }))
        }
        RequestKind::Resume => matches!(state.active_phase(), Some(Phase::Paused { .. })),
        RequestKind::Abort => plan_active(state),
    };
    fx.push(Effect::Journal(Event::Note {
        message: format!(
            "{} (written into the lease){}",
            request.describe(),
            if obeyed {
                ""
            } else if state.plan.is_none() {
                ": no plan has started (a run deploying its image stops there, before any traffic)"
            } else {
                ": nothing to do, the plan is not in a state it applies to"
            }
        ),
    }));
    match request.kind {
        RequestKind::Pause => on_request(
            state,
            DriveRequest::Pause {
                reason: format!("paused {from}"),
            },
            fx,
        ),
        RequestKind::Resume => {
            if obeyed {
                fx.push(Effect::Notify(format!(
                    "{}: plan resumed {from}",
                    state.info.service
                )));
            }
            on_request(state, DriveRequest::Resume, fx)
        }
        RequestKind::Abort => on_request(
            state,
            DriveRequest::Abort {
                reason: format!("aborted {from}"),
            },
            fx,
        ),
    }
}

/// The split the plan expects now, when the platform should be serving it
/// (observing or waiting, nothing in flight) and is not: why.
pub fn split_moved(state: &State) -> Option<String> {
    let plan = state.plan.as_ref()?;
    let step = match &plan.phase {
        Phase::Observing { step, .. } | Phase::WaitingApproval { step } => *step,
        _ => return None,
    };
    if state.change.is_some() || state.queued.is_some() || !matches!(state.mode, Mode::Normal) {
        return None;
    }
    let serving = &state.snapshot.as_ref()?.traffic;
    let want = plan.split_for(step);
    let (have, expect) = (
        serving.percent_of(&plan.canary),
        want.percent_of(&plan.canary),
    );
    (have != expect).then(|| {
        format!(
            "the split changed under the driver: the canary has {have} %, the plan set {expect} % \
             (now {serving}); stopping instead of fighting"
        )
    })
}

/// A conflict re-asked a plan step: send it again when only the version
/// moved, else pause.
fn answer_reask(state: &mut State, fx: &mut Vec<Effect>) {
    let Mode::Confirm(c) = &state.mode else {
        return;
    };
    let unchanged = state.last_applied.as_ref() == Some(&c.before);
    if let Mode::Confirm(c) = std::mem::replace(&mut state.mode, Mode::Normal) {
        if unchanged && plan_active(state) {
            super::changes::confirmed(state, c, None, fx);
        } else {
            // Paused for what happened, before the re-ask is declined (which
            // would pause it as "the operator declined", and nobody did).
            let reason = format!(
                "the split changed under the driver (now {}): stopping instead of fighting",
                c.before
            );
            if plan_active(state) && !matches!(state.active_phase(), Some(Phase::Paused { .. })) {
                feed(state, PlanEvent::Pause { reason }, fx);
            }
            super::changes::cancelled(state, &c, fx);
        }
    }
}

/// Starts `spec` for the canary of the one rule of [`crate::core::roles`],
/// rolling back to its stable. Refused (said, journaled as a note, no
/// plan) when either is unknown or the stable is only a guess: an
/// unattended run must not roll back to a revision nobody chose.
fn start(
    state: &mut State,
    canary: Option<String>,
    spec: crate::core::plan::PlanSpec,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    let refuse = |state: &mut State, why: String, fx: &mut Vec<Effect>| {
        say(state, Level::Error, format!("release refused: {why}"));
        fx.push(Effect::Journal(Event::Note {
            message: format!("release refused: {why}"),
        }));
    };
    let canary = canary.or_else(|| state.canary().map(str::to_string));
    let (Some(canary), Some(stable)) = (canary, state.stable().map(str::to_string)) else {
        return refuse(
            state,
            "no canary revision or no stable revision (tag the canary, pin `stable`)".into(),
            fx,
        );
    };
    if state.roles.stable_from.is_some_and(|f| f.is_guess()) {
        return refuse(
            state,
            format!(
                "which revision is stable is a guess (the largest share, {stable}): \
                 pin `service.stable_revision` in the config"
            ),
            fx,
        );
    }
    // A plan a crash or a cancelled run left paused is superseded, said in
    // the journal: the new run owns the service now.
    if let Some(old) = state.plan.as_mut().filter(|p| !p.phase.is_finished()) {
        let from = old.phase.clone();
        let why = "superseded by a new release".to_string();
        old.phase = Phase::Failed {
            reason: why.clone(),
        };
        old.finished = Some(state.now);
        fx.push(Effect::Journal(Event::PlanTransition {
            from,
            to: old.phase.clone(),
            why,
        }));
    }
    // With `[judge] baseline = "deploy"`, its baseline is deployed first.
    if let Err(e) = super::baseline::start(state, spec, canary, stable, reason, fx) {
        refuse(state, format!("cannot start the plan: {e}"), fx);
    }
}

/// The revision a release deployed failed its blocking checks before any
/// traffic: said, journaled (a note) and told to the team. Nothing is
/// rolled back: it never served; it stays at 0 % with its tag, so its tag
/// URL can still be looked at (`canary delete` removes it).
fn reject(state: &mut State, revision: &str, reason: &str, fx: &mut Vec<Effect>) {
    let tag = state
        .snapshot
        .as_ref()
        .and_then(|s| s.revision(revision))
        .and_then(|r| r.tag.clone());
    let left = match &tag {
        Some(t) => format!("{revision} stays at 0 % with its tag `{t}`"),
        None => format!("{revision} stays at 0 %"),
    };
    let message = format!(
        "release rejected before any traffic: {reason}; nothing to roll back \
         (no traffic was ever sent to it); {left}"
    );
    say(state, Level::Error, message.clone());
    fx.push(Effect::Journal(Event::Note {
        message: message.clone(),
    }));
    fx.push(Effect::Notify(format!("{}: {message}", state.info.service)));
}
