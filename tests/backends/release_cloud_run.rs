//! Deploying and deleting revisions on Cloud Run, against the fake Admin API
//! v2 on 127.0.0.1:0: a template update creates a revision whose conditions
//! progress, fails the way the platform fails (image pull, a container that
//! does not listen, an import that times out), keeps every traffic target,
//! pins LATEST, refuses a concurrent change; revisions are deleted, never
//! one that serves traffic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use canary::core::details::ConditionState;
use canary::core::error::BackendError;
use canary::core::model::{ServiceSnapshot, Version};
use canary::core::release::DeployRequest;
use canary::platform::cloud_run::api::TYPE_REVISION;
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::release::SnapshotSink;
use canary::platform::Platform;
use canary_fakes::cloud_run::{
    to_latest, to_revision, FakeCloudRun, Fault, RevisionSpec, Route, ServiceRef, DEMO_CANARY,
    DEMO_OLD, DEMO_STABLE,
};

fn settings(url: &str, at: &ServiceRef) -> CloudRunSettings {
    let mut s = super::cloud_run::settings(url, at);
    s.deploy_timeout = Duration::from_secs(10);
    s.retry.attempts = 3;
    s
}

async fn demo() -> (FakeCloudRun, CloudRun, ServiceRef) {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.set_deploy_step(Duration::from_millis(60));
    let cr = CloudRun::new(settings(&url, &at)).unwrap();
    (fake, cr, at)
}

fn request(image: &str, revision: &str) -> DeployRequest {
    DeployRequest {
        revision: revision.into(),
        image: image.into(),
        tag: "canary-20261130".into(),
        env: vec![("FEATURE_X".into(), "on".into())],
    }
}

/// Collects every snapshot the deploy reports while it runs.
fn sink() -> (SnapshotSink, Arc<Mutex<Vec<ServiceSnapshot>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |snap| s.lock().unwrap().push(snap)), seen)
}

const NEW: &str = "emergence-app-00044-zaq";

#[tokio::test]
async fn a_deploy_creates_a_tagged_revision_at_zero_and_keeps_every_target() {
    let (fake, cr, at) = demo().await;
    let before = cr.snapshot().await.unwrap();
    let image = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261130-090000";
    let (progress, seen) = sink();
    let releases = cr.releases().expect("cloud run deploys");
    let preview = canary::core::release_call::preview(
        &before,
        &canary::core::release::ReleaseOp::Deploy(request(image, NEW)),
    )
    .unwrap();
    assert!(
        preview[0].starts_with("gcloud run deploy emergence-app --image=europe-west1-docker"),
        "{preview:?}"
    );
    assert!(preview[0].contains("--no-traffic --tag=canary-20261130 --revision-suffix=00044-zaq"));
    assert!(preview[1].ends_with("services/emergence-app?updateMask=template,traffic"));
    let after = releases
        .deploy(&request(image, NEW), &before.version, progress)
        .await
        .expect("deployed");
    // The split is what it was; the new revision has the tag and its URL.
    assert_eq!(after.traffic, before.traffic);
    let new = after.revision(NEW).expect("listed");
    assert!(new.ready);
    assert_eq!(new.tag.as_deref(), Some("canary-20261130"));
    assert_eq!(
        new.tag_url.as_deref(),
        Some("https://canary-20261130---emergence-app-x7k2p9-ew.a.run.app")
    );
    assert_eq!(new.image, image);
    assert_eq!(after.revisions[0].name, NEW, "newest first");
    // The old canary keeps its tag and URL.
    assert_eq!(
        after.revision(DEMO_CANARY).unwrap().tag.as_deref(),
        Some("canary")
    );
    // The conditions progressed while it ran: some read showed it deploying.
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|s| s
            .revision(NEW)
            .is_some_and(|r| r.details.deploying && !r.ready)),
        "no read showed the revision deploying ({} reads)",
        seen.len()
    );
    // The request: the whole template, the image and env changed, named.
    let patch = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("a PATCH");
    assert_eq!(patch.query, "updateMask=template%2Ctraffic");
    let body: serde_json::Value = serde_json::from_str(&patch.body).unwrap();
    assert_eq!(body["template"]["revision"], NEW);
    assert_eq!(body["template"]["containers"][0]["image"], image);
    assert_eq!(
        body["template"]["serviceAccount"],
        "emergence-app@emergence-469005.iam.gserviceaccount.com"
    );
    assert_eq!(
        body["template"]["containers"][0]["env"][2]["name"],
        "FEATURE_X"
    );
    assert_eq!(
        body["template"]["containers"][0]["env"][1]["valueSource"]["secretKeyRef"]["secret"],
        "db-password"
    );
    assert_eq!(body["etag"], before.version.0);
    let svc = fake.service(&at).unwrap();
    assert_eq!(
        svc.latest_ready_revision
            .as_deref()
            .map(|n| n.rsplit('/').next().unwrap()),
        Some(NEW)
    );
    assert_eq!(
        svc.last_modifier.as_deref(),
        Some("canary-cockpit@example.com")
    );
    // Inspect: the new revision's env has the variable; the secret only by name.
    let d = &after.revision(NEW).unwrap().details;
    assert!(d.env.iter().any(|e| e.name == "FEATURE_X"));
    assert_eq!(d.creator.as_deref(), Some("canary-cockpit@example.com"));
    assert_eq!(d.port, Some(8080));
    assert!(
        d.conditions.iter().all(|c| c.state == ConditionState::Ok),
        "{d:?}"
    );
}

