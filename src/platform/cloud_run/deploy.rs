//! Deploying and deleting revisions on Cloud Run.
//!
//! - Deploy: `PATCH …/services/S?updateMask=template,traffic` with the
//!   service's template as read (every field kept) but the image (and the
//!   `--env` variables) changed and `template.revision` set to the name the
//!   cockpit chose (`SERVICE-NNNNN-abc`), so that the new revision's tag goes
//!   in the same request: `traffic` is every existing target exactly as it
//!   was (percent and tag), `LATEST` targets pinned to the revision they
//!   resolve to today (the new revision becomes the latest: it must get
//!   nothing by accident), plus one 0 % target with the tag. The etag read
//!   goes with it: a concurrent change is a 409, never overwritten. The
//!   operation is polled (a short first poll that backs off), the service
//!   read after each poll (the screen shows the revision's conditions
//!   progress), until the revision is ready or has failed.
//! - Delete: `DELETE …/revisions/R`; a failed revision's 0 % tag target
//!   (its URL reaches nothing) is removed first by a traffic PATCH with the
//!   etag, the rest of the traffic as it was.

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;

use super::api::{self, RevisionTemplate, TrafficTarget, TYPE_REVISION};
use super::CloudRun;
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, Version};
use crate::core::release::DeployRequest;
use crate::google::retry::Tries;
use crate::platform::release::{Releases, SnapshotSink};
use crate::platform::Platform;

