//! `canary status`, `canary set`, `canary rollback` from the command line:
//! the screen's rules, journaled like the screen's changes, printed as text
//! or JSON, exit code 0 / 1 / 2.

use std::io::IsTerminal;
use std::process::ExitCode;

use super::args::{Args, ChangeArgs, Sub};
use super::{ChangeReport, CliError, CliOptions, Context};
use crate::app;
use crate::config::Config;
use crate::journal::{Journal, Who};
use crate::platform::Platform;

/// Runs one scripting command (`status`, `set` or `rollback`).
pub fn run(cmd: &Sub, args: &Args, config: &Config) -> ExitCode {
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
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
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
    if writes && args.read_only {
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
                let mut ctx = Context::new(options, None);
                ctx.plan_journal = app::journal_path(config);
                let r = super::status(platform.as_ref(), &ctx).await?;
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
                            super::set(platform.as_ref(), assignments, yes, &mut ctx).await
                        }
                        Sub::Rollback { to, .. } => {
                            super::rollback(platform.as_ref(), to.as_deref(), yes, &mut ctx).await
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
                            if r.outcome == super::ChangeOutcome::Applied {
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
async fn notify_team(config: &Config, r: &ChangeReport, reason: Option<&str>) {
    let notifier = app::notifier(config);
    let text = crate::core::update::manual_notification(
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
    platform: &dyn Platform,
    config: &Config,
    journal: &mut Option<Journal>,
) -> Result<(), ExitCode> {
    let Some(path) = app::journal_path(config) else {
        return Ok(());
    };
    let said = super::reconcile::on_start(
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
