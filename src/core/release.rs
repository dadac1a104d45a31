//! The release around the canary: deploy a new revision with no traffic and
//! a tag, delete revisions, prune old ones. Pure rules shared by the screen
//! (`D`, `x`, `:prune`) and the scripting commands (`canary deploy`,
//! `delete`, `prune`): what a deploy asks for, which revisions may go, and
//! why the others stay.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::BackendError;
use super::model::{ServiceSnapshot, Version};
use super::roles::Roles;

/// `[deploy]` and `[revisions]` of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseSettings {
    /// The tag a deploy gives the new revision when none is named;
    /// `{date}` becomes the UTC date (`canary-{date}` → `canary-20261130`).
    pub tag: String,
    /// Run the verification battery against the new revision's tag URL as
    /// soon as it is ready (on screen).
    pub checks_after_deploy: bool,
    /// How many of the newest revisions a prune keeps (besides the ones
    /// that serve traffic, carry a tag, are the stable or the canary).
    pub keep: usize,
    /// Prune (keeping `keep`) by itself after a plan promoted its canary.
    pub prune_after_promote: bool,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        ReleaseSettings {
            tag: "canary-{date}".into(),
            checks_after_deploy: true,
            keep: 3,
            prune_after_promote: false,
        }
    }
}

/// A new revision to create: the current template with this image (and
/// these environment variables set), no traffic, and a tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The name it will have, `SERVICE-NNNNN-abc`, chosen before sending so
    /// that its tag can be set in the same request.
    pub revision: String,
    pub image: String,
    pub tag: String,
    /// `KEY=VALUE` to set (plain values; they replace the template's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
}

impl DeployRequest {
    /// `--image … --no-traffic --tag …` as gcloud takes it.
    pub fn gcloud_flags(&self) -> String {
        let mut out = format!(
            "--image={} --no-traffic --tag={} --revision-suffix={}",
            self.image,
            self.tag,
            self.suffix()
        );
        if !self.env.is_empty() {
            let pairs: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(" --update-env-vars={}", pairs.join(",")));
        }
        out
    }

    /// `00044-zaq` of `emergence-app-00044-zaq`.
    pub fn suffix(&self) -> &str {
        let parts: Vec<&str> = self.revision.rsplitn(3, '-').collect();
        match parts.as_slice() {
            [_, _, service] => &self.revision[service.len() + 1..],
            _ => &self.revision,
        }
    }

    /// The names of the environment variables set (what the journal keeps:
    /// a value typed on a command line may be a secret).
    pub fn env_keys(&self) -> Vec<String> {
        self.env.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// What the platform is asked to do with revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseOp {
    Deploy(DeployRequest),
    /// Delete this revision (`x`, `canary delete`).
    Delete(Vec<String>),
    /// Delete these old revisions, one after the other (`:prune`, `canary prune`).
    Prune(Vec<String>),
}

impl ReleaseOp {
    pub fn verb(&self) -> &'static str {
        match self {
            ReleaseOp::Deploy(_) => "deploy",
            ReleaseOp::Prune(_) => "prune",
            ReleaseOp::Delete(_) => "delete",
        }
    }

    /// The revisions a deletion or a prune deletes.
    pub fn deletes(&self) -> &[String] {
        match self {
            ReleaseOp::Deploy(_) => &[],
            ReleaseOp::Delete(r) | ReleaseOp::Prune(r) => r,
        }
    }
}

/// Why a revision is kept by a prune (or refused by a delete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// One of the N newest.
    Newest(usize),
    /// It serves (or is asked to serve) traffic.
    Traffic(u8),
    /// It carries a tag (its URL is in use).
    Tagged(String),
    Stable,
    /// The canary of a running plan.
    PlanCanary,
    /// The canary (by tag or traffic).
    Canary,
    /// It is being deployed right now.
    Deploying,
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Newest(n) => write!(f, "one of the {n} newest"),
            Keep::Traffic(p) => write!(f, "it serves traffic ({p} %)"),
            Keep::Tagged(t) => write!(f, "it carries the tag `{t}` (its URL may be in use)"),
            Keep::Stable => f.write_str("it is the stable revision (the rollback target)"),
            Keep::PlanCanary => f.write_str("it is the canary of the running plan"),
            Keep::Canary => f.write_str("it is the canary"),
            Keep::Deploying => f.write_str("it is being deployed"),
        }
    }
}

