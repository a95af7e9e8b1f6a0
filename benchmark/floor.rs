//! The syscall floor for a lock + pid file: what any implementation must at least pay per
//! acquire + release cycle on one file, with nothing else around it (no JS, no records, no
//! checks beyond the one a correct flock protocol needs).
//!
//! One cycle: open(O_CREAT|O_RDWR|O_CLOEXEC|O_NOFOLLOW, 0600) -> flock(LOCK_EX|LOCK_NB) ->
//! fstat(fd) + stat(path) (dev/ino still match: the pidfile(3) check) -> write "PID\n" ->
//! unlink(path) (while still locked) -> close(fd) (drops the lock).
//!
//! Usage: cargo run --release --example floor -- <dir> [iterations] [rounds] [warmup]
//! Prints one JSON line: {"usPerOp": <median of rounds>, "rounds": [...], ...}.
//!
//! `floor --breakdown <dir> [iterations]` instead replays, syscall for syscall, what pid-guard's
//! exclusive acquire + release does (as seen by `strace -f` on a loop of them) and prints the
//! median cost of each step in microseconds, to show where its time goes.

#[cfg(unix)]
fn main() {
    use std::ffi::CString;
    use std::time::Instant;

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--breakdown") {
        return breakdown::run(&args[1..]);
    }
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| std::env::temp_dir().to_string_lossy().into_owned());
    let num = |i: usize, default: usize| -> usize {
        args.get(i)
            .map(|s| s.parse().expect("a positive number"))
            .unwrap_or(default)
    };
    let iterations = num(1, 2000).max(1);
    let rounds = num(2, 5).max(1);
    let warmup = num(3, 500);

    let path = format!("{dir}/floor-{}.pid", std::process::id());
    let cpath = CString::new(path.clone()).expect("no NUL in the path");
    let pid_line = format!("{}\n", std::process::id());

    let cycle = || {
        // SAFETY: plain syscalls on a NUL-terminated path and on an fd this closure owns.
        unsafe {
            let fd = libc::open(
                cpath.as_ptr(),
                libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o600,
            );
            assert!(fd >= 0, "open {path}: {}", std::io::Error::last_os_error());
            let r = libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB);
            assert_eq!(r, 0, "flock: {}", std::io::Error::last_os_error());
            let mut held: libc::stat = std::mem::zeroed();
            let mut named: libc::stat = std::mem::zeroed();
            assert_eq!(libc::fstat(fd, &mut held), 0);
            assert_eq!(libc::stat(cpath.as_ptr(), &mut named), 0);
            assert!(held.st_dev == named.st_dev && held.st_ino == named.st_ino);
            let n = libc::write(fd, pid_line.as_ptr().cast(), pid_line.len());
            assert_eq!(n, pid_line.len() as isize);
            assert_eq!(libc::unlink(cpath.as_ptr()), 0);
            assert_eq!(libc::close(fd), 0);
        }
    };

    for _ in 0..warmup {
        cycle();
    }
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iterations {
            cycle();
        }
        per_round.push(t.elapsed().as_secs_f64() * 1e6 / iterations as f64);
    }
    let mut sorted = per_round.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let median = sorted[sorted.len() / 2];
    let list: Vec<String> = per_round.iter().map(|v| format!("{v:.3}")).collect();
    println!(
        "{{\"usPerOp\":{median:.3},\"rounds\":[{}],\"iterations\":{iterations},\"warmup\":{warmup},\"path\":{:?}}}",
        list.join(","),
        path
    );
}

/// pid-guard's exclusive acquire + release, one syscall per step, each step timed.
#[cfg(unix)]
mod breakdown {
    use std::ffi::CString;
    use std::time::Instant;

    const CREATE_NEW: i32 =
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;

