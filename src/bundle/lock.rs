//! One writer per bundle: an exclusive `flock` on `<out>/.lock`, held until the command ends.
//! The kernel drops the lock when the process dies, so a crash never leaves a stale lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Error;

/// The lock file's name inside the bundle.
pub const LOCK_FILE: &str = ".lock";

/// Held while a command writes the bundle; released on drop (or by the kernel on exit).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the bundle's lock. Without `wait`, a bundle locked by another process is an error
/// (exit 2) that names the bundle and suggests `--wait`; with it, this blocks. Returns the
/// lock and whether this call created the lock file.
pub fn acquire(root: &Path, shown: &Path, wait: bool) -> Result<(Lock, bool), Error> {
    let path = root.join(LOCK_FILE);
    loop {
        let created = std::fs::symlink_metadata(&path).is_err();
        // O_NOFOLLOW: a symlink planted as .lock must not make us create a file elsewhere.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        let locked = if wait {
            file.lock().map_err(TryLockError::Error)
        } else {
            file.try_lock()
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Usage {
                    message: format!(
                        "{}: another redis-harden is writing this bundle",
                        crate::values::visible(&shown.display().to_string())
                    ),
                    help: "wait for it to finish and run again, or pass --wait to queue behind it"
                        .into(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(Error::Write { path, source }),
        }
        // A refused first run removes the lock file it created; whoever locked that file
        // meanwhile holds a lock on nothing and must start over on the current one.
        if same_file(&file, &path) {
            return Ok((Lock { _file: file }, created));
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, created) = acquire(tmp.path(), Path::new("b"), false).unwrap();
        assert!(created);
        let err = acquire(tmp.path(), Path::new("b"), false).unwrap_err();
        assert!(err.to_string().contains("another redis-harden"), "{err}");
        assert!(err.help().unwrap().contains("--wait"));
        drop(first);
        acquire(tmp.path(), Path::new("b"), false).unwrap();
    }
}
