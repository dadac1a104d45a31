//! The smaller promises of the scripting commands: `--read-only` anywhere on
//! the line, a missing token variable or an oversized integer in the config
//! is bad usage (exit 2) that names what is wrong, and `canary status` says
//! when the platform restarted and lost the split set at runtime.

use crate::support::run;

use async_trait::async_trait;
use canary::cli::{self, CliOptions, Context};
use canary::core::error::BackendError;
use canary::core::model::{PlatformInfo, ServiceSnapshot, TrafficSplit, Version};
use canary::platform::Platform;

fn write(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("canary.toml");
    std::fs::write(&path, text).expect("config");
    path.display().to_string()
}

const SIMULATED: &str = "[service]\nname = \"emergence-app\"\nplatform = \"simulator\"\n";

#[test]
fn read_only_is_accepted_after_the_subcommand() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = write(home.path(), SIMULATED);
    let (code, _, err) = run::canary(
        home.path(),
        &["--config", &cfg, "set", "canary=10", "--yes", "--read-only"],
        &[],
    );
    assert_eq!(code, 1, "refused, not a usage error: {err}");
    assert!(err.contains("refused: --read-only"), "{err}");
}

#[test]
fn a_missing_token_variable_is_bad_usage() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        home.path(),
        &format!(
            "{SIMULATED}\n[prometheus]\nurl = \"http://127.0.0.1:9\"\nbearer_token_env = \"CANARY_TEST_NO_SUCH_TOKEN\"\n"
        ),
    );
    let (code, _, err) = run::canary(home.path(), &["--config", &cfg], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("$CANARY_TEST_NO_SUCH_TOKEN is not set"),
        "{err}"
    );
}

#[test]
fn an_integer_too_large_names_its_key() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        home.path(),
        &format!("{SIMULATED}\n[ui]\nmax_fps = 99999999999999999999999\n"),
    );
    let (code, _, err) = run::canary(home.path(), &["--config", &cfg, "status"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key `ui.max_fps`"), "{err}");
}

/// A platform that restarted and forgot its runtime weights.
struct Restarted;

#[async_trait]
impl Platform for Restarted {
    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            kind: "haproxy".into(),
            service: "emergence-app".into(),
            location: "local".into(),
        }
    }
    async fn snapshot(&self) -> Result<ServiceSnapshot, BackendError> {
        let mut s = canary_fakes::fixtures::snapshot();
        s.runtime_state_lost = true;
        Ok(s)
    }
    async fn set_traffic(
        &self,
        _: &TrafficSplit,
        _: &Version,
    ) -> Result<ServiceSnapshot, BackendError> {
        Err(BackendError::Other("not here".into()))
    }
}

#[tokio::test]
async fn status_says_the_platform_lost_its_runtime_weights() {
    let ctx = Context::new(CliOptions::default(), None);
    let report = cli::status(&Restarted, &ctx).await.expect("status");
    let text = report.render_text();
    assert!(
        text.contains("haproxy restarted and lost the split"),
        "{text}"
    );
    assert!(report.to_json().contains("\"runtime_state_lost\": true"));
}
