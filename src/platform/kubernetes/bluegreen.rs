//! Blue/green by a Service's selector: read, switch, keep warm, scale down.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::convert::{all_or_nothing, selected_colour, selector_for, show_selector};
use super::errors::{with_note, Call, NOT_APPLIED};
use super::owners::owned_by_another;
use super::{DeploymentView, KubePlatform, FIELD_MANAGER, SWITCH_ANNOTATION};
use crate::config::KubeMode;
use crate::core::error::BackendError;
use crate::core::kube_preview::KubeWrite;
use crate::core::model::{KeepWarm, ServiceSnapshot, SnapshotExtra, TrafficSplit, Version};
use crate::core::preview::WriteApi;

/// The record of a switch, kept on the Service ([`SWITCH_ANNOTATION`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub from: String,
    pub to: String,
    pub at: DateTime<Utc>,
    /// The pod template `from` ran (its fingerprint): while it still runs
    /// it, a rollback goes back to it.
    pub template: String,
    /// This switch went back to the colour before (a rollback): nothing to
    /// roll back to, nothing kept warm.
    #[serde(default)]
    pub rollback: bool,
}

/// The Service and the colours as last read.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    pub selector: BTreeMap<String, String>,
    pub resource_version: String,
    /// The colour serving, when the selector names one.
    pub colour: Result<String, String>,
    pub record: Option<SwitchRecord>,
    pub owner: Option<String>,
    pub deployments: Vec<DeploymentView>,
}

struct Shape<'a> {
    service: &'a str,
    key: &'a str,
    /// Colour → Deployment.
    colours: &'a BTreeMap<String, String>,
}

fn shape(p: &KubePlatform) -> Shape<'_> {
    match &p.settings.mode {
        KubeMode::BlueGreen {
            service,
            selector_key,
            deployments,
        } => Shape {
            service,
            key: selector_key,
            colours: deployments,
        },
        KubeMode::Weights { .. } => unreachable!("blue/green functions in weights mode"),
    }
}

fn colour_of<'a>(s: &'a Shape<'_>, deployment: &str) -> Option<&'a str> {
    s.colours
        .iter()
        .find(|(_, d)| d.as_str() == deployment)
        .map(|(c, _)| c.as_str())
}

async fn observe(p: &KubePlatform) -> Result<Observed, BackendError> {
    let s = shape(p);
    let cluster = p.cluster().await?;
    let api: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let call = Call {
        verb: "get",
        resource: "services",
        name: Some(s.service),
        namespace: &cluster.namespace,
    };
    let (svc, deployments) = tokio::join!(p.call(call, api.get(s.service)), p.deployments());
    let svc = svc?;
    let deployments = deployments?;
    let selector = svc
        .spec
        .as_ref()
        .and_then(|sp| sp.selector.clone())
        .unwrap_or_default();
    let record = svc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SWITCH_ANNOTATION))
        .and_then(|v| serde_json::from_str(v).ok());
    let owner = owned_by_another(
        &svc.metadata,
        &format!("Service {}", s.service),
        "f:selector",
    );
    let obs = Observed {
        colour: selected_colour(&selector, s.key, s.colours).map(str::to_string),
        selector,
        resource_version: svc.metadata.resource_version.clone().unwrap_or_default(),
        record,
        owner,
        deployments,
    };
    // A switch made outside the cockpit: remembered from when it was first
    // seen, with the template the colour before ran.
    {
        let mut m = p.memory();
        if let Ok(colour) = &obs.colour {
            let changed = m.seen.as_ref().is_some_and(|(c, _, _)| c != colour);
            let before = m.seen.as_ref().map(|(c, _, _)| c.clone());
            if m.seen.is_none() || changed {
                let prev = before.filter(|_| changed).and_then(|c| {
                    let d = s.colours.get(&c)?;
                    let view = obs.deployments.iter().find(|v| &v.name == d)?;
                    Some((c, view.template.clone()))
                });
                m.seen = Some((colour.clone(), Utc::now(), prev));
            }
        }
        m.last = Some(obs.clone());
    }
    Ok(obs)
}

/// The switch in effect: the Service's record when it describes the
/// colour serving now, else one seen by this process.
fn effective_switch(p: &KubePlatform, obs: &Observed) -> Option<SwitchRecord> {
    let colour = obs.colour.as_ref().ok()?;
    if let Some(r) = obs.record.as_ref().filter(|r| &r.to == colour) {
        return Some(r.clone());
    }
    let m = p.memory();
    let (seen, at, prev) = m.seen.as_ref()?;
    let (from, template) = prev.clone()?;
    (seen == colour).then(|| SwitchRecord {
        from,
        to: colour.clone(),
        at: *at,
        template,
        rollback: false,
    })
}

