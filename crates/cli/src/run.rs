//! `pid-guard run <name> [options] -- <command...>`: acquire the guard, then become the command.
//!
//! Unix: the guard is acquired (waiting or taking over as asked) and this very process execs
//! the command. No wrapper remains: the pid in the pid file and record is the command's from the
//! first instant (exec keeps the pid and the start time the record is verified by), signals
//! reach it directly and once, and its exit code or signal is seen by our parent because it is
//! the command's own. The lock's fd is passed across the exec on fd 3 when it is free, else the
//! lowest free fd above (and above the `LISTEN_FDS` of socket activation); the caller's fds are
//! never moved (`PID_GUARD_FD=<fd>`, `PID_GUARD_NAME=<name>`, and `PID_GUARD_DIR` when `--dir`
//! was given), so the lock lives exactly as long as the command, or any child it
//! passes the fd to (as with flock(1)); every other fd of ours is close-on-exec. Before the
//! exec the record is rewritten to describe the command (its executable and argv as the OS will
//! show them, fd 3), and the holder's marker variable is put in its environment so what it
//! starts is known as its own (orphans, strays). A service that calls `acquire(<name>)` adopts
//! this guard (see pid_guard_core::adopt).
//!
//! Until the guard is won nothing is held: a SIGTERM or Ctrl-C during `--wait` ends us with the
//! default disposition, and the command is never started. A command that cannot be started
//! (not found or a missing `#!` interpreter: 127; not executable, not a regular file: 126, as
//! shells say) is found before the guard is touched; an exec that still fails releases it.
//!
//! Windows has no exec: run_windows.rs holds the guard in a small native wrapper.

use crate::cli::{Global, RunArgs};
use pid_guard_core::error::{Code, Error};
use pid_guard_core::guard::{self, AcquireOptions, Guard};
use pid_guard_core::mode::Mode;
use pid_guard_core::takeover::TakeoverOptions;
use serde_json::{Map, Value};
use std::time::Duration;

struct Usage(String);

fn usage_error(msg: &str) -> i32 {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    // Built, so the subcommand's usage says "pid-guard run".
    cmd.build();
    let usage = cmd
        .find_subcommand_mut("run")
        .map(|c| c.render_usage().to_string())
        .unwrap_or_default();
    crate::out::err(&format!("pid-guard run: {msg}\n\n{usage}\n"));
    2
}

enum Conflict {
    Fail,
    Wait(Option<Duration>),
    Takeover(Duration),
}

fn ms(v: &str, flag: &str) -> Result<Option<Duration>, Usage> {
    if v.is_empty() {
        return Ok(None);
    }
    match v.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(Duration::from_millis(n as u64))),
        _ => Err(Usage(format!("{flag} expects milliseconds, not \"{v}\""))),
    }
}

/// The options as lib/cli/run.js read them: meta from `--meta`, `--port`, `--url` and the
/// command line itself.
fn options(a: &RunArgs) -> Result<(Mode, Value, Conflict), Usage> {
    let mut meta = Map::new();
    for kv in &a.meta {
        match kv.find('=') {
            Some(eq) if eq > 0 => {
                meta.insert(
                    kv[..eq].to_string(),
                    Value::String(kv[eq + 1..].to_string()),
                );
            }
            _ => return Err(Usage(format!("--meta expects key=value, not \"{kv}\""))),
        }
    }
    if let Some(p) = &a.port {
        match p.trim().parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) && !p.trim().is_empty() => {
                meta.insert("port".into(), Value::from(n));
            }
            _ => return Err(Usage(format!("--port expects 1-65535, not \"{p}\""))),
        }
    }
    if let Some(u) = &a.url {
        meta.insert("url".into(), Value::String(u.clone()));
    }
    let command: Vec<String> = a
        .command
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    meta.insert("command".into(), Value::String(command.join(" ")));
    let mode = match a.mode.as_deref() {
        None => Mode::Exclusive,
        Some(m) => Mode::parse(m)
            .ok_or_else(|| Usage(format!("--mode expects exclusive or shared, not \"{m}\"")))?,
    };
    let conflict = match (&a.wait, &a.takeover) {
        (Some(_), Some(_)) => return Err(Usage("--wait and --takeover exclude each other".into())),
        (Some(w), None) => Conflict::Wait(ms(w, "--wait")?),
        (None, Some(t)) => {
            Conflict::Takeover(ms(t, "--takeover")?.unwrap_or(Duration::from_millis(5000)))
        }
        (None, None) => Conflict::Fail,
    };
    Ok((mode, Value::Object(meta), conflict))
}

