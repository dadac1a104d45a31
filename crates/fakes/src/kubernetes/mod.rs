//! A stateful fake Kubernetes API server on `127.0.0.1:0`, for tests.
//!
//! It is a real HTTP/1.1 server speaking the apiserver's JSON protocol, so
//! that `kube`-rs *and* the real `kubectl` can both be pointed at it through a
//! kubeconfig ([`FakeKube::write_kubeconfig`]):
//!
//! - core/v1 `services`, `pods` (+ `pods/{name}/log`, chunked `follow=true`,
//!   `timestamps`, `sinceTime`, `sinceSeconds`, `tailLines`, `container`),
//!   `events`; apps/v1 `deployments` (+ `/scale` as autoscaling/v1 `Scale`, and
//!   `/status`); `gateway.networking.k8s.io/v1` `httproutes` (+ `/status`);
//!   `coordination.k8s.io/v1` `leases`.
//! - verbs get, list (`labelSelector`, `fieldSelector`, `resourceVersion`),
//!   watch (`watch=true`: newline-delimited `{"type","object"}` events after the
//!   given `resourceVersion`), create (POST), replace (PUT), delete, patch
//!   (`application/merge-patch+json`, `application/strategic-merge-patch+json`
//!   for built-in kinds only — 415 for HTTPRoutes as on a real cluster —, and
//!   `application/json-patch+json`).
//! - one global `resourceVersion` bumped by every write; a write carrying a
//!   stale `metadata.resourceVersion` is refused with 409 Conflict and the
//!   apiserver's `Status`; spec writes bump `metadata.generation`, status writes
//!   do not; `metadata.managedFields` records which field manager (the
//!   `fieldManager` parameter, else the User-Agent's program name) last set
//!   which top-level `spec`/`status` fields (`f:spec: {f:selector: {}}`), so
//!   "who else owns the selector / the rules" can be answered.
//! - discovery for kubectl (`/api`, `/apis`, one `APIResourceList` per group
//!   version, `/version`), `Table` answers when asked with
//!   `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`; errors are always
//!   a `Status` object. Without an Accept header it answers JSON (kube-rs
//!   sends none).
//!
//! Controllers are played by the test ([`FakeKube::complete_rollout`],
//! [`FakeKube::set_route_status`], or `kubectl patch --subresource=status`),
//! or automatically after a delay ([`FakeKube::set_controllers`]) so that
//! end-to-end tests behave like a cluster. Faults: [`FakeKube::fail_next`],
//! [`FakeKube::inject`], RBAC refusals ([`FakeKube::deny`]), a per-request
//! delay, a bearer token requirement, closing every open stream.
//!
//! Every request is recorded ([`FakeKube::requests`]) with its verb, body and
//! answer, so a test can check what a client sent and what it got against the
//! OpenAPI documents with [`contract::Contracts`].
//!
//! The fake depends on nothing of the `canary` crate: it is a peer, not a
//! mirror of the client under test.

pub mod contract;
pub mod objects;

mod discovery;
mod patch;
mod server;
mod store;
mod time;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::task::JoinHandle;

use store::Shared;

/// The kinds of object the fake stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// apps/v1 `Deployment` (`deployments`, with `/scale` and `/status`).
    Deployment,
    /// core/v1 `Service` (`services`).
    Service,
    /// core/v1 `Pod` (`pods`, with `/log` and `/status`).
    Pod,
    /// core/v1 `Event` (`events`).
    Event,
    /// gateway.networking.k8s.io/v1 `HTTPRoute` (`httproutes`, with `/status`).
    HttpRoute,
    /// coordination.k8s.io/v1 `Lease` (`leases`).
    Lease,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 6] = [
        Kind::Deployment,
        Kind::Service,
        Kind::Pod,
        Kind::Event,
        Kind::HttpRoute,
        Kind::Lease,
    ];

    /// The object's `kind` field: `Deployment`, `HTTPRoute`, …
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::Service => "Service",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::HttpRoute => "HTTPRoute",
            Kind::Lease => "Lease",
        }
    }

    /// The object's `apiVersion`: `apps/v1`, `v1`, …
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment => "apps/v1",
            Kind::Service | Kind::Pod | Kind::Event => "v1",
            Kind::HttpRoute => "gateway.networking.k8s.io/v1",
            Kind::Lease => "coordination.k8s.io/v1",
        }
    }

    /// The API group, empty for core.
    pub fn group(self) -> &'static str {
        match self.api_version().rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// The plural resource name in URLs and RBAC rules: `deployments`, …
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::Service => "services",
            Kind::Pod => "pods",
            Kind::Event => "events",
            Kind::HttpRoute => "httproutes",
            Kind::Lease => "leases",
        }
    }

    /// A built-in kind (strategic merge patch allowed), as opposed to a
    /// custom resource (HTTPRoute: 415 on strategic merge).
    pub fn is_builtin(self) -> bool {
        !matches!(self, Kind::HttpRoute)
    }

    /// The kind whose plural resource name is `resource`.
    pub fn from_resource(resource: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.resource() == resource)
    }

    /// The URL of the collection in `namespace` (no host):
    /// `/apis/apps/v1/namespaces/NS/deployments`.
    pub fn collection_path(self, namespace: &str) -> String {
        let prefix = match self.group() {
            "" => "/api/v1".to_string(),
            _ => format!("/apis/{}", self.api_version()),
        };
        format!("{prefix}/namespaces/{namespace}/{}", self.resource())
    }

    /// The URL of one object (no host).
    pub fn object_path(self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }
}

