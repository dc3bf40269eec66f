//! Topologies: one server (standalone), a primary with replicas watched by Sentinels, or a
//! Redis Cluster. This module owns the profile's `topology:` section once it is parsed: the
//! checks across its values ([`validate`]), the nodes it describes ([`nodes`]) and where each
//! node's files live in the bundle ([`layout`]).
//!
//! Standalone bundles keep the single-server layout; every other kind has one directory per
//! node under `nodes/`.

pub mod certs;
pub mod cluster;
pub mod layout;
pub mod render;
pub mod rollout;
pub mod sentinel;
pub mod steps;
pub mod users;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::profile::{Engine, EnvProfile, Violation};
use crate::values::{Hostname, Port, ProjectName, UserName};

/// The most nodes one bundle may describe: far above any real deployment, low enough that a
/// typo (`shards: 5000`) is caught before thousands of keys are generated.
pub const MAX_NODES: usize = 1000;

/// Redis's cluster bus listens on the data port plus this, unless `cluster-port` says otherwise.
pub const BUS_PORT_OFFSET: u16 = 10_000;

/// Which distributed engine the deployment uses.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One server: the single-server layout.
    #[default]
    Standalone,
    /// A primary, its replicas and Sentinels that fail over between them.
    Sentinel,
    /// Redis Cluster: `shards` primaries, each with `replicas_per_shard` replicas.
    Cluster,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Standalone => "standalone",
            Kind::Sentinel => "sentinel",
            Kind::Cluster => "cluster",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The profile's `topology:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopologySettings {
    /// `standalone` (one server), `sentinel` (a primary, replicas and Sentinels) or `cluster`.
    pub kind: Kind,
    /// Sentinel kind: replicas of the primary, at least 1.
    pub replicas: u32,
    /// Sentinel kind: how many Sentinels, at least 3 (odd is best); the quorum is a majority.
    pub sentinels: u32,
    /// Cluster kind: primaries, at least 3; the 16384 slots are split evenly among them.
    pub shards: u32,
    /// Cluster kind: replicas of each primary.
    pub replicas_per_shard: u32,
    /// The first Sentinel's port; the others follow consecutively.
    pub sentinel_port: Port,
    /// Sentinel kind: the name the Sentinels monitor the primary under (clients ask for it);
    /// the project name unless set.
    #[serde(default)]
    pub master_name: Option<UserName>,
    /// Explicit nodes, in the order the derived ones would have (data nodes first, then
    /// Sentinels; for a cluster the first `shards` are the primaries). Empty: every node runs
    /// on this machine, on consecutive ports.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
}

impl Default for TopologySettings {
    fn default() -> Self {
        TopologySettings {
            kind: Kind::Standalone,
            replicas: 2,
            sentinels: 3,
            shards: 3,
            replicas_per_shard: 1,
            sentinel_port: Port::new(26379).expect("valid port"),
            master_name: None,
            nodes: vec![],
        }
    }
}

/// One node as the profile names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name: one DNS label; its directory is `nodes/NAME/`.
    pub name: Hostname,
    /// The DNS name clients and peers use for it (in its certificate); none: clients dial
    /// its IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Hostname>,
    /// The address it listens on and peers reach it at.
    pub ip: IpAddr,
    /// Its data port (a Sentinel's: its Sentinel port).
    pub port: Port,
    /// Cluster only: its bus port; the data port + 10000 unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_port: Option<Port>,
}

/// What a node does. Cluster nodes start as Primary or Replica; failovers change that later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Replica,
    Sentinel,
}

impl Role {
    /// Whether the node stores data (runs `redis-server redis.conf`).
    pub fn is_data(self) -> bool {
        self != Role::Sentinel
    }
}

