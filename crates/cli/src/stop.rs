//! `pid-guard stop <name> | --pid N | --port N`: stop a guard's verified holder (or its
//! orphans). Exit 0 stopped, 1 still running or not verifiable, 3 not running, 2 usage error.

use crate::cli::{Global, StopArgs};
use crate::out;
use pid_guard_core::error::{Code, Error};
use pid_guard_core::signal;
use pid_guard_core::stop::{self, StopOptions};
use std::time::Duration;

enum Target<'a> {
    Name(&'a str),
    Pid(u32),
    Port(u16),
}

/// A number as JS's `Number(text)` reads the decimal forms people type ("8080", " 15 ", "1e3").
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

pub fn run(g: &Global, a: &StopArgs) -> i32 {
    let given = [!a.names.is_empty(), a.pid.is_some(), a.port.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if given != 1 || a.names.len() > 1 {
        return out::usage_error(
            "stop",
            "expects one target: a guard name, --pid N or --port N",
        );
    }
    let target = if let Some(p) = &a.port {
        match number(p) {
            Some(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => Target::Port(n as u16),
            _ => return out::usage_error("stop", &format!("--port expects 1-65535, not \"{p}\"")),
        }
    } else if let Some(p) = &a.pid {
        match number(p) {
            Some(n) if n.fract() == 0.0 && n > 0.0 && n <= f64::from(u32::MAX) => {
                Target::Pid(n as u32)
            }
            _ => {
                return out::usage_error(
                    "stop",
                    &format!("--pid expects a process id, not \"{p}\""),
                )
            }
        }
    } else {
        Target::Name(&a.names[0])
    };
    let timeout = match &a.timeout {
        None => Duration::from_secs(10),
        Some(t) => match number(t) {
            Some(ms) if ms >= 0.0 => Duration::from_millis(ms as u64),
            _ => {
                return out::usage_error(
                    "stop",
                    &format!("--timeout expects milliseconds, not \"{t}\""),
                )
            }
        },
    };
    let sig = match a.signal.as_deref() {
        None => signal::SIGTERM,
        Some(s) => match signal::parse_signal(s) {
            Some(n) => n,
            None => {
                return out::core_error(&Error::new(
                    Code::InvalidOption,
                    format!("signal {s:?} is not a signal name like 'SIGTERM'"),
                ))
            }
        },
    };
    let opts = StopOptions {
        signal: sig,
        timeout,
        force: a.force,
    };
    let dir = g.dir.as_deref();
    let report = match target {
        Target::Name(n) => stop::stop_name(n, dir, &opts),
        Target::Pid(p) => stop::stop_pid(p, &opts),
        Target::Port(p) => stop::stop_port(p, dir, &opts),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) if e.code == Code::NotFound => {
            out::err(&format!("{}\n", e.message));
            return 3;
        }
        Err(e) if e.code == Code::NotVerified => {
            out::err(&format!("{}\n", e.message));
            return 1;
        }
        Err(e) => return out::core_error(&e),
    };
    if g.json {
        let code = out::json(&report);
        if code != 0 {
            return code;
        }
    } else {
        for n in &report.not_signalled {
            out::err(&format!("pid {} was not signalled: {}\n", n.pid, n.why));
        }
        for s in &report.stopped {
            let signals = s.signals.join(" then ");
            out::out(&if s.exited {
                format!("stopped pid {} ({signals}, {} ms)\n", s.pid, s.waited_ms)
            } else {
                format!(
                    "pid {} is still running after {signals} ({} ms); use --force to SIGKILL it\n",
                    s.pid, s.waited_ms
                )
            });
        }
    }
    if report.ok {
        0
    } else {
        1
    }
}
