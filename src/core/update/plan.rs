//! The promotion plan wired into the cockpit: the plan engine decides, this
//! module carries its commands out (changes, checks, alarms, notifications,
//! journal records) and feeds it what happened.

use chrono::{DateTime, Utc};

use super::battery::start_battery;
use super::changes::submit;
use super::gates::mean_recent;
use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::model::{MetricKind, TrafficSplit};
use crate::core::plan::{Phase, Plan, PlanCommand, PlanEvent, PlanSpec};
use crate::core::record::{Event, MetricSummary};
use crate::core::state::{Alarm, Level, State};

pub(crate) fn plan_active(state: &State) -> bool {
    state.plan.as_ref().is_some_and(|p| !p.phase.is_finished())
}

pub(super) fn feed(state: &mut State, event: PlanEvent, fx: &mut Vec<Effect>) {
    let now = state.now;
    // What the operator asked for raises no alarm; what the plan did by
    // itself (gates, checks, a failed apply or rollback) does.
    let by_operator = matches!(
        event,
        PlanEvent::Abort { .. }
            | PlanEvent::ManualChange
            | PlanEvent::TogglePause
            | PlanEvent::Pause { .. }
            | PlanEvent::Advance { .. }
    );
    let Some(plan) = state.plan.as_mut() else {
        return;
    };
    let cmds = plan.handle(event, now);
    carry_out(state, cmds, !by_operator, fx);
}

/// Turns the engine's commands into effects; `automatic`: the plan acted by
/// itself (an alarm is raised on a rollback or a failure).
pub(super) fn carry_out(
    state: &mut State,
    cmds: Vec<PlanCommand>,
    automatic: bool,
    fx: &mut Vec<Effect>,
) {
    for cmd in cmds {
        match cmd {
            PlanCommand::Apply { step, split } => {
                submit(state, split, ChangeKind::Plan(step), None, fx);
            }
            PlanCommand::Rollback { reason } => {
                let Some(plan) = state.plan.as_ref() else {
                    continue;
                };
                let split = TrafficSplit::all_to(plan.stable.clone());
                // A rollback goes out now, or right after the change in flight.
                submit(state, split, ChangeKind::Rollback, Some(reason), fx);
            }
            PlanCommand::RunChecks => {
                if let Some(canary) = state.plan.as_ref().map(|p| p.canary.clone()) {
                    start_battery(state, &canary, fx);
                }
            }
            PlanCommand::Transition { from, to, why } => {
                if matches!(
                    from,
                    Phase::Observing { .. } | Phase::WaitingApproval { .. }
                ) {
                    fx.push(Effect::Journal(Event::PhaseMetrics {
                        phase: from.label(),
                        revisions: summaries(state),
                    }));
                }
                raise_alarm(state, &to, automatic);
                let level = match &to {
                    Phase::RollingBack { .. } | Phase::Failed { .. } | Phase::Paused { .. } => {
                        Level::Warn
                    }
                    _ => Level::Info,
                };
                say(state, level, format!("plan: {} ({why})", to.label()));
                if notable(&to) {
                    fx.push(Effect::Notify(notification(state, &to, &why)));
                }
                let promoted = to == Phase::Promoted;
                let finished = to.is_finished();
                fx.push(Effect::Journal(Event::PlanTransition { from, to, why }));
                if promoted {
                    super::deploy::after_promotion(state, fx);
                }
                if finished {
                    super::baseline::plan_finished(state, fx);
                }
            }
        }
    }
}

/// The header's alarm: raised when the plan rolls back or fails by itself,
/// kept (and brought up to date) until the operator acknowledges it.
fn raise_alarm(state: &mut State, to: &Phase, automatic: bool) {
    let at = state.now.format("%H:%M:%S");
    let text = match to {
        Phase::RollingBack { reason } if automatic => {
            format!("AUTO-ROLLBACK {at}: {reason}")
        }
        Phase::RolledBack { reason } if state.alarm.is_some() => {
            format!("ROLLED BACK {at} (automatic): {reason}")
        }
        Phase::Failed { reason } => format!("PLAN FAILED {at}: {reason}"),
        _ => return,
    };
    state.alarm = Some(Alarm {
        text,
        at: state.now,
    });
}

fn notable(p: &Phase) -> bool {
    matches!(
        p,
        Phase::Applying { .. }
            | Phase::Promoted
            | Phase::RollingBack { .. }
            | Phase::RolledBack { .. }
            | Phase::Failed { .. }
    )
}

