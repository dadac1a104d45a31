//! `[judge] baseline = "deploy"`: before a plan starts, a fresh revision of
//! the stable's image is deployed (tag `baseline`, no traffic) through the
//! same journaled deploy as `D`; once it is ready the plan starts and each
//! step gives it a share taken from the stable ([`Plan::split_for`]), so
//! that the judge compares the canary with a revision as cold as it is.
//! Every rollback sends everything to the stable (the baseline too). When
//! the plan ends, the baseline, at 0 %, is deleted (its tag removed first)
//! through the same journaled deletion as `x`, automatically. A platform
//! that cannot deploy (HAProxy, Kubernetes) is said once, and the judge
//! compares with the stable as without a baseline: the release goes on.

use super::changes::submit;
use super::deploy;
use super::plan::{carry_out, plan_active};
use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::baseline::{Cleanup, Prep, MAX_CONFLICTS, TAG};
use crate::core::error::BackendError;
use crate::core::model::ServiceSnapshot;
use crate::core::plan::{Baseline, Phase, Plan, PlanSpec};
use crate::core::record::Event;
use crate::core::release::{ReleaseConfirm, ReleaseOp};
use crate::core::release_call;
use crate::core::state::{Level, State};

/// Said on screen and journaled (a note: `canary release` prints it).
fn tell(state: &mut State, level: Level, message: String, fx: &mut Vec<Effect>) {
    say(state, level, message.clone());
    fx.push(Effect::Journal(Event::Note { message }));
}

/// What the plan's start confirmation says about the baseline, if any.
pub(super) fn start_note(state: &State) -> Option<String> {
    if state.settings.judge.baseline != Baseline::Deploy
        || state.settings.judge.mode == crate::core::judge::JudgeMode::Off
    {
        return None;
    }
    let snapshot = state.snapshot.as_ref()?;
    let p = state.settings.plan.steps.first().map_or(0, |s| s.percent);
    let b = crate::core::plan::baseline_share(p);
    Some(
        match release_call::preview(snapshot, &ReleaseOp::Delete(Vec::new())) {
            Ok(_) => format!(
                "FIRST a fresh baseline of the stable's image is deployed (tag `{TAG}`, no \
                 traffic); once it is ready the first step sends canary {p} % · baseline {b} % \
                 · stable {} % (the call below, plus the baseline's share); it is deleted when \
                 the plan ends",
                100 - p - b
            ),
            Err(why) => format!(
                "no baseline revision ({why}): the judge compares the canary with the stable"
            ),
        },
    )
}

/// Starts the plan, or first deploys its baseline (the plan then starts
/// when it is ready). `Err`: the plan could not start (nothing was sent).
pub(super) fn start(
    state: &mut State,
    spec: PlanSpec,
    canary: String,
    stable: String,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) -> Result<(), String> {
    if state.baseline.prep.is_some() {
        return Err("a baseline is being deployed for a plan that starts once it is ready".into());
    }
    state.baseline.stopped = None;
    // A judge that is off compares nothing: no baseline for it.
    let judged = state.settings.judge.mode != crate::core::judge::JudgeMode::Off;
    if state.settings.judge.baseline == Baseline::Deploy && judged {
        match prepare(state, &spec, &canary, &stable, reason.clone(), fx) {
            Ok(()) => return Ok(()),
            Err(why) => tell(
                state,
                Level::Warn,
                format!(
                    "no baseline revision ([judge] baseline = \"deploy\"): {why}; \
                     the judge compares the canary with the stable {stable}"
                ),
                fx,
            ),
        }
    }
    launch(state, spec, canary, stable, None, reason, fx)
}

/// Sends the baseline's deploy; `Err`: why there is none.
fn prepare(
    state: &mut State,
    spec: &PlanSpec,
    canary: &str,
    stable: &str,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) -> Result<(), String> {
    let snapshot = state
        .snapshot
        .as_ref()
        .ok_or("the service has not been read yet")?;
    release_call::preview(snapshot, &ReleaseOp::Delete(Vec::new()))?;
    if state.settings.read_only {
        return Err("read-only mode: nothing is deployed".into());
    }
    let image = snapshot
        .revision(stable)
        .map(|r| r.image.clone())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| format!("the stable {stable}'s image is not known"))?;
    if snapshot.revision(canary).is_some_and(|r| r.image == image) {
        return Err(format!(
            "the canary runs the stable's image ({image}): a change of configuration only, and \
             a baseline of that image is deployed on the service's current template, which is \
             the canary's: it would be the canary's twin"
        ));
    }
    if let Some(owner) = snapshot
        .revisions
        .iter()
        .find(|r| r.tag.as_deref() == Some(TAG))
    {
        return Err(format!(
            "the tag `{TAG}` already marks {} (left by an earlier plan?): select it and press x \
             (or `canary delete {}`) to delete it",
            owner.name, owner.name
        ));
    }
    // What the service will serve once a change in flight has landed.
    let split = state
        .desired()
        .cloned()
        .unwrap_or_else(|| snapshot.traffic.clone());
    let prep = Prep {
        split,
        spec: spec.clone(),
        canary: canary.to_string(),
        stable: stable.to_string(),
        reason,
        image,
        deploy: None,
        conflicts: 0,
        cancelled: None,
    };
    send(state, prep, fx)
}

