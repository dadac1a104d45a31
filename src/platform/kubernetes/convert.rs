//! Pure conversions between Kubernetes' vocabulary and the cockpit's model:
//! HTTPRoute weights ↔ percentages, a Service selector ↔ a split, and a
//! Deployment's status → its rollout state and readiness.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::core::model::TrafficSplit;

/// `jiff` (k8s-openapi's time type) to chrono, at the edge.
pub fn to_chrono(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    let ts = t.0;
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().max(0) as u32)
        .unwrap_or_default()
}

/// Relative weights (an HTTPRoute's `backendRefs[].weight`, share = weight /
/// sum) as whole percentages summing to 100, by largest remainder (ties to
/// the name first in order); a weight above 0 is never shown as 0 % (it is
/// traffic: at least 1 %). `None` when every weight is 0: nothing is served.
pub fn percentages(weights: &BTreeMap<String, u32>) -> Option<TrafficSplit> {
    let total: u64 = weights.values().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut parts: Vec<(&String, u64, u64)> = weights
        .iter()
        .map(|(name, w)| {
            let scaled = u64::from(*w) * 100;
            (name, scaled / total, scaled % total)
        })
        .collect();
    // Traffic never rounds to nothing.
    for part in &mut parts {
        if part.1 == 0 && part.2 > 0 {
            part.1 = 1;
            part.2 = 0;
        }
    }
    let mut floor: u64 = parts.iter().map(|p| p.1).sum();
    while floor > 100 {
        if let Some(max) = parts.iter_mut().max_by_key(|p| p.1) {
            max.1 -= 1;
        }
        floor -= 1;
    }
    let mut left = 100 - floor;
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Largest remainder first; only weights above 0 get a point.
    order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        if parts[i].2 > 0 {
            parts[i].1 += 1;
            left -= 1;
        }
    }
    TrafficSplit::new(parts.into_iter().map(|(n, p, _)| (n.clone(), p as u32))).ok()
}

/// Whether `weights` serve exactly `split` (weights are relative: 9/1 is
/// 90/10).
pub fn weights_serve(weights: &BTreeMap<String, u32>, split: &TrafficSplit) -> bool {
    let total: u64 = weights.values().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return false;
    }
    let names: std::collections::BTreeSet<&str> = weights
        .keys()
        .map(String::as_str)
        .chain(split.revisions())
        .collect();
    names.into_iter().all(|n| {
        let w = u64::from(weights.get(n).copied().unwrap_or(0));
        w * 100 == u64::from(split.percent_of(n)) * total
    })
}

/// The weights the cockpit writes for `split`: weight = percent (so they sum
/// to 100 and read as percentages), 0 for every other known revision (a 0
/// weight is no traffic, and keeps the backendRef in the route).
pub fn weights_for(split: &TrafficSplit, revisions: &[String]) -> BTreeMap<String, u32> {
    let mut out: BTreeMap<String, u32> = revisions.iter().map(|r| (r.clone(), 0)).collect();
    for a in split.entries() {
        out.insert(a.revision.clone(), u32::from(a.percent));
    }
    out
}

/// `percent` of traffic is more than blue/green can do unless it is 0 or
/// 100: the sentence the operator sees when a split is not all-or-nothing.
pub fn all_or_nothing(split: &TrafficSplit, service: &str, key: &str) -> Result<String, String> {
    match split.entries() {
        [only] => Ok(only.revision.clone()),
        parts => {
            let shown = parts
                .iter()
                .map(|a| format!("{} {} %", a.revision, a.percent))
                .collect::<Vec<_>>()
                .join(" · ");
            Err(format!(
                "{shown} cannot be done in blue/green: the Service {service}'s selector \
                 ({key}) sends all traffic to one colour; switch all of it (P promotes, \
                 r rolls back) or use mode = \"weights\""
            ))
        }
    }
}

/// The colour the selector names, if it names one of `colours`.
pub fn selected_colour<'a>(
    selector: &BTreeMap<String, String>,
    key: &str,
    colours: &'a BTreeMap<String, String>,
) -> Result<&'a str, String> {
    match selector.get(key) {
        None => Err(format!(
            "the Service's selector has no `{key}` key ({}): it selects every colour's pods",
            show_selector(selector)
        )),
        Some(v) => colours
            .get_key_value(v)
            .map(|(k, _)| k.as_str())
            .ok_or_else(|| {
                format!(
                    "the Service's selector names {key}={v}, which is none of the configured \
                     colours ({})",
                    colours.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }),
    }
}

