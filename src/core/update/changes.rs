//! Traffic changes: guardrails, confirmation, one in flight at a time,
//! queueing, conflicts, results.

use super::audit::{notify_manual, refused_without_journal};
use super::keys::{open_input, reason_needed};
use super::{load_snapshot, plan, plan_keys, say};
use crate::core::action::{ChangeKind, ChangeNo, Effect};
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, TrafficSplit};
use crate::core::plan::Phase;
use crate::core::record::Event;
use crate::core::state::{
    Confirmation, InputKind, Level, Mode, PendingChange, PlanAction, QueuedChange, State,
};
use crate::core::traffic;

/// Guardrails, then confirmation when needed, then submission.
pub(super) fn request_change(
    state: &mut State,
    split: TrafficSplit,
    kind: ChangeKind,
    fx: &mut Vec<Effect>,
) {
    // A rollback asked while a plan waits for its baseline cancels the
    // start, even one with nothing left to move (other changes cancel it
    // when they go out: `baseline::deployed` sees them in flight or the
    // traffic moved; a dialog declined cancels nothing).
    if kind == ChangeKind::Rollback {
        super::baseline::cancel(state, "a rollback was asked", fx);
    }
    if refused_without_journal(state, kind) {
        return;
    }
    let (Some(snapshot), Some(basis)) = (state.snapshot.as_ref(), state.desired()) else {
        say(state, Level::Warn, "the service has not been read yet");
        return;
    };
    let basis = basis.clone();
    if split == basis {
        let what = match kind {
            ChangeKind::Rollback => {
                "already rolled back: the stable revision has 100 %".to_string()
            }
            _ => format!("nothing to change: the split is already {split}"),
        };
        say(state, Level::Info, what);
        return;
    }
    if let Err(e) = traffic::check_ready(snapshot, &basis, &split) {
        say(state, Level::Error, format!("refused: {e}"));
        return;
    }
    let jump = traffic::largest_move(&basis, &split);
    // An all-or-nothing platform (blue/green) only ever moves 100 points:
    // warning about the size of the only move it can make is noise.
    let large = jump > state.settings.max_step && snapshot.extra.all_or_nothing.is_none();
    // A manual change takes over from a running plan: never silently.
    let pauses_plan = plan::plan_active(state) && kind != ChangeKind::Rollback;
    let guess = (kind == ChangeKind::Rollback
        && state.roles.stable_from.is_some_and(|f| f.is_guess()))
    .then(|| {
        "which revision is stable is a guess (the largest share): check the target".to_string()
    });
    if matches!(kind, ChangeKind::Promote | ChangeKind::Rollback) || large || pauses_plan {
        let mut notes: Vec<String> = Vec::new();
        if pauses_plan {
            notes.push(
                "a plan is running: this manual change PAUSES it — nothing advances and \
                 the gates roll nothing back until Space resumes it"
                    .into(),
            );
        }
        if large {
            notes.push(format!(
                "a jump of {jump} points, more than max_step = {}",
                state.settings.max_step
            ));
        }
        notes.extend(guess);
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        state.mode = Mode::Confirm(Confirmation {
            kind,
            preview: crate::core::preview::preview(snapshot, &split),
            before: basis,
            after: split,
            expect: snapshot.version.clone(),
            note,
            plan_action: None,
            plan_phase: state.active_phase(),
            unprompted: false,
            scale_down: None,
        });
        return;
    }
    manual(state, split, kind, None, fx);
}

/// A change the operator made by hand: it takes over from a running plan.
fn manual(
    state: &mut State,
    split: TrafficSplit,
    kind: ChangeKind,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    if plan::plan_active(state) {
        if kind == ChangeKind::Rollback {
            plan::abort(
                state,
                reason.unwrap_or_else(|| "rolled back by the operator".into()),
                fx,
            );
            return;
        }
        plan::manual_change(state, fx);
    }
    submit(state, split, kind, reason, fx);
}

