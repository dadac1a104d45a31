//! The release in the pure core: `D` (image box, the exact call, `y`), the
//! deploying row, the new revision becoming the canary with its checks, a
//! conflict asked again, `x` and `:prune` with their refusals, read-only,
//! a broken journal and platforms that cannot deploy.

use canary::core::action::{Action, Effect};
use canary::core::error::BackendError;
use canary::core::key::KeyCode;
use canary::core::model::ServiceSnapshot;
use canary::core::preview::WriteApi;
use canary::core::release::{ReleaseEffect, ReleaseEvent, ReleaseOp};
use canary::core::state::{CheckInfo, Mode, Settings, State};
use canary::core::update::update;
use canary_fakes::fixtures::{self, ch, key, revision, t0, CANARY, OLD, STABLE};

/// The demo's shape, on a platform that deploys as gcloud would (the simulator's).
fn fixture() -> ServiceSnapshot {
    let mut snap = fixtures::snapshot();
    snap.write_api = WriteApi::Gcloud {
        project: "demo-project".into(),
        region: "europe-west1".into(),
    };
    snap
}

fn state_with(settings: Settings) -> State {
    let mut s = State::new(settings, fixtures::info(), t0());
    update(&mut s, fixtures::service_loaded(fixture()), t0());
    s
}

fn state() -> State {
    state_with(Settings::default())
}

fn press(s: &mut State, a: Action) -> Vec<Effect> {
    update(s, a, t0())
}

fn type_str(s: &mut State, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(press(s, ch(c)));
    }
    fx
}

fn message(s: &State) -> String {
    s.message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

fn with_checks() -> Settings {
    Settings {
        checks: vec![CheckInfo {
            name: "health".into(),
            kind: "http".into(),
            blocking: true,
        }],
        ..Settings::default()
    }
}

const IMAGE_TAG: &str = "deploy-20261130-090000";
const NEW: &str = "emergence-app-00044-";

/// `D`, the image's tag typed after the prefilled repository, Enter: the
/// confirmation; returns its deploy request's revision name.
fn open_confirm(s: &mut State) -> String {
    press(s, ch('D'));
    let Mode::Input(input) = &s.mode else {
        panic!("D opens the image box, got {}", s.mode.name());
    };
    assert_eq!(
        input.textarea.lines()[0],
        "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:",
        "prefilled with the stable's repository"
    );
    type_str(s, IMAGE_TAG);
    let Mode::Input(input) = &s.mode else {
        panic!("still typing");
    };
    let hint = input.hint.clone().unwrap_or_default();
    assert!(hint.contains("tag canary-20261120"), "{hint}");
    press(s, key(KeyCode::Enter));
    let Mode::Release(c) = &s.mode else {
        panic!("Enter shows the confirmation, got {}", s.mode.name());
    };
    let ReleaseOp::Deploy(r) = &c.op else {
        panic!("a deploy");
    };
    assert!(r.revision.starts_with(NEW), "{}", r.revision);
    assert_eq!(r.tag, "canary-20261120");
    assert!(
        c.preview[0].contains("--no-traffic --tag=canary-20261120"),
        "{:?}",
        c.preview
    );
    assert!(c.notes[0].contains("no traffic"), "{:?}", c.notes);
    r.revision.clone()
}

fn deploy_effect(fx: &[Effect]) -> Option<(u64, String)> {
    fx.iter().find_map(|e| match e {
        Effect::Release(ReleaseEffect::Deploy { id, request, .. }) => {
            Some((*id, request.revision.clone()))
        }
        _ => None,
    })
}

/// The service once the new revision is there (deploying or ready).
fn with_new(name: &str, ready: bool, deploying: bool) -> canary::core::model::ServiceSnapshot {
    let mut snap = fixture();
    let mut r = revision(name, Some("canary-20261120"), 0, ready);
    r.details.deploying = deploying;
    snap.revisions.insert(0, r);
    snap.version = canary::core::model::Version("etag-2".into());
    snap
}

#[test]
fn d_image_y_deploys_and_the_ready_revision_becomes_the_checked_canary() {
    let mut s = state_with(with_checks());
    let name = open_confirm(&mut s);
    // Nothing is sent before `y`.
    let fx = press(&mut s, ch('y'));
    let (id, sent) = deploy_effect(&fx).expect("y sends the deploy");
    assert_eq!(sent, name);
    assert!(matches!(s.mode, Mode::Normal));
    assert!(s.release.deploy.is_some());
    // A second deploy while this one runs is refused.
    press(&mut s, ch('D'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("still running"), "{}", message(&s));
    // The row shows up deploying and is selected.
    press(
        &mut s,
        fixtures::service_loaded(with_new(&name, false, true)),
    );
    assert_eq!(s.selected.as_deref(), Some(name.as_str()));
    // Ready: selected, and the battery runs against it.
    let fx = press(
        &mut s,
        Action::Release(ReleaseEvent::Deployed {
            id,
            result: Ok(with_new(&name, true, false)),
        }),
    );
    assert!(s.release.deploy.is_none());
    assert_eq!(
        s.canary(),
        Some(name.as_str()),
        "the dated tag makes it the canary"
    );
    let run = fx.iter().find_map(|e| match e {
        Effect::RunChecks {
            revision, tag_url, ..
        } => Some((revision.clone(), tag_url.clone())),
        _ => None,
    });
    assert_eq!(
        run,
        Some((
            name.clone(),
            Some("https://canary-20261120---emergence-app-x7k2p9-ew.a.run.app".into())
        ))
    );
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Notify(t) if t.contains("deployed"))));
    assert!(message(&s).contains("is ready at 0 %"), "{}", message(&s));
}

