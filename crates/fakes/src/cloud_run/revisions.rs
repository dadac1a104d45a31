//! The fake's revisions beyond traffic: a template update
//! (`PATCH …?updateMask=template,traffic`) creates a revision whose
//! conditions progress with time (image import, container healthy, ready),
//! or fail the way Cloud Run's do, chosen by the image's name:
//!
//! | image contains | what happens |
//! |---|---|
//! | `bad-pull` | the import fails: `CONTAINER_MISSING`, "Image '…' not found." |
//! | `no-listen` | the container never listens on its port (health check fails) |
//! | `slow-import` | the import times out (`PROGRESS_DEADLINE_EXCEEDED`) |
//!
//! `GET …/revisions/R` reads one revision, `DELETE …/revisions/R` deletes
//! one, refused (400 FAILED_PRECONDITION) while it is named in the traffic
//! or still being created, like the real API. Seeded revisions carry an
//! environment (one secret reference), limits, a port and scaling.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::time::Instant;

use super::patch::{check_etag, not_found, operation_name, service_object, unknown_name, ApiError};
use super::state::{normalise, ready_condition, timestamp, with_type, FakeOp, FakeState};
use super::FakeCloudRun;
use canary::platform::cloud_run::api::{
    self, Condition, Container, RevisionTemplate, CONDITION_FAILED, CONDITION_PENDING,
    CONDITION_RECONCILING, CONDITION_SUCCEEDED,
};

const TEMPLATE_FIELDS: &[&str] = &[
    "annotations",
    "containers",
    "encryptionKey",
    "executionEnvironment",
    "healthCheckDisabled",
    "labels",
    "maxInstanceRequestConcurrency",
    "nodeSelector",
    "revision",
    "scaling",
    "serviceAccount",
    "sessionAffinity",
    "timeout",
    "volumes",
    "vpcAccess",
];

const CONTAINER_FIELDS: &[&str] = &[
    "args",
    "command",
    "dependsOn",
    "env",
    "image",
    "livenessProbe",
    "name",
    "ports",
    "resources",
    "startupProbe",
    "volumeMounts",
    "workingDir",
];

/// How a revision being created ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ready,
    BadPull,
    NoListen,
    SlowImport,
}

impl Outcome {
    fn of(image: &str) -> Outcome {
        if image.contains("bad-pull") {
            Outcome::BadPull
        } else if image.contains("no-listen") {
            Outcome::NoListen
        } else if image.contains("slow-import") {
            Outcome::SlowImport
        } else {
            Outcome::Ready
        }
    }

    /// After how many steps it is over.
    fn steps(self) -> u32 {
        match self {
            Outcome::BadPull => 1,
            Outcome::NoListen => 2,
            Outcome::Ready => 3,
            Outcome::SlowImport => 4,
        }
    }
}

struct Creating {
    service: String,
    revision: String,
    image: String,
    started: Instant,
    outcome: Outcome,
    port: i32,
}

/// What the fake keeps about revisions being created and deleted.
pub struct FakeReleases {
    creating: Vec<Creating>,
    /// How long each of a new revision's conditions takes.
    pub step: Duration,
    /// Delete operations: their answer is the deleted revision.
    deleted: BTreeMap<String, Value>,
    /// Revision names ever used (a name is never used twice).
    used: Vec<String>,
}

impl Default for FakeReleases {
    fn default() -> Self {
        FakeReleases {
            creating: Vec::new(),
            step: Duration::from_millis(200),
            deleted: BTreeMap::new(),
            used: Vec::new(),
        }
    }
}

/// The seeded revisions' container: the image, port 8080, a plain variable
/// and a secret reference, limits.
pub fn container(image: &str) -> Container {
    serde_json::from_value(serde_json::json!({
        "name": "app",
        "image": image,
        "ports": [{"name": "http1", "containerPort": 8080}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "DB_PASSWORD", "valueSource": {"secretKeyRef": {"secret": "db-password", "version": "latest"}}}
        ],
        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": true},
        "startupProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 240, "periodSeconds": 240, "failureThreshold": 1}
    }))
    .unwrap_or_default()
}

pub fn scaling() -> Option<api::RevisionScaling> {
    Some(api::RevisionScaling {
        min_instance_count: None,
        max_instance_count: Some(10),
    })
}

