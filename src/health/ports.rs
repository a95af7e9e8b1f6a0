//! Listening TCP sockets, from the OS directly (never by spawning lsof, ss or netstat).
//!
//! Linux: one `NETLINK_SOCK_DIAG` (inet_diag) dump per address family, filtered by the kernel to
//! LISTEN sockets, gives every listening socket's address, port and inode (about 20 us per family,
//! flat in the number of connections, unlike reading /proc/net/tcp which walks them all). A
//! process's sockets are the `socket:[INODE]` links in /proc/PID/fd. Only finding who owns a
//! port (a `{ port }` target, or a port held by someone else) scans every process's fds.
//!
//! macOS: libproc (`PROC_PIDLISTFDS` + `PROC_PIDFDSOCKETINFO`, see `sys::macos`) lists a
//! process's TCP sockets in LISTEN; finding a port's owner scans every process's fd table.
//! Another user's table is refused (EPERM) without root: that process's sockets are unknown.
//! Whether anyone listens on a port, and as which uid, comes from `net.inet.tcp.pcblist_n`
//! (what netstat reads, open to any user), so a listener whose process is hidden is "someone,
//! pid unknown", as on Linux. Windows and the rest: unsupported (unknown).

use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listening {
    pub address: String,
    pub port: u16,
    pub family: Family,
}

/// A listening socket as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub listening: Listening,
    pub inode: u64,
    /// The uid that owns the socket (the kernel says it even when the process is hidden).
    pub uid: u32,
}

/// Why sockets could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortsError {
    /// The process's fd table is not ours to read (another user's process).
    Denied,
    /// The process is gone.
    Gone,
    /// This OS gives no supported way (yet).
    Unsupported,
    /// The process is in another network namespace (a container): its sockets are not in the
    /// table this process can read.
    OtherNetNs,
    Io(String),
}

/// Every TCP socket `pid` listens on, sorted (IPv4 first, then by port and address).
pub fn listening(pid: u32) -> Result<Vec<Listening>, PortsError> {
    #[cfg(target_os = "linux")]
    {
        let inodes = linux::socket_inodes(pid)?;
        if inodes.is_empty() {
            return Ok(Vec::new());
        }
        if linux::other_net_ns(pid) {
            return Err(PortsError::OtherNetNs);
        }
        let all = linux::listening_sockets().map_err(|e| PortsError::Io(e.to_string()))?;
        let mut mine: Vec<Listening> = all
            .into_iter()
            .filter(|s| inodes.contains(&s.inode))
            .map(|s| s.listening)
            .collect();
        sort(&mut mine);
        Ok(mine)
    }
    #[cfg(target_os = "macos")]
    {
        let mut mine = crate::sys::macos::listening(pid)?;
        sort(&mut mine);
        mine.dedup();
        Ok(mine)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        #[cfg(windows)]
        return win::listening(pid);
        #[allow(unreachable_code)]
        let _ = pid;
        Err(PortsError::Unsupported)
    }
}

