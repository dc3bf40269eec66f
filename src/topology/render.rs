//! The files of a multi-node topology: each data node's `redis.conf` and each Sentinel's
//! `sentinel.conf` (from the same context as the single-server files, with the node's port,
//! certificate, data directory and replication settings), and the Sentinels' ACL file.
//!
//! A node's config is secret (0600): `masterauth` and `sentinel auth-pass` hold passwords,
//! and Redis has no way to read them from elsewhere.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::profile::EnvProfile;
use crate::render::{Input, RenderedFile, Target};
use crate::secrets::{self, Secrets};
use crate::templates::{self, Templates};
use crate::values::{ConfPath, UserName};

use super::{Kind, Node, Role, cluster, layout, users};

/// The Sentinels' own ACL file (default off, the sentinel-to-sentinel user and the app's
/// discovery user), shared by every Sentinel.
pub const SENTINEL_ACL: &str = "sentinel-users.acl";

/// Sentinel timings: 5 s without an answer before a primary is called down (the facts were
/// measured with 2 s on loopback; 5 s rides out a busy network), and 10 s per failover
/// attempt, as measured. An aborted attempt (`-failover-abort-no-good-slave`: the leader
/// picked a replica before that replica's INFO, refreshed only every 10 s until the primary
/// is objectively down, came back fresh) is retried after twice this: 20 s, where 60 s
/// meant two minutes without a primary. Sentinel's election timeout is min(10 s, this).
pub const DOWN_AFTER_MS: u32 = 5000;
pub const FAILOVER_TIMEOUT_MS: u32 = 10_000;

/// What every template sees about the topology (no secret: hashes only).
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// `standalone`, `sentinel` or `cluster`.
    pub kind: Kind,
    /// Sentinel kind: the monitored name, and how many Sentinels must agree.
    pub master_name: String,
    pub quorum: u32,
    /// The topology's users on the data nodes (users.acl): name, hashes and rules.
    pub users: Vec<AclUser>,
    /// The users on the Sentinels (sentinel-users.acl).
    pub sentinel_users: Vec<AclUser>,
    /// The app user's extra rules on the data nodes (a cluster-aware client's commands).
    pub app_extra: String,
    /// Comma-separated host:port of the Sentinels, and of the cluster's nodes (client.env).
    pub sentinels: String,
    pub cluster_nodes: String,
    /// Every node, for scripts and docs.
    pub nodes: Vec<Node>,
    /// Cluster kind: what cluster-create.sh runs.
    pub cluster: Option<cluster::CreateScript>,
}

/// One ACL user line: `user NAME on #HASH... RULES`.
#[derive(Debug, Clone, Serialize)]
pub struct AclUser {
    pub name: String,
    pub hashes: Vec<String>,
    pub rules: String,
}

fn hashes(secrets: &Secrets, user: &UserName) -> Result<Vec<String>, Error> {
    let var = user.password_var();
    let pw = secrets.password(user).ok_or_else(|| Error::State {
        path: crate::render::SECRETS_ENV.into(),
        reason: format!("{var} is missing"),
        help: "run `redis-harden init` to generate it".into(),
    })?;
    Ok(std::iter::once(secrets::acl_hash(pw))
        .chain(secrets.previous(&var).map(secrets::acl_hash))
        .collect())
}

fn name(n: &str) -> UserName {
    UserName::parse(n).expect("valid user name")
}

