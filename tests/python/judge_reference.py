"""Reference values for the judge's statistics, computed independently with
scipy (numerical integration and root finding, not the closed forms the Rust
code uses). Reads a JSON list of cases on stdin, prints a JSON list of
answers. Used by tests/core/judge_reference.rs."""
import json
import math
import sys

from scipy import integrate, optimize, special, stats


_LN_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _lpdf(x, mu, sd):
    # The normal log density, written out (scipy's per-call overhead is large
    # inside an integrand); checked against scipy below.
    return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd) - _LN_SQRT_2PI


assert abs(_lpdf(0.3, -0.2, 1.7) - stats.norm.logpdf(0.3, -0.2, 1.7)) < 1e-12


def _log_integral(logf, lo, hi, points):
    # ln ∫ exp(logf): scaled by the integrand's peak (found on a grid and
    # refined) so that nothing overflows.
    grid = [lo + (hi - lo) * i / 400 for i in range(401)]
    peak = max(grid, key=logf)
    res = optimize.minimize_scalar(lambda t: -logf(t), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-12})
    if logf(res.x) > logf(peak):
        peak = res.x
    c = logf(peak)
    pts = sorted({p for p in points + [peak] if lo < p < hi})
    val, _ = integrate.quad(lambda t: math.exp(logf(t) - c), lo, hi, limit=1000,
                            points=pts or None, epsabs=0, epsrel=1e-11)
    return c + math.log(val)


def mixture_one_sided(est, var, null, tau):
    # Λ = ∫_{θ>null} L(θ)/L(null) · 2·N(θ; null, τ²) dθ, L the Gaussian likelihood of est.
    sd = math.sqrt(var)

    def logf(theta):
        return (_lpdf(est, theta, sd) - _lpdf(est, null, sd)
                + math.log(2.0) + _lpdf(theta, null, tau))

    hi = null + 40 * tau + abs(est - null) * 2
    return _log_integral(logf, null, hi, [max(est, null)])


def mixture_two_sided(est, var, null, tau):
    sd = math.sqrt(var)

    def logf(theta):
        return (_lpdf(est, theta, sd) - _lpdf(est, null, sd)
                + _lpdf(theta, null, tau))

    span = 40 * tau + abs(est - null) * 2
    return _log_integral(logf, null - span, null + span, [est, null])


def half_width(var, tau, alpha):
    # The θ at which the two-sided mixture reaches 1/α, found by root finding.
    g = lambda h: mixture_two_sided(h, var, 0.0, tau) - math.log(1.0 / alpha)
    return optimize.brentq(g, 1e-9, 50 * math.sqrt(var) + 50 * tau)


def binomial_mixture(x, n, p0, tau, points=64, reach=5.0):
    # The judge's mixing distribution: a half-normal of scale tau above p0,
    # discretized at the midpoints of `points` steps over (0, reach*tau];
    # each alternative's likelihood ratio from scipy's binomial pmf.
    zs = [(k + 0.5) / points * reach for k in range(points)]
    lw = [-z * z / 2 for z in zs]
    terms = [stats.binom.logpmf(x, n, min(p0 + z * tau, 1 - 1e-12)) - stats.binom.logpmf(x, n, p0)
             for z in zs]
    return float(special.logsumexp([t + w for t, w in zip(terms, lw)]) - special.logsumexp(lw))


def binomial_mixture_lower(x, n, q, tau, points=64, reach=5.0):
    # The mirror: alternatives below q, the scale capped at q/2, floored
    # at q*1e-9 as the judge does.
    tau = min(tau, q / 2)
    zs = [(k + 0.5) / points * reach for k in range(points)]
    lw = [-z * z / 2 for z in zs]
    terms = [stats.binom.logpmf(x, n, max(q - z * tau, q * 1e-9)) - stats.binom.logpmf(x, n, q)
             for z in zs]
    return float(special.logsumexp([t + w for t, w in zip(terms, lw)]) - special.logsumexp(lw))


