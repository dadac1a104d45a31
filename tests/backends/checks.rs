//! Check kinds against a real HTTP server on 127.0.0.1, started by each test.

use crate::support::canned_http;

use std::time::Duration;

use canary::checks::{
    run, CheckContext, CheckKind, CheckResult, CheckSpec, CheckStatus, HttpCheck, JsonExpectation,
    MetricsEndpointCheck,
};
use canned_http::Server;
use tokio::net::TcpListener;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn http(url: &str) -> HttpCheck {
    HttpCheck::get(url)
}

fn spec(kind: CheckKind, blocking: bool, timeout_ms: u64) -> CheckSpec {
    CheckSpec {
        name: "check".into(),
        kind,
        blocking,
        timeout: Duration::from_millis(timeout_ms),
    }
}

async fn run_http(server: &Server, check: HttpCheck) -> CheckResult {
    run(
        &spec(CheckKind::Http(check), true, 5_000),
        &server.ctx(),
        &client(),
    )
    .await
}

fn json(exps: &[&str]) -> Vec<JsonExpectation> {
    exps.iter()
        .map(|e| e.parse().expect("expectation"))
        .collect()
}

fn assert_reason(o: &CheckResult, status: CheckStatus, needle: &str) {
    eprintln!(
        "{:?} {:?} (measured {:?}, expected {:?})",
        o.status, o.reason, o.measured, o.expected
    );
    assert_eq!(o.status, status, "{o:?}");
    assert!(
        o.reason.contains(needle),
        "reason {:?} lacks {needle:?}",
        o.reason
    );
}

