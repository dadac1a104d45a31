//! The fake's Cloud Logging side: `POST v2/entries:list` over stateful log
//! entries, with the filter subset the cockpit uses (`field="value"`,
//! `field>="…"` and friends joined by `AND`), `orderBy`, and page tokens that
//! are cursors (entries appended meanwhile, even late ones with older
//! timestamps, never shift a page). A scan limit makes it answer empty pages
//! that still carry a token, as the real API does on sparse logs.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::patch::ApiError;
use super::ServiceRef;
use canary::core::model::Severity;

/// Without a timestamp restriction, the API looks back this far.
const DEFAULT_WINDOW_HOURS: i64 = 24;

/// A log entry to append, built for a Cloud Run revision.
#[derive(Clone, Debug)]
pub struct FakeLogEntry {
    value: Value,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl FakeLogEntry {
    fn base(at: &ServiceRef, revision: &str, log: &str, severity: Severity) -> Value {
        json!({
            "logName": format!("projects/{}/logs/run.googleapis.com%2F{log}", at.project),
            "resource": {
                "type": "cloud_run_revision",
                "labels": {
                    "project_id": at.project,
                    "service_name": at.service,
                    "revision_name": revision,
                    "location": at.region,
                    "configuration_name": at.service,
                },
            },
            "severity": severity.as_str(),
        })
    }

    /// A line the container wrote (`textPayload`).
    pub fn text(at: &ServiceRef, revision: &str, severity: Severity, text: &str) -> FakeLogEntry {
        let log = if severity >= Severity::Error {
            "stderr"
        } else {
            "stdout"
        };
        let mut value = FakeLogEntry::base(at, revision, log, severity);
        value["textPayload"] = json!(text);
        FakeLogEntry { value }
    }

    /// A structured line (`jsonPayload.message`).
    pub fn json(
        at: &ServiceRef,
        revision: &str,
        severity: Severity,
        message: &str,
    ) -> FakeLogEntry {
        let mut value = FakeLogEntry::base(at, revision, "stdout", severity);
        value["jsonPayload"] = json!({"message": message, "component": "app"});
        FakeLogEntry { value }
    }

    /// A request log (`httpRequest`); 5xx are ERROR, 4xx WARNING.
    pub fn request(
        at: &ServiceRef,
        revision: &str,
        method: &str,
        path: &str,
        status: u16,
        latency: Duration,
    ) -> FakeLogEntry {
        let severity = match status {
            500.. => Severity::Error,
            400..=499 => Severity::Warning,
            _ => Severity::Info,
        };
        let mut value = FakeLogEntry::base(at, revision, "requests", severity);
        value["httpRequest"] = json!({
            "requestMethod": method,
            "requestUrl": format!("https://{}-x7k2p9-ew.a.run.app{path}", at.service),
            "status": status,
            "latency": format!("{:.6}s", latency.as_secs_f64()),
            "userAgent": "curl/8.5.0",
            "remoteIp": "203.0.113.7",
            "protocol": "HTTP/1.1",
            "responseSize": "512",
        });
        FakeLogEntry { value }
    }

    /// Any JSON (a `LogEntry`): for entries the builders do not make.
    pub fn raw(value: Value) -> FakeLogEntry {
        FakeLogEntry { value }
    }

    /// When it happened (default: when appended). Older than now: a late entry.
    pub fn at(mut self, t: DateTime<Utc>) -> FakeLogEntry {
        self.value["timestamp"] = json!(stamp(t));
        self
    }

    pub fn insert_id(mut self, id: &str) -> FakeLogEntry {
        self.value["insertId"] = json!(id);
        self
    }
}

/// One stored entry.
pub struct StoredLog {
    pub time: DateTime<Utc>,
    pub seq: u64,
    pub value: Value,
}

impl StoredLog {
    fn key(&self) -> (DateTime<Utc>, u64) {
        (self.time, self.seq)
    }
}

/// Stored entries, ordered by (timestamp, arrival).
#[derive(Default)]
pub struct FakeLogs {
    pub entries: Vec<StoredLog>,
    seq: u64,
    /// Entries looked at per call at most (then a page, maybe empty, with a token).
    pub scan_limit: Option<usize>,
}

impl FakeLogs {
    /// Adds an entry, filling `insertId`, `timestamp` and `receiveTimestamp`;
    /// returns its insertId.
    pub fn append(&mut self, entry: FakeLogEntry) -> String {
        let now = Utc::now();
        self.seq += 1;
        let mut value = entry.value;
        if !value.is_object() {
            value = json!({ "textPayload": value.to_string() });
        }
        if value.get("insertId").and_then(Value::as_str).is_none() {
            value["insertId"] = json!(format!("{:016x}{:06x}", now.timestamp_micros(), self.seq));
        }
        let time = value
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        value["timestamp"] = json!(stamp(time));
        value["receiveTimestamp"] = json!(stamp(now));
        let id = value["insertId"].as_str().unwrap_or_default().to_string();
        let stored = StoredLog {
            time,
            seq: self.seq,
            value,
        };
        let pos = self.entries.partition_point(|e| e.key() <= stored.key());
        self.entries.insert(pos, stored);
        id
    }

