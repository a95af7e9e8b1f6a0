//! Guard names and where a guard's files live.
//!
//! For a guard `N` in directory `D`:
//! - `D/N.lock`   the file the kernel lock is taken on. It stays between holders; an exclusive
//!   holder keeps its record (identity, meta; JSON) in it, overwritten in place and blanked
//!   (spaces) on a clean release, so a cycle creates and removes one file, not three;
//! - `D/N.pid`    exclusive holder: its decimal PID and a newline, nothing else;
//! - `D/N.shared/<pid>.pid` and `<pid>.json`: pid file and record of each shared holder.

use crate::dirfd::Dir;
use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const MAX_NAME_LEN: usize = 128;

pub const LOCK_EXT: &str = "lock";
pub const PID_EXT: &str = "pid";
pub const RECORD_EXT: &str = "json";
pub const SHARED_EXT: &str = "shared";

pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !ok_chars || name.starts_with('.') {
        let shown: String = name.chars().take(140).collect();
        return Err(Error::new(
            Code::InvalidName,
            format!(
                "invalid guard name {shown:?}: use 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 . _ - , not starting with '.' (for example \"session-pool\")"
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Layout {
    pub name: String,
    pub dir: PathBuf,
    pub lock: PathBuf,
    pub pid: PathBuf,
    pub record: PathBuf,
    pub shared_dir: PathBuf,
    /// The guard directory, open and checked: every file operation goes through it.
    root: Root,
}

/// The open guard directory of a layout: set when it is opened (or opened on first use).
#[derive(Debug, Default)]
struct Root(Mutex<Option<Arc<Dir>>>);

impl Clone for Root {
    fn clone(&self) -> Root {
        Root(Mutex::new(self.0.lock().ok().and_then(|g| g.clone())))
    }
}

impl Layout {
    /// The layout of `name` in `root`, an open, checked guard directory.
    pub fn in_dir(root: Arc<Dir>, name: &str) -> Layout {
        let l = Layout::new(root.path(), name);
        l.set_root(root);
        l
    }

    /// The open guard directory, opened and checked now if this layout was made from a path.
    pub fn root(&self) -> Result<Arc<Dir>> {
        if let Some(d) = self.root.0.lock().ok().and_then(|g| g.clone()) {
            return Ok(d);
        }
        let d = crate::dir::reopen(&self.dir)?;
        self.set_root(d.clone());
        Ok(d)
    }

    /// Uses `root` from now on (the directory was opened again after it vanished).
    pub fn set_root(&self, root: Arc<Dir>) {
        if let Ok(mut g) = self.root.0.lock() {
            *g = Some(root);
        }
    }

    /// Closes the open guard directory (a released guard keeps no descriptor open; the JS
    /// object holding it is freed only by the garbage collector).
    pub fn close_root(&self) {
        if let Ok(mut g) = self.root.0.lock() {
            *g = None;
        }
    }

    /// A layout from a path alone: the directory is opened and checked on first use.
    pub fn new(dir: &Path, name: &str) -> Layout {
        let file = |ext: &str| dir.join(format!("{name}.{ext}"));
        Layout {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            lock: file(LOCK_EXT),
            pid: file(PID_EXT),
            // The exclusive holder's record lives in the lock file.
            record: file(LOCK_EXT),
            shared_dir: file(SHARED_EXT),
            root: Root::default(),
        }
    }

    pub fn shared_pid(&self, pid: u32) -> PathBuf {
        self.shared_dir.join(format!("{pid}.{PID_EXT}"))
    }

    pub fn shared_record(&self, pid: u32) -> PathBuf {
        self.shared_dir.join(format!("{pid}.{RECORD_EXT}"))
    }
}

/// The guard name a directory entry belongs to, if it is one of ours.
pub fn name_of_entry(file_name: &str) -> Option<&str> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    let ours = matches!(ext, LOCK_EXT | PID_EXT | RECORD_EXT | SHARED_EXT);
    (ours && validate_name(stem).is_ok()).then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "session-pool", "a.b_c-1", &"x".repeat(128)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "..",
            "a b",
            "ü",
            &"x".repeat(129),
            "a\0b",
            "a@1",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidName, "{bad}");
        }
    }

    #[test]
    fn entries() {
        assert_eq!(name_of_entry("web.pid"), Some("web"));
        assert_eq!(name_of_entry("a.b.lock"), Some("a.b"));
        assert_eq!(name_of_entry("web.shared"), Some("web"));
        assert_eq!(name_of_entry("web.txt"), None);
        assert_eq!(name_of_entry(".web.pid"), None);
        assert_eq!(name_of_entry("web.json.tmp"), None);
    }
}
