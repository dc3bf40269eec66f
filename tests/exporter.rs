//! The real redis_exporter (Debian's prometheus-redis-exporter 1.45) against a live
//! production bundle of each server (Redis 7.0 and 8.0, Valkey 8.1), configured by nothing but the bundle's `exporter.env`: it logs in as
//! monitoring over mTLS, every scrape succeeds, and the server records no denied command.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ALL_SERVERS, Bundle, Server, ServerUnderTest, env_file, free_port, require};

const EXPORTER: &str = "prometheus-redis-exporter";

/// A redis_exporter started with exactly the variables of `env_file` (plus a free listen
/// address); killed on drop.
struct Exporter {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Exporter {
    fn start(env: &Path, log: &Path) -> Exporter {
        require(EXPORTER, "apt-get install -y prometheus-redis-exporter");
        let port = free_port();
        let child = Command::new(EXPORTER)
            .env_clear()
            .envs(env_file(env))
            .env(
                "REDIS_EXPORTER_WEB_LISTEN_ADDRESS",
                format!("127.0.0.1:{port}"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::create(log.with_extension("err")).unwrap(),
            ))
            .spawn()
            .expect("start prometheus-redis-exporter");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the exporter did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Exporter {
            child,
            port,
            log: log.to_path_buf(),
        }
    }

    /// GET /metrics (one scrape of the server).
    fn scrape(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.0 200"), "{body}");
        body
    }

    /// Both of its output streams (logrus writes to stderr).
    fn log(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text += &std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        text
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

#[test]
fn redis_exporter_scrapes_a_production_bundle_over_mtls_from_exporter_env() {
    for server in ALL_SERVERS {
        scrape_one(server);
    }
}

fn scrape_one(server: &'static ServerUnderTest) {
    // Shown with the failure: which server it was.
    eprintln!("server under test: {}", server.label);
    // admin on, only to read the ACL LOG afterwards.
    let b = Bundle::init_for(server, "production", &["--set", "acl.admin.enabled=true"]);
    let env_path = b.path("exporter.env");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&env_path).unwrap().permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "exporter.env holds monitoring's password"
    );
    let env = env_file(&env_path);
    assert_eq!(env["REDIS_USER"], "monitoring");
    assert_eq!(env["REDIS_PASSWORD"], b.password("monitoring"));
    assert!(
        env["REDIS_ADDR"].starts_with("rediss://localhost:"),
        "{env:?}"
    );

    let _server = Server::start(&b);
    assert_eq!(b.cli().login("app").run(&["SET", "k1", "v"]), "OK");
    let exporter = Exporter::start(&env_path, &b.tmp.path().join("exporter.log"));
    // The password is in the environment only, never on the command line.
    let argv = std::fs::read(format!("/proc/{}/cmdline", exporter.child.id())).unwrap();
    assert!(
        !String::from_utf8_lossy(&argv).contains(&b.password("monitoring")),
        "password on argv"
    );

    let mut metrics = String::new();
    for _ in 0..3 {
        metrics = exporter.scrape();
    }
    assert_eq!(sample(&metrics, "redis_up"), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&metrics, "redis_exporter_last_scrape_error{err=\"\"}"),
        Some(0.0),
        "{metrics}"
    );
    // Memory, clients, keyspace and latency, as a dashboard reads them.
    assert!(sample(&metrics, "redis_memory_used_bytes").unwrap() > 0.0);
    assert!(sample(&metrics, "redis_memory_max_bytes").unwrap() > 0.0);
    assert!(sample(&metrics, "redis_connected_clients").unwrap() >= 1.0);
    assert_eq!(sample(&metrics, "redis_db_keys{db=\"db0\"}"), Some(1.0));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("redis_latency_percentiles_usec{cmd=\"set\",quantile=\"99\"}")),
        "no per-command latency:\n{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("redis_commands_duration_seconds_total{cmd=\"info\"}")),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "redis_slowlog_length").is_some(),
        "{metrics}"
    );

    // No error or warning in the exporter's log (a denied CLIENT SETNAME was one per scrape)...
    let log = exporter.log();
    assert!(log.contains("Providing metrics"), "{log}");
    for bad in ["level=error", "level=warning", "level=fatal"] {
        assert!(!log.contains(bad), "{bad} in the exporter's log:\n{log}");
    }
    // ...and no denied command on the server: the ACL LOG is a security signal, not noise.
    assert_eq!(b.cli().login("admin").run(&["ACL", "LOG"]), "");
    // CONFIG GET stays denied to monitoring (it would show masterauth).
    assert!(
        b.cli()
            .login("monitoring")
            .run(&["CONFIG", "GET", "masterauth"])
            .contains("NOPERM"),
    );
}

/// exporter.env for the host (Debian's /etc/default/prometheus-redis-exporter) and docker
/// targets, from seeded test secrets.
#[test]
fn exporter_env_for_host_and_docker() {
    use redis_harden::{profile::Environment, render::Target};
    let mut pinned = String::new();
    for target in [Target::Host, Target::Docker] {
        let (_, files) = crate::support::render_seeded(Environment::Production, target, &[]);
        pinned += &format!("==== {target}: exporter.env ====\n");
        pinned += &files["exporter.env"].content;
        assert_eq!(files["exporter.env"].mode, 0o600);
    }
    crate::support::pin("exporter-env", &pinned);
}