/// The service's template for `image`.
pub fn template(image: &str) -> RevisionTemplate {
    RevisionTemplate {
        containers: vec![container(image)],
        max_instance_request_concurrency: Some(80),
        scaling: scaling(),
        extra: serde_json::from_value(serde_json::json!({
            "serviceAccount": "emergence-app@emergence-469005.iam.gserviceaccount.com",
            "timeout": "300s",
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2"
        }))
        .unwrap_or_default(),
        ..Default::default()
    }
}

/// The template of the body, its field names checked.
fn parse_template(map: &serde_json::Map<String, Value>) -> Result<RevisionTemplate, ApiError> {
    let Some(t) = map.get("template") else {
        return Err(ApiError::invalid(
            "updateMask names `template` but the request has no template",
        ));
    };
    let Value::Object(tm) = t else {
        return Err(ApiError::invalid(
            "Invalid value at 'service.template': expected an object",
        ));
    };
    if let Some(k) = tm.keys().find(|k| !TEMPLATE_FIELDS.contains(&k.as_str())) {
        return Err(unknown_name(k, "service.template"));
    }
    if let Some(Value::Array(cs)) = tm.get("containers") {
        for (i, c) in cs.iter().enumerate() {
            if let Some(k) = c
                .as_object()
                .and_then(|c| c.keys().find(|k| !CONTAINER_FIELDS.contains(&k.as_str())))
            {
                return Err(unknown_name(
                    k,
                    &format!("service.template.containers[{i}]"),
                ));
            }
        }
    }
    serde_json::from_value(t.clone())
        .map_err(|e| ApiError::invalid(format!("Invalid value at 'service.template': {e}")))
}

fn valid_revision_name(name: &str, service: &str) -> bool {
    name.len() <= 63
        && name
            .strip_prefix(service)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|rest| !rest.is_empty())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !name.ends_with('-')
}

fn condition(kind: &str, state: &str, message: Option<String>, reason: Option<&str>) -> Condition {
    Condition {
        kind: kind.into(),
        state: Some(state.into()),
        message,
        last_transition_time: Some(timestamp(Utc::now())),
        severity: (state == CONDITION_FAILED).then(|| "ERROR".into()),
        reason: reason.map(Into::into),
        revision_reason: None,
    }
}

