//! The one place file operations on guard paths go through.
//!
//! A guard directory is opened once per operation and checked on the open descriptor (so what
//! was checked is what is used); `N.shared` is opened relative to it with
//! `O_DIRECTORY|O_NOFOLLOW` and checked the same way (a real directory, ours or root's,
//! writable by nobody else). Every entry is then opened, created, renamed or removed relative
//! to a checked descriptor (`openat`/`unlinkat`/`renameat`, `O_NOFOLLOW`), so no guard path is
//! ever followed through a symbolic link, a directory someone swapped in included. Before a
//! regular file is replaced or removed, its `lstat` must show one link and our owner: a hard
//! link someone planted (to `/etc/something`) is never truncated, written or unlinked as if it
//! were ours. New files are created with `O_EXCL`; temporary files are created the same way
//! and renamed over their target.
//!
//! On Windows the same checks run on paths with `std::fs` (no descriptor-relative calls
//! there): the link count from `GetFileInformationByHandle` and the owner from the security
//! descriptor, both of a handle opened on the entry itself (never through a reparse point).

use crate::fsio::{self, Stamp};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// What an entry is, never following a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Link,
    Other,
}

/// One `lstat` of an entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    /// Whose it is (on Windows read for regular files only: the owner check is theirs).
    pub owner: fsio::Ownership,
    pub nlink: u64,
    pub stamp: Stamp,
}

/// Why an entry or a directory is not trusted (another user's, a planted hard link...).
#[derive(Debug)]
pub struct Untrusted {
    pub why: String,
    /// A directory (`EUNSAFEDIR`) rather than a file (`EUNSAFEFILE`).
    pub dir: bool,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl std::error::Error for Untrusted {}

fn untrusted(why: String, dir: bool) -> io::Error {
    io::Error::other(Untrusted { why, dir })
}

/// The reason, when `e` says an entry was refused as untrusted.
pub fn untrusted_of(e: &io::Error) -> Option<&Untrusted> {
    e.get_ref().and_then(|x| x.downcast_ref::<Untrusted>())
}

fn symlink_error() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(libc::ELOOP);
    #[cfg(not(unix))]
    io::Error::other("it is a symbolic link")
}

/// A checked directory, open.
pub struct Dir {
    path: PathBuf,
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dir({})", self.path.display())
    }
}

fn leaf(p: &Path) -> &OsStr {
    p.file_name().unwrap_or(p.as_os_str())
}

/// Whether `e` may be replaced or removed as a file of ours: a regular file with one link,
/// owned by us. Anything else is refused with the reason.
fn ours(e: &Entry) -> io::Result<()> {
    match e.kind {
        Kind::File => {}
        Kind::Link => return Err(symlink_error()),
        Kind::Dir | Kind::Other => return Err(fsio::not_regular()),
    }
    if e.nlink > 1 {
        return Err(untrusted(
            format!(
                "it has {} hard links, so it is also some other file (a link someone planted); pid-guard writes and removes only files of its own",
                e.nlink
            ),
            false,
        ));
    }
    if let fsio::Ownership::NotOurs { owner, me, .. } = &e.owner {
        return Err(untrusted(
            format!("it belongs to {owner}, not to you ({me}); someone else created it"),
            false,
        ));
    }
    Ok(())
}

