//! macOS: what the kernel tells through libproc, sysctl, statfs and kqueue. Every buffer the
//! kernel fills is parsed in `sys::macos_data` (tested on every OS); this file only makes the
//! calls, each checked for the size it returns.
//!
//! - identity: `proc_pidinfo(PROC_PIDTBSDINFO)` start time to the microsecond; another user's
//!   process is refused (EPERM) there, and its start time comes from the process table
//!   (`sysctl KERN_PROC_PID`'s `kinfo_proc`, the same `p_start`);
//! - boot: `kern.bootsessionuuid`, else `kern.boottime`;
//! - executable, argv and the environment (holder markers): `proc_pidpath` and
//!   `sysctl(KERN_PROCARGS2)` (another user's process is refused: unknown);
//! - listening TCP sockets: `PROC_PIDLISTFDS` + `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)`; another
//!   user's fd table is refused (EPERM), so its sockets are unknown; whether anyone listens on a
//!   port, and as which uid, comes from `net.inet.tcp.pcblist_n`, which any user may read;
//! - the filesystem type name from `statfs` (`f_fstypename`);
//! - waits woken by kqueue (`EVFILT_VNODE` on the lock file and its directory).

use super::macos_data::{self as data, ProcBsdShortInfo, SocketFdInfo};
use crate::health::ports::{Listening, PortsError};
use crate::identity::{Identity, Probe};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn clear_errno() {
    // SAFETY: __error returns this thread's errno location, always valid.
    unsafe { *libc::__error() = 0 };
}

fn c_pid(pid: u32) -> Option<libc::c_int> {
    libc::c_int::try_from(pid).ok().filter(|&p| p > 0)
}

