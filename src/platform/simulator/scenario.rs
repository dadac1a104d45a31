//! Scenario files: which revisions the simulated service has and how each behaves.
//!
//! The format is documented in the built-in files under `assets/scenarios/`;
//! they are embedded in the binary so `--scenario NAME` works with no files on disk.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::core::duration;
use crate::core::model::TrafficSplit;

const BUILTINS: &[(&str, &str)] = &[
    (
        "healthy",
        include_str!("../../../assets/scenarios/healthy.toml"),
    ),
    (
        "bad-canary",
        include_str!("../../../assets/scenarios/bad-canary.toml"),
    ),
    (
        "slow-canary",
        include_str!("../../../assets/scenarios/slow-canary.toml"),
    ),
    (
        "unready-canary",
        include_str!("../../../assets/scenarios/unready-canary.toml"),
    ),
    (
        "subtle-canary",
        include_str!("../../../assets/scenarios/subtle-canary.toml"),
    ),
];

const BUILTIN_NAMES: &[&str] = &[
    "healthy",
    "bad-canary",
    "slow-canary",
    "unready-canary",
    "subtle-canary",
];

/// A whole scenario: the service, its load and its revisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Service name (default `emergence-app`).
    pub service: String,
    /// Mean synthetic load over the whole service.
    pub requests_per_second: f64,
    /// How long a traffic change takes to converge.
    pub apply_delay: Duration,
    /// Fraction of successful requests that are logged (4xx/5xx always are).
    pub log_sample: f64,
    /// In file order; the simulator sorts them newest first for snapshots.
    pub revisions: Vec<RevisionSpec>,
    /// The judge's mode the bare demo uses with this scenario (`judge = "act"`).
    pub judge: Option<crate::core::judge::JudgeMode>,
    /// What a revision deployed from the cockpit does (`[deploy]`).
    pub deploy: DeployBehaviour,
}

/// `[deploy]`: how a revision deployed from the cockpit (`D`) behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployBehaviour {
    /// How long until it is ready (its conditions progress meanwhile).
    pub ready_after: Duration,
    /// Its behaviour; `None`: like the scenario's canary (else its stable).
    pub profile: Option<DeployProfile>,
}

impl Default for DeployBehaviour {
    fn default() -> Self {
        DeployBehaviour {
            ready_after: Duration::from_secs(3),
            profile: None,
        }
    }
}

/// A deployed revision's 5xx share, p95 and changes after first traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployProfile {
    pub error_percent: f64,
    pub p95_ms: f64,
    pub after_traffic: Vec<Phase>,
}

/// How one revision looks and behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionSpec {
    pub name: String,
    pub image: String,
    /// Age of the revision when the simulation starts.
    pub created_ago: Duration,
    pub tag: Option<String>,
    /// Explicit tag URL; by default built from the tag and the service URL.
    pub tag_url: Option<String>,
    /// Initial traffic percent (all revisions sum to 100).
    pub traffic: u8,
    pub ready: bool,
    pub status_message: Option<String>,
    /// Share of requests answered 5xx, in percent.
    pub error_percent: f64,
    /// Share of requests answered 4xx, in percent.
    pub client_error_percent: f64,
    /// 95th percentile latency, milliseconds.
    pub p95_ms: f64,
    /// Changes measured from the moment the revision first got traffic.
    pub after_traffic: Vec<Phase>,
}

/// A change of behaviour: from `after` (since first traffic) the values move
/// linearly to the new ones over `ramp`.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub after: Duration,
    pub ramp: Duration,
    pub error_percent: Option<f64>,
    pub p95_ms: Option<f64>,
}

