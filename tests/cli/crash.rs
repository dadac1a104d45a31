//! The real binary killed with SIGKILL in the middle of a change, then
//! started again: the change is reconciled against the platform and the
//! report tells what is true. And the team hears of every change a script
//! makes, without the webhook URL leaking anywhere.

use crate::support::run;
use crate::support::webhook;

use std::path::Path;
use std::time::Duration;

use canary_fakes::cloud_run::{FakeCloudRun, Route};

const CANARY: &str = "emergence-app-00043-kaw";
const STABLE: &str = "emergence-app-00042-xuv";

fn config(dir: &Path, endpoint: &str) -> String {
    run::cloud_run_config(dir, endpoint)
}

async fn canary(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run::canary_async(home, args, env).await
}

fn journal_text(home: &Path) -> String {
    std::fs::read_to_string(home.join("journal").join("emergence-app.jsonl")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_killed_mid_flight_is_reconciled_on_the_next_start() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    // The operation takes long: the cockpit is killed while polling it.
    fake.set_operation_delay(Duration::from_secs(60));
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);
    let mut child = run::spawn_canary(
        home.path(),
        &["--config", &cfg, "set", "canary=25", "--yes"],
        &[("USER", "alice")],
    );
    let mut patched = false;
    for _ in 0..500 {
        if fake
            .requests()
            .iter()
            .any(|r| r.route == Route::PatchService)
        {
            patched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(patched, "the PATCH went out");
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let text = journal_text(home.path());
    assert!(text.contains("traffic-requested"), "{text}");
    assert!(
        !text.contains("traffic-applied"),
        "killed before the outcome: {text}"
    );
    // The report says so before anything reconciled it.
    let (_, report, _) = canary(home.path(), &["--config", &cfg, "report"], &[]).await;
    assert!(report.contains("no outcome recorded"), "{report}");

    // The next start (any command) reconciles it against the platform.
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "status"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("reconciled"), "said once: {err}");
    assert!(err.contains("applied"), "{err}");
    let text = journal_text(home.path());
    let reconciled: Vec<serde_json::Value> = run::records_of(&text, "traffic-reconciled");
    assert_eq!(reconciled.len(), 1, "{text}");
    assert_eq!(reconciled[0]["outcome"], "applied");
    let requested: Vec<serde_json::Value> = run::records_of(&text, "traffic-requested");
    assert_eq!(reconciled[0]["id"], requested[0]["id"], "paired by id");
    // Once: a second start finds nothing to reconcile.
    let (_, _, err) = canary(home.path(), &["--config", &cfg, "status"], &[]).await;
    assert!(!err.contains("reconciled"), "{err}");
    // The report's last split is the platform's.
    let (_, report, _) = canary(home.path(), &["--config", &cfg, "report"], &[]).await;
    assert!(!report.contains("no outcome recorded"), "{report}");
    let row = report
        .lines()
        .rfind(|l| l.contains("**applied**"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(row.contains(&format!("{STABLE}=75, {CANARY}=25")), "{row}");
    let svc = fake.service(&at).expect("service");
    assert!(svc
        .traffic
        .iter()
        .any(|t| t.revision.as_deref() == Some(CANARY) && t.percent() == 25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_hears_of_every_set_and_rollback_a_script_makes() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    fake.seed_demo();
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);
    let (hook, got) = webhook::receiver();
    let env = [("CANARY_WEBHOOK_URL", hook.as_str())];
    let (code, out1, err1) = canary(
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
        &env,
    )
    .await;
    assert_eq!(code, 0, "{err1}");
    let (code, out2, err2) = canary(
        home.path(),
        &["--config", &cfg, "rollback", "--yes", "--reason", "5xx"],
        &env,
    )
    .await;
    assert_eq!(code, 0, "{err2}");
    let bodies = got.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies[0].contains("set split done") && bodies[0].contains("phase 1"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].contains("rollback done") && bodies[1].contains("5xx"),
        "{}",
        bodies[1]
    );
    for text in [out1, err1, out2, err2, journal_text(home.path())] {
        assert!(!text.contains("SECRETTOKEN"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_flight_in_another_canary_is_left_to_it() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    fake.seed_demo();
    fake.set_operation_delay(Duration::from_secs(2));
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = config(home.path(), &url);
    let mut child = run::spawn_canary(
        home.path(),
        &["--config", &cfg, "set", "canary=25", "--yes"],
        &[("USER", "alice")],
    );
    for _ in 0..500 {
        if fake
            .requests()
            .iter()
            .any(|r| r.route == Route::PatchService)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Another command meanwhile: the change is in flight, not interrupted.
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "status"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("reconciled"), "{err}");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success());
    let text = journal_text(home.path());
    assert_eq!(text.matches("traffic-applied").count(), 1, "{text}");
    assert!(
        !text.contains("traffic-reconciled"),
        "one outcome only: {text}"
    );
}
