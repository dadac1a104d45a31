//! The Cloud Run platform against the fake Admin API v2 on 127.0.0.1:0:
//! reading, changing traffic, keeping tags, conflicts and faults.

use std::sync::Arc;
use std::time::Duration;

use canary::core::error::{BackendError, Progress};
use canary::core::model::{ServiceSnapshot, TrafficSplit, Version};
use canary::google::{Auth, GcloudToken, RetryPolicy};
use canary::platform::cloud_run::api::{TYPE_LATEST, TYPE_REVISION};
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::Platform;
use canary_fakes::cloud_run::{
    to_latest, to_revision, FakeCloudRun, Fault, RevisionSpec, Route, ServiceRef, DEMO_CANARY,
    DEMO_OLD, DEMO_STABLE,
};
use chrono::Utc;

const CANARY_URL: &str = "https://canary---emergence-app-x7k2p9-ew.a.run.app";
const NEWEST: &str = "emergence-app-00044-bad";

/// Settings for a fake on loopback: short polls, timeouts and retries (the
/// other modules start from these and change what they test).
pub(crate) fn settings(url: &str, at: &ServiceRef) -> CloudRunSettings {
    let mut s =
        CloudRunSettings::new(&at.project, &at.region, &at.service, Auth::None).with_endpoint(url);
    s.poll_initial = Duration::from_millis(20);
    s.poll_max = Duration::from_millis(100);
    s.operation_timeout = Duration::from_secs(10);
    s.request_timeout = Duration::from_secs(5);
    s.read_timeout = Duration::from_secs(5);
    s.retry = RetryPolicy {
        attempts: 5,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        budget: Duration::from_secs(5),
    };
    s
}

async fn demo() -> (FakeCloudRun, CloudRun, ServiceRef) {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let cr = CloudRun::new(settings(&url, &at)).unwrap();
    (fake, cr, at)
}

fn split(p: &[(&str, u32)]) -> TrafficSplit {
    TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).unwrap()
}

fn patches(fake: &FakeCloudRun) -> Vec<serde_json::Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

fn tag_url(s: &ServiceSnapshot, rev: &str) -> Option<String> {
    s.revision(rev).unwrap().tag_url.clone()
}

#[tokio::test]
async fn snapshot_reads_everything() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.add_revision(
        &at,
        &RevisionSpec::new(NEWEST, "img:bad", Duration::from_secs(300))
            .unready("Container failed to start on port 8080"),
    )
    .unwrap();
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_STABLE, 90, None),
            to_latest(10, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
            to_revision(DEMO_OLD, 0, Some("old")),
        ],
    )
    .unwrap();
    let cr = CloudRun::new(settings(&url, &at)).unwrap();
    let s = cr.snapshot().await.unwrap();

    assert_eq!(s.service, "emergence-app");
    assert_eq!(
        s.url.as_deref(),
        Some("https://emergence-app-x7k2p9-ew.a.run.app")
    );
    let names: Vec<&str> = s.revisions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [NEWEST, DEMO_CANARY, DEMO_STABLE, DEMO_OLD]);
    // LATEST resolves to the latest *ready* revision, not the newest one.
    assert_eq!(s.traffic, split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]));
    assert_eq!(s.actual, Some(s.traffic.clone()));
    let bad = s.revision(NEWEST).unwrap();
    assert!(!bad.ready);
    assert_eq!(
        bad.status_message.as_deref(),
        Some("Container failed to start on port 8080")
    );
    let canary = s.revision(DEMO_CANARY).unwrap();
    assert!(canary.ready && canary.status_message.is_none());
    assert_eq!(canary.tag.as_deref(), Some("canary"));
    assert_eq!(canary.tag_url.as_deref(), Some(CANARY_URL));
    assert!(canary.image.ends_with("emergence:deploy-20261120-101500"));
    let age = Utc::now() - canary.created;
    assert!(age > chrono::Duration::minutes(19) && age < chrono::Duration::minutes(21));
    assert_eq!(s.revision(DEMO_OLD).unwrap().tag.as_deref(), Some("old"));
    assert_eq!(s.revision(DEMO_STABLE).unwrap().tag, None);
    assert_eq!(
        s.version.0,
        fake.service(&at).unwrap().etag.unwrap(),
        "version is the etag"
    );
    assert!(!s.reconciling);
    assert_eq!(s.message, None);
    let info = cr.info();
    assert_eq!(
        (info.kind.as_str(), info.location.as_str()),
        ("cloud-run", "emergence-469005 · europe-west1")
    );
}