/// `app=backend,version=blue`.
pub fn show_selector(selector: &BTreeMap<String, String>) -> String {
    if selector.is_empty() {
        return "empty".into();
    }
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The whole new selector: the old one with `key` set to `colour` (the
/// selector is an atomic map: a merge patch replaces it whole).
pub fn selector_for(
    selector: &BTreeMap<String, String>,
    key: &str,
    colour: &str,
) -> BTreeMap<String, String> {
    let mut out = selector.clone();
    out.insert(key.to_string(), colour.to_string());
    out
}

/// Where a Deployment's rollout is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica updated and available.
    Complete,
    /// Still rolling out (why, as the status says).
    Progressing(String),
    /// `ProgressDeadlineExceeded`: the rollout failed.
    Failed(String),
    /// `spec.replicas` is 0.
    ScaledToZero,
    /// `spec.paused`.
    Paused,
}

/// The numbers a Deployment reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replicas {
    pub desired: i32,
    /// `status.replicas` (pods of every ReplicaSet).
    pub current: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    pub generation: i64,
    pub observed_generation: i64,
}

impl Replicas {
    /// `3/3 ready · 3 updated · 3 available of 3`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} ready · {} updated · {} available of {} desired",
            self.ready, self.desired, self.updated, self.available, self.desired
        )
    }
}

/// One condition as the status lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// `lastTransitionTime`.
    pub since: Option<DateTime<Utc>>,
}

