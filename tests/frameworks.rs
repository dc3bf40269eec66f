//! client.env works unchanged with the clients and frameworks teams plug Redis into: redis-py's
//! `Redis.from_url`, Django's built-in RedisCache and Celery (broker and result backend) get
//! nothing but REDIS_URL, against a live production bundle (mTLS, ACL users) of every
//! supported server (Redis 7.0 and 8.0, Valkey 8.0 and 8.1). And the
//! scripting switch (`acl.app.scripting`): off by default, redis-py's Lock is refused; on, it
//! works, with a low-severity warning from the gate and from `audit`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::live::on_every_server;
use crate::support::{Bundle, Server, ServerUnderTest, env_file, require_python, run};

// Every live test here runs on Redis 7.0 and 8.0 and Valkey 8.0 and 8.1.
on_every_server!(
    python_clients_and_frameworks_connect_from_client_env_unchanged,
    redis_py_lock_needs_the_scripting_switch,
    ioredis_and_node_redis_connect_from_client_env,
);

/// Runs tests/clients/frameworks.py MODE with exactly client.env's variables in its
/// environment (as `set -a; . ./client.env` gives them): nothing else may help it connect.
fn python(b: &Bundle, mode: &str) -> (bool, String) {
    for (module, pip) in [
        ("redis", "redis==5.2.1"),
        ("django", "Django==5.1.4"),
        ("celery", "celery==5.4.0"),
    ] {
        require_python(module, pip);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/frameworks.py");
    let out = Command::new("timeout")
        .args(["-k", "1", "90", "python3"])
        .arg(script)
        .arg(mode)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .envs(env_file(&b.path("client.env")))
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.starts_with("ok: "), text)
}

fn python_clients_and_frameworks_connect_from_client_env_unchanged(srv: &'static ServerUnderTest) {
    // Celery's worker takes a redis-py Lock (kombu's Redis transport): it needs scripting.
    let b = Bundle::init_for(srv, "production", &["--set", "acl.app.scripting=true"]);
    let env = env_file(&b.path("client.env"));
    assert!(env["REDIS_URL"].starts_with("rediss://app:"), "{env:?}");
    let _server = Server::start(&b);
    for mode in ["redis-py", "django", "celery"] {
        let (ok, text) = python(&b, mode);
        assert!(ok, "{mode} from client.env:\n{text}");
    }
    // The URL alone carries the TLS settings: with the CA removed from it, redis-py refuses
    // the server (so it is the URL, not a default, that made the connections above verify).
    let mut no_ca = env_file(&b.path("client.env"));
    let url = no_ca["REDIS_URL"].clone();
    let ca = format!("&ssl_ca_certs={}", b.path("tls/ca.crt").display());
    assert!(url.contains(&ca), "{url}");
    no_ca.insert("REDIS_URL".into(), url.replace(&ca, ""));
    let out = Command::new("timeout")
        .args(["-k", "1", "60", "python3", "-c"])
        .arg("import os, redis; redis.Redis.from_url(os.environ['REDIS_URL']).ping()")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(&no_ca)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("CERTIFICATE_VERIFY_FAILED"),
        "{text}"
    );
}

