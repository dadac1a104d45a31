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
//!   Once the PATCH is accepted (or read back as applied), only what the
//!   platform says failed is a failure: a revision still being created when
//!   the time is up, or reads that fail, leave the outcome not known
//!   ([`BackendError::Unconfirmed`], journaled `unknown`).
//! - Delete: `DELETE …/revisions/R`; a failed revision's 0 % tag target
//!   (its URL reaches nothing) is removed first by a traffic PATCH with the
//!   etag, the rest of the traffic as it was. As for traffic changes, an
//!   answer that is neither a clean success nor a clean refusal (of the
//!   PATCH or of the DELETE) is resolved by reading the service again, and
//!   a deletion that fails after the tag went says that the tag went.

use async_trait::async_trait;
use tokio::time::Instant;

use super::write::{clean_refusal, unreadable};
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
    /// for `progress`; at `deadline`, [`BackendError::Timeout`] of `limit`
    /// (the deploy's or the operation's timeout).
    async fn follow_operation(
        &self,
        op: api::Operation,
        deadline: Instant,
        limit: std::time::Duration,
        progress: &SnapshotSink,
    ) -> Result<api::Operation, BackendError> {
        let first = self
            .settings
            .poll_initial
            .min(std::time::Duration::from_millis(100));
        self.poll_operation(op, deadline, first, limit, Some(progress))
            .await
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
                    return self
                        .settle_deploy(request, Some(op), deadline, progress)
                        .await
                }
                Err(e) if clean_refusal(&e) && tries.count() == 0 => return Err(e),
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
                return self.settle_deploy(request, None, deadline, progress).await;
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

    /// Once the deploy's PATCH was accepted (`op`, its operation), or read
    /// back as applied: the revision exists, and what becomes of it is read.
    /// A failure is what the platform says failed (the revision's own
    /// conditions say it best, else the operation's error); anything else
    /// that stops the wait (the time is up while it is still being created,
    /// the operation or the reads fail) leaves the outcome not known: the
    /// revision may still become ready.
    async fn settle_deploy(
        &self,
        request: &DeployRequest,
        op: Option<api::Operation>,
        deadline: Instant,
        progress: &SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        let op_failed = match op {
            None => None,
            Some(op) => match self
                .follow_operation(op, deadline, self.settings.deploy_timeout, progress)
                .await
            {
                Ok(op) => op.error.map(|e| {
                    if e.message.is_empty() {
                        format!("operation {} failed with code {}", op.name, e.code)
                    } else {
                        e.message
                    }
                }),
                // The operation was lost or is slow: the revision tells.
                Err(e) => {
                    tracing::warn!(error = %e, "following the deploy's operation failed; reading the revision");
                    None
                }
            },
        };
        match (
            self.until_settled(&request.revision, deadline, progress)
                .await,
            op_failed,
        ) {
            (Err(e @ BackendError::Failed(_)), _) => Err(e),
            (_, Some(m)) => Err(BackendError::Failed(m)),
            (Ok(s), None) => Ok(s),
            (Err(e), None) => Err(BackendError::Unconfirmed {
                message: format!(
                    "{} was created but has not settled: {e}; it may still become ready or fail \
                     (`canary describe {}` tells)",
                    request.revision, request.revision
                ),
                read_back: None,
            }),
        }
    }
}

/// A failed revision's reason: plain words, then the platform's own (as
/// its row says it, [`super::inspect::failure_message`]).
fn failure(r: &crate::core::model::Revision) -> BackendError {
    BackendError::Failed(
        super::inspect::failure_message(&r.details)
            .or_else(|| r.status_message.clone())
            .unwrap_or_else(|| "the revision did not become ready".into()),
    )
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
        let untagged = self.untag(&svc, revision, deadline, &progress).await?;
        let deleted = self.send_delete(revision, deadline, &progress).await;
        if untagged.is_empty() {
            return deleted;
        }
        // That traffic change landed: whatever became of the deletion, its
        // error says so (the journal keeps it with the deletion's record).
        deleted.map_err(|e| {
            with_note(
                e,
                &format!(
                    "the tag `{}` was removed from {revision} first (that traffic change landed)",
                    untagged.join("`, `")
                ),
            )
        })
    }
}

impl CloudRun {
    /// Removes the 0 % tag targets of `revision` (a failed one's: its URL
    /// reaches nothing) by a traffic PATCH with the etag; returns the tags
    /// removed (none when it has none). An unclear answer is read back: the
    /// tags gone means removed, still there means nothing was changed.
    async fn untag(
        &self,
        svc: &api::Service,
        revision: &str,
        deadline: Instant,
        progress: &SnapshotSink,
    ) -> Result<Vec<String>, BackendError> {
        let current = convert::targets(&svc.traffic);
        let Some(body) = release_call::untag_body(&current, svc.etag.as_deref(), revision) else {
            return Ok(Vec::new());
        };
        let named = |t: &release_call::Target| t.revision.as_deref() == Some(revision);
        let tags: Vec<String> = current
            .iter()
            .filter(|t| named(t))
            .filter_map(|t| t.tag.clone())
            .collect();
        tracing::info!(%revision, "PATCH traffic: removing the tag of a revision to delete");
        let sent: Result<api::Operation, BackendError> = self
            .http
            .patch(
                &self.service_path(),
                &[("updateMask", "traffic")],
                &body,
                &self.what(),
            )
            .await;
        let unclear = match sent {
            Ok(op) => match self
                .follow_operation(op, deadline, self.settings.operation_timeout, progress)
                .await
            {
                Ok(op) => match op.error {
                    Some(e) => {
                        return Err(BackendError::Failed(format!(
                            "removing the tag of {revision} failed: {}",
                            e.message
                        )))
                    }
                    None => return Ok(tags),
                },
                Err(e) => e,
            },
            Err(e) if clean_refusal(&e) => return Err(e),
            Err(e) => e,
        };
        tracing::warn!(error = %unclear, "the untag's answer is not clean; re-reading the service");
        let call = format!("removing the tag of {revision}");
        let tries = Tries::new(&self.settings.retry, self.observer(), &call);
        match self.read_service().await {
            Ok(now) if !convert::targets(&now.traffic).iter().any(named) => {
                tries.read_back(&unclear, "applied");
                Ok(tags)
            }
            Ok(_) => {
                tries.read_back(&unclear, "not applied");
                Err(BackendError::Failed(format!(
                    "removing the tag of {revision}: {unclear}; not applied: the service was \
                     read back with the tag, nothing was deleted"
                )))
            }
            Err(r) => Err(BackendError::Unconfirmed {
                message: format!(
                    "removing the tag of {revision}: {unclear}; re-reading the service failed \
                     too: {r}; nothing was deleted"
                ),
                read_back: None,
            }),
        }
    }

