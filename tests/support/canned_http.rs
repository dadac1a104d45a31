//! A tiny HTTP/1.1 server on 127.0.0.1:0 with canned responses per path, for the
//! check tests: one connection per request (`Connection: close`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canary::checks::CheckContext;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GOOD_METRICS: &str = "# HELP memory_analysis_failure_total Failed memory analyses.\n\
# TYPE memory_analysis_failure_total counter\n\
memory_analysis_failure_total 1\n\
# TYPE cache_hits_total counter\n\
cache_hits_total{cache=\"pages\"} 850\n\
cache_hits_total{cache=\"users\"} 50\n\
# TYPE cache_misses_total counter\n\
cache_misses_total{cache=\"pages\"} 100\n";

const BAD_METRICS: &str = "memory_analysis_failure_total 3 1700000000000\n\
cache_hits_total 70\r\ncache_misses_total 30\r\n";

/// A canned response: status, body, and whether to announce its length.
struct Reply {
    status: u16,
    body: Vec<u8>,
    content_length: bool,
    delay: Duration,
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status,
        body: body.into(),
        content_length: true,
        delay: Duration::ZERO,
    }
}

fn route(path: &str, hit: u32) -> Reply {
    match path {
        "/api/health" => reply(200, r#"{"status":"ok","checks":{"db":"ok"},"version":3}"#),
        "/api/health-degraded" => reply(200, r#"{"status":"degraded","checks":{"db":"down"}}"#),
        "/health/readiness" => reply(200, "ready\n"),
        "/error" => reply(500, "internal error: database unavailable"),
        "/garbage" => reply(200, "<html><body>oops</body></html>"),
        "/slow" => Reply {
            delay: Duration::from_secs(10),
            ..reply(200, r#"{"status":"ok"}"#)
        },
        "/big" => reply(200, vec![b' '; 5 << 20]),
        "/big-unannounced" => Reply {
            content_length: false,
            ..reply(200, vec![b'x'; 5 << 20])
        },
        "/binary" => reply(200, &b"\xff\xfe{\"status\":\"ok\"}"[..]),
        "/flaky" if hit < 3 => reply(503, "starting"),
        "/flaky" => reply(200, r#"{"status":"ok"}"#),
        "/api/metrics" => reply(200, GOOD_METRICS),
        "/api/metrics-bad" => reply(200, BAD_METRICS),
        "/api/metrics-garbage" => reply(200, "<html>{not an exposition}</html>"),
        "/api/metrics-binary" => reply(200, &b"a 1\nb 2\nc{x=\"\xff\"} 3\n"[..]),
        _ => reply(404, "not found"),
    }
}

pub struct Server {
    pub addr: SocketAddr,
}

impl Server {
    /// Binds 127.0.0.1:0 and serves until the test's runtime ends.
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, hits.clone()));
            }
        });
        Server { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A context whose tag URL (with a trailing `/`) and service URL point here.
    pub fn ctx(&self) -> CheckContext {
        CheckContext {
            revision: "app-00043-kap".into(),
            tag_url: Some(format!("{}/", self.url())),
            service_url: Some(self.url()),
        }
    }
}

async fn serve(mut stream: TcpStream, hits: Arc<Mutex<HashMap<String, u32>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let hit = {
        let mut hits = hits.lock().expect("lock");
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let r = route(&path, hit);
    tokio::time::sleep(r.delay).await;
    let mut out = format!("HTTP/1.1 {} Canned\r\nConnection: close\r\n", r.status);
    if r.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes()).await;
    if method != "HEAD" {
        let _ = stream.write_all(&r.body).await;
    }
    let _ = stream.shutdown().await;
}
