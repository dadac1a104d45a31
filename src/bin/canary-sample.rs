//! `canary-sample`: the small web app the local canary stack runs twice (stable
//! and canary), and its load generator.
//!
//! Serve: `canary-sample --listen 127.0.0.1:0 --version v2 --name emergence-app-v2
//! --error-rate 0.05 --latency-ms 20 --jitter-ms 10 --log-file /tmp/v2.log`.
//! The first stdout line is the bound address (`127.0.0.1:PORT`).
//!
//! Endpoints: `/api/health` (`{"status":"ok","version":…}`), `/health/readiness`,
//! `/api/metrics` (Prometheus text format), `/` and `/assets/` (static files from
//! `--assets`, default `assets/sample/` of the repository). Every other response
//! carries `x-served-by: NAME`. Injected errors and latency apply to everything but
//! health, readiness and metrics. One JSON line per request goes to `--log-file`.
//!
//! Load: `canary-sample --load http://127.0.0.1:PORT/ --rate 20` sends GETs at
//! that rate until stopped (or for `--duration-s`).
#![deny(clippy::unwrap_used)]

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Parser, Debug)]
#[command(
    name = "canary-sample",
    about = "Sample app (and load generator) for the canary cockpit's local stack",
    disable_version_flag = true
)]
struct Args {
    /// Address to listen on; port 0 picks a free one. Printed as the first stdout line.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Version reported by /api/health and in logs.
    #[arg(long, default_value = "v1")]
    version: String,
    /// Name of this instance (the revision): `x-served-by` header, logs, metrics.
    #[arg(long, default_value = "emergence-app")]
    name: String,
    /// Share of requests (0..1) answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Added latency per request, milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Uniform jitter added to or taken from the latency, milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Share of requests (0..1) counted as cache hits.
    #[arg(long, default_value_t = 0.9)]
    cache_hit_rate: f64,
    /// Initial value of `memory_analysis_failure_total`.
    #[arg(long, default_value_t = 0)]
    memory_failures: u64,
    /// Append one JSON line per request to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Directory of static files served on / and /assets/.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample"))]
    assets: PathBuf,
    /// Seed of the random choices (errors, latency, cache).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Load mode: send GET requests to this URL instead of serving.
    #[arg(long)]
    load: Option<String>,
    /// Load mode: requests per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Load mode: stop after this many seconds (default: run until stopped).
    #[arg(long)]
    duration_s: Option<f64>,
}

/// Counters behind /api/metrics.
#[derive(Default)]
struct Metrics {
    /// (method, code) -> count.
    requests: std::collections::BTreeMap<(String, u16), u64>,
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
    memory_failures: u64,
    cache_hits: u64,
    cache_misses: u64,
}

struct App {
    args: Args,
    metrics: Mutex<Metrics>,
    log: Option<Mutex<std::fs::File>>,
    rng: AtomicU64,
}

