//! The record a holder keeps (in the lock file `N.lock` when exclusive, in `N.shared/<pid>.json`
//! when shared): who it is (start time, boot id, host, command
//! line) and what it wants others to know (`meta`: port, health URL, version...).

use crate::identity::{self, Identity, SelfInfo};
use crate::marker::Mark;
use crate::mode::Mode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT_VERSION: u32 = 1;
/// `meta` is for a port, a URL, a version: a small object. Larger is refused, not truncated.
pub const MAX_META_BYTES: usize = 16 * 1024;
/// A record larger than this is not one of ours (the reader stops there).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub format: u32,
    pub name: String,
    pub pid: u32,
    pub mode: Mode,
    pub start_id: Option<String>,
    pub started_at: Option<u64>,
    pub boot_id: String,
    pub hostname: String,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub exe: Option<String>,
    #[serde(default)]
    pub cmdline: Vec<String>,
    pub acquired_at: u64,
    pub pid_guard_version: String,
    /// The holder's fd number of the lock file: lets a reader confirm the lock through
    /// `/proc/PID/fdinfo/FD` alone, without the system-wide lock table.
    #[serde(default)]
    pub lock_fd: Option<i32>,
    /// The PID namespace the pid is in (inode of `/proc/self/ns/pid`; Linux).
    #[serde(default)]
    pub pid_ns: Option<u64>,
    #[serde(default)]
    pub meta: Value,
    /// Earlier holders that died leaving marked processes behind (orphans): carried from record
    /// to record until those are gone, so a restart or `check` does not erase the evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<Previous>,
}

/// An earlier holder whose orphans were still alive when a later holder acquired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    pub mark: Mark,
    pub uid: Option<u32>,
    pub boot_id: String,
    /// The port it recorded in `meta.port`.
    pub port: Option<u16>,
}

impl Record {
    /// The TCP port the holder recorded in `meta.port`: a number, or a decimal string (`run --meta
    /// port=8080`, env-built meta), 1-65535. The one reading of it that status, stop and orphans use.
    pub fn port(&self) -> Option<u16> {
        let v = self.meta.get("port")?;
        let n = match v {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse::<u64>().ok()?,
            _ => return None,
        };
        u16::try_from(n).ok().filter(|&p| p > 0)
    }

    pub fn for_self(name: &str, mode: Mode, meta: Value) -> Record {
        let me: &SelfInfo = identity::me();
        Record {
            format: FORMAT_VERSION,
            name: name.to_string(),
            pid: me.pid,
            mode,
            start_id: me.identity.as_ref().map(|i| i.start_id.clone()),
            started_at: me.identity.as_ref().and_then(|i| i.started_at_ms),
            boot_id: identity::boot_id().to_string(),
            hostname: me.hostname.clone(),
            uid: me.uid,
            exe: me.exe.clone(),
            cmdline: me.cmdline.clone(),
            acquired_at: now_ms(),
            pid_guard_version: env!("CARGO_PKG_VERSION").to_string(),
            lock_fd: None,
            pid_ns: identity::pid_ns(),
            meta,
            previous: Vec::new(),
        }
    }

