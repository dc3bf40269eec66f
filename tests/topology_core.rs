//! Topologies (issue 11), the core: every node config `init` writes loads in the real server
//! (Redis 7.0 and Valkey 8.1), replicas link to the primary over TLS as the replication user,
//! the Sentinels find the primary, the replicas and each other, and no node logs an ACL
//! denial. (The failover tests are in their own file.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::topology::{free_port_block, init_kind};
use crate::support::{Server, ServerUnderTest, env_file, run};

struct Nodes {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    server: &'static ServerUnderTest,
    running: Vec<Server>,
}

impl Nodes {
    fn init(server: &'static ServerUnderTest, sets: &[String]) -> Nodes {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        let mut args = vec!["init", "--env", "production", "--out"];
        args.push(dir.to_str().unwrap());
        args.extend_from_slice(server.init_args);
        for s in sets {
            args.extend_from_slice(&["--set", s]);
        }
        run(tmp.path(), &args).success();
        Nodes {
            _tmp: tmp,
            dir,
            server,
            running: vec![],
        }
    }

    /// Starts a node under umask 077, as the docs say: a Sentinel rewrites its config (which
    /// holds passwords) with the process's umask.
    fn start(&mut self, node: &str, conf: &str, port: u16, sentinel: bool) {
        let conf = self.dir.join("nodes").join(node).join(conf);
        let log = self.dir.join(format!("{node}.log"));
        let script = format!(
            "umask 077; exec '{}' '{}'{}",
            self.server.server_program().display(),
            conf.display(),
            if sentinel { " --sentinel" } else { "" }
        );
        self.running.push(Server::start_program(
            Path::new("/bin/sh"),
            Path::new("-c"),
            &[&script],
            port,
            &log,
        ));
    }

    fn password(&self, user: &str) -> String {
        let var = format!("REDIS_PASSWORD_{}", user.to_uppercase().replace('-', "_"));
        env_file(&self.dir.join("secrets.env"))[&var].clone()
    }

    /// One command over TLS with the app client certificate, logged in as `user`.
    fn cli(&self, port: u16, user: &str, args: &[&str]) -> String {
        let path = |rel: &str| self.dir.join(rel);
        let out = Command::new("timeout")
            .args(["-k", "1", "10"])
            .arg(self.server.cli_program())
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .arg("--cacert")
            .arg(path("tls/ca.crt"))
            .arg("--cert")
            .arg(path("tls/client.crt"))
            .arg("--key")
            .arg(path("tls/client.key"))
            .args(["--user", user, "--no-auth-warning"])
            .env("REDISCLI_AUTH", self.password(user))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
            + String::from_utf8_lossy(&out.stderr).trim()
    }
}

/// Waits (at most 20 s) until `check` holds; panics with `what` and the last value.
fn wait_for(what: &str, mut check: impl FnMut() -> (bool, String)) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, last) = check();
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "{what}; last: {last}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}:")))
}

