//! The sample app (`canary-sample`), started as a real process.

use crate::support::local_stack;

use std::time::Duration;

use canary::metrics::exposition;
use local_stack::SampleApp;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test]
async fn health_static_files_metrics_and_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("v2.log");
    let app = SampleApp::start(
        "emergence-app-v2",
        "v2",
        &["--latency-ms", "15", "--memory-failures", "2"],
        Some(&log),
    );
    let c = client();

    let r = c.get(app.url("/api/health")).send().await.expect("health");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], "emergence-app-v2");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], "v2");

    let r = c
        .get(app.url("/health/readiness"))
        .send()
        .await
        .expect("readiness");
    assert_eq!(r.status(), 200);

    for path in ["/", "/assets/", "/src/frontend/main.js", "/assets/app.css"] {
        let r = c.get(app.url(path)).send().await.expect("static");
        assert_eq!(r.status(), 200, "{path}");
        assert!(!r.bytes().await.expect("body").is_empty(), "{path}");
    }
    let r = c
        .head(app.url("/src/frontend/main.js"))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    let len: usize = r.headers()["content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert!(len > 0);
    assert!(
        r.bytes().await.expect("body").is_empty(),
        "HEAD has no body"
    );
    for path in [
        "/nope",
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/.git/config",
    ] {
        let r = c.get(app.url(path)).send().await.expect("404");
        assert_eq!(r.status(), 404, "{path}");
    }

    let text = c
        .get(app.url("/api/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let m = exposition::parse(text.as_bytes()).expect("valid exposition");
    assert_eq!(m.value("memory_analysis_failure_total", &[]), Some(2.0));
    // /api/health, readiness, 4 static files, HEAD, 4 not found (metrics are not counted).
    assert_eq!(
        m.sum_matching("http_requests_total", &[("code", "200")]),
        Some(7.0)
    );
    assert_eq!(
        m.sum_matching("http_requests_total", &[("code", "404")]),
        Some(4.0)
    );
    assert_eq!(
        m.value("http_request_duration_seconds_count", &[]),
        Some(11.0)
    );
    let hits = m.value("cache_hits_total", &[]).expect("hits");
    let misses = m.value("cache_misses_total", &[]).expect("misses");
    assert_eq!(
        hits + misses,
        9.0,
        "static files and 404s looked the cache up"
    );
    let p95 = m
        .histogram_quantile(0.95, "http_request_duration_seconds", &[])
        .expect("p95");
    assert!(p95 >= 0.010, "latency 15 ms ± 0 shows: {p95}");

    // A raw request line, not normalised by a client, cannot leave the assets.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        s.write_all(b"GET /../../Cargo.toml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.expect("read");
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    }

    let logged = std::fs::read_to_string(&log).expect("log file");
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines[0]["severity"], "NOTICE");
    let not_found = lines
        .iter()
        .filter(|l| l["httpRequest"]["status"] == 404)
        .count();
    assert_eq!(not_found, 5);
    assert!(lines.iter().all(|l| l["revision"] == "emergence-app-v2"));
    assert!(lines.iter().any(|l| l["severity"] == "WARNING"));
}

#[tokio::test]
async fn error_rate_is_honoured_but_health_stays_up() {
    let app = SampleApp::start("v-bad", "v9", &["--error-rate", "1"], None);
    let c = client();
    for _ in 0..5 {
        let r = c.get(app.url("/api/work")).send().await.expect("work");
        assert_eq!(r.status(), 500);
    }
    let r = c.get(app.url("/api/health")).send().await.expect("health");
    assert_eq!(r.status(), 200);
    let half = SampleApp::start(
        "v-half",
        "v9",
        &["--error-rate", "0.5", "--seed", "7"],
        None,
    );
    let mut errors = 0;
    for _ in 0..200 {
        if c.get(half.url("/api/work"))
            .send()
            .await
            .expect("work")
            .status()
            == 500
        {
            errors += 1;
        }
    }
    assert!((70..=130).contains(&errors), "about half of 200: {errors}");
}

#[tokio::test]
async fn load_mode_sends_at_the_rate_asked() {
    let app = SampleApp::start("target", "v1", &[], None);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_canary-sample"))
        .args([
            "--load",
            &app.url("/api/work"),
            "--rate",
            "40",
            "--duration-s",
            "1",
        ])
        .output()
        .await
        .expect("load run");
    assert!(out.status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = client()
        .get(app.url("/api/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    let m = exposition::parse(text.as_bytes()).expect("valid");
    let n = m.sum("http_requests_total").expect("requests");
    assert!((30.0..=45.0).contains(&n), "about 40 requests in 1 s: {n}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 failed"), "{stdout}");
}
