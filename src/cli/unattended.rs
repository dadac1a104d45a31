//! `canary release`: the cockpit's plan engine (the same `update`, plan,
//! gates, checks battery, journal recorder and notifier) run unattended,
//! for CI; with `--image`, the deploy first ([`crate::runtime::headless::Deploy`]). No terminal: events on stdout ([`super::events`]), progress on
//! stderr, and an exit code that says how it ended:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | promoted: the canary is at 100 % |
//! | 1 | failed to act: a platform error (`--image`'s deploy refused included), the service could not be read, the start was refused |
//! | 2 | bad usage or config (an unknown `--plan`, malformed `--steps`, `--image` where the platform cannot deploy) |
//! | 3 | the canary was bad: rolled back (a gate or a blocking check failed), or `--image`'s revision rejected by its checks before any traffic |
//! | 4 | stopped, waiting for a human: paused, waiting for approval, no data at the timeout |

use std::process::ExitCode;
use std::time::Duration;

use super::events::Stream;
use crate::app::{self, Options};
use crate::config::Config;
use crate::core::plan::{OnCancel, PlanMode, PlanSpec, PlanStep};
use crate::core::state::State;
use crate::journal::{self, Journal, Who};
use crate::platform::lease::{Acquired, Lease, LeaseError, LeaseInfo};
use crate::runtime::headless::{self, Ending};
use crate::runtime::record::Recorder;
use crate::runtime::{self, Backends};

/// Exit codes of `canary release` (and `canary wait`).
pub mod exit {
    pub const PROMOTED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const ROLLED_BACK: u8 = 3;
    pub const WAITING: u8 = 4;
}

/// `canary release`'s own arguments (`--timeout` is the global one).
#[derive(clap::Args, Debug, Clone)]
pub struct ReleaseArgs {
    /// Deploy this image first (no traffic, tagged, as `canary deploy`),
    /// check it on its tag URL, then walk the plan with it as the canary.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The new revision's traffic tag (default: `[deploy] tag`); with --image.
    #[arg(long, requires = "image")]
    pub tag: Option<String>,
    /// An environment variable of the new revision (plain value),
    /// repeatable; with --image. Journaled by name only.
    #[arg(long = "env", value_name = "KEY=VALUE", requires = "image")]
    pub env: Vec<String>,
    /// A plan named in the config (`[plans.NAME]`); default `[plan]`.
    #[arg(long, value_name = "NAME", conflicts_with = "steps")]
    pub plan: Option<String>,
    /// The steps on the command line: `20:10m,50:30m,100` (percent:window).
    #[arg(long, value_name = "PERCENT:WINDOW,…")]
    pub steps: Option<String>,
    /// Advance by itself when a window is over and the gates are green
    /// (else the run stops, exit 4, when the first window is observed).
    #[arg(long)]
    pub auto: bool,
    /// No progress on stderr (the events on stdout stay).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Why, for the journal and the team.
    #[arg(long)]
    pub reason: Option<String>,
    /// Take over the lease of a driver whose lease expired (it died); journaled.
    #[arg(long)]
    pub take_over: bool,
}

/// `20:10m,50:30m,100` → steps (the plan's own validation follows).
pub fn parse_steps(text: &str) -> Result<Vec<PlanStep>, String> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            let (pct, window) = match item.split_once(':') {
                Some((p, w)) => (p, Some(w)),
                None => (item, None),
            };
            let percent: u8 = pct
                .trim()
                .trim_end_matches('%')
                .parse()
                .map_err(|_| format!("`{item}`: expected PERCENT[:WINDOW] such as 20:10m"))?;
            let observe = match window {
                None => Duration::ZERO,
                Some(w) if w.trim() == "0" => Duration::ZERO,
                Some(w) => {
                    crate::core::duration::parse(w.trim()).map_err(|e| format!("`{item}`: {e}"))?
                }
            };
            Ok(PlanStep { percent, observe })
        })
        .collect()
}

