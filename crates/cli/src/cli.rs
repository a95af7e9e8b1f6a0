//! The argument grammar, in one place. Options go before or after the command; `--` ends
//! pid-guard's options (`run backup -- pg_dump -h db` gives -h to pg_dump).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "pid-guard",
    disable_version_flag = true,
    subcommand_required = false
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The guard directory (default: PID_GUARD_DIR, XDG_RUNTIME_DIR/pid-guard, tmp).
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the version, and whether the native binary or the Node launcher ran it.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Exit 0 if <name> is free, 1 if a process holds it (npm prestart).
    Check(CheckArgs),
    /// Who holds <name> (every guard without a name); exit 0 held, 3 free.
    Status(StatusArgs),
    /// A table of every guard in the directory.
    List(ListArgs),
    /// Running, CPU, memory, ports, endpoint and children of a guarded service.
    Health(HealthArgs),
    /// Acquire <name>, then exec the command holding it.
    Run(RunArgs),
    /// SIGTERM the verified holder of <name>, SIGKILL after --timeout with --force.
    Stop(StopArgs),
    /// Remove what guards nobody holds left in the directory.
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    pub name: String,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {}

#[derive(Args, Debug)]
pub struct PruneArgs {}

#[derive(Args, Debug)]
#[command(override_help = crate::health::USAGE, override_usage = crate::health::USAGE_LINE)]
pub struct HealthArgs {
    pub name: Option<String>,
    #[arg(long, value_name = "N")]
    pub pid: Option<String>,
    #[arg(long, value_name = "N")]
    pub port: Option<String>,
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[arg(long)]
    pub prometheus: bool,
    #[arg(long = "prometheus-file", value_name = "PATH")]
    pub prometheus_file: Option<PathBuf>,
    /// Sample again every MS milliseconds (default 2000).
    #[arg(long, value_name = "MS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub watch: Option<String>,
    #[arg(long, value_name = "MS")]
    pub sample: Option<String>,
    #[arg(long, value_name = "MS")]
    pub timeout: Option<String>,
    #[arg(long, value_name = "F")]
    pub children: Option<String>,
    #[arg(long, value_name = "FIELD=VALUE")]
    pub expect: Vec<String>,
    #[arg(long = "min-children", value_name = "N")]
    pub min_children: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub name: String,
    #[arg(long, value_name = "exclusive|shared")]
    pub mode: Option<String>,
    /// Wait for the current holder to let go (forever, or MS).
    #[arg(long, value_name = "MS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub wait: Option<String>,
    /// SIGTERM the verified current holder, SIGKILL after GRACE_MS (default 5000).
    #[arg(long, value_name = "GRACE_MS", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub takeover: Option<String>,
    #[arg(long, value_name = "N")]
    pub port: Option<String>,
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    #[arg(long, value_name = "key=value")]
    pub meta: Vec<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    pub name: Option<String>,
    #[arg(long, value_name = "N")]
    pub pid: Option<String>,
    #[arg(long, value_name = "N")]
    pub port: Option<String>,
    #[arg(long, value_name = "SIG")]
    pub signal: Option<String>,
    #[arg(long, value_name = "MS")]
    pub timeout: Option<String>,
    #[arg(long)]
    pub force: bool,
}