/// Sends (or sends again) the deploy of `prep`'s baseline.
fn send(state: &mut State, mut prep: Prep, fx: &mut Vec<Effect>) -> Result<(), String> {
    let Some(expect) = state.snapshot.as_ref().map(|s| s.version.clone()) else {
        return Err("the service has not been read yet".into());
    };
    let request = deploy::request_of(state, &prep.image, Some(TAG), &[])?;
    let why = format!(
        "baseline for the plan of {}: the stable {}'s image {} on the service's current \
         template (the deploy changes only the image: its other settings are the template's, \
         those of the newest revision), no traffic; it gets a share taken from the stable \
         at each step and is deleted when the plan ends",
        prep.canary, prep.stable, prep.image
    );
    let c = ReleaseConfirm {
        op: ReleaseOp::Deploy(request),
        preview: Vec::new(),
        notes: Vec::new(),
        expect,
        unprompted: false,
    };
    let before = state.release.deploy.as_ref().map(|d| d.id);
    deploy::confirmed(state, c, Some(why), fx);
    match state
        .release
        .deploy
        .as_ref()
        .filter(|d| Some(d.id) != before)
    {
        Some(d) => {
            let (id, rev) = (d.id, d.request.revision.clone());
            say(
                state,
                Level::Info,
                format!(
                    "plan: deploying the baseline {rev} ({}, tag `{TAG}`, no traffic) first; \
                     the plan starts once it is ready",
                    prep.image
                ),
            );
            prep.deploy = Some((id, rev));
            state.baseline.prep = Some(prep);
            Ok(())
        }
        None => Err(state
            .message
            .as_ref()
            .map_or("the deploy was refused".into(), |m| m.text.clone())),
    }
}

/// Starts the plan (with `baseline`, deployed and ready, or none).
pub(super) fn launch(
    state: &mut State,
    spec: PlanSpec,
    canary: String,
    stable: String,
    baseline: Option<String>,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) -> Result<(), String> {
    let (plan, cmds) = Plan::start_with(spec, canary.clone(), stable.clone(), baseline, state.now)?;
    let canary_image = state
        .snapshot
        .as_ref()
        .and_then(|s| s.revision(&canary))
        .map(|r| r.image.clone());
    fx.push(Effect::Journal(Event::PlanStarted {
        canary: canary.clone(),
        stable: stable.clone(),
        spec: plan.spec.clone(),
        canary_image,
    }));
    if let Some(r) = reason {
        fx.push(Effect::Journal(Event::Note {
            message: format!("release started: {r}"),
        }));
    }
    if let Some(b) = &plan.baseline {
        tell(
            state,
            Level::Info,
            format!(
                "plan: baseline {b} (the stable {stable}'s image, fresh) gets a share taken from \
                 the stable at each step ({}); the judge compares {canary} with it",
                plan.split_for(0)
            ),
            fx,
        );
    }
    state.plan = Some(plan);
    state.selected = Some(canary);
    state.red_since = None;
    carry_out(state, cmds, false, fx);
    Ok(())
}

/// Whether deploy `id` is a baseline's.
pub(super) fn is_ours(state: &State, id: u64) -> bool {
    state
        .baseline
        .prep
        .as_ref()
        .and_then(|p| p.deploy.as_ref())
        .is_some_and(|(i, _)| *i == id)
}

