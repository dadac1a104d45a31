//! Keys, per mode: normal commands, confirmations, input boxes.

use tui_textarea::TextArea;

use super::{battery, changes, cmdline, logs, plan_keys, say};
use crate::core::action::{ChangeKind, ChangeNo, Effect};
use crate::core::key::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crate::core::keymap::{Command, Keymap};
use crate::core::model::TrafficSplit;
use crate::core::plan::Phase;
use crate::core::state::{editor_input, Input, InputKind, Level, Mode, PlanAction, State};
use crate::core::traffic;

pub(super) fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    if key.kind == KeyEventKind::Release {
        return;
    }
    match &state.mode {
        Mode::Normal => match state.settings.keymap.normal(&key) {
            Some(cmd) => command(state, cmd, fx),
            None => {
                if std::mem::take(&mut state.quit_plan_asked) {
                    say(state, Level::Info, "not quitting: the plan goes on");
                } else if let Some(name) = Keymap::key_name(&key) {
                    let help = state.settings.keymap.label(Command::Help);
                    say(
                        state,
                        Level::Info,
                        format!("{name} does nothing here ({help} lists the keys)"),
                    );
                }
            }
        },
        // In a view (details, history, help), the keys that must never be
        // more than two presses away still work: they close it and act.
        Mode::Journal(_) | Mode::Detail { .. } | Mode::Help { .. }
            if matches!(
                state.settings.keymap.normal(&key),
                Some(Command::Rollback | Command::Abort)
            ) && !matches!(&state.mode, Mode::Journal(v) if v.editing) =>
        {
            state.mode = Mode::Normal;
            if let Some(cmd) = state.settings.keymap.normal(&key) {
                command(state, cmd, fx);
            }
        }
        Mode::Journal(_) => super::history::on_key(state, key, fx),
        Mode::Detail { .. } => match scroll_delta(state, &key) {
            Some(delta) => {
                // The details: the description (a few dozen lines), four per check.
                let max = 80 + 4 * state.battery.as_ref().map_or(0, |b| b.rows.len()) as u16;
                if let Mode::Detail { scroll, .. } = &mut state.mode {
                    *scroll = scrolled(*scroll, delta, max);
                }
            }
            // Anything else closes the view (Esc, Enter, q, ?).
            None => state.mode = Mode::Normal,
        },
        Mode::Help { .. } => match scroll_delta(state, &key) {
            Some(delta) => {
                let max = state.settings.keymap.help_rows().len() as u16;
                if let Mode::Help { scroll } = &mut state.mode {
                    *scroll = scrolled(*scroll, delta, max);
                }
            }
            None => {
                let km = &state.settings.keymap;
                let cmd = km.normal(&key).or_else(|| km.confirm(&key));
                if matches!(cmd, Some(Command::Help | Command::Cancel | Command::Quit))
                    || key.code == KeyCode::Esc
                {
                    state.mode = Mode::Normal;
                }
            }
        },
        Mode::Confirm(c) => match state.settings.keymap.confirm(&key) {
            Some(Command::CopyCall) => {
                // The shell line only: several lines pasted into a shell
                // would run the first at once (the API request is in the log).
                let text = c.preview.first().cloned().unwrap_or_default();
                fx.push(Effect::Copy(text));
                say(
                    state,
                    Level::Info,
                    "exact call copied (to the terminal's clipboard where it allows OSC 52; \
                     also in the diagnostic log)",
                );
            }
            Some(Command::Confirm) if c.unprompted && key.code == KeyCode::Enter => {
                say(
                    state,
                    Level::Warn,
                    "this question opened by itself: press y to confirm (Enter does not)",
                );
            }
            Some(Command::Confirm) => {
                if let Mode::Confirm(c) = std::mem::replace(&mut state.mode, Mode::Normal) {
                    changes::confirmed(state, c, None, fx);
                }
            }
            Some(_) => {
                if let Mode::Confirm(c) = std::mem::replace(&mut state.mode, Mode::Normal) {
                    changes::cancelled(state, &c, fx);
                }
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
        Mode::Release(_) => super::deploy::on_confirm_key(state, key, fx),
    }
}

pub(super) fn command(state: &mut State, cmd: Command, fx: &mut Vec<Effect>) {
    if cmd != Command::Quit {
        state.quit_armed = false;
        if std::mem::take(&mut state.quit_plan_asked) {
            say(state, Level::Info, "not quitting: the plan goes on");
        }
    }
    if cmd.writes() && state.settings.read_only {
        say(
            state,
            Level::Warn,
            format!(
                "read-only mode (--read-only): {} changes {}, so it is disabled ({})",
                state.settings.keymap.label(cmd),
                if matches!(cmd, Command::Deploy | Command::DeleteRevision) {
                    "the service"
                } else {
                    "traffic"
                },
                cmd.describe()
            ),
        );
        return;
    }
    match cmd {
        Command::SelectNext => move_selection(state, 1, fx),
        Command::SelectPrev => move_selection(state, -1, fx),
        Command::SelectFirst => move_selection(state, i64::MIN / 2, fx),
        Command::SelectLast => move_selection(state, i64::MAX / 2, fx),
        Command::CommandLine => cmdline::open(state),
        Command::Journal => super::history::open(state, fx),
        Command::Details => match state.selected.clone() {
            Some(revision) => {
                state.mode = Mode::Detail {
                    revision,
                    scroll: 0,
                }
            }
            None => say(state, Level::Info, "no revision selected"),
        },
        Command::ClearFilter => {
            if state.log_view.filter.is_empty() {
                say(state, Level::Info, "no log filter to clear");
            } else {
                state.log_view.filter.clear();
                say(state, Level::Info, "log filter cleared");
            }
        }
        Command::ShiftUp => shift(state, i32::from(state.settings.step), fx),
        Command::ShiftDown => shift(state, -i32::from(state.settings.step), fx),
        Command::SetSplit => {
            if state.snapshot.is_none() {
                say(state, Level::Warn, "the service has not been read yet");
                return;
            }
            let mut ta = TextArea::default();
            ta.set_placeholder_text(format!("e.g. {}=25", state.settings.canary_tag));
            open_input(state, InputKind::SetSplit, ta, String::new());
        }
        Command::Promote => {
            let Some(rev) = state.selected.clone() else {
                say(state, Level::Warn, "select a revision to promote");
                return;
            };
            changes::request_change(state, TrafficSplit::all_to(rev), ChangeKind::Promote, fx);
        }
        Command::Rollback => {
            let Some(stable) = state.stable().map(str::to_string) else {
                say(state, Level::Warn, "no stable revision known yet");
                return;
            };
            changes::request_change(
                state,
                TrafficSplit::all_to(stable),
                ChangeKind::Rollback,
                fx,
            );
        }
        Command::Advance | Command::TogglePause | Command::Abort => {
            plan_keys::plan_key(state, cmd, fx)
        }
        Command::RunChecks => {
            match state.selected.clone() {
                Some(rev) => battery::start_battery(state, &rev, fx),
                None => say(state, Level::Warn, "select a revision to check"),
            };
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
            open_input(state, InputKind::Filter, ta, previous);
        }
        Command::ToggleFollow => logs::toggle_follow(state),
        Command::FocusLogs => logs::toggle_focus(state, fx),
        Command::CycleSeverity => {
            state.log_view.min_severity = state.log_view.min_severity.cycle_min();
        }
        Command::ScrollLogsUp => logs::scroll_logs(state, -(logs::LOG_PAGE as i64)),
        Command::ScrollLogsDown => logs::scroll_logs(state, logs::LOG_PAGE as i64),
        Command::Acknowledge => match state.alarm.take() {
            Some(a) => say(state, Level::Info, format!("acknowledged: {}", a.text)),
            None => say(state, Level::Info, "no alarm to acknowledge"),
        },
        Command::Deploy => super::deploy::open(state),
        Command::DeleteRevision => super::deploy::delete_selected(state),
        Command::Help => state.mode = Mode::Help { scroll: 0 },
        Command::Quit => {
            // A plan that drives (not one already paused) is paused first.
            if matches!(
                state.active_phase(),
                Some(
                    Phase::Observing { .. }
                        | Phase::WaitingApproval { .. }
                        | Phase::Applying { .. }
                )
            ) {
                if !state.quit_plan_asked {
                    state.quit_plan_asked = true;
                    let what = plan_keys::quit_consequence(state);
                    say(state, Level::Warn, what);
                    return;
                }
                plan_keys::pause_for_quit(state, fx);
            }
            if state.change.is_some() && !state.quit_armed {
                state.quit_armed = true;
                say(
                    state,
                    Level::Warn,
                    "a traffic change is still being applied: quitting when it lands (q again: quit now)",
                );
            } else {
                state.quit = true;
                fx.push(Effect::Quit);
            }
        }
        Command::Confirm | Command::Cancel | Command::CopyCall => {}
    }
}

/// j/k, PageUp/PageDown, g/G in a scrolling view; `None` for other keys.
fn scroll_delta(state: &State, key: &KeyEvent) -> Option<i32> {
    match (state.settings.keymap.normal(key), key.code) {
        (Some(Command::SelectNext), _) => Some(1),
        (Some(Command::SelectPrev), _) => Some(-1),
        (Some(Command::ScrollLogsDown), _) | (_, KeyCode::PageDown) => Some(10),
        (Some(Command::ScrollLogsUp), _) | (_, KeyCode::PageUp) => Some(-10),
        (Some(Command::SelectFirst), _) => Some(-10_000),
        (Some(Command::SelectLast), _) => Some(10_000),
        _ => None,
    }
}

/// Scroll positions stay within what a view can hold (a help list, a
/// revision's details: at most a few hundred lines), so that `k` after `G`
/// moves at once.
fn scrolled(scroll: u16, delta: i32, max: u16) -> u16 {
    (i32::from(scroll) + delta).clamp(0, i32::from(max)) as u16
}

pub(super) fn open_input(
    state: &mut State,
    kind: InputKind,
    textarea: TextArea<'static>,
    previous: String,
) {
    state.mode = Mode::Input(Box::new(Input {
        kind,
        textarea,
        feedback: None,
        hint: None,
        previous,
    }));
}

fn move_selection(state: &mut State, delta: i64, fx: &mut Vec<Effect>) {
    let n = state.revisions().len();
    if n == 0 {
        return;
    }
    let cur = state.selected_index().unwrap_or(0) as i64;
    let next = (cur + delta).clamp(0, n as i64 - 1) as usize;
    state.selected = Some(state.revisions()[next].name.clone());
    logs::follow_selection(state, fx);
}

fn shift(state: &mut State, delta: i32, fx: &mut Vec<Effect>) {
    let (Some(sel), Some(stable), Some(basis)) = (
        state.selected.clone(),
        state.stable().map(str::to_string),
        state.desired().cloned(),
    ) else {
        say(state, Level::Warn, "the service has not been read yet");
        return;
    };
    match traffic::shift(&basis, &sel, &stable, delta) {
        Ok(split) => changes::request_change(state, split, ChangeKind::Shift, fx),
        Err(e) => say(state, Level::Warn, e),
    }
}

fn on_input_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Input(input) = &mut state.mode else {
        return;
    };
    if key.code == KeyCode::Char('u') && key.modifiers.contains(KeyModifiers::CONTROL) {
        // Ctrl-U clears the line, as in a shell.
        input.textarea.select_all();
        input.textarea.cut();
        after_edit(state);
        return;
    }
    if key.code == KeyCode::Tab && input.kind == InputKind::Command {
        let line = input.textarea.lines().join(" ");
        let (text, hint) = cmdline::complete(state, &line);
        if let Mode::Input(input) = &mut state.mode {
            input.textarea = TextArea::new(vec![text]);
            input.textarea.move_cursor(tui_textarea::CursorMove::End);
        }
        after_edit(state);
        if let (Some(h), Mode::Input(input)) = (hint, &mut state.mode) {
            input.hint = Some(h);
            input.feedback = None;
        }
        return;
    }
    match key.code {
        KeyCode::Esc => {
            let Mode::Input(input) = std::mem::replace(&mut state.mode, Mode::Normal) else {
                return;
            };
            match input.kind {
                InputKind::Filter => state.log_view.filter = input.previous,
                InputKind::Reason { then, .. } => changes::cancelled(state, &then, fx),
                InputKind::Annotate { id, kind, .. } => say(
                    state,
                    Level::Info,
                    format!(
                        "{} {} goes on; no reason recorded",
                        kind.verb(),
                        ChangeNo(id)
                    ),
                ),
                InputKind::SetSplit | InputKind::Command | InputKind::Deploy => {}
            }
        }
        KeyCode::Enter => {
            let text = input.textarea.lines().join(" ").trim().to_string();
            match input.kind.clone() {
                InputKind::Filter => {
                    state.log_view.filter = text;
                    state.mode = Mode::Normal;
                }
                InputKind::Command => cmdline::enter(state, &text, fx),
                InputKind::Deploy => super::deploy::entered(state, &text),
                InputKind::SetSplit => match parse_split(state, &text) {
                    Ok(split) => {
                        state.mode = Mode::Normal;
                        changes::request_change(state, split, ChangeKind::Set, fx);
                    }
                    Err(e) => {
                        if let Mode::Input(input) = &mut state.mode {
                            input.feedback = Some(Err(e));
                        }
                    }
                },
                InputKind::Annotate { id, kind, .. } => {
                    state.mode = Mode::Normal;
                    if text.is_empty() {
                        say(
                            state,
                            Level::Info,
                            format!(
                                "{} {} goes on; no reason recorded",
                                kind.verb(),
                                ChangeNo(id)
                            ),
                        );
                    } else {
                        changes::annotated(state, id, kind, text, fx);
                    }
                }
                InputKind::Reason { then, required } => {
                    if required && text.is_empty() {
                        if let Mode::Input(input) = &mut state.mode {
                            input.feedback = Some(Err(
                                "nothing was done: a reason is required for an override \
                                 (type one, or Esc to cancel)"
                                    .into(),
                            ));
                        }
                        return;
                    }
                    state.mode = Mode::Normal;
                    let reason = (!text.is_empty()).then_some(text);
                    changes::confirmed(state, *then, Some(reason), fx);
                }
            }
        }
        _ => {
            input.textarea.input(editor_input(key));
            after_edit(state);
        }
    }
}

