//! The operator's plan commands: start, advance (or override), abort,
//! pause, and what quitting does to a running plan; each asks through the
//! confirmation dialog where it changes traffic.

use super::plan::{abort, carry_out, feed, plan_active};
use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::model::TrafficSplit;
use crate::core::plan::{Phase, Plan, PlanEvent, Verdict};
use crate::core::record::Event;
use crate::core::state::{Confirmation, Level, Mode, PlanAction, State};

fn ask(state: &mut State, action: PlanAction, after: TrafficSplit, note: String) {
    let (Some(snapshot), Some(before)) = (state.snapshot.as_ref(), state.desired().cloned()) else {
        return;
    };
    state.mode = Mode::Confirm(Confirmation {
        kind: match action {
            PlanAction::Abort => ChangeKind::Rollback,
            _ => ChangeKind::Plan(0),
        },
        preview: crate::core::preview::preview(snapshot, &after),
        expect: snapshot.version.clone(),
        before,
        after,
        note: Some(note),
        plan_action: Some(action),
        plan_phase: state.active_phase(),
        unprompted: false,
    });
}

/// `p`: start a plan, or advance the running one.
pub(super) fn advance_key(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(plan) = state.plan.as_ref().filter(|p| !p.phase.is_finished()) else {
        let (Some(canary), Some(stable)) =
            (state.selected.clone(), state.stable().map(str::to_string))
        else {
            say(state, Level::Warn, "the service has not been read yet");
            return;
        };
        if canary == stable {
            say(
                state,
                Level::Warn,
                format!("{canary} is the stable revision: select the canary to start a plan"),
            );
            return;
        }
        let spec = state.settings.plan.clone();
        let first = spec.steps.first().map_or(0, |s| u32::from(s.percent));
        let Ok(after) = TrafficSplit::new([(canary.clone(), first), (stable.clone(), 100 - first)])
        else {
            return;
        };
        let mut note = format!(
            "start the promotion plan for {canary} (stable {stable}): {} — {}",
            spec.describe(),
            spec.policy()
        );
        let unready = state
            .snapshot
            .as_ref()
            .and_then(|s| s.revision(&canary))
            .filter(|r| !r.ready);
        if state.roles.stable_from.is_some_and(|f| f.is_guess()) {
            note = format!(
                "WARNING: which revision is stable is a guess (the largest share, {stable}): \
                 the plan would roll back there; pin `stable` in the config if it is not. {note}"
            );
        }
        if let Some(r) = unready {
            note = format!(
                "WARNING: {canary} is NOT READY ({}): its first step will be refused until it is. {note}",
                r.status_message.as_deref().unwrap_or("no reason given")
            );
        }
        ask(state, PlanAction::Start, after, note);
        return;
    };
    let next = plan.phase.step().map(|s| s + 1);
    let last = plan.spec.steps.len().saturating_sub(1);
    let after = next.map(|n| plan.split_for(n.min(last)));
    match (&plan.phase, after) {
        (Phase::WaitingApproval { step }, Some(after)) => {
            let step = *step;
            match state.verdict.clone() {
                Verdict::Green if step + 1 == last => ask(
                    state,
                    PlanAction::Advance,
                    after,
                    "the last step: the canary gets 100 %".into(),
                ),
                Verdict::Green => {
                    let now = state.now;
                    if let Some(p) = state.plan.as_mut() {
                        let cmds = p.handle(
                            PlanEvent::Advance {
                                override_reason: None,
                            },
                            now,
                        );
                        carry_out(state, cmds, false, fx);
                    }
                }
                v => ask(
                    state,
                    PlanAction::Override,
                    after,
                    format!(
                        "step {} → {}: the gates are not green ({}): override?",
                        step + 1,
                        step + 2,
                        verdict_text(&v)
                    ),
                ),
            }
        }
        (Phase::Observing { step, .. }, Some(after)) => {
            let step = *step;
            let left = plan.window(state.now).map_or(0, |(_, l)| l.as_secs());
            if matches!(state.verdict, Verdict::Red(_) | Verdict::Confirming(_)) {
                let v = verdict_text(&state.verdict);
                say(
                    state,
                    Level::Warn,
                    format!("not advancing while the gates are red ({v}): abort or wait"),
                );
                return;
            }
            ask(
                state,
                PlanAction::Override,
                after,
                format!(
                    "step {} → {}: the observation window is not over ({}m{:02}s left): advance anyway?",
                    step + 1,
                    step + 2,
                    left / 60,
                    left % 60
                ),
            );
        }
        (Phase::Paused { .. }, _) => say(
            state,
            Level::Info,
            "the plan is paused: Space resumes it (re-checking the gates)",
        ),
        _ => say(
            state,
            Level::Info,
            format!("the plan is {}: wait", plan.phase.label()),
        ),
    }
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Green => "green".into(),
        Verdict::NoData(w) => format!("no data: {w}"),
        Verdict::Confirming(w) => format!("red, confirming: {w}"),
        Verdict::Red(w) => format!("red: {w}"),
    }
}

