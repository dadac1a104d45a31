//! The plan wired into `update`: keys, gates from metrics, rollback on red,
//! journal and notification effects, resume after a restart.

use std::time::Duration;

use canary::core::action::{Action, ChangeKind, Effect};
use canary::core::model::{MetricKind, MetricsBatch, Series, TrafficSplit};
use canary::core::plan::{OnFailure, Phase, PlanMode, PlanSpec, PlanStep, Verdict};
use canary::core::state::{InputKind, Mode, Settings, State};
use canary::core::update::{resume_interrupted_plan, update};
use canary::journal::Event;
use canary_fakes::fixtures::{self, t0, CANARY, STABLE};
use chrono::DateTime;
use chrono::Utc;

fn at(s: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(s)
}

use canary_fakes::fixtures::ch as key;

fn state(mode: PlanMode) -> State {
    let settings = Settings {
        plan: PlanSpec {
            steps: vec![
                PlanStep {
                    percent: 10,
                    observe: Duration::from_secs(60),
                },
                PlanStep {
                    percent: 50,
                    observe: Duration::from_secs(60),
                },
                PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                },
            ],
            mode,
            on_failure: OnFailure::Rollback,
        },
        ..Settings::default()
    };
    fixtures::state_with(settings)
}

fn sent(fx: &[Effect]) -> Option<(u64, TrafficSplit, ChangeKind)> {
    fx.iter().find_map(|e| match e {
        Effect::SetTraffic {
            id, split, kind, ..
        } => Some((*id, split.clone(), *kind)),
        _ => None,
    })
}

fn land(s: &mut State, t: i64) -> Vec<Effect> {
    fixtures::land(s, at(t))
}

/// Canary and stable metrics over the last minute before `t`.
fn metrics(t: i64, canary_err: f64, canary_rps: f64) -> Action {
    let mut b = MetricsBatch::default();
    for (rev, err, rps) in [(CANARY, canary_err, canary_rps), (STABLE, 0.2, 45.0)] {
        for (kind, v) in [
            (MetricKind::RequestRate, rps),
            (MetricKind::ErrorPercent, err),
            (MetricKind::LatencyP95, 200.0),
        ] {
            let points = (0..6).map(|i| (at(t - 50 + i * 10), v)).collect();
            b.series.insert((rev.to_string(), kind), Series { points });
        }
    }
    Action::MetricsLoaded(b)
}

fn start(s: &mut State) -> Vec<Effect> {
    update(s, key('p'), at(0));
    let Mode::Confirm(c) = &s.mode else {
        panic!("start asks first")
    };
    assert!(
        c.note.as_deref().unwrap_or("").contains("10 % for 1m"),
        "{:?}",
        c.note
    );
    update(s, key('y'), at(0))
}

/// A plan in `mode`, started and its first step (10 %) landed at 1 s: observing.
fn observing(mode: PlanMode) -> State {
    let mut s = state(mode);
    start(&mut s);
    land(&mut s, 1);
    s
}

#[test]
fn p_starts_the_plan_at_the_first_step_and_journals_it() {
    let mut s = state(PlanMode::Manual);
    let fx = start(&mut s);
    let (_, split, kind) = sent(&fx).expect("step 1 sent");
    assert_eq!(kind, ChangeKind::Plan(0));
    assert_eq!(split.percent_of(CANARY), 10);
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Journal(Event::PlanStarted { .. }))));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Journal(Event::PlanTransition { .. }))));
    assert!(fx.iter().any(
        |e| matches!(e, Effect::Notify(t) if t.contains("applying step 1")
            && !t.contains("since the plan started"))
    ));
    land(&mut s, 1);
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Observing { step: 0, .. })
    ));
}

