//! Serves the fake Kubernetes API with the blue/green and weights setups in
//! namespace `prod` and the automatic controllers on, until Ctrl-C:
//!
//! ```sh
//! cargo run -p canary-fakes --example fake_kube -- /tmp/fake-kubeconfig
//! KUBECONFIG=/tmp/fake-kubeconfig kubectl get deploy,svc,httproute
//! ```

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use canary_fakes::kubernetes::{Controllers, FakeKube};

#[tokio::main]
async fn main() {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fake-kubeconfig".into()),
    );
    let kube = FakeKube::start().await;
    let contracts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/contracts");
    if let Err(e) = kube.serve_openapi(&contracts) {
        eprintln!("no /openapi/v3: {e}");
    }
    kube.seed_blue_green("prod");
    kube.seed_weights("prod");
    kube.set_controllers(Controllers::all(Duration::from_millis(500)));
    kube.write_kubeconfig(&path, "prod")
        .expect("write kubeconfig");
    println!("{} serving; KUBECONFIG={}", kube.url(), path.display());
    let pods: Vec<String> = kube
        .list(canary_fakes::kubernetes::Kind::Pod, "prod")
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                for pod in &pods {
                    kube.append_log("prod", pod, "app", &format!("GET /api/health 200 tick={n}"), SystemTime::now());
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
}