/// Who listens on `port` (any address, v4 or v6): `Ok(None)` when nobody does, `Ok(Some(None))`
/// when someone does but their process is not visible to us, else the owning PID. When several
/// processes share the socket (a parent that forked workers), the one whose parent is not also an
/// owner is reported.
pub fn owner_of_port(port: u16) -> Result<Option<Option<u32>>, PortsError> {
    #[cfg(target_os = "linux")]
    {
        let all = linux::listening_sockets().map_err(|e| PortsError::Io(e.to_string()))?;
        let inodes = linux::inodes_on_port(&all, port);
        if inodes.is_empty() {
            return Ok(None);
        }
        let owners = linux::owners_of(&inodes);
        Ok(Some(pick_root(&owners)))
    }
    #[cfg(target_os = "macos")]
    {
        // The system's TCP table (any user may read it) says whether anyone listens; the fd
        // tables say who, and another user's is refused. Without the table, none found while
        // some fd tables were refused is unknown, never "nobody".
        let table = crate::sys::macos::tcp_listeners();
        if table
            .as_ref()
            .is_some_and(|t| !t.iter().any(|l| l.port == port))
        {
            return Ok(None);
        }
        let (owners, denied) =
            crate::sys::macos::owners_of_port(port).map_err(|e| PortsError::Io(e.to_string()))?;
        match (pick_root(&owners), denied, table.is_some()) {
            (Some(pid), _, _) => Ok(Some(Some(pid))),
            (None, _, true) => Ok(Some(None)),
            (None, false, false) => Ok(None),
            (None, true, false) => Err(PortsError::Denied),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        #[cfg(windows)]
        return win::owner_of_port(port);
        #[allow(unreachable_code)]
        let _ = port;
        Err(PortsError::Unsupported)
    }
}

/// The uids owning the sockets that listen on `port` (sorted, each once): who to run as to see
/// a listener whose process is hidden. Empty when nobody listens (or the table cannot be read);
/// `None` where sockets carry no uid this OS reports (Windows: its table names the owning process
/// to everyone, so a hidden one is a system process or Wine's pid 0, and its user is unknown).
pub fn listener_uids(port: u16) -> Option<Vec<u32>> {
    #[cfg(target_os = "linux")]
    {
        let mut uids: Vec<u32> = linux::listening_sockets()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.listening.port == port)
            .map(|s| s.uid)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }
    #[cfg(target_os = "macos")]
    {
        let mut uids: Vec<u32> = crate::sys::macos::tcp_listeners()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.port == port)
            .map(|l| l.uid)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = port;
        None
    }
}

