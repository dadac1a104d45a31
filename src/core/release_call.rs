//! The exact calls of a deploy, a deletion or a prune, shown before they are
//! confirmed: a pure function of the operation and of the snapshot it is
//! decided on, as [`super::preview`] is for traffic changes. Cloud Run's
//! request bodies are built here, once, for the preview and for the write
//! ([`deploy_body`], [`untag_body`]): what is shown is what is sent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::ServiceSnapshot;
use super::preview::{WriteApi, TYPE_LATEST, TYPE_REVISION};
use super::release::{DeployRequest, ReleaseOp};

/// What a platform that cannot deploy says.
pub const CANNOT: &str = "this platform cannot deploy or delete revisions";

/// HAProxy's sentence.
pub const HAPROXY_CANNOT: &str = "HAProxy cannot deploy or delete revisions: they are the \
     backend's servers, started and stopped outside the cockpit";

/// What a deploy or a deletion on Cloud Run starts from, as read with the
/// snapshot (carried by [`WriteApi::CloudRun`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudRunRelease {
    /// `https://…/v2/projects/P/locations/L/services/S`.
    pub service_url: String,
    /// The service's template as read, every field.
    pub template: Value,
    /// Every traffic target as read, type and percent written out.
    pub traffic: Vec<Target>,
    /// The latest ready revision (what `LATEST` resolves to today).
    pub latest_ready: Option<String>,
}

/// One `GoogleCloudRunV2TrafficTarget`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub percent: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Target {
    pub fn is_latest(&self) -> bool {
        self.kind == TYPE_LATEST
    }
}

/// The deploy's PATCH body (`updateMask=template,traffic`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployBody {
    pub template: Value,
    pub traffic: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The traffic PATCH that removes a failed revision's tag before it is
/// deleted (`updateMask=traffic`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UntagBody {
    pub traffic: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// The traffic of a deploy: every target of `current` kept exactly (percent
/// and tag), `LATEST` pinned to `latest_ready` (the new revision becomes the
/// latest: it must get nothing by accident), plus `revision` at 0 % with
/// `tag`. An empty `current` means "all to the latest".
pub fn deploy_traffic(
    current: &[Target],
    latest_ready: Option<&str>,
    revision: &str,
    tag: &str,
) -> Result<Vec<Target>, String> {
    let pin = || {
        latest_ready.map(str::to_string).ok_or_else(|| {
            "the service sends traffic to LATEST but reports no latest ready revision to pin \
             it to: nothing was sent"
                .to_string()
        })
    };
    let mut out = Vec::with_capacity(current.len() + 1);
    if current.is_empty() {
        out.push(Target {
            kind: TYPE_REVISION.into(),
            revision: Some(pin()?),
            percent: 100,
            tag: None,
        });
    }
    for t in current {
        if t.tag.as_deref() == Some(tag) {
            return Err(format!(
                "the tag `{tag}` is already in use: nothing was sent"
            ));
        }
        let revision = match t.revision.as_deref().filter(|r| !r.is_empty()) {
            Some(r) if !t.is_latest() => r.to_string(),
            _ => pin()?,
        };
        out.push(Target {
            kind: TYPE_REVISION.into(),
            revision: Some(revision),
            percent: t.percent,
            tag: t.tag.clone().filter(|t| !t.is_empty()),
        });
    }
    out.push(Target {
        kind: TYPE_REVISION.into(),
        revision: Some(revision.to_string()),
        percent: 0,
        tag: Some(tag.to_string()),
    });
    Ok(out)
}

