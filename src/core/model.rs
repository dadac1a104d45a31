//! The small common model every backend translates into at its edge.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::preview::WriteApi;

/// One revision (Cloud Run revision, HAProxy server, Kubernetes Deployment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub name: String,
    /// Traffic tag (Cloud Run `tag`), kept by every traffic change.
    pub tag: Option<String>,
    /// URL that reaches this revision alone (Cloud Run `trafficStatuses[].uri`).
    pub tag_url: Option<String>,
    pub image: String,
    pub created: DateTime<Utc>,
    pub ready: bool,
    /// Why the revision is not ready, when the platform says.
    pub status_message: Option<String>,
    /// Digest, creator, environment, limits, scaling, conditions (inspect).
    #[serde(default)]
    pub details: super::details::RevisionDetails,
}

/// A share of traffic for one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub revision: String,
    pub percent: u8,
}

/// Why a split could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("percentages sum to {0}, not 100")]
    BadSum(u32),
    #[error("revision {0} appears twice")]
    Duplicate(String),
    #[error("{0}% is more than 100")]
    TooLarge(u32),
    #[error("the split is empty")]
    Empty,
}

/// A traffic split that is valid by construction: percentages sum to 100, no
/// revision appears twice, no zero entries. Entries are kept in a canonical
/// order (largest share first, then by name) so that equal splits compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrafficSplit {
    entries: Vec<Allocation>,
}

impl<'de> Deserialize<'de> for TrafficSplit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            entries: Vec<Allocation>,
        }
        let raw = Raw::deserialize(d)?;
        TrafficSplit::new(
            raw.entries
                .into_iter()
                .map(|a| (a.revision, u32::from(a.percent))),
        )
        .map_err(serde::de::Error::custom)
    }
}

impl TrafficSplit {
    /// Builds a split from `(revision, percent)` pairs; zero entries are dropped.
    pub fn new<I, S>(pairs: I) -> Result<Self, SplitError>
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        let mut entries: Vec<Allocation> = Vec::new();
        let mut sum: u32 = 0;
        for (rev, pct) in pairs {
            let rev = rev.into();
            if pct > 100 {
                return Err(SplitError::TooLarge(pct));
            }
            if entries.iter().any(|a| a.revision == rev) {
                return Err(SplitError::Duplicate(rev));
            }
            sum += pct;
            if pct > 0 {
                entries.push(Allocation {
                    revision: rev,
                    percent: pct as u8,
                });
            }
        }
        if entries.is_empty() && sum == 0 {
            return Err(SplitError::Empty);
        }
        if sum != 100 {
            return Err(SplitError::BadSum(sum));
        }
        entries.sort_by(|a, b| b.percent.cmp(&a.percent).then(a.revision.cmp(&b.revision)));
        Ok(TrafficSplit { entries })
    }

    /// All traffic to one revision.
    pub fn all_to(revision: impl Into<String>) -> Self {
        TrafficSplit {
            entries: vec![Allocation {
                revision: revision.into(),
                percent: 100,
            }],
        }
    }

    pub fn entries(&self) -> &[Allocation] {
        &self.entries
    }

    pub fn percent_of(&self, revision: &str) -> u8 {
        self.entries
            .iter()
            .find(|a| a.revision == revision)
            .map_or(0, |a| a.percent)
    }

    /// The revision with the largest share (ties: first in canonical order).
    pub fn largest(&self) -> Option<&str> {
        self.entries.first().map(|a| a.revision.as_str())
    }

    pub fn revisions(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|a| a.revision.as_str())
    }

    /// `rev-a=90,rev-b=10`, the form `gcloud run services update-traffic --to-revisions` takes.
    pub fn to_flag(&self) -> String {
        self.entries
            .iter()
            .map(|a| format!("{}={}", a.revision, a.percent))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn as_map(&self) -> BTreeMap<String, u8> {
        self.entries
            .iter()
            .map(|a| (a.revision.clone(), a.percent))
            .collect()
    }
}

impl fmt::Display for TrafficSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|a| format!("{} {}%", a.revision, a.percent))
            .collect();
        f.write_str(&parts.join(" · "))
    }
}

/// Opaque optimistic-concurrency token (Cloud Run etag, Kubernetes resourceVersion).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version(pub String);