/// A Kubernetes API verb, as RBAC names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    /// PUT (kubectl `replace`).
    Update,
    Patch,
    Delete,
}

impl Verb {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request the fake answered, in arrival order.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path without the query: `/api/v1/namespaces/prod/services/backend`.
    pub path: String,
    /// The raw query string (without `?`), possibly empty.
    pub query: String,
    /// The API verb (None for discovery, `/version` and unknown paths).
    pub verb: Option<Verb>,
    /// The RBAC resource: `services`, `deployments/scale`, `pods/log`.
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// Whether an `Authorization` header came (its value is never recorded).
    pub authorized: bool,
    /// The request body as text (empty for GET).
    pub body: String,
    /// The answer's status code.
    pub status: u16,
    /// The answer's body, for answers that are not streams (watch and
    /// `follow=true` logs record an empty string).
    pub response: String,
    /// From the request's arrival to its answer's head (streams: to the head).
    pub elapsed: Duration,
}

impl RecordedRequest {
    /// The query's parameters, decoded, in order.
    pub fn params(&self) -> Vec<(String, String)> {
        server::parse_query(&self.query)
    }

    /// The request body parsed as JSON (Null when empty or not JSON).
    pub fn json_body(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The answer parsed as JSON (Null for streams or non-JSON answers).
    pub fn json_response(&self) -> Value {
        serde_json::from_str(&self.response).unwrap_or(Value::Null)
    }
}

/// A fault to inject on matching requests ([`FakeKube::inject`]).
#[derive(Clone, Debug)]
pub struct Fault {
    /// Only requests of this verb (None: any).
    pub verb: Option<Verb>,
    /// Only requests whose path starts with this (empty: any).
    pub path_prefix: String,
    /// Answer this status with a `Status` body (its `reason` follows the
    /// code: 409 `Conflict`, 403 `Forbidden`, 500 `InternalError`, 503
    /// `ServiceUnavailable`, 429 `TooManyRequests`, 404 `NotFound`, …);
    /// None: answer normally (useful with `delay` alone).
    pub status: Option<u16>,
    /// The `Status.message`; None: a message like the apiserver's.
    pub message: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Close the connection without an answer instead.
    pub drop_connection: bool,
    /// How many matching requests it hits; then it is gone.
    pub times: usize,
    /// Serve the request first (a write is stored), then delay, replace or
    /// drop its answer: the write landed but the client cannot know.
    pub after_write: bool,
}

impl Fault {
    /// Answers `status` once to the next `verb` request under `path_prefix`.
    pub fn status(verb: Option<Verb>, path_prefix: &str, status: u16) -> Fault {
        Fault {
            verb,
            path_prefix: path_prefix.to_string(),
            status: Some(status),
            message: None,
            delay: Duration::ZERO,
            drop_connection: false,
            times: 1,
            after_write: false,
        }
    }

    /// Delays the next matching request by `delay`, then answers normally.
    pub fn delay(verb: Option<Verb>, path_prefix: &str, delay: Duration) -> Fault {
        Fault {
            status: None,
            delay,
            ..Fault::status(verb, path_prefix, 0)
        }
    }

    /// Closes the connection of the next matching request without answering.
    pub fn drop_connection(verb: Option<Verb>, path_prefix: &str) -> Fault {
        Fault {
            status: None,
            drop_connection: true,
            ..Fault::status(verb, path_prefix, 0)
        }
    }

