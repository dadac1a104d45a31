//! One line: who and where on the left; badges and freshness on the right.
//! The right side is never cut: the location gives way first.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{ellipsize, Ctx};
use crate::core::duration::age;

pub(crate) fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let t = &ctx.theme;

    let mut right: Vec<Span> = Vec::new();
    if state.settings.demo {
        let label = match &state.settings.scenario {
            Some(s) => format!(" DEMO: {} ", ellipsize(s, 24)),
            None => " DEMO ".to_string(),
        };
        right.push(Span::styled(label, t.badge_demo));
        right.push(Span::raw(" "));
    }
    let owned = state
        .snapshot
        .as_ref()
        .is_some_and(|s| s.extra.read_only.is_some());
    if state.settings.read_only || owned {
        // Another controller owns the traffic: the Traffic panel says which.
        let badge = if state.settings.read_only {
            " READ-ONLY "
        } else {
            " READ-ONLY: another controller "
        };
        right.push(Span::styled(badge, t.badge_read_only));
        right.push(Span::raw(" "));
    }
    right.push(freshness(ctx));
    // An alarm (automatic rollback) until acknowledged: it takes what room
    // the badges leave, down to a third of the line for the service name.
    if let Some(a) = &state.alarm {
        let ack = state
            .settings
            .keymap
            .label(crate::core::keymap::Command::Acknowledge);
        // It wins over the platform and location; the service name stays.
        let used: usize = right.iter().map(Span::width).sum();
        let service = 6 + 3 + state.info.service.chars().count().min(24);
        let room = (area.width as usize).saturating_sub(used + service + 6);
        if room >= 12 {
            let text = format!("[{ack}] {}", a.text);
            right.insert(
                0,
                Span::styled(format!(" ⚠ {} ", ellipsize(&text, room)), t.badge_alarm),
            );
            right.insert(1, Span::raw(" "));
        }
    }
    let right_w: usize = right.iter().map(Span::width).sum();

    // Left: whole segments while they fit; only the location may be cut.
    let avail = (area.width as usize).saturating_sub(right_w + 1);
    let sep = Span::styled(" · ", t.dim);
    let mut left = vec![Span::styled("canary", t.app_name)];
    let mut used = 6;
    let service = state.info.service.as_str();
    let room = avail.saturating_sub(used + 3);
    if room > 0 {
        left.push(sep.clone());
        left.push(Span::styled(ellipsize(service, room).into_owned(), t.bold));
        used += 3 + service.chars().count().min(room);
    }
    let kind = state.info.kind.as_str();
    if used + 3 + kind.chars().count() <= avail {
        left.push(sep.clone());
        left.push(Span::raw(kind.to_string()));
        used += 3 + kind.chars().count();
        let room = avail.saturating_sub(used + 3);
        let loc = state.info.location.as_str();
        if room >= loc.chars().count().min(16) {
            left.push(sep);
            left.push(Span::styled(ellipsize(loc, room).into_owned(), t.dim));
        }
    }
    let left_area = Rect {
        width: avail.min(area.width as usize) as u16,
        ..area
    };
    frame.render_widget(Paragraph::new(Line::from(left)), left_area);
    // The right side is drawn last and right-aligned: badges and freshness
    // win over the location when space is short.
    frame.render_widget(Paragraph::new(Line::from(right)).right_aligned(), area);
}

/// `refreshed 2s ago`, or `service: ERROR 14s old` when the last read failed.
fn freshness(ctx: &Ctx) -> Span<'static> {
    let h = &ctx.state.service_health;
    let t = &ctx.theme;
    let last = h.age_secs(ctx.state.now);
    match (&h.error, last) {
        (Some(_), Some(s)) => Span::styled(format!("service: ERROR {} old", age(s)), t.error),
        (Some(_), None) => Span::styled("service: ERROR, never read", t.error),
        (None, Some(s)) if s >= 60 => Span::styled(format!("refreshed {} ago", age(s)), t.warn),
        (None, Some(s)) => Span::styled(format!("refreshed {} ago", age(s)), t.dim),
        (None, None) => Span::styled("loading…", t.dim),
    }
}
