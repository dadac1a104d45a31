//! Cloud Logging as a [`LogSource`]: `POST v2/entries:list`, polled.
//!
//! - Filter: `resource.type="cloud_run_revision" AND
//!   resource.labels.service_name="S"`, plus `resource.labels.revision_name="R"`
//!   while a revision is selected ([`RevisionFilter::set`]), plus a
//!   `timestamp>="…"` lower bound. `orderBy: "timestamp asc"`.
//! - No gaps: the lower bound is the newest timestamp seen minus an overlap
//!   window (10 s by default), so entries that reach Logging late are still
//!   found; every page is read (a pass may span several polls when a burst is
//!   larger than `max_pages_per_poll`; entries read before a failure are kept
//!   and returned with the next poll).
//! - No duplicates: a bounded set of `(timestamp, insertId)` keys, pruned below
//!   the lower bound (minus the lookback, so that switching revisions never
//!   shows an entry twice).
//! - Budget: a shared [`RateLimiter`] keeps the source within about 60 list
//!   calls a minute per project; a 429 holds every call off for its
//!   `Retry-After` (or a doubling backoff, up to a minute).
//! - Errors become [`BackendError`]s that say what to do (credentials and the
//!   `logging.logEntries.list` permission, quota, unreachable endpoint,
//!   malformed answers).
//!
//! `entries:tail` is gRPC only, hence polling.

pub mod api;
mod limiter;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::watch;

pub use limiter::RateLimiter;

use self::api::{ListLogEntriesRequest, ListLogEntriesResponse};
use super::LogSource;
use crate::core::error::BackendError;
use crate::core::model::{LogEntry, Severity};
use crate::google::client::Http;
use crate::google::Auth;

/// The public endpoint of the Cloud Logging API.
pub const DEFAULT_ENDPOINT: &str = "https://logging.googleapis.com";

/// What to add to a 401/403 from Logging.
pub const LOGGING_PERMISSION_HINT: &str =
    "reading logs needs logging.logEntries.list on the project (roles/logging.viewer)";

/// Where the logs are and how to read them.
#[derive(Clone, Debug)]
pub struct CloudLoggingSettings {
    /// `https://logging.googleapis.com`, or `http://127.0.0.1:PORT` for the fake.
    pub endpoint: String,
    pub project: String,
    /// The Cloud Run service whose revisions' logs are read.
    pub service: String,
    pub auth: Auth,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How often the runtime should poll (advice for `spawn_log_poller`).
    pub poll_interval: Duration,
    /// How far back the lower bound reaches behind the newest entry seen.
    pub overlap: Duration,
    /// How far back the first poll (and a revision switch) reaches.
    pub lookback: Duration,
    /// `pageSize` (at most 1000).
    pub page_size: u32,
    /// Pages read per poll; the rest of a pass is read by the next polls.
    pub max_pages_per_poll: u32,
    /// How many `(timestamp, insertId)` keys are remembered at most.
    pub dedupe_capacity: usize,
    /// The per-project call budget; share one between sources of a project.
    pub limiter: Arc<RateLimiter>,
    /// While the tail is narrowed to one revision, entries at or above this
    /// severity are still read from every revision, so that the `logs`
    /// checks (which look for them) never miss one. `None`: narrow fully.
    pub keep_severity: Option<Severity>,
}

impl CloudLoggingSettings {
    /// The public endpoint, 2 s polls, 10 s overlap, 5 min lookback, at most
    /// 60 calls a minute.
    pub fn new(project: impl Into<String>, service: impl Into<String>, auth: Auth) -> Self {
        CloudLoggingSettings {
            endpoint: DEFAULT_ENDPOINT.into(),
            project: project.into(),
            service: service.into(),
            auth,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(2),
            overlap: Duration::from_secs(10),
            lookback: Duration::from_secs(5 * 60),
            page_size: 1000,
            max_pages_per_poll: 5,
            dedupe_capacity: 50_000,
            limiter: RateLimiter::per_minute(60),
            keep_severity: None,
        }
    }

