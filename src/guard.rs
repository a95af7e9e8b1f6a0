//! The guard: acquire, update, release.
//!
//! Protocol (exclusive): open `N.lock` (create, O_NOFOLLOW, 0600) -> `flock(LOCK_EX|LOCK_NB)` ->
//! check the path still names the locked inode (else someone replaced it: retry), that we own
//! it, it has one link and nobody else may write it -> read the last holder's record from it ->
//! create `N.pid` with O_EXCL; only if one is already there (stale by definition: we hold the
//! lock) read it, report it in `recovered`, remove it if it is a file of ours (regular, one
//! link, our owner; refused otherwise) and create it again -> write our record into `N.lock` in
//! place. A loser writes nothing.
//! Release: remove the pid file if it is still the one we wrote (inode + ctime), then close.
//! The lock file stays with the last record. Shared holders take `LOCK_SH` and keep their pid
//! file and record under `N.shared/`.
//! Every file operation goes through [`crate::dirfd::Dir`]: relative to the guard directory
//! (or `N.shared`) opened and checked once per operation, never through a link.

use crate::dirfd::Dir;
use crate::error::{Code, Error, Result};
use crate::flock::{self, LockError};
use crate::fsio;
use crate::identity;
use crate::layout::{self, Layout};
use crate::log::debug;
use crate::mode::Mode;
use crate::pidfile;
use crate::record::Record;
use crate::status::{self, State};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How often a lock file replaced under us (a holder releasing at that moment) is retried.
const MAX_ATTEMPTS: usize = 1000;

pub struct AcquireOptions<'a> {
    pub dir: Option<&'a Path>,
    pub mode: Mode,
    pub meta: Value,
}

/// What an acquire found left behind by a holder that is gone, and cleaned.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    pub pid: Option<u32>,
    pub started_at: Option<u64>,
    pub reason: String,
    pub removed: Vec<PathBuf>,
    /// Takeover: the signals sent to the old holder, in order (`SIGTERM`, then `SIGKILL`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// Takeover: how long the old holder took to let go, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
    /// Processes the old holder started that still run (they carry its marker): the record
    /// keeps naming their holder until they are gone. `onConflict: 'takeover'` stops the
    /// verified ones (`signals` then says how).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<crate::marker::Marked>,
}

pub struct Guard {
    pub(crate) file: Option<File>,
    pub(crate) layout: Layout,
    /// Where the holder's pid file and record are: the guard directory (exclusive) or
    /// `N.shared` (shared), open and checked; every write and removal goes through it.
    /// Closed on release.
    pub(crate) files: Option<Arc<Dir>>,
    pub(crate) mode: Mode,
    pub(crate) pid_path: PathBuf,
    /// Exclusive: the lock file itself. Shared: `N.shared/<pid>.json`.
    pub(crate) record_path: PathBuf,
    pub(crate) record: Record,
    /// Exclusive: bytes of the lock file the record region covers.
    pub(crate) record_len: usize,
    /// Exclusive: the pid file this guard wrote, as written; release removes only that one,
    /// never a pid file someone else put there or rewrote meanwhile.
    pub(crate) pid_file: Option<fsio::Stamp>,
    pub(crate) recovered: Vec<Recovered>,
    /// The marker variable (name, value) this holder's children inherit; see [`crate::marker`].
    pub(crate) marker: Option<(String, String)>,
    /// This guard is the one `pid-guard run` passed to this process (see [`crate::adopt`]).
    pub(crate) adopted: bool,
}

pub(crate) fn file_len(f: &File) -> usize {
    f.metadata().map(|m| m.len() as usize).unwrap_or(0)
}

fn raw_fd_of(f: &File) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        Some(f.as_raw_fd())
    }
    #[cfg(not(unix))]
    {
        let _ = f;
        None
    }
}

/// Shared holders of one process (worker threads) share a PID and so its files: count them.
static SHARED_REFS: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

pub(crate) fn shared_ref(path: &Path, delta: isize) -> usize {
    let mut g = SHARED_REFS.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    let n = map.entry(path.to_path_buf()).or_insert(0);
    *n = n.saturating_add_signed(delta);
    let now = *n;
    if now == 0 {
        map.remove(path);
    }
    now
}

/// The fds of this process's live guards (Unix), so adoption never makes a second owner of one
/// (see [`crate::adopt`]). Removed on release, or when a guard is dropped unreleased.
static HELD_FDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn hold_fd(fd: Option<i32>) {
    if let Some(fd) = fd {
        HELD_FDS.lock().unwrap_or_else(|p| p.into_inner()).push(fd);
    }
}

fn unhold_fd(fd: Option<i32>) {
    let mut v = HELD_FDS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = fd.and_then(|fd| v.iter().position(|&x| x == fd)) {
        v.swap_remove(i);
    }
}

#[cfg(unix)]
pub(crate) fn fd_is_held(fd: i32) -> bool {
    HELD_FDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&fd)
}

impl Drop for Guard {
    /// A guard dropped without release (its fd closes with it) leaves no number behind.
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            unhold_fd(raw_fd_of(f));
        }
    }
}

/// One try at the lock on an open lock file.
pub(crate) enum Attempt {
    Won(Box<Guard>),
    /// Held by someone else; the file is still open (a waiter keeps it so its own close does
    /// not wake it) and the path still names it.
    Busy(File),
    /// The lock file was replaced under us (a holder releasing): open it again.
    Replaced,
}

pub(crate) fn prepare(name: &str, opts: &AcquireOptions) -> Result<Layout> {
    layout::validate_name(name)?;
    let root = crate::dir::prepare(opts.dir)?;
    Ok(Layout::in_dir(root, name))
}

