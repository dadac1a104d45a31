//! `canary`: command line, configuration, logging, backend choice, run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use canary::app;
use canary::config::{self, Config, PlatformKind};
use canary::core::state::{Level, State};
use canary::core::update::resume_interrupted_plan;
use canary::journal::{self, Journal, Who};
use canary::runtime::record::{Notifier, Recorder};
use canary::runtime::{self, terminal, Backends, Timing};

/// A terminal cockpit to supervise and drive canary deployments.
#[derive(Parser, Debug)]
#[command(name = "canary", version, about, long_about = None)]
struct Cli {
    /// Open the cockpit on the built-in simulated service (no cloud account needed).
    #[arg(long)]
    demo: bool,
    /// Simulator scenario: healthy, bad-canary, slow-canary, or a path to a scenario file.
    #[arg(long, value_name = "NAME|PATH")]
    scenario: Option<String>,
    /// Seed for the simulator (same seed, same run).
    #[arg(long)]
    seed: Option<u64>,
    /// Config file (default: $CANARY_CONFIG, then the XDG config dir).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Disable every action that changes traffic (anywhere on the line).
    #[arg(long, global = true)]
    read_only: bool,
    /// Scripts: how long a failing call is retried, in seconds (default 60).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
    /// Level of the program's own log file: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Run the promotion plan in auto mode: advance when the window is over and the gates are green.
    #[arg(long)]
    auto: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Print the audit journal of the service, oldest first.
    Journal {
        /// One JSON record per line, as stored.
        #[arg(long)]
        json: bool,
    },
    /// Write a Markdown deployment report from the audit journal.
    Report {
        /// Output file (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the service's revisions and traffic split (target and actual).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Set the traffic split: `canary set canary=10` (revision names or tags;
    /// the stable revision gets the rest; tags are kept).
    Set {
        /// NAME=PERCENT, one or more.
        #[arg(required = true, value_name = "NAME=PERCENT")]
        assignments: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Deploy a new revision: the image, no traffic, a tag (shows the exact call first).
    Deploy(canary::cli::release::DeployArgs),
    /// Everything known about one revision: image, digest, env (secret names only), limits, conditions, diff vs the stable.
    Describe(canary::cli::release::DescribeArgs),
    /// Delete one revision (never one that serves traffic, is tagged or is the stable).
    Delete(canary::cli::release::DeleteArgs),
    /// Delete old revisions, keeping the N newest and every one in use.
    Prune(canary::cli::release::PruneArgs),
    /// All traffic to the stable revision (or --to REVISION).
    Rollback {
        /// Revision name or tag to send all traffic to.
        #[arg(long, value_name = "REVISION")]
        to: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

/// What `set` and `rollback` share.
#[derive(clap::Args, Debug)]
struct ChangeArgs {
    /// Apply without asking (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Why, for the audit journal.
    #[arg(long)]
    reason: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
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
    if let Some(cmd) = release_command(&cli) {
        return release(cmd, &cli, &config);
    }
    match &cli.command {
        Some(cmd @ (Sub::Journal { .. } | Sub::Report { .. })) => return history(cmd, &config),
        Some(cmd) => return scripting(cmd, &cli, &config),
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

/// Config from --config / $CANARY_CONFIG / XDG; `--demo` works without one.
fn load_config(cli: &Cli) -> Result<Config, ExitCode> {
    let mut config = match config::locate(cli.config.as_deref()) {
        Some(path) => match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return Err(ExitCode::from(2));
            }
        },
        None if cli.demo => Config::demo(),
        None => {
            let xdg = config::default_config_path().map_or_else(
                || "~/.config/canary/config.toml".into(),
                |p| p.display().to_string(),
            );
            eprintln!(
                "canary: no configuration found.\n\
                 \n  Looked for: --config FILE, $CANARY_CONFIG, {xdg}\n\
                 \n  Create one from the documented example shipped with canary:\n\
                 \n      mkdir -p \"$(dirname {xdg})\" && cp config.example.toml {xdg}\n\
                 \n  or try the cockpit on the built-in simulated service:\n\
                 \n      canary --demo"
            );
            return Err(ExitCode::from(2));
        }
    };
    if cli.demo {
        config.service.platform = PlatformKind::Simulator;
    }
    if let Some(s) = &cli.scenario {
        config.demo.scenario = s.clone();
    }
    if let Some(seed) = cli.seed {
        config.demo.seed = seed;
    }
    Ok(config)
}

/// The program's own log goes to a file, never to the terminal.
fn init_logging(
    cli: &Cli,
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

/// `canary journal` and `canary report`.
fn history(cmd: &Sub, config: &Config) -> ExitCode {
    let Some(path) = app::journal_path(config) else {
        eprintln!("canary: the audit journal is turned off or there is no home directory");
        return ExitCode::from(2);
    };
    let replay = match journal::replay(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canary: cannot read {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    for (line, why) in &replay.skipped {
        eprintln!("canary: {}:{line}: {why}", path.display());
    }
    match cmd {
        Sub::Journal { json } => {
            if replay.records.is_empty() {
                eprintln!("canary: the journal {} is empty", path.display());
            }
            for r in &replay.records {
                if *json {
                    match serde_json::to_string(r) {
                        Ok(line) => println!("{line}"),
                        Err(e) => eprintln!("canary: {e}"),
                    }
                } else {
                    println!("{}", journal::report::history_line(r));
                }
            }
            ExitCode::SUCCESS
        }
        Sub::Report { output } => {
            let md = journal::report::markdown(&config.service.name, &replay);
            match output {
                Some(p) => match std::fs::write(p, md) {
                    Ok(()) => {
                        eprintln!("canary: report written to {}", p.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("canary: cannot write {}: {e}", p.display());
                        ExitCode::FAILURE
                    }
                },
                None => {
                    print!("{md}");
                    ExitCode::SUCCESS
                }
            }
        }
        _ => ExitCode::from(2),
    }
}

async fn run_cockpit(cli: Cli, config: Config) -> anyhow::Result<()> {
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
    let notifier = Notifier::new(config.notify.url_with_env())
        .with_policy(config.notify.timeout, config.notify.retries);
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

/// `canary deploy`, `describe`, `delete`, `prune` (src/cli/release.rs).
fn release_command(cli: &Cli) -> Option<canary::cli::release::ReleaseCmd> {
    use canary::cli::release::ReleaseCmd;
    Some(match cli.command.as_ref()? {
        Sub::Deploy(a) => ReleaseCmd::Deploy(a.clone()),
        Sub::Describe(a) => ReleaseCmd::Describe(a.clone()),
        Sub::Delete(a) => ReleaseCmd::Delete(a.clone()),
        Sub::Prune(a) => ReleaseCmd::Prune(a.clone()),
        _ => return None,
    })
}

fn release(cmd: canary::cli::release::ReleaseCmd, cli: &Cli, config: &Config) -> ExitCode {
    let timeout = std::time::Duration::from_secs(cli.timeout.max(1));
    let platform = match app::platform_for_script(config, Some(timeout)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canary: {e:#}");
            return ExitCode::from(2);
        }
    };
    platform.observe_retries(std::sync::Arc::new(|r| eprintln!("canary: {r}")));
    canary::cli::release::run(cmd, config, platform, cli.read_only)
}

/// SIGTERM, SIGHUP (an SSH drop) and SIGINT end the loop cleanly.
/// `canary status`, `canary set`, `canary rollback`: the screen's rules,
/// journaled like the screen's changes, exit code 0 / 1 / 2.
fn scripting(cmd: &Sub, cli: &Cli, config: &Config) -> ExitCode {
    use canary::cli::{self as ops, CliError, CliOptions, Context};
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canary: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let timeout = std::time::Duration::from_secs(cli.timeout.max(1));
    let platform = match app::platform_for_script(config, Some(timeout)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canary: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Say what a script is waiting for.
    platform.observe_retries(std::sync::Arc::new(|r| eprintln!("canary: {r}")));
    let writes = !matches!(cmd, Sub::Status { .. });
    if writes && cli.read_only {
        eprintln!("canary: refused: --read-only");
        return ExitCode::FAILURE;
    }
    let mut journal = None;
    if writes {
        if let Some(path) = app::journal_path(config) {
            match Journal::open(&path) {
                Ok(j) => journal = Some(j),
                Err(e) => {
                    eprintln!(
                        "canary: refused: the audit journal {} cannot be opened: {e}",
                        path.display()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if let Err(code) = rt.block_on(reconcile_on_start(platform.as_ref(), config, &mut journal)) {
        return code;
    }
    let options = CliOptions {
        canary_tag: config.service.canary_tag.clone(),
        stable_pin: config.service.stable_revision.clone(),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    // (JSON, text, the journal warning of an applied change)
    let result: Result<(String, String, Option<String>), CliError> = rt.block_on(async {
        match cmd {
            Sub::Status { .. } => {
                let ctx = Context::new(options, None);
                let r = ops::status(platform.as_ref(), &ctx).await?;
                Ok((r.to_json(), r.render_text(), None))
            }
            Sub::Set { change, .. } | Sub::Rollback { change, .. } => {
                let mut ctx =
                    Context::new(options, journal.as_mut()).with_reason(change.reason.clone());
                let mut yes = change.yes;
                // On a terminal without --yes: show the exact call, ask, then apply.
                loop {
                    let outcome = match cmd {
                        Sub::Set { assignments, .. } => {
                            ops::set(platform.as_ref(), assignments, yes, &mut ctx).await
                        }
                        Sub::Rollback { to, .. } => {
                            ops::rollback(platform.as_ref(), to.as_deref(), yes, &mut ctx).await
                        }
                        _ => unreachable!("matched above"),
                    };
                    match outcome {
                        Err(CliError::NotConfirmed(report)) if interactive && !yes => {
                            if !ask(&report.render_text()) {
                                return Err(CliError::NotConfirmed(report));
                            }
                            yes = true;
                        }
                        other => {
                            let r = other?;
                            if r.outcome == ops::ChangeOutcome::Applied {
                                notify_team(config, &r, change.reason.as_deref()).await;
                            }
                            let warning = r.journal_warning.clone();
                            break Ok((r.to_json(), r.render_text(), warning));
                        }
                    }
                }
            }
            _ => Err(CliError::Usage("not a scripting command".into())),
        }
    });
    let json = matches!(
        cmd,
        Sub::Status { json: true }
            | Sub::Set {
                change: ChangeArgs { json: true, .. },
                ..
            }
            | Sub::Rollback {
                change: ChangeArgs { json: true, .. },
                ..
            }
    );
    match result {
        Ok((j, text, journal_warning)) => {
            if json {
                println!("{j}");
            } else {
                print!("{text}");
            }
            match journal_warning {
                // Applied, but not on record: a script must not take it as done.
                Some(w) => {
                    eprintln!(
                        "canary: the change was applied, but the audit journal could not record it: {w}"
                    );
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            }
        }
        Err(CliError::NotConfirmed(report)) => {
            if json {
                println!("{}", report.to_json());
            } else {
                eprint!("{}", report.render_text());
            }
            eprintln!("canary: not applied: re-run with --yes to apply");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("canary: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The team hears of every change a script made (Slack-compatible webhook;
/// the URL never shown). Bounded: a dead webhook delays the exit a little,
/// never the change, and never fails the command.
async fn notify_team(config: &Config, r: &canary::cli::ChangeReport, reason: Option<&str>) {
    let notifier = Notifier::new(config.notify.url_with_env())
        .with_policy(config.notify.timeout, config.notify.retries);
    let text = canary::core::update::manual_notification(
        &r.service,
        &r.kind,
        "done",
        &r.before_flag(),
        &r.after_flag(),
        reason,
    );
    let budget = config.notify.timeout.saturating_mul(2) + std::time::Duration::from_secs(1);
    match tokio::time::timeout(budget, notifier.send(&text)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("canary: the team was not notified: {e}"),
        Err(_) => {
            eprintln!("canary: the team was not notified: the webhook did not answer in time")
        }
    }
}

/// A change a crash left without an outcome is reconciled against the
/// platform before anything else, and said on stderr.
async fn reconcile_on_start(
    platform: &dyn canary::platform::Platform,
    config: &Config,
    journal: &mut Option<Journal>,
) -> Result<(), ExitCode> {
    let Some(path) = app::journal_path(config) else {
        return Ok(());
    };
    let said = canary::cli::reconcile::on_start(
        platform,
        &path,
        journal.as_mut(),
        &Who::from_env(),
        &config.service.name,
    )
    .await;
    match said {
        Ok(lines) => {
            for line in lines {
                eprintln!("canary: {line}");
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("canary: refused: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Shows what would be done and asks on the terminal.
fn ask(preview: &str) -> bool {
    use std::io::Write;
    eprint!("{preview}");
    eprint!("Apply? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes")
}

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
