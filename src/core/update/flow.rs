//! The promotion plan, the gates and the verification battery, wired into
//! the cockpit: the plan engine decides, this module carries it out.

use chrono::{DateTime, Utc};

use super::changes::submit;
use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::model::{MetricKind, TrafficSplit};
use crate::core::plan::{Phase, Plan, PlanCommand, PlanEvent, PlanSpec, Verdict};
use crate::core::state::{
    Alarm, Battery, CheckResult, CheckRow, CheckStatus, Confirmation, Level, Mode, PlanAction,
    State,
};
use crate::journal::{CheckRecord, Event, MetricSummary};

pub(crate) fn plan_active(state: &State) -> bool {
    state.plan.as_ref().is_some_and(|p| !p.phase.is_finished())
}

fn feed(state: &mut State, event: PlanEvent, fx: &mut Vec<Effect>) {
    let now = state.now;
    // What the operator asked for raises no alarm; what the plan did by
    // itself (gates, checks, a failed apply or rollback) does.
    let by_operator = matches!(
        event,
        PlanEvent::Abort { .. }
            | PlanEvent::ManualChange
            | PlanEvent::TogglePause
            | PlanEvent::Pause { .. }
            | PlanEvent::Advance { .. }
    );
    let Some(plan) = state.plan.as_mut() else {
        return;
    };
    let cmds = plan.handle(event, now);
    carry_out(state, cmds, !by_operator, fx);
}

/// Turns the engine's commands into effects; `automatic`: the plan acted by
/// itself (an alarm is raised on a rollback or a failure).
fn carry_out(state: &mut State, cmds: Vec<PlanCommand>, automatic: bool, fx: &mut Vec<Effect>) {
    for cmd in cmds {
        match cmd {
            PlanCommand::Apply { step, split } => {
                submit(state, split, ChangeKind::Plan(step), None, fx);
            }
            PlanCommand::Rollback { reason } => {
                let Some(plan) = state.plan.as_ref() else {
                    continue;
                };
                let split = TrafficSplit::all_to(plan.stable.clone());
                // A rollback goes out now, or right after the change in flight.
                submit(state, split, ChangeKind::Rollback, Some(reason), fx);
            }
            PlanCommand::RunChecks => {
                if let Some(canary) = state.plan.as_ref().map(|p| p.canary.clone()) {
                    start_battery(state, &canary, fx);
                }
            }
            PlanCommand::Transition { from, to, why } => {
                if matches!(
                    from,
                    Phase::Observing { .. } | Phase::WaitingApproval { .. }
                ) {
                    fx.push(Effect::Journal(Event::PhaseMetrics {
                        phase: from.label(),
                        revisions: summaries(state),
                    }));
                }
                raise_alarm(state, &to, automatic);
                let level = match &to {
                    Phase::RollingBack { .. } | Phase::Failed { .. } | Phase::Paused { .. } => {
                        Level::Warn
                    }
                    _ => Level::Info,
                };
                say(state, level, format!("plan: {} ({why})", to.label()));
                if notable(&to) {
                    fx.push(Effect::Notify(notification(state, &to, &why)));
                }
                let promoted = to == Phase::Promoted;
                fx.push(Effect::Journal(Event::PlanTransition { from, to, why }));
                if promoted {
                    super::deploy::after_promotion(state, fx);
                }
            }
        }
    }
}

/// The header's alarm: raised when the plan rolls back or fails by itself,
/// kept (and brought up to date) until the operator acknowledges it.
fn raise_alarm(state: &mut State, to: &Phase, automatic: bool) {
    let at = state.now.format("%H:%M:%S");
    let text = match to {
        Phase::RollingBack { reason } if automatic => {
            format!("AUTO-ROLLBACK {at}: {reason}")
        }
        Phase::RolledBack { reason } if state.alarm.is_some() => {
            format!("ROLLED BACK {at} (automatic): {reason}")
        }
        Phase::Failed { reason } => format!("PLAN FAILED {at}: {reason}"),
        _ => return,
    };
    state.alarm = Some(Alarm {
        text,
        at: state.now,
    });
}

