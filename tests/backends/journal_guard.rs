//! The screen never acts without its journal (a rollback aside, said
//! loudly), a full disk loses no record, the team hears of every change made
//! by hand, and a retry shows on the change in flight.

use std::sync::Arc;
use std::time::Duration;

use canary::core::action::{Action, ChangeKind, Effect};
use canary::core::error::{Progress, Retrying};
use canary::core::key::KeyCode;
use canary::core::state::{Settings, State};
use canary::core::update::update;
use canary::google::Auth;
use canary::journal::{self, Event, Journal, Who};
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::Platform;
use canary::runtime::record::Recorder;
use canary::runtime::{self, Backends, Timing};
use canary_fakes::cloud_run::{FakeCloudRun, Route};
use canary_fakes::fixtures::{self, ch, key, t0};

fn message(s: &State) -> String {
    s.message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

fn sent(fx: &[Effect]) -> Option<ChangeKind> {
    fx.iter().find_map(|e| match e {
        Effect::SetTraffic { kind, .. } => Some(*kind),
        _ => None,
    })
}

/// `r`, confirm, and a reason if one is asked: every effect on the way.
fn roll_back(s: &mut State) -> Vec<Effect> {
    let mut fx = update(s, ch('r'), t0());
    fx.extend(update(s, ch('y'), t0()));
    if s.mode.name() == "reason" {
        for c in "disk full".chars() {
            fx.extend(update(s, ch(c), t0()));
        }
        fx.extend(update(s, key(KeyCode::Enter), t0()));
    }
    fx
}

#[test]
fn a_broken_journal_refuses_every_change_but_a_rollback() {
    let mut s = fixtures::busy_state();
    update(
        &mut s,
        Action::JournalFailed("journal.jsonl: No space left on device (os error 28)".into()),
        t0(),
    );
    let fx = update(&mut s, ch('+'), t0());
    assert_eq!(sent(&fx), None, "a shift is refused");
    assert!(
        message(&s).contains("refused") && message(&s).contains("journal"),
        "{}",
        message(&s)
    );
    let fx = roll_back(&mut s);
    assert_eq!(sent(&fx), Some(ChangeKind::Rollback), "a rollback goes out");
    assert!(
        message(&s).contains("rollback") || message(&s).contains("journal"),
        "{}",
        message(&s)
    );
    fixtures::land(&mut s, t0());
    // Writable again: changes go out again.
    update(&mut s, Action::JournalHealth(None), t0());
    assert!(s.journal_broken.is_none());
    assert!(message(&s).contains("writable again"), "{}", message(&s));
    let fx = update(&mut s, ch('+'), t0());
    assert_eq!(sent(&fx), Some(ChangeKind::Shift));
}

#[test]
fn a_rollback_and_a_promotion_by_hand_tell_the_team() {
    let mut s = fixtures::busy_state();
    roll_back(&mut s);
    let fx = fixtures::land(&mut s, t0());
    let told: Vec<&String> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1, "{fx:?}");
    assert!(told[0].contains("rollback done"), "{}", told[0]);

    let mut s = fixtures::busy_state();
    update(&mut s, ch('P'), t0());
    update(&mut s, key(KeyCode::Enter), t0());
    if s.mode.name() == "reason" {
        update(&mut s, key(KeyCode::Enter), t0());
    }
    let fx = fixtures::land(&mut s, t0());
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Notify(t) if t.contains("promote done"))),
        "{fx:?}"
    );
}

#[test]
fn a_read_being_retried_shows_on_the_service_health_naming_the_call() {
    let mut s = fixtures::state();
    update(
        &mut s,
        Action::Progress(Progress::Retrying(Retrying {
            call: "reading service emergence-app in project p, region r".into(),
            attempt: 2,
            of: 5,
            wait: Duration::from_millis(250),
            why: "unavailable: reading service emergence-app: no answer within 10s".into(),
        })),
        t0(),
    );
    let (e, _) = s.service_health.error.clone().expect("shown at once");
    assert!(
        e.contains("no answer within 10s") && e.contains("retrying (2/5)"),
        "{e}"
    );
}

