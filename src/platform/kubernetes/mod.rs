//! Kubernetes through its API (kube-rs), in one of two traffic modes:
//!
//! - **blue/green** ([`bluegreen`]): two Deployments are the revisions; the
//!   Service's `spec.selector[selector_key]` names the colour that serves,
//!   all or nothing. A switch sends the whole selector (an atomic map) as a
//!   merge patch carrying the Service's `resourceVersion`, plus a record of
//!   the switch in an annotation ([`SWITCH_ANNOTATION`]): which colour
//!   served before, when, and the pod template it ran — so a rollback knows
//!   where to go and the old colour's keep-warm countdown survives a restart
//!   of the cockpit. A colour scaled to 0 is scaled back up, and waited for,
//!   before the selector moves to it.
//! - **weights** ([`weights`]): an HTTPRoute's `rules[].backendRefs[]` point
//!   at one Service per revision; a split is written as weights (= the
//!   percentages) into every rule that carries them, all rules sent whole
//!   with the route's `resourceVersion`; the change is done when every
//!   parent (Gateway) shows this generation `Accepted` and `ResolvedRefs`.
//!
//! Both show each revision's Deployment: image, age, replicas, rollout
//! state, recent Events (the detail view). Every write carries the
//! `resourceVersion` it was decided on: a 409 is a
//! [`BackendError::Conflict`] (re-read, show, ask again). Another controller
//! owning the object ([`owners`]) makes the service read-only, saying why.

mod bluegreen;
pub mod cluster;
pub mod convert;
pub mod errors;
pub mod lease;
pub mod logs;
pub mod owners;
pub mod route;
mod weights;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};

use crate::config::KubeMode;
use crate::core::error::BackendError;
use crate::core::model::{PlatformInfo, Revision, ServiceSnapshot, TrafficSplit, Version};
use crate::platform::Platform;
pub use cluster::Cluster;
use convert::{readiness, rollout, Condition, Replicas, Rollout};
use errors::{classify, timed_out, with_note, Call};
pub use owners::FIELD_MANAGER;

/// Where the cockpit records a blue/green switch on the Service.
pub const SWITCH_ANNOTATION: &str = "canary-cockpit.dev/last-switch";
/// Where it records a colour's replicas when scaling it to 0.
pub const REPLICAS_ANNOTATION: &str = "canary-cockpit.dev/replicas-before-scale-down";

/// Recent Events shown per revision.
const EVENTS_SHOWN: usize = 5;

/// Which cluster, which objects, which mode.
#[derive(Clone, Debug)]
pub struct KubeSettings {
    /// `None`: `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub mode: KubeMode,
    /// Shown in the header.
    pub service_name: String,
    pub keep_warm: Duration,
    /// Per API request.
    pub timeout: Duration,
    /// How long a change may take to be in effect.
    pub apply_timeout: Duration,
    /// Between two reads while waiting for a change to take effect.
    pub poll: Duration,
}

impl KubeSettings {
    pub fn new(mode: KubeMode, service_name: impl Into<String>) -> KubeSettings {
        KubeSettings {
            kubeconfig: None,
            context: None,
            namespace: None,
            mode,
            service_name: service_name.into(),
            keep_warm: Duration::from_secs(15 * 60),
            timeout: Duration::from_secs(10),
            apply_timeout: Duration::from_secs(300),
            poll: Duration::from_millis(250),
        }
    }

    /// The revisions (Deployments), in configured order.
    pub fn deployments(&self) -> Vec<String> {
        match &self.mode {
            KubeMode::BlueGreen { deployments, .. } => deployments.values().cloned().collect(),
            KubeMode::Weights { backends, .. } => backends.keys().cloned().collect(),
        }
    }
}

