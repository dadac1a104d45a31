//! The screen, drawn into ratatui's `TestBackend` at 80x24 and 120x40 and
//! compared as text with insta; plus style checks (colours, NO_COLOR) and a
//! no-panic sweep over sizes.
//!
//! States are built from `canary_fakes::fixtures` and by sending actions
//! through `update` (keys included), never by hand-editing invariants.
//! Write new snapshots with `INSTA_UPDATE=always cargo test --test core snapshots::`,
//! then read every `.snap` before keeping it.

use canary::core::action::Action;
use canary::core::error::BackendError;
use canary::core::key::KeyCode;
use canary::core::model::{MetricKind, MetricsBatch, Severity, TrafficSplit};
use canary::core::plan::{Phase, PlanMode, PlanSpec, Verdict};
use canary::core::state::{CheckInfo, CheckResult, CheckStatus, Mode, Settings, State};
use canary::core::update::{resume_interrupted_plan, update};
use canary_fakes::fixtures::{self, t0, CANARY, STABLE};
use chrono::{DateTime, Duration, Utc};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

// ------------------------------------------------------------------ helpers

use canary_fakes::fixtures::key;

fn press(s: &mut State, code: KeyCode) {
    update(s, key(code), s.now);
}

fn type_str(s: &mut State, text: &str) {
    for c in text.chars() {
        press(s, KeyCode::Char(c));
    }
}

/// Lets time pass (ages in the header, titles and footer grow).
fn later(s: &mut State, secs: i64) {
    update(s, Action::Tick, t0() + Duration::seconds(secs));
}

fn draw(state: &State, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| canary::ui::render(f, state)).expect("draw");
    term.backend().buffer().clone()
}

/// The buffer as text, one line per row, trailing spaces trimmed.
fn text(buf: &Buffer) -> String {
    let a = buf.area;
    let mut out = String::new();
    for y in a.top()..a.bottom() {
        let line: String = (a.left()..a.right())
            .map(|x| buf[(x, y)].symbol())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(80, 24), (120, 40)] {
        let t = text(&draw(state, w, h));
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t);
    }
}

fn busy() -> State {
    let mut s = fixtures::busy_state();
    later(&mut s, 2);
    s
}

// ------------------------------------------------------------------ states

fn help() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('?'));
    assert!(matches!(s.mode, Mode::Help { .. }));
    s
}

fn confirm_rollback() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('r'));
    assert!(matches!(s.mode, Mode::Confirm(_)), "{:?}", s.message);
    s
}

fn confirm_large() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('='));
    type_str(&mut s, "canary=60");
    press(&mut s, KeyCode::Enter);
    assert!(matches!(s.mode, Mode::Confirm(_)), "{:?}", s.message);
    s
}

fn set_split(text: &str) -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('='));
    type_str(&mut s, text);
    assert!(matches!(s.mode, Mode::Input(_)));
    s
}

fn reason() -> State {
    let mut s = confirm_rollback();
    press(&mut s, KeyCode::Char('y'));
    assert!(matches!(s.mode, Mode::Input(_)), "{:?}", s.message);
    type_str(&mut s, "5xx above gate");
    s
}

fn filter() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('/'));
    type_str(&mut s, "503");
    s
}

fn demo_read_only() -> State {
    let mut s = fixtures::busy_state_with(Settings {
        read_only: true,
        demo: true,
        scenario: Some("bad-canary".into()),
        ..Settings::default()
    });
    later(&mut s, 2);
    press(&mut s, KeyCode::Char('+')); // refused, said in the footer
    s
}

fn pending() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('+'));
    assert!(s.change.is_some(), "{:?}", s.message);
    later(&mut s, 5);
    s
}

fn backend_errors() -> State {
    let mut s = busy();
    later(&mut s, 14);
    let now = s.now;
    update(
        &mut s,
        Action::ServiceFailed(BackendError::Unavailable {
            message: "503 from run.googleapis.com".into(),
            retry_after: None,
        }),
        now,
    );
    update(
        &mut s,
        Action::MetricsFailed(BackendError::Auth("token expired".into())),
        now,
    );
    s
}

fn no_data() -> State {
    // The canary has no traffic yet: its series are empty, not zero.
    let mut s = fixtures::state();
    let mut batch = MetricsBatch::default();
    for ((rev, kind), series) in fixtures::metrics().series {
        if rev == STABLE {
            batch.series.insert((rev, kind), series);
        }
    }
    update(&mut s, Action::MetricsLoaded(batch), t0());
    update(&mut s, Action::LogBatch(fixtures::logs(30)), t0());
    later(&mut s, 1);
    s
}

fn no_color() -> State {
    let mut s = fixtures::busy_state_with(Settings {
        color: false,
        ..Settings::default()
    });
    later(&mut s, 2);
    s
}

fn paused_logs() -> State {
    let mut s = busy();
    press(&mut s, KeyCode::Char('s')); // ≥ INFO
    press(&mut s, KeyCode::Char('s')); // ≥ WARNING
    press(&mut s, KeyCode::PageUp);
    assert!(!s.log_view.follow);
    s
}

fn converging_not_ready() -> State {
    let mut s = busy();
    let mut snap = fixtures::snapshot();
    snap.revisions[0].ready = false;
    snap.revisions[0].status_message = Some("Container failed to start on port 8080".into());
    snap.traffic = TrafficSplit::new([(STABLE, 90), (CANARY, 10)]).expect("valid");
    snap.actual = Some(TrafficSplit::new([(STABLE, 95), (CANARY, 5)]).expect("valid"));
    snap.reconciling = true;
    let generation = s.write_generation;
    update(
        &mut s,
        Action::ServiceLoaded {
            snapshot: snap,
            generation,
        },
        t0() + Duration::seconds(3),
    );
    s
}

