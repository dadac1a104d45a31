//! The driver's lease on Kubernetes: a `coordination.k8s.io/v1` Lease
//! `canary-SERVICE` in the configured namespace. `spec.holderIdentity` is
//! the driver (`user@host`), `leaseDurationSeconds`, `acquireTime`,
//! `renewTime` and `leaseTransitions` say what a Kubernetes reader expects
//! (`kubectl get lease` shows the holder); the whole [`LeaseInfo`] (pid,
//! plan, step, gates, a cockpit's request) is the annotation
//! [`ANNOTATION`], as JSON.
//!
//! Only one writer wins: the first driver creates it (POST; a second gets
//! 409 AlreadyExists and reads the winner), every later write is a PUT
//! carrying the `resourceVersion` it was decided on (409 Conflict when
//! anyone — a driver, a cockpit's request, `kubectl annotate` — wrote in
//! between: re-read, decide again; nothing is overwritten blindly). What
//! others put on the object (labels, annotations) is kept. The release
//! deletes it with the resourceVersion as a precondition.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease as KubeLeaseObject;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use serde_json::json;

use super::errors::{classify, timed_out, Call};
use super::KubePlatform;
use crate::core::error::BackendError;
use crate::platform::lease::{requestable, Acquired, Lease, LeaseError, LeaseInfo, RemoteRequest};

/// The annotation holding the whole lease.
pub const ANNOTATION: &str = "canary.dev/lease";

/// Tries before giving up when the object keeps changing under a write.
const TRIES: usize = 5;

/// The Lease's name for a service.
pub fn lease_name(service: &str) -> String {
    format!("canary-{service}")
}

pub struct KubeLease {
    kube: Arc<KubePlatform>,
    name: String,
}

/// The object as read: the lease in it, and the object itself (written
/// back with its resourceVersion).
struct Read {
    object: Option<KubeLeaseObject>,
    lease: Option<LeaseInfo>,
}

impl KubeLease {
    pub fn new(kube: Arc<KubePlatform>) -> KubeLease {
        let name = lease_name(&kube.settings().service_name);
        KubeLease { kube, name }
    }

    async fn api(&self) -> Result<(Api<KubeLeaseObject>, String), LeaseError> {
        let cluster = self.kube.cluster().await.map_err(backend)?;
        Ok((
            Api::namespaced(cluster.client.clone(), &cluster.namespace),
            cluster.namespace.clone(),
        ))
    }

    /// One call within the request timeout, its error classified.
    async fn call<T>(
        &self,
        verb: &str,
        ns: &str,
        f: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, BackendError> {
        let call = Call {
            verb,
            resource: "leases.coordination.k8s.io",
            name: Some(&self.name),
            namespace: ns,
        };
        let limit = self.kube.settings().timeout;
        match tokio::time::timeout(limit, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(e, &call)),
            Err(_) => Err(timed_out(&call, limit)),
        }
    }

    async fn read_all(&self) -> Result<Read, LeaseError> {
        let (api, ns) = self.api().await?;
        let object = self
            .call("get", &ns, api.get_opt(&self.name))
            .await
            .map_err(backend)?;
        let lease = match &object {
            None => None,
            Some(o) => info_of(o)?,
        };
        Ok(Read { object, lease })
    }

