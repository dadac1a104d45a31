//! Helper of `scripts/bench.sh`: runs the release binary in its own
//! pseudo-terminal (120x40) and times what needs one clock on both sides.
//!
//! ```text
//! bench-e2e first-frame BIN RUNS
//!     `BIN --demo` RUNS times (after one start not counted, which warms the
//!     page cache), each with a fresh HOME: time from spawn to the first
//!     byte, and to the first complete frame (header, revisions with their
//!     traffic, footer key hints).
//! bench-e2e latency BIN TRIES
//!     The Cloud Run fake (canary_fakes::cloud_run) on 127.0.0.1:0,
//!     seeded with the demo service, and BIN on a config pointing at it. TRIES
//!     times: `+` (shift 5 %), then `r`, `y`, Enter (rollback, optional reason
//!     skipped). Times, from the write of the key to the pty:
//!       - key `+` → the PATCH arriving at the fake (the fake's own timestamp);
//!       - rollback Enter → the PATCH arriving at the fake;
//!       - rollback Enter → "rollback done" on the screen: the platform
//!         acknowledged it (operation done, service re-read, journal fsynced,
//!         frame drawn).
//! ```
//!
//! Prints `name=value` lines (milliseconds) for the script to read.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use canary_fakes::cloud_run::{FakeCloudRun, Route};
use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

const COLS: u16 = 120;
const ROWS: u16 = 40;
const CANARY: &str = "emergence-app-00043";
const STABLE: &str = "emergence-app-00042";

struct Screen {
    parser: vt100::Parser,
    /// When the latest output chunk arrived, and the first one.
    last_at: Instant,
    first_at: Option<Instant>,
    bytes: u64,
}

struct Tty {
    screen: Arc<(Mutex<Screen>, Condvar)>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    spawned: Instant,
}

impl Tty {
    fn spawn(bin: &str, args: &[&str], home: &Path) -> Tty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env_clear();
        cmd.env("HOME", home);
        cmd.env("XDG_CONFIG_HOME", home.join("config"));
        cmd.env("XDG_STATE_HOME", home.join("state"));
        cmd.env("TERM", "xterm-256color");
        cmd.env("USER", "bench");
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.cwd(home);
        let mut reader = pair.master.try_clone_reader().expect("reader");
        let writer = pair.master.take_writer().expect("writer");
        let screen = Arc::new((
            Mutex::new(Screen {
                parser: vt100::Parser::new(ROWS, COLS, 0),
                last_at: Instant::now(),
                first_at: None,
                bytes: 0,
            }),
            Condvar::new(),
        ));
        let spawned = Instant::now();
        let child = pair.slave.spawn_command(cmd).expect("spawn canary");
        drop(pair.slave);
        {
            let screen = screen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let at = Instant::now();
                    let (lock, cv) = &*screen;
                    let mut s = lock.lock().expect("lock");
                    s.parser.process(&buf[..n]);
                    s.last_at = at;
                    s.first_at.get_or_insert(at);
                    s.bytes += n as u64;
                    cv.notify_all();
                }
            });
        }
        Tty {
            screen,
            writer,
            child,
            _master: pair.master,
            spawned,
        }
    }

    /// Waits until the screen satisfies `pred`; returns when the output chunk
    /// that made it so arrived.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (lock, cv) = &*self.screen;
        let mut s = lock.lock().expect("lock");
        loop {
            if pred(&s.parser.screen().contents()) {
                return s.last_at;
            }
            let now = Instant::now();
            if now > deadline {
                panic!(
                    "timed out waiting for {what}; screen:\n{}",
                    s.parser.screen().contents()
                );
            }
            s = cv.wait_timeout(s, deadline - now).expect("lock").0;
        }
    }

    /// Writes a key; returns the instant just before the write.
    fn press(&mut self, keys: &str) -> Instant {
        let at = Instant::now();
        self.writer.write_all(keys.as_bytes()).expect("write");
        self.writer.flush().expect("flush");
        at
    }

    fn first_byte(&self) -> Option<Instant> {
        self.screen.0.lock().expect("lock").first_at
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = self.writer.write_all(b"q");
        let _ = self.writer.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}

