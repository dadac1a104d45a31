//! Bottom lines: the last message, problems that must not go unseen (the
//! audit journal failing, the webhook failing) and the in-flight change;
//! then the key hints for the current mode, generated from the keymap (so a
//! rebinding in the config shows up here and in the help without code
//! changes). Plan keys (p, Space, a) and c appear only when they do something.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::Ctx;
use crate::core::duration::age;
use crate::core::keymap::{Command, Keymap};
use crate::core::plan::Offer;
use crate::core::state::{contains_ci, InputKind, Mode, State};

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

/// The plan's phase (when its panel is folded away) and the message on the
/// left; the journal and webhook problems and the in-flight change on the right.
fn status(ctx: &Ctx, width: u16) -> Line<'static> {
    let state = ctx.state;
    let t = &ctx.theme;
    let width = width as usize;
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
    // Problems go left of the in-flight change, each cut to leave room.
    let mut problems = Vec::new();
    if let Some(e) = &state.journal_error {
        let text = if contains_ci(e, "journal") {
            e.clone()
        } else {
            format!("journal: {e}")
        };
        problems.push((format!(" ✗ {} ", one_line(&text)), t.error));
    }
    if let Some((e, at)) = &state.notify_error {
        let ago = ctx.secs_since(*at);
        // The details matter while fresh; later the age says enough.
        let text = if ago < 300 {
            format!(" ! webhook failed {} ago: {} ", age(ago), one_line(e))
        } else {
            format!(" ! webhook failed {} ago ", age(ago))
        };
        problems.push((text, t.msg_warn));
    }
    if let Some((e, since)) = &state.audit_degraded {
        let ago = ctx.secs_since(*since);
        problems.push((
            format!(
                " ! shared audit degraded for {}: {} (local journal complete) ",
                age(ago),
                one_line(e)
            ),
            t.msg_warn,
        ));
    }
    let right_w: usize = right.iter().map(Span::width).sum();
    let budget = (width * 2 / 3).saturating_sub(right_w);
    let each = if problems.is_empty() {
        0
    } else {
        budget / problems.len()
    };
    let mut shown = Vec::new();
    for (text, style) in problems {
        if each >= 12 {
            let cut = super::ellipsize(text.trim_end(), each.saturating_sub(1)).into_owned();
            shown.push(Span::styled(format!("{cut} "), style));
        }
    }
    shown.extend(right);
    let right = shown;
    let right_w: usize = right.iter().map(Span::width).sum();

    let mut left = Vec::new();
    if ctx.plan_in_footer {
        if let Some(p) = super::plan::short(ctx) {
            left.push(Span::styled(format!("[{p}] "), t.bold));
        }
    }
    if let Some(m) = &state.message {
        let used: usize = left.iter().map(Span::width).sum();
        let room = width.saturating_sub(right_w + 1 + used);
        let ago = ctx.secs_since(m.at);
        let suffix = if ago >= 5 {
            format!("  ({} ago)", age(ago))
        } else {
            String::new()
        };
        // Its time: a message is never mistaken for an older one.
        let stamp = m.at.format("%H:%M:%S ").to_string();
        let room = room.saturating_sub(stamp.chars().count());
        let text = super::ellipsize(&m.text, room.saturating_sub(suffix.chars().count()));
        left.push(Span::styled(stamp, t.dim));
        left.push(Span::styled(text.into_owned(), t.message(m.level)));
        left.push(Span::styled(suffix, t.dim));
    }
    let left_w: usize = left.iter().map(Span::width).sum();
    if !right.is_empty() {
        let gap = width.saturating_sub(left_w + right_w);
        left.push(Span::raw(" ".repeat(gap)));
        left.extend(right);
    }
    Line::from(left)
}

/// Errors come from remote peers: one row, no control characters.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
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
    hint(&[Command::FocusLogs], "revision logs"),
    hint(&[Command::ScrollLogsUp, Command::ScrollLogsDown], "scroll"),
    hint(&[Command::Refresh], "refresh"),
    hint(&[Command::Deploy], "deploy"),
];

/// Always shown, at the end.
const ALWAYS: &[Hint] = &[
    hint(&[Command::Help], "help"),
    hint(&[Command::Quit], "quit"),
];

