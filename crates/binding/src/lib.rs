//! The napi layer: thin glue from JS to the core, one file per concept. Results and errors
//! cross as JSON text that the JS layer (lib/native.js) turns into objects and
//! `PidGuardError`s, so every shape is defined once, by the core's serde types.

pub mod guard;
pub mod health;
pub mod lifecycle;
pub mod prometheus;
pub mod prune;

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::Env;
use pid_guard_core::error::{Code, Error};
use serde::Serialize;

/// Errors reach JS as `Error { message: '<json>' }`; lib/native.js rebuilds them.
pub fn to_js(e: Error) -> napi::Error {
    let json = serde_json::to_string(&e).unwrap_or_else(|_| e.message.clone());
    napi::Error::new(napi::Status::GenericFailure, json)
}

pub fn json<T: Serialize>(v: &T) -> napi::Result<String> {
    serde_json::to_string(v).map_err(|e| napi::Error::from_reason(e.to_string()))
}

pub fn invalid(msg: String) -> napi::Error {
    to_js(Error::new(Code::InvalidOption, msg))
}

/// Runs `work` on a thread of its own and settles a Promise with `finish(result)` on the JS
/// thread. Not the libuv pool: a wait or a takeover may last minutes and a health sample sleeps
/// for its window, and the pool has 4 threads that every fs, dns and crypto call of the process
/// shares (4 waiting acquires stalled a 1-byte readFile for 3 s).
pub fn on_own_thread<'env, T, V>(
    env: &'env Env,
    work: impl FnOnce() -> napi::Result<T> + Send + 'static,
    finish: impl FnOnce(T) -> napi::Result<V> + Send + 'static,
) -> napi::Result<Object<'env>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    std::thread::Builder::new()
        .name("pid-guard-work".into())
        .spawn(move || match work() {
            Ok(v) => deferred.resolve(move |_env: Env| finish(v)),
            Err(e) => deferred.reject(e),
        })
        .map_err(|e| napi::Error::from_reason(format!("pid-guard: cannot start a thread: {e}")))?;
    Ok(promise)
}

#[napi_derive::napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
