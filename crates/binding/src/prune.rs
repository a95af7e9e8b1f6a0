//! napi glue for `prune`: the report leaves as JSON.

use crate::{json, to_js};
use napi_derive::napi;
use std::path::Path;

/// Removes the leftover files of free and stale guards in `dir`; never a held or orphaned one's.
#[napi]
pub fn prune(dir: Option<String>) -> napi::Result<String> {
    json(&pid_guard_core::prune::prune(dir.as_deref().map(Path::new)).map_err(to_js)?)
}
