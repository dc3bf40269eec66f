//! `--target kubernetes`: the k8s/ manifests are judged offline by the outside tools the issue
//! names, `kubernetes-validate --strict` (for 1.29 and the newest schemas it bundles) and
//! `checkov --framework kubernetes` (0 failed checks; every skip carries its reason in a
//! `checkov.io/skip` annotation); plus the certificate's names, the Secret file's mode and
//! git-ignore, bad values and the gate's refusal of a regressed team template.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{require, run, tree};

const PIP: &str = "pip install kubernetes-validate checkov";

/// Every manifest file of a bundle.
fn manifests(bundle: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bundle.join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// `init --target kubernetes` into `root/NAME`.
fn init(root: &Path, name: &str, env: &str, sets: &[&str]) -> PathBuf {
    let out = root.join(name);
    let mut args = vec![
        "init",
        "--env",
        env,
        "--target",
        "kubernetes",
        "--out",
        out.to_str().unwrap(),
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    run(root, &args).success();
    out
}

/// The bundles the validators judge: every environment with TLS, Redis and Valkey, with and
/// without an image digest.
fn bundles(root: &Path) -> Vec<PathBuf> {
    let digest = format!(
        "kubernetes.image_digest=sha256:{}",
        "0123456789abcdef".repeat(4)
    );
    vec![
        init(root, "production", "production", &[]),
        init(root, "staging", "staging", &[]),
        init(root, "development", "development", &[]),
        init(root, "valkey", "production", &["engine=valkey"]),
        init(
            root,
            "pinned",
            "production",
            &[
                &digest,
                "kubernetes.namespace=shop",
                "kubernetes.name=cache",
            ],
        ),
    ]
}

/// The newest Kubernetes version whose schemas kubernetes-validate bundles (its default).
fn newest_bundled_version() -> String {
    let out = Command::new("kubernetes-validate")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let words: Vec<&str> = help.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "Defaults")
        .expect("kubernetes-validate --help names its default version");
    words[at + 2].trim_end_matches('.').to_owned()
}

#[test]
fn manifests_pass_kubernetes_validate_strict_for_1_29_and_the_newest() {
    require("kubernetes-validate", PIP);
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = bundles(tmp.path())
        .iter()
        .flat_map(|b| manifests(b))
        .collect();
    assert_eq!(files.len(), 5 * 5, "{files:?}");
    let newest = newest_bundled_version();
    assert!(newest.starts_with("1."), "{newest}");
    for version in ["1.29.0", newest.as_str()] {
        let out = Command::new("kubernetes-validate")
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubernetes-validate --strict -k {version} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every object was judged: 1 ConfigMap, 3 Secrets, 2 Services, 1 StatefulSet and 1
        // NetworkPolicy per bundle.
        assert_eq!(
            stdout.matches(" passed for resource ").count(),
            5 * 8,
            "{stdout}"
        );
    }
}

#[test]
fn manifests_pass_checkov_with_no_failed_check_and_only_reasoned_skips() {
    require("checkov", PIP);
    let tmp = tempfile::tempdir().unwrap();
    let bundles = bundles(tmp.path());
    // Files, not a directory: checkov skips directories whose names start with a dot, as
    // temporary ones do.
    let mut cmd = Command::new("checkov");
    cmd.args(["--framework", "kubernetes", "--skip-download", "-o", "json"]);
    for f in bundles.iter().flat_map(|b| manifests(b)) {
        cmd.arg("-f").arg(f);
    }
    let out = cmd.env("LOG_LEVEL", "ERROR").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's JSON: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary = &report["summary"];
    assert!(
        summary.is_object(),
        "checkov's report has no summary:\n{stdout}"
    );
    let failed = &report["results"]["failed_checks"];
    assert_eq!(summary["failed"], 0, "checkov failed checks:\n{failed:#}");
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert!(out.status.success(), "checkov exit {:?}", out.status);
    // Each bundle's StatefulSet was judged by the pod checks (95 passed on the first run).
    assert!(
        summary["passed"].as_u64().unwrap() >= 90 * bundles.len() as u64,
        "{summary}"
    );
    // The only skip is the digest check, where no digest is configured, and it says why.
    let skipped = report["results"]["skipped_checks"].as_array().unwrap();
    assert_eq!(skipped.len(), bundles.len() - 1, "{skipped:#?}");
    for s in skipped {
        assert_eq!(s["check_id"], "CKV_K8S_43", "{s:#}");
        let why = s["check_result"]["suppress_comment"].as_str().unwrap_or("");
        assert!(why.contains("kubernetes.image_digest"), "{s:#}");
    }
}

#[test]
fn the_shared_certificate_covers_the_services_every_pod_and_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let b = init(
        tmp.path(),
        "b",
        "production",
        &["kubernetes.namespace=shop"],
    );
    let pem = std::fs::read_to_string(b.join("tls/server.crt")).unwrap();
    let info = redis_harden::pki::CertInfo::parse(&pem).unwrap();
    for name in [
        "redis.shop.svc.cluster.local",
        "redis",
        "*.redis-headless.shop.svc.cluster.local",
        "localhost",
    ] {
        assert!(
            info.dns_names.iter().any(|n| n == name),
            "{name}: {:?}",
            info.dns_names
        );
    }
    for ip in ["127.0.0.1", "::1"] {
        assert!(
            info.ips.contains(&ip.parse().unwrap()),
            "{ip}: {:?}",
            info.ips
        );
    }
    // Clients reach the client Service by the name the certificate has.
    let client = std::fs::read_to_string(b.join("client.env")).unwrap();
    assert!(
        client.contains("@redis.shop.svc.cluster.local:6379/0"),
        "{client}"
    );
}

