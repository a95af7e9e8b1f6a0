//! Errors a user can hit: a stable `code`, a message that names the file or process involved and
//! says what to do next, and the structured details (holders, path, errno) the JS layer exposes.

use crate::holder::Holder;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

/// Stable error codes. The strings are part of the public contract (`err.code` in JS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Code {
    #[serde(rename = "ELOCKED")]
    Locked,
    #[serde(rename = "EINVALIDNAME")]
    InvalidName,
    #[serde(rename = "EINVALIDOPTION")]
    InvalidOption,
    #[serde(rename = "EUNSAFEDIR")]
    UnsafeDir,
    #[serde(rename = "EUNSAFEFILE")]
    UnsafeFile,
    #[serde(rename = "ESYMLINK")]
    Symlink,
    #[serde(rename = "ENOTDIR")]
    NotDir,
    #[serde(rename = "EACCES")]
    Access,
    #[serde(rename = "EROFS")]
    ReadOnly,
    #[serde(rename = "ENOSPC")]
    NoSpace,
    #[serde(rename = "EREMOTEFS")]
    RemoteFs,
    #[serde(rename = "ERELEASED")]
    Released,
    #[serde(rename = "EABORTED")]
    Aborted,
    #[serde(rename = "ENOTVERIFIED")]
    NotVerified,
    #[serde(rename = "ENOTFOUND")]
    NotFound,
    #[serde(rename = "EIO")]
    Io,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Locked => "ELOCKED",
            Code::InvalidName => "EINVALIDNAME",
            Code::InvalidOption => "EINVALIDOPTION",
            Code::UnsafeDir => "EUNSAFEDIR",
            Code::UnsafeFile => "EUNSAFEFILE",
            Code::Symlink => "ESYMLINK",
            Code::NotDir => "ENOTDIR",
            Code::Access => "EACCES",
            Code::ReadOnly => "EROFS",
            Code::NoSpace => "ENOSPC",
            Code::RemoteFs => "EREMOTEFS",
            Code::Released => "ERELEASED",
            Code::Aborted => "EABORTED",
            Code::NotVerified => "ENOTVERIFIED",
            Code::NotFound => "ENOTFOUND",
            Code::Io => "EIO",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// For `ELOCKED`: who holds the guard (one for exclusive, every holder for shared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<Holder>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: format!("pid-guard: {}", message.into()),
            path: None,
            errno: None,
            holders: Vec::new(),
        }
    }

    pub fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// Maps an I/O error on `path` to a coded error. `doing` says what was being done
    /// ("create the lock file"), so the message reads as a sentence a user can act on.
    pub fn io(err: &io::Error, doing: &str, path: &Path) -> Self {
        let errno = err.raw_os_error();
        let p = path.display();
        let (code, advice) = match classify_at(err, path) {
            _ if crate::dirfd::untrusted_of(err).is_some() => {
                let u = crate::dirfd::untrusted_of(err).expect("checked");
                (
                    if u.dir { Code::UnsafeDir } else { Code::UnsafeFile },
                    format!("will not {doing} {p}: {}; pid-guard never follows, writes or removes what it cannot prove is its own, and touched nothing there. Check who created it (ls -l {p}); unless a process of that user holds the guard (pid-guard status shows it), move it away", u.why),
                )
            }
            _ if crate::fsio::is_not_regular(err) => (
                Code::UnsafeFile,
                format!("cannot {doing} {p}: it is not a regular file (a FIFO, directory or device someone put there), and pid-guard opens nothing else; check who created it (ls -l {p}) and move it away"),
            ),
            Code::Symlink => (
                Code::Symlink,
                format!("{p} is a symbolic link; pid-guard never follows links there. Remove it if you did not put it there on purpose"),
            ),
            Code::Access => (
                Code::Access,
                format!("permission denied to {doing} {p}; run as the user that owns it, or set PID_GUARD_DIR / options.dir to a directory you own"),
            ),
            Code::ReadOnly => (
                Code::ReadOnly,
                format!("cannot {doing} {p}: the filesystem is read-only; set PID_GUARD_DIR / options.dir to a writable directory (for example $XDG_RUNTIME_DIR or /tmp)"),
            ),
            Code::NoSpace => (
                Code::NoSpace,
                format!("cannot {doing} {p}: no space left on the device; free some space or set PID_GUARD_DIR to another filesystem"),
            ),
            Code::NotDir => (
                Code::NotDir,
                format!("cannot {doing} {p}: a parent of it is not a directory; set PID_GUARD_DIR / options.dir to a directory"),
            ),
            code => (code, format!("cannot {doing} {p}: {err}")),
        };
        let mut e = Error::new(code, advice).at(path);
        e.errno = errno;
        e
    }
}

