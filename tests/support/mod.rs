//! Shared helpers for the integration tests: running the binary hermetically, snapshotting a
//! directory to prove it did not change, and the live-server harness (a real `redis-server`
//! on a free loopback port, real clients).
//!
//! A test that needs an external tool calls [`require`]: a missing tool fails the test with
//! an install hint. Nothing here ever skips.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod netns;
pub mod store;
pub mod strace;
pub mod topology;

pub const BIN: &str = env!("CARGO_BIN_EXE_redis-harden");

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
}

/// `cmd` run in `cwd` with a clean environment (no stray REDIS_* variables).
pub fn hermetic(mut cmd: Command, cwd: &Path) -> Command {
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C");
    cmd
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `redis-harden ARGS` in `cwd` with a clean environment.
pub fn run(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = hermetic(Command::new(BIN), cwd);
    cmd.args(args).output().expect("run redis-harden").into()
}

impl Run {
    /// The `next:` line a successful `init` printed, without its label.
    #[track_caller]
    pub fn next_line(&self) -> &str {
        self.success();
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("next: "))
            .unwrap_or_else(|| panic!("no next: line:\n{}", self.stdout))
    }
}

/// One `#[test]` per NAME and server, `mod redis_7_0 { fn NAME() }` and `mod valkey_8_1
/// { fn NAME() }`, each calling `NAME(&SERVER)`: the servers the live topology tests run on
/// (Debian 12's Redis 7.0 and Debian 13's Valkey 8.1).
macro_rules! on_topology_servers {
    ($($name:ident),* $(,)?) => {
        mod redis_7_0 {
            $(#[test] fn $name() { super::$name(&crate::support::REDIS_7_0) })*
        }
        mod valkey_8_1 {
            $(#[test] fn $name() { super::$name(&crate::support::VALKEY_8_1) })*
        }
    };
}
pub(crate) use on_topology_servers;

/// Every file under `dir` with its bytes and mode: compare two of these to prove nothing
/// was created, changed or re-moded. A bundle's record of its last transaction
/// (`.txn/N.done`, see src/bundle/txn.rs) is bookkeeping, not content, and is left out;
/// anything else in `.txn/` (a staged file, an open journal) is in.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut t = tree_all(dir);
    t.retain(|p, _| {
        let in_txn = p.parent().and_then(Path::file_name) == Some(".txn".as_ref());
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        !(p.file_name() == Some(".txn".as_ref()) || in_txn && store::is_record(&name))
    });
    t
}

/// The files of [`tree`] (no directories, no transaction record), relative, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|(_, (bytes, _))| bytes != b"<dir>")
        .map(|(p, _)| p.display().to_string())
        .collect()
}

/// [`tree`] with everything, the transaction record included.
pub fn tree_all(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry.path().strip_prefix(dir).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (b"<dir>".to_vec(), mode));
                stack.push(entry.path());
            } else {
                out.insert(rel, (std::fs::read(entry.path()).unwrap(), mode));
            }
        }
    }
    out
}

/// Parses a KEY=value env file (secrets.env, client.env) as a shell, systemd and compose do
/// for our values: a value in double quotes loses them.
pub fn env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Fails the test unless `tool` is on PATH, with the command that installs it.
#[track_caller]
pub fn require(tool: &str, install: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; this test needs it. Install it with: {install}"
    );
}

/// Fails the test unless `python3` can import `module`.
#[track_caller]
pub fn require_python(module: &str, pip: &str) {
    require("python3", "apt-get install -y python3");
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import `{module}`; install it with: pip install {pip}"
    );
}

/// A port that was free a moment ago on 127.0.0.1, from the same allocator as the
/// topology tests' port blocks: the kernel's `bind(0)` may hand one port to two test threads,
/// and its ephemeral range is where clients' outgoing connections live.
pub fn free_port() -> u16 {
    topology::free_port_block(1, None)
}

