//! The statistical judge wired into the cockpit: it takes every metrics
//! batch, judges after every batch and tick, journals each change of its
//! verdict, and (in `act` mode) speaks through the gates.

use chrono::{DateTime, Utc};

use super::say;
use crate::core::action::Effect;
use crate::core::judge::{self, JudgeMode, Outcome};
use crate::core::model::MetricsBatch;
use crate::core::plan::{Phase, Verdict};
use crate::core::record::Event;
use crate::core::state::{Level, State};

/// Seconds after a step starts before the rate check looks (the first
/// points mix the old split with the new).
const SETTLE_SECS: i64 = 15;

/// The pair the judge compares and where its data starts: the plan's
/// canary and its baseline while that serves (else the plan's stable) from
/// the plan's start, else the roles' pair.
fn aim(state: &State) -> Option<(String, String, Option<DateTime<Utc>>)> {
    if let Some(p) = &state.plan {
        let against = baseline_aimed(state).unwrap_or_else(|| p.stable.clone());
        return Some((p.canary.clone(), against, Some(p.started)));
    }
    let canary = state.canary()?.to_string();
    let stable = state.stable()?.to_string();
    (canary != stable).then_some((canary, stable, None))
}

/// The plan's baseline, when the judge compares with it: it serves a share
/// now (ready, the split gives it some), or the plan ended while the judge
/// compared with it (its verdict stays what it was).
pub(crate) fn baseline_aimed(state: &State) -> Option<String> {
    let p = state.plan.as_ref()?;
    let b = p.baseline.as_deref()?;
    let serving = p.baseline_ready
        && state
            .snapshot
            .as_ref()
            .is_some_and(|s| s.serving().percent_of(b) > 0);
    let kept = p.phase.is_finished()
        && state
            .judge
            .key
            .as_ref()
            .is_some_and(|(c, s, _)| *c == p.canary && s == b);
    (serving || kept).then(|| b.to_string())
}

/// A metrics batch arrived.
pub(super) fn observe(state: &mut State, batch: &MetricsBatch) {
    if state.settings.judge.mode == JudgeMode::Off {
        return;
    }
    if let Some((c, s, since)) = aim(state) {
        state.judge.aim(&c, &s, since);
    }
    state.judge.observe(batch);
}

/// Judges now; journals the verdict when it changed.
pub(super) fn run(state: &mut State, fx: &mut Vec<Effect>) {
    let cfg = state.settings.judge.clone();
    if cfg.mode == JudgeMode::Off {
        return;
    }
    let Some((c, s, since)) = aim(state) else {
        state.judge.evidence = None;
        return;
    };
    state.judge.aim(&c, &s, since);
    let expected = state
        .snapshot
        .as_ref()
        .and_then(|snap| judge::expected_share(snap.serving(), &c, &s));
    let window = chrono::Duration::from_std(state.settings.gates.window).unwrap_or_default();
    let mut recent_from = state.now - window;
    // Not the points that straddle the step's change of split.
    if let Some(Phase::Observing { since, .. }) = state.active_phase() {
        recent_from = recent_from.max(since + chrono::Duration::seconds(SETTLE_SECS));
    }
    let mut ev = state.judge.evaluate(&cfg, state.now, expected, recent_from);
    if baseline_aimed(state).is_some() {
        judge::text::versus_baseline(&mut ev);
        if let Some(e) = state.judge.evidence.as_mut() {
            judge::text::versus_baseline(e);
        }
    }
    if state.judge.journaled != Some(ev.outcome) {
        state.judge.journaled = Some(ev.outcome);
        if ev.outcome == Outcome::Fail {
            let acts = if cfg.mode == JudgeMode::Act {
                ""
            } else {
                " (observe only: no action)"
            };
            say(
                state,
                Level::Warn,
                format!("judge: FAIL — {}{acts}", ev.reason),
            );
        }
        fx.push(Effect::Journal(Event::Judge {
            evidence: Box::new(ev),
        }));
    }
}

/// What the judge adds to the gates in `act` mode: a failure is red (it
/// already controls its false alarms: no sustain), inconclusive is no data.
pub(super) fn gate(state: &State) -> Option<Verdict> {
    if state.settings.judge.mode != JudgeMode::Act {
        return None;
    }
    let ev = state.judge.evidence.as_ref()?;
    match ev.outcome {
        Outcome::Pass => None,
        Outcome::Fail => Some(Verdict::Red(format!("judge: {}", ev.reason))),
        Outcome::Inconclusive => Some(Verdict::NoData(format!("judge: {}", ev.reason))),
    }
}
