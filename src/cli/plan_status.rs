//! The plan as the journal tells it (every transition is journaled): for
//! `canary status` (its `plan`) and `canary wait`, which polls it.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::plan::{Phase, PlanSpec};
use crate::core::record::{Event, Who};
use crate::journal::Replay;

/// The latest plan of the journal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanStatus {
    pub canary: String,
    pub stable: String,
    /// `applying`, `observing`, `waiting-approval`, `paused`, `promoted`,
    /// `rolling-back`, `rolled-back`, `failed` (`idle` before its first step).
    pub phase: String,
    /// `observing step 1`, `paused at step 2`, …
    pub label: String,
    /// 1-based, while it has one.
    pub step: Option<usize>,
    /// The step's percent for the canary.
    pub percent: Option<u8>,
    /// Why it is paused, rolled back or failed; else the last transition's why.
    pub why: Option<String>,
    pub finished: bool,
    pub spec: PlanSpec,
    pub started: DateTime<Utc>,
    /// The last transition.
    pub updated: DateTime<Utc>,
    /// Who started it.
    pub driver: Who,
}

/// The phase's tag as the journal writes it (`observing`, `rolled-back`).
fn tag(p: &Phase) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v["phase"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The latest plan the journal holds, with its last phase.
pub fn last_plan(replay: &Replay) -> Option<PlanStatus> {
    let mut current: Option<(PlanStatus, Phase)> = None;
    for r in &replay.records {
        match &r.event {
            Event::PlanStarted {
                canary,
                stable,
                spec,
                ..
            } => {
                current = Some((
                    PlanStatus {
                        canary: canary.clone(),
                        stable: stable.clone(),
                        phase: "idle".into(),
                        label: Phase::Idle.label(),
                        step: None,
                        percent: None,
                        why: None,
                        finished: false,
                        spec: spec.clone(),
                        started: r.at,
                        updated: r.at,
                        driver: r.who.clone(),
                    },
                    Phase::Idle,
                ))
            }
            Event::PlanTransition { to, why, .. } => {
                if let Some((s, phase)) = current.as_mut() {
                    *phase = to.clone();
                    s.updated = r.at;
                    s.why = Some(match to {
                        Phase::Paused { reason, .. }
                        | Phase::RollingBack { reason }
                        | Phase::RolledBack { reason }
                        | Phase::Failed { reason } => reason.clone(),
                        _ => why.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    current.map(|(mut s, phase)| {
        s.phase = tag(&phase);
        s.label = phase.label();
        s.step = phase.step().map(|x| x + 1);
        s.percent = match &phase {
            Phase::Promoted => Some(100),
            p => p
                .step()
                .and_then(|x| s.spec.steps.get(x))
                .map(|st| st.percent),
        };
        s.finished = phase.is_finished();
        s
    })
}

/// What `canary wait --until` waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Until {
    /// The plan is at step N (1-based) or beyond, or promoted.
    Step(usize),
    Paused,
    Promoted,
    RolledBack,
    /// Finished: promoted, rolled back or failed.
    Done,
}

impl Until {
    pub fn parse(s: &str) -> Result<Until, String> {
        Ok(match s.trim() {
            "paused" => Until::Paused,
            "promoted" => Until::Promoted,
            "rolled-back" => Until::RolledBack,
            "done" => Until::Done,
            other => match other.strip_prefix("step=").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => Until::Step(n),
                _ => {
                    return Err(format!(
                        "--until {other:?}: expected step=N (N ≥ 1), paused, promoted, rolled-back or done"
                    ))
                }
            },
        })
    }

    /// Whether `plan` is there.
    pub fn reached(&self, plan: &PlanStatus) -> bool {
        match self {
            Until::Step(n) => plan.phase == "promoted" || plan.step.is_some_and(|s| s >= *n),
            Until::Paused => plan.phase == "paused",
            Until::Promoted => plan.phase == "promoted",
            Until::RolledBack => plan.phase == "rolled-back",
            Until::Done => plan.finished,
        }
    }
}

/// The exit code of a plan that ended: 0 promoted, 3 rolled back, 1 failed.
pub fn outcome_code(plan: &PlanStatus) -> u8 {
    match plan.phase.as_str() {
        "promoted" => 0,
        "rolled-back" => 3,
        _ => 1,
    }
}

/// Polls the journal until its latest plan is where `until` says, or
/// `timeout` runs out. Exit code: 0 there (`done`: the outcome's code: 0
/// promoted, 3 rolled back, 1 failed); when the plan ended elsewhere, 3 if
/// it rolled back, else 1; 4 at the timeout (still waiting).
pub fn wait(
    journal: &Path,
    until: &Until,
    timeout: Duration,
    poll: Duration,
) -> (u8, Option<PlanStatus>) {
    let end = std::time::Instant::now() + timeout;
    // The journal only grows: read again only once it has (a long journal
    // is not parsed twice a second for hours while nothing happens).
    let stamp = || {
        std::fs::metadata(journal)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut read_at = None;
    let mut plan = None;
    loop {
        let now_at = stamp();
        if read_at.is_none() || now_at != read_at {
            if let Ok(replay) = crate::journal::replay(journal) {
                read_at = now_at;
                plan = last_plan(&replay);
            }
        }
        if let Some(p) = &plan {
            if until.reached(p) {
                let code = if *until == Until::Done {
                    outcome_code(p)
                } else {
                    0
                };
                return (code, plan);
            }
            if p.finished {
                // It will not get there: 3 when it rolled back, else 1.
                let code = if p.phase == "rolled-back" { 3 } else { 1 };
                return (code, plan);
            }
        }
        if std::time::Instant::now() >= end {
            return (4, plan);
        }
        std::thread::sleep(poll);
    }
}