/// One real server the live tests boot: an engine and version of redis-harden, and the
/// programs of the release it is proven on.
#[derive(Debug)]
pub struct ServerUnderTest {
    /// `redis-7.0`: for messages.
    pub label: &'static str,
    /// What `init` needs to target it.
    pub init_args: &'static [&'static str],
    pub engine: redis_harden::profile::Engine,
    pub version: (u16, u16),
    /// The release `INFO server` reports, as `FIELD:VALUE`.
    pub info_version: &'static str,
    /// Program names; a bare name is looked up on PATH, others under the private prefix
    /// made by tests/install-servers.sh.
    server: &'static str,
    cli: &'static str,
    install: &'static str,
}

const INSTALL_PREFIXED: &str =
    "sudo bash tests/install-servers.sh (Debian 13's packages in /opt/redis-harden-servers)";

/// Debian 12's own redis-server 7.0.15: the default engine and version.
pub const REDIS_7_0: ServerUnderTest = ServerUnderTest {
    label: "redis-7.0",
    init_args: &[],
    engine: redis_harden::profile::Engine::Redis,
    version: (7, 0),
    info_version: "redis_version:7.0.15",
    server: "redis-server",
    cli: "redis-cli",
    install: "apt-get install -y redis-server redis-tools",
};

/// Debian 13's redis-server 8.0.2 (tests/install-servers.sh).
pub const REDIS_8_0: ServerUnderTest = ServerUnderTest {
    label: "redis-8.0",
    init_args: &["--set", "server.version=8.0"],
    engine: redis_harden::profile::Engine::Redis,
    version: (8, 0),
    info_version: "redis_version:8.0.2",
    server: "redis8-server",
    cli: "redis8-cli",
    install: INSTALL_PREFIXED,
};

/// Debian 13's valkey-server 8.1.1 (tests/install-servers.sh). Its INFO says
/// `redis_version:7.2.4` for compatibility; `valkey_version` is the real one.
pub const VALKEY_8_1: ServerUnderTest = ServerUnderTest {
    label: "valkey-8.1",
    init_args: &["--engine", "valkey"],
    engine: redis_harden::profile::Engine::Valkey,
    version: (8, 1),
    info_version: "valkey_version:8.1.1",
    server: "valkey-server",
    cli: "valkey-cli",
    install: INSTALL_PREFIXED,
};

/// bookworm-backports' valkey-server 8.0.1 (tests/install-servers.sh).
pub const VALKEY_8_0: ServerUnderTest = ServerUnderTest {
    label: "valkey-8.0",
    init_args: &["--engine", "valkey", "--set", "server.version=8.0"],
    engine: redis_harden::profile::Engine::Valkey,
    version: (8, 0),
    info_version: "valkey_version:8.0.1",
    server: "valkey80-server",
    cli: "valkey80-cli",
    install: INSTALL_PREFIXED,
};

pub const ALL_SERVERS: [&ServerUnderTest; 4] = [&REDIS_7_0, &REDIS_8_0, &VALKEY_8_0, &VALKEY_8_1];

/// Where tests/install-servers.sh puts Redis 8 and Valkey.
pub fn servers_prefix() -> PathBuf {
    std::env::var_os("REDIS_HARDEN_SERVERS")
        .map_or_else(|| PathBuf::from("/opt/redis-harden-servers"), PathBuf::from)
}

impl ServerUnderTest {
    #[track_caller]
    fn program(&self, name: &str) -> PathBuf {
        if self.install == INSTALL_PREFIXED {
            let path = servers_prefix().join("bin").join(name);
            assert!(
                path.is_file(),
                "{} is not installed ({} is missing); this test needs it. Install it with: {}",
                self.label,
                path.display(),
                self.install
            );
            path
        } else {
            require(name, self.install);
            PathBuf::from(name)
        }
    }

    #[track_caller]
    pub fn server_program(&self) -> PathBuf {
        self.program(self.server)
    }

    #[track_caller]
    pub fn cli_program(&self) -> PathBuf {
        self.program(self.cli)
    }

    /// redis-harden's facts about this server.
    pub fn facts(&self) -> &'static redis_harden::server::Facts {
        let (major, minor) = self.version;
        redis_harden::server::facts(
            self.engine,
            redis_harden::server::ServerVersion::new(major, minor),
        )
        .expect("a supported version")
    }
}

/// A bundle made by `init --target local` in a temp dir, with the server on a free port.
pub struct Bundle {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub port: u16,
    pub env: String,
    /// The server it is made for, and which the harness boots.
    pub server: &'static ServerUnderTest,
}

