//! Discovery documents, `/version` and `Table` answers for kubectl.

use serde_json::{json, Value};

use super::time;
use super::Kind;

/// The groups the fake serves, with their version (`""` is core).
pub(crate) const GROUPS: [(&str, &str); 3] = [
    ("apps", "v1"),
    ("gateway.networking.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
];

pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`: `APIVersions`.
pub(crate) fn api_versions(host: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]
    })
}

/// `/apis`: `APIGroupList`.
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|(g, v)| api_group(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/GROUP`: `APIGroup`.
pub(crate) fn api_group(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [gv],
        "preferredVersion": gv
    })
}

fn resource(
    name: &str,
    singular: &str,
    kind: &str,
    verbs: &[&str],
    short: &[&str],
    categories: &[&str],
) -> Value {
    let mut r = json!({
        "name": name,
        "singularName": singular,
        "namespaced": true,
        "kind": kind,
        "verbs": verbs,
    });
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    if !categories.is_empty() {
        r["categories"] = json!(categories);
    }
    r
}

/// The verbs the fake serves (no `deletecollection`).
const ALL_VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const SUB_VERBS: [&str; 3] = ["get", "patch", "update"];

/// `/api/v1` or `/apis/GROUP/VERSION`: `APIResourceList`, None for a group
/// version the fake does not serve.
pub(crate) fn api_resource_list(group_version: &str) -> Option<Value> {
    let resources = match group_version {
        "v1" => vec![
            resource("events", "event", "Event", &ALL_VERBS, &["ev"], &[]),
            resource("pods", "pod", "Pod", &ALL_VERBS, &["po"], &["all"]),
            resource("pods/log", "", "Pod", &["get"], &[], &[]),
            resource("pods/status", "", "Pod", &SUB_VERBS, &[], &[]),
            resource(
                "services",
                "service",
                "Service",
                &ALL_VERBS,
                &["svc"],
                &["all"],
            ),
            resource("services/status", "", "Service", &SUB_VERBS, &[], &[]),
        ],
        "apps/v1" => {
            let mut scale = resource("deployments/scale", "", "Scale", &SUB_VERBS, &[], &[]);
            scale["group"] = json!("autoscaling");
            scale["version"] = json!("v1");
            vec![
                resource(
                    "deployments",
                    "deployment",
                    "Deployment",
                    &ALL_VERBS,
                    &["deploy"],
                    &["all"],
                ),
                scale,
                resource("deployments/status", "", "Deployment", &SUB_VERBS, &[], &[]),
            ]
        }
        "gateway.networking.k8s.io/v1" => vec![
            resource(
                "httproutes",
                "httproute",
                "HTTPRoute",
                &ALL_VERBS,
                &[],
                &["gateway-api"],
            ),
            resource("httproutes/status", "", "HTTPRoute", &SUB_VERBS, &[], &[]),
        ],
        "coordination.k8s.io/v1" => {
            vec![resource("leases", "lease", "Lease", &ALL_VERBS, &[], &[])]
        }
        _ => return None,
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources
    }))
}

/// Whether an Accept header asks for a `Table`.
pub(crate) fn wants_table(accept: Option<&str>) -> bool {
    accept
        .unwrap_or("")
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn age(created: &Value) -> String {
    let Some(t) = created.as_str().and_then(time::parse) else {
        return "<unknown>".into();
    };
    let secs = (time::now() - t).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn column(name: &str, type_: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": type_, "format": if name == "Name" { "name" } else { "" },
           "description": description, "priority": priority})
}

