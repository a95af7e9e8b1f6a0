//! `health(target, options)`: everything a health check says, for the JS API and the CLI alike.
//! For a guard name: one status read (holder, recorded `meta.port` / `meta.healthUrl` / `meta.url`
//! / `meta.health`, orphans) and one strays scan; then the process report ([`super::check`]) with
//! the CPU window, the endpoint probe on a thread of its own at the same time, the children
//! filter, the expectations, and the [`Health`] that the JS API returns and `--json` prints.

use super::endpoint::{self, Endpoint};
use super::expect::{self, shown, Asked, Expectation};
use super::options::{
    check_expect, check_min_children, describe, meta_children, parse_url, ChildFilter,
    HealthOptions, HealthTarget,
};
use super::ports::Listening;
use super::{Memory, PortCheck, Report};
use crate::error::Result;
use crate::marker::Marked;
use crate::status::{self, State};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

const META_HEALTH_KEYS: [&str; 3] = ["expect", "minChildren", "children"];

/// How a process is doing (index.d.ts `Health`). Missing figures are `None`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The guard name, when the target was one.
    pub name: Option<String>,
    pub target: HealthTarget,
    pub pid: Option<u32>,
    pub alive: bool,
    pub started_at: Option<u64>,
    pub uptime_ms: Option<u64>,
    pub cpu_percent: Option<f64>,
    pub memory: Option<Memory>,
    pub threads: Option<u32>,
    /// Live descendants (those matching `children` when given).
    pub children: Option<u32>,
    /// `None`: the sockets could not be read (unknown, not none).
    pub listening: Option<Vec<Listening>>,
    pub port: Option<PortCheck>,
    pub endpoint: Option<Endpoint>,
    pub expectations: Vec<Expectation>,
    /// For a guard: what a dead holder started and left running; `None` for a pid or port.
    pub orphans: Option<Vec<Marked>>,
    /// For a guard: marked processes outside the live holder's tree; `None` for a pid or port.
    pub strays: Option<Vec<Marked>>,
    pub healthy: bool,
    pub problems: Vec<String>,
}

/// What is decided before the process check.
struct Plan {
    name: Option<String>,
    /// The process to check, when there is one.
    native: Option<super::Target>,
    /// The pid to report when there is no process to check (a dead holder's).
    pid: Option<u32>,
    port: Option<u16>,
    url: Option<String>,
    problems: Vec<String>,
    orphans: Option<Vec<Marked>>,
    strays: Option<Vec<Marked>>,
    /// The OS cannot tell which processes carry the holder's marker.
    marks_unknown: bool,
    /// Held by a process this user cannot see: running, figures unknown.
    held_unseen: bool,
    children: Option<ChildFilter>,
    expect: Option<serde_json::Map<String, Value>>,
    min_children: Option<u32>,
}

fn command_of(cmdline: &Option<Vec<String>>, exe: &Option<String>) -> String {
    match cmdline {
        Some(c) if !c.is_empty() => c.join(" "),
        _ => exe.clone().unwrap_or_else(|| "command unknown".into()),
    }
}

/// "the holder of "web" (pid 12) is gone, and pid 34 (node server.js) it started still serves
/// port 8080; stop it with `pid-guard stop web`".
fn orphan_sentence(name: &str, dead_pid: u32, o: &Marked, recorded_port: Option<u16>) -> String {
    let holder = format!("the holder of \"{name}\" (pid {dead_pid}) is gone");
    let what = match o.ports.as_deref() {
        None => "is still running (its sockets cannot be read)".to_string(),
        Some(ports) => {
            let port = recorded_port
                .filter(|p| ports.contains(p))
                .or(ports.first().copied());
            match port {
                Some(p) => format!("still serves port {p}"),
                None => "is still running".to_string(),
            }
        }
    };
    let verdict = if o.verified {
        format!("stop it with `pid-guard stop {name}`")
    } else {
        format!(
            "it is not verified: {}",
            o.problem.as_deref().unwrap_or("null")
        )
    };
    format!(
        "{holder}, and pid {} ({}) it started {what}; {verdict}",
        o.pid,
        command_of(&o.cmdline, &o.exe)
    )
}

