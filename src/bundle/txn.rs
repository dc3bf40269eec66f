//! One transaction per command, with one flush (`syncfs`) per commit.
//!
//! Protocol (everything lives in `<out>/.txn/`, mode 0700; N is the transaction's sequence
//! number, one more than any name already there):
//!
//! 1. Stage: every new file is written as `N.<i>` (created 0600, then given its mode), and
//!    the journal `N.journal`: a first line `sha256 <hex of the rest>`, then JSON listing for
//!    each write its staged name, target path, mode and the sha256 of the new content; each
//!    removal with the sha256 of the content it removes; the directories to create.
//! 2. One `syncfs`. From here on the staged files and the journal are durable and verify;
//!    before it, nothing outside `.txn/` has changed. It also makes durable everything the
//!    previous transaction did after its own `syncfs` (its renames and unlinks).
//! 3. The previous journal is deleted (its effects are durable now; no flush).
//! 4. Rename into place, unlink removals, remove emptied directories. No flush: should a power
//!    loss undo some of this, the journal redoes it.
//! 5. The journal stays as the record of the last completed transaction. When the command
//!    exits normally it is renamed `N.done` (acknowledged; no flush either).
//!
//! Recovery (the next writer, under the lock) looks at each journal in sequence order. It is
//! *valid* when it parses, its checksum holds, every staged file still there has its hash and
//! mode, and every target whose staged file is gone has the new hash and mode (it was renamed).
//! - valid: roll forward, idempotently: rename what is still staged, redo the removals (only
//!   of content the journal removed, and never of a path a later valid journal writes), the
//!   directories. A valid journal whose staged files are all gone needs nothing, which is
//!   the normal case: the last command's record.
//! - otherwise the crash came before step 2 returned, so no rename happened: roll back by
//!   deleting the journal and its staged files. (An older journal whose targets a later
//!   transaction overwrote also fails the check; its staged files are all gone then, because
//!   the later transaction's `syncfs` preceded its renames, so this only deletes the record.)
//!
//! Files in `.txn/` that belong to no journal (a crash while staging) are deleted. When
//! recovery changed anything it flushes once and then deletes every journal but the newest.
//! Hence every crash, power loss included, ends in the old bundle or the new one, and no
//! metadata ordering is assumed: only that `syncfs` returns once everything before it is on
//! disk and that a rename is atomic.
//!
//! The journal holds the sha256 of secret files: it is readable by the owner only (0600 in a
//! 0700 directory), like the secrets themselves, and `.gitignore` leaves `.txn/` out.
//!
//! Read-only commands see a transaction in progress ([`pending`]) when `.txn/` holds a staged
//! file, a journal that does not verify, more than one journal, or a journal whose removals
//! are not done; the last command's record alone is a normal bundle.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::manifest::sha256_hex;
use crate::error::Error;