/// One server of a topology, fully derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// `data-0`, `sentinel-1`, `node-4`, or the profile's name for it.
    pub name: String,
    pub role: Role,
    /// The node's DNS name (in its certificate): its own, else (derived nodes) the profile's
    /// first `tls.hostnames`, else `localhost`.
    pub host: Hostname,
    /// What clients dial: the host name, or the IP address of a node the profile places
    /// without a `host` (IPv6 in brackets).
    pub dial: String,
    pub ip: IpAddr,
    /// The data port (TLS port), or the Sentinel port.
    pub port: u16,
    /// Cluster only.
    pub bus_port: Option<u16>,
    /// Cluster only: the index of the shard (0..shards) the node starts in.
    pub shard: Option<usize>,
    /// Cluster and sentinel kinds: the node's primary at start (replicas only).
    pub replica_of: Option<String>,
}

impl Node {
    /// `host:port` as clients dial it.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.dial, self.port)
    }
    /// `ip:port`; IPv6 in brackets.
    pub fn addr(&self) -> String {
        match self.ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.port),
        }
    }
}

/// The topology's kind.
pub fn kind(p: &EnvProfile) -> Kind {
    p.topology.kind
}

/// The name Sentinels monitor the primary under.
pub fn master_name(p: &EnvProfile, project: &ProjectName) -> String {
    match &p.topology.master_name {
        Some(name) => name.as_str().to_owned(),
        None => project.as_str().to_owned(),
    }
}

/// How many Sentinels must agree the primary is down: a majority of them.
pub fn quorum(p: &EnvProfile) -> u32 {
    p.topology.sentinels / 2 + 1
}

/// How many nodes the kind has: (data nodes, Sentinels).
fn counts(t: &TopologySettings) -> (usize, usize) {
    match t.kind {
        Kind::Standalone => (0, 0),
        Kind::Sentinel => (1 + t.replicas as usize, t.sentinels as usize),
        Kind::Cluster => (t.shards as usize * (1 + t.replicas_per_shard as usize), 0),
    }
}

/// Every node of the topology, data nodes first; empty for standalone. Call on a validated
/// profile (ports then fit in a u16).
pub fn nodes(p: &EnvProfile) -> Vec<Node> {
    let t = &p.topology;
    let (data, sentinels) = counts(t);
    let host = p.tls.hostnames.first().cloned().unwrap_or_else(localhost);
    let ip = p
        .tls
        .ips
        .first()
        .copied()
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut out: Vec<Node> = (0..data + sentinels)
        .map(|i| {
            let (name, role, shard) = slot(t, i, data);
            match t.nodes.get(i) {
                Some(spec) => placed(t.kind, spec, role, shard),
                None => {
                    let port = if role == Role::Sentinel {
                        u32::from(t.sentinel_port.get()) + (i - data) as u32
                    } else {
                        u32::from(p.redis.port.get()) + i as u32
                    };
                    let port = u16::try_from(port).unwrap_or(u16::MAX);
                    Node {
                        name,
                        role,
                        host: host.clone(),
                        dial: host.to_string(),
                        ip,
                        port,
                        bus_port: (t.kind == Kind::Cluster)
                            .then(|| port.saturating_add(BUS_PORT_OFFSET)),
                        shard,
                        replica_of: None,
                    }
                }
            }
        })
        .collect();
    // Replicas start following their shard's primary (sentinel kind: the one primary).
    let primaries: Vec<(Option<usize>, String)> = out
        .iter()
        .filter(|n| n.role == Role::Primary)
        .map(|n| (n.shard, n.name.clone()))
        .collect();
    for n in out.iter_mut().filter(|n| n.role == Role::Replica) {
        n.replica_of = primaries
            .iter()
            .find(|(shard, _)| *shard == n.shard)
            .map(|(_, name)| name.clone());
    }
    out
}

fn localhost() -> Hostname {
    Hostname::parse("localhost").expect("valid")
}

