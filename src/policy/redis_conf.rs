//! redis.conf: the tokenizer (byte for byte what Redis 7.0's `loadServerConfig` and
//! `sdssplitargs` read) and the redis.conf check table. The live audit runs the same table
//! on the settings it reads with `CONFIG GET` ([`Conf::from_settings`]).

use super::acl;
use super::{Check, Findings, Policy, rules::*};
use crate::profile::ClientAuth;

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

/// A parsed redis.conf (or a running server's settings), as the checks read it.
pub struct Conf {
    pub directives: Vec<Directive>,
}

impl Conf {
    pub fn parse(content: &[u8]) -> Conf {
        Conf {
            directives: parse_redis_conf_bytes(content),
        }
    }

    /// The directive that takes effect: the last of its name.
    fn last(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().rev().find(|d| d.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Directive> + 'a {
        self.directives.iter().filter(move |d| d.name == name)
    }
}

/// Runs every redis.conf check, in table order.
pub fn check(content: &[u8], p: &Policy, f: &mut Findings<'_>) {
    let conf = Conf::parse(content);
    for c in CHECKS {
        (c.run)(&conf, p, f);
    }
}

/// The redis.conf checks: each row names the rules it can break. The order is the order of
/// the findings.
pub const CHECKS: &[Check<Conf>] = &[
    Check {
        rules: &[PLAINTEXT_PORT],
        run: plaintext_port,
    },
    Check {
        rules: &[PLAINTEXT_BIND],
        run: plaintext_bind,
    },
    Check {
        rules: &[BIND_ALL],
        run: bind_all,
    },
    Check {
        rules: &[TLS_PROTOCOLS],
        run: tls_protocols,
    },
    Check {
        rules: &[TLS_AUTH_CLIENTS],
        run: tls_auth_clients,
    },
    Check {
        rules: &[WEAK_CIPHERS],
        run: weak_ciphers,
    },
    Check {
        rules: &[TLS_REPLICATION],
        run: tls_replication,
    },
    Check {
        rules: &[PROTECTED_MODE],
        run: protected_mode,
    },
    Check {
        rules: &[DEBUG_COMMAND, MODULE_COMMAND, PROTECTED_CONFIGS],
        run: enable_commands,
    },
    Check {
        rules: &[ACLFILE],
        run: aclfile,
    },
    Check {
        rules: &[INCLUDE],
        run: include,
    },
    Check {
        rules: &[MODULE_COMMAND],
        run: loadmodule,
    },
    Check {
        rules: &[
            USER_IN_CONF,
            ACL_PLAINTEXT_PASSWORD,
            DEFAULT_USER,
            APP_PERMISSIONS,
            MONITORING_PERMISSIONS,
        ],
        run: user_lines,
    },
    Check {
        rules: &[RENAME_COMMAND],
        run: rename_command,
    },
    Check {
        rules: &[PASSWORD_IN_CONF],
        run: password_in_conf,
    },
    Check {
        rules: &[UNKNOWN_DIRECTIVE],
        run: unknown_directive,
    },
    Check {
        rules: &[USER_DATA_IN_LOG],
        run: user_data_in_log,
    },
];

/// Every directive must exist in the targeted version ([`crate::server`]'s measured tables).
fn unknown_directive(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    for d in c
        .directives
        .iter()
        .filter(|d| !p.server.has_directive(&d.name))
    {
        f.add(
            UNKNOWN_DIRECTIVE,
            Some(d.line),
            &format!(
                "{} (not a directive of {})",
                crate::values::visible(&d.name),
                p.server.label()
            ),
        );
    }
}

/// Where the version has `hide-user-data-from-log`, keys and values stay out of its log:
/// explicitly, or by the version's default (yes in Valkey 8.1, no in Redis 8.0).
fn user_data_in_log(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    const NAME: &str = "hide-user-data-from-log";
    let Some(default) = p.server.hide_user_data_default else {
        return;
    };
    match c.last(NAME) {
        Some(d) if d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("no")) => {
            f.add(USER_DATA_IN_LOG, Some(d.line), &d.raw);
        }
        Some(_) => {}
        None if !default => f.add(
            USER_DATA_IN_LOG,
            None,
            &format!(
                "no `{NAME}` directive: {}'s default is no",
                p.server.label()
            ),
        ),
        None => {}
    }
}

/// Whether the plaintext `port` is open: missing means Redis's default 6379.
fn plaintext_open(c: &Conf) -> bool {
    c.last("port")
        .is_none_or(|d| d.args.first().is_none_or(|a| a != "0"))
}

fn plaintext_port(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    if p.tls_required && plaintext_open(c) {
        match c.last("port") {
            Some(d) => f.add(PLAINTEXT_PORT, Some(d.line), &d.raw),
            None => f.add(
                PLAINTEXT_PORT,
                None,
                "no `port` directive: Redis listens in plaintext on 6379",
            ),
        }
    }
}

fn bind_addrs(c: &Conf) -> Vec<&str> {
    c.last("bind")
        .map_or(vec![], |d| d.args.iter().map(String::as_str).collect())
}