// ------------------------------------------------------------------ plan and checks

fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

/// The pipeline's checks (DOMAIN.md): the cache hit rate only warns.
fn domain_checks() -> Vec<CheckInfo> {
    [
        ("ready", "ready", true),
        ("health", "http", true),
        ("readiness", "http", true),
        ("analysis-failures", "metrics-endpoint", true),
        ("cache-hit-rate", "metrics-endpoint", false),
        ("smoke", "http", true),
    ]
    .into_iter()
    .map(|(name, kind, blocking)| CheckInfo {
        name: name.into(),
        kind: kind.into(),
        blocking,
    })
    .collect()
}

fn plan_settings(mode: PlanMode) -> Settings {
    Settings {
        plan: PlanSpec {
            mode,
            ..PlanSpec::domain_default()
        },
        checks: domain_checks(),
        ..Settings::default()
    }
}

/// Ten minutes of metrics ending at `now`; the canary has the last five.
fn metrics_at(now: DateTime<Utc>, canary_err: f64, canary_rps: f64) -> MetricsBatch {
    fixtures::metrics_at(now, 30, canary_err, canary_rps)
}

/// The periodic reads: the service (unchanged) and fresh metrics.
fn metrics(s: &mut State, secs: i64, canary_err: f64) {
    let snapshot = s.snapshot.clone().expect("snapshot");
    let generation = s.write_generation;
    update(
        s,
        Action::ServiceLoaded {
            snapshot,
            generation,
        },
        at(secs),
    );
    update(
        s,
        Action::MetricsLoaded(metrics_at(at(secs), canary_err, 6.0)),
        at(secs),
    );
}

/// The platform confirms the change in flight.
fn land(s: &mut State, secs: i64) {
    fixtures::land(s, at(secs));
}

type Outcome = (
    CheckStatus,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    u64,
);

/// What each domain check reports when the canary is healthy.
fn healthy() -> Vec<Outcome> {
    use CheckStatus::{Pass, Warn};
    vec![
        (Pass, None, None, "revision is Ready", 310),
        (
            Pass,
            Some("200"),
            Some("200"),
            "GET /api/health: 200, status ok",
            85,
        ),
        (
            Pass,
            Some("200"),
            Some("200"),
            "GET /health/readiness: 200",
            40,
        ),
        (
            Pass,
            Some("1"),
            Some("<= 2"),
            "memory_analysis_failure_total = 1 (<= 2)",
            120,
        ),
        (
            Warn,
            Some("0.7333"),
            Some("> 0.8"),
            "cache_hit_ratio = 0.7333, expected > 0.8",
            118,
        ),
        (
            Pass,
            Some("200"),
            Some("200"),
            "GET / and GET /assets/: 200",
            210,
        ),
    ]
}

/// Runs the latest battery's checks `first..` to completion with `outcomes`.
fn finish_checks(s: &mut State, secs: i64, outcomes: &[Outcome]) {
    let id = s.battery.as_ref().expect("a battery").id;
    for (index, (status, measured, expected, reason, ms)) in outcomes.iter().enumerate() {
        update(s, Action::CheckStarted { battery: id, index }, at(secs));
        update(
            s,
            Action::CheckFinished {
                battery: id,
                index,
                result: CheckResult {
                    status: *status,
                    measured: measured.map(Into::into),
                    expected: expected.map(Into::into),
                    reason: (*reason).into(),
                    duration: std::time::Duration::from_millis(*ms),
                    attempts: 1,
                },
            },
            at(secs),
        );
    }
}

fn phase(s: &State) -> Phase {
    s.plan.as_ref().expect("a plan").phase.clone()
}

/// `p`, `y`: the plan starts; step 1 lands, its checks pass, metrics are green.
fn plan_started(settings: Settings) -> State {
    // The canary is deployed with no traffic; the stable has 100 %.
    let mut s = fixtures::state_with(settings);
    update(&mut s, Action::LogBatch(fixtures::logs(200)), t0());
    press(&mut s, KeyCode::Char('p'));
    assert!(matches!(s.mode, Mode::Confirm(_)), "{:?}", s.message);
    press(&mut s, KeyCode::Char('y'));
    land(&mut s, 4);
    assert!(matches!(phase(&s), Phase::Observing { step: 0, .. }));
    finish_checks(&mut s, 40, &healthy());
    metrics(&mut s, 60, 0.3);
    assert_eq!(s.verdict, Verdict::Green);
    s
}

/// Manual plan, step 1 observed for its 15 minutes with green gates.
fn plan_waiting_approval() -> State {
    let mut s = plan_started(plan_settings(PlanMode::Manual));
    metrics(&mut s, 15 * 60 + 4, 0.3);
    assert!(
        matches!(phase(&s), Phase::WaitingApproval { step: 0 }),
        "{:?}",
        phase(&s)
    );
    // Fresh metrics (green gates need them; stale ones are "no data"), the
    // service last read 36 s ago.
    let now = at(15 * 60 + 40);
    update(
        &mut s,
        Action::MetricsLoaded(metrics_at(now, 0.3, 6.0)),
        now,
    );
    s
}

/// Approved: step 2 (25 %) observed for 12m18s of its 30 minutes, gates green.
fn plan_observing() -> State {
    plan_observing_with(plan_settings(PlanMode::Manual))
}

