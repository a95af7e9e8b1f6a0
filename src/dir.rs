//! Where guards live, and whether that place is safe to trust.
//!
//! Default: `$PID_GUARD_DIR`, else `$XDG_RUNTIME_DIR/pid-guard`, else a per-user
//! `<tmpdir>/pid-guard-<uid>`, created mode 0700. A directory owned by another user (root is
//! trusted), or group/world-writable without the sticky bit, is refused: anyone who can write
//! there can plant or delete pid files. NFS/CIFS are refused too: flock is emulated or absent
//! there, and PIDs mean nothing across hosts. A directory is checked each time an operation
//! opens it, on the descriptor it then works through (and again if it disappears).

use crate::dirfd::Dir;
use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The directory guards live in, open and checked, without creating it. `None` means it does
/// not exist (so no guard can be held there); the path is returned either way.
pub fn existing(explicit: Option<&Path>) -> Result<(PathBuf, Option<Arc<Dir>>)> {
    let (dir, origin) = choose(explicit);
    match open(&dir, origin) {
        Ok(d) => Ok((dir, Some(d))),
        Err(OpenError::Missing) => Ok((dir, None)),
        Err(OpenError::Refused(e)) => Err(e),
    }
}

/// Like [`existing`], for reading only (status, list, health, check, stop): a directory another
/// user owns is read too. Nothing is written or removed there, no file in it is followed, and a
/// signal goes only to a process the kernel shows holding the lock, so its owner cannot trick
/// the reader; refusing would only hide a live guard (root inspecting a service user's own
/// directory). Writers (acquire, prune) keep the owner check.
pub fn inspectable(explicit: Option<&Path>) -> Result<(PathBuf, Option<Arc<Dir>>)> {
    let (dir, origin) = choose(explicit);
    match open_as(&dir, origin, Use::Read) {
        Ok(d) => Ok((dir, Some(d))),
        Err(OpenError::Missing) => Ok((dir, None)),
        Err(OpenError::Refused(e)) => Err(e),
    }
}

/// What a directory is opened for: reading tolerates another owner, writing does not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Read,
    Write,
}

/// `dir` vanished after it was opened: create and check it again, strictly (a symlink there
/// now is refused, whatever was named at first).
pub fn recheck(dir: &Path) -> Result<Arc<Dir>> {
    open_or_create(dir, Origin::Default)
}

/// The directory guards live in, created (mode 0700) if missing, opened and checked. Each
/// operation opens it once; every file operation then goes through the descriptor (see
/// [`crate::dirfd`]), so the directory checked is the one used.
pub fn prepare(explicit: Option<&Path>) -> Result<Arc<Dir>> {
    let (dir, origin) = choose(explicit);
    open_or_create(&dir, origin)
}

/// Opens a directory named by a status (already chosen and checked once), checking it again.
pub fn reopen(dir: &Path) -> Result<Arc<Dir>> {
    open_existing(dir, Origin::Explicit)
}

/// Opens and checks a directory that must exist.
fn open_existing(dir: &Path, origin: Origin) -> Result<Arc<Dir>> {
    match open(dir, origin) {
        Ok(d) => Ok(d),
        Err(OpenError::Missing) => Err(Error::io(
            &std::io::Error::from(std::io::ErrorKind::NotFound),
            "open the directory",
            dir,
        )),
        Err(OpenError::Refused(e)) => Err(e),
    }
}

fn open_or_create(dir: &Path, origin: Origin) -> Result<Arc<Dir>> {
    match open(dir, origin) {
        Ok(d) => Ok(d),
        Err(OpenError::Missing) => {
            create(dir)?;
            open_existing(dir, origin)
        }
        Err(OpenError::Refused(e)) => Err(e),
    }
}

enum OpenError {
    Missing,
    Refused(Error),
}

fn open(dir: &Path, origin: Origin) -> std::result::Result<Arc<Dir>, OpenError> {
    open_as(dir, origin, Use::Write)
}

