//! `pid-guard health [name] [--pid N | --port N] [--url URL] [--json | --prometheus |
//! --prometheus-file PATH] [--watch[=MS]]`: is the service running, how much CPU and memory it
//! uses, does it listen on its port, does its health endpoint answer, are its body's fields and
//! its children as expected. Exit 0 healthy, 1 unhealthy, 3 not running / unknown, 2 usage error.
//!
//! The check itself is the core's (a health result, index.d.ts `Health`, as JSON); this file
//! parses the flags, picks the targets, renders people's lines, JSON or the Prometheus text, and
//! writes the textfile atomically.

use crate::cli::{Global, HealthArgs};
use pid_guard_core::error::{Code, Error};
use pid_guard_core::health::prometheus;
use pid_guard_core::health::{ChildFilter, HealthOptions, HealthTarget};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const USAGE: &str = r#"Usage: pid-guard health [name] [--pid N | --port N] [--url URL]
                        [--expect FIELD=VALUE]... [--min-children N] [--children F]
                        [--json | --prometheus | --prometheus-file PATH] [--watch[=MS]]
                        [--dir DIR]

Checks a guarded service: running, CPU, memory, the port it should listen on (its own or a
child's), its health endpoint (the JSON fields it answers with) and its child processes.
What the holder recorded is used unless given: acquire(name, { meta: { port, url,
health: { expect: { stuck: 0 }, minChildren: 1, children: 'worker' } } }).

Target (one of):
  name            a guard name (without one: every guard that has something running,
                  i.e. held, orphaned or stale; free guards are not checked)
  --pid N         the process N
  --port N        the process listening on TCP port N (with a name: the port it should use)

Options:
  --url URL       also probe this health endpoint (http:// or https://)
  --json          print the result as JSON
  --prometheus    print the result in the Prometheus text format
  --prometheus-file PATH
                  write it to PATH instead, atomically (a temp file in the same directory,
                  then rename: node_exporter's textfile collector never reads half a file);
                  with --watch, rewritten at every sample
  --watch[=MS]    sample again every MS milliseconds (default 2000) until Ctrl-C
  --sample MS     CPU sampling window (default: 200 for people, 0 = not sampled for
                  --json and --prometheus, so scripts stay fast; always 200 with --watch)
  --timeout MS    endpoint timeout (default 2000)
  --children F    count only descendants whose name matches F (text, or /regex/)
  --expect F=V    the endpoint's JSON body must have field F (dotted path: sessions.stuck)
                  equal to V (JSON, else text; numbers compare as numbers); repeatable
  --min-children N  at least N descendants (that match --children, if given)
  --dir DIR       the guard directory (or PID_GUARD_DIR)

Exit status: 0 healthy, 1 unhealthy, 3 not running or unknown name, 2 usage error.
Without a name: 0 when every checked guard is healthy, 1 when one is not, 3 when no guard
has anything running.
"#;

/// The usage lines alone, for clap's own errors (`Usage: ` is clap's prefix).
pub const USAGE_LINE: &str = "pid-guard health [name] [--pid N | --port N] [--url URL]
                        [--expect FIELD=VALUE]... [--min-children N] [--children F]
                        [--json | --prometheus | --prometheus-file PATH] [--watch[=MS]]
                        [--dir DIR]";

const DEFAULT_WATCH_MS: u64 = 2000;
const DEFAULT_TIMEOUT_MS: u64 = 2000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Human,
    Json,
    Prometheus,
}

struct Opts {
    target: Option<HealthTarget>,
    options: HealthOptions,
    format: Format,
    watch_ms: Option<u64>,
    prom_file: Option<PathBuf>,
}

/// A usage error: the sentence; printed with the usage text, exit 2.
struct Usage(String);

pub fn run(g: &Global, a: &HealthArgs) -> i32 {
    let r = parse(g, a).and_then(|o| match o.watch_ms {
        Some(ms) => watch(&o, ms),
        None => once(&o),
    });
    match r {
        Ok(code) => code,
        Err(Usage(msg)) => {
            crate::out::err(&format!("pid-guard health: {msg}\n\n{USAGE}"));
            2
        }
    }
}

// --- options -----------------------------------------------------------------------------

/// A whole number from `min` to `max`, or the usage error naming `flag`.
fn integer(flag: &str, text: &str, min: u64, max: u64) -> Result<u64, Usage> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Usage(format!(
            "{flag} expects a whole number, not \"{text}\""
        )));
    }
    let n: f64 = text.parse().unwrap_or(f64::INFINITY);
    if n < min as f64 || n > max as f64 {
        return Err(Usage(format!(
            "{flag} must be between {min} and {max}, not {}",
            prometheus::js_number(n)
        )));
    }
    Ok(n as u64)
}

