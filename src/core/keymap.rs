//! Keys are data: a table from key to [`Command`] per mode, with defaults
//! shipped in `assets/keymap.toml` and overrides from the config's `[keys]`.
//! The help screen is generated from the same table.

use std::collections::BTreeMap;
use std::fmt;

use super::key::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// Declares every command once: its variant, its name in the config's
/// `[keys]` table and on the `:` command line, what it is (`writes`: changes
/// traffic, refused in read-only mode; `confirmation`: a key of the
/// confirmation dialog) and its line on the help screen. `Command::ALL`,
/// `name`, `describe`, `writes` and `in_confirmation` are generated from the
/// table, so the help screen, the `:` completion, the footer and the
/// read-only refusal cannot disagree. Adding a command: one line here, a key
/// in `assets/keymap.toml` (a test insists) and what it does in
/// `update::keys::command` (the compiler insists).
macro_rules! commands {
    ($( $variant:ident $name:literal $($flag:ident)* => $doc:literal, )*) => {
        /// A user intent, independent of the key that asked for it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Command {
            $( #[doc = $doc] $variant, )*
        }

        impl Command {
            /// Every command, in declaration order (the help screen's order).
            pub const ALL: [Command; [$(Command::$variant),*].len()] = [$(Command::$variant),*];

            /// The name used in the config's `[keys]` table.
            pub fn name(self) -> &'static str {
                match self {
                    $( Command::$variant => $name, )*
                }
            }

            /// One line for the help screen.
            pub fn describe(self) -> &'static str {
                match self {
                    $( Command::$variant => $doc, )*
                }
            }

            fn flags(self) -> Flags {
                match self {
                    $( Command::$variant => Flags { $($flag: true,)* ..Flags::NONE }, )*
                }
            }
        }
    };
}

/// What a command is, besides its name and description.
#[derive(Clone, Copy)]
struct Flags {
    /// Changes traffic: refused in read-only mode.
    writes: bool,
    /// A key of the confirmation dialog (its keys may repeat normal ones).
    confirmation: bool,
}

impl Flags {
    const NONE: Flags = Flags {
        writes: false,
        confirmation: false,
    };
}

commands! {
    SelectNext "select_next" => "select the next revision",
    SelectPrev "select_prev" => "select the previous revision",
    SelectFirst "select_first" => "select the first revision",
    SelectLast "select_last" => "select the last revision",
    Details "details"
        => "details of the selected revision: image, conditions, URLs, checks in full",
    CommandLine "command_line"
        => "command line: set canary=25, rollback, promote, plan start|pause|abort, q (Tab completes)",
    Journal "journal"
        => "history: the journal's traffic changes, plan and checks (w writes the report)",
    ShiftUp "shift_up" writes
        => "shift one traffic step from the stable to the selected",
    ShiftDown "shift_down" writes
        => "give one step of traffic back to the stable",
    SetSplit "set_split" writes => "set an exact split, e.g. canary=25",
    Promote "promote" writes => "promote the selected revision to 100 % (asks first)",
    Rollback "rollback" writes
        => "roll back: all traffic to the stable (asks first)",
    Advance "advance" writes
        => "start the plan / advance a step (needs green gates)",
    TogglePause "toggle_pause" writes => "pause / resume the promotion plan",
    Abort "abort" writes => "abort the plan: roll back (asks first)",
    RunChecks "run_checks" => "run the verification checks on the selected revision",
    Refresh "refresh" => "re-read the service now",
    FilterLogs "filter_logs" => "filter the log tail by text",
    ClearFilter "clear_filter" => "clear the log filter",
    ToggleFollow "toggle_follow" => "follow the log tail on/off",
    CycleSeverity "cycle_severity" => "cycle the minimum log severity",
    FocusLogs "focus_logs" => "log tail: the selected revision only / all revisions",
    ScrollLogsUp "scroll_logs_up" => "scroll the log tail up (stops following)",
    ScrollLogsDown "scroll_logs_down" => "scroll the log tail down",
    Acknowledge "acknowledge" => "acknowledge the alarm after an automatic rollback",
    Deploy "deploy" writes
        => "deploy a new revision: an image, no traffic, a tag (shows the exact call first)",
    DeleteRevision "delete_revision" writes
        => "delete the selected revision (asks to confirm; never one with traffic)",
    Help "help" => "show / hide this help",
    Quit "quit" => "quit",
    Confirm "confirm" confirmation => "confirm (in a confirmation)",
    Cancel "cancel" confirmation => "cancel (in a confirmation or input)",
    CopyCall "copy_call" confirmation
        => "copy the exact call (in a confirmation; OSC 52, and the diagnostic log)",
}

