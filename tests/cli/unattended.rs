//! `canary release`: the plan run unattended by the real binary, against
//! the simulator and the Cloud Run fake. Every run's stdout is checked line
//! by line against `docs/release-events.schema.json`; exit codes, the
//! journal and the webhook say how it ended.

use crate::support::{run, schema, webhook};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `[judge] baseline = "deploy"` on the Cloud Run fake.
mod baseline;
/// `canary release --image`: deploy, checks on the tag URL, then the plan.
mod image;
/// The shared audit trail of releases (`[audit] shared`).
mod shared_audit;

/// A simulator scenario: the canary with `canary_errors` % 5xx from the
/// start, `rps` requests per second in all.
fn scenario(dir: &Path, name: &str, rps: f64, canary_errors: f64) -> String {
    scenario_with(dir, name, rps, canary_errors, 0.2)
}

/// [`scenario`] with the stable at `stable_errors` % 5xx.
fn scenario_with(
    dir: &Path,
    name: &str,
    rps: f64,
    canary_errors: f64,
    stable_errors: f64,
) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "{name}"
description = "test"
requests_per_second = {rps}
apply_delay = "300ms"
log_sample = 0.0

[[revisions]]
name = "emergence-app-00043-kaw"
image = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261120-101500"
created_ago = "20m"
tag = "canary"
traffic = 0
error_percent = {canary_errors}
p95_ms = 195

[[revisions]]
name = "emergence-app-00042-xuv"
image = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261117-143000"
created_ago = "3d"
traffic = 100
error_percent = {stable_errors}
p95_ms = 205
"#
        ),
    )
    .expect("scenario");
    path.display().to_string()
}

/// A config for the simulator running `scenario`, fast refreshes, short
/// gates, the journal under `dir`, the webhook at `webhook`; `extra` appended.
fn sim_config(dir: &Path, scenario: &str, webhook: &str, extra: &str) -> String {
    let path = dir.join("canary.toml");
    std::fs::write(
        &path,
        format!(
            r#"[service]
platform = "simulator"

[demo]
scenario = "{scenario}"

[refresh]
service = "300ms"
metrics = "500ms"
logs = "1s"

[gates]
window = "10s"
sustain = "1s"
min_requests = 20

[[checks]]
name = "ready"
kind = "ready"

[journal]
dir = "{journal}"

[notify]
webhook_url = "{webhook}"
{extra}
"#,
            journal = dir.join("journal").display()
        ),
    )
    .expect("config");
    path.display().to_string()
}

fn journal(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir.join("journal"))
        .expect("journal dir")
        .flatten()
    {
        all.push_str(&std::fs::read_to_string(e.path()).expect("journal"));
    }
    all
}

fn events<'a>(stream: &'a [Value], name: &str) -> Vec<&'a Value> {
    stream.iter().filter(|e| e["event"] == name).collect()
}