fn plan_observing_with(settings: Settings) -> State {
    let mut s = plan_started(settings);
    metrics(&mut s, 15 * 60 + 4, 0.3);
    press(&mut s, KeyCode::Char('p'));
    assert!(
        matches!(phase(&s), Phase::Applying { step: 1 }),
        "{:?} {:?}",
        phase(&s),
        s.message
    );
    land(&mut s, 15 * 60 + 10);
    finish_checks(&mut s, 15 * 60 + 50, &healthy());
    let now = 15 * 60 + 10 + 12 * 60 + 18;
    metrics(&mut s, now, 0.3);
    assert!(matches!(phase(&s), Phase::Observing { step: 1, .. }));
    assert_eq!(s.verdict, Verdict::Green);
    s
}

/// Step 1, the canary's 5xx climbs: red for 14 s of the 20 s sustain.
fn plan_red_sustain() -> State {
    let mut s = plan_started(plan_settings(PlanMode::Auto));
    metrics(&mut s, 4 * 60, 2.4);
    metrics(&mut s, 4 * 60 + 14, 2.4);
    assert!(s.red_since.is_some());
    assert!(matches!(phase(&s), Phase::Observing { step: 0, .. }));
    s
}

/// Held red past the sustain: rolled back, and the rollback landed.
fn plan_rolled_back() -> State {
    let mut s = plan_red_sustain();
    metrics(&mut s, 4 * 60 + 21, 2.4);
    assert!(
        matches!(phase(&s), Phase::RollingBack { .. }),
        "{:?}",
        phase(&s)
    );
    land(&mut s, 4 * 60 + 24);
    assert!(
        matches!(phase(&s), Phase::RolledBack { .. }),
        "{:?}",
        phase(&s)
    );
    later(&mut s, 5 * 60);
    s
}

/// The cockpit restarted while step 2 was being observed: back PAUSED.
fn plan_paused_after_restart() -> State {
    let mut s = fixtures::busy_state_with(plan_settings(PlanMode::Manual));
    let spec = s.settings.plan.clone();
    resume_interrupted_plan(
        &mut s,
        CANARY.into(),
        STABLE.into(),
        spec,
        Phase::Observing {
            step: 1,
            since: at(-8 * 60),
        },
        at(-25 * 60),
    );
    later(&mut s, 3);
    s
}

/// `c` on the canary: two checks done, one running, three pending.
fn battery_running() -> State {
    let mut s = fixtures::busy_state_with(Settings {
        checks: domain_checks(),
        ..Settings::default()
    });
    press(&mut s, KeyCode::Char('c'));
    let id = s.battery.as_ref().expect("battery").id;
    finish_checks(&mut s, 1, &healthy()[..2]);
    update(
        &mut s,
        Action::CheckStarted {
            battery: id,
            index: 2,
        },
        at(2),
    );
    later(&mut s, 9);
    s
}

/// Every check done: a blocking failure, a warning with measured vs expected.
fn battery_failed() -> State {
    let mut s = fixtures::busy_state_with(Settings {
        checks: domain_checks(),
        ..Settings::default()
    });
    press(&mut s, KeyCode::Char('c'));
    let mut outcomes = healthy();
    outcomes[1] = (
        CheckStatus::Pass,
        Some("200"),
        Some("200"),
        "GET /api/health: 200, status ok (attempt 2)",
        12_400,
    );
    outcomes[3] = (
        CheckStatus::Fail,
        Some("3"),
        Some("<= 2"),
        "memory_analysis_failure_total = 3, expected <= 2",
        96,
    );
    finish_checks(&mut s, 14, &outcomes);
    later(&mut s, 20);
    s
}

/// A plan running and the team's webhook failing.
fn webhook_failed() -> State {
    let mut s = plan_observing();
    let now = s.now;
    update(
        &mut s,
        Action::NotifyFailed("HTTP 500 from the webhook after 3 attempts".into()),
        now,
    );
    let later_ = now + Duration::seconds(12);
    update(&mut s, Action::Tick, later_);
    s
}

// ------------------------------------------------------------------ snapshots

#[test]
fn normal_busy() {
    snap("normal", &busy());
}

#[test]
fn help_popup() {
    snap("help", &help());
}

#[test]
fn confirm_rollback_popup() {
    snap("confirm_rollback", &confirm_rollback());
}

#[test]
fn confirm_large_change_popup() {
    snap("confirm_large", &confirm_large());
}

#[test]
fn input_set_split_ok() {
    let s = set_split("canary=25");
    let Mode::Input(i) = &s.mode else {
        panic!("input")
    };
    assert!(matches!(i.feedback, Some(Ok(_))), "{:?}", i.feedback);
    snap("set_split_ok", &s);
}

#[test]
fn input_set_split_err() {
    let s = set_split("nope=10");
    let Mode::Input(i) = &s.mode else {
        panic!("input")
    };
    assert!(matches!(i.feedback, Some(Err(_))), "{:?}", i.feedback);
    snap("set_split_err", &s);
}

#[test]
fn input_reason_after_confirming_a_rollback() {
    snap("reason", &reason());
}

#[test]
fn input_filter() {
    snap("filter", &filter());
}

#[test]
fn demo_and_read_only_badges() {
    snap("demo_read_only", &demo_read_only());
}

#[test]
fn pending_change() {
    snap("pending", &pending());
}

#[test]
fn backend_errors_with_age() {
    snap("backend_errors", &backend_errors());
}

#[test]
fn metrics_without_data() {
    snap("no_data", &no_data());
}

#[test]
fn no_color_mode() {
    snap("no_color", &no_color());
}

