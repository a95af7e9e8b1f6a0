//! Health of one process: is it running, what it uses (CPU, memory, threads), how many
//! descendants it has, which TCP ports it listens on, and whether an expected port is really its.
//!
//! Cost is flat in the number of processes on the host: `/proc/PID/stat` and `statm` per sample,
//! the target's fd table, two netlink dumps of LISTEN sockets, and the target's descendants. Only
//! finding who owns a port (a `{ port }` target, or an expected port held by someone else) scans
//! every process; an expected port held by a descendant is found in the descendants' fd tables
//! first.
//!
//! This file is the per-process report ([`check`]); [`guard::health`] builds the whole answer
//! over it (guard-name lookup, recorded meta, orphans and strays, the children filter, the
//! endpoint probe in [`endpoint`], expectations in [`expect`]) from options validated once in
//! [`options`], for the JS API and the CLI alike.

pub mod children;
pub mod endpoint;
pub mod expect;
pub mod guard;
pub mod options;
pub mod ports;
pub mod process;
pub mod prometheus;
#[cfg(feature = "tls")]
mod tls;

pub use guard::{health, Health};
pub use options::{ChildFilter, HealthOptions, HealthTarget};

use children::Child;
use ports::{Listening, PortsError};
use process::Read;
use serde::Serialize;
use std::time::Duration;

/// Which process the report is about: by PID, or whoever listens on a TCP port (what
/// [`guard::health`] decided; callers give a [`HealthTarget`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub pid: Option<u32>,
    pub port: Option<u16>,
}

