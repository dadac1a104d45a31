//! The drive requests in `update` (`canary release` starts, pauses and
//! aborts its plan without a key; a split someone else set stops it).

use std::time::Duration;

use canary::core::action::{Action, ChangeKind, DriveRequest, Effect};
use canary::core::model::{TrafficSplit, Version};
use canary::core::plan::{Phase, PlanMode, PlanSpec, PlanStep};
use canary::core::update::split_moved;
use canary::core::update::update;
use canary_fakes::fixtures::{self as testing, land, service_loaded, t0, CANARY, STABLE};

fn spec() -> PlanSpec {
    PlanSpec {
        steps: vec![
            PlanStep {
                percent: 20,
                observe: Duration::from_secs(600),
            },
            PlanStep {
                percent: 100,
                observe: Duration::ZERO,
            },
        ],
        mode: PlanMode::Auto,
        ..PlanSpec::domain_default()
    }
}

fn started() -> canary::core::state::State {
    let mut s = testing::state();
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Start {
            spec: spec(),
            reason: Some("ci".into()),
        }),
        t0(),
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::SetTraffic {
            kind: ChangeKind::Plan(0),
            ..
        }
    )));
    land(&mut s, t0());
    assert!(matches!(
        s.active_phase(),
        Some(Phase::Observing { step: 0, .. })
    ));
    s
}

#[test]
fn start_takes_the_roles_canary_and_stable_without_a_dialog() {
    let s = started();
    let plan = s.plan.as_ref().expect("plan");
    assert_eq!(
        (plan.canary.as_str(), plan.stable.as_str()),
        (CANARY, STABLE)
    );
    assert_eq!(split_moved(&s), None, "the platform serves the step");
}

#[test]
fn someone_elses_split_pauses_the_plan() {
    let mut s = started();
    let mut theirs = s.snapshot.clone().expect("snapshot");
    theirs.traffic = TrafficSplit::new([(STABLE, 50), (CANARY, 50)]).expect("valid");
    theirs.version = Version("etag-theirs".into());
    let g = s.write_generation;
    update(&mut s, service_loaded_at(theirs, g), t0());
    let why = split_moved(&s).expect("moved");
    assert!(why.contains("50 %") && why.contains("20 %"), "{why}");
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::SplitMoved { reason: why }),
        t0(),
    );
    assert!(matches!(s.active_phase(), Some(Phase::Paused { .. })));
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })),
        "nothing sent"
    );
}

#[test]
fn pause_and_abort_requests_are_journaled_and_told() {
    let mut s = started();
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Pause {
            reason: "SIGTERM: the release was cancelled".into(),
        }),
        t0(),
    );
    assert!(matches!(s.active_phase(), Some(Phase::Paused { .. })));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Notify(t) if t.contains("plan paused"))));
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Abort { reason: "x".into() }),
        t0(),
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::SetTraffic {
            kind: ChangeKind::Rollback,
            ..
        }
    )));
}

fn service_loaded_at(snapshot: canary::core::model::ServiceSnapshot, g: u64) -> Action {
    match service_loaded(snapshot) {
        Action::ServiceLoaded { snapshot, .. } => Action::ServiceLoaded {
            snapshot,
            generation: g,
        },
        other => other,
    }
}
