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
    let sentinels: Vec<&Node> = nodes.iter().filter(|n| n.role == Role::Sentinel).collect();
    let admin = p.acl.admin.enabled;
    // With a new sentinel-peer password a recreated Sentinel cannot log in to those not yet
    // recreated: its quorum comes back only once every ACL file accepts it.
    let peer = change.rotates(users::SENTINEL_PEER);
    let own = peer || change.rotates(users::SENTINEL);
    let quorum = |node: &Node| {
        admin.then(|| {
            admin_exec(
                b,
                &compose.prefix,
                node,
                &format!("SENTINEL CKQUORUM {}", b.master),
            )
        })
    };
    let mut sentinel_why = format!(
        "{RECREATE}; one Sentinel at a time, so a quorum stays up; it starts from the bundle's sentinel.conf and learns the current primary from the node it names"
    );
    if peer {
        sentinel_why.push_str("; until the last Sentinel is recreated, a recreated one cannot log in to those not yet recreated (sentinel-peer), so failover votes may fail during the rollout");
    }
    if own && !admin {
        sentinel_why.push_str("; without the admin user nothing sets the new auth-pass and sentinel-pass at run time: a Sentinel that rewrote its sentinel.conf before it was recreated (a failover makes it) is back on the old ones (enable acl.admin.enabled)");
    }
    for node in sentinels.iter().rev() {
        steps.push(Step {
            // The quorum of Sentinels it can reach, as it counts them itself.
            wait_for_ok: if peer { None } else { quorum(node) },
            ..recreate(node, sentinel_why.clone())
        });
    }
    // A running Sentinel rewrites its sentinel.conf from memory (a failover does): the new
    // passwords rotate wrote there may be gone by now. Set at run time, Sentinel saves them.
    if admin && own {
        for node in sentinels.iter().rev() {
            let mut commands = vec![];
            if change.rotates(users::SENTINEL) {
                commands.push(set_secret(
                    b,
                    &compose.prefix,
                    node,
                    "REDIS_PASSWORD_SENTINEL",
                    &format!("SENTINEL SET {} auth-pass", b.master),
                ));
            }
            if peer {
                commands.push(set_secret(
                    b,
                    &compose.prefix,
                    node,
                    "REDIS_PASSWORD_SENTINEL_PEER",
                    "SENTINEL CONFIG SET sentinel-pass",
                ));
            }
            steps.push(Step {
                node: node.name.clone(),
                address: format!("{}:{}", node.name, node.port),
                action: "reload",
                commands,
                wait_for_ok: quorum(node),
                why: "logs in with the new passwords from now on and saves them in its sentinel.conf, whatever a rewrite since rotate left there".into(),
            });
        }
    }
    steps
}

/// `command` run in `node`'s container as admin, the password on stdin.
fn admin_exec(b: &Bundle<'_>, prefix: &str, node: &Node, command: &str) -> String {
    let cli = super::node_cli(b.profile, node, "admin");
    format!(
        "printf '%s' \"${var}\" | {prefix} exec -T {name} sh -c 'REDISCLI_AUTH=\"$(cat)\" {cli} --no-auth-warning {command}'",
        var = b.admin_var,
        name = node.name,
    )
}

/// `command` run in `node`'s container as admin, with the value of `var` as its last
/// argument: both passwords on stdin, the admin's first line, the value read by `-x`, so
/// neither appears in a process's arguments.
fn set_secret(b: &Bundle<'_>, prefix: &str, node: &Node, var: &str, command: &str) -> String {
    let cli = super::node_cli(b.profile, node, "admin");
    format!(
        "printf '%s\\n%s' \"${admin}\" \"${var}\" | {prefix} exec -T {name} sh -c 'read -r REDISCLI_AUTH && export REDISCLI_AUTH && exec {cli} --no-auth-warning -x {command}'",
        admin = b.admin_var,
        name = node.name,
    )
}

/// Why (and with what effect) the data nodes are recreated.
fn data_why(p: &EnvProfile, change: &Change) -> String {
    let failover = match p.topology.kind {
        Kind::Sentinel => "; recreating the primary makes Sentinel fail over to a replica",
        _ => "; recreating a shard's primary makes the cluster fail over to its replica",
    };
    let pause = if change.rotates(users::REPLICATOR) {
        "; a replica recreated before its primary logs in with the new replicator password, which the primary accepts only once it is recreated too: replication pauses until the last data node is recreated"
    } else {
        ""
    };
    format!("{RECREATE}; one node at a time, each healthy before the next{failover}{pause}")
}