#[tokio::test]
async fn set_traffic_polls_a_slow_operation_and_keeps_tags() {
    let (fake, cr, _at) = demo().await;
    fake.set_operation_delay(Duration::from_millis(1200));
    let before = cr.snapshot().await.unwrap();
    let cr = Arc::new(cr);
    let target = split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]);
    let task = {
        let cr = Arc::clone(&cr);
        let (t, v) = (target.clone(), before.version.clone());
        tokio::spawn(async move { cr.set_traffic(&t, &v).await })
    };
    // While the operation runs, the change shows as pending.
    let mut pending = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = cr.snapshot().await.unwrap();
        if s.reconciling {
            pending = Some(s);
            break;
        }
    }
    let pending = pending.expect("a pending state was observed");
    assert_eq!(pending.traffic, target);
    assert_eq!(pending.actual, Some(TrafficSplit::all_to(DEMO_STABLE)));
    assert_ne!(pending.version, before.version);

    let after = task.await.unwrap().unwrap();
    assert!(!after.reconciling);
    assert_eq!(after.traffic, target);
    assert_eq!(after.actual, Some(target.clone()));
    assert_eq!(tag_url(&after, DEMO_CANARY).as_deref(), Some(CANARY_URL));

    let reqs = fake.requests();
    let patch = reqs.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(patch.query, "updateMask=traffic");
    let polls = reqs
        .iter()
        .filter(|r| r.route == Route::GetOperation)
        .count();
    assert!(polls >= 2, "operation polled {polls} times");
    let body = &patches(&fake)[0];
    assert_eq!(body["etag"], serde_json::json!(before.version.0));
    assert_eq!(
        body["traffic"],
        serde_json::json!([
            {"type": TYPE_REVISION, "revision": DEMO_STABLE, "percent": 90},
            {"type": TYPE_REVISION, "revision": DEMO_CANARY, "percent": 10},
            {"type": TYPE_REVISION, "revision": DEMO_CANARY, "percent": 0, "tag": "canary"},
        ])
    );
}

#[tokio::test]
async fn every_tag_survives_and_rollback_pins_stable_by_name() {
    let (fake, cr, at) = demo().await;
    // Traffic follows LATEST (the canary); a second tag follows LATEST too.
    fake.change_traffic(
        &at,
        vec![
            to_latest(100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
            to_latest(0, Some("head")),
            to_revision(DEMO_OLD, 0, Some("old")),
        ],
    )
    .unwrap();
    let s = cr.snapshot().await.unwrap();
    assert_eq!(s.traffic, TrafficSplit::all_to(DEMO_CANARY));

    let s = cr
        .set_traffic(&split(&[(DEMO_CANARY, 50), (DEMO_STABLE, 50)]), &s.version)
        .await
        .unwrap();
    let s = cr
        .set_traffic(&TrafficSplit::all_to(DEMO_STABLE), &s.version)
        .await
        .unwrap();
    assert_eq!(s.traffic, TrafficSplit::all_to(DEMO_STABLE));
    assert_eq!(s.actual, Some(TrafficSplit::all_to(DEMO_STABLE)));
    // The canary at 0 % keeps its tag and URL; so does the old revision.
    assert_eq!(tag_url(&s, DEMO_CANARY).as_deref(), Some(CANARY_URL));
    assert_eq!(
        tag_url(&s, DEMO_OLD).as_deref(),
        Some("https://old---emergence-app-x7k2p9-ew.a.run.app")
    );
    let svc = fake.service(&at).unwrap();
    let mut tags: Vec<(String, Option<String>)> = svc
        .traffic
        .iter()
        .filter_map(|t| Some((t.tag.clone()?, t.kind.clone())))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("canary".to_string(), Some(TYPE_REVISION.to_string())),
            ("head".to_string(), Some(TYPE_LATEST.to_string())),
            ("old".to_string(), Some(TYPE_REVISION.to_string())),
        ]
    );
    // Rollback: 100 % pinned to the stable revision by name, no LATEST share.
    let with_share: Vec<_> = svc.traffic.iter().filter(|t| t.percent() > 0).collect();
    assert_eq!(with_share.len(), 1);
    assert_eq!(with_share[0].kind.as_deref(), Some(TYPE_REVISION));
    assert_eq!(with_share[0].revision.as_deref(), Some(DEMO_STABLE));
    assert_eq!(with_share[0].percent(), 100);
}

