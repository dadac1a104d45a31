//! Micro-benchmarks of the hot paths, with the budgets of issue 6 in mind:
//!
//! - `update/mix`: `update()` on a realistic action mix (keys, ticks, metrics
//!   batches, log batches, snapshots, traffic changes landing);
//! - `ingest/*`: log lines parsed (Cloud Logging `entries:list` pages, sample
//!   app JSON lines, plain lines) and pushed into a 100 000-line ring through
//!   `update`, with a filter active (budget: above 200 000 lines/s);
//! - `render/*`: a whole frame on ratatui's `TestBackend`, with 100 000
//!   buffered log lines, 500 revisions and every sparkline (budget: under
//!   2 ms at 120x40);
//! - `exposition/parse`: the Prometheus text parser on a ~1.4 MB exposition.
//!
//! `cargo bench --bench micro` runs them (about a minute); `cargo test
//! --all-targets` runs each once, as a smoke test. `scripts/bench.sh` reads
//! criterion's estimates and checks the budgets.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use canary::core::action::{Action, Effect};
use canary::core::key::KeyCode;
use canary::core::model::{
    LogEntry, MetricKind, MetricsBatch, Series, ServiceSnapshot, Severity, Version,
};
use canary::core::state::{Settings, State};
use canary::core::update::update;
use canary::logs::cloud_logging::api::ListLogEntriesResponse;
use canary::logs::file::parse_line;
use canary_fakes::fixtures::{self, t0, CANARY, OLD, STABLE};

/// Lines kept in the ring, as in the budget.
const RING: usize = 100_000;
/// Lines per batch in the ingestion benches (one Cloud Logging page is up to 1 000).
const BATCH: usize = 1_000;

use canary_fakes::fixtures::{ch as key, key as key_code};

/// A state with a 100 000-line ring, full, and the demo's snapshot and metrics.
fn full_state(revisions: usize) -> State {
    let mut s = fixtures::state_with(Settings {
        log_capacity: RING,
        ..Settings::default()
    });
    let mut snap = fixtures::busy_snapshot();
    for i in 0..revisions.saturating_sub(snap.revisions.len()) {
        let name = format!("emergence-app-old-{i:03}");
        snap.revisions.push(fixtures::revision(
            &name,
            None,
            10 * 24 * 60 + i as i64,
            true,
        ));
    }
    fixtures::load(&mut s, snap, fixtures::logs(RING), metrics());
    s
}

/// Ten minutes at 10 s steps for the stable, the canary and the old revision:
/// nine sparklines, every one the metrics panel can show.
fn metrics() -> MetricsBatch {
    let mut batch = fixtures::metrics();
    let old: Vec<(DateTime<Utc>, f64)> = (0..60)
        .map(|i| (t0() - Span::seconds(600 - 10 * i), 1.0 + (i % 7) as f64))
        .collect();
    for kind in MetricKind::ALL {
        batch.series.insert(
            (OLD.to_string(), kind),
            Series {
                points: old.clone(),
            },
        );
    }
    batch
}

/// One simulated second of a busy cockpit, as actions.
fn second_of_actions(k: usize) -> Vec<Action> {
    let mut out = vec![Action::Tick];
    // ~10 log lines a second come in a batch every 2 s (the log poll);
    // `drive` dates them just before its clock, as a poll would.
    if k.is_multiple_of(2) {
        out.push(Action::LogBatch(fixtures::logs(20)));
    }
    // The service every 2 s, metrics every 5 s.
    if k % 2 == 1 {
        out.push(Action::ServiceLoaded {
            snapshot: fixtures::snapshot(),
            generation: 0, // stamped by `drive`
        });
    }
    if k.is_multiple_of(5) {
        out.push(Action::MetricsLoaded(fixtures::metrics()));
    }
    // The operator: moves the selection, changes the log view, opens help.
    match k % 10 {
        0 => out.push(key('j')),
        1 => out.push(key('k')),
        2 => out.push(key('s')),
        3 => out.push(key('f')),
        4 => out.push(key_code(KeyCode::PageUp)),
        5 => out.push(key_code(KeyCode::PageDown)),
        6 => out.push(key('?')),
        7 => out.push(key_code(KeyCode::Esc)),
        8 => out.push(key('+')), // lands below, as the platform would
        _ => out.push(key('-')),
    }
    out
}

