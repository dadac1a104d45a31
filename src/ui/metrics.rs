//! Per revision: req/s, 5xx % and p95 ms as block sparklines with the last
//! value, against the gates from the settings.
//!
//! - a value above its gate is drawn in the over-gate style with a `▲`
//!   (a warning's, not the alarm's, while the gates only observe);
//!   bars above the gate too; with 2+ rows a dashed line marks the gate;
//! - a series with no points says "no data" (never 0);
//! - series are right-aligned (the newest point at the right edge), so a
//!   canary that has data for 3 minutes lines up in time with the stable.
//!
//! - the canary's 5xx % and p95, in the taller layouts, are a braille chart
//!   with the stable's line over them and, for 5xx, a 95 % band over the
//!   gates' window (`compare.rs`); the compact layout keeps the block sparklines.
//!
//! Three layouts: side-by-side columns (wide), one block of three rows per
//! revision (narrow and tall), one line per revision (narrow and short).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Role;
use super::{compare, panel, sparkline, Ctx};
use crate::core::duration::{age, hms};
use crate::core::model::{MetricKind, Series};
use crate::core::state::GatesMode;

/// Rows the log tail keeps before the metrics grow taller.
const LOGS_PREFERRED: u16 = 10;
const WIDE: u16 = 100;
const COLUMN_MIN: u16 = 40;
const VALUE_W: u16 = 9;
/// `p95 ms` and a space.
const LABEL_W: u16 = 7;
/// ` gate 500ms`, ` gate 1.0%`: the widest usual gate label.
const GATE_W: u16 = 11;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    /// One line per revision, the three signals side by side.
    Compact,
    /// Three rows per revision, the revision named on the left.
    Stacked,
    /// One column per revision, each signal `h` rows tall.
    Columns { cols: u16, h: u16 },
}

fn shape(ctx: &Ctx, width: u16, rest: u16) -> Shape {
    let n = shown(ctx).len().max(1) as u16;
    let budget = rest.saturating_sub(LOGS_PREFERRED);
    if width >= WIDE {
        let cols = (width / COLUMN_MIN).clamp(1, n);
        let h = (budget.saturating_sub(2) / 3).clamp(1, 2);
        Shape::Columns { cols, h }
    } else if budget > 3 * n {
        Shape::Stacked
    } else {
        Shape::Compact
    }
}

/// The panel's height and shape, given the width and the rows left for
/// metrics and logs together.
pub(crate) fn plan(ctx: &Ctx, width: u16, rest: u16) -> (u16, Shape) {
    let n = shown(ctx).len().max(1) as u16;
    let max = rest.saturating_sub(super::logs::MIN_HEIGHT).max(2);
    match shape(ctx, width, rest) {
        Shape::Compact => ((1 + n).min(max), Shape::Compact),
        Shape::Stacked => ((1 + 3 * n).min(max), Shape::Stacked),
        Shape::Columns { cols, h } => {
            let h = h.min(max.saturating_sub(2) / 3).max(1);
            ((2 + 3 * h).min(max), Shape::Columns { cols, h })
        }
    }
}

/// Stable, canary, then any other revision that has data.
fn shown<'a>(ctx: &Ctx<'a>) -> Vec<(&'a str, Role)> {
    // The few revisions with data, gathered once: a lookup per revision
    // allocated a key each time (500 revisions, every frame).
    let with_data: std::collections::HashSet<&str> = ctx
        .state
        .metrics
        .series
        .iter()
        .filter(|(_, s)| !s.points.is_empty())
        .map(|((name, _), _)| name.as_str())
        .collect();
    let has_data = |name: &str| with_data.contains(name);
    let mut v: Vec<(&str, Role)> = ctx
        .roles()
        .filter(|(name, role)| matches!(role, Role::Stable | Role::Canary) || has_data(name))
        .collect();
    v.sort_by_key(|(_, r)| match r {
        Role::Stable => 0,
        Role::Canary => 1,
        Role::Other(i) => 2 + i,
    });
    v
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, shape: Shape) {
    let block = panel(title(ctx), &ctx.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let revs = shown(ctx);
    if revs.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no revisions to show yet", ctx.theme.dim)),
            inner,
        );
        return;
    }
    let buf = frame.buffer_mut();
    match shape {
        Shape::Compact => compact(buf, inner, ctx, &revs),
        Shape::Stacked => stacked(buf, inner, ctx, &revs),
        Shape::Columns { cols, h } => columns(buf, inner, ctx, &revs, cols, h),
    }
}

