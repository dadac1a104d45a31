//! The audit journal: append + fsync, 0600, replay, torn lines, report.

use std::io::Write;

use canary::core::model::TrafficSplit;
use canary::core::plan::{Phase, PlanSpec};
use canary::journal::{self, report, Event, Journal, Record, Who};
use canary_fakes::fixtures::{t0, CANARY, STABLE};

fn rec(secs: i64, event: Event) -> Record {
    Record {
        at: t0() + chrono::Duration::seconds(secs),
        who: Who {
            user: "alice".into(),
            from: Some("10.1.2.3".into()),
        },
        service: "emergence-app".into(),
        event,
    }
}

fn split(c: u32) -> TrafficSplit {
    TrafficSplit::new([(CANARY, c), (STABLE, 100 - c)]).expect("valid")
}

fn story() -> Vec<Record> {
    vec![
        rec(
            0,
            Event::PlanStarted {
                canary: CANARY.into(),
                stable: STABLE.into(),
                spec: PlanSpec::domain_default(),
                canary_image: Some("emergence:deploy-20261120-101500".into()),
            },
        ),
        rec(
            1,
            Event::TrafficApplied {
                id: 1,
                kind: "plan step 1".into(),
                before: split(0),
                after: split(10),
                reason: None,
                took_ms: 812,
            },
        ),
        rec(
            2,
            Event::PlanTransition {
                from: Phase::Applying { step: 0 },
                to: Phase::Observing {
                    step: 0,
                    since: t0(),
                },
                why: "10 % applied".into(),
            },
        ),
    ]
}

#[test]
fn append_replay_round_trip_with_mode_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal::path_for(dir.path(), "emergence-app");
    let mut j = Journal::open(&path).expect("open");
    for r in story() {
        j.append(&r).expect("append");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let replay = journal::replay(&path).expect("replay");
    assert_eq!(replay.records, story());
    assert!(replay.skipped.is_empty());
    let (canary, stable, _, phase, _) = replay.interrupted_plan().expect("plan still running");
    assert_eq!((canary.as_str(), stable.as_str()), (CANARY, STABLE));
    assert!(matches!(phase, Phase::Observing { step: 0, .. }));
    assert_eq!(replay.last_split(), Some(&split(10)));
}

#[test]
fn a_torn_last_line_is_reported_skipped_and_fenced_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.jsonl");
    let mut j = Journal::open(&path).expect("open");
    for r in story() {
        j.append(&r).expect("append");
    }
    drop(j);
    // killed mid-write: half a record, no newline
    let full = serde_json::to_string(&story()[1]).expect("json");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(&full.as_bytes()[..full.len() / 2])
        .expect("write");
    drop(f);

    let replay = journal::replay(&path).expect("never fatal");
    assert_eq!(replay.records.len(), 3);
    assert_eq!(replay.skipped.len(), 1);
    assert_eq!(replay.skipped[0].0, 4);
    assert!(replay.skipped[0].1.contains("torn"), "{:?}", replay.skipped);

    // reopening fences the torn line so the next record is whole
    let mut j = Journal::open(&path).expect("reopen");
    j.append(&rec(
        9,
        Event::Note {
            message: "after the crash".into(),
        },
    ))
    .expect("append");
    let replay = journal::replay(&path).expect("replay");
    assert_eq!(replay.records.len(), 4);
    assert_eq!(replay.skipped.len(), 1);
    assert!(matches!(replay.records[3].event, Event::Note { .. }));
}

#[test]
fn a_finished_plan_is_not_resumed() {
    let mut recs = story();
    recs.push(rec(
        93,
        Event::PlanTransition {
            from: Phase::Observing {
                step: 0,
                since: t0(),
            },
            to: Phase::RolledBack {
                reason: "gate failed: canary 5xx 8.2 % > 1 %".into(),
            },
            why: "rolled back".into(),
        },
    ));
    // Later, by hand: not part of the plan's duration.
    recs.push(rec(
        900,
        Event::TrafficApplied {
            id: 2,
            kind: "shift".into(),
            before: split(0),
            after: split(5),
            reason: None,
            took_ms: 700,
        },
    ));
    let replay = journal::Replay {
        records: recs,
        skipped: vec![],
    };
    assert!(replay.interrupted_plan().is_none());
    let md = report::markdown("emergence-app", &replay);
    assert!(md.contains("# Deployment report: emergence-app"), "{md}");
    assert!(
        md.contains("Outcome: **rolled back** after 1 min 33 s"),
        "{md}"
    );
    assert!(
        md.contains("Rollback reason: gate failed: canary 5xx 8.2 % > 1 %"),
        "{md}"
    );
    assert!(md.contains("emergence:deploy-20261120-101500"), "{md}");
    let row = format!(
        "| 10:00:01 | alice (10.1.2.3) | plan step 1 | {STABLE}=100 | {STABLE}=90, {CANARY}=10 | 812 ms |"
    );
    assert!(md.contains(&row), "{md}");
    let line = report::history_line(&replay.records[1]);
    assert!(
        line.contains("alice (10.1.2.3)") && line.contains("812 ms"),
        "{line}"
    );
}

