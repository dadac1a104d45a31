//! The statistical judge: the canary against the stable over the same time,
//! sequentially (valid however often it is looked at), in the harmful
//! direction only, with a practical margin per metric. Pure: no I/O, no
//! clock; the method and its references are in `docs/judge.md`.
//!
//! - [`errors`]: 5xx proportion against the stable's + margin, one-sided binomial mixture SPRT.
//! - [`latency`]: p95 from latency histograms, as the share of canary
//!   requests slower than the stable's p95 + margin.
//! - [`rate`]: the canary receives about its share.

pub mod errors;
pub mod latency;
pub mod rate;
pub mod stats;
pub mod tally;
pub mod text;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::MetricsBatch;
use rate::RateEvidence;
use tally::Tally;

/// What the judge's verdict does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JudgeMode {
    /// Not evaluated.
    Off,
    /// Evaluated, shown and journaled; never acts.
    #[default]
    Observe,
    /// A failure is a red gate; inconclusive is "no data" (never promotes).
    Act,
}

impl JudgeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeMode::Off => "off",
            JudgeMode::Observe => "observe",
            JudgeMode::Act => "act",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct JudgeSettings {
    pub mode: JudgeMode,
    /// False-alarm rate of each test, over the whole canary, however often it is looked at.
    pub alpha: f64,
    /// A canary worse by at most this many points of 5xx is not a failure.
    pub error_margin_points: f64,
    /// A canary whose p95 is above the stable's by at most this is not a failure.
    pub latency_margin_ms: f64,
    /// Fewer requests than this (canary or stable) never passes.
    pub min_requests: f64,
    /// Scale of the mixing distribution (a half-normal above the margin), in
    /// points: 2 puts half its mass within 1.35 points of the margin, where
    /// the effects (+1, +2, +5 points over a margin of 0.5) begin.
    pub error_tau_points: f64,
    /// Same for the latency test, in points of "share slower than T".
    pub latency_tau_points: f64,
    /// `baseline`: compare with a fresh baseline revision (see `update::baseline`).
    pub baseline: crate::core::plan::Baseline,
}

