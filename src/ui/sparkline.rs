//! A block sparkline (`▁▂▃▄▅▆▇█`), one or more rows tall, drawn straight into
//! the buffer: ratatui's `Sparkline` cannot colour single bars (over the
//! gate) nor draw a gate line, and left-aligns short series.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme::Theme;
use crate::core::model::Series;

const BLOCKS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// A block sparkline, newest point at the right edge, scaled from 0 to the
/// larger of the data and 1.25 × the gate, with bars above the gate in the
/// over-gate style and, when 2+ rows tall, a dashed gate line.
pub(crate) fn draw(
    buf: &mut Buffer,
    area: Rect,
    t: &Theme,
    series: &Series,
    gate: Option<f64>,
    style: Style,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let w = area.width as usize;
    let pts = &series.points[series.points.len().saturating_sub(w)..];
    let data_max = pts
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let max = gate.map_or(data_max, |g| data_max.max(g * 1.25));
    let max = if max > 0.0 { max } else { 1.0 };
    let levels = f64::from(area.height) * 8.0;
    let offset = w - pts.len();
    let gate_row = gate.map(|g| ((g / max * levels) / 8.0).floor() as u16);
    for (i, (_, v)) in pts.iter().enumerate() {
        let x = area.x + (offset + i) as u16;
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        let lvl = ((v / max * levels).round() as u16).max(1);
        let over = gate.is_some_and(|g| v > g);
        let s = if over { t.over_gate } else { style };
        for r in 0..area.height {
            let y = area.bottom() - 1 - r;
            let cell_lvl = lvl.saturating_sub(r * 8).min(8) as usize;
            if cell_lvl > 0 {
                buf.set_stringn(x, y, BLOCKS[cell_lvl], 1, s);
            } else if area.height >= 2 && gate_row == Some(r) {
                buf.set_stringn(x, y, "╌", 1, t.gate);
            }
        }
    }
    // The gate line also runs over the columns without points.
    if let Some(gr) = gate_row.filter(|gr| area.height >= 2 && *gr < area.height) {
        let y = area.bottom() - 1 - gr;
        for i in 0..offset {
            buf.set_stringn(area.x + i as u16, y, "╌", 1, t.gate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::state::Settings;
    use chrono::{TimeZone, Utc};

    fn series(values: &[f64]) -> Series {
        let t = Utc.timestamp_opt(0, 0).single().expect("epoch");
        Series {
            points: values.iter().map(|v| (t, *v)).collect(),
        }
    }

    fn row(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
    }

    #[test]
    fn right_aligned_with_a_gate_line_and_no_zero_bars() {
        let t = Theme::from_settings(&Settings::default());
        let area = Rect::new(0, 0, 6, 2);
        let mut buf = Buffer::empty(area);
        // Gate 1.0 → scale 0..1.25; 0.0 still shows as the lowest bar.
        draw(
            &mut buf,
            area,
            &t,
            &series(&[0.0, 0.5, 1.25]),
            Some(1.0),
            Style::new(),
        );
        assert_eq!(row(&buf, 1), "   ▁▆█");
        // The gate (row 1 of 2) is dashed where no bar reaches; the bar above it is over-gate.
        assert_eq!(row(&buf, 0), "╌╌╌╌╌█");
        assert_eq!(buf[(5, 0)].style().fg, t.over_gate.fg);
    }
}
