//! The canary against the stable in one small braille chart (ratatui has
//! no band widget): the canary's line over a shaded band, the stable's line
//! and the gate, on one time axis (one point per cell, the newest at the
//! right edge, as the block sparklines), drawn straight into the buffer so
//! that every layer keeps the theme's style (monochrome included).
//!
//! The band is a **95 % Wilson interval** of the canary's 5xx share over
//! the gates' window ending at each point (what the gates average): its
//! errors out of its requests (the source's counts, or its req/s × each
//! point's interval). It says how far the canary's recent share can be
//! trusted, point by point (95 % at each point, not all at once); it is not
//! the judge's always-valid interval, which covers the whole canary and is
//! in the Judge panel. p95 has no band (an interval needs the latency
//! histogram): its chart shows both lines.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::theme::Theme;
use crate::core::model::{MetricsBatch, Series};

/// 95 % two-sided.
const Z: f64 = 1.96;

/// The per-point Wilson interval of a share of `n` trials at `p` (0..1),
/// as (low, high), both 0..1.
pub(crate) fn wilson(p: f64, n: f64) -> Option<(f64, f64)> {
    if n.is_nan() || n <= 0.0 || !p.is_finite() {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The canary's 5xx band in percent at each of its points: the Wilson
/// interval of its errors out of its requests over the `window` ending
/// there (the gates' window: what they average), from the source's counts,
/// else from its req/s × each point's interval.
pub(crate) fn error_band(
    batch: &MetricsBatch,
    rev: &str,
    errors: &Series,
    rate: Option<&Series>,
    window: std::time::Duration,
) -> HashMap<DateTime<Utc>, (f64, f64)> {
    let counts: HashMap<DateTime<Utc>, f64> = batch
        .counts
        .get(rev)
        .map(|c| c.iter().map(|(t, c)| (*t, c.requests)).collect())
        .unwrap_or_default();
    let rates: HashMap<DateTime<Utc>, f64> = rate
        .map(|r| r.points.iter().copied().collect())
        .unwrap_or_default();
    let step = typical_step(errors);
    // (time, requests, errors) per point.
    let per_point: Vec<(DateTime<Utc>, f64, f64)> = errors
        .points
        .iter()
        .filter(|(_, pct)| pct.is_finite())
        .filter_map(|(t, pct)| {
            let n = counts
                .get(t)
                .copied()
                .or_else(|| rates.get(t).map(|r| r * step))?;
            Some((*t, n, n * pct / 100.0))
        })
        .collect();
    let window = chrono::Duration::from_std(window).unwrap_or_default();
    per_point
        .iter()
        .filter_map(|(t, _, _)| {
            let (n, x) = per_point
                .iter()
                .filter(|(u, _, _)| *u <= *t && *u > *t - window)
                .fold((0.0, 0.0), |(n, x), (_, dn, dx)| (n + dn, x + dx));
            let (lo, hi) = wilson(x / n, n)?;
            Some((*t, (lo * 100.0, hi * 100.0)))
        })
        .collect()
}

/// The usual interval between points, seconds (the median; 10 s if unknown).
fn typical_step(s: &Series) -> f64 {
    let mut d: Vec<f64> = s
        .points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).num_milliseconds() as f64 / 1000.0)
        .filter(|d| *d > 0.0)
        .collect();
    if d.is_empty() {
        return 10.0;
    }
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// Dots of one layer, 2 × 4 per cell, row 0 at the bottom.
struct Layer {
    w: usize,
    h: usize,
    bits: Vec<u8>,
    style: Style,
}

impl Layer {
    fn new(w: usize, h: usize, style: Style) -> Layer {
        Layer {
            w,
            h,
            bits: vec![0; w * h],
            style,
        }
    }

    /// Sets the dot at column `x` (0..2w) and height `y` (0..4h, 0 at the bottom).
    fn dot(&mut self, x: i64, y: i64) {
        if x < 0 || y < 0 || x >= 2 * self.w as i64 || y >= 4 * self.h as i64 {
            return;
        }
        let (cx, dx) = (x as usize / 2, x as usize % 2);
        let from_top = 4 * self.h - 1 - y as usize;
        let (cy, dy) = (from_top / 4, from_top % 4);
        const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        self.bits[cy * self.w + cx] |= BITS[dx][dy];
    }

    fn column(&mut self, x: i64, y0: i64, y1: i64) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.dot(x, y);
        }
    }
}

