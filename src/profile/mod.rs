//! The profile: what one environment of a deployment looks like.
//!
//! A profile is resolved in layers, lowest first: the built-in policy of the environment
//! ([`defaults`]), the environment's section of `redis-harden.yaml`, then `--set KEY=VALUE`
//! arguments ([`load`]). The merged result is deserialized into [`EnvProfile`], whose fields are
//! all validated types, and then checked as a whole ([`EnvProfile::validate`]).

mod defaults;
mod lines;
mod load;
pub mod schema;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::server::{self, ServerVersion};
use crate::values::{
    AclRule, BindAddr, Cidr, Hostname, ImageRef, KeyPattern, MemorySize, Port, ProjectName,
    UserName,
};

pub use defaults::builtin;
pub use load::{PROFILE_FILE_NAME, ProfileSource, Resolved, resolve};

/// The four built-in environments. Each carries its own security policy.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Staging,
    Development,
    Testing,
}

impl Environment {
    pub const ALL: [Environment; 4] = [
        Environment::Production,
        Environment::Staging,
        Environment::Development,
        Environment::Testing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Development => "development",
            Environment::Testing => "testing",
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that describes one environment. Every field is a validated type or an enum, so
/// once a value of this type exists, nothing in it can break out of its directive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvProfile {
    /// Which server the bundle is for. Redis artifacts are always written; `dragonfly` adds
    /// the Dragonfly flagfile and ACL file.
    pub engine: Engine,
    /// Which release line of the engine; see [`crate::server`].
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub tls: TlsSettings,
    pub secrets: SecretSettings,
    pub acl: AclSettings,
    pub firewall: FirewallSettings,
    pub docker: DockerSettings,
    pub dragonfly: DragonflySettings,
    /// `--target kubernetes` only: namespace, names, storage, image digest, pod user.
    #[serde(default)]
    pub kubernetes: crate::kubernetes::KubernetesSettings,
    /// One server, a primary with replicas and Sentinels, or a Redis Cluster; see
    /// docs/topologies.md.
    #[serde(default)]
    pub topology: crate::topology::TopologySettings,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Redis,
    // The Linux Foundation's fork of Redis 7.2: the same redis.conf and ACL file format.
    Valkey,
    Dragonfly,
}

impl Engine {
    /// Whether the server reads redis.conf and users.acl (Redis and Valkey).
    pub fn reads_redis_conf(self) -> bool {
        matches!(self, Engine::Redis | Engine::Valkey)
    }
}

/// The server's release line. Without `server.version` a profile gets the engine's default
/// ([`crate::server::default_version`]); the compose image follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The release line, `MAJOR.MINOR`: 7.0 or 8.0 for Redis, 8.1 for Valkey (see
    /// docs/servers.md). Decides the directives written and the compose image.
    pub version: ServerVersion,
}

/// Who may reach the server. Everything else is dropped on those ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallSettings {
    /// Sources allowed to reach the data port.
    pub app_cidrs: Vec<Cidr>,
    /// Sources allowed to reach the exporter port, and the data port (as the monitoring user).
    pub monitoring_cidrs: Vec<Cidr>,
    /// The metrics exporter's port (redis_exporter listens on 9121).
    pub exporter_port: Port,
}

