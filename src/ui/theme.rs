//! Every style the UI uses, built once per frame from the settings.
//!
//! Only the 16 named ANSI colours are used (never RGB or indexed colours), so
//! the cockpit looks the same in a 16-colour terminal, in tmux and over SSH.
//! With `color = false` (NO_COLOR) every style is made of modifiers only
//! (bold, reversed, dim, underlined) and revisions are told apart by their
//! fill pattern, so that no meaning is carried by colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::core::model::Severity;
use crate::core::state::{Level, Settings};

/// What a revision is to the operator; decides its colour and fill pattern
/// everywhere (traffic bar, table swatch, metrics, log tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Stable,
    Canary,
    /// Any other revision, numbered in table order.
    Other(usize),
}

impl Role {
    /// The word shown for the role (empty for other revisions).
    pub fn label(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Canary => "canary",
            Role::Other(_) => "",
        }
    }
}

/// Colours for revisions that are neither stable nor canary, in turn.
const OTHERS: [Color; 4] = [
    Color::Cyan,
    Color::LightYellow,
    Color::LightBlue,
    Color::Gray,
];

#[derive(Clone, Debug)]
pub struct Theme {
    pub color: bool,
    /// Plain text.
    pub text: Style,
    /// Secondary text: ages, units, placeholders, DEBUG lines.
    pub dim: Style,
    pub bold: Style,
    /// Panel titles.
    pub title: Style,
    /// Panel separators and popup borders.
    pub border: Style,
    /// Table column headers.
    pub column_header: Style,
    /// `canary` in the header.
    pub app_name: Style,
    pub badge_demo: Style,
    pub badge_read_only: Style,
    /// The header's alarm after an automatic rollback.
    pub badge_alarm: Style,
    /// Good news: ready ✓, fresh data.
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    /// The table row under the cursor.
    pub selected: Style,
    /// A share that is changing (`10% → 25%`, `applying…`).
    pub changing: Style,
    /// A metric value above its gate.
    pub over_gate: Style,
    /// The gate line and gate labels.
    pub gate: Style,
    pub no_data: Style,
    /// Keys in hints and in the help.
    pub key: Style,
    /// Exact API calls in a confirmation.
    pub call: Style,
    /// Border of the confirmation popup.
    pub confirm_border: Style,
    pub sev_error: Style,
    pub sev_warning: Style,
    pub sev_info: Style,
    pub sev_debug: Style,
    pub msg_info: Style,
    pub msg_warn: Style,
    pub msg_error: Style,
    /// The "a traffic change is in flight" indicator.
    pub in_flight: Style,
    /// The log tail is paused.
    pub paused: Style,
    /// A confidence band under a chart's lines (a shaded background; dim
    /// dots without colour).
    pub band: Style,
}

impl Theme {
    pub fn from_settings(settings: &Settings) -> Theme {
        let mut t = if settings.color {
            Theme::colored()
        } else {
            Theme::monochrome()
        };
        // Thresholds that only observe act on nothing: what is over them is
        // a warning on screen, never the alarm's style.
        if settings.gates.mode == crate::core::state::GatesMode::Observe {
            t.over_gate = t.warn;
            t.gate = t.dim;
        }
        t
    }

    fn colored() -> Theme {
        let s = Style::new();
        let bold = s.add_modifier(Modifier::BOLD);
        Theme {
            color: true,
            text: s,
            dim: s.fg(Color::DarkGray),
            bold,
            title: bold,
            border: s.fg(Color::DarkGray),
            column_header: s.fg(Color::Gray).add_modifier(Modifier::UNDERLINED),
            app_name: bold.fg(Color::LightGreen),
            badge_demo: bold.fg(Color::Black).bg(Color::LightMagenta),
            badge_read_only: bold.fg(Color::Black).bg(Color::LightYellow),
            badge_alarm: bold.fg(Color::White).bg(Color::Red),
            ok: s.fg(Color::Green),
            warn: s.fg(Color::Yellow),
            error: bold.fg(Color::LightRed),
            selected: bold.bg(Color::DarkGray),
            changing: bold.fg(Color::Yellow),
            over_gate: bold.fg(Color::LightRed),
            gate: s.fg(Color::Red),
            no_data: s.fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
            key: bold.fg(Color::Cyan),
            call: s.fg(Color::LightCyan),
            confirm_border: bold.fg(Color::Yellow),
            sev_error: s.fg(Color::Red),
            sev_warning: s.fg(Color::Yellow),
            sev_info: s,
            sev_debug: s.fg(Color::DarkGray),
            msg_info: s.fg(Color::Green),
            msg_warn: bold.fg(Color::Yellow),
            msg_error: bold.fg(Color::LightRed),
            in_flight: bold.fg(Color::Black).bg(Color::Yellow),
            paused: bold.fg(Color::Yellow),
            band: s.bg(Color::DarkGray),
        }
    }

