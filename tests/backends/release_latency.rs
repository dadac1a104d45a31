//! How soon after a long-running operation finishes the cockpit knows it
//! (and the screen shows it: the result is an action, drawn within one frame,
//! at most 1/max_fps = 33 ms later). Measured against the fake with
//! operations that take D ms, for the short first poll that backs off
//! (100 ms, doubling to `poll_max`) and for the former 250 ms start.
//!
//! `cargo test --release --test backends release_latency -- --ignored --nocapture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use canary::core::model::TrafficSplit;
use canary::core::release::DeployRequest;
use canary::google::Auth;
use canary::platform::cloud_run::{CloudRun, CloudRunSettings};
use canary::platform::release::SnapshotSink;
use canary::platform::Platform;
use canary_fakes::cloud_run::{FakeCloudRun, DEMO_CANARY, DEMO_STABLE};

async fn client(url: &str, first: Duration) -> CloudRun {
    let mut s = CloudRunSettings::new(
        "emergence-469005",
        "europe-west1",
        "emergence-app",
        Auth::None,
    )
    .with_endpoint(url);
    s.poll_initial = first;
    CloudRun::new(s).unwrap()
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[v.len() - 1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it by hand (see the module docs)"]
async fn operation_to_screen_latency() {
    // Operation durations spread over 30 ms – 3 s (a fixed pseudo-random
    // sequence: durations that happen to fall on a poll would flatter it).
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let durations: Vec<u64> = (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            30 + x % 2970
        })
        .collect();
    println!("| first poll | traffic change known after the operation ends: median / p90 / max | operation polls per change (mean) | deploy: median / max |");
    println!("|---|---|---|---|");
    for first in [100u64, 250] {
        let mut traffic = Vec::new();
        let mut deploy = Vec::new();
        let mut polls = 0usize;
        for (i, op) in durations.iter().copied().enumerate() {
            let (fake, url) = FakeCloudRun::start().await.unwrap();
            fake.seed_demo();
            fake.set_operation_delay(Duration::from_millis(op));
            let cr = client(&url, Duration::from_millis(first)).await;
            let v = cr.snapshot().await.unwrap().version;
            let split = TrafficSplit::new([(DEMO_STABLE, 90), (DEMO_CANARY, 10)]).unwrap();
            let t = Instant::now();
            cr.set_traffic(&split, &v).await.unwrap();
            traffic.push(t.elapsed().as_secs_f64() * 1000.0 - op as f64);
            polls += fake
                .requests()
                .iter()
                .filter(|r| r.route == canary_fakes::cloud_run::Route::GetOperation)
                .count();
            if i % 4 == 0 {
                // A deploy's operation: three condition steps.
                fake.set_deploy_step(Duration::from_millis(op / 3));
                let v = cr.snapshot().await.unwrap().version;
                let req = DeployRequest {
                    revision: format!("emergence-app-{:05}-abc", 44 + i),
                    image: "r/app:2".into(),
                    tag: format!("c{i}"),
                    env: vec![],
                };
                let quiet: SnapshotSink = Arc::new(|_| {});
                let t = Instant::now();
                cr.releases()
                    .unwrap()
                    .deploy(&req, &v, quiet)
                    .await
                    .unwrap();
                deploy.push(t.elapsed().as_secs_f64() * 1000.0 - (op / 3 * 3) as f64);
            }
        }
        let n = traffic.len();
        traffic.sort_by(|a, b| a.total_cmp(b));
        let (m, p90, mx) = (traffic[n / 2], traffic[n * 9 / 10], traffic[n - 1]);
        let (dm, dx) = stats(deploy);
        println!(
            "| {first} ms | {m:.0} / {p90:.0} / {mx:.0} ms | {:.1} | {dm:.0} / {dx:.0} ms |",
            polls as f64 / n as f64
        );
    }
}
