//! `stop`: find a guard's holder (or a given PID), prove who it is, SIGTERM it, wait for it to
//! exit, and SIGKILL it after the timeout when forced.

use crate::error::{Code, Error, Result};
use crate::layout::{self, Layout};
use crate::signal::{self, Verified};
use crate::status::{self, State};
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
pub struct StopReport {
    pub name: Option<String>,
    pub stopped: Vec<Stopped>,
    /// Every process exited.
    pub ok: bool,
}

fn stop_verified(targets: Vec<Verified>, o: &StopOptions) -> Result<Vec<Stopped>> {
    let started = Instant::now();
    let mut out = Vec::new();
    for v in &targets {
        v.send(o.signal)
            .map_err(|e| Error::new(Code::Access, format!("cannot signal pid {}: {e}", v.pid)))?;
    }
    let deadline = started + o.timeout;
    for v in targets {
        let mut signals = vec![signal::signal_name(o.signal)];
        let mut exited = v.wait_exit(deadline);
        if !exited && o.force {
            let _ = v.send(signal::SIGKILL);
            signals.push("SIGKILL".into());
            exited = v.wait_exit(Instant::now() + Duration::from_secs(10));
        }
        out.push(Stopped {
            pid: v.pid,
            signals,
            exited,
            waited_ms: started.elapsed().as_millis() as u64,
        });
    }
    Ok(out)
}

pub fn stop_name(name: &str, dir: Option<&Path>, o: &StopOptions) -> Result<StopReport> {
    layout::validate_name(name)?;
    let st = status::status(name, dir)?;
    if st.state != State::Held {
        return Err(Error::new(
            Code::NotFound,
            format!(
                "\"{name}\" is not running ({}); nothing to stop",
                match st.state {
                    State::Stale => st.stale_reason.clone().unwrap_or_else(|| "stale".into()),
                    _ => format!("no holder in {}", st.dir.display()),
                }
            ),
        ));
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
    let stopped = stop_verified(targets, o)?;
    Ok(StopReport {
        name: Some(name.to_string()),
        ok: stopped.iter().all(|s| s.exited),
        stopped,
    })
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
    let stopped = stop_verified(vec![v], o)?;
    Ok(StopReport {
        name: None,
        ok: stopped.iter().all(|s| s.exited),
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_pid_terminates_a_child_and_refuses_pid_1() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
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
}
