//! The live audit: connect to a running server for real (the `redis` crate over rustls, and
//! raw rustls handshakes for the TLS version probes) and check what the field notes'
//! validator scripts check by hand.
//!
//! Nothing the audit sends can change the server. Command permissions are asked with
//! `ACL DRYRUN`; where the connecting user may not run it and is the application user, each
//! command is queued inside `MULTI` (Redis checks permissions when it queues) and then
//! thrown away with `DISCARD`, so it never runs. SHUTDOWN refuses to be queued, so it is
//! only ever asked with `ACL DRYRUN`. The password is sent only over a connection whose
//! certificate verified, or in plaintext to loopback (127.0.0.0/8, ::1, localhost), and
//! never printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, Value};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::pki;
use crate::policy::redis_conf::{self, Conf};
use crate::policy::{
    self, CERT_EXPIRY, CHECK_SKIPPED, Check, Finding, Findings, Kind, Live, Policy, Rule,
    SERVER_CERT, Severity, TLS_HANDSHAKE, TLS_VERSION_REFUSED, UNAUTHENTICATED, UNKNOWN_SERVER,
};
use crate::profile::ClientAuth;
use crate::render;
use crate::server::{self, Detected};
use crate::tlsprobe::{self, Version};

/// Every network step is bounded, so a silent server cannot hang the audit.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the live audit needs.
#[derive(Clone)]
pub struct Options<'a> {
    pub url: &'a str,
    pub policy: &'a Policy,
    /// The bundle directory: client.env and tls/ are taken from it when not given.
    pub bundle: &'a Path,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub app_user: &'a str,
    pub warn_days: u32,
    pub now: OffsetDateTime,
    /// From REDISCLI_AUTH; else the bundle's client.env is read.
    pub password: Option<String>,
    /// Whether `--engine`/`--set server.version` named the server: then a different family
    /// or version found live is reported, and the live server is still judged by its own.
    pub server_given: bool,
}

pub struct Report {
    /// The URL, without any password.
    pub target: String,
    /// What HELLO reported (`Valkey 8.1.1`), when the audit got that far.
    pub server: Option<String>,
    /// The facts of that version, when it is a supported one.
    pub facts: Option<&'static server::Facts>,
    pub findings: Vec<Finding>,
}

/// `redis[s]://[USER@]HOST[:PORT][/DB]`, without a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    pub user: Option<String>,
    /// As written; IPv6 in brackets.
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, Error> {
        let usage = |message: String| Error::Usage {
            message,
            help: "e.g. --url rediss://app@10.0.1.5:6379 (the password goes in REDISCLI_AUTH)"
                .into(),
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("redis://") {
            (false, r)
        } else {
            return Err(usage(
                "--url: expected rediss://USER@HOST:PORT or redis://USER@HOST:PORT".into(),
            ));
        };
        let rest = rest.split('/').next().unwrap_or(rest);
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hp)) => {
                if userinfo.contains(':') {
                    // Never echo the URL: it holds a password.
                    return Err(Error::Usage {
                        message: "--url holds a password: it would be visible in `ps` and the shell history".into(),
                        help: "drop it from the URL and put it in REDISCLI_AUTH, or let the audit read the bundle's client.env (--out DIR)".into(),
                    });
                }
                (Some(userinfo.to_owned()).filter(|u| !u.is_empty()), hp)
            }
            None => (None, rest),
        };
        let shown = crate::values::visible(hostport);
        let (host, port) = if hostport.ends_with(']') || !hostport.contains(':') {
            (hostport.to_owned(), 6379)
        } else {
            let (h, p) = hostport.rsplit_once(':').expect("contains ':'");
            let port = p
                .parse()
                .map_err(|_| usage(format!("--url: {shown}: the port is not a number")))?;
            (h.to_owned(), port)
        };
        if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
            return Err(usage(format!(
                "--url: {shown}: write IPv6 addresses in brackets, [::1]:6379"
            )));
        }
        Ok(Target {
            tls,
            user,
            host,
            port,
        })
    }

    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    pub fn shown(&self) -> String {
        format!(
            "{}://{}{}:{}",
            if self.tls { "rediss" } else { "redis" },
            self.user
                .as_ref()
                .map(|u| format!("{u}@"))
                .unwrap_or_default(),
            self.host,
            self.port
        )
    }

    /// 127.0.0.0/8, ::1 or `localhost`.
    fn is_loopback(&self) -> bool {
        self.bare_host().eq_ignore_ascii_case("localhost")
            || self
                .bare_host()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// TLS material for the `redis` crate, PEM.
struct TlsFiles {
    ca_pem: Vec<u8>,
    identity: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
}

/// What a server did with one command.
#[derive(Debug)]
enum Reply {
    /// It answered (the reply, as text).
    Served(String),
    /// It answered with an error (code and message).
    Error(String),
    /// The connection failed or was dropped: the server did not speak to us.
    Dropped(String),
}

fn classify(e: &redis::RedisError) -> Reply {
    // Only an error reply (with a code: NOAUTH, ERR...) shows a server that speaks RESP; a
    // TLS alert read as RESP is a parse error, and counts as dropped like a closed socket.
    if e.code().is_some() && !e.is_io_error() {
        Reply::Error(describe(e))
    } else {
        Reply::Dropped(e.to_string())
    }
}

/// An error reply as the server sent it: "NOPERM this user has no permissions...".
fn describe(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Okay => "OK".into(),
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

/// The strings of a flat array reply.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    }
}

/// The key/value pairs of a map reply (RESP2 sends them as a flat array).
fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(kv) => kv.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((text(k), v.clone())),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

struct Auditor<'a> {
    opts: &'a Options<'a>,
    target: Target,
    shown: String,
    tls: Option<TlsFiles>,
    findings: Vec<Finding>,
}

