//! `redis-harden audit`: judge any redis.conf, ACL file or Dragonfly flagfile (not only ours)
//! with the policy checker, and a running server with real connections ([`live`]).
//!
//! Findings of both kinds share one shape (rule, severity, where, what, why, fix) and one
//! exit code: 1 when any is at or above `--fail-on`.

pub mod live;
pub mod sentinel;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{AuditArgs, Format};
use crate::error::Error;
use crate::policy::{self, Finding, Kind, Policy, Severity};
use crate::{compose, dragonfly, init, render};

/// `--fail-on`: the lowest severity that fails the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

impl FailOn {
    pub fn severity(self) -> Severity {
        match self {
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
            FailOn::Critical => Severity::Critical,
        }
    }
}

/// `--kind`: how to read a file whose content and name do not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    RedisConf,
    Acl,
    DragonflyFlags,
    Compose,
}

impl KindArg {
    fn kind(self) -> Kind {
        match self {
            KindArg::RedisConf => Kind::RedisConf,
            KindArg::Acl => Kind::Acl,
            KindArg::DragonflyFlags => Kind::DragonflyFlags,
            KindArg::Compose => Kind::Compose,
        }
    }
}

/// How a file is read: `--kind`, else its content, else its name, else as a redis.conf (the
/// audit is about Redis: a file that says nothing is most likely its config).
pub fn kind_of(name: &str, content: &str, forced: Option<KindArg>) -> Kind {
    forced
        .map(KindArg::kind)
        .or_else(|| Kind::sniff(content))
        .or_else(|| Some(Kind::of(name)).filter(|k| *k != Kind::Other))
        .unwrap_or(Kind::RedisConf)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::RedisConf => "redis.conf",
        Kind::Acl => "ACL file",
        Kind::DragonflyFlags => "Dragonfly flagfile",
        Kind::Compose => "compose file",
        Kind::Other => "unknown",
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    environment: String,
    fail_on: Severity,
    /// What was audited: each file with the kind it was read as, and the server.
    audited: &'a [Audited],
    counts: Counts,
    findings: &'a [Finding],
}

#[derive(Serialize)]
struct Audited {
    target: String,
    kind: &'static str,
    /// The family and version whose rules judged it (`Valkey 8.1`); for a live server what
    /// HELLO reported (`Valkey 8.1.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
}

/// Whether the command line names the engine or version (else a live server's own wins).
fn server_given(args: &AuditArgs) -> bool {
    args.engine.is_some() || !args.sets.is_empty()
}

/// The engine and version whose rules judge the files: `--engine` and `--set` (only
/// `engine` and `server.version`), else Redis's default.
fn server_of(args: &AuditArgs) -> Result<&'static crate::server::Facts, Error> {
    use crate::profile::Engine;
    use crate::server::{self, ServerVersion};
    let mut engine = Engine::Redis;
    let mut version = None;
    let mut version_origin = None;
    let bad = |arg: &str, key: &str, value: &str, reason: String| Error::Input {
        origin: format!("--set {}", crate::values::visible(arg)),
        key: key.into(),
        // As a profile error shows it: one line of JSON, controls escaped.
        value: Some(serde_json::Value::from(value).to_string()),
        reason,
    };
    for arg in &args.sets {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(Error::Usage {
                message: format!("--set {:?}: missing '=' between key and value", arg),
                help: "write --set server.version=8.0 or --set engine=valkey".into(),
            });
        };
        match key.trim() {
            "engine" => {
                engine = serde_json::from_value(serde_json::Value::from(value.trim())).map_err(
                    |_| {
                        bad(
                            arg,
                            "engine",
                            value,
                            "expected redis, valkey or dragonfly".into(),
                        )
                    },
                )?;
            }
            "server.version" => {
                version = Some(
                    ServerVersion::parse(value.trim().trim_matches('"'))
                        .map_err(|reason| bad(arg, "server.version", value, reason))?,
                );
                version_origin = Some(arg.clone());
            }
            other => {
                return Err(Error::Usage {
                    message: format!("--set {}: audit takes only engine and server.version, not {}", crate::values::visible(arg), crate::values::visible(other)),
                    help: "the audit judges by the environment's built-in policy; only the server family and version are chosen".into(),
                });
            }
        }
    }
    if let Some(e) = args.engine {
        engine = e;
    }
    let version = version.unwrap_or_else(|| server::default_version(engine));
    server::facts(engine, version).ok_or_else(|| {
        let arg = version_origin
            .unwrap_or_else(|| format!("engine={}", server::family_name(engine).to_lowercase()));
        bad(
            &arg,
            "server.version",
            &version.to_string(),
            format!(
                "{} {version} is not supported; supported versions: {}",
                server::family_name(engine),
                server::list(&server::supported_versions(engine))
            ),
        )
    })
}