/// Alive or gone, and the exact start time when this user may read it.
pub fn probe(pid: u32) -> Probe {
    let Some(p) = c_pid(pid) else {
        return Probe::Gone;
    };
    // SAFETY: an all-zero proc_bsdinfo is valid plain data.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    clear_errno();
    // SAFETY: the buffer is valid for `size` bytes; the kernel writes at most that.
    let n = unsafe {
        libc::proc_pidinfo(
            p,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n == size {
        if info.pbi_status == data::SZOMB {
            return Probe::Gone;
        }
        return Probe::Alive(Some(Identity {
            start_id: data::start_token(info.pbi_start_tvsec, info.pbi_start_tvusec),
            started_at_ms: Some(data::start_ms(info.pbi_start_tvsec, info.pbi_start_tvusec)),
        }));
    }
    if errno() == libc::ESRCH {
        return Probe::Gone;
    }
    // Another user's process (EPERM): the process table (`kinfo_proc`, what ps reads) has the
    // same start time for anyone.
    if let Some(k) = kinfo(pid) {
        if u32::from(k.stat) == data::SZOMB {
            return Probe::Gone;
        }
        if k.sec > 0 {
            return Probe::Alive(Some(Identity {
                start_id: data::start_token(k.sec, k.usec),
                started_at_ms: Some(data::start_ms(k.sec, k.usec)),
            }));
        }
    }
    // It may exist; its start time is not ours to read.
    match short_info(pid) {
        Some(s) if s.pbsi_status == data::SZOMB => Probe::Gone,
        Some(_) => Probe::Alive(None),
        None => alive_by_signal(p),
    }
}

/// `sysctl({CTL_KERN, KERN_PROC, KERN_PROC_PID, pid})`: start time and state of any process.
fn kinfo(pid: u32) -> Option<data::KinfoStart> {
    let p = c_pid(pid)?;
    let mut buf = [0u8; data::KINFO_PROC_LEN];
    // 0 bytes when there is no such process.
    let len = sysctl_bytes(
        &mut [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, p],
        &mut buf,
    )?;
    data::parse_kinfo_proc(&buf[..len]).filter(|k| k.pid == pid)
}

/// `kill(pid, 0)` (see [`crate::identity::exists_by_signal`]): EPERM means alive but not ours.
fn alive_by_signal(p: libc::c_int) -> Probe {
    match crate::identity::exists_by_signal(p as u32) {
        true => Probe::Alive(None),
        false => Probe::Gone,
    }
}

/// pid, ppid, status and uids of any process (no same-user check).
pub fn short_info(pid: u32) -> Option<ProcBsdShortInfo> {
    let p = c_pid(pid)?;
    let mut info = ProcBsdShortInfo::default();
    let size = std::mem::size_of::<ProcBsdShortInfo>() as libc::c_int;
    // SAFETY: the buffer is valid for `size` bytes; the kernel writes at most that.
    let n = unsafe {
        libc::proc_pidinfo(
            p,
            data::PROC_PIDT_SHORTBSDINFO,
            0,
            (&mut info as *mut ProcBsdShortInfo).cast(),
            size,
        )
    };
    (n == size && info.pbsi_pid == pid).then_some(info)
}

/// The uid a process runs as.
pub fn uid_of(pid: u32) -> Option<u32> {
    short_info(pid).map(|s| s.pbsi_uid)
}

/// `sysctl(mib)` read into `buf` (nothing is set): the number of bytes written, or `None`.
fn sysctl_bytes(mib: &mut [libc::c_int], buf: &mut [u8]) -> Option<usize> {
    // SAFETY: buf is valid for its length.
    unsafe { sysctl_raw(mib, buf.as_mut_ptr().cast(), buf.len()) }
}

/// `sysctl(mib)` read into one plain value `v`: the number of bytes written, or `None`.
fn sysctl_value<T: Copy>(mib: &mut [libc::c_int], v: &mut T) -> Option<usize> {
    // SAFETY: v is valid for size_of::<T>() bytes, and T is plain data (Copy).
    unsafe { sysctl_raw(mib, (v as *mut T).cast(), std::mem::size_of::<T>()) }
}

/// # Safety
/// `out` must be valid for writes of `cap` bytes.
unsafe fn sysctl_raw(mib: &mut [libc::c_int], out: *mut libc::c_void, cap: usize) -> Option<usize> {
    let mut len = cap;
    // SAFETY: mib is valid for mib.len() entries, out for cap bytes (the caller's contract);
    // len is updated to what was written; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            mib.len() as libc::c_uint,
            out,
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then_some(len.min(cap))
}

/// `sysctlbyname(name)` read into `buf` (nothing is set), or only its size asked (`None`): the
/// length the kernel reports, or `None` on failure.
fn sysctl_by_name(name: &CStr, buf: Option<&mut [u8]>) -> Option<usize> {
    let (out, mut len) = match buf {
        Some(b) => (b.as_mut_ptr().cast(), b.len()),
        None => (std::ptr::null_mut(), 0),
    };
    // SAFETY: out is valid for len bytes, or null with len 0 (a size query); no new value is set.
    let rc = unsafe { libc::sysctlbyname(name.as_ptr(), out, &mut len, std::ptr::null_mut(), 0) };
    (rc == 0).then_some(len)
}

fn sysctl_string(name: &CStr) -> Option<String> {
    let mut buf = [0u8; 128];
    let len = sysctl_by_name(name, Some(&mut buf))?;
    if len == 0 || len > buf.len() {
        return None;
    }
    let s = data::c_name(&buf[..len]);
    (!s.is_empty()).then_some(s)
}

/// This boot: the boot session UUID (exact), else the boot time in seconds (compared with a
/// little slack by `identity::same_boot`).
pub fn boot_id() -> Option<String> {
    if let Some(u) = sysctl_string(c"kern.bootsessionuuid") {
        return Some(format!("mac-boot:{u}"));
    }
    // SAFETY: an all-zero timeval is valid.
    let mut tv: libc::timeval = unsafe { std::mem::zeroed() };
    let len = sysctl_value(&mut [libc::CTL_KERN, libc::KERN_BOOTTIME], &mut tv)?;
    (len == std::mem::size_of::<libc::timeval>() && tv.tv_sec > 0)
        .then(|| format!("boot-secs:{}", tv.tv_sec))
}

/// The executable's path as the kernel knows it (`proc_pidpath`).
pub fn exe_path(pid: u32) -> Option<String> {
    let p = c_pid(pid)?;
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::proc_pidpath(p, buf.as_mut_ptr().cast(), buf.len() as u32) };
    if n <= 0 {
        return None;
    }
    let s = data::c_name(&buf[..(n as usize).min(buf.len())]);
    (!s.is_empty()).then_some(s)
}

/// The `KERN_PROCARGS2` buffer of `pid` (same-user, or root): argc, exe, argv, environment.
fn procargs2(pid: u32) -> io::Result<Vec<u8>> {
    let p = c_pid(pid).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    let mut argmax: libc::c_int = 0;
    let size = match sysctl_value(&mut [libc::CTL_KERN, libc::KERN_ARGMAX], &mut argmax) {
        Some(_) if argmax > 0 => argmax as usize,
        _ => 1 << 20,
    };
    let mut buf = vec![0u8; size];
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, p];
    let mut len = buf.len();
    // SAFETY: mib and buf are valid for their lengths; nothing is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            mib.len() as libc::c_uint,
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(len.min(size));
    Ok(buf)
}

