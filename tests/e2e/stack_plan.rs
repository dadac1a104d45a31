//! The cockpit (the real binary in a pseudo-terminal) drives a promotion plan on
//! the real local stack of `scripts/stack.sh`: HAProxy splits real traffic
//! between two sample apps, Prometheus scrapes HAProxy's exporter, the gates
//! judge the canary on those metrics.
//!
//! 1. A healthy canary is promoted 10 → 25 → 50 → 100 %, every step journaled
//!    in order; HAProxy then sends every request to the canary.
//! 2. A canary answering 10 % 5xx is rolled back by the gates, within a bound
//!    (gates.sustain + metrics refresh + margin) of Prometheus seeing the errors.
//! 3. Prometheus killed while a step is observed: the gates say "no data" and
//!    the plan pauses; HAProxy's weights do not advance.
//! 4. Prometheus hung (SIGSTOP: no answer, no error until the request times
//!    out) during a window shorter than the gate window: the last batch is
//!    stale, the plan pauses instead of promoting on it.
//!
//! The tests run one at a time (a `LiveStack` holds a lock, shared with
//! `stack_script`): each starts a whole stack, and the
//! rollback latency is measured, which two stacks on two cores would blur.
//! `STACK_PLAN_DIAG=DIR` keeps the cockpit's debug log in DIR.

use crate::support::live_stack;
use crate::support::local_stack;
use crate::support::tty;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canary::metrics::prometheus::{expand, QueryTemplates};
use live_stack::{http_get, prom_instant, LiveStack, BACKEND, CANARY, STABLE};
use local_stack::require;
use tty::{row, Tty};

/// Settings every variant shares: fast refresh, 1 s metric points, a short
/// `rate()` window (Prometheus scrapes every second).
const METRICS_REFRESH: Duration = Duration::from_secs(1);
const RATE_WINDOW: Duration = Duration::from_secs(5);
const GATE_ERROR_PERCENT: f64 = 1.0;
const SUSTAIN: Duration = Duration::from_secs(3);
/// Load through HAProxy: the canary gets 4 req/s at 10 %.
const LOAD_RATE: &str = "40";

/// Whether haproxy, prometheus and curl are there (under CI a missing one fails).
fn tools() -> bool {
    ["haproxy", "prometheus", "curl"]
        .iter()
        .all(|t| require(t).is_some())
}

/// Checks that do not go through the app's injected errors (health,
/// readiness and metrics are exempt): the gates alone judge the 5xx.
const QUIET_CHECKS: [&str; 4] = ["ready", "health", "readiness", "memory-analysis"];

/// The stack's own config with short windows: `observe` per step (10, 25, 50 %),
/// `checks`: names of the stack's checks to keep (all when `None`).
fn variant(stack: &LiveStack, observe: [u64; 3], checks: Option<&[&str]>) -> PathBuf {
    let text = std::fs::read_to_string(&stack.config).expect("the stack's config");
    let mut c: toml::Table = text.parse().expect("valid toml");
    let parse = |s: &str| -> toml::Value { toml::Value::Table(s.parse().expect("toml")) };
    c.insert(
        "refresh".into(),
        parse(&format!(
            "service = \"500ms\"\nmetrics = \"{}s\"\nlogs = \"1s\"",
            METRICS_REFRESH.as_secs()
        )),
    );
    c.insert("metrics".into(), parse("window = \"2m\"\nstep = \"1s\""));
    c["prometheus"]
        .as_table_mut()
        .expect("[prometheus]")
        .insert(
            "rate_window".into(),
            toml::Value::String(format!("{}s", RATE_WINDOW.as_secs())),
        );
    c.insert(
        "gates".into(),
        parse(&format!(
            "error_percent = {GATE_ERROR_PERCENT:.1}\nwindow = \"10s\"\nsustain = \"{}s\"\nmin_requests = 10",
            SUSTAIN.as_secs()
        )),
    );
    c.insert(
        "plan".into(),
        parse(&format!(
            "mode = \"auto\"\non_failure = \"rollback\"\nsteps = [\n\
             {{ percent = 10, observe = \"{}s\" }},\n\
             {{ percent = 25, observe = \"{}s\" }},\n\
             {{ percent = 50, observe = \"{}s\" }},\n\
             {{ percent = 100, observe = \"0s\" }},\n]",
            observe[0], observe[1], observe[2]
        )),
    );
    let all = c["checks"].as_array_mut().expect("[[checks]]");
    all.retain(|chk| {
        let name = chk["name"].as_str().unwrap_or_default();
        checks.is_none_or(|keep| keep.contains(&name))
    });
    for chk in all.iter_mut() {
        if chk["name"].as_str() == Some("5xx-vs-stable") {
            let t = chk.as_table_mut().expect("a check");
            t.insert("window".into(), toml::Value::String("10s".into()));
            t.insert("timeout".into(), toml::Value::String("20s".into()));
        }
    }
    if let Ok(d) = std::env::var("STACK_PLAN_DIAG") {
        c.insert(
            "diagnostics".into(),
            parse(&format!("log_level = \"debug\"\nlog_dir = \"{d}\"")),
        );
    }
    let path = stack.dir.join("fast.toml");
    std::fs::write(&path, toml::to_string(&c).expect("toml out")).expect("write config");
    path
}