/// The replicas a cold colour is scaled back to: what it had when the
/// cockpit scaled it down, else what the serving colour runs, else 1.
fn restore_to(s: &Shape<'_>, obs: &Observed, view: &DeploymentView) -> i32 {
    let serving = obs
        .colour
        .as_ref()
        .ok()
        .and_then(|c| s.colours.get(c))
        .cloned()
        .unwrap_or_default();
    view.replicas_before
        .filter(|n| *n > 0)
        .or_else(|| {
            obs.deployments
                .iter()
                .find(|d| d.name == serving)
                .map(|d| d.replicas.desired)
                .filter(|n| *n > 0)
        })
        .unwrap_or(1)
}

fn snapshot_of(p: &KubePlatform, obs: &Observed) -> Result<ServiceSnapshot, BackendError> {
    let s = shape(p);
    let colour = obs.colour.clone().map_err(|why| {
        BackendError::Refused(format!(
            "Service {} ({}): {why}",
            s.service,
            show_selector(&obs.selector)
        ))
    })?;
    let serving = s.colours.get(&colour).cloned().unwrap_or_default();
    let mut revisions: Vec<_> = obs
        .deployments
        .iter()
        .map(|d| d.revision(colour_of(&s, &d.name).map(str::to_string), true))
        .collect();
    // The idle colour first: it is the next one (the model lists newest
    // first; both colours are long-lived Deployments).
    revisions.sort_by_key(|r| r.name == serving);
    let switch = effective_switch(p, obs).filter(|r| !r.rollback);
    let previous = switch.as_ref().and_then(|r| {
        let d = s.colours.get(&r.from)?;
        let view = obs.deployments.iter().find(|v| &v.name == d && v.found)?;
        Some((r, view))
    });
    // Back to it only while it runs the version it ran before the switch.
    let rollback_to = previous
        .filter(|(r, v)| v.template == r.template)
        .map(|(_, v)| v.name.clone());
    let ns = p.namespace();
    let keep_warm = previous
        .filter(|(_, v)| v.replicas.desired > 0)
        .map(|(r, v)| KeepWarm {
            revision: v.name.clone(),
            until: r.at + chrono::Duration::from_std(p.settings.keep_warm).unwrap_or_default(),
            replicas: v.replicas.desired.max(0) as u32,
            calls: scale_down_calls(&ns, v),
        });
    let mut details = BTreeMap::new();
    for d in &obs.deployments {
        let mut lines = p.details(d, colour_of(&s, &d.name));
        if let Some(k) = keep_warm.as_ref().filter(|k| k.revision == d.name) {
            lines.extend(
                k.calls
                    .iter()
                    .map(|c| ("scale call".to_string(), c.clone())),
            );
        }
        details.insert(d.name.clone(), lines);
    }
    let message = obs
        .deployments
        .iter()
        .find(|d| d.name == serving && !d.found)
        .map(|d| {
            format!(
                "the selector sends traffic to {}, which does not exist",
                d.name
            )
        });
    let mut snap = ServiceSnapshot {
        service: p.settings.service_name.clone(),
        url: None,
        revisions,
        traffic: TrafficSplit::all_to(serving),
        actual: None,
        version: Version(obs.resource_version.clone()),
        reconciling: false,
        message,
        runtime_state_lost: false,
        write_api: WriteApi::Kubernetes(KubeWrite::Selector {
            namespace: ns.clone(),
            service: s.service.to_string(),
            key: s.key.to_string(),
            selector: obs.selector.clone(),
            colours: obs
                .deployments
                .iter()
                .filter_map(|d| Some((d.name.clone(), colour_of(&s, &d.name)?.to_string())))
                .collect(),
            cold: obs
                .deployments
                .iter()
                .filter(|d| d.found && d.replicas.desired == 0)
                .map(|d| (d.name.clone(), restore_to(&s, obs, d)))
                .collect(),
            resource_version: obs.resource_version.clone(),
        }),
        extra: SnapshotExtra {
            all_or_nothing: Some(format!(
                "blue/green sends all traffic to one colour (the Service {}'s selector {}; \
                 P switches, r goes back; mode = \"weights\" splits)",
                s.service, s.key
            )),
            read_only: obs.owner.clone(),
            rollback_to,
            keep_warm,
        },
    };
    super::attach(&mut snap, details);
    Ok(snap)
}

