//! Where a bundle is deployed (`--target`) and the names of the files every bundle holds: the
//! leaf that the renderer and the per-artifact modules (compose, dragonfly, exporter, openssl)
//! share, so none of them imports `render` and `render` imports them without a cycle.

use crate::profile::EnvProfile;
use crate::values::BindAddr;

/// Where the server will find its files, which decides the paths inside `redis.conf`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Absolute paths inside the output directory: `redis-server DIR/redis.conf` boots as is.
    Local,
    /// Debian/Ubuntu packaging layout: /etc/redis, /var/lib/redis, systemd supervision.
    Host,
    /// Paths inside the official Redis container image (for docker-compose).
    Docker,
    /// The same image's paths, in pods: manifests under `k8s/` (see docs/topologies.md).
    Kubernetes,
}

impl Target {
    /// The server runs in a container of its own network namespace (compose or a pod): it
    /// binds that namespace's interfaces, and host firewall files do not apply.
    pub fn is_container(self) -> bool {
        matches!(self, Target::Docker | Target::Kubernetes)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Local => "local",
            Target::Host => "host",
            Target::Docker => "docker",
            Target::Kubernetes => "kubernetes",
        })
    }
}

/// Relative paths of the rendered files in the output directory.
pub const REDIS_CONF: &str = "redis.conf";
pub const USERS_ACL: &str = "users.acl";
pub const CLIENT_ENV: &str = "client.env";
pub const GITIGNORE: &str = ".gitignore";
pub const SECRETS_ENV: &str = "secrets.env";
pub const DATA_DIR: &str = "data";
pub const NFTABLES: &str = "firewall/nftables.nft";
pub const IPTABLES: &str = "firewall/iptables.rules";
pub const IP6TABLES: &str = "firewall/ip6tables.rules";
pub const UFW: &str = "firewall/ufw.sh";
/// For `--target host`: a drop-in for Debian's redis-server.service (installed as
/// /etc/systemd/system/redis-server.service.d/redis-harden.conf, next to openssl.conf).
pub const SYSTEMD_DROPIN: &str = "systemd/redis-harden.conf";

/// The addresses the server binds. In a container they are the container's own: `redis.bind`
/// names host interfaces that do not exist there, and loopback would shut out every other
/// container. So with TLS the server binds all interfaces of its network namespace, and who
/// can reach it is decided by the compose networks (internal, nothing published outside
/// development) or the pod's NetworkPolicy. Plaintext (testing) keeps loopback even there: it never reaches a network.
pub fn server_bind(p: &EnvProfile, target: Target) -> Vec<BindAddr> {
    if target.is_container() && p.tls.enabled {
        vec![
            BindAddr::parse("0.0.0.0").expect("valid"),
            BindAddr::parse("-::").expect("valid"),
        ]
    } else {
        p.redis.bind.clone()
    }
}
