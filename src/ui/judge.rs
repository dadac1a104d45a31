//! The statistical judge: its verdict on the panel's rule, then one line of
//! evidence per test (canary vs stable, the effect with its always-valid
//! interval, the statistic against its bound, the counts), the metrics lag
//! and how long until a verdict is likely.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{ellipsize, panel, Ctx};
use crate::core::duration;
use crate::core::judge::{text, JudgeMode, Outcome};

/// Rows the panel takes: none when the judge is off or has nothing to say,
/// the rule alone on short screens, the rule and two lines otherwise.
pub(crate) fn height(ctx: &Ctx, screen_h: u16) -> u16 {
    let st = ctx.state;
    if st.settings.judge.mode == JudgeMode::Off || st.judge.evidence.is_none() {
        return 0;
    }
    if screen_h >= 32 {
        3
    } else {
        1
    }
}

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let Some(ev) = ctx.state.judge.evidence.as_ref() else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let t = &ctx.theme;
    let w = area.width as usize;
    let style = match ev.outcome {
        Outcome::Pass => t.ok,
        Outcome::Fail => t.error,
        Outcome::Inconclusive => t.no_data,
    };
    let mark = match ev.outcome {
        Outcome::Pass => "✓",
        Outcome::Fail => "✗",
        Outcome::Inconclusive => "?",
    };
    let mut extra = Vec::new();
    if let Some(lag) = ev.lag_secs {
        extra.push(format!("lag {}", duration::two_units(lag)));
    }
    if let Some(eta) = text::eta(ev) {
        extra.push(eta);
    }
    extra.push(format!("α {}", ev.alpha));
    let head = format!(" {mark} {} ", text::verdict_label(ev));
    let used = 8 + head.chars().count();
    let tail = format!(" {} · {} ", ev.reason, extra.join(" · "));
    let title = Line::from(vec![
        Span::styled(" Judge ", t.title),
        Span::styled(head, style),
        Span::styled(
            ellipsize(&tail, w.saturating_sub(used + 2)).into_owned(),
            t.dim,
        ),
    ]);
    let block = panel(title, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let line = |test: &crate::core::judge::TestEvidence| {
        let s = match test.outcome {
            Outcome::Fail => t.error,
            Outcome::Pass => t.ok,
            Outcome::Inconclusive => t.text,
        };
        Line::from(Span::styled(
            ellipsize(&text::test_line(test), w).into_owned(),
            s,
        ))
    };
    let body = vec![line(&ev.errors), line(&ev.latency)];
    frame.render_widget(Paragraph::new(body), inner);
}
