//! `[judge] baseline = "deploy"` in the pure core: the plan's split with a
//! baseline (sums to 100 at every step, nothing to a baseline that is not
//! ready), the baseline deployed before the plan through the journaled
//! deploy, the judge aimed at it, every rollback path sending it to 0, the
//! promotion giving it 0, its deletion after the plan, a platform that
//! cannot deploy, and a start cancelled while it deploys.

use canary::core::action::{Action, ChangeKind, DriveRequest, Effect};
use canary::core::error::BackendError;
use canary::core::judge::JudgeMode;
use canary::core::lease::{RemoteRequest, RequestKind};
use canary::core::model::{ServiceSnapshot, TrafficSplit, Version};
use canary::core::plan::{baseline_share, Baseline, Phase, Plan, PlanSpec};
use canary::core::preview::WriteApi;
use canary::core::release::{ReleaseEffect, ReleaseEvent};
use canary::core::state::{Mode, State};
use canary::core::update::update;
use canary::journal::Event;
use canary_fakes::fixtures::{self, ch as key, revision, CANARY, STABLE};

use super::judge_flow::{at, batch, plan_state};

const BASE: &str = "emergence-app-00044-bas";

#[test]
fn the_split_with_a_baseline_sums_to_100_and_takes_from_the_stable() {
    assert_eq!(
        [10, 25, 50, 100].map(baseline_share),
        [10, 25, 25, 0],
        "b = min(p, (100 − p) / 2)"
    );
    for p in 1..=100u8 {
        let spec = PlanSpec {
            steps: vec![
                canary::core::plan::PlanStep {
                    percent: p,
                    observe: std::time::Duration::from_secs(60),
                },
                canary::core::plan::PlanStep {
                    percent: 100,
                    observe: std::time::Duration::ZERO,
                },
            ],
            ..PlanSpec::domain_default()
        };
        let spec = if p == 100 {
            PlanSpec {
                steps: spec.steps[1..].to_vec(),
                ..spec
            }
        } else {
            spec
        };
        let (mut plan, _) =
            Plan::start_with(spec, CANARY.into(), STABLE.into(), Some(BASE.into()), at(0))
                .expect("starts");
        for step in 0..plan.spec.steps.len() {
            let split = plan.split_for(step);
            let pct = plan.spec.steps[step].percent;
            let sum: u32 = split.entries().iter().map(|a| u32::from(a.percent)).sum();
            assert_eq!(sum, 100, "{split} at {pct} %");
            assert_eq!(split.percent_of(CANARY), pct);
            assert_eq!(split.percent_of(BASE), baseline_share(pct), "{split}");
            assert!(
                split.percent_of(STABLE) >= split.percent_of(BASE),
                "the stable keeps the larger share: {split}"
            );
        }
        // Not ready: nothing for it, the stable keeps the rest.
        plan.baseline_ready = false;
        for step in 0..plan.spec.steps.len() {
            let split = plan.split_for(step);
            assert_eq!(split.percent_of(BASE), 0, "{split}");
            assert_eq!(
                split.percent_of(STABLE),
                100 - plan.spec.steps[step].percent
            );
        }
    }
}

/// The fixture on a platform that deploys (as gcloud would).
fn deployable(mut snap: ServiceSnapshot) -> ServiceSnapshot {
    snap.write_api = WriteApi::Gcloud {
        project: "demo-project".into(),
        region: "europe-west1".into(),
    };
    snap
}

/// `plan_state`'s plan (10 % for 60 s, then 100 %, auto, roll back on a
/// red gate) with `baseline = "deploy"` on a platform that deploys.
fn state(judge: JudgeMode) -> State {
    let mut s = plan_state(|s| {
        s.judge.baseline = Baseline::Deploy;
        s.judge.mode = judge;
    });
    update(
        &mut s,
        fixtures::service_loaded(deployable(fixtures::snapshot())),
        at(0),
    );
    s
}

fn deploys(fx: &[Effect]) -> Vec<(u64, canary::core::release::DeployRequest, Option<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Release(ReleaseEffect::Deploy {
                id,
                request,
                reason,
                ..
            }) => Some((*id, request.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn traffic(fx: &[Effect]) -> Vec<(ChangeKind, TrafficSplit)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::SetTraffic { kind, split, .. } => Some((*kind, split.clone())),
            _ => None,
        })
        .collect()
}

