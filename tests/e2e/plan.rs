//! End to end, the heart of the product: the real binary in a pseudo-terminal
//! runs the promotion plan over the simulated service, the journal survives a
//! SIGKILL, notifications reach a real (local) webhook receiver, and
//! `canary journal` / `canary report` tell the story afterwards.

use crate::support::run;
use crate::support::tty;
use crate::support::webhook;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tty::{row, Tty};

const CANARY: &str = "emergence-app-00043";
const STABLE: &str = "emergence-app-00042";

/// The journal of the demo service under a test HOME.
fn journal_file(home: &Path) -> PathBuf {
    home.join("state/canary/journal")
        .read_dir()
        .expect("journal dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("emergence-app"))
        .expect("a journal file for emergence-app")
}

/// Runs `canary ARGS` (not in a terminal) with the test HOME.
fn canary(home: &Path, args: &[&str]) -> (i32, String, String) {
    run::canary(home, args, &[])
}

/// `p` then `y`: the plan starts with the canary at 10 %.
fn start_plan(t: &mut Tty) {
    t.wait_for("the demo", |s| s.contains(CANARY) && s.contains("DEMO"));
    t.press("p");
    t.wait_for("the plan confirmation", |s| s.contains("promotion plan"));
    t.press("y");
}

/// Waits for the canary at 10 % with the stable at 90 %, settled.
fn wait_first_step(t: &Tty) {
    t.wait_for("step 1 applied", |s| {
        row(s, CANARY).is_some_and(|r| r.contains("10%") && !r.contains('→'))
            && row(s, STABLE).is_some_and(|r| r.contains("90%") && !r.contains('→'))
    });
}

#[test]
fn a_plan_killed_with_sigkill_comes_back_paused() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut t = Tty::spawn_at(home.path(), &["--demo", "--seed", "5"], &[]);
    start_plan(&mut t);
    wait_first_step(&t);
    // "observing" is journaled once the step landed: kill after that.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(journal_file(home.path()))
        .unwrap_or_default()
        .contains("observing")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "observing never journaled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = t.child.process_id().expect("pid");
    // SAFETY: killing our own child, as a crash or `kill -9` would.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    t.wait_exit();
    drop(t);

    let path = journal_file(home.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "journal mode {mode:o}");
    }
    let text = std::fs::read_to_string(&path).expect("journal");
    assert!(
        text.lines().any(|l| l.contains("observing")),
        "the step was journaled before the kill:\n{text}"
    );

    // A torn last line, as if killed mid-write: reported, skipped, not fatal.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(b"{\"at\":\"2026-11-2"))
        .expect("tear the journal");

    let mut t = Tty::spawn_at(home.path(), &["--demo", "--seed", "5"], &[]);
    let s = t.wait_for("the plan back, paused", |s| {
        s.to_lowercase().contains("paused at step 1") && s.contains(CANARY)
    });
    // (The simulator itself starts afresh: its split is not the plan's.)
    assert!(s.contains(CANARY), "{s}");
    t.press("q");
    t.wait_exit();

    let (code, out, err) = canary(home.path(), &["--demo", "journal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("torn") || err.contains("incomplete") || err.contains("skipped"),
        "the torn line is reported: {err}"
    );
    assert!(out.contains("plan"), "{out}");
    assert!(
        out.contains("interrupted"),
        "the resume is in the history:\n{out}"
    );
}

