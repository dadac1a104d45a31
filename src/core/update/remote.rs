//! A plan another process drives (`canary release`, holding the lease on
//! the platform): the cockpit shows it from the lease it reads at every
//! refresh, and `p` (pause / resume), Space (the same) and `a` (abort) ask
//! its driver by writing a request into that lease, after a confirmation
//! like the local ones. The driver obeys within one poll of its lease and
//! acknowledges it there; the cockpit says so when it reads it back. The
//! rollback key never goes through the lease: it moves the split directly,
//! and the driver, seeing the split change under it, stops.
//!
//! While another driver holds a live lease, this cockpit starts no plan of
//! its own (`:plan start` is refused, naming the driver).

use chrono::{DateTime, Utc};

use super::say;
use crate::core::action::{ChangeKind, Effect};
use crate::core::keymap::Command;
use crate::core::lease::{LeaseInfo, RemoteRequest, RequestKind};
use crate::core::state::{Confirmation, Level, Mode, PlanAction, State};

/// `alice@ci-7 (pid 4242), plan ci`.
pub fn who(l: &LeaseInfo) -> String {
    format!("{} (pid {}), plan {}", l.driver, l.pid, l.plan)
}

/// Whether the remote plan says it is paused.
pub fn remote_paused(l: &LeaseInfo) -> bool {
    l.phase.as_deref().is_some_and(|p| p.starts_with("paused"))
}

/// The lease was read.
pub(super) fn on_read(
    state: &mut State,
    lease: Result<Option<LeaseInfo>, String>,
    location: String,
    now: DateTime<Utc>,
) {
    state.remote.location = location;
    state.remote.read_at = Some(now);
    let lease = match lease {
        // Anyone who may annotate the object wrote it: no control
        // characters reach the screen.
        Ok(l) => l.map(LeaseInfo::printable),
        Err(e) => {
            // Said once: until it reads again, a plan driven elsewhere
            // would not show here (the driver still stops if this cockpit
            // moves the split under it).
            if state.remote.error.is_none() {
                say(
                    state,
                    Level::Warn,
                    format!(
                        "the driver's lease cannot be read ({e}): a plan driven elsewhere \
                         would not show here"
                    ),
                );
            }
            state.remote.error = Some(e);
            return;
        }
    };
    state.remote.error = None;
    let before = state.remote.driver(now).map(who);
    if let (Some(sent), Some(l)) = (state.remote.sent.clone(), lease.as_ref()) {
        if let Some(acked) = l
            .request
            .as_ref()
            .filter(|r| r.same(&sent))
            .and_then(|r| r.acked)
        {
            let took = (acked - sent.at).num_milliseconds().max(0);
            say(
                state,
                Level::Info,
                format!(
                    "{} obeyed: {} (acknowledged {took} ms after it was asked)",
                    l.driver,
                    sent.kind.verb()
                ),
            );
            state.remote.sent = None;
        } else if l.request.as_ref().is_some_and(|r| !r.same(&sent)) {
            // Someone else's request replaced ours before the driver read it.
            let theirs = l.request.as_ref().map(RemoteRequest::describe);
            say(
                state,
                Level::Warn,
                format!(
                    "your {} request was replaced by another one before the driver read it: {}",
                    sent.kind.verb(),
                    theirs.unwrap_or_default()
                ),
            );
            state.remote.sent = None;
        }
    }
    state.remote.lease = lease;
    let after = state.remote.driver(now).map(who);
    if before != after {
        match &after {
            Some(w) => say(
                state,
                Level::Info,
                format!("a plan is driven elsewhere: {w} (p pauses it, a aborts it, r rolls back)"),
            ),
            None => {
                if let Some(b) = before {
                    let msg = if let Some(s) = state.remote.sent.take() {
                        format!(
                            "{b} gave the lease back after your {} request: its run ended \
                             (its events and journal say how)",
                            s.kind.verb()
                        )
                    } else {
                        format!("{b} let go of the lease: the remote plan ended")
                    };
                    say(state, Level::Info, msg);
                }
            }
        }
    }
}

