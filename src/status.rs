//! `status` and `list`: who holds a guard, read without taking the lock and without creating,
//! truncating or deleting anything. On Linux the kernel's lock table is the truth for "held";
//! elsewhere a recorded holder that is alive with a matching start time counts as holding.

use crate::error::{Error, Result};
use crate::fsio;
use crate::holder::Holder;
use crate::kernel_locks;
use crate::layout::{self, Layout};
use crate::marker::{self, Mark, Marked};
use crate::mode::Mode;
use crate::pidfile::{self, Content};
use crate::record::{self, Record};
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
    let port = record
        .meta
        .get("port")?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())?;
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
    let (path, root) = crate::dir::existing(dir)?;
    match root {
        Some(root) => inspect(&Layout::in_dir(root, name)),
        None => Ok(empty_status(&Layout::new(&path, name))),
    }
}

pub fn list(dir: Option<&Path>) -> Result<Vec<Status>> {
    let (_, Some(root)) = crate::dir::existing(dir)? else {
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
        detection: detection_method(None),
        port_owner: None,
        problem: None,
        orphans: Vec::new(),
        marker_key: None,
    }
}

/// The marks whose orphans are looked for in `rec`: its holder's when that holder is gone
/// (`dead`), and every earlier holder it carries; only from this boot.
fn orphan_marks(rec: &Record, dead: bool) -> Vec<(Mark, Option<u32>)> {
    let mut out = Vec::new();
    if dead && crate::identity::same_boot(&rec.boot_id, crate::identity::boot_id()) {
        if let Some(m) = rec.holder_mark() {
            // Gone: neither the process its children's marker names (under `run`, the
            // wrapper) nor the recorded holder (the command) is still that process.
            let recorded_alive = m.pid != rec.pid
                && rec.start_id.as_deref().is_some_and(|s| {
                    marker::holder_alive(&Mark {
                        pid: rec.pid,
                        start_id: s.to_string(),
                    })
                });
            let gone = !marker::holder_alive(&m) && !recorded_alive;
            if gone {
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
/// holder of `rec` that is gone, never one in `exclude` (ourselves, a live holder).
pub fn orphans_of(key: &str, rec: &Record, dead: bool, exclude: &[u32]) -> Vec<Marked> {
    let marks = orphan_marks(rec, dead);
    if marks.is_empty() {
        return Vec::new();
    }
    marker::scan(key)
        .into_iter()
        .filter(|(pid, _)| !exclude.contains(pid))
        .filter_map(|(pid, m)| {
            let (_, uid) = marks.iter().find(|(x, _)| *x == m)?;
            Some(marker::describe(pid, m, *uid))
        })
        .collect()
}

/// "pid 123 (node server.js, serving port 8080)".
pub fn describe_marked(o: &Marked) -> String {
    let cmd = o
        .cmdline
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| c.join(" "))
        .or(o.exe.clone())
        .unwrap_or_else(|| "command unknown".into());
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
/// (reparented: a leaked session). Empty when the guard is not held.
pub fn strays(name: &str, dir: Option<&Path>) -> Result<Vec<Marked>> {
    let st = status(name, dir)?;
    let Some(key) = st.marker_key.as_deref() else {
        return Ok(Vec::new());
    };
    if st.state != State::Held {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for h in st.holders.iter().filter(|h| h.alive && h.verified) {
        let (Some(pid), Some(rec)) = (h.pid, h.record.as_ref()) else {
            continue;
        };
        let Some(mark) = rec.holder_mark() else {
            continue;
        };
        for (p, m) in marker::scan(key) {
            if m == mark
                && p != pid
                && !marker::descends_from(p, pid)
                && !marker::descends_from(p, mark.pid)
            {
                out.push(marker::describe(p, m, rec.uid));
            }
        }
    }
    Ok(out)
}

fn detection_method(kernel: Option<&Vec<kernel_locks::KernelLock>>) -> &'static str {
    if kernel.is_some() {
        "kernel"
    } else {
        "process"
    }
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

/// The whole picture of one guard. Also used to describe the holder in an `ELOCKED` error.
pub fn inspect(l: &Layout) -> Result<Status> {
    let lock_file = l
        .root()?
        .open_read(&l.lock)
        .map_err(|e| Error::io(&e, "open the lock file", &l.lock))?;
    let lock_id = lock_file
        .as_ref()
        .and_then(|f| fsio::file_id(f).ok())
        .map(|(id, _)| id);
    let lock_content = match &lock_file {
        Some(f) => Some(
            fsio::read_start(f, record::MAX_RECORD_BYTES, None)
                .map_err(|e| Error::io(&e, "read the lock file", &l.lock))?,
        ),
        None => None,
    };
    drop(lock_file);

    let mut files = read_files(l, None, lock_content)?;
    let (shared, shared_problem) = match open_shared(l) {
        Ok(Some(d)) => (read_shared_in(l, &d), None),
        Ok(None) => (Vec::new(), None),
        // Not ours to read (a link, another user's directory): ignored, and said.
        Err(e) => (Vec::new(), Some(Problem::from(e))),
    };
    // Probed once (it reads /proc/PID/stat); again only if the files are read again below.
    let mut candidate = files.candidate(l);

    // Fast path: an exclusive holder that is who it recorded, and whose recorded lock fd holds
    // the lock on this very file, settles it without reading the system-wide table.
    let proven = lock_id.and_then(|id| {
        let h = candidate.as_ref().filter(|h| h.alive && h.verified)?;
        let (pid, fd) = (h.pid?, h.record.as_ref()?.lock_fd?);
        let locks = kernel_locks::held_by_fd(pid, fd, id)?;
        locks.iter().any(|k| k.exclusive).then(|| {
            vec![kernel_locks::KernelLock {
                pid,
                exclusive: true,
            }]
        })
    });
    let kernel = match (proven, lock_id) {
        (Some(k), _) => Some(k),
        (None, Some(id)) => kernel_locks::holders(id),
        // No lock file: nothing can hold the lock (where the OS has a lock table to say so).
        (None, None) => kernel_locks::AVAILABLE.then(Vec::new),
    };

    // A recorded holder that is alive and verified but missing from the table: ask its own
    // fdinfo, which is exact (the table may have been read while other locks churned).
    let mut kernel = kernel;
    if let (Some(k), Some(id)) = (kernel.as_mut(), lock_id) {
        let mut confirm = |h: &Holder| {
            if let Some(pid) = h.pid.filter(|_| h.alive && h.verified) {
                if !k.iter().any(|x| x.pid == pid) {
                    if let Some(found) = kernel_locks::held_by(pid, id) {
                        k.extend(found.into_iter().map(|mut x| {
                            x.pid = pid;
                            x
                        }));
                    }
                }
            }
        };
        if let Some(h) = &candidate {
            confirm(h);
        }
        for (_, h) in &shared {
            confirm(h);
        }
    }

    let kernel_held = kernel.as_ref().map(|k| !k.is_empty());
    let kernel_exclusive = kernel
        .as_ref()
        .is_some_and(|k| k.iter().any(|h| h.exclusive));

    // A holder writes its pid file just after winning the lock: while the lock is held, an
    // empty or missing pid file is retried briefly (as FreeBSD's pidfile(3) does).
    if kernel_exclusive {
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

    let mut st = empty_status(l);
    st.marker_key = lock_id.map(|id| marker::key(Some(id), &l.lock));
    st.problem = shared_problem;
    st.detection = detection_method(kernel.as_ref());
    st.pid_file = files.pid_file.clone();

    let exclusive_candidate = candidate;
    let held_by_record = |h: &Holder| h.alive && (h.verified || h.record.is_none());

    match (&kernel, kernel_held) {
        (Some(k), Some(true)) => {
            st.state = State::Held;
            if kernel_exclusive {
                st.mode = Some(Mode::Exclusive);
                let kpid = k.iter().find(|h| h.exclusive).map(|h| h.pid).unwrap_or(0);
                let holder = match exclusive_candidate {
                    // The recorded holder is alive and is who it says: believe the files (under
                    // `run` the command holds an inherited lock the kernel lists under its parent).
                    Some(h) if h.verified || h.pid == Some(kpid) => h,
                    _ if kpid > 1 => Holder::examine(kpid, None, "kernel", None),
                    Some(h) => h,
                    None => unknown_holder(Mode::Exclusive),
                };
                if let (Some(key), Some(rec)) = (&st.marker_key, &holder.record) {
                    if !rec.previous.is_empty() {
                        st.orphans = orphans_of(key, rec, false, &[kpid]);
                    }
                }
                st.holders.push(with_mode(holder, Mode::Exclusive));
            } else {
                st.mode = Some(Mode::Shared);
                for kl in k {
                    let holder = match shared.iter().find(|(p, _)| *p == kl.pid) {
                        Some((_, h)) => h.clone(),
                        None if kl.pid > 1 => Holder::examine(kl.pid, None, "kernel", None),
                        None => unknown_holder(Mode::Shared),
                    };
                    st.holders.push(with_mode(holder, Mode::Shared));
                }
            }
        }
        (Some(_), _) => {
            // Free in the kernel's eyes: whatever files exist are stale.
            stale(&mut st, &files, exclusive_candidate, &shared);
        }
        (None, _) => {
            let live_shared: Vec<Holder> = shared
                .iter()
                .map(|(_, h)| h.clone())
                .filter(held_by_record)
                .collect();
            match exclusive_candidate {
                Some(h) if held_by_record(&h) => {
                    st.state = State::Held;
                    st.mode = Some(Mode::Exclusive);
                    st.holders.push(with_mode(h, Mode::Exclusive));
                }
                c if !live_shared.is_empty() => {
                    let _ = c;
                    st.state = State::Held;
                    st.mode = Some(Mode::Shared);
                    st.holders = live_shared
                        .into_iter()
                        .map(|h| with_mode(h, Mode::Shared))
                        .collect();
                }
                c => stale(&mut st, &files, c, &shared),
            }
        }
    }
    Ok(st)
}

fn with_mode(mut h: Holder, mode: Mode) -> Holder {
    h.mode = Some(mode);
    h
}

fn unknown_holder(mode: Mode) -> Holder {
    Holder {
        pid: None,
        mode: Some(mode),
        alive: true,
        verified: false,
        started_at: None,
        pid_path: None,
        record: None,
        source: "kernel",
    }
}

fn stale(st: &mut Status, files: &Files, candidate: Option<Holder>, shared: &[(u32, Holder)]) {
    // A holder that died (its pid file is still there) or earlier ones the record carries:
    // what they started and left running. A holder that released cleanly is not asked: what
    // it left running, it left on purpose.
    if let (Some(key), Some(rec)) = (&st.marker_key, &files.record) {
        if files.any() || !rec.previous.is_empty() {
            st.orphans = orphans_of(key, rec, files.any(), &[]);
        }
    }
    if !files.any() && shared.is_empty() && st.orphans.is_empty() {
        return;
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
    st.stale_reason = Some(if reasons.is_empty() {
        "files are left over from a holder that is gone".into()
    } else {
        reasons.join("; ")
    });
}