impl Auditor<'_> {
    fn add(&mut self, rule: Rule, text: impl Into<String>) {
        self.add_as(rule, rule.severity, text);
    }

    /// Findings of the static checks, run on what the server showed: one per rule and
    /// text (a plaintext port found by PING and by CONFIG GET is said once, by PING).
    fn extend(&mut self, found: Vec<Finding>) {
        for f in found {
            if self.findings.iter().any(|x| {
                x.rule == f.rule && (x.text == f.text || x.rule != policy::APP_PERMISSIONS.id)
            }) {
                continue;
            }
            self.findings.push(Finding {
                artifact: self.shown.clone(),
                line: None,
                ..f
            });
        }
    }

    fn add_as(&mut self, rule: Rule, severity: Severity, text: impl Into<String>) {
        self.findings.push(Finding {
            artifact: self.shown.clone(),
            rule: rule.id,
            severity,
            line: None,
            text: text.into(),
            why: rule.why,
            fix: rule.fix,
        });
    }

    /// A connection over the URL's transport; TLS with or without the client certificate.
    fn open(
        &self,
        client_cert: bool,
        auth: Option<(&str, &str)>,
    ) -> redis::RedisResult<redis::Connection> {
        let host = self.target.bare_host().to_owned();
        let addr = match self.tls {
            Some(_) => ConnectionAddr::TcpTls {
                host,
                port: self.target.port,
                insecure: false,
                tls_params: None,
            },
            None => ConnectionAddr::Tcp(host, self.target.port),
        };
        // No CLIENT SETINFO: Redis 7.0 does not know it, and a confined user may not run it.
        let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some((user, password)) = auth {
            settings = settings.set_username(user).set_password(password);
        }
        let info = addr.into_connection_info()?.set_redis_settings(settings);
        let client = match &self.tls {
            Some(files) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: files.identity.as_ref().filter(|_| client_cert).map(
                        |(cert, key)| redis::ClientTlsConfig {
                            client_cert: cert.clone(),
                            client_key: key.to_vec(),
                        },
                    ),
                    root_cert: Some(files.ca_pem.clone()),
                },
            )?,
            None => redis::Client::open(info)?,
        };
        let con = client.get_connection_with_timeout(TIMEOUT)?;
        con.set_read_timeout(Some(TIMEOUT))?;
        con.set_write_timeout(Some(TIMEOUT))?;
        Ok(con)
    }

    fn ping(&self, client_cert: bool) -> Reply {
        match self.open(client_cert, None) {
            Err(e) => classify(&e),
            Ok(mut con) => match redis::cmd("PING").query::<Value>(&mut con) {
                Ok(v) => Reply::Served(text(&v)),
                Err(e) => classify(&e),
            },
        }
    }

    /// A plaintext PING to the URL's port, whatever the URL's scheme.
    fn report(self, server: Option<String>, facts: Option<&'static server::Facts>) -> Report {
        Report {
            target: self.shown,
            server,
            facts,
            findings: self.findings,
        }
    }

    fn plaintext_ping(&self) -> Reply {
        let plain = Auditor {
            opts: self.opts,
            target: self.target.clone(),
            shown: self.shown.clone(),
            tls: None,
            findings: vec![],
        };
        plain.ping(false)
    }
}

