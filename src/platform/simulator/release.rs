//! Deploys and deletions in the simulator, so that the demo shows the whole
//! release: `D` creates a simulated revision that behaves as the scenario
//! says (its `[deploy]` table, else like the scenario's canary), whose
//! conditions progress over `ready_after` (image import, container
//! healthy, ready) or fail like Cloud Run's when the image's name asks for
//! it (`bad-pull`, `no-listen`, `slow-import`, as the Cloud Run fake).
//! Deleted revisions leave the service (their history stays, unseen).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::scenario::RevisionSpec;
use super::world::{RevState, World};
use super::Simulator;
use crate::core::details::{
    digest_of, Condition, ConditionState, EnvValue, EnvVar, RevisionDetails,
};
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, Version};
use crate::core::release::DeployRequest;
use crate::platform::release::{Releases, SnapshotSink};

/// How a simulated deploy ends.
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
}

struct Creating {
    name: String,
    started: Instant,
    outcome: Outcome,
}

/// What the simulator keeps about deploys and deletions.
#[derive(Default)]
pub struct SimReleases {
    creating: Vec<Creating>,
    /// Conditions per revision created here (the others are ready and
    /// report Ready only).
    conditions: Vec<(String, Vec<Condition>)>,
    deleted: Vec<String>,
    /// Who deployed what (`$USER` of the cockpit).
    creators: Vec<(String, String)>,
}

impl SimReleases {
    pub fn is_deleted(&self, name: &str) -> bool {
        self.deleted.iter().any(|d| d == name)
    }
}

fn cond(
    kind: &str,
    state: ConditionState,
    message: Option<String>,
    now: DateTime<Utc>,
) -> Condition {
    Condition {
        kind: kind.into(),
        state,
        message,
        reason: None,
        since: Some(now),
    }
}

/// Moves the conditions of revisions being created on (called with every
/// read of the world).
pub fn advance(w: &mut World, now: Instant) {
    let total = w.scenario.deploy.ready_after;
    let wall =
        w.epoch + chrono::Duration::from_std(Duration::from_secs(w.second)).unwrap_or_default();
    let mut over = Vec::new();
    for (i, c) in w.release.creating.iter().enumerate() {
        let elapsed = now.saturating_duration_since(c.started);
        let third = total / 3;
        let step = if third.is_zero() {
            3
        } else {
            (elapsed.as_nanos() / third.as_nanos()).min(4) as u32
        };
        use ConditionState::{Failed, Ok, Pending};
        let (import, healthy, ready, done) = match (c.outcome, step) {
            (Outcome::BadPull, s) if s >= 1 => (
                cond(
                    "ContainerReady",
                    Failed,
                    Some("Image not found.".into()),
                    wall,
                ),
                cond("ContainerHealthy", Pending, None, wall),
                Failed,
                true,
            ),
            (Outcome::NoListen, s) if s >= 2 => (
                cond("ContainerReady", Ok, None, wall),
                cond(
                    "ContainerHealthy",
                    Failed,
                    Some(
                        "The user-provided container failed to start and listen on the port \
                         defined provided by the PORT=8080 environment variable."
                            .into(),
                    ),
                    wall,
                ),
                Failed,
                true,
            ),
            (Outcome::SlowImport, s) if s >= 4 => (
                cond(
                    "ContainerReady",
                    Failed,
                    Some("Revision import timed out.".into()),
                    wall,
                ),
                cond("ContainerHealthy", Pending, None, wall),
                Failed,
                true,
            ),
            (Outcome::Ready, s) if s >= 3 => (
                cond("ContainerReady", Ok, None, wall),
                cond("ContainerHealthy", Ok, None, wall),
                Ok,
                true,
            ),
            (o, s) => {
                let imported = s >= 1 && o != Outcome::SlowImport;
                (
                    cond(
                        "ContainerReady",
                        if imported { Ok } else { Pending },
                        (!imported).then(|| "Importing the image.".into()),
                        wall,
                    ),
                    cond(
                        "ContainerHealthy",
                        if s >= 2 { Ok } else { Pending },
                        (imported && s < 2)
                            .then(|| "Starting the container; waiting for port 8080.".into()),
                        wall,
                    ),
                    Pending,
                    false,
                )
            }
        };
        let mut ready_cond = cond("Ready", ready, None, wall);
        if ready == Failed {
            let why = [&import, &healthy]
                .into_iter()
                .find(|c| c.state == Failed)
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            ready_cond.message = Some(format!(
                "Revision '{}' is not ready and cannot serve traffic. {why}",
                c.name
            ));
            ready_cond.reason = Some(
                match c.outcome {
                    Outcome::BadPull => "CONTAINER_MISSING",
                    Outcome::SlowImport => "PROGRESS_DEADLINE_EXCEEDED",
                    _ => "REVISION_FAILED",
                }
                .into(),
            );
        }
        let mut conditions = vec![import, healthy, ready_cond];
        if c.outcome == Outcome::BadPull && done {
            conditions[0].reason = Some("CONTAINER_MISSING".into());
        }
        if c.outcome == Outcome::SlowImport && done {
            conditions[0].reason = Some("PROGRESS_DEADLINE_EXCEEDED".into());
        }
        match w.release.conditions.iter_mut().find(|(n, _)| *n == c.name) {
            Some((_, cs)) => *cs = conditions,
            None => w.release.conditions.push((c.name.clone(), conditions)),
        }
        if done {
            if ready == Ok {
                if let Some(r) = w.revs.iter_mut().find(|r| r.spec.name == c.name) {
                    r.ready = true;
                }
            }
            over.push(i);
        }
    }
    for i in over.into_iter().rev() {
        w.release.creating.remove(i);
    }
}