/// The transaction directory's name inside the bundle.
pub const TXN_DIR: &str = ".txn";
/// A journal whose command has not exited normally yet.
const OPEN: &str = "journal";
/// A journal whose command exited normally.
const DONE: &str = "done";
/// What versions before the single-flush protocol left after a crash; removed on sight.
const LEGACY_COMMITTED: &str = ".committed";

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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Staged {
    /// The file's name in `.txn/`.
    staged: String,
    rel: String,
    mode: u32,
    sha256: String,
    /// Already renamed into place (found so by recovery): nothing to redo.
    #[serde(skip)]
    renamed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Removal {
    rel: String,
    /// The content removed; None when there was nothing to read (removed whatever is there).
    sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Journal {
    seq: u64,
    /// The command that made this transaction (`rotate passwords`): a re-run of the same
    /// command after a crash reports the completed transaction instead of starting another.
    command: String,
    dirs: Vec<(String, u32)>,
    writes: Vec<Staged>,
    removes: Vec<Removal>,
    rmdirs: Vec<String>,
}

impl Journal {
    fn to_bytes(&self) -> Vec<u8> {
        let body = serde_json::to_string_pretty(self).expect("journal serializes");
        format!("sha256 {}\n{body}", sha256_hex(body.as_bytes())).into_bytes()
    }

    /// None unless the bytes are a whole journal (checksum included).
    fn parse(bytes: &[u8]) -> Option<Journal> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (head, body) = text.split_once('\n')?;
        (head.strip_prefix("sha256 ")? == sha256_hex(body.as_bytes()))
            .then(|| serde_json::from_str(body).ok())
            .flatten()
    }
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// A committed transaction was completed (or its command had not exited normally); it
    /// was made by `command`.
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

/// What `.txn/` holds: journals (seq, path, acknowledged) in sequence order, and every other
/// file (staged files, strays).
#[derive(Default)]
struct Listing {
    journals: Vec<(u64, PathBuf, bool)>,
    others: Vec<PathBuf>,
    max_seq: u64,
}

fn list(txn: &Path) -> Result<Listing, Error> {
    let mut out = Listing::default();
    let entries = match std::fs::read_dir(txn) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        other => other.map_err(io(txn))?,
    };
    for entry in entries {
        let path = entry.map_err(io(txn))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let (seq, ext) = name.split_once('.').unwrap_or((&name, ""));
        let seq = seq.parse::<u64>().ok();
        out.max_seq = out.max_seq.max(seq.unwrap_or(0));
        match (seq, ext) {
            (Some(seq), OPEN | DONE) => out.journals.push((seq, path.clone(), ext == DONE)),
            _ => out.others.push(path.clone()),
        }
    }
    out.journals.sort();
    Ok(out)
}

/// Whether an interrupted (or running) transaction is in the bundle: anything in `.txn/`
/// but the last completed transaction's journal (see the module comment).
pub fn pending(root: &Path) -> bool {
    let Ok(listing) = list(&root.join(TXN_DIR)) else {
        return true;
    };
    match (&listing.journals[..], listing.others.is_empty()) {
        ([], true) => false,
        ([(_, path, _)], true) => match std::fs::read(path).ok().and_then(|b| Journal::parse(&b)) {
            None => true,
            Some(j) => j.removes.iter().any(|r| removable(&root.join(&r.rel), r)),
        },
        _ => true,
    }
}

/// Commits `changes` to the bundle at `root` (which must exist, be locked and recovered).
pub fn commit(root: &Path, command: &str, changes: &ChangeSet) -> Result<(), Error> {
    let (journal, older) = stage_all(root, command, changes)?;
    // The one flush. Committed once it returns.
    let flushed = sync_filesystem(&root.join(TXN_DIR), &journal)?;
    for path in &older {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    let touched = apply(root, &journal, &BTreeSet::new())?.1;
    if !flushed {
        // No syncfs here: flush each directory now, as the next commit could not.
        sync_dirs(&touched)?;
    }
    Ok(())
}

/// Steps 1 of the protocol: stages every file and writes the journal. Returns it and the
/// journals already there (the previous transaction's record).
fn stage_all(
    root: &Path,
    command: &str,
    changes: &ChangeSet,
) -> Result<(Journal, Vec<PathBuf>), Error> {
    preflight(root, changes)?;
    let txn = root.join(TXN_DIR);
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    match builder.create(&txn) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other.map_err(io(&txn))?,
    }
    let listing = list(&txn)?;
    let seq = listing.max_seq + 1;
    let mut journal = Journal {
        seq,
        command: command.to_owned(),
        dirs: changes.dirs.clone(),
        writes: vec![],
        removes: vec![],
        rmdirs: changes.rmdirs.clone(),
    };
    for (i, w) in changes.writes.iter().enumerate() {
        let staged = format!("{seq}.{i}");
        stage(&txn.join(&staged), &w.content, w.mode)?;
        journal.writes.push(Staged {
            staged,
            rel: w.rel.clone(),
            mode: w.mode,
            sha256: sha256_hex(&w.content),
            renamed: false,
        });
    }
    for rel in &changes.removes {
        let sha256 = std::fs::read(root.join(rel)).ok().map(|b| sha256_hex(&b));
        journal.removes.push(Removal {
            rel: rel.clone(),
            sha256,
        });
    }
    let journal_path = txn.join(format!("{seq}.{OPEN}"));
    stage(&journal_path, &journal.to_bytes(), 0o600)?;
    let older = listing.journals.into_iter().map(|(_, p, _)| p).collect();
    Ok((journal, older))
}

/// Refuses, before anything is staged, what would make applying the journal fail after the
/// commit point: a file where a directory belongs, or a directory where a file belongs.
pub fn preflight(root: &Path, changes: &ChangeSet) -> Result<(), Error> {
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

/// Whether a file has this content and mode.
fn holds(path: &Path, sha256: &str, mode: u32) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == mode)
        && std::fs::read(path).is_ok_and(|b| sha256_hex(&b) == sha256)
}