/// `--url`: an absolute http:// or https:// URL. (The core checks the rest when it probes.)
fn check_url(u: &str) -> Result<(), Usage> {
    let invalid = || {
        Usage(format!(
            "--url expects an absolute URL like http://127.0.0.1:8080/health, not \"{u}\""
        ))
    };
    let t = u.trim_matches(|c: char| c <= ' ');
    let colon = t.find(':').ok_or_else(invalid)?;
    let scheme = &t[..colon];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err(invalid());
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(Usage(format!(
            "--url must be http:// or https://, not {scheme}:"
        )));
    }
    // A special scheme needs a host: what follows the slashes, up to the path, without userinfo.
    let rest = t[colon + 1..].trim_start_matches(['/', '\\']);
    let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
    let hostport = &authority[authority.rfind('@').map(|i| i + 1).unwrap_or(0)..];
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let end = v6.find(']').ok_or_else(invalid)?;
            (&v6[..end], v6[end + 1..].strip_prefix(':'))
        }
        None => match hostport.rfind(':') {
            Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
            None => (hostport, None),
        },
    };
    let bad_host = host.is_empty() || host.chars().any(|c| c <= ' ' || "<>^|%".contains(c));
    let bad_port = port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_err());
    if bad_host || bad_port {
        return Err(invalid());
    }
    Ok(())
}

fn parse(g: &Global, a: &HealthArgs) -> Result<Opts, Usage> {
    let name = a.name.clone();
    if g.json && a.prometheus {
        return Err(Usage(
            "--json and --prometheus cannot be used together: pick one output format".into(),
        ));
    }
    if a.prometheus_file.is_some() && g.json {
        return Err(Usage("--json and --prometheus-file cannot be used together: the file is in the Prometheus text format".into()));
    }
    if a.prometheus_file
        .as_deref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        return Err(Usage(
            "--prometheus-file expects a file path, e.g. /var/lib/node_exporter/textfile/web.prom"
                .into(),
        ));
    }
    if a.pid.is_some() && a.port.is_some() {
        return Err(Usage("--pid and --port cannot be used together: give the process either by pid or by the port it listens on".into()));
    }
    if let (Some(n), Some(_)) = (&name, &a.pid) {
        return Err(Usage(format!("a guard name (\"{n}\") and --pid cannot be used together: the guard already says which process it is")));
    }
    if let Some(u) = &a.url {
        check_url(u)?;
    }
    let timeout_ms = match &a.timeout {
        Some(t) => integer("--timeout", t, 1, 600_000)?,
        None => DEFAULT_TIMEOUT_MS,
    };
    let children: Option<ChildFilter> = a.children.as_deref().map(child_filter).transpose()?;
    let expect = if a.expect.is_empty() {
        None
    } else {
        let mut m = Map::new();
        for e in &a.expect {
            let i = e.find('=').filter(|&i| i > 0).ok_or_else(|| {
                Usage(format!(
                    "--expect expects FIELD=VALUE (like sessions.stuck=0), not \"{e}\""
                ))
            })?;
            let text = &e[i + 1..];
            let value = serde_json::from_str::<Value>(text)
                .unwrap_or_else(|_| Value::String(text.to_string()));
            m.insert(e[..i].to_string(), value);
        }
        Some(m)
    };
    let min_children = match &a.min_children {
        Some(t) => Some(integer("--min-children", t, 0, 1_000_000)? as u32),
        None => None,
    };
    let mut target = match &a.pid {
        Some(p) => Some(HealthTarget::Pid(
            integer("--pid", p, 1, pid_guard_core::pidfile::MAX_PID)? as u32,
        )),
        None => None,
    };
    let port = match &a.port {
        Some(p) => Some(integer("--port", p, 1, 65_535)? as u16),
        None => None,
    };
    let mut option_port = None;
    if let Some(n) = name {
        target = Some(HealthTarget::Name(n));
        option_port = port;
    } else if let Some(p) = port {
        target = Some(HealthTarget::Port(p));
    }
    let format = if g.json {
        Format::Json
    } else if a.prometheus || a.prometheus_file.is_some() {
        Format::Prometheus
    } else {
        Format::Human
    };
    let watch_ms = match a.watch.as_deref() {
        None => None,
        Some("") => Some(DEFAULT_WATCH_MS),
        Some(w) => Some(integer("--watch", w, 50, 86_400_000)?),
    };
    let sample_ms = match &a.sample {
        Some(s) => integer("--sample", s, 0, 60_000)?,
        None if watch_ms.is_some() || format == Format::Human => 200,
        None => 0,
    };
    Ok(Opts {
        target,
        options: HealthOptions {
            dir: g.dir.clone(),
            port: option_port,
            url: a.url.clone(),
            sample_ms,
            timeout_ms,
            children,
            expect,
            min_children,
            probe: true,
        },
        format,
        watch_ms,
        prom_file: a.prometheus_file.clone(),
    })
}