/// p / Space / a / c, worded for the plan's phase: what the plan offers
/// (the keys do exactly that), then the checks.
fn plan_hints(state: &State) -> Vec<(Command, String)> {
    let mut v: Vec<(Command, String)> = state
        .plan_offers()
        .into_iter()
        .map(|offer| {
            let what = match offer {
                Offer::Start { again: false } => "plan",
                Offer::Start { again: true } => "new plan",
                Offer::Abort { now: true } => "abort: roll back now",
                Offer::Abort { now: false } => "abort",
                Offer::AdvanceEarly { .. } => "advance early",
                Offer::Approve { .. } => "approve next step",
                Offer::Override { .. } => "override",
                Offer::Pause => "pause",
                Offer::Resume { .. } => "resume",
            };
            (offer.command(), what.to_string())
        })
        .collect();
    if !state.settings.checks.is_empty() {
        v.push((Command::RunChecks, "checks".to_string()));
    }
    v
}

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
            let snap = state.snapshot.as_ref();
            // Keys the platform refuses are not offered: no split on an
            // all-or-nothing platform (blue/green), no deploy where the
            // platform cannot.
            let all_or_nothing = snap.is_some_and(|s| s.extra.all_or_nothing.is_some());
            let no_release = snap.is_some_and(|s| s.write_api.refuses_release());
            let refused = |c: &Command| match c {
                Command::ShiftUp | Command::ShiftDown | Command::SetSplit => all_or_nothing,
                Command::Deploy => no_release,
                _ => false,
            };
            let mut v: Vec<(Vec<Command>, String)> = NORMAL
                .iter()
                .filter(|h| !(read_only && h.cmds.iter().any(|c| c.writes())))
                .filter(|h| !h.cmds.iter().any(refused))
                .map(|h| {
                    let what = if h.cmds == [Command::ShiftUp, Command::ShiftDown] {
                        format!("shift ±{}%", state.settings.step)
                    } else {
                        h.what.to_string()
                    };
                    (h.cmds.to_vec(), what)
                })
                .collect();
            let plan = plan_hints(state)
                .into_iter()
                .filter(|(c, _)| !(read_only && c.writes()))
                .map(|(c, what)| (vec![c], what));
            // While a plan runs its keys come first (after select), with the
            // manual rollback right after them; else they follow the rollback.
            let rollback = v
                .iter()
                .position(|(c, _)| c.as_slice() == [Command::Rollback]);
            if state.plan.as_ref().is_some_and(|p| !p.phase.is_finished()) {
                let r = rollback.map(|i| v.remove(i));
                let at = 1.min(v.len());
                let mut front: Vec<(Vec<Command>, String)> = plan.collect();
                // Before `c`: rolling back matters more than re-running checks.
                let c_at = front
                    .iter()
                    .position(|(c, _)| c.as_slice() == [Command::RunChecks])
                    .unwrap_or(front.len());
                if let Some(r) = r {
                    front.insert(c_at, r);
                }
                v.splice(at..at, front);
            } else {
                let at = rollback.map_or(v.len(), |i| i + 1);
                v.splice(at..at, plan);
            }
            // An alarm is acknowledged first of all.
            if state.alarm.is_some() {
                v.insert(0, (vec![Command::Acknowledge], "acknowledge alarm".into()));
            }
            v.extend(ALWAYS.iter().map(|h| (h.cmds.to_vec(), h.what.to_string())));
            return fit(ctx, &v, width);
        }
        Mode::Journal(v) if v.editing => vec![
            ("Enter".into(), "keep the filter".into()),
            ("Esc".into(), "clear it".into()),
        ],
        Mode::Journal(_) => vec![
            ("/".into(), "filter".into()),
            ("Tab".into(), "kind".into()),
            ("w".into(), "write the report".into()),
            ("Esc".into(), "close".into()),
        ],
        Mode::Detail { .. } => vec![
            ("j/k".into(), "scroll".into()),
            ("Esc".into(), "close the details".into()),
        ],
        Mode::Help { .. } => vec![(
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
        Mode::Release(_) => vec![
            (km.label(Command::Confirm), "confirm: send it".into()),
            (km.label(Command::Cancel), "cancel: change nothing".into()),
        ],
        Mode::Input(i) => match &i.kind {
            InputKind::Deploy => vec![
                (
                    "Enter".into(),
                    "show the exact call (asks to confirm)".into(),
                ),
                ("Esc".into(), "cancel".into()),
            ],
            InputKind::SetSplit => vec![
                ("Enter".into(), "apply (large jumps ask to confirm)".into()),
                ("Esc".into(), "cancel".into()),
            ],
            InputKind::Command => vec![
                ("Enter".into(), "run".into()),
                ("Tab".into(), "complete".into()),
                ("Esc".into(), "close".into()),
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
            InputKind::Annotate { .. } => vec![
                ("Enter".into(), "record this reason with the change".into()),
                ("Esc".into(), "skip: it goes on anyway".into()),
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
