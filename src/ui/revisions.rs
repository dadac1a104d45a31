//! The revisions table: cursor, name, role, tag, image, age, ready, traffic.
//!
//! Traffic reads `90%` when settled, `10% → 25%` while a change is in flight
//! (serving → pending) or while the platform converges (serving → target).

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{ellipsize, panel, Ctx};
use crate::core::duration::age;
use crate::core::model::{Revision, ServiceSnapshot};

const SPACING: u16 = 1;
const CURSOR: &str = "▶ ";

/// Rows wanted for the panel, given at most `max` rows.
pub(crate) fn height(ctx: &Ctx, max: u16) -> u16 {
    let n = ctx.state.revisions().len().max(1) as u16;
    let mut want = 2 + n;
    if let Some(r) = ctx.state.selected_revision() {
        if !r.ready || (r.tag_url.is_some() && max >= want + 13) {
            want += 1;
        }
    }
    want.min(max.max(3))
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let t = &ctx.theme;
    let block = panel(title(ctx), t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(snap) = state.snapshot.as_ref() else {
        let msg = if state.service_health.error.is_some() {
            "the service could not be read yet (see the header)"
        } else {
            "reading the service…"
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, t.dim)), inner);
        return;
    };
    if inner.height == 0 {
        return;
    }

    // A detail line for the selected revision: why it is not ready, or its tag URL.
    let detail = state.selected_revision().and_then(|r| {
        if r.details.deploying && !r.ready {
            Some(super::release::progress_line(ctx, r))
        } else if !r.ready {
            let why = r.status_message.as_deref().unwrap_or("no reason given");
            Some(Line::from(vec![
                Span::raw("  └ "),
                Span::styled(format!("✗ not ready: {why}"), t.error),
            ]))
        } else {
            let rows_needed = 1 + snap.revisions.len() as u16 + 1;
            let url = r.tag_url.as_deref()?;
            (inner.height >= rows_needed).then(|| {
                Line::from(vec![
                    Span::styled("  └ tag URL ", t.dim),
                    Span::raw(url.to_string()),
                ])
            })
        }
    });
    let table_area = if detail.is_some() && inner.height >= 3 {
        let d = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        if let Some(line) = detail {
            frame.render_widget(Paragraph::new(line), d);
        }
        Rect {
            height: inner.height - 1,
            ..inner
        }
    } else {
        inner
    };
    table(frame, table_area, ctx, snap);
}

fn title(ctx: &Ctx) -> Line<'static> {
    let state = ctx.state;
    let t = &ctx.theme;
    let mut spans = vec![Span::styled(
        format!(" Revisions ({}) ", state.revisions().len()),
        t.title,
    )];
    if let Some(c) = &state.change {
        spans.push(Span::styled(
            format!(
                " applying {}… {} ",
                c.kind.verb(),
                age(ctx.secs_since(c.started))
            ),
            t.changing,
        ));
    }
    if let Some(q) = &state.queued {
        spans.push(Span::styled(
            format!(" queued: {} ", ctx.split_text(&q.split)),
            t.warn,
        ));
    }
    spans.extend(super::release::title_spans(ctx));
    if let Some(msg) = state.snapshot.as_ref().and_then(|s| s.message.as_deref()) {
        spans.push(Span::styled(format!(" platform: {msg} "), t.warn));
    }
    if let Some((err, _)) = &state.service_health.error {
        spans.push(Span::styled(format!(" refresh failed: {err} "), t.error));
    }
    Line::from(spans)
}

/// `90%`, or `10% → 25%` when the share is moving.
fn traffic_cell(ctx: &Ctx, snap: &ServiceSnapshot, name: &str) -> (String, bool) {
    let serving = snap.serving().percent_of(name);
    let target = snap.traffic.percent_of(name);
    let to = match &ctx.state.change {
        Some(c) => c.split.percent_of(name),
        None => target,
    };
    if serving != to {
        (format!("{serving:>3}% → {to:>3}%"), true)
    } else {
        (format!("{to:>3}%"), false)
    }
}

/// `emergence:deploy-20261120-094000`, or only `deploy-20261120-094000` when narrow.
fn short_image(image: &str, width: usize) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.chars().count() <= width {
        return last.to_string();
    }
    let tail = last
        .split_once('@')
        .map(|(_, d)| d)
        .or_else(|| last.split_once(':').map(|(_, t)| t))
        .unwrap_or(last);
    ellipsize(tail, width).into_owned()
}

struct Col {
    header: &'static str,
    width: u16,
    /// Lower goes first when the table is too wide.
    keep: u8,
    flexible: bool,
}

impl Col {
    fn new(header: &'static str, width: u16, keep: u8) -> Col {
        Col {
            header,
            width,
            keep,
            flexible: false,
        }
    }
}

/// `stable`, the tag (the canary's is usually `canary…`), or both
/// (`stable blue`, `canary green`). A
/// revision with no role shows its tag as a tag (`tag canary`): after a
/// deploy, the old canary keeps its `canary` tag while the new one is the
/// canary, and the column must not show two canaries.
fn role_tag(ctx: &Ctx, r: &Revision) -> String {
    let role = ctx.role(&r.name).label();
    match (role, r.tag.as_deref()) {
        ("", None) => String::new(),
        ("", Some(tag)) => format!("tag {tag}"),
        (role, None) => role.to_string(),
        (role, Some(tag)) if tag == role => role.to_string(),
        // `canary-20261130` says it already; `green` does not.
        ("canary", Some(tag)) if tag.starts_with("canary") => tag.to_string(),
        (role, Some(tag)) => format!("{role} {tag}"),
    }
}