pub fn audit(opts: &Options<'_>) -> Result<Report, Error> {
    // The `redis` crate builds its rustls config from the process-wide provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let target = Target::parse(opts.url)?;
    let shown = target.shown();
    let tls = if target.tls {
        Some(tls_files(opts)?)
    } else {
        None
    };
    let mut a = Auditor {
        opts,
        shown,
        target,
        tls,
        findings: vec![],
    };

    // Nothing listening is bad input, not a finding.
    tlsprobe::connect(&a.target.host, a.target.port, TIMEOUT).map_err(|reason| Error::Usage {
        message: format!("{}: {reason}", a.shown),
        help: "check that the server is running and that the URL names its address and port".into(),
    })?;

    let secure = !a.target.tls || check_tls(&mut a)?;
    check_plaintext(&mut a);
    if !secure {
        a.add(
            CHECK_SKIPPED,
            "authenticated checks skipped: no password is sent to a server whose TLS does not verify",
        );
        return Ok(a.report(None, None));
    }
    check_unauthenticated(&mut a);

    // A plaintext URL to another host: the password would cross the network in the clear
    // (the plaintext finding above says so when the server answers plaintext). Only
    // loopback never leaves the host.
    if !may_send_password(&a.target) {
        let said = format!(
            "authenticated checks skipped: no password is sent over plaintext to {}, which is not loopback (127.0.0.0/8, ::1, localhost); audit over rediss:// or from the server itself",
            a.target.host
        );
        a.add(CHECK_SKIPPED, said);
        return Ok(a.report(None, None));
    }

    let (mut con, whoami) = authenticate(&a)?;
    let detected = detect_server(&mut a, &mut con);
    let facts = detected.as_ref().and_then(|d| d.facts().ok());
    check_app_permissions(&mut a, &mut con, &whoami, facts);
    check_settings_and_users(&mut a, &mut con, facts);
    let server = detected.map(|d| format!("{} {}", server::family_name(d.engine), d.release));
    Ok(a.report(server, facts))
}

/// A plaintext connection must be refused (on a TLS URL: the same port must not answer
/// plaintext too; on a plaintext URL: plaintext is only fine where the policy allows it).
fn check_plaintext(a: &mut Auditor<'_>) {
    match a.plaintext_ping() {
        Reply::Dropped(_) => {}
        Reply::Served(r) | Reply::Error(r) => {
            let said = format!(
                "a plaintext PING to port {} was answered: {}",
                a.target.port,
                first_line(&r)
            );
            if a.opts.policy.tls_required {
                a.add(policy::PLAINTEXT_PORT, said);
            } else if !a.target.is_loopback() {
                let said = format!("{said} (on {}, not loopback)", a.target.host);
                a.add(policy::PLAINTEXT_BIND, said);
            }
        }
    }
}

/// An unauthenticated command must be refused (NOAUTH), and under mTLS a client without a
/// certificate must not be served at all.
fn check_unauthenticated(a: &mut Auditor<'_>) {
    match a.ping(true) {
        Reply::Served(r) => a.add(
            UNAUTHENTICATED,
            format!("PING without AUTH was answered {}", first_line(&r)),
        ),
        Reply::Error(r) if r.contains("NOAUTH") => {}
        Reply::Error(r) | Reply::Dropped(r) => a.add(
            CHECK_SKIPPED,
            format!(
                "PING without AUTH got neither an answer nor NOAUTH: {}",
                first_line(&r)
            ),
        ),
    }
    let p = a.opts.policy;
    if a.target.tls && p.tls_required && p.client_auth == ClientAuth::Required {
        match a.ping(false) {
            Reply::Dropped(_) => {}
            Reply::Served(r) | Reply::Error(r) => a.add(
                policy::TLS_AUTH_CLIENTS,
                format!(
                    "a TLS client without a certificate was served: PING answered {}",
                    first_line(&r)
                ),
            ),
        }
    }
}