/// A subdirectory (`N.shared`) must be ours or the system's (root; LocalSystem or
/// Administrators on Windows); an unknown owner is not refused (a volume without owners).
fn dir_owner_check(o: fsio::Ownership) -> io::Result<()> {
    match o {
        fsio::Ownership::NotOurs {
            owner,
            me,
            system: false,
        } => Err(untrusted(
            format!("it belongs to {owner} (you are {me}); someone else created it"),
            true,
        )),
        _ => Ok(()),
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    fn cstr(s: &OsStr) -> io::Result<CString> {
        CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    }

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
        loop {
            match cvt(f()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    const FILE_FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

    pub fn open_dir(path: &Path, follow: bool) -> io::Result<(Dir, std::fs::Metadata)> {
        let c = cstr(path.as_os_str())?;
        let flags = DIR_FLAGS | if follow { 0 } else { libc::O_NOFOLLOW };
        // SAFETY: `c` is a valid NUL-terminated path.
        let fd = retry(|| unsafe { libc::open(c.as_ptr(), flags) })?;
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let f = unsafe { File::from_raw_fd(fd) };
        let m = f.metadata()?;
        Ok((
            Dir {
                path: path.to_path_buf(),
                fd: OwnedFd::from(f),
            },
            m,
        ))
    }

    impl Dir {
        pub(super) fn openat(&self, p: &Path, flags: libc::c_int, mode: u32) -> io::Result<File> {
            let c = cstr(leaf(p))?;
            // SAFETY: the dir fd is open for the lifetime of `self`; `c` is NUL-terminated.
            let fd = retry(|| unsafe {
                libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint)
            })?;
            // SAFETY: `fd` was just opened and is owned by nothing else.
            Ok(unsafe { File::from_raw_fd(fd) })
        }

        pub(super) fn sub_raw(&self, p: &Path) -> io::Result<(Dir, std::fs::Metadata)> {
            let f = self.openat(p, DIR_FLAGS | libc::O_NOFOLLOW, 0)?;
            let m = f.metadata()?;
            Ok((
                Dir {
                    path: self.path.join(leaf(p)),
                    fd: OwnedFd::from(f),
                },
                m,
            ))
        }

        pub(super) fn mkdir_raw(&self, p: &Path, mode: u32) -> io::Result<()> {
            let c = cstr(leaf(p))?;
            // SAFETY: as in `openat`.
            retry(|| unsafe {
                libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t)
            })
            .map(drop)
        }

        pub fn lstat(&self, p: &Path) -> io::Result<Option<Entry>> {
            let c = cstr(leaf(p))?;
            // SAFETY: `st` is written by fstatat on success; fd and name as in `openat`.
            let st = unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                match retry(|| {
                    libc::fstatat(
                        self.fd.as_raw_fd(),
                        c.as_ptr(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                }) {
                    Ok(_) => st,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                }
            };
            let kind = match st.st_mode & libc::S_IFMT {
                libc::S_IFREG => Kind::File,
                libc::S_IFDIR => Kind::Dir,
                libc::S_IFLNK => Kind::Link,
                _ => Kind::Other,
            };
            #[allow(clippy::unnecessary_cast)]
            Ok(Some(Entry {
                kind,
                owner: fsio::Ownership::of_uid(st.st_uid),
                nlink: st.st_nlink as u64,
                stamp: Stamp::from_parts(
                    st.st_dev as u64,
                    st.st_ino as u64,
                    (st.st_ctime as i64, st.st_ctime_nsec as i64),
                ),
            }))
        }

        pub(super) fn unlink_raw(&self, p: &Path, dir: bool) -> io::Result<()> {
            let c = cstr(leaf(p))?;
            let flag = if dir { libc::AT_REMOVEDIR } else { 0 };
            // SAFETY: as in `openat`.
            retry(|| unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), flag) }).map(drop)
        }

        pub(super) fn rename_raw(&self, from: &Path, to: &Path) -> io::Result<()> {
            let (a, b) = (cstr(leaf(from))?, cstr(leaf(to))?);
            let fd = self.fd.as_raw_fd();
            // SAFETY: as in `openat`.
            retry(|| unsafe { libc::renameat(fd, a.as_ptr(), fd, b.as_ptr()) }).map(drop)
        }

        pub fn names(&self) -> io::Result<Vec<OsString>> {
            // A new open file description of the same directory (not a dup, whose offset would
            // be shared), owned by the DIR stream from here on.
            let own = self.openat(Path::new("."), DIR_FLAGS, 0)?;
            let raw = std::os::fd::IntoRawFd::into_raw_fd(own);
            // SAFETY: `raw` is an open directory fd; fdopendir takes it over (closedir closes
            // it); entries are read until readdir returns NULL.
            unsafe {
                let d = libc::fdopendir(raw);
                if d.is_null() {
                    let e = io::Error::last_os_error();
                    libc::close(raw);
                    return Err(e);
                }
                let mut out = Vec::new();
                loop {
                    let ent = libc::readdir(d);
                    if ent.is_null() {
                        break;
                    }
                    let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()).to_bytes();
                    if name != b"." && name != b".." {
                        out.push(OsStr::from_bytes(name).to_os_string());
                    }
                }
                libc::closedir(d);
                Ok(out)
            }
        }

        pub fn open_read(&self, p: &Path) -> io::Result<Option<File>> {
            match self.openat(p, libc::O_RDONLY | FILE_FLAGS, 0) {
                Ok(f) => regular(f).map(Some),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(not_regular_open(e)),
            }
        }

        pub fn open_lock(&self, p: &Path) -> io::Result<File> {
            self.openat(p, libc::O_RDWR | libc::O_CREAT | FILE_FLAGS, 0o600)
                .map_err(not_regular_open)
                .and_then(regular)
        }

        pub(super) fn create_raw(&self, p: &Path) -> io::Result<File> {
            self.openat(
                p,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | FILE_FLAGS,
                0o644,
            )
        }
    }

    fn not_regular_open(e: io::Error) -> io::Error {
        match e.raw_os_error() {
            Some(libc::EISDIR) | Some(libc::ENXIO) => fsio::not_regular(),
            _ => e,
        }
    }

    fn regular(f: File) -> io::Result<File> {
        if f.metadata()?.file_type().is_file() {
            Ok(f)
        } else {
            Err(fsio::not_regular())
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::*;
    use std::fs::OpenOptions;

    pub fn open_dir(path: &Path, follow: bool) -> io::Result<(Dir, std::fs::Metadata)> {
        let m = if follow {
            std::fs::metadata(path)?
        } else {
            std::fs::symlink_metadata(path)?
        };
        if m.file_type().is_symlink() {
            return Err(symlink_error());
        }
        if !m.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        Ok((
            Dir {
                path: path.to_path_buf(),
            },
            m,
        ))
    }

    /// `GetFileInformationByHandle` of the entry at `at` itself (a link is not followed) and
    /// its owner, or `None` when it cannot be opened even for `READ_CONTROL` (delete pending,
    /// gone meanwhile, or a DACL that denies it: the owner is then unknown).
    pub(crate) fn info_at(at: &Path) -> Option<(crate::sys::windows::FileInfo, fsio::Ownership)> {
        use std::os::windows::fs::OpenOptionsExt;
        use windows_sys::Win32::Storage::FileSystem::{
            FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, READ_CONTROL,
        };
        let f = OpenOptions::new()
            .access_mode(READ_CONTROL)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
            .open(at)
            .ok()?;
        let info = crate::sys::windows::file_info(&f).ok()?;
        Some((
            info,
            fsio::Ownership::of_windows(crate::sys::windows::owner_of(&f)),
        ))
    }

    fn entry_of(m: &std::fs::Metadata) -> Entry {
        let t = m.file_type();
        Entry {
            kind: if t.is_symlink() {
                Kind::Link
            } else if t.is_dir() {
                Kind::Dir
            } else if t.is_file() {
                Kind::File
            } else {
                Kind::Other
            },
            owner: fsio::Ownership::Unknown,
            nlink: 1,
            stamp: fsio::stamp_of(m),
        }
    }

    impl Dir {
        fn at(&self, p: &Path) -> PathBuf {
            self.path.join(leaf(p))
        }

        fn no_link(&self, p: &Path) -> io::Result<()> {
            match self.lstat(p)? {
                Some(e) if e.kind == Kind::Link => Err(symlink_error()),
                Some(e) if e.kind == Kind::Dir || e.kind == Kind::Other => Err(fsio::not_regular()),
                _ => Ok(()),
            }
        }

        pub(super) fn sub_raw(&self, p: &Path) -> io::Result<(Dir, std::fs::Metadata)> {
            open_dir(&self.at(p), false)
        }

        /// Private to this user: Windows' mode 700 (see `sys::windows::create_dir_private`).
        pub(super) fn mkdir_raw(&self, p: &Path, _mode: u32) -> io::Result<()> {
            crate::sys::windows::create_dir_private(&self.at(p))
        }

        pub fn lstat(&self, p: &Path) -> io::Result<Option<Entry>> {
            let at = self.at(p);
            let mut e = match std::fs::symlink_metadata(&at) {
                Ok(m) => entry_of(&m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            if e.kind == Kind::File {
                // The link count and the file's identity (volume, index) are in no Metadata:
                // open the entry itself, for no access, never through a reparse point.
                if let Some((i, owner)) = info_at(&at) {
                    e.owner = owner;
                    e.nlink = u64::from(i.links);
                    e.stamp.id = fsio::FileId {
                        dev: u64::from(i.volume),
                        ino: i.index,
                    };
                }
            }
            Ok(Some(e))
        }

        pub(super) fn unlink_raw(&self, p: &Path, dir: bool) -> io::Result<()> {
            if dir {
                std::fs::remove_dir(self.at(p))
            } else {
                std::fs::remove_file(self.at(p))
            }
        }

        pub(super) fn rename_raw(&self, from: &Path, to: &Path) -> io::Result<()> {
            std::fs::rename(self.at(from), self.at(to))
        }

        pub fn names(&self) -> io::Result<Vec<OsString>> {
            Ok(std::fs::read_dir(&self.path)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect())
        }

        fn open_with(&self, p: &Path, opts: &OpenOptions) -> io::Result<File> {
            self.no_link(p)?;
            let f = opts.open(self.at(p))?;
            if !f.metadata()?.file_type().is_file() {
                return Err(fsio::not_regular());
            }
            Ok(f)
        }

        pub fn open_read(&self, p: &Path) -> io::Result<Option<File>> {
            match self.open_with(p, OpenOptions::new().read(true)) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        /// Created private to this user when missing (Windows' mode 600), never truncated.
        pub fn open_lock(&self, p: &Path) -> io::Result<File> {
            self.no_link(p)?;
            let f = crate::sys::windows::open_private(
                &self.at(p),
                crate::sys::windows::Create::Always,
            )?;
            if !f.metadata()?.file_type().is_file() {
                return Err(fsio::not_regular());
            }
            Ok(f)
        }

        /// A new file private to this user (Windows' mode 600), `AlreadyExists` otherwise.
        pub(super) fn create_raw(&self, p: &Path) -> io::Result<File> {
            self.no_link(p)?;
            crate::sys::windows::open_private(&self.at(p), crate::sys::windows::Create::New)
        }
    }
}

impl Dir {
    /// Opens `path` as a directory, following a link only when `follow`; with the metadata of
    /// what was opened (the caller checks owner and mode on it).
    pub fn open(path: &Path, follow: bool) -> io::Result<(Dir, std::fs::Metadata)> {
        imp::open_dir(path, follow)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory named like `p`'s last component, never through a link, if it exists:
    /// refused unless it is a real directory owned by us (or root) that nobody else may write.
    pub fn sub(&self, p: &Path) -> io::Result<Option<Dir>> {
        let (d, m) = match self.sub_raw(p) {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(match self.lstat(p) {
                    Ok(Some(x)) if x.kind == Kind::Link => symlink_error(),
                    Ok(Some(x)) if x.kind != Kind::Dir => {
                        untrusted("it is not a directory".into(), true)
                    }
                    _ => e,
                })
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            dir_owner_check(fsio::Ownership::of_uid(m.uid()))?;
            if m.mode() & 0o022 != 0 {
                return Err(untrusted(
                    format!(
                        "other users may write in it (mode {:o}); pid-guard creates it with mode 700",
                        m.mode() & 0o7777
                    ),
                    true,
                ));
            }
        }
        #[cfg(windows)]
        {
            let h = crate::sys::windows::open_entry(d.path(), false)?;
            dir_owner_check(fsio::Ownership::of_windows(crate::sys::windows::owner_of(
                &h,
            )))?;
            // What mode 022 is on Unix: anyone else its DACL lets add, remove or rename
            // entries (or take the DACL over). Unknown (a volume without DACLs) is not refused,
            // as an unknown owner is not.
            match crate::sys::windows::others_who_may_write(
                &h,
                crate::sys::windows::PRIVATE_DIR_RIGHTS,
            ) {
                Ok(who) if !who.is_empty() => {
                    return Err(untrusted(
                        format!(
                        "its permissions let {} write in it; pid-guard creates it private to you",
                        who.join(", ")
                    ),
                        true,
                    ))
                }
                Ok(_) => {}
                Err(e) => {
                    crate::log::debug(format_args!("{}: DACL unknown: {e}", d.path().display()))
                }
            }
        }
        let _ = &m;
        Ok(Some(d))
    }

    /// Like [`Dir::sub`], creating the directory (mode 0700) when it is missing.
    pub fn make_sub(&self, p: &Path) -> io::Result<Dir> {
        match self.mkdir_raw(p, 0o700) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.sub(p)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// Removes the (empty) subdirectory `p`.
    pub fn remove_dir(&self, p: &Path) -> io::Result<()> {
        self.unlink_raw(p, true)
    }

    /// The full path of the entry named like `p`'s last component.
    pub fn join(&self, p: &Path) -> PathBuf {
        self.path.join(leaf(p))
    }

    /// Creates `p` with `bytes` only if nothing is there (`AlreadyExists` otherwise, a link
    /// included). One `write` into a new file: a reader sees nothing or all of it.
    pub fn create_new(&self, p: &Path, bytes: &[u8]) -> io::Result<Stamp> {
        use std::io::Write;
        let mut f = self.create_raw(p)?;
        if let Err(e) = f.write_all(bytes) {
            // Disk full after the file was created: leave no empty or partial file behind.
            drop(f);
            let _ = self.unlink_raw(p, false);
            return Err(e);
        }
        fsio::stamp_of_file(&f)
    }

    /// Removes `p` if it is a file of ours ([`ours`]); `Ok(false)` if nothing is there. A link,
    /// a hard-linked file, another user's file or anything not a regular file is refused and
    /// left alone.
    pub fn remove_ours(&self, p: &Path) -> io::Result<bool> {
        let Some(e) = self.lstat(p)? else {
            return Ok(false);
        };
        ours(&e)?;
        match self.unlink_raw(p, false) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes `p` only if it is still the file `stamp` describes (a file we wrote, untouched).
    pub fn remove_if(&self, p: &Path, stamp: Stamp) -> io::Result<()> {
        match self.lstat(p)? {
            Some(e) if e.stamp == stamp && ours(&e).is_ok() => match self.unlink_raw(p, false) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Replaces `p` atomically with `bytes`: a new temporary file `<p>.tmp<pid>` (created with
    /// `O_EXCL`) renamed over it, but only over nothing or a file of ours. Returns the stamp of
    /// the file now at `p`.
    pub fn replace(&self, p: &Path, bytes: &[u8]) -> io::Result<Stamp> {
        let mut tmp = leaf(p).to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        // One left by this PID earlier (a killed process whose PID we now have).
        self.remove_ours(&tmp)?;
        pending_retry(|| self.create_new(&tmp, bytes))?;
        let res = match self.lstat(p) {
            Ok(Some(e)) => ours(&e),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
        .and_then(|()| pending_retry(|| self.rename_raw(&tmp, p)));
        if let Err(e) = res {
            let _ = self.unlink_raw(&tmp, false);
            return Err(e);
        }
        self.lstat(p)?
            .map(|e| e.stamp)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// Reads at most `max + 1` bytes of `p` (so "too large" is visible), never through a link
    /// and never blocking. `Ok(None)` when it does not exist.
    pub fn read_small(&self, p: &Path, max: usize) -> io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let Some(f) = self.open_read(p)? else {
            return Ok(None);
        };
        let mut buf = Vec::with_capacity(64.min(max + 1));
        f.take(max as u64 + 1).read_to_end(&mut buf)?;
        Ok(Some(buf))
    }
}

/// Windows: a file removed while another process has it open can stay under its name,
/// "delete pending", until that handle closes (always under Wine, measured; on Windows where the
/// volume has no POSIX delete semantics: FAT, network shares, before Windows 10 1903). Creating
/// that name then says AlreadyExists and renaming over it PermissionDenied. The other handle is a
/// reader's, open for microseconds (a loser reading the pid file to name the holder): retried for
/// up to 200 ms. Elsewhere: one call.
pub(crate) fn pending_retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    #[cfg(windows)]
    {
        let end = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            match f() {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::AlreadyExists | io::ErrorKind::PermissionDenied
                    ) && std::time::Instant::now() < end =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                r => return r,
            }
        }
    }
    #[cfg(not(windows))]
    f()
}

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    /// A pid file removed while a reader still has it open (delete pending under Wine) is
    /// replaced once the reader closes it, not refused with EACCES or "file exists".
    #[test]
    fn replace_waits_out_a_delete_pending_target() {
        let path = std::env::temp_dir().join(format!("pg-dirfd-pending-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let (d, _) = Dir::open(&path, false).unwrap();
        let p = Path::new("svc.pid");
        d.replace(p, b"1\n").unwrap();
        let reader = File::open(path.join(p)).unwrap();
        std::fs::remove_file(path.join(p)).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(reader);
        });
        d.replace(p, b"2\n").unwrap();
        closer.join().unwrap();
        assert_eq!(std::fs::read(path.join(p)).unwrap(), b"2\n");
        let _ = std::fs::remove_dir_all(&path);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("pg-dirfd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn links_are_never_written_removed_or_followed() {
        let p = tmp("links");
        let victim = p.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let (d, _) = Dir::open(&p, false).unwrap();
        // A hard link: neither removed, nor replaced, nor removed by stamp.
        std::fs::hard_link(&victim, p.join("h.pid")).unwrap();
        let e = d.remove_ours(Path::new("h.pid")).unwrap_err();
        assert!(untrusted_of(&e).is_some(), "{e}");
        assert!(d.replace(Path::new("h.pid"), b"1\n").is_err());
        let st = d.lstat(Path::new("h.pid")).unwrap().unwrap();
        d.remove_if(Path::new("h.pid"), st.stamp).unwrap();
        assert_eq!(st.nlink, 2);
        assert_eq!(d.lstat(Path::new("victim")).unwrap().unwrap().nlink, 2);
        // A symbolic link: refused as one, never opened through.
        std::os::unix::fs::symlink(&victim, p.join("s.pid")).unwrap();
        assert_eq!(
            d.remove_ours(Path::new("s.pid"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
        assert!(d.read_small(Path::new("s.pid"), 10).is_err());
        assert!(d.create_new(Path::new("s.pid"), b"x").is_err());
        // A symlinked subdirectory is refused; a real one of ours is used.
        std::os::unix::fs::symlink(&p, p.join("x.shared")).unwrap();
        assert_eq!(
            d.sub(Path::new("x.shared")).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        let sub = d.make_sub(Path::new("y.shared")).unwrap();
        sub.create_new(Path::new("5.pid"), b"5\n").unwrap();
        sub.replace(Path::new("5.pid"), b"6\n").unwrap();
        assert_eq!(sub.names().unwrap(), vec![OsString::from("5.pid")]);
        assert!(sub.remove_ours(Path::new("5.pid")).unwrap());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        std::fs::remove_dir_all(&p).unwrap();
    }
}