/// The derived name, role and shard of the `i`th node (`data` data nodes come first).
fn slot(t: &TopologySettings, i: usize, data: usize) -> (String, Role, Option<usize>) {
    let shards = t.shards as usize;
    match t.kind {
        Kind::Standalone => unreachable!("standalone has no nodes"),
        Kind::Sentinel if i == 0 => ("data-0".to_owned(), Role::Primary, None),
        Kind::Sentinel if i < data => (format!("data-{i}"), Role::Replica, None),
        Kind::Sentinel => (format!("sentinel-{}", i - data), Role::Sentinel, None),
        // `redis-cli --cluster create` makes the first `shards` addresses primaries.
        Kind::Cluster if i < shards => (format!("node-{i}"), Role::Primary, Some(i)),
        Kind::Cluster => (
            format!("node-{i}"),
            Role::Replica,
            Some((i - shards) % shards),
        ),
    }
}

/// A node the profile places: its own name and address; without a host, clients dial its IP.
fn placed(kind: Kind, spec: &NodeSpec, role: Role, shard: Option<usize>) -> Node {
    Node {
        name: spec.name.as_str().to_owned(),
        role,
        host: spec.host.clone().unwrap_or_else(localhost),
        dial: match (&spec.host, spec.ip) {
            (Some(h), _) => h.to_string(),
            (None, IpAddr::V4(ip)) => ip.to_string(),
            (None, IpAddr::V6(ip)) => format!("[{ip}]"),
        },
        ip: spec.ip,
        port: spec.port.get(),
        bus_port: (kind == Kind::Cluster).then(|| bus_port(spec.port, spec.bus_port)),
        shard,
        replica_of: None,
    }
}

fn bus_port(port: Port, given: Option<Port>) -> u16 {
    given.map_or(port.get().saturating_add(BUS_PORT_OFFSET), Port::get)
}

/// The first data node, when the profile places the nodes itself (`topology.nodes`); derived
/// nodes listen where a single server would (`redis.port`), so clients need nothing new.
pub fn placed_primary(p: &EnvProfile) -> Option<Node> {
    if p.topology.nodes.is_empty() {
        return None;
    }
    nodes(p).into_iter().next()
}

/// The data nodes of a topology (no Sentinels).
pub fn data_nodes(nodes: &[Node]) -> impl Iterator<Item = &Node> {
    nodes.iter().filter(|n| n.role.is_data())
}

/// The Sentinels of a topology.
pub fn sentinel_nodes(nodes: &[Node]) -> impl Iterator<Item = &Node> {
    nodes.iter().filter(|n| n.role == Role::Sentinel)
}

fn fail(keys: &str, reason: String) -> Result<(), Violation> {
    Err(Violation {
        keys: keys.split(',').map(str::to_owned).collect(),
        reason,
    })
}

/// The topology rules that involve several values. Called from [`EnvProfile::validate`].
pub fn validate(p: &EnvProfile) -> Result<(), Violation> {
    let t = &p.topology;
    reserved_names(p)?;
    if t.kind == Kind::Standalone {
        if !t.nodes.is_empty() {
            return fail(
                "topology.nodes,topology.kind",
                "lists nodes, but a standalone deployment has one server: set topology.kind to \
                 sentinel or cluster, or remove topology.nodes"
                    .into(),
            );
        }
        return Ok(());
    }
    engine_and_tls(p)?;
    counts_are_sane(t)?;
    if t.nodes.is_empty() {
        derived_ports_fit(p)?;
    } else {
        explicit_nodes(t)?;
    }
    ports_are_distinct(p)
}

/// Extra users may not take the names of the topology's users.
fn reserved_names(p: &EnvProfile) -> Result<(), Violation> {
    if p.topology.kind == Kind::Standalone {
        return Ok(());
    }
    match p
        .acl
        .users
        .iter()
        .enumerate()
        .find(|(_, u)| users::RESERVED.contains(&u.name.as_str()))
    {
        Some((i, u)) => fail(
            &format!("acl.users[{i}].name"),
            format!(
                "{:?} is a user of the {} topology: choose another name",
                u.name.as_str(),
                p.topology.kind
            ),
        ),
        None => Ok(()),
    }
}

