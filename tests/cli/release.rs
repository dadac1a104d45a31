//! `canary deploy`, `describe`, `delete` and `prune` of the real binary
//! against the Cloud Run fake on loopback: exit codes, output, the fake's
//! state, the audit journal (env values never in it), the report; refusals
//! (no --yes without a terminal, read-only, what serves traffic, HAProxy).

use crate::support::run;

use std::path::Path;
use std::time::Duration;

use canary_fakes::cloud_run::{FakeCloudRun, RevisionSpec, DEMO_CANARY, DEMO_STABLE};

async fn canary(home: &Path, args: &[&str]) -> (i32, String, String) {
    run::canary_async(home, args, &[]).await
}

fn journal(home: &Path) -> String {
    std::fs::read_to_string(home.join("journal/emergence-app.jsonl")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_describe_delete_and_prune_from_scripts() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    fake.set_deploy_step(Duration::from_millis(50));
    fake.add_revision(
        &at,
        &RevisionSpec::new(
            "emergence-app-00040-aaa",
            "r/emergence:old",
            Duration::from_secs(20 * 86_400),
        ),
    )
    .unwrap();
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = run::cloud_run_config(home.path(), &url);
    let image = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261130";

    // Without --yes and without a terminal: the call is shown, nothing sent.
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "deploy", image]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("gcloud run deploy emergence-app"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(fake.requests().iter().all(|r| r.method != "PATCH"));
    // Read-only refuses.
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "deploy", image, "--yes", "--read-only"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("read-only"), "{err}");
    // Bad usage: exit 2.
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "deploy", "r/app:", "--yes"],
    )
    .await;
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = canary(
        home.path(),
        &[
            "--config",
            &cfg,
            "deploy",
            image,
            "--tag",
            "canary-20261130",
            "--env",
            "API_KEY=s3cr3t-value",
            "--yes",
            "--reason",
            "release 42",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["outcome"], "ready", "{out}");
    let new = v["revision"].as_str().expect("revision").to_string();
    assert!(new.starts_with("emergence-app-00044-"), "{new}");
    assert_eq!(
        v["tag_url"],
        "https://canary-20261130---emergence-app-x7k2p9-ew.a.run.app"
    );
    assert!(
        err.contains("canary: deploying") && err.contains("image import ✓"),
        "progress on stderr: {err}"
    );
    let svc = fake.service(&at).unwrap();
    assert!(svc
        .traffic
        .iter()
        .any(|t| t.revision.as_deref() == Some(new.as_str())
            && t.percent() == 0
            && t.tag.as_deref() == Some("canary-20261130")));
    let j = journal(home.path());
    assert!(
        j.contains("\"event\":\"deploy-requested\"") && j.contains("\"event\":\"deploy-finished\""),
        "{j}"
    );
    assert!(
        j.contains("API_KEY"),
        "the variable's name is journaled: {j}"
    );
    assert!(!j.contains("s3cr3t-value"), "never its value: {j}");
    assert!(j.contains("release 42"), "{j}");

    // Describe: text and JSON, the secret by name only, the diff.
    let (code, out, err) = canary(home.path(), &["--config", &cfg, "describe", &new]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("secret db-password (version latest; value not shown)"),
        "{out}"
    );
    assert!(out.contains("env added     API_KEY"), "{out}");
    assert!(
        out.contains("Against the stable emergence-app-00042-xuv"),
        "{out}"
    );
    assert!(out.contains("✓ ready"), "{out}");
    let (code, out, _) = canary(
        home.path(),
        &["--config", &cfg, "describe", "canary-20261130", "--json"],
    )
    .await;
    assert_eq!(code, 0);
    let d: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(d["revision"], new);
    assert_eq!(d["diff"]["env_added"], serde_json::json!(["API_KEY"]));
    let (code, _, err) = canary(home.path(), &["--config", &cfg, "describe", "nope"]).await;
    assert_eq!(code, 2, "{err}");

    // Delete: the stable is refused with its reason; an old one goes.
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "delete", DEMO_STABLE, "--yes"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("serves traffic (100 %)"), "{err}");
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "delete", DEMO_CANARY, "--yes"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("carries the tag `canary`"), "{err}");
    let (code, out, err) = canary(
        home.path(),
        &["--config", &cfg, "delete", "00040-aaa", "--yes"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deleted emergence-app-00040-aaa"), "{out}");
    assert!(fake.service(&at).is_some());

    // Prune: the dry run says, the real one does (keep 2).
    let (code, out, err) = canary(
        home.path(),
        &["--config", &cfg, "prune", "--keep", "2", "--dry-run"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("delete  emergence-app-00041-mop"), "{out}");
    assert!(
        out.contains("keep    emergence-app-00042-xuv  (it serves traffic (100 %))"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "keep    {new}  (it carries the tag `canary-20261130`"
        )),
        "{out}"
    );
    let before = fake.requests().len();
    let (code, out, err) = canary(
        home.path(),
        &["--config", &cfg, "prune", "--keep", "2", "--yes", "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["deleted"], serde_json::json!(["emergence-app-00041-mop"]));
    assert!(fake.requests()[before..]
        .iter()
        .any(|r| r.method == "DELETE"));
    let j = journal(home.path());
    assert!(j.contains("\"event\":\"revision-delete-requested\""), "{j}");
    assert!(j.contains("\"kind\":\"prune\""), "{j}");

    // The report tells it all.
    let (code, md, err) = canary(home.path(), &["--config", &cfg, "report"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("## Revisions: deploys and deletions"), "{md}");
    assert!(md.contains(&format!("READY: {new}")), "{md}");
    assert!(
        md.contains("revision emergence-app-00041-mop deleted"),
        "{md}"
    );
    assert!(!md.contains("s3cr3t-value"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_exits_1_with_the_platforms_reason_and_is_journaled() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    fake.seed_demo();
    fake.set_deploy_step(Duration::from_millis(30));
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = run::cloud_run_config(home.path(), &url);
    let (code, _, err) = canary(
        home.path(),
        &["--config", &cfg, "deploy", "r/app:no-listen-1", "--yes"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did not start listening on its port"), "{err}");
    assert!(err.contains("PORT=8080"), "{err}");
    let j = journal(home.path());
    assert!(j.contains("\"outcome\":\"failed\""), "{j}");
}

#[test]
fn haproxy_says_in_one_sentence_that_it_cannot_deploy() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join("h.toml");
    std::fs::write(
        &cfg,
        "[service]\nplatform = \"haproxy\"\nname = \"app\"\n\n[haproxy]\nsocket = \"/nonexistent.sock\"\nbackend = \"app\"\n",
    )
    .expect("config");
    let cfg = cfg.display().to_string();
    let (code, _, err) = run::canary(
        home.path(),
        &["--config", &cfg, "deploy", "r/app:2", "--yes"],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("HAProxy cannot deploy or delete revisions"),
        "{err}"
    );
}
