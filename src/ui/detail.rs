//! The detail view (Enter on a revision): everything the cockpit knows about
//! it, nothing cut — long values wrap, the view scrolls (j/k, PageUp/Down).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::core::duration::age;
use crate::core::model::MetricKind;
use crate::core::state::CheckStatus;

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, revision: &str, scroll: u16) {
    let t = &ctx.theme;
    let w = area.width.saturating_sub(4).max(20);
    let lines = lines(ctx, revision, w.saturating_sub(2));
    let h = area.height.saturating_sub(2).max(5);
    let popup = super::centered(area, w, h);
    // Never scrolled past the end (long values wrap, so this is a floor).
    let scroll = scroll.min(lines.len().saturating_sub(1) as u16);
    let block = Block::bordered()
        .border_style(t.bold)
        .title(Span::styled(format!(" {} ", ctx.short(revision)), t.title))
        .title_bottom(
            Line::styled(
                " j/k, PageUp/PageDown scroll · any other key closes ",
                t.dim,
            )
            .right_aligned(),
        );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        popup,
    );
}

fn field(ctx: &Ctx, name: &str, value: String, width: u16) -> Vec<Line<'static>> {
    super::describe::labelled(name, &value, (ctx.theme.dim, ctx.theme.text), width)
}

fn heading(ctx: &Ctx, text: &str) -> Line<'static> {
    Line::styled(text.to_string(), ctx.theme.bold)
}

fn lines(ctx: &Ctx, name: &str, width: u16) -> Vec<Line<'static>> {
    let state = ctx.state;
    let mut out = Vec::new();
    let Some(snap) = state.snapshot.as_ref() else {
        return vec![Line::raw("the service has not been read yet")];
    };
    let Some(r) = snap.revision(name) else {
        return vec![Line::raw(format!("{name} is no longer in the service"))];
    };
    // What `canary describe` prints: image, digest, creator, conditions,
    // environment (secret references by name only), resources, the diff.
    out.extend(super::describe::lines(ctx, name, width));
    if let Some(from) = state
        .roles
        .stable_from
        .filter(|_| state.stable() == Some(r.name.as_str()))
    {
        out.extend(field(
            ctx,
            "stable from",
            from.describe().to_string(),
            width,
        ));
    }
    if let Some(c) = &state.change {
        out.extend(field(
            ctx,
            "in flight",
            format!(
                "{} {} → {} % ({} ago)",
                c.kind.verb(),
                crate::core::action::ChangeNo(c.id),
                c.split.percent_of(name),
                age(ctx.secs_since(c.started))
            ),
            width,
        ));
    }

    out.push(Line::raw(""));
    out.push(heading(
        ctx,
        "Metrics (newest point · mean over the gates' window)",
    ));
    let window = state.settings.gates.window;
    let since = chrono::Duration::from_std(window)
        .ok()
        .map(|w| state.now - w);
    for kind in MetricKind::ALL {
        let series = state.metrics.series.get(&(name.to_string(), kind));
        let newest = series.and_then(|s| s.last());
        let recent: Vec<f64> = series
            .map(|s| {
                s.points
                    .iter()
                    .filter(|(t, v)| since.is_none_or(|x| *t >= x) && v.is_finite())
                    .map(|(_, v)| *v)
                    .collect()
            })
            .unwrap_or_default();
        let mean = (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64);
        let fmt = |v: Option<f64>| v.map_or("no data".to_string(), |v| format!("{v:.2}"));
        out.extend(field(
            ctx,
            kind.label(),
            format!(
                "{} · mean {} over {} points",
                fmt(newest),
                fmt(mean),
                recent.len()
            ),
            width,
        ));
    }

    out.push(Line::raw(""));
    match state.battery.as_ref().filter(|b| b.revision == name) {
        None => out.push(heading(ctx, "Checks: none run on this revision yet")),
        Some(b) => {
            let when = match b.finished {
                Some(f) => format!(
                    "started {}, finished {} ({} ago)",
                    b.started.format("%H:%M:%S"),
                    f.format("%H:%M:%S"),
                    age(ctx.secs_since(f))
                ),
                None => format!("started {}, running", b.started.format("%H:%M:%S")),
            };
            out.push(heading(ctx, &format!("Checks ({when})")));
            for row in &b.rows {
                let style = match row.status {
                    CheckStatus::Pass => ctx.theme.ok,
                    CheckStatus::Fail if row.info.blocking => ctx.theme.error,
                    CheckStatus::Fail | CheckStatus::Warn => ctx.theme.warn,
                    _ => ctx.theme.dim,
                };
                let what = if row.info.blocking {
                    "blocking"
                } else {
                    "warning only"
                };
                out.push(Line::from(vec![
                    Span::styled(format!("{:<8}", row.status.as_str()), style),
                    Span::styled(
                        format!("{} ({}, {what})", row.info.name, row.info.kind),
                        ctx.theme.bold,
                    ),
                ]));
                if let Some(res) = &row.result {
                    let measured = match (&res.measured, &res.expected) {
                        (Some(m), Some(e)) => format!("{m} (expected {e})"),
                        (Some(m), None) => m.clone(),
                        (None, Some(e)) => format!("nothing measured; expected {e}"),
                        (None, None) => "—".into(),
                    };
                    out.extend(field(ctx, "  measured", measured, width));
                    out.extend(field(
                        ctx,
                        "  took",
                        format!("{} ms", res.duration_ms()),
                        width,
                    ));
                    out.extend(field(ctx, "  reason", res.reason.clone(), width));
                }
            }
        }
    }
    out
}
