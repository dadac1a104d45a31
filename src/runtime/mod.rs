//! The event loop: keys, ticks and task results become actions; `update`
//! turns them into effects, which run here as background tasks; the screen is
//! redrawn only when something changed, at most `max_fps` times a second.

mod first_deploy;
pub mod headless;
pub mod record;
pub mod release;
pub mod tasks;
pub mod terminal;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use crate::checks::{CheckRunner, CheckTarget};
use crate::core::action::{Action, ChangeKind, Effect};
use crate::core::error::BackendError;
use crate::core::state::{CheckResult, CheckStatus, State};
use crate::core::update::{needs_redraw, update};
use crate::journal::Event as Journaled;
use crate::logs::LogSource;
use crate::metrics::MetricsSource;
use crate::platform::Platform;
use record::{Notifier, Recorder};

/// The three backends behind the cockpit, and where results go.
pub struct Backends {
    pub platform: Arc<dyn Platform>,
    pub metrics: Arc<dyn MetricsSource>,
    pub logs: Box<dyn LogSource>,
    pub checks: Option<Arc<dyn CheckRunner>>,
    pub recorder: Recorder,
    pub notifier: Notifier,
    /// The lease of whoever drives a plan (`canary release`), read at every
    /// service refresh so that the cockpit shows a plan driven elsewhere,
    /// and written with this cockpit's requests to it. `None`: none
    /// (the headless driver keeps its own).
    pub lease: Option<Arc<dyn crate::platform::lease::Lease>>,
}

impl Backends {
    /// A platform alone: no metrics, logs or checks, no journal, no team
    /// to notify, no lease (tests; a caller sets what it has with
    /// `Backends { recorder, ..Backends::bare(p) }`).
    pub fn bare(platform: Arc<dyn Platform>) -> Backends {
        Backends {
            platform,
            metrics: Arc::new(crate::metrics::Unavailable::new("none")),
            logs: Box::new(crate::logs::Unavailable::new("none")),
            checks: None,
            recorder: Recorder::new(
                None,
                crate::journal::Who {
                    user: "test".into(),
                    from: None,
                },
                String::new(),
            ),
            notifier: Notifier::new(None),
            lease: None,
        }
    }
}

/// Poll intervals and redraw pacing.
#[derive(Clone, Debug)]
pub struct Timing {
    pub service: Duration,
    pub metrics: Duration,
    pub logs: Duration,
    pub metrics_window: Duration,
    pub metrics_step: Duration,
    pub max_fps: u32,
    /// Ages on screen are in seconds: one tick a second keeps them right.
    pub tick: Duration,
    /// The whole verification battery must finish within this.
    pub battery_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            service: Duration::from_secs(2),
            metrics: Duration::from_secs(5),
            logs: Duration::from_secs(2),
            metrics_window: Duration::from_secs(600),
            metrics_step: Duration::from_secs(10),
            max_fps: 30,
            tick: Duration::from_secs(1),
            battery_timeout: Duration::from_secs(600),
        }
    }
}

/// A channel into the event loop, for signal handlers and tests.
pub fn channel() -> (mpsc::Sender<Action>, mpsc::Receiver<Action>) {
    mpsc::channel(1024)
}

fn from_event(ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Action::Key(k.into())),
        Event::Paste(s) => Some(Action::Paste(s)),
        Event::Resize(_, _) => Some(Action::Resize),
        _ => None,
    }
}

/// Runs until the state asks to quit or the input ends. Returns the final state.
pub async fn run<B, E>(
    terminal: &mut Terminal<B>,
    mut state: State,
    backends: Backends,
    timing: Timing,
    mut events: E,
    tx: mpsc::Sender<Action>,
    mut rx: mpsc::Receiver<Action>,
) -> io::Result<State>
where
    B: Backend,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut engine = Engine::start(&state, backends, &timing, &tx);
    let frame_gap = Duration::from_secs(1) / timing.max_fps.max(1);
    let mut tick = tokio::time::interval(timing.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    let mut input_open = true;

    'main: loop {
        // Draw when something changed and the frame gap has passed.
        if dirty {
            let due = last_draw.map_or(Instant::now(), |t| t + frame_gap);
            if Instant::now() >= due {
                terminal.draw(|f| crate::ui::render(f, &state))?;
                last_draw = Some(Instant::now());
                dirty = false;
            }
        }
        let draw_at = if dirty {
            last_draw.map(|t| t + frame_gap)
        } else {
            None
        };

        let action = tokio::select! {
            ev = events.next(), if input_open => match ev {
                Some(Ok(ev)) => match from_event(ev) { Some(a) => a, None => continue },
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "terminal input failed");
                    input_open = false;
                    continue;
                }
                None => { input_open = false; continue }
            },
            Some(a) = rx.recv() => a,
            _ = tick.tick() => Action::Tick,
            _ = sleep_until_opt(draw_at) => continue,
        };

        // Handle this action and whatever else is already waiting, as one frame.
        for action in engine.batch(action, &state, &mut rx) {
            if let Action::Key(k) = &action {
                tracing::trace!(key = ?k.code, mode = state.mode.name(), "key");
            }
            dirty |= needs_redraw(&action);
            engine.step(&mut state, action);
            if state.quit {
                break 'main;
            }
        }
        engine.reap();
    }
    let mut changes = engine.stop();
    settle_changes(terminal, &mut state, &mut changes).await;
    Ok(state)
}

