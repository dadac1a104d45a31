//! `[gates] mode = "observe"`: the fixed thresholds are evaluated, kept
//! (sustained as if they acted), journaled and shown, but never roll back
//! and never hold a promotion; the judge, acting, decides alone. The same
//! data with acting thresholds is the control: each test fails if observe
//! mode acted like act mode.

use super::judge_flow::{at, batch, plan_state, sent_rollback, start};
use canary::core::action::{Action, Effect};
use canary::core::judge::JudgeMode;
use canary::core::model::MetricKind;
use canary::core::plan::{Phase, Verdict};
use canary::core::state::{GatesMode, State};
use canary::core::update::update;
use canary::journal::Event;
use canary_fakes::fixtures::{self, CANARY, STABLE};

fn state(gates: GatesMode, judge: JudgeMode) -> State {
    plan_state(|s| {
        s.gates.mode = gates;
        s.judge.mode = judge;
    })
}

/// Ten-second points up to `t`: the canary at `c_rps` req/s, the stable at
/// nine times that, both with `err` % 5xx and p95 200 ms (one cumulative
/// bucket per 10 ms up to 1 s: the same distribution on both sides).
fn metrics(t: i64, c_rps: f64, err: f64) -> Action {
    // Uniform over 0..210 ms: p95 ≈ 200 ms.
    let uniform = |rps: f64| -> Vec<(f64, f64)> {
        let n = rps * 10.0;
        (1..=100)
            .map(|i| {
                let le = f64::from(i) * 10.0;
                (le, (n * (le / 210.0).min(1.0)).round())
            })
            .collect()
    };
    batch(
        t,
        &[
            (CANARY, c_rps, err, 200.0, uniform(c_rps)),
            (STABLE, 9.0 * c_rps, err, 200.0, uniform(9.0 * c_rps)),
        ],
    )
}

fn observed_records(fx: &[Effect]) -> Vec<(String, Option<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Journal(Event::GatesObserved(g)) => Some((g.verdict.clone(), g.why.clone())),
            _ => None,
        })
        .collect()
}

fn phase(s: &State) -> Option<Phase> {
    s.plan.as_ref().map(|p| p.phase.clone())
}

/// The whole service at 2 % 5xx (a shared dependency failing): over the
/// 1 % threshold, yet the canary is no worse than the stable.
#[test]
fn observed_thresholds_over_their_gate_never_roll_back() {
    // Control: acting thresholds roll this back once red held for `sustain`.
    let mut act = state(GatesMode::Act, JudgeMode::Act);
    start(&mut act);
    let rolled = (5..=60)
        .step_by(5)
        .find(|t| sent_rollback(&update(&mut act, metrics(*t, 20.0, 2.0), at(*t))));
    assert!(rolled.is_some(), "the control never rolled back");
    assert!(
        act.observed_gates.is_none(),
        "acting gates are not 'observed'"
    );

    let mut s = state(GatesMode::Observe, JudgeMode::Act);
    start(&mut s);
    let mut records = vec![];
    for t in (5..=55).step_by(5) {
        let fx = update(&mut s, metrics(t, 20.0, 2.0), at(t));
        assert!(!sent_rollback(&fx), "observe only: a rollback at {t} s");
        records.extend(observed_records(&fx));
        // The plan's verdict never carries the thresholds.
        assert!(
            !matches!(&s.verdict, Verdict::Red(w) | Verdict::Confirming(w) if w.contains("> gate")),
            "{:?}",
            s.verdict
        );
    }
    // Kept as if they acted: red after the sustain guard, with the numbers.
    let o = s.observed_gates.as_ref().expect("observed thresholds");
    assert!(
        matches!(&o.verdict, Verdict::Red(w) if w.contains("canary 5xx 2.00 % > gate 1 %")),
        "{o:?}"
    );
    assert!(o.red_since.is_some());
    // Journaled once per change of verdict (no data → confirming → red),
    // not on every evaluation.
    let kinds: Vec<&str> = records.iter().map(|(v, _)| v.as_str()).collect();
    assert!(kinds.contains(&"confirming"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"red"), "{kinds:?}");
    assert!(kinds.len() <= 4, "{kinds:?}");
    assert!(
        matches!(phase(&s), Some(Phase::Observing { .. })),
        "{:?}",
        s.plan
    );
}

