//! HAProxy through its Runtime API (the stats socket, `level admin`).
//!
//! The servers of one backend are the revisions; their weights are the split.
//! - [`HaproxyPlatform::snapshot`]: `show info`, `show stat BACKEND -1 -1` and
//!   `show servers state BACKEND`. The target split is the user weights
//!   (share = weight / sum); the serving split (`actual`) counts only servers
//!   HAProxy sends traffic to (UP, or not checked).
//! - [`HaproxyPlatform::set_traffic`]: re-reads (a changed version is a
//!   [`BackendError::Conflict`] before anything is sent), then one
//!   `set server BACKEND/SERVER weight N` per server whose weight changes
//!   (weight = percent, so weights sum to 100; raised weights first so the
//!   backend never has every weight at 0), then reads back and checks that HAProxy
//!   runs with exactly those weights. Nothing is retried.
//! - The version is the process (start time, pid) and every server's weight:
//!   any change by someone else, and any restart, makes it differ.
//! - A restart (new pid or start time) loses the runtime weights: HAProxy is back
//!   on its configured ones. It is detected on the next read and said loudly in
//!   [`ServiceSnapshot::message`] until the next traffic change.

mod convert;
mod observed;
pub mod runtime;
pub mod stat;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

pub use runtime::{RuntimeApi, Socket};
pub use stat::{Info, ServerStat};

use crate::core::error::BackendError;
use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
use crate::core::preview::haproxy_commands;
use crate::platform::Platform;
use convert::{readiness, split_from_weights, weights_for, weights_string};
use observed::{Memory, Observed};
use runtime::{reply_error, valid_name};

/// Which HAProxy, which backend, and which of its servers play which role.
#[derive(Clone, Debug)]
pub struct HaproxySettings {
    /// The stats socket, with `level admin` (changing weights needs it).
    pub socket: Socket,
    /// The backend whose servers are the revisions.
    pub backend: String,
    /// Shown in the header.
    pub service_name: String,
    /// The server that is the stable revision (tagged `stable`).
    pub stable_server: Option<String>,
    /// The server that is the canary (tagged `canary`).
    pub canary_server: Option<String>,
    /// Per Runtime API command: connect, send, read the whole reply.
    pub request_timeout: Duration,
    /// The frontend URL that reaches the service, shown as its URL.
    pub public_url: Option<String>,
}

impl HaproxySettings {
    pub fn new(
        socket: Socket,
        backend: impl Into<String>,
        service_name: impl Into<String>,
    ) -> HaproxySettings {
        HaproxySettings {
            socket,
            backend: backend.into(),
            service_name: service_name.into(),
            stable_server: None,
            canary_server: None,
            request_timeout: Duration::from_secs(5),
            public_url: None,
        }
    }

    /// Names the stable and canary servers.
    pub fn with_roles(
        mut self,
        stable: impl Into<String>,
        canary: impl Into<String>,
    ) -> HaproxySettings {
        self.stable_server = Some(stable.into());
        self.canary_server = Some(canary.into());
        self
    }
}

/// An HAProxy backend, read and steered through the Runtime API.
#[derive(Debug)]
pub struct HaproxyPlatform {
    settings: HaproxySettings,
    api: RuntimeApi,
    memory: Mutex<Memory>,
}

impl HaproxyPlatform {
    /// Checks the names; does no I/O.
    pub fn new(settings: HaproxySettings) -> Result<HaproxyPlatform, BackendError> {
        let names = [
            Some(&settings.backend),
            settings.stable_server.as_ref(),
            settings.canary_server.as_ref(),
        ];
        for name in names.into_iter().flatten() {
            if !valid_name(name) {
                return Err(BackendError::Other(format!(
                    "`{name}` is not a valid HAProxy backend or server name"
                )));
            }
        }
        let api = RuntimeApi {
            socket: settings.socket.clone(),
            timeout: settings.request_timeout,
        };
        Ok(HaproxyPlatform {
            settings,
            api,
            memory: Mutex::new(Memory::default()),
        })
    }

    /// [`new`](Self::new), then one read: fails now, with a clear message, when the
    /// socket, the backend or a configured server is missing.
    pub async fn connect(settings: HaproxySettings) -> Result<HaproxyPlatform, BackendError> {
        let p = HaproxyPlatform::new(settings)?;
        let obs = p.observe().await?;
        for role in [&p.settings.stable_server, &p.settings.canary_server]
            .into_iter()
            .flatten()
        {
            if !obs.servers.iter().any(|s| &s.name == role) {
                return Err(p.no_such_server(role, &obs));
            }
        }
        Ok(p)
    }

