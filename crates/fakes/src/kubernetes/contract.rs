//! Checks requests and objects against the Kubernetes OpenAPI v3 documents
//! and the HTTPRoute CRD (the copies in `tests/contracts/`).
//!
//! [`Contracts::check_request`] finds a request's path and method among the
//! documents' operations (the HTTPRoute CRD's operations are derived from
//! the CRD as the apiserver does: namespaced CRUD, list across namespaces,
//! `/status` when the CRD declares it, the patch types custom resources
//! accept) and checks its query parameters and body content type;
//! [`Contracts::check_object`] checks an object (by its `apiVersion` and
//! `kind`; lists, `Status`, `Scale` and `APIResourceList` included) against
//! its schema: field names (no unknown field at any depth, unless the schema
//! allows any), JSON types, `null`s, formats (`int32`, `date-time`,
//! int-or-string), the CRD's enums, lengths, bounds and required fields.
//!
//! `coordination.k8s.io` (Leases), `meta.k8s.io` `Table`, `/api`, `/apis`
//! and `/version` have no document in `tests/contracts/`: they are not
//! checked here.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::{json, Value};

/// The HTTPRoute CRD's v1 schema is found under this name.
pub const HTTPROUTE: &str = "HTTPRoute";

/// The loaded documents.
pub struct Contracts {
    /// core/v1, apps/v1.
    docs: Vec<Value>,
    /// The CRD's `openAPIV3Schema` of version v1.
    route: Value,
    /// (apiVersion, kind) -> schema name.
    gvk: HashMap<(String, String), String>,
    ops: Vec<Op>,
}

#[derive(Clone, Debug)]
struct Op {
    id: String,
    method: String,
    template: String,
    params: BTreeSet<String>,
    request_schema: Option<String>,
    request_types: Vec<String>,
    response_schema: Option<String>,
    response_types: Vec<String>,
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
    /// The schema of the request body (`io.k8s.api.core.v1.Service`,
    /// `io.k8s.apimachinery.pkg.apis.meta.v1.Patch`, [`HTTPROUTE`]).
    pub request_schema: Option<String>,
    /// The content types the body may have.
    pub request_types: Vec<String>,
    /// The schema of a 200 answer.
    pub response_schema: Option<String>,
    /// The content types a 200 answer may have.
    pub response_types: Vec<String>,
}

const SCHEMA_PREFIX: &str = "#/components/schemas/";