/// The baseline's deploy came back (its records are journaled by the
/// runtime): the plan starts, with it when it is ready, else without.
pub(super) fn deployed(
    state: &mut State,
    result: Result<ServiceSnapshot, BackendError>,
    took_ms: i64,
    fx: &mut Vec<Effect>,
) {
    let Some(mut prep) = state.baseline.prep.take() else {
        return;
    };
    let Some((_, rev)) = prep.deploy.take() else {
        return;
    };
    let service = state.info.service.clone();
    let outcome = match result {
        Ok(snapshot) => {
            state.write_generation += 1;
            super::load_snapshot(state, snapshot, fx);
            let ready = state
                .snapshot
                .as_ref()
                .and_then(|s| s.revision(&rev))
                .is_some_and(|r| r.ready);
            fx.push(Effect::Notify(format!(
                "{service}: deployed the baseline {rev} ({}) with no traffic, tag {TAG}",
                prep.image
            )));
            if ready {
                Ok(rev.clone())
            } else {
                // Not used: deleted once listed at 0 % (it would block the
                // next plan's baseline with its tag).
                state.baseline.cleanup = Some(Cleanup {
                    revision: rev.clone(),
                    why: "it was not ready when deployed".into(),
                    delete_id: None,
                    said_waiting: false,
                });
                Err(format!("{rev} is not ready"))
            }
        }
        Err(BackendError::Conflict(why)) if prep.cancelled.is_none() => {
            fx.push(Effect::RefreshService);
            prep.conflicts += 1;
            if prep.conflicts <= MAX_CONFLICTS {
                say(
                    state,
                    Level::Warn,
                    format!(
                        "baseline: someone else changed the service ({why}); nothing was sent — \
                         deploying it again on what is there now"
                    ),
                );
                state.baseline.prep = Some(prep);
                return;
            }
            Err(format!(
                "the service kept changing under its deploy ({MAX_CONFLICTS} conflicts)"
            ))
        }
        Err(e) => {
            fx.push(Effect::RefreshService);
            // Whatever was created (a failed revision, or one whose outcome
            // is not known) is deleted once listed at 0 %.
            state.baseline.cleanup = Some(Cleanup {
                revision: rev.clone(),
                why: "its deploy did not succeed".into(),
                delete_id: None,
                said_waiting: false,
            });
            Err(format!(
                "its deploy {}: {e}",
                if matches!(e, BackendError::Unconfirmed { .. }) {
                    "has an outcome NOT KNOWN"
                } else {
                    "FAILED"
                }
            ))
        }
    };
    // The traffic moved while the baseline deployed (a rollback, a shift,
    // a promotion, someone else): the plan was decided on the split of
    // then, so it does not start on its own.
    if prep.cancelled.is_none() {
        let now = state
            .snapshot
            .as_ref()
            .and_then(|s| without(&s.traffic, &rev, &prep.stable));
        if state.change.is_some() || state.queued.is_some() {
            prep.cancelled = Some("a traffic change went out".into());
        } else if let Some(now) = now.filter(|n| *n != prep.split) {
            prep.cancelled = Some(format!("the traffic moved from {} to {now}", prep.split));
        }
    }
    if let Some(why) = prep.cancelled.take() {
        let message = format!(
            "plan not started: {why} while its baseline was being deployed; no traffic was \
             changed{}",
            if outcome.is_ok() {
                format!("; the baseline {rev} is deleted")
            } else {
                String::new()
            }
        );
        tell(state, Level::Warn, message.clone(), fx);
        if outcome.is_ok() {
            state.baseline.cleanup = Some(Cleanup {
                revision: rev,
                why: format!("the plan was not started ({why})"),
                delete_id: None,
                said_waiting: false,
            });
        }
        state.baseline.stopped = Some(message);
        cleanup(state, fx);
        return;
    }
    let baseline = match outcome {
        Ok(b) => {
            say(
                state,
                Level::Info,
                format!(
                    "baseline {b} is ready at 0 % ({:.1} s)",
                    took_ms as f64 / 1000.0
                ),
            );
            Some(b)
        }
        Err(why) => {
            tell(
                state,
                Level::Warn,
                format!(
                    "no baseline: {why}; the plan starts without it and the judge compares \
                     the canary with the stable {}",
                    prep.stable
                ),
                fx,
            );
            None
        }
    };
    let Prep {
        spec,
        canary,
        stable,
        reason,
        ..
    } = prep;
    if let Err(e) = launch(state, spec, canary, stable, baseline.clone(), reason, fx) {
        tell(
            state,
            Level::Error,
            format!("release refused: cannot start the plan: {e}"),
            fx,
        );
        if let Some(b) = baseline {
            state.baseline.cleanup = Some(Cleanup {
                revision: b,
                why: "the plan could not start".into(),
                delete_id: None,
                said_waiting: false,
            });
        }
    }
    cleanup(state, fx);
}

