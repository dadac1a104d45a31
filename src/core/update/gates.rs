//! The gates: what the metrics, the checks and the judge say about the
//! canary, with the noise guard, and the plan's reaction to it.

use chrono::{DateTime, Utc};

use super::plan::{carry_out, feed, plan_active};
use crate::core::action::Effect;
use crate::core::model::MetricKind;
use crate::core::plan::{PlanEvent, Verdict};
use crate::core::record::{Event, GatesObserved};
use crate::core::state::{GatesMode, ObservedGates, State};

pub(super) fn mean_recent(state: &State, revision: &str, kind: MetricKind) -> Option<f64> {
    let since = state.now - chrono::Duration::from_std(state.settings.gates.window).ok()?;
    let series = state.metrics.series.get(&(revision.to_string(), kind))?;
    let vals: Vec<f64> = series
        .points
        .iter()
        .filter(|(t, v)| *t >= since && v.is_finite())
        .map(|(_, v)| *v)
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// The revision the gates judge: the plan's canary (also once it finished,
/// for the story on screen), else the canary of [`crate::core::roles`].
fn judged(state: &State) -> Option<String> {
    if let Some(p) = &state.plan {
        return Some(p.canary.clone());
    }
    state.canary().map(str::to_string)
}

/// What the metric gates say about the canary right now (before the
/// sustain guard), and whether a failure came from metrics.
pub fn evaluate_gates(state: &State) -> Verdict {
    let Some(canary) = judged(state) else {
        return Verdict::NoData("no canary selected".into());
    };
    // A metric check with no data while the canary has no traffic (the
    // checks before a plan's first step) is no verdict on it.
    let serving = state
        .snapshot
        .as_ref()
        .is_some_and(|s| s.serving().percent_of(&canary) > 0);
    if let Some(b) = state.battery.as_ref().filter(|b| b.revision == canary) {
        let judged = b
            .blocking_failures()
            .into_iter()
            .find(|r| serving || !r.result.as_ref().is_some_and(|x| x.no_data()));
        if let Some(f) = judged {
            let why = f.result.as_ref().map_or("", |r| r.reason.as_str());
            return Verdict::Red(format!("check `{}` failed: {why}", f.info.name));
        }
    }
    if let Some((e, _)) = &state.metrics_health.error {
        return Verdict::NoData(format!("metrics unavailable: {e}"));
    }
    // The judge's failure (act mode) counts before the thresholds' noise guard.
    if let Some(v @ Verdict::Red(_)) = super::judging::gate(state) {
        return v;
    }
    // Thresholds that only observe neither roll back nor hold a promotion:
    // they are judged apart ([`evaluate_thresholds`]), the judge decides.
    if state.settings.gates.mode == GatesMode::Act {
        if let Some(v) = thresholds(state, &canary) {
            return v;
        }
    }
    let g = &state.settings.gates;
    // Green needs fresh numbers: a hung source reports no error until its
    // request times out, and the last batch would pass for the present.
    if let Some(age) = state
        .metrics_health
        .last_ok
        .and_then(|t| (state.now - t).to_std().ok())
        .filter(|age| *age > g.max_metrics_age)
    {
        return Verdict::NoData(format!(
            "the latest metrics are {}s old (no answer from the source)",
            age.as_secs()
        ));
    }
    if let Some(v) = super::judging::gate(state) {
        return v;
    }
    if let Some(b) = state.battery.as_ref().filter(|b| b.revision == canary) {
        if b.finished.is_none() {
            return Verdict::NoData("verification checks still running".into());
        }
    }
    Verdict::Green
}

/// What the fixed thresholds alone say: too few canary requests in the
/// window ("no data"), a mean over its gate (red), or nothing against the
/// canary (`None`).
fn thresholds(state: &State, canary: &str) -> Option<Verdict> {
    let g = &state.settings.gates;
    let Some(rps) = mean_recent(state, canary, MetricKind::RequestRate) else {
        return Some(Verdict::NoData("no metrics for the canary yet".into()));
    };
    let requests = rps * g.window.as_secs_f64();
    if requests < g.min_requests {
        return Some(Verdict::NoData(format!(
            "only ~{requests:.0} canary requests in the last {}s (need {:.0})",
            g.window.as_secs(),
            g.min_requests
        )));
    }
    if let Some(e) = mean_recent(state, canary, MetricKind::ErrorPercent) {
        if e > g.error_percent {
            return Some(Verdict::Red(format!(
                "canary 5xx {e:.2} % > gate {} %",
                g.error_percent
            )));
        }
    }
    if let Some(p) = mean_recent(state, canary, MetricKind::LatencyP95) {
        if p > g.p95_latency_ms {
            return Some(Verdict::Red(format!(
                "canary p95 {p:.0} ms > gate {} ms",
                g.p95_latency_ms
            )));
        }
    }
    None
}

/// The thresholds' own verdict (before the sustain guard), whatever their
/// mode: what they say, or would say, about the canary.
pub fn evaluate_thresholds(state: &State) -> Verdict {
    let Some(canary) = judged(state) else {
        return Verdict::NoData("no canary selected".into());
    };
    if let Some((e, _)) = &state.metrics_health.error {
        return Verdict::NoData(format!("metrics unavailable: {e}"));
    }
    thresholds(state, &canary).unwrap_or(Verdict::Green)
}

/// The noise guard: a metric's red counts once it held for `sustain`
/// (`Confirming` until then); checks and the judge count at once.
fn sustained(
    raw: Verdict,
    red_since: &mut Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    sustain: std::time::Duration,
) -> Verdict {
    match &raw {
        Verdict::Red(why) if !why.starts_with("check ") && !why.starts_with("judge: ") => {
            let since = *red_since.get_or_insert(now);
            if (now - since).to_std().unwrap_or_default() >= sustain {
                raw
            } else {
                Verdict::Confirming(why.clone())
            }
        }
        _ => {
            *red_since = None;
            raw
        }
    }
}

/// While the thresholds only observe: their verdict, sustained as if they
/// acted, kept for the screen and the event stream, and journaled when it
/// changes. Never fed to the plan.
fn observe_thresholds(state: &mut State, fx: &mut Vec<Effect>) {
    if state.settings.gates.mode != GatesMode::Observe {
        state.observed_gates = None;
        return;
    }
    let raw = evaluate_thresholds(state);
    let before = state.observed_gates.take();
    let mut red_since = before.as_ref().and_then(|o| o.red_since);
    let verdict = sustained(raw, &mut red_since, state.now, state.settings.gates.sustain);
    let changed = before
        .as_ref()
        .is_none_or(|o| o.verdict.kind() != verdict.kind());
    if changed {
        let n = gate_numbers(state);
        fx.push(Effect::Journal(Event::GatesObserved(GatesObserved {
            verdict: verdict.kind().into(),
            why: verdict.why().map(str::to_string),
            canary: n.canary,
            error_percent: n.error_percent,
            p95_ms: n.p95_ms,
            max_error_percent: n.max_error_percent,
            max_p95_ms: n.max_p95_ms,
        })));
    }
    state.observed_gates = Some(ObservedGates { verdict, red_since });
}

/// The newest point of the latest metrics batch: what the source has
/// delivered so far (its lag is `now` minus this; the judge measures the same).
pub fn newest_point(state: &State) -> Option<DateTime<Utc>> {
    crate::core::model::data_until(&state.metrics)
}

/// Re-judges the gates and lets the plan react. Metric failures must stay
/// red for `gates.sustain` (noise guard); check failures count at once.
pub(super) fn judge(state: &mut State, fx: &mut Vec<Effect>) {
    super::judging::run(state, fx);
    observe_thresholds(state, fx);
    let raw = evaluate_gates(state);
    let mut red_since = state.red_since;
    let verdict = sustained(raw, &mut red_since, state.now, state.settings.gates.sustain);
    state.red_since = red_since;
    state.verdict = verdict.clone();
    // What the metrics cover: a window is not over before its data is in.
    // A source that does not answer (an error, or nothing for
    // `max_metrics_age`) is not late but silent: nothing to wait for, the
    // gates say "no data".
    let answering = state.metrics_health.error.is_none()
        && state.metrics_health.last_ok.is_some_and(|t| {
            (state.now - t).to_std().unwrap_or_default() <= state.settings.gates.max_metrics_age
        });
    let newest = newest_point(state);
    if let Some(plan) = state.plan.as_mut() {
        plan.data_until = if answering {
            newest.or(plan.data_until)
        } else {
            None
        };
    }
    if plan_active(state) {
        feed(state, PlanEvent::Gates(verdict.clone()), fx);
        let now = state.now;
        if let Some(plan) = state.plan.as_mut() {
            let cmds = plan.advance_if_green(&verdict, now);
            carry_out(state, cmds, true, fx);
        }
    }
}

/// The numbers the metric gates judged the canary on, and their thresholds:
/// what [`evaluate_gates`] compares, for `canary release`'s event stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GateNumbers {
    pub canary: Option<String>,
    /// Means over the gates' window (`None`: no data).
    pub error_percent: Option<f64>,
    pub p95_ms: Option<f64>,
    pub rps: Option<f64>,
    /// Canary requests in the window (rps × window).
    pub requests: Option<f64>,
    pub max_error_percent: f64,
    pub max_p95_ms: f64,
    pub min_requests: f64,
    pub window_s: u64,
    pub sustain_s: u64,
}

/// What the gates see now (the same means [`evaluate_gates`] uses).
pub fn gate_numbers(state: &State) -> GateNumbers {
    let canary = judged(state);
    let g = &state.settings.gates;
    let of = |kind| canary.as_deref().and_then(|c| mean_recent(state, c, kind));
    let rps = of(MetricKind::RequestRate);
    GateNumbers {
        error_percent: of(MetricKind::ErrorPercent),
        p95_ms: of(MetricKind::LatencyP95),
        requests: rps.map(|r| r * g.window.as_secs_f64()),
        rps,
        canary,
        max_error_percent: g.error_percent,
        max_p95_ms: g.p95_latency_ms,
        min_requests: g.min_requests,
        window_s: g.window.as_secs(),
        sustain_s: g.sustain.as_secs(),
    }
}
