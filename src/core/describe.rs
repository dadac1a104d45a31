//! One revision, described: what `Enter` shows on screen and `canary
//! describe REV [--json]` prints, from one function ([`describe`]) and one
//! formatter ([`Description::lines`]). Values of secret references are
//! never part of it (the platforms never read them): only their names.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::details::{Condition, ConditionState, EnvValue, EnvVar};
use super::model::{Revision, ServiceSnapshot};
use super::roles::Roles;

/// Everything known about one revision, and how it differs from the stable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Description {
    pub service: String,
    pub revision: String,
    /// `stable`, `canary`, or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub created: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    pub ready: bool,
    pub deploying: bool,
    /// Why it is not ready, the platform's words (and plain ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_url: Option<String>,
    /// Percent asked for and percent serving.
    pub traffic: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<u8>,
    pub env: Vec<EnvVar>,
    pub limits: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    pub conditions: Vec<Condition>,
    /// What the platform adds (Kubernetes: Deployment, replicas, rollout,
    /// keep-warm, recent Events), `(label, value)` in its order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<(String, String)>,
    /// Against the stable revision (absent for the stable itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
}

/// What changed from the stable revision to this one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub against: String,
    /// `(stable's, this one's)` when the images differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<(String, String)>,
    pub env_added: Vec<String>,
    pub env_removed: Vec<String>,
    pub env_changed: Vec<String>,
    /// `(what, stable's, this one's)`: limits, scaling, concurrency.
    pub resources: Vec<(String, String, String)>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.image.is_none()
            && self.env_added.is_empty()
            && self.env_removed.is_empty()
            && self.env_changed.is_empty()
            && self.resources.is_empty()
    }
}

/// How a line is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Heading,
    Normal,
    Good,
    Bad,
    /// Still under way.
    Pending,
    Dim,
}

/// One line of the description: a label (empty for headings) and a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescLine {
    pub label: String,
    pub value: String,
    pub tone: Tone,
}

fn line(label: &str, value: impl Into<String>, tone: Tone) -> DescLine {
    DescLine {
        label: label.to_string(),
        value: value.into(),
        tone,
    }
}

fn heading(text: &str) -> DescLine {
    line("", text, Tone::Heading)
}

/// The revision an operator names: its full name, its tag, or its short
/// name as the screen shows it (`00043-kaw`, when only one ends so).
pub fn find<'a>(snapshot: &'a ServiceSnapshot, name: &str) -> Result<&'a Revision, String> {
    snapshot
        .resolve(name)
        .or_else(|| {
            let mut it = snapshot
                .revisions
                .iter()
                .filter(|r| r.name.ends_with(&format!("-{name}")));
            match (it.next(), it.next()) {
                (Some(r), None) => Some(r),
                _ => None,
            }
        })
        .ok_or_else(|| format!("no revision or tag `{name}` in {}", snapshot.service))
}

/// Describes revision `name` (a full name, a tag, or a short `00043-kaw`).
pub fn describe(
    snapshot: &ServiceSnapshot,
    name: &str,
    roles: &Roles,
) -> Result<Description, String> {
    let r = find(snapshot, name)?;
    let d = &r.details;
    let role = if roles.stable.as_deref() == Some(r.name.as_str()) {
        Some("stable".to_string())
    } else if roles.canary.as_deref() == Some(r.name.as_str()) {
        Some("canary".to_string())
    } else {
        None
    };
    let diff = roles
        .stable
        .as_deref()
        .filter(|s| *s != r.name)
        .and_then(|s| snapshot.revision(s))
        .map(|stable| {
            let sd = &stable.details;
            let mut diff = Diff {
                against: stable.name.clone(),
                image: (stable.image != r.image).then(|| (stable.image.clone(), r.image.clone())),
                ..Diff::default()
            };
            for e in &d.env {
                match sd.env.iter().find(|o| o.name == e.name) {
                    None => diff.env_added.push(e.name.clone()),
                    Some(o) if o.value != e.value => diff.env_changed.push(e.name.clone()),
                    Some(_) => {}
                }
            }
            for o in &sd.env {
                if !d.env.iter().any(|e| e.name == o.name) {
                    diff.env_removed.push(o.name.clone());
                }
            }
            let show = |v: Option<String>| v.unwrap_or_else(|| "—".into());
            let mut keys: Vec<&String> = d
                .limits
                .iter()
                .chain(sd.limits.iter())
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            keys.dedup();
            let limit = |l: &[(String, String)], k: &str| {
                l.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            };
            for k in keys {
                let (a, b) = (limit(&sd.limits, k), limit(&d.limits, k));
                if a != b {
                    diff.resources
                        .push((format!("{k} limit"), show(a), show(b)));
                }
            }
            for (what, a, b) in [
                ("min instances", sd.min_instances, d.min_instances),
                ("max instances", sd.max_instances, d.max_instances),
                ("concurrency", sd.concurrency, d.concurrency),
            ] {
                if a != b {
                    diff.resources.push((
                        what.into(),
                        show(a.map(|v| v.to_string())),
                        show(b.map(|v| v.to_string())),
                    ));
                }
            }
            diff
        });
    Ok(Description {
        service: snapshot.service.clone(),
        revision: r.name.clone(),
        role,
        image: r.image.clone(),
        digest: d.digest.clone(),
        created: r.created,
        creator: d.creator.clone(),
        ready: r.ready,
        deploying: d.deploying,
        status: r.status_message.clone(),
        tag: r.tag.clone(),
        tag_url: r.tag_url.clone(),
        traffic: snapshot.traffic.percent_of(&r.name),
        serving: snapshot.actual.as_ref().map(|a| a.percent_of(&r.name)),
        env: d.env.clone(),
        limits: d.limits.clone(),
        min_instances: d.min_instances,
        max_instances: d.max_instances,
        concurrency: d.concurrency,
        port: d.port,
        conditions: d.conditions.clone(),
        platform: d.platform.clone(),
        diff,
    })
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "—".to_string(), |v| v.to_string())
}

