//! The fault table, as a new user meets it: the real binary's scripting
//! commands (`canary status`, `set`, `rollback`) against the Cloud Run fake
//! on loopback, one call type failing at a time. After every case the audit
//! journal pairs each `traffic-requested` with exactly one outcome, and the
//! last outcome's split is what the platform serves.

use crate::support::run;

use std::path::Path;
use std::time::Duration;

use canary_fakes::cloud_run::{FakeCloudRun, Fault, Route, ServiceRef};

const CANARY: &str = "emergence-app-00043-kaw";
const STABLE: &str = "emergence-app-00042-xuv";

fn config(dir: &Path, endpoint: &str) -> String {
    run::cloud_run_config(dir, endpoint)
}

async fn canary(home: &Path, args: &[&str]) -> (i32, String, String) {
    run::canary_async(home, args, &[]).await
}

/// `revision -> percent` as the fake serves it.
fn served(fake: &FakeCloudRun, at: &ServiceRef) -> Vec<(String, i64)> {
    let svc = fake.service(at).expect("service");
    let mut out: Vec<(String, i64)> = svc
        .traffic
        .iter()
        .filter(|t| t.percent() > 0)
        .map(|t| (t.revision.clone().unwrap_or_default(), t.percent() as i64))
        .collect();
    out.sort();
    out
}

fn split_of(v: &serde_json::Value) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = v["entries"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|e| {
                    let name = e["revision"].as_str().unwrap_or_default().to_string();
                    (name, e["percent"].as_i64().unwrap_or(0))
                })
                .filter(|(_, p)| *p > 0)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The journal's records, as stored.
