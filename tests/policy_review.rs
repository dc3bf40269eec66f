//! The security review of the policy gate and the audit, through the binary: a team template
//! that hides directives behind Redis's quoting and escapes is refused; first-argument ACL
//! rules, a root container and an `--out` a shell would run are bad input; the new rules
//! (weak ciphers, plaintext replication, the monitoring user, compose hardening, Dragonfly's
//! unauthenticated listeners) refuse what they should; and a plaintext live audit never sends
//! a password beyond loopback. The config parser is compared with a real redis-server 7.0.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_harden::policy;

use crate::support::{BIN, Run, Server, free_port, require, run, tree};

/// A temp working directory with team templates in `team/`.
pub(crate) fn team(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("team")).unwrap();
    for (name, text) in files {
        std::fs::write(tmp.path().join("team").join(name), text).unwrap();
    }
    tmp
}

/// A team file that extends the built-in `template` and adds `body` in its `extra` block.
pub(crate) fn extends(template: &str, body: &str) -> String {
    format!(
        "{{% extends \"builtin/{template}\" %}}{{% block extra %}}\n{body}\n{{% endblock extra %}}"
    )
}

/// The built-in template `name`, as `templates export` writes it.
pub(crate) fn builtin(name: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["templates", "export", "t"]).success();
    std::fs::read_to_string(tmp.path().join("t").join(name)).unwrap()
}

/// `init --env ENV --out fresh --templates team EXTRA` is refused (exit 1) for `rule` in
/// `artifact`, writes nothing, names the switch that would accept it, and passes with
/// `--allow-insecure RULE` (with the warning).
#[track_caller]
pub(crate) fn assert_refused_by_gate(
    files: &[(&str, &str)],
    env: &str,
    extra: &[&str],
    rule: &str,
    artifact: &str,
) {
    let tmp = team(files);
    let before = tree(tmp.path());
    let mut args = vec![
        "init",
        "--env",
        env,
        "--out",
        "fresh",
        "--templates",
        "team",
    ];
    args.extend_from_slice(extra);
    let r = run(tmp.path(), &args);
    r.failure(1);
    let finding = r
        .stderr
        .lines()
        .find(|l| l.contains(&format!("[{rule}]")))
        .unwrap_or_else(|| panic!("no [{rule}] finding:\n{}", r.stderr));
    assert!(
        finding.trim_start().starts_with(artifact),
        "the finding names another artifact: {finding}"
    );
    r.stderr_has(&format!("--allow-insecure {rule}"));
    assert!(
        !tmp.path().join("fresh").exists(),
        "a refused init created --out"
    );
    assert!(tree(tmp.path()) == before, "a refused init wrote");

    args.extend(["--allow-insecure", rule]);
    let r = run(tmp.path(), &args);
    r.success()
        .stderr_has(&format!("warning: INSECURE: policy rule {rule} accepted"));
}

// ---------------------------------------------------------------------------------------
// redis.conf parsed like Redis

/// The review's verified bypass: directives spelled with `\xHH` escapes and quotes that
/// start mid-token. Redis reads them as `protected-mode no`, `port 6380` and
/// `enable-debug-command yes`; the gate must too.
const ESCAPED_BLOCK: &str = r#""protected-mode" "n\x6f"
"p\x6frt" 6380
"enable-debug-comm\x61nd" "y\x65s"
protected-m"ode" n"o""#;

#[test]
fn a_team_template_with_escaped_directives_is_refused() {
    let tmp = team(&[(
        "redis.conf.tera",
        &extends("redis.conf.tera", ESCAPED_BLOCK),
    )]);
    let before = tree(tmp.path());
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--templates",
            "team",
        ],
    );
    r.failure(1);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    for rule in ["protected-mode", "plaintext-port", "debug-command"] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(&format!("[{rule}]")))
            .unwrap_or_else(|| panic!("no [{rule}] finding:\n{}", r.stderr));
        assert!(line.trim_start().starts_with("redis.conf:"), "{line}");
    }
    // Both protected-mode lines are the same directive: the last one is reported.
    r.stderr_has("protected-m\\\"ode\\\" n\\\"o\\\"");
    assert!(
        !tmp.path().join("out").exists(),
        "a refused init created --out"
    );
    assert!(tree(tmp.path()) == before, "a refused init wrote");
}