pub(super) fn on_paste(state: &mut State, text: &str) {
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
        InputKind::Deploy => super::deploy::edited(state, &text),
        InputKind::SetSplit => {
            let fb = (!text.trim().is_empty()).then(|| parse_split(state, text.trim()));
            if let Mode::Input(input) = &mut state.mode {
                input.feedback = fb;
            }
        }
        InputKind::Reason { .. } | InputKind::Annotate { .. } => {
            if let Mode::Input(input) = &mut state.mode {
                input.feedback = None;
            }
        }
        InputKind::Command => {
            let preview = (!text.trim().is_empty()).then(|| cmdline::preview(state, &text));
            if let Mode::Input(input) = &mut state.mode {
                match preview {
                    Some(Ok(what)) => {
                        input.hint = Some(what);
                        input.feedback = None;
                    }
                    Some(Err(e)) => {
                        input.hint = None;
                        input.feedback = Some(Err(e));
                    }
                    None => {
                        input.hint = None;
                        input.feedback = None;
                    }
                }
            }
        }
    }
}

pub(super) fn parse_split(state: &State, text: &str) -> Result<TrafficSplit, String> {
    let (Some(snapshot), Some(basis), Some(stable)) =
        (state.snapshot.as_ref(), state.desired(), state.stable())
    else {
        return Err("the service has not been read yet".into());
    };
    let split = traffic::parse_assignment(text, snapshot, basis, stable, state.canary())?;
    traffic::check_ready(snapshot, basis, &split)?;
    Ok(split)
}

/// Whether confirming `action` should first ask why.
pub(super) fn reason_needed(kind: ChangeKind, action: Option<&PlanAction>) -> Option<bool> {
    match action {
        Some(PlanAction::Override) => Some(true),
        Some(PlanAction::Abort) => Some(false),
        Some(PlanAction::Start | PlanAction::Advance | PlanAction::Remote(_)) => None,
        None => matches!(kind, ChangeKind::Rollback | ChangeKind::Promote).then_some(false),
    }
}
