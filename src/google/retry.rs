//! Riding out transient faults: jittered exponential backoff within a number
//! of tries and a time budget, honouring `Retry-After` (or Google's
//! `RetryInfo`), and telling an observer what is being waited for.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::error::{BackendError, Progress, RetryObserver, Retrying};

/// How long and how often a failing call is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts after this much time since the first try.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            budget: Duration::from_secs(60),
        }
    }
}

/// A factor in [0.5, 1.0): "equal jitter", so that clients do not retry in step.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    0.5 + (h.finish() % 1_000) as f64 / 2_000.0
}

/// The wait the peer asked for, if any.
pub fn asked_wait(err: &BackendError) -> Option<Duration> {
    match err {
        BackendError::Unavailable { retry_after, .. } => *retry_after,
        _ => None,
    }
}

impl RetryPolicy {
    /// One try only (tests, and callers that retry themselves).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before try `failed + 1` after `failed` failures (1-based).
    pub fn delay(&self, failed: u32, err: &BackendError) -> Duration {
        let exp = self
            .first_delay
            .saturating_mul(1u32 << failed.saturating_sub(1).min(16))
            .min(self.max_delay);
        exp.mul_f64(jitter())
            .max(asked_wait(err).unwrap_or_default())
    }
}

/// One call's tries: counts failures and decides whether (and how long) to
/// wait before the next one.
pub struct Tries<'a> {
    policy: &'a RetryPolicy,
    observer: Option<RetryObserver>,
    call: String,
    started: Instant,
    pub failed: u32,
}

impl<'a> Tries<'a> {
    pub fn new(policy: &'a RetryPolicy, observer: Option<RetryObserver>, call: &str) -> Tries<'a> {
        Tries {
            policy,
            observer,
            call: call.to_string(),
            started: Instant::now(),
            failed: 0,
        }
    }

    /// Tries so far (the one that just failed included).
    pub fn count(&self) -> u32 {
        self.failed
    }

    pub fn of(&self) -> u32 {
        self.policy.attempts.max(1)
    }

    /// After a failure: waits and returns `true` when another try is worth
    /// it, `false` when the tries or the time budget are spent (or the wait
    /// the peer asked for goes beyond the budget).
    pub async fn again(&mut self, err: &BackendError) -> bool {
        self.failed += 1;
        if self.failed >= self.of() {
            return false;
        }
        let wait = self.policy.delay(self.failed, err);
        // Saturating: `Retry-After` is the peer's number (`Retry-After:
        // 18446744073709551615` would overflow a plain sum).
        if self.started.elapsed().saturating_add(wait) > self.policy.budget {
            return false;
        }
        let note = Retrying {
            call: self.call.clone(),
            attempt: self.failed + 1,
            of: self.of(),
            wait,
            why: err.to_string(),
        };
        tracing::warn!(call = %note.call, attempt = note.attempt, of = note.of, wait_ms = wait.as_millis() as u64, why = %note.why, "retrying");
        if let Some(o) = &self.observer {
            o(&Progress::Retrying(note));
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// Tells the observer how an unclear answer was resolved.
    pub fn read_back(&self, answer: &BackendError, outcome: &str) {
        tracing::info!(call = %self.call, answer = %answer, outcome, "unclear answer resolved by a re-read");
        if let Some(o) = &self.observer {
            o(&Progress::ReadBack {
                call: self.call.clone(),
                answer: answer.to_string(),
                outcome: outcome.to_string(),
            });
        }
    }

    /// `err`, saying how many tries it took.
    pub fn gave_up(&self, err: BackendError) -> BackendError {
        if self.failed <= 1 {
            return err;
        }
        let n = self.failed;
        match err {
            BackendError::Unavailable {
                message,
                retry_after,
            } => BackendError::Unavailable {
                message: format!("{message} (after {n} tries)"),
                retry_after,
            },
            BackendError::Other(m) => BackendError::Other(format!("{m} (after {n} tries)")),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_jittered_capped_and_honour_retry_after() {
        let p = RetryPolicy::default();
        let e = BackendError::Other("x".into());
        for _ in 0..50 {
            let d1 = p.delay(1, &e);
            assert!(d1 >= Duration::from_millis(125) && d1 < Duration::from_millis(250));
            let d3 = p.delay(3, &e);
            assert!(d3 >= Duration::from_millis(500) && d3 < Duration::from_secs(1));
            assert!(p.delay(30, &e) < Duration::from_secs(4));
        }
        let slow = BackendError::Unavailable {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(p.delay(1, &slow), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn tries_stop_at_the_count_or_the_budget() {
        let p = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        let e = BackendError::Other("x".into());
        let mut t = Tries::new(&p, None, "GET x");
        assert!(t.again(&e).await);
        assert!(t.again(&e).await);
        assert!(!t.again(&e).await);
        assert_eq!(t.count(), 3);
        let tight = RetryPolicy {
            budget: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let mut t = Tries::new(&tight, None, "GET x");
        let far = BackendError::Unavailable {
            message: "m".into(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(
            !t.again(&far).await,
            "a wait beyond the budget is not taken"
        );
    }

    /// A peer asking for the largest wait a header can say: given up, no panic.
    #[tokio::test(start_paused = true)]
    async fn an_absurd_retry_after_gives_up_without_a_panic() {
        let p = RetryPolicy::default();
        let asked = crate::google::errors::from_response(
            503,
            Some("18446744073709551615"),
            "",
            "GET x",
            chrono::Utc::now(),
        );
        assert_eq!(asked_wait(&asked), Some(Duration::from_secs(u64::MAX)));
        let mut t = Tries::new(&p, None, "GET x");
        // The failed try itself took a while (a slow 503).
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(
            !t.again(&asked).await,
            "a wait beyond the budget is not taken"
        );
        assert_eq!(t.count(), 1);
    }
}