fn redis_py_lock_needs_the_scripting_switch(srv: &'static ServerUnderTest) {
    // Off by default: the app user may not run EVALSHA, so Lock.release() fails.
    let off = Bundle::init_for(srv, "production", &[]);
    let acl = std::fs::read_to_string(off.path("users.acl")).unwrap();
    assert!(!acl.contains("+evalsha"), "{acl}");
    let server = Server::start(&off);
    let (ok, text) = python(&off, "lock");
    assert!(
        !ok && text.contains("NoPermissionError") && text.contains("evalsha"),
        "{text}"
    );
    drop(server);

    // On: init accepts it in production with a warning naming the rule, and Lock works.
    let tmp = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let dir = tmp.path().join("bundle");
    let port_set = format!("redis.port={port}");
    let mut args = vec![
        "init",
        "--env",
        "production",
        "--out",
        dir.to_str().unwrap(),
        "--set",
        &port_set,
        "--set",
        "acl.app.scripting=true",
    ];
    args.extend_from_slice(srv.init_args);
    run(tmp.path(), &args)
        .success()
        .stderr_has("[app-scripting]");
    let on = Bundle {
        tmp,
        dir,
        port,
        env: "production".into(),
        server: srv,
    };
    let _server = Server::start(&on);
    let (ok, text) = python(&on, "lock");
    assert!(ok, "{text}");
    // Only running scripts: FUNCTION and SCRIPT FLUSH stay refused.
    for cmd in [
        &["SCRIPT", "FLUSH"][..],
        &["FUNCTION", "FLUSH"],
        &["FCALL", "f", "0"],
    ] {
        let said = on.cli().login("app").run(cmd);
        assert!(said.contains("NOPERM"), "{cmd:?}: {said}");
    }
    assert_eq!(on.cli().login("app").run(&["EVAL", "return 1", "0"]), "1");

    // audit reports it at low severity, and only that (judged by the server's own tables).
    let acl = on.path("users.acl");
    let mut args = vec![
        "audit",
        "--env",
        "production",
        "--format",
        "json",
        acl.to_str().unwrap(),
    ];
    args.extend_from_slice(srv.init_args);
    let r = run(on.tmp.path(), &args);
    let report: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    let findings: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"))
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        [("app-scripting".into(), "low".into())],
        "{report}"
    );
}

/// Runs tests/clients/node/clients.js MODE with client.env's variables (plus `extra`).
fn node(b: &Bundle, mode: &str, extra: &[(&str, &Path)]) -> (bool, String) {
    crate::support::require("node", "apt-get install -y nodejs npm");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    for module in ["ioredis", "redis"] {
        assert!(
            dir.join("node_modules").join(module).is_dir(),
            "{module} is not installed for the Node client test; install it with: \
             (cd tests/clients/node && npm ci)"
        );
    }
    let out = Command::new("timeout")
        .args(["-k", "1", "60", "node"])
        .arg(dir.join("clients.js"))
        .arg(mode)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env_file(&b.path("client.env")))
        .envs(extra.iter().map(|(k, v)| (k, v.as_os_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.starts_with("ok: "), text)
}

/// ioredis and node-redis take REDIS_URL as it is (its query, for the Python clients, is
/// ignored) plus the REDIS_TLS_* files, and verify the server against the bundle's CA.
fn ioredis_and_node_redis_connect_from_client_env(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "production", &[]);
    let other = Bundle::init_for(srv, "production", &[]);
    let _server = Server::start(&b);
    for mode in ["ioredis", "node-redis"] {
        let (ok, text) = node(&b, mode, &[]);
        assert!(ok, "{mode}:\n{text}");
        // Nothing on stderr (ioredis warns there when its ready check is refused).
        assert_eq!(text.lines().count(), 1, "{mode}:\n{text}");
        let (ok, text) = node(
            &b,
            mode,
            &[("REDIS_TLS_CA_FILE", &other.path("tls/ca.crt"))],
        );
        assert!(
            !ok && text.to_lowercase().contains("certificate"),
            "{mode} accepted a server certificate from another CA:\n{text}"
        );
    }
}

/// Dragonfly cannot grant SCRIPT LOAD alone: the switch is bad input there, and nothing is
/// written.
#[test]
fn the_scripting_switch_is_refused_for_dragonfly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--target",
            "docker",
            "--out",
            dir.to_str().unwrap(),
            "--set",
            "engine=dragonfly",
            "--set",
            "acl.app.scripting=true",
        ],
    )
    .failure(2)
    .stderr_has("`acl.app.scripting` = true: Dragonfly's ACL file has no subcommand rules");
    assert!(!dir.exists());
}
