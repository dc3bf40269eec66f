use super::*;
use crate::profile::{Environment, builtin};

fn profile(kind: Kind) -> EnvProfile {
    let mut p = builtin(Environment::Production);
    p.topology.kind = kind;
    p
}

/// A change to a profile, for the table of bad combinations.
type Change = Box<dyn Fn(&mut EnvProfile)>;

fn keys(p: &EnvProfile) -> Vec<String> {
    validate(p).unwrap_err().keys
}

fn names(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn standalone_has_no_nodes() {
    let p = builtin(Environment::Production);
    assert_eq!(p.topology.kind, Kind::Standalone);
    assert!(nodes(&p).is_empty());
    validate(&p).unwrap();
}

#[test]
fn sentinel_nodes_are_data_then_sentinels_on_consecutive_ports() {
    let p = profile(Kind::Sentinel);
    validate(&p).unwrap();
    let n = nodes(&p);
    assert_eq!(
        names(&n),
        [
            "data-0",
            "data-1",
            "data-2",
            "sentinel-0",
            "sentinel-1",
            "sentinel-2"
        ]
    );
    let ports: Vec<u16> = n.iter().map(|n| n.port).collect();
    assert_eq!(ports, [6379, 6380, 6381, 26379, 26380, 26381]);
    let roles: Vec<Role> = n.iter().map(|n| n.role).collect();
    assert_eq!(
        roles,
        [
            Role::Primary,
            Role::Replica,
            Role::Replica,
            Role::Sentinel,
            Role::Sentinel,
            Role::Sentinel
        ]
    );
    assert_eq!(n[1].replica_of.as_deref(), Some("data-0"));
    assert_eq!(n[3].replica_of, None);
    assert!(n.iter().all(|n| n.host.as_str() == "localhost"));
    assert!(n.iter().all(|n| n.ip == IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(n.iter().all(|n| n.bus_port.is_none() && n.shard.is_none()));
    assert_eq!(quorum(&p), 2);
}

#[test]
fn cluster_nodes_put_the_primaries_first() {
    let p = profile(Kind::Cluster);
    validate(&p).unwrap();
    let n = nodes(&p);
    assert_eq!(
        names(&n),
        ["node-0", "node-1", "node-2", "node-3", "node-4", "node-5"]
    );
    assert_eq!(n[0].role, Role::Primary);
    assert_eq!(n[3].role, Role::Replica);
    assert_eq!(n[4].shard, Some(1));
    assert_eq!(n[4].replica_of.as_deref(), Some("node-1"));
    assert_eq!(n[5].bus_port, Some(16384));
    assert_eq!(n[5].port, 6384);
}

#[test]
fn a_hundred_node_cluster_is_valid() {
    let mut p = profile(Kind::Cluster);
    p.topology.shards = 50;
    validate(&p).unwrap();
    let n = nodes(&p);
    assert_eq!(n.len(), 100);
    assert_eq!(n[99].replica_of.as_deref(), Some("node-49"));
}

#[test]
fn explicit_nodes_keep_their_names_and_addresses() {
    let mut p = profile(Kind::Sentinel);
    p.topology.replicas = 1;
    p.tls.hostnames = vec![Hostname::parse("redis.internal").unwrap()];
    p.topology.nodes = ["a", "b", "s1", "s2", "s3"]
        .iter()
        .enumerate()
        .map(|(i, name)| NodeSpec {
            name: Hostname::parse(name).unwrap(),
            host: (i == 0).then(|| Hostname::parse("a.internal").unwrap()),
            ip: format!("10.0.0.{}", i + 1).parse().unwrap(),
            port: Port::new(if i < 2 { 6379 } else { 26379 }).unwrap(),
            bus_port: None,
        })
        .collect();
    validate(&p).unwrap();
    let n = nodes(&p);
    assert_eq!(names(&n), ["a", "b", "s1", "s2", "s3"]);
    assert_eq!(n[0].host.as_str(), "a.internal");
    assert_eq!(n[0].host_port(), "a.internal:6379");
    // Placed without a host: clients dial its address.
    assert_eq!(n[1].host_port(), "10.0.0.2:6379");
    assert_eq!(n[1].replica_of.as_deref(), Some("a"));
    assert_eq!(n[4].addr(), "10.0.0.5:26379");
    assert_eq!(n[2].role, Role::Sentinel);

    let mut bad = p.clone();
    bad.topology.nodes.pop();
    assert_eq!(keys(&bad), ["topology.nodes"]);
    let mut bad = p.clone();
    bad.topology.nodes[3].name = Hostname::parse("s1").unwrap();
    assert_eq!(keys(&bad), ["topology.nodes[3].name"]);
    let mut bad = p.clone();
    bad.topology.nodes[3].name = Hostname::parse("s1.example").unwrap();
    assert_eq!(keys(&bad), ["topology.nodes[3].name"]);
    let mut bad = p.clone();
    bad.topology.nodes[3].ip = bad.topology.nodes[2].ip;
    assert_eq!(keys(&bad), ["topology.nodes[3].port"]);
    let mut bad = p.clone();
    bad.topology.nodes[0].bus_port = Some(Port::new(16379).unwrap());
    assert_eq!(keys(&bad), ["topology.nodes[0].bus_port"]);
}

#[test]
fn bad_combinations_name_their_key() {
    let cases: Vec<(&str, Change)> = vec![
        ("topology.replicas", Box::new(|p| p.topology.replicas = 0)),
        ("topology.sentinels", Box::new(|p| p.topology.sentinels = 2)),
        (
            "topology.sentinel_port",
            Box::new(|p| p.topology.sentinel_port = Port::new(65534).unwrap()),
        ),
        (
            "redis.port",
            Box::new(|p| p.redis.port = Port::new(65534).unwrap()),
        ),
        (
            "topology.sentinel_port",
            Box::new(|p| p.topology.sentinel_port = Port::new(6381).unwrap()),
        ),
        (
            "redis.port",
            Box::new(|p| p.firewall.exporter_port = Port::new(6380).unwrap()),
        ),
        (
            "topology.kind",
            Box::new(|p| {
                p.engine = Engine::Dragonfly;
            }),
        ),
        ("topology.kind", Box::new(|p| p.tls.enabled = false)),
        (
            "topology.sentinels",
            Box::new(|p| p.topology.sentinels = 5000),
        ),
    ];
    for (key, change) in cases {
        let mut p = profile(Kind::Sentinel);
        change(&mut p);
        assert_eq!(keys(&p)[0], key, "{key}: {:?}", validate(&p));
    }
    let cluster: Vec<(&str, Change)> = vec![
        ("topology.shards", Box::new(|p| p.topology.shards = 2)),
        // 6 nodes from 55530: the last bus port would be 65535 + 1.
        (
            "redis.port",
            Box::new(|p| p.redis.port = Port::new(55531).unwrap()),
        ),
        (
            "redis.port",
            Box::new(|p| p.firewall.exporter_port = Port::new(16380).unwrap()),
        ),
        (
            "topology.shards",
            Box::new(|p| {
                p.topology.shards = 600;
            }),
        ),
    ];
    for (key, change) in cluster {
        let mut p = profile(Kind::Cluster);
        change(&mut p);
        assert_eq!(keys(&p)[0], key, "{key}: {:?}", validate(&p));
    }
    let mut p = profile(Kind::Cluster);
    p.redis.port = Port::new(55530).unwrap();
    validate(&p).unwrap();
}

#[test]
fn standalone_refuses_nodes() {
    let mut p = builtin(Environment::Production);
    p.topology.nodes = vec![NodeSpec {
        name: Hostname::parse("a").unwrap(),
        host: None,
        ip: "10.0.0.1".parse().unwrap(),
        port: Port::new(6379).unwrap(),
        bus_port: None,
    }];
    assert_eq!(keys(&p), ["topology.nodes", "topology.kind"]);
}

#[test]
fn layout_paths() {
    let p = profile(Kind::Sentinel);
    let n = nodes(&p);
    assert_eq!(layout::conf(&n[0]), "nodes/data-0/redis.conf");
    assert_eq!(layout::conf(&n[3]), "nodes/sentinel-0/sentinel.conf");
    assert_eq!(layout::cert("data-0"), "nodes/data-0/tls/node.crt");
    assert_eq!(layout::key("data-0"), "nodes/data-0/tls/node.key");
    assert!(layout::is_node_path("nodes/data-0/redis.conf"));
    assert!(!layout::is_node_path("nodesx"));
}

/// The gate accepts what a topology needs and keeps refusing the insecure variants.
mod gate {
    use crate::policy::{self, APP_PERMISSIONS, PASSWORD_IN_CONF, Policy, UNKNOWN_DIRECTIVE};
    use crate::profile::Environment;

    fn ids(name: &str, content: &str, secret_file: bool) -> Vec<&'static str> {
        let p = Policy {
            secret_file,
            ..Policy::for_env(Environment::Production, false, false)
        };
        policy::check(name, content, &p)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    const CONF: &str = "bind 127.0.0.1\nport 0\ntls-port 6379\ntls-auth-clients yes\n\
        tls-protocols \"TLSv1.3\"\naclfile \"/etc/redis/users.acl\"\n";

    #[test]
    fn masterauth_only_in_a_secret_file_for_a_dedicated_user() {
        let with = |extra: &str| format!("{CONF}{extra}");
        let ok = with("masteruser replicator\nmasterauth \"pw\"\n");
        assert!(!ids("nodes/a/redis.conf", &ok, true).contains(&PASSWORD_IN_CONF.id));
        // A file others may read, no masteruser, default's password, requirepass: refused.
        assert!(ids("redis.conf", &ok, false).contains(&PASSWORD_IN_CONF.id));
        for bad in [
            "masterauth \"pw\"\n",
            "masteruser default\nmasterauth \"pw\"\n",
            "masteruser replicator\nmasterauth \"pw\"\nrequirepass \"pw\"\n",
        ] {
            assert!(
                ids("nodes/a/redis.conf", &with(bad), true).contains(&PASSWORD_IN_CONF.id),
                "{bad}"
            );
        }
    }

    #[test]
    fn sentinel_lines_only_in_a_sentinel_config() {
        let sentinel =
            format!("{CONF}sentinel monitor m 127.0.0.1 6379 2\nsentinel auth-pass m \"pw\"\n");
        assert!(!ids("nodes/s/sentinel.conf", &sentinel, true).contains(&UNKNOWN_DIRECTIVE.id));
        // Without `sentinel monitor` it is a data server's config, which refuses the line.
        let stray = format!("{CONF}sentinel auth-pass m \"pw\"\n");
        assert!(ids("nodes/a/redis.conf", &stray, true).contains(&UNKNOWN_DIRECTIVE.id));
    }

    #[test]
    fn topology_users_get_their_measured_commands_and_nothing_more() {
        let acl = |file: &str, line: &str| {
            ids(
                file,
                &format!("user default off resetpass -@all\n{line}\n"),
                true,
            )
        };
        // sentinel-peer lives on the Sentinels, whose command table is a Sentinel's.
        for (file, user, rules) in [
            ("users.acl", "replicator", super::users::REPLICATOR_RULES),
            ("users.acl", "sentinel", super::users::SENTINEL_RULES),
            (
                "users.acl",
                "cluster-admin",
                super::users::CLUSTER_ADMIN_RULES,
            ),
            (
                "sentinel-users.acl",
                "sentinel-peer",
                super::users::SENTINEL_PEER_RULES,
            ),
        ] {
            assert!(
                acl(file, &format!("user {user} on #{} {rules}", "a".repeat(64))).is_empty(),
                "{user}"
            );
            for extra in ["+flushall", "+config|set", "+@all", "+debug", "+eval"] {
                let line = format!("user {user} on #{} {rules} {extra}", "a".repeat(64));
                assert!(
                    acl(file, &line).contains(&APP_PERMISSIONS.id),
                    "{user} {extra}"
                );
            }
        }
    }
}
