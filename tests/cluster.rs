//! Redis Cluster, live: 3 shards x 1 replica from one `init` on loopback, formed by the
//! bundle's own `cluster-create.sh`, TLS-only with mTLS on the data ports and the bus. A
//! redis-py `RedisCluster` client configured only from client.env writes keys that land on
//! all 3 shards; a plaintext connection to a bus port is refused; `kill -9` of a primary is
//! survived; every node's ACL LOG stays empty.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::ServerUnderTest;
use crate::support::topology::{Deployment, Shape, Topology, info_field, python};

// The servers the Cluster tests run on: Redis 7.0 (Debian 12's) and Valkey 8.1.
crate::support::on_topology_servers!(cluster_forms_serves_and_survives_a_primary_kill);

/// The redis-py client: every setting from client.env (REDIS_URL, REDIS_CLUSTER_NODES).
const CLIENT: &str = include_str!("clients/cluster.py");

const SHAPE: Shape = Shape::Cluster {
    shards: 3,
    replicas_per_shard: 1,
};

/// Runs `cluster.py CLIENT_ENV ARGS...` and parses its JSON line; fails with its output.
#[track_caller]
fn client(topo: &Topology, args: &[&str], timeout_secs: u32) -> serde_json::Value {
    let env = topo.path("client.env");
    let mut all = vec![env.to_str().unwrap()];
    all.extend_from_slice(args);
    let (ok, out) = python(CLIENT, &all, timeout_secs);
    assert!(ok, "cluster.py {args:?} failed:\n{out}");
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("cluster.py printed no JSON ({e}):\n{out}"))
}

/// Starts the client in `failover` mode, kills the primary it names, lets the client retry
/// for up to 15 s and returns the killed node's name with the client's report.
fn failover(
    topo: &Topology,
    nodes: &[crate::support::topology::Node],
    d: &mut Deployment,
) -> (String, serde_json::Value) {
    use std::io::{BufRead, BufReader};
    crate::support::require_python("redis", "redis");
    let mut child = Command::new("timeout")
        .args(["-k", "2", "60", "python3", "-c", CLIENT])
        .arg(topo.path("client.env"))
        .args(["failover", "failover-key", "15"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |what: &str, child: &mut std::process::Child| -> serde_json::Value {
        match lines.next() {
            Some(Ok(line)) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("cluster.py printed {line:?} ({e})")),
            _ => {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("cluster.py printed no {what}:\n{err}")
            }
        }
    };
    let owner = next("owner", &mut child)["port"].as_u64().unwrap() as u16;
    let victim = nodes.iter().find(|n| n.port == owner).unwrap().name.clone();
    d.kill9(&victim);
    child.stdin.take().unwrap().write_all(b"killed\n").unwrap();
    let after = next("result", &mut child);
    child.wait().unwrap();
    (victim, after)
}

/// Sends a plaintext `PING` to `port` and returns what came back (empty: closed or reset).
fn plaintext_ping(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return "<refused>".into();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut buf = vec![];
    match s.read_to_end(&mut buf) {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) => format!("<{}>", e.kind()),
    }
}

