//! Dragonfly flagfiles, read the way absl reads them: `--name=value`, `--name`, `--noname`,
//! the last of a name wins.

use std::net::IpAddr;

use super::{Findings, Policy, rules::*};
use crate::profile::{ClientAuth, TlsProtocol};

/// The boolean flags Dragonfly v1.40 defines (from `dragonfly-flags.tsv`): absl reads
/// `--noX` as `--X=false` only for these, and only when no flag is named `noX` itself.
fn dragonfly_bool_flag(name: &str) -> bool {
    const TSV: &str = include_str!("../dragonfly-flags.tsv");
    TSV.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?, cols.next()?))
        })
        .any(|(n, ty)| n == name && ty == "bool")
}

fn dragonfly_flag_exists(name: &str) -> bool {
    const TSV: &str = include_str!("../dragonfly-flags.tsv");
    TSV.lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.split('\t').next() == Some(name))
}

/// An absl boolean: true/false, t/f, yes/no, y/n, 1/0, any case, surrounding whitespace
/// ignored. `None` for anything else (absl refuses it, and Dragonfly does not start).
pub(super) fn absl_bool(v: &str) -> Option<bool> {
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

/// The rules a Dragonfly flagfile can break.
pub const RULES: &[Rule] = &[
    DRAGONFLY_HTTP,
    DRAGONFLY_ADMIN,
    DRAGONFLY_UNAUTHENTICATED,
    BIND_ALL,
    INCLUDE,
    PASSWORD_IN_CONF,
    PLAINTEXT_PORT,
    TLS_AUTH_CLIENTS,
    TRUST_ANCHOR,
    DRAGONFLY_TLS12,
    ACLFILE,
    TLS_REPLICATION,
    DRAGONFLY_VERSION_CHECK,
];

pub fn check(content: &str, p: &Policy, f: &mut Findings<'_>) {
    let flags = Flags(parse_dragonfly_flags(content));
    check_listeners(&flags, p, f);
    check_secrets_and_includes(&flags, f);
    let tls = check_tls(&flags, p, f);
    if flags
        .get("aclfile")
        .is_none_or(|fl| fl.value().trim().is_empty())
    {
        f.add(ACLFILE, None, "no --aclfile flag");
    }
    // The last --tls_replication wins: a later `false` undoes the built-in `true`.
    if tls
        && p.tls_required
        && let Some(fl) = flags
            .get("tls_replication")
            .filter(|fl| fl.bool() != Some(true))
    {
        f.add(TLS_REPLICATION, Some(fl.line), fl.raw);
    }
    match flags.get("version_check") {
        Some(fl) if fl.bool() == Some(false) => {}
        Some(fl) => f.add(DRAGONFLY_VERSION_CHECK, Some(fl.line), fl.raw),
        None => f.add(
            DRAGONFLY_VERSION_CHECK,
            None,
            "no --version_check=false: Dragonfly checks for new versions by default",
        ),
    }
}

/// A flagfile's flags in order; the last of a name wins, as in absl.
struct Flags<'a>(Vec<Flag<'a>>);

impl<'a> Flags<'a> {
    fn get(&self, name: &str) -> Option<&Flag<'a>> {
        self.0.iter().rev().find(|fl| fl.name == name)
    }
}

/// The HTTP console, the admin port, the listeners without a password, and the bind address.
fn check_listeners(flags: &Flags<'_>, p: &Policy, f: &mut Findings<'_>) {
    match flags.get("primary_port_http_enabled") {
        Some(fl) if fl.bool() == Some(false) => {}
        Some(fl) => f.add(DRAGONFLY_HTTP, Some(fl.line), fl.raw),
        None => f.add(
            DRAGONFLY_HTTP,
            None,
            "no --primary_port_http_enabled=false: the HTTP console is on by default",
        ),
    }
    if let Some(fl) = flags
        .get("admin_port")
        .filter(|fl| absl_int(fl.value()) != Some(0))
    {
        let loopback = flags.get("admin_bind").is_some_and(|b| {
            let v = b.value().trim();
            v == "localhost" || v.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        let nopass = flags
            .get("admin_nopass")
            .is_some_and(|n| n.bool() != Some(false));
        if !loopback || nopass {
            f.add(DRAGONFLY_ADMIN, Some(fl.line), fl.raw);
        }
    }
    // Listeners that never ask for a password.
    if let Some(fl) = flags
        .get("memcached_port")
        .filter(|fl| absl_int(fl.value()) != Some(0))
    {
        f.add(DRAGONFLY_UNAUTHENTICATED, Some(fl.line), fl.raw);
    }
    if let Some(fl) = flags
        .get("unixsocket")
        .filter(|fl| !fl.value().trim().is_empty())
    {
        f.add(DRAGONFLY_UNAUTHENTICATED, Some(fl.line), fl.raw);
    }
    if !p.firewalled
        && !p.container
        && let Some(fl) = flags.get("bind")
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
}

/// More flags from elsewhere, and passwords written into the file.
fn check_secrets_and_includes(flags: &Flags<'_>, f: &mut Findings<'_>) {
    // More flags from another file, or from the environment (absl's --fromenv).
    for fl in flags
        .0
        .iter()
        .filter(|fl| matches!(fl.name.as_str(), "flagfile" | "fromenv" | "tryfromenv"))
    {
        f.add(INCLUDE, Some(fl.line), fl.raw);
    }
    for name in ["requirepass", "masterauth"] {
        if let Some(fl) = flags.get(name).filter(|fl| !fl.value().is_empty()) {
            f.add(
                PASSWORD_IN_CONF,
                Some(fl.line),
                &format!("--{name}=<redacted>"),
            );
        }
    }
}

/// TLS on the port, client certificates and the protocol floor; whether `--tls` is on.
fn check_tls(flags: &Flags<'_>, p: &Policy, f: &mut Findings<'_>) -> bool {
    let tls_flag = flags.get("tls");
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
    let ca = flags
        .get("tls_ca_cert_file")
        .is_some_and(|fl| !fl.value().trim().is_empty());
    if tls && p.tls_required && p.client_auth == ClientAuth::Required && !ca {
        f.add(
            TLS_AUTH_CLIENTS,
            None,
            "no --tls_ca_cert_file: Dragonfly accepts clients without a certificate",
        );
    }
    if tls && p.tls_required {
        trust_anchor(flags, p, f);
    }
    // Dragonfly has no protocol flag: a TLS 1.3-only policy cannot be enforced, only noted.
    if tls
        && p.protocols.contains(&TlsProtocol::Tls13)
        && !p.protocols.contains(&TlsProtocol::Tls12)
        && let Some(fl) = tls_flag
    {
        f.add(DRAGONFLY_TLS12, Some(fl.line), fl.raw);
    }
    tls
}

/// Dragonfly trusts every CA of `--tls_ca_cert_file` and `--tls_ca_cert_dir`: the file must be
/// the bundle's own (where the gate knows its path) and there must be no directory.
fn trust_anchor(flags: &Flags<'_>, p: &Policy, f: &mut Findings<'_>) {
    if let Some(fl) = flags
        .get("tls_ca_cert_dir")
        .filter(|fl| !fl.value().trim().is_empty())
    {
        f.add(TRUST_ANCHOR, Some(fl.line), fl.raw);
    }
    if let Some(want) = &p.trust_anchor
        && let Some(fl) = flags
            .get("tls_ca_cert_file")
            .filter(|fl| !fl.value().trim().is_empty() && fl.value() != want)
    {
        f.add(TRUST_ANCHOR, Some(fl.line), fl.raw);
    }
}
