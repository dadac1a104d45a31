//! The promotion plan: where it is, how long until the next decision, what
//! the gates say, and what the operator can do now.
//!
//! ```text
//!  Plan  observing step 2 of 4 ──────────────────────────
//! 10% 15m ✓ ▸ [25% 30m] ▸ 50% 1h ▸ 100%
//! ████████████░░░░░░░░░░░░░░ 41% · 12m18s of 30m
//! ETA 10:30:00 UTC, in 17m42s
//! gates ✓ green
//! manual · on red: roll back · started 09:46:00 (14m ago)
//! p next step (50 %) · Space pause · a abort
//! ```
//!
//! Three folds: `Full` (above), `Compact` (title, timeline + window on one
//! line, gates + what to do on another) and `Line` (the title rule only).
//! Every state reads without colour: done steps carry `✓`, the current one
//! is bracketed, verdicts carry `✓` / `?` / `!` / `✗` and a word.

use ratatui::text::{Line, Span};

use super::{ellipsize, Content, Ctx, Fold};
use crate::core::duration::hms;
use crate::core::keymap::Command;
use crate::core::plan::{Offer, OnFailure, Phase, Plan, PlanMode, PlanSpec, Verdict};
use crate::core::state::GatesMode;

/// What the panel shows at `width` columns.
pub(crate) fn content(ctx: &Ctx, width: u16, fold: Fold) -> Content {
    let w = width as usize;
    // A plan driven elsewhere (its lease) comes first: it is the one that
    // moves the traffic; a plan of this cockpit's own cannot start meanwhile.
    if let Some(lease) = ctx.state.remote.driver(ctx.state.now) {
        return remote(ctx, lease, w, fold);
    }
    match &ctx.state.plan {
        None => no_plan(ctx, w, fold),
        Some(plan) if plan.phase.is_finished() => finished(ctx, plan, w, fold),
        Some(plan) => running(ctx, plan, w, fold),
    }
}

fn title(ctx: &Ctx, rest: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(" Plan ", ctx.theme.title)];
    spans.extend(rest);
    Line::from(spans)
}

// ------------------------------------------------------- driven elsewhere

/// The remote plan, from its driver's lease: who drives (user@host, pid),
/// which plan, its phase and step, the window left, the gates' verdict,
/// the lease's age, and what the keys ask of it.
fn remote(ctx: &Ctx, l: &crate::core::lease::LeaseInfo, w: usize, fold: Fold) -> Content {
    use crate::core::duration::age;
    let t = &ctx.theme;
    let state = ctx.state;
    let now = state.now;
    let written = l.renewed.unwrap_or(l.acquired);
    let (held, since) = (
        age((now - l.acquired).num_seconds()),
        age((now - written).num_seconds()),
    );
    let mut head = format!(
        " ⇄ driven by {} (pid {}) · plan {} · lease taken {held} ago, written {since} ago ",
        l.driver, l.pid, l.plan,
    );
    if head.chars().count() > w.saturating_sub(7) {
        head = format!(
            " ⇄ {} (pid {}) drives plan {} · lease {held}, written {since} ago ",
            l.driver, l.pid, l.plan,
        );
    }
    let paused = crate::core::update::remote_paused(l);
    let mut phase = l.phase.clone().unwrap_or_else(|| "starting".into());
    if let Some(p) = l.percent {
        phase.push_str(&format!(" · canary {p} %"));
    }
    if let Some(end) = l.window_ends.filter(|_| !paused) {
        let left = (end - now).num_seconds().max(0);
        phase.push_str(&format!(" · window {}m{:02}s left", left / 60, left % 60));
    }
    let gates = l
        .gates
        .clone()
        .unwrap_or_else(|| "not published yet".into());
    let gate_style = if gates.starts_with("red") {
        t.error
    } else if gates.starts_with("green") {
        t.ok
    } else {
        t.no_data
    };
    let km = &state.settings.keymap;
    let asked = match (&state.remote.writing, &state.remote.sent, l.pending()) {
        (Some((k, _)), _, _) => format!("writing your {} request… · ", k.verb()),
        (_, Some(s), _) => format!(
            "your {} request: waiting for the driver ({}s) · ",
            s.kind.verb(),
            (now - s.at).num_seconds().max(0)
        ),
        (_, _, Some(p)) => format!("{} · ", p.describe()),
        _ => String::new(),
    };
    let keys = if state.settings.read_only {
        format!("{asked}read-only: watching")
    } else {
        format!(
            "{asked}{} {} · {} abort (written into its lease) · {} rolls back directly",
            km.label(Command::Advance),
            if paused { "resume" } else { "pause" },
            km.label(Command::Abort),
            km.label(Command::Rollback)
        )
    };
    let lines = vec![
        Line::from(vec![Span::styled(
            ellipsize(&phase, w).into_owned(),
            if paused { t.paused } else { t.text },
        )]),
        Line::from(vec![
            Span::styled("gates ", t.dim),
            Span::styled(
                ellipsize(&gates, w.saturating_sub(6)).into_owned(),
                gate_style,
            ),
        ]),
        Line::styled(ellipsize(&keys, w).into_owned(), t.key),
    ];
    let title_line = title(
        ctx,
        vec![Span::styled(
            ellipsize(&head, w.saturating_sub(7)).into_owned(),
            t.warn,
        )],
    );
    match fold {
        Fold::Line => Content {
            title: title_line,
            body: vec![],
        },
        Fold::Compact | Fold::Full => Content {
            title: title_line,
            body: lines,
        },
    }
}