fn options_for(g: &Global, mode: Mode, meta: Value) -> AcquireOptions<'_> {
    AcquireOptions {
        dir: g.dir.as_deref(),
        mode,
        meta,
    }
}

fn acquire(g: &Global, name: &str, mode: Mode, meta: Value, c: &Conflict) -> Result<Guard, Error> {
    let opts = options_for(g, mode, meta);
    match c {
        Conflict::Fail => guard::acquire(name, &opts),
        Conflict::Wait(t) => pid_guard_core::wait::acquire_waiting(name, &opts, *t, None),
        Conflict::Takeover(grace) => pid_guard_core::takeover::acquire_takeover(
            name,
            &opts,
            &TakeoverOptions {
                signal: pid_guard_core::signal::SIGTERM,
                grace: *grace,
                kill_wait: Duration::from_secs(10),
            },
            None,
        ),
    }
}

pub fn run(g: &Global, a: &RunArgs) -> i32 {
    let (mode, meta, conflict) = match options(a) {
        Ok(o) => o,
        Err(Usage(m)) => return usage_error(&m),
    };
    #[cfg(unix)]
    {
        exec::run(g, a, mode, meta, &conflict)
    }
    #[cfg(windows)]
    {
        let guard = match acquire(g, &a.name, mode, meta, &conflict) {
            Ok(guard) => guard,
            Err(e) => return report(&e),
        };
        crate::run_windows::run(guard, &a.command)
    }
}

/// An acquire that failed: its message, exit 1 (2 for a bad name or option).
fn report(e: &Error) -> i32 {
    crate::out::err(&format!("{}\n", e.message));
    match e.code {
        Code::InvalidName | Code::InvalidOption => 2,
        _ => 1,
    }
}

#[cfg(unix)]
mod exec {
    use super::*;
    use pid_guard_core::adopt::{FD_VAR, NAME_VAR, RUN_FD};
    use pid_guard_core::dir::ENV_DIR as DIR_VAR;
    use std::ffi::{CString, OsStr, OsString};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    /// What the command resolved to, before anything is acquired.
    pub(super) struct Target {
        /// The file to execve.
        pub path: PathBuf,
        /// Its executable and command line as the OS will show them after the exec (a script
        /// runs its interpreter); `exe` unknown when that cannot be told.
        pub exe: Option<String>,
        pub cmdline: Vec<String>,
    }

    pub(super) enum NotStarted {
        /// Exit 127, as shells say for a command not found.
        Missing(String),
        /// Exit 126: found, not executable.
        Denied(String),
    }

    impl NotStarted {
        fn exit(&self, command: &OsStr) -> i32 {
            let (why, code) = match self {
                NotStarted::Missing(w) => (w, 127),
                NotStarted::Denied(w) => (w, 126),
            };
            crate::out::err(&format!(
                "pid-guard run: cannot start \"{}\": {why}\n",
                command.to_string_lossy()
            ));
            code
        }
    }

    fn is_executable(p: &Path) -> bool {
        let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: a NUL-terminated path.
        unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
    }

