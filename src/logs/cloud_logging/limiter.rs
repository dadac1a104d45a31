//! A sliding-window rate limiter: at most `max` calls in any `window`, plus a
//! hold-off after the API said "too many requests". Share one per project
//! between sources ([`super::CloudLoggingSettings::limiter`]): Cloud Logging's
//! read quota (about 60 `entries:list` calls a minute) is per project.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

struct Inner {
    calls: VecDeque<Instant>,
    not_before: Option<Instant>,
}

/// At most `max` calls per `window`.
pub struct RateLimiter {
    max: usize,
    window: Duration,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `max` calls per `window` (`max` is at least 1).
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max: max.max(1) as usize,
            window,
            inner: Mutex::new(Inner {
                calls: VecDeque::new(),
                not_before: None,
            }),
        }
    }

    /// `max` calls a minute, ready to share.
    pub fn per_minute(max: u32) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(max, Duration::from_secs(60)))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the next call must wait (zero: go now, and it is counted).
    fn try_take(&self, now: Instant) -> Duration {
        let mut inner = self.lock();
        if let Some(nb) = inner.not_before {
            if now < nb {
                return nb - now;
            }
            inner.not_before = None;
        }
        while inner
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            inner.calls.pop_front();
        }
        if inner.calls.len() < self.max {
            inner.calls.push_back(now);
            return Duration::ZERO;
        }
        let oldest = inner.calls.front().copied().unwrap_or(now);
        (oldest + self.window).saturating_duration_since(now)
    }

    /// Waits until a call is allowed, and counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = self.try_take(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// No call before `until` (after a 429).
    pub fn hold_off(&self, until: Instant) {
        let mut inner = self.lock();
        inner.not_before = Some(inner.not_before.map_or(until, |nb| nb.max(until)));
    }

    /// Calls counted in the current window.
    pub fn recent_calls(&self) -> usize {
        let now = Instant::now();
        self.lock()
            .calls
            .iter()
            .filter(|t| now.duration_since(**t) < self.window)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keeps_within_the_window() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert_eq!(l.recent_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn hold_off_delays_the_next_call() {
        let l = RateLimiter::new(100, Duration::from_secs(60));
        let start = Instant::now();
        l.hold_off(start + Duration::from_secs(8));
        l.hold_off(start + Duration::from_secs(2));
        l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }
}