#[tokio::test]
async fn a_change_behind_our_back_is_refused_by_its_etag_and_not_overwritten() {
    let (fake, cr, at) = demo().await;
    let s = cr.snapshot().await.unwrap();
    let before = fake.service(&at).unwrap().etag;
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_OLD, 100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
        ],
    )
    .unwrap();
    // The last read is still the version the operator saw: the PATCH goes out
    // without a second read, with that etag, and the API refuses it.
    let err = cr
        .set_traffic(&split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]), &s.version)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m) if m.contains("409")),
        "{err:?}"
    );
    let sent = patches(&fake);
    assert_eq!(sent.len(), 1, "one PATCH, not retried");
    assert_eq!(sent[0]["etag"].as_str(), before.as_deref(), "the etag read");
    let now = cr.snapshot().await.unwrap();
    assert_eq!(now.traffic, TrafficSplit::all_to(DEMO_OLD));
}

#[tokio::test]
async fn a_change_seen_by_a_later_read_sends_nothing() {
    let (fake, cr, at) = demo().await;
    let s = cr.snapshot().await.unwrap();
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_OLD, 100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
        ],
    )
    .unwrap();
    // A poll read the new version before the operator's change went out.
    cr.snapshot().await.unwrap();
    let err = cr
        .set_traffic(&split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]), &s.version)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m) if m.contains("nothing was sent")),
        "{err:?}"
    );
    assert!(patches(&fake).is_empty(), "no PATCH after a stale read");
    assert_eq!(
        cr.snapshot().await.unwrap().traffic,
        TrafficSplit::all_to(DEMO_OLD)
    );
}