fn notification(state: &State, to: &Phase, why: &str) -> String {
    let Some(plan) = state.plan.as_ref() else {
        return format!("{}: {}", state.info.service, to.label());
    };
    let secs = (state.now - plan.started).num_seconds().max(0) as u64;
    let took = if secs == 0 {
        String::new()
    } else {
        format!(
            " — {} since the plan started",
            crate::core::duration::human(std::time::Duration::from_secs(secs))
        )
    };
    let split = match to {
        Phase::Applying { step } => plan.split_for(*step).to_flag(),
        Phase::Promoted => TrafficSplit::all_to(plan.canary.clone()).to_flag(),
        _ => TrafficSplit::all_to(plan.stable.clone()).to_flag(),
    };
    format!(
        "{}: {} — canary {} (stable {}) — split {split}{took} — {why}",
        state.info.service,
        to.label(),
        plan.canary,
        plan.stable
    )
}

fn summaries(state: &State) -> Vec<MetricSummary> {
    let Some(plan) = state.plan.as_ref() else {
        return vec![];
    };
    [plan.canary.clone(), plan.stable.clone()]
        .into_iter()
        .chain(plan.baseline.clone())
        .map(|rev| MetricSummary {
            rps: mean_recent(state, &rev, MetricKind::RequestRate),
            error_percent: mean_recent(state, &rev, MetricKind::ErrorPercent),
            p95_ms: mean_recent(state, &rev, MetricKind::LatencyP95),
            revision: rev,
        })
        .collect()
}

pub(super) fn manual_change(state: &mut State, fx: &mut Vec<Effect>) {
    feed(state, PlanEvent::ManualChange, fx);
}

pub(super) fn abort(state: &mut State, reason: String, fx: &mut Vec<Effect>) {
    feed(state, PlanEvent::Abort { reason }, fx);
}

pub(super) fn plan_step_failed(
    state: &mut State,
    step: usize,
    error: String,
    fx: &mut Vec<Effect>,
) {
    feed(state, PlanEvent::ApplyFailed { step, error }, fx);
}

pub(super) fn change_landed(state: &mut State, kind: ChangeKind, fx: &mut Vec<Effect>) {
    match kind {
        ChangeKind::Plan(step) => feed(state, PlanEvent::Applied { step }, fx),
        ChangeKind::Rollback => feed(state, PlanEvent::RolledBack, fx),
        _ => {}
    }
}

pub(super) fn change_failed(
    state: &mut State,
    kind: ChangeKind,
    error: String,
    fx: &mut Vec<Effect>,
) {
    match kind {
        ChangeKind::Plan(step) => feed(state, PlanEvent::ApplyFailed { step, error }, fx),
        ChangeKind::Rollback => feed(state, PlanEvent::RollbackFailed { error }, fx),
        _ => {}
    }
}

/// After a restart: a plan the journal shows unfinished comes back paused.
pub fn resume_interrupted_plan(
    state: &mut State,
    canary: String,
    stable: String,
    spec: PlanSpec,
    last: Phase,
    started: DateTime<Utc>,
) {
    // The journal is a file someone may have edited: a plan that does not
    // hold up is not resumed.
    if let Err(e) = spec.validate() {
        say(
            state,
            Level::Warn,
            format!("an interrupted plan was found in the journal but not resumed: {e}"),
        );
        return;
    }
    let step = last.step().unwrap_or(0);
    let what = match &last {
        Phase::RollingBack { reason } => {
            format!("it was rolling back ({reason}): press r to finish the rollback")
        }
        p => format!("it was {}", p.label()),
    };
    let reason = format!("interrupted (the cockpit stopped): {what}");
    let last_for_journal = last.clone();
    let phase = match last {
        Phase::RollingBack { reason } => Phase::Paused {
            step,
            reason: format!("interrupted while rolling back: {reason}"),
            was_observing: false,
        },
        _ => Phase::Paused {
            step,
            reason: reason.clone(),
            was_observing: false,
        },
    };
    // The resume is part of the story: journaled with the first update.
    state
        .pending_effects
        .push(Effect::Journal(Event::PlanTransition {
            from: last_for_journal,
            to: phase.clone(),
            why: reason.clone(),
        }));
    state.plan = Some(Plan {
        spec,
        canary,
        stable,
        phase,
        started,
        finished: None,
        data_until: None,
        // The baseline is not resumed: the plan resumes against the
        // stable (a leftover `baseline` revision is deleted by `x`).
        baseline: None,
        baseline_ready: false,
    });
    say(
        state,
        Level::Warn,
        format!(
            "plan resumed PAUSED at step {}: {reason}; Space re-applies the step and resumes",
            step + 1
        ),
    );
}
