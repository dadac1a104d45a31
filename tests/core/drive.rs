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

/// A plan step refused for a version that moved alone is sent again once —
/// but never after a rollback went out meanwhile (an abort, a red gate, `r`):
/// the rolled-back canary must not get the step's traffic back.
#[test]
fn a_step_refused_for_its_version_is_not_sent_again_after_a_rollback() {
    let mut s = testing::state();
    s.last_applied = s.snapshot.as_ref().map(|snap| snap.traffic.clone());
    let before = s.snapshot.as_ref().expect("snapshot").traffic.clone();
    update(
        &mut s,
        Action::Drive(DriveRequest::Start {
            spec: spec(),
            reason: None,
        }),
        t0(),
    );
    let step = s.change.as_ref().expect("the first step in flight").id;
    update(
        &mut s,
        Action::TrafficFailed {
            id: step,
            error: canary::core::error::BackendError::Conflict("etag moved".into()),
        },
        t0(),
    );
    // The run is aborted before the re-read comes back: the rollback goes out.
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Abort {
            reason: "aborted by bob@laptop".into(),
        }),
        t0(),
    );
    let rollback = fx
        .iter()
        .find_map(|e| match e {
            Effect::SetTraffic {
                id,
                kind: ChangeKind::Rollback,
                ..
            } => Some(*id),
            _ => None,
        })
        .expect("the rollback goes out");
    // The re-read: the split the step was decided on, a new version.
    let mut read = s.snapshot.clone().expect("snapshot");
    read.traffic = before.clone();
    read.actual = Some(before);
    read.version = Version("etag-renewed".into());
    let g = s.write_generation;
    let fx = update(&mut s, service_loaded_at(read, g), t0());
    assert!(
        !fx.iter().any(|e| matches!(
            e,
            Effect::SetTraffic {
                kind: ChangeKind::Plan(_),
                ..
            }
        )),
        "{fx:?}"
    );
    assert!(
        !matches!(s.queued.as_ref().map(|q| q.kind), Some(ChangeKind::Plan(_))),
        "not queued behind the rollback: {:?}",
        s.queued
    );
    // The rollback lands: nothing follows it.
    let mut landed = s.snapshot.clone().expect("snapshot");
    landed.traffic = TrafficSplit::all_to(STABLE);
    landed.actual = Some(TrafficSplit::all_to(STABLE));
    let fx = update(
        &mut s,
        Action::TrafficApplied {
            id: rollback,
            snapshot: landed,
        },
        t0(),
    );
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })),
        "nothing after the rollback: {fx:?}"
    );
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

/// `canary release --image`: the deploy goes out as `D` then `y` send it
/// (no traffic change), the plan starts for the revision named (not the
/// roles' canary), and a rejection before traffic is journaled and told,
/// with nothing sent.
#[test]
fn deploy_start_for_and_reject_without_a_dialog() {
    use canary::core::record::Event;
    use canary::core::release::ReleaseEffect;

    let deploy = || {
        Action::Drive(DriveRequest::Deploy {
            image: "r/emergence:deploy-2".into(),
            tag: Some("canary-2".into()),
            env: vec!["A=1".into()],
            reason: Some("ci".into()),
        })
    };
    // A platform that cannot deploy: refused, said, nothing sent.
    let mut s = testing::state();
    let fx = update(&mut s, deploy(), t0());
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Release(_))),
        "{fx:?}"
    );
    assert!(s.release.deploy.is_none());
    // One that deploys as gcloud would (the simulator's).
    let mut snap = testing::snapshot();
    snap.write_api = canary::core::preview::WriteApi::Gcloud {
        project: "demo-project".into(),
        region: "europe-west1".into(),
    };
    let mut s = canary::core::state::State::new(Default::default(), testing::info(), t0());
    update(&mut s, service_loaded(snap), t0());
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Deploy {
            image: "r/emergence:deploy-2".into(),
            tag: Some("canary-2".into()),
            env: vec!["A=1".into()],
            reason: Some("ci".into()),
        }),
        t0(),
    );
    let sent: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Release(ReleaseEffect::Deploy {
                request, reason, ..
            }) => Some((request.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1, "{fx:?}");
    assert_eq!(sent[0].0.image, "r/emergence:deploy-2");
    assert_eq!(sent[0].0.tag, "canary-2");
    assert_eq!(sent[0].1.as_deref(), Some("ci"));
    assert!(!fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })));
    assert!(s.release.deploy.is_some());

    // The plan for a named revision (here the old one, not the roles' canary).
    let mut s = testing::state();
    update(
        &mut s,
        Action::Drive(DriveRequest::StartFor {
            canary: "emergence-app-00041-rol".into(),
            spec: spec(),
            reason: None,
        }),
        t0(),
    );
    let plan = s.plan.as_ref().expect("plan");
    assert_eq!(plan.canary, "emergence-app-00041-rol");
    assert_eq!(plan.stable, STABLE);

    let mut s = testing::state();
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::Reject {
            revision: CANARY.into(),
            reason: "1 blocking check failed".into(),
        }),
        t0(),
    );
    let note = fx
        .iter()
        .find_map(|e| match e {
            Effect::Journal(Event::Note { message }) => Some(message.clone()),
            _ => None,
        })
        .expect("a note");
    assert!(
        note.contains("nothing to roll back") && note.contains("stays at 0 %"),
        "{note}"
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::Notify(_))));
    assert!(!fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })));
}

