//! The runtime's side of the audit journal and of notifications.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use crate::journal::{Event, Journal, Record, Who};

/// Appends records to the journal, fsynced, **in the order they were
/// submitted**: one writer thread owns the file and takes records from a
/// queue, so two effects produced by one `update` can never land swapped
/// (the replay after a crash relies on the order). Without a journal (tests,
/// `enabled = false`) it does nothing.
///
/// A record that cannot be written (a full disk) is kept in memory, written
/// to the diagnostic log, and appended (in order, before any newer one) as
/// soon as the journal is writable again; the writer tries every few
/// seconds. [`Recorder::broken`] says why it is not, meanwhile.
#[derive(Clone)]
pub struct Recorder {
    queue: Option<std::sync::mpsc::Sender<(Record, Ack)>>,
    /// The journal file, for the history view and the report.
    path: Option<std::path::PathBuf>,
    who: Who,
    service: String,
    health: Arc<Mutex<Option<String>>>,
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// How often a broken journal is tried again.
const RETRY_BROKEN: Duration = Duration::from_secs(2);
/// Records kept in memory at most while the journal is broken.
const BACKLOG_MAX: usize = 10_000;

/// A submitted record; awaiting it returns once it is on disk (or failed).
pub struct Pending(Option<tokio::sync::oneshot::Receiver<Result<(), String>>>);

impl Pending {
    pub async fn done(self) -> Result<(), String> {
        match self.0 {
            None => Ok(()),
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err("the journal writer stopped".to_string())),
        }
    }
}

/// The writer thread's side: the file, and what it could not write yet.
struct Writer {
    journal: Journal,
    backlog: VecDeque<Record>,
    health: Arc<Mutex<Option<String>>>,
    broken_since: Option<chrono::DateTime<Utc>>,
    service: String,
}

impl Writer {
    fn set_health(&self, h: Option<String>) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = h;
    }

    fn fail(&mut self, record: Record, e: &std::io::Error) -> String {
        let why = format!("{}: {e}", self.journal.path().display());
        let line = serde_json::to_string(&record).unwrap_or_default();
        tracing::error!(error = %why, record = %line, "journal write failed; record kept in memory");
        if self.backlog.len() < BACKLOG_MAX {
            self.backlog.push_back(record);
        } else {
            tracing::error!(record = %line, "journal backlog full; this record is only in this log");
        }
        self.broken_since.get_or_insert_with(Utc::now);
        self.set_health(Some(why.clone()));
        why
    }

    /// Appends what was kept, oldest first; `Err` when still broken.
    fn flush(&mut self) -> Result<(), String> {
        let late = self.backlog.len();
        while let Some(r) = self.backlog.front() {
            if let Err(e) = self.journal.append(r) {
                let why = format!("{}: {e}", self.journal.path().display());
                self.set_health(Some(why.clone()));
                return Err(why);
            }
            self.backlog.pop_front();
        }
        if let Some(since) = self.broken_since.take() {
            let note = Record {
                at: Utc::now(),
                who: Who {
                    user: "canary".into(),
                    from: None,
                },
                service: self.service.clone(),
                event: Event::Note {
                    message: format!(
                        "the journal was not writable from {} UTC; {late} record(s) kept in \
                         memory meanwhile were appended late (their `at` is when they happened)",
                        since.format("%H:%M:%S")
                    ),
                },
            };
            let _ = self.journal.append(&note);
            tracing::warn!(late, "the journal is writable again");
        }
        self.set_health(None);
        Ok(())
    }

    fn run(mut self, rx: std::sync::mpsc::Receiver<(Record, Ack)>) {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            let next = if self.backlog.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(RETRY_BROKEN)
            };
            let msg = match next {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    if self.flush().is_err() {
                        for r in &self.backlog {
                            let line = serde_json::to_string(r).unwrap_or_default();
                            tracing::error!(record = %line, "never journaled (the journal stayed broken)");
                        }
                    }
                    return;
                }
            };
            // What was kept goes first, in order.
            let flushed = if self.backlog.is_empty() {
                Ok(())
            } else {
                self.flush()
            };
            let Some((record, ack)) = msg else { continue };
            let result = match flushed {
                Err(why) => {
                    let line = serde_json::to_string(&record).unwrap_or_default();
                    tracing::error!(error = %why, record = %line, "journal still broken; record kept in memory");
                    self.backlog.push_back(record);
                    Err(why)
                }
                Ok(()) => match self.journal.append(&record) {
                    Ok(()) => {
                        if self.broken_since.take().is_some() {
                            self.set_health(None);
                        }
                        Ok(())
                    }
                    Err(e) => Err(self.fail(record, &e)),
                },
            };
            let _ = ack.send(result);
        }
    }
}

