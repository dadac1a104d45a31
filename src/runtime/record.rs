//! The runtime's side of the audit journal and of notifications.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::journal::{Event, Journal, Record, Who};

/// Appends records to the journal, fsynced, **in the order they were
/// submitted**: one writer thread owns the file and takes records from a
/// queue, so two effects produced by one `update` can never land swapped
/// (the replay after a crash relies on the order). Without a journal (tests,
/// `enabled = false`) it does nothing.
#[derive(Clone)]
pub struct Recorder {
    queue: Option<std::sync::mpsc::Sender<(Record, Ack)>>,
    /// The journal file, for the history view and the report.
    path: Option<std::path::PathBuf>,
    who: Who,
    service: String,
}

type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

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

impl Recorder {
    pub fn new(journal: Option<Journal>, who: Who, service: String) -> Recorder {
        let path = journal.as_ref().map(|j| j.path().to_path_buf());
        let queue = journal.and_then(|mut j| {
            let (tx, rx) = std::sync::mpsc::channel::<(Record, Ack)>();
            let spawned = std::thread::Builder::new()
                .name("journal-writer".into())
                .spawn(move || {
                    for (record, ack) in rx {
                        let result = j
                            .append(&record)
                            .map_err(|e| format!("{}: {e}", j.path().display()));
                        let _ = ack.send(result);
                    }
                });
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
        }
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
        }
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