fn columns(kind: Kind) -> Vec<Value> {
    let name = column(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    let age_col = column("Age", "string", 0, "CreationTimestamp of the object.");
    match kind {
        Kind::Deployment => vec![
            name,
            column("Ready", "string", 0, "Number of the pod with ready state"),
            column("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            column("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            age_col,
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
            column("Selector", "string", 1, "Label selector for pods."),
        ],
        Kind::Service => vec![
            name,
            column("Type", "string", 0, "The type of the service."),
            column("Cluster-IP", "string", 0, "The cluster IP of the service."),
            column("External-IP", "string", 0, "The external IPs of the service."),
            column("Port(s)", "string", 0, "The ports of the service."),
            age_col,
            column("Selector", "string", 1, "The selector of the service."),
        ],
        Kind::Pod => vec![
            name,
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column("Restarts", "string", 0, "The number of times the containers in this pod have been restarted."),
            age_col,
        ],
        Kind::Event => vec![
            column("Last Seen", "string", 0, "Time since the event was last seen."),
            column("Type", "string", 0, "The type of the event."),
            column("Reason", "string", 0, "The reason of the event."),
            column("Object", "string", 0, "The object the event is about."),
            column("Message", "string", 0, "The message of the event."),
        ],
        Kind::HttpRoute => vec![
            name,
            column("Hostnames", "string", 0, "Hostnames of the route."),
            age_col,
        ],
        Kind::Lease => vec![
            name,
            column("Holder", "string", 0, "The holder of the lease."),
            age_col,
        ],
    }
}

fn selector_text(m: &Value) -> String {
    m.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn cells(kind: Kind, o: &Value) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let created = age(&o["metadata"]["creationTimestamp"]);
    match kind {
        Kind::Deployment => {
            let st = &o["status"];
            let cs = o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
            let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(&st["readyReplicas"]),
                    int(&o["spec"]["replicas"])
                )),
                json!(int(&st["updatedReplicas"])),
                json!(int(&st["availableReplicas"])),
                json!(created),
                json!(names.join(",")),
                json!(images.join(",")),
                json!(selector_text(&o["spec"]["selector"]["matchLabels"])),
            ]
        }
        Kind::Service => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}/{}",
                        int(&p["port"]),
                        p["protocol"].as_str().unwrap_or("TCP")
                    )
                })
                .collect();
            vec![
                name,
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP")),
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>")),
                json!("<none>"),
                json!(ports.join(",")),
                json!(created),
                json!(selector_text(&o["spec"]["selector"])),
            ]
        }
        Kind::Pod => {
            let statuses = o["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let total = o["spec"]["containers"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(o["status"]["phase"].as_str().unwrap_or("Pending")),
                json!(restarts.to_string()),
                json!(created),
            ]
        }
        Kind::Event => {
            let io = &o["involvedObject"];
            vec![
                json!(age(&o["lastTimestamp"])),
                json!(o["type"]),
                json!(o["reason"]),
                json!(format!(
                    "{}/{}",
                    io["kind"].as_str().unwrap_or("").to_lowercase(),
                    io["name"].as_str().unwrap_or("")
                )),
                json!(o["message"]),
            ]
        }
        Kind::HttpRoute => vec![
            name,
            json!(o["spec"]["hostnames"]
                .as_array()
                .map(|h| h
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default()),
            json!(created),
        ],
        Kind::Lease => vec![name, json!(o["spec"]["holderIdentity"]), json!(created)],
    }
}

/// A `meta.k8s.io/v1` `Table` of `objects` (one row each, the object
/// embedded as kubectl's `includeObject=Object` wants).
pub(crate) fn table(kind: Kind, objects: &[Value], resource_version: u64) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| json!({"cells": cells(kind, o), "object": o}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns(kind),
        "rows": rows
    })
}

/// Whether `object` matches a `labelSelector` (`a=b`, `a==b`, `a!=b`,
/// `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-separated).
pub(crate) fn label_selector_matches(selector: &str, object: &Value) -> Result<bool, String> {
    let labels = &object["metadata"]["labels"];
    for req in split_top(selector) {
        let req = req.trim();
        if req.is_empty() {
            continue;
        }
        let get = |k: &str| labels.get(k.trim()).and_then(Value::as_str);
        let ok = if let Some((k, v)) = req.split_once("!=") {
            get(k) != Some(v.trim())
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            get(k) == Some(v.trim())
        } else if let Some((k, set)) = req.split_once(" notin ") {
            let set = parse_set(set)?;
            get(k).is_none_or(|v| !set.contains(&v))
        } else if let Some((k, set)) = req.split_once(" in ") {
            let set = parse_set(set)?;
            get(k).is_some_and(|v| set.contains(&v))
        } else if let Some(k) = req.strip_prefix('!') {
            get(k).is_none()
        } else if req
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            get(req).is_some()
        } else {
            return Err(format!("unable to parse requirement: {req}"));
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_set(set: &str) -> Result<Vec<&str>, String> {
    let inner = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse set {set}"))?;
    Ok(inner.split(',').map(str::trim).collect())
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The field selectors the apiserver supports per kind.
fn field_supported(kind: Kind, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match kind {
        Kind::Event => matches!(
            field,
            "involvedObject.kind"
                | "involvedObject.namespace"
                | "involvedObject.name"
                | "involvedObject.uid"
                | "involvedObject.apiVersion"
                | "involvedObject.resourceVersion"
                | "involvedObject.fieldPath"
                | "reason"
                | "reportingComponent"
                | "type"
        ),
        Kind::Pod => matches!(
            field,
            "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "status.phase"
                | "status.podIP"
                | "status.nominatedNodeName"
        ),
        _ => false,
    }
}

/// Whether `object` matches a `fieldSelector` (`a=b`, `a==b`, `a!=b`).
pub(crate) fn field_selector_matches(
    kind: Kind,
    selector: &str,
    object: &Value,
) -> Result<bool, String> {
    for req in selector.split(',') {
        let req = req.trim();
        if req.is_empty() {
            continue;
        }
        let (field, want, equal) = if let Some((k, v)) = req.split_once("!=") {
            (k, v, false)
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            (k, v, true)
        } else {
            return Err(format!(
                "invalid selector: '{req}'; can't understand '{req}'"
            ));
        };
        if !field_supported(kind, field) {
            return Err(format!("field label not supported: {field}"));
        }
        let got = field
            .split('.')
            .fold(object, |v, k| v.get(k).unwrap_or(&Value::Null));
        let got = got.as_str().unwrap_or("");
        if (got == want) != equal {
            return Ok(false);
        }
    }
    Ok(true)
}
