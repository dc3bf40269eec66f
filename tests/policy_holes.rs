//! Issue 9's holes in the policy gate, through the binary: each weakening a team template
//! could add is refused (exit 1 naming the rule, nothing written) and accepted only with
//! `--allow-insecure RULE`.

use crate::policy_review::{assert_refused_by_gate, builtin, extends};

/// A Unix socket skips TLS and client certificates.
#[test]
fn a_unix_socket_is_refused_where_tls_is_required() {
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends(
                "redis.conf.tera",
                "unixsocket /run/redis/r.sock\nunixsocketperm 777",
            ),
        )],
        "production",
        &[],
        "unix-socket",
        "redis.conf",
    );
}

/// The CA that verifies clients must be the bundle's own.
#[test]
fn a_foreign_trust_anchor_is_refused() {
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends("redis.conf.tera", "tls-ca-cert-dir /etc/ssl/certs"),
        )],
        "production",
        &[],
        "trust-anchor",
        "redis.conf",
    );
    // On a host the gate knows the path it rendered: a later tls-ca-cert-file elsewhere wins
    // in Redis, and is refused.
    assert_refused_by_gate(
        &[(
            "redis.conf.tera",
            &extends("redis.conf.tera", "tls-ca-cert-file /etc/ssl/other-ca.pem"),
        )],
        "staging",
        &["--target", "host"],
        "trust-anchor",
        "redis.conf",
    );
    // With `--target local` (the default) the bundle's CA is inside the output directory:
    // the gate knows that path too, so another CA file is refused there as well, including
    // another bundle's CA.
    for other in ["/etc/ssl/other-ca.pem", "/tmp/other-bundle/tls/ca.crt"] {
        assert_refused_by_gate(
            &[(
                "redis.conf.tera",
                &extends("redis.conf.tera", &format!("tls-ca-cert-file {other}")),
            )],
            "production",
            &["--target", "local"],
            "trust-anchor",
            "redis.conf",
        );
    }
    // Dragonfly trusts its flags' CA file and CA directory the same way.
    for line in [
        "--tls_ca_cert_file=/etc/ssl/other-ca.pem",
        "--tls_ca_cert_dir=/etc/ssl/certs",
    ] {
        assert_refused_by_gate(
            &[(
                "dragonfly.flags.tera",
                &extends("dragonfly.flags.tera", line),
            )],
            "production",
            &["--engine", "dragonfly"],
            "trust-anchor",
            "dragonfly.flags",
        );
    }
}

/// The same templates, not weakened, pass the gate on every target: the pinned CA is the
/// path each target renders.
#[test]
fn the_bundles_own_trust_anchor_passes_on_every_target() {
    for engine in ["redis", "valkey", "dragonfly"] {
        for target in ["local", "host", "docker"] {
            let tmp = tempfile::tempdir().unwrap();
            let out = tmp.path().join("bundle");
            crate::support::run(
                tmp.path(),
                &[
                    "init",
                    "--env",
                    "production",
                    "--engine",
                    engine,
                    "--target",
                    target,
                    "--out",
                    out.to_str().unwrap(),
                ],
            )
            .success();
        }
    }
}

#[test]
fn compose_gaps_are_refused() {
    let compose = builtin("docker-compose.yml.tera");
    let service_key = "    read_only: true\n";
    assert!(compose.contains(service_key));
    let add = |extra: &str| compose.replace(service_key, &format!("{service_key}{extra}"));
    let weakened = [
        add("    pid: host\n"),
        add("    ipc: host\n"),
        add("    userns_mode: host\n"),
        add("    devices: [\"/dev/mem:/dev/mem\"]\n"),
        add("    network_mode: \"service:x\"\n"),
        compose.replace("read_only: true", "read_only: false"),
        compose.replace("cap_drop: [ALL]", "cap_drop: []"),
        compose.replace("no-new-privileges:true", "no-new-privileges:false"),
        compose.replace("internal: true", "internal: false"),
        compose.replace(
            "user: {{ compose.user | compose_quote }}",
            "user: \"999:0\"",
        ),
        compose.replace("    user: {{ compose.user | compose_quote }}\n", ""),
    ];
    for (i, text) in weakened.iter().enumerate() {
        assert_ne!(text, &compose, "weakening {i} changed nothing");
        assert_refused_by_gate(
            &[("docker-compose.yml.tera", text)],
            "production",
            &["--target", "docker"],
            "compose-hardening",
            "docker-compose.yml",
        );
    }
}