/// The argv of `pid` from `KERN_PROCARGS2` (same-user, or root).
pub fn argv(pid: u32) -> Option<Vec<String>> {
    let buf = procargs2(pid).ok()?;
    data::parse_procargs2(&buf).map(|(_, argv)| argv)
}

/// The environment `pid` was started with, from `KERN_PROCARGS2` (NUL-terminated `K=V`, as
/// Linux's `/proc/PID/environ`). The kernel refuses another user's process (EINVAL or EPERM:
/// unknown) and a gone one (ESRCH, or EINVAL with no such pid: `NotFound`).
pub fn environ(pid: u32) -> io::Result<Vec<u8>> {
    match procargs2(pid) {
        Ok(buf) => data::parse_procargs2_env(&buf)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "truncated KERN_PROCARGS2")),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            Err(io::Error::new(io::ErrorKind::NotFound, e))
        }
        Err(e) if short_info(pid).is_none() && !crate::identity::exists_by_signal(pid) => {
            Err(io::Error::new(io::ErrorKind::NotFound, e))
        }
        Err(e) => Err(e),
    }
}

/// Every pid on the system.
pub fn all_pids() -> io::Result<Vec<u32>> {
    // SAFETY: a null buffer asks for the size needed.
    let need = unsafe { libc::proc_listpids(data::PROC_ALL_PIDS, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return Err(io::Error::last_os_error());
    }
    // Room for processes started between the two calls.
    let mut buf = vec![0i32; need as usize / 4 + 64];
    let bytes = (buf.len() * 4) as libc::c_int;
    // SAFETY: buf is valid for `bytes` bytes.
    let n = unsafe { libc::proc_listpids(data::PROC_ALL_PIDS, 0, buf.as_mut_ptr().cast(), bytes) };
    if n <= 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(data::pids_in(&buf, n as usize))
}

fn ports_error(e: i32) -> PortsError {
    match e {
        libc::ESRCH => PortsError::Gone,
        libc::EPERM | libc::EACCES => PortsError::Denied,
        e => PortsError::Io(io::Error::from_raw_os_error(e).to_string()),
    }
}

/// The socket descriptors of `pid`.
fn socket_fds(pid: u32) -> Result<Vec<i32>, PortsError> {
    let p = c_pid(pid).ok_or(PortsError::Gone)?;
    clear_errno();
    // SAFETY: a null buffer asks for the size needed.
    let need = unsafe { libc::proc_pidinfo(p, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return match errno() {
            0 => Ok(Vec::new()),
            e => Err(ports_error(e)),
        };
    }
    let each = std::mem::size_of::<libc::proc_fdinfo>();
    // Room for descriptors opened between the two calls.
    let count = need as usize / each + 32;
    // SAFETY: proc_fdinfo is plain data; all-zero is valid.
    let mut fds: Vec<libc::proc_fdinfo> = vec![unsafe { std::mem::zeroed() }; count];
    let bytes = (count * each) as libc::c_int;
    clear_errno();
    // SAFETY: fds is valid for `bytes` bytes.
    let n =
        unsafe { libc::proc_pidinfo(p, libc::PROC_PIDLISTFDS, 0, fds.as_mut_ptr().cast(), bytes) };
    if n <= 0 {
        return match errno() {
            0 => Ok(Vec::new()),
            e => Err(ports_error(e)),
        };
    }
    let got = (n as usize / each).min(fds.len());
    Ok(fds[..got]
        .iter()
        .filter(|f| f.proc_fdtype == libc::PROX_FDTYPE_SOCKET as u32)
        .map(|f| f.proc_fd)
        .collect())
}

/// The listening TCP sockets of `pid` (unsorted).
pub fn listening(pid: u32) -> Result<Vec<Listening>, PortsError> {
    let p = c_pid(pid).ok_or(PortsError::Gone)?;
    let mut out = Vec::new();
    for fd in socket_fds(pid)? {
        let mut info = SocketFdInfo::default();
        let size = std::mem::size_of::<SocketFdInfo>() as libc::c_int;
        clear_errno();
        // SAFETY: info is valid for `size` bytes; the kernel writes at most that.
        let n = unsafe {
            libc::proc_pidfdinfo(
                p,
                fd,
                data::PROC_PIDFDSOCKETINFO,
                (&mut info as *mut SocketFdInfo).cast(),
                size,
            )
        };
        if n == size {
            if let Some(l) = data::listening_of(&info) {
                out.push(l);
            }
            continue;
        }
        match errno() {
            // Closed (or replaced by another kind of fd) since the list was taken.
            libc::EBADF | libc::ENOTSUP | 0 => {}
            e => return Err(ports_error(e)),
        }
    }
    Ok(out)
}

/// Every LISTEN TCP socket on the system, from `sysctl net.inet.tcp.pcblist_n` (what
/// `netstat` reads; any user may): port and owning uid, no pid. `None` when it cannot be read.
pub fn tcp_listeners() -> Option<Vec<data::PcbListener>> {
    let name = c"net.inet.tcp.pcblist_n";
    for _ in 0..4 {
        let len = sysctl_by_name(name, None).filter(|&n| n > 0)?;
        // Room for sockets opened between the two calls.
        let mut buf = vec![0u8; len + len / 4 + 4096];
        if let Some(got) = sysctl_by_name(name, Some(&mut buf)) {
            return data::parse_pcblist_n(&buf[..got.min(buf.len())]);
        }
        if errno() != libc::ENOMEM {
            return None;
        }
    }
    None
}

/// Who listens on `port` among every process whose fd table we may read: pid -> ppid, and
/// whether some fd tables were refused (then "nobody" cannot be told).
pub fn owners_of_port(port: u16) -> io::Result<(HashMap<u32, u32>, bool)> {
    let mut owners = HashMap::new();
    let mut denied = false;
    let me = std::process::id();
    for pid in all_pids()? {
        match listening(pid) {
            Ok(v) if v.iter().any(|l| l.port == port) => {
                let ppid = if pid == me {
                    // SAFETY: getppid has no preconditions.
                    unsafe { libc::getppid() as u32 }
                } else {
                    short_info(pid).map(|s| s.pbsi_ppid).unwrap_or(0)
                };
                owners.insert(pid, ppid);
            }
            Ok(_) | Err(PortsError::Gone) => {}
            Err(_) => denied = true,
        }
    }
    Ok((owners, denied))
}

/// The filesystem type name of the filesystem holding `path` (`statfs`'s `f_fstypename`).
pub fn fs_type_name(path: &std::path::Path) -> io::Result<String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an all-zero statfs is valid plain data.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated; st is written on success.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let raw: Vec<u8> = st.f_fstypename.iter().map(|&c| c as u8).collect();
    Ok(data::c_name(&raw))
}

/// A kqueue watching a guard directory and, once [`Kq::watch_file`] was called, its lock file.
pub struct Kq {
    kq: std::os::fd::OwnedFd,
    _dir: std::os::fd::OwnedFd,
    file: Option<std::os::fd::OwnedFd>,
}

/// What woke a [`Kq::wait`].
pub enum KqWoke {
    /// The directory or the lock file changed, or the lock file was unlocked.
    Changed,
    /// The lock file was removed or renamed: its watch is gone, set a new one.
    FileGone,
    Cancelled,
    TimedOut,
    Interrupted,
}

const FILE_NOTES: u32 = libc::NOTE_FUNLOCK
    | libc::NOTE_WRITE
    | libc::NOTE_ATTRIB
    | libc::NOTE_EXTEND
    | libc::NOTE_DELETE
    | libc::NOTE_RENAME
    | libc::NOTE_REVOKE;
const DIR_NOTES: u32 = libc::NOTE_WRITE
    | libc::NOTE_ATTRIB
    | libc::NOTE_EXTEND
    | libc::NOTE_DELETE
    | libc::NOTE_RENAME
    | libc::NOTE_REVOKE;

fn open_evtonly(path: &std::path::Path, dir: bool) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // The directory may be reached through a symlink (the guard directory was checked before
    // this); the lock file is never followed.
    let flags = libc::O_EVTONLY
        | libc::O_CLOEXEC
        | if dir {
            libc::O_DIRECTORY
        } else {
            libc::O_NOFOLLOW
        };
    // SAFETY: c is NUL-terminated.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is fresh and owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

fn change(ident: i32, filter: i16, fflags: u32) -> libc::kevent {
    // SAFETY: an all-zero kevent is valid (null udata).
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as libc::uintptr_t;
    ev.filter = filter;
    ev.flags = libc::EV_ADD | libc::EV_CLEAR;
    ev.fflags = fflags;
    ev
}

impl Kq {
    /// A kqueue with a vnode watch on `dir` (entries created, removed or renamed).
    pub fn new(dir: &std::path::Path) -> io::Result<Kq> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: plain syscall; the result is checked.
        let raw = unsafe { libc::kqueue() };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is fresh and owned by nobody else.
        let kq = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: fcntl on a valid fd. A kqueue is not inherited by fork; close it on exec too.
        unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) };
        let d = open_evtonly(dir, true)?;
        let dir_fd = d.as_raw_fd();
        let me = Kq {
            kq,
            _dir: d,
            file: None,
        };
        me.register(&change(dir_fd, libc::EVFILT_VNODE, DIR_NOTES))?;
        Ok(me)
    }

    fn register(&self, ev: &libc::kevent) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: one valid change, no event buffer, no timeout.
        let rc = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                ev,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn watches_file(&self) -> bool {
        self.file.is_some()
    }

    /// Watches the lock file itself: unlocked (`NOTE_FUNLOCK`: by flock(2) or by the last close
    /// of a locked open file, a crashed holder's included), written, removed or renamed.
    pub fn watch_file(&mut self, lock: &std::path::Path) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let f = open_evtonly(lock, false)?;
        self.register(&change(f.as_raw_fd(), libc::EVFILT_VNODE, FILE_NOTES))?;
        self.file = Some(f);
        Ok(())
    }

    /// Stops watching the lock file (closing it drops its kevent).
    pub fn unwatch_file(&mut self) {
        self.file = None;
    }

    /// Adds the read end of a cancel pipe (dropped from the kqueue when it is closed).
    pub fn watch_cancel(&self, fd: i32) -> io::Result<()> {
        self.register(&change(fd, libc::EVFILT_READ, 0))
    }

    /// Blocks for one event, up to `timeout_ms` (`None`: forever).
    pub fn wait(&self, timeout_ms: Option<u64>, cancel_fd: Option<i32>) -> KqWoke {
        use std::os::fd::AsRawFd;
        // SAFETY: all-zero kevents are valid.
        let mut evs: [libc::kevent; 4] = unsafe { std::mem::zeroed() };
        let ts = timeout_ms.map(|ms| libc::timespec {
            tv_sec: (ms / 1000) as libc::time_t,
            tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
        });
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: no changes; evs is valid for 4 events; tsp is null or a valid timespec.
        let n = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                evs.as_mut_ptr(),
                evs.len() as libc::c_int,
                tsp,
            )
        };
        if n < 0 {
            return if errno() == libc::EINTR {
                KqWoke::Interrupted
            } else {
                KqWoke::Changed // cannot wait: let the caller try again
            };
        }
        if n == 0 {
            return KqWoke::TimedOut;
        }
        let file_fd = self.file.as_ref().map(|f| f.as_raw_fd());
        let mut woke = KqWoke::Changed;
        for ev in &evs[..n as usize] {
            let ident = ev.ident as i32;
            let filter = ev.filter;
            let fflags = ev.fflags;
            if filter == libc::EVFILT_READ && Some(ident) == cancel_fd {
                return KqWoke::Cancelled;
            }
            if filter == libc::EVFILT_VNODE
                && Some(ident) == file_fd
                && fflags & (libc::NOTE_DELETE | libc::NOTE_RENAME | libc::NOTE_REVOKE) != 0
            {
                woke = KqWoke::FileGone;
            }
        }
        woke
    }
}

