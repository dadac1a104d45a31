//! The shared audit trail (`[audit] shared = "cloud-logging"`) against the
//! Cloud Run fake's Cloud Logging: a release writes its records there as
//! well as to its local journal; `canary journal --shared` on another
//! machine (another HOME, another journal) reads them back, with who wrote
//! them; a sink answering 503 is retried; a sink that is down never costs
//! a local record. No secret (webhook URL, env value) reaches it.

use super::cloud_run::Fake;
use super::*;

use canary_fakes::cloud_run::{Fault, Route};

const AUDIT: &str = "\n[audit]\nshared = \"cloud-logging\"\n";

/// The fake's world with the shared trail turned on.
fn audited(f: &Fake) -> World {
    let w = f.world();
    let mut cfg = std::fs::read_to_string(&w.config).expect("config");
    cfg.push_str(AUDIT);
    std::fs::write(&w.config, cfg).expect("config");
    w
}

/// The local journal's records (every line).
fn local(w: &World) -> Vec<Value> {
    w.journal()
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

/// `canary journal --shared --json` run from `home` with `config`.
fn shared_from(home: &Path, config: &str) -> Vec<Value> {
    let (code, out, err) = run::canary(home, &["-c", config, "journal", "--shared", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn writes(f: &Fake) -> Vec<String> {
    f.fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::WriteLogEntries)
        .map(|r| r.body)
        .collect()
}

#[test]
fn a_release_is_in_the_shared_trail_and_another_machine_reads_it_back() {
    let f = Fake::start();
    f.fake
        .set_deploy_step(std::time::Duration::from_millis(100));
    let w = audited(&f);
    w.release(
        &[
            "release",
            "--image",
            "r/emergence:deploy-1",
            "--env",
            "API_KEY=s3cr3t-value",
            "--steps",
            "20:2s,100",
            "--auto",
            "--reason",
            "pipeline 9",
        ],
        &[("USER", "ci-bot")],
    )
    .exits(0);
    let mine = local(&w);
    assert!(mine.len() > 10, "{mine:?}");
    eprintln!(
        "shared audit: {} records in {} entries:write requests",
        mine.len(),
        writes(&f).len()
    );
    // Another machine: its own HOME and journal directory, the same service.
    let other = tempfile::tempdir().expect("tmp");
    let cfg = std::fs::read_to_string(&w.config).expect("config").replace(
        &w.path().join("journal").display().to_string(),
        &other.path().join("journal").display().to_string(),
    );
    let other_cfg = other.path().join("canary.toml");
    std::fs::write(&other_cfg, cfg).expect("config");
    let shared = shared_from(other.path(), &other_cfg.display().to_string());
    assert!(
        !other.path().join("journal").exists()
            || std::fs::read_dir(other.path().join("journal"))
                .unwrap()
                .next()
                .is_none(),
        "reading wrote nothing locally"
    );
    // Every local record is there, in time order, with who wrote it.
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("driver");
        v
    };
    let theirs: Vec<Value> = shared.iter().map(strip).collect();
    assert_eq!(theirs, mine, "the shared trail holds the journal, in order");
    let host = shared[0]["driver"].as_str().unwrap();
    assert!(host.starts_with("ci-bot@"), "{host}");
    let kinds: Vec<&str> = shared.iter().filter_map(|r| r["event"].as_str()).collect();
    for k in [
        "deploy-requested",
        "deploy-finished",
        "plan-started",
        "traffic-applied",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The human view names who.
    let (code, out, _) = run::canary(
        other.path(),
        &[
            "-c",
            &other_cfg.display().to_string(),
            "journal",
            "--shared",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("[ci-bot@"), "{out}");
    assert!(out.contains("pipeline 9"), "{out}");
    // No secret reached the sink: not the webhook's token, not an env value.
    let sent = writes(&f).join("\n");
    assert!(!sent.is_empty());
    assert!(!sent.contains("SECRETTOKEN"), "the webhook URL leaked");
    assert!(!sent.contains("s3cr3t-value"), "an env value leaked");
    // Labels: the service and who.
    let first: Value = serde_json::from_str(&writes(&f)[0]).unwrap();
    assert_eq!(first["labels"]["service"], "emergence-app");
    assert_eq!(
        first["logName"],
        "projects/emergence-469005/logs/canary-audit"
    );
}

#[test]
fn a_sink_answering_503_is_retried_and_ends_complete() {
    let f = Fake::start();
    f.fake.inject(Route::WriteLogEntries, Fault::Status(503), 2);
    let w = audited(&f);
    let started = Instant::now();
    w.release(&["release", "--steps", "20:1s,100", "--auto"], &[])
        .exits(0);
    eprintln!(
        "release 20:1s,100 with two 503s from the shared sink: {:?}",
        started.elapsed()
    );
    let tries = writes(&f).len();
    assert!(tries >= 3, "two 503s, then the writes: {tries}");
    let shared = shared_from(w.path(), &w.config);
    assert_eq!(shared.len(), local(&w).len(), "nothing lost, nothing twice");
}

#[test]
fn a_sink_that_is_down_leaves_the_local_journal_complete_and_says_so() {
    let f = Fake::start();
    f.fake
        .inject(Route::WriteLogEntries, Fault::Status(503), 100_000);
    let w = audited(&f);
    let started = Instant::now();
    let Ran {
        code,
        err,
        stream,
        out,
    } = w.release(&["release", "--steps", "20:1s,100", "--auto"], &[]);
    let took = started.elapsed();
    eprintln!("release 20:1s,100 with the shared sink down: {took:?}");
    assert_eq!(code, 0, "{out}\n{err}");
    // Never blocked: the release's own time plus the 5 s the queue is given
    // at the end, at most.
    assert!(took < Duration::from_secs(30), "{took:?}");
    let j = w.journal();
    assert_eq!(last_transition_to(&j), "promoted");
    assert!(j.contains("\"event\":\"session-end\""), "{j}");
    // Said: on the event stream once, and on stderr at the end, with its age.
    let audit: Vec<&Value> = stream
        .iter()
        .filter(|e| e["event"] == "error" && e["source"] == "audit")
        .collect();
    assert_eq!(audit.len(), 1, "{stream:?}");
    assert!(
        audit[0]["message"].as_str().unwrap().contains("DEGRADED"),
        "{}",
        audit[0]
    );
    assert!(
        err.contains(
            "shared audit (Cloud Logging projects/emergence-469005/logs/canary-audit) DEGRADED for"
        ),
        "{err}"
    );
    assert!(err.contains("all in the local journal"), "{err}");
}