#[tokio::test]
async fn latest_targets_are_pinned_so_the_new_revision_gets_nothing() {
    let (fake, cr, at) = demo().await;
    fake.change_traffic(
        &at,
        vec![
            to_latest(100, None),
            to_revision(DEMO_CANARY, 0, Some("canary")),
        ],
    )
    .unwrap();
    let before = cr.snapshot().await.unwrap();
    let (progress, _) = sink();
    let after = cr
        .releases()
        .unwrap()
        .deploy(&request("r/app:2", NEW), &before.version, progress)
        .await
        .expect("deployed");
    // LATEST resolved to the canary (the newest ready) before: still it.
    assert_eq!(after.traffic, before.traffic);
    assert_eq!(after.traffic.percent_of(NEW), 0);
    let svc = fake.service(&at).unwrap();
    assert!(svc
        .traffic
        .iter()
        .all(|t| t.kind.as_deref() == Some(TYPE_REVISION)));
}

#[tokio::test]
async fn failures_come_back_with_the_platforms_reason_in_plain_words() {
    for (image, plain, platform) in [
        (
            "r/app:bad-pull-1",
            "the image cannot be pulled",
            "Image 'r/app:bad-pull-1' not found.",
        ),
        (
            "r/app:no-listen-1",
            "did not start listening on its port",
            "PORT=8080",
        ),
        (
            "r/app:slow-import-1",
            "did not become ready in time",
            "import timed out",
        ),
    ] {
        let (_fake, cr, _at) = demo().await;
        let before = cr.snapshot().await.unwrap();
        let (progress, _) = sink();
        let err = cr
            .releases()
            .unwrap()
            .deploy(&request(image, NEW), &before.version, progress)
            .await
            .expect_err(image);
        let text = err.to_string();
        assert!(text.contains(plain), "{image}: {text}");
        assert!(text.contains(platform), "{image}: {text}");
        // The failed revision is listed, not ready, and says why.
        let snap = cr.snapshot().await.unwrap();
        let r = snap.revision(NEW).expect("listed");
        assert!(!r.ready && !r.details.deploying);
        assert!(
            r.status_message
                .as_deref()
                .is_some_and(|m| m.contains(plain)),
            "{:?}",
            r.status_message
        );
        // Nothing moved: the split is the same.
        assert_eq!(snap.traffic, before.traffic);
        // A failed revision may be deleted: its tag goes first.
        let (progress, _) = sink();
        let preview = canary::core::release_call::preview(
            &snap,
            &canary::core::release::ReleaseOp::Delete(vec![NEW.into()]),
        )
        .unwrap();
        assert!(
            preview[0].contains("--remove-tags=canary-20261130"),
            "{preview:?}"
        );
        let after = cr
            .releases()
            .unwrap()
            .delete_revision(NEW, progress)
            .await
            .expect("deleted");
        assert!(after.revision(NEW).is_none());
        assert_eq!(after.traffic, before.traffic);
        assert_eq!(
            after.revision(DEMO_CANARY).unwrap().tag.as_deref(),
            Some("canary")
        );
    }
}

