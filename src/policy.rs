//! The policy gate: every rendered artifact is parsed and checked against the environment's
//! built-in policy before anything is written. It judges the output, not the profile, so a
//! team template or a weakened profile value cannot slip past it.
//!
//! The checks work on any `redis.conf`, ACL file, Dragonfly flagfile or compose file, not only
//! ours, so an audit of an existing deployment can reuse them.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::profile::{self, ClientAuth, Environment, TlsProtocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not a weakness: a check that could not run, or a note for the reader.
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// A named rule. Ids are stable: `--allow-insecure ID` names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub why: &'static str,
    pub fix: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $why:literal, $fix:literal;)*) => {
        $(pub const $name: Rule = Rule { id: $id, severity: Severity::$sev, why: $why, fix: $fix };)*
        /// Every rule, for `--allow-insecure` validation and documentation.
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    PLAINTEXT_PORT = "plaintext-port", High,
        "a plaintext listener sends passwords and data unencrypted",
        "set `port 0` and serve clients on `tls-port`";
    PLAINTEXT_BIND = "plaintext-bind", High,
        "plaintext Redis reachable from the network exposes passwords and data",
        "bind the plaintext port to 127.0.0.1 / ::1 only";
    TLS_PROTOCOLS = "tls-protocols", High,
        "older TLS versions than the policy allows weaken every connection",
        "set `tls-protocols` to the versions of the environment's policy";
    TLS_AUTH_CLIENTS = "tls-auth-clients", High,
        "without client certificates anyone with a password (or a leaked one) can connect",
        "set `tls-auth-clients yes`";
    PROTECTED_MODE = "protected-mode", Medium,
        "protected mode is the last guard against an accidentally open server",
        "set `protected-mode yes`";
    DEBUG_COMMAND = "debug-command", High,
        "DEBUG can crash the server and read memory",
        "set `enable-debug-command no`";
    MODULE_COMMAND = "module-command", High,
        "MODULE LOAD runs arbitrary native code inside the server",
        "set `enable-module-command no`";
    PROTECTED_CONFIGS = "protected-configs", Medium,
        "protected configs (dir, dbfilename...) let CONFIG SET write files anywhere the server can",
        "set `enable-protected-configs no`";
    ACLFILE = "aclfile", High,
        "without an ACL file users and permissions are not under the deployment's control",
        "set `aclfile` to the bundle's users.acl";
    USER_IN_CONF = "user-in-conf", Medium,
        "Redis refuses to start with both `user` lines and an aclfile, and inline users drift",
        "move users into the ACL file";
    PASSWORD_IN_CONF = "password-in-conf", High,
        "a plaintext password in a config file is readable by anyone who can read the file",
        "use ACL users with #<sha256> hashes instead of requirepass/masterauth";
    DEFAULT_USER = "default-user", Critical,
        "an enabled default user lets unauthenticated connections run commands",
        "write `user default off` in the ACL file";
    ACL_PLAINTEXT_PASSWORD = "acl-plaintext-password", High,
        "a plaintext (>password) or missing (nopass) password in an ACL file gives the user away",
        "store passwords as #<sha256> hashes";
    APP_PERMISSIONS = "app-permissions", High,
        "an application user with dangerous, admin or scripting commands can wipe, reconfigure or script the server",
        "add -@dangerous -@admin -@scripting to the user's rules";
    BIND_ALL = "bind-all-interfaces", High,
        "listening on every interface without a firewall exposes the server to every network the host joins",
        "bind to the addresses clients use, or list firewall.app_cidrs";
    DRAGONFLY_HTTP = "dragonfly-http-console", Critical,
        "Dragonfly's HTTP console on the data port can read and change every flag, passwords included",
        "set `--primary_port_http_enabled=false`";
    DRAGONFLY_ADMIN = "dragonfly-admin-port", High,
        "the admin port bypasses ACLs",
        "remove --admin_port, or bind it to 127.0.0.1 with --admin_nopass=false";
    INCLUDE = "include-directive", High,
        "an included file adds directives this check never sees",
        "inline the settings; the whole configuration must be in the checked file";
    COMPOSE_PUBLISH = "compose-published-port", High,
        "a port published on all interfaces bypasses host firewalls (Docker inserts its own rules)",
        "publish on 127.0.0.1 only, or not at all";
    RENAME_COMMAND = "rename-command", Low,
        "a renamed command is hidden, not denied: its new name sits in the config, renaming to \"\" takes it from admins too, and renaming one an application uses (DEL, PEXPIRE) breaks it",
        "deny commands per user in the ACL file (-@dangerous -@admin -@scripting) and drop `rename-command`";
    WEAK_CIPHERS = "weak-ciphers", High,
        "a cipher list that admits NULL, anonymous, export, RC4, DES/3DES or MD5 ciphers lets a TLS connection be read or forged",
        "set `tls-ciphers` to the environment's Mozilla list (no ALL, NULL, aNULL, eNULL, EXPORT, RC4, DES, 3DES or MD5)";
    TLS_REPLICATION = "tls-replication", Medium,
        "with `tls-replication no` a replica talks to its primary in plaintext: the whole dataset and the replication password cross the network unencrypted",
        "set `tls-replication yes`";
    APP_SCRIPTING = "app-scripting", Low,
        "the application user may run Lua scripts (acl.app.scripting): scripting is how CVE-2022-0543 and CVE-2025-49844 reached the server",
        "turn acl.app.scripting off unless a client needs it (redis-py Lock, Celery, rate limiters); keep the server patched";
    MONITORING_PERMISSIONS = "monitoring-permissions", High,
        "the monitoring user's password sits in exporters and healthchecks: with key access or commands beyond INFO, LATENCY, SLOWLOG and MEMORY STATS/DOCTOR a leak of it reads data or changes the server",
        "give monitoring `resetkeys resetchannels -@all +ping +info +dbsize +latency|latest +latency|history +latency|histogram +slowlog|get +slowlog|len +client|setname +memory|stats` and nothing more";
    COMPOSE_HARDENING = "compose-hardening", High,
        "a container on the host network, privileged, with added capabilities or running as root is not confined by Docker; and a compose file that does not parse (or repeats a key) may be read differently by docker-compose than by this check",
        "drop network_mode: host, privileged, cap_add and a root `user`; write a compose file without duplicate keys";
    DRAGONFLY_UNAUTHENTICATED = "dragonfly-unauthenticated-listener", Critical,
        "Dragonfly's memcached port and unix socket skip authentication: anyone who reaches them reads and writes every key",
        "set `--memcached_port=0` and remove `--unixsocket`";
    DRAGONFLY_TLS12 = "dragonfly-tls12", Low,
        "Dragonfly has no flag to refuse TLS 1.2: the policy allows only TLS 1.3, but this server still accepts TLS 1.2 clients (with the ciphers in --tls_ciphers)",
        "keep --tls_ciphers to ECDHE with AEAD ciphers only; use Redis where TLS 1.2 must be refused";
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// One broken rule: where, what, and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub artifact: String,
    pub rule: &'static str,
    pub severity: Severity,
    /// 1-based line of the offending text, when there is one.
    pub line: Option<usize>,
    pub text: String,
    pub why: &'static str,
    pub fix: &'static str,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.line.map(|n| format!(":{n}")).unwrap_or_default();
        write!(
            f,
            "{}{at}: [{}] {:?}: {}",
            self.artifact, self.rule, self.text, self.why
        )
    }
}

/// What an environment demands, taken from its built-in policy, never from the profile.
#[derive(Debug, Clone)]
pub struct Policy {
    pub env: Environment,
    pub tls_required: bool,
    pub protocols: Vec<TlsProtocol>,
    pub client_auth: ClientAuth,
    /// Whether firewall rules restrict the data port (then binding all interfaces is allowed).
    pub firewalled: bool,
    /// Whether the server runs in a container (binding all interfaces of its own namespace
    /// is how containers work; publishing is judged in the compose file).
    pub container: bool,
}

impl Policy {
    pub fn for_env(env: Environment, firewalled: bool, container: bool) -> Self {
        let builtin = profile::builtin(env);
        Self {
            env,
            tls_required: builtin.tls.enabled,
            protocols: builtin.tls.protocols,
            client_auth: builtin.tls.client_auth,
            firewalled,
            container,
        }
    }
}

/// What kind of file an artifact is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RedisConf,
    Acl,
    DragonflyFlags,
    Compose,
    Other,
}

impl Kind {
    pub fn of(name: &str) -> Kind {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.ends_with(".conf") {
            Kind::RedisConf
        } else if base.ends_with(".acl") {
            Kind::Acl
        } else if base.ends_with(".flags") {
            Kind::DragonflyFlags
        } else if base.contains("compose") && (base.ends_with(".yml") || base.ends_with(".yaml")) {
            Kind::Compose
        } else {
            Kind::Other
        }
    }

    /// The kind a file's content shows, when it is unambiguous: every line a `--flag` (a
    /// Dragonfly flagfile), every line a `user` rule (an ACL file), or a top-level
    /// `services:` (a compose file). A name says less: Debian's `/etc/redis/redis.conf` is a
    /// redis.conf, but a flagfile may be called `dragonfly.conf`.
    pub fn sniff(content: &str) -> Option<Kind> {
        let lines: Vec<&str> = content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if content.lines().any(|l| l.trim_end() == "services:") {
            return Some(Kind::Compose);
        }
        let first_word = |l: &&str| {
            l.split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        if lines.is_empty() {
            None
        } else if lines.iter().all(|l| l.starts_with("--")) {
            Some(Kind::DragonflyFlags)
        } else if lines.iter().all(|l| first_word(l) == "user") {
            Some(Kind::Acl)
        } else {
            None
        }
    }

    /// The comment prefix, for files that can carry a comment.
    pub fn comment(self) -> Option<&'static str> {
        match self {
            Kind::RedisConf | Kind::DragonflyFlags | Kind::Compose => Some("#"),
            Kind::Acl | Kind::Other => None,
        }
    }
}

/// Checks one artifact. `name` decides how it is parsed.
pub fn check(name: &str, content: &str, policy: &Policy) -> Vec<Finding> {
    check_as(Kind::of(name), name, content, policy)
}

/// Checks one artifact parsed as `kind`, whatever its name says.
pub fn check_as(kind: Kind, name: &str, content: &str, policy: &Policy) -> Vec<Finding> {
    check_bytes_as(kind, name, content.as_bytes(), policy)
}