#[derive(Serialize, Default)]
struct Counts {
    critical: usize,
    high: usize,
    medium: usize,
    low: usize,
    info: usize,
}

pub fn run(
    args: &AuditArgs,
    now: OffsetDateTime,
    cwd: &Path,
    stdout: &mut dyn Write,
) -> Result<(), Error> {
    let (bundle, _) = init::out_dir(args.out.as_deref(), args.env, cwd)?;
    let bundle_audit = args.files.is_empty() && args.url.is_empty();
    let server = if bundle_audit && !server_given(args) {
        // A bundle is judged by the engine and version its profile names, as `check` is.
        crate::profile::resolve(args.env, None, &[], cwd)?
            .settings
            .server_facts()
    } else {
        server_of(args)?
    };
    let policy = Policy::for_env(args.env, args.firewalled, args.container).for_server(server);
    // Bundle files are shown relative to the bundle, like `check` shows them.
    let targets: Vec<(String, PathBuf)> = if bundle_audit {
        bundle_files(&bundle, args)?
            .into_iter()
            .map(|p| (shown_in_bundle(&bundle, &p), p))
            .collect()
    } else {
        args.files
            .iter()
            .map(|f| (f.display().to_string(), cwd.join(f)))
            .collect()
    };

    // The live servers first: the version HELLO reports (the first server's) also judges the
    // files given with them, unless the command line names one.
    let live = live_audits(args, &policy, &bundle, cwd, now)?;
    let (server, policy) = match live.reports.first().and_then(|r| r.facts) {
        Some(found) if !server_given(args) => (found, policy.clone().for_server(found)),
        _ => (server, policy),
    };

    let (mut audited, mut findings) = audit_files(args, targets, server, &policy)?;
    audited.extend(live.sentinels);
    findings.extend(live.findings);
    for report in live.reports {
        audited.push(Audited {
            target: report.target.clone(),
            kind: "live server",
            server: report.server.clone(),
        });
        findings.extend(report.findings);
    }
    report(args, &audited, &findings, stdout)
}

/// Each file read as its kind and judged by the policy of `server`.
fn audit_files(
    args: &AuditArgs,
    targets: Vec<(String, PathBuf)>,
    server: &'static crate::server::Facts,
    policy: &Policy,
) -> Result<(Vec<Audited>, Vec<Finding>), Error> {
    let mut audited = vec![];
    let mut findings = vec![];
    for (shown, path) in targets {
        let bytes = std::fs::read(&path).map_err(|e| Error::File {
            path: path.clone(),
            reason: format!("cannot be read: {e}"),
            help: "check the path and that you may read it (Debian's /etc/redis is readable by root and the redis group)".into(),
        })?;
        let content = String::from_utf8_lossy(&bytes);
        let kind = kind_of(&shown, &content, args.kind);
        // The bytes, not the lossy text: a redis.conf is parsed byte for byte, like Redis.
        let mut found = policy::check_bytes_as(kind, &shown, &bytes, policy);
        if kind == Kind::RedisConf {
            found.extend(implied_default_user(&shown, &bytes));
        }
        found.sort_by_key(|f| f.line.unwrap_or(0));
        findings.extend(found);
        audited.push(Audited {
            target: shown,
            kind: kind_name(kind),
            server: (kind == Kind::RedisConf || kind == Kind::Acl).then(|| server.label()),
        });
    }
    Ok((audited, findings))
}

