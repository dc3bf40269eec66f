//! Bundles proven against each supported server (Redis 7.0.15, Redis 8.0.2, Valkey 8.1.1),
//! booted from `init --target local` output unchanged, with real clients: the server's own
//! cli (redis-cli, valkey-cli), openssl and redis-py.
//!
//! Every test is a function of the server under test; [`on_every_server!`] makes one `#[test]`
//! of it per server (`live::valkey_8_1::production_bundle...`).

use std::process::Command;

use crate::support::{Bundle, Server, ServerUnderTest, require, require_python};

/// One `#[test]` per server for each named function `fn(&'static ServerUnderTest)`.
macro_rules! on_every_server {
    ($($name:ident),* $(,)?) => {
        mod redis_7_0 {
            $(#[test] fn $name() { super::$name(&crate::support::REDIS_7_0) })*
        }
        mod redis_8_0 {
            $(#[test] fn $name() { super::$name(&crate::support::REDIS_8_0) })*
        }
        mod valkey_8_0 {
            $(#[test] fn $name() { super::$name(&crate::support::VALKEY_8_0) })*
        }
        mod valkey_8_1 {
            $(#[test] fn $name() { super::$name(&crate::support::VALKEY_8_1) })*
        }
    };
}
pub(crate) use on_every_server;

on_every_server!(
    production_bundle_boots_and_enforces_tls13_mtls_and_acls,
    staging_bundle_requires_client_certs_and_allows_tls12,
    development_bundle_makes_client_certs_optional,
    testing_bundle_is_plaintext_on_loopback_with_acls,
    key_patterns_from_the_profile_confine_the_app_user,
    acl_denies_debug_and_module_too,
    python_client_connects_with_client_env_and_fernet_key_works,
    the_policy_command_table_matches_the_real_server,
    the_directive_table_matches_the_real_server,
);

/// Commands the application user must never run, with why each is refused.
const APP_FORBIDDEN: &[&[&str]] = &[
    &["CONFIG", "GET", "maxmemory"],
    &["CONFIG", "SET", "maxmemory", "1"],
    &["FLUSHALL"],
    &["KEYS", "*"],
    &["DEBUG", "SLEEP", "0"],
    &["MODULE", "LIST"],
    &["EVAL", "return 1", "0"],
    &["FUNCTION", "LIST"],
    &["REPLICAOF", "NO", "ONE"],
    &["SHUTDOWN"],
    &["ACL", "SETUSER", "intruder", "on", ">pw", "+@all"],
];

fn openssl(args: &[&str]) -> (bool, String) {
    require("openssl", "apt-get install -y openssl");
    let out = Command::new("timeout")
        .args(["-k", "1", "10", "openssl"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A TLS handshake with openssl s_client, pinned to one protocol version, client cert
/// included, hostname verified. Returns whether the handshake (and a PING) succeeded.
fn handshake(b: &Bundle, version_flag: &str) -> (bool, String) {
    let port = b.port.to_string();
    let connect = format!("127.0.0.1:{port}");
    let (ca, cert, key) = (
        b.path("tls/ca.crt"),
        b.path("tls/client.crt"),
        b.path("tls/client.key"),
    );
    let (ok, text) = openssl(&[
        "s_client",
        "-connect",
        &connect,
        version_flag,
        "-CAfile",
        ca.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-brief",
    ]);
    let negotiated = text.contains("Protocol version:") && ok;
    (negotiated, text)
}

fn assert_app_confined(b: &Bundle) {
    let app = || b.cli().login("app");
    assert_eq!(app().run(&["SET", "live:key", "v"]), "OK");
    assert_eq!(app().run(&["GET", "live:key"]), "v");
    for cmd in APP_FORBIDDEN {
        let out = app().run(cmd);
        // DEBUG and MODULE are refused by enable-*-command before the ACL is consulted;
        // `acl_denies_debug_and_module_too` proves the ACL would refuse them as well.
        let disabled = matches!(cmd[0], "DEBUG" | "MODULE") && out.contains("command not allowed");
        assert!(
            out.starts_with("NOPERM") || disabled,
            "app ran {cmd:?}: {out}"
        );
    }
}

fn assert_monitoring_read_only(b: &Bundle) {
    let mon = || b.cli().login("monitoring");
    // Also proves the harness booted the server this bundle was made for.
    let info = mon().run(&["INFO", "server"]);
    assert!(
        info.contains(b.server.info_version),
        "monitoring cannot INFO, or this is not {}: {info}",
        b.server.label
    );
    assert_eq!(mon().run(&["PING"]), "PONG");
    for cmd in [
        &["GET", "live:key"][..],
        &["SET", "k", "v"],
        &["SCAN", "0"],
        &["CONFIG", "GET", "*"],
    ] {
        let out = mon().run(cmd);
        assert!(out.starts_with("NOPERM"), "monitoring ran {cmd:?}: {out}");
    }
}

fn assert_default_user_locked(b: &Bundle) {
    // No AUTH at all: the connection is the default user, which is off.
    let out = b.cli().run(&["PING"]);
    assert!(out.starts_with("NOAUTH"), "unauthenticated PING: {out}");
    let out = b.cli().user("default", "anything").run(&["PING"]);
    assert!(
        out.contains("WRONGPASS") || out.contains("AUTH failed"),
        "default authenticated: {out}"
    );
    // admin is off unless the profile enables it.
    let out = b.cli().login("admin").run(&["PING"]);
    assert!(
        out.contains("WRONGPASS") || out.contains("AUTH failed"),
        "admin is on: {out}"
    );
}

fn assert_certs_verify(b: &Bundle) {
    let ca = b.path("tls/ca.crt");
    for (leaf, purpose) in [
        ("tls/server.crt", "sslserver"),
        ("tls/client.crt", "sslclient"),
    ] {
        let leaf = b.path(leaf);
        let (ok, text) = openssl(&[
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            ca.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ]);
        assert!(ok, "openssl verify {}: {text}", leaf.display());
    }
}

fn production_bundle_boots_and_enforces_tls13_mtls_and_acls(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "production", &[]);
    let server = Server::start(&b);
    // port 0: the TLS port is the only listener.
    assert_eq!(
        server.listening_ports(),
        [b.port],
        "redis-server listens on other ports too"
    );
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");

    let out = b.cli().without_client_cert().login("app").run(&["PING"]);
    assert!(
        !out.contains("PONG"),
        "client without certificate was served: {out}"
    );
    let out = b.cli().plaintext().login("app").run(&["PING"]);
    assert!(!out.contains("PONG"), "plaintext client was served: {out}");

    let (ok13, text) = handshake(&b, "-tls1_3");
    assert!(ok13, "TLSv1.3 handshake failed: {text}");
    let (ok12, text) = handshake(&b, "-tls1_2");
    assert!(!ok12, "production accepted TLSv1.2: {text}");

    assert_default_user_locked(&b);
    assert_app_confined(&b);
    assert_monitoring_read_only(&b);
    assert_certs_verify(&b);
    drop(server);
}

fn staging_bundle_requires_client_certs_and_allows_tls12(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "staging", &[]);
    let server = Server::start(&b);
    assert_eq!(server.listening_ports(), [b.port]);
    let out = b.cli().without_client_cert().login("app").run(&["PING"]);
    assert!(
        !out.contains("PONG"),
        "client without certificate was served: {out}"
    );
    let (ok12, text) = handshake(&b, "-tls1_2");
    assert!(ok12, "staging refused TLSv1.2: {text}");
    assert!(
        text.contains("ECDHE-ECDSA"),
        "TLSv1.2 cipher is not an ECDHE-ECDSA suite: {text}"
    );
    assert_default_user_locked(&b);
    assert_app_confined(&b);
    assert_monitoring_read_only(&b);
    assert_certs_verify(&b);
}

fn development_bundle_makes_client_certs_optional(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "development", &[]);
    let _server = Server::start(&b);
    assert_eq!(
        b.cli().without_client_cert().login("app").run(&["PING"]),
        "PONG"
    );
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");
    let out = b.cli().plaintext().login("app").run(&["PING"]);
    assert!(!out.contains("PONG"), "plaintext client was served: {out}");
}

fn testing_bundle_is_plaintext_on_loopback_with_acls(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "testing", &[]);
    let server = Server::start(&b);
    assert_eq!(server.listening_ports(), [b.port]);
    let out = b.cli().login("app").run(&["PING"]);
    assert!(!out.contains("PONG"), "testing answered TLS: {out}");
    assert_eq!(b.cli().plaintext().login("app").run(&["PING"]), "PONG");
    let out = b.cli().plaintext().run(&["PING"]);
    assert!(out.starts_with("NOAUTH"), "unauthenticated PING: {out}");
    let out = b.cli().plaintext().login("app").run(&["FLUSHALL"]);
    assert!(out.starts_with("NOPERM"), "{out}");
    assert_eq!(b.password("app").len(), 12);
    let url = crate::support::env_file(&b.path("client.env"))["REDIS_URL"].clone();
    assert!(url.starts_with("redis://app:"), "{url}");
}

fn key_patterns_from_the_profile_confine_the_app_user(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(
        srv,
        "production",
        &[
            "--set",
            "acl.app.keys=[\"cache:*\"]",
            "--set",
            "acl.app.channels=[\"events:*\"]",
        ],
    );
    let _server = Server::start(&b);
    let app = || b.cli().login("app");
    assert_eq!(app().run(&["SET", "cache:1", "v"]), "OK");
    let out = app().run(&["SET", "other:1", "v"]);
    assert!(out.starts_with("NOPERM"), "{out}");
    assert_eq!(app().run(&["PUBLISH", "events:x", "hi"]), "0");
    let out = app().run(&["PUBLISH", "admin:x", "hi"]);
    assert!(out.starts_with("NOPERM"), "{out}");
}

/// DEBUG and MODULE are switched off server-wide, which hides what the ACL says about them;
/// ACL DRYRUN (as the admin user, enabled here) asks the ACL directly.
fn acl_denies_debug_and_module_too(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "production", &["--set", "acl.admin.enabled=true"]);
    let _server = Server::start(&b);
    let admin = || b.cli().login("admin");
    for cmd in APP_FORBIDDEN {
        let mut args = vec!["ACL", "DRYRUN", "app"];
        args.extend_from_slice(cmd);
        let out = admin().run(&args);
        assert!(
            out.contains("no permissions"),
            "ACL allows app to run {cmd:?}: {out}"
        );
    }
    assert_eq!(admin().run(&["ACL", "DRYRUN", "app", "GET", "x"]), "OK");
    assert_eq!(admin().run(&["ACL", "DRYRUN", "monitoring", "INFO"]), "OK");
    // Even the admin cannot reach the disabled commands.
    assert!(
        admin()
            .run(&["DEBUG", "SLEEP", "0"])
            .contains("not allowed")
    );
}

/// redis-py with hostname verification on, using nothing but client.env: what an application
/// does. Also proves the Fernet key works with `cryptography`.
fn python_client_connects_with_client_env_and_fernet_key_works(srv: &'static ServerUnderTest) {
    require_python("redis", "redis");
    require_python("cryptography", "cryptography");
    let b = Bundle::init_for(srv, "production", &[]);
    let _server = Server::start(&b);
    let script = r##"
import os, sys, redis
from cryptography.fernet import Fernet
env = dict(l.split("=", 1) for l in open(sys.argv[1]).read().splitlines() if l and not l.startswith("#"))
env = {k: v[1:-1] if v[:1] == v[-1:] == '"' else v for k, v in env.items()}
r = redis.Redis.from_url(env["REDIS_URL"], ssl_ca_certs=env["REDIS_TLS_CA_FILE"],
    ssl_certfile=env["REDIS_TLS_CERT_FILE"], ssl_keyfile=env["REDIS_TLS_KEY_FILE"],
    ssl_check_hostname=True, ssl_cert_reqs="required")
f = Fernet(env["REDIS_ENCRYPTION_KEY"].encode())
r.set("py:secret", f.encrypt(b"card 4111"))
assert f.decrypt(r.get("py:secret")) == b"card 4111"
try:
    r.flushall()
    sys.exit("FLUSHALL was allowed")
except redis.exceptions.NoPermissionError:
    pass
print("ok")
"##;
    let out = Command::new("python3")
        .args(["-c", script, b.path("client.env").to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim() == "ok", "{text}");
}

/// The policy gate judges ACL rules with an embedded table of each version's dangerous, admin
/// and scripting commands and their categories; it must be exactly what the server says.
fn the_policy_command_table_matches_the_real_server(srv: &'static ServerUnderTest) {
    use std::collections::{BTreeMap, BTreeSet};
    let b = Bundle::init_for(srv, "testing", &[]);
    let _server = Server::start(&b);
    let cat = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ACL", "CAT"];
        full.extend_from_slice(args);
        b.cli()
            .plaintext()
            .login("app")
            .run(&full)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    // The categories the gate knows (an unknown one makes the server refuse the ACL file).
    let categories: BTreeSet<String> = cat(&[]).into_iter().collect();
    let known: BTreeSet<String> = redis_harden::policy::acl_tables::ACL_CATEGORIES
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    assert_eq!(known, categories, "ACL CAT on {}", srv.label);
    let mut live: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for category in cat(&[]) {
        for command in cat(&[&category]) {
            live.entry(command).or_default().insert(category.clone());
        }
    }
    assert!(live.len() > 200, "ACL CAT returned too little: {live:?}");
    live.retain(|_, cats| {
        ["dangerous", "admin", "scripting"]
            .iter()
            .any(|c| cats.contains(*c))
    });
    let table: BTreeMap<String, BTreeSet<String>> = srv
        .facts()
        .forbidden_for_apps()
        .iter()
        .map(|(c, cats)| {
            (
                (*c).to_owned(),
                cats.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(table, live);
}

/// The directive names redis-harden knows for a version (which its templates and the gate go
/// by) are exactly the server's `CONFIG GET *`, asked as the admin user.
fn the_directive_table_matches_the_real_server(srv: &'static ServerUnderTest) {
    use std::collections::BTreeSet;
    let b = Bundle::init_for(srv, "testing", &["--set", "acl.admin.enabled=true"]);
    let _server = Server::start(&b);
    let reply = b
        .cli()
        .plaintext()
        .login("admin")
        .run(&["CONFIG", "GET", "*"]);
    let live: BTreeSet<&str> = reply.lines().step_by(2).collect();
    assert!(
        live.len() > 150,
        "CONFIG GET * returned too little: {reply}"
    );
    let facts = srv.facts();
    let known: BTreeSet<&str> = facts
        .directives()
        .into_iter()
        .filter(|d| !["include", "loadmodule", "rename-command", "user"].contains(d))
        .collect();
    assert_eq!(known, live, "{}", srv.label);
}
