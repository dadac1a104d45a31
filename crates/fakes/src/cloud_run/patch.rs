//! `PATCH v2/projects/P/locations/L/services/S?updateMask=traffic`, validated
//! the way the real API does: field mask, known field names, etag, revisions
//! that exist, percents that sum to 100, unique well-formed tags.

use std::collections::HashSet;

use serde_json::Value;
use tokio::time::Instant;

use super::state::{normalise, ready_condition, with_type, FakeService, FakeState};
use canary::platform::cloud_run::api::{
    self, ErrorBody, ErrorEnvelope, TrafficTarget, CONDITION_RECONCILING, TYPE_LATEST,
    TYPE_REVISION,
};

/// Every field of `GoogleCloudRunV2Service` (run.v2 discovery, revision 20240614).
pub(super) const SERVICE_FIELDS: &[&str] = &[
    "annotations",
    "binaryAuthorization",
    "client",
    "clientVersion",
    "conditions",
    "createTime",
    "creator",
    "customAudiences",
    "defaultUriDisabled",
    "deleteTime",
    "description",
    "etag",
    "expireTime",
    "generation",
    "ingress",
    "labels",
    "lastModifier",
    "latestCreatedRevision",
    "latestReadyRevision",
    "launchStage",
    "name",
    "observedGeneration",
    "reconciling",
    "satisfiesPzs",
    "scaling",
    "template",
    "terminalCondition",
    "traffic",
    "trafficStatuses",
    "uid",
    "updateTime",
    "uri",
];

/// Every field of `GoogleCloudRunV2TrafficTarget`.
const TARGET_FIELDS: &[&str] = &["type", "revision", "percent", "tag"];

/// A Google API error response.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "INVALID_ARGUMENT", message)
    }

    pub fn body(&self) -> String {
        serde_json::to_string(&ErrorEnvelope {
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                status: self.status.into(),
                details: vec![],
            },
        })
        .unwrap_or_default()
    }
}

pub(super) fn unknown_name(name: &str, at: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."
    ))
}

/// A PATCH body as the API takes it: a JSON object (a `Service`) with
/// known field names only.
pub(super) fn service_object(body: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object for 'service'.",
        ));
    };
    if let Some(k) = map.keys().find(|k| !SERVICE_FIELDS.contains(&k.as_str())) {
        return Err(unknown_name(k, "service"));
    }
    Ok(map)
}

/// 409 ABORTED when the request carries an etag the service is no longer at.
pub(super) fn check_etag(svc: &FakeService, etag: Option<&str>) -> Result<(), ApiError> {
    match etag {
        Some(etag) if Some(etag) != svc.resource.etag.as_deref() => Err(ApiError::new(
            409,
            "ABORTED",
            format!(
                "Etag mismatch: the request has {etag} but service '{}' is at {}; it was modified concurrently.",
                svc.short(),
                svc.resource.etag.as_deref().unwrap_or("")
            ),
        )),
        _ => Ok(()),
    }
}

/// The name of operation `id` on service `name` (`projects/P/locations/L/
/// services/S`); `kind` tells traffic changes, deploys and deletions apart.
pub(super) fn operation_name(name: &str, id: u64, kind: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    format!(
        "projects/{}/locations/{}/operations/{:08x}-{kind}-4e2a-9b7d-{:012x}",
        parts.get(1).unwrap_or(&""),
        parts.get(3).unwrap_or(&""),
        id,
        id.wrapping_mul(0x9E37_79B9)
    )
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 46
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !tag.ends_with('-')
}

/// Parses the body: known field names only, `traffic` as TrafficTargets.
pub(super) fn parse_body(body: &str) -> Result<(Vec<TrafficTarget>, Option<String>), ApiError> {
    let map = service_object(body)?;
    let mut traffic = map.get("traffic").cloned().unwrap_or(Value::Array(vec![]));
    if let Value::Array(items) = &mut traffic {
        for (i, item) in items.iter_mut().enumerate() {
            if let Value::Object(t) = item {
                if let Some(k) = t.keys().find(|k| !TARGET_FIELDS.contains(&k.as_str())) {
                    return Err(unknown_name(k, &format!("service.traffic[{i}]")));
                }
                // Proto3 JSON also allows an enum's number (Google's clients
                // send `$alt=json;enum-encoding=int` bodies).
                if let Some(n) = t.get("type").and_then(Value::as_i64) {
                    let name = match n {
                        0 => "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED",
                        1 => TYPE_LATEST,
                        2 => TYPE_REVISION,
                        _ => {
                            return Err(ApiError::invalid(format!(
                                "Invalid value at 'service.traffic[{i}].type' (type.googleapis.com/google.cloud.run.v2.TrafficTargetAllocationType), {n}"
                            )))
                        }
                    };
                    t.insert("type".into(), Value::String(name.into()));
                }
            }
        }
    }
    let traffic: Vec<TrafficTarget> = serde_json::from_value(traffic)
        .map_err(|e| ApiError::invalid(format!("Invalid value at 'service.traffic': {e}")))?;
    let etag = match map.get("etag") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'service.etag' (TYPE_STRING), {other}"
            )))
        }
    };
    Ok((traffic, etag))
}