#[tokio::test]
async fn a_concurrent_change_is_a_conflict_and_nothing_is_sent() {
    let (fake, cr, at) = demo().await;
    let before = cr.snapshot().await.unwrap();
    fake.change_traffic(
        &at,
        vec![
            to_revision(DEMO_STABLE, 90, None),
            to_revision(DEMO_CANARY, 10, Some("canary")),
        ],
    )
    .unwrap();
    let (progress, _) = sink();
    let err = cr
        .releases()
        .unwrap()
        .deploy(&request("r/app:2", NEW), &before.version, progress)
        .await
        .expect_err("conflict");
    assert!(matches!(err, BackendError::Conflict(_)), "{err}");
    assert!(fake.requests().iter().all(|r| r.method != "PATCH"));
    // A stale etag that reaches the API is refused there too.
    let (progress, _) = sink();
    let err = cr
        .releases()
        .unwrap()
        .deploy(
            &request("r/app:2", NEW),
            &Version("\"nope\"".into()),
            progress,
        )
        .await
        .expect_err("conflict");
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn deleting_refuses_what_serves_traffic_and_deletes_the_rest() {
    let (fake, cr, at) = demo().await;
    fake.add_revision(
        &at,
        &RevisionSpec::new(
            "emergence-app-00040-old",
            "r/app:0",
            Duration::from_secs(30 * 86_400),
        ),
    )
    .unwrap();
    let releases = cr.releases().unwrap();
    let snap = cr.snapshot().await.unwrap();
    let preview = canary::core::release_call::preview(
        &snap,
        &canary::core::release::ReleaseOp::Delete(vec![DEMO_OLD.into()]),
    )
    .unwrap();
    assert_eq!(
        preview[0],
        "gcloud run revisions delete emergence-app-00041-mop --region=europe-west1 --project=emergence-469005 --quiet"
    );
    assert!(preview[1].starts_with("DELETE http://"));
    let (progress, _) = sink();
    let err = releases
        .delete_revision(DEMO_STABLE, progress.clone())
        .await
        .expect_err("serves traffic");
    assert!(
        err.to_string().contains("referenced by a traffic target"),
        "{err}"
    );
    let after = releases
        .delete_revision(DEMO_OLD, progress.clone())
        .await
        .expect("deleted");
    assert!(after.revision(DEMO_OLD).is_none());
    assert_eq!(after.revisions.len(), 3);
    let err = releases
        .delete_revision(DEMO_OLD, progress)
        .await
        .expect_err("gone");
    assert!(matches!(err, BackendError::NotFound(_)), "{err}");
}

/// A deploy whose PATCH landed but whose answer was lost is read back: the
/// template names our revision, so it is followed to ready.
#[tokio::test]
async fn a_deploy_whose_answer_is_lost_is_read_back_and_followed() {
    let (fake, cr, _at) = demo().await;
    let before = cr.snapshot().await.unwrap();
    fake.inject(
        Route::PatchService,
        Fault::AfterApply(Box::new(Fault::Status(503))),
        1,
    );
    let (progress, _) = sink();
    let after = cr
        .releases()
        .unwrap()
        .deploy(&request("r/app:2", NEW), &before.version, progress)
        .await
        .expect("read back as applied, then ready");
    assert!(after.revision(NEW).is_some_and(|r| r.ready));
    let patches = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 1, "the landed PATCH is not sent again");
}

/// A revision still being created when the deploy's time runs out has not
/// failed: its outcome is not known yet (journaled `unknown`, not `failed`).
#[tokio::test]
async fn a_deploy_that_runs_out_of_time_is_unknown_not_failed() {
    let (fake, url) = FakeCloudRun::start().await.unwrap();
    let at = fake.seed_demo();
    fake.set_deploy_step(Duration::from_secs(2));
    let mut s = settings(&url, &at);
    s.deploy_timeout = Duration::from_millis(600);
    let cr = CloudRun::new(s).unwrap();
    let before = cr.snapshot().await.unwrap();
    let (progress, _) = sink();
    let err = cr
        .releases()
        .unwrap()
        .deploy(&request("r/app:2", NEW), &before.version, progress)
        .await
        .expect_err("not ready in time");
    assert!(
        matches!(err, BackendError::Unconfirmed { .. }),
        "a revision still deploying is no failure: {err:?}"
    );
    assert!(err.to_string().contains(NEW), "{err}");
    let snap = cr.snapshot().await.unwrap();
    assert!(snap.revision(NEW).is_some_and(|r| r.details.deploying));
}

/// A DELETE whose answer is lost (it landed) is read back: the revision is
/// gone, so it was deleted; one refused on every try is read back listed:
/// not deleted; one whose answer is lost while the service cannot be read is
/// not known (never `not deleted`).
#[tokio::test]
async fn an_unclear_answer_to_a_delete_is_read_back() {
    let (fake, cr, at) = demo().await;
    let releases = cr.releases().unwrap();
    let (progress, _) = sink();
    fake.inject(
        Route::DeleteRevision,
        Fault::AfterApply(Box::new(Fault::Garbage)),
        1,
    );
    let after = releases
        .delete_revision(DEMO_OLD, progress.clone())
        .await
        .expect("read back: it is gone");
    assert!(after.revision(DEMO_OLD).is_none());

    let older = "emergence-app-00040-old";
    fake.add_revision(
        &at,
        &RevisionSpec::new(older, "r/app:0", Duration::from_secs(30 * 86_400)),
    )
    .unwrap();
    fake.inject(Route::DeleteRevision, Fault::Status(503), 10);
    let err = releases
        .delete_revision(older, progress.clone())
        .await
        .expect_err("503 on every try");
    assert!(
        !matches!(err, BackendError::Unconfirmed { .. }),
        "read back listed: not deleted, and known: {err:?}"
    );
    assert!(cr.snapshot().await.unwrap().revision(older).is_some());
    fake.clear_faults();

    fake.inject(
        Route::DeleteRevision,
        Fault::AfterApply(Box::new(Fault::Garbage)),
        1,
    );
    fake.inject(Route::ListRevisions, Fault::Status(403), 10);
    let err = releases
        .delete_revision(older, progress)
        .await
        .expect_err("not known");
    assert!(
        matches!(err, BackendError::Unconfirmed { .. }),
        "the answer lost and no read: not known, {err:?}"
    );
    fake.clear_faults();
    assert!(cr.snapshot().await.unwrap().revision(older).is_none());
}

