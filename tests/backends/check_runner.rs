//! The check kinds that need the cockpit's backends (`ready`, `query`,
//! `logs`), run by `checks::runner::Runner` over the simulator (a real
//! `Platform` + `MetricsSource`) and a `RecentLogs` buffer, passing and
//! failing; and the simulator's HTTP front answering the `http` and
//! `metrics-endpoint` checks of the team's battery.

use std::sync::Arc;
use std::time::Duration;

use canary::checks::runner::Runner;
use canary::checks::{CheckKind, CheckSpec, LogsCheck, QueryCheck, QueryMetric};
use canary::checks::{CheckRunner, CheckTarget};
use canary::core::model::{LogEntry, Severity, TrafficSplit};
use canary::core::state::{CheckResult, CheckStatus};
use canary::logs::RecentLogs;
use canary::platform::simulator::{Scenario, Simulator};
use canary::platform::Platform;
use chrono::Utc;

const CANARY: &str = "emergence-app-00043-kaw";
const STABLE: &str = "emergence-app-00042-xuv";

fn spec(name: &str, kind: CheckKind) -> CheckSpec {
    CheckSpec {
        name: name.into(),
        kind,
        blocking: true,
        timeout: Duration::from_secs(30),
    }
}

fn target(sim_tag_url: Option<String>) -> CheckTarget {
    CheckTarget {
        revision: CANARY.into(),
        tag_url: sim_tag_url,
        service_url: None,
        stable: Some(STABLE.into()),
    }
}

/// A simulator whose clock ends "now" after `secs` of paused time with the
/// canary at `pct` %, so windows ending at `Utc::now()` see that traffic.
async fn simulated(scenario: &str, pct: u32, secs: u64) -> Simulator {
    let epoch = Utc::now() - chrono::Duration::seconds(secs as i64);
    let sim = Simulator::with_epoch(Scenario::builtin(scenario).expect("scenario"), 7, epoch);
    let snap = sim.snapshot().await.expect("snapshot");
    let split = TrafficSplit::new([(CANARY, pct), (STABLE, 100 - pct)]).expect("split");
    sim.set_traffic(&split, &snap.version).await.expect("shift");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    sim
}

async fn run_one(runner: &Runner, t: &CheckTarget) -> CheckResult {
    runner.run(0, t).await
}

fn runner(sim: &Simulator, checks: Vec<CheckSpec>, logs: Option<RecentLogs>) -> Runner {
    Runner::new(checks, Arc::new(sim.clone()), Arc::new(sim.clone()), logs)
}

fn error_rate(max: f64, compare: bool) -> CheckKind {
    CheckKind::Query(QueryCheck {
        metric: QueryMetric::ErrorPercent,
        max: Some(max),
        min: None,
        compare_to_stable: compare,
        margin: 0.5,
        window: Duration::from_secs(60),
    })
}

#[tokio::test(start_paused = true)]
async fn ready_passes_for_a_ready_revision_and_fails_with_the_platforms_reason() {
    let sim = Simulator::new(Scenario::builtin("healthy").expect("healthy"), 1);
    let r = runner(&sim, vec![spec("ready", CheckKind::Ready)], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Pass, "{res:?}");

    let sim = Simulator::new(Scenario::builtin("unready-canary").expect("unready"), 1);
    let r = runner(&sim, vec![spec("ready", CheckKind::Ready)], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Fail, "{res:?}");
    assert!(res.reason.contains("not ready"), "{}", res.reason);
    assert_eq!(res.measured.as_deref(), Some("not ready"));
}

#[tokio::test(start_paused = true)]
async fn query_passes_on_a_healthy_canary_and_fails_on_a_bad_one() {
    let sim = simulated("healthy", 50, 120).await;
    let r = runner(&sim, vec![spec("5xx", error_rate(1.0, true))], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Pass, "{res:?}");
    assert!(
        res.expected
            .as_deref()
            .is_some_and(|e| e.contains("≤ 1.00")),
        "{res:?}"
    );

    // bad-canary: 8 % 5xx from ~45 s after first traffic.
    let sim = simulated("bad-canary", 50, 120).await;
    let r = runner(&sim, vec![spec("5xx", error_rate(1.0, false))], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Fail, "{res:?}");
    let measured: f64 = res
        .measured
        .as_deref()
        .expect("measured")
        .parse()
        .expect("a number");
    assert!(measured > 2.0, "{res:?}");
    assert!(res.reason.contains("> max 1.00"), "{}", res.reason);

    // The same as a warning does not block.
    let mut warn = spec("5xx", error_rate(1.0, true));
    warn.blocking = false;
    let r = runner(&sim, vec![warn], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Warn, "{res:?}");
    assert!(
        res.reason.contains("> stable"),
        "compared with the stable: {}",
        res.reason
    );
}

