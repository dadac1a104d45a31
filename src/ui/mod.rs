//! Drawing: [`render`] reads the [`State`] and nothing else. No I/O, no clock
//! (ages are computed against `state.now`), no mutation.
//!
//! One screen, top to bottom:
//!
//! ```text
//! header      canary · service · platform · location      DEMO READ-ONLY  refreshed 2s ago
//! revisions   cursor, name, role, tag, image, age, ready, traffic (10% → 25% while applying)
//! traffic     stacked bar per split: serving / actual vs target / pending
//! plan+checks the promotion plan and the latest verification battery (see [`band`])
//! judge       the statistical judge: verdict, evidence per test, lag, ETA
//! metrics     per revision: req/s, 5xx %, p95 ms sparklines against the gates
//! logs        the tail, newest at the bottom, filtered, follow or paused
//! footer      last message, in-flight change, key hints of the current mode
//! ```
//!
//! Popups (help, confirmation) and the input box are drawn on top.

mod checks;
mod compare;
mod confirm;
mod describe;
mod detail;
mod footer;
mod header;
mod help;
mod history;
mod input;
mod judge;
mod logs;
mod metrics;
mod plan;
mod release;
mod revisions;
mod sparkline;
pub mod theme;
mod traffic;

use std::borrow::Cow;
use std::collections::HashMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use crate::core::model::TrafficSplit;
use crate::core::state::{Mode, State};
use theme::{Role, Theme};

/// Below this size the cockpit shows a message instead of a cramped screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Draws the whole screen for `state`. Never panics, whatever the size.
pub fn render(frame: &mut Frame, state: &State) {
    let area = frame.area();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let mut ctx = Ctx::new(state);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, &ctx);
        return;
    }

    let footer_h = if area.height >= 20 { 2 } else { 1 };
    let fixed = 1 + footer_h;
    let traffic_h = traffic::height(&ctx);
    let band = band(&ctx, area);
    ctx.plan_in_footer = band.plan_folded;
    let judge_h = judge::height(&ctx, area.height);
    let body = area
        .height
        .saturating_sub(fixed + traffic_h + band.height + judge_h);
    // A service that keeps many revisions must not squeeze the metrics and
    // logs: the table gets at most a third of the body (it scrolls).
    let rev_h =
        revisions::height(&ctx, body.saturating_sub(3 + logs::MIN_HEIGHT)).min((body / 3).max(7));
    let rest = body.saturating_sub(rev_h);
    let (metrics_h, metrics_shape) = metrics::plan(&ctx, area.width, rest);

    let [header_a, rev_a, traffic_a, band_a, judge_a, metrics_a, logs_a, footer_a] =
        Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(rev_h),
            Constraint::Length(traffic_h),
            Constraint::Length(band.height),
            Constraint::Length(judge_h),
            Constraint::Length(metrics_h),
            Constraint::Fill(1),
            Constraint::Length(footer_h),
        ])
        .areas(area);

    header::render(frame, header_a, &ctx);
    revisions::render(frame, rev_a, &ctx);
    traffic::render(frame, traffic_a, &ctx);
    band.render(frame, band_a, &ctx);
    judge::render(frame, judge_a, &ctx);
    metrics::render(frame, metrics_a, &ctx, metrics_shape);
    logs::render(frame, logs_a, &ctx);
    footer::render(frame, footer_a, &ctx);

    match &state.mode {
        Mode::Normal => {}
        Mode::Help { scroll } => help::render(frame, area, &ctx, *scroll),
        Mode::Journal(v) => history::render(frame, area, &ctx, v),
        Mode::Detail { revision, scroll } => detail::render(frame, area, &ctx, revision, *scroll),
        Mode::Confirm(c) => confirm::render(frame, area, &ctx, c),
        Mode::Release(c) => release::render(frame, area, &ctx, c),
        Mode::Input(i) => input::render(frame, logs_a.union(footer_a), &ctx, i),
    }
}

/// How much of a panel is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Only the title rule, carrying a one-line summary.
    Line,
    /// A few lines (80x24).
    Compact,
    /// Everything (120x40 and larger).
    Full,
}

