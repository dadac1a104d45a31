//! The team's audit trail: every record the local journal writes (which
//! stays the source of truth) is also sent to a shared sink when `[audit]
//! shared` is set: Cloud Logging (`entries:write` under
//! `projects/P/logs/canary-audit`) for Cloud Run, core/v1 Events on the
//! Service for Kubernetes. `canary journal --shared` reads them back from
//! every machine, in time order, with who (user@host) did what.
//!
//! The sink never blocks or loses a local write: a record is handed over
//! (after the journal's fsync) to a bounded queue that a thread of its own
//! drains in batches, retrying what fails with backoff. A sink that is down
//! shows as degraded, with since when ([`health`]); what could not be sent
//! is in the local journal. The records are the journal's: already
//! redacted (env values, webhook URLs and tokens are never in them).

pub mod cloud_logging;
pub mod kubernetes;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::core::error::BackendError;

/// Records sent in one request at most.
const BATCH: usize = 100;
/// The longest wait between two tries of a failing sink.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One record as the shared sink gives it back.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedRecord {
    /// The journal's record, as written locally.
    pub record: Value,
    /// Who wrote it: `user@host`.
    pub driver: String,
}

/// Where the team's audit trail is kept.
#[async_trait]
pub trait SharedSink: Send + Sync {
    /// Where, for messages (`Cloud Logging projects/P/logs/canary-audit`).
    fn location(&self) -> String;
    /// Writes the records (journal records as JSON), in order.
    async fn write(&self, records: &[Value]) -> Result<(), BackendError>;
    /// Every record of the service, oldest first.
    async fn read(&self) -> Result<Vec<SharedRecord>, BackendError>;
}

/// How the sink is doing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    /// Where.
    pub location: String,
    /// Failing since then (`None`: fine).
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Records sent.
    pub sent: u64,
    /// Records waiting (queued or being retried).
    pub waiting: usize,
    /// Records dropped because the queue was full (they are in the local journal).
    pub dropped: u64,
}

impl Health {
    /// One line for a screen or stderr, when something is wrong.
    pub fn problem(&self, now: DateTime<Utc>) -> Option<String> {
        let since = self.failing_since?;
        let age = crate::core::duration::human(
            (now - since)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
        );
        Some(format!(
            "shared audit ({}) DEGRADED for {age}: {}; {} record{} waiting{} (all in the local journal)",
            self.location,
            self.last_error.as_deref().unwrap_or("failing"),
            self.waiting,
            if self.waiting == 1 { "" } else { "s" },
            if self.dropped > 0 {
                format!(", {} dropped", self.dropped)
            } else {
                String::new()
            }
        ))
    }
}

enum Msg {
    Record(Value),
    Flush(oneshot::Sender<()>),
}

/// The queue to the sink and the thread that drains it.
pub struct SharedAudit {
    tx: mpsc::Sender<Msg>,
    health: Arc<Mutex<Health>>,
}

impl SharedAudit {
    /// Starts the thread that sends to `sink`; at most `queue` records wait.
    pub fn start(sink: Arc<dyn SharedSink>, queue: usize) -> std::io::Result<SharedAudit> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let health = Arc::new(Mutex::new(Health {
            location: sink.location(),
            ..Health::default()
        }));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let h = health.clone();
        std::thread::Builder::new()
            .name("canary-shared-audit".into())
            .spawn(move || rt.block_on(drain(sink, rx, h, queue.max(1))))?;
        Ok(SharedAudit { tx, health })
    }

    /// Hands a record over; never waits. A full queue drops it (counted).
    pub fn send(&self, record: Value) {
        if self.tx.try_send(Msg::Record(record)).is_err() {
            let mut h = lock(&self.health);
            h.dropped += 1;
        } else {
            lock(&self.health).waiting += 1;
        }
    }

    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }

    /// Waits until every record handed over was sent, or `within` passed;
    /// the health then.
    pub async fn flush(&self, within: Duration) -> Health {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = tokio::time::timeout(within, done).await;
        }
        self.health()
    }
}

fn lock(h: &Mutex<Health>) -> std::sync::MutexGuard<'_, Health> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

async fn drain(
    sink: Arc<dyn SharedSink>,
    mut rx: mpsc::Receiver<Msg>,
    health: Arc<Mutex<Health>>,
    queue: usize,
) {
    let mut pending: VecDeque<Value> = VecDeque::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut failures = 0u32;
    let mut open = true;
    loop {
        // Wait for work when there is none; take whatever else is queued.
        if pending.is_empty() {
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            if !open {
                return;
            }
            match rx.recv().await {
                Some(m) => take(m, &mut pending, &mut waiters),
                None => open = false,
            }
        }
        while let Ok(m) = rx.try_recv() {
            take(m, &mut pending, &mut waiters);
        }
        // Bounded: the oldest beyond the queue's size go (the local journal has them).
        while pending.len() > queue {
            pending.pop_front();
            let mut h = lock(&health);
            h.dropped += 1;
            h.waiting = h.waiting.saturating_sub(1);
        }
        if pending.is_empty() {
            continue;
        }
        let n = pending.len().min(BATCH);
        let batch: Vec<Value> = pending.iter().take(n).cloned().collect();
        match sink.write(&batch).await {
            Ok(()) => {
                pending.drain(..n);
                failures = 0;
                let mut h = lock(&health);
                h.sent += n as u64;
                h.waiting = h.waiting.saturating_sub(n);
                if h.failing_since.take().is_some() {
                    tracing::info!(location = %h.location, "the shared audit sink works again");
                }
                h.last_error = None;
            }
            Err(e) => {
                failures += 1;
                let wait = backoff(failures, &e);
                {
                    let mut h = lock(&health);
                    h.failing_since.get_or_insert_with(Utc::now);
                    h.last_error = Some(e.to_string());
                    tracing::warn!(location = %h.location, error = %e, retry_in_ms = wait.as_millis() as u64, "the shared audit sink failed");
                }
                // Records keep arriving meanwhile; a flush asked for now
                // waits (bounded by its caller).
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        m = rx.recv(), if open => match m {
                            Some(m) => take(m, &mut pending, &mut waiters),
                            None => open = false,
                        },
                    }
                }
            }
        }
    }
}

