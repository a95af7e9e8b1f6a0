//! The pid file format: the decimal PID and a newline, nothing else, so `kill $(cat x.pid)`,
//! systemd's `PIDFile=` and start-stop-daemon read it. Parsing is strict: anything that is not a
//! plausible PID of another process is invalid and is never signalled.

use serde::Serialize;

/// More than this many bytes cannot be a pid file of ours.
pub const MAX_LEN: usize = 32;
/// The largest PID any supported OS hands out is below this (Linux's pid_max limit is 2^22).
pub const MAX_PID: u64 = i32::MAX as u64;

pub fn format(pid: u32) -> String {
    format!("{pid}\n")
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Content {
    Valid { pid: u32 },
    Empty,
    Invalid { problem: String },
}

/// Parses pid file bytes. `self_pid` is the caller's own PID, which a pid file of another holder
/// can never legitimately name.
pub fn parse(bytes: &[u8], self_pid: u32) -> Content {
    if bytes.len() > MAX_LEN {
        return Content::Invalid {
            problem: format!("it is {} bytes or more, not a PID", bytes.len()),
        };
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            return Content::Invalid {
                problem: "it holds binary data, not a PID".into(),
            }
        }
    };
    let trimmed = text
        .trim_end_matches(['\n', '\r'])
        .trim_matches([' ', '\t']);
    if trimmed.is_empty() {
        return if text.trim().is_empty() {
            Content::Empty
        } else {
            Content::Invalid {
                problem: "it holds only white space".into(),
            }
        };
    }
    let shown = trimmed.escape_debug().to_string();
    if !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Content::Invalid {
            problem: format!("\"{shown}\" is not a positive decimal number"),
        };
    }
    let value = match trimmed.parse::<u64>() {
        Ok(v) if v <= MAX_PID => v as u32,
        _ => {
            return Content::Invalid {
                problem: format!("\"{shown}\" is larger than any PID"),
            }
        }
    };
    if value == 1 {
        // `pid-guard run` as a container's entrypoint: the command is its namespace's init.
        // Still never a pid to signal (the kernel drops SIGTERM for an init without a handler).
        return Content::Invalid {
            problem: "it names pid 1: the holder is the init of its PID namespace (a container's entrypoint); pid 1 is never signalled: stop the container (docker stop), or run the command under an init (docker run --init, tini)".into(),
        };
    }
    if value == 0 {
        return Content::Invalid {
            problem: format!(
                "\"{shown}\" is not a PID a service can have (0 and 1 are never signalled)"
            ),
        };
    }
    if value == self_pid {
        return Content::Invalid {
            problem: format!("it names the reading process itself ({value})"),
        };
    }
    Content::Valid { pid: value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(b: &[u8]) -> Option<u32> {
        match parse(b, 4242) {
            Content::Valid { pid } => Some(pid),
            _ => None,
        }
    }

    #[test]
    fn pid_1_is_named_as_a_namespace_init_never_a_pid_to_signal() {
        match parse(b"1\n", 4242) {
            Content::Invalid { problem } => {
                assert!(problem.contains("init of its PID namespace"), "{problem}");
                assert!(problem.contains("docker run --init"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accepts_plain_pids() {
        assert_eq!(valid(b"12345\n"), Some(12345));
        assert_eq!(valid(b"12345"), Some(12345));
        assert_eq!(valid(b"12345\r\n"), Some(12345));
        assert_eq!(valid(b"2\n"), Some(2));
        assert_eq!(valid(format(77).as_bytes()), Some(77));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            &b"-1\n"[..],
            b"0\n",
            b"1\n",
            b"4294967296\n",
            b"2147483648\n",
            b"+5\n",
            b"12 34\n",
            b"abc\n",
            b"\xff\xfe\x00\x01",
            b"4242\n",
            b"0x10\n",
            b"   \n\t",
        ] {
            assert_eq!(valid(bad), None, "{bad:?}");
        }
        assert_eq!(parse(b"", 1), Content::Empty);
        assert_eq!(parse(b"\n", 1), Content::Empty);
        assert!(matches!(
            parse(&vec![b'1'; 1 << 20], 1),
            Content::Invalid { .. }
        ));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Any bytes: never a panic, and never a PID of 0, 1, our own or beyond any OS's range.
        #[test]
        fn any_bytes_never_yield_an_unsafe_pid(bytes in proptest::collection::vec(any::<u8>(), 0..64), me in 2u32..100_000) {
            if let Content::Valid { pid } = parse(&bytes, me) {
                prop_assert!(pid > 1);
                prop_assert!(pid != me);
                prop_assert!(u64::from(pid) <= MAX_PID);
            }
        }

        /// Text that looks almost like a PID (signs, spaces, huge numbers) is held to the same rules.
        #[test]
        fn pid_like_text_is_strict(s in "[-+ 0-9\t\r\n]{0,24}") {
            if let Content::Valid { pid } = parse(s.as_bytes(), 1) {
                prop_assert!(pid > 1);
                prop_assert_eq!(s.trim().parse::<u32>().ok(), Some(pid));
            }
        }

        /// What we write, we read back as the same PID.
        #[test]
        fn format_roundtrips(pid in 2u32..=i32::MAX as u32) {
            prop_assert_eq!(parse(format(pid).as_bytes(), 1), Content::Valid { pid });
        }
    }
}