/// A panel's text: the title on the top rule, then the body lines.
pub(crate) struct Content {
    pub title: Line<'static>,
    pub body: Vec<Line<'static>>,
}

impl Content {
    fn height(&self) -> u16 {
        1 + self.body.len() as u16
    }

    fn render(self, frame: &mut Frame, area: Rect, theme: &Theme) {
        if area.height == 0 || area.width == 0 {
            return;
        }
        let block = panel(self.title, theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(Paragraph::new(self.body), inner);
    }
}

/// The Plan and Checks panels, between the traffic bar and the metrics.
///
/// - 150 columns and 34 rows or more: side by side and full, when a plan or
///   a battery exists (the Checks panel gets the wider part: its rows carry
///   measured values and reasons).
/// - 34 rows or more (120x40): stacked; the Plan in 3 lines (title with the
///   phase and policy; timeline and window; gates and keys), the Checks
///   panel with one row per check (capped, the last row saying what is
///   hidden), or one-line hints when there is no plan / no battery.
/// - 20 rows or more (80x24): the Plan in 3 lines while it runs, else 1;
///   the Checks panel as a one-line summary, only when a battery exists.
/// - smaller: neither; the footer carries the plan's phase.
struct Band {
    plan: Option<Content>,
    checks: Option<Content>,
    /// Plan and checks next to each other (the plan column's width), else stacked.
    side_by_side: Option<u16>,
    height: u16,
    /// The plan runs but its panel is not on screen.
    plan_folded: bool,
}

/// Columns of the Plan panel when side by side.
fn side_plan_width(w: u16) -> u16 {
    (w * 2 / 5).clamp(56, 72).min(w)
}

fn band(ctx: &Ctx, area: Rect) -> Band {
    let state = ctx.state;
    let active = state.plan.as_ref().is_some_and(|p| !p.phase.is_finished());
    let w = area.width;
    let max_rows = (area.height / 5).clamp(4, 12) as usize;
    if area.height >= 34 {
        if w >= 150 && (state.plan.is_some() || state.battery.is_some()) {
            // The plan column takes what its lines need (down to 48), the
            // checks the rest: on a wide screen their reasons are not cut
            // next to a half-empty plan column.
            let widest = plan::content(ctx, side_plan_width(w), Fold::Full)
                .body
                .iter()
                .map(Line::width)
                .max()
                .unwrap_or(0) as u16;
            let plan_w = (widest + 2).clamp(48, side_plan_width(w));
            let plan = plan::content(ctx, plan_w, Fold::Full);
            let checks = checks::content(ctx, w - plan_w - 1, Fold::Full, max_rows);
            let rows = plan.body.len().max(checks.body.len()).min(max_rows) as u16;
            return Band {
                plan: Some(plan),
                checks: Some(checks),
                side_by_side: Some(plan_w),
                height: 1 + rows,
                plan_folded: false,
            };
        }
        let plan = plan::content(ctx, w, Fold::Compact);
        let fold = if state.battery.is_some() {
            Fold::Full
        } else {
            Fold::Line
        };
        let checks = checks::content(ctx, w, fold, max_rows);
        return Band {
            height: plan.height() + checks.height(),
            plan: Some(plan),
            checks: Some(checks),
            side_by_side: None,
            plan_folded: false,
        };
    }
    if area.height >= 20 {
        let plan = plan::content(ctx, w, Fold::Compact);
        let checks = state
            .battery
            .is_some()
            .then(|| checks::content(ctx, w, Fold::Line, 0));
        return Band {
            height: plan.height() + checks.as_ref().map_or(0, Content::height),
            plan: Some(plan),
            checks,
            side_by_side: None,
            plan_folded: false,
        };
    }
    Band {
        plan: None,
        checks: None,
        side_by_side: None,
        height: 0,
        plan_folded: active,
    }
}

impl Band {
    fn render(self, frame: &mut Frame, area: Rect, ctx: &Ctx) {
        let t = &ctx.theme;
        if let Some(plan_w) = self.side_by_side {
            let [plan_a, _, checks_a] = Layout::horizontal([
                Constraint::Length(plan_w),
                Constraint::Length(1),
                Constraint::Fill(1),
            ])
            .areas(area);
            if let Some(p) = self.plan {
                p.render(frame, plan_a, t);
            }
            if let Some(c) = self.checks {
                c.render(frame, checks_a, t);
            }
            return;
        }
        let plan_h = self
            .plan
            .as_ref()
            .map_or(0, Content::height)
            .min(area.height);
        let [plan_a, checks_a] =
            Layout::vertical([Constraint::Length(plan_h), Constraint::Fill(1)]).areas(area);
        if let Some(p) = self.plan {
            p.render(frame, plan_a, t);
        }
        if let Some(c) = self.checks {
            c.render(frame, checks_a, t);
        }
    }
}

fn too_small(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let text = vec![
        Line::styled("terminal too small", ctx.theme.warn),
        Line::from(format!(
            "need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
            area.width, area.height
        )),
        Line::styled(
            format!(
                "{} to quit",
                ctx.state
                    .settings
                    .keymap
                    .label(crate::core::keymap::Command::Quit)
            ),
            ctx.theme.dim,
        ),
    ];
    let top = area.height.saturating_sub(3) / 2;
    let area = Rect {
        y: area.y + top,
        height: area.height - top,
        ..area
    };
    frame.render_widget(
        Paragraph::new(text).centered().wrap(Wrap { trim: true }),
        area,
    );
}

/// What every panel needs: the state, the theme, and who is who.
pub(crate) struct Ctx<'a> {
    pub state: &'a State,
    pub theme: Theme,
    /// Revision name → role, in table order, plus revisions only seen in a split.
    roles: Vec<(&'a str, Role)>,
    /// The same, indexed: `role()` is called per row and per split entry, and
    /// a linear search made a frame quadratic in the number of revisions.
    role_of: HashMap<&'a str, Role>,
    /// Prefix stripped from revision names to shorten them (`service-`).
    prefix: String,
    /// The plan runs but has no panel on screen: the footer says its phase.
    pub plan_in_footer: bool,
}

impl<'a> Ctx<'a> {
    fn new(state: &'a State) -> Ctx<'a> {
        let theme = Theme::from_settings(&state.settings);
        let revs = state.revisions();
        // One rule for who is who (core::roles), decided in `update`.
        let stable = state.stable();
        let canary = state.canary();
        let mut roles: Vec<(&str, Role)> = Vec::with_capacity(revs.len() + 2);
        let mut role_of: HashMap<&str, Role> = HashMap::with_capacity(revs.len() + 2);
        let mut others = 0;
        let mut push = |name: &'a str| {
            if role_of.contains_key(name) {
                return;
            }
            let role = if Some(name) == stable {
                Role::Stable
            } else if Some(name) == canary {
                Role::Canary
            } else {
                others += 1;
                Role::Other(others - 1)
            };
            roles.push((name, role));
            role_of.insert(name, role);
        };
        for r in revs {
            push(&r.name);
        }
        // Revisions named by a split but missing from the list still get a colour.
        let splits = [
            state.snapshot.as_ref().map(|s| &s.traffic),
            state.snapshot.as_ref().and_then(|s| s.actual.as_ref()),
            state.change.as_ref().map(|c| &c.split),
        ];
        for split in splits.into_iter().flatten() {
            for a in split.entries() {
                push(&a.revision);
            }
        }
        if let Some(s) = stable {
            push(s);
        }
        let service = state
            .snapshot
            .as_ref()
            .map_or(state.info.service.as_str(), |s| s.service.as_str());
        Ctx {
            state,
            theme,
            roles,
            role_of,
            prefix: format!("{service}-"),
            plan_in_footer: false,
        }
    }