#[test]
fn logs_paused_and_filtered_by_severity() {
    snap("paused_logs", &paused_logs());
}

#[test]
fn logs_of_the_canary_only() {
    let mut s = busy();
    press(&mut s, KeyCode::Char('l'));
    assert_eq!(s.log_view.revision.as_deref(), Some(fixtures::CANARY));
    snap("logs_canary_only", &s);
}

/// A service that keeps 40 revisions, the cursor far down: the table shows
/// the rows that fit, scrolled just enough to keep the cursor on screen.
#[test]
fn many_revisions_scroll_with_the_cursor() {
    let mut s = busy();
    let mut service = fixtures::snapshot();
    for i in 0..37 {
        service.revisions.push(fixtures::revision(
            &format!("emergence-app-{:05}-old", 40 - i),
            None,
            (10 + i) * 24 * 60,
            true,
        ));
    }
    service.traffic = TrafficSplit::new([(STABLE, 90), (CANARY, 10)]).expect("valid");
    service.actual = Some(service.traffic.clone());
    update(&mut s, fixtures::service_loaded(service), t0());
    for _ in 0..30 {
        press(&mut s, KeyCode::Char('j'));
    }
    let selected = s.selected.clone().expect("a selection");
    assert_eq!(selected, "emergence-app-00013-old");
    for (w, h) in [(80, 24), (120, 40)] {
        let text = text(&draw(&s, w, h));
        let cursor_row = text
            .lines()
            .find(|l| l.contains('▶'))
            .unwrap_or_else(|| panic!("no cursor at {w}x{h}:\n{text}"));
        assert!(cursor_row.contains(&selected), "{w}x{h}:\n{text}");
        assert!(
            !text.contains(CANARY),
            "scrolled past the first rows: {w}x{h}:\n{text}"
        );
    }
    snap("many_revisions", &s);
}

#[test]
fn converging_with_a_revision_not_ready() {
    snap("converging_not_ready", &converging_not_ready());
}

#[test]
fn plan_observing_step_2_with_green_gates() {
    let s = plan_observing();
    snap("plan_observing", &s);
    // Wide enough for the Plan and Checks panels side by side.
    insta::assert_snapshot!("plan_observing_160x48", text(&draw(&s, 160, 48)));
}

#[test]
fn plan_paused_after_a_restart() {
    snap("plan_paused_restart", &plan_paused_after_restart());
}

#[test]
fn plan_waiting_for_approval() {
    snap("plan_waiting_approval", &plan_waiting_approval());
}

#[test]
fn plan_red_gates_counting_the_sustain() {
    snap("plan_red_sustain", &plan_red_sustain());
}

#[test]
fn plan_rolled_back_with_its_reason() {
    snap("plan_rolled_back", &plan_rolled_back());
}

#[test]
fn checks_running() {
    snap("battery_running", &battery_running());
}

#[test]
fn checks_finished_with_a_blocking_failure_and_a_warning() {
    snap("battery_failed", &battery_failed());
}

#[test]
fn plan_without_colour() {
    let s = plan_observing_with(Settings {
        color: false,
        ..plan_settings(PlanMode::Manual)
    });
    snap("plan_no_color", &s);
}

#[test]
fn webhook_failure_in_the_footer() {
    snap("webhook_failed", &webhook_failed());
}

// ------------------------------------------------------------------ styles

fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let t = text(buf);
    t.lines().enumerate().find_map(|(y, l)| {
        l.find(needle)
            .map(|byte| (l[..byte].chars().count() as u16, y as u16))
    })
}

#[test]
fn error_log_lines_are_red() {
    let buf = draw(&busy(), 120, 40);
    let t = text(&buf);
    let lines: Vec<&str> = t.lines().collect();
    let y = lines
        .iter()
        .rposition(|l| l.contains("  ERROR  "))
        .expect("an ERROR line") as u16;
    let line = t.lines().nth(y as usize).expect("line");
    let x = line[..line.find("ERROR").expect("ERROR")].chars().count() as u16;
    assert_eq!(buf[(x, y)].fg, Color::Red);
    // The message too, not only the label.
    let msg_x = line[..line.find("GET").expect("message")].chars().count() as u16;
    assert_eq!(buf[(msg_x, y)].fg, Color::Red);
    // A WARNING line is yellow.
    let wy = lines
        .iter()
        .rposition(|l| l.contains("WARNING  GET"))
        .expect("warning") as u16;
    let wline = t.lines().nth(wy as usize).expect("line");
    let wx = wline[..wline.find("WARNING").expect("W")].chars().count() as u16;
    assert_eq!(buf[(wx, wy)].fg, Color::Yellow);
}

