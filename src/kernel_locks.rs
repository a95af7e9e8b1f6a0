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

/// The locks the open file `fd` of process `pid` holds on file `id`, from
/// `/proc/PID/fdinfo/FD`: one small read, exact, and without the system-wide table (whose first
/// read in a process waits for an RCU grace period, ~10 ms).
pub fn held_by_fd(pid: u32, fd: i32, id: FileId) -> Option<Vec<KernelLock>> {
    #[cfg(target_os = "linux")]
    {
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
        Some(
            info.lines()
                .filter_map(|l| l.strip_prefix("lock:"))
                .flat_map(|rest| parse(rest.trim_start(), id))
                .collect(),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, fd, id);
        None
    }
}

/// The locks process `pid` holds on file `id`, from its own `/proc/PID/fdinfo` (exact, and
/// cheap for one process): confirms a holder when the system-wide table is in flux.
pub fn held_by(pid: u32, id: FileId) -> Option<Vec<KernelLock>> {
    #[cfg(target_os = "linux")]
    {
        let dir = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).ok()?;
        let mut out = Vec::new();
        for e in dir.flatten() {
            let Ok(info) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            for line in info.lines() {
                if let Some(rest) = line.strip_prefix("lock:") {
                    // Same layout as /proc/locks ("1: FLOCK ADVISORY WRITE pid dev:ino ...").
                    out.extend(parse(rest.trim_start(), id));
                }
            }
        }
        Some(out)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, id);
        None
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
