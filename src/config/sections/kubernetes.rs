//! `[kubernetes]`: the raw section, its keys, what each key expects, and its
//! validation, side by side (`platform = "kubernetes"`).
//!
//! ```toml
//! [kubernetes]
//! kubeconfig = "~/.kube/config"   # default: $KUBECONFIG, then ~/.kube/config
//! context = "prod-eu"             # default: the kubeconfig's current context
//! namespace = "shop"              # default: the context's namespace, else "default"
//! mode = "blue-green"             # or "weights"
//! service = "backend"             # blue-green: the Service whose selector decides
//! selector_key = "version"
//! deployments = { blue = "backend-blue", green = "backend-green" }
//! keep_warm = "15m"
//! # weights: route = "backend", backends = { backend-v1 = "backend-v1", … }
//! ```
//!

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use toml::{Spanned, Value};

use super::{Leaf, Table, DURATION};
use crate::config::validate::{expand_home, Cx};
use crate::config::{ConfigError, PlatformKind};
use crate::core::plan::{PlanSpec, PlanStep};

/// A table of names, as written.
type Names = Option<Spanned<BTreeMap<String, Spanned<Value>>>>;

table! {
    struct Raw {
        kubeconfig: Leaf => "a kubeconfig file path, e.g. \"~/.kube/config\"",
        context: Leaf => "the name of a context of the kubeconfig, e.g. \"prod-eu\"",
        namespace: Leaf => "a Kubernetes namespace, e.g. \"shop\"",
        mode: Leaf => "one of: \"blue-green\" (a Service's selector), \"weights\" (an HTTPRoute's backendRefs)",
        service: Leaf => "the name of the Service whose selector picks the colour, e.g. \"backend\"",
        selector_key: Leaf => "a label key of the Service's selector, e.g. \"version\"",
        #[serde(default)]
        deployments: Names => "a table of colour = \"Deployment name\", e.g. { blue = \"backend-blue\", green = \"backend-green\" }",
        route: Leaf => "the name of an HTTPRoute (gateway.networking.k8s.io/v1), e.g. \"backend\"",
        #[serde(default)]
        backends: Names => "a table of Deployment = \"its Service in the route's backendRefs\", e.g. { backend-v1 = \"backend-v1\", backend-v2 = \"backend-v2\" }",
        keep_warm: Leaf => DURATION,
        timeout: Leaf => DURATION,
        apply_timeout: Leaf => DURATION,
        metrics: Leaf => "one of: \"pod\" (the app's http_requests_total and http_request_duration_seconds with a pod label, as Prometheus' Kubernetes discovery gives), \"deployment\" (a deployment label instead), \"istio\" (istio_requests_total and istio_request_duration_milliseconds by destination_workload)",
    }
}

/// What `kubernetes.KEY` accepts.
fn expected(key: &str) -> &'static str {
    Raw::expected(key.strip_prefix("kubernetes.").unwrap_or(key)).unwrap_or("a valid value")
}

/// Which labels the metrics carry, for the default PromQL templates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricLabels {
    /// `http_requests_total{pod=~"<deployment>-<hash>-<id>"}`.
    #[default]
    Pod,
    /// `http_requests_total{deployment="<deployment>"}`.
    Deployment,
    /// `istio_requests_total{destination_workload="<deployment>"}`.
    Istio,
}

/// How traffic is steered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeMode {
    /// A Service's `spec.selector[selector_key]` names the colour that serves
    /// (all or nothing); each colour is a Deployment.
    BlueGreen {
        service: String,
        selector_key: String,
        /// Colour → Deployment, in colour order.
        deployments: BTreeMap<String, String>,
    },
    /// An HTTPRoute's `rules[].backendRefs[].weight`; each revision is a
    /// Deployment with its own Service in the route.
    Weights {
        route: String,
        /// Deployment → its Service (the backendRef's name).
        backends: BTreeMap<String, String>,
    },
}

/// `[kubernetes]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesConfig {
    /// `None`: `$KUBECONFIG` (every file it lists), then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `None`: the kubeconfig's current context.
    pub context: Option<String>,
    /// `None`: the context's namespace, else `default`.
    pub namespace: Option<String>,
    pub mode: KubeMode,
    /// Blue/green: how long the old colour keeps running after a switch
    /// before it is scaled to 0.
    pub keep_warm: Duration,
    /// Per API request.
    pub timeout: Duration,
    /// How long a change may take to be in effect (an HTTPRoute accepted by
    /// its Gateways, a colour scaled back up and available).
    pub apply_timeout: Duration,
    /// The label set of the default metric queries.
    pub metrics: MetricLabels,
}