/// Checks one artifact from its bytes, as read from disk. A redis.conf is parsed byte for
/// byte the way Redis reads it (a `\xHH` escape or a NUL byte must not be lost to UTF-8
/// decoding); the other kinds are text.
pub fn check_bytes_as(kind: Kind, name: &str, content: &[u8], policy: &Policy) -> Vec<Finding> {
    let mut out = Findings {
        artifact: name,
        list: vec![],
    };
    let text = || String::from_utf8_lossy(content);
    match kind {
        Kind::RedisConf => check_redis_conf(content, policy, &mut out),
        Kind::Acl => check_acl(&text(), &mut out),
        Kind::DragonflyFlags => check_dragonfly_flags(&text(), policy, &mut out),
        Kind::Compose => check_compose(&text(), &mut out),
        Kind::Other => {}
    }
    out.list
}

struct Findings<'a> {
    artifact: &'a str,
    list: Vec<Finding>,
}

impl Findings<'_> {
    fn add(&mut self, rule: Rule, line: Option<usize>, text: &str) {
        self.list.push(Finding {
            artifact: self.artifact.to_owned(),
            rule: rule.id,
            severity: rule.severity,
            line,
            text: text.trim().to_owned(),
            why: rule.why,
            fix: rule.fix,
        });
    }
}

/// One directive of a redis.conf: its line, raw text, lowercase name and arguments.
#[derive(Debug, Clone)]
pub struct Directive {
    pub line: usize,
    pub raw: String,
    pub name: String,
    /// Each argument after unquoting and unescaping, UTF-8 decoded lossily (an argument
    /// that is not UTF-8 keeps its ASCII bytes, which is all the checks compare).
    pub args: Vec<String>,
}

/// Parses redis.conf the way Redis 7.0 does; see [`parse_redis_conf_bytes`].
pub fn parse_redis_conf(content: &str) -> Vec<Directive> {
    parse_redis_conf_bytes(content.as_bytes())
}

/// Parses redis.conf exactly the way Redis 7.0's `loadServerConfig` does: the file is read
/// with `fgets` in chunks of at most 1024 bytes, each cut at its first NUL byte (`sdscat`
/// takes a C string); the result is split on `\n`; each line is trimmed of " \t\r\n" and
/// skipped when empty or starting with '#'; the rest is split with `sdssplitargs`
/// ([`split_args`]) and the directive name lowercased. A line `sdssplitargs` refuses
/// (unbalanced quotes, a closing quote not followed by a space) makes Redis refuse to start:
/// it configures nothing, so it is skipped here.
pub fn parse_redis_conf_bytes(content: &[u8]) -> Vec<Directive> {
    redis_config_text(content)
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            let trimmed = trim_bytes(raw, b" \t\r\n");
            if trimmed.is_empty() || trimmed[0] == b'#' {
                return None;
            }
            let mut args = split_args(trimmed)?;
            if args.is_empty() {
                return None;
            }
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let name = lossy(&args.remove(0)).to_ascii_lowercase();
            Some(Directive {
                line: i + 1,
                raw: lossy(raw),
                name,
                args: args.iter().map(|a| lossy(a)).collect(),
            })
        })
        .collect()
}

/// The bytes Redis 7.0 keeps of a config file: `fgets` into a 1025-byte buffer (so at most
/// 1024 bytes, or up to and including a newline, per call), each chunk appended with
/// `sdscat`, which stops at the chunk's first NUL byte.
fn redis_config_text(content: &[u8]) -> Vec<u8> {
    const CONFIG_READ_LEN: usize = 1024;
    let mut out = Vec::with_capacity(content.len());
    let mut rest = content;
    while !rest.is_empty() {
        let newline = rest.iter().take(CONFIG_READ_LEN).position(|&b| b == b'\n');
        let len = newline.map_or(rest.len().min(CONFIG_READ_LEN), |n| n + 1);
        let (chunk, tail) = rest.split_at(len);
        let kept = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
        out.extend_from_slice(&chunk[..kept]);
        rest = tail;
    }
    out
}

/// `sdstrim`: removes any of `set` from both ends.
fn trim_bytes<'a>(mut s: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let [first, rest @ ..] = s
        && set.contains(first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && set.contains(last)
    {
        s = rest;
    }
    s
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis 7.0's `sdssplitargs`, byte for byte. Arguments are separated by whitespace; a `"` or
/// `'` anywhere in an argument starts a quoted section (`p"ort"` is `port`). Inside double
/// quotes `\xHH` is a byte and `\n \r \t \b \a` the usual control characters, any other `\c`
/// is `c`; inside single quotes only `\'` is an escape. A closing quote must be followed by
/// whitespace or the end of the line, and every quote must close: otherwise `None`, and Redis
/// refuses the line. The line is a C string: it ends at a NUL byte.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    // Past the end reads as the C string's terminating NUL.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = vec![];
    let mut i = 0;
    loop {
        while is_c_space(at(i)) {
            i += 1;
        }
        if at(i) == 0 {
            return Some(out);
        }
        let mut cur = vec![];
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            if in_double {
                if let (b'\\', b'x', Some(hi), Some(lo)) =
                    (c, at(i + 1), hex(at(i + 2)), hex(at(i + 3)))
                {
                    cur.push(hi * 16 + lo);
                    i += 3;
                } else if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    cur.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return None;
                    }
                    i += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    0 => break,
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        i += 1;
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn last<'a>(ds: &'a [Directive], name: &str) -> Option<&'a Directive> {
    ds.iter().rev().find(|d| d.name == name)
}

fn check_redis_conf(content: &[u8], p: &Policy, f: &mut Findings<'_>) {
    let ds = parse_redis_conf_bytes(content);
    let port = last(&ds, "port");
    let tls_port = last(&ds, "tls-port").filter(|d| d.args.first().is_some_and(|a| a != "0"));
    let bind = last(&ds, "bind");
    let plaintext_open = port.is_none_or(|d| d.args.first().is_none_or(|a| a != "0"));

    if p.tls_required && plaintext_open {
        match port {
            Some(d) => f.add(PLAINTEXT_PORT, Some(d.line), &d.raw),
            None => f.add(
                PLAINTEXT_PORT,
                None,
                "no `port` directive: Redis listens in plaintext on 6379",
            ),
        }
    }
    let bind_addrs: Vec<&str> =
        bind.map_or(vec![], |d| d.args.iter().map(String::as_str).collect());
    let is_loopback = |a: &str| {
        let a = a.trim_start_matches('-');
        a == "localhost"
            || a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    if !p.tls_required
        && plaintext_open
        && (bind.is_none() || !bind_addrs.iter().all(|a| is_loopback(a)))
    {
        match bind {
            Some(d) => f.add(PLAINTEXT_BIND, Some(d.line), &d.raw),
            None => f.add(
                PLAINTEXT_BIND,
                None,
                "no `bind` directive: Redis listens on every interface",
            ),
        }
    }
    let all_interfaces = |a: &str| {
        let a = a.trim_start_matches('-');
        matches!(a, "*" | "::*")
            || a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
    };
    if !p.firewalled && !p.container {
        match bind {
            Some(d) if bind_addrs.iter().any(|a| all_interfaces(a)) => {
                f.add(BIND_ALL, Some(d.line), &d.raw)
            }
            None => f.add(
                BIND_ALL,
                None,
                "no `bind` directive: Redis listens on every interface",
            ),
            _ => {}
        }
    }
    if p.tls_required {
        let allowed: Vec<&str> = p.protocols.iter().map(|v| v.name()).collect();
        match last(&ds, "tls-protocols") {
            Some(d) => {
                let listed: Vec<&str> = d.args.iter().flat_map(|a| a.split_whitespace()).collect();
                // An empty value means "unset" to Redis: TLSv1.2 and TLSv1.3.
                let listed = if listed.is_empty() {
                    vec!["TLSv1.2", "TLSv1.3"]
                } else {
                    listed
                };
                if listed
                    .iter()
                    .any(|v| !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
                {
                    f.add(TLS_PROTOCOLS, Some(d.line), &d.raw);
                }
            }
            // Without a TLS listener the default does not matter: plaintext-port says why.
            None if tls_port.is_some()
                && (!allowed.contains(&"TLSv1.2") || !allowed.contains(&"TLSv1.3")) =>
            {
                f.add(
                    TLS_PROTOCOLS,
                    None,
                    "no `tls-protocols` directive: Redis allows TLSv1.2 and TLSv1.3",
                )
            }
            None => {}
        }
        let auth = last(&ds, "tls-auth-clients");
        let value = auth
            .and_then(|d| d.args.first())
            .map_or("yes", String::as_str)
            .to_ascii_lowercase();
        let ok = match p.client_auth {
            ClientAuth::Required => value == "yes",
            ClientAuth::Optional => value == "yes" || value == "optional",
            ClientAuth::Off => true,
        };
        if !ok && let Some(d) = auth {
            f.add(TLS_AUTH_CLIENTS, Some(d.line), &d.raw);
        }
        if let Some(d) = last(&ds, "tls-ciphers")
            && d.args.first().is_some_and(|a| weak_cipher_list(a))
        {
            f.add(WEAK_CIPHERS, Some(d.line), &d.raw);
        }
        // Redis's default is `no`, but a replica of a TLS-only primary (port 0) cannot
        // connect in plaintext: only an explicit `no` beside a plaintext port leaks.
        if let Some(d) = last(&ds, "tls-replication")
            .filter(|d| d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("no")))
        {
            f.add(TLS_REPLICATION, Some(d.line), &d.raw);
        }
    } else if let Some(d) = last(&ds, "tls-protocols") {
        // TLS is optional here, but where it is used TLSv1 and TLSv1.1 are broken.
        let old = |v: &str| v.eq_ignore_ascii_case("TLSv1") || v.eq_ignore_ascii_case("TLSv1.1");
        if d.args.iter().flat_map(|a| a.split_whitespace()).any(old) {
            f.add(TLS_PROTOCOLS, Some(d.line), &d.raw);
        }
    }
    if let Some(d) = last(&ds, "protected-mode")
        .filter(|d| d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("no")))
    {
        f.add(PROTECTED_MODE, Some(d.line), &d.raw);
    }
    for (name, rule) in [
        ("enable-debug-command", DEBUG_COMMAND),
        ("enable-module-command", MODULE_COMMAND),
        ("enable-protected-configs", PROTECTED_CONFIGS),
    ] {
        if let Some(d) =
            last(&ds, name).filter(|d| d.args.first().is_none_or(|a| !a.eq_ignore_ascii_case("no")))
        {
            f.add(rule, Some(d.line), &d.raw);
        }
    }
    match last(&ds, "aclfile") {
        None => f.add(ACLFILE, None, "no `aclfile` directive"),
        // An empty aclfile is no ACL file: the default user stays `on nopass`.
        Some(d) if d.args.first().is_none_or(|a| a.trim().is_empty()) => {
            f.add(ACLFILE, Some(d.line), &d.raw)
        }
        Some(_) => {}
    }
    for d in ds.iter().filter(|d| d.name == "include") {
        f.add(INCLUDE, Some(d.line), &d.raw);
    }
    for d in ds.iter().filter(|d| d.name == "loadmodule") {
        // Module arguments may hold credentials: show only the path.
        let path = d.args.first().map_or("", String::as_str);
        let more = if d.args.len() > 1 {
            " <arguments redacted>"
        } else {
            ""
        };
        f.add(
            MODULE_COMMAND,
            Some(d.line),
            &format!("loadmodule {}{more}", crate::values::visible(path)),
        );
    }
    for d in ds.iter().filter(|d| d.name == "user") {
        // The arguments as Redis parsed them: `">hunter2"` is the password hunter2.
        let shown = redact_user_args("user", &d.args);
        f.add(USER_IN_CONF, Some(d.line), &shown);
        if let Some((name, rules)) = d.args.split_first() {
            check_user(f, Some(d.line), name, rules, &shown);
        }
    }
    for d in ds.iter().filter(|d| d.name == "rename-command") {
        // A non-empty new name is meant to be secret: never print it.
        let (cmd, to) = (d.args.first().map_or("", String::as_str), d.args.get(1));
        let shown = match to {
            Some(to) if to.is_empty() => format!("rename-command {cmd} \"\""),
            _ => format!("rename-command {cmd} <redacted>"),
        };
        f.add(RENAME_COMMAND, Some(d.line), &shown);
    }
    for d in ds
        .iter()
        .filter(|d| d.name == "requirepass" || d.name == "masterauth")
    {
        if d.args.first().is_some_and(|a| !a.is_empty()) {
            f.add(
                PASSWORD_IN_CONF,
                Some(d.line),
                &format!("{} <redacted>", d.name),
            );
        }
    }
}

