//! napi glue for the lifecycle: acquire off the main thread (with AbortSignal support through
//! a canceller), and stop.

use crate::guard::{parse_args, run_acquire, NativeGuard, Parsed};
use crate::{invalid, json, to_js, JsonTask};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use pid_guard_core::stop::{self, StopOptions};
use pid_guard_core::wait::Cancel;
use std::sync::Arc;
use std::time::Duration;

/// Lets JS abort a wait running on the thread pool (`AbortSignal` -> `cancel()`).
#[napi]
pub struct NativeCancel {
    inner: Arc<Cancel>,
}

#[napi]
impl NativeCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeCancel {
            inner: Arc::new(Cancel::new()),
        }
    }

    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

impl Default for NativeCancel {
    fn default() -> Self {
        Self::new()
    }
}

pub struct AcquireTask {
    name: String,
    args: Parsed,
    cancel: Arc<Cancel>,
}

impl Task for AcquireTask {
    type Output = pid_guard_core::guard::Guard;
    type JsValue = NativeGuard;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        run_acquire(&self.name, &self.args, Some(&self.cancel)).map_err(to_js)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(NativeGuard { inner: output })
    }
}

#[napi(ts_return_type = "Promise<NativeGuard>")]
pub fn acquire_async(
    name: String,
    options_json: String,
    cancel: &NativeCancel,
) -> napi::Result<AsyncTask<AcquireTask>> {
    Ok(AsyncTask::new(AcquireTask {
        name,
        args: parse_args(&options_json)?,
        cancel: cancel.inner.clone(),
    }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StopArgs {
    name: Option<String>,
    pid: Option<u32>,
    port: Option<u16>,
    dir: Option<String>,
    signal: Option<String>,
    timeout_ms: Option<f64>,
    force: Option<bool>,
}

fn run_stop(a: &StopArgs, opts: &StopOptions) -> napi::Result<String> {
    let dir = a.dir.as_deref().map(std::path::Path::new);
    let report = match (&a.name, a.pid, a.port) {
        (Some(n), None, None) => stop::stop_name(n, dir, opts),
        (None, Some(pid), None) => stop::stop_pid(pid, opts),
        (None, None, Some(port)) => stop::stop_port(port, dir, opts),
        _ => {
            return Err(invalid(
                "stop needs one target: a guard name, { pid } or { port }".into(),
            ))
        }
    };
    json(&report.map_err(to_js)?)
}

#[napi(ts_return_type = "Promise<string>")]
pub fn stop_async(args_json: String) -> napi::Result<AsyncTask<JsonTask>> {
    let args: StopArgs =
        serde_json::from_str(&args_json).map_err(|e| invalid(format!("bad stop options: {e}")))?;
    let signal = match args.signal.as_deref() {
        None => pid_guard_core::signal::SIGTERM,
        Some(s) => pid_guard_core::signal::parse_signal(s)
            .ok_or_else(|| invalid(format!("signal {s:?} is not a signal name like 'SIGTERM'")))?,
    };
    let timeout = match args.timeout_ms {
        None => Duration::from_secs(10),
        Some(x) if x.is_finite() && x >= 0.0 => Duration::from_millis(x as u64),
        Some(x) => return Err(invalid(format!("timeoutMs must be >= 0, not {x}"))),
    };
    let opts = StopOptions {
        signal,
        timeout,
        force: args.force.unwrap_or(false),
    };
    Ok(JsonTask::new(move || run_stop(&args, &opts)))
}