def binomial_interval(x, n, tau, alpha):
    # Root finding (brentq) where the judge bisects: the q at which each
    # one-sided mixture reaches 2/alpha.
    bound = math.log(2 / alpha)
    est = x / n
    low = optimize.brentq(lambda q: binomial_mixture(x, n, q, tau) - bound, 1e-9, est) if x > 0 else 0.0
    high = optimize.brentq(lambda q: binomial_mixture_lower(x, n, q, tau) - bound, est + 1e-9, 0.999)
    return low, high


def split_mixture(pairs, tau=2.0, points=64, reach=5.0):
    # The split test from scipy's binomial pmf: each point's K errors, the
    # canary's x of them, against rho = n_c/(n_c+n_s) and, for each odds
    # ratio psi of the mixture, rho1 = psi*rho/(psi*rho + 1 - rho).
    zs = [(k + 0.5) / points * reach for k in range(points)]
    lw = [-z * z / 2 for z in zs]
    terms = []
    for z in zs:
        psi = math.exp(z * tau)
        t = 0.0
        for n_c, x_c, n_s, x_s in pairs:
            k = x_c + x_s
            if k == 0:
                continue
            rho = n_c / (n_c + n_s)
            rho1 = psi * rho / (psi * rho + 1 - rho)
            t += stats.binom.logpmf(x_c, k, rho1) - stats.binom.logpmf(x_c, k, rho)
        terms.append(t)
    return float(special.logsumexp([t + w for t, w in zip(terms, lw)]) - special.logsumexp(lw))


def binomial_mixture_continuous(x, n, p0, tau):
    # The same against the continuous half-normal (truncated where p1 = 1):
    # how far the discretization is from the density it stands for.
    def logf(theta):
        return (stats.binom.logpmf(x, n, p0 + theta) - stats.binom.logpmf(x, n, p0)
                + math.log(2.0) + _lpdf(theta, 0.0, tau))

    hi = min(1 - p0 - 1e-12, 8 * tau)
    return _log_integral(logf, 1e-15, hi, [max(x / n - p0, 1e-12)])


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        kind = c["kind"]
        if kind == "cdf":
            out.append(stats.norm.cdf(c["x"]))
        elif kind == "logcdf":
            out.append(stats.norm.logcdf(c["x"]))
        elif kind == "ppf":
            out.append(stats.norm.ppf(c["p"]))
        elif kind == "z_pooled":
            x1, n1, x2, n2 = c["x_c"], c["n_c"], c["x_s"], c["n_s"]
            p = (x1 + x2) / (n1 + n2)
            z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
            # scipy's chi-square test of the 2x2 table (no continuity
            # correction) equals z²: a cross-check of the formula itself.
            chi2, _, _, _ = stats.chi2_contingency(
                [[x1, n1 - x1], [x2, n2 - x2]], correction=False
            )
            assert abs(chi2 - z * z) < 1e-6 * max(1.0, chi2), (chi2, z * z)
            out.append(z)
        elif kind == "msprt1":
            out.append(mixture_one_sided(c["est"], c["var"], c["h0"], c["tau"]))
        elif kind == "msprt2":
            out.append(mixture_two_sided(c["est"], c["var"], c["h0"], c["tau"]))
        elif kind == "half_width":
            out.append(half_width(c["var"], c["tau"], c["alpha"]))
        elif kind == "binmix":
            out.append(binomial_mixture(c["x"], c["n"], c["p0"], c["tau"]))
        elif kind == "split":
            out.append(split_mixture(c["pairs"]))
        elif kind == "binmix_lower":
            out.append(binomial_mixture_lower(c["x"], c["n"], c["q"], c["tau"]))
        elif kind == "binterval_low":
            out.append(binomial_interval(c["x"], c["n"], c["tau"], c["alpha"])[0])
        elif kind == "binterval_high":
            out.append(binomial_interval(c["x"], c["n"], c["tau"], c["alpha"])[1])
        elif kind == "binmix_continuous":
            out.append(binomial_mixture_continuous(c["x"], c["n"], c["p0"], c["tau"]))
        elif kind == "lognorm_ppf":
            out.append(stats.lognorm.ppf(c["q"], c["sigma"], scale=c["median"]))
        else:
            raise SystemExit(f"unknown case {kind}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