/// Writes the report (text or JSON) and fails when any finding is at or above `--fail-on`.
fn report(
    args: &AuditArgs,
    audited: &[Audited],
    findings: &[Finding],
    stdout: &mut dyn Write,
) -> Result<(), Error> {
    let bar = args.fail_on.severity();
    let failing = findings.iter().filter(|f| f.severity >= bar).count();
    let mut counts = Counts::default();
    for f in findings {
        *match f.severity {
            Severity::Critical => &mut counts.critical,
            Severity::High => &mut counts.high,
            Severity::Medium => &mut counts.medium,
            Severity::Low => &mut counts.low,
            Severity::Info => &mut counts.info,
        } += 1;
    }
    let out = match args.format {
        Format::Json => {
            let report = Report {
                ok: failing == 0,
                environment: args.env.to_string(),
                fail_on: bar,
                audited,
                counts,
                findings,
            };
            serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
        }
        Format::Text => text(findings, &counts, bar, failing, audited),
    };
    stdout
        .write_all(out.as_bytes())
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })?;
    if failing == 0 {
        return Ok(());
    }
    Err(Error::Check {
        summary: format!(
            "audit found {failing} finding{} at or above {}",
            if failing == 1 { "" } else { "s" },
            severity_name(bar)
        ),
        help: "each finding's `fix:` line says what to change; a bundle from `redis-harden init` passes this audit".into(),
    })
}

/// What the live part of an audit found: every server's report, and for each Sentinel URL
/// the Sentinel asked (with what it said) and the findings about servers it reports down.
struct LiveAudits {
    reports: Vec<live::Report>,
    sentinels: Vec<Audited>,
    findings: Vec<Finding>,
}

/// Audits every `--url`, in order; a Sentinel URL stands for the primary and replicas the
/// Sentinel reports, each audited as its own URL.
fn live_audits(
    args: &AuditArgs,
    policy: &Policy,
    bundle: &Path,
    cwd: &Path,
    now: OffsetDateTime,
) -> Result<LiveAudits, Error> {
    let base = live::Options {
        url: "",
        policy,
        server_given: server_given(args),
        bundle,
        ca: args.ca.as_ref().map(|p| cwd.join(p)),
        cert: args.cert.as_ref().map(|p| cwd.join(p)),
        key: args.key.as_ref().map(|p| cwd.join(p)),
        app_user: &args.app_user,
        warn_days: args.warn_days,
        now,
        password: std::env::var("REDISCLI_AUTH")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let mut out = LiveAudits {
        reports: vec![],
        sentinels: vec![],
        findings: vec![],
    };
    for url in &args.url {
        let Some(parsed) = sentinel::SentinelUrl::parse(url) else {
            out.reports.push(live::audit(&live::Options {
                url,
                ..base.clone()
            })?);
            continue;
        };
        let parsed = parsed?;
        let found = sentinel::discover(
            &parsed,
            &live::Options {
                url,
                ..base.clone()
            },
        )?;
        out.sentinels.push(Audited {
            target: parsed.shown(),
            kind: "Sentinel",
            server: Some(found.summary.join("; ")),
        });
        out.findings.extend(found.findings);
        for server in &found.urls {
            out.reports.push(live::audit(&live::Options {
                url: server,
                ..base.clone()
            })?);
        }
    }
    Ok(out)
}

/// A redis.conf without an ACL file, a password or a `user default` line leaves Redis's
/// default user `on nopass ~* &* +@all`: every connection may run every command. (Only the
/// audit says so: in a bundle the ACL file is checked on its own.)
fn implied_default_user(shown: &str, content: &[u8]) -> Option<Finding> {
    let ds = policy::parse_redis_conf_bytes(content);
    let set = |name: &str| {
        ds.iter()
            .rev()
            .find(|d| d.name == name)
            .is_some_and(|d| d.args.first().is_some_and(|a| !a.trim().is_empty()))
    };
    let default_line = ds
        .iter()
        .any(|d| d.name == "user" && d.args.first().is_some_and(|u| u == "default"));
    if set("aclfile") || set("requirepass") || default_line {
        return None;
    }
    let rule = policy::DEFAULT_USER;
    Some(Finding {
        artifact: shown.to_owned(),
        rule: rule.id,
        severity: rule.severity,
        line: None,
        text: "no `aclfile`, `requirepass` or `user default` line: the default user is `on nopass ~* &* +@all`".into(),
        why: rule.why,
        fix: "point `aclfile` at an ACL file whose first line is `user default off`",
    })
}

/// The bundle's config files that exist, for `audit --env ENV` without FILE or --url.
fn bundle_files(bundle: &Path, args: &AuditArgs) -> Result<Vec<PathBuf>, Error> {
    let names = [
        render::REDIS_CONF,
        render::USERS_ACL,
        dragonfly::FLAGS_FILE,
        dragonfly::ACL_FILE,
        compose::COMPOSE_FILE,
    ];
    let found: Vec<PathBuf> = names
        .iter()
        .map(|n| bundle.join(n))
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        let shown = args
            .out
            .clone()
            .unwrap_or_else(|| init::default_out(args.env));
        return Err(Error::Usage {
            message: format!("nothing to audit: no FILE, no --url, and no config files in {}", shown.display()),
            help: "pass the files to audit (e.g. /etc/redis/redis.conf), --url rediss://USER@HOST:PORT, or --out DIR for a bundle".into(),
        });
    }
    Ok(found)
}

