//! Fixtures shared by the integration tests (snapshots included), the benches
//! and the judge's replay. Deterministic: fixed clock, fixed names.

use chrono::{DateTime, Duration, TimeZone, Utc};

use canary::core::action::Action;
use canary::core::model::{
    LogEntry, MetricKind, MetricsBatch, PlatformInfo, Revision, Series, ServiceSnapshot, Severity,
    TrafficSplit, Version,
};
use canary::core::state::{Settings, State};
use canary::core::update::update;

pub const STABLE: &str = "emergence-app-00042-xuv";
pub const CANARY: &str = "emergence-app-00043-kap";
pub const OLD: &str = "emergence-app-00041-rol";

/// 2026-11-20 10:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
        .single()
        .expect("valid date")
}

pub fn revision(name: &str, tag: Option<&str>, age_min: i64, ready: bool) -> Revision {
    Revision {
        name: name.into(),
        tag: tag.map(Into::into),
        details: Default::default(),
        tag_url: tag.map(|t| format!("https://{t}---emergence-app-x7k2p9-ew.a.run.app")),
        image: format!(
            "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-{}",
            (t0() - Duration::minutes(age_min)).format("%Y%m%d-%H%M%S")
        ),
        created: t0() - Duration::minutes(age_min),
        ready,
        status_message: (!ready).then(|| "Container failed to start on port 8080".into()),
    }
}

/// The demo's shape: stable at 100 %, canary tagged at 0 %, an older revision.
pub fn snapshot() -> ServiceSnapshot {
    ServiceSnapshot {
        service: "emergence-app".into(),
        url: Some("https://emergence-app-x7k2p9-ew.a.run.app".into()),
        revisions: vec![
            revision(CANARY, Some("canary"), 20, true),
            revision(STABLE, None, 3 * 24 * 60, true),
            revision(OLD, None, 9 * 24 * 60, true),
        ],
        traffic: TrafficSplit::all_to(STABLE),
        actual: Some(TrafficSplit::all_to(STABLE)),
        version: Version("etag-1".into()),
        reconciling: false,
        message: None,
        runtime_state_lost: false,
        extra: Default::default(),
        write_api: Default::default(),
    }
}

pub fn info() -> PlatformInfo {
    PlatformInfo {
        kind: "simulator".into(),
        service: "emergence-app".into(),
        location: "demo-project · europe-west1 (simulated)".into(),
    }
}

/// A state that has loaded [`snapshot`] at [`t0`].
pub fn state() -> State {
    state_with(Settings::default())
}

pub fn state_with(settings: Settings) -> State {
    let mut s = State::new(settings, info(), t0());
    update(&mut s, service_loaded(snapshot()), t0());
    s
}

/// Log lines with a mix of severities and revisions, one per second before `t0`.
pub fn logs(n: usize) -> Vec<LogEntry> {
    (0..n)
        .map(|i| {
            let (rev, sev, status) = match i % 10 {
                3 => (CANARY, Severity::Error, Some(503)),
                7 => (STABLE, Severity::Warning, Some(404)),
                5 => (CANARY, Severity::Info, None),
                _ => (STABLE, Severity::Info, Some(200)),
            };
            let message = match status {
                Some(code) => format!("GET /api/items/{i} {code} {}ms", 120 + (i * 37) % 300),
                None => "cache warmup complete".to_string(),
            };
            LogEntry {
                timestamp: t0() - Duration::seconds((n - i) as i64),
                revision: Some(rev.into()),
                severity: sev,
                status,
                message,
            }
        })
        .collect()
}

/// Ten minutes of metrics at 10 s steps ending 10 s before `t0()`; the
/// canary has data for the last 3 minutes.
pub fn metrics() -> MetricsBatch {
    metrics_at(t0() - Duration::seconds(10), 42, 1.5, 5.0)
}

