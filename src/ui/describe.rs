//! A revision's description on screen: the lines of
//! [`crate::core::describe::Description::lines`] (the same that `canary
//! describe` prints), styled by tone.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Ctx;
use crate::core::describe::{describe, Tone};

/// `width`: the columns the lines are shown in (long values wrap under
/// their value, not back at the label's column).
pub(crate) fn lines(ctx: &Ctx, name: &str, width: u16) -> Vec<Line<'static>> {
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
            let lines = if l.tone == Tone::Heading {
                vec![Line::styled(l.value, style)]
            } else {
                labelled(&l.label, &l.value, (t.dim, style), width)
            };
            // A blank line before each heading.
            let gap = (l.tone == Tone::Heading).then(|| Line::raw(""));
            gap.into_iter().chain(lines)
        })
        .collect()
}

/// The label's column: 12 characters and a space.
const LABEL: usize = 13;

/// `label  value`, the value wrapped ([`super::token_wrap`]) to `width`
/// columns with a hanging indent under its first character. Styles:
/// (label, value).
pub(crate) fn labelled(
    label: &str,
    value: &str,
    (label_style, value_style): (Style, Style),
    width: u16,
) -> Vec<Line<'static>> {
    let room = usize::from(width).saturating_sub(LABEL).max(10);
    let mut rows = super::token_wrap(value, room);
    if rows.is_empty() {
        rows.push(String::new());
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let head = if i == 0 {
                format!("{label:<12} ")
            } else {
                " ".repeat(LABEL)
            };
            Line::from(vec![
                Span::styled(head, label_style),
                Span::styled(row, value_style),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn long_values_wrap_under_the_value() {
        let s = Style::default();
        let lines = labelled(
            "image",
            "europe-west1-docker.pkg.dev/acme/app/emergence:deploy-20261130 (canary cockpit)",
            (s, s),
            40,
        );
        let t = text(&lines);
        assert_eq!(
            t,
            vec![
                "image        europe-west1-docker.pkg.dev",
                "             /acme/app/emergence:deploy-",
                "             20261130 (canary cockpit)",
            ],
            "{t:#?}"
        );
        assert!(t.iter().all(|l| Span::raw(l.as_str()).width() <= 40));
        let short = text(&labelled("tag", "green", (s, s), 40));
        assert_eq!(short, vec!["tag          green"]);
        let words = text(&labelled(
            "why",
            "the image cannot be pulled today",
            (s, s),
            30,
        ));
        assert_eq!(
            words,
            vec![
                "why          the image cannot",
                "             be pulled today",
            ]
        );
    }
}
