//! The release on screen: `D` deploys a new revision (image box, the exact
//! call, `y`), `x` deletes the selected revision, `:prune [N]` deletes the
//! old ones. Same rules as traffic changes: refused in read-only mode and
//! while the journal cannot be written, confirmed with the exact calls, a
//! concurrent change re-read and asked again, every outcome journaled (by
//! the runtime, which writes the request before anything is sent) and told
//! to the team.

use crate::core::key::{KeyCode, KeyEvent};

use super::battery::start_battery;
use super::plan::plan_active;
use super::{keys, load_snapshot, say};
use crate::core::action::{ChangeNo, Effect};
use crate::core::error::BackendError;
use crate::core::keymap::Command;
use crate::core::release::{
    deploy_request, parse_deploy_line, DeleteInFlight, DeployInFlight, DeployRequest, Guard,
    ReleaseConfirm, ReleaseEffect, ReleaseEvent, ReleaseOp,
};
use crate::core::release_call;
use crate::core::state::{InputKind, Level, Mode, State};

/// Why nothing about revisions may start now, if so.
fn refused(state: &State, what: &str) -> Option<String> {
    if let Some(Err(why)) = state
        .snapshot
        .as_ref()
        .map(|s| release_call::preview(s, &ReleaseOp::Delete(Vec::new())))
    {
        return Some(format!("{why}."));
    }
    if let Some(j) = &state.journal_broken {
        return Some(format!(
            "refused: the audit journal cannot be written ({j}); no {what} until it can"
        ));
    }
    if state.snapshot.is_none() {
        return Some("the service has not been read yet".into());
    }
    if let Some(d) = &state.release.deploy {
        return Some(format!(
            "refused: deploy {} of {} is still running",
            ChangeNo(d.id),
            d.request.revision
        ));
    }
    if let Some(d) = &state.release.delete {
        return Some(format!(
            "refused: deletion {} is still running ({} of {} done)",
            ChangeNo(d.id),
            d.done.len(),
            d.revisions.len()
        ));
    }
    None
}

/// `D`: the image box, prefilled with the stable's image repository.
pub(super) fn open(state: &mut State) {
    if let Some(why) = refused(state, "deploy") {
        say(state, Level::Warn, why);
        return;
    }
    if plan_active(state) {
        say(
            state,
            Level::Warn,
            "refused: a plan is running; finish or abort it before deploying a new revision",
        );
        return;
    }
    let repo = state
        .stable()
        .and_then(|s| state.snapshot.as_ref()?.revision(s))
        .map(|r| crate::core::details::image_repository(&r.image))
        .unwrap_or_default();
    let mut ta = tui_textarea::TextArea::new(vec![repo.clone()]);
    ta.move_cursor(tui_textarea::CursorMove::End);
    ta.set_placeholder_text("IMAGE [--tag TAG] [--env KEY=VALUE]");
    keys::open_input(state, InputKind::Deploy, ta, String::new());
    edited(state, &repo);
}

fn request(state: &State, line: &str) -> Result<DeployRequest, String> {
    let (image, tag, env) = parse_deploy_line(line)?;
    request_of(state, &image, tag.as_deref(), &env)
}

pub(super) fn request_of(
    state: &State,
    image: &str,
    tag: Option<&str>,
    env: &[String],
) -> Result<DeployRequest, String> {
    let snapshot = state
        .snapshot
        .as_ref()
        .ok_or("the service has not been read yet")?;
    let salt = state.next_change_id ^ state.now.timestamp_nanos_opt().unwrap_or(0) as u64;
    deploy_request(
        snapshot,
        &state.settings.release,
        image,
        tag,
        env,
        state.now,
        salt,
    )
}

/// `canary release --image`: what `D`, the image and `y` do, the command
/// line being the confirmation. Asked again after a conflict (the service
/// moved under it: a lease renewal, someone's change), it is made again on
/// what is there now; the refusals are the screen's (said, nothing sent).
pub(super) fn unattended(
    state: &mut State,
    image: &str,
    tag: Option<&str>,
    env: &[String],
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    if matches!(&state.mode, Mode::Release(c) if matches!(c.op, ReleaseOp::Deploy(_))) {
        state.mode = Mode::Normal;
    }
    state.release.conflicted = None;
    let Some(expect) = state.snapshot.as_ref().map(|s| s.version.clone()) else {
        say(state, Level::Warn, "the service has not been read yet");
        return;
    };
    match request_of(state, image, tag, env) {
        Ok(r) => {
            let c = ReleaseConfirm {
                op: ReleaseOp::Deploy(r),
                preview: Vec::new(),
                notes: Vec::new(),
                expect,
                unprompted: false,
            };
            confirmed(state, c, reason, fx);
        }
        Err(e) => say(state, Level::Error, format!("not deployed: {e}")),
    }
}