impl Contracts {
    /// Loads `k8s.api__v1_openapi.json`, `k8s.apis__apps__v1_openapi.json`
    /// and `gateway.networking.k8s.io_httproutes.v1.6.1.standard.yaml` from
    /// `dir`.
    pub fn load(dir: &Path) -> Result<Contracts, String> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
        };
        let mut docs = Vec::new();
        for name in [
            "k8s.api__v1_openapi.json",
            "k8s.apis__apps__v1_openapi.json",
        ] {
            let doc: Value =
                serde_json::from_str(&read(name)?).map_err(|e| format!("{name}: {e}"))?;
            docs.push(doc);
        }
        let crd_name = "gateway.networking.k8s.io_httproutes.v1.6.1.standard.yaml";
        let crd: Value =
            serde_saphyr::from_str(&read(crd_name)?).map_err(|e| format!("{crd_name}: {e}"))?;
        let version = crd["spec"]["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == "v1"))
            .ok_or_else(|| format!("{crd_name}: no version v1"))?;
        let route = version["schema"]["openAPIV3Schema"].clone();
        if !route.is_object() {
            return Err(format!("{crd_name}: v1 has no openAPIV3Schema"));
        }

        let mut gvk = HashMap::new();
        let mut ops = Vec::new();
        for doc in &docs {
            for (name, schema) in doc["components"]["schemas"]
                .as_object()
                .into_iter()
                .flatten()
            {
                for g in schema["x-kubernetes-group-version-kind"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let group = g["group"].as_str().unwrap_or("");
                    let version = g["version"].as_str().unwrap_or("");
                    let api_version = if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    };
                    let kind = g["kind"].as_str().unwrap_or("").to_string();
                    gvk.entry((api_version, kind))
                        .or_insert_with(|| name.clone());
                }
            }
            ops.extend(operations(doc));
        }
        ops.extend(crd_operations(&crd, version, &ops));
        Ok(Contracts {
            docs,
            route,
            gvk,
            ops,
        })
    }

    /// The documented operation for `method` on `path` (no query); an
    /// error names the path, or every query parameter of `query` that the
    /// operation does not document.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
    ) -> Result<Operation, String> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let op = self
            .ops
            .iter()
            .filter(|o| o.method.eq_ignore_ascii_case(method))
            .find(|o| {
                let t: Vec<&str> = o.template.trim_matches('/').split('/').collect();
                t.len() == segs.len()
                    && t.iter().zip(&segs).all(|(t, s)| {
                        (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                    })
            })
            .ok_or_else(|| format!("{method} {path} is not an operation of the documents"))?;
        let unknown: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap_or("").to_string())
            .filter(|k| !op.params.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{} ({method} {}) has no parameter {}",
                op.id,
                op.template,
                unknown.join(", ")
            ));
        }
        Ok(Operation {
            id: op.id.clone(),
            path: op.template.clone(),
            request_schema: op.request_schema.clone(),
            request_types: op.request_types.clone(),
            response_schema: op.response_schema.clone(),
            response_types: op.response_types.clone(),
        })
    }

    /// The schema name for an object's `apiVersion` and `kind`.
    pub fn schema_for(&self, api_version: &str, kind: &str) -> Option<String> {
        if api_version == "gateway.networking.k8s.io/v1" && kind == HTTPROUTE {
            return Some(HTTPROUTE.to_string());
        }
        self.gvk
            .get(&(api_version.to_string(), kind.to_string()))
            .cloned()
    }

    /// Everything in `object` its schema does not allow; the schema is found
    /// from `apiVersion` and `kind` (an empty list: it is fine).
    /// `HTTPRouteList` is checked as a list of HTTPRoutes.
    pub fn check_object(&self, object: &Value) -> Vec<String> {
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let kind = object["kind"].as_str().unwrap_or("");
        if api_version == "gateway.networking.k8s.io/v1" && kind == "HTTPRouteList" {
            let mut out = Vec::new();
            for (k, v) in object.as_object().into_iter().flatten() {
                match k.as_str() {
                    "apiVersion" | "kind" => {}
                    "metadata" => out.extend(self.check_schema_at(
                        v,
                        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                        "HTTPRouteList.metadata",
                    )),
                    "items" => match v.as_array() {
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                out.extend(self.check_schema_at(
                                    item,
                                    HTTPROUTE,
                                    &format!("HTTPRouteList.items[{i}]"),
                                ));
                            }
                        }
                        None => out.push("HTTPRouteList.items: expected an array".into()),
                    },
                    other => out.push(format!("HTTPRouteList: no field `{other}`")),
                }
            }
            if object.get("items").is_none() {
                out.push("HTTPRouteList: required field `items` missing".into());
            }
            return out;
        }
        match self.schema_for(api_version, kind) {
            Some(schema) => self.check_schema(object, &schema),
            None => vec![format!(
                "no schema for apiVersion {api_version:?} kind {kind:?}"
            )],
        }
    }

    /// [`Contracts::check_object`] against a named schema:
    /// `io.k8s.api.core.v1.Service`, `io.k8s.api.autoscaling.v1.Scale`, …,
    /// or [`HTTPROUTE`] for the CRD's v1 schema.
    pub fn check_schema(&self, value: &Value, schema: &str) -> Vec<String> {
        let at = schema.rsplit('.').next().unwrap_or(schema).to_string();
        self.check_schema_at(value, schema, &at)
    }

    fn check_schema_at(&self, value: &Value, schema: &str, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if schema == HTTPROUTE {
            // The CRD leaves metadata to the apiserver's ObjectMeta.
            let mut rest = value.clone();
            if let Some(meta) = rest.as_object_mut().and_then(|m| m.remove("metadata")) {
                self.walk(
                    0,
                    &meta,
                    &json!({"$ref": format!("{SCHEMA_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}),
                    &format!("{at}.metadata"),
                    &mut out,
                );
            }
            self.walk(0, &rest, &self.route, at, &mut out);
            return out;
        }
        let Some(doc) = self
            .docs
            .iter()
            .position(|d| d["components"]["schemas"].get(schema).is_some())
        else {
            return vec![format!("no schema {schema}")];
        };
        self.walk(
            doc,
            value,
            &json!({ "$ref": format!("{SCHEMA_PREFIX}{schema}") }),
            at,
            &mut out,
        );
        out
    }

    fn walk(&self, doc: usize, v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(SCHEMA_PREFIX).unwrap_or(r);
            match self.docs[doc]["components"]["schemas"].get(name) {
                Some(schema) => self.walk(doc, v, schema, path, out),
                None => out.push(format!("{path}: no schema {r}")),
            }
            return;
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.walk(doc, v, sub, path, out);
            }
        }
        if v.is_null() {
            if s["nullable"] != true {
                out.push(format!("{path}: null where the schema wants a value"));
            }
            return;
        }
        if s["x-kubernetes-preserve-unknown-fields"] == true {
            return;
        }
        if s["x-kubernetes-int-or-string"] == true || s["format"] == "int-or-string" {
            if !(v.is_i64() || v.is_string()) {
                out.push(format!("{path}: expected an int or a string, got {v}"));
            }
            return;
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            if !values.contains(v) {
                out.push(format!(
                    "{path}: {v} is not one of the schema's enum values"
                ));
            }
        }
        match s.get("type").and_then(Value::as_str) {
            Some("object") => self.walk_object(doc, v, s, path, out),
            Some("array") => match v.as_array() {
                Some(items) => {
                    if let Some(max) = s["maxItems"].as_u64() {
                        if items.len() as u64 > max {
                            out.push(format!("{path}: more than {max} items"));
                        }
                    }
                    for (i, item) in items.iter().enumerate() {
                        self.walk(doc, item, &s["items"], &format!("{path}[{i}]"), out);
                    }
                }
                None => out.push(format!("{path}: expected an array, got {v}")),
            },
            Some("string") => match v.as_str() {
                Some(text) => {
                    if s["format"] == "date-time"
                        && chrono::DateTime::parse_from_rfc3339(text).is_err()
                    {
                        out.push(format!("{path}: `{text}` is not an RFC 3339 date-time"));
                    }
                    if let Some(max) = s["maxLength"].as_u64() {
                        if text.chars().count() as u64 > max {
                            out.push(format!("{path}: longer than {max}"));
                        }
                    }
                    if let Some(min) = s["minLength"].as_u64() {
                        if (text.chars().count() as u64) < min {
                            out.push(format!("{path}: shorter than {min}"));
                        }
                    }
                }
                None => out.push(format!("{path}: expected a string, got {v}")),
            },
            Some("integer") => match v.as_i64() {
                Some(n) => {
                    if s["format"] == "int32" && i32::try_from(n).is_err() {
                        out.push(format!("{path}: {n} is not an int32"));
                    }
                    if s["minimum"].as_i64().is_some_and(|m| n < m) {
                        out.push(format!("{path}: {n} is below the minimum {}", s["minimum"]));
                    }
                    if s["maximum"].as_i64().is_some_and(|m| n > m) {
                        out.push(format!("{path}: {n} is above the maximum {}", s["maximum"]));
                    }
                }
                None => out.push(format!("{path}: expected an integer, got {v}")),
            },
            Some("number") if !v.is_number() => {
                out.push(format!("{path}: expected a number, got {v}"))
            }
            Some("boolean") if !v.is_boolean() => {
                out.push(format!("{path}: expected a boolean, got {v}"))
            }
            _ => {}
        }
    }

    fn walk_object(&self, doc: usize, v: &Value, s: &Value, path: &str, out: &mut Vec<String>) {
        let Some(map) = v.as_object() else {
            out.push(format!("{path}: expected an object, got {v}"));
            return;
        };
        let props = s.get("properties").and_then(Value::as_object);
        let extra = s.get("additionalProperties");
        if props.is_none() && extra.is_none() {
            // Free-form (FieldsV1, RawExtension, Patch, the CRD's metadata).
            return;
        }
        for (k, val) in map {
            let sub = format!("{path}.{k}");
            if let Some(p) = props.and_then(|p| p.get(k)) {
                self.walk(doc, val, p, &sub, out);
            } else if let Some(a) = extra.filter(|a| a.is_object()) {
                self.walk(doc, val, a, &sub, out);
            } else if extra != Some(&Value::Bool(true)) {
                out.push(format!("{sub}: the schema has no field `{k}`"));
            }
        }
        for req in s["required"].as_array().into_iter().flatten() {
            if let Some(name) = req.as_str() {
                if !map.contains_key(name) {
                    out.push(format!("{path}: required field `{name}` missing"));
                }
            }
        }
    }
}

