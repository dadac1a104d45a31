//! The simulated service's own HTTP front, so the demo's verification checks
//! are real HTTP requests: `/rev/NAME/...` reaches one revision (its "tag
//! URL"), `/service/...` the revision with the most traffic. Each revision
//! answers `/api/health`, `/health/readiness`, `/api/metrics` (Prometheus
//! text format), `/`, `/assets/` and `/src/frontend/main.js`, from its state
//! in the simulation: not ready → 503; a high error rate → degraded health,
//! memory analysis failures; a slow revision → a poor cache hit rate.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Simulator;

/// What the front needs to know about one revision right now.
#[derive(Clone, Debug, PartialEq)]
pub struct RevStatus {
    pub name: String,
    pub ready: bool,
    pub error_percent: f64,
    pub p95_ms: f64,
    pub requests_total: u64,
    pub errors_total: u64,
}

impl Simulator {
    /// Starts the HTTP front on `127.0.0.1:0`; from then on tag URLs and the
    /// service URL point at it. Returns the bound address. The server stops
    /// when the runtime does.
    pub async fn serve_http(&self) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        self.shared.lock().http_base = Some(format!("http://{addr}"));
        let sim = self.downgrade_handle();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sim = sim.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let sim = sim.clone();
                        async move { Ok::<_, Infallible>(handle(&sim, &req)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(addr)
    }
}

fn reply(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn handle(sim: &super::Handle, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let (who, rest) = if let Some(r) = path.strip_prefix("/rev/") {
        match r.split_once('/') {
            Some((name, rest)) => (Some(name.to_string()), format!("/{rest}")),
            None => (Some(r.to_string()), "/".to_string()),
        }
    } else if let Some(rest) = path.strip_prefix("/service") {
        (
            None,
            if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            },
        )
    } else {
        return reply(404, "text/plain", "not found\n".into());
    };
    let Some(status) = sim.rev_status(who.as_deref()) else {
        return reply(404, "text/plain", "no such revision\n".into());
    };
    let head = req.method() == Method::HEAD;
    let r = route(&status, &rest);
    if head {
        let mut r = r;
        *r.body_mut() = Full::new(Bytes::new());
        return r;
    }
    r
}

fn route(s: &RevStatus, path: &str) -> Response<Full<Bytes>> {
    if !s.ready {
        return reply(
            503,
            "text/plain",
            "Service Unavailable: the revision is not ready\n".into(),
        );
    }
    match path {
        "/api/health" => {
            let status = if s.error_percent >= 5.0 {
                "degraded"
            } else {
                "ok"
            };
            let body = serde_json::json!({
                "status": status,
                "revision": s.name,
                "error_rate_percent": (s.error_percent * 100.0).round() / 100.0,
            });
            reply(200, "application/json", body.to_string())
        }
        "/health/readiness" => reply(200, "application/json", "{\"ready\":true}".into()),
        "/api/metrics" => reply(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            exposition(s),
        ),
        "/" => reply(
            200,
            "text/html; charset=utf-8",
            format!("<!doctype html><html><head><title>emergence</title></head><body data-revision=\"{}\"></body></html>\n", s.name),
        ),
        "/assets/" => reply(200, "text/html; charset=utf-8", "<html><body><a href=\"main.css\">main.css</a></body></html>\n".into()),
        "/src/frontend/main.js" => reply(200, "application/javascript", "console.log('emergence');\n".into()),
        _ => reply(404, "text/plain", "not found\n".into()),
    }
}

/// The revision's `/api/metrics`, in Prometheus text format 0.0.4.
pub fn exposition(s: &RevStatus) -> String {
    let ok = s.requests_total.saturating_sub(s.errors_total);
    // A failing revision fails its memory analyses too; a slow one misses its cache.
    let memory_failures = s.errors_total / 20;
    let lookups = s.requests_total * 3 + 100;
    let hit_ratio = if s.p95_ms > 600.0 { 0.7 } else { 0.93 };
    let hits = (lookups as f64 * hit_ratio).round() as u64;
    let misses = lookups - hits;
    format!(
        "# HELP http_requests_total Requests answered, by status class.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{{code=\"2xx\"}} {ok}\n\
         http_requests_total{{code=\"5xx\"}} {}\n\
         # HELP memory_analysis_failure_total Memory analyses that failed.\n\
         # TYPE memory_analysis_failure_total counter\n\
         memory_analysis_failure_total {memory_failures}\n\
         # HELP cache_hits_total Cache lookups that hit.\n\
         # TYPE cache_hits_total counter\n\
         cache_hits_total {hits}\n\
         # HELP cache_misses_total Cache lookups that missed.\n\
         # TYPE cache_misses_total counter\n\
         cache_misses_total {misses}\n\
         # HELP request_p95_seconds Current 95th percentile latency.\n\
         # TYPE request_p95_seconds gauge\n\
         request_p95_seconds {:.3}\n",
        s.errors_total,
        s.p95_ms / 1000.0
    )
}