/// Blocks until process `pid` exits or `timeout` passes, woken by kqueue (`EVFILT_PROC`
/// `NOTE_EXIT`) rather than by polling. `true`: it exited, or was gone already (ESRCH when
/// registering); `false`: the timeout passed, or no kqueue could be had (the caller then checks
/// and waits again). The caller decides by the process's identity, not by this result: a pid
/// reused between its check and this registration is watched instead, and is told apart there.
pub fn wait_proc_exit(pid: u32, timeout: std::time::Duration) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd};
    let Some(p) = c_pid(pid) else {
        return true;
    };
    // SAFETY: kqueue has no preconditions; the fd is owned below.
    let raw = unsafe { libc::kqueue() };
    if raw < 0 {
        std::thread::sleep(timeout.min(std::time::Duration::from_millis(10)));
        return false;
    }
    // SAFETY: raw is a fresh fd owned by nobody else.
    let kq = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    let mut ev = change(p, libc::EVFILT_PROC, libc::NOTE_EXIT);
    ev.flags = libc::EV_ADD | libc::EV_ONESHOT;
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: zeroed kevent is valid.
    let mut out: libc::kevent = unsafe { std::mem::zeroed() };
    // SAFETY: one change and room for one event; ts is a valid timespec.
    let n = unsafe { libc::kevent(kq.as_raw_fd(), &ev, 1, &mut out, 1, &ts) };
    if n < 0 {
        // ESRCH: no such process (gone); EINTR: the caller checks and waits again.
        return errno() == libc::ESRCH;
    }
    // An EV_ERROR event carries the registration's errno in `data`.
    if n == 1 && out.flags & libc::EV_ERROR != 0 {
        return out.data == libc::ESRCH as isize;
    }
    n == 1
}