/// The first of `pids` (in order) that has a socket listening on `port` open, without scanning
/// every process: what finds a daemon's child server at the cost of the children's fd tables.
/// `None` when none of them does, or when that cannot be told (the caller then scans).
pub fn owner_among(port: u16, pids: &[u32]) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        if pids.is_empty() {
            return None;
        }
        let all = linux::listening_sockets().ok()?;
        let inodes = linux::inodes_on_port(&all, port);
        if inodes.is_empty() {
            return None;
        }
        pids.iter()
            .copied()
            .find(|&pid| linux::socket_inodes(pid).is_ok_and(|mine| !mine.is_disjoint(&inodes)))
    }
    #[cfg(target_os = "macos")]
    {
        pids.iter().copied().find(|&pid| {
            crate::sys::macos::listening(pid).is_ok_and(|v| v.iter().any(|l| l.port == port))
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        #[cfg(windows)]
        return win::owner_among(port, pids);
        #[allow(unreachable_code)]
        let _ = (port, pids);
        None
    }
}

/// Among processes sharing a socket, the one whose parent is not one of them; ties go to the
/// lowest PID. `owners` maps pid -> ppid.
pub fn pick_root(owners: &HashMap<u32, u32>) -> Option<u32> {
    let mut roots: Vec<u32> = owners
        .iter()
        .filter(|(_, ppid)| !owners.contains_key(ppid))
        .map(|(pid, _)| *pid)
        .collect();
    if roots.is_empty() {
        roots = owners.keys().copied().collect();
    }
    roots.into_iter().min()
}

pub fn sort(v: &mut [Listening]) {
    v.sort_by(|a, b| {
        let fa = matches!(a.family, Family::Ipv6);
        let fb = matches!(b.family, Family::Ipv6);
        (fa, a.port, &a.address).cmp(&(fb, b.port, &b.address))
    });
}

/// Parsing of netlink inet_diag replies (in the platform layer, tested on every OS).
pub use crate::sys::netlink as diag;

/// Linux's socket readers (in the platform layer).
#[cfg(target_os = "linux")]
pub use crate::sys::linux::net as linux;

/// Windows: the machine's TCP table with owners (`GetExtendedTcpTable`, v4 and v6). An owner of
/// 0 means the table could not name it (Wine does this for every socket): such a socket is
/// someone's, never nobody's, and a process's own list is then not known to be complete.
#[cfg(windows)]
mod win {
    use super::{pick_root, sort, Family, Listening, PortsError};
    use crate::identity::{probe, Probe};
    use crate::sys::windows::{tcp_listeners, TcpListener};

    fn table() -> Result<Vec<TcpListener>, PortsError> {
        tcp_listeners().map_err(|e| PortsError::Io(format!("cannot read the TCP table: {e}")))
    }

    fn listening_of(l: &TcpListener) -> Listening {
        Listening {
            address: l.address.to_string(),
            port: l.port,
            family: if l.address.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
        }
    }

    pub fn listening(pid: u32) -> Result<Vec<Listening>, PortsError> {
        let all = table()?;
        let mut mine: Vec<Listening> = all
            .iter()
            .filter(|l| l.pid == pid)
            .map(listening_of)
            .collect();
        if mine.is_empty() {
            if probe(pid) == Probe::Gone {
                return Err(PortsError::Gone);
            }
            if all.iter().any(|l| l.pid == 0) {
                return Err(PortsError::Io(
                    "the TCP table does not name the owner of some listening sockets".into(),
                ));
            }
        }
        sort(&mut mine);
        mine.dedup();
        Ok(mine)
    }

    pub fn owner_of_port(port: u16) -> Result<Option<Option<u32>>, PortsError> {
        let on: Vec<u32> = table()?
            .iter()
            .filter(|l| l.port == port)
            .map(|l| l.pid)
            .collect();
        if on.is_empty() {
            return Ok(None);
        }
        // No parent links here: the lowest PID among the named owners.
        let named: std::collections::HashMap<u32, u32> =
            on.iter().filter(|&&p| p != 0).map(|&p| (p, 0)).collect();
        Ok(Some(pick_root(&named)))
    }

    pub fn owner_among(port: u16, pids: &[u32]) -> Option<u32> {
        let on: Vec<u32> = table()
            .ok()?
            .iter()
            .filter(|l| l.port == port)
            .map(|l| l.pid)
            .collect();
        pids.iter().copied().find(|p| on.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::diag::*;
    use super::*;

    fn msg(family: u8, state: u8, port: u16, addr: &[u8], inode: u32) -> Vec<u8> {
        let mut m = vec![0u8; INET_DIAG_MSG_LEN];
        m[0] = family;
        m[1] = state;
        m[4..6].copy_from_slice(&port.to_be_bytes());
        m[8..8 + addr.len()].copy_from_slice(addr);
        m[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        m[68..72].copy_from_slice(&inode.to_ne_bytes());
        m
    }

    fn nl(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + body.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(body);
        while b.len() % 4 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn request_layout() {
        let b = request_both(3);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes(b[4..6].try_into().unwrap()), 18);
        assert_eq!(u32::from_ne_bytes(b[68..72].try_into().unwrap()), 1 << 10);
        let r = request(AF_INET6, 7);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
        assert_eq!((r[16], r[17]), (AF_INET6, 6));
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 1 << 10);
    }

    #[test]
    fn parses_v4_v6_done_and_errors() {
        let mut buf = nl(20, 1, &msg(AF_INET, 10, 8080, &[127, 0, 0, 1], 555));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        buf.extend(nl(18, 1, &msg(AF_INET6, 10, 443, &v6, 777)));
        // Another request's message and a non-LISTEN one are skipped.
        buf.extend(nl(20, 9, &msg(AF_INET, 10, 1, &[1, 2, 3, 4], 1)));
        buf.extend(nl(20, 1, &msg(AF_INET, 1, 2, &[1, 2, 3, 4], 2)));
        // A short message is ignored, not read past.
        buf.extend(nl(20, 1, &[10, 10, 0, 80]));
        let mut out = Vec::new();
        assert_eq!(parse(&buf, 1, &mut out), Chunk::More);
        assert_eq!(
            out,
            vec![
                Socket {
                    listening: Listening {
                        address: "127.0.0.1".into(),
                        port: 8080,
                        family: Family::Ipv4
                    },
                    inode: 555,
                    uid: 1000
                },
                Socket {
                    listening: Listening {
                        address: "::1".into(),
                        port: 443,
                        family: Family::Ipv6
                    },
                    inode: 777,
                    uid: 1000
                },
            ]
        );
        assert_eq!(parse(&nl(3, 1, &[0, 0, 0, 0]), 1, &mut out), Chunk::Done);
        let err = (-13i32).to_ne_bytes();
        assert_eq!(parse(&nl(2, 1, &err), 1, &mut out), Chunk::Error(13));
        assert_eq!(
            parse(&nl(2, 1, &0i32.to_ne_bytes()), 1, &mut out),
            Chunk::Done
        );
        // A length running past the buffer stops parsing.
        let mut bad = nl(20, 1, &msg(AF_INET, 10, 1, &[0, 0, 0, 0], 1));
        bad[0] = 200;
        let before = out.len();
        assert_eq!(parse(&bad, 1, &mut out), Chunk::More);
        assert_eq!(out.len(), before);
        assert_eq!(parse(&[1, 2, 3], 1, &mut out), Chunk::More);
    }

    #[test]
    fn root_of_shared_owners() {
        let m: HashMap<u32, u32> = [(10, 1), (11, 10), (12, 10)].into_iter().collect();
        assert_eq!(pick_root(&m), Some(10));
        let cyc: HashMap<u32, u32> = [(5, 6), (6, 5)].into_iter().collect();
        assert_eq!(pick_root(&cyc), Some(5));
        assert_eq!(pick_root(&HashMap::new()), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_our_own_listeners_v4_and_v6() {
        assert_eq!(linux::parse_socket_link(b"socket:[42]"), Some(42));
        assert_eq!(linux::parse_socket_link(b"pipe:[42]"), None);
        assert_eq!(linux::parse_socket_link(b"socket:[x]"), None);
        let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p4 = l4.local_addr().unwrap().port();
        let l6 = std::net::TcpListener::bind("[::1]:0").ok();
        let mine = listening(std::process::id()).unwrap();
        // The per-family dumps (the fallback when the one-pass legacy dump is refused) agree.
        let one_pass = linux::listening_sockets().unwrap();
        linux::PER_FAMILY.with(|c| c.set(true));
        let per_family = linux::listening_sockets().unwrap();
        linux::PER_FAMILY.with(|c| c.set(false));
        let key = |v: &[Socket]| {
            let mut k: Vec<u64> = v.iter().map(|s| s.inode).collect();
            k.sort();
            k
        };
        assert!(one_pass.iter().any(|s| s.listening.port == p4));
        assert_eq!(key(&one_pass), key(&per_family));
        assert!(mine.contains(&Listening {
            address: "127.0.0.1".into(),
            port: p4,
            family: Family::Ipv4
        }));
        if let Some(l6) = &l6 {
            let p6 = l6.local_addr().unwrap().port();
            assert!(mine.contains(&Listening {
                address: "::1".into(),
                port: p6,
                family: Family::Ipv6
            }));
        }
        assert_eq!(owner_of_port(p4).unwrap(), Some(Some(std::process::id())));
        assert_eq!(
            listener_uids(p4),
            Some(vec![crate::identity::current_uid().unwrap()])
        );
        drop(l4);
        assert_eq!(owner_of_port(p4).unwrap(), None);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(listening(pid), Err(PortsError::Gone));
    }
}

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    #[test]
    fn finds_our_own_listeners_and_the_owner_of_a_port() {
        let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p4 = l4.local_addr().unwrap().port();
        let me = std::process::id();
        if crate::test_child::under_wine() {
            // Wine's table names no owner (pid 0): listening, but whose is unknown, never
            // "nothing" and never some other process.
            assert_eq!(owner_of_port(p4).unwrap(), Some(None));
            assert!(listening(me).is_err());
        } else {
            assert!(listening(me).unwrap().contains(&Listening {
                address: "127.0.0.1".into(),
                port: p4,
                family: Family::Ipv4
            }));
            assert_eq!(owner_of_port(p4).unwrap(), Some(Some(me)));
            assert_eq!(owner_among(p4, &[me]), Some(me));
        }
        drop(l4);
        assert_eq!(owner_of_port(p4).unwrap(), None);
        let mut child = crate::test_child::quick();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(listening(pid), Err(PortsError::Gone));
    }
}
