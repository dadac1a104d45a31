//! Access tokens for the Google APIs.
//!
//! [`TokenSource`] is the seam: [`super::adc::AdcToken`] (Application Default
//! Credentials: service-account key, gcloud ADC user file, metadata server,
//! then gcloud; `Auth::adc()`), [`GcloudToken`] (`gcloud auth
//! print-access-token`, cached) and [`StaticToken`] for tests. Tokens never reach a log: no `Debug` here prints
//! one, and errors never quote one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::core::error::BackendError;

/// What to tell an operator whose credentials are missing or insufficient.
pub const CREDENTIALS_HINT: &str = "get credentials with `gcloud auth application-default login` \
     (`gcloud auth login` for the gcloud fallback), or point GOOGLE_APPLICATION_CREDENTIALS at a \
     service-account key; reading needs run.services.get and run.revisions.list, changing \
     traffic needs run.services.update";

/// Something that hands out OAuth2 access tokens.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token valid for at least the next minute or so.
    async fn token(&self) -> Result<String, BackendError>;

    /// Forget any cached token: the next one is fetched anew.
    async fn invalidate(&self) {}

    /// The API refused `token` (HTTP 401). By default forgets the cached
    /// token; a source may ignore a refusal of a token it already replaced
    /// (concurrent requests refused for the same stale token).
    async fn refused(&self, token: &str) {
        let _ = token;
        self.invalidate().await
    }
}

/// How requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// No `Authorization` header (tests, emulators).
    None,
    /// `Authorization: Bearer TOKEN` from this source.
    Token(Arc<dyn TokenSource>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Token(_) => f.write_str("Auth::Token(<redacted>)"),
        }
    }
}

impl Auth {
    /// A fixed token (tests).
    pub fn static_token(token: impl Into<String>) -> Auth {
        Auth::Token(Arc::new(StaticToken::new(token)))
    }

    /// Application Default Credentials, looked for in the usual order
    /// (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's ADC file, the metadata
    /// server on Google Cloud, `gcloud auth print-access-token`) at the first
    /// request. The choice for production.
    pub fn adc() -> Auth {
        Auth::Token(Arc::new(super::adc::AdcToken::discover()))
    }

    /// A service-account key file.
    pub fn service_account_key(path: impl Into<std::path::PathBuf>) -> Auth {
        Auth::Token(Arc::new(super::adc::AdcToken::key_file(path)))
    }

    /// Tokens from `gcloud auth print-access-token`.
    pub fn gcloud() -> Auth {
        Auth::Token(Arc::new(GcloudToken::default()))
    }
}

/// Always the same token.
pub struct StaticToken(String);

impl StaticToken {
    pub fn new(token: impl Into<String>) -> StaticToken {
        StaticToken(token.into())
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<String, BackendError> {
        Ok(self.0.clone())
    }
}

/// Runs `gcloud auth print-access-token` and caches the token. gcloud's tokens
/// live one hour; this one is reused for `lifetime` (45 min by default) or
/// until the API refuses it.
pub struct GcloudToken {
    program: String,
    args: Vec<String>,
    lifetime: Duration,
    timeout: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl Default for GcloudToken {
    fn default() -> Self {
        GcloudToken::with_program("gcloud", ["auth", "print-access-token"])
    }
}

impl fmt::Debug for GcloudToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcloudToken")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl GcloudToken {
    /// Another program that prints a token on stdout (tests, wrappers).
    pub fn with_program<I, S>(program: impl Into<String>, args: I) -> GcloudToken
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GcloudToken {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            lifetime: Duration::from_secs(45 * 60),
            timeout: Duration::from_secs(30),
            cached: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<String, BackendError> {
        let what = format!("`{} {}`", self.program, self.args.join(" "));
        let run = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(self.timeout, run).await {
            Err(_) => {
                return Err(BackendError::Auth(format!(
                    "{what} did not answer within {:?}; {CREDENTIALS_HINT}",
                    self.timeout
                )))
            }
            Ok(Err(e)) => {
                return Err(BackendError::Auth(format!(
                    "cannot run {what}: {e}; {CREDENTIALS_HINT}"
                )))
            }
            Ok(Ok(out)) => out,
        };
        if !out.status.success() {
            // stderr explains (not logged in, ...); it never holds the token.
            let err = String::from_utf8_lossy(&out.stderr);
            let err: String = err.trim().chars().take(300).collect();
            return Err(BackendError::Auth(format!(
                "{what} failed ({}): {err}; {CREDENTIALS_HINT}",
                out.status
            )));
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(BackendError::Auth(format!(
                "{what} printed no usable token; {CREDENTIALS_HINT}"
            )));
        }
        Ok(token)
    }
}

#[async_trait]
impl TokenSource for GcloudToken {
    async fn token(&self) -> Result<String, BackendError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, at)) = cached.as_ref() {
            if at.elapsed() < self.lifetime {
                return Ok(token.clone());
            }
        }
        let token = self.fetch().await?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_token() {
        let auth = Auth::static_token("ya29.secret");
        assert!(!format!("{auth:?}").contains("secret"));
        assert!(!format!("{:?}", StaticToken::new("ya29.secret")).contains("secret"));
    }

    #[tokio::test]
    async fn gcloud_token_is_cached_until_invalidated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let counter = dir.path().join("count");
        let script = format!(
            "echo x >> '{}'; printf 'tok-%s\\n' \"$(wc -l < '{}' | tr -d ' ')\"",
            counter.display(),
            counter.display()
        );
        let src = GcloudToken::with_program("sh", ["-c".to_string(), script]);
        assert_eq!(src.token().await.expect("token"), "tok-1");
        assert_eq!(src.token().await.expect("cached"), "tok-1");
        src.invalidate().await;
        assert_eq!(src.token().await.expect("fresh"), "tok-2");
    }

    #[tokio::test]
    async fn gcloud_failure_explains_how_to_log_in() {
        let src = GcloudToken::with_program("sh", ["-c", "echo 'not logged in' >&2; exit 1"]);
        match src.token().await {
            Err(BackendError::Auth(m)) => {
                assert!(m.contains("not logged in"), "{m}");
                assert!(m.contains("application-default login"), "{m}");
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        let missing = GcloudToken::with_program("/nonexistent/gcloud", ["auth"]);
        assert!(matches!(missing.token().await, Err(BackendError::Auth(_))));
    }
}
