//! Server families and versions: the one owner of what differs between Redis 7.0, Redis 8.0
//! and Valkey 8.1 (and Dragonfly, which has a flagfile of its own).
//!
//! Every fact here was measured on the real server (Debian's redis-server 7.0.15, Debian 13's
//! redis-server 8.0.2 and valkey-server 8.1.1): the directive names are `CONFIG GET *`, the
//! command tables `ACL CAT`. Live tests compare them with the servers (tests/live.rs). To add
//! a version, see docs/servers.md.

mod commands;

use std::collections::BTreeSet;
use std::fmt;

pub use commands::{CommandTable, Refused};

use serde::{Deserialize, Serialize};

use crate::profile::Engine;

/// A server release line, `MAJOR.MINOR` (`7.0`, `8.1`): what decides which directives exist
/// and which commands a category holds. Patch releases do not change either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    pub major: u16,
    pub minor: u16,
}

impl ServerVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// `8.0` or `8.0.2` (a release; the patch level is dropped). Anything else is refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?} is not a server version; expected MAJOR.MINOR such as 7.0, 8.0 or 8.1")
        };
        let mut parts = s.split('.');
        let mut number = || -> Result<u16, String> {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let (major, minor) = (number()?, number()?);
        // An optional patch level, then nothing.
        if let Some(patch) = parts.next()
            && (patch.is_empty() || !patch.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self { major, minor })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for ServerVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServerVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML reads `version: 8.0` as a number; `"8.0"` is the same version.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(serde_json::Number),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => {
                let s = n.to_string();
                // A whole number (`8`) names no release line.
                if s.contains('.') { s } else { format!("{s}.x") }
            }
        };
        ServerVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which replication-user directive names a version knows (none of our templates write one;
/// the gate and audit read both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimarySpelling {
    /// `masteruser`/`masterauth` only.
    Master,
    /// Valkey 8: `primaryuser`/`primaryauth`, with the `master*` names kept as aliases.
    Primary,
}

/// Everything that differs between the supported server versions.
#[derive(Debug)]
pub struct Facts {
    pub engine: Engine,
    pub version: ServerVersion,
    /// The release the facts were measured on and the live tests boot.
    pub proven: &'static str,
    /// The container image the compose file pins for this version.
    pub image: &'static str,
    /// The family's name for people, and its programs.
    pub name: &'static str,
    pub server_program: &'static str,
    pub cli_program: &'static str,
    /// `CONFIG GET *` of the proven release, as measured (see the `.directives` files).
    directives: &'static str,
    /// `COMMAND LIST` of the proven release, as a data server and as a Sentinel (the
    /// `.commands` files, written by tests/gen-command-tables.sh).
    commands: &'static str,
    sentinel_commands: &'static str,
    /// Commands in @dangerous, @admin or @scripting beyond Redis 7.0's table
    /// ([`crate::policy::FORBIDDEN_FOR_APPS`]), with all their categories.
    forbidden_extra: &'static [(&'static str, &'static [&'static str])],
    /// The server's default for `hide-user-data-from-log`, where the directive exists.
    pub hide_user_data_default: Option<bool>,
    /// Commands of this version only that the live audit asks `ACL DRYRUN` about (or queues
    /// in a discarded MULTI), with harmless arguments.
    pub app_probes: &'static [&'static [&'static str]],
    pub primary_spelling: PrimarySpelling,
    /// Debian's packaging layout for `--target host`: config dir, data dir, log and pid file.
    pub host_layout: HostLayout,
    /// Where the official image reads its config (the docker target's paths).
    pub container_config_dir: &'static str,
}

/// Where Debian's package of a server keeps its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLayout {
    pub config_dir: &'static str,
    pub data_dir: &'static str,
    pub logfile: &'static str,
    pub pidfile: &'static str,
    /// The systemd unit that runs the server, the file name it reads in `config_dir`, and
    /// the user it runs as.
    pub service: &'static str,
    pub conf_file: &'static str,
    pub user: &'static str,
}

