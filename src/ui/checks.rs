//! The latest verification battery: one row per check.
//!
//! ```text
//!  Checks  00043-kap  2s ago in 41s  6/6 done  ✗ 1 blocking failure (failures) ──
//! ✓ pass     ready      ready             block   0.3s
//! ✗ fail     failures   metrics-endpoint  block   80ms  3 vs <= 2        memory_…
//! ! warn     cache-hit  metrics-endpoint  warn    80ms  0.7333 vs > 0.8  cach…
//! … running  smoke      http              block    4s…
//! · pending  summary    http              block
//! ```
//!
//! The status is a symbol and a word, so the panel reads without colour.
//! When the panel is narrow the kind goes first, then the duration, then
//! measured vs expected; the reason takes what is left.

use ratatui::text::{Line, Span};

use super::{ellipsize, Content, Ctx, Fold};
use crate::core::duration::{age, hms, stopwatch};
use crate::core::keymap::Command;
use crate::core::plan::Phase;
use crate::core::state::{Battery, CheckRow, CheckStatus};

/// `✓ pass`, `✗ fail`, ..., `… running`: at most 9 columns.
fn status_text(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "✓ pass",
        CheckStatus::Warn => "! warn",
        CheckStatus::Fail => "✗ fail",
        CheckStatus::Running => "… running",
        CheckStatus::Pending => "· pending",
    }
}

pub(crate) fn content(ctx: &Ctx, width: u16, fold: Fold, max_rows: usize) -> Content {
    let t = &ctx.theme;
    let w = width as usize;
    let Some(b) = ctx.state.battery.as_ref() else {
        let n = ctx.state.settings.checks.len();
        let hint = if n == 0 {
            "no checks configured (see [[checks]] in config.example.toml)".to_string()
        } else {
            format!(
                "no checks run yet: {} runs {n} check{} against the canary",
                ctx.state.settings.keymap.label(Command::RunChecks),
                if n == 1 { "" } else { "s" }
            )
        };
        return if fold == Fold::Full {
            Content {
                title: Line::from(Span::styled(" Checks ", t.title)),
                body: vec![Line::styled(ellipsize(&hint, w).into_owned(), t.dim)],
            }
        } else {
            Content {
                title: Line::from(vec![
                    Span::styled(" Checks ", t.title),
                    Span::styled(
                        format!(" {} ", ellipsize(&hint, w.saturating_sub(12))),
                        t.dim,
                    ),
                ]),
                body: vec![],
            }
        };
    };
    let title = title(ctx, b, w);
    if fold != Fold::Full {
        return Content {
            title,
            body: vec![],
        };
    }
    let mut body = rows(ctx, b, w);
    if body.len() > max_rows && max_rows > 0 {
        // Keep the first rows; the last one says what is hidden.
        let hidden = &b.rows[max_rows - 1..];
        let bad = hidden
            .iter()
            .filter(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Warn))
            .count();
        body.truncate(max_rows - 1);
        let more = if bad > 0 {
            format!("… {} more ({bad} not passing)", hidden.len())
        } else {
            format!("… {} more", hidden.len())
        };
        body.push(Line::styled(more, if bad > 0 { t.warn } else { t.dim }));
    }
    Content { title, body }
}

/// ` Checks  00043-kap · started 12s ago · 3/5 done · ✗ 1 blocking failure (metrics) `.
fn title(ctx: &Ctx, b: &Battery, w: usize) -> Line<'static> {
    let t = &ctx.theme;
    let total = b.rows.len();
    let count = |s: CheckStatus| b.rows.iter().filter(|r| r.status == s).count();
    let done = total - count(CheckStatus::Pending) - count(CheckStatus::Running);
    let blocking: Vec<&CheckRow> = b.blocking_failures();
    let warn = count(CheckStatus::Warn)
        + b.rows
            .iter()
            .filter(|r| r.status == CheckStatus::Fail && !r.info.blocking)
            .count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let when = match b.finished {
        Some(f) => format!(
            "done {} ago, took {}",
            age(ctx.secs_since(f)),
            hms((f - b.started).num_seconds())
        ),
        None => format!("started {} ago", hms(ctx.secs_since(b.started))),
    };
    let (summary, style) = if !blocking.is_empty() {
        let names = blocking
            .iter()
            .map(|r| r.info.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let n = blocking.len();
        let mut s = format!("✗ {n} blocking failure{} ({names})", plural(n));
        if warn > 0 {
            s.push_str(&format!(", {warn} warning{}", plural(warn)));
        }
        (s, t.error)
    } else if done < total {
        ("… running".to_string(), t.changing)
    } else if warn > 0 {
        (
            format!("! all pass, {warn} warning{}", plural(warn)),
            t.warn,
        )
    } else {
        ("✓ all pass".to_string(), t.ok)
    };
    // A battery that passed before the plan rolled back (or failed) on its
    // gates must not read as "all is well" now.
    let overtaken = ctx
        .state
        .plan
        .as_ref()
        .and_then(|p| match (&p.phase, p.finished) {
            (Phase::RolledBack { .. } | Phase::Failed { .. }, Some(end))
                if b.revision == p.canary && b.finished.is_some_and(|f| f <= end) =>
            {
                Some(p.phase.label())
            }
            _ => None,
        });
    let (summary, style) = match overtaken {
        Some(what) if blocking.is_empty() && done == total => (
            format!(
                "{} before the plan {what}: not a verdict on now",
                summary.trim_start_matches(['✓', '!', ' '])
            ),
            t.dim,
        ),
        _ => (summary, style),
    };
    let rev = format!(" {} ", ctx.short(&b.revision));
    let progress = format!(" {done}/{total} done ");
    let mut spans = vec![Span::styled(" Checks ", t.title), Span::styled(rev, t.bold)];
    let mut used: usize = spans.iter().map(Span::width).sum();
    if used + progress.chars().count() + summary.chars().count() + 2 + when.chars().count() + 2 <= w
    {
        spans.push(Span::styled(format!(" {when} "), t.dim));
        used += when.chars().count() + 2;
    }
    if used + progress.chars().count() + 12 <= w {
        used += progress.chars().count();
        spans.push(Span::styled(progress, t.text));
    }
    spans.push(Span::styled(
        format!(" {} ", ellipsize(&summary, w.saturating_sub(used + 2))),
        style,
    ));
    Line::from(spans)
}

