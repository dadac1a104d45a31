//! Key presses as the core sees them. The shape is crossterm's (a code,
//! modifiers, press or release), but the type is the core's own: the core
//! does not depend on the terminal library. The runtime converts crossterm's
//! events at the edge (`runtime/terminal.rs`); tests and benches build these
//! directly.

use std::ops::BitOr;

/// One key event: which key, with which modifiers, pressed or released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyEvent {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
    pub kind: KeyEventKind,
}

impl KeyEvent {
    /// A press of `code` with `modifiers`.
    pub const fn new(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
        }
    }
}

/// Which key. A shifted letter arrives as its capital (`Char('P')`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyCode {
    Char(char),
    /// F1..F12 (and beyond, when the terminal reports them).
    F(u8),
    Enter,
    Esc,
    Tab,
    /// Shift-Tab.
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    /// Any other key (media keys, a lone modifier, Caps Lock, ...): it
    /// means nothing to the cockpit.
    Other,
}

/// Shift, Control and Alt, as a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyModifiers(u8);

impl KeyModifiers {
    pub const NONE: KeyModifiers = KeyModifiers(0);
    pub const SHIFT: KeyModifiers = KeyModifiers(1);
    pub const CONTROL: KeyModifiers = KeyModifiers(1 << 1);
    pub const ALT: KeyModifiers = KeyModifiers(1 << 2);

    /// Whether every modifier of `other` is held.
    pub const fn contains(self, other: KeyModifiers) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for KeyModifiers {
    type Output = KeyModifiers;

    fn bitor(self, rhs: KeyModifiers) -> KeyModifiers {
        KeyModifiers(self.0 | rhs.0)
    }
}

/// Pressed, repeated (held down) or released. Terminals that report
/// releases (Windows, the kitty protocol) send one after every press.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyEventKind {
    Press,
    Repeat,
    Release,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modifiers_are_a_set() {
        let both = KeyModifiers::CONTROL | KeyModifiers::ALT;
        assert!(both.contains(KeyModifiers::CONTROL));
        assert!(both.contains(KeyModifiers::ALT));
        assert!(!both.contains(KeyModifiers::SHIFT));
        assert!(both.contains(KeyModifiers::NONE));
        assert!(KeyModifiers::NONE.is_empty());
        assert!(!both.is_empty());
        assert_eq!(KeyModifiers::default(), KeyModifiers::NONE);
    }
}
