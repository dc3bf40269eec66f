//! Reproducible secrets from one master key: every password and the Fernet key of a bundle
//! derived from `REDIS_HARDEN_MASTER_KEY` (or a key file) instead of drawn at random, so CI can
//! rebuild `secrets.env` and `users.acl` on any machine without storing them.
//!
//! # The derivation (version 1)
//!
//! It is specified here byte for byte, with no dependence on an RNG crate's algorithm, so the
//! same master key and profile give the same secrets with every future version of the tool.
//! Changing anything below changes every derived secret: that would need a new version label
//! (`redis-harden/v2/...`), never an edit of v1.
//!
//! 1. **Master key.** The key string's bytes, as is: a single line of printable ASCII of at
//!    least 128 bits of estimated entropy (see [`estimate_entropy_bits`]). A base64 or hex key
//!    is used as text, not decoded. A key file loses one trailing `\n` (or `\r\n`).
//! 2. **Stretch** ([`MasterKey::stretch`]): Argon2id, version 0x13 (RFC 9106), memory
//!    [`ARGON2_M_COST_KIB`] KiB (64 MiB), [`ARGON2_T_COST`] passes, [`ARGON2_P_COST`] lane, no
//!    secret or associated data, 32 bytes of output. The salt is the ASCII text
//!    [`SALT_PREFIX`] followed by the project name, e.g. `redis-harden/v1/salt/redis`. These
//!    are at or above every configuration in OWASP's Password Storage Cheat Sheet (at least
//!    m=19 MiB t=2 p=1, or m=46 MiB t=1 p=1), and are RFC 9106's second recommended option
//!    (m=64 MiB, t=3) with one lane.
//! 3. **Byte stream** for one secret: with `K` the 32 stretched bytes and `label` the secret's
//!    label (below), block `i` for `i = 1, 2, 3, ...` is
//!    `HMAC-SHA256(K, be32(i) || label)`, and the stream is block 1, block 2, ... concatenated.
//!    This is NIST SP 800-108's counter mode (32-bit counter first) without the output-length
//!    field, as the stream is open-ended.
//! 4. **Labels**, one per secret (ASCII; no component can contain a `/`, so distinct secrets
//!    never share a label):
//!    - password: `redis-harden/v1/{env}/password/{user}/generation-{generation}/length-{len}`
//!    - Fernet key: `redis-harden/v1/{env}/encryption-key/generation-{generation}`
//!
//!    `{env}` is `production`, `staging`, `development` or `testing`; numbers are decimal
//!    without leading zeros. The length is in the password label so that a longer password is
//!    never an extension of a shorter one that may have leaked.
//! 5. **Password** ([`Stretched::password`]): read the stream a byte `b` at a time; drop
//!    `b >= 248`; otherwise the next character is [`PASSWORD_ALPHABET`]`[b % 62]` (the 62
//!    alphanumerics in ASCII order: `0-9A-Za-z`). 248 = 4 × 62, so every character is exactly
//!    equally likely.
//! 6. **Fernet key** ([`Stretched::fernet_key`]): the first 32 bytes of the stream (block 1),
//!    URL-safe base64 with padding (44 characters), which is what `Fernet(key)` expects.
//!
//! Every step can be redone with standard tools, e.g. for project `kat` (the reference
//! `argon2` program from the Argon2 authors, and OpenSSL):
//!
//! ```text
//! # Argon2id, 2^16 KiB, 3 passes, 1 lane, 32 bytes, raw hex output:
//! K=$(printf %s "$REDIS_HARDEN_MASTER_KEY" \
//!   | argon2 redis-harden/v1/salt/kat -id -v 13 -m 16 -t 3 -p 1 -l 32 -r)
//! # Block 1 of the production Fernet key's stream, base64url:
//! printf '\0\0\0\001%s' redis-harden/v1/production/encryption-key/generation-1 \
//!   | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K -binary | basenc --base64url
//! ```
//!
//! The known-answer vectors are pinned in `snapshots/masterkey-test-vectors.snap`.
//!
//! # Cost
//!
//! The stretch is deliberately slow and takes 64 MiB of memory; it runs once per run and
//! project. Each secret after it costs a few HMAC-SHA256 calls.

