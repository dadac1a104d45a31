//! What the fake Cloud Run holds: services, revisions, operations, and the
//! lazy clock that finishes operations when their time has come.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tokio::time::Instant;

use super::{Fault, RecordedRequest, RevisionSpec, Route, ServiceRef};
use canary::platform::cloud_run::api::{
    self, Condition, TrafficTarget, TrafficTargetStatus, CONDITION_FAILED, CONDITION_SUCCEEDED,
    SERVICE_TYPE_URL, TYPE_LATEST, TYPE_REVISION,
};

/// How many recorded requests are kept.
const MAX_RECORDED: usize = 10_000;

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Two-letter region code as in `*.a.run.app` host names (`europe-west1` → `ew`).
fn region_code(region: &str) -> String {
    region
        .split('-')
        .filter_map(|p| p.chars().next())
        .take(2)
        .collect()
}

pub struct FakeService {
    pub resource: api::Service,
    /// Newest first.
    pub revisions: Vec<api::Revision>,
    pub host_suffix: String,
    /// Tag URLs as `BASE/TAG` instead of `https://TAG---HOST` (tests point
    /// them at a local server, so checks reach the tagged revision).
    pub tag_url_base: Option<String>,
    /// When the status catches up with a finished operation (status lag),
    /// and for which generation.
    pub settle_at: Option<(Instant, Option<String>)>,
}

impl FakeService {
    pub fn short(&self) -> &str {
        api::last_segment(&self.resource.name)
    }

    pub fn has_revision(&self, name: &str) -> bool {
        self.revisions.iter().any(|r| r.short_name() == name)
    }

    fn latest_ready(&self) -> Option<&str> {
        self.resource
            .latest_ready_revision
            .as_deref()
            .map(api::last_segment)
    }

    pub fn revision_ready(&self, name: &str) -> bool {
        self.revisions
            .iter()
            .find(|r| r.short_name() == name)
            .and_then(|r| r.ready_condition())
            .is_some_and(|c| c.succeeded())
    }

    /// `trafficStatuses` as they are once `traffic` has been applied.
    pub fn statuses_for_traffic(&self) -> Vec<TrafficTargetStatus> {
        let latest = self.latest_ready().map(str::to_owned);
        self.resource
            .traffic
            .iter()
            .map(|t| TrafficTargetStatus {
                kind: t.kind.clone(),
                revision: if t.is_latest() {
                    latest.clone()
                } else {
                    t.revision.clone()
                },
                percent: t.percent.filter(|p| *p != 0),
                tag: t.tag.clone(),
                uri: t.tag.as_ref().map(|tag| match &self.tag_url_base {
                    Some(base) => format!("{base}/{tag}"),
                    None => format!("https://{tag}---{}", self.host_suffix),
                }),
            })
            .collect()
    }

    /// A spec change: new generation and etag.
    pub fn bump(&mut self, now: DateTime<Utc>, who: &str) {
        let generation: i64 = self
            .resource
            .generation
            .as_deref()
            .and_then(|g| g.parse().ok())
            .unwrap_or(0)
            + 1;
        self.resource.generation = Some(generation.to_string());
        let stamp = now.timestamp_nanos_opt().unwrap_or(0) as u64;
        self.resource.etag = Some(format!(
            "\"{:x}{:012x}\"",
            generation,
            stamp.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
        ));
        self.resource.update_time = Some(timestamp(now));
        self.resource.last_modifier = Some(who.into());
    }

    /// The status once the platform has caught up with the spec.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        self.resource.traffic_statuses = self.statuses_for_traffic();
        self.resource.reconciling = false;
        self.resource.observed_generation = self.resource.generation.clone();
        self.resource.terminal_condition = Some(ready_condition(CONDITION_SUCCEEDED, None, now));
    }
}

pub fn ready_condition(state: &str, message: Option<String>, now: DateTime<Utc>) -> Condition {
    Condition {
        kind: "Ready".into(),
        state: Some(state.into()),
        reason: (state == CONDITION_FAILED).then(|| "REVISION_FAILED".into()),
        message,
        last_transition_time: Some(timestamp(now)),
        severity: None,
        revision_reason: None,
    }
}