/// The engine's side of the event loop, shared by the cockpit ([`run`]) and
/// the headless driver ([`headless::run`]): the pollers, and every action
/// through `update` with its effects carried out as background tasks.
pub struct Engine {
    platform: Arc<dyn Platform>,
    ex: Executors,
    timing: Timing,
    tx: mpsc::Sender<Action>,
    refresh: Arc<Notify>,
    watch_tx: watch::Sender<Vec<String>>,
    focus_tx: watch::Sender<Option<String>>,
    generation_tx: watch::Sender<u64>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    /// Traffic-change tasks: quitting waits for them (`settle_changes`).
    changes: tokio::task::JoinSet<()>,
}

impl Engine {
    /// Starts the pollers; results come back on `tx`.
    pub fn start(
        state: &State,
        backends: Backends,
        timing: &Timing,
        tx: &mpsc::Sender<Action>,
    ) -> Engine {
        let platform = backends.platform.clone();
        let (generation_tx, generation_rx) = watch::channel(state.write_generation);
        let ex = Executors {
            checks: backends.checks.clone(),
            recorder: backends.recorder.clone(),
            notifier: backends.notifier.clone(),
            generation: generation_rx.clone(),
            lease: backends.lease.clone(),
        };
        {
            let tx = tx.clone();
            platform.observe_retries(Arc::new(move |r| {
                let _ = tx.try_send(Action::Progress(r.clone()));
            }));
        }
        let refresh = Arc::new(Notify::new());
        let service_back = Arc::new(Notify::new());
        let (watch_tx, watch_rx) = watch::channel(Vec::<String>::new());
        let (focus_tx, focus_rx) = watch::channel(None::<String>);
        let mut pollers = vec![
            tasks::spawn_service_poller(
                platform.clone(),
                timing.service,
                refresh.clone(),
                service_back.clone(),
                generation_rx,
                tx.clone(),
            ),
            tasks::spawn_metrics_poller(
                backends.metrics,
                timing.metrics,
                timing.metrics_window,
                timing.metrics_step,
                watch_rx,
                service_back.clone(),
                tx.clone(),
            ),
            tasks::spawn_log_poller(backends.logs, timing.logs, focus_rx, tx.clone()),
        ];
        if let Some(lease) = backends.lease {
            pollers.push(tasks::spawn_lease_poller(lease, timing.service, tx.clone()));
        }
        Engine {
            platform,
            ex,
            timing: timing.clone(),
            tx: tx.clone(),
            refresh,
            watch_tx,
            focus_tx,
            generation_tx,
            pollers,
            changes: tokio::task::JoinSet::new(),
        }
    }

    /// `first` and whatever else is already waiting (at most 256), handled
    /// as one frame; a tick also checks the journal's health.
    pub fn batch(
        &self,
        first: Action,
        state: &State,
        rx: &mut mpsc::Receiver<Action>,
    ) -> Vec<Action> {
        let mut batch = vec![first];
        if matches!(batch[0], Action::Tick) {
            let broken = self.ex.recorder.broken();
            if broken.is_some() != state.journal_broken.is_some() {
                batch.push(Action::JournalHealth(broken));
            }
            let audit = crate::journal::shared::health()
                .and_then(|h| Some((h.last_error.clone().unwrap_or_default(), h.failing_since?)));
            if audit.as_ref().map(|a| a.1) != state.audit_degraded.as_ref().map(|a| a.1) {
                batch.push(Action::AuditHealth(audit));
            }
        }
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        batch
    }

