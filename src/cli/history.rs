//! `canary journal` and `canary report`: the audit journal, printed as it is
//! or as a Markdown deployment report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::app;
use crate::config::Config;
use crate::journal::{self, Replay};

/// `canary journal [--json] [--shared]`: every record, oldest first.
pub fn print_journal(config: &Config, json: bool, shared: bool) -> ExitCode {
    if shared {
        return print_shared(config, json);
    }
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

/// `canary journal --shared`: the team's trail, every machine's records in
/// time order, each with who wrote it (`user@host`). `--json`: the records
/// as written, with `driver` added.
fn print_shared(config: &Config, json: bool) -> ExitCode {
    let sink = match app::shared_sink(config) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("canary: no shared audit trail is configured ([audit] shared in the config)");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("canary: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("canary: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut records = match rt.block_on(sink.read()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canary: cannot read {}: {e}", sink.location());
            return ExitCode::FAILURE;
        }
    };
    // Merged in time order (a stable sort: one machine's order is kept).
    records.sort_by_key(|r| {
        r.record["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    });
    if records.is_empty() {
        eprintln!(
            "canary: {} holds no records of {}",
            sink.location(),
            config.service.name
        );
    }
    for r in &records {
        if json {
            let mut v = r.record.clone();
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("driver".into(), serde_json::json!(r.driver));
            }
            println!("{v}");
            continue;
        }
        match serde_json::from_value::<journal::Record>(r.record.clone()) {
            Ok(rec) => println!("{}  [{}]", journal::report::history_line(&rec), r.driver),
            Err(_) => println!(
                "{} {} [{}] (a record this version does not know)",
                r.record["at"].as_str().unwrap_or("?"),
                r.record["event"].as_str().unwrap_or("?"),
                r.driver
            ),
        }
    }
    ExitCode::SUCCESS
}