/// `p`, Space or `a` (and their `:plan` words) while another process
/// drives: asks to write the request. `false` when nobody else drives.
pub(super) fn plan_key(state: &mut State, cmd: Command) -> bool {
    let Some(l) = state.remote.driver(state.now).cloned() else {
        return false;
    };
    let kind = match cmd {
        Command::Advance | Command::TogglePause if remote_paused(&l) => RequestKind::Resume,
        Command::Advance | Command::TogglePause => RequestKind::Pause,
        Command::Abort => RequestKind::Abort,
        _ => return false,
    };
    if state.settings.read_only {
        say(
            state,
            Level::Warn,
            format!(
                "read-only mode (--read-only): asking {} to {} writes its lease, so it is disabled",
                l.driver,
                kind.verb()
            ),
        );
        return true;
    }
    if let Some(w) = state.remote.writing.map(|(k, _)| k).or(state
        .remote
        .sent
        .as_ref()
        .map(|s| s.kind))
    {
        if w == kind {
            say(
                state,
                Level::Info,
                format!(
                    "already asked {} to {}: waiting for it to obey",
                    l.driver,
                    w.verb()
                ),
            );
            return true;
        }
    }
    let (Some(snapshot), Some(split)) = (state.snapshot.as_ref(), state.desired().cloned()) else {
        say(state, Level::Warn, "the service has not been read yet");
        return true;
    };
    let what = match kind {
        RequestKind::Pause => "pause: nothing advances and the gates roll nothing back until it is resumed; it keeps the lease and waits (its --timeout ends it, exit 4)".to_string(),
        RequestKind::Resume => "resume: it observes the window again".to_string(),
        RequestKind::Abort => "abort: it rolls back to the stable and exits 3 (r rolls back directly, without asking it)".to_string(),
    };
    let note = format!(
        "ask {} — {} — to {what}. Written with the platform's concurrency control \
         (etag, resourceVersion or file lock); the driver reads its lease every 2 s, \
         obeys, and acknowledges it there",
        who(&l),
        l.phase.as_deref().unwrap_or("starting")
    );
    let preview = vec![format!(
        "write {{\"request\": {{\"kind\": \"{}\", \"by\": YOU@HOST}}}} into {}",
        kind.verb(),
        state.remote.location
    )];
    state.mode = Mode::Confirm(Confirmation {
        kind: ChangeKind::Set,
        before: split.clone(),
        after: split,
        expect: snapshot.version.clone(),
        preview,
        note: Some(note),
        plan_action: Some(PlanAction::Remote(kind)),
        plan_phase: state.active_phase(),
        unprompted: false,
        scale_down: None,
    });
    true
}

/// `:plan start` / `:plan advance` while another process drives.
pub(super) fn refuse_start(state: &State) -> Option<String> {
    state.remote.driver(state.now).map(|l| {
        format!(
            "a plan is driven by {}: no plan starts here while it holds the lease \
             (p pauses it, a aborts it, r rolls back directly)",
            who(l)
        )
    })
}

/// `y` on the request's confirmation.
pub(super) fn confirmed(state: &mut State, kind: RequestKind, fx: &mut Vec<Effect>) {
    let Some(l) = state.remote.driver(state.now).cloned() else {
        say(
            state,
            Level::Warn,
            "nothing was written: the driver let go of the lease meanwhile",
        );
        return;
    };
    state.remote.writing = Some((kind, state.now));
    fx.push(Effect::RequestLease(kind));
    say(
        state,
        Level::Info,
        format!(
            "writing the {} request into {}'s lease…",
            kind.verb(),
            l.driver
        ),
    );
}

/// The request's write answered.
pub(super) fn on_requested(state: &mut State, result: Result<RemoteRequest, String>) {
    state.remote.writing = None;
    match result {
        Ok(r) => {
            let driver = state
                .remote
                .lease
                .as_ref()
                .map_or("the driver".to_string(), |l| l.driver.clone());
            say(
                state,
                Level::Info,
                format!(
                    "{} request written into the lease: waiting for {driver} to obey",
                    r.kind.verb()
                ),
            );
            state.remote.sent = Some(r);
        }
        Err(e) => say(
            state,
            Level::Error,
            format!("the request was NOT written: {e}"),
        ),
    }
}

/// The request's dialog closes when there is no driver left to ask.
pub(super) fn revalidate(state: &mut State) {
    let Mode::Confirm(c) = &state.mode else {
        return;
    };
    if !matches!(c.plan_action, Some(PlanAction::Remote(_))) {
        return;
    }
    if state.remote.driver(state.now).is_none() {
        state.mode = Mode::Normal;
        say(
            state,
            Level::Warn,
            "dialog closed: the driver let go of the lease (the remote plan ended); nothing was written",
        );
    }
}
