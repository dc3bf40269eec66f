//! What `init` prints as the next steps of a multi-node bundle: the start order.

use std::path::Path;

use crate::profile::EnvProfile;
use crate::target::Target;

use super::{Kind, Node, Role, layout};

/// The numbered start order, or None for standalone. `openssl` is the `OPENSSL_CONF=... `
/// prefix of a TLS bundle; `compose_up` the command line that starts a compose bundle.
pub fn next_steps(
    p: &EnvProfile,
    target: Target,
    shown: &Path,
    openssl: &str,
    compose_up: &str,
) -> Option<String> {
    let kind = p.topology.kind;
    if kind == Kind::Standalone {
        return None;
    }
    let nodes = super::nodes(p);
    let mut steps = match target {
        Target::Local => local_steps(p, &nodes, shown, openssl),
        // Compose starts every node at once: no order is needed, since each node has a fixed
        // address (a Sentinel or a replica waits for its primary by itself).
        Target::Docker => vec![format!(
            "hand the nodes' configs, keys and ACL files{} to the containers' user, and start \
             every node: `{compose_up}`; after a later change, run the chown again and \
             recreate one node at a time (`... up -d --no-deps --force-recreate --wait NODE`, \
             as `rotate` prints it): a running container keeps reading the files it mounted",
            if kind == Kind::Sentinel {
                " (and each Sentinel's directory: it rewrites its config there)"
            } else {
                ""
            }
        )],
        _ => host_steps(p, &nodes),
    };
    if kind == Kind::Cluster {
        steps.push(format!(
            "once every node runs, form the cluster (once): {}",
            shown.join(layout::CLUSTER_CREATE).display()
        ));
        steps.push(
            "point the app at client.env: a cluster-aware client starts from REDIS_CLUSTER_NODES"
                .into(),
        );
    } else {
        steps.push(
            "point the app at client.env: a Sentinel-aware client reads REDIS_SENTINELS and \
             REDIS_SENTINEL_MASTER, and logs in to the Sentinels with REDIS_URL's user and \
             password"
                .into(),
        );
    }
    Some(
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("\n  {}. {s}", i + 1))
            .collect(),
    )
}

/// The names of the nodes whose role passes `role`, in order.
fn names(nodes: &[Node], role: fn(Role) -> bool) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| role(n.role))
        .map(|n| n.name.clone())
        .collect()
}

/// `a`, or `a .. z` for a longer list.
fn first_last(list: &[String]) -> String {
    match list {
        [one] => one.clone(),
        [first, .., last] => format!("{first} .. {last}"),
        [] => String::new(),
    }
}

/// Starting every node on this machine, from the bundle's own files.
fn local_steps(p: &EnvProfile, nodes: &[Node], shown: &Path, openssl: &str) -> Vec<String> {
    let kind = p.topology.kind;
    let program = p.server_facts().server_program;
    let conf = |name: &str, file: &str| {
        shown
            .join(layout::node_dir(name))
            .join(file)
            .display()
            .to_string()
    };
    let data = names(nodes, Role::is_data);
    let mut steps = vec![format!(
        "start the data nodes ({}), each in its own process: `(umask 077; {openssl}{program} {})`{}",
        first_last(&data),
        conf(&data[0], layout::NODE_REDIS_CONF),
        if kind == Kind::Sentinel {
            format!(" and so on; {} (the primary) first", data[0])
        } else {
            " and so on".into()
        }
    )];
    if kind == Kind::Sentinel {
        let sentinels = names(nodes, |r| r == Role::Sentinel);
        steps.push(format!(
            "then the Sentinels ({}), under umask 077 (each rewrites its sentinel.conf, \
             which holds passwords): `(umask 077; {openssl}{program} {} --sentinel)` and so on",
            first_last(&sentinels),
            conf(&sentinels[0], layout::NODE_SENTINEL_CONF),
        ));
    }
    steps
}

/// Installing each node's files on its own host and starting it under systemd.
fn host_steps(p: &EnvProfile, nodes: &[Node]) -> Vec<String> {
    let kind = p.topology.kind;
    let program = p.server_facts().server_program;
    let dir = p.server_facts().host_layout.config_dir;
    let mut steps = vec![
        format!(
            "on each node's host, install into {dir}/: tls/ca.crt, users.acl{acl}, openssl.cnf \
             and that node's nodes/NAME/ directory (owner {user}; the directory writable by \
             it, for a Sentinel's rewrites), and create its data directory {data}/NAME (owner \
             {user}, mode 0700)",
            data = p.server_facts().host_layout.data_dir,
            acl = if kind == Kind::Sentinel {
                ", sentinel-users.acl"
            } else {
                ""
            },
            user = p.server_facts().host_layout.user,
        ),
        format!(
            "install each node's nodes/NAME/systemd/redis-harden.conf as \
             /etc/systemd/system/{server}@NAME.service.d/redis-harden.conf{sentinel} (Debian's \
             template units, pointed at the node's config, UMask=0077), then \
             `systemctl daemon-reload`",
            server = p.server_facts().host_layout.service,
            sentinel = if kind == Kind::Sentinel {
                format!(
                    " ({}@NAME for a Sentinel)",
                    p.server_facts()
                        .host_layout
                        .service
                        .replace("-server", "-sentinel")
                )
            } else {
                String::new()
            },
        ),
        format!(
            "start the data nodes ({}) with `systemctl start {}@NAME` ({program} {dir}/nodes/NAME/redis.conf){}",
            first_last(&names(nodes, Role::is_data)),
            p.server_facts().host_layout.service,
            if kind == Kind::Sentinel {
                format!(", {} (the primary) first", nodes[0].name)
            } else {
                String::new()
            }
        ),
    ];
    if kind == Kind::Sentinel {
        steps.push(format!(
            "then the Sentinels ({}) with `systemctl start {}@NAME` ({program} \
             {dir}/nodes/NAME/sentinel.conf --sentinel)",
            first_last(&names(nodes, |r| r == Role::Sentinel)),
            p.server_facts()
                .host_layout
                .service
                .replace("-server", "-sentinel"),
        ));
    }
    steps
}