/// One Deployment as read, reduced to what the cockpit shows.
#[derive(Clone, Debug)]
pub(crate) struct DeploymentView {
    pub name: String,
    pub found: bool,
    pub image: String,
    pub images: Vec<String>,
    pub created: DateTime<Utc>,
    pub replicas: Replicas,
    pub rollout: Rollout,
    pub resource_version: String,
    /// A hash of the pod template: the version it runs.
    pub template: String,
    /// `spec.selector.matchLabels`, for its pods.
    pub pod_selector: BTreeMap<String, String>,
    /// Replicas recorded when the cockpit scaled it to 0.
    pub replicas_before: Option<i32>,
    /// Environment, limits, port and conditions, as every platform's
    /// revision carries them (the platform lines are added per snapshot).
    pub details: crate::core::details::RevisionDetails,
}

impl DeploymentView {
    fn from(name: &str, d: Option<Deployment>) -> DeploymentView {
        let Some(d) = d else {
            return DeploymentView {
                name: name.to_string(),
                found: false,
                image: "—".into(),
                images: Vec::new(),
                created: DateTime::default(),
                replicas: Replicas::default(),
                rollout: Rollout::Failed("the Deployment does not exist".into()),
                resource_version: String::new(),
                template: String::new(),
                pod_selector: BTreeMap::new(),
                replicas_before: None,
                details: Default::default(),
            };
        };
        let spec = d.spec.clone();
        let status = d.status.clone().unwrap_or_default();
        let images: Vec<String> = spec
            .template
            .spec
            .as_ref()
            .map(|p| {
                p.containers
                    .iter()
                    .filter_map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default();
        let replicas = Replicas {
            desired: spec.replicas.unwrap_or(1),
            current: status.replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
        };
        let conditions: Vec<Condition> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| Condition {
                kind: c.type_.clone().unwrap_or_default(),
                status: c.status.clone().unwrap_or_default(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                since: c.last_transition_time.as_ref().map(convert::to_chrono),
            })
            .collect();
        let details = convert::revision_details(&spec.template, &conditions);
        let template = serde_json::to_string(&spec.template).unwrap_or_default();
        DeploymentView {
            name: name.to_string(),
            found: true,
            image: images.first().cloned().unwrap_or_else(|| "—".into()),
            images,
            created: d
                .metadata
                .creation_timestamp
                .as_ref()
                .map(convert::to_chrono)
                .unwrap_or_default(),
            rollout: rollout(&replicas, spec.paused.unwrap_or(false), &conditions),
            replicas,
            resource_version: d.metadata.resource_version.clone().unwrap_or_default(),
            template: fnv(&template),
            pod_selector: spec.selector.match_labels.clone().unwrap_or_default(),
            replicas_before: d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REPLICAS_ANNOTATION))
                .and_then(|v| v.parse().ok()),
            details,
        }
    }

    /// The revision as the cockpit models it; `cold_ok`: a colour at 0
    /// counts as ready (blue/green scales it up before switching to it).
    fn revision(&self, tag: Option<String>, cold_ok: bool) -> Revision {
        let (ready, why) = if self.found && cold_ok && self.replicas.desired == 0 {
            // Going to 0 or at 0: a switch to it scales it up and waits for
            // it first, so a rollback to it is never refused for being cold.
            readiness(&Rollout::ScaledToZero, &self.replicas, true)
        } else if self.found {
            readiness(&self.rollout, &self.replicas, cold_ok)
        } else {
            (false, Some("the Deployment does not exist".into()))
        };
        Revision {
            name: self.name.clone(),
            tag,
            tag_url: None,
            image: self.image.clone(),
            created: self.created,
            ready,
            status_message: why,
            details: self.details.clone(),
        }
    }
}

/// Appends per-revision `(label, value)` lines to the revisions'
/// [`crate::core::details::RevisionDetails::platform`].
fn attach(snap: &mut ServiceSnapshot, lines: BTreeMap<String, Vec<(String, String)>>) {
    for (name, lines) in lines {
        if let Some(r) = snap.revisions.iter_mut().find(|r| r.name == name) {
            r.details.platform.extend(lines);
        }
    }
}

/// FNV-1a, 64 bits, as hex: a short stable fingerprint (not a security hash).
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A colour seen serving, since when, and the colour before it with the
/// template it ran.
type Seen = (String, DateTime<Utc>, Option<(String, String)>);