impl Bundle {
    /// Runs `init --env ENV --target local` with the port set to a free one, plus `extra` args.
    pub fn init(env: &str, extra: &[&str]) -> Bundle {
        Bundle::init_for(&REDIS_7_0, env, extra)
    }

    /// As [`Bundle::init`], for the engine and version of `server`.
    pub fn init_for(server: &'static ServerUnderTest, env: &str, extra: &[&str]) -> Bundle {
        let tmp = tempfile::tempdir().unwrap();
        let port = free_port();
        let dir = tmp.path().join("bundle");
        let port_set = format!("redis.port={port}");
        let mut args = vec![
            "init",
            "--env",
            env,
            "--out",
            dir.to_str().unwrap(),
            "--set",
            &port_set,
        ];
        args.extend_from_slice(server.init_args);
        args.extend_from_slice(extra);
        run(tmp.path(), &args).success();
        Bundle {
            tmp,
            dir,
            port,
            env: env.into(),
            server,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn secret(&self, name: &str) -> String {
        env_file(&self.path("secrets.env"))
            .remove(name)
            .unwrap_or_else(|| panic!("{name} not in secrets.env"))
    }

    pub fn password(&self, user: &str) -> String {
        self.secret(&format!("REDIS_PASSWORD_{}", user.to_uppercase()))
    }

    /// A redis-cli invocation against this bundle's server.
    pub fn cli(&self) -> Cli<'_> {
        Cli {
            bundle: self,
            tls: true,
            cert: true,
            user: None,
            cert_files: None,
            ca_file: None,
        }
    }
}

/// A real server (`redis-server`, `valkey-server`) started from a bundle's redis.conf; killed
/// on drop.
pub struct Server {
    child: Child,
    pub pid: u32,
    log: PathBuf,
}

impl Server {
    /// Starts the bundle's server (`redis-server DIR/redis.conf`, or the server of the
    /// bundle's engine and version) unchanged and waits until it accepts connections.
    pub fn start(bundle: &Bundle) -> Server {
        let log = bundle.tmp.path().join("redis-server.log");
        Server::start_program(
            &bundle.server.server_program(),
            &bundle.path("redis.conf"),
            &[],
            bundle.port,
            &log,
        )
    }

    /// Starts `redis-server CONF OVERRIDES...` (command-line overrides such as
    /// `--port N --dir DIR` win over the file), logging to `log`, and waits until it accepts
    /// connections on 127.0.0.1:`port`.
    pub fn start_conf(conf: &Path, overrides: &[&str], port: u16, log: &Path) -> Server {
        Server::start_program(&REDIS_7_0.server_program(), conf, overrides, port, log)
    }

    /// As [`Server::start_conf`], with another server program.
    pub fn start_program(
        program: &Path,
        conf: &Path,
        overrides: &[&str],
        port: u16,
        log: &Path,
    ) -> Server {
        let mut cmd = Command::new(program);
        cmd.arg(conf).args(overrides);
        Server::start_command(cmd, port, log)
    }

