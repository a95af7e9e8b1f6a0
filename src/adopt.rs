//! Adoption: the service `pid-guard run NAME -- cmd` started calls `acquire(NAME)` itself.
//!
//! On Unix `run` acquires, then execs the command in the same process (see crates/cli run.rs):
//! the command *is* the holder, the lock on its fd 3 (`PID_GUARD_FD=3`, `PID_GUARD_NAME=NAME`).
//! Its own `acquire(NAME)` must then get that guard, not `ELOCKED` naming itself. An
//! environment variable is only a claim (a child inherits it, anyone can set it), so the
//! inherited fd is adopted only when all of this holds, and otherwise acquire goes on as usual:
//! - `PID_GUARD_FD` is a number above 2, that fd is open and no guard this process holds owns it
//!   (the inherited lock closed and the number reused by an acquire: never two owners of one
//!   fd); `PID_GUARD_NAME`, when set, is NAME;
//! - the fd is the very file `DIR/NAME.lock` names now (device and inode, looked up through the
//!   guard directory opened and checked as for any acquire, never through a link), and that
//!   file passes the checks a winner's lock file passes (ours, one link, not writable by others);
//! - the open file description behind the fd holds the lock in the mode asked for: on Linux the
//!   kernel shows the flock on `/proc/self/fdinfo/FD`; elsewhere another open of the file finds
//!   the lock busy while the fd takes it again without waiting (a no-op on the description that
//!   holds it; a stray description could not);
//! - the record names this process (pid, start time, boot, PID namespace), this mode and this
//!   fd, and the pid file (exclusive: `NAME.pid`, shared: `NAME.shared/<pid>.pid`) names our pid:
//!   what `run` wrote just before its exec, since exec keeps the pid and start time. Or, in
//!   exclusive mode, the record and pid file name an ANCESTOR of this process (parent chain, at
//!   most [`MAX_ANCESTORS`] up, with the recorded start time): a service a wrapper started
//!   (`run web -- npm start`, `sh -c 'cd /app && node s'`, timeout, runuser) shares the open
//!   file description the kernel shows holding the lock on our fd. It then becomes the holder:
//!   the pid file and record are rewritten to name it (`Guard::hand_over`), so `stop` reaches
//!   the service, not the wrapper. A process whose ancestors do not include the recorded holder
//!   (a copy sent over SCM_RIGHTS, a sibling) is never adopted. A nested `pid-guard run NAME`
//!   adopts only its own pid's record ([`adopt_own`]): it was asked to wait for, fail on or take
//!   over from an ancestor, never to share its lock.
//! - A lock file check that fails on a lock proven held by this process (privileges dropped
//!   after `run`, a backup's hard link) never advises removing the file: it is live.
//!
//! At most one guard per process adopts (the fd becomes that guard's, close-on-exec, closed on
//! release). The caller removes `PID_GUARD_FD` from its environment afterwards (the JS layer
//! does, through `process.env`, as it sets the holder's marker) so the service's own children do
//! not try. A mode that differs from the one `run` was given is an error saying so.

use crate::error::Result;
use crate::guard::{AcquireOptions, Guard};
use crate::layout::Layout;

/// The fd number `pid-guard run` passes the lock on.
pub const FD_VAR: &str = "PID_GUARD_FD";
/// The guard name `pid-guard run` passes.
pub const NAME_VAR: &str = "PID_GUARD_NAME";
/// The fd `pid-guard run` passes the lock as when it is free (as flock(1) users expect an fd
/// of their choosing, the first one after stdio); else the lowest free one above it.
pub const RUN_FD: i32 = 3;

/// How far up the parent chain the recorded holder is looked for (a wrapper of wrappers:
/// `npm start` -> sh -> node is 2).
pub const MAX_ANCESTORS: usize = 16;

/// The guard inherited from `pid-guard run`, adopted, when every check above holds; `None`
/// (acquire as usual) otherwise. The recorded holder may be this process or (exclusive mode)
/// an ancestor of it: see [`inherited`]'s module docs.
pub(crate) fn inherited(l: &Layout, opts: &AcquireOptions) -> Result<Option<Guard>> {
    #[cfg(unix)]
    {
        unix::inherited(l, opts, true)
    }
    #[cfg(not(unix))]
    {
        let _ = (l, opts);
        Ok(None)
    }
}

