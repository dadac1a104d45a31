//! Error proportion: the canary's 5xx share against the stable's over the
//! same points, one-sided mixture SPRT of `H0: p_c − p_s ≤ margin`.

use super::stats::{binomial_mixture_ln, confidence_half_width, TwoProportions};
use super::tally::Totals;
use super::{JudgeSettings, Outcome, TestEvidence};

pub fn judge(cfg: &JudgeSettings, c: &Totals, s: &Totals, max_ln_lr: f64) -> TestEvidence {
    let margin = cfg.error_margin_points / 100.0;
    let tau = cfg.error_tau_points / 100.0;
    let mut ev = TestEvidence::new("5xx", "%", cfg, c.requests, s.requests);
    ev.margin = cfg.error_margin_points;
    ev.margin_label = format!("+{} points", cfg.error_margin_points);
    if s.requests <= 0.0 {
        ev.note = "no stable baseline over the same time".into();
        return ev;
    }
    let t = TwoProportions {
        x_c: c.errors,
        n_c: c.requests.max(1.0),
        x_s: s.errors,
        n_s: s.requests,
    };
    ev.canary_value = 100.0 * c.errors / c.requests.max(1.0);
    ev.stable_value = 100.0 * t.p_s();
    ev.canary_share = ev.canary_value;
    ev.stable_share = ev.stable_value;
    let (est, var) = (t.diff(), t.var());
    let half = confidence_half_width(var, tau, cfg.alpha);
    ev.effect = 100.0 * est;
    ev.low = 100.0 * (est - half);
    ev.high = 100.0 * (est + half);
    // The test: the canary's errors as Bernoulli trials against the null's
    // boundary, the stable's (add-½ smoothed) rate plus the margin, with the
    // exact binomial likelihood. A normal approximation at the boundary's
    // variance (the test before) raised 3 % false alarms at α = 1 % on
    // canaries worse by exactly the margin: with a few errors the binomial's
    // right tail is heavier than a normal's (docs/judge.md).
    let p0 = t.smoothed_stable() + margin;
    let (x_c, n_c) = (c.errors, c.requests);
    ev.ln_lr = binomial_mixture_ln(x_c, n_c, p0, tau);
    ev.max_ln_lr = ev.ln_lr.max(max_ln_lr);
    ev.eta_factor = eta_factor(cfg, margin, |k| {
        (
            binomial_mixture_ln(k * x_c, k * n_c, p0, tau),
            est + confidence_half_width(var / k, tau, cfg.alpha),
        )
    });
    decide(&mut ev, c.requests, s.requests, cfg, "canary 5xx");
    ev
}

/// Pass / fail / inconclusive from the statistic and the interval; shared
/// with the latency test.
pub(super) fn decide(ev: &mut TestEvidence, n_c: f64, n_s: f64, cfg: &JudgeSettings, what: &str) {
    let min = cfg.min_requests;
    if ev.max_ln_lr >= ev.bound {
        ev.outcome = Outcome::Fail;
        ev.note = format!(
            "{what} worse than the stable's {} (Λ {} ≥ 1/α {})",
            ev.margin_label,
            super::text::lr(ev.max_ln_lr),
            super::text::lr(ev.bound)
        );
    } else if n_c < min || n_s < min {
        ev.note =
            format!("too few requests: canary {n_c:.0}, stable {n_s:.0} (need {min:.0} each)");
    } else if ev.high < ev.margin {
        ev.outcome = Outcome::Pass;
        ev.note = format!(
            "{what} not worse than the stable's {} (upper bound {:+.2} points)",
            ev.margin_label, ev.high
        );
    } else {
        ev.note = "not enough evidence either way yet".into();
    }
}

/// How many times the data seen so far would likely settle the test if the
/// estimates held: the smallest factor k (counts × k, variance / k) at which
/// the statistic crosses its bound or the interval's upper end falls below
/// the margin. `at(k)` gives (ln Λ, upper end) for k; both move one way as
/// k grows (ln Λ is convex in k and starts below the bound), so the factor
/// is found by bisection on ln k, within 5 %.
pub(super) fn eta_factor(
    cfg: &JudgeSettings,
    margin: f64,
    at: impl Fn(f64) -> (f64, f64),
) -> Option<f64> {
    let bound = (1.0 / cfg.alpha).ln();
    let settled = |k: f64| {
        let (ln_lr, high) = at(k);
        ln_lr >= bound || high < margin
    };
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

    #[test]
    fn a_clearly_worse_canary_fails_and_a_healthy_one_passes() {
        let cfg = JudgeSettings::default();
        // 1.5 % vs 0.1 % over 6 000 canary requests.
        let bad = judge(&cfg, &totals(6000.0, 90.0), &totals(54000.0, 54.0), 0.0);
        assert_eq!(bad.outcome, Outcome::Fail, "{bad:?}");
        let good = judge(&cfg, &totals(6000.0, 6.0), &totals(54000.0, 54.0), 0.0);
        assert_eq!(good.outcome, Outcome::Pass, "{good:?}");
        let few = judge(&cfg, &totals(20.0, 1.0), &totals(180.0, 0.0), 0.0);
        assert_eq!(few.outcome, Outcome::Inconclusive, "{few:?}");
    }

    #[test]
    fn a_negligible_difference_does_not_fail() {
        // +0.2 points with a margin of 0.5, a million requests each.
        let cfg = JudgeSettings::default();
        let ev = judge(&cfg, &totals(1e6, 3000.0), &totals(1e6, 1000.0), 0.0);
        assert_ne!(ev.outcome, Outcome::Fail, "{ev:?}");
    }

    #[test]
    fn a_crossed_bound_stays_crossed() {
        let cfg = JudgeSettings::default();
        let ev = judge(&cfg, &totals(6000.0, 6.0), &totals(54000.0, 54.0), 10.0);
        assert_eq!(ev.outcome, Outcome::Fail);
    }
}