    /// The holder this record's marked processes name: the recorded process itself (under
    /// `pid-guard run` too: it execs the command, which keeps its pid and start time).
    pub fn holder_mark(&self) -> Option<Mark> {
        self.start_id.clone().map(|s| Mark {
            pid: self.pid,
            start_id: s,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("a record always serializes");
        v.push(b'\n');
        v
    }

    pub fn parse(bytes: &[u8]) -> Option<Record> {
        if bytes.len() > MAX_RECORD_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// Whether `current` (what the OS says about `self.pid` now) is the process that wrote this
    /// record. Unknown start times never match: an unverifiable PID is not believed.
    pub fn matches(&self, current: &Identity) -> bool {
        identity::same_boot(&self.boot_id, identity::boot_id())
            && self.start_id.as_deref() == Some(current.start_id.as_str())
    }
}

impl Record {
    /// Whether the recorded pid means the same process numbering as ours. A record from another
    /// PID namespace (a container sharing the directory) names another process here, or none:
    /// it is never judged alive, dead or signalled by its pid. A record without a namespace was
    /// written by a version that did not record it (or where there are none): taken as ours.
    pub fn same_ns(&self) -> bool {
        match (self.pid_ns, identity::pid_ns()) {
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }
}

/// Checks user-supplied meta: a JSON object (or null), small.
pub fn parse_meta(json: Option<&str>) -> Result<Value, String> {
    let Some(json) = json else {
        return Ok(Value::Object(Default::default()));
    };
    if json.len() > MAX_META_BYTES {
        return Err(format!(
            "meta is {} bytes as JSON; keep it under {MAX_META_BYTES} (a port, a URL, a version)",
            json.len()
        ));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Null) => Ok(Value::Object(Default::default())),
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("meta must be a plain object, like { port: 8080 }".into()),
        Err(e) => Err(format!("meta is not valid JSON: {e}")),
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_self_match() {
        let r = Record::for_self("web", Mode::Exclusive, serde_json::json!({"port": 8080}));
        let back = Record::parse(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
        let me = identity::me().identity.clone().unwrap();
        assert!(r.matches(&me));
        let other = Identity {
            start_id: "linux-ticks:1".into(),
            started_at_ms: None,
        };
        assert!(!r.matches(&other));
    }

    #[test]
    fn a_record_from_another_pid_namespace_is_never_judged_by_its_pid() {
        let mut r = Record::for_self("ns", Mode::Shared, serde_json::json!({}));
        assert_eq!(r.pid_ns, identity::pid_ns());
        assert!(r.same_ns());
        // Our own pid and start time, but written in another namespace: not us, not dead.
        r.pid_ns = Some(r.pid_ns.unwrap_or(0).wrapping_add(1));
        assert!(!r.same_ns());
        let h = crate::holder::Holder::examine(r.pid, Some(r.clone()), "pidfile", None);
        assert!(
            h.other_ns && !h.gone && !h.matches_record && !h.verified,
            "{h:?}"
        );
        // Written by a version that did not record namespaces: taken as ours.
        r.pid_ns = None;
        assert!(r.same_ns());
        let h = crate::holder::Holder::examine(r.pid, Some(r), "pidfile", None);
        assert!(h.matches_record && !h.gone);
    }

    #[test]
    fn the_recorded_port_is_a_number_or_a_decimal_string() {
        let with = |v: serde_json::Value| {
            Record::for_self("web", Mode::Exclusive, serde_json::json!({ "port": v })).port()
        };
        assert_eq!(with(serde_json::json!(8080)), Some(8080));
        assert_eq!(with(serde_json::json!("8080")), Some(8080));
        assert_eq!(with(serde_json::json!(" 443 ")), Some(443));
        for bad in [
            serde_json::json!(0),
            serde_json::json!(70000),
            serde_json::json!("80a"),
            serde_json::json!(-1),
            serde_json::json!(8080.5),
            serde_json::json!(null),
        ] {
            assert_eq!(with(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn garbage_records_are_rejected() {
        assert!(Record::parse(b"").is_none());
        assert!(Record::parse(b"{\"pid\": 5}").is_none());
        assert!(Record::parse(&[0xff; 100]).is_none());
    }

    #[test]
    fn meta_rules() {
        assert!(parse_meta(Some("{\"port\":1}")).is_ok());
        assert!(parse_meta(Some("null")).unwrap().is_object());
        assert!(parse_meta(Some("[1]")).is_err());
        assert!(parse_meta(Some("{")).is_err());
        assert!(parse_meta(Some(&format!(
            "{{\"a\":\"{}\"}}",
            "x".repeat(MAX_META_BYTES)
        )))
        .is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Any bytes in a record slot: never a panic; anything accepted has a PID that is not 0/1.
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Some(r) = Record::parse(&bytes) {
                let _ = r.pid;
            }
        }

        /// A real record with any meta survives the trip through the lock file, trailing padding included.
        #[test]
        fn records_roundtrip_with_padding(port in any::<u16>(), pad in 0usize..64, tag in "[a-z]{0,12}") {
            let r = Record::for_self("svc", Mode::Exclusive, serde_json::json!({ "port": port, "tag": tag }));
            let mut bytes = r.to_bytes();
            bytes.extend(std::iter::repeat_n(b' ', pad));
            prop_assert_eq!(Record::parse(&bytes), Some(r));
        }

        /// Any string as meta: either a clear refusal or an object, never a panic.
        #[test]
        fn meta_never_panics(s in ".{0,64}") {
            if let Ok(v) = parse_meta(Some(&s)) {
                prop_assert!(v.is_object());
            }
        }
    }
}
