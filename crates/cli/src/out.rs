//! Output: writes that a closed reader does not turn into a crash (`pid-guard list | head -1`
//! exits with the command's own code, quietly), colour only on a terminal without NO_COLOR, JSON
//! as the JS CLI printed it, and the one-line form of every usage error (exit 2).

use pid_guard_core::error::{Code, Error};
use std::io::{IsTerminal, Write};

/// Process-wide set-up before anything else runs. (SIGPIPE stays ignored, Rust's default, so a
/// closed pipe shows up as EPIPE, which `out`/`err` swallow; `run` restores it before exec.)
pub fn init() {
    // Which launcher started us is ours alone: read it once, and keep it out of the environment
    // of what `run` execs (a service and its children must not inherit it).
    let launcher = std::env::var("PID_GUARD_LAUNCHER")
        .ok()
        .filter(|l| !l.is_empty());
    if launcher.is_some() {
        std::env::remove_var("PID_GUARD_LAUNCHER");
    }
    let _ = LAUNCHER.set(launcher);
}

static LAUNCHER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Writes to stdout; a reader that went away (EPIPE) or any other write error is not ours to
/// report: the command still exits with its own code. Never `println!`, which panics on EPIPE.
pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|_| o.flush());
}

pub fn err(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes()).and_then(|_| e.flush());
}

/// `value` as the JS CLI printed it: `JSON.stringify(value, null, 2)` and a newline.
pub fn json<T: serde::Serialize>(value: &T) -> i32 {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            out(&s);
            out("\n");
            0
        }
        Err(e) => {
            err(&format!(
                "pid-guard: cannot print the result as JSON: {e}\n"
            ));
            1
        }
    }
}

/// Colour for people: stdout is a terminal, NO_COLOR is unset and TERM is not dumb.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
}

pub fn paint(code: &str, s: &str) -> String {
    if use_color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub fn green(s: &str) -> String {
    paint("32", s)
}
#[allow(dead_code)] // for health's verdicts
pub fn red(s: &str) -> String {
    paint("31", s)
}
pub fn yellow(s: &str) -> String {
    paint("33", s)
}
pub fn dim(s: &str) -> String {
    paint("2", s)
}

/// "3 min" style durations for people.
pub fn duration(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", (s + 30) / 60)
    } else if s < 172_800 {
        format!("{} h", (s + 1800) / 3600)
    } else {
        format!("{} days", (s + 43_200) / 86_400)
    }
}

/// How long ago `ms` (since the epoch) was, as [`duration`] says it (never negative).
pub fn since(ms: u64) -> String {
    duration(pid_guard_core::record::now_ms().saturating_sub(ms))
}

/// A core message without its "pid-guard: " prefix, for a line that already says what it is.
pub fn bare(message: &str) -> &str {
    message.strip_prefix("pid-guard: ").unwrap_or(message)
}

/// The one-line usage error: `pid-guard status: unexpected argument '--bogus' (see pid-guard
/// status --help)`. `cmd` is `None` for the command line as a whole.
pub fn usage_line(cmd: Option<&str>, msg: &str) -> String {
    match cmd {
        Some(c) => format!("pid-guard {c}: {msg} (see pid-guard {c} --help)\n"),
        None => format!("pid-guard: {msg} (see pid-guard --help)\n"),
    }
}

/// Prints a usage error of command `cmd` (one line, stderr) and returns exit status 2.
pub fn usage_error(cmd: &str, msg: &str) -> i32 {
    err(&usage_line(Some(cmd), msg));
    2
}

/// An error from the core: its message on stderr; exit 2 for a bad name or option (the
/// caller's mistake), 1 otherwise.
pub fn core_error(e: &Error) -> i32 {
    err(&format!("{}\n", e.message));
    match e.code {
        Code::InvalidName | Code::InvalidOption => 2,
        _ => 1,
    }
}

/// The command a clap error is about: from the usage line clap attaches to most errors
/// ("Usage: pid-guard status [OPTIONS] ..."), else the first word of the command line that names
/// a command (skipping `--dir DIR`); `None` for the top level.
fn command_of(e: &clap::Error, args: &[String]) -> Option<String> {
    use clap::error::ContextKind;
    let names = crate::cli::command_names();
    if let Some(usage) = e.get(ContextKind::Usage) {
        let usage = usage.to_string();
        let word = usage.split("pid-guard").nth(1)?.split_whitespace().next()?;
        return names.into_iter().find(|n| n == word);
    }
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => return None,
            "--dir" => {
                it.next();
            }
            a if a.starts_with('-') => {}
            a => return names.into_iter().find(|n| n == a),
        }
    }
    None
}

/// What a clap error says, in one line without clap's "error: " and tips.
fn clap_message(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ErrorKind};
    let ctx = |k| e.get(k).map(|v| v.to_string());
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = ctx(ContextKind::InvalidArg).unwrap_or_default();
            match ctx(ContextKind::SuggestedArg) {
                Some(s) => format!("unexpected argument '{arg}' (did you mean '{s}'?)"),
                None => format!("unexpected argument '{arg}'"),
            }
        }
        _ => {
            // clap's first paragraph ("error: ..." and any indented lines after it, such as the
            // missing arguments), without the tips and usage below it, as one line.
            let text = e.render().to_string();
            let para: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = para.join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line).trim();
            if line.is_empty() {
                "invalid arguments".into()
            } else {
                line.to_string()
            }
        }
    }
}

