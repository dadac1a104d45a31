//! Bounded per-second traffic history and its aggregation into metric series.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::model::{MetricKind, MetricsBatch, PointCounts, Series};
use crate::metrics::MetricsWindow;

/// How many simulated seconds of history are kept (one hour).
pub const HISTORY_SECONDS: usize = 3600;

/// Latency buckets grow by 2 %: p95 is exact to about 1 %.
const BUCKET_RATIO: f64 = 1.02;
const MAX_LATENCY_MS: f64 = 60_000.0;
/// Growth of the histogram buckets handed to the judge.
const LE_RATIO: f64 = 1.1;

fn bucket_of(latency_ms: f64) -> u16 {
    let ms = latency_ms.clamp(1.0, MAX_LATENCY_MS);
    (ms.ln() / BUCKET_RATIO.ln()).floor() as u16
}

/// The representative latency of a bucket (its geometric middle).
fn bucket_value(b: u16) -> f64 {
    BUCKET_RATIO.powf(f64::from(b) + 0.5)
}

/// One revision's traffic during one second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RevSecond {
    pub requests: u32,
    /// 5xx responses.
    pub errors: u32,
    /// Sparse latency histogram, sorted by bucket.
    hist: Vec<(u16, u32)>,
}

impl RevSecond {
    pub fn record(&mut self, latency_ms: f64, server_error: bool) {
        self.requests += 1;
        if server_error {
            self.errors += 1;
        }
        let b = bucket_of(latency_ms);
        match self.hist.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => self.hist[i].1 += 1,
            Err(i) => self.hist.insert(i, (b, 1)),
        }
    }
}

/// Everything that happened in one simulated second, per revision index.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondRecord {
    /// End of the second.
    pub at: DateTime<Utc>,
    /// Only revisions that received requests.
    pub revs: Vec<(usize, RevSecond)>,
}

#[derive(Clone, Debug, Default)]
struct Acc {
    requests: u64,
    errors: u64,
    hist: BTreeMap<u16, u64>,
}

impl Acc {
    fn add(&mut self, r: &RevSecond) {
        self.requests += u64::from(r.requests);
        self.errors += u64::from(r.errors);
        for (b, n) in &r.hist {
            *self.hist.entry(*b).or_default() += u64::from(*n);
        }
    }

    /// The cumulative histogram the judge reads, on a coarser grid (10 %
    /// buckets, like a Prometheus histogram with exponential buckets).
    fn latency_le(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut seen = 0u64;
        let mut it = self.hist.iter().peekable();
        let mut bound = 1.0f64;
        while bound <= MAX_LATENCY_MS * 1.1 {
            while let Some((b, n)) = it.peek() {
                if bucket_value(**b) > bound {
                    break;
                }
                seen += **n;
                it.next();
            }
            if seen > 0 {
                out.push((bound, seen as f64));
            }
            if it.peek().is_none() {
                break;
            }
            bound *= LE_RATIO;
        }
        out
    }

    fn p95(&self) -> Option<f64> {
        let total: u64 = self.hist.values().sum();
        if total == 0 {
            return None;
        }
        let rank = (total as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (b, n) in &self.hist {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(*b).round());
            }
        }
        self.hist.keys().last().map(|b| bucket_value(*b).round())
    }
}

/// The last [`HISTORY_SECONDS`] seconds.
#[derive(Clone, Debug, Default)]
pub struct History {
    records: VecDeque<SecondRecord>,
}