/// Whether confirming sends a rollback: those go out at the first `y`, and
/// their reason is asked while they are in flight.
fn rolls_back(c: &Confirmation) -> bool {
    c.kind == ChangeKind::Rollback && matches!(c.plan_action, None | Some(PlanAction::Abort))
}

/// `y` on a confirmation; `reason` is `None` until the reason box was shown.
pub(super) fn confirmed(
    state: &mut State,
    c: Confirmation,
    reason: Option<Option<String>>,
    fx: &mut Vec<Effect>,
) {
    if let Some(kw) = c.scale_down {
        super::keepwarm::confirmed(state, *kw, fx);
        return;
    }
    if let Some(PlanAction::Remote(kind)) = c.plan_action {
        super::remote::confirmed(state, kind, fx);
        return;
    }
    let rollback = rolls_back(&c);
    let ask_after = reason.is_none() && rollback;
    let reason = match reason {
        Some(r) => r,
        None if rollback => None,
        None => match reason_needed(c.kind, c.plan_action.as_ref()) {
            Some(required) => {
                let mut ta = tui_textarea::TextArea::default();
                ta.set_placeholder_text(if required {
                    "why (required, kept in the audit journal)"
                } else {
                    "why (optional, kept in the audit journal; Enter to skip)"
                });
                open_input(
                    state,
                    InputKind::Reason {
                        then: Box::new(c),
                        required,
                    },
                    ta,
                    String::new(),
                );
                return;
            }
            None => None,
        },
    };
    let first_id = state.next_change_id;
    carry_out_confirmed(state, c, reason, fx);
    if ask_after {
        ask_reason_after(state, first_id);
    }
}

fn carry_out_confirmed(
    state: &mut State,
    c: Confirmation,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    if let Some(action) = &c.plan_action {
        plan_keys::plan_confirmed(state, action.clone(), reason, fx);
        return;
    }
    // Re-check against the latest read: the world may have moved while the
    // operator was deciding.
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    if let Err(e) = traffic::check_ready(snapshot, &c.before, &c.after) {
        say(state, Level::Error, format!("refused: {e}"));
        return;
    }
    // A rollback means "all to the stable" whatever moved meanwhile: it goes
    // out with the version just read instead of being asked again.
    // A version that moved with the split as the operator saw it (Cloud
    // Run: a lease renewal, a label) is not someone else's traffic change:
    // sent with the version just read.
    if snapshot.version != c.expect
        && snapshot.traffic != c.before
        && state.change.is_none()
        && c.kind != ChangeKind::Rollback
    {
        // Someone else changed the service meanwhile: show it and ask again.
        reask_after_conflict(
            state,
            QueuedChange {
                id: 0,
                kind: c.kind,
                split: c.after,
                reason,
                decided_on: None,
            },
            fx,
        );
        return;
    }
    if let ChangeKind::Plan(_) = c.kind {
        submit(state, c.after, c.kind, reason, fx);
    } else {
        manual(state, c.after, c.kind, reason, fx);
    }
}

/// After a rollback went out (or was queued behind the change in flight):
/// the optional reason box, naming the change it will be attached to.
fn ask_reason_after(state: &mut State, first_id: u64) {
    if !matches!(state.mode, Mode::Normal) {
        return;
    }
    let sent = state
        .change
        .as_ref()
        .map(|c| (c.id, c.kind, &c.split))
        .into_iter()
        .chain(state.queued.as_ref().map(|q| (q.id, q.kind, &q.split)))
        .find(|(id, kind, _)| *id >= first_id && *kind == ChangeKind::Rollback)
        .map(|(id, kind, split)| (id, kind, split.clone()));
    let Some((id, kind, after)) = sent else {
        return;
    };
    let mut ta = tui_textarea::TextArea::default();
    ta.set_placeholder_text("why (optional, kept in the audit journal; Esc skips)");
    open_input(
        state,
        InputKind::Annotate { id, kind, after },
        ta,
        String::new(),
    );
}

