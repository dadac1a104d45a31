//! `update(state, action, now) -> effects`: the only place state changes.
//! Pure: no I/O, no clock (time comes in as `now`).

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use tui_textarea::TextArea;

use super::action::{Action, ChangeKind, Effect};
use super::error::BackendError;
use super::keymap::Command;
use super::model::{LogEntry, ServiceSnapshot, TrafficSplit};
use super::state::{
    Confirmation, Input, InputKind, Level, Message, Mode, PendingChange, QueuedChange, State,
};
use super::traffic;

/// Lines moved by one PageUp / PageDown in the log tail.
pub const LOG_PAGE: usize = 10;

/// Applies one action and returns the work to do. Returns whether the screen
/// needs a redraw through `State`'s content; the runtime redraws after every
/// action that is not ignored (see [`needs_redraw`]).
pub fn update(state: &mut State, action: Action, now: DateTime<Utc>) -> Vec<Effect> {
    state.now = now;
    let mut fx = Vec::new();
    match action {
        Action::Tick | Action::Resize => {}
        Action::Key(key) => on_key(state, key, &mut fx),
        Action::Paste(text) => on_paste(state, &text),
        Action::ServiceLoaded {
            snapshot,
            requested_at,
        } => {
            if state.snapshot_watermark.is_some_and(|w| requested_at < w) {
                return fx; // older than a change we already saw land
            }
            state.service_health.ok(now);
            load_snapshot(state, snapshot, &mut fx);
            if let Some(c) = state.conflicted.take() {
                reask_after_conflict(state, c);
            }
        }
        Action::ServiceFailed(err) => state.service_health.failed(err.to_string(), now),
        Action::TrafficApplied { id, snapshot } => on_applied(state, id, snapshot, &mut fx),
        Action::TrafficFailed { id, error } => on_failed(state, id, error, &mut fx),
        Action::LogBatch(entries) => on_logs(state, entries),
        Action::LogsFailed(err) => state.logs_health.failed(err.to_string(), now),
        Action::MetricsLoaded(batch) => {
            state.metrics = batch;
            state.metrics_health.ok(now);
        }
        Action::MetricsFailed(err) => state.metrics_health.failed(err.to_string(), now),
        Action::Terminate(why) => {
            state.quit = true;
            say(state, Level::Warn, format!("{why}: leaving"));
            fx.push(Effect::Quit);
        }
    }
    fx
}

/// Whether an action can change what is on screen. Ticks only matter once a
/// second (ages), which is the tick rate.
pub fn needs_redraw(action: &Action) -> bool {
    !matches!(action, Action::Key(k) if k.kind == KeyEventKind::Release)
}

fn say(state: &mut State, level: Level, text: impl Into<String>) {
    state.message = Some(Message {
        level,
        text: text.into(),
        at: state.now,
    });
}

// ---------------------------------------------------------------- keys

fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    match &state.mode {
        Mode::Normal => {
            if let Some(cmd) = state.settings.keymap.normal(&key) {
                command(state, cmd, fx);
            }
        }
        Mode::Help => {
            let km = &state.settings.keymap;
            let cmd = km.normal(&key).or_else(|| km.confirm(&key));
            if matches!(cmd, Some(Command::Help | Command::Cancel | Command::Quit))
                || key.code == KeyCode::Esc
            {
                state.mode = Mode::Normal;
            }
        }
        Mode::Confirm(_) => match state.settings.keymap.confirm(&key) {
            Some(Command::Confirm) => {
                if let Mode::Confirm(c) = std::mem::replace(&mut state.mode, Mode::Normal) {
                    confirmed(state, c, fx);
                }
            }
            Some(_) => {
                state.mode = Mode::Normal;
                say(state, Level::Info, "cancelled: nothing was changed");
            }
            None => {
                let km = &state.settings.keymap;
                let hint = format!(
                    "press {} to confirm or {} to cancel",
                    km.label(Command::Confirm),
                    km.label(Command::Cancel)
                );
                say(state, Level::Warn, hint);
            }
        },
        Mode::Input(_) => on_input_key(state, key, fx),
    }
}

