//! Sources of log entries, tailed by polling.

pub mod file;

use async_trait::async_trait;

use crate::core::error::BackendError;
use crate::core::model::LogEntry;

/// A log tail. The source keeps its own cursor: each call returns the entries
/// that arrived since the previous call, oldest first, without duplicates.
#[async_trait]
pub trait LogSource: Send {
    async fn poll(&mut self) -> Result<Vec<LogEntry>, BackendError>;
}