#[tokio::test]
async fn a_concurrent_change_gets_409_and_is_not_overwritten() {
    let (fake, cr, at) = demo().await;
    let s = cr.snapshot().await.unwrap();
    // Someone else changes the service between our GET and our PATCH.
    fake.inject(
        Route::PatchService,
        Fault::ConcurrentChange(vec![
            to_revision(DEMO_OLD, 100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
        ]),
        1,
    );
    let err = cr
        .set_traffic(&split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]), &s.version)
        .await
        .unwrap_err();
    match &err {
        BackendError::Conflict(m) => assert!(m.contains("409 ABORTED"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(patches(&fake).len(), 1, "the PATCH is not retried");
    let svc = fake.service(&at).unwrap();
    assert_eq!(svc.traffic[0].revision.as_deref(), Some(DEMO_OLD));
    assert_eq!(
        cr.snapshot().await.unwrap().traffic,
        TrafficSplit::all_to(DEMO_OLD)
    );
}

#[tokio::test]
async fn api_errors_are_classified() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let mut once = settings(&url, &at);
    once.retry = RetryPolicy::none();
    let cr = CloudRun::new(once).unwrap();
    fake.inject(Route::GetService, Fault::Status(500), 1);
    let err = cr.snapshot().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    fake.inject(
        Route::ListRevisions,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    match cr.snapshot().await.unwrap_err() {
        BackendError::Unavailable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }

    fake.inject(Route::GetService, Fault::MalformedJson, 1);
    match cr.snapshot().await.unwrap_err() {
        BackendError::Other(m) => {
            assert!(m.contains("malformed response"), "{m}");
            assert!(m.contains("\"traffic\": [{\"revision\":"), "{m}");
        }
        other => panic!("expected Other, got {other:?}"),
    }

    fake.inject(Route::GetService, Fault::Status(403), 1);
    match cr.snapshot().await.unwrap_err() {
        BackendError::Auth(m) => {
            assert!(m.contains("gcloud auth application-default login"), "{m}");
            assert!(m.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{m}");
            assert!(m.contains("run.services.update"), "{m}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }

    let missing = ServiceRef::new(&at.project, "us-central1", "nope");
    let other = CloudRun::new(settings(&fake.base_url(), &missing)).unwrap();
    fake.clear_requests();
    match other.snapshot().await.unwrap_err() {
        BackendError::NotFound(m) => {
            assert!(
                m.contains("service nope in project emergence-469005, region us-central1"),
                "{m}"
            );
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    let gets = fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::GetService)
        .count();
    assert_eq!(gets, 1, "a 404 is not retried");
    cr.snapshot().await.unwrap();
}

#[tokio::test]
async fn tokens_are_sent_and_a_refused_one_is_explained() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.require_token(Some("ya29.good"));
    let mut ok = settings(&url, &at);
    ok.auth = Auth::static_token("ya29.good");
    CloudRun::new(ok).unwrap().snapshot().await.unwrap();
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer ya29.good")));

    let mut bad = settings(&url, &at);
    bad.auth = Auth::static_token("ya29.stale");
    let err = CloudRun::new(bad).unwrap().snapshot().await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Auth(m) if m.contains("401 UNAUTHENTICATED") && !m.contains("ya29")),
        "{err:?}"
    );

    // `gcloud auth print-access-token` (here a stand-in script).
    let mut gcloud = settings(&url, &at);
    gcloud.auth = Auth::Token(Arc::new(GcloudToken::with_program(
        "sh",
        ["-c", "echo ya29.good"],
    )));
    CloudRun::new(gcloud).unwrap().snapshot().await.unwrap();
}

#[tokio::test]
async fn an_operation_that_fails_is_reported_with_its_message() {
    let (fake, cr, _at) = demo().await;
    fake.set_operation_delay(Duration::from_millis(100));
    fake.fail_next_operation("Revision 'emergence-app-00043-kaw' failed health checks.");
    let s = cr.snapshot().await.unwrap();
    let target = split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]);
    let err = cr.set_traffic(&target, &s.version).await.unwrap_err();
    assert_eq!(
        err,
        BackendError::Failed("Revision 'emergence-app-00043-kaw' failed health checks.".into())
    );
    // The split stays as the platform reports it: asked for, not serving.
    let s = cr.snapshot().await.unwrap();
    assert_eq!(s.traffic, target);
    assert_eq!(s.actual, Some(TrafficSplit::all_to(DEMO_STABLE)));
    assert!(!s.reconciling);
    assert_eq!(
        s.message.as_deref(),
        Some("Revision 'emergence-app-00043-kaw' failed health checks.")
    );
}

#[tokio::test]
async fn an_unready_revision_cannot_take_traffic() {
    let (fake, cr, at) = demo().await;
    fake.add_revision(
        &at,
        &RevisionSpec::new(NEWEST, "img:bad", Duration::from_secs(60)).unready("boom"),
    )
    .unwrap();
    let s = cr.snapshot().await.unwrap();
    let err = cr
        .set_traffic(&split(&[(DEMO_STABLE, 90), (NEWEST, 10)]), &s.version)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("not ready")),
        "{err:?}"
    );
    let err = cr
        .set_traffic(
            &split(&[(DEMO_STABLE, 90), ("no-such-rev", 10)]),
            &cr.snapshot().await.unwrap().version,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("does not exist")),
        "{err:?}"
    );
}

#[tokio::test]
async fn transient_failures_while_polling_and_on_the_patch_are_ridden_out() {
    let (fake, cr, at) = demo().await;
    let notes = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let notes = Arc::clone(&notes);
        cr.observe_retries(Arc::new(move |r| notes.lock().unwrap().push(r.clone())));
    }
    fake.set_operation_delay(Duration::from_millis(200));
    fake.inject(Route::GetOperation, Fault::Status(503), 2);
    let s = cr.snapshot().await.unwrap();
    let target = split(&[(DEMO_STABLE, 75), (DEMO_CANARY, 25)]);
    let s = cr.set_traffic(&target, &s.version).await.unwrap();
    assert_eq!(s.actual, Some(target));

    // A 500 on the PATCH: re-read (unchanged: not applied), sent again with
    // the same etag, applied once.
    fake.inject(Route::PatchService, Fault::Status(500), 1);
    let s = cr
        .set_traffic(&TrafficSplit::all_to(DEMO_STABLE), &s.version)
        .await
        .unwrap();
    assert_eq!(s.actual, Some(TrafficSplit::all_to(DEMO_STABLE)));
    let sent = patches(&fake);
    assert_eq!(sent.len(), 3, "one PATCH, then two for the retried change");
    assert_eq!(
        sent[1]["etag"], sent[2]["etag"],
        "the retry carries the same etag"
    );
    let notes = notes.lock().unwrap().clone();
    assert!(
        notes.iter().any(|n| matches!(n, Progress::Retrying(r)
            if r.call.contains("changing the traffic") && r.attempt == 2 && r.of == 5)),
        "{notes:?}"
    );
    assert_eq!(
        fake.service(&at).unwrap().traffic.len(),
        2,
        "the tag survives the retry"
    );
}

