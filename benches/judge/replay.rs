//! The judge's benchmark (run by `scripts/bench.sh`, or alone with
//! `cargo run --release --example judge-bench -- [--seed N] [--runs N]`).
//!
//! Replays healthy and bad canaries through the simulator's traffic model
//! (`platform::simulator::traffic`: the same arrivals, latencies and 5xx draws
//! as the demo, aggregated by the simulator's own history into the batches
//! the cockpit polls), and drives the real `update()` with them: one tick per
//! second, one metrics poll every 5 s (10 s points over the last 2 minutes,
//! on an aligned grid, as the cockpit asks). The fixed-threshold gates are
//! the team's defaults (5xx ≤ 1 %, p95 ≤ 500 ms over 60 s, red for 20 s
//! before it counts, 50 requests minimum); the judge has its defaults
//! (α = 0.01, margins +0.5 points and +50 ms). Both watch the same data.
//!
//! - a threshold detection: the gates' verdict turns red (after the sustain);
//! - a judge detection: its verdict turns fail;
//! - on a healthy canary, either is a false rollback (counted over 15 min,
//!   the runbook's first observation window);
//! - a canary worse by less than the 5xx margin (+0.2 points) is a real
//!   but negligible difference: a failure there is unwanted too;
//! - a canary worse by exactly the 5xx margin is the boundary (failed at
//!   most half the time by design); one worse by exactly the p95 margin is
//!   the latency test's null (every failure a false alarm).
//!
//! The stable serves alone for the 10 minutes before the canary (the
//! cockpit's metrics window reaches that far back at its first poll).
//!
//! Seeded and deterministic: the same seed prints the same table.

use std::time::Duration;

use canary::core::action::Action;
use canary::core::judge::Outcome;
use canary::core::model::TrafficSplit;
use canary::core::plan::Verdict;
use canary::core::state::{Settings, State};
use canary::core::update::update;
use canary::metrics::MetricsWindow;
use canary::platform::simulator::history::{History, RevSecond, SecondRecord};
use canary::platform::simulator::rng::{mix, Rng};
use canary::platform::simulator::traffic;
use canary_fakes::fixtures::{self, CANARY, STABLE};

const RPS: f64 = 50.0;
const STABLE_ERR: f64 = 0.1;
const STABLE_P95: f64 = 200.0;
const HORIZON_S: u64 = 15 * 60;
const POLL_S: u64 = 5;
/// The stable alone before the canary gets traffic (the cockpit's metrics
/// window, 10 minutes, reaches that far back at the canary's first poll).
const BEFORE_S: i64 = 600;

#[derive(Clone, Copy)]
struct Case {
    label: &'static str,
    err: f64,
    p95: f64,
    share: u32,
    healthy: bool,
}

#[derive(Default)]
struct Outcomes {
    runs: usize,
    thresholds: Vec<Option<u64>>,
    judge: Vec<Option<u64>>,
}