/// Sixty points at 10 s steps, the last at `end`: the stable throughout
/// (45 req/s, 0.2 % 5xx, p95 190 ms), the canary from point `canary_from`
/// with its own error rate and request rate (p95 260 ms); a small wobble.
pub fn metrics_at(
    end: DateTime<Utc>,
    canary_from: usize,
    canary_err: f64,
    canary_rps: f64,
) -> MetricsBatch {
    let mut batch = MetricsBatch::default();
    for (rev, from, rps, err, p95) in [
        (STABLE, 0usize, 45.0, 0.2, 190.0),
        (CANARY, canary_from, canary_rps, canary_err, 260.0),
    ] {
        for kind in MetricKind::ALL {
            let points = (from..60)
                .map(|i| {
                    let t = end - Duration::seconds(590 - 10 * i as i64);
                    let wobble = ((i * 7919) % 13) as f64 / 13.0;
                    let v = match kind {
                        MetricKind::RequestRate => rps * (0.9 + 0.2 * wobble),
                        MetricKind::ErrorPercent => err * (0.5 + wobble),
                        MetricKind::LatencyP95 => p95 * (0.9 + 0.2 * wobble),
                    };
                    (t, v)
                })
                .collect();
            batch
                .series
                .insert((rev.to_string(), kind), Series { points });
        }
    }
    batch
}

/// The service as read: `snapshot`, by a read started before any change landed (generation 0).
pub fn service_loaded(snapshot: ServiceSnapshot) -> Action {
    Action::ServiceLoaded {
        snapshot,
        generation: 0,
    }
}

/// The demo's shape with the canary at 10 % (version `etag-2`).
pub fn busy_snapshot() -> ServiceSnapshot {
    let mut snap = snapshot();
    snap.traffic = TrafficSplit::new([(STABLE, 90), (CANARY, 10)]).expect("valid");
    snap.actual = Some(snap.traffic.clone());
    snap.version = Version("etag-2".into());
    snap
}

/// Loads a service, log lines and metrics into `s` at `t0`.
pub fn load(s: &mut State, snapshot: ServiceSnapshot, logs: Vec<LogEntry>, metrics: MetricsBatch) {
    update(s, service_loaded(snapshot), t0());
    update(s, Action::LogBatch(logs), t0());
    update(s, Action::MetricsLoaded(metrics), t0());
}

/// A busy, realistic state: logs and metrics loaded, canary at 10 %.
pub fn busy_state() -> State {
    busy_state_with(Settings::default())
}

/// [`busy_state`] with other settings.
pub fn busy_state_with(settings: Settings) -> State {
    let mut s = state_with(settings);
    load(&mut s, busy_snapshot(), logs(200), metrics());
    s
}

/// Lands the change in flight as the platform would: the split it asked
/// for, served, at version `etag-after-ID`; returns the effects.
pub fn land(s: &mut State, now: DateTime<Utc>) -> Vec<canary::core::action::Effect> {
    let c = s.change.clone().expect("a change in flight");
    let mut snap = s.snapshot.clone().expect("snapshot");
    snap.traffic = c.split.clone();
    snap.actual = Some(c.split);
    snap.version = Version(format!("etag-after-{}", c.id));
    update(
        s,
        Action::TrafficApplied {
            id: c.id,
            snapshot: snap,
        },
        now,
    )
}

/// A key press as the terminal reports it (Shift for upper case, `+`, `?`).
pub fn key(code: canary::core::key::KeyCode) -> canary::core::action::Action {
    use canary::core::key::{KeyCode, KeyEvent, KeyModifiers};
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() || "+?".contains(c) => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    canary::core::action::Action::Key(KeyEvent::new(code, modifiers))
}

/// A character key press; `'\n'` is Enter and `'\x1b'` is Esc.
pub fn ch(c: char) -> canary::core::action::Action {
    use canary::core::key::KeyCode;
    key(match c {
        '\n' => KeyCode::Enter,
        '\x1b' => KeyCode::Esc,
        c => KeyCode::Char(c),
    })
}