fn take(m: Msg, pending: &mut VecDeque<Value>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match m {
        Msg::Record(v) => pending.push_back(v),
        Msg::Flush(ack) => waiters.push(ack),
    }
}

/// 200 ms doubling to 30 s; a transient fault (503, 429, a timeout) is
/// tried again sooner than a refusal (403, 400), which needs a human; a
/// `Retry-After` is honoured.
fn backoff(failures: u32, e: &BackendError) -> Duration {
    if let BackendError::Unavailable {
        retry_after: Some(d),
        ..
    } = e
    {
        return (*d).min(MAX_BACKOFF);
    }
    let base = if e.is_transient() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    base.saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(MAX_BACKOFF)
}

static SHARED: OnceLock<SharedAudit> = OnceLock::new();

/// Sends every record the journal writes from now on to `audit` too (once
/// per process).
pub fn install(audit: SharedAudit) {
    let _ = SHARED.set(audit);
}

/// Called by [`super::Journal::append`] once a record is on disk.
pub(super) fn tee(record: &super::Record) {
    if let Some(a) = SHARED.get() {
        if let Ok(v) = serde_json::to_value(record) {
            a.send(v);
        }
    }
}

/// The sink's health, when one is installed.
pub fn health() -> Option<Health> {
    SHARED.get().map(SharedAudit::health)
}

/// Before the process ends: lets the queue drain for up to `within`, or
/// one second when the sink is failing already (quitting is not held up
/// by a sink that is down: its records are in the local journal).
/// Blocking; call it off any async runtime. The health then.
pub fn finish(within: Duration) -> Option<Health> {
    let a = SHARED.get()?;
    let within = if a.health().failing_since.is_some() {
        within.min(Duration::from_secs(1))
    } else {
        within
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    Some(rt.block_on(a.flush(within)))
}

/// `user@host` of a record written on this machine.
pub fn driver_here(record: &Value) -> String {
    let user = record["who"]["user"].as_str().unwrap_or("unknown");
    format!("{user}@{}", crate::platform::lease::hostname())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Fails its first `failures` writes with 503, then keeps what it gets.
    struct Flaky {
        failures: AtomicUsize,
        got: Mutex<Vec<Value>>,
    }

    #[async_trait]
    impl SharedSink for Flaky {
        fn location(&self) -> String {
            "flaky".into()
        }
        async fn write(&self, records: &[Value]) -> Result<(), BackendError> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(BackendError::Unavailable {
                    message: "HTTP 503".into(),
                    retry_after: None,
                });
            }
            self.got.lock().unwrap().extend(records.iter().cloned());
            Ok(())
        }
        async fn read(&self) -> Result<Vec<SharedRecord>, BackendError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn failures_are_retried_in_order_and_a_full_queue_drops_counted() {
        let sink = Arc::new(Flaky {
            failures: AtomicUsize::new(2),
            got: Mutex::new(Vec::new()),
        });
        let a = SharedAudit::start(sink.clone(), 1000).unwrap();
        for i in 0..5 {
            a.send(serde_json::json!({ "n": i }));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let h = rt.block_on(a.flush(Duration::from_secs(10)));
        assert_eq!(h.sent, 5, "{h:?}");
        assert_eq!(h.waiting, 0);
        assert!(h.failing_since.is_none() && h.problem(Utc::now()).is_none());
        let got: Vec<i64> = sink
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["n"].as_i64().unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);

        // Down for good: degraded with its age, bounded, the caller never waits.
        let down = Arc::new(Flaky {
            failures: AtomicUsize::new(usize::MAX),
            got: Mutex::new(Vec::new()),
        });
        let a = SharedAudit::start(down, 3).unwrap();
        let started = std::time::Instant::now();
        for i in 0..50 {
            a.send(serde_json::json!({ "n": i }));
        }
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "send waited"
        );
        let h = rt.block_on(a.flush(Duration::from_millis(700)));
        assert!(h.dropped > 0, "{h:?}");
        assert!(h.waiting <= 3 + 3, "{h:?}");
        let line = h.problem(Utc::now()).expect("degraded");
        assert!(
            line.contains("DEGRADED for") && line.contains("HTTP 503"),
            "{line}"
        );
    }
}
