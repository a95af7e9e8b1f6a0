//! The platform layer: what each OS can tell about processes, locks and files, behind one small
//! API (this file). Each OS's abilities are in one file: [`linux`] (`/proc`, `sysconf`),
//! `macos` (libproc, sysctl, statfs, kqueue) and `windows` (Win32). The kernels' text and
//! struct layouts are parsed as plain data in [`procfs`] and [`macos_data`], compiled and
//! unit-tested on every OS, so the parsers of a system this machine cannot run still run here.
//!
//! Rule: what an OS cannot tell is *unknown*, never "nothing", "not running" or `Ok`. Every
//! function below that has no implementation on an OS says so with an explicit value
//! ([`Holds::Unknown`], [`Environ::Unknown`], `Scan { complete: false }`, `None` documented as
//! "cannot tell"), and callers surface it to users as unknown.
//!
//! | capability | Linux | macOS | Windows | elsewhere |
//! |---|---|---|---|---|
//! | identity & start time ([`probe`]) | `linux::probe`: `/proc/PID/stat` field 22 (ticks) | `macos::probe`: `proc_pidinfo(PROC_PIDTBSDINFO)` (µs), `kinfo_proc` for other users | `identity::portable`: `GetProcessTimes` creation time (100 ns) | sysinfo, whole seconds |
//! | boot id ([`boot_id`]) | `/proc/sys/kernel/random/boot_id` | `kern.bootsessionuuid` | sysinfo boot time (`boot-secs:`) | same |
//! | uid of a process ([`uid_of`], effective uid) | owner of `/proc/PID` | `pbsi_uid` of `PROC_PIDT_SHORTBSDINFO` | `None`: unknown | `None` |
//! | PID namespace ([`same_pid_ns`]) | `/proc/PID/ns/pid` | no namespaces: always the same | `None`: unknown | `None` |
//! | parent ([`parent_of`]) | `/proc/PID/stat` field 4 | `pbsi_ppid` | `None`: unknown | `None` |
//! | command line & exe ([`command_of`]) | `/proc/PID/cmdline`, `/proc/PID/exe` | `KERN_PROCARGS2`, `proc_pidpath` | `(None, None)`: unknown | same |
//! | environment markers, orphans ([`environ`], [`all_pids`]) | `/proc/PID/environ` | `KERN_PROCARGS2` (same user, or root) | [`Environ::Unknown`]: orphans "cannot be checked on this OS" | same |
//! | listening sockets & port owners (API: `health::ports`) | `linux::net`: `NETLINK_SOCK_DIAG` dumps ([`netlink`]) + `socket:[INODE]` links of `/proc/PID/fd` | `macos::listening` (`PROC_PIDLISTFDS` + `PROC_PIDFDSOCKETINFO`), `macos::tcp_listeners` (`net.inet.tcp.pcblist_n`, any user) | `windows::tcp_listeners` (`GetExtendedTcpTable`, v4 + v6, through `health::ports::win`) | `PortsError::Unsupported` |
//! | children of a process (API: `health::children`) | `linux::task_children` (`/proc/PID/task/TID/children`), `linux::parent_links` | sysinfo (`health::children::portable`) | same | same |
//! | lock holders ([`lock_table`], [`fd_holds`], [`pid_holds`], [`scan_lock_holders`]) | `/proc/locks`, `/proc/PID/fd` + `fdinfo` | [`Holds::Unknown`]; status falls back to the recorded identity while the lock is busy, never proven | same as macOS | same |
//! | directory watching (waits: `wait::Watcher`) | `linux::inotify_dir`, `linux::inotify_drain` (events parsed in `procfs::inotify_events`) | `macos::Kq` (kqueue `EVFILT_VNODE`) | polls (Windows helper: change notifications) | polls |
//! | termination (one loop: `stop::stop_verified`) | `signal::Verified` (pidfd pin, `pidfd_send_signal`; exit waits poll the pidfd) | `kill` after a start-time re-check; exit waits on kqueue `NOTE_EXIT` (`macos::wait_proc_exit`) | `windows::close_windows` (`WM_CLOSE`), `windows::terminate` | `kill` |
//! | file identity & safety | `fsio`/`dirfd` (`fstat`, `O_NOFOLLOW`, `openat`) | same (Unix) | `windows::file_info` (`GetFileInformationByHandle`: links, volume + index), `windows::owner_of` (`GetSecurityInfo` owner SID vs the token user), both read through `fsio::Ownership`; `windows::others_who_may_write` (the DACL's allow entries for other accounts), and `windows::open_private`/`create_dir_private` (created with a protected DACL: the 600/700 of Windows) | — |
//! | filesystem type (remote refused, in `dir::remote_fs_check`) | `linux::fs_type` (`statfs` `f_type`) + `procfs::remote_fs_kind` (NFS, SMB, CIFS, SMB2) | `macos::fs_type_name` + `macos_data::remote_fs_kind` (nfs, smbfs, afpfs, webdav) | `windows::is_remote_volume` (`GetDriveTypeW` = `DRIVE_REMOTE`: UNC shares, mapped drives) | not checked |

