//! `[service]`: which service, on which platform.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::{ConfigError, DEMO_PROJECT, DEMO_REGION, DEMO_SERVICE};

table! {
    struct Raw {
        platform: Leaf => "one of: \"cloud-run\", \"haproxy\", \"kubernetes\", \"simulator\"",
        name: Leaf => "a service name without spaces, e.g. \"emergence-app\"",
        project: Leaf => "a Google Cloud project id without spaces, e.g. \"my-project-123\"",
        region: Leaf => "a region without spaces, e.g. \"europe-west1\"",
        stable_revision: Leaf => "a revision name without spaces, e.g. \"emergence-app-00041-abc\"",
        canary_tag: Leaf => "a traffic tag without spaces, e.g. \"canary\"",
    }
}

/// Which backend drives traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlatformKind {
    #[default]
    CloudRun,
    Haproxy,
    Kubernetes,
    Simulator,
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 4] = [
        PlatformKind::CloudRun,
        PlatformKind::Haproxy,
        PlatformKind::Kubernetes,
        PlatformKind::Simulator,
    ];

    /// The name used in the config: `cloud-run`, `haproxy`, `simulator`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::CloudRun => "cloud-run",
            PlatformKind::Haproxy => "haproxy",
            PlatformKind::Kubernetes => "kubernetes",
            PlatformKind::Simulator => "simulator",
        }
    }
}

impl fmt::Display for PlatformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub platform: PlatformKind,
    /// The service name; empty only in [`Config::default`](crate::config::Config)
    /// (a file must set it unless the platform is the simulator).
    pub name: String,
    /// Google Cloud project (required for Cloud Run).
    pub project: Option<String>,
    /// Cloud Run region (required for Cloud Run).
    pub region: Option<String>,
    /// Pinned rollback target; when `None` the cockpit works it out.
    pub stable_revision: Option<String>,
    /// The traffic tag that marks the canary revision.
    pub canary_tag: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            platform: PlatformKind::CloudRun,
            name: String::new(),
            project: None,
            region: None,
            stable_revision: None,
            canary_tag: "canary".into(),
        }
    }
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<ServiceConfig, ConfigError> {
        let leaves = [
            &self.platform,
            &self.name,
            &self.project,
            &self.region,
            &self.stable_revision,
            &self.canary_tag,
        ];
        let platform = cx
            .choice(
                &self.platform,
                "service.platform",
                &PlatformKind::ALL.map(|p| (p.as_str(), p)),
            )?
            .unwrap_or_default();
        let mut name = cx.word(&self.name, "service.name")?;
        let mut project = cx.word(&self.project, "service.project")?;
        let mut region = cx.word(&self.region, "service.region")?;
        let stable_revision = cx.word(&self.stable_revision, "service.stable_revision")?;
        let canary_tag = cx.word(&self.canary_tag, "service.canary_tag")?;
        match platform {
            PlatformKind::CloudRun => {
                let needs = [
                    (
                        &name,
                        "service.name",
                        "the Cloud Run service name, e.g. name = \"my-service\"",
                    ),
                    (
                        &project,
                        "service.project",
                        "the Google Cloud project, e.g. project = \"my-project-123\"",
                    ),
                    (
                        &region,
                        "service.region",
                        "the Cloud Run region, e.g. region = \"europe-west1\"",
                    ),
                ];
                for (value, key, what) in needs {
                    if value.is_none() {
                        let why = format!("platform \"cloud-run\" needs {what}");
                        return Err(cx.missing("service", &leaves, key, &why));
                    }
                }
            }
            PlatformKind::Haproxy | PlatformKind::Kubernetes => {
                if name.is_none() {
                    let why = if platform == PlatformKind::Haproxy {
                        "platform \"haproxy\" needs a service name, e.g. name = \"my-service\""
                    } else {
                        "platform \"kubernetes\" needs a service name, e.g. name = \"backend\""
                    };
                    return Err(cx.missing("service", &leaves, "service.name", why));
                }
            }
            PlatformKind::Simulator => {
                name.get_or_insert_with(|| DEMO_SERVICE.into());
                project.get_or_insert_with(|| DEMO_PROJECT.into());
                region.get_or_insert_with(|| DEMO_REGION.into());
            }
        }
        let defaults = ServiceConfig::default();
        Ok(ServiceConfig {
            platform,
            name: name.unwrap_or_default(),
            project,
            region,
            stable_revision,
            canary_tag: canary_tag.unwrap_or(defaults.canary_tag),
        })
    }
}
