//! `update(state, action, now) -> effects`: the only place state changes.
//! Pure: no I/O, no clock (time comes in as `now`).

mod audit;
mod baseline;
mod battery;
mod changes;
mod cmdline;
mod deploy;
mod drive;
mod gates;
mod history;
mod judging;
mod keepwarm;
mod keys;
mod logs;
mod plan;
mod plan_keys;
mod remote;

use crate::core::key::KeyEventKind;
use chrono::{DateTime, Utc};

use super::action::{Action, ChangeKind, Effect};
use super::model::ServiceSnapshot;
use super::state::{Confirmation, Level, Message, Mode, State};

pub use audit::manual_notification;
pub use baseline::cleanup_pending as baseline_cleanup_pending;
pub use drive::split_moved;
pub use gates::{evaluate_gates, gate_numbers, GateNumbers};
pub use logs::LOG_PAGE;
pub use plan::resume_interrupted_plan;
pub use remote::{remote_paused, who as remote_driver};

/// Applies one action and returns the work to do.
pub fn update(state: &mut State, action: Action, now: DateTime<Utc>) -> Vec<Effect> {
    state.now = now;
    let mut fx = Vec::new();
    match action {
        Action::Tick => {
            gates::judge(state, &mut fx);
            keepwarm::tick(state, &mut fx);
        }
        Action::Resize => {}
        Action::Key(key) => keys::on_key(state, key, &mut fx),
        Action::Paste(text) => keys::on_paste(state, &text),
        Action::ServiceLoaded {
            snapshot,
            generation,
        } => {
            // A read that started before the last change landed is dropped.
            if generation >= state.write_generation {
                state.service_health.ok(now);
                load_snapshot(state, snapshot, &mut fx);
                if let Some(c) = state.conflicted.take() {
                    changes::reask_after_conflict(state, c, &mut fx);
                }
                deploy::after_read(state, &mut fx);
                baseline::after_read(state, &mut fx);
            }
        }
        Action::ServiceFailed(err) => state.service_health.failed(err.to_string(), now),
        Action::TrafficApplied { id, snapshot } => {
            if state.change.as_ref().is_some_and(|c| c.id == id) {
                state.last_applied = Some(snapshot.traffic.clone());
            }
            changes::on_applied(state, id, snapshot, &mut fx)
        }
        Action::TrafficFailed { id, error } => changes::on_failed(state, id, error, &mut fx),
        Action::LogBatch(entries) => logs::on_logs(state, entries),
        Action::LogsFailed(err) => state.logs_health.failed(err.to_string(), now),
        Action::MetricsLoaded(batch) => {
            judging::observe(state, &batch);
            state.metrics = batch;
            state.metrics_health.ok(now);
            gates::judge(state, &mut fx);
        }
        Action::MetricsFailed(err) => {
            state.metrics_health.failed(err.to_string(), now);
            gates::judge(state, &mut fx);
        }
        Action::CheckStarted { battery, index } => battery::check_started(state, battery, index),
        Action::CheckFinished {
            battery,
            index,
            result,
        } => battery::check_finished(state, battery, index, result, &mut fx),
        Action::JournalFailed(e) => {
            say(
                state,
                Level::Error,
                format!("AUDIT JOURNAL WRITE FAILED: {e}"),
            );
            audit::journal_health(state, Some(e));
        }
        Action::JournalHealth(h) => audit::journal_health(state, h),
        Action::Progress(p) => audit::on_progress(state, &p),
        Action::Reconciled(lines) => audit::on_reconciled(state, lines),
        Action::NotifyFailed(e) => state.notify_error = Some((e, now)),
        Action::AuditHealth(h) => state.audit_degraded = h,
        Action::JournalLoaded(records) => history::loaded(state, records),
        Action::ReportWritten(Ok(path)) => {
            say(state, Level::Info, format!("report written: {path}"));
        }
        Action::ReportWritten(Err(e)) => {
            say(
                state,
                Level::Error,
                format!("the report could not be written: {e}"),
            );
        }
        Action::Release(event) => deploy::on_event(state, event, &mut fx),
        Action::Drive(request) => drive::on_request(state, request, &mut fx),
        Action::LeaseRead { lease, location } => remote::on_read(state, lease, location, now),
        Action::LeaseRequested(result) => remote::on_requested(state, result),
        Action::ScaledDown { revision, result } => {
            keepwarm::scaled_down(state, revision, result, &mut fx)
        }
        Action::Terminate(why) => {
            state.quit = true;
            say(state, Level::Warn, format!("{why}: leaving"));
            fx.push(Effect::Quit);
        }
    }
    // `q` while a change was in flight: quit once it has landed (its result
    // is then known and journaled), unless another key changed the mind.
    if state.quit_armed && !state.quit && state.change.is_none() && state.queued.is_none() {
        state.quit = true;
        fx.push(Effect::Quit);
    }
    fx.append(&mut state.pending_effects);
    changes::revalidate_dialog(state, &mut fx);
    // Roles follow the plan, the change in flight and the reads: decided once
    // here, after everything else moved.
    state.roles = state.decide_roles();
    fx
}

