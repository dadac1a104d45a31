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
}
