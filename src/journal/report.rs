//! `canary journal` and `canary report`: the history, for people.

use std::fmt::Write as _;

use super::{Event, Outcome, Record, Replay};

/// Text for a table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    crate::core::error::excerpt(text, 300).replace('|', "\\|")
}

fn split_or_dash(s: Option<&crate::core::model::TrafficSplit>) -> String {
    s.map_or("–".into(), |s| s.to_flag().replace(',', ", "))
}

fn who(r: &Record) -> String {
    match &r.who.from {
        Some(f) => format!("{} ({f})", r.who.user),
        None => r.who.user.clone(),
    }
}

/// One line per record, for `canary journal`.
pub fn history_line(r: &Record) -> String {
    let t = r.at.format("%Y-%m-%d %H:%M:%S");
    let what = match &r.event {
        Event::SessionStart {
            platform,
            read_only,
        } => format!(
            "session start on {platform}{}",
            if *read_only { " (read-only)" } else { "" }
        ),
        Event::SessionEnd => "session end".into(),
        Event::TrafficRequested {
            kind,
            after,
            reason,
            ..
        } => format!(
            "{kind} requested → {}{}",
            after.to_flag(),
            reason
                .as_deref()
                .map(|r| format!(" — “{r}”"))
                .unwrap_or_default()
        ),
        Event::TrafficApplied {
            kind,
            before,
            after,
            took_ms,
            reason,
            ..
        } => format!(
            "{kind} applied: {} → {} in {took_ms} ms{}",
            before.to_flag(),
            after.to_flag(),
            reason
                .as_deref()
                .map(|r| format!(" — “{r}”"))
                .unwrap_or_default()
        ),
        Event::TrafficFailed {
            kind, after, error, ..
        } => format!("{kind} FAILED ({}): {error}", after.to_flag()),
        Event::TrafficReconciled {
            kind,
            after,
            outcome,
            read_back,
            why,
            ..
        } => format!(
            "{kind} → {}: {} (the platform read {}): {why}",
            after.to_flag(),
            outcome.label().to_uppercase(),
            read_back.as_ref().map_or("nothing".into(), |s| s.to_flag())
        ),
        Event::ServiceObserved { traffic } => {
            format!(
                "observed: {} (changed outside the cockpit)",
                traffic.to_flag()
            )
        }
        Event::TrafficReason { kind, reason, id } => {
            format!("{kind} #{id} reason: “{reason}”")
        }
        Event::PlanStarted {
            canary,
            stable,
            spec,
            ..
        } => format!(
            "plan started: {canary} over {stable}: {} ({})",
            spec.describe(),
            spec.policy()
        ),
        Event::PlanTransition { from, to, why } => {
            format!("plan: {} → {} ({why})", from.label(), to.label())
        }
        Event::Checks { revision, results } => {
            let pass = results.iter().filter(|c| c.status == "pass").count();
            format!("checks on {revision}: {pass}/{} passed", results.len())
        }
        Event::PhaseMetrics { phase, revisions } => format!(
            "metrics at {phase}: {}",
            revisions
                .iter()
                .map(|m| format!(
                    "{} 5xx {} p95 {}",
                    m.revision,
                    fmt_opt(m.error_percent, "%"),
                    fmt_opt(m.p95_ms, "ms")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Event::Note { message } => message.clone(),
        Event::Judge { evidence } => crate::core::judge::text::summary(evidence),
        Event::GatesObserved(g) => g.text(),
        e @ (Event::DeployRequested(_)
        | Event::DeployFinished(_)
        | Event::RevisionDeleteRequested(_)
        | Event::RevisionDeleted(_)) => super::release::history_text(e).unwrap_or_default(),
    };
    format!("{t}  {:<16} {what}", who(r))
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("no data".into(), |v| format!("{v:.2}{unit}"))
}

/// A Markdown deployment report, like the ones the team writes by hand.
pub fn markdown(service: &str, replay: &Replay) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Deployment report: {service}\n");
    let recs = &replay.records;
    let (Some(first), Some(last)) = (recs.first(), recs.last()) else {
        let _ = writeln!(md, "The journal is empty: nothing happened yet.");
        return md;
    };
    // The latest plan, if any, frames the report.
    let plan_start = recs
        .iter()
        .rposition(|r| matches!(r.event, Event::PlanStarted { .. }));
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "- Period: {} → {} UTC",
        first.at.format("%Y-%m-%d %H:%M:%S"),
        last.at.format("%Y-%m-%d %H:%M:%S")
    );
    if let Some(i) = plan_start {
        if let Event::PlanStarted {
            canary,
            stable,
            spec,
            canary_image,
        } = &recs[i].event
        {
            let _ = writeln!(md, "- Canary revision: `{canary}`");
            if let Some(img) = canary_image {
                let _ = writeln!(md, "- Image: `{img}`");
            }
            let _ = writeln!(md, "- Stable revision: `{stable}`");
            let _ = writeln!(
                md,
                "- Plan: {} ({}), started by {}",
                spec.describe(),
                spec.policy(),
                who(&recs[i])
            );
        }
        let outcome = recs[i..].iter().rev().find_map(|r| match &r.event {
            Event::PlanTransition { to, .. } => Some((r.at, to.clone())),
            _ => None,
        });
        if let Some((at, o)) = outcome {
            // Up to the plan's last transition, not whatever was journaled after.
            let dur = at - recs[i].at;
            let _ = writeln!(
                md,
                "- Outcome: **{}** after {} min {} s",
                o.label(),
                dur.num_minutes(),
                dur.num_seconds() % 60
            );
            if let crate::core::plan::Phase::RolledBack { reason }
            | crate::core::plan::Phase::Failed { reason } = &o
            {
                // The operator's own words, given after the rollback went out.
                let said: Vec<&str> = recs[i..]
                    .iter()
                    .filter_map(|r| match &r.event {
                        Event::TrafficReason { kind, reason, .. } if kind == "rollback" => {
                            Some(reason.as_str())
                        }
                        _ => None,
                    })
                    .collect();
                if said.is_empty() {
                    let _ = writeln!(md, "- Rollback reason: {reason}");
                } else {
                    let _ = writeln!(md, "- Rollback reason: {reason}: {}", said.join("; "));
                }
            }
        }
    }
    if let Some(section) = super::release::report_section(recs) {
        let _ = write!(md, "\n{section}");
    }
    let unresolved: Vec<u64> = replay.unresolved().iter().map(|u| u.id).collect();
    let _ = writeln!(md, "\n## Traffic timeline\n");
    let _ = writeln!(
        md,
        "| time (UTC) | who | change | before | after | took | reason |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    // A reason given after the change went out (rollback) joins its row: the
    // first one naming the change after its request (ids may repeat across
    // older sessions, so the search starts at the request).
    let late_reason = |at: usize, id: u64| {
        let requested = recs[..at]
            .iter()
            .rposition(|r| matches!(r.event, Event::TrafficRequested { id: i, .. } if i == id))?;
        // Until the id is used again (an older session counted from 1 too)
        // or another session starts.
        recs[requested + 1..]
            .iter()
            .take_while(|r| {
                !matches!(r.event, Event::SessionStart { .. })
                    && !matches!(r.event, Event::TrafficRequested { id: i, .. } if i == id)
            })
            .find_map(|r| match &r.event {
                Event::TrafficReason { id: i, reason, .. } if *i == id => Some(reason.as_str()),
                _ => None,
            })
    };
    for (at, r) in recs.iter().enumerate() {
        match &r.event {
            Event::TrafficApplied {
                id,
                kind,
                before,
                after,
                reason,
                took_ms,
            } => {
                let reason = match (reason.as_deref(), late_reason(at, *id)) {
                    (Some(a), Some(b)) => Some(format!("{a}: {b}")),
                    (a, b) => a.or(b).map(str::to_string),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {kind} | {} | {} | {took_ms} ms | {} |",
                    r.at.format("%H:%M:%S"),
                    who(r),
                    split_or_dash(Some(before)),
                    split_or_dash(Some(after)),
                    reason.as_deref().unwrap_or("")
                );
            }
            Event::TrafficFailed {
                kind,
                before,
                after,
                error,
                ..
            } => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {kind} **failed** (asked {}) | {} | {} | | {} |",
                    r.at.format("%H:%M:%S"),
                    who(r),
                    split_or_dash(Some(after)),
                    split_or_dash(Some(before)),
                    split_or_dash(Some(before)),
                    cell(error)
                );
            }
            Event::TrafficReconciled {
                kind,
                before,
                after,
                outcome,
                read_back,
                why,
                ..
            } => {
                // What the platform was read at is the split after.
                let now = match outcome {
                    Outcome::Applied => read_back.as_ref().unwrap_or(after),
                    Outcome::NotApplied => read_back.as_ref().unwrap_or(before),
                    Outcome::Unknown => read_back.as_ref().unwrap_or(after),
                };
                let shown = if *outcome == Outcome::Unknown && read_back.is_none() {
                    "unknown".to_string()
                } else {
                    split_or_dash(Some(now))
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {kind} **{}** (asked {}) | {} | {shown} | | {} |",
                    r.at.format("%H:%M:%S"),
                    who(r),
                    outcome.label(),
                    split_or_dash(Some(after)),
                    split_or_dash(Some(before)),
                    cell(why)
                );
            }
            Event::TrafficRequested {
                id,
                kind,
                before,
                after,
                reason,
                ..
            } if unresolved.contains(id) => {
                let _ = writeln!(
                    md,
                    "| {} | {} | {kind} requested, **no outcome recorded** (interrupted) | {} | {} | | {} |",
                    r.at.format("%H:%M:%S"),
                    who(r),
                    split_or_dash(Some(before)),
                    split_or_dash(Some(after)),
                    reason.as_deref().map(cell).unwrap_or_default()
                );
            }
            _ => {}
        }
    }
    let plan_events: Vec<&Record> = recs
        .iter()
        .filter(|r| matches!(r.event, Event::PlanTransition { .. }))
        .collect();
    if !plan_events.is_empty() {
        let _ = writeln!(md, "\n## Plan\n");
        for r in plan_events {
            if let Event::PlanTransition { from, to, why } = &r.event {
                let _ = writeln!(
                    md,
                    "- {} {} → **{}**: {why}",
                    r.at.format("%H:%M:%S"),
                    from.label(),
                    to.label()
                );
            }
        }
    }
    let checks: Vec<&Record> = recs
        .iter()
        .filter(|r| matches!(r.event, Event::Checks { .. }))
        .collect();
    if !checks.is_empty() {
        let _ = writeln!(md, "\n## Verification checks\n");
        let _ = writeln!(
            md,
            "| time | revision | check | result | measured | expected | took | reason |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for r in checks {
            if let Event::Checks { revision, results } = &r.event {
                for c in results {
                    let _ = writeln!(
                        md,
                        "| {} | {revision} | {}{} | {} | {} | {} | {} ms | {} |",
                        r.at.format("%H:%M:%S"),
                        c.name,
                        if c.blocking { "" } else { " (warning)" },
                        c.status,
                        c.measured.as_deref().unwrap_or(""),
                        c.expected.as_deref().unwrap_or(""),
                        c.duration_ms,
                        c.reason.replace('|', "\\|")
                    );
                }
            }
        }
    }
    let metrics: Vec<&Record> = recs
        .iter()
        .filter(|r| matches!(r.event, Event::PhaseMetrics { .. }))
        .collect();
    if !metrics.is_empty() {
        let _ = writeln!(md, "\n## Metrics per phase\n");
        let _ = writeln!(md, "| phase | revision | req/s | 5xx % | p95 ms |");
        let _ = writeln!(md, "|---|---|---|---|---|");
        for r in metrics {
            if let Event::PhaseMetrics { phase, revisions } = &r.event {
                for m in revisions {
                    let _ = writeln!(
                        md,
                        "| {phase} | {} | {} | {} | {} |",
                        m.revision,
                        fmt_opt(m.rps, ""),
                        fmt_opt(m.error_percent, ""),
                        fmt_opt(m.p95_ms, "")
                    );
                }
            }
        }
    }
    let judged: Vec<(&Record, &crate::core::judge::Evidence)> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Judge { evidence } => Some((r, evidence.as_ref())),
            _ => None,
        })
        .collect();
    if !judged.is_empty() {
        let _ = writeln!(md, "\n## Statistical judge (canary vs stable)\n");
        let _ = writeln!(md, "{}", crate::core::judge::text::REPORT_HEAD);
        for (r, ev) in judged {
            let _ = writeln!(
                md,
                "| {} {}",
                r.at.format("%H:%M:%S"),
                crate::core::judge::text::report_row(ev)
            );
        }
    }
    let observed: Vec<(&Record, &crate::core::record::GatesObserved)> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::GatesObserved(g) => Some((r, g)),
            _ => None,
        })
        .collect();
    if !observed.is_empty() {
        let _ = writeln!(md, "\n## Fixed thresholds (observe only: never acted on)\n");
        for (r, g) in observed {
            let _ = writeln!(md, "- {} {}", r.at.format("%H:%M:%S"), g.text());
        }
    }
    if !replay.skipped.is_empty() {
        let _ = writeln!(md, "\n## Journal damage\n");
        for (line, why) in &replay.skipped {
            let _ = writeln!(md, "- line {line}: {why}");
        }
    }
    md
}
