//! The Prometheus client against a real `prometheus` scraping a real sample app.

use crate::support::local_stack;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use canary::core::error::BackendError;
use canary::core::model::MetricKind;
use canary::metrics::prometheus::{
    PrometheusMetrics, PrometheusSettings, QueryMethod, QueryTemplates,
};
use canary::metrics::{MetricsSource, MetricsWindow};
use local_stack::{eventually, require, Prometheus, SampleApp};

const V1: &str = "emergence-app-v1";

/// Templates over the app's own counters (the stack uses HAProxy's for rate
/// and errors; this test has no HAProxy).
fn app_templates() -> QueryTemplates {
    let all = "http_requests_total{revision=\"{revision}\"}";
    let errors = "http_requests_total{revision=\"{revision}\",code=~\"5..\"}";
    QueryTemplates {
        request_rate: format!("sum(rate({all}[{{rate_window}}]))"),
        error_percent: format!(
            "100 * sum(rate({errors}[{{rate_window}}])) / sum(rate({all}[{{rate_window}}]))"
        ),
        latency_p95: QueryTemplates::haproxy("app").latency_p95,
        latency_buckets: QueryTemplates::haproxy("app").latency_buckets,
        le_ms: 1000,
        freshness: Some(format!("max(timestamp({all}))")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_series_parses_errors_and_says_when_prometheus_is_gone() {
    let Some(binary) = require("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let app = SampleApp::start(
        V1,
        "v1",
        &["--error-rate", "0.2", "--latency-ms", "20"],
        None,
    );
    let mut prom = Prometheus::start(&binary, dir.path(), &[(V1, app.addr)]).await;

    // About 25 requests per second to the app while the test runs.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        let url = app.url("/api/work");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            // One request every 40 ms, each on its own task, and ticks missed
            // on a busy machine sent late (Burst): the rate stays about 25/s
            // whatever the app's latency and the machine's load.
            let mut tick = tokio::time::interval(Duration::from_millis(40));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let _ = client.get(&url).send().await;
                });
            }
        })
    };

    let mut settings = PrometheusSettings::new(prom.url.clone(), app_templates());
    settings.rate_window = Duration::from_secs(4);
    let p = PrometheusMetrics::new(settings.clone()).expect("client");

    let up = eventually("the app is scraped", Duration::from_secs(20), || async {
        let v = p.query_instant("up{job=\"app\"}").await.ok()?;
        (v.first()?.1 == 1.0).then_some(v)
    })
    .await;
    assert_eq!(up[0].0.get("revision").map(String::as_str), Some(V1));

    // Enough scrapes for a rate over 4 s.
    let rate_q = format!("sum(rate(http_requests_total{{revision=\"{V1}\"}}[4s]))");
    eventually("a request rate", Duration::from_secs(20), || async {
        let v = p.query_instant(&rate_q).await.ok()?;
        (v.first()?.1 > 0.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let window = MetricsWindow {
        end: chrono::Utc::now(),
        span: Duration::from_secs(20),
        step: Duration::from_secs(1),
    };
    let revisions = vec![V1.to_string(), "emergence-app-v9".to_string()];
    let batch = p.fetch(&revisions, window).await.expect("fetch");
    let get = |rev: &str, kind| {
        batch
            .series
            .get(&(rev.to_string(), kind))
            .cloned()
            .expect("series")
    };
    let rate = get(V1, MetricKind::RequestRate).last().expect("a rate");
    assert!((10.0..=40.0).contains(&rate), "about 25 req/s: {rate}");
    let errors = get(V1, MetricKind::ErrorPercent)
        .last()
        .expect("an error share");
    assert!((5.0..=40.0).contains(&errors), "about 20 %: {errors}");
    let p95 = get(V1, MetricKind::LatencyP95).last().expect("a p95");
    assert!(
        (15.0..=60.0).contains(&p95),
        "latency ~20 ms, p95 in ms: {p95}"
    );
    for kind in MetricKind::ALL {
        assert!(
            get("emergence-app-v9", kind).points.is_empty(),
            "an unknown revision has no data, not 0"
        );
    }
    // The source's lag: the newest raw sample of the revision that has any
    // (the unknown one has none and does not count), a scrape (1 s) or so
    // behind now, where the range query's points are stamped up to its end.
    let sampled = batch.sampled_until.expect("the newest sample's time");
    let behind = (chrono::Utc::now() - sampled).num_milliseconds();
    assert!((0..=5_000).contains(&behind), "{behind} ms behind");
    assert!(
        sampled <= window.end + chrono::Duration::seconds(2),
        "{sampled} vs {}",
        window.end
    );
    // Without the query there is nothing to say it with.
    let mut quiet = settings.clone();
    quiet.queries.freshness = None;
    let q = PrometheusMetrics::new(quiet).expect("client");
    assert_eq!(
        q.fetch(&revisions, window)
            .await
            .expect("fetch")
            .sampled_until,
        None
    );
    assert!(
        !batch.counts.contains_key("emergence-app-v9"),
        "no histogram, no counts"
    );

    // The histogram from `sum by (le) (rate(..._bucket))` for the judge: per
    // point, requests = rate × step and the cumulative buckets in ms (le in
    // seconds × 1000); the p95 read back from the newest point's buckets is
    // the one histogram_quantile gives for that point (same buckets, same
    // linear interpolation).
    let counts = batch.counts.get(V1).expect("counts from the histogram");
    let (_, newest) = counts.last().expect("a point");
    assert!(
        (newest.requests - rate).abs() < 1e-6,
        "{newest:?} vs {rate}"
    );
    let le = &newest.latency_le;
    assert!(le.len() >= 5, "the app's buckets: {le:?}");
    assert!(
        le.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{le:?}"
    );
    assert_eq!(le.last().map(|b| b.0), Some(f64::INFINITY), "{le:?}");
    assert!(le.iter().any(|b| b.0 == 25.0), "0.025 s is 25 ms: {le:?}");
    // Compared a few seconds before the window's end: the queries are
    // separate, and a scrape landing between them moves the newest point.
    let at = counts[counts.len().saturating_sub(4)].0;
    let p95_then = get(V1, MetricKind::LatencyP95)
        .points
        .iter()
        .find(|p| p.0 == at)
        .map(|p| p.1)
        .expect("a p95 at the same time");
    let mut tally = canary::core::judge::tally::Tally::default();
    tally.merge(&batch, V1, chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let before = at - chrono::Duration::milliseconds(1);
    let q = tally
        .totals(Some(before), Some(at))
        .quantile(0.95)
        .expect("a histogram");
    assert!(
        (q - p95_then).abs() <= 0.02 * p95_then,
        "p95 from the buckets {q} vs histogram_quantile {p95_then}"
    );
    let hist_total = le.last().map_or(0.0, |b| b.1);
    assert!(
        (hist_total - newest.requests).abs() <= 0.2 * newest.requests,
        "the histogram counts about the requests: {hist_total} vs {}",
        newest.requests
    );

    // The range query itself: points one step apart inside the window.
    let series = p
        .query_range(
            &rate_q,
            window.end - chrono::Duration::seconds(10),
            window.end,
            Duration::from_secs(2),
        )
        .await
        .expect("range");
    assert_eq!(series.len(), 1);
    let pts = &series[0].series.points;
    assert!(pts.len() >= 2, "{:?}", series[0]);
    assert_eq!(
        (pts[1].0 - pts[0].0).num_milliseconds(),
        2000,
        "one step apart"
    );

    // POST works the same.
    let mut post = settings.clone();
    post.method = QueryMethod::Post;
    let pp = PrometheusMetrics::new(post).expect("client");
    assert_eq!(pp.query_instant("1 + 1").await.expect("scalar")[0].1, 2.0);

    // Prometheus' own error answer is parsed.
    let e = p.query_instant("sum(").await.expect_err("bad query");
    let BackendError::Refused(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("bad_data") && m.contains("sum(") && m.contains("parse error"),
        "{m}"
    );

    // A wrong path prefix is named as such.
    let mut wrong = settings.clone();
    wrong.url = format!("http://{}", prom.addr);
    let e = PrometheusMetrics::new(wrong)
        .expect("client")
        .query_instant("up")
        .await
        .expect_err("no prefix");
    assert!(
        matches!(&e, BackendError::NotFound(m) if m.contains("path prefix")),
        "{e:?}"
    );

    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    prom.proc.kill();
    let e = p
        .fetch(&revisions, window)
        .await
        .expect_err("prometheus stopped");
    match &e {
        BackendError::Unavailable { message, .. } => {
            assert!(
                message.contains("cannot reach Prometheus at") && message.contains(&prom.url),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}
