//! `pid-guard run` on Windows, where there is no exec: a small native wrapper holds the guard
//! (the lock is a handle a child cannot inherit through exec), starts the command in its own
//! process group and a job object, forwards Ctrl-C/Ctrl-Break and returns its exit code.
//! (Stub: written by the "windows" helper.)
//!
//! Contract with run.rs: `guard` is already acquired (waiting or taking over as asked), its meta
//! carries `command`, `port`, `url` and `--meta`. The wrapper passes `PID_GUARD_NAME=<name>` and
//! the guard's marker (`guard.marker()`) in the command's environment, may make the pid file and
//! record name the command with `guard.hand_over(pid, cmdline, None)`, releases the guard once
//! the command is gone and returns its exit code.

use pid_guard_core::guard::Guard;
use std::ffi::OsString;

/// Runs `command` holding `guard` (released when the command is gone); returns the exit code.
pub fn run(mut guard: Guard, command: &[OsString]) -> i32 {
    let _ = command;
    let _ = guard.release();
    crate::out::err("pid-guard run: not implemented yet on Windows in the native command\n");
    70
}
