//! The platform layer: what each OS can tell, one file per OS.

#[cfg(windows)]
pub mod windows;
