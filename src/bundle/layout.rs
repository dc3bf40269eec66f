//! Which files a bundle holds, where, and how secret each one is. Secrecy is a property of
//! the file, decided where the file is made, never read back off its mode.

use crate::render::{self, Target};

/// Mode of the bundle's own directories unless the layout says otherwise.
pub const DIR_MODE: u32 = 0o750;
/// The server's data directory of a `--target local` bundle (owner only: RDB/AOF hold data).
pub const DATA_DIR: &str = render::DATA_DIR;

/// One file of the bundle, as a command wants it.
#[derive(Debug, Clone)]
pub struct File {
    pub rel: String,
    pub content: Vec<u8>,
    pub mode: u32,
    /// Holds a secret (a key, a password, the Fernet key): never shown in a diff, never
    /// hashed into the manifest, never readable by others.
    pub secret: bool,
    /// Keys and certificates are only ever created: replacing one would break trust or lose
    /// a key, so a differing file on disk is an error, not an update.
    pub create_only: bool,
}

impl File {
    pub fn public(rel: &str, content: Vec<u8>, mode: u32) -> Self {
        File {
            rel: rel.to_owned(),
            content,
            mode,
            secret: false,
            create_only: false,
        }
    }

    pub fn secret(rel: &str, content: Vec<u8>) -> Self {
        File {
            mode: 0o600,
            secret: true,
            ..File::public(rel, content, 0o600)
        }
    }
}

/// Directories a target's bundle has, with their modes, parents first.
pub fn dirs(target: Target) -> Vec<(String, u32)> {
    let mut out = vec![("tls".to_owned(), DIR_MODE)];
    if target == Target::Local {
        out.push((DATA_DIR.to_owned(), 0o700));
    }
    out
}

/// Directories some target's bundle has and one with `dirs` does not: left over after a
/// change of target, and removed when empty.
pub fn foreign_dirs(dirs: &[(String, u32)]) -> Vec<String> {
    let mut out: Vec<String> = [Target::Local, Target::Host, Target::Docker]
        .into_iter()
        .flat_map(self::dirs)
        .map(|(d, _)| d)
        .filter(|d| !dirs.iter().any(|(k, _)| k == d))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every path a rendered artifact can have, under any target or engine: what may be left
/// over after a change of target or engine and is removed when the new bundle lacks it.
pub fn rendered_paths() -> Vec<String> {
    render::ARTIFACTS
        .iter()
        .map(|a| a.path.to_owned())
        .collect()
}

/// Where a replaced file is kept during a rotation's overlap:
/// `tls/server.key` -> `tls/server.previous.key`.
pub fn previous_path(rel: &str) -> String {
    match rel.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.previous.{ext}"),
        None => format!("{rel}.previous"),
    }
}

/// The key and certificate files, and whether each holds a secret.
pub const PKI: [(&str, bool); 6] = [
    (crate::pki::CA_CERT, false),
    (crate::pki::CA_KEY, true),
    (crate::pki::SERVER_CERT, false),
    (crate::pki::SERVER_KEY, true),
    (crate::pki::CLIENT_CERT, false),
    (crate::pki::CLIENT_KEY, true),
];

/// Files of the bundle that the render pipeline does not produce but that belong to it:
/// keys, certificates, secrets.env, and the copies a rotation keeps until `--finish`.
pub fn kept_files() -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = PKI.iter().map(|(r, s)| ((*r).to_owned(), *s)).collect();
    out.push((render::SECRETS_ENV.to_owned(), true));
    out.extend(PKI.iter().map(|(r, s)| (previous_path(r), *s)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_paths() {
        assert_eq!(previous_path("tls/server.key"), "tls/server.previous.key");
        assert_eq!(previous_path("tls/ca.crt"), "tls/ca.previous.crt");
    }
}