impl History {
    pub fn push(&mut self, record: SecondRecord) {
        if self.records.len() == HISTORY_SECONDS {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// One point per `window.step` bucket (stamped at the bucket's end) for each
    /// requested revision and each kind. A bucket where the revision received no
    /// requests has no point at all ("no data", not zero). `index_of` maps a
    /// revision name to the index used in the records.
    pub fn aggregate(
        &self,
        revisions: &[String],
        window: MetricsWindow,
        index_of: impl Fn(&str) -> Option<usize>,
    ) -> MetricsBatch {
        let step = window.step.max(Duration::from_secs(1));
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
        // Buckets sit on a fixed grid (multiples of the step since the epoch),
        // as Prometheus evaluates a range query: a grid that moved with each
        // poll's `end` cut the same seconds differently every time, and a
        // revision whose traffic had stopped showed a last point that jumped
        // between two values on every refresh.
        let grid_start = MetricsWindow { step, ..window }.grid_start();
        // bucket index -> (seconds recorded, per revision index accumulators)
        let mut buckets: BTreeMap<i64, (u64, BTreeMap<usize, Acc>)> = BTreeMap::new();
        for rec in &self.records {
            if rec.at <= grid_start || rec.at > window.end {
                continue;
            }
            let offset_ms = (rec.at - grid_start).num_milliseconds();
            let idx = (offset_ms - 1).max(0) / step_ms;
            let entry = buckets.entry(idx).or_default();
            entry.0 += 1;
            for (rev, r) in &rec.revs {
                entry.1.entry(*rev).or_default().add(r);
            }
        }
        let mut batch = MetricsBatch::default();
        for name in revisions {
            let mut counts = Vec::new();
            let mut series: BTreeMap<MetricKind, Series> = MetricKind::ALL
                .iter()
                .map(|k| (*k, Series::default()))
                .collect();
            if let Some(rev) = index_of(name) {
                for (idx, (seconds, accs)) in &buckets {
                    let Some(acc) = accs.get(&rev).filter(|a| a.requests > 0) else {
                        continue;
                    };
                    let at = (grid_start
                        + chrono::Duration::milliseconds(step_ms.saturating_mul(idx + 1)))
                    .min(window.end);
                    let rps = acc.requests as f64 / (*seconds).max(1) as f64;
                    let err = acc.errors as f64 * 100.0 / acc.requests as f64;
                    let values = [
                        (MetricKind::RequestRate, Some(rps)),
                        (MetricKind::ErrorPercent, Some(err)),
                        (MetricKind::LatencyP95, acc.p95()),
                    ];
                    for (kind, value) in values {
                        if let (Some(v), Some(s)) = (value, series.get_mut(&kind)) {
                            s.points.push((at, v));
                        }
                    }
                    counts.push((
                        at,
                        PointCounts {
                            requests: acc.requests as f64,
                            errors: acc.errors as f64,
                            latency_le: acc.latency_le(),
                        },
                    ));
                }
            }
            if !counts.is_empty() {
                batch.counts.insert(name.clone(), counts);
            }
            for (kind, s) in series {
                batch.series.insert((name.clone(), kind), s);
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_of_a_known_distribution() {
        let mut r = RevSecond::default();
        for ms in 1..=100 {
            r.record(f64::from(ms) * 10.0, ms > 98);
        }
        let mut acc = Acc::default();
        acc.add(&r);
        let p95 = acc.p95().expect("data");
        assert!((p95 - 950.0).abs() < 950.0 * 0.02, "{p95}");
        assert_eq!(acc.errors, 2);
        let le = acc.latency_le();
        assert_eq!(le.last().map(|x| x.1), Some(100.0));
        assert!(le.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }

    /// Traffic that stopped (a rollback) must not make the last point jump
    /// between two values as the polls' ends move (seen in the demo:
    /// `req/s 11.6` ↔ `4.9` on every refresh).
    #[test]
    fn a_finished_revision_keeps_its_numbers_from_poll_to_poll() {
        let mut h = History::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).expect("valid");
        // 60 s of canary traffic (10 req/s, 1 error each second), then none.
        for i in 1..=120 {
            let mut revs = vec![];
            if i <= 60 {
                let mut r = RevSecond::default();
                for n in 0..10 {
                    r.record(100.0, n == 0);
                }
                revs.push((0, r));
            }
            h.push(SecondRecord {
                at: t0 + chrono::Duration::seconds(i),
                revs,
            });
        }
        let last = |end_s: i64, end_ms: i64| {
            let batch = h.aggregate(
                &["canary".to_string()],
                MetricsWindow {
                    end: t0
                        + chrono::Duration::seconds(end_s)
                        + chrono::Duration::milliseconds(end_ms),
                    span: Duration::from_secs(100),
                    step: Duration::from_secs(10),
                },
                |_| Some(0),
            );
            batch
                .series
                .get(&("canary".to_string(), MetricKind::RequestRate))
                .and_then(|s| s.points.last().copied())
        };
        let first = last(100, 0).expect("a point");
        for (s, ms) in [(102, 0), (103, 500), (105, 0), (107, 300), (109, 900)] {
            assert_eq!(last(s, ms), Some(first), "poll ending at +{s}.{ms}s");
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        let t0 = DateTime::<Utc>::from_timestamp(0, 0).expect("valid");
        for i in 0..(HISTORY_SECONDS as i64 + 10) {
            h.push(SecondRecord {
                at: t0 + chrono::Duration::seconds(i),
                revs: vec![],
            });
        }
        assert_eq!(h.len(), HISTORY_SECONDS);
    }
}
