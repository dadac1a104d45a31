//! From a validated [`Config`] to a running cockpit's parts: the settings
//! `update` needs, the backends, the verification battery. The binary and the
//! tests build the cockpit the same way. [`cockpit`] assembles and runs the
//! interactive cockpit; [`logging`] starts the program's own log.

pub mod cockpit;
pub mod logging;

use std::sync::Arc;
use std::time::Duration;

use crate::checks::runner::Runner;
use crate::checks::{CheckKind, CheckRunner, CheckSpec};
use crate::config::{Config, GoogleAuth, PlatformKind};
use crate::core::plan::{PlanMode, PlanSpec, PlanStep};
use crate::core::state::{Gates, Settings};
use crate::google;
use crate::logs::cloud_logging::{CloudLogging, CloudLoggingSettings};
use crate::logs::command::CommandLogs;
use crate::logs::file::FileLogs;
use crate::logs::{LogSource, RecentLogs, Tee};
use crate::metrics::prometheus::{
    PrometheusAuth, PrometheusMetrics, PrometheusSettings, QueryTemplates,
};
use crate::metrics::MetricsSource;
use crate::platform::cloud_run::{CloudRun, CloudRunSettings};
use crate::platform::haproxy::{HaproxyPlatform, HaproxySettings, Socket};
use crate::platform::kubernetes::logs::KubeLogs;
use crate::platform::kubernetes::{KubePlatform, KubeSettings};
use crate::platform::simulator::{Scenario, Simulator};
use crate::platform::Platform;
use crate::runtime::record::Notifier;

/// Entries kept for the `logs` checks.
const RECENT_LOGS: usize = 20_000;

/// The example configuration, compiled in: the demo runs its checks.
pub const EXAMPLE_CONFIG: &str = include_str!("../config.example.toml");

/// Options from the command line that change the settings.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub read_only: bool,
    /// `--auto`: the plan advances by itself.
    pub auto: bool,
}

/// The demo's plan: the team's phases with 30 s windows, so a whole
/// promotion fits in two minutes.
pub fn demo_plan() -> PlanSpec {
    PlanSpec {
        steps: [10u8, 25, 50, 100]
            .into_iter()
            .map(|percent| PlanStep {
                percent,
                observe: Duration::from_secs(if percent == 100 { 0 } else { 30 }),
            })
            .collect(),
        ..PlanSpec::domain_default()
    }
}

/// The demo's checks: the team's battery from `config.example.toml`, run
/// against the simulator's HTTP front. The logs check only warns: the
/// simulated revisions answer ~0.2 % 5xx even when healthy. PromQL checks
/// are left out: the simulator is not a Prometheus API.
pub fn demo_checks() -> Vec<CheckSpec> {
    let example = Config::parse(EXAMPLE_CONFIG, std::path::Path::new("config.example.toml"));
    let mut checks = example.map(|c| c.checks).unwrap_or_default();
    checks.retain(|c| {
        !matches!(
            &c.kind,
            CheckKind::Query(q) if matches!(q.metric, crate::checks::QueryMetric::PromQl(_))
        )
    });
    for c in &mut checks {
        if matches!(c.kind, CheckKind::Logs(_)) {
            c.blocking = false;
        }
    }
    checks
}

