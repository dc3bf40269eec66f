//! Passwords and the Fernet encryption key: generated from a caller-supplied CSPRNG (the OS
//! one in the binary, a seeded one in tests), stored in `secrets.env`, never replaced once
//! they exist.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use rand::CryptoRng;
use rand::distr::{Alphanumeric, Distribution};
use sha2::{Digest, Sha256};

use crate::profile::EnvProfile;
use crate::values::UserName;

/// The variable in `secrets.env` and `client.env` that holds the Fernet key.
pub const ENCRYPTION_KEY_VAR: &str = "REDIS_ENCRYPTION_KEY";

/// During a rotation the old value of `NAME` is kept as `PREVIOUS_NAME` until `--finish`.
/// No user name can produce a variable with this prefix (those all start with `REDIS_`).
pub const PREVIOUS_PREFIX: &str = "PREVIOUS_";

/// Dragonfly's requirepass: a password of its own that no client holds, so a leaked user
/// password never unlocks the HTTP console, the admin port or a fallback default user. Outside
/// the `REDIS_PASSWORD_<USER>` names, so no ACL user can clash with it.
pub const DRAGONFLY_REQUIREPASS_VAR: &str = "DRAGONFLY_REQUIREPASS";

/// Every password variable `profile` needs, in the order they are generated.
fn password_vars(profile: &EnvProfile) -> Vec<String> {
    let mut vars: Vec<String> = profile
        .password_users()
        .iter()
        .map(UserName::password_var)
        .collect();
    if profile.engine == crate::profile::Engine::Dragonfly {
        vars.push(DRAGONFLY_REQUIREPASS_VAR.to_owned());
    }
    vars
}

/// Alphanumerics: URL-safe without escaping and safe in any shell or env file.
const PASSWORD_ALPHABET_SIZE: f64 = 62.0;

/// The operating system's CSPRNG (getrandom), read 1 KiB at a time: drawn one word at a time,
/// every password character would be its own system call. Each byte is served once, and the
/// buffer is wiped when dropped.
pub struct OsRandom {
    buf: zeroize::Zeroizing<[u8; 1024]>,
    pos: usize,
}

impl Default for OsRandom {
    fn default() -> Self {
        Self {
            buf: zeroize::Zeroizing::new([0; 1024]),
            pos: 1024,
        }
    }
}

impl OsRandom {
    fn take(&mut self, dst: &mut [u8]) {
        let mut done = 0;
        while done < dst.len() {
            if self.pos == self.buf.len() {
                rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut *self.buf)
                    .expect("the operating system's random number generator failed");
                self.pos = 0;
            }
            let n = (dst.len() - done).min(self.buf.len() - self.pos);
            dst[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            // Served bytes are erased, so they can never be handed out twice.
            self.buf[self.pos..self.pos + n].fill(0);
            self.pos += n;
            done += n;
        }
    }
}

impl rand::TryRng for OsRandom {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.take(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.take(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.take(dst);
        Ok(())
    }
}

impl rand::TryCryptoRng for OsRandom {}

/// A password of `len` characters drawn uniformly from `[A-Za-z0-9]`. `Alphanumeric` samples by
/// rejection, so no character is more likely than another.
pub fn generate_password<R: CryptoRng + ?Sized>(rng: &mut R, len: usize) -> String {
    Alphanumeric
        .sample_iter(rng)
        .take(len)
        .map(char::from)
        .collect()
}

/// A Fernet key: 32 random bytes, URL-safe base64 with padding (what `Fernet(key)` expects).
pub fn generate_fernet_key<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// The bits of entropy of a generated password of `len` characters.
pub fn entropy_bits(len: usize) -> f64 {
    len as f64 * PASSWORD_ALPHABET_SIZE.log2()
}

/// How a password is stored in an ACL file: `#` + hex SHA-256. Redis compares hashes, so the
/// ACL file never holds a usable password.
pub fn acl_hash(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// The contents of `secrets.env`: `NAME=value` lines. Unknown names are kept as they are, so a
/// secret of a user removed from the profile is never lost.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    entries: BTreeMap<String, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a Debug print must never leak a secret into a log.
        f.debug_struct("Secrets")
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What [`Secrets::ensure`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ensured {
    pub generated: Vec<String>,
    /// Existing passwords shorter than the profile asks for: kept, but worth a warning.
    pub short: Vec<(String, usize)>,
}

impl Secrets {
    /// Parses `secrets.env`. The error is a reason with its line number; it never quotes a value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(format!("line {n}: expected NAME=value"));
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(format!("line {n}: {name:?} is not a valid variable name"));
            }
            check_secret_value(name, value)
                .map_err(|reason| format!("line {n}: {name}: {reason}"))?;
            if entries.insert(name.to_owned(), value.to_owned()).is_some() {
                return Err(format!("line {n}: {name} is defined twice"));
            }
        }
        Ok(Self { entries })
    }