#[test]
fn no_color_means_no_colour_at_all() {
    let settings = || Settings {
        color: false,
        ..Settings::default()
    };
    let mut states = vec![no_color()];
    for keys in ["?", "r", "=", "/"] {
        let mut s = fixtures::busy_state_with(settings());
        type_str(&mut s, keys);
        states.push(s);
    }
    let mut s = fixtures::busy_state_with(settings());
    type_str(&mut s, "=canary=25");
    states.push(s);
    let mut s = fixtures::busy_state_with(settings());
    type_str(&mut s, "+");
    states.push(s);
    states.push(plan_observing_with(Settings {
        color: false,
        ..plan_settings(PlanMode::Manual)
    }));
    let mut s = fixtures::busy_state_with(Settings {
        color: false,
        checks: domain_checks(),
        ..Settings::default()
    });
    press(&mut s, KeyCode::Char('c'));
    finish_checks(&mut s, 3, &healthy()[..3]);
    states.push(s);
    for s in &states {
        for (w, h) in [(80, 24), (120, 40), (40, 10)] {
            let buf = draw(s, w, h);
            for cell in buf.content() {
                assert_eq!(
                    (cell.fg, cell.bg),
                    (Color::Reset, Color::Reset),
                    "{:?} in mode {} at {w}x{h}",
                    cell,
                    s.mode.name()
                );
            }
        }
    }
    // Meaning survives without colour: the stable and canary fills differ,
    // the badges are reversed.
    let mut s = fixtures::busy_state_with(Settings {
        demo: true,
        ..settings()
    });
    later(&mut s, 1);
    let buf = draw(&s, 120, 40);
    let t = text(&buf);
    assert!(t.contains('▒') && t.contains('█'), "{t}");
    let (x, y) = find(&buf, "DEMO").expect("DEMO badge");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn colours_are_the_16_named_ones() {
    for s in [
        busy(),
        help(),
        confirm_rollback(),
        set_split("canary=25"),
        pending(),
    ] {
        let buf = draw(&s, 120, 40);
        for cell in buf.content() {
            for c in [cell.fg, cell.bg] {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{cell:?}");
            }
        }
    }
}

#[test]
fn demo_badge_is_present_and_loud() {
    let s = demo_read_only();
    for (w, h) in [(80, 24), (120, 40), (60, 16)] {
        let buf = draw(&s, w, h);
        let (x, y) = find(&buf, "DEMO").expect("DEMO badge");
        assert_eq!(y, 0, "in the header");
        assert_ne!(buf[(x, y)].bg, Color::Reset, "the badge has a background");
        let (rx, ry) = find(&buf, "READ-ONLY").expect("READ-ONLY badge");
        assert_eq!(ry, 0);
        assert_ne!(buf[(rx, ry)].bg, Color::Reset);
        assert!(text(&buf).contains("bad-canary") || w < 80);
    }
}

#[test]
fn over_gate_values_are_flagged() {
    // The canary's latest 5xx rate goes to 2.5 %, above the 1 % gate.
    let mut s = busy();
    let mut batch = fixtures::metrics();
    let series = batch
        .series
        .get_mut(&(CANARY.to_string(), MetricKind::ErrorPercent))
        .expect("canary 5xx");
    let last = series.points.last_mut().expect("points");
    last.1 = 2.5;
    let now = s.now;
    update(&mut s, Action::MetricsLoaded(batch), now);
    let buf = draw(&s, 120, 40);
    let t = text(&buf);
    assert!(t.contains('▲'), "{t}");
    let (x, y) = find(&buf, "▲").expect("marker");
    assert_eq!(buf[(x, y)].fg, Color::LightRed);
    assert!(t.contains("gate 1.0%"), "{t}");
    assert!(t.contains("gate 500ms"), "{t}");
}

#[test]
fn failed_checks_and_red_gates_are_red() {
    let buf = draw(&battery_failed(), 120, 40);
    let (x, y) = find(&buf, "✗ fail").expect("failed row");
    assert_eq!(buf[(x, y)].fg, Color::LightRed);
    let (x, y) = find(&buf, "! warn").expect("warning row");
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
    // Red while the sustain counts down: what will happen and when, in red,
    // and no "advance early" on offer.
    let buf = draw(&plan_red_sustain(), 120, 40);
    let (x, y) = find(&buf, "✗ RED: auto-rollback in 6s").expect("countdown");
    assert_eq!(buf[(x, y)].fg, Color::LightRed);
    let t = text(&buf);
    assert!(!t.contains("advance early"), "{t}");
    assert!(t.contains("abort: roll back now"), "{t}");
}

#[test]
fn gate_labels_are_not_red_unless_over() {
    // Next to 0.00 % the `gate 1.0%` label is plain; over it, it is red.
    let buf = draw(&busy(), 120, 40);
    let (x, y) = find(&buf, "gate 1.0%").expect("gate label");
    assert_ne!(buf[(x + 1, y)].fg, Color::LightRed);
    assert_ne!(buf[(x + 1, y)].fg, Color::Red);
}

#[test]
fn after_an_automatic_rollback_the_header_carries_an_alarm_until_acknowledged() {
    let mut s = plan_rolled_back();
    let buf = draw(&s, 120, 40);
    let (x, y) = find(&buf, "⚠ [X] ROLLED BACK").expect("alarm in the header");
    assert_eq!(y, 0, "in the header");
    assert_eq!(buf[(x, y)].bg, Color::Red);
    let t = text(&buf);
    assert!(t.contains("X acknowledge alarm"), "{t}");
    // The checks of before the rollback do not say all is well.
    assert!(!t.contains("✓ all pass"), "{t}");
    let now = s.now;
    update(&mut s, fixtures::ch('X'), now);
    let t = text(&draw(&s, 120, 40));
    let header = t.lines().next().unwrap_or_default();
    assert!(!header.contains("ROLLED BACK"), "{t}");
    assert!(
        header.contains("demo-project"),
        "the header has its room back: {t}"
    );
}

// ------------------------------------------------------------------ plan in small places

#[test]
fn a_small_terminal_folds_the_plan_into_the_footer() {
    let s = plan_observing();
    let t = text(&draw(&s, 70, 18));
    assert!(!t.contains(" Plan "), "{t}");
    assert!(t.contains("[plan 2/4 observing 41%]"), "{t}");
    // With room, the panel says it and the footer does not repeat it.
    let t = text(&draw(&s, 80, 24));
    assert!(t.contains(" Plan  observing step 2 of 4"), "{t}");
    assert!(!t.contains("[plan "), "{t}");
}

#[test]
fn a_journal_failure_stays_in_the_footer() {
    let mut s = plan_observing();
    let now = s.now;
    update(
        &mut s,
        Action::JournalFailed("No space left on device".into()),
        now,
    );
    // Later messages replace the message line; the journal failure stays.
    update(&mut s, key(KeyCode::Char('R')), now + Duration::seconds(3));
    for (w, h) in [(80, 24), (120, 40)] {
        let t = text(&draw(&s, w, h));
        let footer = t.lines().rev().nth(1).expect("status line");
        assert!(footer.contains("✗ AUDIT JOURNAL WRITE FAILED"), "{footer}");
    }
}

#[test]
fn plan_keys_follow_the_phase() {
    let hints = |s: &State| {
        text(&draw(s, 200, 40))
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    };
    let normal = hints(&busy());
    assert!(
        normal.contains("p plan") && !normal.contains("Space"),
        "{normal}"
    );
    let running = hints(&plan_observing());
    assert!(
        running.contains("Space pause") && running.contains("a abort"),
        "{running}"
    );
    assert!(running.contains("c checks"), "{running}");
    let paused = hints(&plan_paused_after_restart());
    assert!(
        paused.contains("Space resume") && !paused.contains(" p "),
        "{paused}"
    );
    let done = hints(&plan_rolled_back());
    assert!(
        done.contains("p new plan") && !done.contains("a abort"),
        "{done}"
    );
}

// ------------------------------------------------------------------ robustness

#[test]
fn render_never_panics_at_any_size() {
    let states = [
        busy(),
        help(),
        confirm_rollback(),
        confirm_large(),
        set_split("canary=25"),
        set_split("nope"),
        filter(),
        reason(),
        pending(),
        backend_errors(),
        no_data(),
        no_color(),
        converging_not_ready(),
        plan_observing(),
        plan_waiting_approval(),
        plan_red_sustain(),
        plan_rolled_back(),
        plan_paused_after_restart(),
        battery_running(),
        battery_failed(),
        webhook_failed(),
        State::new(Settings::default(), fixtures::info(), t0()),
    ];
    let mut sizes = vec![(0, 0), (1, 1), (10, 5), (59, 15), (60, 16), (61, 17)];
    for w in (1..=200).step_by(9) {
        for h in (1..=60).step_by(4) {
            sizes.push((w, h));
        }
    }
    for s in &states {
        for &(w, h) in &sizes {
            let buf = draw(s, w, h);
            if w >= 20 && h >= 3 && (w < 60 || h < 16) {
                assert!(text(&buf).contains("too small"), "{w}x{h}");
            }
        }
    }
}

#[test]
fn an_empty_state_says_it_is_loading() {
    let s = State::new(Settings::default(), fixtures::info(), t0());
    let t = text(&draw(&s, 80, 24));
    assert!(t.contains("loading"), "{t}");
    assert!(t.contains("reading the service"), "{t}");
}

/// 100 000 buffered lines: only the visible ones are visited, the paused
/// view ends at the anchor, and a filter still finds the lines it matches.
#[test]
fn a_full_ring_of_100k_lines() {
    let mut s = fixtures::state_with(Settings {
        log_capacity: 100_000,
        ..Settings::default()
    });
    let lines = fixtures::logs(120_000);
    update(&mut s, Action::LogBatch(lines), t0());
    assert_eq!(s.logs.len(), 100_000);

    let started = std::time::Instant::now();
    for _ in 0..20 {
        draw(&s, 120, 40);
    }
    let per_frame = started.elapsed() / 20;
    // Generous: debug build, shared CI machine. Collecting 100k lines per
    // frame would blow well past this.
    assert!(per_frame.as_millis() < 200, "{per_frame:?} per frame");

    let t = text(&draw(&s, 120, 40));
    assert!(t.contains("100000/100000"), "{t}");
    // The newest line (index 119 999 → `i % 10 == 9`, an INFO 200) is the bottom one.
    assert!(t.contains("GET /api/items/119999 200"), "{t}");

    // Pause, then check the bottom line is the anchor's entry.
    press(&mut s, KeyCode::Char('f'));
    press(&mut s, KeyCode::PageUp);
    let anchor = s.log_view.anchor.expect("anchored");
    let idx = (anchor - s.first_log_seq()) as usize;
    let entry = s.logs.get(idx).expect("entry").message.clone();
    let t = text(&draw(&s, 120, 40));
    let logs_bottom = t.lines().rev().nth(2).expect("bottom log row");
    assert!(logs_bottom.contains(&entry), "{logs_bottom} vs {entry}");
    assert!(t.contains("PAUSED"), "{t}");

    // A severity floor that only the canary's errors pass.
    press(&mut s, KeyCode::Char('f'));
    for _ in 0..3 {
        press(&mut s, KeyCode::Char('s'));
    }
    assert_eq!(s.log_view.min_severity, Severity::Error);
    let t = text(&draw(&s, 120, 40));
    assert!(t.contains("≥ ERROR"), "{t}");
    assert!(!t.contains("  INFO  "), "{t}");
}

#[test]
fn metric_kinds_cover_the_panel() {
    // Every kind has a label the panel shows at 120 columns.
    let t = text(&draw(&busy(), 120, 40));
    for k in MetricKind::ALL {
        assert!(t.contains(k.label()), "{} missing:\n{t}", k.label());
    }
}

// ------------------------------------------------------------------ details

/// Enter on the canary: everything known about it, the checks' reasons whole.
#[test]
fn details_of_a_revision_with_its_checks_in_full() {
    let mut s = battery_failed();
    s.selected = Some(CANARY.into());
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.mode.name(), "detail");
    snap("detail", &s);
    let wide = text(&draw(&s, 200, 60));
    insta::assert_snapshot!("detail_200x60", wide);
    // No reason is only available cut: the long one is there in full.
    let reasons: Vec<String> = s
        .battery
        .as_ref()
        .expect("battery")
        .rows
        .iter()
        .filter_map(|r| r.result.as_ref().map(|x| x.reason.clone()))
        .collect();
    let flat: String = wide.split_whitespace().collect::<Vec<_>>().join(" ");
    for r in reasons {
        let r: String = r.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&r), "missing in full: {r}\n{wide}");
    }
    // Any other key closes it.
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.mode.name(), "normal");
}