#[test]
fn a_red_gate_sends_the_rollback_in_the_same_update() {
    let mut s = observing(PlanMode::Auto);
    // healthy first
    update(&mut s, metrics(10, 0.2, 5.0), at(10));
    assert_eq!(s.verdict, Verdict::Green);
    // errors climb: red, but held for the sustain period first
    let fx = update(&mut s, metrics(20, 8.0, 5.0), at(20));
    assert!(sent(&fx).is_none(), "one bad sample is not enough");
    assert!(matches!(s.verdict, Verdict::Confirming(ref w) if w.contains("5xx")));
    let fx = update(&mut s, metrics(41, 8.0, 5.0), at(41));
    let (_, split, kind) = sent(&fx).expect("rollback goes out at once");
    assert_eq!(kind, ChangeKind::Rollback);
    assert_eq!(split, TrafficSplit::all_to(STABLE));
    assert!(fx.iter().any(
        |e| matches!(e, Effect::Notify(t) if t.contains("rolling back")
            && t.contains("41s since the plan started"))
    ));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Journal(Event::PhaseMetrics { .. }))));
    land(&mut s, 42);
    let Some(Phase::RolledBack { reason }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!("{:?}", s.plan)
    };
    assert!(reason.contains("5xx 8.00 %"), "{reason}");
}

#[test]
fn healthy_auto_plan_promotes_step_by_step() {
    let mut s = observing(PlanMode::Auto);
    let fx = update(&mut s, metrics(62, 0.2, 5.0), at(62));
    let (_, split, _) = sent(&fx).expect("window over, green: next step");
    assert_eq!(split.percent_of(CANARY), 50);
    land(&mut s, 63);
    let fx = update(&mut s, metrics(124, 0.2, 25.0), at(124));
    let (_, split, _) = sent(&fx).expect("last step");
    assert_eq!(split, TrafficSplit::all_to(CANARY));
    land(&mut s, 125);
    assert_eq!(
        s.plan.as_ref().map(|p| p.phase.clone()),
        Some(Phase::Promoted)
    );
    assert_eq!(s.stable(), Some(CANARY));
}

#[test]
fn no_data_never_promotes_blind() {
    let mut s = observing(PlanMode::Auto);
    update(
        &mut s,
        Action::MetricsFailed(canary::core::error::BackendError::Unavailable {
            message: "connection refused".into(),
            retry_after: None,
        }),
        at(70),
    );
    assert!(matches!(s.verdict, Verdict::NoData(_)));
    let Some(Phase::Paused { reason, .. }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!("{:?}", s.plan.as_ref().map(|p| &p.phase))
    };
    assert!(reason.contains("no data"), "{reason}");
}

#[test]
fn stale_metrics_never_promote() {
    // Green numbers at 40 s, then the source hangs (no answer, no error yet):
    // at the window's end the last batch is 30 s old, still within the gate
    // window, but it no longer says how the canary is doing now.
    let mut s = observing(PlanMode::Auto);
    update(&mut s, metrics(40, 0.2, 5.0), at(40));
    let fx = update(&mut s, Action::Tick, at(70));
    assert!(sent(&fx).is_none(), "promoted on 30 s old metrics");
    let Verdict::NoData(why) = &s.verdict else {
        panic!("{:?}", s.verdict)
    };
    assert!(why.contains("old"), "{why}");
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Paused { step: 0, .. })
    ));
}

#[test]
fn manual_p_on_a_red_gate_needs_an_override_reason() {
    let mut s = observing(PlanMode::Manual);
    update(&mut s, Action::Tick, at(61)); // window over, no metrics: no data
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::WaitingApproval { .. })
    ));
    update(&mut s, key('p'), at(62));
    let Mode::Confirm(c) = &s.mode else {
        panic!("override asked")
    };
    assert!(c.note.as_deref().unwrap_or("").contains("override"));
    update(&mut s, key('y'), at(62));
    assert_eq!(s.mode.name(), "reason");
    let fx = update(&mut s, key('\n'), at(62));
    assert!(sent(&fx).is_none(), "an empty reason is refused");
    // ... and the box says why nothing happened.
    let Mode::Input(i) = &s.mode else {
        panic!("still asking")
    };
    assert!(
        matches!(&i.feedback, Some(Err(e)) if e.contains("nothing was done")),
        "{:?}",
        i.feedback
    );
    for c in "load test owner agreed".chars() {
        update(&mut s, key(c), at(62));
    }
    let fx = update(&mut s, key('\n'), at(63));
    let (_, split, _) = sent(&fx).expect("advanced by override");
    assert_eq!(split.percent_of(CANARY), 50);
    assert!(fx.iter().any(|e| matches!(e, Effect::Journal(Event::PlanTransition { why, .. }) if why.contains("load test owner agreed"))));
}

