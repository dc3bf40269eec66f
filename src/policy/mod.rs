//! The policy gate: every rendered artifact is parsed and checked against the environment's
//! built-in policy before anything is written. It judges the output, not the profile, so a
//! team template or a weakened profile value cannot slip past it.
//!
//! The checks work on any `redis.conf`, ACL file, Dragonfly flagfile or compose file, not only
//! ours, so an audit of an existing deployment can reuse them.

mod acl;
pub mod acl_tables;
mod compose;
pub mod docs;
mod dragonfly_flags;
mod kubernetes;
pub mod redis_conf;
mod rules;

use std::fmt;

use serde::Serialize;

use crate::profile::{self, ClientAuth, Environment, TlsProtocol};

pub use acl_tables::FORBIDDEN_FOR_APPS;
pub use redis_conf::{Directive, arity_ok, parse_redis_conf, parse_redis_conf_bytes, split_args};
pub use rules::*;

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
    /// The CA file the server must verify clients with, where it is known (the gate knows
    /// the path it rendered; an audit of a foreign file does not).
    pub trust_anchor: Option<String>,
    /// The server family and version judged: its command tables ([`crate::server`]).
    pub server: &'static crate::server::Facts,
    /// The file judged is a secret one (mode 0600, never shown): a topology node's config,
    /// where `masterauth` of a dedicated replication user has to be (Redis reads it from
    /// nowhere else). The gate knows; an audit of a foreign file does not.
    pub secret_file: bool,
}

impl Policy {
    pub fn for_env(env: Environment, firewalled: bool, container: bool) -> Self {
        let builtin = profile::builtin(env);
        let server = builtin.server_facts();
        Self {
            env,
            tls_required: builtin.tls.enabled,
            protocols: builtin.tls.protocols,
            client_auth: builtin.tls.client_auth,
            firewalled,
            container,
            trust_anchor: None,
            server,
            secret_file: false,
        }
    }

    /// The same policy, with the CA file clients must be verified with.
    pub fn with_trust_anchor(mut self, ca_file: impl Into<String>) -> Self {
        self.trust_anchor = Some(ca_file.into());
        self
    }

    /// The same policy, judged by the tables of another server family or version.
    pub fn for_server(self, server: &'static crate::server::Facts) -> Self {
        Self { server, ..self }
    }
}

/// What kind of file an artifact is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RedisConf,
    Acl,
    DragonflyFlags,
    Compose,
    /// A Kubernetes manifest (`k8s/*.yaml`), one or more YAML documents.
    Kubernetes,
    Other,
}

impl Kind {
    pub fn of(name: &str) -> Kind {
        let base = name.rsplit('/').next().unwrap_or(name);
        // A systemd drop-in (a topology node's: nodes/NAME/systemd/) is a .conf too, and no
        // redis.conf.
        if name.starts_with("systemd/") || name.contains("/systemd/") {
            Kind::Other
        } else if base.ends_with(".conf") {
            Kind::RedisConf
        } else if base.ends_with(".acl") {
            Kind::Acl
        } else if base.ends_with(".flags") {
            Kind::DragonflyFlags
        } else if base.contains("compose") && (base.ends_with(".yml") || base.ends_with(".yaml")) {
            Kind::Compose
        } else if name.starts_with("k8s/") && (base.ends_with(".yml") || base.ends_with(".yaml")) {
            Kind::Kubernetes
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
        if content.lines().any(|l| l.starts_with("apiVersion:"))
            && content.lines().any(|l| l.starts_with("kind:"))
        {
            return Some(Kind::Kubernetes);
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
            Kind::RedisConf | Kind::DragonflyFlags | Kind::Compose | Kind::Kubernetes => Some("#"),
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
    let mut out = Findings::new(name);
    let text = || String::from_utf8_lossy(content);
    match kind {
        Kind::RedisConf => redis_conf::check(content, policy, &mut out),
        Kind::Acl => acl::check(&text(), policy, &mut out),
        Kind::DragonflyFlags => dragonfly_flags::check(&text(), policy, &mut out),
        Kind::Compose => compose::check(&text(), &mut out),
        Kind::Kubernetes => kubernetes::check(&text(), &mut out),
        Kind::Other => {}
    }
    out.list
}

/// One row of a format's check table: the rules a check can break, the check, and what a
/// live audit reads to run the same check on a running server.
pub struct Check<T: ?Sized> {
    pub rules: &'static [Rule],
    pub run: fn(&T, &Policy, &mut Findings<'_>),
    pub live: Live,
}

/// How the live audit runs a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// On these settings, read with `CONFIG GET`.
    Settings(&'static [&'static str]),
    /// On every user, read with `ACL LIST`.
    Users,
    /// Not at all, and why (e.g. a running server has no `include`: it shows its settings).
    No(&'static str),
}

/// The formats whose check tables name `rule`, for the docs (live checks are listed by the
/// live audit itself: [`crate::audit::live`]).
pub fn checked_in(rule: &Rule) -> Vec<Kind> {
    let names = |rules: &[&[Rule]]| rules.iter().any(|rs| rs.contains(rule));
    let conf: Vec<&[Rule]> = redis_conf::CHECKS.iter().map(|c| c.rules).collect();
    [
        (Kind::RedisConf, names(&conf)),
        (Kind::Acl, names(&[acl::RULES])),
        (Kind::DragonflyFlags, names(&[dragonfly_flags::RULES])),
        (Kind::Compose, names(&[compose::RULES])),
        (Kind::Kubernetes, names(&[kubernetes::RULES])),
    ]
    .into_iter()
    .filter_map(|(k, yes)| yes.then_some(k))
    .collect()
}

/// Findings of one artifact, as the checks add them.
pub struct Findings<'a> {
    artifact: &'a str,
    list: Vec<Finding>,
}

impl<'a> Findings<'a> {
    pub fn new(artifact: &'a str) -> Self {
        Findings {
            artifact,
            list: vec![],
        }
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.list
    }

    pub fn add(&mut self, rule: Rule, line: Option<usize>, text: &str) {
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

#[cfg(test)]
mod tests;