// ------------------------------------------------------------------ history

fn history_records() -> Vec<canary::journal::Record> {
    use canary::journal::{Event, Record, Who};
    let who = |u: &str| Who {
        user: u.into(),
        from: Some("10.0.0.7".into()),
    };
    let split = |c: u32| {
        canary::core::model::TrafficSplit::new([(CANARY, c), (STABLE, 100 - c)]).expect("valid")
    };
    let at = |s: i64| fixtures::t0() + chrono::Duration::seconds(s);
    vec![
        Record {
            at: at(0),
            who: who("alice"),
            service: "emergence-app".into(),
            event: Event::TrafficApplied {
                id: 1,
                kind: "shift".into(),
                before: split(0),
                after: split(10),
                reason: None,
                took_ms: 806,
            },
        },
        Record {
            at: at(60),
            who: who("bob"),
            service: "emergence-app".into(),
            event: Event::TrafficApplied {
                id: 2,
                kind: "rollback".into(),
                before: split(10),
                after: canary::core::model::TrafficSplit::all_to(STABLE),
                reason: None,
                took_ms: 790,
            },
        },
        Record {
            at: at(62),
            who: who("bob"),
            service: "emergence-app".into(),
            event: Event::TrafficReason {
                id: 2,
                kind: "rollback".into(),
                reason: "5xx on the canary".into(),
            },
        },
        Record {
            at: at(70),
            who: who("bob"),
            service: "emergence-app".into(),
            event: Event::Note {
                message: "called the owner".into(),
            },
        },
    ]
}

