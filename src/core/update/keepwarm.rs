//! Blue/green's old colour after a switch: kept running for `keep_warm`
//! (a rollback meanwhile is instant), then scaled to 0 — asked in manual
//! mode, done by itself in auto mode — and journaled either way. The
//! countdown comes from the platform ([`crate::core::model::KeepWarm`], read
//! with the service), so a restart of the cockpit keeps it.

use chrono::{DateTime, Duration, Utc};

use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::error::BackendError;
use crate::core::model::KeepWarm;
use crate::core::plan::PlanMode;
use crate::core::state::{Confirmation, Level, Mode, State};
use crate::journal::Event;

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
    if state.settings.plan.mode == PlanMode::Auto {
        send(state, kw, "auto mode", fx);
        return;
    }
    if state.keep_warm.declined_until.is_some_and(|t| now < t)
        || !matches!(state.mode, Mode::Normal)
    {
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
        preview: kw_preview(state, &kw),
        note: Some(format!(
            "{} has been kept warm since the switch ({} replicas, none serving): scale it to 0? \
             A rollback to it afterwards scales it back up first, and waits for it.",
            kw.revision, kw.replicas
        )),
        plan_action: None,
        plan_phase: state.active_phase(),
        unprompted: true,
        scale_down: Some(kw),
    });
}

/// The platform's call, from the detail lines it reported (`scale call`),
/// else a plain sentence.
fn kw_preview(state: &State, kw: &KeepWarm) -> Vec<String> {
    let calls: Vec<String> = state
        .snapshot
        .as_ref()
        .and_then(|s| s.extra.details.get(&kw.revision))
        .map(|lines| {
            lines
                .iter()
                .filter(|(label, _)| label == "scale call")
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap_or_default();
    if calls.is_empty() {
        vec![format!("scale {} to 0 replicas", kw.revision)]
    } else {
        calls
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
            fx.push(note(format!("scale-down done: {done}")));
            say(state, Level::Info, format!("scaled to 0: {done}"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::action::Action;
    use crate::core::state::Settings;
    use crate::core::update::update;

    fn state_with(mode: PlanMode, until_secs: i64) -> (State, DateTime<Utc>) {
        let mut settings = Settings::default();
        settings.plan.mode = mode;
        let mut state = crate::testing::busy_state_with(settings);
        let now = state.now;
        let snap = state.snapshot.as_mut().expect("snapshot");
        let old = snap.revisions[1].name.clone();
        snap.extra.keep_warm = Some(KeepWarm {
            revision: old,
            until: now + Duration::seconds(until_secs),
            replicas: 3,
        });
        (state, now)
    }

    fn notes(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Journal(Event::Note { message }) => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn auto_mode_scales_down_by_itself_when_the_time_is_over() {
        let (mut state, now) = state_with(PlanMode::Auto, 60);
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(59));
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(60));
        let rev = state.snapshot.as_ref().expect("s").revisions[1]
            .name
            .clone();
        assert!(fx.contains(&Effect::ScaleDown {
            revision: rev.clone()
        }));
        assert!(notes(&fx)[0].starts_with(&format!("scale-down requested: {rev}")));
        // Once: not sent again while in flight.
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(61));
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(
            &mut state,
            Action::ScaledDown {
                revision: rev.clone(),
                result: Ok(format!("{rev} 3 → 0 replicas")),
            },
            now + Duration::seconds(62),
        );
        assert!(notes(&fx)[0].starts_with("scale-down done"));
        assert!(fx.contains(&Effect::RefreshService));
    }

    #[test]
    fn manual_mode_asks_and_no_waits() {
        let (mut state, now) = state_with(PlanMode::Manual, 0);
        let fx = update(&mut state, Action::Tick, now);
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let Mode::Confirm(c) = &state.mode else {
            panic!("asked: {:?}", state.mode.name())
        };
        assert!(c.scale_down.is_some());
        assert!(c.unprompted);
        // n: declined, journaled, not asked again at once.
        let n = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('n'));
        let fx = update(&mut state, Action::Key(n), now);
        assert!(notes(&fx)[0].starts_with("scale-down declined"));
        assert!(matches!(state.mode, Mode::Normal));
        update(&mut state, Action::Tick, now + Duration::seconds(10));
        assert!(matches!(state.mode, Mode::Normal));
        // Asked again later; y sends it.
        update(&mut state, Action::Tick, now + Duration::minutes(6));
        assert!(matches!(state.mode, Mode::Confirm(_)));
        let y = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('y'));
        let fx = update(&mut state, Action::Key(y), now + Duration::minutes(6));
        assert!(fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        // No traffic change was made for it.
        assert!(!fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })));
    }

    #[test]
    fn the_question_closes_when_the_colour_is_no_longer_kept_warm() {
        let (mut state, now) = state_with(PlanMode::Manual, 0);
        update(&mut state, Action::Tick, now);
        assert!(matches!(state.mode, Mode::Confirm(_)));
        let mut snap = state.snapshot.clone().expect("s");
        snap.extra.keep_warm = None;
        update(
            &mut state,
            Action::ServiceLoaded {
                snapshot: snap,
                requested_at: now,
            },
            now,
        );
        assert!(matches!(state.mode, Mode::Normal));
    }
}