/// Too few requests for the thresholds' `min_requests` is "no data" and
/// holds an acting plan at the end of its window; observed, it does not:
/// the judge passed the canary and the plan promotes.
#[test]
fn observed_thresholds_never_hold_a_promotion() {
    let run = |gates: GatesMode| {
        let mut s = state(gates, JudgeMode::Act);
        s.settings.gates.min_requests = 1e9;
        start(&mut s);
        for t in (5..=90).step_by(5) {
            let fx = update(&mut s, metrics(t, 100.0, 0.1), at(t));
            assert!(!sent_rollback(&fx), "{gates:?}: rollback at {t} s");
            if matches!(phase(&s), Some(Phase::Promoted | Phase::Applying { .. })) {
                return (s, Some(t));
            }
        }
        (s, None)
    };
    let (act, promoted) = run(GatesMode::Act);
    assert_eq!(promoted, None, "control: acting thresholds held it");
    assert!(
        matches!(phase(&act), Some(Phase::Paused { ref reason, .. }) if reason.contains("only ~")),
        "{:?}",
        act.plan
    );
    let (s, promoted) = run(GatesMode::Observe);
    let ev = s.judge.evidence.as_ref().expect("evidence");
    assert!(promoted.is_some(), "held: {:?} / judge {ev:?}", s.plan);
    let o = s.observed_gates.as_ref().expect("observed");
    assert!(
        matches!(&o.verdict, Verdict::NoData(w) if w.contains("only ~")),
        "{o:?}"
    );
}

/// The judge acting alone still rolls back what it finds: observe mode
/// takes the thresholds out, not the judge.
#[test]
fn with_observed_thresholds_the_judge_still_rolls_back() {
    let mut s = state(GatesMode::Observe, JudgeMode::Act);
    start(&mut s);
    let mut bad = |t: i64| {
        let Action::MetricsLoaded(mut b) = metrics(t, 20.0, 0.1) else {
            unreachable!()
        };
        // The canary at 3 % 5xx against the stable's 0.1 %.
        for (ts, c) in b.counts.get_mut(CANARY).into_iter().flatten() {
            let _ = ts;
            c.errors = c.requests * 0.03;
        }
        if let Some(series) = b
            .series
            .get_mut(&(CANARY.to_string(), MetricKind::ErrorPercent))
        {
            for p in &mut series.points {
                p.1 = 3.0;
            }
        }
        update(&mut s, Action::MetricsLoaded(b), at(t))
    };
    let rolled = (5..=60).step_by(5).find(|t| sent_rollback(&bad(*t)));
    assert!(rolled.is_some(), "the judge never rolled back");
    fixtures::land(&mut s, at(61));
    let Some(Phase::RolledBack { reason }) = phase(&s) else {
        panic!("{:?}", s.plan)
    };
    assert!(reason.contains("judge"), "{reason}");
}

/// `canary report` tells what the observed thresholds said, as not acted on.
#[test]
fn the_report_lists_what_the_observed_thresholds_said() {
    let mut s = state(GatesMode::Observe, JudgeMode::Act);
    start(&mut s);
    let mut records = vec![];
    for t in (5..=40).step_by(5) {
        for e in update(&mut s, metrics(t, 20.0, 2.0), at(t)) {
            if let Effect::Journal(event @ Event::GatesObserved(_)) = e {
                records.push(canary::journal::Record {
                    at: at(t),
                    who: canary::journal::Who {
                        user: "oncall".into(),
                        from: None,
                    },
                    service: "svc".into(),
                    event,
                });
            }
        }
    }
    assert!(!records.is_empty());
    let md = canary::journal::report::markdown(
        "svc",
        &canary::journal::Replay {
            records,
            skipped: vec![],
        },
    );
    assert!(md.contains("## Fixed thresholds (observe only"), "{md}");
    assert!(
        md.contains("thresholds (observe only): red — canary 5xx 2.00 % > gate 1 % (not acted on)"),
        "{md}"
    );
}
