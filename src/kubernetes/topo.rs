//! `--target kubernetes` for the sentinel and cluster kinds: the pods' configs, and the DNS
//! names pods and clients use.
//!
//! Every pod of a StatefulSet gets the same config; what differs per pod (its own DNS name,
//! and for a replica whom it follows) is appended at start by an init container, which also
//! copies the config into a writable emptyDir: Sentinel rewrites its config, and Sentinel
//! makes the data nodes rewrite theirs (`CONFIG REWRITE` after a failover). The configs hold
//! passwords (`masterauth`, `sentinel auth-pass`), so they travel in a Secret.

use serde_json::{Value, json};

use crate::error::Error;
use crate::profile::EnvProfile;
use crate::render::{Input, RenderedFile};
use crate::templates::{self, Templates};
use crate::topology::{self, Kind, cluster, render::Context as Topo, users};

/// The pods' writable config directory (an emptyDir), where the server runs its config from.
pub const CONF_DIR: &str = "/conf";
/// The data pods' and the Sentinels' configs in the bundle (0600) and in the config Secret.
pub const DATA_CONF: &str = "redis.conf";
pub const SENTINEL_CONF: &str = "sentinel.conf";

/// `NAMESPACE.svc.DOMAIN`.
pub fn svc_domain(p: &EnvProfile) -> String {
    let k = &p.kubernetes;
    format!("{}.svc.{}", k.namespace, k.cluster_domain)
}

/// The data StatefulSet (its pods are `NAME-0`, `NAME-1`, ...).
pub fn data_set(p: &EnvProfile) -> String {
    p.kubernetes.name.to_string()
}

/// The Sentinels' StatefulSet.
pub fn sentinel_set(p: &EnvProfile) -> String {
    format!("{}-sentinel", p.kubernetes.name)
}

/// The headless Service of a StatefulSet.
pub fn headless(set: &str) -> String {
    format!("{set}-headless")
}

/// The DNS name of pod `i` of StatefulSet `set`.
pub fn pod_host(p: &EnvProfile, set: &str, i: usize) -> String {
    format!("{set}-{i}.{}.{}", headless(set), svc_domain(p))
}

/// How many pods the data StatefulSet has.
pub fn data_pods(p: &EnvProfile) -> usize {
    let t = &p.topology;
    match t.kind {
        Kind::Standalone => 1,
        Kind::Sentinel => 1 + t.replicas as usize,
        Kind::Cluster => t.shards as usize * (1 + t.replicas_per_shard as usize),
    }
}

/// The cluster bus port: every pod listens on the same ports.
pub fn bus_port(p: &EnvProfile) -> u16 {
    p.redis.port.get().saturating_add(topology::BUS_PORT_OFFSET)
}

/// client.env's REDIS_SENTINELS and REDIS_CLUSTER_NODES: the pods' DNS names, which the
/// shared certificate's wildcards cover.
pub fn client_lists(p: &EnvProfile, topo: &mut Topo) {
    let list = |set: &str, n: usize, port: u16| {
        (0..n)
            .map(|i| format!("{}:{port}", pod_host(p, set, i)))
            .collect::<Vec<_>>()
            .join(",")
    };
    match p.topology.kind {
        Kind::Sentinel => {
            topo.sentinels = list(
                &sentinel_set(p),
                p.topology.sentinels as usize,
                p.topology.sentinel_port.get(),
            );
        }
        Kind::Cluster => {
            topo.cluster_nodes = list(&data_set(p), data_pods(p), p.redis.port.get());
        }
        Kind::Standalone => {}
    }
}

