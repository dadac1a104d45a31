//! `--demo --scenario subtle-canary` as a new user meets it: the canary at
//! 10 % of the scenario's own traffic, the cockpit polling the simulator as
//! the bench does (10 s points over two minutes, every 5 s; a tick every
//! second), the real `update()`. Over several seeds, the judge fails the
//! canary (0.8 % 5xx and p95 450 ms against the stable's 0.1 % and 200 ms)
//! and the fixed thresholds (1 % / 500 ms) never go red on noise.

use std::time::Duration;

use canary::core::action::Action;
use canary::core::judge::Outcome;
use canary::core::model::TrafficSplit;
use canary::core::plan::Verdict;
use canary::core::state::{Settings, State};
use canary::core::update::update;
use canary::metrics::{MetricsSource, MetricsWindow};
use canary::platform::simulator::{Scenario, Simulator};
use canary::platform::Platform;
use canary_fakes::fixtures;

const CANARY: &str = "emergence-app-00043-kaw";
const STABLE: &str = "emergence-app-00042-xuv";
/// Watched this long at 10 %: the plan's first window and then some.
const HORIZON_S: u64 = 300;

struct Run {
    judge_failed_at: Option<u64>,
    /// The canary's 5xx % and p95 as the judge measured them.
    measured: (f64, f64),
    /// Seconds the thresholds were over a gate, not yet for long enough.
    confirming: u64,
}

async fn run(seed: u64) -> Run {
    let scenario = Scenario::builtin("subtle-canary").expect("built in");
    let sim = Simulator::with_epoch(scenario, seed, fixtures::t0());
    let split = TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).expect("valid split");
    let snap = sim.set_traffic_externally(&split).expect("known revisions");
    // The bare demo's gates (app::settings with --demo): a 30 s window, red
    // for 10 s before it counts; the judge observes here (see below).
    let mut settings = Settings::default();
    settings.gates.window = Duration::from_secs(30);
    settings.gates.sustain = Duration::from_secs(10);
    let mut state = State::new(settings, sim.info(), sim.now());
    update(&mut state, fixtures::service_loaded(snap), sim.now());
    let names = [CANARY.to_string(), STABLE.to_string()];
    let mut out = Run {
        judge_failed_at: None,
        measured: (0.0, 0.0),
        confirming: 0,
    };
    for k in 1..=HORIZON_S {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sim.now();
        if k % 5 == 0 {
            let window = MetricsWindow {
                end: MetricsWindow::aligned_end(now, Duration::from_secs(10)),
                span: Duration::from_secs(120),
                step: Duration::from_secs(10),
            };
            let batch = sim.fetch(&names, window).await.expect("simulated metrics");
            update(&mut state, Action::MetricsLoaded(batch), now);
        } else {
            update(&mut state, Action::Tick, now);
        }
        // The judge is in observe mode here (the default): the verdict is
        // the thresholds' alone. Red: never. Confirming (over the gate, not
        // yet for `gates.sustain`): only while the first window fills, when
        // it holds a few thousand requests and 1 % is ~1 standard deviation
        // above 0.8 %; the noise guard is there for that.
        match &state.verdict {
            Verdict::Red(why) => panic!("seed {seed}, {k} s: the thresholds went red: {why}"),
            Verdict::Confirming(why) => {
                out.confirming += 1;
                assert!(
                    k <= 30,
                    "seed {seed}, {k} s: over the gate after the first window: {why}"
                );
            }
            _ => {}
        }
        let failed = state
            .judge
            .evidence
            .as_ref()
            .is_some_and(|e| e.outcome == Outcome::Fail);
        if failed && out.judge_failed_at.is_none() {
            out.judge_failed_at = Some(k);
        }
    }
    if let Some(e) = &state.judge.evidence {
        out.measured = (e.errors.canary_value, e.latency.canary_value);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_judge_catches_the_subtle_canary_and_the_thresholds_stay_green() {
    let mut confirming = vec![];
    for seed in 1..=4 {
        let r = run(seed).await;
        confirming.push(r.confirming);
        let at = r
            .judge_failed_at
            .unwrap_or_else(|| panic!("seed {seed}: the judge never failed the canary"));
        assert!(at <= 60, "seed {seed}: the judge took {at} s");
        // The canary really sits just under the gates (the test is not
        // passing because it reads nothing): 0.8 % and 450 ms, measured.
        let (err, p95) = r.measured;
        assert!(err > 0.7 && err < 0.9, "seed {seed}: 5xx {err} %");
        assert!(p95 > 420.0 && p95 < 480.0, "seed {seed}: p95 {p95} ms");
    }
    eprintln!("seconds over a gate, not sustained, per seed: {confirming:?}");
}
