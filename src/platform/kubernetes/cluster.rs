//! The kubeconfig, the context, the namespace, and a client built from them.
//!
//! Exec credential plugins (`gke-gcloud-auth-plugin`, `aws eks get-token`,
//! `kubelogin`) inherit the terminal unless their `interactiveMode` is
//! `Never`: inside the cockpit's raw-mode screen that would corrupt it. So
//! [`Cluster::open`] may run the plugin once interactively (before the
//! screen is taken: a login prompt appears on the normal terminal), then
//! builds the client the cockpit keeps with `interactiveMode: Never`: its
//! later token refreshes run with a pipe for stdin and their stderr
//! captured, never touching the screen.

use std::path::PathBuf;

use kube::config::{ExecInteractiveMode, KubeConfigOptions, Kubeconfig};

use crate::core::error::BackendError;

/// A client bound to one context and namespace.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The same credentials without a read timeout: for log streams that
    /// may stay quiet for long.
    pub streams: kube::Client,
    pub namespace: String,
    /// The context used (the kubeconfig's current one unless configured).
    pub context: String,
    /// The cluster's URL, for messages.
    pub server: String,
    /// The user authenticates through an exec plugin.
    pub exec_plugin: Option<String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Where the kubeconfig comes from, for messages.
fn source(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(v) => format!("$KUBECONFIG ({})", v.to_string_lossy()),
            None => "~/.kube/config".into(),
        },
    }
}

/// Reads the kubeconfig: `path`, else every file `$KUBECONFIG` lists
/// (merged as kubectl does), else `~/.kube/config`.
pub fn read_kubeconfig(path: &Option<PathBuf>) -> Result<Kubeconfig, BackendError> {
    let bad = |e: kube::config::KubeconfigError| {
        BackendError::Other(format!("kubeconfig {}: {e}", source(path)))
    };
    match path {
        Some(p) => Kubeconfig::read_from(p).map_err(bad),
        None => match Kubeconfig::from_env().map_err(bad)? {
            Some(k) => Ok(k),
            None => {
                let home = directories::BaseDirs::new()
                    .map(|d| d.home_dir().join(".kube").join("config"))
                    .ok_or_else(|| {
                        BackendError::Other(
                            "no kubeconfig: set kubernetes.kubeconfig or $KUBECONFIG".into(),
                        )
                    })?;
                Kubeconfig::read_from(&home).map_err(bad)
            }
        },
    }
}

impl Cluster {
    /// Loads the kubeconfig and builds the client. With `first_token`, an
    /// exec plugin runs once now, interactively if the kubeconfig allows it
    /// (call this before the terminal goes raw), and the client kept runs it
    /// non-interactively from then on.
    pub async fn open(
        path: &Option<PathBuf>,
        context: Option<&str>,
        namespace: Option<&str>,
        timeout: std::time::Duration,
        first_token: bool,
    ) -> Result<Cluster, BackendError> {
        let kubeconfig = read_kubeconfig(path)?;
        let context_name = context
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone())
            .ok_or_else(|| {
                BackendError::Other(format!(
                    "kubeconfig {} has no current-context: set kubernetes.context",
                    source(path)
                ))
            })?;
        if !kubeconfig.contexts.iter().any(|c| c.name == context_name) {
            let known: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(BackendError::NotFound(format!(
                "kubeconfig {} has no context `{context_name}`; its contexts are: {}",
                source(path),
                known.join(", ")
            )));
        }
        let options = KubeConfigOptions {
            context: Some(context_name.clone()),
            ..KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| BackendError::Other(format!("kubeconfig {}: {e}", source(path))))?;
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.reset_reader_on_write = true;
        let exec_plugin = config
            .auth_info
            .exec
            .as_ref()
            .map(|e| e.command.clone().unwrap_or_default());
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        if first_token && exec_plugin.is_some() {
            // The plugin may ask something (a login) on the terminal we
            // still have: once, now.
            let interactive = kube::Client::try_from(config.clone())
                .map_err(|e| BackendError::Other(format!("kubernetes client: {e}")))?;
            let _ = interactive.apiserver_version().await;
        }
        if let Some(exec) = config.auth_info.exec.as_mut() {
            exec.interactive_mode = Some(ExecInteractiveMode::Never);
        }
        let mut quiet = config.clone();
        quiet.read_timeout = None;
        let client = kube::Client::try_from(config)
            .map_err(|e| BackendError::Other(format!("kubernetes client: {e}")))?;
        let streams = kube::Client::try_from(quiet)
            .map_err(|e| BackendError::Other(format!("kubernetes client: {e}")))?;
        Ok(Cluster {
            client,
            streams,
            namespace,
            context: context_name,
            server,
            exec_plugin,
        })
    }
}
