//! Process identity: is a PID alive, and is it still the process that was recorded?
//!
//! A PID alone is not an identity: the OS hands a freed PID to the next process. A holder records
//! its start time (as an opaque `start_id`) and the boot id; a reader believes a PID only when both
//! match. Linux reads `/proc/PID/stat` (field 22, parsed after the last `)`); macOS asks
//! `proc_pidinfo(PROC_PIDTBSDINFO)` (to the microsecond, `sys::macos`); other systems ask
//! sysinfo, which is also compiled and tested here so the fallback cannot rot.

use serde::Serialize;
use std::sync::OnceLock;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Opaque, exact start-time token; equal tokens on the same boot mean the same process.
    pub start_id: String,
    /// Wall-clock start time in ms since the epoch, for people (may be off by a second).
    pub started_at_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// No such process (or a zombie: it has exited and only waits to be reaped).
    Gone,
    /// The process exists; `None` when its start time cannot be read (another user's process
    /// on a system that hides it).
    Alive(Option<Identity>),
}

impl Probe {
    pub fn is_alive(&self) -> bool {
        matches!(self, Probe::Alive(_))
    }
}

pub fn probe(pid: u32) -> Probe {
    if pid == 0 {
        return Probe::Gone;
    }
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        crate::sys::probe(pid)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        portable::probe(pid)
    }
}

/// Whether a PID exists, from `kill(pid, 0)`: EPERM means alive but not ours.
pub fn exists_by_signal(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(p) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if p <= 0 {
            return false;
        }
        // SAFETY: signal 0 performs only the existence and permission checks; p > 0 so it never
        // addresses a process group.
        let rc = unsafe { libc::kill(p, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// Identifies this boot of this machine; a recorded identity from another boot is never believed.
pub fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| crate::sys::boot_id().unwrap_or_else(portable::boot_id))
}

/// Whether two recorded boot ids name the same boot. Boot times computed from uptime can differ
/// by a second between reads, so those compare with a little slack.
pub fn same_boot(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.strip_prefix("boot-secs:"), b.strip_prefix("boot-secs:")) {
        (Some(x), Some(y)) => match (x.parse::<i64>(), y.parse::<i64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 2,
            _ => false,
        },
        _ => false,
    }
}

/// This process's PID namespace: the inode of `/proc/self/ns/pid` (Linux). A pid recorded in
/// another namespace names another process here (or none), so it is never judged by its pid.
pub fn pid_ns() -> Option<u64> {
    crate::sys::own_pid_ns()
}

/// The effective uid a process runs as, where the OS shows it (see [`crate::sys::uid_of`]).
pub fn uid_of(pid: u32) -> Option<u32> {
    crate::sys::uid_of(pid)
}

/// What this process is, computed once.
#[derive(Debug)]
pub struct SelfInfo {
    pub pid: u32,
    pub identity: Option<Identity>,
    pub hostname: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
}

pub fn me() -> &'static SelfInfo {
    static ME: OnceLock<SelfInfo> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        let identity = match probe(pid) {
            Probe::Alive(id) => id,
            Probe::Gone => None,
        };
        SelfInfo {
            pid,
            identity,
            hostname: hostname(),
            exe: self_exe(pid),
            cmdline: cmdline(),
            uid: current_uid(),
        }
    })
}

pub fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
        String::new()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

/// Executable path and command line of another process, where the OS shows them (Linux,
/// macOS: `proc_pidpath` and `KERN_PROCARGS2`; see [`crate::sys::command_of`]).
pub fn command_of(pid: u32) -> (Option<String>, Option<Vec<String>>) {
    crate::sys::command_of(pid)
}