fn run_one(case: Case, seed: u64, settings: &Settings) -> (Option<u64>, Option<u64>) {
    let mut rng = Rng::new(seed);
    let t0 = fixtures::t0();
    let mut state = State::new(settings.clone(), fixtures::info(), t0);
    let mut snap = fixtures::snapshot();
    let split =
        TrafficSplit::new([(CANARY, case.share), (STABLE, 100 - case.share)]).expect("valid split");
    snap.traffic = split.clone();
    snap.actual = Some(split);
    update(&mut state, fixtures::service_loaded(snap), t0);
    let phases = [
        rng.unit() * std::f64::consts::TAU,
        rng.unit() * std::f64::consts::TAU,
    ];
    let mut history = History::default();
    let names = [CANARY.to_string(), STABLE.to_string()];
    let (mut thr, mut jdg) = (None, None);
    // The stable's ten minutes before the canary: all the traffic.
    for k in (1 - BEFORE_S)..=0 {
        let n = traffic::arrivals(&mut rng, RPS, k.unsigned_abs());
        let p95s = traffic::p95_at(STABLE_P95, k.unsigned_abs(), phases[1]);
        let mut sec = RevSecond::default();
        for _ in 0..n {
            let u = traffic::draw_percent(&mut rng);
            sec.record(traffic::latency(&mut rng, p95s), u < STABLE_ERR);
        }
        history.push(SecondRecord {
            at: t0 + chrono::Duration::seconds(k),
            revs: vec![(1, sec)],
        });
    }
    for k in 1..=HORIZON_S {
        let n = traffic::arrivals(&mut rng, RPS, k);
        let p95c = traffic::p95_at(case.p95, k, phases[0]);
        let p95s = traffic::p95_at(STABLE_P95, k, phases[1]);
        let mut secs = [RevSecond::default(), RevSecond::default()];
        for _ in 0..n {
            let to_canary = rng.unit() * 100.0 < f64::from(case.share);
            let (i, err, p95) = if to_canary {
                (0, case.err, p95c)
            } else {
                (1, STABLE_ERR, p95s)
            };
            let u = traffic::draw_percent(&mut rng);
            let latency = traffic::latency(&mut rng, p95);
            secs[i].record(latency, u < err);
        }
        let now = t0 + chrono::Duration::seconds(k as i64);
        history.push(SecondRecord {
            at: now,
            revs: secs
                .into_iter()
                .enumerate()
                .filter(|(_, s)| s.requests > 0)
                .collect(),
        });
        if k % POLL_S == 0 {
            let window = MetricsWindow {
                end: MetricsWindow::aligned_end(now, Duration::from_secs(10)),
                // The first poll reaches back over the stable's ten minutes
                // (as the cockpit's 10-minute window does); the judge keeps
                // what it counted, so later polls need only the last two
                // minutes (the cockpit asks for ten: the same points again).
                span: Duration::from_secs(if k == POLL_S { BEFORE_S as u64 } else { 120 }),
                step: Duration::from_secs(10),
            };
            let batch = history.aggregate(&names, window, |n| names.iter().position(|x| x == n));
            update(&mut state, Action::MetricsLoaded(batch), now);
        } else {
            update(&mut state, Action::Tick, now);
        }
        if thr.is_none() && matches!(state.verdict, Verdict::Red(_)) {
            thr = Some(k);
        }
        let failed = state
            .judge
            .evidence
            .as_ref()
            .is_some_and(|e| e.outcome == Outcome::Fail);
        if jdg.is_none() && failed {
            jdg = Some(k);
        }
        if thr.is_some() && jdg.is_some() {
            break;
        }
    }
    (thr, jdg)
}

fn quantile(v: &[u64], q: f64) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s.get(i).copied()
}

fn cell(detections: &[Option<u64>], healthy: bool) -> String {
    let n = detections.len().max(1);
    let hits: Vec<u64> = detections.iter().flatten().copied().collect();
    let rate = 100.0 * hits.len() as f64 / n as f64;
    if healthy {
        return format!("{rate:.1} % failed ({}/{n})", hits.len());
    }
    let t = |q| quantile(&hits, q).map_or("–".into(), |s| format!("{s} s"));
    format!("{rate:.0} % · {} · {}", t(0.5), t(0.9))
}

/// Binomial probabilities `P(X = x)` for x = 0..=n (log-space recurrence).
fn binomial_pmf(n: u64, p: f64) -> Vec<f64> {
    let mut ln = (n as f64) * (-p).ln_1p();
    let mut out = vec![ln.exp()];
    for x in 0..n {
        let x = x as f64;
        ln += ((n as f64 - x) / (x + 1.0) * p / (1.0 - p)).ln();
        out.push(ln.exp());
    }
    out
}

/// The power of the most powerful level-`alpha` test of `p ≤ p0` against
/// `p1` from `n` requests (Neyman–Pearson: reject on many errors, randomized
/// at the edge). No test, sequential or not, that is valid at `alpha` can
/// have detected `p1` by the n-th request with a higher probability: a
/// sequential test stopped at n is one such test.
fn best_power(n: u64, p0: f64, p1: f64, alpha: f64) -> f64 {
    let (f0, f1) = (binomial_pmf(n, p0), binomial_pmf(n, p1));
    let (mut size, mut power) = (0.0, 0.0);
    for k in (0..=n as usize).rev() {
        if size + f0[k] > alpha {
            return power + f1[k] * (alpha - size) / f0[k];
        }
        size += f0[k];
        power += f1[k];
    }
    power
}

