//! The text formats of Linux's /proc, parsed as plain data: compiled and tested on every OS, read
//! by [`super::linux`] on Linux.

use super::KernelLock;
use crate::fsio::FileId;

/// The fields of `/proc/PID/stat` this module uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub state: u8,
    pub ppid: u32,
    /// The kernel's per-process flags (field 9).
    pub flags: u64,
    pub utime: u64,
    pub stime: u64,
    pub threads: u32,
    pub start_ticks: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so it runs from the first `(` to the last `)` and fields are counted after that.
pub fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let name = String::from_utf8_lossy(&stat[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    if f.len() < 22 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    Some(Stat {
        name,
        state: *f[0].as_bytes().first()?,
        ppid: f[1].parse().ok()?,
        flags: n(6)?,
        utime: n(11)?,
        stime: n(12)?,
        threads: f[17].parse().ok()?,
        start_ticks: n(19)?,
        vsize: n(20)?,
        // rss can read as a negative number in odd kernel states; treat that as unknown (0).
        rss_pages: f[21].parse::<i64>().ok()?.max(0) as u64,
    })
}

impl Stat {
    /// A kernel thread (`PF_KTHREAD`): it holds no guard and is never signalled.
    pub fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags & PF_KTHREAD != 0
    }
}

pub fn parse_btime(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("btime "))?;
    line[6..].trim().parse::<u64>().ok().map(|s| s * 1000)
}

pub fn parse_statm_rss(statm: &[u8]) -> Option<u64> {
    std::str::from_utf8(statm)
        .ok()?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `pid:[4026531836]` (what `/proc/PID/ns/pid` links to) -> 4026531836.
pub fn parse_ns_link(link: &str) -> Option<u64> {
    link.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// The kind of network filesystem a Linux `statfs` `f_type` magic names, where flock is
/// emulated or missing and PIDs mean nothing across hosts; `None` for a local one.
pub fn remote_fs_kind(f_type: u32) -> Option<&'static str> {
    match f_type {
        0x6969 => Some("NFS"),
        0x517B => Some("SMB"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        _ => None,
    }
}

/// The (mask, name) of each whole `struct inotify_event` in what one read of an inotify fd
/// returned: a 16-byte head (wd, mask, cookie, len, native endian) then `len` bytes of
/// NUL-padded name. A truncated event ends the list.
pub fn inotify_events(buf: &[u8]) -> impl Iterator<Item = (u32, &[u8])> + '_ {
    const HEAD: usize = 16;
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let head = buf.get(off..off + HEAD)?;
        let u32_at = |i: usize| u32::from_ne_bytes(head[i..i + 4].try_into().unwrap());
        let (mask, len) = (u32_at(4), u32_at(12) as usize);
        let name = buf.get(off + HEAD..off + HEAD + len)?;
        off += HEAD + len;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some((mask, &name[..end]))
    })
}

/// The pids in a `/proc/PID/task/TID/children` text.
pub fn parse_children(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.split_ascii_whitespace().filter_map(|p| p.parse().ok())
}

/// A `/proc/PID/cmdline` (NUL-separated, NUL-terminated) as its arguments.
pub fn split_cmdline(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Which flocks a `/proc/PID/fdinfo/FD` text lists (`Some(true)`: an exclusive one).
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

/// Whether the fd a `/proc/PID/fdinfo/FD` text describes is close-on-exec (its `flags:` line,
/// octal, includes `O_CLOEXEC`); `None` when the text has no such line.
pub fn parse_fdinfo_cloexec(info: &str) -> Option<bool> {
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    let v = u64::from_str_radix(flags.trim(), 8).ok()?;
    Some(v & 0o2000000 != 0)
}

/// The locker the kernel names on a flock line of a `/proc/PID/fdinfo/FD` text: the process that
/// took the lock on that open file description. Several processes share one description (a
/// wrapper and the command it handed its fd to): all of them show the same locker. `None` when
/// there is no flock line or the locker is not visible from here (0).
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

/// The FLOCK entries of a `/proc/locks` text on the file `id`.
pub fn parse_lock_table(table: &str, id: FileId) -> Vec<KernelLock> {
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
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links_and_cmdlines_parse() {
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4_026_531_836));
        assert_eq!(parse_ns_link("net:[4026531836]"), None);
        assert_eq!(parse_ns_link("pid:[x]"), None);
        assert_eq!(parse_ns_link("pid:[12"), None);
        assert_eq!(split_cmdline(b"node\0a b\0\0x\0"), vec!["node", "a b", "x"]);
        assert!(split_cmdline(b"").is_empty());
        assert_eq!(parse_children("12 34 \n").collect::<Vec<_>>(), vec![12, 34]);
        assert_eq!(remote_fs_kind(0x6969), Some("NFS"));
        assert_eq!(remote_fs_kind(0xFE53_4D42), Some("SMB2"));
        assert_eq!(remote_fs_kind(0xEF53), None, "ext4 is local");
    }

    #[test]
    fn inotify_events_parse_and_stop_at_a_cut() {
        let ev = |mask: u32, name: &[u8], len: u32| {
            let mut b = Vec::new();
            for v in [1u32, mask, 0, len] {
                b.extend_from_slice(&v.to_ne_bytes());
            }
            let mut n = name.to_vec();
            n.resize(len as usize, 0);
            b.extend_from_slice(&n);
            b
        };
        let mut buf = ev(0x8, b"a.lock", 16);
        buf.extend(ev(0x4000, b"", 0));
        buf.extend(ev(0x200, b"b", 16));
        let all: Vec<(u32, &[u8])> = inotify_events(&buf).collect();
        assert_eq!(
            all,
            vec![
                (0x8, &b"a.lock"[..]),
                (0x4000, &b""[..]),
                (0x200, &b"b"[..])
            ]
        );
        assert_eq!(inotify_events(&buf[..buf.len() - 1]).count(), 2);
        assert_eq!(inotify_events(&buf[..10]).count(), 0);
    }

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
            parse_lock_table(table, id),
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
        assert_eq!(
            parse_fdinfo_cloexec("pos:\t0\nflags:\t02100002\n"),
            Some(true)
        );
        assert_eq!(
            parse_fdinfo_cloexec("pos:\t0\nflags:\t0100002\n"),
            Some(false)
        );
        assert_eq!(parse_fdinfo_cloexec("pos:\t0\n"), None);
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

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line = b"123 (a b) c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            (st.name.as_str(), st.state, st.ppid, st.start_ticks),
            ("a b) c)", b'S', 1, 98765)
        );
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn kernel_threads_are_told_by_their_stat_flags() {
        // Real lines: kthreadd (flags 2129984 = PF_KTHREAD|...) and a shell (4194560).
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0";
        let shell = b"77 (ba) sh)) S 1 77 77 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 9 0 0";
        assert!(parse_stat(kthread).unwrap().is_kernel_thread());
        assert!(!parse_stat(shell).unwrap().is_kernel_thread());
        #[cfg(target_os = "linux")]
        assert!(!super::super::linux::read_stat(std::process::id())
            .unwrap()
            .is_kernel_thread());
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
            for k in parse_lock_table(&s, FileId { dev: 0x801, ino }) {
                let _ = k.pid;
            }
        }
    }
}