/// `0.7333 vs > 0.8`, `503 vs 200`, `200` (measured only).
fn measured(r: &CheckRow) -> String {
    let Some(res) = &r.result else {
        return String::new();
    };
    match (&res.measured, &res.expected) {
        (Some(m), Some(e)) => format!("{m} vs {e}"),
        (Some(m), None) => m.clone(),
        (None, Some(e)) => format!("want {e}"),
        (None, None) => String::new(),
    }
}

fn duration(ctx: &Ctx, r: &CheckRow) -> String {
    match (&r.result, r.started) {
        (Some(res), _) => stopwatch(res.duration_ms()),
        (None, Some(s)) if r.status == CheckStatus::Running => {
            format!("{}…", hms(ctx.secs_since(s)))
        }
        _ => String::new(),
    }
}

fn rows(ctx: &Ctx, b: &Battery, w: usize) -> Vec<Line<'static>> {
    let t = &ctx.theme;
    let width = |f: &dyn Fn(&CheckRow) -> usize| b.rows.iter().map(f).max().unwrap_or(0);
    let name_w = width(&|r| r.info.name.chars().count()).clamp(4, 18);
    let kind_w = width(&|r| r.info.kind.chars().count()).min(16);
    let durs: Vec<String> = b.rows.iter().map(|r| duration(ctx, r)).collect();
    let dur_w = durs.iter().map(|d| d.chars().count()).max().unwrap_or(0);
    let meas: Vec<String> = b.rows.iter().map(measured).collect();
    let meas_w = meas
        .iter()
        .map(|m| m.chars().count())
        .max()
        .unwrap_or(0)
        .min(22);
    // status, name, blocking: always. Then kind, duration, measured, each
    // dropped (in that order) when the reason would get under 16 columns.
    let base = 9 + 2 + name_w + 2 + 5;
    let mut show_kind = kind_w > 0;
    let mut show_dur = dur_w > 0;
    let mut show_meas = meas_w > 0;
    let cols = |k: bool, d: bool, m: bool| {
        base + if k { 2 + kind_w } else { 0 }
            + if d { 2 + dur_w } else { 0 }
            + if m { 2 + meas_w } else { 0 }
    };
    let has_reason = b
        .rows
        .iter()
        .any(|r| r.result.as_ref().is_some_and(|x| !x.reason.is_empty()));
    let want_reason = if has_reason { 16 + 2 } else { 0 };
    if cols(show_kind, show_dur, show_meas) + want_reason > w {
        show_kind = false;
    }
    if cols(show_kind, show_dur, show_meas) + want_reason > w {
        show_dur = false;
    }
    if cols(show_kind, show_dur, show_meas) + want_reason > w {
        show_meas = false;
    }
    let used = cols(show_kind, show_dur, show_meas);
    let reason_w = w.saturating_sub(used + 2);
    b.rows
        .iter()
        .zip(durs.iter().zip(meas.iter()))
        .map(|(r, (d, m))| {
            let style = match r.status {
                CheckStatus::Pass => t.ok,
                CheckStatus::Warn => t.warn,
                CheckStatus::Fail if r.info.blocking => t.error,
                CheckStatus::Fail => t.warn,
                CheckStatus::Running => t.changing,
                CheckStatus::Pending => t.dim,
            };
            let quiet = if r.status == CheckStatus::Pending {
                t.dim
            } else {
                t.text
            };
            let mut v = vec![
                Span::styled(format!("{:<9}", status_text(r.status)), style),
                Span::raw("  "),
                Span::styled(
                    format!("{:<name_w$}", ellipsize(&r.info.name, name_w)),
                    quiet,
                ),
            ];
            if show_kind {
                v.push(Span::styled(
                    format!("  {:<kind_w$}", ellipsize(&r.info.kind, kind_w)),
                    t.dim,
                ));
            }
            v.push(Span::styled(
                if r.info.blocking {
                    "  block"
                } else {
                    "  warn "
                },
                t.dim,
            ));
            if show_dur {
                v.push(Span::styled(format!("  {d:>dur_w$}"), t.dim));
            }
            if show_meas {
                let ms = if matches!(r.status, CheckStatus::Fail | CheckStatus::Warn) {
                    style
                } else {
                    quiet
                };
                v.push(Span::styled(
                    format!("  {:<meas_w$}", ellipsize(m, meas_w)),
                    ms,
                ));
            }
            if let Some(res) = r.result.as_ref().filter(|x| !x.reason.is_empty()) {
                if reason_w > 3 {
                    v.push(Span::styled(
                        format!("  {}", ellipsize(&one_line(&res.reason), reason_w)),
                        t.dim,
                    ));
                }
            }
            Line::from(v)
        })
        .collect()
}

/// Reasons come from remote bodies: no control characters on screen.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
