//! Every TLS bundle passes an outside scan: sslyze against a live redis-server started the
//! way the bundle says (`init`'s printed start line, OPENSSL_CONF included), with the
//! bundle's client certificate, checked against Mozilla's profile of the environment
//! (`modern` for production, `intermediate` for staging and development).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ALL_SERVERS, free_port, require_python, run};

/// A process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `init`'s `next:` line, split into the OPENSSL_CONF value, the program and the config path.
fn start_line(stdout: &str) -> (String, String, String) {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("next: "))
        .unwrap_or_else(|| panic!("no next: line:\n{stdout}"));
    let rest = line
        .strip_prefix("OPENSSL_CONF=")
        .unwrap_or_else(|| panic!("the start line does not set OPENSSL_CONF: {line}"));
    let (cnf, cmd) = rest.split_once(' ').unwrap();
    let (program, conf) = cmd
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a start line: {line}"));
    (cnf.to_owned(), program.to_owned(), conf.to_owned())
}

#[test]
fn every_tls_bundle_is_mozilla_compliant_under_sslyze() {
    require_python("sslyze", "sslyze");
    let envs = [
        ("production", "modern"),
        ("staging", "intermediate"),
        ("development", "intermediate"),
    ];
    for (srv, (env, mozilla)) in ALL_SERVERS
        .iter()
        .flat_map(|s| envs.iter().map(move |e| (s, *e)))
    {
        let program = srv.server_program();
        let ctx = format!("{} {env}", srv.label);
        let tmp = tempfile::tempdir().unwrap();
        let port = free_port();
        let port_set = format!("redis.port={port}");
        let mut args = vec!["init", "--env", env, "--out", "bundle", "--set", &port_set];
        args.extend_from_slice(srv.init_args);
        let r = run(tmp.path(), &args);
        r.success();
        // The program as the test harness installed it (Redis 8 is `redis8-server` there).
        let (cnf, _program, conf) = start_line(&r.stdout);
        assert_eq!(cnf, "bundle/openssl.cnf", "{ctx}");
        let log = std::fs::File::create(tmp.path().join("server.log")).unwrap();
        let _server = Killed(
            Command::new(&program)
                .arg(&conf)
                .env("OPENSSL_CONF", &cnf)
                .current_dir(tmp.path())
                .stdout(Stdio::from(log))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{ctx}: the server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = Command::new("timeout")
            .args(["-k", "5", "120", "python3", "-m", "sslyze"])
            .arg(format!("--mozilla_config={mozilla}"))
            .args([
                "--cert",
                "bundle/tls/client.crt",
                "--key",
                "bundle/tls/client.key",
            ])
            .args(["--certinfo_ca_file", "bundle/tls/ca.crt"])
            .arg(format!("localhost:{port}"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            report.contains(&format!("localhost:{port}: OK - Compliant.")),
            "{ctx}: sslyze --mozilla_config={mozilla} did not find the server compliant:\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