use std::fmt;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::profile::Environment;
use crate::values::{ProjectName, UserName};

/// The environment variable that holds the master key.
pub const ENV_VAR: &str = "REDIS_HARDEN_MASTER_KEY";

/// Argon2id memory cost in KiB: 64 MiB.
pub const ARGON2_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id time cost: passes over the memory.
pub const ARGON2_T_COST: u32 = 3;
/// Argon2id parallelism: lanes.
pub const ARGON2_P_COST: u32 = 1;
/// The Argon2 version: 0x13 (1.3, the version of RFC 9106).
pub const ARGON2_VERSION: u32 = 0x13;
/// Bytes of Argon2id output: the key every secret is derived from.
pub const STRETCHED_LEN: usize = 32;

/// The Argon2id salt is this prefix followed by the project name.
pub const SALT_PREFIX: &str = "redis-harden/v1/salt/";
/// Every secret's label starts with this; a new derivation would get a new version.
pub const LABEL_PREFIX: &str = "redis-harden/v1";

/// The characters of a derived password, in ASCII order. Byte `b < 248` maps to
/// `PASSWORD_ALPHABET[b % 62]`.
pub const PASSWORD_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Bytes at or above this are skipped when drawing a password character (4 × 62).
const PASSWORD_REJECT_FROM: u8 = 248;

/// A master key must be estimated at this many bits or more.
pub const MIN_ENTROPY_BITS: f64 = 128.0;
/// A master key with fewer distinct characters than this is refused whatever its length: it
/// is a repeated word or pattern. (A random 32-digit hex key falls below it with probability
/// about 4 × 10⁻⁸.)
pub const MIN_DISTINCT_CHARS: usize = 8;

/// How to make a key that passes, for error messages and the README.
pub const HOW_TO_MAKE_A_KEY: &str = concat!(
    "generate one with `openssl rand -base64 32` (256 random bits) and keep it in your CI's ",
    "secret store; a passphrase needs 128 bits of real entropy, e.g. 10 random diceware words"
);

/// Estimates the entropy of a master key, in bits: the number of characters times log2 of the
/// size of the union of the character classes it uses (lowercase 26, uppercase 26, digits 10,
/// other printable ASCII including space 33).
///
/// This is an upper bound that only catches keys that are plainly too short. It assumes every
/// character was drawn uniformly and independently from the classes used, which is true of a
/// random key (`openssl rand -base64 32` is estimated at 44 × log2(95) ≈ 289 bits, and has
/// 256) but flatters anything a person chose: "correct horse battery staple" is estimated at
/// 28 × log2(27) ≈ 133 bits and passes, though as four diceware words it has about 52. It
/// knows nothing of words, keyboard walks or leaked passwords. [`MasterKey::new`] also
/// refuses keys with fewer than [`MIN_DISTINCT_CHARS`] distinct characters, which catches
/// repeated words and patterns that this estimate would pass. The key should come from a
/// random generator; the check is a guard rail, not a strength meter.
pub fn estimate_entropy_bits(key: &str) -> f64 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in key.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            _ => other = true,
        }
    }
    let pool = 26 * u32::from(lower)
        + 26 * u32::from(upper)
        + 10 * u32::from(digit)
        + 33 * u32::from(other);
    if pool == 0 {
        return 0.0;
    }
    key.chars().count() as f64 * f64::from(pool).log2()
}

/// Why a master key was refused or could not be used. No variant ever holds the key or a part
/// of it.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The key is empty (e.g. a CI secret that is not available to this job expands to "").
    #[error("{origin} is empty")]
    Empty { origin: String },
    /// The key has a character that does not belong in it.
    #[error("{origin} {problem}")]
    Malformed { origin: String, problem: String },
    /// The key is too short or too regular.
    #[error("{origin} is too weak: {reason}")]
    Weak { origin: String, reason: String },
    /// The key file could not be read.
    #[error("cannot read the master key file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Argon2id failed (it needs 64 MiB of memory).
    #[error("stretching the master key with Argon2id failed: {0}")]
    Stretch(String),
}