fn open_as(dir: &Path, origin: Origin, purpose: Use) -> std::result::Result<Arc<Dir>, OpenError> {
    let follow = origin == Origin::Explicit;
    match Dir::open(dir, follow) {
        Ok((d, m)) => {
            check(dir, &m, purpose).map_err(OpenError::Refused)?;
            Ok(Arc::new(d))
        }
        // Windows says "path not found" where Unix says ENOTDIR: a parent that is a file.
        #[cfg(windows)]
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && dir
                    .ancestors()
                    .skip(1)
                    .find_map(|a| std::fs::symlink_metadata(a).ok())
                    .is_some_and(|m| !m.is_dir()) =>
        {
            Err(OpenError::Refused(Error::io(
                &std::io::Error::from(std::io::ErrorKind::NotADirectory),
                "open the directory",
                dir,
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenError::Missing),
        Err(e) => {
            // Say what is there: a link where our own directory should be, or no directory.
            let err = match std::fs::symlink_metadata(dir) {
                Ok(m) if !follow || !m.file_type().is_symlink() => match check(dir, &m, purpose) {
                    Err(c) => c,
                    Ok(()) => Error::io(&e, "open the directory", dir),
                },
                _ => Error::io(&e, "open the directory", dir),
            };
            Err(OpenError::Refused(err))
        }
    }
}

fn create(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    let made = {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
    };
    // The parents as usual, the directory itself private to this user (Windows' mode 700):
    // in C:\Windows\Temp (a service's %TEMP%) it would otherwise inherit "Users may add".
    #[cfg(windows)]
    let made = match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => std::fs::create_dir_all(p),
        None => Ok(()),
    }
    .and_then(|()| crate::sys::windows::create_dir_private(dir));
    match made {
        Ok(()) => {
            crate::log::debug(format_args!("created directory {}", dir.display()));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(&e, "create the directory", dir)),
    }
}

fn check(dir: &Path, m: &std::fs::Metadata, purpose: Use) -> Result<()> {
    let d = dir.display();
    if m.file_type().is_symlink() {
        return Err(Error::new(
            Code::UnsafeDir,
            format!("{d} is a symbolic link where pid-guard expects its own directory; remove it, or set PID_GUARD_DIR to a directory you own"),
        )
        .at(dir));
    }
    if !m.is_dir() {
        // Never "remove it": the path is often a guard's own file given by mistake
        // (`--dir /run/app/web.lock`), whose holder is running.
        let guard_file = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".lock") || n.ends_with(".pid") || n.ends_with(".json"));
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".".into());
        let msg = if guard_file {
            format!("{d} is not a directory: it looks like a guard's lock or pid file (its holder may be running; leave it). Pass the directory that holds it instead: --dir / PID_GUARD_DIR / options.dir = {parent}")
        } else {
            format!("{d} is not a directory; set PID_GUARD_DIR / options.dir to a directory (pid-guard keeps its lock and pid files in one)")
        };
        return Err(Error::new(Code::NotDir, msg).at(dir));
    }
    #[cfg(windows)]
    if purpose == Use::Write {
        let h = crate::sys::windows::open_entry(dir, true)
            .map_err(|e| Error::io(&e, "open the directory", dir))?;
        if let crate::fsio::Ownership::NotOurs {
            owner,
            me,
            system: false,
        } = crate::fsio::Ownership::of_windows(crate::sys::windows::owner_of(&h))
        {
            return Err(Error::new(
                Code::UnsafeDir,
                format!("{d} is owned by {owner} (you are {me}); another user could plant or remove pid files there, so pid-guard does not write in it. Use a directory you own (set PID_GUARD_DIR), or run as {owner}"),
            )
            .at(dir));
        }
        // Unix's "writable by others without the sticky bit": others may remove or rename
        // entries, rename the directory, or take over its DACL. Others creating entries is
        // allowed (every file pid-guard uses is private and owner-checked), as in /tmp. A
        // DACL that cannot be read (FAT keeps none) is unknown and not refused, as an unknown
        // owner is not.
        match crate::sys::windows::others_who_may_write(&h, crate::sys::windows::SHARED_DIR_RIGHTS)
        {
            Ok(who) if !who.is_empty() => {
                return Err(Error::new(
                    Code::UnsafeDir,
                    format!("{d} lets {} remove or rename what is in it (its permissions), so anyone among them could replace pid files; make it private (icacls \"{d}\" /inheritance:r /grant:r \"%USERDOMAIN%\\%USERNAME%\":(OI)(CI)F) or set PID_GUARD_DIR to a directory only you can write", who.join(", ")),
                )
                .at(dir));
            }
            Ok(_) => {}
            Err(e) => crate::log::debug(format_args!("{d}: DACL unknown: {e}")),
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let crate::fsio::Ownership::NotOurs {
            owner,
            me,
            system: false,
        } = crate::fsio::Ownership::of_uid(m.uid())
        {
            if purpose == Use::Write {
                // Never "remove it": that user's live service may hold a guard in it.
                return Err(Error::new(
                    Code::UnsafeDir,
                    format!("{d} is owned by {owner} (you are {me}); another user could plant or remove pid files there, so pid-guard does not write in it. Use a directory you own (set PID_GUARD_DIR), or run as {owner}"),
                )
                .at(dir));
            }
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
    let cached = FS_TYPES
        .lock()
        .ok()
        .and_then(|v| v.iter().find(|(d, _)| *d == dev).map(|(_, t)| *t));
    let fs_type = match cached {
        Some(t) => t,
        None => {
            // statfs failing on the directory about to be used: the open that follows reports
            // the real error.
            let Ok(t) = crate::sys::linux::fs_type(dir) else {
                return Ok(());
            };
            if let Ok(mut v) = FS_TYPES.lock() {
                v.push((dev, t));
            }
            t
        }
    };
    match crate::sys::procfs::remote_fs_kind(fs_type) {
        Some(kind) => Err(Error::new(
            Code::RemoteFs,
            format!("{} is on {kind}, where file locks are emulated or missing and PIDs mean nothing across hosts; use a local directory (set PID_GUARD_DIR, for example to $XDG_RUNTIME_DIR/pid-guard)", dir.display()),
        )
        .at(dir)),
        None => Ok(()),
    }
}

/// macOS names the filesystem type in `statfs`'s `f_fstypename` ("nfs", "smbfs", "afpfs",
/// "webdav" are remote; "apfs", "hfs" local).
#[cfg(target_os = "macos")]
fn remote_fs_check(dir: &Path, _dev: u64) -> Result<()> {
    let Ok(name) = crate::sys::macos::fs_type_name(dir) else {
        return Ok(());
    };
    match crate::sys::macos_data::remote_fs_kind(&name) {
        Some(kind) => Err(Error::new(
            Code::RemoteFs,
            format!("{} is on {kind} ({name}), where file locks are emulated or missing and PIDs mean nothing across hosts; use a local directory (set PID_GUARD_DIR, for example to a folder under $TMPDIR)", dir.display()),
        )
        .at(dir)),
        None => Ok(()),
    }
}

/// Windows names the drive's type: a network share (a UNC path or a mapped drive) is
/// `DRIVE_REMOTE`, where byte-range locks go through SMB and PIDs mean nothing across hosts.
#[cfg(windows)]
fn remote_fs_check(dir: &Path, _dev: u64) -> Result<()> {
    match crate::sys::windows::is_remote_volume(dir) {
        Some(true) => Err(Error::new(
            Code::RemoteFs,
            format!("{} is on a network share (SMB), where file locks are emulated and PIDs mean nothing across hosts; use a local directory (set PID_GUARD_DIR, for example to %LOCALAPPDATA%\\pid-guard)", dir.display()),
        )
        .at(dir)),
        // The volume cannot be named: the open that follows reports the real error.
        Some(false) | None => Ok(()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn remote_fs_check(_dir: &Path, _dev: u64) -> Result<()> {
    Ok(())
}