    /// Another endpoint (the fake).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Share a call budget with other sources of the same project.
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }
}

/// Chooses whose logs are read: one revision, or the whole service (`None`).
/// Cheap to clone; hand one to whatever follows the selection.
#[derive(Clone, Debug)]
pub struct RevisionFilter(Arc<watch::Sender<Option<String>>>);

impl RevisionFilter {
    /// Takes effect at the next poll.
    pub fn set(&self, revision: Option<String>) {
        self.0.send_if_modified(|r| {
            let changed = *r != revision;
            *r = revision;
            changed
        });
    }

    pub fn get(&self) -> Option<String> {
        self.0.borrow().clone()
    }
}

/// A page pass in progress: the filter it was started with and where it is.
struct Pass {
    filter: String,
    token: Option<String>,
    newest: Option<DateTime<Utc>>,
}

/// The Cloud Logging tail of one Cloud Run service.
pub struct CloudLogging {
    settings: CloudLoggingSettings,
    http: Http,
    filter_tx: Arc<watch::Sender<Option<String>>>,
    filter_rx: watch::Receiver<Option<String>>,
    revision: Option<String>,
    /// The query's lower bound.
    floor: Option<DateTime<Utc>>,
    /// Keys of entries already returned, oldest first.
    seen: BTreeSet<(DateTime<Utc>, String)>,
    /// Keys below this were forgotten: the floor never goes back past it.
    forgotten_below: Option<DateTime<Utc>>,
    pass: Option<Pass>,
    /// Entries read before a failure, returned with the next poll.
    carry: Vec<LogEntry>,
    /// Consecutive 429s, for the backoff.
    throttled: u32,
}

impl std::fmt::Debug for CloudLogging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudLogging")
            .field("endpoint", &self.settings.endpoint)
            .field("project", &self.settings.project)
            .field("service", &self.settings.service)
            .field("revision", &self.revision)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

/// A filter value in double quotes.
fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn valid_name(v: &str) -> bool {
    !v.is_empty() && !v.contains(['/', '?', '#', ' ', '"', '\\'])
}

impl CloudLogging {
    pub fn new(settings: CloudLoggingSettings) -> Result<CloudLogging, BackendError> {
        for (what, v) in [
            ("project", &settings.project),
            ("service", &settings.service),
        ] {
            if !valid_name(v) {
                return Err(BackendError::Other(format!(
                    "cloud logging: {what} `{v}` is not a valid name"
                )));
            }
        }
        let http = Http::new(
            &settings.endpoint,
            settings.auth.clone(),
            settings.request_timeout,
            settings.connect_timeout,
        )?;
        let (tx, rx) = watch::channel(None);
        Ok(CloudLogging {
            settings,
            http,
            filter_tx: Arc::new(tx),
            filter_rx: rx,
            revision: None,
            floor: None,
            seen: BTreeSet::new(),
            forgotten_below: None,
            pass: None,
            carry: Vec::new(),
            throttled: 0,
        })
    }

    pub fn settings(&self) -> &CloudLoggingSettings {
        &self.settings
    }

    /// A handle that chooses the revision whose logs are read.
    pub fn revision_filter(&self) -> RevisionFilter {
        RevisionFilter(Arc::clone(&self.filter_tx))
    }

    /// The filter for entries at or after `floor`.
    pub fn filter_for(&self, floor: DateTime<Utc>) -> String {
        let mut f = format!(
            "resource.type=\"cloud_run_revision\" AND resource.labels.service_name={}",
            quote(&self.settings.service)
        );
        match (&self.revision, self.settings.keep_severity) {
            (None, _) => {}
            (Some(r), None) => {
                f.push_str(&format!(" AND resource.labels.revision_name={}", quote(r)));
            }
            (Some(r), Some(keep)) => f.push_str(&format!(
                " AND (resource.labels.revision_name={} OR severity>={})",
                quote(r),
                keep.as_str()
            )),
        }
        f.push_str(&format!(" AND timestamp>={}", quote(&stamp(floor))));
        f
    }