#[test]
fn the_secrets_manifest_is_owner_only_and_git_ignored_and_the_rest_hold_no_secret() {
    use std::os::unix::fs::PermissionsExt;
    require("git", "apt-get install -y git");
    let tmp = tempfile::tempdir().unwrap();
    let b = init(tmp.path(), "b", "production", &[]);
    let mode = |rel: &str| std::fs::metadata(b.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("k8s/secrets.yaml"), 0o600);
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&b)
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    assert!(
        git(&["check-ignore", "-q", "k8s/secrets.yaml"])
            .status
            .success()
    );
    let secrets = crate::support::env_file(&b.join("secrets.env"));
    let key = std::fs::read_to_string(b.join("tls/server.key")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    for f in manifests(&b) {
        let text = std::fs::read_to_string(&f).unwrap();
        let is_secret = f.ends_with("secrets.yaml");
        if !is_secret {
            assert_eq!(mode(f.strip_prefix(&b).unwrap().to_str().unwrap()), 0o644);
            assert!(
                !git(&["check-ignore", "-q", f.to_str().unwrap()])
                    .status
                    .success()
            );
        }
        for (var, value) in &secrets {
            assert_eq!(
                text.contains(value.as_str()),
                is_secret && var.starts_with("REDIS_PASSWORD_"),
                "{var} in {}",
                f.display()
            );
        }
        assert!(!text.contains(&key_body), "{}", f.display());
    }
    // The server pods get monitoring's password (for the probes) and no other.
    let sts = std::fs::read_to_string(b.join("k8s/statefulset.yaml")).unwrap();
    assert!(sts.contains("{key: \"monitoring\""), "{sts}");
    assert!(!sts.contains("{key: \"app\"") && !sts.contains("{key: \"admin\""));
}

