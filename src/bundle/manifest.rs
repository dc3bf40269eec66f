//! `<out>/manifest.json`: how the bundle was made and what it holds. Later commands start
//! from the inputs recorded here, `rotate` refuses when given different ones, and `check`
//! reports a checked-in profile or template directory that no longer matches.
//!
//! No secrets: the file is mode 0644 and meant to be committed. Paths that point inside the
//! bundle are relative to it, and the profile and template directory are recorded relative
//! to the bundle too, so a clone of the repository at another path reads the same.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::render::Target;

/// The manifest's name inside the bundle.
pub const MANIFEST: &str = "manifest.json";
/// Bumped when a field changes meaning; an unknown format is refused, not guessed at.
pub const FORMAT: u32 = 1;

/// A file input (the profile) or directory input (team templates), with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Relative to the bundle directory when both are on one tree, else absolute.
    pub path: String,
    pub sha256: String,
}

/// A rotation that was started and not yet finished, per kind. Set by `rotate`, cleared by
/// `rotate --finish`: the state is recorded, not inferred from which files exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Users whose old password is still accepted.
    pub passwords: Vec<String>,
    pub encryption_key: bool,
    pub certs: bool,
    pub ca: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Octal, as `ls` and `chmod` say it.
    pub mode: String,
    /// Holds a secret: its hash is left out, because a plain sha256 of a file holding a
    /// password (a user-chosen one, or a short one) would let anyone with the manifest test
    /// guesses offline; a keyed hash would need a key kept somewhere else.
    pub secret: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// `redis-harden VERSION` that last wrote the bundle.
    pub tool: String,
    pub environment: String,
    pub engine: String,
    pub target: Target,
    /// The absolute directory the configs of a `--target local` bundle point into. `check`
    /// renders for this directory, so a clone elsewhere is not drift; `render` re-points it.
    pub rendered_for: String,
    pub profile: Option<InputFile>,
    /// Every `--set`, in order (later ones win).
    pub sets: Vec<String>,
    pub templates: Option<InputFile>,
    /// Policy rules accepted with --allow-insecure.
    pub allow_insecure: Vec<String>,
    /// "derived" (from a master key) or "random".
    pub master_key: String,
    pub rotation: Rotation,
    /// The effective profile (no secrets), so a change is reported key by key.
    pub settings: serde_json::Value,
    pub files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    /// Pretty JSON with sorted keys (serde_json's map is a BTreeMap) and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("manifest serializes");
        let mut out = serde_json::to_vec_pretty(&value).expect("manifest serializes");
        out.push(b'\n');
        out
    }

    /// The manifest of the bundle at `root`, if it has one.
    pub fn load(root: &Path) -> Result<Option<Self>, Error> {
        let path = root.join(MANIFEST);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
            Err(source) => return Err(Error::Write { path, source }),
        };
        let bad = |reason: String| Error::State {
            path: path.clone(),
            reason,
            help: "restore manifest.json from version control or a backup, or delete it to \
                   start over from the command line's inputs"
                .into(),
        };
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("cannot be read: {e}")))?;
        if m.format != FORMAT {
            return Err(bad(format!(
                "has format {}, this redis-harden reads format {FORMAT}",
                m.format
            )));
        }
        Ok(Some(m))
    }

    /// `key: old -> new` for every recorded input and profile value that differs.
    pub fn changes(&self, new: &Manifest) -> Vec<String> {
        let mut out = vec![];
        let mut same = |key: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{key}: {a} -> {b}"));
            }
        };
        same(
            "environment",
            self.environment.clone(),
            new.environment.clone(),
        );
        same("target", self.target.to_string(), new.target.to_string());
        let input = |i: &Option<InputFile>| i.as_ref().map_or("(none)".into(), |i| i.path.clone());
        same("profile", input(&self.profile), input(&new.profile));
        let hash = |i: &Option<InputFile>| i.as_ref().map_or(String::new(), |i| short(&i.sha256));
        if input(&self.profile) == input(&new.profile) {
            same("profile sha256", hash(&self.profile), hash(&new.profile));
        }
        same("templates", input(&self.templates), input(&new.templates));
        if input(&self.templates) == input(&new.templates) {
            same(
                "templates sha256",
                hash(&self.templates),
                hash(&new.templates),
            );
        }
        same(
            "allow-insecure",
            self.allow_insecure.join(","),
            new.allow_insecure.join(","),
        );
        same(
            "master key",
            self.master_key.clone(),
            new.master_key.clone(),
        );
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        flatten("", &self.settings, &mut a);
        flatten("", &new.settings, &mut b);
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let show = |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or("(unset)".into());
            same(k, show(&a), show(&b));
        }
        out
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// `redis.port` -> `6390`, lists as their JSON text.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hash of a profile file.
pub fn file_input(root: &Path, file: &Path) -> Result<InputFile, Error> {
    let bytes = std::fs::read(file).map_err(|source| Error::Write {
        path: file.to_path_buf(),
        source,
    })?;
    Ok(InputFile {
        path: relative(root, file).display().to_string(),
        sha256: sha256_hex(&bytes),
    })
}

/// The hash of a template directory: every `.tera` file (the ones redis-harden reads), by
/// name and content, in name order.
pub fn dir_input(root: &Path, dir: &Path) -> Result<InputFile, Error> {
    let err = |source| Error::Write {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = vec![];
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let name = entry
            .map_err(err)?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".tera") {
            names.push(name);
        }
    }
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let content = std::fs::read(dir.join(&name)).map_err(err)?;
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
    }
    Ok(InputFile {
        path: relative(root, dir).display().to_string(),
        sha256: hex::encode(h.finalize()),
    })
}

/// `to` relative to the directory `from` (both absolute and normalized), e.g.
/// `/repo/deploy/production` -> `/repo/redis-harden.yaml` gives `../../redis-harden.yaml`.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return to.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    out
}

/// The inverse of [`relative`]: a recorded path read from the bundle at `root`.
pub fn resolve(root: &Path, recorded: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in root.join(recorded).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_round_trip() {
        let root = Path::new("/repo/deploy/production");
        let rel = relative(root, Path::new("/repo/redis-harden.yaml"));
        assert_eq!(rel, Path::new("../../redis-harden.yaml"));
        assert_eq!(
            resolve(root, &rel.display().to_string()),
            Path::new("/repo/redis-harden.yaml")
        );
        // At another path (a CI clone), the same record points at the clone's profile.
        assert_eq!(
            resolve(
                Path::new("/ci/x/deploy/production"),
                "../../redis-harden.yaml"
            ),
            Path::new("/ci/x/redis-harden.yaml")
        );
    }

    #[test]
    fn settings_changes_are_listed_key_by_key() {
        let m = |port: u16, admin: bool| Manifest {
            format: FORMAT,
            tool: "redis-harden 0".into(),
            environment: "production".into(),
            engine: "redis".into(),
            target: Target::Local,
            rendered_for: "/b".into(),
            profile: None,
            sets: vec![],
            templates: None,
            allow_insecure: vec![],
            master_key: "random".into(),
            rotation: Rotation::default(),
            settings: serde_json::json!({"redis": {"port": port}, "acl": {"admin": {"enabled": admin}}}),
            files: BTreeMap::new(),
        };
        assert_eq!(
            m(6390, false).changes(&m(6400, true)),
            [
                "acl.admin.enabled: false -> true",
                "redis.port: 6390 -> 6400"
            ]
        );
        let text = String::from_utf8(m(1, false).to_bytes()).unwrap();
        assert!(text.find("\"acl\": {").unwrap() < text.find("\"redis\": {").unwrap());
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m(1, false));
    }
}