    /// `entries:write`: the body is the `WriteLogEntriesRequest` as JSON.
    /// Each entry takes the request's `logName` and `resource` unless it has
    /// its own, and its labels over the request's; all or nothing (an
    /// invalid entry refuses the request, as without `partialSuccess`). An
    /// entry whose `insertId` and `timestamp` are already stored in the same
    /// log is not stored again (the API's de-duplication).
    pub fn write(&mut self, body: &str) -> Result<Value, ApiError> {
        let v: Value = serde_json::from_str(body)
            .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
        let Some(map) = v.as_object() else {
            return Err(ApiError::invalid(
                "Invalid JSON payload received. Expected an object.",
            ));
        };
        const FIELDS: &[&str] = &[
            "logName",
            "resource",
            "labels",
            "entries",
            "partialSuccess",
            "dryRun",
        ];
        if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
            )));
        }
        let Some(entries) = map.get("entries").and_then(Value::as_array) else {
            return Err(ApiError::invalid("entries is required."));
        };
        let mut ready = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let Some(e) = e.as_object() else {
                return Err(ApiError::invalid(format!(
                    "entries[{i}]: expected an object."
                )));
            };
            let mut e = e.clone();
            for k in ["logName", "resource"] {
                if !e.contains_key(k) {
                    if let Some(v) = map.get(k) {
                        e.insert(k.into(), v.clone());
                    }
                }
            }
            let mut labels = map
                .get("labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(own) = e.get("labels").and_then(Value::as_object) {
                labels.extend(own.clone());
            }
            if !labels.is_empty() {
                e.insert("labels".into(), Value::Object(labels));
            }
            let log = e.get("logName").and_then(Value::as_str).unwrap_or_default();
            let parts: Vec<&str> = log.splitn(4, '/').collect();
            if parts.len() != 4
                || parts[0] != "projects"
                || parts[2] != "logs"
                || parts[3].is_empty()
            {
                return Err(ApiError::invalid(format!(
                    "entries[{i}]: logName \"{log}\" is not projects/PROJECT_ID/logs/LOG_ID."
                )));
            }
            if !e.contains_key("resource") {
                return Err(ApiError::invalid(format!(
                    "entries[{i}]: resource is required."
                )));
            }
            let payloads = ["textPayload", "jsonPayload", "protoPayload"]
                .iter()
                .filter(|k| e.contains_key(**k))
                .count();
            if payloads > 1 {
                return Err(ApiError::invalid(format!(
                    "entries[{i}]: at most one of textPayload, jsonPayload, protoPayload."
                )));
            }
            ready.push(Value::Object(e));
        }
        if map.get("dryRun").and_then(Value::as_bool) == Some(true) {
            return Ok(json!({}));
        }
        for e in ready {
            let dup = e.get("insertId").and_then(Value::as_str).is_some_and(|id| {
                self.entries.iter().any(|s| {
                    s.value.get("insertId").and_then(Value::as_str) == Some(id)
                        && s.value.get("logName") == e.get("logName")
                        && e.get("timestamp").is_none_or(|t| {
                            s.value
                                .get("timestamp")
                                .and_then(Value::as_str)
                                .and_then(|x| DateTime::parse_from_rfc3339(x).ok())
                                == t.as_str()
                                    .and_then(|x| DateTime::parse_from_rfc3339(x).ok())
                        })
                })
            });
            if !dup {
                self.append(FakeLogEntry::raw(e));
            }
        }
        Ok(json!({}))
    }

    /// `entries:list`: the body is the `ListLogEntriesRequest` as JSON.
    pub fn list(&self, body: &str, now: DateTime<Utc>) -> Result<Value, ApiError> {
        let req = parse_request(body)?;
        let filter = Filter::parse(&req.filter)?;
        let desc = match req.order_by.trim() {
            "" | "timestamp asc" | "timestamp" => false,
            "timestamp desc" => true,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid orderBy '{other}': only \"timestamp asc\" and \"timestamp desc\" are supported."
                )))
            }
        };
        let size = match req.page_size {
            None | Some(0) => 50,
            Some(n) if n < 0 => return Err(ApiError::invalid("pageSize must not be negative.")),
            Some(n) => (n as usize).min(1000),
        };
        let fingerprint = fnv(&format!(
            "{}|{}|{desc}",
            req.filter,
            req.resource_names.join(",")
        ));
        let cursor = match req.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(parse_token(t, fingerprint)?),
        };
        let projects: Vec<String> = req
            .resource_names
            .iter()
            .map(|r| format!("{r}/logs/"))
            .collect();
        let oldest =
            (!filter.has_timestamp).then(|| now - chrono::Duration::hours(DEFAULT_WINDOW_HOURS));
        let after_cursor = |e: &&StoredLog| match cursor {
            None => true,
            Some(c) if desc => e.key() < c,
            Some(c) => e.key() > c,
        };
        let ordered: Box<dyn Iterator<Item = &StoredLog>> = if desc {
            Box::new(self.entries.iter().rev())
        } else {
            Box::new(self.entries.iter())
        };
        // The timestamp index: entries below the filter's lower bound are
        // never scanned (they do not count against the scan limit).
        let floor = filter.lower_bound();
        let mut candidates = ordered
            .filter(|e| floor.is_none_or(|f| e.time >= f))
            .filter(after_cursor)
            .peekable();
        let mut page = Vec::new();
        let mut last = None;
        let mut scanned = 0;
        while candidates.peek().is_some() {
            if page.len() == size || self.scan_limit.is_some_and(|l| scanned >= l) {
                break;
            }
            let e = candidates.next().unwrap_or_else(|| unreachable!());
            scanned += 1;
            last = Some(e.key());
            let in_project = e
                .value
                .get("logName")
                .and_then(Value::as_str)
                .is_some_and(|n| projects.iter().any(|p| n.starts_with(p.as_str())));
            if in_project && oldest.is_none_or(|o| e.time >= o) && filter.matches(&e.value)? {
                page.push(e.value.clone());
            }
        }
        let mut out = Map::new();
        if !page.is_empty() {
            out.insert("entries".into(), Value::Array(page));
        }
        if candidates.peek().is_some() {
            if let Some(k) = last {
                out.insert("nextPageToken".into(), json!(token(fingerprint, k)));
            }
        }
        Ok(Value::Object(out))
    }
}

