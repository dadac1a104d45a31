//! The verification battery: started by the plan or by hand, one row per
//! check, journaled when every check has answered, then the gates re-judged.

use super::gates::judge;
use super::say;
use crate::core::action::Effect;
use crate::core::record::{CheckRecord, Event};
use crate::core::state::{Battery, CheckResult, CheckRow, CheckStatus, Level, State};

pub(crate) fn start_battery(state: &mut State, revision: &str, fx: &mut Vec<Effect>) {
    if state.settings.checks.is_empty() {
        say(
            state,
            Level::Info,
            "no verification checks are configured ([[checks]] in the config)",
        );
        return;
    }
    let id = state.next_battery_id;
    state.next_battery_id += 1;
    let rev = state.snapshot.as_ref().and_then(|s| s.revision(revision));
    let tag_url = rev.and_then(|r| r.tag_url.clone());
    let service_url = state.snapshot.as_ref().and_then(|s| s.url.clone());
    state.battery = Some(Battery {
        id,
        revision: revision.to_string(),
        started: state.now,
        rows: state
            .settings
            .checks
            .iter()
            .map(|info| CheckRow {
                info: info.clone(),
                status: CheckStatus::Pending,
                started: None,
                result: None,
            })
            .collect(),
        finished: None,
    });
    fx.push(Effect::RunChecks {
        battery: id,
        revision: revision.to_string(),
        tag_url,
        service_url,
        stable: state.stable().map(str::to_string).filter(|s| s != revision),
    });
    say(
        state,
        Level::Info,
        format!(
            "running {} checks on {revision}",
            state.settings.checks.len()
        ),
    );
}

pub(super) fn check_started(state: &mut State, battery: u64, index: usize) {
    let now = state.now;
    if let Some(row) = state
        .battery
        .as_mut()
        .filter(|b| b.id == battery)
        .and_then(|b| b.rows.get_mut(index))
    {
        row.status = CheckStatus::Running;
        row.started = Some(now);
    }
}

pub(super) fn check_finished(
    state: &mut State,
    battery: u64,
    index: usize,
    result: CheckResult,
    fx: &mut Vec<Effect>,
) {
    let now = state.now;
    let Some(b) = state.battery.as_mut().filter(|b| b.id == battery) else {
        return;
    };
    let Some(row) = b.rows.get_mut(index) else {
        return;
    };
    row.status = result.status;
    row.result = Some(result);
    let done = b
        .rows
        .iter()
        .all(|r| !matches!(r.status, CheckStatus::Pending | CheckStatus::Running));
    if done && b.finished.is_none() {
        b.finished = Some(now);
        let count = |s| b.rows.iter().filter(|r| r.status == s).count();
        let (pass, warn, fail) = (
            count(CheckStatus::Pass),
            count(CheckStatus::Warn),
            count(CheckStatus::Fail),
        );
        let records = b
            .rows
            .iter()
            .map(|r| CheckRecord {
                name: r.info.name.clone(),
                status: r.status.as_str().into(),
                measured: r.result.as_ref().and_then(|x| x.measured.clone()),
                expected: r.result.as_ref().and_then(|x| x.expected.clone()),
                reason: r
                    .result
                    .as_ref()
                    .map_or(String::new(), |x| x.reason.clone()),
                duration_ms: r.result.as_ref().map_or(0, |x| x.duration_ms()),
                blocking: r.info.blocking,
            })
            .collect();
        fx.push(Effect::Journal(Event::Checks {
            revision: b.revision.clone(),
            results: records,
        }));
        let level = if fail > 0 {
            Level::Error
        } else if warn > 0 {
            Level::Warn
        } else {
            Level::Info
        };
        say(
            state,
            level,
            format!(
                "checks done: {pass} passed, {warn} {}, {fail} failed",
                if warn == 1 { "warning" } else { "warnings" }
            ),
        );
    }
    judge(state, fx);
}
