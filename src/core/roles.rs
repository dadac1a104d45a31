//! Who is the stable revision and who is the canary: one rule, used by the
//! screen, the plan, the gates and the scripting commands alike.
//!
//! The stable revision (the rollback target), in order:
//! 1. the stable of a plan that is running (or that the journal shows
//!    interrupted): a plan's roles do not change under it, and its
//!    automatic rollback goes there;
//! 2. the revision pinned in the config (`stable = "…"`, a name or a tag);
//! 3. the revision the platform names as the rollback target (Kubernetes
//!    blue/green: the colour that served before the last switch, while it
//!    still runs the version it ran then);
//! 4. the revision that serves 100 %;
//! 5. the last revision the history saw at 100 % (the journal's records of
//!    applied changes, before and after, and every read of the service while
//!    the cockpit ran), if the service still has it and it is ready;
//! 6. the only revision with traffic that is not the canary;
//! 7. the largest share: a guess, which `canary rollback` refuses to act on
//!    and the screen's rollback confirmation says it is.
//!
//! The canary: the plan's canary; else the revision carrying the canary tag
//! (`canary`, or a dated `canary-20261130`) that is not the stable (the
//! newest ready one: a revision being deployed takes over once ready); else the
//! newest revision besides the stable that has or is getting traffic; else
//! the newest revision newer than the stable.

use super::model::{ServiceSnapshot, TrafficSplit};

/// How the stable revision was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StableFrom {
    /// `stable` pinned in the config.
    Pin,
    /// The running (or interrupted) plan's stable.
    Plan,
    /// The platform names it (blue/green: the colour that served before
    /// the last switch, still on the version it ran then).
    Platform,
    /// It serves 100 %.
    AllTraffic,
    /// The last revision the history saw at 100 %.
    Journal,
    /// The only revision with traffic that is not the canary.
    OnlyNonCanary,
    /// The largest share (a guess).
    LargestShare,
}

impl StableFrom {
    /// Whether a rollback may act on it without the operator naming a target.
    pub fn is_guess(self) -> bool {
        self == StableFrom::LargestShare
    }

    pub fn describe(self) -> &'static str {
        match self {
            StableFrom::Pin => "pinned in the config",
            StableFrom::Plan => "the plan's stable",
            StableFrom::Platform => "served before the last switch",
            StableFrom::AllTraffic => "serves 100 %",
            StableFrom::Journal => "the last revision at 100 % (journal)",
            StableFrom::OnlyNonCanary => "the only revision with traffic besides the canary",
            StableFrom::LargestShare => "a guess: the largest share",
        }
    }
}

/// What is remembered across reads: the last revision seen at 100 %.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleHistory {
    last_full: Option<String>,
}

impl RoleHistory {
    /// A split that was in effect (read from the platform, or a change's
    /// `before` / `after` in the journal), in time order.
    /// Whether it taught the history something new.
    pub fn observe(&mut self, split: &TrafficSplit) -> bool {
        if let [only] = split.entries() {
            if self.last_full.as_deref() != Some(only.revision.as_str()) {
                self.last_full = Some(only.revision.clone());
                return true;
            }
        }
        false
    }

    /// An applied change: its `before` was in effect, then its `after`.
    pub fn observe_change(&mut self, before: &TrafficSplit, after: &TrafficSplit) {
        self.observe(before);
        self.observe(after);
    }

    pub fn last_full(&self) -> Option<&str> {
        self.last_full.as_deref()
    }
}

/// Everything the rule looks at.
#[derive(Clone, Copy, Debug)]
pub struct RoleInputs<'a> {
    pub snapshot: &'a ServiceSnapshot,
    /// `stable` in the config: a revision name or a tag.
    pub pin: Option<&'a str>,
    pub canary_tag: &'a str,
    pub history: &'a RoleHistory,
    /// A plan that is running (or was interrupted): (canary, stable).
    pub plan: Option<(&'a str, &'a str)>,
    /// A split asked for but not yet confirmed (the screen's change in flight).
    pub pending: Option<&'a TrafficSplit>,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    pub stable: Option<String>,
    pub stable_from: Option<StableFrom>,
    pub canary: Option<String>,
}

