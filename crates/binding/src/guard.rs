//! napi glue for the guard: acquire, status, list and the guard handle.

use crate::{invalid, json, to_js};
use napi_derive::napi;
use pid_guard_core::guard::{self, AcquireOptions, Guard};
use pid_guard_core::mode::Mode;
use pid_guard_core::record;
use pid_guard_core::takeover::TakeoverOptions;
use pid_guard_core::wait::Cancel;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn meta(meta_json: Option<&str>) -> napi::Result<serde_json::Value> {
    record::parse_meta(meta_json).map_err(invalid)
}

#[napi]
pub struct NativeGuard {
    pub(crate) inner: Guard,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GuardInfo<'a> {
    name: &'a str,
    pid: u32,
    mode: Mode,
    dir: &'a Path,
    pid_path: &'a Path,
    lock_path: &'a Path,
    record_path: &'a Path,
    recovered: &'a [guard::Recovered],
    record: &'a record::Record,
}

#[napi]
impl NativeGuard {
    /// Everything about the guard as JSON (read once by the JS Guard).
    #[napi]
    pub fn info(&self) -> napi::Result<String> {
        let g = &self.inner;
        json(&GuardInfo {
            name: g.name(),
            pid: g.pid(),
            mode: g.mode(),
            dir: g.dir(),
            pid_path: g.pid_path(),
            lock_path: g.lock_path(),
            record_path: g.record_path(),
            recovered: g.recovered(),
            record: g.record(),
        })
    }

    #[napi]
    pub fn update(&mut self, meta_json: String) -> napi::Result<()> {
        let m = meta(Some(&meta_json))?;
        self.inner.update(m).map_err(to_js)
    }

    #[napi]
    pub fn release(&mut self) -> napi::Result<()> {
        self.inner.release().map_err(to_js)
    }

    /// Release at exit: first notes in the record any processes this holder started that still
    /// run, so they are seen as its orphans once it is gone.
    #[napi]
    pub fn release_at_exit(&mut self) -> napi::Result<()> {
        let noted = self.inner.note_leftovers();
        self.inner.release().map_err(to_js)?;
        noted.map_err(to_js)
    }

    /// Whether this guard is the one `pid-guard run` passed down (the JS layer then removes
    /// PID_GUARD_FD from `process.env`, so the service's children do not try to adopt it).
    #[napi]
    pub fn adopted(&self) -> bool {
        self.inner.adopted()
    }

    /// `[name, value]` of the marker variable children of this holder inherit (the JS layer sets
    /// it in `process.env`); null once released.
    #[napi]
    pub fn marker(&self) -> Option<Vec<String>> {
        self.inner
            .marker()
            .map(|(k, v)| vec![k.to_string(), v.to_string()])
    }

    #[napi]
    pub fn released(&self) -> bool {
        self.inner.is_released()
    }
}

/// Options of acquire as the JS layer sends them (already checked there; checked again here).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcquireArgs {
    pub dir: Option<String>,
    pub mode: Option<String>,
    pub meta: Option<serde_json::Value>,
    pub on_conflict: Option<String>,
    pub timeout_ms: Option<f64>,
    pub grace_ms: Option<f64>,
    pub takeover_signal: Option<String>,
}

pub enum Conflict {
    Fail,
    Wait(Option<Duration>),
    Takeover(TakeoverOptions),
}

pub struct Parsed {
    pub dir: Option<PathBuf>,
    pub mode: Mode,
    pub meta: serde_json::Value,
    pub conflict: Conflict,
}

fn ms(v: Option<f64>, what: &str) -> napi::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(Duration::from_millis(x as u64))),
        Some(x) => Err(invalid(format!(
            "{what} must be a number of milliseconds >= 0, not {x}"
        ))),
    }
}

pub fn parse_args(json_text: &str) -> napi::Result<Parsed> {
    let a: AcquireArgs = serde_json::from_str(json_text)
        .map_err(|e| invalid(format!("bad acquire options: {e}")))?;
    let mode = match a.mode.as_deref() {
        None => Mode::Exclusive,
        Some(m) => Mode::parse(m)
            .ok_or_else(|| invalid(format!("mode must be 'exclusive' or 'shared', not {m:?}")))?,
    };
    let meta_text = a.meta.as_ref().map(|m| m.to_string());
    let meta = meta(meta_text.as_deref())?;
    let timeout = ms(a.timeout_ms, "timeoutMs")?;
    let conflict = match a.on_conflict.as_deref().unwrap_or("fail") {
        "fail" => Conflict::Fail,
        "wait" => Conflict::Wait(timeout),
        "takeover" => Conflict::Takeover(TakeoverOptions {
            signal: match a.takeover_signal.as_deref() {
                None => pid_guard_core::signal::SIGTERM,
                Some(s) => pid_guard_core::signal::parse_signal(s).ok_or_else(|| {
                    invalid(format!(
                        "takeoverSignal {s:?} is not a signal name like 'SIGTERM'"
                    ))
                })?,
            },
            grace: ms(a.grace_ms, "graceMs")?.unwrap_or(Duration::from_millis(5000)),
            kill_wait: timeout.unwrap_or(Duration::from_secs(10)),
        }),
        other => {
            return Err(invalid(format!(
                "onConflict must be 'fail', 'wait' or 'takeover', not {other:?}"
            )))
        }
    };
    Ok(Parsed {
        dir: a.dir.map(PathBuf::from),
        mode,
        meta,
        conflict,
    })
}

/// Acquires under the conflict policy; `cancel` stops a wait or takeover early.
pub fn run_acquire(
    name: &str,
    p: &Parsed,
    cancel: Option<&Cancel>,
) -> pid_guard_core::error::Result<Guard> {
    let opts = AcquireOptions {
        dir: p.dir.as_deref(),
        mode: p.mode,
        meta: p.meta.clone(),
    };
    match &p.conflict {
        Conflict::Fail => guard::acquire(name, &opts),
        Conflict::Wait(t) => pid_guard_core::wait::acquire_waiting(name, &opts, *t, cancel),
        Conflict::Takeover(t) => pid_guard_core::takeover::acquire_takeover(name, &opts, t, cancel),
    }
}

#[napi]
pub fn acquire(name: String, options_json: String) -> napi::Result<NativeGuard> {
    let p = parse_args(&options_json)?;
    run_acquire(&name, &p, None)
        .map(|inner| NativeGuard { inner })
        .map_err(to_js)
}

#[napi]
pub fn status(name: String, dir: Option<String>) -> napi::Result<String> {
    json(&pid_guard_core::status::status(&name, dir.as_deref().map(Path::new)).map_err(to_js)?)
}

/// Processes carrying the marker of the guard's live holder that no longer descend from it.
#[napi]
pub fn strays(name: String, dir: Option<String>) -> napi::Result<String> {
    json(&pid_guard_core::status::strays(&name, dir.as_deref().map(Path::new)).map_err(to_js)?)
}

#[napi]
pub fn list(dir: Option<String>) -> napi::Result<String> {
    json(&pid_guard_core::status::list(dir.as_deref().map(Path::new)).map_err(to_js)?)
}