fn last_transition_to(journal: &str) -> String {
    run::records_of(journal, "plan-transition")
        .last()
        .map(|r| r["to"]["phase"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// A release's world: a directory (the journal under it), the config
/// written there, and the webhook receiver the config names.
struct World {
    dir: tempfile::TempDir,
    config: String,
    heard: Arc<Mutex<Vec<String>>>,
}

impl World {
    /// The simulator running [`scenario`] `name`, `extra` appended to the config.
    fn sim(name: &str, rps: f64, canary_errors: f64, extra: &str) -> World {
        World::sim_with(name, rps, canary_errors, 0.2, extra)
    }

    /// [`World::sim`] with the stable at `stable_errors` % 5xx.
    fn sim_with(
        name: &str,
        rps: f64,
        canary_errors: f64,
        stable_errors: f64,
        extra: &str,
    ) -> World {
        let dir = tempfile::tempdir().expect("tmp");
        let (url, heard) = webhook::receiver();
        let sc = scenario_with(dir.path(), name, rps, canary_errors, stable_errors);
        let config = sim_config(dir.path(), &sc, &url, extra);
        World { dir, config, heard }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `canary -c CONFIG ARGS…`: the exit code, stdout and stderr.
    fn canary(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        run::canary(self.path(), &self.with_config(args), env)
    }

    /// [`World::canary`] for a command whose stdout is the event stream:
    /// every line checked against the schema.
    fn release(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let (code, out, err) = self.canary(args, env);
        let stream = schema::check_stream(&out);
        Ran {
            code,
            out,
            err,
            stream,
        }
    }

    /// `canary -c CONFIG ARGS…` in the background, its events read as they come.
    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canary"))
            .args(self.with_config(args))
            .env_clear()
            .env("HOME", self.path())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let reader = BufReader::new(child.stdout.take().expect("stdout"));
        Running {
            child,
            reader,
            lines: Vec::new(),
        }
    }

    fn with_config<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["-c", self.config.as_str()];
        all.extend_from_slice(args);
        all
    }

    fn journal(&self) -> String {
        journal(self.path())
    }

    /// What the webhook heard, a message a line.
    fn heard(&self) -> String {
        self.heard.lock().unwrap().join("\n")
    }
}

/// A run that ended, its stdout checked against the schema.
struct Ran {
    code: i32,
    out: String,
    err: String,
    stream: Vec<Value>,
}

impl Ran {
    /// Asserts the exit code (showing stdout and stderr when it is another);
    /// the events.
    fn exits(self, code: i32) -> Vec<Value> {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.out, self.err
        );
        self.stream
    }
}

/// A run in the background.
struct Running {
    child: Child,
    reader: BufReader<ChildStdout>,
    /// Every line read so far.
    lines: Vec<String>,
}

impl Running {
    /// The next event on stdout (`None` once it is closed).
    fn next_event(&mut self) -> Option<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let v: Value = serde_json::from_str(line.trim()).expect("json");
        self.lines.push(line.trim().to_string());
        Some(v)
    }

    /// Every event read so far, checked against the schema.
    fn stream(&self) -> Vec<Value> {
        schema::check_stream(&self.lines.join("\n"))
    }

    fn terminate(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    fn exit_code(&mut self) -> Option<i32> {
        self.child.wait().expect("wait").code()
    }
}

/// The validator fails what it should: a test that cannot fail is no test.
#[test]
fn the_schema_validator_refuses_bad_events() {
    let s = schema::release_events();
    let good: Value = serde_json::from_str(
        r#"{"v":1,"event":"rolled-back","at":"2026-11-30T13:24:00.614Z","service":"x","from":"rolling back","why":"w","reason":"r"}"#,
    )
    .unwrap();
    schema::validate(&s, &s, &good).expect("valid");
    for bad in [
        r#"{"v":1,"event":"rolled-back","at":"t","service":"x","from":"f","why":"w"}"#,
        r#"{"v":2,"event":"rolled-back","at":"t","service":"x","from":"f","why":"w","reason":"r"}"#,
        r#"{"v":1,"event":"rolled-back","at":"t","service":"x","from":"f","why":"w","reason":"r","extra":1}"#,
        r#"{"v":1,"event":"no-such-event","at":"t","service":"x"}"#,
        r#"{"v":1,"event":"finished","at":"t","service":"x","outcome":"promoted","reason":null,"exit_code":2}"#,
        r#"{"v":1,"event":"gates","at":"t","service":"x","verdict":"green"}"#,
    ] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert!(schema::validate(&s, &s, &v).is_err(), "accepted: {bad}");
    }
}

#[test]
fn a_healthy_release_is_promoted_and_exits_0() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let ran = w.release(
        &[
            "release",
            "--steps",
            "20:3s,100",
            "--auto",
            "--reason",
            "ci #1",
        ],
        &[("USER", "ci")],
    );
    let err = ran.err.clone();
    let stream = ran.exits(0);
    let kinds: Vec<&str> = stream.iter().filter_map(|e| e["event"].as_str()).collect();
    for k in [
        "plan-started",
        "step-started",
        "traffic-requested",
        "step-applied",
        "check",
        "gates",
        "promoted",
        "finished",
    ] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"finished"));
    // The gates carried their numbers and thresholds.
    let green = events(&stream, "gates")
        .into_iter()
        .find(|g| g["verdict"] == "green")
        .expect("a green evaluation");
    assert!(green["error_percent"].as_f64().is_some(), "{green}");
    assert!(green["requests"].as_f64().unwrap() >= 20.0, "{green}");
    assert_eq!(green["max_error_percent"], 1.0);
    let check = events(&stream, "check")[0];
    assert_eq!(check["name"], "ready");
    assert_eq!(check["status"], "pass");
    // Human progress on stderr, without escape codes (not a terminal).
    assert!(err.contains("promoted"), "{err}");
    assert!(!err.contains('\x1b'), "escape codes on a pipe: {err:?}");
    // The journal and the team heard it.
    let j = w.journal();
    assert_eq!(last_transition_to(&j), "promoted");
    assert!(j.contains("release started: ci #1"), "{j}");
    let heard = w.heard();
    assert!(heard.contains("promoted"), "webhook: {heard}");
    // Quiet: the events stay, the progress goes.
    let Ran { code, out, err, .. } = w.release(
        &["release", "--steps", "20:1s,100", "--auto", "--quiet"],
        &[],
    );
    // (The simulator starts afresh in every process: promoted again.)
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.is_empty(), "--quiet wrote: {err}");
}

