//! `platform = "kubernetes"` against the fake API server
//! (`canary_fakes::kubernetes`), with the real `kubectl` as the independent
//! peer: blue/green by a Service's selector, weights on an HTTPRoute, the
//! scripting commands, conflicts, controllers, RBAC, keep-warm, logs; the
//! binary in a pty (`support::tty`). The screen's Kubernetes parts and
//! keep-warm in `update`: `tests/core/kubernetes.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use canary::config::{Config, KubeMode};
use canary::core::error::BackendError;
use canary::core::model::TrafficSplit;
use canary::logs::LogSource;
use canary::platform::kubernetes::logs::KubeLogs;
use canary::platform::kubernetes::{KubePlatform, KubeSettings};
use canary::platform::Platform;
use canary_fakes::kubernetes::{Controllers, FakeKube, Fault, Kind, Verb};
use serde_json::{json, Value};

use crate::support::local_stack::{free_port, require, SampleApp};
use crate::support::run::canary_async;
use crate::support::tty::{row, Tty};

const NS: &str = "shop";

/// The newest versioned kubectl of the Google Cloud CLI (the `/usr/bin`
/// dispatcher asks `/version` first), else `kubectl` on PATH.
fn kubectl() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/google-cloud-sdk/bin")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, e.path()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("kubectl"))
                .find(|p| p.is_file())
        })
    })
}

/// A test's world: the fake, a kubeconfig, a config, a HOME.
struct World {
    fake: FakeKube,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let fake = FakeKube::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        fake.write_kubeconfig(&dir.path().join("kubeconfig"), NS)
            .expect("kubeconfig");
        World { fake, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn journal(&self) -> String {
        let dir = self.dir.path().join("journal");
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }

    /// Writes the config (`kubernetes` holds the section's mode keys) and
    /// returns its path.
    fn config(&self, kubernetes: &str, more: &str) -> PathBuf {
        let path = self.dir.path().join("canary.toml");
        std::fs::write(
            &path,
            format!(
                "[service]\nplatform = \"kubernetes\"\nname = \"backend\"\n\n\
                 [kubernetes]\nkubeconfig = \"{}\"\nnamespace = \"{NS}\"\ntimeout = \"3s\"\n{kubernetes}\n\n\
                 [journal]\ndir = \"{}\"\n{more}",
                self.kubeconfig().display(),
                self.dir.path().join("journal").display()
            ),
        )
        .expect("config");
        path
    }

    fn blue_green_config(&self) -> PathBuf {
        self.config(
            "mode = \"blue-green\"\nkeep_warm = \"2s\"\napply_timeout = \"10s\"",
            "",
        )
    }

    fn weights_config(&self) -> PathBuf {
        self.config(
            "mode = \"weights\"\nroute = \"backend\"\napply_timeout = \"3s\"\n\
             backends = { backend-stable = \"backend-stable\", backend-canary = \"backend-canary\" }",
            "",
        )
    }

    /// The platform the binary would build from `config`.
    fn platform(&self, config: &Path) -> KubePlatform {
        let c = Config::load(config).expect("valid config");
        let mut s: KubeSettings = canary::app::kubernetes_settings(&c).expect("settings");
        s.poll = Duration::from_millis(50);
        KubePlatform::new(s)
    }

    /// Runs the binary (off the runtime the fake serves on).
    async fn canary(&self, args: &[&str]) -> (i32, String, String) {
        canary_async(self.dir.path(), args, &[]).await
    }

    /// Runs kubectl against the fake; `None` when there is no kubectl.
    async fn kubectl(&self, args: &[&str]) -> Option<(bool, String, String)> {
        let bin = kubectl()?;
        let kubeconfig = self.kubeconfig();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(bin)
                .args(&args)
                .env("KUBECONFIG", kubeconfig)
                .output()
                .expect("run kubectl")
        })
        .await
        .expect("join");
        Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// kubectl's `-o jsonpath` of an object (the test fails if kubectl fails).
    async fn read(&self, what: &str, jsonpath: &str) -> Option<String> {
        let (ok, out, err) = self
            .kubectl(&["get", what, "-n", NS, "-o", &format!("jsonpath={jsonpath}")])
            .await?;
        assert!(ok, "kubectl get {what}: {err}");
        Some(out)
    }

