//! napi glue for health checks: target and options arrive as JSON, the report leaves as JSON.
//! `health` runs on a thread of its own (the CPU window sleeps there, not on the JS thread and
//! not in the libuv pool).

use crate::{invalid, json, on_own_thread};
use napi::bindgen_prelude::Object;
use napi::Env;
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

/// The full check on a thread of its own; resolves to the report as JSON.
#[napi(ts_return_type = "Promise<string>")]
pub fn health<'env>(
    env: &'env Env,
    target_json: String,
    options_json: String,
) -> napi::Result<Object<'env>> {
    let (target, options) = parse(&target_json, &options_json)?;
    on_own_thread(env, move || json(&health::check(&target, &options)), Ok)
}
