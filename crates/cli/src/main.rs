//! `pid-guard`: the command-line face of the core. One file per command; this file parses the
//! arguments (clap) and maps what a command returns to the exit status scripts rely on:
//! 0 ok, 1 held / unhealthy / failed, 2 usage error, 3 not running / free.

mod check;
mod cli;
mod health;
mod list;
mod out;
mod prune;
mod run;
#[cfg(windows)]
mod run_windows;
mod status;
mod stop;

use clap::FromArgMatches;
use cli::{Cli, Command};

fn main() {
    out::init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::command()
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let shown: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            out::exit(out::clap_error(e, &shown))
        }
    };
    if cli.global.version {
        out::exit(out::version());
    }
    let code = match cli.command {
        None => out::no_command(),
        Some(Command::Check(a)) => check::run(&cli.global, &a),
        Some(Command::Status(a)) => status::run(&cli.global, &a),
        Some(Command::List(a)) => list::run(&cli.global, &a),
        Some(Command::Health(a)) => health::run(&cli.global, &a),
        Some(Command::Run(a)) => run::run(&cli.global, &a),
        Some(Command::Stop(a)) => stop::run(&cli.global, &a),
        Some(Command::Prune(a)) => prune::run(&cli.global, &a),
    };
    out::exit(code)
}
