//! The screen's Kubernetes parts (the keep-warm countdown, the scale-down
//! question, another controller's ownership) and keep-warm in `update`;
//! the platform against the fake API: `tests/backends/kubernetes.rs`.

/// The screen's Kubernetes additions, drawn into ratatui's `TestBackend`
/// (reviewed snapshots): the keep-warm countdown, the scale-down question,
/// another controller's ownership.
mod screen {
    use canary::core::action::Action;
    use canary::core::model::KeepWarm;
    use canary::core::state::{Mode, Settings};
    use canary::core::update::update;
    use canary_fakes::fixtures::{self as testing, t0};
    use chrono::Duration;

    use crate::release_snapshots::text;

    /// The oldest revision, serving nothing, kept warm 12m34s more.
    fn kept_warm() -> canary::core::state::State {
        let mut s = testing::busy_state_with(Settings::default());
        let snap = s.snapshot.as_mut().expect("snapshot");
        let old = snap.revisions[2].name.clone();
        assert_eq!(snap.traffic.percent_of(&old), 0);
        snap.extra.keep_warm = Some(KeepWarm {
            revision: old.clone(),
            until: t0() + Duration::seconds(754),
            replicas: 3,
            calls: vec![format!(
                "kubectl scale deployment/{old} --replicas=0 -n shop"
            )],
        });
        s
    }

    /// Colours as tags: the role column says both (`canary green`), as for
    /// the stable (`stable blue`); a Cloud Run `canary-…` tag says it alone.
    #[test]
    fn colours_keep_their_role_in_the_revisions_table() {
        let mut s = testing::busy_state_with(Settings::default());
        update(&mut s, Action::Tick, t0());
        let (stable, canary) = (
            s.stable().expect("stable").to_string(),
            s.canary().expect("canary").to_string(),
        );
        let snap = s.snapshot.as_mut().expect("snapshot");
        for r in &mut snap.revisions {
            if r.name == stable {
                r.tag = Some("blue".into());
            } else if r.name == canary {
                r.tag = Some("green".into());
            } else {
                r.tag = None;
            }
        }
        let screen = text(&s, 120, 40);
        let row = |name: &str| {
            let short = name
                .rsplit_once("-app-")
                .map_or(name, |(_, s)| s)
                .to_string();
            screen
                .lines()
                .find(|l| l.contains(&short))
                .unwrap_or_else(|| panic!("{short} row in\n{screen}"))
                .to_string()
        };
        assert!(row(&canary).contains("canary green"), "{screen}");
        assert!(row(&stable).contains("stable blue"), "{screen}");
    }

    #[test]
    fn keep_warm_countdown_then_the_question() {
        let mut s = kept_warm();
        update(&mut s, Action::Tick, t0());
        let countdown = text(&s, 120, 40);
        assert!(
            countdown.contains("kept warm 12m more (3 replicas), then asked"),
            "{countdown}"
        );
        insta::assert_snapshot!("keep_warm_countdown_120x40", countdown);
        update(&mut s, Action::Tick, t0() + Duration::seconds(755));
        assert!(matches!(s.mode, Mode::Confirm(_)));
        let question = text(&s, 80, 24);
        assert!(question.contains("SCALE DOWN"), "{question}");
        insta::assert_snapshot!("scale_down_question_80x24", question);
    }

    #[test]
    fn another_controller_owns_the_service() {
        let mut s = testing::busy_state_with(Settings::default());
        s.snapshot.as_mut().expect("snapshot").extra.read_only = Some(
            "Service backend is managed by Argo Rollouts (Rollout backend, annotation \
             argo-rollouts.argoproj.io/managed-by-rollouts): change traffic there, the cockpit \
             does not fight it"
                .into(),
        );
        update(
            &mut s,
            testing::key(canary::core::key::KeyCode::Char('+')),
            t0(),
        );
        let screen = text(&s, 120, 40);
        assert!(screen.contains("READ-ONLY: another controller"), "{screen}");
        assert!(
            screen.contains("refused: read-only: Service backend is managed by Argo"),
            "{screen}"
        );
        insta::assert_snapshot!("read_only_by_a_controller_120x40", screen);
    }
}
/// Keep-warm in `update` (`core::update::keepwarm`).
mod keep_warm {
    use canary::core::action::{Action, Effect};
    use canary::core::model::KeepWarm;
    use canary::core::plan::PlanMode;
    use canary::core::record::Event;
    use canary::core::state::{Mode, Settings, State};
    use canary::core::update::update;
    use chrono::{DateTime, Duration, Utc};

    fn state_with(mode: PlanMode, until_secs: i64) -> (State, DateTime<Utc>) {
        let mut settings = Settings::default();
        settings.plan.mode = mode;
        let mut state = canary_fakes::fixtures::busy_state_with(settings);
        let now = state.now;
        let snap = state.snapshot.as_mut().expect("snapshot");
        let old = snap.revisions[1].name.clone();
        snap.extra.keep_warm = Some(KeepWarm {
            revision: old,
            until: now + Duration::seconds(until_secs),
            replicas: 3,
            calls: Vec::new(),
        });
        (state, now)
    }