impl MasterKeyError {
    /// What to do about it, for the `help:` line.
    pub fn help(&self) -> String {
        match self {
            MasterKeyError::Empty { .. } => format!(
                "in CI, a secret that is not available to the job (e.g. on a pull request from \
                 a fork) expands to an empty string; otherwise {HOW_TO_MAKE_A_KEY}"
            ),
            MasterKeyError::Weak { .. } => format!(
                "the master key must have at least {MIN_ENTROPY_BITS:.0} bits of entropy: \
                 {HOW_TO_MAKE_A_KEY}"
            ),
            MasterKeyError::Malformed { .. } => format!(
                "the master key must be one line of printable ASCII without leading or trailing \
                 spaces (a key file may end in one newline): {HOW_TO_MAKE_A_KEY}"
            ),
            MasterKeyError::Read { .. } => {
                "check the path given to --master-key-file and that it is readable".into()
            }
            MasterKeyError::Stretch(_) => format!(
                "Argon2id needs {} MiB of free memory; free some, or unset {ENV_VAR} to draw \
                 secrets at random",
                ARGON2_M_COST_KIB / 1024
            ),
        }
    }
}

/// The master key. It is never printed (`Debug` shows `MasterKey(<redacted>)`) and its memory
/// is zeroed when it is dropped.
pub struct MasterKey(Zeroizing<String>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Checks a key given as a string: refused if empty, if it has a control character (a
    /// newline, a tab, ...), a non-ASCII character (the same text can be encoded differently
    /// on two machines and would derive different secrets) or a leading or trailing space, if
    /// it has fewer than [`MIN_DISTINCT_CHARS`] distinct characters, or if
    /// [`estimate_entropy_bits`] is under [`MIN_ENTROPY_BITS`]. The string is zeroed on drop,
    /// also when it is refused.
    pub fn new(key: String) -> Result<Self, MasterKeyError> {
        Self::check(Zeroizing::new(key), "the master key")
    }

    /// Reads the key from [`ENV_VAR`]: `Ok(None)` when it is not set; refused when it is set
    /// but empty or not valid Unicode.
    pub fn from_env() -> Result<Option<Self>, MasterKeyError> {
        match std::env::var_os(ENV_VAR) {
            None => Ok(None),
            Some(value) => match value.into_string() {
                Ok(s) => Self::check(Zeroizing::new(s), ENV_VAR).map(Some),
                Err(raw) => {
                    zeroize::Zeroize::zeroize(&mut raw.into_encoded_bytes());
                    Err(MasterKeyError::Malformed {
                        origin: ENV_VAR.into(),
                        problem: "is not valid Unicode".into(),
                    })
                }
            },
        }
    }

    /// Reads the key from a file (`--master-key-file`). One trailing newline is removed.
    pub fn from_file(path: &Path) -> Result<Self, MasterKeyError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| MasterKeyError::Read {
            path: path.to_owned(),
            source,
        })?);
        let origin = format!("the master key in {}", path.display());
        match std::str::from_utf8(&bytes) {
            Ok(text) => Self::from_file_contents_as(Zeroizing::new(text.to_owned()), origin),
            Err(_) => Err(MasterKeyError::Malformed {
                origin,
                problem: "is not valid UTF-8".into(),
            }),
        }
    }

    /// The key from the contents of a key file: one trailing `\n` or `\r\n` is removed (what
    /// `echo`, editors and `openssl rand -base64 32 > FILE` leave), nothing else.
    pub fn from_file_contents(contents: String) -> Result<Self, MasterKeyError> {
        Self::from_file_contents_as(Zeroizing::new(contents), "the master key file".into())
    }

    fn from_file_contents_as(
        mut contents: Zeroizing<String>,
        origin: String,
    ) -> Result<Self, MasterKeyError> {
        if contents.ends_with('\n') {
            contents.pop();
            if contents.ends_with('\r') {
                contents.pop();
            }
        }
        Self::check(contents, &origin)
    }

    fn check(key: Zeroizing<String>, origin: &str) -> Result<Self, MasterKeyError> {
        let malformed = |problem: &str| {
            Err(MasterKeyError::Malformed {
                origin: origin.into(),
                problem: problem.into(),
            })
        };
        if key.is_empty() {
            return Err(MasterKeyError::Empty {
                origin: origin.into(),
            });
        }
        if let Some(c) = key.chars().find(|c| c.is_control()) {
            let what = match c {
                '\n' => "a newline",
                '\r' => "a carriage return",
                '\t' => "a tab",
                _ => "a control character",
            };
            return malformed(&format!("contains {what}"));
        }
        if !key.is_ascii() {
            return malformed(
                "contains a non-ASCII character (the same text may be encoded differently on \
                 another machine, which would derive different secrets)",
            );
        }
        if key.starts_with(' ') || key.ends_with(' ') {
            return malformed("starts or ends with a space");
        }
        let bits = estimate_entropy_bits(&key);
        if bits < MIN_ENTROPY_BITS {
            return Err(MasterKeyError::Weak {
                origin: origin.into(),
                reason: format!(
                    "its {} characters give at most {bits:.0} bits of entropy, and at least \
                     {MIN_ENTROPY_BITS:.0} are needed",
                    key.len()
                ),
            });
        }
        let mut seen = [false; 128];
        for b in key.bytes() {
            seen[usize::from(b)] = true;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        if distinct < MIN_DISTINCT_CHARS {
            return Err(MasterKeyError::Weak {
                origin: origin.into(),
                reason: format!(
                    "it uses only {distinct} distinct characters (a repeated word or pattern)"
                ),
            });
        }
        Ok(Self(key))
    }

    /// Stretches the key with Argon2id for one project (see the module documentation). This
    /// is the slow step: call it once per run and derive every secret from the result.
    pub fn stretch(&self, project: &ProjectName) -> Result<Stretched, MasterKeyError> {
        let params = Params::new(
            ARGON2_M_COST_KIB,
            ARGON2_T_COST,
            ARGON2_P_COST,
            Some(STRETCHED_LEN),
        )
        .map_err(|e| MasterKeyError::Stretch(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; STRETCHED_LEN]);
        argon2
            .hash_password_into(self.0.as_bytes(), salt(project).as_bytes(), &mut *out)
            .map_err(|e| MasterKeyError::Stretch(e.to_string()))?;
        Ok(Stretched(out))
    }
}