    /// Generates every secret `profile` needs that is not here yet. Never replaces one.
    pub fn ensure<R: CryptoRng + ?Sized>(&mut self, profile: &EnvProfile, rng: &mut R) -> Ensured {
        let mut done = Ensured::default();
        let len = profile.secrets.password_length as usize;
        for var in password_vars(profile) {
            match self.entries.get(&var) {
                Some(existing) if existing.len() < len => done.short.push((var, existing.len())),
                Some(_) => {}
                None => {
                    self.entries
                        .insert(var.clone(), generate_password(rng, len));
                    done.generated.push(var);
                }
            }
        }
        if !self.entries.contains_key(ENCRYPTION_KEY_VAR) {
            self.entries
                .insert(ENCRYPTION_KEY_VAR.into(), generate_fernet_key(rng));
            done.generated.push(ENCRYPTION_KEY_VAR.into());
        }
        done
    }

    /// The secrets `profile` needs that are not here.
    pub fn missing(&self, profile: &EnvProfile) -> Vec<String> {
        password_vars(profile)
            .into_iter()
            .chain([ENCRYPTION_KEY_VAR.to_owned()])
            .filter(|var| !self.entries.contains_key(var))
            .collect()
    }

    pub fn password(&self, user: &UserName) -> Option<&str> {
        self.entries.get(&user.password_var()).map(String::as_str)
    }

    pub fn requirepass(&self) -> Option<&str> {
        self.entries
            .get(DRAGONFLY_REQUIREPASS_VAR)
            .map(String::as_str)
    }

    pub fn encryption_key(&self) -> Option<&str> {
        self.entries.get(ENCRYPTION_KEY_VAR).map(String::as_str)
    }

    /// Takes secrets derived elsewhere (from the master key). Missing ones are added and
    /// returned; an existing value that differs is never replaced: the names of all such
    /// conflicts are the error.
    pub fn adopt(&mut self, wanted: BTreeMap<String, String>) -> Result<Vec<String>, Vec<String>> {
        let conflicts: Vec<String> = wanted
            .iter()
            .filter(|(k, v)| self.entries.get(*k).is_some_and(|have| have != *v))
            .map(|(k, _)| k.clone())
            .collect();
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        let mut added = vec![];
        for (k, v) in wanted {
            if !self.entries.contains_key(&k) {
                self.entries.insert(k.clone(), v);
                added.push(k);
            }
        }
        Ok(added)
    }

    /// The value kept from before a rotation of `var`, if a rotation is in progress.
    pub fn previous(&self, var: &str) -> Option<&str> {
        self.entries
            .get(&format!("{PREVIOUS_PREFIX}{var}"))
            .map(String::as_str)
    }

    /// Makes `new` the value of `var` and keeps the current one as `PREVIOUS_var`. Refused
    /// while an earlier rotation of `var` is unfinished: that would lose the oldest value.
    pub fn rotate(&mut self, var: &str, new: String) -> Result<(), String> {
        let prev = format!("{PREVIOUS_PREFIX}{var}");
        if self.entries.contains_key(&prev) {
            return Err(format!(
                "{var} is already being rotated ({prev} is still kept)"
            ));
        }
        let Some(current) = self.entries.insert(var.to_owned(), new) else {
            return Err(format!("{var} does not exist yet"));
        };
        self.entries.insert(prev, current);
        Ok(())
    }

    /// Drops the value kept by [`Secrets::rotate`]; returns whether there was one.
    pub fn finish(&mut self, var: &str) -> bool {
        self.entries
            .remove(&format!("{PREVIOUS_PREFIX}{var}"))
            .is_some()
    }

    pub fn get(&self, var: &str) -> Option<&str> {
        self.entries.get(var).map(String::as_str)
    }