impl Description {
    /// The description as lines: the screen styles them by tone, the
    /// scripting command prints `label  value`.
    pub fn lines(&self, now: DateTime<Utc>) -> Vec<DescLine> {
        let mut out = vec![
            line("revision", &self.revision, Tone::Normal),
            line("role", or_dash(self.role.as_deref()), Tone::Normal),
            line("image", &self.image, Tone::Normal),
            line(
                "digest",
                self.digest
                    .clone()
                    .unwrap_or_else(|| "not reported by the platform".into()),
                if self.digest.is_some() {
                    Tone::Normal
                } else {
                    Tone::Dim
                },
            ),
            line(
                "created",
                format!(
                    "{} ({} ago){}",
                    self.created.format("%Y-%m-%d %H:%M:%S UTC"),
                    ago((now - self.created).num_seconds()),
                    self.creator
                        .as_deref()
                        .map(|c| format!(" by {c}"))
                        .unwrap_or_default()
                ),
                Tone::Normal,
            ),
        ];
        let (ready, tone) = if self.deploying {
            ("deploying", Tone::Pending)
        } else if self.ready {
            ("yes", Tone::Good)
        } else {
            ("NO", Tone::Bad)
        };
        out.push(line("ready", ready, tone));
        if let Some(s) = &self.status {
            out.push(line("why", s, Tone::Bad));
        }
        out.push(line("tag", or_dash(self.tag.as_deref()), Tone::Normal));
        if let Some(u) = &self.tag_url {
            out.push(line("tag URL", u, Tone::Normal));
        }
        out.push(line(
            "traffic",
            match self.serving {
                Some(s) if s != self.traffic => {
                    format!("{} % asked, {s} % serving", self.traffic)
                }
                _ => format!("{} %", self.traffic),
            },
            Tone::Normal,
        ));

        if self.conditions.is_empty() {
            out.push(line("conditions", "none reported", Tone::Dim));
        } else {
            out.push(heading("Conditions"));
        }
        for c in &self.conditions {
            let (mark, tone) = match c.state {
                ConditionState::Ok => ("✓", Tone::Good),
                ConditionState::Pending => ("…", Tone::Pending),
                ConditionState::Failed => ("✗", Tone::Bad),
            };
            let mut v = format!("{mark} {}", c.label());
            if c.label() != c.kind {
                v.push_str(&format!(" ({})", c.kind));
            }
            if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                v.push_str(&format!(": {m}"));
            }
            if let Some(r) = &c.reason {
                v.push_str(&format!(" [{r}]"));
            }
            out.push(line("", v, tone));
        }

        if self.env.is_empty() {
            out.push(line("environment", "none reported", Tone::Dim));
        } else {
            out.push(heading("Environment (secret references by name only)"));
        }
        for e in &self.env {
            let tone = match e.value {
                EnvValue::Secret { .. } => Tone::Dim,
                EnvValue::Plain(_) => Tone::Normal,
            };
            out.push(line(&e.name, e.value.shown(), tone));
        }

        let scaled = self.min_instances.is_some()
            || self.max_instances.is_some()
            || self.concurrency.is_some();
        if self.limits.is_empty() && !scaled && self.port.is_none() {
            out.push(line("resources", "none reported", Tone::Dim));
        } else {
            out.push(heading("Resources and scaling"));
            for (k, v) in &self.limits {
                out.push(line(&format!("{k} limit"), v, Tone::Normal));
            }
            if scaled {
                out.push(line(
                    "instances",
                    format!(
                        "min {} · max {} · {} requests at once each",
                        or_dash(self.min_instances),
                        or_dash(self.max_instances),
                        or_dash(self.concurrency)
                    ),
                    Tone::Normal,
                ));
            }
            if let Some(p) = self.port {
                out.push(line("port", p.to_string(), Tone::Normal));
            }
        }

