//! The container deployment: `docker-compose.yml` for the chosen engine, the server's
//! environment file, and where the server listens inside its container.

use std::path::Path;

use serde::Serialize;

use crate::pki;
use crate::profile::{Engine, EnvProfile, Environment};
use crate::target::{self, Target};
use crate::values::{ConfPath, ProjectName};

/// Relative paths of the files in the output directory.
pub const COMPOSE_FILE: &str = "docker-compose.yml";
/// The server's environment: passwords the server process (or its healthcheck) needs.
pub const SERVER_ENV: &str = "server.env";

/// Whether this bundle has a docker-compose.yml.
pub fn enabled(_: &EnvProfile, target: Target) -> bool {
    target == Target::Docker
}

/// Whether the server needs `server.env`: Dragonfly's requirepass, or the container's
/// healthcheck password.
pub fn server_env_enabled(p: &EnvProfile, target: Target) -> bool {
    p.engine == Engine::Dragonfly || target == Target::Docker
}

/// What docker-compose.yml.tera needs.
#[derive(Debug, Serialize)]
pub struct Context {
    service: &'static str,
    image: String,
    user: String,
    command: Vec<String>,
    /// Files bind-mounted read-only, relative to the bundle, and where they appear.
    mounts: Vec<Mount>,
    data_dir: &'static str,
    volume: String,
    network: String,
    /// Names the server answers to on the internal network: the certificate's hostnames, so
    /// clients keep verification on.
    aliases: Vec<String>,
    /// `127.0.0.1:PORT:PORT` in development, empty elsewhere.
    publish: String,
    memory_limit: u64,
    cpus: String,
    healthcheck: String,
    tmpfs: Vec<&'static str>,
    /// io_uring wants locked memory on kernels before 5.12 (Dragonfly falls back to epoll).
    memlock_unlimited: bool,
    /// The files the container user must own, relative to the bundle.
    chown: Vec<&'static str>,
    /// `docker-compose -p NAME`: one project per bundle.
    project_name: String,
    /// OPENSSL_CONF inside the container (TLS only): the bundle's openssl.cnf.
    openssl_conf: String,
    /// redis_exporter as a second service (`docker.exporter`).
    exporter: Option<ExporterService>,
}

/// The exporter's service: the same confinement as the server's, its settings (the monitoring
/// password included) only from exporter.env, the client certificate to reach the server.
#[derive(Debug, Serialize)]
struct ExporterService {
    service: &'static str,
    image: String,
    env_file: &'static str,
    mounts: Vec<Mount>,
    /// `127.0.0.1:PORT:PORT` in development (like the server's), empty elsewhere: Prometheus
    /// joins the internal network instead.
    publish: String,
}

/// Whether the compose file carries the exporter service.
fn exporter_enabled(p: &EnvProfile) -> bool {
    // Redis and Valkey only (the profile refuses the switch for Dragonfly), TLS only.
    p.docker.exporter && p.tls.enabled && p.engine.reads_redis_conf()
}

/// The exporter's service, when the profile asks for it: its certificates (the CA and the
/// client pair) under the exporter's own directory, as exporter.env names them.
fn exporter_service(p: &EnvProfile, env: Environment) -> Option<ExporterService> {
    exporter_enabled(p).then(|| {
        let dir = ConfPath::parse(target::EXPORTER_DOCKER_TLS_DIR).expect("valid");
        let mounts = [
            (pki::CA_CERT, "ca.crt"),
            (pki::CLIENT_CERT, "client.crt"),
            (pki::CLIENT_KEY, "client.key"),
        ]
        .into_iter()
        .map(|(source, name)| Mount {
            source: format!("./{source}"),
            target: dir.join(name).to_string(),
        })
        .collect();
        let port = p.firewall.exporter_port.get();
        ExporterService {
            service: "redis-exporter",
            image: p.docker.exporter_image.to_string(),
            env_file: target::EXPORTER_ENV,
            mounts,
            publish: if env == Environment::Development {
                format!("127.0.0.1:{port}:{port}")
            } else {
                String::new()
            },
        }
    })
}

#[derive(Debug, Serialize)]
struct Mount {
    source: String,
    target: String,
}