/// Whether a removal still has something to remove: the content the journal removed.
fn removable(path: &Path, r: &Removal) -> bool {
    match std::fs::symlink_metadata(path) {
        Err(_) => false,
        Ok(m) if !m.is_file() => false,
        Ok(_) => match &r.sha256 {
            None => true,
            Some(h) => std::fs::read(path).is_ok_and(|b| sha256_hex(&b) == *h),
        },
    }
}

/// The journal at `path` if it is valid (see the module comment), else None.
fn valid(root: &Path, txn: &Path, path: &Path) -> Result<Option<Journal>, Error> {
    let bytes = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        other => other.map_err(io(path))?,
    };
    let Some(mut journal) = Journal::parse(&bytes) else {
        return Ok(None);
    };
    let ok = journal.writes.iter_mut().all(|w| {
        let staged = txn.join(&w.staged);
        w.renamed = std::fs::symlink_metadata(&staged).is_err();
        if w.renamed {
            holds(&root.join(&w.rel), &w.sha256, w.mode)
        } else {
            holds(&staged, &w.sha256, w.mode)
        }
    });
    Ok(ok.then_some(journal))
}

/// Completes or discards interrupted transactions. Call with the lock held.
pub fn recover(root: &Path) -> Result<Option<Recovery>, Error> {
    let legacy = root.join(LEGACY_COMMITTED);
    if std::fs::symlink_metadata(&legacy).is_ok() {
        std::fs::remove_file(&legacy).map_err(io(&legacy))?;
    }
    let txn = root.join(TXN_DIR);
    match std::fs::symlink_metadata(&txn) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Write { path: txn, source }),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::State {
                path: txn,
                reason: "is not a directory: redis-harden keeps its transactions there".into(),
                help: "move it out of the way and run again".into(),
            });
        }
        Ok(_) => {}
    }
    let listing = list(&txn)?;
    let mut kept: Vec<(Journal, PathBuf, bool)> = vec![];
    let mut rolled_back = false;
    for (seq, path, done) in &listing.journals {
        match valid(root, &txn, path)? {
            Some(j) => kept.push((j, path.clone(), *done)),
            None => {
                // With no staged file left, a record whose files were changed since (by a
                // later transaction, or by hand): deleting it discards nothing.
                let staged = format!("{seq}.");
                rolled_back |= Journal::parse(&std::fs::read(path).unwrap_or_default()).is_none()
                    || listing.others.iter().any(|o| {
                        o.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(&staged))
                    });
                std::fs::remove_file(path).map_err(io(path))?;
            }
        }
    }
    // Staged files of rolled-back journals and of a transaction that never wrote its journal.
    let mut changed = rolled_back || kept.len() != listing.journals.len() || kept.len() > 1;
    for other in &listing.others {
        let name = other.file_name().unwrap_or_default().to_string_lossy();
        let ours = kept
            .iter()
            .any(|(j, _, _)| j.writes.iter().any(|w| *w.staged == *name));
        if !ours {
            remove_any(other)?;
            changed = true;
            rolled_back = true;
        }
    }
    // A path a later transaction writes is that one's to put in place: skipped by the
    // replay of every earlier journal.
    let mut skips = vec![BTreeSet::new(); kept.len()];
    for i in (1..kept.len()).rev() {
        let mut later = skips[i].clone();
        later.extend(kept[i].0.writes.iter().map(|w| w.rel.clone()));
        skips[i - 1] = later;
    }
    let mut worked = vec![false; kept.len()];
    let mut touched = vec![txn.clone()];
    for (i, (j, _, _)) in kept.iter().enumerate() {
        let (did, dirs) = apply(root, j, &skips[i])?;
        worked[i] = did;
        touched.extend(dirs);
    }
    changed |= worked.iter().any(|w| *w);
    if changed {
        // Recovery is rare: one flush, then the older records can go.
        if !syncfs(&txn)? {
            sync_dirs(&touched)?;
        }
        for (_, path, _) in kept.iter().rev().skip(1) {
            std::fs::remove_file(path).map_err(io(path))?;
        }
    }
    Ok(match kept.last() {
        Some((j, _, done)) if !done || *worked.last().unwrap_or(&false) => {
            Some(Recovery::RolledForward {
                command: j.command.clone(),
            })
        }
        _ if rolled_back => Some(Recovery::RolledBack),
        _ => None,
    })
}