pub(super) fn abort_key(state: &mut State) {
    if !plan_active(state) {
        say(
            state,
            Level::Info,
            "no plan is running (r rolls back by hand)",
        );
        return;
    }
    let Some(stable) = state.plan.as_ref().map(|p| p.stable.clone()) else {
        return;
    };
    ask(
        state,
        PlanAction::Abort,
        TrafficSplit::all_to(stable),
        "abort the plan and roll back to the stable revision".into(),
    );
}

/// What quitting does to the running plan, said before it happens.
pub(super) fn quit_consequence(state: &State) -> String {
    let km = &state.settings.keymap;
    let q = km.label(crate::core::keymap::Command::Quit);
    let share = state
        .plan
        .as_ref()
        .zip(state.snapshot.as_ref())
        .map(|(p, s)| s.traffic.percent_of(&p.canary))
        .unwrap_or(0);
    format!(
        "a plan is running: quitting PAUSES it — the canary keeps its {share} %, nothing \
         advances and the gates roll nothing back until the plan is resumed; \
         {q} again to pause and quit, any other key to stay"
    )
}

/// The second `q` during a plan: pause it (journaled), then quit.
pub(super) fn pause_for_quit(state: &mut State, fx: &mut Vec<Effect>) {
    feed(
        state,
        PlanEvent::Pause {
            reason: "the operator quit the cockpit".into(),
        },
        fx,
    );
}

pub(super) fn toggle_pause(state: &mut State, fx: &mut Vec<Effect>) {
    if !plan_active(state) {
        say(state, Level::Info, "no plan is running (p starts one)");
        return;
    }
    feed(state, PlanEvent::TogglePause, fx);
}

pub(super) fn plan_confirmed(
    state: &mut State,
    action: PlanAction,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    match action {
        PlanAction::Start => start_plan(state, fx),
        PlanAction::Advance => feed(
            state,
            PlanEvent::Advance {
                override_reason: None,
            },
            fx,
        ),
        PlanAction::Override => feed(
            state,
            PlanEvent::Advance {
                override_reason: Some(reason.unwrap_or_else(|| "no reason given".into())),
            },
            fx,
        ),
        PlanAction::Abort => abort(
            state,
            reason.map_or("aborted by the operator".into(), |r| {
                format!("aborted by the operator: {r}")
            }),
            fx,
        ),
    }
}

fn start_plan(state: &mut State, fx: &mut Vec<Effect>) {
    let (Some(canary), Some(stable)) = (state.selected.clone(), state.stable().map(str::to_string))
    else {
        return;
    };
    match Plan::start(
        state.settings.plan.clone(),
        canary.clone(),
        stable.clone(),
        state.now,
    ) {
        Ok((plan, cmds)) => {
            let canary_image = state
                .snapshot
                .as_ref()
                .and_then(|s| s.revision(&canary))
                .map(|r| r.image.clone());
            fx.push(Effect::Journal(Event::PlanStarted {
                canary,
                stable,
                spec: plan.spec.clone(),
                canary_image,
            }));
            state.plan = Some(plan);
            state.red_since = None;
            carry_out(state, cmds, false, fx);
        }
        Err(e) => say(state, Level::Error, format!("cannot start the plan: {e}")),
    }
}