/// As the box is edited: the gcloud line it would run, or what is wrong.
pub(super) fn edited(state: &mut State, line: &str) {
    let result = request(state, line.trim());
    let unfinished = line.trim().is_empty() || line.trim().ends_with(':');
    if let Mode::Input(input) = &mut state.mode {
        match result {
            Ok(r) => {
                input.hint = Some(format!(
                    "Enter: {} from this image, tag {}, no traffic (shows the exact call first)",
                    r.revision, r.tag
                ));
                input.feedback = None;
            }
            // The repository is there, the tag not yet: the box's own hint.
            Err(_) if unfinished => {
                input.hint = None;
                input.feedback = None;
            }
            Err(e) => {
                input.hint = None;
                input.feedback = Some(Err(e));
            }
        }
    }
}

/// Enter in the image box: the confirmation with the exact calls.
pub(super) fn entered(state: &mut State, line: &str) {
    match request(state, line) {
        Ok(r) => ask(state, ReleaseOp::Deploy(r), Vec::new(), false),
        Err(e) => {
            if let Mode::Input(input) = &mut state.mode {
                input.feedback = Some(Err(e));
            }
        }
    }
}

/// Opens the confirmation for `op` (with the current version).
fn ask(state: &mut State, op: ReleaseOp, mut notes: Vec<String>, unprompted: bool) {
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    let preview = match release_call::preview(snapshot, &op) {
        Ok(p) => p,
        Err(why) => {
            state.mode = Mode::Normal;
            say(state, Level::Warn, format!("{why}."));
            return;
        }
    };
    if let ReleaseOp::Deploy(r) = &op {
        notes.insert(
            0,
            format!(
                "no traffic: the split stays {}; the tag `{}` gives {} its own URL",
                snapshot.traffic, r.tag, r.revision
            ),
        );
        if state.settings.release.checks_after_deploy && !state.settings.checks.is_empty() {
            notes.push(format!(
                "once it is ready: it becomes the canary and the {} checks run against its tag URL",
                state.settings.checks.len()
            ));
        }
    }
    state.mode = Mode::Release(Box::new(ReleaseConfirm {
        op,
        preview,
        notes,
        expect: snapshot.version.clone(),
        unprompted,
    }));
}

/// `x`: delete the selected revision, if the rules allow it.
pub(super) fn delete_selected(state: &mut State) {
    if let Some(why) = refused(state, "deletion") {
        say(state, Level::Warn, why);
        return;
    }
    let Some(sel) = state.selected.clone() else {
        say(state, Level::Warn, "select a revision to delete");
        return;
    };
    match guard_of(state, |g| g.delete(&sel)) {
        Some(Ok(name)) => {
            let mut notes = Vec::new();
            if let Some(tag) = state
                .snapshot
                .as_ref()
                .and_then(|s| s.revision(&name))
                .and_then(|r| r.tag.clone())
            {
                notes.push(format!(
                    "it failed: its tag `{tag}` reaches nothing and is removed first"
                ));
            }
            ask(state, ReleaseOp::Delete(vec![name]), notes, false);
        }
        Some(Err(why)) => say(state, Level::Warn, format!("not deleted: {why}")),
        None => {}
    }
}

