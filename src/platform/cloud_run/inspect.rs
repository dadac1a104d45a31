//! A Cloud Run revision's make-up and state for the inspect view: the
//! serving container's image, environment (secret references by name only),
//! limits and port, the revision's scaling, and its conditions.

use super::api;
use crate::core::details::{
    digest_of, plain_reason, Condition, ConditionState, EnvValue, EnvVar, RevisionDetails,
};

/// The serving container: the one with a port, else the first.
fn serving(r: &api::Revision) -> Option<&api::Container> {
    r.containers
        .iter()
        .find(|c| !c.ports.is_empty())
        .or(r.containers.first())
}

fn condition(c: &api::Condition) -> Condition {
    Condition {
        kind: c.kind.clone(),
        state: if c.succeeded() {
            ConditionState::Ok
        } else if c.failed() {
            ConditionState::Failed
        } else {
            ConditionState::Pending
        },
        message: c.message.clone().filter(|m| !m.is_empty()),
        reason: c
            .reason
            .clone()
            .or_else(|| c.revision_reason.clone())
            .filter(|r| !r.is_empty() && !r.ends_with("_UNDEFINED")),
        since: c
            .last_transition_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
    }
}

/// What the inspect view shows of `r`; `service` says who created it when
/// it is the service's latest revision (its last modifier made it).
pub fn details(r: &api::Revision, service: &api::Service) -> RevisionDetails {
    let c = serving(r);
    let env = c
        .map(|c| {
            c.env
                .iter()
                .map(|e| EnvVar {
                    name: e.name.clone(),
                    value: match e
                        .value_source
                        .as_ref()
                        .and_then(|s| s.secret_key_ref.as_ref())
                    {
                        Some(s) => EnvValue::Secret {
                            secret: s.secret.clone(),
                            version: s.version.clone().unwrap_or_else(|| "latest".into()),
                        },
                        None => EnvValue::Plain(e.value.clone().unwrap_or_default()),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let mut conditions: Vec<Condition> = r.conditions.iter().map(condition).collect();
    // In the order a deploy goes through them (the API lists Ready first).
    conditions.sort_by_key(Condition::rank);
    let ready = r.ready_condition();
    let deploying = (r.reconciling || ready.is_some_and(|c| !c.succeeded() && !c.failed()))
        && !conditions.iter().any(|c| c.state == ConditionState::Failed);
    let latest = service
        .latest_created_revision
        .as_deref()
        .map(api::last_segment);
    RevisionDetails {
        digest: c.and_then(|c| digest_of(&c.image)),
        creator: (latest == Some(r.short_name()))
            .then(|| service.last_modifier.clone())
            .flatten(),
        env,
        limits: c
            .and_then(|c| c.resources.as_ref())
            .map(|res| {
                res.limits
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        min_instances: r
            .scaling
            .as_ref()
            .and_then(|s| s.min_instance_count)
            .map(i64::from),
        max_instances: r
            .scaling
            .as_ref()
            .and_then(|s| s.max_instance_count)
            .map(i64::from),
        concurrency: r.max_instance_request_concurrency.map(i64::from),
        port: c
            .and_then(|c| c.ports.first())
            .and_then(|p| p.container_port)
            .map(i64::from),
        conditions,
        deploying,
        platform: Vec::new(),
    }
}

/// Why a revision is not ready, in plain words then the platform's, when a
/// condition failed; `None` otherwise.
pub fn failure_message(d: &RevisionDetails) -> Option<String> {
    let failed = d
        .conditions
        .iter()
        .filter(|c| c.state == ConditionState::Failed)
        .find(|c| c.kind != "Ready")
        .or_else(|| {
            d.conditions
                .iter()
                .find(|c| c.state == ConditionState::Failed)
        })?;
    let platform = failed
        .message
        .clone()
        .unwrap_or_else(|| format!("{} failed", failed.kind));
    Some(
        match plain_reason(failed.reason.as_deref(), failed.message.as_deref()) {
            Some(p) => format!("{p}: {platform}"),
            None => platform,
        },
    )
}

/// While it is being created: which conditions are done, which not yet.
pub fn progress_message(d: &RevisionDetails) -> String {
    let parts: Vec<String> = d
        .conditions
        .iter()
        .map(|c| {
            let mark = match c.state {
                ConditionState::Ok => "✓",
                ConditionState::Pending => "…",
                ConditionState::Failed => "✗",
            };
            format!("{} {mark}", c.label())
        })
        .collect();
    if parts.is_empty() {
        "deploying".into()
    } else {
        format!("deploying: {}", parts.join(" · "))
    }
}