fn title(ctx: &Ctx) -> Line<'static> {
    let t = &ctx.theme;
    let g = &ctx.state.settings.gates;
    let h = &ctx.state.metrics_health;
    let mut spans = vec![
        Span::styled(" Metrics ", t.title),
        Span::styled(
            format!(
                " gates{}: 5xx ≤ {} · p95 ≤ {} ",
                match g.mode {
                    GatesMode::Act => "",
                    GatesMode::Observe => " (observe only)",
                },
                fmt_gate(MetricKind::ErrorPercent, g.error_percent),
                fmt_gate(MetricKind::LatencyP95, g.p95_latency_ms)
            ),
            t.dim,
        ),
    ];
    let data_age = h.age_secs(ctx.state.now);
    match (&h.error, data_age) {
        (Some((msg, _)), Some(a)) => spans.push(Span::styled(
            format!(" ERROR, data {} old: {msg} ", age(a)),
            t.error,
        )),
        (Some((msg, at)), None) => spans.push(Span::styled(
            format!(
                " ERROR: {msg} ({} ago) · no data yet ",
                age(ctx.secs_since(*at))
            ),
            t.error,
        )),
        (None, None) => spans.push(Span::styled(" waiting for metrics… ", t.dim)),
        (None, Some(a)) if a >= 120 => {
            spans.push(Span::styled(format!(" data {} old ", age(a)), t.warn))
        }
        (None, Some(_)) => {}
    }
    // What the figures cover: they are the newest point, the gates judge a
    // mean, so the two may differ and the title says so.
    spans.push(Span::styled(
        format!(
            " shown: newest point · gates: {} mean ",
            hms(g.window.as_secs() as i64)
        ),
        t.dim,
    ));
    Line::from(spans)
}

fn gate(ctx: &Ctx, kind: MetricKind) -> Option<f64> {
    let g = &ctx.state.settings.gates;
    match kind {
        MetricKind::RequestRate => None,
        MetricKind::ErrorPercent => Some(g.error_percent),
        MetricKind::LatencyP95 => Some(g.p95_latency_ms),
    }
}

fn fmt_value(kind: MetricKind, v: f64) -> String {
    match kind {
        MetricKind::RequestRate if v.abs() >= 100.0 => format!("{v:.0}"),
        MetricKind::RequestRate => format!("{v:.1}"),
        MetricKind::ErrorPercent => format!("{v:.2}%"),
        MetricKind::LatencyP95 => format!("{v:.0}ms"),
    }
}

fn fmt_gate(kind: MetricKind, v: f64) -> String {
    match kind {
        MetricKind::ErrorPercent => format!("{v:.1}%"),
        _ => format!("{v:.0}ms"),
    }
}

fn short_label(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::RequestRate => "req/s",
        MetricKind::ErrorPercent => "5xx",
        MetricKind::LatencyP95 => "p95",
    }
}

fn series<'a>(ctx: &Ctx<'a>, rev: &str, kind: MetricKind) -> Option<&'a Series> {
    ctx.state
        .metrics
        .series
        .get(&(rev.to_string(), kind))
        .filter(|s| !s.points.is_empty())
}

fn row(area: Rect, dy: u16, h: u16) -> Rect {
    Rect {
        y: area.y + dy,
        height: h.min(area.height.saturating_sub(dy)),
        ..area
    }
}

/// `█ stable   req/s ▅▆▇▆ 45.3 │ 5xx ▁▂▁▃ 0.21% │ p95 ▃▄▅▃ 190ms`
fn compact(buf: &mut Buffer, area: Rect, ctx: &Ctx, revs: &[(&str, Role)]) {
    let name_w = revs
        .iter()
        .map(|(n, _)| ctx.nick(n).chars().count())
        .max()
        .unwrap_or(6) as u16
        + 3;
    for (i, (name, _)) in revs.iter().enumerate().take(area.height as usize) {
        let line = row(area, i as u16, 1);
        let label = Rect {
            width: name_w.min(line.width),
            ..line
        };
        rev_label(buf, label, ctx, name, false);
        let rest = Rect {
            x: line.x + name_w,
            width: line.width.saturating_sub(name_w),
            ..line
        };
        let third = rest.width / 3;
        for (j, kind) in MetricKind::ALL.into_iter().enumerate() {
            let w = if j == 2 {
                rest.width - 2 * third
            } else {
                third
            };
            let cell = Rect {
                x: rest.x + j as u16 * third,
                width: w.saturating_sub(1),
                ..rest
            };
            metric(buf, cell, ctx, name, kind, true);
        }
    }
}

