//! Metric lag in the plan: a source whose newest point is 45 s behind (Cloud
//! Monitoring lags by minutes) answers every poll, yet the data covering a
//! window's end arrives 45 s after it. No window is judged before then; the
//! ETA includes the lag; a source that stops answering is not waited for.

use std::time::Duration;

use canary::core::action::{Action, Effect};
use canary::core::model::{MetricKind, MetricsBatch, Series};
use canary::core::plan::{OnFailure, Phase, PlanMode, PlanSpec, PlanStep, MAX_DATA_WAIT};
use canary::core::state::{Mode, Settings, State};
use canary::core::update::update;
use canary_fakes::fixtures::{self, ch as key, t0, CANARY, STABLE};
use chrono::{DateTime, Utc};

fn at(s: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(s)
}

fn state(mode: PlanMode) -> State {
    fixtures::state_with(Settings {
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
            mode,
            on_failure: OnFailure::Rollback,
        },
        ..Settings::default()
    })
}

/// What a source `lag` seconds behind returns at `t`: ten-second points up
/// to `t - lag`, the newest one (still filling) stamped at its interval's
/// end as the pollers do; a healthy canary (5 req/s, 0.2 % 5xx, 180 ms)
/// and stable.
fn batch(t: i64, lag: i64) -> Action {
    let mut b = MetricsBatch::default();
    let newest = (t - lag + 9).div_euclid(10) * 10;
    for (rev, rps) in [(CANARY, 5.0), (STABLE, 45.0)] {
        for (kind, v) in [
            (MetricKind::RequestRate, rps),
            (MetricKind::ErrorPercent, 0.2),
            (MetricKind::LatencyP95, 180.0),
        ] {
            let points = (0..=newest / 10).map(|i| (at(i * 10), v)).collect();
            b.series.insert((rev.to_string(), kind), Series { points });
        }
    }
    Action::MetricsLoaded(b)
}

/// The plan started at 0 s, its first step applied at 1 s (the window
/// runs 1 s → 61 s).
fn started(mode: PlanMode) -> State {
    let mut s = state(mode);
    update(&mut s, key('p'), at(0));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    update(&mut s, key('y'), at(0));
    fixtures::land(&mut s, at(1));
    s
}

fn phase(s: &State) -> Phase {
    s.plan.as_ref().map(|p| p.phase.clone()).expect("a plan")
}

fn advanced(fx: &[Effect]) -> bool {
    fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. }))
}

/// Polls every 5 s from 5 s to `until` with a source `lag` s behind;
/// returns when the plan sent its next step, if it did.
fn run(s: &mut State, lag: i64, until: i64) -> Option<i64> {
    (5..=until)
        .step_by(5)
        .find(|t| advanced(&update(s, batch(*t, lag), at(*t))))
}

#[test]
fn a_lagging_source_extends_the_window_by_its_lag() {
    // Control: an up-to-date source; the plan advances when the window ends.
    let mut s = started(PlanMode::Auto);
    let t = run(&mut s, 0, 120).expect("advanced");
    assert!((61..=65).contains(&t), "advanced at {t} s");

    let mut s = started(PlanMode::Auto);
    // Mid-window: the ETA is the window's end plus the lag.
    update(&mut s, batch(55, 45), at(55));
    let plan = s.plan.as_ref().expect("plan");
    assert_eq!(plan.lag(at(55)), Duration::from_secs(45));
    assert_eq!(plan.window_eta(at(55)), Some(at(61 + 45)));
    // The window's time is over, its data is not in: waiting, not judged.
    let t = run(&mut s, 45, 200).expect("advanced in the end");
    // The point covering 61 s (stamped 70 s) arrives with the poll at 110 s.
    assert_eq!(t, 110, "advanced at {t} s");

    let mut s = started(PlanMode::Auto);
    for t in (5..=90).step_by(5) {
        update(&mut s, batch(t, 45), at(t));
    }
    assert!(
        matches!(phase(&s), Phase::Observing { .. }),
        "{:?}",
        phase(&s)
    );
    let plan = s.plan.as_ref().expect("plan");
    // Polled at 90 s: the newest point is 50 s (45 s behind, rounded up).
    assert_eq!(plan.waiting_for_data(at(90)), Some(Duration::from_secs(40)));
    assert_eq!(
        plan.waiting_for_data(at(60)),
        None,
        "before the window's end"
    );
}