/// `PATCH …?updateMask=template[,traffic]`: a new revision from the template.
pub fn apply_deploy(
    state: &mut FakeState,
    name: &str,
    mask: &[&str],
    body: &str,
    now: Instant,
) -> Result<api::Operation, ApiError> {
    if mask.iter().any(|m| *m != "template" && *m != "traffic") {
        return Err(ApiError::invalid(format!(
            "the fake supports updateMask=template,traffic; got '{}'",
            mask.join(",")
        )));
    }
    let mut template = parse_template(&service_object(body)?)?;
    // Traffic and etag parse and validate as for a traffic change.
    let (traffic, etag) = super::patch::parse_body(body)?;
    let id = state.next_id();
    let step = state.releases.step;
    let Some(svc) = state.services.get(name) else {
        return Err(not_found(name));
    };
    check_etag(svc, etag.as_deref())?;
    let service = svc.short().to_string();
    let revision = match template.revision.clone().filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => format!("{service}-{:05}-fak", svc.revisions.len() + 1),
    };
    if !valid_revision_name(&revision, &service) {
        return Err(ApiError::invalid(format!(
            "template.revision '{revision}' must start with the service name and a dash, \
             and hold lowercase letters, digits and dashes (at most 63)"
        )));
    }
    if svc.has_revision(&revision) || state.releases.used.contains(&revision) {
        return Err(ApiError::new(
            409,
            "ALREADY_EXISTS",
            format!("Revision named '{revision}' with different configuration already exists."),
        ));
    }
    let image = template
        .containers
        .first()
        .map(|c| c.image.clone())
        .unwrap_or_default();
    if image.is_empty() {
        return Err(ApiError::invalid(
            "service.template.containers[0].image is required",
        ));
    }
    let traffic = if mask.contains(&"traffic") {
        let traffic = normalise(traffic);
        super::patch::validate_traffic(&traffic, |r| r == revision || svc.has_revision(r))?;
        traffic
    } else {
        svc.resource.traffic.clone()
    };
    let unready = traffic
        .iter()
        .filter(|t| t.percent() > 0)
        .filter_map(|t| t.revision.as_deref())
        .find(|r| *r != revision && !svc.revision_ready(r))
        .map(str::to_owned);
    if let Some(r) = unready {
        return Err(ApiError::invalid(format!(
            "Revision '{r}' is not ready and cannot serve traffic."
        )));
    }
    template.revision = Some(revision.clone());
    let outcome = Outcome::of(&image);
    let port = template
        .containers
        .iter()
        .find_map(|c| c.ports.first().and_then(|p| p.container_port))
        .unwrap_or(8080);
    let wall = Utc::now();
    let op_name = operation_name(name, id, "d3p1");
    let Some(svc) = state.services.get_mut(name) else {
        return Err(not_found(name));
    };
    let full = format!("{name}/revisions/{revision}");
    let rev = api::Revision {
        name: full.clone(),
        uid: Some(format!("rev-{id:x}")),
        generation: Some("1".into()),
        create_time: Some(timestamp(wall)),
        update_time: Some(timestamp(wall)),
        launch_stage: Some("GA".into()),
        service: Some(service.clone()),
        containers: template.containers.clone(),
        max_instance_request_concurrency: template.max_instance_request_concurrency,
        execution_environment: Some("EXECUTION_ENVIRONMENT_GEN2".into()),
        scaling: template.scaling.clone(),
        conditions: vec![
            condition(
                "Ready",
                CONDITION_RECONCILING,
                Some("Deploying revision.".into()),
                None,
            ),
            condition(
                "ContainerReady",
                CONDITION_RECONCILING,
                Some(format!("Importing image '{image}'.")),
                None,
            ),
            condition("ContainerHealthy", CONDITION_PENDING, None, None),
        ],
        observed_generation: Some("1".into()),
        log_uri: None,
        reconciling: true,
        etag: Some(format!("\"rev-{revision}\"")),
    };
    svc.revisions.insert(0, rev);
    svc.resource.latest_created_revision = Some(full);
    svc.resource.template = Some(template);
    svc.resource.traffic = traffic;
    svc.bump(wall, "canary-cockpit@example.com");
    svc.resource.reconciling = true;
    svc.resource.terminal_condition = Some(ready_condition(CONDITION_RECONCILING, None, wall));
    let generation = svc.resource.generation.clone();
    let op = api::Operation {
        name: op_name.clone(),
        metadata: Some(with_type(&svc.resource)),
        done: false,
        error: None,
        response: None,
    };
    let error = failure(outcome, &revision, &image, port).map(|m| (9, m));
    state.releases.used.push(revision.clone());
    if let Some(b) = state.monitoring.deployed {
        state.monitoring.behaviour.insert(revision.clone(), b);
    }
    state.releases.creating.push(Creating {
        service: name.to_string(),
        revision,
        image,
        started: now,
        outcome,
        port,
    });
    state.operations.insert(
        op_name.clone(),
        FakeOp {
            service: name.to_string(),
            generation,
            done_at: now + step * outcome.steps(),
            error,
            resource: op.clone(),
        },
    );
    Ok(op)
}

/// The Ready condition's message when creation fails.
fn failure(outcome: Outcome, revision: &str, image: &str, port: i32) -> Option<String> {
    let why = match outcome {
        Outcome::Ready => return None,
        Outcome::BadPull => format!("Image '{image}' not found."),
        Outcome::NoListen => format!(
            "The user-provided container failed to start and listen on the port defined provided \
             by the PORT={port} environment variable within the allocated timeout."
        ),
        Outcome::SlowImport => {
            "Revision import timed out: the image was not imported within the deadline.".into()
        }
    };
    Some(format!(
        "Revision '{revision}' is not ready and cannot serve traffic. {why}"
    ))
}

