//! The shared audit trail in Cloud Logging: `POST v2/entries:write` under
//! `projects/P/logs/LOG` (a `global` resource; labels `service`, `driver`
//! — user@host — and `platform`; the journal record as `jsonPayload`,
//! its time as `timestamp`, a hash of it as `insertId` so that a batch sent
//! again after an unclear answer is not stored twice), read back with
//! `entries:list` filtered on the log and the service. Messages:
//! `../shared/contracts/logging.v2.discovery.json` (`WriteLogEntriesRequest`,
//! `LogEntry`, `ListLogEntriesRequest`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{driver_here, SharedRecord, SharedSink};
use crate::core::error::BackendError;
use crate::google::client::Http;
use crate::google::Auth;
use crate::logs::cloud_logging::api::{ListLogEntriesRequest, ListLogEntriesResponse};

/// The public endpoint.
pub const ENDPOINT: &str = "https://logging.googleapis.com";

pub struct CloudLoggingAudit {
    http: Http,
    project: String,
    service: String,
    log: String,
}

impl CloudLoggingAudit {
    pub fn new(
        endpoint: Option<&str>,
        auth: Auth,
        project: &str,
        service: &str,
        log: &str,
    ) -> Result<CloudLoggingAudit, BackendError> {
        let http = Http::new(
            endpoint.unwrap_or(ENDPOINT),
            auth,
            Duration::from_secs(10),
            Duration::from_secs(5),
        )?;
        Ok(CloudLoggingAudit {
            http,
            project: project.to_string(),
            service: service.to_string(),
            log: log.to_string(),
        })
    }

    /// `projects/P/logs/LOG`, the log ID URL-encoded as the API wants it.
    fn log_name(&self) -> String {
        let id: String = self
            .log
            .chars()
            .map(|c| match c {
                '/' => "%2F".to_string(),
                c => c.to_string(),
            })
            .collect();
        format!("projects/{}/logs/{id}", self.project)
    }

    /// The body of `entries:write` for `records`.
    pub fn write_request(&self, records: &[Value]) -> Value {
        let entries: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut entry = json!({
                    "severity": "NOTICE",
                    "insertId": insert_id(r),
                    "jsonPayload": r,
                    "labels": {
                        "driver": driver_here(r),
                        "kind": r["event"].as_str().unwrap_or("record"),
                    },
                });
                if let Some(at) = r["at"].as_str() {
                    entry["timestamp"] = json!(at);
                }
                entry
            })
            .collect();
        json!({
            "logName": self.log_name(),
            "resource": {"type": "global", "labels": {"project_id": self.project}},
            "labels": {"service": self.service, "platform": "cloud-run"},
            "entries": entries,
        })
    }
}

/// A stable id for a record (FNV-1a of its JSON): a record sent twice is
/// one entry.
fn insert_id(record: &Value) -> String {
    format!("canary-{}", record_hash(record))
}

/// 16 hex digits naming a record (FNV-1a of its JSON).
pub(super) fn record_hash(record: &Value) -> String {
    let text = record.to_string();
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

#[async_trait]
impl SharedSink for CloudLoggingAudit {
    fn location(&self) -> String {
        format!("Cloud Logging {}", self.log_name())
    }

    async fn write(&self, records: &[Value]) -> Result<(), BackendError> {
        let body = self.write_request(records);
        let _: Value = self
            .http
            .post("v2/entries:write", &body, "writing the shared audit trail")
            .await?;
        Ok(())
    }

    async fn read(&self) -> Result<Vec<SharedRecord>, BackendError> {
        let filter = format!(
            "logName=\"{}\" AND labels.service=\"{}\"",
            self.log_name(),
            self.service
        );
        let mut out = Vec::new();
        let mut token = None;
        // A bound on pages: a hundred thousand records.
        for _ in 0..100 {
            let req = ListLogEntriesRequest {
                resource_names: vec![format!("projects/{}", self.project)],
                filter: filter.clone(),
                order_by: "timestamp asc".into(),
                page_size: Some(1000),
                page_token: token.take(),
            };
            let page: ListLogEntriesResponse = self
                .http
                .post("v2/entries:list", &req, "reading the shared audit trail")
                .await?;
            for e in page.entries {
                let Some(record) = e.json_payload else {
                    continue;
                };
                let driver = e
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("driver"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string();
                out.push(SharedRecord { record, driver });
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }
}