    /// Writes `lease` over `read` (created when there was no object);
    /// `Ok(false)` when someone wrote first (409: AlreadyExists or Conflict).
    async fn write(
        &self,
        read: &Read,
        lease: &LeaseInfo,
        took_over: bool,
    ) -> Result<bool, LeaseError> {
        let (api, ns) = self.api().await?;
        let object = object_for(read.object.as_ref(), lease, &self.name, took_over)?;
        let pp = PostParams {
            field_manager: Some(super::FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let result = match &read.object {
            None => self.call("create", &ns, api.create(&pp, &object)).await,
            Some(_) => {
                self.call("update", &ns, api.replace(&self.name, &pp, &object))
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}

fn backend(e: BackendError) -> LeaseError {
    LeaseError::Backend(e.to_string())
}

/// The lease an object holds: the annotation, else (a Lease someone else
/// made, or whose annotation was removed) what its spec says.
fn info_of(o: &KubeLeaseObject) -> Result<Option<LeaseInfo>, LeaseError> {
    if let Some(text) = o
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
    {
        return serde_json::from_str(text).map(Some).map_err(|e| {
            LeaseError::Backend(format!(
                "Lease {}: annotation {ANNOTATION}: not a lease ({e})",
                o.metadata.name.as_deref().unwrap_or("?")
            ))
        });
    }
    let spec = serde_json::to_value(o.spec.clone().unwrap_or_default()).unwrap_or_default();
    let Some(holder) = spec["holderIdentity"].as_str().filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let time = |k: &str| {
        spec[k]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let renewed = time("renewTime").or_else(|| time("acquireTime"));
    let secs = spec["leaseDurationSeconds"].as_i64().unwrap_or(0);
    let at = renewed.unwrap_or_default();
    Ok(Some(LeaseInfo {
        driver: holder.to_string(),
        pid: 0,
        plan: "(not canary's)".into(),
        step: None,
        acquired: time("acquireTime").unwrap_or(at),
        deadline: at + chrono::Duration::seconds(secs),
        renewed,
        phase: None,
        percent: None,
        window_ends: None,
        gates: None,
        request: None,
    }))
}

fn micro(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The object to write: `prior` (its resourceVersion, labels and other
/// annotations kept) with the lease in its spec and annotation.
fn object_for(
    prior: Option<&KubeLeaseObject>,
    lease: &LeaseInfo,
    name: &str,
    took_over: bool,
) -> Result<KubeLeaseObject, LeaseError> {
    let mut object = match prior {
        Some(p) => serde_json::to_value(p).map_err(|e| LeaseError::Backend(e.to_string()))?,
        None => json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "canary"}
            },
            "spec": {"leaseTransitions": 0}
        }),
    };
    let text = serde_json::to_string(lease).map_err(|e| LeaseError::Backend(e.to_string()))?;
    if !object["metadata"]["annotations"].is_object() {
        object["metadata"]["annotations"] = json!({});
    }
    object["metadata"]["annotations"][ANNOTATION] = json!(text);
    let renewed = lease.renewed.unwrap_or_else(Utc::now);
    let transitions =
        object["spec"]["leaseTransitions"].as_i64().unwrap_or(0) + i64::from(took_over);
    object["spec"] = json!({
        "holderIdentity": lease.driver,
        "leaseDurationSeconds": (lease.deadline - renewed).num_seconds().max(1),
        "acquireTime": micro(lease.acquired),
        "renewTime": micro(renewed),
        "leaseTransitions": transitions,
    });
    serde_json::from_value(object).map_err(|e| LeaseError::Backend(format!("Lease {name}: {e}")))
}

#[async_trait]
impl Lease for KubeLease {
    fn location(&self) -> String {
        let ns = self
            .kube
            .settings()
            .namespace
            .clone()
            .unwrap_or_else(|| "the context's namespace".into());
        format!("Lease {} in namespace {ns}", self.name)
    }

    async fn read(&self) -> Result<Option<LeaseInfo>, LeaseError> {
        Ok(self.read_all().await?.lease)
    }

    async fn acquire(&self, me: &LeaseInfo, take_over: bool) -> Result<Acquired, LeaseError> {
        for _ in 0..TRIES {
            let read = self.read_all().await?;
            let acquired = match &read.lease {
                None => Acquired::Fresh,
                Some(h) if h.same_holder(me) => Acquired::Fresh,
                Some(h) if !h.expired(Utc::now()) => {
                    return Err(LeaseError::Held(Box::new(h.clone())))
                }
                Some(h) if !take_over => return Err(LeaseError::Expired(Box::new(h.clone()))),
                Some(h) => Acquired::TookOver(Box::new(h.clone())),
            };
            let took_over = matches!(acquired, Acquired::TookOver(_));
            if self.write(&read, me, took_over).await? {
                return Ok(acquired);
            }
        }
        Err(LeaseError::Backend(format!(
            "{} kept changing while taking it",
            self.location()
        )))
    }

    async fn renew(&self, me: &LeaseInfo) -> Result<LeaseInfo, LeaseError> {
        for _ in 0..TRIES {
            let read = self.read_all().await?;
            let next = match &read.lease {
                Some(h) if h.same_holder(me) => me.renewed_over(h),
                Some(h) => return Err(LeaseError::Lost(format!("taken over by {}", h.describe()))),
                None => return Err(LeaseError::Lost(format!("{} was removed", self.location()))),
            };
            if self.write(&read, &next, false).await? {
                return Ok(next);
            }
        }
        Err(LeaseError::Backend(format!(
            "{} kept changing while renewing it",
            self.location()
        )))
    }

    async fn request(&self, request: &RemoteRequest) -> Result<LeaseInfo, LeaseError> {
        for _ in 0..TRIES {
            let read = self.read_all().await?;
            let next = requestable(read.lease.clone(), &self.location(), request)?;
            if self.write(&read, &next, false).await? {
                return Ok(next);
            }
        }
        Err(LeaseError::Backend(format!(
            "{} kept changing while writing the request",
            self.location()
        )))
    }

    async fn release(&self, me: &LeaseInfo) -> Result<(), LeaseError> {
        for _ in 0..TRIES {
            let read = self.read_all().await?;
            let (Some(object), Some(held)) = (&read.object, &read.lease) else {
                return Ok(());
            };
            if !held.same_holder(me) {
                return Ok(());
            }
            let (api, ns) = self.api().await?;
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: object.metadata.resource_version.clone(),
                    uid: object.metadata.uid.clone(),
                }),
                ..DeleteParams::default()
            };
            match self.call("delete", &ns, api.delete(&self.name, &dp)).await {
                Ok(_) => return Ok(()),
                Err(BackendError::NotFound(_)) => return Ok(()),
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(backend(e)),
            }
        }
        Err(LeaseError::Backend(format!(
            "{} kept changing while giving it back",
            self.location()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_keeps_what_others_put_on_it() {
        let now = Utc::now();
        let me = LeaseInfo::new(
            "ci@runner".into(),
            7,
            "ci".into(),
            now,
            chrono::Duration::seconds(90),
        );
        let first = object_for(None, &me, "canary-backend", false).expect("object");
        assert_eq!(first.metadata.name.as_deref(), Some("canary-backend"));
        let spec = first.spec.clone().expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("ci@runner"));
        assert_eq!(spec.lease_duration_seconds, Some(90));
        assert_eq!(info_of(&first).expect("read"), Some(me.clone()));
        let mut theirs = first.clone();
        theirs.metadata.resource_version = Some("41".into());
        theirs
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert("team".into(), "payments".into());
        let again = object_for(Some(&theirs), &me, "canary-backend", true).expect("object");
        assert_eq!(again.metadata.resource_version.as_deref(), Some("41"));
        assert_eq!(
            again
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("team")),
            Some(&"payments".to_string())
        );
        assert_eq!(again.spec.and_then(|s| s.lease_transitions), Some(1));
    }
}
