//! The plan engine: every transition, and properties over random event streams.

use std::time::Duration;

use canary::core::model::TrafficSplit;
use canary::core::plan::{
    OnFailure, Phase, Plan, PlanCommand, PlanEvent, PlanMode, PlanSpec, PlanStep, Verdict,
};
use canary_fakes::fixtures::t0;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn spec(mode: PlanMode, on_failure: OnFailure) -> PlanSpec {
    PlanSpec {
        steps: vec![
            PlanStep {
                percent: 10,
                observe: Duration::from_secs(60),
            },
            PlanStep {
                percent: 25,
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
        on_failure,
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

fn start(mode: PlanMode, on_failure: OnFailure) -> Plan {
    let (plan, cmds) = Plan::start(
        spec(mode, on_failure),
        "canary".into(),
        "stable".into(),
        at(0),
    )
    .expect("valid plan");
    assert!(cmds.contains(&PlanCommand::Apply {
        step: 0,
        split: TrafficSplit::new([("canary", 10), ("stable", 90)]).expect("valid"),
    }));
    assert_eq!(plan.phase, Phase::Applying { step: 0 });
    plan
}

fn applied(plan: &mut Plan, step: usize, t: i64) -> Vec<PlanCommand> {
    plan.handle(PlanEvent::Applied { step }, at(t))
}

fn applies(cmds: &[PlanCommand]) -> Vec<usize> {
    cmds.iter()
        .filter_map(|c| match c {
            PlanCommand::Apply { step, .. } => Some(*step),
            _ => None,
        })
        .collect()
}

fn rolls_back(cmds: &[PlanCommand]) -> bool {
    cmds.iter()
        .any(|c| matches!(c, PlanCommand::Rollback { .. }))
}

#[test]
fn domain_default_is_valid_and_matches_the_runbook() {
    let d = PlanSpec::domain_default();
    d.validate().expect("valid");
    let pcts: Vec<u8> = d.steps.iter().map(|s| s.percent).collect();
    assert_eq!(pcts, vec![10, 25, 50, 100]);
    assert_eq!(d.steps[0].observe, Duration::from_secs(15 * 60));
    assert_eq!(d.mode, PlanMode::Manual);
    assert_eq!(d.on_failure, OnFailure::Rollback);
}

#[test]
fn invalid_specs_are_refused() {
    let mut s = spec(PlanMode::Manual, OnFailure::Rollback);
    s.steps[1].percent = 5;
    assert!(s
        .validate()
        .expect_err("not rising")
        .contains("does not rise"));
    let mut s = spec(PlanMode::Manual, OnFailure::Rollback);
    s.steps.pop();
    assert!(s.validate().expect_err("no 100").contains("must be 100"));
    assert!(Plan::start(
        spec(PlanMode::Manual, OnFailure::Rollback),
        "a".into(),
        "a".into(),
        at(0)
    )
    .is_err());
}

#[test]
fn manual_plan_observes_waits_for_approval_and_promotes() {
    let mut p = start(PlanMode::Manual, OnFailure::Rollback);
    let c = applied(&mut p, 0, 1);
    assert!(c.contains(&PlanCommand::RunChecks));
    assert!(matches!(p.phase, Phase::Observing { step: 0, .. }));
    assert_eq!(p.ceiling(), 10);
    // p before the window elapsed does nothing without an override
    assert!(applies(&p.handle(
        PlanEvent::Advance {
            override_reason: None
        },
        at(30)
    ))
    .is_empty());
    let (frac, left) = p.window(at(31)).expect("window");
    assert!((frac - 0.5).abs() < 0.01 && left == Duration::from_secs(30));
    p.handle(PlanEvent::Tick, at(61));
    assert_eq!(p.phase, Phase::WaitingApproval { step: 0 });
    let c = p.handle(
        PlanEvent::Advance {
            override_reason: None,
        },
        at(70),
    );
    assert_eq!(applies(&c), vec![1]);
    applied(&mut p, 1, 71);
    p.handle(PlanEvent::Tick, at(131));
    p.handle(
        PlanEvent::Advance {
            override_reason: None,
        },
        at(132),
    );
    applied(&mut p, 2, 133);
    p.handle(PlanEvent::Tick, at(193));
    let c = p.handle(
        PlanEvent::Advance {
            override_reason: None,
        },
        at(194),
    );
    assert_eq!(applies(&c), vec![3]);
    assert_eq!(
        p.finished, None,
        "not finished while applying the last step"
    );
    applied(&mut p, 3, 195);
    assert_eq!(p.phase, Phase::Promoted);
    assert_eq!(p.ceiling(), 100);
    assert_eq!(p.finished, Some(at(195)), "when it was promoted");
    p.handle(PlanEvent::Tick, at(300));
    assert_eq!(p.finished, Some(at(195)), "kept");
}

/// A metric that turns red just as the window ends is being confirmed: the
/// auto plan neither advances nor pauses (a pause would stop the rollback);
/// once it holds, the plan rolls back.
#[test]
fn auto_plan_waits_out_a_confirming_gate_at_the_window_end() {
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    let confirming = Verdict::Confirming("canary 5xx 2.1 % > gate 1 %".into());
    let c = p.handle(PlanEvent::Gates(confirming.clone()), at(61));
    assert!(applies(&c).is_empty() && !rolls_back(&c));
    assert!(applies(&p.advance_if_green(&confirming, at(61))).is_empty());
    assert!(
        matches!(p.phase, Phase::Observing { step: 0, .. }),
        "still observing: {:?}",
        p.phase
    );
    let c = p.handle(
        PlanEvent::Gates(Verdict::Red("canary 5xx 2.1 % > gate 1 %".into())),
        at(91),
    );
    assert!(rolls_back(&c), "{c:?}");
    // No data at the window's end still pauses.
    let mut q = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut q, 0, 0);
    q.handle(
        PlanEvent::Gates(Verdict::NoData("no series".into())),
        at(61),
    );
    assert!(matches!(q.phase, Phase::Paused { .. }), "{:?}", q.phase);
}

#[test]
fn auto_plan_advances_only_on_green_after_the_window() {
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    assert!(
        applies(&p.advance_if_green(&Verdict::Green, at(30))).is_empty(),
        "window not elapsed"
    );
    assert!(
        applies(&p.advance_if_green(&Verdict::NoData("no canary series".into()), at(61)))
            .is_empty(),
        "never blind"
    );
    assert_eq!(
        applies(&p.advance_if_green(&Verdict::Green, at(61))),
        vec![1]
    );
}

#[test]
fn red_gate_rolls_back_by_default() {
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    let c = p.handle(
        PlanEvent::Gates(Verdict::Red("canary 5xx 8.1 % > 1 %".into())),
        at(40),
    );
    assert!(rolls_back(&c));
    assert!(matches!(p.phase, Phase::RollingBack { .. }));
    assert_eq!(p.ceiling(), 0);
    assert_eq!(p.finished, None, "rolling back is not the end yet");
    p.handle(PlanEvent::RolledBack, at(41));
    assert_eq!(p.finished, Some(at(41)));
    let Phase::RolledBack { reason } = &p.phase else {
        panic!("{:?}", p.phase)
    };
    assert!(reason.contains("8.1 %"));
    // finished plans ignore everything
    assert!(p
        .handle(
            PlanEvent::Advance {
                override_reason: Some("x".into())
            },
            at(50)
        )
        .is_empty());
}

#[test]
fn red_gate_can_pause_or_step_down() {
    let mut p = start(PlanMode::Auto, OnFailure::Pause);
    applied(&mut p, 0, 0);
    let c = p.handle(PlanEvent::Gates(Verdict::Red("p95".into())), at(10));
    assert!(!rolls_back(&c));
    assert!(matches!(p.phase, Phase::Paused { step: 0, .. }));

    let mut p = start(PlanMode::Manual, OnFailure::StepDown);
    applied(&mut p, 0, 0);
    p.handle(PlanEvent::Tick, at(61));
    p.handle(
        PlanEvent::Advance {
            override_reason: None,
        },
        at(62),
    );
    applied(&mut p, 1, 63);
    let c = p.handle(PlanEvent::Gates(Verdict::Red("5xx".into())), at(70));
    assert_eq!(applies(&c), vec![0], "back to the previous step");
    // at the first step, stepping down means rolling back
    applied(&mut p, 0, 71);
    let c = p.handle(PlanEvent::Gates(Verdict::Red("5xx".into())), at(80));
    assert!(rolls_back(&c));
}

#[test]
fn override_advances_early_with_the_reason_recorded() {
    let mut p = start(PlanMode::Manual, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    let c = p.handle(
        PlanEvent::Advance {
            override_reason: Some("hotfix, CTO approved".into()),
        },
        at(5),
    );
    assert_eq!(applies(&c), vec![1]);
    assert!(c
        .iter()
        .any(|x| matches!(x, PlanCommand::Transition { why, .. } if why.contains("CTO approved"))));
}

#[test]
fn pause_resume_restarts_the_window() {
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    p.handle(PlanEvent::TogglePause, at(50));
    assert!(matches!(p.phase, Phase::Paused { step: 0, .. }));
    assert!(
        applies(&p.advance_if_green(&Verdict::Green, at(100))).is_empty(),
        "paused plans do not advance"
    );
    p.handle(PlanEvent::TogglePause, at(100));
    assert_eq!(
        p.phase,
        Phase::Observing {
            step: 0,
            since: at(100)
        }
    );
}

#[test]
fn abort_and_manual_change() {
    let mut p = start(PlanMode::Manual, OnFailure::Pause);
    applied(&mut p, 0, 0);
    let c = p.handle(
        PlanEvent::Abort {
            reason: "operator abort".into(),
        },
        at(5),
    );
    assert!(rolls_back(&c));

    let mut p = start(PlanMode::Manual, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    p.handle(PlanEvent::ManualChange, at(3));
    let Phase::Paused { reason, .. } = &p.phase else {
        panic!()
    };
    assert!(reason.contains("by hand"));
}

#[test]
fn apply_failure_pauses_and_rollback_failure_fails() {
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    p.handle(
        PlanEvent::ApplyFailed {
            step: 0,
            error: "409".into(),
        },
        at(1),
    );
    assert!(matches!(p.phase, Phase::Paused { .. }));
    let mut p = start(PlanMode::Auto, OnFailure::Rollback);
    applied(&mut p, 0, 0);
    p.handle(PlanEvent::Abort { reason: "x".into() }, at(1));
    p.handle(
        PlanEvent::RollbackFailed {
            error: "503".into(),
        },
        at(2),
    );
    assert!(matches!(p.phase, Phase::Failed { .. }));
}

fn event() -> impl Strategy<Value = (PlanEvent, i64)> {
    let ev = prop_oneof![
        Just(PlanEvent::Advance {
            override_reason: None
        }),
        Just(PlanEvent::Advance {
            override_reason: Some("r".into())
        }),
        Just(PlanEvent::TogglePause),
        Just(PlanEvent::ManualChange),
        (0usize..4).prop_map(|step| PlanEvent::Applied { step }),
        (0usize..4).prop_map(|step| PlanEvent::ApplyFailed {
            step,
            error: "e".into()
        }),
        Just(PlanEvent::RolledBack),
        Just(PlanEvent::Gates(Verdict::Green)),
        Just(PlanEvent::Gates(Verdict::NoData("n".into()))),
        Just(PlanEvent::Gates(Verdict::Confirming("c".into()))),
        Just(PlanEvent::Gates(Verdict::Red("r".into()))),
        Just(PlanEvent::Tick),
    ];
    (ev, 0i64..90)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The canary never gets more than the current step allows, and every
    /// split the plan asks for sums to 100.
    #[test]
    fn canary_never_exceeds_the_step(
        mode in prop_oneof![Just(PlanMode::Manual), Just(PlanMode::Auto)],
        on_failure in prop_oneof![Just(OnFailure::Rollback), Just(OnFailure::Pause), Just(OnFailure::StepDown)],
        events in prop::collection::vec(event(), 1..80),
    ) {
        let (mut p, first) = Plan::start(spec(mode, on_failure), "canary".into(), "stable".into(), at(0)).expect("valid");
        let mut t = 0;
        let mut cmds = first;
        let check = |p: &Plan, cmds: &[PlanCommand]| -> Result<(), TestCaseError> {
            for c in cmds {
                if let PlanCommand::Apply { step, split } = c {
                    let pct = split.percent_of("canary");
                    prop_assert_eq!(pct, p.spec.steps[*step].percent);
                    let rolling = matches!(p.phase, Phase::RollingBack { .. });
                    prop_assert!(pct <= p.ceiling() || rolling, "canary {} above ceiling {}", pct, p.ceiling());
                    let sum: u32 = split.entries().iter().map(|a| u32::from(a.percent)).sum();
                    prop_assert_eq!(sum, 100);
                }
            }
            Ok(())
        };
        for (ev, dt) in events {
            check(&p, &cmds)?;
            t += dt;
            cmds = p.handle(ev.clone(), at(t));
            if let PlanEvent::Gates(v) = &ev {
                cmds.extend(p.advance_if_green(v, at(t)));
            }
            // Promoted only after the last step was applied.
            if p.phase == Phase::Promoted {
                prop_assert_eq!(p.ceiling(), 100);
            }
        }
        // The last event's commands too.
        check(&p, &cmds)?;
    }
}