fn notable(p: &Phase) -> bool {
    matches!(
        p,
        Phase::Applying { .. }
            | Phase::Promoted
            | Phase::RollingBack { .. }
            | Phase::RolledBack { .. }
            | Phase::Failed { .. }
    )
}

fn notification(state: &State, to: &Phase, why: &str) -> String {
    let Some(plan) = state.plan.as_ref() else {
        return format!("{}: {}", state.info.service, to.label());
    };
    let secs = (state.now - plan.started).num_seconds().max(0) as u64;
    let took = if secs == 0 {
        String::new()
    } else {
        format!(
            " — {} since the plan started",
            crate::checks::human_duration(std::time::Duration::from_secs(secs))
        )
    };
    let split = match to {
        Phase::Applying { step } => plan.split_for(*step).to_flag(),
        Phase::Promoted => TrafficSplit::all_to(plan.canary.clone()).to_flag(),
        _ => TrafficSplit::all_to(plan.stable.clone()).to_flag(),
    };
    format!(
        "{}: {} — canary {} (stable {}) — split {split}{took} — {why}",
        state.info.service,
        to.label(),
        plan.canary,
        plan.stable
    )
}

fn mean_recent(state: &State, revision: &str, kind: MetricKind) -> Option<f64> {
    let since = state.now - chrono::Duration::from_std(state.settings.gates.window).ok()?;
    let series = state.metrics.series.get(&(revision.to_string(), kind))?;
    let vals: Vec<f64> = series
        .points
        .iter()
        .filter(|(t, v)| *t >= since && v.is_finite())
        .map(|(_, v)| *v)
        .collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

fn summaries(state: &State) -> Vec<MetricSummary> {
    let Some(plan) = state.plan.as_ref() else {
        return vec![];
    };
    [plan.canary.clone(), plan.stable.clone()]
        .into_iter()
        .map(|rev| MetricSummary {
            rps: mean_recent(state, &rev, MetricKind::RequestRate),
            error_percent: mean_recent(state, &rev, MetricKind::ErrorPercent),
            p95_ms: mean_recent(state, &rev, MetricKind::LatencyP95),
            revision: rev,
        })
        .collect()
}

/// The revision the gates judge: the plan's canary (also once it finished,
/// for the story on screen), else the canary of [`crate::core::roles`].
fn judged(state: &State) -> Option<String> {
    if let Some(p) = &state.plan {
        return Some(p.canary.clone());
    }
    state.canary().map(str::to_string)
}

/// What the metric gates say about the canary right now (before the
/// sustain guard), and whether a failure came from metrics.
pub fn evaluate_gates(state: &State) -> Verdict {
    let Some(canary) = judged(state) else {
        return Verdict::NoData("no canary selected".into());
    };
    if let Some(b) = state.battery.as_ref().filter(|b| b.revision == canary) {
        if let Some(f) = b.blocking_failures().first() {
            let why = f.result.as_ref().map_or("", |r| r.reason.as_str());
            return Verdict::Red(format!("check `{}` failed: {why}", f.info.name));
        }
    }
    if let Some((e, _)) = &state.metrics_health.error {
        return Verdict::NoData(format!("metrics unavailable: {e}"));
    }
    // The judge's failure (act mode) counts before the thresholds' noise guard.
    if let Some(v @ Verdict::Red(_)) = super::judging::gate(state) {
        return v;
    }
    let g = &state.settings.gates;
    let Some(rps) = mean_recent(state, &canary, MetricKind::RequestRate) else {
        return Verdict::NoData("no metrics for the canary yet".into());
    };
    let requests = rps * g.window.as_secs_f64();
    if requests < g.min_requests {
        return Verdict::NoData(format!(
            "only ~{requests:.0} canary requests in the last {}s (need {:.0})",
            g.window.as_secs(),
            g.min_requests
        ));
    }
    if let Some(e) = mean_recent(state, &canary, MetricKind::ErrorPercent) {
        if e > g.error_percent {
            return Verdict::Red(format!("canary 5xx {e:.2} % > gate {} %", g.error_percent));
        }
    }
    if let Some(p) = mean_recent(state, &canary, MetricKind::LatencyP95) {
        if p > g.p95_latency_ms {
            return Verdict::Red(format!(
                "canary p95 {p:.0} ms > gate {} ms",
                g.p95_latency_ms
            ));
        }
    }
    // Green needs fresh numbers: a hung source reports no error until its
    // request times out, and the last batch would pass for the present.
    if let Some(age) = state
        .metrics_health
        .last_ok
        .and_then(|t| (state.now - t).to_std().ok())
        .filter(|age| *age > g.max_metrics_age)
    {
        return Verdict::NoData(format!(
            "the latest metrics are {}s old (no answer from the source)",
            age.as_secs()
        ));
    }
    if let Some(v) = super::judging::gate(state) {
        return v;
    }
    if let Some(b) = state.battery.as_ref().filter(|b| b.revision == canary) {
        if b.finished.is_none() {
            return Verdict::NoData("verification checks still running".into());
        }
    }
    Verdict::Green
}

/// Re-judges the gates and lets the plan react. Metric failures must stay
/// red for `gates.sustain` (noise guard); check failures count at once.
pub(super) fn judge(state: &mut State, fx: &mut Vec<Effect>) {
    super::judging::run(state, fx);
    let raw = evaluate_gates(state);
    let verdict = match &raw {
        Verdict::Red(why) if !why.starts_with("check ") && !why.starts_with("judge: ") => {
            let since = *state.red_since.get_or_insert(state.now);
            let held = (state.now - since).to_std().unwrap_or_default();
            if held >= state.settings.gates.sustain {
                raw.clone()
            } else {
                Verdict::Confirming(why.clone())
            }
        }
        _ => {
            state.red_since = None;
            raw.clone()
        }
    };
    state.verdict = verdict.clone();
    if plan_active(state) {
        feed(state, PlanEvent::Gates(verdict.clone()), fx);
        let now = state.now;
        if let Some(plan) = state.plan.as_mut() {
            let cmds = plan.advance_if_green(&verdict, now);
            carry_out(state, cmds, true, fx);
        }
    }
}

pub(super) fn manual_change(state: &mut State, fx: &mut Vec<Effect>) {
    feed(state, PlanEvent::ManualChange, fx);
}

pub(super) fn abort(state: &mut State, reason: String, fx: &mut Vec<Effect>) {
    feed(state, PlanEvent::Abort { reason }, fx);
}

pub(super) fn plan_step_failed(
    state: &mut State,
    step: usize,
    error: String,
    fx: &mut Vec<Effect>,
) {
    feed(state, PlanEvent::ApplyFailed { step, error }, fx);
}

pub(super) fn change_landed(state: &mut State, kind: ChangeKind, fx: &mut Vec<Effect>) {
    match kind {
        ChangeKind::Plan(step) => feed(state, PlanEvent::Applied { step }, fx),
        ChangeKind::Rollback => feed(state, PlanEvent::RolledBack, fx),
        _ => {}
    }
}

pub(super) fn change_failed(
    state: &mut State,
    kind: ChangeKind,
    error: String,
    fx: &mut Vec<Effect>,
) {
    match kind {
        ChangeKind::Plan(step) => feed(state, PlanEvent::ApplyFailed { step, error }, fx),
        ChangeKind::Rollback => feed(state, PlanEvent::RollbackFailed { error }, fx),
        _ => {}
    }
}

fn ask(state: &mut State, action: PlanAction, after: TrafficSplit, note: String) {
    let (Some(snapshot), Some(before)) = (state.snapshot.as_ref(), state.desired().cloned()) else {
        return;
    };
    state.mode = Mode::Confirm(Confirmation {
        kind: match action {
            PlanAction::Abort => ChangeKind::Rollback,
            _ => ChangeKind::Plan(0),
        },
        preview: (state.previewer.0)(&after),
        expect: snapshot.version.clone(),
        before,
        after,
        note: Some(note),
        plan_action: Some(action),
        plan_phase: state.active_phase(),
        unprompted: false,
    });
}

/// `p`: start a plan, or advance the running one.
pub(super) fn advance_key(state: &mut State, fx: &mut Vec<Effect>) {
    let Some(plan) = state.plan.as_ref().filter(|p| !p.phase.is_finished()) else {
        let (Some(canary), Some(stable)) =
            (state.selected.clone(), state.stable().map(str::to_string))
        else {
            say(state, Level::Warn, "the service has not been read yet");
            return;
        };
        if canary == stable {
            say(
                state,
                Level::Warn,
                format!("{canary} is the stable revision: select the canary to start a plan"),
            );
            return;
        }
        let spec = state.settings.plan.clone();
        let first = spec.steps.first().map_or(0, |s| u32::from(s.percent));
        let Ok(after) = TrafficSplit::new([(canary.clone(), first), (stable.clone(), 100 - first)])
        else {
            return;
        };
        let mut note = format!(
            "start the promotion plan for {canary} (stable {stable}): {} — {}",
            spec.describe(),
            spec.policy()
        );
        let unready = state
            .snapshot
            .as_ref()
            .and_then(|s| s.revision(&canary))
            .filter(|r| !r.ready);
        if state.roles.stable_from.is_some_and(|f| f.is_guess()) {
            note = format!(
                "WARNING: which revision is stable is a guess (the largest share, {stable}): \
                 the plan would roll back there; pin `stable` in the config if it is not. {note}"
            );
        }
        if let Some(r) = unready {
            note = format!(
                "WARNING: {canary} is NOT READY ({}): its first step will be refused until it is. {note}",
                r.status_message.as_deref().unwrap_or("no reason given")
            );
        }
        ask(state, PlanAction::Start, after, note);
        return;
    };
    let next = plan.phase.step().map(|s| s + 1);
    let last = plan.spec.steps.len().saturating_sub(1);
    let after = next.map(|n| plan.split_for(n.min(last)));
    match (&plan.phase, after) {
        (Phase::WaitingApproval { step }, Some(after)) => {
            let step = *step;
            match state.verdict.clone() {
                Verdict::Green if step + 1 == last => ask(
                    state,
                    PlanAction::Advance,
                    after,
                    "the last step: the canary gets 100 %".into(),
                ),
                Verdict::Green => {
                    let now = state.now;
                    if let Some(p) = state.plan.as_mut() {
                        let cmds = p.handle(
                            PlanEvent::Advance {
                                override_reason: None,
                            },
                            now,
                        );
                        carry_out(state, cmds, false, fx);
                    }
                }
                v => ask(
                    state,
                    PlanAction::Override,
                    after,
                    format!(
                        "step {} → {}: the gates are not green ({}): override?",
                        step + 1,
                        step + 2,
                        verdict_text(&v)
                    ),
                ),
            }
        }
        (Phase::Observing { step, .. }, Some(after)) => {
            let step = *step;
            let left = plan.window(state.now).map_or(0, |(_, l)| l.as_secs());
            if matches!(state.verdict, Verdict::Red(_) | Verdict::Confirming(_)) {
                let v = verdict_text(&state.verdict);
                say(
                    state,
                    Level::Warn,
                    format!("not advancing while the gates are red ({v}): abort or wait"),
                );
                return;
            }
            ask(
                state,
                PlanAction::Override,
                after,
                format!(
                    "step {} → {}: the observation window is not over ({}m{:02}s left): advance anyway?",
                    step + 1,
                    step + 2,
                    left / 60,
                    left % 60
                ),
            );
        }
        (Phase::Paused { .. }, _) => say(
            state,
            Level::Info,
            "the plan is paused: Space resumes it (re-checking the gates)",
        ),
        _ => say(
            state,
            Level::Info,
            format!("the plan is {}: wait", plan.phase.label()),
        ),
    }
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Green => "green".into(),
        Verdict::NoData(w) => format!("no data: {w}"),
        Verdict::Confirming(w) => format!("red, confirming: {w}"),
        Verdict::Red(w) => format!("red: {w}"),
    }
}

