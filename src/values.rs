//! Validated values: every profile value that can reach a generated file is parsed into one of
//! these types at the boundary. Each type admits only the characters its directive needs, so a
//! profile can never smuggle a newline, quote or extra directive into `redis.conf` or an ACL line.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a value was rejected. The caller adds the file and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// Names the first character that has no business in a config value, so the error says exactly
/// what was wrong ("contains a newline") instead of a generic "invalid".
fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        '"' => "a double quote".into(),
        '\'' => "a single quote".into(),
        '\\' => "a backslash".into(),
        '#' => "a '#'".into(),
        '$' => "a '$'".into(),
        '`' => "a backtick".into(),
        ';' => "a ';'".into(),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c => format!("the character {c:?}"),
    }
}

/// `s` with control characters escaped (`\n`, `\u{1b}`), so echoing user input can never
/// forge extra lines in an error message. Quotes and other printable characters stay as typed.
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn check_chars(s: &str, what: &str, allowed: impl Fn(char) -> bool) -> Result<(), Invalid> {
    if s.is_empty() {
        return invalid(format!("{what} must not be empty"));
    }
    match s.chars().find(|&c| !allowed(c)) {
        Some(c) => invalid(format!("{what} contains {}", describe_char(c))),
        None => Ok(()),
    }
}

/// Implements Display, FromStr, TryFrom<String> and string (de)serialization for a newtype over
/// `String` whose constructor is `fn parse(&str) -> Result<Self, Invalid>`.
macro_rules! string_value {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        string_value!(@serde $ty);
    };
    (@serde $ty:ident) => {
        impl FromStr for $ty {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                Self::parse(&s)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format_args!("invalid value {s:?}: {e}"))
                })
            }
        }
    };
}

/// A TCP port, 1-65535. Port 0 means "closed" in redis.conf and is written by the template,
/// never taken from a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(u16);

impl Port {
    pub fn new(n: u16) -> Result<Self, Invalid> {
        if n == 0 {
            return invalid("port must be between 1 and 65535 (0 would close the listener)");
        }
        Ok(Self(n))
    }
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for Port {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u16::try_from(n)
            .map_err(|_| Invalid("port must be between 1 and 65535".into()))
            .and_then(Port::new)
            .map_err(|e| serde::de::Error::custom(format_args!("invalid value {n}: {e}")))
    }
}

/// A DNS name for a certificate SAN and client URLs (RFC 1123 labels, lowercase ASCII).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "hostname", |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '.'
        })?;
        if s.len() > 253 {
            return invalid("hostname is longer than 253 characters");
        }
        if s.parse::<IpAddr>().is_ok() {
            // An IP in a dNSName SAN is ignored by verifiers; it belongs in tls.ips.
            return invalid("this is an IP address: list it under tls.ips, not tls.hostnames");
        }
        for label in s.split('.') {
            if label.is_empty() {
                return invalid("hostname has an empty label (leading, trailing or double dot)");
            }
            if label.len() > 63 {
                return invalid("hostname label is longer than 63 characters");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return invalid("hostname label starts or ends with '-'");
            }
        }
        if s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return invalid("hostname ends in an all-numeric label");
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}
string_value!(Hostname);

/// An address for redis.conf `bind`: an IP, optionally prefixed with `-` (Redis 7 skips an
/// optional address that is not available, e.g. `-::1` on a host without IPv6).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BindAddr {
    pub ip: IpAddr,
    pub optional: bool,
}

impl BindAddr {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "bind address", |c| {
            c.is_ascii_hexdigit() || ".:-".contains(c)
        })
        .map_err(|e| Invalid(format!("{e}; expected an IP address such as 10.0.1.5")))?;
        let (optional, rest) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let ip = rest
            .parse()
            .map_err(|_| Invalid("not an IP address (expected e.g. 10.0.1.5 or -::1)".into()))?;
        Ok(Self { ip, optional })
    }
    pub fn is_unspecified(&self) -> bool {
        self.ip.is_unspecified()
    }
    pub fn is_loopback(&self) -> bool {
        self.ip.is_loopback()
    }
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.optional {
            f.write_str("-")?;
        }
        self.ip.fmt(f)
    }
}
string_value!(@serde BindAddr);

