//! The whole state of the cockpit. `update` changes it; render only reads it.

use chrono::{DateTime, Utc};
use std::fmt;
use tui_textarea::TextArea;

use super::action::ChangeKind;
use super::key::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use super::keymap::Keymap;
use super::model::{
    LogEntry, MetricsBatch, PlatformInfo, Revision, ServiceSnapshot, Severity, TrafficSplit,
    Version,
};
use super::plan::{Offer, Phase, Plan, PlanSpec, Verdict};
use super::ring::Ring;
use super::roles::{RoleHistory, RoleInputs, Roles};

/// What the fixed thresholds (`[gates]`) do: act on the plan, or only
/// observe (evaluated, shown, journaled, never rolling back nor holding a
/// promotion; the judge, in `act` mode, then decides alone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GatesMode {
    #[default]
    Act,
    Observe,
}

impl GatesMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GatesMode::Act => "act",
            GatesMode::Observe => "observe",
        }
    }
}

/// The fixed thresholds' own verdict while they only observe: what they
/// would have done, shown and journaled, never fed to the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedGates {
    /// After the same sustain guard as acting gates (`Confirming`, then `Red`).
    pub verdict: Verdict,
    pub red_since: Option<DateTime<Utc>>,
}

/// Thresholds drawn on the metric panels.
#[derive(Clone, Debug, PartialEq)]
pub struct Gates {
    /// Act on the plan, or observe only.
    pub mode: GatesMode,
    pub error_percent: f64,
    pub p95_latency_ms: f64,
    /// How much recent data a verdict averages over.
    pub window: std::time::Duration,
    /// A gate must stay red this long before it counts (noise guard).
    pub sustain: std::time::Duration,
    /// Fewer canary requests than this in the window is "no data".
    pub min_requests: f64,
    /// Metrics older than this never make the gates green: a source that
    /// hangs says nothing until its request times out.
    pub max_metrics_age: std::time::Duration,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            mode: GatesMode::Act,
            error_percent: 1.0,
            p95_latency_ms: 500.0,
            window: std::time::Duration::from_secs(60),
            sustain: std::time::Duration::from_secs(20),
            min_requests: 50.0,
            max_metrics_age: std::time::Duration::from_secs(15),
        }
    }
}

/// One verification check as the battery shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInfo {
    pub name: String,
    /// `http`, `ready`, `metrics-endpoint`, `query`, `logs`.
    pub kind: String,
    pub blocking: bool,
}

/// Where a check stands: not run yet, running, or how it ended. One type
/// for the checks that produce it and the battery that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pending,
    Running,
    Pass,
    /// A non-blocking check failed.
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pending => "pending",
            CheckStatus::Running => "running",
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check run, as the check returns it and the battery
/// shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    /// `Pass`, `Warn` or `Fail`.
    pub status: CheckStatus,
    /// What was measured, for display next to `expected`: `503`, `0.7333`.
    pub measured: Option<String>,
    /// The threshold: `200`, `> 0.8`.
    pub expected: Option<String>,
    /// One line for people: why it passed or failed.
    pub reason: String,
    pub duration: std::time::Duration,
    /// Requests made (0 when the check could not start, e.g. a missing tag URL).
    pub attempts: u32,
}

/// What a metrics check measured when its source had no data.
pub const NO_DATA: &str = "no data";

impl CheckResult {
    /// The check found no data to measure (a metric before any traffic):
    /// no verdict on the revision.
    pub fn no_data(&self) -> bool {
        self.measured.as_deref() == Some(NO_DATA)
    }

    /// [`Self::duration`] in whole milliseconds, as shown and journaled.
    pub fn duration_ms(&self) -> u64 {
        u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX)
    }
}

/// One row of the Checks panel.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    pub info: CheckInfo,
    pub status: CheckStatus,
    pub started: Option<DateTime<Utc>>,
    pub result: Option<CheckResult>,
}

/// A run of every configured check against one revision.
#[derive(Clone, Debug, PartialEq)]
pub struct Battery {
    pub id: u64,
    pub revision: String,
    pub started: DateTime<Utc>,
    pub rows: Vec<CheckRow>,
    pub finished: Option<DateTime<Utc>>,
}

