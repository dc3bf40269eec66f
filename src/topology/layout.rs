//! Where each node's files live in a multi-node bundle. Standalone bundles do not use these:
//! their files stay where they always were (`redis.conf`, `tls/server.crt`, ...). A
//! multi-node bundle has no `tls/server.*` pair outside Kubernetes ([`has_server_pair`]).
//!
//! ```text
//! nodes/NAME/redis.conf       a data node's config
//! nodes/NAME/sentinel.conf    a Sentinel's config (0600: it holds auth-pass; Sentinel
//!                             rewrites it, so its directory is writable by its owner)
//! nodes/NAME/tls/node.crt     the node's certificate (serverAuth and clientAuth)
//! nodes/NAME/tls/node.key     its key (0600)
//! nodes/NAME/systemd/redis-harden.conf  --target host: the node's systemd drop-in
//! nodes/NAME/data/            --target local: the node's data directory (0700)
//! cluster-create.sh           cluster only: forms the cluster with redis-cli
//! ```

use super::{Node, Role};

/// The directory every node's directory is in.
pub const NODES_DIR: &str = "nodes";
/// A data node's config file name, inside its directory.
pub const NODE_REDIS_CONF: &str = "redis.conf";
/// A Sentinel's config file name, inside its directory.
pub const NODE_SENTINEL_CONF: &str = "sentinel.conf";
/// A node's certificate and key, inside its directory.
pub const NODE_CERT: &str = "tls/node.crt";
pub const NODE_KEY: &str = "tls/node.key";
/// A node's data directory (`--target local`), inside its directory.
pub const NODE_DATA_DIR: &str = "data";
/// A cluster node's own cluster state file, inside its data directory (Redis writes it).
pub const CLUSTER_CONFIG_FILE: &str = "nodes.conf";
/// The script that forms a cluster (cluster kind only).
pub const CLUSTER_CREATE: &str = "cluster-create.sh";
/// Mode of a node's directory: a Sentinel rewrites its config there (temp file + rename).
pub const NODE_DIR_MODE: u32 = 0o700;

/// `nodes/NAME`.
pub fn node_dir(name: &str) -> String {
    format!("{NODES_DIR}/{name}")
}

/// `nodes/NAME/redis.conf` or `nodes/NAME/sentinel.conf`.
pub fn conf(node: &Node) -> String {
    let file = if node.role == Role::Sentinel {
        NODE_SENTINEL_CONF
    } else {
        NODE_REDIS_CONF
    };
    format!("{}/{file}", node_dir(&node.name))
}

/// `nodes/NAME/nftables.nft`: the node's firewall rules.
pub fn nftables(name: &str) -> String {
    format!("{}/nftables.nft", node_dir(name))
}

/// `nodes/NAME/systemd/redis-harden.conf`: the node's systemd drop-in (`--target host`).
pub fn systemd_dropin(name: &str) -> String {
    format!("{}/systemd/redis-harden.conf", node_dir(name))
}

/// `nodes/NAME/tls/node.crt`.
pub fn cert(name: &str) -> String {
    format!("{}/{NODE_CERT}", node_dir(name))
}

/// `nodes/NAME/tls/node.key`.
pub fn key(name: &str) -> String {
    format!("{}/{NODE_KEY}", node_dir(name))
}

/// `nodes/NAME/tls`.
pub fn tls_dir(name: &str) -> String {
    format!("{}/tls", node_dir(name))
}

/// `nodes/NAME/data`.
pub fn data_dir(name: &str) -> String {
    format!("{}/{NODE_DATA_DIR}", node_dir(name))
}

/// Whether the bundle has the single-server pair `tls/server.{crt,key}`: a standalone bundle
/// does, and so does a Kubernetes bundle of any kind (its pods share one certificate with
/// wildcard names). Elsewhere every node has its own pair, and an unused private key would
/// only be one more secret to guard and rotate.
pub fn has_server_pair(
    profile: &crate::profile::EnvProfile,
    target: crate::target::Target,
) -> bool {
    target == crate::target::Target::Kubernetes || super::kind(profile) == super::Kind::Standalone
}

/// The single-server files a bundle without them ([`has_server_pair`]) may still hold from an
/// earlier version (which wrote them for every kind), rotation copies included: they belong
/// to no node and go with the next writing command.
pub fn unused_server_files(
    profile: &crate::profile::EnvProfile,
    target: crate::target::Target,
) -> Vec<String> {
    if has_server_pair(profile, target) {
        return vec![];
    }
    let pair = [crate::pki::SERVER_CERT, crate::pki::SERVER_KEY];
    pair.iter()
        .map(|r| (*r).to_owned())
        .chain(pair.iter().map(|r| crate::bundle::layout::previous_path(r)))
        .collect()
}

/// Whether `rel` is a path inside the `nodes/` tree (which a change of topology may leave
/// behind, and which stale-file removal must therefore know).
pub fn is_node_path(rel: &str) -> bool {
    rel == NODES_DIR || rel.starts_with("nodes/")
}

/// The directories of every node, with their modes, parents first: the node's own (0700:
/// Sentinel writes its rewritten config there) and, for `--target local`, its data directory.
pub fn dirs(nodes: &[Node], target: crate::target::Target) -> Vec<(String, u32)> {
    let mut out = vec![];
    // Kubernetes pods have no per-node files: k8s/ holds them all.
    if target == crate::target::Target::Kubernetes {
        return out;
    }
    if !nodes.is_empty() {
        out.push((NODES_DIR.to_owned(), crate::bundle::layout::DIR_MODE));
    }
    for n in nodes {
        out.push((node_dir(&n.name), NODE_DIR_MODE));
        out.push((tls_dir(&n.name), NODE_DIR_MODE));
        if target == crate::target::Target::Local {
            out.push((data_dir(&n.name), NODE_DIR_MODE));
        }
    }
    out
}

/// Whether `rel` is a node's rendered config (what a change of topology may leave stale).
pub fn is_node_conf(rel: &str) -> bool {
    is_node_path(rel)
        && (rel.ends_with("/redis.conf")
            || rel.ends_with("/sentinel.conf")
            || rel.ends_with("/nftables.nft")
            || rel.ends_with("/systemd/redis-harden.conf"))
}