impl Default for JudgeSettings {
    fn default() -> Self {
        JudgeSettings {
            mode: JudgeMode::Observe,
            alpha: 0.01,
            error_margin_points: 0.5,
            latency_margin_ms: 50.0,
            min_requests: 100.0,
            error_tau_points: 2.0,
            latency_tau_points: 5.0,
            baseline: crate::core::plan::Baseline::None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    #[default]
    Inconclusive,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

/// One test's evidence, as shown, journaled and reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestEvidence {
    /// `5xx` or `p95`.
    pub name: String,
    pub outcome: Outcome,
    /// False when the source cannot give what the test needs (no histograms).
    pub available: bool,
    pub note: String,
    /// Requests counted for each side.
    pub canary_n: f64,
    pub stable_n: f64,
    /// The metric itself (5xx %, or p95 ms), in `unit`.
    pub unit: String,
    pub canary_value: f64,
    pub stable_value: f64,
    /// The tested proportions, percent: 5xx share, or the share of requests
    /// slower than `slow_threshold_ms`.
    pub canary_share: f64,
    pub stable_share: f64,
    pub slow_threshold_ms: Option<f64>,
    /// Tested difference (canary − stable), points, with its always-valid
    /// (1 − α) confidence interval.
    pub effect: f64,
    pub low: f64,
    pub high: f64,
    /// The tested null: a difference up to `margin` points is harmless.
    pub margin: f64,
    pub margin_label: String,
    /// ln Λ now, its running maximum, and the bound ln(1/α).
    pub ln_lr: f64,
    pub max_ln_lr: f64,
    pub bound: f64,
    /// The data seen so far would have to grow this many times for a
    /// verdict, if the estimate held.
    pub eta_factor: Option<f64>,
    /// ln Λ now against "worse by at most the margin", and the bound it must
    /// reach for a failure (ln 2); 0 for a test whose null is the margin.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub margin_ln_lr: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub margin_bound: f64,
    /// The null's rate (percent): the stable's, as the test uses it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub null_rate: f64,
    /// The stable's counts just before the canary got traffic, used with the
    /// same-time counts for its rate (0 when none, or once contradicted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior_requests: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior_errors: f64,
    /// "Worse at all" is the split test (no stable prior: how the errors
    /// split between the two given the traffic), not the plug-in one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split_test: bool,
}

/// Fields added to the journal's evidence later are left out while zero, so
/// that an older journal reads and writes back byte for byte.
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl TestEvidence {
    fn new(name: &str, unit: &str, cfg: &JudgeSettings, canary_n: f64, stable_n: f64) -> Self {
        TestEvidence {
            name: name.into(),
            unit: unit.into(),
            available: true,
            canary_n,
            stable_n,
            bound: (1.0 / cfg.alpha).ln(),
            ..TestEvidence::default()
        }
    }

    /// The always-valid p-value: 1 / max Λ.
    pub fn p_value(&self) -> f64 {
        (-self.max_ln_lr.max(0.0)).exp()
    }
}

/// The judge's whole answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub outcome: Outcome,
    pub reason: String,
    pub mode: JudgeMode,
    pub canary: String,
    pub stable: String,
    /// `stable` is the plan's fresh baseline revision, not the stable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub versus_baseline: bool,
    /// Data counted from (exclusive), when the judge was restarted by a plan.
    pub since: Option<DateTime<Utc>>,
    /// Age of the newest point of the metrics source.
    pub lag_secs: Option<f64>,
    pub alpha: f64,
    pub errors: TestEvidence,
    pub latency: TestEvidence,
    pub rate: RateEvidence,
    /// Seconds until a verdict is likely at the current rate, if the
    /// estimates held.
    pub eta_secs: Option<f64>,
}

/// How far before the canary's first request the stable's rate is read
/// (its prior: `errors::judge`), at most; the metrics window bounds it too.
pub const PRIOR_SPAN: std::time::Duration = std::time::Duration::from_secs(600);

/// Totals of the canary, the stable over the same time and before, and the
/// points side by side, kept between batches.
type Counted = (
    tally::Totals,
    tally::Totals,
    tally::Totals,
    Vec<stats::PointPair>,
);

/// What the judge carries between evaluations (in `State`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JudgeState {
    /// (canary, stable, since): a new pair or a new plan restarts the tests.
    pub key: Option<(String, String, Option<DateTime<Utc>>)>,
    pub canary: Tally,
    pub stable: Tally,
    /// Newest point of any series in the latest batch.
    pub newest: Option<DateTime<Utc>>,
    /// Running maxima of ln Λ (a crossed bound stays crossed: the test stopped).
    pub max_errors: f64,
    pub max_latency: f64,
    /// The 5xx test failed at an earlier look (it stays failed).
    pub errors_failed: bool,
    /// The p95 test failed at an earlier look (it stays failed).
    pub latency_failed: bool,
    /// The stable's rate before the canary was contradicted by its rate
    /// since (it rose): the 5xx test uses the same time only from then on.
    pub prior_dropped: bool,
    pub evidence: Option<Evidence>,
    /// The outcome last journaled, so that only changes are.
    pub journaled: Option<Outcome>,
    /// Totals of both tallies, kept until the next batch (a tick re-judges
    /// without re-adding every histogram).
    totals: Option<Counted>,
}

impl JudgeState {
    /// Restarts when the pair or the plan changed.
    pub fn aim(&mut self, canary: &str, stable: &str, since: Option<DateTime<Utc>>) {
        let key = (canary.to_string(), stable.to_string(), since);
        if self.key.as_ref() != Some(&key) {
            // The same canary and plan against another reference (a baseline
            // that became ready, or went unready): the tests start again on
            // the new pair's data, but a failure already found stays (it was
            // acted on, or is waiting for the operator: it must not vanish).
            let same_run = self
                .key
                .as_ref()
                .is_some_and(|(c, _, s)| c == canary && *s == since);
            let failed = self
                .evidence
                .as_ref()
                .filter(|_| same_run)
                .map(|e| (e.errors.outcome, e.latency.outcome));
            let mut fresh = JudgeState {
                key: Some(key),
                newest: self.newest,
                ..JudgeState::default()
            };
            if let Some((errors, latency)) = failed {
                fresh.errors_failed = errors == Outcome::Fail;
                fresh.latency_failed = latency == Outcome::Fail;
            }
            *self = fresh;
        }
    }

