//! `prune`: removes what free and stale guards left in the directory (old lock files, pid files of
//! holders that are gone, empty shared directories), never the files of a held or orphaned guard.
//!
//! Each guard is pruned the way an acquirer recovers it: the lock is taken without blocking on
//! the lock file itself (a holder, a waiter that just won, or a `run` child keeps it busy, and
//! the guard is kept), the stale pid file and shared holders' files are removed by the same code
//! acquire uses, and the lock file is unlinked while still locked, then closed (as FreeBSD's
//! pidfile_remove does). An acquirer that opened the old lock file meanwhile finds, after
//! locking, that the path no longer names it and opens the new one: nobody ends up holding a lock
//! on a deleted file.

use crate::error::{Error, Result};
use crate::flock::{self, LockError};
use crate::guard;
use crate::layout::Layout;
use crate::mode::Mode;
use crate::status::{self, State, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub name: String,
    /// What `status` said before: `free` (only the last holder's lock file) or `stale`.
    pub state: State,
    pub removed: Vec<PathBuf>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    pub name: String,
    pub state: State,
    /// One sentence: why its files stay.
    pub reason: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub name: String,
    pub error: Error,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub dir: PathBuf,
    pub removed: Vec<Pruned>,
    pub kept: Vec<Kept>,
    pub errors: Vec<Failed>,
}

/// Why a guard's files must stay, judged from its status; `None` when they may go.
pub fn keep_reason(st: &Status) -> Option<String> {
    let pids = |st: &Status| {
        let p: Vec<String> = st
            .holders
            .iter()
            .map(|h| h.pid.map_or("unknown".into(), |p| p.to_string()))
            .collect();
        if p.is_empty() {
            "unknown".into()
        } else {
            p.join(", ")
        }
    };
    match st.state {
        State::Held => Some(format!("held by pid {}", pids(st))),
        State::Orphaned => Some(if st.orphans.is_empty() {
            "orphaned: something its holder started still runs".into()
        } else {
            format!(
                "orphaned: its holder is gone, but {} it started still runs (the record is the evidence; `pid-guard stop {}` stops it)",
                st.orphans
                    .iter()
                    .map(crate::status::describe_marked)
                    .collect::<Vec<_>>()
                    .join("; "),
                st.name
            )
        }),
        State::Stale => st.port_owner.as_ref().map(|o| {
            format!(
                "its recorded port {} is listened on by pid {} (perhaps a server its holder left running); see `pid-guard status {}`",
                o.port,
                o.pid.map_or("unknown".into(), |p| p.to_string()),
                st.name
            )
        }),
        State::Unsafe => Some(match &st.problem {
            Some(p) => format!(
                "something at its paths is not trusted: {}",
                p.message.trim_start_matches("pid-guard: ")
            ),
            None => "something at its paths is not trusted".into(),
        }),
        State::Free => None,
    }
}

enum Outcome {
    Removed(Vec<PathBuf>),
    /// Someone holds the lock after all (took it since the status was read).
    Busy,
    /// The lock file was replaced while we locked it (another holder's release or a prune).
    Replaced,
}

fn prune_one(l: &Layout) -> Result<Outcome> {
    let f = guard::open_lock(l)?;
    match flock::try_lock(&f, Mode::Exclusive) {
        Ok(()) => {}
        Err(LockError::WouldBlock) => return Ok(Outcome::Busy),
        Err(LockError::Io(e)) => return Err(Error::io(&e, "lock", &l.lock)),
    }
    let check = guard::check_lock(&f, l, crate::mode::Mode::Exclusive)?;
    if !check.names {
        return Ok(Outcome::Replaced);
    }
    // Held exclusively by us: whatever the files name is gone, exactly as for an acquirer.
    let content = guard::read_lock_content(&f, l, check.size)?;
    let mut recovered = Vec::new();
    guard::recover_exclusive(l, &f, content, false, &mut recovered)?;
    let root = l.root()?;
    // As for an acquirer, through the checked directory fd: a link or another user's directory
    // at `N.shared` is never followed (it stays, and so does the lock file).
    match status::open_shared(l) {
        Ok(Some(d)) => {
            guard::recover_shared(l, &d, &mut recovered, false)?;
            let _ = root.remove_dir(&l.shared_dir);
        }
        Ok(None) => {}
        Err(e) => crate::log::debug(format_args!("prune {}: ignored: {e}", l.name)),
    }
    let mut removed: Vec<PathBuf> = recovered.into_iter().flat_map(|r| r.removed).collect();
    let no_shared = matches!(root.lstat(&l.shared_dir), Ok(None));
    // Unlinked while locked, closed after; only a file of ours (one link, our owner).
    if no_shared
        && root
            .remove_ours(&l.lock)
            .map_err(|e| Error::io(&e, "remove", &l.lock))?
    {
        removed.push(l.lock.clone());
    }
    drop(f);
    Ok(Outcome::Removed(removed))
}

/// Prunes every guard in `dir` (the default directory when `None`).
pub fn prune(dir: Option<&Path>) -> Result<Report> {
    let (dir, root) = crate::dir::existing(dir)?;
    let mut report = Report {
        dir: dir.clone(),
        removed: Vec::new(),
        kept: Vec::new(),
        errors: Vec::new(),
    };
    let Some(root) = root else {
        return Ok(report);
    };
    for st in status::list(Some(&dir))? {
        if let Some(reason) = keep_reason(&st) {
            report.kept.push(Kept {
                name: st.name,
                state: st.state,
                reason,
            });
            continue;
        }
        let l = Layout::in_dir(root.clone(), &st.name);
        match prune_one(&l) {
            Ok(Outcome::Removed(removed)) => report.removed.push(Pruned {
                name: st.name,
                state: st.state,
                removed,
            }),
            Ok(Outcome::Busy) => report.kept.push(Kept {
                name: st.name,
                state: State::Held,
                reason: "taken by another process while pruning".into(),
            }),
            Ok(Outcome::Replaced) => report.kept.push(Kept {
                name: st.name,
                state: st.state,
                reason: "its lock file was replaced while pruning (another holder came and went); run prune again".into(),
            }),
            Err(error) => report.errors.push(Failed {
                name: st.name,
                error,
            }),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{acquire, AcquireOptions};

    #[test]
    fn removes_a_released_guard_and_keeps_a_held_one() {
        let d = std::env::temp_dir().join(format!("pg-prune-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let o = AcquireOptions {
            dir: Some(&d),
            mode: Mode::Exclusive,
            meta: serde_json::json!({}),
        };
        let mut gone = acquire("gone", &o).unwrap();
        gone.release().unwrap();
        let held = acquire("held", &o).unwrap();
        let r = prune(Some(&d)).unwrap();
        assert_eq!(r.removed.len(), 1, "{r:?}");
        assert_eq!(r.removed[0].name, "gone");
        assert_eq!(r.removed[0].removed, vec![d.join("gone.lock")]);
        assert_eq!(r.kept.len(), 1);
        assert_eq!(r.kept[0].name, "held");
        assert!(d.join("held.lock").exists() && d.join("held.pid").exists());
        assert!(!d.join("gone.lock").exists());
        drop(held);
        let _ = std::fs::remove_dir_all(&d);
    }
}
