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

#[cfg(unix)]
fn main() {
    use std::ffi::CString;
    use std::time::Instant;

    let args: Vec<String> = std::env::args().skip(1).collect();
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

#[cfg(not(unix))]
fn main() {
    eprintln!("the syscall floor benchmark is written for Unix (open/flock/unlink)");
    std::process::exit(2);
}