/// How the report is taken (from [`HealthOptions`], by [`guard::health`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// CPU window in ms; `None` reads once and reports no CPU figure.
    pub sample_ms: Option<u64>,
    /// The port the process is expected to listen on.
    pub port: Option<u16>,
    /// Also return each descendant's pid, name and command line (for filtering).
    pub child_list: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Memory {
    pub rss: u64,
    #[serde(rename = "virtual")]
    pub virt: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PortCheck {
    pub number: u16,
    /// Something listens on the port (any process), `None` when this OS cannot tell.
    pub listening: Option<bool>,
    /// The target process or one of its descendants listens (a daemon whose server is its
    /// child); `None` when that cannot be told.
    pub owned_by_pid: Option<bool>,
    /// The PID that listens on it, when known (a descendant's when the server is a child).
    pub owner: Option<u32>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub pid: Option<u32>,
    pub alive: bool,
    pub started_at: Option<u64>,
    pub uptime_ms: Option<u64>,
    pub cpu_percent: Option<f64>,
    pub memory: Option<Memory>,
    pub threads: Option<u32>,
    /// Number of live descendants.
    pub children: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_list: Option<Vec<Child>>,
    /// `None` when the sockets cannot be read (another user's process, an OS without support):
    /// unknown, not "none".
    pub listening: Option<Vec<Listening>>,
    pub port: Option<PortCheck>,
    /// One plain sentence per failed check.
    pub problems: Vec<String>,
}

impl Report {
    pub(crate) fn empty(pid: Option<u32>) -> Report {
        Report {
            pid,
            alive: false,
            started_at: None,
            uptime_ms: None,
            cpu_percent: None,
            memory: None,
            threads: None,
            children: None,
            child_list: None,
            listening: Some(Vec::new()),
            port: None,
            problems: Vec::new(),
        }
    }
}

/// Checks `target`. Never fails: what cannot be checked becomes a problem sentence.
pub fn check(target: &Target, opts: &Options) -> Report {
    let (pid, expected) = match (target.pid, target.port) {
        (Some(pid), _) => (pid, opts.port),
        (None, Some(port)) => match ports::owner_of_port(port) {
            Ok(Some(Some(pid))) => (pid, opts.port.or(Some(port))),
            Ok(Some(None)) => {
                // Something is there (the kernel lists the socket), we just may not see whose:
                // alive, pid unknown.
                let mut r = Report::empty(None);
                r.alive = true;
                r.listening = None;
                r.port = Some(PortCheck {
                    number: port,
                    listening: Some(true),
                    owned_by_pid: None,
                    owner: None,
                });
                r.problems.push(format!(
                    "something listens on port {port} but its process cannot be seen ({}); run as that user or root",
                    who_listens(port)
                ));
                return r;
            }
            Ok(None) => {
                let mut r = Report::empty(None);
                r.port = Some(PortCheck {
                    number: port,
                    listening: Some(false),
                    owned_by_pid: Some(false),
                    owner: None,
                });
                r.problems.push(format!("nothing listens on port {port}"));
                return r;
            }
            Err(e) => {
                let mut r = Report::empty(None);
                r.problems.push(ports_problem(
                    &e,
                    &format!("find who listens on port {port}"),
                ));
                return r;
            }
        },
        (None, None) => {
            let mut r = Report::empty(None);
            r.problems.push("no pid or port to check".into());
            return r;
        }
    };

    let mut report = Report::empty(Some(pid));
    let mut listening: Result<Vec<Listening>, PortsError> = Ok(Vec::new());
    let mut kids: Vec<Child> = Vec::new();
    let mut during = || {
        listening = ports::listening(pid);
        kids = children::descendants(pid, opts.child_list);
    };
    let read = match opts.sample_ms {
        Some(ms) => {
            let (read, pct) = process::sample_cpu(pid, Duration::from_millis(ms), during);
            report.cpu_percent = pct;
            read
        }
        None => {
            let read = process::read(pid);
            during();
            read
        }
    };

    let denied = read == Read::Denied;
    let kid_pids: Vec<u32> = kids.iter().map(|c| c.pid).collect();
    match read {
        Read::Gone => {
            report
                .problems
                .push(format!("process {pid} is not running"));
        }
        Read::Denied => {
            report.alive = true;
            report.problems.push(format!(
                "process {pid} belongs to another user: its figures cannot be read; run as that user or root"
            ));
        }
        Read::Alive(s) => {
            report.alive = true;
            report.started_at = s.started_at_ms;
            report.uptime_ms = s
                .started_at_ms
                .map(|t| crate::record::now_ms().saturating_sub(t));
            report.memory = match (s.rss, s.virt) {
                (Some(rss), Some(virt)) => Some(Memory { rss, virt }),
                _ => None,
            };
            report.threads = s.threads;
        }
    }

    if report.alive {
        // A process /proc hides (hidepid) hides its children too: their number is unknown.
        let hidden = denied
            && cfg!(target_os = "linux")
            && !std::path::Path::new(&format!("/proc/{pid}")).exists();
        report.children = (!hidden).then_some(kids.len() as u32);
        if opts.child_list {
            report.child_list = Some(kids);
        }
        match &listening {
            Ok(v) => report.listening = Some(v.clone()),
            // Exited during the check: the first reading said alive, the fd table is gone.
            Err(PortsError::Gone) => {
                report.alive = false;
                report
                    .problems
                    .push(format!("process {pid} is not running"));
            }
            Err(PortsError::Unsupported) => report.listening = None,
            // Already said: the whole process is another user's.
            Err(PortsError::Denied) if denied => report.listening = None,
            Err(e) => {
                report.listening = None;
                report.problems.push(ports_problem(
                    e,
                    &format!("list the sockets of process {pid}"),
                ))
            }
        }
    }

    if let Some(port) = expected {
        report.port = Some(port_check(
            pid,
            port,
            &listening,
            &kid_pids,
            &mut report.problems,
        ));
    }
    report
}

/// "uid 65534's socket" for a listener whose process is hidden, from the kernel's socket table.
fn who_listens(port: u16) -> String {
    let Some(uids) = ports::listener_uids(port) else {
        return "whose, this OS does not say".into();
    };
    if uids.is_empty() {
        return "another user's?".into();
    }
    let list: Vec<String> = uids.iter().map(|u| format!("uid {u}")).collect();
    format!("the socket belongs to {}", list.join(", "))
}

fn ports_problem(e: &PortsError, doing: &str) -> String {
    match e {
        PortsError::Denied => format!(
            "cannot {doing}: permission denied (it belongs to another user); run as that user or root"
        ),
        PortsError::Gone => format!("cannot {doing}: the process is gone"),
        PortsError::Unsupported => format!(
            "cannot {doing}: listening ports are not available on {} yet",
            std::env::consts::OS
        ),
        PortsError::OtherNetNs => format!(
            "cannot {doing}: it is in another network namespace (a container); check from inside that namespace"
        ),
        PortsError::Io(m) => format!("cannot {doing}: {m}"),
    }
}

/// Whether `port` is the service's: `pid` or one of its descendants (`kids`) listens on it.
fn port_check(
    pid: u32,
    port: u16,
    listening: &Result<Vec<Listening>, PortsError>,
    kids: &[u32],
    problems: &mut Vec<String>,
) -> PortCheck {
    if let Ok(v) = listening {
        if v.iter().any(|l| l.port == port) {
            return PortCheck {
                number: port,
                listening: Some(true),
                owned_by_pid: Some(true),
                owner: Some(pid),
            };
        }
    }
    // A daemon whose server is its child: found in the children's fd tables, breadth first (a
    // direct child before a grandchild), before scanning every process on the host.
    if let Some(owner) = ports::owner_among(port, kids) {
        return PortCheck {
            number: port,
            listening: Some(true),
            owned_by_pid: Some(true),
            owner: Some(owner),
        };
    }
    let mut check = PortCheck {
        number: port,
        listening: None,
        owned_by_pid: None,
        owner: None,
    };
    // In another network namespace, the port is its own there: nothing seen from here says
    // whether it listens (the sentence about the namespace is already in the problems).
    if matches!(listening, Err(PortsError::OtherNetNs)) {
        return check;
    }
    match ports::owner_of_port(port) {
        Ok(None) => {
            check.listening = Some(false);
            check.owned_by_pid = Some(false);
            problems.push(format!("nothing listens on port {port}"));
        }
        Ok(Some(Some(owner))) if owner == pid || kids.contains(&owner) => {
            // Our own socket (our fd table could not be read, but the scan found it in it), or
            // a descendant's: a daemon whose server is its child.
            check.listening = Some(true);
            check.owned_by_pid = Some(true);
            check.owner = Some(owner);
        }
        Ok(Some(Some(owner))) => {
            check.listening = Some(true);
            check.owned_by_pid = Some(false);
            check.owner = Some(owner);
            problems.push(format!("port {port} is owned by pid {owner}, not {pid}"));
        }
        Ok(Some(None)) => {
            check.listening = Some(true);
            if listening.is_ok() {
                check.owned_by_pid = Some(false);
                problems.push(format!(
                    "port {port} is held by a process that cannot be seen ({}), not {pid}",
                    who_listens(port)
                ));
            }
        }
        Err(e) => problems.push(ports_problem(&e, &format!("check port {port}"))),
    }
    check
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_port_held_by_a_child_is_the_parents() {
        use std::io::{BufRead, Write};
        let script = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let r = check(
            &Target {
                pid: Some(std::process::id()),
                port: None,
            },
            &Options {
                sample_ms: None,
                port: Some(port),
                child_list: false,
            },
        );
        let _ = child.stdin.take().unwrap().write_all(b"");
        let _ = child.wait();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(
            r.port,
            Some(PortCheck {
                number: port,
                listening: Some(true),
                owned_by_pid: Some(true),
                owner: Some(child.id()),
            })
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn checks_self_with_port_and_a_dead_pid() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let me = std::process::id();
        let r = check(
            &Target {
                pid: Some(me),
                port: None,
            },
            &Options {
                sample_ms: Some(20),
                port: Some(port),
                child_list: false,
            },
        );
        assert!(r.alive, "{r:?}");
        assert!(r.cpu_percent.is_some());
        assert!(r.memory.as_ref().unwrap().rss > 0);
        assert!(r.listening.as_ref().unwrap().iter().any(|x| x.port == port));
        assert_eq!(r.port.as_ref().unwrap().owned_by_pid, Some(true));
        assert!(r.problems.is_empty(), "{:?}", r.problems);

        let by_port = check(
            &Target {
                pid: None,
                port: Some(port),
            },
            &Options::default(),
        );
        assert_eq!(by_port.pid, Some(me));
        assert_eq!(by_port.cpu_percent, None);
        assert_eq!(by_port.port.as_ref().unwrap().number, port);
        drop(l);

        let nobody = check(
            &Target {
                pid: None,
                port: Some(port),
            },
            &Options::default(),
        );
        assert_eq!(nobody.pid, None);
        assert_eq!(
            nobody.problems,
            vec![format!("nothing listens on port {port}")]
        );

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = check(
            &Target {
                pid: Some(pid),
                port: None,
            },
            &Options {
                sample_ms: Some(10),
                port: Some(port),
                child_list: true,
            },
        );
        assert!(!dead.alive);
        assert_eq!(
            dead.problems,
            vec![
                format!("process {pid} is not running"),
                format!("nothing listens on port {port}")
            ]
        );
    }
}
