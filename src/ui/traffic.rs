//! The traffic split as stacked horizontal bars, one colour (and, without
//! colour, one fill pattern) per revision, the same as in the table and the
//! metrics. Stable is always leftmost, then the canary, then the others, so
//! segments do not jump around when the canary passes 50 %.
//!
//! ```text
//! serving  ███████████████ stable 90% ███████████████▒canary 10%▒
//! pending  ████████████ stable 75% ████████████▒▒▒ canary 25% ▒▒▒
//!          █ stable 00042-xuv 90%   ▒ canary 00043-kap 10%
//! ```

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Role;
use super::{panel, Ctx};
use crate::core::duration::age;
use crate::core::model::TrafficSplit;

const LABEL_W: u16 = 9;

/// The bars to draw, top to bottom, with their labels.
fn bars<'s>(ctx: &Ctx<'s>) -> Vec<(&'static str, &'s TrafficSplit)> {
    let state = ctx.state;
    let Some(snap) = state.snapshot.as_ref() else {
        return Vec::new();
    };
    let mut v = Vec::with_capacity(3);
    match &snap.actual {
        Some(actual) if *actual != snap.traffic => {
            v.push(("actual", actual));
            v.push(("target", &snap.traffic));
        }
        _ => v.push(("serving", &snap.traffic)),
    }
    if let Some(c) = &state.change {
        v.push(("pending", &c.split));
    }
    v
}

/// `backend-blue kept warm 12m30s more, then scaled to 0`.
fn keep_warm<'a>(ctx: &Ctx, kw: &crate::core::model::KeepWarm) -> Span<'a> {
    let t = &ctx.theme;
    let state = ctx.state;
    let rev = ctx.short(&kw.revision);
    if state.keep_warm.in_flight.as_deref() == Some(kw.revision.as_str()) {
        return Span::styled(format!(" scaling {rev} to 0… "), t.changing);
    }
    let left = (kw.until - state.now).num_seconds();
    if left > 0 {
        let auto = state.settings.plan.mode == crate::core::plan::PlanMode::Auto;
        Span::styled(
            format!(
                " {rev} kept warm {} more ({} replicas), then {} ",
                age(left),
                kw.replicas,
                if auto {
                    "scaled to 0"
                } else {
                    "asked to scale to 0"
                }
            ),
            t.dim,
        )
    } else {
        Span::styled(
            format!(" {rev} kept warm past its time ({} replicas) ", kw.replicas),
            t.warn,
        )
    }
}

pub(crate) fn height(ctx: &Ctx) -> u16 {
    let n = bars(ctx).len() as u16;
    if n == 0 {
        2
    } else {
        1 + n + 1
    }
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let t = &ctx.theme;
    let state = ctx.state;
    let mut title = vec![Span::styled(" Traffic ", t.title)];
    if let Some(snap) = &state.snapshot {
        if snap.reconciling {
            title.push(Span::styled(" platform reconciling… ", t.changing));
        }
        if let Some(why) = &snap.extra.read_only {
            title.push(Span::styled(format!(" read-only: {why} "), t.warn));
        }
        if let Some(kw) = &snap.extra.keep_warm {
            title.push(keep_warm(ctx, kw));
        }
        if snap.actual.as_ref().is_some_and(|a| *a != snap.traffic) {
            title.push(Span::styled(" serving differs from target ", t.warn));
        }
    }
    if let Some(c) = &state.change {
        title.push(Span::styled(
            format!(
                " {} in flight for {} ",
                c.kind.verb(),
                age(ctx.secs_since(c.started))
            ),
            t.changing,
        ));
    }
    let block = panel(Line::from(title), t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let bars = bars(ctx);
    if bars.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no split known yet", t.dim)),
            inner,
        );
        return;
    }
    for (i, (label, split)) in bars.iter().enumerate() {
        let y = inner.y + i as u16;
        if y >= inner.bottom() {
            return;
        }
        let style = if *label == "pending" {
            t.changing
        } else {
            t.dim
        };
        let row = Rect {
            y,
            height: 1,
            ..inner
        };
        frame.render_widget(Paragraph::new(Span::styled(*label, style)), row);
        let bar = Rect {
            x: row.x + LABEL_W.min(row.width),
            width: row.width.saturating_sub(LABEL_W),
            ..row
        };
        draw_bar(frame.buffer_mut(), bar, ctx, split);
    }
    let y = inner.y + bars.len() as u16;
    if y < inner.bottom() {
        let row = Rect {
            x: inner.x + LABEL_W.min(inner.width),
            y,
            width: inner.width.saturating_sub(LABEL_W),
            height: 1,
        };
        frame.render_widget(Paragraph::new(legend(ctx, bars[0].1)), row);
    }
}

