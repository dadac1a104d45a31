//! Creating and deleting revisions, for the platforms that can: Cloud Run
//! (a new revision from the service's template) and the simulator. HAProxy
//! cannot (its revisions are servers started outside the cockpit). What
//! they will send is shown from the snapshot ([`crate::core::release_call`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::core::error::BackendError;
use crate::core::model::{ServiceSnapshot, Version};
use crate::core::release::DeployRequest;

/// Hears of the service while a deploy or deletion runs (each read), so
/// the screen shows the new revision's conditions as they progress.
/// Called from the backend's task: it must not block.
pub type SnapshotSink = Arc<dyn Fn(ServiceSnapshot) + Send + Sync>;

/// A platform that deploys and deletes revisions.
#[async_trait]
pub trait Releases: Send + Sync {
    /// Creates the revision `request` names, with no traffic and its tag,
    /// if the service is still at `expect` (else [`BackendError::Conflict`]);
    /// returns once it is ready, or fails with the platform's reason.
    async fn deploy(
        &self,
        request: &DeployRequest,
        expect: &Version,
        progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError>;

    /// Deletes one revision (one that serves no traffic); returns the
    /// service as read afterwards.
    async fn delete_revision(
        &self,
        revision: &str,
        progress: SnapshotSink,
    ) -> Result<ServiceSnapshot, BackendError>;
}

pub use crate::core::release_call::CANNOT;
