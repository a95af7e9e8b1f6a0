//! Takeover: for restarts. Signal the verified holder (SIGTERM by default), wait for the lock
//! itself to be released (no fixed sleeps: the new copy starts the moment the old one lets go),
//! SIGKILL it after the grace period, then acquire. Only holders whose identity matches what
//! they recorded are ever signalled; a shared guard's holders are all taken over.

use crate::error::{Code, Error, Result};
use crate::guard::{self, AcquireOptions, Guard, Recovered};
use crate::holder::Holder;
use crate::log::debug;
use crate::signal::{self, Verified};
use crate::wait::{self, Cancel};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct TakeoverOptions {
    pub signal: i32,
    pub grace: Duration,
    /// After SIGKILL, how long to wait for the kernel to free the lock.
    pub kill_wait: Duration,
}

/// Proves a holder reported by status/ELOCKED may be signalled: it must be verified (the kernel
/// showed the lock on one of its fds; elsewhere, its full recorded identity matched while the
/// lock was busy), it is pinned (pidfd) with the start time it had then, and on Linux the lock
/// is seen on its fds once more after pinning, so a pid reused in between is never reached.
pub fn verify_holder(h: &Holder, lock_path: &Path) -> std::result::Result<Verified, String> {
    let Some(pid) = h.pid else {
        if let Some(why) = crate::sys::foreign_proc() {
            return Err(why.to_string());
        }
        return Err(
            "the lock is held by a process this user cannot see (another user's, or in another PID namespace), so nothing can be proven about it".into(),
        );
    };
    if !h.verified {
        return Err(match &h.record {
            _ if h.alive => format!(
                "pid {pid} is not proven to hold the lock now (the kernel does not show the lock on any of its fds)"
            ),
            None => format!("pid {pid} left no record (start time) to verify it against"),
            Some(_) => h.stale_reason(),
        });
    }
    let want = h
        .start_id
        .as_deref()
        .or(h.record.as_ref().and_then(|r| r.start_id.as_deref()));
    let Some(want) = want else {
        return Err(format!(
            "the start time of pid {pid} is unknown, so it cannot be pinned"
        ));
    };
    let v = signal::verify(pid, Some(want))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        // The path as it is now (never through a link: a link's own inode matches nothing).
        let id = std::fs::symlink_metadata(lock_path)
            .ok()
            .map(|m| crate::fsio::FileId {
                dev: m.dev(),
                ino: m.ino(),
            });
        let holds = id.map(|id| crate::sys::pid_holds(pid, id));
        if !matches!(holds, Some(crate::sys::Holds::Yes { .. })) {
            return Err(format!(
                "pid {pid} no longer holds the lock on {} (checked again after pinning it)",
                lock_path.display()
            ));
        }
    }
    // Elsewhere the lock must still be busy: a holder that let go is not signalled.
    #[cfg(not(target_os = "linux"))]
    {
        let busy = std::fs::File::open(lock_path)
            .ok()
            .map(|f| crate::flock::probe(&f));
        if !matches!(busy, Some(crate::flock::Busy::Held(_))) {
            return Err(format!(
                "the lock on {} is no longer held (checked again after pinning pid {pid})",
                lock_path.display()
            ));
        }
    }
    Ok(v)
}

fn not_verified(name: &str, pid: Option<u32>, why: &str) -> Error {
    let mut e = Error::new(
        Code::NotVerified,
        format!(
            "will not take over \"{name}\": {why}. Nothing was signalled{}",
            pid.map(|p| format!("; if pid {p} is the old copy, stop it yourself"))
                .unwrap_or_default()
        ),
    );
    e.errno = None;
    e
}

pub fn acquire_takeover(
    name: &str,
    opts: &AcquireOptions,
    t: &TakeoverOptions,
    cancel: Option<&Cancel>,
) -> Result<Guard> {
    let started = Instant::now();
    let (holders, lock_path) = match guard::acquire(name, opts) {
        Ok(mut g) => {
            stop_orphans(name, &mut g, t);
            return Ok(g);
        }
        Err(e) if e.code == Code::Locked => {
            let lock = guard::prepare(name, opts)?.lock;
            (e.holders, lock)
        }
        Err(e) => return Err(e),
    };
    let mut targets: Vec<Verified> = Vec::new();
    for h in &holders {
        match verify_holder(h, &lock_path) {
            Ok(v) => targets.push(v),
            Err(why) => {
                let mut e = not_verified(name, h.pid, &why);
                e.holders = holders.clone();
                return Err(e);
            }
        }
    }
    let mut signals = vec![signal::signal_name(t.signal)];
    for v in &targets {
        debug(format_args!(
            "{name}: takeover: sending {} to verified pid {}",
            signal::signal_name(t.signal),
            v.pid
        ));
        v.send(t.signal)
            .map_err(|e| Error::new(Code::Access, format!("cannot signal pid {}: {e}", v.pid)))?;
    }
    let mut guard = match wait_released(
        name,
        opts,
        &lock_path,
        t.grace,
        t.signal,
        &mut targets,
        cancel,
    )? {
        Some(g) => g,
        None => {
            for v in &targets {
                if !v.exited() {
                    debug(format_args!(
                        "{name}: takeover: pid {} still holds after {} ms: SIGKILL",
                        v.pid,
                        t.grace.as_millis()
                    ));
                    let _ = v.send(signal::SIGKILL);
                }
            }
            signals.push("SIGKILL".into());
            match wait_released(
                name,
                opts,
                &lock_path,
                t.kill_wait,
                signal::SIGKILL,
                &mut targets,
                cancel,
            )? {
                Some(g) => g,
                None => guard::acquire(name, opts).map_err(|mut e| {
                    e.message.push_str(&format!(
                        " (still held {} ms after SIGKILL)",
                        t.kill_wait.as_millis()
                    ));
                    e
                })?,
            }
        }
    };
    stop_orphans(name, &mut guard, t);
    let waited = started.elapsed().as_millis() as u64;
    for v in &targets {
        guard.push_recovered(Recovered {
            pid: Some(v.pid),
            started_at: holders
                .iter()
                .find(|h| h.pid == Some(v.pid))
                .and_then(|h| h.started_at),
            reason: format!(
                "taken over: sent {} to pid {}; it let go after {waited} ms",
                signals.join(" then "),
                v.pid
            ),
            removed: Vec::new(),
            signals: signals.clone(),
            waited_ms: Some(waited),
            orphans: Vec::new(),
        });
    }
    Ok(guard)
}