/// The cockpit on `config` with `--auto`; `p`, `y` starts the plan.
fn cockpit_with_plan(config: &Path) -> Tty {
    let cfg = config.display().to_string();
    let mut t = Tty::spawn(&["--config", &cfg, "--auto"], &[]);
    t.wait_for("both revisions on screen", |s| {
        row(s, CANARY).is_some() && row(s, STABLE).is_some_and(|r| r.contains("100%"))
    });
    t.press("p");
    t.wait_for("the plan confirmation", |s| s.contains("promotion plan"));
    t.press("y");
    t
}

/// The plan's transitions in the journal, as "applying 1", "observing 2",
/// "paused 2", "promoted", "rolled-back", with the reason (`why`).
fn phases(journal: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "plan-transition")
        .map(|v| {
            let phase = v["to"]["phase"].as_str().unwrap_or("?");
            let name = match v["to"]["step"].as_u64() {
                Some(n) => format!("{phase} {}", n + 1),
                None => phase.to_string(),
            };
            let why = format!(
                "{} {}",
                v["why"].as_str().unwrap_or_default(),
                v["to"]["reason"].as_str().unwrap_or_default()
            );
            (name, why)
        })
        .collect()
}

fn journal_of(stack: &LiveStack) -> PathBuf {
    stack
        .journal()
        .expect("the cockpit's journal in the stack's dir")
}