/// The container deployment (docker-compose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerSettings {
    /// Pinned image references, by a version tag or a digest; a floating tag (none, or
    /// `:latest`) would change the server under you, and is refused.
    pub redis_image: ImageRef,
    pub dragonfly_image: ImageRef,
    /// The non-root uid:gid the container runs as; key files must be owned by it.
    pub uid: u32,
    /// The container's group id; see `uid`.
    pub gid: u32,
    /// The container's memory limit.
    pub memory_limit: MemorySize,
    /// CPU limit in cores, e.g. 1 or 0.5: more than 0, at most 1024.
    pub cpus: f64,
    /// Adds redis_exporter to the compose file as a second hardened service (Redis and
    /// Valkey): the monitoring user over mTLS, its password from exporter.env.
    pub exporter: bool,
    /// The exporter's pinned image (`docker.exporter`).
    pub exporter_image: ImageRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DragonflySettings {
    /// Worker threads (`--proactor_threads`), 1-1024; Dragonfly needs 256 MiB of maxmemory
    /// per thread.
    pub threads: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// The TLS port; the plaintext port when `tls.enabled` is false.
    pub port: Port,
    /// Addresses the server listens on (redis.conf `bind`), at least one. Host names are
    /// refused; with TLS off, only loopback addresses.
    pub bind: Vec<BindAddr>,
    /// The memory limit of the data set (redis.conf `maxmemory`).
    pub maxmemory: MemorySize,
    /// What to evict when `maxmemory` is reached.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// The most simultaneous client connections, 1-100000.
    pub maxclients: u32,
    /// Seconds before an idle client is disconnected (0 = never).
    pub timeout: u32,
    /// Seconds between TCP keepalive probes to clients (0 = off).
    pub tcp_keepalive: u32,
    /// How much the server logs.
    pub loglevel: LogLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Serve TLS only (the plaintext port is closed). Off only in `testing`, on loopback.
    pub enabled: bool,
    /// TLS versions the server accepts.
    pub protocols: Vec<TlsProtocol>,
    /// Which Mozilla server-side TLS configuration the cipher lists follow.
    pub ciphers: CipherProfile,
    /// Whether clients must present a certificate from the bundle's CA.
    pub client_auth: ClientAuth,
    /// DNS names in the server certificate (clients verify the one they connect to);
    /// `localhost` is always added. IP addresses and wildcards are refused.
    pub hostnames: Vec<Hostname>,
    /// IP addresses in the server certificate; `127.0.0.1` is always added.
    pub ips: Vec<IpAddr>,
    /// The key algorithm of the CA and the certificates.
    pub key_type: KeyType,
    /// Days a server or client certificate is valid, 1-825.
    pub leaf_validity_days: u32,
    /// Days the CA certificate is valid, 1-3650.
    pub ca_validity_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// Length of each generated password (alphanumeric), 12-256; used for new passwords only.
    pub password_length: u32,
    /// Master-key mode only: bump a secret's generation to rotate it without changing the
    /// master key. Keys are user names, `encryption_key` or `dragonfly_requirepass`; absent = 1.
    #[serde(default)]
    pub generations: std::collections::BTreeMap<String, u32>,
}

