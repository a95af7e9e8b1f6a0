//! Waiting for a guard: the waiter is woken by the release itself, not by a polling loop.
//!
//! Linux: an inotify watch on the guard directory reports the lock file being closed by its last
//! holder (`IN_CLOSE_WRITE`, or `IN_CLOSE_NOWRITE` for one that opened it read-only as `flock(1)`
//! and Python's `open(path)` do; also when the kernel closes it for a crashed holder) or unlinked
//! (`IN_DELETE`); each wake-up is one non-blocking lock attempt. The watch is set before the first
//! attempt, so a release between "attempt failed" and "start waiting" is never missed. The waiter
//! keeps its own lock fd open between attempts so that its own close does not wake it.
//! macOS: a kqueue (`EVFILT_VNODE`) on the lock file reports it unlocked (`NOTE_FUNLOCK`),
//! written or removed, and on the directory its entries changing. Elsewhere the attempt is
//! repeated every 10 ms (documented).
//! Waiting can be cancelled from another thread (an AbortSignal in JS) through [`Cancel`].

use crate::error::{Code, Error, Result};
use crate::guard::{self, AcquireOptions, Attempt, Guard};
use crate::log::debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A cancellation flag another thread can raise while a wait is under way.
///
/// It holds no file descriptor of its own: a waiter that is about to block arms it with
/// [`Cancel::arm`], which opens a pipe for `poll` to watch and closes it when the returned
/// [`Armed`] is dropped at the end of that wait. An acquire that never waits opens nothing, and
/// no descriptor's life depends on when the JS object holding the canceller is collected (the
/// pipe per call that the GC closed let 1,500 uncontended `acquireAsync` calls grow the process
/// by 620 fds, issue 10 item 9).
pub struct Cancel {
    raised: AtomicBool,
    /// The write end of the pipe of the wait under way, if one is armed.
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    wake: std::sync::Mutex<Option<std::os::fd::OwnedFd>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel {
            raised: AtomicBool::new(false),
            #[cfg(any(target_os = "linux", target_os = "macos"))]
            wake: std::sync::Mutex::new(None),
        }
    }

    pub fn cancel(&self) {
        self.raised.store(true, Ordering::SeqCst);
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        if let Some(w) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            use std::os::fd::AsRawFd;
            // SAFETY: writing one byte from a valid buffer to an open fd.
            unsafe { libc::write(w.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Opens the pipe a blocking wait polls, for as long as the result lives. `None` when no
    /// pipe can be had (out of fds): the wait then re-checks the flag every 10 ms.
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    fn arm(&self) -> Option<Armed<'_>> {
        let (r, w) = pipe().ok()?;
        *self.wake.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
        Some(Armed {
            cancel: self,
            read: r,
        })
    }
}

/// A pipe armed for one wait; dropping it closes both ends.
#[cfg(any(target_os = "linux", target_os = "macos"))]
struct Armed<'a> {
    cancel: &'a Cancel,
    read: std::os::fd::OwnedFd,
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
impl Drop for Armed<'_> {
    fn drop(&mut self) {
        // Closes the write end under the lock, so a concurrent cancel() never writes to a
        // closed (or reused) descriptor.
        self.cancel
            .wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

#[cfg(target_os = "macos")]
fn pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are open and owned by nobody else.
    let (r, w) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    for fd in [r.as_raw_fd(), w.as_raw_fd()] {
        // SAFETY: fcntl on open descriptors (macOS has no pipe2).
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Ok((r, w))
}

#[cfg(target_os = "linux")]
fn pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2() writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds are open and owned by nobody else.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

pub enum Woke {
    Changed,
    TimedOut,
    Cancelled,
}

/// Acquires `name`, waiting up to `timeout` (forever when `None`) for the holder to release.
/// On timeout: `ELOCKED` naming the holder; on cancel: `EABORTED`.
pub fn acquire_waiting(
    name: &str,
    opts: &AcquireOptions,
    timeout: Option<Duration>,
    cancel: Option<&Cancel>,
) -> Result<Guard> {
    let l = guard::prepare(name, opts)?;
    if let Some(g) = crate::adopt::inherited(&l, opts)? {
        return Ok(g);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let started = Instant::now();
    // The watch is set up only once the first attempt finds the guard held (most acquires with
    // onConflict 'wait' win at once, and inotify instances are a small per-user budget).
    let mut watcher: Option<Watcher> = None;
    let mut f = guard::open_lock(&l)?;
    let mut replaced = 0;
    let mut recheck: Option<Duration> = None;
    loop {
        match guard::attempt(&l, f, opts)? {
            Attempt::Won(g) => {
                debug(format_args!(
                    "{name}: acquired after waiting {} ms",
                    started.elapsed().as_millis()
                ));
                if let Some(w) = watcher {
                    retire(w);
                }
                return Ok(*g);
            }
            Attempt::Replaced => {
                replaced += 1;
                if replaced > 1000 {
                    return Err(guard::replaced_too_often(&l));
                }
                f = guard::open_lock(&l)?;
                continue;
            }
            Attempt::Busy(held) => f = held,
        }
        let Some(w) = watcher.as_mut() else {
            // Armed after a failed attempt: try once more, so a release that happened in
            // between is not missed.
            watcher = Some(Watcher::new(&l.dir));
            continue;
        };
        // The kernel reports a close before it drops the flock of that file: a wake-up can
        // find the lock still held for a moment. After each wake-up the attempt is repeated a
        // few times at growing intervals (1..64 ms), so a release is never missed.
        let until = match (recheck, deadline) {
            (Some(step), Some(d)) => Some(d.min(Instant::now() + step)),
            (Some(step), None) => Some(Instant::now() + step),
            (None, d) => d,
        };
        match w.wait(&l.lock, until, cancel) {
            Woke::Changed => recheck = Some(Duration::from_millis(1)),
            Woke::TimedOut if deadline.is_none_or(|d| Instant::now() < d) => {
                recheck = recheck
                    .map(|s| s * 2)
                    .filter(|s| *s <= Duration::from_millis(64));
            }
            Woke::TimedOut => {
                drop(f);
                let waited = started.elapsed().as_millis();
                return match guard::locked_error(&l, opts.mode)? {
                    Some(mut e) => {
                        e.message
                            .push_str(&format!(" (still held after waiting {waited} ms)"));
                        Err(e)
                    }
                    // Released at the very end of the wait: one more try.
                    None => guard::acquire(name, opts),
                };
            }
            Woke::Cancelled => {
                return Err(Error::new(
                    Code::Aborted,
                    format!("waiting for \"{name}\" was aborted"),
                ))
            }
        }
    }
}

/// Closing an inotify instance that had a watch waits for an SRCU grace period (7-15 ms
/// measured here): do it on a short-lived thread, not on the path of the waiter that just won.
/// Elsewhere the watcher holds nothing.
fn retire(watcher: Watcher) {
    #[cfg(target_os = "linux")]
    {
        // If no thread can be spawned, the closure (and the watcher) is simply dropped here.
        let _ = std::thread::Builder::new()
            .name("pid-guard-unwatch".into())
            .spawn(move || drop(watcher));
    }
    #[cfg(target_os = "macos")]
    drop(watcher);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let Watcher = watcher;
}

/// A poll timeout of at most 10 ms (`-1`, forever, becomes 10 ms).
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn short(timeout_ms: i32) -> i32 {
    if timeout_ms < 0 {
        10
    } else {
        timeout_ms.min(10)
    }
}

fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The poll(2) timeout until `deadline`: -1 (forever) without one, `None` once it has passed.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn poll_timeout_ms(deadline: Option<Instant>) -> Option<i32> {
    match remaining(deadline) {
        None => Some(-1),
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d.as_millis().clamp(1, i32::MAX as u128) as i32),
    }
}

#[cfg(target_os = "linux")]
pub struct Watcher {
    /// `None` when inotify could not be had (its per-user limits are small): then the attempt
    /// is repeated every 10 ms instead.
    fd: Option<std::os::fd::OwnedFd>,
}

/// inotify instances this process may hold for waiters at once. The kernel's limit is per
/// user and small (128 by default) and other programs of the same user need theirs (editors,
/// `fs.watch`): 150 waiters in one process took them all. Past this, a waiter re-checks every
/// 10 ms instead.
#[cfg(target_os = "linux")]
const MAX_INOTIFY: usize = 8;

#[cfg(target_os = "linux")]
static INOTIFY_IN_USE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(target_os = "linux")]
impl Drop for Watcher {
    fn drop(&mut self) {
        if self.fd.take().is_some() {
            INOTIFY_IN_USE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(target_os = "linux")]
impl Watcher {
    pub fn new(dir: &std::path::Path) -> Watcher {
        use std::sync::atomic::Ordering;
        if INOTIFY_IN_USE.fetch_add(1, Ordering::SeqCst) >= MAX_INOTIFY {
            INOTIFY_IN_USE.fetch_sub(1, Ordering::SeqCst);
            debug(format_args!(
                "{MAX_INOTIFY} waiters of this process already watch; checking {} every 10 ms",
                dir.display()
            ));
            return Watcher { fd: None };
        }
        match Self::inotify(dir) {
            Ok(fd) => Watcher { fd: Some(fd) },
            Err(e) => {
                INOTIFY_IN_USE.fetch_sub(1, Ordering::SeqCst);
                debug(format_args!(
                    "cannot watch {} ({e}); checking every 10 ms instead",
                    dir.display()
                ));
                Watcher { fd: None }
            }
        }
    }

    fn inotify(dir: &std::path::Path) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh inotify instance nobody else owns.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_CLOSE_NOWRITE
            | libc::IN_DELETE
            | libc::IN_MOVED_FROM
            | libc::IN_ONLYDIR;
        // SAFETY: valid fd and NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }

    /// Blocks until the lock file `lock` is closed or removed, the deadline passes, or cancel.
    pub fn wait(
        &mut self,
        lock: &std::path::Path,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> Woke {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let want = lock
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        // Armed before the flag is checked: a cancel() after the check writes to the pipe.
        let armed = cancel.and_then(|c| c.arm());
        let cancel_fd = armed.as_ref().map(|a| a.read.as_raw_fd());
        loop {
            if cancel.is_some_and(|c| c.is_cancelled()) {
                return Woke::Cancelled;
            }
            let Some(timeout_ms) = poll_timeout_ms(deadline) else {
                return Woke::TimedOut;
            };
            // Without inotify, poll only the cancel pipe, for at most 10 ms; without the pipe,
            // wake every 10 ms to look at the flag.
            let (ino, timeout_ms) = match &self.fd {
                Some(fd) if cancel.is_none() || cancel_fd.is_some() => (fd.as_raw_fd(), timeout_ms),
                Some(fd) => (fd.as_raw_fd(), short(timeout_ms)),
                None => (-1, short(timeout_ms)),
            };
            let mut fds = vec![libc::pollfd {
                fd: ino,
                events: libc::POLLIN,
                revents: 0,
            }];
            if let Some(cfd) = cancel_fd {
                fds.push(libc::pollfd {
                    fd: cfd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: `fds` is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            if n < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Woke::Changed; // cannot wait: let the caller try again
            }
            if n == 0 {
                if self.fd.is_none() {
                    return Woke::Changed; // polling: time to try again
                }
                continue; // the deadline check above reports the timeout
            }
            if fds.len() > 1 && fds[1].revents != 0 {
                return Woke::Cancelled;
            }
            if self.drain(&want) {
                return Woke::Changed;
            }
        }
    }

    /// Reads pending events; true if one concerns `want` (or the queue overflowed).
    fn drain(&mut self, want: &[u8]) -> bool {
        use std::os::fd::AsRawFd;
        let Some(fd) = &self.fd else {
            return true;
        };
        let mut buf = [0u8; 4096];
        let mut hit = false;
        loop {
            // SAFETY: reading into a valid buffer of its length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return hit;
            }
            let mut off = 0usize;
            let head = std::mem::size_of::<libc::inotify_event>();
            while off + head <= n as usize {
                // SAFETY: the kernel wrote whole events; read_unaligned copes with alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                let name = &buf[off + head..off + head + ev.len as usize];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if ev.mask & libc::IN_Q_OVERFLOW != 0 || name == want {
                    hit = true;
                }
                off += head + ev.len as usize;
            }
        }
    }
}

/// macOS: a kqueue with `EVFILT_VNODE` watches on the guard directory (entries created,
/// removed, renamed) and on the lock file itself (`NOTE_FUNLOCK`: unlocked by flock(2) or by
/// the last close of a locked open file, which covers a crashed holder; written, removed,
/// renamed), and the cancel pipe as `EVFILT_READ`. The lock file is watched from the first
/// `wait` on (and again after it was removed or replaced); a watch set there reports `Changed`
/// once, so an unlock just before it is never missed.
#[cfg(target_os = "macos")]
pub struct Watcher {
    /// `None` when no kqueue could be had: the attempt is then repeated every 10 ms.
    kq: Option<crate::sys::macos::Kq>,
}

#[cfg(target_os = "macos")]
impl Watcher {
    pub fn new(dir: &std::path::Path) -> Watcher {
        match crate::sys::macos::Kq::new(dir) {
            Ok(kq) => Watcher { kq: Some(kq) },
            Err(e) => {
                debug(format_args!(
                    "cannot watch {} ({e}); checking every 10 ms instead",
                    dir.display()
                ));
                Watcher { kq: None }
            }
        }
    }

    /// Blocks until the lock file `lock` is unlocked, changed or removed, the directory
    /// changes, the deadline passes, or cancel.
    pub fn wait(
        &mut self,
        lock: &std::path::Path,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> Woke {
        use crate::sys::macos::KqWoke;
        use std::os::fd::AsRawFd;
        // Armed before the flag is checked: a cancel() after the check writes to the pipe.
        let armed = cancel.and_then(|c| c.arm());
        let cancel_fd = armed.as_ref().map(|a| a.read.as_raw_fd());
        let cancel_watched = match (&self.kq, cancel_fd) {
            (Some(kq), Some(fd)) => kq.watch_cancel(fd).is_ok(),
            _ => false,
        };
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Woke::Cancelled;
        }
        if let Some(kq) = self.kq.as_mut() {
            if !kq.watches_file() && kq.watch_file(lock).is_ok() {
                // Watched only now: an unlock before this went unseen; try again.
                return Woke::Changed;
            }
        }
        loop {
            if cancel.is_some_and(|c| c.is_cancelled()) {
                return Woke::Cancelled;
            }
            let Some(timeout_ms) = poll_timeout_ms(deadline) else {
                return Woke::TimedOut;
            };
            let Some(kq) = self.kq.as_mut() else {
                // No kqueue: poll only the cancel pipe, for at most 10 ms, then try again.
                let mut fds = [libc::pollfd {
                    fd: cancel_fd.unwrap_or(-1),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: `fds` is a valid array of one pollfd (a negative fd is ignored).
                let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, short(timeout_ms)) };
                if n > 0 && fds[0].revents != 0 {
                    return Woke::Cancelled;
                }
                return Woke::Changed;
            };
            // Without the pipe in the kqueue, wake every 10 ms to look at the flag.
            let timeout_ms = if cancel.is_some() && !cancel_watched {
                short(timeout_ms)
            } else {
                timeout_ms
            };
            let timeout = u64::try_from(timeout_ms).ok();
            match kq.wait(timeout, cancel_fd.filter(|_| cancel_watched)) {
                KqWoke::Changed => return Woke::Changed,
                KqWoke::FileGone => {
                    kq.unwatch_file();
                    return Woke::Changed;
                }
                KqWoke::Cancelled => return Woke::Cancelled,
                // The deadline check above reports the timeout.
                KqWoke::TimedOut | KqWoke::Interrupted => continue,
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub struct Watcher;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
impl Watcher {
    pub fn new(_dir: &std::path::Path) -> Watcher {
        Watcher
    }

    pub fn wait(
        &mut self,
        _lock: &std::path::Path,
        deadline: Option<Instant>,
        cancel: Option<&Cancel>,
    ) -> Woke {
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Woke::Cancelled;
        }
        let step = Duration::from_millis(10);
        match remaining(deadline) {
            Some(d) if d.is_zero() => Woke::TimedOut,
            Some(d) => {
                std::thread::sleep(d.min(step));
                Woke::Changed
            }
            None => {
                std::thread::sleep(step);
                Woke::Changed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn dir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("pg-wait-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn opts(d: &std::path::Path) -> AcquireOptions<'_> {
        AcquireOptions {
            dir: Some(d),
            mode: Mode::Exclusive,
            meta: serde_json::json!({}),
        }
    }

    #[test]
    fn waiter_wakes_on_release() {
        let d = dir("wake");
        let mut holder = guard::acquire("w", &opts(&d)).unwrap();
        let d2 = d.clone();
        let t = std::thread::spawn(move || {
            let started = Instant::now();
            let mut g =
                acquire_waiting("w", &opts(&d2), Some(Duration::from_secs(20)), None).unwrap();
            let took = started.elapsed();
            g.release().unwrap();
            took
        });
        // Let the waiter block, then release: it must win well before its timeout.
        while crate::status::status("w", Some(&d)).unwrap().state != crate::status::State::Held {}
        std::thread::sleep(Duration::from_millis(50));
        holder.release().unwrap();
        let took = t.join().unwrap();
        assert!(took < Duration::from_secs(10), "{took:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn timeout_reports_the_holder_and_cancel_aborts() {
        let d = dir("timeout");
        let mut holder = guard::acquire("t", &opts(&d)).unwrap();
        let e = acquire_waiting("t", &opts(&d), Some(Duration::from_millis(30)), None)
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Locked);
        assert!(
            e.message.contains("still held after waiting"),
            "{}",
            e.message
        );
        assert_eq!(e.holders[0].pid, Some(std::process::id()));

        let cancel = Arc::new(Cancel::new());
        let c2 = cancel.clone();
        let d2 = d.clone();
        let t = std::thread::spawn(move || {
            acquire_waiting("t", &opts(&d2), None, Some(&c2))
                .err()
                .unwrap()
                .code
        });
        cancel.cancel();
        assert_eq!(t.join().unwrap(), Code::Aborted);
        holder.release().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
