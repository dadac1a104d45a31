//! The HAProxy platform against a real `haproxy` with two real sample apps.

use crate::support::local_stack;

use std::collections::HashMap;
use std::time::Duration;

use canary::core::error::BackendError;
use canary::core::model::{ServiceSnapshot, TrafficSplit};
use canary::platform::haproxy::{HaproxyPlatform, HaproxySettings, RuntimeApi, Socket};
use canary::platform::Platform;
use local_stack::{eventually, require, Haproxy, SampleApp};

const V1: &str = "emergence-app-v1";
const V2: &str = "emergence-app-v2";

struct Stack {
    _dir: tempfile::TempDir,
    _v1: SampleApp,
    v2: SampleApp,
    haproxy: Haproxy,
}

fn stack() -> Option<Stack> {
    let binary = require("haproxy")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = SampleApp::start(V1, "v1", &[], None);
    let v2 = SampleApp::start(V2, "v2", &[], None);
    let haproxy = Haproxy::start(&binary, dir.path(), v1.addr, v2.addr);
    Some(Stack {
        _dir: dir,
        _v1: v1,
        v2,
        haproxy,
    })
}

fn settings(socket: Socket) -> HaproxySettings {
    HaproxySettings::new(socket, "app", "emergence-app").with_roles(V1, V2)
}

async fn ready_snapshot(p: &HaproxyPlatform) -> ServiceSnapshot {
    eventually("both servers UP", Duration::from_secs(15), || async {
        let s = p.snapshot().await.ok()?;
        s.revisions.iter().all(|r| r.ready).then_some(s)
    })
    .await
}