pub(super) fn abort_key(state: &mut State) {
    if !plan_active(state) {
        say(
            state,
            Level::Info,
            "no plan is running (r rolls back by hand)",
        );
        return;
    }
    let Some(stable) = state.plan.as_ref().map(|p| p.stable.clone()) else {
        return;
    };
    ask(
        state,
        PlanAction::Abort,
        TrafficSplit::all_to(stable),
        "abort the plan and roll back to the stable revision".into(),
    );
}

/// What quitting does to the running plan, said before it happens.
pub(super) fn quit_consequence(state: &State) -> String {
    let km = &state.settings.keymap;
    let q = km.label(crate::core::keymap::Command::Quit);
    let share = state
        .plan
        .as_ref()
        .zip(state.snapshot.as_ref())
        .map(|(p, s)| s.traffic.percent_of(&p.canary))
        .unwrap_or(0);
    format!(
        "a plan is running: quitting PAUSES it — the canary keeps its {share} %, nothing \
         advances and the gates roll nothing back until the plan is resumed; \
         {q} again to pause and quit, any other key to stay"
    )
}

/// The second `q` during a plan: pause it (journaled), then quit.
pub(super) fn pause_for_quit(state: &mut State, fx: &mut Vec<Effect>) {
    feed(
        state,
        PlanEvent::Pause {
            reason: "the operator quit the cockpit".into(),
        },
        fx,
    );
}