    pub fn run(args: &[String]) {
        let dir = args
            .first()
            .cloned()
            .unwrap_or_else(|| std::env::temp_dir().to_string_lossy().into_owned());
        let iterations: usize = args.get(1).map_or(2000, |s| s.parse().expect("a number"));
        let c = |s: String| CString::new(s).expect("no NUL");
        let pid = std::process::id();
        let base = format!("{dir}/breakdown-{pid}");
        let (lock, pidp, shared) = (
            c(format!("{base}.lock")),
            c(format!("{base}.pid")),
            c(format!("{base}.shared")),
        );
        let pid_line = format!("{pid}\n");
        // The record pid-guard writes is ~400 bytes of compact JSON.
        let record = vec![b' '; 402];

        let mut names: Vec<&'static str> = Vec::new();
        let mut samples: Vec<Vec<f64>> = Vec::new();
        for i in 0..(iterations + 200) {
            let warm = i < 200;
            let mut step = 0usize;
            let mut t = Instant::now();
            // Times the syscall just made and starts the clock for the next one.
            let mut mark = |name: &'static str| {
                let now = Instant::now();
                if !warm {
                    if names.len() <= step {
                        names.push(name);
                        samples.push(Vec::with_capacity(iterations));
                    }
                    samples[step].push((now - t).as_secs_f64() * 1e6);
                }
                step += 1;
                t = Instant::now();
            };
            // SAFETY: plain syscalls on NUL-terminated paths and on fds opened here.
            unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                // The directory is checked once per process (dir::prepare), so not per cycle.
                let fd = libc::open(
                    lock.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    0o600,
                );
                assert!(fd >= 0);
                mark("acquire: open(N.lock)         fsio::open_lock (file stays)");
                assert_eq!(libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), 0);
                mark("acquire: flock(LOCK_EX|LOCK_NB)");
                libc::fstat(fd, &mut st);
                mark("acquire: fstat(lock fd)       check_lock: owner, links, mode, size");
                libc::geteuid();
                mark("acquire: geteuid              check_lock owner");
                libc::lstat(lock.as_ptr(), &mut st);
                mark("acquire: lstat(N.lock)        check_lock: path still names it");
                let mut old = vec![0u8; record.len() + 1];
                libc::pread(fd, old.as_mut_ptr().cast(), old.len(), 0);
                mark("acquire: pread(lock fd)       last holder's record");
                libc::lstat(shared.as_ptr(), &mut st);
                mark("acquire: lstat(N.shared) ENOENT");
                let pf = libc::open(pidp.as_ptr(), CREATE_NEW, 0o644);
                assert!(pf >= 0);
                mark("acquire: open(N.pid, O_EXCL)  create = leftover check");
                libc::write(pf, pid_line.as_ptr().cast(), pid_line.len());
                mark("acquire: write(pid)");
                libc::fstat(pf, &mut st);
                mark("acquire: fstat(pid fd)        stamp for release");
                libc::close(pf);
                mark("acquire: close(pid fd)");
                libc::pwrite(fd, record.as_ptr().cast(), record.len(), 0);
                mark("acquire: pwrite(record) in N.lock");
                libc::lstat(pidp.as_ptr(), &mut st);
                mark("release: lstat(N.pid)         stamp still ours");
                assert_eq!(libc::unlink(pidp.as_ptr()), 0);
                mark("release: unlink(N.pid)");
                libc::close(fd);
                mark("release: close(lock fd)");
            }
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
            v[v.len() / 2]
        };
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let mut rows = Vec::new();
        let (mut sum_med, mut sum_mean) = (0.0, 0.0);
        for (name, v) in names.iter().zip(samples.iter_mut()) {
            let a = mean(v);
            let m = med(v);
            sum_med += m;
            sum_mean += a;
            rows.push(format!(
                "{{\"step\":{:?},\"medianUs\":{m:.3},\"meanUs\":{a:.3}}}",
                name.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        println!(
            "{{\"iterations\":{iterations},\"syscalls\":{},\"sumOfMediansUs\":{sum_med:.3},\"sumOfMeansUs\":{sum_mean:.3},\"steps\":[\n{}\n]}}",
            names.len(),
            rows.join(",\n")
        );
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the syscall floor benchmark is written for Unix (open/flock/unlink)");
    std::process::exit(2);
}