fn plan(target: &HealthTarget, o: &HealthOptions) -> Result<Plan> {
    let mut p = Plan {
        name: None,
        native: None,
        pid: None,
        port: o.port,
        url: o.url.clone(),
        problems: Vec::new(),
        orphans: None,
        strays: None,
        marks_unknown: false,
        held_unseen: false,
        children: o.children.clone(),
        expect: o.expect.clone(),
        min_children: o.min_children,
    };
    let name = match target {
        HealthTarget::Pid(pid) => {
            p.native = Some(super::Target {
                pid: Some(*pid),
                port: None,
            });
            return Ok(p);
        }
        HealthTarget::Port(port) => {
            p.native = Some(super::Target {
                pid: None,
                port: Some(*port),
            });
            return Ok(p);
        }
        HealthTarget::Name(n) => n.as_str(),
    };
    p.name = Some(name.to_string());
    let st = status::status(name, o.dir.as_deref())?;
    let holder = st.holders.iter().find(|h| h.alive).or(st.holders.first());
    let record = holder.and_then(|h| h.record.as_ref());
    let meta = record.map(|r| &r.meta).filter(|m| m.is_object());
    let recorded_port = record.and_then(|r| r.port());
    for orphan in &st.orphans {
        // The holder that started it, as its marker names it (under `run` too: it execs the
        // command, whose pid is the one recorded).
        let by = orphan.mark.pid;
        p.problems
            .push(orphan_sentence(name, by, orphan, recorded_port));
    }
    let dead_pid = st.holders.iter().find(|h| !h.alive).and_then(|h| h.pid);
    match (st.state, holder.and_then(|h| h.pid)) {
        (State::Held, Some(pid)) if pid != 0 => {
            p.native = Some(super::Target {
                pid: Some(pid),
                port: None,
            });
            // Marked processes that left the holder's tree (reparented): stray sessions.
            let strays = status::strays_of(&st);
            for s in &strays {
                let why = if s.verified {
                    String::new()
                } else {
                    format!(" ({})", s.problem.as_deref().unwrap_or("null"))
                };
                p.problems.push(format!(
                    "pid {} ({}) carries the marker of \"{name}\"'s holder (pid {pid}) but is no longer its descendant: a stray session{why}",
                    s.pid,
                    command_of(&s.cmdline, &s.exe)
                ));
            }
            p.strays = Some(strays);
        }
        (State::Orphaned, _) => p.pid = dead_pid,
        (State::Held, _) => {
            // The lock is busy but its holder cannot be seen from here (another user's process,
            // or another PID namespace): running, figures unknown; never "not running".
            p.held_unseen = true;
            p.problems.push(format!("guard \"{name}\" is held by a process this user cannot see (another user's, or in another PID namespace); its figures cannot be read from here"));
        }
        _ => {
            // A stale holder's pid may belong to another process by now: reported, not inspected.
            p.pid = holder.and_then(|h| h.pid);
            let pid_text = p.pid.map_or("null".to_string(), |x| x.to_string());
            p.problems.push(if st.state == State::Stale {
                let why = st
                    .stale_reason
                    .clone()
                    .unwrap_or_else(|| format!("process {pid_text} is not running"));
                format!("guard \"{name}\" is not held: {why}")
            } else {
                format!(
                    "no process holds the guard \"{name}\" (nothing in {})",
                    st.dir.display()
                )
            });
        }
    }
    if st.orphans_unknown.is_some() {
        // This OS cannot read other processes' environments: orphans and strays are unknown
        // (null), never "none" (the stale reason says why).
        p.orphans = None;
        p.strays = None;
        p.marks_unknown = true;
    } else {
        p.orphans = Some(st.orphans.clone());
        if p.strays.is_none() {
            p.strays = Some(Vec::new());
        }
    }
    if let Some(meta) = meta {
        let present = |k: &str| meta.get(k).filter(|v| !v.is_null());
        if p.port.is_none() {
            if let Some(v) = present("port") {
                p.port = recorded_port;
                if p.port.is_none() {
                    p.problems.push(format!(
                        "guard \"{name}\" recorded port {}, which is not a TCP port number",
                        describe(v)
                    ));
                }
            }
        }
        if p.url.is_none() {
            if let Some(v) = present("healthUrl").or_else(|| present("url")) {
                match parse_url(v) {
                    Ok(u) => p.url = Some(u),
                    Err(e) => p
                        .problems
                        .push(format!("guard \"{name}\" recorded a health URL that {e}")),
                }
            }
        }
        if let Some(mh) = present("health") {
            apply_meta_health(&mut p, name, mh);
        }
    }
    Ok(p)
}

