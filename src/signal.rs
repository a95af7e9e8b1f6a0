//! Signalling a process only after proving who it is.
//!
//! Rules: never PID <= 1, never our own PID, never a process group (the PID is always passed as a
//! positive number), never a process whose start time differs from the one expected. On Linux the
//! process is pinned with a pidfd first and checked after: a pidfd cannot be redirected to a
//! process that reuses the PID later, so the check and the signal concern the same process.

use crate::identity::{self, Probe};
use std::time::{Duration, Instant};

/// A process proven to be the expected one, ready to be signalled.
pub struct Verified {
    pub pid: u32,
    pub start_id: String,
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
}

/// Signals by name, as in `kill -l` (`SIGTERM`, `TERM`, or a number).
pub fn parse_signal(name: &str) -> Option<i32> {
    #[cfg(unix)]
    {
        let n = name.trim().to_ascii_uppercase();
        let n = n.strip_prefix("SIG").unwrap_or(&n);
        Some(match n {
            "TERM" => libc::SIGTERM,
            "INT" => libc::SIGINT,
            "HUP" => libc::SIGHUP,
            "QUIT" => libc::SIGQUIT,
            "KILL" => libc::SIGKILL,
            "USR1" => libc::SIGUSR1,
            "USR2" => libc::SIGUSR2,
            other => other.parse().ok().filter(|&s| s > 0 && s < 65)?,
        })
    }
    #[cfg(not(unix))]
    {
        // The names Node knows on Windows and pid-guard can act on (see `Verified::send`);
        // anything else is refused as on Unix, never turned into a TerminateProcess.
        let n = name.trim().to_ascii_uppercase();
        let n = n.strip_prefix("SIG").unwrap_or(&n);
        let sig = match n {
            "HUP" => WIN_SIGHUP,
            "INT" => WIN_SIGINT,
            "KILL" => WIN_SIGKILL,
            "TERM" => WIN_SIGTERM,
            "BREAK" => WIN_SIGBREAK,
            other => other.parse().ok()?,
        };
        [
            WIN_SIGHUP,
            WIN_SIGINT,
            WIN_SIGKILL,
            WIN_SIGTERM,
            WIN_SIGBREAK,
        ]
        .contains(&sig)
        .then_some(sig)
    }
}

pub fn signal_name(sig: i32) -> String {
    #[cfg(unix)]
    {
        match sig {
            libc::SIGTERM => "SIGTERM".into(),
            libc::SIGINT => "SIGINT".into(),
            libc::SIGHUP => "SIGHUP".into(),
            libc::SIGQUIT => "SIGQUIT".into(),
            libc::SIGKILL => "SIGKILL".into(),
            libc::SIGUSR1 => "SIGUSR1".into(),
            libc::SIGUSR2 => "SIGUSR2".into(),
            n => format!("signal {n}"),
        }
    }
    #[cfg(not(unix))]
    {
        match sig {
            WIN_SIGHUP => "SIGHUP".into(),
            WIN_SIGINT => "SIGINT".into(),
            WIN_SIGKILL => "SIGKILL".into(),
            WIN_SIGTERM => "SIGTERM".into(),
            WIN_SIGBREAK => "SIGBREAK".into(),
            n => format!("signal {n}"),
        }
    }
}

// Node's numbers for the signals it knows on Windows (os.constants.signals).
#[cfg(not(unix))]
const WIN_SIGHUP: i32 = 1;
#[cfg(not(unix))]
const WIN_SIGINT: i32 = 2;
#[cfg(not(unix))]
const WIN_SIGKILL: i32 = 9;
#[cfg(not(unix))]
const WIN_SIGTERM: i32 = 15;
#[cfg(not(unix))]
const WIN_SIGBREAK: i32 = 21;

pub const SIGKILL: i32 = {
    #[cfg(unix)]
    {
        libc::SIGKILL
    }
    #[cfg(not(unix))]
    {
        WIN_SIGKILL
    }
};

pub const SIGTERM: i32 = {
    #[cfg(unix)]
    {
        libc::SIGTERM
    }
    #[cfg(not(unix))]
    {
        WIN_SIGTERM
    }
};