const REDIS_HOST: HostLayout = HostLayout {
    config_dir: "/etc/redis",
    data_dir: "/var/lib/redis",
    logfile: "/var/log/redis/redis-server.log",
    pidfile: "/run/redis/redis-server.pid",
    service: "redis-server",
    conf_file: "redis.conf",
    user: "redis",
};

const VALKEY_HOST: HostLayout = HostLayout {
    config_dir: "/etc/valkey",
    data_dir: "/var/lib/valkey",
    logfile: "/var/log/valkey/valkey-server.log",
    pidfile: "/run/valkey/valkey-server.pid",
    service: "valkey-server",
    conf_file: "valkey.conf",
    user: "valkey",
};

/// Valkey 8.0's addition to the forbidden table (`ACL CAT` on valkey-server 8.0.1).
const VALKEY_8_0_EXTRA: &[(&str, &[&str])] = &[("script|show", &["scripting", "slow"])];

/// Valkey 8.1's additions to the forbidden table (`ACL CAT` on valkey-server 8.1.1).
const VALKEY_8_1_EXTRA: &[(&str, &[&str])] = &[
    ("commandlog|get", &["admin", "dangerous", "slow"]),
    ("commandlog|len", &["admin", "dangerous", "slow"]),
    ("commandlog|reset", &["admin", "dangerous", "slow"]),
    ("script|show", &["scripting", "slow"]),
];

/// Every supported engine and version, oldest first within an engine. The first of each
/// engine marked in [`default_version`] is what a profile gets without `server.version`.
pub const SUPPORTED: &[Facts] = &[
    Facts {
        engine: Engine::Redis,
        version: ServerVersion::new(7, 0),
        proven: "7.0.15",
        image: "redis:7.0.15-bookworm",
        name: "Redis",
        server_program: "redis-server",
        cli_program: "redis-cli",
        directives: include_str!("redis-7.0.directives"),
        commands: include_str!("redis-7.0.commands"),
        sentinel_commands: include_str!("redis-7.0.sentinel-commands"),
        forbidden_extra: &[],
        hide_user_data_default: None,
        app_probes: &[],
        primary_spelling: PrimarySpelling::Master,
        host_layout: REDIS_HOST,
        container_config_dir: "/usr/local/etc/redis",
    },
    Facts {
        engine: Engine::Redis,
        version: ServerVersion::new(8, 0),
        proven: "8.0.2",
        image: "redis:8.0.2-bookworm",
        name: "Redis",
        server_program: "redis-server",
        cli_program: "redis-cli",
        directives: include_str!("redis-8.0.directives"),
        commands: include_str!("redis-8.0.commands"),
        sentinel_commands: include_str!("redis-8.0.sentinel-commands"),
        forbidden_extra: &[],
        hide_user_data_default: Some(false),
        app_probes: &[],
        primary_spelling: PrimarySpelling::Master,
        host_layout: REDIS_HOST,
        container_config_dir: "/usr/local/etc/redis",
    },
    Facts {
        engine: Engine::Valkey,
        version: ServerVersion::new(8, 0),
        proven: "8.0.1",
        image: "valkey/valkey:8.0.1-bookworm",
        name: "Valkey",
        server_program: "valkey-server",
        cli_program: "valkey-cli",
        directives: include_str!("valkey-8.0.directives"),
        commands: include_str!("valkey-8.0.commands"),
        sentinel_commands: include_str!("valkey-8.0.sentinel-commands"),
        forbidden_extra: VALKEY_8_0_EXTRA,
        hide_user_data_default: Some(true),
        app_probes: &[],
        primary_spelling: PrimarySpelling::Primary,
        host_layout: VALKEY_HOST,
        container_config_dir: "/usr/local/etc/valkey",
    },
    Facts {
        engine: Engine::Valkey,
        version: ServerVersion::new(8, 1),
        proven: "8.1.1",
        image: "valkey/valkey:8.1.1-bookworm",
        name: "Valkey",
        server_program: "valkey-server",
        cli_program: "valkey-cli",
        directives: include_str!("valkey-8.1.directives"),
        commands: include_str!("valkey-8.1.commands"),
        sentinel_commands: include_str!("valkey-8.1.sentinel-commands"),
        forbidden_extra: VALKEY_8_1_EXTRA,
        hide_user_data_default: Some(true),
        app_probes: &[&["COMMANDLOG", "RESET", "slow"]],
        primary_spelling: PrimarySpelling::Primary,
        host_layout: VALKEY_HOST,
        container_config_dir: "/usr/local/etc/valkey",
    },
];