/// Files mounted into the container: its config, its ACL file and, with TLS, its own
/// certificate, key and the CA. Never the CA key, the client key or secrets.env.
fn mounted(p: &EnvProfile) -> Vec<&'static str> {
    let mut files = match p.engine {
        Engine::Redis | Engine::Valkey => vec![target::REDIS_CONF, target::USERS_ACL],
        Engine::Dragonfly => vec![target::DRAGONFLY_FLAGS, target::DRAGONFLY_ACL],
    };
    if p.tls.enabled {
        files.extend([
            pki::SERVER_CERT,
            pki::SERVER_KEY,
            pki::CA_CERT,
            target::OPENSSL_CNF,
        ]);
    }
    files
}

/// The mounted files that are not world-readable on the host (config 0640, ACL and key
/// 0600): the container's non-root user can read them only once it owns them.
pub fn owned_by_container(p: &EnvProfile) -> Vec<&'static str> {
    let mut files: Vec<&'static str> = mounted(p)
        .into_iter()
        .filter(|f| !f.ends_with(".crt") && *f != target::OPENSSL_CNF)
        .collect();
    // The exporter runs as the same user and reads the client key.
    if exporter_enabled(p) {
        files.push(pki::CLIENT_KEY);
    }
    files
}

fn config_dir(p: &EnvProfile) -> ConfPath {
    match p.engine {
        Engine::Redis | Engine::Valkey => {
            ConfPath::parse(p.server_facts().container_config_dir).expect("valid")
        }
        Engine::Dragonfly => ConfPath::parse(target::DRAGONFLY_CONTAINER_DIR).expect("valid"),
    }
}

/// The compose project name, and the prefix of the network and volume names: `PROJECT-ENV`,
/// plus the bundle directory's name when that is not ENV itself. So the default bundle keeps
/// `redis-production`, and a second bundle of the same environment (`--out
/// deploy/production-eu`) gets `redis-production-production-eu`: its own containers, network
/// and data volume, never the first one's.
pub fn project_name(project: &ProjectName, env: Environment, bundle_dir: &Path) -> String {
    use std::path::Component;
    // Lexically, as init resolves --out: `out/.` and `x/../out` are `out`.
    let mut parts: Vec<&std::ffi::OsStr> = vec![];
    for c in bundle_dir.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let dir: String = parts
        .last()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        // Compose project names are lowercase letters, digits, `-` and `_`.
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let dir = dir.trim_matches('-');
    if dir.is_empty() || dir == env.name() {
        format!("{project}-{env}")
    } else {
        format!("{project}-{env}-{dir}")
    }
}

pub fn context(
    p: &EnvProfile,
    project: &ProjectName,
    env: Environment,
    bundle_dir: &ConfPath,
) -> Context {
    let dir = config_dir(p);
    let facts = p.server_facts();
    let (service, image, command) = match p.engine {
        Engine::Redis | Engine::Valkey => (
            if p.engine == Engine::Valkey {
                "valkey"
            } else {
                "redis"
            },
            p.docker.redis_image.to_string(),
            vec![
                facts.server_program.to_string(),
                dir.join(target::REDIS_CONF).to_string(),
            ],
        ),
        // The image's entrypoint prepends `dragonfly --logtostderr` to arguments that start
        // with '-' (and the distroless image's entrypoint is dragonfly itself).
        Engine::Dragonfly => (
            "dragonfly",
            p.docker.dragonfly_image.to_string(),
            vec![format!("--flagfile={}", dir.join(target::DRAGONFLY_FLAGS))],
        ),
    };
    let port = p.redis.port.get();
    let tls = if p.tls.enabled {
        format!(
            "--tls --cacert {} --cert {} --key {} ",
            dir.join(pki::CA_CERT),
            dir.join(pki::SERVER_CERT),
            dir.join(pki::SERVER_KEY)
        )
    } else {
        String::new()
    };
    // redis-cli exits 0 on NOAUTH and WRONGPASS: only a PONG proves the login worked. The
    // server certificate carries clientAuth, so it doubles as the client certificate.
    // Dragonfly's image ships redis-cli; Valkey's names it valkey-cli (which also reads
    // REDISCLI_AUTH).
    let cli = if p.engine == Engine::Dragonfly {
        "redis-cli"
    } else {
        facts.cli_program
    };
    let healthcheck =
        format!("{cli} {tls}-h localhost -p {port} --user monitoring ping | grep -qx PONG");
    let name = project_name(project, env, Path::new(bundle_dir.as_str()));
    Context {
        service,
        image,
        user: format!("{}:{}", p.docker.uid, p.docker.gid),
        command,
        mounts: mounted(p)
            .into_iter()
            .map(|f| Mount {
                source: format!("./{f}"),
                target: dir.join(f).to_string(),
            })
            .collect(),
        data_dir: "/data",
        volume: format!("{name}-{service}-data"),
        network: format!("{name}-{service}"),
        aliases: p.tls.hostnames.iter().map(ToString::to_string).collect(),
        publish: if env == Environment::Development {
            format!("127.0.0.1:{port}:{port}")
        } else {
            String::new()
        },
        memory_limit: p
            .docker
            .memory_limit
            .bytes()
            .expect("validated memory size"),
        cpus: p.docker.cpus.to_string(),
        healthcheck,
        tmpfs: match p.engine {
            Engine::Redis | Engine::Valkey => vec![],
            // glog writes log files to /tmp unless --logtostderr is given.
            Engine::Dragonfly => vec!["/tmp:rw,noexec,nosuid,nodev,size=64m"],
        },
        memlock_unlimited: p.engine == Engine::Dragonfly,
        chown: owned_by_container(p),
        project_name: name,
        openssl_conf: if p.tls.enabled {
            dir.join(target::OPENSSL_CNF).to_string()
        } else {
            String::new()
        },
        exporter: exporter_service(p, env),
    }
}

