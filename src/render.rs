//! Rendering: a pure function from profile, secrets and paths to file contents. No clock, no
//! randomness and no environment reach a template, so the same inputs give the same bytes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::firewall;
use crate::mozilla;
use crate::pki;
use crate::profile::{EnvProfile, Environment};
use crate::secrets::{self, Secrets};
use crate::templates::{self, Templates};
use crate::values::{ConfPath, ProjectName, UserName};
use crate::{compose, dragonfly, exporter};

/// The directory the server reads its files from, where it does not depend on the output
/// directory (`--target local` uses the output directory itself).
pub fn server_base(p: &EnvProfile, target: Target) -> Option<ConfPath> {
    let facts = p.server_facts();
    match target {
        Target::Local => None,
        Target::Host => Some(ConfPath::parse(facts.host_layout.config_dir).expect("valid")),
        Target::Docker | Target::Kubernetes => {
            Some(ConfPath::parse(facts.container_config_dir).expect("valid"))
        }
    }
}

/// Where a Redis or Valkey server reads the bundle's files (certificates, ACL file) on every
/// target: the renderer writes these paths into redis.conf, the gate pins the CA to them.
pub fn server_dir(p: &EnvProfile, target: Target, out_dir: &ConfPath) -> ConfPath {
    server_base(p, target).unwrap_or_else(|| out_dir.clone())
}

pub use crate::target::{
    CLIENT_ENV, DATA_DIR, GITIGNORE, IP6TABLES, IPTABLES, NFTABLES, REDIS_CONF, SECRETS_ENV,
    SYSTEMD_DROPIN, Target, UFW, USERS_ACL,
};

/// One rendered file: where it goes, which template makes it, its mode, and whether this
/// profile needs it.
pub struct Artifact {
    pub path: &'static str,
    pub template: &'static str,
    pub mode: u32,
    /// Holds a secret (a password, its hash, the Fernet key): rendered with the secrets in
    /// its context, never shown in a diff, mode 0600.
    pub secret: bool,
    pub when: fn(&EnvProfile, Target) -> bool,
}

fn always(_: &EnvProfile, _: Target) -> bool {
    true
}

/// Host firewall rules filter INPUT, which traffic to a container's published port never
/// crosses (Docker DNATs it through FORWARD): for `--target docker` they would only look
/// like protection. In Kubernetes the NetworkPolicy (k8s/networkpolicy.yaml) does their job.
fn not_container(_: &EnvProfile, target: Target) -> bool {
    !target.is_container()
}

