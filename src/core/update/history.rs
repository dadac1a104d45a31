//! The history view: the audit journal's records inside the cockpit,
//! filtered by kind (Tab) and text (`/`), and the Markdown report one key
//! away (`w`). The journal is read in the background (`Effect::LoadJournal`).

use crate::core::key::{KeyCode, KeyEvent, KeyModifiers};

use super::say;
use crate::core::action::Effect;
use crate::core::state::{JournalView, Level, Mode, State};

/// `J` or `:journal`: open the view and read the journal.
pub(super) fn open(state: &mut State, fx: &mut Vec<Effect>) {
    state.mode = Mode::Journal(Box::default());
    fx.push(Effect::LoadJournal);
}

pub(super) fn loaded(state: &mut State, records: Result<Vec<crate::core::record::Record>, String>) {
    if let Mode::Journal(v) = &mut state.mode {
        v.records = Some(records);
    }
}

/// `w` in the view, or `:report`.
pub(super) fn write_report(state: &mut State, fx: &mut Vec<Effect>) {
    fx.push(Effect::WriteReport);
    say(state, Level::Info, "writing the report…");
}

pub(super) fn on_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Journal(v) = &mut state.mode else {
        return;
    };
    if v.editing {
        edit_filter(v, key);
        return;
    }
    let v: &mut JournalView = v;
    match key.code {
        KeyCode::Char('/') => v.editing = true,
        KeyCode::Tab => {
            v.kind = v.kind.next();
            v.scroll = 0;
        }
        KeyCode::Char('k') | KeyCode::Up => v.scroll = (v.scroll + 1).min(max_scroll(v)),
        KeyCode::Char('j') | KeyCode::Down => v.scroll = v.scroll.saturating_sub(1),
        KeyCode::PageUp => v.scroll = (v.scroll + 10).min(max_scroll(v)),
        KeyCode::PageDown => v.scroll = v.scroll.saturating_sub(10),
        KeyCode::Char('g') | KeyCode::Home => v.scroll = max_scroll(v),
        KeyCode::Char('G') | KeyCode::End => v.scroll = 0,
        KeyCode::Char('R') => {
            v.records = None;
            fx.push(Effect::LoadJournal);
        }
        KeyCode::Char('w') => write_report(state, fx),
        KeyCode::Esc if !v.filter.is_empty() => v.filter.clear(),
        _ => state.mode = Mode::Normal,
    }
}

fn edit_filter(v: &mut JournalView, key: KeyEvent) {
    match key.code {
        KeyCode::Enter => v.editing = false,
        KeyCode::Esc => {
            v.editing = false;
            v.filter.clear();
        }
        KeyCode::Backspace => {
            v.filter.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => v.filter.clear(),
        KeyCode::Char(c) => v.filter.push(c),
        _ => {}
    }
    v.scroll = 0;
}

/// Scrolling up stops at the oldest record (the view shows at least one).
fn max_scroll(v: &JournalView) -> usize {
    match &v.records {
        Some(Ok(records)) => records
            .iter()
            .filter(|r| v.kind.matches(&r.event))
            .count()
            .saturating_sub(1),
        _ => 0,
    }
}
