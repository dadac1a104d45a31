//! The statistics behind the judge: the normal distribution and the normal
//! mixture sequential probability ratio test (mSPRT) of Robbins (1970), in the
//! form of Johari, Koomen, Pekelis & Walsh (2017, "Peeking at A/B tests").
//!
//! An estimate `est` of an effect `θ` with variance `var` is treated as one
//! observation of `N(θ, var)`; as data accumulates `var` shrinks like 1/n and
//! the estimate follows a Brownian motion in "information time" 1/var. The
//! mixture likelihood ratio against `θ = null` with a mixing distribution of
//! scale `tau` is then a (super)martingale under the null, so by Ville's
//! inequality `P(sup_n Λ_n ≥ 1/α) ≤ α`: it may be looked at after every
//! request without inflating the false-alarm rate. Pure functions, no state.

/// ln erfc(x) for x ≥ 3 by the continued fraction
/// `erfc x = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …))))`.
fn ln_erfc_tail(x: f64) -> f64 {
    let mut f = x;
    for k in (1..=80).rev() {
        f = x + (f64::from(k) / 2.0) / f;
    }
    -x * x - 0.5 * std::f64::consts::PI.ln() - f.ln()
}

/// erf(x) for |x| < 3 by the series `2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1))`
/// (positive terms, no cancellation).
fn erf_series(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    let x2 = 2.0 * x * x;
    for n in 1..200 {
        term *= x2 / f64::from(2 * n + 1);
        sum += term;
        if term.abs() < sum.abs() * 1e-17 {
            break;
        }
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
}

/// The complementary error function (relative error about 1e-14).
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else if x < 3.0 {
        1.0 - erf_series(x)
    } else {
        ln_erfc_tail(x).exp()
    }
}

/// Standard normal cumulative distribution function Φ(x).
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// ln Φ(x), accurate far into the lower tail (where Φ underflows).
pub fn ln_norm_cdf(x: f64) -> f64 {
    let z = -x / std::f64::consts::SQRT_2;
    if z >= 3.0 {
        ln_erfc_tail(z) - std::f64::consts::LN_2
    } else {
        norm_cdf(x).ln()
    }
}

/// The quantile function Φ⁻¹(p), by Acklam's rational approximation refined
/// with one Halley step (relative error about 1e-9 once refined).
pub fn norm_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step against our own Φ.
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// (Not the judge's test any more, see [`binomial_mixture_ln`]: kept for the
/// reference tests and to show, in a unit test, why it was replaced.)
///
/// ln Λ of the **one-sided** normal-mixture SPRT of `H0: θ ≤ null` against
/// `θ > null`, with a half-normal mixing density of scale `tau` above `null`:
///
/// `Λ = 2·sqrt(v/(v+τ²))·exp(τ²d²/(2v(v+τ²)))·Φ(τd/(sqrt(v)·sqrt(v+τ²)))`, `d = est − null`.
///
/// Only evidence of harm (`est > null`) makes it large; under any `θ ≤ null`
/// it is a supermartingale (monotone likelihood ratio), so rejecting when
/// `ln Λ ≥ ln(1/α)` keeps the false-alarm rate below α at every look.
pub fn msprt_one_sided_ln(est: f64, var: f64, null: f64, tau: f64) -> f64 {
    if !(var > 0.0 && tau > 0.0 && est.is_finite()) {
        return 0.0;
    }
    let t2 = tau * tau;
    let d = est - null;
    let s = var + t2;
    std::f64::consts::LN_2
        + 0.5 * (var / s).ln()
        + t2 * d * d / (2.0 * var * s)
        + ln_norm_cdf(tau * d / (var.sqrt() * s.sqrt()))
}

