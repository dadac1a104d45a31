//! Google API errors (`{"error":{code,message,status,details}}`) and transport
//! failures, classified into [`BackendError`]s that say what to do.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::CREDENTIALS_HINT;
use crate::core::error::BackendError;

/// How much of an unexpected body an error message quotes.
const EXCERPT_CHARS: usize = 160;

/// The body of every error response: `{"error":{code,message,status,details}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Google's JSON error: HTTP code, message, canonical status name, details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

/// Classifies a non-2xx response. `what` names the resource asked for, e.g.
/// "service emergence-app in project P, region R".
pub fn from_response(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    what: &str,
    now: DateTime<Utc>,
) -> BackendError {
    let parsed = serde_json::from_str::<ErrorEnvelope>(body).ok();
    let (message, canonical, details) = match parsed {
        Some(env) => (env.error.message, env.error.status, env.error.details),
        None => (
            format!("unexpected body: {}", excerpt(body)),
            String::new(),
            vec![],
        ),
    };
    let label = if canonical.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {canonical}")
    };
    let retry_after = retry_after
        .and_then(|h| parse_retry_after(h, now))
        .or_else(|| retry_delay(&details));
    match (status, canonical.as_str()) {
        (401 | 403, _) | (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") => {
            BackendError::Auth(format!("{label} on {what}: {message}; {CREDENTIALS_HINT}"))
        }
        (404, _) | (_, "NOT_FOUND") => BackendError::NotFound(format!(
            "{what} ({message}); check the service, project and region"
        )),
        (409 | 412, _) | (_, "ABORTED" | "FAILED_PRECONDITION") => {
            BackendError::Conflict(format!("{label}: {message}"))
        }
        (429 | 500 | 502 | 503 | 504, _)
        | (_, "RESOURCE_EXHAUSTED" | "UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED") => {
            BackendError::Unavailable {
                message: format!("{label} on {what}: {message}"),
                retry_after,
            }
        }
        (400, _) | (_, "INVALID_ARGUMENT" | "OUT_OF_RANGE") => {
            BackendError::Refused(format!("{label}: {message}"))
        }
        _ => BackendError::Other(format!("{label} on {what}: {message}")),
    }
}

/// Classifies a transport failure (no HTTP response). A timeout names the
/// call (`what`) that got no answer.
pub fn from_transport(
    err: &reqwest::Error,
    endpoint: &str,
    timeout: Duration,
    what: &str,
) -> BackendError {
    if err.is_timeout() {
        return BackendError::Unavailable {
            message: format!(
                "{what}: no answer within {}",
                crate::core::duration::human(timeout)
            ),
            retry_after: None,
        };
    }
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let message = if err.is_connect() {
        format!("cannot reach {endpoint}: {chain}")
    } else {
        format!("request to {endpoint} failed: {chain}")
    };
    BackendError::Unavailable {
        message,
        retry_after: None,
    }
}

/// Whether `e` came from [`malformed`] or [`too_large`]: a garbage answer,
/// worth another read (and, after a write, a re-read before deciding).
pub fn is_malformed(e: &BackendError) -> bool {
    matches!(e, BackendError::Other(m) if m.starts_with(MALFORMED))
}

const MALFORMED: &str = "malformed response for ";

/// A 2xx response whose body is larger than the client reads.
pub fn too_large(what: &str, limit: usize) -> BackendError {
    BackendError::Other(format!(
        "{MALFORMED}{what}: the answer is larger than {} MiB; not read",
        limit >> 20
    ))
}

/// A 2xx response whose body is not the expected JSON.
pub fn malformed(what: &str, err: &serde_json::Error, body: &str) -> BackendError {
    BackendError::Other(format!(
        "{MALFORMED}{what}: {err}; body starts with: {}",
        excerpt(body)
    ))
}

/// The start of `body` on one line, for error messages.
pub fn excerpt(body: &str) -> String {
    crate::core::error::excerpt(body, EXCERPT_CHARS)
}

/// `Retry-After`: delay in seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// `google.rpc.RetryInfo.retryDelay` ("30s", "1.5s") among the error details.
fn retry_delay(details: &[Value]) -> Option<Duration> {
    details.iter().find_map(|d| {
        let ty = d.get("@type")?.as_str()?;
        if !ty.ends_with("google.rpc.RetryInfo") {
            return None;
        }
        let secs: f64 = d
            .get("retryDelay")?
            .as_str()?
            .strip_suffix('s')?
            .parse()
            .ok()?;
        Duration::try_from_secs_f64(secs).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
            .single()
            .expect("valid")
    }

    fn body(code: u16, status: &str, message: &str) -> String {
        format!(r#"{{"error":{{"code":{code},"message":"{message}","status":"{status}"}}}}"#)
    }

    #[test]
    fn classifies_google_errors() {
        let what = "service s in project p, region r";
        let e = from_response(
            403,
            None,
            &body(403, "PERMISSION_DENIED", "nope"),
            what,
            now(),
        );
        assert!(
            matches!(&e, BackendError::Auth(m) if m.contains("application-default login") && m.contains("run.services.update")),
            "{e:?}"
        );
        let e = from_response(404, None, &body(404, "NOT_FOUND", "gone"), what, now());
        assert!(matches!(&e, BackendError::NotFound(m) if m.contains("project p, region r")));
        let e = from_response(409, None, &body(409, "ABORTED", "etag"), what, now());
        assert!(matches!(e, BackendError::Conflict(_)));
        let e = from_response(
            400,
            None,
            &body(400, "FAILED_PRECONDITION", "x"),
            what,
            now(),
        );
        assert!(matches!(e, BackendError::Conflict(_)));
        let e = from_response(
            400,
            None,
            &body(400, "INVALID_ARGUMENT", "bad"),
            what,
            now(),
        );
        assert!(matches!(e, BackendError::Refused(_)));
        let e = from_response(
            429,
            Some("7"),
            &body(429, "RESOURCE_EXHAUSTED", "slow"),
            what,
            now(),
        );
        assert_eq!(
            e,
            BackendError::Unavailable {
                message: format!("HTTP 429 RESOURCE_EXHAUSTED on {what}: slow"),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        let e = from_response(502, None, "<html>Bad gateway</html>", what, now());
        assert!(
            matches!(&e, BackendError::Unavailable { message, .. } if message.contains("<html>Bad gateway")),
            "{e:?}"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Fri, 20 Nov 2026 10:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        let b = r#"{"error":{"code":503,"message":"m","status":"UNAVAILABLE","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2.5s"}]}}"#;
        match from_response(503, None, b, "x", now()) {
            BackendError::Unavailable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_millis(2500)))
            }
            other => panic!("{other:?}"),
        }
        // A delay too large (or negative) for a Duration is no delay, not a panic.
        for delay in ["1e30s", "-1s", "NaNs"] {
            let b = format!(
                r#"{{"error":{{"code":503,"message":"m","status":"UNAVAILABLE","details":[{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{delay}"}}]}}}}"#
            );
            match from_response(503, None, &b, "x", now()) {
                BackendError::Unavailable { retry_after, .. } => {
                    assert_eq!(retry_after, None, "{delay}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn excerpt_is_short_and_on_one_line() {
        let long = "x\n".repeat(500);
        let e = excerpt(&long);
        assert!(!e.contains('\n'));
        assert!(e.chars().count() <= EXCERPT_CHARS + 1);
        assert_eq!(excerpt("  "), "(empty)");
    }
}
