//! `pid-guard health`. (Being ported from lib/cli/health.js.)

use crate::cli::{Global, HealthArgs};

pub fn run(_g: &Global, _a: &HealthArgs) -> i32 {
    crate::out::err("pid-guard health: not implemented yet in the native command\n");
    70
}