/// Every file rendered from a template. To add an artifact, add its template to
/// `templates/` (and `templates::ALL`) and a row here.
pub const ARTIFACTS: &[Artifact] = &[
    Artifact {
        path: REDIS_CONF,
        template: templates::REDIS_CONF,
        mode: 0o640,
        secret: false,
        when: standalone,
    },
    Artifact {
        path: USERS_ACL,
        template: templates::USERS_ACL,
        mode: 0o600,
        secret: true,
        when: always,
    },
    Artifact {
        path: CLIENT_ENV,
        template: templates::CLIENT_ENV,
        mode: 0o600,
        secret: true,
        when: always,
    },
    Artifact {
        path: GITIGNORE,
        template: templates::GITIGNORE,
        mode: 0o644,
        secret: false,
        when: always,
    },
    Artifact {
        path: NFTABLES,
        template: templates::NFTABLES,
        mode: 0o644,
        secret: false,
        when: host_firewall,
    },
    Artifact {
        path: IPTABLES,
        template: templates::IPTABLES,
        mode: 0o644,
        secret: false,
        when: host_firewall,
    },
    Artifact {
        path: IP6TABLES,
        template: templates::IP6TABLES,
        mode: 0o644,
        secret: false,
        when: host_firewall,
    },
    Artifact {
        path: UFW,
        template: templates::UFW,
        mode: 0o755,
        secret: false,
        when: host_firewall,
    },
    Artifact {
        path: dragonfly::FLAGS_FILE,
        template: templates::DRAGONFLY_FLAGS,
        mode: 0o640,
        secret: false,
        when: dragonfly::enabled,
    },
    Artifact {
        path: dragonfly::ACL_FILE,
        template: templates::DRAGONFLY_ACL,
        mode: 0o600,
        secret: true,
        when: dragonfly::enabled,
    },
    Artifact {
        path: compose::COMPOSE_FILE,
        template: templates::DOCKER_COMPOSE,
        mode: 0o644,
        secret: false,
        when: compose::enabled,
    },
    Artifact {
        path: compose::SERVER_ENV,
        template: templates::SERVER_ENV,
        mode: 0o600,
        secret: true,
        when: compose::server_env_enabled,
    },
    Artifact {
        path: compose::SENTINEL_ENV,
        template: templates::SENTINEL_ENV,
        mode: 0o600,
        secret: true,
        when: compose::sentinel_env_enabled,
    },
    Artifact {
        path: crate::openssl::CNF,
        template: templates::OPENSSL_CNF,
        mode: 0o644,
        secret: false,
        when: crate::openssl::enabled,
    },
    Artifact {
        path: exporter::ENV_FILE,
        template: templates::EXPORTER_ENV,
        mode: 0o600,
        secret: true,
        when: exporter::enabled,
    },
    Artifact {
        path: SYSTEMD_DROPIN,
        template: templates::SYSTEMD_DROPIN,
        mode: 0o644,
        secret: false,
        when: crate::systemd::enabled,
    },
    Artifact {
        path: crate::topology::render::SENTINEL_ACL,
        template: templates::SENTINEL_ACL,
        mode: 0o600,
        secret: true,
        when: sentinel_kind,
    },
    // Executable by its owner and group; no secret inside (it reads secrets.env).
    Artifact {
        path: crate::topology::layout::CLUSTER_CREATE,
        template: templates::CLUSTER_CREATE,
        mode: 0o750,
        secret: false,
        when: crate::topology::cluster::enabled,
    },
];

/// One server's firewall files; a multi-node topology has rules per node instead
/// (nodes/NAME/nftables.nft).
fn host_firewall(p: &EnvProfile, target: Target) -> bool {
    not_container(p, target) && standalone(p, target)
}

/// A multi-node topology has one config per node under nodes/ instead of redis.conf.
fn standalone(p: &EnvProfile, _: Target) -> bool {
    p.topology.kind == crate::topology::Kind::Standalone
}

fn sentinel_kind(p: &EnvProfile, _: Target) -> bool {
    p.topology.kind == crate::topology::Kind::Sentinel
}

/// Everything rendering depends on.
pub struct Input<'a> {
    pub project: &'a ProjectName,
    pub env: Environment,
    pub profile: &'a EnvProfile,
    pub secrets: &'a Secrets,
    pub target: Target,
    /// The output directory, absolute: client.env points at its certificates.
    pub out_dir: &'a ConfPath,
}

/// A rendered file with its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub content: String,
    pub mode: u32,
    pub secret: bool,
}

/// Rendered files by relative path, in a stable order.
pub type Rendered = BTreeMap<String, RenderedFile>;

pub fn render(templates: &Templates, input: &Input<'_>) -> Result<Rendered, Error> {
    let ctx = context(input)?;
    let full = tera::Context::from_serialize(&ctx).map_err(|e| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    })?;
    // Files others may read never see a secret: their templates get no `client` or
    // `server_env` (a team template naming them fails as an undefined variable), and the
    // output is searched for every secret value anyway.
    let mut public = full.clone();
    public.remove("client");
    public.remove("server_env");
    public.remove("exporter");
    let secret_values: Vec<&str> = input.secrets.values().filter(|v| v.len() >= 8).collect();
    let mut out = Rendered::new();
    for a in ARTIFACTS
        .iter()
        .filter(|a| (a.when)(input.profile, input.target))
    {
        let shared = !a.secret;
        let content = templates
            .render(a.template, if shared { &public } else { &full })
            .map_err(|e| redact(e, &secret_values))
            .map_err(|e| if shared { e } else { hide_values(e) })?;
        if shared && secret_values.iter().any(|v| content.contains(v)) {
            return Err(Error::Template {
                name: a.template.into(),
                report: format!(
                    "puts a secret into {}, which others may read (mode {:o}): secrets belong in 0600 files only",
                    a.path, a.mode
                ),
            });
        }
        out.insert(
            a.path.to_owned(),
            RenderedFile {
                content,
                mode: a.mode,
                secret: a.secret,
            },
        );
    }
    // Every node's config: secret files (masterauth, Sentinel's auth-pass), full context.
    let as_json = serde_json::to_value(&ctx).map_err(|e| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    })?;
    let nodes = crate::topology::render::files(templates, input, &as_json, &ctx.topology)
        .map_err(|e| hide_values(redact(e, &secret_values)))?;
    out.extend(nodes);
    Ok(out)
}

