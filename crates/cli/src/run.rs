//! `pid-guard run`. (Being ported from lib/cli/run.js.)

use crate::cli::{Global, RunArgs};

pub fn run(_g: &Global, _a: &RunArgs) -> i32 {
    crate::out::err("pid-guard run: not implemented yet in the native command\n");
    70
}