/// Enter on the reason of a change already sent: a journal record naming
/// it (and, while it waits in the queue, the change's own reason).
pub(super) fn annotated(
    state: &mut State,
    id: u64,
    kind: ChangeKind,
    reason: String,
    fx: &mut Vec<Effect>,
) {
    if let Some(q) = state.queued.as_mut().filter(|q| q.id == id) {
        q.reason = Some(reason.clone());
    }
    if let Some(c) = state.change.as_mut().filter(|c| c.id == id) {
        c.reason = Some(reason.clone());
    }
    fx.push(Effect::Notify(format!(
        "{}: the reason for {} {}: {reason}",
        state.info.service,
        kind.verb(),
        ChangeNo(id)
    )));
    fx.push(Effect::Journal(Event::TrafficReason {
        id,
        kind: kind.verb(),
        reason,
    }));
    say(
        state,
        Level::Info,
        format!("reason recorded with {} {}", kind.verb(), ChangeNo(id)),
    );
}

/// `n` / Esc on a confirmation or its reason box.
pub(super) fn cancelled(state: &mut State, c: &Confirmation, fx: &mut Vec<Effect>) {
    if let Some(kw) = &c.scale_down {
        super::keepwarm::declined(state, kw, fx);
        return;
    }
    if matches!(c.plan_action, Some(PlanAction::Remote(_))) {
        say(state, Level::Info, "cancelled: nothing was written");
        return;
    }
    if let ChangeKind::Plan(step) = c.kind {
        plan::plan_step_failed(
            state,
            step,
            "the operator declined to re-apply it".into(),
            fx,
        );
    }
    say(state, Level::Info, "cancelled: nothing was changed");
}

/// A rollback is in flight or queued.
fn rollback_on_its_way(state: &State) -> bool {
    state.change.as_ref().map(|c| c.kind) == Some(ChangeKind::Rollback)
        || state.queued.as_ref().map(|q| q.kind) == Some(ChangeKind::Rollback)
}

/// Sends a change, or queues it behind the one in flight. The id it was
/// given, unless it was refused.
pub(super) fn submit(
    state: &mut State,
    split: TrafficSplit,
    kind: ChangeKind,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) -> Option<u64> {
    // A rollback on its way is never replaced or held up by another change.
    if rollback_on_its_way(state) && kind != ChangeKind::Rollback {
        say(
            state,
            Level::Warn,
            format!(
                "refused: a rollback is on its way; {} {split} waits until it has landed",
                kind.verb()
            ),
        );
        if let ChangeKind::Plan(step) = kind {
            plan::plan_step_failed(state, step, "a rollback is on its way".into(), fx);
        }
        return None;
    }
    let id = state.next_change_id;
    state.next_change_id += 1;
    if state.change.is_some() {
        say(
            state,
            Level::Info,
            format!(
                "{} queued ({split}): sent when the change in flight lands",
                kind.verb()
            ),
        );
        state.queued = Some(QueuedChange {
            id,
            kind,
            split,
            reason,
            decided_on: None,
        });
        return Some(id);
    }
    send(state, id, split, kind, reason, fx)
}

fn send(
    state: &mut State,
    id: u64,
    split: TrafficSplit,
    kind: ChangeKind,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) -> Option<u64> {
    if refused_without_journal(state, kind) {
        if let ChangeKind::Plan(step) = kind {
            plan::plan_step_failed(
                state,
                step,
                "the audit journal cannot be written".into(),
                fx,
            );
        }
        return None;
    }
    let snapshot = state.snapshot.as_ref()?;
    if let Err(e) = traffic::check_ready(snapshot, &snapshot.traffic, &split) {
        say(state, Level::Error, format!("refused: {e}"));
        match kind {
            ChangeKind::Plan(step) => plan::plan_step_failed(state, step, e, fx),
            ChangeKind::Rollback => plan::change_failed(state, kind, e, fx),
            _ => {}
        }
        return None;
    }
    let before = snapshot.traffic.clone();
    fx.push(Effect::SetTraffic {
        id,
        split: split.clone(),
        expect: snapshot.version.clone(),
        kind,
        before: before.clone(),
        reason: reason.clone(),
    });
    say(
        state,
        Level::Info,
        format!("{} {}: applying {split}…", kind.verb(), ChangeNo(id)),
    );
    state.change = Some(PendingChange {
        id,
        kind,
        before,
        split,
        started: state.now,
        reason,
    });
    Some(id)
}

