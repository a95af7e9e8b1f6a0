//! `pid-guard prune [--json]`: removes the leftover files of guards nothing holds; never those
//! of a held or orphaned guard. Exit 0 done, 1 some guard's files could not be removed.

use crate::cli::{Global, PruneArgs};
use crate::out;
use pid_guard_core::prune::{self, Report};

pub fn run(g: &Global, a: &PruneArgs) -> i32 {
    if !a.extra.is_empty() {
        return out::usage_error(
            "prune",
            "takes no arguments: it prunes every guard in the directory",
        );
    }
    let report = match prune::prune(g.dir.as_deref()) {
        Ok(r) => r,
        Err(e) => return out::core_error(&e),
    };
    if g.json {
        let code = out::json(&report);
        if code != 0 {
            return code;
        }
        for x in &report.errors {
            out::err(&format!("{}\n", x.error.message));
        }
    } else {
        out::out(&human(&report));
    }
    if report.errors.is_empty() {
        0
    } else {
        1
    }
}

fn human(r: &Report) -> String {
    let mut lines = Vec::new();
    for x in &r.removed {
        let removed: Vec<String> = x.removed.iter().map(|p| p.display().to_string()).collect();
        let removed = if removed.is_empty() {
            "nothing left".to_string()
        } else {
            removed.join(", ")
        };
        lines.push(format!(
            "removed {} ({}): {removed}",
            x.name,
            crate::status::state_word(x.state)
        ));
    }
    for x in &r.kept {
        lines.push(out::dim(&format!("kept {}: {}", x.name, x.reason)));
    }
    for x in &r.errors {
        lines.push(format!(
            "failed {}: {}",
            x.name,
            out::bare(&x.error.message)
        ));
    }
    if lines.is_empty() {
        lines.push(format!("no guards in {}", r.dir.display()));
    }
    lines.join("\n") + "\n"
}
