//! The bundle on disk: which files it holds and where ([`layout`]), how it was made
//! ([`manifest`]), one writer at a time ([`lock`]) and all-or-nothing commits with recovery
//! ([`txn`]). Commands hand this module the files they want; it works out the plan
//! (create / update / keep / remove), refuses unsafe directories, and commits.

pub mod layout;
pub mod lock;
pub mod manifest;
pub mod txn;

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
pub use layout::File;
use manifest::{FileEntry, MANIFEST, Manifest};

/// What a command does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Keep,
    /// Content unchanged, mode corrected (e.g. a key that had become world-readable).
    FixMode {
        from: u32,
    },
    Remove,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub rel: String,
    pub action: Action,
    /// Produced by this command (false: a file the command leaves alone, e.g. a key during
    /// `render`, listed only in the manifest).
    pub listed: bool,
    /// Unified diff of a changed file that holds no secret (for --dry-run).
    pub diff: Option<String>,
}

/// A command's complete effect on the bundle, worked out before anything is written.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<Entry>,
    pub changes: txn::ChangeSet,
    /// The bundle's files after the commit, for the manifest.
    files: BTreeMap<String, FileEntry>,
}

impl Plan {
    /// Compares `files` with the disk. `keep` are files this command must not touch (render
    /// never rewrites a key or secrets.env) but that stay part of the bundle; `stale` are
    /// paths that may exist from an earlier target or engine and no longer belong.
    pub fn new(
        root: &Path,
        files: Vec<File>,
        keep: &[(String, bool)],
        stale: &[String],
    ) -> Result<Self, Error> {
        let mut plan = Plan::default();
        for f in files {
            plan.add(root, f)?;
        }
        for rel in stale {
            if !plan.files.contains_key(rel) && std::fs::symlink_metadata(root.join(rel)).is_ok() {
                plan.entries.push(Entry {
                    rel: rel.clone(),
                    action: Action::Remove,
                    listed: true,
                    diff: None,
                });
                plan.changes.removes.push(rel.clone());
            }
        }
        for (rel, secret) in keep {
            if plan.files.contains_key(rel) || plan.changes.removes.contains(rel) {
                continue;
            }
            if let Some((bytes, mode)) = read(root, rel)? {
                plan.record(rel, &bytes, mode, *secret);
                plan.entries.push(Entry {
                    rel: rel.clone(),
                    action: Action::Keep,
                    listed: false,
                    diff: None,
                });
            }
        }
        Ok(plan)
    }

    fn record(&mut self, rel: &str, bytes: &[u8], mode: u32, secret: bool) {
        self.files.insert(
            rel.to_owned(),
            FileEntry {
                mode: format!("{mode:04o}"),
                secret,
                sha256: (!secret).then(|| manifest::sha256_hex(bytes)),
            },
        );
    }

    fn add(&mut self, root: &Path, f: File) -> Result<(), Error> {
        let path = root.join(&f.rel);
        let action = match read(root, &f.rel)? {
            None => Action::Create,
            Some((current, _)) if current != f.content => {
                if f.create_only {
                    return Err(Error::State {
                        path,
                        reason: "exists with different content and is never replaced".into(),
                        help: "this is a bug in redis-harden; please report it".into(),
                    });
                }
                Action::Update
            }
            Some((_, mode)) if mode != f.mode => Action::FixMode { from: mode },
            Some(_) => Action::Keep,
        };
        let diff = (action == Action::Update && !f.secret).then(|| {
            diff(
                &f.rel,
                &std::fs::read(&path).unwrap_or_default(),
                &f.content,
            )
        });
        self.record(&f.rel, &f.content, f.mode, f.secret);
        if action != Action::Keep {
            self.changes.writes.push(txn::Write {
                rel: f.rel.clone(),
                content: f.content,
                mode: f.mode,
            });
        }
        self.entries.push(Entry {
            rel: f.rel,
            action,
            listed: true,
            diff,
        });
        Ok(())
    }

    /// Adds the manifest itself (after every other file, so it lists them all).
    pub fn finish(
        mut self,
        root: &Path,
        mut m: Manifest,
        dirs: Vec<(String, u32)>,
    ) -> Result<Self, Error> {
        m.files = std::mem::take(&mut self.files);
        let files = m.files.clone();
        self.add(root, File::public(MANIFEST, m.to_bytes(), 0o644))?;
        self.files = files;
        self.changes.rmdirs = layout::foreign_dirs(&dirs)
            .into_iter()
            .filter(|d| root.join(d).is_dir())
            .collect();
        self.changes.dirs = dirs;
        for w in &self.changes.writes {
            let mut parent = Path::new(&w.rel).parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                let rel = p.display().to_string();
                if !self.changes.dirs.iter().any(|(d, _)| *d == rel) {
                    self.changes.dirs.push((rel, layout::DIR_MODE));
                }
                parent = p.parent();
            }
        }
        self.changes
            .dirs
            .sort_by_key(|(d, _)| d.matches('/').count());
        Ok(self)
    }

    /// Whether committing would change nothing.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The bytes and mode of a bundle file, or None when it does not exist.
pub fn read(root: &Path, rel: &str) -> Result<Option<(Vec<u8>, u32)>, Error> {
    let path = root.join(rel);
    let meta = match std::fs::symlink_metadata(&path) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(source) => return Err(Error::Write { path, source }),
        Ok(meta) => meta,
    };
    if !meta.is_file() {
        return Err(Error::State {
            path,
            reason: "exists but is not a regular file".into(),
            help: "move it out of the way and run again".into(),
        });
    }
    let bytes = std::fs::read(&path).map_err(|source| Error::Write { path, source })?;
    Ok(Some((bytes, meta.permissions().mode() & 0o7777)))
}

