//! Checks requests and objects against the Kubernetes OpenAPI v3 documents
//! and the HTTPRoute CRD (the copies in `tests/contracts/`).
//!
//! [`Contracts::check_request`] finds a request's path and method among the
//! documents' operations and checks its query parameters;
//! [`Contracts::check_object`] checks an object (by its `apiVersion` and
//! `kind`, lists and `Status`, `Scale`, `WatchEvent` included) against its
//! schema: field names (no unknown field at any depth, unless the schema
//! allows any), JSON types, formats (`int32`, `date-time`), enums and
//! required fields.
#![allow(dead_code, unused_variables)]

use std::path::Path;

use serde_json::Value;

/// The loaded documents.
pub struct Contracts {
    core: Value,
    apps: Value,
    httproute: Value,
}

/// The operation a request matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `readCoreV1NamespacedService`, `patchAppsV1NamespacedDeploymentScale`,
    /// or for the HTTPRoute CRD a name made up like the built-in ones
    /// (`listGatewayNetworkingV1NamespacedHTTPRoute`).
    pub id: String,
    /// The path template: `/api/v1/namespaces/{namespace}/services/{name}`.
    pub path: String,
}

impl Contracts {
    /// Loads `k8s.api__v1_openapi.json`, `k8s.apis__apps__v1_openapi.json`
    /// and `gateway.networking.k8s.io_httproutes.v1.6.1.standard.yaml` from
    /// `dir`.
    pub fn load(dir: &Path) -> Result<Contracts, String> {
        todo!()
    }

    /// The documented operation for `method` on `path` (no query), and an
    /// error naming every query parameter of `query` it does not document.
    pub fn check_request(&self, method: &str, path: &str, query: &str) -> Result<Operation, String> {
        todo!()
    }

    /// Everything in `object` its schema does not allow; the schema is found
    /// from `apiVersion` and `kind` (an empty list: it is fine).
    pub fn check_object(&self, object: &Value) -> Vec<String> {
        todo!()
    }

    /// [`Contracts::check_object`] against a named schema:
    /// `io.k8s.api.core.v1.Service`, `io.k8s.api.autoscaling.v1.Scale`, …,
    /// or `HTTPRoute` for the CRD's v1 schema.
    pub fn check_schema(&self, value: &Value, schema: &str) -> Vec<String> {
        todo!()
    }
}
