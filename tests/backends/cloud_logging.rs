//! The Cloud Logging source against the fake's `entries:list` on 127.0.0.1:0:
//! tailing without gaps or duplicates (late entries included), the revision
//! filter, paging, rendering, the call budget, and failures.

use std::time::{Duration, Instant};

use canary::core::error::BackendError;
use canary::core::model::{LogEntry, Severity};
use canary::google::Auth;
use canary::logs::cloud_logging::{CloudLogging, CloudLoggingSettings, RateLimiter};
use canary::logs::LogSource;
use canary_fakes::cloud_run::{
    FakeCloudRun, FakeLogEntry, Fault, Route, ServiceRef, DEMO_CANARY, DEMO_STABLE,
};
use chrono::Utc;
use serde_json::Value;

fn settings(url: &str, at: &ServiceRef) -> CloudLoggingSettings {
    let mut s = CloudLoggingSettings::new(&at.project, &at.service, Auth::None).with_endpoint(url);
    s.request_timeout = Duration::from_secs(5);
    // Tests poll far faster than 2 s: a budget that never gets in the way.
    s.limiter = RateLimiter::per_minute(10_000);
    s
}

async fn setup() -> (FakeCloudRun, CloudLogging, ServiceRef) {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let src = CloudLogging::new(settings(&url, &at)).unwrap();
    (fake, src, at)
}

fn ago(secs: i64) -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(secs)
}

fn text(at: &ServiceRef, rev: &str, msg: &str) -> FakeLogEntry {
    FakeLogEntry::text(at, rev, Severity::Info, msg)
}

fn messages(v: &[LogEntry]) -> Vec<&str> {
    v.iter().map(|e| e.message.as_str()).collect()
}