impl Battery {
    pub fn blocking_failures(&self) -> Vec<&CheckRow> {
        self.rows
            .iter()
            .filter(|r| r.status == CheckStatus::Fail && r.info.blocking)
            .collect()
    }
}

/// The settings `update` needs, taken from the config and the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub step: u8,
    pub max_step: u8,
    pub read_only: bool,
    pub demo: bool,
    /// Scenario name shown next to the DEMO badge.
    pub scenario: Option<String>,
    pub canary_tag: String,
    /// Rollback target pinned in the config.
    pub stable_pin: Option<String>,
    pub gates: Gates,
    pub log_capacity: usize,
    pub min_severity: Severity,
    pub follow: bool,
    pub keymap: Keymap,
    /// Colours on (off with NO_COLOR or `color = "never"`).
    pub color: bool,
    pub plan: PlanSpec,
    pub checks: Vec<CheckInfo>,
    /// The statistical judge (canary vs stable), `[judge]`.
    pub judge: super::judge::JudgeSettings,
    /// Deploys and prunes, `[deploy]` and `[revisions]`.
    pub release: super::release::ReleaseSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            step: 5,
            max_step: 25,
            read_only: false,
            demo: false,
            scenario: None,
            canary_tag: "canary".into(),
            stable_pin: None,
            gates: Gates::default(),
            log_capacity: 10_000,
            min_severity: Severity::Default,
            follow: true,
            keymap: Keymap::defaults(),
            color: true,
            plan: PlanSpec::domain_default(),
            checks: Vec::new(),
            judge: super::judge::JudgeSettings::default(),
            release: super::release::ReleaseSettings::default(),
        }
    }
}

/// What the operator is asked to confirm.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirmation {
    pub kind: ChangeKind,
    pub before: TrafficSplit,
    pub after: TrafficSplit,
    /// The version the decision was made on; sent as the precondition.
    pub expect: Version,
    /// The exact call(s) that will be made.
    pub preview: Vec<String>,
    /// Why the confirmation is asked (large jump, someone else changed the service...).
    pub note: Option<String>,
    /// What confirming does besides (or instead of) a plain traffic change.
    pub plan_action: Option<PlanAction>,
    /// The plan's phase when the dialog opened: a dialog never acts on a
    /// world that moved under it (closed or asked again, see `update`).
    pub plan_phase: Option<Phase>,
    /// Opened by the cockpit, not by a key (a restart, a conflict, a world
    /// that moved): only `y` answers it, not an Enter meant for something else.
    pub unprompted: bool,
    /// Not a traffic change: scale this revision, kept warm after a switch,
    /// to 0 (the split stays as it is; `preview` holds the platform's call).
    pub scale_down: Option<Box<super::model::KeepWarm>>,
}

/// Plan operations that go through a confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanAction {
    /// Start the plan with `kind`'s first step.
    Start,
    /// Advance despite red gates or an unfinished window: needs a reason.
    Override,
    /// The last step (100 %) in manual mode.
    Advance,
    /// Abort: roll back now.
    Abort,
    /// A request to a plan another process drives, written into its lease
    /// (no traffic change here: the driver obeys it).
    Remote(super::lease::RequestKind),
}

#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    SetSplit,
    Filter,
    /// The `:` command line.
    Command,
    /// `D`: the image to deploy (and `--tag`, `--env`).
    Deploy,
    /// Why: asked after a promotion / override / plan start was confirmed,
    /// before it is carried out.
    Reason {
        then: Box<Confirmation>,
        required: bool,
    },
    /// Why, asked after change `id` was already sent (a rollback goes out at
    /// the first confirmation): Enter journals it, Esc only skips it.
    Annotate {
        id: u64,
        kind: ChangeKind,
        after: TrafficSplit,
    },
}