fn deletes(fx: &[Effect]) -> Vec<(u64, Vec<String>, Option<String>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Release(ReleaseEffect::Delete {
                id,
                revisions,
                reason,
                ..
            }) => Some((*id, revisions.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn notes(fx: &[Effect]) -> Vec<String> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Journal(Event::Note { message }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// A read started now (after every write so far).
fn read(s: &State, snapshot: ServiceSnapshot) -> Action {
    Action::ServiceLoaded {
        snapshot,
        generation: s.write_generation,
    }
}

/// The service with the baseline listed, `ready`, at 0 %.
fn with_baseline(s: &State, name: &str, ready: bool) -> ServiceSnapshot {
    let mut snap = s.snapshot.clone().expect("read");
    let mut r = revision(name, Some("baseline"), 0, ready);
    r.image = snap.revision(STABLE).expect("stable").image.clone();
    snap.revisions.retain(|x| x.name != name);
    snap.revisions.insert(0, r);
    snap.version = Version(format!("etag-with-{name}-{ready}"));
    snap
}

/// `p`, `y` without a baseline yet: the start sends the baseline's deploy
/// (and nothing else); its id and request.
fn ask_start(s: &mut State) -> (u64, canary::core::release::DeployRequest) {
    update(s, key('p'), at(0));
    let fx = update(s, key('y'), at(0));
    let d = deploys(&fx);
    assert_eq!(d.len(), 1, "one deploy: {fx:?}");
    (d[0].0, d[0].1.clone())
}

/// The baseline's deploy `id` ends with `result` at `t`.
fn deployed(
    s: &mut State,
    id: u64,
    result: Result<ServiceSnapshot, BackendError>,
    t: i64,
) -> Vec<Effect> {
    update(
        s,
        Action::Release(ReleaseEvent::Deployed { id, result }),
        at(t),
    )
}

/// `p`, `y`: the baseline's deploy goes out first (no traffic yet); it
/// comes back ready; the plan starts with its share. Returns the baseline.
fn start_with_baseline(s: &mut State) -> String {
    update(s, key('p'), at(0));
    let Mode::Confirm(c) = &s.mode else {
        panic!("p asks first, got {}", s.mode.name());
    };
    assert!(
        c.note.as_deref().unwrap_or("").contains("baseline"),
        "the start says the baseline comes first: {:?}",
        c.note
    );
    let fx = update(s, key('y'), at(0));
    let d = deploys(&fx);
    assert_eq!(d.len(), 1, "one deploy: {fx:?}");
    let (id, request, reason) = d[0].clone();
    let stable_image = s
        .snapshot
        .as_ref()
        .unwrap()
        .revision(STABLE)
        .unwrap()
        .image
        .clone();
    assert_eq!(request.image, stable_image, "the stable's image");
    assert_eq!(request.tag, "baseline");
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains("changes only the image"),
        "the journal record says what the deploy path keeps: {reason}"
    );
    assert!(traffic(&fx).is_empty(), "no traffic before it is ready");
    assert!(s.plan.is_none(), "the plan waits for the baseline");
    let rev = request.revision.clone();
    let snap = with_baseline(s, &rev, true);
    let fx = deployed(s, id, Ok(snap), 1);
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "the first step goes out: {fx:?}");
    assert_eq!(t[0].1.percent_of(CANARY), 10);
    assert_eq!(t[0].1.percent_of(&rev), 10, "{}", t[0].1);
    assert_eq!(t[0].1.percent_of(STABLE), 80, "{}", t[0].1);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Journal(Event::PlanStarted { .. }))),
        "the start is journaled"
    );
    assert_eq!(
        s.plan.as_ref().unwrap().baseline.as_deref(),
        Some(rev.as_str())
    );
    fixtures::land(s, at(2));
    rev
}

/// Metrics: the canary (`canary_err` % 5xx) and the baseline, both at 5
/// req/s, and the stable, 0.1 %.
fn metrics(t: i64, base: &str, canary_err: f64) -> Action {
    let h = |n: f64| vec![(100.0, n * 0.5), (200.0, n * 0.95), (60_000.0, n)];
    batch(
        t,
        &[
            (CANARY, 5.0, canary_err, 190.0, h(50.0)),
            (base, 5.0, 0.1, 190.0, h(50.0)),
            (STABLE, 40.0, 0.1, 190.0, h(400.0)),
        ],
    )
}