#[test]
fn missing_journal_is_empty_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let replay = journal::replay(&dir.path().join("none.jsonl")).expect("ok");
    assert!(replay.records.is_empty());
    assert!(report::markdown("svc", &replay).contains("empty"));
}

/// Records submitted one after another land in that order, fsynced, however
/// the tasks that wait for them are scheduled (the replay relies on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_keeps_the_submission_order() {
    use canary::runtime::record::Recorder;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = journal::path_for(dir.path(), "svc");
    let who = Who {
        user: "alice".into(),
        from: None,
    };
    let recorder = Recorder::new(Some(Journal::open(&path).expect("open")), who, "svc".into());
    let pending: Vec<_> = (0..200)
        .map(|i| {
            recorder.submit(Event::Note {
                message: format!("n{i}"),
            })
        })
        .collect();
    // Waited for in reverse, from tasks: the order on disk must not care.
    let mut tasks = Vec::new();
    for p in pending.into_iter().rev() {
        tasks.push(tokio::spawn(p.done()));
    }
    for t in tasks {
        t.await.expect("join").expect("written");
    }
    let replay = journal::replay(&path).expect("replay");
    let notes: Vec<String> = replay
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Note { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    let wanted: Vec<String> = (0..200).map(|i| format!("n{i}")).collect();
    assert_eq!(notes, wanted);
    // A disabled recorder accepts and writes nothing.
    assert!(Recorder::disabled("svc")
        .record(Event::SessionEnd)
        .await
        .is_ok());
}

/// A rollback goes out at the first `y`; its reason follows in its own
/// record. The report joins it to that change only, even when an older
/// session used the same change number.
#[test]
fn a_late_reason_joins_its_own_change_in_the_report() {
    let requested = |secs, id, kind: &str, before, after| {
        rec(
            secs,
            Event::TrafficRequested {
                id,
                kind: kind.into(),
                before,
                after,
                reason: None,
                pid: None,
            },
        )
    };
    let applied = |secs, id, kind: &str, before, after| {
        rec(
            secs,
            Event::TrafficApplied {
                id,
                kind: kind.into(),
                before,
                after,
                reason: None,
                took_ms: 800,
            },
        )
    };
    let start = |secs| {
        rec(
            secs,
            Event::SessionStart {
                platform: "simulator".into(),
                read_only: false,
            },
        )
    };
    let all = TrafficSplit::all_to(STABLE);
    let records = vec![
        start(0),
        requested(1, 2, "shift", split(5), split(10)),
        applied(2, 2, "shift", split(5), split(10)),
        start(10),
        requested(11, 2, "rollback", split(10), all.clone()),
        rec(
            12,
            Event::TrafficReason {
                id: 2,
                kind: "rollback".into(),
                reason: "5xx on the canary".into(),
            },
        ),
        applied(13, 2, "rollback", split(10), all),
    ];
    let md = report::markdown(
        "emergence-app",
        &journal::Replay {
            records,
            skipped: vec![],
        },
    );
    let rows: Vec<&str> = md.lines().filter(|l| l.contains("| alice")).collect();
    let shift = rows
        .iter()
        .find(|l| l.contains("| shift |"))
        .expect("shift row");
    let rollback = rows
        .iter()
        .find(|l| l.contains("| rollback |"))
        .expect("rollback row");
    assert!(!shift.contains("5xx on the canary"), "{md}");
    assert!(rollback.contains("5xx on the canary"), "{md}");
    let line = report::history_line(&rec(
        12,
        Event::TrafficReason {
            id: 2,
            kind: "rollback".into(),
            reason: "5xx on the canary".into(),
        },
    ));
    assert!(line.contains("rollback #2 reason"), "{line}");
}

/// A rollback made during a plan carries the plan's words; the operator's,
/// given after it went out, are added, not dropped.
#[test]
fn a_late_reason_adds_to_the_plans_words() {
    let all = TrafficSplit::all_to(STABLE);
    let records = vec![
        rec(
            1,
            Event::TrafficRequested {
                id: 7,
                kind: "rollback".into(),
                before: split(10),
                after: all.clone(),
                reason: Some("rolled back by the operator".into()),
                pid: None,
            },
        ),
        rec(
            2,
            Event::TrafficReason {
                id: 7,
                kind: "rollback".into(),
                reason: "5xx on the canary".into(),
            },
        ),
        rec(
            3,
            Event::TrafficApplied {
                id: 7,
                kind: "rollback".into(),
                before: split(10),
                after: all,
                reason: Some("rolled back by the operator".into()),
                took_ms: 800,
            },
        ),
    ];
    let md = report::markdown(
        "emergence-app",
        &journal::Replay {
            records,
            skipped: vec![],
        },
    );
    assert!(
        md.contains("rolled back by the operator: 5xx on the canary"),
        "{md}"
    );
}
