//! Weights on an HTTPRoute's backendRefs: read, write, wait for the
//! Gateways to accept.

use std::collections::BTreeMap;

use kube::api::{Api, Patch, PatchParams};

use super::convert::{percentages, weights_for, weights_serve};
use super::errors::{with_note, Call, NOT_APPLIED};
use super::owners::owned_by_another;
use super::route::{Acceptance, HttpRoute};
use super::{DeploymentView, KubePlatform, FIELD_MANAGER};
use crate::config::KubeMode;
use crate::core::error::BackendError;
use crate::core::kube_preview::KubeWrite;
use crate::core::model::{ServiceSnapshot, SnapshotExtra, TrafficSplit, Version};
use crate::core::preview::WriteApi;

/// The route and the Deployments as last read.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    pub route: HttpRoute,
    /// Service → weight, from the rules.
    pub weights: Result<BTreeMap<String, u32>, String>,
    pub owner: Option<String>,
    pub deployments: Vec<DeploymentView>,
}

struct Shape<'a> {
    route: &'a str,
    /// Deployment → Service.
    backends: &'a BTreeMap<String, String>,
}

fn shape(p: &KubePlatform) -> Shape<'_> {
    match &p.settings.mode {
        KubeMode::Weights { route, backends } => Shape { route, backends },
        KubeMode::BlueGreen { .. } => unreachable!("weights functions in blue/green mode"),
    }
}

impl Shape<'_> {
    fn services(&self) -> Vec<&str> {
        self.backends.values().map(String::as_str).collect()
    }

    fn deployment_of(&self, service: &str) -> Option<&str> {
        self.backends
            .iter()
            .find(|(_, s)| s.as_str() == service)
            .map(|(d, _)| d.as_str())
    }
}

fn route_api(cluster: &super::Cluster) -> Api<HttpRoute> {
    Api::namespaced(cluster.client.clone(), &cluster.namespace)
}

const RESOURCE: &str = "httproutes.gateway.networking.k8s.io";

async fn read_route(p: &KubePlatform) -> Result<HttpRoute, BackendError> {
    let s = shape(p);
    let cluster = p.cluster().await?;
    let call = Call {
        verb: "get",
        resource: RESOURCE,
        name: Some(s.route),
        namespace: &cluster.namespace,
    };
    p.call(call, route_api(cluster).get(s.route)).await
}

async fn observe(p: &KubePlatform) -> Result<Observed, BackendError> {
    let s = shape(p);
    let (route, deployments) = tokio::join!(read_route(p), p.deployments());
    let route = route?;
    let weights = route.weights(&s.services());
    let owner = owned_by_another(
        &route.metadata,
        &format!("HTTPRoute {}", s.route),
        "f:rules",
    );
    let obs = Observed {
        route,
        weights,
        owner,
        deployments: deployments?,
    };
    p.memory().last_route = Some(obs.clone());
    Ok(obs)
}

/// Deployment → weight; a weighted backend that is not configured is
/// traffic the cockpit cannot account for (said as the read-only reason).
fn by_deployment(
    s: &Shape<'_>,
    weights: &BTreeMap<String, u32>,
) -> (BTreeMap<String, u32>, Option<String>) {
    let mut out: BTreeMap<String, u32> = s.backends.keys().map(|d| (d.clone(), 0)).collect();
    let mut stray = Vec::new();
    for (service, w) in weights {
        match s.deployment_of(service) {
            Some(d) => {
                out.insert(d.to_string(), *w);
            }
            None if *w > 0 => stray.push(format!("{service} (weight {w})")),
            None => {}
        }
    }
    let why = (!stray.is_empty()).then(|| {
        format!(
            "HTTPRoute {} also sends traffic to {}, which [kubernetes] backends does not name: \
             the cockpit cannot account for it",
            s.route,
            stray.join(", ")
        )
    });
    (out, why)
}