#[test]
fn the_baseline_is_deployed_first_judged_against_and_deleted_after_the_rollback() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    update(&mut s, metrics(30, &rev, 0.1), at(30));
    let ev = s.judge.evidence.clone().expect("judged");
    assert_eq!(ev.stable, rev, "the judge compares with the baseline");
    assert!(ev.versus_baseline);
    assert!(
        canary::core::judge::text::summary(&ev).contains(&format!("vs baseline {rev}")),
        "{}",
        canary::core::judge::text::summary(&ev)
    );
    // `a`, `y`: everything to the stable, the baseline too.
    update(&mut s, key('a'), at(31));
    let fx = update(&mut s, key('y'), at(31));
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "{fx:?}");
    assert_eq!(t[0].0, ChangeKind::Rollback);
    assert_eq!(t[0].1, TrafficSplit::all_to(STABLE));
    let measured: Vec<String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Journal(Event::PhaseMetrics { revisions, .. }) => Some(
                revisions
                    .iter()
                    .map(|r| r.revision.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        measured,
        [CANARY, STABLE, rev.as_str()],
        "the step's numbers"
    );
    assert_eq!(
        s.baseline.cleanup, None,
        "nothing deleted before the rollback lands"
    );
    let fx = fixtures::land(&mut s, at(32));
    assert!(matches!(
        s.plan.as_ref().unwrap().phase,
        Phase::RolledBack { .. }
    ));
    let mut d = deletes(&fx);
    if d.is_empty() {
        // Sent with the next read, once the rollback is in.
        let snap = s.snapshot.clone().unwrap();
        let r = read(&s, snap);
        d = deletes(&update(&mut s, r, at(33)));
    }
    assert_eq!(d.len(), 1, "the baseline is deleted");
    let (id, revisions, reason) = d[0].clone();
    assert_eq!(revisions, vec![rev.clone()]);
    assert!(reason.unwrap_or_default().contains("baseline cleanup"));
    let mut gone = s.snapshot.clone().unwrap();
    gone.revisions.retain(|r| r.name != rev);
    update(
        &mut s,
        Action::Release(ReleaseEvent::Deleted {
            id,
            revision: rev.clone(),
            result: Ok(gone),
            last: true,
        }),
        at(34),
    );
    assert_eq!(s.baseline.cleanup, None);
    assert!(s.release.delete.is_none());
}

/// Every way back to the stable from a running plan with a baseline: the
/// rollback's split gives the baseline nothing.
#[test]
fn every_rollback_path_sends_the_baseline_to_zero() {
    type Path = (&'static str, fn(&mut State, &str) -> Vec<Effect>);
    let paths: [Path; 5] = [
        ("a then y", |s, _| {
            update(s, key('a'), at(40));
            update(s, key('y'), at(40))
        }),
        ("r then y", |s, _| {
            update(s, key('r'), at(40));
            update(s, key('y'), at(40))
        }),
        ("the judge fails the canary (act)", |s, rev| {
            let mut fx = Vec::new();
            for t in (30..=300).step_by(10) {
                fx.extend(update(s, metrics(t, rev, 8.0), at(t)));
                if !traffic(&fx).is_empty() {
                    break;
                }
            }
            fx
        }),
        ("a cockpit's abort, read from the lease", |s, _| {
            update(
                s,
                Action::Drive(DriveRequest::Remote(RemoteRequest {
                    kind: RequestKind::Abort,
                    by: "ops@laptop".into(),
                    at: at(40),
                    acked: None,
                })),
                at(40),
            )
        }),
        ("a cancelled release (on_cancel = rollback)", |s, _| {
            update(
                s,
                Action::Drive(DriveRequest::Abort {
                    reason: "SIGTERM: the release was cancelled".into(),
                }),
                at(40),
            )
        }),
    ];
    for (name, path) in paths {
        let mut s = state(JudgeMode::Act);
        let rev = start_with_baseline(&mut s);
        let fx = path(&mut s, &rev);
        let t = traffic(&fx);
        assert_eq!(t.len(), 1, "{name}: one change: {fx:?}");
        assert_eq!(t[0].0, ChangeKind::Rollback, "{name}");
        assert_eq!(t[0].1.percent_of(&rev), 0, "{name}: {}", t[0].1);
        assert_eq!(t[0].1, TrafficSplit::all_to(STABLE), "{name}");
    }
}

#[test]
fn the_promotion_gives_the_baseline_nothing_then_deletes_it() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    let mut fx = Vec::new();
    for t in (30..=120).step_by(10) {
        fx = update(&mut s, metrics(t, &rev, 0.1), at(t));
        if !traffic(&fx).is_empty() {
            break;
        }
    }
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "the auto plan advances: {fx:?}");
    assert_eq!(
        t[0].1,
        TrafficSplit::all_to(CANARY),
        "100 %: nothing for the baseline"
    );
    let fx = fixtures::land(&mut s, at(130));
    assert_eq!(s.plan.as_ref().unwrap().phase, Phase::Promoted);
    let mut d = deletes(&fx);
    if d.is_empty() {
        let snap = s.snapshot.clone().unwrap();
        let r = read(&s, snap);
        d = deletes(&update(&mut s, r, at(131)));
    }
    assert_eq!(d.len(), 1, "deleted after the promotion");
    assert_eq!(d[0].1, vec![rev]);
}