#[test]
fn space_pauses_and_a_manual_shift_pauses_too() {
    let mut s = observing(PlanMode::Auto);
    update(&mut s, key(' '), at(5));
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Paused { .. })
    ));
    update(&mut s, key(' '), at(6));
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Observing { .. })
    ));
    // A manual change during a plan asks first, saying it pauses the plan.
    let fx = update(&mut s, key('+'), at(7));
    assert!(sent(&fx).is_none(), "nothing is sent before the answer");
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert!(
        c.note.as_deref().is_some_and(|n| n.contains("PAUSES")),
        "{c:?}"
    );
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Observing { .. })
    ));
    let fx = update(&mut s, key('y'), at(7));
    assert!(
        sent(&fx).is_some(),
        "the manual change goes out once confirmed"
    );
    let Some(Phase::Paused { reason, .. }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!()
    };
    assert!(reason.contains("by hand"));
}

#[test]
fn a_aborts_with_confirmation_and_rolls_back() {
    let mut s = observing(PlanMode::Manual);
    update(&mut s, key('a'), at(5));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    // `a` `y` sends the rollback at once; the reason is asked afterwards.
    let fx = update(&mut s, key('y'), at(5));
    let (id, split, kind) = sent(&fx).expect("rollback at the first confirmation");
    assert_eq!(
        (split, kind),
        (TrafficSplit::all_to(STABLE), ChangeKind::Rollback)
    );
    assert!(matches!(
        &s.mode,
        Mode::Input(i) if matches!(i.kind, InputKind::Annotate { id: a, .. } if a == id)
    ));
    for c in "bad canary".chars() {
        update(&mut s, key(c), at(6));
    }
    let fx = update(&mut s, key('\n'), at(6));
    assert!(sent(&fx).is_none(), "the reason sends nothing more");
    assert!(fx.iter().any(|e| matches!(e,
        Effect::Journal(Event::TrafficReason { id: a, reason, .. }) if *a == id && reason == "bad canary")));
}

#[test]
fn an_interrupted_plan_comes_back_paused() {
    let mut s = state(PlanMode::Auto);
    let spec = s.settings.plan.clone();
    resume_interrupted_plan(
        &mut s,
        CANARY.into(),
        STABLE.into(),
        spec,
        Phase::Observing {
            step: 1,
            since: at(-100),
        },
        at(-200),
    );
    let Some(Phase::Paused { step, reason, .. }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!()
    };
    assert_eq!(step, 1);
    assert!(reason.contains("interrupted"));
    // metrics do not move a paused plan
    let fx = update(&mut s, metrics(10, 0.2, 25.0), at(10));
    assert!(sent(&fx).is_none());
    // Space re-applies the step
    let fx = update(&mut s, key(' '), at(11));
    let (_, split, kind) = sent(&fx).expect("step re-applied");
    assert_eq!(kind, ChangeKind::Plan(1));
    assert_eq!(split.percent_of(CANARY), 50);
}

#[test]
fn a_journaled_plan_that_does_not_hold_up_is_not_resumed() {
    let mut s = state(PlanMode::Auto);
    let mut spec = s.settings.plan.clone();
    spec.steps[1].percent = 150; // a hand-edited journal
    resume_interrupted_plan(
        &mut s,
        CANARY.into(),
        STABLE.into(),
        spec,
        Phase::Observing {
            step: 1,
            since: at(-100),
        },
        at(-200),
    );
    assert!(s.plan.is_none(), "{:?}", s.plan);
    let msg = s
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(msg.contains("not resumed"), "{msg}");
    let fx = update(&mut s, key(' '), at(11));
    assert!(sent(&fx).is_none(), "nothing to re-apply");
}

#[test]
fn quitting_during_a_plan_asks_then_pauses_it_and_quits() {
    let mut s = observing(PlanMode::Auto);
    // The first `q` says what quitting means and quits nothing.
    let fx = update(&mut s, key('q'), at(5));
    assert!(!fx.contains(&Effect::Quit), "{fx:?}");
    assert!(!s.quit);
    let msg = s
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(msg.contains("PAUSES"), "{msg}");
    // Any other key: stay, the plan goes on.
    update(&mut s, key('j'), at(6));
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Observing { .. })
    ));
    update(&mut s, key('q'), at(7));
    assert!(!s.quit, "asked again after the other key");
    // The second `q`: the plan pauses (journaled) and the cockpit quits.
    let fx = update(&mut s, key('q'), at(8));
    assert!(fx.contains(&Effect::Quit), "{fx:?}");
    let Some(Phase::Paused { reason, .. }) = s.plan.as_ref().map(|p| p.phase.clone()) else {
        panic!("{:?}", s.plan)
    };
    assert!(reason.contains("quit"), "{reason}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Journal(Event::PlanTransition {
            to: Phase::Paused { .. },
            ..
        })
    )));
}

