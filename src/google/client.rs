//! JSON over HTTPS (reqwest + rustls) with Google's error format and auth;
//! shared by the Cloud Run client and the Cloud Logging source.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::Auth;
use super::errors;
use crate::core::error::BackendError;

/// The largest answer read (a thousand revisions are well under 2 MiB).
const MAX_BODY: usize = 8 << 20;

/// The body as text, or `None` when it is larger than `limit` bytes (the
/// rest is not read).
async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<String>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}

/// A small JSON client for one API endpoint.
pub struct Http {
    client: reqwest::Client,
    endpoint: String,
    auth: Auth,
    timeout: Duration,
}

impl Http {
    pub fn new(
        endpoint: &str,
        auth: Auth,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Http, BackendError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("canary-cockpit/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| BackendError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            auth,
            timeout,
        })
    }

    /// `ENDPOINT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.endpoint, path.trim_start_matches('/'))
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<T, BackendError> {
        self.send(Method::GET, path, query, None, what).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &B,
        what: &str,
    ) -> Result<T, BackendError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| BackendError::Other(format!("cannot encode the request: {e}")))?;
        self.send(Method::PATCH, path, query, Some(body), what)
            .await
    }

    pub async fn delete<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<T, BackendError> {
        self.send(Method::DELETE, path, query, None, what).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T, BackendError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| BackendError::Other(format!("cannot encode the request: {e}")))?;
        self.send(Method::POST, path, &[], Some(body), what).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<T, BackendError> {
        let url = self.url(path);
        // A refused token is retried once with a fresh one: the request was
        // not applied, so this is safe even for a PATCH.
        let mut fresh_token_tried = false;
        loop {
            let mut req = self.client.request(method.clone(), &url).query(query);
            let mut sent_token = None;
            if let Auth::Token(source) = &self.auth {
                let token = source.token().await?;
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        BackendError::Auth("the access token holds characters HTTP forbids".into())
                    })?;
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
                sent_token = Some(token);
            }
            if let Some(b) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let started = Instant::now();
            let resp = req
                .send()
                .await
                .map_err(|e| errors::from_transport(&e, &self.endpoint, self.timeout, what))?;
            let status = resp.status().as_u16();
            tracing::debug!(%method, %url, status, elapsed_ms = started.elapsed().as_millis() as u64, "google api");
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = match read_capped(resp, MAX_BODY).await {
                Ok(Some(t)) => t,
                Ok(None) => return Err(errors::too_large(what, MAX_BODY)),
                Err(e) => {
                    return Err(errors::from_transport(
                        &e,
                        &self.endpoint,
                        self.timeout,
                        what,
                    ))
                }
            };
            if (200..300).contains(&status) {
                return serde_json::from_str(&text).map_err(|e| errors::malformed(what, &e, &text));
            }
            if status == 401 && !fresh_token_tried {
                if let Auth::Token(source) = &self.auth {
                    source
                        .refused(sent_token.as_deref().unwrap_or_default())
                        .await;
                    fresh_token_tried = true;
                    continue;
                }
            }
            return Err(errors::from_response(
                status,
                retry_after.as_deref(),
                &text,
                what,
                Utc::now(),
            ));
        }
    }
}