impl RevisionSpec {
    /// `(error_percent, p95_ms)` once the revision has had traffic for
    /// `since_traffic` (None: never had traffic).
    pub fn profile_at(&self, since_traffic: Option<Duration>) -> (f64, f64) {
        let mut err = self.error_percent;
        let mut p95 = self.p95_ms;
        let Some(t) = since_traffic else {
            return (err, p95);
        };
        for phase in &self.after_traffic {
            if t < phase.after {
                break;
            }
            let into = (t - phase.after).as_secs_f64();
            let ramp = phase.ramp.as_secs_f64();
            let frac = if ramp <= 0.0 {
                1.0
            } else {
                (into / ramp).min(1.0)
            };
            if let Some(target) = phase.error_percent {
                err += (target - err) * frac;
            }
            if let Some(target) = phase.p95_ms {
                p95 += (target - p95) * frac;
            }
        }
        (err, p95)
    }
}

impl Scenario {
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    pub fn builtin(name: &str) -> Option<Scenario> {
        let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        Scenario::parse(text, name, name).ok()
    }

    /// A built-in name, or a path to a TOML scenario file; the error names the
    /// file/line/key or lists the built-in names.
    pub fn load(name_or_path: &str) -> Result<Scenario, String> {
        if let Some(s) = Scenario::builtin(name_or_path) {
            return Ok(s);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(format!(
                "unknown scenario `{name_or_path}`: not a built-in ({}) and no such file",
                BUILTIN_NAMES.join(", ")
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read scenario file {}: {e}", path.display()))?;
        let stem = path.file_stem().map_or_else(
            || "custom".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Scenario::parse(&text, &stem, &path.display().to_string())
    }

    /// Parses and validates a scenario; `source` names the file in errors and
    /// `default_name` is used when the file has no `name`.
    pub fn parse(text: &str, default_name: &str, source: &str) -> Result<Scenario, String> {
        let de = toml::Deserializer::new(text);
        let raw: RawScenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .span()
                .map(|s| format!(":{}", line_of(text, s.start)))
                .unwrap_or_default();
            let key = if path.is_empty() || path == "." {
                String::new()
            } else {
                format!(" key `{path}`:")
            };
            let msg = inner.message().trim().replace('\n', "; ");
            format!("{source}{at}:{key} {msg}")
        })?;
        raw.validate(default_name)
            .map_err(|(key, msg)| format!("{source}: key `{key}`: {msg}"))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    service: Option<String>,
    requests_per_second: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_duration_option")]
    apply_delay: Option<Duration>,
    log_sample: Option<f64>,
    judge: Option<String>,
    #[serde(default)]
    revisions: Vec<RawRevision>,
    deploy: Option<RawDeploy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    #[serde(default, deserialize_with = "de_opt_duration_option")]
    ready_after: Option<Duration>,
    error_percent: Option<f64>,
    p95_ms: Option<f64>,
    #[serde(default)]
    after_traffic: Vec<RawPhase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevision {
    name: String,
    image: String,
    #[serde(deserialize_with = "de_duration")]
    created_ago: Duration,
    tag: Option<String>,
    tag_url: Option<String>,
    #[serde(default)]
    traffic: u8,
    #[serde(default = "yes")]
    ready: bool,
    status_message: Option<String>,
    #[serde(default = "default_error_percent")]
    error_percent: f64,
    #[serde(default = "default_client_error_percent")]
    client_error_percent: f64,
    #[serde(default = "default_p95")]
    p95_ms: f64,
    #[serde(default)]
    after_traffic: Vec<RawPhase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    #[serde(deserialize_with = "de_duration")]
    after: Duration,
    #[serde(default, deserialize_with = "de_opt_duration_option")]
    ramp: Option<Duration>,
    error_percent: Option<f64>,
    p95_ms: Option<f64>,
}

fn yes() -> bool {
    true
}
fn default_error_percent() -> f64 {
    0.2
}
fn default_client_error_percent() -> f64 {
    0.5
}
fn default_p95() -> f64 {
    200.0
}

type Invalid = (String, String);

fn check_percent(key: String, v: f64) -> Result<(), Invalid> {
    if (0.0..=100.0).contains(&v) {
        Ok(())
    } else {
        Err((key, format!("{v} is not a percentage between 0 and 100")))
    }
}

fn check_latency(key: String, v: f64) -> Result<(), Invalid> {
    if v > 0.0 && v <= 60_000.0 {
        Ok(())
    } else {
        Err((
            key,
            format!("{v} ms is not a latency between 0 and 60000 ms"),
        ))
    }
}

impl RawScenario {
    fn validate(self, default_name: &str) -> Result<Scenario, Invalid> {
        let rps = self.requests_per_second.unwrap_or(50.0);
        if !(rps > 0.0 && rps <= 10_000.0) {
            return Err((
                "requests_per_second".into(),
                format!("{rps} is not in (0, 10000]"),
            ));
        }
        let log_sample = self.log_sample.unwrap_or(0.2);
        if !(0.0..=1.0).contains(&log_sample) {
            return Err((
                "log_sample".into(),
                format!("{log_sample} is not in [0, 1]"),
            ));
        }
        let apply_delay = self.apply_delay.unwrap_or(Duration::from_millis(800));
        if apply_delay > Duration::from_secs(600) {
            return Err(("apply_delay".into(), "must be at most 10m".into()));
        }
        if self.revisions.is_empty() {
            return Err((
                "revisions".into(),
                "at least one [[revisions]] is needed".into(),
            ));
        }
        if self.revisions.len() > 32 {
            return Err(("revisions".into(), "at most 32 revisions".into()));
        }
        let mut revisions = Vec::with_capacity(self.revisions.len());
        for (i, r) in self.revisions.into_iter().enumerate() {
            let key = |k: &str| format!("revisions[{i}].{k}");
            if r.name.trim().is_empty() {
                return Err((key("name"), "must not be empty".into()));
            }
            if revisions.iter().any(|o: &RevisionSpec| o.name == r.name) {
                return Err((key("name"), format!("revision {} appears twice", r.name)));
            }
            if r.traffic > 100 {
                return Err((key("traffic"), format!("{}% is more than 100", r.traffic)));
            }
            check_percent(key("error_percent"), r.error_percent)?;
            check_percent(key("client_error_percent"), r.client_error_percent)?;
            check_latency(key("p95_ms"), r.p95_ms)?;
            let mut phases = Vec::with_capacity(r.after_traffic.len());
            for (j, p) in r.after_traffic.into_iter().enumerate() {
                let pkey = |k: &str| format!("revisions[{i}].after_traffic[{j}].{k}");
                if p.error_percent.is_none() && p.p95_ms.is_none() {
                    return Err((
                        pkey("error_percent"),
                        "a phase needs error_percent or p95_ms".into(),
                    ));
                }
                if let Some(v) = p.error_percent {
                    check_percent(pkey("error_percent"), v)?;
                }
                if let Some(v) = p.p95_ms {
                    check_latency(pkey("p95_ms"), v)?;
                }
                phases.push(Phase {
                    after: p.after,
                    ramp: p.ramp.unwrap_or_default(),
                    error_percent: p.error_percent,
                    p95_ms: p.p95_ms,
                });
            }
            phases.sort_by_key(|p| p.after);
            revisions.push(RevisionSpec {
                name: r.name,
                image: r.image,
                created_ago: r.created_ago,
                tag: r.tag.filter(|t| !t.is_empty()),
                tag_url: r.tag_url,
                traffic: r.traffic,
                ready: r.ready,
                status_message: r.status_message,
                error_percent: r.error_percent,
                client_error_percent: r.client_error_percent,
                p95_ms: r.p95_ms,
                after_traffic: phases,
            });
        }
        TrafficSplit::new(
            revisions
                .iter()
                .map(|r| (r.name.clone(), u32::from(r.traffic))),
        )
        .map_err(|e| ("revisions.traffic".to_string(), e.to_string()))?;
        use crate::core::judge::JudgeMode;
        let judge = match self.judge.as_deref() {
            None => None,
            Some(m) => Some(
                [JudgeMode::Off, JudgeMode::Observe, JudgeMode::Act]
                    .into_iter()
                    .find(|x| x.as_str() == m)
                    .ok_or_else(|| {
                        (
                            "judge".to_string(),
                            format!("{m:?}: expected one of \"off\", \"observe\", \"act\""),
                        )
                    })?,
            ),
        };
        let deploy = match self.deploy {
            None => DeployBehaviour::default(),
            Some(d) => {
                let ready_after = d.ready_after.unwrap_or(Duration::from_secs(3));
                if ready_after > Duration::from_secs(600) {
                    return Err(("deploy.ready_after".into(), "must be at most 10m".into()));
                }
                let profile = if d.error_percent.is_none()
                    && d.p95_ms.is_none()
                    && d.after_traffic.is_empty()
                {
                    None
                } else {
                    let error_percent = d.error_percent.unwrap_or(default_error_percent());
                    check_percent("deploy.error_percent".into(), error_percent)?;
                    let p95_ms = d.p95_ms.unwrap_or(default_p95());
                    check_latency("deploy.p95_ms".into(), p95_ms)?;
                    let mut after_traffic = Vec::new();
                    for (j, p) in d.after_traffic.into_iter().enumerate() {
                        let key = |k: &str| format!("deploy.after_traffic[{j}].{k}");
                        if p.error_percent.is_none() && p.p95_ms.is_none() {
                            return Err((
                                key("error_percent"),
                                "a phase needs error_percent or p95_ms".into(),
                            ));
                        }
                        if let Some(v) = p.error_percent {
                            check_percent(key("error_percent"), v)?;
                        }
                        if let Some(v) = p.p95_ms {
                            check_latency(key("p95_ms"), v)?;
                        }
                        after_traffic.push(Phase {
                            after: p.after,
                            ramp: p.ramp.unwrap_or_default(),
                            error_percent: p.error_percent,
                            p95_ms: p.p95_ms,
                        });
                    }
                    after_traffic.sort_by_key(|p| p.after);
                    Some(DeployProfile {
                        error_percent,
                        p95_ms,
                        after_traffic,
                    })
                };
                DeployBehaviour {
                    ready_after,
                    profile,
                }
            }
        };
        Ok(Scenario {
            deploy,
            judge,
            name: self.name.unwrap_or_else(|| default_name.to_string()),
            description: self.description,
            service: self.service.unwrap_or_else(|| "emergence-app".to_string()),
            requests_per_second: rps,
            apply_delay,
            log_sample,
            revisions,
        })
    }
}

impl Scenario {
    /// The initial split; `None` only for a hand-built scenario whose traffic
    /// does not sum to 100 (parsed scenarios are validated).
    pub fn initial_split(&self) -> Option<TrafficSplit> {
        TrafficSplit::new(
            self.revisions
                .iter()
                .map(|r| (r.name.clone(), u32::from(r.traffic))),
        )
        .ok()
    }
}

/// A scenario duration: a string as [`duration::parse_lenient`] reads it, or
/// whole seconds.
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"800ms\", \"30s\", \"20m\" or whole seconds")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
            duration::parse_lenient(s).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(n))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Duration, E> {
            u64::try_from(n)
                .map(Duration::from_secs)
                .map_err(|_| E::custom(format!("{n} is negative")))
        }
    }
    d.deserialize_any(V)
}

fn de_opt_duration_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_ramp_linearly() {
        let s = Scenario::builtin("bad-canary").expect("built-in");
        let canary = s
            .revisions
            .iter()
            .find(|r| r.tag.as_deref() == Some("canary"))
            .expect("a canary");
        let (e0, _) = canary.profile_at(None);
        let (e1, _) = canary.profile_at(Some(Duration::from_secs(10)));
        let (e2, _) = canary.profile_at(Some(Duration::from_secs(120)));
        assert!(e0 < 1.0 && e1 < 1.0, "{e0} {e1}");
        assert!((e2 - 8.0).abs() < 1e-9, "{e2}");
    }
}
