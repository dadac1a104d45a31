//! `canary release --image`: deploy first (no traffic, tagged, as `canary
//! deploy` and the cockpit's `D`), the checks on its tag URL, then the plan
//! with the new revision as the canary. Against the simulator and the Cloud
//! Run fake; every run's stdout checked against the schema.

use super::cloud_run::Fake;
use super::*;

use std::io::Write as _;
use std::net::TcpListener;

const IMAGE: &str = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence:deploy-20261130";

/// The team's health check on the tag URL.
const HEALTH: &str = "[[checks]]\nname = \"health\"\nkind = \"http\"\nurl = \"{tag_url}/api/health\"\njson = [\"status == \\\"ok\\\"\"]\n";

/// Where each event first appears in the stream.
fn index(stream: &[Value], event: &str) -> usize {
    stream
        .iter()
        .position(|e| e["event"] == event)
        .unwrap_or_else(|| panic!("no {event} event in {stream:?}"))
}

/// What stands behind the fake's tag URLs: answers every request `200`
/// with `{"status": STATUS}` and keeps the paths asked.
fn tag_server(status: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let got = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let got = got.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                if let Some(path) = first.split_whitespace().nth(1) {
                    got.lock().expect("lock").push(path.to_string());
                }
                let body = format!(r#"{{"status":"{status}"}}"#);
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (url, seen)
}

/// The fake's world with the health check on the tag URL added.
fn fake_world(f: &Fake) -> World {
    let w = f.world();
    let mut cfg = std::fs::read_to_string(&w.config).expect("config");
    cfg.push_str(HEALTH);
    std::fs::write(&w.config, cfg).expect("config");
    w
}

/// The new revision: its name, from the `deployed` event.
fn deployed(stream: &[Value]) -> String {
    let d = &stream[index(stream, "deployed")];
    d["revision"].as_str().expect("revision").to_string()
}

#[test]
fn a_healthy_image_is_deployed_checked_on_its_tag_url_and_promoted() {
    let w = World::sim("healthy", 50.0, 0.0, HEALTH);
    let stream = w
        .release(
            &[
                "release",
                "--image",
                IMAGE,
                "--env",
                "API_KEY=s3cr3t-value",
                "--steps",
                "20:2s,100",
                "--auto",
                "--reason",
                "ci #7",
            ],
            &[("USER", "ci")],
        )
        .exits(0);
    let new = deployed(&stream);
    let requested = &stream[index(&stream, "deploy-requested")];
    assert_eq!(requested["image"], IMAGE);
    assert_eq!(requested["revision"], new.as_str());
    assert_eq!(requested["env_keys"], serde_json::json!(["API_KEY"]));
    assert_eq!(requested["reason"], "ci #7");
    assert_eq!(
        requested["traffic"],
        serde_json::json!({"emergence-app-00042-xuv": 100}),
        "sent with no traffic"
    );
    let d = &stream[index(&stream, "deployed")];
    let tag = d["tag"].as_str().unwrap();
    assert!(tag.starts_with("canary-"), "{d}");
    let url = d["tag_url"].as_str().expect("a tag URL");
    assert!(url.contains(&new), "{d}");
    // The checks ran on the new revision, before any traffic.
    let first_check = stream
        .iter()
        .position(|e| e["event"] == "check" && e["revision"] == new.as_str())
        .expect("a check of the new revision");
    let health = stream
        .iter()
        .find(|e| e["event"] == "check" && e["name"] == "health")
        .expect("the health check");
    assert_eq!(health["status"], "pass", "{health}");
    assert!(health["measured"].is_string() && health["expected"].is_string());
    assert!(index(&stream, "deployed") < first_check);
    assert!(first_check < index(&stream, "plan-started"));
    assert!(first_check < index(&stream, "traffic-requested"));
    // Then the plan, with the new revision as the canary (not the old
    // revision tagged `canary`).
    let started = &stream[index(&stream, "plan-started")];
    assert_eq!(started["canary"], new.as_str());
    assert_eq!(started["canary_image"], IMAGE);
    assert_eq!(started["stable"], "emergence-app-00042-xuv");
    let last = events(&stream, "traffic-requested").pop().expect("a step");
    assert_eq!(last["after"], serde_json::json!({ new.as_str(): 100 }));
    assert!(index(&stream, "promoted") < index(&stream, "finished"));
    // The journal holds the deploy, its outcome and the plan; the value of
    // --env nowhere.
    let j = w.journal();
    assert!(!j.contains("s3cr3t-value"), "an env value journaled");
    let req = run::records_of(&j, "deploy-requested");
    assert_eq!(req.len(), 1, "{j}");
    assert_eq!(req[0]["reason"], "ci #7");
    let fin = run::records_of(&j, "deploy-finished");
    assert_eq!(fin[0]["outcome"], "ready", "{j}");
    assert_eq!(
        run::records_of(&j, "plan-started")[0]["canary"],
        new.as_str()
    );
    assert_eq!(last_transition_to(&j), "promoted");
    let heard = w.heard();
    assert!(heard.contains(&format!("deployed {new}")), "{heard}");
    assert!(heard.contains("promoted"), "{heard}");
}

#[test]
fn an_image_that_fails_to_deploy_exits_1_journaled_and_nothing_else_sent() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let stream = w
        .release(
            &[
                "release",
                "--image",
                "r/emergence:bad-pull-1",
                "--steps",
                "20:2s,100",
                "--auto",
            ],
            &[],
        )
        .exits(1);
    let failed = &stream[index(&stream, "deploy-failed")];
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("Image not found"),
        "{failed}"
    );
    assert!(events(&stream, "deployed").is_empty());
    assert!(events(&stream, "traffic-requested").is_empty());
    assert!(events(&stream, "plan-started").is_empty());
    let finished = stream.last().unwrap();
    assert_eq!(finished["outcome"], "failed");
    assert!(
        finished["reason"]
            .as_str()
            .unwrap()
            .contains("no traffic was changed"),
        "{finished}"
    );
    let j = w.journal();
    assert_eq!(run::records_of(&j, "deploy-requested").len(), 1, "{j}");
    let fin = run::records_of(&j, "deploy-finished");
    assert_eq!(fin.len(), 1, "{j}");
    assert_eq!(fin[0]["outcome"], "failed");
    assert!(run::records_of(&j, "traffic-requested").is_empty());
    assert!(w.heard().contains("FAILED"), "{}", w.heard());
}

