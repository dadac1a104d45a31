//! What the judge has seen since it started: the counts behind every point,
//! per revision. A point read again (a source still filling its latest
//! interval, Cloud Monitoring revising a late one) replaces the older reading,
//! so the totals only grow as data arrives: the sequence the sequential tests
//! need. Points older than the window a poll returns stay counted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::stats::PointPair;
use crate::core::model::{MetricKind, MetricsBatch, PointCounts};

/// Sums of a revision's counts over a range of points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub requests: f64,
    pub errors: f64,
    /// Per-bucket (not cumulative) latency counts keyed by the bucket's upper
    /// bound (ms, as ordered bits); empty when no point had a histogram.
    pub buckets: BTreeMap<u64, f64>,
    /// Requests of the points that had a histogram.
    pub hist_requests: f64,
}

impl Totals {
    fn add(&mut self, c: &PointCounts) {
        self.requests += c.requests;
        self.errors += c.errors;
        if c.latency_le.is_empty() {
            return;
        }
        let mut prev = 0.0;
        for (le, cum) in &c.latency_le {
            let n = (cum - prev).max(0.0);
            prev = prev.max(*cum);
            // Empty buckets are kept: their bounds are the next bucket's
            // lower bound (histogram_quantile interpolates from there).
            *self.buckets.entry(le.max(0.0).to_bits()).or_default() += n;
        }
        self.hist_requests += prev;
    }

    /// Whether a latency histogram is known.
    pub fn has_histogram(&self) -> bool {
        self.hist_requests > 0.0
    }

    /// Requests at or under `ms` (linear inside a bucket, Prometheus style).
    pub fn count_le(&self, ms: f64) -> f64 {
        let mut lower = 0.0;
        let mut seen = 0.0;
        for (bits, n) in &self.buckets {
            let upper = f64::from_bits(*bits);
            if ms >= upper {
                seen += n;
                lower = upper;
                continue;
            }
            if ms > lower {
                seen += n * (ms - lower) / (upper - lower);
            }
            break;
        }
        seen
    }

    /// The `q` quantile of the latency (linear inside a bucket).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !self.has_histogram() {
            return None;
        }
        let rank = q * self.hist_requests;
        let mut lower = 0.0;
        let mut seen = 0.0;
        for (bits, n) in &self.buckets {
            let upper = f64::from_bits(*bits);
            if seen + n >= rank && *n > 0.0 {
                return Some(lower + (upper - lower) * ((rank - seen) / n).clamp(0.0, 1.0));
            }
            seen += n;
            lower = upper;
        }
        Some(lower)
    }
}

/// One revision's points, by timestamp.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    points: BTreeMap<DateTime<Utc>, PointCounts>,
}

impl Tally {
    /// Takes a revision's points from a batch: its counts when the source
    /// gave them, else counts derived from rate × interval and the 5xx share.
    /// A batch covers a contiguous range ending now, on a grid that need not
    /// match the previous poll's: every point already held whose interval
    /// overlaps the batch's first interval or later is replaced.
    pub fn merge(&mut self, batch: &MetricsBatch, revision: &str, since: DateTime<Utc>) {
        let given = batch.counts.get(revision).filter(|v| !v.is_empty());
        let points = match given {
            Some(v) => v.clone(),
            None => derive(batch, revision),
        };
        if let Some(first) = points.iter().map(|p| p.0).min() {
            let cut = first - step_of(batch);
            drop(
                self.points
                    .split_off(&(cut + chrono::Duration::nanoseconds(1))),
            );
        }
        for (at, c) in points {
            if at > since && c.requests.is_finite() && c.requests >= 0.0 {
                self.points.insert(at, c);
            }
        }
    }

