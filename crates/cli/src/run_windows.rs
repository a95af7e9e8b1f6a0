//! `pid-guard run` on Windows, where there is no exec: a small native wrapper.
//!
//! The wrapper acquires the guard (the caller does), then starts the command in its own process
//! group and in a job object that kills it when the wrapper ends
//! ([`pid_guard_core::sys::windows::JobChild`]), forwards Ctrl-C to it as CTRL_BREAK, waits, and
//! returns its exit code. The wrapper keeps the lock handle and is the holder: the pid file and
//! the record name the wrapper (Windows byte-range locks belong to the process that took them
//! and are dropped when it ends, so a handle inherited by the command would not keep the lock).
//! The lock lives as long as the command because each ends the other: the command's exit ends
//! the wrapper, and the wrapper's end (a `stop`, a `taskkill /F`) closes the job and kills the
//! command. `stop NAME` therefore reaches the wrapper; its graceful step (CTRL_BREAK, WM_CLOSE)
//! applies to the wrapper as to any holder, and the forced one ends both.

use std::ffi::OsString;

use pid_guard_core::guard::Guard;
use pid_guard_core::sys::windows::JobChild;

/// Runs `command` while holding `guard`; returns the command's exit code (127 when it cannot
/// be started, as a shell says for a missing command).
pub fn run(mut guard: Guard, command: &[OsString]) -> i32 {
    let mut child = match JobChild::spawn(command) {
        Ok(c) => c,
        Err(e) => {
            let name = command
                .first()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            crate::out::err(&format!("pid-guard run: cannot start \"{name}\": {e}\n"));
            let _ = guard.release();
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    child.forward_ctrl_c();
    let code = match child.wait() {
        Ok(code) => code,
        Err(e) => {
            crate::out::err(&format!(
                "pid-guard run: waiting for the command failed: {e}\n"
            ));
            1
        }
    };
    if let Err(e) = guard.release() {
        crate::out::err(&format!("pid-guard run: {}\n", e.message));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use pid_guard_core::guard::{acquire, AcquireOptions};
    use pid_guard_core::mode::Mode;

    fn opts(d: &std::path::Path) -> AcquireOptions<'_> {
        AcquireOptions {
            dir: Some(d),
            mode: Mode::Exclusive,
            meta: serde_json::json!({}),
        }
    }

    /// The command's exit code is run's; the guard's files are in place while the command runs
    /// and the guard is free afterwards; a missing command is 127.
    #[test]
    fn exit_code_passes_through_and_the_guard_lives_as_long_as_the_command() {
        let d = std::env::temp_dir().join(format!("pg-run-win-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let g = acquire("svc", &opts(&d)).unwrap();
        let lock = g.lock_path().to_owned();
        // The command exits 7 when it sees the lock file, 3 when not.
        let script = format!("if exist {} (exit 7) else (exit 3)", lock.display());
        let cmd: Vec<OsString> = ["cmd.exe", "/d", "/c", &script]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(run(g, &cmd), 7);
        let again = acquire("svc", &opts(&d));
        assert!(again.is_ok(), "free after run: {:?}", again.err());
        drop(again);
        let missing: Vec<OsString> = vec!["no-such-command-pg.exe".into()];
        let g = acquire("svc", &opts(&d)).unwrap();
        assert_eq!(run(g, &missing), 127);
        assert!(acquire("svc", &opts(&d)).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }
}
