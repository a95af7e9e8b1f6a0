//! TEMPORARY bridge to the health computation, until `pid_guard_core::health::health` lands
//! (the "healthcore" branch moves the whole check, endpoint probe included, into the core).
//! Same types and signature as that API; the result is the JSON of today's JS `Health` object,
//! computed by the current JS implementation (`require(<repo>).health(...)` in `node -e`).
//!
//! At the merge: delete this file, `use pid_guard_core::health::{...}` in health.rs, and make
//! `health()` there `serde_json::to_value(core::health(t, o)?)`; `child_filter` becomes the core's
//! constructor of a filter. Nothing else in the command depends on how the result is computed.

use pid_guard_core::error::{Code, Error, Result};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

pub enum HealthTarget {
    Name(String),
    Pid(u32),
    Port(u16),
}

/// Which descendants count: a part of the command name, or a regular expression (`/re/flags`).
pub enum ChildFilter {
    Text(String),
    Regex { source: String, flags: String },
}

pub struct HealthOptions {
    pub dir: Option<PathBuf>,
    pub port: Option<u16>,
    pub url: Option<String>,
    pub sample_ms: u64,
    pub timeout_ms: u64,
    pub children: Option<ChildFilter>,
    pub expect: Option<Map<String, Value>>,
    pub min_children: Option<u32>,
    /// Call the endpoint (health()); false is healthSync().
    pub probe: bool,
}

/// `--children F`: `/regex/flags`, else text.
pub fn child_filter(text: &str) -> ChildFilter {
    if let Some(rest) = text.strip_prefix('/') {
        if let Some(end) = rest.rfind('/') {
            let (source, flags) = (&rest[..end], &rest[end + 1..]);
            if !source.is_empty() && flags.chars().all(|c| c.is_ascii_lowercase()) {
                return ChildFilter::Regex {
                    source: source.to_string(),
                    flags: flags.to_string(),
                };
            }
        }
    }
    ChildFilter::Text(text.to_string())
}

const SCRIPT: &str = r#"
const [root, t, o, probe] = [process.argv[1], JSON.parse(process.argv[2]), JSON.parse(process.argv[3]), process.argv[4] === '1']
const say = (v) => process.stdout.write(JSON.stringify(v))
try {
  if (o.children && typeof o.children === 'object') o.children = new RegExp(o.children.source, o.children.flags)
} catch (err) {
  say({ error: { code: 'EINVALIDOPTION', message: `pid-guard: --children: invalid regular expression: ${err.message}` } })
  process.exit(0)
}
const pg = require(root)
Promise.resolve()
  .then(() => (probe ? pg.health(t, o) : pg.healthSync(t, o)))
  .then((h) => say({ ok: h }), (e) => say({ error: e?.name === 'PidGuardError' ? { code: e.code, message: e.message } : { code: 'EIO', message: `pid-guard: ${e?.stack ?? e}` } }))
"#;

fn code_of(s: &str) -> Code {
    use Code::*;
    [
        Locked,
        InvalidName,
        InvalidOption,
        UnsafeDir,
        UnsafeFile,
        Symlink,
        NotDir,
        Access,
        ReadOnly,
        NoSpace,
        RemoteFs,
        Released,
        Aborted,
        NotVerified,
        NotFound,
        Io,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
    .unwrap_or(Io)
}

fn failed(code: Code, message: String) -> Error {
    Error {
        code,
        message,
        path: None,
        errno: None,
        holders: Vec::new(),
    }
}

pub fn health(target: &HealthTarget, o: &HealthOptions) -> Result<Value> {
    let t = match target {
        HealthTarget::Name(n) => json!(n),
        HealthTarget::Pid(p) => json!({ "pid": p }),
        HealthTarget::Port(p) => json!({ "port": p }),
    };
    let mut opts = Map::new();
    if let Some(d) = &o.dir {
        opts.insert("dir".into(), json!(d));
    }
    if let Some(p) = o.port {
        opts.insert("port".into(), json!(p));
    }
    if let Some(u) = &o.url {
        opts.insert("url".into(), json!(u));
    }
    opts.insert("sampleMs".into(), json!(o.sample_ms));
    opts.insert("timeoutMs".into(), json!(o.timeout_ms));
    match &o.children {
        Some(ChildFilter::Text(s)) => {
            opts.insert("children".into(), json!(s));
        }
        Some(ChildFilter::Regex { source, flags }) => {
            opts.insert(
                "children".into(),
                json!({ "source": source, "flags": flags }),
            );
        }
        None => {}
    }
    if let Some(e) = &o.expect {
        opts.insert("expect".into(), Value::Object(e.clone()));
    }
    if let Some(m) = o.min_children {
        opts.insert("minChildren".into(), json!(m));
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let node = std::env::var_os("PID_GUARD_NODE").unwrap_or_else(|| "node".into());
    let out = std::process::Command::new(node)
        .args([
            "-e",
            SCRIPT,
            root,
            &t.to_string(),
            &Value::Object(opts).to_string(),
        ])
        .arg(if o.probe { "1" } else { "0" })
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| {
            failed(
                Code::Io,
                format!("pid-guard: cannot run node for the health bridge: {e}"),
            )
        })?;
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        failed(
            Code::Io,
            format!(
                "pid-guard: the health bridge gave no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            ),
        )
    })?;
    match v {
        Value::Object(mut m) if m.contains_key("ok") => Ok(m.remove("ok").unwrap_or(Value::Null)),
        Value::Object(m) => {
            let e = m.get("error");
            let code = e
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("EIO");
            let message = e
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("pid-guard: health failed");
            Err(failed(code_of(code), message.to_string()))
        }
        other => Err(failed(
            Code::Io,
            format!("pid-guard: the health bridge gave {other}"),
        )),
    }
}