/// A text input box.
///
/// The editor is tui-textarea's `TextArea`, kept in the state: the one
/// terminal-library type the core holds. Replacing it is not cheap: it
/// brings the line editing people expect (Emacs keys, word motions, undo,
/// yank), the horizontal scrolling of a long line and the cursor drawing,
/// all pinned by the snapshots; a copy would be a second editor to keep
/// right. It stays a plain value (cloned with the state, fed keys through
/// [`editor_input`], drawn by `ui/input.rs`); keys reach it as the core's
/// own [`KeyEvent`], not crossterm's.
#[derive(Clone, Debug)]
pub struct Input {
    pub kind: InputKind,
    pub textarea: TextArea<'static>,
    /// Live feedback: the split that Enter would ask for, or why not.
    pub feedback: Option<Result<TrafficSplit, String>>,
    /// What Enter would do, or the completions Tab found (command line).
    pub hint: Option<String>,
    /// The filter before editing, restored by Esc.
    pub previous: String,
}

/// A key for the input box's editor, as tui-textarea's own crossterm
/// conversion makes it (a release is no input; keys it has no name for are
/// `Null`): `runtime/terminal.rs` tests that the two agree.
pub fn editor_input(key: KeyEvent) -> tui_textarea::Input {
    use tui_textarea::Key;
    if key.kind == KeyEventKind::Release {
        return tui_textarea::Input::default();
    }
    let code = match key.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Enter => Key::Enter,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Tab => Key::Tab,
        KeyCode::Delete => Key::Delete,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Esc => Key::Esc,
        KeyCode::F(n) => Key::F(n),
        KeyCode::BackTab | KeyCode::Insert | KeyCode::Other => Key::Null,
    };
    tui_textarea::Input {
        key: code,
        ctrl: key.modifiers.contains(KeyModifiers::CONTROL),
        alt: key.modifiers.contains(KeyModifiers::ALT),
        shift: key.modifiers.contains(KeyModifiers::SHIFT),
    }
}

/// Which records the history view lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HistoryKind {
    #[default]
    All,
    Traffic,
    Plan,
    Checks,
}

impl HistoryKind {
    pub fn next(self) -> HistoryKind {
        match self {
            HistoryKind::All => HistoryKind::Traffic,
            HistoryKind::Traffic => HistoryKind::Plan,
            HistoryKind::Plan => HistoryKind::Checks,
            HistoryKind::Checks => HistoryKind::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            HistoryKind::All => "all",
            HistoryKind::Traffic => "traffic",
            HistoryKind::Plan => "plan",
            HistoryKind::Checks => "checks",
        }
    }

    pub fn matches(self, e: &crate::core::record::Event) -> bool {
        use crate::core::record::Event as E;
        match self {
            HistoryKind::All => true,
            HistoryKind::Traffic => matches!(
                e,
                E::TrafficRequested { .. }
                    | E::TrafficApplied { .. }
                    | E::TrafficFailed { .. }
                    | E::TrafficReconciled { .. }
                    | E::TrafficReason { .. }
                    | E::ServiceObserved { .. }
            ),
            HistoryKind::Plan => matches!(
                e,
                E::PlanStarted { .. }
                    | E::PlanTransition { .. }
                    | E::PhaseMetrics { .. }
                    | E::GatesObserved(_)
            ),
            HistoryKind::Checks => matches!(e, E::Checks { .. }),
        }
    }
}

/// The history view: the journal's records, filtered.
#[derive(Clone, Debug, Default)]
pub struct JournalView {
    /// `None` while the journal is being read.
    pub records: Option<Result<Vec<crate::core::record::Record>, String>>,
    pub kind: HistoryKind,
    /// Text to match (who, what, why).
    pub filter: String,
    /// Typing goes into the filter.
    pub editing: bool,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
}

/// Modes are an enum, not a set of booleans.
#[derive(Clone, Debug)]
pub enum Mode {
    Normal,
    /// The key list (scrolls where the terminal is short).
    Help {
        scroll: u16,
    },
    /// The audit journal's history inside the cockpit (`J`, `:journal`).
    Journal(Box<JournalView>),
    /// Everything known about one revision (Enter): full image, conditions,
    /// tag URL, traffic target vs serving, metrics, and its checks in full.
    Detail {
        revision: String,
        /// Lines scrolled off the top.
        scroll: u16,
    },
    Confirm(Confirmation),
    Input(Box<Input>),
    /// A deploy, a deletion or a prune to confirm, with the exact calls.
    Release(Box<super::release::ReleaseConfirm>),
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Help { .. } => "help",
            Mode::Detail { .. } => "detail",
            Mode::Journal(_) => "journal",
            Mode::Confirm(_) => "confirm",
            Mode::Release(_) => "confirm-release",
            Mode::Input(i) => match i.kind {
                InputKind::Filter => "filter",
                InputKind::SetSplit => "set-split",
                InputKind::Command => "command",
                InputKind::Deploy => "deploy",
                InputKind::Reason { .. } | InputKind::Annotate { .. } => "reason",
            },
        }
    }
}