/// Sends `n` requests through the frontend, each on a new connection, and
/// counts who answered.
async fn send_through(frontend: std::net::SocketAddr, n: usize) -> HashMap<String, usize> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = client
            .get(format!("http://{frontend}/api/work"))
            .send()
            .await
            .expect("request through haproxy");
        assert_eq!(r.status(), 200);
        let who = r
            .headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_string();
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_real_traffic_and_changes_are_guarded() {
    let Some(stack) = stack() else { return };
    let p = HaproxyPlatform::connect(settings(Socket::Unix(stack.haproxy.admin_socket.clone())))
        .await
        .expect("connect");
    let before = ready_snapshot(&p).await;
    assert_eq!(before.traffic, TrafficSplit::all_to(V1));
    assert_eq!(before.revisions[0].name, V2, "newest (declared last) first");
    assert_eq!(before.resolve("canary").map(|r| r.name.as_str()), Some(V2));
    assert_eq!(before.resolve("stable").map(|r| r.name.as_str()), Some(V1));
    assert!(before
        .revision(V2)
        .and_then(|r| r.tag_url.clone())
        .is_some());
    assert_eq!(before.message, None);

    let split = TrafficSplit::new([(V1, 20), (V2, 80)]).expect("valid");
    assert_eq!(
        canary::core::preview::preview(&before, &split),
        vec![
            format!("set server app/{V2} weight 80"),
            format!("set server app/{V1} weight 20"),
        ]
    );
    let after = p
        .set_traffic(&split, &before.version)
        .await
        .expect("set 20/80");
    assert_eq!(after.traffic, split);
    assert_eq!(after.actual.as_ref(), Some(&split));
    assert_ne!(after.version, before.version);
    let counters_before = p.servers().await.expect("servers");

    let n = 500;
    let seen = send_through(stack.haproxy.frontend, n).await;
    let to_v2 = seen.get(V2).copied().unwrap_or(0);
    let to_v1 = seen.get(V1).copied().unwrap_or(0);
    assert_eq!(to_v1 + to_v2, n, "{seen:?}");
    assert!(
        (375..=425).contains(&to_v2),
        "80 % of {n} is 400; {V2} got {to_v2} ({seen:?})"
    );
    // HAProxy's own counters say the same.
    let counters_after = p.servers().await.expect("servers");
    let delta = |name: &str| {
        let get = |v: &[canary::platform::haproxy::ServerStat]| {
            v.iter()
                .find(|s| s.name == name)
                .map_or(0, |s| s.responses[1])
        };
        get(&counters_after) - get(&counters_before)
    };
    assert_eq!(delta(V2) as usize, to_v2);
    assert_eq!(delta(V1) as usize, to_v1);

    // A stale version is refused before anything is sent.
    let e = p
        .set_traffic(&TrafficSplit::all_to(V1), &before.version)
        .await
        .expect_err("stale version");
    assert!(
        matches!(&e, BackendError::Conflict(m) if m.contains("nothing was sent")),
        "{e:?}"
    );

    // Someone else changes a weight: the version moves, and the snapshot says so.
    let raw = RuntimeApi {
        socket: Socket::Unix(stack.haproxy.admin_socket.clone()),
        timeout: Duration::from_secs(2),
    };
    assert_eq!(
        raw.send(&format!("set server app/{V1} weight 50"))
            .await
            .expect("raw")
            .trim(),
        ""
    );
    let e = p
        .set_traffic(&TrafficSplit::all_to(V1), &after.version)
        .await
        .expect_err("changed by someone else");
    assert!(matches!(e, BackendError::Conflict(_)), "{e:?}");
    let s = p.snapshot().await.expect("snapshot");
    let msg = s.message.clone().unwrap_or_default();
    assert!(msg.contains("changed outside the cockpit"), "{msg}");
    assert_eq!(s.traffic.percent_of(V1), 38, "50 / (50 + 80)");

    // Rollback is just a split: everything back to the stable.
    let rolled = p
        .set_traffic(&TrafficSplit::all_to(V1), &s.version)
        .await
        .expect("rollback");
    assert_eq!(rolled.traffic, TrafficSplit::all_to(V1));
    assert_eq!(rolled.message, None);
    let seen = send_through(stack.haproxy.frontend, 20).await;
    assert_eq!(seen.get(V1), Some(&20), "{seen:?}");

    // The TCP socket reaches the same HAProxy.
    let tcp = HaproxyPlatform::connect(settings(Socket::Tcp(stack.haproxy.admin_tcp.to_string())))
        .await
        .expect("tcp");
    assert_eq!(
        tcp.snapshot().await.expect("snapshot").version,
        rolled.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_socket_and_the_server() {
    let Some(stack) = stack() else { return };
    let socket = Socket::Unix(stack.haproxy.admin_socket.clone());
    let p = HaproxyPlatform::connect(settings(socket.clone()))
        .await
        .expect("connect");
    let snap = ready_snapshot(&p).await;

    let e = p
        .set_traffic(&TrafficSplit::all_to("emergence-app-v3"), &snap.version)
        .await
        .expect_err("unknown server");
    let BackendError::NotFound(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("no server `emergence-app-v3` in backend `app`"),
        "{m}"
    );
    assert!(m.contains(&socket.to_string()), "{m}");
    assert!(m.contains(V1) && m.contains(V2), "lists the servers: {m}");

    let e = HaproxyPlatform::connect(HaproxySettings::new(socket.clone(), "nope", "s"))
        .await
        .expect_err("unknown backend");
    assert!(
        matches!(&e, BackendError::NotFound(m) if m.contains("no backend `nope`")),
        "{e:?}"
    );

    let e = HaproxyPlatform::connect(settings(socket.clone()).with_roles(V1, "v9"))
        .await
        .expect_err("unknown canary server");
    assert!(
        matches!(&e, BackendError::NotFound(m) if m.contains("`v9`")),
        "{e:?}"
    );

    // A socket below `level admin` can read but not change weights.
    let op = HaproxyPlatform::connect(settings(Socket::Unix(
        stack.haproxy.operator_socket.clone(),
    )))
    .await
    .expect("operator socket reads");
    let s = op.snapshot().await.expect("snapshot");
    let e = op
        .set_traffic(
            &TrafficSplit::new([(V1, 90), (V2, 10)]).expect("valid"),
            &s.version,
        )
        .await
        .expect_err("operator level");
    assert!(
        matches!(&e, BackendError::Auth(m) if m.contains("level admin") && m.contains("operator.sock")),
        "{e:?}"
    );

    let missing = stack.haproxy.admin_socket.with_file_name("missing.sock");
    let e = HaproxyPlatform::connect(settings(Socket::Unix(missing)))
        .await
        .expect_err("missing socket");
    assert!(
        matches!(&e, BackendError::Unavailable { message, .. } if message.contains("missing.sock") && message.contains("does not exist")),
        "{e:?}"
    );

    let port = local_stack::free_port();
    let e = HaproxyPlatform::connect(settings(Socket::Tcp(format!("127.0.0.1:{port}"))))
        .await
        .expect_err("nothing listening");
    assert!(
        matches!(&e, BackendError::Unavailable { message, .. } if message.contains("connection refused")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_is_detected_and_said_loudly() {
    let Some(mut stack) = stack() else { return };
    let p = HaproxyPlatform::connect(settings(Socket::Unix(stack.haproxy.admin_socket.clone())))
        .await
        .expect("connect");
    let snap = ready_snapshot(&p).await;
    let split = TrafficSplit::new([(V1, 70), (V2, 30)]).expect("valid");
    let set = p
        .set_traffic(&split, &snap.version)
        .await
        .expect("set 70/30");

    stack.haproxy.kill();
    let e = p.snapshot().await.expect_err("haproxy is down");
    assert!(
        matches!(&e, BackendError::Unavailable { message, .. } if message.contains("connection refused") && message.contains("haproxy.sock")),
        "{e:?}"
    );

    stack.haproxy.restart();
    let after = p.snapshot().await.expect("snapshot after restart");
    let msg = after.message.clone().unwrap_or_default();
    assert!(msg.contains("HAPROXY RESTARTED"), "{msg}");
    assert!(
        msg.contains("emergence-app-v1=70,emergence-app-v2=30"),
        "names what was lost: {msg}"
    );
    assert_eq!(
        after.traffic,
        TrafficSplit::all_to(V1),
        "back on configured weights"
    );
    // Still said on the next read, and the old version no longer applies.
    assert!(p
        .snapshot()
        .await
        .expect("again")
        .message
        .unwrap_or_default()
        .contains("RESTARTED"));
    let e = p
        .set_traffic(&split, &set.version)
        .await
        .expect_err("stale after restart");
    assert!(matches!(e, BackendError::Conflict(_)), "{e:?}");
    // A new change (once the servers are back UP) clears the warning.
    let ready = ready_snapshot(&p).await;
    let again = p
        .set_traffic(&split, &ready.version)
        .await
        .expect("set again");
    assert_eq!(again.message, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_states_are_readiness_with_a_reason() {
    let Some(mut stack) = stack() else { return };
    let socket = Socket::Unix(stack.haproxy.admin_socket.clone());
    let p = HaproxyPlatform::connect(settings(socket.clone()))
        .await
        .expect("connect");
    ready_snapshot(&p).await;
    let raw = RuntimeApi {
        socket,
        timeout: Duration::from_secs(2),
    };

    // Maintenance: not ready, says how to bring it back, and gets no more traffic.
    let reply = raw
        .send(&format!("set server app/{V2} state maint"))
        .await
        .expect("maint");
    assert_eq!(reply.trim(), "");
    let s = p.snapshot().await.expect("snapshot");
    let v2 = s.revision(V2).expect("v2");
    assert!(!v2.ready);
    let why = v2.status_message.clone().unwrap_or_default();
    assert!(
        why.contains("maintenance") && why.contains(&format!("set server app/{V2} state ready")),
        "{why}"
    );
    let e = p
        .set_traffic(
            &TrafficSplit::new([(V1, 90), (V2, 10)]).expect("valid"),
            &s.version,
        )
        .await
        .expect_err("more traffic to a server in maintenance");
    assert!(
        matches!(&e, BackendError::Refused(m) if m.contains(V2) && m.contains("nothing was sent")),
        "{e:?}"
    );
    raw.send(&format!("set server app/{V2} state ready"))
        .await
        .expect("ready");

    // Serving 50/50, then the canary dies: HAProxy's checks take it out, the
    // snapshot says why, and the serving split differs from the target.
    let s = ready_snapshot(&p).await;
    let half = TrafficSplit::new([(V1, 50), (V2, 50)]).expect("valid");
    p.set_traffic(&half, &s.version).await.expect("50/50");
    stack.v2.proc.kill();
    let down = eventually("the canary DOWN", Duration::from_secs(10), || async {
        let s = p.snapshot().await.ok()?;
        (!s.revision(V2)?.ready).then_some(s)
    })
    .await;
    let why = down
        .revision(V2)
        .and_then(|r| r.status_message.clone())
        .unwrap_or_default();
    assert!(why.starts_with("HAProxy says DOWN"), "{why}");
    assert_eq!(down.traffic, half);
    assert_eq!(down.actual, Some(TrafficSplit::all_to(V1)));
    // Rolling back (less traffic to the dead server) is allowed.
    let back = p
        .set_traffic(&TrafficSplit::all_to(V1), &down.version)
        .await
        .expect("rollback to the stable");
    assert_eq!(back.traffic, TrafficSplit::all_to(V1));

    // Every weight at 0: said loudly.
    raw.send(&format!("set server app/{V1} weight 0"))
        .await
        .expect("zero");
    let s = p.snapshot().await.expect("snapshot");
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("every server of backend `app` has weight 0"),
        "{msg}"
    );
}

/// What the proxy does with the `fail_at`-th `set server` command.
#[derive(Clone, Copy)]
enum Misstep {
    /// Answers `Permission denied.` without passing it on.
    Refuse,
    /// Passes it on (HAProxy carries it out), then never answers.
    ApplyThenHang,
}

/// A runtime-API proxy that misbehaves on the `fail_at`-th `set server`
/// command and forwards everything else to the real socket.
async fn refusing_proxy(
    real: std::path::PathBuf,
    dir: &std::path::Path,
    fail_at: usize,
    misstep: Misstep,
) -> std::path::PathBuf {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let path = dir.join("proxy.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind proxy");
    let sets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let real = real.clone();
            let sets = sets.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(conn);
                let mut line = String::new();
                if conn.read_line(&mut line).await.is_err() {
                    return;
                }
                let misbehave = line.starts_with("set server")
                    && sets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == fail_at;
                if misbehave && matches!(misstep, Misstep::Refuse) {
                    let _ = conn.get_mut().write_all(b"Permission denied.\n\n").await;
                    return;
                }
                let Ok(mut upstream) = tokio::net::UnixStream::connect(&real).await else {
                    return;
                };
                let _ = upstream.write_all(line.as_bytes()).await;
                if misbehave {
                    let mut reply = Vec::new();
                    let _ = upstream.read_to_end(&mut reply).await;
                    // Carried out; the answer never comes.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                }
                let _ = tokio::io::copy(&mut upstream, conn.get_mut()).await;
            });
        }
    });
    path
}

/// Changes 100/0 to 80/20 through a proxy that misbehaves on the `fail_at`-th
/// `set server`: the change fails saying the weights were put back, and
/// HAProxy (read directly) still runs 100/0.
async fn misstep_is_put_back(fail_at: usize, misstep: Misstep, timeout: Option<Duration>) {
    let Some(stack) = stack() else { return };
    let real = stack.haproxy.admin_socket.clone();
    let direct = HaproxyPlatform::connect(settings(Socket::Unix(real.clone())))
        .await
        .expect("connect");
    let before = ready_snapshot(&direct).await;
    assert_eq!(before.traffic.percent_of(V1), 100, "{:?}", before.traffic);

    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = refusing_proxy(real, dir.path(), fail_at, misstep).await;
    let mut via_proxy = settings(Socket::Unix(proxy));
    if let Some(t) = timeout {
        via_proxy.request_timeout = t;
    }
    let p = HaproxyPlatform::connect(via_proxy)
        .await
        .expect("connect through the proxy");
    let snap = p.snapshot().await.expect("snapshot");
    let split = TrafficSplit::new([(V1, 80), (V2, 20)]).expect("split");
    let e = p
        .set_traffic(&split, &snap.version)
        .await
        .expect_err("the misstep fails the change");
    assert!(
        matches!(&e, BackendError::Failed(m) if m.contains("put back")),
        "{e:?}"
    );
    let after = direct.snapshot().await.expect("snapshot");
    assert_eq!(after.traffic.percent_of(V1), 100, "{:?}", after.traffic);
    assert_eq!(after.traffic.percent_of(V2), 0, "{:?}", after.traffic);
}

/// A command refused halfway through a change: the weights already changed
/// are put back, so HAProxy never runs half of a split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_fails_halfway_is_put_back() {
    misstep_is_put_back(2, Misstep::Refuse, None).await;
}

/// The first command of a change is carried out but its answer never comes
/// (timeout): it may have landed, so it is put back too, and the error says
/// the split is as before instead of passing for "nothing sent".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_times_out_is_put_back_too() {
    misstep_is_put_back(1, Misstep::ApplyThenHang, Some(Duration::from_millis(500))).await;
}
