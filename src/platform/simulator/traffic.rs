//! The simulator's traffic model, on its own so that the judge's benchmark
//! replays exactly what the demo generates: how many requests arrive in a
//! second, how slow each one is, and whether it fails.

use super::rng::Rng;

/// Spread of the latency distribution (log-normal sigma).
pub const SIGMA: f64 = 0.35;
/// z-score of the 95th percentile.
pub const Z95: f64 = 1.645;

/// Requests arriving during simulated second `k` for a mean load of `rps`:
/// a slow swell (±5 % over 5 min) and ±5 % of per-second noise.
pub fn arrivals(rng: &mut Rng, rps: f64, k: u64) -> u64 {
    let kf = k as f64;
    let rate = rps
        * (1.0 + 0.05 * (std::f64::consts::TAU * kf / 300.0).sin())
        * (1.0 + 0.1 * (rng.unit() - 0.5));
    rng.round_stochastic(rate)
}

/// A revision's p95 during second `k`: its profile with a slow ±4 % wobble.
pub fn p95_at(p95: f64, k: u64, wobble_phase: f64) -> f64 {
    p95 * (1.0 + 0.04 * (std::f64::consts::TAU * k as f64 / 90.0 + wobble_phase).sin())
}

/// One request's latency (ms) from a log-normal with the given p95.
pub fn latency(rng: &mut Rng, p95: f64) -> f64 {
    let z = rng.normal();
    let median = p95 / (Z95 * SIGMA).exp();
    (median * (SIGMA * z).exp()).clamp(1.0, 60_000.0)
}

/// Whether a request is answered 5xx, for a 5xx share in percent (the draw
/// is shared with the 4xx decision: `u` in [0, 100)).
pub fn draw_percent(rng: &mut Rng) -> f64 {
    rng.unit() * 100.0
}
