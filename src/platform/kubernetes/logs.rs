//! The log tail of every revision's pods: `pods/NAME/log?follow=true&
//! timestamps=true`, one stream per pod.
//!
//! A manager task lists each Deployment's pods (its `matchLabels`) every
//! few seconds: a new pod gets a stream, a pod gone ends its stream. A
//! stream that ends while its pod lives (a dropped connection, a restarted
//! container, the server's timeout) reconnects with `sinceTime` = the last
//! line's second; lines already seen are skipped by their timestamp (and,
//! within the same instant, by their text), so nothing is shown twice and
//! nothing is lost beyond what the API keeps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use tokio::sync::mpsc;

use super::KubePlatform;
use crate::core::error::BackendError;
use crate::core::model::LogEntry;
use crate::logs::LogSource;

/// Lines kept from a pod's past when its stream first opens.
const FIRST_TAIL: i64 = 50;
/// Entries waiting for the next poll; beyond, the oldest are dropped (and said).
const BUFFER: usize = 20_000;

enum Msg {
    Entry(LogEntry),
    Failed(BackendError),
}

/// [`LogSource`] over the pods' log streams.
pub struct KubeLogs {
    rx: mpsc::Receiver<Msg>,
    _manager: tokio::task::JoinHandle<()>,
}

impl KubeLogs {
    /// Starts following (needs a tokio runtime); `every`: how often the pods
    /// are listed.
    pub fn start(platform: Arc<KubePlatform>, every: Duration) -> KubeLogs {
        let (tx, rx) = mpsc::channel(BUFFER);
        let manager = tokio::spawn(manage(platform, every, tx));
        KubeLogs {
            rx,
            _manager: manager,
        }
    }
}

impl Drop for KubeLogs {
    fn drop(&mut self) {
        self._manager.abort();
    }
}

#[async_trait]
impl LogSource for KubeLogs {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError> {
        let mut out = Vec::new();
        let mut error = None;
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::Entry(e) => out.push(e),
                Msg::Failed(e) => error = Some(e),
            }
        }
        match error {
            Some(e) if out.is_empty() => Err(e),
            _ => {
                out.sort_by_key(|e| e.timestamp);
                Ok(out)
            }
        }
    }
}

/// `app=backend,version=blue`.
fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn manage(platform: Arc<KubePlatform>, every: Duration, tx: mpsc::Sender<Msg>) {
    // Pod name → its stream task.
    let mut streams: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        if tx.is_closed() {
            break;
        }
        match pods(&platform).await {
            Ok(found) => {
                let names: HashSet<&String> = found.iter().map(|(p, _, _)| p).collect();
                streams.retain(|name, task| {
                    let keep = names.contains(name) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (pod, revision, container) in &found {
                    if !streams.contains_key(pod) {
                        let task = tokio::spawn(follow(
                            platform.clone(),
                            pod.clone(),
                            revision.clone(),
                            container.clone(),
                            tx.clone(),
                        ));
                        streams.insert(pod.clone(), task);
                    }
                }
            }
            Err(e) => {
                let _ = tx.try_send(Msg::Failed(e));
            }
        }
        tokio::time::sleep(every).await;
    }
    for (_, t) in streams {
        t.abort();
    }
}

/// Every running pod of every configured Deployment: (pod, revision,
/// first container).
async fn pods(p: &KubePlatform) -> Result<Vec<(String, String, Option<String>)>, BackendError> {
    let cluster = p.cluster().await?;
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut out = Vec::new();
    for d in p.deployments().await? {
        if d.pod_selector.is_empty() {
            continue;
        }
        let lp = ListParams::default().labels(&label_selector(&d.pod_selector));
        let call = super::errors::Call {
            verb: "list",
            resource: "pods",
            name: None,
            namespace: &cluster.namespace,
        };
        let list = p.call(call, api.list(&lp)).await?;
        for pod in list.items {
            let Some(name) = pod.metadata.name.clone() else {
                continue;
            };
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
            if matches!(phase.as_deref(), Some("Pending" | "Succeeded" | "Failed")) {
                continue;
            }
            let container = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone());
            out.push((name, d.name.clone(), container));
        }
    }
    Ok(out)
}

/// Remembers the newest instant seen and the lines at it, to skip what a
/// reconnect sends again.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    last: Option<DateTime<Utc>>,
    at_last: HashSet<u64>,
}

