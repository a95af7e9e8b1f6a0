//! Descendants of a process (children, grandchildren...).
//!
//! Linux: the kernel lists each thread's direct children in /proc/PID/task/TID/children
//! (CONFIG_PROC_CHILDREN), so the walk costs per descendant, not per process on the host. When
//! that file is missing, one scan of /proc/*/stat builds the parent links instead. Other systems
//! ask sysinfo for every process's parent.

use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Child {
    pub pid: u32,
    /// The kernel's command name (at most 15 bytes on Linux).
    pub name: String,
    /// argv, when asked for (and readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<Vec<String>>,
}

/// Every descendant of `pid`, breadth first. `cmdline` also reads each one's command line.
pub fn descendants(pid: u32, cmdline: bool) -> Vec<Child> {
    #[cfg(target_os = "linux")]
    {
        linux::descendants(pid, cmdline)
    }
    #[cfg(not(target_os = "linux"))]
    {
        portable::descendants(pid, cmdline)
    }
}

/// Walks parent links from `root` (breadth first, each pid once even if links form a cycle).
pub fn walk(root: u32, mut children_of: impl FnMut(u32) -> Vec<u32>) -> Vec<u32> {
    let mut seen = HashSet::from([root]);
    let mut out = Vec::new();
    let mut i = 0;
    let mut frontier = vec![root];
    while i < frontier.len() {
        let p = frontier[i];
        i += 1;
        for c in children_of(p) {
            if seen.insert(c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// ppid -> children, from (pid, ppid) pairs.
pub fn links(pairs: impl IntoIterator<Item = (u32, u32)>) -> HashMap<u32, Vec<u32>> {
    let mut m: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid) in pairs {
        m.entry(ppid).or_default().push(pid);
    }
    m
}

#[cfg(target_os = "linux")]
pub mod linux {
    use super::{links, walk, Child};
    use crate::sys::linux::{cmdline, parent_links, read_stat, task_children as children_files};

    /// One scan of /proc/*/stat: pid -> ppid links of every process.
    pub fn scan_links() -> std::collections::HashMap<u32, Vec<u32>> {
        links(parent_links())
    }

    pub fn descendants(pid: u32, cmdline: bool) -> Vec<Child> {
        let pids = match children_files(pid) {
            Some(direct) => {
                let mut first = Some(direct);
                walk(pid, |p| match first.take() {
                    Some(d) if p == pid => d,
                    _ => children_files(p).unwrap_or_default(),
                })
            }
            None => {
                let m = scan_links();
                walk(pid, |p| m.get(&p).cloned().unwrap_or_default())
            }
        };
        pids.into_iter()
            .filter_map(|p| {
                let st = read_stat(p).ok()?;
                if st.state == b'Z' || st.state == b'X' {
                    return None;
                }
                Some(Child {
                    pid: p,
                    name: st.name,
                    cmdline: cmdline.then(|| self::cmdline(&p.to_string())).flatten(),
                })
            })
            .collect()
    }
}

#[cfg_attr(target_os = "linux", allow(dead_code))]
pub mod portable {
    use super::{links, walk, Child};
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

    pub fn descendants(pid: u32, cmdline: bool) -> Vec<Child> {
        let Ok(mut sys) = System::new() else {
            return Vec::new();
        };
        let kind = if cmdline {
            ProcessRefreshKind::nothing().with_cmd(UpdateKind::Always)
        } else {
            ProcessRefreshKind::nothing()
        };
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        let m = links(
            sys.processes()
                .iter()
                .filter_map(|(p, proc_)| Some((p.as_u32(), proc_.parent()?.as_u32()))),
        );
        walk(pid, |p| m.get(&p).cloned().unwrap_or_default())
            .into_iter()
            .filter_map(|p| {
                let proc_ = sys.process(sysinfo::Pid::from_u32(p))?;
                Some(Child {
                    pid: p,
                    name: proc_.name().to_string_lossy().into_owned(),
                    cmdline: cmdline.then(|| {
                        proc_
                            .cmd()
                            .iter()
                            .map(|a| a.to_string_lossy().into_owned())
                            .collect()
                    }),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_descendants_once() {
        let m = links([(2, 1), (3, 1), (4, 2), (5, 4), (1, 5), (9, 8)]);
        let mut d = walk(1, |p| m.get(&p).cloned().unwrap_or_default());
        d.sort();
        assert_eq!(d, vec![2, 3, 4, 5]);
        assert!(walk(9, |p| m.get(&p).cloned().unwrap_or_default()).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn parses_children_and_cmdline() {
        assert_eq!(
            crate::sys::procfs::parse_children("12 34 \n").collect::<Vec<_>>(),
            vec![12, 34]
        );
        assert_eq!(crate::sys::procfs::parse_children("").count(), 0);
        assert_eq!(
            crate::sys::procfs::split_cmdline(b"sleep\x0060\x00"),
            vec!["sleep", "60"]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_a_grandchild_by_every_method() {
        // sh -> sleep: a child and a grandchild of this test process.
        let is_ours = |c: &Child| {
            c.name == "sleep"
                && c.cmdline.as_deref() == Some(&["sleep".to_string(), "37".into()][..])
        };
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 37 & wait"])
            .spawn()
            .unwrap();
        let sh_pid = sh.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let found = loop {
            let d = descendants(std::process::id(), true);
            if d.iter().any(is_ours) || std::time::Instant::now() > deadline {
                break d;
            }
            std::thread::yield_now();
        };
        let sleep = found.iter().find(|c| is_ours(c)).expect("grandchild");
        assert!(found.iter().any(|c| c.pid == sh_pid));
        let m = linux::scan_links();
        let by_scan = walk(std::process::id(), |p| {
            m.get(&p).cloned().unwrap_or_default()
        });
        assert!(by_scan.contains(&sleep.pid) && by_scan.contains(&sh_pid));
        let by_sysinfo = portable::descendants(std::process::id(), true);
        assert!(by_sysinfo.iter().any(|c| c.pid == sleep.pid));
        // SAFETY: signalling the grandchild this test started (pid > 1, not a group).
        unsafe { libc::kill(sleep.pid as i32, libc::SIGKILL) };
        sh.kill().ok();
        sh.wait().unwrap();
    }
}
