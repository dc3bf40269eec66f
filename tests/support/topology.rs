//! The live harness for multi-node bundles (Sentinel, Cluster): a block of free loopback
//! ports, `init` of a topology bundle into a temp dir, every node started from its own
//! config under `nodes/NAME/` with the real server program, `kill -9` and restart of one
//! node, bounded waits, a cli per node and a redis-py runner.
//!
//! The harness reads the bundle, not the model: a node is a directory `nodes/NAME/` holding
//! `redis.conf` (a data node) or `sentinel.conf` (a sentinel), and its port is the config's
//! `tls-port` (or `port` when TLS is off). So it boots exactly what `init` wrote.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Server, ServerUnderTest, env_file, require_python, run};

/// Where every live test's ports are taken from: below the kernel's ephemeral range
/// (32768-60999, where clients' outgoing connections get their ports), and a cluster's bus
/// ports (+10000) stay below it too.
const BLOCK_RANGE: std::ops::Range<u16> = 12000..22000;

/// The next candidate block start, shared by every test thread of this process. Each
/// process starts at an offset from its PID, so two suites running at once rarely probe
/// the same ports (and a probe that finds a port taken moves on).
static NEXT_BLOCK: Mutex<Option<u16>> = Mutex::new(None);

/// The first of `n` consecutive loopback ports that were all free a moment ago (and, with
/// `also_at = Some(off)`, ports `+off` of each as well: a cluster's bus ports).
pub fn free_port_block(n: u16, also_at: Option<u16>) -> u16 {
    let span = BLOCK_RANGE.end - BLOCK_RANGE.start;
    let mut next = NEXT_BLOCK.lock().unwrap();
    let mut start =
        next.unwrap_or_else(|| BLOCK_RANGE.start + (std::process::id() % u32::from(span)) as u16);
    for _ in 0..span {
        if start + n > BLOCK_RANGE.end {
            start = BLOCK_RANGE.start;
        }
        let all_free = (start..start + n).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok()
                && also_at.is_none_or(|off| TcpListener::bind(("127.0.0.1", p + off)).is_ok())
        });
        if all_free {
            *next = Some(start + n);
            return start;
        }
        start += 1;
    }
    panic!("no block of {n} free loopback ports in {BLOCK_RANGE:?}");
}

/// The first of `n` consecutive free loopback ports.
pub fn free_port_run(n: u16) -> u16 {
    free_port_block(n, None)
}

/// The shape of a topology bundle: what `init` is told, and how many ports it needs.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Sentinel {
        replicas: u16,
        sentinels: u16,
    },
    Cluster {
        shards: u16,
        replicas_per_shard: u16,
    },
}

impl Shape {
    fn data_nodes(self) -> u16 {
        match self {
            Shape::Sentinel { replicas, .. } => 1 + replicas,
            Shape::Cluster {
                shards,
                replicas_per_shard,
            } => shards * (1 + replicas_per_shard),
        }
    }

    fn sets(self) -> Vec<String> {
        match self {
            Shape::Sentinel {
                replicas,
                sentinels,
            } => vec![
                "topology.kind=sentinel".into(),
                format!("topology.replicas={replicas}"),
                format!("topology.sentinels={sentinels}"),
            ],
            Shape::Cluster {
                shards,
                replicas_per_shard,
            } => vec![
                "topology.kind=cluster".into(),
                format!("topology.shards={shards}"),
                format!("topology.replicas_per_shard={replicas_per_shard}"),
            ],
        }
    }
}

/// A multi-node bundle in a temp dir (removed on drop).
pub struct Topology {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub env: String,
    /// The server program every node runs (and whose cli the harness uses).
    pub server: &'static ServerUnderTest,
    /// The first data port and the first sentinel port (0 when the shape has none).
    pub data_port: u16,
    pub sentinel_port: u16,
}

impl Topology {
    /// `init --env ENV --target local` of `shape` for `server`, on a fresh block of free
    /// ports (`redis.port`, `topology.sentinel_port`), plus `extra` args.
    pub fn init(
        server: &'static ServerUnderTest,
        env: &str,
        shape: Shape,
        extra: &[&str],
    ) -> Topology {
        Topology::init_for(server, env, shape, "local", extra)
    }

