//! One rule for who is stable and who is the canary: the screen, the plan,
//! the checks it runs and the scripting commands are fed the same states and
//! must agree (they used to decide with four different pieces of code).

use std::sync::Mutex;

use async_trait::async_trait;
use canary::cli::{self, CliOptions, Context};
use canary::core::action::Effect;
use canary::core::error::BackendError;
use canary::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
use canary::core::state::{Mode, State};
use canary::core::update::update;
use canary::journal::{self, Event, Journal, Record, Who};
use canary::platform::Platform;
use canary_fakes::fixtures::{self, ch, t0};

/// A platform that serves one snapshot and applies what it is asked.
struct Fixed(Mutex<ServiceSnapshot>);

#[async_trait]
impl Platform for Fixed {
    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            kind: "fixed".into(),
            service: "web".into(),
            location: "here".into(),
        }
    }
    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        Ok(self.0.lock().expect("lock").clone())
    }
    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        _expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        let mut s = self.0.lock().expect("lock");
        s.traffic = split.clone();
        Ok(s.clone())
    }
}

fn split(pairs: &[(&str, u32)]) -> TrafficSplit {
    TrafficSplit::new(pairs.iter().map(|(r, p)| (r.to_string(), *p))).expect("valid split")
}

/// HAProxy-like: two untagged servers, newest first.
fn service(traffic: TrafficSplit, canary_tag: Option<&str>) -> ServiceSnapshot {
    let mut snap = fixtures::snapshot();
    snap.service = "web".into();
    snap.revisions = vec![
        fixtures::revision("green", canary_tag, 5, true),
        fixtures::revision("blue", None, 60 * 24, true),
        fixtures::revision("old", None, 60 * 24 * 9, true),
    ];
    snap.traffic = traffic;
    snap.actual = None;
    snap
}

fn journal_with(dir: &std::path::Path, changes: &[(TrafficSplit, TrafficSplit)]) -> Journal {
    let path = dir.join("web.jsonl");
    let mut j = Journal::open(&path).expect("journal");
    for (i, (before, after)) in changes.iter().enumerate() {
        j.append(&Record {
            at: t0(),
            who: Who {
                user: "test".into(),
                from: None,
            },
            service: "web".into(),
            event: Event::TrafficApplied {
                id: i as u64 + 1,
                kind: "set split".into(),
                before: before.clone(),
                after: after.clone(),
                reason: None,
                took_ms: 5,
            },
        })
        .expect("append");
    }
    j
}

/// The screen: what the revision table and `r` would use.
fn screen(snap: &ServiceSnapshot, j: &Journal) -> State {
    let mut s = fixtures::state();
    s.snapshot = None;
    s.selected = None;
    s.role_history = journal::replay(j.path()).expect("replay").role_history();
    update(&mut s, fixtures::service_loaded(snap.clone()), t0());
    s
}

struct Case {
    name: &'static str,
    traffic: TrafficSplit,
    tag: Option<&'static str>,
    history: Vec<(TrafficSplit, TrafficSplit)>,
    stable: &'static str,
    canary: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "all on blue; green is newer",
            traffic: split(&[("blue", 100)]),
            tag: None,
            history: vec![],
            stable: "blue",
            canary: Some("green"),
        },
        Case {
            name: "set green=25 journaled: blue was at 100 % before",
            traffic: split(&[("blue", 75), ("green", 25)]),
            tag: None,
            history: vec![(
                split(&[("blue", 100)]),
                split(&[("blue", 75), ("green", 25)]),
            )],
            stable: "blue",
            canary: Some("green"),
        },
        Case {
            name: "two changes since the last 100 %",
            traffic: split(&[("blue", 50), ("green", 50)]),
            tag: None,
            history: vec![
                (
                    split(&[("blue", 100)]),
                    split(&[("blue", 75), ("green", 25)]),
                ),
                (
                    split(&[("blue", 75), ("green", 25)]),
                    split(&[("blue", 50), ("green", 50)]),
                ),
            ],
            stable: "blue",
            canary: Some("green"),
        },
        Case {
            name: "a dated canary tag and no history",
            traffic: split(&[("blue", 90), ("green", 10)]),
            tag: Some("canary-20261130"),
            history: vec![],
            stable: "blue",
            canary: Some("green"),
        },
        Case {
            name: "green was promoted, then shifted back",
            traffic: split(&[("blue", 30), ("green", 70)]),
            tag: None,
            history: vec![
                (split(&[("blue", 100)]), split(&[("green", 100)])),
                (
                    split(&[("green", 100)]),
                    split(&[("blue", 30), ("green", 70)]),
                ),
            ],
            stable: "green",
            canary: Some("blue"),
        },
    ]
}