/// The Argon2id salt for a project: [`SALT_PREFIX`] + the project name.
pub fn salt(project: &ProjectName) -> String {
    format!("{SALT_PREFIX}{project}")
}

/// The label of a password (see the module documentation).
pub fn password_label(env: Environment, user: &UserName, generation: u32, len: usize) -> String {
    format!("{LABEL_PREFIX}/{env}/password/{user}/generation-{generation}/length-{len}")
}

/// The label of the Fernet key (see the module documentation).
pub fn fernet_key_label(env: Environment, generation: u32) -> String {
    format!("{LABEL_PREFIX}/{env}/encryption-key/generation-{generation}")
}

/// The master key stretched for one project: the key every secret is derived from. Not
/// printable, zeroed on drop.
pub struct Stretched(Zeroizing<[u8; STRETCHED_LEN]>);

impl fmt::Debug for Stretched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stretched(<redacted>)")
    }
}

impl Stretched {
    /// The password of `user` in `env`: `len` characters of `[0-9A-Za-z]`, uniformly
    /// distributed. Bumping `generation` gives an unrelated password.
    pub fn password(
        &self,
        env: Environment,
        user: &UserName,
        generation: u32,
        len: usize,
    ) -> String {
        self.password_for_label(&password_label(env, user, generation, len), len)
    }

    /// Dragonfly's `requirepass` of `env`: a password that belongs to no ACL user, so its
    /// label lives outside the `password/` namespace and no user name can collide with it.
    pub fn requirepass(&self, env: Environment, generation: u32, len: usize) -> String {
        let label = format!(
            "{LABEL_PREFIX}/{env}/dragonfly-requirepass/generation-{generation}/length-{len}"
        );
        self.password_for_label(&label, len)
    }

    fn password_for_label(&self, label: &str, len: usize) -> String {
        self.stream(label)
            .filter(|&b| b < PASSWORD_REJECT_FROM)
            .take(len)
            .map(|b| char::from(PASSWORD_ALPHABET[usize::from(b % 62)]))
            .collect()
    }