#[test]
fn bad_canary_under_an_auto_plan_rolls_back_by_itself_and_the_report_tells_why() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut t = Tty::spawn_at(
        home.path(),
        &[
            "--demo",
            "--scenario",
            "bad-canary",
            "--auto",
            "--seed",
            "11",
        ],
        &[],
    );
    start_plan(&mut t);
    wait_first_step(&t);
    let s = t.wait_for_up_to(Duration::from_secs(150), "the automatic rollback", |s| {
        s.contains("rolled back")
            && row(s, STABLE).is_some_and(|r| r.contains("100%") && !r.contains('→'))
    });
    assert!(
        row(&s, CANARY).is_some_and(|r| r.contains(" 0%")),
        "the canary is back at 0 %: {s}"
    );
    t.press("q");
    t.wait_exit();

    let (code, out, err) = canary(home.path(), &["--demo", "journal"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5xx"), "the journal says why:\n{out}");
    let report = home.path().join("report.md");
    let (code, _, err) = canary(
        home.path(),
        &["--demo", "report", "-o", &report.display().to_string()],
    );
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(&report).expect("report");
    assert!(md.contains(CANARY) && md.contains(STABLE), "{md}");
    assert!(md.to_lowercase().contains("roll"), "{md}");
    assert!(
        md.contains("5xx"),
        "the rollback reason is in the report:\n{md}"
    );
}

#[test]
fn a_healthy_canary_promotes_step_by_step() {
    let home = tempfile::tempdir().expect("tempdir");
    // Short windows so the whole plan fits in a test.
    let config = home.path().join("fast.toml");
    std::fs::write(
        &config,
        r#"[service]
platform = "simulator"

[refresh]
service = "1s"
metrics = "1s"

[gates]
window = "10s"
sustain = "2s"
min_requests = 5

[plan]
mode = "auto"
steps = [
  { percent = 10, observe = "4s" },
  { percent = 25, observe = "4s" },
  { percent = 50, observe = "4s" },
  { percent = 100, observe = "0s" },
]

[[checks]]
name = "health"
kind = "http"
url = "{tag_url}/api/health"
json = ["status == \"ok\""]

[[checks]]
name = "ready"
kind = "ready"
"#,
    )
    .expect("config");
    let cfg = config.display().to_string();
    let mut t = Tty::spawn_at(home.path(), &["--config", &cfg, "--seed", "3"], &[]);
    start_plan(&mut t);
    let s = t.wait_for_up_to(Duration::from_secs(90), "the promotion to 100 %", |s| {
        row(s, CANARY).is_some_and(|r| r.contains("100%") && !r.contains('→'))
    });
    assert!(row(&s, STABLE).is_some_and(|r| r.contains(" 0%")), "{s}");
    t.press("q");
    t.wait_exit();
    let text = std::fs::read_to_string(journal_file(home.path())).expect("journal");
    // Every step went out in order: the plan's phases, as journaled.
    let phases: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "plan-transition")
        .map(|v| match v["to"]["step"].as_u64() {
            Some(n) => format!("{} {}", v["to"]["phase"].as_str().unwrap_or("?"), n + 1),
            None => v["to"]["phase"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    let mut at = 0;
    for w in ["observing 1", "observing 2", "observing 3", "promoted"] {
        at += phases[at..]
            .iter()
            .position(|p| p == w)
            .unwrap_or_else(|| panic!("{w} not journaled in order: {phases:?}"));
    }
    assert!(
        text.contains("\"health\""),
        "check results are journaled:\n{text}"
    );
}

#[test]
fn the_webhook_hears_of_the_plan_and_never_leaks_its_url() {
    let (url, got) = webhook::receiver();
    let home = tempfile::tempdir().expect("tempdir");
    let mut t = Tty::spawn_at(
        home.path(),
        &["--demo", "--seed", "9"],
        &[("CANARY_WEBHOOK_URL", &url)],
    );
    start_plan(&mut t);
    wait_first_step(&t);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(m) = got.lock().expect("lock").first().cloned() {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notification arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let v: serde_json::Value = serde_json::from_str(&first).expect("JSON body");
    let text = v["text"].as_str().expect("a text field");
    assert!(text.contains("emergence-app"), "{text}");
    assert!(text.contains(CANARY), "{text}");
    assert!(text.contains("10"), "the split: {text}");
    t.press("a");
    t.wait_for("the abort confirmation", |s| {
        s.contains("ABORT PLAN") && s.contains("Exact call")
    });
    // `y` sends the rollback; the reason asked afterwards reaches the
    // journal and the team too.
    t.press("y");
    t.wait_for("the reason box of the rollback already sent", |s| {
        s.contains("is already on its way. Why?")
    });
    for c in "demo over".chars() {
        t.press(&c.to_string());
    }
    t.press("\r");
    t.wait_for("rolled back", |s| {
        row(s, STABLE).is_some_and(|r| r.contains("100%") && !r.contains('→'))
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !got
        .lock()
        .expect("lock")
        .iter()
        .any(|m| m.contains("demo over"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no rollback notification: {:?}",
            got.lock().expect("lock")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    t.press("q");
    t.wait_exit();
    // The secret is nowhere: not in the journal, not in the diagnostic log.
    let journal = std::fs::read_to_string(journal_file(home.path())).expect("journal");
    assert!(journal.contains("demo over"), "the reason is journaled");
    assert!(!journal.contains("SECRETTOKEN"), "{journal}");
    let log = std::fs::read_to_string(home.path().join("state/canary/canary.log"))
        .expect("the diagnostic log");
    assert!(
        log.contains("cockpit starting"),
        "the log is the one written: {log}"
    );
    assert!(!log.contains("SECRETTOKEN"), "{log}");
}
