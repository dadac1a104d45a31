//! The fake's state: objects, the global resourceVersion, watch history, logs,
//! and the controllers that write status.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::time::{self, Time};
use super::{objects, Controllers, Fault, Kind, RecordedRequest, Verb};

/// The OpenAPI v3 documents the fake serves (`/openapi/v3/PATH`: text).
pub(crate) struct OpenApi {
    pub contracts: super::contract::Contracts,
    pub documents: Vec<(String, String)>,
}

/// One watch event in the history.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub type_: &'static str,
    pub object: Value,
}

/// One log line of one container.
#[derive(Clone, Debug)]
pub(crate) struct LogLine {
    pub container: String,
    pub time: Time,
    pub line: String,
}

pub(crate) struct State {
    pub rv: u64,
    pub objects: BTreeMap<(Kind, String, String), Value>,
    pub history: Vec<Event>,
    /// Watches from a resourceVersion older than this get 410 Gone.
    pub history_floor: u64,
    pub logs: BTreeMap<(String, String), Vec<LogLine>>,
    pub controllers: Controllers,
    pub faults: Vec<Fault>,
    pub denied: HashSet<(Verb, String)>,
    pub user: String,
    pub delay: Duration,
    pub required_token: Option<String>,
    pub requests: Vec<RecordedRequest>,
    /// `/openapi/v3` documents and the checker for `fieldValidation=Strict`.
    pub openapi: Option<Arc<OpenApi>>,
    uids: u64,
    pods: u64,
}

/// An error answered as a `Status`.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, kind: Kind, name: Option<&str>) -> ApiError {
        let mut d = Map::new();
        if let Some(n) = name {
            d.insert("name".into(), json!(n));
        }
        if !kind.group().is_empty() {
            d.insert("group".into(), json!(kind.group()));
        }
        d.insert("kind".into(), json!(kind.resource()));
        self.details = Some(Value::Object(d));
        self
    }

    pub fn not_found(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(kind)),
        )
        .with_details(kind, Some(name))
    }

    pub fn conflict(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(kind)
            ),
        )
        .with_details(kind, Some(name))
    }

    pub fn already_exists(kind: Kind, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(kind)),
        )
        .with_details(kind, Some(name))
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn invalid(kind: Kind, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {}", kind.kind(), message.into()),
        )
        .with_details(kind, Some(name))
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// `services`, `deployments.apps`, `httproutes.gateway.networking.k8s.io`.
pub(crate) fn qualified(kind: Kind) -> String {
    match kind.group() {
        "" => kind.resource().to_string(),
        g => format!("{}.{g}", kind.resource()),
    }
}