/// The template as read with the new image, the environment variables set
/// and the revision's name; every other field as it was. The serving
/// container (the one with a port, else the first) gets the image.
pub fn deploy_template(template: &Value, request: &DeployRequest) -> Result<Value, String> {
    let mut t = match template {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        _ => return Err("the service's template is not an object: nothing was sent".into()),
    };
    t.insert("revision".into(), Value::String(request.revision.clone()));
    let containers = t
        .entry("containers")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(containers) = containers else {
        return Err("the template's containers are not a list: nothing was sent".into());
    };
    if containers.is_empty() {
        containers.push(Value::Object(serde_json::Map::new()));
    }
    let serving = containers
        .iter()
        .position(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty())
        })
        .unwrap_or(0);
    let Value::Object(c) = &mut containers[serving] else {
        return Err("the serving container is not an object: nothing was sent".into());
    };
    c.insert("image".into(), Value::String(request.image.clone()));
    if !request.env.is_empty() {
        let env = c.entry("env").or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(env) = env else {
            return Err("the container's env is not a list: nothing was sent".into());
        };
        for (k, v) in &request.env {
            match env
                .iter_mut()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(k.as_str()))
            {
                Some(e) if e.get("valueSource").is_some() => {
                    return Err(format!(
                        "--env {k}: the variable is a secret reference; a plain value would \
                         replace it (change it outside the cockpit): nothing was sent"
                    ))
                }
                Some(e) => e["value"] = Value::String(v.clone()),
                None => env.push(serde_json::json!({"name": k, "value": v})),
            }
        }
    }
    Ok(Value::Object(t))
}

/// The deploy's whole request body from what was read.
pub fn deploy_body(
    read: &CloudRunRelease,
    etag: Option<&str>,
    request: &DeployRequest,
) -> Result<DeployBody, String> {
    Ok(DeployBody {
        template: deploy_template(&read.template, request)?,
        traffic: deploy_traffic(
            &read.traffic,
            read.latest_ready.as_deref(),
            &request.revision,
            &request.tag,
        )?,
        etag: etag.map(str::to_owned),
    })
}

/// The traffic without the tag targets of `revision` (a failed revision's
/// tag, removed before it is deleted); `None` when it has none, or has a
/// share (a revision with a share is never untagged here).
pub fn untag_body(current: &[Target], etag: Option<&str>, revision: &str) -> Option<UntagBody> {
    let named = |t: &Target| t.revision.as_deref() == Some(revision);
    if !current.iter().any(named) || current.iter().any(|t| named(t) && t.percent > 0) {
        return None;
    }
    Some(UntagBody {
        traffic: current.iter().filter(|t| !named(t)).cloned().collect(),
        etag: etag.map(str::to_owned),
    })
}

