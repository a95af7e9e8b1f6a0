//! `stop`: find a guard's holder (or a given PID), prove who it is, SIGTERM it, wait for it to
//! exit, and SIGKILL it after the timeout when forced.

use crate::error::{Code, Error, Result};
use crate::layout::{self, Layout};
use crate::marker::Marked;
use crate::signal::{self, Verified};
use crate::status::{self, PortOwner, State};
use crate::takeover::verify_holder;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct StopOptions {
    pub signal: i32,
    pub timeout: Duration,
    pub force: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stopped {
    pub pid: u32,
    /// Signals sent, in order.
    pub signals: Vec<String>,
    pub exited: bool,
    pub waited_ms: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotSignalled {
    pub pid: u32,
    pub why: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopReport {
    pub name: Option<String>,
    pub stopped: Vec<Stopped>,
    /// Orphans that were found but not signalled (not verified: another user's, another PID
    /// namespace...), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_signalled: Vec<NotSignalled>,
    /// Every process exited.
    pub ok: bool,
}

/// How verified processes are stopped: `signal`, up to `grace` for them to exit, then (when
/// `kill_wait` is set) SIGKILL to those still running and up to `kill_wait` more.
pub(crate) struct Escalation {
    pub signal: i32,
    pub grace: Duration,
    pub kill_wait: Option<Duration>,
}

impl StopOptions {
    fn escalation(&self) -> Escalation {
        Escalation {
            signal: self.signal,
            grace: self.timeout,
            kill_wait: self.force.then_some(Duration::from_secs(10)),
        }
    }
}

/// The one signal -> wait -> SIGKILL loop (`stop`, and takeover's orphans). Every target is
/// pinned and proven already ([`Verified`]: pidfd or start time, and the lock or marker checked
/// again after pinning), so a pid reused meanwhile is never reached; the signals go to all
/// first and the waits share one deadline.
pub(crate) fn stop_verified(targets: &[Verified], e: &Escalation) -> Result<Vec<Stopped>> {
    let started = Instant::now();
    for v in targets {
        v.send(e.signal).map_err(|err| {
            Error::new(Code::Access, format!("cannot signal pid {}: {err}", v.pid))
        })?;
    }
    let deadline = started + e.grace;
    let mut out: Vec<Stopped> = targets
        .iter()
        .map(|v| {
            let exited = v.wait_exit(deadline);
            Stopped {
                pid: v.pid,
                signals: vec![signal::signal_name(e.signal)],
                exited,
                waited_ms: started.elapsed().as_millis() as u64,
            }
        })
        .collect();
    if let Some(kill_wait) = e.kill_wait.filter(|_| out.iter().any(|s| !s.exited)) {
        for (v, s) in targets
            .iter()
            .zip(out.iter_mut())
            .filter(|(_, s)| !s.exited)
        {
            let _ = v.send(signal::SIGKILL);
            s.signals.push("SIGKILL".into());
        }
        let deadline = Instant::now() + kill_wait;
        for (v, s) in targets
            .iter()
            .zip(out.iter_mut())
            .filter(|(_, s)| !s.exited)
        {
            s.exited = v.wait_exit(deadline);
            s.waited_ms = started.elapsed().as_millis() as u64;
        }
    }
    Ok(out)
}

fn describe_owner(o: &PortOwner) -> String {
    let who = o.pid.map_or("a process we may not inspect".into(), |p| {
        format!("pid {p}")
    });
    let cmd = o
        .cmdline
        .as_ref()
        .map(|c| c.join(" "))
        .or(o.exe.clone())
        .unwrap_or_else(|| "an unknown command".into());
    format!("port {} is listened on by {who} ({cmd})", o.port)
}

/// Pins every verified orphan in `orphans` (see [`crate::marker::pin`]); the others, and
/// those that fail the check, are returned with why.
pub fn pin_orphans(orphans: &[Marked], key: Option<&str>) -> (Vec<Verified>, Vec<NotSignalled>) {
    let mut pinned = Vec::new();
    let mut refused = Vec::new();
    for o in orphans {
        let res = match key {
            Some(k) => crate::marker::pin(o, k),
            None => Err("the guard's lock file is gone, so its marker is unknown".into()),
        };
        match res {
            Ok(v) => pinned.push(v),
            Err(why) => refused.push(NotSignalled { pid: o.pid, why }),
        }
    }
    (pinned, refused)
}

/// The refusal for a port owner that is neither a proven holder nor a verified orphan: with or
/// without force, it is never signalled (force only means SIGKILL after the timeout).
fn not_the_guards(o: &PortOwner, context: &str) -> Error {
    let what_to_do = match o.pid {
        Some(p) => format!("; if it is yours, stop it with kill {p}"),
        None => String::new(),
    };
    Error::new(
        Code::NotVerified,
        format!(
            "{context}{} is not proven to be the guard's (no holder's lock, no orphan marker: its command line proves nothing), so it is not signalled, with or without --force{what_to_do}",
            describe_owner(o)
        ),
    )
}

pub fn stop_name(name: &str, dir: Option<&Path>, o: &StopOptions) -> Result<StopReport> {
    layout::validate_name(name)?;
    let st = status::status(name, dir)?;
    let report = |stopped: Vec<Stopped>, not_signalled: Vec<NotSignalled>| StopReport {
        name: Some(name.to_string()),
        ok: stopped.iter().all(|s| s.exited) && not_signalled.is_empty(),
        stopped,
        not_signalled,
    };
    // What a dead holder started, proven by its marker (never by a command line).
    let (orphans, refused) = pin_orphans(&st.orphans, st.marker_key.as_deref());
    match (&st.state, &st.port_owner) {
        (State::Held, _) => {}
        (State::Orphaned, _) if orphans.is_empty() => {
            let mut e = Error::new(
                Code::NotVerified,
                format!(
                    "will not stop \"{name}\": its holder is gone and what it left running cannot be verified ({}). Nothing was signalled",
                    refused
                        .iter()
                        .map(|r| r.why.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
            e.holders = st.holders.clone();
            return Err(e);
        }
        (State::Orphaned, _) => {
            return Ok(report(stop_verified(&orphans, &o.escalation())?, refused))
        }
        (State::Stale, Some(owner)) => {
            let recorded = st
                .holders
                .iter()
                .find_map(|h| h.record.as_ref().map(|r| r.cmdline.join(" ")))
                .unwrap_or_default();
            return Err(not_the_guards(
                owner,
                &format!("\"{name}\" is not running (its recorded command was {recorded}); "),
            ));
        }
        _ => {
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "\"{name}\" is not running ({}); nothing to stop",
                    match st.state {
                        State::Stale => st.stale_reason.clone().unwrap_or_else(|| "stale".into()),
                        _ => format!("no holder in {}", st.dir.display()),
                    }
                ),
            ))
        }
    }
    let l = Layout::new(&st.dir, name);
    let mut targets = Vec::new();
    for h in &st.holders {
        match verify_holder(h, &l.lock) {
            Ok(v) => targets.push(v),
            Err(why) => {
                let mut e = Error::new(
                    Code::NotVerified,
                    format!("will not stop \"{name}\": {why}. Nothing was signalled"),
                );
                e.holders = st.holders.clone();
                return Err(e);
            }
        }
    }
    // Orphans of earlier holders that the record still carries go with the holder.
    targets.extend(orphans);
    let mut stopped = stop_verified(&targets, &o.escalation())?;
    let mut refused = refused;
    // Stopped means the guard let go, not that the signalled processes exited: a forked child
    // that inherited the lock fd (`sh -c 'server & wait'`) still holds it. Once everything
    // signalled has exited, the lock's other proven holders are stopped the same way.
    for _ in 0..8 {
        if !stopped.iter().all(|s| s.exited) {
            break;
        }
        let again = status::status(name, dir)?;
        if again.state != State::Held {
            break;
        }
        let mut more = Vec::new();
        for h in &again.holders {
            if h.pid.is_some_and(|p| stopped.iter().any(|s| s.pid == p)) {
                continue;
            }
            match verify_holder(h, &l.lock) {
                Ok(v) => more.push(v),
                Err(why) => refused.push(NotSignalled {
                    pid: h.pid.unwrap_or(0),
                    why: format!("the guard is still held after the holder exited: {why}"),
                }),
            }
        }
        if more.is_empty() {
            break;
        }
        stopped.extend(stop_verified(&more, &o.escalation())?);
    }
    Ok(report(stopped, refused))
}

/// Stops what listens on `port`: the holder (or orphan) of a guard in `dir` that recorded this
/// port and whose command matches; anything else never (see [`not_the_guards`]).
pub fn stop_port(port: u16, dir: Option<&Path>, o: &StopOptions) -> Result<StopReport> {
    let owner_pid = match crate::health::ports::owner_of_port(port) {
        Ok(None) => {
            return Err(Error::new(
                Code::NotFound,
                format!("nothing listens on port {port}; nothing to stop"),
            ))
        }
        Ok(Some(p)) => p,
        Err(e) => {
            return Err(Error::new(
                Code::Io,
                format!("cannot find who listens on port {port}: {e:?}"),
            ))
        }
    };
    // A guard whose live holder owns the port: stop it by name (the verified path).
    for st in status::list(dir)? {
        let recorded_port =
            |h: &crate::holder::Holder| h.record.as_ref().and_then(|r| r.port()) == Some(port);
        let owns = st.holders.iter().any(|h| h.pid == owner_pid && h.alive);
        if owns && st.holders.iter().any(recorded_port) {
            return stop_name(&st.name, dir, o);
        }
        // An orphan of the guard serves it (the guard recorded the port, or the orphan is the
        // owner): stop the guard's orphans by name.
        let orphan_owns = st.orphans.iter().any(|m: &Marked| {
            Some(m.pid) == owner_pid || m.ports.as_ref().is_some_and(|p| p.contains(&port))
        });
        if orphan_owns {
            return stop_name(&st.name, dir, o);
        }
    }
    let (exe, cmdline) = owner_pid
        .map(crate::identity::command_of)
        .unwrap_or((None, None));
    let owner = PortOwner {
        port,
        pid: owner_pid,
        exe,
        cmdline,
        matches_record: false,
    };
    Err(not_the_guards(
        &owner,
        "no guard in this directory serves this port: ",
    ))
}

pub fn stop_pid(pid: u32, o: &StopOptions) -> Result<StopReport> {
    let v = signal::verify(pid, None).map_err(|why| {
        Error::new(
            if why.contains("not running") {
                Code::NotFound
            } else {
                Code::NotVerified
            },
            format!("will not stop pid {pid}: {why}"),
        )
    })?;
    let stopped = stop_verified(&[v], &o.escalation())?;
    Ok(StopReport {
        name: None,
        ok: stopped.iter().all(|s| s.exited),
        stopped,
        not_signalled: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_pid_terminates_a_child_and_refuses_pid_1() {
        let mut child = crate::test_child::sleeper(30);
        let o = StopOptions {
            signal: signal::SIGTERM,
            timeout: Duration::from_secs(10),
            force: false,
        };
        let r = stop_pid(child.id(), &o).unwrap();
        assert!(r.ok);
        child.wait().unwrap();
        assert_eq!(stop_pid(1, &o).err().unwrap().code, Code::NotVerified);
    }

    /// The one escalation loop: a target that ignores the first signal is SIGKILLed only when
    /// the escalation says so, after the grace; one that exits is not.
    #[cfg(unix)]
    #[test]
    fn escalation_kills_only_what_outlives_the_grace_and_only_when_asked() {
        let stubborn = || {
            let mut c = std::process::Command::new("sh")
                .args(["-c", "trap '' TERM; echo ready; exec sleep 30"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // The trap is set once it says so (an ignored signal stays ignored across exec).
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(c.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            c
        };
        let grace = Duration::from_millis(200);
        let mut a = stubborn();
        let mut b = crate::test_child::sleeper(30);
        let targets = vec![
            signal::verify(a.id(), None).unwrap(),
            signal::verify(b.id(), None).unwrap(),
        ];
        let no_kill = Escalation {
            signal: signal::SIGTERM,
            grace,
            kill_wait: None,
        };
        let r = stop_verified(&targets, &no_kill).unwrap();
        assert!(!r[0].exited && r[1].exited, "{r:?}");
        assert_eq!(r[0].signals, vec!["SIGTERM"]);
        assert!(r[0].waited_ms >= 200);
        b.wait().unwrap();
        let kill = Escalation {
            kill_wait: Some(Duration::from_secs(10)),
            ..no_kill
        };
        let r = stop_verified(&targets[..1], &kill).unwrap();
        assert!(r[0].exited, "{r:?}");
        assert_eq!(r[0].signals, vec!["SIGTERM", "SIGKILL"]);
        a.wait().unwrap();
    }
}