/// What a prune would do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    /// Oldest last, as listed (newest first).
    pub delete: Vec<String>,
    /// Every revision kept, with why (the first reason that applies).
    pub kept: Vec<(String, Keep)>,
}

/// What the rules look at besides the snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Guard<'a> {
    pub snapshot: &'a ServiceSnapshot,
    pub roles: &'a Roles,
    /// The canary of a plan that is running.
    pub plan_canary: Option<&'a str>,
    /// The baseline revision of a plan that is running (`[judge] baseline`).
    pub plan_baseline: Option<&'a str>,
    /// A revision being deployed now.
    pub deploying: Option<&'a str>,
}

impl Guard<'_> {
    /// Why `name` must not be deleted, if it must not; `None`: it may go.
    /// A tag on a revision that failed is no reason (its URL reaches
    /// nothing): the deletion removes the tag first.
    pub fn protects(&self, name: &str) -> Option<Keep> {
        let snap = self.snapshot;
        let pct = snap
            .traffic
            .percent_of(name)
            .max(snap.serving().percent_of(name));
        if pct > 0 {
            return Some(Keep::Traffic(pct));
        }
        if self.deploying == Some(name) {
            return Some(Keep::Deploying);
        }
        if self.roles.stable.as_deref() == Some(name) {
            return Some(Keep::Stable);
        }
        if self.plan_canary == Some(name) {
            return Some(Keep::PlanCanary);
        }
        let rev = snap.revision(name)?;
        if let Some(tag) = &rev.tag {
            // A judge's baseline is not an URL anyone uses: a leftover may
            // go; the running plan's own is kept, even at 0 % (not ready).
            let leftover_baseline = tag == super::baseline::TAG && self.plan_baseline != Some(name);
            if !failed(rev) && !leftover_baseline {
                return Some(Keep::Tagged(tag.clone()));
            }
        }
        None
    }

    /// `canary delete REV`, `x`: the revision, or why not.
    pub fn delete(&self, name_or_tag: &str) -> Result<String, String> {
        let rev = super::describe::find(self.snapshot, name_or_tag)?;
        match self.protects(&rev.name) {
            Some(why) => Err(format!("{} is kept: {why}", rev.name)),
            None => Ok(rev.name.clone()),
        }
    }

    /// Keeps the `keep` newest revisions and every protected one; the rest go.
    pub fn prune(&self, keep: usize) -> PrunePlan {
        let mut plan = PrunePlan::default();
        // Newest first; revisions being created count among the newest.
        for (i, r) in self.snapshot.revisions.iter().enumerate() {
            let canary = self.roles.canary.as_deref() == Some(r.name.as_str());
            let why = match self.protects(&r.name) {
                Some(why) => Some(why),
                None if canary => Some(Keep::Canary),
                None if i < keep => Some(Keep::Newest(keep)),
                None => None,
            };
            match why {
                Some(w) => plan.kept.push((r.name.clone(), w)),
                None => plan.delete.push(r.name.clone()),
            }
        }
        // A failed revision with a tag is kept by a prune all the same: only
        // an explicit delete removes a tag.
        let tagged: Vec<String> = plan
            .delete
            .iter()
            .filter(|n| self.snapshot.revision(n).is_some_and(|r| r.tag.is_some()))
            .cloned()
            .collect();
        for n in tagged {
            plan.delete.retain(|d| *d != n);
            let tag = self
                .snapshot
                .revision(&n)
                .and_then(|r| r.tag.clone())
                .unwrap_or_default();
            plan.kept.push((n, Keep::Tagged(tag)));
        }
        plan
    }
}

/// A revision whose creation failed (not ready, not being created).
pub fn failed(rev: &super::model::Revision) -> bool {
    !rev.ready
        && !rev.details.deploying
        && rev
            .details
            .conditions
            .iter()
            .any(|c| c.state == super::details::ConditionState::Failed)
}