/// The exact call(s) of `op` on the service as `snapshot` shows it, or why
/// its platform cannot.
pub fn preview(snapshot: &ServiceSnapshot, op: &ReleaseOp) -> Result<Vec<String>, String> {
    let service = &snapshot.service;
    let at = |region: &str, project: &str| format!("--region={region} --project={project}");
    match &snapshot.write_api {
        WriteApi::Generic => Err(CANNOT.into()),
        WriteApi::Haproxy { .. } => Err(HAPROXY_CANNOT.into()),
        WriteApi::Kubernetes(_) => Err(
            "Kubernetes revisions are Deployments: deploy and delete them with your own \
             pipeline (kubectl apply, Helm, Argo CD); the cockpit steers their traffic"
                .into(),
        ),
        WriteApi::Gcloud { project, region } => Ok(match op {
            ReleaseOp::Deploy(d) => vec![
                format!(
                    "gcloud run deploy {service} {} {}",
                    d.gcloud_flags(),
                    at(region, project)
                ),
                "(simulated: the demo's platform creates the revision itself)".into(),
            ],
            other => other
                .deletes()
                .iter()
                .map(|r| {
                    format!(
                        "gcloud run revisions delete {r} {} --quiet",
                        at(region, project)
                    )
                })
                .collect(),
        }),
        WriteApi::CloudRun {
            project,
            region,
            etag,
            release,
            ..
        } => {
            let read = release.as_deref().ok_or(CANNOT)?;
            Ok(match op {
                ReleaseOp::Deploy(d) => {
                    let body = deploy_body(read, etag.as_deref(), d)
                        .map(|b| serde_json::to_string(&b).unwrap_or_default())
                        .unwrap_or_else(|e| format!("(no request: {e})"));
                    vec![
                        format!(
                            "gcloud run deploy {service} {} {}",
                            d.gcloud_flags(),
                            at(region, project)
                        ),
                        format!("PATCH {}?updateMask=template,traffic", read.service_url),
                        body,
                    ]
                }
                other => {
                    let mut lines = Vec::new();
                    for r in other.deletes() {
                        if let Some(body) = untag_body(&read.traffic, etag.as_deref(), r) {
                            let tags: Vec<&str> = read
                                .traffic
                                .iter()
                                .filter(|t| t.revision.as_deref() == Some(r.as_str()))
                                .filter_map(|t| t.tag.as_deref())
                                .collect();
                            lines.push(format!(
                                "gcloud run services update-traffic {service} --remove-tags={} {}",
                                tags.join(","),
                                at(region, project)
                            ));
                            lines.push(format!("PATCH {}?updateMask=traffic", read.service_url));
                            lines.push(serde_json::to_string(&body).unwrap_or_default());
                        }
                        lines.push(format!(
                            "gcloud run revisions delete {r} {} --quiet",
                            at(region, project)
                        ));
                        lines.push(format!("DELETE {}/revisions/{r}", read.service_url));
                    }
                    lines
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: &str, rev: Option<&str>, pct: i32, tag: Option<&str>) -> Target {
        Target {
            kind: kind.into(),
            revision: rev.map(Into::into),
            percent: pct,
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn latest_is_pinned_and_the_new_tag_added_at_zero() {
        let current = vec![
            t(TYPE_LATEST, None, 90, None),
            t(TYPE_REVISION, Some("r41"), 10, Some("old")),
            t(TYPE_LATEST, None, 0, Some("head")),
        ];
        let out = deploy_traffic(&current, Some("r42"), "r43", "canary-20261130").unwrap();
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"[{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r42","percent":90},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r41","percent":10,"tag":"old"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r42","percent":0,"tag":"head"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r43","percent":0,"tag":"canary-20261130"}]"#
            )
        );
        assert!(deploy_traffic(&current, None, "r43", "c").is_err());
        assert!(deploy_traffic(&current, Some("r42"), "r43", "old").is_err());
        let all = deploy_traffic(&[], Some("r42"), "r43", "c").unwrap();
        assert_eq!(all[0].percent, 100);
        assert_eq!(all[0].revision.as_deref(), Some("r42"));
        // Untagging: only a revision without a share.
        let body = untag_body(&current, Some("e"), "r41");
        assert!(body.is_none(), "r41 has 10 %");
        let current = vec![
            t(TYPE_REVISION, Some("r42"), 100, None),
            t(TYPE_REVISION, Some("r43"), 0, Some("canary-x")),
        ];
        let body = untag_body(&current, Some("e"), "r43").unwrap();
        assert_eq!(body.traffic, vec![current[0].clone()]);
    }

    #[test]
    fn the_template_keeps_everything_but_the_image_env_and_name() {
        let tpl = serde_json::json!({
            "serviceAccount": "app@p.iam.gserviceaccount.com",
            "timeout": "300s",
            "containers": [
                {"name": "sidecar", "image": "r/proxy:1"},
                {
                    "image": "r/app:1",
                    "ports": [{"containerPort": 8080}],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "DB_PASSWORD", "valueSource": {"secretKeyRef": {"secret": "db", "version": "3"}}}
                    ],
                    "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}, "cpuIdle": true},
                    "startupProbe": {"tcpSocket": {"port": 8080}}
                }
            ],
            "scaling": {"maxInstanceCount": 10}
        });
        let req = DeployRequest {
            revision: "s-00002-abc".into(),
            image: "r/app:2".into(),
            tag: "c".into(),
            env: vec![
                ("LOG_LEVEL".into(), "debug".into()),
                ("NEW".into(), "1".into()),
            ],
        };
        let v = deploy_template(&tpl, &req).unwrap();
        assert_eq!(v["revision"], "s-00002-abc");
        assert_eq!(v["serviceAccount"], "app@p.iam.gserviceaccount.com");
        assert_eq!(v["timeout"], "300s");
        assert_eq!(
            v["containers"][0]["image"], "r/proxy:1",
            "the sidecar is left alone"
        );
        assert_eq!(v["containers"][1]["image"], "r/app:2");
        assert_eq!(
            v["containers"][1]["startupProbe"]["tcpSocket"]["port"],
            8080
        );
        assert_eq!(v["containers"][1]["resources"]["cpuIdle"], true);
        assert_eq!(v["containers"][1]["env"][0]["value"], "debug");
        assert_eq!(v["containers"][1]["env"][2]["name"], "NEW");
        assert_eq!(v["scaling"]["maxInstanceCount"], 10);
        let secret = DeployRequest {
            env: vec![("DB_PASSWORD".into(), "x".into())],
            ..req
        };
        assert!(deploy_template(&tpl, &secret).is_err());
    }
}
