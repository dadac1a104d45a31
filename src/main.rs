//! `canary`: command line, configuration, logging, backend choice, run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use canary::app;
use canary::cli::{history, script, Args, Sub};
use canary::config::{Config, PlatformKind};
use canary::core::state::{Level, State};
use canary::core::update::resume_interrupted_plan;
use canary::journal::{self, Journal, Who};
use canary::runtime::record::Recorder;
use canary::runtime::{self, terminal, Backends, Timing};

fn main() -> ExitCode {
    let cli = Args::parse();
    let config = match cli.load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _log_guard = match init_logging(&cli, &config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("canary: {e:#}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Some(Sub::Journal { json }) => return history::print_journal(&config, *json),
        Some(Sub::Report { output }) => return history::write_report(&config, output.as_deref()),
        Some(cmd) => return script::run(cmd, &cli, &config),
        None => {}
    }
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
    match rt.block_on(run_cockpit(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            terminal::restore();
            tracing::error!("{e:#}");
            eprintln!("canary: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The program's own log goes to a file, never to the terminal.
fn init_logging(
    cli: &Args,
    config: &Config,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let dir = match &config.diagnostics.log_dir {
        Some(d) => d.clone(),
        None => state_dir().context("no home directory to keep the log file in")?,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    let level = cli
        .log_level
        .clone()
        .unwrap_or_else(|| config.diagnostics.log_level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("canary={level},warn"))
        .with_context(|| {
            format!("--log-level {level}: expected error, warn, info, debug or trace")
        })?;
    let appender = tracing_appender::rolling::never(&dir, "canary.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Ok(guard)
}

/// The XDG state dir (`~/.local/state/canary`), or the data dir where there is none.
pub fn state_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "canary")?;
    Some(
        dirs.state_dir()
            .map_or_else(|| dirs.data_local_dir().to_path_buf(), |d| d.to_path_buf()),
    )
}

async fn run_cockpit(cli: Args, config: Config) -> anyhow::Result<()> {
    let demo = config.service.platform == PlatformKind::Simulator;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("canary needs an interactive terminal (stdin and stdout must be a tty)");
    }
    let parts = app::build(&config, demo).await?;
    let opts = app::Options {
        read_only: cli.read_only,
        auto: cli.auto,
    };
    let info = parts.platform.info();
    let mut state = State::new(
        app::settings(&config, &opts, demo),
        info,
        chrono::Utc::now(),
    );

    // The audit journal: replay what happened, then append.
    let who = Who::from_env();
    let mut journal = None;
    let mut unresolved = None;
    state.next_change_id = journal::fresh_change_id();
    if let Some(path) = app::journal_path(&config) {
        match journal::replay(&path) {
            Ok(replay) => {
                if let Some((line, why)) = replay.skipped.last() {
                    state.message = Some(canary::core::state::Message {
                        level: Level::Warn,
                        text: format!("journal {}:{line}: {why}", path.display()),
                        at: state.now,
                    });
                }
                state.last_applied = replay.last_split().cloned();
                state.next_change_id = replay.fresh_change_id();
                state.role_history = replay.role_history();
                if let Some((canary, stable, spec, phase, started)) = replay.interrupted_plan() {
                    resume_interrupted_plan(&mut state, canary, stable, spec, phase, started);
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
    }
    let recorder = Recorder::new(journal, who, config.service.name.clone());
    let _ = recorder
        .record(journal::Event::SessionStart {
            platform: state.info.kind.clone(),
            read_only: cli.read_only,
        })
        .await;
    if app::journal_path(&config).is_none() {
        state.journal_error = Some("audit journal turned off ([journal] enabled = false)".into());
    }
    let notifier = app::notifier(&config);
    let backends = Backends {
        platform: parts.platform,
        metrics: parts.metrics,
        logs: parts.logs,
        checks: parts.checks,
        recorder: recorder.clone(),
        notifier,
    };
    let timing = Timing {
        service: config.refresh.service,
        metrics: config.refresh.metrics,
        logs: config.refresh.logs,
        metrics_window: config.metrics.window,
        metrics_step: config.metrics.step,
        max_fps: config.ui.max_fps,
        battery_timeout: config.verification_timeout,
        ..Timing::default()
    };
    tracing::info!(service = %state.info.service, platform = %state.info.kind, read_only = cli.read_only, "cockpit starting");

    let (tx, rx) = runtime::channel();
    spawn_signal_handlers(tx.clone())?;
    if let Some(replay) = unresolved.filter(|r| !r.unresolved().is_empty()) {
        // Changes a crash left without an outcome: read the platform, record
        // what is true, say it once.
        let (platform, recorder, tx) = (backends.platform.clone(), recorder.clone(), tx.clone());
        tokio::spawn(async move {
            let mut lines = Vec::new();
            for (event, line) in canary::cli::reconcile::reconcile(platform.as_ref(), &replay).await
            {
                if let Err(e) = recorder.record(event).await {
                    let _ = tx
                        .send(canary::core::action::Action::JournalFailed(e))
                        .await;
                }
                lines.push(line);
            }
            let _ = tx
                .send(canary::core::action::Action::Reconciled(lines))
                .await;
        });
    }
    let mut term = terminal::setup().context("cannot set up the terminal")?;
    let events = terminal::input_events();
    let result = runtime::run(&mut term, state, backends, timing, events, tx, rx).await;
    terminal::restore();
    let _ = recorder.record(journal::Event::SessionEnd).await;
    let state = result.context("the terminal failed")?;
    if let Some(m) = &state.message {
        tracing::info!(last_message = %m.text, "cockpit closed");
    }
    Ok(())
}

/// SIGTERM, SIGHUP (an SSH drop) and SIGINT end the loop cleanly.
fn spawn_signal_handlers(
    tx: tokio::sync::mpsc::Sender<canary::core::action::Action>,
) -> anyhow::Result<()> {
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
                let _ = tx.send(canary::core::action::Action::Terminate(name)).await;
            }
        });
    }
    Ok(())
}
