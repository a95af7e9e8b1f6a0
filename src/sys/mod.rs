//! Per-OS abilities that have no portable form. `macos_data` holds the macOS kernel's layouts
//! and buffer parsers as plain data (compiled and tested everywhere); `macos` makes the calls.

pub mod macos_data;
pub mod procfs;

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(windows)]
pub mod windows;
