//! Traffic arithmetic: shifting steps, parsing `canary=25`, guardrails.
//! Every function returns a valid [`TrafficSplit`] or says why not.

use std::collections::BTreeMap;

use super::model::{ServiceSnapshot, TrafficSplit};

/// Moves `delta` points to `target` from `stable` (or back, when negative).
/// The move is clamped to what is available: `+5` with 3 points left on the
/// stable moves 3.
pub fn shift(
    basis: &TrafficSplit,
    target: &str,
    stable: &str,
    delta: i32,
) -> Result<TrafficSplit, String> {
    if target == stable {
        return Err(format!(
            "{target} is the stable revision: select the canary to shift traffic to or from it"
        ));
    }
    let mut map: BTreeMap<String, u32> = basis
        .as_map()
        .into_iter()
        .map(|(k, v)| (k, u32::from(v)))
        .collect();
    let have_target = map.get(target).copied().unwrap_or(0);
    let have_stable = map.get(stable).copied().unwrap_or(0);
    let moved = if delta >= 0 {
        let d = (delta as u32).min(have_stable);
        if d == 0 {
            return Err(if have_target == 100 {
                format!("{target} already has 100 %")
            } else {
                format!("the stable revision {stable} has no traffic left to give")
            });
        }
        d as i32
    } else {
        let d = delta.unsigned_abs().min(have_target);
        if d == 0 {
            return Err(format!("{target} has no traffic to give back"));
        }
        -(d as i32)
    };
    map.insert(target.to_string(), (have_target as i32 + moved) as u32);
    map.insert(stable.to_string(), (have_stable as i32 - moved) as u32);
    TrafficSplit::new(map).map_err(|e| e.to_string())
}

/// Parses an exact split typed by the operator: `canary=25`,
/// `emergence-app-00042-xuv=90 canary=10`, commas or spaces between.
/// Names may be revision names or tags. Revisions not named keep their share,
/// except the stable revision, which takes whatever remains; naming every
/// share explicitly must sum to 100.
/// A revision named the way the screen shows it: its full name, a tag, a
/// role (`stable`, `canary`) or its short name (`00043-kaw`, the service
/// prefix left out).
pub fn resolve_as_shown<'a>(
    snapshot: &'a ServiceSnapshot,
    name: &str,
    stable: &str,
    canary: Option<&str>,
) -> Option<&'a crate::core::model::Revision> {
    let role = match name {
        "stable" => Some(stable),
        "canary" => canary,
        _ => None,
    };
    snapshot
        .resolve(name)
        .or_else(|| role.and_then(|r| snapshot.revision(r)))
        .or_else(|| snapshot.revision(&format!("{}-{name}", snapshot.service)))
}

pub fn parse_assignment(
    input: &str,
    snapshot: &ServiceSnapshot,
    basis: &TrafficSplit,
    stable: &str,
    canary: Option<&str>,
) -> Result<TrafficSplit, String> {
    let mut named: BTreeMap<String, u32> = BTreeMap::new();
    let tokens: Vec<&str> = input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Err("type REVISION=PERCENT, e.g. canary=25".into());
    }
    for tok in tokens {
        let (name, pct) = tok
            .split_once('=')
            .ok_or_else(|| format!("`{tok}`: expected REVISION=PERCENT"))?;
        let pct = pct.trim_end_matches('%');
        let pct: u32 = pct
            .parse()
            .map_err(|_| format!("`{tok}`: `{pct}` is not a whole percentage"))?;
        if pct > 100 {
            return Err(format!("`{tok}`: {pct} is more than 100"));
        }
        let rev = resolve_as_shown(snapshot, name, stable, canary).ok_or_else(|| {
            format!(
                "`{name}` is neither a revision, a tag, a role (stable, canary) \
                 nor a short name of this service"
            )
        })?;
        if named.insert(rev.name.clone(), pct).is_some() {
            return Err(format!("{} is named twice", rev.name));
        }
    }
    let mut map: BTreeMap<String, u32> = basis
        .as_map()
        .into_iter()
        .map(|(k, v)| (k, u32::from(v)))
        .collect();
    for (k, v) in &named {
        map.insert(k.clone(), *v);
    }
    if !named.contains_key(stable) {
        let others: u32 = map
            .iter()
            .filter(|(k, _)| k.as_str() != stable)
            .map(|(_, v)| *v)
            .sum();
        if others > 100 {
            return Err(format!(
                "that leaves {} % for the stable revision {stable}",
                100i64 - i64::from(others)
            ));
        }
        map.insert(stable.to_string(), 100 - others);
    }
    TrafficSplit::new(map).map_err(|e| format!("{e}; name every share or leave the stable out"))
}

/// Revisions whose share grows from `before` to `after`.
pub fn increases(before: &TrafficSplit, after: &TrafficSplit) -> Vec<String> {
    after
        .entries()
        .iter()
        .filter(|a| a.percent > before.percent_of(&a.revision))
        .map(|a| a.revision.clone())
        .collect()
}

/// The largest change of any one revision's share, in points.
pub fn largest_move(before: &TrafficSplit, after: &TrafficSplit) -> u8 {
    before
        .revisions()
        .chain(after.revisions())
        .map(|r| before.percent_of(r).abs_diff(after.percent_of(r)))
        .max()
        .unwrap_or(0)
}

