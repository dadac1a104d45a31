//! End to end: the real binary in a pseudo-terminal. Keys go in, the screen
//! (parsed by a VT100 emulator) comes out.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

struct Tty {
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    _home: tempfile::TempDir,
}

impl Tty {
    fn spawn(args: &[&str], extra_env: &[(&str, &str)]) -> Tty {
        let home = tempfile::tempdir().expect("tempdir");
        Tty::spawn_in(home, args, extra_env)
    }

    fn spawn_in(home: tempfile::TempDir, args: &[&str], extra_env: &[(&str, &str)]) -> Tty {
        let (cols, rows) = (120, 40);
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_canary"));
        cmd.args(args);
        cmd.env_clear();
        cmd.env("HOME", home.path());
        cmd.env("XDG_CONFIG_HOME", home.path().join("config"));
        cmd.env("XDG_STATE_HOME", home.path().join("state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.cwd(home.path());
        let child = pair.slave.spawn_command(cmd).expect("spawn canary");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        {
            let screen = screen.clone();
            let raw = raw.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    screen.lock().expect("lock").process(&buf[..n]);
                    raw.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
            });
        }
        Tty {
            screen,
            raw,
            writer,
            child,
            _master: pair.master,
            _home: home,
        }
    }

    fn text(&self) -> String {
        self.screen.lock().expect("lock").screen().contents()
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text();
            if pred(&t) {
                return t;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{t}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(150));
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("canary did not exit; screen:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn raw_output(&self) -> Vec<u8> {
        // give the reader thread a moment to drain
        std::thread::sleep(Duration::from_millis(200));
        self.raw.lock().expect("lock").clone()
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The traffic column for a revision row: the text after the revision name.
fn row<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

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
    let s = t.wait_for("the canary at 5 %", |s| {
        row(s, CANARY).is_some_and(|r| r.contains(" 5%") && !r.contains('→'))
            && row(s, STABLE).is_some_and(|r| r.contains("95%") && !r.contains('→'))
    });
    assert!(s.contains("done"), "the footer reports the change: {s}");

    t.press("+");
    t.wait_for("the canary at 10 %", |s| {
        row(s, CANARY).is_some_and(|r| r.contains("10%") && !r.contains('→'))
    });

    t.press("r");
    t.wait_for("the rollback confirmation", |s| {
        s.to_lowercase().contains("roll")
    });
    t.press("y");
    t.wait_for("the optional reason box", |s| {
        s.to_lowercase().contains("reason")
    });
    t.press("\r");
    t.wait_for("all traffic back on the stable", |s| {
        row(s, STABLE).is_some_and(|r| r.contains("100%") && !r.contains('→'))
            && row(s, CANARY).is_some_and(|r| r.contains(" 0%") && !r.contains('→'))
    });

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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