/// Moves the conditions of revisions being created on (called before
/// operations finish, so that a revision ready in time is the latest ready
/// when its operation settles the service).
pub fn before_operations(state: &mut FakeState, now: Instant) {
    let step = state.releases.step;
    let mut over = Vec::new();
    for (i, c) in state.releases.creating.iter().enumerate() {
        let Some(svc) = state.services.get_mut(&c.service) else {
            over.push(i);
            continue;
        };
        let Some(rev) = svc
            .revisions
            .iter_mut()
            .find(|r| r.short_name() == c.revision)
        else {
            over.push(i);
            continue;
        };
        let steps =
            (now.saturating_duration_since(c.started).as_nanos() / step.as_nanos().max(1)) as u32;
        let set = |rev: &mut api::Revision, kind: &str, cond: Condition| {
            if let Some(x) = rev.conditions.iter_mut().find(|x| x.kind == kind) {
                if x.state != cond.state || x.message != cond.message {
                    *x = cond;
                }
            }
        };
        let healthy_fails = c.outcome == Outcome::NoListen && steps >= 2;
        if steps >= 1 && matches!(c.outcome, Outcome::Ready | Outcome::NoListen) {
            set(
                rev,
                "ContainerReady",
                condition("ContainerReady", CONDITION_SUCCEEDED, None, None),
            );
            if !healthy_fails {
                let (st, msg) = if steps >= 2 {
                    (CONDITION_SUCCEEDED, None)
                } else {
                    (
                        CONDITION_RECONCILING,
                        Some(format!(
                            "Starting the container; waiting for it to listen on port {}.",
                            c.port
                        )),
                    )
                };
                set(
                    rev,
                    "ContainerHealthy",
                    condition("ContainerHealthy", st, msg, None),
                );
            }
        }
        if steps < c.outcome.steps() {
            continue;
        }
        let message = failure(c.outcome, &c.revision, &c.image, c.port);
        match c.outcome {
            Outcome::Ready => {
                set(
                    rev,
                    "Ready",
                    condition("Ready", CONDITION_SUCCEEDED, None, None),
                );
            }
            Outcome::BadPull => {
                set(
                    rev,
                    "ContainerReady",
                    condition(
                        "ContainerReady",
                        CONDITION_FAILED,
                        Some(format!("Image '{}' not found.", c.image)),
                        Some("CONTAINER_MISSING"),
                    ),
                );
                set(
                    rev,
                    "Ready",
                    condition(
                        "Ready",
                        CONDITION_FAILED,
                        message,
                        Some("CONTAINER_MISSING"),
                    ),
                );
            }
            Outcome::NoListen => {
                let why = format!(
                    "The user-provided container failed to start and listen on the port defined \
                     provided by the PORT={} environment variable within the allocated timeout.",
                    c.port
                );
                set(
                    rev,
                    "ContainerHealthy",
                    condition("ContainerHealthy", CONDITION_FAILED, Some(why), None),
                );
                set(
                    rev,
                    "Ready",
                    condition("Ready", CONDITION_FAILED, message, Some("REVISION_FAILED")),
                );
            }
            Outcome::SlowImport => {
                set(
                    rev,
                    "ContainerReady",
                    condition(
                        "ContainerReady",
                        CONDITION_FAILED,
                        Some("Revision import timed out.".into()),
                        Some("PROGRESS_DEADLINE_EXCEEDED"),
                    ),
                );
                set(
                    rev,
                    "Ready",
                    condition(
                        "Ready",
                        CONDITION_FAILED,
                        message,
                        Some("PROGRESS_DEADLINE_EXCEEDED"),
                    ),
                );
            }
        }
        rev.reconciling = false;
        if c.outcome == Outcome::Ready {
            let full = rev.name.clone();
            // Newest first: the newest ready revision is the latest ready.
            let newest_ready = svc
                .revisions
                .iter()
                .find(|r| r.ready_condition().is_some_and(|x| x.succeeded()))
                .map(|r| r.name.clone());
            svc.resource.latest_ready_revision = newest_ready.or(Some(full));
        }
        over.push(i);
    }
    for i in over.into_iter().rev() {
        state.releases.creating.remove(i);
    }
}

/// Delete operations answer with the deleted revision (not the service).
pub fn after_operations(state: &mut FakeState) {
    for (name, revision) in &state.releases.deleted {
        if let Some(op) = state.operations.get_mut(name) {
            if op.resource.done {
                op.resource.response = Some(revision.clone());
            }
        }
    }
}

/// `GET …/revisions/R`.
pub fn get_revision(state: &FakeState, name: &str) -> Result<api::Revision, ApiError> {
    let service = name.split("/revisions/").next().unwrap_or("");
    state
        .services
        .get(service)
        .and_then(|s| s.revisions.iter().find(|r| r.name == name))
        .cloned()
        .ok_or_else(|| revision_not_found(name))
}