fn journal(home: &Path) -> Vec<serde_json::Value> {
    let path = home.join("journal").join("emergence-app.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Every request has exactly one outcome; the last outcome's split is the
/// platform's. Returns the last outcome's event name.
fn journal_agrees(home: &Path, fake: &FakeCloudRun, at: &ServiceRef) -> String {
    let recs = journal(home);
    let outcomes = ["traffic-applied", "traffic-failed", "traffic-reconciled"];
    let mut last = None;
    for r in recs.iter().filter(|r| r["event"] == "traffic-requested") {
        let paired: Vec<&serde_json::Value> = recs
            .iter()
            .filter(|o| o["id"] == r["id"] && outcomes.contains(&o["event"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            paired.len(),
            1,
            "request {} has {} outcomes: {recs:#?}",
            r["id"],
            paired.len()
        );
    }
    for r in &recs {
        let after = match r["event"].as_str().unwrap_or("") {
            "traffic-applied" => split_of(&r["after"]),
            "traffic-failed" => split_of(&r["before"]),
            "traffic-reconciled" => match r["outcome"].as_str() {
                Some("applied") => split_of(&r["after"]),
                Some("not-applied") => split_of(&r["before"]),
                _ => split_of(&r["read_back"]),
            },
            _ => continue,
        };
        last = Some((r["event"].as_str().unwrap_or("").to_string(), after));
    }
    let (event, split) = last.expect("an outcome");
    assert_eq!(
        split,
        served(fake, at),
        "the journal's last split is the platform's: {recs:#?}"
    );
    event
}

async fn setup() -> (FakeCloudRun, ServiceRef, tempfile::TempDir, String) {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);
    (fake, at, home, cfg)
}

fn tries(fake: &FakeCloudRun, route: Route) -> usize {
    fake.requests().iter().filter(|r| r.route == route).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_survives_two_transient_faults_on_every_call() {
    let mut table = Vec::new();
    for route in [
        Route::GetService,
        Route::ListRevisions,
        Route::PatchService,
        Route::GetOperation,
    ] {
        for (name, fault) in [
            ("503", Fault::Status(503)),
            (
                "429",
                Fault::RateLimited {
                    retry_after_secs: 1,
                },
            ),
            ("500", Fault::Status(500)),
            ("close", Fault::Close),
        ] {
            let (fake, at, home, cfg) = setup().await;
            fake.set_operation_delay(Duration::from_millis(100));
            if matches!(route, Route::GetService | Route::ListRevisions) {
                fake.inject(route, fault.clone(), 2);
                let (code, out, err) = canary(home.path(), &["--config", &cfg, "status"]).await;
                assert_eq!(code, 0, "status, {route:?} {name}: {err}");
                assert!(out.contains(STABLE), "{out}");
                assert!(
                    err.contains("retrying (2/"),
                    "says what it waits for: {err}"
                );
            }
            fake.clear_requests();
            fake.inject(route, fault, 2);
            let (code, _, err) = canary(
                home.path(),
                &["--config", &cfg, "set", "canary=10", "--yes"],
            )
            .await;
            assert_eq!(code, 0, "set, {route:?} {name}: {err}");
            assert_eq!(
                served(&fake, &at),
                vec![(STABLE.to_string(), 90), (CANARY.to_string(), 10)]
            );
            let event = journal_agrees(home.path(), &fake, &at);
            assert_eq!(event, "traffic-applied");
            table.push(format!(
                "{route:?} {name} x2 | {} tries | applied, exit 0",
                tries(&fake, route)
            ));
            // And a rollback through the same fault.
            fake.clear_requests();
            fake.inject(route, Fault::Status(503), 2);
            let (code, _, err) =
                canary(home.path(), &["--config", &cfg, "rollback", "--yes"]).await;
            assert_eq!(code, 0, "rollback, {route:?} 503: {err}");
            assert_eq!(served(&fake, &at), vec![(STABLE.to_string(), 100)]);
            journal_agrees(home.path(), &fake, &at);
        }
    }
    println!("{}", table.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_applied_but_answered_badly_is_journaled_as_applied() {
    let mut table = Vec::new();
    for (name, inner) in [
        ("503", Fault::Status(503)),
        ("500", Fault::Status(500)),
        (
            "429",
            Fault::RateLimited {
                retry_after_secs: 0,
            },
        ),
        ("truncated", Fault::MalformedJson),
        ("garbage", Fault::Garbage),
        ("10 MB", Fault::Oversize),
        ("close", Fault::Close),
    ] {
        let (fake, at, home, cfg) = setup().await;
        fake.inject(Route::PatchService, Fault::AfterApply(Box::new(inner)), 1);
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
        assert_eq!(code, 0, "applied then {name}: {out}{err}");
        assert!(
            err.contains("the answer was unclear") && err.contains("shows it applied"),
            "{name}: stderr says which: {err}"
        );
        assert_eq!(
            tries(&fake, Route::PatchService),
            1,
            "{name}: not sent twice"
        );
        let event = journal_agrees(home.path(), &fake, &at);
        assert_eq!(event, "traffic-applied", "{name}");
        let (_, report, _) = canary(home.path(), &["--config", &cfg, "report"]).await;
        assert!(!report.contains("failed"), "{name}: {report}");
        assert!(report.contains("phase 1"), "{report}");
        table.push(format!(
            "PATCH applied then {name} | 1 PATCH + re-read | applied, exit 0"
        ));
    }
    println!("{}", table.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_operation_is_resolved_by_reading_the_service() {
    let (fake, at, home, cfg) = setup().await;
    fake.set_operation_delay(Duration::from_millis(1500));
    let task = {
        let (home, cfg) = (home.path().to_path_buf(), cfg.clone());
        tokio::spawn(async move {
            canary(&home, &["--config", &cfg, "set", "canary=25", "--yes"]).await
        })
    };
    for _ in 0..200 {
        if tries(&fake, Route::GetOperation) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The server restarts and forgets its operations: polls get 404.
    fake.forget_operations();
    let (code, _, err) = task.await.expect("join");
    assert!(
        !err.contains("check the service, project and region"),
        "{err}"
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(journal_agrees(home.path(), &fake, &at), "traffic-applied");
}