pub(super) fn toggle_pause(state: &mut State, fx: &mut Vec<Effect>) {
    if !plan_active(state) {
        say(state, Level::Info, "no plan is running (p starts one)");
        return;
    }
    feed(state, PlanEvent::TogglePause, fx);
}

pub(super) fn plan_confirmed(
    state: &mut State,
    action: PlanAction,
    reason: Option<String>,
    fx: &mut Vec<Effect>,
) {
    match action {
        PlanAction::Start => start_plan(state, fx),
        PlanAction::Advance => feed(
            state,
            PlanEvent::Advance {
                override_reason: None,
            },
            fx,
        ),
        PlanAction::Override => feed(
            state,
            PlanEvent::Advance {
                override_reason: Some(reason.unwrap_or_else(|| "no reason given".into())),
            },
            fx,
        ),
        PlanAction::Abort => abort(
            state,
            reason.map_or("aborted by the operator".into(), |r| {
                format!("aborted by the operator: {r}")
            }),
            fx,
        ),
    }
}

fn start_plan(state: &mut State, fx: &mut Vec<Effect>) {
    let (Some(canary), Some(stable)) = (state.selected.clone(), state.stable().map(str::to_string))
    else {
        return;
    };
    match Plan::start(
        state.settings.plan.clone(),
        canary.clone(),
        stable.clone(),
        state.now,
    ) {
        Ok((plan, cmds)) => {
            let canary_image = state
                .snapshot
                .as_ref()
                .and_then(|s| s.revision(&canary))
                .map(|r| r.image.clone());
            fx.push(Effect::Journal(Event::PlanStarted {
                canary,
                stable,
                spec: plan.spec.clone(),
                canary_image,
            }));
            state.plan = Some(plan);
            state.red_since = None;
            carry_out(state, cmds, false, fx);
        }
        Err(e) => say(state, Level::Error, format!("cannot start the plan: {e}")),
    }
}

