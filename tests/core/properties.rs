//! Property tests: whatever the operator presses (the promotion plan's keys
//! included), whatever the time, the metrics and the readiness do, every split
//! sent sums to 100, never raises the share of a revision that is not ready,
//! and a plan's split never gives the canary more than the plan's step.

use canary::core::action::{Action, ChangeKind, Effect};
use canary::core::model::{MetricKind, MetricsBatch, Series, TrafficSplit, Version};
use canary::core::state::State;
use canary::core::traffic;
use canary::core::update::update;
use canary_fakes::fixtures::{self, t0};
use proptest::prelude::*;

use canary_fakes::fixtures::ch as key;

#[derive(Clone, Debug)]
enum Step {
    Key(char),
    Type(String),
    Land,
    Fail,
    FlipReady(usize),
    /// Time passes (seconds).
    Tick(i64),
    /// A metrics poll: the canary healthy (or not) with enough traffic.
    Metrics {
        canary_err: f64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::sample::select(vec!['+', '-', 'j', 'k', 'P', 'r', 'y', 'n', '=', '\n', '\x1b', 'y', 'p', 'p', ' ', 'a', 'c'])
            .prop_map(Step::Key),
        2 => (1i64..1200).prop_map(Step::Tick),
        2 => prop::sample::select(vec![0.0, 0.2, 5.0]).prop_map(|canary_err| Step::Metrics { canary_err }),
        2 => (prop::sample::select(vec!["canary", "emergence-app-00041-rol", "emergence-app-00042-xuv", "x"]),
              0u32..130)
            .prop_map(|(n, p)| Step::Type(format!("{n}={p}"))),
        3 => Just(Step::Land),
        1 => Just(Step::Fail),
        1 => (0usize..3).prop_map(Step::FlipReady),
    ]
}

/// Canary and stable metrics over the minute before `now`.
fn metrics(now: chrono::DateTime<chrono::Utc>, canary_err: f64) -> Action {
    let mut b = MetricsBatch::default();
    for (rev, err, rps) in [
        (fixtures::CANARY, canary_err, 10.0),
        (fixtures::STABLE, 0.2, 45.0),
    ] {
        for (kind, v) in [
            (MetricKind::RequestRate, rps),
            (MetricKind::ErrorPercent, err),
            (MetricKind::LatencyP95, 200.0),
        ] {
            let points = (0..6)
                .map(|i| (now - chrono::Duration::seconds(50 - i * 10), v))
                .collect();
            b.series.insert((rev.to_string(), kind), Series { points });
        }
    }
    Action::MetricsLoaded(b)
}

fn check_sent(state_before: &State, after: &State, fx: &[Effect]) -> Result<(), TestCaseError> {
    for e in fx {
        if let Effect::SetTraffic { split, kind, .. } = e {
            if let ChangeKind::Plan(step) = kind {
                // The plan may have started in this very update.
                let plan = after.plan.as_ref().expect("a plan step needs a plan");
                let allowed = plan.spec.steps[*step].percent;
                prop_assert!(
                    split.percent_of(&plan.canary) <= allowed,
                    "plan step {} sent {} % to the canary",
                    step,
                    split.percent_of(&plan.canary)
                );
            }
            let sum: u32 = split.entries().iter().map(|a| u32::from(a.percent)).sum();
            prop_assert_eq!(sum, 100);
            let snap = state_before.snapshot.as_ref().expect("snapshot");
            let basis = snap.traffic.clone();
            // Relative to what the platform has, no unready revision gains.
            let base = state_before
                .change
                .as_ref()
                .map(|c| c.split.clone())
                .unwrap_or(basis);
            for rev in traffic::increases(&base, split) {
                let r = snap.revision(&rev).expect("known revision");
                prop_assert!(r.ready, "sent traffic to unready {}", rev);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn splits_sent_are_always_valid(steps in prop::collection::vec(step(), 1..60)) {
        let mut s = fixtures::state();
        let mut version = 1u64;
        let mut now = t0();
        for st in steps {
            let before = s.clone();
            let fx = match st {
                Step::Tick(secs) => {
                    now += chrono::Duration::seconds(secs);
                    update(&mut s, Action::Tick, now)
                }
                Step::Metrics { canary_err } => update(&mut s, metrics(now, canary_err), now),
                Step::Key(c) => update(&mut s, key(c), now),
                Step::Type(text) => {
                    let mut all = Vec::new();
                    for c in text.chars() {
                        all.extend(update(&mut s, key(c), now));
                    }
                    all
                }
                Step::Land => match s.change.clone() {
                    Some(c) => {
                        let mut snap = s.snapshot.clone().expect("snapshot");
                        snap.traffic = c.split.clone();
                        version += 1;
                        snap.version = Version(format!("v{version}"));
                        update(&mut s, Action::TrafficApplied { id: c.id, snapshot: snap }, now)
                    }
                    None => vec![],
                },
                Step::Fail => match s.change.clone() {
                    Some(c) => update(&mut s, Action::TrafficFailed {
                        id: c.id,
                        error: canary::core::error::BackendError::Other("boom".into()),
                    }, now),
                    None => vec![],
                },
                Step::FlipReady(i) => {
                    let mut snap = s.snapshot.clone().expect("snapshot");
                    let r = &mut snap.revisions[i];
                    r.ready = !r.ready;
                    let generation = s.write_generation;
                    update(&mut s, Action::ServiceLoaded { snapshot: snap, generation }, now)
                }
            };
            check_sent(&before, &s, &fx)?;
            // The split the operator builds on is always valid too.
            if let Some(d) = s.desired() {
                let sum: u32 = d.entries().iter().map(|a| u32::from(a.percent)).sum();
                prop_assert_eq!(sum, 100);
            }
        }
    }

    #[test]
    fn shift_preserves_the_sum(a in 0u32..=100, delta in -120i32..120) {
        let basis = TrafficSplit::new([("stable", 100 - a), ("canary", a)]).expect("valid");
        match traffic::shift(&basis, "canary", "stable", delta) {
            Ok(s) => {
                let sum: u32 = s.entries().iter().map(|x| u32::from(x.percent)).sum();
                prop_assert_eq!(sum, 100);
                let moved = i64::from(s.percent_of("canary")) - i64::from(a);
                prop_assert!(moved.abs() <= i64::from(delta.unsigned_abs()));
                prop_assert!(moved.signum() == i64::from(delta.signum()));
            }
            // Refused only when there is nothing to move.
            Err(e) => prop_assert!(
                delta == 0 || (delta > 0 && a == 100) || (delta < 0 && a == 0),
                "shift by {} from {} % refused: {}", delta, a, e
            ),
        }
    }
}