pub struct FakeOp {
    pub service: String,
    pub generation: Option<String>,
    pub done_at: Instant,
    /// `(code, message)` it ends with, if it fails.
    pub error: Option<(i32, String)>,
    pub resource: api::Operation,
}

pub struct ArmedFault {
    pub route: Route,
    pub fault: Fault,
    pub remaining: usize,
}

#[derive(Default)]
pub struct FakeState {
    pub services: BTreeMap<String, FakeService>,
    pub operations: BTreeMap<String, FakeOp>,
    pub faults: Vec<ArmedFault>,
    pub requests: Vec<RecordedRequest>,
    pub op_delay: Duration,
    /// How long after an operation is done the status still lags behind.
    pub status_lag: Duration,
    /// Errors the next operations end with, in order.
    pub op_errors: Vec<String>,
    pub required_token: Option<String>,
    pub counter: u64,
    /// Cloud Logging entries (`entries:list`).
    pub logs: super::logging::FakeLogs,
    /// Synthetic traffic behind the PromQL answers.
    pub monitoring: super::monitoring::FakeMonitoring,
    /// Revisions being created, deletions.
    pub releases: super::revisions::FakeReleases,
}

impl FakeState {
    pub fn record(&mut self, req: RecordedRequest) {
        if self.requests.len() == MAX_RECORDED {
            self.requests.remove(0);
        }
        self.requests.push(req);
    }

    /// The first armed fault matching `route`, consumed.
    pub fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|f| f.remaining > 0 && (f.route == Route::Any || f.route == route))?;
        let f = &mut self.faults[i];
        f.remaining -= 1;
        let fault = f.fault.clone();
        if f.remaining == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    pub fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Finishes every operation whose time has come, and settles statuses.
    pub fn advance(&mut self, now: Instant) {
        super::revisions::before_operations(self, now);
        let wall = Utc::now();
        let lag = self.status_lag;
        for op in self.operations.values_mut() {
            if op.resource.done || now < op.done_at {
                continue;
            }
            op.resource.done = true;
            let Some(svc) = self.services.get_mut(&op.service) else {
                continue;
            };
            // A newer change supersedes this one: only the latest settles the status.
            let current = svc.resource.generation == op.generation;
            match &op.error {
                Some((code, message)) => {
                    op.resource.error = Some(api::Status {
                        code: *code,
                        message: message.clone(),
                        details: vec![],
                    });
                    if current {
                        svc.resource.reconciling = false;
                        svc.resource.terminal_condition = Some(ready_condition(
                            CONDITION_FAILED,
                            Some(message.clone()),
                            wall,
                        ));
                    }
                }
                None => {
                    if current && lag.is_zero() {
                        svc.settle(wall);
                    } else if current {
                        svc.settle_at = Some((op.done_at + lag, op.generation.clone()));
                    }
                    op.resource.response = Some(with_type(&svc.resource));
                }
            }
        }
        for svc in self.services.values_mut() {
            if let Some((at, generation)) = &svc.settle_at {
                if now >= *at {
                    if *generation == svc.resource.generation {
                        svc.settle(wall);
                    }
                    svc.settle_at = None;
                }
            }
        }
        super::revisions::after_operations(self);
    }

    pub fn add_service(
        &mut self,
        at: &ServiceRef,
        revisions: &[RevisionSpec],
        traffic: Vec<TrafficTarget>,
    ) {
        let now = Utc::now();
        let name = at.name();
        let host_suffix = format!(
            "{}-x7k2p9-{}.a.run.app",
            at.service,
            region_code(&at.region)
        );
        let oldest = revisions.iter().map(|r| r.age).max().unwrap_or_default();
        let created = now - chrono::Duration::from_std(oldest).unwrap_or_default();
        let mut svc = FakeService {
            resource: api::Service {
                name: name.clone(),
                uid: Some(format!(
                    "{:08x}-fake-{:04x}",
                    self.next_id(),
                    at.service.len()
                )),
                create_time: Some(timestamp(created)),
                creator: Some("deployer@example.com".into()),
                ingress: Some("INGRESS_TRAFFIC_ALL".into()),
                launch_stage: Some("GA".into()),
                uri: Some(format!("https://{host_suffix}")),
                traffic,
                ..Default::default()
            },
            revisions: Vec::new(),
            host_suffix,
            tag_url_base: None,
            settle_at: None,
        };
        for spec in revisions {
            push_revision(&mut svc, at, spec, now);
        }
        svc.bump(now, "deployer@example.com");
        svc.settle(now);
        self.services.insert(name, svc);
    }
}

