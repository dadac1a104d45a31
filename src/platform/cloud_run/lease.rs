//! The driver's lease on Cloud Run: the service annotation
//! [`ANNOTATION`] (the [`LeaseInfo`] as JSON), written with
//! `PATCH …?updateMask=annotations` and the etag just read, so that of two
//! drivers writing at once only one wins (the other gets a 409, re-reads
//! and finds the winner). Other annotations are kept as they are.
//!
//! Every write moves the service's etag: a traffic change decided on the
//! version before it is refused as a conflict and asked again (`canary
//! release` sends it again by itself when only the version moved). Hence
//! the lease is renewed rarely (see `cli::unattended`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::CloudRun;
use crate::core::error::BackendError;
use crate::platform::lease::{requestable, Acquired, Lease, LeaseError, LeaseInfo, RemoteRequest};

/// The annotation holding the lease.
pub const ANNOTATION: &str = "canary.dev/lease";

/// Tries before giving up when the service keeps changing under a write.
const TRIES: usize = 5;

pub struct CloudRunLease {
    run: Arc<CloudRun>,
}

impl CloudRunLease {
    pub fn new(run: Arc<CloudRun>) -> CloudRunLease {
        CloudRunLease { run }
    }

    fn backend(e: BackendError) -> LeaseError {
        LeaseError::Backend(e.to_string())
    }

    /// The service's annotations, the lease in them, and the etag.
    async fn read_all(
        &self,
    ) -> Result<
        (
            std::collections::BTreeMap<String, String>,
            Option<LeaseInfo>,
            String,
        ),
        LeaseError,
    > {
        let svc = self.run.read_service().await.map_err(Self::backend)?;
        let lease = match svc.annotations.get(ANNOTATION) {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                LeaseError::Backend(format!("annotation {ANNOTATION}: not a lease ({e})"))
            })?),
        };
        Ok((svc.annotations, lease, svc.etag.unwrap_or_default()))
    }

    /// Writes `lease` (or removes it) at `etag`; `Ok(false)` on a conflict.
    async fn write(
        &self,
        mut annotations: std::collections::BTreeMap<String, String>,
        lease: Option<&LeaseInfo>,
        etag: &str,
    ) -> Result<bool, LeaseError> {
        match lease {
            Some(l) => {
                let text =
                    serde_json::to_string(l).map_err(|e| LeaseError::Backend(e.to_string()))?;
                annotations.insert(ANNOTATION.into(), text);
            }
            None => {
                annotations.remove(ANNOTATION);
            }
        }
        match self.run.patch_annotations(&annotations, etag).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(Self::backend(e)),
        }
    }
}

#[async_trait]
impl Lease for CloudRunLease {
    fn location(&self) -> String {
        format!(
            "annotation {ANNOTATION} of {}",
            self.run.service_path().trim_start_matches("v2/")
        )
    }

    async fn read(&self) -> Result<Option<LeaseInfo>, LeaseError> {
        Ok(self.read_all().await?.1)
    }

    async fn acquire(&self, me: &LeaseInfo, take_over: bool) -> Result<Acquired, LeaseError> {
        for _ in 0..TRIES {
            let (annotations, held, etag) = self.read_all().await?;
            let acquired = match held {
                None => Acquired::Fresh,
                Some(h) if h.same_holder(me) => Acquired::Fresh,
                Some(h) if !h.expired(Utc::now()) => return Err(LeaseError::Held(Box::new(h))),
                Some(h) if !take_over => return Err(LeaseError::Expired(Box::new(h))),
                Some(h) => Acquired::TookOver(Box::new(h)),
            };
            if self.write(annotations, Some(me), &etag).await? {
                return Ok(acquired);
            }
        }
        Err(LeaseError::Backend(format!(
            "the service kept changing while writing {ANNOTATION}"
        )))
    }

    async fn renew(&self, me: &LeaseInfo) -> Result<LeaseInfo, LeaseError> {
        for _ in 0..TRIES {
            let (annotations, held, etag) = self.read_all().await?;
            let next = match held {
                Some(h) if h.same_holder(me) => me.renewed_over(&h),
                Some(h) => return Err(LeaseError::Lost(format!("taken over by {}", h.describe()))),
                None => return Err(LeaseError::Lost(format!("{ANNOTATION} was removed"))),
            };
            if self.write(annotations, Some(&next), &etag).await? {
                return Ok(next);
            }
        }
        Err(LeaseError::Backend(format!(
            "the service kept changing while renewing {ANNOTATION}"
        )))
    }

    async fn request(&self, request: &RemoteRequest) -> Result<LeaseInfo, LeaseError> {
        for _ in 0..TRIES {
            let (annotations, held, etag) = self.read_all().await?;
            let next = requestable(held, &self.location(), request)?;
            if self.write(annotations, Some(&next), &etag).await? {
                return Ok(next);
            }
        }
        Err(LeaseError::Backend(format!(
            "the service kept changing while writing the request into {ANNOTATION}"
        )))
    }

    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        for _ in 0..TRIES {
            let (annotations, held, etag) = self.read_all().await?;
            if !held.is_some_and(|h| h.same_holder(me)) {
                return Ok(());
            }
            if self.write(annotations, None, &etag).await? {
                return Ok(());
            }
        }
        Err(LeaseError::Backend(format!(
            "the service kept changing while removing {ANNOTATION}"
        )))
    }
}
