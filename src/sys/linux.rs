//! Linux: what the kernel tells through /proc and sysconf, read in one place for identity,
//! health and children. The parsers are plain data in [`super::procfs`] (tested everywhere).

use super::procfs::{parse_btime, parse_stat, parse_statm_rss, Stat};
use std::sync::OnceLock;

pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *TICKS.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    })
}

pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    })
}

/// Boot time in ms since the epoch (the `btime` line of /proc/stat), read once; the same
/// base `identity` uses, so `startedAt` agrees with what `status` reports.
pub fn boot_time_ms() -> Option<u64> {
    static BTIME: OnceLock<Option<u64>> = OnceLock::new();
    *BTIME.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        parse_btime(&stat)
    })
}

pub fn read_stat(pid: u32) -> Result<Stat, std::io::Error> {
    let raw = std::fs::read(format!("/proc/{pid}/stat"))?;
    parse_stat(&raw).ok_or_else(|| std::io::Error::other("unparsable /proc/PID/stat"))
}

/// The resident set size in bytes from `/proc/PID/statm` (its second field, in pages).
pub fn read_statm_rss(pid: u32) -> Option<u64> {
    let raw = std::fs::read(format!("/proc/{pid}/statm")).ok()?;
    parse_statm_rss(&raw).map(|pages| pages * page_size())
}
