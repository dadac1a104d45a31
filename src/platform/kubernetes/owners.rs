//! Another controller owning the traffic object: the cockpit never fights
//! it, it goes read-only for the service and says why.
//!
//! - Argo Rollouts marks the Services it steers with the annotation
//!   `argo-rollouts.argoproj.io/managed-by-rollouts`.
//! - Flagger owns what it generates through an ownerReference to its
//!   `Canary` (`flagger.app/*`), and rewrites the whole spec on every
//!   reconcile.
//! - A controller that writes the selector (or the route's rules) shows in
//!   `managedFields`: a manager with a server-side apply, or a known
//!   controller's manager, owning `spec.selector` / `spec.rules`. People
//!   (`kubectl …`) and the cockpit itself never count: a `kubectl patch` is
//!   a change to re-read, not a controller.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The field manager the cockpit writes with.
pub const FIELD_MANAGER: &str = "canary-cockpit";

/// Argo Rollouts' annotation on the Services it manages.
pub const ARGO_ROLLOUTS: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// Managers of controllers that reconcile traffic objects with an Update
/// (not a server-side apply), by name prefix.
const KNOWN_CONTROLLERS: &[(&str, &str)] = &[
    ("flagger", "Flagger"),
    ("argo-rollouts", "Argo Rollouts"),
    ("rollouts-controller", "Argo Rollouts"),
    ("argocd", "Argo CD"),
    ("kustomize-controller", "Flux"),
    ("helm-controller", "Flux"),
];

/// Why another controller owns the object (`what`, e.g. "Service backend"),
/// looking at `field` (`f:selector`, `f:rules`) under `f:spec`.
pub fn owned_by_another(meta: &ObjectMeta, what: &str, field: &str) -> Option<String> {
    if let Some(rollout) = meta.annotations.as_ref().and_then(|a| a.get(ARGO_ROLLOUTS)) {
        return Some(format!(
            "{what} is managed by Argo Rollouts (Rollout {rollout}, annotation {ARGO_ROLLOUTS}): \
             change traffic there, the cockpit does not fight it"
        ));
    }
    for o in meta.owner_references.iter().flatten() {
        if o.kind == "Canary" && o.api_version.starts_with("flagger.app/") {
            return Some(format!(
                "{what} is owned by the Flagger Canary {} (ownerReference): Flagger rewrites it \
                 on every reconcile, the cockpit does not fight it",
                o.name
            ));
        }
    }
    for m in meta.managed_fields.iter().flatten() {
        let manager = m.manager.as_deref().unwrap_or("");
        if manager == FIELD_MANAGER || manager.starts_with("kubectl") || manager.is_empty() {
            continue;
        }
        let owns = m
            .fields_v1
            .as_ref()
            .and_then(|f| f.0.get("f:spec"))
            .and_then(|spec| spec.get(field))
            .is_some();
        if !owns {
            continue;
        }
        let known = KNOWN_CONTROLLERS
            .iter()
            .find(|(prefix, _)| manager.starts_with(prefix))
            .map(|(_, name)| *name);
        let applied = m.operation.as_deref() == Some("Apply");
        if known.is_some() || applied {
            let by = known.map_or_else(
                || format!("the field manager {manager} (server-side apply)"),
                |n| format!("{n} (field manager {manager})"),
            );
            let field = field.trim_start_matches("f:");
            return Some(format!(
                "{what}'s spec.{field} is owned by {by}: it would undo the cockpit's changes, \
                 the cockpit does not fight it"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        FieldsV1, ManagedFieldsEntry, OwnerReference,
    };

    fn managed(manager: &str, op: &str, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(op.into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn argo_rollouts_annotation() {
        let meta = ObjectMeta {
            annotations: Some([(ARGO_ROLLOUTS.to_string(), "backend".to_string())].into()),
            ..ObjectMeta::default()
        };
        let why = owned_by_another(&meta, "Service backend", "f:selector").expect("owned");
        assert!(why.contains("Argo Rollouts (Rollout backend"), "{why}");
    }

    #[test]
    fn flagger_owner_reference() {
        let meta = ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "flagger.app/v1beta1".into(),
                kind: "Canary".into(),
                name: "podinfo".into(),
                uid: "u".into(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        };
        let why = owned_by_another(&meta, "HTTPRoute podinfo", "f:rules").expect("owned");
        assert!(why.contains("Flagger Canary podinfo"), "{why}");
    }

    #[test]
    fn managed_fields_count_controllers_not_people() {
        let selector = serde_json::json!({"f:spec": {"f:selector": {}}});
        let other = serde_json::json!({"f:spec": {"f:ports": {}}});
        let people = ObjectMeta {
            managed_fields: Some(vec![
                managed("kubectl-patch", "Update", selector.clone()),
                managed("kubectl", "Apply", selector.clone()),
                managed(FIELD_MANAGER, "Update", selector.clone()),
                managed("helm", "Update", selector.clone()),
                managed("flagger", "Update", other),
            ]),
            ..ObjectMeta::default()
        };
        assert_eq!(owned_by_another(&people, "Service b", "f:selector"), None);
        let flux = ObjectMeta {
            managed_fields: Some(vec![managed(
                "kustomize-controller",
                "Apply",
                selector.clone(),
            )]),
            ..ObjectMeta::default()
        };
        let why = owned_by_another(&flux, "Service b", "f:selector").expect("owned");
        assert!(
            why.contains("spec.selector is owned by Flux (field manager kustomize-controller)"),
            "{why}"
        );
        let ssa = ObjectMeta {
            managed_fields: Some(vec![managed("gitops-bot", "Apply", selector)]),
            ..ObjectMeta::default()
        };
        let why = owned_by_another(&ssa, "Service b", "f:selector").expect("owned");
        assert!(why.contains("gitops-bot (server-side apply)"), "{why}");
    }
}
