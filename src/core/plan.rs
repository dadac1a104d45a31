//! The phased promotion plan: a pure state machine. Time comes in as `now`;
//! the engine says what to do as [`PlanCommand`]s, which `update` turns into
//! traffic changes, check runs and journal records.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keymap::Command;
use super::model::TrafficSplit;

/// What happens when a blocking gate fails during a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    Rollback,
    Pause,
    StepDown,
}

/// What a cancelled unattended run (`canary release` getting SIGTERM or
/// SIGINT) leaves behind: `[plan] on_cancel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnCancel {
    /// The plan pauses: the canary keeps its share, nothing advances.
    #[default]
    Pause,
    /// The plan rolls back to the stable.
    Rollback,
}

impl OnCancel {
    pub fn name(self) -> &'static str {
        match self {
            OnCancel::Pause => "pause",
            OnCancel::Rollback => "rollback",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanMode {
    /// The next step needs `p` and green gates.
    Manual,
    /// Advances by itself when the window has elapsed and gates are green.
    Auto,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    pub percent: u8,
    #[serde(with = "secs")]
    pub observe: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSpec {
    pub steps: Vec<PlanStep>,
    pub mode: PlanMode,
    pub on_failure: OnFailure,
}

impl PlanSpec {
    /// The team's phases: 10 / 25 / 50 / 100 % with 15 min / 30 min / 1 h / 0.
    pub fn domain_default() -> PlanSpec {
        let m = |n: u64| Duration::from_secs(n * 60);
        PlanSpec {
            steps: vec![
                PlanStep {
                    percent: 10,
                    observe: m(15),
                },
                PlanStep {
                    percent: 25,
                    observe: m(30),
                },
                PlanStep {
                    percent: 50,
                    observe: m(60),
                },
                PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                },
            ],
            mode: PlanMode::Manual,
            on_failure: OnFailure::Rollback,
        }
    }

    /// `10 % for 15m → 25 % for 30m → 50 % for 1h → 100 %`.
    pub fn describe(&self) -> String {
        self.steps
            .iter()
            .map(|s| {
                if s.observe.is_zero() {
                    format!("{} %", s.percent)
                } else {
                    format!("{} % for {}", s.percent, super::duration::format(s.observe))
                }
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// `manual mode, on a red gate: rollback`.
    pub fn policy(&self) -> String {
        let mode = match self.mode {
            PlanMode::Manual => "manual",
            PlanMode::Auto => "auto",
        };
        let on = match self.on_failure {
            OnFailure::Rollback => "rollback",
            OnFailure::Pause => "pause",
            OnFailure::StepDown => "step-down",
        };
        format!("{mode} mode, on a red gate: {on}")
    }

    /// Steps must rise strictly and end at 100.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_empty() {
            return Err("a plan needs at least one step".into());
        }
        let mut last = 0u8;
        for (i, s) in self.steps.iter().enumerate() {
            if s.percent == 0 || s.percent > 100 {
                return Err(format!(
                    "step {}: percent must be 1..=100, got {}",
                    i + 1,
                    s.percent
                ));
            }
            if s.percent <= last {
                return Err(format!(
                    "step {}: {} % does not rise above the previous step's {} %",
                    i + 1,
                    s.percent,
                    last
                ));
            }
            last = s.percent;
        }
        if last != 100 {
            return Err(format!("the last step must be 100 %, not {last} %"));
        }
        Ok(())
    }
}

/// The gates' verdict, as the plan sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Green,
    /// Not enough data to judge: never promote blind.
    NoData(String),
    /// A metric gate is red but not yet for `gates.sustain`: not green, and
    /// not a reason to pause either; it becomes `Red` or clears.
    Confirming(String),
    /// A blocking gate failed.
    Red(String),
}

impl Verdict {
    /// `green`, `no-data`, `confirming`, `red` (the event stream's and the journal's word).
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Green => "green",
            Verdict::NoData(_) => "no-data",
            Verdict::Confirming(_) => "confirming",
            Verdict::Red(_) => "red",
        }
    }

