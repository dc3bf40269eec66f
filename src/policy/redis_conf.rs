//! redis.conf: the tokenizer (byte for byte what Redis 7.0's `loadServerConfig` and
//! `sdssplitargs` read) and the redis.conf check table. The live audit runs the same table
//! on the settings it reads with `CONFIG GET` ([`Conf::from_settings`]).

use super::acl;
use super::{Check, Findings, Live, Policy, rules::*};
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

/// The lines of a redis.conf that `sdssplitargs` refuses (unbalanced quotes, a closing quote
/// not followed by a space): [`parse_redis_conf_bytes`] skips them, Redis refuses to start.
pub fn refused_lines(content: &[u8]) -> Vec<(usize, String)> {
    redis_config_text(content)
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, raw)| {
            let trimmed = trim_bytes(raw, b" \t\r\n");
            !trimmed.is_empty() && trimmed[0] != b'#' && split_args(trimmed).is_none()
        })
        .map(|(i, raw)| (i + 1, String::from_utf8_lossy(raw).into_owned()))
        .collect()
}

/// Whether the server accepts `name` with `n` arguments (measured on Redis 7.0 and 8.0 and
/// Valkey 8.0 and 8.1: every directive of `CONFIG GET *` given two arguments; those not
/// refused for their count are listed, and a live test compares every server). A setting
/// takes one value unless listed; unknown names are `unknown-directive`'s, so a name only
/// one version has (Valkey 8.1's `rdma-bind`) is judged here only for that version.
pub fn arity_ok(name: &str, n: usize) -> bool {
    match name {
        // An empty list is a list (`bind` alone listens nowhere, `save` alone saves never).
        "bind" | "rdma-bind" | "save" | "latency-tracking-info-percentiles" | "sentinel" => true,
        "shutdown-on-sigint" | "shutdown-on-sigterm" | "user" | "loadmodule" => n >= 1,
        "replicaof" | "slaveof" | "rename-command" => n == 2,
        "client-output-buffer-limit" => n >= 4 && n.is_multiple_of(4),
        "oom-score-adj-values" => n == 3,
        _ => n == 1,
    }
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
    /// Lines `sdssplitargs` refuses (line number, raw text): Redis does not start on them.
    pub refused: Vec<(usize, String)>,
}

impl Conf {
    pub fn parse(content: &[u8]) -> Conf {
        Conf {
            directives: parse_redis_conf_bytes(content),
            refused: refused_lines(content),
        }
    }

    /// The directive that takes effect: the last of its name.
    fn last(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().rev().find(|d| d.name == name)
    }

    /// A running server's settings, as `CONFIG GET` returned them: one directive each,
    /// shown as `CONFIG GET name: value`. `bind` and `save` are lists; the rest one value.
    pub fn from_settings(settings: &[(String, String)]) -> Conf {
        let directives = settings
            .iter()
            .map(|(name, value)| Directive {
                line: 0,
                raw: format!("CONFIG GET {name}: {}", crate::values::visible(value)),
                name: name.to_ascii_lowercase(),
                args: match name.as_str() {
                    "bind" | "save" => value.split_whitespace().map(str::to_owned).collect(),
                    _ => vec![value.clone()],
                },
            })
            .collect();
        Conf {
            directives,
            refused: vec![],
        }
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
        live: Live::Settings(&["port"]),
    },
    Check {
        rules: &[PLAINTEXT_BIND],
        run: plaintext_bind,
        live: Live::Settings(&["port", "bind"]),
    },
    Check {
        rules: &[BIND_ALL],
        run: bind_all,
        live: Live::Settings(&["bind"]),
    },
    Check {
        rules: &[TLS_PROTOCOLS],
        run: tls_protocols,
        live: Live::Settings(&["tls-port", "tls-protocols"]),
    },
    Check {
        rules: &[TLS_AUTH_CLIENTS],
        run: tls_auth_clients,
        live: Live::Settings(&["tls-auth-clients"]),
    },
    Check {
        rules: &[UNIX_SOCKET],
        run: unix_socket,
        live: Live::Settings(&["unixsocket", "unixsocketperm"]),
    },
    Check {
        rules: &[TRUST_ANCHOR],
        run: trust_anchor,
        live: Live::Settings(&["tls-port", "tls-ca-cert-file", "tls-ca-cert-dir"]),
    },
    Check {
        rules: &[WEAK_CIPHERS],
        run: weak_ciphers,
        live: Live::Settings(&["tls-ciphers", "tls-ciphersuites"]),
    },
    Check {
        rules: &[MEMORY_LIMIT],
        run: memory_limit,
        live: Live::Settings(&["maxmemory"]),
    },
    Check {
        rules: &[DATA_DIR],
        run: data_dir,
        live: Live::Settings(&["dir"]),
    },
    Check {
        rules: &[TLS_REPLICATION],
        run: tls_replication,
        live: Live::Settings(&["tls-replication"]),
    },
    Check {
        rules: &[PROTECTED_MODE],
        run: protected_mode,
        live: Live::Settings(&["protected-mode"]),
    },
    Check {
        rules: &[DEBUG_COMMAND],
        run: |c, _, f| enabled(c, f, "enable-debug-command", DEBUG_COMMAND),
        live: Live::Settings(&["enable-debug-command"]),
    },
    Check {
        rules: &[MODULE_COMMAND],
        run: |c, _, f| enabled(c, f, "enable-module-command", MODULE_COMMAND),
        live: Live::Settings(&["enable-module-command"]),
    },
    Check {
        rules: &[PROTECTED_CONFIGS],
        run: |c, _, f| enabled(c, f, "enable-protected-configs", PROTECTED_CONFIGS),
        live: Live::Settings(&["enable-protected-configs"]),
    },
    Check {
        rules: &[ACLFILE],
        run: aclfile,
        live: Live::Settings(&["aclfile"]),
    },
    Check {
        rules: &[INCLUDE],
        run: include,
        live: Live::No("a running server shows its settings, wherever they were read from"),
    },
    Check {
        rules: &[MODULE_COMMAND],
        run: loadmodule,
        live: Live::No("modules are not settings (MODULE LIST would show them)"),
    },
    Check {
        rules: &[
            USER_IN_CONF,
            ACL_PLAINTEXT_PASSWORD,
            DEFAULT_USER,
            DEFAULT_USER_PASSWORD,
            APP_PERMISSIONS,
            MONITORING_PERMISSIONS,
            UNLOADABLE_LINE,
        ],
        run: user_lines,
        live: Live::Users,
    },
    Check {
        rules: &[UNKNOWN_COMMAND],
        run: user_commands,
        live: Live::No("a running server has loaded only the commands it knows"),
    },
    Check {
        rules: &[RENAME_COMMAND],
        run: rename_command,
        live: Live::No("a renamed command is not a setting"),
    },
    Check {
        rules: &[PASSWORD_IN_CONF],
        run: password_in_conf,
        live: Live::No("CONFIG GET would read the password itself"),
    },
    Check {
        rules: &[UNLOADABLE_LINE],
        run: unloadable_line,
        live: Live::No("a running server has loaded its config"),
    },
    Check {
        rules: &[UNKNOWN_DIRECTIVE],
        run: unknown_directive,
        live: Live::No("a running server has only the directives it knows"),
    },
    Check {
        rules: &[USER_DATA_IN_LOG],
        run: user_data_in_log,
        live: Live::Settings(&["hide-user-data-from-log"]),
    },
];