/// The pod configs of a topology: `redis.conf` of every data pod and, for the sentinel kind,
/// `sentinel.conf` of every Sentinel, with the pods' paths; secret files (they hold passwords).
pub fn pod_configs(
    templates: &Templates,
    input: &Input<'_>,
    ctx: &Value,
    topo: &Topo,
    password: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<Vec<(String, RenderedFile)>, Error> {
    let p = input.profile;
    let dir = p.server_facts().container_config_dir;
    let data = data_set(p);
    let mut out = vec![];
    let mut data_ctx = ctx.clone();
    data_ctx["node"] = json!({
        "name": format!("every pod of StatefulSet {data}"),
        "role": if topo.kind == Kind::Cluster { "primary or replica" } else { "primary (pod 0) or replica" },
        "replicaof": null,
        "masteruser": users::REPLICATOR,
        "masterauth": password(users::REPLICATOR)?,
        "cluster": (topo.kind == Kind::Cluster).then(|| json!({
            "port": bus_port(p),
            "config_file": "/data/nodes.conf",
            "node_timeout_ms": cluster::NODE_TIMEOUT_MS,
            // Pods change IP addresses when they restart: clients are sent DNS names
            // (cluster-announce-hostname, appended per pod), which the certificate covers.
            "preferred_endpoint_type": "hostname",
        })),
        "sentinel": null,
    });
    out.push((
        DATA_CONF,
        render(templates, templates::REDIS_CONF, &data_ctx)?,
    ));
    if topo.kind == Kind::Sentinel {
        let mut v = ctx.clone();
        v["redis"]["port"] = json!(p.topology.sentinel_port.get());
        v["paths"]["aclfile"] = json!(format!("{dir}/{}", topology::render::SENTINEL_ACL));
        v["paths"]["dir"] = json!(CONF_DIR);
        let primary = pod_host(p, &data, 0);
        v["node"] = json!({
            "name": format!("every pod of StatefulSet {}", sentinel_set(p)),
            "role": "sentinel",
            "sentinel": {
                "monitor": format!("{} {primary} {} {}", topo.master_name, p.redis.port, topo.quorum),
                "master_name": topo.master_name,
                "auth_user": users::SENTINEL,
                "auth_pass": password(users::SENTINEL)?,
                "peer_user": users::SENTINEL_PEER,
                "peer_pass": password(users::SENTINEL_PEER)?,
                "down_after_ms": topology::render::DOWN_AFTER_MS,
                "failover_timeout_ms": topology::render::FAILOVER_TIMEOUT_MS,
                // Pods are known by DNS name: their addresses change on every restart.
                "hostnames": true,
            },
        });
        out.push((
            SENTINEL_CONF,
            render(templates, templates::SENTINEL_CONF, &v)?,
        ));
    }
    Ok(out.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn render(templates: &Templates, name: &str, v: &Value) -> Result<RenderedFile, Error> {
    let ctx = tera::Context::from_serialize(v).map_err(|e| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    })?;
    Ok(RenderedFile {
        content: templates.render(name, &ctx)?,
        mode: 0o600,
        secret: true,
    })
}

/// The init container's script of a data pod: copy the config into the writable directory
/// (once per pod: a restart keeps what Redis rewrote), then append the pod's own lines.
pub fn data_init(p: &EnvProfile) -> String {
    let dir = p.server_facts().container_config_dir;
    let data = data_set(p);
    let me = format!("$POD_NAME.{}.{}", headless(&data), svc_domain(p));
    let own = match p.topology.kind {
        Kind::Cluster => format!("echo \"cluster-announce-hostname {me}\""),
        _ => format!(
            "echo \"replica-announce-ip {me}\"; \
             if [ \"$POD_NAME\" != {data}-0 ]; then echo \"replicaof {} {}\"; fi",
            pod_host(p, &data, 0),
            p.redis.port
        ),
    };
    copy_script(&format!("{dir}/{DATA_CONF}"), DATA_CONF, &own)
}

/// The init container's script of a Sentinel pod: its DNS name, and its fixed id.
///
/// A deleted pod (rolling restart, node drain) comes back with an empty emptyDir; without
/// `sentinel myid` in the copy it would pick a new random id, and the other Sentinels would
/// keep the old one in their lists (an entry with port 0 that still counts towards the
/// majority a failover needs). The id is per pod ordinal, so a pod keeps its identity
/// without a volume of its own.
pub fn sentinel_init(p: &EnvProfile) -> String {
    let dir = p.server_facts().container_config_dir;
    let set = sentinel_set(p);
    let ids: String = (0..p.topology.sentinels as usize)
        .map(|i| format!("{set}-{i}) echo \"sentinel myid {}\";; ", sentinel_id(p, i)))
        .collect();
    let own = format!(
        "echo \"sentinel announce-ip $POD_NAME.{}.{}\"; case \"$POD_NAME\" in {ids}esac",
        headless(&set),
        svc_domain(p)
    );
    copy_script(&format!("{dir}/{SENTINEL_CONF}"), SENTINEL_CONF, &own)
}

/// The `sentinel myid` of Sentinel pod `i`: 40 hex characters (the length Sentinel
/// requires) derived from the pod's namespace, StatefulSet and ordinal. Not a secret: every
/// Sentinel announces its id to the others.
pub fn sentinel_id(p: &EnvProfile, i: usize) -> String {
    let k = &p.kubernetes;
    let seed = format!(
        "redis-harden sentinel myid\n{}\n{}\n{}\n{i}",
        k.cluster_domain,
        k.namespace,
        sentinel_set(p)
    );
    let mut id = crate::bundle::manifest::sha256_hex(seed.as_bytes());
    id.truncate(40);
    id
}

fn copy_script(from: &str, file: &str, own: &str) -> String {
    format!(
        "set -eu; umask 077; if [ ! -e {CONF_DIR}/{file} ]; then \
         {{ cat {from}; echo; echo \"# This pod's own lines (init container)\"; {own}; }} > {CONF_DIR}/{file}.new \
         && mv {CONF_DIR}/{file}.new {CONF_DIR}/{file}; fi"
    )
}

/// The cluster-create Job's script: wait until every pod answers, resolve their addresses
/// (Redis 7.0's CLUSTER MEET takes IP addresses only), then `--cluster create` once, as
/// cluster-admin with the password from its file in REDISCLI_AUTH (never argv).
pub fn cluster_create_script(p: &EnvProfile) -> String {
    let facts = p.server_facts();
    let dir = facts.container_config_dir;
    let cli = facts.cli_program;
    let port = p.redis.port;
    let data = data_set(p);
    let n = data_pods(p);
    format!(
        "set -eu; \
         REDISCLI_AUTH=\"$(cat {dir}/secrets/{admin})\"; export REDISCLI_AUTH; \
         tls=\"--tls --cacert {dir}/{ca} --cert {dir}/{crt} --key {dir}/{key}\"; \
         addrs=; i=0; \
         while [ $i -lt {n} ]; do \
         host={data}-$i.{headless}.{domain}; \
         until {cli} $tls -h $host -p {port} --user {admin} --no-auth-warning info server | grep -q '^redis_version:'; do sleep 2; done; \
         addrs=\"$addrs $(getent hosts $host | cut -d' ' -f1):{port}\"; i=$((i + 1)); \
         done; \
         {cli} $tls --user {admin} --no-auth-warning --cluster create $addrs --cluster-replicas {r} --cluster-yes",
        admin = users::CLUSTER_ADMIN,
        ca = crate::pki::CA_CERT,
        crt = crate::pki::SERVER_CERT,
        key = crate::pki::SERVER_KEY,
        headless = headless(&data),
        domain = svc_domain(p),
        r = p.topology.replicas_per_shard,
    )
}
