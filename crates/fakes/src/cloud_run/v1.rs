//! The fake's slice of the Admin API **v1** (Knative-style, what `gcloud run
//! revisions list` reads): `GET apis/serving.knative.dev/v1/namespaces/P/
//! revisions?labelSelector=serving.knative.dev/service=S`, the same
//! revisions as v2 shows them, as `ListRevisionsResponse` of `Revision`s
//! (`run.v1.discovery.json`). gcloud puts the region in the host name of a
//! regional endpoint (`europe-west1-HOST`): point its `proxy/*` properties at
//! the fake and any `api_endpoint_overrides/run` host reaches it.

use serde_json::{json, Map, Value};

use super::patch::ApiError;
use super::state::FakeState;
use canary::platform::cloud_run::api;

/// v2's condition state as Knative's `status`.
fn status(state: Option<&str>) -> &'static str {
    match state {
        Some(api::CONDITION_SUCCEEDED) => "True",
        Some(api::CONDITION_FAILED) => "False",
        _ => "Unknown",
    }
}

fn revision(svc: &super::state::FakeService, r: &api::Revision, project: &str) -> Value {
    let short = r.short_name();
    let service = svc.short();
    let location = svc
        .resource
        .name
        .split('/')
        .nth(3)
        .unwrap_or_default()
        .to_string();
    let serving = svc
        .resource
        .traffic_statuses
        .iter()
        .any(|t| t.revision.as_deref() == Some(short) && t.percent() > 0);
    let latest = svc
        .resource
        .latest_created_revision
        .as_deref()
        .map(api::last_segment)
        == Some(short);
    let mut annotations = Map::new();
    if let Some(who) = svc.resource.last_modifier.as_ref().filter(|_| latest) {
        annotations.insert("serving.knative.dev/creator".into(), json!(who));
    } else {
        annotations.insert(
            "serving.knative.dev/creator".into(),
            json!("deployer@example.com"),
        );
    }
    if let Some(max) = r.scaling.as_ref().and_then(|s| s.max_instance_count) {
        annotations.insert(
            "autoscaling.knative.dev/maxScale".into(),
            json!(max.to_string()),
        );
    }
    let containers: Vec<Value> = r
        .containers
        .iter()
        .map(|c| {
            let env: Vec<Value> = c
                .env
                .iter()
                .map(|e| match e.value_source.as_ref().and_then(|s| s.secret_key_ref.as_ref()) {
                    Some(s) => json!({"name": e.name, "valueFrom": {"secretKeyRef": {
                        "name": s.secret, "key": s.version.clone().unwrap_or_else(|| "latest".into())}}}),
                    None => json!({"name": e.name, "value": e.value.clone().unwrap_or_default()}),
                })
                .collect();
            let mut v = json!({"image": c.image, "env": env});
            if let Some(res) = &c.resources {
                v["resources"] = json!({"limits": res.limits});
            }
            if !c.ports.is_empty() {
                v["ports"] = Value::Array(
                    c.ports
                        .iter()
                        .map(|p| json!({"name": p.name, "containerPort": p.container_port}))
                        .collect(),
                );
            }
            if let Some(n) = &c.name {
                v["name"] = json!(n);
            }
            v
        })
        .collect();
    let mut conditions: Vec<Value> = r
        .conditions
        .iter()
        .map(|c| {
            let mut v = json!({"type": c.kind, "status": status(c.state.as_deref())});
            if let Some(m) = &c.message {
                v["message"] = json!(m);
            }
            if let Some(t) = &c.last_transition_time {
                v["lastTransitionTime"] = json!(t);
            }
            if let Some(reason) = &c.reason {
                v["reason"] = json!(reason);
            }
            v
        })
        .collect();
    conditions.push(json!({
        "type": "Active",
        "status": if serving { "True" } else { "False" },
        "severity": "Info",
    }));
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": short,
            "namespace": project,
            "uid": r.uid,
            "generation": 1,
            "creationTimestamp": r.create_time,
            "labels": {
                "serving.knative.dev/service": service,
                "serving.knative.dev/configuration": service,
                "cloud.googleapis.com/location": location,
            },
            "annotations": annotations,
        },
        "spec": {
            "containerConcurrency": r.max_instance_request_concurrency.unwrap_or(80),
            "timeoutSeconds": 300,
            "containers": containers,
        },
        "status": {
            "observedGeneration": 1,
            "conditions": conditions,
            "serviceName": service,
            "logUrl": r.log_uri.clone().unwrap_or_default(),
        },
    })
}

/// `GET apis/serving.knative.dev/v1/namespaces/P/revisions`.
pub fn list_revisions(
    state: &FakeState,
    project: &str,
    query: &[(String, String)],
) -> Result<Value, ApiError> {
    let selector = query
        .iter()
        .find(|(k, _)| k == "labelSelector")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let wanted = selector
        .split(',')
        .filter_map(|s| s.split_once('='))
        .find(|(k, _)| k.trim() == "serving.knative.dev/service")
        .map(|(_, v)| v.trim().to_string());
    let mut items = Vec::new();
    for svc in state.services.values() {
        let in_project = svc.resource.name.split('/').nth(1) == Some(project);
        let selected = wanted.as_deref().is_none_or(|w| w == svc.short());
        if in_project && selected {
            items.extend(svc.revisions.iter().map(|r| revision(svc, r, project)));
        }
    }
    Ok(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "RevisionList",
        "metadata": {},
        "items": items,
    }))
}