fn schema_name(v: &Value) -> Option<String> {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return Some(r.strip_prefix(SCHEMA_PREFIX).unwrap_or(r).to_string());
    }
    v.get("allOf")?.as_array()?.iter().find_map(schema_name)
}

fn resolve_param<'a>(doc: &'a Value, p: &'a Value) -> &'a Value {
    match p
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/parameters/"))
    {
        Some(name) => &doc["components"]["parameters"][name],
        None => p,
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().into_iter().flatten() {
        let shared: Vec<String> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| resolve_param(doc, p)["name"].as_str().map(str::to_string))
            .collect();
        for method in ["get", "put", "post", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let mut params: BTreeSet<String> = shared.iter().cloned().collect();
            params.extend(
                op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| resolve_param(doc, p)["name"].as_str().map(str::to_string)),
            );
            // Path parameters are not query parameters.
            for seg in template.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    params.remove(name);
                }
            }
            let content = op["requestBody"]["content"].as_object();
            let request_types: Vec<String> = content
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            let request_schema = content
                .and_then(|c| c.values().next())
                .and_then(|c| schema_name(&c["schema"]));
            let ok = &op["responses"]["200"]["content"];
            let response_types: Vec<String> = ok
                .as_object()
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            let response_schema = ok
                .as_object()
                .and_then(|c| c.values().next())
                .and_then(|c| schema_name(&c["schema"]));
            out.push(Op {
                id: op["operationId"].as_str().unwrap_or("").to_string(),
                method: method.to_uppercase(),
                template: template.clone(),
                params,
                request_schema,
                request_types,
                response_schema,
                response_types,
            });
        }
    }
    out
}

