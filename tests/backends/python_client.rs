//! Google's own Python client (`google-cloud-run`, REST transport) against the
//! fake on 127.0.0.1:0: if the client can read the service, page through the
//! revisions, change the traffic and wait for the operation, the fake speaks
//! the API as Google's libraries expect it.
//!
//! Needs `python3` with `google-cloud-run`; when the import fails the test runs
//! `python3 -m pip install google-cloud-run`. Under `CI=true` a failing install
//! fails the test; elsewhere the test is skipped with a message.

use std::process::Stdio;
use std::time::Duration;

use canary::platform::cloud_run::api::TYPE_REVISION;
use canary_fakes::cloud_run::{FakeCloudRun, Route, DEMO_CANARY, DEMO_STABLE};
use serde_json::Value;
use tokio::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/run_v2_client.py");

async fn run(cmd: &mut Command, limit: Duration) -> Result<std::process::Output, String> {
    let out = cmd.stdin(Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(limit, out).await {
        Err(_) => Err(format!("timed out after {limit:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(o)) => Ok(o),
    }
}

async fn client_importable(module: &str) -> bool {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", &format!("import {module}")]);
    run(&mut cmd, Duration::from_secs(60))
        .await
        .is_ok_and(|o| o.status.success())
}

/// True when the Python client can be used; false (and a message) to skip.
async fn python_client() -> bool {
    python_package("google-cloud-run", "google.cloud.run_v2").await
}

/// True when `module` of the PyPI `package` can be imported (installed now
/// if need be); false (and a message) to skip.
async fn python_package(package: &str, module: &str) -> bool {
    if client_importable(module).await {
        return true;
    }
    eprintln!("{package} is not importable: python3 -m pip install {package}");
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        package,
    ])
    // A Debian python3 marks its environment as externally managed (PEP 668).
    .env("PIP_BREAK_SYSTEM_PACKAGES", "1");
    let why = match run(&mut pip, Duration::from_secs(600)).await {
        Ok(o) if o.status.success() && client_importable(module).await => return true,
        Ok(o) => format!(
            "pip install {package} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("pip install {package} could not run: {e}"),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("SKIPPED python_client: {why}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googles_python_client_drives_the_fake() {
    if !python_client().await {
        return;
    }
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    // Long enough for the client to see the operation pending and poll it.
    fake.set_operation_delay(Duration::from_millis(300));
    let mut cmd = Command::new("python3");
    cmd.arg(SCRIPT)
        .args([&url, &at.name(), DEMO_STABLE, DEMO_CANARY])
        // No ambient credentials or proxies may change what the client does.
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    let out = run(&mut cmd, Duration::from_secs(120)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed ({}):\n{stderr}\n{stdout}\nrequests: {:#?}",
        out.status,
        fake.requests()
            .iter()
            .map(|r| format!("{} {}?{} {}", r.method, r.path, r.query, r.body))
            .collect::<Vec<_>>()
    );
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // What the client read.
    assert_eq!(seen["service"], at.name());
    assert_eq!(seen["pages"], 2, "three revisions, two per page");
    assert_eq!(
        seen["revisions"],
        serde_json::json!([DEMO_CANARY, DEMO_STABLE, "emergence-app-00041-mop"])
    );
    assert_eq!(seen["reconciling"], false);
    assert!(seen["statuses_after"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s[2] == "canary" && s[3] == "https://canary---emergence-app-x7k2p9-ew.a.run.app"));

    // The fake's state changed: 90/10, the tag kept, a new etag.
    let svc = fake.service(&at).unwrap();
    let shares: Vec<(Option<&str>, i32, Option<&str>)> = svc
        .traffic
        .iter()
        .map(|t| (t.revision.as_deref(), t.percent(), t.tag.as_deref()))
        .collect();
    assert_eq!(
        shares,
        [
            (Some(DEMO_STABLE), 90, None),
            (Some(DEMO_CANARY), 10, None),
            (Some(DEMO_CANARY), 0, Some("canary")),
        ]
    );
    assert!(svc
        .traffic
        .iter()
        .all(|t| t.kind.as_deref() == Some(TYPE_REVISION)));
    assert_ne!(svc.etag.as_deref(), seen["etag_before"].as_str());
    assert!(!svc.reconciling);

    // How it got there: one PATCH with the field mask, then operation polls.
    let reqs = fake.requests();
    let patch = reqs
        .iter()
        .find(|r| r.route == Route::PatchService)
        .expect("a PATCH");
    assert!(
        patch.query.contains("updateMask=traffic"),
        "{}",
        patch.query
    );
    assert!(reqs.iter().any(|r| r.route == Route::GetOperation
        && seen["operation"]
            .as_str()
            .is_some_and(|op| r.path.ends_with(op))));
}

/// What the cockpit deployed and deleted, read back by Google's client:
/// the new revision (image, env, Ready), its tag at 0 % with its URL, the
/// template naming it, and the deleted revision gone (NotFound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googles_python_client_reads_back_a_deploy_and_a_deletion() {
    use canary::core::release::DeployRequest;
    use canary::google::Auth;
    use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
    use canary::platform::Platform;
    if !python_client().await {
        return;
    }
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.set_deploy_step(Duration::from_millis(50));
    let mut settings =
        CloudRunSettings::new(&at.project, &at.region, &at.service, Auth::None).with_endpoint(&url);
    settings.poll_max = Duration::from_millis(100);
    let cr = CloudRun::new(settings).unwrap();
    let before = cr.snapshot().await.unwrap();
    let new = "emergence-app-00044-zaq";
    let image = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261130";
    let request = DeployRequest {
        revision: new.into(),
        image: image.into(),
        tag: "canary-20261130".into(),
        env: vec![("FEATURE_X".into(), "on".into())],
    };
    let quiet: canary::platform::release::SnapshotSink = std::sync::Arc::new(|_| {});
    let releases = cr.releases().unwrap();
    releases
        .deploy(&request, &before.version, quiet.clone())
        .await
        .expect("deployed");
    let old = "emergence-app-00041-mop";
    releases.delete_revision(old, quiet).await.expect("deleted");

    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/run_v2_release.py"
    ))
    .args([&url, &at.name(), new, old])
    .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
    .env("NO_PROXY", "127.0.0.1")
    .env("no_proxy", "127.0.0.1");
    let out = run(&mut cmd, Duration::from_secs(120)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(
        seen["revisions"],
        serde_json::json!([new, DEMO_CANARY, DEMO_STABLE]),
        "newest first, the deleted one gone"
    );
    assert_eq!(seen["image"], image);
    assert_eq!(
        seen["env"],
        serde_json::json!(["LOG_LEVEL", "DB_PASSWORD", "FEATURE_X"])
    );
    assert_eq!(seen["ready"], true);
    assert_eq!(seen["template_revision"], new);
    assert_eq!(seen["deleted_found"], false);
    // The traffic: as before (stable 100 %, the canary's tag), plus the new tag at 0 %.
    assert_eq!(
        seen["traffic"],
        serde_json::json!([
            [DEMO_STABLE, 100, ""],
            [DEMO_CANARY, 0, "canary"],
            [new, 0, "canary-20261130"]
        ])
    );
    assert!(seen["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s[2] == "canary-20261130"
            && s[3] == "https://canary-20261130---emergence-app-x7k2p9-ew.a.run.app"));
}

/// The shared audit trail, written by canary's sink, read back from the
/// fake by Google's own Python client (`google-cloud-logging`, HTTP/JSON):
/// the entries are what the journal wrote, with who wrote them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googles_logging_client_reads_the_shared_audit_trail_back() {
    use canary::journal::shared::cloud_logging::CloudLoggingAudit;
    use canary::journal::shared::SharedSink;

    if !python_package("google-cloud-logging", "google.cloud.logging").await {
        return;
    }
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    let sink = CloudLoggingAudit::new(
        Some(&url),
        canary::google::Auth::None,
        &at.project,
        &at.service,
        "canary-audit",
    )
    .expect("sink");
    let now = chrono::Utc::now();
    let records: Vec<Value> = ["plan-started", "traffic-applied", "note"]
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            serde_json::json!({
                "at": (now - chrono::Duration::seconds(30 - i as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "who": {"user": "alice"},
                "service": at.service,
                "event": kind,
                "message": format!("record {i}"),
            })
        })
        .collect();
    sink.write(&records).await.expect("written");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/logging_read.py");
    let mut cmd = Command::new("python3");
    cmd.args([script, &url, &at.project, "canary-audit", &at.service]);
    let out = run(&mut cmd, Duration::from_secs(120))
        .await
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let payloads: Vec<Value> = got.iter().map(|g| g["payload"].clone()).collect();
    assert_eq!(payloads, records);
    assert!(
        got.iter().all(|g| g["driver"]
            .as_str()
            .is_some_and(|d| d.starts_with("alice@"))),
        "{got:?}"
    );
    assert!(
        got.iter()
            .all(|g| g["log_name"] == format!("projects/{}/logs/canary-audit", at.project)),
        "{got:?}"
    );
    // It paged (two a page), through the fake's entries:list.
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListLogEntries)
        .count();
    assert!(lists >= 2, "{lists}");
}