    /// Why it is not green.
    pub fn why(&self) -> Option<&str> {
        match self {
            Verdict::Green => None,
            Verdict::NoData(w) | Verdict::Confirming(w) | Verdict::Red(w) => Some(w),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    Idle,
    Applying {
        step: usize,
    },
    Observing {
        step: usize,
        since: DateTime<Utc>,
    },
    WaitingApproval {
        step: usize,
    },
    Paused {
        step: usize,
        reason: String,
        was_observing: bool,
    },
    Promoted,
    RollingBack {
        reason: String,
    },
    RolledBack {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

impl Phase {
    pub fn label(&self) -> String {
        match self {
            Phase::Idle => "idle".into(),
            Phase::Applying { step } => format!("applying step {}", step + 1),
            Phase::Observing { step, .. } => format!("observing step {}", step + 1),
            Phase::WaitingApproval { step } => {
                format!("step {} observed: waiting for approval", step + 1)
            }
            Phase::Paused { step, .. } => format!("paused at step {}", step + 1),
            Phase::Promoted => "promoted".into(),
            Phase::RollingBack { .. } => "rolling back".into(),
            Phase::RolledBack { .. } => "rolled back".into(),
            Phase::Failed { .. } => "failed".into(),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Phase::Idle | Phase::Promoted | Phase::RolledBack { .. } | Phase::Failed { .. }
        )
    }

    /// The step the plan is at, if any.
    pub fn step(&self) -> Option<usize> {
        match self {
            Phase::Applying { step }
            | Phase::Observing { step, .. }
            | Phase::WaitingApproval { step }
            | Phase::Paused { step, .. } => Some(*step),
            _ => None,
        }
    }
}

/// What the operator can do to the plan now, and with which command. The
/// plan panel and the footer show exactly these, and the plan's keys do
/// exactly these: a plan key whose command is not offered is refused (see
/// `update::plan_keys`). One list, so the screen and the keys cannot drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offer {
    /// No plan is running (`again`: one ran and ended): start one.
    Start {
        again: bool,
    },
    /// Observing, gates not red: advance before the window is over (an
    /// override, asked with a reason). `next`: the next step's percent.
    AdvanceEarly {
        next: Option<u8>,
    },
    /// The window is observed and the gates are green: the next step.
    Approve {
        next: Option<u8>,
    },
    /// The window is observed but the gates have no verdict: override, with a reason.
    Override {
        next: Option<u8>,
    },
    Pause,
    /// Resume a paused plan: it restarts the observation window when it was
    /// observing, else it re-applies the step's `percent`.
    Resume {
        restarts_window: bool,
        percent: u8,
    },
    /// Abort and roll back; `now`: the gates are red, this is the thing to do.
    Abort {
        now: bool,
    },
}

impl Offer {
    /// The command (and so the key) that takes this offer.
    pub fn command(&self) -> Command {
        match self {
            Offer::Start { .. }
            | Offer::AdvanceEarly { .. }
            | Offer::Approve { .. }
            | Offer::Override { .. } => Command::Advance,
            Offer::Pause | Offer::Resume { .. } => Command::TogglePause,
            Offer::Abort { .. } => Command::Abort,
        }
    }

    /// With no plan at all.
    pub const NO_PLAN: Offer = Offer::Start { again: false };
}

/// What the engine asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanCommand {
    /// Send this split (the canary at the step's percent, the rest on the stable).
    Apply { step: usize, split: TrafficSplit },
    /// All traffic back to the stable.
    Rollback { reason: String },
    /// Run the verification battery against the canary.
    RunChecks,
    /// The phase changed (journal + notification).
    Transition { from: Phase, to: Phase, why: String },
}

/// A running (or finished) plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub spec: PlanSpec,
    pub canary: String,
    pub stable: String,
    pub phase: Phase,
    pub started: DateTime<Utc>,
    /// When it was promoted, rolled back or failed.
    #[serde(default)]
    pub finished: Option<DateTime<Utc>>,
    /// What the metrics cover: the newest point's time, set by `update`
    /// from each batch (`None`: no metrics known, nothing to wait for). A
    /// window is not over before the data covering its end has arrived
    /// (Cloud Monitoring lags by minutes): see [`Plan::lag`].
    #[serde(skip)]
    pub data_until: Option<DateTime<Utc>>,
    /// `[judge] baseline = "deploy"`: a fresh revision of the stable's
    /// image deployed for this plan (tag `baseline`), given a share taken
    /// from the stable at each step ([`baseline_share`]) while it is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Whether the baseline was read ready (set by `update` from each read
    /// of the service): a baseline that is not gets nothing.
    #[serde(default)]
    pub baseline_ready: bool,
}

/// `[judge] baseline`: what the canary is compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// The stable, over the same time range.
    #[default]
    None,
    /// A fresh revision of the stable's image, deployed when a plan starts
    /// (where the platform can deploy), with a share of its own.
    Deploy,
}