/// What the platform says about the service right now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    pub service: String,
    pub url: Option<String>,
    /// Newest first.
    pub revisions: Vec<Revision>,
    /// The split the platform was asked for (Cloud Run `traffic`).
    pub traffic: TrafficSplit,
    /// The split actually serving (Cloud Run `trafficStatuses`), when it is reported separately.
    pub actual: Option<TrafficSplit>,
    pub version: Version,
    /// The platform is still converging on `traffic`.
    pub reconciling: bool,
    /// A platform-level problem (e.g. a failed terminal condition).
    pub message: Option<String>,
    /// The platform restarted and forgot traffic set at runtime (HAProxy's
    /// `set server … weight`): the split shown is its configured one.
    #[serde(default)]
    pub runtime_state_lost: bool,
    /// What a platform adds that the rest of the model has no place for
    /// (Kubernetes: all-or-nothing traffic, another controller owning the
    /// service, a colour kept warm; per-revision lines are in
    /// [`super::details::RevisionDetails::platform`]).
    #[serde(default, skip_serializing_if = "SnapshotExtra::is_empty")]
    pub extra: SnapshotExtra,
    /// How a change to this service is written, with what the write starts
    /// from as read here: what [`super::preview::preview`] shows.
    #[serde(default)]
    pub write_api: WriteApi,
}

/// See [`ServiceSnapshot::extra`]. Empty for Cloud Run, HAProxy and the
/// simulator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotExtra {
    /// Traffic moves all at once (Kubernetes blue/green): a split with more
    /// than one revision is refused, and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_or_nothing: Option<String>,
    /// Another controller owns the traffic: every change is refused (the
    /// cockpit never fights it), and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
    /// The revision a rollback returns to, when the platform knows better
    /// than the split (blue/green: the colour that served before the last
    /// switch, while it still runs the version it ran then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<String>,
    /// A revision kept running after a switch, then scaled to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_warm: Option<KeepWarm>,
}

impl SnapshotExtra {
    pub fn is_empty(&self) -> bool {
        *self == SnapshotExtra::default()
    }
}

/// Blue/green's old colour after a switch: kept running until `until`, then
/// scaled to 0 (asked in manual mode, done by itself in auto mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepWarm {
    pub revision: String,
    pub until: DateTime<Utc>,
    /// Replicas it runs now.
    pub replicas: u32,
    /// The scale-down as the platform will make it (the equivalent command
    /// and the API request), for the confirmation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
}

impl ServiceSnapshot {
    pub fn revision(&self, name: &str) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.name == name)
    }

    /// Finds a revision by name or by tag.
    pub fn resolve(&self, name_or_tag: &str) -> Option<&Revision> {
        self.revision(name_or_tag).or_else(|| {
            self.revisions
                .iter()
                .find(|r| r.tag.as_deref() == Some(name_or_tag))
        })
    }

    /// The split that is serving: `actual` when reported, else the target.
    pub fn serving(&self) -> &TrafficSplit {
        self.actual.as_ref().unwrap_or(&self.traffic)
    }
}

/// Where the service lives, for the header and for previews of API calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// `simulator`, `cloud-run`, `haproxy`, ...
    pub kind: String,
    pub service: String,
    /// Project/region, HAProxy socket, kube context...
    pub location: String,
}

/// Cloud Logging severities, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Default,
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl Severity {
    pub const ALL: [Severity; 9] = [
        Severity::Default,
        Severity::Debug,
        Severity::Info,
        Severity::Notice,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
        Severity::Alert,
        Severity::Emergency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Default => "DEFAULT",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Notice => "NOTICE",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
            Severity::Alert => "ALERT",
            Severity::Emergency => "EMERGENCY",
        }
    }

    /// Parses a severity name, case-insensitively (`warn` and `err` accepted).
    pub fn parse(s: &str) -> Option<Severity> {
        let up = s.trim().to_ascii_uppercase();
        match up.as_str() {
            "WARN" => Some(Severity::Warning),
            "ERR" => Some(Severity::Error),
            "CRIT" | "FATAL" => Some(Severity::Critical),
            _ => Severity::ALL.into_iter().find(|v| v.as_str() == up),
        }
    }

    /// The next minimum severity for the `s` key: DEFAULT → INFO → WARNING → ERROR → DEFAULT.
    pub fn cycle_min(self) -> Severity {
        match self {
            Severity::Default | Severity::Debug => Severity::Info,
            Severity::Info | Severity::Notice => Severity::Warning,
            Severity::Warning => Severity::Error,
            _ => Severity::Default,
        }
    }
}

/// One log line, already reduced to what the panel shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub timestamp: DateTime<Utc>,
    pub revision: Option<String>,
    pub severity: Severity,
    /// HTTP status, when the entry is a request log.
    pub status: Option<u16>,
    pub message: String,
}