/// Every field of `ListLogEntriesRequest`.
const REQUEST_FIELDS: &[&str] = &[
    "filter",
    "orderBy",
    "pageSize",
    "pageToken",
    "projectIds",
    "resourceNames",
];

struct Request {
    resource_names: Vec<String>,
    filter: String,
    order_by: String,
    page_size: Option<i64>,
    page_token: Option<String>,
}

fn parse_request(body: &str) -> Result<Request, ApiError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let Some(map) = v.as_object() else {
        return Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object.",
        ));
    };
    if let Some(k) = map.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
        )));
    }
    let string = |k: &str| -> Result<Option<String>, ApiError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::invalid(format!(
                "Invalid value at '{k}' (TYPE_STRING), {other}"
            ))),
        }
    };
    let resource_names: Vec<String> = match map.get("resourceNames") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid("Invalid value at 'resource_names'"))?,
        _ => Vec::new(),
    };
    if resource_names.is_empty() {
        return Err(ApiError::invalid("resourceNames is required."));
    }
    for r in &resource_names {
        let parts: Vec<&str> = r.split('/').collect();
        if parts.len() != 2 || parts[0] != "projects" || parts[1].is_empty() {
            return Err(ApiError::invalid(format!(
                "Invalid resource name '{r}': the fake supports projects/PROJECT_ID."
            )));
        }
    }
    let page_size = match map.get("pageSize") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| ApiError::invalid("Invalid value at 'page_size' (TYPE_INT32)"))?,
        ),
    };
    Ok(Request {
        resource_names,
        filter: string("filter")?.unwrap_or_default(),
        order_by: string("orderBy")?.unwrap_or_default(),
        page_size,
        page_token: string("pageToken")?,
    })
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn token(fingerprint: u64, (t, seq): (DateTime<Utc>, u64)) -> String {
    format!(
        "{fingerprint:016x}{:x}-{seq:x}",
        t.timestamp_nanos_opt().unwrap_or(0)
    )
}

