//! On start (the screen and every script alike): a traffic change that a
//! crash left without an outcome record is reconciled against the platform,
//! and a `traffic-reconciled` record says what is true.

use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, TrafficSplit};
use crate::journal::{Event, Outcome, Replay};
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
/// outcome (none: no read at all), and one line each for people.
pub async fn reconcile(platform: &dyn Platform, replay: &Replay) -> Vec<(Event, String)> {
    let open = replay.unresolved();
    if open.is_empty() {
        return Vec::new();
    }
    let read = platform.snapshot().await;
    open.into_iter()
        .map(|(id, kind, before, after)| {
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
        })
        .collect()
}
