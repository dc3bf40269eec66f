//! The container deployment: `docker-compose.yml` for the chosen engine, the server's
//! environment file, and where the server listens inside its container.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::Serialize;

use crate::pki;
use crate::profile::{Engine, EnvProfile, Environment};
use crate::target::{self, Target};
use crate::topology::render::SENTINEL_ACL;
use crate::topology::users::SENTINEL_PEER;
use crate::topology::{self, Kind, Node, Role, layout};
use crate::values::{ConfPath, Hostname, ProjectName};

pub mod rollout;

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
    /// The first (standalone: the only) server service's name, for the exporter.
    service: String,
    /// One service per server: the single server, or every node of a topology. All share
    /// one template body, so each gets the same confinement.
    services: Vec<Service>,
    /// Whether the server publishes a port (development): the network that carries it.
    publish: bool,
    user: String,
    network: String,
    /// Topologies: the internal network's fixed subnet (see [`subnet`]); empty otherwise.
    subnet: String,
    memory_limit: u64,
    cpus: String,
    /// The files the container user must own, relative to the bundle.
    chown: Vec<String>,
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
        .map(|(source, name)| Mount::read_only(source, dir.join(name).to_string()))
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
    /// Only a Sentinel's own directory is writable: Sentinel rewrites its config there.
    read_only: bool,
}

impl Mount {
    fn read_only(source: &str, target: String) -> Mount {
        Mount {
            source: format!("./{source}"),
            target,
            read_only: true,
        }
    }
}

