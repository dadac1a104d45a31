//! The simulated service's state: revisions, traffic, history and logs.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::history::{History, HISTORY_SECONDS};
use super::rng::{hash_str, mix, Rng};
use super::scenario::{RevisionSpec, Scenario};
use crate::core::error::BackendError;
use crate::core::model::{LogEntry, Revision, ServiceSnapshot, TrafficSplit, Version};
use crate::core::preview::WriteApi;

/// How many log entries are kept for readers.
pub const LOG_CAPACITY: usize = 5000;

/// Hash part of the simulated `*.a.run.app` host names.
const URL_HASH: &str = "x7k2p9-ew";

/// One revision as the simulator tracks it.
#[derive(Clone, Debug)]
pub struct RevState {
    pub spec: RevisionSpec,
    pub ready: bool,
    pub created: DateTime<Utc>,
    /// The simulated second in which it first received traffic (0 for the
    /// revisions already serving when the simulation starts).
    pub first_traffic: Option<u64>,
    /// Already serving at the start: no startup messages.
    pub serving_at_start: bool,
    /// Per-revision phase of the slow latency wobble.
    pub wobble_phase: f64,
    /// Requests and 5xx answers since the simulation started.
    pub requests_total: u64,
    pub errors_total: u64,
}

/// Log entries with sequence numbers; the oldest are dropped past capacity.
#[derive(Clone, Debug, Default)]
pub struct LogRing {
    entries: VecDeque<LogEntry>,
    /// Sequence number of `entries[0]`.
    first_seq: u64,
}

impl LogRing {
    pub fn push(&mut self, entry: LogEntry) {
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
            self.first_seq += 1;
        }
        self.entries.push_back(entry);
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number the next entry will get.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    /// Entries from sequence number `from` (clamped to what is kept) to the end.
    pub fn since(&self, from: u64) -> impl Iterator<Item = &LogEntry> {
        let skip = from.saturating_sub(self.first_seq);
        self.entries
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    }

    pub fn first(&self) -> Option<&LogEntry> {
        self.entries.front()
    }
}

pub struct World {
    pub scenario: Scenario,
    pub seed: u64,
    pub epoch: DateTime<Utc>,
    pub revs: Vec<RevState>,
    pub target: TrafficSplit,
    pub actual: TrafficSplit,
    /// Bumped on every change of the target split.
    pub generation: u64,
    /// When the actual split catches up with the target.
    pub converge_at: Option<Instant>,
    pub rng: Rng,
    /// The last simulated second generated (second `k` covers `(k-1, k]`).
    pub second: u64,
    pub history: History,
    pub logs: LogRing,
    /// Base URL of the simulator's own HTTP front, when it runs: tag URLs
    /// and the service URL then point at it, so checks are real HTTP.
    pub http_base: Option<String>,
    /// Revisions deployed and deleted from the cockpit.
    pub release: super::release::SimReleases,
}

impl World {
    pub fn new(mut scenario: Scenario, seed: u64, epoch: DateTime<Utc>) -> World {
        if scenario.revisions.is_empty() {
            scenario.revisions.push(RevisionSpec {
                name: format!("{}-00001-abc", scenario.service),
                image: "example.org/app:latest".into(),
                created_ago: Duration::from_secs(3600),
                tag: None,
                tag_url: None,
                traffic: 100,
                ready: true,
                status_message: None,
                error_percent: 0.2,
                client_error_percent: 0.5,
                p95_ms: 200.0,
                after_traffic: vec![],
            });
        }
        let split = scenario
            .initial_split()
            .unwrap_or_else(|| TrafficSplit::all_to(scenario.revisions[0].name.clone()));
        let revs = scenario
            .revisions
            .iter()
            .map(|spec| RevState {
                ready: spec.ready,
                serving_at_start: split.percent_of(&spec.name) > 0,
                first_traffic: (split.percent_of(&spec.name) > 0).then_some(0),
                created: epoch
                    - chrono::Duration::from_std(spec.created_ago)
                        .unwrap_or(chrono::Duration::zero()),
                wobble_phase: (hash_str(&spec.name) ^ seed) as f64 / u64::MAX as f64
                    * std::f64::consts::TAU,
                spec: spec.clone(),
                requests_total: 0,
                errors_total: 0,
            })
            .collect();
        World {
            seed,
            epoch,
            revs,
            target: split.clone(),
            actual: split,
            generation: 1,
            converge_at: None,
            rng: Rng::new(mix(seed)),
            second: 0,
            history: History::default(),
            logs: LogRing::default(),
            http_base: None,
            release: Default::default(),
            scenario,
        }
    }

    pub fn service_url(&self) -> String {
        match &self.http_base {
            Some(base) => format!("{base}/service"),
            None => format!("https://{}-{URL_HASH}.a.run.app", self.scenario.service),
        }
    }

