//! `[haproxy]`: `platform = "haproxy"`, one backend whose servers are the
//! revisions, driven through HAProxy's Runtime API.

use std::time::Duration;

use super::{Leaf, DURATION};
use crate::config::validate::Cx;
use crate::config::{ConfigError, PlatformKind};

table! {
    struct Raw {
        socket: Leaf => "a unix socket path or \"tcp://host:port\" of HAProxy's Runtime API (level admin)",
        backend: Leaf => "the name of the HAProxy backend whose servers are the revisions",
        stable: Leaf => "the name of a server of the backend",
        canary: Leaf => "the name of a server of the backend",
        timeout: Leaf => DURATION,
    }
}

/// `platform = "haproxy"`: one backend, its servers are the revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaproxyConfig {
    /// A unix socket path or `tcp://host:port` (Runtime API, `level admin`).
    pub socket: String,
    pub backend: String,
    pub stable: Option<String>,
    pub canary: Option<String>,
    pub timeout: Duration,
}

impl Raw {
    /// `None` unless the platform is HAProxy (the values are checked anyway).
    pub(super) fn validate(
        &self,
        cx: &Cx,
        platform: PlatformKind,
    ) -> Result<Option<HaproxyConfig>, ConfigError> {
        let leaves = [
            &self.socket,
            &self.backend,
            &self.stable,
            &self.canary,
            &self.timeout,
        ];
        let socket = cx.string(&self.socket, "haproxy.socket")?;
        if let Some((s, l)) = socket {
            crate::platform::haproxy::Socket::parse(s)
                .map_err(|e| cx.at(l, "haproxy.socket", format!("invalid value {s:?}: {e}")))?;
        }
        let backend = cx.word(&self.backend, "haproxy.backend")?;
        if platform != PlatformKind::Haproxy {
            return Ok(None);
        }
        let Some((socket, _)) = socket else {
            return Err(cx.missing(
                "haproxy",
                &leaves,
                "haproxy.socket",
                "platform \"haproxy\" needs the Runtime API socket, e.g. socket = \"/run/haproxy/admin.sock\"",
            ));
        };
        let Some(backend) = backend else {
            return Err(cx.missing(
                "haproxy",
                &leaves,
                "haproxy.backend",
                "platform \"haproxy\" needs the backend, e.g. backend = \"app\"",
            ));
        };
        Ok(Some(HaproxyConfig {
            socket: socket.to_string(),
            backend,
            stable: cx.word(&self.stable, "haproxy.stable")?,
            canary: cx.word(&self.canary, "haproxy.canary")?,
            timeout: cx
                .duration(&self.timeout, "haproxy.timeout")?
                .unwrap_or(Duration::from_secs(5)),
        }))
    }
}