/// Adds a revision (keeping newest first) and updates `latest*Revision`.
pub fn push_revision(
    svc: &mut FakeService,
    at: &ServiceRef,
    spec: &RevisionSpec,
    now: DateTime<Utc>,
) {
    let created = now - chrono::Duration::from_std(spec.age).unwrap_or_default();
    let full = format!("{}/revisions/{}", at.name(), spec.name);
    let condition = if spec.ready {
        ready_condition(CONDITION_SUCCEEDED, None, created)
    } else {
        ready_condition(
            CONDITION_FAILED,
            Some(spec.message.clone().unwrap_or_else(|| {
                "The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.".into()
            })),
            created,
        )
    };
    let rev = api::Revision {
        name: full.clone(),
        uid: Some(format!("rev-{:x}", spec.name.len() as u64 * 7919 + svc.revisions.len() as u64)),
        generation: Some("1".into()),
        create_time: Some(timestamp(created)),
        update_time: Some(timestamp(created)),
        launch_stage: Some("GA".into()),
        service: Some(at.service.clone()),
        containers: vec![super::revisions::container(&spec.image)],
        max_instance_request_concurrency: Some(80),
        scaling: super::revisions::scaling(),
        execution_environment: Some("EXECUTION_ENVIRONMENT_GEN2".into()),
        conditions: vec![condition],
        observed_generation: Some("1".into()),
        log_uri: Some(format!(
            "https://console.cloud.google.com/logs/viewer?project={}&resource=cloud_run_revision/service_name/{}/revision_name/{}",
            at.project, at.service, spec.name
        )),
        reconciling: false,
        etag: Some(format!("\"rev-{}\"", spec.name)),
    };
    let pos = svc
        .revisions
        .iter()
        .position(|r| r.create_time < rev.create_time)
        .unwrap_or(svc.revisions.len());
    svc.revisions.insert(pos, rev);
    let newest = |ready_only: bool| {
        svc.revisions
            .iter()
            .find(|r| !ready_only || r.ready_condition().is_some_and(|c| c.succeeded()))
            .map(|r| r.name.clone())
    };
    svc.resource.latest_created_revision = newest(false);
    svc.resource.latest_ready_revision = newest(true);
    if svc.resource.template.is_none() || pos == 0 {
        svc.resource.template = Some(super::revisions::template(&spec.image));
    }
}

/// A service as JSON with its `@type`, as in an operation's metadata/response.
pub fn with_type(service: &api::Service) -> Value {
    let mut v = serde_json::to_value(service).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("@type".into(), Value::String(SERVICE_TYPE_URL.into()));
    }
    v
}

/// Fills in `type` the way the API does: a target naming a revision is a
/// REVISION target, one naming none follows LATEST. Zero percents are omitted.
pub fn normalise(targets: Vec<TrafficTarget>) -> Vec<TrafficTarget> {
    targets
        .into_iter()
        .map(|mut t| {
            let unspecified = matches!(
                t.kind.as_deref(),
                None | Some("TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED")
            );
            if unspecified {
                t.kind = Some(if t.revision.as_deref().is_some_and(|r| !r.is_empty()) {
                    TYPE_REVISION.into()
                } else {
                    TYPE_LATEST.into()
                });
            }
            t.percent = t.percent.filter(|p| *p != 0);
            t.tag = t.tag.filter(|s| !s.is_empty());
            t
        })
        .collect()
}