impl Baseline {
    pub fn as_str(self) -> &'static str {
        match self {
            Baseline::None => "none",
            Baseline::Deploy => "deploy",
        }
    }
}

/// The baseline's share at a step where the canary has `canary` %: as
/// much as the canary, but never more than half of what the stable keeps
/// (the stable stays the larger, the rollback target warm): 10 → 10,
/// 25 → 25, 50 → 25, 100 → 0.
pub fn baseline_share(canary: u8) -> u8 {
    let c = canary.min(100);
    c.min((100 - c) / 2)
}

/// How long a window waits beyond its end for late data before it counts
/// as over anyway (the gates then judge what arrived, or say "no data"): a
/// source whose newest point stopped moving must not hold a plan forever.
pub const MAX_DATA_WAIT: Duration = Duration::from_secs(600);

/// Operator and platform events the plan reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanEvent {
    /// `p`: advance (needs green gates unless `override_reason`).
    Advance {
        override_reason: Option<String>,
    },
    /// `space`.
    TogglePause,
    /// Pause (never resume), saying why: the operator quit the cockpit.
    Pause {
        reason: String,
    },
    /// `a` confirmed, or a manual traffic change took over.
    Abort {
        reason: String,
    },
    /// Someone moved traffic by hand: the plan stops driving.
    ManualChange,
    /// The split for `step` landed.
    Applied {
        step: usize,
    },
    /// The split for `step` could not be applied.
    ApplyFailed {
        step: usize,
        error: String,
    },
    /// The rollback landed.
    RolledBack,
    RollbackFailed {
        error: String,
    },
    /// The gates were evaluated (continuously during a window).
    Gates(Verdict),
    /// Time passed.
    Tick,
}

impl Plan {
    /// Starts the plan: the first step is applied at once.
    pub fn start(
        spec: PlanSpec,
        canary: String,
        stable: String,
        now: DateTime<Utc>,
    ) -> Result<(Plan, Vec<PlanCommand>), String> {
        Plan::start_with(spec, canary, stable, None, now)
    }

    /// [`Plan::start`] with a baseline revision, deployed and ready (it
    /// gets its share from the first step on).
    pub fn start_with(
        spec: PlanSpec,
        canary: String,
        stable: String,
        baseline: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Plan, Vec<PlanCommand>), String> {
        spec.validate()?;
        if baseline
            .as_ref()
            .is_some_and(|b| *b == canary || *b == stable)
        {
            return Err("the baseline must be a revision of its own".into());
        }
        if canary == stable {
            return Err(format!(
                "{canary} is the stable revision: select the canary"
            ));
        }
        let mut plan = Plan {
            spec,
            canary,
            stable,
            phase: Phase::Idle,
            started: now,
            finished: None,
            data_until: None,
            baseline: None,
            baseline_ready: false,
        };
        plan.baseline_ready = baseline.is_some();
        plan.baseline = baseline;
        let mut out = Vec::new();
        plan.go_to_step(0, "plan started".into(), &mut out);
        Ok((plan, out))
    }

    /// The split of `step`: the canary at the step's percent, the baseline
    /// (when there is one and it is ready) at [`baseline_share`] of it taken
    /// from the stable, the stable the rest. Always sums to 100.
    pub fn split_for(&self, step: usize) -> TrafficSplit {
        let p = self.spec.steps.get(step).map_or(0, |s| s.percent).min(100);
        let b = match self.serving_baseline() {
            Some(_) => baseline_share(p),
            None => 0,
        };
        let mut parts = vec![(self.canary.clone(), u32::from(p))];
        if let Some(base) = self.serving_baseline().filter(|_| b > 0) {
            parts.push((base.to_string(), u32::from(b)));
        }
        parts.push((self.stable.clone(), u32::from(100 - p - b)));
        parts.retain(|(_, pct)| *pct > 0);
        TrafficSplit::new(parts).unwrap_or_else(|_| TrafficSplit::all_to(self.stable.clone()))
    }

