//! napi glue for health checks: the target and options arrive as JSON (validated by the core's
//! `HealthOptions::from_json`), the whole `Health` leaves as JSON. `health` runs on a thread of
//! its own (the CPU window and the endpoint probe wait there, not on the JS thread and not in
//! the libuv pool).

use crate::{json, on_own_thread, to_js};
use napi::bindgen_prelude::Object;
use napi::Env;
use napi_derive::napi;
use pid_guard_core::health::{self, HealthOptions};

/// The largest pid anything accepts (the core's `pidfile::MAX_PID`, what kill(2) takes).
#[napi]
pub const MAX_PID: u32 = pid_guard_core::pidfile::MAX_PID as u32;

/// The parts of a health check that need no waiting: no CPU window, no endpoint probe.
#[napi]
pub fn health_sync(target_json: String, options_json: String) -> napi::Result<String> {
    let (target, mut options) =
        HealthOptions::from_json(&target_json, &options_json).map_err(to_js)?;
    options.probe = false;
    json(&health::health(&target, &options).map_err(to_js)?)
}

/// The full check on a thread of its own; resolves to the `Health` as JSON. Invalid arguments
/// throw at once.
#[napi(ts_return_type = "Promise<string>")]
pub fn health<'env>(
    env: &'env Env,
    target_json: String,
    options_json: String,
) -> napi::Result<Object<'env>> {
    let (target, options) = HealthOptions::from_json(&target_json, &options_json).map_err(to_js)?;
    on_own_thread(
        env,
        move || json(&health::health(&target, &options).map_err(to_js)?),
        Ok,
    )
}
