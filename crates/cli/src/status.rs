//! `pid-guard status [name] [--json]`: who holds a guard (every guard without a name), without
//! taking the lock or touching any file. Exit 0 when held (always 0 without a name), 3 when free,
//! stale or orphaned.

use crate::cli::{Global, StatusArgs};
use crate::out;
use pid_guard_core::status::{self, orphan_line, State, Status};
use serde_json::Value;

pub fn run(g: &Global, a: &StatusArgs) -> i32 {
    if a.names.len() > 1 {
        return out::usage_error("status", "expects at most one guard name");
    }
    let dir = g.dir.as_deref();
    match a.names.first() {
        Some(name) => match status::status(name, dir) {
            Ok(st) => {
                if g.json {
                    let code = out::json(&st);
                    if code != 0 {
                        return code;
                    }
                } else {
                    out::out(&describe(&st));
                }
                if st.state == State::Held {
                    0
                } else {
                    3
                }
            }
            Err(e) => out::core_error(&e),
        },
        None => match status::list(dir) {
            Ok(all) if g.json => out::json(&all),
            Ok(all) if all.is_empty() => {
                out::out("no guards\n");
                0
            }
            Ok(all) => {
                out::out(&all.iter().map(describe).collect::<String>());
                0
            }
            Err(e) => out::core_error(&e),
        },
    }
}

pub fn state_word(s: State) -> &'static str {
    match s {
        State::Free => "free",
        State::Held => "held",
        State::Stale => "stale",
        State::Orphaned => "orphaned",
        State::Unsafe => "unsafe",
    }
}

/// A guard's status for people, as the JS CLI printed it.
pub fn describe(s: &Status) -> String {
    let word = state_word(s.state);
    let state = match s.state {
        State::Held => out::green(word),
        State::Stale | State::Unsafe | State::Orphaned => out::yellow(word),
        State::Free => out::dim(word),
    };
    let mode = s
        .mode
        .map(|m| format!(" ({})", m.as_str()))
        .unwrap_or_default();
    let mut lines = vec![format!("{}: {state}{mode}", s.name)];
    let me = pid_guard_core::identity::current_uid();
    for h in &s.holders {
        let started = h
            .started_at
            .map(|t| format!(", up {}", out::since(t)))
            .unwrap_or_default();
        let alive = if h.alive { "" } else { " (not running)" };
        let meta = h
            .record
            .as_ref()
            .map(|r| &r.meta)
            .filter(|m| has_keys(m))
            .map(|m| format!(" {m}"))
            .unwrap_or_default();
        let uid = match h.uid {
            Some(u) if Some(u) != me => format!(", uid {u}"),
            _ => String::new(),
        };
        // A busy lock with no visible holder: another user's process, or another PID namespace.
        match h.pid {
            // "a process this user cannot see, uid N": the core's words (Holder::describe).
            None if s.state == State::Held => lines.push(format!("  held by {}", h.describe())),
            pid => lines.push(format!(
                "  pid {}{alive}{started}{uid}{meta}",
                pid.map(|p| p.to_string())
                    .unwrap_or_else(|| "unknown".into())
            )),
        }
    }
    if let Some(r) = &s.stale_reason {
        let what = if s.state == State::Orphaned {
            "orphaned"
        } else {
            "stale"
        };
        lines.push(format!("  {what}: {r}"));
    }
    for o in &s.orphans {
        lines.push(format!("  {}", orphan_line(o, &s.name)));
    }
    if let Some(p) = &s.problem {
        let what = if s.state == State::Unsafe {
            "unsafe"
        } else {
            "ignored"
        };
        lines.push(format!("  {what}: {}", out::bare(&p.message)));
    }
    let problem = s
        .pid_file
        .problem
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    lines.push(format!(
        "  pid file: {}{problem}",
        s.pid_file.path.display()
    ));
    lines.join("\n") + "\n"
}

/// `Object.keys(meta).length > 0` for a JSON value, as the JS CLI tested it.
fn has_keys(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => false,
    }
}
