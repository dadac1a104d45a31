//! The runtime's side of the audit journal and of notifications.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use crate::journal::{Event, Journal, Record, Who};

/// Appends records to the journal on a blocking thread, fsynced, in order
/// per caller. Without a journal (tests, `--no-journal`) it does nothing.
#[derive(Clone)]
pub struct Recorder {
    journal: Option<Arc<Mutex<Journal>>>,
    who: Who,
    service: String,
}

impl Recorder {
    pub fn new(journal: Option<Journal>, who: Who, service: String) -> Recorder {
        Recorder {
            journal: journal.map(|j| Arc::new(Mutex::new(j))),
            who,
            service,
        }
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

    /// Writes one record and returns once it is on disk.
    pub async fn record(&self, event: Event) -> Result<(), String> {
        let Some(j) = self.journal.clone() else {
            return Ok(());
        };
        let record = Record {
            at: Utc::now(),
            who: self.who.clone(),
            service: self.service.clone(),
            event,
        };
        tokio::task::spawn_blocking(move || {
            let mut j = j.lock().map_err(|_| "journal lock poisoned".to_string())?;
            j.append(&record)
                .map_err(|e| format!("{}: {e}", j.path().display()))
        })
        .await
        .map_err(|e| format!("journal task failed: {e}"))?
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

    pub fn is_configured(&self) -> bool {
        self.url.is_some()
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