/// Waits up to `wait` for the lock to be released. Success is the lock let go, not the signalled
/// processes gone: when every one of `targets` has exited and the lock is still held, the lock's
/// other holders (a forked child that inherited the fd: `sh -c 'server & wait'`) are proven
/// ([`verify_holder`]), sent `sig` too and added to `targets`. `None`: still held at the end.
/// The wait is on the lock (inotify) in slices of at most 100 ms, so the processes' exits are
/// looked at between them.
fn wait_released(
    name: &str,
    opts: &AcquireOptions,
    lock_path: &Path,
    wait: Duration,
    sig: i32,
    targets: &mut Vec<Verified>,
    cancel: Option<&Cancel>,
) -> Result<Option<Guard>> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match wait::acquire_waiting(
            name,
            opts,
            Some(left.min(Duration::from_millis(100))),
            cancel,
        ) {
            Ok(g) => return Ok(Some(g)),
            Err(e) if e.code == Code::Locked => {
                if !targets.iter().all(|v| v.exited()) {
                    continue;
                }
                for h in &e.holders {
                    if h.pid.is_some_and(|p| targets.iter().any(|v| v.pid == p)) {
                        continue;
                    }
                    let v = verify_holder(h, lock_path).map_err(|why| {
                        let mut err = not_verified(name, h.pid, &why);
                        err.holders = e.holders.clone();
                        err
                    })?;
                    debug(format_args!(
                        "{name}: takeover: the lock outlived the signalled holders; sending {} to pid {}, which holds it too",
                        signal::signal_name(sig),
                        v.pid
                    ));
                    v.send(sig).map_err(|err| {
                        Error::new(Code::Access, format!("cannot signal pid {}: {err}", v.pid))
                    })?;
                    targets.push(v);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Takeover of what a dead holder left running: its verified orphans (see
/// [`crate::marker::pin`]) get the takeover signal, then SIGKILL after the grace period; the
/// signals are noted in their `recovered` entry. Unverified ones are only reported.
fn stop_orphans(name: &str, g: &mut Guard, t: &TakeoverOptions) {
    let key = g.marker().map(|(k, _)| k.to_string());
    let mut gone_marks = Vec::new();
    for r in g.recovered_mut().iter_mut() {
        if r.orphans.is_empty() {
            continue;
        }
        let (pinned, refused) = crate::stop::pin_orphans(&r.orphans, key.as_deref());
        if pinned.is_empty() {
            for n in &refused {
                r.reason
                    .push_str(&format!("; pid {} not signalled: {}", n.pid, n.why));
            }
            continue;
        }
        let started = Instant::now();
        for v in &pinned {
            debug(format_args!(
                "{name}: takeover: sending {} to orphan pid {}",
                signal::signal_name(t.signal),
                v.pid
            ));
        }
        let escalation = crate::stop::Escalation {
            signal: t.signal,
            grace: t.grace,
            kill_wait: Some(t.kill_wait),
        };
        let pids: Vec<String> = pinned.iter().map(|v| v.pid.to_string()).collect();
        let (signals, all) = match crate::stop::stop_verified(&pinned, &escalation) {
            Ok(stopped) => {
                let mut signals = vec![signal::signal_name(t.signal)];
                if stopped.iter().any(|s| s.signals.len() > 1) {
                    signals.push("SIGKILL".into());
                }
                (signals, stopped.iter().all(|s| s.exited))
            }
            Err(e) => {
                r.reason.push_str(&format!("; {}", e.message));
                (vec![signal::signal_name(t.signal)], false)
            }
        };
        r.reason.push_str(&format!(
            "; taken over: sent {} to pid {}, {} after {} ms",
            signals.join(" then "),
            pids.join(", "),
            if all { "it exited" } else { "still running" },
            started.elapsed().as_millis()
        ));
        for n in &refused {
            r.reason
                .push_str(&format!("; pid {} not signalled: {}", n.pid, n.why));
        }
        r.signals = signals;
        r.waited_ms = Some(started.elapsed().as_millis() as u64);
        if all && refused.is_empty() {
            gone_marks.extend(r.orphans.iter().map(|o| o.mark.clone()));
        }
    }
    // Their holders need no more carrying: the record stops naming them.
    if let Err(e) = g.forget_previous(&gone_marks) {
        debug(format_args!("{name}: takeover: {e}"));
    }
}