/// Runs `actions`; a traffic change is answered at once by the platform.
fn drive(state: &mut State, actions: Vec<Action>, now: &mut DateTime<Utc>) -> usize {
    let mut n = 0;
    for mut a in actions {
        *now += Span::milliseconds(100);
        if let Action::LogBatch(batch) = &mut a {
            // The last two seconds' lines, newer than the previous batch's.
            let n = batch.len() as i64;
            for (i, e) in batch.iter_mut().enumerate() {
                e.timestamp = *now - Span::milliseconds(2000 * (n - i as i64) / n.max(1));
            }
        }
        if let Action::ServiceLoaded { generation, .. } = &mut a {
            // A read started after the last change landed, as a poll would.
            *generation = state.write_generation;
        }
        let fx = update(state, a, *now);
        n += 1;
        for e in fx {
            if let Effect::SetTraffic { id, split, .. } = e {
                let mut snapshot: ServiceSnapshot = fixtures::snapshot();
                snapshot.traffic = split.clone();
                snapshot.actual = Some(split);
                snapshot.version = Version(format!("etag-{id}"));
                black_box(update(state, Action::TrafficApplied { id, snapshot }, *now));
                n += 1;
            }
        }
    }
    n
}

fn bench_update(c: &mut Criterion) {
    let mix: Vec<Action> = (0..60).flat_map(second_of_actions).collect();
    let mut state = fixtures::busy_state();
    let mut now = t0();
    // Count what one pass really runs (the landed changes included).
    let per_pass = drive(&mut state.clone(), mix.clone(), &mut now.clone());
    let mut g = c.benchmark_group("update");
    g.throughput(Throughput::Elements(per_pass as u64));
    g.bench_function("mix", |b| {
        b.iter_batched(
            || mix.clone(),
            |actions| drive(&mut state, actions, &mut now),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// One `entries:list` page as Cloud Logging sends it: request logs and app
/// logs (text and JSON payloads) from two revisions.
fn cloud_logging_page(n: usize) -> String {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let rev = if i % 10 == 3 { CANARY } else { STABLE };
            let ts = (t0() + Span::milliseconds(i as i64)).to_rfc3339();
            let mut e = serde_json::json!({
                "logName": "projects/emergence-469005/logs/run.googleapis.com%2Frequests",
                "resource": {"type": "cloud_run_revision", "labels": {
                    "service_name": "emergence-app", "revision_name": rev,
                    "location": "europe-west1", "project_id": "emergence-469005",
                    "configuration_name": "emergence-app"}},
                "insertId": format!("6744f0a3000{i:06}"),
                "timestamp": ts,
                "receiveTimestamp": ts,
                "trace": "projects/emergence-469005/traces/4bf92f3577b34da6a3ce929d0e0e4736",
            });
            match i % 3 {
                0 => {
                    e["severity"] = if i % 30 == 0 { "ERROR" } else { "INFO" }.into();
                    e["httpRequest"] = serde_json::json!({
                        "requestMethod": "GET", "requestUrl": format!("https://emergence-app-x7k2p9-ew.a.run.app/api/items/{i}"),
                        "status": if i % 30 == 0 { 503 } else { 200 }, "latency": "0.231s",
                        "userAgent": "Mozilla/5.0", "remoteIp": "203.0.113.7", "protocol": "HTTP/1.1",
                        "responseSize": "1532"});
                }
                1 => {
                    e["severity"] = "WARNING".into();
                    e["textPayload"] = format!("slow query on items ({i} rows) took 812ms").into();
                }
                _ => {
                    e["severity"] = "INFO".into();
                    e["jsonPayload"] = serde_json::json!({"message": format!("cache refresh {i} done"), "keys": 4096});
                }
            }
            e
        })
        .collect();
    serde_json::json!({"entries": entries, "nextPageToken": "EAA4xZCaBUoMIg..."}).to_string()
}

/// Lines as the sample app and plain-text servers write them.
fn file_lines(n: usize, json: bool) -> Vec<String> {
    (0..n)
        .map(|i| {
            let status = if i % 10 == 3 { 503 } else { 200 };
            if json {
                format!(
                    r#"{{"timestamp":"2026-11-20T09:59:{:02}.{:03}Z","severity":"{}","revision":"{CANARY}","message":"GET /api/items/{i} {status} 3.{}ms","httpRequest":{{"requestMethod":"GET","requestUrl":"/api/items/{i}","status":{status}}}}}"#,
                    i % 60,
                    i % 1000,
                    if status == 503 { "ERROR" } else { "INFO" },
                    i % 10
                )
            } else {
                format!(
                    "2026-11-20T09:59:{:02}Z {} GET /api/items/{i} {status} in 3.{}ms",
                    i % 60,
                    if status == 503 { "ERROR" } else { "INFO" },
                    i % 10
                )
            }
        })
        .collect()
}

/// A full ring with a filter typed in: what ingestion costs in the cockpit.
fn filtered_state() -> State {
    let mut s = full_state(3);
    s.log_view.filter = "items".into();
    s
}

/// Pushes a batch through `update` and counts what the filtered tail shows,
/// as the logs panel does for the new lines.
fn ingest(state: &mut State, batch: Vec<LogEntry>) -> usize {
    let shown = batch.iter().filter(|e| state.log_view.matches(e)).count();
    update(state, Action::LogBatch(batch), t0());
    shown
}

fn bench_ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(BATCH as u64));

    let page = cloud_logging_page(BATCH);
    let mut state = filtered_state();
    g.bench_function("cloud_logging", |b| {
        b.iter(|| {
            let resp: ListLogEntriesResponse =
                serde_json::from_str(black_box(&page)).expect("page");
            let batch: Vec<LogEntry> = resp
                .entries
                .iter()
                .filter_map(|e| e.to_log_entry())
                .collect();
            ingest(&mut state, batch)
        })
    });

    for (name, json) in [("file_json", true), ("file_plain", false)] {
        let lines = file_lines(BATCH, json);
        let now = t0();
        g.bench_function(name, |b| {
            b.iter(|| {
                let batch: Vec<LogEntry> = lines
                    .iter()
                    .map(|l| parse_line(black_box(l), CANARY, now))
                    .collect();
                ingest(&mut state, batch)
            })
        });
    }
    g.finish();
}