#[tokio::test]
async fn an_operation_that_never_finishes_times_out() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.set_operation_delay(Duration::from_secs(30));
    let mut st = settings(&url, &at);
    st.operation_timeout = Duration::from_millis(500);
    let cr = CloudRun::new(st).unwrap();
    let s = cr.snapshot().await.unwrap();
    // The PATCH was accepted, the operation never says done: the service is
    // read back, shows the change asked for, still converging.
    let after = cr
        .set_traffic(&TrafficSplit::all_to(DEMO_CANARY), &s.version)
        .await
        .unwrap();
    assert_eq!(after.traffic, TrafficSplit::all_to(DEMO_CANARY));
    assert!(after.reconciling, "shown pending, not done");
}

#[tokio::test]
async fn a_thousand_revisions_over_many_pages() {
    let (fake, cr, at) = demo().await;
    for i in 0..1000u64 {
        let name = format!("emergence-app-{:05}-gen", 100 + i);
        fake.add_revision(
            &at,
            &RevisionSpec::new(name, "img", Duration::from_secs(10 * 86_400 + 1000 - i)),
        )
        .unwrap();
    }
    fake.clear_requests();
    let s = cr.snapshot().await.unwrap();
    assert_eq!(s.revisions.len(), 1003);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::ListRevisions)
        .count();
    assert_eq!(pages, 11, "100 per page");
    assert_eq!(s.revisions[0].name, DEMO_CANARY);
    assert!(s.revisions.windows(2).all(|w| w[0].created >= w[1].created));
    assert_eq!(s.revisions[1002].name, "emergence-app-00100-gen");
}

#[tokio::test]
async fn the_fake_goes_away_and_comes_back() {
    let (fake, cr, _at) = demo().await;
    cr.snapshot().await.unwrap();
    fake.stop();
    let err = cr.snapshot().await.unwrap_err();
    match &err {
        BackendError::Unavailable { message, .. } => {
            assert!(message.contains(&fake.base_url()), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    fake.restart().unwrap();
    let s = cr.snapshot().await.unwrap();
    assert_eq!(s.traffic, TrafficSplit::all_to(DEMO_STABLE));
}

#[tokio::test]
async fn preview_shows_gcloud_and_the_exact_patch() {
    let (fake, cr, _at) = demo().await;
    let target = split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]);
    let s = cr.snapshot().await.unwrap();
    let lines = canary::core::preview::preview(&s, &target);
    assert_eq!(
        lines[0],
        format!("gcloud run services update-traffic emergence-app --to-revisions={DEMO_STABLE}=90,{DEMO_CANARY}=10 --region=europe-west1 --project=emergence-469005")
    );
    assert_eq!(
        lines[1],
        format!(
            "PATCH {}/v2/projects/emergence-469005/locations/europe-west1/services/emergence-app?updateMask=traffic",
            fake.base_url()
        )
    );
    cr.set_traffic(&target, &s.version).await.unwrap();
    let sent = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(lines[2], sent.body, "the preview is exactly what was sent");
    assert!(sent.body.contains("\"tag\":\"canary\""));
}

#[tokio::test]
async fn an_empty_version_never_matches() {
    let (_fake, cr, _at) = demo().await;
    let err = cr
        .set_traffic(&TrafficSplit::all_to(DEMO_CANARY), &Version::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Conflict(_)));
}

