//! `status` and `list`: who holds a guard, without creating, truncating or deleting anything.
//! "Held" means the lock is busy: when no process is proven to hold it, the lock is tried for an
//! instant (and let go), which also sees holders in other PID namespaces, other users' processes
//! and overlayfs. On Linux a holder is named only when the kernel shows the lock on one of its
//! own fds; elsewhere, while the lock is busy, a live process with the recorded start time and
//! boot. A busy lock with no visible holder is held by "a process this user cannot see".

use crate::error::{Error, Result};
use crate::flock;
use crate::fsio;
use crate::holder::Holder;
use crate::layout::{self, Layout};
use crate::marker::{self, Mark, Marked};
use crate::mode::Mode;
use crate::pidfile::{self, Content};
use crate::record::{self, Record};
use crate::sys::{self, Holds};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Free,
    Held,
    Stale,
    /// Nothing holds the guard, but processes a dead holder started (they carry its marker,
    /// see [`crate::marker`]) still run: `orphans` names them. Command lines prove nothing.
    Orphaned,
    /// Only in `list`: something at one of the guard's paths is not trusted (a FIFO, a
    /// directory, a link...), so the guard could not be read; `problem` says what and where.
    Unsafe,
}

/// Something at a guard path pid-guard refused to use or ignored, as a coded error would say it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub code: crate::error::Code,
    pub message: String,
    pub path: Option<PathBuf>,
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        Problem {
            code: e.code,
            message: e.message,
            path: e.path,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PidFileInfo {
    pub path: PathBuf,
    pub exists: bool,
    pub valid: bool,
    pub pid: Option<u32>,
    /// Why the content is not a usable PID (empty, garbage, out of range...).
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub name: String,
    pub dir: PathBuf,
    pub state: State,
    pub mode: Option<Mode>,
    /// Live holders when held; when stale, what the files left behind name (not alive).
    pub holders: Vec<Holder>,
    pub pid_file: PidFileInfo,
    pub lock_path: PathBuf,
    pub record_path: PathBuf,
    /// When stale: why the files are judged to belong to no live holder.
    pub stale_reason: Option<String>,
    /// How "held" was decided: `kernel` (the OS lock table) or `process` (recorded identity).
    pub detection: &'static str,
    /// When the recorded port is listened on by another process than a holder: who, and
    /// whether its command equals the recorded one (informational: only a marker proves an
    /// orphan).
    pub port_owner: Option<PortOwner>,
    /// Something at the guard's paths that was not trusted and so was ignored (a link or a
    /// foreign directory at `N.shared`), or, in `list` with state `unsafe`, why the guard could
    /// not be read at all.
    pub problem: Option<Problem>,
    /// Processes still running that a holder now gone started (they carry its marker, see
    /// [`crate::marker`]): the recorded holder's when it died, and earlier holders' carried in
    /// the record. Each says whether it is verified (may be signalled) or why not.
    pub orphans: Vec<Marked>,
    /// Why `orphans` cannot be known here (`null` when they were looked for, or need not be):
    /// this OS does not show other processes' environments, so what a holder started cannot be
    /// told apart from anything else. An empty `orphans` with this set means "unknown", not "none".
    pub orphans_unknown: Option<String>,
    /// The name of the guard's marker variable (when the lock file exists).
    #[serde(skip)]
    pub marker_key: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortOwner {
    pub port: u16,
    pub pid: Option<u32>,
    pub exe: Option<String>,
    pub cmdline: Option<Vec<String>>,
    /// Executable and command line equal what the guard's last holder recorded.
    pub matches_record: bool,
}

/// Who listens on the port a stale record names, compared with the record.
pub fn port_owner(record: &Record) -> Option<PortOwner> {
    let port = record.port()?;
    let pid = match crate::health::ports::owner_of_port(port) {
        Ok(Some(pid)) => pid,
        _ => return None,
    };
    let (exe, cmdline) = pid.map(crate::identity::command_of).unwrap_or((None, None));
    let matches_record = pid.is_some_and(|p| p > 1)
        && exe.is_some()
        && exe == record.exe
        && cmdline.as_ref() == Some(&record.cmdline);
    Some(PortOwner {
        port,
        pid,
        exe,
        cmdline,
        matches_record,
    })
}

pub fn status(name: &str, dir: Option<&Path>) -> Result<Status> {
    layout::validate_name(name)?;
    let (path, root) = crate::dir::inspectable(dir)?;
    match root {
        Some(root) => inspect(&Layout::in_dir(root, name)),
        None => Ok(empty_status(&Layout::new(&path, name))),
    }
}

pub fn list(dir: Option<&Path>) -> Result<Vec<Status>> {
    let (_, Some(root)) = crate::dir::inspectable(dir)? else {
        return Ok(Vec::new());
    };
    let entries = root
        .names()
        .map_err(|e| Error::io(&e, "list", root.path()))?;
    let mut names: Vec<String> = entries
        .iter()
        .filter_map(|f| layout::name_of_entry(f.to_str()?).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    // One odd entry (a FIFO or directory at `x.lock`, a file that cannot be read) must not
    // hide the other guards: it is listed as `unsafe`, with the error that says why.
    Ok(names
        .iter()
        .map(|n| {
            let l = Layout::in_dir(root.clone(), n);
            inspect(&l).unwrap_or_else(|e| {
                let mut st = empty_status(&l);
                st.state = State::Unsafe;
                st.problem = Some(e.into());
                st
            })
        })
        .collect())
}

fn empty_status(l: &Layout) -> Status {
    Status {
        name: l.name.clone(),
        dir: l.dir.clone(),
        state: State::Free,
        mode: None,
        holders: Vec::new(),
        pid_file: PidFileInfo {
            path: l.pid.clone(),
            exists: false,
            valid: false,
            pid: None,
            problem: None,
        },
        lock_path: l.lock.clone(),
        record_path: l.record.clone(),
        stale_reason: None,
        detection: "process",
        port_owner: None,
        problem: None,
        orphans: Vec::new(),
        orphans_unknown: None,
        marker_key: None,
    }
}

/// The marks whose orphans are looked for in `rec`: its holder's when that holder is gone
/// (`dead`), and every earlier holder it carries; only from this boot.
fn orphan_marks(rec: &Record, dead: bool) -> Vec<(Mark, Option<u32>)> {
    let mut out = Vec::new();
    if dead && crate::identity::same_boot(&rec.boot_id, crate::identity::boot_id()) {
        if let Some(m) = rec.holder_mark() {
            if !marker::holder_alive(&m) {
                out.push((m, rec.uid));
            }
        }
    }
    for p in &rec.previous {
        if crate::identity::same_boot(&p.boot_id, crate::identity::boot_id())
            && !marker::holder_alive(&p.mark)
        {
            out.push((p.mark.clone(), p.uid));
        }
    }
    out
}

/// Orphans of `rec` (see [`Status::orphans`]): processes carrying `key` with the mark of a
/// holder of `rec` that is gone, never one in `exclude` (ourselves, a live holder). `Err`: there
/// are holders to look for but this OS cannot tell (why, see [`Status::orphans_unknown`]).
/// `lock_owner` is the lock file's owner: a holder's uid is believed only when the file that
/// carries its record belongs to that uid (a record is text its file's owner could have written:
/// another user's lock file in a shared directory must not vouch for root's processes).
pub fn orphans_of(
    key: &str,
    rec: &Record,
    dead: bool,
    exclude: &[u32],
    lock_owner: Option<u32>,
) -> std::result::Result<Vec<Marked>, String> {
    let mut marks = orphan_marks(rec, dead);
    for (_, uid) in marks.iter_mut() {
        if lock_owner.is_some() && *uid != lock_owner {
            *uid = None;
        }
    }
    if marks.is_empty() {
        return Ok(Vec::new());
    }
    Ok(marker::scan(key)?
        .into_iter()
        .filter(|(pid, _)| !exclude.contains(pid))
        .filter_map(|(pid, m)| {
            let (_, uid) = marks.iter().find(|(x, _)| *x == m)?;
            Some(marker::describe(pid, m, *uid))
        })
        .collect())
}

/// Records what [`orphans_of`] found, or why it could not tell.
fn set_orphans(st: &mut Status, found: std::result::Result<Vec<Marked>, String>) {
    match found {
        Ok(o) => st.orphans = o,
        Err(why) => st.orphans_unknown = Some(why),
    }
}

/// What a marked process runs, for people: its command line, else its executable, else
/// "command unknown".
pub fn command_text(o: &Marked) -> String {
    o.cmdline
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c.join(" "))
        .or(o.exe.clone())
        .unwrap_or_else(|| "command unknown".into())
}

/// An orphan of guard `name` in one line, as `pid-guard status` and `check` print it:
/// "orphan: pid 12 (node server.js), port 8080; stop it with `pid-guard stop web`", or, when it
/// is not verified, "...; not verified, not signalled: <why>".
pub fn orphan_line(o: &Marked, name: &str) -> String {
    let ports = match o.ports.as_deref() {
        None => ", sockets unknown".to_string(),
        Some([]) => String::new(),
        Some(p) => format!(
            ", port {}",
            p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let verdict = if o.verified {
        format!("stop it with `pid-guard stop {name}`")
    } else {
        format!(
            "not verified, not signalled: {}",
            o.problem.as_deref().unwrap_or("unknown")
        )
    };
    format!(
        "orphan: pid {} ({}){ports}; {verdict}",
        o.pid,
        command_text(o)
    )
}

/// "pid 123 (node server.js, serving port 8080)".
pub fn describe_marked(o: &Marked) -> String {
    let cmd = command_text(o);
    let ports = match o.ports.as_deref() {
        Some([]) => String::new(),
        Some(p) => format!(
            ", serving port {}",
            p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
        None => ", its sockets cannot be read".into(),
    };
    format!("pid {} ({cmd}{ports})", o.pid)
}

/// Processes carrying the marker of `name`'s live holder that no longer descend from it
/// (reparented: a leaked session). Empty when the guard is not held, and where this OS cannot
/// read environments (then the guard's status carries `orphans_unknown`).
pub fn strays(name: &str, dir: Option<&Path>) -> Result<Vec<Marked>> {
    Ok(strays_of(&status(name, dir)?))
}

/// [`strays`] of a status already read (health reads the status once for everything).
pub fn strays_of(st: &Status) -> Vec<Marked> {
    let Some(key) = st.marker_key.as_deref() else {
        return Vec::new();
    };
    if st.state != State::Held {
        return Vec::new();
    }
    // One scan of every process's environment, whatever the number of holders.
    let Ok(marked) = marker::scan(key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for h in st.holders.iter().filter(|h| h.alive && h.verified) {
        let (Some(pid), Some(rec)) = (h.pid, h.record.as_ref()) else {
            continue;
        };
        let Some(mark) = rec.holder_mark() else {
            continue;
        };
        for (p, m) in &marked {
            let p = *p;
            if *m == mark
                && p != pid
                && !marker::descends_from(p, pid)
                && !marker::descends_from(p, mark.pid)
            {
                out.push(marker::describe(p, m.clone(), rec.uid));
            }
        }
    }
    out
}

/// What the files of an exclusive holder say.
pub struct Files {
    pub pid_file: PidFileInfo,
    pub pid_content: Option<Content>,
    pub record: Option<Record>,
    pub record_exists: bool,
    reject_pid: Option<u32>,
}

/// Reads an exclusive holder's files. `reject_pid` is a PID that cannot be a legitimate holder
/// (an acquirer's own: the lock it just won proves no one else holds it under that PID).
/// The record is read from `lock_content` (the lock file's bytes) when the caller has them.
pub fn read_files(
    l: &Layout,
    reject_pid: Option<u32>,
    lock_content: Option<Vec<u8>>,
) -> Result<Files> {
    let me = reject_pid.unwrap_or(0);
    let root = l.root()?;
    let raw = root
        .read_small(&l.pid, pidfile::MAX_LEN)
        .map_err(|e| Error::io(&e, "read the pid file", &l.pid))?;
    let content = raw.as_deref().map(|b| pidfile::parse(b, me));
    let rec_raw = match lock_content {
        Some(c) => Some(c),
        None => root
            .read_small(&l.record, record::MAX_RECORD_BYTES)
            .map_err(|e| Error::io(&e, "read the record", &l.record))?,
    }
    .filter(|b| !fsio::is_blank(b));
    let pid_file = PidFileInfo {
        path: l.pid.clone(),
        exists: raw.is_some(),
        valid: matches!(content, Some(Content::Valid { .. })),
        pid: match content {
            Some(Content::Valid { pid }) => Some(pid),
            _ => None,
        },
        problem: match &content {
            Some(Content::Empty) => Some("the pid file is empty".into()),
            Some(Content::Invalid { problem }) => {
                Some(format!("the pid file is invalid: {problem}"))
            }
            _ => None,
        },
    };
    Ok(Files {
        pid_file,
        pid_content: content,
        record_exists: rec_raw.is_some(),
        reject_pid,
        record: rec_raw.as_deref().and_then(Record::parse),
    })
}

impl Files {
    /// The exclusive holder these files name, if any: the pid file's PID, else the record's.
    pub fn candidate(&self, l: &Layout) -> Option<Holder> {
        let rec = self.record.clone();
        let reject = self.reject_pid;
        match (&self.pid_content, &rec) {
            (Some(Content::Valid { pid }), _) => {
                Some(Holder::examine(*pid, rec, "pidfile", Some(l.pid.clone())))
            }
            (_, Some(r)) if r.pid > 1 && Some(r.pid) != reject => {
                let pid = r.pid;
                Some(Holder::examine(pid, rec, "record", Some(l.pid.clone())))
            }
            _ => None,
        }
    }

    /// Whether an exclusive holder left something behind. The pid file is removed by every
    /// clean release and written by every holder, so it alone says so: the record in the lock
    /// file stays after a clean release, as the last holder's history.
    pub fn any(&self) -> bool {
        self.pid_file.exists
    }
}

/// `N.shared`, open and checked (never through a link, ours or root's, writable by nobody
/// else); `None` when there is none.
pub fn open_shared(l: &Layout) -> Result<Option<crate::dirfd::Dir>> {
    l.root()?
        .sub(&l.shared_dir)
        .map_err(|e| Error::io(&e, "use the shared holders' directory", &l.shared_dir))
}

/// The shared holders' files, from `N.shared/`. One that cannot be trusted is ignored: nothing
/// is read through it.
pub fn read_shared(l: &Layout) -> Vec<(u32, Holder)> {
    match open_shared(l) {
        Ok(Some(d)) => read_shared_in(l, &d),
        _ => Vec::new(),
    }
}

/// The shared holders' files in `d`, the open `N.shared`. Only regular files are read.
pub fn read_shared_in(l: &Layout, d: &crate::dirfd::Dir) -> Vec<(u32, Holder)> {
    let Ok(entries) = d.names() else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .iter()
        .filter_map(|f| {
            let (stem, ext) = f.to_str()?.rsplit_once('.')?;
            matches!(ext, layout::PID_EXT | layout::RECORD_EXT).then_some(())?;
            stem.parse::<u32>().ok().filter(|&p| p > 1)
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .map(|pid| {
            let rec = d
                .read_small(&l.shared_record(pid), record::MAX_RECORD_BYTES)
                .ok()
                .flatten()
                .and_then(|b| Record::parse(&b));
            (
                pid,
                Holder::examine(pid, rec, "pidfile", Some(l.shared_pid(pid))),
            )
        })
        .collect()
}

/// Who the OS shows holding a guard's lock now.
struct Seen {
    /// Processes proven to hold it (pid, exclusive), by the lock on one of their own fds.
    proven: Vec<(u32, bool)>,
    /// What trying the lock said, when it was tried.
    busy: Option<flock::Busy>,
}

/// Finds the holders of the lock on `f` (file `id`). On Linux a process counts only when the
/// kernel shows the lock on one of its own fds: the recorded holder's fd first (two small
/// reads), then the lockers the system-wide table names (the table names the process that took
/// the lock, which may be dead, its pid reused, while a child keeps the fd), then, when that
/// does not account for the lock, every process's fds. Whenever nothing proves the lock held,
/// the lock itself is tried: a busy lock is held, seen or not.
fn who_holds(
    f: &std::fs::File,
    id: Option<fsio::FileId>,
    candidate: Option<&Holder>,
    shared: &[(u32, Holder)],
) -> Seen {
    let Some(id) = id.filter(|_| sys::LOCK_TABLE) else {
        return Seen {
            proven: Vec::new(),
            busy: Some(flock::probe(f)),
        };
    };
    let recorded_fd = |h: &Holder| -> Option<(u32, i32)> {
        let r = h.record.as_ref().filter(|_| h.matches_record)?;
        Some((h.pid?, r.lock_fd?))
    };
    // Fast path: the recorded exclusive holder's own fd holds the lock.
    if let Some((pid, fd)) = candidate.and_then(recorded_fd) {
        if let Holds::Yes { exclusive } = sys::fd_holds(pid, fd, id) {
            // Its descendants that inherited the fd hold the same lock (`run -- sh -c 'server &
            // wait'`): they are holders too, each proven by its own fd. An inherited fd keeps its
            // number across fork and exec, so only that fd is read, and only a child that has it
            // is looked into (a grandchild can inherit it only through such a child). A full fd
            // scan of every descendant made each status of a guard with 10 Node workers cost
            // 1.2 ms instead of 0.08. One that moved or dropped the fd is found once the recorded
            // holder is gone (the slow path), which is when stop and takeover look again.
            let mut proven = vec![(pid, exclusive)];
            let mut queue = sys::children_of(pid);
            let mut looked = 0;
            while let Some(c) = queue.pop() {
                looked += 1;
                if looked > 64 {
                    break;
                }
                if let Holds::Yes { exclusive } = sys::fd_holds(c, fd, id) {
                    if c > 1 && !proven.iter().any(|&(p, _)| p == c) {
                        proven.push((c, exclusive));
                    }
                    queue.extend(sys::children_of(c));
                }
            }
            return Seen { proven, busy: None };
        }
    }
    let mut proven: Vec<(u32, bool)> = Vec::new();
    // Lockers whose lock a recorded holder holds on its own fd: the same lock, not another holder
    // (`pid-guard run` hands its fd to the command; the table still names the wrapper).
    let mut covered: Vec<u32> = Vec::new();
    for (pid, fd) in shared.iter().filter_map(|(_, h)| recorded_fd(h)) {
        if let (Holds::Yes { exclusive }, locker) = sys::fd_holds_and_locker(pid, fd, id) {
            proven.push((pid, exclusive));
            covered.extend(locker);
        }
    }
    let mut explained = !proven.is_empty();
    if let Some(table) = sys::lock_table(id) {
        for k in table {
            if proven.iter().any(|&(p, _)| p == k.pid) || covered.contains(&k.pid) {
                continue;
            }
            match sys::pid_holds(k.pid, id) {
                Holds::Yes { exclusive } if k.pid > 1 => {
                    proven.push((k.pid, exclusive));
                    explained = true;
                }
                _ => explained = false,
            }
        }
    }
    if explained {
        return Seen { proven, busy: None };
    }
    let busy = flock::probe(f);
    if busy != flock::Busy::Free {
        for (pid, ex) in sys::scan_lock_holders(id).holders {
            if !proven.iter().any(|&(p, _)| p == pid) && !covered.contains(&pid) {
                proven.push((pid, ex));
            }
        }
    } else {
        proven.clear();
    }
    Seen {
        proven,
        busy: Some(busy),
    }
}

fn owner_of(m: Option<&std::fs::Metadata>) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.map(|m| m.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// The whole picture of one guard. Also used to describe the holder in an `ELOCKED` error.
pub fn inspect(l: &Layout) -> Result<Status> {
    let lock_file = l
        .root()?
        .open_read(&l.lock)
        .map_err(|e| Error::io(&e, "open the lock file", &l.lock))?;
    let lock_meta = lock_file.as_ref().and_then(|f| f.metadata().ok());
    let lock_owner = owner_of(lock_meta.as_ref());
    // From the fstat just made; off Unix there is no (dev, inode) to match a lock table with.
    #[cfg(unix)]
    let lock_id = lock_meta.as_ref().map(fsio::id_of);
    #[cfg(not(unix))]
    let lock_id: Option<fsio::FileId> = None;
    let lock_content = match &lock_file {
        Some(f) => Some(
            fsio::read_start(f, record::MAX_RECORD_BYTES, None)
                .map_err(|e| Error::io(&e, "read the lock file", &l.lock))?,
        ),
        None => None,
    };

    let mut files = read_files(l, None, lock_content)?;
    let (shared, shared_problem) = match open_shared(l) {
        Ok(Some(d)) => (read_shared_in(l, &d), None),
        Ok(None) => (Vec::new(), None),
        // Not ours to read (a link, another user's directory): ignored, and said.
        Err(e) => (Vec::new(), Some(Problem::from(e))),
    };
    // Probed once (it reads /proc/PID/stat); again only if the files are read again below.
    let mut candidate = files.candidate(l);

    // No lock file: nothing can hold the lock.
    let seen = match &lock_file {
        Some(f) => who_holds(f, lock_id, candidate.as_ref(), &shared),
        None => Seen {
            proven: Vec::new(),
            busy: Some(flock::Busy::Free),
        },
    };
    drop(lock_file);

    let mut st = empty_status(l);
    st.marker_key = lock_id.map(|id| marker::key(Some(id), &l.lock));
    st.detection = match seen.busy {
        _ if !seen.proven.is_empty() => "kernel",
        Some(flock::Busy::Unknown) => "process",
        Some(_) => "lock",
        None => "kernel",
    };

    let held_mode = if !seen.proven.is_empty() {
        Some(Some(if seen.proven.iter().any(|&(_, ex)| ex) {
            Mode::Exclusive
        } else {
            Mode::Shared
        }))
    } else {
        match seen.busy {
            Some(flock::Busy::Held(m)) => Some(m),
            _ => None,
        }
    };

    // A holder writes its pid file just after winning the lock: while the lock is held, an
    // empty or missing pid file is retried briefly (as FreeBSD's pidfile(3) does).
    if held_mode == Some(Some(Mode::Exclusive)) {
        for _ in 0..20 {
            let torn = files.record_exists && files.record.is_none();
            if matches!(files.pid_content, Some(Content::Valid { .. })) && !torn {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            files = read_files(l, None, None)?;
            candidate = files.candidate(l);
        }
    }
    st.problem = shared_problem;
    st.pid_file = files.pid_file.clone();

    let Some(mode) = held_mode else {
        if seen.busy == Some(flock::Busy::Unknown) {
            // The lock could not even be tried: only a process that is who it recorded is
            // believed, and it is still not proven (never signalled on this evidence).
            if let Some(h) = candidate.clone().filter(|h| h.alive && h.matches_record) {
                st.state = State::Held;
                st.mode = h.mode;
                st.holders.push(h);
                return Ok(st);
            }
        }
        stale(&mut st, &files, candidate, &shared, lock_owner);
        return Ok(st);
    };
    st.state = State::Held;
    st.mode = mode;
    if !sys::ENVIRON {
        // Neither earlier holders' orphans nor this holder's strays can be looked for.
        st.orphans_unknown = Some(sys::no_environ());
    }
    if !seen.proven.is_empty() {
        let mut proven = seen.proven.clone();
        // The recorded holder first (what `kill $(cat pidfile)` would reach), then by pid.
        let first = candidate.as_ref().and_then(|h| h.pid);
        proven.sort_by_key(|&(p, _)| (Some(p) != first, p));
        for (pid, ex) in proven {
            // A candidate already examined is reused (no second probe of the process).
            let known = match (&candidate, shared.iter().find(|(p, _)| *p == pid)) {
                (Some(h), _) if h.pid == Some(pid) => Some(h.clone()),
                (_, Some((_, h))) => Some(h.clone()),
                _ => None,
            };
            st.holders.push(match known {
                Some(h) if !h.other_ns => h.into_proven(ex),
                _ => Holder::proven(pid, ex, None, "kernel", None),
            });
        }
        // Orphans of earlier holders the record still carries (a restart found them).
        if let (Some(key), Some(rec)) = (&st.marker_key, &files.record) {
            if !rec.previous.is_empty() {
                let live: Vec<u32> = st.holders.iter().filter_map(|h| h.pid).collect();
                let found = orphans_of(key, rec, false, &live, lock_owner);
                set_orphans(&mut st, found);
            }
        }
        return Ok(st);
    }
    // Held, and no process here shows it. Where there is no /proc to prove it, a live process
    // that is who it recorded (pid, start time, boot) is the holder; on Linux nobody is named.
    if !sys::LOCK_TABLE {
        let mut named: Vec<Holder> = candidate
            .into_iter()
            .chain(shared.iter().map(|(_, h)| h.clone()))
            .filter(|h| h.alive && h.matches_record && !h.other_ns)
            .collect();
        for h in &mut named {
            h.verified = true;
        }
        if !named.is_empty() {
            st.holders = named;
            return Ok(st);
        }
    }
    if let Some(why) = sys::foreign_proc() {
        // The holder may well be visible, but under numbers that are not ours: unknown.
        st.problem.get_or_insert(Problem {
            code: crate::error::Code::NotVerified,
            message: why.to_string(),
            path: Some(PathBuf::from("/proc")),
        });
    }
    st.holders.push(Holder::unseen(mode, lock_owner));
    Ok(st)
}

fn stale(
    st: &mut Status,
    files: &Files,
    candidate: Option<Holder>,
    shared: &[(u32, Holder)],
    lock_owner: Option<u32>,
) {
    // A holder that died (its pid file is still there) or earlier ones the record carries:
    // what they started and left running. A holder that released cleanly is not asked: what
    // it left running, it left on purpose.
    if let (Some(key), Some(rec)) = (&st.marker_key, &files.record) {
        if files.any() || !rec.previous.is_empty() {
            let found = orphans_of(key, rec, files.any(), &[], lock_owner);
            set_orphans(st, found);
        }
    }
    if !files.any() && shared.is_empty() && st.orphans.is_empty() {
        return;
    }
    if !sys::ENVIRON && files.any() {
        // A holder that is gone may have left processes running: this OS cannot say.
        st.orphans_unknown = Some(sys::no_environ());
    }
    let mut reasons = Vec::new();
    if let Some(p) = &files.pid_file.problem {
        reasons.push(p.clone());
    }
    if let Some(h) = candidate {
        if files.any() {
            reasons.push(h.stale_reason());
        }
        st.holders.push(h);
    } else if files.record_exists && files.record.is_none() {
        reasons.push("the record is unreadable".into());
    }
    for (_, h) in shared {
        reasons.push(format!("shared holder: {}", h.stale_reason()));
        st.holders.push(h.clone());
    }
    st.state = State::Stale;
    if let Some(owner) = files.record.as_ref().and_then(port_owner) {
        // Whether the port's owner carries the holder's marker cannot always be read (another
        // user's process as non-root): that is unknown, said, and never acted on.
        if let (Some(pid), Some(key)) = (owner.pid, &st.marker_key) {
            if !st.orphans.iter().any(|o| o.pid == pid) {
                if let marker::Read::Unknown(why) = marker::read(pid, key) {
                    reasons.push(format!(
                        "port {} is served by pid {pid}, but {why}, so whether the holder started it is unknown",
                        owner.port
                    ));
                }
            }
        }
        st.port_owner = Some(owner);
    }
    if !st.orphans.is_empty() {
        st.state = State::Orphaned;
        let list: Vec<String> = st.orphans.iter().map(describe_marked).collect();
        reasons.push(format!(
            "the holder is gone, but {} it started (carrying its marker) {} still running: {}",
            if list.len() == 1 {
                "a process"
            } else {
                "processes"
            },
            if list.len() == 1 { "is" } else { "are" },
            list.join("; ")
        ));
    }
    if let Some(why) = &st.orphans_unknown {
        reasons.push(format!(
            "whether processes it started still run is unknown: {why}"
        ));
    }
    st.stale_reason = Some(if reasons.is_empty() {
        "files are left over from a holder that is gone".into()
    } else {
        reasons.join("; ")
    });
}

#[cfg(test)]
mod orphan_line_tests {
    use super::*;

    fn marked(ports: Option<Vec<u16>>, problem: Option<&str>) -> Marked {
        Marked {
            pid: 12,
            start_id: Some("1".into()),
            started_at: None,
            uid: Some(1000),
            exe: Some("/usr/bin/node".into()),
            cmdline: Some(vec!["node".into(), "server.js".into()]),
            mark: Mark {
                pid: 11,
                start_id: "1".into(),
            },
            ports,
            verified: problem.is_none(),
            problem: problem.map(str::to_string),
        }
    }

    #[test]
    fn an_orphan_line_names_pid_command_ports_and_what_to_do() {
        assert_eq!(
            orphan_line(&marked(Some(vec![8080, 9090]), None), "web"),
            "orphan: pid 12 (node server.js), port 8080, 9090; stop it with `pid-guard stop web`"
        );
        assert_eq!(
            orphan_line(&marked(None, Some("pid 12 runs as uid 0")), "web"),
            "orphan: pid 12 (node server.js), sockets unknown; not verified, not signalled: pid 12 runs as uid 0"
        );
        let mut m = marked(Some(vec![]), None);
        m.cmdline = Some(vec![]);
        m.exe = None;
        assert_eq!(
            orphan_line(&m, "web"),
            "orphan: pid 12 (command unknown); stop it with `pid-guard stop web`"
        );
    }
}