/// A template error can quote the value it choked on: take every secret out of it.
fn redact(e: Error, secrets: &[&str]) -> Error {
    match e {
        Error::Template { name, mut report } => {
            for v in secrets {
                report = report.replace(v, "<redacted>");
            }
            Error::Template { name, report }
        }
        other => other,
    }
}

/// The error of a template that sees secrets: Tera quotes the value it choked on, and a
/// filter (`reverse`, `upper`, `truncate`, `replace`) makes it a value no exact-string
/// redaction recognises. Every quoted part of the message goes; where in the template (the
/// `-->` line and the source snippet, which is the team's own text) stays.
fn hide_values(e: Error) -> Error {
    let Error::Template { name, report } = e else {
        return e;
    };
    let snippet = |l: &str| {
        let t = l.trim_start();
        t.starts_with("-->")
            || t.trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start()
                .starts_with('|')
    };
    let report = report
        .lines()
        .map(|l| {
            if snippet(l) {
                l.to_owned()
            } else {
                hide_quoted(l)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    Error::Template {
        name,
        report: format!("{report}\n(values are not shown: this template can see secrets)"),
    }
}

/// Replaces every `...`, '...' and "..." in a line with `<hidden>`; an unclosed quote hides
/// the rest of the line.
fn hide_quoted(line: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '`' | '\'' | '"') => {
                quote = Some(c);
                out.push_str("<hidden>");
            }
            None => out.push(c),
        }
    }
    out
}

/// The header of `secrets.env`.
pub fn secrets_header(project: &ProjectName, env: Environment) -> String {
    format!(
        "Secrets of {project} ({env}), generated by redis-harden. Mode 0600; never commit.\n\
         redis-harden never replaces a value here. Change one with `redis-harden rotate`; never delete\n\
         REDIS_ENCRYPTION_KEY: data encrypted with it could not be read again."
    )
}

#[derive(Serialize)]
struct Context<'a> {
    project: &'a ProjectName,
    /// The whole validated profile, for templates that need a value not prepared below.
    profile: &'a EnvProfile,
    environment: Environment,
    target: Target,
    /// The engine and version the files are written for, and what they have.
    server: ServerCtx,
    redis: RedisCtx,
    tls: TlsCtx,
    paths: Paths,
    process: Process,
    users: Users,
    client: Client,
    firewall: firewall::Context,
    systemd: crate::systemd::Context,
    /// Present only for the bundles that have the engine's or the container's files.
    dragonfly: Option<dragonfly::Context>,
    compose: Option<compose::Context>,
    server_env: ServerEnv,
    /// Secret (monitoring's password): for 0600 files only.
    exporter: Option<exporter::Context>,
    /// The topology: kind, its users (hashes), the nodes and client lists.
    topology: crate::topology::render::Context,
    /// The node a config is rendered for (multi-node topologies); none for the other files.
    node: Option<serde_json::Value>,
}

/// The secrets of `server.env`; empty when the bundle does not need them.
#[derive(Serialize)]
struct ServerEnv {
    requirepass: String,
    healthcheck_password: String,
    /// A compose bundle of the sentinel kind: sentinel-peer's password (sentinel.env).
    sentinel_healthcheck_password: String,
}

#[derive(Serialize)]
struct ServerCtx {
    /// `redis`, `valkey`, `dragonfly`.
    engine: crate::profile::Engine,
    /// `Redis`, `Valkey`: the family whose redis.conf this is.
    name: &'static str,
    version: String,
    /// The release the version was proven on (`8.0.2`).
    proven: &'static str,
    program: &'static str,
    cli: &'static str,
    /// Directives that exist only in some versions: each is true where the version has it.
    has: BTreeMap<&'static str, bool>,
}