#[test]
fn a_retry_shows_on_the_change_in_flight() {
    let mut s = fixtures::state();
    update(&mut s, ch('+'), t0());
    assert!(s.change.is_some());
    update(
        &mut s,
        Action::Progress(Progress::Retrying(Retrying {
            call: "changing the traffic of emergence-app".into(),
            attempt: 2,
            of: 5,
            wait: Duration::from_millis(400),
            why: "unavailable: HTTP 503".into(),
        })),
        t0(),
    );
    let m = message(&s);
    assert!(m.contains("in flight, retrying (2/5)"), "{m}");
    update(
        &mut s,
        Action::Progress(Progress::ReadBack {
            call: "changing the traffic of emergence-app".into(),
            answer: "unavailable: HTTP 503".into(),
            outcome: "applied".into(),
        }),
        t0(),
    );
    let m = message(&s);
    assert!(
        m.contains("unclear") && m.contains("shows it applied"),
        "{m}"
    );
}

/// A journal path that always answers "No space left on device".
fn full_disk(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("emergence-app.jsonl");
    std::os::unix::fs::symlink("/dev/full", &path).expect("symlink to /dev/full");
    path
}

fn who() -> Who {
    Who {
        user: "alice".into(),
        from: None,
    }
}

#[tokio::test]
async fn records_kept_while_the_disk_is_full_are_appended_in_order_once_it_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = full_disk(dir.path());
    let rec = Recorder::new(
        Some(Journal::open(&path).expect("open")),
        who(),
        "emergence-app".into(),
    );
    let first = rec
        .record(Event::Note {
            message: "one".into(),
        })
        .await;
    assert!(first.is_err(), "a full disk is an error");
    assert!(rec.broken().is_some());
    let second = rec
        .record(Event::Note {
            message: "two".into(),
        })
        .await;
    assert!(second.is_err(), "still broken: kept, not written");
    // Space again.
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, "").expect("a real file");
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if rec.broken().is_none() {
            ok = true;
            break;
        }
    }
    assert!(ok, "flushed within the retry period");
    rec.record(Event::Note {
        message: "three".into(),
    })
    .await
    .expect("writable");
    let replay = journal::replay(&path).expect("replay");
    assert!(
        replay.skipped.is_empty(),
        "no fragment: {:?}",
        replay.skipped
    );
    let notes: Vec<String> = replay
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert_eq!(notes[0], "one");
    assert_eq!(notes[1], "two");
    assert!(notes[2].contains("was not writable"), "{notes:?}");
    assert_eq!(notes[3], "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_disk_the_screen_sends_no_change_the_journal_does_not_know() {
    let (fake, url) = FakeCloudRun::start().await.expect("fake");
    let at = fake.seed_demo();
    let cr = CloudRun::new(
        CloudRunSettings::new(&at.project, &at.region, &at.service, Auth::None).with_endpoint(url),
    )
    .expect("client");
    let platform: Arc<dyn Platform> = Arc::new(cr);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = full_disk(dir.path());
    let recorder = Recorder::new(
        Some(Journal::open(&path).expect("open")),
        who(),
        "emergence-app".into(),
    );
    let _ = recorder
        .record(Event::SessionStart {
            platform: "cloud-run".into(),
            read_only: false,
        })
        .await;
    let backends = Backends {
        recorder: recorder.clone(),
        ..Backends::bare(Arc::clone(&platform))
    };
    let state = State::new(Settings::default(), platform.info(), chrono::Utc::now());
    let (tx, rx) = runtime::channel();
    let mut term =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("terminal");
    let driver = {
        let tx = tx.clone();
        tokio::spawn(async move {
            // Past the first tick: the journal's health has reached the screen.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for _ in 0..6 {
                let _ = tx.send(ch('+')).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = tx.send(Action::Terminate("test")).await;
        })
    };
    let events = futures::stream::pending();
    let state = runtime::run(
        &mut term,
        state,
        backends,
        Timing::default(),
        events,
        tx,
        rx,
    )
    .await
    .expect("run");
    driver.await.expect("driver");
    let patches = fake
        .requests()
        .iter()
        .filter(|r| r.route == Route::PatchService)
        .count();
    assert!(
        state.snapshot.is_some(),
        "the service was read: `+` meant a shift"
    );
    assert_eq!(patches, 0, "no change the journal does not know of");
    assert!(state.journal_broken.is_some());
}
