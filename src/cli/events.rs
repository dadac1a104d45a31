//! `canary release`'s event stream: one JSON object per line on stdout for
//! every transition, and a line of human progress on stderr. Derived from
//! what the engine decides (its journal records, its traffic requests, its
//! gate verdicts): nothing is counted twice, nothing kept on the side. The
//! fields are documented in `docs/release.md` and pinned by
//! `docs/release-events.schema.json` (version [`VERSION`]).

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::core::action::Effect;
use crate::core::model::TrafficSplit;
use crate::core::plan::{Phase, Verdict};
use crate::core::record::Event;
use crate::core::state::State;
use crate::core::update::gate_numbers;
use crate::runtime::headless::{Ending, Seen, Watcher};

/// The stream's version (`v` in every line); bumped on an incompatible change.
pub const VERSION: u64 = 1;

/// Writes the events (stdout) and the progress (stderr).
pub struct Stream {
    out: Box<dyn Write + Send>,
    progress: Option<Box<dyn Write + Send>>,
    service: String,
    /// The last verdict written, to write a change at once.
    last_verdict: Option<Verdict>,
    /// The same for the thresholds while they only observe (their kind).
    last_observed: Option<&'static str>,
}

impl Stream {
    pub fn new(
        service: &str,
        out: Box<dyn Write + Send>,
        progress: Option<Box<dyn Write + Send>>,
    ) -> Stream {
        Stream {
            out,
            progress,
            service: service.to_string(),
            last_verdict: None,
            last_observed: None,
        }
    }

    /// One event: `{"v":1,"event":…,"at":…,"service":…, fields…}`, and its
    /// line on stderr.
    pub fn emit(&mut self, event: &str, at: DateTime<Utc>, fields: Value, human: String) {
        let mut obj = Map::new();
        obj.insert("v".into(), json!(VERSION));
        obj.insert("event".into(), json!(event));
        obj.insert(
            "at".into(),
            json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        obj.insert("service".into(), json!(self.service));
        if let Value::Object(f) = fields {
            obj.extend(f);
        }
        let line = Value::Object(obj).to_string();
        // A closed pipe must not stop the release: the journal is the record.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        if let Some(p) = self.progress.as_mut() {
            let _ = writeln!(
                p,
                "canary: {} {}",
                at.with_timezone(&chrono::Local).format("%H:%M:%S"),
                human
            );
        }
    }

    /// The last line: how the run ended and its exit code.
    pub fn finished(&mut self, now: DateTime<Utc>, ending: &Ending, code: u8) {
        let (outcome, reason) = match ending {
            Ending::Promoted => ("promoted", None),
            Ending::RolledBack(r) => ("rolled-back", Some(r.as_str())),
            Ending::Waiting(r) => ("waiting", Some(r.as_str())),
            Ending::Failed(r) => ("failed", Some(r.as_str())),
        };
        self.emit(
            "finished",
            now,
            json!({"outcome": outcome, "reason": reason, "exit_code": code}),
            format!(
                "finished: {outcome}{} (exit {code})",
                reason.map_or(String::new(), |r| format!(": {r}"))
            ),
        );
    }

    fn gates(&mut self, state: &State) {
        let n = gate_numbers(state);
        let verdict = state.verdict.kind();
        let why = state.verdict.why().map(str::to_string);
        // Thresholds that only observe: their own verdict, never acted on.
        let observed = state.observed_gates.as_ref().map(|o| &o.verdict);
        let step = state
            .plan
            .as_ref()
            .and_then(|p| p.phase.step())
            .map(|s| s + 1);
        let num = |v: Option<f64>| v.map_or(String::from("-"), |v| format!("{v:.2}"));
        let human = format!(
            "gates {verdict}{}{}: 5xx {} % (max {}), p95 {} ms (max {}), {} req in {}s (min {})",
            why.as_deref().map_or(String::new(), |w| format!(" ({w})")),
            observed.map_or(String::new(), |o| format!(
                "; thresholds observe only: {}{}",
                o.kind(),
                o.why()
                    .map_or(String::new(), |w| format!(" ({w}), not acted on"))
            )),
            num(n.error_percent),
            n.max_error_percent,
            num(n.p95_ms),
            n.max_p95_ms,
            num(n.requests),
            n.window_s,
            n.min_requests
        );
        let mut fields = serde_json::to_value(&n).unwrap_or_else(|_| json!({}));
        if let Value::Object(f) = &mut fields {
            f.insert("verdict".into(), json!(verdict));
            f.insert("why".into(), json!(why));
            f.insert("step".into(), json!(step));
            f.insert("mode".into(), json!(state.settings.gates.mode.as_str()));
            f.insert(
                "observed".into(),
                observed.map_or(
                    Value::Null,
                    |o| json!({"verdict": o.kind(), "why": o.why()}),
                ),
            );
        }
        self.emit("gates", state.now, fields, human);
        self.last_verdict = Some(state.verdict.clone());
        self.last_observed = observed.map(Verdict::kind);
    }