    /// Takes a metrics batch.
    pub fn observe(&mut self, batch: &MetricsBatch) {
        self.newest = crate::core::model::data_until(batch).or(self.newest);
        let Some((canary, stable, since)) = self.key.clone() else {
            return;
        };
        let since = since.unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.canary.merge(batch, &canary, since);
        // The stable's minutes before the plan too: its rate before the
        // canary got traffic (`errors::judge`'s prior).
        let history = since
            .checked_sub_signed(chrono::Duration::from_std(PRIOR_SPAN).unwrap_or_default())
            .unwrap_or(since);
        self.stable.merge(batch, &stable, history);
        self.totals = None;
    }

    /// Judges what was seen. `expected_share`: the canary's percent of the
    /// canary + stable traffic now; `recent_from`: where the rate check's
    /// recent window starts.
    pub fn evaluate(
        &mut self,
        cfg: &JudgeSettings,
        now: DateTime<Utc>,
        expected_share: Option<f64>,
        recent_from: DateTime<Utc>,
    ) -> Evidence {
        let (canary, stable, since) = self.key.clone().unwrap_or_default();
        let (c, s, prior, pairs) = match self.totals.take() {
            Some(t) => t,
            // The stable over the canary's points since it got traffic: the
            // same time range; before that, the prior.
            None => {
                let first = self.canary.first_active();
                let prior = first.map(|f| {
                    let from = f - chrono::Duration::from_std(PRIOR_SPAN).unwrap_or_default();
                    self.stable
                        .totals(Some(from), Some(f - chrono::Duration::nanoseconds(1)))
                });
                (
                    self.canary.totals(None, None),
                    self.stable.totals_alongside(&self.canary, first),
                    prior.unwrap_or_default(),
                    self.canary.pairs(&self.stable, first),
                )
            }
        };
        let prior_used = !self.prior_dropped && prior.errors >= errors::PRIOR_MIN_ERRORS;
        if prior_used && errors::prior_contradicted(cfg, &s, &prior) {
            // The test against the pooled rate starts again, over the same
            // time only (its running maximum was reached against a rate
            // that no longer holds).
            self.prior_dropped = true;
            self.max_errors = 0.0;
        }
        let kept = (prior_used && !self.prior_dropped).then_some(&prior);
        let e = errors::judge(
            cfg,
            &c,
            &s,
            errors::Reference {
                prior: kept,
                pairs: &pairs,
            },
            self.max_errors,
            self.errors_failed,
        );
        let mut l = latency::judge(cfg, &c, &s, self.max_latency);
        if self.latency_failed && l.outcome != Outcome::Fail {
            l.outcome = Outcome::Fail;
            l.note = format!("canary p95 failed earlier; now {}", l.note);
        }
        self.latency_failed = l.outcome == Outcome::Fail;
        self.max_errors = e.max_ln_lr;
        self.max_latency = l.max_ln_lr;
        self.errors_failed = e.outcome == Outcome::Fail;
        self.totals = Some((c, s, prior, pairs));
        let r = rate::judge(
            self.canary.requests_since(recent_from),
            self.stable.requests_since(recent_from),
            expected_share,
        );
        let lag_secs = self
            .newest
            .map(|n| ((now - n).num_milliseconds() as f64 / 1000.0).max(0.0));
        let elapsed = match (self.canary.first(), self.canary.newest()) {
            (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        };
        let (outcome, reason) = combine(&e, &l, &r, self.canary.is_empty());
        let eta_secs = (outcome == Outcome::Inconclusive && elapsed > 0.0)
            .then(|| eta(&e, &l, elapsed))
            .flatten();
        let ev = Evidence {
            outcome,
            reason,
            mode: cfg.mode,
            canary,
            stable,
            versus_baseline: false,
            since,
            lag_secs,
            alpha: cfg.alpha,
            errors: e,
            latency: l,
            rate: r,
            eta_secs,
        };
        self.evidence = Some(ev.clone());
        ev
    }
}

/// Fail if a test failed; pass if every available test passed and the
/// canary gets about its share; otherwise inconclusive, with the reason.
fn combine(
    e: &TestEvidence,
    l: &TestEvidence,
    r: &RateEvidence,
    no_data: bool,
) -> (Outcome, String) {
    // A failure found earlier stands even before the new pair's data.
    for t in [e, l] {
        if t.outcome == Outcome::Fail {
            return (Outcome::Fail, t.note.clone());
        }
    }
    if no_data {
        return (Outcome::Inconclusive, "no canary data yet".into());
    }
    if r.outcome == Outcome::Fail {
        return (Outcome::Inconclusive, r.note.clone());
    }
    let pending: Vec<&TestEvidence> = [e, l]
        .into_iter()
        .filter(|t| t.available && t.outcome != Outcome::Pass)
        .collect();
    match pending.first() {
        Some(t) => (Outcome::Inconclusive, format!("{}: {}", t.name, t.note)),
        None => (
            Outcome::Pass,
            if l.available {
                "5xx and p95 not worse than the stable's beyond their margins".into()
            } else {
                "5xx not worse than the stable's beyond its margin (p95: no histogram)".into()
            },
        ),
    }
}

/// Seconds until a verdict is likely: the first test that would fail, else
/// the last one to pass.
fn eta(e: &TestEvidence, l: &TestEvidence, elapsed: f64) -> Option<f64> {
    let tests: Vec<&TestEvidence> = [e, l].into_iter().filter(|t| t.available).collect();
    let secs = |t: &TestEvidence| t.eta_factor.map(|k| (k - 1.0).max(0.0) * elapsed);
    let failing: Option<f64> = tests
        .iter()
        .filter(|t| t.effect > t.margin)
        .filter_map(|t| secs(t))
        .reduce(f64::min);
    failing.or_else(|| {
        tests
            .iter()
            .map(|t| secs(t))
            .collect::<Option<Vec<f64>>>()
            .and_then(|v| v.into_iter().reduce(f64::max))
    })
}

/// The canary's percent of (canary + stable) in a split.
pub fn expected_share(
    split: &crate::core::model::TrafficSplit,
    canary: &str,
    stable: &str,
) -> Option<f64> {
    let c = f64::from(split.percent_of(canary));
    let s = f64::from(split.percent_of(stable));
    (c + s > 0.0).then(|| 100.0 * c / (c + s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::PointCounts;

    fn at(t0: DateTime<Utc>, s: i64) -> DateTime<Utc> {
        t0 + chrono::Duration::seconds(s)
    }

    /// 10 s points from `from` to `to` (seconds after t0): `n` requests and
    /// `x` errors each.
    fn points(
        t0: DateTime<Utc>,
        from: i64,
        to: i64,
        n: f64,
        x: f64,
    ) -> Vec<(DateTime<Utc>, PointCounts)> {
        (from / 10..=to / 10)
            .map(|k| {
                let c = PointCounts {
                    requests: n,
                    errors: x,
                    latency_le: vec![],
                };
                (at(t0, k * 10), c)
            })
            .collect()
    }

    fn batch(
        c: Vec<(DateTime<Utc>, PointCounts)>,
        s: Vec<(DateTime<Utc>, PointCounts)>,
    ) -> MetricsBatch {
        MetricsBatch {
            counts: [("c".to_string(), c), ("s".to_string(), s)].into(),
            ..MetricsBatch::default()
        }
    }

    #[test]
    fn the_stables_minutes_before_the_canary_are_its_prior_until_it_rises() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let cfg = JudgeSettings::default();
        let mut j = JudgeState::default();
        j.aim("c", "s", Some(t0));
        // The stable alone for ten minutes before the plan (450 requests and
        // 0.45 errors per point: 0.1 %), then beside the canary.
        let stable = points(t0, -590, 60, 450.0, 0.45);
        let canary = points(t0, 10, 60, 50.0, 0.0);
        j.observe(&batch(canary, stable));
        let ev = j.evaluate(&cfg, at(t0, 61), None, at(t0, 0));
        // Same time: the six points from the canary's first (t0 + 10 s).
        assert_eq!(ev.errors.stable_n, 6.0 * 450.0);
        // Before: t0 − 580 s … t0 (59 points; t0 − 590 s is 600 s before).
        assert_eq!(ev.errors.prior_requests, 59.0 * 450.0, "{:?}", ev.errors);
        let pooled = (65.0 * 0.45 + 0.5) / (65.0 * 450.0 + 1.0);
        assert!((ev.errors.null_rate - 100.0 * pooled).abs() < 1e-9);
        assert!(!j.prior_dropped);
        // The stable's rate rises to 3 % beside the canary: its past is
        // dropped for good, the comparison is over the same time only.
        let stable = points(t0, 70, 120, 450.0, 13.5);
        let canary = points(t0, 70, 120, 50.0, 1.5);
        j.observe(&batch(canary, stable));
        let ev = j.evaluate(&cfg, at(t0, 121), None, at(t0, 0));
        assert!(j.prior_dropped);
        assert_eq!(ev.errors.prior_requests, 0.0);
        let same = (6.0 * 0.45 + 6.0 * 13.5 + 0.5) / (12.0 * 450.0 + 1.0);
        assert!(
            (ev.errors.null_rate - 100.0 * same).abs() < 1e-9,
            "{:?}",
            ev.errors
        );
        // The canary at 3 % too is not worse than such a stable.
        assert_ne!(ev.errors.outcome, Outcome::Fail, "{:?}", ev.errors);
    }
    #[test]
    fn a_failure_stays_when_the_same_canary_is_compared_with_another_reference() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let cfg = JudgeSettings::default();
        let mut j = JudgeState::default();
        j.aim("c", "s", Some(t0));
        let stable = points(t0, -590, 120, 450.0, 0.45);
        let canary = points(t0, 10, 120, 50.0, 2.5);
        j.observe(&batch(canary, stable));
        let ev = j.evaluate(&cfg, at(t0, 121), None, at(t0, 0));
        assert_eq!(ev.errors.outcome, Outcome::Fail, "{:?}", ev.errors);
        // A baseline becomes the reference: the tests start again, the
        // failure stays.
        j.aim("c", "b", Some(t0));
        let ev = j.evaluate(&cfg, at(t0, 122), None, at(t0, 0));
        assert_eq!(ev.errors.outcome, Outcome::Fail, "{:?}", ev.errors);
        assert_eq!(ev.outcome, Outcome::Fail, "the verdict too: {ev:?}");
        // Another plan (a new start): nothing carried.
        j.aim("c", "b", Some(at(t0, 500)));
        let ev = j.evaluate(&cfg, at(t0, 501), None, at(t0, 0));
        assert_ne!(ev.errors.outcome, Outcome::Fail, "{:?}", ev.errors);
    }
    #[test]
    fn a_p95_failure_stays_across_a_re_aim_too() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let cfg = JudgeSettings::default();
        let mut j = JudgeState::default();
        j.aim("c", "s", Some(t0));
        let hist = |pts: Vec<(DateTime<Utc>, PointCounts)>, fast: f64| {
            pts.into_iter()
                .map(|(at, mut c)| {
                    c.latency_le = vec![(100.0, c.requests * fast), (1000.0, c.requests)];
                    (at, c)
                })
                .collect::<Vec<_>>()
        };
        let stable = hist(points(t0, -590, 120, 450.0, 0.45), 0.97);
        let canary = hist(points(t0, 10, 120, 50.0, 0.0), 0.2);
        j.observe(&batch(canary, stable));
        let ev = j.evaluate(&cfg, at(t0, 121), None, at(t0, 0));
        assert_eq!(ev.latency.outcome, Outcome::Fail, "{:?}", ev.latency);
        j.aim("c", "b", Some(t0));
        let ev = j.evaluate(&cfg, at(t0, 122), None, at(t0, 0));
        assert_eq!(ev.latency.outcome, Outcome::Fail, "{:?}", ev.latency);
        let ev = j.evaluate(&cfg, at(t0, 123), None, at(t0, 0));
        assert_eq!(ev.latency.outcome, Outcome::Fail, "still: {:?}", ev.latency);
        assert_eq!(ev.outcome, Outcome::Fail);
    }
}