/// Lines Redis refuses to load: a refused quote, or a known directive with the wrong number
/// of arguments (`port 0 6380`, `replicaof`). The gate judges only what the server would run.
fn unloadable_line(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    for (line, raw) in &c.refused {
        f.add(UNLOADABLE_LINE, Some(*line), &crate::values::visible(raw));
    }
    // The set once per file: the gate reads every node's config of a large topology.
    let known = p.server.directives();
    for d in c
        .directives
        .iter()
        .filter(|d| known.contains(d.name.to_ascii_lowercase().as_str()) || is_special(&d.name))
        .filter(|d| !arity_ok(&d.name, d.args.len()))
    {
        f.add(
            UNLOADABLE_LINE,
            Some(d.line),
            &format!(
                "{} ({} argument{}: Redis refuses the line)",
                crate::values::visible(d.raw.trim()),
                d.args.len(),
                if d.args.len() == 1 { "" } else { "s" }
            ),
        );
    }
}

/// Directives `loadServerConfig` handles itself, outside `CONFIG GET *`.
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "include" | "rename-command" | "user" | "loadmodule" | "sentinel"
    )
}

/// A Sentinel's config (`--sentinel`): one with a `sentinel monitor` line.
fn is_sentinel_conf(c: &Conf) -> bool {
    c.all("sentinel").any(|d| {
        d.args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case("monitor"))
    })
}