    /// The same for `--target TARGET` (`host`: configs that name /etc/redis, /var/lib/redis).
    pub fn init_for(
        server: &'static ServerUnderTest,
        env: &str,
        shape: Shape,
        target: &str,
        extra: &[&str],
    ) -> Topology {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        let (data_port, sentinel_port) = match shape {
            Shape::Sentinel { sentinels, .. } => {
                let first = free_port_run(shape.data_nodes() + sentinels);
                (first, first + shape.data_nodes())
            }
            Shape::Cluster { .. } => (free_port_block(shape.data_nodes(), Some(10000)), 0),
        };
        let mut sets = shape.sets();
        sets.push(format!("redis.port={data_port}"));
        if sentinel_port != 0 {
            sets.push(format!("topology.sentinel_port={sentinel_port}"));
        }
        let mut args = vec![
            "init",
            "--env",
            env,
            "--target",
            target,
            "--out",
            dir.to_str().unwrap(),
        ];
        for set in &sets {
            args.extend_from_slice(&["--set", set]);
        }
        args.extend_from_slice(server.init_args);
        args.extend_from_slice(extra);
        run(tmp.path(), &args).success();
        Topology {
            tmp,
            dir,
            env: env.into(),
            server,
            data_port,
            sentinel_port,
        }
    }

