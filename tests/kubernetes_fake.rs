//! The fake Kubernetes API server (`canary_fakes::kubernetes`): its routes,
//! verbs, parameters and objects against the OpenAPI documents in
//! `tests/contracts/` (copies of `../shared/contracts/`), its semantics
//! (resourceVersion and 409, generation, managedFields, patches, watch,
//! logs, faults), and the real `kubectl` as the independent peer.
//!
//! Self-contained: its helpers are below, not in `tests/support/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use canary_fakes::kubernetes::contract::{Contracts, HTTPROUTE};
use canary_fakes::kubernetes::{objects, Controllers, FakeKube, Fault, Kind, Verb};
use serde_json::{json, Value};

const NS: &str = "prod";

// ---- helpers ------------------------------------------------------------------------

fn contracts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contracts")
}

fn contracts() -> Contracts {
    let dir = contracts_dir();
    // The copies in the repository must be the team's shared ones, verbatim.
    for name in [
        "k8s.api__v1_openapi.json",
        "k8s.apis__apps__v1_openapi.json",
        "gateway.networking.k8s.io_httproutes.v1.6.1.standard.yaml",
    ] {
        let ours = std::fs::read(dir.join(name)).unwrap();
        if let Ok(shared) = std::fs::read(dir.join("../../../shared/contracts").join(name)) {
            assert!(
                shared == ours,
                "tests/contracts/{name} differs from ../shared/contracts/{name}: copy it again"
            );
        }
    }
    Contracts::load(&dir).unwrap()
}

/// A raw HTTP client of the fake (no Accept header, like kube-rs).
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(fake: &FakeKube) -> Api {
        Api {
            base: fake.url(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<(&str, Value)>) -> (u16, Value) {
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some((content_type, body)) = body {
            req = req
                .header("content-type", content_type)
                .body(body.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }

    async fn text(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn merge(&self, path: &str, patch: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(("application/merge-patch+json", patch)))
            .await
    }

    /// Opens a stream (watch, followed log); its lines arrive on the receiver.
    async fn stream(&self, path: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let mut resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if tx.send(line.trim_end().to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }
}

async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a line within 5 s")
}

fn dep(name: &str) -> String {
    Kind::Deployment.object_path(NS, name)
}

fn svc(name: &str) -> String {
    Kind::Service.object_path(NS, name)
}

fn route(name: &str) -> String {
    Kind::HttpRoute.object_path(NS, name)
}

fn rv(o: &Value) -> String {
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The newest `/usr/lib/google-cloud-sdk/bin/kubectl.1.N`.
fn kubectl() -> Option<PathBuf> {
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let best = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, dir.join(name)))
        })
        .max()?;
    Some(best.1)
}

/// kubectl against a kubeconfig; `None` (and a clear message) without kubectl.
struct Kubectl {
    bin: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(fake: &FakeKube, test: &str) -> Option<Kubectl> {
        let Some(bin) = kubectl() else {
            eprintln!(
                "SKIPPED {test}: no /usr/lib/google-cloud-sdk/bin/kubectl.1.* on this machine"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&config, NS).unwrap();
        Some(Kubectl {
            bin,
            config,
            _dir: dir,
        })
    }

    /// Exit code, stdout, stderr. Runs in the background (tokio::process):
    /// the fake serves on this runtime meanwhile.
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", &self.config)
            .env("HOME", self._dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, 0, "kubectl {args:?}: {err}{out}");
        out
    }

    fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", &self.config)
            .env("HOME", self._dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

/// Reads a child's stdout lines as they come.
fn lines_of(child: &mut tokio::process::Child) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

// ---- the contract checker itself ----------------------------------------------------------

#[test]
fn the_checker_catches_invented_paths_parameters_fields_types_and_enums() {
    let c = contracts();
    let good = objects::service("backend", &[("app", "backend")], 80);
    assert_eq!(c.check_object(&good), Vec::<String>::new());

    assert_each_caught(
        &c,
        &good,
        [
            (json!({"spec": {"selectr": {}}}), "no field `selectr`"),
            (
                json!({"spec": {"ports": [{"port": "80"}]}}),
                "expected an integer",
            ),
            (json!({"spec": {"ports": [{"port": 1u64 << 40}]}}), "int32"),
            (
                json!({"spec": {"selector": {"app": 1}}}),
                "expected a string",
            ),
            (
                json!({"metadata": {"creationTimestamp": "yesterday"}}),
                "RFC 3339",
            ),
            (json!({"metadata": {"labels": null}}), "null"),
            (
                json!({"spec": {"ports": [{"targetPort": true}]}}),
                "int or a string",
            ),
        ],
    );
    // The CRD: enums, required fields, bounds.
    let r = objects::httproute("backend", "gw", &[("a", 90), ("b", 10)]);
    assert_eq!(c.check_object(&r), Vec::<String>::new());
    assert_each_caught(
        &c,
        &r,
        [
            (
                json!({"spec": {"rules": [{"backendRefs": [{"name": "a", "weight": -1}]}]}}),
                "minimum",
            ),
            (
                json!({"spec": {"rules": [{"backendRefs": [{"weight": 1}]}]}}),
                "required field `name`",
            ),
            (
                json!({"spec": {"rules": [{"matches": [{"path": {"type": "Glob"}}]}]}}),
                "enum",
            ),
            (
                json!({"spec": {"rules": [{"backendRefs": [{"name": "a", "weigth": 1}]}]}}),
                "no field `weigth`",
            ),
            (
                json!({"metadata": {"generation": "2"}}),
                "expected an integer",
            ),
        ],
    );
    // Paths, methods and parameters.
    let op = c
        .check_request(
            "PATCH",
            "/apis/apps/v1/namespaces/prod/deployments/b/scale",
            "fieldManager=x",
        )
        .unwrap();
    assert_eq!(op.id, "patchAppsV1NamespacedDeploymentScale");
    assert!(c
        .check_request("GET", "/api/v1/namespaces/prod/service/b", "")
        .is_err());
    assert!(c
        .check_request("POST", "/api/v1/namespaces/prod/services/b", "")
        .is_err());
    let e = c
        .check_request("GET", "/api/v1/namespaces/prod/services", "labelSelectr=a")
        .unwrap_err();
    assert!(e.contains("labelSelectr"), "{e}");
    let op = c
        .check_request(
            "PATCH",
            "/apis/gateway.networking.k8s.io/v1/namespaces/p/httproutes/r/status",
            "",
        )
        .unwrap();
    assert!(!op
        .request_types
        .contains(&"application/strategic-merge-patch+json".to_string()));
}

/// Each of `cases` (a merge patch onto `good`, a fragment of the problem
/// it makes) is caught by the checker.
fn assert_each_caught<const N: usize>(c: &Contracts, good: &Value, cases: [(Value, &str); N]) {
    for (patch, fragment) in cases {
        let mut bad = good.clone();
        json_merge(&mut bad, &patch);
        let problems = c.check_object(&bad);
        assert!(
            problems.iter().any(|p| p.contains(fragment)),
            "{patch}: {problems:?}"
        );
    }
}

fn json_merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            match t.get_mut(k) {
                Some(slot) if slot.is_object() && v.is_object() => json_merge(slot, v),
                _ => {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

// ---- every route against the contracts ------------------------------------------------------

/// Drives every resource and verb the fake advertises in its discovery
/// documents (except Leases, which have no contract here), then checks
/// every recorded request (path, method, parameters, body content type and
/// body) and answer (against the operation's schema, or `Status` for
/// errors) against the documents; watch events are checked line by line.
#[tokio::test]
async fn every_route_the_fake_serves_is_a_documented_operation_with_documented_objects() {
    let c = contracts();
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    fake.seed_weights(NS);
    let pod = fake.list(Kind::Pod, NS)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = SystemTime::now() - Duration::from_secs(30);
    fake.append_log(NS, &pod, "app", "started", t0);
    fake.append_log(NS, &pod, "app", "GET / 200", t0 + Duration::from_secs(20));
    fake.put_event(
        NS,
        objects::event(
            NS,
            ("Deployment", "backend-green"),
            "Warning",
            "ProgressDeadlineExceeded",
            "slow",
            t0,
        ),
    );
    let api = Api::new(&fake);
    let mut watched: Vec<(String, Value)> = Vec::new();

    // Discovery (the resource lists have a schema; /api and /apis do not).
    let mut advertised: BTreeSet<(String, String)> = BTreeSet::new();
    for gv in [
        "/api/v1",
        "/apis/apps/v1",
        "/apis/gateway.networking.k8s.io/v1",
    ] {
        let (code, list) = api.get(gv).await;
        assert_eq!(code, 200);
        assert_eq!(
            c.check_schema(
                &list,
                "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
            ),
            Vec::<String>::new()
        );
        for r in list["resources"].as_array().unwrap() {
            for v in r["verbs"].as_array().unwrap() {
                advertised.insert((
                    r["name"].as_str().unwrap().to_string(),
                    v.as_str().unwrap().to_string(),
                ));
            }
        }
    }
    assert_eq!(api.get("/api").await.1["versions"], json!(["v1"]));
    assert_eq!(
        api.get("/apis").await.1["groups"].as_array().unwrap().len(),
        3
    );
    assert_eq!(api.get("/version").await.1["major"], "1");

    for kind in [
        Kind::Deployment,
        Kind::Service,
        Kind::Pod,
        Kind::Event,
        Kind::HttpRoute,
    ] {
        let coll = kind.collection_path(NS);
        let all = coll.replace(&format!("/namespaces/{NS}"), "");
        // list, with every parameter the cockpit may use, across namespaces too.
        api.get(&coll).await;
        api.get(&format!("{coll}?labelSelector=app%3Dbackend&limit=1"))
            .await;
        let (_, page) = api.get(&format!("{coll}?limit=1")).await;
        if let Some(token) = page["metadata"]["continue"].as_str() {
            api.get(&format!("{coll}?limit=1&continue={token}")).await;
        }
        api.get(&format!("{all}?resourceVersion=0")).await;
        api.get(&format!("{coll}?fieldSelector=metadata.name%3Dbackend"))
            .await;
        // watch: events as lines, each a WatchEvent with a valid object.
        let (_, listed) = api.get(&coll).await;
        let from = listed["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut w = api
            .stream(&format!("{coll}?watch=true&resourceVersion={from}&timeoutSeconds=5&allowWatchBookmarks=true"))
            .await;
        // create, read, replace, patch three ways, status, delete.
        let name = format!("walk-{}", kind.resource());
        let mut object = match kind {
            Kind::Deployment => objects::deployment(&name, &[("app", "walk")], "img:1", 1),
            Kind::Service => objects::service(&name, &[("app", "walk")], 80),
            Kind::Pod => objects::pod(&name, &[("app", "walk")], &["app"]),
            Kind::Event => objects::event(
                NS,
                ("Deployment", "backend-blue"),
                "Normal",
                "Walk",
                "walk",
                SystemTime::now(),
            ),
            _ => objects::httproute(&name, "gateway", &[("backend-stable", 1)]),
        };
        object["metadata"]["name"] = json!(name);
        let (code, created) = api
            .call("POST", &coll, Some(("application/json", object)))
            .await;
        assert_eq!(code, 201, "{created}");
        let one = kind.object_path(NS, &name);
        let (_, mut got) = api.get(&one).await;
        got["metadata"]["labels"] = json!({"walked": "yes"});
        let (code, _) = api
            .call(
                "PUT",
                &format!("{one}?fieldManager=walker"),
                Some(("application/json", got)),
            )
            .await;
        assert_eq!(code, 200);
        let (code, _) = api
            .merge(
                &format!("{one}?fieldManager=walker"),
                json!({"metadata": {"annotations": {"a": "1"}}}),
            )
            .await;
        assert_eq!(code, 200);
        let (code, _) = api
            .call(
                "PATCH",
                &one,
                Some((
                    "application/json-patch+json",
                    json!([{"op": "add", "path": "/metadata/annotations/b", "value": "2"}]),
                )),
            )
            .await;
        assert_eq!(code, 200);
        let (code, v) = api
            .call(
                "PATCH",
                &one,
                Some((
                    "application/strategic-merge-patch+json",
                    json!({"metadata": {"annotations": {"c": "3"}}}),
                )),
            )
            .await;
        assert_eq!(code, if kind.is_builtin() { 200 } else { 415 }, "{v}");
        if matches!(
            kind,
            Kind::Deployment | Kind::Service | Kind::Pod | Kind::HttpRoute
        ) {
            let status = format!("{one}/status");
            let (_, current) = api.get(&status).await;
            let new_status = match kind {
                Kind::Deployment => {
                    json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1})
                }
                Kind::HttpRoute => json!({"parents": []}),
                Kind::Pod => json!({"phase": "Running"}),
                _ => json!({"loadBalancer": {}}),
            };
            let mut put = current.clone();
            put["status"] = new_status.clone();
            let (code, v) = api
                .call("PUT", &status, Some(("application/json", put)))
                .await;
            assert_eq!(code, 200, "{v}");
            let (code, v) = api.merge(&status, json!({"status": new_status})).await;
            assert_eq!(code, 200, "{v}");
        }
        if kind == Kind::Deployment {
            let scale = format!("{one}/scale");
            let (_, s) = api.get(&scale).await;
            let mut s2 = s.clone();
            s2["spec"]["replicas"] = json!(2);
            let (code, v) = api
                .call("PUT", &scale, Some(("application/json", s2)))
                .await;
            assert_eq!(code, 200, "{v}");
            let (code, v) = api.merge(&scale, json!({"spec": {"replicas": 3}})).await;
            assert_eq!(code, 200, "{v}");
        }
        if kind == Kind::Pod {
            api.text(&format!(
                "{}/log?container=app&timestamps=true&tailLines=1",
                kind.object_path(NS, &pod)
            ))
            .await;
            let since = "2000-01-01T00:00:00Z";
            api.text(&format!(
                "{}/log?sinceTime={since}&limitBytes=100&previous=false",
                kind.object_path(NS, &pod)
            ))
            .await;
            api.text(&format!(
                "{}/log?sinceSeconds=60",
                kind.object_path(NS, &pod)
            ))
            .await;
            let mut follow = api
                .stream(&format!(
                    "{}/log?follow=true&timestamps=true",
                    kind.object_path(NS, &pod)
                ))
                .await;
            assert!(next_line(&mut follow).await.unwrap().ends_with(" started"));
        }
        let (code, _) = api
            .call(
                "DELETE",
                &one,
                Some((
                    "application/json",
                    json!({"preconditions": {"resourceVersion": rv(&api.get(&one).await.1)}}),
                )),
            )
            .await;
        assert_eq!(code, 200);
        // The watch saw it all: ADDED, MODIFIED…, DELETED.
        let mut types = Vec::new();
        while let Some(line) = next_line(&mut w).await {
            let event: Value = serde_json::from_str(&line).unwrap();
            types.push(event["type"].as_str().unwrap().to_string());
            watched.push((kind.kind().to_string(), event.clone()));
            if event["type"] == "DELETED" && event["object"]["metadata"]["name"] == name.as_str() {
                break;
            }
        }
        assert_eq!(
            types.first().map(String::as_str),
            Some("ADDED"),
            "{kind:?}: {types:?}"
        );
        assert_eq!(
            types.last().map(String::as_str),
            Some("DELETED"),
            "{kind:?}: {types:?}"
        );
        // Errors: 404, 409 (stale resourceVersion, already exists).
        api.get(&kind.object_path(NS, "nope")).await;
        let (code, _) = api
            .merge(
                &kind.object_path(NS, "nope"),
                json!({"metadata": {"labels": {"a": "b"}}}),
            )
            .await;
        assert_eq!(code, 404);
    }
    let (code, v) = api.merge(&svc("backend"), json!({"metadata": {"resourceVersion": "1"}, "spec": {"selector": {"version": "green"}}})).await;
    assert_eq!(code, 409, "{v}");

    // Every recorded request and answer against the documents.
    let requests = fake.requests();
    let mut exercised: BTreeSet<(String, String)> = BTreeSet::new();
    let mut schemas_seen: BTreeSet<String> = BTreeSet::new();
    for r in &requests {
        let Some(verb) = r.verb else { continue }; // discovery, /version
        let op = c
            .check_request(&r.method, &r.path, &documented_query(r))
            .unwrap_or_else(|e| panic!("{e}"));
        if !r.body.is_empty() {
            // The fake refuses (415) exactly the content types the
            // documents do not list for the operation.
            let ct = r.content_type.clone().unwrap_or_default();
            let documented = op.request_types.iter().any(|t| *t == ct || t == "*/*");
            assert_eq!(
                documented,
                r.status != 415,
                "{} {}: content type {ct}, answered {}, documented {:?}",
                r.method,
                r.path,
                r.status,
                op.request_types
            );
            let body = r.json_body();
            match op.request_schema.as_deref() {
                Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch") | None => {}
                Some(schema) => {
                    let problems = c.check_schema(&body, schema);
                    assert!(
                        problems.is_empty(),
                        "{} {} body: {problems:?}\n{body:#}",
                        r.method,
                        r.path
                    );
                }
            }
        }
        let answer = r.json_response();
        if r.status >= 400 {
            let problems = c.check_schema(&answer, "io.k8s.apimachinery.pkg.apis.meta.v1.Status");
            assert!(
                problems.is_empty(),
                "{} {}: {problems:?}\n{answer:#}",
                r.method,
                r.path
            );
            assert_eq!(answer["code"], r.status);
            if r.status != 415 {
                exercised.insert(("error".into(), r.status.to_string()));
            }
            continue;
        }
        if r.resource.as_deref() == Some("pods/log") || verb == Verb::Watch {
            exercised.insert((r.resource.clone().unwrap(), verb.as_str().to_string()));
            continue;
        }
        let problems = c.check_object(&answer);
        assert!(
            problems.is_empty(),
            "{} {}?{}: {problems:?}\n{answer:#}",
            r.method,
            r.path,
            r.query
        );
        if let Some(schema) = &op.response_schema {
            if schema != HTTPROUTE && !schema.ends_with("List") {
                assert_eq!(c.check_schema(&answer, schema), Vec::<String>::new());
            }
            schemas_seen.insert(schema.clone());
        }
        for item in answer["items"].as_array().into_iter().flatten() {
            let mut item = item.clone();
            let kind = answer["kind"]
                .as_str()
                .unwrap()
                .trim_end_matches("List")
                .to_string();
            item["apiVersion"] = answer["apiVersion"].clone();
            item["kind"] = json!(kind);
            assert_eq!(c.check_object(&item), Vec::<String>::new(), "{item:#}");
        }
        exercised.insert((r.resource.clone().unwrap(), verb.as_str().to_string()));
    }
    for (kind, event) in &watched {
        assert_eq!(
            c.check_schema(event, "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"),
            Vec::<String>::new()
        );
        let problems = c.check_object(&event["object"]);
        assert!(problems.is_empty(), "{kind} watch event: {problems:?}");
    }
    // Every advertised (resource, verb), leases aside, was walked.
    let missing: Vec<_> = advertised
        .iter()
        .filter(|(res, _)| !res.starts_with("leases"))
        .filter(|a| !exercised.contains(a))
        .collect();
    assert!(missing.is_empty(), "never exercised: {missing:?}");
    for code in ["404", "409"] {
        assert!(exercised.contains(&("error".to_string(), code.to_string())));
    }
    for schema in [
        "io.k8s.api.apps.v1.Deployment",
        "io.k8s.api.autoscaling.v1.Scale",
        "io.k8s.api.core.v1.Service",
        "io.k8s.api.core.v1.Pod",
        "io.k8s.api.core.v1.Event",
        "io.k8s.api.core.v1.ServiceList",
        HTTPROUTE,
    ] {
        assert!(schemas_seen.contains(schema), "never checked {schema}");
    }
}

/// The query without the one parameter the apiserver takes that its
/// OpenAPI document leaves out: `sinceTime` of `pods/log` (a field of
/// `PodLogOptions`, sent by `kubectl logs --since-time` and kube-rs'
/// `LogParams::since_time`; the generated document lists `sinceSeconds`
/// only). `kubectl_logs_follow_reads_streamed_lines` shows kubectl sending it.
fn documented_query(r: &canary_fakes::kubernetes::RecordedRequest) -> String {
    if r.resource.as_deref() != Some("pods/log") {
        return r.query.clone();
    }
    r.query
        .split('&')
        .filter(|p| !p.starts_with("sinceTime="))
        .collect::<Vec<_>>()
        .join("&")
}

/// Errors are `Status` objects with the apiserver's reason and message.
#[tokio::test]
async fn errors_are_status_objects_like_the_apiservers() {
    let c = contracts();
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let api = Api::new(&fake);

    let (code, s) = api.get(&dep("nope")).await;
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(s["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        s["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );

    fake.deny(Verb::Patch, "services");
    let (code, s) = api
        .merge(
            &svc("backend"),
            json!({"spec": {"selector": {"version": "green"}}}),
        )
        .await;
    assert_eq!(code, 403);
    assert_eq!(
        s["message"],
        "services \"backend\" is forbidden: User \"system:serviceaccount:default:canary\" cannot patch \
         resource \"services\" in API group \"\" in the namespace \"prod\""
    );
    fake.deny(Verb::Update, "deployments/scale");
    let (code, s) = api
        .call(
            "PUT",
            &format!("{}/scale", dep("backend-blue")),
            Some(("application/json", json!({"spec": {"replicas": 0}}))),
        )
        .await;
    assert_eq!(code, 403);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("cannot update resource \"deployments/scale\" in API group \"apps\""),
        "{s}"
    );
    fake.allow(Verb::Patch, "services");

    let (code, s) = api
        .merge(
            &svc("backend"),
            json!({"metadata": {"resourceVersion": "3"}}),
        )
        .await;
    assert_eq!(code, 409);
    assert_eq!(
        s["message"],
        "Operation cannot be fulfilled on services \"backend\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    let (code, s) = api
        .call(
            "POST",
            &Kind::Service.collection_path(NS),
            Some(("application/json", objects::service("backend", &[], 80))),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (409, Some("AlreadyExists")));

    fake.seed_weights(NS);
    let (code, s) = api
        .call(
            "PATCH",
            &route("backend"),
            Some((
                "application/strategic-merge-patch+json",
                json!({"spec": {}}),
            )),
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );

    let (code, s) = api
        .call(
            "PATCH",
            &route("backend"),
            Some((
                "application/json-patch+json",
                json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]),
            )),
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")), "{s}");

    let (code, s) = api
        .get(&format!(
            "{}?labelSelector=a%20in%20b",
            Kind::Pod.collection_path(NS)
        ))
        .await;
    assert_eq!(code, 400, "{s}");
    let (code, s) = api
        .get(&format!(
            "{}?fieldSelector=spec.foo%3Db",
            Kind::Event.collection_path(NS)
        ))
        .await;
    assert_eq!(code, 400);
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("field label not supported"),
        "{s}"
    );

    for r in fake.requests() {
        assert!(r.status >= 400, "{} {} {}", r.method, r.path, r.status);
        assert_eq!(
            c.check_schema(
                &r.json_response(),
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
            ),
            Vec::<String>::new()
        );
    }
}

// ---- semantics -------------------------------------------------------------------------------

#[tokio::test]
async fn writes_bump_resource_version_generation_only_on_spec_and_record_managers() {
    let fake = FakeKube::start().await;
    fake.seed_weights(NS);
    let api = Api::new(&fake);
    let before = fake.get(Kind::HttpRoute, NS, "backend").unwrap();
    assert_eq!(before["metadata"]["generation"], 1);
    let rv0: u64 = rv(&before).parse().unwrap();

    // A spec change with the resourceVersion read: generation 2.
    let weights = json!({"metadata": {"resourceVersion": rv(&before)}, "spec": {"rules": [{"backendRefs": [
        {"name": "backend-stable", "port": 80, "weight": 90},
        {"name": "backend-canary", "port": 80, "weight": 10}]}]}});
    let (code, after) = api
        .merge(
            &format!("{}?fieldManager=canary", route("backend")),
            weights.clone(),
        )
        .await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["metadata"]["generation"], 2);
    assert!(rv(&after).parse::<u64>().unwrap() > rv0);
    // Merge patch replaced the rules list whole (RFC 7386).
    assert_eq!(after["spec"]["rules"][0].as_object().unwrap().len(), 1);
    // The same patch again: the resourceVersion is stale now.
    let (code, _) = api.merge(&route("backend"), weights).await;
    assert_eq!(code, 409);
    // The status still names generation 1: pending until the controller.
    assert_eq!(
        after["status"]["parents"][0]["conditions"][0]["observedGeneration"],
        1
    );
    fake.set_route_status(NS, "backend", true, true);
    let done = fake.get(Kind::HttpRoute, NS, "backend").unwrap();
    assert_eq!(
        done["metadata"]["generation"], 2,
        "a status write keeps the generation"
    );
    assert_eq!(
        done["status"]["parents"][0]["conditions"][1]["observedGeneration"],
        2
    );
    // A label change: no new generation.
    api.merge(
        &route("backend"),
        json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(
        fake.get(Kind::HttpRoute, NS, "backend").unwrap()["metadata"]["generation"],
        2
    );
    // The status of a PUT/PATCH to the main resource is ignored; a spec in a status write too.
    api.merge(&route("backend"), json!({"status": {"parents": []}}))
        .await;
    assert_eq!(
        fake.get(Kind::HttpRoute, NS, "backend").unwrap()["status"]["parents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.merge(
        &format!("{}/status", route("backend")),
        json!({"spec": {"hostnames": ["evil.example"]}}),
    )
    .await;
    assert_eq!(
        fake.get(Kind::HttpRoute, NS, "backend").unwrap()["spec"]["hostnames"],
        json!(["backend.example"])
    );

    // managedFields: who set the rules.
    assert_eq!(
        fake.managers_of(Kind::HttpRoute, NS, "backend", "spec.rules"),
        ["canary"]
    );
    assert_eq!(
        fake.managers_of(Kind::HttpRoute, NS, "backend", "spec.parentRefs"),
        ["kubectl-client-side-apply"]
    );
    assert!(fake
        .managers_of(Kind::HttpRoute, NS, "backend", "status.parents")
        .contains(&"fake-gateway-controller".to_string()));
    // Another controller takes the selector over (put_as), and the User-Agent names the manager.
    fake.seed_blue_green(NS);
    fake.put_as(
        "argo-rollouts",
        Kind::Service,
        NS,
        objects::service("backend", &[("app", "backend"), ("version", "green")], 80),
    );
    assert!(fake
        .managers_of(Kind::Service, NS, "backend", "spec.selector")
        .contains(&"argo-rollouts".to_string()));
    let resp = reqwest::Client::new()
        .patch(format!("{}{}", fake.url(), svc("backend")))
        .header("content-type", "application/merge-patch+json")
        .header("user-agent", "canary/0.1.0 (linux)")
        .body(r#"{"spec":{"selector":{"version":"blue"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        fake.managers_of(Kind::Service, NS, "backend", "spec.selector"),
        ["canary"]
    );
    // RFC 7386: the selector's other keys stay.
    assert_eq!(
        fake.get(Kind::Service, NS, "backend").unwrap()["spec"]["selector"],
        json!({"app": "backend", "version": "blue"})
    );
}

#[tokio::test]
async fn strategic_merge_merges_containers_by_name_and_scale_changes_the_deployment() {
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let api = Api::new(&fake);
    let (code, d) = api
        .call(
            "PATCH",
            &dep("backend-green"),
            Some(("application/strategic-merge-patch+json", json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.example/backend:green-2"}]}}}}))),
        )
        .await;
    assert_eq!(code, 200, "{d}");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/backend:green-2");
    assert_eq!(
        c["ports"][0]["containerPort"], 8080,
        "merged by name, the rest kept"
    );
    assert_eq!(d["metadata"]["generation"], 2);

    let (code, s) = api
        .merge(
            &format!("{}/scale", dep("backend-blue")),
            json!({"spec": {"replicas": 0}}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        (s["kind"].as_str(), s["spec"]["replicas"].as_i64()),
        (Some("Scale"), Some(0))
    );
    assert_eq!(s["status"]["selector"], "app=backend,version=blue");
    let blue = fake.get(Kind::Deployment, NS, "backend-blue").unwrap();
    assert_eq!(
        (
            blue["spec"]["replicas"].as_i64(),
            blue["metadata"]["generation"].as_i64()
        ),
        (Some(0), Some(2))
    );
    // Not observed yet; the controller then removes the pods.
    assert_eq!(blue["status"]["observedGeneration"], 1);
    fake.complete_rollout(NS, "backend-blue");
    let pods = api
        .get(&format!(
            "{}?labelSelector=version%3Dblue",
            Kind::Pod.collection_path(NS)
        ))
        .await
        .1;
    assert_eq!(pods["items"].as_array().unwrap().len(), 0);
    let blue = fake.get(Kind::Deployment, NS, "backend-blue").unwrap();
    assert_eq!(blue["status"]["observedGeneration"], 2);
    assert!(
        blue["status"].get("availableReplicas").is_none(),
        "0 is omitted"
    );
    // Scale with a stale resourceVersion: 409.
    let (code, _) = api
        .call("PUT", &format!("{}/scale", dep("backend-blue")), Some(("application/json", json!({"metadata": {"name": "backend-blue", "resourceVersion": "1"}, "spec": {"replicas": 2}}))))
        .await;
    assert_eq!(code, 409);
    // Events of the Deployment by field selector.
    let ev = api
        .get(&format!(
            "{}?fieldSelector=involvedObject.name%3Dbackend-blue,involvedObject.kind%3DDeployment",
            Kind::Event.collection_path(NS)
        ))
        .await
        .1;
    let messages: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1].starts_with("Scaled down replica set backend-blue-"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn watches_start_after_the_resource_version_and_expire_after_compaction() {
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let api = Api::new(&fake);
    let coll = Kind::Deployment.collection_path(NS);
    let (_, list) = api.get(&coll).await;
    let from = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let mut all = api.stream(&format!("{coll}?watch=1")).await;
    let mut after = api
        .stream(&format!("{coll}?watch=true&resourceVersion={from}"))
        .await;
    let mut green = api
        .stream(&format!(
            "{coll}?watch=true&resourceVersion={from}&labelSelector=version%3Dgreen"
        ))
        .await;
    // Without a resourceVersion: the current objects first.
    for _ in 0..2 {
        let e: Value = serde_json::from_str(&next_line(&mut all).await.unwrap()).unwrap();
        assert_eq!(e["type"], "ADDED");
    }
    fake.complete_rollout(NS, "backend-blue"); // a status write: MODIFIED
    api.merge(&dep("backend-green"), json!({"spec": {"replicas": 3}}))
        .await;
    let e: Value = serde_json::from_str(&next_line(&mut after).await.unwrap()).unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("MODIFIED"), Some("backend-blue"))
    );
    let e: Value = serde_json::from_str(&next_line(&mut after).await.unwrap()).unwrap();
    assert_eq!(e["object"]["spec"]["replicas"], 3);
    let e: Value = serde_json::from_str(&next_line(&mut green).await.unwrap()).unwrap();
    assert_eq!(
        e["object"]["metadata"]["name"], "backend-green",
        "the selector filters"
    );
    let e: Value = serde_json::from_str(&next_line(&mut all).await.unwrap()).unwrap();
    assert_eq!(e["type"], "MODIFIED");
    assert!(rv(&e["object"]).parse::<u64>().unwrap() > from.parse::<u64>().unwrap());

    let e: Value = serde_json::from_str(&next_line(&mut all).await.unwrap()).unwrap();
    assert_eq!(e["object"]["metadata"]["name"], "backend-green");
    // close_streams ends them (the client must re-watch).
    fake.close_streams();
    assert_eq!(next_line(&mut all).await, None);
    // After a compaction, an old resourceVersion gets a 410 ERROR event.
    fake.compact_history();
    let mut old = api
        .stream(&format!("{coll}?watch=true&resourceVersion={from}"))
        .await;
    let e: Value = serde_json::from_str(&next_line(&mut old).await.unwrap()).unwrap();
    assert_eq!(
        (e["type"].as_str(), e["object"]["code"].as_i64()),
        (Some("ERROR"), Some(410))
    );
    assert_eq!(next_line(&mut old).await, None);
    // timeoutSeconds ends a quiet watch.
    let started = Instant::now();
    let mut quiet = api
        .stream(&format!(
            "{coll}?watch=true&resourceVersion={}&timeoutSeconds=1",
            fake.resource_version()
        ))
        .await;
    assert_eq!(next_line(&mut quiet).await, None);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn pod_logs_follow_filter_and_end_with_the_pod() {
    let fake = FakeKube::start().await;
    fake.put_pod(
        NS,
        objects::pod("web-1", &[("app", "web")], &["app", "sidecar"]),
    );
    let api = Api::new(&fake);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    fake.append_log(NS, "web-1", "app", "one", t0);
    fake.append_log(NS, "web-1", "sidecar", "proxy up", t0);
    fake.append_log(NS, "web-1", "app", "two", t0 + Duration::from_secs(10));
    let log = |q: &str| format!("{}/log?{q}", Kind::Pod.object_path(NS, "web-1"));

    let (code, text) = api.text(&log("")).await;
    assert_eq!(code, 400, "two containers: name one");
    assert!(
        text.contains(
            "a container name must be specified for pod web-1, choose one of: [app sidecar]"
        ),
        "{text}"
    );
    assert_eq!(api.text(&log("container=app")).await.1, "one\ntwo\n");
    assert_eq!(
        api.text(&log(
            "container=app&timestamps=true&sinceTime=2026-09-21T14:13:25Z"
        ))
        .await
        .1,
        "2026-09-21T14:13:30.000000000Z two\n"
    );
    assert_eq!(api.text(&log("container=app&tailLines=1")).await.1, "two\n");
    assert_eq!(api.text(&log("container=sidecar")).await.1, "proxy up\n");

    let mut follow = api.stream(&log("container=app&follow=true")).await;
    assert_eq!(next_line(&mut follow).await.as_deref(), Some("one"));
    assert_eq!(next_line(&mut follow).await.as_deref(), Some("two"));
    fake.append_log(NS, "web-1", "sidecar", "not mine", SystemTime::now());
    fake.append_log(NS, "web-1", "app", "three", SystemTime::now());
    assert_eq!(next_line(&mut follow).await.as_deref(), Some("three"));
    fake.remove(Kind::Pod, NS, "web-1");
    assert_eq!(
        next_line(&mut follow).await,
        None,
        "the stream ends with the pod"
    );
    assert_eq!(api.text(&log("container=app")).await.0, 404);
}

#[tokio::test]
async fn faults_tokens_delays_and_automatic_controllers() {
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let api = Api::new(&fake);

    fake.fail_next(Verb::Patch, "/api/v1/namespaces/prod/services", 503);
    let (code, s) = api
        .merge(
            &svc("backend"),
            json!({"spec": {"selector": {"version": "green"}}}),
        )
        .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(
        fake.get(Kind::Service, NS, "backend").unwrap()["spec"]["selector"]["version"],
        "blue",
        "nothing applied"
    );
    let (code, _) = api
        .merge(
            &svc("backend"),
            json!({"spec": {"selector": {"version": "green"}}}),
        )
        .await;
    assert_eq!(code, 200, "only once");

    fake.inject(Fault::drop_connection(Some(Verb::Get), "/apis/apps").times(2));
    for _ in 0..2 {
        assert!(
            reqwest::get(format!("{}{}", fake.url(), dep("backend-blue")))
                .await
                .is_err()
        );
    }
    assert_eq!(api.get(&dep("backend-blue")).await.0, 200);
    fake.inject(Fault::status(None, "/api/v1", 500).message("etcdserver: leader changed"));
    let (code, s) = api.get(&svc("backend")).await;
    assert_eq!(
        (code, s["message"].as_str()),
        (500, Some("etcdserver: leader changed"))
    );

    fake.inject(Fault::delay(
        Some(Verb::Get),
        "/api/v1",
        Duration::from_millis(300),
    ));
    let started = Instant::now();
    assert_eq!(api.get(&svc("backend")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    fake.require_token(Some("s3cret"));
    assert_eq!(api.get(&svc("backend")).await.0, 401);
    let ok = reqwest::Client::new()
        .get(format!("{}{}", fake.url(), svc("backend")))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(fake.kubeconfig(NS).contains("token: s3cret"));
    assert!(fake.requests().iter().all(|r| !r.body.contains("s3cret")));
    fake.require_token(None);

    // Automatic controllers: a rollout completes and a route is accepted by themselves.
    fake.set_controllers(Controllers::all(Duration::from_millis(50)));
    api.merge(
        &dep("backend-green"),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "g:2"}]}}}}),
    )
    .await;
    fake.put_deployment(
        NS,
        objects::deployment(
            "backend-stable",
            &[("app", "backend"), ("track", "stable")],
            "s:1",
            1,
        ),
    );
    fake.put_service(
        NS,
        objects::service("backend-stable", &[("track", "stable")], 80),
    );
    fake.put_httproute(
        NS,
        objects::httproute(
            "backend",
            "gateway",
            &[("backend-stable", 1), ("missing", 1)],
        ),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let green = fake.get(Kind::Deployment, NS, "backend-green").unwrap();
    assert_eq!(green["status"]["observedGeneration"], 2);
    assert_eq!(green["status"]["updatedReplicas"], 2);
    let pods: Vec<Value> = fake
        .list(Kind::Pod, NS)
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["version"] == "green")
        .collect();
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "g:2"),
        "new pods of the new template"
    );
    let r = fake.get(Kind::HttpRoute, NS, "backend").unwrap();
    let conds = &r["status"]["parents"][0]["conditions"];
    assert_eq!(
        (conds[0]["status"].as_str(), conds[1]["status"].as_str()),
        (Some("True"), Some("False")),
        "{conds}"
    );
    assert_eq!(conds[1]["reason"], "BackendNotFound");
}