/// `canary-{date}` → `canary-20261130`.
pub fn expand_tag(template: &str, now: DateTime<Utc>) -> String {
    template
        .replace("{date}", &now.format("%Y%m%d").to_string())
        .replace("{time}", &now.format("%H%M%S").to_string())
}

/// Cloud Run's rule for tags: lowercase letters, digits and dashes, starting
/// with a letter, not ending with a dash, at most 46 characters.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 46
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !tag.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{tag}`: lowercase letters, digits and dashes, starting with a letter, at most 46 characters"
        ))
    }
}

/// The next revision name the way the platform names them:
/// `SERVICE-NNNNN-abc`, the number one past the highest in use, three
/// lowercase letters from `salt`.
pub fn next_revision_name(snapshot: &ServiceSnapshot, salt: u64) -> String {
    let service = &snapshot.service;
    let highest = snapshot
        .revisions
        .iter()
        .filter_map(|r| {
            let rest = r.name.strip_prefix(service.as_str())?.strip_prefix('-')?;
            let (num, _) = rest.split_once('-')?;
            num.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0);
    let mut x = salt ^ 0x9E37_79B9_7F4A_7C15;
    let mut letters = String::new();
    for _ in 0..3 {
        // xorshift: cheap, and never the same three letters for nearby salts.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        letters.push(char::from(b'a' + (x % 26) as u8));
    }
    format!("{service}-{:05}-{letters}", highest + 1)
}

/// What the operator typed (`IMAGE [--tag TAG] [--env KEY=VALUE]…`), or
/// the scripting command's arguments, made into a request: the image
/// checked, the tag chosen (the configured default, made unique), the name
/// decided.
pub fn deploy_request(
    snapshot: &ServiceSnapshot,
    settings: &ReleaseSettings,
    image: &str,
    tag: Option<&str>,
    env: &[String],
    now: DateTime<Utc>,
    salt: u64,
) -> Result<DeployRequest, String> {
    let image = image.trim();
    if image.is_empty() {
        return Err("type the image to deploy (REPOSITORY:TAG or REPOSITORY@sha256:…)".into());
    }
    if image.contains(char::is_whitespace) {
        return Err(format!("image `{image}`: no spaces in an image reference"));
    }
    if image.ends_with(':') || image.ends_with('@') {
        return Err(format!(
            "image `{image}`: type the image's tag after the repository"
        ));
    }
    let used = |t: &str| {
        snapshot
            .revisions
            .iter()
            .find(|r| r.tag.as_deref() == Some(t))
            .map(|r| r.name.clone())
    };
    let tag = match tag.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => {
            check_tag(t)?;
            if let Some(owner) = used(t) {
                return Err(format!(
                    "tag `{t}` already marks {owner} (its URL would move): choose another tag"
                ));
            }
            t.to_string()
        }
        None => {
            let base = expand_tag(&settings.tag, now);
            check_tag(&base).map_err(|e| format!("[deploy] tag: {e}"))?;
            let mut t = base.clone();
            let mut n = 2;
            while used(&t).is_some() {
                t = format!("{base}-{n}");
                n += 1;
            }
            t
        }
    };
    let mut pairs = Vec::new();
    for e in env {
        let (k, v) = e
            .split_once('=')
            .ok_or_else(|| format!("--env `{e}`: expected KEY=VALUE"))?;
        let k = k.trim();
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "--env `{k}`: a variable name is letters, digits and `_`, not starting with a digit"
            ));
        }
        if pairs.iter().any(|(o, _): &(String, String)| o == k) {
            return Err(format!("--env `{k}` is given twice"));
        }
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(DeployRequest {
        revision: next_revision_name(snapshot, salt),
        image: image.to_string(),
        tag,
        env: pairs,
    })
}

/// Splits what the deploy box holds: the image, then `--tag T` / `tag=T`
/// and `--env K=V` in any order.
pub fn parse_deploy_line(line: &str) -> Result<(String, Option<String>, Vec<String>), String> {
    let mut image = None;
    let mut tag = None;
    let mut env = Vec::new();
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(t) = w.strip_prefix("--tag=").or_else(|| w.strip_prefix("tag=")) {
            tag = Some(t.to_string());
        } else if w == "--tag" {
            tag = Some(words.next().ok_or("--tag needs a value")?.to_string());
        } else if let Some(e) = w.strip_prefix("--env=") {
            env.push(e.to_string());
        } else if w == "--env" {
            env.push(words.next().ok_or("--env needs KEY=VALUE")?.to_string());
        } else if w.starts_with("--") {
            return Err(format!("`{w}`: expected --tag TAG or --env KEY=VALUE"));
        } else if image.is_none() {
            image = Some(w.to_string());
        } else {
            return Err(format!(
                "`{w}`: one image only (then --tag TAG, --env KEY=VALUE)"
            ));
        }
    }
    Ok((image.unwrap_or_default(), tag, env))
}

/// A deploy in flight, as the screen shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployInFlight {
    pub id: u64,
    pub request: DeployRequest,
    pub started: DateTime<Utc>,
    pub reason: Option<String>,
    /// Its row was selected once it showed up.
    pub shown: bool,
}

/// A deletion in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteInFlight {
    pub id: u64,
    pub revisions: Vec<String>,
    pub started: DateTime<Utc>,
    /// Deleted so far.
    pub done: Vec<String>,
    /// A prune, not a single deletion.
    pub prune: bool,
}

/// The release's part of the state.
#[derive(Clone, Debug, Default)]
pub struct ReleaseState {
    pub deploy: Option<DeployInFlight>,
    pub delete: Option<DeleteInFlight>,
    /// The last deploy that finished: its revision, and how (`Err`: why it failed).
    pub last_deploy: Option<(String, Result<(), String>)>,
    /// A deploy refused because the service moved: asked again once read.
    pub conflicted: Option<DeployRequest>,
}

/// What the operator is asked to confirm (a deploy, a deletion, a prune).
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseConfirm {
    pub op: ReleaseOp,
    /// The exact calls.
    pub preview: Vec<String>,
    /// What it keeps and why (a prune), and other things worth saying.
    pub notes: Vec<String>,
    /// The version the decision was made on.
    pub expect: Version,
    /// Opened by the cockpit (asked again after a conflict): only `y`
    /// answers it, not an Enter meant for something else.
    pub unprompted: bool,
}

/// A background result about a deploy or a deletion.
#[derive(Clone, Debug)]
pub enum ReleaseEvent {
    /// The deploy finished: the revision is ready (the service as read), or why not.
    Deployed {
        id: u64,
        result: Result<ServiceSnapshot, BackendError>,
    },
    /// One revision of deletion `id` was deleted (or why not); `last`: the
    /// deletion is over.
    Deleted {
        id: u64,
        revision: String,
        result: Result<ServiceSnapshot, BackendError>,
        last: bool,
    },
}

/// Work for the runtime.
#[derive(Clone, Debug, PartialEq)]
pub enum ReleaseEffect {
    Deploy {
        id: u64,
        request: DeployRequest,
        expect: Version,
        reason: Option<String>,
        /// The traffic before, for the journal (the deploy keeps it).
        before: super::model::TrafficSplit,
    },
    Delete {
        id: u64,
        revisions: Vec<String>,
        reason: Option<String>,
        /// A prune (`:prune`), not a single deletion: the journal says which.
        prune: bool,
    },
}

// ------------------------------------------------------------ journal records
//
// A deploy is two records paired by id (`deploy-requested`, written before
// anything is sent, then `deploy-finished`); so is a deletion
// (`revision-delete-requested`, then one `revision-deleted` per revision).
// Environment values typed with `--env` are never journaled (they may be
// secrets): only their names.

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
    pub traffic: super::model::TrafficSplit,
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
    /// Not known: the answer was lost and the service could not tell, or
    /// the revision was still being created when the time was up.
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

impl DeployFinished {
    /// The record of deploy `id` of `revision` from the platform's answer:
    /// ready (with its tag URL), not known ([`BackendError::Unconfirmed`]:
    /// the answer was lost, or the revision had not settled), or failed.
    pub fn of(
        id: u64,
        revision: &str,
        result: &Result<ServiceSnapshot, BackendError>,
        took_ms: i64,
    ) -> DeployFinished {
        let (outcome, error, tag_url) = match result {
            Ok(s) => (
                DeployOutcome::Ready,
                None,
                s.revision(revision).and_then(|r| r.tag_url.clone()),
            ),
            Err(e @ BackendError::Unconfirmed { .. }) => {
                (DeployOutcome::Unknown, Some(e.to_string()), None)
            }
            Err(e) => (DeployOutcome::Failed, Some(e.to_string()), None),
        };
        DeployFinished {
            id,
            revision: revision.to_string(),
            outcome,
            tag_url,
            error,
            took_ms,
        }
    }
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
    /// Not deleted as far as anyone can tell: the answer was lost and the
    /// service could not be read back (it may be gone; `error` says why).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RevisionDeleted {
    /// The record of deleting `revision` (deletion `id`) from the
    /// platform's answer.
    pub fn of<T>(id: u64, revision: &str, result: &Result<T, BackendError>) -> RevisionDeleted {
        RevisionDeleted {
            id,
            revision: revision.to_string(),
            deleted: result.is_ok(),
            unknown: matches!(result, Err(BackendError::Unconfirmed { .. })),
            error: result.as_ref().err().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Revision, TrafficSplit};

    fn rev(name: &str, tag: Option<&str>) -> Revision {
        Revision {
            name: name.into(),
            tag: tag.map(Into::into),
            tag_url: None,
            image: "r/app:1".into(),
            created: DateTime::<Utc>::UNIX_EPOCH,
            ready: true,
            status_message: None,
            details: Default::default(),
        }
    }

    fn snap(revs: Vec<Revision>, traffic: TrafficSplit) -> ServiceSnapshot {
        ServiceSnapshot {
            service: "svc".into(),
            url: None,
            revisions: revs,
            traffic,
            actual: None,
            version: Version("e".into()),
            reconciling: false,
            message: None,
            runtime_state_lost: false,
            extra: Default::default(),
            write_api: Default::default(),
        }
    }

    #[test]
    fn names_follow_the_platform() {
        let s = snap(
            vec![rev("svc-00043-kaw", None), rev("svc-00009-abc", None)],
            TrafficSplit::all_to("svc-00043-kaw"),
        );
        let a = next_revision_name(&s, 1);
        let b = next_revision_name(&s, 2);
        assert!(a.starts_with("svc-00044-"), "{a}");
        assert_eq!(a.len(), "svc-00044-abc".len());
        assert!(a[10..].chars().all(|c| c.is_ascii_lowercase()));
        assert_ne!(a, b);
        let r = DeployRequest {
            revision: a.clone(),
            image: "i:1".into(),
            tag: "canary".into(),
            env: vec![],
        };
        assert_eq!(r.suffix(), &a[4..]);
    }

    #[test]
    fn default_tags_are_dated_and_unique_explicit_ones_refused_when_taken() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 9, 0, 0).unwrap();
        let s = snap(
            vec![
                rev("svc-00002-aaa", Some("canary-20261130")),
                rev("svc-00001-aaa", None),
            ],
            TrafficSplit::all_to("svc-00001-aaa"),
        );
        let st = ReleaseSettings::default();
        let r = deploy_request(&s, &st, "r/app:2", None, &[], now, 7).unwrap();
        assert_eq!(r.tag, "canary-20261130-2");
        let err =
            deploy_request(&s, &st, "r/app:2", Some("canary-20261130"), &[], now, 7).unwrap_err();
        assert!(err.contains("already marks svc-00002-aaa"), "{err}");
        assert!(deploy_request(&s, &st, "r/app:", None, &[], now, 7).is_err());
        assert!(deploy_request(&s, &st, "r/app:2", Some("Bad"), &[], now, 7).is_err());
        let e = deploy_request(
            &s,
            &st,
            "r/app:2",
            None,
            &["A=1".into(), "A=2".into()],
            now,
            7,
        );
        assert!(e.unwrap_err().contains("twice"));
        let ok = deploy_request(
            &s,
            &st,
            "r/app:2",
            None,
            &["LOG_LEVEL=debug".into()],
            now,
            7,
        )
        .unwrap();
        assert_eq!(ok.env, vec![("LOG_LEVEL".into(), "debug".into())]);
        assert!(ok
            .gcloud_flags()
            .contains("--update-env-vars=LOG_LEVEL=debug"));
        assert_eq!(
            parse_deploy_line("r/app:3 --tag c1 --env A=1 tag=c2").unwrap(),
            ("r/app:3".into(), Some("c2".into()), vec!["A=1".into()])
        );
        assert!(parse_deploy_line("a b").is_err());
    }

    #[test]
    fn outcome_records_say_unknown_when_the_platform_could_not_tell() {
        let unknown: Result<ServiceSnapshot, BackendError> = Err(BackendError::Unconfirmed {
            message: "HTTP 503; re-reading the service failed too".into(),
            read_back: None,
        });
        let d = DeployFinished::of(3, "svc-00002-abc", &unknown, 10);
        assert_eq!(d.outcome, DeployOutcome::Unknown);
        let failed: Result<ServiceSnapshot, BackendError> =
            Err(BackendError::Failed("image not found".into()));
        let d = DeployFinished::of(3, "svc-00002-abc", &failed, 10);
        assert_eq!(d.outcome, DeployOutcome::Failed);
        assert_eq!(
            d.error.as_deref(),
            Some("the change failed: image not found")
        );
        let mut s = snap(
            vec![rev("svc-00002-abc", Some("c"))],
            TrafficSplit::all_to("svc-00002-abc"),
        );
        s.revisions[0].tag_url = Some("https://c---svc".into());
        let d = DeployFinished::of(3, "svc-00002-abc", &Ok(s), 10);
        assert_eq!(d.outcome, DeployOutcome::Ready);
        assert_eq!(d.tag_url.as_deref(), Some("https://c---svc"));

        let r = RevisionDeleted::of(4, "svc-00001-old", &unknown);
        assert!(!r.deleted && r.unknown, "{r:?}");
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""unknown":true"#), "{line}");
        let r = RevisionDeleted::of(4, "svc-00001-old", &failed);
        assert!(!r.deleted && !r.unknown, "{r:?}");
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("unknown"), "omitted when false: {line}");
        let back: RevisionDeleted = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert!(RevisionDeleted::of(4, "svc-00001-old", &Ok::<(), BackendError>(())).deleted);
    }

    #[test]
    fn prune_keeps_the_newest_and_everything_protected() {
        let s = snap(
            vec![
                rev("svc-00006-aaa", Some("canary")),
                rev("svc-00005-aaa", None),
                rev("svc-00004-aaa", None),
                rev("svc-00003-aaa", None),
                rev("svc-00002-aaa", Some("old")),
                rev("svc-00001-aaa", None),
            ],
            TrafficSplit::new([("svc-00003-aaa", 90), ("svc-00006-aaa", 10)]).unwrap(),
        );
        let roles = Roles {
            stable: Some("svc-00003-aaa".into()),
            stable_from: None,
            canary: Some("svc-00006-aaa".into()),
        };
        let g = Guard {
            snapshot: &s,
            roles: &roles,
            plan_canary: None,
            plan_baseline: None,
            deploying: None,
        };
        let p = g.prune(2);
        assert_eq!(p.delete, vec!["svc-00004-aaa", "svc-00001-aaa"]);
        assert!(p
            .kept
            .contains(&("svc-00002-aaa".into(), Keep::Tagged("old".into()))));
        assert!(p
            .kept
            .contains(&("svc-00003-aaa".into(), Keep::Traffic(90))));
        assert!(g
            .delete("svc-00003-aaa")
            .unwrap_err()
            .contains("serves traffic"));
        assert!(g.delete("00002-aaa").unwrap_err().contains("tag `old`"));
        assert_eq!(g.delete("00004-aaa").unwrap(), "svc-00004-aaa");
        assert!(g.delete("nope").is_err());
    }
}