#[test]
fn bad_kubernetes_values_exit_2_and_write_nothing() {
    for (env, set, named) in [
        (
            "production",
            "kubernetes.namespace=default",
            "kubernetes.namespace",
        ),
        (
            "production",
            "kubernetes.namespace=Shop",
            "kubernetes.namespace",
        ),
        ("production", "kubernetes.name=redis_1", "kubernetes.name"),
        (
            "production",
            "kubernetes.storage_size=1G",
            "kubernetes.storage_size",
        ),
        (
            "production",
            "kubernetes.image_digest=sha256:abc",
            "kubernetes.image_digest",
        ),
        ("production", "kubernetes.uid=0", "kubernetes.uid"),
        ("production", "engine=dragonfly", "Dragonfly"),
        ("testing", "redis.port=6379", "needs TLS"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let r = run(
            tmp.path(),
            &[
                "init",
                "--env",
                env,
                "--target",
                "kubernetes",
                "--out",
                out.to_str().unwrap(),
                "--set",
                set,
            ],
        );
        r.failure(2).stderr_has(named);
        assert!(tree(&out).is_empty(), "{set}: files were written");
    }
}

#[test]
fn the_gate_refuses_a_team_template_that_regresses_the_pod() {
    let tmp = tempfile::tempdir().unwrap();
    let team = tmp.path().join("team");
    std::fs::create_dir(&team).unwrap();
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/k8s-statefulset.yaml.tera"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    for (from, to, shown) in [
        (
            "privileged: false",
            "privileged: true",
            "securityContext.privileged: true",
        ),
        (
            "      securityContext:\n        runAsNonRoot: true",
            "      securityContext:\n        runAsNonRoot: false",
            "runAsNonRoot: false",
        ),
        (
            "      automountServiceAccountToken: false",
            "      automountServiceAccountToken: false\n      hostNetwork: true",
            "spec.template.spec.hostNetwork: true",
        ),
        (
            "            readOnlyRootFilesystem: true\n",
            "",
            "readOnlyRootFilesystem: \\\"missing",
        ),
    ] {
        assert!(builtin.contains(from), "{from}");
        // Only the container's own runAsNonRoot goes: the pod's still says true.
        let regressed = builtin.replacen(from, to, 1);
        std::fs::write(team.join("k8s-statefulset.yaml.tera"), regressed).unwrap();
        let r = run(
            tmp.path(),
            &[
                "init",
                "--env",
                "production",
                "--target",
                "kubernetes",
                "--out",
                out.to_str().unwrap(),
                "--templates",
                team.to_str().unwrap(),
            ],
        );
        r.failure(1)
            .stderr_has("[kubernetes-hardening]")
            .stderr_has(shown);
        assert!(tree(&out).is_empty(), "{to}: files were written");
    }
    // Accepted on purpose, the manifest says so loudly, and every run warns.
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--target",
            "kubernetes",
            "--out",
            out.to_str().unwrap(),
            "--templates",
            team.to_str().unwrap(),
            "--allow-insecure",
            "kubernetes-hardening",
        ],
    );
    r.success()
        .stderr_has("warning: INSECURE: policy rule kubernetes-hardening");
    let sts = std::fs::read_to_string(out.join("k8s/statefulset.yaml")).unwrap();
    assert!(
        sts.starts_with("# !!! INSECURE: policy rule \"kubernetes-hardening\""),
        "{sts}"
    );
}

/// The manifests of the built-in production profile, pinned. Deterministic inputs: the
/// seeded test passwords of `render_seeded` and stand-in PEM text, never a real key.
#[test]
fn snapshot_of_the_production_manifests() {
    use rand::SeedableRng;
    use redis_harden::kubernetes;
    use redis_harden::profile::Environment;
    use redis_harden::render::Target;
    use redis_harden::secrets::Secrets;
    use redis_harden::templates::Templates;
    let env = Environment::Production;
    let (resolved, files) = crate::support::render_seeded(env, Target::Kubernetes, &[]);
    let mut secrets = Secrets::default();
    secrets.ensure(
        &resolved.settings,
        &mut rand::rngs::StdRng::seed_from_u64(42),
    );
    let pem =
        |what: &str| format!("-----BEGIN {what}-----\nnot a real {what}\n-----END {what}-----\n");
    let (ca, cert, key) = (pem("CERTIFICATE"), pem("CERTIFICATE"), pem("PRIVATE KEY"));
    let manifests = kubernetes::render(
        &Templates::builtin().unwrap(),
        &kubernetes::Input {
            project: &resolved.project,
            env,
            profile: &resolved.settings,
            secrets: &secrets,
            rendered: &files,
            tls: Some(kubernetes::TlsPems {
                ca_cert: &ca,
                cert: &cert,
                key: &key,
            }),
        },
    )
    .unwrap();
    let mut out = String::new();
    for (name, file) in &manifests {
        out.push_str(&format!(
            "==== {name} ({:o}) ====\n{}",
            file.mode, file.content
        ));
    }
    crate::support::pin("production-kubernetes", &out);
}

