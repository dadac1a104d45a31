//! One driver, everyone watching: a headless `canary release` drives the
//! plan against the Cloud Run fake (its lease is the service annotation),
//! and a cockpit in a pseudo-terminal — another user, another HOME and
//! journal, as on another machine — shows the remote plan from the lease,
//! refuses to start a plan of its own, and pauses, resumes and aborts it
//! through requests written into the lease. The release obeys, journals who
//! asked, says so on its event stream (checked against the schema) and
//! exits with the documented code.

use crate::support::{schema, tty};

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cloud_run::Fake;
use canary_fakes::cloud_run::DEMO_CANARY;
use tty::Tty;

fn write_config(dir: &Path, f: &Fake) -> String {
    let path = dir.join("canary.toml");
    let text = format!(
        r#"[service]
platform = "cloud-run"
name = "{name}"
project = "{project}"
region = "{region}"
stable_revision = "emergence-app-00042-xuv"

[refresh]
service = "500ms"
metrics = "500ms"
logs = "1s"

[gates]
window = "30s"
sustain = "1s"
min_requests = 20

[[checks]]
name = "ready"
kind = "ready"

[cloud_run]
endpoint = "{url}"
monitoring_endpoint = "{url}/v1/projects/{project}/location/global/prometheus"
auth = "none"

[journal]
dir = "{journal}"
"#,
        name = f.at.service,
        project = f.at.project,
        region = f.at.region,
        url = f.url,
        journal = dir.join("journal").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// `canary release` in the background, its stdout in a file read as it grows.
struct Release {
    child: Child,
    out: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Release {
    fn start(f: &Fake, args: &[&str]) -> Release {
        let dir = tempfile::tempdir().expect("tmp");
        let config = write_config(dir.path(), f);
        let out = dir.path().join("events.ndjson");
        let child = Command::new(env!("CARGO_BIN_EXE_canary"))
            .args(["-c", &config])
            .args(args)
            .env_clear()
            .env("HOME", dir.path())
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("USER", "ci")
            .stdout(std::fs::File::create(&out).expect("events file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn canary release");
        Release { child, out, dir }
    }

    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // Only whole lines: the last may be being written.
        let whole = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        schema::check_stream(whole)
    }

    /// Waits (up to 30 s) for an event matching `pred`; returns it.
    fn wait_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events:\n{:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code();
            }
            assert!(Instant::now() < deadline, "the release did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn journal(&self) -> String {
        std::fs::read_dir(self.dir.path().join("journal"))
            .expect("journal dir")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Milliseconds from a request written into the lease to the driver
/// obeying it (its `remote-request` event).
fn obey_ms(event: &Value) -> i64 {
    let at =
        |k: &str| chrono::DateTime::parse_from_rfc3339(event[k].as_str().expect(k)).expect("time");
    (at("at") - at("requested_at")).num_milliseconds()
}

#[test]
fn a_cockpit_sees_the_headless_release_pauses_resumes_and_aborts_it() {
    let f = Fake::start();
    let mut release = Release::start(&f, &["release", "--steps", "20:5m,100", "--auto"]);
    release.wait_event("step 1 applied", |e| e["event"] == "step-applied");

    let home = tempfile::tempdir().expect("tmp");
    let config = write_config(home.path(), &f);
    let mut t = Tty::spawn_at(home.path(), &["-c", &config], &[("USER", "bob")]);
    let pid = release.child.id();
    let s = t.wait_for("the remote plan from the lease", |s| {
        s.contains("driven by ci@") && s.contains("observing step 1")
    });
    assert!(s.contains(&format!("(pid {pid})")), "{s}");
    assert!(s.contains("window 4m"), "the window left: {s}");
    t.wait_for("the gates the driver published", |s| {
        s.contains("gates green")
    });

    // No plan of its own while another driver holds the lease.
    t.press(":");
    t.press("plan start\r");
    t.wait_for("plan start refused naming the driver", |s| {
        s.contains("a plan is driven by ci@")
    });
    t.press("\x1b");
    t.wait_for("the command line closed", |s| {
        !s.contains("command (Tab completes")
    });

    // p, y: the driver pauses, keeps its lease, and says who asked.
    t.press("p");
    t.wait_for("the pause confirmation", |s| {
        s.contains("PAUSE REMOTE PLAN")
    });
    t.press("y");
    let asked = release.wait_event("the pause request", |e| e["event"] == "remote-request");
    assert_eq!(asked["kind"], "pause");
    assert!(
        asked["by"].as_str().is_some_and(|b| b.starts_with("bob@")),
        "{asked}"
    );
    let pause_ms = obey_ms(&asked);
    release.wait_event("paused", |e| {
        e["event"] == "paused" && e["reason"].as_str().is_some_and(|r| r.contains("bob@"))
    });
    t.wait_for("the driver's acknowledgement", |s| {
        s.contains("obeyed: pause")
    });
    t.wait_for("the remote plan paused", |s| {
        s.contains("paused at step 1") && s.contains("p resume")
    });
    assert!(
        release.child.try_wait().expect("try_wait").is_none(),
        "still driving, paused"
    );

    // p, y again: resumed.
    t.press("p");
    t.wait_for("the resume confirmation", |s| {
        s.contains("RESUME REMOTE PLAN")
    });
    t.press("y");
    let asked = release.wait_event("the resume request", |e| {
        e["event"] == "remote-request" && e["kind"] == "resume"
    });
    let resume_ms = obey_ms(&asked);
    release.wait_event("resumed", |e| e["event"] == "resumed");
    t.wait_for("observing again", |s| {
        s.contains("obeyed: resume") && s.contains("observing step 1")
    });

    // a, y: aborted: rolled back, exit 3.
    t.press("a");
    t.wait_for("the abort confirmation", |s| {
        s.contains("ABORT REMOTE PLAN")
    });
    t.press("y");
    assert_eq!(release.wait_exit(), Some(3), "aborted: rolled back");
    let events = release.events();
    let abort = events
        .iter()
        .find(|e| e["event"] == "remote-request" && e["kind"] == "abort")
        .expect("the abort request");
    let abort_ms = obey_ms(abort);
    let finished = events.last().expect("finished");
    assert_eq!(finished["event"], "finished");
    assert_eq!(finished["outcome"], "rolled-back");
    assert!(
        finished["reason"]
            .as_str()
            .is_some_and(|r| r.contains("aborted from the cockpit of bob@")),
        "{finished}"
    );
    let journal = release.journal();
    assert!(journal.contains("abort requested by bob@"), "{journal}");
    assert!(journal.contains("pause requested by bob@"), "{journal}");
    let canary_percent: i32 = f
        .traffic()
        .iter()
        .filter(|t| t.revision.as_deref() == Some(DEMO_CANARY))
        .filter_map(|t| t.percent)
        .sum();
    assert_eq!(canary_percent, 0, "rolled back to the stable");
    assert!(
        !f.service().annotations.contains_key("canary.dev/lease"),
        "the lease was given back"
    );
    t.wait_for("the remote plan gone from the screen", |s| {
        !s.contains("driven by ci@")
    });
    eprintln!(
        "request written → driver obeyed: pause {pause_ms} ms, resume {resume_ms} ms, abort {abort_ms} ms"
    );
    for ms in [pause_ms, resume_ms, abort_ms] {
        // One poll of the lease (2 s) plus its read and the run's step.
        assert!((0..3000).contains(&ms), "{ms} ms");
    }
    t.press("q");
    t.wait_exit();
}

/// The rollback key never goes through the lease: `r` `y` in the cockpit
/// moves the split directly, and the driver, seeing it change under it,
/// stops (paused, exit 4) instead of putting its step back.
#[test]
fn the_rollback_key_works_directly_and_the_driver_stops_instead_of_fighting() {
    let f = Fake::start();
    let mut release = Release::start(&f, &["release", "--steps", "20:5m,100", "--auto"]);
    release.wait_event("step 1 applied", |e| e["event"] == "step-applied");
    let home = tempfile::tempdir().expect("tmp");
    let config = write_config(home.path(), &f);
    let mut t = Tty::spawn_at(home.path(), &["-c", &config], &[("USER", "bob")]);
    t.wait_for("the remote plan", |s| s.contains("driven by ci@"));
    t.roll_back_with_keys();
    t.skip_reason();
    assert_eq!(release.wait_exit(), Some(4), "stopped, waiting for a human");
    let events = release.events();
    let paused = events
        .iter()
        .find(|e| e["event"] == "paused")
        .expect("paused");
    assert!(
        paused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("changed under the driver")),
        "{paused}"
    );
    // It sent nothing after the cockpit's rollback: the canary stays at 0 %.
    std::thread::sleep(Duration::from_secs(1));
    let canary_percent: i32 = f
        .traffic()
        .iter()
        .filter(|t| t.revision.as_deref() == Some(DEMO_CANARY))
        .filter_map(|t| t.percent)
        .sum();
    assert_eq!(canary_percent, 0);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "traffic-requested")
            .count(),
        1,
        "only its first step: {events:#?}"
    );
    t.press("q");
    t.wait_exit();
}
