//! `canary deploy`, `canary describe`, `canary delete`, `canary prune`: the
//! screen's release rules for scripts ([`crate::core::release`]), journaled
//! like the screen's (the request before anything is sent, then each
//! outcome), told to the team, with the exact call shown before it runs.
//! Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 bad usage.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::{roles, CliError, CliOptions, Context};
use crate::config::Config;
use crate::core::describe::describe;
use crate::core::error::BackendError;
use crate::core::model::ServiceSnapshot;
use crate::core::release::{deploy_request, Guard, ReleaseSettings};
use crate::journal::release::{
    DeleteRequested, DeployFinished, DeployOutcome, DeployRequested, RevisionDeleted,
};
use crate::journal::{self, Event, Journal};
use crate::platform::release::SnapshotSink;
use crate::platform::Platform;

/// `canary deploy IMAGE`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeployArgs {
    /// The image: REPOSITORY:TAG or REPOSITORY@sha256:…
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The new revision's traffic tag (default: `[deploy] tag`, e.g. canary-{date}).
    #[arg(long)]
    pub tag: Option<String>,
    /// Set an environment variable (plain value), repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Once ready, run the verification checks against its tag URL.
    #[arg(long)]
    pub then_checks: bool,
    /// Apply without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Why, for the audit journal.
    #[arg(long)]
    pub reason: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `canary describe REV`.