/// One server container: the standalone server, or one node of a topology.
#[derive(Debug, Serialize)]
struct Service {
    name: String,
    /// What the service is, for the comment above it.
    role: String,
    image: String,
    command: Vec<String>,
    /// server.env (the monitoring password for the healthcheck) or, for a Sentinel,
    /// sentinel.env (sentinel-peer's, the only user with PING there).
    env_file: &'static str,
    mounts: Vec<Mount>,
    data_dir: &'static str,
    /// The key of its data volume in `volumes:`, and that volume's name.
    volume: String,
    volume_name: String,
    /// Names the server answers to on the internal network: the certificate's hostnames, so
    /// clients keep verification on.
    aliases: Vec<String>,
    /// Topology nodes: the node's fixed address on the internal network; empty otherwise.
    ipv4_address: String,
    /// `127.0.0.1:PORT:PORT` in development, empty elsewhere.
    publish: String,
    healthcheck: String,
    tmpfs: Vec<&'static str>,
    /// io_uring wants locked memory on kernels before 5.12 (Dragonfly falls back to epoll).
    memlock_unlimited: bool,
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
/// 0600): the container's non-root user can read them only once it owns them. For a
/// topology: every node's config and key, the ACL files, and each Sentinel's directory (it
/// writes its rewritten config there) with the `tls/` directory below it.
pub fn owned_by_container(p: &EnvProfile) -> Vec<String> {
    if p.topology.kind != Kind::Standalone {
        let mut files = vec![target::USERS_ACL.to_owned()];
        if p.topology.kind == Kind::Sentinel {
            files.push(SENTINEL_ACL.to_owned());
        }
        for n in topology::nodes(p) {
            if n.role == Role::Sentinel {
                files.push(layout::node_dir(&n.name));
                files.push(layout::tls_dir(&n.name));
            }
            files.push(layout::conf(&n));
            files.push(layout::key(&n.name));
        }
        return files;
    }
    let mut files: Vec<String> = mounted(p)
        .into_iter()
        .filter(|f| !f.ends_with(".crt") && *f != target::OPENSSL_CNF)
        .map(str::to_owned)
        .collect();
    // The exporter runs as the same user and reads the client key.
    if exporter_enabled(p) {
        files.push(pki::CLIENT_KEY.to_owned());
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
    let name = project_name(project, env, Path::new(bundle_dir.as_str()));
    let topology = p.topology.kind != Kind::Standalone;
    let services = if topology {
        in_network(p, project, env)
            .iter()
            .map(|n| node_service(p, &name, n))
            .collect()
    } else {
        vec![standalone_service(p, env, &name)]
    };
    Context {
        service: services[0].name.clone(),
        publish: services.iter().any(|s| !s.publish.is_empty()),
        services,
        user: format!("{}:{}", p.docker.uid, p.docker.gid),
        network: format!(
            "{name}-{}",
            if topology {
                p.topology.kind.name()
            } else {
                service_name(p)
            }
        ),
        subnet: if topology {
            format!("{}/24", subnet(project, env))
        } else {
            String::new()
        },
        memory_limit: p
            .docker
            .memory_limit
            .bytes()
            .expect("validated memory size"),
        cpus: p.docker.cpus.to_string(),
        chown: owned_by_container(p),
        project_name: name,
        openssl_conf: if p.tls.enabled {
            config_dir(p).join(target::OPENSSL_CNF).to_string()
        } else {
            String::new()
        },
        exporter: exporter_service(p, env),
    }
}

/// The standalone server's service name: its engine.
fn service_name(p: &EnvProfile) -> &'static str {
    match p.engine {
        Engine::Redis => "redis",
        Engine::Valkey => "valkey",
        Engine::Dragonfly => "dragonfly",
    }
}

/// The healthcheck command: a PING as `user`, whose password is REDISCLI_AUTH from the
/// service's env file. redis-cli exits 0 on NOAUTH and WRONGPASS: only a PONG proves the
/// login worked. The server (node) certificate carries clientAuth, so it doubles as the
/// client certificate. Dragonfly's image ships redis-cli; Valkey's names it valkey-cli
/// (which also reads REDISCLI_AUTH).
fn healthcheck(
    p: &EnvProfile,
    tls: Option<(String, String, String)>,
    port: u16,
    user: &str,
) -> String {
    format!("{} ping | grep -qx PONG", cli_login(p, tls, port, user))
}

/// redis-cli inside a container, logging in to its own server as `user` over loopback (the
/// password: REDISCLI_AUTH).
fn cli_login(
    p: &EnvProfile,
    tls: Option<(String, String, String)>,
    port: u16,
    user: &str,
) -> String {
    let cli = if p.engine == Engine::Dragonfly {
        "redis-cli"
    } else {
        p.server_facts().cli_program
    };
    let tls = tls.map_or(String::new(), |(ca, cert, key)| {
        format!("--tls --cacert {ca} --cert {cert} --key {key} ")
    });
    format!("{cli} {tls}-h localhost -p {port} --user {user}")
}

/// [`cli_login`] inside a topology node's container, with the node's certificate.
fn node_cli(p: &EnvProfile, node: &Node, user: &str) -> String {
    cli_login(p, Some(node_tls(p, node)), node.port, user)
}

/// A node's CA, certificate and key as its container sees them.
fn node_tls(p: &EnvProfile, node: &Node) -> (String, String, String) {
    let at = |rel: &str| config_dir(p).join(rel).to_string();
    (
        at(pki::CA_CERT),
        at(&layout::cert(&node.name)),
        at(&layout::key(&node.name)),
    )
}

/// The one server of a standalone bundle.
fn standalone_service(p: &EnvProfile, env: Environment, name: &str) -> Service {
    let dir = config_dir(p);
    let facts = p.server_facts();
    let service = service_name(p);
    let (image, command) = match p.engine {
        Engine::Redis | Engine::Valkey => (
            p.docker.redis_image.to_string(),
            vec![
                facts.server_program.to_string(),
                dir.join(target::REDIS_CONF).to_string(),
            ],
        ),
        // The image's entrypoint prepends `dragonfly --logtostderr` to arguments that start
        // with '-' (and the distroless image's entrypoint is dragonfly itself).
        Engine::Dragonfly => (
            p.docker.dragonfly_image.to_string(),
            vec![format!("--flagfile={}", dir.join(target::DRAGONFLY_FLAGS))],
        ),
    };
    let port = p.redis.port.get();
    let tls = p.tls.enabled.then(|| {
        (
            dir.join(pki::CA_CERT).to_string(),
            dir.join(pki::SERVER_CERT).to_string(),
            dir.join(pki::SERVER_KEY).to_string(),
        )
    });
    Service {
        name: service.to_owned(),
        role: format!("one {service} server"),
        image,
        command,
        env_file: SERVER_ENV,
        mounts: mounted(p)
            .into_iter()
            .map(|f| Mount::read_only(f, dir.join(f).to_string()))
            .collect(),
        data_dir: "/data",
        volume: "data".into(),
        volume_name: format!("{name}-{service}-data"),
        aliases: p.tls.hostnames.iter().map(ToString::to_string).collect(),
        ipv4_address: String::new(),
        publish: if env == Environment::Development {
            format!("127.0.0.1:{port}:{port}")
        } else {
            String::new()
        },
        healthcheck: healthcheck(p, tls, port, "monitoring"),
        tmpfs: match p.engine {
            Engine::Redis | Engine::Valkey => vec![],
            // glog writes log files to /tmp unless --logtostderr is given.
            Engine::Dragonfly => vec!["/tmp:rw,noexec,nosuid,nodev,size=64m"],
        },
        memlock_unlimited: p.engine == Engine::Dragonfly,
    }
}

/// The Sentinels' environment file: REDISCLI_AUTH for their healthcheck, which logs in as
/// sentinel-peer (the data nodes' monitoring user does not exist on a Sentinel).
pub const SENTINEL_ENV: &str = "sentinel.env";

/// Whether the bundle has `sentinel.env` (a compose bundle of the sentinel kind).
pub fn sentinel_env_enabled(p: &EnvProfile, target: Target) -> bool {
    target == Target::Docker && p.topology.kind == Kind::Sentinel
}

/// The most nodes a compose bundle places on its /24 network (addresses .10 to .254).
pub const MAX_NODES: usize = 245;
const FIRST_HOST: u8 = 10;

/// The internal network of a topology bundle: `172.16.N.0`, N from the project and
/// environment. Why fixed addresses rather than service names: Redis 7.0's `CLUSTER MEET`
/// (what `redis-cli --cluster create` sends) takes only an IP address; a Sentinel given a
/// name must resolve it when it loads its config, so one restarted while the primary's
/// container is down would not start; and a node keeps its address across restarts, so the
/// addresses Sentinel and the cluster's nodes.conf remember stay right. No `*-announce-*`
/// directive is needed: each node's own address is the one its peers and clients use, and
/// its certificate names it. 172.16.0.0/16 is outside Docker's default address pools
/// (172.17-31, 192.168), so no network Docker creates by itself takes it; two bundles whose
/// N collide refuse to start side by side ("Pool overlaps"), they never share a network.
pub fn subnet(project: &ProjectName, env: Environment) -> Ipv4Addr {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in format!("{project}/{env}").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    Ipv4Addr::new(172, 16, (h % 256) as u8, 0)
}

/// The address of the `index`th node (in [`topology::nodes`] order) on that network.
pub fn node_ip(project: &ProjectName, env: Environment, index: usize) -> Ipv4Addr {
    let [a, b, c, _] = subnet(project, env).octets();
    let host = u8::try_from(index)
        .ok()
        .and_then(|i| i.checked_add(FIRST_HOST))
        .expect("at most MAX_NODES nodes (check_target)");
    Ipv4Addr::new(a, b, c, host)
}

/// The topology's nodes as they see each other in the compose network: each named by its
/// service (the node's name) at its fixed address, on its usual port. The ports stay
/// distinct (consecutive), so a node's port says which node it is in every log line.
pub fn in_network(p: &EnvProfile, project: &ProjectName, env: Environment) -> Vec<Node> {
    topology::nodes(p)
        .into_iter()
        .enumerate()
        .map(|(i, n)| Node {
            host: Hostname::parse(&n.name).expect("node names are DNS labels"),
            dial: n.name.clone(),
            ip: IpAddr::V4(node_ip(project, env, i)),
            ..n
        })
        .collect()
}

/// What a compose bundle adds to a node's certificate: its service name and its address on
/// the compose network, so clients that Sentinel or the cluster send to that address keep
/// hostname verification on. Every target's certificate gets them (certificates are never
/// replaced), so a bundle can move between targets; none for nodes the profile places.
pub fn node_sans(
    p: &EnvProfile,
    project: &ProjectName,
    env: Environment,
    node: &Node,
) -> (Option<Hostname>, Option<IpAddr>) {
    if !p.topology.nodes.is_empty() {
        return (None, None);
    }
    let index = topology::nodes(p).iter().position(|n| n.name == node.name);
    (
        Hostname::parse(&node.name).ok(),
        index
            .filter(|i| *i < MAX_NODES)
            .map(|i| IpAddr::V4(node_ip(project, env, i))),
    )
}

/// One node's service: its own config, certificate and data volume; a Sentinel's directory
/// writable (it rewrites its config there), everything else read-only.
fn node_service(p: &EnvProfile, name: &str, node: &Node) -> Service {
    let dir = config_dir(p);
    let facts = p.server_facts();
    let at = |rel: &str| dir.join(rel).to_string();
    let sentinel = node.role == Role::Sentinel;
    let mut mounts = vec![];
    let command = if sentinel {
        // The node's directory, writable: Sentinel rewrites sentinel.conf through a temp file
        // there. umask 077: the rewritten file holds auth-pass and must stay owner-only.
        mounts.push(Mount {
            read_only: false,
            ..Mount::read_only(
                &layout::node_dir(&node.name),
                at(&layout::node_dir(&node.name)),
            )
        });
        vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!(
                "umask 077 && exec {} {} --sentinel",
                facts.server_program,
                at(&layout::conf(node))
            ),
        ]
    } else {
        mounts.push(Mount::read_only(
            &layout::conf(node),
            at(&layout::conf(node)),
        ));
        vec![facts.server_program.to_owned(), at(&layout::conf(node))]
    };
    // Read-only, also inside a Sentinel's writable directory (mounted over it).
    for f in [layout::cert(&node.name), layout::key(&node.name)] {
        mounts.push(Mount::read_only(&f, at(&f)));
    }
    let acl = if sentinel {
        SENTINEL_ACL
    } else {
        target::USERS_ACL
    };
    for f in [pki::CA_CERT, acl, target::OPENSSL_CNF] {
        mounts.push(Mount::read_only(f, at(f)));
    }
    let tls = node_tls(p, node);
    let role = match node.role {
        Role::Primary if p.topology.kind == Kind::Sentinel => "the primary at start".to_owned(),
        Role::Primary => format!("shard {} primary at start", node.shard.unwrap_or(0)),
        Role::Replica => format!(
            "replica of {} at start",
            node.replica_of.as_deref().unwrap_or("?")
        ),
        Role::Sentinel => "Sentinel".to_owned(),
    };
    Service {
        name: node.name.clone(),
        role,
        image: p.docker.redis_image.to_string(),
        command,
        env_file: if sentinel { SENTINEL_ENV } else { SERVER_ENV },
        mounts,
        data_dir: "/data",
        volume: format!("{}-data", node.name),
        volume_name: format!("{name}-{}-data", node.name),
        aliases: vec![],
        ipv4_address: node.ip.to_string(),
        // Nothing published: Sentinel and the cluster hand clients the nodes' addresses on
        // this network, which a client on the host could not follow anyway.
        publish: String::new(),
        healthcheck: healthcheck(
            p,
            Some(tls),
            node.port,
            if sentinel {
                SENTINEL_PEER
            } else {
                "monitoring"
            },
        ),
        tmpfs: vec![],
        memlock_unlimited: false,
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
/// `--force-recreate` (standalone): after a re-run, a running container would keep its old
/// files (compose::rollout).
pub fn next_step(p: &EnvProfile, project: &ProjectName, env: Environment, shown: &Path) -> String {
    // A topology's nodes all at once only at the first start: later, one at a time (the
    // start order says how).
    let recreate = if p.topology.kind == Kind::Standalone {
        " --force-recreate"
    } else {
        ""
    };
    format!(
        "{} && {} up -d{recreate} --wait",
        chown_command(p, shown),
        compose_command(project, env, shown).prefix
    )
}

/// Hands the files the containers read and only their owner may to the containers' user.
fn chown_command(p: &EnvProfile, shown: &Path) -> String {
    let files: Vec<String> = owned_by_container(p)
        .iter()
        .map(|f| shell_word(&shown.join(f).display().to_string()))
        .collect();
    format!(
        "{}chown {}:{} {}",
        if running_as_root() { "" } else { "sudo " },
        p.docker.uid,
        p.docker.gid,
        files.join(" "),
    )
}

/// `docker compose` for this bundle's project and file.
struct Compose {
    project: String,
    /// `docker compose -p PROJECT -f FILE`
    prefix: String,
}

fn compose_command(project: &ProjectName, env: Environment, shown: &Path) -> Compose {
    let dir = std::path::absolute(shown).unwrap_or_else(|_| shown.to_path_buf());
    let name = project_name(project, env, &dir);
    Compose {
        prefix: format!(
            "docker compose -p {name} -f {}",
            shell_word(&shown.join(COMPOSE_FILE).display().to_string())
        ),
        project: name,
    }
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
    fn topology_nodes_get_fixed_addresses_that_their_certificates_name() {
        let project = ProjectName::parse("shop").unwrap();
        let env = Environment::Production;
        let mut p = crate::profile::builtin(env);
        p.topology.kind = Kind::Cluster;
        let nodes = in_network(&p, &project, env);
        let net = subnet(&project, env);
        assert_eq!(net, subnet(&project, env), "stable");
        assert_eq!(net.octets()[..2], [172, 16]);
        for (i, n) in nodes.iter().enumerate() {
            let IpAddr::V4(ip) = n.ip else {
                panic!("{ip:?}", ip = n.ip)
            };
            assert_eq!(ip.octets()[..3], net.octets()[..3], "{}", n.name);
            assert_eq!(usize::from(ip.octets()[3]), 10 + i);
            assert_eq!(
                (n.dial.as_str(), n.host.as_str()),
                (n.name.as_str(), n.name.as_str())
            );
            let (name, addr) = node_sans(&p, &project, env, &topology::nodes(&p)[i]);
            assert_eq!(
                (name.unwrap().as_str(), addr),
                (n.name.as_str(), Some(n.ip))
            );
        }
        // Another environment of the same project: its own network.
        assert_ne!(net, subnet(&project, Environment::Staging));
        // Nodes the profile places get no compose names.
        p.topology.nodes = vec![crate::topology::NodeSpec {
            name: Hostname::parse("a").unwrap(),
            host: None,
            ip: "10.0.0.1".parse().unwrap(),
            port: crate::values::Port::new(6379).unwrap(),
            bus_port: None,
        }];
        assert_eq!(node_sans(&p, &project, env, &nodes[0]), (None, None));
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