fn sentinel_nodes_boot_and_replicate_over_tls(server: &'static ServerUnderTest) {
    let data = free_port_block(3, None);
    let sent = free_port_block(3, None);
    let mut n = Nodes::init(
        server,
        &[
            "topology.kind=sentinel".into(),
            format!("redis.port={data}"),
            format!("topology.sentinel_port={sent}"),
            "acl.admin.enabled=true".into(),
        ],
    );
    for i in 0..3u16 {
        n.start(&format!("data-{i}"), "redis.conf", data + i, false);
    }
    for i in 0..3u16 {
        n.start(&format!("sentinel-{i}"), "sentinel.conf", sent + i, true);
    }
    n.cli(data, "app", &["SET", "topology:k", "v"]);
    for i in 1..3u16 {
        let port = data + i;
        wait_for(&format!("replica on {port} linked"), || {
            let info = n.cli(port, "admin", &["INFO", "replication"]);
            let ok = field(&info, "role") == Some("slave")
                && field(&info, "master_link_status") == Some("up")
                && field(&info, "master_repl_offset")
                    .and_then(|o| o.parse::<u64>().ok())
                    .is_some_and(|o| o > 0);
            (ok, info)
        });
        assert_eq!(n.cli(port, "app", &["GET", "topology:k"]), "v");
    }
    // The link stays up (a missing +replconf makes it flap), and writes reach both replicas.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(n.cli(data, "app", &["WAIT", "2", "2000"]), "2");
    wait_for("sentinels know the replicas and each other", || {
        let out = n.cli(sent, "app", &["SENTINEL", "MASTERS"]);
        let lines: Vec<&str> = out.lines().collect();
        let value = |k: &str| {
            lines
                .iter()
                .position(|l| *l == k)
                .and_then(|i| lines.get(i + 1).copied())
        };
        let ok = value("flags") == Some("master")
            && value("num-slaves") == Some("2")
            && value("num-other-sentinels") == Some("2");
        (ok, out)
    });
    let master = n.cli(
        sent,
        "app",
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "redis"],
    );
    assert_eq!(master, format!("127.0.0.1\n{data}"));
    // The app user may ask the Sentinels, nothing more.
    let denied = n.cli(sent, "app", &["SENTINEL", "RESET", "*"]);
    assert!(denied.contains("NOPERM"), "{denied}");
    for i in 0..3u16 {
        let log = n.cli(data + i, "admin", &["ACL", "LOG"]);
        assert!(log.is_empty(), "ACL LOG of data-{i}: {log}");
    }

    // The Sentinels have rewritten their configs (ids, replicas, each other): not drift.
    let conf = n.dir.join("nodes/sentinel-0/sentinel.conf");
    let rewritten = std::fs::read_to_string(&conf).unwrap();
    assert!(rewritten.contains("sentinel myid"), "{rewritten}");
    let out = n.dir.to_str().unwrap().to_owned();
    // (The manifest recorded the engine and every --set of init.)
    let args = ["check", "--env", "production", "--out", &out];
    run(n.dir.parent().unwrap(), &args).success();
    // render keeps what Sentinel learnt.
    let args = ["render", "--env", "production", "--out", &out];
    run(n.dir.parent().unwrap(), &args).success();
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), rewritten);
    // A line of ours changed is drift.
    std::fs::write(
        &conf,
        rewritten.replace("tls-auth-clients yes", "tls-auth-clients no"),
    )
    .unwrap();
    run(
        n.dir.parent().unwrap(),
        &["check", "--env", "production", "--out", &out],
    )
    .failure(1)
    .stdout_has("nodes/sentinel-0/sentinel.conf");
}

fn cluster_nodes_load(server: &'static ServerUnderTest) {
    let first = free_port_block(6, Some(10_000));
    let mut n = Nodes::init(
        server,
        &[
            "topology.kind=cluster".into(),
            format!("redis.port={first}"),
            "acl.admin.enabled=true".into(),
        ],
    );
    for i in 0..6u16 {
        n.start(&format!("node-{i}"), "redis.conf", first + i, false);
    }
    for i in 0..6u16 {
        let info = n.cli(first + i, "admin", &["INFO", "cluster"]);
        assert_eq!(field(&info, "cluster_enabled"), Some("1"), "{info}");
        // The bus listens on port + 10000.
        assert!(
            n.running[usize::from(i)]
                .listening_ports()
                .contains(&(first + i + 10_000)),
            "node-{i} has no bus port"
        );
    }
    assert!(Path::new(&n.dir.join("nodes/node-0/data")).is_dir());
}

crate::support::on_topology_servers!(
    sentinel_nodes_boot_and_replicate_over_tls,
    cluster_nodes_load
);