/// [`classify`], and on Windows "the path was not found" when a parent of `path` is a file:
/// Windows says ERROR_PATH_NOT_FOUND where Unix says ENOTDIR.
fn classify_at(err: &io::Error, path: &Path) -> Code {
    #[cfg(windows)]
    if err.raw_os_error() == Some(WIN_ERROR_PATH_NOT_FOUND as i32)
        && path
            .ancestors()
            .skip(1)
            .find_map(|a| std::fs::symlink_metadata(a).ok())
            .is_some_and(|m| !m.is_dir())
    {
        return Code::NotDir;
    }
    #[cfg(not(windows))]
    let _ = path;
    classify(err)
}

#[cfg(windows)]
const WIN_ERROR_PATH_NOT_FOUND: u32 = windows_sys::Win32::Foundation::ERROR_PATH_NOT_FOUND;

fn classify(err: &io::Error) -> Code {
    #[cfg(windows)]
    if let Some(n) = err.raw_os_error() {
        use windows_sys::Win32::Foundation::*;
        match n as u32 {
            ERROR_DIRECTORY => return Code::NotDir,
            ERROR_ACCESS_DENIED | ERROR_PRIVILEGE_NOT_HELD => return Code::Access,
            ERROR_WRITE_PROTECT => return Code::ReadOnly,
            ERROR_DISK_FULL | ERROR_HANDLE_DISK_FULL | ERROR_DISK_QUOTA_EXCEEDED => {
                return Code::NoSpace
            }
            ERROR_CANT_RESOLVE_FILENAME | ERROR_STOPPED_ON_SYMLINK => return Code::Symlink,
            _ => {}
        }
    }
    #[cfg(unix)]
    if let Some(n) = err.raw_os_error() {
        return match n {
            libc::ELOOP => Code::Symlink,
            libc::EACCES | libc::EPERM => Code::Access,
            libc::EROFS => Code::ReadOnly,
            libc::ENOSPC | libc::EDQUOT => Code::NoSpace,
            libc::ENOTDIR => Code::NotDir,
            _ => Code::Io,
        };
    }
    match err.kind() {
        io::ErrorKind::PermissionDenied => Code::Access,
        io::ErrorKind::ReadOnlyFilesystem => Code::ReadOnly,
        io::ErrorKind::StorageFull => Code::NoSpace,
        io::ErrorKind::NotADirectory => Code::NotDir,
        _ => Code::Io,
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(all(test, windows))]
mod tests {
    use super::*;

    #[test]
    fn windows_errors_get_their_codes() {
        let d = std::env::temp_dir().join(format!("pg-err-win-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let sub = file.join("sub");
        let e = std::fs::create_dir(&sub).unwrap_err();
        assert_eq!(Error::io(&e, "create", &sub).code, Code::NotDir, "{e:?}");
        let e = std::fs::File::create(file.join("x.lock")).unwrap_err();
        assert_eq!(
            Error::io(&e, "create", &file.join("x.lock")).code,
            Code::NotDir,
            "{e:?}"
        );
        // A parent that is missing (not a file) stays what it is.
        let gone = d.join("missing").join("x");
        let e = std::fs::File::create(&gone).unwrap_err();
        assert_ne!(Error::io(&e, "create", &gone).code, Code::NotDir, "{e:?}");
        let e = io::Error::from_raw_os_error(267);
        assert_eq!(classify(&e), Code::NotDir);
        assert_eq!(classify(&io::Error::from_raw_os_error(112)), Code::NoSpace);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
