//! The HTTP side: routing, faults, RBAC, recording.
#![allow(dead_code, unused_variables)]

use std::sync::Arc;

use super::store::Shared;

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    todo!()
}

pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    todo!()
}