    /// The baseline, when the plan has one that may get traffic (ready).
    pub fn serving_baseline(&self) -> Option<&str> {
        self.baseline.as_deref().filter(|_| self.baseline_ready)
    }

    /// The most traffic the canary may have right now.
    pub fn ceiling(&self) -> u8 {
        match &self.phase {
            Phase::Promoted => 100,
            p => p
                .step()
                .and_then(|s| self.spec.steps.get(s))
                .map_or(0, |s| s.percent),
        }
    }

    /// What the operator can do now, given the gates' `verdict`, in the order
    /// the screen lists it. While the gates are red advancing is not offered:
    /// aborting (rolling back) is, first.
    pub fn offers(&self, verdict: &Verdict) -> Vec<Offer> {
        let red = matches!(verdict, Verdict::Red(_) | Verdict::Confirming(_));
        let next = |step: usize| self.spec.steps.get(step + 1).map(|s| s.percent);
        let abort = Offer::Abort { now: false };
        match &self.phase {
            p if p.is_finished() => vec![Offer::Start { again: true }],
            Phase::Observing { .. } | Phase::WaitingApproval { .. } if red => {
                vec![Offer::Abort { now: true }, Offer::Pause]
            }
            Phase::Observing { step, .. } => vec![
                Offer::AdvanceEarly { next: next(*step) },
                Offer::Pause,
                abort,
            ],
            Phase::WaitingApproval { step } if *verdict == Verdict::Green => {
                vec![Offer::Approve { next: next(*step) }, Offer::Pause, abort]
            }
            Phase::WaitingApproval { step } => {
                vec![Offer::Override { next: next(*step) }, Offer::Pause, abort]
            }
            Phase::Applying { .. } => vec![Offer::Pause, abort],
            Phase::Paused {
                step,
                was_observing,
                ..
            } => vec![
                Offer::Resume {
                    restarts_window: *was_observing,
                    percent: self.spec.steps.get(*step).map_or(0, |s| s.percent),
                },
                abort,
            ],
            // Rolling back: nothing to do but wait (`r` still rolls back by hand).
            _ => vec![],
        }
    }

    /// Progress of the current window, 0.0..=1.0, and the time left.
    pub fn window(&self, now: DateTime<Utc>) -> Option<(f64, Duration)> {
        let Phase::Observing { step, since } = &self.phase else {
            return None;
        };
        let total = self.spec.steps.get(*step)?.observe;
        let elapsed = (now - *since).to_std().unwrap_or_default();
        if total.is_zero() {
            return Some((1.0, Duration::ZERO));
        }
        let frac = (elapsed.as_secs_f64() / total.as_secs_f64()).min(1.0);
        Some((frac, total.saturating_sub(elapsed)))
    }

    /// Whether step `step`'s observation window, begun at `since`, is over:
    /// its time has passed and the data covering its end has arrived (or
    /// [`MAX_DATA_WAIT`] passed waiting for it).
    fn window_over(&self, step: usize, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let observe = self
            .spec
            .steps
            .get(step)
            .map_or(Duration::ZERO, |s| s.observe);
        (now - since).to_std().unwrap_or_default() >= observe
            && self
                .data_wait(
                    since + chrono::Duration::from_std(observe).unwrap_or_default(),
                    now,
                )
                .is_none()
    }

    /// The metrics' lag: how far the newest point is behind `now` (zero
    /// when it is not behind, or no metrics are known).
    pub fn lag(&self, now: DateTime<Utc>) -> Duration {
        self.data_until
            .and_then(|u| (now - u).to_std().ok())
            .unwrap_or_default()
    }

    /// Waiting for the data of a window that ended (by the clock) at `end`:
    /// the lag, while the newest point is before `end` and the wait is not
    /// over [`MAX_DATA_WAIT`]; `None` when the data is there (or the window
    /// has not ended).
    fn data_wait(&self, end: DateTime<Utc>, now: DateTime<Utc>) -> Option<Duration> {
        let until = self.data_until?;
        let waited = (now - end).to_std().ok()?;
        (until < end && waited < MAX_DATA_WAIT).then(|| self.lag(now))
    }

