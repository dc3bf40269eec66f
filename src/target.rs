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
/// For `--target host`: the one systemd drop-in for the server's unit ([`crate::systemd`]).
pub const SYSTEMD_DROPIN: &str = "systemd/redis-harden.conf";
/// Dragonfly's flagfile and ACL file (instead of redis.conf and users.acl).
pub const DRAGONFLY_FLAGS: &str = "dragonfly.flags";
pub const DRAGONFLY_ACL: &str = "dragonfly.acl";
/// The OpenSSL configuration every TLS bundle ships (see `openssl`).
pub const OPENSSL_CNF: &str = "openssl.cnf";

/// redis_exporter's environment file (see `exporter`), and where its container reads the
/// bundle's CA and client pair (the compose file's exporter service mounts them there).
pub const EXPORTER_ENV: &str = "exporter.env";
pub const EXPORTER_DOCKER_TLS_DIR: &str = "/etc/redis-exporter";

/// Where docker-compose.yml mounts the Dragonfly files inside the container.
pub const DRAGONFLY_CONTAINER_DIR: &str = "/etc/dragonfly";

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

#[cfg(test)]
mod tests {
    /// The modules that each write one kind of file. They are leaves: none imports another
    /// or the renderer (what two of them share lives here), so each is read and changed alone.
    const ARTIFACTS: [(&str, &str); 6] = [
        ("compose", include_str!("compose/mod.rs")),
        ("compose", include_str!("compose/rollout.rs")),
        ("dragonfly", include_str!("dragonfly.rs")),
        ("exporter", include_str!("exporter.rs")),
        ("firewall", include_str!("firewall.rs")),
        ("openssl", include_str!("openssl.rs")),
    ];

    /// The first segment of every `crate::` path in `code`, braces included
    /// (`use crate::{a, b::c}` names `a` and `b`).
    fn crate_modules(code: &str) -> Vec<String> {
        let ident = |s: &str| {
            s.trim_start()
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
                .to_owned()
        };
        let mut found = Vec::new();
        for (_, rest) in code
            .match_indices("crate::")
            .map(|(i, _)| code.split_at(i + 7))
        {
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(group.split(',').map(ident));
            } else {
                found.push(ident(rest));
            }
        }
        found
    }

    #[test]
    fn artifact_modules_import_no_other_artifact_module() {
        assert_eq!(
            crate_modules("use crate::{a, b::C};\nlet x = crate::d::e();"),
            ["a", "b", "d"]
        );
        for (name, source) in ARTIFACTS {
            // Tests may render a whole bundle; the module itself may not.
            let code = source
                .split("#[cfg(test)]")
                .next()
                .expect("split yields one part");
            for module in crate_modules(code) {
                let artifact = ARTIFACTS.iter().any(|(a, _)| *a == module && *a != name);
                assert!(
                    !artifact && module != "render",
                    "src/{name}.rs imports crate::{module}: move what both need to src/target.rs"
                );
            }
        }
    }
}
