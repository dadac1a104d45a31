//! What the driver's lease says (see `platform::lease` for where it is
//! kept): who drives which plan until when, what the plan is doing (so
//! that every cockpit pointed at the service shows it), and the one
//! request a cockpit may have written into it (pause, resume, abort) with
//! the driver's acknowledgement. Kept small: it travels in a Cloud Run
//! annotation or a Kubernetes object's annotation, and every renewal
//! writes it whole.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who drives which plan, until when, and where the plan is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// `user@host`.
    pub driver: String,
    pub pid: u32,
    /// The plan's name (`ci`, `plan`, `--steps …`).
    pub plan: String,
    /// 1-based, once the plan has a step.
    #[serde(default)]
    pub step: Option<usize>,
    pub acquired: DateTime<Utc>,
    /// Past this, the driver is presumed dead: the lease may be taken over.
    pub deadline: DateTime<Utc>,
    /// When the driver last wrote it (a renewal or a step change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed: Option<DateTime<Utc>>,
    /// The plan's phase as the driver's screen would say it (`observing
    /// step 1 (20 %)`, `paused: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The canary's share now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// When the current observation window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ends: Option<DateTime<Utc>>,
    /// The gates' last verdict with its numbers (`green`, `red: canary
    /// 5xx 3.84 % > gate 1 %`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<String>,
    /// A cockpit's request to the driver, and whether it was obeyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RemoteRequest>,
}

/// What a cockpit asks of a plan another process drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    Pause,
    Resume,
    Abort,
}

impl RequestKind {
    pub fn verb(self) -> &'static str {
        match self {
            RequestKind::Pause => "pause",
            RequestKind::Resume => "resume",
            RequestKind::Abort => "abort",
        }
    }
}

/// A request written into the lease by a cockpit: what, who (`user@host`),
/// when; `acked` once the driver has obeyed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRequest {
    pub kind: RequestKind,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<DateTime<Utc>>,
}

impl RemoteRequest {
    /// The same request (one cockpit's one key press), acknowledged or not.
    pub fn same(&self, other: &RemoteRequest) -> bool {
        self.kind == other.kind && self.by == other.by && self.at == other.at
    }

    /// `abort requested by bob@laptop at 13:40:02 UTC`.
    pub fn describe(&self) -> String {
        format!(
            "{} requested by {} at {} UTC",
            self.kind.verb(),
            self.by,
            self.at.format("%H:%M:%S")
        )
    }
}

impl LeaseInfo {
    /// The same lease with every text a control character could hide in
    /// (it is written by whoever may write the object) made printable:
    /// control characters become spaces.
    pub fn printable(self) -> LeaseInfo {
        fn clean(s: String) -> String {
            if s.contains(char::is_control) {
                s.chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect()
            } else {
                s
            }
        }
        LeaseInfo {
            driver: clean(self.driver),
            plan: clean(self.plan),
            phase: self.phase.map(clean),
            gates: self.gates.map(clean),
            request: self.request.map(|r| RemoteRequest {
                by: clean(r.by),
                ..r
            }),
            ..self
        }
    }

    /// A fresh lease for `driver` (pid), `plan`, lasting `ttl` from `now`.
    pub fn new(
        driver: String,
        pid: u32,
        plan: String,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> LeaseInfo {
        LeaseInfo {
            driver,
            pid,
            plan,
            step: None,
            acquired: now,
            deadline: now + ttl,
            renewed: Some(now),
            phase: None,
            percent: None,
            window_ends: None,
            gates: None,
            request: None,
        }
    }

    /// The same driver (host, user and process).
    pub fn same_holder(&self, other: &LeaseInfo) -> bool {
        self.driver == other.driver && self.pid == other.pid
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.deadline
    }

    /// `alice@bastion-1 (pid 4242), plan ci at step 1, until 13:40:02 UTC`.
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}), plan {}{}, lease until {} UTC",
            self.driver,
            self.pid,
            self.plan,
            self.step.map_or(String::new(), |s| format!(" at step {s}")),
            self.deadline.format("%Y-%m-%d %H:%M:%S")
        )
    }

    /// A request not yet obeyed.
    pub fn pending(&self) -> Option<&RemoteRequest> {
        self.request.as_ref().filter(|r| r.acked.is_none())
    }

    /// What the driver writes when it renews over `held` (the lease as it
    /// is stored, ours): its own fields, but a request a cockpit wrote
    /// since the driver last looked is kept, never overwritten.
    pub fn renewed_over(&self, held: &LeaseInfo) -> LeaseInfo {
        let mut next = self.clone();
        match (&held.request, &self.request) {
            // Ours is the same request (perhaps acknowledged now): ours.
            (Some(h), Some(m)) if h.same(m) => {}
            // A newer one the driver has not seen yet: kept.
            (Some(h), _) => next.request = Some(h.clone()),
            (None, _) => {}
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_keeps_a_request_it_has_not_seen() {
        let now = Utc::now();
        let me = LeaseInfo::new(
            "ci@h".into(),
            1,
            "ci".into(),
            now,
            chrono::Duration::seconds(90),
        );
        let ask = RemoteRequest {
            kind: RequestKind::Abort,
            by: "bob@laptop".into(),
            at: now,
            acked: None,
        };
        let held = LeaseInfo {
            request: Some(ask.clone()),
            ..me.clone()
        };
        assert_eq!(me.renewed_over(&held).request, Some(ask.clone()));
        // The driver acknowledges it: its acknowledgement is written.
        let acked = RemoteRequest {
            acked: Some(now),
            ..ask.clone()
        };
        let mine = LeaseInfo {
            request: Some(acked.clone()),
            ..me.clone()
        };
        assert_eq!(mine.renewed_over(&held).request, Some(acked.clone()));
        // A newer request after the acknowledged one: kept.
        let newer = RemoteRequest {
            kind: RequestKind::Resume,
            at: now + chrono::Duration::seconds(5),
            ..ask
        };
        let held = LeaseInfo {
            request: Some(newer.clone()),
            ..me.clone()
        };
        assert_eq!(mine.renewed_over(&held).request, Some(newer));
        // Old leases (without the new fields) still read.
        let old = r#"{"driver":"a@b","pid":3,"plan":"ci","step":1,"acquired":"2026-11-30T13:00:00Z","deadline":"2026-11-30T13:01:30Z"}"#;
        let l: LeaseInfo = serde_json::from_str(old).expect("old lease");
        assert_eq!(l.request, None);
    }
}
