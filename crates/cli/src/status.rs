//! `pid-guard status`. (Being ported from lib/cli/status.js.)

use crate::cli::{Global, StatusArgs};

pub fn run(_g: &Global, _a: &StatusArgs) -> i32 {
    crate::out::err("pid-guard status: not implemented yet in the native command\n");
    70
}