fn bench_render(c: &mut Criterion) {
    let state = full_state(500);
    let mut filtered = state.clone();
    // A rare match: the tail walks far back through the ring to fill its rows.
    filtered.log_view.filter = "items/99".into();
    filtered.log_view.min_severity = Severity::Error;
    let mut g = c.benchmark_group("render");
    for (name, w, h, st) in [
        ("120x40", 120, 40, &state),
        ("200x60", 200, 60, &state),
        ("120x40_rare_filter", 120, 40, &filtered),
    ] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        g.bench_function(name, |b| {
            b.iter(|| {
                term.draw(|f| canary::ui::render(f, st)).expect("draw");
            })
        });
    }
    g.finish();
}

/// A large exposition: HTTP histograms per route and code, process and
/// runtime gauges, a summary; about 1.4 MB.
fn exposition() -> String {
    let mut s = String::new();
    s.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n");
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for route in 0..200 {
        for code in ["200", "404", "500"] {
            let labels = format!(
                "method=\"GET\",route=\"/api/v1/items/{route}\",code=\"{code}\",revision=\"{CANARY}\""
            );
            for (i, le) in les.iter().enumerate() {
                s.push_str(&format!(
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}\n",
                    (i + 1) * (route + 7) * 13
                ));
            }
            s.push_str(&format!(
                "http_request_duration_seconds_sum{{{labels}}} {}.{}\n",
                route * 31,
                route % 97
            ));
            s.push_str(&format!(
                "http_request_duration_seconds_count{{{labels}}} {}\n",
                12 * (route + 7) * 13
            ));
        }
    }
    s.push_str("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    for route in 0..2000 {
        s.push_str(&format!(
            "http_requests_total{{method=\"POST\",route=\"/api/v1/orders/{route}\",code=\"200\"}} {}e3 1795000000000\n",
            route as f64 * 1.5
        ));
    }
    s.push_str("# HELP rpc_duration_seconds RPC latency.\n# TYPE rpc_duration_seconds summary\n");
    for q in ["0.01", "0.05", "0.5", "0.9", "0.99"] {
        s.push_str(&format!(
            "rpc_duration_seconds{{quantile=\"{q}\"}} 3.102e3\n"
        ));
    }
    s.push_str("rpc_duration_seconds_sum 1.7560473e+07\nrpc_duration_seconds_count 2693\n");
    for g in 0..500 {
        s.push_str(&format!(
            "# HELP process_gauge_{g} A gauge.\n# TYPE process_gauge_{g} gauge\nprocess_gauge_{g} {}\n",
            g as f64 / 3.0
        ));
    }
    s
}

fn bench_exposition(c: &mut Criterion) {
    let text = exposition();
    let mut g = c.benchmark_group("exposition");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| canary::metrics::exposition::parse(black_box(text.as_bytes())).expect("valid"))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_update, bench_ingest, bench_render, bench_exposition
}
criterion_main!(benches);