impl Command {
    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Commands of the confirmation dialog (their keys may repeat normal ones).
    pub fn in_confirmation(self) -> bool {
        self.flags().confirmation
    }

    /// Commands that write to the platform (refused in read-only mode).
    pub fn writes(self) -> bool {
        self.flags().writes
    }
}

/// A key as written in the config: `j`, `+`, `P`, `Down`, `Ctrl-c`, `Space`, `Esc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    code: KeyCodeOrd,
    ctrl: bool,
    alt: bool,
}

/// `KeyCode` is not `Ord`; this is the subset the keymap needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

const NAMED: [(&str, KeyCodeOrd); 14] = [
    ("Enter", KeyCodeOrd::Enter),
    ("Esc", KeyCodeOrd::Esc),
    ("Tab", KeyCodeOrd::Tab),
    ("BackTab", KeyCodeOrd::BackTab),
    ("Backspace", KeyCodeOrd::Backspace),
    ("Up", KeyCodeOrd::Up),
    ("Down", KeyCodeOrd::Down),
    ("Left", KeyCodeOrd::Left),
    ("Right", KeyCodeOrd::Right),
    ("PageUp", KeyCodeOrd::PageUp),
    ("PageDown", KeyCodeOrd::PageDown),
    ("Home", KeyCodeOrd::Home),
    ("End", KeyCodeOrd::End),
    ("Space", KeyCodeOrd::Char(' ')),
];

impl Key {
    pub fn char(c: char) -> Key {
        Key {
            code: KeyCodeOrd::Char(c),
            ctrl: false,
            alt: false,
        }
    }

    /// Parses `j`, `P`, `+`, `Down`, `Ctrl-c`, `Alt-x`, `F1`, `Space`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if rest.chars().count() > 1 {
                if let Some(r) = strip_prefix_ci(rest, "ctrl-") {
                    ctrl = true;
                    rest = r;
                    continue;
                }
                if let Some(r) = strip_prefix_ci(rest, "alt-") {
                    alt = true;
                    rest = r;
                    continue;
                }
            }
            break;
        }
        let code = if rest.chars().count() == 1 {
            let c = rest.chars().next().ok_or_else(|| "empty key".to_string())?;
            KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c })
        } else if let Some((_, code)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(rest)) {
            *code
        } else if let Some(n) = rest
            .strip_prefix(['F', 'f'])
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=12).contains(n))
        {
            KeyCodeOrd::F(n)
        } else {
            return Err(format!(
                "`{s}` is not a key: expected one character (`j`, `+`, `P`), a name ({}, F1..F12), optionally with `Ctrl-` or `Alt-`",
                NAMED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        };
        Ok(Key { code, ctrl, alt })
    }

    /// The key pressed, normalised (Shift is carried by the character itself).
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let alt = ev.modifiers.contains(KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("Space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "F{n}"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map_or("?", |(n, _)| *n);
                f.write_str(name)
            }
        }
    }
}

/// The default bindings, shipped as data.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// One or several keys for a command, as written in TOML.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyList::One(k) => vec![k.as_str()],
            KeyList::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

/// Why a `[keys]` entry was refused: the command name and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeymapError {
    pub command: String,
    pub message: String,
}

/// Key → command, for the normal mode and for confirmations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Command, Vec<Key>>,
}