fn revision_not_found(name: &str) -> ApiError {
    let parts: Vec<&str> = name.split('/').collect();
    ApiError::new(
        404,
        "NOT_FOUND",
        format!(
            "Resource '{}' of kind 'REVISION' in region '{}' in project '{}' does not exist.",
            parts.get(7).unwrap_or(&""),
            parts.get(3).unwrap_or(&""),
            parts.get(1).unwrap_or(&"")
        ),
    )
}

/// `DELETE …/revisions/R`: refused while the traffic names it (or a LATEST
/// target resolves to it) or while it is being created.
pub fn delete_revision(
    state: &mut FakeState,
    name: &str,
    now: Instant,
) -> Result<api::Operation, ApiError> {
    let service = name.split("/revisions/").next().unwrap_or("").to_string();
    let short = api::last_segment(name).to_string();
    let id = state.next_id();
    let delay = state.op_delay;
    let creating = state
        .releases
        .creating
        .iter()
        .any(|c| c.service == service && c.revision == short);
    let Some(svc) = state.services.get_mut(&service) else {
        return Err(revision_not_found(name));
    };
    let Some(pos) = svc.revisions.iter().position(|r| r.name == name) else {
        return Err(revision_not_found(name));
    };
    let latest_ready = svc
        .resource
        .latest_ready_revision
        .as_deref()
        .map(api::last_segment);
    let named = svc.resource.traffic.iter().any(|t| {
        t.revision.as_deref() == Some(short.as_str())
            || (t.is_latest() && latest_ready == Some(short.as_str()))
    });
    let no_targets_latest = svc.resource.traffic.is_empty() && latest_ready == Some(short.as_str());
    if named || no_targets_latest {
        return Err(ApiError::new(
            400,
            "FAILED_PRECONDITION",
            format!(
                "Revision '{short}' is referenced by a traffic target of service '{}' and cannot be deleted.",
                svc.short()
            ),
        ));
    }
    if creating {
        return Err(ApiError::new(
            400,
            "FAILED_PRECONDITION",
            format!("Revision '{short}' is still being created and cannot be deleted."),
        ));
    }
    let removed = svc.revisions.remove(pos);
    let newest = |ready_only: bool| {
        svc.revisions
            .iter()
            .find(|r| !ready_only || r.ready_condition().is_some_and(|c| c.succeeded()))
            .map(|r| r.name.clone())
    };
    svc.resource.latest_created_revision = newest(false);
    svc.resource.latest_ready_revision = newest(true);
    let op_name = operation_name(&service, id, "de1e");
    let mut typed = serde_json::to_value(&removed).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut typed {
        m.insert(
            "@type".into(),
            Value::String("type.googleapis.com/google.cloud.run.v2.Revision".into()),
        );
    }
    let op = api::Operation {
        name: op_name.clone(),
        metadata: Some(typed.clone()),
        done: delay.is_zero(),
        error: None,
        response: delay.is_zero().then(|| typed.clone()),
    };
    state.releases.deleted.insert(op_name.clone(), typed);
    state.operations.insert(
        op_name,
        FakeOp {
            service,
            // Never the service's generation: a deletion settles nothing.
            generation: Some("deletion".into()),
            done_at: now + delay,
            error: None,
            resource: op.clone(),
        },
    );
    Ok(op)
}

impl FakeCloudRun {
    /// How long each condition of a new revision takes (default 200 ms:
    /// image import, container healthy, ready; a deploy takes three steps).
    pub fn set_deploy_step(&self, step: Duration) {
        self.state().releases.step = step;
    }

    /// Tag URLs of `at` become `BASE/TAG` (a local server in tests) instead
    /// of `https://TAG---HOST.a.run.app`; the statuses are rebuilt now.
    pub fn set_tag_url_base(&self, at: &super::ServiceRef, base: &str) {
        let mut st = self.state();
        if let Some(svc) = st.services.get_mut(&at.name()) {
            svc.tag_url_base = Some(base.trim_end_matches('/').to_string());
            svc.resource.traffic_statuses = svc.statuses_for_traffic();
        }
    }
}