    /// As [`Server::start_program`], for a prepared command (an environment, a shell that
    /// sets the umask and `exec`s the server, so the PID stays the server's).
    pub fn start_command(mut cmd: Command, port: u16, log: &Path) -> Server {
        let log = log.to_path_buf();
        // The wrappers of tests/install-servers.sh `exec` the server, so this PID is its own.
        let child = cmd
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut server = Server {
            pid: child.id(),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("redis-server exited with {status}:\n{}", server.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The TCP ports this process listens on (from /proc: its socket inodes, matched
    /// against the kernel's table of listening sockets).
    pub fn listening_ports(&self) -> Vec<u16> {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                l.strip_prefix("socket:[")?
                    .strip_suffix(']')
                    .map(str::to_owned)
            })
            .collect();
        let mut ports = vec![];
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                // state 0A = LISTEN; column 9 is the inode
                if cols.len() > 9 && cols[3] == "0A" && inodes.iter().any(|i| i == cols[9]) {
                    let port = cols[1].rsplit(':').next().unwrap();
                    ports.push(u16::from_str_radix(port, 16).unwrap());
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builder for one redis-cli command against a bundle.
pub struct Cli<'a> {
    bundle: &'a Bundle,
    tls: bool,
    cert: bool,
    user: Option<(String, String)>,
    /// Client certificate and key, relative to the bundle [default: tls/client.crt/.key].
    cert_files: Option<(String, String)>,
    ca_file: Option<PathBuf>,
}

impl Cli<'_> {
    pub fn plaintext(mut self) -> Self {
        self.tls = false;
        self
    }
    pub fn without_client_cert(mut self) -> Self {
        self.cert = false;
        self
    }
    /// Present another certificate pair from the bundle (e.g. `tls/client.previous.crt`).
    pub fn client_cert(mut self, cert: &str, key: &str) -> Self {
        self.cert_files = Some((cert.into(), key.into()));
        self
    }
    /// Trust this CA file instead of the bundle's tls/ca.crt.
    pub fn ca(mut self, path: &Path) -> Self {
        self.ca_file = Some(path.to_path_buf());
        self
    }
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }
    pub fn login(self, name: &str) -> Self {
        let pw = self.bundle.password(name);
        self.user(name, &pw)
    }

    /// Runs the command; returns stdout+stderr joined (redis-cli prints error replies on
    /// stdout with exit code 0, and connection errors on stderr).
    pub fn run(&self, args: &[&str]) -> String {
        let b = self.bundle;
        let cli = b.server.cli_program();
        // A TLS client talking to a plaintext server waits forever for a ServerHello: bound
        // every call so a refused connection shows as a failure, not a hung test.
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "1", "10"]);
        cmd.arg(&cli)
            .args(["-h", "localhost", "-p", &b.port.to_string()]);
        if self.tls {
            let ca = self.ca_file.clone().unwrap_or_else(|| b.path("tls/ca.crt"));
            cmd.arg("--tls").arg("--cacert").arg(ca);
            if self.cert {
                let (cert, key) = self
                    .cert_files
                    .clone()
                    .unwrap_or_else(|| ("tls/client.crt".into(), "tls/client.key".into()));
                cmd.arg("--cert").arg(b.path(&cert));
                cmd.arg("--key").arg(b.path(&key));
            }
        }
        if let Some((user, pw)) = &self.user {
            // REDISCLI_AUTH keeps the password off the command line.
            cmd.args(["--user", user, "--no-auth-warning"])
                .env("REDISCLI_AUTH", pw);
        }
        let out: Output = cmd
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

/// Renders a bundle in process from deterministic inputs: built-in profile of `env` plus
/// `sets`, secrets from a seeded RNG (test values, never real ones), a fixed output path.
/// What every snapshot test pins.
pub fn render_seeded(
    env: redis_harden::profile::Environment,
    target: redis_harden::render::Target,
    sets: &[String],
) -> (
    redis_harden::profile::Resolved,
    redis_harden::render::Rendered,
) {
    use redis_harden::{profile, render, templates::Templates, values::ConfPath};
    let resolved = profile::resolve(env, None, sets, Path::new("/nonexistent")).unwrap();
    let secrets = seeded_secrets(&resolved.settings);
    let out_dir = ConfPath::parse(&format!("/srv/redis-harden/{env}")).unwrap();
    let files = render::render(
        &Templates::builtin().unwrap(),
        &render::Input {
            project: &resolved.project,
            env,
            profile: &resolved.settings,
            secrets: &secrets,
            target,
            out_dir: &out_dir,
        },
    )
    .unwrap();
    (resolved, files)
}

/// The secrets `render_seeded` renders with: test values from a seeded RNG.
pub fn seeded_secrets(
    settings: &redis_harden::profile::EnvProfile,
) -> redis_harden::secrets::Secrets {
    use rand::SeedableRng;
    let mut secrets = redis_harden::secrets::Secrets::default();
    secrets.ensure(settings, &mut rand::rngs::StdRng::seed_from_u64(42));
    secrets
}

/// A finished process's stdout then stderr, as text: for assertions and their messages.
pub fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with `input` as its standard input and collects what it printed.
pub fn output_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Pins `content` as snapshot `name` under the top-level snapshots/ directory.
pub fn pin(name: &str, content: &str) {
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, content);
    });
}

/// Whether the tests run as root (effective uid 0).
pub fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}