/// Refuses a change that would send more traffic to a revision that is not
/// ready (or unknown). Draining an unready revision is always allowed.
/// Also refuses what the platform cannot do ([`ServiceSnapshot::extra`]):
/// any change while another controller owns the traffic, and a split in
/// blue/green, which moves all traffic at once (never rounded).
pub fn check_ready(
    snapshot: &ServiceSnapshot,
    before: &TrafficSplit,
    after: &TrafficSplit,
) -> Result<(), String> {
    if let Some(why) = &snapshot.extra.read_only {
        return Err(format!("read-only: {why}"));
    }
    if let (Some(why), [_, _, ..]) = (&snapshot.extra.all_or_nothing, after.entries()) {
        return Err(format!("{why}: {after} cannot be done"));
    }
    for rev in increases(before, after) {
        match snapshot.revision(&rev) {
            None => return Err(format!("{rev} is not a revision of this service")),
            Some(r) if !r.ready => {
                let why = r
                    .status_message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                return Err(format!("{rev} is not ready{why}: no traffic can go to it"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Revision, Version};
    use chrono::{TimeZone, Utc};

    fn rev(name: &str, tag: Option<&str>, ready: bool) -> Revision {
        Revision {
            name: name.into(),
            tag: tag.map(Into::into),
            details: Default::default(),
            tag_url: None,
            image: "img".into(),
            created: Utc
                .with_ymd_and_hms(2026, 11, 20, 10, 0, 0)
                .single()
                .expect("valid"),
            ready,
            status_message: (!ready).then(|| "container failed to start".into()),
        }
    }

    fn snap() -> ServiceSnapshot {
        ServiceSnapshot {
            service: "svc".into(),
            url: None,
            revisions: vec![
                rev("new", Some("canary"), true),
                rev("old", None, true),
                rev("bad", None, false),
            ],
            traffic: TrafficSplit::all_to("old"),
            actual: None,
            version: Version("1".into()),
            reconciling: false,
            message: None,
            runtime_state_lost: false,
            extra: Default::default(),
            write_api: Default::default(),
        }
    }

    fn split(p: &[(&str, u32)]) -> TrafficSplit {
        TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).expect("valid")
    }

    #[test]
    fn shift_moves_and_clamps() {
        let s = shift(&TrafficSplit::all_to("old"), "new", "old", 5).expect("ok");
        assert_eq!(s, split(&[("old", 95), ("new", 5)]));
        let s = shift(&split(&[("old", 3), ("new", 97)]), "new", "old", 5).expect("ok");
        assert_eq!(s, TrafficSplit::all_to("new"));
        assert!(shift(&TrafficSplit::all_to("new"), "new", "old", 5).is_err());
        let s = shift(&split(&[("old", 97), ("new", 3)]), "new", "old", -5).expect("ok");
        assert_eq!(s, TrafficSplit::all_to("old"));
        assert!(shift(&TrafficSplit::all_to("old"), "new", "old", -5).is_err());
        assert!(shift(&TrafficSplit::all_to("old"), "old", "old", 5).is_err());
    }

    #[test]
    fn assignment_by_tag_gives_rest_to_stable() {
        let s = snap();
        let r = parse_assignment("canary=25", &s, &s.traffic, "old", None).expect("ok");
        assert_eq!(r, split(&[("old", 75), ("new", 25)]));
        let r = parse_assignment("new=40, old=60", &s, &s.traffic, "old", None).expect("ok");
        assert_eq!(r, split(&[("old", 60), ("new", 40)]));
        let r = parse_assignment("canary=100%", &s, &s.traffic, "old", None).expect("ok");
        assert_eq!(r, TrafficSplit::all_to("new"));
    }

    #[test]
    fn assignment_errors_are_explained() {
        let s = snap();
        for (input, fragment) in [
            ("", "REVISION=PERCENT"),
            ("canary", "expected REVISION=PERCENT"),
            ("canary=abc", "not a whole percentage"),
            ("canary=120", "more than 100"),
            ("nope=10", "neither a revision, a tag, a role"),
            ("new=10 canary=20", "named twice"),
            ("new=40 old=50", "sum to 90"),
        ] {
            let err = parse_assignment(input, &s, &s.traffic, "old", None).expect_err(input);
            assert!(err.contains(fragment), "{input}: {err}");
        }
    }

    #[test]
    fn what_the_platform_cannot_do_is_refused() {
        let mut s = snap();
        s.extra.all_or_nothing = Some("blue/green moves all traffic at once".into());
        // The reason first: it is what a cut footer line keeps.
        let err =
            check_ready(&s, &s.traffic, &split(&[("old", 95), ("new", 5)])).expect_err("a split");
        assert_eq!(
            err,
            "blue/green moves all traffic at once: old 95% · new 5% cannot be done"
        );
        check_ready(&s, &s.traffic, &TrafficSplit::all_to("new")).expect("a switch");
        s.extra.read_only = Some("owned by Flagger".into());
        let err = check_ready(&s, &s.traffic, &TrafficSplit::all_to("new")).expect_err("owned");
        assert_eq!(err, "read-only: owned by Flagger");
    }

    #[test]
    fn ready_guard_blocks_increase_only() {
        let s = snap();
        let to_bad = split(&[("old", 90), ("bad", 10)]);
        let err = check_ready(&s, &s.traffic, &to_bad).expect_err("unready");
        assert!(
            err.contains("bad is not ready (container failed to start)"),
            "{err}"
        );
        // draining it is fine
        check_ready(&s, &to_bad, &TrafficSplit::all_to("old")).expect("drain ok");
        assert_eq!(largest_move(&s.traffic, &to_bad), 10);
        assert_eq!(increases(&s.traffic, &to_bad), vec!["bad".to_string()]);
    }
}
