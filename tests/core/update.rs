//! `update`: each key in each mode gives the expected state and effects.

use canary::core::action::{Action, ChangeKind, Effect};
use canary::core::error::BackendError;
use canary::core::key::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use canary::core::model::{Severity, TrafficSplit, Version};
use canary::core::state::{InputKind, Level, Mode, Settings, State};
use canary::core::update::update;
use canary::journal::Event;
use canary_fakes::fixtures::{self, t0, CANARY, OLD, STABLE};
use chrono::Duration;

use canary_fakes::fixtures::{ch, key};

fn press(s: &mut State, a: Action) -> Vec<Effect> {
    update(s, a, t0())
}

fn type_str(s: &mut State, text: &str) {
    for c in text.chars() {
        press(s, ch(c));
    }
}

fn split(p: &[(&str, u32)]) -> TrafficSplit {
    TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).expect("valid")
}

fn set_traffic(fx: &[Effect]) -> Option<(u64, TrafficSplit, Version)> {
    fx.iter().find_map(|e| match e {
        Effect::SetTraffic {
            id, split, expect, ..
        } => Some((*id, split.clone(), expect.clone())),
        _ => None,
    })
}

fn message(s: &State) -> String {
    s.message
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default()
}

/// Lands the change in flight as the platform would.
fn land(s: &mut State) -> Vec<Effect> {
    fixtures::land(s, t0() + Duration::seconds(1))
}

/// The change `id` failed with `error` (at `t0`).
fn fail(s: &mut State, id: u64, error: BackendError) -> Vec<Effect> {
    update(s, Action::TrafficFailed { id, error }, t0())
}

/// A read that started after the last change landed comes back with `snapshot`.
fn read(
    s: &mut State,
    snapshot: canary::core::model::ServiceSnapshot,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Effect> {
    let generation = s.write_generation;
    update(
        s,
        Action::ServiceLoaded {
            snapshot,
            generation,
        },
        now,
    )
}

#[test]
fn first_load_picks_stable_and_selects_the_tagged_canary() {
    let s = fixtures::state();
    assert_eq!(s.stable(), Some(STABLE));
    assert_eq!(s.selected.as_deref(), Some(CANARY));
    assert!(s.service_health.last_ok.is_some());
}

#[test]
fn first_load_asks_metrics_for_the_revisions() {
    let mut s = State::new(Settings::default(), fixtures::info(), t0());
    let fx = update(&mut s, fixtures::service_loaded(fixtures::snapshot()), t0());
    assert_eq!(
        fx,
        vec![
            Effect::WatchRevisions(vec![
                CANARY.to_string(),
                STABLE.to_string(),
                OLD.to_string()
            ]),
            // The stable at 100 %, new to the (empty) history: journaled, so
            // that the scripting commands decide roles as the screen does.
            Effect::Journal(Event::ServiceObserved {
                traffic: TrafficSplit::all_to(STABLE)
            }),
        ]
    );
    // Seen again: nothing new to journal.
    let fx = update(&mut s, fixtures::service_loaded(fixtures::snapshot()), t0());
    assert!(fx.is_empty(), "{fx:?}");
}

#[test]
fn j_k_and_arrows_move_the_cursor_and_clamp() {
    let mut s = fixtures::state();
    press(&mut s, ch('j'));
    assert_eq!(s.selected.as_deref(), Some(STABLE));
    press(&mut s, key(KeyCode::Down));
    assert_eq!(s.selected.as_deref(), Some(OLD));
    press(&mut s, ch('j'));
    assert_eq!(s.selected.as_deref(), Some(OLD), "clamped at the bottom");
    press(&mut s, ch('k'));
    press(&mut s, key(KeyCode::Up));
    press(&mut s, ch('k'));
    assert_eq!(s.selected.as_deref(), Some(CANARY), "clamped at the top");
}

#[test]
fn plus_sends_one_step_from_the_stable_with_the_etag_read() {
    let mut s = fixtures::state();
    let fx = press(&mut s, ch('+'));
    let (id, sp, expect) = set_traffic(&fx).expect("a traffic change");
    assert_eq!(sp, split(&[(STABLE, 95), (CANARY, 5)]));
    assert_eq!(expect, Version("etag-1".into()));
    let pending = s.change.as_ref().expect("pending");
    assert_eq!(pending.id, id);
    assert_eq!(pending.kind, ChangeKind::Shift);
    // still showing the platform's split until confirmed
    assert_eq!(
        s.snapshot.as_ref().map(|x| x.traffic.clone()),
        Some(TrafficSplit::all_to(STABLE))
    );
    land(&mut s);
    assert!(s.change.is_none());
    assert_eq!(
        s.snapshot.as_ref().map(|x| x.traffic.clone()),
        Some(split(&[(STABLE, 95), (CANARY, 5)]))
    );
    assert!(message(&s).contains("done"), "{}", message(&s));
}

#[test]
fn presses_during_a_change_are_queued_not_lost() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    let fx = press(&mut s, ch('+'));
    assert!(set_traffic(&fx).is_none(), "one change at a time");
    let fx = press(&mut s, ch('+'));
    assert!(set_traffic(&fx).is_none());
    assert_eq!(
        s.queued.as_ref().map(|q| q.split.clone()),
        Some(split(&[(STABLE, 85), (CANARY, 15)]))
    );
    let fx = land(&mut s);
    let (_, sp, expect) = set_traffic(&fx).expect("queued change sent");
    assert_eq!(sp, split(&[(STABLE, 85), (CANARY, 15)]));
    assert_eq!(
        expect,
        Version("etag-after-1".into()),
        "sent with the new etag"
    );
    assert!(s.queued.is_none());
}

