//! What a platform says about one revision beyond its name, image and
//! readiness: the inspect view (`Enter`, `canary describe`) and the deploy
//! progress read it. Platforms fill what they know; the rest stays empty.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything known about a revision's make-up and state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionDetails {
    /// `sha256:…` when the platform reports it (or the image is pinned by digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Who created it, where the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Environment variables in the platform's order. A secret reference
    /// carries only its name (never a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// `cpu`, `memory`, … as the platform writes them (`1000m`, `512Mi`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
    /// Requests one instance serves at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
    /// The port the container must listen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// The platform's conditions, in its order (Ready last where it says so).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The platform is still creating it (deploying).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deploying: bool,
    /// What the platform adds that has no field above, as `(label, value)`
    /// lines in its order (Kubernetes: the Deployment, replicas, rollout,
    /// a colour kept warm and its scale-down call, recent Events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<(String, String)>,
}

/// One environment variable: a plain value, or a reference to a secret
/// (shown by name only: the value is never read, kept or shown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    #[serde(flatten)]
    pub value: EnvValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvValue {
    /// A plain value, as configured.
    Plain(String),
    /// A secret reference: the secret's name and version (never its value;
    /// the version is empty where the platform has none — Kubernetes names
    /// `secret/key`).
    Secret { secret: String, version: String },
}

impl EnvValue {
    /// The value as the inspect view shows it: plain values as they are,
    /// secret references by name only.
    pub fn shown(&self) -> String {
        match self {
            EnvValue::Plain(v) => v.clone(),
            EnvValue::Secret { secret, version } if version.is_empty() => {
                format!("secret {secret} (value not shown)")
            }
            EnvValue::Secret { secret, version } => {
                format!("secret {secret} (version {version}; value not shown)")
            }
        }
    }
}

/// Where a condition stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionState {
    /// Not yet decided (the platform is still working on it).
    Pending,
    Ok,
    Failed,
}

/// One of the platform's conditions (Cloud Run: `ContainerReady` for the
/// image import, `ContainerHealthy`, `ResourcesAvailable`, `Ready`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The platform's type name.
    pub kind: String,
    pub state: ConditionState,
    /// The platform's message, as it wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The platform's reason code (`CONTAINER_MISSING`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl Condition {
    /// Where it comes in the order of a deploy: image import, resources,
    /// container healthy, the rest, ready last.
    pub fn rank(&self) -> u8 {
        match self.kind.as_str() {
            "ContainerReady" | "ImageImported" => 0,
            "ResourcesAvailable" => 1,
            "ContainerHealthy" => 2,
            "Ready" => 4,
            _ => 3,
        }
    }

    /// What the condition is about, in plain words.
    pub fn label(&self) -> &str {
        match self.kind.as_str() {
            "ContainerReady" | "ImageImported" => "image import",
            "ContainerHealthy" => "container healthy",
            "ResourcesAvailable" => "resources",
            "Ready" => "ready",
            "RoutesReady" => "routes",
            other => other,
        }
    }
}

/// A failure reason of the platform in plain words (the platform's own
/// message follows it on screen).
pub fn plain_reason(reason: Option<&str>, message: Option<&str>) -> Option<String> {
    let m = message.unwrap_or("").to_ascii_lowercase();
    let r = reason.unwrap_or("");
    let plain = if r == "CONTAINER_MISSING"
        || r == "CONTAINER_IMAGE_UNAUTHORIZED"
        || r == "CONTAINER_PERMISSION_DENIED"
        || (m.contains("image") && (m.contains("not found") || m.contains("pull")))
    {
        "the image cannot be pulled (it does not exist, or the service may not read it)"
    } else if m.contains("listen on the port") {
        "the container did not start listening on its port"
    } else if r == "PROGRESS_DEADLINE_EXCEEDED" || m.contains("timed out") || m.contains("deadline")
    {
        "the revision did not become ready in time (the image import or the start timed out)"
    } else if r == "SECRETS_ACCESS_CHECK_FAILED" {
        "a secret the revision refers to cannot be read"
    } else {
        return None;
    };
    Some(plain.to_string())
}

/// The repository part of an image reference, ready for a new tag:
/// `…/app/emergence:deploy-1` and `…/emergence@sha256:…` give `…/app/emergence:`.
pub fn image_repository(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    // A `:` after the last `/` starts the tag (a registry port comes before it).
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let repo = match without_digest[last_slash..].find(':') {
        Some(i) => &without_digest[..last_slash + i],
        None => without_digest,
    };
    format!("{repo}:")
}

/// The digest of an image pinned by digest (`…@sha256:…`).
pub fn digest_of(image: &str) -> Option<String> {
    image
        .split_once('@')
        .map(|(_, d)| d.to_string())
        .filter(|d| d.starts_with("sha256:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_repository_keeps_the_registry_port() {
        assert_eq!(
            image_repository("europe-west1-docker.pkg.dev/p/app/emergence:deploy-20261120"),
            "europe-west1-docker.pkg.dev/p/app/emergence:"
        );
        assert_eq!(
            image_repository("localhost:5000/app@sha256:abc"),
            "localhost:5000/app:"
        );
        assert_eq!(image_repository("nginx"), "nginx:");
        assert_eq!(digest_of("a/b@sha256:00ff"), Some("sha256:00ff".into()));
        assert_eq!(digest_of("a/b:1"), None);
    }

    #[test]
    fn reasons_in_plain_words() {
        assert!(plain_reason(Some("CONTAINER_MISSING"), None)
            .is_some_and(|p| p.contains("cannot be pulled")));
        assert!(plain_reason(
            None,
            Some("The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.")
        )
        .is_some_and(|p| p.contains("listening on its port")));
        assert!(plain_reason(Some("PROGRESS_DEADLINE_EXCEEDED"), None)
            .is_some_and(|p| p.contains("in time")));
        assert_eq!(plain_reason(None, Some("all good")), None);
        let secret = EnvValue::Secret {
            secret: "db-password".into(),
            version: "latest".into(),
        };
        assert!(!secret.shown().contains("hunter2"));
        assert!(secret.shown().contains("db-password"));
    }
}