#[tokio::test]
async fn screen_plan_checks_and_cli_agree_on_who_is_who() {
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = journal_with(dir.path(), &case.history);
        let snap = service(case.traffic.clone(), case.tag);
        let opts = CliOptions {
            canary_tag: "canary".into(),
            stable_pin: None,
        };

        // The screen.
        let s = screen(&snap, &j);
        assert_eq!(
            s.stable(),
            Some(case.stable),
            "screen stable: {}",
            case.name
        );
        assert_eq!(s.canary(), case.canary, "screen canary: {}", case.name);

        // The scripting commands.
        let platform = Fixed(Mutex::new(snap.clone()));
        let st = cli::status(&platform, &Context::new(opts.clone(), Some(&mut j)))
            .await
            .expect("status");
        assert_eq!(
            st.stable.as_deref(),
            Some(case.stable),
            "cli stable: {}",
            case.name
        );
        assert_eq!(
            st.canary.as_deref(),
            case.canary,
            "cli canary: {}",
            case.name
        );

        // The plan and the checks it runs: started on the screen's canary.
        if let Some(canary) = case.canary {
            let mut s = screen(&snap, &j);
            s.selected = Some(canary.to_string());
            update(&mut s, ch('p'), t0());
            assert!(matches!(s.mode, Mode::Confirm(_)), "{}", case.name);
            let fx = update(&mut s, ch('y'), t0());
            let plan = s.plan.as_ref().expect("plan started");
            assert_eq!(plan.stable, case.stable, "plan stable: {}", case.name);
            assert_eq!(plan.canary, canary, "plan canary: {}", case.name);
            let sent = fx.iter().find_map(|e| match e {
                Effect::SetTraffic { split, .. } => Some(split.clone()),
                _ => None,
            });
            let sent = sent.expect("first step sent");
            assert!(sent.percent_of(case.stable) > 0, "{}: {sent}", case.name);
        }

        // And `canary rollback` goes where the screen's `r` would.
        if case.traffic.entries().len() > 1 {
            let r = cli::rollback(
                &platform,
                None,
                true,
                &mut Context::new(opts.clone(), Some(&mut j)),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(
                r.after_flag(),
                format!("{}=100", case.stable),
                "{}",
                case.name
            );
            let mut s = screen(&snap, &j);
            update(&mut s, ch('r'), t0());
            let Mode::Confirm(c) = &s.mode else {
                panic!("{}: {:?}", case.name, s.mode.name())
            };
            assert_eq!(c.after, TrafficSplit::all_to(case.stable), "{}", case.name);
        }
    }
}

/// Seen: `canary set green=25 --yes` then `canary rollback --yes` on HAProxy
/// refused with "cannot tell which revision is stable", although the journal
/// said the split before was blue 100 %.
#[tokio::test]
async fn set_then_rollback_works_without_a_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = journal_with(dir.path(), &[]);
    let platform = Fixed(Mutex::new(service(split(&[("blue", 100)]), None)));
    let opts = CliOptions::default();
    cli::set(
        &platform,
        &["green=25".to_string()],
        true,
        &mut Context::new(opts.clone(), Some(&mut j)),
    )
    .await
    .expect("set");
    let r = cli::rollback(&platform, None, true, &mut Context::new(opts, Some(&mut j)))
        .await
        .expect("rollback without a pin");
    assert_eq!(r.after_flag(), "blue=100");
    assert_eq!(
        platform.0.lock().expect("lock").traffic,
        TrafficSplit::all_to("blue")
    );
}
