//! The napi layer: thin glue from JS to the core, one file per concept. Results and errors
//! cross as JSON text that the JS layer (lib/native.js) turns into objects and
//! `PidGuardError`s, so every shape is defined once, by the core's serde types.

pub mod guard;
pub mod health;
pub mod lifecycle;
pub mod prune;

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
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

/// Work for the libuv thread pool whose result crosses to JS as JSON text (health, stop).
pub struct JsonTask(Box<dyn FnMut() -> napi::Result<String> + Send>);

impl JsonTask {
    pub fn new(f: impl FnMut() -> napi::Result<String> + Send + 'static) -> AsyncTask<JsonTask> {
        AsyncTask::new(JsonTask(Box::new(f)))
    }
}

impl Task for JsonTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        (self.0)()
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

#[napi_derive::napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
