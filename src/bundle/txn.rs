//! One transaction per command. Every new file is staged in `<out>/.txn/` (mode 0700), the
//! staged bytes reach the disk with one `syncfs`, and then a journal naming every rename and
//! removal is written and made durable: its presence is the commit point. Applying the
//! journal only renames and unlinks, so it can be redone any number of times.
//!
//! Recovery, at the start of the next writing command (under the lock): a journal present
//! means the transaction committed, so it is applied again (roll forward); no journal means
//! it never committed, so `.txn/` is deleted with everything staged in it (roll back). Either
//! way the bundle ends as the old one or the new one, and no staged secret survives.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The staging directory's name inside the bundle.
pub const TXN_DIR: &str = ".txn";
const JOURNAL: &str = "journal";
const JOURNAL_TMP: &str = "journal.tmp";
/// The journal of the last committed transaction, moved out of `.txn/` once applied and
/// removed only when its command exits normally (see [`acknowledge`]). While it exists, a
/// re-run of the same command knows its work is done: a crash between the commit and the
/// end of the summary must not turn into "a rotation is already running".
pub const COMMITTED: &str = ".committed";

/// One file to put in place.
#[derive(Debug, Clone)]
pub struct Write {
    pub rel: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// Everything one command changes in the bundle.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// Directories (relative, with modes) created before the renames, parents first.
    pub dirs: Vec<(String, u32)>,
    pub writes: Vec<Write>,
    pub removes: Vec<String>,
    /// Directories the bundle no longer has (another target's `data/`), removed if empty.
    pub rmdirs: Vec<String>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.removes.is_empty()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The command that made this transaction (`rotate passwords`): a re-run of the same
    /// command after a crash reports the completed transaction instead of starting another.
    command: String,
    dirs: Vec<(String, u32)>,
    /// (name in .txn/, path in the bundle)
    renames: Vec<(String, String)>,
    removes: Vec<String>,
    /// Absent from journals of earlier versions.
    #[serde(default)]
    rmdirs: Vec<String>,
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// A committed transaction was completed; it was made by `command`.
    RolledForward { command: String },
    /// An uncommitted transaction was discarded.
    RolledBack,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether an interrupted (or running) transaction is in the bundle.
pub fn pending(root: &Path) -> bool {
    std::fs::symlink_metadata(root.join(TXN_DIR)).is_ok()
}

/// Commits `changes` to the bundle at `root` (which must exist and be locked).
pub fn commit(root: &Path, command: &str, changes: &ChangeSet) -> Result<(), Error> {
    preflight(root, changes)?;
    let txn = root.join(TXN_DIR);
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    builder.create(&txn).map_err(io(&txn))?;
    let journal = Journal {
        command: command.to_owned(),
        dirs: changes.dirs.clone(),
        renames: changes
            .writes
            .iter()
            .enumerate()
            .map(|(i, w)| (i.to_string(), w.rel.clone()))
            .collect(),
        removes: changes.removes.clone(),
        rmdirs: changes.rmdirs.clone(),
    };
    for (i, w) in changes.writes.iter().enumerate() {
        stage(&txn.join(i.to_string()), &w.content, w.mode)?;
    }
    let tmp = txn.join(JOURNAL_TMP);
    let text = serde_json::to_vec_pretty(&journal).expect("journal serializes");
    stage(&tmp, &text, 0o600)?;
    // One flush for every staged file and the journal, instead of one fsync per file.
    sync_filesystem(&txn, changes.writes.len())?;
    std::fs::rename(&tmp, txn.join(JOURNAL)).map_err(io(&tmp))?;
    sync_dir(&txn)?;
    // Committed: from here on, a crash is completed by the next run.
    apply(root, &journal)
}

/// Refuses, before anything is staged, what would make applying the journal fail after the
/// commit point: a file where a directory belongs, or a directory where a file belongs.
fn preflight(root: &Path, changes: &ChangeSet) -> Result<(), Error> {
    let refuse = |path: PathBuf, what: &str| Error::State {
        path,
        reason: format!("exists but is not a {what}"),
        help: "move it out of the way and run again".into(),
    };
    for (rel, _) in &changes.dirs {
        let path = root.join(rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            return Err(refuse(path, "directory"));
        }
    }
    for w in &changes.writes {
        let path = root.join(&w.rel);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(refuse(path, "regular file"));
        }
    }
    Ok(())
}

/// Completes or discards an interrupted transaction. Call with the lock held.
pub fn recover(root: &Path) -> Result<Option<Recovery>, Error> {
    let txn = root.join(TXN_DIR);
    let meta = match std::fs::symlink_metadata(&txn) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return last_committed(root),
        Err(source) => return Err(Error::Write { path: txn, source }),
        Ok(meta) => meta,
    };
    if !meta.is_dir() {
        return Err(Error::State {
            path: txn,
            reason: "is not a directory: redis-harden keeps its transactions there".into(),
            help: "move it out of the way and run again".into(),
        });
    }
    let journal_path = txn.join(JOURNAL);
    let found = match read_journal(&journal_path)? {
        Some(journal) => {
            apply(root, &journal)?;
            Recovery::RolledForward {
                command: journal.command,
            }
        }
        None => {
            std::fs::remove_dir_all(&txn).map_err(io(&txn))?;
            sync_dir(root)?;
            Recovery::RolledBack
        }
    };
    // `.txn/` without a journal is also what a crash leaves after the journal moved to
    // `.committed`: that transaction did commit.
    Ok(Some(last_committed(root)?.unwrap_or(found)))
}