    fn selector_version(&self) -> String {
        self.fake
            .get(Kind::Service, NS, "backend")
            .map(|s| {
                s["spec"]["selector"]["version"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    }

    fn replicas(&self, deployment: &str) -> i64 {
        self.fake
            .get(Kind::Deployment, NS, deployment)
            .and_then(|d| d["spec"]["replicas"].as_i64())
            .unwrap_or(-1)
    }
}

fn skipped(why: &str) {
    eprintln!("SKIPPED (kubectl part): {why}");
}

/// `set_traffic` on its own task: the test acts on the fake meanwhile.
fn set_in_background(
    p: &Arc<KubePlatform>,
    to: TrafficSplit,
    expect: &canary::core::model::Version,
) -> tokio::task::JoinHandle<Result<canary::core::model::ServiceSnapshot, BackendError>> {
    let (p, expect) = (p.clone(), expect.clone());
    tokio::spawn(async move { p.set_traffic(&to, &expect).await })
}

fn all_to(rev: &str) -> TrafficSplit {
    TrafficSplit::all_to(rev)
}

fn split(p: &[(&str, u32)]) -> TrafficSplit {
    TrafficSplit::new(p.iter().map(|(r, v)| (*r, *v))).expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_status_set_rollback_with_the_binary_and_kubectl_reads_back() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let config = w.blue_green_config();
    let c = config.to_str().expect("utf-8");

    let (code, out, err) = w.canary(&["--config", c, "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["platform"]["kind"], "kubernetes");
    assert_eq!(
        status["traffic"],
        json!([{"revision": "backend-blue", "percent": 100}])
    );
    assert_eq!(status["stable"], "backend-blue");
    assert_eq!(status["canary"], "backend-green");
    let green = status["revisions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "backend-green"))
        .expect("green");
    assert_eq!(green["image"], "registry.example/backend:green");
    assert_eq!(green["tag"], "green");
    assert_eq!(green["ready"], true);

    // A split is refused with a sentence, never rounded, nothing sent.
    w.fake.clear_requests();
    let (code, _, err) = w.canary(&["--config", c, "set", "green=10", "--yes"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot be done"), "{err}");
    assert!(err.contains("sends all traffic to one colour"), "{err}");
    assert!(
        !w.fake.requests().iter().any(|r| r.method == "PATCH"),
        "nothing sent for a refused split"
    );
    assert_eq!(w.selector_version(), "blue");

    // The switch, by colour (the tag).
    let (code, out, err) = w
        .canary(&["--config", c, "set", "green=100", "--yes"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !format!("{out}{err}").contains("jump"),
        "blue/green moves all at once: no 'jump' to warn about\n{out}{err}"
    );
    assert_eq!(w.selector_version(), "green");
    match w.read("service/backend", "{.spec.selector}").await {
        Some(sel) => {
            let sel: Value = serde_json::from_str(&sel).expect("selector json");
            assert_eq!(sel, json!({"app": "backend", "version": "green"}));
        }
        None => skipped("no kubectl"),
    }
    let journal = w.journal();
    assert!(journal.contains("\"traffic-requested\""), "{journal}");
    assert!(journal.contains("\"traffic-applied\""), "{journal}");

    // Rollback goes back to the colour that served before the switch.
    let (code, out, err) = w.canary(&["--config", c, "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["stable"], "backend-blue", "{out}");
    assert_eq!(status["stable_from"], "platform", "{out}");
    let (code, out, err) = w.canary(&["--config", c, "rollback", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("backend-blue 100%"), "{out}");
    assert_eq!(w.selector_version(), "blue");
    if let Some(v) = w.read("service/backend", "{.spec.selector.version}").await {
        assert_eq!(v, "blue");
    }
    // Rolled back: nothing further to roll back to.
    let (code, out, err) = w.canary(&["--config", c, "rollback", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing to change"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_set_and_rollback_read_back_by_kubectl() {
    let w = World::start().await;
    w.fake.seed_weights(NS);
    w.fake
        .set_controllers(Controllers::all(Duration::from_millis(100)));
    let config = w.weights_config();
    let c = config.to_str().expect("utf-8");

    let (code, out, err) = w
        .canary(&["--config", c, "set", "backend-canary=25", "--yes"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let route = w.fake.get(Kind::HttpRoute, NS, "backend").expect("route");
    let weights: Vec<(String, i64)> = route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .expect("refs")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("").to_string(),
                b["weight"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        weights,
        vec![
            ("backend-stable".to_string(), 75),
            ("backend-canary".to_string(), 25)
        ]
    );
    // The rule's other fields survive (rules is an atomic list, sent whole).
    assert_eq!(
        route["spec"]["rules"][0]["matches"][0]["path"]["value"],
        json!("/")
    );
    match w
        .read(
            "httproute/backend",
            "{.spec.rules[0].backendRefs[*].weight}",
        )
        .await
    {
        Some(v) => assert_eq!(v, "75 25"),
        None => skipped("no kubectl"),
    }
    let (code, out, err) = w.canary(&["--config", c, "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        status["traffic"],
        json!([{"revision": "backend-stable", "percent": 75}, {"revision": "backend-canary", "percent": 25}])
    );
    assert_eq!(status["reconciling"], false);

    let (code, out, err) = w.canary(&["--config", c, "rollback", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    if let Some(v) = w
        .read(
            "httproute/backend",
            "{.spec.rules[0].backendRefs[*].weight}",
        )
        .await
    {
        assert_eq!(v, "100 0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_weights_set_by_kubectl_read_as_percentages() {
    let w = World::start().await;
    w.fake.seed_weights(NS);
    let p = w.platform(&w.weights_config());
    let patch = json!({"spec": {"rules": [{
    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
    "backendRefs": [
        {"group": "", "kind": "Service", "name": "backend-stable", "port": 80, "weight": 9},
        {"group": "", "kind": "Service", "name": "backend-canary", "port": 80, "weight": 1}
    ]}]}});
    match w
        .kubectl(&[
            "patch",
            "httproute",
            "backend",
            "-n",
            NS,
            "--type=merge",
            "-p",
            &patch.to_string(),
        ])
        .await
    {
        Some((ok, _, err)) => assert!(ok, "{err}"),
        None => {
            skipped("no kubectl: patched through the fake instead");
            let mut r = w.fake.get(Kind::HttpRoute, NS, "backend").expect("route");
            r["spec"]["rules"] = patch["spec"]["rules"].clone();
            w.fake.put_httproute(NS, r);
        }
    }
    let snap = p.snapshot().await.expect("snapshot");
    assert_eq!(
        snap.traffic,
        split(&[("backend-stable", 90), ("backend-canary", 10)])
    );
    // The spec changed and no Gateway has seen it yet: pending.
    assert!(snap.reconciling, "{snap:?}");
    assert!(
        snap.message
            .as_deref()
            .is_some_and(|m| m.contains("pending")),
        "{snap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weights_change_is_pending_until_every_gateway_accepts_it() {
    let w = World::start().await;
    w.fake.seed_weights(NS);
    let p = Arc::new(w.platform(&w.weights_config()));
    let snap = p.snapshot().await.expect("snapshot");
    let task = set_in_background(
        &p,
        split(&[("backend-stable", 90), ("backend-canary", 10)]),
        &snap.version,
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!task.is_finished(), "done before any Gateway accepted it");
    let during = p.snapshot().await.expect("snapshot");
    assert!(during.reconciling);
    // The Gateway controller accepts the new generation.
    w.fake.set_route_status(NS, "backend", true, true);
    let done = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("in time")
        .expect("join")
        .expect("applied");
    assert_eq!(
        done.traffic,
        split(&[("backend-stable", 90), ("backend-canary", 10)])
    );
    assert!(!done.reconciling);

    // A Gateway that refuses (a backend it cannot resolve) fails the change.
    let snap = p.snapshot().await.expect("snapshot");
    let task = set_in_background(
        &p,
        split(&[("backend-stable", 50), ("backend-canary", 50)]),
        &snap.version,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.fake.set_route_status(NS, "backend", true, false);
    let err = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("in time")
        .expect("join")
        .expect_err("refused");
    assert!(matches!(err, BackendError::Failed(_)), "{err}");
    assert!(err.to_string().contains("ResolvedRefs is False"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubectl_patch_between_read_and_write_is_never_overwritten() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let p = w.platform(&w.blue_green_config());
    let read = p.snapshot().await.expect("snapshot");
    let other = json!({"spec": {"selector": {"app": "backend", "version": "green"}}}).to_string();
    match w
        .kubectl(&["patch", "service", "backend", "-n", NS, "-p", &other])
        .await
    {
        Some((ok, _, err)) => assert!(ok, "{err}"),
        None => {
            skipped("no kubectl: patched through the fake instead");
            let mut s = w.fake.get(Kind::Service, NS, "backend").expect("svc");
            s["spec"]["selector"]["version"] = json!("green");
            w.fake.put_service(NS, s);
        }
    }
    // The cockpit decided on the old read: refused, nothing overwritten.
    let err = p
        .set_traffic(&all_to("backend-blue"), &read.version)
        .await
        .expect_err("conflict");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(w.selector_version(), "green");

    // The race the re-read cannot see: kubectl writes while the cockpit's
    // PATCH is on its way; the apiserver's resourceVersion check refuses it.
    let read = p.snapshot().await.expect("snapshot");
    w.fake.inject(Fault::delay(
        Some(Verb::Patch),
        "/api/v1/namespaces/shop/services/backend",
        Duration::from_millis(800),
    ));
    let p = Arc::new(p);
    let task = set_in_background(&p, all_to("backend-blue"), &read.version);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut s = w.fake.get(Kind::Service, NS, "backend").expect("svc");
    s["metadata"]["labels"] = json!({"touched": "by-someone"});
    w.fake.put_service(NS, s);
    let err = task.await.expect("join").expect_err("409");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(w.selector_version(), "green");
    let patches: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.last().map(|r| r.status), Some(409));
    let body = patches.last().map(|r| r.json_body()).unwrap_or_default();
    assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
    assert_eq!(
        body["spec"]["selector"],
        json!({"app": "backend", "version": "blue"})
    );
}

const SERVICE_PATH: &str = "/api/v1/namespaces/shop/services/backend";
const ROUTE_PATH: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/backend";

/// Waits (up to 5 s) until `cond` holds on the fake.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A write whose answer is lost (5xx, a dropped connection, a timeout after
/// the apiserver stored it) is read back: applied, not applied, or NOT
/// KNOWN — never a plain failure of a write that landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_whose_answer_is_lost_is_read_back() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let p = Arc::new(w.platform(&w.blue_green_config()));

    // Stored, then answered 503: kube's client sends the patch again by
    // itself, which gets a 409 (the resourceVersion moved: by our own
    // write). Read back, applied.
    let read = p.snapshot().await.expect("snapshot");
    w.fake
        .inject(Fault::status(Some(Verb::Patch), SERVICE_PATH, 503).after_write());
    let snap = p
        .set_traffic(&all_to("backend-green"), &read.version)
        .await
        .expect("read back: applied");
    assert_eq!(snap.traffic, all_to("backend-green"));
    assert_eq!(w.selector_version(), "green");
    let answers: Vec<u16> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(answers, vec![503, 409], "the client's own retry");

    // Stored, then the connection dropped: read back, applied.
    let read = p.snapshot().await.expect("snapshot");
    w.fake
        .inject(Fault::drop_connection(Some(Verb::Patch), SERVICE_PATH).after_write());
    let snap = p
        .set_traffic(&all_to("backend-blue"), &read.version)
        .await
        .expect("read back: applied");
    assert_eq!(w.selector_version(), "blue");

    // 500 before it was stored: read back unchanged, said so.
    w.fake
        .inject(Fault::status(Some(Verb::Patch), SERVICE_PATH, 500));
    let err = p
        .set_traffic(&all_to("backend-green"), &snap.version)
        .await
        .expect_err("not applied");
    assert!(err.to_string().contains("not applied"), "{err}");
    assert!(!matches!(err, BackendError::Unconfirmed { .. }), "{err}");
    assert_eq!(w.selector_version(), "blue");

    // Stored and answered, but the Service cannot be read back: NOT KNOWN
    // (it was a plain "unavailable" failure, journaled as not applied).
    let read = p.snapshot().await.expect("snapshot");
    w.fake.inject(
        Fault::delay(Some(Verb::Patch), SERVICE_PATH, Duration::from_millis(500)).after_write(),
    );
    let task = set_in_background(&p, all_to("backend-green"), &read.version);
    until("the selector stored", || w.selector_version() == "green").await;
    w.fake
        .inject(Fault::status(Some(Verb::Get), SERVICE_PATH, 503).times(3));
    let err = task.await.expect("join").expect_err("not read back");
    assert!(
        matches!(err, BackendError::Unconfirmed { .. }),
        "a switch that landed is not a failure: {err}"
    );
    assert!(err.to_string().contains("could not be read back"), "{err}");
}

/// A rollback to a colour scaled to 0: the scale-up's answer is lost after
/// it was stored (read back: go on, switch); the selector patch is refused
/// after the scale-up (the error says the colour was scaled up and keeps
/// running, so its journal record does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_scale_down_is_never_half_applied_unsaid() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    w.fake
        .set_controllers(Controllers::all(Duration::from_millis(100)));
    let p = w.platform(&w.blue_green_config());
    let read = p.snapshot().await.expect("snapshot");
    let switched = p
        .set_traffic(&all_to("backend-green"), &read.version)
        .await
        .expect("switch");
    assert_eq!(
        switched.extra.keep_warm.map(|k| k.revision).as_deref(),
        Some("backend-blue")
    );

    // The scale-down's answer is lost after it was stored: read back, done.
    let blue = "/apis/apps/v1/namespaces/shop/deployments/backend-blue";
    w.fake
        .inject(Fault::drop_connection(Some(Verb::Patch), blue).after_write());
    let done = p.scale_down("backend-blue").await.expect("read back at 0");
    assert!(done.contains("2 → 0"), "{done}");
    assert_eq!(w.replicas("backend-blue"), 0);

    // The selector patch is refused after the scale-up: said.
    let snap = p.snapshot().await.expect("snapshot");
    w.fake
        .inject(Fault::status(Some(Verb::Patch), SERVICE_PATH, 409));
    let err = p
        .set_traffic(&all_to("backend-blue"), &snap.version)
        .await
        .expect_err("409");
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string()
            .contains("backend-blue was scaled up to 2 for it and keeps running"),
        "{err}"
    );
    assert_eq!(w.replicas("backend-blue"), 2);
    assert_eq!(w.selector_version(), "green");

    // Down again; the scale-up's answer is lost after it was stored: read
    // back, waited for, switched.
    p.scale_down("backend-blue").await.expect("scaled");
    let snap = p.snapshot().await.expect("snapshot");
    w.fake
        .inject(Fault::status(Some(Verb::Patch), blue, 500).after_write());
    let back = p
        .set_traffic(&all_to("backend-blue"), &snap.version)
        .await
        .expect("rolled back");
    assert_eq!(back.traffic, all_to("backend-blue"));
    assert_eq!(w.replicas("backend-blue"), 2);
    assert_eq!(w.selector_version(), "blue");
}

/// Weights written, then the route cannot be read while waiting for the
/// Gateways: NOT KNOWN, not a failure of a write that landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_written_then_unreadable_are_not_known() {
    let w = World::start().await;
    w.fake.seed_weights(NS);
    let p = Arc::new(w.platform(&w.weights_config()));
    let snap = p.snapshot().await.expect("snapshot");
    let task = set_in_background(
        &p,
        split(&[("backend-stable", 90), ("backend-canary", 10)]),
        &snap.version,
    );
    until("the weights stored", || {
        w.fake
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 200)
    })
    .await;
    w.fake
        .inject(Fault::status(Some(Verb::Get), ROUTE_PATH, 500).times(50));
    let err = task.await.expect("join").expect_err("not read back");
    assert!(matches!(err, BackendError::Unconfirmed { .. }), "{err}");
    assert!(err.to_string().contains("has the new weights"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_controller_makes_the_service_read_only() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let config = w.blue_green_config();
    let c = config.to_str().expect("utf-8");
    let mut s = w.fake.get(Kind::Service, NS, "backend").expect("svc");
    s["metadata"]["annotations"] =
        json!({"argo-rollouts.argoproj.io/managed-by-rollouts": "backend"});
    w.fake.put_as("argo-rollouts", Kind::Service, NS, s);
    let (code, out, err) = w.canary(&["--config", c, "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("managed by Argo Rollouts"), "{out}");
    let (code, _, err) = w
        .canary(&["--config", c, "set", "green=100", "--yes"])
        .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("read-only: Service backend is managed by Argo Rollouts"),
        "{err}"
    );
    assert_eq!(w.selector_version(), "blue");

    // Flagger owns the route it generates.
    let w = World::start().await;
    w.fake.seed_weights(NS);
    let mut r = w.fake.get(Kind::HttpRoute, NS, "backend").expect("route");
    r["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "backend",
        "uid": "6d1c2c52-0000-4000-8000-000000000001", "controller": true
    }]);
    w.fake.put_httproute(NS, r);
    let p = w.platform(&w.weights_config());
    let snap = p.snapshot().await.expect("snapshot");
    let why = snap.extra.read_only.clone().expect("read-only");
    assert!(why.contains("Flagger Canary backend"), "{why}");
    let err = p
        .set_traffic(
            &split(&[("backend-stable", 50), ("backend-canary", 50)]),
            &snap.version,
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("does not fight"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_verb_resource_and_namespace() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    w.fake.deny(Verb::Patch, "services");
    let config = w.blue_green_config();
    let (code, _, err) = w
        .canary(&[
            "--config",
            config.to_str().expect("utf-8"),
            "set",
            "green=100",
            "--yes",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("may not patch services in namespace shop"),
        "{err}"
    );
    assert!(
        err.contains("kubectl auth can-i patch services -n shop"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_warm_scale_down_then_a_rollback_scales_up_first() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let p = w.platform(&w.blue_green_config());
    let read = p.snapshot().await.expect("snapshot");
    assert!(
        read.extra.keep_warm.is_none(),
        "nothing kept warm before a switch"
    );
    let before = chrono::Utc::now();
    let snap = p
        .set_traffic(&all_to("backend-green"), &read.version)
        .await
        .expect("switch");
    let kw = snap.extra.keep_warm.clone().expect("blue kept warm");
    assert_eq!(kw.revision, "backend-blue");
    assert_eq!(kw.replicas, 2);
    let left = (kw.until - before).num_milliseconds();
    assert!((1_500..=2_500).contains(&left), "keep_warm 2s: {left} ms");
    assert_eq!(snap.extra.rollback_to.as_deref(), Some("backend-blue"));

    // A fresh platform (a restarted cockpit) sees the same countdown.
    let again = w
        .platform(&w.blue_green_config())
        .snapshot()
        .await
        .expect("snapshot");
    assert_eq!(again.extra.keep_warm, Some(kw.clone()));

    let done = p.scale_down("backend-green").await.expect_err("serves");
    assert!(done.to_string().contains("serves the traffic"), "{done}");
    let done = p.scale_down("backend-blue").await.expect("scaled");
    assert!(done.contains("2 → 0"), "{done}");
    assert_eq!(w.replicas("backend-blue"), 0);
    let snap = p.snapshot().await.expect("snapshot");
    assert!(snap.extra.keep_warm.is_none());
    assert_eq!(snap.extra.rollback_to.as_deref(), Some("backend-blue"));

    // Rollback after the scale-down: up to 2 again, available, then the selector.
    w.fake
        .set_controllers(Controllers::all(Duration::from_millis(300)));
    w.fake.clear_requests();
    let back = p
        .set_traffic(&all_to("backend-blue"), &snap.version)
        .await
        .expect("rolled back");
    assert_eq!(back.traffic, all_to("backend-blue"));
    assert_eq!(w.replicas("backend-blue"), 2);
    assert_eq!(w.selector_version(), "blue");
    let writes: Vec<String> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        writes,
        vec![
            "/apis/apps/v1/namespaces/shop/deployments/backend-blue".to_string(),
            "/api/v1/namespaces/shop/services/backend".to_string()
        ]
    );
}

/// A pipeline that switched with `canary set` scales the old colour down
/// with `canary prune` once its keep-warm is over (before that, prune
/// keeps it: a rollback to it stays instant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_scales_the_old_colour_down_with_prune_after_keep_warm() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let config = w.blue_green_config();
    let c = config.to_str().expect("utf-8");
    let (code, out, err) = w
        .canary(&["--config", c, "set", "green=100", "--yes"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(w.replicas("backend-blue"), 2);

    // Within keep_warm (2 s): kept.
    let (code, out, err) = w.canary(&["--config", c, "prune", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("keep    backend-blue (2 replicas) kept warm until"),
        "{out}"
    );
    assert_eq!(w.replicas("backend-blue"), 2, "kept warm: not scaled");

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // The dry run names the calls and changes nothing.
    let (code, out, err) = w.canary(&["--config", c, "prune", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("scale   backend-blue to 0 replicas"), "{out}");
    assert!(
        out.contains("kubectl scale deployment/backend-blue --replicas=0 -n shop"),
        "{out}"
    );
    assert_eq!(w.replicas("backend-blue"), 2, "a dry run changes nothing");
    // Without --yes and no terminal: refused, nothing sent.
    let (code, _, err) = w.canary(&["--config", c, "prune"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(w.replicas("backend-blue"), 2);

    let (code, out, err) = w.canary(&["--config", c, "prune", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(w.replicas("backend-blue"), 0);
    if let Some(n) = w.read("deployment/backend-blue", "{.spec.replicas}").await {
        assert_eq!(n, "0", "kubectl reads the scale-down back");
    }
    let journal = w.journal();
    assert!(
        journal.contains("scale-down done (by script)"),
        "journaled: {journal}"
    );
    // Nothing kept warm any more: nothing to do, and a rollback scales
    // blue up first (tested in keep_warm_scale_down_then_a_rollback_…).
    let (code, out, err) = w.canary(&["--config", c, "prune", "--yes"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("nothing to prune: no colour is kept warm"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_show_rollout_state_and_events() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    w.fake.fail_rollout(
        NS,
        "backend-green",
        "ReplicaSet \"backend-green-7d4b9c\" has timed out progressing.",
    );
    w.fake.put_event(
        NS,
        canary_fakes::kubernetes::objects::event(
            NS,
            ("Deployment", "backend-green"),
            "Warning",
            "ProgressDeadlineExceeded",
            "Deployment does not have minimum availability.",
            SystemTime::now(),
        ),
    );
    let config = w.blue_green_config();
    let p = w.platform(&config);
    let snap = p.snapshot().await.expect("snapshot");
    let green = snap.revision("backend-green").expect("green");
    assert!(!green.ready);
    assert!(
        green
            .status_message
            .as_deref()
            .is_some_and(|m| m.contains("ProgressDeadlineExceeded")),
        "{green:?}"
    );
    let details = &green.details.platform;
    assert!(
        details
            .iter()
            .any(|(k, v)| k == "event" && v.contains("Warning ProgressDeadlineExceeded")),
        "{details:?}"
    );
    assert!(details
        .iter()
        .any(|(k, v)| k == "replicas" && v.contains("of 2 desired")));
    // `canary describe` (and Enter on screen: the same lines) tells it as
    // for every platform: conditions, environment (the Secret by name and
    // key only), limits, port, then what Kubernetes adds.
    let (code, out, err) = w
        .canary(&[
            "--config",
            config.to_str().expect("utf-8"),
            "describe",
            "backend-green",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    for expected in [
        "✗ Progressing: ReplicaSet \"backend-green-7d4b9c\" has timed out progressing. [ProgressDeadlineExceeded]",
        "DB_PASSWORD   secret db/password (value not shown)",
        "LOG_LEVEL     info",
        "cpu limit     500m",
        "memory limit  256Mi",
        "port          8080",
        "\nPlatform\n",
        "deployment    backend-green (colour green, namespace shop)",
        "Warning ProgressDeadlineExceeded",
    ] {
        assert!(out.contains(expected), "{expected:?} not in\n{out}");
    }
    // The guardrail: no traffic to a colour that is not ready.
    let (code, _, err) = w
        .canary(&[
            "--config",
            config.to_str().expect("utf-8"),
            "set",
            "green=100",
            "--yes",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("is not ready"), "{err}");
    assert_eq!(w.selector_version(), "blue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_follow_reconnect_and_pods_joining_without_duplicates() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let p = Arc::new(w.platform(&w.blue_green_config()));
    let pods: Vec<(String, String)> = w
        .fake
        .list(Kind::Pod, NS)
        .into_iter()
        .map(|pod| {
            (
                pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
                pod["spec"]["containers"][0]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(pods.len(), 4, "{pods:?}");
    let mut logs = KubeLogs::start(p.clone(), Duration::from_millis(200));
    let t0 = SystemTime::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    for (i, (pod, container)) in pods.iter().enumerate() {
        w.fake.append_log(
            NS,
            pod,
            container,
            &format!("{{\"severity\":\"INFO\",\"message\":\"hello {i}\"}}"),
            at(i as u64),
        );
    }
    let mut seen: Vec<String> = Vec::new();
    fn collect(seen: &mut Vec<String>, batch: Vec<canary::core::model::LogEntry>) {
        for e in batch {
            seen.push(format!("{}:{}", e.revision.unwrap_or_default(), e.message));
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        collect(&mut seen, logs.poll().await.unwrap_or_default());
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter().any(|s| s.starts_with("backend-blue:hello")),
        "{seen:?}"
    );

    // The streams end (an apiserver restart); lines written meanwhile come
    // once after the reconnect, the earlier ones not again.
    w.fake.close_streams();
    let (pod, container) = &pods[0];
    w.fake.append_log(
        NS,
        pod,
        container,
        "{\"severity\":\"ERROR\",\"message\":\"after\"}",
        at(1_000),
    );
    // A new pod joins (a scale-up).
    let mut d = w
        .fake
        .get(Kind::Deployment, NS, "backend-green")
        .expect("green");
    d["spec"]["replicas"] = json!(3);
    w.fake.put_deployment(NS, d);
    w.fake.complete_rollout(NS, "backend-green");
    let new_pod = w
        .fake
        .list(Kind::Pod, NS)
        .into_iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .find(|n| !pods.iter().any(|(p, _)| p == n))
        .expect("a new pod");
    tokio::time::sleep(Duration::from_millis(800)).await;
    w.fake.append_log(
        NS,
        &new_pod,
        "app",
        "{\"message\":\"from the new pod\"}",
        at(2_000),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.len() < 6 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        collect(&mut seen, logs.poll().await.unwrap_or_default());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    collect(&mut seen, logs.poll().await.unwrap_or_default());
    assert_eq!(seen.len(), 6, "no duplicates, nothing lost: {seen:?}");
    assert_eq!(seen.iter().filter(|s| s.ends_with(":after")).count(), 1);
    assert!(
        seen.iter().any(|s| s == "backend-green:from the new pod"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_builds_the_modes() {
    let w = World::start().await;
    let c = Config::load(&w.blue_green_config()).expect("valid");
    let k = c.kubernetes.expect("section");
    assert!(matches!(k.mode, KubeMode::BlueGreen { .. }));
    assert_eq!(c.plan.steps.len(), 1, "blue/green's plan is the switch");
}

/// The real binary in a pseudo-terminal (a small copy of the harness the
/// other end-to-end tests use, so this file stands alone).
/// Blue/green on the screen: switch with `P`, roll back with `r` while the
/// old colour is warm, switch again, the keep-warm countdown ends and the
/// question is answered `y` (scaled to 0, journaled), then a rollback scales
/// it back up before the selector moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_on_the_screen_switch_rollback_keep_warm_scale_down() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    let config = w.config(
        "mode = \"blue-green\"\nkeep_warm = \"3s\"\napply_timeout = \"20s\"",
        "[refresh]\nservice = \"500ms\"\n",
    );
    let home = w.dir.path().to_path_buf();
    let fake = &w.fake;
    let args = ["--config".to_string(), config.display().to_string()];
    let screen_test = {
        let home = home.clone();
        move |fake_selector: &dyn Fn() -> String, replicas: &dyn Fn() -> i64| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut t = Tty::spawn_at(&home, &args, &[("USER", "alice")]);
            let s = t.wait_for("both colours, blue serving", |s| {
                row(s, "backend-blue").is_some_and(|r| r.contains("100%"))
                    && row(s, "backend-green").is_some_and(|r| r.contains("0%"))
            });
            assert!(s.contains("kubernetes"), "{s}");

            // A split is refused with the sentence, on the screen too.
            t.press("+");
            t.wait_for("the refusal", |s| {
                s.contains("refused: blue/green sends all traffic to one colour")
            });

            // The switch: P on the canary (green), y, no reason.
            t.press("P");
            t.wait_for("the promote confirmation", |s| s.contains("PROMOTE"));
            t.press("y");
            t.press("\r");
            t.wait_for("green serving", |s| {
                row(s, "backend-green").is_some_and(|r| r.contains("100%") && !r.contains('→'))
            });
            assert_eq!(fake_selector(), "green");
            t.wait_for("the keep-warm countdown", |s| s.contains("kept warm"));

            // Rollback while blue is warm: instant, no scale-up.
            t.press("r");
            t.wait_for("the rollback confirmation", |s| {
                s.contains("ROLLBACK") && s.contains("backend-blue")
            });
            t.press("y");
            t.wait_for("the reason box", |s| {
                s.contains("is already on its way. Why?")
            });
            t.press("\x1b");
            t.wait_for("blue serving again", |s| {
                row(s, "backend-blue").is_some_and(|r| r.contains("100%") && !r.contains('→'))
            });
            assert_eq!(fake_selector(), "blue");

            // Switch again; the keep-warm time ends: asked, y.
            t.press("P");
            t.wait_for("the promote confirmation", |s| s.contains("PROMOTE"));
            t.press("y");
            t.press("\r");
            t.wait_for("green serving", |s| {
                row(s, "backend-green").is_some_and(|r| r.contains("100%") && !r.contains('→'))
            });
            t.wait_for("the scale-down question", |s| s.contains("SCALE DOWN"));
            t.press("y");
            t.wait_for("scaled to 0", |s| s.contains("scaled to 0"));
            assert_eq!(replicas(), 0);

            // Rollback after the scale-down: blue comes back up first.
            t.press("r");
            t.wait_for("the rollback confirmation", |s| s.contains("ROLLBACK"));
            t.press("y");
            t.wait_for("the reason box", |s| {
                s.contains("is already on its way. Why?")
            });
            t.press("\x1b");
            t.wait_for("blue serving again", |s| {
                row(s, "backend-blue").is_some_and(|r| r.contains("100%") && !r.contains('→'))
            });
            assert_eq!(replicas(), 2);
            assert_eq!(fake_selector(), "blue");
            t.press("q");
            assert!(t.wait_exit().success(), "clean exit");
        }
    };
    fake.set_controllers(Controllers::all(Duration::from_millis(300)));
    let sel = || w.selector_version();
    let reps = || w.replicas("backend-blue");
    // The screen is driven from this thread; the fake keeps serving on the
    // runtime's workers.
    tokio::task::block_in_place(|| screen_test(&sel, &reps));
    let journal = w.journal();
    assert!(
        journal.contains("scale-down requested: backend-blue"),
        "{journal}"
    );
    assert!(
        journal.contains("scale-down done: backend-blue 2 → 0"),
        "{journal}"
    );
    assert_eq!(
        journal.matches("\"traffic-applied\"").count(),
        4,
        "{journal}"
    );
}

/// An exec credential plugin (as `gke-gcloud-auth-plugin`, `aws`, `kubelogin`
/// are) runs once interactively before the screen is taken, then only with
/// `interactive: false` (stdin a pipe, stderr captured): never on the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_plugin_gets_the_first_token_before_the_screen_then_runs_non_interactively() {
    let w = World::start().await;
    w.fake.seed_blue_green(NS);
    w.fake.require_token(Some("plugin-token"));
    let calls = w.dir.path().join("plugin-calls");
    let plugin = w.dir.path().join("auth-plugin.sh");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$KUBERNETES_EXEC_INFO\" >> {calls}\n\
             exp=$(date -u -d '+30 sec' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"plugin-token\",\"expirationTimestamp\":\"%s\"}}}}' \"$exp\"\n",
            calls = calls.display()
        ),
    )
    .expect("plugin");
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(
        w.kubeconfig(),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: sso\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n\
             \x20     command: {}\n      interactiveMode: IfAvailable\n      provideClusterInfo: false\n\
             contexts:\n- name: prod\n  context:\n    cluster: fake\n    user: sso\n    namespace: {NS}\n\
             current-context: prod\n",
            w.fake.url(),
            plugin.display()
        ),
    )
    .expect("kubeconfig");
    let c = Config::load(&w.blue_green_config()).expect("config");
    let settings = canary::app::kubernetes_settings(&c).expect("settings");
    let infos = || -> Vec<Value> {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("exec info"))
            .collect()
    };
    let p = KubePlatform::connect(settings)
        .await
        .expect("connected with the plugin's token");
    assert_eq!(
        p.info().location,
        "prod · shop · service/backend (blue/green)"
    );
    // Before the screen: the plugin may interact (a login prompt).
    let before = infos();
    assert_eq!(before[0]["spec"]["interactive"], true, "{before:?}");
    std::fs::remove_file(&calls).expect("reset");
    // Afterwards (the token expires within a minute, so every request
    // refreshes it): never interactive.
    for _ in 0..3 {
        let snap = p.snapshot().await.expect("read with the token");
        assert_eq!(snap.traffic, all_to("backend-blue"));
    }
    let after = infos();
    assert!(!after.is_empty(), "the token was refreshed");
    for call in &after {
        assert_eq!(call["spec"]["interactive"], false, "{after:?}");
    }
    // A wrong token is a 401 that says what to do.
    w.fake.require_token(Some("another-token"));
    let fresh = KubePlatform::new(canary::app::kubernetes_settings(&c).expect("settings"));
    let err = fresh.snapshot().await.expect_err("401");
    assert!(err.to_string().contains("401"), "{err}");
}

/// Prometheus scraping the apps every second, each target labelled as
/// Prometheus' Kubernetes discovery labels a pod (`namespace`, `pod`).
struct Prometheus {
    child: std::process::Child,
    url: String,
}

impl Prometheus {
    async fn start(binary: &Path, dir: &Path, pods: &[(&str, std::net::SocketAddr)]) -> Prometheus {
        let port = free_port();
        let mut cfg = String::from(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pods\n    metrics_path: /api/metrics\n    static_configs:\n",
        );
        for (pod, addr) in pods {
            cfg.push_str(&format!(
                "      - targets: [\"{addr}\"]\n        labels:\n          namespace: \"{NS}\"\n          pod: \"{pod}\"\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), cfg).expect("prometheus.yml");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{url}/-/ready"))
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Prometheus { child, url }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plan on weights: 10 / 25 / 50 / 100 % in auto mode, a canary that
/// answers 30 % 5xx. Requests are split by the route's weights as read from
/// the fake (the Gateway's data plane), Prometheus scrapes the apps, the
/// gates see the canary's 5xx at the first step and roll it back: the route
/// carries 100 / 0 again, journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_plan_rolls_back_a_bad_canary_on_real_prometheus_metrics() {
    let Some(prom_bin) = require("prometheus") else {
        return;
    };
    let w = World::start().await;
    w.fake.seed_weights(NS);
    w.fake
        .set_controllers(Controllers::all(Duration::from_millis(100)));
    let stable = SampleApp::start("backend-stable", "stable", &["--error-rate", "0"], None);
    let canary = SampleApp::start("backend-canary", "canary", &["--error-rate", "0.3"], None);
    let prom = Prometheus::start(
        &prom_bin,
        w.dir.path(),
        &[
            ("backend-stable-5c9d7f6b8-x7k2p", stable.addr),
            ("backend-canary-7f8c9d5b6-q4m9z", canary.addr),
        ],
    )
    .await;
    // The data plane: ~50 requests/s split by the route's weights.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let (s, c) = (stable.addr, canary.addr);
        let weights = Arc::new(std::sync::Mutex::new((100i64, 0i64)));
        let reader = {
            let weights = weights.clone();
            let stop = stop.clone();
            let url = format!(
                "{}/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/backend",
                w.fake.url()
            );
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(r) = client.get(&url).bearer_auth("fake-token").send().await {
                        if let Ok(v) = r.json::<Value>().await {
                            let refs = v["spec"]["rules"][0]["backendRefs"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default();
                            let of = |n: &str| {
                                refs.iter()
                                    .find(|b| b["name"] == n)
                                    .and_then(|b| b["weight"].as_i64())
                                    .unwrap_or(0)
                            };
                            *weights.lock().expect("lock") =
                                (of("backend-stable"), of("backend-canary"));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let sender = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n: i64 = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (ws, wc) = *weights.lock().expect("lock");
                let total = (ws + wc).max(1);
                let to = if (n % total) < wc { c } else { s };
                n += 1;
                let _ = client.get(format!("http://{to}/api/work")).send().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        (reader, sender)
    };
    let config = w.config(
        "mode = \"weights\"\nroute = \"backend\"\nmetrics = \"pod\"\napply_timeout = \"10s\"\n\
         backends = { backend-stable = \"backend-stable\", backend-canary = \"backend-canary\" }",
        &format!(
            "[prometheus]\nurl = \"{}\"\nrate_window = \"5s\"\n\
             [refresh]\nservice = \"500ms\"\nmetrics = \"1s\"\nlogs = \"1s\"\n\
             [metrics]\nwindow = \"2m\"\nstep = \"1s\"\n\
             [gates]\nerror_percent = 1.0\nwindow = \"10s\"\nsustain = \"3s\"\nmin_requests = 10\n\
             [plan]\nmode = \"auto\"\non_failure = \"rollback\"\nsteps = [\n\
             {{ percent = 10, observe = \"40s\" }},\n{{ percent = 25, observe = \"40s\" }},\n\
             {{ percent = 50, observe = \"40s\" }},\n{{ percent = 100, observe = \"0s\" }},\n]\n",
            prom.url
        ),
    );
    let home = w.dir.path().to_path_buf();
    let cfg = config.display().to_string();
    let started = tokio::time::Instant::now();
    tokio::task::block_in_place(|| {
        let mut t = Tty::spawn_at(&home, &["--config", &cfg, "--auto"], &[("USER", "alice")]);
        t.wait_for("both revisions, stable serving", |s| {
            row(s, "backend-stable").is_some_and(|r| r.contains("100%"))
                && row(s, "backend-canary").is_some()
        });
        t.press("p");
        t.wait_for("the plan confirmation", |s| s.contains("START PLAN"));
        t.press("y");
        t.wait_for("the first step applied", |s| {
            row(s, "backend-canary").is_some_and(|r| r.contains("10%"))
        });
        let s = t.wait_for("the gates rolling the canary back", |s| {
            s.contains("rolled back")
                && row(s, "backend-stable").is_some_and(|r| r.contains("100%"))
        });
        assert!(s.contains("5xx"), "{s}");
        t.press("q");
        t.press("q");
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = load;
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    let route = w.fake.get(Kind::HttpRoute, NS, "backend").expect("route");
    let weights: Vec<i64> = route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .expect("refs")
        .iter()
        .map(|b| b["weight"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(weights, vec![100, 0]);
    if let Some(v) = w
        .read(
            "httproute/backend",
            "{.spec.rules[0].backendRefs[*].weight}",
        )
        .await
    {
        assert_eq!(v, "100 0");
    }
    let journal = w.journal();
    assert!(journal.contains("gate failed"), "{journal}");
    assert!(journal.contains("\"rolled-back\""), "{journal}");
}

// ---------------------------------------------------------------- the lease
//
// `canary release`'s lease on Kubernetes: a coordination.k8s.io/v1 Lease.
// There is no OpenAPI document for coordination.k8s.io in
// /work/shared/contracts (nor in tests/contracts): the fake's objects and
// the requests' bodies are checked by deserializing them into k8s-openapi's
// `Lease`, and kubectl reads it back as the independent peer.

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/shop/leases/canary-backend";

fn stored_lease(w: &World) -> Option<k8s_openapi::api::coordination::v1::Lease> {
    w.fake.get(Kind::Lease, NS, "canary-backend").map(|v| {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a Lease ({e}): {v}"))
    })
}

fn lease_info_of(l: &k8s_openapi::api::coordination::v1::Lease) -> canary::core::lease::LeaseInfo {
    let text = l
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("canary.dev/lease"))
        .expect("the lease annotation");
    serde_json::from_str(text).expect("a LeaseInfo")
}

fn someone(driver: &str, pid: u32, ttl_s: i64) -> canary::core::lease::LeaseInfo {
    canary::core::lease::LeaseInfo::new(
        driver.into(),
        pid,
        "ci".into(),
        chrono::Utc::now(),
        chrono::Duration::seconds(ttl_s),
    )
}

/// Eight drivers at once: exactly one creates the Lease (the others get 409
/// AlreadyExists or find it, and are refused naming the winner); kubectl
/// reads it back; a `kubectl annotate` landing while a renewal's PUT is on
/// its way makes that PUT a 409 Conflict (its resourceVersion is stale), the
/// renewal re-reads and writes again, keeping kubectl's annotation; a
/// cockpit's request written meanwhile survives the next renewal; the
/// release deletes it with its resourceVersion as the precondition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_a_coordination_lease_and_only_one_writer_wins() {
    use canary::platform::kubernetes::lease::KubeLease;
    use canary::platform::lease::{Lease, LeaseError, RemoteRequest, RequestKind};
    let w = World::start().await;
    w.fake.seed_weights(NS);
    let c = Config::load(&w.weights_config()).expect("config");
    let kube = Arc::new(KubePlatform::new(
        canary::app::kubernetes_settings(&c).expect("settings"),
    ));
    let lease = Arc::new(KubeLease::new(kube));
    assert_eq!(lease.read().await, Ok(None));

    let drivers: Vec<_> = (0..8)
        .map(|i| someone(&format!("ci{i}@runner"), 100 + i, 90))
        .collect();
    let tries = drivers.iter().map(|d| {
        let (lease, d) = (lease.clone(), d.clone());
        tokio::spawn(async move { lease.acquire(&d, false).await })
    });
    let results: Vec<_> = futures::future::join_all(tries)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    let winners: Vec<usize> = (0..8).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = drivers[winners[0]].clone();
    for r in &results {
        if let Err(e) = r {
            assert_eq!(
                e,
                &LeaseError::Held(Box::new(winner.clone())),
                "refused naming the winner"
            );
        }
    }
    let creates: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/apis/coordination.k8s.io"))
        .collect();
    assert_eq!(creates.iter().filter(|r| r.status == 201).count(), 1);
    for r in creates.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "{}", r.response);
        assert_eq!(
            r.json_response()["reason"],
            "AlreadyExists",
            "{}",
            r.response
        );
    }
    for r in &creates {
        let _: k8s_openapi::api::coordination::v1::Lease =
            serde_json::from_value(r.json_body()).expect("the create's body is a Lease");
    }
    let stored = stored_lease(&w).expect("stored");
    let spec = stored.spec.clone().expect("spec");
    assert_eq!(
        spec.holder_identity.as_deref(),
        Some(winner.driver.as_str())
    );
    assert_eq!(spec.lease_duration_seconds, Some(90));
    assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
    assert_eq!(lease_info_of(&stored), winner);

    // kubectl, the independent reader.
    if let Some((ok, out, err)) = w
        .kubectl(&["get", "lease", "canary-backend", "-n", NS, "-o", "json"])
        .await
    {
        assert!(ok, "{err}");
        let read: k8s_openapi::api::coordination::v1::Lease =
            serde_json::from_str(&out).expect("kubectl's Lease");
        assert_eq!(
            read.spec.clone().and_then(|s| s.holder_identity).as_deref(),
            Some(winner.driver.as_str())
        );
        assert_eq!(lease_info_of(&read), winner);
    } else {
        skipped("no kubectl: the Lease was read from the fake only");
    }

    // kubectl writes while the renewal's PUT is on its way.
    w.fake.inject(Fault::delay(
        Some(Verb::Update),
        LEASE_PATH,
        Duration::from_millis(800),
    ));
    let mut renewal = winner.clone();
    renewal.step = Some(1);
    renewal.gates = Some("green".into());
    let task = {
        let (lease, renewal) = (lease.clone(), renewal.clone());
        tokio::spawn(async move { lease.renew(&renewal).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    match w
        .kubectl(&[
            "annotate",
            "lease",
            "canary-backend",
            "-n",
            NS,
            "team=payments",
        ])
        .await
    {
        Some((ok, _, err)) => assert!(ok, "{err}"),
        None => {
            let mut l = w
                .fake
                .get(Kind::Lease, NS, "canary-backend")
                .expect("lease");
            l["metadata"]["annotations"]["team"] = json!("payments");
            w.fake.put_lease(NS, l);
        }
    }
    task.await.expect("join").expect("renewed after re-reading");
    let puts: Vec<_> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == LEASE_PATH)
        .collect();
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![409, 200],
        "the stale PUT was refused, the re-read one landed"
    );
    for p in &puts {
        let body = p.json_body();
        assert!(body["metadata"]["resourceVersion"].is_string(), "{body}");
        let _: k8s_openapi::api::coordination::v1::Lease =
            serde_json::from_value(body).expect("the PUT's body is a Lease");
    }
    let stored = stored_lease(&w).expect("stored");
    assert_eq!(
        stored
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("team")),
        Some(&"payments".to_string()),
        "kubectl's annotation was not overwritten"
    );
    assert_eq!(lease_info_of(&stored).step, Some(1));

    // A cockpit's request, then a renewal that has not seen it: kept.
    let ask = RemoteRequest {
        kind: RequestKind::Abort,
        by: "bob@laptop".into(),
        at: chrono::Utc::now(),
        acked: None,
    };
    lease.request(&ask).await.expect("request written");
    let written = lease.renew(&renewal).await.expect("renewed");
    assert_eq!(written.request, Some(ask.clone()));
    assert_eq!(
        lease_info_of(&stored_lease(&w).expect("stored")).request,
        Some(ask)
    );

    // Someone else may not give it back; the holder does.
    lease
        .release(&drivers[(winners[0] + 1) % 8])
        .await
        .expect("left alone");
    assert!(stored_lease(&w).is_some());
    lease.release(&winner).await.expect("released");
    assert!(stored_lease(&w).is_none());
    let delete = w
        .fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "DELETE")
        .expect("a DELETE");
    assert!(
        delete.json_body()["preconditions"]["resourceVersion"].is_string(),
        "{}",
        delete.body
    );
    assert!(matches!(
        lease
            .request(&RemoteRequest {
                kind: RequestKind::Pause,
                by: "bob@laptop".into(),
                at: chrono::Utc::now(),
                acked: None,
            })
            .await,
        Err(LeaseError::Backend(_))
    ));
}

/// The weights setup with the stable pinned, fast refreshes, no metrics
/// (the gates say no data: a plan observes its first step until the end).
fn release_config(w: &World) -> PathBuf {
    let path = w.dir.path().join("release.toml");
    std::fs::write(
        &path,
        format!(
            "[service]\nplatform = \"kubernetes\"\nname = \"backend\"\n\
             stable_revision = \"backend-stable\"\n\n\
             [kubernetes]\nkubeconfig = \"{}\"\nnamespace = \"{NS}\"\ntimeout = \"3s\"\n\
             mode = \"weights\"\nroute = \"backend\"\napply_timeout = \"5s\"\n\
             backends = {{ backend-stable = \"backend-stable\", backend-canary = \"backend-canary\" }}\n\n\
             [refresh]\nservice = \"300ms\"\nmetrics = \"500ms\"\nlogs = \"1s\"\n\n\
             [journal]\ndir = \"{}\"\n",
            w.kubeconfig().display(),
            w.dir.path().join("journal").display()
        ),
    )
    .expect("config");
    path
}

/// Two `canary release` on one Kubernetes service: the second refuses,
/// exit 1, naming the first, and `kubectl get lease` names the first as the
/// holder; a Lease whose driver died (past its renewTime plus duration) is
/// refused without `--take-over`, taken over with it, and the take-over is
/// journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_on_kubernetes_the_second_refuses_and_a_dead_lease_needs_take_over() {
    let w = World::start().await;
    w.fake.seed_weights(NS);
    w.fake
        .set_controllers(Controllers::all(Duration::from_millis(100)));
    let cfg = release_config(&w).display().to_string();
    let home = w.dir.path().to_path_buf();
    let mut first = crate::support::run::spawn_canary(
        &home,
        &["-c", &cfg, "release", "--steps", "20:10m,100", "--auto"],
        &[("USER", "first")],
    );
    let first_pid = first.id();
    until("the first driver holds the Lease", || {
        stored_lease(&w).is_some_and(|l| lease_info_of(&l).pid == first_pid)
    })
    .await;
    let (code, _, err) = w
        .canary(&["-c", &cfg, "release", "--steps", "20:10m,100", "--auto"])
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another driver holds the lease"), "{err}");
    assert!(err.contains(&format!("pid {first_pid}")), "{err}");
    assert!(err.contains("first@"), "names the first driver: {err}");
    if let Some(holder) = w
        .read("lease/canary-backend", "{.spec.holderIdentity}")
        .await
    {
        assert!(holder.starts_with("first@"), "{holder}");
    }
    unsafe { libc::kill(first_pid as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || first.wait().expect("wait"))
        .await
        .expect("join");
    assert_eq!(status.code(), Some(4), "paused on SIGTERM");
    assert!(stored_lease(&w).is_none(), "the Lease was given back");

    // A driver that died: its Lease ran out.
    let mut dead = someone("ghost@old-runner", 4242, 90);
    dead.acquired -= chrono::Duration::seconds(600);
    dead.renewed = Some(dead.acquired);
    dead.deadline = dead.acquired + chrono::Duration::seconds(90);
    let text = serde_json::to_string(&dead).expect("json");
    w.fake.put_lease(
        NS,
        json!({
            "metadata": {"name": "canary-backend", "annotations": {"canary.dev/lease": text}},
            "spec": {"holderIdentity": "ghost@old-runner", "leaseDurationSeconds": 90}
        }),
    );
    let args = [
        "-c",
        cfg.as_str(),
        "release",
        "--steps",
        "20:1s,100",
        "--auto",
    ];
    let (code, _, err) = w.canary(&args).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("expired") && err.contains("--take-over"),
        "{err}"
    );
    let mut taking = args.to_vec();
    taking.push("--take-over");
    let (_, out, err) = w.canary(&taking).await;
    let stream = crate::support::schema::check_stream(&out);
    let lease_event = stream
        .iter()
        .find(|e| e["event"] == "lease")
        .expect("lease event");
    assert_eq!(lease_event["action"], "taken-over", "{err}");
    assert!(
        lease_event["location"]
            .as_str()
            .is_some_and(|l| l.contains("Lease canary-backend")),
        "{lease_event}"
    );
    let journal = w.journal();
    assert!(
        journal.contains("lease taken over (--take-over)"),
        "{journal}"
    );
    assert!(journal.contains("ghost@old-runner"), "{journal}");
    let transitions = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path == LEASE_PATH)
        .filter_map(|r| {
            serde_json::from_value::<k8s_openapi::api::coordination::v1::Lease>(r.json_body())
                .ok()
                .and_then(|l| l.spec)
                .and_then(|s| s.lease_transitions)
        })
        .max();
    assert_eq!(transitions, Some(1), "the take-over counts as a transition");
}