/// Abort while the baseline deploys: the plan will not start. `false`:
/// there was nothing to cancel.
pub(super) fn cancel(state: &mut State, why: &str, fx: &mut Vec<Effect>) -> bool {
    let Some(prep) = state.baseline.prep.as_mut() else {
        return false;
    };
    if prep.cancelled.is_none() {
        prep.cancelled = Some(why.to_string());
        let message = format!(
            "plan start cancelled ({why}) while its baseline deploys: no traffic was changed; \
             the baseline is deleted once its deploy has ended"
        );
        tell(state, Level::Warn, message, fx);
    }
    // Sent again after a conflict: nothing is in flight, it ends here.
    if state
        .baseline
        .prep
        .as_ref()
        .is_some_and(|p| p.deploy.is_none())
    {
        let why = why.to_string();
        state.baseline.prep = None;
        state.baseline.stopped = Some(format!("plan not started: {why}"));
    }
    true
}

/// The plan finished: its baseline is deleted once it has no traffic.
pub(super) fn plan_finished(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(plan) = state.plan.as_ref().filter(|p| p.phase.is_finished()) else {
        return;
    };
    let Some(b) = plan.baseline.clone() else {
        return;
    };
    if state
        .baseline
        .cleanup
        .as_ref()
        .is_some_and(|c| c.revision == b)
    {
        return;
    }
    let why = format!("the plan of {} is {}", plan.canary, plan.phase.label());
    state.baseline.cleanup = Some(Cleanup {
        revision: b,
        why,
        delete_id: None,
        said_waiting: false,
    });
    cleanup(state, fx);
}

/// After every read of the service: a running plan's baseline is ready or
/// not (it gets no share when not); a conflicted deploy is sent again; a
/// baseline to delete is deleted when it can be.
pub(super) fn after_read(state: &mut State, fx: &mut Vec<Effect>) {
    readiness(state, fx);
    let resend = state
        .baseline
        .prep
        .as_ref()
        .is_some_and(|p| p.deploy.is_none() && p.cancelled.is_none())
        && state.release.deploy.is_none();
    if resend {
        if let Some(prep) = state.baseline.prep.take() {
            let (spec, canary, stable, reason) = (
                prep.spec.clone(),
                prep.canary.clone(),
                prep.stable.clone(),
                prep.reason.clone(),
            );
            if let Err(why) = send(state, prep, fx) {
                tell(
                    state,
                    Level::Warn,
                    format!(
                        "no baseline: {why}; the plan starts without it and the judge compares \
                         the canary with the stable {stable}"
                    ),
                    fx,
                );
                if let Err(e) = launch(state, spec, canary, stable, None, reason, fx) {
                    tell(
                        state,
                        Level::Error,
                        format!("release refused: cannot start the plan: {e}"),
                        fx,
                    );
                }
            }
        }
    }
    cleanup(state, fx);
}

/// A running plan's baseline, read not ready: no share for it from the
/// next change on (said once), and the share it has now goes back to the
/// stable as soon as nothing else is on its way: the traffic **as it is**
/// with the baseline's percent moved to the stable (never the step's split
/// sent again: a paused plan may be at another split, set by hand or left
/// by a failed step, and the canary's share must not move). Read on every
/// refresh, so a share left by a change that was in flight when the
/// baseline went unready is taken back too; one try per service version
/// (a refused pull is tried again on the next version, not in a loop).
/// Read ready again: its share again from the next step on.
fn readiness(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    let Some(plan) = state.plan.as_ref().filter(|p| !p.phase.is_finished()) else {
        return;
    };
    let Some(b) = plan.baseline.clone() else {
        return;
    };
    let ready = snapshot.revision(&b).is_some_and(|r| r.ready);
    let share = snapshot.traffic.percent_of(&b);
    let stable = plan.stable.clone();
    let version = snapshot.version.clone();
    let current = snapshot.traffic.clone();
    let settled = matches!(
        plan.phase,
        Phase::Observing { .. } | Phase::WaitingApproval { .. } | Phase::Paused { .. }
    );
    let step = plan.phase.step();
    if ready != plan.baseline_ready {
        if let Some(p) = state.plan.as_mut() {
            p.baseline_ready = ready;
        }
        let message = if ready {
            format!("baseline {b} is ready again: it gets its share from the next step on")
        } else {
            format!(
                "baseline {b} is NOT READY (or gone): it gets no traffic from the next change on; \
                 the judge compares the canary with the stable meanwhile"
            )
        };
        tell(state, Level::Warn, message, fx);
    }
    let idle = state.change.is_none() && state.queued.is_none();
    let tried = state.baseline.pulled_at.as_ref() == Some(&version);
    let (false, true, true, true, false, Some(step)) =
        (ready, share > 0, settled, idle, tried, step)
    else {
        return;
    };
    let Some(split) = without(&current, &b, &stable) else {
        return;
    };
    state.baseline.pulled_at = Some(version);
    submit(
        state,
        split,
        ChangeKind::Plan(step),
        Some(format!(
            "baseline {b} is not ready: its {share} % goes back to the stable"
        )),
        fx,
    );
}

