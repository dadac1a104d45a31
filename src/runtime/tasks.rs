//! Background tasks: each owns its data and sends actions back. A failing or
//! slow backend only delays its own task; the screen keeps going.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::core::action::Action;
use crate::core::error::BackendError;
use crate::logs::LogSource;
use crate::metrics::{MetricsSource, MetricsWindow};
use crate::platform::Platform;

/// How long to wait after a failure: the configured interval, or longer when
/// the backend asked (Retry-After) or keeps failing (doubling, capped at 60 s).
pub fn backoff(interval: Duration, failures: u32, err: &BackendError) -> Duration {
    let asked = match err {
        BackendError::Unavailable {
            retry_after: Some(d),
            ..
        } => *d,
        _ => Duration::ZERO,
    };
    let exp = interval.saturating_mul(1u32 << failures.min(5));
    exp.min(Duration::from_secs(60)).max(asked).max(interval)
}

/// Reads the service every `interval`, and at once when `now` is notified.
/// When it answers again after failing, `back` wakes the other pollers
/// waiting out a backoff (an outage is over: ask them again now). Each read
/// carries the state's write generation (`generation`) as it was when the
/// read started, so that `update` drops it if a change landed meanwhile.
pub fn spawn_service_poller(
    platform: Arc<dyn Platform>,
    interval: Duration,
    now: Arc<Notify>,
    back: Arc<Notify>,
    generation: watch::Receiver<u64>,
    tx: mpsc::Sender<Action>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let started_at = *generation.borrow();
            let (action, wait) = match platform.snapshot().await {
                Ok(snapshot) => {
                    if failures > 0 {
                        back.notify_waiters();
                    }
                    failures = 0;
                    (
                        Action::ServiceLoaded {
                            snapshot,
                            generation: started_at,
                        },
                        interval,
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "service read failed");
                    let wait = backoff(interval, failures, &e);
                    failures += 1;
                    (Action::ServiceFailed(e), wait)
                }
            };
            if tx.send(action).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = now.notified() => {}
            }
        }
    })
}

/// Fetches the metrics window for the watched revisions every `interval`, and
/// at once when the set of revisions changes, or when the service answers
/// again (`back`) while the metrics are waiting out a failure.
pub fn spawn_metrics_poller(
    source: Arc<dyn MetricsSource>,
    interval: Duration,
    span: Duration,
    step: Duration,
    mut revisions: watch::Receiver<Vec<String>>,
    back: Arc<Notify>,
    tx: mpsc::Sender<Action>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let revs = revisions.borrow_and_update().clone();
            if revs.is_empty() {
                // Nothing to ask for: sleep until there is.
                if revisions.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let mut wait = interval;
            let window = MetricsWindow {
                end: MetricsWindow::aligned_end(Utc::now(), step),
                span,
                step,
            };
            let action = match source.fetch(&revs, window).await {
                Ok(batch) => {
                    failures = 0;
                    Action::MetricsLoaded(batch)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics fetch failed");
                    wait = backoff(interval, failures, &e);
                    failures += 1;
                    Action::MetricsFailed(e)
                }
            };
            if tx.send(action).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = revisions.changed() => if changed.is_err() { return },
                _ = back.notified(), if failures > 0 => {}
            }
        }
    })
}

/// Tails logs every `interval`; a new focus (one revision or all) is passed
/// to the source and read at once.
pub fn spawn_log_poller(
    mut source: Box<dyn LogSource>,
    interval: Duration,
    mut focus: watch::Receiver<Option<String>>,
    tx: mpsc::Sender<Action>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        let mut focus_open = true;
        loop {
            let (action, wait) = match source.poll().await {
                Ok(entries) => {
                    failures = 0;
                    (Action::LogBatch(entries), interval)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "log poll failed");
                    let wait = backoff(interval, failures, &e);
                    failures += 1;
                    (Action::LogsFailed(e), wait)
                }
            };
            if tx.send(action).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = focus.changed(), if focus_open => match changed {
                    Ok(()) => {
                        let revision = focus.borrow_and_update().clone();
                        source.focus(revision.as_deref());
                    }
                    Err(_) => focus_open = false,
                },
            }
        }
    })
}

/// Reads the driver's lease every `interval` (the service's refresh): a
/// plan another process drives is shown; a failure backs off like a
/// service read (doubling, capped at 60 s).
pub fn spawn_lease_poller(
    lease: Arc<dyn crate::platform::lease::Lease>,
    interval: Duration,
    tx: mpsc::Sender<Action>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let location = lease.location();
        let mut failures = 0u32;
        loop {
            let read = lease.read().await.map_err(|e| e.to_string());
            failures = if read.is_ok() { 0 } else { failures + 1 };
            let wait = interval.saturating_mul(1u32 << failures.min(5));
            let action = Action::LeaseRead {
                lease: read,
                location: location.clone(),
            };
            if tx.send(action).await.is_err() {
                return;
            }
            tokio::time::sleep(wait.min(Duration::from_secs(60)).max(interval)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::MetricsBatch;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails while `down`, counting its calls.
    struct Flaky {
        calls: AtomicU32,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl MetricsSource for Flaky {
        async fn fetch(
            &self,
            _: &[String],
            _: MetricsWindow,
        ) -> Result<MetricsBatch, BackendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(BackendError::Other("down".into()))
            } else {
                Ok(MetricsBatch::default())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_are_asked_again_as_soon_as_the_service_answers() {
        let source = Arc::new(Flaky {
            calls: AtomicU32::new(0),
            down: std::sync::atomic::AtomicBool::new(true),
        });
        let back = Arc::new(Notify::new());
        let (_wtx, wrx) = watch::channel(vec!["r".to_string()]);
        let (tx, mut rx) = mpsc::channel(64);
        let task = spawn_metrics_poller(
            source.clone(),
            Duration::from_secs(5),
            Duration::from_secs(600),
            Duration::from_secs(10),
            wrx,
            back.clone(),
            tx,
        );
        // Four failures: the wait has grown to 40 s.
        for _ in 0..4 {
            assert!(matches!(rx.recv().await, Some(Action::MetricsFailed(_))));
        }
        source.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = source.calls.load(Ordering::SeqCst);
        back.notify_waiters();
        let got = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
        assert!(
            matches!(got, Ok(Some(Action::MetricsLoaded(_)))),
            "asked again at once, not after the backoff"
        );
        assert_eq!(source.calls.load(Ordering::SeqCst), before + 1);
        task.abort();
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let i = Duration::from_secs(2);
        let other = BackendError::Other("x".into());
        assert_eq!(backoff(i, 0, &other), Duration::from_secs(2));
        assert_eq!(backoff(i, 2, &other), Duration::from_secs(8));
        assert_eq!(backoff(i, 30, &other), Duration::from_secs(60));
        let slow = BackendError::Unavailable {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(backoff(i, 0, &slow), Duration::from_secs(30));
    }
}
