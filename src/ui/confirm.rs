//! The confirmation popup: what kind of change, the split before → after
//! per revision (and as bars), why it is asked, and the exact call(s) that
//! will run, shown whole (wrapped, never cut) before anything runs.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{centered, ellipsize, token_wrap, traffic, Ctx};
use crate::core::action::ChangeKind;
use crate::core::keymap::Command;
use crate::core::state::{Confirmation, PlanAction};
use crate::core::traffic::largest_move;

/// What is being confirmed, in words.
fn headline(ctx: &Ctx, c: &Confirmation) -> (&'static str, String) {
    let large = largest_move(&c.before, &c.after) > ctx.state.settings.max_step;
    let to = c.after.largest().map_or("?", |r| ctx.short(r)).to_string();
    if let Some(kw) = &c.scale_down {
        return (
            "SCALE DOWN",
            format!(
                "{} to 0 replicas (traffic unchanged)",
                ctx.short(&kw.revision)
            ),
        );
    }
    match (&c.plan_action, c.kind) {
        (Some(PlanAction::Remote(k)), _) => (
            match k {
                crate::core::lease::RequestKind::Pause => "PAUSE REMOTE PLAN",
                crate::core::lease::RequestKind::Resume => "RESUME REMOTE PLAN",
                crate::core::lease::RequestKind::Abort => "ABORT REMOTE PLAN",
            },
            format!(
                "ask {} to {} (traffic unchanged here)",
                ctx.state
                    .remote
                    .lease
                    .as_ref()
                    .map_or("the driver", |l| l.driver.as_str()),
                k.verb()
            ),
        ),
        (Some(PlanAction::Abort), _) => {
            ("ABORT PLAN", format!("stop the plan and roll back to {to}"))
        }
        (Some(PlanAction::Override), _) => (
            "OVERRIDE",
            format!("advance despite the gates: {}", c.kind.verb()),
        ),
        (Some(PlanAction::Start), _) => ("START PLAN", c.kind.verb()),
        (_, ChangeKind::Rollback) => (
            "ROLLBACK",
            format!("all traffic back to the stable revision {to}"),
        ),
        (_, ChangeKind::Promote) => ("PROMOTE", format!("all traffic to {to}")),
        _ if large => (
            "LARGE CHANGE",
            format!(
                "{}: {} points at once",
                c.kind.verb(),
                largest_move(&c.before, &c.after)
            ),
        ),
        (_, ChangeKind::Plan(_)) => ("PLAN STEP", c.kind.verb()),
        (_, kind) => ("CHANGE", kind.verb()),
    }
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, c: &Confirmation) {
    let t = &ctx.theme;
    let w = area.width.saturating_sub(4).clamp(20, 100).min(area.width);
    let inner_w = w.saturating_sub(4) as usize;
    let (kind, what) = headline(ctx, c);

    let mut lines: Vec<Line> = vec![badge_line(ctx, kind, &what, inner_w), Line::raw("")];

    // Per revision: before → after.
    let mut names: Vec<&str> = c.before.revisions().collect();
    for r in c.after.revisions() {
        if !names.contains(&r) {
            names.push(r);
        }
    }
    let name_w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(8)
        .min(inner_w.saturating_sub(24).max(8));
    lines.push(Line::styled(
        format!(
            "   {:<name_w$}  {:>6}    {:>5}",
            "revision", "before", "after"
        ),
        t.column_header,
    ));
    for n in &names {
        let (b, a) = (c.before.percent_of(n), c.after.percent_of(n));
        let role = ctx.role(n);
        let change = if a == b { t.text } else { t.changing };
        lines.push(Line::from(vec![
            Span::raw(" "),
            ctx.swatch(n),
            Span::raw(" "),
            Span::styled(
                format!("{:<name_w$}", ellipsize(n, name_w)),
                t.revision(role),
            ),
            Span::raw(format!("  {b:>5}% → ")),
            Span::styled(format!("{a:>4}%"), change),
            Span::styled(format!("  {}", role.label()), t.dim),
        ]));
    }
    let bars_at = lines.len();
    lines.push(Line::styled("   before", t.dim));
    lines.push(Line::styled("   after", t.dim));

    if let Some(note) = &c.note {
        lines.push(Line::raw(""));
        for (i, chunk) in token_wrap(note, inner_w.saturating_sub(2))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { "! " } else { "  " };
            lines.push(Line::styled(format!("{lead}{chunk}"), t.warn));
        }
    }
    lines.push(Line::raw(""));
    lines.extend(exact_calls(ctx, &c.preview, inner_w));
    if c.preview.is_empty() {
        lines.push(Line::styled("  (the backend gave no preview)", t.dim));
    }
    lines.push(Line::raw(""));
    lines.push(keys_line(ctx, c.unprompted));
    let inner = draw_popup(frame, area, ctx, kind, w, lines);

    // The two bars, drawn after the text at their reserved rows.
    for (i, split) in [&c.before, &c.after].into_iter().enumerate() {
        let y = inner.y + (bars_at + i) as u16;
        if y >= inner.bottom() {
            break;
        }
        let bar = Rect {
            x: inner.x + 10,
            y,
            width: inner.width.saturating_sub(10),
            height: 1,
        };
        traffic::draw_bar(frame.buffer_mut(), bar, ctx, split);
    }
}

