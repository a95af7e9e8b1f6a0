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

/// Whether this test binary runs under Wine (scripts/test-windows.js sets the variable): for the
/// few of Wine's own gaps that a test cannot work around.
pub fn under_wine() -> bool {
    std::env::var("PID_GUARD_WINE").as_deref() == Ok("1")
}

#[test]
#[ignore = "run by sleeper()/quick() in a child process"]
fn child_main() {
    if let Some(ms) = std::env::var(ENV).ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