// --- sampling ------------------------------------------------------------------------------

/// One target's outcome: its health result, or the error the core refused with.
enum Outcome {
    Ok(Value),
    Failed { target: Value, error: Error },
}

struct Sample {
    /// Every guard of the directory (no target given).
    all: bool,
    /// Guards with nothing running: counted, not checked.
    free: Vec<String>,
    results: Vec<Outcome>,
}

fn is_usage_like(e: &Error) -> bool {
    matches!(e.code, Code::InvalidName | Code::InvalidOption)
}

fn plain(message: &str) -> &str {
    message.strip_prefix("pid-guard: ").unwrap_or(message)
}

fn target_json(t: &HealthTarget) -> Value {
    match t {
        HealthTarget::Name(n) => Value::String(n.clone()),
        HealthTarget::Pid(p) => serde_json::json!({ "pid": p }),
        HealthTarget::Port(p) => serde_json::json!({ "port": p }),
    }
}

/// `--children F`: `/regex/flags`, else text (the core's filter; a pattern it cannot run is a
/// usage error naming it).
fn child_filter(text: &str) -> Result<ChildFilter, Usage> {
    if let Some(rest) = text.strip_prefix('/') {
        if let Some(end) = rest.rfind('/') {
            let (source, flags) = (&rest[..end], &rest[end + 1..]);
            if !source.is_empty() && flags.chars().all(|c| c.is_ascii_lowercase()) {
                return ChildFilter::regex(source, flags)
                    .map_err(|e| Usage(format!("--children {text}: {e}")));
            }
        }
    }
    Ok(ChildFilter::Text(text.to_string()))
}

fn sample_one(t: &HealthTarget, o: &HealthOptions) -> Result<Outcome, Usage> {
    let health = pid_guard_core::health::health(t, o)
        .map(|h| serde_json::to_value(h).unwrap_or(Value::Null));
    match health {
        Ok(h) => Ok(Outcome::Ok(h)),
        Err(e) if is_usage_like(&e) => Err(Usage(plain(&e.message).to_string())),
        Err(error) => Ok(Outcome::Failed {
            target: target_json(t),
            error,
        }),
    }
}

/// Every target of this invocation: the one given, or every guard in the directory that has
/// something running (held, orphaned, stale), checked at the same time. A free guard (only its
/// last holder's lock file is left) is counted in `free`, not checked: it is not a service that
/// is down.
fn sample(o: &Opts) -> Result<Sample, Usage> {
    if let Some(t) = &o.target {
        return Ok(Sample {
            all: false,
            free: Vec::new(),
            results: vec![sample_one(t, &o.options)?],
        });
    }
    let statuses = match pid_guard_core::status::list(o.options.dir.as_deref()) {
        Ok(s) => s,
        Err(e) if is_usage_like(&e) => return Err(Usage(plain(&e.message).to_string())),
        Err(error) => {
            return Ok(Sample {
                all: true,
                free: Vec::new(),
                results: vec![Outcome::Failed {
                    target: Value::Null,
                    error,
                }],
            })
        }
    };
    use pid_guard_core::status::State;
    let (free, names): (Vec<_>, Vec<_>) =
        statuses.into_iter().partition(|s| s.state == State::Free);
    let free = free.into_iter().map(|s| s.name).collect();
    let targets: Vec<HealthTarget> = names
        .into_iter()
        .map(|s| HealthTarget::Name(s.name))
        .collect();
    let results = sample_all(&targets, &o.options);
    Ok(Sample {
        all: true,
        free,
        results: results.into_iter().collect::<Result<_, _>>()?,
    })
}