    fn monochrome() -> Theme {
        let s = Style::new();
        let bold = s.add_modifier(Modifier::BOLD);
        let dim = s.add_modifier(Modifier::DIM);
        let rev = bold.add_modifier(Modifier::REVERSED);
        Theme {
            color: false,
            text: s,
            dim,
            bold,
            title: bold,
            border: dim,
            column_header: s.add_modifier(Modifier::UNDERLINED),
            app_name: bold,
            badge_demo: rev,
            badge_read_only: rev,
            badge_alarm: rev,
            ok: s,
            warn: bold,
            error: rev,
            selected: bold,
            changing: bold,
            over_gate: rev,
            gate: dim,
            no_data: dim,
            key: bold,
            call: bold,
            confirm_border: bold,
            sev_error: bold,
            sev_warning: s.add_modifier(Modifier::UNDERLINED),
            sev_info: s,
            sev_debug: dim,
            msg_info: s,
            msg_warn: bold,
            msg_error: rev,
            in_flight: rev,
            paused: rev,
            band: dim,
        }
    }

    /// The style of a revision's swatch, bar segment and sparkline.
    pub fn revision(&self, role: Role) -> Style {
        if !self.color {
            return Style::new();
        }
        Style::new().fg(role_color(role))
    }

    /// A label drawn on top of a revision's bar segment.
    pub fn revision_label(&self, role: Role) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(role_color(role))
                .add_modifier(Modifier::BOLD)
        } else if role == Role::Stable {
            // Text on the solid stable fill must be reversed to be readable.
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// The character that fills a revision's bar segment and swatch: solid
    /// in colour; a distinct pattern per role without colour.
    pub fn fill(&self, role: Role) -> char {
        match (self.color, role) {
            (true, _) | (false, Role::Stable) => '█',
            (false, Role::Canary) => '▒',
            (false, Role::Other(_)) => '░',
        }
    }

    /// Log severities: ERROR and above red, WARNING yellow, INFO default, DEBUG dim.
    pub fn severity(&self, sev: Severity) -> Style {
        match sev {
            Severity::Error | Severity::Critical | Severity::Alert | Severity::Emergency => {
                self.sev_error
            }
            Severity::Warning => self.sev_warning,
            Severity::Info | Severity::Notice => self.sev_info,
            Severity::Default | Severity::Debug => self.sev_debug,
        }
    }

    pub fn message(&self, level: Level) -> Style {
        match level {
            Level::Info => self.msg_info,
            Level::Warn => self.msg_warn,
            Level::Error => self.msg_error,
        }
    }
}

fn role_color(role: Role) -> Color {
    match role {
        Role::Stable => Color::Blue,
        Role::Canary => Color::Magenta,
        Role::Other(i) => OTHERS[i % OTHERS.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_that_only_observe_are_never_drawn_as_the_alarm() {
        let mut settings = Settings::default();
        let acting = Theme::from_settings(&settings);
        assert_eq!(acting.over_gate.fg, Some(Color::LightRed));
        settings.gates.mode = crate::core::state::GatesMode::Observe;
        let t = Theme::from_settings(&settings);
        assert_eq!(t.over_gate, t.warn);
        assert_ne!(t.gate.fg, Some(Color::Red));
        settings.color = false;
        let mono = Theme::from_settings(&settings);
        assert_eq!(mono.over_gate, mono.warn);
        assert!(!mono.over_gate.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn monochrome_has_no_colour_anywhere() {
        let t = Theme::monochrome();
        let styles = [
            t.text,
            t.dim,
            t.badge_demo,
            t.badge_read_only,
            t.badge_alarm,
            t.error,
            t.over_gate,
            t.key,
            t.in_flight,
            t.revision(Role::Canary),
            t.revision_label(Role::Stable),
            t.severity(Severity::Error),
        ];
        for s in styles {
            assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
        }
        assert_ne!(t.fill(Role::Stable), t.fill(Role::Canary));
    }
}
