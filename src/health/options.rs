//! What a health check is asked: the target and the options, validated once here for the JS API
//! (which passes them as JSON) and the CLI alike. Every `EINVALIDOPTION` sentence about them is
//! in this file.
//!
//! JSON cannot carry a few JS values; the JS layer sends them as `{ "$nonJson": TYPEOF, "text":
//! String(v) }` (undefined, a function, a symbol, a bigint, NaN, Infinity) so that the sentences
//! name what was given, and a RegExp as `{ "regex": source, "flags": flags }`.

use crate::error::{Code, Error, Result};
use crate::pidfile::MAX_PID;
use serde_json::{Map, Value};
use std::path::PathBuf;

pub const DEFAULT_SAMPLE_MS: u64 = 200;
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
pub const MAX_SAMPLE_MS: u64 = 60_000;
pub const MAX_TIMEOUT_MS: u64 = 600_000;
pub const MAX_MIN_CHILDREN: u32 = 1_000_000;
const OPTION_KEYS: [&str; 8] = [
    "dir",
    "port",
    "url",
    "sampleMs",
    "timeoutMs",
    "children",
    "expect",
    "minChildren",
];

/// Which process: a guard's holder, a pid, or whoever listens on a TCP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthTarget {
    Name(String),
    Pid(u32),
    Port(u16),
}

impl serde::Serialize for HealthTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            HealthTarget::Name(n) => s.serialize_str(n),
            HealthTarget::Pid(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("pid", p)?;
                m.end()
            }
            HealthTarget::Port(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("port", p)?;
                m.end()
            }
        }
    }
}

/// Which descendants count: those whose command name (or argv[0]'s base name) contains the text,
/// or whose name or command line matches the regular expression.
#[derive(Clone, Debug)]
pub enum ChildFilter {
    Text(String),
    Regex(ChildRegex),
}

/// A regular expression with the JS source and flags it was written as (for messages).
#[derive(Clone, Debug)]
pub struct ChildRegex {
    pub regex: regex::Regex,
    pub source: String,
    pub flags: String,
}

impl ChildFilter {
    /// `"worker"` or `/work(er)?/i`, as the problems quote it.
    pub fn text(&self) -> String {
        match self {
            ChildFilter::Text(t) => json_text(&Value::String(t.clone())),
            ChildFilter::Regex(r) => format!("/{}/{}", r.source, r.flags),
        }
    }

    /// Compiles a JS-style regular expression: flags `i`, `m`, `s` map to the `regex` crate's;
    /// `u`, `v`, `d`, `g` and `y` change nothing for a match test here. Err: why not.
    pub fn regex(source: &str, flags: &str) -> std::result::Result<ChildFilter, String> {
        let mut b = regex::RegexBuilder::new(source);
        for f in flags.chars() {
            match f {
                'i' => b.case_insensitive(true),
                'm' => b.multi_line(true),
                's' => b.dot_matches_new_line(true),
                'u' | 'v' | 'd' | 'g' | 'y' => &mut b,
                _ => {
                    return Err(format!(
                        "it has an unknown flag {f:?} (known: d, g, i, m, s, u, v, y)"
                    ))
                }
            };
        }
        let regex = b.build().map_err(|e| match e {
            regex::Error::Syntax(s) => {
                let first = s.lines().last().unwrap_or("").trim_start_matches("error: ").to_string();
                format!("this check cannot run it (look-around and backreferences are not supported): {first}")
            }
            other => other.to_string(),
        })?;
        // Canonical order, as JS's RegExp.prototype.flags gives them.
        let flags: String = "dgimsuvy".chars().filter(|c| flags.contains(*c)).collect();
        Ok(ChildFilter::Regex(ChildRegex {
            regex,
            source: source.to_string(),
            flags,
        }))
    }

