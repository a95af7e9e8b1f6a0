//! Linux: every reader of `/proc` and `sysconf` pid-guard uses, in one place. The text formats
//! are parsed as plain data in [`super::procfs`] (compiled and tested on every OS); this file only
//! reads. See [`super`] for what each capability returns on the other systems.

use super::procfs::{
    parse_btime, parse_children, parse_fdinfo, parse_fdinfo_locker, parse_lock_table,
    parse_ns_link, parse_stat, parse_statm_rss, split_cmdline, Stat,
};
use super::{Holds, KernelLock, Scan};
use crate::fsio::FileId;
use crate::identity::{Identity, Probe};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

pub mod net;

pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *TICKS.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    })
}

pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    })
}

/// Boot time in ms since the epoch (the `btime` line of /proc/stat), read once; the same
/// base `identity` uses, so `startedAt` agrees with what `status` reports.
pub fn boot_time_ms() -> Option<u64> {
    static BTIME: OnceLock<Option<u64>> = OnceLock::new();
    *BTIME.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        parse_btime(&stat)
    })
}

pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// The filesystem type magic (`statfs` `f_type`) of the filesystem holding `path`.
pub fn fs_type(path: &std::path::Path) -> io::Result<u32> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is written by statfs on success.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.f_type as i64 as u32)
    }
}

// ---- directory watching ---------------------------------------------------------------------

/// An inotify instance (non-blocking, close-on-exec) watching `dir` for entries closed, removed
/// or moved away: what a lock waiter wakes on (the holder's last close of the lock file, or its
/// removal).
pub fn inotify_dir(dir: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh inotify instance nobody else owns.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mask = libc::IN_CLOSE_WRITE
        | libc::IN_CLOSE_NOWRITE
        | libc::IN_DELETE
        | libc::IN_MOVED_FROM
        | libc::IN_ONLYDIR;
    // SAFETY: valid fd and NUL-terminated path.
    if unsafe { libc::inotify_add_watch(owned.as_raw_fd(), c.as_ptr(), mask) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Reads every pending event of inotify `fd`; true if one names the entry `want` or the queue
/// overflowed (events were lost: anything may have happened).
pub fn inotify_drain(fd: &std::os::fd::OwnedFd, want: &[u8]) -> bool {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 4096];
    let mut hit = false;
    loop {
        // SAFETY: reading into a valid buffer of its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return hit;
        }
        hit |= super::procfs::inotify_events(&buf[..n as usize])
            .any(|(mask, name)| mask & libc::IN_Q_OVERFLOW != 0 || name == want);
    }
}

// ---- process identity and start time ------------------------------------------------------

/// `/proc/PID/stat`; an unparsable one is `InvalidData`.
pub fn read_stat(pid: u32) -> Result<Stat, io::Error> {
    let raw = std::fs::read(format!("/proc/{pid}/stat"))?;
    parse_stat(&raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

/// The resident set size in bytes from `/proc/PID/statm` (its second field, in pages).
pub fn read_statm_rss(pid: u32) -> Option<u64> {
    let raw = std::fs::read(format!("/proc/{pid}/statm")).ok()?;
    parse_statm_rss(&raw).map(|pages| pages * page_size())
}

/// Why `/proc` cannot be trusted about other processes: it was mounted for another PID
/// namespace than this process's (`unshare --pid --fork` without `--mount-proc`), so its pids
/// are that namespace's while kill() and pidfd_open() take ours. Read once. `None`: it is ours.
/// The test: `/proc/self` must name our own pid and `NSpid` (our pid in every namespace from the
/// one /proc was mounted for down to ours) must have a single entry.
pub fn foreign_proc() -> Option<&'static str> {
    static FOREIGN: OnceLock<bool> = OnceLock::new();
    let foreign = *FOREIGN.get_or_init(|| {
        let me = std::process::id();
        let link = std::fs::read_link("/proc/self").ok();
        let named = link.as_ref().and_then(|l| l.to_str()?.parse::<u32>().ok());
        if named != Some(me) {
            return true;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        match status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
            Some(ns) => ns.split_ascii_whitespace().collect::<Vec<_>>() != [me.to_string()],
            None => false, // kernels before 4.1: /proc/self alone decides
        }
    });
    foreign.then_some(FOREIGN_PROC)
}

pub const FOREIGN_PROC: &str = "/proc is another PID namespace's (mounted outside this one): pids cannot be proven; mount a /proc for this namespace (unshare --mount-proc)";

/// The pid `/proc/self/fdinfo/FD` of a pidfd names (in the numbering of /proc's namespace):
/// `Some(0)` or `Some(-1)` when the process is not visible there or has exited; `None` when the
/// kernel prints no such line.
pub fn pidfd_pid(fd: i32) -> Option<i64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A live thread of `pid` other than its leader, when the leader is a zombie that ended with
/// pthread_exit() while other threads run: its `/proc/PID/task/TID` directory (the leader's
/// fds are no longer shown under `/proc/PID/fd`).
fn live_task(pid: u32) -> Option<String> {
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if tid == pid {
            continue;
        }
        let base = format!("/proc/{pid}/task/{tid}");
        if let Ok(raw) = std::fs::read(format!("{base}/stat")) {
            if parse_stat(&raw).is_some_and(|s| s.state != b'Z' && s.state != b'X') {
                return Some(base);
            }
        }
    }
    None
}