/// A traffic change sent to the platform and not yet confirmed.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingChange {
    pub id: u64,
    pub kind: ChangeKind,
    pub before: TrafficSplit,
    pub split: TrafficSplit,
    pub started: DateTime<Utc>,
    pub reason: Option<String>,
}

/// A change asked for while another was in flight; sent when that one lands
/// (with the id it was given when asked for).
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedChange {
    pub id: u64,
    pub kind: ChangeKind,
    pub split: TrafficSplit,
    pub reason: Option<String>,
    /// The split it was decided on, when known (a change refused by the
    /// platform's concurrency check): when the re-read shows that split
    /// unchanged, only the version moved (Cloud Run: a lease renewal, a
    /// label) and the change is sent again once instead of asked again.
    pub decided_on: Option<TrafficSplit>,
}

/// Freshness of one background source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceHealth {
    pub last_ok: Option<DateTime<Utc>>,
    pub error: Option<(String, DateTime<Utc>)>,
}

impl SourceHealth {
    pub fn ok(&mut self, now: DateTime<Utc>) {
        self.last_ok = Some(now);
        self.error = None;
    }

    pub fn failed(&mut self, message: String, now: DateTime<Utc>) {
        self.error = Some((message, now));
    }

    /// Seconds since the last good data, if any.
    pub fn age_secs(&self, now: DateTime<Utc>) -> Option<i64> {
        self.last_ok.map(|t| (now - t).num_seconds().max(0))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Something that went wrong by itself (an automatic rollback, a failed
/// one): the header carries it until the operator acknowledges it.
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    pub text: String,
    pub at: DateTime<Utc>,
}

/// The footer's last result.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub level: Level,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// How the log tail is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct LogView {
    pub filter: String,
    pub min_severity: Severity,
    pub follow: bool,
    /// When not following: sequence number of the bottom line shown.
    pub anchor: Option<u64>,
    /// Only this revision's entries (follows the selection); `None`: all.
    pub revision: Option<String>,
}

impl LogView {
    pub fn matches(&self, e: &LogEntry) -> bool {
        if e.severity < self.min_severity {
            return false;
        }
        if let Some(r) = &self.revision {
            if e.revision.as_deref() != Some(r.as_str()) {
                return false;
            }
        }
        if self.filter.is_empty() {
            return true;
        }
        contains_ci(&e.message, &self.filter)
            || e.revision
                .as_deref()
                .is_some_and(|r| contains_ci(r, &self.filter))
    }
}

/// Case-insensitive substring test without allocating for ASCII needles.
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let n = needle.as_bytes();
    if needle.is_ascii() {
        haystack
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n))
    } else {
        haystack.to_lowercase().contains(&needle.to_lowercase())
    }
}

/// The cockpit's state.
#[derive(Clone, Debug)]
pub struct State {
    pub settings: Settings,
    pub info: PlatformInfo,
    pub mode: Mode,
    pub now: DateTime<Utc>,
    pub started: DateTime<Utc>,

    pub snapshot: Option<ServiceSnapshot>,
    /// Bumped by every traffic change that lands. A read carries the
    /// generation it started at: one older than this started before the last
    /// change landed, is stale, and is ignored (no clock involved).
    pub write_generation: u64,
    pub service_health: SourceHealth,
    /// Who is stable (the rollback target) and who is the canary: decided
    /// by [`super::roles::decide`] after every action, nowhere else.
    pub roles: Roles,
    /// The last revision seen at 100 % (this session's reads and changes,
    /// and the journal's), for [`Self::roles`].
    pub role_history: RoleHistory,
    pub selected: Option<String>,

