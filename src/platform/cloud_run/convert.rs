//! Cloud Run's vocabulary ↔ the cockpit's model. Pure functions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::api::{self, last_segment, TrafficTarget};
use crate::core::error::BackendError;
use crate::core::model::{Revision, ServiceSnapshot, TrafficSplit, Version};
use crate::core::preview::{self, CloudRunPatch, KeptTag, WriteApi, TYPE_REVISION};
use crate::core::release_call::{CloudRunRelease, Target};

/// The service and all its revisions as the cockpit's snapshot.
pub fn snapshot(
    service: &api::Service,
    revisions: &[api::Revision],
) -> Result<ServiceSnapshot, BackendError> {
    let name = last_segment(&service.name).to_string();
    let latest = service.latest_ready_revision.as_deref().map(last_segment);
    let target = split_of(
        service
            .traffic
            .iter()
            .map(|t| (t.is_latest(), t.revision.as_deref(), t.percent())),
        latest,
    )
    .map_err(|e| BackendError::Other(format!("service {name}: traffic: {e}")))?;
    let actual = if service.traffic_statuses.is_empty() {
        None
    } else {
        match split_of(
            service
                .traffic_statuses
                .iter()
                .map(|t| (t.is_latest(), t.revision.as_deref(), t.percent())),
            latest,
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(service = %name, error = %e, "trafficStatuses do not form a split yet");
                None
            }
        }
    };
    let tags = tags(service, latest);
    let mut revs: Vec<Revision> = revisions
        .iter()
        .map(|r| {
            let mut rev = revision(r, tags.get(r.short_name()));
            rev.details = super::inspect::details(r, service);
            rev.status_message = super::inspect::failure_message(&rev.details)
                .or_else(|| {
                    (rev.details.deploying && !rev.ready)
                        .then(|| super::inspect::progress_message(&rev.details))
                })
                .or(rev.status_message);
            rev
        })
        .collect();
    revs.sort_by(|a, b| b.created.cmp(&a.created).then(b.name.cmp(&a.name)));
    let message = service
        .terminal_condition
        .as_ref()
        .filter(|c| c.failed())
        .map(|c| {
            c.message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_else(|| "the service's Ready condition failed".into())
        });
    Ok(ServiceSnapshot {
        service: name,
        url: service.uri.clone(),
        revisions: revs,
        traffic: target,
        actual,
        version: Version(service.etag.clone().unwrap_or_default()),
        reconciling: service.reconciling,
        message,
        runtime_state_lost: false,
        extra: Default::default(),
        // The settings' part (project, region, URL) is added by the client.
        write_api: WriteApi::Generic,
    })
}

/// Sums `(is_latest, revision, percent)` entries per revision; `LATEST`
/// resolves to the latest ready revision. No entries at all means "all to latest".
fn split_of<'a>(
    entries: impl Iterator<Item = (bool, Option<&'a str>, i32)>,
    latest: Option<&str>,
) -> Result<TrafficSplit, String> {
    let mut sums: BTreeMap<String, u32> = BTreeMap::new();
    let mut any = false;
    for (is_latest, revision, percent) in entries {
        any = true;
        let rev = match (is_latest, revision.filter(|r| !r.is_empty())) {
            (false, Some(r)) => r,
            (true, Some(r)) => r,
            (true, None) => latest.ok_or("a LATEST target but no latestReadyRevision")?,
            (false, None) => return Err("a target names no revision".into()),
        };
        let pct = u32::try_from(percent).map_err(|_| format!("{rev}: negative percent"))?;
        *sums.entry(rev.to_string()).or_default() += pct;
    }
    if !any {
        let latest = latest.ok_or("no traffic targets and no latestReadyRevision")?;
        return Ok(TrafficSplit::all_to(latest));
    }
    TrafficSplit::new(sums).map_err(|e| e.to_string())
}

