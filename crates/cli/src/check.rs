//! `pid-guard check`. (Being ported from lib/cli/check.js.)

use crate::cli::{CheckArgs, Global};

pub fn run(_g: &Global, _a: &CheckArgs) -> i32 {
    crate::out::err("pid-guard check: not implemented yet in the native command\n");
    70
}