/// The canary answers its health check `degraded` on its tag URL (8 % 5xx
/// in the simulation): exit 3 before any traffic; nothing rolled back,
/// said so; the revision stays at 0 % with its tag.
#[test]
fn checks_failing_on_the_tag_url_exit_3_before_any_traffic() {
    let w = World::sim("bad", 50.0, 8.0, HEALTH);
    let stream = w
        .release(
            &[
                "release",
                "--image",
                IMAGE,
                "--steps",
                "20:2s,100",
                "--auto",
            ],
            &[],
        )
        .exits(3);
    let new = deployed(&stream);
    let health = stream
        .iter()
        .find(|e| e["event"] == "check" && e["name"] == "health")
        .expect("the health check");
    assert_eq!(health["status"], "fail", "{health}");
    assert_eq!(health["revision"], new.as_str());
    let rejected = &stream[index(&stream, "rejected")];
    assert_eq!(rejected["revision"], new.as_str());
    assert_eq!(rejected["failed"], serde_json::json!(["health"]));
    assert_eq!(rejected["rolled_back"], false);
    assert_eq!(rejected["left"], "in-place");
    assert!(
        events(&stream, "traffic-requested").is_empty(),
        "no traffic"
    );
    assert!(events(&stream, "plan-started").is_empty());
    let finished = stream.last().unwrap();
    assert_eq!(finished["outcome"], "rejected");
    assert_eq!(finished["exit_code"], 3);
    let j = w.journal();
    let notes: Vec<String> = run::records_of(&j, "note")
        .iter()
        .map(|n| n["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("rejected before any traffic")
                && n.contains("nothing to roll back")
                && n.contains(&format!("{new} stays at 0 %"))),
        "{notes:?}"
    );
    assert!(run::records_of(&j, "traffic-requested").is_empty());
    let checks = run::records_of(&j, "checks");
    assert_eq!(checks[0]["revision"], new.as_str(), "{j}");
    assert!(w.heard().contains("nothing to roll back"), "{}", w.heard());
}

