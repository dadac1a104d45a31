//! The exact call(s) a traffic change makes, shown before it is confirmed.
//!
//! A pure function of the split and of the snapshot the change is decided
//! on: every snapshot carries how its platform writes a change
//! ([`WriteApi`]) with what that write starts from as read (Cloud Run's tags
//! and etag, HAProxy's weights). The platforms send what is shown: HAProxy's
//! commands ([`haproxy_commands`]) and Cloud Run's PATCH body
//! ([`cloud_run_patch`]) are built here, once, for both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{ServiceSnapshot, TrafficSplit};

/// `GoogleCloudRunV2TrafficTarget.type`: pin to a named revision.
pub const TYPE_REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
/// `GoogleCloudRunV2TrafficTarget.type`: follow the latest ready revision.
pub const TYPE_LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";

/// How the platform of a snapshot writes a traffic change, with what the
/// write starts from (as read with the snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WriteApi {
    /// A platform that says nothing more: `set traffic a=90,b=10`.
    #[default]
    Generic,
    /// The `gcloud` command only (the simulator stands in for Cloud Run).
    Gcloud { project: String, region: String },
    /// The `gcloud` command that does the same, then the exact API call: the
    /// PATCH line and its body, which keeps every tag and carries the etag.
    CloudRun {
        project: String,
        region: String,
        /// `https://…/services/NAME?updateMask=traffic`.
        patch_url: String,
        /// The tags of the service's `traffic`, in its order.
        tags: Vec<KeptTag>,
        etag: Option<String>,
        /// What a deploy or a deletion starts from (the template, every
        /// target), for their previews and requests.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<Box<super::release_call::CloudRunRelease>>,
    },
    /// One `set server BACKEND/SERVER weight N` per server whose weight changes.
    Haproxy {
        backend: String,
        /// Every server of the backend and its weight.
        weights: BTreeMap<String, u32>,
    },
    /// Kubernetes: a Service's selector (blue/green) or an HTTPRoute's weights.
    Kubernetes(super::kube_preview::KubeWrite),
}

impl WriteApi {
    /// A platform known not to deploy or delete revisions from the cockpit
    /// (HAProxy, Kubernetes: [`super::release_call::preview`] says why), so
    /// the screen does not offer it. A generic platform is asked at the key.
    pub fn refuses_release(&self) -> bool {
        matches!(self, WriteApi::Haproxy { .. } | WriteApi::Kubernetes(_))
    }
}

/// A traffic tag a change keeps (at 0 %): on a revision, or following the
/// latest ready revision (`revision: None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptTag {
    pub tag: String,
    pub revision: Option<String>,
}

/// The exact call(s) that apply `split` to the service as `snapshot` shows it.
pub fn preview(snapshot: &ServiceSnapshot, split: &TrafficSplit) -> Vec<String> {
    match &snapshot.write_api {
        WriteApi::Generic => vec![format!("set traffic {}", split.to_flag())],
        WriteApi::Gcloud { project, region } => {
            vec![gcloud(&snapshot.service, split, region, project)]
        }
        WriteApi::CloudRun {
            project,
            region,
            patch_url,
            tags,
            etag,
            ..
        } => vec![
            gcloud(&snapshot.service, split, region, project),
            format!("PATCH {patch_url}"),
            serde_json::to_string(&cloud_run_patch(split, tags, etag.as_deref()))
                .unwrap_or_default(),
        ],
        WriteApi::Kubernetes(k) => super::kube_preview::preview(k, split),
        WriteApi::Haproxy { backend, weights } => {
            let wanted: BTreeMap<String, u32> = weights
                .keys()
                .map(|s| (s.clone(), u32::from(split.percent_of(s))))
                .collect();
            let cmds: Vec<String> = haproxy_commands(backend, weights, &wanted)
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            if cmds.is_empty() {
                vec![format!(
                    "# backend {backend} already runs {}",
                    weights_string(&wanted)
                )]
            } else {
                cmds
            }
        }
    }
}

fn gcloud(service: &str, split: &TrafficSplit, region: &str, project: &str) -> String {
    format!(
        "gcloud run services update-traffic {service} --to-revisions={} --region={region} --project={project}",
        split.to_flag()
    )
}

/// The `set server` commands that take `current` to `wanted`, with the
/// server each changes, in the order they are sent: raised weights first (so
/// the backend never has every weight at 0), then by name.
pub fn haproxy_commands(
    backend: &str,
    current: &BTreeMap<String, u32>,
    wanted: &BTreeMap<String, u32>,
) -> Vec<(String, String)> {
    let mut changes: Vec<(&String, u32, u32)> = wanted
        .iter()
        .filter_map(|(n, &w)| {
            let cur = current.get(n).copied().unwrap_or(0);
            (cur != w).then_some((n, cur, w))
        })
        .collect();
    changes.sort_by_key(|&(n, cur, w)| (w < cur, n.clone()));
    changes
        .into_iter()
        .map(|(n, _, w)| (n.clone(), format!("set server {backend}/{n} weight {w}")))
        .collect()
}

