//! Application Default Credentials as a [`TokenSource`], through the
//! `gcp_auth` crate (MIT; rustls + ring, as reqwest here).
//!
//! Looked for in this order, the first found is used:
//! 1. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key file (JWT
//!    grant sent to the key's own `token_uri`).
//! 2. gcloud's ADC file, `~/.config/gcloud/application_default_credentials.json`
//!    (`gcloud auth application-default login`): a user refresh token, or a
//!    service-account key. (`CLOUDSDK_CONFIG` is not followed.)
//! 3. The GCE / Cloud Run metadata server, only when running on Google Cloud
//!    (`GCE_METADATA_HOST`, Cloud Run's `K_SERVICE`, or a Google DMI product
//!    name): elsewhere it is never probed, so a bastion sends nothing to
//!    169.254.169.254.
//! 4. `gcloud auth print-access-token` ([`GcloudToken`]).
//!
//! Tokens are cached by the provider and fetched anew shortly before they
//! expire (20 s margin) or after the API refused one ([`TokenSource::invalidate`]
//! starts over from discovery). No `Debug` here prints a token or a key, and
//! error messages quote neither.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::auth::{GcloudToken, TokenSource, CREDENTIALS_HINT};
use crate::core::error::BackendError;

/// The scope every call of the cockpit needs (Run admin, Logging read).
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How long finding the metadata server's token may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdcOrigin {
    /// The ADC search order above.
    Discover,
    /// This service-account key file.
    KeyFile(PathBuf),
}

/// Which kind of credential is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    ServiceAccountKey,
    GcloudAdcUser,
    MetadataServer,
    GcloudCli,
}

impl CredentialKind {
    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::ServiceAccountKey => "service-account key",
            CredentialKind::GcloudAdcUser => "gcloud application-default user credentials",
            CredentialKind::MetadataServer => "metadata server",
            CredentialKind::GcloudCli => "gcloud auth print-access-token",
        }
    }
}

enum Resolved {
    Provider(Arc<dyn gcp_auth::TokenProvider>, CredentialKind),
    Gcloud(GcloudToken),
}

impl Resolved {
    fn kind(&self) -> CredentialKind {
        match self {
            Resolved::Provider(_, k) => *k,
            Resolved::Gcloud(_) => CredentialKind::GcloudCli,
        }
    }
}

/// Access tokens from Application Default Credentials.
pub struct AdcToken {
    origin: AdcOrigin,
    scopes: Vec<String>,
    resolved: Mutex<Option<Resolved>>,
    /// A hash of the last token handed out (not the token: that stays in
    /// the provider's cache only), to tell a stale refusal from a current one.
    last: Mutex<Option<u64>>,
}

impl fmt::Debug for AdcToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self
            .resolved
            .try_lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| r.kind().describe()));
        f.debug_struct("AdcToken")
            .field("origin", &self.origin)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// A `gcp_auth` error, its causes included. None of them should hold a