    fn notes(fx: &[Effect]) -> Vec<String> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Journal(Event::Note { message }) => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn auto_mode_scales_down_by_itself_when_the_time_is_over() {
        let (mut state, now) = state_with(PlanMode::Auto, 60);
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(59));
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(60));
        let rev = state.snapshot.as_ref().expect("s").revisions[1]
            .name
            .clone();
        assert!(fx.contains(&Effect::ScaleDown {
            revision: rev.clone()
        }));
        assert!(notes(&fx)[0].starts_with(&format!("scale-down requested: {rev}")));
        // Once: not sent again while in flight.
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(61));
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(
            &mut state,
            Action::ScaledDown {
                revision: rev.clone(),
                result: Ok(format!("{rev} 3 → 0 replicas")),
            },
            now + Duration::seconds(62),
        );
        assert!(notes(&fx)[0].starts_with("scale-down done"));
        assert!(fx.contains(&Effect::RefreshService));
    }

    /// A failed scale-down is tried again after a pause in auto mode too
    /// (it was sent again on the next tick, every second, journaled each
    /// time); one NOT KNOWN is said so, not "failed".
    #[test]
    fn auto_mode_pauses_after_a_failed_scale_down() {
        let (mut state, now) = state_with(PlanMode::Auto, 0);
        let rev = state.snapshot.as_ref().expect("s").revisions[1]
            .name
            .clone();
        let fx = update(&mut state, Action::Tick, now);
        assert!(fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(
            &mut state,
            Action::ScaledDown {
                revision: rev.clone(),
                result: Err(canary::core::error::BackendError::Unavailable {
                    message: "HTTP 500".into(),
                    retry_after: None,
                }),
            },
            now + Duration::seconds(1),
        );
        assert!(notes(&fx)[0].starts_with(&format!("scale-down of {rev} failed")));
        for secs in [2, 3, 60, 299] {
            let fx = update(&mut state, Action::Tick, now + Duration::seconds(secs));
            assert!(
                !fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })),
                "sent again after {secs}s"
            );
        }
        let fx = update(&mut state, Action::Tick, now + Duration::seconds(302));
        assert!(fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let fx = update(
            &mut state,
            Action::ScaledDown {
                revision: rev.clone(),
                result: Err(canary::core::error::BackendError::Unconfirmed {
                    message: "the answer was lost".into(),
                    read_back: None,
                }),
            },
            now + Duration::seconds(303),
        );
        let said = notes(&fx);
        assert!(
            said[0].starts_with(&format!(
                "scale-down of {rev}: NOT KNOWN whether it was applied"
            )),
            "{said:?}"
        );
    }

    /// Done: not sent again, nor asked, while the refresh that shows it is
    /// on its way (the snapshot read before still shows the countdown).
    #[test]
    fn a_done_scale_down_is_not_sent_again_before_the_refresh() {
        for mode in [PlanMode::Auto, PlanMode::Manual] {
            let (mut state, now) = state_with(mode, 0);
            let rev = state.snapshot.as_ref().expect("s").revisions[1]
                .name
                .clone();
            update(&mut state, Action::Tick, now);
            if mode == PlanMode::Manual {
                update(
                    &mut state,
                    canary_fakes::fixtures::key(canary::core::key::KeyCode::Char('y')),
                    now,
                );
            }
            assert_eq!(state.keep_warm.in_flight.as_deref(), Some(rev.as_str()));
            let fx = update(
                &mut state,
                Action::ScaledDown {
                    revision: rev.clone(),
                    result: Ok(format!("{rev} 3 → 0 replicas")),
                },
                now + Duration::seconds(1),
            );
            assert!(fx.contains(&Effect::RefreshService));
            let fx = update(&mut state, Action::Tick, now + Duration::seconds(2));
            assert!(
                !fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })),
                "{mode:?}: sent again"
            );
            assert!(matches!(state.mode, Mode::Normal), "{mode:?}: asked again");
        }
    }

    #[test]
    fn manual_mode_asks_and_no_waits() {
        let (mut state, now) = state_with(PlanMode::Manual, 0);
        let fx = update(&mut state, Action::Tick, now);
        assert!(!fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        let Mode::Confirm(c) = &state.mode else {
            panic!("asked: {:?}", state.mode.name())
        };
        assert!(c.scale_down.is_some());
        assert!(c.unprompted);
        // n: declined, journaled, not asked again at once.
        let fx = update(
            &mut state,
            canary_fakes::fixtures::key(canary::core::key::KeyCode::Char('n')),
            now,
        );
        assert!(notes(&fx)[0].starts_with("scale-down declined"));
        assert!(matches!(state.mode, Mode::Normal));
        update(&mut state, Action::Tick, now + Duration::seconds(10));
        assert!(matches!(state.mode, Mode::Normal));
        // Asked again later; y sends it.
        update(&mut state, Action::Tick, now + Duration::minutes(6));
        assert!(matches!(state.mode, Mode::Confirm(_)));
        let fx = update(
            &mut state,
            canary_fakes::fixtures::key(canary::core::key::KeyCode::Char('y')),
            now + Duration::minutes(6),
        );
        assert!(fx.iter().any(|e| matches!(e, Effect::ScaleDown { .. })));
        // No traffic change was made for it.
        assert!(!fx.iter().any(|e| matches!(e, Effect::SetTraffic { .. })));
    }

    #[test]
    fn the_question_closes_when_the_colour_is_no_longer_kept_warm() {
        let (mut state, now) = state_with(PlanMode::Manual, 0);
        update(&mut state, Action::Tick, now);
        assert!(matches!(state.mode, Mode::Confirm(_)));
        let mut snap = state.snapshot.clone().expect("s");
        snap.extra.keep_warm = None;
        let generation = state.write_generation;
        update(
            &mut state,
            Action::ServiceLoaded {
                snapshot: snap,
                generation,
            },
            now,
        );
        assert!(matches!(state.mode, Mode::Normal));
    }
}