#[test]
fn the_audit_reads_escapes_and_quoted_passwords_like_redis() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = format!(
        "bind 127.0.0.1\nport 0\ntls-port 6379\ntls-protocols \"TLSv1.3\"\naclfile /etc/redis/users.acl\n\
         {ESCAPED_BLOCK}\nuser app on \">review-secret-pw\" ~* +@all\nloadmodule /opt/evil.so TOKEN review-module-secret\n"
    );
    std::fs::write(tmp.path().join("redis.conf"), &conf).unwrap();
    let r = run(
        tmp.path(),
        &[
            "audit",
            "--env",
            "production",
            "redis.conf",
            "--format",
            "json",
        ],
    );
    r.failure(1);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let found: Vec<(&str, Option<u64>)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["line"].as_u64()))
        .collect();
    for want in [
        ("plaintext-port", Some(7)),
        ("debug-command", Some(8)),
        ("protected-mode", Some(9)),
        ("user-in-conf", Some(10)),
        ("acl-plaintext-password", Some(10)),
        ("app-permissions", Some(10)),
        ("module-command", Some(11)),
    ] {
        assert!(found.contains(&want), "{want:?} not in {found:?}");
    }
    for secret in ["review-secret-pw", "review-module-secret"] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "a secret was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// Starts `redis-server CONF` on a free loopback port and returns CONFIG GET of `names`, or
/// the first line of its refusal.
fn redis_reads(conf: &[u8], names: &[&str]) -> Result<Vec<String>, String> {
    require("redis-server", "apt-get install -y redis-server");
    require("redis-cli", "apt-get install -y redis-tools");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("r.conf");
    let mut text = conf.to_vec();
    text.extend_from_slice(b"\nsave \"\"\nappendonly no\n");
    std::fs::write(&path, &text).unwrap();
    let port = free_port();
    let (port_s, dir) = (port.to_string(), tmp.path().to_str().unwrap().to_owned());
    let log = tmp.path().join("log");
    // A config Redis refuses makes it exit at once, with the reason on stderr.
    let child = Command::new("redis-server")
        .arg(&path)
        .args([
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            "",
        ])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{err}{out}"));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let values = names
        .iter()
        .map(|n| {
            let out = Command::new("redis-cli")
                .args(["-p", &port_s, "--raw", "CONFIG", "GET", n])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    let _ = Command::new("redis-cli")
        .args(["-p", &port_s, "SHUTDOWN", "NOSAVE"])
        .output();
    let _ = child.wait();
    Ok(values)
}

/// The parser and redis-server 7.0 agree, line by line: what Redis configures, and what it
/// refuses to start with.
#[test]
fn the_parser_agrees_with_redis_server() {
    let cases: Vec<(Vec<u8>, &[&str])> = vec![
        (
            ESCAPED_BLOCK.as_bytes().to_vec(),
            &["protected-mode", "enable-debug-command"],
        ),
        (
            br#"'maxmemory-policy' "allkeys-\x6cru""#.to_vec(),
            &["maxmemory-policy"],
        ),
        (br#"dbf"ilename" 'du\'mp.rdb'"#.to_vec(), &["dbfilename"]),
        (b"TIMEOUT\t\"7\"\r".to_vec(), &["timeout"]),
        (
            br#"enable-module-command "\y\e\s""#.to_vec(),
            &["enable-module-command"],
        ),
        (
            br#"'acllog-max-len' "1\x32\x38""#.to_vec(),
            &["acllog-max-len"],
        ),
        // fgets reads 1024 bytes at a time; sdscat cuts each read at a NUL.
        (
            [
                &b"protected-mode \0"[..],
                &vec![b'x'; 1024 - 16],
                &b"no"[..],
            ]
            .concat(),
            &["protected-mode"],
        ),
    ];
    for (conf, names) in &cases {
        let shown = String::from_utf8_lossy(conf);
        let redis = redis_reads(conf, names).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        let ours = policy::parse_redis_conf_bytes(conf);
        for (name, value) in names.iter().zip(&redis) {
            let d = ours
                .iter()
                .rev()
                .find(|d| d.name == *name)
                .unwrap_or_else(|| panic!("{shown:?}: we do not see {name}"));
            assert_eq!(d.args.join(" "), *value, "{shown:?}: {name}");
        }
    }
    for refused in [
        &br#"protected-mode "no"x"#[..],
        br#"protected-mode 'no"#,
        br#"timeout "1\"#,
        b"port 0\0 6380\nbind 127.0.0.1",
    ] {
        let shown = String::from_utf8_lossy(refused);
        let err = redis_reads(refused, &[]).expect_err(&shown);
        assert!(err.contains("FATAL CONFIG FILE ERROR"), "{shown:?}: {err}");
        // What Redis refuses configures nothing: the parser yields no directive for it, or
        // (a NUL that swallowed the newline) the same bad line Redis refuses.
        let ours = policy::parse_redis_conf_bytes(refused);
        assert!(
            ours.iter()
                .all(|d| d.name != "protected-mode" && d.name != "timeout"),
            "{shown:?}: {ours:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// new redis.conf and ACL rules, through the gate

#[test]
fn weak_ciphers_and_plaintext_replication_are_refused() {
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends("redis.conf.tera", "tls-ciphers \"HIGH:RC4-SHA:!aNULL\""),
        )],
        "staging",
        &[],
        "weak-ciphers",
        "redis.conf",
    );
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends("redis.conf.tera", "tls-replication no"),
        )],
        "production",
        &[],
        "tls-replication",
        "redis.conf",
    );
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends("redis.conf.tera", "loadmodule /opt/redis/m.so"),
        )],
        "production",
        &[],
        "module-command",
        "redis.conf",
    );
}

