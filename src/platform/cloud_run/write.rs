//! A traffic change that is never guessed: every answer that is not a clean
//! success or a clean refusal is resolved by re-reading the service.
//!
//! - Clean success: the operation is polled until done, then the service is
//!   re-read until it has settled.
//! - Clean refusal (409 etag mismatch, 400, 401/403, 404): nothing was
//!   applied; the error goes back as it is.
//! - Anything else (429, 5xx, a closed connection, a timeout, a truncated,
//!   garbage or oversize body, an operation the API lost): the service is
//!   read again. Its etag unchanged means **not applied**: the PATCH is sent
//!   again with the same etag (it cannot overwrite anyone), within the retry
//!   policy. Our split in place means **applied**. A third split, or no read
//!   at all, is [`BackendError::Unconfirmed`], with what was read.

use tokio::time::Instant;

use super::{api, convert, CloudRun};
use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, TrafficSplit, Version};
use crate::google::retry::Tries;
use crate::platform::Platform;

/// What a re-read says became of a change.
enum ReadBack {
    Applied,
    /// The service is still at the etag the change was decided on.
    NotApplied(Box<api::Service>),
    /// Someone (maybe us, then someone else) set another split.
    Other(TrafficSplit),
    Unreadable(BackendError),
}

/// Refusals that prove nothing was applied.
pub(super) fn clean_refusal(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::Conflict(_)
            | BackendError::Refused(_)
            | BackendError::Auth(_)
            | BackendError::NotFound(_)
    )
}

async fn read_back(cr: &CloudRun, split: &TrafficSplit, expect: &Version) -> ReadBack {
    let svc = match cr.read_service().await {
        Ok(s) => s,
        Err(e) => return ReadBack::Unreadable(e),
    };
    if svc.etag.as_deref() == Some(expect.0.as_str()) {
        return ReadBack::NotApplied(Box::new(svc));
    }
    let now = match convert::snapshot(&svc, &[]) {
        Ok(s) => s.traffic,
        Err(e) => return ReadBack::Unreadable(e),
    };
    *cr.last() = Some(svc);
    if &now == split {
        ReadBack::Applied
    } else {
        ReadBack::Other(now)
    }
}

fn third_split(why: &BackendError, now: TrafficSplit) -> BackendError {
    BackendError::Unconfirmed {
        message: format!(
            "{why}; the service now shows {now}, neither the split before nor the one asked for \
             (someone else changed it)"
        ),
        read_back: Some(now),
    }
}

pub(super) fn unreadable(why: &BackendError, e: BackendError) -> BackendError {
    BackendError::Unconfirmed {
        message: format!("{why}; re-reading the service failed too: {e}"),
        read_back: None,
    }
}