/// Three rows per revision, the revision named on the left.
fn stacked(buf: &mut Buffer, area: Rect, ctx: &Ctx, revs: &[(&str, Role)]) {
    let name_w = revs
        .iter()
        .map(|(n, _)| {
            ctx.short(n)
                .chars()
                .count()
                .max(ctx.nick(n).chars().count())
        })
        .max()
        .unwrap_or(6) as u16
        + 4;
    for (i, (name, _)) in revs.iter().enumerate() {
        let block = row(area, 3 * i as u16, 3);
        if block.height == 0 {
            return;
        }
        rev_label(buf, block, ctx, name, true);
        for (j, kind) in MetricKind::ALL.into_iter().enumerate() {
            let r = row(block, j as u16, 1);
            let r = Rect {
                x: r.x + name_w,
                width: r.width.saturating_sub(name_w),
                ..r
            };
            metric(buf, r, ctx, name, kind, false);
        }
    }
}

/// Side by side: one column per revision, each signal `h` rows tall.
fn columns(buf: &mut Buffer, area: Rect, ctx: &Ctx, revs: &[(&str, Role)], cols: u16, h: u16) {
    let cols = cols.max(1);
    let gap = 3;
    let col_w = area.width.saturating_sub(gap * (cols - 1)) / cols;
    for (c, (name, _)) in revs.iter().enumerate().take(cols as usize) {
        let x = area.x + c as u16 * (col_w + gap);
        let col = Rect {
            x,
            width: col_w,
            ..area
        };
        rev_label(buf, row(col, 0, 1), ctx, name, false);
        if h >= 2 {
            legend(buf, row(col, 0, 1), ctx, name);
        }
        for (j, kind) in MetricKind::ALL.into_iter().enumerate() {
            let r = row(col, 1 + j as u16 * h, h);
            metric(buf, r, ctx, name, kind, false);
        }
    }
}

/// Right of the canary's label, when its 5xx and p95 are drawn against the
/// stable: `⣀ stable  ▒ 95% over 1m` (the 5xx band's window; the swatch
/// is the band's shading).
fn legend(buf: &mut Buffer, area: Rect, ctx: &Ctx, name: &str) {
    if compared(ctx, name, MetricKind::ErrorPercent, false).is_none() {
        return;
    }
    let t = &ctx.theme;
    let band = format!(
        " 95% over {}",
        hms(ctx.state.settings.gates.window.as_secs() as i64)
    );
    let spans = [
        Span::styled("⣀", t.revision(Role::Stable)),
        Span::styled(" stable  ", t.dim),
        Span::styled(if t.color { " " } else { "⣿" }, t.band),
        Span::styled(band.clone(), t.dim),
    ];
    let w: u16 = spans.iter().map(|s| s.width() as u16).sum();
    // Only beside the label, never over it.
    if area.width < w + 28 {
        return;
    }
    buf.set_line(area.right() - w, area.y, &Line::from(spans.to_vec()), w);
}

/// `█ stable 00042-xuv  90%` on one line, or over two lines when `two_lines`.
fn rev_label(buf: &mut Buffer, area: Rect, ctx: &Ctx, name: &str, two_lines: bool) {
    let t = &ctx.theme;
    let role = ctx.role(name);
    let serving = ctx
        .state
        .snapshot
        .as_ref()
        .map(|s| s.serving().percent_of(name));
    let mut first = vec![ctx.swatch(name), Span::raw(" ")];
    let mut second = vec![Span::raw("  ")];
    if role.label().is_empty() {
        first.push(Span::styled(ctx.short(name).to_string(), t.revision(role)));
    } else {
        first.push(Span::styled(role.label(), t.bold));
        let short = Span::styled(ctx.short(name).to_string(), t.revision(role));
        if two_lines {
            second.push(short);
        } else if area.width >= 30 {
            first.push(Span::raw(" "));
            first.push(short);
        }
    }
    if let Some(p) = serving {
        let pct = Span::styled(format!("{p}%"), t.dim);
        if two_lines {
            let third = Line::from(vec![Span::raw("  "), pct]);
            if area.height >= 3 {
                buf.set_line(area.x, area.y + 2, &third, area.width);
            }
        } else if area.width >= 30 {
            first.push(Span::raw("  "));
            first.push(pct);
        }
    }
    buf.set_line(area.x, area.y, &Line::from(first), area.width);
    if two_lines && area.height >= 2 {
        buf.set_line(area.x, area.y + 1, &Line::from(second), area.width);
    }
}