    pub fn matches(&self, name: &str, cmdline: Option<&[String]>) -> bool {
        match self {
            ChildFilter::Text(f) => {
                name.contains(f.as_str())
                    || cmdline.and_then(|c| c.first()).is_some_and(|a0| {
                        let a0 = a0.trim_end_matches('/');
                        a0.rsplit('/').next().unwrap_or(a0).contains(f.as_str())
                    })
            }
            ChildFilter::Regex(r) => {
                r.regex.is_match(name) || cmdline.is_some_and(|c| r.regex.is_match(&c.join(" ")))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct HealthOptions {
    /// Guard directory, for a guard-name target.
    pub dir: Option<PathBuf>,
    /// The port the process should listen on (overrides the recorded `meta.port`).
    pub port: Option<u16>,
    /// Health URL to GET, normalized (overrides the recorded `meta.healthUrl` / `meta.url`).
    pub url: Option<String>,
    /// CPU window in ms; 0: none (`cpuPercent` null).
    pub sample_ms: u64,
    /// The endpoint probe's deadline over the whole exchange.
    pub timeout_ms: u64,
    pub children: Option<ChildFilter>,
    /// `{ "dotted.path": value }` the endpoint's JSON body must have.
    pub expect: Option<Map<String, Value>>,
    pub min_children: Option<u32>,
    /// `false` (healthSync): no endpoint call, no CPU window.
    pub probe: bool,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            dir: None,
            port: None,
            url: None,
            sample_ms: DEFAULT_SAMPLE_MS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            children: None,
            expect: None,
            min_children: None,
            probe: true,
        }
    }
}

fn invalid(msg: String) -> Error {
    Error::new(Code::InvalidOption, msg)
}

impl HealthOptions {
    /// Parses and checks the target and options as the JS API gives them (JSON text). `probe`
    /// stays `true`: healthSync sets it to `false`.
    pub fn from_json(
        target_json: &str,
        options_json: &str,
    ) -> Result<(HealthTarget, HealthOptions)> {
        let target: Value = serde_json::from_str(target_json)
            .map_err(|e| invalid(format!("the health target is not JSON: {e}")))?;
        let options: Value = if options_json.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(options_json)
                .map_err(|e| invalid(format!("health options are not JSON: {e}")))?
        };
        let t = parse_target(&target)?;
        let o = parse_options(&options)?;
        Ok((t, o))
    }
}

/// A JS value that JSON could not carry: `(typeof, String(v))`.
fn non_json(v: &Value) -> Option<(&str, &str)> {
    let m = v.as_object()?;
    if m.len() != 2 {
        return None;
    }
    Some((m.get("$nonJson")?.as_str()?, m.get("text")?.as_str()?))
}

/// Absent as JS sees it: not given, or `undefined`.
fn undefined(v: Option<&Value>) -> bool {
    v.is_none_or(|v| non_json(v).is_some_and(|(t, _)| t == "undefined"))
}

/// Absent, `undefined` or `null`.
fn nullish(v: Option<&Value>) -> bool {
    undefined(v) || v.is_some_and(Value::is_null)
}

/// A number as JS's `String(n)` writes it.
pub fn js_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        let s = format!("{f:e}");
        if f.abs() >= 1e21 || f.abs() < 1e-6 {
            // JS: 1e+21, 1e-7
            s.replacen("e", if s.contains("e-") { "e" } else { "e+" }, 1)
        } else {
            f.to_string()
        }
    }
}

/// JSON.stringify of a value (what the problems quote).
pub fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// What a value is, as the messages name it: `null`, `an array`, `"text"`, `an object`,
/// `number 1.5`, `boolean true`.
pub fn describe(v: &Value) -> String {
    if let Some((t, text)) = non_json(v) {
        return format!("{t} {text}");
    }
    match v {
        Value::Null => "null".into(),
        Value::Array(_) => "an array".into(),
        Value::String(_) => json_text(v),
        Value::Object(_) => "an object".into(),
        Value::Number(n) => format!("number {}", js_number(n)),
        Value::Bool(b) => format!("boolean {b}"),
    }
}

/// The value when it is a whole number (JS's `Number.isInteger`).
fn integer(v: &Value) -> Option<f64> {
    let f = v.as_f64()?;
    (f.is_finite() && f.fract() == 0.0).then_some(f)
}

pub fn check_port(v: &Value, where_: &str) -> Result<u16> {
    match integer(v) {
        Some(f) if (1.0..=65535.0).contains(&f) => Ok(f as u16),
        _ => Err(invalid(format!(
            "{where_} must be a TCP port number from 1 to 65535, not {}",
            describe(v)
        ))),
    }
}

fn check_ms(v: &Value, where_: &str, min: u64, max: u64) -> Result<u64> {
    match integer(v) {
        Some(f) if f >= min as f64 && f <= max as f64 => Ok(f as u64),
        _ => Err(invalid(format!(
            "{where_} must be a whole number of milliseconds from {min} to {max}, not {}",
            describe(v)
        ))),
    }
}

/// A URL pid-guard can GET, normalized (WHATWG `href`); Err: the end of a sentence saying why not.
pub fn parse_url(v: &Value) -> std::result::Result<String, String> {
    let Value::String(s) = v else {
        return Err(format!(
            "must be an http:// or https:// URL string, not {}",
            describe(v)
        ));
    };
    let u = url::Url::parse(s).map_err(|_| format!("is not a valid URL: {}", json_text(v)))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "must use http: or https:, not {}: ({s})",
            u.scheme()
        ));
    }
    Ok(u.as_str().to_string())
}