// ------------------------------------------------------------------ no plan

fn no_plan(ctx: &Ctx, w: usize, fold: Fold) -> Content {
    let t = &ctx.theme;
    let spec = &ctx.state.settings.plan;
    let steps = spec
        .steps
        .iter()
        .map(|s| format!("{} %", s.percent))
        .collect::<Vec<_>>()
        .join(" → ");
    let hint = if ctx.state.settings.read_only {
        format!("no plan running (read-only): {steps}")
    } else {
        format!(
            "no plan running: {} starts {steps}",
            ctx.state.settings.keymap.label(Command::Advance)
        )
    };
    match fold {
        Fold::Full => {
            let mut spec_line = timeline(ctx, spec, &Marks::Plain, w, true);
            spec_line.push(Span::styled(format!("  {}", policy(spec)), t.dim));
            Content {
                title: title(ctx, vec![]),
                body: vec![
                    Line::styled(ellipsize(&hint, w).into_owned(), t.dim),
                    Line::from(spec_line),
                ],
            }
        }
        _ => Content {
            title: title(
                ctx,
                vec![Span::styled(
                    format!(" {} ", ellipsize(&hint, w.saturating_sub(8))),
                    t.dim,
                )],
            ),
            body: vec![],
        },
    }
}

// ------------------------------------------------------------------ finished

