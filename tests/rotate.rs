//! Rotations against a real redis-server: during the overlap old and new credentials both
//! work, the server picks changes up without a restart (ACL LOAD / CONFIG SET), and after
//! `--finish` + reload the old ones are refused. `check` stays green at every step.

use std::process::Command;

use crate::support::{Bundle, Server, env_file, require_python, run};

/// Admin on, so the test can apply changes the way the printed instructions say.
const ADMIN: [&str; 2] = ["--set", "acl.admin.enabled=true"];

/// No --set: rotate starts from the inputs the bundle's manifest recorded (the port, admin).
fn rotate(b: &Bundle, args: &[&str]) -> String {
    let out = b.dir.to_str().unwrap();
    let mut full = vec!["rotate"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--env", &b.env, "--out", out]);
    let r = run(b.tmp.path(), &full);
    r.success();
    r.stdout
}

fn check_green(b: &Bundle) {
    let out = b.dir.to_str().unwrap();
    let args = vec!["check", "--env", &b.env, "--out", out];
    run(b.tmp.path(), &args).success();
}

fn admin(b: &Bundle, args: &[&str]) -> String {
    b.cli().login("admin").run(args)
}

#[test]
fn password_rotation_overlaps_then_drops_the_old_password() {
    let b = Bundle::init("production", &ADMIN);
    let _server = Server::start(&b);
    let old = b.password("app");
    let out = rotate(&b, &["passwords", "--user", "app"]);
    assert!(out.contains("ACL LOAD"), "no apply step printed:\n{out}");
    let new = b.password("app");
    assert_ne!(old, new);
    assert!(env_file(&b.path("client.env"))["REDIS_URL"].contains(&new));
    check_green(&b);

    assert_eq!(admin(&b, &["ACL", "LOAD"]), "OK");
    assert_eq!(
        b.cli().user("app", &old).run(&["PING"]),
        "PONG",
        "old password refused during the overlap"
    );
    assert_eq!(
        b.cli().user("app", &new).run(&["PING"]),
        "PONG",
        "new password refused"
    );
    // Other users were not touched.
    assert_eq!(b.cli().login("monitoring").run(&["PING"]), "PONG");

    rotate(&b, &["passwords", "--finish"]);
    check_green(&b);
    assert_eq!(admin(&b, &["ACL", "LOAD"]), "OK");
    let refused = b.cli().user("app", &old).run(&["PING"]);
    assert!(
        refused.contains("WRONGPASS") || refused.contains("AUTH failed"),
        "old password still works: {refused}"
    );
    assert_eq!(b.cli().user("app", &new).run(&["PING"]), "PONG");
}

#[test]
fn a_second_rotation_before_finish_is_refused() {
    let b = Bundle::init("testing", &[]);
    rotate(&b, &["passwords"]);
    let before = crate::support::tree(&b.dir);
    let port = format!("redis.port={}", b.port);
    let r = run(
        b.tmp.path(),
        &[
            "rotate",
            "passwords",
            "--env",
            "testing",
            "--out",
            b.dir.to_str().unwrap(),
            "--set",
            &port,
        ],
    );
    r.failure(2).stderr_has("--finish");
    assert_eq!(crate::support::tree(&b.dir), before);
}

#[test]
fn certificate_rotation_reloads_without_restart() {
    let b = Bundle::init("production", &ADMIN);
    let _server = Server::start(&b);
    let old_serial = serial(&b, "tls/server.crt");
    rotate(&b, &["certs"]);
    check_green(&b);
    assert_ne!(serial(&b, "tls/server.crt"), old_serial);
    let server_crt = b.path("tls/server.crt");
    let server_key = b.path("tls/server.key");
    let set = [
        "CONFIG",
        "SET",
        "tls-cert-file",
        server_crt.to_str().unwrap(),
        "tls-key-file",
        server_key.to_str().unwrap(),
    ];
    assert_eq!(admin(&b, &set), "OK");
    // The server now presents the new certificate.
    assert_eq!(presented_serial(&b), serial(&b, "tls/server.crt"));
    // Old and new client certificates (same CA) both work.
    assert_eq!(
        b.cli()
            .client_cert("tls/client.previous.crt", "tls/client.previous.key")
            .login("app")
            .run(&["PING"]),
        "PONG"
    );
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");
    rotate(&b, &["certs", "--finish"]);
    assert!(!b.path("tls/client.previous.key").exists());
    check_green(&b);
}

/// CA rotation in two steps, with no moment where a client cannot connect: first everyone
/// trusts both CAs (certificates unchanged), then the certificates move to the new CA, then the
/// old CA is dropped.
#[test]
fn ca_rotation_trusts_both_cas_until_finish() {
    let b = Bundle::init("production", &ADMIN);
    let _server = Server::start(&b);
    let old_ca = b.tmp.path().join("old-ca.crt");
    std::fs::copy(b.path("tls/ca.crt"), &old_ca).unwrap();
    let (ca, crt, key) = (
        b.path("tls/ca.crt"),
        b.path("tls/server.crt"),
        b.path("tls/server.key"),
    );
    let reload = [
        "CONFIG",
        "SET",
        "tls-ca-cert-file",
        ca.to_str().unwrap(),
        "tls-cert-file",
        crt.to_str().unwrap(),
        "tls-key-file",
        key.to_str().unwrap(),
    ];

    // Step 1: trust both. The certificates in use do not change, so nothing breaks, not even
    // a client that still has only the old ca.crt.
    rotate(&b, &["ca"]);
    check_green(&b);
    assert_eq!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    assert_eq!(admin(&b, &reload), "OK");
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");
    assert_eq!(b.cli().ca(&old_ca).login("app").run(&["PING"]), "PONG");
    // Finishing now would strand the certificates still signed by the old CA.
    let port = format!("redis.port={}", b.port);
    let early = run(
        b.tmp.path(),
        &[
            "rotate",
            "ca",
            "--finish",
            "--env",
            "production",
            "--out",
            b.dir.to_str().unwrap(),
            "--set",
            &port,
            "--set",
            "acl.admin.enabled=true",
        ],
    );
    early.failure(2).stderr_has("rotate certs");

    // Step 2: certificates from the new CA. Old and new client certificates both work.
    rotate(&b, &["certs"]);
    check_green(&b);
    assert_eq!(admin(&b, &reload), "OK");
    let with_old_cert = || {
        b.cli()
            .client_cert("tls/client.previous.crt", "tls/client.previous.key")
    };
    assert_eq!(with_old_cert().login("app").run(&["PING"]), "PONG");
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");

    // Step 3: drop the old CA. A certificate it signed is refused from now on.
    rotate(&b, &["ca", "--finish"]);
    check_green(&b);
    assert_eq!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        1
    );
    assert_eq!(admin(&b, &reload), "OK");
    let out = with_old_cert().login("app").run(&["PING"]);
    assert!(
        !out.contains("PONG"),
        "a certificate of the retired CA was accepted: {out}"
    );
    assert_eq!(b.cli().login("app").run(&["PING"]), "PONG");
    rotate(&b, &["certs", "--finish"]);
    check_green(&b);
}

