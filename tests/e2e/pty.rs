//! End to end: the real binary in a pseudo-terminal. Keys go in, the screen
//! (parsed by a VT100 emulator) comes out.

use crate::support::tty;

use tty::{contains, row, Tty};

const CANARY: &str = "emergence-app-00043";
const STABLE: &str = "emergence-app-00042";

#[test]
fn shift_then_roll_back_with_the_keys() {
    let mut t = Tty::spawn(&["--demo", "--seed", "7"], &[]);
    let s = t.wait_for("the demo to load", |s| {
        s.contains("DEMO") && s.contains(CANARY)
    });
    assert!(s.contains("emergence-app"), "{s}");
    let canary_row = row(&s, CANARY).expect("canary row").to_string();
    assert!(
        canary_row.contains("0%"),
        "canary starts at 0 %: {canary_row}"
    );

    t.press("+");
    // The platform's next refresh can show the new split a moment before the
    // change's own acknowledgement reaches the footer: wait for both.
    t.wait_for("the canary at 5 % and the footer reporting it done", |s| {
        row(s, CANARY).is_some_and(|r| r.contains(" 5%") && !r.contains('→'))
            && row(s, STABLE).is_some_and(|r| r.contains("95%") && !r.contains('→'))
            && s.contains("done")
    });

    t.press("+");
    t.wait_for("the canary at 10 %", |s| {
        row(s, CANARY).is_some_and(|r| r.contains("10%") && !r.contains('→'))
    });

    // `r` `y` and nothing else: rolled back while the reason box is still open.
    t.roll_back_with_keys();
    let s = t.wait_for("all traffic back on the stable", |s| {
        row(s, STABLE).is_some_and(|r| r.contains("100%") && !r.contains('→'))
            && row(s, CANARY).is_some_and(|r| r.contains(" 0%") && !r.contains('→'))
    });
    assert!(s.contains("is already on its way. Why?"), "{s}");
    t.skip_reason();

    t.press("q");
    let st = t.wait_exit();
    assert!(st.success(), "exit status {st:?}");
    let raw = t.raw_output();
    assert!(
        contains(&raw, b"\x1b[?1049l"),
        "alternate screen left on exit"
    );
}

#[test]
fn read_only_refuses_writes_on_screen() {
    let mut t = Tty::spawn(&["--demo", "--read-only"], &[]);
    t.wait_for("the demo", |s| {
        s.contains("READ-ONLY") && s.contains(CANARY)
    });
    t.press("+");
    let s = t.wait_for("the refusal", |s| s.contains("read-only"));
    assert!(row(&s, CANARY).is_some_and(|r| r.contains(" 0%")), "{s}");
    t.press("q");
    assert!(t.wait_exit().success());
}

#[test]
fn sigterm_restores_the_terminal() {
    let mut t = Tty::spawn(&["--demo"], &[]);
    t.wait_for("the demo", |s| s.contains(CANARY));
    let pid = t.child.process_id().expect("pid");
    // SAFETY: sending a signal to our own child.
    let rc = unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    t.wait_exit();
    let raw = t.raw_output();
    assert!(contains(&raw, b"\x1b[?1049l"), "alternate screen left");
    assert!(contains(&raw, b"\x1b[?25h"), "cursor shown again");
}

#[test]
fn no_config_explains_and_exits_2() {
    let mut t = Tty::spawn(&[], &[]);
    let st = t.wait_exit();
    assert_eq!(st.exit_code(), 2);
    let out = String::from_utf8_lossy(&t.raw_output()).to_string();
    assert!(out.contains("config.example.toml"), "{out}");
    assert!(out.contains("--demo"), "{out}");
    assert!(
        !contains(&t.raw_output(), b"\x1b[?1049h"),
        "terminal untouched"
    );
}

#[test]
fn bad_config_names_file_line_key_and_exits_2() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("bad.toml");
    std::fs::write(
        &path,
        "[service]\nplatform = \"simulator\"\n\n[traffic]\nstep = \"five\"\n",
    )
    .expect("write");
    let p = path.display().to_string();
    let mut t = Tty::spawn_in(home, &["--config", &p], &[]);
    let st = t.wait_exit();
    assert_eq!(st.exit_code(), 2);
    let raw = t.raw_output();
    let out = String::from_utf8_lossy(&raw);
    assert!(out.contains(&p), "{out}");
    assert!(out.contains(":5"), "line 5: {out}");
    assert!(out.contains("traffic.step"), "{out}");
    assert!(!contains(&raw, b"\x1b[?1049h"), "terminal untouched");
}

/// `:` opens the command line; Tab completes; Enter runs what the key does.
#[test]
fn the_command_line_completes_and_runs() {
    let mut t = Tty::spawn(&["--demo", "--seed", "7"], &[]);
    t.wait_for("the demo to load", |s| {
        s.contains("DEMO") && s.contains(CANARY)
    });
    t.press(":");
    t.wait_for("the command line", |s| s.contains(": command"));
    t.press("se");
    t.press("\t");
    t.wait_for("`set ` completed", |s| s.contains("set an exact split"));
    t.press("00043");
    t.press("\t");
    t.wait_for("the short name completed", |s| s.contains("set 00043-kaw="));
    t.press("5\r");
    t.wait_for("the canary at 5 %", |s| {
        row(s, CANARY).is_some_and(|r| r.contains(" 5%") && !r.contains('→'))
    });
    t.press(":");
    t.press("rollb\t\r");
    t.wait_for("the rollback confirmation", |s| {
        s.contains("ROLLBACK") && s.contains("Exact call")
    });
    t.press("n");
    t.press("q");
    let st = t.wait_exit();
    assert!(st.success(), "exit status {st:?}");
}