#[test]
fn a_confirmation_opened_before_the_plan_moved_is_closed() {
    let mut s = observing(PlanMode::Manual);
    // `p` during the window: an override dialog for step 1 → 2.
    update(&mut s, key('p'), at(5));
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode.name())
    };
    assert!(
        c.note.as_deref().is_some_and(|n| n.contains("step 1 → 2")),
        "{c:?}"
    );
    // Meanwhile the plan pauses (here: Space from another path, the engine).
    update(&mut s, Action::Tick, at(6));
    let now = at(7);
    if let Some(p) = s.plan.as_mut() {
        p.handle(
            canary::core::plan::PlanEvent::Pause {
                reason: "elsewhere".into(),
            },
            now,
        );
    }
    update(&mut s, Action::Tick, now);
    assert!(
        matches!(s.mode, Mode::Normal),
        "closed: {:?}",
        s.mode.name()
    );
    let msg = s
        .message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(msg.contains("dialog closed"), "{msg}");
    // The plan stays where it went; the override was not applied.
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::Paused { .. })
    ));
}

#[test]
fn starting_a_plan_on_a_canary_that_is_not_ready_warns_in_the_dialog() {
    let mut s = state(PlanMode::Manual);
    let mut snap = fixtures::snapshot();
    if let Some(r) = snap.revisions.iter_mut().find(|r| r.name == CANARY) {
        r.ready = false;
        r.status_message = Some("Container failed to start".into());
    }
    update(&mut s, fixtures::service_loaded(snap), at(0));
    s.selected = Some(CANARY.into());
    update(&mut s, key('p'), at(0));
    let Mode::Confirm(c) = &s.mode else {
        panic!("start asks first")
    };
    let note = c.note.as_deref().unwrap_or("");
    assert!(
        note.contains("NOT READY") && note.contains("Container failed to start"),
        "{note}"
    );
}

/// A reason box is never turned into a y/n question under the operator's
/// fingers: when the plan rolls back while they type why they promote, the
/// box closes and nothing is sent.
#[test]
fn a_reason_box_closes_when_the_plan_falls_back() {
    let mut s = observing(PlanMode::Manual);
    s.selected = Some(CANARY.into());
    update(&mut s, key('P'), at(5));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    update(&mut s, key('y'), at(5));
    assert_eq!(s.mode.name(), "reason");
    for c in "all good".chars() {
        update(&mut s, key(c), at(6));
    }
    // The plan rolls back by itself meanwhile.
    let now = at(7);
    let cmds = s
        .plan
        .as_mut()
        .map(|p| {
            p.handle(
                canary::core::plan::PlanEvent::Abort {
                    reason: "gate failed".into(),
                },
                now,
            )
        })
        .unwrap_or_default();
    assert!(!cmds.is_empty());
    update(&mut s, Action::Tick, now);
    assert!(matches!(s.mode, Mode::Normal), "{}", s.mode.name());
    // What the operator goes on typing sends nothing.
    for c in "yy\n\n".chars() {
        let fx = update(&mut s, key(c), at(8));
        assert!(sent(&fx).is_none(), "{fx:?}");
    }
}