#[test]
fn minus_gives_back_to_the_stable() {
    let mut s = fixtures::busy_state(); // 90/10
    let fx = press(&mut s, ch('-'));
    let (_, sp, _) = set_traffic(&fx).expect("change");
    assert_eq!(sp, split(&[(STABLE, 95), (CANARY, 5)]));
}

#[test]
fn minus_at_zero_and_plus_on_stable_explain_themselves() {
    let mut s = fixtures::state();
    let fx = press(&mut s, ch('-'));
    assert!(fx.is_empty());
    assert!(
        message(&s).contains("no traffic to give back"),
        "{}",
        message(&s)
    );
    press(&mut s, ch('j')); // stable
    let fx = press(&mut s, ch('+'));
    assert!(fx.is_empty());
    assert!(message(&s).contains("stable revision"), "{}", message(&s));
}

#[test]
fn no_traffic_to_an_unready_revision() {
    let mut s = fixtures::state();
    let mut snap = fixtures::snapshot();
    snap.revisions[0].ready = false;
    snap.revisions[0].status_message = Some("Container failed to start".into());
    update(&mut s, fixtures::service_loaded(snap), t0());
    let fx = press(&mut s, ch('+'));
    assert!(fx.is_empty());
    assert!(s.change.is_none());
    let m = s.message.clone().expect("message");
    assert_eq!(m.level, Level::Error);
    assert!(m.text.contains("not ready"), "{}", m.text);
    // Promote is refused before even asking.
    press(&mut s, ch('P'));
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn r_asks_then_y_rolls_back_to_the_stable() {
    let mut s = fixtures::busy_state();
    let fx = press(&mut s, ch('r'));
    assert!(fx.is_empty(), "nothing sent before confirmation");
    let Mode::Confirm(c) = &s.mode else {
        panic!("expected a confirmation, got {:?}", s.mode.name());
    };
    assert_eq!(c.kind, ChangeKind::Rollback);
    assert_eq!(c.after, TrafficSplit::all_to(STABLE));
    assert_eq!(c.before, split(&[(STABLE, 90), (CANARY, 10)]));
    assert!(!c.preview.is_empty());
    // `y` sends it at once: an engineer who turns to the incident channel
    // after `r` `y` has rolled back.
    let fx = press(&mut s, ch('y'));
    let (_, sp, _) = set_traffic(&fx).expect("rollback sent at the first confirmation");
    assert_eq!(sp, TrafficSplit::all_to(STABLE));
    let id = s.change.as_ref().expect("in flight").id;
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::SetTraffic { reason: None, .. })),
        "{fx:?}"
    );
    // The footer says so from the first moment, with the change's number.
    assert!(message(&s).contains("rollback #"), "{}", message(&s));
    // The optional reason is asked while it is in flight, for that change.
    assert_eq!(s.mode.name(), "reason");
    type_str(&mut s, "5xx on canary");
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(set_traffic(&fx).is_none(), "the reason sends nothing");
    assert!(matches!(s.mode, Mode::Normal));
    assert!(
        fx.iter().any(|e| matches!(e,
            Effect::Journal(Event::TrafficReason { id: i, reason, kind })
                if *i == id && reason == "5xx on canary" && kind == "rollback")),
        "the reason goes to the journal, naming the change: {fx:?}"
    );
}

#[test]
fn n_and_esc_cancel_a_confirmation_and_other_keys_do_nothing() {
    for cancel in [ch('n'), key(KeyCode::Esc)] {
        // (Esc in the reason box cancels too: see below)
        let mut s = fixtures::busy_state();
        press(&mut s, ch('r'));
        let fx = press(&mut s, ch('+'));
        assert!(fx.is_empty());
        assert!(matches!(s.mode, Mode::Confirm(_)), "stray key keeps asking");
        assert!(message(&s).contains("to confirm"), "{}", message(&s));
        let fx = press(&mut s, cancel);
        assert!(fx.is_empty());
        assert!(matches!(s.mode, Mode::Normal));
        assert!(s.change.is_none());
        assert!(message(&s).contains("cancelled"));
    }
}

#[test]
fn promote_asks_and_sends_100_to_the_selected() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('P'));
    let Mode::Confirm(c) = &s.mode else {
        panic!("expected confirm")
    };
    assert_eq!(c.kind, ChangeKind::Promote);
    press(&mut s, key(KeyCode::Enter));
    assert_eq!(s.mode.name(), "reason");
    let fx = press(&mut s, key(KeyCode::Enter)); // the reason is optional
    let (_, sp, _) = set_traffic(&fx).expect("promotion sent");
    assert_eq!(sp, TrafficSplit::all_to(CANARY));
    land(&mut s);
    assert_eq!(
        s.stable(),
        Some(CANARY),
        "the promoted revision is the new stable"
    );
}

#[test]
fn rollback_when_already_there_says_so() {
    let mut s = fixtures::state();
    let fx = press(&mut s, ch('r'));
    assert!(fx.is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("already"), "{}", message(&s));
}