/// `meta.health = { expect, minChildren, children }` recorded by the holder: used where the
/// caller gave no option of its own; what is malformed becomes a problem, not an error.
fn apply_meta_health(p: &mut Plan, name: &str, mh: &Value) {
    let Some(m) = mh.as_object() else {
        p.problems.push(format!("guard \"{name}\" recorded meta.health as {}, not an object like {{ expect: {{ stuck: 0 }}, minChildren: 1 }}", describe(mh)));
        return;
    };
    for k in m.keys() {
        if !META_HEALTH_KEYS.contains(&k.as_str()) {
            p.problems.push(format!(
                "guard \"{name}\" recorded an unknown meta.health.{k} (known: {})",
                META_HEALTH_KEYS.join(", ")
            ));
        }
    }
    let present = |k: &str| m.get(k).filter(|v| !v.is_null());
    if p.expect.is_none() {
        if let Some(v) = present("expect") {
            match check_expect(v) {
                Ok(e) => p.expect = Some(e),
                Err(e) => p.problems.push(format!(
                    "guard \"{name}\" recorded meta.health.expect that {e}"
                )),
            }
        }
    }
    if p.min_children.is_none() {
        if let Some(v) = present("minChildren") {
            match check_min_children(v) {
                Ok(n) => p.min_children = Some(n),
                Err(e) => p.problems.push(format!(
                    "guard \"{name}\" recorded meta.health.minChildren that {e}"
                )),
            }
        }
    }
    if p.children.is_none() {
        if let Some(v) = present("children") {
            match meta_children(v) {
                Ok(c) => p.children = Some(c),
                Err(e) => p.problems.push(format!(
                    "guard \"{name}\" recorded meta.health.children that {e}"
                )),
            }
        }
    }
}

/// Health of a guard's holder, a pid or whoever listens on a port. Fails only on what the caller
/// must fix (an invalid guard name, an unusable directory); a target that is not running is a
/// problem in the result.
pub fn health(target: &HealthTarget, o: &HealthOptions) -> Result<Health> {
    let p = plan(target, o)?;
    let opts = super::Options {
        sample_ms: (o.probe && o.sample_ms > 0).then_some(o.sample_ms),
        port: p.port,
        child_list: p.children.is_some(),
    };
    // The endpoint probe runs on its own thread during the CPU window.
    let probe = match (&p.url, o.probe) {
        (Some(url), true) => {
            let (url, timeout) = (url.clone(), Duration::from_millis(o.timeout_ms));
            Some(std::thread::spawn(move || endpoint::probe(&url, timeout)))
        }
        _ => None,
    };
    let report = p.native.as_ref().map(|t| super::check(t, &opts));
    let endpoint = probe.map(|h| {
        h.join().unwrap_or_else(|_| Endpoint {
            url: p.url.clone().unwrap_or_default(),
            ok: false,
            status: None,
            latency_ms: None,
            body: Value::Null,
            error: Some("the probe failed".into()),
            problem: Some("the endpoint probe failed".into()),
        })
    });
    Ok(assemble(target, p, report, endpoint, o.probe))
}