/// At most this many guards are sampled at the same time (each sample waits out its CPU window).
const PARALLEL: usize = 64;

/// Samples every target, up to [`PARALLEL`] at once; results in the targets' order.
fn sample_all(targets: &[HealthTarget], o: &HealthOptions) -> Vec<Result<Outcome, Usage>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    if targets.len() <= 1 {
        return targets.iter().map(|t| sample_one(t, o)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<Outcome, Usage>>>> =
        targets.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..targets.len().min(PARALLEL) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = targets.get(i) else { break };
                let r = sample_one(t, o);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every target was sampled")
        })
        .collect()
}

fn exit_code(s: &Sample) -> i32 {
    if s.all {
        if s.results
            .iter()
            .all(|r| matches!(r, Outcome::Failed { .. }))
        {
            return 3;
        }
        let healthy = s
            .results
            .iter()
            .all(|r| matches!(r, Outcome::Ok(h) if h["healthy"] == Value::Bool(true)));
        return if healthy { 0 } else { 1 };
    }
    match &s.results[0] {
        Outcome::Failed { .. } => 3,
        // A dead holder's orphans still run: not "not running", unhealthy.
        Outcome::Ok(h) if h["orphans"].as_array().is_some_and(|o| !o.is_empty()) => 1,
        Outcome::Ok(h) if h["alive"] != Value::Bool(true) => 3,
        Outcome::Ok(h) if h["healthy"] == Value::Bool(true) => 0,
        Outcome::Ok(_) => 1,
    }
}

// --- rendering -----------------------------------------------------------------------------

/// Colours for people (a terminal without NO_COLOR): out::paint.
struct Paint;

impl Paint {
    fn new() -> Paint {
        Paint
    }
    fn green(&self, s: &str) -> String {
        crate::out::paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        crate::out::paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        crate::out::paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        crate::out::paint("2", s)
    }
}