pub(super) fn validate_traffic(
    traffic: &[TrafficTarget],
    exists: impl Fn(&str) -> bool,
) -> Result<(), ApiError> {
    let mut sum = 0i64;
    let mut tags = HashSet::new();
    for (i, t) in traffic.iter().enumerate() {
        let at = format!("service.traffic[{i}]");
        let rev = t.revision.as_deref().filter(|r| !r.is_empty());
        match t.kind.as_deref() {
            Some(TYPE_REVISION) if rev.is_none() => {
                return Err(ApiError::invalid(format!(
                    "{at}.revision is required when type is {TYPE_REVISION}"
                )))
            }
            Some(TYPE_LATEST) if rev.is_some() => {
                return Err(ApiError::invalid(format!(
                    "{at}.revision must be empty when type is {TYPE_LATEST}"
                )))
            }
            None | Some(TYPE_REVISION | TYPE_LATEST | "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED") => {}
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Invalid value at '{at}.type' (type.googleapis.com/google.cloud.run.v2.TrafficTargetAllocationType), \"{other}\""
                )))
            }
        }
        if let Some(r) = rev {
            if !exists(r) {
                return Err(ApiError::invalid(format!(
                    "Revision '{r}' named in {at} does not exist."
                )));
            }
        }
        let pct = t.percent();
        if !(0..=100).contains(&pct) {
            return Err(ApiError::invalid(format!(
                "{at}.percent must be between 0 and 100, got {pct}"
            )));
        }
        sum += i64::from(pct);
        if let Some(tag) = t.tag.as_deref().filter(|t| !t.is_empty()) {
            if !valid_tag(tag) {
                return Err(ApiError::invalid(format!(
                    "{at}.tag '{tag}' must be lowercase letters, digits and dashes, start with a letter and be at most 46 characters"
                )));
            }
            if !tags.insert(tag) {
                return Err(ApiError::invalid(format!(
                    "Tag '{tag}' is used by more than one traffic target."
                )));
            }
        }
    }
    if sum != 100 {
        return Err(ApiError::invalid(format!(
            "Traffic percentages must sum to 100, got {sum}."
        )));
    }
    Ok(())
}

/// Validates and applies a traffic PATCH; answers the long-running operation.
pub fn apply(
    state: &mut FakeState,
    name: &str,
    query: &[(String, String)],
    body: &str,
    now: Instant,
) -> Result<api::Operation, ApiError> {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mask = param("updateMask").unwrap_or("");
    let fields: Vec<&str> = mask.split(',').map(str::trim).collect();
    if fields.contains(&"template") {
        return super::revisions::apply_deploy(state, name, &fields, body, now);
    }
    if fields == ["annotations"] {
        return apply_annotations(state, name, body);
    }
    if fields != ["traffic"] {
        return Err(ApiError::invalid(format!(
            "the fake supports only updateMask=traffic or annotations, got '{mask}'"
        )));
    }
    let validate_only = param("validateOnly") == Some("true");
    let (traffic, etag) = parse_body(body)?;
    let id = state.next_id();
    let Some(svc) = state.services.get(name) else {
        return Err(not_found(name));
    };
    check_etag(svc, etag.as_deref())?;
    let traffic = normalise(traffic);
    validate_traffic(&traffic, |r| svc.has_revision(r))?;
    let unready = traffic
        .iter()
        .filter(|t| t.percent() > 0)
        .filter_map(|t| t.revision.as_deref())
        .find(|r| !svc.revision_ready(r))
        .map(str::to_owned);
    let op_name = operation_name(name, id, "5f1c");
    if validate_only {
        let mut preview = svc.resource.clone();
        preview.traffic = traffic;
        return Ok(api::Operation {
            name: op_name,
            metadata: Some(with_type(&preview)),
            done: true,
            error: None,
            response: Some(with_type(&preview)),
        });
    }
    let error = match unready {
        Some(r) => Some((
            9,
            format!("Revision '{r}' is not ready and cannot serve traffic."),
        )),
        None if !state.op_errors.is_empty() => Some((2, state.op_errors.remove(0))),
        None => None,
    };
    let delay = state.op_delay;
    let Some(svc) = state.services.get_mut(name) else {
        return Err(not_found(name));
    };
    let wall = chrono::Utc::now();
    svc.resource.traffic = traffic;
    svc.bump(wall, "canary-cockpit@example.com");
    svc.resource.reconciling = true;
    svc.resource.terminal_condition = Some(ready_condition(CONDITION_RECONCILING, None, wall));
    let op = api::Operation {
        name: op_name.clone(),
        metadata: Some(with_type(&svc.resource)),
        done: false,
        error: None,
        response: None,
    };
    let generation = svc.resource.generation.clone();
    state.operations.insert(
        op_name.clone(),
        super::state::FakeOp {
            service: name.to_string(),
            generation,
            done_at: now + delay,
            error,
            resource: op,
        },
    );
    if delay.is_zero() {
        state.advance(now);
    }
    state
        .operations
        .get(&op_name)
        .map(|o| o.resource.clone())
        .ok_or_else(|| ApiError::new(500, "INTERNAL", "operation vanished"))
}

