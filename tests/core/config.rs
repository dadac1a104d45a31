//! The config file: the example parses, defaults hold, and every class of
//! error names the right line, key and problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use canary::config::*;
use canary::core::keymap::{Command, KeyList, Keymap};
use canary::core::model::Severity;

const FILE: &str = "/etc/canary.toml";

/// A valid `[service]` section, 4 lines long.
const SERVICE: &str = "[service]\nname = \"svc\"\nproject = \"proj\"\nregion = \"europe-west1\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE))
}

fn ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|e| panic!("{e}\n--- text:\n{text}"))
}

/// Parses `text`, expecting an error at `line` about `key` whose message
/// contains `fragment`.
#[track_caller]
fn fails(text: &str, line: Option<usize>, key: Option<&str>, fragment: &str) -> ConfigError {
    let e = match parse(text) {
        Ok(_) => panic!("expected an error\n--- text:\n{text}"),
        Err(e) => e,
    };
    assert_eq!(e.file, PathBuf::from(FILE), "{e}");
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    assert!(e.message.contains(fragment), "{e}\n(wanted {fragment:?})");
    e
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

// ---------------------------------------------------------------- example

#[test]
fn example_parses_with_the_teams_service() {
    let path = example_path();
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.source.as_deref(), Some(path.as_path()));
    assert_eq!(c.service.platform, PlatformKind::CloudRun);
    assert_eq!(c.service.name, "emergence-app");
    assert_eq!(c.service.project.as_deref(), Some("emergence-469005"));
    assert_eq!(c.service.region.as_deref(), Some("europe-west1"));
    assert_eq!(c.service.stable_revision, None);
    assert_eq!(c.service.canary_tag, "canary");
    // Everything else in the example is the documented default.
    let d = Config::default();
    assert_eq!(c.traffic, d.traffic);
    assert_eq!(c.refresh, d.refresh);
    assert_eq!(c.metrics, d.metrics);
    assert_eq!(c.gates, d.gates);
    assert_eq!(c.logs, d.logs);
    assert_eq!(c.ui, d.ui);
    assert_eq!(c.demo, d.demo);
    assert_eq!(c.diagnostics, d.diagnostics);
    assert!(c.keys.is_empty());
    assert_eq!(c.keymap, Keymap::defaults());
}

#[test]
fn example_documents_every_key() {
    let text = std::fs::read_to_string(example_path()).expect("example readable");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (section, keys) in known_keys() {
        // A nested list (plan.steps) is documented inline under its parent.
        let (parent, nested) = match section.split_once('.') {
            Some((p, _)) => (p, true),
            None => (*section, false),
        };
        let (header, array) = (format!("[{parent}]"), format!("[[{parent}]]"));
        let start = lines
            .iter()
            .position(|l| *l == header || *l == array)
            .unwrap_or_else(|| panic!("no {header} in the example"));
        for key in *keys {
            let documented = lines[start..].iter().any(|l| {
                let l = l.strip_prefix("# ").unwrap_or(l);
                l.starts_with(&format!("{key} = ")) || (nested && l.contains(&format!(" {key} = ")))
            });
            assert!(documented, "{section}.{key} is not in the example");
        }
    }
}