    pub fn settings(&self) -> &HaproxySettings {
        &self.settings
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn no_such_server(&self, name: &str, obs: &Observed) -> BackendError {
        let known: Vec<&str> = obs.servers.iter().map(|s| s.name.as_str()).collect();
        BackendError::NotFound(format!(
            "HAProxy has no server `{name}` in backend `{}` (socket {}); its servers are: {}",
            self.settings.backend,
            self.settings.socket,
            known.join(", ")
        ))
    }

    /// Every server of the backend with its weights, status and response
    /// counters (`show stat` merged with `show servers state`).
    pub async fn servers(&self) -> Result<Vec<ServerStat>, BackendError> {
        Ok(self.observe().await?.servers)
    }

    /// Reads the process and the backend, and notes a restart. A reply that does
    /// not parse is an error line (`No such proxy.`, `Permission denied`…).
    async fn observe(&self) -> Result<Observed, BackendError> {
        let s = &self.settings;
        let b = &s.backend;
        let bad =
            |cmd: &str, text: &str, e: String| match reply_error(&s.socket, cmd, text, b, None) {
                BackendError::Refused(_) => BackendError::Other(format!(
                    "HAProxy socket {}: cannot read the reply to `{cmd}`: {e}",
                    s.socket
                )),
                other => other,
            };
        let info_cmd = "show info";
        let text = self.api.send(info_cmd).await?;
        let info = stat::parse_info(&text).map_err(|e| bad(info_cmd, &text, e))?;
        let stat_cmd = format!("show stat {b} -1 -1");
        let text = self.api.send(&stat_cmd).await?;
        let mut servers = stat::parse_stat(&text, b).map_err(|e| bad(&stat_cmd, &text, e))?;
        let state_cmd = format!("show servers state {b}");
        let text = self.api.send(&state_cmd).await?;
        let states = stat::parse_servers_state(&text).map_err(|e| bad(&state_cmd, &text, e))?;
        stat::merge(&mut servers, &states);
        if servers.is_empty() {
            return Err(BackendError::NotFound(format!(
                "backend `{b}` has no servers (socket {})",
                s.socket
            )));
        }
        let obs = Observed { info, servers };
        self.memory().note(&obs, b);
        Ok(obs)
    }

    /// The commands that move `current` weights to `wanted`, raised weights
    /// first, so that the backend never passes through all-zero (the
    /// preview shows the same: [`crate::core::preview::haproxy_commands`]).
    fn commands(
        &self,
        current: &BTreeMap<String, u32>,
        wanted: &BTreeMap<String, u32>,
    ) -> Vec<(String, String)> {
        haproxy_commands(&self.settings.backend, current, wanted)
    }
}

#[async_trait]
impl Platform for HaproxyPlatform {
    fn releases(&self) -> Result<&dyn crate::platform::release::Releases, String> {
        Err(
            "HAProxy cannot deploy or delete revisions: they are the backend's servers, \
             started and stopped outside the cockpit"
                .into(),
        )
    }

    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            kind: "haproxy".into(),
            service: self.settings.service_name.clone(),
            location: format!(
                "{} · backend {}",
                self.settings.socket, self.settings.backend
            ),
        }
    }

    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        let obs = self.observe().await?;
        Ok(observed::snapshot(&self.settings, &obs, &self.memory()))
    }

    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        let s = &self.settings;
        let obs = self.observe().await?;
        let now_at = obs.version();
        if now_at != *expect {
            return Err(BackendError::Conflict(format!(
                "backend `{}` changed since it was read (was `{}`, now `{}`): nothing was sent",
                s.backend, expect.0, now_at.0
            )));
        }
        for rev in split.revisions() {
            if !valid_name(rev) || !obs.servers.iter().any(|sv| sv.name == rev) {
                let mut e = self.no_such_server(rev, &obs);
                if let BackendError::NotFound(m) = &mut e {
                    m.push_str(": nothing was sent");
                }
                return Err(e);
            }
        }
        let current = obs.user_weights();
        let names: Vec<String> = obs.servers.iter().map(|sv| sv.name.clone()).collect();
        let wanted = weights_for(split, &names);
        let current_split = split_from_weights(&current);
        for sv in &obs.servers {
            let (ready, why) = readiness(sv, &s.backend);
            let before = current_split.as_ref().map_or(0, |c| c.percent_of(&sv.name));
            if !ready && split.percent_of(&sv.name) > before {
                return Err(BackendError::Refused(format!(
                    "server `{}` is not taking traffic ({}): giving it more would fail those \
                     requests; nothing was sent",
                    sv.name,
                    why.unwrap_or_default()
                )));
            }
        }
        let commands = self.commands(&current, &wanted);
        tracing::info!(backend = %s.backend, split = %split.to_flag(), commands = commands.len(), "haproxy: set weights");
        let mut done: Vec<String> = Vec::new();
        let mut applied = current.clone();
        for (server, cmd) in &commands {
            let result = match self.api.send(cmd).await {
                Ok(reply) if reply.trim().is_empty() => Ok(()),
                Ok(reply) => Err(reply_error(
                    &s.socket,
                    cmd,
                    &reply,
                    &s.backend,
                    Some(server),
                )),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                // A command that timed out or broke midway may have landed.
                let mut changed: Vec<String> = done.iter().map(|c| format!("`{c}`")).collect();
                if runtime::maybe_carried_out(&e) {
                    if let Some(w) = wanted.get(server) {
                        applied.insert(server.clone(), *w);
                    }
                    changed.push(format!("perhaps `{cmd}`"));
                }
                if applied == current {
                    return Err(e);
                }
                // Never leave a half-applied split: put back what was (or may
                // have been) changed.
                let undo = self.commands(&applied, &current);
                let mut undone = true;
                for (_, back) in &undo {
                    if !matches!(self.api.send(back).await, Ok(r) if r.trim().is_empty()) {
                        undone = false;
                        break;
                    }
                }
                return Err(BackendError::Failed(if undone {
                    format!(
                        "`{cmd}` failed ({e}); the weights changed (or perhaps changed) were \
                         put back: the split is as before"
                    )
                } else {
                    format!(
                        "HAProxy applied {} but then `{cmd}` failed ({e}), and putting the \
                         weights back failed too: the backend runs a partial split; re-read, \
                         then retry or roll back",
                        changed.join(", ")
                    )
                }));
            }
            if let Some(w) = wanted.get(server) {
                applied.insert(server.clone(), *w);
            }
            done.push(cmd.clone());
        }
        let after = self.observe().await.map_err(|e| {
            BackendError::Failed(format!(
                "HAProxy accepted {} but reading the weights back failed: {e}",
                if done.is_empty() {
                    "no change".to_string()
                } else {
                    format!("`{}`", done.join("`, `"))
                }
            ))
        })?;
        let got = after.user_weights();
        if got != wanted {
            return Err(BackendError::Failed(format!(
                "HAProxy runs with weights {} instead of {} after the change (changed by someone \
                 else meanwhile, or restarted?)",
                weights_string(&got),
                weights_string(&wanted)
            )));
        }
        {
            let mut m = self.memory();
            m.applied = Some((wanted, Utc::now(), after.process()));
            m.restart = None;
        }
        Ok(observed::snapshot(&self.settings, &after, &self.memory()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_names_the_socket_and_bad_names_are_refused() {
        let p = HaproxyPlatform::new(
            HaproxySettings::new(
                Socket::Unix("/tmp/none.sock".into()),
                "app",
                "emergence-app",
            )
            .with_roles("v1", "v2"),
        )
        .expect("valid");
        let info = p.info();
        assert_eq!(info.kind, "haproxy");
        assert_eq!(info.location, "/tmp/none.sock · backend app");
        let bad = HaproxySettings::new(Socket::Tcp("h:1".into()), "app;show", "s");
        assert!(HaproxyPlatform::new(bad).is_err());
    }

    #[test]
    fn raised_weights_go_first() {
        let p = HaproxyPlatform::new(HaproxySettings::new(Socket::Unix("/x".into()), "app", "s"))
            .expect("valid");
        let cur: BTreeMap<String, u32> = [("a".to_string(), 100), ("b".to_string(), 0)].into();
        let want: BTreeMap<String, u32> = [("a".to_string(), 0), ("b".to_string(), 100)].into();
        let cmds: Vec<String> = p
            .commands(&cur, &want)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(
            cmds,
            vec!["set server app/b weight 100", "set server app/a weight 0"]
        );
        assert!(p.commands(&cur, &cur).is_empty());
    }
}