        if !self.platform.is_empty() {
            out.push(heading("Platform"));
            for (label, value) in &self.platform {
                out.push(line(label, value, Tone::Normal));
            }
        }

        if let Some(d) = &self.diff {
            out.push(heading(&format!("Against the stable {}", d.against)));
            if d.is_empty() {
                out.push(line(
                    "",
                    "the same image, environment and resources",
                    Tone::Dim,
                ));
            }
            if let Some((a, b)) = &d.image {
                // The same repository: only the tags (or digests) differ.
                let repo = super::details::image_repository(a);
                let text = match (a.strip_prefix(&repo), b.strip_prefix(&repo)) {
                    (Some(x), Some(y)) => format!("{x} → {y} (same repository)"),
                    _ => format!("{a} → {b}"),
                };
                out.push(line("image", text, Tone::Normal));
            }
            for (label, names) in [
                ("env added", &d.env_added),
                ("env removed", &d.env_removed),
                ("env changed", &d.env_changed),
            ] {
                if !names.is_empty() {
                    out.push(line(label, names.join(", "), Tone::Normal));
                }
            }
            for (what, a, b) in &d.resources {
                out.push(line(what, format!("{a} → {b}"), Tone::Normal));
            }
        }
        out
    }

    /// Plain text, one `label  value` per line (headings on their own).
    pub fn text(&self, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        for l in self.lines(now) {
            match l.tone {
                Tone::Heading => out.push_str(&format!("\n{}\n", l.value)),
                _ if l.label.is_empty() => out.push_str(&format!("  {}\n", l.value)),
                _ => out.push_str(&format!("{:<14}{}\n", l.label, l.value)),
            }
        }
        out
    }
}

fn ago(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::details::RevisionDetails;
    use crate::core::model::{TrafficSplit, Version};

    fn rev(name: &str, image: &str, details: RevisionDetails) -> Revision {
        Revision {
            name: name.into(),
            tag: None,
            tag_url: None,
            image: image.into(),
            created: DateTime::<Utc>::UNIX_EPOCH,
            ready: true,
            status_message: None,
            details,
        }
    }

    #[test]
    fn secrets_show_by_name_and_the_diff_names_what_changed() {
        let plain = |n: &str, v: &str| EnvVar {
            name: n.into(),
            value: EnvValue::Plain(v.into()),
        };
        let secret = EnvVar {
            name: "DB_PASSWORD".into(),
            value: EnvValue::Secret {
                secret: "db-password".into(),
                version: "3".into(),
            },
        };
        let stable = RevisionDetails {
            env: vec![
                plain("LOG_LEVEL", "info"),
                plain("OLD", "1"),
                secret.clone(),
            ],
            limits: vec![("memory".into(), "512Mi".into())],
            max_instances: Some(10),
            ..Default::default()
        };
        let canary = RevisionDetails {
            env: vec![plain("LOG_LEVEL", "debug"), plain("NEW", "1"), secret],
            limits: vec![("memory".into(), "1Gi".into())],
            max_instances: Some(10),
            ..Default::default()
        };
        let snap = ServiceSnapshot {
            service: "s".into(),
            url: None,
            revisions: vec![rev("s-2", "app:2", canary), rev("s-1", "app:1", stable)],
            traffic: TrafficSplit::all_to("s-1"),
            actual: None,
            version: Version::default(),
            reconciling: false,
            message: None,
            runtime_state_lost: false,
            extra: Default::default(),
            write_api: Default::default(),
        };
        let roles = Roles {
            stable: Some("s-1".into()),
            stable_from: None,
            canary: Some("s-2".into()),
        };
        let d = describe(&snap, "s-2", &roles).unwrap();
        let diff = d.diff.clone().unwrap();
        assert_eq!(diff.env_added, vec!["NEW"]);
        assert_eq!(diff.env_removed, vec!["OLD"]);
        assert_eq!(diff.env_changed, vec!["LOG_LEVEL"]);
        assert_eq!(
            diff.resources,
            vec![("memory limit".into(), "512Mi".into(), "1Gi".into())]
        );
        let text = d.text(DateTime::<Utc>::UNIX_EPOCH);
        assert!(
            text.contains("secret db-password (version 3; value not shown)"),
            "{text}"
        );
        assert!(text.contains("1 → 2 (same repository)"), "{text}");
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"secret\":\"db-password\""), "{json}");
        assert!(describe(&snap, "s-1", &roles).unwrap().diff.is_none());
        assert!(describe(&snap, "nope", &roles).is_err());
    }
}
