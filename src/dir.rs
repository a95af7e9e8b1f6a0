//! Where guards live, and whether that place is safe to trust.
//!
//! Default: `$PID_GUARD_DIR`, else `$XDG_RUNTIME_DIR/pid-guard`, else a per-user
//! `<tmpdir>/pid-guard-<uid>`, created mode 0700. A directory owned by another user (root is
//! trusted), or group/world-writable without the sticky bit, is refused: anyone who can write
//! there can plant or delete pid files. NFS/CIFS are refused too: flock is emulated or absent
//! there, and PIDs mean nothing across hosts. A directory is checked the first time a process
//! uses it (and again if it disappears).

use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};

pub const ENV_DIR: &str = "PID_GUARD_DIR";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// Named by the user (`options.dir` or `$PID_GUARD_DIR`): a symlink to a directory is fine.
    Explicit,
    /// Our own default: must be a real directory, never a link someone planted.
    Default,
}

fn choose(explicit: Option<&Path>) -> (PathBuf, Origin) {
    if let Some(d) = explicit.filter(|d| !d.as_os_str().is_empty()) {
        return (d.to_path_buf(), Origin::Explicit);
    }
    if let Some(d) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
        return (PathBuf::from(d), Origin::Explicit);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return (PathBuf::from(d).join("pid-guard"), Origin::Default);
    }
    let user = match crate::identity::current_uid() {
        Some(uid) => format!("pid-guard-{uid}"),
        None => "pid-guard".to_string(),
    };
    (std::env::temp_dir().join(user), Origin::Default)
}

/// The directory guards live in, without creating it. `None` means it does not exist (so no
/// guard can be held there).
pub fn existing(explicit: Option<&Path>) -> Result<(PathBuf, bool)> {
    let (dir, origin) = choose(explicit);
    match meta(&dir, origin) {
        Ok(m) => {
            check(&dir, &m)?;
            Ok((dir, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((dir, false)),
        Err(e) => Err(Error::io(&e, "read the directory", &dir)),
    }
}

/// Directories this process has already created or checked: acquire checks a directory once
/// per process (a directory vanishing later is noticed when the lock file cannot be opened,
/// and [`forget`] makes the next acquire check again).
static VERIFIED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// `dir` vanished after it was checked: create and check it again, strictly (a symlink there
/// now is refused, whatever was named at first).
pub fn recheck(dir: &Path) -> Result<()> {
    if let Ok(mut v) = VERIFIED.lock() {
        v.retain(|d| d != dir);
    }
    let m = match meta(dir, Origin::Default) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create(dir)?;
            meta(dir, Origin::Default).map_err(|e| Error::io(&e, "read the directory", dir))?
        }
        Err(e) => return Err(Error::io(&e, "read the directory", dir)),
    };
    check(dir, &m)
}

/// The directory guards live in, created (mode 0700) if missing, and checked.
pub fn prepare(explicit: Option<&Path>) -> Result<PathBuf> {
    let (dir, origin) = choose(explicit);
    if VERIFIED.lock().is_ok_and(|v| v.contains(&dir)) {
        return Ok(dir);
    }
    let m = match meta(&dir, origin) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create(&dir)?;
            meta(&dir, origin).map_err(|e| Error::io(&e, "read the directory", &dir))?
        }
        Err(e) => return Err(Error::io(&e, "read the directory", &dir)),
    };
    check(&dir, &m)?;
    if let Ok(mut v) = VERIFIED.lock() {
        if v.len() < 64 {
            v.push(dir.clone());
        }
    }
    Ok(dir)
}

fn meta(dir: &Path, origin: Origin) -> std::io::Result<std::fs::Metadata> {
    match origin {
        Origin::Explicit => std::fs::metadata(dir),
        Origin::Default => std::fs::symlink_metadata(dir),
    }
}

fn create(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    match b.create(dir) {
        Ok(()) => {
            crate::log::debug(format_args!("created directory {}", dir.display()));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(&e, "create the directory", dir)),
    }
}

fn check(dir: &Path, m: &std::fs::Metadata) -> Result<()> {
    let d = dir.display();
    if m.file_type().is_symlink() {
        return Err(Error::new(
            Code::UnsafeDir,
            format!("{d} is a symbolic link where pid-guard expects its own directory; remove it, or set PID_GUARD_DIR to a directory you own"),
        )
        .at(dir));
    }
    if !m.is_dir() {
        return Err(Error::new(
            Code::NotDir,
            format!("{d} is not a directory; remove it or set PID_GUARD_DIR / options.dir to a directory"),
        )
        .at(dir));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = crate::identity::current_uid().unwrap_or(0);
        if m.uid() != me && m.uid() != 0 {
            return Err(Error::new(
                Code::UnsafeDir,
                format!("{d} is owned by uid {} (you are uid {me}); another user could plant or remove pid files there. Use a directory you own (set PID_GUARD_DIR) or remove it", m.uid()),
            )
            .at(dir));
        }
        let writable_by_others = m.mode() & 0o022 != 0;
        let sticky = m.mode() & 0o1000 != 0;
        if writable_by_others && !sticky {
            return Err(Error::new(
                Code::UnsafeDir,
                format!("{d} is writable by other users (mode {:o}) without the sticky bit, so anyone could replace pid files; run chmod 700 on it or set PID_GUARD_DIR to a private directory", m.mode() & 0o7777),
            )
            .at(dir));
        }
    }
    #[cfg(unix)]
    let dev = std::os::unix::fs::MetadataExt::dev(m);
    #[cfg(not(unix))]
    let dev = 0;
    remote_fs_check(dir, dev)
}

/// Filesystem type per device, asked once per process (a device does not change type).
#[cfg(target_os = "linux")]
static FS_TYPES: std::sync::Mutex<Vec<(u64, u32)>> = std::sync::Mutex::new(Vec::new());

#[cfg(target_os = "linux")]
fn remote_fs_check(dir: &Path, dev: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let cached = FS_TYPES
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|(d, _)| *d == dev).map(|(_, t)| *t));
    let fs_type = match cached {
        Some(t) => t,
        None => {
            let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
                return Ok(());
            };
            // SAFETY: `c` is a valid NUL-terminated path; `st` is written by statfs on success.
            let t = unsafe {
                let mut st: libc::statfs = std::mem::zeroed();
                if libc::statfs(c.as_ptr(), &mut st) != 0 {
                    return Ok(());
                }
                st.f_type as i64 as u32
            };
            if let Ok(mut v) = FS_TYPES.lock() {
                v.push((dev, t));
            }
            t
        }
    };
    let remote = match fs_type {
        0x6969 => Some("NFS"),
        0x517B => Some("SMB"),
        0xFF53_4D42 => Some("CIFS"),
        0xFE53_4D42 => Some("SMB2"),
        _ => None,
    };
    match remote {
        Some(kind) => Err(Error::new(
            Code::RemoteFs,
            format!("{} is on {kind}, where file locks are emulated or missing and PIDs mean nothing across hosts; use a local directory (set PID_GUARD_DIR, for example to $XDG_RUNTIME_DIR/pid-guard)", dir.display()),
        )
        .at(dir)),
        None => Ok(()),
    }
}

#[cfg(not(target_os = "linux"))]
fn remote_fs_check(_dir: &Path, _dev: u64) -> Result<()> {
    Ok(())
}