fn finished(ctx: &Ctx, plan: &Plan, w: usize, fold: Fold) -> Content {
    let t = &ctx.theme;
    let (word, style, reason) = match &plan.phase {
        Phase::Promoted => ("✓ promoted", t.ok, None),
        Phase::RolledBack { reason } => ("↩ rolled back", t.warn, Some(reason.as_str())),
        Phase::Failed { reason } => ("✗ failed", t.error, Some(reason.as_str())),
        _ => ("idle", t.dim, None),
    };
    let started = match plan.finished {
        Some(end) => format!(
            "{} → {} · took {} · ended {} ago",
            plan.started.format("%H:%M:%S"),
            end.format("%H:%M:%S"),
            hms((end - plan.started).num_seconds()),
            hms(ctx.secs_since(end))
        ),
        None => format!(
            "started {} ({} ago)",
            plan.started.format("%H:%M:%S"),
            hms(ctx.secs_since(plan.started))
        ),
    };
    let outcome = match &plan.phase {
        Phase::Promoted => format!("{} has 100 %", ctx.short(&plan.canary)),
        Phase::RolledBack { .. } => format!("all traffic on {}", ctx.short(&plan.stable)),
        _ => String::new(),
    };
    if fold != Fold::Full {
        let mut rest = vec![Span::styled(format!(" {word} "), style)];
        let mut used = 8 + word.chars().count() + 2;
        // The reason in the phase's colour (it is why the plan ended), the
        // times dim.
        if let Some(r) = reason {
            let r = ellipsize(r, w.saturating_sub(used + 2)).into_owned();
            used += r.chars().count() + 2;
            rest.push(Span::styled(format!(" {r}"), style));
        }
        let tail = match reason {
            Some(_) => format!(" · {started} "),
            None => format!(" {outcome} · {started} "),
        };
        let room = w.saturating_sub(used + 2);
        if room >= 8 {
            rest.push(Span::styled(ellipsize(&tail, room).into_owned(), t.dim));
        }
        return Content {
            title: title(ctx, rest),
            body: vec![],
        };
    }
    let marks = match plan.phase {
        Phase::Promoted => Marks::AllDone,
        _ => Marks::Plain,
    };
    let mut body = vec![Line::from(timeline(ctx, &plan.spec, &marks, w, true))];
    if let Some(r) = reason {
        body.extend(wrapped("why ", r, w, 2, t.dim, style));
    }
    if !outcome.is_empty() {
        body.push(Line::styled(outcome, t.text));
    }
    body.push(Line::styled(ellipsize(&started, w).into_owned(), t.dim));
    if !ctx.state.settings.read_only {
        body.push(Line::from(vec![
            Span::styled(ctx.state.settings.keymap.label(Command::Advance), t.key),
            Span::raw(" starts a new plan"),
        ]));
    }
    Content {
        title: title(ctx, vec![Span::styled(format!(" {word} "), style)]),
        body,
    }
}

// ------------------------------------------------------------------ running

