//! The whole local stack of `scripts/stack.sh --no-cockpit` (two sample apps,
//! HAProxy, Prometheus, load) for end-to-end tests, with small std-only probes:
//! HAProxy's Runtime API, an HTTP GET, a Prometheus instant query.
//!
//! The script runs in a process group of its own; dropping the [`LiveStack`]
//! (also when a test panics) sends SIGTERM to the group, then SIGKILL. One
//! stack runs at a time in a test binary: a [`LiveStack`] holds a lock from
//! its start until it is stopped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const BACKEND: &str = "app";
pub const STABLE: &str = "emergence-app-v1";
pub const CANARY: &str = "emergence-app-v2";

/// Held by the running [`LiveStack`]: two stacks (load, Prometheus, HAProxy,
/// a cockpit each) at once would skew each other's timings.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct LiveStack {
    child: Child,
    /// The stack's directory (logs, sockets, journal, configs).
    pub dir: PathBuf,
    /// The config stack.sh wrote.
    pub config: PathBuf,
    /// The service through HAProxy: `http://127.0.0.1:PORT`.
    pub frontend: String,
    /// `http://127.0.0.1:PORT`.
    pub prometheus: String,
    /// HAProxy's admin socket.
    pub socket: PathBuf,
    _tmp: tempfile::TempDir,
    /// Released after `Drop` has stopped the stack.
    _one: MutexGuard<'static, ()>,
}

fn after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(label)?;
    rest.split_whitespace().next()
}

impl LiveStack {
    /// Starts the stack with `env` (e.g. `CANARY_ERROR_RATE`, `LOAD_RATE`) and
    /// waits for `READY`. The sample app is the test build's `canary-sample`.
    pub fn start(env: &[(&str, &str)]) -> LiveStack {
        // A stack that did not come up (a port taken meanwhile, a slow
        // start) is started once more, saying why; a second failure fails.
        match LiveStack::try_start(env) {
            Ok(s) => s,
            Err(why) => {
                eprintln!("live_stack: first start failed ({why}); starting again");
                LiveStack::try_start(env).unwrap_or_else(|why| panic!("{why}"))
            }
        }
    }

    fn try_start(env: &[(&str, &str)]) -> Result<LiveStack, String> {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("stack");
        let mut cmd = Command::new("bash");
        cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/stack.sh"))
            .arg("--no-cockpit")
            .arg("--dir")
            .arg(&dir)
            .env("CANARY_SAMPLE", env!("CARGO_BIN_EXE_canary-sample"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start scripts/stack.sh");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stack = LiveStack {
            child,
            dir: dir.clone(),
            config: PathBuf::new(),
            frontend: String::new(),
            prometheus: String::new(),
            socket: dir.join("haproxy.sock"),
            _tmp: tmp,
            _one: one,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                // Dropping `stack` stops whatever did start.
                return Err("stack.sh did not say READY within 60 s (its stderr is above)".into());
            };
            if let Some(u) = after(&line, "service (through haproxy)") {
                stack.frontend = u.trim_end_matches('/').to_string();
            }
            if let Some(u) = after(&line, "prometheus") {
                stack.prometheus = u.trim_end_matches('/').to_string();
            }
            if let Some(path) = line.strip_prefix("READY ") {
                stack.config = PathBuf::from(path);
                break;
            }
        }
        assert!(!stack.frontend.is_empty(), "stack.sh printed the frontend");
        assert!(!stack.prometheus.is_empty(), "stack.sh printed prometheus");
        Ok(stack)
    }

    /// The stack's journal file (the cockpit writes it under `DIR/journal`).
    pub fn journal(&self) -> Option<PathBuf> {
        self.dir
            .join("journal")
            .read_dir()
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains("emergence-app"))
    }

    /// The pid of the stack's Prometheus (found by its storage path).
    pub fn prometheus_pid(&self) -> Option<i32> {
        let needle = format!(
            "--storage.tsdb.path={}",
            self.dir.join("prometheus").display()
        );
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == needle.as_bytes()))
            })
    }

    /// SIGKILLs Prometheus and waits until its API no longer answers.
    pub fn kill_prometheus(&self) {
        let pid = self
            .prometheus_pid()
            .expect("the stack's prometheus is running");
        // SAFETY: a signal to a process of the stack this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(&format!("{}/-/ready", self.prometheus)).is_ok() {
            assert!(Instant::now() < deadline, "prometheus still answers");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the stack's Prometheus (SIGSTOP: it hangs, its port
    /// still accepts connections).
    pub fn signal_prometheus(&self, signal: libc::c_int) {
        let pid = self
            .prometheus_pid()
            .expect("the stack's prometheus is running");
        // SAFETY: a signal to a process of the stack this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// The runtime weight of a server of the backend.
    pub fn weight(&self, server: &str) -> std::io::Result<u32> {
        let out = runtime_api(&self.socket, &format!("get weight {BACKEND}/{server}"))?;
        out.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("`get weight` said {out:?}")))
    }

    /// The canary's share of the backend's weights, percent (rounded).
    pub fn canary_share(&self) -> std::io::Result<u32> {
        let (s, c) = (self.weight(STABLE)?, self.weight(CANARY)?);
        if s + c == 0 {
            return Err(std::io::Error::other("all weights are 0"));
        }
        Ok((100 * c + (s + c) / 2) / (s + c))
    }
}

impl LiveStack {
    /// SIGTERM to the script alone (it must stop what it started); whether
    /// it ended within 15 s.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: a signal to the script this test started.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for LiveStack {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: signals to the process group of the script this test started.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (or nothing: ESRCH).
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// One command on HAProxy's Runtime API (a unix socket); the answer.
pub fn runtime_api(socket: &Path, command: &str) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// An HTTP answer: status, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.0 GET.
pub fn http_get(url: &str) -> std::io::Result<Reply> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("http:// only"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr: std::net::SocketAddr = host
        .parse()
        .map_err(|e| std::io::Error::other(format!("{host}: {e}")))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Percent-encoding of a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant PromQL query: the value of the first series, `None` for no
/// series or a non-finite value (0/0: no traffic).
pub fn prom_instant(base: &str, promql: &str) -> std::io::Result<Option<f64>> {
    let Reply { status, body, .. } =
        http_get(&format!("{base}/api/v1/query?query={}", encode(promql)))?;
    if status != 200 {
        return Err(std::io::Error::other(format!(
            "prometheus {status}: {body}"
        )));
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(std::io::Error::other)?;
    Ok(v["data"]["result"]
        .get(0)
        .and_then(|r| r["value"][1].as_str())
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|x| x.is_finite()))
}
