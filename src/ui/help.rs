//! The help popup, generated from the keymap: what the keys do here is what
//! the help says, including the config's overrides.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{centered, ellipsize, Ctx};
use crate::core::keymap::Command;

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, scroll: u16) {
    let t = &ctx.theme;
    let km = &ctx.state.settings.keymap;
    let rows = km.help_rows();
    let key_w = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4)
        .min(20);
    let desc_w = rows
        .iter()
        .map(|(_, d)| d.chars().count())
        .max()
        .unwrap_or(20);
    let w = (key_w + 3 + desc_w + 4).min(area.width as usize) as u16;
    let mut lines: Vec<Line> = Vec::with_capacity(rows.len() + 4);
    let room = (w as usize).saturating_sub(key_w + 3 + 4);
    // Nothing cut: a long description wraps under itself (the list scrolls
    // where the terminal is short).
    for (keys, desc) in &rows {
        for (i, part) in super::token_wrap(desc, room.max(10))
            .into_iter()
            .enumerate()
        {
            let head = if i == 0 {
                format!(" {:>key_w$}", ellipsize(keys, key_w))
            } else {
                " ".repeat(key_w + 1)
            };
            lines.push(Line::from(vec![
                Span::styled(head, t.key),
                Span::raw("  "),
                Span::raw(part),
            ]));
        }
    }
    // The spacer only where there is room.
    if lines.len() + 5 < area.height as usize {
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(vec![
        Span::styled(" In input boxes: ", t.dim),
        Span::styled("Enter", t.key),
        Span::styled(" apply, ", t.dim),
        Span::styled("Esc", t.key),
        Span::styled(" cancel.", t.dim),
    ]));
    if ctx.state.settings.read_only {
        lines.push(Line::styled(
            " READ-ONLY: commands that change traffic are disabled.",
            t.warn,
        ));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let popup = centered(area, w, h);
    // Where the terminal is short the list scrolls (j/k, PageUp/PageDown).
    let hidden = (lines.len() as u16).saturating_sub(h.saturating_sub(2));
    let scroll = scroll.min(hidden);
    let close = if hidden > 0 {
        format!(
            " j/k scroll ({}/{}) · {}/Esc: close ",
            scroll,
            hidden,
            km.label(Command::Help)
        )
    } else {
        format!(" {}/Esc: close ", km.label(Command::Help))
    };
    let block = Block::bordered()
        .border_style(t.bold)
        .title(Span::styled(" Keys ", t.title))
        .title_bottom(Line::styled(close, t.dim).right_aligned());
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}
