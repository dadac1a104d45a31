//! Platforms that run revisions and split traffic between them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::error::{BackendError, Progress};
use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};

pub mod cloud_run;
pub mod haproxy;
pub mod release;
pub mod simulator;

/// Hears of every retry a backend makes, and of how an unclear answer was
/// resolved (the screen shows it, a script says it on stderr). Called from
/// the backend's task: it must not block.
pub type RetryObserver = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A platform: Cloud Run, HAProxy, Kubernetes, or the built-in simulator.
#[async_trait]
pub trait Platform: Send + Sync {
    /// What to show in the header and in previews. Pure, no I/O.
    fn info(&self) -> PlatformInfo;

    /// Reads the service, its revisions and its traffic.
    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError>;

    /// Applies `split` if the service is still at `expect`, and returns once the
    /// platform has confirmed the change (or failed). Tags survive every change.
    async fn set_traffic(
        &self,
        split: &TrafficSplit,
        expect: &Version,
    ) -> Result<ServiceSnapshot, BackendError>;

    /// Tells `observer` of every retry (and read-back) from now on
    /// (platforms that retry).
    fn observe_retries(&self, _observer: RetryObserver) {}

    /// Deploying and deleting revisions ([`release::Releases`]), or one
    /// sentence saying why this platform cannot.
    fn releases(&self) -> Result<&dyn release::Releases, String> {
        Err(release::CANNOT.into())
    }

    /// The exact call(s) `set_traffic` would make, for the confirmation screen.
    fn preview(&self, split: &TrafficSplit) -> Vec<String> {
        vec![format!("set traffic {}", split.to_flag())]
    }
}
