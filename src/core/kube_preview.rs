//! The exact calls a Kubernetes traffic change makes, from the snapshot it
//! is decided on (see [`super::preview`]): blue/green's selector patch (after
//! scaling a cold colour back up), or an HTTPRoute's weights.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::TrafficSplit;

/// How a Kubernetes service is written, as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum KubeWrite {
    /// Blue/green: the Service's whole selector, with `key` set to the colour.
    Selector {
        namespace: String,
        service: String,
        key: String,
        /// The selector as read (an atomic map: sent whole).
        selector: BTreeMap<String, String>,
        /// Deployment → its colour.
        colours: BTreeMap<String, String>,
        /// Deployments at 0 and the replicas a switch scales them back to.
        cold: BTreeMap<String, i32>,
        resource_version: String,
    },
    /// Weights: every rule's backendRefs.
    Route {
        namespace: String,
        route: String,
        /// Deployment → its Service in the backendRefs.
        backends: BTreeMap<String, String>,
        resource_version: String,
    },
}

/// `app=backend,version=green`.
fn show(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn preview(w: &KubeWrite, split: &TrafficSplit) -> Vec<String> {
    match w {
        KubeWrite::Selector {
            namespace,
            service,
            key,
            selector,
            colours,
            cold,
            resource_version,
        } => {
            let [only] = split.entries() else {
                return vec![format!(
                    "# refused: blue/green sends all traffic to one colour ({split})"
                )];
            };
            let target = &only.revision;
            let colour = colours.get(target).map_or("?", String::as_str);
            let mut new = selector.clone();
            new.insert(key.clone(), colour.to_string());
            let mut out = Vec::new();
            if let Some(n) = cold.get(target) {
                out.push(format!(
                    "kubectl scale deployment/{target} --replicas={n} -n {namespace}  # then wait until all {n} are available"
                ));
            }
            out.push(format!(
                "kubectl patch service {service} -n {namespace} --type=merge -p '{}'",
                serde_json::json!({ "spec": { "selector": new } })
            ));
            out.push(format!(
                "PATCH /api/v1/namespaces/{namespace}/services/{service} (merge patch: spec.selector {}, metadata.resourceVersion {resource_version}, the switch recorded in an annotation)",
                show(&new)
            ));
            out
        }
        KubeWrite::Route {
            namespace,
            route,
            backends,
            resource_version,
        } => {
            let weights = backends
                .iter()
                .map(|(d, svc)| format!("{svc}={}", split.percent_of(d)))
                .collect::<Vec<_>>()
                .join(",");
            vec![
                format!(
                    "kubectl patch httproute {route} -n {namespace} --type=merge  # every rule's backendRefs weights {weights}"
                ),
                format!(
                    "PATCH /apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{route} (merge patch: all rules, backendRefs weights {weights}, metadata.resourceVersion {resource_version}); done when every Gateway shows the new generation Accepted and ResolvedRefs"
                ),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_and_route_previews() {
        let w = KubeWrite::Selector {
            namespace: "shop".into(),
            service: "backend".into(),
            key: "version".into(),
            selector: [
                ("app".to_string(), "backend".to_string()),
                ("version".to_string(), "blue".to_string()),
            ]
            .into(),
            colours: [
                ("backend-blue".to_string(), "blue".to_string()),
                ("backend-green".to_string(), "green".to_string()),
            ]
            .into(),
            cold: [("backend-green".to_string(), 3)].into(),
            resource_version: "42".into(),
        };
        let p = preview(&w, &TrafficSplit::all_to("backend-green"));
        assert_eq!(p.len(), 3);
        assert!(p[0].starts_with("kubectl scale deployment/backend-green --replicas=3 -n shop"));
        assert_eq!(
            p[1],
            "kubectl patch service backend -n shop --type=merge -p '{\"spec\":{\"selector\":{\"app\":\"backend\",\"version\":\"green\"}}}'"
        );
        assert!(p[2].contains("resourceVersion 42"), "{}", p[2]);
        let r = KubeWrite::Route {
            namespace: "shop".into(),
            route: "backend".into(),
            backends: [
                ("v1".to_string(), "svc-v1".to_string()),
                ("v2".to_string(), "svc-v2".to_string()),
            ]
            .into(),
            resource_version: "7".into(),
        };
        let split = TrafficSplit::new([("v1", 75u32), ("v2", 25)]).expect("valid");
        let p = preview(&r, &split);
        assert!(p[0].ends_with("weights svc-v1=75,svc-v2=25"), "{}", p[0]);
    }
}