#[test]
fn equals_opens_an_input_with_live_feedback_and_enter_applies() {
    let mut s = fixtures::state();
    press(&mut s, ch('='));
    assert_eq!(s.mode.name(), "set-split");
    type_str(&mut s, "canary=20");
    let Mode::Input(i) = &s.mode else { panic!() };
    assert_eq!(i.kind, InputKind::SetSplit);
    assert_eq!(
        i.feedback.clone(),
        Some(Ok(split(&[(STABLE, 80), (CANARY, 20)])))
    );
    let fx = press(&mut s, key(KeyCode::Enter));
    let (_, sp, _) = set_traffic(&fx).expect("20 points is within max_step");
    assert_eq!(sp, split(&[(STABLE, 80), (CANARY, 20)]));
}

#[test]
fn a_large_jump_asks_for_confirmation() {
    let mut s = fixtures::state();
    press(&mut s, ch('='));
    type_str(&mut s, "canary=50");
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(set_traffic(&fx).is_none());
    let Mode::Confirm(c) = &s.mode else {
        panic!("large jump must be confirmed")
    };
    assert!(c.note.as_deref().unwrap_or("").contains("max_step"));
    let fx = press(&mut s, ch('y'));
    assert!(set_traffic(&fx).is_some());
}

#[test]
fn a_bad_split_keeps_the_input_open_with_the_reason() {
    let mut s = fixtures::state();
    press(&mut s, ch('='));
    type_str(&mut s, "nope=10");
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty());
    let Mode::Input(i) = &s.mode else {
        panic!("still editing")
    };
    let err = i.feedback.clone().expect("feedback").expect_err("error");
    assert!(err.contains("neither a revision, a tag"), "{err}");
    press(&mut s, key(KeyCode::Esc));
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn read_only_refuses_every_write_and_says_why() {
    let settings = Settings {
        read_only: true,
        ..Settings::default()
    };
    let mut s = fixtures::state_with(settings);
    for c in ['+', '-', '=', 'P', 'r'] {
        let fx = press(&mut s, ch(c));
        assert!(fx.is_empty(), "{c} must not write");
        assert!(
            matches!(s.mode, Mode::Normal),
            "{c} opened {}",
            s.mode.name()
        );
        assert!(message(&s).contains("read-only"), "{c}: {}", message(&s));
        // In the user's words: the key and what it does, no internal names.
        assert!(!message(&s).contains('_'), "{c}: {}", message(&s));
        assert!(
            message(&s).contains(&format!("{c} changes traffic")),
            "{}",
            message(&s)
        );
    }
    // reading still works
    press(&mut s, ch('j'));
    assert_eq!(s.selected.as_deref(), Some(STABLE));
}

#[test]
fn slash_filters_live_and_esc_restores() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('/'));
    assert_eq!(s.mode.name(), "filter");
    type_str(&mut s, "503");
    assert_eq!(s.log_view.filter, "503", "applied while typing");
    press(&mut s, key(KeyCode::Esc));
    assert_eq!(s.log_view.filter, "", "Esc restores the previous filter");
    press(&mut s, ch('/'));
    type_str(&mut s, "warmup");
    press(&mut s, key(KeyCode::Enter));
    assert_eq!(s.log_view.filter, "warmup");
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn f_s_and_paging_change_the_log_view() {
    let mut s = fixtures::busy_state();
    assert!(s.log_view.follow);
    press(&mut s, ch('f'));
    assert!(!s.log_view.follow);
    assert_eq!(s.log_view.anchor, Some(199));
    press(&mut s, ch('f'));
    assert!(s.log_view.follow);
    press(&mut s, ch('s'));
    assert_eq!(s.log_view.min_severity, Severity::Info);
    press(&mut s, ch('s'));
    press(&mut s, ch('s'));
    assert_eq!(s.log_view.min_severity, Severity::Error);
    // only errors match: every 10th line; PageUp moves 10 matching lines
    press(&mut s, key(KeyCode::PageUp));
    assert!(!s.log_view.follow);
    assert_eq!(s.log_view.anchor, Some(93));
    press(&mut s, key(KeyCode::PageDown));
    assert!(s.log_view.follow, "paging back to the bottom follows again");
}

fn focus_effect(fx: &[Effect]) -> Option<Option<String>> {
    fx.iter().find_map(|e| match e {
        Effect::FocusLogs(r) => Some(r.clone()),
        _ => None,
    })
}

#[test]
fn l_narrows_the_tail_to_the_selected_revision_and_follows_the_cursor() {
    let mut s = fixtures::busy_state();
    assert_eq!(s.selected.as_deref(), Some(CANARY));
    let all = s.logs.iter().filter(|e| s.log_view.matches(e)).count();
    assert_eq!(all, 200);
    press(&mut s, ch('f'));
    assert!(!s.log_view.follow);

    let fx = press(&mut s, ch('l'));
    assert_eq!(focus_effect(&fx), Some(Some(CANARY.to_string())));
    assert_eq!(s.log_view.revision.as_deref(), Some(CANARY));
    assert!(s.log_view.follow, "a new view starts at the newest lines");
    let shown: Vec<_> = s.logs.iter().filter(|e| s.log_view.matches(e)).collect();
    assert_eq!(
        shown.len(),
        40,
        "every 10th is a canary 503, every 10th a canary info"
    );
    assert!(shown.iter().all(|e| e.revision.as_deref() == Some(CANARY)));

    // The focus follows the cursor; moving without a focus sends nothing.
    let fx = press(&mut s, ch('j'));
    assert_eq!(focus_effect(&fx), Some(Some(STABLE.to_string())));
    assert_eq!(s.log_view.revision.as_deref(), Some(STABLE));
    let fx = press(&mut s, ch('j'));
    assert_eq!(focus_effect(&fx), Some(Some(OLD.to_string())));
    assert_eq!(
        s.logs.iter().filter(|e| s.log_view.matches(e)).count(),
        0,
        "the old revision wrote nothing"
    );

    let fx = press(&mut s, ch('l'));
    assert_eq!(focus_effect(&fx), Some(None));
    assert_eq!(s.log_view.revision, None);
    let fx = press(&mut s, ch('k'));
    assert_eq!(focus_effect(&fx), None, "unfocused: the cursor moves alone");
    assert_eq!(s.logs.iter().filter(|e| s.log_view.matches(e)).count(), 200);
}

