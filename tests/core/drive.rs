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

/// A plan step refused as a conflict, the service read again at `now`
/// (a new version): the state and what the read did.
fn conflict_then_read(now: TrafficSplit) -> (canary::core::state::State, Vec<Effect>) {
    let mut s = testing::state();
    // As replayed from the journal: the split the last change left.
    s.last_applied = s.snapshot.as_ref().map(|snap| snap.traffic.clone());
    update(
        &mut s,
        Action::Drive(DriveRequest::Start {
            spec: spec(),
            reason: None,
        }),
        t0(),
    );
    let id = s.change.as_ref().expect("the first step in flight").id;
    update(
        &mut s,
        Action::TrafficFailed {
            id,
            error: canary::core::error::BackendError::Conflict("etag moved".into()),
        },
        t0(),
    );
    let mut read = s.snapshot.clone().expect("snapshot");
    read.traffic = now.clone();
    read.actual = Some(now);
    read.version = Version("etag-renewed".into());
    let g = s.write_generation;
    let fx = update(&mut s, service_loaded_at(read, g), t0());
    (s, fx)
}

/// Only the version moved (a lease renewal wrote the service): the step
/// goes out again, on the new version, without a re-ask for the driver.
#[test]
fn a_conflict_when_only_the_version_moved_sends_the_step_again() {
    let before = testing::state().snapshot.expect("snapshot").traffic;
    let (s, fx) = conflict_then_read(before);
    assert!(
        !matches!(s.mode, canary::core::state::Mode::Confirm(_)),
        "not re-asked"
    );
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::SetTraffic { kind: ChangeKind::Plan(0), expect, .. } if expect.0 == "etag-renewed"
        )),
        "{fx:?}"
    );
    assert!(matches!(
        s.active_phase(),
        Some(Phase::Applying { step: 0 })
    ));
}

/// Someone set another split meanwhile: the driver pauses, sends nothing.
#[test]
fn a_reask_after_someone_elses_split_pauses_the_plan() {
    let theirs = TrafficSplit::new([(STABLE, 70), (CANARY, 30)]).expect("valid");
    let (mut s, _) = conflict_then_read(theirs);
    assert!(
        matches!(s.mode, canary::core::state::Mode::Confirm(_)),
        "re-asked"
    );
    let fx = update(&mut s, Action::Drive(DriveRequest::AnswerReask), t0());
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })),
        "nothing sent: {fx:?}"
    );
    match s.active_phase() {
        Some(Phase::Paused { reason, .. }) => {
            assert!(reason.contains("changed under the driver"), "{reason}")
        }
        other => panic!("expected paused, got {other:?}"),
    }
    let transitions = fx
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Journal(canary::core::record::Event::PlanTransition { .. })
            )
        })
        .count();
    assert_eq!(transitions, 1, "journaled once: {fx:?}");
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