fn guard_of<T>(state: &State, f: impl FnOnce(&Guard<'_>) -> T) -> Option<T> {
    let snapshot = state.snapshot.as_ref()?;
    let plan_canary = state
        .plan
        .as_ref()
        .filter(|p| !p.phase.is_finished())
        .map(|p| p.canary.as_str());
    let plan_baseline = state
        .plan
        .as_ref()
        .filter(|p| !p.phase.is_finished())
        .and_then(|p| p.baseline.as_deref());
    let g = Guard {
        snapshot,
        roles: &state.roles,
        plan_canary,
        plan_baseline,
        deploying: state
            .release
            .deploy
            .as_ref()
            .map(|d| d.request.revision.as_str()),
    };
    Some(f(&g))
}

/// `:prune [N]`: the old revisions, with what is kept and why.
pub(super) fn prune(state: &mut State, keep: Option<usize>) -> Result<(), String> {
    if state.settings.read_only {
        return Err(
            "read-only mode (--read-only): prune deletes revisions, so it is disabled".into(),
        );
    }
    if let Some(why) = refused(state, "prune") {
        return Err(why);
    }
    let keep = keep.unwrap_or(state.settings.release.keep);
    let Some(plan) = guard_of(state, |g| g.prune(keep)) else {
        return Err("the service has not been read yet".into());
    };
    state.mode = Mode::Normal;
    if plan.delete.is_empty() {
        say(
            state,
            Level::Info,
            format!(
                "nothing to prune: {} revisions, all kept ({} newest, or in use)",
                plan.kept.len(),
                keep
            ),
        );
        return Ok(());
    }
    let notes = plan
        .kept
        .iter()
        .filter(|(_, why)| !matches!(why, crate::core::release::Keep::Newest(_)))
        .map(|(n, why)| format!("keeps {n}: {why}"))
        .collect();
    ask(state, ReleaseOp::Prune(plan.delete), notes, false);
    Ok(())
}

/// Keys in the confirmation: `y` sends, `n`/Esc cancels, `c` copies.
pub(super) fn on_confirm_key(state: &mut State, key: KeyEvent, fx: &mut Vec<Effect>) {
    let Mode::Release(c) = &state.mode else {
        return;
    };
    match state.settings.keymap.confirm(&key) {
        Some(Command::CopyCall) => {
            fx.push(Effect::Copy(c.preview.first().cloned().unwrap_or_default()));
            say(
                state,
                Level::Info,
                "exact call copied (to the terminal's clipboard where it allows OSC 52; \
                 also in the diagnostic log)",
            );
        }
        Some(Command::Confirm) if c.unprompted && key.code == KeyCode::Enter => {
            say(
                state,
                Level::Warn,
                "this question opened by itself: press y to confirm (Enter does not)",
            );
        }
        Some(Command::Confirm) => {
            if let Mode::Release(c) = std::mem::replace(&mut state.mode, Mode::Normal) {
                confirmed(state, *c, None, fx);
            }
        }
        Some(_) => {
            state.mode = Mode::Normal;
            say(state, Level::Info, "cancelled: nothing was changed");
        }
        None if key.code == KeyCode::Esc => state.mode = Mode::Normal,
        None => {
            let km = &state.settings.keymap;
            let hint = format!(
                "press {} to confirm or {} to cancel",
                km.label(Command::Confirm),
                km.label(Command::Cancel)
            );
            say(state, Level::Warn, hint);
        }
    }
}

/// `y`: sends it (the runtime journals the request first).
pub(super) fn confirmed(
    state: &mut State,
    c: ReleaseConfirm,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    if let Some(why) = refused(state, c.op.verb()) {
        say(state, Level::Warn, why);
        return;
    }
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    // Someone else changed the service while the operator decided: the
    // request is made again on what is there now, and asked again.
    if snapshot.version != c.expect {
        let now = snapshot.traffic.clone();
        let op = match c.op {
            ReleaseOp::Deploy(r) => {
                let line = format!("{} --tag {}{}", r.image, r.tag, env_flags(&r));
                match request(state, &line) {
                    Ok(fresh) => ReleaseOp::Deploy(DeployRequest {
                        revision: r.revision,
                        ..fresh
                    }),
                    Err(e) => {
                        say(state, Level::Warn, format!("not deployed: {e}"));
                        return;
                    }
                }
            }
            other => other,
        };
        ask(
            state,
            op,
            vec![format!(
                "someone else changed the service while you were deciding: it is now {now}; \
                 confirm again"
            )],
            true,
        );
        return;
    }
    let id = state.next_change_id;
    state.next_change_id += 1;
    match c.op {
        ReleaseOp::Deploy(request) => {
            fx.push(Effect::Release(ReleaseEffect::Deploy {
                id,
                request: request.clone(),
                expect: c.expect,
                reason: reason.clone(),
                before: snapshot.traffic.clone(),
            }));
            say(
                state,
                Level::Info,
                format!(
                    "deploy {}: creating {} from {} with no traffic, tag {}…",
                    ChangeNo(id),
                    request.revision,
                    request.image,
                    request.tag
                ),
            );
            state.release.deploy = Some(DeployInFlight {
                id,
                request,
                started: state.now,
                reason,
                shown: false,
            });
        }
        op @ (ReleaseOp::Delete(_) | ReleaseOp::Prune(_)) => {
            let prune = matches!(op, ReleaseOp::Prune(_));
            let revisions = op.deletes().to_vec();
            fx.push(Effect::Release(ReleaseEffect::Delete {
                id,
                revisions: revisions.clone(),
                reason,
                prune,
            }));
            say(
                state,
                Level::Info,
                format!(
                    "{} {}: deleting {}…",
                    op.verb(),
                    ChangeNo(id),
                    revisions.join(", ")
                ),
            );
            state.release.delete = Some(DeleteInFlight {
                id,
                revisions,
                started: state.now,
                done: Vec::new(),
                prune,
            });
        }
    }
}

fn env_flags(r: &DeployRequest) -> String {
    r.env
        .iter()
        .map(|(k, v)| format!(" --env {k}={v}"))
        .collect()
}

/// A deploy or a deletion came back.
pub(super) fn on_event(state: &mut State, event: ReleaseEvent, fx: &mut Vec<Effect>) {
    match event {
        ReleaseEvent::Deployed { id, result } => deployed(state, id, result, fx),
        ReleaseEvent::Deleted {
            id,
            revision,
            result,
            last,
        } => deleted(state, id, revision, result, last, fx),
    }
}

fn deployed(
    state: &mut State,
    id: u64,
    result: Result<crate::core::model::ServiceSnapshot, BackendError>,
    fx: &mut Vec<Effect>,
) {
    let Some(d) = state.release.deploy.take_if(|d| d.id == id) else {
        return;
    };
    let took = (state.now - d.started).num_milliseconds();
    if super::baseline::is_ours(state, id) {
        return super::baseline::deployed(state, result, took, fx);
    }
    let rev = d.request.revision.clone();
    let service = state.info.service.clone();
    match result {
        Ok(snapshot) => {
            // A write landed: reads started before it are stale.
            state.write_generation += 1;
            load_snapshot(state, snapshot, fx);
            state.selected = Some(rev.clone());
            super::logs::follow_selection(state, fx);
            let url = state
                .snapshot
                .as_ref()
                .and_then(|s| s.revision(&rev))
                .and_then(|r| r.tag_url.clone());
            let checks =
                state.settings.release.checks_after_deploy && !state.settings.checks.is_empty();
            if checks {
                start_battery(state, &rev, fx);
            }
            say(
                state,
                Level::Info,
                format!(
                    "deploy {} done in {:.1} s: {rev} is ready at 0 %, tag {}{}{}",
                    ChangeNo(id),
                    took as f64 / 1000.0,
                    d.request.tag,
                    url.as_deref()
                        .map(|u| format!(" ({u})"))
                        .unwrap_or_default(),
                    if checks {
                        format!(
                            "; running {} checks against it",
                            state.settings.checks.len()
                        )
                    } else {
                        String::new()
                    }
                ),
            );
            fx.push(Effect::Notify(format!(
                "{service}: deployed {rev} ({}) with no traffic, tag {}",
                d.request.image, d.request.tag
            )));
            state.release.last_deploy = Some((rev.clone(), Ok(())));
        }
        Err(BackendError::Conflict(why)) => {
            fx.push(Effect::RefreshService);
            say(
                state,
                Level::Warn,
                format!(
                    "deploy {}: someone else changed the service ({why}); nothing was sent — \
                     re-reading it before asking you again",
                    ChangeNo(id)
                ),
            );
            state.release.conflicted = Some(d.request);
        }
        Err(e) => {
            fx.push(Effect::RefreshService);
            let known = !matches!(e, BackendError::Unconfirmed { .. });
            say(
                state,
                Level::Error,
                format!(
                    "deploy {} {}: {e}; the split is unchanged{}",
                    ChangeNo(id),
                    if known { "FAILED" } else { "outcome NOT KNOWN" },
                    if known {
                        format!(" ({} on it, then x, deletes the failed revision)", rev)
                    } else {
                        String::new()
                    }
                ),
            );
            fx.push(Effect::Notify(format!(
                "{service}: deploy of {rev} ({}) {}: {e}",
                d.request.image,
                if known { "FAILED" } else { "outcome NOT KNOWN" }
            )));
            state.release.last_deploy = Some((rev, Err(e.to_string())));
        }
    }
}

/// After every read: the revision being deployed is selected once it is
/// listed (its row shows the conditions as they progress); after a
/// conflict, the deploy is asked again on what is there now.
pub(super) fn after_read(state: &mut State, fx: &mut Vec<Effect>) {
    if let Some(d) = state.release.deploy.as_mut().filter(|d| !d.shown) {
        let listed = state
            .snapshot
            .as_ref()
            .is_some_and(|s| s.revision(&d.request.revision).is_some());
        if listed {
            d.shown = true;
            state.selected = Some(d.request.revision.clone());
            super::logs::follow_selection(state, fx);
        }
    }
    reask(state);
}

fn reask(state: &mut State) {
    if !matches!(state.mode, Mode::Normal) {
        return;
    }
    let Some(r) = state.release.conflicted.take() else {
        return;
    };
    let line = format!("{} --tag {}{}", r.image, r.tag, env_flags(&r));
    match request(state, &line) {
        Ok(fresh) => {
            let now = state
                .snapshot
                .as_ref()
                .map(|s| s.traffic.to_string())
                .unwrap_or_default();
            ask(
                state,
                ReleaseOp::Deploy(fresh),
                vec![format!(
                    "someone else changed the service: it is now {now}; deploy anyway?"
                )],
                true,
            );
        }
        Err(e) => say(state, Level::Warn, format!("not deployed: {e}")),
    }
}

fn deleted(
    state: &mut State,
    id: u64,
    revision: String,
    result: Result<crate::core::model::ServiceSnapshot, BackendError>,
    last: bool,
    fx: &mut Vec<Effect>,
) {
    let Some(d) = state.release.delete.as_mut().filter(|d| d.id == id) else {
        return;
    };
    let n = d.revisions.len();
    let ok = result.is_ok();
    if ok {
        d.done.push(revision.clone());
    }
    let done = d.done.len();
    let error = result.as_ref().err().map(|e| e.to_string());
    match result {
        Ok(snapshot) => {
            state.write_generation += 1;
            load_snapshot(state, snapshot, fx);
        }
        Err(e @ BackendError::Unconfirmed { .. }) => say(
            state,
            Level::Error,
            format!("deleting {revision}: outcome NOT KNOWN: {e}"),
        ),
        Err(e) => say(
            state,
            Level::Error,
            format!("{revision} was NOT deleted: {e}"),
        ),
    }
    if ok {
        say(
            state,
            Level::Info,
            format!("deleted {revision} ({done} of {n})"),
        );
    }
    if last {
        let d = state.release.delete.take();
        super::baseline::deleted(state, id, error, fx);
        fx.push(Effect::RefreshService);
        let service = state.info.service.clone();
        if let Some(d) = d {
            let what = if d.prune { "prune" } else { "delete" };
            if done == n {
                say(
                    state,
                    Level::Info,
                    format!(
                        "{what} {} done: {} deleted",
                        ChangeNo(id),
                        d.done.join(", ")
                    ),
                );
            } else if ok || done > 0 {
                say(
                    state,
                    Level::Warn,
                    format!(
                        "{what} {}: {done} of {n} deleted; the rest stays (see the journal)",
                        ChangeNo(id)
                    ),
                );
            }
            fx.push(Effect::Notify(format!(
                "{service}: {what}: {done} of {n} revisions deleted ({})",
                d.done.join(", ")
            )));
        }
    }
}

/// After a plan promoted its canary: prune by itself when the config asks.
pub(super) fn after_promotion(state: &mut State, fx: &mut Vec<Effect>) {
    if !state.settings.release.prune_after_promote || state.settings.read_only {
        return;
    }
    if refused(state, "prune").is_some() {
        return;
    }
    let keep = state.settings.release.keep;
    let Some(plan) = guard_of(state, |g| g.prune(keep)) else {
        return;
    };
    if plan.delete.is_empty() {
        return;
    }
    let c = ReleaseConfirm {
        op: ReleaseOp::Prune(plan.delete),
        preview: Vec::new(),
        notes: Vec::new(),
        expect: state
            .snapshot
            .as_ref()
            .map(|s| s.version.clone())
            .unwrap_or_default(),
        unprompted: true,
    };
    confirmed(
        state,
        c,
        Some(format!(
            "automatic prune after the promotion ([revisions] prune_after_promote, keep {keep})"
        )),
        fx,
    );
}