/// Whether `tag` marks a canary: the configured tag itself or a dated one
/// (`canary-20261130` for `canary`).
pub fn is_canary_tag(tag: &str, canary_tag: &str) -> bool {
    tag == canary_tag
        || tag
            .strip_prefix(canary_tag)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The one rule (see the module docs). A pin that names nothing is ignored
/// here; the config check and the scripting commands report it.
pub fn decide(i: RoleInputs<'_>) -> Roles {
    let snap = i.snapshot;
    let exists = |name: &str| snap.revision(name).is_some();
    let (stable, from) = stable_of(&i, &exists);
    let stable_name = stable.as_deref();
    let not_stable = |name: &str| Some(name) != stable_name;
    let plan_canary = i
        .plan
        .map(|(c, _)| c)
        .filter(|c| exists(c) && not_stable(c))
        .map(str::to_string);
    let canary = plan_canary.or_else(|| {
        let revs = &snap.revisions;
        let canary_tagged = |r: &&super::model::Revision| {
            not_stable(&r.name)
                && r.tag
                    .as_deref()
                    .is_some_and(|t| is_canary_tag(t, i.canary_tag))
        };
        // A newer tagged revision that is not ready (being deployed, or
        // failed) does not take over from a ready one: a deploy's revision
        // becomes the canary when it is ready.
        let tagged = revs
            .iter()
            .filter(canary_tagged)
            .find(|r| r.ready)
            .or_else(|| revs.iter().find(canary_tagged));
        let has_traffic = |n: &str| {
            snap.traffic.percent_of(n) > 0
                || snap.serving().percent_of(n) > 0
                || i.pending.is_some_and(|p| p.percent_of(n) > 0)
        };
        let with_traffic = || {
            revs.iter()
                .find(|r| not_stable(&r.name) && has_traffic(&r.name))
        };
        // Revisions are listed newest first: the ones before the stable are newer.
        let newer = || {
            stable_name.and_then(|s| {
                let pos = revs.iter().position(|r| r.name == s)?;
                revs[..pos].first()
            })
        };
        tagged
            .or_else(with_traffic)
            .or_else(newer)
            .map(|r| r.name.clone())
    });
    Roles {
        stable,
        stable_from: from,
        canary,
    }
}

fn stable_of(
    i: &RoleInputs<'_>,
    exists: &dyn Fn(&str) -> bool,
) -> (Option<String>, Option<StableFrom>) {
    let snap = i.snapshot;
    let found = |name: &str, from: StableFrom| (Some(name.to_string()), Some(from));
    // A running plan rolls back to its own stable (chosen, pin included,
    // when it started): its roles do not change under it.
    if let Some((_, s)) = i.plan.filter(|(_, s)| exists(s)) {
        return found(s, StableFrom::Plan);
    }
    if let Some(rev) = i.pin.and_then(|p| snap.resolve(p)) {
        return found(&rev.name, StableFrom::Pin);
    }
    if let Some(r) = snap.extra.rollback_to.as_deref().filter(|r| exists(r)) {
        return found(r, StableFrom::Platform);
    }
    let traffic = &snap.traffic;
    if let [only] = traffic.entries() {
        return found(&only.revision, StableFrom::AllTraffic);
    }
    if let Some(rev) = i
        .history
        .last_full()
        .and_then(|n| snap.revision(n))
        .filter(|r| r.ready)
    {
        return found(&rev.name, StableFrom::Journal);
    }
    let tagged = |n: &str| {
        snap.revision(n)
            .and_then(|r| r.tag.as_deref())
            .is_some_and(|t| is_canary_tag(t, i.canary_tag))
    };
    let non_canary: Vec<&str> = traffic.revisions().filter(|r| !tagged(r)).collect();
    if let [only] = non_canary.as_slice() {
        return found(only, StableFrom::OnlyNonCanary);
    }
    match traffic.largest() {
        Some(l) => found(l, StableFrom::LargestShare),
        None => (None, None),
    }
}
