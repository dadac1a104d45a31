//! Try `platform = "kubernetes"` without a cluster: the fake Kubernetes API
//! server of the tests on loopback, seeded with the second team's blue/green
//! objects (or the weights setup with `--weights`), its controllers on, pods
//! that log, a kubeconfig and a canary config. Prints how to open the
//! cockpit on it; Ctrl-C stops it.
//!
//! ```sh
//! cargo run --example kube-demo [-- --weights] [-- --dir /tmp/kube-demo] [-- --quiet]
//! ```

use std::time::{Duration, SystemTime};

use canary_fakes::kubernetes::{Controllers, FakeKube, Kind};

const NS: &str = "shop";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let weights = args.iter().any(|a| a == "--weights");
    // `--quiet`: the pods log nothing (to measure the cockpit's own cost).
    let quiet = args.iter().any(|a| a == "--quiet");
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("canary-kube-demo"));
    std::fs::create_dir_all(&dir)?;
    let fake = FakeKube::start().await;
    if weights {
        fake.seed_weights(NS);
    } else {
        fake.seed_blue_green(NS);
    }
    fake.set_controllers(Controllers::all(Duration::from_secs(1)));
    let kubeconfig = dir.join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, NS)?;
    let mode = if weights {
        "mode = \"weights\"\nroute = \"backend\"\nbackends = { backend-stable = \"backend-stable\", backend-canary = \"backend-canary\" }\n"
    } else {
        "mode = \"blue-green\"\nkeep_warm = \"1m\"\n"
    };
    let config = dir.join("canary.toml");
    std::fs::write(
        &config,
        format!(
            "[service]\nplatform = \"kubernetes\"\nname = \"backend\"\n\n[kubernetes]\n\
             kubeconfig = \"{}\"\nnamespace = \"{NS}\"\n{mode}\n[journal]\ndir = \"{}\"\n",
            kubeconfig.display(),
            dir.join("journal").display()
        ),
    )?;
    println!("fake Kubernetes API at {}", fake.url());
    println!("config:     {}", config.display());
    println!();
    println!(
        "open the cockpit:   cargo run -- --config {}",
        config.display()
    );
    println!(
        "or script it:       cargo run -- --config {} status",
        config.display()
    );
    println!(
        "look with kubectl:  KUBECONFIG={} kubectl get svc,deploy,pods -n {NS}",
        kubeconfig.display()
    );
    println!();
    println!("Ctrl-C stops the fake.");
    // Every pod logs a request now and then (one error in twenty).
    let mut n: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(700));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick(), if !quiet => {
                for pod in fake.list(Kind::Pod, NS) {
                    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    let container = pod["spec"]["containers"][0]["name"]
                        .as_str()
                        .unwrap_or("app")
                        .to_string();
                    n += 1;
                    let status = if n.is_multiple_of(20) { 500 } else { 200 };
                    let line = format!(
                        "{{\"severity\":\"{}\",\"message\":\"GET /api/health {status}\",\"httpRequest\":{{\"status\":{status}}}}}",
                        if status == 500 { "ERROR" } else { "INFO" }
                    );
                    fake.append_log(NS, &name, &container, &line, SystemTime::now());
                }
            }
        }
    }
    Ok(())
}