/// The authenticated connection and the user it runs as (`ACL WHOAMI`, else the URL's).
/// A refused password is bad input: the audit cannot judge what it cannot see.
fn authenticate(a: &Auditor<'_>) -> Result<(redis::Connection, String), Error> {
    let user = a.target.user.clone().unwrap_or_else(|| "default".into());
    let password = password(a.opts, &a.target)?;
    let auth = password.as_deref().map(|pw| (user.as_str(), pw.as_str()));
    let mut con = a.open(true, auth).map_err(|e| {
        let auth_failed = e.kind() == redis::ErrorKind::AuthenticationFailed
            || e.code().is_some_and(|c| c == "WRONGPASS");
        Error::Usage {
            message: if auth_failed {
                format!("{}: authentication as {user} failed ({})", a.shown, e.code().unwrap_or("WRONGPASS"))
            } else {
                format!("{}: cannot connect: {e}", a.shown)
            },
            help: if auth_failed {
                "set REDISCLI_AUTH to the user's password, or pass --out DIR so the bundle's client.env is read".into()
            } else {
                "check the URL, the CA (--ca) and the client certificate (--cert, --key)".into()
            },
        }
    })?;
    let whoami = redis::cmd("ACL")
        .arg("WHOAMI")
        .query::<Value>(&mut con)
        .map(|v| text(&v))
        .unwrap_or(user);
    Ok((con, whoami))
}

/// An authenticated connection to `target` with the audit's TLS files and password, for a
/// look-up that is not itself audited (asking a Sentinel where its servers are).
pub(super) fn connect(opts: &Options<'_>, target: &Target) -> Result<redis::Connection, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let a = Auditor {
        opts,
        target: target.clone(),
        shown: target.shown(),
        tls: if target.tls {
            Some(tls_files(opts)?)
        } else {
            None
        },
        findings: vec![],
    };
    if !may_send_password(target) {
        return Err(Error::Usage {
            message: format!(
                "{}: no password is sent over plaintext to a host that is not loopback",
                a.shown
            ),
            help: "use rediss+sentinel:// (TLS)".into(),
        });
    }
    let user = target.user.clone().unwrap_or_else(|| "default".into());
    let password = password(opts, target)?;
    let auth = password.as_deref().map(|pw| (user.as_str(), pw.as_str()));
    a.open(true, auth).map_err(|e| Error::Usage {
        message: format!("{}: cannot connect: {e}", a.shown),
        help: "check the URL, the CA (--ca) and the client certificate (--cert, --key)".into(),
    })
}

/// The server's family and version from `HELLO 3`, which every authenticated user may run
/// (INFO is @dangerous, and Valkey's INFO reports `redis_version:7.2.4` for compatibility).
/// The live checks then follow that version: its commands to probe, its settings to read.
/// Unsupported or unreadable: a finding, and the checks that do not depend on it still run.
fn detect_server(a: &mut Auditor<'_>, con: &mut redis::Connection) -> Option<Detected> {
    let reply = match redis::cmd("HELLO").arg(3).query::<Value>(con) {
        Ok(v) => v,
        Err(e) => {
            a.add(
                UNKNOWN_SERVER,
                format!("HELLO 3: {}", first_line(&describe(&e))),
            );
            return None;
        }
    };
    let fields = pairs(&reply);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| text(v))
            .unwrap_or_default()
    };
    let (family, version) = (field("server"), field("version"));
    let detected = match Detected::from_hello(&family, &version) {
        Ok(d) => d,
        Err(reason) => {
            a.add(UNKNOWN_SERVER, reason);
            return None;
        }
    };
    if let Err(reason) = detected.facts() {
        a.add(UNKNOWN_SERVER, reason);
    } else if a.opts.server_given
        && (detected.engine, detected.version)
            != (a.opts.policy.server.engine, a.opts.policy.server.version)
    {
        a.add(
            UNKNOWN_SERVER,
            format!(
                "the server is {} {}, not {} as given: it is judged as {} {}",
                server::family_name(detected.engine),
                detected.release,
                a.opts.policy.server.label(),
                server::family_name(detected.engine),
                detected.version
            ),
        );
    }
    Some(detected)
}

