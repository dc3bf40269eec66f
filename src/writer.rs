//! Writing a bundle: every file through a temp file and a rename, modes set on creation
//! whatever the umask, and all-or-nothing for the run: every temp file is written before the
//! first rename, and a failure removes what this run created.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// One file of the bundle.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub rel: String,
    pub content: Vec<u8>,
    pub mode: u32,
    /// Keys and certificates are only ever created: replacing one would break trust or lose
    /// a key, so a differing file on disk is an error, not an update.
    pub create_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    /// Content unchanged, mode corrected (e.g. a key that had become world-readable).
    ModeFixed {
        from: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub rel: String,
    pub action: Action,
}

/// What a run will do, worked out before anything is touched.
struct Step {
    spec: FileSpec,
    path: PathBuf,
    action: Action,
}

/// Writes `files` under `root`, creating `dirs` (relative, with modes) first.
pub fn write_all(
    root: &Path,
    dirs: &[(&str, u32)],
    files: Vec<FileSpec>,
) -> Result<Vec<Outcome>, Error> {
    let steps = plan(root, files)?;
    let mut created_dirs: Vec<PathBuf> = vec![];
    let mut temps: Vec<(PathBuf, &Step)> = vec![];
    let result = (|| {
        create_dir(root, 0o750, &mut created_dirs)?;
        for (rel, mode) in dirs {
            create_dir(&root.join(rel), *mode, &mut created_dirs)?;
        }
        for step in &steps {
            if let Some(parent) = step.path.parent() {
                create_dir(parent, 0o750, &mut created_dirs)?;
            }
            if matches!(step.action, Action::Created | Action::Updated) {
                let tmp = temp_path(&step.path);
                write_temp(&tmp, &step.spec)?;
                temps.push((tmp, step));
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &temps {
            let _ = std::fs::remove_file(tmp);
        }
        for dir in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        return Err(e);
    }
    for (tmp, step) in &temps {
        std::fs::rename(tmp, &step.path).map_err(|source| Error::Write {
            path: step.path.clone(),
            source,
        })?;
    }
    for step in &steps {
        if matches!(step.action, Action::ModeFixed { .. }) {
            set_mode(&step.path, step.spec.mode)?;
        }
    }
    let mut dirs: Vec<&Path> = steps.iter().filter_map(|s| s.path.parent()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        sync_dir(dir);
    }
    Ok(steps
        .into_iter()
        .map(|s| Outcome {
            rel: s.spec.rel,
            action: s.action,
        })
        .collect())
}

fn plan(root: &Path, files: Vec<FileSpec>) -> Result<Vec<Step>, Error> {
    files
        .into_iter()
        .map(|spec| {
            let path = root.join(&spec.rel);
            let action = match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Created,
                Err(source) => return Err(Error::Write { path, source }),
                Ok(meta) if !meta.is_file() => {
                    return Err(Error::State {
                        path,
                        reason: "exists but is not a regular file".into(),
                        help: "move it out of the way and run again".into(),
                    });
                }
                Ok(meta) => {
                    let current = std::fs::read(&path).map_err(|source| Error::Write {
                        path: path.clone(),
                        source,
                    })?;
                    let mode = meta.permissions().mode() & 0o7777;
                    if current != spec.content {
                        if spec.create_only {
                            return Err(Error::State {
                                path,
                                reason: "exists with different content and is never replaced"
                                    .into(),
                                help: "this is a bug in redis-harden; please report it".into(),
                            });
                        }
                        Action::Updated
                    } else if mode != spec.mode {
                        Action::ModeFixed { from: mode }
                    } else {
                        Action::Unchanged
                    }
                }
            };
            Ok(Step { spec, path, action })
        })
        .collect()
}

fn create_dir(dir: &Path, mode: u32, created: &mut Vec<PathBuf>) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent, 0o750, created)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    builder.create(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    created.push(dir.to_path_buf());
    set_mode(dir, mode)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_temp(tmp: &Path, spec: &FileSpec) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: tmp.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(tmp);
    // The mode is set at creation: a key is never readable by others, not even for a moment.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(spec.mode & 0o600)
        .open(tmp)
        .map_err(err)?;
    f.write_all(&spec.content).map_err(err)?;
    // The umask may have stripped bits from the mode given at creation; set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(spec.mode))
        .map_err(err)?;
    // Keys, certificates (also when rotate replaces them) and secrets cannot be made again, so
    // they reach the disk before the
    // rename; rendered configs can always be re-rendered, and skipping their fsync halves the
    // time of a fresh init.
    if spec.create_only || spec.mode & 0o077 == 0 || spec.rel.ends_with(".crt") {
        f.sync_all().map_err(err)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn sync_dir(dir: &Path) {
    // Makes the renames durable; not all filesystems support it, and nothing depends on it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rel: &str, content: &str, mode: u32, create_only: bool) -> FileSpec {
        FileSpec {
            rel: rel.into(),
            content: content.into(),
            mode,
            create_only,
        }
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_updates_and_fixes_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        let out = write_all(
            &root,
            &[("data", 0o700)],
            vec![
                spec("a/key", "k", 0o600, true),
                spec("conf", "1", 0o640, false),
            ],
        )
        .unwrap();
        assert!(out.iter().all(|o| o.action == Action::Created));
        assert_eq!(mode_of(&root.join("a/key")), 0o600);
        assert_eq!(mode_of(&root.join("conf")), 0o640);
        assert_eq!(mode_of(&root.join("data")), 0o700);

        std::fs::set_permissions(root.join("a/key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let out = write_all(
            &root,
            &[],
            vec![
                spec("a/key", "k", 0o600, true),
                spec("conf", "2", 0o640, false),
            ],
        )
        .unwrap();
        assert_eq!(out[0].action, Action::ModeFixed { from: 0o644 });
        assert_eq!(out[1].action, Action::Updated);
        assert_eq!(mode_of(&root.join("a/key")), 0o600);
        assert_eq!(std::fs::read_to_string(root.join("conf")).unwrap(), "2");
    }

    #[test]
    fn create_only_files_are_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        write_all(tmp.path(), &[], vec![spec("key", "old", 0o600, true)]).unwrap();
        let err = write_all(
            tmp.path(),
            &[],
            vec![
                spec("conf", "x", 0o640, false),
                spec("key", "new", 0o600, true),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("never replaced"), "{err}");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("key")).unwrap(),
            "old"
        );
        assert!(!tmp.path().join("conf").exists());
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("blocker"), "").unwrap();
        // "blocker/x" cannot be created (its parent is a file), even by root: the temp file
        // already written for "ok" must be removed again.
        let files = vec![
            spec("ok", "1", 0o640, false),
            spec("blocker/x", "1", 0o640, false),
        ];
        assert!(write_all(&root, &[], files).is_err());
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["blocker"]);

        let under_file = root.join("blocker/out");
        assert!(
            write_all(
                &under_file,
                &[("data", 0o700)],
                vec![spec("x", "1", 0o640, false)]
            )
            .is_err()
        );
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    }
}