fn snapshot_of(p: &KubePlatform, obs: &Observed) -> Result<ServiceSnapshot, BackendError> {
    let s = shape(p);
    let weights = obs
        .weights
        .clone()
        .map_err(|why| BackendError::Refused(format!("HTTPRoute {}: {why}", s.route)))?;
    let (by_dep, stray) = by_deployment(&s, &weights);
    let traffic = percentages(&by_dep).ok_or_else(|| {
        BackendError::Refused(format!(
            "HTTPRoute {}: every backend has weight 0: the route serves no backend (HTTP 500)",
            s.route
        ))
    })?;
    let mut revisions: Vec<_> = obs
        .deployments
        .iter()
        .map(|d| d.revision(None, false))
        .collect();
    revisions.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    let acceptance = obs.route.acceptance();
    let generation = obs.route.metadata.generation.unwrap_or(0);
    let message = match &acceptance {
        Acceptance::Accepted => None,
        Acceptance::Pending(why) => Some(format!("HTTPRoute {} pending: {why}", s.route)),
        Acceptance::Refused(why) => Some(format!("HTTPRoute {} refused: {why}", s.route)),
    };
    let mut details = BTreeMap::new();
    for d in &obs.deployments {
        let mut lines = p.details(d, None);
        let service = s.backends.get(&d.name).cloned().unwrap_or_default();
        lines.insert(
            1,
            (
                "backend".into(),
                format!(
                    "Service {service}, weight {} in HTTPRoute {} (generation {generation})",
                    by_dep.get(&d.name).copied().unwrap_or(0),
                    s.route
                ),
            ),
        );
        details.insert(d.name.clone(), lines);
    }
    let mut snap = ServiceSnapshot {
        service: p.settings.service_name.clone(),
        url: None,
        revisions,
        traffic,
        actual: None,
        version: Version(
            obs.route
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default(),
        ),
        reconciling: !matches!(acceptance, Acceptance::Accepted),
        message,
        runtime_state_lost: false,
        write_api: WriteApi::Kubernetes(KubeWrite::Route {
            namespace: p.namespace(),
            route: s.route.to_string(),
            backends: s.backends.clone(),
            resource_version: obs
                .route
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default(),
        }),
        extra: SnapshotExtra {
            read_only: obs.owner.clone().or(stray),
            ..SnapshotExtra::default()
        },
    };
    super::attach(&mut snap, details);
    Ok(snap)
}

pub(super) async fn snapshot(p: &KubePlatform) -> Result<ServiceSnapshot, BackendError> {
    let obs = observe(p).await?;
    let mut snap = snapshot_of(p, &obs)?;
    p.add_events(&mut snap).await;
    Ok(snap)
}

/// Service → the weight the cockpit writes for `split`.
fn service_weights(s: &Shape<'_>, split: &TrafficSplit) -> BTreeMap<String, u32> {
    let deployments: Vec<String> = s.backends.keys().cloned().collect();
    weights_for(split, &deployments)
        .into_iter()
        .filter_map(|(d, w)| s.backends.get(&d).map(|svc| (svc.clone(), w)))
        .collect()
}

fn rules_patch(route: &HttpRoute, weights: &BTreeMap<String, u32>) -> serde_json::Value {
    serde_json::json!({
        "metadata": { "resourceVersion": route.metadata.resource_version },
        "spec": { "rules": route.rules_with(weights) }
    })
}