    /// The file execvp(3) would run for `cmd`: itself when it holds a '/', else the first
    /// executable regular file of that name in PATH.
    pub(super) fn resolve(cmd: &OsStr) -> Result<PathBuf, NotStarted> {
        let check = |p: &Path| -> Result<(), NotStarted> {
            match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => Err(NotStarted::Denied("it is a directory".into())),
                // A FIFO, socket or device: exec would fail (EACCES), and reading its first
                // line to describe it could block for ever.
                Ok(m) if !m.is_file() => Err(NotStarted::Denied(
                    "it is not a regular file (a FIFO, socket or device cannot be run)".into(),
                )),
                Ok(_) if is_executable(p) => Ok(()),
                Ok(_) => Err(NotStarted::Denied(
                    "permission denied (it is not executable)".into(),
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(NotStarted::Missing("no such file".into()))
                }
                Err(e) => Err(NotStarted::Denied(e.to_string())),
            }
        };
        if cmd.is_empty() {
            return Err(NotStarted::Missing("an empty command name".into()));
        }
        if cmd.as_bytes().contains(&b'/') {
            let p = PathBuf::from(cmd);
            return check(&p).map(|()| p);
        }
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let mut denied = None;
        for dir in std::env::split_paths(&path) {
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let p = dir.join(cmd);
            match check(&p) {
                Ok(()) => return Ok(p),
                Err(NotStarted::Denied(w)) if p.exists() => {
                    denied.get_or_insert(NotStarted::Denied(w));
                }
                Err(_) => {}
            }
        }
        Err(denied.unwrap_or_else(|| NotStarted::Missing("command not found in PATH".into())))
    }

    fn lossy(s: &OsStr) -> String {
        s.to_string_lossy().into_owned()
    }

    fn canonical(p: &Path) -> Option<String> {
        std::fs::canonicalize(p).ok().map(|p| lossy(p.as_os_str()))
    }