#[test]
fn history_view_lists_filters_and_writes_the_report() {
    let mut s = busy();
    let now = s.now;
    let fx = update(&mut s, fixtures::ch('J'), now);
    assert_eq!(fx, vec![canary::core::action::Effect::LoadJournal]);
    assert_eq!(s.mode.name(), "journal");
    update(&mut s, Action::JournalLoaded(Ok(history_records())), now);
    snap("history", &s);
    let t = text(&draw(&s, 120, 40));
    assert!(
        t.contains("5xx on the canary") && t.contains("alice"),
        "{t}"
    );
    // Tab: traffic only (the note goes); `/` then text: only bob's lines.
    update(&mut s, fixtures::key(KeyCode::Tab), now);
    let t = text(&draw(&s, 120, 40));
    assert!(
        !t.contains("called the owner") && t.contains("History · traffic"),
        "{t}"
    );
    update(&mut s, fixtures::ch('/'), now);
    for c in "bob".chars() {
        update(&mut s, fixtures::ch(c), now);
    }
    update(&mut s, fixtures::key(KeyCode::Enter), now);
    let t = text(&draw(&s, 120, 40));
    assert!(!t.contains("alice") && t.contains("rollback"), "{t}");
    // `w` writes the report; the answer says where.
    let fx = update(&mut s, fixtures::ch('w'), now);
    assert_eq!(fx, vec![canary::core::action::Effect::WriteReport]);
    update(
        &mut s,
        Action::ReportWritten(Ok("/tmp/x/emergence-app-report.md".into())),
        now,
    );
    let t = text(&draw(&s, 120, 40));
    assert!(
        t.contains("report written: /tmp/x/emergence-app-report.md"),
        "{t}"
    );
    // Esc clears the filter, then closes.
    update(&mut s, fixtures::key(KeyCode::Esc), now);
    assert_eq!(s.mode.name(), "journal");
    update(&mut s, fixtures::key(KeyCode::Esc), now);
    assert_eq!(s.mode.name(), "normal");
}

/// On a short terminal the help scrolls, and says so: no key is out of reach.
#[test]
fn help_scrolls_where_the_terminal_is_short() {
    let mut s = help();
    let t = text(&draw(&s, 80, 18));
    assert!(t.contains("j/k scroll (0/"), "{t}");
    assert!(!t.contains("copy the call"), "the last rows are below: {t}");
    for _ in 0..3 {
        press(&mut s, KeyCode::PageDown);
    }
    let t = text(&draw(&s, 80, 18));
    assert!(t.contains("copy the call"), "scrolled to the end: {t}");
    assert!(
        matches!(s.mode, Mode::Help { .. }),
        "scrolling keeps the help open"
    );
    press(&mut s, KeyCode::Esc);
    assert!(matches!(s.mode, Mode::Normal));
}

