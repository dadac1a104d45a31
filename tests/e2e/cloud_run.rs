//! End to end on Cloud Run: the real binary in a pseudo-terminal, configured
//! with `platform = "cloud-run"` against the fake Cloud Run (Admin API v2,
//! Cloud Logging and Cloud Monitoring's PromQL API on one port), as an operator
//! would point it at the real APIs. The fake runs in this process on a tokio
//! runtime of its own; the test looks at the screen and at the fake's state.

use crate::support::tty;

use std::path::Path;
use std::time::Duration;

use canary::core::model::Severity;
use canary::platform::cloud_run::api::TrafficTarget;
use canary_fakes::cloud_run::{
    to_revision, FakeCloudRun, FakeLogEntry, Fault, Route, ServiceRef, DEMO_CANARY, DEMO_STABLE,
};
use tty::{row, Tty};

/// The fake on a runtime of its own (worker threads keep serving while the
/// test thread blocks on the screen); the release's tests use it too.
pub(crate) struct Fake {
    pub(crate) fake: FakeCloudRun,
    pub(crate) url: String,
    pub(crate) at: ServiceRef,
    // Dropped last: the fake's server task lives on it.
    pub(crate) _rt: tokio::runtime::Runtime,
}

impl Fake {
    pub(crate) fn start() -> Fake {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (fake, url) = rt.block_on(FakeCloudRun::start()).expect("fake");
        let at = fake.seed_demo();
        Fake {
            fake,
            url,
            at,
            _rt: rt,
        }
    }

    /// The share of `revision` in the fake's `traffic` (target) and its tag
    /// (the cockpit keeps a tag as its own 0 % entry next to the percent).
    fn target(&self, revision: &str) -> (i32, Option<String>) {
        let of_rev: Vec<TrafficTarget> = self
            .traffic()
            .into_iter()
            .filter(|t| t.revision.as_deref() == Some(revision))
            .collect();
        (
            of_rev.iter().filter_map(|t| t.percent).sum(),
            of_rev.iter().find_map(|t| t.tag.clone()),
        )
    }

    fn etag(&self) -> String {
        let _g = self._rt.enter();
        self.fake
            .service(&self.at)
            .and_then(|s| s.etag)
            .expect("etag")
    }

    pub(crate) fn service(&self) -> canary::platform::cloud_run::api::Service {
        let _g = self._rt.enter();
        self.fake.service(&self.at).expect("service")
    }

    pub(crate) fn traffic(&self) -> Vec<TrafficTarget> {
        self.service().traffic
    }

    fn stop(&self) {
        let _g = self._rt.enter();
        self.fake.stop();
    }

    fn restart(&self) {
        let _g = self._rt.enter();
        self.fake.restart().expect("restart on the same port");
    }

    fn log(&self, revision: &str, message: &str) {
        self.fake.append_log(FakeLogEntry::text(
            &self.at,
            revision,
            Severity::Info,
            message,
        ));
    }
}