    /// What the kernel will show once `path` runs with `argv`: a binary shows itself and argv;
    /// a `#!` script shows its interpreter, with `interp [arg] path argv[1..]`.
    pub(super) fn describe(path: &Path, argv: &[OsString]) -> Target {
        use std::io::Read;
        let mut head = [0u8; 256];
        let n = open_head(path)
            .and_then(|mut f| f.read(&mut head))
            .unwrap_or(0);
        let plain = Target {
            path: path.to_path_buf(),
            exe: canonical(path),
            cmdline: argv.iter().map(|a| lossy(a)).collect(),
        };
        if !head[..n].starts_with(b"#!") {
            return plain;
        }
        let line = head[2..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
        let line = String::from_utf8_lossy(line);
        let line = line.trim_matches([' ', '\t', '\r']);
        let (interp, arg) = match line.find([' ', '\t']) {
            Some(i) => (&line[..i], Some(line[i..].trim_matches([' ', '\t']))),
            None => (line, None),
        };
        let mut cmdline = vec![interp.to_string()];
        cmdline.extend(arg.filter(|a| !a.is_empty()).map(str::to_string));
        cmdline.push(lossy(path.as_os_str()));
        cmdline.extend(argv.iter().skip(1).map(|a| lossy(a)));
        Target {
            path: path.to_path_buf(),
            // An interpreter that is itself a script runs yet another: unknown then.
            exe: canonical(Path::new(interp)).filter(|_| !starts_with_shebang(Path::new(interp))),
            cmdline,
        }
    }

    /// Opens `p` to read its first bytes without ever blocking (a FIFO swapped in after the
    /// check would wait for a writer): O_NONBLOCK, and a regular file only.
    fn open_head(p: &Path) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(p)?;
        if !f.metadata()?.is_file() {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(f)
    }

    /// A `#!` script whose interpreter cannot run: found now, before anything is acquired or
    /// taken over (the kernel would say ENOENT for the script itself, after v1 was stopped).
    /// `None` for a binary or a script whose interpreter is there and executable.
    pub(super) fn interpreter_problem(path: &Path) -> Option<NotStarted> {
        use std::io::Read;
        let mut head = [0u8; 256];
        let n = open_head(path).and_then(|mut f| f.read(&mut head)).ok()?;
        if !head[..n].starts_with(b"#!") {
            return None;
        }
        let line = head[2..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
        let line = String::from_utf8_lossy(line);
        let trimmed = line.trim_start_matches([' ', '\t']);
        // The kernel cuts the interpreter at a space or tab only: a CRLF line's \r is part of
        // its name.
        let interp = trimmed.split([' ', '\t']).next().unwrap_or("");
        if interp.is_empty() {
            return Some(NotStarted::Denied(format!(
                "{} starts with \"#!\" but names no interpreter",
                path.display()
            )));
        }
        let shown = interp.escape_debug().to_string();
        if interp.ends_with('\r') {
            return Some(NotStarted::Missing(format!(
                "its #! line names the interpreter \"{shown}\", which ends in a carriage return (\\r): the script has Windows (CRLF) line endings; convert it (dos2unix {})",
                path.display()
            )));
        }
        match std::fs::metadata(interp) {
            Err(_) => Some(NotStarted::Missing(format!(
                "its #! interpreter \"{shown}\" does not exist; install it or fix the script's first line"
            ))),
            Ok(m) if !m.is_file() || !is_executable(Path::new(interp)) => {
                Some(NotStarted::Denied(format!(
                    "its #! interpreter \"{shown}\" is not an executable file"
                )))
            }
            Ok(_) => None,
        }
    }

    fn starts_with_shebang(p: &Path) -> bool {
        use std::io::Read;
        let mut b = [0u8; 2];
        open_head(p)
            .and_then(|mut f| f.read_exact(&mut b))
            .is_ok_and(|()| &b == b"#!")
    }

    /// Standard streams that are closed get /dev/null (as Node and shells give them), so no
    /// file we open lands on 0-2.
    fn stdio_fds() {
        // SAFETY: fcntl/open/close on fd numbers only; open() returns the lowest free fd, which
        // is the one just found closed (every lower one is open).
        unsafe {
            for fd in 0..=2 {
                if libc::fcntl(fd, libc::F_GETFD) >= 0 {
                    continue;
                }
                let got = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if got >= 0 && got != fd {
                    libc::close(got);
                }
            }
        }
    }

    /// The fd an outer `pid-guard run <name>` passed this very guard on (PID_GUARD_FD, with
    /// PID_GUARD_NAME = name), if it is open.
    fn inherited_fd(name: &str) -> Option<i32> {
        let fd = std::env::var(FD_VAR).ok()?.parse::<i32>().ok()?;
        let same = std::env::var(NAME_VAR).is_ok_and(|n| n == name);
        // SAFETY: F_GETFD only asks whether it is open.
        (same && fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).then_some(fd)
    }

    /// The fd the lock is passed on: 3 when it is free, else the lowest free one above it.
    /// Never one the caller passed: the caller's fds are the command's (s6's notification fd,
    /// a `3>>log`), and `LISTEN_FDS=N` (systemd socket activation) claims 3..3+N-1 even
    /// before they are checked. Reserved (a close-on-exec copy of stdin) until the lock is put there,
    /// so nothing acquire opens lands on it.
    fn reserve_run_fd() -> i32 {
        let listen = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|n| (0..=4096).contains(n))
            .unwrap_or(0);
        let from = RUN_FD + listen;
        // SAFETY: fd calls only. F_DUPFD_CLOEXEC gives the lowest free fd >= from (a copy of
        // stdin, open since stdio_fds; no temporary fd that could itself take the number).
        let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, from) };
        if fd < 0 {
            from
        } else {
            fd
        }
    }

    fn cstring(b: &[u8]) -> CString {
        // An argument or variable with a NUL byte cannot reach exec: cut there, as C would.
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        CString::new(&b[..end]).expect("no NUL before the cut")
    }

    /// The command's environment: ours, with the guard's variables set (and any inherited
    /// ones of an outer `run` of another guard replaced).
    ///
    /// `PID_GUARD_DIR` is set to the guard's directory when `--dir` was given, so the
    /// service's own `acquire(<name>)` without a `dir` looks there and adopts this guard
    /// instead of silently taking a second one in the default directory.
    fn environment(
        name: &str,
        fd: i32,
        dir: Option<&Path>,
        marker: Option<(&str, &str)>,
    ) -> Vec<CString> {
        let mut env: Vec<CString> = Vec::new();
        for (k, v) in std::env::vars_os() {
            let kb = k.as_bytes();
            if kb == FD_VAR.as_bytes()
                || kb == NAME_VAR.as_bytes()
                || (dir.is_some() && kb == DIR_VAR.as_bytes())
                || marker.is_some_and(|(m, _)| kb == m.as_bytes())
            {
                continue;
            }
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            env.push(cstring(&kv));
        }
        env.push(cstring(format!("{FD_VAR}={fd}").as_bytes()));
        env.push(cstring(format!("{NAME_VAR}={name}").as_bytes()));
        if let Some(d) = dir {
            let mut kv = format!("{DIR_VAR}=").into_bytes();
            kv.extend_from_slice(d.as_os_str().as_bytes());
            env.push(cstring(&kv));
        }
        if let Some((k, v)) = marker {
            env.push(cstring(format!("{k}={v}").as_bytes()));
        }
        env
    }

    pub(super) fn run(g: &Global, a: &RunArgs, mode: Mode, meta: Value, c: &Conflict) -> i32 {
        stdio_fds();
        let command = &a.command;
        // Everything that can keep the command from starting is found before the guard is
        // touched (a --takeover must not stop v1 for a v2 that cannot run).
        let path = match resolve(&command[0]) {
            Ok(p) => p,
            Err(e) => return e.exit(&command[0]),
        };
        if let Some(e) = interpreter_problem(&path) {
            return e.exit(&command[0]);
        }
        let target = describe(&path, command);
        // This very guard passed down by an outer `run <name>`: adopted when that run exec'd
        // us (the record names this pid: `run web -- pid-guard run web -- cmd`). Otherwise
        // (a service under `run web` that starts `pid-guard run web --takeover -- v2`) the
        // inherited copy is closed first: this run is asked to wait for, fail on or take over
        // from the holder, and must not hold the lock it asks for, or it would wait on (or be
        // refused by) itself after stopping v1.
        let mut adopted = None;
        if let Some(fd) = inherited_fd(&a.name) {
            match pid_guard_core::adopt::adopt_own(&a.name, &options_for(g, mode, meta.clone())) {
                Ok(Some(guard)) => adopted = Some((guard, fd)),
                Ok(None) => {
                    // SAFETY: the fd is the inherited copy, not ours; closing drops our share.
                    unsafe { libc::close(fd) };
                    std::env::remove_var(FD_VAR);
                }
                Err(e) => return report(&e),
            }
        }
        let (mut guard, fd) = match adopted {
            Some(x) => x,
            None => {
                let fd = reserve_run_fd();
                match acquire(g, &a.name, mode, meta, c) {
                    Ok(guard) => (guard, fd),
                    Err(e) => return report(&e),
                }
            }
        };
        if let Err(e) = guard.prepare_exec(fd, target.exe.clone(), target.cmdline.clone()) {
            let _ = guard.release();
            return report(&e);
        }
        let argv: Vec<CString> = command.iter().map(|a| cstring(a.as_bytes())).collect();
        let dir = g.dir.as_ref().map(|_| guard.dir().to_path_buf());
        let env = environment(&a.name, fd, dir.as_deref(), guard.marker());
        let file = cstring(target.path.as_os_str().as_bytes());
        let err = exec(&file, &argv, &env);
        // Still here: the exec failed. Nothing was started; give the guard back first.
        let _ = guard.release();
        // SAFETY: fd is the copy of the lock made for the command; closing it frees the lock.
        unsafe { libc::close(fd) };
        let why = NotStarted::from_errno(err);
        why.exit(&command[0])
    }

    impl NotStarted {
        fn from_errno(e: std::io::Error) -> NotStarted {
            match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => NotStarted::Missing(e.to_string()),
                _ => NotStarted::Denied(e.to_string()),
            }
        }
    }

    /// execve, and for a file the kernel cannot run (ENOEXEC: no `#!`, not a binary) `/bin/sh
    /// file args`, as execvp(3) does. Returns only on failure.
    fn exec(file: &CString, argv: &[CString], env: &[CString]) -> std::io::Error {
        let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        let envp = ptrs(env);
        // Rust's runtime ignores SIGPIPE; an ignored signal stays ignored across exec, so the
        // command would never die of a closed pipe (`yes | head`). Give it the default back.
        // SAFETY: resetting a disposition to the default; argv and envp are NULL-terminated
        // arrays of NUL-terminated strings that outlive the call.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::execve(file.as_ptr(), ptrs(argv).as_ptr(), envp.as_ptr());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOEXEC) {
            let mut sh = vec![c"/bin/sh".to_owned(), file.clone()];
            sh.extend(argv.iter().skip(1).cloned());
            // SAFETY: as above.
            unsafe { libc::execve(c"/bin/sh".as_ptr(), ptrs(&sh).as_ptr(), envp.as_ptr()) };
        }
        // SAFETY: back to what the rest of this process expects.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        err
    }
}
