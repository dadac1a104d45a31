//! Error proportion: is the canary's 5xx share worse than the stable's?
//!
//! Two always-valid tests on the same counts (docs/judge.md):
//! - **worse at all**: the one-sided binomial mixture of `H0: p_c ≤ p_s`,
//!   whose bound `1/α` keeps the false rollbacks of a healthy canary under α
//!   however often it is looked at;
//! - **beyond the margin**: the same statistic against `p_s + margin`, which
//!   must favour "worse by more than the margin" at least 2:1 *now*, so that a
//!   real but negligible difference does not fail (a canary worse by at most
//!   the margin fails with probability at most ½ by Ville's inequality,
//!   measured ~20 % at the margin and ~2 % at 40 % of it).
//!
//! `p_s` is the stable's rate over the same time plus, while the two agree,
//! its rate just before the canary got traffic (`prior`): the stable's few
//! errors over the canary's first seconds pin its rate poorly, and the
//! minutes before pin it well.

use super::stats::{
    binomial_interval, binomial_mixture_ln, binomial_mixture_lower_ln, split_mixture_ln,
    split_mixture_sums, PointPair,
};
use super::tally::Totals;
use super::{JudgeSettings, Outcome, TestEvidence};

/// How strongly the data must favour "worse than the stable by more than
/// the margin" (now) for a statistically worse canary to fail: 2:1.
pub const MARGIN_ODDS: f64 = 2.0;

/// The stable's rate just before the canary got traffic is dropped for good
/// once the stable's same-time errors contradict it this strongly (the
/// stable's own rate rose: an incident hitting both, a time-of-day swing);
/// the comparison is then over the same time only.
pub const PRIOR_DRIFT_ODDS: f64 = 10.0;

/// The stable's smoothed rate, over the same time and the prior's points.
fn stable_rate(s: &Totals, prior: Option<&Totals>) -> f64 {
    let (x, n) = prior.map_or((0.0, 0.0), |p| (p.errors, p.requests));
    (s.errors + x + 0.5) / (s.requests + n + 1.0)
}

/// The prior pins the stable's rate only with enough errors in it: with
/// fewer (a quiet or a low-traffic stable) the test is the split test,
/// which needs no rate.
pub const PRIOR_MIN_ERRORS: f64 = 10.0;

/// Whether the stable's same-time errors contradict its rate before the
/// canary, either way (many more than it predicts: an incident, a swing;
/// many fewer: the minutes before were an incident, e.g. the one this
/// release fixes, and would make a worse canary look fine),
/// `PRIOR_DRIFT_ODDS` to 1.
pub fn prior_contradicted(cfg: &JudgeSettings, s: &Totals, prior: &Totals) -> bool {
    if prior.requests <= 0.0 {
        return false;
    }
    let before = (prior.errors + 0.5) / (prior.requests + 1.0);
    let tau = cfg.error_tau_points / 100.0;
    let bound = PRIOR_DRIFT_ODDS.ln();
    binomial_mixture_ln(s.errors, s.requests, before, tau) >= bound
        || binomial_mixture_lower_ln(s.errors, s.requests, before, tau) >= bound
}

/// What the canary is compared with, besides the same-time totals.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference<'a> {
    /// The stable's counts before the canary got traffic, `None` once
    /// contradicted (or when there are none: a baseline, a canary that was
    /// already serving).
    pub prior: Option<&'a Totals>,
    /// The canary's and the reference's counts point by point.
    pub pairs: &'a [PointPair],
}