/// Where `pid`'s fds are shown: `/proc/PID`, or a live thread's directory when the leader
/// exited (see [`live_task`]).
fn zombie_leader_base(pid: u32) -> Option<String> {
    match read_stat(pid) {
        Ok(st) if st.state == b'Z' && st.threads > 1 => live_task(pid),
        _ => None,
    }
}

/// Whether `pid` runs, and its start time (`/proc/PID/stat` field 22, in clock ticks since boot).
/// A thread-group leader that exited while other threads run is a zombie in /proc but the
/// process runs: it is alive (signals to it reach the live threads).
pub fn probe(pid: u32) -> Probe {
    match read_stat(pid) {
        Ok(st)
            if (st.state == b'Z' || st.state == b'X')
                && !(st.threads > 1 && live_task(pid).is_some()) =>
        {
            Probe::Gone
        }
        Ok(st) => Probe::Alive(Some(Identity {
            start_id: format!("linux-ticks:{}", st.start_ticks),
            started_at_ms: boot_time_ms().map(|b| b + st.start_ticks * 1000 / clock_ticks()),
        })),
        // Present but unparsable: alive, who it is unknown.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Probe::Alive(None),
        // /proc mounted with hidepid hides other users' processes: absent there is not gone.
        // kill(pid, 0) tells: EPERM means it exists (who it is stays unknown). Any other error
        // reading it (EACCES, ESRCH while it exits) is judged the same way.
        Err(_) => match crate::identity::exists_by_signal(pid) {
            true => Probe::Alive(None),
            false => Probe::Gone,
        },
    }
}

/// The effective uid `pid` runs as: the owner of `/proc/PID` (the kernel sets it to the
/// process's euid; a non-dumpable process shows as root, which only ever refuses more).
pub fn uid_of(pid: u32) -> Option<u32> {
    std::fs::metadata(format!("/proc/{pid}"))
        .ok()
        .map(|m| m.uid())
}

/// This process's PID namespace (the inode `/proc/self/ns/pid` names), read once.
pub fn own_pid_ns() -> Option<u64> {
    static NS: OnceLock<Option<u64>> = OnceLock::new();
    *NS.get_or_init(|| pid_ns_of("self"))
}

/// The PID namespace of `who` (a pid, or "self").
pub fn pid_ns_of(who: &str) -> Option<u64> {
    let l = std::fs::read_link(format!("/proc/{who}/ns/pid")).ok()?;
    parse_ns_link(l.to_str()?)
}

/// Every pid in /proc.
pub fn all_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
}

/// Every process's (pid, parent pid), from one scan of /proc/*/stat.
pub fn parent_links() -> impl Iterator<Item = (u32, u32)> {
    all_pids().filter_map(|pid| read_stat(pid).ok().map(|s| (pid, s.ppid)))
}

/// Direct children of `pid` from its threads' `/proc/PID/task/TID/children` files; `None` when
/// the kernel has no such file (built without it), `Some([])` when `pid` is gone or hidden.
pub fn task_children(pid: u32) -> Option<Vec<u32>> {
    let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(t) => t,
        Err(_) => return Some(Vec::new()),
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let mut path = t.path();
        path.push("children");
        match std::fs::read_to_string(&path) {
            Ok(s) => out.extend(parse_children(&s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Either the thread just exited or the kernel lacks the file: tell apart
                // by whether the thread's directory is still there.
                path.pop();
                if path.exists() {
                    return None;
                }
            }
            Err(_) => {}
        }
    }
    Some(out)
}

