//! The argument grammar, in one place: every command's options and its usage text. Options go
//! before or after the command (`--dir` and `--json` are global); `--` ends pid-guard's options
//! (`run backup -- pg_dump -h db` gives -h to pg_dump). `pid-guard help <command>` and
//! `<command> --help` print the command's usage below; a usage error is one line (see
//! [`crate::out::usage_error`]).
//!
//! Positional arguments are taken as lists and counted by the command, so that a wrong count says
//! what the command expects ("expects exactly one guard name") rather than clap's generic words.

use clap::{Args, CommandFactory, Parser, Subcommand};
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

/// The doc comment of each command is its one-line summary in `pid-guard --help`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// exit 0 if <name> is free, 1 if a process holds it (npm prestart)
    #[command(override_help = USAGE_CHECK)]
    Check(CheckArgs),
    /// who holds a guard, read-only (exit 0 held, 3 otherwise)
    #[command(override_help = USAGE_STATUS)]
    Status(StatusArgs),
    /// every guard in the directory, as a table
    #[command(override_help = USAGE_LIST)]
    List(ListArgs),
    /// is it running, CPU, memory, port, endpoint (exit 0 healthy, 1 not, 3 not running)
    #[command(override_help = USAGE_HEALTH)]
    Health(HealthArgs),
    /// acquire <name>, then run a command holding it (pid file names the command)
    #[command(override_help = USAGE_RUN)]
    Run(RunArgs),
    /// stop the verified holder of <name> (or --pid N): SIGTERM, wait, SIGKILL with --force
    #[command(override_help = USAGE_STOP)]
    Stop(StopArgs),
    /// remove the leftover files of guards nothing holds (never a held one's)
    #[command(override_help = USAGE_PRUNE)]
    Prune(PruneArgs),
}

/// The names of the commands, in the order `--help` lists them.
pub fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

/// `pid-guard --help` (and `help`, and no command at all): the commands and their summaries.
pub fn top_help() -> String {
    let cmd = Cli::command();
    let mut lines = vec![
        "Usage: pid-guard <command> [options]".to_string(),
        String::new(),
        "Commands:".to_string(),
    ];
    for c in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        lines.push(format!("  {:<8} {about}", c.get_name()));
    }
    lines.extend([
        String::new(),
        "Options for every command, before or after it: --dir DIR (or PID_GUARD_DIR), --help"
            .into(),
        "pid-guard help <command> prints a command's usage; -- ends pid-guard's options.".into(),
        "pid-guard --version prints the version.".into(),
        String::new(),
    ]);
    lines.join("\n")
}

/// The grammar with the top-level help in place. An option given twice takes the last value
/// (`--dir A status --dir B` is B), as the JS CLI did; repeatable ones (`--meta`, `--expect`)
/// still collect every value.
pub fn command() -> clap::Command {
    Cli::command()
        // "pid-guard" in usage lines, not argv[0]'s file name (pid-guard.exe on Windows).
        .bin_name("pid-guard")
        .override_help(top_help())
        .args_override_self(true)
        .mut_subcommands(|c| c.args_override_self(true))
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Exactly one guard name (counted by the command).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// At most one guard name.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// None expected: kept to say "takes no arguments".
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// None expected: kept to say "takes no arguments".
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

#[derive(Args, Debug)]
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
    /// The guard name (one target in all: a name, --pid or --port; counted by the command).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
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

pub const USAGE_CHECK: &str = r#"Usage: pid-guard check <name> [--dir DIR]

Exits 0 if no process holds the guard <name> (cleaning files a dead holder left),
1 if one does, or if a dead holder's orphans still run (processes it started, carrying its
marker: printing each pid and how to stop it, `pid-guard stop <name>`). For npm "prestart".
This is a quick check, not the exclusion itself: the service still calls acquire(),
or is started with `pid-guard run`.
"#;

pub const USAGE_STATUS: &str = r#"Usage: pid-guard status [name] [--json] [--dir DIR]

Shows who holds the guard <name> (every guard in the directory without a name),
without taking the lock or touching any file. Exit 0 when held, 3 when free, stale or orphaned.
Orphaned: the holder is gone, but processes it started (they carry its marker, the variable
PID_GUARD_HOLDER_<hash> every child of a holder inherits) still run; each is named, with how
to stop it.
"#;

pub const USAGE_LIST: &str = r#"Usage: pid-guard list [--json] [--dir DIR]

A table of every guard in the directory: name, state, pid, mode, uptime, port.
A guard whose files cannot be trusted (a FIFO, directory or link at one of its paths)
is listed as 'unsafe', with what was found and where below the table.
"#;

pub const USAGE_HEALTH: &str = r#"Usage: pid-guard health [name] [--pid N | --port N] [--url URL]
                        [--expect FIELD=VALUE]... [--min-children N] [--children F]
                        [--json | --prometheus | --prometheus-file PATH] [--watch[=MS]]
                        [--dir DIR]