#[test]
fn a_baseline_read_not_ready_gets_nothing_and_the_judge_falls_back_to_the_stable() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    let mut snap = with_baseline(&s, &rev, false);
    // The platform took its traffic away (a revision that is not ready serves nothing).
    snap.traffic = TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).unwrap();
    snap.actual = Some(snap.traffic.clone());
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(20));
    assert!(
        notes(&fx).iter().any(|n| n.contains("NOT READY")),
        "said and journaled: {:?}",
        notes(&fx)
    );
    // Its traffic had already gone here: nothing to send.
    assert!(traffic(&fx).is_empty(), "{fx:?}");
    let plan = s.plan.as_ref().unwrap();
    assert!(!plan.baseline_ready);
    assert_eq!(plan.split_for(1).percent_of(&rev), 0);
    assert_eq!(plan.split_for(0).percent_of(&rev), 0);
    update(&mut s, metrics(30, &rev, 0.1), at(30));
    let ev = s.judge.evidence.clone().expect("judged");
    assert_eq!(ev.stable, STABLE, "back to the stable");
    assert!(!ev.versus_baseline);
}

#[test]
fn a_failed_baseline_deploy_starts_the_plan_against_the_stable() {
    let mut s = state(JudgeMode::Observe);
    let (id, _) = ask_start(&mut s);
    let fx = deployed(
        &mut s,
        id,
        Err(BackendError::Failed("Image not found.".into())),
        1,
    );
    assert!(
        notes(&fx).iter().any(|n| n.contains("no baseline")),
        "{:?}",
        notes(&fx)
    );
    let t = traffic(&fx);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t[0].1,
        TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).unwrap()
    );
    assert_eq!(s.plan.as_ref().unwrap().baseline, None);
}

#[test]
fn a_platform_that_cannot_deploy_says_so_once_and_starts_against_the_stable() {
    // The fixture's platform deploys nothing (as HAProxy or Kubernetes).
    let mut s = plan_state(|s| s.judge.baseline = Baseline::Deploy);
    update(&mut s, key('p'), at(0));
    let fx = update(&mut s, key('y'), at(0));
    assert!(deploys(&fx).is_empty());
    let n = notes(&fx);
    assert_eq!(
        n.iter()
            .filter(|n| n.contains("no baseline revision"))
            .count(),
        1,
        "{n:?}"
    );
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "the release goes on");
    assert_eq!(
        t[0].1,
        TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).unwrap()
    );
}

#[test]
fn a_start_cancelled_while_the_baseline_deploys_sends_no_traffic_and_deletes_it() {
    let mut s = state(JudgeMode::Observe);
    let spec = s.settings.plan.clone();
    let fx = update(
        &mut s,
        Action::Drive(DriveRequest::StartFor {
            canary: CANARY.into(),
            spec,
            reason: Some("ci".into()),
        }),
        at(0),
    );
    let (id, request, _) = deploys(&fx)[0].clone();
    update(
        &mut s,
        Action::Drive(DriveRequest::Abort {
            reason: "SIGTERM".into(),
        }),
        at(1),
    );
    let snap = with_baseline(&s, &request.revision, true);
    let fx = deployed(&mut s, id, Ok(snap), 2);
    assert!(traffic(&fx).is_empty(), "no traffic: {fx:?}");
    assert!(s.plan.is_none());
    assert!(s.baseline.stopped.is_some());
    let d = deletes(&fx);
    assert_eq!(d.len(), 1, "{fx:?}");
    assert_eq!(d[0].1, vec![request.revision]);
}

