//! `[cloud_run]`: where the Google APIs are and how to authenticate.

use super::Leaf;
use crate::config::validate::Cx;
use crate::config::ConfigError;

table! {
    struct Raw {
        endpoint: Leaf => "an http:// or https:// URL such as \"https://run.googleapis.com\" or \"http://127.0.0.1:8080\"",
        logging_endpoint: Leaf => "an http:// or https:// URL such as \"https://logging.googleapis.com\"",
        monitoring_endpoint: Leaf => "an http:// or https:// URL, the root of a Prometheus HTTP API",
        auth: Leaf => "one of: \"adc\", \"gcloud\", \"none\"",
    }
}

/// How the cockpit authenticates to Google APIs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoogleAuth {
    /// Application Default Credentials, then `gcloud auth print-access-token`.
    #[default]
    Adc,
    /// `gcloud auth print-access-token` only.
    Gcloud,
    /// No credentials (emulators and the test fake).
    None,
}

impl GoogleAuth {
    pub const ALL: [GoogleAuth; 3] = [GoogleAuth::Adc, GoogleAuth::Gcloud, GoogleAuth::None];

    pub fn as_str(self) -> &'static str {
        match self {
            GoogleAuth::Adc => "adc",
            GoogleAuth::Gcloud => "gcloud",
            GoogleAuth::None => "none",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudRunConfig {
    /// `None`: the public API.
    pub endpoint: Option<String>,
    /// Cloud Logging; `None`: `endpoint` when set (the test fake serves
    /// both), else the public API.
    pub logging_endpoint: Option<String>,
    /// Cloud Monitoring's Prometheus API root; `None`: the public API
    /// (`https://monitoring.googleapis.com/v1/projects/P/location/global/prometheus`).
    pub monitoring_endpoint: Option<String>,
    pub auth: GoogleAuth,
}

impl Raw {
    pub(super) fn validate(&self, cx: &Cx) -> Result<CloudRunConfig, ConfigError> {
        Ok(CloudRunConfig {
            endpoint: cx.url(&self.endpoint, "cloud_run.endpoint", false)?,
            logging_endpoint: cx.url(
                &self.logging_endpoint,
                "cloud_run.logging_endpoint",
                false,
            )?,
            monitoring_endpoint: cx.url(
                &self.monitoring_endpoint,
                "cloud_run.monitoring_endpoint",
                false,
            )?,
            auth: cx
                .choice(
                    &self.auth,
                    "cloud_run.auth",
                    &GoogleAuth::ALL.map(|a| (a.as_str(), a)),
                )?
                .unwrap_or_default(),
        })
    }
}