    /// A bundle made some other way (a hand-written fixture) under `tmp`.
    pub fn open(
        tmp: tempfile::TempDir,
        dir: PathBuf,
        env: &str,
        server: &'static ServerUnderTest,
    ) -> Topology {
        Topology {
            tmp,
            dir,
            env: env.into(),
            server,
            data_port: 0,
            sentinel_port: 0,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Runs `redis-harden ARGS` next to the bundle (hermetic, as [`super::run`]).
    pub fn run(&self, args: &[&str]) -> super::Run {
        run(self.tmp.path(), args)
    }

    /// Runs `redis-harden rotate KIND --env production --out BUNDLE EXTRA...`.
    pub fn rotate(&self, kind: &str, extra: &[&str]) -> super::Run {
        let dir = self.dir.to_str().unwrap();
        let mut args = vec!["rotate", kind, "--env", "production", "--out", dir];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// A value of secrets.env.
    pub fn secret(&self, name: &str) -> String {
        env_file(&self.path("secrets.env"))
            .remove(name)
            .unwrap_or_else(|| panic!("{name} not in secrets.env"))
    }

    /// The password of `user` (secrets.env's `REDIS_PASSWORD_USER`, `-` as `_`).
    pub fn password(&self, user: &str) -> String {
        self.secret(&format!(
            "REDIS_PASSWORD_{}",
            user.to_uppercase().replace('-', "_")
        ))
    }

    /// client.env, parsed.
    pub fn client_env(&self) -> BTreeMap<String, String> {
        env_file(&self.path("client.env"))
    }

    /// Every node of the bundle, in name order.
    pub fn nodes(&self) -> Vec<Node> {
        let mut nodes: Vec<Node> = std::fs::read_dir(self.path("nodes"))
            .unwrap_or_else(|e| panic!("{}: {e}", self.path("nodes").display()))
            .map(|e| Node::read(&e.unwrap().path()))
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes
    }

    #[track_caller]
    pub fn node(&self, name: &str) -> Node {
        Node::read(&self.path("nodes").join(name))
    }

    pub fn data_nodes(&self) -> Vec<Node> {
        self.nodes().into_iter().filter(|n| !n.sentinel).collect()
    }

    pub fn sentinels(&self) -> Vec<Node> {
        self.nodes().into_iter().filter(|n| n.sentinel).collect()
    }

    /// A cli call to `node` with the app's client certificate (tls/client.crt).
    pub fn cli(&self, node: &Node) -> NodeCli {
        NodeCli {
            program: self.server.cli_program(),
            port: node.port,
            tls: node.tls.then(|| {
                (
                    self.path("tls/ca.crt"),
                    self.path("tls/client.crt"),
                    self.path("tls/client.key"),
                )
            }),
            user: None,
        }
    }

    /// A cli call to the node named `name`, logged in as `user` with its password from
    /// secrets.env.
    pub fn cli_as(&self, name: &str, user: &str) -> NodeCli {
        self.cli(&self.node(name)).user(user, &self.password(user))
    }

    /// Runs the bundle's cluster-create.sh with this server family's cli (60 s at most, no
    /// environment but PATH and REDIS_CLI): whether it succeeded, and all it said.
    pub fn cluster_create(&self) -> (std::process::ExitStatus, String) {
        let out = Command::new("timeout")
            .args(["-k", "2", "60"])
            .arg(self.path("cluster-create.sh"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REDIS_CLI", self.server.cli_program())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out.status, super::said(&out))
    }

    /// Waits until every data node reports `cluster_state:ok`, asked as the cluster-admin
    /// user (CLUSTER INFO is one of its few commands).
    pub fn wait_cluster_ok(&self, within: Duration) {
        for node in &self.data_nodes() {
            wait_until(
                &format!("cluster_state:ok on {}", node.name),
                within,
                || {
                    let info = self
                        .cli_as(&node.name, "cluster-admin")
                        .run(&["CLUSTER", "INFO"]);
                    match info_field(&info, "cluster_state").as_deref() {
                        Some("ok") => Ok(()),
                        _ => Err(info),
                    }
                },
            );
        }
    }
}

/// One node of a bundle, as its config says.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// `nodes/NAME/`.
    pub dir: PathBuf,
    /// `nodes/NAME/redis.conf` or `nodes/NAME/sentinel.conf`.
    pub conf: PathBuf,
    pub sentinel: bool,
    /// The port clients dial: `tls-port`, or `port` when the config has no TLS listener.
    pub port: u16,
    pub tls: bool,
}

impl Node {
    #[track_caller]
    fn read(dir: &Path) -> Node {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (conf, sentinel) = if dir.join("sentinel.conf").is_file() {
            (dir.join("sentinel.conf"), true)
        } else {
            (dir.join("redis.conf"), false)
        };
        let text =
            std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
        let directive = |key: &str| -> Option<u16> {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix(' '))
                .filter_map(|v| v.trim().trim_matches('"').parse().ok())
                .next_back()
        };
        let (port, tls) = match directive("tls-port") {
            Some(p) if p != 0 => (p, true),
            _ => (
                directive("port").unwrap_or_else(|| panic!("{}: no port", conf.display())),
                false,
            ),
        };
        Node {
            name,
            dir: dir.to_path_buf(),
            conf,
            sentinel,
            port,
            tls,
        }
    }
}

/// The running nodes of a [`Topology`]; every process is killed on drop.
pub struct Deployment<'a> {
    pub topo: &'a Topology,
    running: BTreeMap<String, Server>,
    /// Start count per node: each start logs to its own file.
    starts: BTreeMap<String, u32>,
}

impl<'a> Deployment<'a> {
    /// Starts every data node, then every sentinel (the order the bundle's docs give),
    /// each waited for until it accepts connections.
    pub fn start(topo: &'a Topology) -> Deployment<'a> {
        let mut d = Deployment::none(topo);
        for node in topo.data_nodes().iter().chain(&topo.sentinels()) {
            d.start_node(&node.name);
        }
        d
    }

    /// Nothing running yet: start nodes one by one with [`Deployment::start_node`].
    pub fn none(topo: &'a Topology) -> Deployment<'a> {
        Deployment {
            topo,
            running: BTreeMap::new(),
            starts: BTreeMap::new(),
        }
    }

    /// Starts one node from its config, unchanged (`SERVER nodes/NAME/redis.conf`, or
    /// `SERVER nodes/NAME/sentinel.conf --sentinel`), and waits until it listens.
    #[track_caller]
    pub fn start_node(&mut self, name: &str) {
        assert!(
            !self.running.contains_key(name),
            "{name} is already running"
        );
        let node = self.topo.node(name);
        let n = self.starts.entry(name.into()).or_default();
        *n += 1;
        let logs = self.topo.tmp.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log = logs.join(format!("{name}.{n}.log"));
        // As `init` prints it: under umask 077 (Sentinel rewrites its config, which holds
        // passwords) and with the bundle's OpenSSL configuration (key-exchange groups).
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 077; exec \"$@\"", "sh"])
            .arg(self.topo.server.server_program())
            .arg(&node.conf);
        if node.sentinel {
            cmd.arg("--sentinel");
        }
        let openssl = self.topo.path("openssl.cnf");
        if openssl.is_file() {
            cmd.env("OPENSSL_CONF", openssl);
        }
        let server = Server::start_command(cmd, node.port, &log);
        self.running.insert(name.into(), server);
    }

    /// `kill -9` of one node (no shutdown, no final save: a crash).
    #[track_caller]
    pub fn kill9(&mut self, name: &str) {
        let server = self
            .running
            .remove(name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        // Server's drop sends SIGKILL and reaps the process.
        drop(server);
    }

    /// Kills one node and starts it again from the same config.
    #[track_caller]
    pub fn restart(&mut self, name: &str) {
        self.kill9(name);
        self.start_node(name);
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.running.contains_key(name)
    }

    #[track_caller]
    pub fn pid(&self, name: &str) -> u32 {
        self.running[name].pid
    }

    /// The TCP ports the node's process listens on.
    #[track_caller]
    pub fn listening_ports(&self, name: &str) -> Vec<u16> {
        self.running[name].listening_ports()
    }

    /// Every log the node wrote, oldest start first.
    pub fn log(&self, name: &str) -> String {
        let n = self.starts.get(name).copied().unwrap_or(0);
        (1..=n)
            .map(|i| {
                let path = self.topo.tmp.path().join(format!("logs/{name}.{i}.log"));
                std::fs::read_to_string(path).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("---- restarted ----\n")
    }

    /// Every running node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.starts
            .keys()
            .map(|name| format!("==== {name} ====\n{}", self.log(name)))
            .collect()
    }
}

/// One cli call to a node (the server family's own cli), bounded by a timeout.
pub struct NodeCli {
    program: PathBuf,
    port: u16,
    /// CA, certificate and key; None: plaintext.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
    user: Option<(String, String)>,
}

impl NodeCli {
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// Present this certificate and key instead of tls/client.crt.
    pub fn cert(mut self, cert: &Path, key: &Path) -> Self {
        if let Some((_, c, k)) = &mut self.tls {
            *c = cert.to_path_buf();
            *k = key.to_path_buf();
        }
        self
    }

    /// Dial without TLS (a listener that must refuse it).
    pub fn plaintext(mut self) -> Self {
        self.tls = None;
        self
    }

    /// Runs the command; stdout and stderr joined and trimmed (redis-cli prints error
    /// replies on stdout with exit 0, connection errors on stderr).
    pub fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "1", "10"]).arg(&self.program).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
        ]);
        if let Some((ca, cert, key)) = &self.tls {
            cmd.arg("--tls")
                .arg("--cacert")
                .arg(ca)
                .arg("--cert")
                .arg(cert)
                .arg("--key")
                .arg(key);
        }
        if let Some((user, pw)) = &self.user {
            // REDISCLI_AUTH keeps the password off the command line.
            cmd.args(["--user", user, "--no-auth-warning"])
                .env("REDISCLI_AUTH", pw);
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the server's cli");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_owned()
    }
}

