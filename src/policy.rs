//! The policy gate: every rendered artifact is parsed and checked against the environment's
//! built-in policy before anything is written. It judges the output, not the profile, so a
//! team template or a weakened profile value cannot slip past it.
//!
//! The checks work on any `redis.conf`, ACL file, Dragonfly flagfile or compose file, not only
//! ours, so an audit of an existing deployment can reuse them.

use std::fmt;

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
    let mut out = Findings {
        artifact: name,
        list: vec![],
    };
    match kind {
        Kind::RedisConf => check_redis_conf(content, policy, &mut out),
        Kind::Acl => check_acl(content, &mut out),
        Kind::DragonflyFlags => check_dragonfly_flags(content, policy, &mut out),
        Kind::Compose => check_compose(content, &mut out),
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
    pub args: Vec<String>,
}

/// Parses redis.conf the way Redis does (sdssplitargs): quoted strings, escapes, comments.
pub fn parse_redis_conf(content: &str) -> Vec<Directive> {
    content
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return None;
            }
            let mut args = split_args(trimmed)?;
            if args.is_empty() {
                return None;
            }
            let name = args.remove(0).to_ascii_lowercase();
            Some(Directive {
                line: i + 1,
                raw: raw.to_owned(),
                name,
                args,
            })
        })
        .collect()
}

/// Redis's sdssplitargs: whitespace-separated, "double quotes" with \-escapes, 'single'.
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = vec![];
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(out);
        };
        let mut cur = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if first == '"' => match chars.next()? {
                        'n' => cur.push('\n'),
                        'r' => cur.push('\r'),
                        't' => cur.push('\t'),
                        c => cur.push(c),
                    },
                    c if c == first => break,
                    c => cur.push(c),
                }
            }
            // Redis requires a space (or the end) after a closing quote.
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                cur.push(c);
                chars.next();
            }
        }
        out.push(cur);
    }
}

fn last<'a>(ds: &'a [Directive], name: &str) -> Option<&'a Directive> {
    ds.iter().rev().find(|d| d.name == name)
}

