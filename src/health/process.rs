//! Process figures: start time, CPU time, memory and thread count of one PID.
//!
//! Linux reads `/proc/PID/stat` (state, ppid, utime, stime, threads, start time, vsize) and
//! `/proc/PID/statm` for the resident size: the rss in `stat` is the kernel's per-CPU
//! approximation (hundreds of KiB low on a multi-threaded process), `statm` the exact sum that
//! `ps` and `top` show. Other systems use sysinfo for the one PID; that fallback is
//! compiled and tested on Linux too so it cannot rot.

use std::time::{Duration, Instant};

/// One reading of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Start time, ms since the epoch.
    pub started_at_ms: Option<u64>,
    /// CPU time used so far (user + system), in nanoseconds.
    pub cpu_ns: Option<u64>,
    pub rss: Option<u64>,
    pub virt: Option<u64>,
    pub threads: Option<u32>,
}

/// What reading a process found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// No such process, or a zombie waiting to be reaped.
    Gone,
    /// The process exists but we may not read its figures (another user's, hidden /proc).
    Denied,
    Alive(Sample),
}

pub use crate::sys::procfs::{parse_stat, Stat};

/// Reads one process now.
pub fn read(pid: u32) -> Read {
    #[cfg(target_os = "linux")]
    {
        linux::read(pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        portable::read(pid)
    }
}

/// CPU use in percent of one core over `window` (like `top`): two readings of the process's own
/// CPU time `window` apart, divided by the wall time between them. `during` runs between the two
/// readings (inside the window, so other work costs no extra time; it runs also when the process
/// is gone). Returns the second reading (so memory and threads are current) and the percentage.
pub fn sample_cpu(pid: u32, window: Duration, during: impl FnOnce()) -> (Read, Option<f64>) {
    #[cfg(target_os = "linux")]
    {
        sample_with(pid, window, read, during)
    }
    #[cfg(not(target_os = "linux"))]
    {
        portable::sample_cpu(pid, window, during)
    }
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn sample_with(
    pid: u32,
    window: Duration,
    read: impl Fn(u32) -> Read,
    during: impl FnOnce(),
) -> (Read, Option<f64>) {
    let t0 = Instant::now();
    let first = read(pid);
    during();
    let Read::Alive(a) = first else {
        return (first, None);
    };
    std::thread::sleep(window.saturating_sub(t0.elapsed()));
    let second = read(pid);
    let elapsed = t0.elapsed();
    let pct = match (&second, a.cpu_ns) {
        (Read::Alive(b), Some(c0)) => b.cpu_ns.map(|c1| percent(c0, c1, elapsed)),
        _ => None,
    };
    (second, pct)
}

/// CPU time used between two readings over the wall time between them, in percent of one core,
/// rounded to 0.1.
pub fn percent(cpu0_ns: u64, cpu1_ns: u64, wall: Duration) -> f64 {
    let wall_ns = wall.as_nanos().max(1) as f64;
    let used = cpu1_ns.saturating_sub(cpu0_ns) as f64;
    (used / wall_ns * 1000.0).round() / 10.0
}

#[cfg(target_os = "linux")]
pub mod linux {
    use super::{Read, Sample, Stat};
    use crate::sys::linux::{boot_time_ms, clock_ticks, page_size, read_stat, read_statm_rss};

    pub fn sample_from(st: &Stat) -> Sample {
        let hz = clock_ticks();
        Sample {
            started_at_ms: boot_time_ms().map(|b| b + st.start_ticks * 1000 / hz),
            cpu_ns: Some((st.utime + st.stime) * (1_000_000_000 / hz)),
            rss: Some(st.rss_pages * page_size()),
            virt: Some(st.vsize),
            threads: Some(st.threads),
        }
    }

    pub fn read(pid: u32) -> Read {
        if pid == 0 {
            return Read::Gone;
        }
        match read_stat(pid) {
            Ok(st) if st.state == b'Z' || st.state == b'X' => Read::Gone,
            Ok(st) => {
                let mut s = sample_from(&st);
                // statm is exact; stat's rss is kept only if statm cannot be read.
                if let Some(rss) = read_statm_rss(pid) {
                    s.rss = Some(rss);
                }
                Read::Alive(s)
            }
            // Not in /proc may still exist: /proc mounted with hidepid hides other users'.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Read::Gone,
            Err(_) => match crate::identity::exists_by_signal(pid) {
                true => Read::Denied,
                false => Read::Gone,
            },
        }
    }
}

/// sysinfo for one PID: what non-Linux systems use.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub mod portable {
    use super::{Read, Sample};
    use std::time::{Duration, Instant};
    use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System};

    fn refresh(sys: &mut System, pid: Pid) {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks(),
        );
    }

    fn to_read(sys: &System, pid: Pid) -> Read {
        match sys.process(pid) {
            None if crate::identity::exists_by_signal(pid.as_u32()) => Read::Denied,
            None => Read::Gone,
            Some(p) if matches!(p.status(), ProcessStatus::Zombie | ProcessStatus::Dead) => {
                Read::Gone
            }
            Some(p) => Read::Alive(Sample {
                started_at_ms: Some(p.start_time() * 1000),
                cpu_ns: Some(p.accumulated_cpu_time() * 1_000_000),
                rss: Some(p.memory()),
                virt: Some(p.virtual_memory()),
                threads: p.tasks().map(|t| t.len() as u32),
            }),
        }
    }

    pub fn read(pid: u32) -> Read {
        let Ok(mut sys) = System::new() else {
            return match crate::identity::exists_by_signal(pid) {
                true => Read::Denied,
                false => Read::Gone,
            };
        };
        let p = Pid::from_u32(pid);
        refresh(&mut sys, p);
        to_read(&sys, p)
    }

    /// Two refreshes `window` apart; the CPU figure is computed from the accumulated CPU time
    /// (ms resolution), like the Linux path, rather than sysinfo's own minimum-interval rule.
    pub fn sample_cpu(pid: u32, window: Duration, during: impl FnOnce()) -> (Read, Option<f64>) {
        let Ok(mut sys) = System::new() else {
            let r = read(pid);
            during();
            return (r, None);
        };
        let p = Pid::from_u32(pid);
        let t0 = Instant::now();
        refresh(&mut sys, p);
        let first = to_read(&sys, p);
        during();
        let Read::Alive(a) = first else {
            return (first, None);
        };
        std::thread::sleep(window.saturating_sub(t0.elapsed()));
        refresh(&mut sys, p);
        let second = to_read(&sys, p);
        let pct = match (&second, a.cpu_ns) {
            (Read::Alive(b), Some(c0)) => b.cpu_ns.map(|c1| super::percent(c0, c1, t0.elapsed())),
            _ => None,
        };
        (second, pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"4242 (we(ird) na)me) S 77 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 9 0 98765 123456789 321 18446744073709551615 1 2 3\n";

    #[test]
    fn parses_the_fields_used() {
        let st = parse_stat(LINE).unwrap();
        assert_eq!(st.name, "we(ird) na)me");
        assert_eq!(st.state, b'S');
        assert_eq!(st.ppid, 77);
        assert_eq!((st.utime, st.stime), (150, 50));
        assert_eq!(st.threads, 9);
        assert_eq!(st.start_ticks, 98765);
        assert_eq!(st.vsize, 123456789);
        assert_eq!(st.rss_pages, 321);
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_stat(b"1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat(b") 1 (x"), None);
        let neg = b"1 (x) S 0 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 100 -3\n";
        assert_eq!(parse_stat(neg).unwrap().rss_pages, 0);
    }

    #[test]
    fn percent_is_of_one_core() {
        let s = Duration::from_millis(500);
        assert_eq!(percent(0, 250_000_000, s), 50.0);
        assert_eq!(percent(0, 1_000_000_000, s), 200.0);
        assert_eq!(percent(10, 5, s), 0.0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_self_and_btime() {
        assert_eq!(
            crate::sys::procfs::parse_btime("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            crate::sys::procfs::parse_statm_rss(b"5000 321 100 1 0 200 0\n"),
            Some(321)
        );
        assert_eq!(crate::sys::procfs::parse_statm_rss(b"5000"), None);
        let Read::Alive(s) = read(std::process::id()) else {
            panic!("self not readable")
        };
        assert!(s.rss.unwrap() > 0 && s.virt.unwrap() > 0);
        assert!(s.threads.unwrap() >= 1);
        let now = crate::record::now_ms();
        let started = s.started_at_ms.unwrap();
        assert!(started <= now + 1000 && started + 3_600_000 > now);
    }

    #[test]
    fn busy_thread_shows_cpu_and_gone_pid_reads_gone() {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let spin = std::thread::spawn(move || {
            let mut x = 0u64;
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                x = x.wrapping_add(1);
                std::hint::black_box(x);
            }
        });
        let (r, pct) = sample_cpu(std::process::id(), Duration::from_millis(300), || {});
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spin.join().unwrap();
        assert!(matches!(r, Read::Alive(_)));
        // A spinning thread: well above idle even on a loaded 2-core machine.
        assert!(pct.unwrap() > 10.0, "cpu {pct:?}");
        // The sysinfo fallback agrees on a busy process too.
        let (r, _) = portable::sample_cpu(std::process::id(), Duration::from_millis(50), || {});
        assert!(matches!(r, Read::Alive(_)));
        assert!(matches!(portable::read(std::process::id()), Read::Alive(_)));

        let mut child = crate::test_child::quick();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(read(pid), Read::Gone);
        assert_eq!(portable::read(pid), Read::Gone);
        let mut ran = false;
        assert_eq!(
            sample_cpu(pid, Duration::from_millis(1), || ran = true),
            (Read::Gone, None)
        );
        assert!(ran);
    }
}