/// `name = value`, with a bare lowercase key.
fn is_assignment(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

#[test]
fn example_commented_values_are_valid_when_uncommented() {
    let text = std::fs::read_to_string(example_path()).expect("example readable");
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_assignment(rest) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = ok(&uncommented);
    assert_eq!(
        c.service.stable_revision.as_deref(),
        Some("emergence-app-00041-abc")
    );
    assert!(c.diagnostics.log_dir.is_some());
    assert_eq!(c.keymap.label(Command::Rollback), "r/F9");
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_are_the_documented_ones() {
    let d = Config::default();
    assert_eq!(d.service.platform, PlatformKind::CloudRun);
    assert_eq!(d.service.name, "");
    assert_eq!(d.service.canary_tag, "canary");
    assert_eq!(
        d.traffic,
        TrafficConfig {
            step: 5,
            max_step: 25
        }
    );
    assert_eq!(d.refresh.service, Duration::from_secs(2));
    assert_eq!(d.refresh.metrics, Duration::from_secs(5));
    assert_eq!(d.refresh.logs, Duration::from_secs(2));
    assert_eq!(d.metrics.window, Duration::from_secs(600));
    assert_eq!(d.metrics.step, Duration::from_secs(10));
    assert_eq!(d.gates.error_percent, 1.0);
    assert_eq!(d.gates.p95_latency_ms, 500.0);
    assert_eq!(d.logs.buffer_lines, 10_000);
    assert_eq!(d.logs.min_severity, Severity::Default);
    assert!(d.logs.follow);
    assert_eq!(d.ui.max_fps, 30);
    assert_eq!(d.ui.color, ColorChoice::Auto);
    assert_eq!(d.demo.scenario, "healthy");
    assert_eq!(d.demo.seed, 42);
    assert_eq!(d.diagnostics.log_level, "info");
    assert_eq!(d.diagnostics.log_dir, None);
    assert_eq!(d.source, None);
}

#[test]
fn a_minimal_file_gets_the_defaults() {
    let c = ok(SERVICE);
    let d = Config::default();
    assert_eq!(c.service.name, "svc");
    assert_eq!(c.traffic, d.traffic);
    assert_eq!(c.refresh, d.refresh);
    assert_eq!(c.metrics, d.metrics);
    assert_eq!(c.logs, d.logs);
    assert_eq!(c.keymap, d.keymap);
    assert_eq!(c.source, Some(PathBuf::from(FILE)));
}

#[test]
fn demo_is_the_simulator_and_matches_a_simulator_file() {
    let demo = Config::demo();
    assert_eq!(demo.service.platform, PlatformKind::Simulator);
    assert_eq!(demo.service.name, "emergence-app");
    assert_eq!(demo.service.project.as_deref(), Some("demo-project"));
    assert_eq!(demo.service.region.as_deref(), Some("europe-west1"));
    assert_eq!(demo.keymap, Keymap::defaults());
    assert_eq!(demo.source, None);

    let mut from_file = ok("[service]\nplatform = \"simulator\"\n");
    assert_eq!(from_file.source, Some(PathBuf::from(FILE)));
    from_file.source = None;
    assert_eq!(from_file, demo);
}

#[test]
fn every_value_is_read() {
    let text = r#"
[service]
platform = "cloud-run"
name = "svc"
project = "proj"
region = "us-central1"
stable_revision = "svc-00041-abc"
canary_tag = "next"

[traffic]
step = 10
max_step = 50

[refresh]
service = "500ms"
metrics = "1m"
logs = "1h30m"

[metrics]
window = "1h"
step = "1m"

[gates]
error_percent = 2
p95_latency_ms = 750.5

[logs]
buffer_lines = 500
min_severity = "warning"
follow = false

[ui]
max_fps = 60
color = "never"

[demo]
scenario = "scenarios/bad-canary.toml"
seed = 7

[diagnostics]
log_level = "DEBUG"
log_dir = "/var/log/canary"

[keys]
rollback = ["r", "F9"]
help = "F1"
"#;
    let c = ok(text);
    assert_eq!(c.service.stable_revision.as_deref(), Some("svc-00041-abc"));
    assert_eq!(c.service.canary_tag, "next");
    assert_eq!(
        c.traffic,
        TrafficConfig {
            step: 10,
            max_step: 50
        }
    );
    assert_eq!(c.refresh.service, Duration::from_millis(500));
    assert_eq!(c.refresh.metrics, Duration::from_secs(60));
    assert_eq!(c.refresh.logs, Duration::from_secs(5400));
    assert_eq!(c.metrics.window, Duration::from_secs(3600));
    assert_eq!(c.gates.error_percent, 2.0);
    assert_eq!(c.gates.p95_latency_ms, 750.5);
    assert_eq!(c.logs.buffer_lines, 500);
    assert_eq!(c.logs.min_severity, Severity::Warning);
    assert!(!c.logs.follow);
    assert_eq!(
        c.ui,
        UiConfig {
            max_fps: 60,
            color: ColorChoice::Never
        }
    );
    assert_eq!(c.demo.scenario, "scenarios/bad-canary.toml");
    assert_eq!(c.demo.seed, 7);
    assert_eq!(c.diagnostics.log_level, "debug");
    assert_eq!(
        c.diagnostics.log_dir,
        Some(PathBuf::from("/var/log/canary"))
    );
    assert_eq!(
        c.keys.get("rollback"),
        Some(&KeyList::Many(vec!["r".into(), "F9".into()]))
    );
    assert_eq!(c.keymap.label(Command::Rollback), "r/F9");
    assert_eq!(c.keymap.label(Command::Help), "F1");
}

#[test]
fn inline_tables_and_dotted_keys_work() {
    let c = ok(&format!(
        "traffic = {{ step = 10, max_step = 40 }}\nui.max_fps = 10\n{SERVICE}"
    ));
    assert_eq!(
        c.traffic,
        TrafficConfig {
            step: 10,
            max_step: 40
        }
    );
    assert_eq!(c.ui.max_fps, 10);
    fails(
        &format!("\n\ntraffic = {{ step = 10, max_step = 4 }}\n{SERVICE}"),
        Some(3),
        Some("traffic.max_step"),
        "expected at least traffic.step (10)",
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn unreadable_file_names_the_file() {
    let path = Path::new("/nonexistent/canary/config.toml");
    let e = Config::load(path).expect_err("missing file");
    assert_eq!(e.file, path);
    assert_eq!(e.line, None);
    assert!(e.message.starts_with("cannot read the file"), "{e}");
    assert!(
        e.to_string()
            .starts_with("config error: /nonexistent/canary/config.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn syntax_error() {
    let e = fails(
        "[service]\nname = \"svc\"\nproject = \n",
        Some(3),
        None,
        "invalid string",
    );
    assert!(
        e.to_string()
            .starts_with("config error: /etc/canary.toml:3: invalid string"),
        "{e}"
    );
    fails(
        &format!("{SERVICE}[traffic]\nstep = 5\nstep = 6\n"),
        Some(7),
        None,
        "duplicate key `step`",
    );
}

#[test]
fn unknown_key_at_top_level() {
    let e = fails(
        &format!("\n\n\n\n\nstuff = 1\n{SERVICE}"),
        Some(6),
        Some("stuff"),
        "unknown key; expected one of: service, traffic, refresh, metrics, gates, judge, plan, deploy, revisions, verification, checks, journal, notify, audit, cloud_run, haproxy, kubernetes, prometheus, logs, ui, demo, diagnostics, keys",
    );
    assert_eq!(
        e.to_string(),
        "config error: /etc/canary.toml:6: key `stuff`: unknown key; expected one of: service, traffic, refresh, metrics, gates, judge, plan, deploy, revisions, verification, checks, journal, notify, audit, cloud_run, haproxy, kubernetes, prometheus, logs, ui, demo, diagnostics, keys"
    );
    // A top-level key written after a section header belongs to that section.
    fails(
        &format!("{SERVICE}traffic = {{ step = 10 }}\n"),
        Some(5),
        Some("service.traffic"),
        "`traffic` is a section: keys written after the [service] header belong to [service]",
    );
    fails(
        &format!("{SERVICE}[checks]\nhealth = \"/api/health\"\n"),
        Some(5),
        Some("checks"),
        "write each check as its own [[checks]] table",
    );
}

#[test]
fn unknown_key_in_a_section() {
    let e = fails(
        &format!("{SERVICE}[traffic]\nstep = 5\nstepp = 3\n"),
        Some(7),
        Some("traffic.stepp"),
        "unknown key; expected one of: step, max_step",
    );
    assert_eq!(e.column, Some(1));
    assert!(e.message.contains("did you mean `step`?"), "{e}");
    assert!(
        e.to_string().starts_with("config error: /etc/canary.toml:7: key `traffic.stepp`: unknown key; expected one of: step, max_step"),
        "{e}"
    );
    fails(
        "[service]\nplatform = \"simulator\"\nnmae = \"x\"\n",
        Some(3),
        Some("service.nmae"),
        "did you mean `name`?",
    );
}

#[test]
fn wrong_type() {
    fails(
        &format!("{SERVICE}[traffic]\nstep = \"five\"\n"),
        Some(6),
        Some("traffic.step"),
        "invalid type: string \"five\", expected a number of points between 1 and 50",
    );
    fails(
        &format!("{SERVICE}[logs]\nfollow = \"yes\"\n"),
        Some(6),
        Some("logs.follow"),
        "invalid type: string \"yes\", expected true or false",
    );
    fails(
        &format!("{SERVICE}[refresh]\nservice = 2\n"),
        Some(6),
        Some("refresh.service"),
        "invalid type: integer 2, expected a duration",
    );
    fails(
        &format!("traffic = 5\n{SERVICE}"),
        Some(1),
        Some("traffic"),
        "expected a table",
    );
    fails(
        &format!("{SERVICE}[traffic.step]\nx = 1\n"),
        Some(5),
        Some("traffic.step"),
        "invalid type: table, expected a number of points",
    );
}

#[test]
fn out_of_range() {
    let e = fails(
        &format!("{SERVICE}\n\n[traffic]\nstep = 0\n"),
        Some(8),
        Some("traffic.step"),
        "invalid value 0, expected a number of points between 1 and 50",
    );
    assert_eq!(
        e.to_string(),
        "config error: /etc/canary.toml:8: key `traffic.step`: invalid value 0, expected a number of points between 1 and 50"
    );
    let cases = [
        (
            "traffic",
            "max_step = 101",
            "traffic.max_step",
            "invalid value 101",
        ),
        (
            "gates",
            "error_percent = 150.0",
            "gates.error_percent",
            "between 0 and 100",
        ),
        (
            "gates",
            "p95_latency_ms = 0",
            "gates.p95_latency_ms",
            "greater than 0",
        ),
        (
            "logs",
            "buffer_lines = 99",
            "logs.buffer_lines",
            "between 100 and 1000000",
        ),
        ("ui", "max_fps = 0", "ui.max_fps", "between 1 and 120"),
        (
            "ui",
            "color = \"blue\"",
            "ui.color",
            "invalid value \"blue\", expected one of: \"auto\"",
        ),
        ("demo", "seed = -1", "demo.seed", "invalid value -1"),
        (
            "demo",
            "scenario = \"\"",
            "demo.scenario",
            "invalid value \"\"",
        ),
        (
            "diagnostics",
            "log_level = \"loud\"",
            "diagnostics.log_level",
            "one of: \"error\"",
        ),
        (
            "service",
            "canary_tag = \"my tag\"",
            "service.canary_tag",
            "without spaces",
        ),
        ("refresh", "logs = \"50ms\"", "refresh.logs", "too short"),
    ];
    for (section, line, key, fragment) in cases {
        let text = if section == "service" {
            format!("{SERVICE}{line}\n")
        } else {
            format!("{SERVICE}[{section}]\n{line}\n")
        };
        let want = if section == "service" { 5 } else { 6 };
        fails(&text, Some(want), Some(key), fragment);
    }
}

#[test]
fn platform_names() {
    fails(
        "[service]\nplatform = \"kubernetes\"\n",
        Some(1),
        Some("service.name"),
        "platform \"kubernetes\" needs a service name",
    );
    fails(
        "[service]\nplatform = \"cloudrun\"\n",
        Some(2),
        Some("service.platform"),
        "invalid value \"cloudrun\", expected one of: \"cloud-run\", \"haproxy\", \"kubernetes\", \"simulator\"",
    );
}

#[test]
fn haproxy_needs_its_socket_and_backend() {
    let base = "[service]\nplatform = \"haproxy\"\nname = \"app\"\n";
    fails(
        base,
        None,
        Some("haproxy.socket"),
        "needs the Runtime API socket, e.g. socket = \"/run/haproxy/admin.sock\"; add a [haproxy] section",
    );
    fails(
        &format!("{base}[haproxy]\nsocket = \"/run/h.sock\"\n"),
        Some(4),
        Some("haproxy.backend"),
        "needs the backend",
    );
    fails(
        &format!("{base}[haproxy]\nsocket = \"tcp://nohost\"\nbackend = \"b\"\n"),
        Some(5),
        Some("haproxy.socket"),
        "invalid value \"tcp://nohost\"",
    );
    let c = ok(&format!(
        "{base}[haproxy]\nsocket = \"/run/h.sock\"\nbackend = \"app\"\nstable = \"v1\"\ncanary = \"v2\"\n\
         [prometheus]\nurl = \"http://127.0.0.1:9090\"\nrate_window = \"10s\"\n\
         [logs.files]\n\"v1\" = \"/tmp/v1.log\"\n"
    ));
    let h = c.haproxy.expect("haproxy");
    assert_eq!(
        (h.backend.as_str(), h.canary.as_deref()),
        ("app", Some("v2"))
    );
    let p = c.prometheus.expect("prometheus");
    assert_eq!(p.rate_window, Duration::from_secs(10));
    assert_eq!(c.logs.files.get("v1"), Some(&PathBuf::from("/tmp/v1.log")));
    fails(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nrate_window = \"10s\"\n",
        Some(3),
        Some("prometheus.url"),
        "needs url",
    );
    fails(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nrequest_rate = \"rate(x{r=\\\"{rev}\\\"}[1m])\"\n",
        Some(5),
        Some("prometheus.request_rate"),
        "invalid value",
    );
    // The judge's latency histogram: a template, its le unit; "" for none.
    let c = ok(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\n\
         latency_buckets = \"sum by (le) (rate(h_bucket{r=\\\"{revision}\\\"}[{rate_window}]))\"\n\
         latency_buckets_unit = \"ms\"\n",
    );
    let p = c.prometheus.expect("prometheus");
    assert!(p
        .latency_buckets
        .as_deref()
        .is_some_and(|t| t.contains("h_bucket")));
    assert_eq!(p.latency_buckets_le_ms, Some(1));
    let c = ok("[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nlatency_buckets = \"\"\n");
    assert_eq!(
        c.prometheus.expect("prometheus").latency_buckets.as_deref(),
        Some("")
    );
    fails(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nlatency_buckets_unit = \"us\"\n",
        Some(5),
        Some("prometheus.latency_buckets_unit"),
        "\"s\" or \"ms\"",
    );
    fails(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nlatency_buckets = \"h_bucket{r=\\\"{rev}\\\"}\"\n",
        Some(5),
        Some("prometheus.latency_buckets"),
        "unknown placeholder {rev}",
    );
    // The source's lag: the newest sample's time; "" for none.
    let c = ok("[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nfreshness = \"max(timestamp(x{r=\\\"{revision}\\\"}))\"\n");
    assert!(c
        .prometheus
        .expect("prometheus")
        .freshness
        .is_some_and(|t| t.contains("timestamp(x{")));
    fails(
        "[service]\nplatform = \"simulator\"\n[prometheus]\nurl = \"http://p\"\nfreshness = \"max(timestamp(x{r=\\\"{rev}\\\"}))\"\n",
        Some(5),
        Some("prometheus.freshness"),
        "unknown placeholder {rev}",
    );
}

#[test]
fn max_step_smaller_than_step() {
    fails(
        &format!("{SERVICE}[traffic]\nstep = 10\nmax_step = 5\n"),
        Some(7),
        Some("traffic.max_step"),
        "invalid value 5, expected at least traffic.step (10)",
    );
    // Only `step` written: the default max_step (25) is too small for it.
    fails(
        &format!("{SERVICE}[traffic]\nstep = 30\n"),
        Some(6),
        Some("traffic.step"),
        "larger than traffic.max_step (25, the default)",
    );
}

#[test]
fn bad_durations() {
    fails(
        &format!("{SERVICE}[refresh]\nservice = \"2s\"\nmetrics = \"5 minutes\"\n"),
        Some(7),
        Some("refresh.metrics"),
        "invalid value \"5 minutes\": write the number and the unit together",
    );
    fails(
        &format!("{SERVICE}[metrics]\nwindow = \"-1s\"\n"),
        Some(6),
        Some("metrics.window"),
        "cannot be negative",
    );
    fails(
        &format!("{SERVICE}[refresh]\nlogs = \"2\"\n"),
        Some(6),
        Some("refresh.logs"),
        "missing unit after 2",
    );
}

#[test]
fn metrics_window_and_step_must_give_2_to_1000_points() {
    fails(
        &format!("{SERVICE}[metrics]\nwindow = \"1h\"\nstep = \"1s\"\n"),
        Some(7),
        Some("metrics.step"),
        "gives 3600 points, expected between 2 and 1000",
    );
    // Only the window written: the error is on it.
    fails(
        &format!("{SERVICE}[metrics]\nwindow = \"15s\"\n"),
        Some(6),
        Some("metrics.window"),
        "gives 1 points",
    );
}

#[test]
fn bad_severity() {
    fails(
        &format!("{SERVICE}[logs]\nmin_severity = \"LOUD\"\n"),
        Some(6),
        Some("logs.min_severity"),
        "invalid value \"LOUD\", expected one of: DEFAULT, DEBUG, INFO",
    );
    let c = ok(&format!("{SERVICE}[logs]\nmin_severity = \"error\"\n"));
    assert_eq!(c.logs.min_severity, Severity::Error);
}

#[test]
fn bad_key_binding() {
    fails(
        &format!("{SERVICE}[keys]\nquit = \"q\"\nrollback = \"Hyper-q\"\n"),
        Some(7),
        Some("keys.rollback"),
        "`Hyper-q` is not a key",
    );
    fails(
        &format!("{SERVICE}[keys]\nquit = [\"q\", 1]\n"),
        Some(6),
        Some("keys.quit"),
        "invalid type: integer 1 in the list",
    );
    fails(
        &format!("{SERVICE}[keys]\nquit = []\n"),
        Some(6),
        Some("keys.quit"),
        "at least one key",
    );
    // Bound to a key another command has.
    fails(
        &format!("{SERVICE}[keys]\nrollback = \"j\"\n"),
        Some(6),
        Some("keys.rollback"),
        "key `j` is already bound to `select_next`",
    );
    // The file's key collides with a default of a command the file leaves alone.
    fails(
        &format!("{SERVICE}[keys]\nselect_next = \"r\"\n"),
        Some(6),
        Some("keys.select_next"),
        "key `r` is already bound to `rollback` by default",
    );
}

#[test]
fn unknown_command_in_keys() {
    fails(
        &format!("{SERVICE}[keys]\nlaunch_rockets = \"x\"\n"),
        Some(6),
        Some("keys.launch_rockets"),
        "unknown command `launch_rockets`",
    );
    fails(
        &format!("{SERVICE}[keys]\nrollbak = \"x\"\n"),
        Some(6),
        Some("keys.rollbak"),
        "did you mean `rollback`?",
    );
}

#[test]
fn cloud_run_requires_name_project_region() {
    // Missing key: the line of the [service] header.
    fails(
        "# comment\n\n[service]\nname = \"svc\"\nregion = \"europe-west1\"\n",
        Some(3),
        Some("service.project"),
        "missing: platform \"cloud-run\" needs the Google Cloud project",
    );
    fails(
        "[service]\nplatform = \"cloud-run\"\nproject = \"p\"\nname = \"svc\"\n",
        Some(1),
        Some("service.region"),
        "missing",
    );
    // No [service] section at all: no line, and the message says what to add.
    let e = fails("", None, Some("service.name"), "add a [service] section");
    assert_eq!(
        e.to_string(),
        "config error: /etc/canary.toml: key `service.name`: missing: platform \"cloud-run\" needs the Cloud Run service name, e.g. name = \"my-service\"; add a [service] section"
    );
    // Empty strings are refused where the value is.
    fails(
        "[service]\nname = \"\"\nproject = \"p\"\nregion = \"r\"\n",
        Some(2),
        Some("service.name"),
        "invalid value \"\"",
    );
}

#[test]
fn simulator_needs_no_service_details() {
    let c = ok("[service]\nplatform = \"simulator\"\nname = \"other\"\n");
    assert_eq!(c.service.platform, PlatformKind::Simulator);
    assert_eq!(c.service.name, "other");
    assert_eq!(c.service.project.as_deref(), Some(DEMO_PROJECT));
}

// ---------------------------------------------------------------- locate

#[test]
fn locate_prefers_the_command_line() {
    let p = Path::new("/tmp/somewhere/canary.toml");
    assert_eq!(locate(Some(p)), Some(p.to_path_buf()));
    assert_eq!(
        locate_with(None, Some(std::ffi::OsStr::new("/x.toml")), None),
        Some(PathBuf::from("/x.toml"))
    );
    if let Some(d) = default_config_path() {
        assert!(d.ends_with("config.toml"), "{d:?}");
    }
}

// ------------------------------------------------- plan, checks, journal, notify

#[test]
fn example_holds_the_teams_checks_and_plan() {
    let c = Config::load(&example_path()).expect("example parses");
    let names: Vec<&str> = c.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ready",
            "health",
            "readiness",
            "memory-analysis",
            "cache-hit-rate",
            "home-page",
            "assets",
            "static-bundle",
            "no-errors-in-logs",
            "5xx-vs-stable",
            "memory"
        ]
    );
    let kinds: Vec<&str> = c.checks.iter().map(|c| c.kind.name()).collect();
    for k in canary::checks::KINDS {
        assert!(kinds.contains(&k), "the example shows a {k} check");
    }
    // Only the cache hit rate warns; everything else blocks.
    let warn: Vec<&str> = c
        .checks
        .iter()
        .filter(|c| !c.blocking)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(warn, ["cache-hit-rate"]);
    let health = &c.checks[1];
    assert_eq!(health.timeout, Duration::from_secs(120));
    match &health.kind {
        canary::checks::CheckKind::Http(h) => {
            assert_eq!(h.retries, 5);
            assert_eq!(h.url_template, "{tag_url}/api/health");
            assert_eq!(h.json.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.verification_timeout, Duration::from_secs(600));
    let pct: Vec<u8> = c.plan.steps.iter().map(|s| s.percent).collect();
    assert_eq!(pct, [10, 25, 50, 100]);
    assert_eq!(c.plan.steps[2].observe, Duration::from_secs(3600));
    assert_eq!(c.plan, canary::core::plan::PlanSpec::domain_default());
    assert_eq!(c.gates.sustain, Duration::from_secs(20));
    assert!(c.journal.enabled);
    assert_eq!(c.notify.webhook_url, None);
}

#[test]
fn plan_steps_are_checked() {
    let base = format!("{SERVICE}[plan]\n");
    fails(
        &format!("{base}steps = [{{ percent = 10, observe = \"1m\" }}, {{ percent = 5 }}]\n"),
        Some(6),
        Some("plan.steps"),
        "step 2: 5 % does not rise above the previous step's 10 %",
    );
    fails(
        &format!("{base}steps = [{{ percent = 10 }}, {{ percent = 50 }}]\n"),
        Some(6),
        Some("plan.steps"),
        "the last step must be 100 %",
    );
    fails(
        &format!("{base}steps = [{{ percent = 101 }}]\n"),
        Some(6),
        Some("plan.steps.percent"),
        "between 1 and 100",
    );
    fails(
        &format!("{base}steps = [{{ observe = \"1m\" }}]\n"),
        Some(6),
        Some("plan.steps.percent"),
        "every step needs a percent",
    );
    fails(
        &format!("{base}steps = [{{ percent = 100, wait = \"1m\" }}]\n"),
        Some(6),
        Some("plan.steps.wait"),
        "expected one of: percent, observe",
    );
    fails(
        &format!("{base}mode = \"yolo\"\n"),
        Some(6),
        Some("plan.mode"),
        "\"manual\", \"auto\"",
    );
    let c = ok(&format!(
        "{base}mode = \"auto\"\non_failure = \"step-down\"\n\n[[plan.steps]]\npercent = 50\nobserve = \"2m\"\n\n[[plan.steps]]\npercent = 100\n"
    ));
    assert_eq!(c.plan.mode, canary::core::plan::PlanMode::Auto);
    assert_eq!(c.plan.on_failure, canary::core::plan::OnFailure::StepDown);
    assert_eq!(c.plan.steps.len(), 2);
    assert_eq!(c.plan.steps[0].observe, Duration::from_secs(120));
    assert_eq!(c.plan.steps[1].observe, Duration::ZERO);
}

#[test]
fn checks_are_checked() {
    let check = |body: &str| format!("{SERVICE}[[checks]]\n{body}");
    fails(
        &check("name = \"h\"\nkind = \"http\"\n"),
        Some(5),
        Some("checks.url"),
        "check \"h\" (http) needs a url",
    );
    fails(
        &check("name = \"h\"\nkind = \"htp\"\n"),
        Some(7),
        Some("checks.kind"),
        "\"http\", \"ready\", \"metrics-endpoint\", \"query\", \"logs\"",
    );
    fails(
        &check("kind = \"ready\"\n"),
        Some(5),
        Some("checks.name"),
        "every check needs a name",
    );
    // A key of another kind is a mistake, named as such.
    fails(
        &check("name = \"r\"\nkind = \"ready\"\nurl = \"{tag_url}/x\"\n"),
        Some(8),
        Some("checks.url"),
        "unknown key for a ready check",
    );
    fails(
        &check("name = \"m\"\nkind = \"metrics-endpoint\"\nurl = \"{tag_url}/m\"\ncondition = \"a <=\"\n"),
        Some(9),
        Some("checks.condition"),
        "invalid value \"a <=\"",
    );
    fails(
        &check("name = \"h\"\nkind = \"http\"\nurl = \"{tagurl}/x\"\n"),
        Some(8),
        Some("checks.url"),
        "tagurl",
    );
    fails(
        &check("name = \"h\"\nkind = \"http\"\nurl = \"{tag_url}/\"\nbody_regex = \"(\"\n"),
        Some(9),
        Some("checks.body_regex"),
        "invalid value \"(\"",
    );
    fails(
        &check("name = \"h\"\nkind = \"http\"\nurl = \"{tag_url}/\"\njson = [\"status\"]\n"),
        Some(9),
        Some("checks.json"),
        "expected `field == value`",
    );
    fails(
        &check("name = \"q\"\nkind = \"query\"\nmetric = \"error_percent\"\n"),
        Some(5),
        Some("checks.max"),
        "needs max, min or compare_to_stable",
    );
    fails(
        &check("name = \"q\"\nkind = \"query\"\nmetric = \"cpu\"\nmax = 1\n"),
        Some(8),
        Some("checks.metric"),
        "\"error_percent\"",
    );
    fails(
        &check("name = \"l\"\nkind = \"logs\"\nseverity = \"LOUD\"\n"),
        Some(8),
        Some("checks.severity"),
        "ERROR",
    );
    fails(
        &check("name = \"a\"\nkind = \"ready\"\n\n[[checks]]\nname = \"a\"\nkind = \"ready\"\n"),
        Some(10),
        Some("checks.name"),
        "another check has this name",
    );
    fails(
        &check("name = \"a\"\nkind = \"ready\"\nretires = 3\n"),
        Some(8),
        Some("checks.retires"),
        "did you mean `retries`?",
    );
}

#[test]
fn the_webhook_url_is_never_echoed() {
    let e = fails(
        &format!("{SERVICE}[notify]\nwebhook_url = \"hooks.slack.com/services/SECRET\"\n"),
        Some(6),
        Some("notify.webhook_url"),
        "not shown: it is a secret",
    );
    assert!(!e.to_string().contains("SECRET"), "{e}");
    let c = ok(&format!(
        "{SERVICE}[notify]\nwebhook_url = \"https://hooks.example/services/SECRET\"\n"
    ));
    assert_eq!(
        c.notify.webhook_url.as_deref(),
        Some("https://hooks.example/services/SECRET")
    );
    assert!(!format!("{c:?}").contains("SECRET"), "Debug hides the URL");
}

#[test]
fn journal_and_cloud_run_sections() {
    let c = ok(&format!(
        "{SERVICE}[journal]\ndir = \"/var/lib/canary\"\n[cloud_run]\nendpoint = \"http://127.0.0.1:8123/\"\nauth = \"none\"\n"
    ));
    assert_eq!(
        c.journal.path_for("svc").expect("a path"),
        canary::journal::path_for(Path::new("/var/lib/canary"), "svc")
    );
    assert_eq!(
        c.cloud_run.endpoint.as_deref(),
        Some("http://127.0.0.1:8123")
    );
    assert_eq!(c.cloud_run.auth, GoogleAuth::None);
    let off = ok(&format!("{SERVICE}[journal]\nenabled = false\n"));
    assert_eq!(off.journal.path_for("svc"), None);
    fails(
        &format!("{SERVICE}[cloud_run]\nauth = \"magic\"\n"),
        Some(6),
        Some("cloud_run.auth"),
        "\"adc\", \"gcloud\", \"none\"",
    );
}

#[test]
fn log_files_and_commands_name_the_revision_in_errors() {
    fails(
        &format!("{SERVICE}[logs.files]\n\"v1\" = 3\n"),
        Some(6),
        Some("logs.files.v1"),
        "invalid value integer 3, expected a table of revision",
    );
    fails(
        &format!("{SERVICE}[logs.commands]\n\"v2\" = \"  \"\n"),
        Some(6),
        Some("logs.commands.v2"),
        "expected a table of revision = \"shell command\"",
    );
    let c = ok(&format!(
        "{SERVICE}[logs]\ncommands = {{ \"v2\" = \"kubectl logs -f deploy/v2\" }}\n"
    ));
    assert_eq!(
        c.logs.commands.get("v2").map(String::as_str),
        Some("kubectl logs -f deploy/v2")
    );
}

#[test]
fn judge_keys_are_validated() {
    use canary::core::judge::JudgeMode;
    let c = ok(&format!(
        "{SERVICE}[judge]\nmode = \"act\"\nalpha = 0.05\nerror_margin = 0.25\nlatency_margin_ms = 80\nmin_requests = 300\n"
    ));
    assert_eq!(c.judge.mode, JudgeMode::Act);
    assert_eq!(c.judge.alpha, 0.05);
    assert_eq!(c.judge.error_margin_points, 0.25);
    assert_eq!(c.judge.latency_margin_ms, 80.0);
    assert_eq!(c.judge.min_requests, 300.0);
    // Defaults: observe only.
    assert_eq!(ok(SERVICE).judge.mode, JudgeMode::Observe);
    fails(
        &format!("{SERVICE}[judge]\nmode = \"maybe\"\n"),
        Some(6),
        Some("judge.mode"),
        "one of: \"off\", \"observe\"",
    );
    fails(
        &format!("{SERVICE}[judge]\nalpha = 0.5\n"),
        Some(6),
        Some("judge.alpha"),
        "between 0.0001 and 0.2",
    );
    fails(
        &format!("{SERVICE}[judge]\nerror_margin = -1\n"),
        Some(6),
        Some("judge.error_margin"),
        "points of 5xx",
    );
    fails(
        &format!("{SERVICE}[judge]\nmin_requests = 0\n"),
        Some(6),
        Some("judge.min_requests"),
        "1 or more",
    );
    fails(
        &format!("{SERVICE}[judge]\nsensitivity = 3\n"),
        Some(6),
        Some("judge.sensitivity"),
        "unknown key",
    );
}

// ---------------------------------------------------------------- [audit]

#[test]
fn audit_shared_is_checked_with_file_line_and_key() {
    let c = parse(&format!("{SERVICE}[audit]\nshared = \"cloud-logging\"\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.audit.shared,
        Some(canary::config::SharedSink::CloudLogging)
    );
    assert_eq!(c.audit.log, "canary-audit");
    assert_eq!(c.audit.queue, 1000);
    assert_eq!(parse(SERVICE).unwrap().audit.shared, None);
    fails(
        &format!("{SERVICE}[audit]\nshared = \"syslog\"\n"),
        Some(6),
        Some("audit.shared"),
        "invalid value \"syslog\", expected \"cloud-logging\"",
    );
    fails(
        &format!("{SERVICE}[audit]\nshared = \"kubernetes-events\"\n"),
        Some(6),
        Some("audit.shared"),
        "\"kubernetes-events\" needs platform \"kubernetes\"",
    );
    fails(
        "[service]\nplatform = \"haproxy\"\nname = \"app\"\n[haproxy]\nsocket = \"/run/h.sock\"\nbackend = \"app\"\n[audit]\nshared = \"cloud-logging\"\n",
        Some(8),
        Some("audit.shared"),
        "needs platform \"cloud-run\"",
    );
    fails(
        &format!("{SERVICE}[audit]\nqueue = 0\n"),
        Some(6),
        Some("audit.queue"),
        "from 1 to 100000",
    );
    fails(
        &format!("{SERVICE}[audit]\nlog = \"has space\"\n"),
        Some(6),
        Some("audit.log"),
        "a log ID",
    );
    fails(
        &format!("{SERVICE}[audit]\nshard = \"cloud-logging\"\n"),
        Some(6),
        Some("audit.shard"),
        "did you mean `shared`",
    );
}

#[test]
fn gates_mode_is_validated_and_observe_needs_an_acting_judge() {
    use canary::core::state::GatesMode;
    assert_eq!(ok(SERVICE).gates.mode, GatesMode::Act);
    let c = ok(&format!(
        "{SERVICE}[gates]\nmode = \"observe\"\n[judge]\nmode = \"act\"\n"
    ));
    assert_eq!(c.gates.mode, GatesMode::Observe);
    assert_eq!(
        ok(&format!("{SERVICE}[gates]\nmode = \"act\"\n"))
            .gates
            .mode,
        GatesMode::Act
    );
    fails(
        &format!("{SERVICE}[gates]\nmode = \"warn\"\n"),
        Some(6),
        Some("gates.mode"),
        "expected one of: \"act\"",
    );
    fails(
        &format!("{SERVICE}[gates]\nmode = true\n"),
        Some(6),
        Some("gates.mode"),
        "invalid type: boolean",
    );
    // Neither acting: nothing would stop a canary on its metrics.
    let e = fails(
        &format!("{SERVICE}[gates]\nerror_percent = 2.0\nmode = \"observe\"\n"),
        Some(7),
        Some("gates.mode"),
        "needs judge.mode = \"act\" (it is \"observe\")",
    );
    assert!(e.to_string().contains("/etc/canary.toml:7"), "{e}");
    fails(
        &format!("{SERVICE}[gates]\nmode = \"observe\"\n[judge]\nmode = \"off\"\n"),
        Some(6),
        Some("gates.mode"),
        "(it is \"off\")",
    );
}

#[test]
fn judge_baseline_is_validated() {
    use canary::core::plan::Baseline;
    assert_eq!(ok(SERVICE).judge.baseline, Baseline::None, "off by default");
    let c = ok(&format!("{SERVICE}[judge]\nbaseline = \"deploy\"\n"));
    assert_eq!(c.judge.baseline, Baseline::Deploy);
    fails(
        &format!("{SERVICE}[judge]\nmode = \"act\"\nbaseline = \"canary\"\n"),
        Some(7),
        Some("judge.baseline"),
        "one of: \"none\"",
    );
}
