//! The shared audit trail as Kubernetes Events: one core/v1 Event per
//! journal record on the object canary drives (blue/green: the Service;
//! weights: the HTTPRoute), `reason` the record's kind, `message` a one-line
//! summary, the record itself in the annotation `canary.dev/record` and who
//! wrote it (user@host) in `canary.dev/driver`; read back with a
//! `fieldSelector` on the involved object. Each Event is named after the
//! record (a hash of it), so a record sent twice is one Event. (Events expire: the cluster's
//! `--event-ttl`, one hour by default. The local journal keeps everything.)

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::{driver_here, SharedRecord, SharedSink};
use crate::config::KubeMode;
use crate::core::error::BackendError;
use crate::platform::kubernetes::cluster::Cluster;
use crate::platform::kubernetes::errors::{classify, Call};
use crate::platform::kubernetes::KubeSettings;

/// The annotation that holds the record.
pub const RECORD: &str = "canary.dev/record";
/// The annotation that holds who wrote it.
pub const DRIVER: &str = "canary.dev/driver";
/// The label every audit Event carries.
pub const LABEL: &str = "canary.dev/audit";

pub struct KubeEventsAudit {
    settings: KubeSettings,
    cluster: OnceCell<Cluster>,
    /// The involved object: (apiVersion, kind, name).
    object: (String, String, String),
}

impl KubeEventsAudit {
    pub fn new(settings: KubeSettings) -> KubeEventsAudit {
        let object = match &settings.mode {
            KubeMode::BlueGreen { service, .. } => ("v1".into(), "Service".into(), service.clone()),
            KubeMode::Weights { route, .. } => (
                "gateway.networking.k8s.io/v1".into(),
                "HTTPRoute".into(),
                route.clone(),
            ),
        };
        KubeEventsAudit {
            settings,
            cluster: OnceCell::new(),
            object,
        }
    }

    async fn cluster(&self) -> Result<&Cluster, BackendError> {
        self.cluster
            .get_or_try_init(|| {
                Cluster::open(
                    &self.settings.kubeconfig,
                    self.settings.context.as_deref(),
                    self.settings.namespace.as_deref(),
                    self.settings.timeout,
                    false,
                )
            })
            .await
    }

    /// The Event for one record in `namespace`.
    pub fn event_for(&self, record: &Value, namespace: &str) -> Value {
        let (api_version, kind, name) = &self.object;
        let at = record["at"].as_str().unwrap_or_default();
        let reason = record["event"].as_str().unwrap_or("record");
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                // Named after the record: sent again (an unclear answer),
                // it is the same Event (409 AlreadyExists: already there).
                "name": format!("{name}.canary-audit.{}", super::cloud_logging::record_hash(record)),
                "namespace": namespace,
                "labels": {LABEL: "true"},
                "annotations": {
                    RECORD: record.to_string(),
                    DRIVER: driver_here(record),
                },
            },
            "involvedObject": {
                "apiVersion": api_version,
                "kind": kind,
                "name": name,
                "namespace": namespace,
            },
            "reason": reason,
            "message": summary(record),
            "type": "Normal",
            "source": {"component": "canary"},
            "reportingComponent": "canary.dev/canary",
            "reportingInstance": driver_here(record),
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        })
    }
}

/// One line: the record's own summary (as `canary journal` prints it) when
/// this version knows it, else its kind.
fn summary(record: &Value) -> String {
    let line = serde_json::from_value::<crate::journal::Record>(record.clone())
        .map(|r| crate::journal::report::history_line(&r))
        .unwrap_or_else(|_| record["event"].as_str().unwrap_or("record").to_string());
    // An Event's message is meant to be short.
    line.chars().take(1000).collect()
}

#[async_trait]
impl SharedSink for KubeEventsAudit {
    fn location(&self) -> String {
        let (_, kind, name) = &self.object;
        format!("Kubernetes Events on {kind}/{name}")
    }

    async fn write(&self, records: &[Value]) -> Result<(), BackendError> {
        let cluster = self.cluster().await?;
        let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        for r in records {
            let event: Event = serde_json::from_value(self.event_for(r, &cluster.namespace))
                .map_err(|e| BackendError::Other(format!("cannot build the Event: {e}")))?;
            let call = Call {
                verb: "create",
                resource: "events",
                name: None,
                namespace: &cluster.namespace,
            };
            match api.create(&PostParams::default(), &event).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => {}
                Err(e) => return Err(classify(e, &call)),
            }
        }
        Ok(())
    }

    async fn read(&self) -> Result<Vec<SharedRecord>, BackendError> {
        let cluster = self.cluster().await?;
        let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
        let (_, kind, name) = &self.object;
        let lp = ListParams::default()
            .fields(&format!(
                "involvedObject.kind={kind},involvedObject.name={name}"
            ))
            .labels(&format!("{LABEL}=true"));
        let call = Call {
            verb: "list",
            resource: "events",
            name: None,
            namespace: &cluster.namespace,
        };
        let list = api.list(&lp).await.map_err(|e| classify(e, &call))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|e| {
                let a = e.metadata.annotations?;
                let record: Value = serde_json::from_str(a.get(RECORD)?).ok()?;
                let driver = a.get(DRIVER).cloned().unwrap_or_else(|| "unknown".into());
                Some(SharedRecord { record, driver })
            })
            .collect())
    }
}
