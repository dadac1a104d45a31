//! The statistical judge wired into `update`: observe mode shows and
//! journals without acting; act mode rolls a plan back at once on a failure
//! (no sustain) and never lets an inconclusive verdict promote; a canary
//! inside the fixed gates but clearly worse than the stable is caught.

use std::time::Duration;

use canary::core::action::{Action, ChangeKind, Effect};
use canary::core::judge::{JudgeMode, Outcome};
use canary::core::model::{MetricKind, MetricsBatch, PointCounts, Series};
use canary::core::plan::{OnFailure, Phase, PlanMode, PlanSpec, PlanStep, Verdict};
use canary::core::state::{Mode, Settings, State};
use canary::core::update::update;
use canary::journal::Event;
use canary_fakes::fixtures::{self, ch as key, t0, CANARY, STABLE};
use chrono::{DateTime, Utc};

pub(crate) fn at(s: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(s)
}

/// 10 % for 60 s then 100 %, auto, rolled back on failure; `settings`
/// sets the rest (the judge's and the gates' modes).
pub(crate) fn plan_state(settings: impl FnOnce(&mut Settings)) -> State {
    let mut s = Settings {
        plan: PlanSpec {
            steps: vec![
                PlanStep {
                    percent: 10,
                    observe: Duration::from_secs(60),
                },
                PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                },
            ],
            mode: PlanMode::Auto,
            on_failure: OnFailure::Rollback,
        },
        ..Settings::default()
    };
    settings(&mut s);
    fixtures::state_with(s)
}

fn state(mode: JudgeMode) -> State {
    plan_state(|s| s.judge.mode = mode)
}

/// A log-normal cumulative histogram (10 % buckets) with the given p95.
fn hist(n: f64, p95: f64) -> Vec<(f64, f64)> {
    use canary::core::judge::stats::norm_cdf;
    let sigma: f64 = 0.35;
    let median = p95 / (1.645 * sigma).exp();
    let mut le = vec![];
    let mut b = 1.0f64;
    while b < 60_000.0 {
        le.push((b, (n * norm_cdf((b / median).ln() / sigma)).round()));
        b *= 1.1;
    }
    le.push((60_000.0, n));
    le
}

/// Ten-second points up to `t`, since the plan started: the canary at 5
/// req/s with `canary_err` % 5xx and p95 `canary_p95`, the stable at 45 req/s,
/// 0.1 % and 200 ms. Inside the fixed gates when 0.8 % / 450 ms.
fn metrics(t: i64, canary_err: f64, canary_p95: f64) -> Action {
    batch(
        t,
        &[
            (
                CANARY,
                5.0,
                canary_err,
                canary_p95,
                hist(5.0 * 10.0, canary_p95),
            ),
            (STABLE, 45.0, 0.1, 200.0, hist(45.0 * 10.0, 200.0)),
        ],
    )
}

/// One revision's numbers for [`batch`].
pub(crate) type Side<'a> = (&'a str, f64, f64, f64, Vec<(f64, f64)>);

/// Ten-second points up to `t` per revision `(name, req/s, 5xx %, p95 ms,
/// cumulative latency histogram of one point)`: the series and the counts
/// the judge reads.
pub(crate) fn batch(t: i64, sides: &[Side<'_>]) -> Action {
    let mut b = MetricsBatch::default();
    for (rev, rps, err, p95, latency_le) in sides {
        let stamps: Vec<i64> = (1..=t / 10).map(|i| i * 10).collect();
        for (kind, v) in [
            (MetricKind::RequestRate, *rps),
            (MetricKind::ErrorPercent, *err),
            (MetricKind::LatencyP95, *p95),
        ] {
            let points = stamps.iter().map(|s| (at(*s), v)).collect();
            b.series.insert((rev.to_string(), kind), Series { points });
        }
        let n = rps * 10.0;
        let counts = stamps
            .iter()
            .map(|s| {
                (
                    at(*s),
                    PointCounts {
                        requests: n,
                        errors: n * err / 100.0,
                        latency_le: latency_le.clone(),
                    },
                )
            })
            .collect();
        b.counts.insert(rev.to_string(), counts);
    }
    Action::MetricsLoaded(b)
}

pub(crate) fn start(s: &mut State) {
    update(s, key('p'), at(0));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    update(s, key('y'), at(0));
    fixtures::land(s, at(1));
}

pub(crate) fn sent_rollback(fx: &[Effect]) -> bool {
    fx.iter().any(|e| {
        matches!(
            e,
            Effect::SetTraffic {
                kind: ChangeKind::Rollback,
                ..
            }
        )
    })
}

fn journaled(fx: &[Effect]) -> Vec<Outcome> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Journal(Event::Judge { evidence }) => Some(evidence.outcome),
            _ => None,
        })
        .collect()
}