    /// The current window's time is over but its data has not all arrived:
    /// the metrics' lag ("waiting for data (lag 45s)").
    pub fn waiting_for_data(&self, now: DateTime<Utc>) -> Option<Duration> {
        let Phase::Observing { step, since } = &self.phase else {
            return None;
        };
        let observe = self.spec.steps.get(*step)?.observe;
        self.data_wait(
            since.checked_add_signed(chrono::Duration::from_std(observe).ok()?)?,
            now,
        )
    }

    /// When the current window is expected to be over: its end, plus the
    /// metrics' lag (its last data arrives that much later).
    pub fn window_eta(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Phase::Observing { step, since } = &self.phase else {
            return None;
        };
        let observe = self.spec.steps.get(*step)?.observe;
        let end = *since + chrono::Duration::from_std(observe).ok()?;
        let lag = chrono::Duration::from_std(self.lag(now)).ok()?;
        Some(end + lag)
    }

    fn set(&mut self, to: Phase, why: String, out: &mut Vec<PlanCommand>) {
        let from = std::mem::replace(&mut self.phase, to.clone());
        out.push(PlanCommand::Transition { from, to, why });
    }

    fn go_to_step(&mut self, step: usize, why: String, out: &mut Vec<PlanCommand>) {
        let step = step.min(self.spec.steps.len().saturating_sub(1));
        self.set(Phase::Applying { step }, why, out);
        out.push(PlanCommand::Apply {
            step,
            split: self.split_for(step),
        });
    }

    fn roll_back(&mut self, reason: String, out: &mut Vec<PlanCommand>) {
        self.set(
            Phase::RollingBack {
                reason: reason.clone(),
            },
            reason.clone(),
            out,
        );
        out.push(PlanCommand::Rollback { reason });
    }

    fn on_red(&mut self, step: usize, reason: String, out: &mut Vec<PlanCommand>) {
        match self.spec.on_failure {
            OnFailure::Rollback => self.roll_back(format!("gate failed: {reason}"), out),
            OnFailure::Pause => self.set(
                Phase::Paused {
                    step,
                    reason: format!("gate failed: {reason}"),
                    was_observing: true,
                },
                format!("gate failed: {reason}"),
                out,
            ),
            OnFailure::StepDown if step > 0 => self.go_to_step(
                step - 1,
                format!("gate failed, stepping down: {reason}"),
                out,
            ),
            OnFailure::StepDown => {
                self.roll_back(format!("gate failed at the first step: {reason}"), out)
            }
        }
    }