    pub fn role(&self, name: &str) -> Role {
        self.role_of.get(name).copied().unwrap_or(Role::Other(0))
    }

    /// Revisions in table order with their roles.
    pub fn roles(&self) -> impl Iterator<Item = (&'a str, Role)> + '_ {
        self.roles.iter().copied()
    }

    /// `emergence-app-00042-xuv` → `00042-xuv` (the service prefix removed).
    pub fn short<'n>(&self, name: &'n str) -> &'n str {
        match name.strip_prefix(self.prefix.as_str()) {
            Some(rest) if !rest.is_empty() => rest,
            _ => name,
        }
    }

    /// `stable` / `canary` / the short name: how a revision is called in tight spots.
    pub fn nick<'n>(&self, name: &'n str) -> &'n str {
        match self.role(name).label() {
            "" => self.short(name),
            label => label,
        }
    }

    /// A swatch in the revision's colour and fill pattern.
    pub fn swatch(&self, name: &str) -> Span<'static> {
        let role = self.role(name);
        Span::styled(self.theme.fill(role).to_string(), self.theme.revision(role))
    }

    /// `stable 75% · canary 25%`.
    pub fn split_text(&self, split: &TrafficSplit) -> String {
        split
            .entries()
            .iter()
            .map(|a| format!("{} {}%", self.nick(&a.revision), a.percent))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// Seconds from `t` to `state.now`, never negative.
    pub fn secs_since(&self, t: chrono::DateTime<chrono::Utc>) -> i64 {
        (self.state.now - t).num_seconds().max(0)
    }
}

