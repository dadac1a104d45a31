//! The cockpit in a pseudo-terminal, killed with SIGKILL while a change is in
//! flight, then started again: it reconciles the change against the
//! platform, says so once, and journals the outcome it found.

use crate::support::run;
use crate::support::tty;

use std::path::Path;
use std::time::Duration;

use canary_fakes::cloud_run::{FakeCloudRun, Route, ServiceRef, DEMO_STABLE};
use tty::{row, Tty};

fn write_config(dir: &Path, url: &str, at: &ServiceRef) -> String {
    let path = dir.join("canary.toml");
    let text = format!(
        "[service]\nplatform = \"cloud-run\"\nname = \"{}\"\nproject = \"{}\"\nregion = \"{}\"\n\n\
         [refresh]\nservice = \"300ms\"\n\n\
         [cloud_run]\nendpoint = \"{url}\"\nmonitoring_endpoint = \"{url}/v1/projects/{}/location/global/prometheus\"\nauth = \"none\"\n",
        at.service, at.project, at.region, at.project
    );
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

fn journal(home: &Path) -> String {
    let dir = home.join("state/canary/journal");
    std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
}

#[test]
fn a_cockpit_killed_mid_change_reconciles_it_on_the_next_start() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (fake, url) = rt.block_on(FakeCloudRun::start()).expect("fake");
    let at = fake.seed_demo();
    fake.set_operation_delay(Duration::from_secs(60));
    let home = tempfile::tempdir().expect("tempdir");
    let config = write_config(home.path(), &url, &at);

    let mut t = Tty::spawn_at(home.path(), &["--config", &config], &[]);
    t.wait_for("the service", |s| {
        row(s, DEMO_STABLE).is_some_and(|r| r.contains("100%"))
    });
    t.press("+");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fake
        .requests()
        .iter()
        .any(|r| r.route == Route::PatchService)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the PATCH never went out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let pid = t.child.process_id().expect("pid");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let _ = t.wait_exit();
    drop(t);
    let text = journal(home.path());
    assert!(text.contains("traffic-requested"), "{text}");
    assert!(!text.contains("traffic-applied"), "{text}");

    let mut t = Tty::spawn_at(home.path(), &["--config", &config], &[]);
    t.wait_for_up_to(Duration::from_secs(10), "the reconciliation, said", |s| {
        s.contains("reconciled")
    });
    t.press("q");
    let _ = t.wait_exit();
    let text = journal(home.path());
    let reconciled: Vec<serde_json::Value> = run::records_of(&text, "traffic-reconciled");
    assert_eq!(reconciled.len(), 1, "{text}");
    assert_eq!(reconciled[0]["outcome"], "applied", "{text}");
    drop(fake);
}
