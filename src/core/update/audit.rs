//! What the screen does for the audit trail around traffic changes: no
//! change without its journal (a rollback aside), the journal's health, the
//! progress of a change in flight (retries, unclear answers resolved), the
//! reconciliation after a crash, and telling the team of changes by hand.

use super::{plan, say};
use crate::core::action::{ChangeKind, Effect};
use crate::core::error::Progress;
use crate::core::state::{Level, PendingChange, State};

/// The team hears of every rollback, promotion and set split made by hand
/// (a plan's own changes are told by its transitions).
pub(super) fn notify_manual(
    state: &State,
    change: &PendingChange,
    what: &str,
    fx: &mut Vec<Effect>,
) {
    if !matches!(
        change.kind,
        ChangeKind::Rollback | ChangeKind::Promote | ChangeKind::Set
    ) || plan::plan_active(state)
    {
        return;
    }
    fx.push(Effect::Notify(manual_notification(
        &state.info.service,
        &change.kind.verb(),
        what,
        &change.before.to_flag(),
        &change.split.to_flag(),
        change.reason.as_deref(),
    )));
}

/// The text the team gets for a change made by hand (screen or script).
pub fn manual_notification(
    service: &str,
    verb: &str,
    what: &str,
    before: &str,
    after: &str,
    reason: Option<&str>,
) -> String {
    format!(
        "{service}: {verb} {what} by hand — {before} → {after}{}",
        reason.map(|r| format!(" — “{r}”")).unwrap_or_default()
    )
}

/// No change goes out that the journal cannot record, except a rollback
/// (safety before audit: it goes out, said loudly, its record kept in memory).
pub(super) fn refused_without_journal(state: &mut State, kind: ChangeKind) -> bool {
    let Some(why) = state.journal_broken.clone() else {
        return false;
    };
    if kind == ChangeKind::Rollback {
        say(
            state,
            Level::Error,
            format!(
                "the audit journal cannot be written ({why}): the rollback goes out anyway; \
                 its record is kept in memory until the journal is writable"
            ),
        );
        return false;
    }
    say(
        state,
        Level::Error,
        format!(
            "refused: the audit journal cannot be written ({why}); only a rollback goes out \
             without it"
        ),
    );
    true
}

/// The journal broke, or is writable again.
pub(super) fn journal_health(state: &mut State, health: Option<String>) {
    match health {
        Some(why) => {
            state.journal_error = Some(format!("AUDIT JOURNAL WRITE FAILED: {why}"));
            state.journal_broken = Some(why);
        }
        None if state.journal_broken.is_some() => {
            state.journal_broken = None;
            if state
                .journal_error
                .as_deref()
                .is_some_and(|e| e.starts_with("AUDIT JOURNAL WRITE FAILED"))
            {
                state.journal_error = None;
            }
            say(
                state,
                Level::Info,
                "the audit journal is writable again: the records kept meanwhile were appended",
            );
        }
        None => {}
    }
}

/// A call is being tried again, or an unclear answer was resolved: the
/// change in flight says so.
pub(super) fn on_progress(state: &mut State, p: &Progress) {
    if let Progress::Retrying(r) = p {
        if r.call.starts_with("reading") {
            // A read being retried shows on the service's health at once,
            // naming the call (the data's age keeps counting meanwhile).
            let now = state.now;
            state.service_health.failed(r.to_string(), now);
        }
    }
    let Some(change) = state.change.as_ref() else {
        return;
    };
    let text = match p {
        Progress::Retrying(r) => format!(
            "{} {} in flight, retrying ({}/{}) in {}: {}",
            change.kind.verb(),
            change.split,
            r.attempt,
            r.of,
            crate::core::duration::human(r.wait),
            r.why
        ),
        Progress::ReadBack {
            answer, outcome, ..
        } => format!(
            "{} {}: the answer was unclear ({answer}); the service read again shows it {outcome}",
            change.kind.verb(),
            change.split
        ),
    };
    say(state, Level::Warn, text);
}

/// Changes a crash interrupted, reconciled on start: said once.
pub(super) fn on_reconciled(state: &mut State, lines: Vec<String>) {
    if lines.is_empty() {
        return;
    }
    say(
        state,
        Level::Warn,
        format!(
            "interrupted change(s) reconciled with the platform: {}",
            lines.join("; ")
        ),
    );
}
