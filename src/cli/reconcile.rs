//! On start (the screen and every script alike): a traffic change that a
//! crash left without an outcome record is reconciled against the platform,
//! and a `traffic-reconciled` record says what is true.

use std::path::Path;

use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, TrafficSplit};
use crate::journal::{self, Event, Journal, Outcome, Record, Replay, Unresolved, Who};
use crate::platform::Platform;

/// What the platform's split says of a change from `before` to `after`.
pub fn decide(
    before: &TrafficSplit,
    after: &TrafficSplit,
    read: &Result<ServiceSnapshot, BackendError>,
) -> (Outcome, Option<TrafficSplit>, String) {
    match read {
        Ok(s) if &s.traffic == after => (
            Outcome::Applied,
            Some(s.traffic.clone()),
            "interrupted (no outcome was recorded); the platform serves the split asked for".into(),
        ),
        Ok(s) if &s.traffic == before => (
            Outcome::NotApplied,
            Some(s.traffic.clone()),
            "interrupted (no outcome was recorded); the platform still serves the split before"
                .into(),
        ),
        Ok(s) => (
            Outcome::Unknown,
            Some(s.traffic.clone()),
            format!(
                "interrupted (no outcome was recorded); the platform serves {}, neither the \
                 split before nor the one asked for",
                s.traffic
            ),
        ),
        Err(e) => (
            Outcome::Unknown,
            None,
            format!("interrupted (no outcome was recorded); the platform could not be read: {e}"),
        ),
    }
}

/// The `traffic-reconciled` records for every change of `replay` without an
/// outcome (none: no read at all), and one line each for people. A change
/// still in flight in another running canary is left to it.
pub async fn reconcile(platform: &dyn Platform, replay: &Replay) -> Vec<(Event, String)> {
    let open: Vec<_> = replay
        .unresolved()
        .into_iter()
        .filter(|u| !u.in_flight_elsewhere())
        .collect();
    if open.is_empty() {
        return Vec::new();
    }
    let read = platform.snapshot().await;
    open.into_iter()
        .map(
            |Unresolved {
                 id,
                 kind,
                 before,
                 after,
                 ..
             }| {
                let (outcome, read_back, why) = decide(&before, &after, &read);
                let line = format!(
                    "{kind} {} → {}: {}{}",
                    before,
                    after,
                    outcome.label(),
                    read_back
                        .as_ref()
                        .map(|s| format!(" (the platform serves {s})"))
                        .unwrap_or_else(|| format!(" ({why})"))
                );
                (
                    Event::TrafficReconciled {
                        id,
                        kind,
                        before,
                        after,
                        outcome,
                        read_back,
                        why,
                    },
                    line,
                )
            },
        )
        .collect()
}

/// A script's start: reconciles the journal at `path` (appending through
/// `journal` when it is open already), and returns one line per change for
/// stderr. `Err` when a record cannot be written: the script must not go on.
pub async fn on_start(
    platform: &dyn Platform,
    path: &Path,
    journal: Option<&mut Journal>,
    who: &Who,
    service: &str,
) -> Result<Vec<String>, String> {
    let Ok(replay) = journal::replay(path) else {
        return Ok(Vec::new());
    };
    if replay.unresolved().is_empty() {
        return Ok(Vec::new());
    }
    let mut opened = None;
    let j = match journal {
        Some(j) => j,
        None => match Journal::open(path) {
            Ok(j) => opened.insert(j),
            Err(e) => {
                return Ok(vec![format!(
                    "the journal {} holds a change without an outcome, and cannot be written \
                     to reconcile it: {e}",
                    path.display()
                )])
            }
        },
    };
    let mut lines = Vec::new();
    for (event, line) in reconcile(platform, &replay).await {
        let record = Record {
            at: chrono::Utc::now(),
            who: who.clone(),
            service: service.to_string(),
            event,
        };
        j.append(&record).map_err(|e| {
            format!(
                "the audit journal {} cannot be written: {e}",
                path.display()
            )
        })?;
        lines.push(format!(
            "interrupted change reconciled with the platform: {line}"
        ));
    }
    Ok(lines)
}