#[test]
fn a_failed_deploy_says_why_and_how_to_clean_up() {
    let mut s = state();
    let name = open_confirm(&mut s);
    let fx = press(&mut s, ch('y'));
    let (id, _) = deploy_effect(&fx).unwrap();
    let fx = press(
        &mut s,
        Action::Release(ReleaseEvent::Deployed {
            id,
            result: Err(BackendError::Failed(
                "the image cannot be pulled (it does not exist, or the service may not read it): Image 'x' not found.".into(),
            )),
        }),
    );
    let m = message(&s);
    assert!(
        m.contains("FAILED") && m.contains("cannot be pulled"),
        "{m}"
    );
    assert!(m.contains("the split is unchanged"), "{m}");
    assert!(m.contains(&name), "{m}");
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Notify(t) if t.contains("FAILED"))));
}

/// A deploy or a deletion whose outcome is not known is never told as a
/// failure (on screen nor to the team): the revision may be there.
#[test]
fn an_unknown_outcome_is_told_as_unknown_not_as_a_failure() {
    let mut s = state();
    open_confirm(&mut s);
    let fx = press(&mut s, ch('y'));
    let (id, _) = deploy_effect(&fx).unwrap();
    let unknown = || BackendError::Unconfirmed {
        message: "HTTP 503; re-reading the service failed too: timed out".into(),
        read_back: None,
    };
    let fx = press(
        &mut s,
        Action::Release(ReleaseEvent::Deployed {
            id,
            result: Err(unknown()),
        }),
    );
    let m = message(&s);
    assert!(m.contains("outcome NOT KNOWN"), "{m}");
    assert!(!m.contains("FAILED"), "{m}");
    let told: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("NOT KNOWN") && !told[0].contains("FAILED"),
        "{told:?}"
    );
    assert!(fx.contains(&Effect::RefreshService));

    s.selected = Some(OLD.into());
    press(&mut s, ch('x'));
    let fx = press(&mut s, ch('y'));
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Release(ReleaseEffect::Delete { id, .. }) => Some(*id),
            _ => None,
        })
        .expect("sent");
    press(
        &mut s,
        Action::Release(ReleaseEvent::Deleted {
            id,
            revision: OLD.into(),
            result: Err(unknown()),
            last: true,
        }),
    );
    let m = message(&s);
    assert!(m.contains(OLD) && m.contains("outcome NOT KNOWN"), "{m}");
    assert!(!m.contains("was NOT deleted"), "{m}");
    assert!(s.release.delete.is_none(), "the deletion is over");
}