    /// One action through `update`; its effects are started here (every
    /// one, those queued after a quit too: journal records) and returned,
    /// for whoever watches the engine.
    pub fn step(&mut self, state: &mut State, action: Action) -> Vec<Effect> {
        let effects = update(state, action, Utc::now());
        // Reads started from now on carry the generation of the last change landed.
        self.generation_tx.send_if_modified(|g| {
            let changed = *g != state.write_generation;
            *g = state.write_generation;
            changed
        });
        for effect in &effects {
            match effect {
                Effect::Quit => {}
                Effect::RefreshService => self.refresh.notify_one(),
                Effect::WatchRevisions(revs) => {
                    let _ = self.watch_tx.send(revs.clone());
                }
                Effect::FocusLogs(revision) => {
                    let _ = self.focus_tx.send(revision.clone());
                }
                other => execute(
                    other.clone(),
                    &self.platform,
                    &self.ex,
                    &self.timing,
                    &self.tx,
                    &mut self.changes,
                ),
            }
        }
        effects
    }

    /// Forgets traffic-change tasks that are done.
    pub fn reap(&mut self) {
        while self.changes.try_join_next().is_some() {}
    }

    /// Whether a traffic change is still running (sent, outcome not journaled).
    pub fn changes_in_flight(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The recorder effects journal with.
    pub fn recorder(&self) -> &Recorder {
        &self.ex.recorder
    }

    /// The notifier effects tell the team with.
    pub fn notifier(&self) -> &Notifier {
        &self.ex.notifier
    }

    /// Stops the pollers; returns the traffic changes still running, which
    /// the caller lets land (`settle_changes`).
    pub fn stop(mut self) -> tokio::task::JoinSet<()> {
        for p in &self.pollers {
            p.abort();
        }
        std::mem::take(&mut self.changes)
    }
}

/// How long quitting waits for a traffic change already sent.
pub const SETTLE: Duration = Duration::from_secs(30);

/// A traffic change already sent is never cut off by quitting (a second `q`,
/// SIGTERM, SIGHUP): its task runs to the platform's answer and journals the
/// outcome, within [`SETTLE`]. Dropping the runtime instead would cancel it
/// between two HAProxy commands, or between the request and its record.
async fn settle_changes<B: Backend>(
    terminal: &mut Terminal<B>,
    state: &mut State,
    changes: &mut tokio::task::JoinSet<()>,
) {
    if changes.is_empty() {
        return;
    }
    crate::core::update::say(
        state,
        crate::core::state::Level::Warn,
        "quitting: waiting for the traffic change in flight to land and be journaled…",
    );
    // The terminal may be gone (SIGHUP): nothing to show then, and no harm.
    let _ = terminal.draw(|f| crate::ui::render(f, state));
    drain(changes, SETTLE).await;
}

/// Waits (at most `within`) for the traffic changes still running to land
/// and be journaled; false when one was still in flight.
pub async fn drain(changes: &mut tokio::task::JoinSet<()>, within: Duration) -> bool {
    let drained = tokio::time::timeout(within, async {
        while changes.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            waited_s = within.as_secs(),
            "a traffic change was still in flight at exit"
        );
    }
    drained.is_ok()
}

pub(crate) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The journal record and the action for a change's result.
fn outcome(
    id: u64,
    kind: ChangeKind,
    before: crate::core::model::TrafficSplit,
    after: crate::core::model::TrafficSplit,
    reason: Option<String>,
    took_ms: i64,
    result: Result<crate::core::model::ServiceSnapshot, BackendError>,
) -> (Journaled, Action) {
    let event = crate::journal::outcome_record(
        id,
        kind.verb(),
        before,
        after,
        reason,
        took_ms,
        result.as_ref().map(|_| ()),
    );
    let action = match result {
        Ok(snapshot) => Action::TrafficApplied { id, snapshot },
        Err(error) => {
            tracing::warn!(id, %error, "traffic change failed");
            Action::TrafficFailed { id, error }
        }
    };
    (event, action)
}

/// What effects need besides the platform.
#[derive(Clone)]
struct Executors {
    checks: Option<Arc<dyn CheckRunner>>,
    recorder: Recorder,
    notifier: Notifier,
    /// The write generation reads start at (deploys read the service too).
    generation: watch::Receiver<u64>,
    lease: Option<Arc<dyn crate::platform::lease::Lease>>,
}

/// Runs one effect as a background task that reports back with actions.
fn execute(
    effect: Effect,
    platform: &Arc<dyn Platform>,
    ex: &Executors,
    timing: &Timing,
    tx: &mpsc::Sender<Action>,
    changes: &mut tokio::task::JoinSet<()>,
) {
    let tx = tx.clone();
    match effect {
        Effect::Quit
        | Effect::RefreshService
        | Effect::WatchRevisions(_)
        | Effect::FocusLogs(_) => {}
        Effect::Copy(text) => terminal::copy_to_clipboard(&text),
        Effect::Release(e) => {
            release::execute(e, platform, &ex.recorder, &ex.generation, &tx, changes)
        }
        Effect::LoadJournal => {
            let path = ex.recorder.path().map(Path::to_path_buf);
            tokio::spawn(async move {
                let read = tokio::task::spawn_blocking(move || history(path.as_deref())).await;
                let records = read.unwrap_or_else(|e| Err(e.to_string()));
                let _ = tx.send(Action::JournalLoaded(records)).await;
            });
        }
        Effect::WriteReport => {
            let path = ex.recorder.path().map(Path::to_path_buf);
            let service = ex.recorder.service().to_string();
            tokio::spawn(async move {
                let written =
                    tokio::task::spawn_blocking(move || write_report(path.as_deref(), &service))
                        .await;
                let result = written.unwrap_or_else(|e| Err(e.to_string()));
                let _ = tx.send(Action::ReportWritten(result)).await;
            });
        }
        Effect::SetTraffic {
            id,
            split,
            expect,
            kind,
            before,
            reason,
        } => {
            tracing::info!(id, kind = %kind.verb(), split = %split, "traffic change sent");
            let p = platform.clone();
            let rec = ex.recorder.clone();
            // Queued now, so it lands in the journal in the order `update` asked.
            let requested = rec.submit(Journaled::TrafficRequested {
                pid: Some(std::process::id()),
                id,
                kind: kind.verb(),
                before: before.clone(),
                after: split.clone(),
                reason: reason.clone(),
            });
            changes.spawn(async move {
                let started = Instant::now();
                // The request is journaled before it goes out. Without that
                // record nothing is sent, except a rollback (safety before
                // audit): its records are kept in memory and in the
                // diagnostic log until the journal is writable again.
                if let Err(e) = requested.done().await {
                    if kind != ChangeKind::Rollback {
                        let error = BackendError::Refused(format!(
                            "not sent: the audit journal cannot be written ({e})"
                        ));
                        // Kept with the request, so the pair lands together later.
                        let _ = rec.submit(Journaled::TrafficFailed {
                            id,
                            kind: kind.verb(),
                            before,
                            after: split,
                            error: error.to_string(),
                        });
                        let _ = tx.send(Action::JournalFailed(e)).await;
                        let _ = tx.send(Action::TrafficFailed { id, error }).await;
                        return;
                    }
                    tracing::error!(id, error = %e, "rollback sent although the journal cannot record it");
                    let _ = tx
                        .send(Action::JournalFailed(format!(
                            "{e}; the rollback goes out anyway, its record kept in memory"
                        )))
                        .await;
                }
                let result = p.set_traffic(&split, &expect).await;
                let took_ms = started.elapsed().as_millis() as i64;
                let (event, action) = outcome(id, kind, before, split, reason, took_ms, result);
                // Journaled (fsynced) before the cockpit reports it done.
                if let Err(e) = rec.record(event).await {
                    let _ = tx.send(Action::JournalFailed(e)).await;
                }
                let _ = tx.send(action).await;
            });
        }
        Effect::RequestLease(kind) => {
            let lease = ex.lease.clone();
            tokio::spawn(async move {
                let request = crate::platform::lease::RemoteRequest {
                    kind,
                    by: crate::platform::lease::user_at_host(),
                    at: Utc::now(),
                    acked: None,
                };
                let result = match lease {
                    None => Err("no lease is kept for this service".to_string()),
                    Some(l) => match l.request(&request).await {
                        Ok(_) => Ok(request),
                        Err(e) => Err(e.to_string()),
                    },
                };
                tracing::info!(
                    kind = kind.verb(),
                    ok = result.is_ok(),
                    "request written into the lease"
                );
                let _ = tx.send(Action::LeaseRequested(result)).await;
            });
        }
        Effect::ScaleDown { revision } => {
            let p = platform.clone();
            changes.spawn(async move {
                let result = p.scale_down(&revision).await;
                let _ = tx.send(Action::ScaledDown { revision, result }).await;
            });
        }
        Effect::Journal(event) => {
            let written = ex.recorder.submit(event);
            tokio::spawn(async move {
                if let Err(e) = written.done().await {
                    let _ = tx.send(Action::JournalFailed(e)).await;
                }
            });
        }
        Effect::Notify(text) => {
            let n = ex.notifier.clone();
            let counted = n.in_flight();
            tokio::spawn(async move {
                let _counted = counted;
                if let Err(e) = n.send(&text).await {
                    let _ = tx.send(Action::NotifyFailed(e)).await;
                }
            });
        }
        Effect::RunChecks {
            battery,
            revision,
            tag_url,
            service_url,
            stable,
        } => {
            let Some(runner) = ex.checks.clone() else {
                return;
            };
            let target = CheckTarget {
                revision,
                tag_url,
                service_url,
                stable,
            };
            let deadline = timing.battery_timeout;
            for index in 0..runner.count() {
                let runner = runner.clone();
                let target = target.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(Action::CheckStarted { battery, index }).await;
                    let result =
                        match tokio::time::timeout(deadline, runner.run(index, &target)).await {
                            Ok(r) => r,
                            Err(_) => CheckResult {
                                status: CheckStatus::Fail,
                                measured: None,
                                expected: None,
                                reason: format!(
                                    "the battery's global timeout ({}s) ran out",
                                    deadline.as_secs()
                                ),
                                duration: deadline,
                                attempts: 0,
                            },
                        };
                    let _ = tx
                        .send(Action::CheckFinished {
                            battery,
                            index,
                            result,
                        })
                        .await;
                });
            }
        }
    }
}