    pub change: Option<PendingChange>,
    pub queued: Option<QueuedChange>,
    pub next_change_id: u64,
    /// A change refused because the service moved; re-asked on the next read.
    pub conflicted: Option<QueuedChange>,
    /// The change sent again after a conflict that moved only the version
    /// (once: a second conflict on it is asked).
    pub resent_after_conflict: Option<u64>,

    pub logs: Ring<LogEntry>,
    pub log_view: LogView,
    pub logs_health: SourceHealth,

    pub metrics: MetricsBatch,
    pub metrics_health: SourceHealth,

    /// The promotion plan, running or finished.
    pub plan: Option<Plan>,
    /// The gates' latest verdict for the canary, and since when it is red.
    pub verdict: Verdict,
    pub red_since: Option<DateTime<Utc>>,
    /// The thresholds' verdict while they only observe (`[gates] mode =
    /// "observe"`); `None` while they act (then they are in `verdict`).
    pub observed_gates: Option<ObservedGates>,
    /// The statistical judge's data and latest evidence.
    pub judge: super::judge::JudgeState,
    /// The latest verification battery.
    pub battery: Option<Battery>,
    /// The last split a platform confirmed (this session, or the journal's).
    pub last_applied: Option<TrafficSplit>,
    /// The re-apply offer after a platform restart was made (once per restart).
    pub restart_offered: bool,
    pub next_battery_id: u64,
    /// What the journal replay found at start (shown once).
    pub journal_error: Option<String>,
    /// The journal cannot be written now (why): every change but a rollback
    /// is refused until it can.
    pub journal_broken: Option<String>,
    pub notify_error: Option<(String, DateTime<Utc>)>,
    /// The shared audit trail fails (its last error, since when); the local
    /// journal has every record.
    pub audit_degraded: Option<(String, DateTime<Utc>)>,

    pub message: Option<Message>,
    /// Shown in the header until acknowledged.
    pub alarm: Option<Alarm>,
    /// `q` pressed once while a change is in flight.
    pub quit_armed: bool,
    /// `q` pressed once while a plan runs: the next `q` pauses it and quits.
    pub quit_plan_asked: bool,
    pub quit: bool,
    /// Effects produced outside `update` (the journaled resume of an
    /// interrupted plan), sent with the first `update`.
    pub pending_effects: Vec<super::action::Effect>,
    /// Deploys and deletions of revisions: in flight, last result, previews.
    pub release: super::release::ReleaseState,
    /// The judge's fresh baseline revision: deploying it before a plan, deleting it after.
    pub baseline: super::baseline::BaselineRun,
    /// The old colour kept warm after a blue/green switch: asked about or
    /// being scaled to 0.
    pub keep_warm: KeepWarmState,
    /// The lease of a plan another process drives (`canary release`), as
    /// last read, and this cockpit's requests to it.
    pub remote: RemoteState,
}

/// What the cockpit knows of a driver's lease (read in the background at
/// every service refresh).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteState {
    /// The lease as last read (`None`: nobody holds it).
    pub lease: Option<super::lease::LeaseInfo>,
    /// Where it is kept, for messages.
    pub location: String,
    /// When it was last read.
    pub read_at: Option<DateTime<Utc>>,
    /// Why the last read failed.
    pub error: Option<String>,
    /// A request this cockpit is writing (its kind) and when it was asked.
    pub writing: Option<(super::lease::RequestKind, DateTime<Utc>)>,
    /// The request this cockpit wrote, until the driver acknowledges it.
    pub sent: Option<super::lease::RemoteRequest>,
}

impl RemoteState {
    /// The live lease of another driver (held, not expired).
    pub fn driver(&self, now: DateTime<Utc>) -> Option<&super::lease::LeaseInfo> {
        self.lease.as_ref().filter(|l| !l.expired(now))
    }
}

/// What became of the platform's keep-warm countdown ([`super::model::KeepWarm`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepWarmState {
    /// A scale-down sent and not yet answered (the revision).
    pub in_flight: Option<String>,
    /// The operator said no: not asked again before this.
    pub declined_until: Option<DateTime<Utc>>,
}