fn running(ctx: &Ctx, plan: &Plan, w: usize, fold: Fold) -> Content {
    let t = &ctx.theme;
    let n = plan.spec.steps.len();
    let phase_style = match &plan.phase {
        Phase::WaitingApproval { .. } => t.changing,
        Phase::Paused { .. } => t.paused,
        Phase::RollingBack { .. } => t.error,
        Phase::Applying { .. } => t.changing,
        _ => t.bold,
    };
    let label = phase_label(&plan.phase, n);
    let mut head = vec![Span::styled(format!(" {label} "), phase_style)];
    let step = plan.phase.step();
    let marks = step.map_or(Marks::Plain, Marks::At);

    if fold != Fold::Full {
        // Title: the phase, then the policy and the start while they fit.
        let mut used = 8 + label.chars().count() + 2;
        for extra in [
            policy(&plan.spec),
            format!("started {}", plan.started.format("%H:%M:%S")),
        ] {
            if used + extra.chars().count() + 2 <= w {
                used += extra.chars().count() + 2;
                head.push(Span::styled(format!(" {extra} "), t.dim));
            }
        }
        if fold == Fold::Line {
            if let Some((frac, _)) = plan.window(ctx.state.now) {
                head.push(Span::styled(format!(" {:.0}% ", frac * 100.0), t.dim));
            }
            return Content {
                title: title(ctx, head),
                body: vec![],
            };
        }
        // Line 1: the timeline (with durations when there is room), then the
        // window, or why the plan is paused / rolling back.
        let with_d = timeline(ctx, &plan.spec, &marks, w, true);
        let d_w: usize = with_d.iter().map(Span::width).sum();
        let mut l1 = if w.saturating_sub(d_w) >= 30 {
            with_d
        } else {
            timeline(ctx, &plan.spec, &marks, w, false)
        };
        let used: usize = l1.iter().map(Span::width).sum();
        let room = w.saturating_sub(used + 2);
        let tail = match &plan.phase {
            Phase::Paused { reason, .. } => vec![
                Span::styled("PAUSED: ", t.paused),
                Span::styled(reason.clone(), t.text),
            ],
            Phase::RollingBack { reason } => vec![
                Span::styled("rolling back: ", t.error),
                Span::styled(reason.clone(), t.text),
            ],
            _ => window(ctx, plan, room, false),
        };
        if !tail.is_empty() {
            l1.push(Span::raw("  "));
            l1.extend(clip(tail, room));
        }
        // Line 2: the gates, then what to do if it fits (the footer has the keys too).
        let acts = actions(ctx, plan);
        let acts_w: usize = acts.iter().map(Span::width).sum();
        // Thresholds that only observe: their mark when they are not within
        // (the full text is in the journal and, on taller screens, here).
        let obs = ctx
            .state
            .observed_gates
            .as_ref()
            .filter(|o| matches!(o.verdict, Verdict::Red(_) | Verdict::Confirming(_)))
            .map(|o| {
                (
                    " · thresholds (observe only) ! red".to_string(),
                    o.verdict.why().map_or(String::new(), |w| format!(": {w}")),
                )
            });
        let obs_w = obs.as_ref().map_or(0, |(m, why)| {
            (m.chars().count() + why.chars().count()).min(w / 2)
        });
        let mut l2 = gates(ctx, w.saturating_sub(obs_w));
        if let Some((mark, why)) = obs {
            l2.push(Span::styled(mark, t.warn));
            l2.push(Span::styled(why, t.text));
        }
        let gates_w: usize = l2.iter().map(Span::width).sum();
        if !acts.is_empty() && (gates_w + 3 + acts_w <= w || gates_w < w / 2) {
            l2.push(Span::styled(" │ ", t.dim));
            l2.extend(acts);
        }
        return Content {
            title: title(ctx, head),
            body: vec![Line::from(clip(l1, w)), Line::from(clip(l2, w))],
        };
    }

    let mut body = vec![Line::from(timeline(ctx, &plan.spec, &marks, w, true))];
    match &plan.phase {
        Phase::Paused {
            reason,
            was_observing,
            step,
        } => {
            body.extend(wrapped("paused: ", reason, w, 2, t.paused, t.text));
            let observe = plan
                .spec
                .steps
                .get(*step)
                .map_or(String::new(), |s| hms(s.observe.as_secs() as i64));
            if *was_observing && !observe.is_empty() {
                body.push(Line::styled(
                    format!("resuming restarts the {observe} window"),
                    t.dim,
                ));
            }
        }
        Phase::RollingBack { reason } => {
            body.extend(wrapped("why ", reason, w, 2, t.dim, t.text));
            body.push(Line::styled(
                format!("sending all traffic to {}…", ctx.short(&plan.stable)),
                t.changing,
            ));
        }
        _ => {
            let win = window(ctx, plan, w, true);
            if !win.is_empty() {
                body.push(Line::from(win));
            }
            if let Some(eta) = eta(ctx, plan) {
                body.push(Line::styled(ellipsize(&eta, w).into_owned(), t.dim));
            }
        }
    }
    body.push(Line::from(clip(gates(ctx, w), w)));
    if let Some(o) = observed(ctx, w) {
        body.push(Line::from(clip(o, w)));
    }
    body.push(Line::styled(
        ellipsize(
            &format!(
                "{} · started {}",
                policy(&plan.spec),
                plan.started.format("%H:%M:%S"),
            ),
            w,
        )
        .into_owned(),
        t.dim,
    ));
    body.extend(wrap_spans(actions(ctx, plan), w, 2));
    Content {
        title: title(ctx, head),
        body,
    }
}

/// `observing step 2 of 4`, `step 2 observed: waiting for approval`.
fn phase_label(phase: &Phase, n: usize) -> String {
    match phase {
        Phase::Observing { step, .. } => format!("observing step {} of {n}", step + 1),
        Phase::Applying { step } => format!("applying step {} of {n}", step + 1),
        Phase::Paused { step, .. } => format!("PAUSED at step {} of {n}", step + 1),
        p => p.label(),
    }
}

/// `manual · on red: roll back`.
fn policy(spec: &PlanSpec) -> String {
    let mode = match spec.mode {
        PlanMode::Manual => "manual",
        PlanMode::Auto => "auto",
    };
    let on = match spec.on_failure {
        OnFailure::Rollback => "roll back",
        OnFailure::Pause => "pause",
        OnFailure::StepDown => "step down",
    };
    format!("{mode} · on red: {on}")
}