/// Our executable, from the same source `command_of` reads for others, so the two compare.
fn self_exe(pid: u32) -> Option<String> {
    #[cfg(target_os = "macos")]
    if let Some(p) = crate::sys::macos::exe_path(pid) {
        return Some(p);
    }
    let _ = pid;
    std::env::current_exe()
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn cmdline() -> Vec<String> {
    #[cfg(target_os = "linux")]
    if let Some(argv) = crate::sys::linux::cmdline("self") {
        return argv;
    }
    #[cfg(target_os = "macos")]
    if let Some(argv) = crate::sys::macos::argv(std::process::id()) {
        return argv;
    }
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// sysinfo-based probing: what non-Linux systems use (compiled everywhere, tested on Linux).
mod portable {
    use super::{Identity, Probe};
    use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

    #[allow(dead_code)]
    pub fn probe(pid: u32) -> Probe {
        let Ok(mut sys) = System::new() else {
            return alive_by_signal(pid);
        };
        let target = Pid::from_u32(pid);
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[target]),
            true,
            ProcessRefreshKind::nothing(),
        );
        match sys.process(target) {
            None => alive_by_signal(pid),
            Some(p) if matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead) => {
                Probe::Gone
            }
            Some(p) => Probe::Alive(Some(Identity {
                // Windows: the creation time, to the millisecond for started_at_ms (sysinfo's
                // is whole seconds, so a process started in the same second looked no later).
                #[cfg(windows)]
                started_at_ms: crate::sys::windows::creation_time(pid)
                    .and_then(crate::sys::windows::filetime_to_unix_ms)
                    .or(Some(p.start_time() * 1000)),
                // sysinfo's start time is in whole seconds: a process started in the same
                // second under a reused pid would match. The OS's own precise start time is
                // used where there is one.
                start_id: precise_start(pid)
                    .unwrap_or_else(|| format!("unix-secs:{}", p.start_time())),
                #[cfg(not(windows))]
                started_at_ms: Some(p.start_time() * 1000),
            })),
        }
    }

    /// The exact start time of `pid` as an opaque token: Windows' creation FILETIME (100 ns).
    /// `None` elsewhere or when it cannot be read (macOS and Linux never come here: `sys`).
    #[allow(dead_code)]
    fn precise_start(pid: u32) -> Option<String> {
        #[cfg(windows)]
        {
            crate::sys::windows::creation_time(pid).map(|t| format!("win-filetime:{t}"))
        }
        #[cfg(not(windows))]
        {
            let _ = pid;
            None
        }
    }

    /// When the process table hides a PID, `kill(pid, 0)` still tells whether it exists:
    /// EPERM means alive but not ours (as start-stop-daemon reads it).
    fn alive_by_signal(pid: u32) -> Probe {
        match super::exists_by_signal(pid) {
            true => Probe::Alive(None),
            false => Probe::Gone,
        }
    }

    pub fn boot_id() -> String {
        match System::boot_time() {
            Ok(t) => format!("boot-secs:{t}"),
            Err(_) => "boot-unknown".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_with_identity() {
        let Probe::Alive(Some(id)) = probe(std::process::id()) else {
            panic!("self not alive")
        };
        assert!(!id.start_id.is_empty());
        assert_eq!(me().identity.as_ref(), Some(&id));
        assert!(!boot_id().is_empty());
    }

    #[test]
    fn reaped_child_is_gone_and_running_child_differs_from_us() {
        let mut child = crate::test_child::sleeper(30);
        let pid = child.id();
        let Probe::Alive(Some(id)) = probe(pid) else {
            panic!("child not alive")
        };
        assert!(portable::probe(pid).is_alive());
        child.kill().unwrap();
        // Killed but not yet reaped: a zombie counts as gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while probe(pid).is_alive() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(probe(pid), Probe::Gone);
        child.wait().unwrap();
        assert_eq!(probe(pid), Probe::Gone);
        assert_eq!(portable::probe(pid), Probe::Gone);
        let _ = id;
    }

    #[test]
    fn namespace_and_owner_of_self() {
        #[cfg(target_os = "linux")]
        {
            assert!(pid_ns().is_some());
            assert_eq!(uid_of(std::process::id()), current_uid());
        }
    }

    #[test]
    fn pid_zero_and_boot_slack() {
        assert_eq!(probe(0), Probe::Gone);
        assert!(same_boot("boot-secs:100", "boot-secs:101"));
        assert!(!same_boot("boot-secs:100", "boot-secs:200"));
        assert!(!same_boot("abc", "abd"));
    }
}