/// `{ "dotted.path": value }`; Err: the end of a sentence saying what is wrong.
pub fn check_expect(v: &Value) -> std::result::Result<Map<String, Value>, String> {
    let Some(m) = v.as_object().filter(|_| non_json(v).is_none()) else {
        return Err(format!(
            "must be an object of {{ \"field.path\": value }}, not {}",
            describe(v)
        ));
    };
    if m.is_empty() {
        return Err("must name at least one field".into());
    }
    let mut out = Map::new();
    for (k, x) in m {
        if k.is_empty() || k.split('.').any(str::is_empty) {
            return Err(format!(
                "has an empty field name in {} (use dotted paths like \"sessions.stuck\")",
                json_text(&Value::String(k.clone()))
            ));
        }
        let x = match non_json(x) {
            // NaN and Infinity are numbers to JS; JSON says null.
            Some(("number", _)) => Value::Null,
            Some((t, _)) => return Err(format!(".{k} must be a JSON value, not {t}")),
            None => x.clone(),
        };
        out.insert(k.clone(), x);
    }
    Ok(out)
}

pub fn check_min_children(v: &Value) -> std::result::Result<u32, String> {
    match integer(v) {
        Some(f) if (0.0..=MAX_MIN_CHILDREN as f64).contains(&f) => Ok(f as u32),
        _ => Err(format!(
            "must be a whole number from 0 to {MAX_MIN_CHILDREN}, not {}",
            describe(v)
        )),
    }
}

/// A children filter recorded as JSON: text, or `"/regex/flags"`.
pub fn meta_children(v: &Value) -> std::result::Result<ChildFilter, String> {
    let s = match v {
        Value::String(s) if !s.is_empty() => s,
        _ => {
            return Err(format!(
                "must be a non-empty string (text, or \"/regex/flags\"), not {}",
                describe(v)
            ))
        }
    };
    let line = !s.contains(['\n', '\r', '\u{2028}', '\u{2029}']);
    if let (true, Some(rest)) = (line, s.strip_prefix('/')) {
        if let Some(slash) = rest.rfind('/') {
            let (source, flags) = (&rest[..slash], &rest[slash + 1..]);
            if !source.is_empty() && flags.chars().all(|c| c.is_ascii_lowercase()) {
                return ChildFilter::regex(source, flags)
                    .map_err(|e| format!("is not a valid regular expression: {e}"));
            }
        }
    }
    Ok(ChildFilter::Text(s.clone()))
}

