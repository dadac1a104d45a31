//! The scripting commands of the real binary (`canary status`, `set`,
//! `rollback`) against the Cloud Run fake on loopback, through a config file
//! with `endpoint` and `auth = "none"`: exit codes, output, the fake's state
//! and the audit journal.

use crate::support::run;

use std::path::Path;

use canary_fakes::cloud_run::{FakeCloudRun, ServiceRef};

const CANARY: &str = "emergence-app-00043-kaw";
const STABLE: &str = "emergence-app-00042-xuv";

fn config(dir: &Path, endpoint: &str) -> String {
    run::cloud_run_config(dir, endpoint)
}

async fn canary(home: &Path, args: &[&str]) -> (i32, String, String) {
    run::canary_async(home, args, &[]).await
}

fn percent_of(fake: &FakeCloudRun, at: &ServiceRef, revision: &str) -> i64 {
    let svc = fake.service(at).expect("service");
    let v = serde_json::to_value(&svc).expect("json");
    v["traffic"]
        .as_array()
        .expect("traffic")
        .iter()
        .filter(|t| t["revision"] == revision)
        .map(|t| t["percent"].as_i64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_set_and_rollback_drive_the_fake_and_are_journaled() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);

    let (code, out, err) = canary(home.path(), &["--config", &cfg, "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    assert_eq!(v["service"], "emergence-app", "{out}");
    assert!(out.contains(CANARY) && out.contains(STABLE), "{out}");

    // Without --yes and without a terminal: refused, nothing sent.
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "set", "canary=10"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(percent_of(&fake, &at, CANARY), 0);

    let (code, out, err) = canary(
        home.path(),
        &[
            "--config",
            &cfg,
            "set",
            "canary=10",
            "--yes",
            "--reason",
            "phase 1",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10"), "{out}");
    assert_eq!(percent_of(&fake, &at, CANARY), 10);
    assert_eq!(percent_of(&fake, &at, STABLE), 90);
    // The tag survives.
    let v = serde_json::to_value(fake.service(&at).expect("svc")).expect("json");
    assert!(
        v["traffic"]
            .as_array()
            .expect("traffic")
            .iter()
            .any(|t| t["tag"] == "canary"),
        "{v}"
    );

    // Bad usage: exit 2, nothing sent.
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "set", "nosuch=10", "--yes"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert_eq!(percent_of(&fake, &at, CANARY), 10);

    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "rollback", "--yes", "--reason", "errors"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(percent_of(&fake, &at, STABLE), 100);
    assert_eq!(percent_of(&fake, &at, CANARY), 0);

    // --read-only really cannot write.
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "--read-only", "set", "canary=50", "--yes"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(percent_of(&fake, &at, CANARY), 0);

    // Journaled like the screen: who, why, before and after.
    let (code, out, err) = canary(home.path(), &["--config", &cfg, "journal", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    let applied: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["event"] == "traffic-applied")
        .collect();
    assert_eq!(applied.len(), 2, "{out}");
    assert_eq!(applied[0]["reason"], "phase 1");
    assert_eq!(applied[1]["reason"], "errors");
    assert_eq!(applied[0]["who"]["user"], "alice", "{}", applied[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_fails_with_exit_1_and_a_reason() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    fake.stop();
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);
    let started = std::time::Instant::now();
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "status", "--timeout", "3"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("canary:"), "{err}");
    // It said what it was waiting for, and gave up within --timeout.
    assert!(err.contains("retrying (2/"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