#[test]
fn late_log_entries_slot_in_by_time() {
    let mut s = fixtures::busy_state();
    let newest = s.logs.iter().last().expect("lines").timestamp;
    let mut late = fixtures::logs(1).remove(0);
    late.timestamp = newest - Duration::seconds(50);
    late.message = "late".into();
    press(&mut s, Action::LogBatch(vec![late]));
    let times: Vec<_> = s.logs.iter().map(|e| e.timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let pos = s
        .logs
        .iter()
        .position(|e| e.message == "late")
        .expect("kept");
    assert_eq!(pos, 200 - 50, "after the line written at the same second");
}

#[test]
fn help_opens_and_closes() {
    let mut s = fixtures::state();
    press(&mut s, ch('?'));
    assert!(matches!(s.mode, Mode::Help { .. }));
    let fx = press(&mut s, ch('+'));
    assert!(fx.is_empty(), "keys do nothing under help");
    press(&mut s, key(KeyCode::Esc));
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn q_quits_but_asks_twice_during_a_change() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    let fx = press(&mut s, ch('q'));
    assert!(!fx.contains(&Effect::Quit));
    assert!(message(&s).contains("quitting when it lands"));
    let fx = press(&mut s, ch('q'));
    assert!(fx.contains(&Effect::Quit));
    assert!(s.quit);

    // One `q` during a change: the cockpit quits once the change has landed.
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    assert!(!press(&mut s, ch('q')).contains(&Effect::Quit));
    assert!(land(&mut s).contains(&Effect::Quit));
    assert!(s.quit);

    // ...unless another key changed the operator's mind.
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    press(&mut s, ch('q'));
    press(&mut s, ch('j'));
    assert!(!land(&mut s).contains(&Effect::Quit));
    assert!(!s.quit);

    let mut s = fixtures::state();
    let fx = press(&mut s, ch('q'));
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn a_failed_change_is_shown_and_the_split_stays() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    press(&mut s, ch('+'));
    let id = s.change.as_ref().map(|c| c.id).expect("pending");
    let fx = fail(
        &mut s,
        id,
        BackendError::Failed("revision failed health check".into()),
    );
    assert!(fx.contains(&Effect::RefreshService));
    assert!(s.change.is_none());
    assert!(s.queued.is_none(), "queued change dropped, and said so");
    let m = s.message.clone().expect("message");
    assert_eq!(m.level, Level::Error);
    assert!(m.text.contains("revision failed health check"));
    assert!(m.text.contains("queued change was dropped"));
    assert_eq!(
        s.snapshot.as_ref().map(|x| x.traffic.clone()),
        Some(TrafficSplit::all_to(STABLE))
    );
}

#[test]
fn a_conflict_rereads_and_asks_again_showing_the_new_split() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    let id = s.change.as_ref().map(|c| c.id).expect("pending");
    let fx = fail(&mut s, id, BackendError::Conflict("etag mismatch".into()));
    assert!(fx.contains(&Effect::RefreshService));
    // Someone else put 30 % on the old revision meanwhile.
    let mut snap = fixtures::snapshot();
    snap.traffic = split(&[(STABLE, 70), (OLD, 30)]);
    snap.version = Version("etag-9".into());
    read(&mut s, snap, t0() + Duration::seconds(1));
    let Mode::Confirm(c) = &s.mode else {
        panic!("must ask again, not overwrite")
    };
    assert_eq!(c.before, split(&[(STABLE, 70), (OLD, 30)]));
    assert_eq!(c.expect, Version("etag-9".into()));
    assert!(c.note.as_deref().unwrap_or("").contains("someone else"));
}

#[test]
fn a_dialog_open_while_the_service_moved_is_asked_again_with_the_new_before() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('r'));
    let mut snap = fixtures::snapshot();
    snap.traffic = split(&[(STABLE, 50), (CANARY, 50)]);
    snap.version = Version("etag-7".into());
    update(&mut s, fixtures::service_loaded(snap), t0());
    // Re-asked at once with the new before: never a decision on an old read.
    let Mode::Confirm(c) = &s.mode else {
        panic!("asks again")
    };
    assert_eq!(c.before, split(&[(STABLE, 50), (CANARY, 50)]));
    assert_eq!(c.expect, Version("etag-7".into()));
    assert!(c
        .note
        .as_deref()
        .unwrap_or("")
        .contains("changed while you were deciding"));
    let fx = press(&mut s, ch('y'));
    let (_, sp, expect) = set_traffic(&fx).expect("sent after the yes to the new dialog");
    assert_eq!(sp, TrafficSplit::all_to(STABLE));
    assert_eq!(expect, Version("etag-7".into()));
}