/// Whether a password may be sent to `t`: over TLS (the caller has verified it), or in
/// plaintext to loopback only.
fn may_send_password(t: &Target) -> bool {
    t.tls || t.is_loopback()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// The CA and client certificate for a TLS URL: the flags, else the bundle's.
fn tls_files(opts: &Options<'_>) -> Result<TlsFiles, Error> {
    let pick = |flag: &Option<PathBuf>, rel: &str| {
        flag.clone()
            .or_else(|| Some(opts.bundle.join(rel)).filter(|p| p.is_file()))
    };
    let Some(ca) = pick(&opts.ca, pki::CA_CERT) else {
        return Err(Error::Usage {
            message: "a rediss:// audit needs the CA certificate to verify the server".into(),
            help: format!(
                "pass --ca FILE, or --out DIR for a bundle (no {} in {})",
                pki::CA_CERT,
                opts.bundle.display()
            ),
        });
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::File {
            path: p.to_path_buf(),
            reason: format!("cannot be read: {e}"),
            help: "check the path given with --ca, --cert or --key".into(),
        })
    };
    let ca_pem = read(&ca)?;
    tlsprobe::roots_from_pem(&ca_pem).map_err(|reason| Error::File {
        path: ca.clone(),
        reason,
        help: "pass the CA certificate in PEM".into(),
    })?;
    let identity = match (
        pick(&opts.cert, pki::CLIENT_CERT),
        pick(&opts.key, pki::CLIENT_KEY),
    ) {
        (Some(c), Some(k)) => Some((read(&c)?, Zeroizing::new(read(&k)?))),
        _ => None,
    };
    Ok(TlsFiles { ca_pem, identity })
}

/// The password: REDISCLI_AUTH, else the bundle's client.env when its URL names the same user.
fn password(opts: &Options<'_>, t: &Target) -> Result<Option<Zeroizing<String>>, Error> {
    if let Some(pw) = &opts.password {
        return Ok(Some(Zeroizing::new(pw.clone())));
    }
    let Some(user) = &t.user else { return Ok(None) };
    let env = Zeroizing::new(
        std::fs::read_to_string(opts.bundle.join(render::CLIENT_ENV)).unwrap_or_default(),
    );
    let from_env = env.lines().find_map(|l| {
        let url = l.strip_prefix("REDIS_URL=")?;
        let (_, rest) = url.split_once("://")?;
        let (userinfo, _) = rest.rsplit_once('@')?;
        let (u, pw) = userinfo.split_once(':')?;
        (u == user).then(|| Zeroizing::new(pw.to_owned()))
    });
    match from_env {
        Some(pw) => Ok(Some(pw)),
        None if user == "default" => Ok(None),
        None => Err(Error::Usage {
            message: format!("no password for user {user}"),
            help: format!(
                "set REDISCLI_AUTH, or pass --out DIR for a bundle whose client.env connects as {user} (looked in {})",
                opts.bundle.join(render::CLIENT_ENV).display()
            ),
        }),
    }
}

/// TLS handshakes pinned to each version, and the presented certificate. Returns whether a
/// verified TLS connection is possible (the authenticated checks need one).
fn check_tls(a: &mut Auditor<'_>) -> Result<bool, Error> {
    let files = a.tls.as_ref().expect("TLS URL");
    let roots = tlsprobe::roots_from_pem(&files.ca_pem).expect("checked when read");
    let identity = match &files.identity {
        Some((cert, key)) => Some(identity_from_pem(cert, key)?),
        None => None,
    };
    let mut results = vec![];
    let mut chain: Option<(Vec<Vec<u8>>, Option<String>)> = None;
    for v in [Version::Tls13, Version::Tls12] {
        let hs = tlsprobe::handshake(
            &a.target.host,
            a.target.port,
            &roots,
            identity.as_ref(),
            &[v],
            TIMEOUT,
        )
        .map_err(|reason| Error::Usage {
            message: format!("{}: {reason}", a.shown),
            help: "check that the server is running and that the URL names its address and port"
                .into(),
        })?;
        if chain.is_none() && !hs.chain.is_empty() {
            chain = Some((hs.chain.clone(), hs.verify_error.clone()));
        }
        results.push((v, hs));
    }
    let allowed: Vec<&str> = a.opts.policy.protocols.iter().map(|v| v.name()).collect();
    for (v, hs) in &results {
        let in_policy = allowed.iter().any(|x| x.eq_ignore_ascii_case(v.name()));
        match (hs.version.is_some(), in_policy) {
            (true, false) => a.add(
                policy::TLS_PROTOCOLS,
                format!(
                    "a handshake offering only {} succeeded; the policy allows {}",
                    v.name(),
                    allowed.join(", ")
                ),
            ),
            (false, true) if results.iter().any(|(_, h)| h.version.is_some()) => a.add(
                TLS_VERSION_REFUSED,
                format!(
                    "a handshake offering only {} failed: {}",
                    v.name(),
                    hs.error.as_deref().unwrap_or("refused")
                ),
            ),
            _ => {}
        }
    }
    if results.iter().all(|(_, h)| h.version.is_none()) {
        let why: Vec<String> = results
            .iter()
            .map(|(v, h)| format!("{}: {}", v.name(), h.error.as_deref().unwrap_or("failed")))
            .collect();
        a.add(TLS_HANDSHAKE, why.join("; "));
        return Ok(false);
    }
    let Some((chain, verify_error)) = chain else {
        return Ok(false);
    };
    if let Some(leaf) = chain.first() {
        check_expiry(a, leaf);
    }
    if let Some(e) = verify_error {
        a.add(SERVER_CERT, format!("{e} (checked for {})", a.target.host));
        return Ok(false);
    }
    Ok(true)
}