pub(super) fn reask_after_conflict(state: &mut State, c: QueuedChange, fx: &mut Vec<Effect>) {
    let Some(snapshot) = state.snapshot.as_ref() else {
        state.conflicted = Some(c);
        return;
    };
    if snapshot.traffic == c.split {
        say(
            state,
            Level::Info,
            "someone else already set this split; nothing to do",
        );
        plan::change_landed(state, c.kind, fx);
        return;
    }
    // Only the version moved (the split is the one the change was decided
    // on): sent again once with the version just read, not asked again.
    if c.decided_on.as_ref() == Some(&snapshot.traffic)
        && state.resent_after_conflict != Some(c.id)
        && c.kind != ChangeKind::Rollback
    {
        // Not when a rollback went out meanwhile (it is never replaced nor
        // followed by the change it superseded), nor for a plan step the
        // plan has left.
        let step_left = match c.kind {
            ChangeKind::Plan(step) => {
                !matches!(state.active_phase(), Some(Phase::Applying { step: s }) if s == step)
            }
            _ => false,
        };
        if rollback_on_its_way(state) || step_left {
            say(
                state,
                Level::Warn,
                format!(
                    "{} {} not sent again: {}",
                    c.kind.verb(),
                    ChangeNo(c.id),
                    if step_left {
                        "the plan has moved on"
                    } else {
                        "a rollback is on its way"
                    }
                ),
            );
            if let ChangeKind::Plan(step) = c.kind {
                plan::plan_step_failed(state, step, "a rollback is on its way".into(), fx);
            }
            return;
        }
        let text = format!(
            "the service's version moved, not its traffic: {} {} sent again on the new version",
            c.kind.verb(),
            ChangeNo(c.id)
        );
        state.resent_after_conflict = Some(c.id);
        let sent = if state.change.is_some() {
            state.queued = Some(c);
            true
        } else {
            send(state, c.id, c.split, c.kind, c.reason, fx).is_some()
        };
        if sent {
            say(state, Level::Info, text);
        }
        return;
    }
    // "All to the stable" means the same whatever moved: sent again at once
    // with the version just read (keeping its number and its reason).
    if c.kind == ChangeKind::Rollback {
        say(
            state,
            Level::Warn,
            "someone else changed the service: rollback sent again on the new version",
        );
        if state.change.is_some() {
            state.queued = Some(c);
        } else {
            send(state, c.id, c.split, c.kind, c.reason, fx);
        }
        return;
    }
    // Never over a dialog or box the operator is using: asked when it closes.
    if !matches!(state.mode, Mode::Normal) {
        state.conflicted = Some(c);
        return;
    }
    state.mode = Mode::Confirm(Confirmation {
        kind: c.kind,
        before: snapshot.traffic.clone(),
        preview: crate::core::preview::preview(snapshot, &c.split),
        after: c.split,
        expect: snapshot.version.clone(),
        note: Some(format!(
            "someone else changed the service: it is now {}; apply yours anyway?",
            snapshot.traffic
        )),
        plan_action: None,
        plan_phase: state.active_phase(),
        unprompted: true,
        scale_down: None,
    });
}

