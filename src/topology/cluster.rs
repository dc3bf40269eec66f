//! Redis Cluster: the `cluster-*` directives of each node's `redis.conf`, the rules of the two
//! users a cluster needs beyond a standalone server's, and `cluster-create.sh`, which forms
//! the cluster once every node is up.
//!
//! The rules were measured on Redis 7.0.15 and Valkey 8.1.1 by removing one at a time and
//! watching `--cluster create` fail and the `ACL LOG` name the command (docs/topologies.md).

use serde::Serialize;

use super::{Kind, Node, Role, layout};
use crate::pki;
use crate::profile::EnvProfile;
use crate::values::{ConfPath, UserName};

/// Rules of the cluster-creation user: what `redis-cli --cluster create` (and `valkey-cli`)
/// runs on each node, and nothing else. It reads `INFO` and `CLUSTER INFO|NODES`, assigns
/// slots, sets each node's config epoch, introduces the nodes to each other and makes the
/// replicas follow their primaries; without any one of these the create fails. No keys, no
/// channels.
pub const ADMIN_RULES: &str = "resetkeys resetchannels -@all +info +cluster|nodes +cluster|info \
     +cluster|addslots +cluster|meet +cluster|replicate +cluster|set-config-epoch";

/// The commands of [`ADMIN_RULES`] that the policy gate would otherwise refuse (admin or
/// dangerous ones), so it allows exactly these.
pub const ADMIN_MAY_RUN: &[&str] = &[
    "info",
    "cluster|nodes",
    "cluster|info",
    "cluster|addslots",
    "cluster|meet",
    "cluster|replicate",
    "cluster|set-config-epoch",
];

/// What a cluster-aware client runs on top of its data commands: `CLUSTER SLOTS` to learn
/// which node holds which slots (redis-py: "Cluster mode is not enabled on this node"
/// without it) and `COMMAND` to learn where each command's keys are. The app user's
/// `+@all -@dangerous -@admin` grants both already; they are named so that the line says
/// what a cluster client depends on, and stays right if a team narrows the app's commands.
pub const APP_EXTRA: &str = "+cluster|slots +command";

/// How long (ms) a node may be unreachable before the others count it as failed and its
/// replica takes over. Redis's default is 15 s; on loopback 3 s failed over in about 5 s,
/// and 5 s rides out a busy network.
pub const NODE_TIMEOUT_MS: u32 = 5000;

/// The `node.cluster` part of a data node's template context: its `cluster-*` directives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeConf {
    /// `cluster-port`: the bus, which peers reach over TLS (`tls-cluster yes`).
    pub port: u16,
    /// `cluster-config-file`: the node's own state (its ID, epoch, peers), which Redis writes
    /// and rewrites. An absolute path in the node's own data directory: never shared
    /// between nodes, and unmoved by a `CONFIG SET dir`.
    pub config_file: ConfPath,
    /// `cluster-node-timeout`.
    pub node_timeout_ms: u32,
}

/// The cluster directives of `node`, whose data directory (as its `redis.conf` names it) is
/// `data_dir`; `None` for a node that is not a cluster node.
pub fn node_conf(node: &Node, data_dir: &ConfPath) -> Option<NodeConf> {
    Some(NodeConf {
        port: node.bus_port?,
        config_file: data_dir.join(layout::CLUSTER_CONFIG_FILE),
        node_timeout_ms: NODE_TIMEOUT_MS,
    })
}

/// What `cluster-create.sh` is rendered from (`topology.cluster`). Paths are relative to the
/// bundle, which the script finds from its own location, so a copied bundle still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateScript {
    pub shards: u32,
    pub replicas_per_shard: u32,
    /// `ip:port` of every node, the initial primaries first: `--cluster create` makes the
    /// first `shards` of them primaries. Addresses, not names: Redis 7.0's `CLUSTER MEET`
    /// takes only an IP. IPv6 without brackets (`::1:6379`): redis-cli splits at the last
    /// colon and would look `[::1]` up as a host name.
    pub nodes: Vec<String>,
    pub admin_user: &'static str,
    pub admin_password_var: String,
    pub ca_cert: &'static str,
    pub client_cert: &'static str,
    pub client_key: &'static str,
    /// A compose bundle: redis-cli runs inside a node's container (see [`InContainer`]).
    pub docker: Option<InContainer>,
}

/// How a compose bundle's `cluster-create.sh` reaches the nodes: their addresses exist only on
/// the compose network, so redis-cli runs in the first node's container (`docker compose
/// exec`), with that node's certificate (it carries clientAuth) at its in-container paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InContainer {
    /// `docker compose -p NAME`.
    pub project_name: String,
    pub compose_file: &'static str,
    pub service: String,
    pub cli: &'static str,
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
}