/// The plan as the footer says it when the panel is folded away:
/// `plan 2/4 observing 41%`, `plan PAUSED 2/4`, `plan rolled back`.
pub(crate) fn short(ctx: &Ctx) -> Option<String> {
    let plan = ctx.state.plan.as_ref()?;
    let n = plan.spec.steps.len();
    Some(match &plan.phase {
        Phase::Observing { step, .. } if plan.waiting_for_data(ctx.state.now).is_some() => {
            let lag = plan.lag(ctx.state.now);
            format!(
                "plan {}/{n} waiting for data (lag {})",
                step + 1,
                hms(lag.as_secs() as i64)
            )
        }
        Phase::Observing { step, .. } => {
            let pct = plan.window(ctx.state.now).map_or(0.0, |(f, _)| f * 100.0);
            format!("plan {}/{n} observing {pct:.0}%", step + 1)
        }
        Phase::Applying { step } => format!("plan {}/{n} applying", step + 1),
        Phase::WaitingApproval { step } => format!("plan {}/{n} waiting for approval", step + 1),
        Phase::Paused { step, .. } => format!("plan PAUSED {}/{n}", step + 1),
        p => format!("plan {}", p.label()),
    })
}

// ------------------------------------------------------------------ pieces

/// How the timeline marks its steps.
enum Marks {
    /// No plan, or a plan that ended without promoting: every step alike.
    Plain,
    /// Steps before this one are done, this one is current.
    At(usize),
    AllDone,
}

/// `10% 15m ✓ ▸ [25% 30m] ▸ 50% 1h ▸ 100%`; durations dropped when it
/// would not fit (or when `durations` is false).
fn timeline(
    ctx: &Ctx,
    spec: &PlanSpec,
    marks: &Marks,
    w: usize,
    durations: bool,
) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let build = |with_d: bool| -> Vec<Span<'static>> {
        let mut v = Vec::with_capacity(spec.steps.len() * 2);
        for (i, s) in spec.steps.iter().enumerate() {
            if i > 0 {
                v.push(Span::styled(" ▸ ", t.dim));
            }
            let d = if with_d && !s.observe.is_zero() {
                format!(" {}", hms(s.observe.as_secs() as i64))
            } else {
                String::new()
            };
            let text = format!("{}%{d}", s.percent);
            let (text, style) = match marks {
                Marks::AllDone => (format!("{text} ✓"), t.ok),
                Marks::At(c) if i < *c => (format!("{text} ✓"), t.ok),
                Marks::At(c) if i == *c => (format!("[{text}]"), t.bold),
                Marks::At(_) => (text, t.dim),
                Marks::Plain => (text, t.text),
            };
            v.push(Span::styled(text, style));
        }
        v
    };
    let full = build(durations);
    let width: usize = full.iter().map(Span::width).sum();
    if width <= w || !durations {
        full
    } else {
        build(false)
    }
}