use crate::fsio::FileId;

pub mod macos_data;
pub mod netlink;
pub mod procfs;

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(windows)]
pub mod windows;

// ---- process identity -----------------------------------------------------------------------

/// Whether `pid` runs and when it started (see [`crate::identity::probe`], which adds the
/// portable fallback for the other systems).
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub fn probe(pid: u32) -> crate::identity::Probe {
    #[cfg(target_os = "linux")]
    {
        linux::probe(pid)
    }
    #[cfg(target_os = "macos")]
    {
        macos::probe(pid)
    }
}

/// The OS's own boot id; `None` where only the boot time is known.
pub fn boot_id() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::boot_id()
    }
    #[cfg(target_os = "macos")]
    {
        macos::boot_id()
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        None
    }
}

/// The effective uid `pid` runs as (`None`: unknown, or gone). The one meaning everywhere: it is
/// what a holder records (`geteuid`) and what an orphan's owner is compared with.
pub fn uid_of(pid: u32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        linux::uid_of(pid)
    }
    #[cfg(target_os = "macos")]
    {
        macos::uid_of(pid)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// Why `/proc` says nothing true about other processes here (Linux: it is another PID
/// namespace's, see [`linux::foreign_proc`]); `None` elsewhere or when it is ours.
pub fn foreign_proc() -> Option<&'static str> {
    #[cfg(target_os = "linux")]
    {
        linux::foreign_proc()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// This process's PID namespace (Linux only: elsewhere there is none to tell apart).
pub fn own_pid_ns() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::own_pid_ns()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Whether `pid` is in this process's PID namespace (`None`: cannot tell). macOS has no PID
/// namespaces: every pid it shows is ours.
pub fn same_pid_ns(pid: u32) -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        Some(linux::pid_ns_of(&pid.to_string())? == linux::own_pid_ns()?)
    }
    #[cfg(target_os = "macos")]
    {
        let _ = pid;
        Some(true)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// The parent of `pid` (`None`: gone, or unknown on this OS).
pub fn parent_of(pid: u32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        linux::read_stat(pid).ok().map(|s| s.ppid)
    }
    #[cfg(target_os = "macos")]
    {
        macos::short_info(pid).map(|s| s.pbsi_ppid)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        None
    }
}

/// The direct children of `pid` (empty: none, gone, or unknown on this OS; only a hint for
/// finding more lock holders, each then proven by its own fds).
pub fn children_of(pid: u32) -> Vec<u32> {
    #[cfg(target_os = "linux")]
    {
        linux::task_children(pid).unwrap_or_default()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Vec::new()
    }
}

/// Executable path and command line of `pid` (each `None`: unknown).
pub fn command_of(pid: u32) -> (Option<String>, Option<Vec<String>>) {
    #[cfg(target_os = "linux")]
    {
        (linux::exe(pid), linux::cmdline(&pid.to_string()))
    }
    #[cfg(target_os = "macos")]
    {
        (macos::exe_path(pid), macos::argv(pid))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        (None, None)
    }
}

// ---- environments (holder markers) ---------------------------------------------------------

/// Whether this OS shows other processes' environments (so orphans can be looked for).
pub const ENVIRON: bool = cfg!(any(target_os = "linux", target_os = "macos"));

/// What reading a process's environment gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Environ {
    /// The environment it was started with, NUL-separated `K=V`.
    Read(Vec<u8>),
    /// No such process.
    Gone,
    /// It cannot be read (another user's process; this OS): why.
    Unknown(String),
}