impl Keymap {
    /// The shipped defaults.
    pub fn defaults() -> Keymap {
        let table: BTreeMap<String, KeyList> =
            toml::from_str(DEFAULT_KEYMAP).expect("assets/keymap.toml is valid (tested)");
        let mut km = Keymap {
            bindings: BTreeMap::new(),
        };
        km.apply(&table)
            .expect("assets/keymap.toml is valid (tested)");
        km
    }

    /// Defaults with the config's overrides: a command named in `overrides`
    /// gets exactly the keys listed there.
    pub fn with_overrides(overrides: &BTreeMap<String, KeyList>) -> Result<Keymap, KeymapError> {
        let mut km = Keymap::defaults();
        km.apply(overrides)?;
        km.check_conflicts()?;
        Ok(km)
    }

    fn apply(&mut self, table: &BTreeMap<String, KeyList>) -> Result<(), KeymapError> {
        for (name, list) in table {
            let cmd = Command::from_name(name).ok_or_else(|| KeymapError {
                command: name.clone(),
                message: format!(
                    "unknown command `{name}`; expected one of: {}",
                    Command::ALL.map(Command::name).join(", ")
                ),
            })?;
            let mut keys = Vec::new();
            for k in list.keys() {
                keys.push(Key::parse(k).map_err(|message| KeymapError {
                    command: name.clone(),
                    message,
                })?);
            }
            if keys.is_empty() {
                return Err(KeymapError {
                    command: name.clone(),
                    message: "at least one key is needed".into(),
                });
            }
            self.bindings.insert(cmd, keys);
        }
        Ok(())
    }

    /// Confirm/Cancel live in their own mode; every other key must be unique.
    fn check_conflicts(&self) -> Result<(), KeymapError> {
        let mut seen: BTreeMap<Key, Command> = BTreeMap::new();
        for (cmd, keys) in &self.bindings {
            if cmd.in_confirmation() {
                continue;
            }
            for k in keys {
                if let Some(other) = seen.insert(*k, *cmd) {
                    return Err(KeymapError {
                        command: cmd.name().into(),
                        message: format!("key `{k}` is already bound to `{}`", other.name()),
                    });
                }
            }
        }
        Ok(())
    }

    /// The command for a key in normal mode.
    pub fn normal(&self, ev: &KeyEvent) -> Option<Command> {
        let key = Key::from_event(ev)?;
        self.bindings
            .iter()
            .filter(|(c, _)| !c.in_confirmation())
            .find(|(_, ks)| ks.contains(&key))
            .map(|(c, _)| *c)
    }

    /// `Confirm`, `Cancel`, `CopyCall` or nothing, in a confirmation.
    pub fn confirm(&self, ev: &KeyEvent) -> Option<Command> {
        let key = Key::from_event(ev)?;
        [Command::Confirm, Command::Cancel, Command::CopyCall]
            .into_iter()
            .find(|c| self.keys(*c).contains(&key))
    }

    pub fn keys(&self, cmd: Command) -> &[Key] {
        self.bindings.get(&cmd).map_or(&[], Vec::as_slice)
    }

    /// A key as the help names it (`z`, `Ctrl-x`, `F5`), for "does nothing here".
    pub fn key_name(ev: &KeyEvent) -> Option<String> {
        Key::from_event(ev).map(|k| k.to_string())
    }