/// `pid-guard frobnicate`: one line naming the commands.
fn unknown_command(name: &str) -> String {
    format!(
        "pid-guard: unknown command \"{name}\" (commands: {}; see pid-guard --help)\n",
        crate::cli::command_names().join(", ")
    )
}

/// A parse that did not give a command to run: help (stdout, exit 0), or a usage error (one
/// line on stderr, exit 2).
pub fn clap_error(e: clap::Error, args: &[String]) -> i32 {
    use clap::error::{ContextKind, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out(&e.render().to_string());
            0
        }
        ErrorKind::InvalidSubcommand => {
            let name = e
                .get(ContextKind::InvalidSubcommand)
                .map(|v| v.to_string())
                .unwrap_or_default();
            err(&unknown_command(&name));
            2
        }
        _ => {
            err(&usage_line(
                command_of(&e, args).as_deref(),
                &clap_message(&e),
            ));
            2
        }
    }
}

/// No command: the help, on stderr, exit 2.
pub fn no_command() -> i32 {
    err(&crate::cli::top_help());
    2
}

pub fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// `pid-guard --version`: the version, and which one ran (this native binary, or the Node
/// launcher that started it: the launcher sets PID_GUARD_LAUNCHER).
pub fn version() -> i32 {
    let via = match LAUNCHER.get().and_then(|l| l.as_deref()) {
        Some(l) => format!("native binary, started by the {l} launcher"),
        None => "native binary".to_string(),
    };
    out(&format!("{} ({via})\n", env!("CARGO_PKG_VERSION")));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_as_the_js_cli_did() {
        // Math.round(ms / 1000) seconds, then whole minutes, hours, days.
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(499), "0 s");
        assert_eq!(duration(500), "1 s");
        assert_eq!(duration(119_499), "119 s");
        assert_eq!(duration(119_500), "2 min");
        assert_eq!(duration(150_000), "3 min"); // 2.5 min rounds up, as Math.round does
        assert_eq!(duration(7_199_000), "120 min");
        assert_eq!(duration(7_200_000), "2 h");
        assert_eq!(duration(172_799_000), "48 h");
        assert_eq!(duration(172_800_000), "2 days");
        assert_eq!(duration(3 * 86_400_000 + 43_200_000), "4 days");
        assert_eq!(
            since(u64::MAX),
            "0 s",
            "a start in the future is 0 s, not a wrap"
        );
    }

    /// The usage-error line of `pid-guard ARGS`.
    fn line(args: &[&str]) -> String {
        let argv: Vec<String> = std::iter::once("pid-guard")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let e = crate::cli::command()
            .try_get_matches_from(&argv)
            .expect_err("a usage error");
        usage_line(command_of(&e, &argv).as_deref(), &clap_message(&e))
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_command() {
        assert_eq!(
            line(&["status", "x", "--bogus"]),
            "pid-guard status: unexpected argument '--bogus' (see pid-guard status --help)\n"
        );
        assert_eq!(
            line(&["--bogus", "status"]),
            "pid-guard: unexpected argument '--bogus' (see pid-guard --help)\n"
        );
        for (args, starts) in [
            (
                &["list", "--dri", "x"][..],
                "pid-guard list: unexpected argument '--dri'",
            ),
            (
                &["stop", "--timeout"][..],
                "pid-guard stop: a value is required for '--timeout",
            ),
            (
                &["--dir", "d", "status", "--dir"][..],
                "pid-guard status: a value is required for '--dir",
            ),
            (
                &["run", "x"][..],
                "pid-guard run: the following required arguments were not provided: <COMMAND>",
            ),
        ] {
            let l = line(args);
            assert!(l.starts_with(starts), "{args:?}: {l}");
            assert!(
                l.ends_with("--help)\n") && l.matches('\n').count() == 1,
                "{args:?}: {l}"
            );
        }
        let e = crate::cli::command()
            .try_get_matches_from(["pid-guard", "frobnicate"])
            .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::InvalidSubcommand);
        assert!(unknown_command("x").starts_with(
            "pid-guard: unknown command \"x\" (commands: check, status, list, health, run, stop, prune;"
        ));
    }

    #[test]
    fn an_option_given_twice_takes_the_last_value_and_repeatable_ones_collect() {
        use clap::FromArgMatches;
        let parse = |args: &[&str]| {
            let m = crate::cli::command()
                .try_get_matches_from(std::iter::once("pid-guard").chain(args.iter().copied()))
                .unwrap();
            crate::cli::Cli::from_arg_matches(&m).unwrap()
        };
        let c = parse(&[
            "--dir", "a", "status", "x", "--dir", "b", "--json", "--json",
        ]);
        assert_eq!(c.global.dir.as_deref(), Some(std::path::Path::new("b")));
        assert!(c.global.json);
        let c = parse(&["run", "x", "--meta", "a=1", "--meta", "b=2", "--", "true"]);
        match c.command {
            Some(crate::cli::Command::Run(r)) => assert_eq!(r.meta, ["a=1", "b=2"]),
            other => panic!("{other:?}"),
        }
        let c = parse(&["health", "x", "--expect", "a=1", "--expect", "b=2"]);
        match c.command {
            Some(crate::cli::Command::Health(h)) => assert_eq!(h.expect, ["a=1", "b=2"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn core_messages_lose_only_their_prefix() {
        assert_eq!(bare("pid-guard: a thing"), "a thing");
        assert_eq!(bare("other"), "other");
    }
}