impl SecretSettings {
    pub fn generation(&self, name: &str) -> u32 {
        self.generations.get(name).copied().unwrap_or(1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AclSettings {
    /// The application user `app`.
    pub app: AppUser,
    /// The `admin` user: every command, for operators. Off unless enabled.
    pub admin: AdminUser,
    /// Extra users, each with its own password in `secrets.env`.
    pub users: Vec<ExtraUser>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppUser {
    /// Key patterns the user may touch (`~pattern`); at least one.
    pub keys: Vec<KeyPattern>,
    /// Pub/sub channel patterns the user may use (`&pattern`); may be empty.
    pub channels: Vec<KeyPattern>,
    /// Lets the app user run Lua scripts: EVAL, EVALSHA (and their _RO forms), SCRIPT LOAD and
    /// SCRIPT EXISTS, what redis-py's Lock, Celery and rate limiters need. Off by default:
    /// scripting is a real attack surface (CVE-2022-0543, CVE-2025-49844). The gate and
    /// `audit` report it as `app-scripting`, at low severity. FUNCTION, FCALL and SCRIPT
    /// FLUSH/KILL/DEBUG stay denied.
    #[serde(default)]
    pub scripting: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUser {
    /// Create the `admin` user (with its own password).
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtraUser {
    /// The user name; also names its password, `REDIS_PASSWORD_<NAME>` in `secrets.env`. Not
    /// `default`, `app`, `monitoring` or `admin`, and not one whose variable another's shares
    /// (`a-b` and `a_b`).
    pub name: UserName,
    /// Key patterns the user may touch (`~pattern`).
    #[serde(default)]
    pub keys: Vec<KeyPattern>,
    /// Pub/sub channel patterns the user may use (`&pattern`).
    #[serde(default)]
    pub channels: Vec<KeyPattern>,
    /// Command rules, at least one: `+@read`, `-@dangerous`, `+get`. `|` only after a command
    /// that has subcommands, since `+flushall|async` would grant FLUSHALL.
    pub commands: Vec<AclRule>,
    /// Whether the user can log in.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum TlsProtocol {
    #[serde(rename = "TLSv1.2")]
    Tls12,
    #[serde(rename = "TLSv1.3")]
    Tls13,
}

impl TlsProtocol {
    pub fn name(self) -> &'static str {
        match self {
            TlsProtocol::Tls12 => "TLSv1.2",
            TlsProtocol::Tls13 => "TLSv1.3",
        }
    }
}

/// Which of Mozilla's server-side TLS configurations the cipher lists come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CipherProfile {
    Modern,
    Intermediate,
}

/// Whether clients must present a certificate signed by the deployment CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    Required,
    Optional,
    Off,
}

impl ClientAuth {
    /// The value of redis.conf `tls-auth-clients`.
    pub fn directive(self) -> &'static str {
        match self {
            ClientAuth::Required => "yes",
            ClientAuth::Optional => "optional",
            ClientAuth::Off => "no",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum KeyType {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MaxmemoryPolicy {
    Noeviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// The names of the users every bundle has; extra users may not take them.
pub const BUILTIN_USERS: [&str; 4] = ["default", "app", "monitoring", "admin"];

/// A whole-profile rule broken: the key it is about and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Every key involved; the error names the first one the user set.
    pub keys: Vec<String>,
    pub reason: String,
}

/// A broken whole-profile rule about `keys` (comma-separated, the first one the user set first).
fn fail(keys: &str, reason: String) -> Result<(), Violation> {
    Err(Violation {
        keys: keys.split(',').map(str::to_owned).collect(),
        reason,
    })
}

/// `value` must lie in `range`, or `key` fails with "is not between".
fn in_range<T>(key: &str, value: T, range: std::ops::RangeInclusive<T>) -> Result<(), Violation>
where
    T: PartialOrd + std::fmt::Display,
{
    if range.contains(&value) {
        return Ok(());
    }
    fail(
        key,
        format!(
            "{value} is not between {} and {}",
            range.start(),
            range.end()
        ),
    )
}

impl EnvProfile {
    /// Rules that involve more than one value. Single values were checked when parsed.
    /// The checks run in a fixed order, so a profile with several faults always names the
    /// same one first.
    pub fn validate(&self) -> Result<(), Violation> {
        self.validate_listeners()?;
        self.validate_limits()?;
        self.validate_docker()?;
        self.validate_generations()?;
        self.validate_users()?;
        self.validate_server()
    }

    /// Where the server listens and how: plaintext only on loopback, TLS with usable ciphers.
    fn validate_listeners(&self) -> Result<(), Violation> {
        let (r, t) = (&self.redis, &self.tls);
        if r.bind.is_empty() {
            return fail("redis.bind", "must list at least one address".into());
        }
        if !t.enabled {
            if let Some(b) = r.bind.iter().find(|b| !b.is_loopback()) {
                return fail(
                    "redis.bind,tls.enabled",
                    format!(
                        "{b} is not a loopback address, but TLS is off: plaintext Redis may only \
                         listen on 127.0.0.1/::1 (set tls.enabled=true to listen elsewhere)"
                    ),
                );
            }
            return Ok(());
        }
        if t.protocols.is_empty() {
            return fail(
                "tls.protocols,tls.enabled",
                "must list TLSv1.2 and/or TLSv1.3 when TLS is on".into(),
            );
        }
        if t.ciphers == CipherProfile::Modern && t.protocols.contains(&TlsProtocol::Tls12) {
            return fail(
                "tls.ciphers,tls.protocols",
                "Mozilla's modern profile has no TLSv1.2 ciphers, so TLSv1.2 clients could \
                 never connect: use ciphers=intermediate or protocols=[TLSv1.3]"
                    .into(),
            );
        }
        Ok(())
    }

    /// Numbers the server, the secret generator and the PKI accept.
    fn validate_limits(&self) -> Result<(), Violation> {
        let (r, t) = (&self.redis, &self.tls);
        // redis-server 7.0 reads both as an int: above INT_MAX it refuses to start.
        for (key, v) in [
            ("redis.timeout", r.timeout),
            ("redis.tcp_keepalive", r.tcp_keepalive),
        ] {
            if v > i32::MAX as u32 {
                return fail(
                    key,
                    format!("{v} is above 2147483647, the largest value Redis accepts"),
                );
            }
        }
        in_range("redis.maxclients", r.maxclients, 1..=100_000)?;
        if !(12..=256).contains(&self.secrets.password_length) {
            return fail(
                "secrets.password_length",
                format!(
                    "{} is not between 12 and 256 (12 alphanumerics are ~71 bits)",
                    self.secrets.password_length
                ),
            );
        }
        in_range("tls.ca_validity_days", t.ca_validity_days, 1..=3650)?;
        in_range("tls.leaf_validity_days", t.leaf_validity_days, 1..=825)?;
        if t.leaf_validity_days > t.ca_validity_days {
            return fail(
                "tls.leaf_validity_days,tls.ca_validity_days",
                format!(
                    "{} days outlives the CA ({} days)",
                    t.leaf_validity_days, t.ca_validity_days
                ),
            );
        }
        Ok(())
    }

    /// The container's user and resources, and Dragonfly's thread count.
    fn validate_docker(&self) -> Result<(), Violation> {
        // The compose file runs the server as docker.uid:docker.gid; 0 is root, whose
        // container escapes are host root's (and which owns every file it mounts).
        for (key, id) in [
            ("docker.uid", self.docker.uid),
            ("docker.gid", self.docker.gid),
        ] {
            if id == 0 {
                return fail(
                    key,
                    "0 is root: the container must not run as root (use the image's own user, \
                     999 for redis and dragonfly)"
                        .into(),
                );
            }
            // (uid_t)-1 means "unchanged" to setuid/setgid: no process can run as it.
            if id == u32::MAX {
                return fail(
                    key,
                    format!("{id} is not a usable id: the largest is 4294967294"),
                );
            }
        }
        // Docker takes CPUs in hundredths at least (--cpus 0.01); below, it refuses.
        if !(self.docker.cpus >= 0.01 && self.docker.cpus <= 1024.0) {
            return fail(
                "docker.cpus",
                format!(
                    "{} is not a CPU count between 0.01 and 1024",
                    self.docker.cpus
                ),
            );
        }
        in_range("dragonfly.threads", self.dragonfly.threads, 1..=1024)
    }

    /// The app user has key patterns; `secrets.generations` names only secrets the bundle
    /// has (its users' passwords included), counting from 1.
    fn validate_generations(&self) -> Result<(), Violation> {
        if self.acl.app.keys.is_empty() {
            return fail(
                "acl.app.keys",
                "must list at least one key pattern (e.g. \"app:*\")".into(),
            );
        }
        let users = self.password_users();
        for (name, generation) in &self.secrets.generations {
            let key = format!("secrets.generations.{name}");
            let known = users.iter().any(|u| u.as_str() == name)
                || name == "encryption_key"
                || name == "dragonfly_requirepass";
            if !known {
                return fail(
                    &key,
                    "names no secret: use a user name, encryption_key or dragonfly_requirepass"
                        .into(),
                );
            }
            if *generation == 0 {
                return fail(&key, "generations start at 1".into());
            }
        }
        Ok(())
    }

    /// Extra ACL users: not a built-in name, one password variable each, at least one rule.
    fn validate_users(&self) -> Result<(), Violation> {
        let mut seen = std::collections::BTreeMap::new();
        for (i, user) in self.acl.users.iter().enumerate() {
            let key = format!("acl.users[{i}].name");
            if BUILTIN_USERS.contains(&user.name.as_str()) {
                return fail(&key, format!("{:?} is a built-in user", user.name.as_str()));
            }
            if let Some(other) = seen.insert(user.name.password_var(), &user.name) {
                return fail(
                    &key,
                    format!(
                        "{:?} clashes with {:?}: both store their password as {}",
                        user.name.as_str(),
                        other.as_str(),
                        user.name.password_var()
                    ),
                );
            }
            if user.commands.is_empty() {
                return fail(
                    &format!("acl.users[{i}].commands"),
                    "must list at least one rule (e.g. +@read)".into(),
                );
            }
        }
        Ok(())
    }

    /// The engine version is one we know, its image runs that version, and Dragonfly's own
    /// rules hold.
    fn validate_server(&self) -> Result<(), Violation> {
        let Some(facts) = server::facts(self.engine, self.server.version) else {
            return fail(
                "server.version,engine",
                format!(
                    "{} {} is not supported; supported versions: {}",
                    server::family_name(self.engine),
                    self.server.version,
                    server::list(&server::supported_versions(self.engine))
                ),
            );
        };
        if self.engine.reads_redis_conf() {
            // The image runs the server: it must be the version the config was written for.
            server::image_matches(self.docker.redis_image.as_str(), self.engine, facts.version)
                .or_else(|reason| fail("docker.redis_image,server.version", reason))?;
            self.validate_user_commands(facts)?;
        }
        crate::topology::validate(self)?;
        if self.engine == Engine::Dragonfly {
            crate::dragonfly::check_profile(self)?;
        }
        self.kubernetes.validate()?;
        self.validate_exporter()
    }

    /// Every command an extra user's rules name exists in the targeted version: the server
    /// would refuse the ACL file otherwise (the gate checks the rendered file too).
    fn validate_user_commands(&self, facts: &server::Facts) -> Result<(), Violation> {
        let table = facts.commands(false);
        for (i, user) in self.acl.users.iter().enumerate() {
            for (j, rule) in user.commands.iter().enumerate() {
                let rule = rule.as_str();
                let (plus, body) = match rule.split_at(1) {
                    ("+", body) => (true, body),
                    (_, body) => (false, body),
                };
                if body.starts_with('@') {
                    continue;
                }
                if let Err(refused) = table.judge(plus, body) {
                    let hint = refused.hint(&rule[..1], plus, body, false);
                    return fail(
                        &format!("acl.users[{i}].commands[{j}]"),
                        format!("{} {}{hint}", facts.label(), refused.why),
                    );
                }
            }
        }
        Ok(())
    }

    /// `docker.exporter`: only where an exporter container can log in to the server.
    fn validate_exporter(&self) -> Result<(), Violation> {
        if self.docker.exporter && !self.engine.reads_redis_conf() {
            return fail(
                "docker.exporter",
                "Dragonfly's ACL file has no subcommand rules, so its monitoring user cannot \
                 serve redis_exporter (CLIENT SETNAME alone); turn it off"
                    .into(),
            );
        }
        if self.docker.exporter && !self.tls.enabled {
            return fail(
                "docker.exporter",
                "without TLS the server listens on its container's loopback only (plaintext \
                 never reaches a network), so no exporter container can reach it; use \
                 exporter.env with --target local or host"
                    .into(),
            );
        }
        if self.docker.exporter && self.tls.hostnames.is_empty() {
            return fail(
                "docker.exporter,tls.hostnames",
                "the exporter container reaches the server by the first of tls.hostnames (the \
                 server certificate's name, an alias on the compose network); \"localhost\" \
                 would be the exporter's own container: name one, e.g. --set \
                 tls.hostnames=[redis.internal]"
                    .into(),
            );
        }
        Ok(())
    }

    /// The facts of the profile's engine and version. A validated profile always has them.
    pub fn server_facts(&self) -> &'static server::Facts {
        server::facts(self.engine, self.server.version)
            .expect("validate() refuses an unsupported engine version")
    }

    /// Every ACL user that has a password, in a stable order.
    pub fn password_users(&self) -> Vec<UserName> {
        let mut users: Vec<UserName> = ["app", "monitoring", "admin"]
            .iter()
            .map(|n| UserName::parse(n).expect("built-in user names are valid"))
            .collect();
        users.extend(self.acl.users.iter().map(|u| u.name.clone()));
        users.extend(crate::topology::users::names(self));
        users
    }
}

/// The effective profile of one environment, as `profile show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Effective<'a> {
    pub project: &'a ProjectName,
    pub environment: Environment,
    #[serde(flatten)]
    pub settings: &'a EnvProfile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_may_not_run_as_root() {
        for env in Environment::ALL {
            for (uid, gid, key) in [
                (0, 999, "docker.uid"),
                (999, 0, "docker.gid"),
                (0, 0, "docker.uid"),
            ] {
                let mut p = builtin(env);
                p.docker.uid = uid;
                p.docker.gid = gid;
                let v = p.validate().unwrap_err();
                assert_eq!(v.keys, [key], "{env} {uid}:{gid}");
                assert!(v.reason.contains("must not run as root"), "{}", v.reason);
            }
            let mut p = builtin(env);
            p.docker.uid = 4_294_967_295;
            assert_eq!(p.validate().unwrap_err().keys, ["docker.uid"]);
            p.docker.uid = 1000;
            p.docker.gid = 1000;
            p.validate().unwrap();
        }
    }

    #[test]
    fn ranges_are_what_the_server_and_docker_accept() {
        let env = Environment::Production;
        let ok = |f: &dyn Fn(&mut EnvProfile)| {
            let mut p = builtin(env);
            f(&mut p);
            p.validate().map_err(|v| v.keys)
        };
        assert!(ok(&|p| p.redis.timeout = 2_147_483_647).is_ok());
        assert_eq!(
            ok(&|p| p.redis.timeout = 2_147_483_648).unwrap_err(),
            ["redis.timeout"]
        );
        assert!(ok(&|p| p.redis.tcp_keepalive = 2_147_483_647).is_ok());
        assert_eq!(
            ok(&|p| p.redis.tcp_keepalive = u32::MAX).unwrap_err(),
            ["redis.tcp_keepalive"]
        );
        assert!(ok(&|p| p.docker.cpus = 0.01).is_ok());
        for cpus in [1e-300, 0.009, 0.0, -1.0, 1024.5, f64::NAN] {
            assert_eq!(
                ok(&|p| p.docker.cpus = cpus).unwrap_err(),
                ["docker.cpus"],
                "{cpus}"
            );
        }
        assert_eq!(
            ok(&|p| p.docker.gid = u32::MAX).unwrap_err(),
            ["docker.gid"]
        );
    }
}