#[tokio::test]
async fn health_with_json_fields_passes() {
    let s = Server::start().await;
    let check = HttpCheck {
        json: json(&[r#"status == "ok""#, "checks.db == ok", "version == 3.0"]),
        ..http("{tag_url}/api/health")
    };
    let o = run_http(&s, check).await;
    assert_reason(
        &o,
        CheckStatus::Pass,
        r#"HTTP 200, status == "ok", checks.db == "ok""#,
    );
    assert_eq!(
        (o.measured.as_deref(), o.expected.as_deref()),
        (Some("200"), Some("200"))
    );
    assert_eq!(o.attempts, 1);
}

#[tokio::test]
async fn json_mismatch_fails_or_warns() {
    let s = Server::start().await;
    let check = HttpCheck {
        json: json(&[r#"status == "ok""#]),
        ..http("{tag_url}/api/health-degraded")
    };
    let o = run_http(&s, check.clone()).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        r#"JSON field status is "degraded", expected "ok""#,
    );
    assert_eq!(o.measured.as_deref(), Some(r#"status = "degraded""#));
    assert_eq!(o.expected.as_deref(), Some(r#"status == "ok""#));
    let warn = run(
        &spec(CheckKind::Http(check), false, 5_000),
        &s.ctx(),
        &client(),
    )
    .await;
    assert_eq!(warn.status, CheckStatus::Warn);

    let missing = HttpCheck {
        json: json(&["checks.cache == ok"]),
        ..http("{tag_url}/api/health")
    };
    assert_reason(
        &run_http(&s, missing).await,
        CheckStatus::Fail,
        "JSON field checks.cache is missing",
    );
}

#[tokio::test]
async fn server_errors_garbage_and_404_have_clear_reasons() {
    let s = Server::start().await;
    let o = run_http(&s, http("{service_url}/error")).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "HTTP 500, expected 200: internal error: database unavailable",
    );
    assert_eq!(o.measured.as_deref(), Some("500"));

    let garbage = HttpCheck {
        json: json(&[r#"status == "ok""#]),
        ..http("{tag_url}/garbage")
    };
    assert_reason(
        &run_http(&s, garbage).await,
        CheckStatus::Fail,
        "HTTP 200 but the body is not JSON (expected value at line 1 column 1): <html>",
    );

    let expect_404 = HttpCheck {
        expect_status: 404,
        ..http("{tag_url}/nope")
    };
    assert_reason(
        &run_http(&s, expect_404).await,
        CheckStatus::Pass,
        "HTTP 404",
    );
}

#[tokio::test]
async fn body_regex_and_head_requests() {
    let s = Server::start().await;
    let ok = HttpCheck {
        body_regex: Some("(?m)^ready$".into()),
        ..http("{tag_url}/health/readiness")
    };
    assert_reason(
        &run_http(&s, ok).await,
        CheckStatus::Pass,
        "body matches /(?m)^ready$/",
    );
    let no = HttpCheck {
        body_regex: Some("(?i)healthy".into()),
        ..http("{tag_url}/health/readiness")
    };
    let o = run_http(&s, no).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "body does not match /(?i)healthy/: ready",
    );
    let head = HttpCheck {
        method: reqwest::Method::HEAD,
        ..http("{tag_url}/api/health")
    };
    assert_reason(&run_http(&s, head).await, CheckStatus::Pass, "HTTP 200");
}

#[tokio::test]
async fn slow_responses_time_out() {
    let s = Server::start().await;
    let started = std::time::Instant::now();
    let o = run(
        &spec(CheckKind::Http(http("{tag_url}/slow")), true, 300),
        &s.ctx(),
        &client(),
    )
    .await;
    assert_reason(&o, CheckStatus::Fail, "timed out after 300ms");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(o.duration >= Duration::from_millis(300));
}

#[tokio::test]
async fn retries_succeed_on_the_third_attempt() {
    let s = Server::start().await;
    let check = HttpCheck {
        json: json(&[r#"status == "ok""#]),
        retries: 4,
        interval: Duration::from_millis(50),
        ..http("{tag_url}/flaky")
    };
    let o = run_http(&s, check).await;
    assert_reason(&o, CheckStatus::Pass, "(attempt 3)");
    assert_eq!(o.attempts, 3);
    assert!(o.duration >= Duration::from_millis(100), "{:?}", o.duration);
}

#[tokio::test]
async fn retries_give_up_after_the_last_attempt_or_the_timeout() {
    let s = Server::start().await;
    let check = HttpCheck {
        retries: 2,
        interval: Duration::from_millis(10),
        ..http("{tag_url}/error")
    };
    let o = run_http(&s, check).await;
    assert_reason(&o, CheckStatus::Fail, "HTTP 500, expected 200");
    assert_eq!(o.attempts, 3);

    let endless = HttpCheck {
        retries: 1000,
        interval: Duration::from_millis(150),
        ..http("{tag_url}/error")
    };
    let o = run(
        &spec(CheckKind::Http(endless), true, 1_000),
        &s.ctx(),
        &client(),
    )
    .await;
    assert_reason(&o, CheckStatus::Fail, "timed out after 1s (");
    assert_reason(&o, CheckStatus::Fail, "the last failure: HTTP 500");
    assert!((2..=8).contains(&o.attempts), "{}", o.attempts);
    assert_eq!(o.measured.as_deref(), Some("500"));
}

#[tokio::test]
async fn huge_bodies_are_refused_when_read_and_ignored_otherwise() {
    let s = Server::start().await;
    for path in ["/big", "/big-unannounced"] {
        let check = HttpCheck {
            body_regex: Some("x".into()),
            ..http(&format!("{{tag_url}}{path}"))
        };
        let o = run_http(&s, check).await;
        assert_reason(&o, CheckStatus::Fail, "HTTP 200 but body larger than 1 MiB");
        let status_only = run_http(&s, http(&format!("{{tag_url}}{path}"))).await;
        assert_eq!(
            status_only.status,
            CheckStatus::Pass,
            "{path}: {status_only:?}"
        );
    }
}

#[tokio::test]
async fn non_utf8_bodies() {
    let s = Server::start().await;
    let check = HttpCheck {
        json: json(&[r#"status == "ok""#]),
        ..http("{tag_url}/binary")
    };
    let o = run_http(&s, check).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "the body is not UTF-8 (invalid byte at offset 0), so JSON fields cannot be checked",
    );
    assert_eq!(
        run_http(&s, http("{tag_url}/binary")).await.status,
        CheckStatus::Pass
    );
}

#[tokio::test]
async fn connection_refused_and_missing_tag_url() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let ctx = CheckContext {
        revision: "r".into(),
        tag_url: Some(format!("http://{addr}")),
        service_url: None,
    };
    let s = spec(CheckKind::Http(http("{tag_url}/api/health")), true, 2_000);
    let o = run(&s, &ctx, &client()).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "connection refused (http://127.0.0.1:",
    );

    let no_tag = CheckContext {
        tag_url: None,
        ..ctx
    };
    let o = run(&s, &no_tag, &client()).await;
    assert_reason(&o, CheckStatus::Fail, "revision r has no tag URL");
    assert_eq!(o.attempts, 0);
}

fn metrics_spec(path: &str, condition: &str, blocking: bool) -> CheckSpec {
    spec(
        CheckKind::MetricsEndpoint(MetricsEndpointCheck {
            url_template: format!("{{tag_url}}{path}"),
            condition: condition.into(),
        }),
        blocking,
        2_000,
    )
}

async fn run_metrics(s: &Server, path: &str, condition: &str, blocking: bool) -> CheckResult {
    run(
        &metrics_spec(path, condition, blocking),
        &s.ctx(),
        &client(),
    )
    .await
}

#[tokio::test]
async fn metrics_endpoint_conditions_pass() {
    let s = Server::start().await;
    let o = run_metrics(
        &s,
        "/api/metrics",
        "memory_analysis_failure_total <= 2",
        true,
    )
    .await;
    assert_reason(
        &o,
        CheckStatus::Pass,
        "memory_analysis_failure_total = 1 (<= 2)",
    );
    assert_eq!(
        (o.measured.as_deref(), o.expected.as_deref()),
        (Some("1"), Some("<= 2"))
    );
    let rate = "cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8";
    let o = run_metrics(&s, "/api/metrics", rate, false).await;
    assert_eq!(o.status, CheckStatus::Pass, "{o:?}");
    assert_eq!(
        (o.measured.as_deref(), o.expected.as_deref()),
        (Some("0.9"), Some("> 0.8"))
    );
}

#[tokio::test]
async fn metrics_endpoint_conditions_fail_or_warn() {
    let s = Server::start().await;
    let o = run_metrics(
        &s,
        "/api/metrics-bad",
        "memory_analysis_failure_total <= 2",
        true,
    )
    .await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "memory_analysis_failure_total = 3, expected <= 2",
    );
    let rate = "cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8";
    let o = run_metrics(&s, "/api/metrics-bad", rate, false).await;
    assert_reason(&o, CheckStatus::Warn, "= 0.7, expected > 0.8");
    assert_eq!(
        (o.measured.as_deref(), o.expected.as_deref()),
        (Some("0.7"), Some("> 0.8"))
    );

    let o = run_metrics(&s, "/api/metrics", "nope_total < 1", true).await;
    assert_reason(&o, CheckStatus::Fail, "metric nope_total not found");
    assert_eq!(o.expected.as_deref(), Some("< 1"));
}

#[tokio::test]
async fn metrics_endpoint_bad_responses() {
    let s = Server::start().await;
    let c = "memory_analysis_failure_total <= 2";
    let o = run_metrics(&s, "/api/metrics-garbage", c, true).await;
    assert_reason(&o, CheckStatus::Fail, "did not return a valid text exposition: line 1, column 1: expected a metric name, found '<'");
    let o = run_metrics(&s, "/api/metrics-binary", c, true).await;
    assert_reason(&o, CheckStatus::Fail, "line 3, column 6: invalid UTF-8");
    let o = run_metrics(&s, "/error", c, true).await;
    assert_reason(
        &o,
        CheckStatus::Fail,
        "HTTP 500 from the metrics endpoint: internal error",
    );
    let o = run(
        &CheckSpec {
            timeout: Duration::from_millis(200),
            ..metrics_spec("/slow", c, true)
        },
        &s.ctx(),
        &client(),
    )
    .await;
    assert_reason(&o, CheckStatus::Fail, "timed out after 200ms");
    let o = run_metrics(
        &s,
        "/api/metrics",
        "memory_analysis_failure_total =< 2",
        true,
    )
    .await;
    assert_reason(&o, CheckStatus::Fail, "invalid condition");
    assert_eq!(o.attempts, 0);
}

#[test]
fn validate_catches_config_mistakes() {
    let bad_regex = spec(
        CheckKind::Http(HttpCheck {
            body_regex: Some("(".into()),
            ..http("{tag_url}/x")
        }),
        true,
        1,
    );
    assert!(bad_regex
        .validate()
        .expect_err("regex")
        .contains("invalid body regex"));
    let bad_placeholder = spec(CheckKind::Http(http("{tagurl}/x")), true, 1);
    assert!(bad_placeholder
        .validate()
        .expect_err("placeholder")
        .contains("unknown placeholder"));
    let bad_condition = metrics_spec("/m", "x >", true);
    assert!(bad_condition
        .validate()
        .expect_err("condition")
        .contains("column 4"));
    assert!(metrics_spec("/m", "x > 1", true).validate().is_ok());
    assert!(JsonExpectation::parse("status").is_err());
    assert!(JsonExpectation::parse("== 1").is_err());
    assert!(JsonExpectation::parse("a == {").is_err());
}