#[test]
fn a_in_the_cockpit_cancels_a_start_waiting_for_its_baseline() {
    let mut s = state(JudgeMode::Observe);
    let (id, request) = ask_start(&mut s);
    // `p` again waits (no second plan, no second deploy).
    let fx = update(&mut s, key('p'), at(1));
    assert!(deploys(&fx).is_empty() && traffic(&fx).is_empty());
    assert!(matches!(s.mode, Mode::Normal), "nothing to confirm");
    let fx = update(&mut s, key('a'), at(1));
    assert!(
        notes(&fx).iter().any(|n| n.contains("cancelled")),
        "{:?}",
        notes(&fx)
    );
    let snap = with_baseline(&s, &request.revision, true);
    let fx = deployed(&mut s, id, Ok(snap), 2);
    assert!(traffic(&fx).is_empty(), "no traffic: {fx:?}");
    assert!(s.plan.is_none());
    assert_eq!(deletes(&fx).len(), 1, "the baseline is deleted: {fx:?}");
}

#[test]
fn a_conflicted_baseline_deploy_is_sent_again_after_the_next_read() {
    let mut s = state(JudgeMode::Observe);
    let (id, _) = ask_start(&mut s);
    let fx = deployed(
        &mut s,
        id,
        Err(BackendError::Conflict("etag moved".into())),
        1,
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::RefreshService)));
    assert!(traffic(&fx).is_empty() && s.plan.is_none());
    let mut moved = s.snapshot.clone().unwrap();
    moved.version = Version("etag-moved".into());
    let r = read(&s, moved);
    let fx = update(&mut s, r, at(2));
    let again = deploys(&fx);
    assert_eq!(again.len(), 1, "sent again on what is there now: {fx:?}");
    assert_eq!(again[0].1.tag, "baseline");
    assert!(s.baseline.prep.is_some());
}

#[test]
fn a_failed_cleanup_is_said_and_journaled_and_blocks_nothing() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    update(&mut s, key('a'), at(31));
    update(&mut s, key('y'), at(31));
    fixtures::land(&mut s, at(32));
    let snap = s.snapshot.clone().unwrap();
    let r = read(&s, snap);
    update(&mut s, r, at(33));
    let id = s.release.delete.as_ref().expect("deletion sent").id;
    let fx = update(
        &mut s,
        Action::Release(ReleaseEvent::Deleted {
            id,
            revision: rev.clone(),
            result: Err(BackendError::Failed("permission denied".into())),
            last: true,
        }),
        at(34),
    );
    assert!(
        notes(&fx)
            .iter()
            .any(|n| n.contains("NOT deleted") && n.contains("permission denied")),
        "{:?}",
        notes(&fx)
    );
    assert_eq!(s.baseline.cleanup, None, "not tried again in a loop");
    // A new plan can start (against the stable: the tag is still in use).
    update(
        &mut s,
        fixtures::key(canary::core::key::KeyCode::Esc),
        at(39),
    );
    update(&mut s, key('p'), at(40));
    let fx = update(&mut s, key('y'), at(40));
    assert_eq!(traffic(&fx).len(), 1, "{fx:?}");
    assert!(
        notes(&fx).iter().any(|n| n.contains("already marks")),
        "{:?}",
        notes(&fx)
    );
}

/// The screen while a plan runs with its baseline: the three-way split and
/// the Judge panel's "vs baseline <rev>", at 80x24 and 120x40.
#[test]
fn the_screen_shows_the_baseline_and_the_judge_says_it_compares_with_it() {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let mut s = state(JudgeMode::Observe);
    update(&mut s, Action::LogBatch(fixtures::logs(50)), at(0));
    let rev = start_with_baseline(&mut s);
    update(&mut s, metrics(30, &rev, 0.1), at(30));
    update(&mut s, Action::Tick, at(31));
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| canary::ui::render(f, &s)).expect("draw");
        let buf = term.backend().buffer().clone();
        let mut t = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
            t.push_str(line.trim_end());
            t.push('\n');
        }
        assert!(t.contains("tag baseline"), "{t}");
        if h >= 40 {
            assert!(t.contains(&format!("vs baseline {rev}")), "{t}");
        }
        insta::assert_snapshot!(format!("baseline_running_{w}x{h}"), t);
    }
}