/// The version-dependent directives templates may ask about (`server.has["..."]`).
const OPTIONAL_DIRECTIVES: &[&str] = &["hide-user-data-from-log"];

#[derive(Serialize)]
struct RedisCtx {
    port: u16,
    bind: Vec<String>,
    maxmemory: String,
    maxmemory_policy: String,
    maxclients: u32,
    timeout: u32,
    tcp_keepalive: u32,
    loglevel: String,
}

#[derive(Serialize)]
struct TlsCtx {
    enabled: bool,
    protocols: String,
    ciphers: String,
    ciphersuites: String,
    prefer_server_ciphers: &'static str,
    auth_clients: &'static str,
    mozilla_profile: String,
    mozilla_version: String,
    /// Key-exchange groups, for openssl.cnf.
    groups: &'static str,
    /// Where the server reads openssl.cnf (OPENSSL_CONF), and the systemd unit of host.
    openssl_conf: ConfPath,
    systemd_unit: String,
}

/// Server-side paths, as `redis.conf` names them.
#[derive(Serialize)]
struct Paths {
    tls_cert_file: ConfPath,
    tls_key_file: ConfPath,
    tls_ca_cert_file: ConfPath,
    aclfile: ConfPath,
    dir: ConfPath,
    logfile: String,
    pidfile: String,
}

#[derive(Serialize)]
struct Process {
    supervised: &'static str,
}

#[derive(Serialize)]
struct User {
    name: UserName,
    enabled: bool,
    hashes: Vec<String>,
    keys: Vec<String>,
    channels: Vec<String>,
    commands: Vec<String>,
    /// acl.app.scripting: the app user may run Lua scripts.
    scripting: bool,
}

#[derive(Serialize)]
struct Users {
    app: User,
    monitoring: User,
    admin: User,
    extra: Vec<User>,
}

#[derive(Serialize)]
struct Client {
    url: String,
    ca_file: ConfPath,
    cert_file: ConfPath,
    key_file: ConfPath,
    encryption_key: String,
    /// Newest first, comma-separated: what Python's MultiFernet takes. During a key rotation
    /// the previous key stays here so old tokens still decrypt.
    encryption_keys: String,
}

/// The TLS settings as URL query parameters, so `redis.from_url(REDIS_URL)` (redis-py, and
/// Django's RedisCache and Celery, which hand the URL to it) verifies the server and presents
/// the client certificate with no code. Celery's result backend refuses a rediss:// URL
/// without `ssl_cert_reqs`. ioredis and node-redis ignore the query.
fn tls_query(out_dir: &ConfPath) -> String {
    let file = |rel: &str| query_value(out_dir.join(rel).as_str());
    format!(
        "?ssl_cert_reqs=required&ssl_ca_certs={}&ssl_certfile={}&ssl_keyfile={}",
        file(pki::CA_CERT),
        file(pki::CLIENT_CERT),
        file(pki::CLIENT_KEY)
    )
}

/// Percent-encodes a query value; `/` stays, as paths read better with it.
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("unit enums serialize as strings"),
    }
}

fn missing_secret(var: &str) -> Error {
    Error::State {
        path: SECRETS_ENV.into(),
        reason: format!("{var} is missing"),
        help: "run `redis-harden init` to generate it".into(),
    }
}

