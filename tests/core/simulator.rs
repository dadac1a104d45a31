//! The built-in simulator: determinism, scenarios, Cloud-Run-like traffic semantics,
//! metrics aggregation and the log tail. All on tokio's paused clock.

use std::collections::HashSet;
use std::time::Duration;

use canary::core::error::BackendError;
use canary::core::model::{MetricKind, MetricsBatch, ServiceSnapshot, Severity, TrafficSplit};
use canary::logs::LogSource;
use canary::metrics::{MetricsSource, MetricsWindow};
use canary::platform::simulator::{Scenario, Simulator, LOG_CAPACITY};
use canary::platform::Platform;
use chrono::{DateTime, TimeZone, Utc};

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 30, 0).unwrap()
}

fn sim(scenario: &str, seed: u64) -> Simulator {
    Simulator::with_epoch(Scenario::builtin(scenario).unwrap(), seed, epoch())
}

async fn advance(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

fn canary_of(s: &ServiceSnapshot) -> String {
    s.resolve("canary").unwrap().name.clone()
}

fn stable_of(s: &ServiceSnapshot) -> String {
    s.traffic.largest().unwrap().to_string()
}

/// Puts `pct` % on the canary (the rest on stable) through `set_traffic`.
async fn shift(sim: &Simulator, pct: u32) -> ServiceSnapshot {
    let snap = sim.snapshot().await.unwrap();
    let (canary, stable) = (canary_of(&snap), stable_of(&snap));
    let stable = if stable == canary {
        snap.revisions[1].name.clone()
    } else {
        stable
    };
    let split = TrafficSplit::new([(canary, pct), (stable, 100 - pct)]).unwrap();
    sim.set_traffic(&split, &snap.version).await.unwrap()
}

/// One value aggregated over the last `span_secs` (a single bucket).
async fn value(sim: &Simulator, rev: &str, kind: MetricKind, span_secs: u64) -> Option<f64> {
    let span = Duration::from_secs(span_secs);
    let window = MetricsWindow {
        end: sim.now(),
        span,
        step: span,
    };
    let batch = sim.fetch(&[rev.to_string()], window).await.unwrap();
    batch.series[&(rev.to_string(), kind)].last()
}

async fn everything(sim: &Simulator) -> MetricsBatch {
    let snap = sim.snapshot().await.unwrap();
    let names: Vec<String> = snap.revisions.iter().map(|r| r.name.clone()).collect();
    let window = MetricsWindow {
        end: sim.now(),
        span: Duration::from_secs(600),
        step: Duration::from_secs(5),
    };
    sim.fetch(&names, window).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_world_different_seed_different_world() {
    let (a, b, c) = (
        sim("bad-canary", 7),
        sim("bad-canary", 7),
        sim("bad-canary", 8),
    );
    let _handles = [a.start(), b.start(), c.start()];
    let (mut la, mut lb, mut lc) = (a.log_source(), b.log_source(), c.log_source());
    let snap = a.snapshot().await.unwrap();
    let split = TrafficSplit::new([(canary_of(&snap), 20), (stable_of(&snap), 80)]).unwrap();
    for s in [&a, &b, &c] {
        s.set_traffic_externally(&split).unwrap();
    }
    advance(45).await;
    let (ma, mb, mc) = (
        everything(&a).await,
        everything(&b).await,
        everything(&c).await,
    );
    assert_eq!(ma, mb);
    assert_ne!(ma, mc);
    let (pa, pb, pc) = (
        la.poll().await.unwrap(),
        lb.poll().await.unwrap(),
        lc.poll().await.unwrap(),
    );
    assert!(!pa.is_empty());
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
}

#[tokio::test(start_paused = true)]
async fn bad_canary_degrades_after_traffic_while_stable_stays_healthy() {
    let sim = sim("bad-canary", 42);
    let _driver = sim.start();
    let snap = shift(&sim, 10).await;
    let (canary, stable) = (canary_of(&snap), stable_of(&snap));
    advance(4).await;
    shift(&sim, 50).await;
    advance(5).await;
    let early = value(&sim, &canary, MetricKind::ErrorPercent, 10)
        .await
        .unwrap();
    assert!(early < 2.0, "canary 5xx {early} % after ~10 s");
    // Fully degraded 45 s after first traffic; look at the last 25 s at ~75 s
    // (about 600 canary requests, so binomial noise stays well above 5 %).
    advance(65).await;
    let late = value(&sim, &canary, MetricKind::ErrorPercent, 25)
        .await
        .unwrap();
    assert!(late >= 5.0, "canary 5xx {late} % after ~75 s");
    let stable_err = value(&sim, &stable, MetricKind::ErrorPercent, 75)
        .await
        .unwrap();
    assert!(stable_err < 1.0, "stable 5xx {stable_err} %");
}

#[tokio::test(start_paused = true)]
async fn slow_canary_is_slow_and_healthy_is_not() {
    let slow = sim("slow-canary", 3);
    let healthy = sim("healthy", 3);
    let _drivers = [slow.start(), healthy.start()];
    let (s1, s2) = tokio::join!(shift(&slow, 25), shift(&healthy, 25));
    advance(60).await;
    let p95 = |s, r: String| async move { value(s, &r, MetricKind::LatencyP95, 60).await.unwrap() };
    let err =
        |s, r: String| async move { value(s, &r, MetricKind::ErrorPercent, 60).await.unwrap() };
    let slow_canary = p95(&slow, canary_of(&s1)).await;
    let slow_stable = p95(&slow, stable_of(&s1)).await;
    assert!(slow_canary > 700.0, "slow canary p95 {slow_canary}");
    assert!(slow_stable < 400.0, "stable p95 {slow_stable}");
    for rev in [canary_of(&s2), stable_of(&s2)] {
        let p = p95(&healthy, rev.clone()).await;
        let e = err(&healthy, rev.clone()).await;
        assert!((150.0..260.0).contains(&p), "{rev} p95 {p}");
        assert!(e < 1.0, "{rev} 5xx {e}");
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_follows_the_actual_split() {
    let sim = sim("healthy", 11);
    let _driver = sim.start();
    let snap = shift(&sim, 25).await;
    advance(120).await;
    let canary = value(&sim, &canary_of(&snap), MetricKind::RequestRate, 120)
        .await
        .unwrap();
    let stable = value(&sim, &stable_of(&snap), MetricKind::RequestRate, 120)
        .await
        .unwrap();
    let share = canary / (canary + stable);
    assert!((0.21..0.29).contains(&share), "canary share {share}");
    assert!(
        (40.0..60.0).contains(&(canary + stable)),
        "total {}",
        canary + stable
    );
}

#[tokio::test(start_paused = true)]
async fn set_traffic_semantics() {
    let sim = sim("healthy", 1);
    let before = sim.snapshot().await.unwrap();
    let (canary, stable) = (canary_of(&before), stable_of(&before));
    assert_eq!(before.revisions.len(), 3);
    assert!(before
        .revisions
        .windows(2)
        .all(|w| w[0].created >= w[1].created));
    assert!(!before.reconciling);
    assert_eq!(before.actual.as_ref(), Some(&before.traffic));
    let tag_url = before.resolve("canary").unwrap().tag_url.clone();
    assert_eq!(
        tag_url.as_deref(),
        Some("https://canary---emergence-app-x7k2p9-ew.a.run.app")
    );

    let split = TrafficSplit::new([(canary.clone(), 10), (stable.clone(), 90)]).unwrap();
    // Pending while the change converges.
    let task = {
        let (sim, split, v) = (sim.clone(), split.clone(), before.version.clone());
        tokio::spawn(async move { sim.set_traffic(&split, &v).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = sim.snapshot().await.unwrap();
    assert!(pending.reconciling);
    assert_eq!(pending.traffic, split);
    assert_eq!(pending.actual, Some(before.traffic.clone()));
    assert_ne!(pending.version, before.version);
    let done = task.await.unwrap().unwrap();
    assert!(!done.reconciling);
    assert_eq!(done.actual.as_ref(), Some(&split));
    assert_eq!(done.resolve("canary").unwrap().tag_url, tag_url);

    // A stale version conflicts.
    let back = TrafficSplit::all_to(stable.clone());
    let stale = sim.set_traffic(&back, &before.version).await;
    assert!(matches!(stale, Err(BackendError::Conflict(_))), "{stale:?}");

    // Unknown revisions are refused.
    let unknown = TrafficSplit::all_to("emergence-app-00099-zzz");
    let r = sim.set_traffic(&unknown, &done.version).await;
    assert!(matches!(r, Err(BackendError::Refused(_))), "{r:?}");

    // More traffic to an unready revision is refused; less is fine.
    assert!(sim.set_ready(&canary, false));
    assert!(!sim.set_ready("nope", false));
    let more = TrafficSplit::new([(canary.clone(), 20), (stable.clone(), 80)]).unwrap();
    let r = sim.set_traffic(&more, &done.version).await;
    assert!(matches!(r, Err(BackendError::Refused(_))), "{r:?}");
    let snap = sim.snapshot().await.unwrap();
    assert!(snap.revision(&canary).unwrap().status_message.is_some());
    let after = sim.set_traffic(&back, &snap.version).await.unwrap();
    assert_eq!(after.serving(), &back);
    assert!(after.resolve("canary").is_some(), "the tag survives at 0 %");

    // Someone else changes the service: our version goes stale.
    let ext = sim.set_traffic_externally(&split).unwrap();
    assert_ne!(ext.version, after.version);
    let r = sim.set_traffic(&back, &after.version).await;
    assert!(matches!(r, Err(BackendError::Conflict(_))), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn unready_canary_cannot_get_traffic() {
    let sim = sim("unready-canary", 5);
    let snap = sim.snapshot().await.unwrap();
    assert!(!snap.resolve("canary").unwrap().ready);
    let r = shift_result(&sim, &snap, 10).await;
    assert!(matches!(r, Err(BackendError::Refused(_))), "{r:?}");
    assert!(sim.set_ready(&canary_of(&snap), true));
    assert!(shift_result(&sim, &snap, 10).await.is_ok());
}

async fn shift_result(
    sim: &Simulator,
    snap: &ServiceSnapshot,
    pct: u32,
) -> Result<ServiceSnapshot, BackendError> {
    let split = TrafficSplit::new([(canary_of(snap), pct), (stable_of(snap), 100 - pct)]).unwrap();
    sim.set_traffic(&split, &snap.version).await
}

#[tokio::test(start_paused = true)]
async fn a_revision_without_traffic_has_no_data() {
    let sim = sim("healthy", 9);
    let _driver = sim.start();
    advance(120).await;
    let snap = sim.snapshot().await.unwrap();
    let names: Vec<String> = snap.revisions.iter().map(|r| r.name.clone()).collect();
    let window = MetricsWindow {
        end: sim.now(),
        span: Duration::from_secs(60),
        step: Duration::from_secs(10),
    };
    let batch = sim.fetch(&names, window).await.unwrap();
    assert_eq!(batch.series.len(), names.len() * 3);
    let stable = stable_of(&snap);
    for name in &names {
        for kind in MetricKind::ALL {
            let points = &batch.series[&(name.clone(), kind)].points;
            if *name == stable {
                assert_eq!(points.len(), 6, "{name} {kind:?}");
                assert_eq!(points.last().unwrap().0, window.end);
            } else {
                assert!(points.is_empty(), "{name} {kind:?} {points:?}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn log_tail_never_duplicates_and_stays_bounded() {
    let sim = sim("bad-canary", 13);
    let _driver = sim.start();
    let mut often = sim.log_source();
    let mut once = sim.log_source();
    shift(&sim, 50).await;
    let mut seen = Vec::new();
    for _ in 0..20 {
        advance(3).await;
        seen.extend(often.poll().await.unwrap());
    }
    assert!(often.poll().await.unwrap().is_empty());
    let all = once.poll().await.unwrap();
    assert_eq!(seen, all);
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    // ~10 lines/s at 50 req/s, plus errors once the canary degrades.
    assert!(
        (400..2000).contains(&all.len()),
        "{} entries in 60 s",
        all.len()
    );
    let canary = canary_of(&sim.snapshot().await.unwrap());
    assert!(all.iter().any(|e| e.severity == Severity::Error
        && e.revision.as_deref() == Some(canary.as_str())
        && e.status.is_some_and(|s| s >= 500)));
    let unique: HashSet<String> = all.iter().map(|e| format!("{e:?}")).collect();
    assert!(
        unique.len() * 100 >= all.len() * 95,
        "too many identical entries"
    );

    // A reader that falls behind the ring is told how much it lost.
    let mut slow = sim.log_source();
    advance(20 * 60).await;
    let batch = slow.poll().await.unwrap();
    assert!(batch.len() <= LOG_CAPACITY + 1);
    assert_eq!(batch[0].severity, Severity::Warning);
    assert!(
        batch[0].message.contains("log entries dropped"),
        "{}",
        batch[0].message
    );
    assert!(sim.log_source().poll().await.unwrap().len() <= LOG_CAPACITY);
}

#[tokio::test(start_paused = true)]
async fn driver_stops_when_the_simulator_is_dropped() {
    let sim = sim("healthy", 1);
    let handle = sim.start();
    let _tail = sim.log_source();
    advance(3).await;
    assert!(!handle.is_finished());
    drop(sim);
    advance(2).await;
    assert!(handle.is_finished());
}

#[tokio::test(start_paused = true)]
async fn info_and_preview() {
    let sim = sim("healthy", 1);
    let info = sim.info();
    assert_eq!(info.kind, "simulator");
    assert_eq!(info.service, "emergence-app");
    assert_eq!(info.location, "demo-project · europe-west1 (simulated)");
    let split = TrafficSplit::new([
        ("emergence-app-00042-xuv", 90),
        ("emergence-app-00043-kaw", 10),
    ])
    .unwrap();
    assert_eq!(
        canary::core::preview::preview(&sim.snapshot().await.unwrap(), &split),
        vec!["gcloud run services update-traffic emergence-app \
              --to-revisions=emergence-app-00042-xuv=90,emergence-app-00043-kaw=10 \
              --region=europe-west1 --project=demo-project"
            .to_string()]
    );
}

#[test]
fn builtin_scenarios_load() {
    assert!(Scenario::builtin_names().len() >= 4);
    for name in Scenario::builtin_names() {
        let s = Scenario::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, *name);
        assert!(!s.description.is_empty());
        assert_eq!(s.revisions.len(), 3);
    }
    let err = Scenario::load("no-such-scenario").unwrap_err();
    assert!(
        err.contains("bad-canary") && err.contains("healthy"),
        "{err}"
    );
}

#[test]
fn bad_scenario_files_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = include_str!("../../assets/scenarios/healthy.toml");
    let cases = [
        ("p95_ms = 195", "p95_ms = \"fast\"", "p95_ms"),
        (
            "error_percent = 0.2\np95_ms = 195",
            "erorr_percent = 0.2",
            "erorr_percent",
        ),
        (
            "created_ago = \"20m\"",
            "created_ago = \"20 minutes\"",
            "created_ago",
        ),
        ("traffic = 100", "traffic = 90", "traffic"),
        ("log_sample = 0.2", "log_sample = 2.0", "log_sample"),
        (
            "error_percent = 0.2\np95_ms = 195",
            "error_percent = 120.0",
            "error_percent",
        ),
    ];
    for (i, (from, to, key)) in cases.iter().enumerate() {
        let text = good.replacen(from, to, 1);
        assert_ne!(text, good, "case {i} did not apply");
        let path = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = Scenario::load(path.to_str().unwrap()).unwrap_err();
        assert!(err.contains(key), "case {i}: {err}");
        assert!(err.contains(&format!("case{i}.toml")), "case {i}: {err}");
    }
    // A custom file without a name is named after the file.
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, good.replacen("name = \"healthy\"", "", 1)).unwrap();
    assert_eq!(Scenario::load(path.to_str().unwrap()).unwrap().name, "mine");
}
