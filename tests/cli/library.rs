//! The scripting commands (`canary::cli::{status, set, rollback}`) against
//! the fake Cloud Run: the screen's rules, the exit codes, the journal.

use std::path::Path;
use std::time::Duration;

use canary::cli::{self, ChangeOutcome, CliError, CliOptions, Context, StableFrom};
use canary::google::Auth;
use canary::journal::{self, Event, Journal, Who};
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary_fakes::cloud_run::{
    to_revision, FakeCloudRun, RevisionSpec, Route, ServiceRef, DEMO_CANARY, DEMO_OLD, DEMO_STABLE,
};

async fn demo() -> (FakeCloudRun, CloudRun, ServiceRef) {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let mut s =
        CloudRunSettings::new(&at.project, &at.region, &at.service, Auth::None).with_endpoint(url);
    s.poll_initial = Duration::from_millis(20);
    s.poll_max = Duration::from_millis(50);
    (fake, CloudRun::new(s).unwrap(), at)
}

fn who() -> Who {
    Who {
        user: "ops".into(),
        from: None,
    }
}

fn ctx(journal: Option<&mut Journal>) -> Context<'_> {
    let mut c = Context::new(CliOptions::default(), journal);
    c.who = who();
    c
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn patches(fake: &FakeCloudRun) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.route == Route::PatchService)
        .count()
}

fn events(path: &Path) -> Vec<Event> {
    journal::replay(path)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.event)
        .collect()
}

fn share(fake: &FakeCloudRun, at: &ServiceRef, rev: &str) -> i32 {
    fake.service(at)
        .unwrap()
        .traffic
        .iter()
        .filter(|t| t.revision.as_deref() == Some(rev))
        .map(|t| t.percent())
        .sum()
}

#[tokio::test]
async fn status_is_json_for_scripts_and_text_for_people() {
    let (_fake, cr, _at) = demo().await;
    let report = cli::status(&cr, &ctx(None)).await.unwrap();
    assert_eq!(report.stable.as_deref(), Some(DEMO_STABLE));
    assert_eq!(report.stable_from, Some(StableFrom::AllTraffic));
    assert_eq!(report.canary.as_deref(), Some(DEMO_CANARY));
    assert_eq!(report.revisions.len(), 3);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["service"], "emergence-app");
    assert_eq!(json["platform"]["kind"], "cloud-run");
    assert_eq!(json["stable_from"], "all-traffic");
    assert_eq!(json["traffic"][0]["revision"], DEMO_STABLE);
    assert_eq!(json["traffic"][0]["percent"], 100);
    let canary = &json["revisions"][0];
    assert_eq!(canary["name"], DEMO_CANARY);
    assert_eq!(canary["tag"], "canary");
    assert_eq!(
        canary["tag_url"],
        "https://canary---emergence-app-x7k2p9-ew.a.run.app"
    );
    assert_eq!(canary["percent"], 0);
    let text = report.render_text();
    assert!(
        text.starts_with("emergence-app (cloud-run · emergence-469005 · europe-west1)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("traffic  {DEMO_STABLE} 100%")),
        "{text}"
    );
    let canary_line = text.lines().find(|l| l.starts_with(DEMO_CANARY)).unwrap();
    assert!(
        canary_line.contains("canary") && canary_line.ends_with("canary"),
        "{canary_line}"
    );
}

#[tokio::test]
async fn set_needs_yes_then_applies_and_journals_like_the_screen() {
    let (fake, cr, at) = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emergence-app.jsonl");
    let mut j = Journal::open(&path).unwrap();

    // Without --yes: the preview, nothing sent, exit code 1.
    let err = cli::set(&cr, &args(&["canary=10"]), false, &mut ctx(Some(&mut j)))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let CliError::NotConfirmed(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.outcome, ChangeOutcome::NotConfirmed);
    assert!(report.preview[0].starts_with("gcloud run services update-traffic emergence-app"));
    assert!(report.render_text().contains("re-run with --yes"));
    assert!(
        err.to_string().contains(&format!("{DEMO_CANARY}=10")),
        "{err}"
    );
    assert_eq!(patches(&fake), 0);
    assert!(events(&path).is_empty());

    // With --yes: the tag names the canary, the stable takes the rest.
    let report = cli::set(
        &cr,
        &args(&["canary=10"]),
        true,
        &mut ctx(Some(&mut j)).with_reason(Some("phase 1".into())),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, ChangeOutcome::Applied);
    assert_eq!(
        report.after_flag(),
        format!("{DEMO_STABLE}=90,{DEMO_CANARY}=10")
    );
    assert_eq!(
        (
            share(&fake, &at, DEMO_STABLE),
            share(&fake, &at, DEMO_CANARY)
        ),
        (90, 10)
    );
    let ev = events(&path);
    assert_eq!(ev.len(), 2, "{ev:?}");
    match (&ev[0], &ev[1]) {
        (
            Event::TrafficRequested {
                id, kind, reason, ..
            },
            Event::TrafficApplied { id: id2, after, .. },
        ) => {
            assert_eq!(kind, "set split");
            assert_eq!(reason.as_deref(), Some("phase 1"));
            assert_eq!(id, id2);
            assert_eq!(after.percent_of(DEMO_CANARY), 10);
        }
        other => panic!("{other:?}"),
    }
    let rec = &journal::replay(&path).unwrap().records[0];
    assert_eq!(
        (rec.who.user.as_str(), rec.service.as_str()),
        ("ops", "emergence-app")
    );

    // Same split again: nothing to do.
    let again = cli::set(&cr, &args(&["canary=10"]), true, &mut ctx(Some(&mut j)))
        .await
        .unwrap();
    assert_eq!(again.outcome, ChangeOutcome::Unchanged);
    assert_eq!(patches(&fake), 1);
}

