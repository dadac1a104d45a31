//! Runs the `canary` binary (not in a terminal) with a test HOME: a clean
//! environment, config and state under HOME, plus `env`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Exit code, stdout, stderr.
pub fn canary(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_canary"))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run canary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config for the Cloud Run fake at `endpoint` (no auth), journal under
/// `dir`; its path.
pub fn cloud_run_config(dir: &Path, endpoint: &str) -> String {
    let path = dir.join("canary.toml");
    std::fs::write(
        &path,
        format!(
            "[service]\nname = \"emergence-app\"\nproject = \"emergence-469005\"\nregion = \"europe-west1\"\n\n\
             [cloud_run]\nendpoint = \"{endpoint}\"\nauth = \"none\"\n\n\
             [journal]\ndir = \"{}\"\n",
            dir.join("journal").display()
        ),
    )
    .expect("config");
    path.display().to_string()
}

/// [`canary`] as user `alice`, off the async runtime (a fake serves on it).
pub async fn canary_async(
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("USER".into(), "alice".into()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        canary(&home, &args, &env)
    })
    .await
    .expect("join")
}

/// Starts the binary in the background (same environment as [`canary`],
/// output discarded), for tests that kill it mid-change.
pub fn spawn_canary(home: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_canary"))
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn canary")
}

/// The journal's records of one kind (`traffic-reconciled`, …), as JSON.
pub fn records_of(journal: &str, event: &str) -> Vec<serde_json::Value> {
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["event"] == event)
        .collect()
}