/// An IP network in CIDR notation with no host bits set (`10.0.0.0/8`, not `10.1.2.3/8`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(ipnet::IpNet);

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "CIDR", |c| c.is_ascii_hexdigit() || ".:/".contains(c))?;
        let net: ipnet::IpNet = match s.parse() {
            Ok(net) => net,
            // A bare address is a single host.
            Err(_) => match s.parse::<IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => return invalid("not a CIDR network (expected e.g. 10.0.0.0/8)"),
            },
        };
        if net.trunc() != net {
            return invalid(format!("host bits are set; did you mean {}?", net.trunc()));
        }
        Ok(Self(net))
    }
    pub fn net(&self) -> ipnet::IpNet {
        self.0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
string_value!(@serde Cidr);

/// A Redis ACL user name. Redis itself allows almost anything; we allow what survives being a
/// file name, an environment variable suffix and an unquoted ACL token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

impl UserName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "user name", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        })
        .map_err(|e| Invalid(format!("{e}; use lowercase letters, digits, '_' and '-'")))?;
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return invalid("user name must start with a lowercase letter");
        }
        if s.len() > 64 {
            return invalid("user name is longer than 64 characters");
        }
        Ok(Self(s.to_owned()))
    }
    /// The variable name that holds this user's password in `secrets.env`.
    pub fn password_var(&self) -> String {
        format!(
            "REDIS_PASSWORD_{}",
            self.0.to_ascii_uppercase().replace('-', "_")
        )
    }
}
string_value!(UserName);

/// A key or channel glob for an ACL rule (`~pattern` / `&pattern`). Glob metacharacters are
/// fine; whitespace, quotes and control characters would split or end the ACL line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPattern(String);

impl KeyPattern {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "key pattern", |c| {
            c.is_ascii_alphanumeric() || ":_.-*?[]{}/@|=+,^!%$<>".contains(c)
        })?;
        if s.len() > 256 {
            return invalid("key pattern is longer than 256 characters");
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(KeyPattern);

/// One command rule of an ACL user: `+@read`, `-@dangerous`, `+get`, `-config|set`.
///
/// `COMMAND|SUBCOMMAND` is accepted only for the commands that have subcommands. Redis 7.0
/// also takes `+COMMAND|ARG` for any other command (a "first-arg" rule, deprecated with a
/// warning in its log): `+flushall|async` reads like a narrow permission but lets the user run
/// FLUSHALL ASYNC, i.e. wipe every key; `-flushall|async` is an error. Dragonfly has no `|`
/// rules at all. So such a rule is refused here, with a message that says what it would grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclRule(String);

impl AclRule {
    /// Redis 7.0's commands with subcommands (`COMMAND INFO` lists them as `name|sub`).
    pub const CONTAINER_COMMANDS: [&'static str; 15] = [
        "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
        "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
    ];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "ACL rule", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "+-@|_.".contains(c)
        })
        .map_err(|e| {
            Invalid(format!(
                "{e}; expected a rule such as +@read, -@dangerous or +get"
            ))
        })?;
        let body = match s.strip_prefix(['+', '-']) {
            Some(body) => body,
            None => return invalid("ACL rule must start with '+' or '-' (e.g. +@read, -flushall)"),
        };
        let name = body.strip_prefix('@').unwrap_or(body);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return invalid("ACL rule must name a command or @category after '+'/'-'");
        }
        if let Some((command, sub)) = body.split_once('|') {
            if body.starts_with('@') {
                return invalid("a @category has no subcommands: drop the '|...'");
            }
            if !Self::CONTAINER_COMMANDS.contains(&command) {
                return invalid(format!(
                    "{command} has no subcommands: {s} would be a first-argument rule, which \
                     Redis 7.0 deprecates and which grants the command itself (+flushall|async \
                     lets the user run FLUSHALL ASYNC); allow or deny {command} as a whole"
                ));
            }
            if sub.is_empty() || sub.contains('|') {
                return invalid(format!(
                    "expected COMMAND|SUBCOMMAND, e.g. {}config|get",
                    &s[..1]
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(AclRule);

/// A filesystem path that is written into generated files. redis.conf quotes it, but
/// `client.env` (which shells source: `set -a; . ./client.env`), the Dragonfly flagfile and
/// the shell commands we print do not. So it admits only what is safe unquoted in a POSIX
/// shell and an env file: ASCII letters, digits and `/ . _ - + , : @ =`. No spaces, `$`,
/// backticks, `;`, quotes, globs, `~` or non-ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfPath(String);

impl ConfPath {
    /// The characters besides ASCII letters and digits a path may hold.
    pub const PUNCTUATION: &'static str = "/._-+,:@=";

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "path", |c| {
            c.is_ascii_alphanumeric() || Self::PUNCTUATION.contains(c)
        })
        .map_err(|e| {
            Invalid(format!(
                "{e}: the path is written unquoted into client.env, which shells source, so \
                 it may hold only ASCII letters, digits and / . _ - + , : @ ="
            ))
        })?;
        Ok(Self(s.to_owned()))
    }
    pub fn from_path(p: &std::path::Path) -> Result<Self, Invalid> {
        match p.to_str() {
            Some(s) => Self::parse(s),
            None => invalid("path is not valid UTF-8"),
        }
    }
    pub fn join(&self, rel: &str) -> Self {
        let base = self.0.trim_end_matches('/');
        Self(format!("{base}/{rel}"))
    }
}
string_value!(ConfPath);

/// A project name: used in certificate subjects and (later) container and network names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "project name", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
        })
        .map_err(|e| Invalid(format!("{e}; use lowercase letters, digits, '-' and '_'")))?;
        if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return invalid("project name must start with a letter or digit");
        }
        if s.len() > 63 {
            return invalid("project name is longer than 63 characters");
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(ProjectName);

/// A container image reference (`redis:7.0.15-bookworm`, `registry/name@sha256:...`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef(String);

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check_chars(s, "image reference", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "./:_@-".contains(c)
        })
        .map_err(|e| Invalid(format!("{e}; expected e.g. redis:7.0.15-bookworm")))?;
        let name = s.rsplit('/').next().unwrap_or(s);
        let tag = name.split_once(':').map(|(_, t)| t);
        // No tag means :latest, which changes under you: pin a version or a digest.
        if !s.contains('@') && matches!(tag, None | Some("latest")) {
            return invalid(
                "image reference is not pinned; give a version tag or digest, e.g. redis:7.0.15-bookworm",
            );
        }
        if s.len() > 255 {
            return invalid("image reference is longer than 255 characters");
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(ImageRef);

/// A memory size in redis.conf syntax: a number with an optional unit (`256mb`, `2gb`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemorySize(String);

impl MemorySize {
    const UNITS: [(&'static str, u64); 7] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
    ];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let lower = s.to_ascii_lowercase();
        check_chars(&lower, "memory size", |c| c.is_ascii_alphanumeric())?;
        let digits_end = lower
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(lower.len());
        let (digits, unit) = lower.split_at(digits_end);
        let known_unit = unit.is_empty() || Self::UNITS.iter().any(|(u, _)| *u == unit);
        if digits.is_empty() || !known_unit {
            return invalid("expected a size such as 256mb or 2gb (units: b, kb, mb, gb)");
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| Invalid("memory size is too large".into()))?;
        if n == 0 {
            // `maxmemory 0` means "no limit": a cache without a limit eats the host.
            return invalid("memory size must be greater than 0 (0 would mean unlimited)");
        }
        let value = Self(lower);
        if value.bytes().is_none() {
            return invalid("memory size is too large");
        }
        Ok(value)
    }
    pub fn bytes(&self) -> Option<u64> {
        let digits_end = self
            .0
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.0.len());
        let (digits, unit) = self.0.split_at(digits_end);
        let mult = Self::UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map_or(1, |(_, m)| *m);
        digits.parse::<u64>().ok()?.checked_mul(mult)
    }
}
impl MemorySize {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MemorySize {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Self::parse(s)
    }
}