impl App {
    fn metrics(&self) -> MutexGuard<'_, Metrics> {
        self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A uniform number in [0, 1) (splitmix64 over a shared counter).
    fn random(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn delay(&self) -> Duration {
        let base = self.args.latency_ms as f64;
        let jitter = self.args.jitter_ms as f64 * (self.random() * 2.0 - 1.0);
        Duration::from_secs_f64((base + jitter).max(0.0) / 1000.0)
    }

    fn write_log(&self, line: &serde_json::Value) {
        if let Some(file) = &self.log {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{line}");
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

/// `/`, `/assets/x` → a file under `root`; `None` for anything that tries to
/// leave it (`..`, absolute parts) or does not exist. Directories serve index.html.
fn static_file(root: &Path, url_path: &str) -> Option<(PathBuf, &'static str)> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    if rel.components().any(|c| {
        !matches!(c, Component::Normal(_)) || c.as_os_str().to_string_lossy().starts_with('.')
    }) {
        return None;
    }
    let mut path = root.join(rel);
    if path.is_dir() {
        path = path.join("index.html");
    }
    if !path.is_file() {
        return None;
    }
    let ct = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Some((path, ct))
}

fn render_metrics(app: &App) -> String {
    let m = app.metrics();
    let name = &app.args.name;
    let mut out = String::new();
    out.push_str("# HELP http_requests_total HTTP requests answered, by method and status code.\n");
    out.push_str("# TYPE http_requests_total counter\n");
    for ((method, code), n) in &m.requests {
        out.push_str(&format!(
            "http_requests_total{{method=\"{method}\",code=\"{code}\",app=\"{name}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP http_request_duration_seconds Time to answer a request.\n");
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (le, n) in BUCKETS.iter().zip(m.buckets.iter()) {
        cumulative += n;
        out.push_str(&format!(
            "http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}\n"
        ));
    }
    out.push_str(&format!(
        "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
        m.count
    ));
    out.push_str(&format!("http_request_duration_seconds_sum {}\n", m.sum));
    out.push_str(&format!(
        "http_request_duration_seconds_count {}\n",
        m.count
    ));
    for (metric, help, value) in [
        (
            "memory_analysis_failure_total",
            "Memory analyses that failed.",
            m.memory_failures,
        ),
        ("cache_hits_total", "Cache lookups that hit.", m.cache_hits),
        (
            "cache_misses_total",
            "Cache lookups that missed.",
            m.cache_misses,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric} {value}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP app_info The running version.\n# TYPE app_info gauge\napp_info{{version=\"{}\",app=\"{name}\"}} 1\n",
        app.args.version
    ));
    out
}

async fn route(app: &App, req: &Request<Incoming>) -> Reply {
    let path = req.uri().path();
    let version = &app.args.version;
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/api/health") => json(
            StatusCode::OK,
            &serde_json::json!({"status": "ok", "version": version, "name": app.args.name}),
        ),
        (&Method::GET | &Method::HEAD, "/health/readiness") => json(
            StatusCode::OK,
            &serde_json::json!({"ready": true, "version": version}),
        ),
        (&Method::GET | &Method::HEAD, "/api/metrics" | "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_metrics(app),
        ),
        (&Method::GET | &Method::HEAD, _) => {
            tokio::time::sleep(app.delay()).await;
            {
                let hit = app.random() < app.args.cache_hit_rate;
                let mut m = app.metrics();
                if hit {
                    m.cache_hits += 1;
                } else {
                    m.cache_misses += 1;
                }
            }
            if app.random() < app.args.error_rate {
                return json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &serde_json::json!({"error": "injected failure", "version": version}),
                );
            }
            if path == "/api/work" {
                return json(
                    StatusCode::OK,
                    &serde_json::json!({"done": true, "version": version}),
                );
            }
            match static_file(&app.args.assets, path) {
                Some((file, ct)) => match tokio::fs::read(&file).await {
                    Ok(bytes) => reply(StatusCode::OK, ct, bytes),
                    Err(e) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &serde_json::json!({"error": e.to_string()}),
                    ),
                },
                None => json(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({"error": "not found", "path": path}),
                ),
            }
        }
        _ => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"error": "method not allowed"}),
        ),
    }
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let mut resp = route(&app, &req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    let path = req.uri().path().to_string();
    if let Ok(v) = app.args.name.parse() {
        resp.headers_mut().insert("x-served-by", v);
    }
    if path != "/api/metrics" && path != "/metrics" {
        let mut m = app.metrics();
        *m.requests
            .entry((req.method().to_string(), status))
            .or_default() += 1;
        if let Some(i) = BUCKETS.iter().position(|le| elapsed <= *le) {
            m.buckets[i] += 1;
        }
        m.sum += elapsed;
        m.count += 1;
    }
    let severity = match status {
        500.. => "ERROR",
        400..=499 => "WARNING",
        _ => "INFO",
    };
    app.write_log(&serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "severity": severity,
        "revision": app.args.name,
        "version": app.args.version,
        "message": format!("{} {} {} {:.1}ms", req.method(), path, status, elapsed * 1000.0),
        "httpRequest": {
            "requestMethod": req.method().as_str(),
            "requestUrl": path,
            "status": status,
            "latency": format!("{elapsed:.6}s"),
        },
    }));
    Ok(resp)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.error_rate),
        "--error-rate must be between 0 and 1"
    );
    let log = match &args.log_file {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| anyhow::anyhow!("cannot open --log-file {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{addr}")?;
    stdout.flush()?;
    let app = Arc::new(App {
        metrics: Mutex::new(Metrics {
            memory_failures: args.memory_failures,
            ..Metrics::default()
        }),
        rng: AtomicU64::new(args.seed),
        log,
        args,
    });
    app.write_log(&serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "severity": "NOTICE",
        "revision": app.args.name,
        "version": app.args.version,
        "message": format!("{} {} listening on {addr}", app.args.name, app.args.version),
    }));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(Arc::clone(&app), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn load(url: String, rate: f64, duration: Option<f64>) -> anyhow::Result<()> {
    anyhow::ensure!(rate > 0.0 && rate.is_finite(), "--rate must be positive");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    println!("load {url} at {rate} req/s");
    // Burst: a tick missed on a busy machine is sent late rather than never,
    // so the run keeps the rate asked on average.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = duration.map(|d| Instant::now() + Duration::from_secs_f64(d.max(0.0)));
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut inflight = tokio::task::JoinSet::new();
    loop {
        tick.tick().await;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let (client, url) = (client.clone(), url.clone());
        let (sent, failed) = (Arc::clone(&sent), Arc::clone(&failed));
        while inflight.try_join_next().is_some() {}
        inflight.spawn(async move {
            sent.fetch_add(1, Ordering::Relaxed);
            match client.get(&url).send().await {
                Ok(r) if !r.status().is_server_error() => {
                    let _ = r.bytes().await;
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // The requests still in flight count: wait for their answers.
    while inflight.join_next().await.is_some() {}
    println!(
        "sent {} requests, {} failed or 5xx",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    match args.load.take() {
        Some(url) => load(url, args.rate, args.duration_s).await,
        None => serve(args).await,
    }
}