#[test]
fn a_bad_canary_is_rolled_back_and_exits_3() {
    let w = World::sim("bad", 50.0, 8.0, "");
    let stream = w
        .release(&["release", "--steps", "20:60s,100", "--auto"], &[])
        .exits(3);
    let red = events(&stream, "gates")
        .into_iter()
        .find(|g| g["verdict"] == "red")
        .expect("a red evaluation");
    assert!(red["error_percent"].as_f64().unwrap() > 1.0, "{red}");
    let rollback = events(&stream, "traffic-requested")
        .into_iter()
        .find(|t| t["kind"] == "rollback")
        .expect("the rollback request");
    assert_eq!(rollback["after"]["emergence-app-00042-xuv"], 100);
    assert_eq!(events(&stream, "rolled-back").len(), 1);
    let finished = stream.last().unwrap();
    assert_eq!(finished["outcome"], "rolled-back");
    assert_eq!(finished["exit_code"], 3);
    let j = w.journal();
    assert_eq!(last_transition_to(&j), "rolled-back");
    assert!(
        run::records_of(&j, "traffic-applied")
            .iter()
            .any(|r| r["kind"] == "rollback"),
        "{j}"
    );
    let heard = w.heard();
    assert!(heard.contains("rolled back"), "webhook: {heard}");
}

/// `[gates] mode = "observe"`: the whole service at 3 % 5xx (over the
/// 1 % threshold, the canary no worse than the stable). The thresholds'
/// own verdict is in the `gates` events (`observed`) and the journal, never
/// acted on; the acting judge decides (here: not enough evidence to pass, so
/// the plan pauses at the end of its window, exit 4, and is not rolled back).
#[test]
fn observed_thresholds_are_reported_and_never_roll_back() {
    let observe = "[judge]\nmode = \"act\"\n";
    let w = World::sim_with("shared-outage", 50.0, 3.0, 3.0, observe);
    // The config's [gates] table: the mode goes there.
    let text = std::fs::read_to_string(&w.config).expect("config");
    std::fs::write(
        &w.config,
        text.replace("[gates]\n", "[gates]\nmode = \"observe\"\n"),
    )
    .expect("config");
    let stream = w
        .release(&["release", "--steps", "20:8s,100", "--auto"], &[])
        .exits(4);
    assert!(
        events(&stream, "traffic-requested")
            .iter()
            .all(|t| t["kind"] != "rollback"),
        "{stream:?}"
    );
    let gates = events(&stream, "gates");
    assert!(gates.iter().all(|g| g["mode"] == "observe"), "{gates:?}");
    let red = gates
        .iter()
        .find(|g| g["observed"]["verdict"] == "red")
        .expect("the thresholds observed red");
    assert!(
        red["observed"]["why"]
            .as_str()
            .is_some_and(|w| w.contains("> gate 1 %")),
        "{red}"
    );
    // What the plan acted on is never the thresholds.
    assert!(gates.iter().all(|g| g["verdict"] != "red"), "{gates:?}");
    let paused = events(&stream, "paused");
    assert_eq!(paused.len(), 1, "{stream:?}");
    assert!(
        paused[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("judge")),
        "{}",
        paused[0]
    );
    let j = w.journal();
    assert!(
        run::records_of(&j, "gates-observed")
            .iter()
            .any(|r| r["verdict"] == "red"),
        "{j}"
    );
    assert_eq!(last_transition_to(&j), "paused");
}