fn command(state: &mut State, cmd: Command, fx: &mut Vec<Effect>) {
    if cmd != Command::Quit {
        state.quit_armed = false;
    }
    if cmd.writes() && state.settings.read_only {
        say(
            state,
            Level::Warn,
            format!(
                "read-only mode (--read-only): `{}` would change traffic, so it is disabled",
                cmd.name()
            ),
        );
        return;
    }
    match cmd {
        Command::SelectNext => move_selection(state, 1),
        Command::SelectPrev => move_selection(state, -1),
        Command::ShiftUp => shift(state, i32::from(state.settings.step), fx),
        Command::ShiftDown => shift(state, -i32::from(state.settings.step), fx),
        Command::SetSplit => {
            if state.snapshot.is_none() {
                say(state, Level::Warn, "the service has not been read yet");
                return;
            }
            let mut ta = TextArea::default();
            ta.set_placeholder_text(format!("e.g. {}=25", state.settings.canary_tag));
            state.mode = Mode::Input(Box::new(Input {
                kind: InputKind::SetSplit,
                textarea: ta,
                feedback: None,
                previous: String::new(),
            }));
        }
        Command::Promote => {
            let Some(rev) = state.selected.clone() else {
                say(state, Level::Warn, "select a revision to promote");
                return;
            };
            request_change(state, TrafficSplit::all_to(rev), ChangeKind::Promote, fx);
        }
        Command::Rollback => {
            let Some(stable) = state.stable.clone() else {
                say(state, Level::Warn, "no stable revision known yet");
                return;
            };
            request_change(
                state,
                TrafficSplit::all_to(stable),
                ChangeKind::Rollback,
                fx,
            );
        }
        Command::Refresh => {
            fx.push(Effect::RefreshService);
            say(state, Level::Info, "refreshing");
        }
        Command::FilterLogs => {
            let previous = state.log_view.filter.clone();
            let mut ta = TextArea::new(vec![previous.clone()]);
            ta.move_cursor(tui_textarea::CursorMove::End);
            ta.set_placeholder_text("text to match in message or revision");
            state.mode = Mode::Input(Box::new(Input {
                kind: InputKind::Filter,
                textarea: ta,
                feedback: None,
                previous,
            }));
        }
        Command::ToggleFollow => {
            state.log_view.follow = !state.log_view.follow;
            state.log_view.anchor = if state.log_view.follow {
                None
            } else {
                state.end_log_seq().checked_sub(1)
            };
        }
        Command::CycleSeverity => {
            state.log_view.min_severity = state.log_view.min_severity.cycle_min();
        }
        Command::ScrollLogsUp => scroll_logs(state, -(LOG_PAGE as i64)),
        Command::ScrollLogsDown => scroll_logs(state, LOG_PAGE as i64),
        Command::Help => state.mode = Mode::Help,
        Command::Quit => {
            if state.change.is_some() && !state.quit_armed {
                state.quit_armed = true;
                say(
                    state,
                    Level::Warn,
                    "a traffic change is still being applied: press q again to quit anyway",
                );
            } else {
                state.quit = true;
                fx.push(Effect::Quit);
            }
        }
        Command::Confirm | Command::Cancel => {}
    }
}

fn move_selection(state: &mut State, delta: i64) {
    let n = state.revisions().len();
    if n == 0 {
        return;
    }
    let cur = state.selected_index().unwrap_or(0) as i64;
    let next = (cur + delta).clamp(0, n as i64 - 1) as usize;
    state.selected = Some(state.revisions()[next].name.clone());
}

fn shift(state: &mut State, delta: i32, fx: &mut Vec<Effect>) {
    let (Some(sel), Some(stable), Some(basis)) = (
        state.selected.clone(),
        state.stable.clone(),
        state.desired().cloned(),
    ) else {
        say(state, Level::Warn, "the service has not been read yet");
        return;
    };
    match traffic::shift(&basis, &sel, &stable, delta) {
        Ok(split) => request_change(state, split, ChangeKind::Shift, fx),
        Err(e) => say(state, Level::Warn, e),
    }
}

/// Guardrails, then confirmation when needed, then submission.
fn request_change(state: &mut State, split: TrafficSplit, kind: ChangeKind, fx: &mut Vec<Effect>) {
    let (Some(snapshot), Some(basis)) = (state.snapshot.as_ref(), state.desired()) else {
        say(state, Level::Warn, "the service has not been read yet");
        return;
    };
    let basis = basis.clone();
    if split == basis {
        let what = match kind {
            ChangeKind::Rollback => {
                "already rolled back: the stable revision has 100 %".to_string()
            }
            _ => format!("nothing to change: the split is already {split}"),
        };
        say(state, Level::Info, what);
        return;
    }
    if let Err(e) = traffic::check_ready(snapshot, &basis, &split) {
        say(state, Level::Error, format!("refused: {e}"));
        return;
    }
    let jump = traffic::largest_move(&basis, &split);
    let large = jump > state.settings.max_step;
    if matches!(kind, ChangeKind::Promote | ChangeKind::Rollback) || large {
        let note = large.then(|| {
            format!(
                "a jump of {jump} points, more than max_step = {}",
                state.settings.max_step
            )
        });
        state.mode = Mode::Confirm(Confirmation {
            kind,
            preview: (state.previewer.0)(&split),
            before: basis,
            after: split,
            expect: snapshot.version.clone(),
            note,
        });
        return;
    }
    submit(state, split, kind, fx);
}