/// The transaction whose command did not finish normally after committing, if any.
fn last_committed(root: &Path) -> Result<Option<Recovery>, Error> {
    Ok(
        read_journal(&root.join(COMMITTED))?
            .map(|j| Recovery::RolledForward { command: j.command }),
    )
}

fn read_journal(path: &Path) -> Result<Option<Journal>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::State {
                path: path.to_path_buf(),
                reason: format!("is not a redis-harden journal: {e}"),
                help: "restore the bundle from a backup".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Write {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Forgets the last committed transaction: its command has finished (summary printed).
pub fn acknowledge(root: &Path) {
    // Best effort: a marker left behind only makes a re-run of that command report it done.
    let _ = std::fs::remove_file(root.join(COMMITTED));
}

/// Redoes a committed journal: idempotent, so a crash in here is completed by the next run.
fn apply(root: &Path, journal: &Journal) -> Result<(), Error> {
    let txn = root.join(TXN_DIR);
    for (rel, mode) in &journal.dirs {
        let dir = root.join(rel);
        let meta = std::fs::symlink_metadata(&dir);
        if meta.as_ref().is_ok_and(|m| !m.is_dir()) {
            // Refused before the commit; something replaced it since. Not ours to chmod.
            continue;
        }
        if meta.is_err() {
            let mut builder = std::fs::DirBuilder::new();
            builder.mode(*mode);
            builder.create(&dir).map_err(io(&dir))?;
        }
        // Exactly this mode, whatever the umask took away or a user added.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode)).map_err(io(&dir))?;
    }
    let mut touched: Vec<PathBuf> = vec![root.to_path_buf()];
    for (staged, rel) in &journal.renames {
        let from = txn.join(staged);
        let to = root.join(rel);
        match std::fs::rename(&from, &to) {
            // Already moved by an earlier, interrupted attempt.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !from.exists() => {}
            other => other.map_err(io(&to))?,
        }
        touched.extend(to.parent().map(Path::to_path_buf));
    }
    for rel in &journal.removes {
        let path = root.join(rel);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(io(&path))?,
        }
        touched.extend(path.parent().map(Path::to_path_buf));
    }
    for rel in &journal.removes {
        remove_emptied(root, rel, &journal.dirs, &mut touched);
    }
    for rel in &journal.rmdirs {
        // Only when empty: a local bundle's data/ may hold the server's data.
        if std::fs::remove_dir(root.join(rel)).is_ok() {
            touched.push(root.to_path_buf());
        }
    }
    touched.sort();
    touched.dedup();
    touched.retain(|d| d.exists());
    // The renames must be durable before the journal leaves `.txn/`.
    sync_dirs(&txn, &touched)?;
    // Atomically: the journal leaves `.txn/` (so it is never applied twice over newer files)
    // and stays as the record that this command's work is done until it exits. No flush:
    // should a power loss undo this, the next run finds the journal and applies it again,
    // which the flushed renames make a no-op.
    let journal_path = txn.join(JOURNAL);
    std::fs::rename(&journal_path, root.join(COMMITTED)).map_err(io(&journal_path))?;
    std::fs::remove_dir_all(&txn).map_err(io(&txn))
}

/// Makes the renames and unlinks in `dirs` durable: one `syncfs` for several directories
/// (each directory fsync is a flush of the disk's cache of its own), an fsync for one.
fn sync_dirs(any: &Path, dirs: &[PathBuf]) -> Result<(), Error> {
    if let [dir] = dirs {
        return sync_dir(dir);
    }
    let handle = std::fs::File::open(any).map_err(io(any))?;
    // SAFETY: syncfs takes a file descriptor we own for the duration of the call.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } == 0 {
        return Ok(());
    }
    dirs.iter().try_for_each(|d| sync_dir(d))
}

/// Removes the directories above the removed `rel` that are left empty (`firewall/` after
/// `--target docker`), nearest first, unless the bundle keeps them (`keep`). `rmdir` itself
/// refuses a directory that holds anything, so nothing else is lost; a directory it cannot
/// remove stays (harmless, and no reason to fail a committed transaction). Idempotent.
fn remove_emptied(root: &Path, rel: &str, keep: &[(String, u32)], touched: &mut Vec<PathBuf>) {
    let mut dir = Path::new(rel).parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        if keep.iter().any(|(k, _)| Path::new(k) == d) {
            return;
        }
        let path = root.join(d);
        match std::fs::remove_dir(&path) {
            Ok(()) => touched.extend(path.parent().map(Path::to_path_buf)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return,
        }
        dir = d.parent();
    }
}

