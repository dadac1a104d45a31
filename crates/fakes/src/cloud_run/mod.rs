//! A fake Cloud Run Admin API v2 on `127.0.0.1:0`, for tests, benches and demos.
//!
//! It is a real HTTP/1.1 server speaking the documented JSON protocol (paths,
//! field names, proto3 defaults omitted, `{"error":{…}}` bodies, long-running
//! operations), holding state: services, revisions (conditions, createTime,
//! containers), `traffic` and `trafficStatuses`, an etag that changes on every
//! spec change, and operations that finish after a configurable delay (or in
//! error). PATCH bodies are validated like the real API's (field mask, known
//! fields, etag, revisions exist, percents sum to 100, tags unique), and faults
//! can be injected (status codes, 429 with Retry-After, malformed JSON, delays,
//! a concurrent change). Every field it emits is checked against the discovery
//! document by the contract tests (`tests/backends/contracts.rs`).
//!
//! The same server also answers Cloud Logging's `POST v2/entries:list` over
//! entries that tests append ([`FakeCloudRun::append_log`], late ones
//! included), with the filter subset the cockpit sends, `orderBy` and
//! cursor page tokens: point a [`canary::logs::cloud_logging::CloudLogging`]
//! at the same base URL.
//!
//! And Cloud Monitoring's Prometheus API (`GET|POST v1/projects/P/location/
//! global/prometheus/api/v1/query_range` and `/query`) for the three queries
//! the cockpit sends for Cloud Run, answered from synthetic traffic that
//! follows the served split ([`FakeCloudRun::set_request_rate`],
//! [`FakeCloudRun::set_revision_behaviour`]): point `monitoring_endpoint` at
//! `BASE/v1/projects/P/location/global/prometheus`.
//!
//! It lives in the dev-only `canary-fakes` crate (not under `tests/`) so that
//! integration tests, the benches and their helpers (`scripts/bench.sh`) and
//! end-to-end tests of the binary can all start it; the cockpit itself never
//! links it.

mod logging;
mod monitoring;
mod patch;
mod revisions;
mod server;
mod state;
mod v1;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;

use canary::platform::cloud_run::api::{self, TrafficTarget, TYPE_REVISION};
use server::{lock, SharedState};
use state::{push_revision, FakeState};

pub use logging::FakeLogEntry;
pub use monitoring::RevisionBehaviour;
pub use patch::ApiError;

/// The demo service's revisions (as in the simulator's scenarios).
pub const DEMO_OLD: &str = "emergence-app-00041-mop";
pub const DEMO_STABLE: &str = "emergence-app-00042-xuv";
pub const DEMO_CANARY: &str = "emergence-app-00043-kaw";

/// Which service: project, region (location), short name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub project: String,
    pub region: String,
    pub service: String,
}

impl ServiceRef {
    pub fn new(
        project: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> ServiceRef {
        ServiceRef {
            project: project.into(),
            region: region.into(),
            service: service.into(),
        }
    }

    /// `emergence-app` in `emergence-469005`, `europe-west1`.
    pub fn demo() -> ServiceRef {
        ServiceRef::new("emergence-469005", "europe-west1", "emergence-app")
    }

    /// `projects/P/locations/L/services/S`.
    pub fn name(&self) -> String {
        format!(
            "projects/{}/locations/{}/services/{}",
            self.project, self.region, self.service
        )
    }
}

/// A revision to seed.
#[derive(Clone, Debug)]
pub struct RevisionSpec {
    /// Short name, `SERVICE-00042-xuv`.
    pub name: String,
    pub image: String,
    /// How long ago it was created.
    pub age: Duration,
    pub ready: bool,
    /// The Ready condition's message when not ready.
    pub message: Option<String>,
}

impl RevisionSpec {
    pub fn new(name: impl Into<String>, image: impl Into<String>, age: Duration) -> RevisionSpec {
        RevisionSpec {
            name: name.into(),
            image: image.into(),
            age,
            ready: true,
            message: None,
        }
    }

