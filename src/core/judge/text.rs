//! The judge's evidence in words: one vocabulary for the screen, the
//! journal history and the report.

use super::{Evidence, JudgeMode, Outcome, TestEvidence};

pub fn verdict_label(ev: &Evidence) -> String {
    let v = match ev.outcome {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "INCONCLUSIVE",
    };
    match ev.mode {
        JudgeMode::Observe => format!("{v} (observe only)"),
        _ => v.to_string(),
    }
}

/// `5xx 0.82 % vs 0.10 % · +0.72 pts [+0.31, +1.13] · Λ 3.2 / 100 · n 1200 / 10800`
pub fn test_line(t: &TestEvidence) -> String {
    if !t.available {
        return format!("{} {}", t.name, t.note);
    }
    if t.canary_n <= 0.0 || t.stable_n <= 0.0 {
        return format!(
            "{}: no requests yet to compare (canary {:.0}, stable {:.0})",
            t.name, t.canary_n, t.stable_n
        );
    }
    let values = match t.unit.as_str() {
        "%" => format!("{:.2} % vs {:.2} %", t.canary_value, t.stable_value),
        _ => format!("{:.0} vs {:.0} ms", t.canary_value, t.stable_value),
    };
    let slow = t.slow_threshold_ms.map_or(String::new(), |ms| {
        format!(
            " · >{ms:.0}ms {:.1}% vs {:.1}%",
            t.canary_share, t.stable_share
        )
    });
    if t.margin_bound > 0.0 {
        // The 5xx test: worse than the stable at all, and beyond the margin.
        let before = if t.prior_requests > 0.0 {
            format!(" + {:.0} before", t.prior_requests)
        } else {
            String::new()
        };
        return format!(
            "{} {values} · Δ {:+.2} pts [{:+.2}, {:+.2}] · worse Λ {} / {} · beyond {:+}: Λ {} / {} · n {:.0}/{:.0}{before}",
            t.name,
            t.effect,
            t.low,
            t.high,
            lr(t.max_ln_lr),
            lr(t.bound),
            t.margin,
            lr(t.margin_ln_lr),
            lr(t.margin_bound),
            t.canary_n,
            t.stable_n
        );
    }
    format!(
        "{} {values}{slow} · Δ {:+.2} pts [{:+.2}, {:+.2}] (null {:+}) · Λ {} / {} · n {:.0}/{:.0}",
        t.name,
        t.effect,
        t.low,
        t.high,
        t.margin,
        lr(t.max_ln_lr),
        lr(t.bound),
        t.canary_n,
        t.stable_n
    )
}

/// Λ from ln Λ; beyond what an f64 holds (a canary far worse than the
/// stable over many requests), as a power of e rather than "inf".
pub(super) fn lr(ln: f64) -> String {
    let v = ln.exp();
    if !v.is_finite() {
        format!("e^{ln:.0}")
    } else if v >= 1e4 {
        format!("{v:.1e}")
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// What the canary is compared with: `stable-rev`, or `baseline rev`.
pub fn versus(ev: &Evidence) -> String {
    if ev.versus_baseline {
        format!("baseline {}", ev.stable)
    } else {
        ev.stable.clone()
    }
}

/// Marks the evidence as against the plan's baseline revision, and says so
/// in its words (the tests write "the stable's").
pub fn versus_baseline(ev: &mut Evidence) {
    ev.versus_baseline = true;
    let say = |s: &mut String| *s = s.replace("the stable's", "the baseline's");
    say(&mut ev.reason);
    say(&mut ev.errors.note);
    say(&mut ev.latency.note);
}

/// One line for the journal's history.
pub fn summary(ev: &Evidence) -> String {
    format!(
        "judge {} on {} vs {}: {} — {}; {}",
        verdict_label(ev),
        ev.canary,
        versus(ev),
        ev.reason,
        test_line(&ev.errors),
        test_line(&ev.latency)
    )
}

/// What is still missing, for the screen: how long until a verdict is likely.
pub fn eta(ev: &Evidence) -> Option<String> {
    (ev.outcome == Outcome::Inconclusive)
        .then(|| {
            ev.eta_secs
                .map(|s| format!("verdict likely in ~{}", crate::core::duration::two_units(s)))
        })
        .flatten()
}

/// The report's table head (`| time ` is written by the caller).
pub const REPORT_HEAD: &str = "| time | verdict | canary vs stable | 5xx evidence | p95 evidence | lag |\n|---|---|---|---|---|---|";

/// One row of the report's table, after `| time `.
pub fn report_row(ev: &Evidence) -> String {
    format!(
        "| {} | {} vs {} | {} | {} | {} |",
        verdict_label(ev),
        ev.canary,
        versus(ev),
        test_line(&ev.errors).replace('|', "\\|"),
        test_line(&ev.latency).replace('|', "\\|"),
        ev.lag_secs
            .map_or("–".into(), crate::core::duration::two_units)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_likelihood_ratios_are_written_as_powers_of_e() {
        assert_eq!(super::lr(2650.4), "e^2650");
        assert_eq!(super::lr(100f64.ln()), "100");
        assert_eq!(super::lr(30.0), "1.1e13");
    }
}