pub(crate) fn attempt(l: &Layout, f: File, opts: &AcquireOptions) -> Result<Attempt> {
    match flock::try_lock(&f, opts.mode) {
        Ok(()) => {}
        Err(LockError::WouldBlock) => {
            // Held by someone: whose file it is, its mode and links matter only to a winner
            // (who writes into it). A lock file another user created and holds is a held guard
            // (ELOCKED, naming that user), never a file to remove.
            let names = fsio::check_open(&f, &*l.root()?, &l.lock)
                .map_err(|e| Error::io(&e, "check the lock file", &l.lock))?
                .names;
            return Ok(if names {
                Attempt::Busy(f)
            } else {
                Attempt::Replaced
            });
        }
        Err(LockError::Io(e)) => return Err(Error::io(&e, "lock", &l.lock)),
    }
    let check = check_lock(&f, l, opts.mode)?;
    if !check.names {
        debug(format_args!(
            "{}: lock file was replaced while locking; retrying",
            l.name
        ));
        return Ok(Attempt::Replaced);
    }
    debug(format_args!(
        "{}: lock won ({}) on {}",
        l.name,
        opts.mode.as_str(),
        l.lock.display()
    ));
    let g = match opts.mode {
        Mode::Exclusive => finish_exclusive(f, l.clone(), opts.meta.clone(), check.size, check.id),
        Mode::Shared => finish_shared(f, l.clone(), opts.meta.clone(), check.size, check.id),
    }?;
    Ok(Attempt::Won(Box::new(g)))
}

pub fn acquire(name: &str, opts: &AcquireOptions) -> Result<Guard> {
    let l = prepare(name, opts)?;
    if let Some(g) = crate::adopt::inherited(&l, opts)? {
        return Ok(g);
    }
    for _ in 0..MAX_ATTEMPTS {
        match attempt(&l, open_lock(&l)?, opts)? {
            Attempt::Won(g) => return Ok(*g),
            Attempt::Replaced => continue,
            Attempt::Busy(f) => {
                drop(f);
                // Busy means held: ELOCKED now, unless the lock turned out free (or held
                // compatibly) when looked at again, which is retried.
                match locked_error(&l, opts.mode)? {
                    Some(e) => return Err(e),
                    None => continue,
                }
            }
        }
    }
    Err(replaced_too_often(&l))
}

pub(crate) fn replaced_too_often(l: &Layout) -> Error {
    Error::new(
        Code::Io,
        format!(
            "the lock file {} kept being replaced while locking; is another tool deleting files in {}?",
            l.lock.display(),
            l.dir.display()
        ),
    )
    .at(&l.lock)
}

/// The command a user runs here to stop these processes: `kill 12 34`, or on Windows
/// `taskkill /PID 12 /PID 34`.
fn kill_command(pids: &[String]) -> String {
    if cfg!(windows) {
        let each: Vec<String> = pids.iter().map(|p| format!("/PID {p}")).collect();
        format!("taskkill {}", each.join(" "))
    } else {
        format!("kill {}", pids.join(" "))
    }
}

pub(crate) fn open_lock(l: &Layout) -> Result<File> {
    match l.root()?.open_lock(&l.lock) {
        Ok(f) => Ok(f),
        // The directory was opened earlier and has gone since: create, open and check it
        // again, once.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let root = crate::dir::recheck(&l.dir)?;
            l.set_root(root.clone());
            root.open_lock(&l.lock)
                .map_err(|e| Error::io(&e, "open the lock file", &l.lock))
        }
        Err(e) => Err(Error::io(&e, "open the lock file", &l.lock)),
    }
}

/// Whether the path still names our open lock file; refuses a lock file someone else created
/// (checked on the same `fstat`, after locking, to keep the fast path at two stat calls).
pub(crate) fn check_lock(f: &File, l: &Layout, mode: Mode) -> Result<fsio::OpenCheck> {
    let c = fsio::check_open(f, &*l.root()?, &l.lock)
        .map_err(|e| Error::io(&e, "check the lock file", &l.lock))?;
    // Advice to remove the file is given only when nobody else can hold it: we hold it
    // exclusively. A shared lock may be held by others at the same time.
    let remove = match mode {
        Mode::Exclusive => "Remove it".to_string(),
        Mode::Shared => format!(
            "Shared holders may be using it now: once no process holds it (`pid-guard status {}` says free), remove it",
            l.name
        ),
    };
    if let fsio::Ownership::NotOurs { owner, me, .. } = &c.ownership {
        return Err(Error::new(
            Code::UnsafeFile,
            format!(
                "{} belongs to {owner}, not to you ({me}); someone else created it. {remove}, or use a directory only you can write (PID_GUARD_DIR)",
                l.lock.display()
            ),
        )
        .at(&l.lock));
    }
    if let (true, Some(who)) = (c.names, &c.others_may_write) {
        // The record is kept in the lock file: nobody else may be able to rewrite it.
        let how = if cfg!(windows) {
            "someone changed its permissions. {remove} (pid-guard recreates it private to you)"
        } else {
            "someone changed its mode. {remove} (pid-guard recreates it with mode 600)"
        };
        return Err(Error::new(
            Code::UnsafeFile,
            format!(
                "{} is writable by {who}, so they could rewrite the holder's record; {}",
                l.lock.display(),
                how.replace("{remove}", &remove)
            ),
        )
        .at(&l.lock));
    }
    if c.names && c.links > 1 {
        // The record is written into the lock file: never write through a planted hard link.
        return Err(Error::new(
            Code::UnsafeFile,
            format!(
                "{} has {} hard links; another file was linked there. {remove} (pid-guard recreates it)",
                l.lock.display(),
                c.links
            ),
        )
        .at(&l.lock));
    }
    Ok(c)
}

