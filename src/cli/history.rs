//! `canary journal` and `canary report`: the audit journal, printed as it is
//! or as a Markdown deployment report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::app;
use crate::config::Config;
use crate::journal::{self, Replay};

/// `canary journal [--json]`: every record, oldest first.
pub fn print_journal(config: &Config, json: bool) -> ExitCode {
    let (path, replay) = match read(config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if replay.records.is_empty() {
        eprintln!("canary: the journal {} is empty", path.display());
    }
    for r in &replay.records {
        if json {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("canary: {e}"),
            }
        } else {
            println!("{}", journal::report::history_line(r));
        }
    }
    ExitCode::SUCCESS
}

/// `canary report [-o FILE]`: the Markdown report, to the file or stdout.
pub fn write_report(config: &Config, output: Option<&Path>) -> ExitCode {
    let replay = match read(config) {
        Ok((_, r)) => r,
        Err(code) => return code,
    };
    let md = journal::report::markdown(&config.service.name, &replay);
    match output {
        Some(p) => match std::fs::write(p, md) {
            Ok(()) => {
                eprintln!("canary: report written to {}", p.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("canary: cannot write {}: {e}", p.display());
                ExitCode::FAILURE
            }
        },
        None => {
            print!("{md}");
            ExitCode::SUCCESS
        }
    }
}

/// The service's journal, replayed; lines it could not read are said on stderr.
fn read(config: &Config) -> Result<(PathBuf, Replay), ExitCode> {
    let Some(path) = app::journal_path(config) else {
        eprintln!("canary: the audit journal is turned off or there is no home directory");
        return Err(ExitCode::from(2));
    };
    let replay = match journal::replay(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canary: cannot read {}: {e}", path.display());
            return Err(ExitCode::FAILURE);
        }
    };
    for (line, why) in &replay.skipped {
        eprintln!("canary: {}:{line}: {why}", path.display());
    }
    Ok((path, replay))
}