/// ln Λ of the two-sided normal-mixture SPRT (mixing `N(null, τ²)`).
pub fn msprt_two_sided_ln(est: f64, var: f64, null: f64, tau: f64) -> f64 {
    if !(var > 0.0 && tau > 0.0 && est.is_finite()) {
        return 0.0;
    }
    let t2 = tau * tau;
    let d = est - null;
    let s = var + t2;
    0.5 * (var / s).ln() + t2 * d * d / (2.0 * var * s)
}

/// Points of the discretized half-normal mixing distribution of
/// [`binomial_mixture_ln`], and how far it reaches, in units of τ.
pub const MIX_POINTS: usize = 64;
const MIX_REACH: f64 = 5.0;

/// ln Λ of the **one-sided binomial mixture** test of `H0: p ≤ p0` from `x`
/// events in `n` trials (the canary's 5xx answers, or its requests slower
/// than a threshold), exact for any counts (no normal approximation):
///
/// `Λ = Σ_k w_k · (p_k/p0)^x · ((1−p_k)/(1−p0))^(n−x)`, `p_k = p0 + θ_k`,
///
/// with `θ_k` the midpoints of 64 equal steps over `(0, 5τ]` and `w_k ∝
/// exp(−θ_k²/2τ²)` summing to 1: a half-normal of scale τ above the null,
/// discretized. Each term is the likelihood ratio of an alternative above
/// `p0`, a nonnegative supermartingale under every `p ≤ p0` (its expected
/// factor per trial is `p·p_k/p0 + (1−p)(1−p_k)/(1−p0) ≤ 1`); so is their
/// average, and Ville's inequality gives `P(sup Λ ≥ 1/α) ≤ α` at every look,
/// whatever the counts. Counts may be fractional (derived from rates).
pub fn binomial_mixture_ln(x: f64, n: f64, p0: f64, tau: f64) -> f64 {
    let ok = n > 0.0 && (0.0..=n).contains(&x) && p0 > 0.0 && p0 < 1.0 && tau > 0.0;
    if !ok {
        return 0.0;
    }
    let (ln_p0, ln_q0) = (p0.ln(), (-p0).ln_1p());
    let mut terms = [0.0f64; MIX_POINTS];
    let mut weights = [0.0f64; MIX_POINTS];
    for (k, (term, weight)) in terms.iter_mut().zip(weights.iter_mut()).enumerate() {
        let z = (k as f64 + 0.5) / MIX_POINTS as f64 * MIX_REACH;
        // An alternative at or above 1 is capped just below it: still an
        // alternative above p0, so still a supermartingale under the null.
        let p1 = (p0 + z * tau).min(1.0 - 1e-12);
        *weight = -z * z / 2.0;
        *term = x * (p1.ln() - ln_p0) + (n - x) * ((-p1).ln_1p() - ln_q0);
    }
    let norm = log_sum_exp(&weights);
    let mut all = [0.0f64; MIX_POINTS];
    for ((a, t), w) in all.iter_mut().zip(terms).zip(weights) {
        *a = t + w - norm;
    }
    log_sum_exp(&all)
}

/// ln Λ of the **lower-tail** binomial mixture: `H0: p ≥ q` against
/// alternatives below `q`, `p_k = q − θ_k` with the same discretized
/// half-normal, its scale capped at `q/2` so that the alternatives stay
/// inside `(0, q)`. Each term is a supermartingale under every `p ≥ q` (the
/// mirror of [`binomial_mixture_ln`]). Used to bound the canary's rate from
/// above.
pub fn binomial_mixture_lower_ln(x: f64, n: f64, q: f64, tau: f64) -> f64 {
    let ok = n > 0.0 && (0.0..=n).contains(&x) && q > 0.0 && q < 1.0 && tau > 0.0;
    if !ok {
        return 0.0;
    }
    let tau = tau.min(q / 2.0);
    let (ln_q, ln_r) = (q.ln(), (-q).ln_1p());
    let mut all = [0.0f64; MIX_POINTS];
    let mut weights = [0.0f64; MIX_POINTS];
    for (k, (a, weight)) in all.iter_mut().zip(weights.iter_mut()).enumerate() {
        let z = (k as f64 + 0.5) / MIX_POINTS as f64 * MIX_REACH;
        let p1 = (q - z * tau).max(q * 1e-9);
        *weight = -z * z / 2.0;
        *a = x * (p1.ln() - ln_q) + (n - x) * ((-p1).ln_1p() - ln_r) + *weight;
    }
    log_sum_exp(&all) - log_sum_exp(&weights)
}

