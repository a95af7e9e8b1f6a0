//! `pid-guard check <name>`: the fast fail for npm `prestart`. Exit 0 when the guard is free (a
//! stale one is cleaned, and said in one line), 1 with the holder and how to stop it when held,
//! or when a dead holder's orphans still run.

use crate::cli::{CheckArgs, Global};
use crate::out;
use pid_guard_core::error::{Code, Error};
use pid_guard_core::guard::{self, AcquireOptions};
use pid_guard_core::mode::Mode;
use pid_guard_core::status::{self, orphan_line, State};

pub fn run(g: &Global, a: &CheckArgs) -> i32 {
    let [name] = a.names.as_slice() else {
        return out::usage_error("check", "expects exactly one guard name");
    };
    let dir = g.dir.as_deref();
    let opts = AcquireOptions {
        dir,
        mode: Mode::Exclusive,
        meta: serde_json::json!({}),
    };
    let mut guard = match guard::acquire(name, &opts) {
        Ok(g) => g,
        Err(e) if e.code == Code::Locked => {
            out::err(&format!("{}\n", e.message));
            return 1;
        }
        // A directory this user may read but not write in (another user's service directory,
        // inspected by root): answer from status, without cleaning anything.
        Err(e) if e.code == Code::UnsafeDir => return read_only(name, g, e),
        Err(e) => return out::core_error(&e),
    };
    let recovered = guard.recovered().to_vec();
    if let Err(e) = guard.release() {
        return out::core_error(&e);
    }
    let mut code = 0;
    for r in &recovered {
        if r.orphans.is_empty() {
            let removed: Vec<String> = r.removed.iter().map(|p| p.display().to_string()).collect();
            out::out(&format!(
                "pid-guard: \"{name}\" was stale ({}); cleaned {}\n",
                r.reason,
                removed.join(", ")
            ));
        } else {
            // The holder is gone but what it started still runs (the record keeps naming them).
            out::err(&format!(
                "pid-guard: \"{name}\" is not held, but {}\n",
                r.reason
            ));
            for o in r.orphans.iter().filter(|o| !o.verified) {
                out::err(&format!("  {}\n", orphan_line(o, name)));
            }
            code = 1;
        }
    }
    code
}

fn read_only(name: &str, g: &Global, why: Error) -> i32 {
    let Ok(st) = status::status(name, g.dir.as_deref()) else {
        return out::core_error(&why);
    };
    match st.state {
        State::Held => {
            let h = st.holders.first();
            let who = match h.and_then(|h| h.pid) {
                Some(pid) => format!("pid {pid}"),
                None => match h.and_then(|h| h.uid) {
                    Some(uid) => format!("a process this user cannot see (uid {uid})"),
                    None => "a process this user cannot see".into(),
                },
            };
            out::err(&format!(
                "pid-guard: \"{name}\" is already running ({who}; lock file {})\n",
                st.lock_path.display()
            ));
            1
        }
        State::Orphaned => {
            out::err(&format!(
                "pid-guard: \"{name}\" is not held, but its holder's orphans still run\n"
            ));
            for o in &st.orphans {
                out::err(&format!("  {}\n", orphan_line(o, name)));
            }
            1
        }
        State::Stale => {
            out::out(&format!(
                "pid-guard: \"{name}\" is stale ({}); not cleaned: {}\n",
                st.stale_reason.as_deref().unwrap_or("undefined"),
                out::bare(&why.message)
            ));
            0
        }
        _ => 0,
    }
}
