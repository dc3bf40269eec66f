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
