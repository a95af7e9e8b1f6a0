//! Health results in the Prometheus text exposition format (version 0.0.4), defined once for the
//! `pid-guard health --prometheus` command and the JS `toPrometheus()` alike.
//!
//! One gauge family per metric, `# HELP` and `# TYPE` once each. Samples are labelled by what was
//! checked: a guard by `name`, a `{ port }` target by `port` (its series survives restarts), a
//! `{ pid }` target by `pid`. Metrics whose value is null/unknown are left out, and no series is
//! emitted twice (the same target given twice is rendered once).
//!
//! It reads the JSON shape of a health result (index.d.ts `Health`) rather than a Rust type, so
//! that any object with those fields renders, as the JS API has always accepted.

use crate::error::{Code, Error, Result};
use serde_json::Value;

/// A metric: name, help text, its value from a result, and the labels of its own.
struct Metric {
    name: &'static str,
    help: &'static str,
    value: fn(&Value) -> Option<f64>,
    labels: fn(&Value) -> Vec<(&'static str, Value)>,
}

fn none(_: &Value) -> Vec<(&'static str, Value)> {
    Vec::new()
}

fn port_label(h: &Value) -> Vec<(&'static str, Value)> {
    own("port", h.get("port").and_then(|p| p.get("number")))
}

fn url_label(h: &Value) -> Vec<(&'static str, Value)> {
    own("url", h.get("endpoint").and_then(|e| e.get("url")))
}

fn own(key: &'static str, v: Option<&Value>) -> Vec<(&'static str, Value)> {
    match v {
        Some(v) if !v.is_null() => vec![(key, v.clone())],
        _ => Vec::new(),
    }
}

/// A number or a boolean (1 / 0) at `v`; anything else is unknown.
fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A number (not a boolean) at `v`, divided by `by`.
fn scaled(v: Option<&Value>, by: f64) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64().map(|x| x / by),
        _ => None,
    }
}

fn len(v: Option<&Value>) -> Option<f64> {
    v?.as_array().map(|a| a.len() as f64)
}

fn at<'a>(h: &'a Value, a: &str, b: &str) -> Option<&'a Value> {
    h.get(a).and_then(|x| x.get(b))
}

const METRICS: &[Metric] = &[
    Metric { name: "pid_guard_up", help: "Whether the process is running (1) or not (0).", value: |h| num(h.get("alive")), labels: none },
    Metric { name: "pid_guard_healthy", help: "Whether every health check passed (1) or not (0).", value: |h| num(h.get("healthy")), labels: none },
    Metric { name: "pid_guard_problems", help: "Number of failed health checks.", value: |h| len(h.get("problems")), labels: none },
    Metric { name: "pid_guard_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds.", value: |h| scaled(h.get("startedAt"), 1000.0), labels: none },
    Metric { name: "pid_guard_uptime_seconds", help: "Time since the process started, in seconds.", value: |h| scaled(h.get("uptimeMs"), 1000.0), labels: none },
    Metric { name: "pid_guard_cpu_percent", help: "CPU use over the sampling window, in percent of one core (like top).", value: |h| num(h.get("cpuPercent")), labels: none },
    Metric { name: "pid_guard_memory_rss_bytes", help: "Resident set size, in bytes.", value: |h| num(at(h, "memory", "rss")), labels: none },
    Metric { name: "pid_guard_memory_virtual_bytes", help: "Virtual memory size, in bytes.", value: |h| num(at(h, "memory", "virtual")), labels: none },
    Metric { name: "pid_guard_threads", help: "Number of threads of the process.", value: |h| num(h.get("threads")), labels: none },
    Metric { name: "pid_guard_children", help: "Number of descendant processes (after the children filter, if any).", value: |h| num(h.get("children")), labels: none },
    Metric { name: "pid_guard_listening_sockets", help: "Number of TCP sockets the process listens on.", value: |h| len(h.get("listening")), labels: none },
    Metric { name: "pid_guard_port_listening", help: "Whether something listens on the expected port (1) or not (0).", value: |h| num(at(h, "port", "listening")), labels: port_label },
    Metric { name: "pid_guard_port_owned", help: "Whether the expected port is held by the process itself or one of its descendants (1) or not (0).", value: |h| num(at(h, "port", "ownedByPid")), labels: port_label },
    Metric { name: "pid_guard_endpoint_up", help: "Whether the health endpoint answered with a 2xx status (1) or not (0).", value: |h| num(at(h, "endpoint", "ok")), labels: url_label },
    Metric { name: "pid_guard_endpoint_status_code", help: "HTTP status code of the health endpoint.", value: |h| num(at(h, "endpoint", "status")), labels: url_label },
    Metric { name: "pid_guard_endpoint_latency_seconds", help: "Time until the health endpoint answered, in seconds.", value: |h| scaled(at(h, "endpoint", "latencyMs"), 1000.0), labels: url_label },
];