    /// A revision whose Ready condition failed with `message`.
    pub fn unready(mut self, message: impl Into<String>) -> RevisionSpec {
        self.ready = false;
        self.message = Some(message.into());
        self
    }
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Any,
    GetService,
    PatchService,
    ListRevisions,
    GetOperation,
    /// `GET …/services/S/revisions/R`.
    GetRevision,
    /// `DELETE …/services/S/revisions/R`.
    DeleteRevision,
    /// v1 (Knative): `GET apis/serving.knative.dev/v1/namespaces/P/revisions`.
    V1ListRevisions,
    /// Cloud Logging `POST v2/entries:list`.
    ListLogEntries,
    /// Cloud Logging `POST v2/entries:write`.
    WriteLogEntries,
    /// Cloud Monitoring's Prometheus API, `…/prometheus/api/v1/query_range`.
    PromQueryRange,
    /// Cloud Monitoring's Prometheus API, `…/prometheus/api/v1/query`.
    PromQuery,
    /// Anything else (answered 404).
    Unknown,
}

/// Something to go wrong with the next matching request(s).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this HTTP status and a Google error body (canonical status
    /// for the code: 403 PERMISSION_DENIED, 500 INTERNAL, 503 UNAVAILABLE, …).
    Status(u16),
    /// 429 RESOURCE_EXHAUSTED with `Retry-After: SECS`.
    RateLimited { retry_after_secs: u64 },
    /// 200 with a truncated JSON body.
    MalformedJson,
    /// 200 with a body that is not JSON at all (an HTML error page).
    Garbage,
    /// 200 with a 10 MB body.
    Oversize,
    /// Close the connection without an answer; nothing is done.
    Close,
    /// Never answer (an hour); nothing is done.
    Hang,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Do the request (a PATCH is applied), then answer with this fault
    /// instead of the real answer: an outcome the client cannot see.
    AfterApply(Box<Fault>),
    /// Someone else sets this traffic (new etag) just before the request is
    /// handled: with a PATCH, it provokes a 409 ABORTED etag mismatch.
    ConcurrentChange(Vec<TrafficTarget>),
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string.
    pub query: String,
    pub body: String,
    pub authorization: Option<String>,
    pub route: Route,
    /// When the whole request (headers and body) had arrived: latency benches
    /// compare it with the moment a key was pressed.
    pub received: std::time::Instant,
}

/// A `traffic[]` entry pinned to a revision.
pub fn to_revision(revision: &str, percent: i32, tag: Option<&str>) -> TrafficTarget {
    TrafficTarget {
        kind: Some(TYPE_REVISION.into()),
        revision: Some(revision.into()),
        percent: Some(percent),
        tag: tag.map(Into::into),
    }
}

/// A `traffic[]` entry that follows the latest ready revision.
pub fn to_latest(percent: i32, tag: Option<&str>) -> TrafficTarget {
    TrafficTarget {
        kind: Some(api::TYPE_LATEST.into()),
        revision: None,
        percent: Some(percent),
        tag: tag.map(Into::into),
    }
}

/// Changes a service's traffic at once (target and status), as another user would.
fn change_traffic_locked(
    st: &mut FakeState,
    name: &str,
    traffic: Vec<TrafficTarget>,
) -> Result<(), String> {
    let svc = st
        .services
        .get_mut(name)
        .ok_or_else(|| format!("no service {name}"))?;
    let now = Utc::now();
    svc.resource.traffic = traffic;
    svc.bump(now, "someone-else@example.com");
    svc.settle(now);
    svc.settle_at = None;
    Ok(())
}