#[test]
fn a_rollback_is_not_held_up_by_a_new_version_with_the_same_split() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('r'));
    let mut snap = fixtures::snapshot();
    snap.traffic = split(&[(STABLE, 90), (CANARY, 10)]);
    snap.version = Version("etag-8".into());
    update(&mut s, fixtures::service_loaded(snap), t0());
    let fx = press(&mut s, ch('y'));
    let (_, sp, expect) = set_traffic(&fx).expect("rollback goes out");
    assert_eq!(sp, TrafficSplit::all_to(STABLE));
    assert_eq!(
        expect,
        Version("etag-8".into()),
        "with the version just read"
    );
}

/// The version moved while the operator was deciding, the split did not
/// (Cloud Run: a lease renewal or a label wrote the service): nobody else
/// moved traffic, so the promotion goes out on the version just read
/// instead of being asked again. (A split that moved is asked again:
/// `a_dialog_open_while_the_service_moved_is_asked_again_with_the_new_before`.)
#[test]
fn a_promotion_confirmed_on_an_old_version_with_the_same_split_goes_out_on_the_new_one() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('P'));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    let mut snap = fixtures::snapshot();
    snap.traffic = split(&[(STABLE, 90), (CANARY, 10)]);
    snap.version = Version("etag-9".into());
    update(&mut s, fixtures::service_loaded(snap), t0());
    press(&mut s, ch('y'));
    let fx = press(&mut s, key(KeyCode::Enter));
    let (_, sp, expect) = set_traffic(&fx).expect("sent, not asked again");
    assert_eq!(sp, TrafficSplit::all_to(CANARY));
    assert_eq!(expect, Version("etag-9".into()), "on the version just read");
    assert!(!matches!(s.mode, Mode::Confirm(_)));
}

/// The platform refused a change for its version (409/412) and the re-read
/// shows the split it was decided on: only the version moved, so it is sent
/// again once on the new version; a second refusal is asked.
#[test]
fn a_conflict_that_moved_only_the_version_is_sent_again_once() {
    let mut s = fixtures::state();
    let fx = press(&mut s, ch('+'));
    let (id, sp, _) = set_traffic(&fx).expect("sent");
    fail(&mut s, id, BackendError::Conflict("etag mismatch".into()));
    let mut snap = fixtures::snapshot();
    snap.version = Version("etag-renewed".into());
    let fx = read(&mut s, snap.clone(), t0() + Duration::seconds(1));
    let (again, sp2, expect) = set_traffic(&fx).expect("sent again by itself");
    assert_eq!((again, &sp2), (id, &sp), "the same change");
    assert_eq!(expect, Version("etag-renewed".into()));
    assert!(!matches!(s.mode, Mode::Confirm(_)));
    assert!(
        message(&s).contains("version moved, not its traffic"),
        "{}",
        message(&s)
    );
    // Refused again: asked this time (no loop of re-sends).
    fail(&mut s, id, BackendError::Conflict("etag mismatch".into()));
    snap.version = Version("etag-renewed-2".into());
    let fx = read(&mut s, snap, t0() + Duration::seconds(2));
    assert!(set_traffic(&fx).is_none(), "{fx:?}");
    let Mode::Confirm(c) = &s.mode else {
        panic!("asked the second time")
    };
    assert_eq!(c.expect, Version("etag-renewed-2".into()));
}

#[test]
fn a_stale_read_does_not_undo_a_landed_change() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    land(&mut s);
    // a read requested before the change landed arrives late
    update(
        &mut s,
        fixtures::service_loaded(fixtures::snapshot()),
        t0() + Duration::seconds(2),
    );
    assert_eq!(
        s.snapshot.as_ref().map(|x| x.traffic.clone()),
        Some(split(&[(STABLE, 95), (CANARY, 5)]))
    );
}

#[test]
fn backend_failures_keep_data_and_record_age() {
    let mut s = fixtures::busy_state();
    let later = t0() + Duration::seconds(30);
    update(
        &mut s,
        Action::ServiceFailed(BackendError::Unavailable {
            message: "503".into(),
            retry_after: None,
        }),
        later,
    );
    assert!(s.snapshot.is_some(), "last good data kept");
    assert_eq!(s.service_health.age_secs(later), Some(30));
    assert!(s.service_health.error.is_some());
    update(
        &mut s,
        Action::MetricsFailed(BackendError::Other("x".into())),
        later,
    );
    assert!(!s.metrics.series.is_empty());
}

#[test]
fn log_ring_is_bounded() {
    let settings = Settings {
        log_capacity: 50,
        ..Settings::default()
    };
    let mut s = fixtures::state_with(settings);
    update(&mut s, Action::LogBatch(fixtures::logs(120)), t0());
    assert_eq!(s.logs.len(), 50);
    assert_eq!(s.first_log_seq(), 70);
}

#[test]
fn terminate_quits() {
    let mut s = fixtures::state();
    let fx = update(&mut s, Action::Terminate("SIGHUP"), t0());
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(s.quit);
}

#[test]
fn paste_goes_into_the_input_box() {
    let mut s = fixtures::state();
    press(&mut s, ch('='));
    update(&mut s, Action::Paste("canary=10\n".into()), t0());
    let Mode::Input(i) = &s.mode else { panic!() };
    assert_eq!(
        i.feedback.clone(),
        Some(Ok(split(&[(STABLE, 90), (CANARY, 10)])))
    );
}