/// `PATCH …?updateMask=annotations` with `{annotations, etag}`: the whole
/// map is replaced (as an update mask does), only at the etag given; the
/// service's generation and etag move, no revision is made, the operation
/// is done at once.
fn apply_annotations(
    state: &mut FakeState,
    name: &str,
    body: &str,
) -> Result<api::Operation, ApiError> {
    let map = service_object(body)?;
    let annotations: std::collections::BTreeMap<String, String> =
        serde_json::from_value(map.get("annotations").cloned().unwrap_or(Value::Null))
            .or_else(|_| {
                if map.get("annotations").is_none_or(Value::is_null) {
                    Ok(Default::default())
                } else {
                    Err(())
                }
            })
            .map_err(|()| {
                ApiError::invalid("Invalid value at 'service.annotations': a map of strings")
            })?;
    let etag = map.get("etag").and_then(Value::as_str).map(str::to_string);
    let id = state.next_id();
    let Some(svc) = state.services.get_mut(name) else {
        return Err(not_found(name));
    };
    check_etag(svc, etag.as_deref())?;
    svc.resource.annotations = annotations;
    svc.bump(chrono::Utc::now(), "canary-cockpit@example.com");
    // Nothing to roll out: the new generation is observed at once.
    svc.resource.observed_generation = svc.resource.generation.clone();
    Ok(api::Operation {
        name: operation_name(name, id, "5f1c"),
        metadata: Some(with_type(&svc.resource)),
        done: true,
        error: None,
        response: Some(with_type(&svc.resource)),
    })
}

/// Cloud Run's 404 for a service.
pub fn not_found(name: &str) -> ApiError {
    let parts: Vec<&str> = name.split('/').collect();
    ApiError::new(
        404,
        "NOT_FOUND",
        format!(
            "Resource '{}' of kind 'SERVICE' in region '{}' in project '{}' does not exist.",
            parts.get(5).unwrap_or(&""),
            parts.get(3).unwrap_or(&""),
            parts.get(1).unwrap_or(&"")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: &str, rev: Option<&str>, pct: i32, tag: Option<&str>) -> TrafficTarget {
        TrafficTarget {
            kind: Some(kind.into()),
            revision: rev.map(Into::into),
            percent: Some(pct),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn traffic_rules() {
        let exists = |r: &str| r == "a" || r == "b";
        let ok = [
            t(TYPE_REVISION, Some("a"), 90, None),
            t(TYPE_LATEST, None, 10, Some("x")),
        ];
        assert!(validate_traffic(&ok, exists).is_ok());
        for (bad, why) in [
            (vec![t(TYPE_REVISION, Some("a"), 90, None)], "sum to 100"),
            (
                vec![t(TYPE_REVISION, Some("zz"), 100, None)],
                "does not exist",
            ),
            (vec![t(TYPE_REVISION, None, 100, None)], "is required"),
            (vec![t(TYPE_LATEST, Some("a"), 100, None)], "must be empty"),
            (
                vec![
                    t(TYPE_REVISION, Some("a"), 100, Some("x")),
                    t(TYPE_REVISION, Some("b"), 0, Some("x")),
                ],
                "more than one",
            ),
            (
                vec![t(TYPE_REVISION, Some("a"), 100, Some("Bad_Tag"))],
                "lowercase",
            ),
            (vec![t("NOPE", Some("a"), 100, None)], "Invalid value"),
        ] {
            let err = validate_traffic(&bad, exists).expect_err(why);
            assert!(err.message.contains(why), "{why}: {}", err.message);
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse_body(r#"{"traffic":[],"trafic":[]}"#).expect_err("unknown");
        assert!(
            err.message.contains("Unknown name \"trafic\""),
            "{}",
            err.message
        );
        let err = parse_body(r#"{"traffic":[{"revision":"a","weight":1}]}"#).expect_err("unknown");
        assert!(
            err.message.contains("service.traffic[0]"),
            "{}",
            err.message
        );
        assert!(parse_body("{").is_err());
        let (t, _) =
            parse_body(r#"{"traffic":[{"type":2,"revision":"a","percent":100},{"type":1}]}"#)
                .expect("int enums");
        assert_eq!(t[0].kind.as_deref(), Some(TYPE_REVISION));
        assert_eq!(t[1].kind.as_deref(), Some(TYPE_LATEST));
        assert!(parse_body(r#"{"traffic":[{"type":7}]}"#).is_err());
    }
}
