//! `[audit]`: the audit trail shared by the team, besides the local journal
//! (which stays the source of truth).

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::{ConfigError, PlatformKind};

table! {
    struct Raw {
        shared: Leaf => "\"cloud-logging\" (platform \"cloud-run\") or \"kubernetes-events\" (platform \"kubernetes\")",
        log: Leaf => "a log ID of letters, digits and - _ . / such as \"canary-audit\"",
        queue: Leaf => "a number of records from 1 to 100000",
    }
}

/// Where the shared audit trail goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedSink {
    /// Cloud Logging `entries:write` under `projects/P/logs/LOG`.
    CloudLogging,
    /// A core/v1 Event on the Service per record.
    KubernetesEvents,
}

/// `[audit]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// `None`: only the local journal.
    pub shared: Option<SharedSink>,
    /// Cloud Logging's log ID (`projects/P/logs/LOG`).
    pub log: String,
    /// Records waiting for the sink at most; beyond, the oldest are dropped
    /// (and counted): the local journal has them all.
    pub queue: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            shared: None,
            log: "canary-audit".into(),
            queue: 1000,
        }
    }
}

impl Raw {
    pub(super) fn validate(
        &self,
        cx: &Cx,
        platform: PlatformKind,
        project: Option<&str>,
    ) -> Result<AuditConfig, ConfigError> {
        let d = AuditConfig::default();
        let shared = cx.choice(
            &self.shared,
            "audit.shared",
            &[
                ("cloud-logging", SharedSink::CloudLogging),
                ("kubernetes-events", SharedSink::KubernetesEvents),
            ],
        )?;
        if let (Some(sink), Some(leaf)) = (shared, &self.shared) {
            let fits = match sink {
                SharedSink::CloudLogging => {
                    matches!(platform, PlatformKind::CloudRun) && project.is_some()
                }
                SharedSink::KubernetesEvents => platform == PlatformKind::Kubernetes,
            };
            if !fits {
                let why = match sink {
                    SharedSink::CloudLogging => {
                        "\"cloud-logging\" needs platform \"cloud-run\" and service.project"
                    }
                    SharedSink::KubernetesEvents => {
                        "\"kubernetes-events\" needs platform \"kubernetes\""
                    }
                };
                return Err(cx.at(leaf, "audit.shared", why.to_string()));
            }
        }
        let log = match cx.string(&self.log, "audit.log")? {
            None => d.log,
            Some((s, l)) => {
                let ok = !s.is_empty()
                    && s.len() <= 512
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
                if !ok {
                    return Err(cx.wrong_value(l, "audit.log", format!("{s:?}")));
                }
                s.to_string()
            }
        };
        Ok(AuditConfig {
            shared,
            log,
            queue: cx
                .int(&self.queue, "audit.queue", 1..=100_000)?
                .unwrap_or(d.queue),
        })
    }
}
