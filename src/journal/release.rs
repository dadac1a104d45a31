//! Journal records of deploys and deletions of revisions, and how the
//! history and the report tell them. A deploy is two records paired by id
//! (`deploy-requested`, written before anything is sent, then
//! `deploy-finished`); so is a deletion (`revision-delete-requested`, then
//! one `revision-deleted` per revision). Environment values typed with
//! `--env` are never journaled (they may be secrets): only their names.

use serde::{Deserialize, Serialize};

use crate::core::model::TrafficSplit;

/// Sent to the platform: a new revision with no traffic and a tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequested {
    pub id: u64,
    pub revision: String,
    pub image: String,
    pub tag: String,
    /// Names of the variables set (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_keys: Vec<String>,
    /// The traffic when it was sent (the deploy keeps it).
    pub traffic: TrafficSplit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// How a deploy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployOutcome {
    /// The revision is ready, at 0 % with its tag.
    Ready,
    /// The platform refused it, or the revision failed (`error` says why).
    Failed,
    /// Not known (the answer was lost and the service could not tell).
    Unknown,
}

/// The outcome of deploy `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployFinished {
    pub id: u64,
    pub revision: String,
    pub outcome: DeployOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub took_ms: i64,
}

/// Revisions about to be deleted (one, or a prune's list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequested {
    pub id: u64,
    pub revisions: Vec<String>,
    /// `delete` or `prune`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One revision of deletion `id`: deleted, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDeleted {
    pub id: u64,
    pub revision: String,
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line of `canary journal` and of the history view.
pub fn history_text(event: &super::Event) -> Option<String> {
    use super::Event as E;
    Some(match event {
        E::DeployRequested(d) => {
            let env = if d.env_keys.is_empty() {
                String::new()
            } else {
                format!(" env {}", d.env_keys.join(","))
            };
            format!(
                "deploy #{} requested: {} image {} tag {} at 0 %{env}{}",
                d.id,
                d.revision,
                d.image,
                d.tag,
                d.reason
                    .as_deref()
                    .map(|r| format!(" — why: {r}"))
                    .unwrap_or_default()
            )
        }
        E::DeployFinished(d) => match d.outcome {
            DeployOutcome::Ready => format!(
                "deploy #{} READY: {} in {} ms{}",
                d.id,
                d.revision,
                d.took_ms,
                d.tag_url
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default()
            ),
            DeployOutcome::Failed => format!(
                "deploy #{} FAILED: {}: {}",
                d.id,
                d.revision,
                d.error.as_deref().unwrap_or("no reason given")
            ),
            DeployOutcome::Unknown => format!(
                "deploy #{} outcome UNKNOWN: {}: {}",
                d.id,
                d.revision,
                d.error.as_deref().unwrap_or("")
            ),
        },
        E::RevisionDeleteRequested(d) => format!(
            "{} #{} requested: {}{}",
            d.kind,
            d.id,
            d.revisions.join(", "),
            d.reason
                .as_deref()
                .map(|r| format!(" — why: {r}"))
                .unwrap_or_default()
        ),
        E::RevisionDeleted(d) if d.deleted => {
            format!("revision {} deleted (#{})", d.revision, d.id)
        }
        E::RevisionDeleted(d) => format!(
            "revision {} NOT deleted (#{}): {}",
            d.revision,
            d.id,
            d.error.as_deref().unwrap_or("")
        ),
        _ => return None,
    })
}

/// The report's "Revisions" section: deploys and deletions, in order, with
/// requests still without an outcome said as such.
pub fn report_section(records: &[super::Record]) -> Option<String> {
    use super::Event as E;
    let mut lines = Vec::new();
    let mut open: Vec<u64> = Vec::new();
    for r in records {
        let at = r.at.format("%Y-%m-%d %H:%M:%S UTC");
        match &r.event {
            E::DeployRequested(d) => open.push(d.id),
            E::DeployFinished(d) => open.retain(|i| *i != d.id),
            _ => {}
        }
        if let Some(text) = history_text(&r.event) {
            lines.push(format!("- {at} — {} — {text}", r.who.user));
        }
    }
    if lines.is_empty() {
        return None;
    }
    let mut out = String::from("## Revisions: deploys and deletions\n\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for id in open {
        out.push_str(&format!(
            "- deploy #{id}: **no outcome recorded** (the cockpit stopped while it ran; `canary status` shows what the platform has)\n"
        ));
    }
    out.push('\n');
    Some(out)
}