    /// Totals of the points stamped in `(from, to]`.
    pub fn totals(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Totals {
        let mut t = Totals::default();
        for (at, c) in &self.points {
            if from.is_some_and(|f| *at <= f) || to.is_some_and(|e| *at > e) {
                continue;
            }
            t.add(c);
        }
        t
    }

    /// Totals of the points stamped like one of `other`'s (at or after
    /// `from`): the same time range as the other revision, point by point.
    pub fn totals_alongside(&self, other: &Tally, from: Option<DateTime<Utc>>) -> Totals {
        let mut t = Totals::default();
        for (at, c) in &self.points {
            if other.points.contains_key(at) && from.is_none_or(|f| *at >= f) {
                t.add(c);
            }
        }
        t
    }

    /// Point by point, this revision's counts beside `other`'s at the same
    /// timestamps (at or after `from`): the split test's data.
    pub fn pairs(&self, other: &Tally, from: Option<DateTime<Utc>>) -> Vec<PointPair> {
        self.points
            .iter()
            .filter(|(at, _)| from.is_none_or(|f| **at >= f))
            .filter_map(|(at, c)| {
                other.points.get(at).map(|s| PointPair {
                    n_c: c.requests,
                    x_c: c.errors,
                    n_s: s.requests,
                    x_s: s.errors,
                })
            })
            .collect()
    }

    /// The first point with any request.
    pub fn first_active(&self) -> Option<DateTime<Utc>> {
        self.points
            .iter()
            .find(|(_, c)| c.requests > 0.0)
            .map(|(at, _)| *at)
    }

    /// Requests of the points stamped after `from` (no histograms: cheap).
    pub fn requests_since(&self, from: DateTime<Utc>) -> f64 {
        self.points
            .range((std::ops::Bound::Excluded(from), std::ops::Bound::Unbounded))
            .map(|(_, c)| c.requests)
            .sum()
    }

    pub fn first(&self) -> Option<DateTime<Utc>> {
        self.points.keys().next().copied()
    }

    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.points.keys().next_back().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The spacing of a batch's points (the median gap over every series).
pub fn step_of(batch: &MetricsBatch) -> chrono::Duration {
    let mut gaps: Vec<i64> = batch
        .series
        .values()
        .flat_map(|s| {
            s.points
                .windows(2)
                .map(|w| (w[1].0 - w[0].0).num_milliseconds())
        })
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    chrono::Duration::milliseconds(gaps.get(gaps.len() / 2).copied().unwrap_or(1000))
}

/// Counts from a series of rates: each point covers the time since the
/// previous one (the first: the typical spacing).
fn derive(batch: &MetricsBatch, revision: &str) -> Vec<(DateTime<Utc>, PointCounts)> {
    let key = |k| (revision.to_string(), k);
    let Some(rate) = batch.series.get(&key(MetricKind::RequestRate)) else {
        return vec![];
    };
    let errors: BTreeMap<DateTime<Utc>, f64> = batch
        .series
        .get(&key(MetricKind::ErrorPercent))
        .map(|s| s.points.iter().copied().collect())
        .unwrap_or_default();
    let mut gaps: Vec<i64> = rate
        .points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).num_milliseconds())
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    let typical = gaps.get(gaps.len() / 2).copied().unwrap_or(1000) as f64 / 1000.0;
    let mut prev: Option<DateTime<Utc>> = None;
    let mut out = Vec::with_capacity(rate.points.len());
    for (at, rps) in &rate.points {
        let secs = prev.map_or(typical, |p| {
            ((*at - p).num_milliseconds() as f64 / 1000.0).min(typical * 3.0)
        });
        prev = Some(*at);
        if !rps.is_finite() {
            continue;
        }
        let requests = rps * secs;
        let err = errors.get(at).copied().filter(|e| e.is_finite());
        out.push((
            *at,
            PointCounts {
                requests,
                errors: err.map_or(0.0, |e| requests * e / 100.0),
                latency_le: vec![],
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Series;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).expect("valid")
    }

    #[test]
    fn a_point_read_again_replaces_the_old_reading() {
        let mut batch = MetricsBatch::default();
        let c = |n: f64| PointCounts {
            requests: n,
            errors: 1.0,
            latency_le: vec![(100.0, n / 2.0), (200.0, n)],
        };
        batch
            .counts
            .insert("a".into(), vec![(t(10), c(10.0)), (t(20), c(4.0))]);
        let grid = |b: &mut MetricsBatch, at: &[i64]| {
            let s = Series {
                points: at.iter().map(|s| (t(*s), 1.0)).collect(),
            };
            b.series.insert(("a".into(), MetricKind::RequestRate), s);
        };
        grid(&mut batch, &[10, 20]);
        let mut tally = Tally::default();
        tally.merge(&batch, "a", t(0));
        batch.counts.insert("a".into(), vec![(t(20), c(10.0))]);
        grid(&mut batch, &[10, 20]);
        tally.merge(&batch, "a", t(0));
        let tot = tally.totals(None, None);
        assert_eq!(tot.requests, 20.0);
        assert_eq!(tot.errors, 2.0);
        assert_eq!(tot.count_le(100.0), 10.0);
        assert_eq!(tot.count_le(150.0), 15.0);
        assert_eq!(tot.quantile(0.75), Some(150.0));
        // The next poll's grid is shifted by 5 s: (15, 25] replaces 20.
        batch.counts.insert("a".into(), vec![(t(25), c(6.0))]);
        grid(&mut batch, &[15, 25]);
        tally.merge(&batch, "a", t(0));
        assert_eq!(tally.totals(None, None).requests, 16.0);
    }

    #[test]
    fn an_empty_bucket_still_bounds_the_next_one() {
        // Everything in (10, 25]: the p95 is 10 + 15 × 0.95 = 24.25 (as
        // Prometheus' histogram_quantile reads it), not 25 × 0.95.
        let mut batch = MetricsBatch::default();
        let pc = PointCounts {
            requests: 100.0,
            errors: 0.0,
            latency_le: vec![
                (5.0, 0.0),
                (10.0, 0.0),
                (25.0, 100.0),
                (f64::INFINITY, 100.0),
            ],
        };
        batch.counts.insert("a".into(), vec![(t(10), pc)]);
        let mut tally = Tally::default();
        tally.merge(&batch, "a", t(0));
        let tot = tally.totals(None, None);
        assert_eq!(tot.quantile(0.95), Some(24.25));
        assert_eq!(tot.count_le(10.0), 0.0);
        assert_eq!(tot.count_le(17.5), 50.0);
    }

    #[test]
    fn the_stable_is_counted_over_the_canarys_points_only() {
        let c = |n: f64| PointCounts {
            requests: n,
            errors: 0.0,
            latency_le: vec![],
        };
        let mut batch = MetricsBatch::default();
        batch.counts.insert("canary".into(), vec![(t(20), c(5.0))]);
        batch.counts.insert(
            "stable".into(),
            vec![(t(10), c(45.0)), (t(20), c(45.0)), (t(30), c(45.0))],
        );
        let (mut canary, mut stable) = (Tally::default(), Tally::default());
        canary.merge(&batch, "canary", t(0));
        stable.merge(&batch, "stable", t(0));
        assert_eq!(stable.totals_alongside(&canary, None).requests, 45.0);
        assert_eq!(stable.totals(None, None).requests, 135.0);
    }

    #[test]
    fn counts_are_derived_from_rates_when_missing() {
        let mut batch = MetricsBatch::default();
        let s = |v: f64| Series {
            points: vec![(t(10), v), (t(20), v), (t(30), v)],
        };
        batch
            .series
            .insert(("a".into(), MetricKind::RequestRate), s(5.0));
        batch
            .series
            .insert(("a".into(), MetricKind::ErrorPercent), s(2.0));
        let mut tally = Tally::default();
        tally.merge(&batch, "a", t(15));
        let tot = tally.totals(None, None);
        assert_eq!(tot.requests, 100.0);
        assert!((tot.errors - 2.0).abs() < 1e-9);
        assert!(!tot.has_histogram());
    }
}