fn assemble(
    target: &HealthTarget,
    p: Plan,
    report: Option<Report>,
    mut endpoint: Option<Endpoint>,
    probed: bool,
) -> Health {
    let has_report = report.is_some();
    let r = report.unwrap_or_else(|| Report::empty(None));
    let mut children = r.children;
    if let (Some(list), Some(f)) = (&r.child_list, &p.children) {
        children = Some(
            list.iter()
                .filter(|c| f.matches(&c.name, c.cmdline.as_deref()))
                .count() as u32,
        );
    }
    let mut problems = p.problems;
    problems.extend(r.problems.iter().cloned());
    if let Some(pr) = endpoint.as_mut().and_then(|e| e.problem.take()) {
        problems.push(pr);
    }
    let alive = if has_report { r.alive } else { p.held_unseen };
    if let Some(min) = p.min_children {
        match children {
            Some(n) if n < min => {
                let matching = p.children.as_ref().map(|f| format!(" matching {}", f.text())).unwrap_or_default();
                problems.push(format!(
                    "{n} child process{}{matching}, fewer than the {min} expected",
                    if n == 1 { "" } else { "es" }
                ));
            }
            None if alive => problems.push(format!(
                "the child processes cannot be counted (hidden from this user), so at least {min} cannot be confirmed"
            )),
            _ => {}
        }
    }
    // Not running and no endpoint to ask: the expectations are unknown, "not running" says why.
    let asked = match (&endpoint, probed && (endpoint.is_some() || alive)) {
        (_, false) => Asked::Not,
        (Some(e), true) => Asked::Endpoint(e),
        (None, true) => Asked::NoUrl,
    };
    let expectations = p
        .expect
        .as_ref()
        .map(|e| expect::check(e, &asked, &mut problems))
        .unwrap_or_default();
    // Unchecked is not met: healthSync never calls the endpoint, so it cannot say healthy.
    if !probed && alive && !expectations.is_empty() {
        let list: Vec<String> = expectations
            .iter()
            .map(|x| format!("{} = {}", x.field, shown(&x.expected)))
            .collect();
        problems.push(format!(
            "expected {} not checked: healthSync does not call the endpoint; health() does",
            list.join(", ")
        ));
    }
    let is_name = p.name.is_some();
    Health {
        name: p.name,
        target: target.clone(),
        pid: r.pid.or(p.pid),
        alive,
        started_at: r.started_at,
        uptime_ms: r.uptime_ms,
        cpu_percent: r.cpu_percent,
        memory: r.memory,
        threads: r.threads,
        children,
        listening: r.listening,
        port: r.port,
        endpoint,
        expectations,
        orphans: p.orphans,
        strays: p.strays.or(if is_name && !p.marks_unknown {
            Some(Vec::new())
        } else {
            None
        }),
        healthy: alive && problems.is_empty(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems a test made, without Wine's gap: its TCP table names no owner for some
    /// listening sockets, which the report rightly calls a problem (unknown, not none).
    fn own_problems(problems: &[String]) -> Vec<String> {
        problems
            .iter()
            .filter(|p| {
                !(crate::test_child::under_wine()
                    && p.contains("the TCP table does not name the owner"))
            })
            .cloned()
            .collect()
    }
    use std::io::{BufRead, Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    /// A keep-alive server on 127.0.0.1 answering one request with `body` after `delay`.
    fn server(body: &'static str, delay: Duration) -> (String, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/h", l.local_addr().unwrap().port());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            std::thread::sleep(delay);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut b = [0u8; 16];
            while matches!(s.read(&mut b), Ok(n) if n > 0) {}
        });
        (url, h)
    }

    fn json(h: &Health) -> Value {
        serde_json::to_value(h).unwrap()
    }

    #[test]
    fn the_probe_runs_during_the_cpu_window_and_expectations_are_checked() {
        let (url, h) = server(r#"{"sessions":{"stuck":"1"}}"#, Duration::from_millis(250));
        let (t, o) = HealthOptions::from_json(
            &format!(r#"{{"pid":{}}}"#, std::process::id()),
            &format!(r#"{{"url":"{url}","sampleMs":300,"expect":{{"sessions.stuck":0,"sessions.active":1}}}}"#),
        )
        .unwrap();
        let start = Instant::now();
        let r = health(&t, &o).unwrap();
        let took = start.elapsed();
        h.join().unwrap();
        assert!(
            took < Duration::from_millis(540),
            "window and probe in turn: {took:?}"
        );
        assert!(r.cpu_percent.is_some());
        assert_eq!(r.endpoint.as_ref().unwrap().status, Some(200));
        assert_eq!(
            own_problems(&r.problems),
            vec![
                format!(r#"sessions.stuck is "1", expected 0 (GET {url})"#),
                format!("the body of GET {url} has no field sessions.active (expected 1)"),
            ]
        );
        let v = json(&r);
        assert_eq!(v["target"], serde_json::json!({"pid": std::process::id()}));
        assert_eq!(
            v["expectations"][0],
            serde_json::json!({"field": "sessions.stuck", "expected": 0, "actual": "1", "ok": false})
        );
        assert_eq!(v["orphans"], Value::Null);
        assert!(v["endpoint"].get("problem").is_none());
        assert!(!r.healthy);
    }

    #[test]
    fn without_probe_expectations_are_unchecked_and_a_free_guard_is_named() {
        let (t, mut o) = HealthOptions::from_json(
            &format!(r#"{{"pid":{}}}"#, std::process::id()),
            r#"{"expect":{"ok":true},"minChildren":1000,"children":"zzz-none"}"#,
        )
        .unwrap();
        o.probe = false;
        let r = health(&t, &o).unwrap();
        assert_eq!(r.cpu_percent, None);
        assert_eq!(r.endpoint, None);
        assert_eq!(r.expectations[0].ok, None);
        assert_eq!(
            own_problems(&r.problems),
            vec![
                r#"0 child processes matching "zzz-none", fewer than the 1000 expected"#.to_string(),
                "expected ok = true not checked: healthSync does not call the endpoint; health() does".to_string(),
            ]
        );

        let dir = std::env::temp_dir().join(format!("pg-health-free-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let o = HealthOptions {
            dir: Some(dir.clone()),
            probe: false,
            ..HealthOptions::default()
        };
        let r = health(&HealthTarget::Name("nobody".into()), &o).unwrap();
        let v = json(&r);
        assert_eq!(v["target"], "nobody");
        assert_eq!(v["strays"], serde_json::json!([]));
        assert_eq!(v["listening"], serde_json::json!([]));
        assert!(!r.alive);
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].starts_with(r#"no process holds the guard "nobody" (nothing in "#),
            "{:?}",
            r.problems
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