/// A field of an INFO reply (`role`, `master_link_status`, ...).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(field)?.strip_prefix(':'))
        .map(str::to_owned)
}

/// Polls `probe` every 100 ms until it returns `Ok`, for at most `timeout`; then fails the
/// test naming `what` and the probe's last `Err`. A bound, never a timing assertion.
#[track_caller]
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Python that reads client.env (argv[1]) into `env`, as a shell would (quotes removed):
/// prepend it to a script given to [`python`].
pub const PY_CLIENT_ENV: &str = r##"
import sys
env = dict(l.split("=", 1) for l in open(sys.argv[1]).read().splitlines() if l and not l.startswith("#"))
env = {k: v[1:-1] if v[:1] == v[-1:] == '"' else v for k, v in env.items()}
"##;

/// Runs a redis-py script (`python3 -c SCRIPT ARGS...`), bounded by `timeout_secs`;
/// returns whether it exited 0 and its stdout+stderr.
pub fn python(script: &str, args: &[&str], timeout_secs: u32) -> (bool, String) {
    require_python("redis", "redis");
    let out = Command::new("timeout")
        .args([
            "-k",
            "2",
            &timeout_secs.to_string(),
            "python3",
            "-c",
            script,
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `redis-harden init --env ENV [--target TARGET] --out OUT --set topology.kind=KIND` plus
/// `extra`, in `cwd` (`target` empty: the default, local).
pub fn init_kind(
    cwd: &Path,
    env: &str,
    target: &str,
    out: &str,
    kind: &str,
    extra: &[&str],
) -> super::Run {
    let set = format!("topology.kind={kind}");
    let mut args = vec!["init", "--env", env];
    if !target.is_empty() {
        args.extend(["--target", target]);
    }
    args.extend(["--out", out, "--set", &set]);
    args.extend_from_slice(extra);
    run(cwd, &args)
}