/// Writes the operator's config for the fake: the demo service, the fake's
/// endpoints, no credentials, fast refreshes.
fn write_config(dir: &Path, f: &Fake) -> String {
    let path = dir.join("canary.toml");
    let text = format!(
        r#"[service]
platform = "cloud-run"
name = "{name}"
project = "{project}"
region = "{region}"

[refresh]
service = "300ms"
metrics = "500ms"
logs = "300ms"

[metrics]
window = "5m"
step = "10s"

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

fn spawn(f: &Fake) -> Tty {
    let home = tempfile::tempdir().expect("tempdir");
    let config = write_config(home.path(), f);
    Tty::spawn_in(home, &["--config", &config], &[])
}

/// `q` quits at once: a key is never lost (no second press).
fn quit(t: &mut Tty) {
    t.press("q");
    let st = t.wait_exit();
    assert!(st.success(), "exit status {st:?}");
}

fn settled(s: &str, revision: &str, pct: &str) -> bool {
    row(s, revision).is_some_and(|r| r.contains(pct) && !r.contains('→'))
}

/// SIGTERM (an SSH drop) while a change is in flight: the cockpit lets the
/// change land and journals its outcome before the session ends, instead of
/// cutting it off with the runtime.
#[test]
fn a_signal_during_a_change_lets_it_land_and_journal_it() {
    let f = Fake::start();
    f.fake.set_operation_delay(Duration::from_millis(1500));
    let home = tempfile::tempdir().expect("tempdir");
    let config = write_config(home.path(), &f);
    let mut t = Tty::spawn_at(home.path(), &["--config", &config], &[]);
    t.wait_for("the service", |s| settled(s, DEMO_STABLE, "100%"));
    t.press("+");
    t.wait_for_up_to(Duration::from_secs(10), "the change pending", |s| {
        row(s, DEMO_CANARY).is_some_and(|r| r.contains('→'))
    });
    let pid = t.child.process_id().expect("pid");
    // SAFETY: a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    t.wait_exit();
    assert_eq!(f.target(DEMO_CANARY).0, 5, "the change landed");
    let dir = home.path().join("state/canary/journal");
    let journal = std::fs::read_dir(&dir)
        .expect("journal dir")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).expect("journal"))
        .find(|j| j.contains("emergence-app"))
        .expect("the service's journal");
    let applied = journal
        .find("traffic-applied")
        .expect("the outcome journaled");
    let ended = journal.rfind("session-end").expect("the session's end");
    assert!(
        applied < ended,
        "outcome before the session end:\n{journal}"
    );
}

/// The filters of the `entries:list` calls the fake received, oldest first.
fn log_filters(f: &Fake) -> Vec<String> {
    f.fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::ListLogEntries)
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            Some(body["filter"].as_str()?.to_string())
        })
        .collect()
}

