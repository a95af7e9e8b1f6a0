//! The kernel lock: `flock(2)` on Unix, `LockFileEx` on Windows (on one byte far past the data). Both belong to the open file
//! (description), so the kernel frees them the moment the last fd closes: a crash or `kill -9`
//! never leaves the guard held. POSIX `fcntl` locks are avoided on purpose: they are dropped when
//! any fd of the file closes and do not exclude threads of one process.

use crate::mode::Mode;
use std::fs::File;
use std::io;

#[derive(Debug)]
pub enum LockError {
    /// Someone else holds a conflicting lock.
    WouldBlock,
    Io(io::Error),
}

/// Takes the lock without waiting (waiting is done by `wait`, woken by the release itself).
pub fn try_lock(f: &File, mode: Mode) -> Result<(), LockError> {
    imp::lock(f, mode)
}

/// What trying the lock for an instant says about a file's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// Nobody held it.
    Free,
    /// Held: `Some(Shared)` by shared holders only, `Some(Exclusive)` by an exclusive one.
    Held(Option<Mode>),
    /// The lock could not be tried (an error other than "busy").
    Unknown,
}

/// Whether anyone holds the lock on the file `f` is open on, asked of the kernel itself by
/// trying it without waiting and letting go at once. This is the one test that sees every
/// holder: the lock tables and `/proc` miss holders in other PID namespaces or users' processes,
/// and on overlayfs the table prints another device. The lock is held for a few microseconds
/// only (an acquirer that runs into it looks again and finds it free).
pub fn probe(f: &File) -> Busy {
    match try_lock(f, Mode::Exclusive) {
        Ok(()) => {
            imp::unlock(f);
            Busy::Free
        }
        Err(LockError::Io(_)) => Busy::Unknown,
        Err(LockError::WouldBlock) => match try_lock(f, Mode::Shared) {
            Ok(()) => {
                imp::unlock(f);
                Busy::Held(Some(Mode::Shared))
            }
            Err(LockError::WouldBlock) => Busy::Held(Some(Mode::Exclusive)),
            Err(LockError::Io(_)) => Busy::Held(None),
        },
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use std::os::fd::AsRawFd;

    pub fn lock(f: &File, mode: Mode) -> Result<(), LockError> {
        let op = libc::LOCK_NB
            | match mode {
                Mode::Exclusive => libc::LOCK_EX,
                Mode::Shared => libc::LOCK_SH,
            };
        loop {
            // SAFETY: the fd is open for the lifetime of `f`.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                // flock(1) treats both as "busy".
                Some(libc::EWOULDBLOCK) | Some(libc::EACCES) => return Err(LockError::WouldBlock),
                _ => return Err(LockError::Io(err)),
            }
        }
    }

    pub fn unlock(f: &File) {
        // SAFETY: the fd is open for the lifetime of `f`.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The byte every Windows lock is taken on (offset low, high): far beyond the record kept at the
/// start of the lock file, since Windows locks are mandatory and readers must still read it.
#[cfg(windows)]
pub(crate) const LOCK_BYTE: (u32, u32) = (u32::MAX, 0x7FFF_FFFF);

#[cfg(windows)]
mod imp {
    use super::*;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, HANDLE};
    use windows_sys::Win32::Storage::FileSystem::{
        LockFileEx, UnlockFileEx, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    pub fn lock(f: &File, mode: Mode) -> Result<(), LockError> {
        let mut flags = LOCKFILE_FAIL_IMMEDIATELY;
        if mode == Mode::Exclusive {
            flags |= LOCKFILE_EXCLUSIVE_LOCK;
        }
        // Windows locks are mandatory: lock one byte far beyond the record kept at the start
        // of the lock file, so readers can still read it.
        // SAFETY: a zeroed OVERLAPPED is valid for a synchronous handle; the handle is open.
        let ok = unsafe {
            let mut ov: OVERLAPPED = std::mem::zeroed();
            (
                ov.Anonymous.Anonymous.Offset,
                ov.Anonymous.Anonymous.OffsetHigh,
            ) = LOCK_BYTE;
            LockFileEx(f.as_raw_handle() as HANDLE, flags, 0, 1, 0, &mut ov)
        };
        if ok != 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error().map(|c| c as u32) {
            Some(ERROR_LOCK_VIOLATION) | Some(ERROR_IO_PENDING) => Err(LockError::WouldBlock),
            _ => Err(LockError::Io(err)),
        }
    }

    pub fn unlock(f: &File) {
        // SAFETY: as in `lock`, on the same byte.
        unsafe {
            let mut ov: OVERLAPPED = std::mem::zeroed();
            (
                ov.Anonymous.Anonymous.Offset,
                ov.Anonymous.Anonymous.OffsetHigh,
            ) = LOCK_BYTE;
            UnlockFileEx(f.as_raw_handle() as HANDLE, 0, 1, 0, &mut ov);
        }
    }
}