// ---- command line and executable ------------------------------------------------------------

/// `/proc/PID/exe`: the executable (`None`: gone or another user's).
pub fn exe(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// `/proc/PID/cmdline` (or "self"), split at its NULs.
pub fn cmdline(who: &str) -> Option<Vec<String>> {
    std::fs::read(format!("/proc/{who}/cmdline"))
        .ok()
        .map(|raw| split_cmdline(&raw))
}

// ---- environment (holder markers) -----------------------------------------------------------

/// `/proc/PID/environ`: the environment `pid` was started with (NUL-separated `K=V`).
/// `NotFound`: gone; another error (EACCES for another user's): unknown.
pub fn environ(pid: u32) -> io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/environ"))
}

// ---- lock holders ---------------------------------------------------------------------------

/// The FLOCK entries of `/proc/locks` on the file `id`; `None` when it cannot be read.
///
/// `/proc/locks` is produced a page at a time: while other locks come and go between two of
/// those reads, entries can be skipped or repeated. The table is read until two reads agree on
/// the entries for `id` (nearly always the first two).
pub fn lock_table(id: FileId) -> Option<Vec<KernelLock>> {
    if foreign_proc().is_some() {
        return None; // its pids are another namespace's
    }
    let read = || -> Option<Vec<KernelLock>> {
        let mut v = parse_lock_table(&std::fs::read_to_string("/proc/locks").ok()?, id);
        v.sort_by_key(|k| (k.pid, k.exclusive));
        Some(v)
    };
    let mut prev = read()?;
    for _ in 0..8 {
        let next = read()?;
        if next == prev {
            break;
        }
        prev = next;
    }
    Some(prev)
}

/// `/proc/PID/fd/FD` must be the file `id` (stat through the link: device and inode as our own
/// stat sees them, which also holds on overlayfs where the lock table prints another device),
/// and `/proc/PID/fdinfo/FD` must carry a flock `lock:` line; with the locker that line names.
pub fn fd_holds_and_locker(pid: u32, fd: &str, id: FileId) -> (Holds, Option<u32>) {
    if foreign_proc().is_some() {
        return (Holds::Unknown, None);
    }
    match fd_holds_in(&format!("/proc/{pid}"), fd, id) {
        r @ ((Holds::No, _) | (Holds::Unknown, _)) => match zombie_leader_base(pid) {
            Some(base) => fd_holds_in(&base, fd, id),
            None => r,
        },
        r => r,
    }
}

/// [`fd_holds_and_locker`] under `base` (`/proc/PID` or `/proc/PID/task/TID`).
fn fd_holds_in(base: &str, fd: &str, id: FileId) -> (Holds, Option<u32>) {
    match std::fs::metadata(format!("{base}/fd/{fd}")) {
        Ok(m) if m.dev() == id.dev && m.ino() == id.ino => {}
        Ok(_) => return (Holds::No, None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Holds::No, None),
        Err(_) => return (Holds::Unknown, None),
    }
    match std::fs::read_to_string(format!("{base}/fdinfo/{fd}")) {
        Ok(info) => match parse_fdinfo(&info) {
            Some(exclusive) => (Holds::Yes { exclusive }, parse_fdinfo_locker(&info)),
            None => (Holds::No, None),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Holds::No, None),
        Err(_) => (Holds::Unknown, None),
    }
}

/// Whether any fd of `pid` holds a flock on `id` (every fd of `/proc/PID/fd` is read).
pub fn pid_holds(pid: u32, id: FileId) -> Holds {
    if foreign_proc().is_some() {
        return Holds::Unknown;
    }
    match pid_holds_in(&format!("/proc/{pid}"), id) {
        // An exited leader shows no fds at all; a live thread shows them.
        r @ (Holds::No | Holds::Unknown) => match zombie_leader_base(pid) {
            Some(base) => pid_holds_in(&base, id),
            None => r,
        },
        r => r,
    }
}

fn pid_holds_in(base: &str, id: FileId) -> Holds {
    let dir = match std::fs::read_dir(format!("{base}/fd")) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Holds::No,
        Err(_) => return Holds::Unknown,
    };
    let mut unknown = false;
    let mut out = Holds::No;
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        match fd_holds_in(base, &fd, id).0 {
            Holds::Yes { exclusive } => {
                out = Holds::Yes {
                    exclusive: exclusive || matches!(out, Holds::Yes { exclusive: true }),
                }
            }
            Holds::Unknown => unknown = true,
            Holds::No => {}
        }
    }
    match out {
        Holds::No if unknown => Holds::Unknown,
        o => o,
    }
}

