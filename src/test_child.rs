//! A child process every OS can start in tests: this test binary run again on the ignored test
//! below, which sleeps when told to (no `sleep` or `true` on Windows).

use std::process::{Child, Command, Stdio};

const ENV: &str = "PID_GUARD_TEST_SLEEP_MS";

fn command(ms: Option<u64>) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args([
        "--exact",
        "test_child::child_main",
        "--ignored",
        "--quiet",
        "--test-threads=1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    match ms {
        Some(ms) => c.env(ENV, ms.to_string()),
        None => c.env_remove(ENV),
    };
    c
}

/// A child that sleeps `secs` seconds (the portable `sleep N`).
pub fn sleeper(secs: u64) -> Child {
    command(Some(secs * 1000))
        .spawn()
        .expect("spawn the sleeper")
}

/// A child that exits at once (the portable `true`).
pub fn quick() -> Child {
    command(None).spawn().expect("spawn the quick child")
}

#[cfg(windows)]
const BREAK_ENV: &str = "PID_GUARD_TEST_BREAK";

/// Windows: a child in its own process group (`CREATE_NEW_PROCESS_GROUP`) on our console that
/// handles CTRL_BREAK: it exits 0 when `exits`, else ignores the event; it sleeps 30 s
/// otherwise. Returns once its handler is installed (it creates the file returned).
#[cfg(windows)]
pub fn breaker(exits: bool) -> (Child, std::path::PathBuf) {
    use std::os::windows::process::CommandExt;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ready = std::env::temp_dir().join(format!(
        "pg-breaker-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&ready);
    let child = command(Some(30_000))
        .env(BREAK_ENV, if exits { "exit" } else { "ignore" })
        .env("PID_GUARD_TEST_READY", &ready)
        .creation_flags(CREATE_NEW_PROCESS_GROUP)
        .spawn()
        .expect("spawn the breaker");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < end,
            "the breaker never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (child, ready)
}

/// Windows: a child with a hidden top-level window that exits 0 on WM_CLOSE (a windowed
/// program closed by hand). Returns once the window exists.
#[cfg(windows)]
pub fn windowed() -> Child {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ready = std::env::temp_dir().join(format!(
        "pg-windowed-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_file(&ready);
    let mut child = command(Some(30_000))
        .env("PID_GUARD_TEST_WINDOW", "1")
        .env("PID_GUARD_TEST_READY", &ready)
        .spawn()
        .expect("spawn the windowed child");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the windowed child exited before its window existed: {st}");
        }
        assert!(
            std::time::Instant::now() < end,
            "the windowed child never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&ready);
    child
}

#[cfg(windows)]
fn run_window() {
    use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
    use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        CreateWindowExW, DefWindowProcW, DispatchMessageW, GetMessageW, RegisterClassW,
        TranslateMessage, MSG, WM_CLOSE, WNDCLASSW, WS_OVERLAPPEDWINDOW,
    };
    if std::env::var("PID_GUARD_TEST_WINDOW").is_err() {
        return;
    }
    unsafe extern "system" fn proc_(h: HWND, m: u32, w: WPARAM, l: LPARAM) -> LRESULT {
        if m == WM_CLOSE {
            std::process::exit(0);
        }
        // SAFETY: the default handling of a message for our window.
        unsafe { DefWindowProcW(h, m, w, l) }
    }
    let class: Vec<u16> = "pid-guard-test\0".encode_utf16().collect();
    // SAFETY: a class and window of this process, a message loop on this thread.
    unsafe {
        let inst = GetModuleHandleW(std::ptr::null());
        let mut wc: WNDCLASSW = std::mem::zeroed();
        wc.lpfnWndProc = Some(proc_);
        wc.hInstance = inst;
        wc.lpszClassName = class.as_ptr();
        RegisterClassW(&wc);
        let hwnd = CreateWindowExW(
            0,
            class.as_ptr(),
            class.as_ptr(),
            WS_OVERLAPPEDWINDOW,
            0,
            0,
            100,
            100,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            inst,
            std::ptr::null(),
        );
        if hwnd.is_null() {
            return;
        }
        if let Ok(p) = std::env::var("PID_GUARD_TEST_READY") {
            let _ = std::fs::write(p, "ready");
        }
        let mut msg: MSG = std::mem::zeroed();
        while GetMessageW(&mut msg, std::ptr::null_mut(), 0, 0) > 0 {
            TranslateMessage(&msg);
            DispatchMessageW(&msg);
        }
    }
}

#[cfg(windows)]
fn install_break_handler() {
    use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT};
    static EXITS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    unsafe extern "system" fn on(ev: u32) -> windows_sys::core::BOOL {
        if ev == CTRL_BREAK_EVENT && EXITS.load(std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(0);
        }
        1 // handled: ignored
    }
    let Ok(mode) = std::env::var(BREAK_ENV) else {
        return;
    };
    EXITS.store(mode == "exit", std::sync::atomic::Ordering::SeqCst);
    // SAFETY: installing a handler function that lives for the whole process.
    unsafe { SetConsoleCtrlHandler(Some(on), 1) };
    if let Ok(p) = std::env::var("PID_GUARD_TEST_READY") {
        let _ = std::fs::write(p, "ready");
    }
}

/// Whether this test binary runs under Wine (scripts/test-windows.js sets the variable): for the
/// few of Wine's own gaps that a test cannot work around.
pub fn under_wine() -> bool {
    std::env::var("PID_GUARD_WINE").as_deref() == Ok("1")
}

#[test]
#[ignore = "run by sleeper()/quick() in a child process"]
fn child_main() {
    #[cfg(windows)]
    install_break_handler();
    #[cfg(windows)]
    run_window();
    if let Some(ms) = std::env::var(ENV).ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