/// `split` with `baseline`'s percent moved to `stable`, every other share
/// as it is (the arithmetic of the `-` key: `traffic::shift`).
fn without(
    split: &crate::core::model::TrafficSplit,
    baseline: &str,
    stable: &str,
) -> Option<crate::core::model::TrafficSplit> {
    match split.percent_of(baseline) {
        0 => Some(split.clone()),
        share => crate::core::traffic::shift(split, baseline, stable, -i32::from(share)).ok(),
    }
}

/// Deletes the baseline to delete when nothing is in flight and it has no
/// traffic (a rollback lands first): through the journaled deletion of
/// `x`, its tag removed first. Never blocks anything: it waits.
pub(super) fn cleanup(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(c) = state.baseline.cleanup.clone() else {
        return;
    };
    if c.delete_id.is_some() {
        return;
    }
    if plan_active(state)
        && state
            .plan
            .as_ref()
            .is_some_and(|p| p.baseline.as_deref() == Some(c.revision.as_str()))
    {
        return;
    }
    if state.release.deploy.is_some()
        || state.release.delete.is_some()
        || state.change.is_some()
        || state.queued.is_some()
        || state.journal_broken.is_some()
    {
        return;
    }
    let Some(snapshot) = state.snapshot.as_ref() else {
        return;
    };
    let Some(rev) = snapshot.revision(&c.revision) else {
        // Never created, or gone already.
        state.baseline.cleanup = None;
        return;
    };
    if rev.details.deploying {
        return;
    }
    let share = snapshot
        .traffic
        .percent_of(&c.revision)
        .max(snapshot.serving().percent_of(&c.revision));
    if share > 0 {
        if !c.said_waiting {
            if let Some(c) = state.baseline.cleanup.as_mut() {
                c.said_waiting = true;
            }
            say(
                state,
                Level::Warn,
                format!(
                    "baseline {} still has {share} %: deleted once it has none",
                    c.revision
                ),
            );
        }
        return;
    }
    if state.settings.read_only {
        state.baseline.cleanup = None;
        return;
    }
    let expect = snapshot.version.clone();
    let confirm = ReleaseConfirm {
        op: ReleaseOp::Delete(vec![c.revision.clone()]),
        preview: Vec::new(),
        notes: Vec::new(),
        expect,
        unprompted: false,
    };
    let reason = format!(
        "baseline cleanup: {}; the baseline {} has 0 %: its tag `{TAG}` is removed, then the \
         revision deleted",
        c.why, c.revision
    );
    deploy::confirmed(state, confirm, Some(reason), fx);
    let sent = state
        .release
        .delete
        .as_ref()
        .filter(|d| d.revisions == [c.revision.clone()])
        .map(|d| d.id);
    match sent {
        Some(id) => {
            if let Some(c) = state.baseline.cleanup.as_mut() {
                c.delete_id = Some(id);
            }
        }
        None => {
            // Refused (said): not tried again in a loop.
            state.baseline.cleanup = None;
        }
    }
}

/// A deletion ended: the baseline's, said (a failure journaled as a note
/// besides the deletion's own record, and never blocking anything).
pub(super) fn deleted(state: &mut State, id: u64, error: Option<String>, fx: &mut Vec<Effect>) {
    let Some(c) = state.baseline.cleanup.take_if(|c| c.delete_id == Some(id)) else {
        return;
    };
    match error {
        None => say(
            state,
            Level::Info,
            format!("baseline {} deleted ({})", c.revision, c.why),
        ),
        Some(e) => tell(
            state,
            Level::Warn,
            format!(
                "baseline {} was NOT deleted: {e}; it has no traffic — select it and press x \
                 (or `canary delete {}`) to delete it",
                c.revision, c.revision
            ),
            fx,
        ),
    }
}

/// A baseline's deletion is running, or will be sent at the next read (it
/// has no traffic left): a `canary release` waits for it before it ends.
pub fn cleanup_pending(state: &State) -> bool {
    let Some(c) = state.baseline.cleanup.as_ref() else {
        return false;
    };
    c.delete_id.is_some()
        || state.journal_broken.is_none()
            && state.snapshot.as_ref().is_some_and(|s| {
                s.revision(&c.revision).is_some()
                    && s.traffic.percent_of(&c.revision) == 0
                    && s.serving().percent_of(&c.revision) == 0
            })
}