/// What the plan panel and the footer offer is what the keys do: in every
/// phase, with every verdict, a plan key (p, Space, a) is taken (it asks,
/// or the plan moves) exactly when `Plan::offers` lists its command, and
/// refused with a word otherwise.
#[test]
fn the_plan_keys_do_exactly_what_the_screen_offers() {
    use canary::core::keymap::Command;
    use canary::core::plan::Plan;
    let spec = state(PlanMode::Manual).settings.plan.clone();
    let why = || "why".to_string();
    let phases = [
        None,
        Some(Phase::Idle),
        Some(Phase::Applying { step: 0 }),
        Some(Phase::Applying { step: 2 }),
        Some(Phase::Observing {
            step: 0,
            since: at(0),
        }),
        Some(Phase::Observing {
            step: 1,
            since: at(0),
        }),
        Some(Phase::WaitingApproval { step: 0 }),
        // The next step is the last: approving asks first.
        Some(Phase::WaitingApproval { step: 1 }),
        Some(Phase::Paused {
            step: 1,
            reason: why(),
            was_observing: true,
        }),
        Some(Phase::Paused {
            step: 0,
            reason: why(),
            was_observing: false,
        }),
        Some(Phase::Promoted),
        Some(Phase::RollingBack { reason: why() }),
        Some(Phase::RolledBack { reason: why() }),
        Some(Phase::Failed { reason: why() }),
    ];
    let verdicts = [
        Verdict::Green,
        Verdict::NoData(why()),
        Verdict::Confirming(why()),
        Verdict::Red(why()),
    ];
    let keys = [
        ('p', Command::Advance),
        (' ', Command::TogglePause),
        ('a', Command::Abort),
    ];
    let mut offered_somewhere = std::collections::BTreeSet::new();
    for phase in &phases {
        for verdict in &verdicts {
            for (k, cmd) in keys {
                let mut s = state(PlanMode::Manual);
                let Action::Key(ev) = key(k) else {
                    unreachable!()
                };
                assert_eq!(s.settings.keymap.normal(&ev), Some(cmd), "{k:?}");
                s.plan = phase.clone().map(|phase| Plan {
                    spec: spec.clone(),
                    canary: CANARY.into(),
                    stable: STABLE.into(),
                    phase,
                    started: at(0),
                    finished: None,
                    data_until: None,
                    baseline: None,
                    baseline_ready: false,
                });
                s.verdict = verdict.clone();
                s.message = None;
                let offered = s.plan_offers().iter().any(|o| o.command() == cmd);
                let before = s.plan.clone();
                let fx = update(&mut s, key(k), at(10));
                let taken = !matches!(s.mode, Mode::Normal) || s.plan != before || !fx.is_empty();
                let said = s.message.as_ref().map(|m| m.text.clone());
                assert_eq!(
                    taken, offered,
                    "{cmd:?} in {phase:?} with {verdict:?}: offered {offered}, taken {taken} ({said:?})"
                );
                if !taken {
                    assert!(
                        said.is_some(),
                        "{cmd:?} in {phase:?}: refused without a word"
                    );
                } else {
                    offered_somewhere.insert(cmd);
                }
            }
        }
    }
    assert_eq!(
        offered_somewhere.len(),
        keys.len(),
        "every plan key is offered somewhere"
    );
}

/// An abort dialog open while the plan rolls back by itself closes, but the
/// plan is only rolled back when the platform says the rollback landed: a
/// rollback still on its way is not a rollback done.
#[test]
fn an_abort_dialog_overtaken_by_the_automatic_rollback_waits_for_its_landing() {
    let mut s = observing(PlanMode::Auto);
    update(&mut s, metrics(10, 0.2, 5.0), at(10));
    update(&mut s, key('a'), at(15));
    assert!(matches!(s.mode, Mode::Confirm(_)), "abort asks first");
    update(&mut s, metrics(20, 8.0, 5.0), at(20));
    let fx = update(&mut s, metrics(41, 8.0, 5.0), at(41));
    let (_, split, kind) = sent(&fx).expect("the automatic rollback goes out");
    assert_eq!(
        (split, kind),
        (TrafficSplit::all_to(STABLE), ChangeKind::Rollback)
    );
    assert!(
        matches!(s.mode, Mode::Normal),
        "the dialog has nothing left to do"
    );
    assert!(
        matches!(
            s.plan.as_ref().map(|p| &p.phase),
            Some(Phase::RollingBack { .. })
        ),
        "not rolled back before the platform says so: {:?}",
        s.plan.as_ref().map(|p| &p.phase)
    );
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Notify(t) if t.contains("rolled back"))),
        "no 'rolled back' message before the rollback landed"
    );
    land(&mut s, 42);
    assert!(matches!(
        s.plan.as_ref().map(|p| &p.phase),
        Some(Phase::RolledBack { .. })
    ));
}