    /// The URL that reaches one tagged revision alone.
    fn tag_url_of(&self, r: &RevState) -> Option<String> {
        if let Some(base) = &self.http_base {
            return r
                .spec
                .tag
                .as_ref()
                .map(|_| format!("{base}/rev/{}", r.spec.name));
        }
        r.spec.tag_url.clone().or_else(|| {
            r.spec.tag.as_ref().map(|t| {
                format!(
                    "https://{t}---{}-{URL_HASH}.a.run.app",
                    self.scenario.service
                )
            })
        })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.revs.iter().position(|r| r.spec.name == name)
    }

    pub fn version(&self) -> Version {
        let h = mix(self.seed ^ self.generation.wrapping_mul(0x2545_F491_4F6C_DD1D));
        Version(format!("sim-{}-{:08x}", self.generation, h & 0xffff_ffff))
    }

    /// Makes the actual split catch up when the apply delay has passed.
    pub fn reconcile(&mut self, now: Instant) {
        if self.converge_at.is_some_and(|at| now >= at) {
            self.actual = self.target.clone();
            self.converge_at = None;
        }
    }

    /// Generates every whole second up to `elapsed` since creation.
    pub fn advance_to(&mut self, now: Instant, elapsed: Duration) {
        self.reconcile(now);
        super::release::advance(self, now);
        let target = elapsed.as_secs();
        let keep = HISTORY_SECONDS as u64;
        if target > self.second + keep {
            self.second = target - keep;
        }
        while self.second < target {
            self.second += 1;
            super::gen::generate_second(self, self.second);
        }
    }

    pub fn snapshot(&self) -> ServiceSnapshot {
        let service_url = self.service_url();
        let mut revisions: Vec<Revision> = self
            .revs
            .iter()
            .filter(|r| !self.release.is_deleted(&r.spec.name))
            .map(|r| Revision {
                name: r.spec.name.clone(),
                details: super::release::details(self, r),
                tag: r.spec.tag.clone(),
                tag_url: self.tag_url_of(r),
                image: r.spec.image.clone(),
                created: r.created,
                ready: r.ready,
                status_message: if r.ready {
                    None
                } else if let Some(s) = super::release::status(&super::release::details(self, r)) {
                    Some(s)
                } else {
                    Some(r.spec.status_message.clone().unwrap_or_else(|| {
                        "Revision is not ready: the container failed to start.".to_string()
                    }))
                },
            })
            .collect();
        revisions.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
        ServiceSnapshot {
            service: self.scenario.service.clone(),
            url: Some(service_url),
            revisions,
            traffic: self.target.clone(),
            actual: Some(self.actual.clone()),
            version: self.version(),
            reconciling: self.converge_at.is_some(),
            message: None,
            runtime_state_lost: false,
            extra: Default::default(),
            write_api: WriteApi::Gcloud {
                project: super::PROJECT.into(),
                region: super::REGION.into(),
            },
        }
    }

    fn check_known(&self, split: &TrafficSplit) -> Result<(), BackendError> {
        for name in split.revisions() {
            if self.index_of(name).is_none() {
                return Err(BackendError::Refused(format!(
                    "revision {name} does not exist in service {}",
                    self.scenario.service
                )));
            }
        }
        Ok(())
    }

    /// Validates and records a requested change; the caller waits for the
    /// returned delay, then calls [`World::reconcile`].
    pub fn begin_change(
        &mut self,
        split: &TrafficSplit,
        expect: &Version,
        now: Instant,
    ) -> Result<Duration, BackendError> {
        let current = self.version();
        if *expect != current {
            return Err(BackendError::Conflict(format!(
                "expected version {}, the service is at {}",
                expect.0, current.0
            )));
        }
        self.check_known(split)?;
        for r in &self.revs {
            let name = r.spec.name.as_str();
            if !r.ready && split.percent_of(name) > self.target.percent_of(name) {
                return Err(BackendError::Refused(format!(
                    "revision {name} is not ready and cannot receive more traffic"
                )));
            }
        }
        let delay = self.scenario.apply_delay;
        self.target = split.clone();
        self.generation += 1;
        self.converge_at = Some(now + delay);
        if delay.is_zero() {
            self.reconcile(now);
        }
        Ok(delay)
    }

    /// Someone else changed the traffic: target and actual change at once.
    pub fn set_external(&mut self, split: &TrafficSplit) -> Result<(), BackendError> {
        self.check_known(split)?;
        self.target = split.clone();
        self.actual = split.clone();
        self.converge_at = None;
        self.generation += 1;
        Ok(())
    }

    pub fn set_ready(&mut self, name: &str, ready: bool) -> bool {
        match self.revs.iter_mut().find(|r| r.spec.name == name) {
            Some(r) => {
                r.ready = ready;
                true
            }
            None => false,
        }
    }
}
