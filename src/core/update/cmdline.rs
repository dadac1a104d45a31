//! The command line (`:`, as in k9s and vim): `:set canary=25`, `:rollback`,
//! `:promote`, `:plan start|pause|abort`, `:checks`, `:q`, with Tab
//! completion of command words and of revision names, tags and roles. Each
//! word runs the same [`Command`] as its key (same guardrails, same
//! confirmations); every command's config name (`run_checks`, …) works too.

use super::{keys, say};
use crate::core::action::{ChangeKind, Effect};
use crate::core::keymap::Command;
use crate::core::plan::Phase;
use crate::core::state::{InputKind, Level, Mode, State};

/// Short words for the commands people type; every `Command::name()` is
/// accepted besides.
const WORDS: &[(&str, Command)] = &[
    ("set", Command::SetSplit),
    ("rollback", Command::Rollback),
    ("promote", Command::Promote),
    ("plan start", Command::Advance),
    ("plan advance", Command::Advance),
    ("plan pause", Command::TogglePause),
    ("plan resume", Command::TogglePause),
    ("plan abort", Command::Abort),
    ("checks", Command::RunChecks),
    ("refresh", Command::Refresh),
    ("details", Command::Details),
    ("ack", Command::Acknowledge),
    ("deploy", Command::Deploy),
    ("delete", Command::DeleteRevision),
    ("journal", Command::Journal),
    ("history", Command::Journal),
    ("help", Command::Help),
    ("q", Command::Quit),
    ("quit", Command::Quit),
];