#[tokio::test]
async fn bad_usage_is_exit_2_and_guardrails_are_exit_1() {
    let (fake, cr, at) = demo().await;
    for bad in [
        &[][..],
        &["canary"][..],
        &["canary=abc"][..],
        &["nope=10"][..],
        &["canary=120"][..],
        &[DEMO_CANARY, "=10"][..],
    ] {
        let err = cli::set(&cr, &args(bad), true, &mut ctx(None))
            .await
            .unwrap_err();
        assert!(matches!(err, CliError::Usage(_)), "{bad:?}: {err:?}");
        assert_eq!(err.exit_code(), 2);
    }
    fake.add_revision(
        &at,
        &RevisionSpec::new(
            "emergence-app-00044-bad",
            "img:bad",
            Duration::from_secs(60),
        )
        .unready("Container failed to start"),
    )
    .unwrap();
    let err = cli::set(
        &cr,
        &args(&["emergence-app-00044-bad=10"]),
        true,
        &mut ctx(None),
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        matches!(&err, CliError::Refused(m) if m.contains("not ready (Container failed to start)")),
        "{err:?}"
    );
    assert_eq!(patches(&fake), 0);
}

#[tokio::test]
async fn rollback_finds_the_stable_revision_or_refuses_to_guess() {
    let (fake, cr, at) = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut j = Journal::open(&path).unwrap();
    // At 100 % already: nothing to do.
    let r = cli::rollback(&cr, None, true, &mut ctx(Some(&mut j)))
        .await
        .unwrap();
    assert_eq!(r.outcome, ChangeOutcome::Unchanged);

    cli::set(&cr, &args(&["canary=25"]), true, &mut ctx(Some(&mut j)))
        .await
        .unwrap();
    // The journal saw the stable at 100 % in the `before` of that change.
    let r = cli::rollback(&cr, None, true, &mut ctx(Some(&mut j)))
        .await
        .unwrap();
    assert_eq!(r.outcome, ChangeOutcome::Applied);
    assert_eq!(r.stable.as_deref(), Some(DEMO_STABLE));
    assert_eq!(r.stable_from, Some(StableFrom::Journal));
    // Without a journal: the only revision with traffic that is not the canary.
    cli::set(&cr, &args(&["canary=25"]), true, &mut ctx(None))
        .await
        .unwrap();
    let r = cli::rollback(&cr, None, true, &mut ctx(None))
        .await
        .unwrap();
    assert_eq!(r.stable_from, Some(StableFrom::OnlyNonCanary));
    assert_eq!(share(&fake, &at, DEMO_STABLE), 100);
    assert_eq!(share(&fake, &at, DEMO_STABLE), 100);
    assert!(
        matches!(events(&path).last(), Some(Event::TrafficApplied { kind, .. }) if kind == "rollback")
    );

    // Two untagged revisions share the traffic: the journal knows the last
    // revision confirmed at 100 % (the stable, from the rollback above).
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_OLD, 50, None),
            to_revision(DEMO_STABLE, 50, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
        ],
    )
    .unwrap();
    let r = cli::rollback(&cr, None, false, &mut ctx(Some(&mut j)))
        .await
        .unwrap_err();
    let CliError::NotConfirmed(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.stable_from, Some(StableFrom::Journal));
    assert_eq!(r.after_flag(), format!("{DEMO_STABLE}=100"));
    // Without a journal it refuses to guess, and says how to choose.
    let err = cli::rollback(&cr, None, true, &mut ctx(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CliError::Refused(m) if m.contains("--to")),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
    // A pin in the config, or --to (a name or a tag), decides.
    let mut pinned = ctx(None);
    pinned.options.stable_pin = Some(DEMO_OLD.into());
    let r = cli::rollback(&cr, None, true, &mut pinned).await.unwrap();
    assert_eq!(r.stable_from, Some(StableFrom::Pin));
    assert_eq!(share(&fake, &at, DEMO_OLD), 100);
    let r = cli::rollback(&cr, Some("canary"), true, &mut ctx(None))
        .await
        .unwrap();
    assert_eq!(r.after_flag(), format!("{DEMO_CANARY}=100"));
    let err = cli::rollback(&cr, Some("nope"), true, &mut ctx(None))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

#[tokio::test]
async fn failures_are_exit_1_and_journaled() {
    let (fake, cr, _at) = demo().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut j = Journal::open(&path).unwrap();
    fake.fail_next_operation("Revision failed health checks.");
    let err = cli::set(&cr, &args(&["canary=10"]), true, &mut ctx(Some(&mut j)))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().contains("Revision failed health checks."),
        "{err}"
    );
    assert!(
        matches!(events(&path).last(), Some(Event::TrafficFailed { error, .. }) if error.contains("health checks"))
    );

    // A journal that cannot be written: nothing is sent.
    let before = patches(&fake);
    let mut full = Journal::open(Path::new("/dev/full")).unwrap();
    let err = cli::set(&cr, &args(&["canary=20"]), true, &mut ctx(Some(&mut full)))
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::Journal(_)), "{err:?}");
    assert!(err.to_string().contains("nothing was sent"));
    assert_eq!(patches(&fake), before);

    // The platform unreachable.
    fake.stop();
    let err = cli::status(&cr, &ctx(None)).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(matches!(err, CliError::Backend(_)));
}