/// After a restart: a plan the journal shows unfinished comes back paused.
pub fn resume_interrupted_plan(
    state: &mut State,
    canary: String,
    stable: String,
    spec: PlanSpec,
    last: Phase,
    started: DateTime<Utc>,
) {
    // The journal is a file someone may have edited: a plan that does not
    // hold up is not resumed.
    if let Err(e) = spec.validate() {
        say(
            state,
            Level::Warn,
            format!("an interrupted plan was found in the journal but not resumed: {e}"),
        );
        return;
    }
    let step = last.step().unwrap_or(0);
    let what = match &last {
        Phase::RollingBack { reason } => {
            format!("it was rolling back ({reason}): press r to finish the rollback")
        }
        p => format!("it was {}", p.label()),
    };
    let reason = format!("interrupted (the cockpit stopped): {what}");
    let last_for_journal = last.clone();
    let phase = match last {
        Phase::RollingBack { reason } => Phase::Paused {
            step,
            reason: format!("interrupted while rolling back: {reason}"),
            was_observing: false,
        },
        _ => Phase::Paused {
            step,
            reason: reason.clone(),
            was_observing: false,
        },
    };
    // The resume is part of the story: journaled with the first update.
    state
        .pending_effects
        .push(Effect::Journal(Event::PlanTransition {
            from: last_for_journal,
            to: phase.clone(),
            why: reason.clone(),
        }));
    state.plan = Some(Plan {
        spec,
        canary,
        stable,
        phase,
        started,
        finished: None,
    });
    say(
        state,
        Level::Warn,
        format!(
            "plan resumed PAUSED at step {}: {reason}; Space re-applies the step and resumes",
            step + 1
        ),
    );
}

