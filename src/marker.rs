//! The holder's marker: an environment variable every child a holder spawns after acquiring
//! inherits, so what the holder started can be told apart from everything else after it is
//! reparented (the holder killed, the child left serving its port), without trusting command
//! lines.
//!
//! One variable per guard: `PID_GUARD_HOLDER_<16 hex>` where the hex is a hash of the lock
//! file's (device, inode) (the lock file stays between holders, so every holder of one guard
//! uses the same name however the directory was spelled; off Unix, of the lock file's path).
//! Several guards in one process use several variables. Its value is
//! `pid=<holder pid> start=<holder start id> guard=<lock file path>`: the pid and start id
//! (no spaces in either) say which holder; the path (last, may hold spaces) is for people.
//!
//! Rules: acquire sets it in the holder process (the JS layer through `process.env`, so
//! `child_process` spawns inherit it; `pid-guard run` passes it to the command); a process that
//! acquires a guard whose marker it inherited overwrites it with its own (it adopts its
//! children-to-be); release removes it when it is still this guard's, so later children are not
//! marked. Only the environment a process was started with shows it: `/proc/PID/environ` on
//! Linux, `KERN_PROCARGS2` on macOS (read through [`crate::sys::environ`]); elsewhere the scan is
//! unknown ([`scan`] says why), never "no orphans".

use crate::fsio::FileId;
use crate::identity::{self, Probe};
use serde::Serialize;
use std::path::Path;

pub const PREFIX: &str = "PID_GUARD_HOLDER_";

/// The holder a marker names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    pub pid: u32,
    pub start_id: String,
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The variable's name for the guard whose lock file is `id` (or, without one, `lock_path`).
pub fn key(id: Option<FileId>, lock_path: &Path) -> String {
    let h = match id {
        Some(id) => fnv(format!("{}:{}", id.dev, id.ino).as_bytes()),
        None => fnv(lock_path.to_string_lossy().as_bytes()),
    };
    format!("{PREFIX}{h:016x}")
}

pub fn value(mark: &Mark, lock_path: &Path) -> String {
    format!(
        "pid={} start={} guard={}",
        mark.pid,
        mark.start_id,
        lock_path.display()
    )
}

/// The holder a marker value names; `None` for anything that is not exactly our format.
pub fn parse(v: &str) -> Option<Mark> {
    let rest = v.strip_prefix("pid=")?;
    let (pid, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("start=")?;
    let (start, rest) = rest.split_once(' ')?;
    rest.strip_prefix("guard=")?;
    let n: u32 = pid.parse().ok().filter(|&p| p > 0)?;
    if start.is_empty() || n.to_string() != pid {
        return None;
    }
    Some(Mark {
        pid: n,
        start_id: start.to_string(),
    })
}

/// The value of `key` in a raw `environ` block (NUL-separated `K=V`).
pub fn find_in_environ<'a>(environ: &'a [u8], key: &str) -> Option<&'a [u8]> {
    environ.split(|&b| b == 0).find_map(|kv| {
        kv.strip_prefix(key.as_bytes())
            .and_then(|r| r.strip_prefix(b"="))
    })
}

/// What reading one process's marker gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// It carries no marker for this guard (or is gone).
    None,
    Marked(Mark),
    /// Its environment cannot be read (another user's process; not Linux): unknown.
    Unknown(String),
}

/// Reads `pid`'s marker for `key` from its environment.
pub fn read(pid: u32, key: &str) -> Read {
    match crate::sys::environ(pid) {
        crate::sys::Environ::Read(env) => match find_in_environ(&env, key) {
            Some(v) => match std::str::from_utf8(v).ok().and_then(parse) {
                Some(m) => Read::Marked(m),
                None => Read::None,
            },
            None => Read::None,
        },
        crate::sys::Environ::Gone => Read::None,
        crate::sys::Environ::Unknown(why) => Read::Unknown(why),
    }
}

/// A process carrying a guard's marker.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marked {
    pub pid: u32,
    /// Its own start id, read from /proc now (`None`: unreadable).
    pub start_id: Option<String>,
    pub started_at: Option<u64>,
    pub uid: Option<u32>,
    pub exe: Option<String>,
    pub cmdline: Option<Vec<String>>,
    /// The holder its marker names.
    pub mark: Mark,
    /// TCP ports it listens on (`None`: its sockets cannot be read).
    pub ports: Option<Vec<u16>>,
    /// Proven to be what the named holder started and safe to signal: same uid as the holder,
    /// in our PID namespace, its identity read now. Otherwise `problem` says why not.
    pub verified: bool,
    pub problem: Option<String>,
}