    fn transition(&mut self, state: &State, from: &Phase, to: &Phase, why: &str) {
        let step = |p: &Phase| p.step().map(|s| s + 1);
        let percent = |p: &Phase| {
            let plan = state.plan.as_ref()?;
            p.step()
                .and_then(|s| plan.spec.steps.get(s))
                .map(|s| s.percent)
        };
        let base = json!({"from": from.label(), "why": why});
        let (name, extra) = match to {
            Phase::Idle => return,
            Phase::Applying { .. } => (
                "step-started",
                json!({"step": step(to), "percent": percent(to)}),
            ),
            Phase::Observing { .. } if matches!(from, Phase::Paused { .. }) => {
                ("resumed", json!({"step": step(to), "percent": percent(to)}))
            }
            Phase::Observing { .. } => (
                "step-applied",
                json!({"step": step(to), "percent": percent(to)}),
            ),
            Phase::WaitingApproval { .. } => ("waiting-approval", json!({"step": step(to)})),
            Phase::Paused { reason, .. } => ("paused", json!({"step": step(to), "reason": reason})),
            Phase::Promoted => ("promoted", json!({"percent": 100})),
            Phase::RollingBack { reason } => ("rolling-back", json!({"reason": reason})),
            Phase::RolledBack { reason } => ("rolled-back", json!({"reason": reason})),
            Phase::Failed { reason } => ("failed", json!({"reason": reason})),
        };
        let mut fields = base;
        if let (Value::Object(f), Value::Object(e)) = (&mut fields, extra) {
            f.extend(e);
        }
        self.emit(
            name,
            state.now,
            fields,
            format!("plan: {} ({why})", to.label()),
        );
    }

    fn journaled(&mut self, state: &State, event: &Event) {
        match event {
            Event::PlanStarted {
                canary,
                stable,
                spec,
                canary_image,
            } => {
                let steps: Vec<Value> = spec
                    .steps
                    .iter()
                    .map(|s| json!({"percent": s.percent, "observe_s": s.observe.as_secs()}))
                    .collect();
                let fields = json!({
                    "canary": canary,
                    "stable": stable,
                    "canary_image": canary_image,
                    "steps": steps,
                    "mode": serde_json::to_value(spec.mode).unwrap_or(Value::Null),
                    "on_failure": serde_json::to_value(spec.on_failure).unwrap_or(Value::Null),
                });
                let human = format!(
                    "plan started for {canary} (stable {stable}): {} — {}",
                    spec.describe(),
                    spec.policy()
                );
                self.emit("plan-started", state.now, fields, human);
            }
            Event::Checks { revision, results } => {
                for r in results {
                    let fields = json!({
                        "revision": revision,
                        "name": r.name,
                        "status": r.status,
                        "measured": r.measured,
                        "expected": r.expected,
                        "reason": r.reason,
                        "blocking": r.blocking,
                        "duration_ms": r.duration_ms,
                    });
                    let human = format!(
                        "check {} {}: {}{}",
                        r.name,
                        r.status,
                        r.reason,
                        match (&r.measured, &r.expected) {
                            (Some(m), Some(e)) => format!(" ({m} vs {e})"),
                            _ => String::new(),
                        }
                    );
                    self.emit("check", state.now, fields, human);
                }
            }
            Event::PlanTransition { from, to, why } => self.transition(state, from, to, why),
            Event::Note { message } => {
                self.emit(
                    "note",
                    state.now,
                    json!({"message": message}),
                    message.clone(),
                );
            }
            _ => {}
        }
    }
}

/// `{"REVISION": PERCENT, …}`.
fn split(s: &TrafficSplit) -> Value {
    Value::Object(
        s.entries()
            .iter()
            .map(|a| (a.revision.clone(), json!(a.percent)))
            .collect(),
    )
}

impl Watcher for Stream {
    fn saw(&mut self, state: &State, seen: &Seen, effects: &[Effect]) {
        match seen {
            Seen::Cancelled { signal, then } => self.emit(
                "cancelled",
                state.now,
                json!({"signal": signal, "then": then.name()}),
                format!("{signal}: cancelled, the plan will {}", then.name()),
            ),
            Seen::TimedOut => self.emit(
                "timed-out",
                state.now,
                json!({}),
                "the release's timeout ran out: pausing the plan".into(),
            ),
            Seen::TrafficFailed { id, error } => self.emit(
                "error",
                state.now,
                json!({"source": "platform", "change": id, "message": error}),
                format!("traffic change failed: {error}"),
            ),
            Seen::JournalFailed(e) => self.emit(
                "error",
                state.now,
                json!({"source": "journal", "change": null, "message": e}),
                format!("AUDIT JOURNAL WRITE FAILED: {e}"),
            ),
            Seen::NotifyFailed(e) => self.emit(
                "error",
                state.now,
                json!({"source": "notify", "change": null, "message": e}),
                format!("notification failed: {e}"),
            ),
            Seen::Remote(r) => self.emit(
                "remote-request",
                state.now,
                json!({
                    "kind": r.kind.verb(),
                    "by": r.by,
                    "requested_at": r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                }),
                format!("{} (written into the lease): obeying", r.describe()),
            ),
            Seen::Metrics | Seen::Other => {}
        }
        // The gates at every evaluation on fresh numbers, and whenever the
        // verdict changes (a red that held for `sustain`), before what the
        // plan did about it.
        let plan_on = state.plan.is_some();
        let observed = state.observed_gates.as_ref().map(|o| o.verdict.kind());
        if plan_on
            && (*seen == Seen::Metrics
                || self.last_verdict.as_ref() != Some(&state.verdict)
                || self.last_observed != observed)
        {
            self.gates(state);
        }
        for effect in effects {
            match effect {
                Effect::Journal(event) => self.journaled(state, event),
                Effect::SetTraffic {
                    id,
                    split: after,
                    kind,
                    before,
                    reason,
                    ..
                } => self.emit(
                    "traffic-requested",
                    state.now,
                    json!({
                        "change": id,
                        "kind": kind.verb(),
                        "before": split(before),
                        "after": split(after),
                        "reason": reason,
                    }),
                    format!("{} requested: {after}", kind.verb()),
                ),
                _ => {}
            }
        }
    }
}
