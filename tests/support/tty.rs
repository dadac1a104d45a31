//! A pseudo-terminal harness: the real binary in a pty, keys in, the screen
//! (parsed by a VT100 emulator) out. Each run gets its own HOME and XDG dirs.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

pub struct Tty {
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    _home: Option<tempfile::TempDir>,
    pub home: PathBuf,
}

impl Tty {
    pub fn spawn(args: &[&str], extra_env: &[(&str, &str)]) -> Tty {
        let home = tempfile::tempdir().expect("tempdir");
        Tty::spawn_in(home, args, extra_env)
    }

    pub fn spawn_in(home: tempfile::TempDir, args: &[&str], extra_env: &[(&str, &str)]) -> Tty {
        let mut t = Tty::spawn_at(home.path(), args, extra_env);
        t._home = Some(home);
        t
    }

    /// Runs in an existing HOME (kept after the run: for restarts).
    pub fn spawn_at(home: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Tty {
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
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join("config"));
        cmd.env("XDG_STATE_HOME", home.join("state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.cwd(home);
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
            _home: None,
            home: home.to_path_buf(),
        }
    }

    pub fn text(&self) -> String {
        self.screen.lock().expect("lock").screen().contents()
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_up_to(Duration::from_secs(30), what, pred)
    }

    pub fn wait_for_up_to(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
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

    pub fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(150));
    }

    /// `r`, then `y` in the rollback confirmation (which sends it), then
    /// waits for the optional reason box; each step waits for its dialog.
    #[allow(dead_code)] // not every test binary that includes this rolls back
    pub fn roll_back_with_keys(&mut self) {
        self.press("r");
        self.wait_for("the rollback confirmation", |s| {
            s.contains("ROLLBACK") && s.contains("Exact call")
        });
        // `y` alone sends it; the optional reason is asked while it is in
        // flight (the caller answers or skips it with Esc).
        self.press("y");
        self.wait_for("the reason box of the rollback already sent", |s| {
            s.contains("is already on its way. Why?")
        });
    }

    /// Esc on the reason box of a change already sent: only the reason is skipped.
    #[allow(dead_code)]
    pub fn skip_reason(&mut self) {
        self.press("\x1b");
        self.wait_for("the reason box closed", |s| {
            !s.contains("is already on its way. Why?")
        });
    }

    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let screen = self.text();
                let pid = self.child.process_id();
                let log = std::fs::read_to_string(self.home.join("state/canary/canary.log"))
                    .unwrap_or_default();
                let _ = self.child.kill();
                let raw = self.raw.lock().expect("lock").clone();
                let tail =
                    String::from_utf8_lossy(&raw[raw.len().saturating_sub(400)..]).into_owned();
                panic!(
                    "canary (pid {pid:?}) did not exit; screen:\n{screen}\n--- last output bytes: {tail:?}\n--- its log:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn raw_output(&self) -> Vec<u8> {
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
pub fn row<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
