//! The fault table, measured: the scripting path (`cli::set`, journaled)
//! through the real Cloud Run client against the fake on loopback, one call
//! type failing at a time (the service read, the revisions list, the PATCH,
//! the operation poll) with 503 / 429 / 500, a PATCH applied then answered
//! badly, truncated, garbage and 10 MB bodies, hangs and closed connections.
//! After every case, and after random sequences of faults, every
//! `traffic-requested` has exactly one outcome record and the last outcome's
//! split is what the platform serves. Run with `--nocapture` for the table.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use canary::cli::{self, CliOptions, Context};
use canary::core::error::BackendError;
use canary::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
use canary::google::Auth;
use canary::journal::{self, Event, Journal, Outcome};
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::Platform;
use canary_fakes::cloud_run::{
    to_revision, FakeCloudRun, Fault, Route, ServiceRef, DEMO_CANARY, DEMO_STABLE,
};

/// The Cloud Run client, with faults armed on the fake the moment a change
/// is sent (so that the reads before it are spared).
struct Chaos {
    cr: CloudRun,
    fake: Arc<FakeCloudRun>,
    during_write: Mutex<Vec<(Route, Fault, usize)>>,
}

#[async_trait]
impl Platform for Chaos {
    fn info(&self) -> PlatformInfo {
        self.cr.info()
    }
    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        self.cr.snapshot().await
    }
    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        let armed: Vec<_> = self.during_write.lock().unwrap().drain(..).collect();
        for (route, fault, times) in armed {
            self.fake.inject(route, fault, times);
        }
        self.cr.set_traffic(split, expect).await
    }
}

fn settings(url: &str, at: &ServiceRef) -> CloudRunSettings {
    let mut s = super::cloud_run::settings(url, at);
    s.operation_timeout = Duration::from_secs(3);
    s.request_timeout = Duration::from_millis(500);
    s.read_timeout = Duration::from_millis(500);
    s.retry.budget = Duration::from_secs(3);
    s
}

async fn chaos() -> (Arc<FakeCloudRun>, Chaos, ServiceRef) {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let fake = Arc::new(fake);
    let at = fake.seed_demo();
    fake.set_operation_delay(Duration::from_millis(60));
    let cr = CloudRun::new(settings(&url, &at)).unwrap();
    let chaos = Chaos {
        cr,
        fake: Arc::clone(&fake),
        during_write: Mutex::new(Vec::new()),
    };
    (fake, chaos, at)
}

/// What the fake serves, read without faults.
async fn served(fake: &FakeCloudRun, at: &ServiceRef) -> TrafficSplit {
    fake.clear_faults();
    let clean = CloudRun::new(settings(&fake.base_url(), at)).unwrap();
    clean.snapshot().await.unwrap().traffic
}

/// Every request paired with exactly one outcome; the last outcome's split
/// (None: an unknown outcome without a read-back). Returns it and the last
/// outcome's name.
fn audit(path: &std::path::Path) -> (Option<TrafficSplit>, String) {
    let replay = journal::replay(path).unwrap();
    assert!(replay.skipped.is_empty(), "{:?}", replay.skipped);
    assert!(replay.unresolved().is_empty(), "a request without outcome");
    let mut last = None;
    let mut ids = Vec::new();
    for r in &replay.records {
        let (id, split, name) = match &r.event {
            Event::TrafficRequested { id, .. } => {
                assert!(!ids.contains(id), "id {id} reused");
                ids.push(*id);
                continue;
            }
            Event::TrafficApplied { id, after, .. } => (id, Some(after.clone()), "applied"),
            Event::TrafficFailed { id, before, .. } => (id, Some(before.clone()), "failed"),
            Event::TrafficReconciled {
                id,
                outcome,
                before,
                after,
                read_back,
                ..
            } => {
                let split = match outcome {
                    Outcome::Applied => Some(after.clone()),
                    Outcome::NotApplied => Some(before.clone()),
                    Outcome::Unknown => read_back.clone(),
                };
                (id, split, "unknown")
            }
            _ => continue,
        };
        let outcomes = replay
            .records
            .iter()
            .filter(|o| {
                matches!(&o.event,
                    Event::TrafficApplied { id: i, .. }
                    | Event::TrafficFailed { id: i, .. }
                    | Event::TrafficReconciled { id: i, .. } if i == id)
            })
            .count();
        assert_eq!(outcomes, 1, "request {id}: {outcomes} outcomes");
        last = Some((split, name.to_string()));
    }
    last.expect("an outcome")
}

