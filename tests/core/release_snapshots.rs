//! The release's screens, drawn into ratatui's `TestBackend` at 80x24 and
//! 120x40 and compared as text with insta: the deploy box, the deploy
//! confirmation with the exact calls, the deploying row with its
//! conditions, a failed deploy, the inspect view with the environment
//! (a secret by name only), resources and the diff against the stable, and
//! the prune confirmation. States are built by sending keys and actions
//! through `update`; the platform's previews are given as Cloud Run's are.
//! Write new snapshots with `INSTA_UPDATE=always cargo test --test
//! release_snapshots`, then read every `.snap` before keeping it.

use canary::core::action::Action;
use canary::core::details::{Condition, ConditionState, EnvValue, EnvVar, RevisionDetails};
use canary::core::key::KeyCode;
use canary::core::model::{Revision, ServiceSnapshot};
use canary::core::preview::{WriteApi, TYPE_REVISION};
use canary::core::release::ReleaseOp;
use canary::core::release_call::{CloudRunRelease, Target};
use canary::core::state::State;
use canary::core::update::update;
use canary_fakes::fixtures::{self, key, revision, t0, CANARY, STABLE};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn press(s: &mut State, code: KeyCode) {
    update(s, key(code), s.now);
}

fn type_str(s: &mut State, text: &str) {
    for c in text.chars() {
        press(s, KeyCode::Char(c));
    }
}

pub(crate) fn text(state: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| canary::ui::render(f, state)).expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(state, w, h));
    }
}

fn details(env: Vec<EnvVar>, memory: &str, conditions: Vec<Condition>) -> RevisionDetails {
    RevisionDetails {
        digest: Some(
            "sha256:9f2c4e1a7b3d5f60e8a1c2b4d6f80e1a3c5b7d9f1e2a4c6b8d0f2e4a6c8b0d2f".into(),
        ),
        creator: Some("alice@example.com".into()),
        env,
        limits: vec![
            ("cpu".into(), "1000m".into()),
            ("memory".into(), memory.into()),
        ],
        min_instances: None,
        max_instances: Some(10),
        concurrency: Some(80),
        port: Some(8080),
        conditions,
        deploying: false,
        platform: Vec::new(),
    }
}

fn cond(kind: &str, state: ConditionState, message: Option<&str>) -> Condition {
    Condition {
        kind: kind.into(),
        state,
        message: message.map(Into::into),
        reason: None,
        since: None,
    }
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: EnvValue::Plain(value.into()),
    }
}

fn secret() -> EnvVar {
    EnvVar {
        name: "DB_PASSWORD".into(),
        value: EnvValue::Secret {
            secret: "db-password".into(),
            version: "3".into(),
        },
    }
}

/// The demo's shape with what Cloud Run reports of each revision.
fn described() -> ServiceSnapshot {
    let mut snap = fixtures::snapshot();
    let ok = |k: &str| cond(k, ConditionState::Ok, None);
    for r in &mut snap.revisions {
        r.details = details(
            vec![plain("LOG_LEVEL", "info"), secret()],
            "512Mi",
            vec![ok("ContainerReady"), ok("ContainerHealthy"), ok("Ready")],
        );
    }
    snap.revisions[0].details.env = vec![
        plain("LOG_LEVEL", "debug"),
        plain("FEATURE_X", "on"),
        secret(),
    ];
    snap.revisions[0].details.limits[1].1 = "1Gi".into();
    // Cloud Run's, as read: what the deploy's and the deletion's calls start from.
    let service_url = "https://run.googleapis.com/v2/projects/emergence-469005/locations/europe-west1/services/emergence-app".to_string();
    let target = |rev: &str, percent: i32, tag: Option<&str>| Target {
        kind: TYPE_REVISION.into(),
        revision: Some(rev.into()),
        percent,
        tag: tag.map(Into::into),
    };
    snap.write_api = WriteApi::CloudRun {
        project: "emergence-469005".into(),
        region: "europe-west1".into(),
        patch_url: format!("{service_url}?updateMask=traffic"),
        tags: vec![],
        etag: Some("etag-1".into()),
        release: Some(Box::new(CloudRunRelease {
            service_url,
            template: serde_json::json!({
                "containers": [{"image": "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261117-100000",
                                "ports": [{"containerPort": 8080}]}],
                "serviceAccount": "emergence-app@emergence-469005.iam.gserviceaccount.com"
            }),
            traffic: vec![target(STABLE, 100, None), target(CANARY, 0, Some("canary"))],
            latest_ready: Some(CANARY.into()),
        })),
    };
    snap
}

