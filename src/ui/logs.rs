//! The log tail: newest at the bottom, `HH:MM:SS  revision  SEVERITY  message`.
//!
//! Efficient with a full ring (100 000 lines): it walks backwards from the
//! bottom line only until the visible rows are filled, and the title's
//! counts are O(1).

use std::borrow::Cow;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{ellipsize, panel, Ctx};
use crate::core::duration::age;
use crate::core::model::{LogEntry, Severity};

/// Title plus three lines.
pub(crate) const MIN_HEIGHT: u16 = 4;

/// Severity as shown: at most 7 characters, so the column stays narrow.
fn sev_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::Emergency => "EMERG",
        other => other.as_str(),
    }
}

/// Ring index of the bottom line: the newest when following, else the anchor.
fn bottom_index(ctx: &Ctx) -> Option<usize> {
    let state = ctx.state;
    let len = state.logs.len();
    let last = len.checked_sub(1)?;
    match (state.log_view.follow, state.log_view.anchor) {
        (false, Some(anchor)) => {
            let i = anchor.saturating_sub(state.first_log_seq());
            Some(usize::try_from(i).map_or(last, |i| i.min(last)))
        }
        _ => Some(last),
    }
}

/// The `rows` matching entries that end at the bottom line, oldest first.
fn visible<'a>(ctx: &Ctx<'a>, rows: usize) -> Vec<&'a LogEntry> {
    let state = ctx.state;
    let Some(bottom) = bottom_index(ctx) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(rows);
    let mut i = bottom + 1;
    while i > 0 && out.len() < rows {
        i -= 1;
        if let Some(e) = state.logs.get(i) {
            if state.log_view.matches(e) {
                out.push(e);
            }
        }
    }
    out.reverse();
    out
}

fn title(ctx: &Ctx) -> Line<'static> {
    let state = ctx.state;
    let t = &ctx.theme;
    let v = &state.log_view;
    let mut spans = vec![Span::styled(" Logs ", t.title)];
    if let Some(r) = &v.revision {
        spans.push(ctx.swatch(r));
        let who = match ctx.role(r).label() {
            "" => ctx.short(r).to_string(),
            role => format!("{role} {}", ctx.short(r)),
        };
        spans.push(Span::styled(format!(" {who} only "), t.warn));
    }
    if !v.filter.is_empty() {
        spans.push(Span::styled(
            format!(" filter “{}” ", ellipsize(&v.filter, 24)),
            t.warn,
        ));
    }
    let sev = if v.min_severity > Severity::Default {
        format!(" ≥ {} ", v.min_severity.as_str())
    } else {
        " all severities ".to_string()
    };
    spans.push(Span::styled(sev, t.dim));
    match (v.follow, bottom_index(ctx)) {
        (false, Some(bottom)) => {
            let newer = state.logs.len() - 1 - bottom;
            spans.push(Span::styled(format!(" PAUSED · {newer} newer "), t.paused));
        }
        (false, None) => spans.push(Span::styled(" PAUSED ", t.paused)),
        (true, _) => spans.push(Span::styled(" following ", t.dim)),
    }
    spans.push(Span::styled(
        format!(" {}/{} ", state.logs.len(), state.logs.capacity()),
        t.dim,
    ));
    if let Some((msg, at)) = &state.logs_health.error {
        spans.push(Span::styled(
            format!(" ERROR {} ago: {msg} ", age(ctx.secs_since(*at))),
            t.error,
        ));
    }
    Line::from(spans)
}

/// Control characters (newlines, tabs, escapes) become spaces: one entry, one row.
fn one_line(s: &str, max_chars: usize) -> Cow<'_, str> {
    let cut = match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    };
    if cut.contains(char::is_control) {
        Cow::Owned(
            cut.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(cut)
    }
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let t = &ctx.theme;
    let state = ctx.state;
    let block = panel(title(ctx), t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let entries = visible(ctx, inner.height as usize);
    if entries.is_empty() {
        let msg = if state.logs.is_empty() {
            "waiting for log lines…"
        } else if state.log_view.revision.is_some() {
            "no log line of this revision matches (l: all revisions)"
        } else {
            "no log line matches the filter and severity"
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, t.dim)), inner);
        return;
    }
    let rev_w = entries
        .iter()
        .map(|e| {
            e.revision
                .as_deref()
                .map_or(1, |r| ctx.short(r).chars().count())
        })
        .max()
        .unwrap_or(1)
        .min(14);
    let msg_room = (inner.width as usize).saturating_sub(8 + 2 + rev_w + 2 + 7 + 2);
    let lines: Vec<Line> = entries
        .iter()
        .map(|e| {
            let sev_style = t.severity(e.severity);
            let (rev, rev_style) = match e.revision.as_deref() {
                Some(r) => (ctx.short(r), t.revision(ctx.role(r))),
                None => ("-", t.dim),
            };
            Line::from(vec![
                Span::styled(e.timestamp.format("%H:%M:%S").to_string(), t.dim),
                Span::raw("  "),
                Span::styled(format!("{:<rev_w$}", ellipsize(rev, rev_w)), rev_style),
                Span::raw("  "),
                Span::styled(format!("{:<7}", sev_label(e.severity)), sev_style),
                Span::raw("  "),
                Span::styled(one_line(&e.message, msg_room), sev_style),
            ])
        })
        .collect();
    // Fewer lines than rows: keep them at the bottom, the newest last.
    let top = inner.height.saturating_sub(lines.len() as u16);
    let area = Rect {
        y: inner.y + top,
        height: inner.height - top,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_cuts_and_cleans() {
        assert_eq!(one_line("a\nb\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc");
        assert!(matches!(one_line("plain", 10), Cow::Borrowed(_)));
    }
}