/// The topology's part of the template context.
pub fn context(input: &Input<'_>) -> Result<Context, Error> {
    let p = input.profile;
    let nodes = if input.target == Target::Docker {
        crate::compose::in_network(p, input.project, input.env)
    } else {
        super::nodes(p)
    };
    let user = |n: &str, rules: &str| -> Result<AclUser, Error> {
        Ok(AclUser {
            name: n.to_owned(),
            hashes: hashes(input.secrets, &name(n))?,
            rules: rules.to_owned(),
        })
    };
    let (data_users, sentinel_users) = match p.topology.kind {
        Kind::Standalone => (vec![], vec![]),
        Kind::Sentinel => (
            vec![
                user(users::REPLICATOR, users::REPLICATOR_RULES)?,
                user(users::SENTINEL, users::SENTINEL_RULES)?,
            ],
            sentinel_side_users(p, &user)?,
        ),
        Kind::Cluster => (
            vec![
                user(users::REPLICATOR, users::REPLICATOR_RULES)?,
                user(users::CLUSTER_ADMIN, users::CLUSTER_ADMIN_RULES)?,
            ],
            vec![],
        ),
    };
    let list = |role: fn(&Node) -> bool| {
        nodes
            .iter()
            .filter(|n| role(n))
            .map(Node::host_port)
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(Context {
        kind: p.topology.kind,
        master_name: super::master_name(p, input.project),
        quorum: super::quorum(p),
        users: data_users,
        sentinel_users,
        app_extra: if p.topology.kind == Kind::Cluster {
            users::CLUSTER_APP_EXTRA.to_owned()
        } else {
            String::new()
        },
        sentinels: list(|n| n.role == Role::Sentinel),
        cluster_nodes: if p.topology.kind == Kind::Cluster {
            list(|n| n.role.is_data())
        } else {
            String::new()
        },
        cluster: cluster::create_script(p, &nodes).map(|script| cluster::CreateScript {
            docker: (input.target == Target::Docker).then(|| in_container(input, &nodes[0])),
            ..script
        }),
        nodes,
    })
}

/// Where a compose bundle's cluster-create.sh runs redis-cli: in `first`'s container, with
/// its certificate as the client certificate.
fn in_container(input: &Input<'_>, first: &Node) -> cluster::InContainer {
    let p = input.profile;
    let dir = base(input);
    cluster::InContainer {
        project_name: crate::compose::project_name(
            input.project,
            input.env,
            std::path::Path::new(input.out_dir.as_str()),
        ),
        compose_file: crate::compose::COMPOSE_FILE,
        service: first.name.clone(),
        cli: p.server_facts().cli_program,
        ca_cert: dir.join(crate::pki::CA_CERT).to_string(),
        cert: dir.join(&layout::cert(&first.name)).to_string(),
        key: dir.join(&layout::key(&first.name)).to_string(),
    }
}

/// The users on the Sentinels: the peer user, the app's discovery user (plus CLIENT SETINFO
/// where the server has it: redis-py sends it on every connection, and a refusal fills ACL
/// LOG) and, when the profile enables it, the admin (ACL LOG, ACL LOAD after a password
/// rotation, SENTINEL CKQUORUM during a rolling restart).
fn sentinel_side_users(
    p: &EnvProfile,
    user: &dyn Fn(&str, &str) -> Result<AclUser, Error>,
) -> Result<Vec<AclUser>, Error> {
    let facts = p.server_facts();
    let setinfo = facts.engine != crate::profile::Engine::Redis
        || facts.version >= crate::server::ServerVersion::new(7, 2);
    let app_rules = if setinfo {
        format!(
            "{} {}",
            users::SENTINEL_APP_RULES,
            users::SENTINEL_APP_SETINFO
        )
    } else {
        users::SENTINEL_APP_RULES.to_owned()
    };
    let mut out = vec![
        user(users::SENTINEL_PEER, users::SENTINEL_PEER_RULES)?,
        user("app", &app_rules)?,
    ];
    if p.acl.admin.enabled {
        out.push(user("admin", "~* &* +@all")?);
    }
    Ok(out)
}

/// Where a node's server finds the bundle: the output directory (local) or the server's
/// config directory (host), with the bundle's tree below it.
fn base(input: &Input<'_>) -> ConfPath {
    crate::render::server_base(input.profile, input.target).unwrap_or_else(|| input.out_dir.clone())
}

/// A node's data directory as its config names it.
fn data_dir(p: &EnvProfile, input: &Input<'_>, node: &Node) -> ConfPath {
    match input.target {
        Target::Host => ConfPath::parse(p.server_facts().host_layout.data_dir)
            .expect("valid")
            .join(&node.name),
        // Each container has its own data volume.
        Target::Docker => ConfPath::parse("/data").expect("valid"),
        _ => input.out_dir.join(&layout::data_dir(&node.name)),
    }
}

/// `/var/log/redis/redis-server.log` -> `/var/log/redis/redis-server-NAME.log`.
fn per_node(path: &str, name: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{name}.{ext}"),
        None => format!("{path}-{name}"),
    }
}