/// Tag and tag URL per revision: tags from `traffic` (what is asked), URLs
/// from `trafficStatuses[].uri` (never built). First tag wins when a revision has several.
fn tags(
    service: &api::Service,
    latest: Option<&str>,
) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    let tagged = service
        .traffic
        .iter()
        .filter_map(|t| Some((t.is_latest(), t.revision.as_deref(), t.tag.as_deref()?)));
    let status_tagged = service
        .traffic_statuses
        .iter()
        .filter_map(|t| Some((t.is_latest(), t.revision.as_deref(), t.tag.as_deref()?)));
    for (is_latest, revision, tag) in tagged.chain(status_tagged) {
        let rev = match revision.filter(|r| !r.is_empty()) {
            Some(r) => r,
            None if is_latest => match latest {
                Some(l) => l,
                None => continue,
            },
            None => continue,
        };
        let uri = service
            .traffic_statuses
            .iter()
            .find(|s| s.tag.as_deref() == Some(tag))
            .and_then(|s| s.uri.clone());
        out.entry(rev.to_string())
            .or_insert_with(|| (tag.to_string(), uri));
    }
    out
}

fn revision(r: &api::Revision, tag: Option<&(String, Option<String>)>) -> Revision {
    let ready_cond = r.ready_condition();
    let ready = ready_cond.is_some_and(|c| c.succeeded());
    let status_message = if ready {
        None
    } else {
        Some(match ready_cond {
            None if r.reconciling => "the revision is being deployed".to_string(),
            None => "the revision reports no Ready condition".to_string(),
            Some(c) => c
                .message
                .clone()
                .filter(|m| !m.is_empty())
                .or_else(|| c.reason.clone())
                .or_else(|| c.revision_reason.clone())
                .unwrap_or_else(|| {
                    format!(
                        "Ready is {}",
                        c.state.as_deref().unwrap_or("STATE_UNSPECIFIED")
                    )
                }),
        })
    };
    Revision {
        name: r.short_name().to_string(),
        tag: tag.map(|t| t.0.clone()),
        tag_url: tag.and_then(|t| t.1.clone()),
        image: r
            .containers
            .first()
            .map(|c| c.image.clone())
            .unwrap_or_default(),
        created: r
            .create_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
        ready,
        status_message,
        details: Default::default(),
    }
}

/// The tags of `current` a traffic change keeps, in its order: on a named
/// revision, or following LATEST (entries without a tag, or naming no
/// revision without following LATEST, keep nothing).
pub fn kept_tags(current: &[TrafficTarget]) -> Vec<KeptTag> {
    current
        .iter()
        .filter_map(|t| {
            let tag = t.tag.as_ref().filter(|t| !t.is_empty())?;
            let revision = if t.is_latest() {
                None
            } else {
                Some(t.revision.as_ref().filter(|r| !r.is_empty())?.clone())
            };
            Some(KeptTag {
                tag: tag.clone(),
                revision,
            })
        })
        .collect()
}

/// The PATCH body that applies `split` and keeps every tag of `current`: the
/// split's entries pinned by revision name, then each existing tag as a 0 %
/// entry of its own (a tag that follows LATEST keeps following it). Built by
/// [`preview::cloud_run_patch`], which the confirmation shows.
pub fn traffic_patch(
    split: &TrafficSplit,
    current: &[TrafficTarget],
    etag: Option<&str>,
) -> CloudRunPatch {
    preview::cloud_run_patch(split, &kept_tags(current), etag)
}

/// What a preview of a change needs from this read, besides the client's
/// settings (`project`, `region`, `patch_url`).
pub fn write_api(
    service: &api::Service,
    project: &str,
    region: &str,
    patch_url: String,
) -> WriteApi {
    let service_url = patch_url
        .split_once('?')
        .map_or(patch_url.as_str(), |(u, _)| u)
        .to_string();
    WriteApi::CloudRun {
        project: project.to_string(),
        region: region.to_string(),
        patch_url,
        tags: kept_tags(&service.traffic),
        etag: service.etag.clone(),
        release: Some(Box::new(release_api(service, service_url))),
    }
}

