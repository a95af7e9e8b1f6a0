//! Output: writes that a closed reader does not turn into a crash (`pid-guard list | head -1`
//! exits with the command's own code, quietly), colour only on a terminal without NO_COLOR, and
//! the mapping of clap's errors to exit 2.

use std::io::{IsTerminal, Write};

/// SIGPIPE is ignored (Rust's default), so a closed pipe shows up as EPIPE, which `out`/`err`
/// swallow. Kept as a hook for anything process-wide the command needs first.
pub fn init() {}

pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|_| o.flush());
}

pub fn err(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes()).and_then(|_| e.flush());
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

pub fn clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out(&e.render().to_string());
            0
        }
        _ => {
            err(&e.render().to_string());
            2
        }
    }
}

pub fn no_command() -> i32 {
    use clap::CommandFactory;
    err(&crate::cli::Cli::command().render_help().to_string());
    2
}

pub fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// `pid-guard --version`: the version, and which one ran (this native binary, or the Node
/// launcher that started it: the launcher sets PID_GUARD_LAUNCHER).
pub fn version() -> i32 {
    let via = match std::env::var("PID_GUARD_LAUNCHER") {
        Ok(l) if !l.is_empty() => format!("native binary, started by the {l} launcher"),
        _ => "native binary".to_string(),
    };
    out(&format!("{} ({via})\n", env!("CARGO_PKG_VERSION")));
    0
}