/// The server certificate's expiry: expired is high, inside `--warn-days` the rule's own.
fn check_expiry(a: &mut Auditor<'_>, leaf: &[u8]) {
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(leaf) else {
        return;
    };
    let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let left = not_after - a.opts.now;
    let subject = cert.subject().to_string();
    if left.is_negative() {
        a.add_as(
            CERT_EXPIRY,
            Severity::High,
            format!("{subject} expired on {}", not_after.date()),
        );
    } else if left <= time::Duration::days(i64::from(a.opts.warn_days)) {
        a.add(
            CERT_EXPIRY,
            format!(
                "{subject} expires on {} ({} days left, warning window {} days)",
                not_after.date(),
                left.whole_days(),
                a.opts.warn_days
            ),
        );
    }
}

/// rustls wants the identity parsed; the `redis` crate wants PEM bytes. Parse the same bytes.
fn identity_from_pem(cert: &[u8], key: &[u8]) -> Result<tlsprobe::Identity, Error> {
    tlsprobe::Identity::from_pem(cert, key).map_err(|reason| Error::Usage {
        message: format!("the client certificate or key cannot be used: {reason}"),
        help: "pass a PEM certificate with --cert and its PEM key with --key".into(),
    })
}

/// Commands the application user must not run, with harmless arguments. SHUTDOWN is only
/// ever asked about (ACL DRYRUN): Redis refuses to queue it, so MULTI cannot probe it.
const APP_FORBIDDEN: &[&[&str]] = &[
    &["CONFIG", "SET", "maxmemory", "0"],
    &["MODULE", "LOAD", "/nonexistent/redis-harden-audit.so"],
    &["EVAL", "return 1", "0"],
    &["REPLICAOF", "NO", "ONE"],
    &["DEBUG", "SLEEP", "0"],
    &["FLUSHALL"],
    &["KEYS", "redis-harden-audit:*"],
    &["SHUTDOWN"],
];

/// The rule an allowed APP_FORBIDDEN command breaks: running a script is what
/// `acl.app.scripting` grants on purpose (low severity), the rest is app-permissions.
fn forbidden_rule(cmd: &[&str]) -> Rule {
    if cmd[0] == "EVAL" {
        policy::APP_SCRIPTING
    } else {
        policy::APP_PERMISSIONS
    }
}

/// Whether an error reply means the command was refused: no permission, disabled
/// (enable-*-command), or renamed away (rename-command).
fn refused(reply: &str) -> bool {
    reply.contains("NOPERM")
        || reply.contains("no permissions")
        || reply.contains("not allowed")
        || reply.contains("unknown command")
        || reply.contains("not found")
}

fn check_app_permissions(
    a: &mut Auditor<'_>,
    con: &mut redis::Connection,
    whoami: &str,
    facts: Option<&'static server::Facts>,
) {
    let app = a.opts.app_user.to_owned();
    // The commands every version has, then the detected version's own (Valkey: COMMANDLOG).
    let probes: Vec<&[&str]> = APP_FORBIDDEN
        .iter()
        .copied()
        .chain(facts.map_or(&[][..], |f| f.app_probes).iter().copied())
        .collect();
    let dryrun_denied = match probe_with_dryrun(a, con, &app, &probes) {
        DryRun::Done => return,
        DryRun::Denied(why) => why,
    };
    let why = dryrun_denied;
    if whoami != app {
        a.add(
            CHECK_SKIPPED,
            format!("ACL DRYRUN as {whoami}: {why}; connect as {app} (or an admin) to check {app}'s permissions"),
        );
        return;
    }
    a.add(
        CHECK_SKIPPED,
        format!("ACL DRYRUN: {why}; {app}'s own permissions were probed with MULTI/DISCARD instead (SHUTDOWN not probed: it cannot be queued)"),
    );
    probe_with_multi(a, con, &app, &probes);
}

enum DryRun {
    /// Every probe got an answer (or there is no such user): nothing more to do.
    Done,
    /// The connecting user may not run ACL DRYRUN (or the server has none): why.
    Denied(String),
}

