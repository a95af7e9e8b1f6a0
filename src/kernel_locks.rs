//! The kernel's own table of who holds which lock. On Linux `/proc/locks` lists every flock with
//! its owner's PID and `major:minor:inode`, so a holder can be found (and "held" told apart from
//! "stale") without touching the lock and even when its pid file is missing or empty.

use crate::fsio::FileId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLock {
    /// 0 when the kernel cannot name it (the holder lives in another PID namespace).
    pub pid: u32,
    pub exclusive: bool,
}

/// Whether this OS has a lock table pid-guard can read.
pub const AVAILABLE: bool = cfg!(target_os = "linux");

/// Locks held on the file `id`; `None` when this OS has no such table or it cannot be read.
///
/// `/proc/locks` is produced a page at a time: while other locks come and go between two of
/// those reads, entries can be skipped or repeated. The table is read until two reads agree on
/// the entries for `id` (nearly always the first two).
pub fn holders(id: FileId) -> Option<Vec<KernelLock>> {
    #[cfg(target_os = "linux")]
    {
        let read = || -> Option<Vec<KernelLock>> {
            let mut v = parse(&std::fs::read_to_string("/proc/locks").ok()?, id);
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
    /// Its fds cannot be read (another user's process without privilege, or this OS has no
    /// /proc): nothing is proven either way.
    Unknown,
}

/// Whether fd `fd` of process `pid` holds a flock on the file `id`: `/proc/PID/fd/FD` must be
/// that very file (stat through the link: device and inode as our own stat sees them, which
/// also holds on overlayfs where the lock table prints another device), and
/// `/proc/PID/fdinfo/FD` must carry a `lock:` line. The kernel prints that line only on the
/// open file description that owns the flock, so a process that merely has the file open (a
/// waiter, a reader) is not taken for a holder, and neither is a process that reused the pid of
/// a dead locker.
pub fn fd_holds(pid: u32, fd: i32, id: FileId) -> Holds {
    #[cfg(target_os = "linux")]
    {
        linux::fd_holds(pid, &fd.to_string(), id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, fd, id);
        Holds::Unknown
    }
}

/// Whether any fd of process `pid` holds a flock on the file `id` (see [`fd_holds`]).
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
/// fds could not be read, so a holder may be missing.
#[derive(Debug, Default)]
pub struct Scan {
    pub holders: Vec<(u32, bool)>,
    pub complete: bool,
}

pub fn scan(id: FileId) -> Scan {
    #[cfg(target_os = "linux")]
    {
        linux::scan(id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = id;
        Scan::default()
    }
}

/// Which flocks a `/proc/PID/fdinfo/FD` text lists (`Some(true)`: an exclusive one).
#[cfg(any(target_os = "linux", test))]
pub fn parse_fdinfo(info: &str) -> Option<bool> {
    let mut found = None;
    for rest in info.lines().filter_map(|l| l.strip_prefix("lock:")) {
        // "\t1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF": the pid (the locker, maybe
        // dead, maybe 0 across namespaces) and device (another one on overlayfs) are not used.
        let mut t = rest.split_ascii_whitespace().skip(1);
        if t.next() != Some("FLOCK") {
            continue;
        }
        let _advisory = t.next();
        let exclusive = t.next() == Some("WRITE");
        found = Some(found.unwrap_or(false) || exclusive);
    }
    found
}

/// The locker the kernel names on a flock line of a `/proc/PID/fdinfo/FD` text: the process that
/// took the lock on that open file description. Several processes share one description (a
/// wrapper and the command it handed its fd to): all of them show the same locker. `None` when
/// there is no flock line or the locker is not visible from here (0).
#[cfg(any(target_os = "linux", test))]
pub fn parse_fdinfo_locker(info: &str) -> Option<u32> {
    info.lines()
        .filter_map(|l| l.strip_prefix("lock:"))
        .find_map(|rest| {
            let t: Vec<&str> = rest.split_ascii_whitespace().collect();
            match t.as_slice() {
                [_, "FLOCK", _, _, pid, ..] => pid.parse().ok().filter(|&p: &u32| p > 0),
                _ => None,
            }
        })
}

/// [`fd_holds`], with the locker the same fdinfo names (see [`parse_fdinfo_locker`]): one read.
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

#[cfg(target_os = "linux")]
mod linux {
    use super::{parse_fdinfo, parse_fdinfo_locker, FileId, Holds, Scan};
    use std::os::unix::fs::MetadataExt;

    pub fn fd_holds(pid: u32, fd: &str, id: FileId) -> Holds {
        fd_holds_and_locker(pid, fd, id).0
    }

    pub fn fd_holds_and_locker(pid: u32, fd: &str, id: FileId) -> (Holds, Option<u32>) {
        match std::fs::metadata(format!("/proc/{pid}/fd/{fd}")) {
            Ok(m) if m.dev() == id.dev && m.ino() == id.ino => {}
            Ok(_) => return (Holds::No, None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Holds::No, None),
            Err(_) => return (Holds::Unknown, None),
        }
        match std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) {
            Ok(info) => match parse_fdinfo(&info) {
                Some(exclusive) => (Holds::Yes { exclusive }, parse_fdinfo_locker(&info)),
                None => (Holds::No, None),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Holds::No, None),
            Err(_) => (Holds::Unknown, None),
        }
    }

    pub fn pid_holds(pid: u32, id: FileId) -> Holds {
        let dir = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Holds::No,
            Err(_) => return Holds::Unknown,
        };
        let mut unknown = false;
        let mut out = Holds::No;
        for e in dir.flatten() {
            let Some(fd) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            match fd_holds(pid, &fd, id) {
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

    pub fn scan(id: FileId) -> Scan {
        let mut s = Scan {
            holders: Vec::new(),
            complete: true,
        };
        let Ok(dir) = std::fs::read_dir("/proc") else {
            s.complete = false;
            return s;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            match pid_holds(pid, id) {
                Holds::Yes { exclusive } => s.holders.push((pid, exclusive)),
                Holds::Unknown => s.complete = false,
                Holds::No => {}
            }
        }
        s.holders.sort_unstable();
        s
    }
}

#[cfg(any(target_os = "linux", test))]
pub fn parse(table: &str, id: FileId) -> Vec<KernelLock> {
    let (major, minor) = split_dev(id.dev);
    let want = format!("{major:02x}:{minor:02x}:{}", id.ino);
    table
        .lines()
        .filter_map(|line| {
            let mut t = line.split_ascii_whitespace().skip(1);
            let kind = t.next()?;
            if kind != "FLOCK" {
                return None; // POSIX/OFD locks, and "->" lines of blocked waiters
            }
            let _advisory = t.next()?;
            let access = t.next()?;
            let pid: i64 = t.next()?.parse().ok()?;
            (t.next()? == want).then(|| KernelLock {
                pid: u32::try_from(pid).unwrap_or(0),
                exclusive: access == "WRITE",
            })
        })
        .collect()
}

/// Linux's encoding of a 64-bit dev_t (as glibc's major()/minor()).
#[cfg(any(target_os = "linux", test))]
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table() {
        let id = FileId {
            dev: 0x801,
            ino: 1234567,
        };
        let table = "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 999 08:01:1234567 0 EOF\n\
                     2: FLOCK  ADVISORY  READ  222 08:01:1234567 0 EOF\n\
                     3: POSIX  ADVISORY  WRITE 333 08:01:1234567 0 EOF\n\
                     4: FLOCK  ADVISORY  READ  -1 08:01:1234567 0 EOF\n\
                     5: FLOCK  ADVISORY  WRITE 444 08:01:7654321 0 EOF\n";
        assert_eq!(
            parse(table, id),
            vec![
                KernelLock {
                    pid: 12345,
                    exclusive: true
                },
                KernelLock {
                    pid: 222,
                    exclusive: false
                },
                KernelLock {
                    pid: 0,
                    exclusive: false
                },
            ]
        );
    }

    #[test]
    fn names_the_locker_of_a_shared_description() {
        let info = "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t1234\nlock:\t1: FLOCK  ADVISORY  READ 24830 08:01:1234 0 EOF\n";
        assert_eq!(parse_fdinfo_locker(info), Some(24830));
        assert_eq!(
            parse_fdinfo_locker("lock:\t1: FLOCK  ADVISORY  WRITE 0 08:01:1 0 EOF\n"),
            None
        );
        assert_eq!(
            parse_fdinfo_locker("lock:\t1: POSIX  ADVISORY  WRITE 77 08:01:1 0 EOF\n"),
            None
        );
        assert_eq!(parse_fdinfo_locker("pos:\t0\n"), None);
        assert_eq!(parse_fdinfo_locker("lock:\t1: FLOCK"), None);
    }

    #[test]
    fn parses_fdinfo_lock_lines() {
        let plain = "pos:\t0\nflags:\t02100002\nmnt_id:\t31\nino:\t1234567\n";
        assert_eq!(parse_fdinfo(plain), None);
        let ex = format!("{plain}lock:\t1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF\n");
        assert_eq!(parse_fdinfo(&ex), Some(true));
        // The locker may be dead, in another namespace (pid 0) or on another device: still held.
        let sh = format!("{plain}lock:\t1: FLOCK  ADVISORY  READ 0 00:2f:99 0 EOF\n");
        assert_eq!(parse_fdinfo(&sh), Some(false));
        let posix = format!("{plain}lock:\t1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 0 EOF\n");
        assert_eq!(parse_fdinfo(&posix), None);
        assert_eq!(parse_fdinfo("lock:"), None);
    }

    #[cfg(target_os = "linux")]
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
        assert_eq!(fd_holds(me, f.as_raw_fd(), id), Holds::No);
        crate::flock::try_lock(&f, crate::mode::Mode::Exclusive).unwrap();
        assert_eq!(
            fd_holds(me, f.as_raw_fd(), id),
            Holds::Yes { exclusive: true }
        );
        assert_eq!(
            fd_holds(me, other.as_raw_fd(), id),
            Holds::No,
            "open is not holding"
        );
        assert_eq!(pid_holds(me, id), Holds::Yes { exclusive: true });
        assert_eq!(pid_holds(u32::MAX - 1, id), Holds::No);
        drop(f);
        assert_eq!(pid_holds(me, id), Holds::No);
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sees_our_own_flock() {
        let dir = std::env::temp_dir().join(format!("pg-kl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        let f = crate::fsio::open_lock(&path).unwrap();
        let (id, _) = crate::fsio::file_id(&f).unwrap();
        assert_eq!(holders(id), Some(vec![]));
        crate::flock::try_lock(&f, crate::mode::Mode::Exclusive).unwrap();
        // Other tests of this binary run in parallel and may briefly list an entry of their own
        // on a recycled inode: ours must be there, and nobody else's.
        let seen = holders(id).unwrap();
        assert!(seen.contains(&KernelLock {
            pid: std::process::id(),
            exclusive: true
        }));
        assert!(seen.iter().all(|k| k.pid == std::process::id()), "{seen:?}");
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text in the lock table: never a panic, and only FLOCK lines for our file are taken.
        #[test]
        fn any_table_never_panics(s in "[-0-9a-fA-Z:> \n]{0,400}", ino in any::<u64>()) {
            for k in parse(&s, FileId { dev: 0x801, ino }) {
                let _ = k.pid;
            }
        }
    }
}
