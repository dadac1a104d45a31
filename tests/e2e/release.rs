//! The whole release end to end on Cloud Run, as an operator does it: the
//! real binary in a pseudo-terminal against the fake Cloud Run. `D`, an
//! image, `y` → a new tagged revision at 0 % (the fake's traffic otherwise
//! untouched); the checks run against its tag URL (a local server stands
//! behind the tag URLs and counts what reaches it); the plan promotes it to
//! 100 %; `:prune` keeps 3. Then the journal and `canary report` tell it.

use crate::support::tty;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cloud_run::Fake;
use canary::platform::cloud_run::api::TrafficTarget;
use canary_fakes::cloud_run::{FakeCloudRun, RevisionSpec, DEMO_CANARY, DEMO_STABLE};
use tty::{row, Tty};

/// Answers every request `200 {"status":"ok"}` and keeps the paths asked:
/// what the tag URLs of the fake point at.
fn tag_server() -> (String, Arc<Mutex<Vec<String>>>) {
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
                let body = r#"{"status":"ok"}"#;
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

fn write_config(dir: &Path, f: &Fake) -> String {
    let path = dir.join("canary.toml");
    let text = format!(
        r#"[service]
platform = "cloud-run"
name = "{name}"
project = "{project}"
region = "{region}"

[refresh]
service = "500ms"
metrics = "500ms"
logs = "500ms"

[metrics]
window = "2m"
step = "2s"

[gates]
window = "10s"
sustain = "2s"
min_requests = 5

[plan]
mode = "auto"
steps = [
  {{ percent = 50, observe = "8s" }},
  {{ percent = 100, observe = "0s" }},
]

[deploy]
tag = "canary-{{date}}"

[revisions]
keep = 3

[[checks]]
name = "health"
kind = "http"
url = "{{tag_url}}/api/health"
json = ["status == \"ok\""]

[[checks]]
name = "ready"
kind = "ready"

[cloud_run]
endpoint = "{url}"
monitoring_endpoint = "{url}/v1/projects/{project}/location/global/prometheus"
auth = "none"
"#,
        name = f.at.service,
        project = f.at.project,
        region = f.at.region,
        url = f.url,
    );
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

fn journal(home: &Path) -> String {
    let dir = home.join("state/canary/journal");
    std::fs::read_dir(&dir)
        .expect("journal dir")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).expect("journal"))
        .find(|j| j.contains("emergence-app"))
        .expect("the service's journal")
}