#[test]
fn no_traffic_stops_at_the_timeout_with_exit_4() {
    // Half a request a second: the gates never have their 20 requests.
    let w = World::sim("quiet", 0.5, 0.0, "");
    let started = Instant::now();
    let Ran {
        code,
        out,
        err,
        stream,
    } = w.release(
        &[
            "--timeout",
            "5s",
            "release",
            "--steps",
            "20:10m,100",
            "--auto",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        took >= Duration::from_secs(5),
        "ended before its timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(events(&stream, "timed-out").len(), 1);
    assert!(events(&stream, "gates")
        .iter()
        .all(|g| g["verdict"] != "green"));
    assert_eq!(events(&stream, "paused").len(), 1);
    assert_eq!(stream.last().unwrap()["outcome"], "waiting");
    assert_eq!(last_transition_to(&w.journal()), "paused");
}

/// Starts a release in the background, reads its stdout until `event`,
/// sends SIGTERM; returns the exit code and every event.
fn terminate_after(w: &World, args: &[&str], event: &str) -> (i32, Vec<Value>) {
    let mut running = w.spawn(args, &[]);
    let mut sent = false;
    while let Some(v) = running.next_event() {
        if !sent && v["event"] == event {
            running.terminate();
            sent = true;
        }
    }
    let code = running.exit_code();
    assert!(sent, "never saw {event}: {:?}", running.lines);
    (code.unwrap_or(-1), running.stream())
}

#[test]
fn sigterm_mid_window_pauses_by_default() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let (code, stream) = terminate_after(
        &w,
        &["release", "--steps", "20:10m,100", "--auto"],
        "step-applied",
    );
    assert_eq!(code, 4, "{stream:?}");
    let cancelled = events(&stream, "cancelled");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["then"], "pause");
    assert_eq!(events(&stream, "paused").len(), 1);
    assert!(events(&stream, "traffic-requested")
        .iter()
        .all(|t| t["kind"] != "rollback"));
    let j = w.journal();
    let last = run::records_of(&j, "plan-transition")
        .pop()
        .expect("transition");
    assert_eq!(last["to"]["phase"], "paused");
    assert!(
        last["to"]["reason"].as_str().unwrap().contains("SIGTERM"),
        "{last}"
    );
    // The canary keeps its 20 %: the last applied split.
    let applied = run::records_of(&j, "traffic-applied")
        .pop()
        .expect("applied");
    assert_eq!(applied["kind"], "plan step 1");
    let heard = w.heard();
    assert!(heard.contains("plan paused"), "webhook: {heard}");
}

#[test]
fn sigterm_with_on_cancel_rollback_rolls_back_even_mid_change() {
    let plans = "[plans.ci]\nmode = \"auto\"\non_cancel = \"rollback\"\nsteps = [{ percent = 20, observe = \"10m\" }, { percent = 100, observe = \"0s\" }]\n";
    let w = World::sim("healthy", 50.0, 0.0, plans);
    // SIGTERM while the first step is in flight: it lands, then the rollback.
    let (code, stream) = terminate_after(&w, &["release", "--plan", "ci"], "traffic-requested");
    assert_eq!(code, 3, "{stream:?}");
    assert_eq!(events(&stream, "cancelled")[0]["then"], "rollback");
    assert_eq!(events(&stream, "rolled-back").len(), 1);
    let j = w.journal();
    // Never half a change: every request has its outcome, the last one the rollback.
    let requested = run::records_of(&j, "traffic-requested");
    let applied = run::records_of(&j, "traffic-applied");
    assert_eq!(requested.len(), applied.len(), "{j}");
    assert_eq!(applied.last().unwrap()["kind"], "rollback");
    assert_eq!(last_transition_to(&j), "rolled-back");
    assert!(w.heard().contains("rolled back"));
}