/// token; anything shaped like a Google access token is blanked all the same.
fn chain(e: &gcp_auth::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.split(' ')
        .map(|w| if w.contains("ya29.") { "<redacted>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

fn auth_error(what: &str, e: &gcp_auth::Error) -> BackendError {
    BackendError::Auth(format!("{what}: {}; {CREDENTIALS_HINT}", chain(e)))
}

/// gcloud's ADC file, `~/.config/gcloud/application_default_credentials.json`
/// (where `gcp_auth` reads user credentials from; `CLOUDSDK_CONFIG` is not
/// followed).
fn gcloud_adc_file() -> Option<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME")?);
    Some(home.join(".config/gcloud/application_default_credentials.json"))
}

/// The `type` of a credentials file (`service_account`, `authorized_user`).
fn file_type(path: &Path) -> Result<String, BackendError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackendError::Auth(format!(
            "cannot read the credentials file {}: {e}; {CREDENTIALS_HINT}",
            path.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        // serde's message names a line and column, never the content.
        BackendError::Auth(format!(
            "the credentials file {} is not JSON ({e}); {CREDENTIALS_HINT}",
            path.display()
        ))
    })?;
    Ok(v.get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("")
        .to_string())
}

fn key_file(path: &Path) -> Result<Resolved, BackendError> {
    let sa = gcp_auth::CustomServiceAccount::from_file(path).map_err(|e| {
        auth_error(
            &format!("the service-account key {} cannot be used", path.display()),
            &e,
        )
    })?;
    Ok(Resolved::Provider(
        Arc::new(sa),
        CredentialKind::ServiceAccountKey,
    ))
}

/// Running on Google Cloud, where a metadata server answers.
fn on_google_cloud() -> bool {
    std::env::var_os("GCE_METADATA_HOST").is_some()
        || std::env::var_os("K_SERVICE").is_some()
        || std::fs::read_to_string("/sys/class/dmi/id/product_name")
            .is_ok_and(|p| p.trim().starts_with("Google"))
}

impl AdcToken {
    /// The ADC search order; nothing is read until the first token is asked for.
    pub fn discover() -> AdcToken {
        AdcToken::new(AdcOrigin::Discover)
    }

    /// A service-account key file (its `token_uri` is where tokens come from).
    pub fn key_file(path: impl Into<PathBuf>) -> AdcToken {
        AdcToken::new(AdcOrigin::KeyFile(path.into()))
    }

    fn new(origin: AdcOrigin) -> AdcToken {
        AdcToken {
            origin,
            scopes: vec![CLOUD_PLATFORM_SCOPE.to_string()],
            resolved: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    pub fn origin(&self) -> &AdcOrigin {
        &self.origin
    }

    /// Which credential answered the last token request, once one did.
    pub async fn kind(&self) -> Option<CredentialKind> {
        self.resolved.lock().await.as_ref().map(Resolved::kind)
    }

    async fn resolve(&self) -> Result<Resolved, BackendError> {
        if let AdcOrigin::KeyFile(path) = &self.origin {
            return key_file(path);
        }
        if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
            let path = PathBuf::from(path);
            return match file_type(&path)?.as_str() {
                "service_account" => key_file(&path),
                other => Err(BackendError::Auth(format!(
                    "GOOGLE_APPLICATION_CREDENTIALS points at {} whose type is `{other}`: only \
                     service-account keys are read from there (user credentials belong in \
                     gcloud's ADC file); {CREDENTIALS_HINT}",
                    path.display()
                ))),
            };
        }
        if let Some(path) = gcloud_adc_file().filter(|p| p.exists()) {
            return match file_type(&path)?.as_str() {
                "service_account" => key_file(&path),
                "authorized_user" => {
                    let user = gcp_auth::ConfigDefaultCredentials::new()
                        .await
                        .map_err(|e| {
                            auth_error(
                                &format!(
                                    "the ADC user credentials in {} were refused",
                                    path.display()
                                ),
                                &e,
                            )
                        })?;
                    Ok(Resolved::Provider(
                        Arc::new(user),
                        CredentialKind::GcloudAdcUser,
                    ))
                }
                other => Err(BackendError::Auth(format!(
                    "{} holds credentials of type `{other}`, which the cockpit cannot use; \
                     {CREDENTIALS_HINT}",
                    path.display()
                ))),
            };
        }
        if on_google_cloud() {
            match tokio::time::timeout(METADATA_TIMEOUT, gcp_auth::MetadataServiceAccount::new())
                .await
            {
                Ok(Ok(m)) => {
                    return Ok(Resolved::Provider(
                        Arc::new(m),
                        CredentialKind::MetadataServer,
                    ))
                }
                Ok(Err(e)) => tracing::warn!(error = %chain(&e), "metadata server gave no token"),
                Err(_) => tracing::warn!("metadata server did not answer in time"),
            }
        }
        Ok(Resolved::Gcloud(GcloudToken::default()))
    }
}

#[async_trait]
impl TokenSource for AdcToken {
    async fn token(&self) -> Result<String, BackendError> {
        let mut guard = self.resolved.lock().await;
        if guard.is_none() {
            *guard = Some(self.resolve().await?);
        }
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        match guard.as_ref() {
            Some(Resolved::Provider(p, kind)) => match p.token(&scopes).await {
                Ok(t) => {
                    *self.last.lock().await = Some(fingerprint(t.as_str()));
                    Ok(t.as_str().to_string())
                }
                Err(e) => {
                    let kind = *kind;
                    // Start over next time (the file may have been fixed).
                    *guard = None;
                    Err(auth_error(
                        &format!("no access token from the {}", kind.describe()),
                        &e,
                    ))
                }
            },
            Some(Resolved::Gcloud(g)) => {
                let t = g.token().await?;
                *self.last.lock().await = Some(fingerprint(&t));
                Ok(t)
            }
            None => Err(BackendError::Auth(format!(
                "no credentials found; {CREDENTIALS_HINT}"
            ))),
        }
    }

    async fn invalidate(&self) {
        // A new provider has an empty cache: the next token is fetched anew.
        let mut guard = self.resolved.lock().await;
        if let Some(Resolved::Gcloud(g)) = guard.as_ref() {
            g.invalidate().await;
        }
        *guard = None;
        *self.last.lock().await = None;
    }

    async fn refused(&self, token: &str) {
        // Concurrent requests all get a 401 for the same stale token: the
        // first refusal starts over, the others find a newer token in place.
        // (Both locks, in the order `token` takes them.)
        let mut guard = self.resolved.lock().await;
        let mut last = self.last.lock().await;
        if *last == Some(fingerprint(token)) {
            if let Some(Resolved::Gcloud(g)) = guard.as_ref() {
                g.invalidate().await;
            }
            *guard = None;
            *last = None;
        }
    }
}

fn fingerprint(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}