fn check_redis_conf(content: &str, p: &Policy, f: &mut Findings<'_>) {
    let ds = parse_redis_conf(content);
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
        if tls_port.is_none() && !plaintext_open {
            // No listener at all is not insecure, just useless; Redis itself reports it.
        }
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
    for d in ds.iter().filter(|d| d.name == "user") {
        f.add(USER_IN_CONF, Some(d.line), &redact_user_line(&d.raw));
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

/// An ACL user line with any plaintext password replaced, so findings never print a secret.
fn redact_user_line(raw: &str) -> String {
    raw.split_whitespace()
        .map(|t| {
            if t.starts_with('>') || t.starts_with('<') {
                ">…"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Users whose permissions must stay confined: the application user and any extra user.
fn is_confined_user(name: &str) -> bool {
    !matches!(name, "default" | "admin" | "monitoring")
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
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.len() < 2 || !tokens[0].eq_ignore_ascii_case("user") {
            continue;
        }
        let line = Some(i + 1);
        let name = tokens[1];
        let rules: Vec<String> = tokens[2..].iter().map(|t| t.to_ascii_lowercase()).collect();
        let on = rules.iter().fold(false, |on, r| match r.as_str() {
            "on" => true,
            "off" | "reset" => false,
            _ => on,
        });
        let shown = redact_user_line(raw);
        if rules.iter().any(|r| r.starts_with('>') || r == "nopass") {
            f.add(ACL_PLAINTEXT_PASSWORD, line, &shown);
        }
        if name == "default" {
            saw_default = true;
            if on {
                f.add(DEFAULT_USER, line, &shown);
            }
        }
        if is_confined_user(name) && on && grants_forbidden(&rules) {
            f.add(APP_PERMISSIONS, line, &shown);
        }
    }
    if !saw_default {
        f.add(
            DEFAULT_USER,
            None,
            "no `user default` line: Redis and Dragonfly create default as `on nopass +@all`",
        );
    }
}

/// Replays a user's command rules in order, for every dangerous, admin or scripting command,
/// and reports whether any of them ends up allowed. Selectors (`(...)`) add permissions of
/// their own, so an application user may not have any.
fn grants_forbidden(rules: &[String]) -> bool {
    if rules.iter().any(|r| r.starts_with('(')) {
        return true;
    }
    FORBIDDEN_FOR_APPS.iter().any(|(cmd, cats)| {
        let container = cmd.split('|').next().unwrap_or(cmd);
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
                let hit = match body.strip_prefix('@') {
                    Some(cat) => cats.contains(&cat),
                    // `+config` grants every CONFIG subcommand; `+config|set` just that one.
                    None => body == *cmd || body == container,
                };
                if hit { plus } else { allowed }
            }
        })
    })
}

fn check_dragonfly_flags(content: &str, p: &Policy, f: &mut Findings<'_>) {
    let mut flags: Vec<(usize, String, String, &str)> = vec![];
    for (i, raw) in content.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let body = t.trim_start_matches('-');
        let (name, value) = body.split_once('=').unwrap_or((body, "true"));
        flags.push((i + 1, name.to_ascii_lowercase(), value.to_owned(), raw));
    }
    let get = |name: &str| flags.iter().rev().find(|(_, n, _, _)| n == name);
    let falsy = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no");
    match get("primary_port_http_enabled") {
        Some((_, _, v, _)) if falsy(v) => {}
        Some((line, _, _, raw)) => f.add(DRAGONFLY_HTTP, Some(*line), raw),
        None => f.add(
            DRAGONFLY_HTTP,
            None,
            "no --primary_port_http_enabled=false: the HTTP console is on by default",
        ),
    }
    if let Some((line, _, port, raw)) = get("admin_port")
        && port != "0"
    {
        let loopback = get("admin_bind")
            .is_some_and(|(_, _, v, _)| v == "127.0.0.1" || v == "::1" || v == "localhost");
        let nopass = get("admin_nopass").is_some_and(|(_, _, v, _)| !falsy(v));
        if !loopback || nopass {
            f.add(DRAGONFLY_ADMIN, Some(*line), raw);
        }
    }
    if let Some((line, _, _, raw)) = get("requirepass") {
        let _ = raw;
        f.add(PASSWORD_IN_CONF, Some(*line), "--requirepass=<redacted>");
    }
    let tls = get("tls").is_some_and(|(_, _, v, _)| !falsy(v));
    if p.tls_required && !tls {
        match get("tls") {
            Some((line, _, _, raw)) => f.add(PLAINTEXT_PORT, Some(*line), raw),
            None => f.add(
                PLAINTEXT_PORT,
                None,
                "no --tls: Dragonfly serves plaintext on its port",
            ),
        }
    }
    // Dragonfly has no "optional": a CA file makes client certificates mandatory.
    let ca = get("tls_ca_cert_file").is_some_and(|(_, _, v, _)| !v.trim().is_empty());
    if tls && p.tls_required && p.client_auth == ClientAuth::Required && !ca {
        f.add(
            TLS_AUTH_CLIENTS,
            None,
            "no --tls_ca_cert_file: Dragonfly accepts clients without a certificate",
        );
    }
    if get("aclfile").is_none_or(|(_, _, v, _)| v.trim().is_empty()) {
        f.add(ACLFILE, None, "no --aclfile flag");
    }
}

fn check_compose(content: &str, f: &mut Findings<'_>) {
    // Published ports: "HOST:CONTAINER", "IP:HOST:CONTAINER", or the long syntax.
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(content) else {
        return;
    };
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else {
        return;
    };
    for (name, svc) in services {
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
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            [USER_IN_CONF.id, PASSWORD_IN_CONF.id]
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
        assert_eq!(
            ids("dragonfly.flags", "--bind=127.0.0.1\n", &prod()),
            [DRAGONFLY_HTTP.id, PLAINTEXT_PORT.id, ACLFILE.id]
        );
        let ok = "--primary_port_http_enabled=false\n--admin_port=9999\n--admin_bind=127.0.0.1\n--admin_nopass=false\n\
            --tls=true\n--tls_ca_cert_file=/c/ca.crt\n--aclfile=/c/users.acl\n";
        assert!(ids("dragonfly.flags", ok, &prod()).is_empty());
        for (from, to, rule) in [
            ("--tls=true", "--tls=false", PLAINTEXT_PORT.id),
            ("--tls_ca_cert_file=/c/ca.crt", "", TLS_AUTH_CLIENTS.id),
            ("--aclfile=/c/users.acl", "--aclfile=", ACLFILE.id),
        ] {
            assert_eq!(
                ids("dragonfly.flags", &ok.replace(from, to), &prod()),
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
                &prod()
            ),
            [DRAGONFLY_ADMIN.id]
        );
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

    #[test]
    fn split_args_like_redis() {
        assert_eq!(
            split_args(r#"tls-protocols "TLSv1.2 TLSv1.3""#).unwrap(),
            ["tls-protocols", "TLSv1.2 TLSv1.3"]
        );
        assert_eq!(
            split_args(r#"dir "/a b/\"c""#).unwrap(),
            ["dir", "/a b/\"c"]
        );
        assert!(split_args(r#"dir "unterminated"#).is_none());
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
