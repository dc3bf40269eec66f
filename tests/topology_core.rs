//! Topologies (issue 11), the core: every node config `init` writes loads in the real server
//! (Redis 7.0 and Valkey 8.1), replicas link to the primary over TLS as the replication user,
//! the Sentinels find the primary, the replicas and each other, and no node logs an ACL
//! denial. (The failover tests are in their own file.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{REDIS_7_0, Server, ServerUnderTest, VALKEY_8_1, env_file, run};

/// `n` consecutive ports that were free a moment ago on 127.0.0.1 (and their bus ports,
/// 10000 above, when `bus`).
fn free_run(n: u16, bus: bool) -> u16 {
    for _ in 0..200 {
        let first = crate::support::free_port();
        if u32::from(first) + u32::from(n) + if bus { 10_000 } else { 0 } > 65_000 {
            continue;
        }
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if (first..first + n).all(|p| free(p) && (!bus || free(p + 10_000))) {
            return first;
        }
    }
    panic!("no run of {n} free ports");
}

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
        let mut args = vec![
            "init",
            "--env",
            "production",
            "--out",
            dir.to_str().unwrap(),
        ];
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

    fn start(&mut self, node: &str, conf: &str, port: u16, sentinel: bool) {
        let conf = self.dir.join("nodes").join(node).join(conf);
        let log = self.dir.join(format!("{node}.log"));
        let extra: &[&str] = if sentinel { &["--sentinel"] } else { &[] };
        self.running.push(Server::start_program(
            &self.server.server_program(),
            &conf,
            extra,
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
    let data = free_run(3, false);
    let sent = free_run(3, false);
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
}

fn cluster_nodes_load(server: &'static ServerUnderTest) {
    let first = free_run(6, true);
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

mod redis_7_0 {
    #[test]
    fn sentinel_nodes_boot_and_replicate_over_tls() {
        super::sentinel_nodes_boot_and_replicate_over_tls(&super::REDIS_7_0)
    }
    #[test]
    fn cluster_nodes_load() {
        super::cluster_nodes_load(&super::REDIS_7_0)
    }
}

mod valkey_8_1 {
    #[test]
    fn sentinel_nodes_boot_and_replicate_over_tls() {
        super::sentinel_nodes_boot_and_replicate_over_tls(&super::VALKEY_8_1)
    }
    #[test]
    fn cluster_nodes_load() {
        super::cluster_nodes_load(&super::VALKEY_8_1)
    }
}
