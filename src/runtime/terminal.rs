//! Terminal setup and restore. The terminal is restored on every way out:
//! normal exit, error, panic (hook), and signals (the event loop ends).

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::core::key;

static ACTIVE: AtomicBool = AtomicBool::new(false);

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Raw mode, alternate screen, bracketed paste, hidden cursor; installs a
/// panic hook that restores the terminal before the panic message prints.
pub fn setup() -> io::Result<Term> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    ) {
        restore();
        return Err(e);
    }
    let backend = CrosstermBackend::new(io::stdout());
    match Terminal::new(backend) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Leaves the terminal as it was. Safe to call twice and when the terminal is
/// gone (SIGHUP after an SSH drop): errors are ignored.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Terminal input as a stream, read by one dedicated thread with crossterm's
/// blocking `read()` and handed over through a channel: every event read is
/// sent, in order, and the event loop never polls the terminal itself.
pub fn input_events() -> impl futures::Stream<Item = io::Result<crossterm::event::Event>> + Unpin {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let spawned = std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || loop {
            let ev = crossterm::event::read();
            let failed = ev.is_err();
            if tx.blocking_send(ev).is_err() || failed {
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the terminal input thread");
    }
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// crossterm's key events become the core's at the edge: the core does not
/// know the terminal library. Modifiers the cockpit does not read (Super,
/// Hyper, Meta) and keys it has no use for (media keys, Caps Lock) are dropped.
impl From<crossterm::event::KeyEvent> for key::KeyEvent {
    fn from(ev: crossterm::event::KeyEvent) -> key::KeyEvent {
        use crossterm::event::{KeyCode as C, KeyEventKind as K, KeyModifiers as M};
        let code = match ev.code {
            C::Char(c) => key::KeyCode::Char(c),
            C::F(n) => key::KeyCode::F(n),
            C::Enter => key::KeyCode::Enter,
            C::Esc => key::KeyCode::Esc,
            C::Tab => key::KeyCode::Tab,
            C::BackTab => key::KeyCode::BackTab,
            C::Backspace => key::KeyCode::Backspace,
            C::Delete => key::KeyCode::Delete,
            C::Insert => key::KeyCode::Insert,
            C::Up => key::KeyCode::Up,
            C::Down => key::KeyCode::Down,
            C::Left => key::KeyCode::Left,
            C::Right => key::KeyCode::Right,
            C::Home => key::KeyCode::Home,
            C::End => key::KeyCode::End,
            C::PageUp => key::KeyCode::PageUp,
            C::PageDown => key::KeyCode::PageDown,
            _ => key::KeyCode::Other,
        };
        let mut modifiers = key::KeyModifiers::NONE;
        for (theirs, ours) in [
            (M::SHIFT, key::KeyModifiers::SHIFT),
            (M::CONTROL, key::KeyModifiers::CONTROL),
            (M::ALT, key::KeyModifiers::ALT),
        ] {
            if ev.modifiers.contains(theirs) {
                modifiers = modifiers | ours;
            }
        }
        let kind = match ev.kind {
            K::Press => key::KeyEventKind::Press,
            K::Repeat => key::KeyEventKind::Repeat,
            K::Release => key::KeyEventKind::Release,
        };
        key::KeyEvent {
            code,
            modifiers,
            kind,
        }
    }
}

/// Puts `text` on the clipboard of the terminal (and of the machine the SSH
/// client runs on) with OSC 52, when stdout is a terminal; always writes it
/// to the diagnostic log too, for terminals that ignore OSC 52.
pub fn copy_to_clipboard(text: &str) {
    use std::io::{IsTerminal, Write};
    tracing::info!(text = %text, "copied (OSC 52)");
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
        let _ = out.flush();
    }
}

/// Standard base64 with padding (OSC 52's payload); small enough to own.
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), enc, "{plain}");
        }
    }

    #[test]
    fn crossterm_keys_become_the_cores() {
        use crate::core::key;
        use crossterm::event::{
            KeyCode as C, KeyEvent as E, KeyEventKind as K, KeyEventState, KeyModifiers as M,
        };
        let ev = |code, modifiers, kind| E {
            code,
            modifiers,
            kind,
            state: KeyEventState::NONE,
        };
        assert_eq!(
            key::KeyEvent::from(ev(C::Char('P'), M::SHIFT, K::Press)),
            key::KeyEvent::new(key::KeyCode::Char('P'), key::KeyModifiers::SHIFT)
        );
        let ctrl_alt =
            key::KeyEvent::from(ev(C::Char('c'), M::CONTROL | M::ALT | M::SUPER, K::Repeat));
        assert_eq!(
            ctrl_alt,
            key::KeyEvent {
                code: key::KeyCode::Char('c'),
                modifiers: key::KeyModifiers::CONTROL | key::KeyModifiers::ALT,
                kind: key::KeyEventKind::Repeat,
            }
        );
        assert_eq!(
            key::KeyEvent::from(ev(C::F(5), M::NONE, K::Release)).kind,
            key::KeyEventKind::Release
        );
        for (theirs, ours) in [
            (C::Enter, key::KeyCode::Enter),
            (C::Esc, key::KeyCode::Esc),
            (C::BackTab, key::KeyCode::BackTab),
            (C::Delete, key::KeyCode::Delete),
            (C::PageDown, key::KeyCode::PageDown),
            (C::CapsLock, key::KeyCode::Other),
            (C::Null, key::KeyCode::Other),
        ] {
            assert_eq!(
                key::KeyEvent::from(ev(theirs, M::NONE, K::Press)).code,
                ours
            );
        }
    }

    /// The input box's editor gets the same input from the core's key as
    /// tui-textarea's own conversion of crossterm's key made before.
    #[test]
    fn the_editor_reads_the_cores_keys_as_it_read_crossterms() {
        use crate::core::state::editor_input;
        use crossterm::event::{
            KeyCode as C, KeyEvent as E, KeyEventKind as K, KeyEventState, KeyModifiers as M,
        };
        let codes = [
            C::Char('a'),
            C::Char('W'),
            C::Backspace,
            C::Enter,
            C::Left,
            C::Right,
            C::Up,
            C::Down,
            C::Home,
            C::End,
            C::PageUp,
            C::PageDown,
            C::Tab,
            C::BackTab,
            C::Delete,
            C::Insert,
            C::F(3),
            C::Null,
            C::Esc,
            C::CapsLock,
        ];
        let mods = [
            M::NONE,
            M::SHIFT,
            M::CONTROL,
            M::ALT,
            M::CONTROL | M::ALT | M::SHIFT,
        ];
        for code in codes {
            for modifiers in mods {
                for kind in [K::Press, K::Repeat, K::Release] {
                    let ev = E {
                        code,
                        modifiers,
                        kind,
                        state: KeyEventState::NONE,
                    };
                    assert_eq!(
                        editor_input(ev.into()),
                        tui_textarea::Input::from(ev),
                        "{ev:?}"
                    );
                }
            }
        }
    }
}