#[test]
fn esc_in_the_reason_box_only_skips_the_reason() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('r'));
    let fx = press(&mut s, ch('y'));
    assert!(set_traffic(&fx).is_some(), "sent at the first confirmation");
    let fx = press(&mut s, key(KeyCode::Esc));
    assert!(fx.is_empty(), "{fx:?}");
    assert!(s.change.is_some(), "the rollback goes on");
    assert!(matches!(s.mode, Mode::Normal));
    assert!(message(&s).contains("goes on"), "{}", message(&s));
}

/// HAProxy forgot its runtime weights in a restart: the cockpit offers, once,
/// to re-apply the last split the platform confirmed, through the usual
/// confirmation; declining leaves everything as it is.
#[test]
fn a_platform_restart_offers_to_reapply_the_last_split() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    land(&mut s);
    let applied = s.snapshot.clone().expect("snapshot").traffic;
    assert_eq!(s.last_applied.as_ref(), Some(&applied));

    // The restart: back to the configured weights, the platform says so.
    let mut snap = s.snapshot.clone().expect("snapshot");
    snap.traffic = TrafficSplit::all_to(STABLE);
    snap.actual = Some(TrafficSplit::all_to(STABLE));
    snap.version = Version("after-restart".into());
    snap.runtime_state_lost = true;
    read(&mut s, snap.clone(), t0() + Duration::seconds(5));
    let Mode::Confirm(c) = &s.mode else {
        panic!("an offer to re-apply: {:?}", s.mode.name());
    };
    assert_eq!(c.after, applied);
    assert_eq!(c.expect, Version("after-restart".into()));
    assert!(c.note.as_deref().unwrap_or("").contains("restarted"));

    // Declined: not asked again for the same restart.
    press(&mut s, ch('n'));
    read(&mut s, snap.clone(), t0() + Duration::seconds(7));
    assert!(matches!(s.mode, Mode::Normal));

    // Accepted after the next restart: the split goes out with the new version.
    snap.runtime_state_lost = false;
    read(&mut s, snap.clone(), t0() + Duration::seconds(8));
    snap.runtime_state_lost = true;
    snap.version = Version("after-second-restart".into());
    read(&mut s, snap.clone(), t0() + Duration::seconds(9));
    assert!(matches!(s.mode, Mode::Confirm(_)));
    let fx = press(&mut s, ch('y'));
    let sent = fx.iter().find_map(|e| match e {
        Effect::SetTraffic { split, expect, .. } => Some((split.clone(), expect.clone())),
        _ => None,
    });
    assert_eq!(
        sent,
        Some((applied, Version("after-second-restart".into())))
    );
}

/// Idle costs nothing: an empty log poll and a key release do not redraw.
#[test]
fn only_actions_that_change_the_screen_redraw() {
    use canary::core::update::needs_redraw;
    assert!(!needs_redraw(&Action::LogBatch(Vec::new())));
    assert!(needs_redraw(&Action::LogBatch(fixtures::logs(1))));
    assert!(needs_redraw(&ch('j')));
    let release = Action::Key(KeyEvent {
        code: KeyCode::Char('j'),
        modifiers: KeyModifiers::NONE,
        kind: KeyEventKind::Release,
    });
    assert!(!needs_redraw(&release));
    assert!(needs_redraw(&Action::Tick));
}

/// `=` takes what the screen prints: short names, roles and tags.
#[test]
fn set_split_accepts_the_names_the_screen_shows() {
    for (input, want) in [
        ("00043-kap=25", split(&[(STABLE, 75), (CANARY, 25)])),
        ("canary=30", split(&[(STABLE, 70), (CANARY, 30)])),
        ("stable=60 canary=40", split(&[(STABLE, 60), (CANARY, 40)])),
        ("00041-rol=10", split(&[(STABLE, 90), (OLD, 10)])),
    ] {
        let mut s = fixtures::state();
        press(&mut s, ch('='));
        type_str(&mut s, input);
        let Mode::Input(i) = &s.mode else { panic!() };
        assert_eq!(i.feedback.clone(), Some(Ok(want)), "{input}");
    }
    let mut s = fixtures::state();
    press(&mut s, ch('='));
    type_str(&mut s, "00099-zzz=10");
    let Mode::Input(i) = &s.mode else { panic!() };
    assert!(
        matches!(&i.feedback, Some(Err(e)) if e.contains("short name")),
        "{:?}",
        i.feedback
    );
}