Checks a guarded service: running, CPU, memory, the port it should listen on (its own or a
child's), its health endpoint (the JSON fields it answers with) and its child processes.
What the holder recorded is used unless given: acquire(name, { meta: { port, url,
health: { expect: { stuck: 0 }, minChildren: 1, children: 'worker' } } }).

Target (one of):
  name            a guard name (without one: every guard that has something running,
                  i.e. held, orphaned or stale; free guards are not checked)
  --pid N         the process N
  --port N        the process listening on TCP port N (with a name: the port it should use)

Options:
  --url URL       also probe this health endpoint (http:// or https://)
  --json          print the result as JSON
  --prometheus    print the result in the Prometheus text format
  --prometheus-file PATH
                  write it to PATH instead, atomically (a temp file in the same directory,
                  then rename: node_exporter's textfile collector never reads half a file);
                  with --watch, rewritten at every sample
  --watch[=MS]    sample again every MS milliseconds (default 2000) until Ctrl-C
  --sample MS     CPU sampling window (default: 200 for people, 0 = not sampled for
                  --json and --prometheus, so scripts stay fast; always 200 with --watch)
  --timeout MS    endpoint timeout (default 2000)
  --children F    count only descendants whose name matches F (text, or /regex/)
  --expect F=V    the endpoint's JSON body must have field F (dotted path: sessions.stuck)
                  equal to V (JSON, else text; numbers compare as numbers); repeatable
  --min-children N  at least N descendants (that match --children, if given)
  --dir DIR       the guard directory (or PID_GUARD_DIR)

Exit status: 0 healthy, 1 unhealthy, 3 not running or unknown name, 2 usage error.
Without a name: 0 when every checked guard is healthy, 1 when one is not, 3 when no guard
has anything running.
"#;

pub const USAGE_RUN: &str = r#"Usage: pid-guard run <name> [options] -- <command> [args...]

Acquires the guard <name>, then runs <command> holding it. On Linux and macOS it execs
the command (no wrapper stays): the pid file names the command's process from the start,
the lock is its fd 3 when free (PID_GUARD_FD says which), `pid-guard stop <name>` reaches
the service itself, and exit code (or signal) is the command's. A service that calls
acquire(<name>) itself adopts the guard. The pid file stays after the command exits, so
stop it with `pid-guard stop <name>`, not `kill $(cat pidfile)`. On Windows a small
wrapper holds the lock and starts the command in a job object.

Options:
  --mode exclusive|shared   default exclusive
  --wait[=MS]               wait for the current holder to let go (forever, or MS)
  --takeover[=GRACE_MS]     SIGTERM the verified current holder, SIGKILL after GRACE_MS (default 5000)
  --port N                  recorded for health checks
  --url URL                 recorded for health checks (e.g. http://127.0.0.1:8080/health)
  --meta key=value          recorded too (repeatable)
  --dir DIR                 guard directory (default: PID_GUARD_DIR, XDG_RUNTIME_DIR/pid-guard, tmp)
"#;

pub const USAGE_STOP: &str = r#"Usage: pid-guard stop <name> [--signal SIG] [--timeout MS] [--force] [--json] [--dir DIR]
       pid-guard stop --pid N [--signal SIG] [--timeout MS] [--force] [--json]
       pid-guard stop --port N [--signal SIG] [--timeout MS] [--force] [--json] [--dir DIR]

Sends SIGTERM (or --signal) to the verified holder of <name> (or to pid N), waits up to
--timeout ms (default 10000) for it to exit, then SIGKILLs it with --force.
Only a process whose start time matches what it recorded is ever signalled. When the holder
of <name> is gone but processes it started still run (orphans: they carry its marker, the
variable PID_GUARD_HOLDER_<hash> a holder's children inherit, and run as its user in this
PID namespace), those are stopped; another user's or another namespace's are named, never
signalled. A port owner that is neither a proven holder nor carries the marker is never
signalled, with or without --force (its command line proves nothing): the error names it.
--port N stops the holder (or the orphans) of the guard that recorded port N.
Exit 0 stopped, 1 still running or not verifiable, 3 not running.
"#;

pub const USAGE_PRUNE: &str = r#"Usage: pid-guard prune [--json] [--dir DIR]

Removes what guards that nothing holds left in the directory: the lock file a released
guard keeps (its last holder's record), the pid file of a holder that is gone, the files of
shared holders that are gone. Never the files of a held or orphaned guard, nor of a stale
one whose recorded port something still listens on (see pid-guard status NAME). Each guard
is locked without waiting before its files go, as acquire does: one that is taken meanwhile
is kept.

Exit status: 0 done (also when nothing was left over), 1 some guard's files could not be
removed (the message says why), 2 usage error.
"#;