    /// Feeds one event; returns what to do.
    pub fn handle(&mut self, event: PlanEvent, now: DateTime<Utc>) -> Vec<PlanCommand> {
        let mut out = Vec::new();
        let last = self.spec.steps.len().saturating_sub(1);
        match (self.phase.clone(), event) {
            (p, _) if p.is_finished() => {}
            (_, PlanEvent::Abort { reason }) => self.roll_back(reason, &mut out),
            (Phase::RollingBack { reason }, PlanEvent::RolledBack) => self.set(
                Phase::RolledBack {
                    reason: reason.clone(),
                },
                reason,
                &mut out,
            ),
            (Phase::RollingBack { reason }, PlanEvent::RollbackFailed { error }) => self.set(
                Phase::Failed {
                    reason: format!("{reason}; the rollback failed: {error}"),
                },
                error,
                &mut out,
            ),
            (Phase::RollingBack { .. }, _) => {}
            (Phase::Applying { step }, PlanEvent::Applied { step: s }) if s == step => {
                if step >= last {
                    self.set(
                        Phase::Promoted,
                        format!("{} % reached", self.ceiling()),
                        &mut out,
                    );
                } else {
                    self.set(
                        Phase::Observing { step, since: now },
                        format!(
                            "{} % applied",
                            self.split_for(step).percent_of(&self.canary)
                        ),
                        &mut out,
                    );
                    out.push(PlanCommand::RunChecks);
                }
            }
            (Phase::Applying { step }, PlanEvent::ApplyFailed { step: s, error }) if s == step => {
                self.set(
                    Phase::Paused {
                        step,
                        reason: format!("step {} could not be applied: {error}", step + 1),
                        was_observing: false,
                    },
                    error,
                    &mut out,
                );
            }
            (_, PlanEvent::ManualChange) => {
                if let Some(step) = self.phase.step() {
                    self.set(
                        Phase::Paused {
                            step,
                            reason: "traffic was changed by hand".into(),
                            was_observing: false,
                        },
                        "manual traffic change".into(),
                        &mut out,
                    );
                }
            }
            (
                Phase::Observing { step, .. } | Phase::WaitingApproval { step },
                PlanEvent::Gates(Verdict::Red(r)),
            ) => self.on_red(step, r, &mut out),
            (Phase::Observing { step, since }, event @ (PlanEvent::Tick | PlanEvent::Gates(_)))
                if self.window_over(step, since, now) =>
            {
                match self.spec.mode {
                    PlanMode::Manual => self.set(
                        Phase::WaitingApproval { step },
                        "observation window elapsed".into(),
                        &mut out,
                    ),
                    // Never promote blind: no data after the window pauses.
                    // (`Confirming` waits: it turns red or clears.)
                    PlanMode::Auto => {
                        if let PlanEvent::Gates(Verdict::NoData(why)) = &event {
                            self.set(
                                Phase::Paused {
                                    step,
                                    reason: format!("no data to judge the step: {why}"),
                                    was_observing: true,
                                },
                                format!("no data: {why}"),
                                &mut out,
                            );
                        }
                    }
                }
            }
            (Phase::Observing { step, since }, PlanEvent::Advance { override_reason }) => {
                match override_reason {
                    Some(r) => self.go_to_step(
                        step + 1,
                        format!("advanced early by override: {r}"),
                        &mut out,
                    ),
                    None if self.window_over(step, since, now) => {
                        self.go_to_step(step + 1, "advanced".into(), &mut out)
                    }
                    None => {}
                }
            }
            (Phase::WaitingApproval { step }, PlanEvent::Advance { override_reason }) => {
                let why = override_reason.map_or("approved".to_string(), |r| {
                    format!("approved by override: {r}")
                });
                self.go_to_step(step + 1, why, &mut out);
            }
            (
                Phase::Observing { step, .. }
                | Phase::WaitingApproval { step }
                | Phase::Applying { step },
                e @ (PlanEvent::TogglePause | PlanEvent::Pause { .. }),
            ) => {
                let was_observing = !matches!(self.phase, Phase::Applying { .. });
                let reason = match e {
                    PlanEvent::Pause { reason } => reason,
                    _ => "paused by the operator".into(),
                };
                self.set(
                    Phase::Paused {
                        step,
                        reason,
                        was_observing,
                    },
                    "paused".into(),
                    &mut out,
                );
            }
            (
                Phase::Paused {
                    step,
                    was_observing: true,
                    ..
                },
                PlanEvent::TogglePause,
            ) => {
                // Resuming restarts the window: the operator was not watching.
                self.set(
                    Phase::Observing { step, since: now },
                    "resumed".into(),
                    &mut out,
                );
                out.push(PlanCommand::RunChecks);
            }
            (Phase::Paused { step, .. }, PlanEvent::TogglePause) => {
                // The step's split may not hold (failed apply, manual change): apply it again.
                self.go_to_step(step, "resumed: re-applying the step".into(), &mut out);
            }
            (
                Phase::Paused { step, .. },
                PlanEvent::Advance {
                    override_reason: Some(r),
                },
            ) => {
                self.go_to_step(
                    (step + 1).min(last),
                    format!("advanced from pause by override: {r}"),
                    &mut out,
                );
            }
            _ => {}
        }
        if self.phase.is_finished() && self.finished.is_none() {
            self.finished = Some(now);
        }
        out
    }

    /// In auto mode, a green verdict after the window advances the plan.
    pub fn advance_if_green(&mut self, verdict: &Verdict, now: DateTime<Utc>) -> Vec<PlanCommand> {
        let mut out = Vec::new();
        if self.spec.mode != PlanMode::Auto || *verdict != Verdict::Green {
            return out;
        }
        if let Phase::Observing { step, since } = self.phase {
            if self.window_over(step, since, now) {
                self.go_to_step(step + 1, "window elapsed, gates green".into(), &mut out);
            }
        }
        out
    }
}

/// Durations as whole seconds in the journal.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}