#[tokio::test]
async fn set_traffic_waits_until_the_status_catches_up() {
    let (fake, cr, _at) = demo().await;
    fake.set_operation_delay(Duration::from_millis(100));
    fake.set_status_lag(Duration::from_millis(600));
    let s = cr.snapshot().await.unwrap();
    let target = split(&[(DEMO_STABLE, 50), (DEMO_CANARY, 50)]);
    let after = cr.set_traffic(&target, &s.version).await.unwrap();
    assert!(!after.reconciling);
    assert_eq!(after.actual, Some(target));
    let reads = fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::GetService)
        .count();
    assert!(reads >= 4, "re-read until settled ({reads} reads)");
}

#[tokio::test]
async fn a_hung_read_is_cut_short_names_the_call_and_is_retried() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    let mut st = settings(&url, &at);
    st.read_timeout = Duration::from_millis(300);
    let cr = CloudRun::new(st.clone()).unwrap();
    fake.inject(Route::GetService, Fault::Hang, 1);
    let started = std::time::Instant::now();
    cr.snapshot().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    st.retry = RetryPolicy::none();
    let once = CloudRun::new(st).unwrap();
    fake.inject(Route::GetService, Fault::Hang, 1);
    let err = once.snapshot().await.unwrap_err();
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("reading service emergence-app") && text.contains("no answer within 300ms"),
        "{text}"
    );
}

#[tokio::test]
async fn a_rate_limited_patch_beyond_the_budget_is_not_retried_and_says_when_to_try_again() {
    let (fake, cr, at) = demo().await;
    let s = cr.snapshot().await.unwrap();
    fake.inject(
        Route::PatchService,
        Fault::RateLimited {
            retry_after_secs: 12,
        },
        1,
    );
    let err = cr
        .set_traffic(&split(&[(DEMO_STABLE, 90), (DEMO_CANARY, 10)]), &s.version)
        .await
        .unwrap_err();
    match &err {
        BackendError::Unavailable {
            message,
            retry_after,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(12)));
            assert!(message.contains("429 RESOURCE_EXHAUSTED"), "{message}");
            assert!(message.contains("not applied"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(
        patches(&fake).len(),
        1,
        "12 s asked for, beyond the 5 s budget: not retried"
    );
    assert_eq!(
        fake.service(&at).unwrap().etag.as_deref(),
        Some(s.version.0.as_str()),
        "nothing changed"
    );
}

#[tokio::test]
async fn rate_limits_and_garbage_while_polling_an_operation_are_ridden_out() {
    let (fake, cr, _at) = demo().await;
    fake.set_operation_delay(Duration::from_millis(300));
    fake.inject(
        Route::GetOperation,
        Fault::RateLimited {
            retry_after_secs: 0,
        },
        2,
    );
    let s = cr.snapshot().await.unwrap();
    let target = split(&[(DEMO_STABLE, 80), (DEMO_CANARY, 20)]);
    let after = cr.set_traffic(&target, &s.version).await.unwrap();
    assert_eq!(after.actual, Some(target));
    // A malformed operation: the service is read back, and shows the change.
    fake.inject(Route::GetOperation, Fault::MalformedJson, 1);
    let after = cr
        .set_traffic(&TrafficSplit::all_to(DEMO_STABLE), &after.version)
        .await
        .unwrap();
    assert_eq!(after.traffic, TrafficSplit::all_to(DEMO_STABLE));
    assert_eq!(patches(&fake).len(), 2, "not sent twice");
}

#[tokio::test]
async fn the_fake_goes_away_during_an_operation_and_the_change_still_lands() {
    let (fake, cr, _at) = demo().await;
    fake.set_operation_delay(Duration::from_millis(800));
    let s = cr.snapshot().await.unwrap();
    let target = split(&[(DEMO_STABLE, 50), (DEMO_CANARY, 50)]);
    let cr = Arc::new(cr);
    let task = {
        let (cr, t, v) = (Arc::clone(&cr), target.clone(), s.version.clone());
        tokio::spawn(async move { cr.set_traffic(&t, &v).await })
    };
    for _ in 0..100 {
        if !patches(&fake).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(patches(&fake).len(), 1, "the PATCH went out");
    fake.stop();
    tokio::time::sleep(Duration::from_millis(400)).await;
    fake.restart().unwrap();
    let after = task.await.unwrap().unwrap();
    assert_eq!(after.actual, Some(target));
    assert_eq!(patches(&fake).len(), 1, "not sent twice");
}
