//! The Cloud Run Admin API v2 resources the cockpit reads and writes, as JSON.
//!
//! Field names and types follow the discovery document
//! (`../shared/contracts/run.v2.discovery.json`: `GoogleCloudRunV2Service`,
//! `GoogleCloudRunV2Revision`, `GoogleLongrunningOperation`, ...); the contract
//! tests check every field the fake emits and the cockpit sends against it.
//! Only the fields the cockpit uses (or the fake shows) are modelled: unknown
//! fields in responses are ignored.
//!
//! The API speaks proto3 JSON: fields at their default value (0, false, "",
//! empty lists) are usually omitted, so every field here has a default. `int64`
//! fields (`generation`) travel as strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GoogleCloudRunV2TrafficTarget.type`: pin to a named revision, or follow
/// the latest ready revision. (The PATCH body the cockpit sends is built with
/// its preview: [`crate::core::preview::CloudRunPatch`].)
pub use crate::core::preview::{TYPE_LATEST, TYPE_REVISION};

/// `GoogleCloudRunV2Condition.state` values.
pub const CONDITION_SUCCEEDED: &str = "CONDITION_SUCCEEDED";
pub const CONDITION_FAILED: &str = "CONDITION_FAILED";
pub const CONDITION_RECONCILING: &str = "CONDITION_RECONCILING";
pub const CONDITION_PENDING: &str = "CONDITION_PENDING";

/// The `@type` of a Service inside an Operation's `metadata` / `response`.
pub const SERVICE_TYPE_URL: &str = "type.googleapis.com/google.cloud.run.v2.Service";

fn is_false(b: &bool) -> bool {
    !*b
}

/// `GoogleCloudRunV2Service` (the fields the cockpit reads, writes or shows).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `projects/P/locations/L/services/S`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Unstructured key/value pairs (`canary.dev/lease`: the driver's lease).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// int64 as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<RevisionTemplate>,
    /// The split asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_condition: Option<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision: Option<String>,
    /// The split actually serving, with tag URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic_statuses: Vec<TrafficTargetStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reconciling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// `GoogleCloudRunV2RevisionTemplate`: what the cockpit reads and changes
/// (a deploy sets `revision` and a container's image and env). Every other
/// field is kept as it was read (`extra`), so a deploy sends the template
/// back whole with only those changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplate {
    /// The name of the revision this template creates (optional; a deploy
    /// sets it so that the new revision's tag goes in the same request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_request_concurrency: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<RevisionScaling>,
    /// The template's other fields, as read.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

/// `GoogleCloudRunV2Container`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// The container's other fields, as read.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

/// `GoogleCloudRunV2EnvVar`: a value, or a reference to a secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_source: Option<EnvVarSource>,
}

/// `GoogleCloudRunV2EnvVarSource`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

/// `GoogleCloudRunV2SecretKeySelector`: which secret, which version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    #[serde(default)]
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `GoogleCloudRunV2ResourceRequirements`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// `cpu`, `memory`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub limits: std::collections::BTreeMap<String, String>,
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

/// `GoogleCloudRunV2ContainerPort`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
}

/// `GoogleCloudRunV2RevisionScaling`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionScaling {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instance_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_count: Option<i32>,
}

/// `GoogleCloudRunV2TrafficTarget`: one entry of `traffic[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Omitted by the API when 0; the cockpit always sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl TrafficTarget {
    pub fn is_latest(&self) -> bool {
        self.kind.as_deref() == Some(TYPE_LATEST)
    }

    pub fn percent(&self) -> i32 {
        self.percent.unwrap_or(0)
    }
}

/// `GoogleCloudRunV2TrafficTargetStatus`: one entry of `trafficStatuses[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTargetStatus {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The tag's own URL: read it, never build it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

impl TrafficTargetStatus {
    pub fn is_latest(&self) -> bool {
        self.kind.as_deref() == Some(TYPE_LATEST)
    }

    pub fn percent(&self) -> i32 {
        self.percent.unwrap_or(0)
    }
}

/// `GoogleCloudRunV2Condition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_reason: Option<String>,
}

impl Condition {
    pub fn succeeded(&self) -> bool {
        self.state.as_deref() == Some(CONDITION_SUCCEEDED)
    }

    pub fn failed(&self) -> bool {
        self.state.as_deref() == Some(CONDITION_FAILED)
    }
}

/// `GoogleCloudRunV2Revision`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// `projects/P/locations/L/services/S/revisions/R`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_stage: Option<String>,
    /// The short service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_request_concurrency: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<RevisionScaling>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uri: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reconciling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl Revision {
    /// The last path segment of `name`.
    pub fn short_name(&self) -> &str {
        last_segment(&self.name)
    }

    /// The `Ready` condition, when reported.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == "Ready")
    }
}

/// `GoogleCloudRunV2ListRevisionsResponse`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRevisionsResponse {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `GoogleLongrunningOperation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `projects/P/locations/L/operations/ID`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// `GoogleRpcStatus`: an operation's error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub code: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

/// Errors come in Google's envelope (every Google API answers errors so).
pub use crate::google::errors::{ErrorBody, ErrorEnvelope};

/// The last `/`-separated segment of a resource name.
pub fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_omitted_and_read_back() {
        let t = TrafficTarget {
            kind: Some(TYPE_REVISION.into()),
            revision: Some("r".into()),
            percent: None,
            tag: Some("canary".into()),
        };
        let json = serde_json::to_string(&t).expect("serialises");
        assert_eq!(
            json,
            r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r","tag":"canary"}"#
        );
        let back: TrafficTarget = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.percent(), 0);
        let s: Service = serde_json::from_str(r#"{"name":"projects/p/locations/l/services/s"}"#)
            .expect("parses");
        assert!(!s.reconciling);
        assert!(s.traffic.is_empty());
        assert_eq!(last_segment(&s.name), "s");
    }
}