/// The stable's series to draw with the canary's `kind` when `rev` is the
/// canary, in a tall enough layout: 5xx % (with its band) and p95, the
/// stable's line over the canary's chart.
fn compared<'a>(ctx: &Ctx<'a>, rev: &str, kind: MetricKind, compact: bool) -> Option<&'a Series> {
    // Braille needs two rows at least: on one, two lines 4 dots tall merge.
    if compact || kind == MetricKind::RequestRate || ctx.role(rev) != Role::Canary {
        return None;
    }
    let stable = ctx.state.stable()?;
    series(ctx, stable, kind)
}

/// `label  ▁▂▃▅▆▇  value▲  gate 1.0%` in `area` (the sparkline `area.height` rows tall).
fn metric(buf: &mut Buffer, area: Rect, ctx: &Ctx, rev: &str, kind: MetricKind, compact: bool) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let t = &ctx.theme;
    let label = if compact {
        short_label(kind)
    } else {
        kind.label()
    };
    // One label width for the three signals: their sparklines start at the same column.
    let label_w = if compact {
        label.chars().count() as u16 + 1
    } else {
        LABEL_W
    };
    let gate = gate(ctx, kind);
    let gate_text = gate.map(|g| format!(" gate {}", fmt_gate(kind, g)));
    // The same room for every signal of a column, gated or not, so that the
    // sparklines end at the same column and line up in time.
    let gate_w = if !compact && area.width >= GATE_W + VALUE_W + 20 {
        GATE_W
    } else {
        0
    };
    let mid = area.y + (area.height - 1) / 2;
    buf.set_stringn(area.x, mid, label, area.width as usize, t.dim);
    let spark_x = area.x + label_w.min(area.width);
    let spark_w = area.width.saturating_sub(label_w + VALUE_W + gate_w);
    let spark = Rect {
        x: spark_x,
        width: spark_w,
        ..area
    };
    let value_x = spark_x + spark_w + 1;
    let Some(series) = series(ctx, rev, kind) else {
        let w = area.width.saturating_sub(label_w) as usize;
        buf.set_stringn(spark_x, mid, "no data", w, t.no_data);
        return;
    };
    let role = ctx.role(rev);
    match compared(ctx, rev, kind, compact).filter(|_| area.height >= 2) {
        Some(stable) => {
            let band = if kind == MetricKind::ErrorPercent {
                compare::error_band(
                    &ctx.state.metrics,
                    rev,
                    series,
                    self::series(ctx, rev, MetricKind::RequestRate),
                    ctx.state.settings.gates.window,
                )
            } else {
                Default::default()
            };
            let c = compare::Compare {
                canary: series,
                stable: Some(stable),
                band,
                gate,
                canary_style: t.revision(role),
                stable_style: t.revision(Role::Stable),
            };
            compare::draw(buf, spark, &ctx.theme, &c);
        }
        None => sparkline::draw(buf, spark, &ctx.theme, series, gate, t.revision(role)),
    }
    let over = series.last().is_some_and(|v| gate.is_some_and(|g| v > g));
    if let Some(v) = series.last() {
        let text = format!("{}{}", fmt_value(kind, v), if over { "▲" } else { "" });
        let style = if over { t.over_gate } else { t.bold };
        let room = (area.right()).saturating_sub(value_x) as usize;
        buf.set_stringn(value_x, mid, text, room, style);
    }
    if gate_w > 0 {
        if let Some(g) = gate_text {
            let gx = area.right().saturating_sub(gate_w);
            // Red is kept for what is over its gate, not for static labels.
            let style = if over { t.over_gate } else { t.dim };
            buf.set_stringn(gx, mid, g, gate_w as usize, style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_with_units() {
        assert_eq!(fmt_value(MetricKind::RequestRate, 45.26), "45.3");
        assert_eq!(fmt_value(MetricKind::RequestRate, 1234.5), "1234");
        assert_eq!(fmt_value(MetricKind::ErrorPercent, 1.5), "1.50%");
        assert_eq!(fmt_value(MetricKind::LatencyP95, 260.4), "260ms");
        assert_eq!(fmt_gate(MetricKind::ErrorPercent, 1.0), "1.0%");
        assert_eq!(fmt_gate(MetricKind::LatencyP95, 500.0), "500ms");
    }
}