/// Every process whose own fds hold a flock on `id`.
pub fn scan_holders(id: FileId) -> Scan {
    let mut s = Scan {
        holders: Vec::new(),
        complete: std::fs::metadata("/proc").is_ok() && foreign_proc().is_none(),
    };
    if foreign_proc().is_some() {
        return s;
    }
    for pid in all_pids() {
        match pid_holds(pid, id) {
            Holds::Yes { exclusive } => s.holders.push((pid, exclusive)),
            Holds::Unknown => s.complete = false,
            Holds::No => {}
        }
    }
    s.holders.sort_unstable();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_proofs_see_our_own_flock_and_only_on_the_locking_fd() {
        let dir = std::env::temp_dir().join(format!("pg-kl-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("y.lock");
        let f = crate::fsio::open_lock(&path).unwrap();
        let other = crate::fsio::open_lock(&path).unwrap();
        let (id, _) = crate::fsio::file_id(&f).unwrap();
        use std::os::fd::AsRawFd;
        let me = std::process::id();
        let fd = |f: &std::fs::File| f.as_raw_fd().to_string();
        assert_eq!(fd_holds_and_locker(me, &fd(&f), id), (Holds::No, None));
        crate::flock::try_lock(&f, crate::mode::Mode::Exclusive).unwrap();
        assert_eq!(
            fd_holds_and_locker(me, &fd(&f), id),
            (Holds::Yes { exclusive: true }, Some(me))
        );
        assert_eq!(
            fd_holds_and_locker(me, &fd(&other), id).0,
            Holds::No,
            "open is not holding"
        );
        assert_eq!(pid_holds(me, id), Holds::Yes { exclusive: true });
        assert_eq!(pid_holds(u32::MAX - 1, id), Holds::No);
        assert!(scan_holders(id).holders.contains(&(me, true)));
        drop(f);
        assert_eq!(pid_holds(me, id), Holds::No);
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sees_our_own_flock() {
        let dir = std::env::temp_dir().join(format!("pg-kl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        let f = crate::fsio::open_lock(&path).unwrap();
        let (id, _) = crate::fsio::file_id(&f).unwrap();
        assert_eq!(lock_table(id), Some(vec![]));
        crate::flock::try_lock(&f, crate::mode::Mode::Exclusive).unwrap();
        // Other tests of this binary run in parallel and may briefly list an entry of their own
        // on a recycled inode: ours must be there, and nobody else's.
        let seen = lock_table(id).unwrap();
        assert!(seen.contains(&KernelLock {
            pid: std::process::id(),
            exclusive: true
        }));
        assert!(seen.iter().all(|k| k.pid == std::process::id()), "{seen:?}");
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn self_readers_agree() {
        let me = std::process::id();
        assert_eq!(uid_of(me), crate::identity::current_uid());
        assert!(own_pid_ns().is_some());
        // This test runs with its own namespace's /proc (the 41 case is a JS test, in unshare).
        assert_eq!(foreign_proc(), None);
        assert_eq!(pid_ns_of(&me.to_string()), own_pid_ns());
        assert_eq!(cmdline("self"), cmdline(&me.to_string()));
        assert!(exe(me).is_some());
        assert!(environ(me).is_ok());
        assert_eq!(
            environ(u32::MAX - 1).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(matches!(probe(me), Probe::Alive(Some(_))));
        assert!(boot_id().is_some());
        assert!(fs_type(std::path::Path::new("/")).is_ok());
        let dir = std::env::temp_dir().join(format!("pg-ino-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ino = inotify_dir(&dir).unwrap();
        assert!(!inotify_drain(&ino, b"x.lock"), "nothing happened yet");
        std::fs::write(dir.join("other"), b"").unwrap();
        std::fs::write(dir.join("x.lock"), b"").unwrap();
        assert!(inotify_drain(&ino, b"x.lock"));
        std::fs::remove_file(dir.join("other")).unwrap();
        assert!(!inotify_drain(&ino, b"x.lock"), "another entry");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(fs_type(std::path::Path::new("/no/such/dir")).is_err());
    }
}
