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
    #[cfg(target_os = "linux")]
    let pidfd = pidfd_open(pid);
    #[cfg(target_os = "linux")]
    if std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .is_some_and(|s| is_kernel_thread(&s))
    {
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
            Ok(Verified {
                pid,
                start_id: id.start_id,
                #[cfg(target_os = "linux")]
                pidfd,
            })
        }
    }
}

/// Whether a `/proc/PID/stat` line is a kernel thread's: PF_KTHREAD in its flags (field 9).
#[cfg(any(target_os = "linux", test))]
fn is_kernel_thread(stat: &str) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    stat[close + 1..]
        .split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
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
            // Windows has no signals. SIGKILL is TerminateProcess. The others ask first: a
            // process with top-level windows gets WM_CLOSE (what closing it by hand does) and
            // the caller's grace applies; one without (a console program, a service) is
            // terminated, as Node's process.kill does. CTRL_BREAK is not sent: it reaches only
            // a process group sharing our console, Windows cannot tell whether a pid leads a
            // group, and for one that does not the event can reach the whole console, this
            // process included.
            if sig != SIGKILL && crate::sys::windows::close_windows(self.pid) > 0 {
                return Ok(());
            }
            crate::sys::windows::terminate(self.pid)
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
    /// readable on exit, so no polling. Elsewhere: checked every 10 ms.
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

    #[test]
    fn kernel_threads_are_told_by_their_stat_flags() {
        // Real lines: kthreadd (flags 2129984 = PF_KTHREAD|...) and a shell (4194560).
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        let shell = "77 (ba) sh)) S 1 77 77 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 9 0 0";
        assert!(is_kernel_thread(kthread));
        assert!(!is_kernel_thread(shell));
        assert!(!is_kernel_thread("garbage"));
        // This process is not one.
        #[cfg(target_os = "linux")]
        assert!(!is_kernel_thread(
            &std::fs::read_to_string("/proc/self/stat").unwrap()
        ));
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
