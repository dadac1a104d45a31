//! Test doubles for `canary`, kept out of the product: integration tests,
//! benches and their helpers depend on this crate (a dev-dependency of
//! `canary-cockpit`), the `canary` binary never does.
//!
//! - [`cloud_run`]: the Cloud Run Admin API v2 + Cloud Logging + Cloud
//!   Monitoring fake, a real HTTP server on loopback.
//! - [`kubernetes`]: the Kubernetes API server fake (Services, Deployments,
//!   Pods and their logs, Events, HTTPRoutes), a real HTTP server on loopback.
//! - [`fixtures`]: deterministic states, snapshots, logs, metrics and key
//!   presses for tests and benches.

pub mod cloud_run;
pub mod fixtures;
pub mod kubernetes;