/// Every target of `current`, its type and percent written out (the API
/// omits a 0 % share and may omit the type).
pub fn targets(current: &[TrafficTarget]) -> Vec<Target> {
    current
        .iter()
        .map(|t| Target {
            kind: t.kind.clone().unwrap_or_else(|| {
                if t.revision.as_deref().is_some_and(|r| !r.is_empty()) {
                    TYPE_REVISION.to_string()
                } else {
                    crate::core::preview::TYPE_LATEST.to_string()
                }
            }),
            revision: t.revision.clone().filter(|r| !r.is_empty()),
            percent: t.percent(),
            tag: t.tag.clone().filter(|t| !t.is_empty()),
        })
        .collect()
}

/// What a deploy or a deletion starts from, as read.
pub fn release_api(service: &api::Service, service_url: String) -> CloudRunRelease {
    CloudRunRelease {
        service_url,
        template: serde_json::to_value(service.template.clone().unwrap_or_default())
            .unwrap_or_default(),
        traffic: targets(&service.traffic),
        latest_ready: service
            .latest_ready_revision
            .as_deref()
            .map(|r| last_segment(r).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::api::{TYPE_LATEST, TYPE_REVISION};
    use super::*;

    fn target(kind: &str, rev: Option<&str>, pct: i32, tag: Option<&str>) -> TrafficTarget {
        TrafficTarget {
            kind: Some(kind.into()),
            revision: rev.map(Into::into),
            percent: (pct != 0).then_some(pct),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn patch_pins_by_name_and_keeps_every_tag() {
        let current = vec![
            target(TYPE_LATEST, None, 100, None),
            target(TYPE_REVISION, Some("r43"), 0, Some("canary")),
            target(TYPE_LATEST, None, 0, Some("head")),
            target(TYPE_REVISION, Some("r41"), 0, Some("old")),
        ];
        let split = TrafficSplit::new([("r42", 90), ("r43", 10)]).expect("valid");
        let body = traffic_patch(&split, &current, Some("e1"));
        let json = serde_json::to_string(&body).expect("json");
        assert_eq!(
            json,
            concat!(
                r#"{"traffic":["#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r42","percent":90},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r43","percent":10},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r43","percent":0,"tag":"canary"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST","percent":0,"tag":"head"},"#,
                r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"r41","percent":0,"tag":"old"}"#,
                r#"],"etag":"e1"}"#
            )
        );
    }

    #[test]
    fn latest_resolves_and_statuses_give_urls() {
        let service = api::Service {
            name: "projects/p/locations/l/services/s".into(),
            latest_ready_revision: Some("projects/p/locations/l/services/s/revisions/r43".into()),
            traffic: vec![
                target(TYPE_REVISION, Some("r42"), 90, None),
                target(TYPE_LATEST, None, 10, Some("canary")),
            ],
            traffic_statuses: vec![api::TrafficTargetStatus {
                kind: Some(TYPE_REVISION.into()),
                revision: Some("r42".into()),
                percent: Some(100),
                tag: None,
                uri: None,
            }],
            etag: Some("e".into()),
            ..Default::default()
        };
        let revs = vec![api::Revision {
            name: "projects/p/locations/l/services/s/revisions/r43".into(),
            ..Default::default()
        }];
        let snap = snapshot(&service, &revs).expect("snapshot");
        assert_eq!(
            snap.traffic,
            TrafficSplit::new([("r42", 90), ("r43", 10)]).expect("valid")
        );
        assert_eq!(snap.actual, Some(TrafficSplit::all_to("r42")));
        assert_eq!(snap.revisions[0].tag.as_deref(), Some("canary"));
        assert_eq!(snap.revisions[0].tag_url, None);
        assert!(!snap.revisions[0].ready);
        assert_eq!(
            snap.revisions[0].status_message.as_deref(),
            Some("the revision reports no Ready condition")
        );
    }

    #[test]
    fn empty_traffic_means_all_to_latest() {
        let service = api::Service {
            name: "projects/p/locations/l/services/s".into(),
            latest_ready_revision: Some("r1".into()),
            ..Default::default()
        };
        let snap = snapshot(&service, &[]).expect("snapshot");
        assert_eq!(snap.traffic, TrafficSplit::all_to("r1"));
        assert_eq!(snap.actual, None);
        let none = api::Service::default();
        assert!(snapshot(&none, &[]).is_err());
    }
}