/// `a=20,b=80`.
pub fn weights_string(weights: &BTreeMap<String, u32>) -> String {
    weights
        .iter()
        .map(|(n, w)| format!("{n}={w}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Cloud Run's PATCH body (`updateMask=traffic`):
/// `GoogleCloudRunV2Service` with only `traffic` and the `etag`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CloudRunPatch {
    pub traffic: Vec<CloudRunTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// One `GoogleCloudRunV2TrafficTarget` of [`CloudRunPatch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloudRunTarget {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub percent: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The PATCH body that applies `split` and keeps every tag: the split's
/// entries pinned by revision name, then each tag as a 0 % entry of its own
/// (a tag that follows LATEST keeps following it).
pub fn cloud_run_patch(
    split: &TrafficSplit,
    tags: &[KeptTag],
    etag: Option<&str>,
) -> CloudRunPatch {
    let mut traffic: Vec<CloudRunTarget> = split
        .entries()
        .iter()
        .map(|a| CloudRunTarget {
            kind: TYPE_REVISION.into(),
            revision: Some(a.revision.clone()),
            percent: i32::from(a.percent),
            tag: None,
        })
        .collect();
    for kept in tags {
        if traffic.iter().any(|e| e.tag.as_ref() == Some(&kept.tag)) {
            continue;
        }
        traffic.push(CloudRunTarget {
            kind: match kept.revision {
                Some(_) => TYPE_REVISION,
                None => TYPE_LATEST,
            }
            .into(),
            revision: kept.revision.clone(),
            percent: 0,
            tag: Some(kept.tag.clone()),
        });
    }
    CloudRunPatch {
        traffic,
        etag: etag.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Version;

    fn snapshot(write_api: WriteApi) -> ServiceSnapshot {
        ServiceSnapshot {
            service: "emergence-app".into(),
            url: None,
            revisions: Vec::new(),
            traffic: TrafficSplit::all_to("v1"),
            actual: None,
            version: Version("e1".into()),
            reconciling: false,
            message: None,
            runtime_state_lost: false,
            extra: Default::default(),
            write_api,
        }
    }

    fn split(p: &[(&str, u32)]) -> TrafficSplit {
        TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).expect("valid")
    }

    #[test]
    fn a_platform_that_says_nothing_more_gets_the_split() {
        let s = snapshot(WriteApi::Generic);
        assert_eq!(
            preview(&s, &split(&[("a", 90), ("b", 10)])),
            vec!["set traffic a=90,b=10".to_string()]
        );
    }

    #[test]
    fn cloud_run_shows_gcloud_the_patch_and_its_body_with_the_tags_and_etag() {
        let s = snapshot(WriteApi::CloudRun {
            project: "emergence-469005".into(),
            region: "europe-west1".into(),
            patch_url: "https://run.example/v2/s?updateMask=traffic".into(),
            tags: vec![
                KeptTag {
                    tag: "canary".into(),
                    revision: Some("b".into()),
                },
                KeptTag {
                    tag: "head".into(),
                    revision: None,
                },
            ],
            etag: Some("e1".into()),
            release: None,
        });
        assert_eq!(
            preview(&s, &split(&[("a", 90), ("b", 10)])),
            vec![
                "gcloud run services update-traffic emergence-app --to-revisions=a=90,b=10 \
                 --region=europe-west1 --project=emergence-469005"
                    .to_string(),
                "PATCH https://run.example/v2/s?updateMask=traffic".to_string(),
                concat!(
                    r#"{"traffic":["#,
                    r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"a","percent":90},"#,
                    r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"b","percent":10},"#,
                    r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION","revision":"b","percent":0,"tag":"canary"},"#,
                    r#"{"type":"TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST","percent":0,"tag":"head"}"#,
                    r#"],"etag":"e1"}"#
                )
                .to_string(),
            ]
        );
    }

    #[test]
    fn haproxy_raises_weights_first_and_says_when_nothing_changes() {
        let weights: BTreeMap<String, u32> = [
            ("v1".to_string(), 100),
            ("v2".to_string(), 0),
            ("v3".to_string(), 0),
        ]
        .into();
        let s = snapshot(WriteApi::Haproxy {
            backend: "app".into(),
            weights,
        });
        assert_eq!(
            preview(&s, &split(&[("v1", 80), ("v2", 20)])),
            vec![
                "set server app/v2 weight 20".to_string(),
                "set server app/v1 weight 80".to_string()
            ]
        );
        assert_eq!(
            preview(&s, &TrafficSplit::all_to("v1")),
            vec!["# backend app already runs v1=100,v2=0,v3=0".to_string()]
        );
    }
}