/// A failed revision's tag is removed before it is deleted: an unclear
/// answer to that traffic PATCH is read back (the tag is gone: go on), and a
/// deletion that fails after the tag went says so (the journal keeps it).
#[tokio::test]
async fn the_untag_before_a_delete_is_read_back_and_never_untold() {
    let (fake, cr, _at) = demo().await;
    let releases = cr.releases().unwrap();
    let failed = |name: &'static str| {
        let cr = &cr;
        async move {
            let before = cr.snapshot().await.unwrap();
            let (progress, _) = sink();
            let mut r = request("r/app:bad-pull-1", name);
            r.tag = format!("t-{}", &name[name.len() - 3..]);
            cr.releases()
                .unwrap()
                .deploy(&r, &before.version, progress)
                .await
                .expect_err("bad pull");
            r.tag
        }
    };
    let first = "emergence-app-00044-aaa";
    failed(first).await;
    fake.inject(
        Route::PatchService,
        Fault::AfterApply(Box::new(Fault::Status(503))),
        1,
    );
    let (progress, _) = sink();
    let after = releases
        .delete_revision(first, progress.clone())
        .await
        .expect("the untag read back as applied, then deleted");
    assert!(after.revision(first).is_none());

    let second = "emergence-app-00045-bbb";
    let tag = failed(second).await;
    fake.inject(Route::DeleteRevision, Fault::Status(403), 1);
    let err = releases
        .delete_revision(second, progress)
        .await
        .expect_err("the DELETE is refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("tag `{tag}` was removed")),
        "the traffic change that landed is told: {text}"
    );
    let snap = cr.snapshot().await.unwrap();
    assert!(snap.revision(second).is_some_and(|r| r.tag.is_none()));
}

/// `gcloud run revisions list` (its v1 surface, through gcloud's proxy
/// settings: it puts the region in a regional endpoint's host name) lists
/// what the cockpit deployed, and not what it deleted. Skipped without gcloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_lists_what_the_cockpit_deployed_and_not_what_it_deleted() {
    let found = std::process::Command::new("gcloud")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: gcloud is not installed");
        return;
    }
    let (fake, cr, at) = demo().await;
    let before = cr.snapshot().await.unwrap();
    let (progress, _) = sink();
    let releases = cr.releases().unwrap();
    releases
        .deploy(
            &request("r/emergence:deploy-2", NEW),
            &before.version,
            progress.clone(),
        )
        .await
        .expect("deployed");
    releases
        .delete_revision(DEMO_OLD, progress)
        .await
        .expect("deleted");
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "fake-token").unwrap();
    let port = fake.addr().port().to_string();
    let out = tokio::process::Command::new("gcloud")
        .args([
            "run",
            "revisions",
            "list",
            "--service",
            &at.service,
            "--region",
            &at.region,
            "--format=json",
        ])
        .env("CLOUDSDK_CONFIG", dir.path().join("gcloud"))
        .env("CLOUDSDK_CORE_PROJECT", &at.project)
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &token)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN",
            "http://run.fake.invalid/",
        )
        .env("CLOUDSDK_PROXY_TYPE", "http")
        .env("CLOUDSDK_PROXY_ADDRESS", "127.0.0.1")
        .env("CLOUDSDK_PROXY_PORT", &port)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("gcloud answered within 2 minutes")
        .expect("gcloud ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gcloud failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("gcloud's JSON");
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str())
        .collect();
    assert!(names.contains(&NEW), "{names:?}");
    assert!(
        names.contains(&DEMO_STABLE) && !names.contains(&DEMO_OLD),
        "{names:?}"
    );
    let new = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metadata"]["name"] == NEW)
        .unwrap();
    assert_eq!(
        new["spec"]["containers"][0]["image"],
        "r/emergence:deploy-2"
    );
    assert_eq!(
        new["metadata"]["annotations"]["serving.knative.dev/creator"],
        "canary-cockpit@example.com"
    );
    assert!(fake.requests().iter().any(|r| r
        .path
        .starts_with("/apis/serving.knative.dev/v1/namespaces/")));
}