#[test]
fn inline_users_in_redis_conf_get_the_acl_checks_and_stay_redacted() {
    let tmp = team(&[(
        "redis.conf.tera",
        &extends(
            "redis.conf.tera",
            "user worker on \">gate-secret-pw\" ~* +@all",
        ),
    )]);
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--templates",
            "team",
        ],
    );
    r.failure(1);
    for rule in ["user-in-conf", "acl-plaintext-password", "app-permissions"] {
        r.stderr_has(&format!("[{rule}]"));
    }
    assert!(!r.stderr.contains("gate-secret-pw"), "{}", r.stderr);
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn a_monitoring_user_with_key_access_is_refused() {
    let acl = builtin("users.acl.tera");
    let widened = acl.replace(
        "resetkeys resetchannels -@all +ping +info",
        "resetkeys resetchannels ~* -@all +ping +info",
    );
    assert_ne!(acl, widened, "the built-in monitoring user changed");
    assert_refused_by_gate(
        &[("users.acl.tera", &widened)],
        "production",
        &[],
        "monitoring-permissions",
        "users.acl",
    );
    let admin = acl.replace("+slowlog|len", "+slowlog|len +config|get");
    assert_ne!(acl, admin);
    assert_refused_by_gate(
        &[("users.acl.tera", &admin)],
        "production",
        &[],
        "monitoring-permissions",
        "users.acl",
    );
}

#[test]
fn a_first_arg_rule_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--set",
            r#"acl.users=[{name: w, keys: ["*"], commands: ["+get","+flushall|async"]}]"#,
        ],
    );
    r.failure(2)
        .stderr_has("acl.users[0].commands[1]")
        .stderr_has("flushall has no subcommands")
        .stderr_has("FLUSHALL ASYNC");
    assert!(tree(tmp.path()).is_empty(), "a refused init wrote");
    // Through a team ACL template, the gate refuses the same grant.
    let acl = format!(
        "{}user w on resetkeys ~* -@all +get +flushall|async\n",
        builtin("users.acl.tera")
    );
    assert_refused_by_gate(
        &[("users.acl.tera", &acl)],
        "production",
        &[],
        "app-permissions",
        "users.acl",
    );
}

