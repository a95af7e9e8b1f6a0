//! `pid-guard stop`. (Being ported from lib/cli/stop.js.)

use crate::cli::{Global, StopArgs};

pub fn run(_g: &Global, _a: &StopArgs) -> i32 {
    crate::out::err("pid-guard stop: not implemented yet in the native command\n");
    70
}