/// Cuts `s` to `max` characters, ending with `…` when cut.
pub(crate) fn ellipsize(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().nth(max).is_none() {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    Cow::Owned(out)
}

/// A panel: a top rule carrying the title, no side borders (saves columns at 80x24).
pub(crate) fn panel<'t>(title: Line<'t>, theme: &Theme) -> Block<'t> {
    Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(title)
}

/// A centered rectangle of at most `w` x `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Wraps at token boundaries: spaces first, then after the commas of a long
/// token (`--to-revisions=a=90,b=10`), and only a piece still wider than the
/// line is cut. A copied call then reads whole, and no revision or region
/// name is split across two lines.
pub(crate) fn token_wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    // (piece, glued to the next: the pieces of one long token join without a space)
    let mut pieces: Vec<(String, bool)> = Vec::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        if word.chars().count() <= width {
            pieces.push((word.to_string(), false));
            continue;
        }
        // A long token: break after its flag's `=` and its commas, glued
        // back while they fit.
        let (flag, value) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (format!("{f}="), v),
            _ => (String::new(), word),
        };
        let mut cur = flag;
        for part in value.split_inclusive(',') {
            if !cur.is_empty() && cur.chars().count() + part.chars().count() > width {
                pieces.push((std::mem::take(&mut cur), true));
            }
            cur.push_str(part);
        }
        if !cur.is_empty() {
            pieces.push((cur, false));
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut glue = false;
    for (p, glued) in pieces {
        // Pieces of one token join without a space; words with one.
        let sep = if glue || line.is_empty() { "" } else { " " };
        glue = glued;
        if !line.is_empty() && line.chars().count() + sep.len() + p.chars().count() > width {
            lines.push(std::mem::take(&mut line));
            line.push_str(&p);
        } else {
            line.push_str(sep);
            line.push_str(&p);
        }
        while line.chars().count() > width {
            let head: String = line.chars().take(width).collect();
            let rest: String = line.chars().skip(width).collect();
            lines.push(head);
            line = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_ellipsis() {
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abcd", 4), "abcd");
        assert_eq!(ellipsize("abcd", 0), "");
    }

    #[test]
    fn calls_wrap_at_tokens_never_inside_a_name() {
        let call = "gcloud run services update-traffic emergence-app \
                    --to-revisions=emergence-app-00042-xuv=90,emergence-app-00043-kaw=10 \
                    --region=europe-west1 --project=demo-project";
        for width in [30, 40, 50, 72, 100] {
            let lines = token_wrap(call, width);
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{lines:?}"
            );
            // Joined back (a space between words, none after a comma) it is the call.
            let mut back = String::new();
            for l in &lines {
                let flag = back
                    .rsplit(' ')
                    .next()
                    .is_some_and(|w| w.starts_with("--") && w.ends_with('='));
                if !back.is_empty() && !back.ends_with(',') && !flag {
                    back.push(' ');
                }
                back.push_str(l);
            }
            assert_eq!(back, call, "{width}: {lines:?}");
            for name in [
                "emergence-app-00042-xuv=90,",
                "emergence-app-00043-kaw=10",
                "--region=europe-west1",
            ] {
                assert!(
                    lines.iter().any(|l| l.contains(name)),
                    "{width}: {name} cut: {lines:?}"
                );
            }
        }
    }
}