// ------------------------------------------------- a plan driven elsewhere

mod remote {
    use super::*;
    use canary::core::lease::{LeaseInfo, RemoteRequest, RequestKind};
    use canary::core::state::{Mode, PlanAction, State};
    use canary_fakes::fixtures::ch;

    fn driver(phase: &str) -> LeaseInfo {
        LeaseInfo {
            phase: Some(phase.into()),
            gates: Some("green".into()),
            ..LeaseInfo::new(
                "ci@runner".into(),
                4242,
                "ci".into(),
                t0(),
                chrono::Duration::seconds(90),
            )
        }
    }

    fn watching(lease: Option<LeaseInfo>) -> State {
        let mut s = testing::state();
        update(
            &mut s,
            Action::LeaseRead {
                lease: Ok(lease),
                location: "Lease canary-backend in namespace shop".into(),
            },
            t0(),
        );
        s
    }

    fn message(s: &State) -> String {
        s.message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default()
    }

    /// The lease is written by whoever may annotate the object: its texts
    /// reach the screen without control characters (no escape sequence
    /// from a lease clears the operator's terminal or fakes a line).
    #[test]
    fn a_lease_with_control_characters_is_shown_printable() {
        let evil = LeaseInfo {
            driver: "ci@runner\u{1b}[2J".into(),
            plan: "ci\r\nall green".into(),
            gates: Some("green\u{7}".into()),
            ..driver("observing\u{1b}]52;c;AAAA\u{7} step 1")
        };
        let s = watching(Some(evil));
        let screen = crate::release_snapshots::text(&s, 120, 40);
        assert!(
            !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
            "{screen:?}"
        );
        assert!(message(&s).contains("ci@runner"), "{}", message(&s));
        assert!(!message(&s).contains(char::is_control), "{}", message(&s));
    }

    /// `p` asks (a confirmation naming the driver), `y` writes the request
    /// (no traffic change here); the driver's acknowledgement is said.
    #[test]
    fn p_y_writes_a_pause_request_and_its_acknowledgement_is_said() {
        let mut s = watching(Some(driver("observing step 1")));
        assert!(message(&s).contains("driven elsewhere: ci@runner (pid 4242)"));
        update(&mut s, ch('p'), t0());
        let Mode::Confirm(c) = &s.mode else {
            panic!("a confirmation, got {:?}", s.mode.name())
        };
        assert_eq!(c.plan_action, Some(PlanAction::Remote(RequestKind::Pause)));
        assert!(c
            .note
            .as_deref()
            .unwrap_or("")
            .contains("ci@runner (pid 4242)"));
        assert!(
            c.preview[0].contains("Lease canary-backend"),
            "{:?}",
            c.preview
        );
        let fx = update(&mut s, ch('y'), t0());
        assert_eq!(fx, vec![Effect::RequestLease(RequestKind::Pause)]);
        assert!(s.plan.is_none(), "no plan of its own");
        let sent = RemoteRequest {
            kind: RequestKind::Pause,
            by: "bob@laptop".into(),
            at: t0(),
            acked: None,
        };
        update(&mut s, Action::LeaseRequested(Ok(sent.clone())), t0());
        assert!(message(&s).contains("waiting for ci@runner to obey"));
        // The driver read it, obeyed, and acknowledged it.
        let acked = LeaseInfo {
            request: Some(RemoteRequest {
                acked: Some(t0() + chrono::Duration::milliseconds(1200)),
                ..sent
            }),
            ..driver("paused at step 1: paused from the cockpit of bob@laptop")
        };
        update(
            &mut s,
            Action::LeaseRead {
                lease: Ok(Some(acked)),
                location: "x".into(),
            },
            t0(),
        );
        assert!(
            message(&s).contains("ci@runner obeyed: pause (acknowledged 1200 ms"),
            "{}",
            message(&s)
        );
        // Paused: p (and Space) now ask to resume; a asks to abort.
        update(&mut s, ch('p'), t0());
        assert!(matches!(&s.mode, Mode::Confirm(c)
            if c.plan_action == Some(PlanAction::Remote(RequestKind::Resume))));
        update(&mut s, ch('n'), t0());
        assert_eq!(message(&s), "cancelled: nothing was written");
        update(&mut s, ch('a'), t0());
        assert!(matches!(&s.mode, Mode::Confirm(c)
            if c.plan_action == Some(PlanAction::Remote(RequestKind::Abort))));
    }

