//! Blue/green's old colour after a switch: kept running for `keep_warm`
//! (a rollback meanwhile is instant), then scaled to 0 — asked in manual
//! mode, done by itself in auto mode — and journaled either way. The
//! countdown comes from the platform ([`crate::core::model::KeepWarm`], read
//! with the service), so a restart of the cockpit keeps it. Tested in
//! `tests/core/kubernetes.rs`, on the fixtures of `crates/fakes`.

use chrono::{DateTime, Duration, Utc};

use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::error::BackendError;
use crate::core::model::KeepWarm;
use crate::core::plan::PlanMode;
use crate::core::record::Event;
use crate::core::state::{Confirmation, Level, Mode, State};

/// After a "no", the question comes back this much later.
const ASK_AGAIN: Duration = Duration::minutes(5);

/// The keep-warm the platform reports, if its time is over.
fn due(state: &State, now: DateTime<Utc>) -> Option<KeepWarm> {
    let kw = state.snapshot.as_ref()?.extra.keep_warm.clone()?;
    (now >= kw.until).then_some(kw)
}

fn note(message: String) -> Effect {
    Effect::Journal(Event::Note { message })
}

/// Every tick: when the time is over, scale down (auto mode) or ask.
pub(super) fn tick(state: &mut State, fx: &mut Vec<Effect>) {
    let now = state.now;
    let Some(kw) = due(state, now) else {
        return;
    };
    if state.keep_warm.in_flight.is_some() || state.change.is_some() {
        return;
    }
    if state.settings.read_only
        || state
            .snapshot
            .as_ref()
            .is_some_and(|s| s.extra.read_only.is_some())
    {
        return;
    }
    // After a "no", or a scale-down that failed: not before this, in
    // either mode.
    if state.keep_warm.declined_until.is_some_and(|t| now < t) {
        return;
    }
    if state.settings.plan.mode == PlanMode::Auto {
        send(state, kw, "auto mode", fx);
        return;
    }
    if !matches!(state.mode, Mode::Normal) {
        return;
    }
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    state.mode = Mode::Confirm(Confirmation {
        kind: ChangeKind::Set,
        before: snapshot.traffic.clone(),
        after: snapshot.traffic.clone(),
        expect: snapshot.version.clone(),
        preview: kw_preview(&kw),
        note: Some(format!(
            "{} has been kept warm since the switch ({} replicas, none serving): scale it to 0? \
             A rollback to it afterwards scales it back up first, and waits for it.",
            kw.revision, kw.replicas
        )),
        plan_action: None,
        plan_phase: state.active_phase(),
        unprompted: true,
        scale_down: Some(Box::new(kw)),
    });
}

/// The platform's calls, else a plain sentence.
fn kw_preview(kw: &KeepWarm) -> Vec<String> {
    if kw.calls.is_empty() {
        vec![format!("scale {} to 0 replicas", kw.revision)]
    } else {
        kw.calls.clone()
    }
}

fn send(state: &mut State, kw: KeepWarm, why: &str, fx: &mut Vec<Effect>) {
    state.keep_warm.in_flight = Some(kw.revision.clone());
    state.keep_warm.declined_until = None;
    fx.push(note(format!(
        "scale-down requested: {} from {} replicas to 0, kept warm until {} ({why})",
        kw.revision,
        kw.replicas,
        kw.until.format("%H:%M:%S UTC")
    )));
    fx.push(Effect::ScaleDown {
        revision: kw.revision.clone(),
    });
    say(
        state,
        Level::Info,
        format!("keep-warm over: scaling {} to 0 ({why})", kw.revision),
    );
}

/// `y` on the question.
pub(super) fn confirmed(state: &mut State, kw: KeepWarm, fx: &mut Vec<Effect>) {
    // The world may have moved while the question was open.
    let still = state
        .snapshot
        .as_ref()
        .and_then(|s| s.extra.keep_warm.as_ref())
        .is_some_and(|k| k.revision == kw.revision);
    if !still {
        say(
            state,
            Level::Warn,
            format!(
                "{} is no longer kept warm: nothing to scale down",
                kw.revision
            ),
        );
        return;
    }
    send(state, kw, "confirmed by the operator", fx);
}

/// `n` / Esc on the question.
pub(super) fn declined(state: &mut State, kw: &KeepWarm, fx: &mut Vec<Effect>) {
    state.keep_warm.declined_until = Some(state.now + ASK_AGAIN);
    fx.push(note(format!(
        "scale-down declined: {} keeps running ({} replicas); asked again in 5 minutes",
        kw.revision, kw.replicas
    )));
    say(
        state,
        Level::Info,
        format!(
            "{} keeps running: rollback to it stays instant; asked again in 5 minutes",
            kw.revision
        ),
    );
}

/// The question is closed when its revision is no longer kept warm (a
/// rollback to it, a new switch, someone scaled it).
pub(super) fn revalidate(state: &mut State) {
    let Mode::Confirm(c) = &state.mode else {
        return;
    };
    let Some(kw) = &c.scale_down else { return };
    let current = state
        .snapshot
        .as_ref()
        .and_then(|s| s.extra.keep_warm.as_ref());
    if current.is_none_or(|k| k.revision != kw.revision) {
        let rev = kw.revision.clone();
        state.mode = Mode::Normal;
        say(
            state,
            Level::Warn,
            format!("question closed: {rev} is no longer kept warm"),
        );
    }
}

/// The platform's answer.
pub(super) fn scaled_down(
    state: &mut State,
    revision: String,
    result: Result<String, BackendError>,
    fx: &mut Vec<Effect>,
) {
    state.keep_warm.in_flight = None;
    match result {
        Ok(done) => {
            // Until the refresh below lands, the snapshot still shows the
            // countdown: it is over (else the next tick sends it again, or
            // asks again).
            if let Some(snap) = state.snapshot.as_mut() {
                if snap
                    .extra
                    .keep_warm
                    .as_ref()
                    .is_some_and(|k| k.revision == revision)
                {
                    snap.extra.keep_warm = None;
                }
            }
            fx.push(note(format!("scale-down done: {done}")));
            say(state, Level::Info, format!("scaled to 0: {done}"));
        }
        Err(BackendError::Unconfirmed { message, .. }) => {
            state.keep_warm.declined_until = Some(state.now + ASK_AGAIN);
            fx.push(note(format!(
                "scale-down of {revision}: NOT KNOWN whether it was applied: {message}"
            )));
            say(
                state,
                Level::Error,
                format!("scaling {revision} to 0: NOT KNOWN whether it was applied: {message}"),
            );
        }
        Err(e) => {
            // Not asked again at once: the next try comes after a pause.
            state.keep_warm.declined_until = Some(state.now + ASK_AGAIN);
            fx.push(note(format!("scale-down of {revision} failed: {e}")));
            say(
                state,
                Level::Error,
                format!("scaling {revision} to 0 failed: {e}"),
            );
        }
    }
    fx.push(Effect::RefreshService);
}