fn list_bodies(fake: &FakeCloudRun) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r.route == Route::ListLogEntries)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn tails_without_gaps_or_duplicates_and_catches_late_entries() {
    let (fake, mut src, at) = setup().await;
    // Before the lookback (5 min): never shown.
    fake.append_log(text(&at, DEMO_STABLE, "too old").at(ago(600)));
    fake.append_log(text(&at, DEMO_STABLE, "one").at(ago(30)));
    fake.append_log(text(&at, DEMO_STABLE, "two").at(ago(20)));
    let first = src.poll().await.unwrap();
    assert_eq!(messages(&first), ["one", "two"]);

    assert!(
        src.poll().await.unwrap().is_empty(),
        "nothing new: nothing returned"
    );

    // New entries, and a late one whose timestamp is older than "two" but
    // within the overlap window.
    fake.append_log(text(&at, DEMO_STABLE, "three").at(ago(5)));
    fake.append_log(text(&at, DEMO_STABLE, "late").at(ago(22)));
    let next = src.poll().await.unwrap();
    assert_eq!(messages(&next), ["late", "three"], "oldest first");
    // Two entries with the same timestamp are both kept (insertId differs).
    let t = ago(1);
    fake.append_log(text(&at, DEMO_STABLE, "same-a").at(t));
    fake.append_log(text(&at, DEMO_STABLE, "same-b").at(t));
    let mut same = messages(&src.poll().await.unwrap()).join(",");
    same = same.replace("same-b,same-a", "same-a,same-b");
    assert_eq!(same, "same-a,same-b");
    assert!(src.poll().await.unwrap().is_empty());

    // What was sent: the documented request shape, a moving lower bound.
    let bodies = list_bodies(&fake);
    for b in &bodies {
        assert_eq!(
            b["resourceNames"],
            serde_json::json!(["projects/emergence-469005"])
        );
        assert_eq!(b["orderBy"], "timestamp asc");
        assert_eq!(b["pageSize"], 1000);
        let f = b["filter"].as_str().unwrap();
        assert!(
            f.starts_with(r#"resource.type="cloud_run_revision" AND resource.labels.service_name="emergence-app" AND timestamp>=""#),
            "{f}"
        );
    }
    let floors: Vec<&str> = bodies
        .iter()
        .map(|b| b["filter"].as_str().unwrap().rsplit(">=").next().unwrap())
        .collect();
    assert!(floors.windows(2).all(|w| w[0] <= w[1]), "{floors:?}");
    assert_ne!(floors.first(), floors.last(), "the lower bound moves on");
}

#[tokio::test]
async fn the_revision_filter_follows_the_selection() {
    let (fake, mut src, at) = setup().await;
    fake.append_log(text(&at, DEMO_STABLE, "stable says").at(ago(40)));
    fake.append_log(text(&at, DEMO_CANARY, "canary says").at(ago(30)));
    let other = ServiceRef::new(&at.project, &at.region, "another-app");
    fake.append_log(text(&other, "another-app-00001-aaa", "not ours").at(ago(30)));
    let filter = src.revision_filter();
    filter.set(Some(DEMO_CANARY.into()));
    let got = src.poll().await.unwrap();
    assert_eq!(messages(&got), ["canary says"]);
    assert_eq!(got[0].revision.as_deref(), Some(DEMO_CANARY));
    let last = list_bodies(&fake).pop().unwrap();
    assert!(last["filter"]
        .as_str()
        .unwrap()
        .contains(&format!(r#"resource.labels.revision_name="{DEMO_CANARY}""#)));

    // Back to the whole service: the stable's history shows, the canary's
    // entry is not repeated.
    filter.set(None);
    assert_eq!(filter.get(), None);
    let got = src.poll().await.unwrap();
    assert_eq!(messages(&got), ["stable says"]);
    let last = list_bodies(&fake).pop().unwrap();
    assert!(!last["filter"].as_str().unwrap().contains("revision_name"));
}

#[tokio::test]
async fn every_page_is_read_across_polls_including_empty_pages() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let mut s = settings(&url, &at);
    s.page_size = 10;
    s.max_pages_per_poll = 3;
    let mut src = CloudLogging::new(s).unwrap();
    let base = ago(200);
    fake.append_logs((0..95).map(|i| {
        text(&at, DEMO_STABLE, &format!("line {i:03}")).at(base + chrono::Duration::seconds(i))
    }));
    let first = src.poll().await.unwrap();
    assert_eq!(first.len(), 30, "three pages of ten");
    let mut all = first;
    for _ in 0..5 {
        all.extend(src.poll().await.unwrap());
    }
    let got = messages(&all);
    let want: Vec<String> = (0..95).map(|i| format!("line {i:03}")).collect();
    assert_eq!(got, want, "all of them, in order, once");
    // Pages after the first carry the token and the same filter.
    let bodies = list_bodies(&fake);
    assert!(bodies[1]["pageToken"].is_string());
    assert_eq!(bodies[0]["filter"], bodies[1]["filter"]);

    // Sparse logs: the API answers empty pages that still carry a token.
    fake.set_log_scan_limit(Some(4));
    let other = ServiceRef::new(&at.project, &at.region, "another-app");
    fake.append_logs((0..12).map(|i| text(&other, "x", &format!("noise {i}"))));
    fake.append_log(text(&at, DEMO_CANARY, "needle"));
    let mut found = Vec::new();
    for _ in 0..5 {
        found.extend(src.poll().await.unwrap());
        if !found.is_empty() {
            break;
        }
    }
    assert_eq!(messages(&found), ["needle"]);
}

#[tokio::test]
async fn entries_are_rendered_compactly() {
    let (fake, mut src, at) = setup().await;
    fake.append_log(
        FakeLogEntry::request(
            &at,
            DEMO_CANARY,
            "GET",
            "/api/health",
            503,
            Duration::from_millis(1520),
        )
        .at(ago(3)),
    );
    fake.append_log(
        FakeLogEntry::json(&at, DEMO_CANARY, Severity::Warning, "cache cold").at(ago(2)),
    );
    fake.append_log(
        FakeLogEntry::text(&at, DEMO_CANARY, Severity::Error, "Traceback:\n  boom").at(ago(1)),
    );
    let got = src.poll().await.unwrap();
    assert_eq!(
        messages(&got),
        [
            "GET 503 1.52 s /api/health",
            "cache cold",
            "Traceback: boom"
        ]
    );
    assert_eq!(got[0].status, Some(503));
    assert_eq!(got[0].severity, Severity::Error);
    assert_eq!(got[1].severity, Severity::Warning);
    assert_eq!(got[1].status, None);
    assert!(got
        .iter()
        .all(|e| e.revision.as_deref() == Some(DEMO_CANARY)));
}

#[tokio::test]
async fn failures_say_what_to_do_and_lose_nothing() {
    let (fake, mut src, at) = setup().await;
    fake.append_log(text(&at, DEMO_STABLE, "before").at(ago(10)));

    fake.inject(Route::ListLogEntries, Fault::Status(403), 1);
    match src.poll().await.unwrap_err() {
        BackendError::Auth(m) => {
            assert!(m.contains("logging.logEntries.list"), "{m}");
            assert!(m.contains("roles/logging.viewer"), "{m}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }

    fake.inject(Route::ListLogEntries, Fault::Status(500), 1);
    let err = src.poll().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    fake.inject(Route::ListLogEntries, Fault::MalformedJson, 1);
    match src.poll().await.unwrap_err() {
        BackendError::Other(m) => assert!(m.contains("malformed response for log entries"), "{m}"),
        other => panic!("expected Other, got {other:?}"),
    }

    // 429: the error carries Retry-After and the next call waits for it.
    fake.inject(
        Route::ListLogEntries,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    match src.poll().await.unwrap_err() {
        BackendError::Unavailable {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
            assert!(message.contains("60 reads a minute"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let started = Instant::now();
    let got = src.poll().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "held off");
    assert_eq!(messages(&got), ["before"], "nothing lost to the failures");

    // A refused token is explained without quoting it.
    fake.require_token(Some("ya29.good"));
    let mut s = settings(&fake.base_url(), &at);
    s.auth = Auth::static_token("ya29.stale-secret");
    let mut bad = CloudLogging::new(s).unwrap();
    match bad.poll().await.unwrap_err() {
        BackendError::Auth(m) => {
            assert!(m.contains("401 UNAUTHENTICATED"), "{m}");
            assert!(!m.contains("ya29"), "{m}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(!format!("{bad:?}").contains("ya29"));
}

#[tokio::test]
async fn the_fake_goes_away_and_comes_back_without_a_gap() {
    let (fake, mut src, at) = setup().await;
    fake.append_log(text(&at, DEMO_STABLE, "a").at(ago(10)));
    assert_eq!(messages(&src.poll().await.unwrap()), ["a"]);
    fake.stop();
    fake.append_log(text(&at, DEMO_STABLE, "b").at(ago(5)));
    match src.poll().await.unwrap_err() {
        BackendError::Unavailable { message, .. } => {
            assert!(message.contains(&fake.base_url()), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    fake.restart().unwrap();
    fake.append_log(text(&at, DEMO_STABLE, "c").at(ago(1)));
    assert_eq!(messages(&src.poll().await.unwrap()), ["b", "c"]);
}

#[tokio::test]
async fn the_call_budget_is_kept() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let limiter = std::sync::Arc::new(RateLimiter::new(3, Duration::from_millis(700)));
    let mut a = CloudLogging::new(settings(&url, &at).with_limiter(limiter.clone())).unwrap();
    let mut b = CloudLogging::new(settings(&url, &at).with_limiter(limiter.clone())).unwrap();
    let started = Instant::now();
    for _ in 0..2 {
        a.poll().await.unwrap();
        b.poll().await.unwrap();
    }
    // Four calls from two sources of one project: the fourth waited.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(list_bodies(&fake).len(), 4);
    let defaults = CloudLoggingSettings::new("p", "s", Auth::None);
    assert_eq!(defaults.poll_interval, Duration::from_secs(2));
    assert_eq!(defaults.overlap, Duration::from_secs(10));
}