    /// Every stored value, for scrubbing them out of anything that is printed or shared.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.entries.values().map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The file text, sorted by name so re-runs produce the same bytes.
    pub fn to_file(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        for (k, v) in &self.entries {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            out.push('\n');
        }
        out
    }
}

/// A stored secret must survive being put in a URL, an env file and a shell without quoting.
fn check_secret_value(name: &str, value: &str) -> Result<(), String> {
    if name.strip_prefix(PREVIOUS_PREFIX).unwrap_or(name) == ENCRYPTION_KEY_VAR {
        let bytes = base64::engine::general_purpose::URL_SAFE
            .decode(value)
            .map_err(|_| "is not URL-safe base64".to_string())?;
        if bytes.len() != 32 {
            return Err(format!(
                "decodes to {} bytes, a Fernet key has 32",
                bytes.len()
            ));
        }
        return Ok(());
    }
    if value.is_empty() {
        return Err("is empty".into());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
    {
        let what = if c.is_whitespace() || c.is_control() {
            "whitespace or a control character".to_string()
        } else {
            format!("the character {c:?}")
        };
        return Err(format!(
            "contains {what}; passwords must be URL-safe (letters, digits, - . _ ~)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_for() {
        let mut rng = StdRng::seed_from_u64(1);
        let pw = generate_password(&mut rng, 48);
        assert_eq!(pw.len(), 48);
        assert!(pw.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(pw, generate_password(&mut rng, 48));
    }

    #[test]
    fn password_characters_are_uniform() {
        // 62 symbols x ~1000 draws each: a biased sampler (e.g. byte % 62) would put the first
        // 8 symbols ~25% above the rest. Allow +-15% around the expected count.
        let mut rng = StdRng::seed_from_u64(7);
        let pw = generate_password(&mut rng, 62_000);
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
        let key = generate_fernet_key(&mut StdRng::seed_from_u64(2));
        assert_eq!(key.len(), 44);
        assert!(key.ends_with('='));
        assert!(!key.contains('+') && !key.contains('/'));
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE
                .decode(&key)
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn acl_hash_is_sha256_hex() {
        assert_eq!(
            acl_hash("foobar"),
            "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
        );
    }

    #[test]
    fn secrets_file_round_trips_and_keeps_unknown_names() {
        let text = "# header\nREDIS_PASSWORD_APP=abc\nREDIS_PASSWORD_OLD=zzz\n";
        let s = Secrets::parse(text).unwrap();
        assert_eq!(s.password(&UserName::parse("app").unwrap()), Some("abc"));
        let out = s.to_file("header");
        assert_eq!(Secrets::parse(&out).unwrap(), s);
        assert!(out.contains("REDIS_PASSWORD_OLD=zzz"));
    }

    #[test]
    fn parse_errors_never_quote_the_value() {
        let err = Secrets::parse("REDIS_PASSWORD_APP=hunter 2\n").unwrap_err();
        assert!(err.contains("line 1") && !err.contains("hunter"), "{err}");
        assert!(Secrets::parse("REDIS_ENCRYPTION_KEY=short\n").is_err());
        assert!(Secrets::parse("A=1\nA=2\n").is_err());
        assert!(Secrets::parse("lower=1\n").is_err());
    }

    #[test]
    fn rotation_keeps_the_previous_value_until_finished() {
        let mut s = Secrets::parse("REDIS_PASSWORD_APP=old\n").unwrap();
        s.rotate("REDIS_PASSWORD_APP", "new".into()).unwrap();
        assert_eq!(s.get("REDIS_PASSWORD_APP"), Some("new"));
        assert_eq!(s.previous("REDIS_PASSWORD_APP"), Some("old"));
        assert!(
            s.rotate("REDIS_PASSWORD_APP", "newer".into()).is_err(),
            "would lose `old`"
        );
        assert_eq!(Secrets::parse(&s.to_file("h")).unwrap(), s);
        assert!(s.finish("REDIS_PASSWORD_APP"));
        assert_eq!(s.previous("REDIS_PASSWORD_APP"), None);
        assert!(!s.finish("REDIS_PASSWORD_APP"));
    }

    #[test]
    fn debug_does_not_print_values() {
        let s = Secrets::parse("REDIS_PASSWORD_APP=topsecretvalue\n").unwrap();
        assert!(!format!("{s:?}").contains("topsecretvalue"));
    }
}