/// The reason phrase of a status code, as the apiserver's `Status.reason`.
pub(crate) fn reason_of(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

/// What a write does to the stored object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Seeding: everything as given.
    Seed,
    /// A write of the main resource: its status is kept.
    Main,
    /// A write of `/status`: only the status changes.
    Status,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped on every change (objects, logs): streams wait on it.
    changed: watch::Sender<u64>,
    /// Bumped by `close_streams`; `u64::MAX` on shutdown.
    epoch: watch::Sender<u64>,
    runtime: Option<tokio::runtime::Handle>,
    me: Weak<Shared>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new_cyclic(|me| Shared {
            state: Mutex::new(State {
                rv: 1000,
                objects: BTreeMap::new(),
                history: Vec::new(),
                history_floor: 0,
                logs: BTreeMap::new(),
                controllers: Controllers::default(),
                faults: Vec::new(),
                denied: HashSet::new(),
                user: "system:serviceaccount:default:canary".into(),
                delay: Duration::ZERO,
                required_token: None,
                requests: Vec::new(),
                openapi: None,
                uids: 0,
                pods: 0,
            }),
            changed: watch::channel(0).0,
            epoch: watch::channel(0).0,
            runtime: tokio::runtime::Handle::try_current().ok(),
            me: me.clone(),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> (watch::Receiver<u64>, watch::Receiver<u64>) {
        (self.changed.subscribe(), self.epoch.subscribe())
    }

    pub fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn shutdown(&self) {
        self.epoch.send_replace(u64::MAX);
    }

    pub fn close_streams(&self) {
        self.epoch
            .send_modify(|n| *n = n.saturating_add(1).min(u64::MAX - 1));
    }

    pub fn compact(&self) {
        let mut s = self.state();
        s.history.clear();
        s.history_floor = s.rv;
    }

    // ---- the write path ------------------------------------------------

    /// Stores `object` (already merged/patched by the caller) after checking
    /// the resourceVersion precondition against `current`; fills metadata,
    /// bumps rv and generation, records managedFields, appends the watch
    /// event. Returns the stored object.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &self,
        s: &mut State,
        manager: &str,
        kind: Kind,
        ns: &str,
        mut object: Value,
        mode: WriteMode,
        create: bool,
    ) -> Result<Value, ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        let name = object["metadata"]["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_default();
        if name.is_empty() {
            return Err(ApiError::invalid(
                kind,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        if let Some(other) = object["metadata"]["namespace"].as_str() {
            if other != ns && !other.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on \
                     the request",
                ));
            }
        }
        if let Some(k) = object.get("kind").and_then(Value::as_str) {
            let scale = k == "Scale";
            if k != kind.kind() && !scale {
                return Err(ApiError::bad_request(format!(
                    "the object's kind {k} is not {}",
                    kind.kind()
                )));
            }
        }
        let key = (kind, ns.to_string(), name.clone());
        let old = s.objects.get(&key).cloned();
        if create && old.is_some() {
            return Err(ApiError::already_exists(kind, &name));
        }
        if !create && mode != WriteMode::Seed && old.is_none() {
            return Err(ApiError::not_found(kind, &name));
        }
        if let (Some(old), Some(sent)) = (&old, object["metadata"]["resourceVersion"].as_str()) {
            if mode != WriteMode::Seed
                && !sent.is_empty()
                && old["metadata"]["resourceVersion"] != sent
            {
                return Err(ApiError::conflict(kind, &name));
            }
        }
        let now = time::now();
        // What the write may change.
        if let Some(old) = &old {
            match mode {
                WriteMode::Seed => {}
                WriteMode::Main => match old.get("status") {
                    Some(st) => object["status"] = st.clone(),
                    None => {
                        if let Some(m) = object.as_object_mut() {
                            m.remove("status");
                        }
                    }
                },
                WriteMode::Status => {
                    let status = object.get("status").cloned();
                    let mut kept = old.clone();
                    match status {
                        Some(st) => kept["status"] = st,
                        None => {
                            if let Some(m) = kept.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    object = kept;
                }
            }
        } else if mode == WriteMode::Main && matches!(kind, Kind::Deployment | Kind::HttpRoute) {
            // Create: the status is the controllers'.
            if let Some(m) = object.as_object_mut() {
                m.remove("status");
            }
        }
        default_fields(kind, &mut object, s);
        let m = object.as_object_mut().expect("object");
        m.insert("apiVersion".into(), json!(kind.api_version()));
        m.insert("kind".into(), json!(kind.kind()));
        let meta = m
            .entry("metadata")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("metadata is an object");
        meta.insert("namespace".into(), json!(ns));
        match &old {
            Some(o) => {
                for k in ["uid", "creationTimestamp"] {
                    meta.insert(k.into(), o["metadata"][k].clone());
                }
            }
            None => {
                s.uids += 1;
                meta.insert(
                    "uid".into(),
                    json!(format!("00000000-0000-4000-8000-{:012x}", s.uids)),
                );
                if !meta.get("creationTimestamp").is_some_and(Value::is_string) {
                    meta.insert("creationTimestamp".into(), json!(time::rfc3339(now)));
                }
            }
        }
        if has_generation(kind) {
            let gen = match &old {
                None => 1,
                Some(o) => {
                    let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                    if o.get("spec") != object.get("spec") {
                        g + 1
                    } else {
                        g
                    }
                }
            };
            object["metadata"]["generation"] = json!(gen);
        } else if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("generation");
        }
        // managedFields.
        let previous = old
            .as_ref()
            .map(|o| o["metadata"]["managedFields"].clone())
            .unwrap_or(Value::Null);
        let changed = changed_fields(kind, old.as_ref(), &object, mode);
        let sub = (mode == WriteMode::Status).then_some("status");
        let managed = record_managers(previous, manager, kind, sub, &changed, now);
        object["metadata"]["managedFields"] = managed;
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let type_ = if old.is_some() { "MODIFIED" } else { "ADDED" };
        s.objects.insert(key, object.clone());
        s.history.push(Event {
            rv,
            kind,
            namespace: ns.to_string(),
            type_,
            object: object.clone(),
        });
        self.after_write(s, kind, ns, &name, old.as_ref(), &object);
        Ok(object)
    }

    /// Deletes an object; `precondition`: the resourceVersion it must have.
    pub fn delete(
        &self,
        s: &mut State,
        kind: Kind,
        ns: &str,
        name: &str,
        precondition: Option<&str>,
    ) -> Result<Value, ApiError> {
        let key = (kind, ns.to_string(), name.to_string());
        let Some(old) = s.objects.get(&key) else {
            return Err(ApiError::not_found(kind, name));
        };
        if let Some(rv) = precondition {
            if old["metadata"]["resourceVersion"] != rv {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: \
                         ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        qualified(kind),
                        old["metadata"]["resourceVersion"].as_str().unwrap_or("")
                    ),
                )
                .with_details(kind, Some(name)));
            }
        }
        let mut gone = s.objects.remove(&key).expect("present");
        s.rv += 1;
        gone["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let rv = s.rv;
        s.history.push(Event {
            rv,
            kind,
            namespace: ns.to_string(),
            type_: "DELETED",
            object: gone.clone(),
        });
        if kind == Kind::Pod {
            s.logs.remove(&(ns.to_string(), name.to_string()));
        }
        self.notify();
        Ok(gone)
    }

    /// Watchers and log followers wake up; the automatic controllers get
    /// their turn.
    fn after_write(
        &self,
        s: &State,
        kind: Kind,
        ns: &str,
        name: &str,
        old: Option<&Value>,
        new: &Value,
    ) {
        self.notify();
        let spec_changed = old
            .map(|o| o.get("spec") != new.get("spec"))
            .unwrap_or(true);
        if !spec_changed {
            return;
        }
        let c = &s.controllers;
        let wanted = match kind {
            Kind::Deployment => c.deployments,
            Kind::HttpRoute => c.routes,
            _ => false,
        };
        if !wanted {
            return;
        }
        let (Some(rt), Some(me)) = (&self.runtime, self.me.upgrade()) else {
            return;
        };
        let delay = c.delay;
        let (ns, name) = (ns.to_string(), name.to_string());
        rt.spawn(async move {
            tokio::time::sleep(delay).await;
            let mut s = me.state();
            let generation = s
                .objects
                .get(&(kind, ns.clone(), name.clone()))
                .map(|o| o["metadata"]["generation"].clone());
            if generation.is_none() {
                return;
            }
            let _ = match kind {
                Kind::Deployment => me.complete_rollout_in(&mut s, &ns, &name),
                _ => {
                    let resolved = route_refs_resolve(&s, &ns, &name);
                    me.set_route_status_in(&mut s, &ns, &name, true, resolved)
                }
            };
        });
    }

    // ---- seeding and reading -------------------------------------------

    pub fn put(&self, manager: &str, kind: Kind, ns: &str, object: Value) -> Value {
        let mut s = self.state();
        let existing = object["metadata"]["name"].as_str().is_some_and(|n| {
            s.objects
                .contains_key(&(kind, ns.to_string(), n.to_string()))
        });
        let mut object = object;
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        match self.write(
            &mut s,
            manager,
            kind,
            ns,
            object,
            WriteMode::Seed,
            !existing,
        ) {
            Ok(v) => v,
            Err(e) => panic!("put {} in {ns}: {}", kind.kind(), e.message),
        }
    }

    pub fn remove(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        let mut s = self.state();
        self.delete(&mut s, kind, ns, name, None).ok()
    }

    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        self.state()
            .objects
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn list(&self, kind: Kind, ns: &str) -> Vec<Value> {
        self.state()
            .objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && n == ns)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn append_log(&self, ns: &str, pod: &str, container: &str, line: &str, t: Time) {
        let mut s = self.state();
        let lines = s.logs.entry((ns.to_string(), pod.to_string())).or_default();
        // In the order written, as a container's log file is.
        lines.push(LogLine {
            container: container.to_string(),
            time: t,
            line: line.trim_end_matches('\n').to_string(),
        });
        drop(s);
        self.notify();
    }

    // ---- controllers -------------------------------------------------------

    pub fn complete_rollout(&self, ns: &str, name: &str) {
        let mut s = self.state();
        if let Err(e) = self.complete_rollout_in(&mut s, ns, name) {
            panic!("complete_rollout {ns}/{name}: {}", e.message);
        }
    }

    fn deployment(&self, s: &State, ns: &str, name: &str) -> Result<Value, ApiError> {
        s.objects
            .get(&(Kind::Deployment, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(Kind::Deployment, name))
    }

    fn complete_rollout_in(&self, s: &mut State, ns: &str, name: &str) -> Result<(), ApiError> {
        let d = self.deployment(s, ns, name)?;
        let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let before = d["status"]["replicas"].as_i64().unwrap_or(0);
        self.sync_pods(s, ns, &d, want)?;
        let hash = template_hash(&d);
        let progressed = format!("ReplicaSet \"{name}-{hash}\" has successfully progressed.");
        let status = rollout_status(
            &d,
            json!({
                "replicas": want, "updatedReplicas": want,
                "readyReplicas": want, "availableReplicas": want,
            }),
            AVAILABLE,
            ["True", "NewReplicaSetAvailable", &progressed],
        );
        self.write_status(
            s,
            "kube-controller-manager",
            Kind::Deployment,
            ns,
            &d,
            status,
        )?;
        if before != want {
            let verb = if want > before { "up" } else { "down" };
            let message =
                format!("Scaled {verb} replica set {name}-{hash} from {before} to {want}");
            self.controller_event(
                s,
                ns,
                ("Deployment", name),
                "Normal",
                "ScalingReplicaSet",
                &message,
            )?;
        }
        Ok(())
    }

    /// Writes the status `status(deployment, spec.replicas)` of a rollout
    /// the test plays (panics on a missing Deployment: a broken test).
    fn play_rollout(
        &self,
        what: &str,
        ns: &str,
        name: &str,
        status: impl FnOnce(&Value, i64) -> Value,
    ) {
        let mut s = self.state();
        let run = |s: &mut State| -> Result<(), ApiError> {
            let d = self.deployment(s, ns, name)?;
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let status = status(&d, want);
            self.write_status(
                s,
                "kube-controller-manager",
                Kind::Deployment,
                ns,
                &d,
                status,
            )
        };
        if let Err(e) = run(&mut s) {
            panic!("{what} {ns}/{name}: {}", e.message);
        }
    }

    pub fn progress_rollout(&self, ns: &str, name: &str, updated: i64) {
        self.play_rollout("progress_rollout", ns, name, |d, want| {
            let progressing = format!("ReplicaSet \"{name}-{}\" is progressing.", template_hash(d));
            rollout_status(
                d,
                json!({
                    "replicas": want + updated.min(want).max(0),
                    "updatedReplicas": updated,
                    "readyReplicas": want,
                    "availableReplicas": want,
                    "unavailableReplicas": updated,
                }),
                AVAILABLE,
                ["True", "ReplicaSetUpdated", &progressing],
            )
        });
    }

    pub fn fail_rollout(&self, ns: &str, name: &str, message: &str) {
        self.play_rollout("fail_rollout", ns, name, |d, want| {
            rollout_status(
                d,
                json!({
                    "replicas": want, "updatedReplicas": want,
                    "readyReplicas": 0, "availableReplicas": 0,
                    "unavailableReplicas": want,
                }),
                [
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                ],
                ["False", "ProgressDeadlineExceeded", message],
            )
        });
    }

    pub fn set_route_status(&self, ns: &str, name: &str, accepted: bool, resolved: bool) {
        let mut s = self.state();
        if let Err(e) = self.set_route_status_in(&mut s, ns, name, accepted, resolved) {
            panic!("set_route_status {ns}/{name}: {}", e.message);
        }
    }

    fn set_route_status_in(
        &self,
        s: &mut State,
        ns: &str,
        name: &str,
        accepted: bool,
        resolved: bool,
    ) -> Result<(), ApiError> {
        let r = s
            .objects
            .get(&(Kind::HttpRoute, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(Kind::HttpRoute, name))?;
        let generation = r["metadata"]["generation"].clone();
        let now = time::rfc3339(time::now());
        let cond = |type_: &str, ok: bool, yes: &str, no: &str, msg_yes: &str, msg_no: &str| {
            json!({
                "type": type_,
                "status": if ok { "True" } else { "False" },
                "reason": if ok { yes } else { no },
                "message": if ok { msg_yes } else { msg_no },
                "observedGeneration": generation,
                "lastTransitionTime": now,
            })
        };
        let parents: Vec<Value> = r["spec"]["parentRefs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                json!({
                    "parentRef": p,
                    "controllerName": "example.net/fake-gateway-controller",
                    "conditions": [
                        cond("Accepted", accepted, "Accepted", "NotAllowedByListeners",
                             "Route is accepted", "Route is not allowed by a listener"),
                        cond("ResolvedRefs", resolved, "ResolvedRefs", "BackendNotFound",
                             "Resolved all the Object references for the Route",
                             "a backendRef names a Service that does not exist"),
                    ]
                })
            })
            .collect();
        self.write_status(
            s,
            "fake-gateway-controller",
            Kind::HttpRoute,
            ns,
            &r,
            json!({ "parents": parents }),
        )
    }

    fn write_status(
        &self,
        s: &mut State,
        manager: &str,
        kind: Kind,
        ns: &str,
        current: &Value,
        status: Value,
    ) -> Result<(), ApiError> {
        let mut next = current.clone();
        next["status"] = status;
        if let Some(meta) = next["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        self.write(s, manager, kind, ns, next, WriteMode::Status, false)
            .map(|_| ())
    }

    /// Pods of Deployment `d` follow its template and `want`: pods of an
    /// older template go, missing ones come.
    fn sync_pods(&self, s: &mut State, ns: &str, d: &Value, want: i64) -> Result<(), ApiError> {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        let hash = template_hash(d);
        let selector = d["spec"]["selector"]["matchLabels"].clone();
        let owned: Vec<(String, String)> = s
            .objects
            .iter()
            .filter(|((k, n, _), _)| *k == Kind::Pod && n == ns)
            .filter(|(_, p)| {
                p["metadata"]["ownerReferences"][0]["name"]
                    .as_str()
                    .is_some_and(|o| o.starts_with(&format!("{name}-")))
                    && labels_match(&p["metadata"]["labels"], &selector)
            })
            .map(|((_, _, n), p)| {
                (
                    n.clone(),
                    p["metadata"]["labels"]["pod-template-hash"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        let mut current = 0;
        for (pod, h) in &owned {
            if *h != hash || current >= want {
                self.delete(s, Kind::Pod, ns, pod, None)?;
            } else {
                current += 1;
            }
        }
        let template = &d["spec"]["template"];
        while current < want {
            s.pods += 1;
            let pod_name = format!("{name}-{hash}-{}", suffix(s.pods));
            let mut labels = template["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            labels["pod-template-hash"] = json!(hash);
            let containers: Vec<&str> = template["spec"]["containers"]
                .as_array()
                .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
                .unwrap_or_default();
            let mut pod = objects::pod(&pod_name, &[], &containers);
            pod["metadata"]["labels"] = labels;
            pod["metadata"]["ownerReferences"] = json!([{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-{hash}"),
                "uid": format!("00000000-0000-4000-9000-{:012x}", s.pods),
                "controller": true, "blockOwnerDeletion": true
            }]);
            pod["spec"]["containers"] = template["spec"]["containers"].clone();
            let images: BTreeMap<String, Value> = template["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["name"].as_str()?.to_string(), c["image"].clone())))
                .collect();
            if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
                for st in statuses {
                    if let Some(img) = st["name"].as_str().and_then(|n| images.get(n)) {
                        st["image"] = img.clone();
                    }
                }
            }
            self.write(
                s,
                "kube-controller-manager",
                Kind::Pod,
                ns,
                pod,
                WriteMode::Seed,
                true,
            )?;
            current += 1;
        }
        Ok(())
    }

    fn controller_event(
        &self,
        s: &mut State,
        ns: &str,
        involved: (&str, &str),
        type_: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let mut e = objects::event(
            ns,
            involved,
            type_,
            reason,
            message,
            std::time::SystemTime::now(),
        );
        s.pods += 1;
        e["metadata"]["name"] = json!(format!("{}.{:016x}", involved.1, s.pods));
        if let Some(uid) = s
            .objects
            .get(&(Kind::Deployment, ns.to_string(), involved.1.to_string()))
            .map(|d| d["metadata"]["uid"].clone())
        {
            e["involvedObject"]["uid"] = uid;
        }
        self.write(
            s,
            "kube-controller-manager",
            Kind::Event,
            ns,
            e,
            WriteMode::Seed,
            true,
        )
        .map(|_| ())
    }
}

fn suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// The pod-template-hash of a Deployment's template (FNV-1a, 10 letters).
pub(crate) fn template_hash(d: &Value) -> String {
    let text = d["spec"]["template"].to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// The apiserver omits zero replica counts (`omitempty`).
/// The `Available` condition of a Deployment that has its replicas.
const AVAILABLE: [&str; 3] = [
    "True",
    "MinimumReplicasAvailable",
    "Deployment has minimum availability.",
];

/// A Deployment's status as the Deployment controller writes it: the
/// replica counts in `counts`, then its `Available` and `Progressing`
/// conditions, each as [status, reason, message].
fn rollout_status(
    d: &Value,
    mut counts: Value,
    available: [&str; 3],
    progressing: [&str; 3],
) -> Value {
    let now = time::rfc3339(time::now());
    let cond = |type_: &str, [status, reason, message]: [&str; 3]| {
        json!({
            "type": type_, "status": status,
            "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message
        })
    };
    counts["observedGeneration"] = d["metadata"]["generation"].clone();
    counts["conditions"] = json!([
        cond("Available", available),
        cond("Progressing", progressing)
    ]);
    prune_zero_replicas(counts)
}

fn prune_zero_replicas(mut status: Value) -> Value {
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| !(k.ends_with("eplicas") && v.as_i64() == Some(0)));
    }
    status
}

fn route_refs_resolve(s: &State, ns: &str, name: &str) -> bool {
    let Some(r) = s
        .objects
        .get(&(Kind::HttpRoute, ns.to_string(), name.to_string()))
    else {
        return false;
    };
    r["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["backendRefs"].as_array().cloned().unwrap_or_default())
        .all(|b| {
            let svc_ns = b["namespace"].as_str().unwrap_or(ns).to_string();
            b["name"].as_str().is_some_and(|n| {
                s.objects
                    .contains_key(&(Kind::Service, svc_ns, n.to_string()))
            })
        })
}

pub(crate) fn labels_match(labels: &Value, wanted: &Value) -> bool {
    wanted
        .as_object()
        .map(|w| w.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .unwrap_or(false)
}

fn has_generation(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::HttpRoute)
}

/// Defaults the apiserver fills on every write.
fn default_fields(kind: Kind, o: &mut Value, s: &mut State) {
    match kind {
        Kind::Deployment if o["spec"].is_object() && o["spec"]["replicas"].is_null() => {
            o["spec"]["replicas"] = json!(1);
        }
        Kind::Service => {
            if o["spec"].is_object() && o["spec"]["clusterIP"].is_null() {
                s.uids += 1;
                let ip = format!("10.96.{}.{}", (s.uids / 250) % 250, s.uids % 250 + 2);
                o["spec"]["clusterIP"] = json!(ip);
                o["spec"]["clusterIPs"] = json!([ip]);
            }
            if o["spec"]["type"].is_null() && o["spec"].is_object() {
                o["spec"]["type"] = json!("ClusterIP");
            }
        }
        _ => {}
    }
}

// ---- managedFields ----------------------------------------------------------

/// Fields that are one value for field ownership (atomic maps and lists, and
/// lists the fake does not key).
fn atomic(kind: Kind, path: &[&str]) -> bool {
    matches!(
        (kind, path),
        (Kind::Service, ["spec", "selector"])
            | (
                Kind::HttpRoute,
                ["spec", "rules" | "parentRefs" | "hostnames"]
            )
            | (Kind::HttpRoute, ["status", "parents"])
    )
}

type FieldPath = Vec<String>;

/// The leaf fields of `spec`/`status`/`metadata.labels`/`annotations` whose
/// value differs between `old` and `new` (all of them on create).
fn changed_fields(
    kind: Kind,
    old: Option<&Value>,
    new: &Value,
    mode: WriteMode,
) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let roots: &[&[&str]] = match mode {
        WriteMode::Status => &[&["status"]],
        WriteMode::Main => &[
            &["spec"],
            &["metadata", "labels"],
            &["metadata", "annotations"],
        ],
        WriteMode::Seed => &[
            &["spec"],
            &["status"],
            &["metadata", "labels"],
            &["metadata", "annotations"],
        ],
    };
    // Objects without spec (Event) own their top-level fields.
    let roots: Vec<Vec<&str>> = if kind == Kind::Event {
        new.as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| !["metadata", "apiVersion", "kind"].contains(&k.as_str()))
                    .map(|k| vec![k.as_str()])
                    .collect()
            })
            .unwrap_or_default()
    } else {
        roots.iter().map(|r| r.to_vec()).collect()
    };
    for root in roots {
        let a = old.map(|o| lookup(o, &root)).unwrap_or(&Value::Null);
        let b = lookup(new, &root);
        let mut path: Vec<&str> = root.clone();
        diff(kind, a, b, &mut path, &mut out);
    }
    out
}

fn lookup<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(v, |v, k| v.get(*k).unwrap_or(&Value::Null))
}