#[test]
fn a_concurrent_change_is_read_again_and_asked_again() {
    let mut s = state();
    open_confirm(&mut s);
    // Someone changes the service while the dialog is open: `y` asks again.
    let mut moved = fixture();
    moved.version = canary::core::model::Version("etag-someone".into());
    press(&mut s, fixtures::service_loaded(moved));
    let fx = press(&mut s, ch('y'));
    assert!(deploy_effect(&fx).is_none(), "not sent on a stale version");
    let Mode::Release(c) = &s.mode else {
        panic!("asked again, got {}", s.mode.name());
    };
    assert!(
        c.notes.iter().any(|n| n.contains("someone else changed")),
        "{:?}",
        c.notes
    );
    assert!(c.unprompted);
    // Enter does not answer a question the cockpit opened by itself.
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(deploy_effect(&fx).is_none());
    let fx = press(&mut s, ch('y'));
    let (id, _) = deploy_effect(&fx).expect("sent on the new version");
    // The platform refuses with a conflict: re-read, then asked again.
    let fx = press(
        &mut s,
        Action::Release(ReleaseEvent::Deployed {
            id,
            result: Err(BackendError::Conflict("etag".into())),
        }),
    );
    assert!(fx.contains(&Effect::RefreshService));
    assert!(matches!(s.mode, Mode::Normal));
    press(&mut s, fixtures::service_loaded(fixture()));
    assert!(
        matches!(s.mode, Mode::Release(_)),
        "asked again after the read"
    );
}