#[test]
fn conventional_keys_first_last_esc_ctrl_u_and_a_word_for_unbound_keys() {
    let mut s = fixtures::state();
    press(&mut s, ch('G'));
    assert_eq!(s.selected.as_deref(), Some(OLD), "G: the last revision");
    press(&mut s, key(KeyCode::Home));
    assert_eq!(s.selected.as_deref(), Some(CANARY), "Home: the first");
    press(&mut s, key(KeyCode::End));
    assert_eq!(s.selected.as_deref(), Some(OLD), "End: the last");
    press(&mut s, ch('g'));
    assert_eq!(s.selected.as_deref(), Some(CANARY), "g: the first");

    // Esc clears an active log filter.
    press(&mut s, ch('/'));
    type_str(&mut s, "503");
    press(&mut s, key(KeyCode::Enter));
    assert_eq!(s.log_view.filter, "503");
    press(&mut s, key(KeyCode::Esc));
    assert_eq!(s.log_view.filter, "", "{}", message(&s));
    assert!(message(&s).contains("cleared"));

    // Ctrl-U clears an input box.
    press(&mut s, ch('='));
    type_str(&mut s, "canary=25");
    update(
        &mut s,
        Action::Key(KeyEvent {
            code: KeyCode::Char('u'),
            modifiers: KeyModifiers::CONTROL,
            kind: KeyEventKind::Press,
        }),
        t0(),
    );
    let Mode::Input(i) = &s.mode else { panic!() };
    assert_eq!(i.textarea.lines().join(""), "");
    press(&mut s, key(KeyCode::Esc));

    // A key that does nothing says so.
    press(&mut s, ch('z'));
    assert!(
        message(&s).contains("z does nothing here"),
        "{}",
        message(&s)
    );
}

#[test]
fn c_in_a_confirmation_copies_the_exact_call_and_keeps_the_dialog() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('r'));
    let Mode::Confirm(c) = &s.mode else { panic!() };
    // The shell line only (several lines pasted into a shell would run).
    let preview = c.preview[0].clone();
    let fx = press(&mut s, ch('c'));
    assert_eq!(fx, vec![Effect::Copy(preview)]);
    assert!(matches!(s.mode, Mode::Confirm(_)), "still asking");
    assert!(message(&s).contains("copied"), "{}", message(&s));
}

fn input_line(s: &State) -> String {
    match &s.mode {
        Mode::Input(i) => i.textarea.lines().join(" "),
        m => panic!("not an input: {}", m.name()),
    }
}

fn hint(s: &State) -> String {
    match &s.mode {
        Mode::Input(i) => i.hint.clone().unwrap_or_default(),
        m => panic!("not an input: {}", m.name()),
    }
}

#[test]
fn the_command_line_runs_the_same_commands_as_the_keys() {
    // :set with the screen's names goes through the same guardrails.
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    assert_eq!(s.mode.name(), "command");
    type_str(&mut s, "set canary=10");
    assert!(hint(&s).contains("set split"), "{}", hint(&s));
    let fx = press(&mut s, key(KeyCode::Enter));
    let (_, sp, _) = set_traffic(&fx).expect("sent");
    assert_eq!(sp, split(&[(STABLE, 90), (CANARY, 10)]));

    // :rollback opens the same confirmation as r.
    let mut s = fixtures::busy_state();
    press(&mut s, ch(':'));
    type_str(&mut s, "rollback");
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(fx.is_empty());
    let Mode::Confirm(c) = &s.mode else {
        panic!("{}", s.mode.name())
    };
    assert_eq!(c.kind, ChangeKind::Rollback);

    // :plan start asks like p; an unknown word says so and stays open.
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "plan start");
    press(&mut s, key(KeyCode::Enter));
    assert_eq!(s.mode.name(), "confirm");
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "launch");
    press(&mut s, key(KeyCode::Enter));
    let Mode::Input(i) = &s.mode else { panic!() };
    assert!(matches!(&i.feedback, Some(Err(e)) if e.contains("not a command")));

    // :q quits.
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "q");
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(fx.contains(&Effect::Quit));
}

#[test]
fn tab_completes_commands_and_revision_names() {
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "ro");
    press(&mut s, key(KeyCode::Tab));
    assert_eq!(input_line(&s), "rollback ");
    // Several candidates: the common part, and the list.
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "plan ");
    press(&mut s, key(KeyCode::Tab));
    assert!(
        hint(&s).contains("start") && hint(&s).contains("abort"),
        "{}",
        hint(&s)
    );
    // Revision names as the screen shows them, with `=`.
    let mut s = fixtures::state();
    press(&mut s, ch(':'));
    type_str(&mut s, "set 00043");
    press(&mut s, key(KeyCode::Tab));
    assert_eq!(input_line(&s), "set 00043-kap=");
    type_str(&mut s, "20");
    let fx = press(&mut s, key(KeyCode::Enter));
    let (_, sp, _) = set_traffic(&fx).expect("sent");
    assert_eq!(sp, split(&[(STABLE, 80), (CANARY, 20)]));
}

/// A 409 on a rollback: it is sent again on the version just read, not
/// asked again, and the reason box the operator is typing in stays.
#[test]
fn a_rollback_that_meets_a_conflict_goes_out_again_by_itself() {
    let mut s = fixtures::busy_state();
    press(&mut s, ch('r'));
    let fx = press(&mut s, ch('y'));
    let (id, _, _) = set_traffic(&fx).expect("sent");
    assert_eq!(s.mode.name(), "reason");
    type_str(&mut s, "5xx");
    fail(&mut s, id, BackendError::Conflict("etag".into()));
    let mut snap = fixtures::snapshot();
    snap.traffic = split(&[(STABLE, 80), (CANARY, 20)]);
    snap.version = Version("etag-after-deploy".into());
    let fx = update(&mut s, fixtures::service_loaded(snap), t0());
    let (again, sp, expect) = set_traffic(&fx).expect("sent again without asking");
    assert_eq!(again, id, "the same change, so its reason still names it");
    assert_eq!(sp, TrafficSplit::all_to(STABLE));
    assert_eq!(expect, Version("etag-after-deploy".into()));
    assert_eq!(s.mode.name(), "reason", "the box being typed in stays");
    assert_eq!(input_line(&s), "5xx");
}

