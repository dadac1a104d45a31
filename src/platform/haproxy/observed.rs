//! One read of the backend, what the platform remembers between reads (to
//! detect restarts and changes made by others), and the snapshot shown for a read.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::convert::{readiness, split_from_weights, weights_string};
use super::stat::{Info, ServerStat};
use super::HaproxySettings;
use crate::core::model::{Revision, ServiceSnapshot, TrafficSplit, Version};
use crate::core::preview::WriteApi;

/// One read of the backend.
#[derive(Clone, Debug)]
pub(super) struct Observed {
    pub info: Info,
    pub servers: Vec<ServerStat>,
}

impl Observed {
    pub fn user_weights(&self) -> BTreeMap<String, u32> {
        self.servers
            .iter()
            .map(|s| (s.name.clone(), s.user_weight))
            .collect()
    }

    /// Identifies the process: a restart changes it.
    pub fn process(&self) -> String {
        match self.info.start_time_sec {
            Some(t) => format!("pid {} started {t}", self.info.pid),
            None => format!("pid {}", self.info.pid),
        }
    }

    /// The optimistic-concurrency token: the process and every weight.
    pub fn version(&self) -> Version {
        Version(format!(
            "{} · {}",
            self.process(),
            weights_string(&self.user_weights())
        ))
    }
}

/// What the platform did and saw.
#[derive(Debug, Default)]
pub(super) struct Memory {
    pub last: Option<Observed>,
    /// Weights the cockpit last set, when, and on which process.
    pub applied: Option<(BTreeMap<String, u32>, DateTime<Utc>, String)>,
    /// A restart seen since the last traffic change.
    pub restart: Option<String>,
}

impl Memory {
    /// Compares with the previous read: a new process means HAProxy restarted
    /// and lost every weight set at runtime.
    pub fn note(&mut self, obs: &Observed, backend: &str) {
        if let Some(prev) = &self.last {
            let restarted = prev.info.pid != obs.info.pid
                || prev.info.start_time_sec != obs.info.start_time_sec
                || (obs.info.start_time_sec.is_none()
                    && obs.info.uptime_sec < prev.info.uptime_sec);
            if restarted {
                let now = weights_string(&obs.user_weights());
                let mut msg = format!(
                    "HAPROXY RESTARTED (pid {} → {}, up {} s): weights set at runtime are lost, it \
                     serves its configured weights {now}",
                    prev.info.pid, obs.info.pid, obs.info.uptime_sec
                );
                if let Some((w, at, _)) = &self.applied {
                    msg.push_str(&format!(
                        " instead of {} set at {}",
                        weights_string(w),
                        at.format("%H:%M:%S UTC")
                    ));
                }
                tracing::warn!(backend, "{msg}");
                self.restart = Some(msg);
            }
        }
        self.last = Some(obs.clone());
    }

    /// Warnings for the snapshot, most urgent first.
    fn warnings(
        &self,
        obs: &Observed,
        traffic: Option<&TrafficSplit>,
        serving: Option<&TrafficSplit>,
        backend: &str,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.restart {
            out.push(r.clone());
        }
        if traffic.is_none() {
            out.push(format!(
                "every server of backend `{backend}` has weight 0: HAProxy answers 503 to every \
                 request (the split shown is not serving)"
            ));
        } else if serving.is_none() {
            out.push(format!(
                "no server with a weight in backend `{backend}` is up: HAProxy answers 503"
            ));
        }
        if let Some((w, at, process)) = &self.applied {
            let now = obs.user_weights();
            if *process == obs.process() && now != *w {
                out.push(format!(
                    "weights changed outside the cockpit: now {}, the cockpit set {} at {}",
                    weights_string(&now),
                    weights_string(w),
                    at.format("%H:%M:%S UTC")
                ));
            }
        }
        out
    }
}

fn time_of(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_else(Utc::now)
}

/// The common model for one read: target split from the user weights, serving
/// split from the effective weights of the servers HAProxy sends traffic to,
/// warnings in `message`.
pub(super) fn snapshot(s: &HaproxySettings, obs: &Observed, memory: &Memory) -> ServiceSnapshot {
    let traffic = split_from_weights(&obs.user_weights());
    let serving_weights: BTreeMap<String, u32> = obs
        .servers
        .iter()
        .map(|sv| {
            let ready = readiness(sv, &s.backend).0;
            (sv.name.clone(), if ready { sv.effective_weight } else { 0 })
        })
        .collect();
    let serving = split_from_weights(&serving_weights);
    let warnings = memory.warnings(obs, traffic.as_ref(), serving.as_ref(), &s.backend);
    // HAProxy does not know when a server was deployed: its own start stands in.
    let started = match obs.info.start_time_sec {
        Some(t) => time_of(t),
        None => Utc::now() - chrono::Duration::seconds(obs.info.uptime_sec as i64),
    };
    let mut servers: Vec<&ServerStat> = obs.servers.iter().collect();
    // Newest first: the servers declared last come first.
    servers.sort_by(|a, b| b.id.cmp(&a.id).then(a.name.cmp(&b.name)));
    let revisions = servers
        .into_iter()
        .map(|sv| {
            let (ready, why) = readiness(sv, &s.backend);
            let tag = if s.stable_server.as_deref() == Some(sv.name.as_str()) {
                Some("stable".to_string())
            } else if s.canary_server.as_deref() == Some(sv.name.as_str()) {
                Some("canary".to_string())
            } else {
                None
            };
            Revision {
                name: sv.name.clone(),
                details: Default::default(),
                tag,
                tag_url: sv.addr.as_ref().map(|a| format!("http://{a}")),
                image: sv.addr.clone().unwrap_or_default(),
                created: started,
                ready,
                status_message: why,
            }
        })
        .collect();
    let fallback = || {
        let name = s
            .stable_server
            .clone()
            .or_else(|| obs.servers.first().map(|sv| sv.name.clone()))
            .unwrap_or_default();
        TrafficSplit::all_to(name)
    };
    ServiceSnapshot {
        service: s.service_name.clone(),
        url: s.public_url.clone(),
        revisions,
        traffic: traffic.unwrap_or_else(fallback),
        actual: serving,
        version: obs.version(),
        reconciling: false,
        message: (!warnings.is_empty()).then(|| warnings.join("; ")),
        runtime_state_lost: memory.restart.is_some(),
        extra: Default::default(),
        write_api: WriteApi::Haproxy {
            backend: s.backend.clone(),
            weights: obs.user_weights(),
        },
    }
}