/// The deploy's PATCH body (`updateMask=template,traffic`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployPatch {
    pub template: RevisionTemplate,
    pub traffic: Vec<TrafficTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The traffic PATCH that removes a failed revision's tag (`updateMask=traffic`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrafficPatch {
    pub traffic: Vec<TrafficTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The traffic of a deploy: every target of `current` kept exactly (percent
/// and tag), `LATEST` pinned to `latest_ready`, plus `revision` at 0 % with
/// `tag`. An empty `current` means "all to the latest".
pub fn deploy_traffic(
    current: &[TrafficTarget],
    latest_ready: Option<&str>,
    revision: &str,
    tag: &str,
) -> Result<Vec<TrafficTarget>, BackendError> {
    let pin = || {
        latest_ready.map(str::to_string).ok_or_else(|| {
            BackendError::Refused(
                "the service sends traffic to LATEST but reports no latest ready revision to pin \
                 it to: nothing was sent"
                    .into(),
            )
        })
    };
    let mut out = Vec::with_capacity(current.len() + 1);
    if current.is_empty() {
        out.push(TrafficTarget {
            kind: Some(TYPE_REVISION.into()),
            revision: Some(pin()?),
            percent: Some(100),
            tag: None,
        });
    }
    for t in current {
        if t.tag.as_deref() == Some(tag) {
            return Err(BackendError::Refused(format!(
                "the tag `{tag}` is already in use: nothing was sent"
            )));
        }
        let revision = match t.revision.as_deref().filter(|r| !r.is_empty()) {
            Some(r) if !t.is_latest() => r.to_string(),
            _ => pin()?,
        };
        out.push(TrafficTarget {
            kind: Some(TYPE_REVISION.into()),
            revision: Some(revision),
            percent: Some(t.percent()),
            tag: t.tag.clone().filter(|t| !t.is_empty()),
        });
    }
    out.push(TrafficTarget {
        kind: Some(TYPE_REVISION.into()),
        revision: Some(revision.to_string()),
        percent: Some(0),
        tag: Some(tag.to_string()),
    });
    Ok(out)
}

/// The template as read with the new image, the environment variables set
/// and the revision's name. The serving container (the one with a port,
/// else the first) gets the image.
pub fn deploy_template(
    current: &RevisionTemplate,
    request: &DeployRequest,
) -> Result<RevisionTemplate, BackendError> {
    let mut t = current.clone();
    t.revision = Some(request.revision.clone());
    if t.containers.is_empty() {
        t.containers.push(api::Container::default());
    }
    let i = t
        .containers
        .iter()
        .position(|c| !c.ports.is_empty())
        .unwrap_or(0);
    let c = &mut t.containers[i];
    c.image = request.image.clone();
    for (k, v) in &request.env {
        match c.env.iter_mut().find(|e| &e.name == k) {
            Some(e) if e.value_source.is_some() => {
                return Err(BackendError::Refused(format!(
                    "--env {k}: the variable is a secret reference; a plain value would replace \
                     it (change it outside the cockpit): nothing was sent"
                )))
            }
            Some(e) => e.value = Some(v.clone()),
            None => c.env.push(api::EnvVar {
                name: k.clone(),
                value: Some(v.clone()),
                value_source: None,
            }),
        }
    }
    Ok(t)
}

/// The whole deploy request from the service as read.
pub fn deploy_patch(
    svc: &api::Service,
    request: &DeployRequest,
) -> Result<DeployPatch, BackendError> {
    let latest = svc.latest_ready_revision.as_deref().map(api::last_segment);
    Ok(DeployPatch {
        template: deploy_template(&svc.template.clone().unwrap_or_default(), request)?,
        traffic: deploy_traffic(&svc.traffic, latest, &request.revision, &request.tag)?,
        etag: svc.etag.clone(),
    })
}

/// The traffic without the tag targets of `revision` (a failed revision's
/// tag, removed before it is deleted); `None` when it has none.
fn untagged(current: &[TrafficTarget], revision: &str) -> Option<Vec<TrafficTarget>> {
    let named = |t: &TrafficTarget| t.revision.as_deref() == Some(revision);
    // Only tag targets at 0 %: a revision with a share is never untagged here.
    if !current.iter().any(named) || current.iter().any(|t| named(t) && t.percent() > 0) {
        return None;
    }
    // Each target as it was, its type and percent written out (the API
    // omits a 0 % share; the cockpit always sends it).
    Some(
        current
            .iter()
            .filter(|t| !named(t))
            .map(|t| TrafficTarget {
                kind: t.kind.clone().or_else(|| Some(TYPE_REVISION.into())),
                percent: Some(t.percent()),
                ..t.clone()
            })
            .collect(),
    )
}

impl CloudRun {
    fn revision_path(&self, revision: &str) -> String {
        format!("{}/revisions/{revision}", self.service_path())
    }

    fn gcloud_where(&self) -> String {
        format!(
            "--region={} --project={}",
            self.settings.region, self.settings.project
        )
    }

    /// Polls `op` (first after 100 ms, then backing off as
    /// [`CloudRun::next_poll`] says), reading the service after each poll
    /// for `progress`.
    async fn follow_operation(
        &self,
        mut op: api::Operation,
        deadline: Instant,
        progress: &SnapshotSink,
    ) -> Result<api::Operation, BackendError> {
        let started = Instant::now();
        let mut delay = self
            .settings
            .poll_initial
            .min(std::time::Duration::from_millis(100));
        let path = format!("v2/{}", op.name);
        let what = format!("operation {}", op.name);
        while !op.done {
            if op.name.is_empty() {
                return Err(BackendError::Other(
                    "the API answered with an operation that has no name".into(),
                ));
            }
            if Instant::now() + delay > deadline {
                return Err(BackendError::Timeout(self.settings.deploy_timeout));
            }
            tokio::time::sleep(delay).await;
            delay = self.next_poll(delay, started.elapsed());
            match self.http.get::<api::Operation>(&path, &[], &what).await {
                Ok(next) => op = next,
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, operation = %op.name, "operation poll failed; retrying");
                }
                Err(BackendError::NotFound(_)) => {
                    return Err(BackendError::Other(format!(
                        "the API no longer knows operation {}",
                        op.name
                    )))
                }
                Err(e) => return Err(e),
            }
            if !op.done {
                if let Ok(s) = self.snapshot().await {
                    progress(s);
                }
            }
        }
        Ok(op)
    }

    /// Reads until `revision` is ready or has failed (or the deadline).
    async fn until_settled(
        &self,
        revision: &str,
        deadline: Instant,
        progress: &SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            let snap = self.snapshot().await;
            match snap {
                Ok(s) => {
                    let rev = s.revision(revision);
                    let settled = rev.is_some_and(|r| r.ready || !r.details.deploying);
                    let landed = !s.reconciling || s.message.is_some();
                    if (settled && landed) || Instant::now() + delay > deadline {
                        return match rev {
                            Some(r) if r.ready => Ok(s),
                            Some(r) if !r.details.deploying => Err(failure(r)),
                            Some(_) => Err(BackendError::Timeout(self.settings.deploy_timeout)),
                            None => Err(BackendError::Failed(format!(
                                "the platform does not list the revision {revision}"
                            ))),
                        };
                    }
                    progress(s);
                }
                Err(e) if e.is_transient() && Instant::now() + delay <= deadline => {
                    tracing::warn!(error = %e, "reading the service during a deploy failed; retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.settings.poll_max);
        }
    }

    async fn send_deploy(
        &self,
        request: &DeployRequest,
        expect: &Version,
        progress: &SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        let deadline = Instant::now() + self.settings.deploy_timeout;
        let current = self.read_service().await?;
        let at = current.etag.clone().unwrap_or_default();
        if at != expect.0 {
            *self.last() = Some(current);
            return Err(BackendError::Conflict(format!(
                "{} changed since it was read (etag {} is now {at}): nothing was sent",
                self.settings.service, expect.0
            )));
        }
        let body = deploy_patch(&current, request)?;
        let call = format!(
            "deploying {} to {}",
            request.revision, self.settings.service
        );
        let mut tries = Tries::new(&self.settings.retry, self.observer(), &call);
        loop {
            tracing::info!(revision = %request.revision, image = %request.image, tag = %request.tag, attempt = tries.count() + 1, "PATCH template (deploy)");
            let sent: Result<api::Operation, BackendError> = self
                .http
                .patch(
                    &self.service_path(),
                    &[("updateMask", "template,traffic")],
                    &body,
                    &self.what(),
                )
                .await;
            let err = match sent {
                Ok(op) => {
                    return match self.follow_operation(op, deadline, progress).await {
                        Ok(op) => match op.error {
                            // The revision's own conditions say it best.
                            Some(e) => match self
                                .until_settled(&request.revision, deadline, progress)
                                .await
                            {
                                Err(BackendError::Failed(m)) => Err(BackendError::Failed(m)),
                                _ => Err(BackendError::Failed(if e.message.is_empty() {
                                    format!("operation {} failed with code {}", op.name, e.code)
                                } else {
                                    e.message
                                })),
                            },
                            None => {
                                self.until_settled(&request.revision, deadline, progress)
                                    .await
                            }
                        },
                        // The operation was lost or is slow: the revision tells.
                        Err(e) => {
                            tracing::warn!(error = %e, "following the deploy's operation failed; reading the revision");
                            self.until_settled(&request.revision, deadline, progress)
                                .await
                        }
                    };
                }
                Err(
                    e @ (BackendError::Conflict(_)
                    | BackendError::Refused(_)
                    | BackendError::Auth(_)
                    | BackendError::NotFound(_)),
                ) if tries.count() == 0 => return Err(e),
                Err(e) => e,
            };
            // Neither a clean success nor a clean refusal: read it back.
            tracing::warn!(error = %err, "the deploy's answer is not clean; re-reading the service");
            let svc = match self.read_service().await {
                Ok(s) => s,
                Err(r) => {
                    return Err(BackendError::Unconfirmed {
                        message: format!("{err}; re-reading the service failed too: {r}"),
                        read_back: None,
                    })
                }
            };
            let ours = svc.template.as_ref().and_then(|t| t.revision.as_deref())
                == Some(request.revision.as_str());
            if ours {
                tries.read_back(&err, "applied");
                return self
                    .until_settled(&request.revision, deadline, progress)
                    .await;
            }
            if svc.etag.as_deref() == Some(expect.0.as_str()) {
                if err.is_conflict() || !tries.again(&err).await {
                    tries.read_back(&err, "not applied");
                    return Err(BackendError::Failed(format!(
                        "{err}; not applied: the service was read back unchanged"
                    )));
                }
                continue;
            }
            return Err(BackendError::Unconfirmed {
                message: format!(
                    "{err}; the service changed, but not to the template asked for (someone else \
                     changed it)"
                ),
                read_back: None,
            });
        }
    }
}

/// A failed revision's reason: plain words, then the platform's own.
fn failure(r: &crate::core::model::Revision) -> BackendError {
    use crate::core::details::{plain_reason, ConditionState};
    let failed = r
        .details
        .conditions
        .iter()
        .filter(|c| c.state == ConditionState::Failed)
        .find(|c| c.kind != "Ready")
        .or_else(|| {
            r.details
                .conditions
                .iter()
                .find(|c| c.state == ConditionState::Failed)
        });
    let platform = failed
        .and_then(|c| c.message.clone())
        .or_else(|| r.status_message.clone())
        .unwrap_or_else(|| "the revision did not become ready".into());
    let plain = failed.and_then(|c| plain_reason(c.reason.as_deref(), c.message.as_deref()));
    BackendError::Failed(match plain {
        Some(p) => format!("{p}: {platform}"),
        None => platform,
    })
}

#[async_trait]
impl Releases for CloudRun {
    fn deploy_preview(&self, request: &DeployRequest) -> Vec<String> {
        let s = &self.settings;
        let mut lines = vec![format!(
            "gcloud run deploy {} {} {}",
            s.service,
            request.gcloud_flags(),
            self.gcloud_where()
        )];
        lines.push(format!(
            "PATCH {}?updateMask=template,traffic",
            self.http.url(&self.service_path())
        ));
        let body = match self.last().as_ref() {
            Some(svc) => {
                deploy_patch(svc, request).map(|b| serde_json::to_string(&b).unwrap_or_default())
            }
            None => Err(BackendError::Other(
                "the service has not been read yet".into(),
            )),
        };
        lines.push(body.unwrap_or_else(|e| format!("(no request: {e})")));
        lines
    }

    fn delete_preview(&self, revision: &str) -> Vec<String> {
        let s = &self.settings;
        let mut lines = Vec::new();
        if let Some(svc) = self.last().as_ref() {
            if let Some(traffic) = untagged(&svc.traffic, revision) {
                let tags: Vec<&str> = svc
                    .traffic
                    .iter()
                    .filter(|t| t.revision.as_deref() == Some(revision))
                    .filter_map(|t| t.tag.as_deref())
                    .collect();
                lines.push(format!(
                    "gcloud run services update-traffic {} --remove-tags={} {}",
                    s.service,
                    tags.join(","),
                    self.gcloud_where()
                ));
                lines.push(format!("PATCH {}", self.patch_url()));
                let body = TrafficPatch {
                    traffic,
                    etag: svc.etag.clone(),
                };
                lines.push(serde_json::to_string(&body).unwrap_or_default());
            }
        }
        lines.push(format!(
            "gcloud run revisions delete {revision} {} --quiet",
            self.gcloud_where()
        ));
        lines.push(format!(
            "DELETE {}",
            self.http.url(&self.revision_path(revision))
        ));
        lines
    }

    async fn deploy(
        &self,
        request: &DeployRequest,
        expect: &Version,
        progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        self.send_deploy(request, expect, &progress).await
    }

    async fn delete_revision(
        &self,
        revision: &str,
        progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        let deadline = Instant::now() + self.settings.operation_timeout;
        let svc = self.read_service().await?;
        // A failed revision's tag first (the core allows nothing else here;
        // the API refuses to delete a revision named in the traffic).
        if let Some(traffic) = untagged(&svc.traffic, revision) {
            let body = TrafficPatch {
                traffic,
                etag: svc.etag.clone(),
            };
            tracing::info!(%revision, "PATCH traffic: removing the tag of a revision to delete");
            let op: api::Operation = self
                .http
                .patch(
                    &self.service_path(),
                    &[("updateMask", "traffic")],
                    &body,
                    &self.what(),
                )
                .await?;
            let op = self.follow_operation(op, deadline, &progress).await?;
            if let Some(e) = op.error {
                return Err(BackendError::Failed(format!(
                    "removing the tag of {revision} failed: {}",
                    e.message
                )));
            }
        }
        tracing::info!(%revision, "DELETE revision");
        let what = format!("revision {revision} of {}", self.what());
        let call = format!("deleting {revision}");
        let mut tries = Tries::new(&self.settings.retry, self.observer(), &call);
        let op = loop {
            match self
                .http
                .delete::<api::Operation>(&self.revision_path(revision), &[], &what)
                .await
            {
                Ok(op) => break op,
                // Gone already (an earlier try landed): done.
                Err(BackendError::NotFound(_)) if tries.count() > 0 => {
                    return self.snapshot().await;
                }
                Err(e) if e.is_transient() && tries.again(&e).await => {}
                Err(e) => return Err(e),
            }
        };
        let op = self.follow_operation(op, deadline, &progress).await?;
        if let Some(e) = op.error {
            return Err(BackendError::Failed(e.message));
        }
        let snap = self.snapshot().await?;
        if snap.revision(revision).is_some() {
            return Err(BackendError::Failed(format!(
                "the operation finished but {revision} is still listed"
            )));
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::cloud_run::api::TYPE_LATEST;

    fn t(kind: &str, rev: Option<&str>, pct: i32, tag: Option<&str>) -> TrafficTarget {
        TrafficTarget {
            kind: Some(kind.into()),
            revision: rev.map(Into::into),
            percent: (pct != 0).then_some(pct),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn latest_is_pinned_and_the_new_tag_added_at_zero() {
        let current = vec![
            t(TYPE_LATEST, None, 90, None),
            t(TYPE_REVISION, Some("r41"), 10, Some("old")),
            t(TYPE_LATEST, None, 0, Some("head")),
        ];
        let out = deploy_traffic(&current, Some("r42"), "r43", "canary-20261130").unwrap();
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"[{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r42","percent":90},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r41","percent":10,"tag":"old"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r42","percent":0,"tag":"head"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r43","percent":0,"tag":"canary-20261130"}]"#
            )
        );
        assert!(deploy_traffic(&current, None, "r43", "c").is_err());
        assert!(deploy_traffic(&current, Some("r42"), "r43", "old").is_err());
        let all = deploy_traffic(&[], Some("r42"), "r43", "c").unwrap();
        assert_eq!(all[0].percent, Some(100));
        assert_eq!(all[0].revision.as_deref(), Some("r42"));
    }

    #[test]
    fn the_template_keeps_everything_but_the_image_env_and_name() {
        let tpl: RevisionTemplate = serde_json::from_value(serde_json::json!({
            "serviceAccount": "app@p.iam.gserviceaccount.com",
            "timeout": "300s",
            "containers": [{
                "image": "r/app:1",
                "ports": [{"containerPort": 8080}],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "DB_PASSWORD", "valueSource": {"secretKeyRef": {"secret": "db", "version": "3"}}}
                ],
                "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": true},
                "startupProbe": {"tcpSocket": {"port": 8080}}
            }],
            "scaling": {"maxInstanceCount": 10}
        }))
        .unwrap();
        let req = DeployRequest {
            revision: "s-00002-abc".into(),
            image: "r/app:2".into(),
            tag: "c".into(),
            env: vec![
                ("LOG_LEVEL".into(), "debug".into()),
                ("NEW".into(), "1".into()),
            ],
        };
        let out = deploy_template(&tpl, &req).unwrap();
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["revision"], "s-00002-abc");
        assert_eq!(v["serviceAccount"], "app@p.iam.gserviceaccount.com");
        assert_eq!(v["timeout"], "300s");
        assert_eq!(v["containers"][0]["image"], "r/app:2");
        assert_eq!(
            v["containers"][0]["startupProbe"]["tcpSocket"]["port"],
            8080
        );
        assert_eq!(v["containers"][0]["resources"]["cpuIdle"], true);
        assert_eq!(v["containers"][0]["env"][0]["value"], "debug");
        assert_eq!(v["containers"][0]["env"][2]["name"], "NEW");
        assert_eq!(v["scaling"]["maxInstanceCount"], 10);
        let secret = DeployRequest {
            env: vec![("DB_PASSWORD".into(), "x".into())],
            ..req
        };
        assert!(deploy_template(&tpl, &secret).is_err());
    }
}
