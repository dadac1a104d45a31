//! The one-line input box, drawn over the bottom of the log tail: the log
//! filter (applied live) or an exact split with live feedback.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{ellipsize, Ctx};
use crate::core::state::{Input, InputKind};

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, input: &Input) {
    let t = &ctx.theme;
    let feedback_line = input.kind != InputKind::Filter;
    let h = if feedback_line { 4 } else { 3 };
    if area.height < h || area.width < 10 {
        return;
    }
    // Just above the footer's last line (the hints stay visible); the reason
    // of a change already sent also leaves the status line, which shows it
    // in flight and then done.
    let keep = if matches!(input.kind, InputKind::Annotate { .. }) {
        2
    } else {
        1
    };
    let bottom = area.bottom().saturating_sub(keep);
    let rect = Rect {
        x: area.x,
        y: bottom.saturating_sub(h).max(area.y),
        width: area.width,
        height: h,
    };
    let title = match &input.kind {
        InputKind::SetSplit => {
            " Set split: REVISION=PERCENT, by name or tag; the stable takes the rest ".to_string()
        }
        InputKind::Filter => " Filter logs: text in message or revision (live) ".to_string(),
        InputKind::Deploy => {
            " Deploy: IMAGE [--tag TAG] [--env KEY=VALUE] — no traffic; Enter shows the exact call "
                .to_string()
        }
        InputKind::Command => " : command (Tab completes, Enter runs, Esc closes) ".to_string(),
        InputKind::Reason { then, required } => format!(
            " Why {}? {}: goes to the journal and the team ",
            then.kind.verb(),
            if *required { "Required" } else { "Optional" }
        ),
        InputKind::Annotate { id, kind, .. } => format!(
            " {} {} is already on its way. Why? Optional, for the journal ",
            capitalized(&kind.verb()),
            crate::core::action::ChangeNo(*id)
        ),
    };
    let block = Block::bordered()
        .border_style(t.bold)
        .title(Span::styled(title, t.title));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let text_area = Rect { height: 1, ..inner };
    frame.render_widget(&input.textarea, text_area);
    // tui-textarea has its own default styles (a coloured placeholder, an
    // underlined cursor line): bring them in line with the theme.
    let buf = frame.buffer_mut();
    buf.set_style(
        text_area,
        Style::new().remove_modifier(Modifier::UNDERLINED),
    );
    if input.textarea.is_empty() {
        buf.set_style(text_area, t.dim);
    }
    if !t.color {
        buf.set_style(text_area, Style::new().fg(Color::Reset).bg(Color::Reset));
    }
    if feedback_line && inner.height >= 2 {
        let fb = Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        };
        let room = fb.width as usize;
        let line = match (&input.kind, &input.feedback) {
            (InputKind::Reason { .. } | InputKind::Annotate { .. }, Some(Err(msg))) => {
                Line::styled(
                    format!("✗ {}", ellipsize(msg, room.saturating_sub(2))),
                    t.error,
                )
            }
            (InputKind::Annotate { kind, after, .. }, _) => Line::from(vec![
                Span::styled("→ sent: ", t.warn),
                Span::styled(
                    ellipsize(
                        &format!(
                            "{} to {} (see the footer for its progress)",
                            kind.verb(),
                            ctx.split_text(after)
                        ),
                        room.saturating_sub(8),
                    )
                    .into_owned(),
                    t.bold,
                ),
            ]),
            (InputKind::Reason { then, .. }, _) => Line::from(vec![
                Span::styled("→ on Enter: ", t.dim),
                Span::styled(
                    ellipsize(
                        &format!("{} to {}", then.kind.verb(), ctx.split_text(&then.after)),
                        room.saturating_sub(12),
                    )
                    .into_owned(),
                    t.bold,
                ),
            ]),
            (InputKind::Deploy, None) => match &input.hint {
                Some(h) => Line::from(vec![
                    Span::styled("→ ", t.ok),
                    Span::styled(ellipsize(h, room.saturating_sub(2)).into_owned(), t.text),
                ]),
                None => Line::styled("type the image's tag after the repository", t.dim),
            },
            (InputKind::Command, None) => match &input.hint {
                Some(h) => Line::from(vec![
                    Span::styled("→ ", t.ok),
                    Span::styled(ellipsize(h, room.saturating_sub(2)).into_owned(), t.text),
                ]),
                None => Line::styled(
                    "set canary=25 · rollback · promote · plan start|pause|abort · checks · q",
                    t.dim,
                ),
            },
            (_, Some(Ok(split))) => Line::from(vec![
                Span::styled("→ ", t.ok),
                Span::styled(ellipsize(&ctx.split_text(split), room).into_owned(), t.bold),
            ]),
            (_, Some(Err(msg))) => Line::styled(
                format!("✗ {}", ellipsize(msg, room.saturating_sub(2))),
                t.error,
            ),
            (_, None) => Line::styled(format!("e.g. {}=25", ctx.state.settings.canary_tag), t.dim),
        };
        frame.render_widget(Paragraph::new(line), fb);
    }
}

/// `rollback` → `Rollback`.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
