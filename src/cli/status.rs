//! `canary status`: the service, its revisions and who gets how much traffic,
//! as JSON for scripts and as text for people.

use std::fmt::Write as _;

use serde::Serialize;

use super::{roles, CliError, Context, StableFrom};
use crate::core::model::{Allocation, PlatformInfo, Revision, ServiceSnapshot, TrafficSplit};
use crate::platform::Platform;

/// One revision's share (the model's allocation, `{revision, percent}`).
pub type Share = Allocation;

fn shares(split: &TrafficSplit) -> Vec<Share> {
    split.entries().to_vec()
}

/// One revision, newest first: the platform's view plus its place in the split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RevisionStatus {
    #[serde(flatten)]
    pub revision: Revision,
    /// Share asked for (Cloud Run `traffic`).
    pub percent: u8,
    /// Share actually serving (Cloud Run `trafficStatuses`), when reported.
    pub serving_percent: Option<u8>,
    pub stable: bool,
    pub canary: bool,
}

/// What `canary status` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusReport {
    pub platform: PlatformInfo,
    pub service: String,
    pub url: Option<String>,
    /// The optimistic-concurrency version (Cloud Run etag).
    pub version: String,
    /// Still converging on `traffic`.
    pub reconciling: bool,
    /// A platform-level problem (failed terminal condition).
    pub message: Option<String>,
    /// The platform restarted and forgot the split set at runtime (HAProxy
    /// weights): it serves its configured split.
    pub runtime_state_lost: bool,
    pub stable: Option<String>,
    pub stable_from: Option<StableFrom>,
    pub canary: Option<String>,
    pub traffic: Vec<Share>,
    /// Serving split when it differs from `traffic` or is reported apart.
    pub serving: Option<Vec<Share>>,
    pub revisions: Vec<RevisionStatus>,
    /// What the platform adds (Kubernetes: all-or-nothing, read-only by
    /// another controller, a colour kept warm, per-revision details).
    #[serde(skip_serializing_if = "crate::core::model::SnapshotExtra::is_empty")]
    pub extra: crate::core::model::SnapshotExtra,
    /// The latest plan, from the journal (who drives it, its phase and step).
    pub plan: Option<super::plan_status::PlanStatus>,
}

impl StatusReport {
    pub(super) fn build(
        info: PlatformInfo,
        snapshot: &ServiceSnapshot,
        stable: Option<(String, StableFrom)>,
        canary: Option<String>,
    ) -> StatusReport {
        let stable_name = stable.as_ref().map(|s| s.0.clone());
        let revisions = snapshot
            .revisions
            .iter()
            .map(|r| RevisionStatus {
                revision: r.clone(),
                percent: snapshot.traffic.percent_of(&r.name),
                serving_percent: snapshot.actual.as_ref().map(|a| a.percent_of(&r.name)),
                stable: stable_name.as_deref() == Some(r.name.as_str()),
                canary: canary.as_deref() == Some(r.name.as_str()),
            })
            .collect();
        StatusReport {
            platform: info,
            service: snapshot.service.clone(),
            url: snapshot.url.clone(),
            version: snapshot.version.0.clone(),
            reconciling: snapshot.reconciling,
            message: snapshot.message.clone(),
            runtime_state_lost: snapshot.runtime_state_lost,
            stable: stable_name,
            stable_from: stable.map(|s| s.1),
            canary,
            traffic: shares(&snapshot.traffic),
            serving: snapshot.actual.as_ref().map(shares),
            revisions,
            extra: snapshot.extra.clone(),
            plan: None,
        }
    }

    /// Pretty JSON (the `--json` output).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// For people: a header, the split, and a table of revisions.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({} · {})",
            self.service, self.platform.kind, self.platform.location
        );
        if let Some(u) = &self.url {
            let _ = writeln!(out, "url      {u}");
        }
        let flag = |s: &[Share]| {
            s.iter()
                .map(|a| format!("{} {}%", a.revision, a.percent))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let _ = writeln!(out, "traffic  {}", flag(&self.traffic));
        if let Some(serving) = &self.serving {
            if *serving != self.traffic || self.reconciling {
                let _ = writeln!(out, "serving  {} (still converging)", flag(serving));
            }
        }
        if let Some(p) = &self.plan {
            let _ = writeln!(
                out,
                "plan     {} → {}: {} (started by {} {}){}",
                p.canary,
                p.stable,
                p.label,
                p.driver.user,
                p.started.format("%Y-%m-%d %H:%M:%S UTC"),
                p.why.as_deref().map_or(String::new(), |w| format!(": {w}"))
            );
        }
        if let Some(m) = &self.message {
            let _ = writeln!(out, "problem  {m}");
        }
        if self.runtime_state_lost {
            let _ = writeln!(
                out,
                "problem  {} restarted and lost the split set at runtime: it serves its \
                 configured weights; re-apply the last confirmed split (`canary set …`, or \
                 the screen's offer)",
                self.platform.kind
            );
        }
        if let Some(why) = &self.extra.read_only {
            let _ = writeln!(out, "read-only  {why}");
        }
        if let Some(kw) = &self.extra.keep_warm {
            let _ = writeln!(
                out,
                "keep-warm  {} ({} replicas) kept running until {}, then scaled to 0",
                kw.revision,
                kw.replicas,
                kw.until.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        let name_w = self
            .revisions
            .iter()
            .map(|r| r.revision.name.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            out,
            "\n{:<name_w$}  {:>7}  {:<5}  {:<10}  {:<16}  ROLE",
            "REVISION", "TRAFFIC", "READY", "TAG", "CREATED"
        );
        for status in &self.revisions {
            let r = &status.revision;
            let role = match (status.stable, status.canary) {
                (true, _) => "stable",
                (_, true) => "canary",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{:<name_w$}  {:>6}%  {:<5}  {:<10}  {:<16}  {role}",
                r.name,
                status.percent,
                if r.ready { "yes" } else { "NO" },
                r.tag.as_deref().unwrap_or("-"),
                r.created.format("%Y-%m-%d %H:%M"),
            );
            if let Some(m) = r.status_message.as_deref().filter(|_| !r.ready) {
                let _ = writeln!(out, "{:<name_w$}  ↳ {m}", "");
            }
        }
        out
    }
}

/// Reads the service once and reports it.
pub async fn status(platform: &dyn Platform, ctx: &Context<'_>) -> Result<StatusReport, CliError> {
    let snapshot = platform.snapshot().await?;
    let roles = roles(&snapshot, &ctx.options, ctx.journal_path())?;
    let stable = roles.stable.zip(roles.stable_from);
    let mut report = StatusReport::build(platform.info(), &snapshot, stable, roles.canary);
    report.plan = ctx
        .plan_journal
        .as_deref()
        .filter(|p| p.is_file())
        .and_then(|p| crate::journal::replay(p).ok())
        .as_ref()
        .and_then(super::plan_status::last_plan);
    Ok(report)
}