/// What a line asks for: a command and, for `set`, its assignments.
fn parse(line: &str) -> Result<(Command, String), String> {
    let line = line.trim().trim_start_matches(':').trim();
    if line.is_empty() {
        return Err(
            "type a command, e.g. set canary=25, rollback, plan start (Tab completes)".into(),
        );
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    // The longest known phrase at the start wins (`plan start` before `plan`).
    for n in (1..=words.len().min(2)).rev() {
        let head = words[..n].join(" ");
        let found = WORDS
            .iter()
            .find(|(w, _)| *w == head)
            .map(|(_, c)| *c)
            .or_else(|| Command::from_name(&head));
        if let Some(cmd) = found.filter(|c| !c.in_confirmation()) {
            return Ok((cmd, words[n..].join(" ")));
        }
    }
    Err(format!(
        "`{}` is not a command (Tab lists them)",
        words.first().copied().unwrap_or_default()
    ))
}

/// Enter on the command line.
pub(super) fn run(state: &mut State, line: &str, fx: &mut Vec<Effect>) -> Result<(), String> {
    if line.trim().trim_start_matches(':').trim() == "report" {
        state.mode = Mode::Normal;
        super::history::write_report(state, fx);
        return Ok(());
    }
    if let Some(done) = release_words(state, line) {
        return done;
    }
    let (cmd, args) = parse(line)?;
    let words = line
        .trim()
        .trim_start_matches(':')
        .split_whitespace()
        .collect::<Vec<_>>();
    refuse_wrong_direction(state, words.get(1).copied().filter(|_| words[0] == "plan"))?;
    match cmd {
        Command::SetSplit if !args.is_empty() => {
            if state.settings.read_only {
                return Err(
                    "read-only mode (--read-only): set changes traffic, so it is disabled".into(),
                );
            }
            let split = keys::parse_split(state, &args)?;
            state.mode = Mode::Normal;
            super::changes::request_change(state, split, ChangeKind::Set, fx);
        }
        _ if !args.is_empty() => {
            return Err(format!("`{}` takes no arguments", cmd.name()));
        }
        cmd => {
            state.mode = Mode::Normal;
            keys::command(state, cmd, fx);
        }
    }
    Ok(())
}

/// `:prune [N]`, `:deploy IMAGE [--tag T] [--env K=V]`, `:delete REV`.
fn release_words(state: &mut State, line: &str) -> Option<Result<(), String>> {
    let line = line.trim().trim_start_matches(':').trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let read_only = |what: &str| {
        Err(format!(
            "read-only mode (--read-only): {what} changes the service, so it is disabled"
        ))
    };
    Some(match word {
        "prune" => match rest {
            "" => super::deploy::prune(state, None),
            n => match n.parse::<usize>() {
                Ok(n) => super::deploy::prune(state, Some(n)),
                Err(_) => Err(format!(
                    "`prune {n}`: expected prune or prune N (revisions to keep)"
                )),
            },
        },
        "deploy" if !rest.is_empty() => {
            if state.settings.read_only {
                return Some(read_only("deploy"));
            }
            state.mode = Mode::Normal;
            super::deploy::open(state);
            if matches!(state.mode, Mode::Input(_)) {
                super::deploy::entered(state, rest);
            }
            Ok(())
        }
        "delete" if !rest.is_empty() => {
            if state.settings.read_only {
                return Some(read_only("delete"));
            }
            let name = state
                .snapshot
                .as_ref()
                .and_then(|s| s.resolve(rest).map(|r| r.name.clone()))
                .or_else(|| {
                    state
                        .revisions()
                        .iter()
                        .find(|r| r.name.ends_with(&format!("-{rest}")))
                        .map(|r| r.name.clone())
                });
            match name {
                Some(n) => {
                    state.mode = Mode::Normal;
                    state.selected = Some(n);
                    super::deploy::delete_selected(state);
                    Ok(())
                }
                None => Err(format!("no revision or tag `{rest}`")),
            }
        }
        _ => return None,
    })
}

/// `:plan start|pause|resume` say what they mean: the keys behind them
/// toggle, the words do not (`:plan pause` never resumes a paused plan).
fn refuse_wrong_direction(state: &State, word: Option<&str>) -> Result<(), String> {
    if let Some(l) = state.remote.driver(state.now) {
        let paused = super::remote::remote_paused(l);
        return match word {
            Some("start" | "advance") => {
                Err(super::remote::refuse_start(state).unwrap_or_default())
            }
            Some("pause") if paused => Err(format!("{} already says it is paused", l.driver)),
            Some("resume") if !paused => Err(format!("{} does not say it is paused", l.driver)),
            _ => Ok(()),
        };
    }
    let phase = state.active_phase();
    let paused = matches!(phase, Some(Phase::Paused { .. }));
    match (word, &phase) {
        (Some("start"), Some(p)) => Err(format!(
            "a plan is already running ({}): :plan advance moves it on",
            p.label()
        )),
        (Some("advance"), None) => Err("no plan is running: :plan start starts one".into()),
        (Some("pause"), None) | (Some("resume"), None) => Err("no plan is running".into()),
        (Some("pause"), Some(_)) if paused => Err("the plan is already paused".into()),
        (Some("resume"), Some(_)) if !paused => Err("the plan is not paused".into()),
        _ => Ok(()),
    }
}

/// What the line would do, for the feedback line as you type.
pub(super) fn preview(state: &State, line: &str) -> Result<String, String> {
    if line.trim().trim_start_matches(':').trim() == "report" {
        return Ok("write the Markdown deployment report next to the journal".into());
    }
    let trimmed = line.trim().trim_start_matches(':').trim();
    if trimmed == "prune" || trimmed.starts_with("prune ") {
        return Ok(format!(
            "delete old revisions, keeping the {} newest and every one in use (asks to confirm)",
            trimmed
                .strip_prefix("prune")
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map_or(state.settings.release.keep.to_string(), str::to_string)
        ));
    }
    let (cmd, args) = parse(line)?;
    if cmd == Command::SetSplit && !args.is_empty() {
        return keys::parse_split(state, &args).map(|s| format!("set split {s}"));
    }
    Ok(cmd.describe().to_string())
}

/// Tab: completes the word under the cursor (the last one). One candidate
/// replaces it; several fill in their common prefix and are listed.
pub(super) fn complete(state: &State, line: &str) -> (String, Option<String>) {
    let ends_with_space = line.ends_with(' ');
    let words: Vec<&str> = line.split_whitespace().collect();
    let (done, last) = if ends_with_space || words.is_empty() {
        (words.as_slice(), "")
    } else {
        (&words[..words.len() - 1], words[words.len() - 1])
    };
    let candidates: Vec<String> = if done.first() == Some(&"set") {
        // After `set`: NAME= for every revision, as the screen names them.
        let (name_part, value) = last.split_once('=').unwrap_or((last, ""));
        let mut names = vec!["stable".to_string(), "canary".to_string()];
        let prefix = state
            .snapshot
            .as_ref()
            .map(|s| format!("{}-", s.service))
            .unwrap_or_default();
        for r in state.revisions() {
            names.push(
                r.name
                    .strip_prefix(prefix.as_str())
                    .unwrap_or(&r.name)
                    .to_string(),
            );
            names.push(r.name.clone());
            if let Some(t) = &r.tag {
                names.push(t.clone());
            }
        }
        names.dedup();
        names
            .into_iter()
            .filter(|n| n.starts_with(name_part))
            .map(|n| format!("{n}={value}"))
            .collect()
    } else {
        let typed = done
            .iter()
            .chain([&last])
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        // The short words first; the config names only when none fits.
        let words: Vec<&str> = WORDS
            .iter()
            .map(|(w, _)| *w)
            .chain(["report"])
            .filter(|w| w.starts_with(typed.as_str()))
            .collect();
        let all: Vec<&str> = if words.is_empty() {
            Command::ALL
                .iter()
                .filter(|c| !c.in_confirmation())
                .map(|c| c.name())
                .filter(|w| w.starts_with(typed.as_str()))
                .collect()
        } else {
            words
        };
        all.into_iter()
            .map(|w| {
                // Complete only the words still to type.
                w.split_whitespace()
                    .skip(done.len())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let mut uniq: Vec<String> = Vec::new();
    for c in candidates {
        if !uniq.contains(&c) {
            uniq.push(c);
        }
    }
    let head = done.join(" ");
    let join = |w: &str| {
        if head.is_empty() {
            w.to_string()
        } else {
            format!("{head} {w}")
        }
    };
    match uniq.as_slice() {
        [] => (line.to_string(), Some("no completion".into())),
        [one] => {
            let sep = if one.contains('=') { "" } else { " " };
            (format!("{}{sep}", join(one)), None)
        }
        many => {
            let common = common_prefix(many);
            let text = if common.chars().count() > last.chars().count() {
                join(&common)
            } else {
                line.to_string()
            };
            (text, Some(many.join("  ")))
        }
    }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut n = first.len();
    for w in &words[1..] {
        n = n.min(
            first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .count(),
        );
    }
    first.chars().take(n).collect()
}

/// `:` opens it.
pub(super) fn open(state: &mut State) {
    let mut ta = tui_textarea::TextArea::default();
    ta.set_placeholder_text(
        "set canary=25 · rollback · promote · plan start|pause|abort · checks · q",
    );
    keys::open_input(state, InputKind::Command, ta, String::new());
}

/// Enter: run it, or keep the line open with why not.
pub(super) fn enter(state: &mut State, text: &str, fx: &mut Vec<Effect>) {
    if let Err(e) = run(state, text, fx) {
        if let Mode::Input(input) = &mut state.mode {
            input.feedback = Some(Err(e));
        } else {
            say(state, Level::Warn, e);
        }
    }
}
