//! Builders of typical objects to seed the fake with. Each returns JSON with
//! `apiVersion`, `kind`, `metadata.name` and a spec as a cluster would hold
//! it (the fake fills the rest of `metadata` when it is stored).

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::time::{micro, rfc3339};

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<String, Value>>(),
    )
}

/// A Deployment `name` with `replicas` Pods of one container `app` running
/// `image`; `labels` are the selector's `matchLabels`, the template's labels
/// and the Deployment's own labels.
pub fn deployment(name: &str, labels_: &[(&str, &str)], image: &str, replicas: i64) -> Value {
    let l = labels(labels_);
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": l},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": l},
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "template": {
                "metadata": {"labels": l},
                "spec": {
                    "containers": [{
                        "name": "app",
                        "image": image,
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "env": [
                            {"name": "LOG_LEVEL", "value": "info"},
                            {"name": "DB_PASSWORD", "valueFrom": {
                                "secretKeyRef": {"name": "db", "key": "password"}
                            }}
                        ],
                        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        "imagePullPolicy": "IfNotPresent"
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst"
                }
            }
        }
    })
}

/// A ClusterIP Service `name` selecting `selector`, port `port` to the
/// container's 8080.
pub fn service(name: &str, selector: &[(&str, &str)], port: i64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "ClusterIP",
            "selector": labels(selector),
            "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": 8080}],
            "sessionAffinity": "None"
        }
    })
}

/// An HTTPRoute `name` attached to the Gateway `gateway` with one rule whose
/// `backendRefs` are the Services `backends` (name, weight), port 80.
pub fn httproute(name: &str, gateway: &str, backends: &[(&str, i64)]) -> Value {
    let refs: Vec<Value> = backends
        .iter()
        .map(|(svc, w)| json!({"group": "", "kind": "Service", "name": svc, "port": 80, "weight": w}))
        .collect();
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway}],
            "hostnames": ["backend.example"],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": refs
            }]
        }
    })
}

/// A running, ready Pod `name` with `labels` and one container per name in
/// `containers` (image `registry.example/NAME`).
pub fn pod(name: &str, labels_: &[(&str, &str)], containers: &[&str]) -> Value {
    let now = rfc3339(SystemTime::now().into());
    let specs: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": format!("registry.example/{c}")}))
        .collect();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({
                "name": c, "image": format!("registry.example/{c}"),
                "imageID": "", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": now}}
            })
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels(labels_)},
        "spec": {"containers": specs, "nodeName": "fake-node"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "startTime": now,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}
            ],
            "containerStatuses": statuses
        }
    })
}

/// A core/v1 Event about `involved` (kind, name) in `namespace`, of `type_`
/// `Normal` or `Warning`, first and last seen at `time`.
pub fn event(
    namespace: &str,
    involved: (&str, &str),
    type_: &str,
    reason: &str,
    message: &str,
    time: SystemTime,
) -> Value {
    let (kind, name) = involved;
    let api_version = match kind {
        "Deployment" | "ReplicaSet" => "apps/v1",
        "HTTPRoute" => "gateway.networking.k8s.io/v1",
        _ => "v1",
    };
    let t = rfc3339(time.into());
    let nanos = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{nanos:x}")},
        "involvedObject": {
            "apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": "deployment-controller"},
        "reportingComponent": "deployment-controller",
        "reportingInstance": "",
        "firstTimestamp": t,
        "lastTimestamp": t,
        "count": 1
    })
}

/// A Lease `name` held by `holder` for 15 s, renewed now.
pub fn lease(name: &str, holder: &str) -> Value {
    let now = micro(SystemTime::now().into());
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0
        }
    })
}