#[test]
fn bad_usage_and_config_exit_2() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let (code, _, err) = w.canary(&["release", "--plan", "nope"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no plan named `nope`"), "{err}");
    let (code, _, err) = w.canary(&["release", "--steps", "20:10m,50"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the last step must be 100"), "{err}");
    let (code, _, err) = w.canary(&["release", "--steps", "x"], &[]);
    assert_eq!(code, 2, "{err}");
    let sc = scenario(w.path(), "healthy", 50.0, 0.0);
    let bad = sim_config(
        w.path(),
        &sc,
        "http://127.0.0.1:9/x",
        "[plans.ci]\nmode = \"sometimes\"\n",
    );
    let (code, _, err) = run::canary(w.path(), &["-c", &bad, "release", "--plan", "ci"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("plans.ci.mode") && err.contains("\"manual\""),
        "{err}"
    );
}

mod cloud_run {
    use super::*;
    use canary_fakes::cloud_run::{FakeCloudRun, Route, ServiceRef, DEMO_CANARY};

    /// The fake on a runtime of its own (it serves while the test blocks).
    pub struct Fake {
        pub fake: FakeCloudRun,
        pub url: String,
        pub at: ServiceRef,
        pub _rt: tokio::runtime::Runtime,
    }

    impl Fake {
        pub fn start() -> Fake {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let (fake, url) = rt.block_on(FakeCloudRun::start()).expect("fake");
            let at = fake.seed_demo();
            Fake {
                fake,
                url,
                at,
                _rt: rt,
            }
        }

        /// A directory, a webhook and the operator's config for the fake.
        pub fn world(&self) -> World {
            let dir = tempfile::tempdir().expect("tmp");
            let (url, heard) = webhook::receiver();
            let config = self.config(dir.path(), &url);
            World { dir, config, heard }
        }

        /// The operator's config for the fake, with the team's gates made short.
        pub fn config(&self, dir: &Path, webhook: &str) -> String {
            let path = dir.join("canary.toml");
            std::fs::write(
                &path,
                format!(
                    r#"[service]
platform = "cloud-run"
name = "{name}"
project = "{project}"
region = "{region}"

[refresh]
service = "300ms"
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

[notify]
webhook_url = "{webhook}"
"#,
                    name = self.at.service,
                    project = self.at.project,
                    region = self.at.region,
                    url = self.url,
                    journal = dir.join("journal").display(),
                ),
            )
            .expect("config");
            path.display().to_string()
        }

        /// The canary's share of the traffic the fake serves.
        pub fn canary_percent(&self) -> i32 {
            let _g = self._rt.enter();
            self.fake
                .service(&self.at)
                .expect("service")
                .traffic
                .iter()
                .filter(|t| t.revision.as_deref() == Some(DEMO_CANARY))
                .filter_map(|t| t.percent)
                .sum()
        }

        /// When each PATCH of the service arrived, as wall-clock time.
        pub fn patches(&self) -> Vec<chrono::DateTime<chrono::Utc>> {
            let now = chrono::Utc::now();
            self.fake
                .requests()
                .into_iter()
                .filter(|r| r.route == Route::PatchService)
                .map(|r| now - chrono::Duration::from_std(r.received.elapsed()).unwrap())
                .collect()
        }
    }

    #[test]
    fn a_healthy_release_on_cloud_run_exits_0() {
        let f = Fake::start();
        let w = f.world();
        let stream = w
            .release(&["release", "--steps", "20:3s,100", "--auto"], &[])
            .exits(0);
        assert_eq!(f.canary_percent(), 100);
        assert!(events(&stream, "gates")
            .iter()
            .any(|g| g["verdict"] == "green"));
        assert!(w.heard().contains("promoted"));
    }

    /// A change a crash left without an outcome (a `canary set` killed while
    /// the platform worked on it) is reconciled before the release drives,
    /// as every other start does, and said on the stream.
    #[test]
    fn a_change_a_crash_left_open_is_reconciled_before_the_release() {
        let f = Fake::start();
        f.fake.set_operation_delay(Duration::from_secs(60));
        let w = f.world();
        let mut set = run::spawn_canary(
            w.path(),
            &["-c", &w.config, "set", "canary=25", "--yes"],
            &[],
        );
        let patched = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            f.fake
                .requests()
                .iter()
                .any(|r| r.route == Route::PatchService)
        });
        assert!(patched, "the PATCH went out");
        std::thread::sleep(Duration::from_millis(100));
        set.kill().expect("SIGKILL");
        let _ = set.wait();
        let before = w.journal();
        assert_eq!(run::records_of(&before, "traffic-requested").len(), 1);
        assert!(
            run::records_of(&before, "traffic-applied").is_empty(),
            "killed before the outcome: {before}"
        );
        f.fake.set_operation_delay(Duration::ZERO);
        let stream = w
            .release(&["release", "--steps", "20:1s,100", "--auto"], &[])
            .exits(0);
        let j = w.journal();
        let reconciled = run::records_of(&j, "traffic-reconciled");
        assert_eq!(reconciled.len(), 1, "{j}");
        let requested = run::records_of(&j, "traffic-requested");
        assert_eq!(reconciled[0]["id"], requested[0]["id"], "paired by id");
        assert_eq!(reconciled[0]["outcome"], "applied");
        // Before the plan: the release started from what is true.
        let at = |event: &str| j.find(&format!("\"event\":\"{event}\"")).expect(event);
        assert!(at("traffic-reconciled") < at("plan-started"), "{j}");
        assert!(
            events(&stream, "note")
                .iter()
                .any(|n| n["message"].as_str().unwrap().contains("reconciled")),
            "{stream:?}"
        );
    }

    /// Also the measure of BENCHMARKS.md: from the failing gate evaluation
    /// (the `gates` event's time) to the rollback PATCH at the fake.
    #[test]
    fn a_bad_canary_on_cloud_run_is_rolled_back_within_a_second_of_the_red_gate() {
        let f = Fake::start();
        f.fake.set_revision_behaviour(DEMO_CANARY, 6.0, 150.0);
        let w = f.world();
        let stream = w
            .release(&["release", "--steps", "20:10m,100", "--auto"], &[])
            .exits(3);
        assert_eq!(f.canary_percent(), 0);
        let red = events(&stream, "gates")
            .into_iter()
            .find(|g| g["verdict"] == "red")
            .expect("red");
        let red_at: chrono::DateTime<chrono::Utc> =
            red["at"].as_str().unwrap().parse().expect("time");
        let rollback_at = *f.patches().last().expect("the rollback PATCH");
        let ms = (rollback_at - red_at).num_milliseconds();
        eprintln!("failing gate evaluation -> rollback PATCH at the fake: {ms} ms");
        assert!((-5..1000).contains(&ms), "{ms} ms");
        assert!(w.heard().contains("rolled back"));
    }
}

/// CI hand-off: one job releases, another waits on the journal for a step,
/// then for the end; `canary status --json` shows the plan.
#[test]
fn wait_and_status_follow_the_plan_from_the_journal() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let (code, _, err) = w.canary(&["wait", "--until", "step=x"], &[]);
    assert_eq!(code, 2, "{err}");
    // No plan yet: still waiting at the timeout.
    let (code, _, err) = w.canary(&["--timeout", "1", "wait", "--until", "done"], &[]);
    assert_eq!(code, 4, "{err}");
    let mut release = run::spawn_canary(
        w.path(),
        &w.with_config(&["release", "--steps", "20:8s,100", "--auto"]),
        &[("USER", "ci-bot")],
    );
    let (code, out, err) = w.canary(&["--timeout", "30", "wait", "--until", "step=1"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let at_step: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(at_step["step"], 1);
    assert!(
        release.try_wait().unwrap().is_none(),
        "the release was still running"
    );
    let (code, out, err) = w.canary(&["--timeout", "60", "wait", "--until", "done"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(release.wait().unwrap().code(), Some(0));
    // It will never pause now: 1 at once, not 4 at the timeout.
    let (code, _, _) = w.canary(&["--timeout", "30", "wait", "--until", "paused"], &[]);
    assert_eq!(code, 1);
    let (code, out, err) = w.canary(&["status", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["plan"]["phase"], "promoted", "{out}");
    assert_eq!(status["plan"]["driver"]["user"], "ci-bot");
    assert_eq!(status["plan"]["canary"], "emergence-app-00043-kaw");
}

/// One driver at a time: while a release drives, a second one refuses and
/// names the first; a lease whose driver died is taken over only with
/// `--take-over`, journaled.
#[test]
fn a_second_driver_refuses_and_an_expired_lease_needs_take_over() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let mut first = w.spawn(
        &["release", "--steps", "20:10m,100", "--auto"],
        &[("USER", "alice")],
    );
    let mut location = None;
    while let Some(v) = first.next_event() {
        if v["event"] == "lease" {
            assert_eq!(v["action"], "taken");
            location = v["location"].as_str().map(str::to_string);
        }
        if v["event"] == "step-applied" {
            break;
        }
    }
    let location = location.expect("the first driver took the lease");
    let stream = w
        .release(
            &["release", "--steps", "20:10m,100", "--auto", "--take-over"],
            &[("USER", "bob")],
        )
        .exits(1);
    let reason = stream.last().unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("alice@") && reason.contains(&format!("pid {}", first.child.id())),
        "{reason}"
    );
    assert!(
        events(&stream, "traffic-requested").is_empty(),
        "the second driver sent nothing"
    );
    first.terminate();
    assert_eq!(first.exit_code(), Some(4));
    assert!(!Path::new(&location).exists(), "the lease was given back");

    // A driver that died: its lease is past its deadline.
    std::fs::write(
        &location,
        r#"{"driver":"ghost@ci-7","pid":999999,"plan":"ci","step":1,"acquired":"2026-01-01T00:00:00Z","deadline":"2026-01-01T00:00:30Z"}"#,
    )
    .expect("lease");
    let args = ["release", "--steps", "20:1s,100", "--auto"];
    let Ran { code, stream, .. } = w.release(&args, &[]);
    assert_eq!(code, 1);
    let reason = stream.last().unwrap()["reason"].to_string();
    assert!(
        reason.contains("ghost@ci-7") && reason.contains("--take-over"),
        "{reason}"
    );
    let mut args = args.to_vec();
    args.push("--take-over");
    let stream = w.release(&args, &[]).exits(0);
    assert_eq!(events(&stream, "lease")[0]["action"], "taken-over");
    assert!(w.journal().contains("lease taken over (--take-over)"));
}

/// The lease removed under a running release (someone freed it by hand):
/// another driver may take it, so this one stops (paused, exit 4) within
/// a poll instead of driving on without it.
#[test]
fn a_release_whose_lease_is_removed_stops() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let mut run = w.spawn(&["release", "--steps", "20:10m,100", "--auto"], &[]);
    let mut location = None;
    while let Some(v) = run.next_event() {
        if v["event"] == "lease" {
            location = v["location"].as_str().map(str::to_string);
        }
        if v["event"] == "step-applied" {
            break;
        }
    }
    let location = location.expect("the lease was taken");
    // Once the step's publication was written (a renewal then would find
    // the lease gone by itself): the driver's reads must notice.
    std::thread::sleep(std::time::Duration::from_secs(4));
    std::fs::remove_file(&location).expect("remove the lease");
    // A watchdog: a run still driving after 25 s is killed (no exit code).
    let pid = run.child.id() as i32;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(25));
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    while run.next_event().is_some() {}
    let code = run.exit_code();
    assert_eq!(
        code,
        Some(4),
        "still driving after its lease was removed? {:?}",
        run.lines
    );
    let stream = run.stream();
    let paused = events(&stream, "paused");
    assert_eq!(paused.len(), 1, "{stream:?}");
    assert!(
        paused[0].to_string().contains("lease was lost"),
        "{}",
        paused[0]
    );
}

/// Someone moves the split while the release observes: the driver
/// pauses instead of fighting (exit 4), and sends nothing more.
#[test]
fn the_driver_stops_when_the_split_changes_under_it() {
    use canary_fakes::cloud_run::{to_revision, DEMO_CANARY, DEMO_STABLE};
    let f = cloud_run::Fake::start();
    let w = f.world();
    let mut running = w.spawn(&["release", "--steps", "20:10m,100", "--auto"], &[]);
    while let Some(v) = running.next_event() {
        if v["event"] == "step-applied" {
            let _g = f._rt.enter();
            // The driver's lease is on the service, as an annotation.
            let svc = f.fake.service(&f.at).expect("service");
            let lease: Value = serde_json::from_str(&svc.annotations["canary.dev/lease"])
                .expect("the lease annotation");
            assert_eq!(lease["pid"], running.child.id(), "{lease}");
            f.fake
                .change_traffic(
                    &f.at,
                    vec![
                        to_revision(DEMO_STABLE, 50, None),
                        to_revision(DEMO_CANARY, 50, Some("canary")),
                    ],
                )
                .expect("someone else's change");
        }
    }
    let code = running.exit_code();
    let lines = &running.lines;
    let stream = running.stream();
    assert_eq!(code, Some(4), "{lines:?}");
    let paused = events(&stream, "paused");
    assert_eq!(paused.len(), 1, "{lines:?}");
    assert!(
        paused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed under the driver"),
        "{}",
        paused[0]
    );
    assert_eq!(
        events(&stream, "traffic-requested").len(),
        1,
        "nothing sent after"
    );
    assert_eq!(f.canary_percent(), 50, "their split stays");
    let _g = f._rt.enter();
    let svc = f.fake.service(&f.at).expect("service");
    assert!(
        !svc.annotations.contains_key("canary.dev/lease"),
        "the lease was given back"
    );
}