fn row<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// Header, both revisions with their traffic, and the footer's key hints.
fn complete(s: &str) -> bool {
    s.lines().next().is_some_and(|l| l.contains("canary"))
        && row(s, STABLE).is_some_and(|r| r.contains("100%"))
        && row(s, CANARY).is_some_and(|r| r.contains("0%"))
        && s.lines().last().is_some_and(|l| l.contains('?'))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn report(name: &str, v: &mut [f64]) {
    let p50 = percentile(v, 50.0);
    let p99 = percentile(v, 99.0);
    let max = v.iter().copied().fold(f64::NAN, f64::max);
    println!("{name}_p50_ms={p50:.2}");
    println!("{name}_p99_ms={p99:.2}");
    println!("{name}_max_ms={max:.2}");
    println!("{name}_n={}", v.len());
}

fn first_frame(bin: &str, runs: usize) {
    let mut to_byte = Vec::new();
    let mut to_frame = Vec::new();
    // One start first, not counted: it reads the freshly built binary from
    // disk (cold page cache), which is not what the program costs.
    {
        let home = tempfile::tempdir().expect("tempdir");
        let t = Tty::spawn(bin, &["--demo"], home.path());
        let at = t.wait_for("the first complete frame", complete);
        println!("first_frame_cold_ms={:.2}", ms(at - t.spawned));
    }
    for _ in 0..runs {
        let home = tempfile::tempdir().expect("tempdir");
        let t = Tty::spawn(bin, &["--demo"], home.path());
        let at = t.wait_for("the first complete frame", complete);
        to_frame.push(ms(at - t.spawned));
        to_byte.push(ms(t.first_byte().unwrap_or(at) - t.spawned));
        drop(t);
    }
    report("first_byte", &mut to_byte);
    report("first_frame", &mut to_frame);
}

fn latency(bin: &str, tries: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (fake, url) = rt.block_on(FakeCloudRun::start()).expect("fake");
    let at = fake.seed_demo();
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("canary.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nname = \"{}\"\nproject = \"{}\"\nregion = \"{}\"\n\n\
             [cloud_run]\nendpoint = \"{url}\"\nmonitoring_endpoint = \"{url}\"\nauth = \"none\"\n\n\
             [journal]\nenabled = {}\ndir = \"{}\"\n\n[diagnostics]\nlog_dir = \"{}\"\n",
            at.service,
            at.project,
            at.region,
            // BENCH_NO_JOURNAL=1: the same path without the fsynced journal
            // write, to see what the durable write costs.
            std::env::var_os("BENCH_NO_JOURNAL").is_none(),
            home.path().join("journal").display(),
            home.path().join("log").display(),
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let mut t = Tty::spawn(bin, &["--config", &config], home.path());
    t.wait_for("the service", |s| {
        row(s, STABLE).is_some_and(|r| r.contains("100%")) && row(s, CANARY).is_some()
    });

    let patches = |since: Instant| -> Option<Instant> {
        fake.requests()
            .into_iter()
            .find(|r| r.route == Route::PatchService && r.received >= since)
            .map(|r| r.received)
    };
    let wait_patch = |since: Instant| -> Instant {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = patches(since) {
                return at;
            }
            assert!(Instant::now() < deadline, "no PATCH arrived");
            std::thread::sleep(Duration::from_millis(2));
        }
    };

    let mut key_to_request = Vec::new();
    let mut rollback_to_request = Vec::new();
    let mut rollback_to_ack = Vec::new();
    for _ in 0..tries {
        fake.clear_requests();
        let pressed = t.press("+");
        key_to_request.push(ms(wait_patch(pressed) - pressed));
        t.wait_for("the shift to land", |s| {
            s.contains("shift done")
                && row(s, CANARY).is_some_and(|r| r.contains(" 5%") && !r.contains('→'))
        });

        t.press("r");
        t.wait_for("the rollback confirmation", |s| {
            s.contains("ROLLBACK") && s.contains("Exact call")
        });
        t.press("y");
        t.wait_for("the optional reason box", |s| s.contains("Optional"));
        fake.clear_requests();
        let confirmed = t.press("\r");
        let shown = t.wait_for("the rollback to land", |s| {
            s.contains("rollback done")
                && row(s, STABLE).is_some_and(|r| r.contains("100%") && !r.contains('→'))
        });
        rollback_to_request.push(ms(wait_patch(confirmed) - confirmed));
        rollback_to_ack.push(ms(shown - confirmed));
    }
    report("key_to_request", &mut key_to_request);
    report("rollback_to_request", &mut rollback_to_request);
    report("rollback_to_ack", &mut rollback_to_ack);
    drop(t);
    drop(fake);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-e2e first-frame BIN RUNS | latency BIN TRIES";
    let (cmd, bin, n) = match args.as_slice() {
        [cmd, bin, n] => (cmd.as_str(), bin.as_str(), n.parse::<usize>().expect(usage)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    // The binary runs with its HOME as working directory: an absolute path.
    let bin = std::fs::canonicalize(bin).expect("the canary binary");
    let bin = bin.to_str().expect("UTF-8 path");
    match cmd {
        "first-frame" => first_frame(bin, n),
        "latency" => latency(bin, n),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