#[derive(Clone)]
struct Case {
    name: String,
    /// Armed before the command: it meets the first reads.
    before: Vec<(Route, Fault, usize)>,
    /// Armed when the change is sent.
    during: Vec<(Route, Fault, usize)>,
    expect: &'static str,
}

fn case(
    name: &str,
    before: Vec<(Route, Fault, usize)>,
    during: Vec<(Route, Fault, usize)>,
    expect: &'static str,
) -> Case {
    Case {
        name: name.into(),
        before,
        during,
        expect,
    }
}

fn bodies() -> Vec<(&'static str, Fault)> {
    vec![
        ("503", Fault::Status(503)),
        (
            "429",
            Fault::RateLimited {
                retry_after_secs: 0,
            },
        ),
        ("500", Fault::Status(500)),
        ("truncated", Fault::MalformedJson),
        ("garbage", Fault::Garbage),
        ("10 MB", Fault::Oversize),
        ("hang", Fault::Hang),
        ("close", Fault::Close),
    ]
}

fn table() -> Vec<Case> {
    let mut out = Vec::new();
    for (name, f) in bodies() {
        let times = if matches!(f, Fault::Hang) { 1 } else { 2 };
        for route in [Route::GetService, Route::ListRevisions] {
            out.push(case(
                &format!("read {route:?}: {name} x{times}"),
                vec![(route, f.clone(), times)],
                vec![],
                "applied",
            ));
        }
        out.push(case(
            &format!("write: {name} x{times} (not applied)"),
            vec![],
            vec![(Route::PatchService, f.clone(), times)],
            "applied",
        ));
        out.push(case(
            &format!("write: applied, then {name}"),
            vec![],
            vec![(
                Route::PatchService,
                Fault::AfterApply(Box::new(f.clone())),
                1,
            )],
            "applied",
        ));
        out.push(case(
            &format!("operation poll: {name} x{times}"),
            vec![],
            vec![(Route::GetOperation, f, times)],
            "applied",
        ));
    }
    out.push(case(
        "write: 503 on every try",
        vec![],
        vec![(Route::PatchService, Fault::Status(503), 100)],
        "failed",
    ));
    out.push(case(
        "write: applied then 503, every re-read 503",
        vec![],
        vec![
            (
                Route::PatchService,
                Fault::AfterApply(Box::new(Fault::Status(503))),
                1,
            ),
            (Route::GetService, Fault::Status(503), 1000),
        ],
        "unknown",
    ));
    out.push(case(
        "write: applied then close, someone else changes it before the re-read",
        vec![],
        vec![
            (
                Route::PatchService,
                Fault::AfterApply(Box::new(Fault::Close)),
                1,
            ),
            (
                Route::GetService,
                Fault::ConcurrentChange(vec![to_revision(DEMO_CANARY, 100, Some("canary"))]),
                1,
            ),
        ],
        "unknown",
    ));
    out.push(case(
        "operation lost (404 on every poll)",
        vec![],
        vec![(Route::GetOperation, Fault::Status(404), 1000)],
        "applied",
    ));
    out
}