fn diff<'a>(
    kind: Kind,
    a: &'a Value,
    b: &'a Value,
    path: &mut Vec<&'a str>,
    out: &mut BTreeSet<FieldPath>,
) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if !atomic(kind, path) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                path.push(k);
                diff(
                    kind,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    path,
                    out,
                );
                path.pop();
            }
        }
        (Value::Null, Value::Object(y)) if !atomic(kind, path) && !y.is_empty() => {
            for (k, v) in y {
                path.push(k);
                diff(kind, &Value::Null, v, path, out);
                path.pop();
            }
        }
        _ => {
            if !b.is_null() {
                out.insert(path.iter().map(|s| s.to_string()).collect());
            }
        }
    }
}

fn fields_to_json(fields: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for f in fields {
        let mut node = &mut root;
        for seg in f {
            node = node
                .entry(format!("f:{seg}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fields are objects");
        }
    }
    Value::Object(root)
}

fn fields_from_json(v: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut BTreeSet<FieldPath>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, sub) in m {
                    let seg = k.strip_prefix("f:").unwrap_or(k);
                    if seg == "." {
                        out.insert(path.clone());
                        continue;
                    }
                    path.push(seg.to_string());
                    walk(sub, path, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn record_managers(
    previous: Value,
    manager: &str,
    kind: Kind,
    subresource: Option<&str>,
    changed: &BTreeSet<FieldPath>,
    now: Time,
) -> Value {
    let mut entries: Vec<Value> = previous.as_array().cloned().unwrap_or_default();
    let overlaps = |a: &FieldPath, b: &FieldPath| a.starts_with(b) || b.starts_with(a);
    // Changed fields leave their previous owners.
    for e in entries.iter_mut() {
        let mut fields = fields_from_json(&e["fieldsV1"]);
        fields.retain(|f| !changed.iter().any(|c| overlaps(f, c)));
        e["fieldsV1"] = fields_to_json(&fields);
    }
    let same = |e: &Value| {
        e["manager"] == manager
            && e["operation"] == "Update"
            && e["subresource"].as_str() == subresource
    };
    let mut mine: BTreeSet<FieldPath> = entries
        .iter()
        .find(|e| same(e))
        .map(|e| fields_from_json(&e["fieldsV1"]))
        .unwrap_or_default();
    mine.extend(changed.iter().cloned());
    entries.retain(|e| !same(e));
    if !mine.is_empty() {
        let mut e = json!({
            "manager": manager,
            "operation": "Update",
            "apiVersion": kind.api_version(),
            "time": time::rfc3339(now),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_to_json(&mine),
        });
        if let Some(sub) = subresource {
            e["subresource"] = json!(sub);
        }
        entries.push(e);
    }
    entries.retain(|e| e["fieldsV1"].as_object().is_some_and(|m| !m.is_empty()));
    Value::Array(entries)
}

/// The managers whose managedFields entry covers `field` (`spec.selector`).
pub(crate) fn managers_of(object: &Value, field: &str) -> Vec<String> {
    let want: FieldPath = field.split('.').map(str::to_string).collect();
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            fields_from_json(&e["fieldsV1"])
                .iter()
                .any(|f| f.starts_with(&want) || want.starts_with(f))
        })
        .filter_map(|e| e["manager"].as_str().map(str::to_string))
        .collect()
}