fn confirmed(state: &mut State, c: Confirmation, fx: &mut Vec<Effect>) {
    // Re-check against the latest read: the world may have moved while the
    // operator was deciding.
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    if let Err(e) = traffic::check_ready(snapshot, &c.before, &c.after) {
        say(state, Level::Error, format!("refused: {e}"));
        return;
    }
    if snapshot.version != c.expect && state.change.is_none() {
        // Someone else changed the service meanwhile: show it and ask again.
        reask_after_conflict(
            state,
            QueuedChange {
                kind: c.kind,
                split: c.after,
            },
        );
        return;
    }
    submit(state, c.after, c.kind, fx);
}

fn submit(state: &mut State, split: TrafficSplit, kind: ChangeKind, fx: &mut Vec<Effect>) {
    if state.change.is_some() {
        say(
            state,
            Level::Info,
            format!(
                "{} queued ({split}): sent when the change in flight lands",
                kind.verb()
            ),
        );
        state.queued = Some(QueuedChange { kind, split });
        return;
    }
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    let id = state.next_change_id;
    state.next_change_id += 1;
    fx.push(Effect::SetTraffic {
        id,
        split: split.clone(),
        expect: snapshot.version.clone(),
        kind,
    });
    let before = snapshot.traffic.clone();
    say(
        state,
        Level::Info,
        format!("{}: applying {split}…", kind.verb()),
    );
    state.change = Some(PendingChange {
        id,
        kind,
        before,
        split,
        started: state.now,
    });
}

fn reask_after_conflict(state: &mut State, c: QueuedChange) {
    let Some(snapshot) = state.snapshot.as_ref() else {
        state.conflicted = Some(c);
        return;
    };
    if snapshot.traffic == c.split {
        say(
            state,
            Level::Info,
            "someone else already set this split; nothing to do",
        );
        return;
    }
    state.mode = Mode::Confirm(Confirmation {
        kind: c.kind,
        before: snapshot.traffic.clone(),
        preview: (state.previewer.0)(&c.split),
        after: c.split,
        expect: snapshot.version.clone(),
        note: Some(format!(
            "someone else changed the service: it is now {}; apply yours anyway?",
            snapshot.traffic
        )),
    });
}

// ---------------------------------------------------------------- input boxes

fn on_input_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Input(input) = &mut state.mode else {
        return;
    };
    match key.code {
        KeyCode::Esc => {
            if input.kind == InputKind::Filter {
                state.log_view.filter = input.previous.clone();
            }
            state.mode = Mode::Normal;
        }
        KeyCode::Enter => {
            let text = input.textarea.lines().join(" ").trim().to_string();
            match input.kind {
                InputKind::Filter => {
                    state.log_view.filter = text;
                    state.mode = Mode::Normal;
                }
                InputKind::SetSplit => match parse_split(state, &text) {
                    Ok(split) => {
                        state.mode = Mode::Normal;
                        request_change(state, split, ChangeKind::Set, fx);
                    }
                    Err(e) => {
                        if let Mode::Input(input) = &mut state.mode {
                            input.feedback = Some(Err(e));
                        }
                    }
                },
            }
        }
        _ => {
            input.textarea.input(key);
            after_edit(state);
        }
    }
}

fn on_paste(state: &mut State, text: &str) {
    if let Mode::Input(input) = &mut state.mode {
        // One-line boxes: newlines become spaces.
        input.textarea.insert_str(text.replace(['\r', '\n'], " "));
        after_edit(state);
    }
}

fn after_edit(state: &mut State) {
    let Mode::Input(input) = &state.mode else {
        return;
    };
    let text = input.textarea.lines().join(" ");
    match input.kind {
        InputKind::Filter => state.log_view.filter = text.trim().to_string(),
        InputKind::SetSplit => {
            let fb = (!text.trim().is_empty()).then(|| parse_split(state, text.trim()));
            if let Mode::Input(input) = &mut state.mode {
                input.feedback = fb;
            }
        }
    }
}

fn parse_split(state: &State, text: &str) -> Result<TrafficSplit, String> {
    let (Some(snapshot), Some(basis), Some(stable)) = (
        state.snapshot.as_ref(),
        state.desired(),
        state.stable.as_deref(),
    ) else {
        return Err("the service has not been read yet".into());
    };
    let split = traffic::parse_assignment(text, snapshot, basis, stable)?;
    traffic::check_ready(snapshot, basis, &split)?;
    Ok(split)
}