/// The `ELOCKED` error naming who holds the guard; `None` if it turned out to be free (or held
/// compatibly) by the time we looked, so the caller retries. A busy lock is always a held
/// guard: when no holder can be seen, the error says so and names nobody.
pub(crate) fn locked_error(l: &Layout, want: Mode) -> Result<Option<Error>> {
    let mut st = status::inspect(l)?;
    // A lock busy for an instant with nobody behind it is another reader trying it (status
    // probes the lock): look twice more before blaming an unseen holder.
    for _ in 0..2 {
        if st.state != State::Held || st.holders.iter().any(|h| h.pid.is_some()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        st = status::inspect(l)?;
    }
    if st.state != State::Held {
        return Ok(None);
    }
    let name = &l.name;
    let unseen = st.holders.iter().all(|h| h.pid.is_none());
    let uid = st.holders.iter().find_map(|h| h.uid);
    let msg = if unseen {
        let whose = match uid {
            Some(u) if Some(u) != identity::current_uid() => {
                format!(" (its lock file belongs to uid {u})")
            }
            _ => String::new(),
        };
        format!(
            "\"{name}\" is already running{}: its lock {} is held by a process this user cannot see{whose}, another user's or in another PID namespace (a container sharing the directory); nothing can be signalled from here. Wait for it to exit, or stop it where it runs",
            match st.mode {
                Some(Mode::Shared) if want == Mode::Exclusive => " in shared mode",
                _ => "",
            },
            l.lock.display()
        )
    } else {
        match st.mode {
            Some(Mode::Shared) if want == Mode::Shared => return Ok(None),
            Some(Mode::Shared) => {
                let pids: Vec<String> = st
                    .holders
                    .iter()
                    .map(|h| h.pid.map_or("unknown".into(), |p| p.to_string()))
                    .collect();
                format!(
                    "\"{name}\" is held in shared mode by {} process{} (pid {}); an exclusive holder can start only after all of them exit",
                    pids.len(),
                    if pids.len() == 1 { "" } else { "es" },
                    pids.join(", ")
                )
            }
            _ => {
                let who: Vec<String> = st.holders.iter().map(|h| h.describe()).collect();
                let pids: Vec<String> = st
                    .holders
                    .iter()
                    .filter_map(|h| h.pid.map(|p| p.to_string()))
                    .collect();
                let pid_path = st
                    .holders
                    .iter()
                    .find_map(|h| h.pid_path.clone())
                    .unwrap_or_else(|| l.pid.clone());
                let shared_note = if want == Mode::Shared {
                    " exclusively; a shared holder cannot join"
                } else {
                    ""
                };
                let rest = if st.holders.iter().any(|h| h.record.is_some()) {
                    format!("; pid file {}", pid_path.display())
                } else {
                    "; it holds the lock without a pid-guard record".into()
                };
                format!(
                    "\"{name}\" is already running{shared_note} ({}{rest}); stop it first ({}) or wait for it to exit",
                    who.join("; "),
                    kill_command(&pids)
                )
            }
        }
    };
    debug(format_args!("{name}: lock lost: {msg}"));
    let mut e = Error::new(Code::Locked, msg).at(&l.pid);
    e.holders = st.holders;
    Ok(Some(e))
}

/// Writes a file of a shared holder in `d`: created new, or (one left by an earlier process
/// with our PID) replaced, never through a link or over a file that is not ours.
fn write_or_undo(
    d: &Dir,
    written: &mut Vec<PathBuf>,
    path: &Path,
    bytes: &[u8],
    what: &str,
) -> Result<()> {
    let res = match d.create_new(path, bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => d.replace(path, bytes),
        r => r,
    };
    match res {
        Ok(_) => {
            written.push(path.to_path_buf());
            Ok(())
        }
        Err(e) => {
            for p in written.iter() {
                let _ = d.remove_ours(p);
            }
            Err(Error::io(&e, what, path))
        }
    }
}

/// Removes a stale file of ours in `d`, reporting it; refuses (with the coded error) a link, a
/// hard-linked file, another user's file or anything not a regular file.
fn remove_reporting(d: &Dir, path: &Path, removed: &mut Vec<PathBuf>) -> Result<()> {
    if d.remove_ours(path)
        .map_err(|e| Error::io(&e, "remove the stale file", path))?
    {
        debug(format_args!("removed stale {}", path.display()));
        removed.push(path.to_path_buf());
    }
    Ok(())
}

/// Removes what shared holders that are gone left under `N.shared/` (open as `d`). With the
/// lock held exclusively (`!only_dead`) every one is gone. Otherwise only those provably gone:
/// no such process, or another one under the pid (other start time or boot); never a holder
/// recorded in another PID namespace (its pid names some other process here), nor one whose
/// identity cannot be read. An entry that is not a file of ours (a link, a hard link, a FIFO, a
/// directory) is not removed: it is left alone, and said in the debug log.
pub(crate) fn recover_shared(
    l: &Layout,
    d: &Dir,
    recovered: &mut Vec<Recovered>,
    only_dead: bool,
) -> Result<()> {
    for (pid, h) in status::read_shared_in(l, d) {
        if only_dead && !h.gone {
            continue;
        }
        if pid == identity::me().pid {
            continue;
        }
        let mut removed = Vec::new();
        for p in [l.shared_pid(pid), l.shared_record(pid)] {
            if let Err(e) = remove_reporting(d, &p, &mut removed) {
                debug(format_args!("{}: left alone: {e}", l.name));
            }
        }
        if removed.is_empty() {
            continue;
        }
        recovered.push(Recovered {
            pid: Some(pid),
            started_at: h.record.as_ref().and_then(|r| r.started_at),
            reason: format!("shared holder: {}", h.stale_reason()),
            removed,
            signals: Vec::new(),
            waited_ms: None,
            orphans: Vec::new(),
        });
    }
    remove_dead_temp_files(d, only_dead);
    Ok(())
}

/// A shared holder rewrites its record through `<pid>.json.tmp<writer>`; one killed in the
/// middle leaves that file. Removes those whose writer is gone (all but ours when `!only_dead`).
fn remove_dead_temp_files(d: &Dir, only_dead: bool) {
    let Ok(entries) = d.names() else {
        return;
    };
    for name in entries {
        let Some(writer) = name
            .to_str()
            .and_then(|n| n.rsplit_once(".tmp"))
            .and_then(|(_, w)| w.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = identity::probe(writer).is_alive();
        if writer != identity::me().pid && (!alive || !only_dead) {
            let path = d.join(Path::new(&name));
            if d.remove_ours(&path).unwrap_or(false) {
                debug(format_args!(
                    "removed {} left by a killed writer",
                    path.display()
                ));
            }
        }
    }
}

/// Looks at what an earlier exclusive holder left (we hold the lock, so it is stale by
/// definition): its record in the lock file (`content`) and its pid file. Removes the pid file
/// and reports; the caller overwrites (or, when `clear`, blanks) the record.
pub(crate) fn recover_exclusive(
    l: &Layout,
    f: &File,
    content: Vec<u8>,
    clear: bool,
    recovered: &mut Vec<Recovered>,
) -> Result<()> {
    let stale_len = content.len();
    let files = status::read_files(l, Some(identity::me().pid), Some(content))?;
    if !files.any() {
        return Ok(());
    }
    let cand = files.candidate(l);
    let mut reasons = Vec::new();
    if let Some(p) = &files.pid_file.problem {
        reasons.push(p.clone());
    }
    if let Some(h) = &cand {
        reasons.push(h.stale_reason());
    }
    if files.record_exists && files.record.is_none() {
        reasons.push(format!("the record in {} is unreadable", l.lock.display()));
    }
    if reasons.is_empty() {
        reasons.push("files were left over from a holder that is gone".into());
    }
    let mut removed = Vec::new();
    remove_reporting(&*l.root()?, &l.pid, &mut removed)?;
    if clear && files.record_exists {
        fsio::write_start(f, b"", stale_len)
            .map_err(|e| Error::io(&e, "clear the stale record in", &l.lock))?;
    }
    let r = Recovered {
        pid: cand.as_ref().and_then(|h| h.pid),
        started_at: files.record.as_ref().and_then(|r| r.started_at),
        reason: reasons.join("; "),
        removed,
        signals: Vec::new(),
        waited_ms: None,
        orphans: Vec::new(),
    };
    debug(format_args!(
        "{}: recovered stale guard: {}",
        l.name, r.reason
    ));
    recovered.push(r);
    Ok(())
}

pub(crate) fn read_lock_content(f: &File, l: &Layout, size: u64) -> Result<Vec<u8>> {
    fsio::read_start(f, crate::record::MAX_RECORD_BYTES, Some(size))
        .map_err(|e| Error::io(&e, "read the lock file", &l.lock))
}

fn finish_exclusive(
    f: File,
    l: Layout,
    meta: Value,
    size: u64,
    lock_id: Option<fsio::FileId>,
) -> Result<Guard> {
    let mut recovered = Vec::new();
    let content = read_lock_content(&f, &l, size)?;
    let mut record_len = content.len();
    let root = l.root()?;
    match status::open_shared(&l) {
        Ok(Some(d)) => {
            recover_shared(&l, &d, &mut recovered, false)?;
            let _ = root.remove_dir(&l.shared_dir);
        }
        Ok(None) => {}
        // A link or another user's directory at `N.shared`: an exclusive holder needs nothing
        // there, so it is ignored (never followed, nothing in it removed).
        Err(e) => debug(format_args!("{}: ignored: {e}", l.name)),
    }
    let mut record = Record::for_self(&l.name, Mode::Exclusive, meta);
    record.lock_fd = raw_fd_of(&f);
    let key = crate::marker::key(lock_id, &l.lock);
    let marker = record_marker(lock_id, &l, &record);
    let pid_bytes = pidfile::format(record.pid);
    // Creating the pid file exclusively is also the check for a leftover one: only when one is
    // there is anything read, reported and removed.
    let pid_file = match root.create_new(&l.pid, pid_bytes.as_bytes()) {
        Ok(stamp) => {
            // A clean release before us: only earlier holders the record carries (rare; a
            // byte search spares the common case a parse) can have orphans.
            if std::str::from_utf8(&content).is_ok_and(|c| c.contains("\"previous\"")) {
                carry_orphans(&l, &key, &content, false, &mut record, &mut recovered);
            }
            stamp
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // The dead holder's orphans first: the record they are proven by is overwritten below.
            carry_orphans(&l, &key, &content, true, &mut record, &mut recovered);
            // Removes it only if it is a file of ours (refused otherwise), then creates anew.
            recover_exclusive(&l, &f, content, false, &mut recovered)?;
            // On Windows the removed file can linger delete-pending while a loser still reads
            // it (to name the holder), so the name says AlreadyExists for a moment: waited out.
            crate::dirfd::pending_retry(|| root.create_new(&l.pid, pid_bytes.as_bytes()))
                .map_err(|e| Error::io(&e, "write the pid file", &l.pid))?
        }
        Err(e) => return Err(Error::io(&e, "write the pid file", &l.pid)),
    };
    record_len = match fsio::write_start(&f, &record.to_bytes(), record_len) {
        Ok(n) => n,
        Err(e) => {
            // A part-written record (disk full while the file grew) must not be read later.
            let _ = fsio::write_start(&f, b"", file_len(&f).max(record_len));
            let _ = root.remove_if(&l.pid, pid_file);
            return Err(Error::io(&e, "write the record to", &l.lock));
        }
    };
    debug(format_args!("{}: wrote {}", l.name, l.pid.display()));
    hold_fd(raw_fd_of(&f));
    Ok(Guard {
        file: Some(f),
        files: Some(root),
        pid_path: l.pid.clone(),
        record_path: l.lock.clone(),
        layout: l,
        mode: Mode::Exclusive,
        record,
        record_len,
        pid_file: Some(pid_file),
        recovered,
        marker,
        adopted: false,
    })
}

/// Finds what the holders named in the old record (`content`) left running (its own holder
/// when `dead`, and the earlier holders it carries), reports them in `recovered` and carries
/// those holders into `record` so the evidence survives until the orphans are gone.
fn carry_orphans(
    l: &Layout,
    key: &str,
    content: &[u8],
    dead: bool,
    record: &mut Record,
    recovered: &mut Vec<Recovered>,
) {
    if fsio::is_blank(content) {
        return;
    }
    let Some(old) = Record::parse(content) else {
        return;
    };
    if !dead && old.previous.is_empty() {
        return;
    }
    // The lock file this acquire holds passed the owner check: it is ours.
    // Unknown (this OS shows no environments): nothing is carried; `status` says unknown.
    let Ok(orphans) = status::orphans_of(
        key,
        &old,
        dead,
        &[identity::me().pid],
        identity::current_uid(),
    ) else {
        return;
    };
    if orphans.is_empty() {
        return;
    }
    let mut carried: Vec<crate::record::Previous> = Vec::new();
    let own = old.holder_mark();
    for o in &orphans {
        if carried.iter().any(|p| p.mark == o.mark) {
            continue;
        }
        let prev = old.previous.iter().find(|p| p.mark == o.mark).cloned();
        carried.push(prev.unwrap_or_else(|| crate::record::Previous {
            mark: o.mark.clone(),
            uid: old.uid,
            boot_id: old.boot_id.clone(),
            port: old.port(),
        }));
    }
    let list: Vec<String> = orphans.iter().map(status::describe_marked).collect();
    let reason =
        format!(
        "the old holder (pid {}) is gone and left {} running: {}; stop {} with `pid-guard stop {}`",
        own.as_ref().map_or(old.pid, |m| m.pid),
        if list.len() == 1 { "a process it started" } else { "processes it started" },
        list.join("; "),
        if list.len() == 1 { "it" } else { "them" },
        l.name
    );
    debug(format_args!("{}: {reason}", l.name));
    record.previous = carried;
    recovered.push(Recovered {
        pid: own.map(|m| m.pid).or(Some(old.pid)),
        started_at: old.started_at,
        reason,
        removed: Vec::new(),
        signals: Vec::new(),
        waited_ms: None,
        orphans,
    });
}

fn finish_shared(
    f: File,
    l: Layout,
    meta: Value,
    size: u64,
    lock_id: Option<fsio::FileId>,
) -> Result<Guard> {
    let mut recovered = Vec::new();
    // No exclusive holder can exist while we hold a shared lock: what it left is stale.
    let content = read_lock_content(&f, &l, size)?;
    recover_exclusive(&l, &f, content, true, &mut recovered)?;
    let d = Arc::new(ensure_shared_dir(&l)?);
    recover_shared(&l, &d, &mut recovered, true)?;
    let mut record = Record::for_self(&l.name, Mode::Shared, meta);
    record.lock_fd = raw_fd_of(&f);
    let marker = record_marker(lock_id, &l, &record);
    let pid_path = l.shared_pid(record.pid);
    let record_path = l.shared_record(record.pid);
    if shared_ref(&pid_path, 1) == 1 {
        let mut written = Vec::new();
        let res = write_or_undo(
            &d,
            &mut written,
            &record_path,
            &record.to_bytes(),
            "write the record",
        )
        .and_then(|()| {
            write_or_undo(
                &d,
                &mut written,
                &pid_path,
                pidfile::format(record.pid).as_bytes(),
                "write the pid file",
            )
        });
        if let Err(e) = res {
            shared_ref(&pid_path, -1);
            return Err(e);
        }
    }
    hold_fd(raw_fd_of(&f));
    Ok(Guard {
        file: Some(f),
        files: Some(d),
        layout: l,
        mode: Mode::Shared,
        pid_path,
        record_path,
        record,
        record_len: 0,
        pid_file: None,
        marker,
        recovered,
        adopted: false,
    })
}

/// `N.shared`, created (0700) if missing, opened and checked: a link there, or a directory that
/// is not ours, is refused with the code naming it (a shared holder would write in it).
fn ensure_shared_dir(l: &Layout) -> Result<Dir> {
    l.root()?
        .make_sub(&l.shared_dir)
        .map_err(|e| Error::io(&e, "use the shared holders' directory", &l.shared_dir))
}

pub(crate) fn record_marker(
    id: Option<fsio::FileId>,
    l: &Layout,
    record: &Record,
) -> Option<(String, String)> {
    record.holder_mark().map(|m| {
        (
            crate::marker::key(id, &l.lock),
            crate::marker::value(&m, &l.lock),
        )
    })
}

impl Guard {
    /// The marker variable (name, value) to set in this process's environment so every child
    /// spawned from now on carries it (see [`crate::marker`]); `None` once released, or when
    /// this process's start time cannot be read.
    pub fn marker(&self) -> Option<(&str, &str)> {
        self.file.as_ref()?;
        self.marker.as_ref().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn name(&self) -> &str {
        &self.layout.name
    }
    pub fn pid(&self) -> u32 {
        self.record.pid
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn pid_path(&self) -> &Path {
        &self.pid_path
    }
    pub fn lock_path(&self) -> &Path {
        &self.layout.lock
    }
    pub fn record_path(&self) -> &Path {
        &self.record_path
    }
    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }
    pub(crate) fn recovered_mut(&mut self) -> &mut Vec<Recovered> {
        &mut self.recovered
    }
    pub fn record(&self) -> &Record {
        &self.record
    }
    /// Adds a takeover note; merged into the entry for the same PID when its stale files were
    /// already recovered (a SIGKILLed holder leaves them), so each old holder is listed once.
    pub(crate) fn push_recovered(&mut self, r: Recovered) {
        match self
            .recovered
            .iter_mut()
            .find(|x| x.pid.is_some() && x.pid == r.pid)
        {
            Some(x) => {
                x.reason = format!("{}; {}", r.reason, x.reason);
                x.signals = r.signals;
                x.waited_ms = r.waited_ms;
                x.started_at = x.started_at.or(r.started_at);
            }
            None => self.recovered.push(r),
        }
    }
    /// Adopted from `pid-guard run` (see [`crate::adopt`]): the caller removes
    /// [`crate::adopt::FD_VAR`] from its environment so its children do not try again.
    pub fn adopted(&self) -> bool {
        self.adopted
    }
    pub fn is_released(&self) -> bool {
        self.file.is_none()
    }

    /// The directory the holder's files are in, while held.
    fn files(&self) -> Result<&Dir> {
        match (&self.file, self.files.as_deref()) {
            (Some(_), Some(d)) => Ok(d),
            _ => Err(self.released()),
        }
    }

    fn ensure_held(&self) -> Result<()> {
        self.files().map(drop)
    }

    fn released(&self) -> Error {
        Error::new(
            Code::Released,
            format!(
                "the guard \"{}\" was already released; acquire it again first",
                self.layout.name
            ),
        )
    }

    /// Replaces the recorded meta. Readers never act on a mix of old and new: a torn read of
    /// the in-place record does not parse and is read again.
    pub fn update(&mut self, meta: Value) -> Result<()> {
        self.ensure_held()?;
        let mut rec = self.record.clone();
        rec.meta = meta;
        let path = self.record_path.clone();
        self.write_record(rec, &path)
    }

    /// Writes `rec` to `path` and makes it the guard's record. Exclusive: in place in the lock
    /// file (a reader retries the rare torn read); if the write fails part-way (disk full while
    /// the file grew), the old record is written back over the same, already allocated, bytes.
    /// Shared: replaced atomically.
    fn write_record(&mut self, rec: Record, path: &Path) -> Result<()> {
        let bytes = rec.to_bytes();
        match (self.mode, &self.file) {
            (Mode::Exclusive, Some(f)) => match fsio::write_start(f, &bytes, self.record_len) {
                Ok(n) => self.record_len = n,
                Err(e) => {
                    let cover = file_len(f).max(self.record_len);
                    let _ = fsio::write_start(f, &self.record.to_bytes(), cover);
                    return Err(Error::io(&e, "write the record to", path));
                }
            },
            _ => {
                self.files()?
                    .replace(path, &bytes)
                    .map_err(|e| Error::io(&e, "write the record", path))?;
            }
        }
        self.record = rec;
        Ok(())
    }

    /// `pid-guard run` on Unix, just before it execs the command in this very process: the
    /// lock's fd is duplicated to `fd` (3) without close-on-exec, so the command holds the lock
    /// from its first instruction and for as long as it (or a child it passes the fd to) runs,
    /// and the record describes the command: its executable and argv as the OS will show them
    /// after exec, and the fd it holds the lock on. The pid and start time stay this process's:
    /// exec changes neither, so the pid file and the record name the command from the start.
    /// If the exec then fails, [`Guard::release`] and exiting free everything.
    #[cfg(unix)]
    pub fn prepare_exec(
        &mut self,
        fd: i32,
        exe: Option<String>,
        cmdline: Vec<String>,
    ) -> Result<()> {
        use std::os::fd::AsRawFd;
        let lock = self
            .file
            .as_ref()
            .ok_or_else(|| self.released())?
            .as_raw_fd();
        // SAFETY: plain fd calls on an fd we own; dup2 leaves FD_CLOEXEC clear on the copy.
        let ok = unsafe {
            if lock == fd {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                flags >= 0 && libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == 0
            } else {
                libc::dup2(lock, fd) == fd
            }
        };
        if !ok {
            let e = std::io::Error::last_os_error();
            return Err(Error::io(&e, "pass on the lock file", &self.layout.lock));
        }
        let mut rec = self.record.clone();
        rec.exe = exe;
        rec.cmdline = cmdline;
        rec.lock_fd = Some(fd);
        let path = self.record_path.clone();
        self.write_record(rec, &path)
    }

    /// Windows `run` (no exec there): its wrapper keeps the lock handle and makes the pid file
    /// and record name `pid`, the command it started, instead of itself, so `kill`/`stop` reach
    /// the service, whose exit the wrapper then follows by releasing. The pid file is replaced
    /// atomically (readers never see it empty); the record as in [`Guard::update`]. (Markers are
    /// read on Linux only, so the record need not say that the command's children carry the
    /// wrapper's.)
    /// Also Unix adoption by a service a wrapper started (adopt.rs): the service takes the
    /// record and pid file over from its ancestor, the `run` that exec'd the wrapper.
    pub fn hand_over(
        &mut self,
        pid: u32,
        cmdline: Vec<String>,
        child_fd: Option<i32>,
    ) -> Result<()> {
        self.ensure_held()?;
        let identity::Probe::Alive(identity) = identity::probe(pid) else {
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "process {pid} exited before it could be recorded as the holder of \"{}\"",
                    self.layout.name
                ),
            ));
        };
        let mut rec = self.record.clone();
        rec.pid = pid;
        rec.start_id = identity.as_ref().map(|i| i.start_id.clone());
        rec.started_at = identity.and_then(|i| i.started_at_ms);
        rec.exe = identity::command_of(pid).0.or(rec.exe);
        rec.cmdline = cmdline;
        rec.lock_fd = child_fd;
        let (pid_path, record_path) = match self.mode {
            Mode::Exclusive => (self.pid_path.clone(), self.record_path.clone()),
            Mode::Shared => (self.layout.shared_pid(pid), self.layout.shared_record(pid)),
        };
        self.write_record(rec, &record_path)?;
        let stamp = self
            .files()?
            .replace(&pid_path, pidfile::format(pid).as_bytes())
            .map_err(|e| Error::io(&e, "write the pid file", &pid_path))?;
        if self.mode == Mode::Exclusive {
            self.pid_file = Some(stamp);
        }
        if self.mode == Mode::Shared && shared_ref(&self.pid_path, -1) == 0 {
            let files = self.files()?;
            let _ = files.remove_ours(&self.pid_path);
            let _ = files.remove_ours(&self.record_path);
        }
        if self.mode == Mode::Shared {
            shared_ref(&pid_path, 1);
        }
        debug(format_args!(
            "{}: handed over to pid {pid}",
            self.layout.name
        ));
        self.pid_path = pid_path;
        self.record_path = record_path;
        Ok(())
    }

    /// Before a release at exit (a signal, an uncaught exception, `run`'s command gone): if
    /// processes this holder started still run (they carry its marker), the record is made to
    /// carry this holder as an earlier one, so once this process is gone they are its orphans
    /// rather than invisible behind a clean release. One scan of every process's environment
    /// (about a millisecond), so not done by a plain `release()`.
    pub fn note_leftovers(&mut self) -> Result<()> {
        if self.mode != Mode::Exclusive {
            return Ok(());
        }
        let (Some((key, _)), Some(mark)) = (self.marker(), self.record.holder_mark()) else {
            return Ok(());
        };
        // Unknown (this OS shows no environments): no record to keep; `status` says unknown.
        let left = crate::marker::scan(key)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, m)| *m == mark)
            .count();
        if left == 0 || self.record.previous.iter().any(|p| p.mark == mark) {
            return Ok(());
        }
        debug(format_args!(
            "{}: {left} process(es) this holder started still run; the record keeps naming it",
            self.layout.name
        ));
        let mut rec = self.record.clone();
        rec.previous.push(crate::record::Previous {
            mark,
            uid: rec.uid,
            boot_id: rec.boot_id.clone(),
            port: rec.port(),
        });
        let path = self.record_path.clone();
        self.write_record(rec, &path)
    }

    /// Stops carrying the earlier holders `marks` name in the record (their orphans are gone).
    pub(crate) fn forget_previous(&mut self, marks: &[crate::marker::Mark]) -> Result<()> {
        if marks.is_empty() || !self.record.previous.iter().any(|p| marks.contains(&p.mark)) {
            return Ok(());
        }
        let mut rec = self.record.clone();
        rec.previous.retain(|p| !marks.contains(&p.mark));
        let path = self.record_path.clone();
        self.write_record(rec, &path)
    }

    /// Removes the holder's files and frees the lock. Idempotent.
    pub fn release(&mut self) -> Result<()> {
        let Some(f) = self.file.take() else {
            return Ok(());
        };
        unhold_fd(raw_fd_of(&f));
        let l = &self.layout;
        l.close_root();
        let Some(files) = self.files.take() else {
            return Ok(());
        };
        let mut first_err = None;
        let mut rm = |p: &Path, stamp: Option<fsio::Stamp>| {
            let res = match stamp {
                Some(s) => files.remove_if(p, s),
                None => files.remove_ours(p).map(drop),
            };
            if let Err(e) = res {
                first_err.get_or_insert(Error::io(&e, "remove", p));
            }
        };
        match self.mode {
            Mode::Exclusive => {
                // Removing the pid file is what marks a clean release. The lock file stays, with
                // the record as the last holder's history (creating and removing it each time
                // would cost two more file operations per cycle). Only the pid file this guard
                // wrote, still naming its holder, is removed: one put there or rewritten
                // meanwhile (by hand, or by a new holder after someone deleted our lock file)
                // is left alone.
                if let Some(stamp) = self.pid_file {
                    rm(&self.pid_path, Some(stamp));
                }
            }
            Mode::Shared => {
                if shared_ref(&self.pid_path, -1) == 0 {
                    rm(&self.pid_path, None);
                    rm(&self.record_path, None);
                }
            }
        }
        debug(format_args!("{}: released", l.name));
        drop(f);
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::status;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "pg-guard-{tag}-{}-{}",
                std::process::id(),
                crate::record::now_ms()
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Status once no thread of this test binary is mid-spawn: another test's fork (before its
    /// exec closes inherited fds) can keep a just-released lock alive for a moment.
    fn settled_status(name: &str, dir: &Path) -> crate::status::Status {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let st = status(name, Some(dir)).unwrap();
            if st.state != State::Held || std::time::Instant::now() > deadline {
                return st;
            }
            std::thread::yield_now();
        }
    }

    fn opts(dir: &Path, mode: Mode) -> AcquireOptions<'_> {
        AcquireOptions {
            dir: Some(dir),
            mode,
            meta: serde_json::json!({"port": 1}),
        }
    }

    #[test]
    fn exclusive_excludes_within_a_process_and_release_cleans() {
        let d = TempDir::new("ex");
        let mut g = acquire("web", &opts(&d.0, Mode::Exclusive)).unwrap();
        assert_eq!(
            std::fs::read_to_string(g.pid_path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        let e = acquire("web", &opts(&d.0, Mode::Exclusive)).err().unwrap();
        assert_eq!(e.code, Code::Locked);
        assert_eq!(e.holders[0].pid, Some(std::process::id()));
        let e = acquire("web", &opts(&d.0, Mode::Shared)).err().unwrap();
        assert_eq!(e.code, Code::Locked);
        assert_eq!(status("web", Some(&d.0)).unwrap().state, State::Held);
        g.release().unwrap();
        g.release().unwrap();
        let left: Vec<String> = std::fs::read_dir(&d.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, vec!["web.lock"], "release leaves only the lock file");
        assert_eq!(settled_status("web", &d.0).state, State::Free);
    }

    #[test]
    fn shared_holders_coexist_and_exclude_exclusive() {
        let d = TempDir::new("sh");
        let mut a = acquire("db", &opts(&d.0, Mode::Shared)).unwrap();
        let mut b = acquire("db", &opts(&d.0, Mode::Shared)).unwrap();
        let e = acquire("db", &opts(&d.0, Mode::Exclusive)).err().unwrap();
        assert_eq!(e.code, Code::Locked);
        assert!(e.message.contains("shared"), "{}", e.message);
        let st = status("db", Some(&d.0)).unwrap();
        assert_eq!(st.mode, Some(Mode::Shared));
        // Holders are processes: one holding two shared locks (two threads) is listed once,
        // proven by the lock on its fds.
        assert_eq!(st.holders.len(), 1, "{:?}", st.holders);
        assert!(st.holders[0].verified);
        assert_eq!(st.holders[0].pid, Some(std::process::id()));
        a.release().unwrap();
        assert!(
            b.pid_path().exists(),
            "one thread's release keeps the other's files"
        );
        b.release().unwrap();
        assert!(!b.pid_path().exists());
        let mut x = acquire("db", &opts(&d.0, Mode::Exclusive)).unwrap();
        x.release().unwrap();
    }

    #[test]
    fn stale_files_are_recovered_and_reported() {
        let d = TempDir::new("stale");
        std::fs::write(d.0.join("svc.pid"), "999999\n").unwrap();
        let st = settled_status("svc", &d.0);
        assert_eq!(st.state, State::Stale);
        let mut g = acquire("svc", &opts(&d.0, Mode::Exclusive)).unwrap();
        let r = &g.recovered()[0];
        assert_eq!(r.pid, Some(999_999));
        assert!(r.reason.contains("not running"), "{}", r.reason);
        g.release().unwrap();

        for junk in ["garbage\n", "-1\n", "0\n", "1\n", "4294967296\n", ""] {
            std::fs::write(d.0.join("svc.pid"), junk).unwrap();
            let st = settled_status("svc", &d.0);
            assert!(!st.pid_file.valid, "{junk:?}");
            assert_eq!(st.state, State::Stale, "{junk:?} {st:?}");
            let mut g = acquire("svc", &opts(&d.0, Mode::Exclusive)).unwrap();
            assert_eq!(g.recovered()[0].pid, None, "{junk:?}");
            g.release().unwrap();
        }
    }

    #[test]
    fn symlinks_are_refused_not_followed() {
        let d = TempDir::new("link");
        let target = d.0.join("precious");
        std::fs::write(&target, "keep me").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&target, d.0.join("a.lock")).unwrap();
            let e = acquire("a", &opts(&d.0, Mode::Exclusive)).err().unwrap();
            assert_eq!(e.code, Code::Symlink);
            std::os::unix::fs::symlink(&target, d.0.join("b.pid")).unwrap();
            let e = acquire("b", &opts(&d.0, Mode::Exclusive)).err().unwrap();
            assert_eq!(e.code, Code::Symlink);
            assert!(
                !d.0.join("b.json").exists(),
                "a refused acquire writes nothing"
            );
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    }

    #[test]
    fn release_spares_a_new_holder_after_the_lock_file_was_removed_by_hand() {
        if crate::test_child::under_wine() {
            // Wine's gap: a removed file another handle has open stays "delete pending" under
            // its name, so the second acquire finds the first one's lock (Windows 10 removes
            // the name at once).
            eprintln!("skipped under Wine: removed open files stay delete-pending");
            return;
        }
        let d = TempDir::new("rm");
        let mut old = acquire("w", &opts(&d.0, Mode::Exclusive)).unwrap();
        for f in ["w.lock", "w.pid"] {
            std::fs::remove_file(d.0.join(f)).unwrap();
        }
        let mut new = acquire("w", &opts(&d.0, Mode::Exclusive)).unwrap();
        // Both are this process, so plant a foreign pid in the new pid file to tell them apart.
        std::fs::write(d.0.join("w.pid"), "424242\n").unwrap();
        old.release().unwrap();
        assert!(
            d.0.join("w.lock").exists(),
            "old holder must not touch the new lock file"
        );
        let rec = std::fs::read(d.0.join("w.lock")).unwrap();
        assert!(!fsio::is_blank(&rec), "nor blank the new holder's record");
        assert_eq!(
            std::fs::read_to_string(d.0.join("w.pid")).unwrap(),
            "424242\n"
        );
        new.release().unwrap();
    }

    #[test]
    fn elocked_names_the_command_that_stops_the_holder_on_this_os() {
        let d = TempDir::new("msg");
        let mut g = acquire("m", &opts(&d.0, Mode::Exclusive)).unwrap();
        let e = acquire("m", &opts(&d.0, Mode::Exclusive)).err().unwrap();
        assert_eq!(e.code, Code::Locked, "{e}");
        let me = std::process::id();
        if cfg!(windows) {
            assert!(e.message.contains(&format!("(taskkill /PID {me})")), "{e}");
            assert!(!e.message.contains(&format!("(kill {me})")), "{e}");
        } else {
            assert!(e.message.contains(&format!("(kill {me})")), "{e}");
        }
        g.release().unwrap();
    }

    #[test]
    fn a_hard_link_planted_at_the_lock_file_is_never_written_through() {
        let d = TempDir::new("hl");
        let victim = d.0.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::create_dir_all(&d.0).unwrap();
        std::fs::hard_link(&victim, d.0.join("h.lock")).unwrap();
        let e = acquire("h", &opts(&d.0, Mode::Exclusive)).err().unwrap();
        assert_eq!(e.code, Code::UnsafeFile, "{e}");
        assert!(e.message.contains("hard links"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        // A hard link at the pid file is neither written through nor removed.
        std::fs::remove_file(d.0.join("h.lock")).unwrap();
        std::fs::hard_link(&victim, d.0.join("h.pid")).unwrap();
        if let Ok(mut g) = acquire("h", &opts(&d.0, Mode::Exclusive)) {
            let _ = g.release();
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(d.0.join("h.pid").exists());
    }

    #[test]
    fn a_directory_removed_after_first_use_is_created_and_checked_again() {
        let d = TempDir::new("gone");
        let sub = d.0.join("guards");
        acquire("g", &opts(&sub, Mode::Exclusive))
            .unwrap()
            .release()
            .unwrap();
        std::fs::remove_dir_all(&sub).unwrap();
        let mut g = acquire("g", &opts(&sub, Mode::Exclusive)).unwrap();
        assert!(g.pid_path().exists());
        g.release().unwrap();
    }

    #[test]
    fn update_rewrites_meta_and_fails_after_release() {
        let d = TempDir::new("upd");
        let mut g = acquire("m", &opts(&d.0, Mode::Exclusive)).unwrap();
        g.update(serde_json::json!({"port": 2})).unwrap();
        let st = status("m", Some(&d.0)).unwrap();
        let rec = st.holders[0].record.as_ref().unwrap();
        assert_eq!(rec.meta["port"], 2);
        g.release().unwrap();
        assert_eq!(
            g.update(serde_json::json!({})).err().unwrap().code,
            Code::Released
        );
    }
}