/// Dragonfly's own release line: its flags come from `dragonfly-flags.tsv` (v1.40). The
/// redis.conf a Dragonfly bundle also carries is a Redis 7.0 file.
pub const DRAGONFLY_VERSION: ServerVersion = ServerVersion::new(1, 40);

/// Directives a config file may hold that `CONFIG GET *` does not list.
const FILE_ONLY_DIRECTIVES: &[&str] = &["include", "loadmodule", "rename-command", "user"];

/// The version a profile gets when it names none: the newest proven one of the engine, except
/// Redis, whose default stays 7.0 (what Debian 12 ships and existing bundles target).
pub fn default_version(engine: Engine) -> ServerVersion {
    match engine {
        Engine::Redis => ServerVersion::new(7, 0),
        Engine::Valkey => ServerVersion::new(8, 1),
        Engine::Dragonfly => DRAGONFLY_VERSION,
    }
}

/// The facts of `engine` at `version`, if that pair is supported. Dragonfly bundles take the
/// Redis 7.0 facts for their redis.conf.
pub fn facts(engine: Engine, version: ServerVersion) -> Option<&'static Facts> {
    if engine == Engine::Dragonfly {
        return (version == DRAGONFLY_VERSION)
            .then(|| facts(Engine::Redis, ServerVersion::new(7, 0)))
            .flatten();
    }
    SUPPORTED
        .iter()
        .find(|f| f.engine == engine && f.version == version)
}

/// The supported versions (`Redis 8.0`, `Valkey 8.1`) whose tables (a Sentinel's, when
/// `sentinel`) know the command of a rule another version refuses, for its message: a
/// command of a newer version is no typo.
pub fn versions_knowing(plus: bool, body: &str, sentinel: bool) -> Vec<String> {
    SUPPORTED
        .iter()
        .filter(|f| f.commands(sentinel).judge(plus, body).is_ok())
        .map(Facts::label)
        .collect()
}

/// The versions of `engine` this tool supports, for error messages.
pub fn supported_versions(engine: Engine) -> Vec<ServerVersion> {
    if engine == Engine::Dragonfly {
        return vec![DRAGONFLY_VERSION];
    }
    SUPPORTED
        .iter()
        .filter(|f| f.engine == engine)
        .map(|f| f.version)
        .collect()
}

