//! The plan's keys (`p`, Space, `a` and their `:plan` words). They do what
//! [`State::plan_offers`] offers and nothing else: the plan panel and the
//! footer show the same offers, so what the screen offers is what the keys
//! do (tests/core/plan_flow.rs walks every phase and verdict to hold this).

use super::plan::{abort, feed, plan_active};
use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::keymap::Command;
use crate::core::model::TrafficSplit;
use crate::core::plan::{Offer, Phase, PlanEvent, Verdict};
use crate::core::state::{Confirmation, Level, Mode, PlanAction, State};

/// `Advance`, `TogglePause` or `Abort`: takes the offer made for it, or says
/// why there is none.
pub(super) fn plan_key(state: &mut State, cmd: Command, fx: &mut Vec<Effect>) {
    // Another process drives: the keys ask it, through its lease.
    if super::remote::plan_key(state, cmd) {
        return;
    }
    // The plan waits for its baseline to be deployed: `a` (or Space)
    // cancels the start, `p` waits.
    if state.baseline.prep.is_some() {
        match cmd {
            Command::Abort | Command::TogglePause => {
                super::baseline::cancel(state, "cancelled by the operator", fx);
            }
            _ => say(
                state,
                Level::Info,
                "the baseline is being deployed: the plan starts once it is ready (a cancels)",
            ),
        }
        return;
    }
    let offer = state.plan_offers().into_iter().find(|o| o.command() == cmd);
    match offer {
        Some(Offer::Start { .. }) => start(state),
        Some(Offer::Approve { .. }) => approve(state, fx),
        Some(Offer::Override { .. }) => override_gates(state),
        Some(Offer::AdvanceEarly { .. }) => advance_early(state),
        Some(Offer::Pause | Offer::Resume { .. }) => feed(state, PlanEvent::TogglePause, fx),
        Some(Offer::Abort { .. }) => ask_abort(state),
        None => refuse(state, cmd),
    }
}

/// Why a plan key does nothing now.
fn refuse(state: &mut State, cmd: Command) {
    let phase = state.plan.as_ref().map(|p| p.phase.clone());
    let (level, text) = match (cmd, phase) {
        (Command::TogglePause, _) if !plan_active(state) => {
            (Level::Info, "no plan is running (p starts one)".to_string())
        }
        (Command::Abort, _) if !plan_active(state) => (
            Level::Info,
            "no plan is running (r rolls back by hand)".to_string(),
        ),
        (Command::Advance, Some(Phase::Paused { .. })) => (
            Level::Info,
            "the plan is paused: Space resumes it (re-checking the gates)".to_string(),
        ),
        (Command::Advance, Some(Phase::Observing { .. } | Phase::WaitingApproval { .. })) => {
            let v = verdict_text(&state.verdict);
            (
                Level::Warn,
                format!("not advancing while the gates are red ({v}): abort or wait"),
            )
        }
        (_, Some(p)) => (Level::Info, format!("the plan is {}: wait", p.label())),
        (_, None) => (Level::Info, format!("{} does nothing now", cmd.name())),
    };
    say(state, level, text);
}

/// The next step's split: what advancing sends.
fn next_split(state: &State) -> Option<(usize, TrafficSplit)> {
    let plan = state.plan.as_ref()?;
    let step = plan.phase.step()?;
    let last = plan.spec.steps.len().saturating_sub(1);
    Some((step, plan.split_for((step + 1).min(last))))
}

/// No plan running: start one (asks first).
fn start(state: &mut State) {
    let (Some(canary), Some(stable)) = (state.selected.clone(), state.stable().map(str::to_string))
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
    if let Some(b) = super::baseline::start_note(state) {
        note = format!("{note}; {b}");
    }
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
}

/// The window is observed and the gates are green: the next step (the last
/// one, 100 %, asks first).
fn approve(state: &mut State, fx: &mut Vec<Effect>) {
    let Some((step, after)) = next_split(state) else {
        return;
    };
    let last = state
        .plan
        .as_ref()
        .map_or(0, |p| p.spec.steps.len().saturating_sub(1));
    if step + 1 == last {
        ask(
            state,
            PlanAction::Advance,
            after,
            "the last step: the canary gets 100 %".into(),
        );
    } else {
        feed(
            state,
            PlanEvent::Advance {
                override_reason: None,
            },
            fx,
        );
    }
}

/// The window is observed but the gates give no verdict: override, with a reason.
fn override_gates(state: &mut State) {
    let Some((step, after)) = next_split(state) else {
        return;
    };
    let note = format!(
        "step {} → {}: the gates are not green ({}): override?",
        step + 1,
        step + 2,
        verdict_text(&state.verdict)
    );
    ask(state, PlanAction::Override, after, note);
}

/// During the window: advance anyway, with a reason.
fn advance_early(state: &mut State) {
    let Some((step, after)) = next_split(state) else {
        return;
    };
    let plan = state.plan.as_ref();
    let left = plan
        .and_then(|p| p.window(state.now))
        .map_or(0, |(_, l)| l.as_secs());
    let note = match plan.and_then(|p| p.waiting_for_data(state.now)) {
        Some(lag) => format!(
            "step {} → {}: the window's last data has not arrived yet (metrics lag {}s): advance anyway?",
            step + 1,
            step + 2,
            lag.as_secs()
        ),
        None => format!(
            "step {} → {}: the observation window is not over ({}m{:02}s left): advance anyway?",
            step + 1,
            step + 2,
            left / 60,
            left % 60
        ),
    };
    ask(state, PlanAction::Override, after, note);
}

fn ask_abort(state: &mut State) {
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
        scale_down: None,
    });
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Green => "green".into(),
        Verdict::NoData(w) => format!("no data: {w}"),
        Verdict::Confirming(w) => format!("red, confirming: {w}"),
        Verdict::Red(w) => format!("red: {w}"),
    }
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

pub(super) fn plan_confirmed(
    state: &mut State,
    action: PlanAction,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    match action {
        // Written into the lease (remote::confirmed), never here.
        PlanAction::Remote(_) => {}
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
    let spec = state.settings.plan.clone();
    // With `[judge] baseline = "deploy"`, its baseline is deployed first.
    if let Err(e) = super::baseline::start(state, spec, canary, stable, None, fx) {
        say(state, Level::Error, format!("cannot start the plan: {e}"));
    }
}
