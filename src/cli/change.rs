//! `canary set` and `canary rollback`: compute the split with the screen's
//! rules, refuse what the screen refuses, show the exact call, and apply it
//! only with `--yes`, journaled like the screen's changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use super::{roles, CliError, Context, StableFrom};
use crate::core::action::ChangeKind;
use crate::core::model::{ServiceSnapshot, TrafficSplit};
use crate::core::traffic;
use crate::journal::Event;
use crate::platform::Platform;

/// What became of the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeOutcome {
    /// Sent and confirmed by the platform.
    Applied,
    /// The split already was the one asked for: nothing sent.
    Unchanged,
    /// Computed and previewed, not sent (no `--yes`).
    NotConfirmed,
}

fn flag(m: &BTreeMap<String, u8>) -> String {
    m.iter()
        .map(|(r, p)| format!("{r}={p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What `canary set` / `canary rollback` report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChangeReport {
    pub service: String,
    /// `set split` or `rollback`, as in the journal.
    pub kind: String,
    pub outcome: ChangeOutcome,
    pub before: BTreeMap<String, u8>,
    pub after: BTreeMap<String, u8>,
    /// The stable revision the change was computed with.
    pub stable: Option<String>,
    pub stable_from: Option<StableFrom>,
    /// The exact call(s): `gcloud …`, then the API request.
    pub preview: Vec<String>,
    /// Why a confirmation would be asked on the screen (large jump).
    pub note: Option<String>,
    pub took_ms: Option<u64>,
    /// The change went through but its journal record could not be written.
    pub journal_warning: Option<String>,
    /// Still converging after the change (the platform's own status).
    pub reconciling: bool,
}

impl ChangeReport {
    /// `rev-a=90,rev-b=10`.
    pub fn after_flag(&self) -> String {
        flag(&self.after)
    }

    pub fn before_flag(&self) -> String {
        flag(&self.before)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn render_text(&self) -> String {
        let flag = |m: &BTreeMap<String, u8>| {
            m.iter()
                .map(|(r, p)| format!("{r} {p}%"))
                .collect::<Vec<_>>()
                .join(" · ")
        };
        let mut out = String::new();
        let _ = match self.outcome {
            ChangeOutcome::Applied => writeln!(
                out,
                "{}: {} → {} (done in {} ms)",
                self.kind,
                flag(&self.before),
                flag(&self.after),
                self.took_ms.unwrap_or(0)
            ),
            ChangeOutcome::Unchanged => writeln!(
                out,
                "{}: nothing to change, the split already is {}",
                self.kind,
                flag(&self.after)
            ),
            ChangeOutcome::NotConfirmed => writeln!(
                out,
                "{} (not applied; re-run with --yes): {} → {}",
                self.kind,
                flag(&self.before),
                flag(&self.after)
            ),
        };
        if let Some(n) = &self.note {
            let _ = writeln!(out, "note: {n}");
        }
        if self.outcome == ChangeOutcome::NotConfirmed {
            for line in &self.preview {
                let _ = writeln!(out, "  {line}");
            }
        }
        if self.reconciling {
            let _ = writeln!(out, "the platform is still converging on it");
        }
        if let Some(w) = &self.journal_warning {
            let _ = writeln!(out, "WARNING: not journaled: {w}");
        }
        out
    }
}

/// The screen asks for a confirmation above this jump (its default `max_step`).
const MAX_STEP: u8 = 25;

/// Checks, previews, and (with `yes`) applies `after`.
async fn change(
    platform: &dyn Platform,
    snapshot: ServiceSnapshot,
    kind: ChangeKind,
    after: TrafficSplit,
    stable: Option<(String, StableFrom)>,
    yes: bool,
    ctx: &mut Context<'_>,
) -> Result<ChangeReport, CliError> {
    let before = snapshot.traffic.clone();
    let jump = traffic::largest_move(&before, &after);
    let mut report = ChangeReport {
        service: snapshot.service.clone(),
        kind: kind.verb(),
        outcome: ChangeOutcome::Unchanged,
        before: before.as_map(),
        after: after.as_map(),
        stable: stable.as_ref().map(|s| s.0.clone()),
        stable_from: stable.map(|s| s.1),
        preview: Vec::new(),
        // Blue/green moves everything at once: no jump to warn about.
        note: (jump > MAX_STEP && snapshot.extra.all_or_nothing.is_none())
            .then(|| format!("a jump of {jump} points")),
        took_ms: None,
        journal_warning: None,
        reconciling: snapshot.reconciling,
    };
    if after == before {
        return Ok(report);
    }
    traffic::check_ready(&snapshot, &before, &after).map_err(CliError::Refused)?;
    report.preview = crate::core::preview::preview(&snapshot, &after);
    if !yes {
        report.outcome = ChangeOutcome::NotConfirmed;
        return Err(CliError::NotConfirmed(Box::new(report)));
    }
    // Journaled before it goes out; without a record, nothing is sent.
    let id = crate::journal::fresh_change_id();
    ctx.record(
        &snapshot.service,
        Event::TrafficRequested {
            pid: Some(std::process::id()),
            id,
            kind: kind.verb(),
            before: before.clone(),
            after: after.clone(),
            reason: ctx.reason.clone(),
        },
    )
    .map_err(CliError::Journal)?;
    let started = Instant::now();
    let result = platform.set_traffic(&after, &snapshot.version).await;
    let took_ms = started.elapsed().as_millis() as u64;
    let event = crate::journal::outcome_record(
        id,
        kind.verb(),
        before,
        after,
        ctx.reason.clone(),
        took_ms as i64,
        result.as_ref().map(|_| ()),
    );
    let journaled = ctx.record(&snapshot.service, event);
    let applied = match result {
        Ok(s) => s,
        Err(e) => {
            if let Err(j) = journaled {
                tracing::error!(error = %j, "the failed change could not be journaled");
            }
            return Err(CliError::Backend(e));
        }
    };
    report.outcome = ChangeOutcome::Applied;
    report.took_ms = Some(took_ms);
    report.reconciling = applied.reconciling;
    report.journal_warning = journaled.err();
    Ok(report)
}

/// `canary set NAME=PERCENT…`: names are revisions or tags; the stable
/// revision takes whatever is not named (as `=` on the screen). Without
/// `yes`, nothing is sent and [`CliError::NotConfirmed`] carries the preview.
pub async fn set(
    platform: &dyn Platform,
    assignments: &[String],
    yes: bool,
    ctx: &mut Context<'_>,
) -> Result<ChangeReport, CliError> {
    let input = assignments.join(" ");
    if input.trim().is_empty() {
        return Err(CliError::Usage(
            "name at least one share, e.g. `canary set canary=10`".into(),
        ));
    }
    let snapshot = platform.snapshot().await?;
    let roles = roles(&snapshot, &ctx.options, ctx.journal_path())?;
    let canary = roles.canary.clone();
    let stable = roles.stable.zip(roles.stable_from);
    let stable_name = stable
        .as_ref()
        .map(|s| s.0.clone())
        .ok_or_else(|| CliError::Refused("no revision has traffic: nothing to split".into()))?;
    let after = traffic::parse_assignment(
        &input,
        &snapshot,
        &snapshot.traffic,
        &stable_name,
        canary.as_deref(),
    )
    .map_err(CliError::Usage)?;
    change(platform, snapshot, ChangeKind::Set, after, stable, yes, ctx).await
}

/// `canary rollback [--to REV]`: 100 % to `to` (a revision or tag), or to the
/// stable revision by the screen's rule ([`crate::core::roles`]). It refuses
/// to guess between several.
pub async fn rollback(
    platform: &dyn Platform,
    to: Option<&str>,
    yes: bool,
    ctx: &mut Context<'_>,
) -> Result<ChangeReport, CliError> {
    let snapshot = platform.snapshot().await?;
    let target = match to {
        Some(name) => {
            let rev = snapshot.resolve(name).ok_or_else(|| {
                CliError::Usage(format!(
                    "`{name}` is neither a revision nor a tag of {}",
                    snapshot.service
                ))
            })?;
            Some((rev.name.clone(), StableFrom::Pin))
        }
        None => {
            let roles = roles(&snapshot, &ctx.options, ctx.journal_path())?;
            roles.stable.zip(roles.stable_from)
        }
    };
    let Some(target) = target.filter(|t| to.is_some() || !t.1.is_guess()) else {
        return Err(CliError::Refused(format!(
            "cannot tell which revision is stable (traffic: {}): name it with --to, \
             or pin it in the config",
            snapshot.traffic
        )));
    };
    let after = TrafficSplit::all_to(target.0.clone());
    let stable = (to.is_none()).then_some(target);
    change(
        platform,
        snapshot,
        ChangeKind::Rollback,
        after,
        stable,
        yes,
        ctx,
    )
    .await
}