/// `l` narrows the tail to the selected revision: only its lines on screen,
/// and Cloud Logging asked for that revision (plus the severities the `logs`
/// check counts, from every revision); the focus follows the cursor; `l`
/// again reads the whole service, the other revisions' lines back in time order.
#[test]
fn l_narrows_the_log_tail_to_the_selected_revision() {
    let f = Fake::start();
    let home = tempfile::tempdir().expect("tempdir");
    let config = write_config(home.path(), &f);
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(
        "\n[[checks]]\nname = \"no-errors-in-logs\"\nkind = \"logs\"\nseverity = \"ERROR\"\n",
    );
    std::fs::write(&config, text).expect("config");
    f.log(DEMO_STABLE, "e2e: stable one");
    f.log(DEMO_CANARY, "e2e: canary one");
    let mut t = Tty::spawn_in(home, &["--config", &config], &[]);
    t.wait_for("both revisions' lines", |s| {
        s.contains("e2e: stable one") && s.contains("e2e: canary one")
    });

    // The cursor starts on the tagged canary.
    f.fake.clear_requests();
    t.press("l");
    t.wait_for("the canary's lines only", |s| {
        s.contains("canary 00043")
            && s.contains(" only ")
            && s.contains("e2e: canary one")
            && !s.contains("e2e: stable one")
    });
    let narrowed =
        format!(r#"AND (resource.labels.revision_name="{DEMO_CANARY}" OR severity>=ERROR) AND"#);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !log_filters(&f).iter().any(|q| q.contains(&narrowed)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            log_filters(&f)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    f.log(DEMO_STABLE, "e2e: stable two");
    f.log(DEMO_CANARY, "e2e: canary two");
    t.wait_for("the canary's new line", |s| s.contains("e2e: canary two"));

    // j: the stable is selected, and its lines follow.
    t.press("j");
    t.wait_for("the stable's lines only", |s| {
        s.contains("stable 00042") && s.contains("e2e: stable two") && !s.contains("e2e: canary")
    });

    // l: everyone again, in time order.
    t.press("l");
    let s = t.wait_for("all revisions", |s| {
        !s.contains(" only ") && s.contains("e2e: canary two") && s.contains("e2e: stable two")
    });
    let order: Vec<usize> = ["stable one", "canary one", "stable two", "canary two"]
        .iter()
        .map(|m| s.find(&format!("e2e: {m}")).expect(m))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in time order: {s}");
    let last = log_filters(&f).pop().expect("a read");
    assert!(!last.contains("revision_name"), "{last}");
    quit(&mut t);
}

/// The demo as an operator sees it: the service, its revisions and tag, the
/// metrics and logs from Google's APIs; `+` shifts 5 %, shown pending then
/// done; `r`, `y`, Enter rolls back with the tag kept; every PATCH carries
/// the etag it read and `updateMask=traffic`.
#[test]
fn shows_shifts_rolls_back_and_tails_logs_against_the_fake() {
    let f = Fake::start();
    f.fake.set_revision_behaviour(DEMO_STABLE, 0.3, 87.0);
    f.fake.set_revision_behaviour(DEMO_CANARY, 0.0, 95.0);
    // Long enough to see the change pending.
    f.fake.set_operation_delay(Duration::from_millis(1500));
    let mut t = spawn(&f);

    let s = t.wait_for("the service read from the fake", |s| {
        settled(s, DEMO_STABLE, "100%") && row(s, DEMO_CANARY).is_some()
    });
    let header = s.lines().next().unwrap_or_default();
    assert!(header.contains("emergence-app"), "{s}");
    assert!(header.contains("cloud-run"), "{s}");
    assert!(!s.contains("DEMO"), "not the simulator: {s}");
    let canary_row = row(&s, DEMO_CANARY).expect("canary row");
    assert!(canary_row.contains("canary"), "the tag: {canary_row}");
    assert!(canary_row.contains("0%"), "{canary_row}");
    assert!(row(&s, "emergence-app-00041-mop").is_some(), "{s}");

    // Metrics from the PromQL API: the stable's, and no data for the canary at 0 %.
    let s = t.wait_for("the stable's metrics", |s| {
        s.contains("50.0") && s.contains("0.30%") && s.contains("87ms")
    });
    assert!(s.contains("no data"), "the canary has no traffic: {s}");

    // Logs from Cloud Logging.
    f.log(DEMO_STABLE, "e2e: stable says hello");
    f.fake.append_log(FakeLogEntry::request(
        &f.at,
        DEMO_STABLE,
        "GET",
        "/api/health",
        503,
        Duration::from_millis(1520),
    ));
    t.wait_for("the appended entries in the log panel", |s| {
        s.contains("e2e: stable says hello") && s.contains("/api/health")
    });

    // + : 5 % to the canary, pending then done.
    f.fake.clear_requests();
    let mut etags = vec![f.etag()];
    t.press("+");
    t.wait_for_up_to(Duration::from_secs(10), "the change pending", |s| {
        row(s, DEMO_CANARY).is_some_and(|r| r.contains('→') && r.contains("5%"))
    });
    // The platform may settle a moment before the cockpit's next poll of the
    // operation: the change is done when the footer says so.
    t.wait_for("the canary at 5 %, the change done", |s| {
        settled(s, DEMO_CANARY, " 5%") && settled(s, DEMO_STABLE, "95%") && s.contains("done in")
    });
    assert_eq!(f.target(DEMO_CANARY), (5, Some("canary".into())));
    assert_eq!(f.target(DEMO_STABLE).0, 95);
    // The canary now has traffic: 5 % of 50 req/s.
    t.wait_for("the canary's metrics", |s| {
        s.contains("2.5") && s.contains("95ms")
    });

    // r, y (the reason skipped afterwards): all back on the stable, the tag kept.
    etags.push(f.etag());
    t.roll_back_with_keys();
    t.wait_for("all traffic back on the stable", |s| {
        settled(s, DEMO_STABLE, "100%") && settled(s, DEMO_CANARY, " 0%")
    });
    t.skip_reason();
    assert_eq!(f.target(DEMO_STABLE).0, 100);
    assert_eq!(f.target(DEMO_CANARY), (0, Some("canary".into())));

    // Every PATCH: updateMask=traffic and the etag the service had when the
    // operator pressed the key.
    let patches: Vec<_> = f
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Route::PatchService)
        .collect();
    assert_eq!(patches.len(), 2, "the shift and the rollback");
    for (p, etag) in patches.iter().zip(&etags) {
        assert_eq!(p.method, "PATCH");
        assert_eq!(p.query, "updateMask=traffic");
        let body: serde_json::Value = serde_json::from_str(&p.body).expect("json body");
        assert_eq!(body["etag"].as_str(), Some(etag.as_str()), "{}", p.body);
        let tags: Vec<&str> = body["traffic"]
            .as_array()
            .expect("traffic")
            .iter()
            .filter_map(|t| t["tag"].as_str())
            .collect();
        assert_eq!(tags, ["canary"], "the tag survives: {}", p.body);
    }

    quit(&mut t);
}

