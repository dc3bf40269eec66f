//! The client programs in `examples/` (redis-py and ioredis) against each supported server
//! (Redis 7.0, Redis 8.0, Valkey 8.1) booted from an `init` bundle, configured by nothing but the bundle's `client.env`: a SET/GET
//! round trip over mTLS with the server certificate verified (production), in plaintext on
//! loopback (testing), and a refusal when the certificate does not verify.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::live::on_every_server;
use crate::support::{Bundle, Server, ServerUnderTest, env_file, require, require_python};

on_every_server!(
    examples_round_trip_over_mtls_with_a_production_bundle,
    examples_round_trip_in_plaintext_with_a_testing_bundle,
    examples_refuse_a_certificate_that_does_not_verify,
);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Node,
}

/// Where the example finds client.env's variables.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// The path to client.env as the first argument.
    Argument,
    /// The variables in the process environment.
    Environment,
}

#[track_caller]
fn require_lang(lang: Lang) {
    match lang {
        Lang::Python => {
            require_python("redis", "redis");
            require_python("cryptography", "cryptography");
        }
        Lang::Node => {
            require("node", "apt-get install -y nodejs npm");
            let ioredis = examples().join("node/node_modules/ioredis");
            assert!(
                ioredis.is_dir(),
                "ioredis is not installed for the Node example ({} is missing); install it \
                 with: (cd examples/node && npm ci)",
                ioredis.display()
            );
        }
    }
}

/// Runs one example against `client_env`; returns whether it succeeded, and its output.
fn run_example(lang: Lang, client_env: &Path, source: Source) -> (bool, String) {
    require_lang(lang);
    let (program, script) = match lang {
        Lang::Python => ("python3", "python/client.py"),
        Lang::Node => ("node", "node/client.js"),
    };
    // Bounded: a client stuck on a handshake fails the test instead of hanging it.
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "1", "60", program])
        .arg(examples().join(script));
    // Nothing from the test's own environment may help the example connect.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REDIS") {
            cmd.env_remove(k);
        }
    }
    match source {
        Source::Argument => {
            cmd.arg(client_env);
        }
        Source::Environment => {
            cmd.envs(env_file(client_env));
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run the {lang:?} example: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[track_caller]
fn assert_round_trip(b: &Bundle, lang: Lang, source: Source) {
    let (ok, text) = run_example(lang, &b.path("client.env"), source);
    assert!(
        ok && text.starts_with("ok: SET/GET"),
        "{lang:?} example, {} bundle, client.env via {source:?}:\n{text}",
        b.env
    );
    // ioredis warns on stderr when its ready check runs INFO, which the app user may not.
    assert!(!text.contains("Skipping the ready check"), "{text}");
}

fn examples_round_trip_over_mtls_with_a_production_bundle(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "production", &[]);
    let _server = Server::start(&b);
    for lang in [Lang::Python, Lang::Node] {
        for source in [Source::Argument, Source::Environment] {
            assert_round_trip(&b, lang, source);
        }
    }
}

fn examples_round_trip_in_plaintext_with_a_testing_bundle(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "testing", &[]);
    let env = env_file(&b.path("client.env"));
    assert!(env["REDIS_URL"].starts_with("redis://"), "{env:?}");
    assert!(!env.contains_key("REDIS_TLS_CA_FILE"), "{env:?}");
    let _server = Server::start(&b);
    for lang in [Lang::Python, Lang::Node] {
        assert_round_trip(&b, lang, Source::Argument);
    }
}

/// Verification is really on: both examples refuse a server whose certificate is signed by
/// another CA, and one whose certificate does not name the host in REDIS_URL.
fn examples_refuse_a_certificate_that_does_not_verify(srv: &'static ServerUnderTest) {
    // 127.0.0.2 is loopback too, but not in the certificate (localhost and 127.0.0.1 are).
    let b = Bundle::init_for(
        srv,
        "production",
        &["--set", "redis.bind=[127.0.0.1, 127.0.0.2]"],
    );
    let other = Bundle::init_for(srv, "production", &[]);
    let _server = Server::start(&b);
    let original = std::fs::read_to_string(b.path("client.env")).unwrap();

    let wrong_ca = b.tmp.path().join("wrong-ca.env");
    let other_ca = other.path("tls/ca.crt");
    std::fs::write(
        &wrong_ca,
        original.replace(
            &b.path("tls/ca.crt").display().to_string(),
            &other_ca.display().to_string(),
        ),
    )
    .unwrap();
    let wrong_host = b.tmp.path().join("wrong-host.env");
    assert!(original.contains("@localhost:"), "{original}");
    std::fs::write(&wrong_host, original.replace("@localhost:", "@127.0.0.2:")).unwrap();

    for lang in [Lang::Python, Lang::Node] {
        // The same client.env with the right CA and host works, so the failures below are
        // verification's doing.
        assert_round_trip(&b, lang, Source::Argument);
        for (what, file) in [("another CA", &wrong_ca), ("a host not in it", &wrong_host)] {
            let (ok, text) = run_example(lang, file, Source::Argument);
            assert!(
                !ok && text.to_lowercase().contains("certificate"),
                "{lang:?} example accepted a certificate from {what}:\n{text}"
            );
        }
    }
}