impl Facts {
    /// Every directive name the version reads from a config file.
    pub fn directives(&self) -> BTreeSet<&'static str> {
        self.directives
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .chain(FILE_ONLY_DIRECTIVES.iter().copied())
            .collect()
    }

    /// Whether the version reads `name` (any case) from a config file. Called for every line
    /// the gate reads: a scan of the list, not a set built per call.
    pub fn has_directive(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.directives.lines().any(|l| l == name) || FILE_ONLY_DIRECTIVES.contains(&name.as_str())
    }

    /// Every command and subcommand in @dangerous, @admin or @scripting, with all its
    /// categories: what the gate replays ACL rules against.
    pub fn forbidden_for_apps(&self) -> Vec<(&'static str, &'static [&'static str])> {
        let mut all: Vec<_> = crate::policy::FORBIDDEN_FOR_APPS
            .iter()
            .chain(self.forbidden_extra)
            .copied()
            .collect();
        all.sort_unstable_by_key(|(c, _)| *c);
        all
    }

    /// Every command and subcommand of the version, as a data server or as a Sentinel: what
    /// the gate looks up the commands of ACL rules in.
    pub fn commands(&self, sentinel: bool) -> CommandTable {
        CommandTable(if sentinel {
            self.sentinel_commands
        } else {
            self.commands
        })
    }

    /// `Redis 8.0`, `Valkey 8.1`.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// What `HELLO 3` told about a live server: its family and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub engine: Engine,
    /// The release exactly as the server reported it (`8.0.2`).
    pub release: String,
    pub version: ServerVersion,
}

impl Detected {
    /// From HELLO's `server` and `version` fields. Valkey answers `server valkey` with its own
    /// version (its INFO still says `redis_version:7.2.4`, for compatibility, so INFO would
    /// mislead).
    pub fn from_hello(server: &str, version: &str) -> Result<Self, String> {
        let engine = match server.to_ascii_lowercase().as_str() {
            "redis" => Engine::Redis,
            "valkey" => Engine::Valkey,
            other => return Err(format!("HELLO names an unknown server family {other:?}")),
        };
        let parsed = ServerVersion::parse(version)
            .map_err(|_| format!("HELLO reports an unreadable version {version:?}"))?;
        Ok(Self {
            engine,
            release: version.to_owned(),
            version: parsed,
        })
    }

    /// The facts to judge this server by, or why there are none.
    pub fn facts(&self) -> Result<&'static Facts, String> {
        facts(self.engine, self.version).ok_or_else(|| {
            format!(
                "{} {} is not a supported version (supported: {})",
                family_name(self.engine),
                self.release,
                list(&supported_versions(self.engine))
            )
        })
    }
}

pub fn family_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Redis => "Redis",
        Engine::Valkey => "Valkey",
        Engine::Dragonfly => "Dragonfly",
    }
}

