//! Sources of log entries, tailed by polling.

pub mod cloud_logging;
pub mod command;
pub mod file;

use async_trait::async_trait;

use crate::core::error::BackendError;
use crate::core::model::LogEntry;

/// A log tail. The source keeps its own cursor: each call returns the entries
/// that arrived since the previous call, oldest first, without duplicates.
#[async_trait]
pub trait LogSource: Send {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError>;

    /// Narrow the tail to one revision (`None`: the whole service), from the
    /// next poll on. A hint: the log view filters by revision itself, so a
    /// source that cannot narrow its reads ignores it.
    fn focus(&mut self, _revision: Option<&str>) {}
}

/// The last entries seen, shared with the checks that look at recent logs.
/// Bounded: the oldest entries go first.
#[derive(Clone, Debug)]
pub struct RecentLogs {
    inner: std::sync::Arc<std::sync::Mutex<RecentInner>>,
}

#[derive(Debug)]
struct RecentInner {
    entries: std::collections::VecDeque<LogEntry>,
    capacity: usize,
    /// When the first batch arrived: nothing before it was seen.
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// When the oldest kept entry was evicted, entries before this are gone.
    evicted_up_to: Option<chrono::DateTime<chrono::Utc>>,
}

/// What [`RecentLogs::scan`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct LogScan {
    /// Matching entries, and the newest one.
    pub count: usize,
    pub newest: Option<LogEntry>,
    /// From when on the scan could see entries (later than asked when the
    /// cockpit started recently or old entries were evicted).
    pub covered_from: Option<chrono::DateTime<chrono::Utc>>,
}

impl RecentLogs {
    pub fn new(capacity: usize) -> RecentLogs {
        RecentLogs {
            inner: std::sync::Arc::new(std::sync::Mutex::new(RecentInner {
                entries: std::collections::VecDeque::new(),
                capacity: capacity.max(1),
                since: None,
                evicted_up_to: None,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn push(&self, batch: &[LogEntry], now: chrono::DateTime<chrono::Utc>) {
        let mut g = self.lock();
        g.since.get_or_insert(now);
        for e in batch {
            if g.entries.len() == g.capacity {
                if let Some(old) = g.entries.pop_front() {
                    g.evicted_up_to = Some(old.timestamp);
                }
            }
            g.entries.push_back(e.clone());
        }
    }

    /// Entries of `revision` at or above `min` with a timestamp at or after `from`.
    pub fn scan(
        &self,
        revision: &str,
        min: crate::core::model::Severity,
        from: chrono::DateTime<chrono::Utc>,
    ) -> LogScan {
        let g = self.lock();
        let mut count = 0;
        let mut newest: Option<&LogEntry> = None;
        for e in g.entries.iter() {
            if e.timestamp >= from && e.severity >= min && e.revision.as_deref() == Some(revision) {
                count += 1;
                if newest.is_none_or(|n| e.timestamp >= n.timestamp) {
                    newest = Some(e);
                }
            }
        }
        let seen_from = match (g.since, g.evicted_up_to) {
            (Some(s), Some(ev)) => Some(s.max(ev)),
            (s, ev) => s.or(ev),
        };
        LogScan {
            count,
            newest: newest.cloned(),
            covered_from: seen_from.map(|s| s.max(from)),
        }
    }
}

/// A log source that also keeps what it returns in a [`RecentLogs`].
pub struct Tee {
    pub inner: Box<dyn LogSource>,
    pub recent: RecentLogs,
}

#[async_trait]
impl LogSource for Tee {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let batch = self.inner.poll().await?;
        self.recent.push(&batch, chrono::Utc::now());
        Ok(batch)
    }

    fn focus(&mut self, revision: Option<&str>) {
        self.inner.focus(revision);
    }
}

/// A log source that is not available: every poll says why (shown in the
/// status bar), instead of an empty tail that looks like silence.
pub struct Unavailable {
    why: String,
}

impl Unavailable {
    pub fn new(why: impl Into<String>) -> Unavailable {
        Unavailable { why: why.into() }
    }
}

#[async_trait]
impl LogSource for Unavailable {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        Err(BackendError::Other(self.why.clone()))
    }
}

/// Several sources as one tail (log files and commands side by side).
pub struct Merged(pub Vec<Box<dyn LogSource>>);

#[async_trait]
impl LogSource for Merged {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let mut out = Vec::new();
        let mut first_error = None;
        for source in &mut self.0 {
            match source.poll().await {
                Ok(batch) => out.extend(batch),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if out.is_empty() => Err(e),
            _ => {
                out.sort_by_key(|e| e.timestamp);
                Ok(out)
            }
        }
    }

    fn focus(&mut self, revision: Option<&str>) {
        for source in &mut self.0 {
            source.focus(revision);
        }
    }
}
