//! Generates one simulated second: requests, their outcomes, metrics and logs.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::history::{RevSecond, SecondRecord};
use super::rng::Rng;
use super::traffic;
use super::world::World;
use crate::core::model::{LogEntry, Severity};

const ROUTES: &[(&str, f64)] = &[
    ("GET /api/items", 40.0),
    ("GET /api/items/{id}", 20.0),
    ("GET /", 10.0),
    ("GET /assets/app.js", 8.0),
    ("POST /api/analysis", 10.0),
    ("GET /api/health", 12.0),
];

const CLIENT_ERRORS: &[u16] = &[404, 404, 404, 401, 429];
const SERVER_ERRORS: &[(u16, &str)] = &[
    (500, "unhandled exception in handler: KeyError: 'sku'"),
    (
        502,
        "upstream connect error: inventory-db: connection refused",
    ),
    (503, "connection pool exhausted (20/20 in use)"),
    (504, "upstream timeout: inventory-db after 3000ms"),
];

const CHATTER: &[&str] = &[
    "GC pause 14ms",
    "connection pool: 7/20 in use",
    "cache hit rate 86%",
    "flushed 128 metrics to exporter",
    "refreshed feature flags (12 flags)",
];

struct Pending {
    at: DateTime<Utc>,
    entry: LogEntry,
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    items.get(usize::try_from(rng.below(items.len() as u64)).unwrap_or(0))
}

fn route(rng: &mut Rng) -> String {
    let weights: Vec<f64> = ROUTES.iter().map(|(_, w)| *w).collect();
    let i = rng.weighted(&weights).unwrap_or(0);
    let r = ROUTES.get(i).map_or("GET /", |(r, _)| *r);
    if r.contains("{id}") {
        r.replace("{id}", &(1000 + rng.below(9000)).to_string())
    } else {
        r.to_string()
    }
}

fn log(
    at: DateTime<Utc>,
    rev: &str,
    severity: Severity,
    status: Option<u16>,
    msg: String,
) -> Pending {
    Pending {
        at,
        entry: LogEntry {
            timestamp: at,
            revision: Some(rev.to_string()),
            severity,
            status,
            message: msg,
        },
    }
}

/// Generates second `k` (covering `(k-1, k]` after the epoch) into `w`.
pub fn generate_second(w: &mut World, k: u64) {
    let start = w.epoch + chrono::Duration::seconds(i64::try_from(k).unwrap_or(i64::MAX) - 1);
    let end = start + chrono::Duration::seconds(1);
    let weights: Vec<f64> = w
        .revs
        .iter()
        .map(|r| f64::from(w.actual.percent_of(&r.spec.name)))
        .collect();
    let mut pending: Vec<Pending> = Vec::new();

    // Who serves this second, and how it behaves right now.
    let mut profiles = Vec::with_capacity(w.revs.len());
    for (i, r) in w.revs.iter_mut().enumerate() {
        let serving = weights.get(i).copied().unwrap_or(0.0) > 0.0;
        if serving && r.first_traffic.is_none() {
            r.first_traffic = Some(k - 1);
            let at = start + chrono::Duration::milliseconds(1);
            let msg = if r.ready {
                "Starting new instance. Reason: AUTOSCALING - Instance started due to traffic"
            } else {
                "Request routed to a revision that is not ready"
            };
            let sev = if r.ready {
                Severity::Info
            } else {
                Severity::Warning
            };
            pending.push(log(at, &r.spec.name, sev, None, msg.to_string()));
        }
        let since = r
            .first_traffic
            .map(|f| Duration::from_secs(k.saturating_sub(f)));
        let (err, p95) = r.spec.profile_at(since);
        let p95 = traffic::p95_at(p95, k, r.wobble_phase);
        profiles.push((err, r.spec.client_error_percent, p95, r.ready));
        if r.ready && !r.serving_at_start && r.first_traffic.is_some_and(|f| k == f + 6) {
            let at = start + chrono::Duration::milliseconds(500);
            let msg = "cache warmup complete (4096 keys in 5.2s)".to_string();
            pending.push(log(at, &r.spec.name, Severity::Info, None, msg));
        }
    }

    // Steady load with a slow swell and a little per-second noise.
    let n = traffic::arrivals(&mut w.rng, w.scenario.requests_per_second, k);
    let mut offsets: Vec<u64> = (0..n).map(|_| w.rng.below(1000)).collect();
    offsets.sort_unstable();

    let mut stats: Vec<RevSecond> = vec![RevSecond::default(); w.revs.len()];
    let log_sample = w.scenario.log_sample;
    for off in offsets {
        let Some(i) = w.rng.weighted(&weights) else {
            break;
        };
        let (Some(&(err, client, p95, ready)), Some(rev)) = (profiles.get(i), w.revs.get(i)) else {
            continue;
        };
        let at = start + chrono::Duration::milliseconds(i64::try_from(off).unwrap_or(0));
        let path = route(&mut w.rng);
        let u = traffic::draw_percent(&mut w.rng);
        let latency = traffic::latency(&mut w.rng, p95);
        let (status, latency, app) = if !ready {
            (503, 1.0 + w.rng.unit() * 4.0, None)
        } else {
            if u < err {
                let (code, msg) = pick(&mut w.rng, SERVER_ERRORS)
                    .copied()
                    .unwrap_or((500, "error"));
                let app = w.rng.chance(0.3).then(|| msg.to_string());
                (code, latency, app)
            } else if u < err + client {
                (
                    *pick(&mut w.rng, CLIENT_ERRORS).unwrap_or(&404),
                    latency,
                    None,
                )
            } else {
                (200, latency, None)
            }
        };
        if let Some(s) = stats.get_mut(i) {
            s.record(latency, status >= 500);
        }
        let severity = match status {
            500.. => Severity::Error,
            400..=499 => Severity::Warning,
            _ => Severity::Info,
        };
        if status >= 400 || w.rng.chance(log_sample) {
            let msg = format!("{path} {status} {}ms", latency.round());
            pending.push(log(at, &rev.spec.name, severity, Some(status), msg));
        }
        if let Some(msg) = app {
            pending.push(log(at, &rev.spec.name, Severity::Error, None, msg));
        }
    }

    // Background chatter from serving revisions; startup probe failures from unready ones.
    for (i, r) in w.revs.iter().enumerate() {
        let serving = weights.get(i).copied().unwrap_or(0.0) > 0.0;
        if serving && r.ready && w.rng.chance(1.0 / 40.0) {
            if let Some(msg) = pick(&mut w.rng, CHATTER) {
                let at = start + chrono::Duration::milliseconds(999);
                pending.push(log(
                    at,
                    &r.spec.name,
                    Severity::Info,
                    None,
                    (*msg).to_string(),
                ));
            }
        }
        if !r.ready && k % 20 == 1 {
            let msg = "Default STARTUP TCP probe failed 1 time consecutively for container \
                       \"emergence-1\" on port 8080."
                .to_string();
            pending.push(log(start, &r.spec.name, Severity::Error, None, msg));
        }
    }

    pending.sort_by_key(|p| p.at);
    for p in pending {
        w.logs.push(p.entry);
    }
    for (r, s) in w.revs.iter_mut().zip(&stats) {
        r.requests_total += u64::from(s.requests);
        r.errors_total += u64::from(s.errors);
    }
    let revs = stats
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.requests > 0)
        .collect();
    w.history.push(SecondRecord { at: end, revs });
}
