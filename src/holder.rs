//! What is known about one (possible) holder of a guard: its PID, whether that process is alive,
//! and whether it is proven to hold the lock now. On Linux only the kernel proves that (the
//! lock shows on one of the process's own fds); elsewhere the full recorded identity must match
//! (pid, start time, boot) while the lock is busy.

use crate::identity::{self, Probe};
use crate::mode::Mode;
use crate::record::Record;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::path::PathBuf;

/// Serialized (for the JS API and the CLI's `--json` alike) as its public fields in this order,
/// then `meta`: the recorded meta lifted to the top (`record.meta`, `null` without a record),
/// as index.d.ts declares a holder. The fields marked "not serialized" stay inside.
#[derive(Clone, Debug)]
pub struct Holder {
    /// `None` when the lock is held by a process this user cannot see (another user's, or in
    /// another PID namespace), or nothing can tell.
    pub pid: Option<u32>,
    pub mode: Option<Mode>,
    /// The process exists now (for a holder with an unknown pid: the lock is held).
    pub alive: bool,
    /// Proven to hold the lock now: on Linux the kernel shows the lock on one of its own fds;
    /// elsewhere it is alive with the recorded start time and boot while the lock is busy. Only
    /// a verified holder is ever signalled.
    pub verified: bool,
    /// The user it runs as: from the process where visible, else the lock file's owner.
    pub uid: Option<u32>,
    /// Start time of the live process, ms since the epoch.
    pub started_at: Option<u64>,
    pub pid_path: Option<PathBuf>,
    /// What the holder recorded (meta, host, command line...), when there is a record.
    pub record: Option<Record>,
    /// How it was found: `pidfile`, `record` or `kernel` (the OS shows it holding the lock).
    pub source: &'static str,
    /// Exact start token of the live process when it was examined (pins it for a signal).
    /// Not serialized.
    pub start_id: Option<String>,
    /// Alive with the recorded start time and boot (not yet proof that it holds the lock).
    /// Not serialized.
    pub matches_record: bool,
    /// The record was written in another PID namespace: its pid says nothing here.
    /// Not serialized.
    pub other_ns: bool,
    /// Provably gone: no such process, or a different one (other start time, other boot).
    /// Not serialized.
    pub gone: bool,
}

impl Serialize for Holder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Holder", 10)?;
        m.serialize_field("pid", &self.pid)?;
        m.serialize_field("mode", &self.mode)?;
        m.serialize_field("alive", &self.alive)?;
        m.serialize_field("verified", &self.verified)?;
        m.serialize_field("uid", &self.uid)?;
        m.serialize_field("startedAt", &self.started_at)?;
        m.serialize_field("pidPath", &self.pid_path)?;
        m.serialize_field("record", &self.record)?;
        m.serialize_field("source", &self.source)?;
        m.serialize_field("meta", &self.record.as_ref().map(|r| &r.meta))?;
        m.end()
    }
}

impl Holder {
    /// Probes `pid` and checks it against `record` (not proof of holding the lock).
    pub fn examine(
        pid: u32,
        record: Option<Record>,
        source: &'static str,
        pid_path: Option<PathBuf>,
    ) -> Holder {
        let record = record.filter(|r| r.pid == pid);
        if record.as_ref().is_some_and(|r| !r.same_ns()) {
            return Holder {
                pid: Some(pid),
                mode: record.as_ref().map(|r| r.mode),
                alive: false,
                verified: false,
                uid: record.as_ref().and_then(|r| r.uid),
                started_at: None,
                pid_path,
                record,
                source,
                start_id: None,
                matches_record: false,
                other_ns: true,
                gone: false,
            };
        }
        let (alive, identity) = match identity::probe(pid) {
            Probe::Gone => (false, None),
            Probe::Alive(id) => (true, id),
        };
        let matches_record = match (&record, &identity) {
            (Some(r), Some(id)) => r.matches(id),
            _ => false,
        };
        // Another process under the recorded pid: start times (or boots) differ.
        let replaced = match (&record, &identity) {
            (Some(r), Some(id)) => {
                !identity::same_boot(&r.boot_id, identity::boot_id())
                    || r.start_id.as_deref().is_some_and(|s| s != id.start_id)
            }
            _ => false,
        };
        Holder {
            pid: Some(pid),
            mode: record.as_ref().map(|r| r.mode),
            alive,
            verified: false,
            uid: if alive { identity::uid_of(pid) } else { None }
                .or(record.as_ref().and_then(|r| r.uid)),
            started_at: identity.as_ref().and_then(|i| i.started_at_ms),
            pid_path,
            record,
            source,
            start_id: identity.map(|i| i.start_id),
            matches_record,
            other_ns: false,
            gone: !alive || replaced,
        }
    }

    /// A process the OS shows holding the lock now. `record` is attached only if it is this
    /// very process's (same pid, namespace, start time and boot).
    pub fn proven(
        pid: u32,
        exclusive: bool,
        record: Option<Record>,
        source: &'static str,
        pid_path: Option<PathBuf>,
    ) -> Holder {
        let mut h = Holder::examine(pid, record, source, pid_path);
        if !h.matches_record {
            h.record = None;
            h.pid_path = None;
            h.source = "kernel";
        }
        h.other_ns = false;
        h.gone = false;
        h.alive = true;
        h.verified = true;
        h.uid = identity::uid_of(pid).or(h.uid);
        h.mode = Some(if exclusive {
            Mode::Exclusive
        } else {
            Mode::Shared
        });
        h
    }

    /// This examined candidate, now proven by the kernel to hold the lock (no second probe).
    pub fn into_proven(mut self, exclusive: bool) -> Holder {
        if !self.matches_record {
            self.record = None;
            self.pid_path = None;
            self.source = "kernel";
        }
        self.other_ns = false;
        self.gone = false;
        self.alive = true;
        self.verified = true;
        self.mode = Some(if exclusive {
            Mode::Exclusive
        } else {
            Mode::Shared
        });
        self
    }

    /// The lock is held, by a process this user cannot see.
    pub fn unseen(mode: Option<Mode>, uid: Option<u32>) -> Holder {
        Holder {
            pid: None,
            mode,
            alive: true,
            verified: false,
            uid,
            started_at: None,
            pid_path: None,
            record: None,
            source: "kernel",
            start_id: None,
            matches_record: false,
            other_ns: false,
            gone: false,
        }
    }

    /// Why this candidate is not (or no longer) the holder, in one sentence.
    pub fn stale_reason(&self) -> String {
        let Some(pid) = self.pid else {
            return "no holder is recorded".into();
        };
        if self.other_ns {
            return format!(
                "pid {pid} was recorded in another PID namespace (a container sharing the directory?), where it names another process than pid {pid} here"
            );
        }
        if !self.alive {
            return format!("process {pid} is not running");
        }
        if self.matches_record {
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

    /// "pid 12345, started 3 min ago" for messages (with the uid when it is another user's).
    pub fn describe(&self) -> String {
        let uid = match self.uid {
            Some(u) if Some(u) != identity::current_uid() => format!(", uid {u}"),
            _ => String::new(),
        };
        match self.pid {
            None => format!("a process this user cannot see{uid}"),
            Some(pid) => match self
                .started_at
                .or(self.record.as_ref().and_then(|r| r.started_at))
            {
                Some(t) => format!("pid {pid}, started {}{uid}", ago(t)),
                None => format!("pid {pid}{uid}"),
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