/// Waits (up to `limit`) for `pred` on the journal's phases.
fn wait_journal(
    stack: &LiveStack,
    t: &Tty,
    limit: Duration,
    what: &str,
    pred: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let p = stack.journal().map(|j| phases(&j)).unwrap_or_default();
        if pred(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; journal: {p:?}\nscreen:\n{}",
            t.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has(p: &[(String, String)], name: &str) -> bool {
    p.iter().any(|(n, _)| n == name)
}

/// `canary status --json` on `config`.
fn status_json(config: &Path) -> serde_json::Value {
    let home = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canary"))
        .arg("--config")
        .arg(config)
        .args(["status", "--json"])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .output()
        .expect("run canary status");
    assert!(
        out.status.success(),
        "canary status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn a_healthy_canary_is_promoted_step_by_step_and_takes_all_requests() {
    if !tools() {
        return;
    }
    let started = Instant::now();
    let stack = LiveStack::start(&[("CANARY_ERROR_RATE", "0"), ("LOAD_RATE", LOAD_RATE)]);
    // The team's whole battery. Step 1 is longer: the canary's first metrics
    // (the `5xx-vs-stable` check) lag its first requests by a few seconds.
    let config = variant(&stack, [12, 6, 6], None);
    let mut t = cockpit_with_plan(&config);
    let p = wait_journal(&stack, &t, Duration::from_secs(90), "the promotion", |p| {
        has(p, "promoted") || has(p, "paused 1") || has(p, "rolled-back")
    });
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        has(&p, "promoted"),
        "the plan did not promote: {p:?}\nscreen:\n{}",
        t.text()
    );
    let mut at = 0;
    for w in [
        "applying 1",
        "observing 1",
        "applying 2",
        "observing 2",
        "applying 3",
        "observing 3",
        "applying 4",
        "promoted",
    ] {
        at += names[at..]
            .iter()
            .position(|p| *p == w)
            .unwrap_or_else(|| panic!("`{w}` not journaled in order: {names:?}"));
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("paused") || n.starts_with("roll")),
        "{names:?}"
    );
    let journal = std::fs::read_to_string(journal_of(&stack)).expect("journal");
    for check in ["health", "5xx-vs-stable", "assets"] {
        assert!(
            journal.contains(&format!("\"{check}\"")),
            "the `{check}` check is journaled"
        );
    }
    t.wait_for("the Plan panel says promoted", |s| s.contains("promoted"));
    t.press("q");
    t.wait_exit();

    // HAProxy: the canary has all the weight, read on the Runtime API...
    assert_eq!(stack.weight(STABLE).expect("weight"), 0);
    assert!(stack.weight(CANARY).expect("weight") > 0);
    assert_eq!(stack.canary_share().expect("share"), 100);
    // ... and as `canary status` reads it.
    let status = status_json(&config);
    let share = |rev: &str| {
        status["revisions"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == rev))
            .and_then(|r| r["percent"].as_u64())
    };
    assert_eq!(share(CANARY), Some(100), "{status}");
    assert_eq!(share(STABLE), Some(0), "{status}");

    // Real requests through HAProxy: every one reaches the canary.
    let mut served = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..60 {
        let reply =
            http_get(&format!("{}/api/health", stack.frontend)).expect("a request through haproxy");
        assert_eq!(reply.status, 200);
        let by = reply.header("x-served-by").unwrap_or_default().to_string();
        *served.entry(by).or_default() += 1;
    }
    assert_eq!(
        served.into_iter().collect::<Vec<_>>(),
        vec![(CANARY.to_string(), 60)],
        "every request reaches the canary"
    );
    eprintln!(
        "promotion on the real stack: {:.1}s in all",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_bad_canary_is_rolled_back_soon_after_prometheus_sees_its_errors() {
    if !tools() {
        return;
    }
    let started = Instant::now();
    let stack = LiveStack::start(&[("CANARY_ERROR_RATE", "0.1"), ("LOAD_RATE", LOAD_RATE)]);
    // Long windows: only the gates can end this plan early.
    let config = variant(&stack, [60, 60, 60], Some(&QUIET_CHECKS));
    let promql = expand(
        &QueryTemplates::haproxy(BACKEND).error_percent,
        CANARY,
        RATE_WINDOW,
    )
    .expect("template");
    let mut t = cockpit_with_plan(&config);

    // Poll Prometheus (the cockpit's own query) and HAProxy side by side.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut applied = None;
    let mut seen: Option<(Instant, f64)> = None;
    let rolled_back = loop {
        let now = Instant::now();
        let share = stack.canary_share().unwrap_or(0);
        if share > 0 && applied.is_none() {
            applied = Some(now);
        }
        if applied.is_some() && share == 0 {
            break now;
        }
        if seen.is_none() {
            if let Ok(Some(e)) = prom_instant(&stack.prometheus, &promql) {
                if e > GATE_ERROR_PERCENT {
                    seen = Some((now, e));
                }
            }
        }
        assert!(
            now < deadline,
            "no rollback within 60 s (applied: {}, prometheus saw {seen:?}); screen:\n{}",
            applied.is_some(),
            t.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let (seen_at, ratio) = seen.expect("prometheus reported the errors before the rollback");
    let latency = rolled_back.saturating_duration_since(seen_at);
    // The gate's own delay (sustain), a metrics refresh to notice, one more
    // for the mean over the gate window to cross, and slack for 2 busy cores.
    let bound = SUSTAIN + 2 * METRICS_REFRESH + Duration::from_secs(5);
    eprintln!(
        "rollback latency: {:.2}s after prometheus first reported {ratio:.1} % 5xx (gate {GATE_ERROR_PERCENT} %); \
         {:.1}s after the first step landed; bound {:.0}s",
        latency.as_secs_f64(),
        rolled_back
            .saturating_duration_since(applied.expect("applied"))
            .as_secs_f64(),
        bound.as_secs_f64()
    );
    // Not sooner than the sustain guard allows (less our polling's resolution).
    assert!(
        latency + Duration::from_secs(1) >= SUSTAIN,
        "rolled back {latency:?} after prometheus saw the errors: sooner than gates.sustain"
    );
    assert!(
        latency <= bound,
        "rolled back {latency:?} after prometheus saw the errors (bound {bound:?})"
    );

    // It was the cockpit, for the 5xx, and it says so.
    let p = wait_journal(
        &stack,
        &t,
        Duration::from_secs(10),
        "the rollback journaled",
        |p| has(p, "rolled-back"),
    );
    let (_, why) = p
        .iter()
        .find(|(n, _)| n == "rolling-back")
        .expect("rolling-back journaled");
    assert!(why.contains("5xx"), "the rollback says why: {why}");
    t.wait_for("the Plan panel says rolled back", |s| {
        s.contains("rolled back")
    });
    assert_eq!(stack.weight(CANARY).expect("weight"), 0);
    assert!(stack.weight(STABLE).expect("weight") > 0);
    t.press("q");
    t.wait_exit();
    eprintln!("bad canary test: {:.1}s", started.elapsed().as_secs_f64());
}

/// A healthy stack under an auto plan with these windows, once step 2 (25 %)
/// is being observed. Step 1 is long enough for the gate window to see
/// `min_requests` canary requests (fewer: "no data", the plan pauses at 1).
fn observing_step_two(windows: [u64; 3]) -> (LiveStack, Tty) {
    let stack = LiveStack::start(&[("CANARY_ERROR_RATE", "0"), ("LOAD_RATE", LOAD_RATE)]);
    let config = variant(&stack, windows, Some(&QUIET_CHECKS));
    let t = cockpit_with_plan(&config);
    let p = wait_journal(
        &stack,
        &t,
        Duration::from_secs(40),
        "step 2 observed",
        |p| has(p, "observing 2") || has(p, "paused 1"),
    );
    assert!(has(&p, "observing 2"), "step 1 did not pass: {p:?}");
    assert_eq!(stack.canary_share().expect("share"), 25);
    (stack, t)
}

#[test]
fn prometheus_gone_mid_step_pauses_the_plan_instead_of_promoting() {
    if !tools() {
        return;
    }
    let started = Instant::now();
    let (stack, mut t) = observing_step_two([10, 10, 6]);
    let killed = Instant::now();
    stack.kill_prometheus();

    let s = t.wait_for_up_to(Duration::from_secs(30), "the plan paused", |s| {
        s.contains("PAUSED")
    });
    let paused_after = killed.elapsed();
    assert!(s.contains("no data"), "the gates say no data:\n{s}");
    // The journal's fsync may land a moment after the screen.
    let p = wait_journal(
        &stack,
        &t,
        Duration::from_secs(10),
        "paused at step 2",
        |p| p.iter().any(|(n, _)| n == "paused 2"),
    );
    let (_, why) = p
        .iter()
        .find(|(n, _)| n == "paused 2")
        .unwrap_or_else(|| panic!("paused at step 2 journaled: {p:?}"));
    assert!(why.contains("no data"), "paused for no data: {why}");
    // And it stays there: no step further, in the journal or in HAProxy.
    std::thread::sleep(Duration::from_secs(3));
    let p = phases(&journal_of(&stack));
    assert!(
        !has(&p, "applying 3") && !has(&p, "promoted"),
        "the plan went on blind: {p:?}"
    );
    assert_eq!(
        stack.canary_share().expect("share"),
        25,
        "haproxy's weights did not advance"
    );
    assert!(t.text().contains("PAUSED"), "{}", t.text());
    t.press("q");
    t.wait_exit();
    eprintln!(
        "prometheus gone: paused {:.1}s after the kill; test {:.1}s",
        paused_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn prometheus_hung_mid_step_does_not_promote_on_stale_metrics() {
    if !tools() {
        return;
    }
    let started = Instant::now();
    // Step 2's window (5 s) is shorter than the gate window (10 s): at its end
    // the points fetched before the hang are still "in the window".
    let (stack, mut t) = observing_step_two([10, 5, 6]);
    stack.signal_prometheus(libc::SIGSTOP);

    let p = wait_journal(
        &stack,
        &t,
        Duration::from_secs(30),
        "the plan paused or moved on",
        |p| has(p, "paused 2") || has(p, "applying 3"),
    );
    // Killed (not continued): the stack's cleanup would wait on it.
    stack.signal_prometheus(libc::SIGKILL);
    assert!(
        !has(&p, "applying 3"),
        "promoted on stale metrics while prometheus hung: {p:?}"
    );
    let (_, why) = p.iter().find(|(n, _)| n == "paused 2").expect("paused");
    assert!(why.contains("no data"), "paused for no data: {why}");
    assert_eq!(
        stack.canary_share().expect("share"),
        25,
        "haproxy's weights did not advance"
    );
    t.wait_for("the Plan panel says paused", |s| s.contains("PAUSED"));
    t.press("q");
    t.wait_exit();
    eprintln!(
        "prometheus hung: test {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