    /// The Fernet key (`REDIS_ENCRYPTION_KEY`) of `env`: 32 bytes, URL-safe base64 with
    /// padding.
    pub fn fernet_key(&self, env: Environment, generation: u32) -> String {
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
            self.stream(&fernet_key_label(env, generation))
                .take(32)
                .collect(),
        );
        base64::engine::general_purpose::URL_SAFE.encode(&*bytes)
    }

    /// The byte stream of one label: HMAC-SHA256(K, be32(i) || label) for i = 1, 2, ...
    fn stream<'a>(&'a self, label: &'a str) -> Stream<'a> {
        Stream {
            key: &self.0,
            label,
            counter: 0,
            block: Zeroizing::new([0; 32]),
            pos: 32,
        }
    }

    /// The stretched bytes, for the known-answer vectors.
    #[cfg(test)]
    fn hex(&self) -> String {
        hex::encode(*self.0)
    }
}

struct Stream<'a> {
    key: &'a [u8; STRETCHED_LEN],
    label: &'a str,
    counter: u32,
    block: Zeroizing<[u8; 32]>,
    pos: usize,
}

impl Iterator for Stream<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.pos == self.block.len() {
            // 2^32 blocks are 128 GiB: no secret comes anywhere near.
            self.counter = self
                .counter
                .checked_add(1)
                .expect("stream counter overflow");
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key)
                .expect("HMAC takes a key of any length");
            mac.update(&self.counter.to_be_bytes());
            mac.update(self.label.as_bytes());
            self.block.copy_from_slice(&mac.finalize().into_bytes());
            self.pos = 0;
        }
        let b = self.block[self.pos];
        self.pos += 1;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::sync::OnceLock;
    use std::time::Instant;

    /// Test keys only: they are in this public source file.
    const TEST_KEY: &str =
        "redis-harden TEST VECTOR master key #1 - never use for a real deployment";
    const OTHER_TEST_KEY: &str =
        "redis-harden TEST VECTOR master key #2 - never use for a real deployment";
    const USERS: [&str; 3] = ["app", "monitoring", "admin"];
    const GENERATIONS: [u32; 2] = [1, 2];
    const LEN: usize = 32;

    fn project(name: &str) -> ProjectName {
        ProjectName::parse(name).unwrap()
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn stretch_timed(key: &str, project_name: &str) -> Stretched {
        let key = MasterKey::new(key.to_owned()).unwrap();
        let start = Instant::now();
        let stretched = key.stretch(&project(project_name)).unwrap();
        // Shown with `-- --nocapture`; nothing is asserted about time.
        eprintln!(
            "masterkey: Argon2id m={ARGON2_M_COST_KIB} KiB t={ARGON2_T_COST} p={ARGON2_P_COST} \
             took {:.0} ms",
            start.elapsed().as_secs_f64() * 1000.0
        );
        stretched
    }

    /// TEST_KEY stretched for project "kat", shared by the tests: Argon2id with 64 MiB is slow.
    fn kat() -> &'static Stretched {
        static KAT: OnceLock<Stretched> = OnceLock::new();
        KAT.get_or_init(|| stretch_timed(TEST_KEY, "kat"))
    }

    /// Every secret of a bundle with the built-in users, for every environment and
    /// generation, by label.
    fn all_secrets(s: &Stretched) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for env in Environment::ALL {
            for g in GENERATIONS {
                for u in USERS {
                    out.insert(
                        password_label(env, &user(u), g, LEN),
                        s.password(env, &user(u), g, LEN),
                    );
                }
                out.insert(fernet_key_label(env, g), s.fernet_key(env, g));
            }
        }
        out
    }

    #[test]
    fn parameters_meet_owasp_minimums() {
        // OWASP Password Storage Cheat Sheet, Argon2id: m=47104 t=1 p=1, m=19456 t=2 p=1, ...
        const {
            assert!(ARGON2_M_COST_KIB >= 19 * 1024 && ARGON2_T_COST >= 2 && ARGON2_P_COST >= 1);
            assert!(ARGON2_VERSION == Version::V0x13 as u32);
        }
        assert!(Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, Some(32)).is_ok());
    }

    #[test]
    fn hmac_sha256_is_the_rfc_4231_one() {
        // RFC 4231 test case 2.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn same_key_gives_the_same_secrets_from_separate_values() {
        let again = stretch_timed(TEST_KEY, "kat");
        assert_eq!(all_secrets(kat()), all_secrets(&again));
    }

    #[test]
    fn a_different_key_changes_every_secret() {
        let other = stretch_timed(OTHER_TEST_KEY, "kat");
        let (a, b) = (all_secrets(kat()), all_secrets(&other));
        for (label, secret) in &a {
            assert_ne!(secret, &b[label], "{label}");
        }
    }

    #[test]
    fn a_different_project_changes_every_secret() {
        let other = stretch_timed(TEST_KEY, "kat2");
        let (a, b) = (all_secrets(kat()), all_secrets(&other));
        for (label, secret) in &a {
            assert_ne!(secret, &b[label], "{label}");
        }
    }

    #[test]
    fn every_secret_is_distinct() {
        let secrets = all_secrets(kat());
        let mut values: Vec<&String> = secrets.values().collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), secrets.len());
    }

    /// A bundle as a profile with per-secret generations would produce it.
    fn bundle(s: &Stretched, env: Environment, generations: &BTreeMap<&str, u32>) -> Vec<String> {
        let mut out: Vec<String> = USERS
            .iter()
            .map(|u| s.password(env, &user(u), generations[u], LEN))
            .collect();
        out.push(s.fernet_key(env, generations["fernet"]));
        out
    }

    #[test]
    fn bumping_one_generation_changes_exactly_that_secret() {
        let s = kat();
        let base: BTreeMap<&str, u32> =
            [("app", 1), ("monitoring", 1), ("admin", 1), ("fernet", 1)]
                .into_iter()
                .collect();
        for env in Environment::ALL {
            let before = bundle(s, env, &base);
            for (i, bumped) in ["app", "monitoring", "admin", "fernet"].iter().enumerate() {
                let mut gens = base.clone();
                *gens.get_mut(bumped).unwrap() += 1;
                let after = bundle(s, env, &gens);
                for (j, (b, a)) in before.iter().zip(&after).enumerate() {
                    assert_eq!(i == j, b != a, "{env}: bumping {bumped} (secret {j})");
                }
            }
        }
    }

    #[test]
    fn environments_have_their_own_secrets() {
        let s = kat();
        let app = user("app");
        let pw: Vec<String> = Environment::ALL
            .iter()
            .map(|&e| s.password(e, &app, 1, LEN))
            .collect();
        for (i, a) in pw.iter().enumerate() {
            for b in &pw[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_for() {
        let s = kat();
        let app = user("app");
        for len in [0, 1, 12, 32, 48, 256] {
            let pw = s.password(Environment::Production, &app, 1, len);
            assert_eq!(pw.len(), len);
            assert!(pw.bytes().all(|b| b.is_ascii_alphanumeric()), "{pw}");
        }
        // The length is in the label: a longer password does not extend a shorter one.
        let short = s.password(Environment::Production, &app, 1, 16);
        let long = s.password(Environment::Production, &app, 1, 32);
        assert!(!long.starts_with(&short));
    }

    #[test]
    fn password_characters_are_uniform() {
        // As in secrets.rs: 62 symbols x ~1000 draws each; a plain `byte % 62` would put
        // the first 8 symbols ~25% above the rest. Allow +-15% around the expected count.
        let pw = kat().password(Environment::Testing, &user("uniform"), 1, 62_000);
        let mut counts = BTreeMap::new();
        for b in pw.bytes() {
            *counts.entry(b).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 62);
        for (b, n) in counts {
            assert!((850..=1150).contains(&n), "{} drawn {n} times", b as char);
        }
    }

    #[test]
    fn fernet_key_is_32_bytes_urlsafe_with_padding() {
        for env in Environment::ALL {
            let key = kat().fernet_key(env, 1);
            assert_eq!(key.len(), 44);
            assert!(key.ends_with('='));
            let bytes = base64::engine::general_purpose::URL_SAFE
                .decode(&key)
                .unwrap();
            assert_eq!(bytes.len(), 32);
        }
    }

    #[test]
    fn stream_follows_the_specification() {
        // Block 1 and 2 of a label, recomputed here from the documented formula.
        let s = kat();
        let label = "redis-harden/v1/test/stream";
        let block = |i: u32| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&*s.0).unwrap();
            mac.update(&i.to_be_bytes());
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().to_vec()
        };
        let stream: Vec<u8> = s.stream(label).take(80).collect();
        assert_eq!(stream[..32], block(1)[..]);
        assert_eq!(stream[32..64], block(2)[..]);
        assert_eq!(stream[64..], block(3)[..16]);
        // The password is the stream's bytes below 248, mod 62, in order.
        let env = Environment::Staging;
        let u = user("app");
        let label = password_label(env, &u, 7, 40);
        let expected: String = s
            .stream(&label)
            .filter(|&b| b < 248)
            .take(40)
            .map(|b| PASSWORD_ALPHABET[usize::from(b % 62)] as char)
            .collect();
        assert_eq!(s.password(env, &u, 7, 40), expected);
    }

    fn refused(key: &str) -> MasterKeyError {
        match MasterKey::new(key.to_owned()) {
            Ok(_) => panic!("{key:?} was accepted"),
            Err(e) => {
                // The error never quotes the key.
                let text = format!("{e} {e:?} {}", e.help());
                if key.len() >= 4 {
                    assert!(!text.contains(key), "{text}");
                }
                e
            }
        }
    }

    #[test]
    fn weak_keys_are_refused_with_an_explanation() {
        for key in [
            "hunter2",
            "correct horse",
            "Tr0ub4dor&3",
            "0123456789abcdef", // 64 bits of hex
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "passwordpasswordpasswordpasswordpassword",
            "hunter2hunter2hunter2hunter2hunter2hunter2",
        ] {
            let e = refused(key);
            assert!(matches!(e, MasterKeyError::Weak { .. }), "{key}: {e:?}");
            assert!(e.help().contains("openssl rand -base64 32"), "{}", e.help());
        }
        assert!(matches!(refused(""), MasterKeyError::Empty { .. }));
        let e = refused("correct horse");
        assert!(e.to_string().contains("13 characters"), "{e}");
        assert!(e.to_string().contains("128"), "{e}");
        let e = refused(&"hunter2".repeat(6));
        assert!(e.to_string().contains("only 7 distinct characters"), "{e}");
    }

    #[test]
    fn random_keys_are_accepted() {
        for key in [
            // 32 base64 characters (192 bits), `openssl rand -base64 32` (256 bits) and
            // `openssl rand -hex 16` (128 bits), all made once for this test.
            "q3VfZ0pXkR8sT1mYb7LwN2cHdJ9aUe4G",
            "yK1pH5pW0tM0Q7eC1hZ2nV9sB3xR8aL6uD4fG7jJk2E=",
            "9f86d081884c7d659a2feaa0c55ad015",
        ] {
            let k = MasterKey::new(key.to_owned()).unwrap();
            assert!(!format!("{k:?}").contains(key));
        }
        assert!((estimate_entropy_bits("9f86d081884c7d659a2feaa0c55ad015") - 165.4).abs() < 0.1);
        assert_eq!(estimate_entropy_bits(""), 0.0);
    }

    #[test]
    fn keys_with_control_or_non_ascii_characters_are_refused() {
        let good = "q3VfZ0pXkR8sT1mYb7LwN2cHdJ9aUe4G";
        for (key, what) in [
            (format!("{good}\n"), "a newline"),
            (format!("{good}\nsecond line"), "a newline"),
            (format!("{good}\r"), "a carriage return"),
            ("q3VfZ0pXkR8s\tT1mYb7LwN2cHdJ9aUe4G".to_owned(), "a tab"),
            (format!("{good}\0"), "a control character"),
            (format!("{good}\x7f"), "a control character"),
            (format!("{good}é"), "non-ASCII"),
            (format!(" {good}"), "space"),
            (format!("{good} "), "space"),
        ] {
            let e = refused(&key);
            assert!(
                matches!(e, MasterKeyError::Malformed { .. }),
                "{key:?}: {e:?}"
            );
            assert!(e.to_string().contains(what), "{key:?}: {e}");
        }
        // A space inside is fine: passphrases have them.
        MasterKey::new("q3VfZ0pX kR8sT1mY b7LwN2cH dJ9aUe4G".into()).unwrap();
    }

    #[test]
    fn key_files_lose_exactly_one_trailing_newline() {
        let good = "q3VfZ0pXkR8sT1mYb7LwN2cHdJ9aUe4G";
        let s = |k: MasterKey| k.0.to_string();
        assert_eq!(s(MasterKey::from_file_contents(good.into()).unwrap()), good);
        assert_eq!(
            s(MasterKey::from_file_contents(format!("{good}\n")).unwrap()),
            good
        );
        assert_eq!(
            s(MasterKey::from_file_contents(format!("{good}\r\n")).unwrap()),
            good
        );
        assert!(MasterKey::from_file_contents(format!("{good}\n\n")).is_err());
        assert!(MasterKey::from_file_contents(format!("{good} \n")).is_err());
        assert!(matches!(
            MasterKey::from_file_contents("\n".into()),
            Err(MasterKeyError::Empty { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, format!("{good}\n")).unwrap();
        assert_eq!(s(MasterKey::from_file(&path).unwrap()), good);
        std::fs::write(&path, "hunter2\n").unwrap();
        let e = MasterKey::from_file(&path).unwrap_err();
        assert!(e.to_string().contains("master.key") && !e.to_string().contains("hunter2"));
        std::fs::write(&path, b"\xff\xfe").unwrap();
        assert!(matches!(
            MasterKey::from_file(&path),
            Err(MasterKeyError::Malformed { .. })
        ));
        let missing = MasterKey::from_file(&dir.path().join("nope")).unwrap_err();
        assert!(
            matches!(missing, MasterKeyError::Read { .. }),
            "{missing:?}"
        );
    }

    #[test]
    fn debug_does_not_leak() {
        let key = MasterKey::new(TEST_KEY.to_owned()).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(<redacted>)");
        assert_eq!(format!("{:?}", kat()), "Stretched(<redacted>)");
        assert!(!format!("{:#?}", kat()).contains(&kat().hex()));
    }

    /// Known-answer vectors of the v1 derivation. A change here changes every secret derived
    /// from every master key: it must never happen to v1.
    #[test]
    fn known_answer_vectors() {
        let s = kat();
        let mut text = String::new();
        let w = &mut text;
        writeln!(
            w,
            "TEST VECTORS ONLY: the master key below is public; never use it."
        )
        .unwrap();
        writeln!(
            w,
            "redis-harden master-key derivation v1 (src/masterkey.rs)"
        )
        .unwrap();
        writeln!(w).unwrap();
        writeln!(w, "master key: {TEST_KEY}").unwrap();
        writeln!(w, "project:    kat").unwrap();
        writeln!(
            w,
            "argon2:     Argon2id v=0x{ARGON2_VERSION:x} m={ARGON2_M_COST_KIB} KiB \
             t={ARGON2_T_COST} p={ARGON2_P_COST} out={STRETCHED_LEN}"
        )
        .unwrap();
        writeln!(w, "salt:       {}", salt(&project("kat"))).unwrap();
        writeln!(w, "stretched:  {}", s.hex()).unwrap();
        for env in Environment::ALL {
            writeln!(w).unwrap();
            writeln!(w, "[{env}]").unwrap();
            for g in GENERATIONS {
                for u in USERS {
                    let u = user(u);
                    writeln!(w, "{}", password_label(env, &u, g, LEN)).unwrap();
                    writeln!(w, "  {}", s.password(env, &u, g, LEN)).unwrap();
                }
                writeln!(w, "{}", fernet_key_label(env, g)).unwrap();
                writeln!(w, "  {}", s.fernet_key(env, g)).unwrap();
            }
        }
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!("masterkey-test-vectors", text);
        });
    }
}