/// Whether a config is the demo (the built-in simulator with no file, or
/// `--demo`): then the plan and checks fit the simulation.
pub fn settings(config: &Config, opts: &Options, demo: bool) -> Settings {
    let color = config.ui.color.use_color();
    let mut plan = config.plan.clone();
    let mut gates = Gates {
        mode: config.gates.mode,
        error_percent: config.gates.error_percent,
        p95_latency_ms: config.gates.p95_latency_ms,
        window: config.gates.window,
        sustain: config.gates.sustain,
        min_requests: config.gates.min_requests as f64,
        // Three refreshes missed: the numbers no longer describe the present.
        max_metrics_age: config.refresh.metrics * 3,
    };
    let mut judge = config.judge.clone();
    if demo && config.source.is_none() {
        plan = demo_plan();
        gates.window = Duration::from_secs(30);
        gates.sustain = Duration::from_secs(10);
        // A scenario made to show the judge may ask for it to act.
        if let Some(mode) = Scenario::load(&config.demo.scenario)
            .ok()
            .and_then(|s| s.judge)
        {
            judge.mode = mode;
        }
    }
    if opts.auto {
        plan.mode = PlanMode::Auto;
    }
    Settings {
        step: config.traffic.step,
        max_step: config.traffic.max_step,
        read_only: opts.read_only,
        demo,
        scenario: demo.then(|| config.demo.scenario.clone()),
        canary_tag: config.service.canary_tag.clone(),
        stable_pin: config.service.stable_revision.clone(),
        gates,
        log_capacity: config.logs.buffer_lines,
        min_severity: config.logs.min_severity,
        follow: config.logs.follow,
        keymap: config.keymap.clone(),
        color,
        plan,
        checks: Runner::infos(&checks_of(config, demo)),
        judge,
        release: config.release.clone(),
    }
}

/// The checks a config runs (the demo's when it is the bare demo).
pub fn checks_of(config: &Config, demo: bool) -> Vec<CheckSpec> {
    if demo && config.source.is_none() {
        demo_checks()
    } else {
        config.checks.clone()
    }
}

type Sources = (
    Arc<dyn Platform>,
    Arc<dyn MetricsSource>,
    Box<dyn LogSource>,
    Option<Simulator>,
);

/// The backends a config names.
pub struct Parts {
    pub platform: Arc<dyn Platform>,
    pub metrics: Arc<dyn MetricsSource>,
    pub logs: Box<dyn LogSource>,
    pub checks: Option<Arc<dyn CheckRunner>>,
    /// The simulator, when the platform is the simulator.
    pub simulator: Option<Simulator>,
}