impl Recorder {
    pub fn new(journal: Option<Journal>, who: Who, service: String) -> Recorder {
        let health = Arc::new(Mutex::new(None));
        let path = journal.as_ref().map(|j| j.path().to_path_buf());
        let queue = journal.and_then(|journal| {
            let (tx, rx) = std::sync::mpsc::channel::<(Record, Ack)>();
            let writer = Writer {
                journal,
                backlog: VecDeque::new(),
                health: Arc::clone(&health),
                broken_since: None,
                service: service.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name("journal-writer".into())
                .spawn(move || writer.run(rx));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the journal writer");
                    None
                }
            }
        });
        Recorder {
            queue,
            path,
            who,
            service,
            health,
        }
    }

    /// Why the journal cannot be written now (`None`: it can, or none is kept).
    pub fn broken(&self) -> Option<String> {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The journal file, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn disabled(service: &str) -> Recorder {
        Recorder::new(
            None,
            Who {
                user: "test".into(),
                from: None,
            },
            service.into(),
        )
    }

    /// Queues one record now (its place in the journal is fixed by this call).
    pub fn submit(&self, event: Event) -> Pending {
        let Some(queue) = &self.queue else {
            return Pending(None);
        };
        let record = Record {
            at: Utc::now(),
            who: self.who.clone(),
            service: self.service.clone(),
            event,
        };
        let (ack, rx) = tokio::sync::oneshot::channel();
        if let Err(std::sync::mpsc::SendError((_, ack))) = queue.send((record, ack)) {
            let _ = ack.send(Err("the journal writer stopped".into()));
        }
        Pending(Some(rx))
    }

    /// Writes one record and returns once it is on disk.
    pub async fn record(&self, event: Event) -> Result<(), String> {
        self.submit(event).done().await
    }
}

/// A Slack-compatible incoming webhook. The URL is a secret: it is never
/// logged, journaled or shown; errors mention only the status.
#[derive(Clone)]
pub struct Notifier {
    url: Option<Arc<str>>,
    client: reqwest::Client,
    attempts: u32,
    timeout: Duration,
    /// Notifications being sent now (a headless run waits for them).
    inflight: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a notification in flight while it lives.
pub(crate) struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl InFlight {
    fn new(n: &Arc<std::sync::atomic::AtomicUsize>) -> InFlight {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(Arc::clone(n))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("configured", &self.url.is_some())
            .finish()
    }
}

impl Notifier {
    pub fn new(url: Option<String>) -> Notifier {
        Notifier {
            url: url.filter(|u| !u.is_empty()).map(Arc::from),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
            attempts: 3,
            timeout: Duration::from_secs(5),
            inflight: Arc::default(),
        }
    }

    /// Counts one notification in flight until the guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight {
        InFlight::new(&self.inflight)
    }

    /// Waits (at most `within`) until no notification is being sent.
    pub async fn idle(&self, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        while self.inflight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Per-attempt timeout and further attempts after a failure.
    pub fn with_policy(mut self, timeout: Duration, retries: u32) -> Notifier {
        self.timeout = timeout;
        self.attempts = retries + 1;
        self
    }

    /// Posts `{"text": ...}`, retrying a few times with backoff. Runs in its
    /// own task: it never delays a traffic change.
    pub async fn send(&self, text: &str) -> Result<(), String> {
        let Some(url) = self.url.clone() else {
            return Ok(());
        };
        let _inflight = InFlight::new(&self.inflight);
        let body = serde_json::json!({ "text": text });
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * (1 << attempt))).await;
            }
            let res = self
                .client
                .post(&*url)
                .timeout(self.timeout)
                .json(&body)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("webhook answered HTTP {}", r.status().as_u16()),
                // Only the kind of failure: reqwest's message would carry the URL.
                Err(e) if e.is_timeout() => last = "webhook timed out".into(),
                Err(e) if e.is_connect() => last = "webhook unreachable".into(),
                Err(_) => last = "webhook request failed".into(),
            }
            tracing::warn!(attempt, error = %last, "notification failed");
        }
        Err(format!("{last} (gave up after {} tries)", self.attempts))
    }
}