/// The pod as the manifests lay it out, on loopback: the ConfigMap's redis.conf, with the
/// pod's config directory and /data moved into a temp dir, boots Redis 7.0, and the probe
/// script of the StatefulSet logs in as monitoring over TLS (and fails on a wrong password).
#[test]
fn the_pod_config_boots_and_its_probe_logs_in() {
    require("redis-server", "apt-get install -y redis-server");
    require("redis-cli", "apt-get install -y redis-tools");
    let tmp = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let b = init(
        tmp.path(),
        "b",
        "production",
        &[&format!("redis.port={port}")],
    );
    let etc = tmp.path().join("etc");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(etc.join("tls")).unwrap();
    std::fs::create_dir_all(etc.join("secrets")).unwrap();
    std::fs::create_dir(&data).unwrap();
    let pod_dir = "/usr/local/etc/redis";
    let moved = |text: &str| {
        text.replace(pod_dir, etc.to_str().unwrap())
            .replace(
                "dir \"/data\"",
                &format!("dir {:?}", data.to_str().unwrap()),
            )
            .replace("dir /data", &format!("dir {}", data.display()))
    };
    let conf = moved(&std::fs::read_to_string(b.join("redis.conf")).unwrap());
    assert!(!conf.contains("/data\n"), "{conf}");
    std::fs::write(etc.join("redis.conf"), &conf).unwrap();
    for (from, to) in [
        ("users.acl", "users.acl"),
        ("openssl.cnf", "openssl.cnf"),
        ("tls/ca.crt", "tls/ca.crt"),
        ("tls/server.crt", "tls/server.crt"),
        ("tls/server.key", "tls/server.key"),
    ] {
        std::fs::copy(b.join(from), etc.join(to)).unwrap();
    }
    let monitoring =
        crate::support::env_file(&b.join("secrets.env"))["REDIS_PASSWORD_MONITORING"].clone();
    std::fs::write(etc.join("secrets/monitoring"), &monitoring).unwrap();
    let _server = crate::support::Server::start_conf(
        &etc.join("redis.conf"),
        &["--bind", "127.0.0.1"],
        port,
        &tmp.path().join("redis.log"),
    );
    // The probe exactly as the StatefulSet runs it: `sh -c SCRIPT`.
    let sts = std::fs::read_to_string(b.join("k8s/statefulset.yaml")).unwrap();
    let line = sts
        .lines()
        .find(|l| l.contains("command: [\"sh\", \"-c\", "))
        .unwrap();
    let script: String = serde_json::from_str(
        line.trim()
            .trim_start_matches("command: [\"sh\", \"-c\", ")
            .trim_end_matches(']'),
    )
    .unwrap();
    assert!(
        !script.contains(&monitoring),
        "the password is on the probe's command line"
    );
    let probe = || {
        Command::new("timeout")
            .args(["10", "sh", "-c", &moved(&script)])
            .status()
            .unwrap()
    };
    assert!(
        probe().success(),
        "the probe failed against a healthy server: {script}"
    );
    std::fs::write(etc.join("secrets/monitoring"), "wrong-password").unwrap();
    assert!(!probe().success(), "the probe passed with a wrong password");
}

/// A local bundle moved to --target kubernetes keeps its certificate (never replaced), loses
/// its host firewall files, and is told which names the certificate lacks.
#[test]
fn a_bundle_moved_to_kubernetes_keeps_its_certificate_and_says_what_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let o = out.to_str().unwrap();
    run(tmp.path(), &["init", "--env", "production", "--out", o]).success();
    let cert = std::fs::read(out.join("tls/server.crt")).unwrap();
    run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            o,
            "--target",
            "kubernetes",
        ],
    )
    .success()
    .stderr_has("does not cover redis.redis.svc.cluster.local")
    .stderr_has("*.redis-headless.redis.svc.cluster.local, ::1");
    assert_eq!(std::fs::read(out.join("tls/server.crt")).unwrap(), cert);
    assert!(!out.join("firewall").join("nftables.nft").exists());
    assert!(out.join("k8s/statefulset.yaml").exists());
}