/// Acknowledges the last transaction: its command has exited normally (summary printed).
pub fn acknowledge(root: &Path) {
    // Best effort, no flush: an open journal left behind only makes a re-run of that command
    // report it done.
    let txn = root.join(TXN_DIR);
    for (seq, path, done) in list(&txn).map(|l| l.journals).unwrap_or_default() {
        if !done {
            let _ = std::fs::rename(&path, txn.join(format!("{seq}.{DONE}")));
        }
    }
}

/// Redoes a valid journal, idempotently: creates its directories, renames what is still
/// staged, removes what it removed (never a path in `skip`, or content it did not remove),
/// removes emptied directories. Returns whether it renamed or removed anything, and the
/// directories it touched.
fn apply(
    root: &Path,
    journal: &Journal,
    skip: &BTreeSet<String>,
) -> Result<(bool, Vec<PathBuf>), Error> {
    let txn = root.join(TXN_DIR);
    let mut touched: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut worked = false;
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
            touched.extend(dir.parent().map(Path::to_path_buf));
        }
        // Exactly this mode, whatever the umask took away or a user added.
        if meta
            .as_ref()
            .map_or(true, |m| m.permissions().mode() & 0o7777 != *mode)
        {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(*mode))
                .map_err(io(&dir))?;
        }
    }
    for w in journal.writes.iter().filter(|w| !w.renamed) {
        let from = txn.join(&w.staged);
        let to = root.join(&w.rel);
        match std::fs::rename(&from, &to) {
            // Already moved (by the commit, or an earlier recovery).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !from.exists() => continue,
            other => other.map_err(io(&to))?,
        }
        worked = true;
        touched.extend(to.parent().map(Path::to_path_buf));
    }
    for r in journal.removes.iter().filter(|r| !skip.contains(&r.rel)) {
        let path = root.join(&r.rel);
        if removable(&path, r) {
            std::fs::remove_file(&path).map_err(io(&path))?;
            worked = true;
            touched.extend(path.parent().map(Path::to_path_buf));
        }
    }
    for r in &journal.removes {
        remove_emptied(root, &r.rel, &journal.dirs, &mut touched);
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
    Ok((worked, touched))
}

/// Makes the renames and unlinks in `dirs` durable, one fsync each (where `syncfs` fails).
fn sync_dirs(dirs: &[PathBuf]) -> Result<(), Error> {
    dirs.iter().try_for_each(|d| sync_dir(d))
}

/// Deletes a stray file (or directory) in `.txn/`.
fn remove_any(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(io(path)),
        Ok(_) => std::fs::remove_file(path).map_err(io(path)),
        Err(_) => Ok(()),
    }
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

/// `syncfs` on the filesystem holding `dir`: false where it fails (some network
/// filesystems), and the caller flushes file by file.
fn syncfs(dir: &Path) -> Result<bool, Error> {
    let handle = std::fs::File::open(dir).map_err(io(dir))?;
    // SAFETY: syncfs takes a file descriptor we own for the duration of the call.
    Ok(unsafe { libc::syncfs(handle.as_raw_fd()) } == 0)
}