fn parse_token(t: &str, fingerprint: u64) -> Result<(DateTime<Utc>, u64), ApiError> {
    let bad = || ApiError::invalid("Invalid page token.");
    if t.len() < 16 || !t.is_ascii() {
        return Err(bad());
    }
    let (fp, rest) = t.split_at(16);
    if u64::from_str_radix(fp, 16).map_err(|_| bad())? != fingerprint {
        return Err(ApiError::invalid(
            "The page token does not belong to this filter and order: send the same filter with it.",
        ));
    }
    let (nanos, seq) = rest.split_once('-').ok_or_else(bad)?;
    let nanos = i64::from_str_radix(nanos, 16).map_err(|_| bad())?;
    let seq = u64::from_str_radix(seq, 16).map_err(|_| bad())?;
    Ok((DateTime::from_timestamp_nanos(nanos), seq))
}

/// A timestamp in a filter: RFC 3339, or with a `+HHMM` offset (no colon),
/// as Google's Python client writes its default lower bound
/// (`timestamp>="2026-11-29T16:20:25.305069+0000"`) and the API accepts.
fn filter_time(text: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
    Has,
}

#[derive(Debug)]
struct Term {
    path: Vec<String>,
    op: Op,
    value: String,
}

/// The filter subset: comparisons joined by `AND` (or blanks), and
/// parenthesised alternatives `(a OR b ...)` of single comparisons.
struct Filter {
    terms: Vec<Term>,
    /// Each group holds when one of its comparisons does.
    any_of: Vec<Vec<Term>>,
    has_timestamp: bool,
}

fn unsupported(filter: &str, why: &str) -> ApiError {
    ApiError::invalid(format!("Unparseable filter '{filter}': {why}"))
}

/// One comparison at the start of `rest`, and what follows it.
fn parse_term<'a>(filter: &str, rest: &'a str) -> Result<(Term, &'a str), ApiError> {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (field, r) = rest.split_at(end);
    if field.is_empty() {
        return Err(unsupported(filter, "expected a field name"));
    }
    let r = r.trim_start();
    let (op, r) = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        (":", Op::Has),
    ]
    .iter()
    .find_map(|(s, op)| r.strip_prefix(s).map(|r| (*op, r.trim_start())))
    .ok_or_else(|| unsupported(filter, &format!("no comparison after `{field}`")))?;
    let (value, r) = if let Some(q) = r.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => {
                    close = Some(i);
                    break;
                }
                c => out.push(c),
            }
        }
        let close = close.ok_or_else(|| unsupported(filter, "unterminated string"))?;
        (out, &q[close + 1..])
    } else {
        let end = r
            .find(|c: char| c.is_whitespace() || c == ')')
            .unwrap_or(r.len());
        (r[..end].to_string(), &r[end..])
    };
    let term = Term {
        path: field.split('.').map(str::to_owned).collect(),
        op,
        value,
    };
    Ok((term, r.trim_start()))
}

