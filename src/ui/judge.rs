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
    let versus = if ev.versus_baseline {
        format!("vs {} · ", text::versus(ev))
    } else {
        String::new()
    };
    let tail = format!(" {versus}{} · {} ", ev.reason, extra.join(" · "));
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
    let judge = &ctx.state.judge;
    // The time judged so far: the test's factor k says the data would have
    // to grow k times for a verdict, i.e. (k − 1) × this more.
    let judged_secs = match (judge.canary.first(), judge.canary.newest()) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    };
    let line = |test: &crate::core::judge::TestEvidence| {
        let s = match test.outcome {
            Outcome::Fail => t.error,
            Outcome::Pass => t.ok,
            Outcome::Inconclusive => t.text,
        };
        let mut spans = vec![Span::styled(text::test_line(test), s)];
        if let Some(eta) = row_eta(test, judged_secs) {
            spans.push(Span::styled(format!(" · {eta}"), t.dim));
        }
        Line::from(super::plan::clip(spans, w))
    };
    let body = vec![line(&ev.errors), line(&ev.latency)];
    frame.render_widget(Paragraph::new(body), inner);
}

/// How long until this test's verdict is likely, if its estimate held:
/// `verdict likely in ~4m10s` (only while it has none and can have one).
fn row_eta(test: &crate::core::judge::TestEvidence, judged_secs: f64) -> Option<String> {
    if !test.available || test.outcome != Outcome::Inconclusive || judged_secs <= 0.0 {
        return None;
    }
    let k = test.eta_factor?;
    let secs = (k - 1.0).max(0.0) * judged_secs;
    Some(format!("verdict likely in ~{}", duration::two_units(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::judge::TestEvidence;

    #[test]
    fn each_undecided_test_says_when_its_verdict_is_likely() {
        let t = TestEvidence {
            available: true,
            outcome: Outcome::Inconclusive,
            eta_factor: Some(3.0),
            ..TestEvidence::default()
        };
        // Twice as much again as the 60 s judged.
        assert_eq!(
            row_eta(&t, 60.0).as_deref(),
            Some("verdict likely in ~2m00s")
        );
        let decided = TestEvidence {
            outcome: Outcome::Fail,
            ..t.clone()
        };
        assert_eq!(row_eta(&decided, 60.0), None);
        let unavailable = TestEvidence {
            available: false,
            ..t.clone()
        };
        assert_eq!(row_eta(&unavailable, 60.0), None);
        let no_estimate = TestEvidence {
            eta_factor: None,
            ..t
        };
        assert_eq!(row_eta(&no_estimate, 60.0), None);
    }
}