/// Asks the server whether the app user may run each probe (ACL DRYRUN, Redis 7+).
fn probe_with_dryrun(
    a: &mut Auditor<'_>,
    con: &mut redis::Connection,
    app: &str,
    probes: &[&[&str]],
) -> DryRun {
    for cmd in probes {
        let shown = cmd.join(" ");
        match redis::cmd("ACL")
            .arg("DRYRUN")
            .arg(app)
            .arg(&cmd[..])
            .query::<Value>(con)
        {
            Ok(Value::Okay) => a.add(
                forbidden_rule(cmd),
                format!("ACL DRYRUN {app} {shown}: allowed"),
            ),
            Ok(_) => {} // "This user has no permissions to run ..."
            Err(e) => {
                let msg = describe(&e);
                if msg.contains("User") && msg.contains("not found") {
                    a.add(
                        CHECK_SKIPPED,
                        format!("there is no user `{app}`: its permissions were not checked (pass --app-user NAME)"),
                    );
                    return DryRun::Done;
                }
                // The connecting user may not ask (or the server has no ACL DRYRUN: Redis < 7).
                if e.code() == Some("NOPERM")
                    || msg.contains("unknown command")
                    || msg.contains("unknown subcommand")
                {
                    return DryRun::Denied(first_line(&msg).to_owned());
                }
                if !refused(&msg) {
                    a.add(
                        CHECK_SKIPPED,
                        format!("ACL DRYRUN {app} {shown}: {}", first_line(&msg)),
                    );
                }
            }
        }
    }
    DryRun::Done
}

/// The connecting user is the app user: its own permissions, probed by queueing each
/// command in MULTI and discarding it (a refused command is not queued).
fn probe_with_multi(
    a: &mut Auditor<'_>,
    con: &mut redis::Connection,
    app: &str,
    probes: &[&[&str]],
) {
    for cmd in probes.iter().filter(|c| c[0] != "SHUTDOWN") {
        match probe_in_multi(con, cmd) {
            Probe::Queued => a.add(
                forbidden_rule(cmd),
                format!(
                    "{app} may run {} (queued in MULTI, discarded)",
                    cmd.join(" ")
                ),
            ),
            Probe::Refused => {}
            Probe::Unknown(r) => a.add(
                CHECK_SKIPPED,
                format!("MULTI probe of {}: {}", cmd.join(" "), first_line(&r)),
            ),
            Probe::NoMulti(r) => {
                a.add(
                    CHECK_SKIPPED,
                    format!(
                        "MULTI is refused ({}): {app}'s permissions were not probed",
                        first_line(&r)
                    ),
                );
                return;
            }
        }
    }
}

enum Probe {
    Queued,
    Refused,
    Unknown(String),
    NoMulti(String),
}

/// Queues `cmd` in a transaction and discards it: Redis checks permissions (and
/// enable-*-command) when it queues, and runs nothing that is discarded.
fn probe_in_multi(con: &mut redis::Connection, cmd: &[&str]) -> Probe {
    // Only ever send the command inside a transaction that certainly started.
    match redis::cmd("MULTI").query::<Value>(con) {
        Ok(Value::Okay) => {}
        Ok(v) => return Probe::NoMulti(text(&v)),
        Err(e) => return Probe::NoMulti(describe(&e)),
    }
    let mut c = redis::cmd(cmd[0]);
    for arg in &cmd[1..] {
        c.arg(*arg);
    }
    let result = match c.query::<Value>(con) {
        Ok(v) if text(&v) == "QUEUED" => Probe::Queued,
        Ok(v) => Probe::Unknown(text(&v)),
        Err(e) if refused(&describe(&e)) => Probe::Refused,
        Err(e) => Probe::Unknown(describe(&e)),
    };
    let _ = redis::cmd("DISCARD").query::<Value>(con);
    result
}