#[tokio::test(start_paused = true)]
async fn query_without_traffic_is_no_data_not_zero() {
    let sim = simulated("healthy", 0, 60).await;
    let mut s = spec("5xx", error_rate(1.0, false));
    s.timeout = Duration::from_secs(12);
    let r = runner(&sim, vec![s], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Fail, "{res:?}");
    assert_eq!(res.measured.as_deref(), Some("no data"), "{res:?}");
}

#[tokio::test(start_paused = true)]
async fn promql_on_a_source_without_promql_says_so() {
    let sim = simulated("healthy", 10, 10).await;
    let kind = CheckKind::Query(QueryCheck {
        metric: QueryMetric::PromQl("sum(rate(x{r=\"{revision}\"}[1m]))".into()),
        max: Some(1.0),
        min: None,
        compare_to_stable: false,
        margin: 0.0,
        window: Duration::from_secs(60),
    });
    let r = runner(&sim, vec![spec("promql", kind)], None);
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Fail);
    assert!(res.reason.contains("cannot run PromQL"), "{}", res.reason);
}

fn entry(rev: &str, sev: Severity, ago_secs: i64, msg: &str) -> LogEntry {
    LogEntry {
        timestamp: Utc::now() - chrono::Duration::seconds(ago_secs),
        revision: Some(rev.into()),
        severity: sev,
        status: None,
        message: msg.into(),
    }
}

#[tokio::test]
async fn logs_fails_on_a_recent_error_of_the_canary_only() {
    let sim = Simulator::new(Scenario::builtin("healthy").expect("healthy"), 1);
    let recent = RecentLogs::new(100);
    let check = |window| {
        spec(
            "logs",
            CheckKind::Logs(LogsCheck {
                severity: Severity::Error,
                window,
            }),
        )
    };
    recent.push(
        &[
            entry(STABLE, Severity::Error, 5, "stable's own trouble"),
            entry(CANARY, Severity::Warning, 5, "only a warning"),
            entry(CANARY, Severity::Error, 600, "long ago"),
        ],
        Utc::now() - chrono::Duration::seconds(900),
    );
    let r = runner(
        &sim,
        vec![check(Duration::from_secs(300))],
        Some(recent.clone()),
    );
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Pass, "{res:?}");

    recent.push(
        &[entry(CANARY, Severity::Critical, 3, "db pool exhausted")],
        Utc::now(),
    );
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Fail, "{res:?}");
    assert_eq!(res.measured.as_deref(), Some("1"));
    assert!(res.reason.contains("db pool exhausted"), "{}", res.reason);

    // Without a log source the check cannot pass.
    let r = runner(&sim, vec![check(Duration::from_secs(300))], None);
    assert_eq!(run_one(&r, &target(None)).await.status, CheckStatus::Fail);
}

#[tokio::test]
async fn logs_says_how_much_it_could_see() {
    let sim = Simulator::new(Scenario::builtin("healthy").expect("healthy"), 1);
    let recent = RecentLogs::new(100);
    recent.push(&[], Utc::now() - chrono::Duration::seconds(30));
    let r = runner(
        &sim,
        vec![spec(
            "logs",
            CheckKind::Logs(LogsCheck {
                severity: Severity::Error,
                window: Duration::from_secs(300),
            }),
        )],
        Some(recent),
    );
    let res = run_one(&r, &target(None)).await;
    assert_eq!(res.status, CheckStatus::Pass);
    assert!(
        res.reason.contains("logs seen for the last"),
        "{}",
        res.reason
    );
}

/// The demo's battery over the simulator's HTTP front: the team's checks
/// pass on a healthy canary and the health check fails once it degrades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_battery_runs_against_the_simulators_http_front() {
    let sim = Simulator::new(Scenario::builtin("healthy").expect("healthy"), 3);
    sim.serve_http().await.expect("http front");
    let snap = sim.snapshot().await.expect("snapshot");
    let tag_url = snap.revision(CANARY).and_then(|r| r.tag_url.clone());
    assert!(
        tag_url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
        "{tag_url:?}"
    );
    let checks: Vec<CheckSpec> = canary::app::demo_checks()
        .into_iter()
        .filter(|c| {
            matches!(
                c.kind,
                CheckKind::Http(_) | CheckKind::MetricsEndpoint(_) | CheckKind::Ready
            )
        })
        .collect();
    assert!(checks.len() >= 7, "{checks:?}");
    let n = checks.len();
    let r = runner(&sim, checks, None);
    for i in 0..n {
        let res = r.run(i, &target(tag_url.clone())).await;
        assert_eq!(res.status, CheckStatus::Pass, "check {i}: {res:?}");
    }
}
