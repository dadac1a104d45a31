//! `scripts/stack.sh --no-cockpit`: the whole local stack comes up, the config it
//! writes drives the HAProxy platform, the Prometheus client and the file logs,
//! and SIGTERM stops everything it started.

use crate::support::live_stack;
use crate::support::local_stack;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use canary::core::model::{MetricKind, TrafficSplit};
use canary::logs::file::FileLogs;
use canary::logs::LogSource;
use canary::metrics::prometheus::{PrometheusMetrics, PrometheusSettings, QueryTemplates};
use canary::metrics::{MetricsSource, MetricsWindow};
use canary::platform::haproxy::{HaproxyPlatform, HaproxySettings, Socket};
use canary::platform::Platform;
use live_stack::LiveStack;
use local_stack::{eventually, require};

fn string(v: &toml::Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .unwrap_or_else(|| panic!("config has no {path:?}"));
    }
    cur.as_str().expect("a string").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_comes_up_drives_the_sources_and_stops() {
    if require("haproxy").is_none() || require("prometheus").is_none() || require("curl").is_none()
    {
        return;
    }
    // Stopped (the whole process group) even when an assertion fails.
    let mut stack = LiveStack::start(&[("CANARY_ERROR_RATE", "0")]);
    let dir = stack.dir.clone();
    let config_path = stack.config.clone();

    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(&config_path).expect("config"))
            .expect("valid toml");
    assert_eq!(string(&config, &["service", "platform"]), "haproxy");
    let stable = string(&config, &["haproxy", "stable"]);
    let canary = string(&config, &["haproxy", "canary"]);
    let socket = Socket::parse(&string(&config, &["haproxy", "socket"])).expect("socket");
    let backend = string(&config, &["haproxy", "backend"]);
    let platform = HaproxyPlatform::connect(
        HaproxySettings::new(
            socket.clone(),
            &backend,
            string(&config, &["service", "name"]),
        )
        .with_roles(&stable, &canary),
    )
    .await
    .expect("connect to the stack's haproxy");
    let snap = eventually("both servers UP", Duration::from_secs(15), || async {
        let s = platform.snapshot().await.ok()?;
        s.revisions.iter().all(|r| r.ready).then_some(s)
    })
    .await;
    assert_eq!(snap.traffic, TrafficSplit::all_to(&stable));
    let half = TrafficSplit::new([(stable.as_str(), 50), (canary.as_str(), 50)]).expect("valid");
    platform
        .set_traffic(&half, &snap.version)
        .await
        .expect("50/50");

    // The load generator's requests reach the canary, HAProxy counts them and
    // Prometheus scrapes the counts.
    let mut settings = PrometheusSettings::new(
        string(&config, &["prometheus", "url"]),
        QueryTemplates::haproxy(&backend),
    );
    settings.rate_window = Duration::from_secs(5);
    let metrics = PrometheusMetrics::new(settings).expect("client");
    let revisions = vec![stable.clone(), canary.clone()];
    let batch = eventually(
        "canary traffic in prometheus",
        Duration::from_secs(30),
        || async {
            let window = MetricsWindow {
                end: chrono::Utc::now(),
                span: Duration::from_secs(30),
                step: Duration::from_secs(1),
            };
            let b = metrics.fetch(&revisions, window).await.ok()?;
            let rate = b
                .series
                .get(&(canary.clone(), MetricKind::RequestRate))?
                .last()?;
            (rate > 3.0).then_some(b)
        },
    )
    .await;
    let errors = batch.series[&(canary.clone(), MetricKind::ErrorPercent)].last();
    assert_eq!(errors, Some(0.0), "no injected errors: 0 %, and it is data");

    let files: BTreeMap<String, PathBuf> = config["logs"]["files"]
        .as_table()
        .expect("logs.files")
        .iter()
        .map(|(k, v)| (k.clone(), PathBuf::from(v.as_str().expect("path"))))
        .collect();
    let mut logs = FileLogs::new(files);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = logs.poll().await.expect("poll the log files");
        if got
            .iter()
            .any(|e| e.revision.as_deref() == Some(canary.as_str()) && e.status == Some(200))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no request log of the canary");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // SIGTERM stops everything and removes the directory.
    assert!(stack.terminate(), "stack.sh did not stop on SIGTERM");
    assert!(!dir.exists(), "the stack's directory is removed");
    let gone = HaproxyPlatform::connect(HaproxySettings::new(socket, &backend, "s")).await;
    assert!(gone.is_err(), "haproxy is stopped");
}
