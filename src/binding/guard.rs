//! napi glue for the guard: acquire, status, list and the guard handle.

use super::{invalid, json, to_js};
use crate::guard::{self, AcquireOptions, Guard};
use crate::mode::Mode;
use crate::record;
use napi_derive::napi;
use serde::Serialize;
use std::path::Path;

fn meta(meta_json: Option<&str>) -> napi::Result<serde_json::Value> {
    record::parse_meta(meta_json).map_err(invalid)
}

#[napi]
pub struct NativeGuard {
    inner: Guard,
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

    #[napi]
    pub fn released(&self) -> bool {
        self.inner.is_released()
    }
}

#[napi]
pub fn acquire(
    name: String,
    dir: Option<String>,
    mode: Option<String>,
    meta_json: Option<String>,
) -> napi::Result<NativeGuard> {
    let mode = match mode.as_deref() {
        None => Mode::Exclusive,
        Some(m) => Mode::parse(m)
            .ok_or_else(|| invalid(format!("mode must be 'exclusive' or 'shared', not {m:?}")))?,
    };
    let opts = AcquireOptions {
        dir: dir.as_deref().map(Path::new),
        mode,
        meta: meta(meta_json.as_deref())?,
    };
    guard::acquire(&name, &opts)
        .map(|inner| NativeGuard { inner })
        .map_err(to_js)
}

#[napi]
pub fn status(name: String, dir: Option<String>) -> napi::Result<String> {
    json(&crate::status::status(&name, dir.as_deref().map(Path::new)).map_err(to_js)?)
}

#[napi]
pub fn list(dir: Option<String>) -> napi::Result<String> {
    json(&crate::status::list(dir.as_deref().map(Path::new)).map_err(to_js)?)
}