pub(super) fn on_applied(
    state: &mut State,
    id: u64,
    snapshot: ServiceSnapshot,
    fx: &mut Vec<Effect>,
) {
    let Some(change) = state.change.take_if(|c| c.id == id) else {
        return;
    };
    let now = state.now;
    state.write_generation += 1;
    state.service_health.ok(now);
    // Our own change: the history learns it from the change (journaled as
    // applied), not as something observed from outside.
    state
        .role_history
        .observe_change(&change.before, &change.split);
    load_snapshot(state, snapshot, fx);
    let took = (now - change.started).num_milliseconds();
    say(
        state,
        Level::Info,
        format!(
            "{} {} done in {took} ms: {}",
            change.kind.verb(),
            ChangeNo(change.id),
            change.split
        ),
    );
    notify_manual(state, &change, "done", fx);
    plan::change_landed(state, change.kind, fx);
    if let Some(q) = state.queued.take() {
        if state.snapshot.as_ref().map(|s| &s.traffic) != Some(&q.split) {
            send(state, q.id, q.split, q.kind, q.reason, fx);
        } else {
            // Already in effect: nothing to send, but the plan hears it landed.
            plan::change_landed(state, q.kind, fx);
        }
    }
}

pub(super) fn on_failed(state: &mut State, id: u64, error: BackendError, fx: &mut Vec<Effect>) {
    let Some(change) = state.change.take_if(|c| c.id == id) else {
        return;
    };
    let mut dropped = state.queued.take();
    fx.push(Effect::RefreshService);
    // A rollback waiting behind the failed change goes out anyway, and the
    // failed change is not asked again (the rollback supersedes it).
    if let Some(q) = dropped.take_if(|q| q.kind == ChangeKind::Rollback) {
        say(
            state,
            Level::Error,
            format!(
                "{} {} failed: {error}; the queued rollback goes out now",
                change.kind.verb(),
                ChangeNo(change.id)
            ),
        );
        plan::change_failed(state, change.kind, error.to_string(), fx);
        let Some(snapshot) = state.snapshot.as_ref() else {
            return;
        };
        if snapshot.traffic == q.split {
            // Already in effect (the failed change did not land): nothing to send.
            plan::change_landed(state, q.kind, fx);
            return;
        }
        // The failed change may have landed after all: no unready revision
        // gains relative to it either.
        if let Err(e) = traffic::check_ready(snapshot, &change.split, &q.split) {
            say(state, Level::Error, format!("rollback refused: {e}"));
            plan::change_failed(state, q.kind, e, fx);
            return;
        }
        send(state, q.id, q.split, q.kind, q.reason, fx);
        return;
    }
    if let BackendError::Conflict(_) = error {
        // Re-read, then show what changed and ask again.
        state.conflicted = Some(dropped.unwrap_or(QueuedChange {
            id: change.id,
            kind: change.kind,
            split: change.split,
            reason: change.reason,
            decided_on: Some(change.before),
        }));
        say(
            state,
            Level::Warn,
            "someone else changed the service: re-reading it before asking you again",
        );
        return;
    }
    let tail = if dropped.is_some() {
        " (the queued change was dropped too)"
    } else {
        ""
    };
    let text = match &error {
        BackendError::Unconfirmed { message, read_back } => format!(
            "{} {}: NOT KNOWN whether it was applied: {message}{tail}; the platform reports {}",
            change.kind.verb(),
            ChangeNo(change.id),
            read_back
                .as_ref()
                .map_or("nothing readable yet (re-reading)".to_string(), |s| s
                    .to_string())
        ),
        _ => format!(
            "{} {} failed: {error}{tail}; the split stays as the platform reports it",
            change.kind.verb(),
            ChangeNo(change.id)
        ),
    };
    say(state, Level::Error, text);
    let what = match &error {
        BackendError::Unconfirmed { .. } => "NOT KNOWN whether it was applied",
        _ => "FAILED",
    };
    notify_manual(state, &change, what, fx);
    plan::change_failed(state, change.kind, error.to_string(), fx);
}