/// The static redis.conf checks, run on the server's settings as `CONFIG GET` reads them
/// (never a password: the table asks for none), and the ACL file checks, run on every user
/// as `ACL LIST` shows it: one rule set for files and servers. What the connecting user may
/// not read is listed, check by check.
fn check_settings_and_users(
    a: &mut Auditor<'_>,
    con: &mut redis::Connection,
    facts: Option<&'static server::Facts>,
) {
    // Judged by the tables of the server that answered, where it was recognised.
    let p = &match facts {
        Some(f) => a.opts.policy.clone().for_server(f),
        None => a.opts.policy.clone(),
    };
    let (settings, users) = live_checks();
    let mut names: Vec<&str> = settings
        .iter()
        .flat_map(|(_, names)| *names)
        .copied()
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET");
    for n in &names {
        cmd.arg(*n);
    }
    match cmd.query::<Value>(con) {
        Ok(v) => {
            // An empty value is Redis's default (no socket, no cipher list...), as when the
            // directive is left out of a file.
            let values: Vec<(String, String)> = pairs(&v)
                .into_iter()
                .map(|(k, v)| (k, text(&v)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let conf = Conf::from_settings(&values);
            let mut f = Findings::new(&a.shown);
            for (check, _) in &settings {
                (check.run)(&conf, p, &mut f);
            }
            a.extend(f.into_vec());
        }
        Err(e) => a.add(
            CHECK_SKIPPED,
            format!(
                "CONFIG GET: {}; not checked: {}",
                first_line(&describe(&e)),
                rule_ids(settings.iter().map(|(c, _)| c.rules))
            ),
        ),
    }
    match redis::cmd("ACL").arg("LIST").query::<Value>(con) {
        Ok(v) => {
            let acl = strings(&v).join("\n") + "\n";
            let mut found = policy::check_as(Kind::Acl, &a.shown, &acl, p);
            // The server loaded these users, so every command they name exists there (a
            // loaded module's, or a Sentinel's, included): the static table does not judge.
            found.retain(|f| f.rule != policy::UNKNOWN_COMMAND.id);
            a.extend(found);
        }
        Err(e) => a.add(
            CHECK_SKIPPED,
            format!(
                "ACL LIST: {}; not checked for every user: {}",
                first_line(&describe(&e)),
                rule_ids(users.iter().map(|c| c.rules))
            ),
        ),
    }
}

type SettingsCheck = (&'static Check<Conf>, &'static [&'static str]);

/// The redis.conf checks a live audit runs: on settings, and on users.
fn live_checks() -> (Vec<SettingsCheck>, Vec<&'static Check<Conf>>) {
    let mut settings = vec![];
    let mut users = vec![];
    for c in redis_conf::CHECKS {
        match c.live {
            Live::Settings(names) => settings.push((c, names)),
            Live::Users => users.push(c),
            Live::No(_) => {}
        }
    }
    (settings, users)
}

fn rule_ids<'a>(rules: impl Iterator<Item = &'a [Rule]>) -> String {
    let mut ids: Vec<&str> = rules.flatten().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("rediss://app@10.0.1.5:6380/0").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                user: Some("app".into()),
                host: "10.0.1.5".into(),
                port: 6380
            }
        );
        assert_eq!(t.shown(), "rediss://app@10.0.1.5:6380");
        let t = Target::parse("redis://[::1]").unwrap();
        assert_eq!(
            (t.tls, t.user.as_deref(), t.host.as_str(), t.port),
            (false, None, "[::1]", 6379)
        );
        assert_eq!(t.bare_host(), "::1");
        assert!(t.is_loopback());
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("redis://::1:6379").is_err());
    }

    #[test]
    fn no_password_in_plaintext_beyond_loopback() {
        for (url, sends) in [
            ("redis://127.0.0.1:6379", true),
            ("redis://127.8.9.10:6379", true),
            ("redis://[::1]:6379", true),
            ("redis://localhost:6379", true),
            ("redis://app@LOCALHOST", true),
            ("redis://10.0.0.5:6379", false),
            ("redis://app@10.0.0.5:6379", false),
            ("redis://[::ffff:127.0.0.1]:6379", false),
            ("redis://[2001:db8::1]:6379", false),
            ("redis://redis.example.com:6379", false),
            ("redis://localhost.example.com:6379", false),
            ("redis://0.0.0.0:6379", false),
            ("rediss://10.0.0.5:6379", true),
            ("rediss://redis.example.com:6379", true),
        ] {
            let t = Target::parse(url).unwrap();
            assert_eq!(may_send_password(&t), sends, "{url}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_not_echoed() {
        let err = Target::parse("rediss://app:hunter2@localhost:6379").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.help().unwrap().contains("REDISCLI_AUTH"));
    }

    #[test]
    fn refusals_are_recognised() {
        assert!(refused(
            "NOPERM this user has no permissions to run the 'flushall' command"
        ));
        assert!(refused(
            "ERR DEBUG command not allowed. If the enable-debug-command option"
        ));
        assert!(refused(
            "ERR unknown command 'FLUSHALL', with args beginning with:"
        ));
        assert!(!refused("ERR wrong number of arguments"));
    }
}