/// Builds the backends (starts the simulator and its HTTP front for the demo).
pub async fn build(config: &Config, demo: bool) -> anyhow::Result<Parts> {
    let recent = RecentLogs::new(RECENT_LOGS);
    let (platform, metrics, logs, simulator): Sources = match config.service.platform {
        PlatformKind::Simulator => {
            let scenario = Scenario::load(&config.demo.scenario).map_err(anyhow::Error::msg)?;
            let sim = Simulator::new(scenario, config.demo.seed);
            sim.start();
            sim.serve_http()
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the simulator's HTTP front: {e}"))?;
            (
                Arc::new(sim.clone()),
                Arc::new(sim.clone()),
                Box::new(sim.log_source()),
                Some(sim),
            )
        }
        PlatformKind::CloudRun => {
            let platform: Arc<dyn Platform> = Arc::new(cloud_run_platform(config)?);
            let logs: Box<dyn LogSource> = if config.logs.has_own_sources() {
                own_log_sources(config)
            } else {
                match cloud_logging(config) {
                    Ok(l) => Box::new(l),
                    Err(e) => Box::new(crate::logs::Unavailable::new(e.to_string())),
                }
            };
            (platform, metrics_source(config)?, logs, None)
        }
        PlatformKind::Kubernetes => {
            // The first token now, before the terminal is taken.
            let kube = Arc::new(
                KubePlatform::connect(kubernetes_settings(config)?)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            let logs: Box<dyn LogSource> = if config.logs.has_own_sources() {
                own_log_sources(config)
            } else {
                Box::new(KubeLogs::start(
                    kube.clone(),
                    config.refresh.logs.max(Duration::from_secs(5)),
                ))
            };
            (kube, metrics_source(config)?, logs, None)
        }
        PlatformKind::Haproxy => {
            let platform: Arc<dyn Platform> = Arc::new(haproxy_platform(config)?);
            let logs: Box<dyn LogSource> = if config.logs.has_own_sources() {
                own_log_sources(config)
            } else {
                Box::new(crate::logs::Unavailable::new(
                    "no log sources configured ([logs] files or commands)",
                ))
            };
            (platform, metrics_source(config)?, logs, None)
        }
    };
    let specs = checks_of(config, demo);
    let checks: Option<Arc<dyn CheckRunner>> = (!specs.is_empty()).then(|| {
        Arc::new(Runner::new(
            specs,
            platform.clone(),
            metrics.clone(),
            Some(recent.clone()),
        )) as Arc<dyn CheckRunner>
    });
    Ok(Parts {
        platform,
        metrics,
        logs: Box::new(Tee {
            inner: logs,
            recent,
        }),
        checks,
        simulator,
    })
}

fn google_auth(config: &Config) -> google::Auth {
    match config.cloud_run.auth {
        GoogleAuth::None => google::Auth::None,
        GoogleAuth::Adc => google::Auth::adc(),
        GoogleAuth::Gcloud => google::Auth::gcloud(),
    }
}

/// The Cloud Run client a config describes.
pub fn cloud_run_platform(config: &Config) -> anyhow::Result<CloudRun> {
    cloud_run_with(config, None)
}

/// The retries of a script: a failing call is tried again until `timeout`
/// (backoff up to 4 s between tries).
pub fn script_retry_policy(timeout: Duration) -> google::RetryPolicy {
    let policy = google::RetryPolicy::default();
    let per_try = policy.max_delay.as_secs().max(1);
    google::RetryPolicy {
        attempts: (timeout.as_secs() / per_try).clamp(1, 100) as u32 + 1,
        budget: timeout,
        ..policy
    }
}

fn cloud_run_with(config: &Config, timeout: Option<Duration>) -> anyhow::Result<CloudRun> {
    let s = &config.service;
    let (Some(project), Some(region)) = (s.project.clone(), s.region.clone()) else {
        anyhow::bail!("platform cloud-run needs service.project and service.region");
    };
    let mut settings = CloudRunSettings::new(project, region, s.name.clone(), google_auth(config));
    if let Some(e) = &config.cloud_run.endpoint {
        settings = settings.with_endpoint(e.clone());
    }
    if let Some(t) = timeout {
        settings.retry = script_retry_policy(t);
        settings.operation_timeout = settings.operation_timeout.max(t);
    }
    CloudRun::new(settings).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The Cloud Logging tail of the configured service.
pub fn cloud_logging(config: &Config) -> anyhow::Result<CloudLogging> {
    let s = &config.service;
    let Some(project) = s.project.clone() else {
        anyhow::bail!("Cloud Logging needs service.project");
    };
    let mut settings = CloudLoggingSettings::new(project, s.name.clone(), google_auth(config));
    settings.poll_interval = config.refresh.logs;
    // A tail narrowed to one revision still reads what the `logs` checks count.
    settings.keep_severity = config
        .checks
        .iter()
        .filter_map(|c| match &c.kind {
            CheckKind::Logs(l) => Some(l.severity),
            _ => None,
        })
        .min();
    if let Some(e) = config
        .cloud_run
        .logging_endpoint
        .as_ref()
        .or(config.cloud_run.endpoint.as_ref())
    {
        settings = settings.with_endpoint(e.clone());
    }
    CloudLogging::new(settings).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `[logs] files` and `commands`, tailed together.
fn own_log_sources(config: &Config) -> Box<dyn LogSource> {
    let mut sources: Vec<Box<dyn LogSource>> = Vec::new();
    if !config.logs.files.is_empty() {
        sources.push(Box::new(FileLogs::new(config.logs.files.clone())));
    }
    if !config.logs.commands.is_empty() {
        sources.push(Box::new(CommandLogs::start(config.logs.commands.clone())));
    }
    match sources.len() {
        1 => sources.remove(0),
        _ => Box::new(crate::logs::Merged(sources)),
    }
}

/// Only the platform (for the scripting commands).
pub fn platform_only(config: &Config) -> anyhow::Result<Arc<dyn Platform>> {
    platform_for_script(config, None)
}

/// The platform for `canary status` / `set` / `rollback`: failing calls are
/// retried until `timeout` (`--timeout`).
pub fn platform_for_script(
    config: &Config,
    timeout: Option<Duration>,
) -> anyhow::Result<Arc<dyn Platform>> {
    Ok(match config.service.platform {
        PlatformKind::Simulator => {
            let scenario = Scenario::load(&config.demo.scenario).map_err(anyhow::Error::msg)?;
            Arc::new(Simulator::new(scenario, config.demo.seed))
        }
        PlatformKind::CloudRun => Arc::new(cloud_run_with(config, timeout)?),
        PlatformKind::Haproxy => Arc::new(haproxy_platform(config)?),
        PlatformKind::Kubernetes => {
            let mut settings = kubernetes_settings(config)?;
            if let Some(t) = timeout {
                settings.apply_timeout = settings.apply_timeout.max(t);
            }
            Arc::new(KubePlatform::new(settings))
        }
    })
}

/// The Kubernetes service a config describes (no I/O yet).
pub fn kubernetes_settings(config: &Config) -> anyhow::Result<KubeSettings> {
    let Some(k) = &config.kubernetes else {
        anyhow::bail!("platform kubernetes needs a [kubernetes] section with mode");
    };
    let mut s = KubeSettings::new(k.mode.clone(), config.service.name.clone());
    s.kubeconfig = k.kubeconfig.clone();
    s.context = k.context.clone();
    s.namespace = k.namespace.clone();
    s.keep_warm = k.keep_warm;
    s.timeout = k.timeout;
    s.apply_timeout = k.apply_timeout;
    Ok(s)
}

/// The HAProxy backend a config describes (no I/O yet).
pub fn haproxy_platform(config: &Config) -> anyhow::Result<HaproxyPlatform> {
    let Some(h) = &config.haproxy else {
        anyhow::bail!("platform haproxy needs a [haproxy] section with socket and backend");
    };
    let socket = Socket::parse(&h.socket).map_err(anyhow::Error::msg)?;
    let mut settings = HaproxySettings::new(socket, h.backend.clone(), config.service.name.clone());
    settings.stable_server = h.stable.clone();
    settings.canary_server = h.canary.clone();
    settings.request_timeout = h.timeout;
    HaproxyPlatform::new(settings).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The metrics source: `[prometheus]` when configured, else Cloud
/// Monitoring's PromQL API for Cloud Run; HAProxy without Prometheus has none.
pub fn metrics_source(config: &Config) -> anyhow::Result<Arc<dyn MetricsSource>> {
    let defaults = match (config.service.platform, &config.haproxy) {
        (PlatformKind::Haproxy, Some(h)) => QueryTemplates::haproxy(&h.backend),
        (PlatformKind::Kubernetes, _) => match &config.kubernetes {
            Some(k) => QueryTemplates::kubernetes(k.metrics, k.namespace.as_deref()),
            None => QueryTemplates::kubernetes(Default::default(), None),
        },
        _ => QueryTemplates::cloud_run(&config.service.name),
    };
    let settings = match &config.prometheus {
        Some(p) => {
            let mut s = PrometheusSettings::new(
                p.url.clone(),
                QueryTemplates {
                    request_rate: p.request_rate.clone().unwrap_or(defaults.request_rate),
                    error_percent: p.error_percent.clone().unwrap_or(defaults.error_percent),
                    latency_p95: p.p95_latency_ms.clone().unwrap_or(defaults.latency_p95),
                    latency_buckets: match &p.latency_buckets {
                        Some(t) if t.trim().is_empty() => None,
                        Some(t) => Some(t.clone()),
                        None => defaults.latency_buckets,
                    },
                    le_ms: p.latency_buckets_le_ms.unwrap_or(defaults.le_ms),
                    freshness: match &p.freshness {
                        Some(t) if t.trim().is_empty() => None,
                        Some(t) => Some(t.clone()),
                        None => defaults.freshness,
                    },
                },
            );
            s.rate_window = p.rate_window;
            if let Some(var) = &p.bearer_token_env {
                let token = std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("prometheus.bearer_token_env: ${var} is not set")
                })?;
                s.auth = PrometheusAuth::bearer(token);
            }
            s
        }
        None if config.service.platform == PlatformKind::CloudRun => {
            let project = config.service.project.clone().unwrap_or_default();
            let url = config.cloud_run.monitoring_endpoint.clone().unwrap_or_else(|| {
                format!(
                    "https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"
                )
            });
            let mut s = PrometheusSettings::new(url, defaults);
            s.auth = PrometheusAuth::Google(google_auth(config));
            // Cloud Monitoring samples Cloud Run every minute.
            s.rate_window = Duration::from_secs(120);
            s
        }
        None => {
            return Ok(Arc::new(crate::metrics::Unavailable::new(
                "no metrics source: add a [prometheus] section with url",
            )))
        }
    };
    Ok(Arc::new(
        PrometheusMetrics::new(settings).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// The lease `canary release` holds while it drives (one driver at a
/// time, see [`crate::platform::lease`]): Cloud Run's service annotation
/// (written with the etag); Kubernetes' `coordination.k8s.io/v1` Lease
/// `canary-SERVICE` (written with its resourceVersion); a lock file next to
/// the journal for HAProxy and the simulator (`None` with the journal
/// turned off).
pub fn lease(config: &Config) -> anyhow::Result<Option<Arc<dyn crate::platform::lease::Lease>>> {
    if config.service.platform == PlatformKind::CloudRun {
        let run = Arc::new(cloud_run_platform(config)?);
        return Ok(Some(Arc::new(
            crate::platform::cloud_run::lease::CloudRunLease::new(run),
        )));
    }
    if config.service.platform == PlatformKind::Kubernetes {
        let kube = Arc::new(KubePlatform::new(kubernetes_settings(config)?));
        return Ok(Some(Arc::new(
            crate::platform::kubernetes::lease::KubeLease::new(kube),
        )));
    }
    Ok(journal_path(config).map(|p| {
        Arc::new(crate::platform::lease::FileLease::new(
            p.with_extension("lease"),
        )) as _
    }))
}

/// Where the journal of the configured service goes (`None`: turned off or
/// no home directory).
/// The simulator's journal is kept apart from a real service of the same name.
pub fn journal_path(config: &Config) -> Option<std::path::PathBuf> {
    match config.service.platform {
        PlatformKind::Simulator => config
            .journal
            .path_for(&format!("demo-{}", config.service.name)),
        _ => config.journal.path_for(&config.service.name),
    }
}

/// The team's webhook (`[notify]`), with its timeout and retries.
pub fn notifier(config: &Config) -> Notifier {
    Notifier::new(config.notify.url_with_env())
        .with_policy(config.notify.timeout, config.notify.retries)
}

/// The shared audit sink `[audit] shared` names, if any.
pub fn shared_sink(
    config: &Config,
) -> anyhow::Result<Option<std::sync::Arc<dyn crate::journal::shared::SharedSink>>> {
    use crate::config::SharedSink;
    let Some(kind) = config.audit.shared else {
        return Ok(None);
    };
    match kind {
        SharedSink::CloudLogging => {
            let Some(project) = config.service.project.as_deref() else {
                anyhow::bail!("[audit] shared = \"cloud-logging\" needs service.project");
            };
            let endpoint = config
                .cloud_run
                .logging_endpoint
                .as_deref()
                .or(config.cloud_run.endpoint.as_deref());
            let sink = crate::journal::shared::cloud_logging::CloudLoggingAudit::new(
                endpoint,
                google_auth(config),
                project,
                &config.service.name,
                &config.audit.log,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(Some(std::sync::Arc::new(sink)))
        }
        SharedSink::KubernetesEvents => {
            let settings = kubernetes_settings(config)?;
            Ok(Some(std::sync::Arc::new(
                crate::journal::shared::kubernetes::KubeEventsAudit::new(settings),
            )))
        }
    }
}

/// Sends every journal record of this process to the shared sink too, when
/// one is configured. A sink that cannot be set up is said (stderr) and the
/// local journal goes on alone: it is the source of truth.
pub fn install_shared_audit(config: &Config) {
    match shared_sink(config) {
        Ok(None) => {}
        Ok(Some(sink)) => {
            match crate::journal::shared::SharedAudit::start(sink, config.audit.queue) {
                Ok(a) => crate::journal::shared::install(a),
                Err(e) => eprintln!("canary: the shared audit trail cannot start: {e}"),
            }
        }
        Err(e) => eprintln!("canary: the shared audit trail is off: {e:#}"),
    }
}
