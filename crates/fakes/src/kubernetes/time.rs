//! Timestamps as the apiserver writes them.

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) type Time = DateTime<Utc>;

/// `2026-11-20T10:00:00Z` (metav1.Time: seconds).
pub(crate) fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-11-20T10:00:00.123456Z` (metav1.MicroTime).
pub(crate) fn micro(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `2026-11-20T10:00:00.123456789Z` (the kubelet's log timestamps).
pub(crate) fn nano(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse(text: &str) -> Option<Time> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn now() -> Time {
    Utc::now()
}