/// The defaults the documentation promises.
pub const DEFAULT_KEEP_WARM: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_APPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// A DNS-1123 name (Services, Deployments, routes, namespaces): lowercase
/// letters, digits, `-` and `.`, starting and ending alphanumeric, ≤ 253.
pub fn valid_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key or value: `[prefix/]name`, letters, digits, `-`, `_`, `.`.
fn valid_label(s: &str) -> bool {
    let name = s.rsplit_once('/').map_or(s, |(_, n)| n);
    !name.is_empty()
        && name.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl Cx<'_> {
    fn object_name(&self, leaf: &Leaf, key: &str) -> Result<Option<String>, ConfigError> {
        match self.string(leaf, key)? {
            None => Ok(None),
            Some((s, l)) if !valid_object_name(s) => Err(self.at(
                l,
                key,
                format!(
                    "invalid value {s:?}: not a Kubernetes name (lowercase letters, digits, \
                     '-' and '.'), expected {}",
                    expected(key)
                ),
            )),
            Some((s, _)) => Ok(Some(s.to_string())),
        }
    }

    /// A table of name = "object name", every key and value checked.
    fn name_table(
        &self,
        table: &Option<Spanned<BTreeMap<String, Spanned<Value>>>>,
        key: &str,
        key_ok: fn(&str) -> bool,
    ) -> Result<Option<NameTable>, ConfigError> {
        let Some(t) = table else { return Ok(None) };
        let mut out = BTreeMap::new();
        for (name, leaf) in t.get_ref() {
            let inner = format!("{key}.{name}");
            let ok = matches!(leaf.get_ref(), Value::String(v) if valid_object_name(v));
            if !key_ok(name) || !ok {
                let what = match leaf.get_ref() {
                    Value::String(v) => format!("{name} = {v:?}"),
                    other => format!("{name} = {other}"),
                };
                return Err(self.at(
                    leaf,
                    &inner,
                    format!("invalid entry {what}, expected {}", expected(key)),
                ));
            }
            if let Value::String(v) = leaf.get_ref() {
                out.insert(name.clone(), v.clone());
            }
        }
        Ok(Some((out, t.span())))
    }

    /// `[kubernetes]`: checked whenever it is written; required (and
    /// returned) only for `platform = "kubernetes"`.
    pub(in crate::config) fn kubernetes(
        &self,
        r: &Raw,
        platform: PlatformKind,
        service_name: &str,
    ) -> Result<Option<KubernetesConfig>, ConfigError> {
        let leaves = [&r.kubeconfig, &r.context, &r.mode, &r.service, &r.route];
        let kubeconfig = self
            .string(&r.kubeconfig, "kubernetes.kubeconfig")?
            .map(|(s, _)| expand_home(s));
        let context = self
            .string(&r.context, "kubernetes.context")?
            .map(|(s, l)| {
                if s.trim().is_empty() {
                    Err(self.wrong_value(l, "kubernetes.context", format!("{s:?}")))
                } else {
                    Ok(s.to_string())
                }
            })
            .transpose()?;
        let namespace = self.object_name(&r.namespace, "kubernetes.namespace")?;
        let mode = self.choice(
            &r.mode,
            "kubernetes.mode",
            &[("blue-green", true), ("weights", false)],
        )?;
        let service = self.object_name(&r.service, "kubernetes.service")?;
        let selector_key = match self.string(&r.selector_key, "kubernetes.selector_key")? {
            Some((s, l)) if !valid_label(s) => {
                return Err(self.wrong_value(l, "kubernetes.selector_key", format!("{s:?}")))
            }
            other => other.map(|(s, _)| s.to_string()),
        };
        let deployments = self.name_table(&r.deployments, "kubernetes.deployments", valid_label)?;
        let route = self.object_name(&r.route, "kubernetes.route")?;
        let backends = self.name_table(&r.backends, "kubernetes.backends", valid_object_name)?;
        let keep_warm = self
            .duration(&r.keep_warm, "kubernetes.keep_warm")?
            .unwrap_or(DEFAULT_KEEP_WARM);
        let timeout = self
            .duration(&r.timeout, "kubernetes.timeout")?
            .unwrap_or(DEFAULT_TIMEOUT);
        let apply_timeout = self
            .duration(&r.apply_timeout, "kubernetes.apply_timeout")?
            .unwrap_or(DEFAULT_APPLY_TIMEOUT);
        let metrics = self
            .choice(
                &r.metrics,
                "kubernetes.metrics",
                &[
                    ("pod", MetricLabels::Pod),
                    ("deployment", MetricLabels::Deployment),
                    ("istio", MetricLabels::Istio),
                ],
            )?
            .unwrap_or_default();
        if platform != PlatformKind::Kubernetes {
            return Ok(None);
        }
        let Some(blue_green) = mode else {
            return Err(self.missing(
                "kubernetes",
                &leaves,
                "kubernetes.mode",
                "platform \"kubernetes\" needs a traffic mode: mode = \"blue-green\" (a Service's \
                 selector) or mode = \"weights\" (an HTTPRoute)",
            ));
        };
        let mode = if blue_green {
            if let Some(l) = &r.route {
                return Err(self.at(
                    l,
                    "kubernetes.route",
                    "route is for mode = \"weights\"; blue-green steers a Service's selector \
                     (service, selector_key, deployments)"
                        .into(),
                ));
            }
            let service = service.unwrap_or_else(|| service_name.to_string());
            if !valid_object_name(&service) {
                return Err(self.missing(
                    "kubernetes",
                    &leaves,
                    "kubernetes.service",
                    "blue-green needs the Service whose selector picks the colour, e.g. \
                     service = \"backend\" (service.name is not a Kubernetes name)",
                ));
            }
            let deployments = match deployments {
                Some((d, span)) => {
                    if d.len() != 2 {
                        return Err(self.error(
                            Some(span),
                            Some("kubernetes.deployments"),
                            format!(
                                "invalid value: {} colours, expected two, {}",
                                d.len(),
                                expected("kubernetes.deployments")
                            ),
                        ));
                    }
                    d
                }
                None => ["blue", "green"]
                    .into_iter()
                    .map(|c| (c.to_string(), format!("{service}-{c}")))
                    .collect(),
            };
            KubeMode::BlueGreen {
                service,
                selector_key: selector_key.unwrap_or_else(|| "version".into()),
                deployments,
            }
        } else {
            for (leaf, key) in [
                (&r.service, "kubernetes.service"),
                (&r.selector_key, "kubernetes.selector_key"),
                (&r.keep_warm, "kubernetes.keep_warm"),
            ] {
                if let Some(l) = leaf {
                    return Err(self.at(
                        l,
                        key,
                        "this key is for mode = \"blue-green\"; weights steers an HTTPRoute \
                         (route, backends)"
                            .into(),
                    ));
                }
            }
            if let Some(t) = &r.deployments {
                return Err(self.error(
                    Some(t.span()),
                    Some("kubernetes.deployments"),
                    "this key is for mode = \"blue-green\"; weights steers an HTTPRoute \
                     (route, backends)"
                        .into(),
                ));
            }
            let Some(route) = route else {
                return Err(self.missing(
                    "kubernetes",
                    &leaves,
                    "kubernetes.route",
                    "mode \"weights\" needs the HTTPRoute, e.g. route = \"backend\"",
                ));
            };
            let Some((backends, span)) = backends else {
                return Err(self.missing(
                    "kubernetes",
                    &leaves,
                    "kubernetes.backends",
                    "mode \"weights\" needs each revision's Deployment and Service, e.g. \
                     backends = { backend-v1 = \"backend-v1\", backend-v2 = \"backend-v2\" }",
                ));
            };
            if backends.len() < 2 {
                return Err(self.error(
                    Some(span),
                    Some("kubernetes.backends"),
                    format!(
                        "invalid value: {} revision, expected at least two, {}",
                        backends.len(),
                        expected("kubernetes.backends")
                    ),
                ));
            }
            KubeMode::Weights { route, backends }
        };
        Ok(Some(KubernetesConfig {
            kubeconfig,
            context,
            namespace,
            mode,
            keep_warm,
            timeout,
            apply_timeout,
            metrics,
        }))
    }
}