/// What `v` is, for the error message: `null`, `an array`, or its JS type.
fn what(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Array(_)) => "an array",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Object(_)) => "object",
    }
}

/// Renders one health result or an array of them (`input`, as JSON; `None` is JS `undefined`).
/// Anything but health objects is an `EINVALIDOPTION` error saying what was passed.
pub fn to_prometheus(input: Option<&Value>) -> Result<String> {
    let list: Vec<&Value> = match input {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        other => return Err(not_a_result(what(other), None)),
    };
    if let Some(i) = list.iter().position(|h| !h.is_object()) {
        return Err(not_a_result(what(Some(list[i])), Some(i)));
    }
    Ok(render(&list))
}

fn not_a_result(what: &str, index: Option<usize>) -> Error {
    let at = index.map(|i| format!(" at index {i}")).unwrap_or_default();
    Error::new(
        Code::InvalidOption,
        format!("toPrometheus expects a health result (or an array of them) from health()/healthSync(), not {what}{at}"),
    )
}

/// The exposition text of health results (objects; anything else renders as a result with no
/// figures). An empty list is the empty string.
pub fn render(list: &[&Value]) -> String {
    let mut out = String::new();
    for m in METRICS {
        let mut samples: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for h in list {
            let Some(v) = (m.value)(h) else { continue };
            let labels = label_text(&labels_of(h, (m.labels)(h)));
            if seen.contains(&labels) {
                continue;
            }
            samples.push(format!("{}{labels} {}", m.name, format_value(v)));
            seen.push(labels);
        }
        if samples.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n{}\n",
            m.name,
            escape_help(m.help),
            m.name,
            samples.join("\n")
        ));
    }
    out
}

/// A positive whole number (a pid or port worth labelling by).
fn is_id(v: Option<&Value>) -> bool {
    v.and_then(Value::as_f64)
        .is_some_and(|x| x > 0.0 && x.fract() == 0.0)
}

/// The labels naming the target: from `target` (health results carry it), else name, pid, port.
fn base_labels(h: &Value) -> Vec<(String, String)> {
    let one = |k: &str, v: &Value| vec![(k.to_string(), label_value(v))];
    match h.get("target") {
        Some(Value::String(s)) if !s.is_empty() => return one("name", &Value::String(s.clone())),
        Some(t @ Value::Object(_)) => {
            if is_id(t.get("port")) {
                return one("port", &t["port"]);
            }
            if is_id(t.get("pid")) {
                return one("pid", &t["pid"]);
            }
        }
        _ => {}
    }
    match h.get("name") {
        Some(n @ Value::String(s)) if !s.is_empty() => return one("name", n),
        _ => {}
    }
    if let Some(p @ Value::Number(_)) = h.get("pid") {
        return one("pid", p);
    }
    if let Some(p) = at(h, "port", "number").filter(|p| is_id(Some(p))) {
        return one("port", p);
    }
    Vec::new()
}

/// Target labels plus a metric's own; an own label that would rename the target's is prefixed
/// with `expected_`.
fn labels_of(h: &Value, extra: Vec<(&'static str, Value)>) -> Vec<(String, String)> {
    let mut labels = base_labels(h);
    for (k, v) in extra {
        let v = label_value(&v);
        match labels.iter().position(|(lk, _)| lk == k) {
            Some(i) if labels[i].1 != v => labels.push((format!("expected_{k}"), v)),
            Some(i) => labels[i].1 = v,
            None => labels.push((k.to_string(), v)),
        }
    }
    labels
}

fn label_text(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A label's text: strings as they are, numbers as JS prints them.
fn label_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(js_number).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// Label values: backslash, double quote and line feed are escaped (the format's rule).
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        js_number(v)
    }
}