/// `7.0, 8.0`
pub fn list(versions: &[ServerVersion]) -> String {
    versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an image reference names this engine's official image at this version: the
/// repository's last path part is the family (`redis`, `valkey`) and its tag, when there is
/// one, is the version or a release of it (`8.0`, `8.0.2`, `8.0.2-bookworm`). A digest-only
/// reference cannot be read for a version; it is judged by its repository alone.
pub fn image_matches(image: &str, engine: Engine, version: ServerVersion) -> Result<(), String> {
    let family = match engine {
        Engine::Redis => "redis",
        Engine::Valkey => "valkey",
        Engine::Dragonfly => return Ok(()),
    };
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let (repo, tag) = match last.split_once(':') {
        Some((r, t)) => (r, Some(t)),
        None => (last, None),
    };
    if repo != family {
        return Err(format!(
            "is not a {} image (the engine is {family}); use e.g. {}",
            family_name(engine),
            facts(engine, version).map_or("", |f| f.image)
        ));
    }
    if let Some(tag) = tag {
        let v = version.to_string();
        let release = tag.split('-').next().unwrap_or(tag);
        let same_line = release == v || release.strip_prefix(&format!("{v}.")).is_some();
        if !same_line {
            return Err(format!(
                "tag {tag:?} is not a {} {v} release (server.version is {v}); use e.g. {}, or set server.version to the image's version",
                family_name(engine),
                facts(engine, version).map_or("", |f| f.image)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(
            ServerVersion::parse("8.0").unwrap(),
            ServerVersion::new(8, 0)
        );
        assert_eq!(
            ServerVersion::parse("8.1.1").unwrap(),
            ServerVersion::new(8, 1)
        );
        for bad in [
            "8",
            "8.",
            "8.x",
            "v8.0",
            "8.0.1.2",
            "8.0\nport 1",
            "",
            "8.0.",
            "-8.0",
        ] {
            assert!(ServerVersion::parse(bad).is_err(), "{bad:?}");
        }
        let v: ServerVersion = serde_json::from_str("8.0").unwrap();
        assert_eq!(v, ServerVersion::new(8, 0));
        assert!(serde_json::from_str::<ServerVersion>("8").is_err());
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"8.0\"");
    }

    #[test]
    fn every_engine_has_a_supported_default() {
        for engine in [Engine::Redis, Engine::Valkey, Engine::Dragonfly] {
            let v = default_version(engine);
            assert!(facts(engine, v).is_some(), "{engine:?} {v}");
            assert!(supported_versions(engine).contains(&v));
        }
    }

    #[test]
    fn each_version_knows_its_own_directives() {
        let r7 = facts(Engine::Redis, ServerVersion::new(7, 0)).unwrap();
        let r8 = facts(Engine::Redis, ServerVersion::new(8, 0)).unwrap();
        let v81 = facts(Engine::Valkey, ServerVersion::new(8, 1)).unwrap();
        assert_eq!(
            [r7, r8, v81].map(|f| f.directives.lines().filter(|l| !l.starts_with('#')).count()),
            [192, 203, 227]
        );
        assert!(!r7.has_directive("hide-user-data-from-log"));
        assert!(r8.has_directive("hide-user-data-from-log"));
        assert!(v81.has_directive("primaryuser") && !r8.has_directive("primaryuser"));
        assert!(
            r7.has_directive("io-threads-do-reads") && !r8.has_directive("io-threads-do-reads")
        );
        assert!(!v81.has_directive("tls-auth-clients-user"));
        assert!(r7.has_directive("rename-command"));
        assert!(
            r7.has_directive("TLS-Port"),
            "config files are case-insensitive"
        );
        for f in SUPPORTED {
            assert!(f.directives().iter().all(|d| f.has_directive(d)));
        }
    }

    #[test]
    fn each_version_has_its_measured_command_tables() {
        let count = |sentinel| {
            SUPPORTED
                .iter()
                .map(|f| f.commands(sentinel).names().count())
                .collect::<Vec<_>>()
        };
        assert_eq!(count(false), [366, 394, 373, 379]);
        assert_eq!(count(true), [72, 73, 77, 77]);
        let r7 = facts(Engine::Redis, ServerVersion::new(7, 0)).unwrap();
        let r8 = facts(Engine::Redis, ServerVersion::new(8, 0)).unwrap();
        let v81 = facts(Engine::Valkey, ServerVersion::new(8, 1)).unwrap();
        assert!(!r7.commands(false).has("hgetex") && r8.commands(false).has("hgetex"));
        assert!(v81.commands(false).has("commandlog|get") && !r8.commands(false).has("commandlog"));
        assert!(!r7.commands(true).has("get") && r7.commands(true).has("sentinel|masters"));
    }

    #[test]
    fn valkey_forbids_commandlog_too() {
        let r8 = facts(Engine::Redis, ServerVersion::new(8, 0)).unwrap();
        let v81 = facts(Engine::Valkey, ServerVersion::new(8, 1)).unwrap();
        let dangerous = |f: &Facts| {
            f.forbidden_for_apps()
                .iter()
                .filter(|(_, cats)| cats.contains(&"dangerous"))
                .count()
        };
        assert_eq!((dangerous(r8), dangerous(v81)), (75, 78));
    }

    #[test]
    fn the_gate_replays_acl_rules_against_the_versions_table() {
        use crate::policy::{self, Policy};
        use crate::profile::Environment;
        let acl = "user default off\nuser app on #0123 ~* -@all +get +commandlog\n";
        let judged = |engine, version| {
            let p = Policy::for_env(Environment::Production, false, false)
                .for_server(facts(engine, version).unwrap());
            policy::check("users.acl", acl, &p)
                .into_iter()
                .map(|f| f.rule)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            judged(Engine::Valkey, ServerVersion::new(8, 1)),
            ["app-permissions"]
        );
        // Redis has no COMMANDLOG, and refuses the rule when loading the file; the finding
        // says which version has it.
        assert_eq!(
            judged(Engine::Redis, ServerVersion::new(8, 0)),
            ["unknown-command"]
        );
        let p = Policy::for_env(Environment::Production, false, false)
            .for_server(facts(Engine::Redis, ServerVersion::new(8, 0)).unwrap());
        let found = policy::check("users.acl", acl, &p);
        assert_eq!(
            found[0].text,
            "user app: +commandlog: Redis 8.0 has no such command (Valkey 8.1 has it)"
        );
        let acl = "user default off\nuser app on #0123 ~* -@all +client|setinfo\n";
        let found = policy::check(
            "users.acl",
            acl,
            &Policy {
                server: facts(Engine::Redis, ServerVersion::new(7, 0)).unwrap(),
                ..p
            },
        );
        assert!(
            found[0]
                .text
                .ends_with("(Redis 8.0, Valkey 8.0, Valkey 8.1 have it)"),
            "{}",
            found[0].text
        );
    }

    #[test]
    fn valkeys_primaryauth_is_a_password_in_the_config() {
        use crate::policy::{self, Policy};
        use crate::profile::Environment;
        let conf = "port 0\ntls-port 6379\naclfile /x\nprimaryauth Hunter2Hunter2\n";
        let p = Policy::for_env(Environment::Production, false, false)
            .for_server(facts(Engine::Valkey, ServerVersion::new(8, 1)).unwrap());
        let found = policy::check("redis.conf", conf, &p);
        let f = found
            .iter()
            .find(|f| f.rule == "password-in-conf")
            .expect("primaryauth is found");
        assert_eq!(f.text, "primaryauth <redacted>");
        assert!(found.iter().all(|f| !f.text.contains("Hunter2")));
    }

    #[test]
    fn hello_names_the_family_and_version() {
        let d = Detected::from_hello("valkey", "8.1.1").unwrap();
        assert_eq!(
            (d.engine, d.version),
            (Engine::Valkey, ServerVersion::new(8, 1))
        );
        assert_eq!(d.facts().unwrap().proven, "8.1.1");
        let d = Detected::from_hello("valkey", "8.0.1").unwrap();
        assert_eq!(d.facts().unwrap().proven, "8.0.1");
        let d = Detected::from_hello("redis", "7.2.4").unwrap();
        let err = d.facts().unwrap_err();
        assert!(
            err.contains("Redis 7.2.4") && err.contains("7.0, 8.0"),
            "{err}"
        );
        assert!(Detected::from_hello("keydb", "6.3.4").is_err());
    }

    #[test]
    fn images_must_match_engine_and_version() {
        let r80 = ServerVersion::new(8, 0);
        image_matches("redis:8.0.2-bookworm", Engine::Redis, r80).unwrap();
        image_matches("redis:8.0", Engine::Redis, r80).unwrap();
        image_matches(
            "registry.example:5000/mirror/redis:8.0.2",
            Engine::Redis,
            r80,
        )
        .unwrap();
        image_matches("redis@sha256:abcd", Engine::Redis, r80).unwrap();
        assert!(image_matches("redis:8.2.1", Engine::Redis, r80).is_err());
        assert!(image_matches("redis:8.00", Engine::Redis, r80).is_err());
        assert!(image_matches("valkey/valkey:8.1", Engine::Redis, r80).is_err());
        image_matches(
            "valkey/valkey:8.1",
            Engine::Valkey,
            ServerVersion::new(8, 1),
        )
        .unwrap();
        assert!(image_matches("redis:7.0.15", Engine::Valkey, ServerVersion::new(8, 1)).is_err());
    }
}