/// The fake's answer time, measured over keep-alive: GET of one object and
/// a merge patch, 200 each (printed; the bound is loose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_latency_of_the_fake() {
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let api = Api::new(&fake);
    let mut gets = Vec::new();
    let mut patches = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        assert_eq!(api.get(&svc("backend")).await.0, 200);
        gets.push(t.elapsed());
        let t = Instant::now();
        let (code, _) = api
            .merge(
                &svc("backend"),
                json!({"metadata": {"labels": {"n": i.to_string()}}}),
            )
            .await;
        assert_eq!(code, 200);
        patches.push(t.elapsed());
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p) as usize]
    };
    let (g50, g99) = (pct(&mut gets, 0.5), pct(&mut gets, 0.99));
    let (p50, p99) = (pct(&mut patches, 0.5), pct(&mut patches, 0.99));
    eprintln!("fake kube latency over 200 requests: GET p50 {g50:?} p99 {g99:?}; PATCH p50 {p50:?} p99 {p99:?}");
    assert!(g50 < Duration::from_millis(50) && p50 < Duration::from_millis(50));
}

// ---- kubectl as the peer -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_selector_weights_tables_and_scales() {
    let fake = FakeKube::start().await;
    let Some(k) = Kubectl::new(&fake, "kubectl_reads_selector_weights_tables_and_scales") else {
        return;
    };
    fake.seed_blue_green(NS);
    fake.seed_weights(NS);

    let out = k.ok(&["version", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.33.0-fake");

    let list: Value =
        serde_json::from_str(&k.ok(&["get", "deploy,svc,httproute", "-o", "json"]).await).unwrap();
    let items = list["items"].as_array().unwrap();
    let find = |kind: &str, name: &str| {
        items
            .iter()
            .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} not in kubectl's list"))
    };
    assert_eq!(
        find("Service", "backend")["spec"]["selector"]["version"],
        "blue"
    );
    assert_eq!(
        find("Deployment", "backend-green")["status"]["availableReplicas"],
        2
    );
    let refs = &find("HTTPRoute", "backend")["spec"]["rules"][0]["backendRefs"];
    assert_eq!(
        (refs[0]["weight"].as_i64(), refs[1]["weight"].as_i64()),
        (Some(100), Some(0))
    );

    // Human output is the server's Table.
    let table = k.ok(&["get", "deploy", "-o", "wide"]).await;
    let blue = table
        .lines()
        .find(|l| l.starts_with("backend-blue "))
        .unwrap();
    let cols: Vec<&str> = blue.split_whitespace().collect();
    assert_eq!(&cols[1..4], ["2/2", "2", "2"], "{table}");
    assert!(blue.contains("registry.example/backend:blue"), "{table}");
    let routes = k.ok(&["get", "httproutes"]).await;
    assert!(
        routes.contains("HOSTNAMES") && routes.contains("backend.example"),
        "{routes}"
    );
    let pods = k
        .ok(&["get", "pods", "-l", "version=green", "-o", "name"])
        .await;
    assert_eq!(pods.lines().count(), 2, "{pods}");
    let events = k
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=backend-green",
        ])
        .await;
    assert!(events.contains("ScalingReplicaSet"), "{events}");

    // kubectl scale goes through /scale.
    k.ok(&["scale", "deployment/backend-green", "--replicas=0"])
        .await;
    let green = fake.get(Kind::Deployment, NS, "backend-green").unwrap();
    assert_eq!(green["spec"]["replicas"], 0);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/deployments/backend-green/scale") && r.method == "PATCH"));
    fake.complete_rollout(NS, "backend-green");
    let (_, out, _) = k.run(&["get", "deploy", "backend-green"]).await;
    assert!(out.contains("0/0"), "{out}");

    // kubectl get -w sees the change.
    let mut watch = k.spawn(&[
        "get",
        "deploy",
        "backend-blue",
        "-w",
        "--output-watch-events",
    ]);
    let mut lines = lines_of(&mut watch);
    let first = next_line(&mut lines).await.unwrap();
    assert!(
        first.contains("EVENT") || first.contains("ADDED"),
        "{first}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.ok(&["scale", "deployment/backend-blue", "--replicas=3"])
        .await;
    fake.complete_rollout(NS, "backend-blue");
    let mut seen = String::new();
    while !seen.contains("3/3") {
        seen = next_line(&mut lines).await.unwrap();
    }
    assert!(seen.starts_with("MODIFIED"), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_play_the_cockpit_and_the_controllers() {
    let fake = FakeKube::start().await;
    let Some(k) = Kubectl::new(
        &fake,
        "kubectl_patches_play_the_cockpit_and_the_controllers",
    ) else {
        return;
    };
    fake.seed_blue_green(NS);
    fake.seed_weights(NS);

    // The blue/green switch, as a merge patch and as kubectl's default strategic merge.
    k.ok(&[
        "patch",
        "svc",
        "backend",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"version":"green"}}}"#,
    ])
    .await;
    assert_eq!(
        fake.get(Kind::Service, NS, "backend").unwrap()["spec"]["selector"],
        json!({"app": "backend", "version": "green"})
    );
    assert_eq!(
        fake.managers_of(Kind::Service, NS, "backend", "spec.selector"),
        ["kubectl-patch"]
    );
    k.ok(&[
        "patch",
        "svc",
        "backend",
        "-p",
        r#"{"spec":{"selector":{"version":"blue"}}}"#,
    ])
    .await;
    let smp = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(
        smp.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    let out = k
        .ok(&[
            "get",
            "svc",
            "backend",
            "-o",
            "jsonpath={.spec.selector.version}",
        ])
        .await;
    assert_eq!(out, "blue");

    // Weights: kubectl patches the HTTPRoute (merge: rules replaced whole).
    k.ok(&["patch", "httproute", "backend", "--type=merge", "-p",
        r#"{"spec":{"rules":[{"backendRefs":[{"name":"backend-stable","port":80,"weight":75},{"name":"backend-canary","port":80,"weight":25}]}]}}"#]).await;
    let weights = k
        .ok(&[
            "get",
            "httproute",
            "backend",
            "-o",
            "jsonpath={.spec.rules[0].backendRefs[*].weight} {.metadata.generation}",
        ])
        .await;
    assert_eq!(weights, "75 25 2");
    // Strategic merge is refused for the custom resource, as on a cluster.
    let (code, _, err) = k
        .run(&[
            "patch",
            "httproute",
            "backend",
            "-p",
            r#"{"spec":{"hostnames":["x.example"]}}"#,
        ])
        .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("application/strategic-merge-patch+json is not supported"),
        "{err}"
    );

    // kubectl plays the Gateway controller: status at the new generation.
    let status = json!({"status": {"parents": [{
    "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gateway"},
    "controllerName": "example.net/kubectl",
    "conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "observedGeneration": 2, "lastTransitionTime": "2026-11-20T10:00:00Z"},
        {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "", "observedGeneration": 2, "lastTransitionTime": "2026-11-20T10:00:00Z"}
    ]}]}});
    k.ok(&[
        "patch",
        "httproute",
        "backend",
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ])
    .await;
    let r = fake.get(Kind::HttpRoute, NS, "backend").unwrap();
    assert_eq!(r["metadata"]["generation"], 2);
    assert_eq!(
        r["status"]["parents"][0]["controllerName"],
        "example.net/kubectl"
    );
    assert!(contracts().check_object(&r).is_empty());

    // ...and the Deployment controller: a rollout that failed.
    let deadline = json!({"status": {"observedGeneration": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"backend-green-x\" has timed out progressing."}]}});
    k.ok(&[
        "patch",
        "deploy",
        "backend-green",
        "--subresource=status",
        "--type=merge",
        "-p",
        &deadline.to_string(),
    ])
    .await;
    let g = fake.get(Kind::Deployment, NS, "backend-green").unwrap();
    assert_eq!(
        g["status"]["conditions"][0]["reason"],
        "ProgressDeadlineExceeded"
    );
    assert_eq!(g["metadata"]["generation"], 1);

    // RBAC: kubectl shows the apiserver's sentence.
    fake.deny(Verb::Patch, "services");
    let (code, _, err) = k
        .run(&[
            "patch",
            "svc",
            "backend",
            "--type=merge",
            "-p",
            r#"{"spec":{"selector":{"version":"green"}}}"#,
        ])
        .await;
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "cannot patch resource \"services\" in API group \"\" in the namespace \"prod\""
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_replace_of_a_stale_object_is_a_conflict_and_strict_validation_refuses_typos() {
    let fake = FakeKube::start().await;
    let Some(k) = Kubectl::new(&fake, "kubectl_replace_of_a_stale_object_is_a_conflict") else {
        return;
    };
    fake.serve_openapi(&contracts_dir()).unwrap();
    fake.seed_blue_green(NS);
    let stale = k.ok(&["get", "svc", "backend", "-o", "json"]).await;
    // Someone switches between our read and our write.
    k.ok(&[
        "patch",
        "svc",
        "backend",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"version":"green"}}}"#,
    ])
    .await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), stale.replace("\"blue\"", "\"purple\"")).unwrap();
    let (code, _, err) = k
        .run(&["replace", "-f", file.path().to_str().unwrap()])
        .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );
    assert_eq!(
        fake.get(Kind::Service, NS, "backend").unwrap()["spec"]["selector"]["version"],
        "green",
        "never overwritten"
    );
    let put = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert!(
        put.query.contains("fieldValidation=Strict"),
        "{}",
        put.query
    );

    // A fresh read replaces fine; a typo is refused by strict validation.
    let fresh = k.ok(&["get", "svc", "backend", "-o", "json"]).await;
    std::fs::write(file.path(), fresh.replace("\"green\"", "\"purple\"")).unwrap();
    k.ok(&["replace", "-f", file.path().to_str().unwrap()])
        .await;
    assert_eq!(
        fake.get(Kind::Service, NS, "backend").unwrap()["spec"]["selector"]["version"],
        "purple"
    );
    let fresh = k.ok(&["get", "svc", "backend", "-o", "json"]).await;
    std::fs::write(file.path(), fresh.replace("\"selector\"", "\"selectr\"")).unwrap();
    let (code, _, err) = k
        .run(&["replace", "-f", file.path().to_str().unwrap()])
        .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.selectr\""),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_follow_reads_streamed_lines() {
    let fake = FakeKube::start().await;
    let Some(k) = Kubectl::new(&fake, "kubectl_logs_follow_reads_streamed_lines") else {
        return;
    };
    fake.seed_blue_green(NS);
    let pod = fake
        .list(Kind::Pod, NS)
        .into_iter()
        .find(|p| p["metadata"]["labels"]["version"] == "green")
        .unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    fake.append_log(
        NS,
        &pod,
        "app",
        "ancient",
        SystemTime::now() - Duration::from_secs(3600),
    );
    fake.append_log(NS, &pod, "app", "before", SystemTime::now());
    let mut child = k.spawn(&["logs", "-f", "--timestamps", &pod]);
    let mut lines = lines_of(&mut child);
    assert!(next_line(&mut lines).await.unwrap().ends_with("Z ancient"));
    assert!(next_line(&mut lines).await.unwrap().ends_with("Z before"));
    for i in 0..3 {
        fake.append_log(
            NS,
            &pod,
            "app",
            &format!("GET /api/health 200 n={i}"),
            SystemTime::now(),
        );
        let line = next_line(&mut lines).await.unwrap();
        assert!(line.ends_with(&format!("n={i}")), "{line}");
    }
    let follow = fake
        .requests()
        .into_iter()
        .find(|r| r.resource.as_deref() == Some("pods/log"))
        .unwrap();
    assert!(
        follow.query.contains("follow=true") && follow.query.contains("timestamps=true"),
        "{}",
        follow.query
    );
    // --since-time is sent as `sinceTime` (not in the OpenAPI document).
    let since =
        chrono::DateTime::<chrono::Utc>::from(SystemTime::now() - Duration::from_secs(1800))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let out = k
        .ok(&["logs", &pod, &format!("--since-time={since}")])
        .await;
    assert!(
        out.starts_with("before\n") && out.ends_with("n=2\n"),
        "{out}"
    );
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.query.contains("sinceTime=")));
    // The pod goes away: the stream ends and kubectl exits.
    fake.remove(Kind::Pod, NS, &pod);
    assert_eq!(next_line(&mut lines).await, None);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