fn parse_target(t: &Value) -> Result<HealthTarget> {
    if let Value::String(s) = t {
        return Ok(HealthTarget::Name(s.clone()));
    }
    let m = match t {
        Value::Object(m) if non_json(t).is_none() => m,
        _ => {
            return Err(invalid(format!(
                "the health target must be a guard name, {{ pid }} or {{ port }}, not {}",
                describe(t)
            )))
        }
    };
    let keys: Vec<&String> = m.keys().collect();
    if keys.len() != 1 || (keys[0] != "pid" && keys[0] != "port") {
        let list = if keys.is_empty() {
            "no keys".to_string()
        } else {
            keys.iter()
                .map(|k| json_text(&Value::String((*k).clone())))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(invalid(format!(
            "the health target must be a guard name, {{ pid }} or {{ port }} (exactly one key), not an object with {list}"
        )));
    }
    if let Some(pid) = m.get("pid") {
        return match integer(pid) {
            Some(f) if f >= 1.0 && f <= MAX_PID as f64 => Ok(HealthTarget::Pid(f as u32)),
            _ => Err(invalid(format!(
                "target.pid must be a process id (a whole number >= 1), not {}",
                describe(pid)
            ))),
        };
    }
    Ok(HealthTarget::Port(check_port(&m["port"], "target.port")?))
}

fn parse_options(v: &Value) -> Result<HealthOptions> {
    let empty = Map::new();
    let m = match v {
        _ if nullish(Some(v)) => &empty,
        Value::Object(m) if non_json(v).is_none() => m,
        _ => {
            return Err(invalid(format!(
                "health options must be an object, not {}",
                describe(v)
            )))
        }
    };
    for k in m.keys() {
        if !OPTION_KEYS.contains(&k.as_str()) {
            return Err(invalid(format!(
                "unknown health option \"{k}\" (known: {})",
                OPTION_KEYS.join(", ")
            )));
        }
    }
    let mut o = HealthOptions::default();
    if !nullish(m.get("dir")) {
        match &m["dir"] {
            Value::String(s) => o.dir = Some(PathBuf::from(s)),
            d => {
                return Err(invalid(format!(
                    "options.dir must be a directory path string, not {}",
                    describe(d)
                )))
            }
        }
    }
    if !nullish(m.get("port")) {
        o.port = Some(check_port(&m["port"], "options.port")?);
    }
    if !nullish(m.get("url")) {
        o.url = Some(parse_url(&m["url"]).map_err(|e| invalid(format!("options.url {e}")))?);
    }
    if !undefined(m.get("sampleMs")) {
        o.sample_ms = check_ms(&m["sampleMs"], "options.sampleMs", 0, MAX_SAMPLE_MS)?;
    }
    if !undefined(m.get("timeoutMs")) {
        o.timeout_ms = check_ms(&m["timeoutMs"], "options.timeoutMs", 1, MAX_TIMEOUT_MS)?;
    }
    if !nullish(m.get("children")) {
        let c = &m["children"];
        let regex = c
            .as_object()
            .filter(|r| r.len() == 2)
            .and_then(|r| Some((r.get("regex")?.as_str()?, r.get("flags")?.as_str()?)));
        o.children = Some(match (c, regex) {
            (_, Some((source, flags))) => ChildFilter::regex(source, flags).map_err(|e| {
                invalid(format!("options.children /{source}/{flags}: {e}"))
            })?,
            (Value::String(s), _) if !s.is_empty() => ChildFilter::Text(s.clone()),
            _ => {
                return Err(invalid(format!(
                    "options.children must be a non-empty string (part of the command name) or a RegExp, not {}",
                    describe(c)
                )))
            }
        });
    }
    if !nullish(m.get("expect")) {
        o.expect =
            Some(check_expect(&m["expect"]).map_err(|e| invalid(format!("options.expect {e}")))?);
    }
    if !nullish(m.get("minChildren")) {
        o.min_children = Some(
            check_min_children(&m["minChildren"])
                .map_err(|e| invalid(format!("options.minChildren {e}")))?,
        );
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: &str, o: &str) -> String {
        HealthOptions::from_json(t, o).unwrap_err().message
    }

    #[test]
    fn targets_and_options_say_what_is_wrong() {
        assert_eq!(
            err("42", "{}"),
            "pid-guard: the health target must be a guard name, { pid } or { port }, not number 42"
        );
        assert_eq!(
            err(r#"{"pid":1.5}"#, "{}"),
            "pid-guard: target.pid must be a process id (a whole number >= 1), not number 1.5"
        );
        assert_eq!(
            err(r#"{"pid":2147483648}"#, "{}"),
            "pid-guard: target.pid must be a process id (a whole number >= 1), not number 2147483648"
        );
        assert_eq!(
            err(r#"{"pid":1,"port":2}"#, "{}"),
            r#"pid-guard: the health target must be a guard name, { pid } or { port } (exactly one key), not an object with "pid", "port""#
        );
        assert_eq!(
            err(r#"{}"#, "{}"),
            "pid-guard: the health target must be a guard name, { pid } or { port } (exactly one key), not an object with no keys"
        );
        assert_eq!(
            err(r#""x""#, r#"{"url":"ftp://example/"}"#),
            "pid-guard: options.url must use http: or https:, not ftp: (ftp://example/)"
        );
        assert_eq!(
            err(r#""x""#, r#"{"sampleMs":{"$nonJson":"number","text":"NaN"}}"#),
            "pid-guard: options.sampleMs must be a whole number of milliseconds from 0 to 60000, not number NaN"
        );
        assert_eq!(
            err(r#""x""#, r#"{"children":{"regex":"(?=a)","flags":""}}"#)
                .split(':')
                .take(3)
                .collect::<Vec<_>>()
                .join(":"),
            "pid-guard: options.children /(?=a)/: this check cannot run it (look-around and backreferences are not supported)"
        );
        assert_eq!(
            err(
                r#""x""#,
                r#"{"expect":{"a":{"$nonJson":"undefined","text":"undefined"}}}"#
            ),
            "pid-guard: options.expect .a must be a JSON value, not undefined"
        );
        let (t, o) = HealthOptions::from_json(
            r#""web""#,
            r#"{"sampleMs":{"$nonJson":"undefined","text":"undefined"},"url":"http://127.0.0.1:80","children":{"regex":"W.rk","flags":"ig"}}"#,
        )
        .unwrap();
        assert_eq!(t, HealthTarget::Name("web".into()));
        assert_eq!(o.sample_ms, DEFAULT_SAMPLE_MS);
        assert_eq!(o.url.as_deref(), Some("http://127.0.0.1/"));
        let c = o.children.unwrap();
        assert_eq!(c.text(), "/W.rk/gi");
        assert!(c.matches("worker", None));
    }

    #[test]
    fn recorded_children_filters() {
        assert!(matches!(
            meta_children(&Value::from("sleep")),
            Ok(ChildFilter::Text(_))
        ));
        let r = meta_children(&Value::from("/^sl(e)+p$/i")).unwrap();
        assert_eq!(r.text(), "/^sl(e)+p$/i");
        assert!(r.matches("SLEEP", None));
        assert!(meta_children(&Value::from("/a/q"))
            .unwrap_err()
            .contains("unknown flag"));
        assert!(meta_children(&Value::from("")).is_err());
    }
}