fn context<'a>(input: &Input<'a>) -> Result<Context<'a>, Error> {
    let p = input.profile;
    let server_base = server_dir(p, input.target, input.out_dir);
    // The host must be a name the server certificate covers, so clients keep verification on.
    let host = match input.target {
        Target::Local => "localhost".to_string(),
        Target::Host | Target::Docker => pki::server_dns_names(&p.tls)[0].to_string(),
        // The client Service's name, which the shared certificate covers.
        Target::Kubernetes => crate::kubernetes::client_host(p),
    };
    let mut topology = crate::topology::render::context(input)?;
    if input.target == Target::Kubernetes {
        crate::kubernetes::topo::client_lists(input.profile, &mut topology);
    }
    let monitoring_password = input.secrets.password(&builtin_user("monitoring"));
    Ok(Context {
        topology,
        node: None,
        project: input.project,
        profile: p,
        environment: input.env,
        target: input.target,
        server: server_ctx(p),
        redis: RedisCtx {
            port: p.redis.port.get(),
            bind: strings(&crate::target::server_bind(p, input.target)),
            maxmemory: p.redis.maxmemory.to_string(),
            maxmemory_policy: enum_str(&p.redis.maxmemory_policy),
            maxclients: p.redis.maxclients,
            timeout: p.redis.timeout,
            tcp_keepalive: p.redis.tcp_keepalive,
            loglevel: enum_str(&p.redis.loglevel),
        },
        tls: tls_ctx(input, &server_base),
        paths: paths(input, &server_base),
        process: Process {
            supervised: match input.target {
                Target::Host => "systemd",
                Target::Local | Target::Docker | Target::Kubernetes => "no",
            },
        },
        users: users(input)?,
        client: client(input, &host)?,
        firewall: firewall::Context::new(p, input.env),
        systemd: crate::systemd::context(p),
        dragonfly: dragonfly::enabled(p, input.target)
            .then(|| dragonfly::context(p, input.target, input.out_dir))
            .transpose()?,
        compose: compose::enabled(p, input.target)
            .then(|| compose::context(p, input.project, input.env, input.out_dir)),
        exporter: match monitoring_password {
            Some(pw) if exporter::enabled(p, input.target) => {
                Some(exporter::context(p, input.target, input.out_dir, &host, pw))
            }
            _ => None,
        },
        server_env: server_env(input)?,
    })
}

fn builtin_user(name: &str) -> UserName {
    UserName::parse(name).expect("built-in user names are valid")
}

/// A password from secrets.env, or the error that says to run `init`.
fn password<'s>(input: &Input<'s>, user: &UserName) -> Result<&'s str, Error> {
    input
        .secrets
        .password(user)
        .ok_or_else(|| missing_secret(&user.password_var()))
}

fn server_ctx(p: &EnvProfile) -> ServerCtx {
    let facts = p.server_facts();
    ServerCtx {
        engine: p.engine,
        name: facts.name,
        version: facts.version.to_string(),
        proven: facts.proven,
        program: facts.server_program,
        cli: facts.cli_program,
        has: OPTIONAL_DIRECTIVES
            .iter()
            .map(|d| (*d, facts.has_directive(d)))
            .collect(),
    }
}

fn tls_ctx(input: &Input<'_>, server_base: &ConfPath) -> TlsCtx {
    let p = input.profile;
    let moz = mozilla::configuration(p.tls.ciphers);
    TlsCtx {
        enabled: p.tls.enabled,
        protocols: p
            .tls
            .protocols
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(" "),
        ciphers: moz.ciphers().join(":"),
        ciphersuites: moz.ciphersuites.join(":"),
        prefer_server_ciphers: if moz.server_preferred_order {
            "yes"
        } else {
            "no"
        },
        auth_clients: p.tls.client_auth.directive(),
        mozilla_profile: enum_str(&p.tls.ciphers),
        mozilla_version: mozilla::version(),
        groups: crate::openssl::GROUPS,
        openssl_conf: match p.engine {
            crate::profile::Engine::Dragonfly => {
                dragonfly::server_dir(input.target, input.out_dir).join(crate::openssl::CNF)
            }
            _ => server_base.join(crate::openssl::CNF),
        },
        systemd_unit: crate::systemd::unit(p),
    }
}

/// Where the server reads and writes, as redis.conf names it on each target.
fn paths(input: &Input<'_>, server_base: &ConfPath) -> Paths {
    let layout = input.profile.server_facts().host_layout;
    // An empty logfile means stdout: what a foreground process and a container want.
    let on_host = |value: &str| match input.target {
        Target::Host => value.to_owned(),
        Target::Local | Target::Docker | Target::Kubernetes => String::new(),
    };
    Paths {
        tls_cert_file: server_base.join(pki::SERVER_CERT),
        tls_key_file: server_base.join(pki::SERVER_KEY),
        tls_ca_cert_file: server_base.join(pki::CA_CERT),
        aclfile: server_base.join(USERS_ACL),
        dir: match input.target {
            Target::Local => input.out_dir.join(DATA_DIR),
            Target::Host => ConfPath::parse(layout.data_dir).expect("valid"),
            Target::Docker | Target::Kubernetes => ConfPath::parse("/data").expect("valid"),
        },
        logfile: on_host(layout.logfile),
        pidfile: on_host(layout.pidfile),
    }
}

