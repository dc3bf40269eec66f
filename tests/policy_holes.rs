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
    let (said, _) = redis_server_on(dir, "corpus.conf", conf, "1");
    !said.contains("FATAL CONFIG FILE ERROR")
}

/// Runs redis-server on `conf` (written to `dir/name`) for at most `secs` seconds: what it
/// said (stdout and stderr) and its exit code (124 when `timeout` stopped it).
fn redis_server_on(
    dir: &std::path::Path,
    name: &str,
    conf: &[u8],
    secs: &str,
) -> (String, Option<i32>) {
    let path = dir.join(name);
    std::fs::write(&path, conf).unwrap();
    let out = std::process::Command::new("timeout")
        .args(["-k", "1", secs, "redis-server"])
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (said, out.status.code())
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
        b"replicaof 127.0.0.1",
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
        b"replicaof 127.0.0.1 6999",
        b"replicaof no one",
        b"tls-ciphersuites TLS_AES_128_CCM_8_SHA256",
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

/// Whether redis-server 7.0 starts on `conf` and stays up: with a listener (a Unix socket in
/// `dir`) it gets past the point where it loads its users, which `port 0` alone never
/// reaches. Refused: it says why and exits; accepted: it runs until `timeout` stops it.
fn redis_loads_users(dir: &std::path::Path, conf: &str) -> bool {
    let conf = format!(
        "port 0\nunixsocket {}\nunixsocketperm 700\nsave \"\"\nappendonly no\n{conf}\n",
        dir.join("r.sock").display()
    );
    let (said, code) = redis_server_on(dir, "users-corpus.conf", conf.as_bytes(), "2");
    let refused = [
        "FATAL CONFIG FILE ERROR",
        "Error loading ACL",
        "loading ACLs",
        "because of ACL errors",
    ]
    .iter()
    .any(|m| said.contains(m));
    // Accepted, it was still running when `timeout` stopped it (exit 124).
    assert!(
        refused || code == Some(124),
        "redis-server neither refused nor kept running:\n{said}"
    );
    !refused
}

/// The audit's findings (rule ids) for one file read as `kind` in `env`.
fn audit_rules(
    dir: &std::path::Path,
    env: &str,
    kind: &str,
    name: &str,
    text: &str,
) -> Vec<String> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let r = crate::support::run(
        dir,
        &[
            "audit",
            "--env",
            env,
            "--kind",
            kind,
            "--format",
            "json",
            path.to_str().unwrap(),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

/// ACL rules, in a `user` line of redis.conf and in an ACL file: redis-server 7.0 refuses an
/// unknown category (`+@all|x`: categories have no subcommands) and with it the whole file;
/// the gate says `unloadable-line` for exactly those.
#[test]
fn the_gate_refuses_exactly_the_acl_rules_redis_refuses() {
    crate::support::require("redis-server", "apt-get install -y redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let corpus = [
        // Refused by Redis.
        "+@all|x",
        "-@all|x",
        "+@nonsense",
        "+@ALL|get",
        // Accepted by Redis.
        "+@all",
        "+@ALL",
        "-@all +get",
        "+@read -@dangerous",
        "+config|get",
    ];
    let mut disagree = vec![];
    for rules in corpus {
        let user = format!("user x off resetpass ~* {rules}");
        let acl = tmp.path().join("corpus.acl");
        std::fs::write(&acl, format!("user default off\n{user}\n")).unwrap();
        for (form, server, gate) in [
            (
                "redis.conf",
                redis_loads_users(tmp.path(), &user),
                audit_rules(tmp.path(), "testing", "redis-conf", "a.conf", &user),
            ),
            (
                "ACL file",
                redis_loads_users(tmp.path(), &format!("aclfile {}", acl.display())),
                audit_rules(
                    tmp.path(),
                    "testing",
                    "acl",
                    "a.acl",
                    &format!("user default off\n{user}\n"),
                ),
            ),
        ] {
            let gate_refuses = gate.iter().any(|r| r == "unloadable-line");
            if gate_refuses == server {
                disagree.push(format!(
                    "{rules:?} in {form}: redis-server {}, the gate {}",
                    if server { "loads it" } else { "refuses it" },
                    if gate_refuses {
                        "refuses it"
                    } else {
                        "lets it pass"
                    }
                ));
            }
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

/// Lines redis-server 7.0 loads whose meaning the policy refuses on purpose, each by its rule,
/// in production (and `maxmemory 0`/`dir /tmp` in every environment): the server is the
/// judge that the line loads, the rule names why it must not ship.
#[test]
fn lines_redis_loads_but_the_policy_refuses_are_refused_by_their_rule() {
    crate::support::require("redis-server", "apt-get install -y redis-server");
    let tmp = tempfile::tempdir().unwrap();
    let base = b"port 0\nsave \"\"\nappendonly no\n";
    for (line, envs, rule) in [
        (
            "maxmemory 0",
            &["production", "testing"][..],
            "memory-limit",
        ),
        ("maxmemory 0gb", &["production"][..], "memory-limit"),
        ("dir /tmp", &["production", "testing"][..], "data-dir"),
        ("dir /var/tmp/", &["production"][..], "data-dir"),
        (
            "tls-ciphersuites TLS_AES_128_CCM_8_SHA256",
            &["production", "staging"][..],
            "weak-ciphers",
        ),
        (
            "tls-ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256",
            &["production"][..],
            "weak-ciphers",
        ),
    ] {
        let conf = [&base[..], line.as_bytes(), b"\n"].concat();
        assert!(
            redis_loads(tmp.path(), &conf),
            "redis-server refuses {line:?}"
        );
        for env in envs {
            let rules = audit_rules(
                tmp.path(),
                env,
                "redis-conf",
                "meaning.conf",
                std::str::from_utf8(&conf).unwrap(),
            );
            assert!(
                rules.iter().any(|r| r == rule),
                "{line:?} in {env}: {rules:?}"
            );
            assert!(
                !rules.iter().any(|r| r == "unloadable-line"),
                "{line:?}: {rules:?}"
            );
        }
    }
    // What stays accepted with the same meaning: a limit, a private directory below /tmp,
    // Mozilla's suites, and replication (a replica's TLS verifies its primary against the
    // bundle's CA, whose path the gate pins).
    // (The temp dir is such a private directory: Redis needs `dir` to exist.)
    let private = format!("dir {}", tmp.path().display());
    for line in [
        "maxmemory 100mb",
        &private,
        "tls-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        "replicaof 127.0.0.1 6999",
    ] {
        let conf = [&base[..], line.as_bytes(), b"\n"].concat();
        assert!(
            redis_loads(tmp.path(), &conf),
            "redis-server refuses {line:?}"
        );
        let rules = audit_rules(
            tmp.path(),
            "production",
            "redis-conf",
            "meaning.conf",
            std::str::from_utf8(&conf).unwrap(),
        );
        for rule in [
            "memory-limit",
            "data-dir",
            "weak-ciphers",
            "unloadable-line",
        ] {
            assert!(!rules.iter().any(|r| r == rule), "{line:?}: {rules:?}");
        }
    }
}

/// The meaning of the weak suite, proven on a live production bundle: with
/// `tls-ciphersuites TLS_AES_128_CCM_8_SHA256` from a team template, redis-server negotiates
/// it (openssl s_client), and the gate refuses the template.
#[test]
fn a_weak_tls13_suite_is_negotiated_by_redis_and_refused_by_the_gate() {
    use crate::support::{Bundle, Server};
    let line = "tls-ciphersuites TLS_AES_128_CCM_8_SHA256";
    assert_refused_by_gate(
        &[("redis.conf.tera", &extends("redis.conf.tera", line))],
        "production",
        &[],
        "weak-ciphers",
        "redis.conf",
    );
    crate::support::require("openssl", "apt-get install -y openssl");
    let b = Bundle::init("production", &[]);
    let conf = b.path("redis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}\n{line}\n")).unwrap();
    let _server = Server::start(&b);
    let out = std::process::Command::new("timeout")
        .args(["-k", "1", "20", "openssl", "s_client", "-brief", "-tls1_3"])
        .args(["-ciphersuites", "TLS_AES_128_CCM_8_SHA256"])
        .arg("-connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .arg("-CAfile")
        .arg(b.path("tls/ca.crt"))
        .arg("-cert")
        .arg(b.path("tls/client.crt"))
        .arg("-key")
        .arg(b.path("tls/client.key"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Ciphersuite: TLS_AES_128_CCM_8_SHA256"),
        "the server did not negotiate CCM_8:\n{said}"
    );
}

/// The exporter service (`docker.exporter`) passes the compose policy as rendered; weakened
/// in a team template, it is refused like the server's own service.
#[test]
fn a_weakened_exporter_service_is_refused() {
    let compose = builtin("docker-compose.yml.tera");
    let marker = "  {{ x.service }}:\n";
    let at = compose.find(marker).expect("the exporter service");
    let (server, exporter) = compose.split_at(at);
    let weaken = |from: &str, to: &str| {
        assert!(exporter.contains(from), "{from}");
        format!("{server}{}", exporter.replacen(from, to, 1))
    };
    let sets = [
        "--target",
        "docker",
        "--set",
        "docker.exporter=true",
        "--set",
        "tls.hostnames=[\"redis.internal\"]",
    ];
    for (text, env, rule) in [
        (
            weaken("read_only: true", "read_only: false"),
            "production",
            "compose-hardening",
        ),
        (
            weaken("cap_drop: [ALL]", "cap_drop: []"),
            "production",
            "compose-hardening",
        ),
        (
            weaken("no-new-privileges:true", "no-new-privileges:false"),
            "staging",
            "compose-hardening",
        ),
        (
            weaken("user: {{ compose.user | compose_quote }}", "user: \"0:0\""),
            "production",
            "compose-hardening",
        ),
        (
            weaken("cpus: 0.25", "cpus: 0.25\n    privileged: true"),
            "production",
            "compose-hardening",
        ),
        (
            weaken("cpus: 0.25", "cpus: 0.25\n    network_mode: host"),
            "production",
            "compose-hardening",
        ),
        (
            weaken("{{ x.publish | compose_quote }}", "\"9121:9121\""),
            "development",
            "compose-published-port",
        ),
    ] {
        assert_refused_by_gate(
            &[("docker-compose.yml.tera", &text)],
            env,
            &sets,
            rule,
            "docker-compose.yml",
        );
    }
}
