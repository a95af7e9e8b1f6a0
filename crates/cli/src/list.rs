//! `pid-guard list [--json]`: a table of every guard in the directory, and below it what was
//! found at the paths of a guard that could not be trusted.

use crate::cli::{Global, ListArgs};
use crate::out;
use pid_guard_core::status::{self, State, Status};
use serde_json::Value;

pub fn run(g: &Global, a: &ListArgs) -> i32 {
    if !a.extra.is_empty() {
        return out::usage_error("list", "takes no arguments");
    }
    match status::list(g.dir.as_deref()) {
        Ok(all) if g.json => out::json(&all),
        Ok(all) => {
            out::out(&rows(&all));
            0
        }
        Err(e) => out::core_error(&e),
    }
}

/// A JSON value as JS's `String(v)` writes it (a port recorded as a number or a string).
fn js_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}

fn rows(statuses: &[Status]) -> String {
    let head = ["NAME", "STATE", "PID", "MODE", "UPTIME", "PORT"].map(String::from);
    let mut all = vec![head.to_vec()];
    for s in statuses {
        let live: Vec<_> = s.holders.iter().filter(|h| h.alive).collect();
        let h = live.first().copied().or(s.holders.first());
        let port = h
            .and_then(|h| h.record.as_ref())
            .and_then(|r| r.meta.get("port"))
            .map(js_string)
            .unwrap_or_default();
        let pid = if live.len() > 1 {
            live.iter()
                .map(|x| x.pid.map(|p| p.to_string()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        } else {
            h.and_then(|h| h.pid)
                .map(|p| p.to_string())
                .unwrap_or_default()
        };
        let uptime = match h.and_then(|h| h.started_at) {
            Some(t) if s.state == State::Held => out::since(t),
            _ => String::new(),
        };
        all.push(vec![
            s.name.clone(),
            crate::status::state_word(s.state).to_string(),
            pid,
            s.mode.map(|m| m.as_str().to_string()).unwrap_or_default(),
            uptime,
            port,
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut table = String::new();
    for r in &all {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        table.push_str(line.join("  ").trim_end());
        table.push('\n');
    }
    // An odd entry at a guard's paths (state 'unsafe', or something ignored): say what and where.
    let notes: Vec<String> = statuses
        .iter()
        .filter_map(|s| {
            let p = s.problem.as_ref()?;
            Some(format!("{}: {}\n", s.name, out::bare(&p.message)))
        })
        .collect();
    if notes.is_empty() {
        table
    } else {
        format!("{table}\n{}", notes.concat())
    }
}