/// The plan a release runs, and what cancelling it leaves.
pub fn plan_of(config: &Config, args: &ReleaseArgs) -> Result<(PlanSpec, OnCancel), String> {
    let (mut spec, on_cancel) = match &args.plan {
        Some(name) => {
            let Some(named) = config.plans.get(name) else {
                let known: Vec<&str> = config.plans.keys().map(String::as_str).collect();
                return Err(format!(
                    "no plan named `{name}` in the config (known: {})",
                    if known.is_empty() {
                        "none; add a [plans.NAME] section".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            (
                named.spec.clone(),
                named.on_cancel.unwrap_or(config.on_cancel),
            )
        }
        None => (config.plan.clone(), config.on_cancel),
    };
    if let Some(text) = &args.steps {
        spec.steps = parse_steps(text)?;
    }
    if args.auto {
        spec.mode = PlanMode::Auto;
    }
    spec.validate().map_err(|e| format!("--steps: {e}"))?;
    Ok((spec, on_cancel))
}

/// The exit code of an ending.
pub fn exit_code(ending: &Ending) -> u8 {
    match ending {
        Ending::Promoted => exit::PROMOTED,
        Ending::RolledBack(_) => exit::ROLLED_BACK,
        Ending::Waiting(_) => exit::WAITING,
        Ending::Failed(_) => exit::FAILED,
        Ending::Rejected(_) => exit::ROLLED_BACK,
    }
}

/// How long a release may run without `--timeout`: the plan's windows and
/// ten minutes more (checks, metrics lag, the changes themselves).
pub fn default_timeout(spec: &PlanSpec) -> Duration {
    spec.steps.iter().map(|s| s.observe).sum::<Duration>() + Duration::from_secs(600)
}

/// Runs `canary release` to its end.
pub fn run(
    args: &ReleaseArgs,
    config: &Config,
    read_only: bool,
    timeout: Option<Duration>,
) -> ExitCode {
    let (spec, on_cancel) = match plan_of(config, args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canary: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if read_only {
        eprintln!("canary: refused: --read-only (a release changes traffic)");
        return ExitCode::from(exit::USAGE);
    }
    let timeout = timeout.unwrap_or_else(|| default_timeout(&spec));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canary: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = rt.block_on(release(config, args, spec, on_cancel, timeout));
    ExitCode::from(code)
}

async fn release(
    config: &Config,
    args: &ReleaseArgs,
    spec: PlanSpec,
    on_cancel: OnCancel,
    timeout: Duration,
) -> u8 {
    let progress: Option<Box<dyn std::io::Write + Send>> =
        (!args.quiet).then(|| Box::new(std::io::stderr()) as Box<dyn std::io::Write + Send>);
    let mut stream = Stream::new(&config.service.name, Box::new(std::io::stdout()), progress);
    let demo = config.service.platform == crate::config::PlatformKind::Simulator;
    let parts = match app::build(config, demo).await {
        Ok(p) => p,
        Err(e) => {
            let ending = Ending::Failed(format!("{e:#}"));
            stream.finished(chrono::Utc::now(), &ending, exit::FAILED);
            return exit::FAILED;
        }
    };
    let deploy = match deploy_of(args, config, parts.platform.as_ref()).await {
        Ok(d) => d,
        Err((code, why)) => {
            eprintln!("canary: {why}");
            if code == exit::FAILED {
                stream.finished(chrono::Utc::now(), &Ending::Failed(why), code);
            }
            return code;
        }
    };
    // One driver at a time: the lease, on the platform.
    let lease = match app::lease(config) {
        Ok(l) => l,
        Err(e) => {
            let ending = Ending::Failed(format!("{e:#}"));
            stream.finished(chrono::Utc::now(), &ending, exit::FAILED);
            return exit::FAILED;
        }
    };
    // Listening before the lease is taken: no way out between taking it
    // and the run that gives it back.
    let (cancel_tx, cancel) = tokio::sync::mpsc::channel(4);
    if let Err(e) = listen_for_signals(cancel_tx.clone()) {
        let ending = Ending::Failed(e);
        stream.finished(chrono::Utc::now(), &ending, exit::FAILED);
        return exit::FAILED;
    }
    let opts = Options {
        read_only: false,
        auto: args.auto,
    };
    let mut state = State::new(
        app::settings(config, &opts, demo),
        parts.platform.info(),
        chrono::Utc::now(),
    );
    // The journal, as the cockpit keeps it: a release refuses to run when
    // it is configured but cannot be opened (or a change a crash left open
    // cannot be reconciled in it).
    let journal = match open_journal(&mut state, config, parts.platform.as_ref()).await {
        Ok((j, reconciled)) => {
            for line in reconciled {
                stream.emit(
                    "note",
                    chrono::Utc::now(),
                    serde_json::json!({ "message": line }),
                    line.clone(),
                );
            }
            j
        }
        Err(e) => {
            let ending = Ending::Failed(e);
            stream.finished(chrono::Utc::now(), &ending, exit::FAILED);
            return exit::FAILED;
        }
    };
    let recorder = Recorder::new(journal, Who::from_env(), config.service.name.clone());
    let _ = recorder
        .record(journal::Event::SessionStart {
            platform: state.info.kind.clone(),
            read_only: false,
        })
        .await;
    let backends = Backends {
        platform: parts.platform,
        metrics: parts.metrics,
        logs: parts.logs,
        checks: parts.checks,
        recorder: recorder.clone(),
        notifier: app::notifier(config),
        lease: None,
    };
    let plan_name = args.plan.clone().unwrap_or_else(|| {
        if args.steps.is_some() {
            "--steps"
        } else {
            "plan"
        }
        .into()
    });
    let me = LeaseInfo::new(
        crate::platform::lease::user_at_host(),
        std::process::id(),
        plan_name,
        chrono::Utc::now(),
        LEASE_TTL,
    );
    if let Some(lease) = lease.as_deref() {
        match lease.acquire(&me, args.take_over).await {
            Ok(acquired) => {
                let previous = match &acquired {
                    Acquired::Fresh => None,
                    Acquired::TookOver(old) => Some(old.describe()),
                };
                if let Some(old) = &previous {
                    let _ = recorder
                        .record(journal::Event::Note {
                            message: format!(
                                "lease taken over (--take-over) by {} (pid {}) from {old}",
                                me.driver, me.pid
                            ),
                        })
                        .await;
                }
                stream.emit(
                    "lease",
                    chrono::Utc::now(),
                    serde_json::json!({
                        "action": if previous.is_some() { "taken-over" } else { "taken" },
                        "driver": me.driver,
                        "pid": me.pid,
                        "location": lease.location(),
                        "previous": previous,
                    }),
                    format!(
                        "lease {} at {}{}",
                        if previous.is_some() {
                            "taken over"
                        } else {
                            "taken"
                        },
                        lease.location(),
                        previous
                            .as_deref()
                            .map_or(String::new(), |p| format!(" from {p}"))
                    ),
                );
            }
            Err(e) => {
                let _ = recorder.record(journal::Event::SessionEnd).await;
                let ending = Ending::Failed(format!("refused: {e}"));
                stream.finished(chrono::Utc::now(), &ending, exit::FAILED);
                return exit::FAILED;
            }
        }
    }
    let (step_tx, step_rx) = tokio::sync::watch::channel(Published::default());
    let (tx, rx) = runtime::channel();
    let keeper = lease
        .clone()
        .map(|l| tokio::spawn(keep_lease(l, me.clone(), step_rx, cancel_tx, tx.clone())));
    let opts = headless::Options {
        spec,
        reason: args.reason.clone(),
        timeout,
        on_cancel,
        cancel,
        deploy,
    };
    let timing = app::cockpit::timing(config);
    let mut watcher = Watching {
        stream: &mut stream,
        step: step_tx,
        audit_failing: false,
    };
    // A panic (a bug) still gives the lease back and says how the run
    // ended: another driver need not wait for the lease to expire and take
    // it over. A change it cut off is reconciled at the next start.
    let run = headless::run(state, backends, timing, opts, tx, rx, &mut watcher);
    let ending = match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await {
        Ok((_state, ending)) => ending,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Ending::Failed(format!("internal error: {what}"))
        }
    };
    if let Some(k) = keeper {
        // Stopped for good before the lease is given back: a renewal still
        // running would write the lease again after its removal.
        k.abort();
        let _ = k.await;
    }
    if let Some(lease) = lease.as_deref() {
        if let Err(e) = lease.release(&me).await {
            tracing::warn!(error = %e, "the lease could not be given back");
        }
    }
    let _ = recorder.record(journal::Event::SessionEnd).await;
    let code = exit_code(&ending);
    stream.finished(chrono::Utc::now(), &ending, code);
    code
}

/// `--image`: what to deploy, checked before anything is taken or sent:
/// a platform that cannot deploy, a malformed image, tag or variable, a tag
/// already in use are exit 2 (with the sentence); a service that cannot be
/// read is exit 1.
async fn deploy_of(
    args: &ReleaseArgs,
    config: &Config,
    platform: &dyn crate::platform::Platform,
) -> Result<Option<headless::Deploy>, (u8, String)> {
    let Some(image) = &args.image else {
        return Ok(None);
    };
    if let Err(why) = platform.releases() {
        let why = match config.service.platform {
            crate::config::PlatformKind::Kubernetes => format!(
                "Kubernetes cannot deploy from canary: each revision is a Deployment rolled out \
                 outside the cockpit (kubectl, your CD); roll it out there, then run \
                 `canary release` without --image ({why})"
            ),
            _ => why,
        };
        return Err((exit::USAGE, format!("--image: {why}")));
    }
    let snapshot = platform
        .snapshot()
        .await
        .map_err(|e| (exit::FAILED, format!("the service could not be read: {e}")))?;
    crate::core::release::deploy_request(
        &snapshot,
        &config.release,
        image,
        args.tag.as_deref(),
        &args.env,
        chrono::Utc::now(),
        0,
    )
    .map_err(|e| (exit::USAGE, e))?;
    Ok(Some(headless::Deploy {
        image: image.clone(),
        tag: args.tag.clone(),
        env: args.env.clone(),
    }))
}

/// How long a lease lasts without renewal, how often it is renewed, and how
/// often the driver reads it for a cockpit's request. Renewals are rare on
/// purpose: on Cloud Run each one moves the service's etag (a traffic
/// change decided just before it is asked again); reads cost nothing of
/// the kind, so a request is seen within [`LEASE_POLL`].
const LEASE_TTL: chrono::Duration = chrono::Duration::seconds(90);
const LEASE_RENEW: Duration = Duration::from_secs(30);
pub const LEASE_POLL: Duration = Duration::from_secs(2);

/// What the driver publishes in its lease for the cockpits watching.
#[derive(Clone, Debug, Default, PartialEq)]
struct Published {
    step: Option<usize>,
    phase: Option<String>,
    percent: Option<u8>,
    window_ends: Option<chrono::DateTime<chrono::Utc>>,
    gates: Option<String>,
    /// A traffic change is in flight: not the moment to write (on Cloud Run
    /// the write would move the etag under it).
    in_flight: bool,
}

impl Published {
    fn of(state: &State) -> Published {
        let Some(plan) = state.plan.as_ref() else {
            return Published::default();
        };
        use crate::core::plan::{Phase, Verdict};
        let phase = match &plan.phase {
            Phase::Paused { step, reason, .. } => {
                format!("paused at step {}: {reason}", step + 1)
            }
            p => p.label(),
        };
        let gates = match &state.verdict {
            Verdict::Green => "green".to_string(),
            Verdict::NoData(w) => format!("no data: {w}"),
            Verdict::Confirming(w) => format!("confirming: {w}"),
            Verdict::Red(w) => format!("red: {w}"),
        };
        Published {
            step: plan.phase.step().map(|s| s + 1),
            phase: Some(crate::core::error::excerpt(&phase, 160)),
            percent: Some(plan.ceiling()),
            window_ends: plan
                .window(state.now)
                .map(|(_, left)| state.now + chrono::Duration::from_std(left).unwrap_or_default()),
            gates: Some(crate::core::error::excerpt(&gates, 160)),
            in_flight: state.change.is_some() || state.queued.is_some(),
        }
    }

    /// A change worth writing at once (not only at the next renewal).
    fn moved(&self, written: &Published) -> bool {
        (self.step, &self.phase) != (written.step, &written.phase)
    }

    fn onto(&self, me: &mut LeaseInfo) {
        me.step = self.step;
        me.phase.clone_from(&self.phase);
        me.percent = self.percent;
        me.window_ends = self.window_ends;
        me.gates.clone_from(&self.gates);
    }
}

/// The stream, plus what the lease publishes.
struct Watching<'a> {
    stream: &'a mut Stream,
    step: tokio::sync::watch::Sender<Published>,
    /// The shared audit sink was said to be failing.
    audit_failing: bool,
}

impl headless::Watcher for Watching<'_> {
    fn saw(
        &mut self,
        state: &State,
        seen: &headless::Seen,
        effects: &[crate::core::action::Effect],
    ) {
        self.stream.saw(state, seen, effects);
        // The shared audit trail going down, or back up: said once each.
        if let Some(h) = journal::shared::health() {
            let problem = h.problem(state.now);
            match (&problem, self.audit_failing) {
                (Some(line), false) => {
                    self.audit_failing = true;
                    self.stream.emit(
                        "error",
                        state.now,
                        serde_json::json!({"source": "audit", "change": null, "message": line}),
                        line.clone(),
                    );
                }
                (None, true) => {
                    self.audit_failing = false;
                    let line = format!("shared audit ({}) works again", h.location);
                    self.stream.emit(
                        "note",
                        state.now,
                        serde_json::json!({ "message": line }),
                        line.clone(),
                    );
                }
                _ => {}
            }
        }
        let now = Published::of(state);
        self.step.send_if_modified(|p| {
            let changed = *p != now;
            *p = now;
            changed
        });
    }
}

/// Keeps the lease: reads it every [`LEASE_POLL`] for a cockpit's request
/// (sent to the run as [`DriveRequest::Remote`], then acknowledged in the
/// lease), writes it when the plan's step or phase changed (nothing in
/// flight) and renews it every [`LEASE_RENEW`] with the gates. When it is
/// lost, the run is told to stop ([`headless::LEASE_LOST`]).
async fn keep_lease(
    lease: std::sync::Arc<dyn Lease>,
    mut me: LeaseInfo,
    mut published: tokio::sync::watch::Receiver<Published>,
    cancel: tokio::sync::mpsc::Sender<&'static str>,
    run: tokio::sync::mpsc::Sender<crate::core::action::Action>,
) {
    use crate::core::action::{Action, DriveRequest};
    let mut every = tokio::time::interval(LEASE_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut renewed = tokio::time::Instant::now();
    let mut written = Published::default();
    loop {
        every.tick().await;
        let now = published.borrow().clone();
        let due = renewed.elapsed() >= LEASE_RENEW;
        let stored = if due || (now.moved(&written) && !now.in_flight) {
            now.onto(&mut me);
            me.renewed = Some(chrono::Utc::now());
            me.deadline = chrono::Utc::now() + LEASE_TTL;
            match lease.renew(&me).await {
                Ok(stored) => {
                    renewed = tokio::time::Instant::now();
                    written = now;
                    Some(stored)
                }
                Err(LeaseError::Lost(why)) => {
                    tracing::warn!(%why, "the lease was lost: stopping");
                    let _ = cancel.send(headless::LEASE_LOST).await;
                    return;
                }
                // A platform hiccup: the next renewal tries again (60 s of slack).
                Err(e) => {
                    tracing::warn!(error = %e, "the lease could not be renewed");
                    None
                }
            }
        } else {
            match lease.read().await {
                Ok(Some(held)) if held.same_holder(&me) => Some(held),
                Ok(Some(held)) => {
                    tracing::warn!(holder = %held.describe(), "the lease was lost: stopping");
                    let _ = cancel.send(headless::LEASE_LOST).await;
                    return;
                }
                // Removed under the run (someone freed it by hand): another
                // driver may take it now; stop as for a lease taken over
                // (the renewal would say so 30 s later).
                Ok(None) => {
                    tracing::warn!("the lease was removed: stopping");
                    let _ = cancel.send(headless::LEASE_LOST).await;
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "the lease could not be read");
                    None
                }
            }
        };
        let Some(request) = stored.as_ref().and_then(|s| s.pending()).cloned() else {
            continue;
        };
        if me.request.as_ref().is_some_and(|m| m.same(&request)) {
            continue; // obeyed already; the acknowledgement is being written
        }
        tracing::info!(request = %request.describe(), "a cockpit's request, read from the lease");
        let _ = run
            .send(Action::Drive(DriveRequest::Remote(request.clone())))
            .await;
        me.request = Some(crate::platform::lease::RemoteRequest {
            acked: Some(chrono::Utc::now()),
            ..request
        });
        // Acknowledged once the run has taken it (with the phase it led
        // to), and not while a change it caused is in flight (a rollback):
        // on Cloud Run the write would move the etag under it.
        published.mark_unchanged();
        let settle = tokio::time::Instant::now() + Duration::from_secs(10);
        let _ = tokio::time::timeout_at(
            settle.min(tokio::time::Instant::now() + Duration::from_millis(300)),
            published.changed(),
        )
        .await;
        while published.borrow().in_flight && tokio::time::Instant::now() < settle {
            let _ = tokio::time::timeout_at(settle, published.changed()).await;
        }
        let now = published.borrow().clone();
        now.onto(&mut me);
        written = now;
        me.renewed = Some(chrono::Utc::now());
        match lease.renew(&me).await {
            Ok(_) => renewed = tokio::time::Instant::now(),
            Err(e) => {
                tracing::warn!(error = %e, "the request's acknowledgement could not be written")
            }
        }
    }
}

/// Opens the journal, reconciles the changes a crash left without an
/// outcome against the platform (as every start does: the cockpit, the
/// scripts), then replays it (change numbers, roles, the last split, a plan
/// to resume). Returns the journal and one line per reconciled change.
async fn open_journal(
    state: &mut State,
    config: &Config,
    platform: &dyn crate::platform::Platform,
) -> Result<(Option<Journal>, Vec<String>), String> {
    state.next_change_id = journal::fresh_change_id();
    let Some(path) = app::journal_path(config) else {
        return Ok((None, Vec::new()));
    };
    let mut opened = Journal::open(&path)
        .map_err(|e| format!("the audit journal {} cannot be opened: {e}", path.display()))?;
    let reconciled = super::reconcile::on_start(
        platform,
        &path,
        Some(&mut opened),
        &Who::from_env(),
        &config.service.name,
    )
    .await?;
    let replay = journal::replay(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    state.last_applied = replay.last_split().cloned();
    state.next_change_id = replay.fresh_change_id();
    state.role_history = replay.role_history();
    if let Some((canary, stable, spec, phase, started)) = replay.interrupted_plan() {
        crate::core::update::resume_interrupted_plan(state, canary, stable, spec, phase, started);
    }
    Ok((Some(opened), reconciled))
}

/// SIGTERM and SIGINT (a cancelled CI job, Ctrl-C) cancel the release;
/// SIGHUP too (the session that started it went away).
fn listen_for_signals(tx: tokio::sync::mpsc::Sender<&'static str>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::hangup(), "SIGHUP"),
    ] {
        let mut sig = signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                tracing::warn!(signal = name, "signal received: cancelling the release");
                let _ = tx.send(name).await;
            }
        });
    }
    Ok(())
}

/// `canary wait --until …`: polls the journal's plan (see
/// [`super::plan_status::wait`] for the exit codes).
pub fn wait(until: &str, config: &Config, timeout_secs: u64) -> ExitCode {
    use super::plan_status::{wait, Until};
    let until = match Until::parse(until) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("canary: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let Some(path) = app::journal_path(config) else {
        eprintln!(
            "canary: the journal is turned off ([journal] enabled = false): nothing to wait on"
        );
        return ExitCode::from(exit::USAGE);
    };
    let timeout = Duration::from_secs(timeout_secs.max(1));
    let (code, plan) = wait(&path, &until, timeout, Duration::from_millis(500));
    match &plan {
        Some(p) => {
            println!("{}", serde_json::to_string(p).unwrap_or_default());
            eprintln!(
                "canary: plan {}{}",
                p.label,
                p.why.as_deref().map_or(String::new(), |w| format!(": {w}"))
            );
        }
        None => eprintln!("canary: no plan in the journal {}", path.display()),
    }
    if code == exit::WAITING {
        eprintln!("canary: still not there after {}s", timeout.as_secs());
    }
    ExitCode::from(code)
}
