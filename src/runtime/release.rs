//! Deploys and deletions as background tasks: the request is journaled
//! (fsynced) before anything is sent, and nothing is sent without that
//! record; every read made while they run goes to the screen (the new
//! revision's conditions progress there); the outcome is journaled before
//! the screen hears of it.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::record::Recorder;
use crate::core::action::Action;
use crate::core::error::BackendError;
use crate::core::release::{ReleaseEffect, ReleaseEvent};
use crate::journal::release::{DeleteRequested, DeployFinished, DeployRequested, RevisionDeleted};
use crate::journal::Event;
use crate::platform::release::SnapshotSink;
use crate::platform::Platform;

/// Every read while the task runs becomes a `ServiceLoaded`, stamped with
/// the write generation published when it arrives (a read the deploy made
/// before a traffic change landed can then be dropped as stale, as the
/// poller's are).
fn sink(tx: &mpsc::Sender<Action>, generation: &watch::Receiver<u64>) -> SnapshotSink {
    let tx = tx.clone();
    let generation = generation.clone();
    Arc::new(move |snapshot| {
        let _ = tx.try_send(Action::ServiceLoaded {
            snapshot,
            generation: *generation.borrow(),
        });
    })
}

pub(super) fn execute(
    effect: ReleaseEffect,
    platform: &Arc<dyn Platform>,
    rec: &Recorder,
    generation: &watch::Receiver<u64>,
    tx: &mpsc::Sender<Action>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let (p, rec, tx) = (platform.clone(), rec.clone(), tx.clone());
    let gen = generation.clone();
    match effect {
        ReleaseEffect::Deploy {
            id,
            request,
            expect,
            reason,
            before,
        } => {
            tracing::info!(id, revision = %request.revision, image = %request.image, "deploy sent");
            let requested = rec.submit(Event::DeployRequested(DeployRequested {
                id,
                revision: request.revision.clone(),
                image: request.image.clone(),
                tag: request.tag.clone(),
                env_keys: request.env_keys(),
                traffic: before,
                reason,
                pid: Some(std::process::id()),
            }));
            tasks.spawn(async move {
                let started = Instant::now();
                let result = match requested.done().await {
                    Err(e) => {
                        let _ = tx.send(Action::JournalFailed(e.clone())).await;
                        Err(BackendError::Refused(format!(
                            "not sent: the audit journal cannot be written ({e})"
                        )))
                    }
                    Ok(()) => match p.releases() {
                        Ok(r) => r.deploy(&request, &expect, sink(&tx, &gen)).await,
                        Err(why) => Err(BackendError::Refused(why)),
                    },
                };
                let event = Event::DeployFinished(DeployFinished::of(
                    id,
                    &request.revision,
                    &result,
                    started.elapsed().as_millis() as i64,
                ));
                if let Err(e) = rec.record(event).await {
                    let _ = tx.send(Action::JournalFailed(e)).await;
                }
                let _ = tx
                    .send(Action::Release(ReleaseEvent::Deployed { id, result }))
                    .await;
            });
        }
        ReleaseEffect::Delete {
            id,
            revisions,
            reason,
            prune,
        } => {
            let kind = if prune { "prune" } else { "delete" };
            tracing::info!(id, revisions = ?revisions, "deletion sent");
            let requested = rec.submit(Event::RevisionDeleteRequested(DeleteRequested {
                id,
                revisions: revisions.clone(),
                kind: kind.into(),
                reason,
            }));
            tasks.spawn(async move {
                let journaled = requested.done().await;
                let n = revisions.len();
                for (i, revision) in revisions.into_iter().enumerate() {
                    let result = match &journaled {
                        Err(e) => Err(BackendError::Refused(format!(
                            "not sent: the audit journal cannot be written ({e})"
                        ))),
                        Ok(()) => match p.releases() {
                            Ok(r) => r.delete_revision(&revision, sink(&tx, &gen)).await,
                            Err(why) => Err(BackendError::Refused(why)),
                        },
                    };
                    let failed = result.is_err();
                    let event = Event::RevisionDeleted(RevisionDeleted::of(id, &revision, &result));
                    if let Err(e) = rec.record(event).await {
                        let _ = tx.send(Action::JournalFailed(e)).await;
                    }
                    // The first failure ends a prune: what is left stays.
                    let last = failed || i + 1 == n;
                    let _ = tx
                        .send(Action::Release(ReleaseEvent::Deleted {
                            id,
                            revision,
                            result,
                            last,
                        }))
                        .await;
                    if last {
                        break;
                    }
                }
            });
        }
    }
}
