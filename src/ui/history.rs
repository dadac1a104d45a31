//! The history view (`J`, `:journal`): the audit journal inside the cockpit,
//! one line per record (who, when, what, why), filtered by kind and text,
//! newest at the bottom, scrolling; `w` writes the Markdown report.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::{ellipsize, Ctx};
use crate::core::state::{contains_ci, JournalView};
use crate::journal::report::history_line;

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, v: &JournalView) {
    let t = &ctx.theme;
    // Between the header and the footer: the footer's status line says
    // where the report went.
    let popup = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(3),
    };
    let filter = if v.editing {
        format!(" filter: {}▏", v.filter)
    } else if v.filter.is_empty() {
        String::new()
    } else {
        format!(" filter: {}", v.filter)
    };
    let block = Block::bordered()
        .border_style(t.bold)
        .title(Span::styled(
            format!(" History · {} (Tab){filter} ", v.kind.label()),
            t.title,
        ))
        .title_bottom(
            Line::styled(
                " / filter · Tab kind · j/k scroll · w write the report · R reload · Esc close ",
                t.dim,
            )
            .right_aligned(),
        );
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    let w = inner.width as usize;
    let lines: Vec<Line> = match &v.records {
        None => vec![Line::styled("reading the journal…", t.dim)],
        Some(Err(e)) => vec![Line::styled(
            format!("cannot read the journal: {e}"),
            t.error,
        )],
        Some(Ok(records)) => {
            let shown: Vec<String> = records
                .iter()
                .filter(|r| v.kind.matches(&r.event))
                .map(history_line)
                .filter(|l| v.filter.is_empty() || contains_ci(l, &v.filter))
                .collect();
            if shown.is_empty() {
                vec![Line::styled("nothing matches", t.dim)]
            } else {
                let rows = inner.height as usize;
                let end = shown
                    .len()
                    .saturating_sub(v.scroll.min(shown.len().saturating_sub(rows)));
                let start = end.saturating_sub(rows);
                shown[start..end]
                    .iter()
                    .map(|l| Line::styled(ellipsize(l, w).into_owned(), t.text))
                    .collect()
            }
        }
    };
    frame.render_widget(Paragraph::new(lines), inner);
}