/// Redis or Valkey, with TLS: Dragonfly has neither Sentinel nor Cluster here, and plaintext
/// would carry replication, Sentinel and the bus (passwords and data) in clear.
fn engine_and_tls(p: &EnvProfile) -> Result<(), Violation> {
    let kind = p.topology.kind;
    if p.engine == Engine::Dragonfly {
        return fail(
            "topology.kind,engine",
            format!(
                "{kind} is not supported with Dragonfly: Dragonfly has neither Sentinel nor Redis \
                 Cluster support here; use kind standalone, or engine redis or valkey"
            ),
        );
    }
    if !p.tls.enabled {
        return fail(
            "topology.kind,tls.enabled",
            format!(
                "{kind} needs TLS: replication, Sentinel and the cluster bus would carry passwords \
                 and data in plaintext; set tls.enabled=true (the testing environment turns it \
                 off)"
            ),
        );
    }
    Ok(())
}

/// Enough replicas, Sentinels and shards to fail over, and not absurdly many nodes.
fn counts_are_sane(t: &TopologySettings) -> Result<(), Violation> {
    match t.kind {
        Kind::Sentinel if t.replicas < 1 => {
            return fail(
                "topology.replicas",
                "0: a Sentinel deployment needs at least 1 replica to fail over to".into(),
            );
        }
        Kind::Sentinel if t.sentinels < 3 => {
            return fail(
                "topology.sentinels",
                format!(
                    "{}: at least 3 Sentinels are needed, so a majority survives one of them \
                     failing",
                    t.sentinels
                ),
            );
        }
        Kind::Cluster if t.shards < 3 => {
            return fail(
                "topology.shards",
                format!("{}: Redis Cluster needs at least 3 primaries", t.shards),
            );
        }
        _ => {}
    }
    let (data, sentinels) = counts(t);
    let total = data + sentinels;
    if total > MAX_NODES {
        let key = match t.kind {
            Kind::Sentinel if t.sentinels as usize > MAX_NODES / 2 => "topology.sentinels",
            Kind::Sentinel => "topology.replicas",
            _ => "topology.shards,topology.replicas_per_shard",
        };
        return fail(
            key,
            format!("{total} nodes is more than the {MAX_NODES} one bundle may hold"),
        );
    }
    Ok(())
}

/// Derived nodes: consecutive ports from redis.port and topology.sentinel_port, bus ports
/// 10000 above, all within 65535.
fn derived_ports_fit(p: &EnvProfile) -> Result<(), Violation> {
    let t = &p.topology;
    let (data, sentinels) = counts(t);
    let last_data = u32::from(p.redis.port.get()) + data as u32 - 1;
    let cluster = t.kind == Kind::Cluster;
    let top = last_data
        + if cluster {
            u32::from(BUS_PORT_OFFSET)
        } else {
            0
        };
    if top > 65535 {
        return fail(
            "redis.port,topology.kind",
            format!(
                "{}: {data} data nodes on consecutive ports{} end at {top}, above 65535",
                p.redis.port,
                if cluster {
                    " with bus ports 10000 above"
                } else {
                    ""
                }
            ),
        );
    }
    let last = u32::from(t.sentinel_port.get()) + sentinels as u32;
    if sentinels > 0 && last - 1 > 65535 {
        return fail(
            "topology.sentinel_port",
            format!(
                "{}: {sentinels} Sentinels on consecutive ports end at {}, above 65535",
                t.sentinel_port,
                last - 1
            ),
        );
    }
    Ok(())
}