/// rotate changes secrets only: given other inputs than the manifest recorded (here a --set
/// that would also fail the policy gate), every kind and every --finish exits 2, says to
/// render first, and changes no byte.
#[test]
fn a_rotation_with_other_inputs_than_recorded_is_refused_and_changes_nothing() {
    let b = Bundle::init("production", &[]);
    let before = crate::support::tree(&b.dir);
    let port = format!("redis.port={}", b.port);
    let out = b.dir.to_str().unwrap();
    for what in [
        &["passwords"][..],
        &["certs"],
        &["ca"],
        &["encryption-key"],
        &["passwords", "--finish"],
    ] {
        let mut args = vec!["rotate"];
        args.extend_from_slice(what);
        args.extend_from_slice(&[
            "--env",
            "production",
            "--out",
            out,
            "--set",
            &port,
            "--set",
            "tls.client_auth=off",
        ]);
        run(b.tmp.path(), &args)
            .failure(2)
            .stderr_has("tls.client_auth: required -> off")
            .stderr_has("redis-harden render");
        assert_eq!(
            crate::support::tree(&b.dir),
            before,
            "rotate {what:?} left changes behind"
        );
    }
}

fn serial(b: &Bundle, rel: &str) -> String {
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-serial",
            "-in",
            b.path(rel).to_str().unwrap(),
        ])
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn presented_serial(b: &Bundle) -> String {
    let connect = format!("127.0.0.1:{}", b.port);
    let s_client = Command::new("timeout")
        .args(["-k", "1", "10", "openssl", "s_client", "-connect", &connect])
        .args([
            "-cert",
            b.path("tls/client.crt").to_str().unwrap(),
            "-key",
            b.path("tls/client.key").to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let pem = String::from_utf8_lossy(&s_client.stdout).into_owned();
    let tmp = b.tmp.path().join("presented.pem");
    std::fs::write(&tmp, pem).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in", tmp.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn encryption_key_rotation_keeps_old_tokens_readable() {
    require_python("cryptography", "cryptography");
    let b = Bundle::init("testing", &[]);
    let old_key = b.secret("REDIS_ENCRYPTION_KEY");
    let token = python(&format!(
        "from cryptography.fernet import Fernet; print(Fernet(b'{old_key}').encrypt(b'card 4111').decode())"
    ));
    rotate(&b, &["encryption-key"]);
    let env = env_file(&b.path("client.env"));
    let keys = &env["REDIS_ENCRYPTION_KEYS"];
    assert_ne!(env["REDIS_ENCRYPTION_KEY"], old_key);
    assert_eq!(
        keys.split(',').collect::<Vec<_>>(),
        [env["REDIS_ENCRYPTION_KEY"].as_str(), old_key.as_str()]
    );
    let read_back = python(&format!(
        "from cryptography.fernet import Fernet, MultiFernet\n\
         f = MultiFernet([Fernet(k.encode()) for k in '{keys}'.split(',')])\n\
         print(f.decrypt(b'{token}').decode())"
    ));
    assert_eq!(read_back, "card 4111");
    rotate(&b, &["encryption-key", "--finish"]);
    let env = env_file(&b.path("client.env"));
    assert_eq!(env["REDIS_ENCRYPTION_KEYS"], env["REDIS_ENCRYPTION_KEY"]);
}

fn python(code: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", code])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
