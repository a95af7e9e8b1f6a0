//! File operations with the safety rules pid-guard needs: never follow a symlink at our paths,
//! close-on-exec everywhere (Rust std opens with O_CLOEXEC), and "does this path still name the
//! file I hold open?" checks.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

/// Never through a symlink, and never blocking in `open` (a FIFO planted at a guard path would
/// hang a reader forever): every open is followed by [`regular`].
fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    opts
}

/// The error for a FIFO, directory, socket or device found at a guard path.
#[derive(Debug)]
pub struct NotRegular;

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a regular file")
    }
}

impl std::error::Error for NotRegular {}

pub fn not_regular() -> io::Error {
    io::Error::other(NotRegular)
}

pub fn is_not_regular(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|x| x.is::<NotRegular>()) || open_says_not_regular(e)
}

/// The open itself says the path is no regular file: EISDIR (a directory) or ENXIO (a FIFO
/// opened for writing with no reader).
fn open_says_not_regular(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(e.raw_os_error(), Some(libc::EISDIR) | Some(libc::ENXIO));
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Opens with `opts`, then refuses anything but a regular file (checked on the open fd).
fn open_regular(opts: &OpenOptions, path: &Path) -> io::Result<File> {
    let f = opts.open(path).map_err(|e| {
        if open_says_not_regular(&e) {
            not_regular()
        } else {
            e
        }
    })?;
    if !f.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

#[cfg(not(unix))]
fn refuse_link(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symbolic link",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Opens (creating if needed) a lock file by path; mode 0600 as systemd does. Guard paths go
/// through [`crate::dirfd::Dir`] instead; this is for files outside a guard directory (tests).
pub fn open_lock(path: &Path) -> io::Result<File> {
    #[cfg(not(unix))]
    refuse_link(path)?;
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    opts.mode(0o600);
    open_regular(no_follow(&mut opts), path)
}

/// A file as last written: which file (device, inode) and when it last changed (ctime, which
/// no user can set back). Equal stamps: the same file, untouched since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub(crate) id: FileId,
    changed: (i64, i64),
}

impl Stamp {
    pub fn from_parts(dev: u64, ino: u64, changed: (i64, i64)) -> Stamp {
        Stamp {
            id: FileId { dev, ino },
            changed,
        }
    }
}

/// The stamp of an open file's (or a path's) metadata.
pub fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    {
        Stamp {
            id: FileId {
                dev: m.dev(),
                ino: m.ino(),
            },
            changed: (m.ctime(), m.ctime_nsec()),
        }
    }
    #[cfg(not(unix))]
    {
        let t = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| (d.as_secs() as i64, d.subsec_nanos() as i64));
        Stamp {
            id: FileId { dev: 0, ino: 0 },
            changed: t,
        }
    }
}

/// The stamp of an open file. On Windows its identity (volume serial, file index) is not in
/// the metadata std gives: it comes from `GetFileInformationByHandle`, as `Dir::lstat` reads it.
pub fn stamp_of_file(f: &File) -> io::Result<Stamp> {
    #[allow(unused_mut)]
    let mut s = stamp_of(&f.metadata()?);
    #[cfg(windows)]
    {
        let i = crate::sys::windows::file_info(f)?;
        s.id = FileId {
            dev: u64::from(i.volume),
            ino: i.index,
        };
    }
    Ok(s)
}

/// Reads up to `max + 1` bytes from the start of an open file, without moving its offset.
/// `size_hint` (the size from an `fstat` the caller already made) makes it one `pread`: a
/// short read of a regular file means its end.
pub fn read_start(f: &File, max: usize, size_hint: Option<u64>) -> io::Result<Vec<u8>> {
    let cap = size_hint.map_or(4096, |s| (s as usize).min(max) + 1);
    let mut buf = vec![0u8; cap];
    let mut n = 0;
    loop {
        #[cfg(unix)]
        let got = std::os::unix::fs::FileExt::read_at(f, &mut buf[n..], n as u64)?;
        #[cfg(windows)]
        let got = std::os::windows::fs::FileExt::seek_read(f, &mut buf[n..], n as u64)?;
        n += got;
        if got == 0 || n < buf.len() || n > max {
            break;
        }
        buf.resize((buf.len() * 2).min(max + 1), 0);
    }
    buf.truncate(n);
    Ok(buf)
}

/// Overwrites the start of an open file with `bytes`, padded with spaces up to `pad_to` so
/// nothing of a longer old content survives (JSON allows trailing white space). Never
/// truncates: on ext4 a truncate makes the next close flush to disk (~200 us). Returns the
/// length now covered.
pub fn write_start(f: &File, bytes: &[u8], pad_to: usize) -> io::Result<usize> {
    let mut buf = Vec::with_capacity(bytes.len().max(pad_to));
    buf.extend_from_slice(bytes);
    buf.resize(bytes.len().max(pad_to), b' ');
    #[cfg(unix)]
    std::os::unix::fs::FileExt::write_all_at(f, &buf, 0)?;
    #[cfg(windows)]
    {
        let mut off = 0;
        while off < buf.len() {
            off += std::os::windows::fs::FileExt::seek_write(f, &buf[off..], off as u64)?;
        }
    }
    Ok(buf.len())
}

/// Whether a record region holds nothing (never written, or cleared after a failed write or
/// when a shared holder recovered a dead exclusive holder's record).
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.is_ascii_whitespace())
}

/// Identity of an open file or a path: (device, inode) on Unix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

#[cfg(not(unix))]
pub fn file_id(_f: &File) -> io::Result<(FileId, u64)> {
    // No (dev, inode) to match against a kernel lock table on this OS.
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(unix)]
pub fn file_id(f: &File) -> io::Result<(FileId, u64)> {
    let m = f.metadata()?;
    Ok((id_of(&m), m.nlink()))
}

