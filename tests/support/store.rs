//! What must hold in every bundle, whatever crashed or ran concurrently on it: the secrets and
//! the files derived from them agree, keys match their certificates, nothing is left staged.
//! Shared by the crash (fault injection) and concurrency suites.
//!
//! Failures name files and users, never secret values.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{env_file, require, tree_all};

/// Every path under a bundle with its bytes and mode; the bundle directory itself is the
/// empty path. `None` when the directory does not exist.
pub type Snapshot = BTreeMap<PathBuf, (Vec<u8>, u32)>;

pub fn snapshot(dir: &Path) -> Option<Snapshot> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    let mut t = tree_all(dir);
    t.insert(
        PathBuf::new(),
        (b"<dir>".to_vec(), meta.permissions().mode() & 0o7777),
    );
    Some(t)
}

/// Puts `dir` back exactly as `snap` recorded it (or removes it for `None`).
pub fn restore(dir: &Path, snap: Option<&Snapshot>) {
    if std::fs::symlink_metadata(dir).is_ok() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let Some(snap) = snap else { return };
    // Parents sort before their children; modes are set last so a 0500 directory cannot
    // block its own files.
    for (rel, (bytes, _)) in snap {
        let path = dir.join(rel);
        if bytes == b"<dir>" {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::write(&path, bytes).unwrap();
        }
    }
    for (rel, (_, mode)) in snap.iter().rev() {
        std::fs::set_permissions(dir.join(rel), std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// The paths whose bytes or mode differ between two snapshots, added and removed included.
pub fn differing(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    a.keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| describe(p, a.get(p), b.get(p)))
        .collect()
}

fn describe(p: &Path, a: Option<&(Vec<u8>, u32)>, b: Option<&(Vec<u8>, u32)>) -> String {
    let name = if p.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        p.display().to_string()
    };
    match (a, b) {
        (None, _) => format!("{name} (only in the second)"),
        (_, None) => format!("{name} (only in the first)"),
        (Some((x, m)), Some((y, n))) if x == y => format!("{name} (mode {m:o} vs {n:o})"),
        (Some(_), Some(_)) => format!("{name} (content)"),
    }
}

/// Leftovers of a write: anything named like a temp file or a staging directory, anywhere
/// under `root` (the bundle and its parent, where a writer might stage next to it).
pub fn leftovers(root: &Path) -> Vec<String> {
    let mut found = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = || e.path().strip_prefix(root).unwrap().display().to_string();
            if name == ".txn" {
                // The record of the last transaction may stay; anything else is a leftover.
                let mut inside: Vec<String> = std::fs::read_dir(e.path())
                    .unwrap()
                    .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                inside.sort();
                if !(inside.len() == 1 && is_record(&inside[0])) {
                    found.extend(inside.iter().map(|f| format!("{}/{f}", rel())));
                }
                continue;
            }
            if name.contains(".tmp") || name.ends_with(".txn") {
                found.push(rel());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// The name of a completed transaction's journal in `.txn/` (`N.done`).
pub fn is_record(name: &str) -> bool {
    name.strip_suffix(".done")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a bundle holds anything a recovery would act on: a staged file, a journal whose
/// command did not exit normally, or more than one record.
pub fn unrecovered(bundle: &Path) -> bool {
    std::fs::read_dir(bundle.join(".txn")).is_ok_and(|d| {
        let names: Vec<String> = d
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.len() > 1 || names.iter().any(|n| !is_record(n))
    })
}

/// The secret material of a bundle: secrets.env entries and every private key file.
pub fn secrets_of(snap: &Snapshot) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (path, (bytes, _)) in snap {
        let name = path.display().to_string();
        if name == "secrets.env" {
            for line in String::from_utf8_lossy(bytes).lines() {
                if let Some((k, v)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
                    out.insert(k.to_owned(), v.as_bytes().to_vec());
                }
            }
        } else if name.ends_with(".key") {
            out.insert(name, bytes.clone());
        }
    }
    out
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// users.acl: user name -> the `#<sha256>` hashes it accepts.
pub fn acl_hashes(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(dir.join("users.acl")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("user "))
        .map(|l| {
            let mut words = l.split_whitespace();
            let user = words.next().unwrap().to_owned();
            let hashes = words
                .filter_map(|w| w.strip_prefix('#'))
                .map(str::to_owned)
                .collect();
            (user, hashes)
        })
        .collect()
}

/// The bundle's secrets and derived files agree: every password users.acl accepts is in
/// secrets.env, every user's current password is accepted, client.env carries the current
/// app password and Fernet key, and every Fernet key it lists is in secrets.env. Returns the
/// problems found (empty when consistent).
pub fn secrets_consistent(dir: &Path) -> Vec<String> {
    let mut problems = vec![];
    let secrets = env_file(&dir.join("secrets.env"));
    let client = env_file(&dir.join("client.env"));
    let known: BTreeMap<String, &String> = secrets.values().map(|v| (sha256_hex(v), v)).collect();
    for (user, hashes) in acl_hashes(dir) {
        for h in &hashes {
            if !known.contains_key(h) {
                problems.push(format!(
                    "users.acl accepts a password of `{user}` that is nowhere in secrets.env"
                ));
            }
        }
        let current = secrets.get(&format!("REDIS_PASSWORD_{}", user.to_uppercase()));
        if let Some(pw) = current
            && !hashes.contains(&sha256_hex(pw))
        {
            problems.push(format!(
                "users.acl does not accept the current password of `{user}` in secrets.env"
            ));
        }
    }
    let values: Vec<&String> = secrets.values().collect();
    match client.get("REDIS_ENCRYPTION_KEY") {
        Some(k) if secrets.get("REDIS_ENCRYPTION_KEY") == Some(k) => {}
        Some(_) => problems.push(
            "client.env's REDIS_ENCRYPTION_KEY is not secrets.env's REDIS_ENCRYPTION_KEY".into(),
        ),
        None => problems.push("client.env has no REDIS_ENCRYPTION_KEY".into()),
    }
    for k in client
        .get("REDIS_ENCRYPTION_KEYS")
        .map(|s| s.split(',').collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !values.iter().any(|v| v.as_str() == k) {
            problems.push(
                "client.env's REDIS_ENCRYPTION_KEYS lists a key that is nowhere in secrets.env"
                    .into(),
            );
        }
    }
    if let (Some(url), Some(pw)) = (client.get("REDIS_URL"), secrets.get("REDIS_PASSWORD_APP"))
        && !url.contains(pw.as_str())
    {
        problems.push("client.env's REDIS_URL does not carry the current app password".into());
    }
    problems
}

fn openssl(args: &[&str]) -> (bool, String) {
    require("openssl", "apt-get install -y openssl");
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The public key of a private key file, as PEM.
pub fn key_pubkey(path: &Path) -> String {
    openssl(&["pkey", "-pubout", "-in", path.to_str().unwrap()]).1
}

/// The public key of the first certificate in a PEM file.
pub fn cert_pubkey(path: &Path) -> String {
    openssl(&["x509", "-noout", "-pubkey", "-in", path.to_str().unwrap()]).1
}

/// Each PEM certificate block of a file.
pub fn pem_certs(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .map(|b| b.trim().to_owned())
        .collect()
}

/// The TLS material fits together: each leaf key matches its certificate, each leaf is signed
/// by a CA that tls/ca.crt trusts, and tls/ca.key belongs to one of the trusted CAs.
pub fn tls_consistent(dir: &Path) -> Vec<String> {
    let mut problems = vec![];
    let tls = dir.join("tls");
    let ca = tls.join("ca.crt");
    for leaf in ["server", "client"] {
        let (crt, key) = (
            tls.join(format!("{leaf}.crt")),
            tls.join(format!("{leaf}.key")),
        );
        if !crt.exists() || !key.exists() {
            problems.push(format!("tls/{leaf}.crt or tls/{leaf}.key is missing"));
            continue;
        }
        if cert_pubkey(&crt) != key_pubkey(&key) {
            problems.push(format!("tls/{leaf}.key does not match tls/{leaf}.crt"));
        }
        let (ok, _) = openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            crt.to_str().unwrap(),
        ]);
        if !ok {
            problems.push(format!("tls/{leaf}.crt does not verify against tls/ca.crt"));
        }
    }
    let ca_key = key_pubkey(&tls.join("ca.key"));
    let scratch = tempfile::NamedTempFile::new().unwrap();
    let trusted = pem_certs(&ca).iter().any(|pem| {
        std::fs::write(scratch.path(), pem).unwrap();
        cert_pubkey(scratch.path()) == ca_key
    });
    if !trusted {
        problems.push("tls/ca.key belongs to no certificate in tls/ca.crt".into());
    }
    problems
}
