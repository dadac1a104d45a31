//! The Cloud Run fake (Admin API v2, Cloud Logging, Cloud Monitoring's
//! PromQL API on one port) as a process of its own, for trying `canary`
//! from a shell against it (`scripts/release-example.sh`).
//!
//! ```text
//! cargo run --example fake-cloud-run -- [--port N] [--canary-errors PERCENT]
//!     [--deployed-errors PERCENT] [--tag-url-base URL]
//! ```
//!
//! Seeds the demo service (`emergence-app`: the stable revision at 100 %,
//! the canary tagged `canary` at 0 %), prints `url=http://127.0.0.1:PORT`
//! on stdout and serves until killed. `--canary-errors 6` makes the canary
//! answer 6 % 5xx in the metrics (a bad canary); `--deployed-errors 6` every
//! revision deployed from now on (a bad image). `--tag-url-base URL` makes
//! the tag URLs `URL/TAG` (a local server standing behind them).

use std::net::SocketAddr;

use canary_fakes::cloud_run::{FakeCloudRun, DEMO_CANARY};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut port = 0u16;
    let mut errors = 0.0f64;
    let mut deployed = None;
    let mut tag_base = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = value.parse().expect("--port N"),
            "--canary-errors" => errors = value.parse().expect("--canary-errors PERCENT"),
            "--deployed-errors" => {
                deployed = Some(value.parse::<f64>().expect("--deployed-errors PERCENT"))
            }
            "--tag-url-base" => tag_base = Some(value),
            other => panic!("unknown argument {other}"),
        }
    }
    let (fake, url) = FakeCloudRun::start_on(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let at = fake.seed_demo();
    fake.set_revision_behaviour(DEMO_CANARY, errors, 150.0);
    if let Some(e) = deployed {
        fake.set_deployed_behaviour(e, 150.0);
    }
    if let Some(base) = tag_base {
        fake.set_tag_url_base(&at, &base);
    }
    println!("url={url}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