// ---------------------------------------------------------------------------------------
// profile and --out

#[test]
fn a_root_container_is_bad_input() {
    for (set, key) in [
        ("docker.uid=0", "docker.uid"),
        ("docker.gid=0", "docker.gid"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let r = run(
            tmp.path(),
            &[
                "init",
                "--env",
                "production",
                "--out",
                "out",
                "--target",
                "docker",
                "--set",
                set,
            ],
        );
        r.failure(2)
            .stderr_has(key)
            .stderr_has("must not run as root");
        assert!(tree(tmp.path()).is_empty(), "a refused init wrote");
    }
}

#[test]
fn an_out_path_a_shell_would_run_is_bad_input() {
    for (out, named) in [
        ("a $(touch x)", "a space"),
        ("a$(touch${IFS}x)", "a '$'"),
        ("a`touch x`", "a backtick"),
        ("a;touch x", "a ';'"),
        ("~/out", "the character '~'"),
        ("out*", "the character '*'"),
        ("d\u{e9}ploiement", "the character 'é'"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let r = run(tmp.path(), &["init", "--env", "production", "--out", out]);
        r.failure(2)
            .stderr_has(&format!("path contains {named}"))
            .stderr_has("written unquoted into client.env, which shells source");
        assert!(tree(tmp.path()).is_empty(), "{out}: something was created");
    }
    // What remains allowed.
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        &[
            "init",
            "--env",
            "testing",
            "--out",
            "deploy/team-a_1.2+b,c:d@e=f",
        ],
    )
    .success();
}

// ---------------------------------------------------------------------------------------
// compose

#[test]
fn compose_hardening_is_enforced() {
    let compose = |extra: &str| {
        format!(
            "services:\n  redis:\n    image: \"redis:7.0.15-bookworm\"\n    user: \"999:999\"\n{extra}networks: {{}}\n"
        )
    };
    for extra in [
        "    network_mode: host\n",
        "    privileged: true\n",
        "    cap_add: [SYS_ADMIN]\n",
        // A second `ports` key: docker-compose and serde-saphyr would keep different ones.
        "    ports: [\"127.0.0.1:6379:6379\"]\n    ports: [\"6379:6379\"]\n",
    ] {
        assert_refused_by_gate(
            &[("docker-compose.yml.tera", &compose(extra))],
            "production",
            &["--target", "docker"],
            "compose-hardening",
            "docker-compose.yml",
        );
    }
    let root = compose("").replace("\"999:999\"", "\"0:0\"");
    assert_refused_by_gate(
        &[("docker-compose.yml.tera", &root)],
        "production",
        &["--target", "docker"],
        "compose-hardening",
        "docker-compose.yml",
    );
}

// ---------------------------------------------------------------------------------------
// Dragonfly

#[test]
fn dragonfly_unauthenticated_listeners_are_refused() {
    for line in ["--memcached_port=11211", "--unixsocket=/run/dragonfly.sock"] {
        assert_refused_by_gate(
            &[(
                "dragonfly.flags.tera",
                &extends("dragonfly.flags.tera", line),
            )],
            "production",
            &["--engine", "dragonfly"],
            "dragonfly-unauthenticated-listener",
            "dragonfly.flags",
        );
    }
    for (line, rule) in [
        ("--notls", "plaintext-port"),
        ("--tls=f", "plaintext-port"),
        ("--flagfile=/etc/dragonfly/more.flags", "include-directive"),
    ] {
        assert_refused_by_gate(
            &[(
                "dragonfly.flags.tera",
                &extends("dragonfly.flags.tera", line),
            )],
            "production",
            &["--engine", "dragonfly"],
            rule,
            "dragonfly.flags",
        );
    }
}

#[test]
fn production_dragonfly_gets_a_tls12_note_not_a_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--engine",
            "dragonfly",
            "--out",
            "out",
        ],
    );
    r.success()
        .stderr_has("note: dragonfly.flags:")
        .stderr_has("[dragonfly-tls12]");
    // Staging allows TLS 1.2: nothing to say.
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "staging",
            "--engine",
            "dragonfly",
            "--out",
            "staging",
        ],
    );
    r.success();
    assert!(!r.stderr.contains("dragonfly-tls12"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// live audit over plaintext

/// A TCP server on `ip` that answers every RESP command with NOAUTH and keeps every byte it
/// got.
fn fake_redis(ip: IpAddr) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(vec![]));
    let seen = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                    if stream
                        .write_all(b"-NOAUTH Authentication required.\r\n")
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    (port, got)
}