/// The REST operations the apiserver serves for a namespaced CRD version,
/// with the parameters of the built-in equivalents (Service's).
fn crd_operations(crd: &Value, version: &Value, builtin: &[Op]) -> Vec<Op> {
    let group = crd["spec"]["group"].as_str().unwrap_or("");
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or("");
    let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or("");
    let v = version["name"].as_str().unwrap_or("");
    let id_group: String = group
        .split('.')
        .filter(|p| !["k8s", "io"].contains(p))
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let id_version = {
        let mut c = v.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let like = |id: &str| -> BTreeSet<String> {
        builtin
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.params.clone())
            .unwrap_or_default()
    };
    let base = format!("/apis/{group}/{v}");
    let coll = format!("{base}/namespaces/{{namespace}}/{plural}");
    let one = format!("{coll}/{{name}}");
    // Custom resources take no strategic merge patch.
    let patch_types = vec![
        "application/apply-patch+yaml".to_string(),
        "application/json-patch+json".to_string(),
        "application/merge-patch+json".to_string(),
    ];
    let json_types = vec![
        "application/json".to_string(),
        "application/yaml".to_string(),
    ];
    let list_types = vec![
        "application/json".to_string(),
        "application/json;stream=watch".to_string(),
        "application/yaml".to_string(),
    ];
    let k = kind.to_string();
    let list = format!("{k}List");
    let patch_schema = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    let op = |verb: &str,
              suffix: &str,
              method: &str,
              template: &str,
              like_id: &str,
              request: Option<(&str, &[String])>,
              response: Option<&str>,
              response_types: &[String]| Op {
        id: format!("{verb}{id_group}{id_version}{suffix}"),
        method: method.to_string(),
        template: template.to_string(),
        params: like(like_id),
        request_schema: request.map(|(s, _)| s.to_string()),
        request_types: request.map(|(_, t)| t.to_vec()).unwrap_or_default(),
        response_schema: response.map(str::to_string),
        response_types: response_types.to_vec(),
    };
    let namespaced = format!("Namespaced{k}");
    let mut ops = vec![
        op(
            "list",
            &format!("{k}ForAllNamespaces"),
            "GET",
            &format!("{base}/{plural}"),
            "listCoreV1ServiceForAllNamespaces",
            None,
            Some(&list),
            &list_types,
        ),
        op(
            "list",
            &namespaced,
            "GET",
            &coll,
            "listCoreV1NamespacedService",
            None,
            Some(&list),
            &list_types,
        ),
        op(
            "create",
            &namespaced,
            "POST",
            &coll,
            "createCoreV1NamespacedService",
            Some((HTTPROUTE, &json_types)),
            Some(HTTPROUTE),
            &json_types,
        ),
        op(
            "read",
            &namespaced,
            "GET",
            &one,
            "readCoreV1NamespacedService",
            None,
            Some(HTTPROUTE),
            &json_types,
        ),
        op(
            "replace",
            &namespaced,
            "PUT",
            &one,
            "replaceCoreV1NamespacedService",
            Some((HTTPROUTE, &json_types)),
            Some(HTTPROUTE),
            &json_types,
        ),
        op(
            "patch",
            &namespaced,
            "PATCH",
            &one,
            "patchCoreV1NamespacedService",
            Some((patch_schema, &patch_types)),
            Some(HTTPROUTE),
            &json_types,
        ),
        op(
            "delete",
            &namespaced,
            "DELETE",
            &one,
            "deleteCoreV1NamespacedService",
            Some((
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
                &json_types,
            )),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            &json_types,
        ),
    ];
    if version["subresources"]["status"].is_object() {
        let status = format!("{one}/status");
        let suffix = format!("{namespaced}Status");
        ops.push(op(
            "read",
            &suffix,
            "GET",
            &status,
            "readCoreV1NamespacedServiceStatus",
            None,
            Some(HTTPROUTE),
            &json_types,
        ));
        ops.push(op(
            "replace",
            &suffix,
            "PUT",
            &status,
            "replaceCoreV1NamespacedServiceStatus",
            Some((HTTPROUTE, &json_types)),
            Some(HTTPROUTE),
            &json_types,
        ));
        ops.push(op(
            "patch",
            &suffix,
            "PATCH",
            &status,
            "patchCoreV1NamespacedServiceStatus",
            Some((patch_schema, &patch_types)),
            Some(HTTPROUTE),
            &json_types,
        ));
    }
    ops
}
