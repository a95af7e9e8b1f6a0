//! Linux: listening TCP sockets and their owners, from `NETLINK_SOCK_DIAG` dumps and the
//! `socket:[INODE]` links in `/proc/PID/fd` (see [`crate::health::ports`] for the API).

use crate::health::ports::{PortsError, Socket};
use crate::sys::netlink::{self as diag, Chunk};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Whether `pid` lives in another network namespace than this process (both links readable
/// and different). Its listening sockets are then not in our sock_diag dump.
pub fn other_net_ns(pid: u32) -> bool {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
    match (ns(&pid.to_string()), ns("self")) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// The inodes of the sockets in `all` that listen on `port`.
pub fn inodes_on_port(all: &[Socket], port: u16) -> HashSet<u64> {
    all.iter()
        .filter(|s| s.listening.port == port)
        .map(|s| s.inode)
        .collect()
}

/// Every LISTEN TCP socket in this network namespace (IPv4 and IPv6).
pub fn listening_sockets() -> io::Result<Vec<Socket>> {
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh, valid fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut buf = vec![0u8; 32 * 1024];
    if !force_per_family() {
        let mut out = Vec::new();
        if dump(&fd, &diag::request_both(1), 1, &mut buf, &mut out).is_ok() {
            return Ok(out);
        }
    }
    let mut out = Vec::new();
    for (seq, family) in [(2u32, diag::AF_INET), (3, diag::AF_INET6)] {
        match dump(&fd, &diag::request(family, seq), seq, &mut buf, &mut out) {
            Ok(()) => {}
            // No IPv6 in this kernel: nothing listens on it.
            Err(e) if family == diag::AF_INET6 && e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[doc(hidden)]
pub fn listening_sockets_per_family() -> io::Result<Vec<Socket>> {
    PER_FAMILY.with(|c| c.set(true));
    let r = listening_sockets();
    PER_FAMILY.with(|c| c.set(false));
    r
}

thread_local! {
    pub static PER_FAMILY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn force_per_family() -> bool {
    PER_FAMILY.with(|c| c.get())
}

/// Sends one dump request and collects its LISTEN sockets into `out`.
fn dump(
    fd: &OwnedFd,
    req: &[u8],
    seq: u32,
    buf: &mut [u8],
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    {
        // SAFETY: an all-zero sockaddr_nl is valid (family set below): the kernel, no groups.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: req and addr are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                break;
            }
            match diag::parse(&buf[..n as usize], seq, out) {
                Chunk::More => {}
                Chunk::Done => return Ok(()),
                Chunk::Error(e) => return Err(io::Error::from_raw_os_error(e)),
            }
        }
    }
    Ok(())
}

/// Opens /proc/PID/fd as a directory.
fn open_fd_dir(pid: u32) -> io::Result<(OwnedFd, *mut libc::DIR)> {
    let path = std::ffi::CString::new(format!("/proc/{pid}/fd")).expect("no NUL");
    // SAFETY: path is NUL-terminated.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd. fdopendir takes a duplicate so both close independently.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: dup of a valid fd.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup is a valid directory fd; on success DIR owns it.
    let dir = unsafe { libc::fdopendir(dup) };
    if dir.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so dup is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    Ok((fd, dir))
}

/// Calls `f` with the socket inode of every socket fd of `pid`.
fn each_socket(pid: u32, mut f: impl FnMut(u64)) -> io::Result<()> {
    let (fd, dir) = open_fd_dir(pid)?;
    let mut link = [0u8; 64];
    loop {
        // SAFETY: dir is a valid DIR* until closedir below.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is NUL-terminated within the dirent.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        // SAFETY: name is NUL-terminated, link is valid for its length; readlinkat does
        // not NUL-terminate, the returned length is used.
        let n = unsafe {
            libc::readlinkat(
                fd.as_raw_fd(),
                name.as_ptr(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        if n > 0 {
            if let Some(ino) = parse_socket_link(&link[..n as usize]) {
                f(ino);
            }
        }
    }
    // SAFETY: dir came from fdopendir and is closed once.
    unsafe { libc::closedir(dir) };
    Ok(())
}

/// `socket:[12345]` -> 12345.
pub fn parse_socket_link(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The inodes of every socket `pid` has open.
pub fn socket_inodes(pid: u32) -> Result<HashSet<u64>, PortsError> {
    let mut set = HashSet::new();
    match each_socket(pid, |ino| {
        set.insert(ino);
    }) {
        Ok(()) => Ok(set),
        // Absent from /proc is not gone when /proc hides other users' processes (hidepid).
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match crate::identity::exists_by_signal(pid) {
                true => Err(PortsError::Denied),
                false => Err(PortsError::Gone),
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(PortsError::Gone),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(PortsError::Denied),
        Err(e) => Err(PortsError::Io(e.to_string())),
    }
}

/// Every process that has one of `inodes` open: pid -> ppid. Scans all of /proc: only used
/// to find who owns a port.
pub fn owners_of(inodes: &HashSet<u64>) -> HashMap<u32, u32> {
    let mut owners = HashMap::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let mut hit = false;
        let _ = each_socket(pid, |ino| hit |= inodes.contains(&ino));
        if hit {
            let ppid = crate::sys::linux::read_stat(pid)
                .map(|s| s.ppid)
                .unwrap_or(0);
            owners.insert(pid, ppid);
        }
    }
    owners
}