/// Every directive must exist in the targeted version ([`crate::server`]'s measured tables).
fn unknown_directive(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    // `sentinel` lines are a Sentinel's config (`--sentinel`); a data server refuses them.
    let sentinel = is_sentinel_conf(c);
    let known = p.server.directives();
    for d in c
        .directives
        .iter()
        .filter(|d| !known.contains(d.name.to_ascii_lowercase().as_str()))
        .filter(|d| !(sentinel && d.name == "sentinel"))
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

fn unix_socket(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    // Where TLS and client certificates are required, a socket is a way around both.
    if p.tls_required
        && let Some(d) = c
            .last("unixsocket")
            .filter(|d| d.args.first().is_some_and(|a| !a.is_empty()))
    {
        let perm = c
            .last("unixsocketperm")
            .and_then(|d| d.args.first())
            .map(|m| format!(" (unixsocketperm {})", crate::values::visible(m)))
            .unwrap_or_default();
        f.add(
            UNIX_SOCKET,
            Some(d.line),
            &format!("{}{perm}", d.raw.trim()),
        );
    }
}

fn trust_anchor(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    // Redis trusts every CA of the file and of the directory: both must be the bundle's.
    let tls_listener = c
        .last("tls-port")
        .is_some_and(|d| d.args.first().is_some_and(|a| a != "0"));
    if !p.tls_required || !tls_listener {
        return;
    }
    if let Some(d) = c
        .last("tls-ca-cert-dir")
        .filter(|d| d.args.first().is_some_and(|a| !a.is_empty()))
    {
        f.add(TRUST_ANCHOR, Some(d.line), &d.raw);
    }
    if let Some(want) = &p.trust_anchor {
        match c.last("tls-ca-cert-file") {
            Some(d) if d.args.first() != Some(want) => f.add(TRUST_ANCHOR, Some(d.line), &d.raw),
            Some(_) => {}
            None => f.add(
                TRUST_ANCHOR,
                None,
                &format!("no `tls-ca-cert-file`: clients must be verified with {want}"),
            ),
        }
    }
}

fn weak_ciphers(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    if !p.tls_required {
        return;
    }
    if let Some(d) = c.last("tls-ciphers")
        && d.args.first().is_some_and(|a| weak_cipher_list(a))
    {
        f.add(WEAK_CIPHERS, Some(d.line), &d.raw);
    }
    // TLS 1.3 has five suites; only CCM_8 is weak (a truncated tag), and OpenSSL offers it
    // only when the list names it.
    if let Some(d) = c.last("tls-ciphersuites")
        && d.args.first().is_some_and(|a| {
            a.split(':')
                .any(|s| s.trim().eq_ignore_ascii_case("TLS_AES_128_CCM_8_SHA256"))
        })
    {
        f.add(WEAK_CIPHERS, Some(d.line), &d.raw);
    }
}

/// `maxmemory 0` (any unit): no limit. A config without `maxmemory` has Redis's default,
/// also 0; statically only an explicit 0 is reported (it undoes what the bundle renders),
/// while a running server shows its effective value, `CONFIG GET maxmemory: 0`.
fn memory_limit(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    let zero = |a: &str| {
        let digits = a
            .trim()
            .trim_end_matches(|ch: char| ch.is_ascii_alphabetic());
        !digits.is_empty() && digits.bytes().all(|b| b == b'0')
    };
    if let Some(d) = c.last("maxmemory")
        && d.args.first().is_some_and(|a| zero(a))
    {
        f.add(MEMORY_LIMIT, Some(d.line), &d.raw);
    }
}

/// A data directory every local user may write: the shared temporary directories themselves
/// (a private directory below them, as a test's temp dir, is the user's own).
fn data_dir(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    const SHARED: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];
    if let Some(d) = c.last("dir")
        && d.args.first().is_some_and(|a| {
            let a = a.trim();
            let a = if a.len() > 1 {
                a.trim_end_matches('/')
            } else {
                a
            };
            SHARED.contains(&a)
        })
    {
        f.add(DATA_DIR, Some(d.line), &d.raw);
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

/// `enable-*-command` and `enable-protected-configs`: anything but `no` enables.
fn enabled(c: &Conf, f: &mut Findings<'_>, name: &str, rule: Rule) {
    if let Some(d) = c
        .last(name)
        .filter(|d| d.args.first().is_none_or(|a| !a.eq_ignore_ascii_case("no")))
    {
        f.add(rule, Some(d.line), &d.raw);
    }
}

fn aclfile(c: &Conf, _: &Policy, f: &mut Findings<'_>) {
    match c.last("aclfile") {
        None => f.add(ACLFILE, None, "no `aclfile` directive (no ACL file)"),
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

/// The commands `user` lines name must exist in the server (a Sentinel's, in a Sentinel's
/// config: one with `sentinel monitor`).
fn user_commands(c: &Conf, p: &Policy, f: &mut Findings<'_>) {
    let sentinel = is_sentinel_conf(c);
    for d in c.all("user") {
        if let Some((name, rules)) = d.args.split_first() {
            acl::check_commands(f, p, Some(d.line), name, rules, sentinel);
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
    // The replication password of a dedicated user (not default), in a 0600 file: what every
    // replica needs; elsewhere, or as default's password, it is a finding like any other.
    let user = c.last("masteruser").or_else(|| c.last("primaryuser"));
    let replication_user = user
        .and_then(|d| d.args.first())
        .is_some_and(|u| !u.is_empty() && u != "default");
    let allowed = |name: &str| {
        p.secret_file && replication_user && (name == "masterauth" || name == "primaryauth")
    };
    for d in c
        .directives
        .iter()
        .filter(|d| !allowed(&d.name))
        .filter(|d| {
            d.name == "requirepass"
                || d.name == "masterauth"
                || (primary && d.name == "primaryauth")
        })
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
pub(super) fn redact_user_args<S: AsRef<str>>(keyword: &str, args: &[S]) -> String {
    let shown: Vec<&str> = args
        .iter()
        .map(|t| {
            let t = t.as_ref();
            if t.starts_with('>') || t.starts_with('<') {
                ">…"
            } else if t.starts_with('#') || t.starts_with('!') {
                // A password hash (or its removal) says nothing a reader needs.
                "#<hash>"
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