/// The history view keeps the newest records (the file may be long).
const HISTORY_RECORDS: usize = 5_000;

fn history(path: Option<&Path>) -> Result<Vec<crate::journal::Record>, String> {
    let path = path.ok_or("the audit journal is turned off ([journal] enabled = false)")?;
    let replay = crate::journal::replay(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut records = replay.records;
    let skip = records.len().saturating_sub(HISTORY_RECORDS);
    records.drain(..skip);
    Ok(records)
}

/// `SERVICE-report-YYYYmmdd-HHMMSS.md` next to the journal; its path.
fn write_report(path: Option<&Path>, service: &str) -> Result<String, String> {
    let path = path.ok_or("the audit journal is turned off ([journal] enabled = false)")?;
    let replay = crate::journal::replay(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let md = crate::journal::report::markdown(service, &replay);
    let stem = path
        .file_stem()
        .map_or("canary".into(), |s| s.to_string_lossy().into_owned());
    let out = path.with_file_name(format!(
        "{stem}-report-{}.md",
        Utc::now().format("%Y%m%d-%H%M%S")
    ));
    // Who, from where and why: as private as the journal (0600).
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    std::io::Write::write_all(&mut file, md.as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::key::{KeyCode, KeyEvent, KeyModifiers};
    use crate::core::model::TrafficSplit;
    use crate::core::state::Settings;
    use crate::platform::simulator::{Scenario, Simulator};

    /// The loop hands the service poller the write generation: once our
    /// change has landed, the reads that follow still reach the state
    /// (someone else's split shows). Without it they would all be dropped
    /// as older than the change.
    #[tokio::test(start_paused = true)]
    async fn reads_started_after_a_landed_change_reach_the_state() {
        let sim = Simulator::new(Scenario::builtin("healthy").expect("scenario"), 1);
        let platform: Arc<dyn Platform> = Arc::new(sim.clone());
        let backends = Backends::bare(Arc::clone(&platform));
        let timing = Timing {
            service: Duration::from_millis(200),
            ..Timing::default()
        };
        let state = State::new(Settings::default(), platform.info(), Utc::now());
        let (tx, rx) = channel();
        let mut term = Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("term");
        let plus = Action::Key(KeyEvent::new(KeyCode::Char('+'), KeyModifiers::SHIFT));
        let theirs = {
            let snap = sim.snapshot().await.expect("snapshot");
            let canary = snap.resolve("canary").expect("canary").name.clone();
            let stable = snap.traffic.largest().expect("stable").to_string();
            TrafficSplit::new([(stable, 70), (canary, 30)]).expect("valid")
        };
        let driver = {
            let (tx, sim, theirs) = (tx.clone(), sim.clone(), theirs.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = tx.send(plus).await;
                // The simulator applies a change in well under 5 s.
                tokio::time::sleep(Duration::from_secs(5)).await;
                sim.set_traffic_externally(&theirs)
                    .expect("external change");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = tx.send(Action::Terminate("test")).await;
            })
        };
        let state = run(
            &mut term,
            state,
            backends,
            timing,
            futures::stream::pending(),
            tx,
            rx,
        )
        .await
        .expect("run");
        driver.await.expect("driver");
        assert_eq!(state.write_generation, 1, "our change landed");
        assert_eq!(
            state.snapshot.as_ref().map(|s| &s.traffic),
            Some(&theirs),
            "a read started after our change reached the state"
        );
    }
}