/// A word for a shell command line: as is when it is plain, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `next:` line of `init --target docker`: hand the key files to the container's user,
/// then start the project with Compose v2 (`docker compose`; the v1 `docker-compose` is
/// end-of-life). `sudo` only when not already root: root's shell may have no sudo at all.
pub fn next_step(p: &EnvProfile, project: &ProjectName, env: Environment, shown: &Path) -> String {
    let files: Vec<String> = owned_by_container(p)
        .iter()
        .map(|f| shell_word(&shown.join(f).display().to_string()))
        .collect();
    let dir = std::path::absolute(shown).unwrap_or_else(|_| shown.to_path_buf());
    format!(
        "{}chown {}:{} {} && docker compose -p {} -f {} up -d",
        if running_as_root() { "" } else { "sudo " },
        p.docker.uid,
        p.docker.gid,
        files.join(" "),
        project_name(project, env, &dir),
        shell_word(&shown.join(COMPOSE_FILE).display().to_string())
    )
}

/// Whether this process runs as root (effective uid 0), read from /proc so no `unsafe`
/// `geteuid` call is needed; where /proc is missing, assume not (and print `sudo`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("deploy/production/tls/server.key"),
            "deploy/production/tls/server.key"
        );
        assert_eq!(shell_word("my deploy/redis.conf"), "'my deploy/redis.conf'");
        assert_eq!(shell_word("a$b"), "'a$b'");
    }

    #[test]
    fn two_bundles_of_one_environment_get_their_own_names() {
        let project = ProjectName::parse("shop").unwrap();
        let env = Environment::Production;
        let name = |dir: &str| project_name(&project, env, Path::new(dir));
        assert_eq!(name("/srv/deploy/production"), "shop-production");
        assert_eq!(name("/srv/deploy/production/."), "shop-production");
        assert_eq!(
            name("/srv/deploy/production-eu"),
            "shop-production-production-eu"
        );
        assert_eq!(name("/srv/x/../Blue Box"), "shop-production-blue-box");
        assert_eq!(name("/"), "shop-production");
    }

    #[test]
    fn the_container_gets_no_key_but_its_own() {
        for env in Environment::ALL {
            let mut p = crate::profile::builtin(env);
            for engine in [Engine::Redis, Engine::Valkey, Engine::Dragonfly] {
                p.engine = engine;
                let files = mounted(&p);
                assert!(!files.contains(&pki::CA_KEY) && !files.contains(&pki::CLIENT_KEY));
                assert!(!files.contains(&target::SECRETS_ENV));
                assert_eq!(files.contains(&pki::SERVER_KEY), p.tls.enabled);
            }
        }
    }
}