/// Explicit nodes: as many as the kind has, each name one DNS label and unique (also as a
/// firewall table name, where `-` becomes `_`), bus ports for cluster nodes only and in range.
fn explicit_nodes(t: &TopologySettings) -> Result<(), Violation> {
    let (data, sentinels) = counts(t);
    let total = data + sentinels;
    if t.nodes.len() != total {
        return fail(
            "topology.nodes",
            format!(
                "lists {} nodes, but a {} of these settings has {total} ({data} data node(s){}), \
                 in that order",
                t.nodes.len(),
                t.kind,
                if sentinels > 0 {
                    format!(", then {sentinels} Sentinels")
                } else {
                    String::new()
                }
            ),
        );
    }
    let mut names = BTreeMap::new();
    for (i, spec) in t.nodes.iter().enumerate() {
        let key = |what: &str| format!("topology.nodes[{i}].{what}");
        if spec.name.as_str().contains('.') {
            return fail(
                &key("name"),
                format!(
                    "{:?} is not one DNS label (no dots): it names the node's directory",
                    spec.name.as_str()
                ),
            );
        }
        if spec.bus_port.is_some() && t.kind != Kind::Cluster {
            return fail(
                &key("bus_port"),
                "only cluster nodes have a bus port".into(),
            );
        }
        let bus = u32::from(spec.port.get()) + u32::from(BUS_PORT_OFFSET);
        if t.kind == Kind::Cluster && spec.bus_port.is_none() && bus > 65535 {
            return fail(
                &key("port"),
                format!(
                    "{}: its bus port would be {bus} (port + 10000), above 65535; set bus_port",
                    spec.port
                ),
            );
        }
        if let Some(first) = names.insert(spec.name.as_str().replace('-', "_"), i) {
            return fail(
                &key("name"),
                format!(
                    "{:?} is also the name of topology.nodes[{first}]",
                    spec.name.as_str()
                ),
            );
        }
    }
    Ok(())
}

/// What a compose bundle of a topology cannot be: nodes the profile places on their own
/// machines (compose runs every node on one Docker host, at its own addresses), more nodes
/// than its network holds, or the exporter (one per node is not written yet).
pub fn check_target(p: &EnvProfile, target: crate::target::Target) -> Result<(), crate::Error> {
    if p.topology.kind == Kind::Standalone || target != crate::target::Target::Docker {
        return Ok(());
    }
    let refuse = |message: String, help: &str| {
        Err(crate::Error::Usage {
            message: format!("--target docker: {message}"),
            help: help.into(),
        })
    };
    if !p.topology.nodes.is_empty() {
        return refuse(
            "topology.nodes places the nodes on their own machines, but a compose bundle runs \
             every node on one Docker host, at addresses of its own network"
                .into(),
            "remove topology.nodes for docker, or use --target host for placed nodes",
        );
    }
    let count = nodes(p).len();
    if count > crate::compose::MAX_NODES {
        return refuse(
            format!(
                "{count} nodes: a compose bundle's network holds at most {}",
                crate::compose::MAX_NODES
            ),
            "lower topology.shards / topology.replicas, or use --target host",
        );
    }
    if p.docker.exporter {
        return refuse(
            format!(
                "docker.exporter with a {} topology: the compose file has no exporter per node yet",
                p.topology.kind
            ),
            "set docker.exporter=false, and run redis_exporter against the nodes yourself",
        );
    }
    Ok(())
}

/// No two listeners on one address share a port: data, Sentinel, bus and exporter ports.
fn ports_are_distinct(p: &EnvProfile) -> Result<(), Violation> {
    let explicit = !p.topology.nodes.is_empty();
    let mut seen: BTreeMap<(IpAddr, u16), String> = BTreeMap::new();
    let exporter = p.firewall.exporter_port.get();
    for (i, n) in nodes(p).iter().enumerate() {
        let key = |what: &str| {
            if explicit {
                format!("topology.nodes[{i}].{what}")
            } else if n.role == Role::Sentinel {
                "topology.sentinel_port".to_owned()
            } else {
                "redis.port".to_owned()
            }
        };
        let mut listeners = vec![(n.port, key("port"), "port")];
        if let Some(bus) = n.bus_port {
            listeners.push((bus, key("bus_port"), "bus port"));
        }
        for (port, key, what) in listeners {
            let label = format!("{}'s {what} {port}", n.name);
            if port == exporter {
                return Err(Violation {
                    keys: vec![key, "firewall.exporter_port".into()],
                    reason: format!("{label} is also the exporter's port"),
                });
            }
            if let Some(other) = seen.insert((n.ip, port), label.clone()) {
                return Err(Violation {
                    keys: vec![key],
                    reason: format!("{label} collides with {other} on {}", n.ip),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
