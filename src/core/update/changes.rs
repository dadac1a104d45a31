//! Traffic changes: guardrails, confirmation, one in flight at a time,
//! queueing, conflicts, results.

use super::audit::{notify_manual, refused_without_journal};
use super::keys::{open_input, reason_needed};
use super::{flow, load_snapshot, say};
use crate::core::action::{ChangeKind, Effect};
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, TrafficSplit};
use crate::core::state::{
    Confirmation, InputKind, Level, Mode, PendingChange, QueuedChange, State,
};
use crate::core::traffic;

/// Guardrails, then confirmation when needed, then submission.
pub(super) fn request_change(
    state: &mut State,
    split: TrafficSplit,
    kind: ChangeKind,
    fx: &mut Vec<Effect>,
) {
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
    let large = jump > state.settings.max_step;
    if matches!(kind, ChangeKind::Promote | ChangeKind::Rollback) || large {
        let note = large.then(|| {
            format!(
                "a jump of {jump} points, more than max_step = {}",
                state.settings.max_step
            )
        });
        state.mode = Mode::Confirm(Confirmation {
            kind,
            preview: (state.previewer.0)(&split),
            before: basis,
            after: split,
            expect: snapshot.version.clone(),
            note,
            plan_action: None,
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
    if flow::plan_active(state) {
        if kind == ChangeKind::Rollback {
            flow::abort(
                state,
                reason.unwrap_or_else(|| "rolled back by the operator".into()),
                fx,
            );
            return;
        }
        flow::manual_change(state, fx);
    }
    submit(state, split, kind, reason, fx);
}

/// `y` on a confirmation; `reason` is `None` until the reason box was shown.
pub(super) fn confirmed(
    state: &mut State,
    c: Confirmation,
    reason: Option<Option<String>>,
    fx: &mut Vec<Effect>,
) {
    let reason = match reason {
        Some(r) => r,
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
    if let Some(action) = &c.plan_action {
        flow::plan_confirmed(state, action.clone(), reason, fx);
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
    if snapshot.version != c.expect && state.change.is_none() {
        // Someone else changed the service meanwhile: show it and ask again.
        reask_after_conflict(
            state,
            QueuedChange {
                kind: c.kind,
                split: c.after,
                reason,
            },
        );
        return;
    }
    if let ChangeKind::Plan(_) = c.kind {
        submit(state, c.after, c.kind, reason, fx);
    } else {
        manual(state, c.after, c.kind, reason, fx);
    }
}

/// `n` / Esc on a confirmation or its reason box.
pub(super) fn cancelled(state: &mut State, c: &Confirmation, fx: &mut Vec<Effect>) {
    if let ChangeKind::Plan(step) = c.kind {
        flow::plan_step_failed(
            state,
            step,
            "the operator declined to re-apply it".into(),
            fx,
        );
    }
    say(state, Level::Info, "cancelled: nothing was changed");
}

/// Sends a change, or queues it behind the one in flight.
pub(super) fn submit(
    state: &mut State,
    split: TrafficSplit,
    kind: ChangeKind,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
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
            kind,
            split,
            reason,
        });
        return;
    }
    if refused_without_journal(state, kind) {
        if let ChangeKind::Plan(step) = kind {
            flow::plan_step_failed(
                state,
                step,
                "the audit journal cannot be written".into(),
                fx,
            );
        }
        return;
    }
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    if let Err(e) = traffic::check_ready(snapshot, &snapshot.traffic, &split) {
        say(state, Level::Error, format!("refused: {e}"));
        if let ChangeKind::Plan(step) = kind {
            flow::plan_step_failed(state, step, e, fx);
        }
        return;
    }
    let id = state.next_change_id;
    state.next_change_id += 1;
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
        format!("{}: applying {split}…", kind.verb()),
    );
    state.change = Some(PendingChange {
        id,
        kind,
        before,
        split,
        started: state.now,
        reason,
    });
}

pub(super) fn reask_after_conflict(state: &mut State, c: QueuedChange) {
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
        return;
    }
    state.mode = Mode::Confirm(Confirmation {
        kind: c.kind,
        before: snapshot.traffic.clone(),
        preview: (state.previewer.0)(&c.split),
        after: c.split,
        expect: snapshot.version.clone(),
        note: Some(format!(
            "someone else changed the service: it is now {}; apply yours anyway?",
            snapshot.traffic
        )),
        plan_action: None,
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
    state.snapshot_watermark = Some(now);
    state.service_health.ok(now);
    load_snapshot(state, snapshot, fx);
    let took = (now - change.started).num_milliseconds();
    say(
        state,
        Level::Info,
        format!("{} done in {took} ms: {}", change.kind.verb(), change.split),
    );
    notify_manual(state, &change, "done", fx);
    flow::change_landed(state, change.kind, fx);
    if let Some(q) = state.queued.take() {
        if state.snapshot.as_ref().map(|s| &s.traffic) != Some(&q.split) {
            submit(state, q.split, q.kind, q.reason, fx);
        }
    }
}

pub(super) fn on_failed(state: &mut State, id: u64, error: BackendError, fx: &mut Vec<Effect>) {
    let Some(change) = state.change.take_if(|c| c.id == id) else {
        return;
    };
    let dropped = state.queued.take();
    fx.push(Effect::RefreshService);
    if let BackendError::Conflict(_) = error {
        // Re-read, then show what changed and ask again.
        state.conflicted = Some(dropped.unwrap_or(QueuedChange {
            kind: change.kind,
            split: change.split,
            reason: change.reason,
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
            "{}: NOT KNOWN whether it was applied: {message}{tail}; the platform reports {}",
            change.kind.verb(),
            read_back
                .as_ref()
                .map_or("nothing readable yet (re-reading)".to_string(), |s| s
                    .to_string())
        ),
        _ => format!(
            "{} failed: {error}{tail}; the split stays as the platform reports it",
            change.kind.verb()
        ),
    };
    say(state, Level::Error, text);
    let what = match &error {
        BackendError::Unconfirmed { .. } => "NOT KNOWN whether it was applied",
        _ => "FAILED",
    };
    notify_manual(state, &change, what, fx);
    flow::change_failed(state, change.kind, error.to_string(), fx);
}
