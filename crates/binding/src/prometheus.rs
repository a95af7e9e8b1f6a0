//! napi glue for `toPrometheus()`: the results arrive as JSON (absent for JS `undefined`), the
//! exposition text is the core's (pid_guard_core::health::prometheus), the same as the CLI's.

use crate::to_js;
use napi_derive::napi;
use pid_guard_core::error::{Code, Error};
use pid_guard_core::health::prometheus;

#[napi]
pub fn to_prometheus(input_json: Option<String>) -> napi::Result<String> {
    let input: Option<serde_json::Value> = match input_json {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            to_js(Error::new(
                Code::InvalidOption,
                format!("toPrometheus: the results are not JSON: {e}"),
            ))
        })?),
    };
    prometheus::to_prometheus(input.as_ref()).map_err(to_js)
}