pub(super) async fn set_traffic(
    cr: &CloudRun,
    split: &TrafficSplit,
    expect: &Version,
) -> Result<ServiceSnapshot, BackendError> {
    let deadline = Instant::now() + cr.settings.operation_timeout;
    // The service as last read, when that is the version the operator saw:
    // no second read, one round trip less (a rollback goes out at once).
    // The PATCH carries its etag, so the API refuses it (409 ABORTED) if
    // someone changed the service since; otherwise read it again first.
    let cached = cr
        .last()
        .clone()
        .filter(|svc| svc.etag.as_deref().is_some_and(|e| e == expect.0));
    let mut current = match cached {
        Some(svc) => svc,
        None => {
            let current = cr.read_service().await?;
            let now_at = current.etag.clone().unwrap_or_default();
            if now_at != expect.0 {
                *cr.last() = Some(current);
                return Err(BackendError::Conflict(format!(
                    "{} changed since it was read (etag {} is now {now_at}): nothing was sent",
                    cr.settings.service, expect.0
                )));
            }
            current
        }
    };
    let call = format!("changing the traffic of {}", cr.settings.service);
    let mut tries = Tries::new(&cr.settings.retry, cr.observer(), &call);
    loop {
        let body = convert::traffic_patch(split, &current.traffic, current.etag.as_deref());
        tracing::info!(split = %split.to_flag(), service = %cr.settings.service, attempt = tries.count() + 1, "PATCH traffic");
        let sent: Result<api::Operation, BackendError> = cr
            .http
            .patch(
                &cr.service_path(),
                &[("updateMask", "traffic")],
                &body,
                &cr.what(),
            )
            .await;
        let err = match sent {
            Ok(op) => return follow(cr, op, split, expect, deadline, &tries).await,
            // A 409 on a retry may be our own earlier PATCH having landed.
            Err(e) if clean_refusal(&e) && !(tries.count() > 0 && e.is_conflict()) => {
                return Err(e)
            }
            Err(e) => e,
        };
        tracing::warn!(error = %err, "the PATCH's answer is not clean; re-reading the service");
        match read_back(cr, split, expect).await {
            ReadBack::Applied => {
                tries.read_back(&err, "applied");
                return settled(cr, deadline).await;
            }
            ReadBack::NotApplied(svc) => {
                if err.is_conflict() || !tries.again(&err).await {
                    tries.read_back(&err, "not applied");
                    return Err(not_applied(tries.gave_up(err)));
                }
                current = *svc;
            }
            ReadBack::Other(now) => return Err(third_split(&err, now)),
            ReadBack::Unreadable(e) => return Err(unreadable(&err, e)),
        }
    }
}

/// Says that nothing was applied (the service was read back unchanged).
fn not_applied(e: BackendError) -> BackendError {
    const NOT: &str = "not applied: the service was read back unchanged";
    match e {
        BackendError::Unavailable {
            message,
            retry_after,
        } => BackendError::Unavailable {
            message: format!("{message} ({NOT})"),
            retry_after,
        },
        BackendError::Other(m) => BackendError::Failed(format!("{m} ({NOT})")),
        other => other,
    }
}

/// After an accepted PATCH: the operation, then the settled service.
async fn follow(
    cr: &CloudRun,
    op: api::Operation,
    split: &TrafficSplit,
    expect: &Version,
    deadline: Instant,
    tries: &Tries<'_>,
) -> Result<ServiceSnapshot, BackendError> {
    let op = match cr.wait(op, deadline).await {
        Ok(op) => op,
        Err(e) => {
            let e = match e {
                BackendError::Timeout(d) => BackendError::Other(format!(
                    "no confirmation within {}",
                    crate::core::duration::human(d)
                )),
                other => other,
            };
            return match read_back(cr, split, expect).await {
                ReadBack::Applied => {
                    tries.read_back(&e, "applied");
                    settled(cr, deadline).await
                }
                ReadBack::NotApplied(_) => {
                    tries.read_back(&e, "not applied");
                    Err(BackendError::Failed(format!(
                        "{e}; not applied: the service was read back unchanged"
                    )))
                }
                ReadBack::Other(now) => Err(third_split(&e, now)),
                ReadBack::Unreadable(r) => Err(unreadable(&e, r)),
            };
        }
    };
    if let Some(err) = op.error {
        tracing::warn!(operation = %op.name, code = err.code, message = %err.message, "traffic change failed");
        return Err(BackendError::Failed(if err.message.is_empty() {
            format!("operation {} failed with code {}", op.name, err.code)
        } else {
            err.message
        }));
    }
    settled(cr, deadline).await
}

/// The service once settled (or as it is at the deadline). The change is
/// known to be applied here: a failing re-read says so.
async fn settled(cr: &CloudRun, deadline: Instant) -> Result<ServiceSnapshot, BackendError> {
    match cr.settled_snapshot(deadline).await {
        Ok(s) => Ok(s),
        Err(e) => match cr.snapshot().await {
            Ok(s) => Ok(s),
            Err(_) => Err(BackendError::Unconfirmed {
                message: format!(
                    "the platform accepted the change, but the service could not be read back: {e}"
                ),
                read_back: None,
            }),
        },
    }
}