async fn run_case(c: &Case) -> (String, usize, String) {
    let (fake, chaos, at) = chaos().await;
    for (route, fault, times) in &c.before {
        fake.inject(*route, fault.clone(), *times);
    }
    *chaos.during_write.lock().unwrap() = c.during.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emergence-app.jsonl");
    let mut j = Journal::open(&path).unwrap();
    let mut ctx = Context::new(CliOptions::default(), Some(&mut j));
    let started = std::time::Instant::now();
    let result = cli::set(&chaos, &["canary=10".to_string()], true, &mut ctx).await;
    let took = started.elapsed();
    let route = c
        .during
        .first()
        .or(c.before.first())
        .map(|f| f.0)
        .unwrap_or(Route::Any);
    let tries = fake.requests().iter().filter(|r| r.route == route).count();
    let (split, outcome) = audit(&path);
    assert_eq!(outcome, c.expect, "{}: {result:?}", c.name);
    assert_eq!(
        result.is_ok(),
        c.expect == "applied",
        "{}: {result:?}",
        c.name
    );
    let platform = served(&fake, &at).await;
    match split {
        Some(s) => assert_eq!(
            s, platform,
            "{}: the journal's last split is the platform's",
            c.name
        ),
        None => assert_eq!(c.expect, "unknown", "{}", c.name),
    }
    if let Err(e) = &result {
        let text = e.to_string();
        assert!(
            !text.contains("check the service, project and region"),
            "{text}"
        );
        if c.expect == "unknown" {
            assert!(text.contains("not known whether"), "{text}");
        } else {
            assert!(text.contains("not applied"), "{text}");
        }
    }
    assert!(took < Duration::from_secs(10), "{}: {took:?}", c.name);
    (
        c.name.clone(),
        tries,
        format!(
            "{outcome} ({})",
            if result.is_ok() { "exit 0" } else { "exit 1" }
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_table() {
    let mut rows = Vec::new();
    for c in table() {
        rows.push(run_case(&c).await);
    }
    println!("| case | tries on that call | outcome |\n|---|---|---|");
    for (name, tries, outcome) in rows {
        println!("| {name} | {tries} | {outcome} |");
    }
}

/// A small deterministic generator (xorshift), so a failing run repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_any_sequence_of_faults_the_journal_agrees_with_the_platform() {
    let routes = [
        Route::GetService,
        Route::ListRevisions,
        Route::PatchService,
        Route::GetOperation,
    ];
    let faults = bodies();
    let asks = ["canary=10", "canary=25", "canary=0", "canary=50"];
    for seed in 1..=6u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (fake, chaos, at) = chaos().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emergence-app.jsonl");
        for step in 0..5 {
            let mut during = Vec::new();
            for _ in 0..1 + rng.next(2) {
                let route = routes[rng.next(routes.len())];
                let (_, f) = faults[rng.next(faults.len())].clone();
                let f = if rng.next(3) == 0 && route == Route::PatchService {
                    Fault::AfterApply(Box::new(f))
                } else {
                    f
                };
                during.push((route, f, 1 + rng.next(2)));
            }
            *chaos.during_write.lock().unwrap() = during.clone();
            let mut j = Journal::open(&path).unwrap();
            let mut ctx = Context::new(CliOptions::default(), Some(&mut j));
            let ask = asks[rng.next(asks.len())].to_string();
            let result = cli::set(&chaos, std::slice::from_ref(&ask), true, &mut ctx).await;
            let replay = journal::replay(&path).unwrap();
            if replay.records.is_empty() {
                continue; // nothing to change yet (the split already was it)
            }
            let (split, outcome) = audit(&path);
            let platform = served(&fake, &at).await;
            if let Some(s) = split {
                assert_eq!(
                    s, platform,
                    "seed {seed} step {step}: {ask} with {during:?}: {outcome}, {result:?}"
                );
            }
        }
        let _ = DEMO_STABLE;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_tail_rides_out_every_fault_without_a_gap_or_a_duplicate() {
    use canary::core::model::Severity;
    use canary::logs::cloud_logging::{CloudLogging, CloudLoggingSettings, RateLimiter};
    use canary::logs::LogSource;
    use canary_fakes::cloud_run::FakeLogEntry;
    let mut rows = Vec::new();
    for (name, fault) in bodies() {
        let (fake, url) = FakeCloudRun::start().await.unwrap();
        let at = fake.seed_demo();
        let mut s =
            CloudLoggingSettings::new(&at.project, &at.service, Auth::None).with_endpoint(&url);
        s.request_timeout = Duration::from_millis(500);
        s.limiter = RateLimiter::per_minute(10_000);
        let mut src = CloudLogging::new(s).unwrap();
        let at_secs = |n: i64| chrono::Utc::now() - chrono::Duration::seconds(n);
        fake.append_log(
            FakeLogEntry::text(&at, DEMO_STABLE, Severity::Info, "one").at(at_secs(20)),
        );
        fake.append_log(
            FakeLogEntry::text(&at, DEMO_STABLE, Severity::Info, "two").at(at_secs(10)),
        );
        fake.inject(Route::ListLogEntries, fault, 1);
        let mut seen = Vec::new();
        let mut failures = 0;
        for _ in 0..5 {
            match src.poll().await {
                Ok(batch) => seen.extend(batch.into_iter().map(|e| e.message)),
                Err(e) => {
                    failures += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
            if seen.len() >= 2 {
                break;
            }
        }
        fake.append_log(
            FakeLogEntry::text(&at, DEMO_STABLE, Severity::Info, "three").at(at_secs(1)),
        );
        seen.extend(src.poll().await.unwrap().into_iter().map(|e| e.message));
        assert_eq!(seen, ["one", "two", "three"], "{name}");
        rows.push(format!(
            "| logs: {name} x1 | {} | no gap, no duplicate ({failures} failed poll) |",
            fake.requests()
                .iter()
                .filter(|r| r.route == Route::ListLogEntries)
                .count()
        ));
    }
    println!("{}", rows.join("\n"));
}