// ---------------------------------------------------------------- results

fn load_snapshot(state: &mut State, snapshot: ServiceSnapshot, fx: &mut Vec<Effect>) {
    let names = |s: &ServiceSnapshot| {
        s.revisions
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    };
    let changed = state.snapshot.as_ref().map(names) != Some(names(&snapshot));
    if changed {
        fx.push(Effect::WatchRevisions(names(&snapshot)));
    }
    // Stable: pinned, else the revision that serves 100 %, else the one that
    // served the most when we first saw the service.
    let pinned = state
        .settings
        .stable_pin
        .as_deref()
        .and_then(|p| snapshot.resolve(p))
        .map(|r| r.name.clone());
    let all_to_one = (snapshot.traffic.entries().len() == 1)
        .then(|| snapshot.traffic.largest().map(str::to_string))
        .flatten();
    let still_there = state
        .stable
        .as_deref()
        .is_some_and(|s| snapshot.revision(s).is_some());
    state.stable = pinned.or(all_to_one).or_else(|| {
        if still_there {
            state.stable.clone()
        } else {
            snapshot.traffic.largest().map(str::to_string)
        }
    });
    let sel_ok = state
        .selected
        .as_deref()
        .is_some_and(|s| snapshot.revision(s).is_some());
    if !sel_ok {
        let tag = state.settings.canary_tag.as_str();
        state.selected = snapshot
            .revisions
            .iter()
            .find(|r| r.tag.as_deref() == Some(tag))
            .or_else(|| {
                snapshot
                    .revisions
                    .iter()
                    .find(|r| Some(r.name.as_str()) != state.stable.as_deref())
            })
            .or(snapshot.revisions.first())
            .map(|r| r.name.clone());
    }
    state.snapshot = Some(snapshot);
}

fn on_applied(state: &mut State, id: u64, snapshot: ServiceSnapshot, fx: &mut Vec<Effect>) {
    let Some(change) = state.change.take_if(|c| c.id == id) else {
        return;
    };
    let now = state.now;
    state.snapshot_watermark = Some(now);
    state.service_health.ok(now);
    load_snapshot(state, snapshot, fx);
    let took = (now - change.started).num_milliseconds();
    say(
        state,
        Level::Info,
        format!("{} done in {took} ms: {}", change.kind.verb(), change.split),
    );
    if let Some(q) = state.queued.take() {
        let basis = state.snapshot.as_ref().map(|s| s.traffic.clone());
        if basis.as_ref() == Some(&q.split) {
            return;
        }
        if let (Some(s), Some(b)) = (state.snapshot.as_ref(), basis) {
            match traffic::check_ready(s, &b, &q.split) {
                Ok(()) => submit(state, q.split, q.kind, fx),
                Err(e) => say(state, Level::Error, format!("queued change dropped: {e}")),
            }
        }
    }
}

fn on_failed(state: &mut State, id: u64, error: BackendError, fx: &mut Vec<Effect>) {
    let Some(change) = state.change.take_if(|c| c.id == id) else {
        return;
    };
    let dropped = state.queued.take();
    fx.push(Effect::RefreshService);
    if let BackendError::Conflict(_) = error {
        // Re-read, then show what changed and ask again.
        state.conflicted = Some(QueuedChange {
            kind: change.kind,
            split: dropped.map_or(change.split, |q| q.split),
        });
        say(
            state,
            Level::Warn,
            "someone else changed the service: re-reading it before asking you again",
        );
        return;
    }
    let tail = if dropped.is_some() {
        " (the queued change was dropped too)"
    } else {
        ""
    };
    say(
        state,
        Level::Error,
        format!(
            "{} failed: {error}{tail}; the split stays as the platform reports it",
            change.kind.verb()
        ),
    );
}

fn on_logs(state: &mut State, entries: Vec<LogEntry>) {
    if entries.is_empty() {
        state.logs_health.ok(state.now);
        return;
    }
    for e in entries {
        state.logs.push(e);
    }
    state.logs_health.ok(state.now);
    // A paused view whose anchor fell out of the ring sticks to the oldest line.
    if let Some(a) = state.log_view.anchor {
        if a < state.first_log_seq() {
            state.log_view.anchor = Some(state.first_log_seq());
        }
    }
}

/// Moves the paused view by `lines` matching entries (negative = up).
fn scroll_logs(state: &mut State, lines: i64) {
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
    let idx = |seq: u64| (seq - first) as usize;
    let matches = |seq: u64| {
        state
            .logs
            .get(idx(seq))
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
