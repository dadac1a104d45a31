//! How requests to a Prometheus API are authenticated: a self-hosted
//! Prometheus (behind a proxy) takes a plain bearer token; Cloud
//! Monitoring's PromQL API takes Google credentials. Tokens never reach a
//! log: no `Debug` here prints one, and errors never quote one.

use std::fmt;

use crate::core::error::BackendError;
use crate::google;

/// A fixed bearer token (`prometheus.bearer_token_env`).
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    pub fn new(token: impl Into<String>) -> BearerToken {
        BearerToken(token.into())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// What goes into `Authorization: Bearer …`, if anything.
#[derive(Clone, Debug, Default)]
pub enum PrometheusAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// A plain token: a self-hosted Prometheus.
    Bearer(BearerToken),
    /// Google credentials: Cloud Monitoring's PromQL API.
    Google(google::Auth),
}

impl PrometheusAuth {
    /// A plain bearer token.
    pub fn bearer(token: impl Into<String>) -> PrometheusAuth {
        PrometheusAuth::Bearer(BearerToken::new(token))
    }

    /// The token for the next request, if one is sent.
    pub async fn token(&self) -> Result<Option<String>, BackendError> {
        match self {
            PrometheusAuth::None | PrometheusAuth::Google(google::Auth::None) => Ok(None),
            PrometheusAuth::Bearer(t) => Ok(Some(t.0.clone())),
            PrometheusAuth::Google(google::Auth::Token(source)) => source.token().await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_handed_out_and_never_printed() {
        let plain = PrometheusAuth::bearer("s3cret");
        assert_eq!(plain.token().await, Ok(Some("s3cret".into())));
        assert!(!format!("{plain:?}").contains("s3cret"));
        let google = PrometheusAuth::Google(google::Auth::static_token("ya29.secret"));
        assert_eq!(google.token().await, Ok(Some("ya29.secret".into())));
        assert!(!format!("{google:?}").contains("secret"));
        assert_eq!(PrometheusAuth::None.token().await, Ok(None));
        assert_eq!(
            PrometheusAuth::Google(google::Auth::None).token().await,
            Ok(None)
        );
    }
}
