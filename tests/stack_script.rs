//! `scripts/stack.sh --no-cockpit`: the whole local stack comes up, the config it
//! writes drives the HAProxy platform, the Prometheus client and the file logs,
//! and SIGTERM stops everything it started.

#[path = "support/local_stack.rs"]
mod local_stack;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use canary::core::model::{MetricKind, TrafficSplit};
use canary::logs::file::FileLogs;
use canary::logs::LogSource;
use canary::metrics::prometheus::{PrometheusMetrics, PrometheusSettings, QueryTemplates};
use canary::metrics::{MetricsSource, MetricsWindow};
use canary::platform::haproxy::{HaproxyPlatform, HaproxySettings, Socket};
use canary::platform::Platform;
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
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("stack");
    let mut child = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack.sh"))
        .arg("--no-cockpit")
        .arg("--dir")
        .arg(&dir)
        .env("CANARY_SAMPLE", env!("CARGO_BIN_EXE_canary-sample"))
        .env("CANARY_ERROR_RATE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stack.sh");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let config_path = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("stack.sh said READY in time");
        if let Some(path) = line.strip_prefix("READY ") {
            break PathBuf::from(path);
        }
    };

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
    let pid = child.id() as libc::pid_t;
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stack.sh did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "the stack's directory is removed");
    let gone = HaproxyPlatform::connect(HaproxySettings::new(socket, &backend, "s")).await;
    assert!(gone.is_err(), "haproxy is stopped");
}