/// Every node's config of each kind, from deterministic inputs (seeded test passwords, fixed
/// paths): the data nodes' redis.conf, the Sentinels' sentinel.conf, both ACL files and the
/// topology lines of client.env.
fn pin_topology(name: &str, target: redis_harden::render::Target, sets: &[&str]) {
    use redis_harden::profile::Environment;
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (_, files) = crate::support::render_seeded(Environment::Production, target, &sets);
    let mut out = String::new();
    for (rel, file) in &files {
        // Firewall rules are pinned once (explicit nodes), not for every kind.
        let firewall = rel.ends_with("nftables.nft");
        let wanted = (rel.starts_with("nodes/") || rel.ends_with(".acl"))
            && (!firewall || name.contains("explicit"));
        if wanted {
            out.push_str(&format!(
                "==== {rel} ({:o}) ====\n{}",
                file.mode, file.content
            ));
        }
    }
    let client: String = files["client.env"]
        .content
        .lines()
        .filter(|l| l.starts_with("REDIS_SENTINEL") || l.starts_with("REDIS_CLUSTER"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("==== client.env (topology lines) ====\n{client}"));
    crate::support::pin(name, &out);
}

#[test]
fn snapshots_of_every_node_config() {
    use redis_harden::render::Target;
    pin_topology(
        "topology-sentinel-local",
        Target::Local,
        &["topology.kind=sentinel"],
    );
    pin_topology(
        "topology-cluster-host",
        Target::Host,
        &[
            "topology.kind=cluster",
            "topology.replicas_per_shard=0",
            "engine=valkey",
        ],
    );
    pin_topology(
        "topology-sentinel-host-explicit-nodes",
        Target::Host,
        &[
            "topology.kind=sentinel",
            "topology.replicas=1",
            "topology.master_name=cache",
            "tls.hostnames=[redis.internal]",
            "topology.nodes=[{name: a, host: a.redis.internal, ip: 10.0.0.1, port: 6379}, \
             {name: b, ip: 10.0.0.2, port: 6379}, {name: s1, ip: 10.0.0.1, port: 26379}, \
             {name: s2, ip: 10.0.0.2, port: 26379}, {name: s3, ip: 10.0.0.3, port: 26379}]",
        ],
    );
}

#[test]
fn init_writes_per_node_files_with_their_modes_and_prints_the_start_order() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let r = init_kind(tmp.path(), "production", "", "b", "sentinel", &[]);
    r.success();
    let at = |needle: &str| {
        r.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{}", r.stdout))
    };
    let steps = [
        "1. start the data nodes (data-0 .. data-2)",
        "2. then the Sentinels (sentinel-0 .. sentinel-2)",
        "3. point the app at client.env",
    ];
    assert!(
        steps.windows(2).all(|w| at(w[0]) < at(w[1])),
        "{}",
        r.stdout
    );
    let mode = |rel: &str| {
        std::fs::metadata(tmp.path().join("b").join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    for (rel, want) in [
        ("nodes/data-0", 0o700),
        ("nodes/data-0/data", 0o700),
        ("nodes/sentinel-2", 0o700),
        ("nodes/data-0/redis.conf", 0o600),
        ("nodes/sentinel-2/sentinel.conf", 0o600),
        ("nodes/sentinel-2/tls/node.key", 0o600),
        ("nodes/sentinel-2/tls/node.crt", 0o644),
        ("sentinel-users.acl", 0o600),
        ("users.acl", 0o600),
    ] {
        assert_eq!(mode(rel), want, "{rel}");
    }
    assert!(!tmp.path().join("b/redis.conf").exists());
    // Each node certificate is signed by the bundle's CA and fit for both ends of a link.
    for node in ["data-0", "data-2", "sentinel-1"] {
        for purpose in ["sslserver", "sslclient"] {
            let out = Command::new("openssl")
                .args(["verify", "-purpose", purpose, "-CAfile", "b/tls/ca.crt"])
                .arg(format!("b/nodes/{node}/tls/node.crt"))
                .current_dir(tmp.path())
                .output()
                .expect("openssl (apt-get install -y openssl)");
            assert!(
                out.status.success(),
                "{node} {purpose}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let pem = std::fs::read_to_string(tmp.path().join(format!("b/nodes/{node}/tls/node.crt")))
            .unwrap();
        let info = redis_harden::pki::CertInfo::parse(&pem).unwrap();
        assert!(info.dns_names.contains(&"localhost".to_string()));
        for ip in ["127.0.0.1", "::1"] {
            assert!(
                info.ips.contains(&ip.parse().unwrap()),
                "{node}: {:?}",
                info.ips
            );
        }
    }
    // Every secret file of the bundle is ignored by git (real git decides), the rest is not.
    let bundle = tmp.path().join("b");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&bundle)
            .output()
            .expect("git (apt-get install -y git)")
    };
    assert!(git(&["init", "-q"]).status.success());
    for (rel, ignored) in [
        ("nodes/data-0/redis.conf", true),
        ("nodes/sentinel-1/sentinel.conf", true),
        ("nodes/sentinel-1/tls/node.key", true),
        ("sentinel-users.acl", true),
        ("users.acl", true),
        ("nodes/sentinel-1/tls/node.crt", false),
        ("nodes/data-0/nftables.nft", false),
    ] {
        let status = git(&["check-ignore", "-q", rel]).status;
        assert_eq!(status.success(), ignored, "{rel}");
    }
    std::fs::remove_dir_all(bundle.join(".git")).unwrap();

    // The new users have their own passwords.
    let secrets = env_file(&tmp.path().join("b/secrets.env"));
    let pws: Vec<&String> = ["APP", "REPLICATOR", "SENTINEL", "SENTINEL_PEER"]
        .iter()
        .map(|u| &secrets[&format!("REDIS_PASSWORD_{u}")])
        .collect();
    for (i, a) in pws.iter().enumerate() {
        assert!(pws[i + 1..].iter().all(|b| b != a));
    }

    // A second init changes nothing: keys and certificates are never re-issued.
    let before = crate::support::tree(&tmp.path().join("b"));
    init_kind(tmp.path(), "production", "", "b", "sentinel", &[]).success();
    assert!(crate::support::tree(&tmp.path().join("b")) == before);

    // Fewer replicas: the stale node config goes, its key stays (keys are never deleted).
    let fewer = ["--set", "topology.replicas=1"];
    init_kind(tmp.path(), "production", "", "b", "sentinel", &fewer).success();
    assert!(!tmp.path().join("b/nodes/data-2/redis.conf").exists());
    assert!(tmp.path().join("b/nodes/data-2/tls/node.key").exists());
    assert!(tmp.path().join("b/nodes/data-1/redis.conf").exists());
}

/// Each node's nftables rules pass `nft -c`, and open what they should: the node's port to
/// firewall.app_cidrs, replication, Sentinel and bus ports to the nodes' own addresses only.
#[test]
fn every_node_gets_its_own_firewall_rules_that_nft_accepts() {
    crate::support::require("nft", "apt-get install -y nftables");
    let tmp = tempfile::tempdir().unwrap();
    let nodes: Vec<String> = (0..6)
        .map(|i| {
            let ip = if i == 5 {
                "\"2001:db8::6\"".to_string()
            } else {
                format!("192.0.2.{}", i + 1)
            };
            format!("{{name: n{i}, ip: {ip}, port: 6379}}")
        })
        .collect();
    let nodes = format!("topology.nodes=[{}]", nodes.join(", "));
    let cidrs = r#"firewall.app_cidrs=[198.51.100.0/24, "2001:db8:a::/48"]"#;
    let extra = ["--set", cidrs, "--set", &nodes];
    init_kind(tmp.path(), "production", "", "b", "cluster", &extra).success();
    assert!(!tmp.path().join("b/firewall/nftables.nft").exists());
    for i in 0..6 {
        let rel = format!("b/nodes/n{i}/nftables.nft");
        let out = Command::new("nft")
            .args(["-c", "-f", &rel])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nft -c {rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(tmp.path().join(&rel)).unwrap();
        for line in [
            format!("table inet redis_harden_production_n{i}"),
            "elements = { 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5 }".into(),
            "elements = { 2001:db8::6 }".into(),
            "tcp dport 6379 ip saddr @app_v4 accept".into(),
            "tcp dport { 6379, 16379 } ip saddr @peers_v4 accept".into(),
            "tcp dport { 6379, 16379, 9121 } drop".into(),
        ] {
            assert!(text.contains(&line), "{rel} lacks {line:?}:\n{text}");
        }
        // The bus port is never opened to the app's networks.
        assert!(!text.contains("16379 } ip saddr @app"), "{text}");
    }
}

/// In master-key mode the topology's users get derived passwords too: the same key gives the
/// same ones anywhere, and each user its own.
#[test]
fn master_key_mode_derives_the_topology_users_passwords() {
    let init = |dir: &Path, out: &str| {
        let r = Command::new(crate::support::BIN)
            .args(["init", "--env", "production", "--out", out])
            .args(["--set", "topology.kind=sentinel"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "REDIS_HARDEN_MASTER_KEY",
                "tD3vQ8yR2mK9xW4pL7nB1cZ6fH0jS5gA",
            )
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        env_file(&dir.join(out).join("secrets.env"))
    };
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (init(t1.path(), "x"), init(t2.path(), "y"));
    let users = ["REPLICATOR", "SENTINEL", "SENTINEL_PEER"];
    for u in users {
        let var = format!("REDIS_PASSWORD_{u}");
        assert_eq!(a[&var], b[&var], "{var}");
    }
    let values: std::collections::BTreeSet<&String> = users
        .iter()
        .map(|u| &a[&format!("REDIS_PASSWORD_{u}")])
        .collect();
    assert_eq!(values.len(), users.len());
    // And the node configs that carry them are the same bytes.
    assert_eq!(
        std::fs::read(t1.path().join("x/users.acl")).unwrap(),
        std::fs::read(t2.path().join("y/users.acl")).unwrap()
    );
}

/// Files only a one-server bundle has (outside Kubernetes, where the pods share the server
/// pair).
const SINGLE_SERVER_FILES: [&str; 6] = [
    "redis.conf",
    "exporter.env",
    "firewall/nftables.nft",
    "systemd/redis-harden.conf",
    "tls/server.crt",
    "tls/server.key",
];

/// What a sentinel and a cluster bundle contain, for `--target local`, `host` and `docker`
/// (pinned: one node of each role shown, the others alike), and that no single-server file is
/// among them: no redis.conf, no exporter.env (it names one server: in a compose network
/// `rediss://localhost:6379`, where no node listens), no firewall/ (rules are
/// per node), no systemd/ drop-in (a host's drop-ins are per node), no tls/server.* pair
/// (every node has its own; the client pair stays: the app, cluster-create.sh and the
/// rotation steps' redis-cli present it). On Kubernetes the pods share tls/server.*.
#[test]
fn topology_bundles_hold_only_files_something_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut listing = String::new();
    for kind in ["sentinel", "cluster"] {
        let out = format!("{kind}-kubernetes");
        init_kind(tmp.path(), "production", "kubernetes", &out, kind, &[]).success();
        let files = crate::support::file_names(&tmp.path().join(&out));
        for shared in ["tls/server.crt", "tls/server.key", "tls/client.key"] {
            assert!(files.iter().any(|f| f == shared), "{out}: {shared}");
        }
        for target in ["local", "host", "docker"] {
            let out = format!("{kind}-{target}");
            init_kind(tmp.path(), "production", target, &out, kind, &[]).success();
            let files = crate::support::file_names(&tmp.path().join(&out));
            for single in SINGLE_SERVER_FILES {
                assert!(!files.iter().any(|f| f == single), "{out}: {single}");
            }
            listing.push_str(&format!("==== {out} ====\n"));
            for f in files.iter().filter(|f| {
                !f.starts_with("nodes/")
                    || ["nodes/data-0/", "nodes/sentinel-0/", "nodes/node-0/"]
                        .iter()
                        .any(|n| f.starts_with(n))
            }) {
                listing.push_str(&format!("{f}\n"));
            }
        }
    }
    crate::support::pin("topology-bundle-files", &listing);
}

/// standalone -> sentinel -> standalone on one host bundle: each change writes the files of
/// the new kind and removes those of the old (configs, drop-ins, firewall rules, the
/// Sentinels' ACL file, and the single server's pair, which no node reads: the way back
/// issues a new one from the same CA). The nodes' keys stay, and the bundle is otherwise the
/// standalone one it was, with the same CA and client pair.
#[test]
fn a_kind_change_there_and_back_removes_the_right_files() {
    let tmp = tempfile::tempdir().unwrap();
    let init = |kind: &str| {
        init_kind(tmp.path(), "production", "host", "b", kind, &[]).success();
        crate::support::file_names(&tmp.path().join("b"))
    };
    let standalone = init("standalone");
    let read = |rel: &str| std::fs::read(tmp.path().join("b").join(rel)).unwrap();
    let kept = ["tls/ca.key", "tls/client.key"].map(|r| (r, read(r)));
    for f in SINGLE_SERVER_FILES {
        assert!(standalone.iter().any(|s| s == f), "{f}: {standalone:?}");
    }
    let sentinel = init("sentinel");
    let gone: Vec<&String> = standalone
        .iter()
        .filter(|f| !sentinel.contains(f))
        .collect();
    assert_eq!(
        gone,
        [
            "exporter.env",
            "firewall/ip6tables.rules",
            "firewall/iptables.rules",
            "firewall/nftables.nft",
            "firewall/ufw.sh",
            "redis.conf",
            "systemd/redis-harden.conf",
            "tls/server.crt",
            "tls/server.key",
        ]
    );
    for f in [
        "nodes/data-0/redis.conf",
        "nodes/data-0/systemd/redis-harden.conf",
        "nodes/sentinel-2/sentinel.conf",
        "nodes/sentinel-2/systemd/redis-harden.conf",
        "sentinel-users.acl",
    ] {
        assert!(sentinel.iter().any(|s| s == f), "{f}: {sentinel:?}");
    }
    let back = init("standalone");
    let extra: Vec<&String> = back.iter().filter(|f| !standalone.contains(f)).collect();
    assert!(
        extra
            .iter()
            .all(|f| f.starts_with("nodes/") && f.contains("/tls/node.")),
        "{extra:?}"
    );
    assert_eq!(extra.len(), 12, "every node's key pair kept: {extra:?}");
    assert!(standalone.iter().all(|f| back.contains(f)), "{back:?}");
    for (rel, bytes) in &kept {
        assert_eq!(&read(rel), bytes, "{rel} kept through both changes");
    }
    // No empty directory of the topology is left behind but the kept keys'.
    assert!(!tmp.path().join("b/nodes/data-0/systemd").exists());
}

/// A sentinel bundle as the previous version left it: the layout of today plus the unused
/// single-server pair, issued by the bundle's own CA exactly as that version's PKI stage did
/// (`pki::ensure` with a server pair), and recorded in manifest.json as the bundle's files.
fn old_topology_bundle(dir: &Path) {
    use rand::SeedableRng;
    use redis_harden::pki;
    use redis_harden::profile::{Environment, builtin};
    use std::os::unix::fs::PermissionsExt;
    let out = dir.to_str().unwrap();
    init_kind(
        dir.parent().unwrap(),
        "production",
        "host",
        out,
        "sentinel",
        &[],
    )
    .success();
    let read = |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap();
    let project = redis_harden::values::ProjectName::parse("redis").unwrap();
    let tls = builtin(Environment::Production).tls;
    let subject = pki::Subject {
        project: &project,
        env: Environment::Production,
        tls: &tls,
        client_name: "app",
        server: true,
        extra_names: vec![],
        extra_ips: vec![],
    };
    let existing = pki::Existing {
        ca: (Some(read(pki::CA_CERT)), Some(read(pki::CA_KEY))),
        client: (Some(read(pki::CLIENT_CERT)), Some(read(pki::CLIENT_KEY))),
        ..Default::default()
    };
    let now = time::OffsetDateTime::now_utc();
    let old = pki::ensure(
        &existing,
        &subject,
        now,
        &mut rand::rngs::StdRng::seed_from_u64(7),
    )
    .unwrap()
    .server
    .unwrap();
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for (rel, pem, secret) in [
        (pki::SERVER_CERT, &old.cert_pem, false),
        (pki::SERVER_KEY, &old.key_pem, true),
    ] {
        let path = dir.join(rel);
        std::fs::write(&path, pem).unwrap();
        let mode = if secret { 0o600 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut entry = serde_json::json!({"mode": format!("{mode:04o}"), "secret": secret});
        if !secret {
            entry["sha256"] = redis_harden::bundle::manifest::sha256_hex(pem.as_bytes()).into();
        }
        manifest["files"][rel] = entry;
    }
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// The paths a `--format json` summary lists with `action`.
fn listed(stdout: &str, action: &str) -> Vec<String> {
    let summary: serde_json::Value = serde_json::from_str(stdout).unwrap();
    let mut out: Vec<String> = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == action)
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// A topology bundle of the previous version upgrades cleanly: `check` reports the unused
/// server pair as stale, the next `render` removes exactly it in its transaction (listed as
/// removed, gone from the manifest) and changes nothing else, and `check` is then clean. A
/// `rotate certs` on such a bundle removes the pair too, rotates only what nodes and clients
/// use, and finishes. A stray file the manifest does not record is left alone.
#[test]
fn an_old_topology_bundle_loses_the_unused_server_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let pair = ["tls/server.crt", "tls/server.key"];
    let b = tmp.path().join("b");
    old_topology_bundle(&b);
    // `redis-harden WORDS... --env production --out OUT --format json`.
    let json = |words: &[&str], out: &str| {
        let tail = ["--env", "production", "--out", out, "--format", "json"];
        run(tmp.path(), &[words, &tail[..]].concat())
    };
    let found = json(&["check"], "b");
    found.failure(1);
    for rel in pair {
        assert!(
            found.stdout.contains(&format!("\"artifact\": \"{rel}\"")),
            "{}",
            found.stdout
        );
    }
    assert!(
        found.stdout.contains("\"kind\": \"stale\""),
        "{}",
        found.stdout
    );
    let before = crate::support::tree(&b);
    let done = json(&["render"], "b");
    done.success();
    assert_eq!(listed(&done.stdout, "removed"), pair);
    let after = crate::support::tree(&b);
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert_eq!(
        changed,
        ["manifest.json", "tls/server.crt", "tls/server.key"]
    );
    assert!(after.keys().all(|p| before.contains_key(p)), "nothing new");
    let manifest = std::fs::read_to_string(b.join("manifest.json")).unwrap();
    assert!(!manifest.contains("tls/server."), "{manifest}");
    json(&["check"], "b").success();

    // rotate certs on another old bundle: the pair goes in the same transaction.
    let r = tmp.path().join("r");
    old_topology_bundle(&r);
    let rotated = json(&["rotate", "certs"], "r");
    rotated.success();
    assert_eq!(listed(&rotated.stdout, "removed"), pair);
    let created = listed(&rotated.stdout, "created");
    assert!(
        created.iter().all(|f| !f.starts_with("tls/server.")),
        "{created:?}"
    );
    assert!(
        created.contains(&"tls/client.previous.key".to_owned()),
        "{created:?}"
    );
    json(&["rotate", "certs", "--finish"], "r").success();
    let names = crate::support::file_names(&r);
    assert!(
        !names
            .iter()
            .any(|f| f.contains("server.") || f.contains(".previous.")),
        "{names:?}"
    );
    json(&["check"], "r").success();

    // A pair the manifest does not record is not the bundle's: left alone, reported by check.
    std::fs::copy(r.join("tls/client.crt"), r.join("tls/server.crt")).unwrap();
    let kept = json(&["render"], "r");
    kept.success();
    assert!(
        listed(&kept.stdout, "removed").is_empty(),
        "{}",
        kept.stdout
    );
    assert!(r.join("tls/server.crt").exists());
    json(&["check"], "r")
        .failure(1)
        .stdout_has("\"artifact\": \"tls/server.crt\"");
}
