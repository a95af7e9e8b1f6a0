//! The text formats of Linux's /proc, parsed as plain data: compiled and tested on every OS, read
//! by [`super::linux`] on Linux.

/// The fields of `/proc/PID/stat` this module uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub name: String,
    pub state: u8,
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    pub threads: u32,
    pub start_ticks: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so it runs from the first `(` to the last `)` and fields are counted after that.
pub fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let name = String::from_utf8_lossy(&stat[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    if f.len() < 22 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    Some(Stat {
        name,
        state: *f[0].as_bytes().first()?,
        ppid: f[1].parse().ok()?,
        utime: n(11)?,
        stime: n(12)?,
        threads: f[17].parse().ok()?,
        start_ticks: n(19)?,
        vsize: n(20)?,
        // rss can read as a negative number in odd kernel states; treat that as unknown (0).
        rss_pages: f[21].parse::<i64>().ok()?.max(0) as u64,
    })
}

pub fn parse_btime(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("btime "))?;
    line[6..].trim().parse::<u64>().ok().map(|s| s * 1000)
}

pub fn parse_statm_rss(statm: &[u8]) -> Option<u64> {
    std::str::from_utf8(statm)
        .ok()?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line = b"123 (a b) c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            (st.name.as_str(), st.state, st.ppid, st.start_ticks),
            ("a b) c)", b'S', 1, 98765)
        );
        assert_eq!(parse_stat(b"garbage"), None);
    }
}
