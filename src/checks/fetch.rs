//! Shared HTTP plumbing for checks: bounded body reads and readable errors.

use std::error::Error as _;

/// The most of a body an `http` check reads (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// A limit as people say it: `1 MiB`, `512 KiB`, `100 bytes`.
pub(crate) fn human_size(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Reads the whole body, chunk by chunk, refusing (without reading further) a body
/// larger than `limit` bytes.
pub(crate) async fn read_capped(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let too_large = || format!("body larger than {}", human_size(limit));
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut resp = resp;
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the body failed: {}", describe_error(&e))),
        }
    }
}

/// Reads at most `limit` bytes of the body, for quoting it in a reason.
pub(crate) async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    body
}

/// A short, printable excerpt of a body: one line, at most `max` characters.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    crate::core::error::excerpt(&String::from_utf8_lossy(body), max)
}

/// What went wrong with a request, in a few words: `connection refused`,
/// `timed out`, `invalid URL`, with the deepest cause when it helps.
pub(crate) fn describe_error(e: &reqwest::Error) -> String {
    let mut io_kind = None;
    let mut root = None;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        root = Some(s.to_string());
        source = s.source();
    }
    use std::io::ErrorKind as K;
    let what = match io_kind {
        Some(K::ConnectionRefused) => Some("connection refused".to_owned()),
        Some(K::ConnectionReset) => Some("connection reset by the server".to_owned()),
        Some(K::ConnectionAborted) => Some("connection aborted".to_owned()),
        Some(K::UnexpectedEof) => Some("the server closed the connection early".to_owned()),
        Some(K::TimedOut) => Some("timed out".to_owned()),
        _ => None,
    };
    if let Some(what) = what {
        return what;
    }
    let kind = if e.is_builder() {
        "invalid request"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    match root {
        Some(root) => format!("{kind}: {root}"),
        None => format!("{kind}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_excerpts() {
        assert_eq!(human_size(1 << 20), "1 MiB");
        assert_eq!(human_size(8 << 20), "8 MiB");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(100), "100 bytes");
        assert_eq!(excerpt(b"  internal\n  error ", 50), "internal error");
        assert_eq!(excerpt("ééééé".as_bytes(), 3), "ééé…");
        assert_eq!(excerpt(b"\xff ok", 10), "\u{fffd} ok");
    }
}