// ---------------------------------------------------------------- checks

pub(crate) fn start_battery(state: &mut State, revision: &str, fx: &mut Vec<Effect>) {
    if state.settings.checks.is_empty() {
        say(
            state,
            Level::Info,
            "no verification checks are configured ([[checks]] in the config)",
        );
        return;
    }
    let id = state.next_battery_id;
    state.next_battery_id += 1;
    let rev = state.snapshot.as_ref().and_then(|s| s.revision(revision));
    let tag_url = rev.and_then(|r| r.tag_url.clone());
    let service_url = state.snapshot.as_ref().and_then(|s| s.url.clone());
    state.battery = Some(Battery {
        id,
        revision: revision.to_string(),
        started: state.now,
        rows: state
            .settings
            .checks
            .iter()
            .map(|info| CheckRow {
                info: info.clone(),
                status: CheckStatus::Pending,
                started: None,
                result: None,
            })
            .collect(),
        finished: None,
    });
    fx.push(Effect::RunChecks {
        battery: id,
        revision: revision.to_string(),
        tag_url,
        service_url,
        stable: state.stable().map(str::to_string).filter(|s| s != revision),
    });
    say(
        state,
        Level::Info,
        format!(
            "running {} checks on {revision}",
            state.settings.checks.len()
        ),
    );
}

pub(super) fn check_started(state: &mut State, battery: u64, index: usize) {
    let now = state.now;
    if let Some(row) = state
        .battery
        .as_mut()
        .filter(|b| b.id == battery)
        .and_then(|b| b.rows.get_mut(index))
    {
        row.status = CheckStatus::Running;
        row.started = Some(now);
    }
}

pub(super) fn check_finished(
    state: &mut State,
    battery: u64,
    index: usize,
    result: CheckResult,
    fx: &mut Vec<Effect>,
) {
    let now = state.now;
    let Some(b) = state.battery.as_mut().filter(|b| b.id == battery) else {
        return;
    };
    let Some(row) = b.rows.get_mut(index) else {
        return;
    };
    row.status = result.status;
    row.result = Some(result);
    let done = b
        .rows
        .iter()
        .all(|r| !matches!(r.status, CheckStatus::Pending | CheckStatus::Running));
    if done && b.finished.is_none() {
        b.finished = Some(now);
        let count = |s| b.rows.iter().filter(|r| r.status == s).count();
        let (pass, warn, fail) = (
            count(CheckStatus::Pass),
            count(CheckStatus::Warn),
            count(CheckStatus::Fail),
        );
        let records = b
            .rows
            .iter()
            .map(|r| CheckRecord {
                name: r.info.name.clone(),
                status: r.status.as_str().into(),
                measured: r.result.as_ref().and_then(|x| x.measured.clone()),
                expected: r.result.as_ref().and_then(|x| x.expected.clone()),
                reason: r
                    .result
                    .as_ref()
                    .map_or(String::new(), |x| x.reason.clone()),
                duration_ms: r.result.as_ref().map_or(0, |x| x.duration_ms),
                blocking: r.info.blocking,
            })
            .collect();
        fx.push(Effect::Journal(Event::Checks {
            revision: b.revision.clone(),
            results: records,
        }));
        let level = if fail > 0 {
            Level::Error
        } else if warn > 0 {
            Level::Warn
        } else {
            Level::Info
        };
        say(
            state,
            level,
            format!(
                "checks done: {pass} passed, {warn} {}, {fail} failed",
                if warn == 1 { "warning" } else { "warnings" }
            ),
        );
    }
    judge(state, fx);
}