    /// `DELETE …/revisions/R`, then its operation. Every answer that is not
    /// a clean success or a clean refusal is read back: the revision gone
    /// means deleted; still listed means not deleted (sent again within
    /// the retry policy), or, once the API accepted the deletion, not known
    /// yet; no read at all is [`BackendError::Unconfirmed`].
    async fn send_delete(
        &self,
        revision: &str,
        deadline: Instant,
        progress: &SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError> {
        tracing::info!(%revision, "DELETE revision");
        let what = format!("revision {revision} of {}", self.what());
        let call = format!("deleting {revision}");
        let mut tries = Tries::new(&self.settings.retry, self.observer(), &call);
        let unclear = loop {
            let err = match self
                .http
                .delete::<api::Operation>(&self.revision_path(revision), &[], &what)
                .await
            {
                Ok(op) => match self
                    .follow_operation(op, deadline, self.settings.operation_timeout, progress)
                    .await
                {
                    Ok(op) => match op.error {
                        Some(e) => return Err(BackendError::Failed(e.message)),
                        None => return self.read_deleted(revision, deadline).await,
                    },
                    // Accepted: not sent again, but read back.
                    Err(e) => break e,
                },
                // Gone already (an earlier try landed): done.
                Err(BackendError::NotFound(_)) if tries.count() > 0 => {
                    return self.read_deleted(revision, deadline).await;
                }
                Err(e) if clean_refusal(&e) => return Err(e),
                Err(e) => e,
            };
            tracing::warn!(error = %err, "the DELETE's answer is not clean; re-reading the service");
            match self.snapshot().await {
                Ok(s) if s.revision(revision).is_none() => {
                    tries.read_back(&err, "applied");
                    return Ok(s);
                }
                Ok(_) if tries.again(&err).await => {}
                Ok(_) => {
                    tries.read_back(&err, "not applied");
                    return Err(with_note(
                        tries.gave_up(err),
                        "not deleted: the revision was read back, still listed",
                    ));
                }
                Err(r) => return Err(unreadable(&err, r)),
            }
        };
        match self.snapshot().await {
            Ok(s) if s.revision(revision).is_none() => {
                tries.read_back(&unclear, "applied");
                Ok(s)
            }
            Ok(_) => Err(BackendError::Unconfirmed {
                message: format!(
                    "{unclear}; the API accepted the deletion of {revision}, which is still listed"
                ),
                read_back: None,
            }),
            Err(r) => Err(unreadable(&unclear, r)),
        }
    }

    /// The service once the operation said `revision` is deleted (a
    /// transient read failure tried again until the deadline).
    async fn read_deleted(
        &self,
        revision: &str,
        deadline: Instant,
    ) -> Result<ServiceSnapshot, BackendError> {
        let mut delay = std::time::Duration::from_millis(100);
        let snap = loop {
            match self.snapshot().await {
                Ok(s) => break s,
                Err(e) if e.is_transient() && Instant::now() + delay <= deadline => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.settings.poll_max);
                }
                Err(e) => {
                    return Err(BackendError::Unconfirmed {
                        message: format!(
                            "the API says {revision} is deleted, but the service cannot be read \
                             to confirm it: {e}"
                        ),
                        read_back: None,
                    })
                }
            }
        };
        if snap.revision(revision).is_some() {
            return Err(BackendError::Failed(format!(
                "the operation finished but {revision} is still listed"
            )));
        }
        Ok(snap)
    }
}

/// `e` with `note` after its message (its kind kept).
fn with_note(e: BackendError, note: &str) -> BackendError {
    let add = |m: String| format!("{m} ({note})");
    match e {
        BackendError::Conflict(m) => BackendError::Conflict(add(m)),
        BackendError::Refused(m) => BackendError::Refused(add(m)),
        BackendError::Auth(m) => BackendError::Auth(add(m)),
        BackendError::NotFound(m) => BackendError::NotFound(add(m)),
        BackendError::Failed(m) => BackendError::Failed(add(m)),
        BackendError::Other(m) => BackendError::Other(add(m)),
        BackendError::Unavailable {
            message,
            retry_after,
        } => BackendError::Unavailable {
            message: add(message),
            retry_after,
        },
        BackendError::Unconfirmed { message, read_back } => BackendError::Unconfirmed {
            message: add(message),
            read_back,
        },
        e @ BackendError::Timeout(_) => BackendError::Failed(add(e.to_string())),
    }
}
