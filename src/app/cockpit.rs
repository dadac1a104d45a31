//! The interactive cockpit, assembled: the backends, the state with what
//! the journal remembers, the recorder and the notifier, the timings, the
//! signal handlers and the terminal; then the event loop.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::mpsc;

use super::Options;
use crate::config::{Config, PlatformKind};
use crate::core::action::Action;
use crate::core::state::{Level, Message, State};
use crate::core::update::resume_interrupted_plan;
use crate::journal::{self, Journal, Replay, Who};
use crate::runtime::record::Recorder;
use crate::runtime::{self, terminal, Backends, Timing};

/// Runs the cockpit until it quits: 0, or 1 when it could not run (said on
/// stderr and in the log), 2 for a configuration the environment cannot meet.
pub fn run(config: Config, opts: Options) -> ExitCode {
    // A variable the config names but the environment lacks is bad usage (2),
    // said before the terminal is taken.
    if let Some(var) = config
        .prometheus
        .as_ref()
        .and_then(|p| p.bearer_token_env.as_ref())
        .filter(|v| std::env::var_os(v).is_none())
    {
        eprintln!("canary: config: prometheus.bearer_token_env: ${var} is not set");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canary: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(cockpit(config, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            terminal::restore();
            tracing::error!("{e:#}");
            eprintln!("canary: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn cockpit(config: Config, opts: Options) -> anyhow::Result<()> {
    let demo = config.service.platform == PlatformKind::Simulator;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("canary needs an interactive terminal (stdin and stdout must be a tty)");
    }
    let parts = super::build(&config, demo).await?;
    let info = parts.platform.info();
    let mut state = State::new(
        super::settings(&config, &opts, demo),
        info,
        chrono::Utc::now(),
    );

    // Whoever drives a plan elsewhere (`canary release`): read once now, so
    // that a plan it drives, found in a shared journal, is not taken for
    // one this cockpit left interrupted; then at every refresh.
    let lease = match super::lease(&config) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the driver's lease cannot be read");
            None
        }
    };
    let driven_elsewhere = match &lease {
        Some(l) => {
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), l.read()).await;
            let read = read.unwrap_or_else(|_| {
                Err(crate::platform::lease::LeaseError::Backend(
                    "no answer within 5 s".into(),
                ))
            });
            let held = read.as_ref().ok().and_then(|l| l.clone());
            let update = crate::core::action::Action::LeaseRead {
                lease: read.map_err(|e| e.to_string()),
                location: l.location(),
            };
            let _ = crate::core::update::update(&mut state, update, chrono::Utc::now());
            held.is_some_and(|h| !h.expired(chrono::Utc::now()))
        }
        None => false,
    };

    // The audit journal: replay what happened, then append.
    let (journal, unresolved) = open_journal(&mut state, &config, driven_elsewhere);
    let recorder = Recorder::new(journal, Who::from_env(), config.service.name.clone());
    let _ = recorder
        .record(journal::Event::SessionStart {
            platform: state.info.kind.clone(),
            read_only: opts.read_only,
        })
        .await;
    if super::journal_path(&config).is_none() {
        state.journal_error = Some("audit journal turned off ([journal] enabled = false)".into());
    }
    let backends = Backends {
        platform: parts.platform,
        metrics: parts.metrics,
        logs: parts.logs,
        checks: parts.checks,
        recorder: recorder.clone(),
        notifier: super::notifier(&config),
        lease,
    };
    tracing::info!(service = %state.info.service, platform = %state.info.kind, read_only = opts.read_only, "cockpit starting");

    let (tx, rx) = runtime::channel();
    spawn_signal_handlers(tx.clone())?;
    if let Some(replay) = unresolved.filter(|r| !r.unresolved().is_empty()) {
        spawn_reconcile(&backends, replay, tx.clone());
    }
    let mut term = terminal::setup().context("cannot set up the terminal")?;
    let events = terminal::input_events();
    let result = runtime::run(&mut term, state, backends, timing(&config), events, tx, rx).await;
    terminal::restore();
    let _ = recorder.record(journal::Event::SessionEnd).await;
    let state = result.context("the terminal failed")?;
    if let Some(m) = &state.message {
        tracing::info!(last_message = %m.text, "cockpit closed");
    }
    Ok(())
}

/// Replays the service's journal into `state` (the last split applied,
/// change numbers, who was stable, a plan to resume) and opens it for
/// appending. Returns the journal (None: off or unavailable, said in
/// `state.journal_error`) and the replay, whose unresolved changes are
/// reconciled once the platform answers.
fn open_journal(
    state: &mut State,
    config: &Config,
    driven_elsewhere: bool,
) -> (Option<Journal>, Option<Replay>) {
    let mut journal = None;
    let mut unresolved = None;
    state.next_change_id = journal::fresh_change_id();
    let Some(path) = super::journal_path(config) else {
        return (journal, unresolved);
    };
    match journal::replay(&path) {
        Ok(replay) => {
            if let Some((line, why)) = replay.skipped.last() {
                state.message = Some(Message {
                    level: Level::Warn,
                    text: format!("journal {}:{line}: {why}", path.display()),
                    at: state.now,
                });
            }
            state.last_applied = replay.last_split().cloned();
            state.next_change_id = replay.fresh_change_id();
            state.role_history = replay.role_history();
            // A plan another process drives now is its plan, not ours to resume.
            if let Some((canary, stable, spec, phase, started)) =
                replay.interrupted_plan().filter(|_| !driven_elsewhere)
            {
                resume_interrupted_plan(state, canary, stable, spec, phase, started);
            }
            unresolved = Some(replay);
        }
        Err(e) => state.journal_error = Some(format!("cannot read the journal: {e}")),
    }
    match Journal::open(&path) {
        Ok(j) => journal = Some(j),
        Err(e) => {
            state.journal_error = Some(format!(
                "AUDIT JOURNAL UNAVAILABLE ({}): {e}",
                path.display()
            ))
        }
    }
    (journal, unresolved)
}

/// How often each source is read, and the other clocks of the loop.
pub fn timing(config: &Config) -> Timing {
    Timing {
        service: config.refresh.service,
        metrics: config.refresh.metrics,
        logs: config.refresh.logs,
        metrics_window: config.metrics.window,
        metrics_step: config.metrics.step,
        max_fps: config.ui.max_fps,
        battery_timeout: config.verification_timeout,
        ..Timing::default()
    }
}

/// Changes a crash left without an outcome: read the platform, record what
/// is true, say it once.
fn spawn_reconcile(backends: &Backends, replay: Replay, tx: mpsc::Sender<Action>) {
    let (platform, recorder) = (backends.platform.clone(), backends.recorder.clone());
    tokio::spawn(async move {
        let mut lines = Vec::new();
        for (event, line) in crate::cli::reconcile::reconcile(platform.as_ref(), &replay).await {
            if let Err(e) = recorder.record(event).await {
                let _ = tx.send(Action::JournalFailed(e)).await;
            }
            lines.push(line);
        }
        let _ = tx.send(Action::Reconciled(lines)).await;
    });
}

/// SIGTERM, SIGHUP (an SSH drop) and SIGINT end the loop cleanly.
fn spawn_signal_handlers(tx: mpsc::Sender<Action>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::interrupt(), "SIGINT"),
    ] {
        let mut sig = signal(kind).with_context(|| format!("cannot listen for {name}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            if sig.recv().await.is_some() {
                tracing::warn!(signal = name, "signal received");
                let _ = tx.send(Action::Terminate(name)).await;
            }
        });
    }
    Ok(())
}
