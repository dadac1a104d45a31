//! The log tail: ingestion into the ring and paging through it.

use crate::core::action::Effect;
use crate::core::model::LogEntry;
use crate::core::state::{Level, State};

/// Lines moved by one PageUp / PageDown in the log tail.
pub const LOG_PAGE: usize = 10;

pub(super) fn on_logs(state: &mut State, entries: Vec<LogEntry>) {
    state.logs_health.ok(state.now);
    // In time order: late entries (Cloud Logging's overlap window, the
    // history read when the tail is narrowed to a revision) slot in.
    state.logs.extend_sorted(entries, |x| x.timestamp);
    // A paused view whose anchor fell out of the ring sticks to the oldest line.
    if let Some(a) = state.log_view.anchor {
        if a < state.first_log_seq() {
            state.log_view.anchor = Some(state.first_log_seq());
        }
    }
}

/// `l`: the selected revision's entries only, or all revisions again.
pub(super) fn toggle_focus(state: &mut State, fx: &mut Vec<Effect>) {
    let next = match state.log_view.revision {
        Some(_) => None,
        None => match state.selected.clone() {
            Some(r) => Some(r),
            None => {
                super::say(state, Level::Warn, "select a revision to focus the logs on");
                return;
            }
        },
    };
    set_focus(state, next, fx);
}

/// A focused tail follows the selection.
pub(super) fn follow_selection(state: &mut State, fx: &mut Vec<Effect>) {
    if state.log_view.revision.is_some() && state.log_view.revision != state.selected {
        set_focus(state, state.selected.clone(), fx);
    }
}

fn set_focus(state: &mut State, revision: Option<String>, fx: &mut Vec<Effect>) {
    state.log_view.revision = revision.clone();
    // The view changed under a paused tail: back to the newest lines.
    state.log_view.follow = true;
    state.log_view.anchor = None;
    fx.push(Effect::FocusLogs(revision));
}

pub(super) fn toggle_follow(state: &mut State) {
    state.log_view.follow = !state.log_view.follow;
    state.log_view.anchor = if state.log_view.follow {
        None
    } else {
        state.end_log_seq().checked_sub(1)
    };
}

/// Moves the paused view by `lines` matching entries (negative = up).
pub(super) fn scroll_logs(state: &mut State, lines: i64) {
    let end = state.end_log_seq();
    if end == 0 {
        return;
    }
    let first = state.first_log_seq();
    let current = state
        .log_view
        .anchor
        .unwrap_or(end - 1)
        .clamp(first, end - 1);
    let matches = |seq: u64| {
        state
            .logs
            .get((seq - first) as usize)
            .is_some_and(|e| state.log_view.matches(e))
    };
    // Start from the bottom line actually shown: the last match at or above.
    let mut pos = current;
    while pos > first && !matches(pos) {
        pos -= 1;
    }
    let mut moved = 0;
    while moved < lines.unsigned_abs() {
        let next = if lines < 0 {
            if pos == first {
                break;
            }
            pos - 1
        } else {
            if pos + 1 >= end {
                break;
            }
            pos + 1
        };
        pos = next;
        if matches(pos) {
            moved += 1;
        }
    }
    if lines > 0 && !(pos + 1..end).any(matches) {
        state.log_view.follow = true;
        state.log_view.anchor = None;
    } else {
        state.log_view.follow = false;
        state.log_view.anchor = Some(pos);
    }
}