/// The window's bar and numbers in `room` columns:
/// `████░░░░ 41% · 12m18s of 30m` (full) or `████░░ 41% 12m18s/30m · in 17m42s`.
fn window(ctx: &Ctx, plan: &Plan, room: usize, full: bool) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let now = ctx.state.now;
    let (frac, text) = match &plan.phase {
        Phase::Observing { step, since } => {
            let Some((frac, left)) = plan.window(now) else {
                return vec![];
            };
            let total = plan
                .spec
                .steps
                .get(*step)
                .map_or(0, |s| s.observe.as_secs());
            let elapsed = (now - *since).num_seconds().max(0);
            let pct = frac * 100.0;
            let lag = plan.lag(now);
            // Its time is over, its data is not all in yet.
            if let Some(lag) = plan.waiting_for_data(now) {
                let text = format!(
                    " {} observed · waiting for data (lag {})",
                    hms(total as i64),
                    hms(lag.as_secs() as i64)
                );
                return window_bar(ctx, frac, text, room, full, t.changing);
            }
            // The window ends when its last data has arrived: the lag is
            // part of the countdown and of the ETA.
            let lag_part = if lag >= LAG_SHOWN {
                format!(" + lag {}", hms(lag.as_secs() as i64))
            } else {
                String::new()
            };
            let (elapsed, total, left) = (
                hms(elapsed),
                hms(total as i64),
                hms((left + lag).as_secs() as i64),
            );
            let text = if full {
                format!(" {pct:.0}% · {elapsed} of {total}{lag_part}")
            } else {
                let end = plan.window_eta(now).unwrap_or(now);
                let long = format!(
                    " {pct:.0}% {elapsed}/{total}{lag_part} · ETA {} UTC, in {left}",
                    end.format("%H:%M:%S")
                );
                let short = format!(" {pct:.0}% {elapsed}/{total}{lag_part} · in {left}");
                if long.chars().count() + 16 <= room {
                    long
                } else if lag_part.is_empty() || short.chars().count() + 5 <= room {
                    short
                } else {
                    // Room for the bar: the lag stays, the elapsed time goes.
                    format!(" {pct:.0}% · in {left}, lag {}", hms(lag.as_secs() as i64))
                }
            };
            (frac, text)
        }
        Phase::WaitingApproval { step } => {
            let total = plan
                .spec
                .steps
                .get(*step)
                .map_or(0, |s| s.observe.as_secs());
            (1.0, format!(" {} observed", hms(total as i64)))
        }
        Phase::Applying { .. } => {
            let since = ctx
                .state
                .change
                .as_ref()
                .map(|c| format!(" for {}", hms(ctx.secs_since(c.started))))
                .unwrap_or_default();
            return vec![Span::styled(
                ellipsize(&format!("waiting for the platform{since}…"), room).into_owned(),
                t.changing,
            )];
        }
        _ => return vec![],
    };
    window_bar(ctx, frac, text, room, full, t.text)
}

/// `████░░░░` then `text` in `style`, in `room` columns (the text alone when
/// the bar would be too short).
fn window_bar(
    ctx: &Ctx,
    frac: f64,
    text: String,
    room: usize,
    full: bool,
    style: ratatui::style::Style,
) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let text_w = text.chars().count();
    let bar_w = room.saturating_sub(text_w).min(if full { 30 } else { 20 });
    if bar_w < 5 {
        return vec![Span::styled(
            ellipsize(text.trim_start(), room).into_owned(),
            style,
        )];
    }
    let filled = ((frac * bar_w as f64).round() as usize).min(bar_w);
    vec![
        Span::styled("█".repeat(filled), t.ok),
        Span::styled("░".repeat(bar_w - filled), t.dim),
        Span::styled(text, style),
    ]
}

/// A lag worth naming: below it, a poll that came back a second late (the
/// ETA counts it all the same).
const LAG_SHOWN: std::time::Duration = std::time::Duration::from_secs(2);

/// `ETA 10:30:45 UTC, in 17m42s (window 17m, metrics lag 45s)` while a
/// window runs: it ends when its last data has arrived.
fn eta(ctx: &Ctx, plan: &Plan) -> Option<String> {
    let Phase::Observing { step, since } = &plan.phase else {
        return None;
    };
    let now = ctx.state.now;
    let (_, left) = plan.window(now)?;
    let observe = plan.spec.steps.get(*step)?.observe;
    let end = *since + chrono::Duration::from_std(observe).ok()?;
    let then = match plan.spec.mode {
        PlanMode::Manual => "then p approves the next step",
        PlanMode::Auto => "then the next step if green",
    };
    if let Some(lag) = plan.waiting_for_data(now) {
        return Some(format!(
            "window over at {} UTC: waiting for its data (metrics lag {}), {then}",
            end.format("%H:%M:%S"),
            hms(lag.as_secs() as i64)
        ));
    }
    if left.is_zero() {
        return Some(format!(
            "window over at {} UTC, {then}",
            end.format("%H:%M:%S")
        ));
    }
    let lag = plan.lag(now);
    let eta = plan.window_eta(now).unwrap_or(end);
    let parts = if lag >= LAG_SHOWN {
        format!(
            " (window {}, metrics lag {})",
            hms(left.as_secs() as i64),
            hms(lag.as_secs() as i64)
        )
    } else {
        String::new()
    };
    Some(format!(
        "ETA {} UTC, in {}{parts}",
        eta.format("%H:%M:%S"),
        hms((left + lag).as_secs() as i64)
    ))
}