/// The 5xx test. `max_ln_lr`: the running maximum of the "worse at all"
/// statistic; `failed`: an earlier look failed (a failed test stays failed).
pub fn judge(
    cfg: &JudgeSettings,
    c: &Totals,
    s: &Totals,
    reference: Reference,
    max_ln_lr: f64,
    failed: bool,
) -> TestEvidence {
    let prior = reference.prior.filter(|p| p.requests > 0.0);
    let margin = cfg.error_margin_points / 100.0;
    let tau = cfg.error_tau_points / 100.0;
    let mut ev = TestEvidence::new("5xx", "%", cfg, c.requests, s.requests);
    ev.margin = cfg.error_margin_points;
    ev.margin_label = format!("+{} points", cfg.error_margin_points);
    ev.margin_bound = MARGIN_ODDS.ln();
    if let Some(p) = prior {
        ev.prior_requests = p.requests;
        ev.prior_errors = p.errors;
    }
    if s.requests <= 0.0 {
        ev.note = "no stable baseline over the same time".into();
        if failed {
            ev.outcome = Outcome::Fail;
            ev.note = format!("canary 5xx failed earlier; now {}", ev.note);
        }
        return ev;
    }
    // The canary's requests as Bernoulli trials against the stable's rate
    // (exact binomial likelihoods, no normal approximation: docs/judge.md).
    let p0 = stable_rate(s, prior);
    let (x_c, n_c) = (c.errors, c.requests.max(1.0));
    let est = x_c / n_c;
    ev.null_rate = 100.0 * p0;
    ev.canary_value = 100.0 * est;
    ev.stable_value = ev.null_rate;
    ev.canary_share = ev.canary_value;
    ev.stable_share = ev.stable_value;
    // The effect against that rate, with the interval that inverts the same
    // binomial mixtures (skewed like the binomial at few errors).
    let (low, high) = binomial_interval(x_c, n_c, tau, cfg.alpha);
    ev.effect = 100.0 * (est - p0);
    ev.low = 100.0 * (low - p0);
    ev.high = 100.0 * (high - p0);
    // "Worse at all": with the stable's minutes before, against its pooled
    // rate (well pinned); without them (a baseline as fresh as the canary,
    // a canary already serving), the split test, which needs no rate at
    // all: against a reference with as few requests as the canary, a
    // plugged-in rate would fail healthy canaries far more often than α.
    let split = prior.is_none().then(|| split_mixture_sums(reference.pairs));
    let worse_ln = |k: f64| match &split {
        Some((sums, weights)) => split_mixture_ln(sums, weights, k),
        None => binomial_mixture_ln(k * x_c, k * n_c, p0, tau),
    };
    ev.split_test = split.is_some();
    ev.ln_lr = worse_ln(1.0);
    ev.max_ln_lr = ev.ln_lr.max(max_ln_lr);
    ev.margin_ln_lr = binomial_mixture_ln(x_c, n_c, p0 + margin, tau);
    let bound = ev.bound;
    // The interval's upper end is below the margin exactly when the
    // lower-tail test rejects `p ≥ p0 + margin` at α/2.
    let below = (2.0 / cfg.alpha).ln();
    ev.eta_factor = eta_factor(|k| {
        let fails = worse_ln(k) >= bound
            && binomial_mixture_ln(k * x_c, k * n_c, p0 + margin, tau) >= MARGIN_ODDS.ln();
        fails || binomial_mixture_lower_ln(k * x_c, k * n_c, p0 + margin, tau) >= below
    });
    decide(&mut ev, c.requests, s.requests, cfg, "canary 5xx");
    if failed && ev.outcome != Outcome::Fail {
        ev.outcome = Outcome::Fail;
        ev.note = format!(
            "canary 5xx failed earlier (worse than the stable's, beyond {}); now {}",
            ev.margin_label, ev.note
        );
    }
    ev
}

/// Pass / fail / inconclusive from the statistics and the interval; shared
/// with the latency test. A test with a margin statistic (`margin_bound >
/// 0`) fails only when it also favours "beyond the margin".
pub(super) fn decide(ev: &mut TestEvidence, n_c: f64, n_s: f64, cfg: &JudgeSettings, what: &str) {
    let min = cfg.min_requests;
    let worse = ev.max_ln_lr >= ev.bound;
    let beyond = ev.margin_bound <= 0.0 || ev.margin_ln_lr >= ev.margin_bound;
    if worse && beyond {
        ev.outcome = Outcome::Fail;
        ev.note = if ev.margin_bound > 0.0 {
            format!(
                "{what} worse than the stable's (Λ {} ≥ 1/α {}) and beyond {} (Λ {} ≥ {})",
                super::text::lr(ev.max_ln_lr),
                super::text::lr(ev.bound),
                ev.margin_label,
                super::text::lr(ev.margin_ln_lr),
                super::text::lr(ev.margin_bound)
            )
        } else {
            format!(
                "{what} worse than the stable's {} (Λ {} ≥ 1/α {})",
                ev.margin_label,
                super::text::lr(ev.max_ln_lr),
                super::text::lr(ev.bound)
            )
        };
    } else if n_c < min || n_s < min {
        ev.note =
            format!("too few requests: canary {n_c:.0}, stable {n_s:.0} (need {min:.0} each)");
    } else if ev.high < ev.margin {
        ev.outcome = Outcome::Pass;
        ev.note = format!(
            "{what} not worse than the stable's {} (upper bound {:+.2} points)",
            ev.margin_label, ev.high
        );
    } else if worse {
        ev.note = format!(
            "worse than the stable's, but not shown beyond {} (Λ {} < {})",
            ev.margin_label,
            super::text::lr(ev.margin_ln_lr),
            super::text::lr(ev.margin_bound)
        );
    } else {
        ev.note = "not enough evidence either way yet".into();
    }
}