#[derive(clap::Args, Debug, Clone)]
pub struct DescribeArgs {
    /// Revision name, short name (00043-kaw) or tag.
    #[arg(value_name = "REVISION")]
    pub revision: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `canary delete REV`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeleteArgs {
    /// Revision name, short name (00041-mop) or tag.
    #[arg(value_name = "REVISION")]
    pub revision: String,
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `canary prune`.
#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// How many of the newest revisions to keep (default: `[revisions] keep`, 3).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Say what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Which release command.
#[derive(Debug, Clone)]
pub enum ReleaseCmd {
    Deploy(DeployArgs),
    Describe(DescribeArgs),
    Delete(DeleteArgs),
    Prune(PruneArgs),
}

impl ReleaseCmd {
    fn writes(&self) -> bool {
        !matches!(self, ReleaseCmd::Describe(_))
    }

    fn json(&self) -> bool {
        match self {
            ReleaseCmd::Deploy(a) => a.json,
            ReleaseCmd::Describe(a) => a.json,
            ReleaseCmd::Delete(a) => a.json,
            ReleaseCmd::Prune(a) => a.json,
        }
    }
}

/// What a command prints.
struct Output {
    json: serde_json::Value,
    text: String,
    /// Exit 1 although the request went out (a failed check, a journal that
    /// could not record the outcome).
    failed: bool,
}

/// `canary deploy`, `describe`, `delete`, `prune`; `None` for the others.
pub fn run_sub(
    cmd: &super::args::Sub,
    args: &super::args::Args,
    config: &Config,
) -> Option<ExitCode> {
    use super::args::Sub;
    let cmd = match cmd {
        Sub::Deploy(a) => ReleaseCmd::Deploy(a.clone()),
        Sub::Describe(a) => ReleaseCmd::Describe(a.clone()),
        Sub::Delete(a) => ReleaseCmd::Delete(a.clone()),
        Sub::Prune(a) => ReleaseCmd::Prune(a.clone()),
        _ => return None,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let platform = match crate::app::platform_for_script(config, Some(timeout)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("canary: {e:#}");
            return Some(ExitCode::from(2));
        }
    };
    platform.observe_retries(Arc::new(|r| eprintln!("canary: {r}")));
    Some(run(cmd, config, platform, args.read_only))
}

/// Runs one release command; the binary only parses and calls this.
pub fn run(
    cmd: ReleaseCmd,
    config: &Config,
    platform: Arc<dyn Platform>,
    read_only: bool,
) -> ExitCode {
    if cmd.writes() && read_only {
        eprintln!("canary: refused: --read-only");
        return ExitCode::FAILURE;
    }
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
    let mut journal = None;
    if cmd.writes() {
        if let Some(path) = crate::app::journal_path(config) {
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
    let options = CliOptions {
        canary_tag: config.service.canary_tag.clone(),
        stable_pin: config.service.stable_revision.clone(),
    };
    let json = cmd.json();
    let reason = match &cmd {
        ReleaseCmd::Deploy(a) => a.reason.clone(),
        ReleaseCmd::Delete(a) => a.reason.clone(),
        ReleaseCmd::Prune(a) => a.reason.clone(),
        ReleaseCmd::Describe(_) => None,
    };
    let mut ctx = Context::new(options, journal.as_mut()).with_reason(reason);
    let result = rt.block_on(async {
        if cmd.writes() {
            if let Some(path) = crate::app::journal_path(config) {
                let lines = super::reconcile::on_start(
                    platform.as_ref(),
                    &path,
                    ctx.journal.as_deref_mut(),
                    &ctx.who,
                    &config.service.name,
                )
                .await
                .map_err(|e| CliError::Refused(e.to_string()))?;
                for l in lines {
                    eprintln!("canary: {l}");
                }
            }
        }
        match &cmd {
            ReleaseCmd::Describe(a) => describe_cmd(platform.as_ref(), &a.revision, &ctx).await,
            ReleaseCmd::Deploy(a) => deploy_cmd(platform.as_ref(), a, config, &mut ctx).await,
            ReleaseCmd::Delete(a) => {
                let snapshot = platform.snapshot().await?;
                let g_roles = roles(&snapshot, &ctx.options, ctx.journal_path())?;
                let plan_canary = plan_canary(&ctx);
                let guard = Guard {
                    snapshot: &snapshot,
                    roles: &g_roles,
                    plan_canary: plan_canary.as_deref(),
                    plan_baseline: None,
                    deploying: None,
                };
                let name = guard.delete(&a.revision).map_err(|why| {
                    if snapshot.resolve(&a.revision).is_none() && why.starts_with("no revision") {
                        CliError::Usage(why)
                    } else {
                        CliError::Refused(why)
                    }
                })?;
                delete_cmd(platform.as_ref(), vec![name], "delete", a.yes, config, &mut ctx).await
            }
            ReleaseCmd::Prune(a) => {
                let snapshot = platform.snapshot().await?;
                // Blue/green: the colours are long-lived; pruning is the
                // old colour's scale-down once its keep-warm is over.
                if snapshot.extra.all_or_nothing.is_some() {
                    return scale_down_cmd(platform.as_ref(), &snapshot, a, config, &mut ctx)
                        .await;
                }
                let g_roles = roles(&snapshot, &ctx.options, ctx.journal_path())?;
                let plan_canary = plan_canary(&ctx);
                let keep = a.keep.unwrap_or(config.release.keep);
                if keep == 0 {
                    return Err(CliError::Usage("--keep must be 1 or more".into()));
                }
                let plan = Guard {
                    snapshot: &snapshot,
                    roles: &g_roles,
                    plan_canary: plan_canary.as_deref(),
                    plan_baseline: None,
                    deploying: None,
                }
                .prune(keep);
                let mut text = String::new();
                for (n, why) in &plan.kept {
                    text.push_str(&format!("keep    {n}  ({why})\n"));
                }
                for n in &plan.delete {
                    text.push_str(&format!("delete  {n}\n"));
                }
                if plan.delete.is_empty() {
                    text.push_str(&format!(
                        "nothing to prune: every revision is one of the {keep} newest or in use\n"
                    ));
                }
                if a.dry_run || plan.delete.is_empty() {
                    return Ok(Output {
                        json: serde_json::json!({
                            "service": snapshot.service,
                            "dry_run": a.dry_run,
                            "delete": plan.delete,
                            "kept": plan.kept.iter().map(|(n, w)| serde_json::json!({"revision": n, "why": w.to_string()})).collect::<Vec<_>>(),
                        }),
                        text,
                        failed: false,
                    });
                }
                eprint!("{text}");
                delete_cmd(platform.as_ref(), plan.delete, "prune", a.yes, config, &mut ctx).await
            }
        }
    });
    match result {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.text);
            }
            if out.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("canary: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn plan_canary(ctx: &Context<'_>) -> Option<String> {
    ctx.journal_path()
        .filter(|p| p.is_file())
        .and_then(|p| journal::replay(p).ok())
        .and_then(|r| r.interrupted_plan())
        .map(|p| p.0)
}

async fn describe_cmd(
    platform: &dyn Platform,
    name: &str,
    ctx: &Context<'_>,
) -> Result<Output, CliError> {
    let snapshot = platform.snapshot().await?;
    let r = roles(&snapshot, &ctx.options, ctx.journal_path())?;
    let d = describe(&snapshot, name, &r).map_err(CliError::Usage)?;
    Ok(Output {
        json: serde_json::to_value(&d).unwrap_or_default(),
        text: d.text(Utc::now()),
        failed: false,
    })
}

/// Shows the exact call and asks on a terminal; without one, `--yes` is needed.
fn confirm(what: &str, preview: &[String], yes: bool) -> Result<(), CliError> {
    eprintln!("{what}");
    eprintln!(
        "Exact call{} that will run:",
        if preview.len() == 1 { "" } else { "s" }
    );
    for p in preview {
        eprintln!("  $ {p}");
    }
    if yes {
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        return Err(CliError::Refused(
            "not applied: re-run with --yes to apply (no terminal to ask on)".into(),
        ));
    }
    eprint!("Apply? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err()
        || !matches!(answer.trim(), "y" | "Y" | "yes")
    {
        return Err(CliError::Refused("not applied: not confirmed".into()));
    }
    Ok(())
}

/// Says the deploy's progress on stderr, once per change.
fn progress_printer(revision: String) -> SnapshotSink {
    let last = Mutex::new(String::new());
    Arc::new(move |s: ServiceSnapshot| {
        let Some(r) = s.revision(&revision) else {
            return;
        };
        let now: Vec<String> = r
            .details
            .conditions
            .iter()
            .map(|c| {
                let mark = match c.state {
                    crate::core::details::ConditionState::Ok => "✓",
                    crate::core::details::ConditionState::Pending => "…",
                    crate::core::details::ConditionState::Failed => "✗",
                };
                format!("{} {mark}", c.label())
            })
            .collect();
        let line = format!("deploying {revision}: {}", now.join(" · "));
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        if *l != line {
            eprintln!("canary: {line}");
            *l = line;
        }
    })
}

#[derive(Serialize)]
struct DeployJson<'a> {
    service: &'a str,
    id: u64,
    revision: &'a str,
    image: &'a str,
    tag: &'a str,
    outcome: DeployOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    took_ms: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checks: Vec<journal::CheckRecord>,
}

async fn deploy_cmd(
    platform: &dyn Platform,
    a: &DeployArgs,
    config: &Config,
    ctx: &mut Context<'_>,
) -> Result<Output, CliError> {
    let releases = platform.releases().map_err(CliError::Refused)?;
    let snapshot = platform.snapshot().await?;
    let settings: &ReleaseSettings = &config.release;
    let id = journal::fresh_change_id();
    let request = deploy_request(
        &snapshot,
        settings,
        &a.image,
        a.tag.as_deref(),
        &a.env,
        Utc::now(),
        id,
    )
    .map_err(CliError::Usage)?;
    let preview = crate::core::release_call::preview(
        &snapshot,
        &crate::core::release::ReleaseOp::Deploy(request.clone()),
    )
    .map_err(CliError::Refused)?;
    confirm(
        &format!(
            "deploy {} ({}) to {} with no traffic, tag {}; the split stays {}",
            request.revision, request.image, snapshot.service, request.tag, snapshot.traffic
        ),
        &preview,
        a.yes,
    )?;
    let service = snapshot.service.clone();
    ctx.record(
        &service,
        Event::DeployRequested(DeployRequested {
            id,
            revision: request.revision.clone(),
            image: request.image.clone(),
            tag: request.tag.clone(),
            env_keys: request.env_keys(),
            traffic: snapshot.traffic.clone(),
            reason: ctx.reason.clone(),
            pid: Some(std::process::id()),
        }),
    )
    .map_err(CliError::Journal)?;
    let started = std::time::Instant::now();
    let result = releases
        .deploy(
            &request,
            &snapshot.version,
            progress_printer(request.revision.clone()),
        )
        .await;
    let took_ms = started.elapsed().as_millis() as i64;
    let finished = DeployFinished::of(id, &request.revision, &result, took_ms);
    let (outcome, error, tag_url) = (
        finished.outcome,
        finished.error.clone(),
        finished.tag_url.clone(),
    );
    let journaled = ctx.record(&service, Event::DeployFinished(finished));
    let notify = match &result {
        Ok(_) => format!(
            "{service}: deployed {} ({}) with no traffic, tag {} (by script)",
            request.revision, request.image, request.tag
        ),
        Err(e) => format!(
            "{service}: deploy of {} ({}) {}: {e} (by script)",
            request.revision,
            request.image,
            match outcome {
                DeployOutcome::Unknown => "outcome NOT KNOWN",
                _ => "FAILED",
            }
        ),
    };
    notify_team(config, &notify).await;
    let after = result?;
    let mut failed = false;
    let mut checks = Vec::new();
    let mut text = format!(
        "deployed {} in {:.1} s: ready at 0 %, tag {}{}\n",
        request.revision,
        took_ms as f64 / 1000.0,
        request.tag,
        tag_url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default()
    );
    if a.then_checks {
        let (records, report) = run_checks(config, &after, &request.revision, ctx).await?;
        failed = records.iter().any(|r| r.blocking && r.status == "fail");
        text.push_str(&report);
        checks = records;
    }
    if let Err(e) = journaled {
        eprintln!(
            "canary: the revision was deployed, but the audit journal could not record it: {e}"
        );
        failed = true;
    }
    let json = serde_json::to_value(DeployJson {
        service: &service,
        id,
        revision: &request.revision,
        image: &request.image,
        tag: &request.tag,
        outcome,
        tag_url,
        error,
        took_ms,
        checks,
    })
    .unwrap_or_default();
    Ok(Output { json, text, failed })
}

/// The verification battery against `revision`'s tag URL, journaled.
async fn run_checks(
    config: &Config,
    snapshot: &ServiceSnapshot,
    revision: &str,
    ctx: &mut Context<'_>,
) -> Result<(Vec<journal::CheckRecord>, String), CliError> {
    let parts = crate::app::build(config, false)
        .await
        .map_err(|e| CliError::Refused(format!("cannot run the checks: {e:#}")))?;
    let Some(runner) = parts.checks else {
        return Ok((
            Vec::new(),
            "no verification checks are configured ([[checks]] in the config)\n".into(),
        ));
    };
    // The `logs` checks look at what the tail read: read it once.
    let mut logs = parts.logs;
    let _ = tokio::time::timeout(Duration::from_secs(10), logs.poll()).await;
    let infos = crate::checks::runner::Runner::infos(&config.checks);
    let r = roles(snapshot, &ctx.options, ctx.journal_path())?;
    let target = crate::checks::runner::CheckTarget {
        revision: revision.to_string(),
        tag_url: snapshot.revision(revision).and_then(|r| r.tag_url.clone()),
        service_url: snapshot.url.clone(),
        stable: r.stable.filter(|s| s != revision),
    };
    let futures = (0..runner.count()).map(|i| {
        let runner = runner.clone();
        let target = target.clone();
        async move {
            match tokio::time::timeout(config.verification_timeout, runner.run(i, &target)).await {
                Ok(r) => r,
                Err(_) => crate::core::state::CheckResult {
                    status: crate::core::state::CheckStatus::Fail,
                    measured: None,
                    expected: None,
                    reason: "the battery's global timeout ran out".into(),
                    duration: config.verification_timeout,
                    attempts: 0,
                },
            }
        }
    });
    let results = futures::future::join_all(futures).await;
    let mut text = format!(
        "checks on {revision} ({}):\n",
        target.tag_url.as_deref().unwrap_or("no tag URL")
    );
    let records: Vec<journal::CheckRecord> = results
        .iter()
        .zip(&infos)
        .map(|(res, info)| {
            text.push_str(&format!(
                "  {:<5} {:<20} {}\n",
                res.status.as_str(),
                info.name,
                res.reason
            ));
            journal::CheckRecord {
                name: info.name.clone(),
                status: res.status.as_str().into(),
                measured: res.measured.clone(),
                expected: res.expected.clone(),
                reason: res.reason.clone(),
                duration_ms: res.duration_ms(),
                blocking: info.blocking,
            }
        })
        .collect();
    let service = snapshot.service.clone();
    if let Err(e) = ctx.record(
        &service,
        Event::Checks {
            revision: revision.to_string(),
            results: records.clone(),
        },
    ) {
        eprintln!("canary: the checks ran, but the audit journal could not record them: {e}");
    }
    Ok((records, text))
}

/// `canary prune` on blue/green: the colour kept warm after a switch is
/// scaled to 0 once its keep-warm is over (what the cockpit and a running
/// `canary release` do by themselves; a pipeline that switched with
/// `canary set` calls this later). Before that, it is kept: a rollback to
/// it stays instant.
async fn scale_down_cmd(
    platform: &dyn Platform,
    snapshot: &ServiceSnapshot,
    a: &PruneArgs,
    config: &Config,
    ctx: &mut Context<'_>,
) -> Result<Output, CliError> {
    let service = snapshot.service.clone();
    let now = Utc::now();
    let kw = snapshot.extra.keep_warm.clone();
    let due = kw.as_ref().filter(|k| now >= k.until);
    let text = match (&kw, due) {
        (None, _) => "nothing to prune: no colour is kept warm (the idle one is at 0 replicas or was never switched from)\n".to_string(),
        (Some(k), None) => format!(
            "keep    {} ({} replicas) kept warm until {}: a rollback to it stays instant; prune scales it to 0 after that\n",
            k.revision,
            k.replicas,
            k.until.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (Some(k), Some(_)) => format!(
            "scale   {} to 0 replicas (kept warm until {}, over)\n",
            k.revision,
            k.until.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    };
    let json = |done: Option<&str>| {
        serde_json::json!({
            "service": service,
            "dry_run": a.dry_run,
            "scale_down": due.map(|k| k.revision.clone()),
            "kept_warm": kw.as_ref().map(|k| serde_json::json!({
                "revision": k.revision,
                "replicas": k.replicas,
                "until": k.until,
            })),
            "done": done,
        })
    };
    let Some(k) = due else {
        return Ok(Output {
            json: json(None),
            text,
            failed: false,
        });
    };
    if a.dry_run {
        let mut text = text;
        for c in &k.calls {
            text.push_str(&format!("  $ {c}\n"));
        }
        return Ok(Output {
            json: json(None),
            text,
            failed: false,
        });
    }
    confirm(
        &format!("prune: scale {} to 0", k.revision),
        &k.calls,
        a.yes,
    )?;
    let result = platform.scale_down(&k.revision).await;
    let message = match &result {
        Ok(done) => format!("scale-down done (by script): {done}"),
        Err(BackendError::Unconfirmed { message, .. }) => format!(
            "scale-down of {} (by script): NOT KNOWN whether it was applied: {message}",
            k.revision
        ),
        Err(e) => format!("scale-down of {} (by script) failed: {e}", k.revision),
    };
    let journal_failed = ctx
        .record(
            &service,
            Event::Note {
                message: message.clone(),
            },
        )
        .err();
    notify_team(config, &format!("{service}: {message}")).await;
    if let Some(e) = &journal_failed {
        eprintln!("canary: the audit journal could not record the scale-down: {e}");
    }
    match result {
        Ok(done) => Ok(Output {
            json: json(Some(&done)),
            text: format!("{text}{done}\n"),
            failed: journal_failed.is_some(),
        }),
        Err(_) => Err(CliError::Refused(message)),
    }
}

async fn delete_cmd(
    platform: &dyn Platform,
    revisions: Vec<String>,
    kind: &str,
    yes: bool,
    config: &Config,
    ctx: &mut Context<'_>,
) -> Result<Output, CliError> {
    let releases = platform.releases().map_err(CliError::Refused)?;
    let snapshot = platform.snapshot().await?;
    let op = if kind == "prune" {
        crate::core::release::ReleaseOp::Prune(revisions.clone())
    } else {
        crate::core::release::ReleaseOp::Delete(revisions.clone())
    };
    let preview = crate::core::release_call::preview(&snapshot, &op).map_err(CliError::Refused)?;
    confirm(
        &format!("{kind}: delete {}", revisions.join(", ")),
        &preview,
        yes,
    )?;
    let service = config.service.name.clone();
    let id = journal::fresh_change_id();
    ctx.record(
        &service,
        Event::RevisionDeleteRequested(DeleteRequested {
            id,
            revisions: revisions.clone(),
            kind: kind.into(),
            reason: ctx.reason.clone(),
        }),
    )
    .map_err(CliError::Journal)?;
    let quiet: SnapshotSink = Arc::new(|_| {});
    let mut deleted = Vec::new();
    let mut text = String::new();
    let mut error = None;
    let mut journal_failed = None;
    for r in &revisions {
        let result = releases.delete_revision(r, quiet.clone()).await;
        if let Err(e) = ctx.record(
            &service,
            Event::RevisionDeleted(RevisionDeleted::of(id, r, &result)),
        ) {
            journal_failed = Some(e);
        }
        match result {
            Ok(_) => {
                text.push_str(&format!("deleted {r}\n"));
                deleted.push(r.clone());
            }
            Err(e) => {
                error = Some(format!("{r} was not deleted: {e}"));
                break;
            }
        }
    }
    notify_team(
        config,
        &format!(
            "{service}: {kind}: {} of {} revisions deleted ({}) (by script)",
            deleted.len(),
            revisions.len(),
            deleted.join(", ")
        ),
    )
    .await;
    if let Some(e) = &error {
        if deleted.is_empty() {
            return Err(CliError::Refused(e.clone()));
        }
        eprintln!("canary: {e}");
    }
    if let Some(e) = &journal_failed {
        eprintln!("canary: deleted, but the audit journal could not record it: {e}");
    }
    Ok(Output {
        json: serde_json::json!({
            "service": service,
            "id": id,
            "kind": kind,
            "deleted": deleted,
            "error": error,
        }),
        text,
        failed: error.is_some() || journal_failed.is_some(),
    })
}

/// Bounded: a dead webhook never fails the command.
async fn notify_team(config: &Config, text: &str) {
    let notifier = crate::runtime::record::Notifier::new(config.notify.url_with_env())
        .with_policy(config.notify.timeout, config.notify.retries);
    let budget = config.notify.timeout.saturating_mul(2) + Duration::from_secs(1);
    match tokio::time::timeout(budget, notifier.send(text)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("canary: the team was not notified: {e}"),
        Err(_) => {
            eprintln!("canary: the team was not notified: the webhook did not answer in time")
        }
    }
}
