//! Request rate sanity: does the canary receive about its share of the
//! requests? A canary that gets far less than its share (crashing instances,
//! a load balancer that routes around it) cannot be compared fairly, and one
//! that gets far more means the split is not what the cockpit believes.

use serde::{Deserialize, Serialize};

use super::Outcome;

/// Relative tolerance around the expected share (the runbook's "within 30 %").
pub const TOLERANCE: f64 = 0.3;
/// Fewer requests than this over the recent window: too few to tell.
pub const MIN_REQUESTS: f64 = 100.0;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RateEvidence {
    pub outcome: Outcome,
    /// Canary share of the two revisions' requests, percent.
    pub observed_share: Option<f64>,
    /// What the split says, percent.
    pub expected_share: Option<f64>,
    pub canary_requests: f64,
    pub total_requests: f64,
    pub note: String,
}

/// `expected`: the canary's percent of (canary + stable) in the split.
pub fn judge(canary: f64, stable: f64, expected: Option<f64>) -> RateEvidence {
    let total = canary + stable;
    let mut ev = RateEvidence {
        canary_requests: canary,
        total_requests: total,
        expected_share: expected,
        observed_share: (total > 0.0).then(|| 100.0 * canary / total),
        ..RateEvidence::default()
    };
    let (Some(obs), Some(exp)) = (ev.observed_share, expected) else {
        ev.note = "no split or no requests to compare".into();
        return ev;
    };
    if total < MIN_REQUESTS {
        ev.note = format!("too few requests to tell ({total:.0})");
        return ev;
    }
    let p = exp / 100.0;
    let se = (p * (1.0 - p) / total).sqrt();
    let z = if se > 0.0 {
        (obs / 100.0 - p) / se
    } else {
        0.0
    };
    let off = (obs - exp).abs() > TOLERANCE * exp && z.abs() > 4.0;
    if off {
        ev.outcome = Outcome::Fail;
        ev.note = format!("the canary gets {obs:.1} % of the requests, the split says {exp:.0} %");
    } else {
        ev.outcome = Outcome::Pass;
        ev.note = format!("the canary gets {obs:.1} % of the requests (split {exp:.0} %)");
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_its_share_passes_far_off_does_not() {
        assert_eq!(judge(95.0, 905.0, Some(10.0)).outcome, Outcome::Pass);
        assert_eq!(judge(20.0, 980.0, Some(10.0)).outcome, Outcome::Fail);
        assert_eq!(judge(2.0, 30.0, Some(10.0)).outcome, Outcome::Inconclusive);
        assert_eq!(judge(20.0, 980.0, None).outcome, Outcome::Inconclusive);
    }
}
