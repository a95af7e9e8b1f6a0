//! `pid-guard prune`. (Being ported from lib/cli/prune.js.)

use crate::cli::{Global, PruneArgs};

pub fn run(_g: &Global, _a: &PruneArgs) -> i32 {
    crate::out::err("pid-guard prune: not implemented yet in the native command\n");
    70
}