/// The commit's one flush: everything staged, the journal, and whatever the previous
/// transaction left unflushed. Where `syncfs` fails, each staged file, the journal and
/// `.txn/` are fsynced instead, and false returned (the commit then flushes its renames).
fn sync_filesystem(txn: &Path, journal: &Journal) -> Result<bool, Error> {
    if syncfs(txn)? {
        return Ok(true);
    }
    let names = journal
        .writes
        .iter()
        .map(|w| w.staged.clone())
        .chain([format!("{}.{OPEN}", journal.seq)]);
    for name in names {
        let path = txn.join(name);
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(io(&path))?;
    }
    sync_dir(txn)?;
    Ok(false)
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

    fn read(root: &Path, rel: &str) -> Option<String> {
        std::fs::read_to_string(root.join(rel)).ok()
    }

    /// The names in `.txn/`, sorted.
    fn txn_names(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(TXN_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_writes_renames_removes_and_keeps_one_record() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("old"), "x").unwrap();
        commit(root, "init", &set(&[("a", "1"), ("tls/b", "2")], &["old"])).unwrap();
        assert_eq!(read(root, "a").as_deref(), Some("1"));
        assert_eq!(read(root, "tls/b").as_deref(), Some("2"));
        let mode = std::fs::metadata(root.join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert!(!root.join("old").exists());
        assert_eq!(txn_names(root), ["1.journal"], "the record of the commit");
        assert!(!pending(root), "a completed transaction is not pending");
        acknowledge(root);
        assert_eq!(txn_names(root), ["1.done"]);
        assert_eq!(recover(root).unwrap(), None, "nothing to do");
        commit(root, "render", &set(&[("a", "3")], &[])).unwrap();
        assert_eq!(txn_names(root), ["2.journal"], "the older record goes");
        assert_eq!(read(root, "a").as_deref(), Some("3"));
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
    fn staging_without_a_journal_is_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join(TXN_DIR)).unwrap();
        std::fs::write(root.join(TXN_DIR).join("1.0"), "secret").unwrap();
        assert!(pending(root));
        assert_eq!(recover(root).unwrap(), Some(Recovery::RolledBack));
        assert!(!pending(root));
        assert!(txn_names(root).is_empty());
        assert_eq!(recover(root).unwrap(), None);
    }

    /// Killed after staging (before or after the syncfs), nothing renamed yet.
    fn staged(root: &Path, files: &[(&str, &str)], removes: &[&str]) -> Journal {
        stage_all(root, "rotate passwords", &set(files, removes))
            .unwrap()
            .0
    }

    #[test]
    fn a_whole_journal_with_its_staged_files_is_rolled_forward() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("gone"), "x").unwrap();
        staged(root, &[("a", "1"), ("tls/b", "2")], &["gone"]);
        assert!(pending(root));
        assert_eq!(
            recover(root).unwrap(),
            Some(Recovery::RolledForward {
                command: "rotate passwords".into()
            })
        );
        assert_eq!(read(root, "a").as_deref(), Some("1"));
        assert_eq!(read(root, "tls/b").as_deref(), Some("2"));
        assert!(!root.join("gone").exists());
        assert!(!pending(root));
    }

    #[test]
    fn a_half_applied_journal_is_completed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("gone"), "x").unwrap();
        let j = staged(root, &[("a", "1"), ("tls/b", "2")], &["gone"]);
        // Killed between the renames: "a" is in place, "tls/b" is not.
        std::fs::rename(root.join(TXN_DIR).join(&j.writes[0].staged), root.join("a")).unwrap();
        assert!(recover(root).unwrap().is_some());
        assert_eq!(read(root, "a").as_deref(), Some("1"));
        assert_eq!(read(root, "tls/b").as_deref(), Some("2"));
        assert!(!root.join("gone").exists());
        assert_eq!(txn_names(root), ["1.journal"]);
    }

    #[test]
    fn a_torn_journal_is_rolled_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a"), "old").unwrap();
        staged(root, &[("a", "new")], &["a-removed"]);
        let path = root.join(TXN_DIR).join("1.journal");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(pending(root));
        assert_eq!(recover(root).unwrap(), Some(Recovery::RolledBack));
        assert_eq!(read(root, "a").as_deref(), Some("old"));
        assert!(txn_names(root).is_empty(), "staged files deleted too");
    }

    #[test]
    fn a_staged_file_that_does_not_verify_rolls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a"), "old").unwrap();
        let j = staged(root, &[("a", "new"), ("b", "2")], &[]);
        // Power loss before the syncfs returned: the bytes of one file never reached the disk.
        std::fs::write(root.join(TXN_DIR).join(&j.writes[1].staged), "\0").unwrap();
        assert_eq!(recover(root).unwrap(), Some(Recovery::RolledBack));
        assert_eq!(read(root, "a").as_deref(), Some("old"));
        assert!(!root.join("b").exists());
        assert!(txn_names(root).is_empty());
    }

    #[test]
    fn a_lost_staged_file_whose_target_is_old_rolls_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("a"), "old").unwrap();
        let j = staged(root, &[("a", "new"), ("b", "2")], &[]);
        // Power loss before the syncfs returned: one staged name never reached the disk.
        std::fs::remove_file(root.join(TXN_DIR).join(&j.writes[0].staged)).unwrap();
        assert_eq!(recover(root).unwrap(), Some(Recovery::RolledBack));
        assert_eq!(read(root, "a").as_deref(), Some("old"));
        assert!(!root.join("b").exists(), "b never goes in alone");
        assert!(txn_names(root).is_empty());
    }

    #[test]
    fn killed_after_the_flush_with_the_previous_record_still_there() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        commit(root, "init", &set(&[("a", "1"), ("c", "1")], &[])).unwrap();
        acknowledge(root);
        staged(root, &[("a", "2")], &["c"]);
        assert_eq!(txn_names(root), ["1.done", "2.0", "2.journal"]);
        assert_eq!(
            recover(root).unwrap(),
            Some(Recovery::RolledForward {
                command: "rotate passwords".into()
            })
        );
        assert_eq!(read(root, "a").as_deref(), Some("2"));
        assert!(!root.join("c").exists());
        assert_eq!(txn_names(root), ["2.journal"], "the older record goes");
    }

    #[test]
    fn a_power_loss_that_undid_the_previous_renames_redoes_both_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("gone"), "x").unwrap();
        // Transaction 1 staged and flushed; its renames were lost (no flush after them).
        staged(root, &[("a", "1"), ("b", "1")], &["gone"]);
        // Transaction 2 staged after them; its flush never returned, but all of it is there.
        let mut second = set(&[("a", "2")], &[]);
        second.writes[0].mode = 0o600;
        stage_all(root, "render", &second).unwrap();
        assert_eq!(
            recover(root).unwrap(),
            Some(Recovery::RolledForward {
                command: "render".into()
            })
        );
        assert_eq!(read(root, "a").as_deref(), Some("2"), "the later one wins");
        assert_eq!(read(root, "b").as_deref(), Some("1"));
        assert!(!root.join("gone").exists());
        assert_eq!(txn_names(root), ["2.journal"]);
    }

    #[test]
    fn an_older_record_never_removes_what_a_later_transaction_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("compose"), "same").unwrap();
        commit(
            root,
            "render --target local",
            &set(&[("a", "1")], &["compose"]),
        )
        .unwrap();
        // The next commit puts the same file back; a power loss kept the older record.
        let older = root.join(TXN_DIR).join("1.journal");
        let record = std::fs::read(&older).unwrap();
        commit(
            root,
            "render --target docker",
            &set(&[("compose", "same")], &[]),
        )
        .unwrap();
        std::fs::write(&older, record).unwrap();
        assert!(
            pending(root),
            "two records: a power loss, recovered by the next writer"
        );
        recover(root).unwrap();
        assert_eq!(read(root, "compose").as_deref(), Some("same"));
        assert_eq!(txn_names(root), ["2.journal"]);
    }

    #[test]
    fn a_lost_unlink_is_redone_but_never_of_other_content() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for f in ["p", "q"] {
            std::fs::write(root.join(f), "old").unwrap();
        }
        commit(root, "render", &set(&[("a", "1")], &["p", "q"])).unwrap();
        acknowledge(root);
        // A power loss undid both unlinks; since then someone wrote a new "q".
        std::fs::write(root.join("p"), "old").unwrap();
        std::fs::write(root.join("q"), "someone else's").unwrap();
        assert!(pending(root));
        assert_eq!(
            recover(root).unwrap(),
            Some(Recovery::RolledForward {
                command: "render".into()
            })
        );
        assert!(!root.join("p").exists());
        assert_eq!(read(root, "q").as_deref(), Some("someone else's"));
        assert!(!pending(root));
    }

    #[test]
    fn a_record_whose_files_were_edited_since_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        commit(root, "init", &set(&[("a", "1")], &[])).unwrap();
        acknowledge(root);
        std::fs::write(root.join("a"), "edited by hand").unwrap();
        assert!(!pending(root));
        assert_eq!(
            recover(root).unwrap(),
            None,
            "not an interrupted transaction"
        );
        assert_eq!(read(root, "a").as_deref(), Some("edited by hand"));
    }
}