/// A Deployment's make-up as the inspect view (`Enter`, `canary describe`)
/// shows every platform's: its first container's environment (a Secret by
/// name and key, never its value; a ConfigMap or field reference by what it
/// points at), limits, port, and the Deployment's conditions
/// (`Available`/`Progressing` true is good; `ReplicaFailure` true and a
/// `ProgressDeadlineExceeded` are failures; `Available` false and `Unknown`
/// are pending).
pub fn revision_details(
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    conditions: &[Condition],
) -> crate::core::details::RevisionDetails {
    use crate::core::details::{
        Condition as Shown, ConditionState, EnvValue, EnvVar, RevisionDetails,
    };
    let container = template.spec.as_ref().and_then(|p| p.containers.first());
    let env = container
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
        .map(|e| {
            let from = e.value_from.as_ref();
            let value = if let Some(s) = from.and_then(|f| f.secret_key_ref.as_ref()) {
                EnvValue::Secret {
                    secret: format!("{}/{}", s.name, s.key),
                    version: String::new(),
                }
            } else if let Some(c) = from.and_then(|f| f.config_map_key_ref.as_ref()) {
                EnvValue::Plain(format!("from ConfigMap {} key {}", c.name, c.key))
            } else if let Some(f) = from.and_then(|f| f.field_ref.as_ref()) {
                EnvValue::Plain(format!("from field {}", f.field_path))
            } else if let Some(r) = from.and_then(|f| f.resource_field_ref.as_ref()) {
                EnvValue::Plain(format!("from resource {}", r.resource))
            } else if from.is_some() {
                EnvValue::Plain("from a source the cockpit does not read".into())
            } else {
                EnvValue::Plain(e.value.clone().unwrap_or_default())
            };
            EnvVar {
                name: e.name.clone(),
                value,
            }
        })
        .collect();
    let limits = container
        .and_then(|c| c.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .map(|l| l.iter().map(|(k, q)| (k.clone(), q.0.clone())).collect())
        .unwrap_or_default();
    let port = container
        .and_then(|c| c.ports.as_ref())
        .and_then(|p| p.first())
        .map(|p| i64::from(p.container_port));
    let conditions = conditions
        .iter()
        .map(|c| {
            let truth = c.status.as_str();
            // Available=False is a rollout under way (pending), not a
            // failure; the rollout fails on ProgressDeadlineExceeded
            // (Progressing=False) or a ReplicaFailure.
            let failed = (c.kind == "ReplicaFailure" && truth == "True")
                || (c.kind == "Progressing" && truth == "False")
                || c.reason.as_deref() == Some("ProgressDeadlineExceeded");
            let good = (c.kind == "ReplicaFailure" && truth == "False")
                || (c.kind != "ReplicaFailure" && truth == "True");
            Shown {
                kind: c.kind.clone(),
                state: if failed {
                    ConditionState::Failed
                } else if good {
                    ConditionState::Ok
                } else {
                    ConditionState::Pending
                },
                message: c.message.clone(),
                reason: c.reason.clone(),
                since: c.since,
            }
        })
        .collect();
    RevisionDetails {
        env,
        limits,
        port,
        conditions,
        ..RevisionDetails::default()
    }
}

/// The rollout state (kubectl rollout status's rule): complete when the
/// controller has seen the newest spec and updated = desired = replicas =
/// available; failed on `ProgressDeadlineExceeded`.
pub fn rollout(r: &Replicas, paused: bool, conditions: &[Condition]) -> Rollout {
    if let Some(c) = conditions.iter().find(|c| {
        c.kind == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        return Rollout::Failed(c.message.clone().unwrap_or_else(|| {
            "ProgressDeadlineExceeded: the rollout did not progress in time".into()
        }));
    }
    if paused {
        return Rollout::Paused;
    }
    if r.observed_generation < r.generation {
        return Rollout::Progressing("waiting for the controller to see the new spec".into());
    }
    if r.desired == 0 && r.current == 0 {
        return Rollout::ScaledToZero;
    }
    if r.updated < r.desired {
        return Rollout::Progressing(format!("{} of {} replicas updated", r.updated, r.desired));
    }
    if r.current > r.updated {
        return Rollout::Progressing(format!(
            "{} old replicas pending termination",
            r.current - r.updated
        ));
    }
    if r.available < r.updated {
        return Rollout::Progressing(format!(
            "{} of {} updated replicas available",
            r.available, r.updated
        ));
    }
    Rollout::Complete
}

impl Rollout {
    pub fn label(&self) -> String {
        match self {
            Rollout::Complete => "complete".into(),
            Rollout::Progressing(why) => format!("progressing: {why}"),
            Rollout::Failed(why) => format!("failed (ProgressDeadlineExceeded): {why}"),
            Rollout::ScaledToZero => "scaled to 0".into(),
            Rollout::Paused => "paused".into(),
        }
    }
}

/// Readiness for the guardrails: rollout complete and every replica
/// available. A colour scaled to 0 counts as ready in blue/green only
/// (`cold_ok`): switching to it scales it up and waits for it first.
pub fn readiness(rollout: &Rollout, r: &Replicas, cold_ok: bool) -> (bool, Option<String>) {
    match rollout {
        Rollout::Complete if r.available >= r.desired && r.desired > 0 => (true, None),
        Rollout::Complete => (false, Some(r.describe())),
        Rollout::ScaledToZero if cold_ok => (
            true,
            Some("scaled to 0: a switch to it scales it up and waits for it first".into()),
        ),
        Rollout::ScaledToZero => (false, Some("scaled to 0: no pods to serve".into())),
        other => (
            false,
            Some(format!("rollout {}; {}", other.label(), r.describe())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &[(&str, u32)]) -> BTreeMap<String, u32> {
        p.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    fn split(p: &[(&str, u32)]) -> TrafficSplit {
        TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).expect("valid")
    }

    #[test]
    fn relative_weights_become_percentages() {
        assert_eq!(
            percentages(&w(&[("a", 9), ("b", 1)])),
            Some(split(&[("a", 90), ("b", 10)]))
        );
        assert_eq!(
            percentages(&w(&[("a", 1), ("b", 1), ("c", 1)])),
            Some(split(&[("a", 34), ("b", 33), ("c", 33)]))
        );
        assert_eq!(
            percentages(&w(&[("a", 0), ("b", 3)])),
            Some(TrafficSplit::all_to("b"))
        );
        // A tiny weight still shows: it is traffic.
        assert_eq!(
            percentages(&w(&[("a", 1000), ("b", 1)])),
            Some(split(&[("a", 99), ("b", 1)]))
        );
        assert_eq!(percentages(&w(&[("a", 0), ("b", 0)])), None);
        assert_eq!(percentages(&w(&[])), None);
    }

    #[test]
    fn percentages_round_trip_through_weights() {
        let names = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        for s in [
            split(&[("a", 90), ("b", 10)]),
            split(&[("a", 75), ("b", 25)]),
            TrafficSplit::all_to("c"),
            split(&[("a", 50), ("b", 49), ("c", 1)]),
        ] {
            let weights = weights_for(&s, &names);
            assert_eq!(weights.values().sum::<u32>(), 100);
            assert_eq!(weights.len(), 3, "every revision keeps its backendRef");
            assert_eq!(percentages(&weights), Some(s.clone()));
            assert!(weights_serve(&weights, &s));
        }
        assert!(weights_serve(
            &w(&[("a", 9), ("b", 1)]),
            &split(&[("a", 90), ("b", 10)])
        ));
        assert!(!weights_serve(
            &w(&[("a", 2), ("b", 1)]),
            &split(&[("a", 67), ("b", 33)])
        ));
        assert!(!weights_serve(&w(&[("a", 0)]), &TrafficSplit::all_to("a")));
    }

    #[test]
    fn blue_green_refuses_a_split_with_a_sentence() {
        assert_eq!(
            all_or_nothing(&TrafficSplit::all_to("backend-green"), "backend", "version"),
            Ok("backend-green".to_string())
        );
        let e = all_or_nothing(
            &split(&[("backend-blue", 95), ("backend-green", 5)]),
            "backend",
            "version",
        )
        .expect_err("5 %");
        assert!(
            e.starts_with("backend-blue 95 % · backend-green 5 % cannot be done in blue/green"),
            "{e}"
        );
    }

    #[test]
    fn selector_names_a_colour() {
        let colours: BTreeMap<String, String> = [
            ("blue".to_string(), "backend-blue".to_string()),
            ("green".to_string(), "backend-green".to_string()),
        ]
        .into();
        let sel: BTreeMap<String, String> = [
            ("app".to_string(), "backend".to_string()),
            ("version".to_string(), "blue".to_string()),
        ]
        .into();
        assert_eq!(selected_colour(&sel, "version", &colours), Ok("blue"));
        let new = selector_for(&sel, "version", "green");
        assert_eq!(show_selector(&new), "app=backend,version=green");
        assert_eq!(selected_colour(&new, "version", &colours), Ok("green"));
        let red = selector_for(&sel, "version", "red");
        assert!(selected_colour(&red, "version", &colours)
            .expect_err("red")
            .contains("none of the configured colours (blue, green)"));
        let none: BTreeMap<String, String> = [("app".to_string(), "backend".to_string())].into();
        assert!(selected_colour(&none, "version", &colours)
            .expect_err("no key")
            .contains("no `version` key"));
    }

    fn reps(desired: i32, current: i32, updated: i32, available: i32) -> Replicas {
        Replicas {
            desired,
            current,
            ready: available,
            updated,
            available,
            generation: 2,
            observed_generation: 2,
        }
    }

    /// Conditions as the inspect view shows them: a scale-up under way
    /// (Available=False) is pending, not failed; a deadline or a replica
    /// failure is.
    #[test]
    fn deployment_conditions_in_the_inspect_view() {
        use crate::core::details::ConditionState as S;
        let c = |kind: &str, status: &str, reason: Option<&str>| Condition {
            kind: kind.into(),
            status: status.into(),
            reason: reason.map(Into::into),
            message: None,
            since: None,
        };
        let states = |cs: Vec<Condition>| -> Vec<S> {
            revision_details(&Default::default(), &cs)
                .conditions
                .iter()
                .map(|c| c.state)
                .collect()
        };
        assert_eq!(
            states(vec![
                c("Available", "False", Some("MinimumReplicasUnavailable")),
                c("Progressing", "True", Some("ReplicaSetUpdated")),
            ]),
            vec![S::Pending, S::Ok]
        );
        assert_eq!(
            states(vec![
                c("Progressing", "False", Some("ProgressDeadlineExceeded")),
                c("ReplicaFailure", "True", Some("FailedCreate")),
                c("ReplicaFailure", "False", None),
                c("Available", "Unknown", None),
            ]),
            vec![S::Failed, S::Failed, S::Ok, S::Pending]
        );
    }

    #[test]
    fn rollout_states() {
        assert_eq!(rollout(&reps(3, 3, 3, 3), false, &[]), Rollout::Complete);
        assert!(matches!(
            rollout(&reps(3, 4, 2, 3), false, &[]),
            Rollout::Progressing(m) if m == "2 of 3 replicas updated"
        ));
        assert!(matches!(
            rollout(&reps(3, 4, 3, 3), false, &[]),
            Rollout::Progressing(m) if m.contains("1 old replicas")
        ));
        assert!(matches!(
            rollout(&reps(3, 3, 3, 2), false, &[]),
            Rollout::Progressing(m) if m == "2 of 3 updated replicas available"
        ));
        let stale = Replicas {
            observed_generation: 1,
            ..reps(3, 3, 3, 3)
        };
        assert!(matches!(
            rollout(&stale, false, &[]),
            Rollout::Progressing(_)
        ));
        let deadline = [Condition {
            kind: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet \"b-7d\" has timed out progressing.".into()),
            since: None,
        }];
        assert!(matches!(
            rollout(&reps(3, 3, 1, 1), false, &deadline),
            Rollout::Failed(m) if m.contains("timed out")
        ));
        assert_eq!(
            rollout(&reps(0, 0, 0, 0), false, &[]),
            Rollout::ScaledToZero
        );
        assert_eq!(rollout(&reps(3, 3, 3, 3), true, &[]), Rollout::Paused);
    }

    #[test]
    fn readiness_is_complete_and_all_available() {
        let r = reps(3, 3, 3, 3);
        assert_eq!(readiness(&Rollout::Complete, &r, false), (true, None));
        let r2 = reps(3, 3, 3, 2);
        let (ready, why) = readiness(&rollout(&r2, false, &[]), &r2, false);
        assert!(!ready);
        assert!(why.expect("why").contains("2/3 ready"));
        let zero = reps(0, 0, 0, 0);
        assert!(readiness(&Rollout::ScaledToZero, &zero, true).0);
        assert!(!readiness(&Rollout::ScaledToZero, &zero, false).0);
    }
}