/// The addresses a node listens on: the profile's for nodes on this machine, the node's own
/// address (and loopback, for local probes) for a node the profile places.
fn bind(p: &EnvProfile, input: &Input<'_>, node: &Node) -> Vec<String> {
    if p.topology.nodes.is_empty() {
        return crate::target::server_bind(p, input.target)
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let mut out = vec![node.ip.to_string()];
    if !node.ip.is_loopback() {
        out.push("-127.0.0.1".into());
    }
    out
}

/// `replicaof` and Sentinel's monitor take an address: servers never check peer names.
fn addr_args(node: &Node) -> String {
    format!("{} {}", node.ip, node.port)
}

/// Every node's config file, rendered from `ctx` (the single-server context as JSON).
pub fn files(
    templates: &Templates,
    input: &Input<'_>,
    ctx: &Value,
    topo: &Context,
) -> Result<Vec<(String, RenderedFile)>, Error> {
    let p = input.profile;
    if topo.kind == Kind::Standalone {
        return Ok(vec![]);
    }
    // One config per kind of pod, with the pods' paths: k8s/ carries it in a Secret.
    if input.target == Target::Kubernetes {
        let password = |user: &str| password(input, user);
        return crate::kubernetes::topo::pod_configs(templates, input, ctx, topo, &password);
    }
    let base = base(input);
    let replicator_pw = password(input, users::REPLICATOR)?;
    let primary = topo.nodes.iter().find(|n| n.role == Role::Primary);
    let mut out = vec![];
    for node in &topo.nodes {
        let mut v = ctx.clone();
        set_node_paths(&mut v, input, &base, node);
        let replica_of = node
            .replica_of
            .as_ref()
            .filter(|_| topo.kind == Kind::Sentinel)
            .and_then(|name| topo.nodes.iter().find(|n| &n.name == name));
        let (template, sentinel) = if node.role == Role::Sentinel {
            let primary = primary.expect("a sentinel topology has a primary");
            v["paths"]["aclfile"] = json!(base.join(SENTINEL_ACL));
            let sentinel = sentinel_settings(input, topo, primary)?;
            (templates::SENTINEL_CONF, Some(sentinel))
        } else {
            (templates::REDIS_CONF, None)
        };
        v["node"] = json!({
            "name": node.name,
            "role": node.role,
            "replicaof": replica_of.map(addr_args),
            "masteruser": users::REPLICATOR,
            "masterauth": replicator_pw,
            "cluster": cluster::node_conf(node, &data_dir(p, input, node)),
            "sentinel": sentinel,
        });
        let content = templates.render(template, &tera_context(&v)?)?;
        out.push((
            layout::conf(node),
            RenderedFile {
                content,
                mode: 0o600,
                secret: true,
            },
        ));
        // In a container the node's own network namespace has no host firewall to load.
        if !input.target.is_container() {
            out.push((
                layout::nftables(&node.name),
                firewall(templates, input, ctx, topo, node)?,
            ));
        }
        if crate::systemd::nodes_enabled(p, input.target) {
            out.push((
                layout::systemd_dropin(&node.name),
                systemd_dropin(templates, input, ctx, &base, node)?,
            ));
        }
    }
    Ok(out)
}

/// `nodes/NAME/systemd/redis-harden.conf`: the node's drop-in for Debian's template unit
/// ([`crate::systemd::node_context`]). A public file: its template sees no secret.
fn systemd_dropin(
    templates: &Templates,
    input: &Input<'_>,
    ctx: &Value,
    base: &ConfPath,
    node: &Node,
) -> Result<RenderedFile, Error> {
    let p = input.profile;
    let mut v = ctx.clone();
    if let Some(map) = v.as_object_mut() {
        for secret in ["client", "server_env", "exporter", "users", "topology"] {
            map.remove(secret);
        }
    }
    set_node_paths(&mut v, input, base, node);
    let conf = base.join(&layout::conf(node));
    v["systemd"] = json!(crate::systemd::node_context(
        p,
        node,
        &conf.to_string(),
        &data_dir(p, input, node).to_string(),
    ));
    public_file(templates, input, templates::SYSTEMD_DROPIN, &v)
}

/// A topology user's password from the bundle's secrets.
fn password(input: &Input<'_>, user: &str) -> Result<String, Error> {
    let u = name(user);
    input
        .secrets
        .password(&u)
        .map(str::to_owned)
        .ok_or_else(|| Error::State {
            path: crate::render::SECRETS_ENV.into(),
            reason: format!("{} is missing", u.password_var()),
            help: "run `redis-harden init` to generate it".into(),
        })
}

/// The node's own port, addresses, certificate, data directory (and, on a host, log and pid
/// file) in the single-server context `v`.
fn set_node_paths(v: &mut Value, input: &Input<'_>, base: &ConfPath, node: &Node) {
    let p = input.profile;
    v["redis"]["port"] = json!(node.port);
    v["redis"]["bind"] = json!(bind(p, input, node));
    v["paths"]["tls_cert_file"] = json!(base.join(&layout::cert(&node.name)));
    v["paths"]["tls_key_file"] = json!(base.join(&layout::key(&node.name)));
    v["paths"]["dir"] = json!(data_dir(p, input, node));
    if input.target == Target::Host {
        let host = p.server_facts().host_layout;
        v["paths"]["logfile"] = json!(per_node(host.logfile, &node.name));
        // In the runtime directory of the node's systemd unit (Debian's template unit).
        v["paths"]["pidfile"] = json!(crate::systemd::node_pid_file(p, node));
    }
}

/// What a Sentinel's config says about the primary it monitors and the users it logs in as.
fn sentinel_settings(input: &Input<'_>, topo: &Context, primary: &Node) -> Result<Value, Error> {
    Ok(json!({
        "monitor": format!("{} {} {}", topo.master_name, addr_args(primary), topo.quorum),
        "master_name": topo.master_name,
        "auth_user": users::SENTINEL,
        "auth_pass": password(input, users::SENTINEL)?,
        "peer_user": users::SENTINEL_PEER,
        "peer_pass": password(input, users::SENTINEL_PEER)?,
        "down_after_ms": DOWN_AFTER_MS,
        "failover_timeout_ms": FAILOVER_TIMEOUT_MS,
    }))
}

/// `nodes/NAME/nftables.nft`: the node's port from firewall.app_cidrs (and monitoring's, for
/// a data node), its port and bus port from the topology's own addresses, the rest dropped.
/// A public file: its template sees no secret.
fn firewall(
    templates: &Templates,
    input: &Input<'_>,
    ctx: &Value,
    topo: &Context,
    node: &Node,
) -> Result<RenderedFile, Error> {
    let mut peers: Vec<std::net::IpAddr> = topo.nodes.iter().map(|n| n.ip).collect();
    peers.sort();
    peers.dedup();
    let family = |v6: bool| -> Vec<String> {
        peers
            .iter()
            .filter(|ip| ip.is_ipv6() == v6)
            .map(ToString::to_string)
            .collect()
    };
    let ports_set = |ports: &[u16]| match ports {
        [one] => one.to_string(),
        many => format!(
            "{{ {} }}",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut peer_ports = vec![node.port];
    peer_ports.extend(node.bus_port);
    let mut all_ports = peer_ports.clone();
    if node.role.is_data() {
        all_ports.push(input.profile.firewall.exporter_port.get());
    }
    let v = json!({
        "project": ctx["project"],
        "environment": ctx["environment"],
        "firewall": ctx["firewall"],
        "table": table_name(input.env, &node.name),
        "node": {
            "name": node.name,
            "role": node.role,
            "port": node.port,
            "bus_port": node.bus_port,
        },
        "peers_v4": family(false),
        "peers_v6": family(true),
        "peer_ports": ports_set(&peer_ports),
        "all_ports": ports_set(&all_ports),
    });
    public_file(templates, input, templates::NODE_NFTABLES, &v)
}

/// The node's nftables table: one per node and environment (nodes may share a host).
pub fn table_name(env: crate::profile::Environment, node: &str) -> String {
    format!("redis_harden_{}_{}", env.name(), node.replace('-', "_"))
}

/// The per-node template context, from the JSON the node's values were put into.
fn tera_context(v: &Value) -> Result<tera::Context, Error> {
    tera::Context::from_serialize(v).map_err(|e| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    })
}

/// A node file others may read (0644): rendered, and refused if a secret value got into it.
fn public_file(
    templates: &Templates,
    input: &Input<'_>,
    template: &'static str,
    v: &Value,
) -> Result<RenderedFile, Error> {
    let content = templates.render(template, &tera_context(v)?)?;
    if input
        .secrets
        .values()
        .any(|s| s.len() >= 8 && content.contains(s))
    {
        return Err(Error::Template {
            name: template.into(),
            report: "puts a secret into a file others may read".into(),
        });
    }
    Ok(RenderedFile {
        content,
        mode: 0o644,
        secret: false,
    })
}