fn main() {
    let mut seed = 17u64;
    let mut runs_bad = 60usize;
    let mut settings = Settings::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |d: f64| args.next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(d);
        let j = &mut settings.judge;
        match a.as_str() {
            "--seed" => seed = num(seed as f64) as u64,
            "--runs" => runs_bad = num(runs_bad as f64) as usize,
            "--alpha" => j.alpha = num(j.alpha),
            "--error-margin" => j.error_margin_points = num(j.error_margin_points),
            "--error-tau" => j.error_tau_points = num(j.error_tau_points),
            "--latency-tau" => j.latency_tau_points = num(j.latency_tau_points),
            _ => {
                eprintln!(
                    "usage: judge-bench [--seed N] [--runs N] [--alpha A] [--error-margin POINTS] \
                     [--error-tau POINTS] [--latency-tau POINTS]"
                );
                std::process::exit(2);
            }
        }
    }
    let runs_healthy = runs_bad * 5 / 2;
    let mut cases = Vec::new();
    for share in [10, 25] {
        cases.push(Case {
            label: "healthy",
            err: STABLE_ERR,
            p95: STABLE_P95,
            share,
            healthy: true,
        });
        // Worse than the stable, but by less than the margin: a real but
        // negligible difference, which must not fail a release.
        let negligible = 0.4 * settings.judge.error_margin_points;
        cases.push(Case {
            label: Box::leak(
                format!("5xx +{negligible:.1} point (negligible: under the margin)")
                    .into_boxed_str(),
            ),
            err: STABLE_ERR + negligible,
            p95: STABLE_P95,
            share,
            healthy: true,
        });
        // Worse by exactly the 5xx margin: the boundary of "negligible",
        // failed at most half the time by design (docs/judge.md).
        cases.push(Case {
            label: Box::leak(
                format!(
                    "5xx at the margin (+{} point)",
                    settings.judge.error_margin_points
                )
                .into_boxed_str(),
            ),
            err: STABLE_ERR + settings.judge.error_margin_points,
            p95: STABLE_P95,
            share,
            healthy: true,
        });
        cases.push(Case {
            label: Box::leak(
                format!(
                    "p95 at the margin (+{} ms)",
                    settings.judge.latency_margin_ms
                )
                .into_boxed_str(),
            ),
            err: STABLE_ERR,
            p95: STABLE_P95 + settings.judge.latency_margin_ms,
            share,
            healthy: true,
        });
        for (label, err, p95) in [
            ("5xx +1 point", STABLE_ERR + 1.0, STABLE_P95),
            ("5xx +2 points", STABLE_ERR + 2.0, STABLE_P95),
            ("5xx +5 points", STABLE_ERR + 5.0, STABLE_P95),
            ("p95 +100 ms", STABLE_ERR, STABLE_P95 + 100.0),
            ("p95 +300 ms", STABLE_ERR, STABLE_P95 + 300.0),
        ] {
            cases.push(Case {
                label,
                err,
                p95,
                share,
                healthy: false,
            });
        }
    }
    let started = std::time::Instant::now();
    let j = &settings.judge;
    println!(
        "judge benchmark: seed {seed}, {RPS} req/s, stable {STABLE_ERR} % 5xx and p95 {STABLE_P95} ms, \
         healthy canaries watched {} min; judge α {}, margins +{} points / +{} ms, τ {} / {} points\n",
        HORIZON_S / 60,
        j.alpha,
        j.error_margin_points,
        j.latency_margin_ms,
        j.error_tau_points,
        j.latency_tau_points
    );
    println!("| canary | traffic | runs | fixed thresholds: detected · median · p90 | judge: detected · median · p90 |");
    println!("|---|---|---|---|---|");
    let mut total = 0;
    for (ci, case) in cases.iter().enumerate() {
        let runs = if case.healthy { runs_healthy } else { runs_bad };
        let mut o = Outcomes::default();
        for r in 0..runs {
            let s = mix(seed ^ mix((ci as u64) << 32 | r as u64));
            let (t, j) = run_one(*case, s, &settings);
            o.runs += 1;
            o.thresholds.push(t);
            o.judge.push(j);
        }
        total += o.runs;
        println!(
            "| {} | {} % | {} | {} | {} |",
            case.label,
            case.share,
            o.runs,
            cell(&o.thresholds, case.healthy),
            cell(&o.judge, case.healthy)
        );
    }
    println!(
        "\n{total} canaries replayed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // What no valid test can beat: the +2-point canary at 10 % against
    // "not worse than the stable" (the stable's rate known exactly, which is
    // generous).
    let (p0, p1) = (STABLE_ERR / 100.0, (STABLE_ERR + 2.0) / 100.0);
    let per_s = RPS * 0.10;
    let cells: Vec<String> = [10u64, 20, 25, 30, 40, 50, 60]
        .iter()
        .map(|t| {
            let n = (per_s * *t as f64).round() as u64;
            format!("{t} s {:.0} %", 100.0 * best_power(n, p0, p1, j.alpha))
        })
        .collect();
    println!(
        "\nBest possible at α {}: the chance that any valid test of \"not worse than the stable\" \
         has caught the +2-point canary at 10 % (5 req/s, {:.1} % against {:.1} %) by: {}",
        j.alpha,
        100.0 * p1,
        100.0 * p0,
        cells.join(", ")
    );
}