impl serde::Serialize for MemorySize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// YAML reads `maxmemory: 1024` as a number: take it as bytes, like redis.conf does.
impl<'de> serde::Deserialize<'de> for MemorySize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Bytes(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        Self::parse(&text)
            .map_err(|e| serde::de::Error::custom(format_args!("invalid value {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_rejects_zero_and_out_of_range() {
        assert!(Port::new(0).is_err());
        assert_eq!(Port::new(6380).unwrap().get(), 6380);
        let err = serde_json::from_str::<Port>("70000").unwrap_err();
        assert!(err.to_string().contains("70000"), "{err}");
        assert!(serde_json::from_str::<Port>("-1").is_err());
    }

    #[test]
    fn injection_characters_are_named() {
        let err = Hostname::parse("a.example\nport 6379").unwrap_err();
        assert_eq!(err.0, "hostname contains a newline");
        let err = KeyPattern::parse("app:* +@all").unwrap_err();
        assert_eq!(err.0, "key pattern contains a space");
        let err = ConfPath::parse("/tmp/x\"\nenable-debug-command yes").unwrap_err();
        assert!(err.0.starts_with("path contains a double quote: "), "{err}");
        assert!(UserName::parse("app on >pw").is_err());
        assert!(AclRule::parse("+@all\nuser x").is_err());
        assert!(BindAddr::parse("127.0.0.1\nport 6379").is_err());
    }

    #[test]
    fn hostnames() {
        assert_eq!(
            Hostname::parse("Redis.Example.COM").unwrap().as_str(),
            "redis.example.com"
        );
        assert!(Hostname::parse("10.0.0.1").is_err());
        assert!(Hostname::parse("-bad.example").is_err());
        assert!(Hostname::parse("a..b").is_err());
        assert!(Hostname::parse("*.example.com").is_err());
        assert!(Hostname::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn bind_addresses() {
        let b = BindAddr::parse("-::1").unwrap();
        assert!(b.optional && b.is_loopback());
        assert_eq!(b.to_string(), "-::1");
        assert!(BindAddr::parse("0.0.0.0").unwrap().is_unspecified());
        assert!(BindAddr::parse("localhost").is_err());
        assert!(BindAddr::parse("*").is_err());
    }

    #[test]
    fn cidrs() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            Cidr::parse("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        let err = Cidr::parse("10.1.2.3/8").unwrap_err();
        assert!(err.0.contains("10.0.0.0/8"), "{err}");
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn user_names_and_rules() {
        assert_eq!(
            UserName::parse("app-worker").unwrap().password_var(),
            "REDIS_PASSWORD_APP_WORKER"
        );
        assert!(UserName::parse("App").is_err());
        assert!(UserName::parse("1app").is_err());
        for ok in [
            "+@read",
            "-@dangerous",
            "+get",
            "-config|set",
            "+client|setname",
        ] {
            AclRule::parse(ok).unwrap();
        }
        for bad in ["@read", "+", "allkeys", "~*", ">password", "+@"] {
            assert!(AclRule::parse(bad).is_err(), "{bad}");
        }
        // First-arg rules grant the command: refused, saying so.
        for first_arg in [
            "+flushall|async",
            "+shutdown|nosave",
            "+replicaof|no",
            "-flushall|async",
            "+select|0",
        ] {
            let err = AclRule::parse(first_arg).unwrap_err();
            assert!(err.0.contains("has no subcommands"), "{first_arg}: {err}");
            assert!(err.0.contains("first-argument rule"), "{err}");
        }
        for bad in ["+config|", "+config|set|x", "+@read|x", "+|get"] {
            assert!(AclRule::parse(bad).is_err(), "{bad}");
        }
        for ok in [
            "+config|get",
            "-acl|setuser",
            "+xinfo|stream",
            "+latency|latest",
        ] {
            AclRule::parse(ok).unwrap();
        }
    }

    #[test]
    fn image_refs_must_be_pinned() {
        ImageRef::parse("redis:7.0.15-bookworm").unwrap();
        ImageRef::parse("registry:5000/redis@sha256:abcd").unwrap();
        assert!(ImageRef::parse("redis").is_err());
        assert!(ImageRef::parse("redis:latest").is_err());
        assert!(ImageRef::parse("registry:5000/redis").is_err());
        assert!(ImageRef::parse("redis:7\ncommand: x").is_err());
    }

    #[test]
    fn memory_sizes_from_yaml_numbers_are_bytes() {
        let m: MemorySize = serde_json::from_str("268435456").unwrap();
        assert_eq!(m.bytes(), Some(256 << 20));
        assert!(serde_json::from_str::<MemorySize>("0").is_err());
        assert!(serde_json::from_str::<MemorySize>("-5").is_err());
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(MemorySize::parse("256MB").unwrap().as_str(), "256mb");
        assert_eq!(MemorySize::parse("2gb").unwrap().bytes(), Some(2 << 30));
        assert!(MemorySize::parse("0").is_err());
        assert!(MemorySize::parse("12tb").is_err());
        assert!(MemorySize::parse("mb").is_err());
        assert!(MemorySize::parse("99999999999999999999gb").is_err());
    }

    #[test]
    fn conf_paths_are_safe_unquoted_in_a_shell() {
        for ok in [
            "/srv/redis-harden/deploy/production",
            "/tmp/.tmpAbC123/out",
            "/srv/a_b.c-d+e,f:g@h=i",
            "relative/9",
        ] {
            assert_eq!(
                ConfPath::parse(ok).unwrap().join("tls/ca.crt").as_str(),
                format!("{ok}/tls/ca.crt")
            );
        }
        for (bad, named) in [
            ("/srv/my deploy", "a space"),
            ("/srv/a $(touch x)", "a space"),
            ("/srv/$(touch x)", "a '$'"),
            ("/srv/$HOME", "a '$'"),
            ("/srv/`id`", "a backtick"),
            ("/srv/a;b", "a ';'"),
            ("/srv/a'b", "a single quote"),
            ("/srv/a\"b", "a double quote"),
            ("/srv/a\\b", "a backslash"),
            ("/srv/a*", "the character '*'"),
            ("/srv/a?", "the character '?'"),
            ("/srv/[ab]", "the character '['"),
            ("~/deploy", "the character '~'"),
            ("/srv/a&b", "the character '&'"),
            ("/srv/a|b", "the character '|'"),
            ("/srv/a>b", "the character '>'"),
            ("/srv/a#b", "a '#'"),
            ("/srv/a\tb", "a tab"),
            ("/srv/a\nb", "a newline"),
            ("/srv/d\u{e9}ploiement", "the character '\u{e9}'"),
        ] {
            let err = ConfPath::parse(bad).unwrap_err();
            assert!(
                err.0.starts_with(&format!("path contains {named}: ")),
                "{bad:?}: {err}"
            );
            assert!(
                err.0
                    .contains("written unquoted into client.env, which shells source"),
                "{err}"
            );
        }
        assert!(ConfPath::parse("").is_err());
    }
}
