//! HAProxy's Runtime API (the stats socket): one command per connection, in
//! non-interactive mode: connect, write `COMMAND\n`, read the reply until HAProxy
//! closes the connection. Replies are text; a command that succeeds without
//! output answers with an empty line, an error is a line of text.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::core::error::BackendError;

/// The most of a reply read (a `show stat` of a big backend is a few hundred KiB).
pub const MAX_REPLY: usize = 8 << 20;

/// Where the Runtime API listens (`stats socket` in HAProxy's global section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socket {
    /// `stats socket /run/haproxy/admin.sock level admin`.
    Unix(PathBuf),
    /// `stats socket ipv4@127.0.0.1:9999 level admin`: `host:port`.
    Tcp(String),
}

impl Socket {
    /// A path (`/run/haproxy.sock`, `run/admin.sock`, `admin.sock`), `unix:///path` or
    /// `unix:/path` → Unix; `tcp://host:port` or `host:port` → TCP.
    pub fn parse(s: &str) -> Result<Socket, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the HAProxy socket is empty: give a path or tcp://host:port".into());
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            return Socket::tcp(rest);
        }
        if let Some(rest) = s
            .strip_prefix("unix://")
            .or_else(|| s.strip_prefix("unix:"))
        {
            return Ok(Socket::Unix(PathBuf::from(rest)));
        }
        if s.contains("://") {
            return Err(format!(
                "HAProxy socket `{s}`: only unix paths and tcp://host:port are supported"
            ));
        }
        if s.contains('/') || s.ends_with(".sock") {
            return Ok(Socket::Unix(PathBuf::from(s)));
        }
        Socket::tcp(s)
    }

    fn tcp(addr: &str) -> Result<Socket, String> {
        match addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Socket::Tcp(addr.to_string()))
            }
            _ => Err(format!(
                "HAProxy socket `{addr}`: expected host:port (e.g. tcp://127.0.0.1:9999)"
            )),
        }
    }
}

impl fmt::Display for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Socket::Unix(p) => write!(f, "{}", p.display()),
            Socket::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Whether `name` may go into a command: HAProxy names are letters, digits and
/// `-_.:`; anything else (spaces, `;`, newlines) could change the command.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A client for one socket.
#[derive(Clone, Debug)]
pub struct RuntimeApi {
    pub socket: Socket,
    pub timeout: Duration,
}

/// Said of a command whose connection broke after it was written: HAProxy
/// may or may not have carried it out.
pub(super) const MIDWAY: &str = "failed midway";

/// Whether `e`, from [`RuntimeApi::send`], leaves open that the command was
/// carried out (it timed out, or the connection broke after it was written).
pub(super) fn maybe_carried_out(e: &BackendError) -> bool {
    match e {
        BackendError::Timeout(_) => true,
        BackendError::Unavailable { message, .. } => message.contains(MIDWAY),
        _ => false,
    }
}

impl RuntimeApi {
    /// Sends one command and returns the whole reply. Never retries: a command
    /// that changes something is sent at most once.
    pub async fn send(&self, command: &str) -> Result<String, BackendError> {
        if command.contains(['\n', '\r', ';']) {
            return Err(BackendError::Other(format!(
                "refusing to send `{}` to HAProxy: it holds a separator",
                command.escape_debug()
            )));
        }
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(self.timeout, self.exchange(command))
            .await
            .map_err(|_| BackendError::Timeout(self.timeout))?;
        tracing::debug!(socket = %self.socket, command, elapsed_ms = started.elapsed().as_millis() as u64, ok = out.is_ok(), "haproxy runtime api");
        out
    }