/// The environment `pid` was started with.
pub fn environ(pid: u32) -> Environ {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    {
        #[cfg(target_os = "linux")]
        let r = linux::environ(pid);
        #[cfg(target_os = "macos")]
        let r = macos::environ(pid);
        match r {
            Ok(env) => Environ::Read(env),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Environ::Gone,
            Err(e) => Environ::Unknown(format!(
                "the environment of pid {pid} cannot be read ({e}); run as its user or root"
            )),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = pid;
        Environ::Unknown(no_environ())
    }
}

/// Why orphans cannot be looked for on this OS.
pub fn no_environ() -> String {
    format!(
        "the environments of other processes cannot be read on {}, so processes a holder started cannot be checked",
        std::env::consts::OS
    )
}

/// Every process on the system (`Err`: why they cannot be listed).
pub fn all_pids() -> Result<Vec<u32>, String> {
    #[cfg(target_os = "linux")]
    {
        match linux::foreign_proc() {
            Some(why) => Err(why.to_string()),
            None => Ok(linux::all_pids().collect()),
        }
    }
    #[cfg(target_os = "macos")]
    {
        macos::all_pids().map_err(|e| format!("the process list cannot be read ({e})"))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        Err(no_environ())
    }
}

// ---- lock holders ---------------------------------------------------------------------------

/// A flock in the kernel's lock table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLock {
    /// 0 when the kernel cannot name it (the holder lives in another PID namespace).
    pub pid: u32,
    pub exclusive: bool,
}

/// Whether this OS has a lock table pid-guard can read (and fds to prove holders by).
pub const LOCK_TABLE: bool = cfg!(target_os = "linux");

/// Locks held on the file `id` (Linux: `/proc/locks`); `None` when this OS has no such table
/// or it cannot be read.
pub fn lock_table(id: FileId) -> Option<Vec<KernelLock>> {
    #[cfg(target_os = "linux")]
    {
        linux::lock_table(id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = id;
        None
    }
}

/// Whether the kernel shows a process holding the lock right now, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// One of its fds names the lock file and carries the flock (`true`: exclusive).
    Yes { exclusive: bool },
    /// Every fd of it was read: none holds the lock on this file.
    No,
    /// Its fds cannot be read (another user's process without privilege, or this OS shows no
    /// process's locks): nothing is proven either way.
    Unknown,
}

/// Whether fd `fd` of process `pid` holds a flock on the file `id`, with the locker the kernel
/// names on it (the process that took the lock on that open file description). The kernel
/// prints the lock only on the open file description that owns the flock, so a process that
/// merely has the file open (a waiter, a reader) is not taken for a holder, and neither is a
/// process that reused the pid of a dead locker.
pub fn fd_holds_and_locker(pid: u32, fd: i32, id: FileId) -> (Holds, Option<u32>) {
    #[cfg(target_os = "linux")]
    {
        linux::fd_holds_and_locker(pid, &fd.to_string(), id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, fd, id);
        (Holds::Unknown, None)
    }
}

/// [`fd_holds_and_locker`] without the locker.
pub fn fd_holds(pid: u32, fd: i32, id: FileId) -> Holds {
    fd_holds_and_locker(pid, fd, id).0
}

/// Whether any fd of process `pid` holds a flock on the file `id`.
pub fn pid_holds(pid: u32, id: FileId) -> Holds {
    #[cfg(target_os = "linux")]
    {
        linux::pid_holds(pid, id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, id);
        Holds::Unknown
    }
}

/// Every process this one can see that holds a flock on file `id`, by its own fds: for when the
/// lock table names a locker that is gone (its child kept the fd), a pid that was reused, or
/// nobody (the locker lives in another PID namespace). `complete` is false when some process's
/// fds could not be read (or, off Linux, none can), so a holder may be missing.
#[derive(Debug, Default)]
pub struct Scan {
    pub holders: Vec<(u32, bool)>,
    pub complete: bool,
}

pub fn scan_lock_holders(id: FileId) -> Scan {
    #[cfg(target_os = "linux")]
    {
        linux::scan_holders(id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = id;
        Scan::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_this_os_cannot_tell_is_unknown() {
        let me = std::process::id();
        let id = FileId { dev: 1, ino: 2 };
        if !LOCK_TABLE {
            assert_eq!(pid_holds(me, id), Holds::Unknown);
            assert!(!scan_lock_holders(id).complete);
            assert_eq!(lock_table(id), None);
        }
        let env = environ(me);
        assert_eq!(matches!(env, Environ::Read(_)), ENVIRON, "{env:?}");
        if let Environ::Unknown(why) = env {
            assert!(why.contains("cannot be read"), "{why}");
        }
        assert_eq!(all_pids().is_ok(), ENVIRON);
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        {
            assert_eq!(same_pid_ns(me), Some(true));
            assert!(all_pids().unwrap().contains(&me));
            assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
            assert_eq!(uid_of(me), crate::identity::current_uid());
            assert!(command_of(me).1.is_some_and(|a| !a.is_empty()));
        }
        assert_eq!(environ(u32::MAX - 1) == Environ::Gone, ENVIRON);
    }
}