impl Cx<'_> {
    /// Blue/green moves all traffic at once: its plan is the one switch
    /// (the default there); a written plan with a step below 100 % is
    /// refused at that step, never rounded.
    pub(in crate::config) fn blue_green_plan(
        &self,
        k: &Option<KubernetesConfig>,
        raw: &super::plan::Raw,
        mut plan: PlanSpec,
    ) -> Result<PlanSpec, ConfigError> {
        let Some(KubernetesConfig {
            mode: KubeMode::BlueGreen { .. },
            ..
        }) = k
        else {
            return Ok(plan);
        };
        match &raw.steps {
            None => {
                plan.steps = vec![PlanStep {
                    percent: 100,
                    observe: Duration::ZERO,
                }];
            }
            Some(steps) => {
                for (step, spanned) in plan.steps.iter().zip(steps.get_ref()) {
                    if step.percent != 100 {
                        let span = spanned
                            .get_ref()
                            .percent
                            .as_ref()
                            .map_or(spanned.span(), |l| l.span());
                        return Err(self.error(
                            Some(span),
                            Some("plan.steps.percent"),
                            format!(
                                "a step of {} % cannot be done in kubernetes mode \"blue-green\": \
                                 the selector sends all traffic to one colour; the plan there \
                                 is one step, steps = [{{ percent = 100, observe = \"0s\" }}]",
                                step.percent
                            ),
                        ));
                    }
                }
            }
        }
        Ok(plan)
    }
}

type Range = std::ops::Range<usize>;