/// `gates ✓ green`, `gates ? no data: why`, `gates ! red for 14s of 20s sustain: why`.
pub(crate) fn gates(ctx: &Ctx, w: usize) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let state = ctx.state;
    let sustain = state.settings.gates.sustain.as_secs();
    let held = state.red_since.map(|s| ctx.secs_since(s));
    let (mark, style, text) = match (&state.verdict, held) {
        (Verdict::Green, _) => ("✓ green".to_string(), t.ok, String::new()),
        (Verdict::Red(why), Some(h)) => (format!("✗ red for {}", hms(h)), t.error, why.clone()),
        (Verdict::Red(why), None) => ("✗ red".to_string(), t.error, why.clone()),
        // Red but not yet for `sustain`: say what happens, and when.
        (Verdict::Confirming(why), h) => {
            let left = hms(sustain as i64 - h.unwrap_or(0));
            let mark = match ctx.state.plan.as_ref().filter(|p| !p.phase.is_finished()) {
                Some(p)
                    if matches!(
                        p.phase,
                        Phase::Observing { .. } | Phase::WaitingApproval { .. }
                    ) =>
                {
                    match p.spec.on_failure {
                        OnFailure::Rollback => format!("✗ RED: auto-rollback in {left}"),
                        OnFailure::Pause => format!("✗ RED: the plan pauses in {left}"),
                        OnFailure::StepDown => format!("✗ RED: steps down in {left}"),
                    }
                }
                _ => format!(
                    "✗ red for {} (counts after {})",
                    hms(h.unwrap_or(0)),
                    hms(sustain as i64)
                ),
            };
            (mark, t.error, why.clone())
        }
        (Verdict::NoData(why), _) => ("? no data".to_string(), t.no_data, why.clone()),
    };
    // Thresholds that only observe do not make this verdict: the judge and
    // the checks do, and it is named for what it is.
    let head = match state.settings.gates.mode {
        GatesMode::Act => "gates ",
        GatesMode::Observe => "verdict ",
    };
    let mut v = vec![Span::styled(head, t.dim), Span::styled(mark.clone(), style)];
    if !text.is_empty() {
        let room = w.saturating_sub(head.len() + mark.chars().count() + 2);
        v.push(Span::styled(
            format!(": {}", ellipsize(&text, room)),
            t.text,
        ));
    }
    v
}

/// While the thresholds only observe: what they say, marked so and never in
/// the alarm's style (they roll nothing back, hold nothing):
/// `thresholds (observe only) ! red for 25s, not acted on: canary 5xx 1.30 % > gate 1 %`.
pub(crate) fn observed(ctx: &Ctx, w: usize) -> Option<Vec<Span<'static>>> {
    let t = &ctx.theme;
    let o = ctx.state.observed_gates.as_ref()?;
    let (mark, style) = match &o.verdict {
        Verdict::Green => ("✓ within".to_string(), t.dim),
        Verdict::NoData(_) => ("? no data".to_string(), t.no_data),
        Verdict::Confirming(_) | Verdict::Red(_) => {
            let held = o.red_since.map_or(0, |s| ctx.secs_since(s));
            (format!("! red for {}, not acted on", hms(held)), t.warn)
        }
    };
    let head = "thresholds (observe only) ";
    let mut v = vec![Span::styled(head, t.dim), Span::styled(mark.clone(), style)];
    if let Some(why) = o.verdict.why() {
        let room = w.saturating_sub(head.chars().count() + mark.chars().count() + 2);
        v.push(Span::styled(format!(": {}", ellipsize(why, room)), t.text));
    }
    Some(v)
}

