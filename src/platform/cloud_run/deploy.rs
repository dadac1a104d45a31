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
use tokio::time::Instant;

use super::{api, convert, CloudRun};
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, Version};
use crate::core::release::DeployRequest;
use crate::core::release_call;
use crate::google::retry::Tries;
use crate::platform::release::{Releases, SnapshotSink};
use crate::platform::Platform;

/// The deploy's request body from the service as read: built by
/// [`release_call::deploy_body`], which the confirmation shows too.
pub fn deploy_patch(
    svc: &api::Service,
    service_url: String,
    request: &DeployRequest,
) -> Result<release_call::DeployBody, BackendError> {
    let read = convert::release_api(svc, service_url);
    release_call::deploy_body(&read, svc.etag.as_deref(), request).map_err(BackendError::Refused)
}

impl CloudRun {
    fn revision_path(&self, revision: &str) -> String {
        format!("{}/revisions/{revision}", self.service_path())
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
        let body = deploy_patch(&current, self.http.url(&self.service_path()), request)?;
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
        if let Some(body) = release_call::untag_body(
            &convert::targets(&svc.traffic),
            svc.etag.as_deref(),
            revision,
        ) {
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