/// How many times the data seen so far would likely settle the test if the
/// estimates held: the smallest factor k (counts × k, variance / k) at which
/// `settled(k)` (a bound crossed, or the interval's upper end below the
/// margin). Found by bisection on ln k, within 5 %, assuming settling only
/// gets likelier as k grows (it does for each of the judge's criteria).
pub(super) fn eta_factor(settled: impl Fn(f64) -> bool) -> Option<f64> {
    if settled(1.0) {
        return Some(1.0);
    }
    let (mut lo, mut hi) = (0.0f64, 1000.0f64.ln());
    if !settled(hi.exp()) {
        return None;
    }
    while hi - lo > 0.05 {
        let mid = (lo + hi) / 2.0;
        if settled(mid.exp()) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(n: f64, x: f64) -> Totals {
        Totals {
            requests: n,
            errors: x,
            ..Totals::default()
        }
    }

    fn run(c: &Totals, s: &Totals) -> TestEvidence {
        // One point: the split test on the totals.
        let pair = [PointPair {
            n_c: c.requests,
            x_c: c.errors,
            n_s: s.requests,
            x_s: s.errors,
        }];
        let r = Reference {
            prior: None,
            pairs: &pair,
        };
        judge(&JudgeSettings::default(), c, s, r, 0.0, false)
    }

    #[test]
    fn a_clearly_worse_canary_fails_and_a_healthy_one_passes() {
        // 1.5 % vs 0.1 % over 6 000 canary requests.
        let bad = run(&totals(6000.0, 90.0), &totals(54000.0, 54.0));
        assert_eq!(bad.outcome, Outcome::Fail, "{bad:?}");
        let good = run(&totals(6000.0, 6.0), &totals(54000.0, 54.0));
        assert_eq!(good.outcome, Outcome::Pass, "{good:?}");
        let few = run(&totals(20.0, 1.0), &totals(180.0, 0.0));
        assert_eq!(few.outcome, Outcome::Inconclusive, "{few:?}");
    }

    #[test]
    fn a_real_but_negligible_difference_does_not_fail() {
        // +0.2 points with a margin of 0.5, a million requests each: beyond
        // doubt worse than the stable, and beyond doubt within the margin.
        let ev = run(&totals(1e6, 3000.0), &totals(1e6, 1000.0));
        assert!(ev.max_ln_lr > ev.bound, "statistically worse: {ev:?}");
        assert!(ev.margin_ln_lr < 0.0, "{ev:?}");
        assert_eq!(ev.outcome, Outcome::Pass, "{ev:?}");
    }

    #[test]
    fn worse_but_not_shown_beyond_the_margin_waits() {
        // 0.6 % vs 0.1 %: worse beyond doubt at 20 000 requests, but right at
        // the margin: neither fail nor pass.
        let ev = run(&totals(20_000.0, 120.0), &totals(180_000.0, 180.0));
        assert!(ev.max_ln_lr > ev.bound, "{ev:?}");
        assert_eq!(ev.outcome, Outcome::Inconclusive, "{ev:?}");
        assert!(ev.note.contains("not shown beyond"), "{}", ev.note);
    }

    #[test]
    fn the_stables_rate_before_the_canary_pins_the_null() {
        // The +2-point canary's first 125 requests (25 s at 5 req/s) with 3
        // errors; the stable's same-time 1 125 requests happened to have 3
        // (0.27 %). Alone, those are too few to rule out a stable at 0.3 %;
        // with the stable's 30 000 requests and 30 errors of the ten minutes
        // before, the canary fails.
        let (c, s) = (totals(125.0, 3.0), totals(1125.0, 3.0));
        let alone = run(&c, &s);
        assert_ne!(alone.outcome, Outcome::Fail, "{alone:?}");
        let prior = totals(30_000.0, 30.0);
        let cfg = JudgeSettings::default();
        let r = Reference {
            prior: Some(&prior),
            pairs: &[],
        };
        let with = judge(&cfg, &c, &s, r, 0.0, false);
        assert_eq!(with.outcome, Outcome::Fail, "{with:?}");
        assert!((with.null_rate - 100.0 * 33.5 / 31_126.0).abs() < 1e-9);
        assert_eq!((with.prior_requests, with.prior_errors), (30_000.0, 30.0));
    }

    #[test]
    fn a_stable_that_got_worse_drops_its_past() {
        let cfg = JudgeSettings::default();
        let prior = totals(30_000.0, 30.0);
        // The same 0.1 %: kept. 2 % over the last minute: dropped.
        assert!(!prior_contradicted(&cfg, &totals(2700.0, 3.0), &prior));
        assert!(prior_contradicted(&cfg, &totals(2700.0, 54.0), &prior));
        assert!(!prior_contradicted(
            &cfg,
            &totals(2700.0, 54.0),
            &totals(0.0, 0.0)
        ));
        // Ten minutes of an incident (2 %) before a stable back at 0.1 %:
        // dropped too (it would make a canary at 0.7 % look fine).
        let incident = totals(30_000.0, 600.0);
        assert!(prior_contradicted(&cfg, &totals(13_500.0, 13.0), &incident));
        assert!(!prior_contradicted(
            &cfg,
            &totals(13_500.0, 270.0),
            &incident
        ));
    }

    #[test]
    fn a_failed_test_stays_failed() {
        let cfg = JudgeSettings::default();
        let (c, s) = (totals(6000.0, 6.0), totals(54000.0, 54.0));
        let ev = judge(&cfg, &c, &s, Reference::default(), 10.0, true);
        assert_eq!(ev.outcome, Outcome::Fail);
        assert!(ev.note.contains("failed earlier"), "{}", ev.note);
        // A high running maximum alone (statistically worse once) is not a
        // failure while the data now favour "within the margin".
        let ev = judge(&cfg, &c, &s, Reference::default(), 10.0, false);
        assert_ne!(ev.outcome, Outcome::Fail, "{ev:?}");
    }
}