    /// `j/Down`: the keys of a command as the footer and help show them.
    pub fn label(&self, cmd: Command) -> String {
        self.keys(cmd)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every command with its keys, in a stable order, for the help screen.
    pub fn help_rows(&self) -> Vec<(String, &'static str)> {
        // Related keys share a row, so that every key fits an 80x24 terminal
        // (descriptions of at most 54 characters fit there uncut; a longer
        // one wraps).
        const GROUPS: [(&[Command], &str); 9] = [
            (
                &[Command::SelectNext, Command::SelectPrev],
                "select the next / previous revision",
            ),
            (
                &[Command::SelectFirst, Command::SelectLast],
                "select the first / last revision",
            ),
            (
                &[Command::ToggleFollow, Command::CycleSeverity],
                "log tail: follow on/off / cycle the minimum severity",
            ),
            (
                &[Command::FilterLogs, Command::ClearFilter],
                "filter the log tail by text / clear the filter",
            ),
            (
                &[Command::ScrollLogsUp, Command::ScrollLogsDown],
                "scroll the log tail up (stops following) / down",
            ),
            (
                &[Command::Help, Command::Quit],
                "show / hide this help / quit",
            ),
            (
                &[Command::Details, Command::Journal],
                "details of the selected revision / journal history",
            ),
            (
                &[Command::Confirm, Command::Cancel, Command::CopyCall],
                "in a confirmation: confirm / cancel / copy the call",
            ),
            (
                &[Command::Deploy, Command::DeleteRevision],
                "deploy a revision at 0 % / delete the selected one",
            ),
        ];
        let mut rows = Vec::with_capacity(Command::ALL.len());
        for c in Command::ALL {
            match GROUPS.iter().find(|(cmds, _)| cmds.contains(&c)) {
                Some((cmds, what)) if cmds[0] == c => {
                    let labels: Vec<String> = cmds.iter().map(|c| self.label(*c)).collect();
                    let sep = if labels.iter().any(|l| l.contains('/')) {
                        " · "
                    } else {
                        "/"
                    };
                    rows.push((labels.join(sep), *what));
                }
                Some(_) => {}
                None => rows.push((self.label(c), c.describe())),
            }
        }
        rows
    }
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_cover_every_command() {
        let km = Keymap::defaults();
        for c in Command::ALL {
            assert!(!km.keys(c).is_empty(), "{} has no key", c.name());
        }
        km.check_conflicts().expect("defaults have no conflicts");
    }

    /// Names are what the config and the command line type: unique, and
    /// round-trip through `from_name`.
    #[test]
    fn every_command_is_declared_once() {
        let names: std::collections::BTreeSet<&str> =
            Command::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), Command::ALL.len());
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name()), Some(c));
            assert!(!c.describe().is_empty(), "{}", c.name());
            assert!(!(c.writes() && c.in_confirmation()), "{}", c.name());
        }
    }

    #[test]
    fn shifted_letters_and_arrows() {
        let km = Keymap::defaults();
        assert_eq!(
            km.normal(&ev(KeyCode::Char('P'), KeyModifiers::SHIFT)),
            Some(Command::Promote)
        );
        assert_eq!(
            km.normal(&ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Command::SelectNext)
        );
        assert_eq!(
            km.normal(&ev(KeyCode::Char('+'), KeyModifiers::SHIFT)),
            Some(Command::ShiftUp)
        );
        assert_eq!(
            km.normal(&ev(KeyCode::Char('Z'), KeyModifiers::SHIFT)),
            None
        );
        assert_eq!(
            km.confirm(&ev(KeyCode::Char('y'), KeyModifiers::NONE)),
            Some(Command::Confirm)
        );
        assert_eq!(
            km.confirm(&ev(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Command::Cancel)
        );
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "j", "+", "P", "Down", "Ctrl-c", "Alt-x", "F5", "Space", "PageUp",
        ] {
            let k = Key::parse(s).expect(s);
            assert_eq!(k.to_string(), s);
        }
        assert!(Key::parse("Hyper-q").is_err());
        assert!(Key::parse("").is_err());
        assert!(Key::parse("F13").is_err());
    }

    #[test]
    fn overrides_replace_and_conflicts_are_refused() {
        let mut o = BTreeMap::new();
        o.insert("rollback".to_string(), KeyList::One("Z".into()));
        let km = Keymap::with_overrides(&o).expect("valid");
        assert_eq!(km.label(Command::Rollback), "Z");

        let mut bad = BTreeMap::new();
        bad.insert("rollback".to_string(), KeyList::One("j".into()));
        let err = Keymap::with_overrides(&bad).expect_err("conflict");
        assert!(err.message.contains("already bound"), "{err:?}");

        let mut unknown = BTreeMap::new();
        unknown.insert("launch_rockets".to_string(), KeyList::One("x".into()));
        let err = Keymap::with_overrides(&unknown).expect_err("unknown");
        assert_eq!(err.command, "launch_rockets");
    }
}
