//! Platforms that run revisions and split traffic between them.

use async_trait::async_trait;

use crate::core::error::BackendError;
use crate::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};

pub mod cloud_run;
pub mod haproxy;
pub mod kubernetes;
pub mod lease;
pub mod release;
pub mod simulator;

pub use crate::core::error::RetryObserver;

/// A platform: Cloud Run, HAProxy, Kubernetes, or the built-in simulator.
#[async_trait]
pub trait Platform: Send + Sync {
    /// What to show in the header. Pure, no I/O. (The exact call(s) a change
    /// makes come from the snapshot: [`crate::core::preview`].)
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

    /// Scales `revision` to 0 replicas, if it still serves nothing (blue/green's
    /// old colour once kept warm long enough); says what was done.
    async fn scale_down(&self, revision: &str) -> Result<String, BackendError> {
        Err(BackendError::Refused(format!(
            "{} does not scale revisions: {revision} was left as it is",
            self.info().kind
        )))
    }
}