/// A dialog never acts on a world that moved under it: when the split it
/// was computed on or the plan's phase changed, it is asked again with the
/// new before/after, or closed when there is nothing left to decide.
pub(super) fn revalidate_dialog(state: &mut State, fx: &mut Vec<Effect>) {
    let c = match &state.mode {
        Mode::Confirm(c) if c.scale_down.is_some() => {
            super::keepwarm::revalidate(state);
            return;
        }
        Mode::Confirm(c) if matches!(c.plan_action, Some(PlanAction::Remote(_))) => {
            super::remote::revalidate(state);
            return;
        }
        Mode::Confirm(c) => c,
        Mode::Input(i) => match &i.kind {
            InputKind::Reason { then, .. } => &**then,
            _ => return,
        },
        _ => return,
    };
    let phase = state.active_phase();
    let basis = state.desired().cloned();
    let plan_moved = c.plan_phase != phase;
    if !plan_moved && basis.as_ref() == Some(&c.before) {
        return;
    }
    let c = c.clone();
    let (Some(basis), Some(version)) = (basis, state.snapshot.as_ref().map(|s| s.version.clone()))
    else {
        return;
    };
    let what = c.plan_action.as_ref().map_or_else(
        || c.kind.verb(),
        |a| match a {
            PlanAction::Start => "start the plan".into(),
            PlanAction::Advance | PlanAction::Override => "advance the plan".into(),
            PlanAction::Abort => "abort the plan".into(),
            PlanAction::Remote(k) => format!("ask the driver to {}", k.verb()),
        },
    );
    let close = |state: &mut State, why: String| {
        state.mode = Mode::Normal;
        say(state, Level::Warn, format!("dialog closed ({what}): {why}"));
    };
    // A text box is never turned into a y/n question: the next letter typed
    // would answer it.
    let in_box = matches!(state.mode, Mode::Input(_));
    let plan_falls_back = plan_moved
        && state.plan.as_ref().is_some_and(|p| {
            matches!(
                p.phase,
                Phase::RollingBack { .. } | Phase::RolledBack { .. } | Phase::Failed { .. }
            )
        });
    match &c.plan_action {
        Some(PlanAction::Abort) | None if basis == c.after => {
            // `basis` counts a change still on its way: that one is not
            // landed yet, and its own answer moves the plan (a rollback that
            // fails must not have been called done).
            let on_its_way = state.change.is_some() || state.queued.is_some();
            let why = if on_its_way {
                format!("nothing left to do, a change to {basis} is on its way")
            } else {
                format!("nothing left to do, the split already is {basis}")
            };
            close(state, why);
            // A plan step or rollback that is already in effect has landed.
            if !on_its_way && matches!(c.kind, ChangeKind::Plan(_) | ChangeKind::Rollback) {
                plan::change_landed(state, c.kind, fx);
            }
        }
        Some(PlanAction::Abort) if phase.is_none() => {
            let label = state
                .plan
                .as_ref()
                .map_or("over".into(), |p| p.phase.label());
            close(state, format!("the plan is already {label}"));
        }
        Some(PlanAction::Start | PlanAction::Advance | PlanAction::Override) => {
            let now = phase.map_or("finished".into(), |p| p.label());
            close(
                state,
                format!("the plan moved on while you were deciding (now {now}); nothing was done"),
            );
        }
        None if plan_falls_back && c.kind != ChangeKind::Rollback => {
            let label = state.plan.as_ref().map_or(String::new(), |p| p.phase.label());
            close(state, format!("the plan is {label}; nothing was done"));
        }
        _ if in_box => close(
            state,
            format!("the split changed while you were typing (now {basis}); nothing was done, ask again"),
        ),
        _ => {
            let note = if basis == c.before {
                let now = phase.as_ref().map_or("finished".into(), |p| p.label());
                format!("the plan moved while you were deciding (now {now}); confirm again")
            } else {
                format!("the split changed while you were deciding: it is now {basis}; confirm again")
            };
            say(state, Level::Warn, note.clone());
            state.mode = Mode::Confirm(Confirmation {
                preview: state
                    .snapshot
                    .as_ref()
                    .map_or_else(Vec::new, |s| crate::core::preview::preview(s, &c.after)),
                before: basis,
                expect: version,
                note: Some(note),
                plan_phase: phase,
                unprompted: true,
                scale_down: None,
                ..c
            });
        }
    }
}