    fn what(&self) -> String {
        format!(
            "log entries of service {} in project {}",
            self.settings.service, self.settings.project
        )
    }

    /// Picks up a revision switch: a new pass from `lookback` ago (never below
    /// what was forgotten, so nothing is shown twice).
    fn follow_selection(&mut self, now: DateTime<Utc>) {
        if !self.filter_rx.has_changed().unwrap_or(false) {
            return;
        }
        let rev = self.filter_rx.borrow_and_update().clone();
        if rev == self.revision {
            return;
        }
        self.revision = rev;
        self.pass = None;
        let back = now - chrono::Duration::from_std(self.settings.lookback).unwrap_or_default();
        self.floor = Some(match self.forgotten_below {
            Some(f) => back.max(f),
            None => back,
        });
    }

    fn remember(&mut self, key: (DateTime<Utc>, String)) -> bool {
        if let Some(f) = self.forgotten_below {
            if key.0 <= f {
                // Older than anything still remembered: it may have been shown.
                return false;
            }
        }
        if !self.seen.insert(key) {
            return false;
        }
        while self.seen.len() > self.settings.dedupe_capacity.max(1) {
            if let Some(old) = self.seen.pop_first() {
                self.forgotten_below = Some(self.forgotten_below.map_or(old.0, |f| f.max(old.0)));
            }
        }
        true
    }

    /// Forgets keys that can no longer come back (below floor − lookback).
    fn prune(&mut self) {
        let Some(floor) = self.floor else { return };
        let keep_from =
            floor - chrono::Duration::from_std(self.settings.lookback).unwrap_or_default();
        let kept = self.seen.split_off(&(keep_from, String::new()));
        if let Some(last) = self.seen.last() {
            let t = last.0;
            self.forgotten_below = Some(self.forgotten_below.map_or(t, |f| f.max(t)));
        }
        self.seen = kept;
    }

    async fn list(
        &self,
        req: &ListLogEntriesRequest,
    ) -> Result<ListLogEntriesResponse, BackendError> {
        self.settings.limiter.acquire().await;
        self.http
            .post("v2/entries:list", req, &self.what())
            .await
            .map_err(|e| match e {
                BackendError::Auth(m) => {
                    BackendError::Auth(format!("{m}; {LOGGING_PERMISSION_HINT}"))
                }
                other => other,
            })
    }

    /// A 429: hold every call off for Retry-After, or 2, 4, … 60 s.
    fn throttle(&mut self, err: BackendError) -> BackendError {
        let BackendError::Unavailable {
            message,
            retry_after,
        } = err
        else {
            return err;
        };
        if !message.contains("HTTP 429") {
            return BackendError::Unavailable {
                message,
                retry_after,
            };
        }
        let own = Duration::from_secs(2u64 << self.throttled.min(5)).min(Duration::from_secs(60));
        self.throttled += 1;
        let hold = retry_after.unwrap_or(own);
        self.settings
            .limiter
            .hold_off(tokio::time::Instant::now() + hold);
        BackendError::Unavailable {
            message: format!(
                "{message}; Cloud Logging allows about 60 reads a minute per project: waiting {}s",
                hold.as_secs()
            ),
            retry_after: Some(hold),
        }
    }
}