/// Proves `pid` is a live process we may signal, and (when `expected` is given) the one with that
/// start time. The error says why not, in a sentence.
pub fn verify(pid: u32, expected: Option<&str>) -> Result<Verified, String> {
    if pid <= 1 {
        return Err(format!("pid {pid} is never signalled"));
    }
    if pid == std::process::id() {
        return Err(format!("pid {pid} is this process itself"));
    }
    if i32::try_from(pid).is_err() {
        return Err(format!("pid {pid} is out of range"));
    }
    if let Some(why) = crate::sys::foreign_proc() {
        return Err(why.to_string());
    }
    #[cfg(target_os = "linux")]
    let pidfd = pidfd_open(pid);
    #[cfg(target_os = "linux")]
    if crate::sys::linux::read_stat(pid).is_ok_and(|s| s.is_kernel_thread()) {
        // `stop --pid 2` by a typo: a kernel thread holds no guard and ignores SIGTERM anyway.
        return Err(format!("pid {pid} is a kernel thread, never signalled"));
    }
    match identity::probe(pid) {
        Probe::Gone => Err(format!("process {pid} is not running")),
        Probe::Alive(None) => Err(format!(
            "the start time of process {pid} cannot be read, so it cannot be verified (another user's process?)"
        )),
        Probe::Alive(Some(id)) => {
            if let Some(want) = expected {
                if want != id.start_id {
                    return Err(format!(
                        "pid {pid} now belongs to another process (start time {} instead of the recorded {want})",
                        id.start_id
                    ));
                }
            }
            // The pinned process must be the one /proc showed: its pidfd's fdinfo names its pid
            // in /proc's numbering (0 when not visible there, -1 once exited).
            #[cfg(target_os = "linux")]
            if let Some(fd) = &pidfd {
                use std::os::fd::AsRawFd;
                match crate::sys::linux::pidfd_pid(fd.as_raw_fd()) {
                    Some(n) if n == i64::from(pid) => {}
                    None => {}
                    Some(-1) => return Err(format!("process {pid} is not running")),
                    Some(n) => {
                        return Err(format!(
                            "pid {pid} in /proc is not the process pid {pid} pins (/proc names it {n}), so it cannot be verified"
                        ))
                    }
                }
            }
            Ok(Verified {
                pid,
                start_id: id.start_id,
                #[cfg(target_os = "linux")]
                pidfd,
            })
        }
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: raw syscall with a positive pid and no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel returned a fresh fd that nobody else owns.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

impl Verified {
    /// Sends `sig`. Without a pidfd the identity is checked once more right before `kill`.
    pub fn send(&self, sig: i32) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            use std::os::fd::AsRawFd;
            // SAFETY: valid pidfd; a null siginfo means "as kill() would".
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return match rc {
                0 => Ok(()),
                _ => {
                    let e = std::io::Error::last_os_error();
                    // ESRCH: it exited meanwhile, which is what we wanted.
                    if e.raw_os_error() == Some(libc::ESRCH) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            };
        }
        self.send_unpinned(sig)
    }

    fn send_unpinned(&self, sig: i32) -> std::io::Result<()> {
        match identity::probe(self.pid) {
            Probe::Alive(Some(id)) if id.start_id == self.start_id => {}
            _ => return Ok(()), // gone (or replaced): never signal a stranger
        }
        #[cfg(unix)]
        {
            // SAFETY: pid > 1 (checked in verify), so this addresses exactly one process.
            if unsafe { libc::kill(self.pid as libc::pid_t, sig) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(e);
                }
            }
            Ok(())
        }
        #[cfg(windows)]
        {
            // Windows has no signals. SIGKILL is TerminateProcess. The others ask first, in
            // the order a user would: CTRL_BREAK to a process that leads its own process group
            // on our console (how `pid-guard run` starts its command; Node's SIGBREAK), else
            // WM_CLOSE to its top-level windows (closing it by hand); the caller's grace then
            // applies before a SIGKILL. A process reachable neither way (a service, a console
            // program in another console or in someone else's group) is terminated, as Node's
            // process.kill does. Each step is taken only after the identity check above.
            use crate::sys::windows as win;
            if sig != SIGKILL && (win::ctrl_break(self.pid) || win::close_windows(self.pid) > 0) {
                return Ok(());
            }
            win::terminate(self.pid)
        }
    }

    /// Whether the process has exited (a zombie counts as exited).
    pub fn exited(&self) -> bool {
        match identity::probe(self.pid) {
            Probe::Gone => true,
            Probe::Alive(Some(id)) => id.start_id != self.start_id,
            Probe::Alive(None) => false,
        }
    }

    /// Waits until the process exits or `deadline`; true if it exited. Linux: the pidfd becomes
    /// readable on exit; macOS: kqueue `NOTE_EXIT`; so no polling there. Elsewhere: checked
    /// every 10 ms.
    pub fn wait_exit(&self, deadline: Instant) -> bool {
        loop {
            if self.exited() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            #[cfg(target_os = "linux")]
            if let Some(fd) = &self.pidfd {
                use std::os::fd::AsRawFd;
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, ms) };
                continue;
            }
            #[cfg(target_os = "macos")]
            {
                crate::sys::macos::wait_proc_exit(self.pid, left);
                continue;
            }
            #[allow(unreachable_code)]
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_targets() {
        assert!(verify(0, None).is_err());
        assert!(verify(1, None).is_err());
        assert!(verify(std::process::id(), None).is_err());
        assert!(verify(u32::MAX, None).is_err());
    }

    #[test]
    fn signals_a_verified_child_and_refuses_a_wrong_start_time() {
        let mut child = crate::test_child::sleeper(30);
        let pid = child.id();
        let err = verify(pid, Some("linux-ticks:1")).err().unwrap();
        assert!(err.contains("another process"), "{err}");
        let v = verify(pid, None).unwrap();
        assert!(!v.exited());
        v.send(SIGTERM).unwrap();
        assert!(v.wait_exit(Instant::now() + Duration::from_secs(10)));
        let status = child.wait().unwrap();
        #[cfg(not(unix))]
        let _ = status;
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(SIGTERM)
        );
    }

    /// Under Wine, with a real child in its own process group on our console: a SIGTERM is a
    /// CTRL_BREAK it can handle (it exits 0), and one that ignores it is terminated by the
    /// SIGKILL after the grace; its identity is checked before each step.
    #[cfg(windows)]
    #[test]
    fn windows_asks_with_ctrl_break_then_terminates() {
        use crate::sys::windows as win;
        for exits in [true, false] {
            let (mut child, _ready) = crate::test_child::breaker(exits);
            let pid = child.id();
            assert_ne!(win::process_group_id(std::process::id()), Some(pid));
            // Wine 8 records no process group in any process (ProcessGroupId is 0), and a test
            // run from a pipe has no console there: no group can be verified, so no CTRL_BREAK
            // is sent and the stop is a termination. That fallback is what is checked under
            // Wine; the graceful path on Windows.
            let verified = win::process_group_id(pid) == Some(pid) && win::shares_console(pid);
            assert!(
                verified || crate::test_child::under_wine(),
                "leads its own group"
            );
            let graceful = exits && verified;
            let v = verify(pid, None).unwrap();
            v.send(SIGTERM).unwrap();
            let gone =
                v.wait_exit(Instant::now() + Duration::from_secs(if exits { 20 } else { 2 }));
            assert_eq!(gone, exits || !verified, "exits on CTRL_BREAK: {exits}");
            if !gone {
                v.send(SIGKILL).unwrap();
                assert!(v.wait_exit(Instant::now() + Duration::from_secs(20)));
            }
            let code = child.wait().unwrap().code();
            assert_eq!(code, Some(if graceful { 0 } else { 1 }));
        }
    }

    /// A process with a top-level window is asked with WM_CLOSE (it exits 0 on it), not
    /// terminated.
    #[cfg(windows)]
    #[test]
    fn windows_asks_a_windowed_process_with_wm_close() {
        let mut child = crate::test_child::windowed();
        let v = verify(child.id(), None).unwrap();
        assert!(crate::sys::windows::close_windows(u32::MAX) == 0);
        v.send(SIGTERM).unwrap();
        assert!(v.wait_exit(Instant::now() + Duration::from_secs(20)));
        assert_eq!(
            child.wait().unwrap().code(),
            Some(0),
            "closed, not terminated"
        );
    }

    #[test]
    fn parses_signal_names() {
        assert_eq!(parse_signal("SIGTERM"), Some(SIGTERM));
        assert_eq!(parse_signal("term"), Some(SIGTERM));
        assert_eq!(parse_signal("9"), Some(SIGKILL));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(
            parse_signal("SIGINT").map(signal_name).as_deref(),
            Some("SIGINT")
        );
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
        #[cfg(windows)]
        {
            // Only what Windows can act on; never any name at all.
            assert_eq!(
                parse_signal("SIGBREAK").map(signal_name).as_deref(),
                Some("SIGBREAK")
            );
            assert_eq!(parse_signal("SIGUSR1"), None);
            assert_eq!(
                parse_signal("SIGHUP").map(signal_name).as_deref(),
                Some("SIGHUP")
            );
            assert_eq!(parse_signal("64"), None);
        }
    }
}
