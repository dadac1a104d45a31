//! Real local servers for the integration tests: the sample app, HAProxy and
//! Prometheus, each on loopback and free ports, stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of an external program the test needs. Missing: `None` (the test
/// skips, saying so) unless `CI` is set, where a missing program fails the test.
pub fn require(program: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").map(|v| !v.is_empty() && v != "0" && v != "false");
        if ci.unwrap_or(false) {
            panic!(
                "`{program}` is not installed, and CI is set: install it (scripts/test.sh does)"
            );
        }
        eprintln!("SKIPPED: `{program}` is not installed (apt-get install {program}); set CI=true to make this a failure");
    }
    found
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub what: String,
}

impl Proc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One canary-sample instance.
pub struct SampleApp {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub log: Option<PathBuf>,
}

impl SampleApp {
    pub fn start(name: &str, version: &str, extra: &[&str], log: Option<&Path>) -> SampleApp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_canary-sample"));
        cmd.args([
            "--listen",
            "127.0.0.1:0",
            "--name",
            name,
            "--version",
            version,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(l) = log {
            cmd.arg("--log-file").arg(l);
        }
        let mut child = cmd.spawn().expect("start canary-sample");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("first line");
        let addr: SocketAddr = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("canary-sample printed `{first}`, not an address"));
        SampleApp {
            proc: Proc {
                child,
                what: name.to_string(),
            },
            addr,
            log: log.map(Path::to_path_buf),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// HAProxy in the foreground (`-db`) on a generated configuration.
pub struct Haproxy {
    pub proc: Proc,
    pub binary: PathBuf,
    pub config: PathBuf,
    pub admin_socket: PathBuf,
    pub operator_socket: PathBuf,
    pub admin_tcp: SocketAddr,
    pub frontend: SocketAddr,
    pub stats: SocketAddr,
}

impl Haproxy {
    /// Backend `app` with the two apps as servers `emergence-app-v1` (weight 100)
    /// and `emergence-app-v2` (weight 0), health-checked on /health/readiness.
    pub fn start(binary: &Path, dir: &Path, v1: SocketAddr, v2: SocketAddr) -> Haproxy {
        let admin_socket = dir.join("haproxy.sock");
        let operator_socket = dir.join("operator.sock");
        let admin_tcp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let frontend: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let stats: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let config = dir.join("haproxy.cfg");
        let text = format!(
            "global\n\
             \x20 stats socket {admin} mode 600 level admin\n\
             \x20 stats socket {operator} mode 600 level operator\n\
             \x20 stats socket ipv4@{admin_tcp} level admin\n\
             defaults\n\
             \x20 mode http\n\
             \x20 timeout connect 2s\n\
             \x20 timeout client 10s\n\
             \x20 timeout server 10s\n\
             frontend fe\n\
             \x20 bind {frontend}\n\
             \x20 http-request set-header X-Forwarded-Proto http\n\
             \x20 default_backend app\n\
             frontend stats\n\
             \x20 bind {stats}\n\
             \x20 http-request use-service prometheus-exporter if {{ path /metrics }}\n\
             backend app\n\
             \x20 balance roundrobin\n\
             \x20 option httpchk GET /health/readiness\n\
             \x20 server emergence-app-v1 {v1} weight 100 check inter 300ms\n\
             \x20 server emergence-app-v2 {v2} weight 0 check inter 300ms\n",
            admin = admin_socket.display(),
            operator = operator_socket.display(),
        );
        std::fs::write(&config, text).expect("write haproxy.cfg");
        let mut h = Haproxy {
            proc: Proc {
                child: Command::new("true").spawn().expect("placeholder"),
                what: "haproxy".into(),
            },
            binary: binary.to_path_buf(),
            config,
            admin_socket,
            operator_socket,
            admin_tcp,
            frontend,
            stats,
        };
        h.restart();
        h
    }

    /// Kills the process (SIGKILL), leaving the socket file behind.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts (again) on the same configuration and waits for the socket.
    pub fn restart(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_file(&self.admin_socket);
        let child = Command::new(&self.binary)
            .arg("-db")
            .arg("-f")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        self.proc = Proc {
            child,
            what: "haproxy".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&self.admin_socket).is_err() {
            if let Ok(Some(status)) = self.proc.child.try_wait() {
                panic!(
                    "haproxy exited with {status}; config {}",
                    self.config.display()
                );
            }
            assert!(Instant::now() < deadline, "haproxy did not open its socket");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Prometheus on a temporary configuration and storage, serving under `/prom`
/// (a path prefix, as behind a proxy), scraping `targets` every second.
pub struct Prometheus {
    pub proc: Proc,
    pub addr: SocketAddr,
    /// `http://ADDR/prom`.
    pub url: String,
}

impl Prometheus {
    /// `targets`: (revision label, address serving /api/metrics).
    pub async fn start(binary: &Path, dir: &Path, targets: &[(&str, SocketAddr)]) -> Prometheus {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut cfg = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    metrics_path: /api/metrics\n    static_configs:\n",
        );
        for (revision, target) in targets {
            cfg.push_str(&format!(
                "      - targets: [\"{target}\"]\n        labels:\n          revision: \"{revision}\"\n"
            ));
        }
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, cfg).expect("write prometheus.yml");
        let url = format!("http://{addr}/prom");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!("--web.external-url={url}/"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let mut p = Prometheus {
            proc: Proc {
                child,
                what: "prometheus".into(),
            },
            addr,
            url,
        };
        let client = reqwest::Client::new();
        let ready = format!("{}/-/ready", p.url);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = p.proc.child.try_wait() {
                panic!("prometheus exited with {status}");
            }
            if let Ok(r) = client.get(&ready).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p.proc.what = "prometheus".into();
        p
    }
}