#[test]
fn d_image_y_then_checks_on_the_tag_url_plan_to_100_and_prune_to_3() {
    let f = Fake::start();
    f.fake.set_deploy_step(Duration::from_millis(300));
    let (tags, reached) = tag_server();
    f.fake.set_tag_url_base(&f.at, &format!("{tags}/tag"));
    {
        let _g = f._rt.enter();
        for (name, days) in [
            ("emergence-app-00040-aaa", 20),
            ("emergence-app-00039-bbb", 30),
        ] {
            f.fake
                .add_revision(
                    &f.at,
                    &RevisionSpec::new(name, "r/emergence:old", Duration::from_secs(days * 86_400)),
                )
                .expect("old revision");
        }
    }
    let before = f.traffic();
    let home = tempfile::tempdir().expect("tempdir");
    let config = write_config(home.path(), &f);
    let mut t = Tty::spawn_at(home.path(), &["--config", &config], &[]);
    t.wait_for("the service", |s| s.contains("Revisions (5)"));

    // D: the box, prefilled with the stable's repository.
    t.press("D");
    t.wait_for("the deploy box", |s| {
        s.contains("Deploy: IMAGE")
            && s.contains("europe-west1-docker.pkg.dev/emergence-469005/app/emergence:")
    });
    t.press("deploy-20261130-090000");
    t.wait_for("the new revision named", |s| {
        s.contains("Enter: emergence-app-00044-")
    });
    t.press("\r");
    let s = t.wait_for("the confirmation with the exact call", |s| {
        s.contains("Confirm deploy") && s.contains("gcloud run deploy emergence-app")
    });
    assert!(s.contains("--no-traffic"), "{s}");
    assert!(
        s.contains("$ PATCH")
            && s.contains(r#"{"template":{"#)
            && s.contains(r#""revision":"emergence-app-00044-"#),
        "the API request:\n{s}"
    );
    assert_eq!(f.traffic(), before, "nothing sent before y");
    t.press("y");
    // Deploying: the row appears, then ready at 0 %, then the checks.
    let s = t.wait_for_up_to(Duration::from_secs(20), "the deploying row", |s| {
        row(s, "emergence-app-00044-").is_some_and(|r| r.contains("deploying"))
    });
    assert!(s.contains("deploying:"), "the conditions line:\n{s}");
    let s = t.wait_for_up_to(Duration::from_secs(20), "ready and checked", |s| {
        s.contains("is ready at 0 %") || s.contains("all pass")
    });
    let new = row(&s, "emergence-app-00044-")
        .and_then(|r| {
            r.split_whitespace()
                .find(|w| w.starts_with("emergence-app-00044-"))
        })
        .expect("the new revision's row")
        .to_string();
    let svc = f.service();
    let tagged: Vec<&TrafficTarget> = svc
        .traffic
        .iter()
        .filter(|x| x.revision.as_deref() == Some(new.as_str()))
        .collect();
    assert_eq!(tagged.len(), 1, "{:?}", svc.traffic);
    assert_eq!(tagged[0].percent(), 0);
    let tag = tagged[0].tag.clone().expect("tagged");
    assert!(tag.starts_with("canary-"), "{tag}");
    let mut rest = svc.traffic.clone();
    rest.retain(|x| x.revision.as_deref() != Some(new.as_str()));
    assert_eq!(rest, before, "every other target exactly as it was");
    t.wait_for_up_to(Duration::from_secs(30), "the checks pass", |s| {
        s.contains("all pass")
    });
    let paths = reached.lock().expect("lock").clone();
    assert!(
        paths.iter().any(|p| *p == format!("/tag/{tag}/api/health")),
        "the health check reached the tag URL: {paths:?}"
    );

    // The plan promotes it (auto, 50 % then 100 %).
    t.press("p");
    t.wait_for("the plan's confirmation", |s| {
        s.contains("Confirm start plan")
    });
    t.press("y");
    t.wait_for_up_to(Duration::from_secs(120), "the promotion to 100 %", |s| {
        row(s, &new).is_some_and(|r| r.contains("100%") && !r.contains('→'))
    });

    // Prune to 3: the new one (traffic), the canary tag, the old stable stay.
    t.press(":prune");
    t.press("\r");
    let s = t.wait_for("the prune's confirmation", |s| s.contains("Confirm prune"));
    for gone in [
        "emergence-app-00041-mop",
        "emergence-app-00040-aaa",
        "emergence-app-00039-bbb",
    ] {
        assert!(s.contains(gone), "{gone} in the prune:\n{s}");
    }
    t.press("y");
    t.wait_for_up_to(Duration::from_secs(20), "three revisions left", |s| {
        s.contains("Revisions (3)") && s.contains("done")
    });
    let names: Vec<String> = {
        let _g = f._rt.enter();
        f.fake.service(&f.at).map(|_| ()).expect("service");
        let rt = &f._rt;
        rt.block_on(async {
            let settings = canary::platform::cloud_run::CloudRunSettings::new(
                &f.at.project,
                &f.at.region,
                &f.at.service,
                canary::google::Auth::None,
            )
            .with_endpoint(&f.url);
            let cr = canary::platform::cloud_run::CloudRun::new(settings).expect("client");
            cr.read_revisions()
                .await
                .expect("revisions")
                .iter()
                .map(|r| r.short_name().to_string())
                .collect()
        })
    };
    assert_eq!(names, [new.as_str(), DEMO_CANARY, DEMO_STABLE]);
    t.press("q");
    t.wait_exit();

    // Every step in the journal and in the report.
    let j = journal(home.path());
    for event in [
        "deploy-requested",
        "deploy-finished",
        "checks",
        "plan-started",
        "revision-delete-requested",
        "revision-deleted",
    ] {
        assert!(
            j.contains(&format!("\"event\":\"{event}\"")),
            "{event} not journaled:\n{j}"
        );
    }
    let report = home.path().join("report.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canary"))
        .args([
            "--config",
            &config,
            "report",
            "-o",
            &report.display().to_string(),
        ])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .output()
        .expect("canary report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(&report).expect("report");
    assert!(md.contains("## Revisions: deploys and deletions"), "{md}");
    assert!(md.contains("deploy #") && md.contains(&new), "{md}");
    assert!(
        md.contains("revision emergence-app-00041-mop deleted"),
        "{md}"
    );
}

/// Not a test: the fake Cloud Run, seeded with the demo service, on
/// `CANARY_FAKE_PORT` (default 8799) for `CANARY_FAKE_SECS` (default 600),
/// to try the cockpit (or gcloud) against it by hand; every request it
/// received is printed at the end.
///
/// `CANARY_FAKE_PORT=8799 cargo test --test e2e serve_the_fake -- --ignored --nocapture`
#[test]
#[ignore = "serves the fake for a person; see the doc comment"]
fn serve_the_fake_by_hand() {
    let port: u16 = std::env::var("CANARY_FAKE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8799);
    let secs: u64 = std::env::var("CANARY_FAKE_SECS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(600);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (fake, url) =
            FakeCloudRun::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
                .await
                .expect("fake");
        let at = fake.seed_demo();
        fake.set_deploy_step(Duration::from_secs(1));
        fake.set_operation_delay(Duration::from_millis(700));
        println!("fake Cloud Run at {url} ({}) for {secs} s", at.name());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        for r in fake.requests() {
            println!("{} {}?{}", r.method, r.path, r.query);
        }
    });
}