/// A finite number as JavaScript's `String(n)` prints it (shortest round-trip digits; plain
/// notation from 1e-6 up to 1e21, exponent notation outside), so the text reads as it always has.
pub fn js_number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format_value(v);
    }
    // Rust's `{:e}` gives the shortest digits that round-trip: "1.2345e-7".
    let e = format!("{:e}", v.abs());
    let (mantissa, exp) = e.split_once('e').expect("LowerExp has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().expect("LowerExp exponent") + 1;
    let sign = if v < 0.0 { "-" } else { "" };
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let rest = if k > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let x = n - 1;
        format!(
            "{}{rest}e{}{}",
            &digits[..1],
            if x < 0 { '-' } else { '+' },
            x.abs()
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (v, js) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (1_700_000_000.0, "1700000000"),
            (90.5, "90.5"),
            (0.004, "0.004"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e21, "1e+21"),
            (1.25e22, "1.25e+22"),
            (123456789012345680000.0, "123456789012345680000"),
            (-12.5, "-12.5"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(js_number(v), js, "{v}");
        }
    }

    #[test]
    fn labels_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label("we\"ird\\name\nx"), "we\\\"ird\\\\name\\nx");
    }

    #[test]
    fn a_guard_is_labelled_by_name_a_port_target_by_port_a_pid_by_pid() {
        let h = json!({ "name": "api", "target": "api", "pid": 7, "alive": true });
        assert!(render(&[&h]).contains("pid_guard_up{name=\"api\"} 1\n"));
        let h = json!({ "name": null, "target": { "port": 8080 }, "pid": 7, "alive": true });
        assert!(render(&[&h]).contains("pid_guard_up{port=\"8080\"} 1\n"));
        let h = json!({ "name": null, "target": { "pid": 7 }, "pid": 7, "alive": false });
        assert!(render(&[&h]).contains("pid_guard_up{pid=\"7\"} 0\n"));
        let h = json!({ "pid": 4242, "alive": true });
        assert!(render(&[&h]).contains("pid_guard_up{pid=\"4242\"} 1\n"));
        let h = json!({ "alive": true });
        assert!(render(&[&h]).contains("pid_guard_up 1\n"));
    }

    #[test]
    fn an_expected_port_other_than_the_target_port_is_prefixed() {
        let h = json!({ "target": { "port": 80 }, "port": { "number": 8080, "listening": false, "ownedByPid": null } });
        let text = render(&[&h]);
        assert!(
            text.contains("pid_guard_port_listening{port=\"80\",expected_port=\"8080\"} 0\n"),
            "{text}"
        );
        assert!(!text.contains("pid_guard_port_owned"), "{text}");
        let same = json!({ "target": { "port": 80 }, "port": { "number": 80, "listening": true } });
        assert!(render(&[&same]).contains("pid_guard_port_listening{port=\"80\"} 1\n"));
    }

    #[test]
    fn null_figures_are_left_out_and_a_series_is_rendered_once() {
        let h = json!({ "target": "api", "alive": true, "healthy": true, "problems": [], "cpuPercent": null,
                        "startedAt": 1_700_000_000_500u64, "endpoint": { "url": "http://h/x", "ok": true, "status": 200, "latencyMs": 4 } });
        let text = render(&[&h, &h]);
        assert_eq!(text.matches("# TYPE pid_guard_up gauge\n").count(), 1);
        assert_eq!(text.matches("pid_guard_up{").count(), 1);
        assert!(!text.contains("cpu_percent"));
        assert!(text.contains("pid_guard_start_time_seconds{name=\"api\"} 1700000000.5\n"));
        assert!(text.contains(
            "pid_guard_endpoint_latency_seconds{name=\"api\",url=\"http://h/x\"} 0.004\n"
        ));
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn anything_but_health_objects_is_einvalidoption() {
        for (input, says) in [
            (None, "not undefined"),
            (Some(json!(null)), "not null"),
            (Some(json!(42)), "not number"),
            (Some(json!("api")), "not string"),
            (
                Some(json!([{ "alive": true }, null])),
                "not null at index 1",
            ),
            (Some(json!([[]])), "not an array at index 0"),
        ] {
            let e = to_prometheus(input.as_ref()).unwrap_err();
            assert_eq!(e.code, Code::InvalidOption);
            assert!(
                e.message.contains("toPrometheus expects a health result"),
                "{}",
                e.message
            );
            assert!(e.message.ends_with(says), "{}", e.message);
        }
        assert_eq!(to_prometheus(Some(&json!([]))).unwrap(), "");
    }
}
