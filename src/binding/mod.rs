//! The napi layer: thin glue from JS to the core, one file per concept. Results and errors
//! cross as JSON text that the JS layer (lib/native.js) turns into objects and
//! `PidGuardError`s, so every shape is defined once, by the core's serde types.

pub mod guard;
pub mod health;
pub mod lifecycle;

use crate::error::{Code, Error};
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

#[napi_derive::napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