/// What client.env gives the app: the URL (with its TLS parameters), the files and the keys.
fn client(input: &Input<'_>, host: &str) -> Result<Client, Error> {
    let p = input.profile;
    let app_password = password(input, &builtin_user("app"))?;
    let scheme = if p.tls.enabled { "rediss" } else { "redis" };
    let encryption_key = input
        .secrets
        .encryption_key()
        .ok_or_else(|| missing_secret(secrets::ENCRYPTION_KEY_VAR))?;
    // A topology whose nodes the profile places: REDIS_URL names the first data node.
    // A compose bundle's: the first data node, by its service name on the compose network.
    let first = if input.target == Target::Docker {
        compose::in_network(p, input.project, input.env)
            .into_iter()
            .next()
    } else {
        crate::topology::placed_primary(p)
    };
    let (url_host, url_port) = match first {
        Some(node) => (node.dial, node.port),
        None => (host.to_owned(), p.redis.port.get()),
    };
    let mut url = format!("{scheme}://app:{app_password}@{url_host}:{url_port}/0");
    if p.tls.enabled {
        url.push_str(&tls_query(input.out_dir));
    }
    Ok(Client {
        url,
        ca_file: input.out_dir.join(pki::CA_CERT),
        cert_file: input.out_dir.join(pki::CLIENT_CERT),
        key_file: input.out_dir.join(pki::CLIENT_KEY),
        encryption_key: encryption_key.to_owned(),
        encryption_keys: std::iter::once(encryption_key)
            .chain(input.secrets.previous(secrets::ENCRYPTION_KEY_VAR))
            .collect::<Vec<_>>()
            .join(","),
    })
}

/// The ACL users of users.acl, each with its password hashes.
fn users(input: &Input<'_>) -> Result<Users, Error> {
    let p = input.profile;
    let user = |name: UserName,
                enabled: bool,
                keys: Vec<String>,
                channels: Vec<String>,
                commands: Vec<String>| {
        // During a password rotation both hashes are valid: Redis accepts either.
        let hashes = std::iter::once(password(input, &name)?)
            .chain(input.secrets.previous(&name.password_var()))
            .map(secrets::acl_hash)
            .collect();
        Ok::<_, Error>(User {
            hashes,
            name,
            enabled,
            keys,
            channels,
            commands,
            scripting: false,
        })
    };
    let app = &p.acl.app;
    Ok(Users {
        app: User {
            scripting: app.scripting,
            ..user(
                builtin_user("app"),
                true,
                strings(&app.keys),
                strings(&app.channels),
                vec![],
            )?
        },
        monitoring: user(builtin_user("monitoring"), true, vec![], vec![], vec![])?,
        admin: user(
            builtin_user("admin"),
            p.acl.admin.enabled,
            vec![],
            vec![],
            vec![],
        )?,
        extra: p
            .acl
            .users
            .iter()
            .map(|u| {
                let (keys, channels) = (strings(&u.keys), strings(&u.channels));
                user(
                    u.name.clone(),
                    u.enabled,
                    keys,
                    channels,
                    strings(&u.commands),
                )
            })
            .collect::<Result<_, _>>()?,
    })
}

/// server.env's secrets: Dragonfly's requirepass, the compose healthchecks' passwords.
fn server_env(input: &Input<'_>) -> Result<ServerEnv, Error> {
    let (p, target) = (input.profile, input.target);
    let requirepass = if dragonfly::enabled(p, target) {
        input
            .secrets
            .requirepass()
            .ok_or_else(|| missing_secret(secrets::DRAGONFLY_REQUIREPASS_VAR))?
            .to_owned()
    } else {
        String::new()
    };
    let of = |enabled: bool, name: &str| -> Result<String, Error> {
        Ok(if enabled {
            password(input, &builtin_user(name))?.to_owned()
        } else {
            String::new()
        })
    };
    Ok(ServerEnv {
        requirepass,
        healthcheck_password: of(compose::enabled(p, target), "monitoring")?,
        sentinel_healthcheck_password: of(
            compose::sentinel_env_enabled(p, target),
            crate::topology::users::SENTINEL_PEER,
        )?,
    })
}
