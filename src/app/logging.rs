//! The program's own log: a file, never the terminal.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;

/// Starts the log file (`[diagnostics] log_dir`, else the XDG state dir) at
/// `level` (`--log-level`), else the configured level. Keep the guard: the
/// log is flushed when it drops.
pub fn init(
    config: &Config,
    level: Option<&str>,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let dir = match &config.diagnostics.log_dir {
        Some(d) => d.clone(),
        None => state_dir().context("no home directory to keep the log file in")?,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    let level = level.map_or_else(|| config.diagnostics.log_level.clone(), str::to_string);
    let filter = tracing_subscriber::EnvFilter::try_new(format!("canary={level},warn"))
        .with_context(|| {
            format!("--log-level {level}: expected error, warn, info, debug or trace")
        })?;
    let appender = tracing_appender::rolling::never(&dir, "canary.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Ok(guard)
}

/// The XDG state dir (`~/.local/state/canary`), or the data dir where there is none.
pub fn state_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "canary")?;
    Some(
        dirs.state_dir()
            .map_or_else(|| dirs.data_local_dir().to_path_buf(), |d| d.to_path_buf()),
    )
}