fn order(role: Role) -> usize {
    match role {
        Role::Stable => 0,
        Role::Canary => 1,
        Role::Other(i) => 2 + i,
    }
}

/// Cells per entry: largest remainder, every non-zero share at least one cell.
pub(crate) fn segments(percents: &[u8], width: u16) -> Vec<u16> {
    let w = u32::from(width);
    let mut cells: Vec<u32> = percents.iter().map(|p| u32::from(*p) * w / 100).collect();
    let mut order: Vec<usize> = (0..percents.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((u32::from(percents[i]) * w) % 100));
    let mut left = w.saturating_sub(cells.iter().sum());
    for &i in order.iter().cycle().take(percents.len() * 2) {
        if left == 0 {
            break;
        }
        cells[i] += 1;
        left -= 1;
    }
    // A tiny share still shows, taking a cell from the largest segment.
    for i in 0..cells.len() {
        if cells[i] == 0 && percents[i] > 0 {
            if let Some(big) = (0..cells.len()).max_by_key(|&j| cells[j]) {
                if cells[big] > 1 {
                    cells[big] -= 1;
                    cells[i] = 1;
                }
            }
        }
    }
    cells.into_iter().map(|c| c as u16).collect()
}

/// Draws one stacked bar into `area` (one row).
pub(crate) fn draw_bar(buf: &mut Buffer, area: Rect, ctx: &Ctx, split: &TrafficSplit) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let t = &ctx.theme;
    let mut entries: Vec<(&str, u8, Role)> = split
        .entries()
        .iter()
        .map(|a| (a.revision.as_str(), a.percent, ctx.role(&a.revision)))
        .collect();
    entries.sort_by_key(|e| order(e.2));
    let percents: Vec<u8> = entries.iter().map(|e| e.1).collect();
    let cells = segments(&percents, area.width);
    let mut x = area.x;
    for ((name, pct, role), w) in entries.iter().zip(cells) {
        if w == 0 {
            continue;
        }
        let fill = t.fill(*role).to_string();
        let fill_style = t.revision(*role);
        for cx in x..x + w {
            if let Some(cell) = buf.cell_mut((cx, area.y)) {
                cell.set_symbol(&fill).set_style(fill_style);
            }
        }
        let long = format!(" {} {pct}% ", ctx.nick(name));
        let short = format!(" {pct}% ");
        let bare = format!("{pct}%");
        let label = [long, short, bare]
            .into_iter()
            .find(|l| l.chars().count() <= usize::from(w));
        if let Some(label) = label {
            let lw = label.chars().count() as u16;
            let lx = x + (w - lw) / 2;
            buf.set_stringn(lx, area.y, &label, usize::from(lw), t.revision_label(*role));
        }
        x += w;
    }
}

/// Which swatch is which revision: `█ stable 00042-xuv 90%   ▒ canary 00043-kap 10%`.
fn legend(ctx: &Ctx, serving: &TrafficSplit) -> Line<'static> {
    let t = &ctx.theme;
    let state = ctx.state;
    let mut names: Vec<(&str, Role)> = ctx
        .roles()
        .filter(|(name, role)| {
            matches!(role, Role::Stable | Role::Canary)
                || serving.percent_of(name) > 0
                || state
                    .change
                    .as_ref()
                    .is_some_and(|c| c.split.percent_of(name) > 0)
        })
        .collect();
    names.sort_by_key(|(_, r)| order(*r));
    let mut spans = Vec::new();
    for (name, role) in names {
        if !spans.is_empty() {
            spans.push(Span::raw("   "));
        }
        spans.push(ctx.swatch(name));
        spans.push(Span::raw(" "));
        if !role.label().is_empty() {
            spans.push(Span::styled(format!("{} ", role.label()), t.bold));
        }
        spans.push(Span::styled(ctx.short(name).to_string(), t.revision(role)));
        spans.push(Span::raw(format!(" {}%", serving.percent_of(name))));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn segments_fill_the_width_exactly() {
        for w in [0u16, 1, 7, 60, 71, 200] {
            for split in [vec![90u8, 10], vec![100], vec![1, 98, 1], vec![33, 33, 34]] {
                let cells = segments(&split, w);
                assert_eq!(cells.iter().sum::<u16>(), w, "{split:?} in {w}");
            }
        }
        assert_eq!(segments(&[90, 10], 70), vec![63, 7]);
        assert_eq!(segments(&[99, 1], 20), vec![19, 1]);
    }
}
