//! `canary`: parses the command line, loads the configuration, starts the
//! log, and hands over to the cockpit ([`canary::app::cockpit`]), the
//! history commands ([`canary::cli::history`]) or the scripting commands
//! ([`canary::cli::script`]).

use std::process::ExitCode;

use canary::app::{self, cockpit, logging};
use canary::cli::{history, script, unattended, Args, Sub};

fn main() -> ExitCode {
    let args = Args::from_env();
    let config = match args.load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _log_guard = match logging::init(&config, args.log_level.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("canary: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Not for reading the journal (nothing is written then).
    if !matches!(
        &args.command,
        Some(Sub::Journal { .. } | Sub::Report { .. })
    ) {
        app::install_shared_audit(&config);
    }
    let code = match &args.command {
        Some(Sub::Journal { json, shared }) => history::print_journal(&config, *json, *shared),
        Some(Sub::Report { output }) => history::write_report(&config, output.as_deref()),
        Some(Sub::Release(release)) => {
            let timeout = args
                .timeout_given
                .then(|| std::time::Duration::from_secs(args.timeout.max(1)));
            unattended::run(release, &config, args.read_only, timeout)
        }
        Some(Sub::Wait { until }) => unattended::wait(until, &config, args.timeout),
        Some(cmd) => canary::cli::release::run_sub(cmd, &args, &config)
            .unwrap_or_else(|| script::run(cmd, &args, &config)),
        None => {
            let opts = app::Options {
                read_only: args.read_only,
                auto: args.auto,
            };
            cockpit::run(config, opts)
        }
    };
    // What the shared audit sink still holds gets a few seconds; a sink
    // that is down is said (its records are in the local journal).
    if let Some(h) = canary::journal::shared::finish(std::time::Duration::from_secs(5)) {
        if let Some(line) = h.problem(chrono::Utc::now()) {
            eprintln!("canary: {line}");
        }
    }
    code
}
