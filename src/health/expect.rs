//! Expectations on the endpoint's JSON body: `{ "sessions.stuck": 0 }` (dotted paths, equality,
//! numbers compared as numbers, so `"3"` equals `3`). One sentence per unmet or uncheckable field.

use super::endpoint::Endpoint;
use super::options::json_text;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// One expected field and whether it is met (`ok: None`: not checked).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Expectation {
    pub field: String,
    pub expected: Value,
    pub actual: Value,
    pub ok: Option<bool>,
}

/// What the expectations are checked against.
pub enum Asked<'a> {
    /// Not probed (healthSync, or not running with no endpoint): each is unknown, not failed.
    Not,
    /// Probed, but no health URL is known.
    NoUrl,
    Endpoint(&'a Endpoint),
}

/// A value as the problems quote it: its JSON, cut to 60 characters.
pub fn shown(v: &Value) -> String {
    let t = json_text(v);
    if t.chars().count() > 60 {
        format!("{}...", t.chars().take(57).collect::<String>())
    } else {
        t
    }
}

pub fn check(
    expect: &Map<String, Value>,
    asked: &Asked,
    problems: &mut Vec<String>,
) -> Vec<Expectation> {
    expect
        .iter()
        .map(|(field, expected)| {
            let mut x = Expectation {
                field: field.clone(),
                expected: expected.clone(),
                actual: Value::Null,
                ok: None,
            };
            let ep = match asked {
                Asked::Not => return x,
                Asked::NoUrl => {
                    problems.push(format!(
                        "cannot check {field} = {}: no health URL is known (give url, or record meta.url)",
                        shown(expected)
                    ));
                    return x;
                }
                Asked::Endpoint(ep) => ep,
            };
            match &ep.body {
                b @ (Value::Object(_) | Value::Array(_)) => match lookup(b, field) {
                    None => {
                        x.ok = Some(false);
                        problems.push(format!(
                            "the body of GET {} has no field {field} (expected {})",
                            ep.url,
                            shown(expected)
                        ));
                    }
                    Some(v) => {
                        let ok = same_value(&v, expected);
                        if !ok {
                            problems.push(format!(
                                "{field} is {}, expected {} (GET {})",
                                shown(&v),
                                shown(expected),
                                ep.url
                            ));
                        }
                        x.actual = v;
                        x.ok = Some(ok);
                    }
                },
                b => problems.push(format!(
                    "cannot check {field} = {}: GET {} gave {}",
                    shown(expected),
                    ep.url,
                    if b.is_null() { "no body" } else { "a body that is not JSON" }
                )),
            }
            x
        })
        .collect()
}

/// `field` ("a.b.0") in `body`.
fn lookup(body: &Value, field: &str) -> Option<Value> {
    let mut v = body;
    let mut owned;
    for k in field.split('.') {
        v = match v {
            Value::Object(m) => m.get(k)?,
            Value::Array(a) if k == "length" => {
                owned = Value::from(a.len());
                &owned
            }
            Value::Array(a) => {
                let i: usize = k.parse().ok().filter(|i: &usize| i.to_string() == k)?;
                a.get(i)?
            }
            _ => return None,
        };
    }
    Some(v.clone())
}

fn as_number(v: &Value) -> Option<f64> {
    static NUMERIC: OnceLock<regex::Regex> = OnceLock::new();
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let re = NUMERIC.get_or_init(|| {
                regex::Regex::new(r"(?i)^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$").unwrap()
            });
            if !re.is_match(s) {
                return None;
            }
            let t = s.trim();
            let t = t.strip_suffix('.').unwrap_or(t);
            t.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// A body field against what was expected: numbers as numbers; expected text against a
/// string, boolean or null as text; otherwise deep equality.
fn same_value(actual: &Value, expected: &Value) -> bool {
    if let (Some(a), Some(e)) = (as_number(actual), as_number(expected)) {
        return a == e;
    }
    if let Value::String(e) = expected {
        match actual {
            Value::Null => return e == "null",
            Value::String(a) => return a == e,
            Value::Bool(b) => return b.to_string() == *e,
            _ => {}
        }
    }
    deep_equal(actual, expected)
}

fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_numbers_text_as_text() {
        assert!(same_value(&json!("3"), &json!(3)));
        assert!(same_value(&json!(" 1e3 "), &json!("1000")));
        assert!(same_value(&json!(true), &json!("true")));
        assert!(same_value(&json!(null), &json!("null")));
        assert!(!same_value(&json!("3x"), &json!(3)));
        assert!(same_value(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert_eq!(lookup(&json!({"a": [5, 6]}), "a.1"), Some(json!(6)));
        assert_eq!(lookup(&json!({"a": [5, 6]}), "a.length"), Some(json!(2)));
        assert_eq!(lookup(&json!({"a": [5, 6]}), "a.01"), None);
        assert_eq!(shown(&json!("x".repeat(80))).len(), 60);
    }
}
