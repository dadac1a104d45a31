//! The release on screen: the deploy / delete / prune confirmation with
//! the exact calls, the deploying row (its conditions as they progress),
//! and the revisions panel's word on a deploy or deletion in flight.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::{ellipsize, token_wrap, Ctx};
use crate::core::details::ConditionState;
use crate::core::duration::age;
use crate::core::model::Revision;
use crate::core::release::{ReleaseConfirm, ReleaseOp};

/// The note in a revision's last column: deploying, or failed.
pub(crate) fn row_note(ctx: &Ctx, r: &Revision) -> Option<Span<'static>> {
    let t = &ctx.theme;
    if r.details.deploying && !r.ready {
        return Some(Span::styled("deploying", t.changing));
    }
    if crate::core::release::failed(r) {
        return Some(Span::styled("failed", t.error));
    }
    let deleting = ctx
        .state
        .release
        .delete
        .as_ref()
        .is_some_and(|d| d.revisions.contains(&r.name) && !d.done.contains(&r.name));
    deleting.then(|| Span::styled("deleting", t.changing))
}

/// `└ deploying: image import ✓ · container healthy … · ready …`.
pub(crate) fn progress_line(ctx: &Ctx, r: &Revision) -> Line<'static> {
    let t = &ctx.theme;
    let mut spans = vec![Span::styled("  └ deploying: ", t.changing)];
    if r.details.conditions.is_empty() {
        spans.push(Span::styled("waiting for the platform…", t.dim));
    }
    for (i, c) in r.details.conditions.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", t.dim));
        }
        let (mark, style) = match c.state {
            ConditionState::Ok => ("✓", t.ok),
            ConditionState::Pending => ("…", t.changing),
            ConditionState::Failed => ("✗", t.error),
        };
        spans.push(Span::raw(format!("{} ", c.label())));
        spans.push(Span::styled(mark, style));
    }
    if let Some(m) = r
        .details
        .conditions
        .iter()
        .find(|c| c.state == ConditionState::Pending && c.message.is_some())
        .and_then(|c| c.message.clone())
    {
        spans.push(Span::styled(format!("  {m}"), t.dim));
    }
    Line::from(spans)
}

/// The revisions panel's title: a deploy or a deletion in flight.
pub(crate) fn title_spans(ctx: &Ctx) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let mut out = Vec::new();
    if let Some(d) = &ctx.state.release.deploy {
        out.push(Span::styled(
            format!(
                " deploying {} (tag {})… {} ",
                ctx.short(&d.request.revision),
                d.request.tag,
                age(ctx.secs_since(d.started))
            ),
            t.changing,
        ));
    }
    if let Some(d) = &ctx.state.release.delete {
        out.push(Span::styled(
            format!(
                " deleting {} of {}… {} ",
                d.done.len() + 1,
                d.revisions.len(),
                age(ctx.secs_since(d.started))
            ),
            t.changing,
        ));
    }
    out
}

/// What is being confirmed, in words.
fn headline(ctx: &Ctx, c: &ReleaseConfirm) -> (&'static str, String) {
    match &c.op {
        ReleaseOp::Deploy(d) => (
            "DEPLOY",
            format!(
                "a new revision {} with no traffic, tag {}",
                ctx.short(&d.revision),
                d.tag
            ),
        ),
        ReleaseOp::Prune(revs) => (
            "PRUNE",
            format!(
                "delete {} old revision{}",
                revs.len(),
                if revs.len() == 1 { "" } else { "s" }
            ),
        ),
        ReleaseOp::Delete(revs) if revs.len() == 1 => {
            ("DELETE", format!("the revision {}", revs[0]))
        }
        ReleaseOp::Delete(revs) => ("PRUNE", format!("delete {} old revisions", revs.len())),
    }
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx, c: &ReleaseConfirm) {
    use super::confirm::{badge_line, draw_popup, exact_calls, keys_line};
    let t = &ctx.theme;
    let w = area.width.saturating_sub(4).clamp(20, 110).min(area.width);
    let inner_w = w.saturating_sub(4) as usize;
    let (kind, what) = headline(ctx, c);
    let mut lines: Vec<Line> = vec![badge_line(ctx, kind, &what, inner_w), Line::raw("")];
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("  {name:<9} "), t.dim),
            Span::styled(
                ellipsize(&value, inner_w.saturating_sub(12)).into_owned(),
                t.text,
            ),
        ])
    };
    match &c.op {
        ReleaseOp::Deploy(d) => {
            lines.push(field("revision", d.revision.clone()));
            lines.push(field("image", d.image.clone()));
            lines.push(field("tag", format!("{} (0 %)", d.tag)));
            if !d.env.is_empty() {
                lines.push(field("env", d.env_keys().join(", ")));
            }
        }
        ReleaseOp::Delete(revs) | ReleaseOp::Prune(revs) => {
            for r in revs {
                lines.push(Line::from(vec![
                    Span::raw("  "),
                    ctx.swatch(r),
                    Span::raw(" "),
                    Span::styled(r.clone(), t.text),
                ]));
            }
        }
    }
    if !c.notes.is_empty() {
        lines.push(Line::raw(""));
    }
    for note in &c.notes {
        for (i, chunk) in token_wrap(note, inner_w.saturating_sub(2))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { "· " } else { "  " };
            lines.push(Line::styled(format!("{lead}{chunk}"), t.warn));
        }
    }
    lines.push(Line::raw(""));
    lines.extend(exact_calls(ctx, &c.preview, inner_w));
    lines.push(Line::raw(""));
    // A long request body is cut before the keys are: they stay visible.
    let room = area.height.saturating_sub(2) as usize;
    if lines.len() + 1 > room {
        lines.truncate(room.saturating_sub(2));
        lines.push(Line::styled(
            "  … (a taller terminal shows the whole request)",
            t.dim,
        ));
    }
    lines.push(keys_line(ctx, c.unprompted));
    draw_popup(frame, area, ctx, kind, w, lines);
}