/// Where a time and a value land in dots.
struct Scale {
    newest: DateTime<Utc>,
    step: f64,
    w: usize,
    h: usize,
    max: f64,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> i64 {
        let back = (self.newest - t).num_milliseconds() as f64 / 1000.0 / self.step;
        (2 * self.w) as i64 - 1 - (back * 2.0).round() as i64
    }

    fn y(&self, v: f64) -> i64 {
        let top = (4 * self.h - 1) as f64;
        ((v.max(0.0) / self.max).min(1.0) * top).round() as i64
    }
}

/// A polyline through `points` (gaps filled vertically so it stays joined).
fn line(layer: &mut Layer, sc: &Scale, points: &[(DateTime<Utc>, f64)]) {
    let pts: Vec<(i64, i64)> = points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| (sc.x(*t), sc.y(*v)))
        .collect();
    for pair in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        let mut last = y0;
        for x in x0..=x1 {
            let y = if x1 == x0 {
                y1
            } else {
                y0 + ((y1 - y0) as f64 * (x - x0) as f64 / (x1 - x0) as f64).round() as i64
            };
            layer.column(x, last, y);
            last = y;
        }
    }
    if let [(x, y)] = pts.as_slice() {
        layer.dot(*x, *y);
    }
}

/// What [`draw`] needs about one comparison.
pub(crate) struct Compare<'a> {
    pub canary: &'a Series,
    pub stable: Option<&'a Series>,
    /// Per canary point: the band's (low, high), in the series' unit.
    pub band: HashMap<DateTime<Utc>, (f64, f64)>,
    pub gate: Option<f64>,
    pub canary_style: Style,
    pub stable_style: Style,
}

