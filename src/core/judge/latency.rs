//! Latency: is the canary's p95 above the stable's p95 plus the margin?
//!
//! `canary p95 ≤ T` is the same statement as "at most 5 % of canary requests
//! are slower than T". With `T = stable p95 + margin`, read from the
//! histograms, the question becomes a proportion test: the canary's share of
//! requests slower than T against the stable's share slower than its own p95
//! (5 % by construction; counted as a binomial so that the uncertainty of the
//! stable's p95 widens the test). The same one-sided mixture SPRT as errors.

use super::errors::{decide, eta_factor};
use super::stats::{binomial_mixture_ln, confidence_half_width, norm_ppf, TwoProportions};
use super::tally::Totals;
use super::{JudgeSettings, TestEvidence};

pub const QUANTILE: f64 = 0.95;

pub fn judge(cfg: &JudgeSettings, c: &Totals, s: &Totals, max_ln_lr: f64) -> TestEvidence {
    let mut ev = TestEvidence::new("p95", "ms", cfg, c.hist_requests, s.hist_requests);
    ev.margin_label = format!("+{} ms", cfg.latency_margin_ms);
    let (Some(qc), Some(qs)) = (c.quantile(QUANTILE), s.quantile(QUANTILE)) else {
        let no_hist =
            (c.requests > 0.0 && !c.has_histogram()) || (s.requests > 0.0 && !s.has_histogram());
        ev.available = !no_hist;
        ev.note = if no_hist {
            "no latency histogram from this source: judged by the p95 gate only".into()
        } else {
            "no latency data for both revisions yet".into()
        };
        return ev;
    };
    ev.canary_value = qc;
    ev.stable_value = qs;
    let threshold = qs + cfg.latency_margin_ms;
    ev.slow_threshold_ms = Some(threshold);
    let t = TwoProportions {
        x_c: (c.hist_requests - c.count_le(threshold)).max(0.0),
        n_c: c.hist_requests.max(1.0),
        x_s: s.hist_requests - s.count_le(qs),
        n_s: s.hist_requests.max(1.0),
    };
    let tau = cfg.latency_tau_points / 100.0;
    let (est, var) = (t.diff(), t.var());
    let half = confidence_half_width(var, tau, cfg.alpha);
    ev.canary_share = 100.0 * t.p_c();
    ev.stable_share = 100.0 * t.p_s();
    ev.effect = 100.0 * est;
    ev.low = 100.0 * (est - half);
    ev.high = 100.0 * (est + half);
    // The canary's slow requests as Bernoulli trials against the stable's
    // share slower than its own p95, with the exact binomial likelihood, as
    // for errors. That share is 5 % by construction, but of the *estimated*
    // p95: the true share of stable requests slower than it is uncertain by
    // sqrt(p(1−p)/n_s), which matters when the stable has only 3× the
    // canary's requests (25 %). The null is moved up by z_(1−α) of it.
    let ps = t.smoothed_stable();
    let p0 = ps + norm_ppf(1.0 - cfg.alpha) * (ps * (1.0 - ps) / t.n_s).sqrt();
    let (x_c, n_c) = (t.x_c, c.hist_requests);
    ev.ln_lr = binomial_mixture_ln(x_c, n_c, p0, tau);
    ev.max_ln_lr = ev.ln_lr.max(max_ln_lr);
    let bound = ev.bound;
    ev.eta_factor = eta_factor(|k| {
        binomial_mixture_ln(k * x_c, k * n_c, p0, tau) >= bound
            || est + confidence_half_width(var / k, tau, cfg.alpha) < 0.0
    });
    decide(&mut ev, c.hist_requests, s.hist_requests, cfg, "canary p95");
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::judge::Outcome;
    use crate::core::model::PointCounts;

    /// A log-normal latency histogram (10 % buckets) with the given p95.
    fn lognormal(n: f64, p95: f64) -> Totals {
        use crate::core::judge::stats::norm_cdf;
        let sigma: f64 = 0.35;
        let median = p95 / (1.645 * sigma).exp();
        let mut le = vec![];
        let mut b = 1.0f64;
        while b < 60_000.0 {
            le.push((b, n * norm_cdf((b / median).ln() / sigma)));
            b *= 1.1;
        }
        le.push((60_000.0, n));
        let pc = PointCounts {
            requests: n,
            errors: 0.0,
            latency_le: le,
        };
        let mut tally = crate::core::judge::tally::Tally::default();
        let mut batch = crate::core::model::MetricsBatch::default();
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp(1_700_000_000, 0).expect("valid");
        batch.counts.insert("r".into(), vec![(at, pc)]);
        tally.merge(&batch, "r", at - chrono::Duration::seconds(1));
        tally.totals(None, None)
    }

    #[test]
    fn quantiles_come_back_from_the_histogram() {
        let t = lognormal(10_000.0, 200.0);
        let q = t.quantile(0.95).expect("data");
        assert!((q - 200.0).abs() < 4.0, "{q}");
    }

    #[test]
    fn slow_canary_fails_same_canary_passes() {
        let cfg = JudgeSettings::default();
        let stable = lognormal(20_000.0, 200.0);
        let slow = judge(&cfg, &lognormal(2_000.0, 450.0), &stable, 0.0);
        assert_eq!(slow.outcome, Outcome::Fail, "{slow:?}");
        assert!((slow.canary_value - 450.0).abs() < 15.0, "{slow:?}");
        let same = judge(&cfg, &lognormal(2_000.0, 200.0), &stable, 0.0);
        assert_eq!(same.outcome, Outcome::Pass, "{same:?}");
        // Worse by less than the margin: never a failure.
        let near = judge(&cfg, &lognormal(20_000.0, 230.0), &stable, 0.0);
        assert_ne!(near.outcome, Outcome::Fail, "{near:?}");
    }

    #[test]
    fn no_histogram_is_said() {
        let cfg = JudgeSettings::default();
        let plain = Totals {
            requests: 500.0,
            ..Totals::default()
        };
        let ev = judge(&cfg, &plain, &plain, 0.0);
        assert!(!ev.available);
        assert_eq!(ev.outcome, Outcome::Inconclusive);
    }
}