/// An ACL user (name and rules) as a `user` line with any plaintext password replaced, so
/// findings never print a secret. Control characters are escaped.
fn redact_user_args<S: AsRef<str>>(keyword: &str, args: &[S]) -> String {
    let shown: Vec<&str> = args
        .iter()
        .map(|t| {
            let t = t.as_ref();
            if t.starts_with('>') || t.starts_with('<') {
                ">…"
            } else {
                t
            }
        })
        .collect();
    crate::values::visible(&format!("{keyword} {}", shown.join(" ")))
}

/// Whether an OpenSSL cipher list (TLS 1.2 and older) admits a weak cipher: an element that
/// adds ciphers (not `!X`, `-X` or `+X`, which remove or reorder) naming ALL or COMPLEMENTOF*,
/// or with a NULL, aNULL, eNULL, EXPORT, RC4, DES, 3DES or MD5 component (`RC4-MD5`,
/// `DES-CBC3-SHA`, `aNULL+AES`, `EXP-...`, `ADH-...`, `AECDH-...`).
fn weak_cipher_list(list: &str) -> bool {
    const WEAK: &[&str] = &[
        "NULL",
        "ANULL",
        "ENULL",
        "EXPORT",
        "EXP",
        "RC4",
        "DES",
        "3DES",
        "MD5",
        "ADH",
        "AECDH",
        "EXPORT40",
        "EXPORT56",
        "EXPORT1024",
        "EXP1024",
    ];
    list.split([':', ',', ' ', ';'])
        .filter(|e| !e.is_empty() && !e.starts_with(['!', '-', '+']))
        .any(|element| {
            let upper = element.to_ascii_uppercase();
            upper == "ALL"
                || upper.starts_with("COMPLEMENTOF")
                || upper
                    .split(['+', '-', '_'])
                    .any(|word| word == "ALL" || WEAK.contains(&word))
        })
}

/// Every Redis 7.0.15 command and subcommand in @dangerous, @admin or @scripting, with all of
/// its categories (from `ACL CAT`; a live test compares this table with the real server).
/// Categories overlap, so `-@dangerous +@slow` grants CONFIG SET again: rules are replayed per
/// command, not per category.
pub const FORBIDDEN_FOR_APPS: &[(&str, &[&str])] = &[
    ("acl|deluser", &["admin", "dangerous", "slow"]),
    ("acl|dryrun", &["admin", "dangerous", "slow"]),
    ("acl|getuser", &["admin", "dangerous", "slow"]),
    ("acl|list", &["admin", "dangerous", "slow"]),
    ("acl|load", &["admin", "dangerous", "slow"]),
    ("acl|log", &["admin", "dangerous", "slow"]),
    ("acl|save", &["admin", "dangerous", "slow"]),
    ("acl|setuser", &["admin", "dangerous", "slow"]),
    ("acl|users", &["admin", "dangerous", "slow"]),
    ("bgrewriteaof", &["admin", "dangerous", "slow"]),
    ("bgsave", &["admin", "dangerous", "slow"]),
    ("client|kill", &["admin", "connection", "dangerous", "slow"]),
    ("client|list", &["admin", "connection", "dangerous", "slow"]),
    (
        "client|no-evict",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|pause",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|unblock",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|unpause",
        &["admin", "connection", "dangerous", "slow"],
    ),
    ("cluster|addslots", &["admin", "dangerous", "slow"]),
    ("cluster|addslotsrange", &["admin", "dangerous", "slow"]),
    ("cluster|bumpepoch", &["admin", "dangerous", "slow"]),
    (
        "cluster|count-failure-reports",
        &["admin", "dangerous", "slow"],
    ),
    ("cluster|delslots", &["admin", "dangerous", "slow"]),
    ("cluster|delslotsrange", &["admin", "dangerous", "slow"]),
    ("cluster|failover", &["admin", "dangerous", "slow"]),
    ("cluster|flushslots", &["admin", "dangerous", "slow"]),
    ("cluster|forget", &["admin", "dangerous", "slow"]),
    ("cluster|meet", &["admin", "dangerous", "slow"]),
    ("cluster|replicas", &["admin", "dangerous", "slow"]),
    ("cluster|replicate", &["admin", "dangerous", "slow"]),
    ("cluster|reset", &["admin", "dangerous", "slow"]),
    ("cluster|saveconfig", &["admin", "dangerous", "slow"]),
    ("cluster|set-config-epoch", &["admin", "dangerous", "slow"]),
    ("cluster|setslot", &["admin", "dangerous", "slow"]),
    ("cluster|slaves", &["admin", "dangerous", "slow"]),
    ("config|get", &["admin", "dangerous", "slow"]),
    ("config|resetstat", &["admin", "dangerous", "slow"]),
    ("config|rewrite", &["admin", "dangerous", "slow"]),
    ("config|set", &["admin", "dangerous", "slow"]),
    ("debug", &["admin", "dangerous", "slow"]),
    ("eval", &["scripting", "slow"]),
    ("eval_ro", &["scripting", "slow"]),
    ("evalsha", &["scripting", "slow"]),
    ("evalsha_ro", &["scripting", "slow"]),
    ("failover", &["admin", "dangerous", "slow"]),
    ("fcall", &["scripting", "slow"]),
    ("fcall_ro", &["scripting", "slow"]),
    ("flushall", &["dangerous", "keyspace", "slow", "write"]),
    ("flushdb", &["dangerous", "keyspace", "slow", "write"]),
    ("function|delete", &["scripting", "slow", "write"]),
    ("function|dump", &["scripting", "slow"]),
    ("function|flush", &["scripting", "slow", "write"]),
    ("function|help", &["scripting", "slow"]),
    ("function|kill", &["scripting", "slow"]),
    ("function|list", &["scripting", "slow"]),
    ("function|load", &["scripting", "slow", "write"]),
    ("function|restore", &["scripting", "slow", "write"]),
    ("function|stats", &["scripting", "slow"]),
    ("info", &["dangerous", "slow"]),
    ("keys", &["dangerous", "keyspace", "read", "slow"]),
    ("lastsave", &["admin", "dangerous", "fast"]),
    ("latency|doctor", &["admin", "dangerous", "slow"]),
    ("latency|graph", &["admin", "dangerous", "slow"]),
    ("latency|histogram", &["admin", "dangerous", "slow"]),
    ("latency|history", &["admin", "dangerous", "slow"]),
    ("latency|latest", &["admin", "dangerous", "slow"]),
    ("latency|reset", &["admin", "dangerous", "slow"]),
    ("migrate", &["dangerous", "keyspace", "slow", "write"]),
    ("module|list", &["admin", "dangerous", "slow"]),
    ("module|load", &["admin", "dangerous", "slow"]),
    ("module|loadex", &["admin", "dangerous", "slow"]),
    ("module|unload", &["admin", "dangerous", "slow"]),
    ("monitor", &["admin", "dangerous", "slow"]),
    (
        "pfdebug",
        &["admin", "dangerous", "hyperloglog", "slow", "write"],
    ),
    ("pfselftest", &["admin", "dangerous", "hyperloglog", "slow"]),
    ("psync", &["admin", "dangerous", "slow"]),
    ("replconf", &["admin", "dangerous", "slow"]),
    ("replicaof", &["admin", "dangerous", "slow"]),
    ("restore", &["dangerous", "keyspace", "slow", "write"]),
    (
        "restore-asking",
        &["dangerous", "keyspace", "slow", "write"],
    ),
    ("role", &["admin", "dangerous", "fast"]),
    ("save", &["admin", "dangerous", "slow"]),
    ("script|debug", &["scripting", "slow"]),
    ("script|exists", &["scripting", "slow"]),
    ("script|flush", &["scripting", "slow"]),
    ("script|help", &["scripting", "slow"]),
    ("script|kill", &["scripting", "slow"]),
    ("script|load", &["scripting", "slow"]),
    ("shutdown", &["admin", "dangerous", "slow"]),
    ("slaveof", &["admin", "dangerous", "slow"]),
    ("slowlog|get", &["admin", "dangerous", "slow"]),
    ("slowlog|len", &["admin", "dangerous", "slow"]),
    ("slowlog|reset", &["admin", "dangerous", "slow"]),
    (
        "sort",
        &["dangerous", "list", "set", "slow", "sortedset", "write"],
    ),
    (
        "sort_ro",
        &["dangerous", "list", "read", "set", "slow", "sortedset"],
    ),
    ("swapdb", &["dangerous", "fast", "keyspace", "write"]),
    ("sync", &["admin", "dangerous", "slow"]),
];

