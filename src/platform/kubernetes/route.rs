//! The HTTPRoute (`gateway.networking.k8s.io/v1`), as much as the cockpit
//! uses: rules with their backendRefs' weights, and the status of each
//! parent (Gateway). k8s-openapi has no type for it; every field the
//! cockpit does not use is kept as it was read (`rest`), because `rules` is
//! an atomic list: a change sends all rules, whole.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct HttpRoute {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: RouteSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RouteStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RouteSpec {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backend_refs: Vec<BackendRef>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct BackendRef {
    pub name: String,
    /// Absent means 1 (the Gateway API's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl BackendRef {
    /// A Service in the route's own namespace (the only kind the cockpit
    /// steers).
    pub fn is_local_service(&self) -> bool {
        let kind = self
            .rest
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("Service");
        let group = self.rest.get("group").and_then(Value::as_str).unwrap_or("");
        kind == "Service" && group.is_empty() && !self.rest.contains_key("namespace")
    }

    pub fn weight(&self) -> u32 {
        self.weight.unwrap_or(1).max(0) as u32
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RouteStatus {
    #[serde(default)]
    pub parents: Vec<ParentStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentStatus {
    #[serde(default)]
    pub parent_ref: Map<String, Value>,
    #[serde(default)]
    pub controller_name: String,
    #[serde(default)]
    pub conditions: Vec<RouteCondition>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

impl kube::Resource for HttpRoute {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "HTTPRoute".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "gateway.networking.k8s.io".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "httproutes".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Where the route stands after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Every parent has seen this generation and accepted it with every
    /// backend resolved.
    Accepted,
    /// Not yet (why: a parent behind, no parent yet).
    Pending(String),
    /// A parent refused it (Accepted or ResolvedRefs false at this generation).
    Refused(String),
}

impl HttpRoute {
    /// The weight of each backend (Service name), from the rules that name
    /// the configured backends. Rules must agree: the cockpit writes the
    /// same weights into every one.
    pub fn weights(&self, services: &[&str]) -> Result<BTreeMap<String, u32>, String> {
        let mut found: Option<BTreeMap<String, u32>> = None;
        for (i, rule) in self.spec.rules.iter().enumerate() {
            if !rule
                .backend_refs
                .iter()
                .any(|b| services.contains(&b.name.as_str()))
            {
                continue;
            }
            let mut w: BTreeMap<String, u32> = BTreeMap::new();
            for b in &rule.backend_refs {
                if !b.is_local_service() {
                    return Err(format!(
                        "rule {} has a backendRef {} that is not a Service of this namespace",
                        i + 1,
                        b.name
                    ));
                }
                *w.entry(b.name.clone()).or_default() += b.weight();
            }
            match &found {
                None => found = Some(w),
                Some(first) if *first != w => {
                    return Err(format!(
                        "the route's rules disagree on the weights (rule 1: {}, rule {}: {})",
                        show(first),
                        i + 1,
                        show(&w)
                    ))
                }
                Some(_) => {}
            }
        }
        found.ok_or_else(|| {
            format!(
                "no rule of the route has a backendRef to {}",
                services.join(" or ")
            )
        })
    }

    /// The rules with `weights` (Service → weight) written into every
    /// backendRef that names one of them; other rules unchanged. A backend
    /// the route lacks is added to the rules that carry the others.
    pub fn rules_with(&self, weights: &BTreeMap<String, u32>) -> Vec<Rule> {
        let mut rules = self.spec.rules.clone();
        for rule in &mut rules {
            if !rule
                .backend_refs
                .iter()
                .any(|b| weights.contains_key(&b.name))
            {
                continue;
            }
            for b in &mut rule.backend_refs {
                if let Some(w) = weights.get(&b.name) {
                    b.weight = Some(*w as i32);
                }
            }
            let port = rule
                .backend_refs
                .first()
                .and_then(|b| b.rest.get("port").cloned());
            for (name, w) in weights {
                if !rule.backend_refs.iter().any(|b| &b.name == name) {
                    let mut rest = Map::new();
                    if let Some(p) = &port {
                        rest.insert("port".into(), p.clone());
                    }
                    rule.backend_refs.push(BackendRef {
                        name: name.clone(),
                        weight: Some(*w as i32),
                        rest,
                    });
                }
            }
        }
        rules
    }

    /// Whether every parent shows this generation accepted with its refs
    /// resolved.
    pub fn acceptance(&self) -> Acceptance {
        let generation = self.metadata.generation.unwrap_or(0);
        let parents = self
            .status
            .as_ref()
            .map_or(&[][..], |s| s.parents.as_slice());
        if parents.is_empty() {
            return Acceptance::Pending("no Gateway has reported on the route yet".into());
        }
        for p in parents {
            let parent = p
                .parent_ref
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            for kind in ["Accepted", "ResolvedRefs"] {
                let Some(c) = p.conditions.iter().find(|c| c.kind == kind) else {
                    return Acceptance::Pending(format!("Gateway {parent} has no {kind} yet"));
                };
                let observed = c.observed_generation.unwrap_or(0);
                if observed < generation {
                    return Acceptance::Pending(format!(
                        "Gateway {parent} has seen generation {observed} of {generation}"
                    ));
                }
                if c.status != "True" {
                    return Acceptance::Refused(format!(
                        "Gateway {parent}: {kind} is {} ({}{})",
                        c.status,
                        c.reason.as_deref().unwrap_or("no reason"),
                        c.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        Acceptance::Accepted
    }
}

fn show(w: &BTreeMap<String, u32>) -> String {
    w.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> HttpRoute {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "backend", "namespace": "shop", "generation": 3, "resourceVersion": "41"},
            "spec": {
                "parentRefs": [{"name": "gw"}],
                "hostnames": ["shop.example"],
                "rules": [
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                     "backendRefs": [{"name": "backend-v1", "port": 8080, "weight": 9},
                                     {"name": "backend-v2", "port": 8080, "weight": 1}]},
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                     "backendRefs": [{"name": "cdn", "port": 80}]}
                ]
            },
            "status": {"parents": [{"parentRef": {"name": "gw"}, "controllerName": "example.net/gw",
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": 3},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "observedGeneration": 3}
                ]}]}
        }))
        .expect("route")
    }

    #[test]
    fn reads_weights_and_keeps_every_other_field() {
        let r = route();
        let w = r.weights(&["backend-v1", "backend-v2"]).expect("weights");
        assert_eq!(
            w,
            [("backend-v1".into(), 9), ("backend-v2".into(), 1)].into()
        );
        let new: BTreeMap<String, u32> =
            [("backend-v1".into(), 75), ("backend-v2".into(), 25)].into();
        let rules = r.rules_with(&new);
        let json = serde_json::to_value(&rules).expect("json");
        assert_eq!(
            json,
            serde_json::json!([
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "backend-v1", "port": 8080, "weight": 75},
                                 {"name": "backend-v2", "port": 8080, "weight": 25}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
                 "backendRefs": [{"name": "cdn", "port": 80}]}
            ])
        );
        // The spec's other fields survive a round trip.
        let spec = serde_json::to_value(&r.spec).expect("spec");
        assert_eq!(spec["hostnames"], serde_json::json!(["shop.example"]));
    }

    #[test]
    fn a_missing_backend_is_added_and_unset_weights_are_one() {
        let mut r = route();
        r.spec.rules[0].backend_refs.pop();
        r.spec.rules[0].backend_refs[0].weight = None;
        assert_eq!(
            r.weights(&["backend-v1", "backend-v2"]).expect("w"),
            [("backend-v1".into(), 1)].into()
        );
        let rules = r.rules_with(&[("backend-v1".into(), 90), ("backend-v2".into(), 10)].into());
        assert_eq!(rules[0].backend_refs.len(), 2);
        assert_eq!(
            rules[0].backend_refs[1].rest.get("port"),
            Some(&serde_json::json!(8080))
        );
    }

    #[test]
    fn rules_that_disagree_are_said() {
        let mut r = route();
        let mut second = r.spec.rules[0].clone();
        second.backend_refs[0].weight = Some(5);
        r.spec.rules.push(second);
        let e = r
            .weights(&["backend-v1", "backend-v2"])
            .expect_err("disagree");
        assert!(e.contains("rules disagree"), "{e}");
    }

    #[test]
    fn acceptance_needs_every_parent_at_this_generation() {
        let mut r = route();
        assert_eq!(r.acceptance(), Acceptance::Accepted);
        r.metadata.generation = Some(4);
        assert!(
            matches!(r.acceptance(), Acceptance::Pending(m) if m.contains("generation 3 of 4"))
        );
        if let Some(s) = r.status.as_mut() {
            for c in &mut s.parents[0].conditions {
                c.observed_generation = Some(4);
            }
            s.parents[0].conditions[1].status = "False".into();
            s.parents[0].conditions[1].reason = Some("BackendNotFound".into());
        }
        assert!(matches!(r.acceptance(), Acceptance::Refused(m) if m.contains("BackendNotFound")));
        r.status = None;
        assert!(matches!(r.acceptance(), Acceptance::Pending(_)));
    }
}