impl State {
    pub fn new(settings: Settings, info: PlatformInfo, now: DateTime<Utc>) -> State {
        let logs = Ring::new(settings.log_capacity);
        let log_view = LogView {
            filter: String::new(),
            min_severity: settings.min_severity,
            follow: settings.follow,
            anchor: None,
            revision: None,
        };
        State {
            settings,
            info,
            mode: Mode::Normal,
            now,
            started: now,
            snapshot: None,
            write_generation: 0,
            service_health: SourceHealth::default(),
            roles: Roles::default(),
            role_history: RoleHistory::default(),
            selected: None,
            change: None,
            queued: None,
            next_change_id: 1,
            conflicted: None,
            resent_after_conflict: None,
            logs,
            log_view,
            logs_health: SourceHealth::default(),
            metrics: MetricsBatch::default(),
            metrics_health: SourceHealth::default(),
            plan: None,
            verdict: Verdict::NoData("no metrics yet".into()),
            red_since: None,
            observed_gates: None,
            judge: super::judge::JudgeState::default(),
            battery: None,
            last_applied: None,
            restart_offered: false,
            next_battery_id: 1,
            journal_error: None,
            journal_broken: None,
            notify_error: None,
            audit_degraded: None,
            message: None,
            alarm: None,
            quit_armed: false,
            quit_plan_asked: false,
            quit: false,
            pending_effects: Vec::new(),
            release: super::release::ReleaseState::default(),
            baseline: super::baseline::BaselineRun::default(),
            keep_warm: KeepWarmState::default(),
            remote: RemoteState::default(),
        }
    }

    /// What the operator can do to the plan now (see [`Plan::offers`]).
    pub fn plan_offers(&self) -> Vec<Offer> {
        match &self.plan {
            Some(plan) => plan.offers(&self.verdict),
            None => vec![Offer::NO_PLAN],
        }
    }

    /// The phase of a plan that is running.
    pub fn active_phase(&self) -> Option<Phase> {
        self.plan
            .as_ref()
            .filter(|p| !p.phase.is_finished())
            .map(|p| p.phase.clone())
    }

    /// The stable revision (the rollback target), if known.
    pub fn stable(&self) -> Option<&str> {
        self.roles.stable.as_deref()
    }

    /// The canary, if any.
    pub fn canary(&self) -> Option<&str> {
        self.roles.canary.as_deref()
    }

    /// Applies the one rule of [`super::roles`] to the current state.
    pub fn decide_roles(&self) -> Roles {
        let Some(snapshot) = self.snapshot.as_ref() else {
            return Roles::default();
        };
        let plan = self
            .plan
            .as_ref()
            .filter(|p| !p.phase.is_finished())
            .map(|p| (p.canary.as_str(), p.stable.as_str()));
        super::roles::decide(RoleInputs {
            snapshot,
            pin: self.settings.stable_pin.as_deref(),
            canary_tag: &self.settings.canary_tag,
            history: &self.role_history,
            plan,
            pending: self.desired(),
        })
    }

    pub fn revisions(&self) -> &[Revision] {
        self.snapshot
            .as_ref()
            .map_or(&[], |s| s.revisions.as_slice())
    }

    pub fn selected_revision(&self) -> Option<&Revision> {
        let name = self.selected.as_deref()?;
        self.revisions().iter().find(|r| r.name == name)
    }

    pub fn selected_index(&self) -> Option<usize> {
        let name = self.selected.as_deref()?;
        self.revisions().iter().position(|r| r.name == name)
    }

    /// The split the operator is building on: the queued change, else the one
    /// in flight, else what the platform was last asked for.
    pub fn desired(&self) -> Option<&TrafficSplit> {
        self.queued
            .as_ref()
            .map(|q| &q.split)
            .or(self.change.as_ref().map(|c| &c.split))
            .or(self.snapshot.as_ref().map(|s| &s.traffic))
    }

    /// Sequence number of the first entry still in the log ring.
    pub fn first_log_seq(&self) -> u64 {
        self.logs.dropped()
    }

    /// Sequence number one past the newest log entry.
    pub fn end_log_seq(&self) -> u64 {
        self.logs.dropped() + self.logs.len() as u64
    }
}