fn cluster_forms_serves_and_survives_a_primary_kill(srv: &'static ServerUnderTest) {
    eprintln!("server under test: {}", srv.label);
    // admin on, only to read every node's ACL LOG.
    let topo = Topology::init(
        srv,
        "production",
        SHAPE,
        &["--set", "acl.admin.enabled=true"],
    );
    let nodes = topo.data_nodes();
    assert_eq!(nodes.len(), 6, "3 shards x (1 primary + 1 replica)");

    // The script: executable by its owner and group only, and nothing secret inside.
    let script = topo.path("cluster-create.sh");
    let mode = std::fs::metadata(&script).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750, "cluster-create.sh mode");
    let text = std::fs::read_to_string(&script).unwrap();
    for (key, value) in crate::support::env_file(&topo.path("secrets.env")) {
        assert!(!text.contains(&value), "cluster-create.sh contains {key}");
    }
    assert!(
        !text.contains(" -a "),
        "a password on the command line:\n{text}"
    );

    let mut d = Deployment::start(&topo);

    // The bundle's own script forms the cluster, with this server family's cli.
    let (status, said) = topo.cluster_create();
    assert!(
        status.success(),
        "cluster-create.sh failed ({status}):\n{said}\n{}",
        d.logs()
    );
    assert!(said.contains("All 16384 slots covered"), "{said}");

    // cluster_state:ok on every node.
    topo.wait_cluster_ok(Duration::from_secs(20));
    // Three primaries, each with one replica linked over TLS.
    let roles: BTreeMap<String, String> = nodes
        .iter()
        .map(|n| {
            let info = topo.cli_as(&n.name, "admin").run(&["INFO", "replication"]);
            (n.name.clone(), info_field(&info, "role").unwrap_or(info))
        })
        .collect();
    let primaries: Vec<&String> = roles
        .iter()
        .filter(|(_, r)| r.as_str() == "master")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(primaries.len(), 3, "{roles:?}");

    // A cluster-aware client from client.env alone: keys land on all 3 shards.
    let env = topo.client_env();
    let listed: Vec<&str> = env["REDIS_CLUSTER_NODES"].split(',').collect();
    assert_eq!(listed.len(), 6, "REDIS_CLUSTER_NODES: {listed:?}");
    let wrote = client(&topo, &["write", "60"], 60);
    let owners = wrote["owners"].as_object().unwrap();
    assert_eq!(
        owners.len(),
        3,
        "keys did not land on all 3 shards: {wrote}"
    );
    let primary_ports: Vec<u16> = primaries.iter().map(|n| topo.node(n).port).collect();
    for owner in owners.keys() {
        let port: u16 = owner.rsplit(':').next().unwrap().parse().unwrap();
        assert!(
            primary_ports.contains(&port),
            "{owner} took writes but is not a primary"
        );
    }

    // The bus has no ACL: only TLS with a certificate from the bundle's CA protects it. A
    // plaintext client gets no answer, only a closed connection.
    for node in &nodes {
        let bus = node.port + 10_000;
        assert!(
            d.listening_ports(&node.name).contains(&bus),
            "{} does not listen on its bus port {bus}",
            node.name
        );
        let reply = plaintext_ping(bus);
        assert!(
            !reply.contains("PONG") && !reply.starts_with('+') && !reply.starts_with('-'),
            "{}'s bus port {bus} answered plaintext: {reply:?}",
            node.name
        );
        // The data port too: `port 0`, TLS only.
        let reply = plaintext_ping(node.port);
        assert!(!reply.contains("PONG"), "{}: {reply:?}", node.name);
    }

    let acl_logs_empty = |d: &Deployment| {
        for node in nodes.iter().filter(|n| d.is_running(&n.name)) {
            let log = topo.cli_as(&node.name, "admin").run(&["ACL", "LOG"]);
            assert_eq!(log, "", "ACL LOG of {}:\n{log}", node.name);
        }
    };
    acl_logs_empty(&d);

    // kill -9 of the primary holding a key, while a client made before it keeps writing the
    // key: the replica takes over and the same client finds it. 15 s is a bound, not a
    // timing assertion.
    let (victim, after) = failover(&topo, &nodes, &mut d);
    assert_eq!(
        after["ok"],
        true,
        "no write within 15 s: {after}\n{}",
        d.logs()
    );
    let new_owner = after["port"].as_u64().unwrap() as u16;
    assert_ne!(new_owner, topo.node(&victim).port, "{after}");
    eprintln!(
        "{}: writes resumed {} s after kill -9 of {victim} ({after})",
        srv.label, after["seconds"]
    );
    acl_logs_empty(&d);
}

/// The script of a few shapes, one with explicit IPv6 nodes, passes shellcheck (as POSIX
/// sh), holds no secret, and refuses to run without the cluster-admin password.
#[test]
fn cluster_create_script_passes_shellcheck_and_holds_no_secret() {
    crate::support::require("shellcheck", "apt-get install -y shellcheck");
    let v6_nodes = format!(
        "topology.nodes=[{}]",
        (0..3)
            .map(|i| format!("{{name: n{i}, ip: \"2001:db8::{i}\", port: 7000}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shapes: [&[&str]; 3] = [
        &["topology.shards=3", "topology.replicas_per_shard=0"],
        &["topology.shards=5", "topology.replicas_per_shard=2"],
        &["topology.replicas_per_shard=0", &v6_nodes],
    ];
    for sets in shapes {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("b");
        let mut args = vec![
            "init",
            "--env",
            "production",
            "--out",
            out.to_str().unwrap(),
            "--set",
            "topology.kind=cluster",
        ];
        for s in sets {
            args.extend(["--set", s]);
        }
        crate::support::run(tmp.path(), &args).success();
        let script = out.join("cluster-create.sh");
        let check = Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{sets:?}: shellcheck:\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
        let text = std::fs::read_to_string(&script).unwrap();
        for (key, value) in crate::support::env_file(&out.join("secrets.env")) {
            assert!(!text.contains(&value), "{sets:?}: the script holds {key}");
        }
        if sets[1] == v6_nodes {
            assert!(text.contains("    2001:db8::2:7000 \\\n"), "{text}");
        }

        // Without the password it stops before calling any cli (`false` would fail the same
        // way, so a cli that does not exist shows the script never got that far).
        let secrets = out.join("secrets.env");
        let kept: String = std::fs::read_to_string(&secrets)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("REDIS_PASSWORD_CLUSTER_ADMIN="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&secrets, kept).unwrap();
        let ran = Command::new(&script)
            .env("REDIS_CLI", "/nonexistent/cli")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&ran.stderr);
        assert_eq!(ran.status.code(), Some(1), "{err}");
        assert!(
            err.contains("REDIS_PASSWORD_CLUSTER_ADMIN is missing"),
            "{err}"
        );
    }
}

/// cluster-create.sh of a 3 x 1 cluster, pinned (rendered from seeded secrets: it holds none).
#[test]
fn cluster_create_script_snapshot() {
    let sets: Vec<String> = ["topology.kind=cluster", "redis.port=7000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (_, files) = crate::support::render_seeded(
        redis_harden::profile::Environment::Production,
        redis_harden::render::Target::Local,
        &sets,
    );
    let script = &files["cluster-create.sh"];
    assert_eq!(script.mode, 0o750);
    assert!(!script.secret);
    crate::support::pin("topology-cluster-create", &script.content);
}