#[test]
fn refusals_read_only_journal_plan_and_platforms_that_cannot() {
    let mut s = state_with(Settings {
        read_only: true,
        ..Settings::default()
    });
    press(&mut s, ch('D'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("read-only"), "{}", message(&s));
    press(&mut s, ch('x'));
    assert!(message(&s).contains("read-only"), "{}", message(&s));

    let mut s = state();
    s.journal_broken = Some("/dev/full: no space left on device".into());
    press(&mut s, ch('D'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(
        message(&s).contains("audit journal cannot be written"),
        "{}",
        message(&s)
    );

    let mut s = state();
    let mut haproxy = fixture();
    haproxy.write_api = WriteApi::Haproxy {
        backend: "app".into(),
        weights: Default::default(),
    };
    press(&mut s, fixtures::service_loaded(haproxy));
    press(&mut s, ch('D'));
    assert!(
        message(&s).starts_with("HAProxy cannot deploy"),
        "{}",
        message(&s)
    );

    let mut s = state();
    press(&mut s, ch('p'));
    press(&mut s, ch('y'));
    fixtures::land(&mut s, t0());
    press(&mut s, ch('D'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("a plan is running"), "{}", message(&s));
}

#[test]
fn x_deletes_what_may_go_and_names_why_the_rest_stays() {
    let mut s = state();
    // The stable: refused, with the reason.
    s.selected = Some(STABLE.into());
    press(&mut s, ch('x'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(
        message(&s).contains("serves traffic (100 %)"),
        "{}",
        message(&s)
    );
    // The tagged canary: refused.
    s.selected = Some(CANARY.into());
    press(&mut s, ch('x'));
    assert!(
        message(&s).contains("carries the tag `canary`"),
        "{}",
        message(&s)
    );
    // The old one: asked, with the exact call; `y` sends it.
    s.selected = Some(OLD.into());
    press(&mut s, ch('x'));
    let Mode::Release(c) = &s.mode else {
        panic!("confirmation, got {}", s.mode.name());
    };
    assert_eq!(c.op, ReleaseOp::Delete(vec![OLD.into()]));
    let fx = press(&mut s, ch('y'));
    let id = fx
        .iter()
        .find_map(|e| match e {
            Effect::Release(ReleaseEffect::Delete { id, revisions, .. }) => {
                assert_eq!(revisions, &vec![OLD.to_string()]);
                Some(*id)
            }
            _ => None,
        })
        .expect("sent");
    let mut after = fixture();
    after.revisions.retain(|r| r.name != OLD);
    let fx = press(
        &mut s,
        Action::Release(ReleaseEvent::Deleted {
            id,
            revision: OLD.into(),
            result: Ok(after),
            last: true,
        }),
    );
    assert!(s.revisions().iter().all(|r| r.name != OLD));
    assert!(message(&s).contains("done"), "{}", message(&s));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Notify(t) if t.contains("1 of 1"))));
}

#[test]
fn prune_keeps_the_newest_and_what_is_in_use() {
    let mut s = state();
    let mut snap = fixture();
    for (i, n) in ["emergence-app-00040-aaa", "emergence-app-00039-bbb"]
        .into_iter()
        .enumerate()
    {
        snap.revisions
            .push(revision(n, None, 20_000 + i as i64, true));
    }
    press(&mut s, fixtures::service_loaded(snap));
    press(&mut s, ch(':'));
    type_str(&mut s, "prune 2");
    press(&mut s, key(KeyCode::Enter));
    let Mode::Release(c) = &s.mode else {
        panic!("confirmation, got {} ({})", s.mode.name(), message(&s));
    };
    // Kept: canary (tag, newest), stable (traffic, newest); the rest goes.
    assert_eq!(
        c.op,
        ReleaseOp::Prune(vec![
            OLD.into(),
            "emergence-app-00040-aaa".into(),
            "emergence-app-00039-bbb".into()
        ])
    );
    assert!(
        c.notes.iter().any(|n| n.contains("serves traffic")),
        "{:?}",
        c.notes
    );
    press(&mut s, ch('n'));
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("nothing was changed"));
}

#[test]
fn an_opt_in_prune_follows_a_promotion() {
    use canary::core::plan::{OnFailure, PlanMode, PlanSpec, PlanStep};
    use canary::core::release::ReleaseSettings;
    for opt_in in [false, true] {
        let mut s = state_with(Settings {
            plan: PlanSpec {
                steps: vec![PlanStep {
                    percent: 100,
                    observe: std::time::Duration::ZERO,
                }],
                mode: PlanMode::Manual,
                on_failure: OnFailure::Rollback,
            },
            release: ReleaseSettings {
                keep: 1,
                prune_after_promote: opt_in,
                ..ReleaseSettings::default()
            },
            ..Settings::default()
        });
        s.selected = Some(CANARY.into());
        press(&mut s, ch('p'));
        press(&mut s, ch('y'));
        let fx = fixtures::land(&mut s, t0());
        assert_eq!(
            s.plan.as_ref().map(|p| p.phase.clone()),
            Some(canary::core::plan::Phase::Promoted),
            "{}",
            message(&s)
        );
        let pruned = fx.iter().find_map(|e| match e {
            Effect::Release(ReleaseEffect::Delete {
                revisions, prune, ..
            }) => Some((revisions.clone(), *prune)),
            _ => None,
        });
        if opt_in {
            // Kept: the new stable (all traffic, the newest) and the old stable.
            assert_eq!(
                pruned,
                Some((vec![OLD.to_string()], true)),
                "{}",
                message(&s)
            );
        } else {
            assert_eq!(pruned, None);
        }
    }
}

/// A battery whose one blocking check (a metric) found no data.
fn no_data_battery(revision: &str) -> canary::core::state::Battery {
    use canary::core::state::{Battery, CheckResult, CheckRow, CheckStatus};
    Battery {
        id: 1,
        revision: revision.into(),
        started: t0(),
        rows: vec![CheckRow {
            info: CheckInfo {
                name: "5xx below 1 %".into(),
                kind: "query".into(),
                blocking: true,
            },
            status: CheckStatus::Fail,
            started: Some(t0()),
            result: Some(CheckResult {
                status: CheckStatus::Fail,
                measured: Some(canary::core::state::NO_DATA.into()),
                expected: Some("≤ 1.00".into()),
                reason: "no 5xx % data in the last 1m".into(),
                duration: std::time::Duration::from_secs(5),
                attempts: 3,
            }),
        }],
        finished: Some(t0()),
    }
}

#[test]
fn a_metric_check_without_data_before_any_traffic_is_no_red_gate() {
    use canary::core::model::TrafficSplit;
    use canary::core::plan::Verdict;
    // The canary at 0 %: the check's "no data" is no verdict on it.
    let mut snap = fixtures::snapshot();
    snap.traffic = TrafficSplit::all_to(STABLE);
    snap.actual = Some(snap.traffic.clone());
    let mut s = fixtures::state();
    update(&mut s, fixtures::service_loaded(snap), t0());
    let canary = s.canary().expect("a canary").to_string();
    s.battery = Some(no_data_battery(&canary));
    update(&mut s, Action::Tick, t0());
    assert!(!matches!(s.verdict, Verdict::Red(_)), "{:?}", s.verdict);
    // With traffic, no data on a blocking check is red, as before.
    let mut snap = fixtures::snapshot();
    snap.traffic = TrafficSplit::new([(CANARY, 10), (STABLE, 90)]).expect("split");
    snap.actual = Some(snap.traffic.clone());
    let mut s = fixtures::state();
    update(&mut s, fixtures::service_loaded(snap), t0());
    let canary = s.canary().expect("a canary").to_string();
    s.battery = Some(no_data_battery(&canary));
    update(&mut s, Action::Tick, t0());
    assert!(matches!(s.verdict, Verdict::Red(_)), "{:?}", s.verdict);
}