fn table(frame: &mut Frame, area: Rect, ctx: &Ctx, snap: &ServiceSnapshot) {
    let state = ctx.state;
    let t = &ctx.theme;
    let revs: &[Revision] = &snap.revisions;
    let cells: Vec<(String, bool)> = revs
        .iter()
        .map(|r| traffic_cell(ctx, snap, &r.name))
        .collect();
    let roles: Vec<String> = revs.iter().map(|r| role_tag(ctx, r)).collect();
    let any_change = cells.iter().any(|c| c.1) && state.change.is_some()
        || revs
            .iter()
            .any(|r| super::release::row_note(ctx, r).is_some());
    let maxw = |it: &mut dyn Iterator<Item = usize>| it.max().unwrap_or(0) as u16;
    let name_w = maxw(&mut revs.iter().map(|r| r.name.chars().count())).clamp(8, 40);
    // A dated tag (`canary-20261130-2`) whole.
    let role_w = maxw(&mut roles.iter().map(|s| s.chars().count())).min(24);
    let image_w = maxw(
        &mut revs
            .iter()
            .map(|r| short_image(&r.image, usize::MAX).chars().count()),
    );
    let traffic_w = maxw(&mut cells.iter().map(|c| c.0.chars().count()));

    let mut cols = vec![
        Col::new("", 1, 9),
        Col::new("revision", name_w, 9),
        Col::new("role", if role_w == 0 { 0 } else { role_w.max(4) }, 3),
        Col {
            flexible: true,
            ..Col::new("image", image_w.max(5), 1)
        },
        Col::new("age", 4, 2),
        Col::new("ready", 5, 8),
        Col::new("traffic", traffic_w.max(7), 9),
        Col::new("", if any_change { 9 } else { 0 }, 4),
    ];
    fit_columns(
        &mut cols,
        area.width.saturating_sub(CURSOR.chars().count() as u16),
    );

    let shown = |i: &usize| cols[*i].width > 0;
    let header = Row::new(
        cols.iter()
            .enumerate()
            .filter(|(i, _)| shown(i))
            .map(|(_, c)| Cell::from(c.header)),
    )
    .style(t.column_header);
    // Only the rows that fit are built (a service may keep hundreds of
    // revisions); the window scrolls just enough to show the cursor, as
    // ratatui's own scrolling from offset 0 would.
    let fit = area.height.saturating_sub(1).max(1) as usize;
    let selected = state.selected_index();
    let first = selected.map_or(0, |i| (i + 1).saturating_sub(fit));
    let rows = revs
        .iter()
        .zip(&cells)
        .zip(roles)
        .skip(first)
        .take(fit)
        .map(|((r, (traffic, moving)), role_tag)| {
            let role = ctx.role(&r.name);
            let (ready, ready_style) = if r.ready {
                ("✓", t.ok)
            } else if r.details.deploying {
                ("…", t.changing)
            } else {
                ("✗", t.error)
            };
            let applying = *moving && state.change.is_some();
            let values: [Cell; 8] = [
                Cell::from(ctx.swatch(&r.name)),
                Cell::from(Span::styled(
                    ellipsize(&r.name, cols[1].width as usize).into_owned(),
                    t.revision(role),
                )),
                Cell::from(Span::styled(role_tag, t.bold)),
                Cell::from(Span::styled(
                    short_image(&r.image, cols[3].width as usize),
                    t.dim,
                )),
                Cell::from(format!("{:>4}", age(ctx.secs_since(r.created)))),
                Cell::from(Span::styled(format!("  {ready}"), ready_style)),
                Cell::from(Span::styled(
                    traffic.clone(),
                    if *moving { t.changing } else { t.text },
                )),
                Cell::from(match super::release::row_note(ctx, r) {
                    Some(note) => note,
                    None => Span::styled(if applying { "applying…" } else { "" }, t.changing),
                }),
            ];
            Row::new(
                values
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| shown(i))
                    .map(|(_, c)| c),
            )
        });
    let widths: Vec<Constraint> = cols
        .iter()
        .filter(|c| c.width > 0)
        .map(|c| Constraint::Length(c.width))
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(SPACING)
        .highlight_symbol(CURSOR)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(t.selected);
    let mut ts = TableState::default().with_selected(selected.map(|i| i - first));
    frame.render_stateful_widget(table, area, &mut ts);
}

/// Shrinks the flexible column (down to 10 wide), then drops the least
/// important columns until the table fits.
fn fit_columns(cols: &mut [Col], avail: u16) {
    let total = |cols: &[Col]| -> u16 {
        let shown = cols.iter().filter(|c| c.width > 0).count() as u16;
        cols.iter().map(|c| c.width).sum::<u16>() + SPACING * shown.saturating_sub(1)
    };
    loop {
        let over = total(cols).saturating_sub(avail);
        if over == 0 {
            return;
        }
        if let Some(flex) = cols.iter_mut().find(|c| c.flexible && c.width > 10) {
            flex.width = flex.width.saturating_sub(over).max(10);
            continue;
        }
        let victim = cols
            .iter_mut()
            .filter(|c| c.width > 0 && c.keep < 9)
            .min_by_key(|c| c.keep);
        match victim {
            Some(v) => v.width = 0,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_shortened() {
        let img = "europe-west1-docker.pkg.dev/p/app/emergence:deploy-20261120-094000";
        assert_eq!(short_image(img, 80), "emergence:deploy-20261120-094000");
        assert_eq!(short_image(img, 22), "deploy-20261120-094000");
        assert_eq!(short_image(img, 10), "deploy-20…");
        assert_eq!(short_image("a/b@sha256:abcdef", 8), "sha256:…");
    }
}
