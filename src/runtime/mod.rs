//! The event loop: keys, ticks and task results become actions; `update`
//! turns them into effects, which run here as background tasks; the screen is
//! redrawn only when something changed, at most `max_fps` times a second.

pub mod tasks;
pub mod terminal;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, KeyEventKind};
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use crate::core::action::{Action, Effect};
use crate::core::state::{Previewer, State};
use crate::core::update::{needs_redraw, update};
use crate::logs::LogSource;
use crate::metrics::MetricsSource;
use crate::platform::Platform;

/// The three backends behind the cockpit.
pub struct Backends {
    pub platform: Arc<dyn Platform>,
    pub metrics: Arc<dyn MetricsSource>,
    pub logs: Box<dyn LogSource>,
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
        }
    }
}

/// A channel into the event loop, for signal handlers and tests.
pub fn channel() -> (mpsc::Sender<Action>, mpsc::Receiver<Action>) {
    mpsc::channel(1024)
}

fn from_event(ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Action::Key(k)),
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
    let platform = backends.platform.clone();
    {
        let p = platform.clone();
        state.previewer = Previewer(Arc::new(move |s| p.preview(s)));
    }
    let refresh = Arc::new(Notify::new());
    let (watch_tx, watch_rx) = watch::channel(Vec::<String>::new());
    let pollers = [
        tasks::spawn_service_poller(
            platform.clone(),
            timing.service,
            refresh.clone(),
            tx.clone(),
        ),
        tasks::spawn_metrics_poller(
            backends.metrics,
            timing.metrics,
            timing.metrics_window,
            timing.metrics_step,
            watch_rx,
            tx.clone(),
        ),
        tasks::spawn_log_poller(backends.logs, timing.logs, tx.clone()),
    ];

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
        let mut batch = vec![action];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        for action in batch {
            dirty |= needs_redraw(&action);
            let effects = update(&mut state, action, Utc::now());
            for effect in effects {
                match effect {
                    Effect::Quit => break 'main,
                    Effect::RefreshService => refresh.notify_one(),
                    Effect::WatchRevisions(revs) => {
                        let _ = watch_tx.send(revs);
                    }
                    Effect::SetTraffic {
                        id,
                        split,
                        expect,
                        kind,
                    } => {
                        tracing::info!(id, kind = kind.verb(), split = %split, "traffic change sent");
                        let p = platform.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let action = match p.set_traffic(&split, &expect).await {
                                Ok(snapshot) => Action::TrafficApplied { id, snapshot },
                                Err(error) => {
                                    tracing::warn!(id, %error, "traffic change failed");
                                    Action::TrafficFailed { id, error }
                                }
                            };
                            let _ = tx.send(action).await;
                        });
                    }
                }
            }
        }
        if state.quit {
            break;
        }
    }
    for p in pollers {
        p.abort();
    }
    Ok(state)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