impl Filter {
    fn parse(filter: &str) -> Result<Filter, ApiError> {
        let mut terms = Vec::new();
        let mut any_of = Vec::new();
        let mut rest = filter.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("AND ") {
                rest = r.trim_start();
                continue;
            }
            if let Some(r) = rest.strip_prefix('(') {
                let mut group = Vec::new();
                let mut r = r.trim_start();
                loop {
                    let (term, after) = parse_term(filter, r)?;
                    group.push(term);
                    if let Some(after) = after.strip_prefix(')') {
                        r = after.trim_start();
                        break;
                    }
                    r = after
                        .strip_prefix("OR ")
                        .map(str::trim_start)
                        .ok_or_else(|| {
                            unsupported(
                                filter,
                                "the fake understands only `(a OR b ...)` groups of comparisons",
                            )
                        })?;
                }
                any_of.push(group);
                rest = r;
                continue;
            }
            if rest.starts_with([')', '-']) || rest.starts_with("OR ") || rest.starts_with("NOT ") {
                return Err(unsupported(
                    filter,
                    "the fake understands only comparisons joined by AND, and (a OR b) groups",
                ));
            }
            let (term, r) = parse_term(filter, rest)?;
            terms.push(term);
            rest = r;
        }
        let has_timestamp = terms.iter().any(|t| t.path == ["timestamp"]);
        Ok(Filter {
            terms,
            any_of,
            has_timestamp,
        })
    }

    /// The largest `timestamp>=` / `timestamp>` bound, if any.
    fn lower_bound(&self) -> Option<DateTime<Utc>> {
        self.terms
            .iter()
            .filter(|t| t.path == ["timestamp"] && matches!(t.op, Op::Ge | Op::Gt))
            .filter_map(|t| filter_time(&t.value))
            .map(|t| t.with_timezone(&Utc))
            .max()
    }

    fn matches(&self, entry: &Value) -> Result<bool, ApiError> {
        for t in &self.terms {
            if !t.holds(entry)? {
                return Ok(false);
            }
        }
        for group in &self.any_of {
            let mut any = false;
            for t in group {
                any |= t.holds(entry)?;
            }
            if !any {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Term {
    /// Whether `entry` satisfies this comparison.
    fn holds(&self, entry: &Value) -> Result<bool, ApiError> {
        let mut v = entry;
        for p in &self.path {
            match v.get(p) {
                Some(next) => v = next,
                // A missing field is unequal to everything, and nothing else.
                None => return Ok(self.op == Op::Ne),
            }
        }
        self.compare(v)
    }

    fn compare(&self, v: &Value) -> Result<bool, ApiError> {
        let ord: Option<Ordering> = match self.path.as_slice() {
            [f] if f == "timestamp" => {
                let want = filter_time(&self.value).ok_or_else(|| {
                    ApiError::invalid(format!("Invalid timestamp '{}' in filter.", self.value))
                })?;
                v.as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|have| have.cmp(&want))
            }
            [f] if f == "severity" => {
                let want = Severity::parse(&self.value).ok_or_else(|| {
                    ApiError::invalid(format!("Invalid severity '{}' in filter.", self.value))
                })?;
                let have = v
                    .as_str()
                    .and_then(Severity::parse)
                    .unwrap_or(Severity::Default);
                Some(have.cmp(&want))
            }
            _ => match v {
                Value::Number(n) => match (n.as_f64(), self.value.parse::<f64>().ok()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b),
                    _ => None,
                },
                Value::String(s) => Some(s.as_str().cmp(self.value.as_str())),
                Value::Bool(b) => Some(b.to_string().cmp(&self.value)),
                _ => None,
            },
        };
        Ok(match self.op {
            Op::Has => match v {
                Value::String(s) => s.to_lowercase().contains(&self.value.to_lowercase()),
                other => other.to_string().contains(&self.value),
            },
            Op::Eq => ord == Some(Ordering::Equal),
            Op::Ne => ord != Some(Ordering::Equal),
            Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            Op::Gt => ord == Some(Ordering::Greater),
            Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            Op::Lt => ord == Some(Ordering::Less),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_subset() {
        let at = ServiceRef::demo();
        let mut logs = FakeLogs::default();
        let now = Utc::now();
        logs.append(FakeLogEntry::text(&at, "r1", Severity::Error, "boom"));
        logs.append(FakeLogEntry::request(
            &at,
            "r2",
            "GET",
            "/",
            503,
            Duration::from_millis(20),
        ));
        let list = |filter: &str| {
            let body = json!({"resourceNames": ["projects/emergence-469005"], "filter": filter});
            logs.list(&body.to_string(), now)
        };
        let n = |filter: &str| {
            list(filter).expect(filter)["entries"]
                .as_array()
                .map_or(0, Vec::len)
        };
        assert_eq!(n(r#"resource.type="cloud_run_revision""#), 2);
        assert_eq!(n(r#"resource.labels.revision_name="r1""#), 1);
        assert_eq!(n("severity>=ERROR AND httpRequest.status>=500"), 1);
        assert_eq!(n(r#"textPayload:"BOOM""#), 1);
        assert_eq!(n(r#"timestamp>="2099-01-01T00:00:00Z""#), 0);
        assert_eq!(
            n(
                r#"(resource.labels.revision_name="r1" OR severity>=ERROR) AND httpRequest.status>=500"#
            ),
            1
        );
        assert_eq!(
            n(r#"(resource.labels.revision_name="r1" OR severity>=WARNING)"#),
            2
        );
        assert_eq!(
            n(r#"(resource.labels.revision_name="r3" OR severity>=CRITICAL)"#),
            0
        );
        assert!(list("a=1 OR b=2").is_err());
        assert!(list("(a=1 AND b=2)").is_err());
        assert!(list("(a=1 OR b=2").is_err());
        assert!(list("timestamp>=yesterday").is_err());
    }
}
