//! pid-guard: single-instance guard, pid file and process identity for Node services.
//!
//! The core: plain Rust with no napi (tested with `cargo test`). The napi layer over it is the
//! `pid-guard` crate in crates/binding.

pub mod adopt;
pub mod dir;
pub mod dirfd;
pub mod error;
pub mod flock;
pub mod fsio;
pub mod guard;
pub mod health;
pub mod holder;
pub mod identity;
pub mod kernel_locks;
pub mod layout;
pub mod log;
pub mod marker;
pub mod mode;
pub mod pidfile;
pub mod prune;
pub mod record;
pub mod signal;
pub mod status;
pub mod stop;
pub mod sys;
pub mod takeover;
pub mod wait;

#[cfg(test)]
pub(crate) mod test_child;
