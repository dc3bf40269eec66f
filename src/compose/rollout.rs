//! How a rotation reaches the containers of a `--target docker` bundle.
//!
//! Compose bind-mounts single files, and a bind mount keeps the inode it was made with.
//! redis-harden replaces a file by renaming a new one over it (one transaction per command),
//! so a running container goes on reading the old content: `ACL LOAD` or `CONFIG SET
//! tls-cert-file ...` inside it would re-read the old file and answer OK. Only a new
//! container mounts the new files. So every rotation recreates the containers
//! (`up --force-recreate --wait`: the data volumes stay, and Compose waits for the
//! healthcheck), after handing the replaced files back to the containers' user: a new file
//! belongs to whoever ran redis-harden.
//!
//! A topology is recreated one node at a time, data nodes before Sentinels, highest index
//! first (as a Kubernetes StatefulSet does), each healthy before the next; with the admin
//! user, each Sentinel's own `SENTINEL CKQUORUM` must print OK before the next step.

use std::path::Path;

use crate::profile::{EnvProfile, Environment};
use crate::topology::rollout::{Change, Step};
use crate::topology::{Kind, Node, Role, users};
use crate::values::ProjectName;

/// Why a container is recreated, not reloaded.
const RECREATE: &str = "Compose bind-mounts single files and a running container keeps reading a replaced file's old content, so only a recreated container reads the new files (its data volume stays)";

/// The bundle as the rollout needs it.
pub struct Bundle<'a> {
    pub profile: &'a EnvProfile,
    pub project: &'a ProjectName,
    pub env: Environment,
    /// The bundle directory as the operator named it (`--out`).
    pub shown: &'a Path,
    /// The name the Sentinels monitor the primary under.
    pub master: &'a str,
    /// The secrets.env variable with the admin password the servers accept now.
    pub admin_var: &'a str,
}

/// The steps that bring `change` to the running containers.
pub fn plan(b: &Bundle<'_>, change: &Change) -> Vec<Step> {
    let p = b.profile;
    let compose = super::compose_command(b.project, b.env, b.shown);
    let mut steps = vec![Step {
        node: "files".into(),
        address: b.shown.display().to_string(),
        action: "apply",
        commands: vec![super::chown_command(p, b.shown)],
        wait_for_ok: None,
        why: "a file redis-harden replaced belongs to whoever ran it: give the containers' user its files back".into(),
    }];
    if p.topology.kind == Kind::Standalone {
        steps.push(Step {
            node: super::service_name(p).into(),
            address: format!("compose project {}", compose.project),
            action: "restart",
            commands: vec![format!("{} up -d --force-recreate --wait", compose.prefix)],
            wait_for_ok: None,
            why: format!("{RECREATE}; the server is down while its container is recreated"),
        });
        return steps;
    }
    let nodes = super::in_network(p, b.project, b.env);
    let data_why = data_why(p, change);
    let recreate = |node: &Node, why: String| Step {
        node: node.name.clone(),
        address: format!("{}:{}", node.name, node.port),
        action: "restart",
        commands: vec![format!(
            "{} up -d --no-deps --force-recreate --wait {}",
            compose.prefix, node.name
        )],
        wait_for_ok: None,
        why,
    };
    for node in nodes.iter().filter(|n| n.role.is_data()).rev() {
        steps.push(recreate(node, data_why.clone()));
    }
    let sentinel_why = format!(
        "{RECREATE}; one Sentinel at a time, so a quorum stays up; it starts from the bundle's sentinel.conf and learns the current primary from the node it names"
    );
    for node in nodes.iter().filter(|n| n.role == Role::Sentinel).rev() {
        steps.push(Step {
            // The quorum of Sentinels it can reach, as it counts them itself.
            wait_for_ok: p.acl.admin.enabled.then(|| {
                let cli = super::node_cli(p, node, "admin");
                format!(
                    "printf '%s' \"${var}\" | {prefix} exec -T {name} sh -c 'REDISCLI_AUTH=\"$(cat)\" {cli} --no-auth-warning SENTINEL CKQUORUM {master}'",
                    var = b.admin_var,
                    prefix = compose.prefix,
                    name = node.name,
                    master = b.master,
                )
            }),
            ..recreate(node, sentinel_why.clone())
        });
    }
    steps
}

/// Why (and with what effect) the data nodes are recreated.
fn data_why(p: &EnvProfile, change: &Change) -> String {
    let failover = match p.topology.kind {
        Kind::Sentinel => "; recreating the primary makes Sentinel fail over to a replica",
        _ => "; recreating a shard's primary makes the cluster fail over to its replica",
    };
    let replicator = matches!(change, Change::Passwords { users: u, finish: false }
        if u.iter().any(|u| u == users::REPLICATOR));
    let pause = if replicator {
        "; a replica recreated before its primary logs in with the new replicator password, which the primary accepts only once it is recreated too: replication pauses until the last data node is recreated"
    } else {
        ""
    };
    format!("{RECREATE}; one node at a time, each healthy before the next{failover}{pause}")
}
