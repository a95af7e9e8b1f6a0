//! What is known about one (possible) holder of a guard: its PID, whether that process is alive,
//! and whether it is provably the process that recorded itself (same start time, same boot).

use crate::identity::{self, Probe};
use crate::mode::Mode;
use crate::record::Record;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// `None` when no one can tell (no pid file, and no kernel lock table on this OS).
    pub pid: Option<u32>,
    pub mode: Option<Mode>,
    /// The process exists now.
    pub alive: bool,
    /// The live process is the one that wrote the record: same start time, same boot.
    pub verified: bool,
    /// Start time of the live process, ms since the epoch.
    pub started_at: Option<u64>,
    pub pid_path: Option<PathBuf>,
    /// What the holder recorded (meta, host, command line...), when there is a record.
    pub record: Option<Record>,
    /// How it was found: `pidfile`, `record` or `kernel` (the OS lock table).
    pub source: &'static str,
}

impl Holder {
    /// Probes `pid` and checks it against `record`.
    pub fn examine(
        pid: u32,
        record: Option<Record>,
        source: &'static str,
        pid_path: Option<PathBuf>,
    ) -> Holder {
        let record = record.filter(|r| r.pid == pid);
        let (alive, identity) = match identity::probe(pid) {
            Probe::Gone => (false, None),
            Probe::Alive(id) => (true, id),
        };
        let verified = match (&record, &identity) {
            (Some(r), Some(id)) => r.matches(id),
            _ => false,
        };
        Holder {
            pid: Some(pid),
            mode: record.as_ref().map(|r| r.mode),
            alive,
            verified,
            started_at: identity.and_then(|i| i.started_at_ms),
            pid_path,
            record,
            source,
        }
    }

    /// Why this candidate is not (or no longer) the holder, in one sentence.
    pub fn stale_reason(&self) -> String {
        let Some(pid) = self.pid else {
            return "no holder is recorded".into();
        };
        if !self.alive {
            return format!("process {pid} is not running");
        }
        if self.verified {
            return format!("process {pid} is running but no longer holds the lock");
        }
        match &self.record {
            Some(r) => format!(
                "pid {pid} now belongs to another process (it started {}, the holder started {})",
                when(self.started_at),
                when(r.started_at)
            ),
            None => format!(
                "pid {pid} is running, but nothing recorded proves it is the holder and the lock is free"
            ),
        }
    }

    /// "pid 12345, started 3 min ago" for messages.
    pub fn describe(&self) -> String {
        match self.pid {
            None => "pid unknown".into(),
            Some(pid) => match self
                .started_at
                .or(self.record.as_ref().and_then(|r| r.started_at))
            {
                Some(t) => format!("pid {pid}, started {}", ago(t)),
                None => format!("pid {pid}"),
            },
        }
    }
}

fn when(ms: Option<u64>) -> String {
    ms.map(ago).unwrap_or_else(|| "at an unknown time".into())
}

/// "3 min ago", "just now": how long before now `ms` (since the epoch) was.
pub fn ago(ms: u64) -> String {
    let secs = crate::record::now_ms().saturating_sub(ms) / 1000;
    match secs {
        0..=1 => "just now".into(),
        2..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        7200..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