// ---- the shared audit trail as Events ---------------------------------------------------------

/// `[audit] shared = "kubernetes-events"`: one core/v1 Event per journal
/// record on the Service, read back with a fieldSelector on the involved
/// object (another object's Events are not mixed in); every request and
/// answer checked against the documents.
#[tokio::test]
async fn the_shared_audit_trail_as_events_on_the_service_follows_the_documents() {
    use canary::config::KubeMode;
    use canary::journal::shared::kubernetes::KubeEventsAudit;
    use canary::journal::shared::SharedSink;
    use canary::platform::kubernetes::KubeSettings;

    let c = contracts();
    let fake = FakeKube::start().await;
    fake.seed_blue_green(NS);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, NS).unwrap();
    let mode = KubeMode::BlueGreen {
        service: "backend".into(),
        selector_key: "version".into(),
        deployments: [
            ("blue".to_string(), "backend-blue".to_string()),
            ("green".to_string(), "backend-green".to_string()),
        ]
        .into(),
    };
    let mut settings = KubeSettings::new(mode, "backend");
    settings.kubeconfig = Some(kubeconfig);
    settings.namespace = Some(NS.into());
    let sink = KubeEventsAudit::new(settings);
    // Someone else's Event on the same Service: not part of the trail.
    fake.put_event(
        NS,
        objects::event(
            NS,
            ("Service", "backend"),
            "Normal",
            "Updated",
            "by kubectl",
            SystemTime::now(),
        ),
    );
    let records: Vec<Value> = [
        json!({"at": "2026-11-30T10:00:00.000Z", "who": {"user": "alice"}, "service": "backend",
               "event": "note", "message": "release started: pipeline 7"}),
        json!({"at": "2026-11-30T10:00:01.000Z", "who": {"user": "alice"}, "service": "backend",
               "event": "session-end"}),
    ]
    .into();
    sink.write(&records).await.expect("written");
    // Sent again (an unclear answer): the same Events, not two more.
    sink.write(&records[1..]).await.expect("written again");
    let back = sink.read().await.expect("read back");
    let mut got: Vec<Value> = back.iter().map(|r| r.record.clone()).collect();
    got.sort_by_key(|r| r["at"].as_str().unwrap_or_default().to_string());
    assert_eq!(got, records);
    assert!(
        back.iter().all(|r| r.driver.starts_with("alice@")),
        "{back:?}"
    );
    let stored = fake.list(Kind::Event, NS);
    let ours: Vec<&Value> = stored
        .iter()
        .filter(|e| e["metadata"]["labels"]["canary.dev/audit"] == "true")
        .collect();
    assert_eq!(ours.len(), 2);
    assert_eq!(ours[0]["involvedObject"]["kind"], "Service");
    assert_eq!(ours[0]["involvedObject"]["name"], "backend");
    assert_eq!(ours[0]["reason"], "note");
    assert!(
        ours[0]["message"].as_str().unwrap().contains("pipeline 7"),
        "{}",
        ours[0]
    );
    for r in fake.requests() {
        if r.verb.is_none() {
            continue;
        }
        let op = c
            .check_request(&r.method, &r.path, &documented_query(&r))
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(schema) = op.request_schema.as_deref().filter(|_| !r.body.is_empty()) {
            let problems = c.check_schema(&r.json_body(), schema);
            assert!(problems.is_empty(), "{} {}: {problems:?}", r.method, r.path);
        }
        if r.status == 409 {
            continue; // the record sent again: AlreadyExists, a Status
        }
        assert!(r.status < 400, "{} {}: {}", r.method, r.path, r.response);
        let problems = c.check_object(&r.json_response());
        assert!(problems.is_empty(), "{} {}: {problems:?}", r.method, r.path);
    }
}