#[test]
fn a_platform_that_cannot_deploy_and_a_bad_image_exit_2_with_a_sentence() {
    let home = tempfile::tempdir().expect("tmp");
    let cfg = home.path().join("h.toml");
    std::fs::write(
        &cfg,
        "[service]\nplatform = \"haproxy\"\nname = \"app\"\n\n[haproxy]\nsocket = \"/nonexistent.sock\"\nbackend = \"app\"\n",
    )
    .expect("config");
    let cfg = cfg.display().to_string();
    let (code, out, err) = run::canary(
        home.path(),
        &[
            "-c",
            &cfg,
            "release",
            "--image",
            "r/app:2",
            "--steps",
            "20:1s,100",
        ],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("HAProxy cannot deploy or delete revisions"),
        "{err}"
    );
    let w = World::sim("healthy", 50.0, 0.0, "");
    for (args, says) in [
        (vec!["--image", "r/app:"], "type the image's tag"),
        (vec!["--image", "r/app:2", "--env", "1X=y"], "--env `1X`"),
        (
            vec!["--image", "r/app:2", "--tag", "canary"],
            "already marks",
        ),
    ] {
        let mut all = vec!["release", "--steps", "20:1s,100"];
        all.extend(args);
        let (code, _, err) = w.canary(&all, &[]);
        assert_eq!(code, 2, "{all:?}: {err}");
        assert!(err.contains(says), "{all:?}: {err}");
    }
    // --tag and --env only with --image.
    let (code, _, err) = w.canary(&["release", "--tag", "x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(!w.path().join("journal").exists() || w.journal().is_empty());
}

mod cloud_run {
    use super::*;
    use canary_fakes::cloud_run::Route;

    #[test]
    fn a_healthy_image_on_cloud_run_is_checked_on_its_tag_url_then_promoted() {
        let f = Fake::start();
        f.fake
            .set_deploy_step(std::time::Duration::from_millis(100));
        let (tags, reached) = tag_server("ok");
        f.fake.set_tag_url_base(&f.at, &format!("{tags}/tag"));
        let w = fake_world(&f);
        let stream = w
            .release(
                &[
                    "release",
                    "--image",
                    IMAGE,
                    "--steps",
                    "20:2s,100",
                    "--auto",
                ],
                &[],
            )
            .exits(0);
        let new = deployed(&stream);
        let d = &stream[index(&stream, "deployed")];
        let tag = d["tag"].as_str().unwrap().to_string();
        assert_eq!(
            d["tag_url"].as_str(),
            Some(format!("{tags}/tag/{tag}").as_str())
        );
        let paths = reached.lock().unwrap().clone();
        assert!(
            paths.contains(&format!("/tag/{tag}/api/health")),
            "the health check reached the tag URL: {paths:?}"
        );
        assert_eq!(
            stream[index(&stream, "plan-started")]["canary"],
            new.as_str()
        );
        let _g = f._rt.enter();
        let svc = f.fake.service(&f.at).expect("service");
        let serving: Vec<(Option<String>, i32)> = svc
            .traffic
            .iter()
            .filter(|t| t.percent.unwrap_or(0) > 0)
            .map(|t| (t.revision.clone(), t.percent.unwrap_or(0)))
            .collect();
        assert_eq!(serving, [(Some(new.clone()), 100)], "{:?}", svc.traffic);
        // One template PATCH (the deploy) with the image, before the steps.
        let patches = f
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.route == Route::PatchService)
            .filter(|r| !r.body.contains("canary.dev/lease"))
            .collect::<Vec<_>>();
        assert!(patches[0].body.contains(IMAGE), "{}", patches[0].body);
        assert_eq!(
            patches.iter().filter(|p| p.body.contains(IMAGE)).count(),
            1,
            "one deploy"
        );
    }

    #[test]
    fn an_image_the_fake_cannot_pull_exits_1_and_is_journaled() {
        let f = Fake::start();
        f.fake
            .set_deploy_step(std::time::Duration::from_millis(100));
        let w = f.world();
        let stream = w
            .release(
                &[
                    "release",
                    "--image",
                    "r/emergence:bad-pull-2",
                    "--steps",
                    "20:2s,100",
                    "--auto",
                ],
                &[],
            )
            .exits(1);
        let failed = &stream[index(&stream, "deploy-failed")];
        assert_eq!(failed["outcome"], "failed", "{failed}");
        assert!(events(&stream, "traffic-requested").is_empty());
        assert_eq!(f.canary_percent(), 0);
        let j = w.journal();
        let fin = run::records_of(&j, "deploy-finished");
        assert_eq!(fin.len(), 1, "{j}");
        assert_eq!(fin[0]["outcome"], "failed");
        assert!(
            fin[0]["error"].as_str().unwrap().contains("not found"),
            "{j}"
        );
    }

    #[test]
    fn a_degraded_health_on_the_tag_url_exits_3_and_sends_no_traffic() {
        let f = Fake::start();
        f.fake
            .set_deploy_step(std::time::Duration::from_millis(100));
        let (tags, _) = tag_server("degraded");
        f.fake.set_tag_url_base(&f.at, &format!("{tags}/tag"));
        let w = fake_world(&f);
        let before = {
            let _g = f._rt.enter();
            f.fake.service(&f.at).expect("service").traffic
        };
        let stream = w
            .release(
                &[
                    "release",
                    "--image",
                    IMAGE,
                    "--steps",
                    "20:2s,100",
                    "--auto",
                ],
                &[],
            )
            .exits(3);
        let new = deployed(&stream);
        assert_eq!(stream.last().unwrap()["outcome"], "rejected");
        assert!(events(&stream, "traffic-requested").is_empty());
        let _g = f._rt.enter();
        let svc = f.fake.service(&f.at).expect("service");
        let mut rest = svc.traffic.clone();
        let left: Vec<_> = rest
            .iter()
            .filter(|t| t.revision.as_deref() == Some(new.as_str()))
            .cloned()
            .collect();
        assert_eq!(left.len(), 1, "the new revision stays, tagged");
        assert_eq!(left[0].percent.unwrap_or(0), 0);
        assert!(left[0].tag.is_some());
        rest.retain(|t| t.revision.as_deref() != Some(new.as_str()));
        assert_eq!(rest, before, "every other target as it was");
    }
}

/// SIGTERM while the deploy runs: the deploy is not cut off (its outcome
/// is journaled), no traffic is sent, and the run ends waiting for a human
/// (exit 4), the new revision at 0 %.
#[test]
fn sigterm_during_the_deploy_lets_it_land_and_sends_no_traffic() {
    let w = World::sim("healthy", 50.0, 0.0, "");
    let (code, stream) = terminate_after(
        &w,
        &[
            "release",
            "--image",
            IMAGE,
            "--steps",
            "20:1m,100",
            "--auto",
        ],
        "deploy-requested",
    );
    assert_eq!(code, 4, "{stream:?}");
    assert_eq!(events(&stream, "cancelled").len(), 1);
    assert!(events(&stream, "traffic-requested").is_empty());
    assert!(events(&stream, "plan-started").is_empty());
    let finished = stream.last().unwrap();
    assert_eq!(finished["outcome"], "waiting");
    assert!(
        finished["reason"]
            .as_str()
            .unwrap()
            .contains("stopped before the plan started"),
        "{finished}"
    );
    let j = w.journal();
    assert_eq!(run::records_of(&j, "deploy-requested").len(), 1);
    let fin = run::records_of(&j, "deploy-finished");
    assert_eq!(fin.len(), 1, "the deploy's outcome is journaled: {j}");
    assert!(run::records_of(&j, "traffic-requested").is_empty());
}