/// The three signals shown per revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MetricKind {
    /// Requests per second.
    RequestRate,
    /// Share of responses that are 5xx, in percent.
    ErrorPercent,
    /// 95th percentile latency, milliseconds.
    LatencyP95,
}

impl MetricKind {
    pub const ALL: [MetricKind; 3] = [
        MetricKind::RequestRate,
        MetricKind::ErrorPercent,
        MetricKind::LatencyP95,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MetricKind::RequestRate => "req/s",
            MetricKind::ErrorPercent => "5xx %",
            MetricKind::LatencyP95 => "p95 ms",
        }
    }
}

/// A time series for one revision and one signal. No points means "no data",
/// which is not the same as zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub points: Vec<(DateTime<Utc>, f64)>,
}

impl Series {
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// The counts behind one point of a revision's series, when the source has
/// them (what the statistical judge needs): requests and 5xx answers during
/// the point's interval, and its latency histogram.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointCounts {
    pub requests: f64,
    pub errors: f64,
    /// Cumulative latency histogram: `(upper bound in ms, requests at or
    /// under it)`, ascending, Prometheus `le` style. Empty: not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_le: Vec<(f64, f64)>,
}

/// What one metrics poll returned: the whole window, per revision and signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsBatch {
    pub series: BTreeMap<(String, MetricKind), Series>,
    /// Per revision, the counts behind each point (stamped like the series'
    /// points), for sources that have them; the judge derives counts from
    /// rate × interval for the others.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, Vec<(DateTime<Utc>, PointCounts)>>,
    /// The source's data is complete up to here (the oldest of the
    /// revisions' newest raw samples), when it can say: its lag is `now`
    /// minus this. `None`: the newest point's time stands for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled_until: Option<DateTime<Utc>>,
}

/// How far a batch's data reaches: its newest point, or, when the source
/// says its raw samples stop earlier (`sampled_until`: Prometheus' newest
/// sample, Cloud Monitoring minutes behind), that.
pub fn data_until(batch: &MetricsBatch) -> Option<DateTime<Utc>> {
    let newest = batch
        .series
        .values()
        .filter_map(|s| s.points.last().map(|p| p.0))
        .max();
    match (newest, batch.sampled_until) {
        (Some(n), Some(s)) => Some(n.min(s)),
        (n, s) => n.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_must_sum_to_100() {
        assert_eq!(
            TrafficSplit::new([("a", 90), ("b", 5)]),
            Err(SplitError::BadSum(95))
        );
        assert_eq!(
            TrafficSplit::new([("a", 90), ("a", 10)]),
            Err(SplitError::Duplicate("a".into()))
        );
        assert_eq!(
            TrafficSplit::new([("a", 101)]),
            Err(SplitError::TooLarge(101))
        );
        assert_eq!(
            TrafficSplit::new(Vec::<(String, u32)>::new()),
            Err(SplitError::Empty)
        );
    }

    #[test]
    fn split_is_canonical_and_drops_zeroes() {
        let a = TrafficSplit::new([("b", 10), ("a", 90), ("c", 0)]).expect("valid");
        let b = TrafficSplit::new([("a", 90), ("b", 10)]).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.to_flag(), "a=90,b=10");
        assert_eq!(a.percent_of("c"), 0);
        assert_eq!(a.largest(), Some("a"));
    }

    #[test]
    fn split_deserialize_validates() {
        let bad = r#"{"entries":[{"revision":"a","percent":50}]}"#;
        assert!(serde_json::from_str::<TrafficSplit>(bad).is_err());
        let good = r#"{"entries":[{"revision":"a","percent":100}]}"#;
        let s: TrafficSplit = serde_json::from_str(good).expect("valid");
        assert_eq!(s, TrafficSplit::all_to("a"));
    }

    #[test]
    fn severity_parse_and_cycle() {
        assert_eq!(Severity::parse("warn"), Some(Severity::Warning));
        assert_eq!(Severity::parse("Error"), Some(Severity::Error));
        assert_eq!(Severity::parse("nope"), None);
        let mut s = Severity::Default;
        let mut seen = vec![];
        for _ in 0..4 {
            s = s.cycle_min();
            seen.push(s);
        }
        assert_eq!(
            seen,
            vec![
                Severity::Info,
                Severity::Warning,
                Severity::Error,
                Severity::Default
            ]
        );
    }
}