/// A baseline read not ready while it has its share: the share goes back
/// to the stable at once (the step again without it), as the plan's
/// change, and the plan keeps observing.
#[test]
fn a_baseline_going_unready_with_traffic_gives_its_share_back_to_the_stable() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    let snap = with_baseline(&s, &rev, false);
    let mut snap = snap;
    snap.traffic = s.snapshot.as_ref().unwrap().traffic.clone();
    snap.actual = Some(snap.traffic.clone());
    assert_eq!(snap.traffic.percent_of(&rev), 10);
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(20));
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "{fx:?}");
    assert_eq!(t[0].0, ChangeKind::Plan(0));
    assert_eq!(
        t[0].1,
        TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).unwrap()
    );
    fixtures::land(&mut s, at(21));
    assert!(matches!(
        s.plan.as_ref().unwrap().phase,
        Phase::Observing { step: 0, .. }
    ));
    assert_eq!(s.snapshot.as_ref().unwrap().traffic.percent_of(&rev), 0);
}

#[test]
fn the_judges_words_name_the_baseline_it_compares_with() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    for t in (30..=120).step_by(10) {
        update(&mut s, metrics(t, &rev, 8.0), at(t));
    }
    let ev = s.judge.evidence.clone().expect("judged");
    assert_eq!(ev.outcome, canary::core::judge::Outcome::Fail, "{ev:?}");
    assert!(ev.reason.contains("the baseline's"), "{}", ev.reason);
    assert!(!ev.reason.contains("the stable's"), "{}", ev.reason);
    assert!(
        !ev.errors.note.contains("the stable's"),
        "{}",
        ev.errors.note
    );
}

#[test]
fn an_unready_baseline_gives_back_only_its_own_share_whatever_the_split() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    // Someone takes the canary out (canary 0, baseline 10, stable 90).
    let mut snap = with_baseline(&s, &rev, true);
    snap.traffic = TrafficSplit::new([(rev.as_str(), 10), (STABLE, 90)]).unwrap();
    snap.actual = Some(snap.traffic.clone());
    snap.version = Version("etag-by-hand".into());
    let r = read(&s, snap);
    update(&mut s, r, at(20));
    // The baseline goes unready: its 10 % goes to the stable, and the
    // canary stays at 0 (the step's split, 10/0/90, is not sent again).
    let snap = with_baseline(&s, &rev, false);
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(22));
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "{fx:?}");
    assert_eq!(t[0].1, TrafficSplit::all_to(STABLE), "{}", t[0].1);
}

#[test]
fn an_unready_baseline_left_with_a_share_by_a_change_in_flight_is_pulled_after_it() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    // A change on its way (the operator's shift) when the baseline is
    // read not ready: nothing else is sent meanwhile.
    update(&mut s, key('+'), at(10));
    if matches!(s.mode, Mode::Confirm(_)) {
        update(&mut s, key('y'), at(10));
    }
    assert!(s.change.is_some(), "a change in flight");
    let snap = with_baseline(&s, &rev, false);
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(11));
    assert!(traffic(&fx).is_empty(), "{fx:?}");
    // It lands with the baseline's share in it; the next read takes it back.
    fixtures::land(&mut s, at(12));
    let landed = s.snapshot.as_ref().unwrap().traffic.clone();
    assert!(landed.percent_of(&rev) > 0, "{landed}");
    let snap = with_baseline(&s, &rev, false);
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(14));
    let t = traffic(&fx);
    assert_eq!(t.len(), 1, "{fx:?}");
    assert_eq!(t[0].1.percent_of(&rev), 0, "{}", t[0].1);
    assert_eq!(t[0].1.percent_of(CANARY), landed.percent_of(CANARY));
    assert_eq!(
        t[0].1.percent_of(STABLE),
        landed.percent_of(STABLE) + landed.percent_of(&rev)
    );
}