fn state() -> State {
    let mut s = fixtures::state();
    update(&mut s, fixtures::service_loaded(described()), t0());
    s
}

fn deploying(name: &str, failed: bool) -> Revision {
    let mut r = revision(name, Some("canary-20261120"), 0, false);
    r.details = details(
        vec![plain("LOG_LEVEL", "info"), secret()],
        "512Mi",
        if failed {
            vec![
                Condition {
                    reason: Some("CONTAINER_MISSING".into()),
                    ..cond(
                        "ContainerReady",
                        ConditionState::Failed,
                        Some("Image 'europe-west1-docker.pkg.dev/emergence-469005/app/emergence:bad-pull' not found."),
                    )
                },
                cond("ContainerHealthy", ConditionState::Pending, None),
                cond("Ready", ConditionState::Failed, Some("Revision is not ready and cannot serve traffic.")),
            ]
        } else {
            vec![
                cond("ContainerReady", ConditionState::Ok, None),
                cond(
                    "ContainerHealthy",
                    ConditionState::Pending,
                    Some("Starting the container; waiting for it to listen on port 8080."),
                ),
                cond("Ready", ConditionState::Pending, None),
            ]
        },
    );
    r.details.deploying = !failed;
    r.status_message = Some(if failed {
        "the image cannot be pulled (it does not exist, or the service may not read it): Image 'europe-west1-docker.pkg.dev/emergence-469005/app/emergence:bad-pull' not found.".into()
    } else {
        "deploying: image import ✓ · container healthy … · ready …".into()
    });
    r
}

#[test]
fn deploy_box_confirmation_and_progress() {
    let mut s = state();
    press(&mut s, KeyCode::Char('D'));
    type_str(&mut s, "deploy-20261120-100000");
    snap("deploy_box", &s);
    press(&mut s, KeyCode::Enter);
    snap("deploy_confirm", &s);
    let name = match &s.mode {
        canary::core::state::Mode::Release(c) => match &c.op {
            ReleaseOp::Deploy(d) => d.revision.clone(),
            _ => unreachable!("a deploy"),
        },
        other => panic!("confirmation, got {}", other.name()),
    };
    press(&mut s, KeyCode::Char('y'));
    let mut snap_deploying = described();
    snap_deploying.revisions.insert(0, deploying(&name, false));
    update(&mut s, fixtures::service_loaded(snap_deploying), t0());
    update(&mut s, Action::Tick, t0() + chrono::Duration::seconds(2));
    snap("deploying", &s);
}

#[test]
fn a_failed_deploy_on_its_row() {
    let mut s = state();
    let mut snap_failed = described();
    snap_failed
        .revisions
        .insert(0, deploying("emergence-app-00044-zaq", true));
    update(&mut s, fixtures::service_loaded(snap_failed), t0());
    s.selected = Some("emergence-app-00044-zaq".into());
    snap("deploy_failed", &s);
}

#[test]
fn inspect_shows_env_by_name_resources_and_the_diff() {
    let mut s = state();
    s.selected = Some(CANARY.into());
    press(&mut s, KeyCode::Enter);
    snap("inspect", &s);
    let t = text(&s, 120, 40);
    assert!(
        t.contains("secret db-password (version 3; value not shown)"),
        "{t}"
    );
    assert!(t.contains("env added    FEATURE_X"), "{t}");
    assert!(t.contains("memory limit 512Mi → 1Gi"), "{t}");
    assert!(t.contains(&format!("Against the stable {STABLE}")), "{t}");
}

#[test]
fn prune_confirmation_names_what_it_keeps_and_why() {
    let mut s = state();
    press(&mut s, KeyCode::Char(':'));
    type_str(&mut s, "prune 1");
    press(&mut s, KeyCode::Enter);
    snap("prune_confirm", &s);
}