#[test]
fn manual_mode_waits_for_the_data_before_asking_for_approval() {
    let mut s = started(PlanMode::Manual);
    for t in (5..=95).step_by(5) {
        update(&mut s, batch(t, 45), at(t));
    }
    assert!(
        matches!(phase(&s), Phase::Observing { .. }),
        "{:?}",
        phase(&s)
    );
    // `p` now is an override, and says why.
    update(&mut s, key('p'), at(95));
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    let note = c.note.as_deref().unwrap_or("");
    assert!(note.contains("metrics lag 45s"), "{note}");
    update(&mut s, key('n'), at(95));
    update(&mut s, batch(105, 45), at(105));
    assert!(
        matches!(phase(&s), Phase::Observing { .. }),
        "{:?}",
        phase(&s)
    );
    // The point covering 61 s (stamped 70 s) arrives with the poll at 110 s.
    update(&mut s, batch(110, 45), at(110));
    assert!(
        matches!(phase(&s), Phase::WaitingApproval { .. }),
        "{:?}",
        phase(&s)
    );
}

#[test]
fn a_source_that_stops_answering_is_not_waited_for() {
    // Fresh data until 40 s, then no answer at all: no data, not lag; the
    // window's end pauses the plan as before (never promotes blind).
    let mut s = started(PlanMode::Auto);
    for t in (5..=40).step_by(5) {
        update(&mut s, batch(t, 0), at(t));
    }
    update(&mut s, Action::Tick, at(70));
    assert!(matches!(phase(&s), Phase::Paused { .. }), "{:?}", phase(&s));

    // A source that answers but whose newest point stopped moving: waited
    // for at most MAX_DATA_WAIT, then judged as it is (no data: paused).
    let mut s = started(PlanMode::Auto);
    for t in (5..=40).step_by(5) {
        update(&mut s, batch(t, 0), at(t));
    }
    let stuck = |_t: i64| batch(40, 0);
    let end = 61 + MAX_DATA_WAIT.as_secs() as i64;
    for t in (45..end).step_by(30) {
        update(&mut s, stuck(t), at(t));
        assert!(matches!(phase(&s), Phase::Observing { .. }), "at {t} s");
    }
    update(&mut s, stuck(end + 5), at(end + 5));
    assert!(matches!(phase(&s), Phase::Paused { .. }), "{:?}", phase(&s));
}

/// A PromQL source behind by `lag` seconds: its range query evaluates at
/// its own timestamps, so its points reach now, but its newest raw sample
/// (the freshness query) is `lag` seconds old.
fn promql_batch(t: i64, lag: i64) -> Action {
    let Action::MetricsLoaded(mut b) = batch(t, 0) else {
        unreachable!()
    };
    b.sampled_until = Some(at(t - lag));
    Action::MetricsLoaded(b)
}

#[test]
fn a_promql_source_behind_by_its_newest_sample_extends_the_window_too() {
    let mut s = started(PlanMode::Auto);
    update(&mut s, promql_batch(55, 45), at(55));
    let plan = s.plan.as_ref().expect("plan");
    assert_eq!(plan.lag(at(55)), Duration::from_secs(45));
    let lag = s.judge.evidence.as_ref().and_then(|e| e.lag_secs);
    assert_eq!(lag, Some(45.0), "the judge says the same lag");
    let t = (60..=200)
        .step_by(5)
        .find(|t| advanced(&update(&mut s, promql_batch(*t, 45), at(*t))))
        .expect("advanced in the end");
    assert!((105..=110).contains(&t), "waited for the data: {t} s");
}