/// Blue/green (all or nothing, a platform that cannot deploy): the footer
/// offers no split keys and no deploy, and the switch's confirmation does
/// not warn about the size of the only move the platform can make.
#[test]
fn blue_green_offers_only_what_the_platform_does() {
    use canary::core::kube_preview::KubeWrite;
    use canary::core::preview::WriteApi;
    let mut snapshot = fixtures::snapshot();
    snapshot.extra.all_or_nothing = Some("blue/green sends all traffic to one colour".into());
    snapshot.write_api = WriteApi::Kubernetes(KubeWrite::Selector {
        namespace: "shop".into(),
        service: "backend".into(),
        key: "version".into(),
        selector: Default::default(),
        colours: Default::default(),
        cold: Default::default(),
        resource_version: "1".into(),
    });
    let mut s = fixtures::state();
    update(&mut s, fixtures::service_loaded(snapshot), t0());
    for (w, h) in [(80, 24), (120, 40)] {
        let t = text(&draw(&s, w, h));
        let footer: String = t.lines().rev().take(2).collect::<Vec<_>>().join("\n");
        assert!(footer.contains("promote"), "{footer}");
        for refused in ["shift", "set split", "deploy"] {
            assert!(!footer.contains(refused), "{refused} offered:\n{footer}");
        }
    }
    // The generic fixture platform still offers them (the footer filters by
    // platform, not always).
    let plain = text(&draw(&fixtures::state(), 120, 40));
    assert!(plain.contains("shift ±"), "{plain}");
    press(&mut s, KeyCode::Char('P'));
    let Mode::Confirm(c) = &s.mode else {
        panic!("P asks first: {:?}", s.mode)
    };
    assert!(
        !c.note.as_deref().unwrap_or("").contains("a jump of"),
        "{:?}",
        c.note
    );
}

/// After a deploy the old canary keeps its `canary` tag while the new
/// revision is the canary: the role column shows one canary, and the old
/// one's tag as a tag.
#[test]
fn one_canary_in_the_role_column_after_a_deploy() {
    let mut snapshot = fixtures::snapshot();
    snapshot.revisions.insert(
        0,
        fixtures::revision("emergence-app-00044-new", Some("canary-20261120"), 1, true),
    );
    let mut s = fixtures::state();
    update(&mut s, fixtures::service_loaded(snapshot), t0());
    assert_eq!(s.canary(), Some("emergence-app-00044-new"));
    for (w, h) in [(80, 24), (120, 40)] {
        let t = text(&draw(&s, w, h));
        let row = |name: &str| {
            t.lines()
                .find(|l| l.contains(name))
                .unwrap_or_default()
                .to_string()
        };
        assert!(row("00044-new").contains("canary-20261120"), "{t}");
        assert!(row(CANARY).contains("tag canary"), "{t}");
    }
}

// ------------------------------------------------------------------ observed thresholds, lag

/// `[gates] mode = "observe"`, the judge acting: step 1, the canary's 5xx
/// over the 1 % threshold for 14 s of its 20 s sustain, which acts on nothing.
fn plan_thresholds_observed() -> State {
    let mut settings = plan_settings(PlanMode::Auto);
    settings.gates.mode = canary::core::state::GatesMode::Observe;
    settings.judge.mode = canary::core::judge::JudgeMode::Act;
    // A team that tolerates +2 points: the judge sees a 1.4 % canary as
    // worse than the stable, but not beyond its margin, so nothing acts.
    settings.judge.error_margin_points = 2.0;
    // As plan_started, but an acting judge has no verdict yet (not green).
    let mut s = fixtures::state_with(settings);
    update(&mut s, Action::LogBatch(fixtures::logs(200)), t0());
    press(&mut s, KeyCode::Char('p'));
    press(&mut s, KeyCode::Char('y'));
    land(&mut s, 4);
    finish_checks(&mut s, 40, &healthy());
    metrics(&mut s, 60, 0.3);
    metrics(&mut s, 4 * 60, 1.4);
    metrics(&mut s, 4 * 60 + 25, 1.4);
    assert!(matches!(phase(&s), Phase::Observing { step: 0, .. }));
    s
}

#[test]
fn thresholds_that_only_observe_are_marked_and_never_alarm_red() {
    let s = plan_thresholds_observed();
    let o = s.observed_gates.as_ref().expect("observed");
    assert!(matches!(o.verdict, Verdict::Red(_)), "{o:?}");
    snap("plan_thresholds_observed", &s);
    let buf = draw(&s, 120, 40);
    let t = text(&buf);
    assert!(t.contains("gates (observe only)"), "{t}");
    assert!(!t.contains("auto-rollback"), "{t}");
    let (x, y) = find(&buf, "! red").expect("the observed mark");
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
    assert!(t.contains("! red: canary 5xx 1.36 %"), "{t}");
}

/// Step 2 observed with a source 45 s behind: mid-window (the ETA carries
/// the lag), then past the window's end, waiting for its data.
fn plan_lagging(secs_into_window: i64) -> State {
    let mut s = plan_observing();
    let Some(Phase::Observing { since, .. }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!()
    };
    let now = since + Duration::seconds(secs_into_window);
    update(
        &mut s,
        Action::MetricsLoaded(metrics_at(now - Duration::seconds(45), 0.3, 6.0)),
        now,
    );
    s
}

#[test]
fn the_plan_shows_the_metrics_lag_in_its_countdown_and_eta() {
    let s = plan_lagging(20 * 60);
    snap("plan_lag_mid_window", &s);
    let t = text(&draw(&s, 120, 40));
    assert!(t.contains("lag 45s"), "{t}");
    let s = plan_lagging(30 * 60 + 20);
    assert!(matches!(phase(&s), Phase::Observing { .. }));
    snap("plan_lag_waiting_for_data", &s);
    let t = text(&draw(&s, 120, 40));
    assert!(t.contains("waiting for data (lag 45s)"), "{t}");
}