fn diff(rel: &str, old: &[u8], new: &[u8]) -> String {
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string()
}

/// Directories inside the bundle that would let someone else change what the server trusts:
/// writable by every user, or symlinks to a directory elsewhere. (path, reason)
pub fn unsafe_dirs(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    if let Ok(meta) = std::fs::metadata(root) {
        check_dir(root, &meta, &mut out);
        walk(root, 0, &mut out);
    }
    out
}

fn check_dir(path: &Path, meta: &std::fs::Metadata, out: &mut Vec<(PathBuf, String)>) {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        out.push((
            path.to_path_buf(),
            format!("is writable by every user (mode {mode:o})"),
        ));
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if path.is_dir() {
                out.push((
                    path,
                    "is a symlink to a directory: redis-harden would write keys wherever it points"
                        .into(),
                ));
            }
        } else if meta.is_dir() {
            check_dir(&path, &meta, out);
            // The server's data directory is the server's business; the staging area is ours.
            let name = entry.file_name();
            if depth < 8 && name != layout::DATA_DIR && name != txn::TXN_DIR {
                walk(&path, depth + 1, out);
            }
        }
    }
}

/// A writing command refuses a bundle with unsafe directories (nothing is written).
fn refuse_unsafe(root: &Path) -> Result<(), Error> {
    match unsafe_dirs(root).into_iter().next() {
        None => Ok(()),
        Some((path, reason)) => Err(Error::State {
            help: if reason.contains("symlink") {
                "replace the symlink with a real directory (moving its files in), then run again"
                    .into()
            } else {
                format!(
                    "make it writable only by its owner (`chmod o-w {}`) and check nothing was planted, then run again",
                    path.display()
                )
            },
            path,
            reason,
        }),
    }
}

/// How a command uses the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// init, render, rotate: lock (waiting if asked), recover, commit.
    Write { wait: bool },
    /// --dry-run: plans like a writer, touches nothing, takes no lock.
    DryRun,
}

/// A writing command's hold on the bundle: the lock, and what recovery did.
pub struct Session {
    root: PathBuf,
    shown: PathBuf,
    access: Access,
    lock: Option<lock::Lock>,
    /// The directory did not exist when the command started: it is created at commit.
    fresh: bool,
    /// This command created `.lock` and has not committed: a refused run removes it again,
    /// so bad input leaves even a directory that was never a bundle byte for byte.
    created_lock: bool,
    pub recovered: Option<txn::Recovery>,
    /// This command committed (or found a committed transaction): once it exits normally,
    /// its journal is marked done (see [`txn::acknowledge`]).
    acknowledge: bool,
}

/// The result of [`Session::commit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    Done,
    /// Another writer created the bundle while this one planned on an empty directory: the
    /// command must start over (the directory now exists, so it will lock first).
    Restart,
}

impl Session {
    pub fn open(root: &Path, shown: &Path, access: Access) -> Result<Self, Error> {
        refuse_unsafe(root)?;
        let mut s = Session {
            root: root.to_path_buf(),
            shown: shown.to_path_buf(),
            access,
            lock: None,
            fresh: !root.exists(),
            created_lock: false,
            recovered: None,
            acknowledge: false,
        };
        if let (Access::Write { wait }, false) = (access, s.fresh) {
            let (lock, created) = lock::acquire(root, shown, wait)?;
            s.lock = Some(lock);
            s.created_lock = created;
            s.recovered = txn::recover(root)?;
            s.acknowledge = matches!(s.recovered, Some(txn::Recovery::RolledForward { .. }));
        }
        Ok(s)
    }

    pub fn dry_run(&self) -> bool {
        self.access == Access::DryRun
    }

    /// The interrupted transaction a dry run found (it is completed by the next writer).
    pub fn pending(&self) -> bool {
        self.access == Access::DryRun && txn::pending(&self.root)
    }

    pub fn commit(&mut self, plan: &Plan, command: &str) -> Result<Committed, Error> {
        let Access::Write { wait } = self.access else {
            return Ok(Committed::Done);
        };
        if self.fresh {
            create_dirs(&self.root)?;
            self.lock = Some(lock::acquire(&self.root, &self.shown, wait)?.0);
            let others = std::fs::read_dir(&self.root)
                .map_err(|source| Error::Write {
                    path: self.root.clone(),
                    source,
                })?
                .flatten()
                .any(|e| e.file_name() != lock::LOCK_FILE);
            if others {
                return Ok(Committed::Restart);
            }
            self.fresh = false;
        }
        if !plan.is_noop() {
            // Refused before staging: the bundle is untouched, and so is its directory.
            txn::preflight(&self.root, &plan.changes)?;
            self.created_lock = false;
            txn::commit(&self.root, command, &plan.changes)?;
            self.acknowledge = true;
        }
        self.created_lock = false;
        Ok(Committed::Done)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Runs only when the command returns (after its summary), never when it is killed.
        if self.acknowledge && self.lock.is_some() {
            txn::acknowledge(&self.root);
        }
        if self.created_lock && self.lock.is_some() {
            // Still locked: anyone who opened the file meanwhile re-checks it (see lock.rs).
            let _ = std::fs::remove_file(self.root.join(lock::LOCK_FILE));
        }
    }
}

/// Creates the bundle directory and any missing parents, 0750 whatever the umask.
fn create_dirs(root: &Path) -> Result<(), Error> {
    if root.is_dir() {
        return Ok(());
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent)?;
    }
    let err = |source| Error::Write {
        path: root.to_path_buf(),
        source,
    };
    // Created with its mode (the umask can only take bits away), so a crash before the
    // chmod below never leaves a more open directory than an uninterrupted run.
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(layout::DIR_MODE);
    match builder.create(root) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        other => other.map_err(err)?,
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(layout::DIR_MODE)).map_err(err)
}
