//! The Cloud Logging API v2 messages the source sends and reads
//! (`../shared/contracts/logging.v2.discovery.json`: `ListLogEntriesRequest`,
//! `ListLogEntriesResponse`, `LogEntry`, `HttpRequest`), and how one
//! `LogEntry` becomes the one line the logs panel shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::model::{LogEntry, Severity};

/// Longest message kept for one line of the panel.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `POST v2/entries:list` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLogEntriesRequest {
    /// `projects/P`.
    #[serde(default)]
    pub resource_names: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// `entries:list` answer. An empty page may still carry a token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListLogEntriesResponse {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<ApiLogEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `MonitoredResource`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitoredResource {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub labels: serde_json::Map<String, Value>,
}

/// `HttpRequest` (the fields the panel shows; `status` is an int32, `latency`
/// a duration string like `"0.231s"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// int64 as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_size: Option<String>,
}

/// `LogEntry` (fields the cockpit reads or the fake emits; others ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiLogEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<MonitoredResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_timestamp: Option<String>,
    /// `LogSeverity` name (`"ERROR"`); a number when asked for int enums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto_payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl ApiLogEntry {
    /// When it happened (`timestamp`, else `receiveTimestamp`).
    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.timestamp
            .as_deref()
            .or(self.receive_timestamp.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn severity(&self) -> Severity {
        match &self.severity {
            Some(Value::String(s)) => Severity::parse(s).unwrap_or(Severity::Default),
            // LogSeverity numbers: 0, 100, 200, ... 800.
            Some(Value::Number(n)) => match n.as_u64().unwrap_or(0) {
                n if n >= 800 => Severity::Emergency,
                n if n >= 700 => Severity::Alert,
                n if n >= 600 => Severity::Critical,
                n if n >= 500 => Severity::Error,
                n if n >= 400 => Severity::Warning,
                n if n >= 300 => Severity::Notice,
                n if n >= 200 => Severity::Info,
                n if n >= 100 => Severity::Debug,
                _ => Severity::Default,
            },
            _ => Severity::Default,
        }
    }

    pub fn resource_label(&self, key: &str) -> Option<&str> {
        self.resource.as_ref()?.labels.get(key)?.as_str()
    }

    /// The line the panel shows, or `None` without any usable time.
    pub fn to_log_entry(&self) -> Option<LogEntry> {
        Some(LogEntry {
            timestamp: self.time()?,
            revision: self.resource_label("revision_name").map(str::to_owned),
            severity: self.severity(),
            status: self
                .http_request
                .as_ref()
                .and_then(|h| h.status)
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| *s > 0),
            message: self.message(),
        })
    }

    /// `GET 503 1.52 s /api/health · upstream timed out`: the request (method,
    /// status, latency, path) and the payload, on one line.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.http_request {
            let mut req = Vec::new();
            if let Some(m) = h.request_method.as_deref().filter(|m| !m.is_empty()) {
                req.push(m.to_string());
            }
            if let Some(s) = h.status.filter(|s| *s > 0) {
                req.push(s.to_string());
            }
            if let Some(l) = h.latency.as_deref().and_then(latency) {
                req.push(l);
            }
            if let Some(u) = h.request_url.as_deref().filter(|u| !u.is_empty()) {
                req.push(path_of(u).to_string());
            }
            if !req.is_empty() {
                parts.push(req.join(" "));
            }
        }
        if let Some(p) = self.payload() {
            parts.push(p);
        }
        one_line(&parts.join(" · "))
    }

    fn payload(&self) -> Option<String> {
        if let Some(t) = self
            .text_payload
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            return Some(t.to_string());
        }
        if let Some(j) = &self.json_payload {
            for key in ["message", "msg", "textPayload"] {
                if let Some(m) = j.get(key).and_then(Value::as_str) {
                    return Some(m.to_string());
                }
            }
            if j.as_object().is_some_and(|o| !o.is_empty()) {
                return Some(j.to_string());
            }
        }
        if let Some(p) = &self.proto_payload {
            let method = p.get("methodName").and_then(Value::as_str);
            let status = p
                .get("status")
                .and_then(|s| s.get("message"))
                .and_then(Value::as_str);
            let ty = p
                .get("@type")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('.').next().unwrap_or(t));
            let bits: Vec<&str> = [ty, method, status].into_iter().flatten().collect();
            if !bits.is_empty() {
                return Some(bits.join(" "));
            }
        }
        None
    }
}

/// `"0.231s"` → `231 ms`, `"1.5s"` → `1.50 s`.
fn latency(d: &str) -> Option<String> {
    let secs: f64 = d.trim().strip_suffix('s')?.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(if secs < 1.0 {
        format!("{} ms", (secs * 1000.0).round() as u64)
    } else {
        format!("{secs:.2} s")
    })
}

/// The path and query of a URL (`https://host/a?b` → `/a?b`).
fn path_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// Control characters (newlines of a stack trace) become spaces; long
/// messages are cut.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_MESSAGE_CHARS));
    let mut n = 0;
    let mut last_space = false;
    for c in s.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if n == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        n += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> ApiLogEntry {
        serde_json::from_value(v).expect("entry")
    }

    #[test]
    fn request_logs_are_compact() {
        let e = entry(json!({
            "insertId": "a1",
            "timestamp": "2026-11-20T10:00:00.123456789Z",
            "severity": "ERROR",
            "resource": {"type": "cloud_run_revision", "labels": {"revision_name": "r-1", "service_name": "s"}},
            "httpRequest": {"requestMethod": "GET", "requestUrl": "https://s-x.a.run.app/api/health?x=1", "status": 503, "latency": "1.523s"},
        }));
        let l = e.to_log_entry().expect("entry");
        assert_eq!(l.message, "GET 503 1.52 s /api/health?x=1");
        assert_eq!(l.status, Some(503));
        assert_eq!(l.severity, Severity::Error);
        assert_eq!(l.revision.as_deref(), Some("r-1"));
        assert_eq!(l.timestamp.timestamp_subsec_nanos(), 123_456_789);
    }

    #[test]
    fn payloads() {
        let e = entry(json!({"timestamp": "2026-11-20T10:00:00Z",
            "jsonPayload": {"message": "cache miss\n  at x", "level": "warn"}, "severity": 400}));
        assert_eq!(e.message(), "cache miss at x");
        assert_eq!(e.severity(), Severity::Warning);
        let e = entry(json!({"timestamp": "2026-11-20T10:00:00Z", "jsonPayload": {"k": 1}}));
        assert_eq!(e.message(), r#"{"k":1}"#);
        let e = entry(
            json!({"timestamp": "2026-11-20T10:00:00Z", "textPayload": "hello",
            "httpRequest": {"status": 200, "latency": "0.0042s", "requestMethod": "HEAD"}}),
        );
        assert_eq!(e.message(), "HEAD 200 4 ms · hello");
        let e = entry(json!({"timestamp": "2026-11-20T10:00:00Z",
            "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "methodName": "ReplaceService"}}));
        assert_eq!(e.message(), "AuditLog ReplaceService");
        let long = "x".repeat(5000);
        let e = entry(json!({"timestamp": "2026-11-20T10:00:00Z", "textPayload": long}));
        assert_eq!(e.message().chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(entry(json!({"textPayload": "no time"}))
            .to_log_entry()
            .is_none());
    }
}