#[test]
fn dragonfly_gaps_are_refused() {
    for (line, rule) in [
        ("--tls_replication=false", "tls-replication"),
        ("--masterauth=x", "password-in-conf"),
        ("--version_check=true", "dragonfly-version-check"),
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

// ---------------------------------------------------------------------------------------
// profile errors that echoed secrets, and unbounded reads

/// `redis-harden ARGS` bounded by `timeout`: a read that hangs fails the test instead.
fn run_bounded(cwd: &std::path::Path, args: &[&str]) -> crate::support::Run {
    let out = std::process::Command::new("timeout")
        .args(["-k", "1", "20", crate::support::BIN])
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run redis-harden");
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_secret_file_passed_as_profile_is_not_echoed() {
    let b = crate::support::Bundle::init("production", &[]);
    let secrets = std::fs::read_to_string(b.path("secrets.env")).unwrap();
    let key = std::fs::read_to_string(b.path("tls/ca.key")).unwrap();
    for (file, content) in [("secrets.env", &secrets), ("tls/ca.key", &key)] {
        let path = b.path(file);
        let r = run_bounded(
            b.tmp.path(),
            &[
                "profile",
                "show",
                "--env",
                "production",
                "--profile",
                path.to_str().unwrap(),
            ],
        );
        r.failure(2).stderr_has("its content is not shown");
        // No line of the file, and no 8-character run of any of its values.
        for line in content
            .lines()
            .filter(|l| !l.starts_with('#') && l.len() > 8)
        {
            let value = line.split_once('=').map_or(line, |(_, v)| v);
            for window in value.as_bytes().windows(8) {
                let w = String::from_utf8_lossy(window);
                assert!(
                    !r.stderr.contains(w.as_ref()) && !r.stdout.contains(w.as_ref()),
                    "{file}: {w:?} echoed:\n{}",
                    r.stderr
                );
            }
        }
    }
}

#[test]
fn a_profile_that_is_not_a_small_regular_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = tmp.path().join("big.yaml");
    std::fs::write(&big, format!("version: 1\n# {}\n", "x".repeat(2 << 20))).unwrap();
    for (path, says) in [
        ("/dev/zero", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (big.to_str().unwrap(), "larger than 1048576 bytes"),
    ] {
        let r = run_bounded(
            tmp.path(),
            &["profile", "show", "--env", "testing", "--profile", path],
        );
        r.failure(2).stderr_has(says);
    }
    // A huge value (from --set, or a profile just under the cap): the error shows a bounded
    // part of it.
    let huge = format!("redis.bind={}", "a".repeat(100_000));
    let r = run_bounded(
        tmp.path(),
        &["profile", "show", "--env", "testing", "--set", &huge],
    );
    r.failure(2);
    assert!(r.stderr.len() < 2000, "{} bytes of error", r.stderr.len());
    assert!(r.stderr.contains("bytes)"), "{}", r.stderr);
    let file = tmp.path().join("huge-value.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 1\nproject: p\nenvironments:\n  testing:\n    redis:\n      timeout: \"{}\"\n",
            "9".repeat(900_000)
        ),
    )
    .unwrap();
    let r = run_bounded(
        tmp.path(),
        &[
            "profile",
            "show",
            "--env",
            "testing",
            "--profile",
            file.to_str().unwrap(),
        ],
    );
    r.failure(2);
    assert!(
        r.stderr.len() < 2000,
        "{} bytes of error:\n{}",
        r.stderr.len(),
        &r.stderr[..2000.min(r.stderr.len())]
    );
}

// ---------------------------------------------------------------------------------------
// template errors of templates that see secrets

#[test]
fn template_errors_show_no_part_of_a_secret() {
    let b = crate::support::Bundle::init("testing", &[]);
    let app = b.password("app");
    let key = b.secret("REDIS_ENCRYPTION_KEY");
    let team = b.tmp.path().join("team");
    std::fs::create_dir_all(&team).unwrap();
    for expr in [
        "client.url | reverse | int",
        "client.url | upper | int",
        "client.encryption_key | replace(from=\"=\", to=\"\") | int",
        "client.url | truncate(length=30) | int",
        "client.encryption_key | lower | int",
    ] {
        std::fs::write(team.join("client.env.tera"), format!("{{{{ {expr} }}}}\n")).unwrap();
        let r = crate::support::run(
            b.tmp.path(),
            &[
                "render",
                "--env",
                "testing",
                "--out",
                b.dir.to_str().unwrap(),
                "--templates",
                team.to_str().unwrap(),
            ],
        );
        r.failure(2).stderr_has("client.env.tera");
        for secret in [&app, &key] {
            let forms = [
                secret.clone(),
                secret.chars().rev().collect::<String>(),
                secret.to_uppercase(),
                secret.to_lowercase(),
            ];
            for form in &forms {
                let chars: Vec<char> = form.chars().collect();
                for w in chars.windows(6) {
                    let w: String = w.iter().collect();
                    assert!(!r.stderr.contains(&w), "{expr}: {w:?} shown:\n{}", r.stderr);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// value ranges: what the server accepts

/// redis-server 7.0 is the judge: it refuses a timeout above 2147483647 (INT_MAX) and boots
/// with INT_MAX; the profile accepts exactly what it does.
#[test]
fn timeouts_stop_where_redis_stops() {
    crate::support::require("redis-server", "apt-get install -y redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let boots = |timeout: &str| {
        let out = std::process::Command::new("timeout")
            .args(["-k", "1", "2", "redis-server", "--port", "0", "--save", ""])
            .args(["--timeout", timeout])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        // Accepted, it runs (no listener) until `timeout` stops it; refused, it says so.
        !String::from_utf8_lossy(&out.stderr).contains("FATAL CONFIG")
            && !String::from_utf8_lossy(&out.stdout).contains("FATAL CONFIG")
    };
    for (key, value, redis_ok) in [
        ("redis.timeout", "2147483647", true),
        ("redis.timeout", "2147483648", false),
        ("redis.tcp_keepalive", "2147483648", false),
        ("redis.tcp_keepalive", "4294967295", false),
    ] {
        if key == "redis.timeout" {
            assert_eq!(boots(value), redis_ok, "redis-server --timeout {value}");
        }
        let set = format!("{key}={value}");
        let r = crate::support::run(
            tmp.path(),
            &["profile", "show", "--env", "testing", "--set", &set],
        );
        assert_eq!(r.code == 0, redis_ok, "{set}: {}", r.stderr);
    }
    for (set, ok) in [
        ("docker.cpus=1e-300", false),
        ("docker.cpus=0.01", true),
        ("docker.uid=4294967295", false),
    ] {
        let r = crate::support::run(
            tmp.path(),
            &["profile", "show", "--env", "testing", "--set", set],
        );
        assert_eq!(r.code == 0, ok, "{set}: {}", r.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// the differential corpus: redis-server 7.0 is the judge of what loads

/// Whether redis-server 7.0 starts on `conf` (refused: it exits at once with FATAL CONFIG;
/// accepted: it runs, with no listener, until `timeout` stops it).
fn redis_loads(dir: &std::path::Path, conf: &[u8]) -> bool {
    let path = dir.join("corpus.conf");
    std::fs::write(&path, conf).unwrap();
    let out = std::process::Command::new("timeout")
        .args(["-k", "1", "1", "redis-server"])
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    !said.contains("FATAL CONFIG FILE ERROR")
}

/// Each line of the corpus goes into a minimal config that boots (no listener, no disk),
/// once through a real redis-server and once through the static audit: the audit refuses
/// the line (`unloadable-line` or `unknown-directive`) exactly when the server does.
#[test]
fn the_gate_refuses_exactly_the_lines_redis_refuses() {
    crate::support::require("redis-server", "apt-get install -y redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let base: &[u8] = b"port 0\nsave \"\"\nappendonly no\n";
    let corpus: &[&[u8]] = &[
        // Refused by Redis.
        b"port\x0b0",
        b"port\x0c0",
        b"\xc2\xa0port 0",
        br#"protected-m"o"de no"#,
        br#"protected-mode "no"x"#,
        br#"timeout "1\"#,
        b"timeout '1",
        b"port 0 6380",
        b"replicaof",
        b"protected-mode",
        b"rename-command CONFIG",
        b"include",
        b"user",
        b"maxmemory 1gb 2gb",
        b"client-output-buffer-limit normal 0 0",
        // Accepted by Redis.
        b"\x0cprotected-mode yes",
        b"\x0bprotected-mode yes",
        br#""protected-mode" "yes""#,
        br#"protected-m"ode" y"es""#,
        b"protected-mode\tyes",
        b"save 3600 1 300 100",
        b"bind",
        b"save",
        b"bind 127.0.0.1 -::1",
        b"maxmemory 0",
        b"dir /tmp",
        b"rename-command DEBUG \"\"",
        b"client-output-buffer-limit normal 0 0 0",
        b"oom-score-adj-values 0 200 800",
    ];
    let mut disagree = vec![];
    for line in corpus {
        let conf = [base, line, b"\n"].concat();
        let server = redis_loads(tmp.path(), &conf);
        let path = tmp.path().join("audited.conf");
        std::fs::write(&path, &conf).unwrap();
        let r = crate::support::run(
            tmp.path(),
            &[
                "audit",
                "--env",
                "testing",
                "--kind",
                "redis-conf",
                "--format",
                "json",
                path.to_str().unwrap(),
            ],
        );
        let report: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        let gate_refuses = report["findings"].as_array().unwrap().iter().any(|f| {
            matches!(
                f["rule"].as_str(),
                Some("unloadable-line" | "unknown-directive")
            )
        });
        if gate_refuses == server {
            disagree.push(format!(
                "{:?}: redis-server {}, the gate {}",
                String::from_utf8_lossy(line),
                if server { "loads it" } else { "refuses it" },
                if gate_refuses {
                    "refuses it"
                } else {
                    "lets it pass"
                }
            ));
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}