// ------------------------------------------------ shared with the release's
// confirmation ([`super::release`]): the same badge, calls, keys and frame.

/// ` KIND  what`: the badge and the headline, cut to the width.
pub(super) fn badge_line(ctx: &Ctx, kind: &str, what: &str, inner_w: usize) -> Line<'static> {
    let t = &ctx.theme;
    Line::from(vec![
        Span::styled(format!(" {kind} "), t.badge_read_only),
        Span::raw(" "),
        Span::styled(
            ellipsize(what, inner_w.saturating_sub(kind.len() + 3)).into_owned(),
            t.bold,
        ),
    ])
}

/// "Exact call(s) that will run:" and every call, wrapped, never cut.
pub(super) fn exact_calls(ctx: &Ctx, preview: &[String], inner_w: usize) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let mut lines = vec![Line::styled(
        format!(
            "Exact call{} that will run:",
            if preview.len() == 1 { "" } else { "s" }
        ),
        t.bold,
    )];
    for call in preview {
        for (i, chunk) in token_wrap(call, inner_w.saturating_sub(4))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { "  $ " } else { "    " };
            lines.push(Line::from(vec![
                Span::styled(lead, t.dim),
                Span::styled(chunk, t.call),
            ]));
        }
    }
    lines
}

/// The keys: confirm, cancel, copy the call. A question the cockpit opened
/// by itself (`unprompted`) takes `y`, not an Enter that was meant for
/// something else.
pub(super) fn keys_line(ctx: &Ctx, unprompted: bool) -> Line<'static> {
    let t = &ctx.theme;
    let km = &ctx.state.settings.keymap;
    let confirm_keys = if unprompted {
        km.label(Command::Confirm)
            .split('/')
            .filter(|k| *k != "Enter")
            .collect::<Vec<_>>()
            .join("/")
    } else {
        km.label(Command::Confirm)
    };
    Line::from(vec![
        Span::styled(confirm_keys, t.key),
        Span::raw(" confirm    "),
        Span::styled(km.label(Command::Cancel), t.key),
        Span::raw(" cancel    "),
        Span::styled(km.label(Command::CopyCall), t.key),
        Span::raw(" copy the call"),
    ])
}

/// Draws `lines` in the bordered " Confirm kind " popup `w` wide, centred
/// in `area`; returns the text's area.
pub(super) fn draw_popup(
    frame: &mut Frame,
    area: Rect,
    ctx: &Ctx,
    kind: &str,
    w: u16,
    lines: Vec<Line<'static>>,
) -> Rect {
    let t = &ctx.theme;
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = centered(area, w, h);
    let block = Block::bordered()
        .border_style(t.confirm_border)
        .title(Span::styled(
            format!(" Confirm {} ", kind.to_lowercase()),
            t.confirm_border,
        ));
    let inner = block.inner(popup).inner(ratatui::layout::Margin::new(1, 0));
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    frame.render_widget(Paragraph::new(lines), inner);
    inner
}