/// The inspect details of a simulated revision.
pub fn details(w: &World, r: &RevState) -> RevisionDetails {
    let name = &r.spec.name;
    let conditions = w
        .release
        .conditions
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| {
            vec![cond(
                "Ready",
                if r.ready {
                    ConditionState::Ok
                } else {
                    ConditionState::Failed
                },
                (!r.ready).then(|| {
                    r.spec
                        .status_message
                        .clone()
                        .unwrap_or_else(|| "the container failed to start".into())
                }),
                r.created,
            )]
        });
    let deploying = w.release.creating.iter().any(|c| &c.name == name);
    let digest = digest_of(&r.spec.image).or_else(|| {
        // A stable, made-up digest per image: the simulator "pulled" it.
        let h = super::rng::hash_str(&r.spec.image);
        Some(format!(
            "sha256:{h:016x}{:016x}",
            h.rotate_left(17) ^ 0x5eed
        ))
    });
    RevisionDetails {
        digest,
        creator: w
            .release
            .creators
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, who)| who.clone())
            .or_else(|| Some("deployer@example.com".into())),
        env: vec![
            EnvVar {
                name: "LOG_LEVEL".into(),
                value: EnvValue::Plain("info".into()),
            },
            EnvVar {
                name: "DB_PASSWORD".into(),
                value: EnvValue::Secret {
                    secret: "db-password".into(),
                    version: "latest".into(),
                },
            },
        ]
        .into_iter()
        .chain(
            w.release
                .creators
                .iter()
                .any(|(n, _)| n == name)
                .then(|| EnvVar {
                    name: "RELEASE".into(),
                    value: EnvValue::Plain(name.clone()),
                }),
        )
        .collect(),
        limits: vec![
            ("cpu".into(), "1000m".into()),
            ("memory".into(), "512Mi".into()),
        ],
        min_instances: None,
        max_instances: Some(10),
        concurrency: Some(80),
        port: Some(8080),
        conditions,
        deploying,
        platform: Vec::new(),
    }
}

/// A status line for a revision that is not ready: the failed condition's
/// words, or the deploy's progress.
pub fn status(d: &RevisionDetails) -> Option<String> {
    if let Some(f) = d
        .conditions
        .iter()
        .filter(|c| c.state == ConditionState::Failed)
        .find(|c| c.kind != "Ready")
    {
        let plain = crate::core::details::plain_reason(f.reason.as_deref(), f.message.as_deref());
        let msg = f.message.clone().unwrap_or_default();
        return Some(match plain {
            Some(p) => format!("{p}: {msg}"),
            None => msg,
        });
    }
    d.deploying.then(|| "deploying".to_string())
}

