//! napi glue for health checks: target and options arrive as JSON, the report leaves as JSON.
//! `health` runs on the libuv thread pool (the CPU window sleeps there, not on the JS thread).

use crate::{invalid, json, JsonTask};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;
use pid_guard_core::health::{self, Options, Target};

fn parse(target_json: &str, options_json: &str) -> napi::Result<(Target, Options)> {
    let target: Target = serde_json::from_str(target_json).map_err(|e| {
        invalid(format!(
            "health target must be {{ pid }} or {{ port }}: {e}"
        ))
    })?;
    let options: Options = serde_json::from_str(options_json)
        .map_err(|e| invalid(format!("bad health options: {e}")))?;
    Ok((target, options))
}

/// One check without a CPU window (`sampleMs` is ignored): `cpuPercent` is null.
#[napi]
pub fn health_sync(target_json: String, options_json: String) -> napi::Result<String> {
    let (target, mut options) = parse(&target_json, &options_json)?;
    options.sample_ms = None;
    json(&health::check(&target, &options))
}

/// The full check on the thread pool; resolves to the report as JSON.
#[napi(ts_return_type = "Promise<string>")]
pub fn health(target_json: String, options_json: String) -> napi::Result<AsyncTask<JsonTask>> {
    let (target, options) = parse(&target_json, &options_json)?;
    Ok(JsonTask::new(move || {
        json(&health::check(&target, &options))
    }))
}
