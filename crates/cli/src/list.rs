//! `pid-guard list`. (Being ported from lib/cli/list.js.)

use crate::cli::{Global, ListArgs};

pub fn run(_g: &Global, _a: &ListArgs) -> i32 {
    crate::out::err("pid-guard list: not implemented yet in the native command\n");
    70
}
