//! A revision's description on screen: the lines of
//! [`crate::core::describe::Description::lines`] (the same that `canary
//! describe` prints), styled by tone.

use ratatui::text::{Line, Span};

use super::Ctx;
use crate::core::describe::{describe, Tone};

pub(crate) fn lines(ctx: &Ctx, name: &str) -> Vec<Line<'static>> {
    let state = ctx.state;
    let t = &ctx.theme;
    let Some(snap) = state.snapshot.as_ref() else {
        return vec![Line::raw("the service has not been read yet")];
    };
    let d = match describe(snap, name, &state.roles) {
        Ok(d) => d,
        Err(e) => return vec![Line::raw(e)],
    };
    d.lines(state.now)
        .into_iter()
        .flat_map(|l| {
            let style = match l.tone {
                Tone::Heading => t.bold,
                Tone::Normal => t.text,
                Tone::Good => t.ok,
                Tone::Bad => t.error,
                Tone::Pending => t.changing,
                Tone::Dim => t.dim,
            };
            let line = if l.tone == Tone::Heading {
                Line::styled(l.value, style)
            } else {
                Line::from(vec![
                    Span::styled(format!("{:<12} ", l.label), t.dim),
                    Span::styled(l.value, style),
                ])
            };
            // A blank line before each heading.
            let gap = (l.tone == Tone::Heading).then(|| Line::raw(""));
            gap.into_iter().chain(std::iter::once(line))
        })
        .collect()
}