#[async_trait]
impl LogSource for CloudLogging {
    fn focus(&mut self, revision: Option<&str>) {
        self.revision_filter().set(revision.map(str::to_owned));
    }

    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let now = Utc::now();
        self.follow_selection(now);
        let floor = *self.floor.get_or_insert_with(|| {
            now - chrono::Duration::from_std(self.settings.lookback).unwrap_or_default()
        });
        let mut pass = match self.pass.take() {
            Some(p) => p,
            None => Pass {
                filter: self.filter_for(floor),
                token: None,
                newest: None,
            },
        };
        let mut out = std::mem::take(&mut self.carry);
        let mut pages = 0;
        loop {
            let req = ListLogEntriesRequest {
                resource_names: vec![format!("projects/{}", self.settings.project)],
                filter: pass.filter.clone(),
                order_by: "timestamp asc".into(),
                page_size: Some(self.settings.page_size.clamp(1, 1000) as i32),
                page_token: pass.token.clone(),
            };
            let page = match self.list(&req).await {
                Ok(p) => p,
                Err(e) => {
                    // Keep what was read and where the pass stands.
                    self.carry = out;
                    self.pass = Some(pass);
                    return Err(self.throttle(e));
                }
            };
            self.throttled = 0;
            pages += 1;
            for e in &page.entries {
                let Some(entry) = e.to_log_entry() else {
                    tracing::debug!("log entry without a timestamp skipped");
                    continue;
                };
                let id = e.insert_id.clone().unwrap_or_else(|| {
                    // No insertId (rare): the content stands in for it.
                    serde_json::to_string(e).unwrap_or_default()
                });
                pass.newest = Some(
                    pass.newest
                        .map_or(entry.timestamp, |n| n.max(entry.timestamp)),
                );
                if self.remember((entry.timestamp, id)) {
                    out.push(entry);
                }
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                None => break,
                Some(t) if Some(&t) == pass.token.as_ref() => {
                    self.carry = out;
                    return Err(BackendError::Other(format!(
                        "listing {}: the API returned the same page token twice",
                        self.what()
                    )));
                }
                Some(t) => {
                    pass.token = Some(t);
                    if pages >= self.settings.max_pages_per_poll.max(1) {
                        // The rest of this pass at the next poll.
                        self.pass = Some(pass);
                        out.sort_by_key(|e| e.timestamp);
                        return Ok(out);
                    }
                }
            }
        }
        if let Some(newest) = pass.newest {
            let next =
                newest - chrono::Duration::from_std(self.settings.overlap).unwrap_or_default();
            self.floor = Some(floor.max(next));
        }
        self.prune();
        out.sort_by_key(|e| e.timestamp);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn filter_names_service_revision_and_time() {
        let mut src =
            CloudLogging::new(CloudLoggingSettings::new("p", "svc", Auth::None)).expect("source");
        let t = Utc
            .with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            src.filter_for(t),
            r#"resource.type="cloud_run_revision" AND resource.labels.service_name="svc" AND timestamp>="2026-11-20T10:00:00.000000000Z""#
        );
        src.revision_filter().set(Some("svc-00042-xuv".into()));
        src.follow_selection(t);
        assert!(src
            .filter_for(t)
            .contains(r#"AND resource.labels.revision_name="svc-00042-xuv" AND"#));
        // With `logs` checks configured, their severities still come from all.
        src.settings.keep_severity = Some(Severity::Warning);
        assert!(src.filter_for(t).contains(
            r#"AND (resource.labels.revision_name="svc-00042-xuv" OR severity>=WARNING) AND"#
        ));
        assert!(CloudLogging::new(CloudLoggingSettings::new("p", "a\"b", Auth::None)).is_err());
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn dedupe_is_bounded_and_never_repeats() {
        let mut s = CloudLoggingSettings::new("p", "svc", Auth::None);
        s.dedupe_capacity = 2;
        let mut src = CloudLogging::new(s).expect("source");
        let t = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).single().expect("t");
        assert!(src.remember((t(1), "a".into())));
        assert!(!src.remember((t(1), "a".into())));
        assert!(src.remember((t(2), "b".into())));
        assert!(src.remember((t(3), "c".into())));
        assert_eq!(src.seen.len(), 2);
        // `a` was forgotten: anything that old is refused rather than repeated.
        assert!(!src.remember((t(1), "a".into())));
        assert!(!src.remember((t(0), "z".into())));
    }
}