pub(super) async fn set_traffic(
    p: &KubePlatform,
    split: &TrafficSplit,
    expect: &Version,
) -> Result<ServiceSnapshot, BackendError> {
    let s = shape(p);
    for rev in split.revisions() {
        if !s.backends.contains_key(rev) {
            return Err(BackendError::NotFound(format!(
                "{rev} is not a revision of [kubernetes] backends: nothing was sent"
            )));
        }
    }
    let obs = observe(p).await?;
    let rv = obs
        .route
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    if rv != expect.0 {
        return Err(BackendError::Conflict(format!(
            "HTTPRoute {} changed since it was read (resourceVersion {} → {rv}): nothing was sent",
            s.route, expect.0
        )));
    }
    if let Some(why) = &obs.owner {
        return Err(BackendError::Refused(format!("{why}: nothing was sent")));
    }
    let weights = service_weights(&s, split);
    let patch = rules_patch(&obs.route, &weights);
    let cluster = p.cluster().await?;
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let call = Call {
        verb: "patch",
        resource: RESOURCE,
        name: Some(s.route),
        namespace: &cluster.namespace,
    };
    tracing::info!(route = %s.route, split = %split.to_flag(), "kubernetes: setting route weights");
    let written = match p
        .call(
            call,
            route_api(cluster).patch(s.route, &pp, &Patch::Merge(&patch)),
        )
        .await
    {
        Ok(r) => r,
        // A 409 may answer kube's own retry (429/503/504) of a patch that
        // landed: read back too.
        Err(e) if e.is_clean_refusal() && !e.is_conflict() => return Err(e),
        Err(e) => {
            // The answer was lost or garbled: read the route to know.
            tracing::warn!(error = %e, "kubernetes: the route patch's answer is unclear; reading it back");
            let after = read_route(p).await.map_err(|r| BackendError::Unconfirmed {
                message: format!(
                    "the weights were sent ({e}) and the route could not be read back: {r}"
                ),
                read_back: None,
            })?;
            let now = after.weights(&s.services()).ok();
            match now {
                Some(w) if weights_serve(&w, &service_split(&s, split)) => after,
                _ if e.is_conflict() => return Err(e),
                _ if after.metadata.resource_version.as_deref() == Some(rv.as_str()) => {
                    return Err(with_note(e, NOT_APPLIED))
                }
                other => {
                    return Err(BackendError::Unconfirmed {
                        message: format!(
                            "the weights were sent ({e}); the route now has other weights"
                        ),
                        read_back: other.and_then(|w| percentages(&by_deployment(&s, &w).0)),
                    })
                }
            }
        }
    };
    let generation = written.metadata.generation.unwrap_or(0);
    // From here the weights are known written: a read that fails is
    // "not known" (whether the Gateways serve them), never a plain failure.
    let unread = |e: BackendError| BackendError::Unconfirmed {
        message: format!(
            "HTTPRoute {} has the new weights (generation {generation}) but reading it back \
             failed: {e}",
            s.route
        ),
        read_back: None,
    };
    // Done when every Gateway has accepted this generation.
    let deadline = tokio::time::Instant::now() + p.settings.apply_timeout;
    let mut route = written;
    loop {
        match route.acceptance() {
            Acceptance::Accepted if route.metadata.generation.unwrap_or(0) >= generation => break,
            Acceptance::Refused(why) => {
                return Err(BackendError::Failed(format!(
                    "HTTPRoute {} has the new weights (generation {generation}) but {why}: the \
                     Gateway may not serve them; roll back or fix the route",
                    s.route
                )))
            }
            Acceptance::Pending(why) if tokio::time::Instant::now() >= deadline => {
                return Err(BackendError::Failed(format!(
                    "HTTPRoute {} has the new weights (generation {generation}) but no Gateway \
                     accepted them within {} ({why})",
                    s.route,
                    crate::core::duration::human(p.settings.apply_timeout)
                )))
            }
            _ => {}
        }
        tokio::time::sleep(p.settings.poll).await;
        route = read_route(p).await.map_err(unread)?;
    }
    let obs = observe(p).await.map_err(unread)?;
    match snapshot_of(p, &obs) {
        Ok(snap) if snap.traffic == *split => Ok(snap),
        other => Err(BackendError::Unconfirmed {
            message: format!(
                "HTTPRoute {} was given {split} and accepted, but now carries {} (changed again \
                 meanwhile?)",
                s.route,
                other
                    .as_ref()
                    .map_or_else(|e| e.to_string(), |snap| snap.traffic.to_string())
            ),
            read_back: other.ok().map(|snap| snap.traffic),
        }),
    }
}

/// The split by Service name.
fn service_split(s: &Shape<'_>, split: &TrafficSplit) -> TrafficSplit {
    TrafficSplit::new(split.entries().iter().filter_map(|a| {
        s.backends
            .get(&a.revision)
            .map(|svc| (svc.clone(), u32::from(a.percent)))
    }))
    .unwrap_or_else(|_| split.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_backends_make_the_service_read_only() {
        let backends: BTreeMap<String, String> = [
            ("v1".to_string(), "svc-v1".to_string()),
            ("v2".to_string(), "svc-v2".to_string()),
        ]
        .into();
        let s = Shape {
            route: "r",
            backends: &backends,
        };
        let w: BTreeMap<String, u32> = [("svc-v1".into(), 90), ("svc-v2".into(), 10)].into();
        let (d, why) = by_deployment(&s, &w);
        assert_eq!(d, [("v1".into(), 90), ("v2".into(), 10)].into());
        assert_eq!(why, None);
        let w: BTreeMap<String, u32> = [("svc-v1".into(), 90), ("other".into(), 10)].into();
        let (_, why) = by_deployment(&s, &w);
        assert!(why.expect("stray").contains("other (weight 10)"));
        let split = TrafficSplit::new([("v1", 75u32), ("v2", 25)]).expect("valid");
        assert_eq!(
            service_weights(&s, &split),
            [("svc-v1".into(), 75), ("svc-v2".into(), 25)].into()
        );
    }
}