/// What the operator can do now, with the keys from the keymap.
fn actions(ctx: &Ctx, plan: &Plan) -> Vec<Span<'static>> {
    let t = &ctx.theme;
    let state = ctx.state;
    if state.settings.read_only {
        return vec![Span::styled("read-only: watching only", t.dim)];
    }
    let km = &state.settings.keymap;
    let next = |next: Option<u8>| next.map_or(String::new(), |p| format!(" ({p} %)"));
    // What the keys do now, worded for the panel (the footer words it shorter).
    let items: Vec<(Command, String)> = plan
        .offers(&state.verdict)
        .into_iter()
        .filter_map(|offer| {
            let what = match &offer {
                Offer::Abort { now: true } => "abort: roll back now".to_string(),
                Offer::Abort { now: false } => "abort".to_string(),
                Offer::AdvanceEarly { next: n } => format!("advance early{}", next(*n)),
                Offer::Approve { next: n } => format!("next step{}", next(*n)),
                Offer::Override { next: n } => format!("override{}, with a reason", next(*n)),
                Offer::Pause => "pause".to_string(),
                Offer::Resume {
                    restarts_window: true,
                    ..
                } => "resume (restarts the window)".to_string(),
                Offer::Resume { percent, .. } => format!("resume (re-applies {percent} %)"),
                // A finished plan says how to start another on its own line.
                Offer::Start { .. } => return None,
            };
            Some((offer.command(), what))
        })
        .collect();
    let mut v = Vec::new();
    if let Phase::WaitingApproval { .. } = plan.phase {
        v.push(Span::styled("waiting for approval: ", t.changing));
    }
    for (i, (cmd, what)) in items.into_iter().enumerate() {
        if i > 0 {
            v.push(Span::styled(" · ", t.dim));
        }
        v.push(Span::styled(km.label(cmd), t.key));
        v.push(Span::raw(format!(" {what}")));
    }
    v
}

// ------------------------------------------------------------------ text

/// Cuts a line of spans to `w` columns (the last span kept ends with `…`).
pub(crate) fn clip(spans: Vec<Span<'static>>, w: usize) -> Vec<Span<'static>> {
    let mut out = Vec::with_capacity(spans.len());
    let mut used = 0;
    for s in spans {
        let sw = s.width();
        if used + sw <= w {
            used += sw;
            out.push(s);
        } else {
            let room = w - used;
            if room > 0 {
                out.push(Span::styled(
                    ellipsize(&s.content, room).into_owned(),
                    s.style,
                ));
            }
            break;
        }
    }
    out
}

/// Spans laid out on up to `max` lines of `w` columns, breaking only
/// before a `·` separator (the rest is cut).
fn wrap_spans(spans: Vec<Span<'static>>, w: usize, max: usize) -> Vec<Line<'static>> {
    // Groups: a separator starts a new group.
    let mut groups: Vec<Vec<Span<'static>>> = vec![vec![]];
    for s in spans {
        if s.content == " · " {
            groups.push(vec![]);
        } else if let Some(g) = groups.last_mut() {
            g.push(s);
        }
    }
    let mut lines: Vec<Vec<Span<'static>>> = vec![];
    let mut cur: Vec<Span<'static>> = vec![];
    let mut cur_w = 0;
    for g in groups.into_iter().filter(|g| !g.is_empty()) {
        let gw: usize = g.iter().map(Span::width).sum();
        let sep = if cur.is_empty() { 0 } else { 3 };
        if !cur.is_empty() && cur_w + sep + gw > w {
            lines.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        if !cur.is_empty() {
            cur.push(Span::raw(" · "));
            cur_w += 3;
        }
        cur_w += gw;
        cur.extend(g);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines.truncate(max);
    lines.into_iter().map(|l| Line::from(clip(l, w))).collect()
}

/// `label` then `text`, word-wrapped on up to `max` lines of `w` columns.
fn wrapped(
    label: &str,
    text: &str,
    w: usize,
    max: usize,
    label_style: ratatui::style::Style,
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let w = w.max(8);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::from(label);
    for word in text.split_whitespace() {
        let cur_w = cur.chars().count();
        if cur_w > 0 && cur_w + 1 + word.chars().count() > w && cur != label {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() && cur != label {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    lines.push(cur);
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            let cut = ellipsize(last, w.saturating_sub(1)).into_owned();
            *last = format!("{cut}…");
        }
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 && l.starts_with(label) {
                let rest = l[label.len()..].to_string();
                Line::from(vec![
                    Span::styled(label.to_string(), label_style),
                    Span::styled(ellipsize(&rest, w).into_owned(), style),
                ])
            } else {
                Line::styled(ellipsize(&l, w).into_owned(), style)
            }
        })
        .collect()
}