fn check_acl(content: &str, f: &mut Findings<'_>) {
    let mut saw_default = false;
    for (i, raw) in content.lines().enumerate() {
        // Redis splits ACL file lines on spaces (no quoting: `"+@all"` is a syntax error that
        // makes it refuse the whole file); Dragonfly on whitespace.
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.len() < 2 || !tokens[0].eq_ignore_ascii_case("user") {
            continue;
        }
        let (name, rules) = (tokens[1], &tokens[2..]);
        saw_default |= name == "default";
        check_user(
            f,
            Some(i + 1),
            name,
            rules,
            &redact_user_args(tokens[0], &tokens[1..]),
        );
    }
    if !saw_default {
        f.add(
            DEFAULT_USER,
            None,
            "no `user default` line: Redis and Dragonfly create default as `on nopass +@all`",
        );
    }
}

/// The checks of one ACL user, from an ACL file or a `user` line of redis.conf. `shown` is
/// the line with its passwords redacted.
fn check_user<S: AsRef<str>>(
    f: &mut Findings<'_>,
    line: Option<usize>,
    name: &str,
    rules: &[S],
    shown: &str,
) {
    // Keywords, commands and categories are case-insensitive; user names are not.
    let rules: Vec<String> = rules
        .iter()
        .map(|t| t.as_ref().to_ascii_lowercase())
        .collect();
    let on = rules.iter().fold(false, |on, r| match r.as_str() {
        "on" => true,
        "off" | "reset" => false,
        _ => on,
    });
    if rules.iter().any(|r| r.starts_with('>') || r == "nopass") {
        f.add(ACL_PLAINTEXT_PASSWORD, line, shown);
    }
    if name == "default" && on {
        f.add(DEFAULT_USER, line, shown);
    }
    if !on {
        return;
    }
    if name == "monitoring" {
        if !monitoring_confined(&rules) {
            f.add(MONITORING_PERMISSIONS, line, shown);
        }
    } else if is_confined_user(name) {
        if grants_forbidden(&rules, app_scripting_command) {
            f.add(APP_PERMISSIONS, line, shown);
        } else if grants_forbidden(&rules, |_| false) {
            f.add(APP_SCRIPTING, line, shown);
        }
    }
}

/// Users whose permissions must stay confined: the application user and any extra user.
/// (`monitoring` is confined more tightly, by [`monitoring_confined`].)
fn is_confined_user(name: &str) -> bool {
    !matches!(name, "default" | "admin" | "monitoring")
}

/// The forbidden-table commands the monitoring user may run: what a metrics exporter and a
/// healthcheck read (Dragonfly's ACL file grants `+latency +slowlog` whole: it has no
/// subcommand rules).
fn monitoring_may_run(cmd: &str) -> bool {
    cmd.starts_with("latency|")
        || matches!(
            cmd,
            "info"
                | "slowlog|get"
                | "slowlog|len"
                | "slowlog|reset"
                | "memory|stats"
                | "memory|doctor"
        )
}

/// Whether the monitoring user's rules, replayed in order, leave it without key or channel
/// access, without selectors, and with no forbidden-table command but those it needs.
fn monitoring_confined(rules: &[String]) -> bool {
    let keys = rules.iter().fold(false, |keys, r| match r.as_str() {
        "allkeys" => true,
        "resetkeys" | "reset" => false,
        r if r.starts_with('~') || (r.starts_with('%') && r.contains('~')) => true,
        _ => keys,
    });
    let channels = rules.iter().fold(false, |channels, r| match r.as_str() {
        "allchannels" => true,
        "resetchannels" | "reset" => false,
        r if r.starts_with('&') => true,
        _ => channels,
    });
    let selectors = rules.iter().any(|r| r.starts_with('('));
    !keys
        && !channels
        && !selectors
        && FORBIDDEN_FOR_APPS
            .iter()
            .all(|(cmd, cats)| monitoring_may_run(cmd) || !grants(rules, cmd, cats))
}

/// Replays a user's command rules in order, for every dangerous, admin or scripting command,
/// and reports whether any of them ends up allowed. Selectors (`(...)`) add permissions of
/// their own, so an application user may not have any.
fn grants_forbidden(rules: &[String], except: fn(&str) -> bool) -> bool {
    rules.iter().any(|r| r.starts_with('('))
        || FORBIDDEN_FOR_APPS
            .iter()
            .any(|(cmd, cats)| !except(cmd) && grants(rules, cmd, cats))
}

/// What `acl.app.scripting` grants: running Lua scripts, nothing that manages them
/// server-wide (FUNCTION, SCRIPT FLUSH/KILL/DEBUG).
fn app_scripting_command(cmd: &str) -> bool {
    matches!(
        cmd,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "script|load" | "script|exists"
    )
}

/// Whether `rules` (lowercase), replayed in order as Redis 7.0's ACL SETUSER does, leave the
/// forbidden-table entry `cmd` (`flushall`, `config|set`) with its categories allowed.
///
/// `+X|Y` where X has subcommands grants just that subcommand. Where X has none (FLUSHALL,
/// SHUTDOWN, REPLICAOF...), `+X|Y` is a "first-arg" rule: Redis 7.0 accepts it (with a
/// deprecation warning) and lets the user run X with first argument Y, so `+flushall|async`
/// grants FLUSHALL. `-X|Y` is then an error Redis refuses, and revokes nothing.
fn grants(rules: &[String], cmd: &str, cats: &[&str]) -> bool {
    let (base, has_sub) = match cmd.split_once('|') {
        Some((base, _)) => (base, true),
        None => (cmd, false),
    };
    rules.iter().fold(false, |allowed, r| match r.as_str() {
        "allcommands" | "+@all" => true,
        "nocommands" | "-@all" | "reset" => false,
        _ => {
            let Some((plus, body)) = r
                .strip_prefix('+')
                .map(|b| (true, b))
                .or_else(|| r.strip_prefix('-').map(|b| (false, b)))
            else {
                return allowed;
            };
            let hit = match (body.strip_prefix('@'), body.split_once('|')) {
                (Some(cat), _) => cats.contains(&cat),
                // `+config` grants every CONFIG subcommand; `-flushall` revokes FLUSHALL and
                // every first-arg rule of it.
                (None, None) => body == base,
                // `+config|set` grants just that one.
                (None, Some(_)) if has_sub => body == cmd,
                // `+flushall|async`: a first-arg rule grants the command; `-flushall|async`
                // is refused by Redis and changes nothing.
                (None, Some((b, first_arg))) => plus && b == base && !first_arg.is_empty(),
            };
            if hit { plus } else { allowed }
        }
    })
}

/// The boolean flags Dragonfly v1.40 defines (from `dragonfly-flags.tsv`): absl reads
/// `--noX` as `--X=false` only for these, and only when no flag is named `noX` itself.
fn dragonfly_bool_flag(name: &str) -> bool {
    const TSV: &str = include_str!("dragonfly-flags.tsv");
    TSV.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?, cols.next()?))
        })
        .any(|(n, ty)| n == name && ty == "bool")
}

fn dragonfly_flag_exists(name: &str) -> bool {
    const TSV: &str = include_str!("dragonfly-flags.tsv");
    TSV.lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.split('\t').next() == Some(name))
}

/// An absl boolean: true/false, t/f, yes/no, y/n, 1/0, any case, surrounding whitespace
/// ignored. `None` for anything else (absl refuses it, and Dragonfly does not start).
fn absl_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// An absl integer: decimal or `0x` hex, with an optional sign, surrounding whitespace
/// ignored.
fn absl_int(v: &str) -> Option<i64> {
    let t = v.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok()?,
        None => return None,
    };
    Some(if negative { -n } else { n })
}

/// One flag of a Dragonfly flagfile, as absl reads it.
struct Flag<'a> {
    line: usize,
    name: String,
    /// The text after `=`; `None` for a bare `--name` (a boolean set to true).
    value: Option<String>,
    raw: &'a str,
}

impl Flag<'_> {
    /// The value as a boolean: a bare `--name` is true.
    fn bool(&self) -> Option<bool> {
        self.value.as_deref().map_or(Some(true), absl_bool)
    }
    fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// Parses a flagfile the way absl does: each line that is not empty or a `#` comment is one
/// `--name=value`, `--name` or `--noname` (`-` works as well as `--`); the last of a name
/// wins.
fn parse_dragonfly_flags(content: &str) -> Vec<Flag<'_>> {
    let mut flags = vec![];
    for (i, raw) in content.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        // A line without a leading '-' is an error: Dragonfly does not start.
        let Some(body) = t.strip_prefix("--").or_else(|| t.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let (name, value) = match name.strip_prefix("no") {
            Some(negated)
                if value.is_none()
                    && !dragonfly_flag_exists(name)
                    && dragonfly_bool_flag(negated) =>
            {
                (negated, Some("false".to_owned()))
            }
            _ => (name, value),
        };
        flags.push(Flag {
            line: i + 1,
            name: name.to_owned(),
            value,
            raw,
        });
    }
    flags
}