#[test]
fn a_rollback_or_a_shift_while_the_baseline_deploys_keeps_the_plan_from_starting() {
    for keys in [vec!['r', 'y'], vec!['+']] {
        let mut s = state(JudgeMode::Observe);
        let (id, request) = ask_start(&mut s);
        for k in &keys {
            update(&mut s, key(*k), at(1));
        }
        if matches!(s.mode, Mode::Confirm(_)) {
            update(&mut s, key('y'), at(1));
        }
        if s.change.is_some() {
            fixtures::land(&mut s, at(2));
        }
        let snap = with_baseline(&s, &request.revision, true);
        let fx = deployed(&mut s, id, Ok(snap), 3);
        assert!(traffic(&fx).is_empty(), "{keys:?}: no step: {fx:?}");
        assert!(s.plan.is_none(), "{keys:?}: the plan did not start");
        assert!(
            notes(&fx).iter().any(|n| n.contains("plan not started")),
            "{keys:?}: {:?}",
            notes(&fx)
        );
    }
}

#[test]
fn a_canary_of_the_stables_image_gets_no_baseline() {
    let mut s = state(JudgeMode::Observe);
    let mut snap = s.snapshot.clone().unwrap();
    let image = snap.revision(STABLE).unwrap().image.clone();
    snap.revisions
        .iter_mut()
        .filter(|r| r.name == CANARY)
        .for_each(|r| r.image = image.clone());
    let r = read(&s, snap);
    update(&mut s, r, at(0));
    update(&mut s, key('p'), at(0));
    let fx = update(&mut s, key('y'), at(0));
    assert!(deploys(&fx).is_empty(), "{fx:?}");
    assert!(
        notes(&fx).iter().any(|n| n.contains("twin")),
        "{:?}",
        notes(&fx)
    );
    assert_eq!(traffic(&fx).len(), 1, "the plan starts against the stable");
}

#[test]
fn a_running_plans_baseline_at_zero_is_not_deleted_by_x() {
    let mut s = state(JudgeMode::Observe);
    let rev = start_with_baseline(&mut s);
    // Unready: its share goes back; at 0 % it is still the plan's.
    let snap = with_baseline(&s, &rev, false);
    let r = read(&s, snap);
    update(&mut s, r, at(20));
    fixtures::land(&mut s, at(21));
    assert_eq!(s.snapshot.as_ref().unwrap().traffic.percent_of(&rev), 0);
    let g = canary::core::release::Guard {
        snapshot: s.snapshot.as_ref().unwrap(),
        roles: &s.roles,
        plan_canary: Some(CANARY),
        plan_baseline: Some(&rev),
        deploying: None,
    };
    assert!(g.protects(&rev).is_some(), "the running plan's baseline");
    let g = canary::core::release::Guard {
        plan_baseline: None,
        ..g
    };
    assert!(
        g.protects(&rev).is_none(),
        "a leftover may go, even while a plan (without it) runs"
    );
}

#[test]
fn a_baseline_deployed_but_not_ready_is_deleted_after_the_plan_starts_without_it() {
    let mut s = state(JudgeMode::Observe);
    let (id, request) = ask_start(&mut s);
    let snap = with_baseline(&s, &request.revision, false);
    let fx = deployed(&mut s, id, Ok(snap), 1);
    assert_eq!(traffic(&fx).len(), 1, "the plan starts against the stable");
    assert_eq!(s.plan.as_ref().unwrap().baseline, None);
    let c = s
        .baseline
        .cleanup
        .as_ref()
        .expect("its deletion is planned");
    assert_eq!(c.revision, request.revision);
    // Once the step has landed and nothing is in flight, it goes.
    fixtures::land(&mut s, at(2));
    let snap = with_baseline(&s, &request.revision, false);
    let r = read(&s, snap);
    let fx = update(&mut s, r, at(4));
    let d = deletes(&fx);
    assert_eq!(d.len(), 1, "{fx:?}");
    assert_eq!(d[0].1, vec![request.revision.clone()]);
}

#[test]
fn a_change_declined_while_the_baseline_deploys_cancels_nothing() {
    let mut s = state(JudgeMode::Observe);
    let (id, request) = ask_start(&mut s);
    // `P` asks first; Esc: nothing was sent.
    update(&mut s, key('P'), at(1));
    assert!(matches!(s.mode, Mode::Confirm(_)), "P asks");
    update(&mut s, fixtures::ch('\x1b'), at(1));
    assert!(s.change.is_none());
    let snap = with_baseline(&s, &request.revision, true);
    let fx = deployed(&mut s, id, Ok(snap), 3);
    assert_eq!(traffic(&fx).len(), 1, "the plan starts: {fx:?}");
    assert!(s.plan.is_some());
}
