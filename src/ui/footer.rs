//! Bottom lines: the last message and the in-flight change, then the key
//! hints for the current mode, generated from the keymap (so a rebinding in
//! the config shows up here and in the help without code changes).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{age, Ctx};
use crate::core::keymap::{Command, Keymap};
use crate::core::state::{InputKind, Mode};

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    if area.height == 0 {
        return;
    }
    let status = status(ctx, area.width);
    let (hints, overflow) = hints(ctx, area.width as usize);
    if area.height >= 2 {
        // No message: the hints that did not fit use the first line.
        let top = if status.width() > 0 { status } else { overflow };
        frame.render_widget(Paragraph::new(top), Rect { height: 1, ..area });
        let y = area.y + area.height - 1;
        frame.render_widget(
            Paragraph::new(hints),
            Rect {
                y,
                height: 1,
                ..area
            },
        );
    } else if status.width() > 0 {
        frame.render_widget(Paragraph::new(status), area);
    } else {
        frame.render_widget(Paragraph::new(hints), area);
    }
}

/// The message on the left, the in-flight change on the right.
fn status(ctx: &Ctx, width: u16) -> Line<'static> {
    let state = ctx.state;
    let t = &ctx.theme;
    let mut right = Vec::new();
    if let Some(c) = &state.change {
        right.push(Span::styled(
            format!(
                " ⇄ in flight: {} → {} · {} ",
                c.kind.verb(),
                ctx.split_text(&c.split),
                age(ctx.secs_since(c.started))
            ),
            t.in_flight,
        ));
    }
    if let Some(q) = &state.queued {
        right.push(Span::styled(
            format!(" then {} ", ctx.split_text(&q.split)),
            t.warn,
        ));
    }
    let right_w: usize = right.iter().map(Span::width).sum();
    let mut left = Vec::new();
    if let Some(m) = &state.message {
        let room = (width as usize).saturating_sub(right_w + 1);
        let ago = ctx.secs_since(m.at);
        let suffix = if ago >= 5 {
            format!("  ({} ago)", age(ago))
        } else {
            String::new()
        };
        let text = super::ellipsize(&m.text, room.saturating_sub(suffix.chars().count()));
        left.push(Span::styled(text.into_owned(), t.message(m.level)));
        left.push(Span::styled(suffix, t.dim));
    }
    let left_w: usize = left.iter().map(Span::width).sum();
    if !right.is_empty() {
        let gap = (width as usize).saturating_sub(left_w + right_w);
        left.push(Span::raw(" ".repeat(gap)));
        left.extend(right);
    }
    Line::from(left)
}

/// A hint: the commands whose keys are shown, and what they do.
struct Hint {
    cmds: &'static [Command],
    what: &'static str,
}

const fn hint(cmds: &'static [Command], what: &'static str) -> Hint {
    Hint { cmds, what }
}

const NORMAL: &[Hint] = &[
    hint(&[Command::SelectNext, Command::SelectPrev], "select"),
    hint(&[Command::ShiftUp, Command::ShiftDown], "shift"),
    hint(&[Command::SetSplit], "set split"),
    hint(&[Command::Promote], "promote"),
    hint(&[Command::Rollback], "rollback"),
    hint(&[Command::FilterLogs], "filter"),
    hint(&[Command::ToggleFollow], "follow"),
    hint(&[Command::CycleSeverity], "severity"),
    hint(&[Command::ScrollLogsUp, Command::ScrollLogsDown], "scroll"),
    hint(&[Command::Refresh], "refresh"),
];

/// Always shown, at the end.
const ALWAYS: &[Hint] = &[
    hint(&[Command::Help], "help"),
    hint(&[Command::Quit], "quit"),
];

/// `j/Down k/Up` (full) or `j/k` (short: the first key of each command).
fn keys(km: &Keymap, cmds: &[Command], short: bool) -> String {
    if short {
        cmds.iter()
            .filter_map(|c| km.keys(*c).first().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join("/")
    } else {
        cmds.iter()
            .map(|c| km.label(*c))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The hints line, and the hints that did not fit on it.
fn hints(ctx: &Ctx, width: usize) -> (Line<'static>, Line<'static>) {
    let state = ctx.state;
    let km = &state.settings.keymap;
    let t = &ctx.theme;
    let pairs: Vec<(String, String)> = match &state.mode {
        Mode::Normal => {
            let read_only = state.settings.read_only;
            let mut v: Vec<(Vec<Command>, String)> = NORMAL
                .iter()
                .filter(|h| !(read_only && h.cmds.iter().any(|c| c.writes())))
                .map(|h| {
                    let what = if h.cmds == [Command::ShiftUp, Command::ShiftDown] {
                        format!("shift ±{}%", state.settings.step)
                    } else {
                        h.what.to_string()
                    };
                    (h.cmds.to_vec(), what)
                })
                .collect();
            v.extend(ALWAYS.iter().map(|h| (h.cmds.to_vec(), h.what.to_string())));
            return fit(ctx, &v, width);
        }
        Mode::Help => vec![(
            format!("{}/Esc", keys(km, &[Command::Help], false)),
            "close help".into(),
        )],
        Mode::Confirm(_) => vec![
            (
                km.label(Command::Confirm),
                "confirm: apply the change".into(),
            ),
            (km.label(Command::Cancel), "cancel: change nothing".into()),
        ],
        Mode::Input(i) => match &i.kind {
            InputKind::SetSplit => vec![
                ("Enter".into(), "apply (large jumps ask to confirm)".into()),
                ("Esc".into(), "cancel".into()),
            ],
            InputKind::Filter => vec![
                ("Enter".into(), "keep the filter".into()),
                ("Esc".into(), "restore the previous filter".into()),
            ],
            InputKind::Reason { required, .. } => vec![
                (
                    "Enter".into(),
                    if *required {
                        "confirm with this reason (required)".into()
                    } else {
                        "confirm (a reason is optional)".into()
                    },
                ),
                ("Esc".into(), "cancel: change nothing".into()),
            ],
        },
    };
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(k, t.key));
        spans.push(Span::raw(format!(" {what}   ")));
    }
    (Line::from(spans), Line::default())
}

/// Full key labels when they all fit, else the first key of each; hints
/// that still do not fit are taken from the middle (help and quit stay)
/// and returned as the second line.
fn fit(
    ctx: &Ctx,
    hints: &[(Vec<Command>, String)],
    width: usize,
) -> (Line<'static>, Line<'static>) {
    let km = &ctx.state.settings.keymap;
    let t = &ctx.theme;
    let render = |short: bool| -> Vec<(String, String)> {
        hints
            .iter()
            .map(|(cmds, what)| (keys(km, cmds, short), what.clone()))
            .collect()
    };
    let len = |v: &[(String, String)]| -> usize {
        v.iter()
            .map(|(k, w)| k.chars().count() + 1 + w.chars().count() + 2)
            .sum()
    };
    let mut items = render(false);
    if len(&items) > width {
        items = render(true);
    }
    let keep_tail = ALWAYS.len().min(items.len());
    let mut dropped = Vec::new();
    while len(&items) > width && items.len() > keep_tail {
        dropped.insert(0, items.remove(items.len() - keep_tail - 1));
    }
    let line = |items: Vec<(String, String)>| {
        let mut spans = Vec::new();
        for (k, what) in items {
            spans.push(Span::styled(k, t.key));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    (line(items), line(dropped))
}