/// Every process (but this one) whose environment carries `key`. Unreadable environments
/// (another user's processes) are skipped: a caller that needs to know about one process asks
/// [`read`]. `Err`: this OS cannot list processes or read their environments, so whether any
/// carries the marker is unknown (the reason, for people).
pub fn scan(key: &str) -> Result<Vec<(u32, Mark)>, String> {
    if !crate::sys::ENVIRON {
        return Err(crate::sys::no_environ());
    }
    let me = std::process::id();
    let mut out: Vec<(u32, Mark)> = crate::sys::all_pids()?
        .into_iter()
        .filter(|&p| p > 1 && p != me)
        .filter_map(|p| match read(p, key) {
            Read::Marked(m) => Some((p, m)),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(p, _)| *p);
    Ok(out)
}

/// Describes marked process `pid` and decides whether it may be signalled as the holder's:
/// its uid must be `holder_uid` (a marker is only an environment variable: another user could
/// copy it), it must be in our PID namespace and its identity readable now.
pub fn describe(pid: u32, mark: Mark, holder_uid: Option<u32>) -> Marked {
    let (start_id, started_at) = match identity::probe(pid) {
        Probe::Alive(Some(id)) => (Some(id.start_id), id.started_at_ms),
        _ => (None, None),
    };
    let uid = identity::uid_of(pid);
    let (exe, cmdline) = identity::command_of(pid);
    let ports = crate::health::ports::listening(pid).ok().map(|l| {
        let mut p: Vec<u16> = l.iter().map(|x| x.port).collect();
        p.sort_unstable();
        p.dedup();
        p
    });
    let problem = if start_id.is_none() {
        Some(format!(
            "the start time of pid {pid} cannot be read, so it cannot be verified"
        ))
    } else if crate::sys::same_pid_ns(pid) != Some(true) {
        Some(format!(
            "pid {pid} is in another PID namespace (or its namespace cannot be read): unknown, not signalled"
        ))
    } else if holder_uid.is_none() || uid.is_none() {
        Some(format!(
            "the owner of pid {pid} or of the holder is unknown, so it cannot be verified"
        ))
    } else if uid != holder_uid {
        Some(format!(
            "pid {pid} runs as uid {}, not as the holder's uid {}: its marker is unverifiable (anyone can copy an environment variable), so it is not signalled; stop it as that user",
            uid.unwrap_or(0),
            holder_uid.unwrap_or(0)
        ))
    } else {
        None
    };
    Marked {
        pid,
        start_id,
        started_at,
        uid,
        exe,
        cmdline,
        mark,
        ports,
        verified: problem.is_none(),
        problem,
    }
}

/// Pins a verified marked process (pidfd, start id) and proves again, with it pinned, that it
/// still carries `key` naming the same holder and runs as the same user. The error says why not.
pub fn pin(o: &Marked, key: &str) -> Result<crate::signal::Verified, String> {
    if !o.verified {
        return Err(o
            .problem
            .clone()
            .unwrap_or_else(|| format!("pid {} is not verified", o.pid)));
    }
    let v = crate::signal::verify(o.pid, o.start_id.as_deref())?;
    if read(o.pid, key) != Read::Marked(o.mark.clone()) || identity::uid_of(o.pid) != o.uid {
        return Err(format!(
            "pid {} changed (its marker or user) while being checked; not signalled",
            o.pid
        ));
    }
    Ok(v)
}

/// Whether `pid` descends from `ancestor`, following parent links ([`crate::sys::parent_of`]);
/// a parent that cannot be read ends the walk (not a descendant).
pub fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut p = pid;
    for _ in 0..4096 {
        if p == ancestor {
            return true;
        }
        if p <= 1 {
            return false;
        }
        match crate::sys::parent_of(p) {
            Some(pp) => p = pp,
            None => return false,
        }
    }
    false
}

/// Whether the holder a mark names is still that process.
pub fn holder_alive(m: &Mark) -> bool {
    matches!(identity::probe(m.pid), Probe::Alive(Some(id)) if id.start_id == m.start_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_roundtrip_and_garbage_is_refused() {
        let m = Mark {
            pid: 4242,
            start_id: "linux-ticks:98765".into(),
        };
        let v = value(&m, Path::new("/tmp/a b/web.lock"));
        assert_eq!(
            v,
            "pid=4242 start=linux-ticks:98765 guard=/tmp/a b/web.lock"
        );
        assert_eq!(parse(&v), Some(m));
        for bad in [
            "",
            "pid=0 start=x guard=/a",
            "pid=01 start=x guard=/a",
            "pid=+1 start=x guard=/a",
            "pid=1 start= guard=/a",
            "pid=1 start=x",
            "pid=1 guard=/a",
            "pid=99999999999 start=x guard=/a",
            "start=x pid=1 guard=/a",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_differ_per_lock_file_and_environ_is_searched_exactly() {
        let a = key(Some(FileId { dev: 1, ino: 2 }), Path::new("/x"));
        let b = key(Some(FileId { dev: 1, ino: 3 }), Path::new("/x"));
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 16);
        let env = format!("A=1\0{a}X=no\0{a}=yes\0B=2\0");
        assert_eq!(find_in_environ(env.as_bytes(), &a), Some(&b"yes"[..]));
        assert_eq!(find_in_environ(env.as_bytes(), &b), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_inherits_the_marker_and_is_found_by_the_scan() {
        let m = Mark {
            pid: std::process::id(),
            start_id: identity::me().identity.clone().unwrap().start_id,
        };
        let k = key(None, Path::new("/marker-test/a.lock"));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(&k, value(&m, Path::new("/marker-test/a.lock")))
            .spawn()
            .unwrap();
        // The parent of a vfork-style spawn resumes before the kernel has laid out the child's
        // new environment: poll until it is readable.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = scan(&k).unwrap();
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
            found = scan(&k).unwrap();
        }
        assert_eq!(found, vec![(child.id(), m.clone())]);
        let d = describe(child.id(), m.clone(), identity::current_uid());
        assert!(d.verified, "{d:?}");
        assert!(descends_from(child.id(), std::process::id()));
        assert!(holder_alive(&m));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(read(child.id(), &k), Read::None);
    }
}