/// A rollback queued behind a change that fails still goes out; and while a
/// rollback is on its way, a manual change is refused, never queued over it.
#[test]
fn a_queued_rollback_is_never_dropped_or_replaced() {
    let mut s = fixtures::busy_state();
    let fx = press(&mut s, ch('+'));
    let (shift, _, _) = set_traffic(&fx).expect("shift sent");
    press(&mut s, ch('r'));
    let fx = press(&mut s, ch('y'));
    assert!(set_traffic(&fx).is_none(), "queued behind the shift");
    press(&mut s, key(KeyCode::Esc)); // skip the reason
                                      // A manual change now is refused, not queued over the rollback.
    press(&mut s, ch('+'));
    assert_eq!(
        s.queued.as_ref().map(|q| q.kind),
        Some(ChangeKind::Rollback)
    );
    assert!(
        message(&s).contains("rollback is on its way"),
        "{}",
        message(&s)
    );
    // The shift fails: the rollback goes out anyway.
    let fx = fail(&mut s, shift, BackendError::Failed("boom".into()));
    let (_, sp, _) = set_traffic(&fx).expect("the rollback goes out");
    assert_eq!(sp, TrafficSplit::all_to(STABLE));
}

#[test]
fn plan_words_on_the_command_line_say_what_they_mean() {
    let mut s = fixtures::state();
    for (line, err) in [
        ("plan pause", "no plan is running"),
        ("plan advance", "no plan is running"),
    ] {
        press(&mut s, ch(':'));
        type_str(&mut s, line);
        let fx = press(&mut s, key(KeyCode::Enter));
        assert!(fx.is_empty(), "{line}");
        let Mode::Input(i) = &s.mode else {
            panic!("{line}")
        };
        assert!(
            matches!(&i.feedback, Some(Err(e)) if e.contains(err)),
            "{line}: {:?}",
            i.feedback
        );
        press(&mut s, key(KeyCode::Esc));
    }
}

/// In the details or history view, r still rolls back: it closes the view.
#[test]
fn r_in_a_view_closes_it_and_asks_for_the_rollback() {
    for open in ['\n', 'J', '?'] {
        let mut s = fixtures::busy_state();
        press(&mut s, ch(open));
        assert_ne!(s.mode.name(), "normal", "{open:?}");
        press(&mut s, ch('r'));
        let Mode::Confirm(c) = &s.mode else {
            panic!("{open:?}: {}", s.mode.name())
        };
        assert_eq!(c.kind, ChangeKind::Rollback);
    }
}

/// A question the cockpit opened by itself takes y, not an Enter that was
/// meant to open the details.
#[test]
fn enter_does_not_answer_a_question_that_opened_by_itself() {
    let mut s = fixtures::state();
    press(&mut s, ch('+'));
    land(&mut s);
    // The platform restarts and forgets the split: the cockpit offers to re-apply.
    let mut snap = s.snapshot.clone().expect("snapshot");
    snap.traffic = TrafficSplit::all_to(STABLE);
    snap.actual = Some(TrafficSplit::all_to(STABLE));
    snap.version = Version("after-restart".into());
    snap.runtime_state_lost = true;
    read(&mut s, snap, t0() + Duration::seconds(5));
    let Mode::Confirm(c) = &s.mode else {
        panic!("offered: {}", s.mode.name())
    };
    assert!(c.unprompted);
    let fx = press(&mut s, key(KeyCode::Enter));
    assert!(set_traffic(&fx).is_none(), "Enter does not answer it");
    assert!(matches!(s.mode, Mode::Confirm(_)));
    let fx = press(&mut s, ch('y'));
    assert!(set_traffic(&fx).is_some(), "y does");
}

/// A read that started before a change landed never overwrites it, and a
/// read that started after it is never dropped, whatever the wall clock
/// says: two events in the same instant, or a clock stepped back (NTP).
/// Reads are ordered by the write generation they started at, not by time.
#[test]
fn a_read_older_than_the_last_change_is_dropped_whatever_the_clock_says() {
    let mut s = fixtures::state();
    let before = s.snapshot.clone().expect("snapshot");
    // A read starts, and the change lands in the same instant.
    let at = t0() + Duration::seconds(10);
    let read_started = s.write_generation;
    press(&mut s, ch('+'));
    fixtures::land(&mut s, at);
    let applied = s.snapshot.clone().expect("snapshot").traffic;
    assert_ne!(applied, before.traffic);
    assert!(s.write_generation > read_started, "the change bumped it");
    // The read comes back with the split from before the change: dropped.
    update(
        &mut s,
        Action::ServiceLoaded {
            snapshot: before.clone(),
            generation: read_started,
        },
        at,
    );
    assert_eq!(s.snapshot.as_ref().map(|x| &x.traffic), Some(&applied));
    // The clock steps back 5 s; a read started after the change sees
    // someone else's split: taken.
    let back = at - Duration::seconds(5);
    let mut theirs = s.snapshot.clone().expect("snapshot");
    theirs.traffic = split(&[(STABLE, 70), (CANARY, 30)]);
    theirs.version = Version("etag-theirs".into());
    read(&mut s, theirs.clone(), back);
    assert_eq!(s.snapshot.as_ref(), Some(&theirs));
}