/// Someone changes the service between the cockpit's read and its PATCH: the
/// fake answers 409 ABORTED, the cockpit re-reads, shows what changed and asks
/// again; declining leaves the other change in place.
#[test]
fn a_concurrent_change_is_shown_and_nothing_is_overwritten() {
    let f = Fake::start();
    let mut t = spawn(&f);
    t.wait_for("the service", |s| settled(s, DEMO_STABLE, "100%"));
    let theirs = vec![
        to_revision(DEMO_STABLE, 80, None),
        to_revision(DEMO_CANARY, 20, Some("canary")),
    ];
    f.fake
        .inject(Route::PatchService, Fault::ConcurrentChange(theirs), 1);
    t.press("+");
    let s = t.wait_for("the conflict and the question again", |s| {
        s.contains("someone else changed the service") && s.contains("anyway")
    });
    assert!(s.contains("20"), "what changed is shown: {s}");
    // The one PATCH was refused (etag mismatch): their split stands.
    assert_eq!(f.target(DEMO_CANARY), (20, Some("canary".into())));
    assert_eq!(f.target(DEMO_STABLE).0, 80);
    t.press("n");
    t.wait_for("their split on screen and the change cancelled", |s| {
        settled(s, DEMO_CANARY, "20%") && settled(s, DEMO_STABLE, "80%") && s.contains("cancelled")
    });
    std::thread::sleep(Duration::from_millis(800));
    let patches = f
        .fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::PatchService)
        .count();
    assert_eq!(patches, 1, "nothing sent after the refusal");
    assert_eq!(f.target(DEMO_CANARY), (20, Some("canary".into())));
    assert_eq!(f.traffic().len(), 2);
    quit(&mut t);
}

/// The fake goes away: the header shows the error and the data's age, which
/// keeps growing (the screen is not frozen, keys still answer); it comes
/// back: the cockpit recovers by itself.
#[test]
fn the_fake_going_away_shows_the_age_and_coming_back_recovers() {
    let f = Fake::start();
    let mut t = spawn(&f);
    t.wait_for("the service", |s| {
        settled(s, DEMO_STABLE, "100%") && s.contains("refreshed")
    });
    f.stop();
    let first = t.wait_for_up_to(Duration::from_secs(10), "the error in the header", |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("service: ERROR"))
    });
    let age_of = |s: &str| -> Option<u64> {
        let h = s.lines().next()?;
        let rest = &h[h.find("service: ERROR ")? + "service: ERROR ".len()..];
        rest.split('s').next()?.trim().parse().ok()
    };
    let a = age_of(&first);
    t.wait_for_up_to(Duration::from_secs(10), "the age to grow", |s| {
        age_of(s) > a && age_of(s).is_some()
    });
    // Still drawn from the last read, and the keys answer: help opens and closes.
    let s = t.text();
    assert!(settled(&s, DEMO_STABLE, "100%"), "{s}");
    t.press("?");
    t.wait_for("the help screen", |s| s.to_lowercase().contains("help"));
    t.press("\x1b");
    f.restart();
    t.wait_for("the cockpit to recover", |s| {
        s.lines()
            .next()
            .is_some_and(|h| h.contains("refreshed") && !h.contains("ERROR"))
    });
    quit(&mut t);
}