fn shown_in_bundle(bundle: &Path, path: &Path) -> String {
    path.strip_prefix(bundle)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn text(
    findings: &[Finding],
    counts: &Counts,
    bar: Severity,
    failing: usize,
    audited: &[Audited],
) -> String {
    let mut out = String::new();
    for a in audited {
        match &a.server {
            Some(s) if a.kind == "live server" => {
                out.push_str(&format!("audited {} (live server: {s})\n", a.target));
            }
            Some(s) if a.kind == "Sentinel" => {
                out.push_str(&format!("asked {} (Sentinel: {s})\n", a.target));
            }
            Some(s) => out.push_str(&format!(
                "audited {} ({}, by the rules of {s})\n",
                a.target, a.kind
            )),
            None => out.push_str(&format!("audited {} ({})\n", a.target, a.kind)),
        }
    }
    for f in findings {
        let at = f.line.map(|n| format!(":{n}")).unwrap_or_default();
        out.push_str(&format!(
            "{}{at}: {} [{}] {}\n    why: {}\n    fix: {}\n",
            f.artifact,
            severity_name(f.severity),
            f.rule,
            f.text,
            f.why,
            f.fix
        ));
    }
    let listed = [
        (counts.critical, "critical"),
        (counts.high, "high"),
        (counts.medium, "medium"),
        (counts.low, "low"),
        (counts.info, "info"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, s)| format!("{n} {s}"))
    .collect::<Vec<_>>()
    .join(", ");
    let verdict = if failing == 0 { "ok" } else { "failed" };
    if findings.is_empty() {
        out.push_str("ok: no findings\n");
    } else {
        out.push_str(&format!(
            "{verdict}: {} finding{} ({listed}); {failing} at or above {}\n",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            severity_name(bar)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_comes_from_the_flag_then_content_then_name() {
        let flags = "--bind=127.0.0.1\n--tls\n";
        assert_eq!(kind_of("dragonfly.conf", flags, None), Kind::DragonflyFlags);
        assert_eq!(kind_of("x", "port 0\n", Some(KindArg::Acl)), Kind::Acl);
        assert_eq!(kind_of("users.acl", "", None), Kind::Acl);
        assert_eq!(
            kind_of("/etc/redis/redis.conf", "bind 127.0.0.1\n", None),
            Kind::RedisConf
        );
        assert_eq!(
            kind_of("settings", "bind 127.0.0.1\n", None),
            Kind::RedisConf
        );
    }

    #[test]
    fn a_conf_without_acls_or_password_leaves_default_open() {
        let rule = |c: &str| implied_default_user("r.conf", c.as_bytes()).map(|f| f.rule);
        assert_eq!(
            rule("bind 127.0.0.1 -::1\nport 6379\n"),
            Some(policy::DEFAULT_USER.id)
        );
        assert_eq!(rule("aclfile \"\"\n"), Some(policy::DEFAULT_USER.id));
        assert_eq!(rule("aclfile /etc/redis/users.acl\n"), None);
        assert_eq!(rule("requirepass x\n"), None);
        assert_eq!(rule("user default off\n"), None);
        // Quoted and escaped the way Redis reads them.
        assert_eq!(rule("\"aclf\\x69le\" /etc/redis/users.acl\n"), None);
        assert_eq!(rule("user 'default' off\n"), None);
    }

    #[test]
    fn fail_on_is_ordered_like_severity() {
        assert!(FailOn::Low.severity() < FailOn::Medium.severity());
        assert!(FailOn::High.severity() < FailOn::Critical.severity());
        assert!(Severity::Info < FailOn::Low.severity());
    }
}