/// The (dev, inode) of metadata already read: no second `fstat`.
#[cfg(unix)]
pub fn id_of(m: &std::fs::Metadata) -> FileId {
    FileId {
        dev: m.dev(),
        ino: m.ino(),
    }
}

/// Whose a file or directory is, as far as this process can tell. The one answer every owner
/// check (a lock file written through, a file replaced or removed, a guard directory) asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Ours: our effective uid; on Windows our token's user SID (or BUILTIN\Administrators
    /// while we run elevated as a member, see [`crate::sys::windows::Owner::Ours`]).
    Ours,
    /// Someone else's, named for messages (`owner`, and `me`: who we are). `system`: root on
    /// Unix, LocalSystem or Administrators on Windows, trusted for a directory only.
    NotOurs {
        owner: String,
        me: String,
        system: bool,
    },
    /// The OS cannot say (Windows: no right to read the security descriptor, or a volume that
    /// keeps no owners, such as FAT). Never taken for ours; refused only when proven foreign.
    Unknown,
}

impl Ownership {
    /// From a Unix owner uid, against our effective uid.
    #[cfg(unix)]
    pub fn of_uid(uid: u32) -> Ownership {
        match crate::identity::current_uid() {
            Some(me) if me == uid => Ownership::Ours,
            Some(me) => Ownership::NotOurs {
                owner: format!("uid {uid}"),
                me: format!("uid {me}"),
                system: uid == 0,
            },
            None => Ownership::Unknown,
        }
    }

    /// From a Windows security descriptor's owner (an error: unknown).
    #[cfg(windows)]
    pub fn of_windows(o: io::Result<crate::sys::windows::Owner>) -> Ownership {
        use crate::sys::windows::{current_user, Owner};
        match o {
            Ok(Owner::Ours) => Ownership::Ours,
            Ok(Owner::System(owner)) => Ownership::NotOurs {
                owner,
                me: current_user(),
                system: true,
            },
            Ok(Owner::Other(owner)) => Ownership::NotOurs {
                owner,
                me: current_user(),
                system: false,
            },
            Err(e) => {
                crate::log::debug(format_args!("owner unknown: {e}"));
                Ownership::Unknown
            }
        }
    }
}

/// What one `fstat` + one `lstat` say about an open lock file.
pub struct OpenCheck {
    /// `path` still names the file `f` has open, and that file is still linked.
    pub names: bool,
    /// Whose the open file is.
    pub ownership: Ownership,
    /// Hard links to it (1 for a file of ours; more means someone linked another file here).
    pub links: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Who else may write it, for a message ("other users (mode 666)", or on Windows the
    /// accounts its DACL lets write); `None` when nobody else may, or when a Windows DACL
    /// cannot be read (a volume that keeps none).
    pub others_may_write: Option<String>,
    /// The open file's (device, inode), where the OS has them.
    pub id: Option<FileId>,
}

/// The command that makes `path` private to this user again: `chmod 600 PATH`, or on Windows
/// `icacls` removing inherited and granted entries and granting the user full control.
pub fn make_private_command(path: &Path) -> String {
    if cfg!(windows) {
        format!(
            "icacls \"{}\" /inheritance:r /grant:r \"%USERDOMAIN%\\%USERNAME%\":F",
            path.display()
        )
    } else {
        format!("chmod 600 {}", path.display())
    }
}

/// After a lock is won this closes the race with anyone who removed or replaced the path
/// meanwhile: a lock on an unlinked inode protects nothing. Owner, links, mode and size come
/// from the same `fstat` (on Windows: `GetFileInformationByHandle` and the security
/// descriptor's owner, both of the open handle).
pub fn check_open(f: &File, dir: &crate::dirfd::Dir, path: &Path) -> io::Result<OpenCheck> {
    #[cfg(unix)]
    {
        let m = f.metadata()?;
        let ownership = Ownership::of_uid(m.uid());
        let links = m.nlink();
        let names = links > 0
            && match dir.lstat(path)? {
                Some(p) => {
                    p.stamp.id
                        == FileId {
                            dev: m.dev(),
                            ino: m.ino(),
                        }
                }
                None => false,
            };
        Ok(OpenCheck {
            names,
            ownership,
            links,
            size: m.len(),
            others_may_write: (m.mode() & 0o022 != 0)
                .then(|| format!("other users (mode {:o})", m.mode() & 0o777)),
            id: Some(FileId {
                dev: m.dev(),
                ino: m.ino(),
            }),
        })
    }
    #[cfg(not(unix))]
    {
        // The open file's identity and links from GetFileInformationByHandle; the path must
        // still name that same file (volume serial and file index), as on Unix.
        let i = crate::sys::windows::file_info(f)?;
        if i.directory || i.reparse {
            return Err(not_regular());
        }
        let names = i.links > 0
            && match dir.lstat(path)? {
                Some(p) => {
                    p.stamp.id
                        == FileId {
                            dev: u64::from(i.volume),
                            ino: i.index,
                        }
                }
                None => false,
            };
        Ok(OpenCheck {
            names,
            ownership: Ownership::of_windows(crate::sys::windows::owner_of(f)),
            links: u64::from(i.links),
            size: f.metadata()?.len(),
            others_may_write: match crate::sys::windows::others_who_may_write(
                f,
                crate::sys::windows::FILE_WRITE_RIGHTS,
            ) {
                Ok(who) if who.is_empty() => None,
                Ok(who) => Some(who.join(", ")),
                Err(e) => {
                    crate::log::debug(format_args!("{}: DACL unknown: {e}", path.display()));
                    None
                }
            },
            id: None,
        })
    }
}