/// Draws the comparison into `area`: band, gate, stable, then the canary on
/// top (a cell shows its topmost layer).
pub(crate) fn draw(buf: &mut Buffer, area: Rect, t: &Theme, c: &Compare) {
    let (w, h) = (area.width as usize, area.height as usize);
    if w == 0 || h == 0 || c.canary.points.is_empty() {
        return;
    }
    let step = typical_step(c.canary);
    let newest = c.canary.points.last().map(|p| p.0).unwrap_or_default();
    let oldest = newest - chrono::Duration::milliseconds((step * 1000.0 * w as f64) as i64);
    let in_view = |p: &&(DateTime<Utc>, f64)| p.0 > oldest && p.0 <= newest;
    let canary: Vec<(DateTime<Utc>, f64)> =
        c.canary.points.iter().filter(in_view).copied().collect();
    let stable: Vec<(DateTime<Utc>, f64)> = c
        .stable
        .map(|s| s.points.iter().filter(in_view).copied().collect())
        .unwrap_or_default();
    // Scaled to the lines and the gate (as the sparklines); a band that
    // reaches higher is cut at the top, never rescales the lines away.
    let data_max = canary
        .iter()
        .chain(stable.iter())
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let max = c.gate.map_or(data_max, |g| data_max.max(g * 1.25));
    let sc = Scale {
        newest,
        step,
        w,
        h,
        max: if max > 0.0 { max } else { 1.0 },
    };
    let mut band = Layer::new(w, h, t.band);
    for (ts, _) in &canary {
        if let Some((lo, hi)) = c.band.get(ts) {
            let x = sc.x(*ts);
            for dx in [x - 1, x] {
                band.column(dx, sc.y(*lo), sc.y(*hi));
            }
        }
    }
    let mut gate = Layer::new(w, h, t.gate);
    if let Some(g) = c.gate.filter(|_| h >= 2) {
        let y = sc.y(g);
        for x in (0..(2 * w) as i64).step_by(2) {
            gate.dot(x, y);
        }
    }
    let mut st = Layer::new(w, h, c.stable_style);
    line(&mut st, &sc, &stable);
    let mut ca = Layer::new(w, h, c.canary_style);
    line(&mut ca, &sc, &canary);
    // A cell is in the band when the band covers at least half its dots.
    // With colour the band shades the cell's background under the lines;
    // without, a cell with no line shows the band's dots, dim.
    let lines = [gate, st, ca];
    for cy in 0..h {
        for cx in 0..w {
            let i = cy * w + cx;
            let in_band = band.bits[i].count_ones() >= 4;
            let top = lines.iter().rev().find(|l| l.bits[i] != 0);
            let (bits, mut style) = match top {
                Some(l) => (l.bits[i], l.style),
                None if in_band && !t.color => (band.bits[i], t.band),
                None if in_band => (0, Style::new()),
                None => continue,
            };
            if in_band && t.color {
                style = style.patch(t.band);
            }
            let ch = char::from_u32(0x2800 + u32::from(bits)).unwrap_or(' ');
            let ch = if bits == 0 { ' ' } else { ch };
            buf[(area.x + cx as u16, area.y + cy as u16)]
                .set_char(ch)
                .set_style(style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook() {
        // 10 of 100: (0.0552, 0.1744) (Newcombe 1998, Wilson score).
        let (lo, hi) = wilson(0.10, 100.0).expect("interval");
        assert!(
            (lo - 0.0552).abs() < 1e-4 && (hi - 0.1744).abs() < 1e-4,
            "{lo} {hi}"
        );
        // 0 of 50: from 0 to 0.0714, never below 0.
        let (lo, hi) = wilson(0.0, 50.0).expect("interval");
        assert_eq!(lo, 0.0);
        assert!((hi - 0.0714).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0.1, 0.0), None);
    }

    #[test]
    fn the_canary_sits_on_its_band_and_the_stable_beside_it() {
        use ratatui::style::Color;
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("t");
        let at = |i: i64| t0 + chrono::Duration::seconds(10 * i);
        let canary = Series {
            points: (0..4).map(|i| (at(i), 4.0)).collect(),
        };
        let stable = Series {
            points: (0..4).map(|i| (at(i), 0.0)).collect(),
        };
        let theme = Theme::from_settings(&crate::core::state::Settings::default());
        let area = Rect::new(0, 0, 4, 2);
        let draw_rows = |stable: Option<&Series>| {
            let mut buf = Buffer::empty(area);
            let c = Compare {
                canary: &canary,
                stable,
                band: (0..4).map(|i| (at(i), (1.0, 4.0))).collect(),
                gate: None,
                canary_style: Style::new().fg(Color::Yellow),
                stable_style: Style::new().fg(Color::Blue),
            };
            draw(&mut buf, area, &theme, &c);
            let rows: Vec<String> = (0..2)
                .map(|y| (0..4).map(|x| buf[(x, y)].symbol().to_string()).collect())
                .collect();
            (rows, buf)
        };
        // Scale 0..4 over 8 dots: the canary along the top, its band (1 to
        // 4) shading the cells below it.
        let (rows, buf) = draw_rows(None);
        assert_eq!(rows[0], "⠈⠉⠉⠉", "{rows:?}");
        assert_eq!(buf[(1, 0)].fg, Color::Yellow);
        assert_eq!(rows[1], "    ", "{rows:?}");
        assert_eq!(buf[(1, 1)].bg, Color::DarkGray);
        // The stable at 0: its line along the bottom, over the band.
        let (rows, buf) = draw_rows(Some(&stable));
        assert_eq!(rows[1], "⢀⣀⣀⣀", "{rows:?}");
        assert_eq!(
            (buf[(1, 1)].fg, buf[(1, 1)].bg),
            (Color::Blue, Color::DarkGray)
        );
        // Without colour the band is dim dots where no line is.
        let mut mono = Theme::from_settings(&crate::core::state::Settings {
            color: false,
            ..Default::default()
        });
        mono.color = false;
        let mut buf = Buffer::empty(area);
        let c = Compare {
            canary: &canary,
            stable: None,
            band: (0..4).map(|i| (at(i), (1.0, 4.0))).collect(),
            gate: None,
            canary_style: Style::new(),
            stable_style: Style::new(),
        };
        draw(&mut buf, area, &mono, &c);
        assert_eq!(buf[(1, 1)].symbol(), "⠛");
    }
}