/// What is remembered between calls: the last read (for previews, which do
/// no I/O) and, for switches made outside the cockpit, when each colour was
/// first seen serving.
#[derive(Debug, Default)]
struct Memory {
    last: Option<bluegreen::Observed>,
    last_route: Option<weights::Observed>,
    seen: Option<Seen>,
}

/// A Kubernetes service, read and steered through the API.
pub struct KubePlatform {
    settings: KubeSettings,
    cluster: tokio::sync::OnceCell<Cluster>,
    memory: Mutex<Memory>,
}

impl std::fmt::Debug for KubePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubePlatform")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KubePlatform {
    /// No I/O: the kubeconfig is read on first use (or by [`Self::connect`]).
    pub fn new(settings: KubeSettings) -> KubePlatform {
        KubePlatform {
            settings,
            cluster: tokio::sync::OnceCell::new(),
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Reads the kubeconfig, gets the first token (an exec plugin may
    /// prompt on the terminal now: call this before the screen is taken)
    /// and reads the service once: a missing object or permission fails here,
    /// before the cockpit starts.
    pub async fn connect(settings: KubeSettings) -> Result<KubePlatform, BackendError> {
        let p = KubePlatform::new(settings);
        let cluster = Cluster::open(
            &p.settings.kubeconfig,
            p.settings.context.as_deref(),
            p.settings.namespace.as_deref(),
            p.settings.timeout,
            true,
        )
        .await?;
        let _ = p.cluster.set(cluster);
        p.snapshot().await?;
        Ok(p)
    }

    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client (built on first use).
    pub async fn cluster(&self) -> Result<&Cluster, BackendError> {
        let s = &self.settings;
        self.cluster
            .get_or_try_init(|| {
                Cluster::open(
                    &s.kubeconfig,
                    s.context.as_deref(),
                    s.namespace.as_deref(),
                    s.timeout,
                    false,
                )
            })
            .await
    }

    fn namespace(&self) -> String {
        self.cluster
            .get()
            .map(|c| c.namespace.clone())
            .or_else(|| self.settings.namespace.clone())
            .unwrap_or_else(|| "default".into())
    }

    /// One call within the request timeout, its error classified.
    async fn call<T, F>(&self, call: Call<'_>, f: F) -> Result<T, BackendError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(self.settings.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(e, &call)),
            Err(_) => Err(timed_out(&call, self.settings.timeout)),
        }
    }

    /// Every configured Deployment (missing ones as such), read together.
    async fn deployments(&self) -> Result<Vec<DeploymentView>, BackendError> {
        let cluster = self.cluster().await?;
        let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let names = self.settings.deployments();
        let reads = names.iter().map(|name| {
            let api = api.clone();
            async move {
                let call = Call {
                    verb: "get",
                    resource: "deployments",
                    name: Some(name),
                    namespace: &cluster.namespace,
                };
                let got = self.call(call, api.get_opt(name)).await?;
                Ok::<_, BackendError>(DeploymentView::from(name, got))
            }
        });
        futures::future::try_join_all(reads).await
    }

    /// The recent Events of each configured Deployment, newest last. A
    /// failure to read them is not worth failing the read of the service:
    /// it is said in their place.
    async fn events(&self) -> BTreeMap<String, Vec<(String, String)>> {
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let Ok(cluster) = self.cluster().await else {
            return out;
        };
        let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let lp = ListParams::default().fields("involvedObject.kind=Deployment");
        let call = Call {
            verb: "list",
            resource: "events",
            name: None,
            namespace: &cluster.namespace,
        };
        let names = self.settings.deployments();
        match self.call(call, api.list(&lp)).await {
            Ok(list) => {
                let mut events: Vec<(DateTime<Utc>, String, String)> = list
                    .items
                    .into_iter()
                    .filter_map(|e| {
                        let name = e.involved_object.name.clone()?;
                        names
                            .contains(&name)
                            .then(|| (event_time(&e), name, event_line(&e)))
                    })
                    .collect();
                events.sort_by_key(|e| e.0);
                for (_, name, line) in events {
                    out.entry(name).or_default().push(("event".into(), line));
                }
                for lines in out.values_mut() {
                    let extra = lines.len().saturating_sub(EVENTS_SHOWN);
                    lines.drain(..extra);
                }
            }
            Err(e) => {
                for n in names {
                    out.entry(n)
                        .or_default()
                        .push(("events".into(), format!("not read: {e}")));
                }
            }
        }
        out
    }

    /// Adds each Deployment's Events to its revision's platform lines.
    async fn add_events(&self, snap: &mut ServiceSnapshot) {
        attach(snap, self.events().await);
    }

    /// The detail lines of one Deployment.
    fn details(&self, d: &DeploymentView, colour: Option<&str>) -> Vec<(String, String)> {
        let ns = self.namespace();
        let mut v = vec![(
            "deployment".to_string(),
            match colour {
                Some(c) => format!("{} (colour {c}, namespace {ns})", d.name),
                None => format!("{} (namespace {ns})", d.name),
            },
        )];
        if d.found {
            v.push(("replicas".into(), d.replicas.describe()));
            v.push(("rollout".into(), d.rollout.label()));
            if d.images.len() > 1 {
                v.push(("images".into(), d.images.join(", ")));
            }
            v.push(("template".into(), d.template.clone()));
        } else {
            v.push((
                "rollout".into(),
                format!("no Deployment {} in namespace {ns}", d.name),
            ));
        }
        v
    }

    /// Patches a Deployment's replicas (with its resourceVersion), recording
    /// the count it had when going to 0. `Ok` only when the replicas are
    /// known to be set: an unclear answer (5xx, 429, a timeout, a dropped
    /// connection, a garbled body, a 409 that may answer the client's own
    /// retry of a patch that landed) is resolved by reading the Deployment
    /// again — at `replicas`: done; a 409 otherwise: the conflict;
    /// unchanged: not applied (the error, said so); anything else, or no
    /// read: [`BackendError::Unconfirmed`].
    async fn set_replicas(&self, d: &DeploymentView, replicas: i32) -> Result<(), BackendError> {
        let cluster = self.cluster().await?;
        let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let mut meta = serde_json::json!({ "resourceVersion": d.resource_version });
        if replicas == 0 {
            meta["annotations"] = serde_json::json!({
                REPLICAS_ANNOTATION: d.replicas.desired.to_string()
            });
        }
        let patch = serde_json::json!({ "metadata": meta, "spec": { "replicas": replicas } });
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let call = Call {
            verb: "patch",
            resource: "deployments",
            name: Some(&d.name),
            namespace: &cluster.namespace,
        };
        let Err(e) = self
            .call(call, api.patch(&d.name, &pp, &Patch::Merge(&patch)))
            .await
        else {
            return Ok(());
        };
        // A 409 may answer kube's own retry (429/503/504) of a patch that
        // landed: read back too.
        if e.is_clean_refusal() && !e.is_conflict() {
            return Err(e);
        }
        tracing::warn!(deployment = %d.name, error = %e, "kubernetes: the replicas patch's answer is unclear; reading it back");
        let now = match self.deployments().await {
            Ok(all) => all.into_iter().find(|v| v.name == d.name && v.found),
            Err(r) => {
                return Err(BackendError::Unconfirmed {
                    message: format!("{e}; reading Deployment {} back failed too: {r}", d.name),
                    read_back: None,
                })
            }
        };
        match now {
            Some(v) if v.replicas.desired == replicas => {
                tracing::info!(deployment = %d.name, replicas, "kubernetes: read back: the replicas patch was applied");
                Ok(())
            }
            _ if e.is_conflict() => Err(e),
            Some(v) if v.resource_version == d.resource_version => {
                Err(with_note(e, errors::NOT_APPLIED))
            }
            Some(v) => Err(BackendError::Unconfirmed {
                message: format!(
                    "{e}; Deployment {} now asks for {} replicas, neither {} nor {replicas} \
                     (someone else changed it)",
                    d.name, v.replicas.desired, d.replicas.desired
                ),
                read_back: None,
            }),
            None => Err(BackendError::Unconfirmed {
                message: format!("{e}; Deployment {} no longer exists", d.name),
                read_back: None,
            }),
        }
    }

    /// Waits until `name`'s rollout is complete with `replicas` available.
    /// It was scaled up for a switch: every error says the selector was
    /// not moved.
    async fn wait_available(&self, name: &str, replicas: i32) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + self.settings.apply_timeout;
        loop {
            let d = self
                .deployments()
                .await
                .map_err(|e| {
                    with_note(
                        e,
                        &format!(
                            " (while waiting for {name}, scaled up to {replicas}, to be \
                             available: the selector was not moved)"
                        ),
                    )
                })?
                .into_iter()
                .find(|d| d.name == name);
            let last = match &d {
                Some(d) if d.rollout == Rollout::Complete && d.replicas.available >= replicas => {
                    return Ok(())
                }
                Some(d) => format!("{}; {}", d.rollout.label(), d.replicas.describe()),
                None => "not found".into(),
            };
            if let Some(Rollout::Failed(why)) = d.as_ref().map(|d| &d.rollout) {
                return Err(BackendError::Failed(format!(
                    "{name} was scaled up to {replicas} but its rollout failed ({why}): the \
                     selector was not moved"
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::Failed(format!(
                    "{name} was scaled up to {replicas} but is not available after {} ({last}): \
                     the selector was not moved",
                    crate::core::duration::human(self.settings.apply_timeout)
                )));
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }
}

fn event_time(e: &Event) -> DateTime<Utc> {
    e.last_timestamp
        .as_ref()
        .map(convert::to_chrono)
        .or_else(|| {
            e.event_time.as_ref().map(|t| {
                convert::to_chrono(&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0))
            })
        })
        .or_else(|| e.first_timestamp.as_ref().map(convert::to_chrono))
        .unwrap_or_default()
}

/// `12:01:02 Normal ScalingReplicaSet: Scaled up … (×3)`.
fn event_line(e: &Event) -> String {
    let count = e
        .count
        .filter(|c| *c > 1)
        .map(|c| format!(" (×{c})"))
        .unwrap_or_default();
    format!(
        "{} {} {}: {}{count}",
        event_time(e).format("%H:%M:%S"),
        e.type_.as_deref().unwrap_or("Normal"),
        e.reason.as_deref().unwrap_or("-"),
        crate::core::error::excerpt(e.message.as_deref().unwrap_or(""), 200)
    )
}

#[async_trait]
impl Platform for KubePlatform {
    fn info(&self) -> PlatformInfo {
        let context = self
            .cluster
            .get()
            .map(|c| c.context.clone())
            .or_else(|| self.settings.context.clone())
            .unwrap_or_else(|| "current context".into());
        let what = match &self.settings.mode {
            KubeMode::BlueGreen { service, .. } => format!("service/{service} (blue/green)"),
            KubeMode::Weights { route, .. } => format!("httproute/{route} (weights)"),
        };
        PlatformInfo {
            kind: "kubernetes".into(),
            service: self.settings.service_name.clone(),
            location: format!("{context} · {} · {what}", self.namespace()),
        }
    }

    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        match &self.settings.mode {
            KubeMode::BlueGreen { .. } => bluegreen::snapshot(self).await,
            KubeMode::Weights { .. } => weights::snapshot(self).await,
        }
    }

    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        match &self.settings.mode {
            KubeMode::BlueGreen { .. } => bluegreen::set_traffic(self, split, expect).await,
            KubeMode::Weights { .. } => weights::set_traffic(self, split, expect).await,
        }
    }

    async fn scale_down(&self, revision: &str) -> Result<String, BackendError> {
        match &self.settings.mode {
            KubeMode::BlueGreen { .. } => bluegreen::scale_down(self, revision).await,
            KubeMode::Weights { .. } => Err(BackendError::Refused(
                "mode \"weights\" does not scale Deployments: a weight of 0 is no traffic".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fnv(""), "cbf29ce484222325");
        assert_ne!(fnv("a"), fnv("b"));
    }
}