impl Seen {
    /// Whether `line` at `ts` is new (and remembers it).
    pub(crate) fn fresh(&mut self, ts: DateTime<Utc>, line: &str) -> bool {
        let h = super::fnv(line);
        let h = u64::from_str_radix(&h, 16).unwrap_or(0);
        match self.last {
            Some(last) if ts < last => false,
            Some(last) if ts == last => self.at_last.insert(h),
            _ => {
                self.last = Some(ts);
                self.at_last.clear();
                self.at_last.insert(h);
                true
            }
        }
    }

    /// Where a reconnect starts: the last line's second.
    pub(crate) fn since(&self) -> Option<DateTime<Utc>> {
        self.last
    }
}

/// Splits `2026-11-30T12:00:01.123456789Z message` into its parts.
pub(crate) fn split_timestamp(line: &str) -> Option<(DateTime<Utc>, &str)> {
    let (ts, rest) = line.split_once(' ').unwrap_or((line, ""));
    let ts = DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&Utc);
    Some((ts, rest))
}

async fn follow(
    p: Arc<KubePlatform>,
    pod: String,
    revision: String,
    container: Option<String>,
    tx: mpsc::Sender<Msg>,
) {
    let mut seen = Seen::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let Ok(cluster) = p.cluster().await else {
            return;
        };
        let api: Api<Pod> = Api::namespaced(cluster.streams.clone(), &cluster.namespace);
        let lp = LogParams {
            follow: true,
            timestamps: true,
            container: container.clone(),
            tail_lines: seen.since().is_none().then_some(FIRST_TAIL),
            since_time: seen
                .since()
                .and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).ok()),
            ..LogParams::default()
        };
        match api.log_stream(&pod, &lp).await {
            Ok(stream) => {
                backoff = Duration::from_millis(500);
                let mut lines = stream.lines();
                while let Some(line) = lines.next().await {
                    let Ok(line) = line else { break };
                    let Some((ts, text)) = split_timestamp(&line) else {
                        continue;
                    };
                    if text.trim().is_empty() || !seen.fresh(ts, text) {
                        continue;
                    }
                    let mut entry = crate::logs::file::parse_line(text, &revision, ts);
                    entry.timestamp = ts;
                    if tx.send(Msg::Entry(entry)).await.is_err() {
                        return;
                    }
                }
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return,
            Err(e) => {
                let call = super::errors::Call {
                    verb: "get",
                    resource: "pods/log",
                    name: Some(&pod),
                    namespace: &cluster.namespace,
                };
                let e = super::errors::classify(e, &call);
                if matches!(e, BackendError::Auth(_)) {
                    let _ = tx.send(Msg::Failed(e)).await;
                    return;
                }
                tracing::debug!(pod = %pod, error = %e, "kubernetes: log stream failed");
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnects_skip_what_was_seen() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("t")
                .with_timezone(&Utc)
        };
        let mut seen = Seen::default();
        assert!(seen.fresh(t("2026-11-30T12:00:01.5Z"), "a"));
        assert!(seen.fresh(t("2026-11-30T12:00:02Z"), "b"));
        assert!(seen.fresh(t("2026-11-30T12:00:02Z"), "c"));
        // A reconnect from 12:00:02 sends b and c again, then d.
        assert!(!seen.fresh(t("2026-11-30T12:00:01.5Z"), "a"));
        assert!(!seen.fresh(t("2026-11-30T12:00:02Z"), "b"));
        assert!(!seen.fresh(t("2026-11-30T12:00:02Z"), "c"));
        assert!(seen.fresh(t("2026-11-30T12:00:03Z"), "d"));
        assert_eq!(seen.since(), Some(t("2026-11-30T12:00:03Z")));
    }

    #[test]
    fn timestamps_are_split_off() {
        let (ts, text) =
            split_timestamp("2026-11-30T12:00:01.123456789Z {\"level\":\"error\"}").expect("ts");
        assert_eq!(ts.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(text, "{\"level\":\"error\"}");
        assert!(split_timestamp("no timestamp").is_none());
        assert_eq!(
            label_selector(&[("app".into(), "b".into()), ("v".into(), "blue".into())].into()),
            "app=b,v=blue"
        );
    }
}