/// The context of `cluster-create.sh`; `None` for other kinds.
pub fn create_script(p: &EnvProfile, nodes: &[Node]) -> Option<CreateScript> {
    if p.topology.kind != Kind::Cluster {
        return None;
    }
    let mut ordered: Vec<&Node> = nodes.iter().filter(|n| n.role.is_data()).collect();
    // `nodes()` already puts the primaries first; the stable sort makes the script right
    // whatever order it is given.
    ordered.sort_by_key(|n| n.role != Role::Primary);
    Some(CreateScript {
        shards: p.topology.shards,
        replicas_per_shard: p.topology.replicas_per_shard,
        nodes: ordered
            .iter()
            .map(|n| format!("{}:{}", n.ip, n.port))
            .collect(),
        admin_user: super::users::CLUSTER_ADMIN,
        admin_password_var: UserName::parse(super::users::CLUSTER_ADMIN)
            .expect("a valid user name")
            .password_var(),
        ca_cert: pki::CA_CERT,
        client_cert: pki::CLIENT_CERT,
        client_key: pki::CLIENT_KEY,
        docker: None,
    })
}

/// Whether the bundle has `cluster-create.sh` (an artifact's `when`); on Kubernetes a Job
/// forms the cluster (k8s/cluster-create-job.yaml).
pub fn enabled(p: &EnvProfile, target: crate::render::Target) -> bool {
    p.topology.kind == Kind::Cluster && target != crate::render::Target::Kubernetes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Environment, builtin};
    use crate::topology::nodes;

    fn cluster(shards: u32, replicas: u32) -> EnvProfile {
        let mut p = builtin(Environment::Production);
        p.topology.kind = Kind::Cluster;
        p.topology.shards = shards;
        p.topology.replicas_per_shard = replicas;
        p
    }

    #[test]
    fn create_script_lists_the_primaries_first_then_their_replicas() {
        let p = cluster(3, 1);
        let mut all = nodes(&p);
        let port = p.redis.port.get();
        let want: Vec<String> = (0..6).map(|i| format!("127.0.0.1:{}", port + i)).collect();
        assert_eq!(create_script(&p, &all).unwrap().nodes, want);
        // Whatever order the nodes come in.
        all.reverse();
        let s = create_script(&p, &all).unwrap();
        assert!(s.nodes[..3].iter().all(|a| want[..3].contains(a)), "{s:?}");
        assert_eq!((s.shards, s.replicas_per_shard), (3, 1));
        assert_eq!(s.admin_password_var, "REDIS_PASSWORD_CLUSTER_ADMIN");
    }

    #[test]
    fn create_script_gives_ipv6_addresses_as_redis_cli_parses_them() {
        let p = cluster(3, 0);
        let mut all = nodes(&p);
        all[1].ip = "2001:db8::7".parse().unwrap();
        let s = create_script(&p, &all).unwrap();
        assert_eq!(s.nodes[1], format!("2001:db8::7:{}", all[1].port));
    }

    #[test]
    fn only_a_cluster_has_a_create_script() {
        let mut p = cluster(3, 1);
        p.topology.kind = Kind::Sentinel;
        assert_eq!(create_script(&p, &nodes(&p)), None);
        assert!(!enabled(&p, crate::render::Target::Local));
    }

    #[test]
    fn each_node_keeps_its_state_in_its_own_data_directory() {
        let p = cluster(3, 2);
        let all = nodes(&p);
        let confs: Vec<NodeConf> = all
            .iter()
            .map(|n| {
                let dir = ConfPath::parse(&format!("/b/{}", layout::data_dir(&n.name))).unwrap();
                node_conf(n, &dir).unwrap()
            })
            .collect();
        assert_eq!(confs.len(), 9);
        assert_eq!(
            confs[4].config_file.as_str(),
            "/b/nodes/node-4/data/nodes.conf"
        );
        assert_eq!(confs[4].port, all[4].port + 10_000);
        let files: std::collections::BTreeSet<_> = confs.iter().map(|c| &c.config_file).collect();
        assert_eq!(files.len(), 9, "two nodes share a cluster-config-file");
    }

    #[test]
    fn the_gate_allows_the_admin_exactly_its_rules() {
        let granted: Vec<&str> = ADMIN_RULES
            .split(' ')
            .filter_map(|r| r.strip_prefix('+'))
            .collect();
        assert_eq!(granted, ADMIN_MAY_RUN);
    }
}