fn plaintext_bind(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    let bind = c.last("bind");
    let is_loopback = |a: &str| {
        let a = a.trim_start_matches('-');
        a == "localhost"
            || a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    if !p.tls_required
        && plaintext_open(c)
        && (bind.is_none() || !bind_addrs(c).iter().all(|a| is_loopback(a)))
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
}

fn bind_all(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    let all_interfaces = |a: &str| {
        let a = a.trim_start_matches('-');
        matches!(a, "*" | "::*")
            || a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
    };
    if !p.firewalled && !p.container {
        match c.last("bind") {
            Some(d) if bind_addrs(c).iter().any(|a| all_interfaces(a)) => {
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
}

fn tls_protocols(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    if !p.tls_required {
        if let Some(d) = c.last("tls-protocols") {
            // TLS is optional here, but where it is used TLSv1 and TLSv1.1 are broken.
            let old =
                |v: &str| v.eq_ignore_ascii_case("TLSv1") || v.eq_ignore_ascii_case("TLSv1.1");
            if d.args.iter().flat_map(|a| a.split_whitespace()).any(old) {
                f.add(TLS_PROTOCOLS, Some(d.line), &d.raw);
            }
        }
        return;
    }
    let tls_port = c
        .last("tls-port")
        .filter(|d| d.args.first().is_some_and(|a| a != "0"));
    let allowed: Vec<&str> = p.protocols.iter().map(|v| v.name()).collect();
    match c.last("tls-protocols") {
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
}

fn tls_auth_clients(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    if !p.tls_required {
        return;
    }
    let auth = c.last("tls-auth-clients");
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
}

fn weak_ciphers(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    if p.tls_required
        && let Some(d) = c.last("tls-ciphers")
        && d.args.first().is_some_and(|a| weak_cipher_list(a))
    {
        f.add(WEAK_CIPHERS, Some(d.line), &d.raw);
    }
}

fn tls_replication(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    // Redis's default is `no`, but a replica of a TLS-only primary (port 0) cannot
    // connect in plaintext: only an explicit `no` beside a plaintext port leaks.
    if p.tls_required
        && let Some(d) = c
            .last("tls-replication")
            .filter(|d| d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("no")))
    {
        f.add(TLS_REPLICATION, Some(d.line), &d.raw);
    }
}

fn protected_mode(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    if let Some(d) = c
        .last("protected-mode")
        .filter(|d| d.args.first().is_some_and(|a| a.eq_ignore_ascii_case("no")))
    {
        f.add(PROTECTED_MODE, Some(d.line), &d.raw);
    }
}

fn enable_commands(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    for (name, rule) in [
        ("enable-debug-command", DEBUG_COMMAND),
        ("enable-module-command", MODULE_COMMAND),
        ("enable-protected-configs", PROTECTED_CONFIGS),
    ] {
        if let Some(d) = c
            .last(name)
            .filter(|d| d.args.first().is_none_or(|a| !a.eq_ignore_ascii_case("no")))
        {
            f.add(rule, Some(d.line), &d.raw);
        }
    }
}

fn aclfile(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    match c.last("aclfile") {
        None => f.add(ACLFILE, None, "no `aclfile` directive"),
        // An empty aclfile is no ACL file: the default user stays `on nopass`.
        Some(d) if d.args.first().is_none_or(|a| a.trim().is_empty()) => {
            f.add(ACLFILE, Some(d.line), &d.raw)
        }
        Some(_) => {}
    }
}

fn include(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    for d in c.all("include") {
        f.add(INCLUDE, Some(d.line), &d.raw);
    }
}

fn loadmodule(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    for d in c.all("loadmodule") {
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
}

fn user_lines(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    for d in c.all("user") {
        // The arguments as Redis parsed them: `">hunter2"` is the password hunter2.
        let shown = redact_user_args("user", &d.args);
        f.add(USER_IN_CONF, Some(d.line), &shown);
        if let Some((name, rules)) = d.args.split_first() {
            acl::check_user(f, p, Some(d.line), name, rules, &shown);
        }
    }
}

fn rename_command(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    for d in c.all("rename-command") {
        // A non-empty new name is meant to be secret: never print it.
        let (cmd, to) = (d.args.first().map_or("", String::as_str), d.args.get(1));
        let shown = match to {
            Some(to) if to.is_empty() => format!("rename-command {cmd} \"\""),
            _ => format!("rename-command {cmd} <redacted>"),
        };
        f.add(RENAME_COMMAND, Some(d.line), &shown);
    }
}

fn password_in_conf(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    // Valkey 8 also spells the replication password `primaryauth`.
    let primary = p.server.primary_spelling == crate::server::PrimarySpelling::Primary;
    for d in c.directives.iter().filter(|d| {
        d.name == "requirepass" || d.name == "masterauth" || (primary && d.name == "primaryauth")
    }) {
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
pub(super) fn redact_user_args<S: AsRef<str>>(keyword: &str, args: &[S]) -> String {
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