    /// The same fault for the next `n` matching requests.
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    /// The request is served (a write stored) before the fault answers.
    pub fn after_write(mut self) -> Fault {
        self.after_write = true;
        self
    }

    /// With this `Status.message`.
    pub fn message(mut self, message: impl Into<String>) -> Fault {
        self.message = Some(message.into());
        self
    }
}

/// The controllers the fake plays by itself ([`FakeKube::set_controllers`]).
/// Off by default: tests play them explicitly.
#[derive(Clone, Debug, Default)]
pub struct Controllers {
    /// The Deployment controller: `delay` after a Deployment's spec or scale
    /// changes, its rollout completes ([`FakeKube::complete_rollout`]: status
    /// and Pods follow `spec.replicas`).
    pub deployments: bool,
    /// The Gateway controller: `delay` after an HTTPRoute's spec changes,
    /// every parent is `Accepted` and `ResolvedRefs` (false when a backendRef
    /// names a Service that does not exist) at the new generation.
    pub routes: bool,
    /// How long the controllers take.
    pub delay: Duration,
}

impl Controllers {
    /// Both controllers, reacting after `delay`.
    pub fn all(delay: Duration) -> Controllers {
        Controllers {
            deployments: true,
            routes: true,
            delay,
        }
    }
}

/// The fake server. Dropping it stops the server and ends every open stream.
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.shared.shutdown();
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

impl FakeKube {
    /// Starts a server on `127.0.0.1:0` (in the current tokio runtime).
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> FakeKube {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Shared::new();
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        FakeKube {
            shared,
            addr,
            task: Mutex::new(Some(task)),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig (YAML) with one cluster at [`FakeKube::url`], one token
    /// user, and one context `fake` (the current one) in `namespace`. With
    /// [`FakeKube::require_token`] set, the user carries that token.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        let token = self
            .shared
            .state()
            .required_token
            .clone()
            .unwrap_or_else(|| "fake-token".to_string());
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: fake\n  cluster:\n    server: {url}\n\
             users:\n\
             - name: fake-user\n  user:\n    token: {token}\n\
             contexts:\n\
             - name: fake\n  context:\n    cluster: fake\n    user: fake-user\n    namespace: {namespace}\n\
             current-context: fake\n\
             preferences: {{}}\n",
            url = self.url(),
        )
    }

    /// Writes [`FakeKube::kubeconfig`] to `path` (pass it to kubectl and the
    /// cockpit with `KUBECONFIG=path`, per process).
    pub fn write_kubeconfig(&self, path: &Path, namespace: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(namespace))
    }

    /// Serves the OpenAPI v3 documents in `dir` (the copies in
    /// `tests/contracts/`) at `/openapi/v3` (`api/v1`, `apis/apps/v1`), as
    /// kubectl wants for `replace`/`create`/`apply` validation, and refuses
    /// a write sent with `fieldValidation=Strict` whose object has fields
    /// the schemas do not know (400, `strict decoding error: unknown field
    /// "spec.x"`), as the apiserver does. Without it, `/openapi/*` is 404
    /// and kubectl needs `--validate=false` for those commands.
    pub fn serve_openapi(&self, dir: &Path) -> Result<(), String> {
        let contracts = contract::Contracts::load(dir)?;
        let mut documents = Vec::new();
        for (path, file) in [
            ("api/v1", "k8s.api__v1_openapi.json"),
            ("apis/apps/v1", "k8s.apis__apps__v1_openapi.json"),
        ] {
            let text = std::fs::read_to_string(dir.join(file))
                .map_err(|e| format!("{}: {e}", dir.join(file).display()))?;
            documents.push((path.to_string(), text));
        }
        self.shared.state().openapi = Some(Arc::new(store::OpenApi {
            contracts,
            documents,
        }));
        Ok(())
    }

    // ---- seeding -------------------------------------------------------

    /// Creates or replaces an object as if the field manager
    /// `kubectl-client-side-apply` had written it: fills `apiVersion`, `kind`,
    /// `metadata.namespace`, `uid`, `creationTimestamp` (kept if given),
    /// `resourceVersion`, `generation` and `managedFields`; sends a watch
    /// event. Returns the stored object.
    ///
    /// # Panics
    /// If `object` has no `metadata.name`.
    pub fn put(&self, kind: Kind, namespace: &str, object: Value) -> Value {
        self.put_as("kubectl-client-side-apply", kind, namespace, object)
    }