/// A scale-down to 0 as it will be made: the kubectl equivalent and the
/// API request (with the resourceVersion it is decided on).
fn scale_down_calls(ns: &str, d: &DeploymentView) -> Vec<String> {
    vec![
        format!("kubectl scale deployment/{} --replicas=0 -n {ns}", d.name),
        format!(
            "PATCH /apis/apps/v1/namespaces/{ns}/deployments/{} {{\"spec\":{{\"replicas\":0}}}} (merge patch, resourceVersion {})",
            d.name, d.resource_version
        ),
    ]
}

pub(super) async fn snapshot(p: &KubePlatform) -> Result<ServiceSnapshot, BackendError> {
    let obs = observe(p).await?;
    let mut snap = snapshot_of(p, &obs)?;
    p.add_events(&mut snap).await;
    Ok(snap)
}

/// The merge patch of a switch: the whole selector (an atomic map), the
/// record, and the resourceVersion it was decided on.
fn switch_patch(
    selector: &BTreeMap<String, String>,
    record: &SwitchRecord,
    resource_version: &str,
) -> serde_json::Value {
    serde_json::json!({
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": {
                SWITCH_ANNOTATION: serde_json::to_string(record).unwrap_or_default()
            }
        },
        "spec": { "selector": selector }
    })
}

pub(super) async fn set_traffic(
    p: &KubePlatform,
    split: &TrafficSplit,
    expect: &Version,
) -> Result<ServiceSnapshot, BackendError> {
    let s = shape(p);
    let target = all_or_nothing(split, s.service, s.key).map_err(BackendError::Refused)?;
    let Some(to) = colour_of(&s, &target).map(str::to_string) else {
        return Err(BackendError::NotFound(format!(
            "{target} is not one of the configured colours' Deployments: nothing was sent"
        )));
    };
    let obs = observe(p).await?;
    if obs.resource_version != expect.0 {
        return Err(BackendError::Conflict(format!(
            "Service {} changed since it was read (resourceVersion {} → {}): nothing was sent",
            s.service, expect.0, obs.resource_version
        )));
    }
    if let Some(why) = &obs.owner {
        return Err(BackendError::Refused(format!("{why}: nothing was sent")));
    }
    let from = obs.colour.clone().map_err(BackendError::Refused)?;
    if from == to {
        return snapshot_of(p, &obs);
    }
    let Some(view) = obs.deployments.iter().find(|d| d.name == target).cloned() else {
        return Err(BackendError::NotFound(format!(
            "{target}: no such Deployment"
        )));
    };
    if !view.found {
        return Err(BackendError::NotFound(format!(
            "Deployment {target} does not exist in namespace {}: nothing was sent",
            p.namespace()
        )));
    }
    // A cold colour is scaled back up and waited for before it gets traffic.
    // From then on every error says it was (it keeps running).
    let mut scaled = String::new();
    if view.replicas.desired == 0 {
        let want = restore_to(&s, &obs, &view);
        tracing::info!(deployment = %target, replicas = want, "kubernetes: scaling up before the switch");
        p.set_replicas(&view, want).await.map_err(|e| match e {
            // The selector was not sent: the traffic is known unchanged.
            BackendError::Unconfirmed { message, .. } => BackendError::Failed(format!(
                "scaling {target} up to {want} before the switch: not known whether it was \
                 applied ({message}); the selector was not moved"
            )),
            e => with_note(
                e,
                &format!(" (scaling {target} up before the switch: the selector was not moved)"),
            ),
        })?;
        scaled = format!(" ({target} was scaled up to {want} for it and keeps running)");
        p.wait_available(&target, want).await?;
    } else if !matches!(view.rollout, super::Rollout::Complete)
        || view.replicas.available < view.replicas.desired
    {
        return Err(BackendError::Refused(format!(
            "{target} is not ready ({}; {}): no traffic can go to it; nothing was sent",
            view.rollout.label(),
            view.replicas.describe()
        )));
    }
    let current = effective_switch(p, &obs);
    let rollback = current
        .as_ref()
        .is_some_and(|r| !r.rollback && r.from == to);
    let from_template = s
        .colours
        .get(&from)
        .and_then(|d| obs.deployments.iter().find(|v| &v.name == d))
        .map(|v| v.template.clone())
        .unwrap_or_default();
    let record = SwitchRecord {
        from: from.clone(),
        to: to.clone(),
        at: Utc::now(),
        template: from_template,
        rollback,
    };
    switch(p, &obs, split, &record)
        .await
        .map_err(|e| with_note(e, &scaled))
}