fn check_dragonfly_flags(content: &str, p: &Policy, f: &mut Findings<'_>) {
    let flags = parse_dragonfly_flags(content);
    let get = |name: &str| flags.iter().rev().find(|fl| fl.name == name);
    match get("primary_port_http_enabled") {
        Some(fl) if fl.bool() == Some(false) => {}
        Some(fl) => f.add(DRAGONFLY_HTTP, Some(fl.line), fl.raw),
        None => f.add(
            DRAGONFLY_HTTP,
            None,
            "no --primary_port_http_enabled=false: the HTTP console is on by default",
        ),
    }
    if let Some(fl) = get("admin_port").filter(|fl| absl_int(fl.value()) != Some(0)) {
        let loopback = get("admin_bind").is_some_and(|b| {
            let v = b.value().trim();
            v == "localhost" || v.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        let nopass = get("admin_nopass").is_some_and(|n| n.bool() != Some(false));
        if !loopback || nopass {
            f.add(DRAGONFLY_ADMIN, Some(fl.line), fl.raw);
        }
    }
    // Listeners that never ask for a password.
    if let Some(fl) = get("memcached_port").filter(|fl| absl_int(fl.value()) != Some(0)) {
        f.add(DRAGONFLY_UNAUTHENTICATED, Some(fl.line), fl.raw);
    }
    if let Some(fl) = get("unixsocket").filter(|fl| !fl.value().trim().is_empty()) {
        f.add(DRAGONFLY_UNAUTHENTICATED, Some(fl.line), fl.raw);
    }
    if !p.firewalled
        && !p.container
        && let Some(fl) = get("bind")
    {
        let v = fl
            .value()
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if v.is_empty() || v.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
            f.add(BIND_ALL, Some(fl.line), fl.raw);
        }
    }
    // More flags from another file, or from the environment (absl's --fromenv).
    for fl in flags
        .iter()
        .filter(|fl| matches!(fl.name.as_str(), "flagfile" | "fromenv" | "tryfromenv"))
    {
        f.add(INCLUDE, Some(fl.line), fl.raw);
    }
    if let Some(fl) = get("requirepass").filter(|fl| !fl.value().is_empty()) {
        f.add(PASSWORD_IN_CONF, Some(fl.line), "--requirepass=<redacted>");
    }
    let tls_flag = get("tls");
    let tls = tls_flag.is_some_and(|fl| fl.bool() == Some(true));
    if p.tls_required && !tls {
        match tls_flag {
            Some(fl) => f.add(PLAINTEXT_PORT, Some(fl.line), fl.raw),
            None => f.add(
                PLAINTEXT_PORT,
                None,
                "no --tls: Dragonfly serves plaintext on its port",
            ),
        }
    }
    // Dragonfly has no "optional": a CA file makes client certificates mandatory.
    let ca = get("tls_ca_cert_file").is_some_and(|fl| !fl.value().trim().is_empty());
    if tls && p.tls_required && p.client_auth == ClientAuth::Required && !ca {
        f.add(
            TLS_AUTH_CLIENTS,
            None,
            "no --tls_ca_cert_file: Dragonfly accepts clients without a certificate",
        );
    }
    // Dragonfly has no protocol flag: a TLS 1.3-only policy cannot be enforced, only noted.
    if tls
        && p.protocols.contains(&TlsProtocol::Tls13)
        && !p.protocols.contains(&TlsProtocol::Tls12)
        && let Some(fl) = tls_flag
    {
        f.add(DRAGONFLY_TLS12, Some(fl.line), fl.raw);
    }
    if get("aclfile").is_none_or(|fl| fl.value().trim().is_empty()) {
        f.add(ACLFILE, None, "no --aclfile flag");
    }
}

/// The 1-based line of `key:` under the service `service` of a compose file, or the first
/// line that mentions `key`.
fn compose_line(content: &str, service: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = content.lines().collect();
    let is_key = |l: &str, k: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        let t = t.trim_matches(|c| c == '"' || c == '\'');
        t.starts_with(k)
            && t[k.len()..]
                .trim_start_matches(['"', '\''])
                .starts_with(':')
    };
    let start = lines.iter().position(|l| is_key(l, service)).unwrap_or(0);
    lines[start..]
        .iter()
        .position(|l| is_key(l, key))
        .map(|i| start + i + 1)
        .or_else(|| lines.iter().position(|l| l.contains(key)).map(|i| i + 1))
}

fn check_compose(content: &str, f: &mut Findings<'_>) {
    // docker-compose's parser and ours must read the same document: refuse what they might
    // read differently (duplicate keys: one may keep the first, the other the last).
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let doc = match serde_saphyr::from_str_with_options::<serde_json::Value>(content, options) {
        Ok(doc) => doc,
        Err(e) => {
            // Not the parser's message: it may quote the file, secrets included.
            let line = e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .filter(|&n| n > 0);
            f.add(
                COMPOSE_HARDENING,
                line,
                "the file does not parse as one YAML document with unique keys: it cannot be checked",
            );
            return;
        }
    };
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else {
        return;
    };
    for (name, svc) in services {
        check_compose_service(content, name, svc, f);
        // Published ports: "HOST:CONTAINER", "IP:HOST:CONTAINER", or the long syntax.
        for port in svc
            .get("ports")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let (text, host_ip) = match port {
                serde_json::Value::String(s) => (s.clone(), short_syntax_host_ip(s)),
                serde_json::Value::Number(n) => (n.to_string(), None),
                serde_json::Value::Object(o) => (
                    serde_json::Value::Object(o.clone()).to_string(),
                    o.get("host_ip").and_then(|v| v.as_str()).map(str::to_owned),
                ),
                _ => continue,
            };
            let open = host_ip
                .as_deref()
                .is_none_or(|ip| matches!(ip, "0.0.0.0" | "::" | "[::]" | ""));
            if open {
                let line = content
                    .lines()
                    .position(|l| l.contains(text.as_str()))
                    .map(|i| i + 1);
                f.add(
                    COMPOSE_PUBLISH,
                    line,
                    &format!("services.{name}.ports: {text}"),
                );
            }
        }
    }
}

