//! Google API plumbing, shared by Cloud Run ([`crate::platform::cloud_run`]),
//! Cloud Logging ([`crate::logs::cloud_logging`]) and Cloud Monitoring's
//! PromQL API ([`crate::metrics::prometheus`]):
//!
//! - [`auth`] and [`adc`]: OAuth2 access tokens (Application Default
//!   Credentials, gcloud, a fixed token for tests); never logged.
//! - `client`: JSON over HTTPS with a refused token retried once.
//! - `errors`: Google's error envelope and transport failures, classified
//!   into [`crate::core::error::BackendError`]s that say what to do.
//! - [`retry`]: jittered backoff within a number of tries and a time
//!   budget, honouring `Retry-After` and Google's `RetryInfo`.
//!
//! It depends on the core only; the services above it depend on it.

pub mod adc;
pub mod auth;
pub(crate) mod client;
pub(crate) mod errors;
pub mod retry;

pub use adc::{AdcOrigin, AdcToken, CredentialKind};
pub use auth::{Auth, GcloudToken, StaticToken, TokenSource, CREDENTIALS_HINT};
pub use retry::RetryPolicy;