/// The always-valid (1 − α) interval for a rate from `x` events in `n`
/// trials that inverts the judge's two binomial mixtures: every `q` that
/// neither the upper-tail test (`p ≤ q`, [`binomial_mixture_ln`]) nor the
/// lower-tail one (`p ≥ q`, [`binomial_mixture_lower_ln`]) rejects at α/2.
/// So the interval's lower end is above `p0` exactly when the upper-tail
/// test against `p0` rejects at α/2, and it is as skewed as the binomial
/// is at few events (a normal interval is not). Bisection to 1e-7.
pub fn binomial_interval(x: f64, n: f64, tau: f64, alpha: f64) -> (f64, f64) {
    if !(n > 0.0 && (0.0..=n).contains(&x) && alpha > 0.0 && alpha < 1.0) {
        return (0.0, 1.0);
    }
    let bound = (2.0 / alpha).ln();
    let est = x / n;
    // Lowest q not rejected by the upper-tail test (Λ falls as q rises).
    let (mut lo, mut hi) = (1e-12, est.max(1e-12));
    let low = if binomial_mixture_ln(x, n, lo, tau) < bound {
        0.0
    } else {
        while hi - lo > 1e-7 {
            let mid = (lo + hi) / 2.0;
            if binomial_mixture_ln(x, n, mid, tau) >= bound {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    // Highest q not rejected by the lower-tail test (Λ rises with q).
    let (mut lo, mut hi) = (est.max(1e-12), 1.0 - 1e-12);
    let high = if binomial_mixture_lower_ln(x, n, hi, tau) < bound {
        1.0
    } else {
        while hi - lo > 1e-7 {
            let mid = (lo + hi) / 2.0;
            if binomial_mixture_lower_ln(x, n, mid, tau) >= bound {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        lo
    };
    (low, high)
}

/// One point of a two-sample comparison: the canary's requests and errors
/// and the reference's (stable or baseline), over the same interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PointPair {
    pub n_c: f64,
    pub x_c: f64,
    pub n_s: f64,
    pub x_s: f64,
}

/// Scale (in ln ψ) of the half-normal mixing distribution of
/// [`split_mixture_sums`]: ψ = e² ≈ 7 (a canary with 7× the reference's
/// error rate) sits at one scale; the reach, 5 scales, is ψ ≈ 22 000.
pub const SPLIT_TAU: f64 = 2.0;

/// The **conditional (split) test** of `H0: p_c ≤ p_s` that needs no
/// estimate of the rates: given the `K_i = x_c + x_s` errors of a point,
/// each is the canary's with probability `ρ_i = n_c/(n_c + n_s)` under the
/// null (whatever the common rate, which may drift from point to point),
/// and with `ψρ_i/(ψρ_i + 1 − ρ_i)` when the canary's odds are ψ times the
/// reference's. Returns, for each ψ_j of the mixture (`ln ψ_j` the
/// midpoints of 64 steps over `(0, 5·SPLIT_TAU]`), the log-likelihood ratio
/// `Σ_i x_c,i ln ψ_j − K_i ln(1 + (ψ_j − 1) ρ_i)`, and the log-weights; the
/// statistic is [`split_mixture_ln`] of them (linear in the counts, so the
/// ETA scales them). Under the null each point's factor has expectation at
/// most 1 (exactly 1 under the Poisson model; sampling requests without
/// replacement only narrows the canary's share of a point's errors,
/// Hoeffding 1963, Thm 4), for every ψ ≥ 1: a test supermartingale without
/// a plug-in (Lindon, Sanden & Shirikian 2022 use this split for Poisson
/// counts of deployments).
pub fn split_mixture_sums(points: &[PointPair]) -> ([f64; MIX_POINTS], [f64; MIX_POINTS]) {
    let mut sums = [0.0f64; MIX_POINTS];
    let mut weights = [0.0f64; MIX_POINTS];
    for (k, (sum, weight)) in sums.iter_mut().zip(weights.iter_mut()).enumerate() {
        let z = (k as f64 + 0.5) / MIX_POINTS as f64 * MIX_REACH;
        let ln_psi = z * SPLIT_TAU;
        let psi_1 = ln_psi.exp_m1();
        *weight = -z * z / 2.0;
        for p in points {
            let total = p.n_c + p.n_s;
            let errors = p.x_c + p.x_s;
            if total <= 0.0 || errors <= 0.0 || p.x_c < 0.0 || p.x_s < 0.0 {
                continue;
            }
            let rho = p.n_c / total;
            *sum += p.x_c * ln_psi - errors * (psi_1 * rho).ln_1p();
        }
    }
    let norm = log_sum_exp(&weights);
    for w in &mut weights {
        *w -= norm;
    }
    (sums, weights)
}

/// ln Λ of the split test from its sums, the counts scaled by `k` (1: as
/// they are).
pub fn split_mixture_ln(sums: &[f64; MIX_POINTS], weights: &[f64; MIX_POINTS], k: f64) -> f64 {
    let mut all = [0.0f64; MIX_POINTS];
    for ((a, s), w) in all.iter_mut().zip(sums).zip(weights) {
        *a = k * s + w;
    }
    log_sum_exp(&all)
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Half-width of the always-valid (1 − α) confidence sequence that inverts
/// the two-sided mixture test: every θ with `Λ(θ) < 1/α`.
/// `sqrt(v(v+τ²)/τ² · (2 ln(1/α) + ln((v+τ²)/v)))`.
pub fn confidence_half_width(var: f64, tau: f64, alpha: f64) -> f64 {
    if !(var > 0.0 && tau > 0.0 && alpha > 0.0 && alpha < 1.0) {
        return f64::INFINITY;
    }
    let t2 = tau * tau;
    let s = var + t2;
    (var * s / t2 * (2.0 * (1.0 / alpha).ln() + (s / var).ln())).sqrt()
}

/// A two-proportion comparison: canary `x_c / n_c` against stable `x_s / n_s`.
/// The variance uses add-½ smoothed proportions so that zero counts do not
/// make it zero (which would claim certainty from no events).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwoProportions {
    pub x_c: f64,
    pub n_c: f64,
    pub x_s: f64,
    pub n_s: f64,
}

impl TwoProportions {
    pub fn p_c(&self) -> f64 {
        self.x_c / self.n_c
    }

    pub fn p_s(&self) -> f64 {
        self.x_s / self.n_s
    }

    /// p̂_c − p̂_s.
    pub fn diff(&self) -> f64 {
        self.p_c() - self.p_s()
    }

    /// Var(p̂_c − p̂_s), unpooled, with smoothed proportions.
    pub fn var(&self) -> f64 {
        let sm = |x: f64, n: f64| (x + 0.5) / (n + 1.0);
        let (a, b) = (sm(self.x_c, self.n_c), sm(self.x_s, self.n_s));
        a * (1.0 - a) / self.n_c + b * (1.0 - b) / self.n_s
    }

    /// The stable's add-½ smoothed proportion `(x_s + ½)/(n_s + 1)`: never
    /// zero, and above the raw one while errors are rare, so a null built on
    /// it leans towards the canary while the stable's data is thin.
    pub fn smoothed_stable(&self) -> f64 {
        (self.x_s + 0.5) / (self.n_s + 1.0)
    }

    /// The classical pooled two-proportion z statistic (fixed-sample; for
    /// the reference tests and the report, never for decisions).
    pub fn z_pooled(&self) -> f64 {
        let p = (self.x_c + self.x_s) / (self.n_c + self.n_s);
        let se = (p * (1.0 - p) * (1.0 / self.n_c + 1.0 / self.n_s)).sqrt();
        if se > 0.0 {
            self.diff() / se
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn normal_cdf_matches_the_tables() {
        // Abramowitz & Stegun, table 26.1.
        close(norm_cdf(0.0), 0.5, 1e-9);
        close(norm_cdf(1.0), 0.841_344_746, 1e-7);
        close(norm_cdf(1.644_853_627), 0.95, 1e-7);
        close(norm_cdf(1.959_963_985), 0.975, 1e-7);
        close(norm_cdf(-2.326_347_874), 0.01, 1e-8);
        close(norm_cdf(3.0), 0.998_650_102, 1e-8);
        // ln Φ far in the tail: Φ(-10) = 7.6198530241605e-24.
        close(ln_norm_cdf(-10.0), (7.619_853_024_160_5e-24f64).ln(), 1e-5);
        assert!(ln_norm_cdf(-40.0).is_finite());
    }

    #[test]
    fn quantiles_match_the_tables() {
        close(norm_ppf(0.95), 1.644_853_627, 1e-7);
        close(norm_ppf(0.975), 1.959_963_985, 1e-7);
        close(norm_ppf(0.01), -2.326_347_874, 1e-7);
        close(norm_ppf(0.5), 0.0, 1e-9);
    }

    #[test]
    fn two_proportion_z_matches_a_textbook_example() {
        // Agresti, "Categorical Data Analysis" style example: 15/100 vs 5/100:
        // pooled p = 0.1, se = sqrt(0.1·0.9·0.02) = 0.042426, z = 2.357.
        let t = TwoProportions {
            x_c: 15.0,
            n_c: 100.0,
            x_s: 5.0,
            n_s: 100.0,
        };
        close(t.z_pooled(), 2.357_022_6, 1e-6);
        close(t.diff(), 0.10, 1e-12);
    }

    #[test]
    fn mixture_is_one_at_no_evidence_and_grows_with_it() {
        // Two-sided: est = null gives Λ = sqrt(v/(v+τ²)) < 1.
        close(
            msprt_two_sided_ln(0.0, 1.0, 0.0, 1.0),
            0.5 * (0.5f64).ln(),
            1e-12,
        );
        // One-sided at est = null: 2·sqrt(1/2)·Φ(0) = sqrt(1/2).
        close(
            msprt_one_sided_ln(0.0, 1.0, 0.0, 1.0),
            0.5 * (0.5f64).ln(),
            1e-9,
        );
        // The harmful direction only.
        assert!(msprt_one_sided_ln(-3.0, 1.0, 0.0, 1.0) < msprt_one_sided_ln(0.0, 1.0, 0.0, 1.0));
        assert!(msprt_one_sided_ln(3.0, 1.0, 0.0, 1.0) > (5.0f64).ln());
        // Hand-computed: est 3, v 1, τ 1: ln2 + ½ln½ + 9/4 + lnΦ(3/√2).
        let expect =
            std::f64::consts::LN_2 + 0.5 * (0.5f64).ln() + 2.25 + norm_cdf(3.0 / 2f64.sqrt()).ln();
        close(msprt_one_sided_ln(3.0, 1.0, 0.0, 1.0), expect, 1e-9);
    }

    #[test]
    fn confidence_sequence_inverts_the_two_sided_test() {
        let (v, tau, alpha) = (0.3, 0.7, 0.05);
        let h = confidence_half_width(v, tau, alpha);
        // At the boundary Λ = 1/α exactly.
        close(
            msprt_two_sided_ln(h, v, 0.0, tau),
            (1.0f64 / alpha).ln(),
            1e-9,
        );
        // Wider than the fixed-sample interval (the price of peeking).
        assert!(h > 1.96 * v.sqrt());
    }

    #[test]
    fn zero_counts_do_not_claim_certainty() {
        let t = TwoProportions {
            x_c: 0.0,
            n_c: 50.0,
            x_s: 0.0,
            n_s: 500.0,
        };
        assert!(t.var() > 0.0);
    }

    #[test]
    fn the_rate_interval_is_skewed_like_the_binomial_and_agrees_with_the_test() {
        // 3 errors in 125: the estimate 2.4 %, the interval wider above.
        let (lo, hi) = binomial_interval(3.0, 125.0, 0.02, 0.01);
        assert!(lo > 0.0 && lo < 0.024 && hi > 0.024, "{lo} {hi}");
        assert!(hi - 0.024 > 0.024 - lo, "skewed up: {lo} {hi}");
        // The lower end is where the upper-tail test stops rejecting at α/2.
        let bound = (2.0f64 / 0.01).ln();
        close(binomial_mixture_ln(3.0, 125.0, lo, 0.02), bound, 1e-3);
        close(binomial_mixture_lower_ln(3.0, 125.0, hi, 0.02), bound, 1e-3);
        // No errors: the lower end is 0; more data, a narrower interval.
        assert_eq!(binomial_interval(0.0, 500.0, 0.02, 0.01).0, 0.0);
        let (a, b) = binomial_interval(30.0, 1250.0, 0.02, 0.01);
        assert!(b - a < hi - lo, "{a} {b}");
        // The lower-tail mixture is a fair bet at q (E Λ = 1).
        let (n, q) = (200u32, 0.03);
        let mean: f64 = binomial_ln_pmf(n, q, n as usize)
            .iter()
            .enumerate()
            .map(|(x, l)| (l + binomial_mixture_lower_ln(x as f64, f64::from(n), q, 0.02)).exp())
            .sum();
        close(mean, 1.0, 1e-9);
    }

    #[test]
    fn the_split_test_is_a_fair_bet_whatever_the_common_rate() {
        // One point, K errors split between a canary with 10 % of the
        // requests and a reference with 90 %: E Λ = 1 exactly over the
        // binomial(K, 0.1) labels, for any K (any common rate).
        for errors in [1u32, 3, 12] {
            let mut mean = 0.0;
            for (x, lp) in binomial_ln_pmf(errors, 0.1, errors as usize)
                .iter()
                .enumerate()
            {
                let x = x as f64;
                let pair = PointPair {
                    n_c: 100.0,
                    x_c: x,
                    n_s: 900.0,
                    x_s: f64::from(errors) - x,
                };
                let (s, w) = split_mixture_sums(&[pair]);
                mean += (lp + split_mixture_ln(&s, &w, 1.0)).exp();
            }
            close(mean, 1.0, 1e-9);
        }
        // Every error the canary's: evidence; none of them: against.
        let all = PointPair {
            n_c: 100.0,
            x_c: 4.0,
            n_s: 900.0,
            x_s: 0.0,
        };
        let (s, w) = split_mixture_sums(&[all]);
        assert!(split_mixture_ln(&s, &w, 1.0) > (10.0f64).ln());
        let none = PointPair {
            n_c: 100.0,
            x_c: 0.0,
            n_s: 900.0,
            x_s: 4.0,
        };
        let (s, w) = split_mixture_sums(&[none]);
        assert!(split_mixture_ln(&s, &w, 1.0) < 0.0);
        // No errors at all: no evidence either way.
        let quiet = PointPair {
            n_c: 100.0,
            x_c: 0.0,
            n_s: 900.0,
            x_s: 0.0,
        };
        let (s, w) = split_mixture_sums(&[quiet]);
        close(split_mixture_ln(&s, &w, 1.0), 0.0, 1e-12);
    }

    /// Binomial log probabilities `ln P(X = x)`, x = 0..=max, by the recurrence.
    fn binomial_ln_pmf(n: u32, p: f64, max: usize) -> Vec<f64> {
        let mut out = vec![f64::from(n) * (-p).ln_1p()];
        for x in 0..max {
            let prev = out[x];
            let x = x as f64;
            out.push(prev + ((f64::from(n) - x) / (x + 1.0) * p / (1.0 - p)).ln());
        }
        out
    }

    #[test]
    fn binomial_mixture_is_a_fair_bet_under_the_null() {
        // No data: Λ = 1.
        close(binomial_mixture_ln(0.0, 0.0, 0.006, 0.02), 0.0, 1e-12);
        // E[Λ_n] = 1 under p = p0 (each term is a likelihood ratio), and
        // below 1 under any p < p0: summed exactly over the binomial.
        for (n, p0, tau) in [(200u32, 0.006, 0.02), (60, 0.05, 0.05), (1000, 0.011, 0.01)] {
            for (p, expect_one) in [(p0, true), (p0 / 3.0, false)] {
                let ln_pmf = binomial_ln_pmf(n, p, n as usize);
                let mean: f64 = ln_pmf
                    .iter()
                    .enumerate()
                    .map(|(x, q)| (q + binomial_mixture_ln(x as f64, f64::from(n), p0, tau)).exp())
                    .sum();
                if expect_one {
                    close(mean, 1.0, 1e-9);
                } else {
                    assert!(mean < 1.0, "{mean}");
                }
            }
        }
        // One error in one trial: Σ w_k p_k / p0 (hand-checkable: > 1).
        assert!(binomial_mixture_ln(1.0, 1.0, 0.006, 0.02) > 0.0);
        // Only harm counts: fewer events than the null expects lower Λ.
        assert!(binomial_mixture_ln(0.0, 500.0, 0.006, 0.02) < 0.0);
    }

    /// The exact probability that a canary at the null's boundary ever
    /// crosses the bound, looked at every `every` requests up to `n_max`:
    /// the binomial path is followed state by state (errors so far), and the
    /// mass of a state whose Λ reaches 1/α is taken out (the test stopped).
    fn crossing_probability(
        ln_lr: impl Fn(f64, f64) -> f64,
        p: f64,
        n_max: u32,
        every: u32,
    ) -> f64 {
        let bound = (1.0f64 / 0.01).ln();
        let mut alive = vec![0.0f64; 120];
        alive[0] = 1.0;
        let mut crossed = 0.0;
        for n in 1..=n_max {
            for x in (0..alive.len()).rev() {
                let stay = alive[x] * (1.0 - p);
                let up = if x > 0 { alive[x - 1] * p } else { 0.0 };
                alive[x] = stay + up;
            }
            if n % every == 0 {
                for (x, a) in alive.iter_mut().enumerate() {
                    if *a > 0.0 && ln_lr(x as f64, f64::from(n)) >= bound {
                        crossed += *a;
                        *a = 0.0;
                    }
                }
            }
        }
        crossed
    }

    #[test]
    fn looking_every_second_keeps_alpha_exactly_where_the_normal_test_did_not() {
        // A canary at 0.6 % 5xx against a null of 0.6 % (the stable's 0.1 %
        // plus the 0.5-point margin), at 5 req/s for 15 minutes, looked at
        // every second (5 requests), α = 1 %.
        let (p0, n) = (0.006, 4500);
        let exact = crossing_probability(|x, n| binomial_mixture_ln(x, n, p0, 0.02), p0, n, 5);
        assert!(exact <= 0.01, "binomial mixture: {exact}");
        assert!(exact > 0.002, "not needlessly timid either: {exact}");
        // The normal approximation at the boundary's variance (the test
        // before): about 3 %, three times α.
        let normal = crossing_probability(
            |x, n| msprt_one_sided_ln(x / n, p0 * (1.0 - p0) / n, p0, 0.01),
            p0,
            n,
            5,
        );
        assert!(normal > 0.02, "normal approximation: {normal}");
    }
}