/// A running fake. Dropping it stops the server.
pub struct FakeCloudRun {
    state: SharedState,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for FakeCloudRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloudRun")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeCloudRun {
    /// Starts an empty fake on `127.0.0.1:0`; returns it and its base URL
    /// (`http://127.0.0.1:PORT`, the `endpoint` for [`super::CloudRunSettings`]).
    pub async fn start() -> std::io::Result<(FakeCloudRun, String)> {
        FakeCloudRun::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts an empty fake on `addr` (a fixed port for scripts). Needs a tokio runtime.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<(FakeCloudRun, String)> {
        let listener = server::bind(addr)?;
        let addr = listener.local_addr()?;
        let state: SharedState = Arc::new(Mutex::new(FakeState::default()));
        let handle = server::serve(listener, Arc::clone(&state));
        let fake = FakeCloudRun {
            state,
            addr,
            server: Mutex::new(Some(handle)),
        };
        let url = fake.base_url();
        Ok((fake, url))
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// Stops listening and drops every open connection; the state is kept.
    pub fn stop(&self) {
        let mut server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = server.take() {
            h.abort();
        }
    }

    /// Listens again on the same port, with the same state.
    pub fn restart(&self) -> std::io::Result<()> {
        self.stop();
        let listener = server::bind(self.addr)?;
        let handle = server::serve(listener, Arc::clone(&self.state));
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    /// Seeds the demo: `emergence-app` with three ready revisions, the stable
    /// one at 100 %, the newest tagged `canary` at 0 %.
    pub fn seed_demo(&self) -> ServiceRef {
        let at = ServiceRef::demo();
        let image = |d: &str| {
            format!("europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-{d}")
        };
        let day = 24 * 3600;
        self.add_service(
            &at,
            &[
                RevisionSpec::new(
                    DEMO_OLD,
                    image("20261111-091200"),
                    Duration::from_secs(9 * day),
                ),
                RevisionSpec::new(
                    DEMO_STABLE,
                    image("20261117-143000"),
                    Duration::from_secs(3 * day),
                ),
                RevisionSpec::new(
                    DEMO_CANARY,
                    image("20261120-101500"),
                    Duration::from_secs(20 * 60),
                ),
            ],
            vec![
                to_revision(DEMO_STABLE, 100, None),
                to_revision(DEMO_CANARY, 0, Some("canary")),
            ],
        );
        at
    }

    /// Adds (or replaces) a service with these revisions and this traffic,
    /// already settled (`trafficStatuses` match, not reconciling).
    pub fn add_service(
        &self,
        at: &ServiceRef,
        revisions: &[RevisionSpec],
        traffic: Vec<TrafficTarget>,
    ) {
        self.state()
            .add_service(at, revisions, state::normalise(traffic));
    }

    /// Adds a revision to an existing service (no traffic change).
    pub fn add_revision(&self, at: &ServiceRef, spec: &RevisionSpec) -> Result<(), String> {
        let mut st = self.state();
        let svc = st
            .services
            .get_mut(&at.name())
            .ok_or_else(|| format!("no service {}", at.name()))?;
        push_revision(svc, at, spec, Utc::now());
        Ok(())
    }

    /// Someone else changes the traffic: target and status at once, new etag.
    pub fn change_traffic(
        &self,
        at: &ServiceRef,
        traffic: Vec<TrafficTarget>,
    ) -> Result<(), String> {
        change_traffic_locked(&mut self.state(), &at.name(), state::normalise(traffic))
    }

    /// How long operations take before `done` (default 0: done at once).
    pub fn set_operation_delay(&self, delay: Duration) {
        self.state().op_delay = delay;
    }

    /// After an operation is done, the service keeps reconciling (old
    /// `trafficStatuses`) for this long (default 0).
    pub fn set_status_lag(&self, lag: Duration) {
        self.state().status_lag = lag;
    }

    /// The next operation ends with this error (code 2 UNKNOWN).
    pub fn fail_next_operation(&self, message: impl Into<String>) {
        self.state().op_errors.push(message.into());
    }

    /// The next `times` requests matching `route` get `fault`.
    pub fn inject(&self, route: Route, fault: Fault, times: usize) {
        self.state().faults.push(state::ArmedFault {
            route,
            fault,
            remaining: times,
        });
    }

    /// Disarms every fault not yet used up.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Forgets every operation, as a server that restarted would: polls get
    /// 404. The changes they carried land (the service settles) all the same.
    pub fn forget_operations(&self) {
        let mut st = self.state();
        st.advance(tokio::time::Instant::now() + Duration::from_secs(86_400));
        st.operations.clear();
    }

    /// Requires `Authorization: Bearer TOKEN` (401 otherwise); `None` accepts anything.
    pub fn require_token(&self, token: Option<&str>) {
        self.state().required_token = token.map(str::to_owned);
    }

    /// Every request received so far (the last 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// The service as the fake holds it now (operations due are finished first).
    pub fn service(&self, at: &ServiceRef) -> Option<api::Service> {
        let mut st = self.state();
        st.advance(tokio::time::Instant::now());
        st.services.get(&at.name()).map(|s| s.resource.clone())
    }

    /// Appends a Cloud Logging entry (its `timestamp` may be in the past: a
    /// late entry); fills `insertId`, `timestamp` and `receiveTimestamp` when
    /// missing. Returns the insertId.
    pub fn append_log(&self, entry: FakeLogEntry) -> String {
        self.state().logs.append(entry)
    }

    /// Appends several entries; returns their insertIds.
    pub fn append_logs(&self, entries: impl IntoIterator<Item = FakeLogEntry>) -> Vec<String> {
        let mut st = self.state();
        entries.into_iter().map(|e| st.logs.append(e)).collect()
    }

    /// `entries:list` looks at most at `limit` stored entries per call, then
    /// answers what it found (maybe nothing) with a page token.
    pub fn set_log_scan_limit(&self, limit: Option<usize>) {
        self.state().logs.scan_limit = limit;
    }

    /// The whole service's synthetic request rate (requests/s, default 50),
    /// spread over the revisions by their served percent.
    pub fn set_request_rate(&self, per_second: f64) {
        self.state().monitoring.request_rate = per_second;
    }

    /// How far behind Cloud Monitoring's newest sample is (the answer of
    /// `max(timestamp(…))`: now minus this), default 0.
    pub fn set_sample_lag(&self, secs: f64) {
        self.state().monitoring.sample_lag_secs = secs;
    }

    /// How `revision` (short name) behaves in the PromQL answers: its 5xx
    /// share in percent and its p95 latency in ms (default 0 % and 120 ms).
    pub fn set_revision_behaviour(&self, revision: &str, error_percent: f64, p95_ms: f64) {
        self.state().monitoring.behaviour.insert(
            revision.to_string(),
            RevisionBehaviour {
                error_percent,
                p95_ms,
            },
        );
    }

    /// How every revision created by a deploy from now on behaves in the
    /// PromQL answers (a bad image: `set_deployed_behaviour(6.0, 150.0)`).
    pub fn set_deployed_behaviour(&self, error_percent: f64, p95_ms: f64) {
        self.state().monitoring.deployed = Some(RevisionBehaviour {
            error_percent,
            p95_ms,
        });
    }

    /// The URL to configure as `[cloud_run] monitoring_endpoint` for `project`.
    pub fn monitoring_endpoint(&self, project: &str) -> String {
        format!(
            "{}/v1/projects/{project}/location/global/prometheus",
            self.base_url()
        )
    }

    /// How many log entries the fake holds.
    pub fn log_count(&self) -> usize {
        self.state().logs.entries.len()
    }

    /// Names of the operations started so far.
    pub fn operations(&self) -> Vec<String> {
        self.state().operations.keys().cloned().collect()
    }
}

impl Drop for FakeCloudRun {
    fn drop(&mut self) {
        self.stop();
    }
}
