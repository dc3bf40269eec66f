//! The container deployment: `docker-compose.yml` for the chosen engine, the server's
//! environment file, and where the server listens inside its container.

use serde::Serialize;

use crate::dragonfly;
use crate::pki;
use crate::profile::{Engine, EnvProfile, Environment};
use crate::render::{self, Target};
use crate::values::{BindAddr, ConfPath, ProjectName};

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

/// The addresses the server binds. In a container they are the container's own: `redis.bind`
/// names host interfaces that do not exist there, and loopback would shut out every other
/// container. So with TLS the server binds all interfaces of its network namespace, and who
/// can reach it is decided by the compose networks (internal, nothing published outside
/// development). Plaintext (testing) keeps loopback even there: it never reaches a network.
pub fn server_bind(p: &EnvProfile, target: Target) -> Vec<BindAddr> {
    if target == Target::Docker && p.tls.enabled {
        vec![
            BindAddr::parse("0.0.0.0").expect("valid"),
            BindAddr::parse("-::").expect("valid"),
        ]
    } else {
        p.redis.bind.clone()
    }
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
        Engine::Redis | Engine::Valkey => vec![render::REDIS_CONF, render::USERS_ACL],
        Engine::Dragonfly => vec![dragonfly::FLAGS_FILE, dragonfly::ACL_FILE],
    };
    if p.tls.enabled {
        files.extend([pki::SERVER_CERT, pki::SERVER_KEY, pki::CA_CERT]);
    }
    files
}

/// The mounted files that are not world-readable on the host (config 0640, ACL and key
/// 0600): the container's non-root user can read them only once it owns them.
pub fn owned_by_container(p: &EnvProfile) -> Vec<&'static str> {
    mounted(p)
        .into_iter()
        .filter(|f| !f.ends_with(".crt"))
        .collect()
}

fn config_dir(p: &EnvProfile) -> ConfPath {
    match p.engine {
        Engine::Redis | Engine::Valkey => {
            ConfPath::parse(p.server_facts().container_config_dir).expect("valid")
        }
        Engine::Dragonfly => ConfPath::parse(dragonfly::CONTAINER_DIR).expect("valid"),
    }
}

pub fn context(p: &EnvProfile, project: &ProjectName, env: Environment) -> Context {
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
                dir.join(render::REDIS_CONF).to_string(),
            ],
        ),
        // The image's entrypoint prepends `dragonfly --logtostderr` to arguments that start
        // with '-' (and the distroless image's entrypoint is dragonfly itself).
        Engine::Dragonfly => (
            "dragonfly",
            p.docker.dragonfly_image.to_string(),
            vec![format!("--flagfile={}", dir.join(dragonfly::FLAGS_FILE))],
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
    let name = format!("{project}-{env}");
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
/// then start the project.
pub fn next_step(
    p: &EnvProfile,
    project: &ProjectName,
    env: Environment,
    shown: &std::path::Path,
) -> String {
    let files: Vec<String> = owned_by_container(p)
        .iter()
        .map(|f| shell_word(&shown.join(f).display().to_string()))
        .collect();
    format!(
        "sudo chown {}:{} {} && docker-compose -p {project}-{env} -f {} up -d",
        p.docker.uid,
        p.docker.gid,
        files.join(" "),
        shell_word(&shown.join(COMPOSE_FILE).display().to_string())
    )
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
    fn the_container_gets_no_key_but_its_own() {
        for env in Environment::ALL {
            let mut p = crate::profile::builtin(env);
            for engine in [Engine::Redis, Engine::Valkey, Engine::Dragonfly] {
                p.engine = engine;
                let files = mounted(&p);
                assert!(!files.contains(&pki::CA_KEY) && !files.contains(&pki::CLIENT_KEY));
                assert!(!files.contains(&render::SECRETS_ENV));
                assert_eq!(files.contains(&pki::SERVER_KEY), p.tls.enabled);
            }
        }
    }
}