/// `audit --url redis://...` with REDISCLI_AUTH set.
fn audit_url(url: &str, password: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "audit",
            "--env",
            "production",
            "--url",
            url,
            "--format",
            "json",
        ])
        .current_dir(tmp.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C")
        .env("REDISCLI_AUTH", password)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// This host's address on its default route, if it has one (a UDP connect sends nothing).
fn non_loopback_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    Some(socket.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

#[test]
fn a_plaintext_audit_sends_no_password_beyond_loopback() {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // `127.1` is how the resolver spells 127.0.0.1 (inet_aton), but not a loopback address
    // as written: it stands for a remote host name, deterministically. A real interface
    // address of this host is checked too where there is one.
    let mut hosts = vec![(loopback, "127.1".to_owned())];
    if let Some(ip) = non_loopback_ip() {
        hosts.push((ip, ip.to_string()));
    }
    for (bind, host) in hosts {
        let (port, got) = fake_redis(bind);
        let r = audit_url(&format!("redis://app@{host}:{port}"), "never-sent-pw");
        r.failure(1);
        let report: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{host}: {e}:\n{}\n{}", r.stdout, r.stderr));
        let findings = report["findings"].as_array().unwrap();
        assert!(
            findings.iter().any(|f| f["rule"] == "plaintext-port"),
            "{host}: {findings:?}"
        );
        assert!(
            findings.iter().any(|f| f["rule"] == "check-skipped"
                && f["text"]
                    .as_str()
                    .unwrap()
                    .contains("no password is sent over plaintext")),
            "{host}: {findings:?}"
        );
        let got = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
        assert!(
            got.contains("PING"),
            "{host}: the server was asked nothing: {got:?}"
        );
        assert!(
            !got.contains("never-sent-pw"),
            "{host}: the password was sent: {got:?}"
        );
        assert!(
            !got.to_ascii_uppercase().contains("AUTH"),
            "{host}: AUTH was sent: {got:?}"
        );
    }

    // To loopback the password may be sent (this server refuses it: a usage error).
    let (port, got) = fake_redis(loopback);
    let r = audit_url(&format!("redis://app@127.0.0.1:{port}"), "loopback-pw");
    assert_ne!(r.code, 0);
    let got = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
    assert!(got.contains("loopback-pw"), "{got:?}\n{}", r.stderr);
}

/// A real server on loopback over plaintext still gets the authenticated checks.
#[test]
fn a_plaintext_audit_of_loopback_still_authenticates() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("r.conf");
    std::fs::write(&conf, "user default off\nuser app on >loop-pw ~* +@all\n").unwrap();
    let port = free_port();
    let port_s = port.to_string();
    let dir = tmp.path().to_str().unwrap().to_owned();
    let _server = Server::start_conf(
        &conf,
        &[
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--logfile",
            "",
            "--save",
            "",
        ],
        port,
        &tmp.path().join("log"),
    );
    let r = audit_url(&format!("redis://app@127.0.0.1:{port}"), "loop-pw");
    r.failure(1);
    // ACL DRYRUN ran as app: the authenticated checks were not skipped.
    assert!(r.stdout.contains("ACL DRYRUN app"), "{}", r.stdout);
    assert!(!r.stdout.contains("loop-pw"), "{}", r.stdout);
}
