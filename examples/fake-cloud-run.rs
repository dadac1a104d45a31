//! The Cloud Run fake (Admin API v2, Cloud Logging, Cloud Monitoring's
//! PromQL API on one port) as a process of its own, for trying `canary`
//! from a shell against it (`scripts/release-example.sh`).
//!
//! ```text
//! cargo run --example fake-cloud-run -- [--port N] [--canary-errors PERCENT]
//! ```
//!
//! Seeds the demo service (`emergence-app`: the stable revision at 100 %,
//! the canary tagged `canary` at 0 %), prints `url=http://127.0.0.1:PORT`
//! on stdout and serves until killed. `--canary-errors 6` makes the canary
//! answer 6 % 5xx in the metrics (a bad canary).

use std::net::SocketAddr;

use canary_fakes::cloud_run::{FakeCloudRun, DEMO_CANARY};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut port = 0u16;
    let mut errors = 0.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = value.parse().expect("--port N"),
            "--canary-errors" => errors = value.parse().expect("--canary-errors PERCENT"),
            other => panic!("unknown argument {other}"),
        }
    }
    let (fake, url) = FakeCloudRun::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    fake.seed_demo();
    fake.set_revision_behaviour(DEMO_CANARY, errors, 150.0);
    println!("url={url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