/// JSON as JavaScript's `JSON.stringify` writes it (numbers as JS prints them: 1, not 1.0).
fn js_json(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .map(prometheus::js_number)
            .unwrap_or_else(|| n.to_string()),
        Value::Array(a) => format!("[{}]", a.iter().map(js_json).collect::<Vec<_>>().join(",")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), js_json(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// `n.toFixed(1)`: ties (x.x5 exactly, which only x.25 / x.75 are) go away from zero.
fn fixed1(v: f64) -> String {
    let tie = (v * 4.0).fract() == 0.0 && ((v * 4.0) as i64) % 2 != 0;
    if tie {
        format!("{:.1}", v + 0.05f64.copysign(v))
    } else {
        format!("{v:.1}")
    }
}

fn bytes(v: &Value) -> String {
    let Some(n) = number(v) else {
        return "?".into();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut i, mut x) = (0, n);
    while x >= 1024.0 && i < units.len() - 1 {
        x /= 1024.0;
        i += 1;
    }
    let shown = if i == 0 {
        prometheus::js_number(x)
    } else {
        fixed1(x)
    };
    format!("{shown} {}", units[i])
}

fn target_text(t: &Value) -> String {
    match t {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(o) if o.contains_key("pid") => format!("pid {}", js_json(&o["pid"])),
        Value::Object(o) if o.contains_key("port") => format!("port {}", js_json(&o["port"])),
        _ => "the guard directory".into(),
    }
}

/// Cut to 120 characters (117 and "...").
fn cut(text: String) -> String {
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}

/// The endpoint's body, in one line: `k=v k=v`, or the text quoted.
fn fields(body: &Value) -> String {
    let text = match body {
        Value::Null => return String::new(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                v => format!("{k}={}", js_json(v)),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(s) => format!("\"{}\"", collapse_ws(s)),
        v => js_json(v),
    };
    cut(text)
}

/// `s.replace(/\s+/g, ' ')`: every run of white space is one space, ends included.
fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_ws = false;
    for ch in s.chars() {
        if ch.is_whitespace() {
            if !in_ws {
                out.push(' ');
            }
            in_ws = true;
        } else {
            out.push(ch);
            in_ws = false;
        }
    }
    out
}

/// "2026-12-02T15:32:36.123Z" from ms since the epoch (`Date#toISOString`).
fn iso(ms: f64) -> String {
    let ms = ms.floor() as i64;
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// Whether a problem is the `--min-children` one ("…, fewer than the 2 expected").
fn too_few(p: &str) -> bool {
    p.strip_suffix(" expected")
        .and_then(|p| {
            p.rfind(", fewer than the ")
                .map(|i| &p[i + ", fewer than the ".len()..])
        })
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// One line per check, each with a mark, for people.
fn describe(r: &Outcome, c: &Paint) -> String {
    let h = match r {
        Outcome::Failed { target, error } => {
            return format!(
                "{} {}: {}\n",
                c.red("✗"),
                target_text(target),
                plain(&error.message)
            );
        }
        Outcome::Ok(h) => h,
    };
    let ok = c.green("✓");
    let bad = c.red("✗");
    let info = c.dim("-");
    let line = |mark: &str, label: &str, text: &str| format!("  {mark} {label:<9} {text}");
    let alive = h["alive"] == Value::Bool(true);
    let pid = &h["pid"];
    let who = match (&h["name"], &h["port"]) {
        (Value::String(n), _) => {
            format!(
                "{n} (pid {})",
                if pid.is_null() {
                    "unknown".into()
                } else {
                    js_json(pid)
                }
            )
        }
        _ if !pid.is_null() => format!("pid {}", js_json(pid)),
        (_, p) if p.is_object() => format!("port {}", js_json(&p["number"])),
        _ => "process".into(),
    };
    let orphans = h["orphans"].as_array().cloned().unwrap_or_default();
    let verdict = if !alive && !orphans.is_empty() {
        c.red("orphaned")
    } else if !alive {
        c.red("not running")
    } else if h["healthy"] == Value::Bool(true) {
        c.green("healthy")
    } else {
        c.red("unhealthy")
    };
    let mut lines = vec![format!("{who}: {verdict}")];
    if !alive {
        let text = if orphans.is_empty() {
            "no".to_string()
        } else {
            let pids: Vec<String> = orphans.iter().map(|o| js_json(&o["pid"])).collect();
            format!(
                "no; the holder is gone, pid {} it started still running",
                pids.join(", ")
            )
        };
        lines.push(line(&bad, "running", &text));
    } else {
        let up = match number(&h["uptimeMs"]) {
            Some(ms) => format!("up {}", crate::out::duration((ms.max(0.0)).round() as u64)),
            None if pid.is_null() => "yes, pid unknown (another user's process?)".into(),
            None => "up ?".into(),
        };
        let since = number(&h["startedAt"])
            .map(|s| format!(", since {}", iso(s)))
            .unwrap_or_default();
        lines.push(line(&ok, "running", &format!("{up}{since}")));
        match number(&h["cpuPercent"]) {
            Some(cpu) => lines.push(line(&ok, "cpu", &format!("{} %", fixed1(cpu)))),
            None => lines.push(line(&info, "cpu", "not sampled (--sample 200 measures it)")),
        }
        let threads = match number(&h["threads"]) {
            Some(n) => format!(
                ", {} thread{}",
                prometheus::js_number(n),
                if n == 1.0 { "" } else { "s" }
            ),
            None => String::new(),
        };
        let m = &h["memory"];
        if truthy(m) {
            lines.push(line(
                &ok,
                "memory",
                &format!(
                    "rss {}, virtual {}{threads}",
                    bytes(&m["rss"]),
                    bytes(&m["virtual"])
                ),
            ));
        } else {
            lines.push(line(&info, "memory", "unknown"));
        }
    }
    let p = &h["port"];
    if truthy(p) {
        let listening = truthy(&p["listening"]);
        let owned_false = p["ownedByPid"] == Value::Bool(false);
        let text = if !listening {
            "nothing listens on it".to_string()
        } else if owned_false {
            "listening, but by another process".to_string()
        } else if !p["owner"].is_null() && !pid.is_null() && p["owner"] != *pid {
            format!("listening (pid {}, a child)", js_json(&p["owner"]))
        } else {
            "listening".to_string()
        };
        let mark = if listening && !owned_false { &ok } else { &bad };
        lines.push(line(
            mark,
            &format!("port {}", js_json(&p["number"])),
            &text,
        ));
    } else if alive && h["listening"].as_array().is_some_and(|l| !l.is_empty()) {
        let socks: Vec<String> = h["listening"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                let (addr, port) = (l["address"].as_str().unwrap_or("?"), js_json(&l["port"]));
                if l["family"] == "ipv6" {
                    format!("[{addr}]:{port}")
                } else {
                    format!("{addr}:{port}")
                }
            })
            .collect();
        lines.push(line(&ok, "listening", &socks.join(", ")));
    } else if alive && h["listening"].is_null() {
        lines.push(line(
            &info,
            "listening",
            "unknown (the sockets cannot be read)",
        ));
    }
    let e = &h["endpoint"];
    if truthy(e) {
        let latency = number(&e["latencyMs"])
            .map(|l| format!(" in {} ms", prometheus::js_number((l + 0.5).floor())))
            .unwrap_or_default();
        let status = if e["status"].is_null() {
            String::new()
        } else {
            format!(" {}", js_json(&e["status"]))
        };
        let err = match &e["error"] {
            Value::String(s) if !s.is_empty() => format!(": {s}"),
            _ => String::new(),
        };
        let body = fields(&e["body"]);
        let body = if body.is_empty() {
            body
        } else {
            format!("  {body}")
        };
        let url = e["url"].as_str().unwrap_or("");
        let mark = if e["ok"] == Value::Bool(true) {
            &ok
        } else {
            &bad
        };
        lines.push(line(
            mark,
            "endpoint",
            &format!("{url}{status}{latency}{err}{body}"),
        ));
    }
    for x in h["expectations"].as_array().into_iter().flatten() {
        let mark = match &x["ok"] {
            Value::Bool(true) => &ok,
            Value::Bool(false) => &bad,
            _ => &info,
        };
        let got = if x["ok"].is_null() {
            "not checked".to_string()
        } else {
            format!("is {}", js_json(&x["actual"]))
        };
        let field = x["field"].as_str().unwrap_or("");
        lines.push(line(
            mark,
            "expect",
            &format!("{field} = {}: {got}", js_json(&x["expected"])),
        ));
    }
    let problems: Vec<&str> = h["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if alive {
        if let Some(n) = number(&h["children"]) {
            let mark = if problems.iter().any(|p| too_few(p)) {
                &bad
            } else {
                &ok
            };
            lines.push(line(mark, "children", &prometheus::js_number(n)));
        }
    }
    for p in problems {
        lines.push(format!("  {} {p}", c.yellow("!")));
    }
    lines.join("\n") + "\n"
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn json_safe(r: &Outcome) -> Value {
    match r {
        Outcome::Ok(h) => h.clone(),
        Outcome::Failed { target, error } => serde_json::json!({
            "target": target,
            "error": { "code": error.code.as_str(), "message": error.message },
        }),
    }
}

fn render(s: &Sample, format: Format) -> String {
    match format {
        Format::Json => {
            let v = if s.all {
                Value::Array(s.results.iter().map(json_safe).collect())
            } else {
                json_safe(&s.results[0])
            };
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        Format::Prometheus => {
            let ok: Vec<&Value> = s
                .results
                .iter()
                .filter_map(|r| match r {
                    Outcome::Ok(h) => Some(h),
                    Outcome::Failed { .. } => None,
                })
                .collect();
            let mut text = prometheus::render(&ok);
            for r in &s.results {
                if let Outcome::Failed { target, error } = r {
                    text.push_str(&format!(
                        "# {}: {}\n",
                        target_text(target),
                        error.message.replace('\n', " ")
                    ));
                }
            }
            text
        }
        Format::Human => {
            let c = Paint::new();
            let free_note = if s.all && !s.free.is_empty() {
                let n = s.free.len();
                c.dim(&format!(
                    "{n} free guard{} not checked ({}); pid-guard prune removes their files",
                    if n == 1 { "" } else { "s" },
                    s.free.join(", ")
                )) + "\n"
            } else {
                String::new()
            };
            if s.all && s.results.is_empty() {
                let head = if s.free.is_empty() {
                    "no guards\n"
                } else {
                    "no guard has anything running\n"
                };
                return format!("{head}{free_note}");
            }
            s.results
                .iter()
                .map(|r| describe(r, &c))
                .collect::<String>()
                + &free_note
        }
    }
}

// --- output --------------------------------------------------------------------------------

/// Replaces `file` with `text` atomically: written to a hidden temp file beside it (the textfile
/// collector reads only *.prom), flushed to disk, then renamed over it. The error names the file
/// and says what to do.
fn write_atomic(file: &Path, text: &str) -> Result<(), String> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = file
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base.is_empty() {
        return Err(format!(
            "cannot write {}: it names a directory, not a file; give a file path like {}",
            file.display(),
            Path::new("/var/lib/node_exporter/textfile/web.prom").display()
        ));
    }
    let tmp = dir.join(format!(".{base}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o644);
        let mut f = o.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, file)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        let what = match e.kind() {
            std::io::ErrorKind::NotFound if !dir.is_dir() => format!("the directory {} does not exist; create it, or give a --prometheus-file in an existing directory", dir.display()),
            std::io::ErrorKind::PermissionDenied => format!("permission denied in {}; run as a user that may write there, or give a --prometheus-file in a directory you own", dir.display()),
            std::io::ErrorKind::AlreadyExists => format!("{} is in the way (left by an earlier run with the same pid?); move it away", tmp.display()),
            _ if file.is_dir() => format!("{} is a directory; give a file path inside it, like {}", file.display(), file.join("service.prom").display()),
            _ => format!("{e} (writing {} then renaming it over the file); check the directory and its filesystem", tmp.display()),
        };
        format!("cannot write {}: {what}", file.display())
    })
}

/// Writes to stdout; false when its reader has gone away (EPIPE).
fn write_out(s: &str) -> bool {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes()).and_then(|_| o.flush()).is_ok()
}

/// Where a rendered sample goes: stdout, or the --prometheus-file.
fn emit(o: &Opts, text: &str) -> Result<(), String> {
    match &o.prom_file {
        Some(f) => write_atomic(f, text),
        None => {
            write_out(text);
            Ok(())
        }
    }
}

fn once(o: &Opts) -> Result<i32, Usage> {
    let s = sample(o)?;
    let text = render(&s, o.format);
    if let Err(e) = emit(o, &text) {
        crate::out::err(&format!("pid-guard health: {e}\n"));
        return Ok(1);
    }
    let code = exit_code(&s);
    // A not-running single target also says so on stderr for scripts that hide stdout.
    if o.format != Format::Human && code == 3 && !s.all {
        if let Outcome::Failed { error, .. } = &s.results[0] {
            crate::out::err(&format!("{}\n", error.message));
        }
    }
    Ok(code)
}

/// What the watch loop waits for: a finished sample, or the signal to stop.
enum Event {
    Sampled(Result<Sample, Usage>),
    Stop,
}

fn watch(o: &Opts, every_ms: u64) -> Result<i32, Usage> {
    use std::io::IsTerminal;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    // Redraw in place on a terminal (cursor control, not colour, so NO_COLOR leaves it on): clear
    // once, then home the cursor, overwrite each line (erasing its old tail) and erase below, so
    // the screen does not flicker. Anything else gets every sample, separated by a blank line.
    let redraw = std::io::stdout().is_terminal()
        && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true);
    let c = Paint::new();
    let (tx, rx) = mpsc::channel::<Event>();
    stop_on_signals(tx.clone());
    let mut first = true;
    std::thread::scope(|scope| {
        loop {
            let started = Instant::now();
            // The sample runs beside the wait for Ctrl-C: one in flight (a CPU window, an
            // endpoint timeout) does not hold the stop up.
            let t = tx.clone();
            scope.spawn(move || {
                let _ = t.send(Event::Sampled(sample(o)));
            });
            let s = match rx.recv() {
                Ok(Event::Sampled(s)) => s?,
                Ok(Event::Stop) | Err(_) => crate::out::exit(0),
            };
            let text = render(&s, o.format);
            let stamp = if o.format == Format::Human {
                c.dim(&format!(
                    "{}  every {every_ms} ms, Ctrl-C to stop",
                    iso(now_ms())
                )) + "\n"
            } else {
                String::new()
            };
            if let Some(f) = &o.prom_file {
                if let Err(e) = write_atomic(f, &text) {
                    crate::out::err(&format!("pid-guard health: {e}\n")); // said each time; the next sample tries again
                }
            } else {
                let frame = if redraw {
                    format!(
                        "{}\x1b[H{}\x1b[J",
                        if first { "\x1b[2J" } else { "" },
                        (stamp + &text).replace('\n', "\x1b[K\n")
                    )
                } else {
                    format!("{}{stamp}{text}", if first { "" } else { "\n" })
                };
                // `health --watch | head`: nobody reads any more; stop as SIGPIPE would have.
                if !write_out(&frame) {
                    crate::out::exit(0);
                }
            }
            first = false;
            let wait = Duration::from_millis(every_ms).saturating_sub(started.elapsed());
            match rx.recv_timeout(wait) {
                Ok(Event::Stop) => crate::out::exit(0),
                Ok(Event::Sampled(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => crate::out::exit(0),
            }
        }
    })
}

/// SIGINT / SIGTERM (Ctrl-C, `kill`) end the watch quietly with exit 0: they are blocked in
/// every thread and taken by one that waits for them (no handler runs at an odd moment).
#[cfg(unix)]
fn stop_on_signals(tx: std::sync::mpsc::Sender<Event>) {
    // SAFETY: plain libc calls on a local signal set; the mask is changed before any thread of
    // the watch starts, so every later thread inherits it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let set = set;
        std::thread::spawn(move || {
            let mut sig = 0;
            if libc::sigwait(&set, &mut sig) == 0 {
                let _ = tx.send(Event::Stop);
            }
        });
    }
}

/// Windows: Ctrl-C and Ctrl-Break end the watch quietly with exit 0, through a console control
/// handler (it runs on a thread of its own, and only passes the word on).
#[cfg(windows)]
fn stop_on_signals(tx: std::sync::mpsc::Sender<Event>) {
    use std::sync::{Mutex, OnceLock};
    use windows_sys::Win32::System::Console::{
        SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT,
    };
    static STOP: OnceLock<Mutex<std::sync::mpsc::Sender<Event>>> = OnceLock::new();
    unsafe extern "system" fn handler(kind: u32) -> windows_sys::core::BOOL {
        match kind {
            CTRL_C_EVENT | CTRL_BREAK_EVENT => {
                if let Some(tx) = STOP.get() {
                    if let Ok(tx) = tx.lock() {
                        let _ = tx.send(Event::Stop);
                    }
                }
                1
            }
            _ => 0,
        }
    }
    let _ = STOP.set(Mutex::new(tx));
    // SAFETY: registers a handler that only sends on a channel kept in a static.
    unsafe {
        SetConsoleCtrlHandler(Some(handler), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_is_date_to_iso_string() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000_123.0), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso(951_782_400_000.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn to_fixed_rounds_ties_away_from_zero() {
        assert_eq!(fixed1(0.25), "0.3");
        assert_eq!(fixed1(12.75), "12.8");
        assert_eq!(fixed1(12.5), "12.5");
        assert_eq!(fixed1(0.04), "0.0");
        assert_eq!(fixed1(99.96), "100.0");
    }

    #[test]
    fn body_fields_in_one_line() {
        assert_eq!(
            fields(&serde_json::json!({ "status": "ok", "queue": 3, "x": [1.5, true] })),
            "status=ok queue=3 x=[1.5,true]"
        );
        assert_eq!(
            fields(&serde_json::json!("  hello\n\tworld ")),
            "\" hello world \""
        );
        assert_eq!(fields(&serde_json::json!(null)), "");
        assert_eq!(fields(&Value::String("x".repeat(200))).len(), 120);
    }

    #[test]
    fn urls_need_http_or_https_and_a_host() {
        for ok in [
            "http://127.0.0.1:8080/health",
            "https://[::1]:1/x?y#z",
            "HTTP://a",
            "http:host/x",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "not a url",
            "/health",
            "http://",
            "http://a b/",
            "http://h:99999/",
            "1http://x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url("ftp://127.0.0.1/x")
            .err()
            .is_some_and(|Usage(m)| m.ends_with("not ftp:")));
    }

    #[test]
    fn too_few_children_is_the_min_children_problem() {
        assert!(too_few(
            "1 child process matching \"w\", fewer than the 2 expected"
        ));
        assert!(!too_few("the 2 expected"));
    }
}