/// A table of names, and where it is written.
type NameTable = (BTreeMap<String, String>, Range);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("k.toml"))
    }

    const SERVICE: &str = "[service]\nplatform = \"kubernetes\"\nname = \"backend\"\n";

    #[test]
    fn blue_green_defaults() {
        let c = parse(&format!("{SERVICE}[kubernetes]\nmode = \"blue-green\"\n")).expect("valid");
        let k = c.kubernetes.expect("section");
        assert_eq!(k.keep_warm, Duration::from_secs(900));
        assert_eq!(k.kubeconfig, None);
        assert_eq!(k.context, None);
        assert_eq!(
            k.mode,
            KubeMode::BlueGreen {
                service: "backend".into(),
                selector_key: "version".into(),
                deployments: [
                    ("blue".to_string(), "backend-blue".to_string()),
                    ("green".to_string(), "backend-green".to_string())
                ]
                .into()
            }
        );
    }

    #[test]
    fn weights_need_a_route_and_backends() {
        let e = parse(&format!("{SERVICE}[kubernetes]\nmode = \"weights\"\n")).expect_err("route");
        assert_eq!(e.key.as_deref(), Some("kubernetes.route"));
        assert_eq!(e.line, Some(4));
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"weights\"\nroute = \"r\"\nbackends = {{ a = \"a\" }}\n"
        ))
        .expect_err("two");
        assert_eq!(e.key.as_deref(), Some("kubernetes.backends"));
        assert!(e.message.contains("at least two"), "{e}");
        let c = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"weights\"\nroute = \"r\"\nbackends = {{ a = \"a-svc\", b = \"b-svc\" }}\n"
        ))
        .expect("valid");
        let k = c.kubernetes.expect("section");
        assert_eq!(
            k.mode,
            KubeMode::Weights {
                route: "r".into(),
                backends: [
                    ("a".to_string(), "a-svc".to_string()),
                    ("b".to_string(), "b-svc".to_string())
                ]
                .into()
            }
        );
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e = parse(&format!("{SERVICE}[kubernetes]\n")).expect_err("mode");
        assert_eq!(e.key.as_deref(), Some("kubernetes.mode"));
        let e = parse(&format!("{SERVICE}[kubernetes]\nmode = \"canary\"\n")).expect_err("mode");
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("\"blue-green\""), "{e}");
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"blue-green\"\nnamespace = \"Prod\"\n"
        ))
        .expect_err("namespace");
        assert_eq!(e.key.as_deref(), Some("kubernetes.namespace"));
        assert_eq!(e.line, Some(6));
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"blue-green\"\nroute = \"r\"\n"
        ))
        .expect_err("route in blue-green");
        assert_eq!(e.key.as_deref(), Some("kubernetes.route"));
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"blue-green\"\ndeployments = {{ blue = \"b\" }}\n"
        ))
        .expect_err("two colours");
        assert!(e.message.contains("expected two"), "{e}");
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"blue-green\"\nkeep_warm = \"soon\"\n"
        ))
        .expect_err("duration");
        assert_eq!(e.key.as_deref(), Some("kubernetes.keep_warm"));
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"weights\"\nroute = \"r\"\nkeep_warm = \"1m\"\n"
        ))
        .expect_err("keep_warm in weights");
        assert!(e.message.contains("blue-green"), "{e}");
        // Another platform: the section is checked but not used.
        let c = parse("[service]\nplatform = \"simulator\"\n[kubernetes]\nmode = \"weights\"\n")
            .expect("valid");
        assert_eq!(c.kubernetes, None);
    }

    #[test]
    fn blue_green_plan_is_the_switch() {
        let c = parse(&format!("{SERVICE}[kubernetes]\nmode = \"blue-green\"\n")).expect("valid");
        assert_eq!(c.plan.steps.len(), 1);
        assert_eq!(c.plan.steps[0].percent, 100);
        let e = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"blue-green\"\n[plan]\nsteps = [{{ percent = 10, observe = \"1m\" }}, {{ percent = 100, observe = \"0s\" }}]\n"
        ))
        .expect_err("10 %");
        assert_eq!(e.key.as_deref(), Some("plan.steps.percent"));
        assert_eq!(e.line, Some(7));
        assert!(e.message.contains("a step of 10 % cannot be done"), "{e}");
        // Weights keep the team's plan.
        let c = parse(&format!(
            "{SERVICE}[kubernetes]\nmode = \"weights\"\nroute = \"r\"\nbackends = {{ a = \"a\", b = \"b\" }}\n"
        ))
        .expect("valid");
        assert_eq!(c.plan.steps.len(), 4);
    }

    #[test]
    fn names() {
        assert!(valid_object_name("backend-blue"));
        assert!(!valid_object_name("Backend"));
        assert!(!valid_object_name("-x"));
        assert!(valid_label("app.kubernetes.io/version"));
        assert!(!valid_label("a b"));
    }
}