    async fn exchange(&self, command: &str) -> Result<String, BackendError> {
        match &self.socket {
            Socket::Unix(path) => {
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(&e))?;
                self.talk(stream, command).await
            }
            Socket::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|e| self.connect_error(&e))?;
                self.talk(stream, command).await
            }
        }
    }

    async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        command: &str,
    ) -> Result<String, BackendError> {
        let io_err = |e: io::Error| BackendError::Unavailable {
            message: format!("HAProxy socket {}: `{command}` {MIDWAY}: {e}", self.socket),
            retry_after: None,
        };
        stream
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(io_err)?;
        stream.flush().await.map_err(io_err)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(io_err)?;
            if n == 0 {
                break;
            }
            if buf.len() + n > MAX_REPLY {
                return Err(BackendError::Other(format!(
                    "HAProxy socket {}: the reply to `{command}` is larger than {} MiB",
                    self.socket,
                    MAX_REPLY >> 20
                )));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn connect_error(&self, e: &io::Error) -> BackendError {
        let s = &self.socket;
        match (s, e.kind()) {
            (Socket::Unix(_), io::ErrorKind::NotFound) => BackendError::Unavailable {
                message: format!(
                    "the HAProxy stats socket {s} does not exist: is HAProxy running, with \
                     `stats socket {s} level admin` in its global section?"
                ),
                retry_after: None,
            },
            (_, io::ErrorKind::PermissionDenied) => BackendError::Auth(format!(
                "permission denied opening the HAProxy socket {s}: run the cockpit as a user \
                 allowed to use it (see `mode`, `user` and `group` on the `stats socket` line)"
            )),
            (_, io::ErrorKind::ConnectionRefused) => BackendError::Unavailable {
                message: format!(
                    "nothing listens on the HAProxy socket {s} (connection refused): \
                     HAProxy is stopped or restarting"
                ),
                retry_after: None,
            },
            _ => BackendError::Unavailable {
                message: format!("cannot connect to the HAProxy socket {s}: {e}"),
                retry_after: None,
            },
        }
    }
}

/// Turns an error reply (any non-empty reply to a command that should answer
/// nothing, or an error line before data) into a [`BackendError`]. `backend` and
/// `server` name what the command was about.
pub fn reply_error(
    socket: &Socket,
    command: &str,
    reply: &str,
    backend: &str,
    server: Option<&str>,
) -> BackendError {
    let text = reply.trim();
    let first = text.lines().next().unwrap_or_default().trim();
    match first {
        "No such server." => BackendError::NotFound(format!(
            "HAProxy has no server `{}` in backend `{backend}` (socket {socket})",
            server.unwrap_or("?")
        )),
        "No such backend." | "Can't find backend." | "No such proxy." => BackendError::NotFound(
            format!("HAProxy has no backend `{backend}` (socket {socket})"),
        ),
        "Permission denied" => BackendError::Auth(format!(
            "HAProxy refused `{command}` on {socket} (Permission denied): the socket needs \
             `level admin` on its `stats socket` line"
        )),
        _ if first.starts_with("Unknown command") => BackendError::Other(format!(
            "HAProxy on {socket} does not know `{command}`: is it HAProxy 2.x?"
        )),
        _ => BackendError::Refused(format!(
            "HAProxy refused `{command}` on {socket}: {}",
            text.lines().collect::<Vec<_>>().join(" ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_forms() {
        assert_eq!(
            Socket::parse("/run/haproxy.sock"),
            Ok(Socket::Unix("/run/haproxy.sock".into()))
        );
        assert_eq!(
            Socket::parse("unix:///tmp/a.sock"),
            Ok(Socket::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(
            Socket::parse("tcp://127.0.0.1:9999"),
            Ok(Socket::Tcp("127.0.0.1:9999".into()))
        );
        assert_eq!(
            Socket::parse("localhost:9999"),
            Ok(Socket::Tcp("localhost:9999".into()))
        );
        assert_eq!(
            Socket::parse("run/haproxy.sock"),
            Ok(Socket::Unix("run/haproxy.sock".into()))
        );
        assert_eq!(
            Socket::parse("admin.sock"),
            Ok(Socket::Unix("admin.sock".into()))
        );
        assert!(Socket::parse("tcp://nope").is_err());
        assert!(Socket::parse("http://x:1").is_err());
        assert!(Socket::parse("").is_err());
        assert_eq!(
            Socket::Tcp("h:1".into()).to_string(),
            "tcp://h:1".to_string()
        );
    }

    #[test]
    fn names_and_errors() {
        assert!(valid_name("emergence-app-v1"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a;show"));
        assert!(!valid_name(""));
        let s = Socket::Unix("/x.sock".into());
        let e = reply_error(
            &s,
            "set server app/v3 weight 1",
            "No such server.\n\n",
            "app",
            Some("v3"),
        );
        assert!(
            matches!(&e, BackendError::NotFound(m) if m.contains("`v3`") && m.contains("/x.sock")),
            "{e:?}"
        );
        let e = reply_error(&s, "show stat", "No such proxy.\n", "app", None);
        assert!(matches!(&e, BackendError::NotFound(m) if m.contains("backend `app`")));
        let e = reply_error(
            &s,
            "set server a/b weight 1",
            "Permission denied\n",
            "a",
            Some("b"),
        );
        assert!(matches!(&e, BackendError::Auth(m) if m.contains("level admin")));
        let e = reply_error(
            &s,
            "set server a/b weight 300",
            "Absolute weight can only be between 0 and 256 inclusive.\n",
            "a",
            Some("b"),
        );
        assert!(matches!(&e, BackendError::Refused(m) if m.contains("between 0 and 256")));
    }
}