    /// No plan starts here while another driver holds a live lease; the
    /// rollback key is never blocked (it moves the split itself).
    #[test]
    fn plan_start_is_refused_naming_the_driver_and_rollback_is_never_blocked() {
        let mut s = watching(Some(driver("observing step 1")));
        update(&mut s, ch(':'), t0());
        for c in "plan start".chars() {
            update(&mut s, ch(c), t0());
        }
        update(
            &mut s,
            testing::key(canary::core::key::KeyCode::Enter),
            t0(),
        );
        let shown = match &s.mode {
            Mode::Input(i) => format!("{:?}", i.feedback),
            _ => message(&s),
        };
        assert!(
            shown.contains("a plan is driven by ci@runner (pid 4242), plan ci"),
            "{shown}"
        );
        assert!(s.plan.is_none());
        update(&mut s, testing::key(canary::core::key::KeyCode::Esc), t0());
        // The driver's step is serving (10 %).
        update(&mut s, service_loaded(testing::busy_snapshot()), t0());
        // `r`: the rollback confirmation, then `y` sends it at once.
        update(&mut s, ch('r'), t0());
        assert!(matches!(&s.mode, Mode::Confirm(c) if c.kind == ChangeKind::Rollback));
        let fx = update(&mut s, ch('y'), t0());
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::SetTraffic {
                kind: ChangeKind::Rollback,
                ..
            }
        )));
    }

    /// An expired lease (its driver died) drives nothing: the keys are the
    /// cockpit's own again; the dialog closes when the driver lets go.
    #[test]
    fn an_expired_lease_or_a_released_one_gives_the_keys_back() {
        let mut dead = driver("observing step 1");
        dead.deadline = t0() - chrono::Duration::seconds(1);
        let mut s = watching(Some(dead));
        update(&mut s, ch('p'), t0());
        assert!(matches!(&s.mode, Mode::Confirm(c) if c.plan_action == Some(PlanAction::Start)));
        update(&mut s, ch('n'), t0());

        let mut s = watching(Some(driver("observing step 1")));
        update(&mut s, ch('a'), t0());
        assert!(matches!(s.mode, Mode::Confirm(_)));
        update(
            &mut s,
            Action::LeaseRead {
                lease: Ok(None),
                location: "x".into(),
            },
            t0(),
        );
        assert!(matches!(s.mode, Mode::Normal));
        assert!(
            message(&s).contains("nothing was written"),
            "{}",
            message(&s)
        );
    }

    /// What the driver does with a request read from its lease: journaled
    /// with who asked, then obeyed (pause, resume, abort → rollback).
    #[test]
    fn the_driver_obeys_a_request_and_journals_who_asked() {
        let mut s = started();
        let ask = |kind| {
            Action::Drive(DriveRequest::Remote(RemoteRequest {
                kind,
                by: "bob@laptop".into(),
                at: t0(),
                acked: None,
            }))
        };
        let fx = update(&mut s, ask(RequestKind::Pause), t0());
        assert!(fx.iter().any(
            |e| matches!(e, Effect::Journal(canary::core::record::Event::Note { message })
            if message.contains("pause requested by bob@laptop"))
        ));
        assert!(
            matches!(s.active_phase(), Some(Phase::Paused { reason, .. })
            if reason == "paused from the cockpit of bob@laptop")
        );
        update(&mut s, ask(RequestKind::Resume), t0());
        assert!(matches!(s.active_phase(), Some(Phase::Observing { .. })));
        let fx = update(&mut s, ask(RequestKind::Abort), t0());
        assert!(fx.iter().any(|e| matches!(
            e,
            Effect::SetTraffic {
                kind: ChangeKind::Rollback,
                ..
            }
        )));
        land(&mut s, t0());
        assert!(matches!(
            s.plan.as_ref().map(|p| &p.phase),
            Some(Phase::RolledBack { reason }) if reason == "aborted from the cockpit of bob@laptop"
        ));
    }
}