    /// [`FakeKube::put`] as field manager `manager` (e.g. `argo-rollouts`).
    pub fn put_as(&self, manager: &str, kind: Kind, namespace: &str, object: Value) -> Value {
        self.shared.put(manager, kind, namespace, object)
    }

    /// [`FakeKube::put`] of a Deployment (see [`objects::deployment`]).
    pub fn put_deployment(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::Deployment, namespace, object)
    }

    /// [`FakeKube::put`] of a Service (see [`objects::service`]).
    pub fn put_service(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::Service, namespace, object)
    }

    /// [`FakeKube::put`] of an HTTPRoute (see [`objects::httproute`]).
    pub fn put_httproute(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::HttpRoute, namespace, object)
    }

    /// [`FakeKube::put`] of a Pod (see [`objects::pod`]).
    pub fn put_pod(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::Pod, namespace, object)
    }

    /// [`FakeKube::put`] of an Event (see [`objects::event`]).
    pub fn put_event(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::Event, namespace, object)
    }

    /// [`FakeKube::put`] of a Lease (see [`objects::lease`]).
    pub fn put_lease(&self, namespace: &str, object: Value) -> Value {
        self.put(Kind::Lease, namespace, object)
    }

    /// Deletes an object (a DELETED watch event); the deleted object, if any.
    pub fn remove(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared.remove(kind, namespace, name)
    }

    /// Appends one log line of `container` in `pod` (which need not exist
    /// yet), written at `time`. Followers of the pod's log get it at once.
    pub fn append_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        line: &str,
        time: SystemTime,
    ) {
        self.shared
            .append_log(namespace, pod, container, line, time.into());
    }

    /// The blue/green setup of the team's runbook in `namespace`:
    /// Deployments `backend-blue` and `backend-green` (2 replicas each,
    /// labels `app: backend, version: blue|green`, images
    /// `registry.example/backend:blue|green`), their rollouts complete with
    /// Pods, and the Service `backend` selecting `version: blue`.
    pub fn seed_blue_green(&self, namespace: &str) {
        for colour in ["blue", "green"] {
            let name = format!("backend-{colour}");
            self.put_deployment(
                namespace,
                objects::deployment(
                    &name,
                    &[("app", "backend"), ("version", colour)],
                    &format!("registry.example/backend:{colour}"),
                    2,
                ),
            );
            self.complete_rollout(namespace, &name);
        }
        self.put_service(
            namespace,
            objects::service("backend", &[("app", "backend"), ("version", "blue")], 80),
        );
    }

    /// The weights setup in `namespace`: Deployments `backend-stable` and
    /// `backend-canary` (complete, with Pods), one Service per revision
    /// (same names), and the HTTPRoute `backend` under Gateway `gateway`
    /// with weights stable 100 / canary 0, accepted and resolved.
    pub fn seed_weights(&self, namespace: &str) {
        for rev in ["stable", "canary"] {
            let name = format!("backend-{rev}");
            self.put_deployment(
                namespace,
                objects::deployment(
                    &name,
                    &[("app", "backend"), ("track", rev)],
                    &format!("registry.example/backend:{rev}"),
                    2,
                ),
            );
            self.complete_rollout(namespace, &name);
            self.put_service(
                namespace,
                objects::service(&name, &[("app", "backend"), ("track", rev)], 80),
            );
        }
        self.put_httproute(
            namespace,
            objects::httproute(
                "backend",
                "gateway",
                &[("backend-stable", 100), ("backend-canary", 0)],
            ),
        );
        self.set_route_status(namespace, "backend", true, true);
    }

    // ---- reading back ----------------------------------------------------

    /// The stored object, as a GET would return it.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.shared.get(kind, namespace, name)
    }

    /// All stored objects of `kind` in `namespace`, by name.
    pub fn list(&self, kind: Kind, namespace: &str) -> Vec<Value> {
        self.shared.list(kind, namespace)
    }

    /// The global resourceVersion (the last write's).
    pub fn resource_version(&self) -> u64 {
        self.shared.state().rv
    }

    /// The field managers of `object` that set `field` (a path like
    /// `spec.selector` or `spec.rules`), from its `managedFields`.
    pub fn managers_of(&self, kind: Kind, namespace: &str, name: &str, field: &str) -> Vec<String> {
        self.get(kind, namespace, name)
            .map(|o| store::managers_of(&o, field))
            .unwrap_or_default()
    }

    // ---- controllers -----------------------------------------------------

    /// Plays the Deployment controller to the end of a rollout: Pods follow
    /// `spec.replicas` and the template (`NAME-HASH-N`, labels of the
    /// template plus `pod-template-hash`, phase Running, ready), status
    /// `replicas`/`updatedReplicas`/`readyReplicas`/`availableReplicas` =
    /// desired, `observedGeneration` = generation, conditions `Available`
    /// True and `Progressing` True (`NewReplicaSetAvailable`). A status
    /// write: generation unchanged.
    ///
    /// # Panics
    /// If the Deployment does not exist.
    pub fn complete_rollout(&self, namespace: &str, deployment: &str) {
        self.shared.complete_rollout(namespace, deployment);
    }

    /// A rollout stuck halfway: `updatedReplicas` = `updated`, unavailable
    /// replicas, `Progressing` True (`ReplicaSetUpdated`), observedGeneration
    /// = generation.
    pub fn progress_rollout(&self, namespace: &str, deployment: &str, updated: i64) {
        self.shared.progress_rollout(namespace, deployment, updated);
    }

    /// A failed rollout: `Progressing` False with reason
    /// `ProgressDeadlineExceeded` and `message`.
    pub fn fail_rollout(&self, namespace: &str, deployment: &str, message: &str) {
        self.shared.fail_rollout(namespace, deployment, message);
    }

    /// Plays the Gateway controller: `status.parents[]`, one per
    /// `spec.parentRefs[]` with `controllerName`
    /// `example.net/fake-gateway-controller`, conditions `Accepted` and
    /// `ResolvedRefs` (True/False as given) at `observedGeneration` =
    /// the route's current generation. A status write.
    ///
    /// # Panics
    /// If the HTTPRoute does not exist.
    pub fn set_route_status(&self, namespace: &str, route: &str, accepted: bool, resolved: bool) {
        self.shared
            .set_route_status(namespace, route, accepted, resolved);
    }

    /// Turns the automatic controllers on or off (see [`Controllers`]).
    pub fn set_controllers(&self, controllers: Controllers) {
        self.shared.state().controllers = controllers;
    }

    // ---- faults ------------------------------------------------------------

    /// The next `verb` request whose path starts with `path_prefix` is
    /// answered `status` with a `Status` body (409, 403, 500, 503, …).
    pub fn fail_next(&self, verb: Verb, path_prefix: &str, status: u16) {
        self.inject(Fault::status(Some(verb), path_prefix, status));
    }

    /// Adds a fault; faults are tried in the order they were added.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push(fault);
    }

    /// Removes every injected fault and RBAC denial, and the delay.
    pub fn clear_faults(&self) {
        let mut s = self.shared.state();
        s.faults.clear();
        s.denied.clear();
        s.delay = Duration::ZERO;
    }

    /// RBAC: refuses `verb` on `resource` (`services`, `deployments/scale`,
    /// `pods/log`, …) with 403 and the apiserver's message: `services
    /// "backend" is forbidden: User "system:serviceaccount:NS:canary" cannot
    /// patch resource "services" in API group "" in the namespace "NS"`.
    pub fn deny(&self, verb: Verb, resource: &str) {
        self.shared
            .state()
            .denied
            .insert((verb, resource.to_string()));
    }

    /// Lifts a [`FakeKube::deny`].
    pub fn allow(&self, verb: Verb, resource: &str) {
        self.shared
            .state()
            .denied
            .remove(&(verb, resource.to_string()));
    }

    /// The user name the 403 messages name (default
    /// `system:serviceaccount:default:canary`).
    pub fn set_user(&self, user: &str) {
        self.shared.state().user = user.to_string();
    }

    /// Every request waits `delay` before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state().delay = delay;
    }

    /// With `Some(token)`, requests without `Authorization: Bearer token` get
    /// 401 `Unauthorized` (set it before writing the kubeconfig).
    pub fn require_token(&self, token: Option<&str>) {
        self.shared.state().required_token = token.map(str::to_string);
    }

    /// Forgets the watch history: a watch from an older resourceVersion gets
    /// an `ERROR` event with a 410 `Expired` Status ("too old resource
    /// version"), as after an etcd compaction; the client must list again.
    pub fn compact_history(&self) {
        self.shared.compact();
    }

    /// Ends every open watch and log stream now (clients see the stream end,
    /// as when an apiserver restarts); new ones can be opened.
    pub fn close_streams(&self) {
        self.shared.close_streams();
    }

    // ---- request log -------------------------------------------------------

    /// Every request answered so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }
}
