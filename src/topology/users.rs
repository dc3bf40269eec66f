//! The users a topology adds, each with its own password in `secrets.env` and exactly the
//! rules measured on real servers (../shared/reference/topology-facts.md): found by removing
//! one rule at a time and watching `ACL LOG`.

use crate::profile::EnvProfile;
use crate::values::UserName;

use super::Kind;

/// `masteruser` of every data node: a former primary rejoins as a replica.
pub const REPLICATOR: &str = "replicator";
/// How the Sentinels log in to the data nodes.
pub const SENTINEL: &str = "sentinel";
/// How the Sentinels log in to each other.
pub const SENTINEL_PEER: &str = "sentinel-peer";
/// Who forms the cluster (`cluster-create.sh`).
pub const CLUSTER_ADMIN: &str = "cluster-admin";

/// Every name a topology may use: extra users may not take them.
pub const RESERVED: [&str; 4] = [REPLICATOR, SENTINEL, SENTINEL_PEER, CLUSTER_ADMIN];

/// Rules of the replication user: without `+psync` replication never starts; without
/// `+replconf` the link flaps about once a second. `+ping` is harmless.
pub const REPLICATOR_RULES: &str = "resetkeys resetchannels -@all +psync +replconf +ping";

/// Rules of Sentinel's user on the data nodes: discovery (`+info`, `+publish`, `+subscribe`,
/// the hello channel) and failover (`+slaveof`/`+replicaof`, `+multi`/`+exec`,
/// `+config|rewrite`, `+client|kill`); `+script|kill` ends a busy script.
pub const SENTINEL_RULES: &str = "resetkeys resetchannels -@all +ping +info +publish +subscribe \
     +multi +exec +slaveof +replicaof +config|rewrite +client|kill +client|setname +script|kill \
     &__sentinel__:hello";

/// Rules of the Sentinels' user on each other (`sentinel sentinel-user`).
pub const SENTINEL_PEER_RULES: &str = "resetkeys resetchannels -@all +ping +publish \
     +sentinel|is-master-down-by-addr +client|setname &__sentinel__:hello";

/// The app user on the Sentinels: only what a Sentinel-aware client asks (redis-py uses
/// `SENTINEL SLAVES`, newer clients `SENTINEL REPLICAS`).
pub const SENTINEL_APP_RULES: &str = "resetkeys resetchannels -@all +ping +sentinel|masters \
     +sentinel|slaves +sentinel|replicas +sentinel|get-master-addr-by-name +sentinel|sentinels";

/// Added to the app user on the Sentinels of servers that have CLIENT SETINFO (Redis 7.2+,
/// Valkey): redis-py 5 sends `CLIENT SETINFO LIB-NAME/LIB-VER` on connect and ignores a
/// refusal, but the refusal lands in ACL LOG (seen on Valkey 8.1).
pub const SENTINEL_APP_SETINFO: &str = "+client|setinfo";

/// Rules of the cluster-creation user (`redis-cli --cluster create`).
pub const CLUSTER_ADMIN_RULES: &str = super::cluster::ADMIN_RULES;

/// What a cluster-aware client needs on top of the app user's data commands.
pub const CLUSTER_APP_EXTRA: &str = super::cluster::APP_EXTRA;

/// Forbidden-table commands each topology user may run, for the policy gate: nothing else
/// from the dangerous, admin or scripting categories.
pub fn may_run(user: &str) -> Option<&'static [&'static str]> {
    match user {
        REPLICATOR => Some(&["psync", "replconf", "sync"]),
        SENTINEL => Some(&[
            "info",
            "slaveof",
            "replicaof",
            "config|rewrite",
            "client|kill",
            "client|setname",
            "script|kill",
        ]),
        SENTINEL_PEER => Some(&["client|setname"]),
        CLUSTER_ADMIN => Some(super::cluster::ADMIN_MAY_RUN),
        _ => None,
    }
}

/// The users a profile's topology adds, in the order their passwords are generated.
pub fn names(p: &EnvProfile) -> Vec<UserName> {
    let names: &[&str] = match p.topology.kind {
        Kind::Standalone => &[],
        Kind::Sentinel => &[REPLICATOR, SENTINEL, SENTINEL_PEER],
        Kind::Cluster => &[REPLICATOR, CLUSTER_ADMIN],
    };
    names
        .iter()
        .map(|n| UserName::parse(n).expect("topology user names are valid"))
        .collect()
}