#[test]
fn act_mode_rolls_back_a_subtle_canary_the_thresholds_let_through() {
    let mut s = state(JudgeMode::Act);
    start(&mut s);
    let mut rolled_back_at = None;
    let mut outcomes = vec![];
    for t in (5..=120).step_by(5) {
        let fx = update(&mut s, metrics(t, 0.8, 450.0), at(t));
        outcomes.extend(journaled(&fx));
        if sent_rollback(&fx) {
            rolled_back_at = Some(t);
            break;
        }
        // The thresholds alone never go red on 0.8 % / 450 ms.
        assert!(
            !matches!(&s.verdict, Verdict::Red(w) | Verdict::Confirming(w) if !w.starts_with("judge")),
            "{:?}",
            s.verdict
        );
    }
    let t = rolled_back_at.expect("the judge rolls the subtle canary back");
    assert!(t <= 60, "caught within the first window, not at {t} s");
    assert_eq!(outcomes.last(), Some(&Outcome::Fail), "{outcomes:?}");
    let ev = s.judge.evidence.as_ref().expect("evidence");
    assert_eq!(ev.latency.outcome, Outcome::Fail, "{ev:?}");
    assert!(ev.latency.canary_value > 400.0 && ev.latency.stable_value < 220.0);
    fixtures::land(&mut s, at(t + 1));
    let Some(Phase::RolledBack { reason }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!("{:?}", s.plan)
    };
    assert!(reason.contains("judge"), "{reason}");
}

#[test]
fn observe_mode_shows_and_journals_but_never_acts() {
    let mut s = state(JudgeMode::Observe);
    start(&mut s);
    let mut outcomes = vec![];
    for t in (5..=55).step_by(5) {
        let fx = update(&mut s, metrics(t, 0.8, 450.0), at(t));
        outcomes.extend(journaled(&fx));
        assert!(!sent_rollback(&fx), "observe only: no action at {t} s");
    }
    assert!(outcomes.contains(&Outcome::Fail), "{outcomes:?}");
    // Journaled once per change, not on every poll.
    assert!(outcomes.len() <= 3, "{outcomes:?}");
    assert_eq!(s.verdict, Verdict::Green);
    assert!(s
        .message
        .as_ref()
        .is_some_and(|m| m.text.contains("observe only")));
}

#[test]
fn act_mode_never_promotes_on_an_inconclusive_verdict() {
    let mut s = state(JudgeMode::Act);
    start(&mut s);
    // A healthy canary: too little evidence in one minute at 5 req/s to pass.
    for t in (5..=65).step_by(5) {
        update(&mut s, metrics(t, 0.1, 200.0), at(t));
    }
    let ev = s.judge.evidence.as_ref().expect("evidence");
    assert_ne!(ev.outcome, Outcome::Fail, "{ev:?}");
    if ev.outcome == Outcome::Inconclusive {
        assert!(matches!(&s.verdict, Verdict::NoData(w) if w.starts_with("judge")));
        assert!(
            matches!(
                s.plan.as_ref().map(|p| &p.phase),
                Some(Phase::Paused { .. } | Phase::Observing { .. })
            ),
            "{:?}",
            s.plan
        );
    }
}