impl World {
    /// Starts creating `request`'s revision; `Err` when the version moved
    /// or the tag or name is in use.
    fn begin_deploy(
        &mut self,
        request: &DeployRequest,
        expect: &Version,
        now: Instant,
    ) -> Result<(), BackendError> {
        let current = self.version();
        if *expect != current {
            return Err(BackendError::Conflict(format!(
                "expected version {}, the service is at {}",
                expect.0, current.0
            )));
        }
        if self.index_of(&request.revision).is_some() {
            return Err(BackendError::Conflict(format!(
                "a revision named {} already exists",
                request.revision
            )));
        }
        if self.revs.iter().any(|r| {
            r.spec.tag.as_deref() == Some(request.tag.as_str())
                && !self.release.is_deleted(&r.spec.name)
        }) {
            return Err(BackendError::Refused(format!(
                "the tag {} is already in use",
                request.tag
            )));
        }
        let behaviour = &self.scenario.deploy;
        // A revision of the same image as one of the scenario's (a judge's
        // baseline of the stable) behaves like it; else the scenario's
        // canary (tagged), else the stable (most traffic).
        let same_image = self
            .scenario
            .revisions
            .iter()
            .find(|r| r.image == request.image)
            .cloned();
        let model = same_image
            .clone()
            .or_else(|| {
                self.scenario
                    .revisions
                    .iter()
                    .find(|r| r.tag.as_deref().is_some_and(|t| t.starts_with("canary")))
                    .cloned()
            })
            .or_else(|| {
                self.scenario
                    .revisions
                    .iter()
                    .max_by_key(|r| r.traffic)
                    .cloned()
            });
        let mut spec = RevisionSpec {
            name: request.revision.clone(),
            image: request.image.clone(),
            created_ago: Duration::ZERO,
            tag: Some(request.tag.clone()),
            tag_url: None,
            traffic: 0,
            ready: true,
            status_message: None,
            error_percent: 0.2,
            client_error_percent: 0.5,
            p95_ms: 200.0,
            after_traffic: vec![],
        };
        if let Some(m) = model {
            spec.error_percent = m.error_percent;
            spec.client_error_percent = m.client_error_percent;
            spec.p95_ms = m.p95_ms;
            spec.after_traffic = m.after_traffic;
        }
        if let (Some(p), None) = (&behaviour.profile, &same_image) {
            spec.error_percent = p.error_percent;
            spec.p95_ms = p.p95_ms;
            spec.after_traffic = p.after_traffic.clone();
        }
        let wall = self.epoch
            + chrono::Duration::from_std(Duration::from_secs(self.second)).unwrap_or_default();
        let seed = self.seed;
        self.revs.push(RevState {
            ready: false,
            created: wall,
            first_traffic: None,
            serving_at_start: false,
            wobble_phase: (super::rng::hash_str(&spec.name) ^ seed) as f64 / u64::MAX as f64
                * std::f64::consts::TAU,
            spec,
            requests_total: 0,
            errors_total: 0,
        });
        let who = std::env::var("USER").unwrap_or_else(|_| "operator".into());
        self.release
            .creators
            .push((request.revision.clone(), format!("{who} (canary cockpit)")));
        self.release.creating.push(Creating {
            name: request.revision.clone(),
            started: now,
            outcome: Outcome::of(&request.image),
        });
        // A spec change: a new version.
        self.generation += 1;
        advance(self, now);
        Ok(())
    }

    fn delete(&mut self, name: &str) -> Result<(), BackendError> {
        let Some(r) = self
            .revs
            .iter()
            .find(|r| r.spec.name == name && !self.release.is_deleted(name))
        else {
            return Err(BackendError::NotFound(format!(
                "revision {name} of {}",
                self.scenario.service
            )));
        };
        if self.target.percent_of(name) > 0 || self.actual.percent_of(name) > 0 {
            return Err(BackendError::Refused(format!(
                "revision {name} serves traffic and cannot be deleted"
            )));
        }
        if self.release.creating.iter().any(|c| c.name == name) {
            return Err(BackendError::Refused(format!(
                "revision {name} is still being created"
            )));
        }
        let failed = !r.ready;
        // As Cloud Run's delete: a judge's baseline at 0 % loses its tag first.
        let baseline = r.spec.tag.as_deref() == Some(crate::core::baseline::TAG);
        if r.spec.tag.is_some() && !failed && !baseline {
            return Err(BackendError::Refused(format!(
                "revision {name} is referenced by a traffic target (its tag) and cannot be deleted"
            )));
        }
        self.release.deleted.push(name.to_string());
        self.generation += 1;
        Ok(())
    }
}

#[async_trait]
impl Releases for Simulator {
    async fn deploy(
        &self,
        request: &DeployRequest,
        expect: &Version,
        progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        self.shared
            .lock_current()
            .begin_deploy(request, expect, Instant::now())?;
        let limit = Instant::now() + Duration::from_secs(600);
        let mut delay = Duration::from_millis(100);
        loop {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
            let (snap, done) = {
                let w = self.shared.lock_current();
                let done = !w
                    .release
                    .creating
                    .iter()
                    .any(|c| c.name == request.revision);
                (w.snapshot(), done)
            };
            if done {
                let r = snap.revision(&request.revision);
                return match r {
                    Some(r) if r.ready => Ok(snap),
                    Some(r) => Err(BackendError::Failed(
                        status(&r.details).unwrap_or_else(|| "the revision failed".into()),
                    )),
                    None => Err(BackendError::Failed(format!(
                        "{} is not listed",
                        request.revision
                    ))),
                };
            }
            progress(snap);
            if Instant::now() > limit {
                return Err(BackendError::Timeout(Duration::from_secs(600)));
            }
        }
    }

    async fn delete_revision(
        &self,
        revision: &str,
        _progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        let mut w = self.shared.lock_current();
        w.delete(revision)?;
        Ok(w.snapshot())
    }
}