/// For a nested `pid-guard run NAME`: the inherited guard, adopted only when the record names
/// this very process (an outer `run` exec'd us); never one held by an ancestor (that run was
/// asked to wait for, fail on or take over from it).
pub fn adopt_own(name: &str, opts: &AcquireOptions) -> Result<Option<Guard>> {
    let l = crate::guard::prepare(name, opts)?;
    #[cfg(unix)]
    {
        unix::inherited(&l, opts, false)
    }
    #[cfg(not(unix))]
    {
        let _ = (l, opts);
        Ok(None)
    }
}

#[cfg(unix)]
mod unix {
    use super::*;
    use crate::error::{Code, Error};
    use crate::fsio;
    use crate::identity;
    use crate::mode::Mode;
    use crate::pidfile;
    use crate::record::Record;
    use std::fs::File;
    use std::mem::ManuallyDrop;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Set once a guard adopted the inherited fd (or while one thread checks it).
    static TAKEN: AtomicBool = AtomicBool::new(false);

    fn debug(l: &Layout, why: &str) {
        crate::log::debug(format_args!(
            "{}: {FD_VAR} not adopted: {why}; acquiring as usual",
            l.name
        ));
    }

    pub(super) fn inherited(
        l: &Layout,
        opts: &AcquireOptions,
        ancestors: bool,
    ) -> Result<Option<Guard>> {
        let Some(fd) = std::env::var(FD_VAR)
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
        else {
            return Ok(None);
        };
        if let Ok(n) = std::env::var(NAME_VAR) {
            if n != l.name {
                return Ok(None);
            }
        }
        if fd <= 2 {
            debug(l, "it names a standard stream");
            return Ok(None);
        }
        if TAKEN
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Ok(None);
        }
        let out = check(l, opts, fd, ancestors);
        if !matches!(out, Ok(Some(_))) {
            TAKEN.store(false, Ordering::SeqCst);
        }
        out
    }

    pub(super) fn check(
        l: &Layout,
        opts: &AcquireOptions,
        fd: i32,
        ancestors: bool,
    ) -> Result<Option<Guard>> {
        // SAFETY: F_GETFD only asks whether the fd is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            debug(l, &format!("fd {fd} is not open"));
            return Ok(None);
        }
        if crate::guard::fd_is_held(fd) {
            // A guard this process acquired itself lives on that fd (the inherited lock was
            // closed and the number reused): never a second owner of it.
            debug(l, &format!("fd {fd} belongs to a guard this process holds"));
            return Ok(None);
        }
        // Borrowed, not owned, until every check passed: a stray fd is never closed here.
        // SAFETY: the fd is open; ManuallyDrop keeps it from being closed by this File.
        let f = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
        let root = l.root()?;
        let c = match fsio::check_open(&f, &root, &l.lock) {
            Ok(c) => c,
            Err(e) => {
                debug(l, &format!("fd {fd} cannot be checked ({e})"));
                return Ok(None);
            }
        };
        let Some(id) = c.id.filter(|_| c.names) else {
            debug(l, &format!("fd {fd} is not {}", l.lock.display()));
            return Ok(None);
        };
        let Some(held) = held_mode(l, &f, fd, id)? else {
            debug(l, &format!("fd {fd} does not hold the lock"));
            return Ok(None);
        };
        // The checks a winner makes before it writes into the lock file. The lock is live, held
        // by this very process: the errors never advise removing the file.
        if let Err(e) = crate::guard::check_lock(&f, l, opts.mode) {
            return Err(unsafe_held(l, &c, fd, e));
        }
        let me = identity::me();
        let mut read = Vec::new();
        let (record, record_len, files, pid_path, record_path) = match held {
            Mode::Exclusive => {
                let content = crate::guard::read_lock_content(&f, l, c.size)?;
                let Some(rec) = Record::parse(&content) else {
                    debug(l, "the lock file holds no record");
                    return Ok(None);
                };
                read = content.clone();
                (
                    rec,
                    content.len(),
                    root.clone(),
                    l.pid.clone(),
                    l.lock.clone(),
                )
            }
            Mode::Shared => {
                let Some(d) = crate::status::open_shared(l)? else {
                    debug(l, "no shared holders' directory");
                    return Ok(None);
                };
                let path = l.shared_record(me.pid);
                let rec = d
                    .read_small(&path, crate::record::MAX_RECORD_BYTES)
                    .ok()
                    .flatten()
                    .and_then(|b| Record::parse(&b));
                let Some(rec) = rec else {
                    debug(l, "no shared record of this process");
                    return Ok(None);
                };
                (rec, 0, Arc::new(d), l.shared_pid(me.pid), path)
            }
        };
        let fits = record.same_ns() && record.lock_fd == Some(fd) && record.mode == held;
        let ours =
            fits && record.pid == me.pid && me.identity.as_ref().is_some_and(|i| record.matches(i));
        // A service a wrapper started (`run web -- npm start`, `sh -c 'cd /app && node s'`,
        // timeout, runuser): the recorded holder is an ancestor that shares the open file
        // description the kernel shows holding the lock on our fd. Exclusive only (shared
        // holders' files are per pid).
        let from_ancestor = !ours
            && ancestors
            && fits
            && held == Mode::Exclusive
            && is_ancestor(record.pid, |i| record.matches(i));
        if !ours && !from_ancestor {
            debug(
                l,
                "the record names neither this process nor an ancestor of it, with this fd",
            );
            return Ok(None);
        }
        // Siblings that inherited one run's lock (`sh -c 'a & b & wait'`) may each have read
        // the record naming their common ancestor: one adopts at a time, and the record must
        // still be the one read once this one's turn comes (a sibling that adopted first
        // rewrote it to name itself).
        // The holder's own adoption (the service `run` exec'd) takes the turn too: it makes the
        // fd close-on-exec under it, which is what tells a child that inherited the fd before
        // the exec (`sh -c 'worker & exec svc'`) that the guard is taken.
        let _turn = if held == Mode::Exclusive && (ours || from_ancestor) {
            let Some(turn) = adoption_turn(&root, l) else {
                return Ok(None);
            };
            if from_ancestor && !ancestor_passes_fd(record.pid, fd) {
                debug(
                    l,
                    "the recorded holder adopted the guard itself (its fd is close-on-exec)",
                );
                return Ok(None);
            }
            let size = f
                .metadata()
                .map_err(|e| Error::io(&e, "check the lock file", &l.lock))?
                .len();
            if crate::guard::read_lock_content(&f, l, size)? != read {
                debug(l, "a sibling adopted the guard first (the record changed)");
                return Ok(None);
            }
            Some(turn)
        } else {
            None
        };
        // The pid file this process's `run` wrote, as it is now (release removes only that one).
        let stamp = match (files.lstat(&pid_path), files.read_small(&pid_path, 64)) {
            (Ok(Some(e)), Ok(Some(b)))
                if e.kind == crate::dirfd::Kind::File
                    && e.nlink == 1
                    && b == pidfile::format(record.pid).as_bytes() =>
            {
                e.stamp
            }
            _ => {
                debug(
                    l,
                    &format!("{} does not name this process", pid_path.display()),
                );
                return Ok(None);
            }
        };
        if held != opts.mode {
            return Err(Error::new(
                Code::Locked,
                format!(
                    "\"{}\" is held by this very process in {} mode: `pid-guard run --mode {}` passed it the lock as fd {fd}; acquire it with mode '{}' (or start run with --mode {})",
                    l.name,
                    held.as_str(),
                    held.as_str(),
                    held.as_str(),
                    opts.mode.as_str()
                ),
            )
            .at(&l.lock));
        }
        // Ours now: close-on-exec like every fd of a guard (the service's own children do not
        // keep the lock past it), closed on release.
        // SAFETY: plain fcntl on an open fd.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
        let file = ManuallyDrop::into_inner(f);
        debug_assert_eq!(file.as_raw_fd(), fd);
        crate::guard::hold_fd(Some(fd));
        if held == Mode::Shared {
            crate::guard::shared_ref(&pid_path, 1);
        }
        let marker = crate::guard::record_marker(Some(id), l, &record);
        let meta = merged_meta(&record.meta, &opts.meta);
        let mut g = Guard {
            file: Some(file),
            layout: l.clone(),
            files: Some(files),
            mode: held,
            pid_path,
            record_path,
            record,
            record_len,
            pid_file: (held == Mode::Exclusive).then_some(stamp),
            recovered: Vec::new(),
            marker,
            adopted: true,
        };
        crate::log::debug(format_args!(
            "{}: adopted the lock `pid-guard run` passed as fd {fd}",
            l.name
        ));
        if from_ancestor {
            // This process is the service: the pid file and record name it from now on, so
            // `stop` reaches it rather than the wrapper (npm, sh) that started it.
            g.hand_over(me.pid, me.cmdline.clone(), Some(fd))?;
            crate::log::debug(format_args!(
                "{}: adopted from ancestor {}; the pid file and record now name {}",
                l.name, g.record.pid, me.pid
            ));
        }
        if let Some(meta) = meta {
            g.update(meta)?;
        }
        Ok(Some(g))
    }

    /// The turn to adopt from an ancestor, held until the returned file is closed: an OFD
    /// write lock on one byte far past the record, on a fresh open of the lock file. The
    /// siblings share the flock's open file description, so it cannot tell them apart; OFD
    /// locks belong to each open and are independent of flock on Linux (NFS, where they are
    /// not, is refused). Waited for up to 2 s (a sibling's adoption takes microseconds; one
    /// stopped mid-way must not hang this acquire): `None` then, so nothing is adopted.
    #[cfg(target_os = "linux")]
    fn adoption_turn(root: &crate::dirfd::Dir, l: &Layout) -> Option<File> {
        let f = root.open_lock(&l.lock).ok()?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            // SAFETY: zeroed plain data, then filled in; a valid open fd.
            let rc = unsafe {
                let mut fl: libc::flock = std::mem::zeroed();
                fl.l_type = libc::F_WRLCK as _;
                fl.l_whence = libc::SEEK_SET as _;
                fl.l_start = i64::MAX - 1;
                fl.l_len = 1;
                libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &fl)
            };
            if rc == 0 {
                return Some(f);
            }
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
                || std::time::Instant::now() >= deadline
            {
                debug(l, &format!("no turn to adopt ({e})"));
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Whether the ancestor `pid` still holds the lock fd `fd` as `run` passes it, not
    /// close-on-exec: a process that adopted the guard itself marks it close-on-exec. Unknown
    /// (no fdinfo) is no.
    #[cfg(target_os = "linux")]
    fn ancestor_passes_fd(pid: u32, fd: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()
            .and_then(|t| crate::sys::procfs::parse_fdinfo_cloexec(&t))
            == Some(false)
    }

    #[cfg(not(target_os = "linux"))]
    fn ancestor_passes_fd(_pid: u32, _fd: i32) -> bool {
        false
    }

    #[cfg(not(target_os = "linux"))]
    fn adoption_turn(_root: &crate::dirfd::Dir, _l: &Layout) -> Option<()> {
        Some(())
    }

    /// Whether `pid` (with the identity `same` accepts) is a proper ancestor of this process,
    /// walking the parent chain at most [`MAX_ANCESTORS`] steps.
    fn is_ancestor(pid: u32, same: impl Fn(&identity::Identity) -> bool) -> bool {
        if pid <= 1 {
            return false;
        }
        // SAFETY: getppid has no preconditions.
        let mut cur = unsafe { libc::getppid() } as u32;
        for _ in 0..MAX_ANCESTORS {
            if cur <= 1 {
                return false;
            }
            if cur == pid {
                return matches!(identity::probe(pid), identity::Probe::Alive(Some(ref i)) if same(i));
            }
            match parent_of(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    }

    #[cfg(target_os = "linux")]
    fn parent_of(pid: u32) -> Option<u32> {
        crate::sys::linux::read_stat(pid).ok().map(|s| s.ppid)
    }

    #[cfg(not(target_os = "linux"))]
    fn parent_of(_pid: u32) -> Option<u32> {
        None
    }

    /// A lock file check that failed on the fd this process holds the lock through: what is
    /// wrong and what to do, never "remove it" (that would let a second copy start).
    fn unsafe_held(l: &Layout, c: &fsio::OpenCheck, fd: i32, e: Error) -> Error {
        if e.code != Code::UnsafeFile {
            return e;
        }
        let lock = l.lock.display();
        let live = format!("the guard is live, held by this very process through fd {fd} (`pid-guard run` passed it): do not remove {lock}");
        let msg = match &c.ownership {
            fsio::Ownership::NotOurs { owner, me, .. } => format!(
                "{lock} belongs to {owner}, but this process runs as {me}; {live}. The service changed user after `pid-guard run` acquired (setpriv, runuser, su, a privilege drop in the program): acquire before dropping privileges, or start `pid-guard run` as the service's user (`setpriv ... pid-guard run {} -- cmd`)",
                l.name
            ),
            _ if c.links > 1 => format!(
                "{lock} has {} hard links: a copy or backup tool hard-linked it; {live}. Remove the OTHER link (find {} -xdev -samefile {lock}), then acquire again",
                c.links,
                l.dir.display()
            ),
            _ if c.others_may_write.is_some() => format!(
                "{lock} is writable by {} (someone changed its permissions), so they could rewrite the holder's record; {live}. Run {}, then acquire again",
                c.others_may_write.as_deref().unwrap_or("other users"),
                fsio::make_private_command(&l.lock)
            ),
            _ => format!("{}; but {live}", e.message),
        };
        Error::new(Code::UnsafeFile, msg).at(&l.lock)
    }

    /// The mode the open file description `f` (fd `fd`) holds the lock in; `None` if it holds
    /// none (or that cannot be proven).
    fn held_mode(l: &Layout, f: &File, fd: i32, id: fsio::FileId) -> Result<Option<Mode>> {
        use crate::sys::{fd_holds, Holds};
        match fd_holds(identity::me().pid, fd, id) {
            Holds::Yes { exclusive } => {
                return Ok(Some(if exclusive {
                    Mode::Exclusive
                } else {
                    Mode::Shared
                }))
            }
            Holds::No => return Ok(None),
            Holds::Unknown => {}
        }
        // No fdinfo (not Linux): another description of the file must find the lock held,
        // and this one must take it again at once (the mode it is busy in is the one held).
        let other = crate::guard::open_lock(l)?;
        let mode = match crate::flock::probe(&other) {
            crate::flock::Busy::Held(Some(m)) => m,
            _ => return Ok(None),
        };
        Ok(crate::flock::try_lock(f, mode).is_ok().then_some(mode))
    }

    /// `run`'s meta (command, port, url...) with the service's own keys over it; `None` when
    /// the service asked for nothing.
    fn merged_meta(
        recorded: &serde_json::Value,
        asked: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        let asked = asked.as_object().filter(|o| !o.is_empty())?;
        let mut out = recorded.as_object().cloned().unwrap_or_default();
        for (k, v) in asked {
            out.insert(k.clone(), v.clone());
        }
        Some(serde_json::Value::Object(out))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::error::Code;
    use crate::guard::{acquire, prepare};
    use crate::mode::Mode;
    use std::os::fd::AsRawFd;

    /// The checks without the environment (the variables are the process's, shared by tests).
    #[test]
    fn only_the_fd_a_run_passed_down_is_adopted() {
        let d = std::env::temp_dir().join(format!("pg-adopt-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let opts = AcquireOptions {
            dir: Some(&d),
            mode: Mode::Exclusive,
            meta: serde_json::json!({}),
        };
        let mut g = acquire("a", &opts).unwrap();
        let l = prepare("a", &opts).unwrap();
        let own = g.file.as_ref().unwrap().as_raw_fd();
        assert!(
            unix::check(&l, &opts, own, true).unwrap().is_none(),
            "a guard's own fd"
        );
        let stray = std::fs::File::open(d.join("a.lock")).unwrap();
        assert!(
            unix::check(&l, &opts, stray.as_raw_fd(), true)
                .unwrap()
                .is_none(),
            "an fd of the lock file that holds nothing"
        );
        let other = std::fs::File::open(d.join("a.pid")).unwrap();
        assert!(unix::check(&l, &opts, other.as_raw_fd(), true)
            .unwrap()
            .is_none());
        assert!(
            unix::check(&l, &opts, 901, true).unwrap().is_none(),
            "a closed fd"
        );
        // What `run` does before its exec: the lock on fd 900, the record saying so.
        const FD: i32 = 900;
        g.prepare_exec(FD, None, vec!["cmd".into()]).unwrap();
        // SAFETY: fcntl on the fd just made; close-on-exec again so no test's child keeps it.
        unsafe { libc::fcntl(FD, libc::F_SETFD, libc::FD_CLOEXEC) };
        let shared = AcquireOptions {
            dir: Some(&d),
            mode: Mode::Shared,
            meta: serde_json::json!({}),
        };
        let e = unix::check(&l, &shared, FD, true)
            .err()
            .expect("another mode");
        assert_eq!(e.code, Code::Locked);
        let mut a = unix::check(&l, &opts, FD, true).unwrap().expect("adopted");
        assert!(a.adopted() && a.pid() == std::process::id());
        assert!(crate::guard::fd_is_held(FD));
        assert!(
            unix::check(&l, &opts, FD, true).unwrap().is_none(),
            "never twice"
        );
        a.release().unwrap();
        assert!(!d.join("a.pid").exists(), "released as any guard");
        // SAFETY: F_GETFD only asks whether it is open.
        assert!(
            unsafe { libc::fcntl(FD, libc::F_GETFD) } < 0,
            "its fd closed"
        );
        drop(g);
        let _ = std::fs::remove_dir_all(&d);
    }
}