fn stage(path: &Path, content: &[u8], mode: u32) -> Result<(), Error> {
    // Created 0600 and only then given its mode: nothing is ever readable by others early.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(io(path))?;
    f.write_all(content).map_err(io(path))?;
    if mode != 0o600 {
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io(path))?;
    }
    Ok(())
}

/// Flushes the staged files. `syncfs` writes out the whole filesystem in one call; where it
/// fails (some network filesystems), each staged file is fsynced instead.
fn sync_filesystem(txn: &Path, staged: usize) -> Result<(), Error> {
    let dir = std::fs::File::open(txn).map_err(io(txn))?;
    // SAFETY: syncfs takes a file descriptor we own for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        return Ok(());
    }
    let names = (0..staged)
        .map(|i| i.to_string())
        .chain([JOURNAL_TMP.to_owned()]);
    for name in names {
        let path = txn.join(name);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io(&path))?;
    }
    Ok(())
}

/// Makes renames and unlinks in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // Some filesystems cannot fsync a directory; the data itself was flushed already.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other.map_err(io(dir)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(files: &[(&str, &str)], removes: &[&str]) -> ChangeSet {
        ChangeSet {
            dirs: vec![("tls".into(), 0o750)],
            writes: files
                .iter()
                .map(|(rel, c)| Write {
                    rel: (*rel).into(),
                    content: c.as_bytes().to_vec(),
                    mode: 0o640,
                })
                .collect(),
            removes: removes.iter().map(|r| (*r).to_owned()).collect(),
            rmdirs: vec![],
        }
    }

    #[test]
    fn commit_writes_renames_removes_and_cleans_up() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("old"), "x").unwrap();
        commit(root, "init", &set(&[("a", "1"), ("tls/b", "2")], &["old"])).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(root.join("tls/b")).unwrap(), "2");
        let mode = std::fs::metadata(root.join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert!(!root.join("old").exists());
        assert!(!pending(root));
    }

    #[test]
    fn a_directory_the_removals_empty_goes_too() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in ["firewall", "tls", "data", "keep/sub"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "firewall/a",
            "firewall/b",
            "tls/x.previous",
            "tls/x",
            "data/y",
        ] {
            std::fs::write(root.join(file), "1").unwrap();
        }
        std::fs::write(root.join("keep/mine"), "a file the bundle does not know").unwrap();
        let removes = [
            "firewall/a",
            "firewall/b",
            "tls/x.previous",
            "data/y",
            "keep/sub/z",
        ];
        let mut changes = set(&[], &removes);
        changes.dirs.push(("data".into(), 0o700));
        for dir in ["gone", "full"] {
            std::fs::create_dir(root.join(dir)).unwrap();
            changes.rmdirs.push(dir.into());
        }
        std::fs::write(root.join("full/dump.rdb"), "data").unwrap();
        commit(root, "render", &changes).unwrap();
        assert!(
            !root.join("gone").exists(),
            "an empty directory the bundle lost"
        );
        assert!(root.join("full/dump.rdb").exists(), "rmdir only when empty");
        assert!(!root.join("firewall").exists(), "emptied, not kept");
        assert!(root.join("tls/x").exists(), "tls/ still holds a file");
        assert!(
            root.join("data").is_dir(),
            "the bundle keeps data/ even empty"
        );
        assert!(!root.join("keep/sub").exists(), "emptied");
        assert!(root.join("keep/mine").exists(), "not the bundle's: kept");
    }

    #[test]
    fn uncommitted_staging_is_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join(TXN_DIR)).unwrap();
        std::fs::write(root.join(TXN_DIR).join("0"), "secret").unwrap();
        assert_eq!(recover(root).unwrap(), Some(Recovery::RolledBack));
        assert!(!pending(root));
        assert_eq!(recover(root).unwrap(), None);
    }

    #[test]
    fn a_committed_journal_is_redone_even_half_applied() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let txn = root.join(TXN_DIR);
        std::fs::create_dir(&txn).unwrap();
        std::fs::write(root.join("gone"), "x").unwrap();
        // "0" was already renamed into place before the crash; "1" was not.
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::write(txn.join("1"), "2").unwrap();
        let journal = Journal {
            command: "rotate passwords".into(),
            dirs: vec![("tls".into(), 0o750)],
            renames: vec![("0".into(), "a".into()), ("1".into(), "tls/b".into())],
            removes: vec!["gone".into()],
            rmdirs: vec![],
        };
        std::fs::write(txn.join(JOURNAL), serde_json::to_vec(&journal).unwrap()).unwrap();
        assert_eq!(
            recover(root).unwrap(),
            Some(Recovery::RolledForward {
                command: "rotate passwords".into()
            })
        );
        assert_eq!(std::fs::read_to_string(root.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(root.join("tls/b")).unwrap(), "2");
        assert!(!root.join("gone").exists());
        assert!(!pending(root));
    }
}