/// Sends the selector patch of `record` and says what became of it: a
/// clean refusal (4xx) as it is; any other answer, a 409 too (it may answer
/// the client's own retry of a patch that landed), is resolved by reading
/// the Service again (the switch in place: done; a 409 otherwise: the
/// conflict; the Service unchanged: not applied; anything else, or no
/// read: [`BackendError::Unconfirmed`]). Once the patch is known to have
/// landed, a failed or surprising read back is `Unconfirmed` too, never a
/// plain failure.
async fn switch(
    p: &KubePlatform,
    obs: &Observed,
    split: &TrafficSplit,
    record: &SwitchRecord,
) -> Result<ServiceSnapshot, BackendError> {
    let s = shape(p);
    let to = &record.to;
    let selector = selector_for(&obs.selector, s.key, to);
    let patch = switch_patch(&selector, record, &obs.resource_version);
    let cluster = p.cluster().await?;
    let api: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let call = Call {
        verb: "patch",
        resource: "services",
        name: Some(s.service),
        namespace: &cluster.namespace,
    };
    tracing::info!(service = %s.service, from = %record.from, to = %to, "kubernetes: switching the selector");
    let sent = p
        .call(call, api.patch(s.service, &pp, &Patch::Merge(&patch)))
        .await;
    let lost = match sent {
        Ok(_) => None,
        // kube's client retries a 429/503/504 itself: a 409 may be the
        // answer to the retry of a patch that landed. Read back too.
        Err(e) if e.is_clean_refusal() && !e.is_conflict() => return Err(e),
        Err(e) => Some(e),
    };
    let after = observe(p).await.map_err(|r| BackendError::Unconfirmed {
        message: match &lost {
            Some(e) => format!(
                "the switch to {to} was sent ({e}) and the Service could not be read back: {r}"
            ),
            None => format!(
                "the switch to {to} was accepted but the Service could not be read back: {r}"
            ),
        },
        read_back: None,
    })?;
    if let Some(e) = lost {
        tracing::warn!(error = %e, "kubernetes: the selector patch's answer is unclear; read back");
        match &after.colour {
            Ok(c) if c == to => {}
            _ if e.is_conflict() => return Err(e),
            _ if after.resource_version == obs.resource_version => {
                return Err(with_note(e, NOT_APPLIED))
            }
            _ => {
                return Err(BackendError::Unconfirmed {
                    message: format!(
                        "the switch to {to} was sent ({e}); the Service now selects {}",
                        show_selector(&after.selector)
                    ),
                    read_back: snapshot_of(p, &after).ok().map(|s| s.traffic),
                })
            }
        }
    }
    let snap = snapshot_of(p, &after);
    match snap {
        Ok(snap) if snap.traffic == *split => Ok(snap),
        other => Err(BackendError::Unconfirmed {
            message: format!(
                "the switch to {to} was made, but the Service now selects {} (changed again \
                 meanwhile?)",
                show_selector(&after.selector)
            ),
            read_back: other.ok().map(|s| s.traffic),
        }),
    }
}

pub(super) async fn scale_down(p: &KubePlatform, revision: &str) -> Result<String, BackendError> {
    let s = shape(p);
    let obs = observe(p).await?;
    if let Some(why) = &obs.owner {
        return Err(BackendError::Refused(format!(
            "{why}: {revision} was left running"
        )));
    }
    let serving = obs
        .colour
        .as_ref()
        .ok()
        .and_then(|c| s.colours.get(c))
        .cloned();
    if serving.as_deref() == Some(revision) {
        return Err(BackendError::Refused(format!(
            "{revision} serves the traffic now: it is not scaled down"
        )));
    }
    let Some(view) = obs
        .deployments
        .iter()
        .find(|d| d.name == revision && d.found)
    else {
        return Err(BackendError::NotFound(format!(
            "{revision} is not a Deployment of this service"
        )));
    };
    let before = view.replicas.desired;
    if before == 0 {
        return Ok(format!("{revision} was already at 0 replicas"));
    }
    p.set_replicas(view, 0).await?;
    Ok(format!(
        "{revision} {before} → 0 replicas (namespace {}); a rollback to it scales it back to {before} first",
        p.namespace()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_sends_the_whole_selector_and_the_version() {
        let selector: BTreeMap<String, String> = [
            ("app".to_string(), "backend".to_string()),
            ("version".to_string(), "green".to_string()),
        ]
        .into();
        let record = SwitchRecord {
            from: "blue".into(),
            to: "green".into(),
            at: DateTime::from_timestamp(1_800_000_000, 0).expect("t"),
            template: "abc".into(),
            rollback: false,
        };
        let patch = switch_patch(&selector, &record, "42");
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        assert_eq!(
            patch["spec"]["selector"],
            serde_json::json!({"app": "backend", "version": "green"})
        );
        let kept: SwitchRecord = serde_json::from_str(
            patch["metadata"]["annotations"][SWITCH_ANNOTATION]
                .as_str()
                .expect("string"),
        )
        .expect("record");
        assert_eq!(kept, record);
    }
}