/// What takes a container out of Docker's confinement: the host's network namespace,
/// privileged mode, added capabilities, root.
fn check_compose_service(content: &str, name: &str, svc: &serde_json::Value, f: &mut Findings<'_>) {
    use serde_json::Value;
    let truthy = |v: &Value| match v {
        Value::Bool(b) => *b,
        Value::String(s) => absl_bool(s) == Some(true) || s.eq_ignore_ascii_case("on"),
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    };
    let mut flag = |key: &str, shown: String| {
        f.add(
            COMPOSE_HARDENING,
            compose_line(content, name, key),
            &format!("services.{name}.{key}: {}", crate::values::visible(&shown)),
        );
    };
    if let Some(mode) = svc.get("network_mode").and_then(Value::as_str)
        && mode.trim() == "host"
    {
        flag("network_mode", mode.to_owned());
    }
    if let Some(v) = svc.get("privileged").filter(|v| truthy(v)) {
        flag("privileged", v.to_string());
    }
    let added = match svc.get("cap_add") {
        None | Some(Value::Null) => false,
        Some(Value::Array(caps)) => !caps.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    if added {
        flag("cap_add", svc["cap_add"].to_string());
    }
    let user = match svc.get("user") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(user) = user {
        // `user: USER[:GROUP]`: uid 0 or the name root is root, whatever the group.
        let who = user.trim().split(':').next().unwrap_or("").trim();
        if who == "root" || (!who.is_empty() && who.bytes().all(|b| b == b'0')) {
            flag("user", user);
        }
    }
}

/// The host IP of a short-syntax port mapping, if it names one.
fn short_syntax_host_ip(s: &str) -> Option<String> {
    let s = s.split('/').next().unwrap_or(s);
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').map(|(ip, _)| ip.to_owned());
    }
    let parts: Vec<&str> = s.split(':').collect();
    (parts.len() == 3).then(|| parts[0].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Policy {
        Policy::for_env(Environment::Production, false, false)
    }

    fn ids(name: &str, content: &str, p: &Policy) -> Vec<&'static str> {
        check(name, content, p)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    const GOOD_CONF: &str = "bind 127.0.0.1\nprotected-mode yes\nport 0\ntls-port 6379\n\
        tls-auth-clients yes\ntls-protocols \"TLSv1.3\"\naclfile \"/etc/redis/users.acl\"\n\
        enable-debug-command no\nenable-module-command no\nenable-protected-configs no\n";

    #[test]
    fn a_hardened_conf_passes() {
        assert!(ids("redis.conf", GOOD_CONF, &prod()).is_empty());
    }

    #[test]
    fn each_weakening_is_found() {
        let cases = [
            ("port 0", "port 6379", PLAINTEXT_PORT.id),
            (
                "tls-protocols \"TLSv1.3\"",
                "tls-protocols \"TLSv1.2 TLSv1.3\"",
                TLS_PROTOCOLS.id,
            ),
            (
                "tls-auth-clients yes",
                "tls-auth-clients optional",
                TLS_AUTH_CLIENTS.id,
            ),
            ("protected-mode yes", "protected-mode no", PROTECTED_MODE.id),
            (
                "enable-debug-command no",
                "enable-debug-command local",
                DEBUG_COMMAND.id,
            ),
            (
                "enable-module-command no",
                "enable-module-command yes",
                MODULE_COMMAND.id,
            ),
            (
                "enable-protected-configs no",
                "enable-protected-configs yes",
                PROTECTED_CONFIGS.id,
            ),
            ("aclfile \"/etc/redis/users.acl\"", "", ACLFILE.id),
            ("bind 127.0.0.1", "bind 0.0.0.0", BIND_ALL.id),
            ("bind 127.0.0.1", "bind * -::*", BIND_ALL.id),
            ("bind 127.0.0.1", "bind ::0", BIND_ALL.id),
            ("bind 127.0.0.1", "bind 0:0:0:0:0:0:0:0", BIND_ALL.id),
            (
                "tls-protocols \"TLSv1.3\"",
                "tls-protocols \"\"",
                TLS_PROTOCOLS.id,
            ),
            (
                "aclfile \"/etc/redis/users.acl\"",
                "aclfile \"\"",
                ACLFILE.id,
            ),
            (
                "bind 127.0.0.1",
                "bind 127.0.0.1\ninclude /etc/redis/extra.conf",
                INCLUDE.id,
            ),
        ];
        for (from, to, rule) in cases {
            let conf = GOOD_CONF.replace(from, to);
            assert_eq!(ids("redis.conf", &conf, &prod()), [rule], "{to}");
        }
        let conf = format!("{GOOD_CONF}user app on >secret ~* +@all\nrequirepass hunter2\n");
        let found = check("redis.conf", &conf, &prod());
        // The inline user gets the ACL checks too.
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            [
                USER_IN_CONF.id,
                ACL_PLAINTEXT_PASSWORD.id,
                APP_PERMISSIONS.id,
                PASSWORD_IN_CONF.id
            ]
        );
        assert!(
            found
                .iter()
                .all(|f| !f.text.contains("secret") && !f.text.contains("hunter2")),
            "{found:?}"
        );
    }

    #[test]
    fn firewall_allows_binding_all_interfaces() {
        let conf = GOOD_CONF.replace("bind 127.0.0.1", "bind 0.0.0.0");
        assert!(
            ids(
                "redis.conf",
                &conf,
                &Policy::for_env(Environment::Production, true, false)
            )
            .is_empty()
        );
    }

    #[test]
    fn testing_allows_plaintext_on_loopback_only() {
        let p = Policy::for_env(Environment::Testing, false, false);
        let conf = "bind 127.0.0.1 -::1\nport 6379\naclfile x\n";
        assert!(ids("redis.conf", conf, &p).is_empty());
        assert_eq!(
            ids(
                "redis.conf",
                &conf.replace("127.0.0.1 -::1", "10.0.0.1"),
                &p
            ),
            [PLAINTEXT_BIND.id]
        );
    }

    #[test]
    fn acl_rules() {
        let good = "user default off resetpass -@all\nuser app on #ab ~* +@all -@dangerous -@admin -@scripting\nuser admin off #cd ~* +@all\n";
        assert!(ids("users.acl", good, &prod()).is_empty());
        for (bad, rule) in [
            ("user default on resetpass ~* +@all\n", DEFAULT_USER.id),
            ("user app on >pw ~* -@all +get\n", ACL_PLAINTEXT_PASSWORD.id),
            (
                "user app on #ab ~* +@all -@dangerous -@admin\n",
                APP_PERMISSIONS.id,
            ),
            (
                "user app on #ab ~* -@all +@read +eval\n",
                APP_PERMISSIONS.id,
            ),
            (
                "user worker on #ab ~* -@all +@read +config|set\n",
                APP_PERMISSIONS.id,
            ),
        ] {
            let acl = format!("user default off -@all\n{bad}");
            let acl = if bad.starts_with("user default") {
                bad.to_owned()
            } else {
                acl
            };
            assert_eq!(ids("users.acl", &acl, &prod()), [rule], "{bad}");
        }
        assert_eq!(
            ids("users.acl", "user app on #ab ~* -@all +get\n", &prod()),
            [DEFAULT_USER.id]
        );
        // Removing a forbidden command again makes it fine.
        assert!(
            ids(
                "users.acl",
                "user default off\nuser app on #a ~* -@all +get +eval -eval\n",
                &prod()
            )
            .is_empty()
        );
    }

    #[test]
    fn dragonfly_flags() {
        // Staging: TLS and client certificates required, TLS 1.2 allowed.
        let staging = Policy::for_env(Environment::Staging, false, false);
        assert_eq!(
            ids("dragonfly.flags", "--bind=127.0.0.1\n", &staging),
            [DRAGONFLY_HTTP.id, PLAINTEXT_PORT.id, ACLFILE.id]
        );
        let ok = "--primary_port_http_enabled=false\n--admin_port=9999\n--admin_bind=127.0.0.1\n--admin_nopass=false\n\
            --tls=true\n--tls_ca_cert_file=/c/ca.crt\n--aclfile=/c/users.acl\n";
        assert!(ids("dragonfly.flags", ok, &staging).is_empty());
        for (from, to, rule) in [
            ("--tls=true", "--tls=false", PLAINTEXT_PORT.id),
            ("--tls_ca_cert_file=/c/ca.crt", "", TLS_AUTH_CLIENTS.id),
            ("--aclfile=/c/users.acl", "--aclfile=", ACLFILE.id),
        ] {
            assert_eq!(
                ids("dragonfly.flags", &ok.replace(from, to), &staging),
                [rule],
                "{to}"
            );
        }
        // Testing has no TLS: a plaintext Dragonfly is what it asks for.
        let testing = Policy::for_env(Environment::Testing, false, false);
        assert!(ids("dragonfly.flags", &ok.replace("--tls=true", ""), &testing).is_empty());
        assert_eq!(
            ids(
                "dragonfly.flags",
                &ok.replace("127.0.0.1", "0.0.0.0"),
                &staging
            ),
            [DRAGONFLY_ADMIN.id]
        );
    }

    const GOOD_FLAGS: &str = "--bind=10.0.0.5\n--port=6379\n--memcached_port=0\n--primary_port_http_enabled=false\n\
        --admin_port=0\n--admin_nopass=false\n--tls=true\n--tls_ca_cert_file=/c/ca.crt\n--aclfile=/c/users.acl\n";

    #[test]
    fn dragonfly_flags_are_read_like_absl() {
        let staging = Policy::for_env(Environment::Staging, false, false);
        let flags = |from: &str, to: &str| GOOD_FLAGS.replace(from, to);
        assert!(ids("dragonfly.flags", GOOD_FLAGS, &staging).is_empty());
        // --noX is X=false; booleans are true/false, t/f, yes/no, y/n, 1/0 in any case.
        for off in [
            "--notls",
            "--tls=f",
            "--tls=0",
            "--tls=NO",
            "--tls=n",
            "--tls=False",
            "-tls=false",
            "--tls=maybe",
            "--tls=",
        ] {
            assert_eq!(
                ids("dragonfly.flags", &flags("--tls=true", off), &staging),
                [PLAINTEXT_PORT.id],
                "{off}"
            );
        }
        for on in [
            "--tls",
            "--tls=t",
            "--tls=YES",
            "--tls=y",
            "--tls=1",
            "--tls= true ",
            "-tls",
        ] {
            assert!(
                ids("dragonfly.flags", &flags("--tls=true", on), &staging).is_empty(),
                "{on}"
            );
        }
        // The last one wins.
        assert_eq!(
            ids(
                "dragonfly.flags",
                &format!("{GOOD_FLAGS}--notls\n"),
                &staging
            ),
            [PLAINTEXT_PORT.id]
        );
        for on in [
            "--primary_port_http_enabled",
            "--primary_port_http_enabled=t",
            "--primary_port_http_enabled=bogus",
        ] {
            assert_eq!(
                ids(
                    "dragonfly.flags",
                    &flags("--primary_port_http_enabled=false", on),
                    &staging
                ),
                [DRAGONFLY_HTTP.id],
                "{on}"
            );
        }
        for off in [
            "--noprimary_port_http_enabled",
            "--primary_port_http_enabled=N",
        ] {
            assert!(
                ids(
                    "dragonfly.flags",
                    &flags("--primary_port_http_enabled=false", off),
                    &staging
                )
                .is_empty(),
                "{off}"
            );
        }
        // --noadmin_nopass is admin_nopass=false; an open admin port needs it and loopback.
        let admin = "--admin_port=9999\n--admin_bind=127.0.0.1\n--noadmin_nopass";
        assert!(
            ids(
                "dragonfly.flags",
                &flags("--admin_port=0\n--admin_nopass=false", admin),
                &staging
            )
            .is_empty()
        );
        let admin = "--admin_port=0x270f\n--admin_bind=127.0.0.1\n--admin_nopass";
        assert_eq!(
            ids(
                "dragonfly.flags",
                &flags("--admin_port=0\n--admin_nopass=false", admin),
                &staging
            ),
            [DRAGONFLY_ADMIN.id]
        );
        // A flag that is itself named no...: not a negation.
        assert!(
            ids(
                "dragonfly.flags",
                &format!("{GOOD_FLAGS}--no_tls_on_admin_port\n"),
                &staging
            )
            .is_empty()
        );
    }

    #[test]
    fn dragonfly_unauthenticated_listeners() {
        let staging = Policy::for_env(Environment::Staging, false, false);
        for (from, to) in [
            ("--memcached_port=0", "--memcached_port=11211"),
            ("--memcached_port=0", "--memcached_port=0x2bcb"),
            ("--memcached_port=0", "--memcached_port= 11211"),
            (
                "--memcached_port=0",
                "--memcached_port=0\n--memcached_port=11211",
            ),
            (
                "--memcached_port=0",
                "--memcached_port=0\n--unixsocket=/run/dfly.sock",
            ),
        ] {
            assert_eq!(
                ids("dragonfly.flags", &GOOD_FLAGS.replace(from, to), &staging),
                [DRAGONFLY_UNAUTHENTICATED.id],
                "{to}"
            );
        }
        for fine in [
            "--memcached_port=00",
            "--unixsocket=",
            "--memcached_port=0\n--unixsocket= ",
        ] {
            assert!(
                ids(
                    "dragonfly.flags",
                    &GOOD_FLAGS.replace("--memcached_port=0", fine),
                    &staging
                )
                .is_empty(),
                "{fine}"
            );
        }
        assert_eq!(DRAGONFLY_UNAUTHENTICATED.severity, Severity::Critical);
    }

    #[test]
    fn dragonfly_bind_and_nested_flagfiles() {
        let staging = Policy::for_env(Environment::Staging, false, false);
        for all in [
            "--bind=0.0.0.0",
            "--bind=::",
            "--bind=",
            "--bind=[::]",
            "--bind=0:0:0:0:0:0:0:0",
        ] {
            let flags = GOOD_FLAGS.replace("--bind=10.0.0.5", all);
            assert_eq!(
                ids("dragonfly.flags", &flags, &staging),
                [BIND_ALL.id],
                "{all}"
            );
            // Allowed behind a firewall, and in a container (its own network namespace).
            for (firewalled, container) in [(true, false), (false, true)] {
                let p = Policy::for_env(Environment::Staging, firewalled, container);
                assert!(ids("dragonfly.flags", &flags, &p).is_empty(), "{all}");
            }
        }
        for include in [
            "--flagfile=/etc/dragonfly/more.flags",
            "--fromenv=tls",
            "--tryfromenv=tls",
        ] {
            let flags = format!("{GOOD_FLAGS}{include}\n");
            assert_eq!(
                ids("dragonfly.flags", &flags, &staging),
                [INCLUDE.id],
                "{include}"
            );
        }
    }

    #[test]
    fn dragonfly_cannot_refuse_tls12_which_is_a_note_in_production() {
        let found = check("dragonfly.flags", GOOD_FLAGS, &prod());
        assert_eq!(
            found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
            [(DRAGONFLY_TLS12.id, Some(7))]
        );
        assert_eq!(DRAGONFLY_TLS12.severity, Severity::Low);
        // Not where TLS 1.2 is allowed, and not without TLS.
        let staging = Policy::for_env(Environment::Staging, false, false);
        assert!(ids("dragonfly.flags", GOOD_FLAGS, &staging).is_empty());
        assert_eq!(
            ids(
                "dragonfly.flags",
                &GOOD_FLAGS.replace("--tls=true", "--notls"),
                &prod()
            ),
            [PLAINTEXT_PORT.id]
        );
    }

    #[test]
    fn compose_hardening() {
        let base = "services:\n  redis:\n    image: \"redis:7.0.15-bookworm\"\n    user: \"999:999\"\n    cap_drop: [ALL]\n";
        assert!(ids("docker-compose.yml", base, &prod()).is_empty());
        for (extra, line) in [
            ("    network_mode: host\n", 6),
            ("    network_mode: \"host\"\n", 6),
            ("    privileged: true\n", 6),
            ("    privileged: \"yes\"\n", 6),
            ("    cap_add: [NET_ADMIN]\n", 6),
            ("    cap_add:\n      - SYS_PTRACE\n", 6),
        ] {
            let compose = format!("{base}{extra}");
            let found = check("docker-compose.yml", &compose, &prod());
            assert_eq!(
                found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
                [(COMPOSE_HARDENING.id, Some(line))],
                "{extra}"
            );
        }
        for fine in [
            "    privileged: false\n",
            "    cap_add: []\n",
            "    network_mode: bridge\n",
        ] {
            let compose = format!("{base}{fine}");
            assert!(
                ids("docker-compose.yml", &compose, &prod()).is_empty(),
                "{fine}"
            );
        }
        for root in [
            "\"0\"",
            "\"0:0\"",
            "root",
            "\"root:root\"",
            "0",
            "\"0:999\"",
        ] {
            let compose = base.replace("\"999:999\"", root);
            let found = check("docker-compose.yml", &compose, &prod());
            assert_eq!(
                found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
                [(COMPOSE_HARDENING.id, Some(4))],
                "{root}"
            );
        }
        // A missing user is the image's choice: not flagged.
        let no_user = base.replace("    user: \"999:999\"\n", "");
        assert!(ids("docker-compose.yml", &no_user, &prod()).is_empty());
        assert_eq!(COMPOSE_HARDENING.severity, Severity::High);
    }

    #[test]
    fn a_compose_file_that_does_not_parse_is_a_finding() {
        // A duplicate key: which `ports` counts depends on the parser.
        let dup = "services:\n  redis:\n    ports: [\"127.0.0.1:6379:6379\"]\n    ports: [\"6379:6379\"]\n";
        let found = check("docker-compose.yml", dup, &prod());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, COMPOSE_HARDENING.id);
        assert!(found[0].line.is_some(), "{found:?}");
        let dup_service = "services:\n  redis:\n    image: a\n  redis:\n    privileged: true\n";
        assert_eq!(
            ids("docker-compose.yml", dup_service, &prod()),
            [COMPOSE_HARDENING.id]
        );
        let broken =
            "services:\n  redis:\n    image: [unclosed\n    environment: [REDIS_PASSWORD=s3cret]\n";
        let found = check("docker-compose.yml", broken, &prod());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, COMPOSE_HARDENING.id);
        assert!(!found[0].text.contains("s3cret"), "{found:?}");
    }

    #[test]
    fn compose_published_ports() {
        let open = "services:\n  redis:\n    ports:\n      - \"6379:6379\"\n";
        assert_eq!(
            ids("docker-compose.yml", open, &prod()),
            [COMPOSE_PUBLISH.id]
        );
        let local = "services:\n  redis:\n    ports:\n      - \"127.0.0.1:6379:6379\"\n";
        assert!(ids("docker-compose.yml", local, &prod()).is_empty());
        let long =
            "services:\n  redis:\n    ports:\n      - target: 6379\n        published: 6379\n";
        assert_eq!(
            ids("docker-compose.yml", long, &prod()),
            [COMPOSE_PUBLISH.id]
        );
    }

    /// `split_args` as strings, for readable assertions.
    fn split(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|args| {
            args.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn split_args_like_redis() {
        assert_eq!(
            split(r#"tls-protocols "TLSv1.2 TLSv1.3""#).unwrap(),
            ["tls-protocols", "TLSv1.2 TLSv1.3"]
        );
        assert_eq!(split(r#"dir "/a b/\"c""#).unwrap(), ["dir", "/a b/\"c"]);
        assert!(split(r#"dir "unterminated"#).is_none());
    }

    /// Each case checked against redis-server 7.0.15 (`CONFIG GET` after a start, or its
    /// "Unbalanced quotes" refusal).
    #[test]
    fn split_args_is_sdssplitargs() {
        let ok: &[(&str, &[&str])] = &[
            // A quote inside an unquoted token opens a quoted section.
            (r#"p"ort" 6380"#, &["port", "6380"]),
            (r#"protected-m"ode" n"o""#, &["protected-mode", "no"]),
            (r#"a'b c'"#, &["ab c"]),
            // \xHH and the C escapes inside double quotes; any other \c is c.
            (r#""p\x6frt" "\x36\x33\x38\x30""#, &["port", "6380"]),
            (r#""\x4A\x4b""#, &["JK"]),
            (r#""a\n\r\t\b\a\q\\\"""#, &["a\n\r\t\u{8}\u{7}q\\\""]),
            // \x without two hex digits is just x.
            (r#""\x6""#, &["x6"]),
            (r#""\xZZ""#, &["xZZ"]),
            // Single quotes: only \' is an escape.
            (r"'n\o' 'it\'s'", &["n\\o", "it's"]),
            // Separators: space, tab, CR, LF; \v and \f only between tokens.
            ("a\tb\rc", &["a", "b", "c"]),
            ("\u{b}a\u{c} b", &["a\u{c}", "b"]),
            ("\"a\"\tb", &["a", "b"]),
            ("", &[]),
            ("   ", &[]),
            ("\"\"", &[""]),
            // The line is a C string: a NUL ends it.
            ("port 0\0 6380", &["port", "0"]),
        ];
        for (line, want) in ok {
            let got = split(line).unwrap_or_else(|| panic!("{line:?} refused"));
            assert_eq!(got, *want, "{line:?}");
        }
        for bad in [
            r#"protected-mode "no"x"#,
            r#""a"b"#,
            r#"'a'b"#,
            r#""unterminated"#,
            r#"'unterminated"#,
            r#""ends in backslash\"#,
            r"'a\'",
        ] {
            assert_eq!(split(bad), None, "{bad:?}");
        }
        // Hex escapes make any byte, UTF-8 or not.
        assert_eq!(split_args(br#""\xff\x00""#).unwrap(), [vec![0xff, 0]]);
    }

    #[test]
    fn parse_redis_conf_like_redis() {
        let ds = parse_redis_conf(
            "  # comment\n\t\r\n  PORT 6380  \r\n\"Protected-Mode\" \"n\\x6f\"\nbad \"quote\"x\n",
        );
        let got: Vec<(usize, &str, &[String])> = ds
            .iter()
            .map(|d| (d.line, d.name.as_str(), d.args.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (3, "port", &["6380".to_owned()][..]),
                (4, "protected-mode", &["no".to_owned()][..])
            ]
        );
        // fgets reads 1024 bytes at a time and sdscat stops each chunk at a NUL: what follows
        // the NUL in the same chunk is lost, the next chunk of the same line is kept.
        let pad = "x".repeat(1024 - "protected-mode \0".len());
        let conf = format!("protected-mode \0{pad}no\n");
        let ds = parse_redis_conf(&conf);
        assert_eq!(
            (ds[0].name.as_str(), ds[0].args.as_slice()),
            ("protected-mode", &["no".to_owned()][..])
        );
        let conf = format!("{GOOD_CONF}protected-mode \0{pad}no\n");
        assert_eq!(ids("redis.conf", &conf, &prod()), [PROTECTED_MODE.id]);
        // A NUL in a short line drops the rest of the line, newline included: redis-server
        // 7.0.15 then reads `port 0bind 127.0.0.1` (and refuses it).
        let ds = parse_redis_conf("port 0\0 6380\nbind 127.0.0.1\n");
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].args, ["0bind", "127.0.0.1"]);
    }

    /// The bypasses of the review: a team block that hides directives behind quotes and
    /// escapes. Each one is found.
    #[test]
    fn escaped_and_quoted_directives_are_found() {
        for (line, rule) in [
            (r#""protected-mode" "n\x6f""#, PROTECTED_MODE.id),
            (r#""p\x6frt" 6380"#, PLAINTEXT_PORT.id),
            (r#""enable-debug-comm\x61nd" "y\x65s""#, DEBUG_COMMAND.id),
            (r#"protected-m"ode" n"o""#, PROTECTED_MODE.id),
            (r#"'enable-module-command' 'yes'"#, MODULE_COMMAND.id),
            (r#"ENABLE-PROTECTED-CONFIGS "YES""#, PROTECTED_CONFIGS.id),
            (r#"tls-auth-clients "n\x6f""#, TLS_AUTH_CLIENTS.id),
            (r#"a"clfile" """#, ACLFILE.id),
            (r#"b"ind" "0.0.0.0""#, BIND_ALL.id),
            (r#"i"nclude" /etc/redis/x.conf"#, INCLUDE.id),
        ] {
            let conf = format!("{GOOD_CONF}{line}\n");
            assert_eq!(ids("redis.conf", &conf, &prod()), [rule], "{line}");
        }
        // A line Redis refuses (it would not start) configures nothing.
        let conf = format!("{GOOD_CONF}protected-mode \"no\"x\n");
        assert!(ids("redis.conf", &conf, &prod()).is_empty());
    }

    #[test]
    fn loadmodule_is_found_without_its_arguments() {
        let conf = format!("{GOOD_CONF}loadmodule /opt/m.so PASSWORD s3cret\n");
        let found = check("redis.conf", &conf, &prod());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, MODULE_COMMAND.id);
        assert_eq!(found[0].text, "loadmodule /opt/m.so <arguments redacted>");
        let conf = format!("{GOOD_CONF}LOADMODULE \"/opt/m.so\"\n");
        assert_eq!(ids("redis.conf", &conf, &prod()), [MODULE_COMMAND.id]);
    }

    #[test]
    fn weak_ciphers_are_found_where_tls_is_required() {
        let intermediate = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
        for good in [
            intermediate,
            "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
            "HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:-3DES",
        ] {
            let conf = format!("{GOOD_CONF}tls-ciphers \"{good}\"\n");
            assert!(ids("redis.conf", &conf, &prod()).is_empty(), "{good}");
        }
        for weak in [
            "ALL",
            "ALL:!aNULL",
            "HIGH:NULL",
            "aNULL",
            "eNULL:HIGH",
            "EXPORT",
            "EXP-RC4-MD5",
            "RC4-SHA",
            "DES-CBC3-SHA",
            "3DES",
            "ECDHE+AESGCM:MD5",
            "ADH-AES128-SHA",
            "COMPLEMENTOFALL",
            "HIGH,RC4",
            "high:rc4",
        ] {
            let conf = format!("{GOOD_CONF}tls-ciphers \"{weak}\"\n");
            assert_eq!(
                ids("redis.conf", &conf, &prod()),
                [WEAK_CIPHERS.id],
                "{weak}"
            );
        }
        // Escaped, too.
        let conf = format!("{GOOD_CONF}tls-ciphers \"\\x41LL\"\n");
        assert_eq!(ids("redis.conf", &conf, &prod()), [WEAK_CIPHERS.id]);
        // Testing has no TLS requirement.
        let testing = Policy::for_env(Environment::Testing, false, false);
        let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-ciphers ALL\n";
        assert!(ids("redis.conf", conf, &testing).is_empty());
        assert_eq!(WEAK_CIPHERS.severity, Severity::High);
    }

    #[test]
    fn tls_replication_no_is_found_where_tls_is_required() {
        for (line, found) in [
            ("tls-replication no", true),
            ("tls-replication \"NO\"", true),
            ("tls-replication yes", false),
            ("tls-replication yes\ntls-replication no", true),
            ("tls-replication no\ntls-replication yes", false),
        ] {
            let conf = format!("{GOOD_CONF}{line}\n");
            let want: &[&str] = if found { &[TLS_REPLICATION.id] } else { &[] };
            assert_eq!(ids("redis.conf", &conf, &prod()), want, "{line}");
        }
        let testing = Policy::for_env(Environment::Testing, false, false);
        let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-replication no\n";
        assert!(ids("redis.conf", conf, &testing).is_empty());
        assert_eq!(TLS_REPLICATION.severity, Severity::Medium);
    }

    #[test]
    fn user_lines_in_redis_conf_get_the_acl_checks() {
        let check_line = |line: &str| {
            let conf = format!("{GOOD_CONF}{line}\n");
            check("redis.conf", &conf, &prod())
        };
        let rules = |found: &[Finding]| found.iter().map(|f| f.rule).collect::<Vec<_>>();
        let found = check_line(r#"user default on nopass ~* +@all"#);
        assert_eq!(
            rules(&found),
            [USER_IN_CONF.id, ACL_PLAINTEXT_PASSWORD.id, DEFAULT_USER.id]
        );
        // A quoted password is a password: found, and never printed.
        let found = check_line(r#"user app on ">hunter2" ~* "+@all""#);
        assert_eq!(
            rules(&found),
            [
                USER_IN_CONF.id,
                ACL_PLAINTEXT_PASSWORD.id,
                APP_PERMISSIONS.id
            ]
        );
        assert!(
            found.iter().all(|f| !f.text.contains("hunter2")),
            "{found:?}"
        );
        assert_eq!(found[0].text, "user app on >… ~* +@all");
        let found = check_line(r#"user app on ">hunter 2" '<old pw' #ab ~* -@all +get"#);
        assert!(
            found
                .iter()
                .all(|f| !f.text.contains("hunter") && !f.text.contains("old pw")),
            "{found:?}"
        );
        let found = check_line(r#"user app on ">hu\x6eter2" ~* -@all +get"#);
        assert!(
            found.iter().all(|f| !f.text.contains("hunter2")),
            "{found:?}"
        );
        // Escaped permissions are permissions.
        let found = check_line(r#"user app on #ab ~* -@all "+fl\x75shall""#);
        assert_eq!(rules(&found), [USER_IN_CONF.id, APP_PERMISSIONS.id]);
        let found = check_line(r#"user monitoring on #ab ~* -@all +info"#);
        assert_eq!(rules(&found), [USER_IN_CONF.id, MONITORING_PERMISSIONS.id]);
        // A confined user with a hash is only misplaced.
        let found = check_line("user app on #ab ~* -@all +get");
        assert_eq!(rules(&found), [USER_IN_CONF.id]);
    }

    #[test]
    fn first_arg_rules_grant_the_command() {
        let acl = |rules: &str| format!("user default off\nuser w on #ab ~* -@all +get {rules}\n");
        for granting in [
            "+flushall|async",
            "+shutdown|nosave",
            "+replicaof|no",
            "+debug|sleep",
            "+FLUSHALL|ASYNC",
            "+flushall|async -flushall|async",
            "-flushall +flushall|async",
            "+eval +script|flush",
            "+script",
            "+function|load",
            "+fcall",
            "+@scripting",
        ] {
            assert_eq!(
                ids("users.acl", &acl(granting), &prod()),
                [APP_PERMISSIONS.id],
                "{granting}"
            );
        }
        // What acl.app.scripting grants (or a part of it) is a low-severity warning.
        for scripting in [
            "+eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists",
            "+evalsha",
            "+eval|x",
        ] {
            assert_eq!(
                ids("users.acl", &acl(scripting), &prod()),
                [APP_SCRIPTING.id],
                "{scripting}"
            );
        }
        assert_eq!(APP_SCRIPTING.severity, Severity::Low);
        for denied in [
            "+flushall|async -flushall",
            "+flushall|async -@dangerous",
            "+flushall|async -@all",
            "+flushall|async reset",
            // A subcommand that is not forbidden, and a first-arg rule of a harmless command.
            "+client|setname",
            "+get|x",
            "+config|",
        ] {
            assert!(
                ids("users.acl", &acl(denied), &prod()).is_empty(),
                "{denied}"
            );
        }
        // A command with subcommands: `+config|set` grants CONFIG SET, `-config|set` revokes it.
        assert_eq!(
            ids("users.acl", &acl("+config|set"), &prod()),
            [APP_PERMISSIONS.id]
        );
        assert!(
            ids(
                "users.acl",
                &acl("+config -config|get -config|set -config|rewrite -config|resetstat"),
                &prod()
            )
            .is_empty()
        );
    }

    #[test]
    fn the_monitoring_user_is_confined() {
        let acl = |rules: &str| format!("user default off\nuser monitoring on #ab {rules}\n");
        for ok in [
            // users.acl.tera's and dragonfly.acl.tera's monitoring users.
            "resetkeys resetchannels -@all +ping +info +dbsize +latency|latest +latency|history +latency|histogram +slowlog|get +slowlog|len",
            "resetkeys resetchannels -@all +ping +info +dbsize +latency +slowlog",
            "-@all +info +memory|stats +memory|doctor +latency|reset +slowlog|reset",
            "~* resetkeys -@all +info",
            "&* resetchannels -@all +info",
        ] {
            assert!(ids("users.acl", &acl(ok), &prod()).is_empty(), "{ok}");
        }
        for bad in [
            "~* -@all +info",
            "%R~metrics:* -@all +info",
            "allkeys -@all +info",
            "&* -@all +info",
            "allchannels -@all +info",
            "-@all +info +config|get",
            "-@all +info +client|list",
            "-@all +info +keys",
            "-@all +info +flushall|async",
            "-@all +@admin",
            "-@all +@dangerous",
            "+@all",
            "-@all +info (+get ~*)",
        ] {
            assert_eq!(
                ids("users.acl", &acl(bad), &prod()),
                [MONITORING_PERMISSIONS.id],
                "{bad}"
            );
        }
        // Off, it can do nothing.
        assert!(
            ids(
                "users.acl",
                "user default off\nuser monitoring off #ab ~* +@all\n",
                &prod()
            )
            .is_empty()
        );
        // Dragonfly's ACL file spells the keyword USER.
        assert_eq!(
            ids(
                "dragonfly.acl",
                "USER default off\nUSER monitoring on #ab ~* -@all +info\n",
                &prod()
            ),
            [MONITORING_PERMISSIONS.id]
        );
        assert_eq!(MONITORING_PERMISSIONS.severity, Severity::High);
    }

    #[test]
    fn rename_command_is_found_and_never_shows_the_new_name() {
        let conf = format!(
            "{GOOD_CONF}rename-command CONFIG \"\"\nrename-command SHUTDOWN SHUTDOWN_s3cret\n"
        );
        let found = check("redis.conf", &conf, &prod());
        let texts: Vec<(&str, &str)> = found.iter().map(|f| (f.rule, f.text.as_str())).collect();
        assert_eq!(
            texts,
            [
                (RENAME_COMMAND.id, "rename-command CONFIG \"\""),
                (RENAME_COMMAND.id, "rename-command SHUTDOWN <redacted>")
            ]
        );
        assert_eq!(RENAME_COMMAND.severity, Severity::Low);
    }

    #[test]
    fn a_missing_tls_protocols_matters_only_with_a_tls_listener() {
        let conf = GOOD_CONF.replace("tls-protocols \"TLSv1.3\"\n", "");
        assert_eq!(ids("redis.conf", &conf, &prod()), [TLS_PROTOCOLS.id]);
        let plaintext = conf.replace("port 0\ntls-port 6379\n", "port 6379\n");
        assert_eq!(ids("redis.conf", &plaintext, &prod()), [PLAINTEXT_PORT.id]);
    }

    #[test]
    fn old_tls_versions_are_found_even_where_tls_is_optional() {
        let testing = Policy::for_env(Environment::Testing, false, false);
        let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-protocols \"TLSv1.2 TLSv1.3\"\n";
        assert!(ids("redis.conf", conf, &testing).is_empty());
        for old in ["TLSv1 TLSv1.2", "TLSv1.1"] {
            let conf = conf.replace("TLSv1.2 TLSv1.3", old);
            assert_eq!(
                ids("redis.conf", &conf, &testing),
                [TLS_PROTOCOLS.id],
                "{old}"
            );
        }
    }

    #[test]
    fn content_decides_the_kind_where_it_is_unambiguous() {
        let sniff = Kind::sniff;
        assert_eq!(
            sniff("# flags\n--bind=127.0.0.1\n--tls\n"),
            Some(Kind::DragonflyFlags)
        );
        assert_eq!(
            sniff("user default off\nUSER app on #ab ~* +get\n"),
            Some(Kind::Acl)
        );
        assert_eq!(
            sniff("services:\n  redis:\n    image: redis\n"),
            Some(Kind::Compose)
        );
        assert_eq!(sniff("bind 127.0.0.1\nuser app on #ab\n"), None);
        assert_eq!(sniff("# only comments\n\n"), None);
        // A flagfile named like a redis.conf is still checked as a flagfile.
        let flags = "--primary_port_http_enabled=true\n";
        assert_eq!(
            check_as(Kind::DragonflyFlags, "dragonfly.conf", flags, &prod())[0].rule,
            DRAGONFLY_HTTP.id
        );
    }

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