/// Whether an action can change what is on screen.
pub fn needs_redraw(action: &Action) -> bool {
    match action {
        Action::Key(k) => k.kind != KeyEventKind::Release,
        // A log poll that found nothing new changes nothing on screen but a
        // cleared log error, which the next tick (1 s) draws.
        Action::LogBatch(entries) => !entries.is_empty(),
        _ => true,
    }
}

pub(crate) fn say(state: &mut State, level: Level, text: impl Into<String>) {
    state.message = Some(Message {
        level,
        text: text.into(),
        at: state.now,
    });
}

/// The platform restarted and forgot the split set at runtime (HAProxy):
/// offer, once, to re-apply the last split it confirmed (this session's or
/// the journal's), through the usual confirmation with the exact calls.
fn offer_reapply(state: &mut State, snapshot: &ServiceSnapshot) {
    if !snapshot.runtime_state_lost {
        state.restart_offered = false;
        return;
    }
    if state.restart_offered
        || state.settings.read_only
        || !matches!(state.mode, Mode::Normal)
        || state.change.is_some()
    {
        return;
    }
    let Some(last) = state.last_applied.clone() else {
        return;
    };
    let known = last
        .entries()
        .iter()
        .all(|a| snapshot.revision(&a.revision).is_some());
    if last == snapshot.traffic || !known {
        return;
    }
    state.restart_offered = true;
    state.mode = Mode::Confirm(Confirmation {
        kind: ChangeKind::Set,
        before: snapshot.traffic.clone(),
        preview: crate::core::preview::preview(snapshot, &last),
        after: last,
        expect: snapshot.version.clone(),
        note: Some(
            "the platform restarted and lost the split set at runtime: re-apply the last split it confirmed?"
                .into(),
        ),
        plan_action: None,
        plan_phase: state.active_phase(),
        unprompted: true,
        scale_down: None,
    });
}

pub(crate) fn load_snapshot(state: &mut State, snapshot: ServiceSnapshot, fx: &mut Vec<Effect>) {
    offer_reapply(state, &snapshot);
    // Compared without copying: a poll every few seconds usually finds the same list.
    let same = state.snapshot.as_ref().is_some_and(|old| {
        old.revisions
            .iter()
            .map(|r| &r.name)
            .eq(snapshot.revisions.iter().map(|r| &r.name))
    });
    if !same {
        fx.push(Effect::WatchRevisions(
            snapshot.revisions.iter().map(|r| r.name.clone()).collect(),
        ));
    }
    // A revision at 100 % the history did not know (set outside the
    // cockpit, or before its journal): journaled, so that the scripting
    // commands, which read the journal, decide the stable as the screen does.
    if state.role_history.observe(&snapshot.traffic) {
        fx.push(Effect::Journal(
            crate::core::record::Event::ServiceObserved {
                traffic: snapshot.traffic.clone(),
            },
        ));
    }
    state.snapshot = Some(snapshot);
    state.roles = state.decide_roles();
    let sel_ok = state
        .selected
        .as_deref()
        .is_some_and(|s| state.revisions().iter().any(|r| r.name == s));
    if !sel_ok {
        let revs = state.revisions();
        state.selected = state.canary().map(str::to_string).or_else(|| {
            revs.iter()
                .find(|r| Some(r.name.as_str()) != state.stable())
                .or(revs.first())
                .map(|r| r.name.clone())
        });
        logs::follow_selection(state, fx);
    }
}