/// These run only on a Mac (the CI's macOS job); here they are compiled for both darwin
/// targets by clippy.
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn identity_is_exact_and_a_zombie_is_gone() {
        let Probe::Alive(Some(me)) = probe(std::process::id()) else {
            panic!("self not alive with an identity")
        };
        assert!(me.start_id.starts_with("mac-usecs:"), "{}", me.start_id);
        assert_eq!(crate::identity::me().identity.as_ref(), Some(&me));
        assert!(boot_id().is_some());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let Probe::Alive(Some(id)) = probe(pid) else {
            panic!("child not alive")
        };
        assert_ne!(id.start_id, me.start_id);
        assert_eq!(
            short_info(pid).map(|s| s.pbsi_ppid),
            Some(std::process::id())
        );
        assert_eq!(uid_of(pid), crate::identity::current_uid());
        child.kill().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while probe(pid).is_alive() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        // Killed, not yet reaped: a zombie counts as gone.
        assert_eq!(probe(pid), Probe::Gone);
        child.wait().unwrap();
        assert_eq!(probe(pid), Probe::Gone);
        // launchd is root's: alive, and its start time is readable by anyone; both sources
        // agree on ours.
        assert!(matches!(probe(1), Probe::Alive(Some(_))));
        let k = kinfo(std::process::id()).unwrap();
        assert_eq!(data::start_token(k.sec, k.usec), me.start_id);
    }

    #[test]
    fn a_childs_environment_and_exit_are_seen() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .env(
                "PID_GUARD_HOLDER_0123456789abcdef",
                "pid=1 start=x guard=/a b",
            )
            .spawn()
            .unwrap();
        let pid = child.id();
        // The kernel lays out the new image's arguments after spawn returns: poll briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        let env = loop {
            let env = environ(pid).unwrap_or_default();
            if !env.is_empty() || Instant::now() > deadline {
                break env;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(
            crate::marker::find_in_environ(&env, "PID_GUARD_HOLDER_0123456789abcdef"),
            Some(&b"pid=1 start=x guard=/a b"[..])
        );
        // Running: the wait times out; killed: it wakes well before its timeout.
        assert!(!wait_proc_exit(pid, Duration::from_millis(50)));
        let t = Instant::now();
        child.kill().unwrap();
        assert!(wait_proc_exit(pid, Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(5));
        child.wait().unwrap();
        // Reaped: gone, for both.
        assert!(wait_proc_exit(pid, Duration::from_secs(10)));
        assert_eq!(environ(pid).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn command_line_of_ourselves_and_a_child() {
        let (exe, argv) = crate::identity::command_of(std::process::id());
        assert_eq!(exe, exe_path(std::process::id()));
        assert!(exe.is_some());
        let args: Vec<String> = std::env::args().collect();
        assert_eq!(argv, Some(args));
        let mut child = std::process::Command::new("/bin/sleep")
            .args(["30", ""])
            .spawn()
            .unwrap();
        let (exe, argv) = crate::identity::command_of(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(exe.as_deref(), Some("/bin/sleep"));
        assert_eq!(
            argv,
            Some(vec!["/bin/sleep".to_string(), "30".into(), "".into()])
        );
    }

    #[test]
    fn finds_our_listeners_and_their_owner() {
        use crate::health::ports::{self, Family};
        let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p4 = l4.local_addr().unwrap().port();
        let l6 = std::net::TcpListener::bind("[::1]:0").ok();
        // A connected socket is not a listener.
        let _c = std::net::TcpStream::connect(("127.0.0.1", p4)).unwrap();
        let mine = ports::listening(std::process::id()).unwrap();
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
        assert_eq!(mine.iter().filter(|l| l.port == p4).count(), 1);
        assert_eq!(
            ports::owner_of_port(p4).unwrap(),
            Some(Some(std::process::id()))
        );
        let me = crate::identity::current_uid().unwrap();
        let table = tcp_listeners().expect("net.inet.tcp.pcblist_n is readable by anyone");
        assert!(table.contains(&data::PcbListener { port: p4, uid: me }));
        assert_eq!(ports::listener_uids(p4), Some(vec![me]));
        drop(l4);
        assert_eq!(ports::owner_of_port(p4), Ok(None));
        assert_eq!(ports::listener_uids(p4), Some(vec![]));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(ports::listening(pid), Err(PortsError::Gone));
    }

    #[test]
    fn temp_dir_is_local() {
        let name = fs_type_name(&std::env::temp_dir()).unwrap();
        assert!(!name.is_empty());
        assert_eq!(data::remote_fs_kind(&name), None, "{name}");
    }

    #[test]
    fn an_unlock_wakes_the_kqueue() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("pg-kq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("x.lock");
        let f = std::fs::File::create(&lock).unwrap();
        // SAFETY: flock on an open file.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        let mut kq = Kq::new(&dir).unwrap();
        kq.watch_file(&lock).unwrap();
        assert!(matches!(kq.wait(Some(20), None), KqWoke::TimedOut));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(f); // the last close releases the flock: NOTE_FUNLOCK
        });
        let started = Instant::now();
        assert!(matches!(kq.wait(Some(5000), None), KqWoke::Changed));
        assert!(started.elapsed() < Duration::from_secs(4));
        t.join().unwrap();
        std::fs::remove_file(&lock).unwrap();
        assert!(matches!(kq.wait(Some(5000), None), KqWoke::FileGone));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
