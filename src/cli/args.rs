//! The command line (`canary --help`), and the configuration it selects.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Config, PlatformKind};

/// A terminal cockpit to supervise and drive canary deployments.
#[derive(clap::Parser, Debug)]
#[command(name = "canary", version, about, long_about = None)]
pub struct Args {
    /// Open the cockpit on the built-in simulated service (no cloud account needed).
    #[arg(long)]
    pub demo: bool,
    /// Simulator scenario: healthy, bad-canary, slow-canary, or a path to a scenario file.
    #[arg(long, value_name = "NAME|PATH")]
    pub scenario: Option<String>,
    /// Seed for the simulator (same seed, same run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Config file (default: $CANARY_CONFIG, then the XDG config dir).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Disable every action that changes traffic (anywhere on the line).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Scripts: how long a failing call is retried, in seconds (default 60);
    /// `canary release` and `canary wait`: how long the whole run may take
    /// (`90`, `30m`, `1h30m`).
    #[arg(long, global = true, value_name = "SECS|DURATION", default_value_t = 60, value_parser = seconds)]
    pub timeout: u64,
    /// Whether `--timeout` was given (`canary release` has its own default).
    #[arg(skip)]
    pub timeout_given: bool,
    /// Level of the program's own log file: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Run the promotion plan in auto mode: advance when the window is over and the gates are green.
    #[arg(long)]
    pub auto: bool,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

/// `--timeout`: whole seconds, or a duration (`30m`).
fn seconds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) => Ok(n),
        Err(_) => crate::core::duration::parse(text).map(|d| d.as_secs().max(1)),
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Run the promotion plan unattended (CI): events as JSON lines on
    /// stdout, progress on stderr; exit 0 promoted, 3 rolled back, 4 waiting
    /// for a human, 1 failed to act, 2 bad usage.
    Release(super::unattended::ReleaseArgs),
    /// Wait until the service's plan (from the journal) reaches a state:
    /// `step=N`, `paused`, `promoted`, `done`.
    Wait {
        /// step=N | paused | promoted | rolled-back | done
        #[arg(long, value_name = "STATE")]
        until: String,
    },
    /// Print the audit journal of the service, oldest first.
    Journal {
        /// One JSON record per line, as stored.
        #[arg(long)]
        json: bool,
        /// The team's shared audit trail (`[audit] shared`), every machine's
        /// records merged in time order, instead of this machine's journal.
        #[arg(long)]
        shared: bool,
    },
    /// Write a Markdown deployment report from the audit journal.
    Report {
        /// Output file (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the service's revisions and traffic split (target and actual).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Set the traffic split: `canary set canary=10` (revision names or tags;
    /// the stable revision gets the rest; tags are kept).
    Set {
        /// NAME=PERCENT, one or more.
        #[arg(required = true, value_name = "NAME=PERCENT")]
        assignments: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Deploy a new revision: the image, no traffic, a tag (shows the exact call first).
    Deploy(super::release::DeployArgs),
    /// Everything known about one revision: image, digest, env (secret names only), limits, conditions, diff vs the stable.
    Describe(super::release::DescribeArgs),
    /// Delete one revision (never one that serves traffic, is tagged or is the stable).
    Delete(super::release::DeleteArgs),
    /// Delete old revisions, keeping the N newest and every one in use.
    Prune(super::release::PruneArgs),
    /// All traffic to the stable revision (or --to REVISION).
    Rollback {
        /// Revision name or tag to send all traffic to.
        #[arg(long, value_name = "REVISION")]
        to: Option<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

/// What `set` and `rollback` share.
#[derive(clap::Args, Debug)]
pub struct ChangeArgs {
    /// Apply without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Why, for the audit journal.
    #[arg(long)]
    pub reason: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The command line of this process, noting whether `--timeout` was given.
    pub fn from_env() -> Args {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Args::command().get_matches();
        let mut args = match Args::from_arg_matches(&matches) {
            Ok(a) => a,
            Err(e) => e.exit(),
        };
        args.timeout_given = given(&matches, "timeout");
        args
    }

    /// Config from --config / $CANARY_CONFIG / XDG; `--demo` works without
    /// one. The error is said on stderr; the exit code is bad usage (2).
    pub fn load_config(&self) -> Result<Config, ExitCode> {
        let mut config = match config::locate(self.config.as_deref()) {
            Some(path) => match Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return Err(ExitCode::from(2));
                }
            },
            None if self.demo => Config::demo(),
            None => {
                let xdg = config::default_config_path().map_or_else(
                    || "~/.config/canary/config.toml".into(),
                    |p| p.display().to_string(),
                );
                eprintln!(
                    "canary: no configuration found.\n\
                     \n  Looked for: --config FILE, $CANARY_CONFIG, {xdg}\n\
                     \n  Create one from the documented example shipped with canary:\n\
                     \n      mkdir -p \"$(dirname {xdg})\" && cp config.example.toml {xdg}\n\
                     \n  or try the cockpit on the built-in simulated service:\n\
                     \n      canary --demo"
                );
                return Err(ExitCode::from(2));
            }
        };
        if self.demo {
            config.service.platform = PlatformKind::Simulator;
        }
        if let Some(s) = &self.scenario {
            config.demo.scenario = s.clone();
        }
        if let Some(seed) = self.seed {
            config.demo.seed = seed;
        }
        Ok(config)
    }
}

/// Whether `id` was on the command line (at the top or in a subcommand).
fn given(m: &clap::ArgMatches, id: &str) -> bool {
    let here = matches!(
        m.try_contains_id(id).ok().and_then(|_| m.value_source(id)),
        Some(clap::parser::ValueSource::CommandLine)
    );
    here || m.subcommand().is_some_and(|(_, sub)| given(sub, id))
}
