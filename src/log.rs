//! `PID_GUARD_LOG=debug` prints every decision to stderr; silent otherwise. Write errors are
//! ignored on purpose: Node makes stdio non-blocking, and a log line must never crash the host.

use std::io::Write;

pub fn enabled() -> bool {
    std::env::var_os("PID_GUARD_LOG").is_some_and(|v| v == "debug")
}

pub fn debug(args: std::fmt::Arguments<'_>) {
    if enabled() {
        let line = format!("pid-guard[{}]: {args}\n", std::process::id());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
