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

/// `redis-harden init --env ENV --target kubernetes --out OUT` plus `more` (flags, or `--set`
/// pairs), run in `root`.
fn init_k8s(root: &Path, out: &Path, env: &str, more: &[&str]) -> crate::support::Run {
    let mut args = vec![
        "init",
        "--env",
        env,
        "--target",
        "kubernetes",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(more);
    run(root, &args)
}

/// `init --target kubernetes` into `root/NAME`, which must succeed.
fn init(root: &Path, name: &str, env: &str, sets: &[&str]) -> PathBuf {
    let out = root.join(name);
    let more: Vec<&str> = sets.iter().flat_map(|s| ["--set", s]).collect();
    init_k8s(root, &out, env, &more).success();
    out
}

/// What one bundle's manifests hold: (files, objects, workloads) per topology kind.
/// standalone: ConfigMap, 3 Secrets, 2 Services, a StatefulSet, a NetworkPolicy;
/// sentinel: ConfigMap, 4 Secrets (+ the pods' configs), 3 Services (data headless,
/// Sentinel headless and client), 2 StatefulSets, 2 NetworkPolicies; cluster: ConfigMap,
/// 4 Secrets, 2 Services, a StatefulSet, the cluster-create Job, 2 NetworkPolicies.
fn expected(kind: &str) -> (usize, usize, usize) {
    match kind {
        "standalone" => (5, 8, 1),
        "sentinel" => (5, 12, 2),
        "cluster" => (6, 11, 2),
        other => panic!("{other}"),
    }
}

/// One bundle the validators judge, with its topology kind and whether a digest pins it.
struct Judged {
    dir: PathBuf,
    kind: &'static str,
    pinned: bool,
}

/// The bundles the validators judge: every environment with TLS, Redis and Valkey, with and
/// without an image digest, and the sentinel and cluster kinds in every environment with TLS.
fn bundles(root: &Path) -> Vec<Judged> {
    let digest = format!(
        "kubernetes.image_digest=sha256:{}",
        "0123456789abcdef".repeat(4)
    );
    let judged = |dir, kind, pinned| Judged { dir, kind, pinned };
    let mut out = vec![
        judged(
            init(root, "production", "production", &[]),
            "standalone",
            false,
        ),
        judged(init(root, "staging", "staging", &[]), "standalone", false),
        judged(
            init(root, "development", "development", &[]),
            "standalone",
            false,
        ),
        judged(
            init(root, "valkey", "production", &["engine=valkey"]),
            "standalone",
            false,
        ),
        judged(
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
            "standalone",
            true,
        ),
    ];
    for env in ["production", "staging", "development"] {
        for kind in ["sentinel", "cluster"] {
            let set = format!("topology.kind={kind}");
            let dir = init(root, &format!("{kind}-{env}"), env, &[&set]);
            out.push(judged(dir, kind, false));
        }
    }
    out
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
    let bundles = bundles(tmp.path());
    let files: Vec<PathBuf> = bundles.iter().flat_map(|b| manifests(&b.dir)).collect();
    let count = |pick: fn((usize, usize, usize)) -> usize| -> usize {
        bundles.iter().map(|b| pick(expected(b.kind))).sum()
    };
    assert_eq!(files.len(), count(|e| e.0), "{files:?}");
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
        // Every object was judged (see `expected`).
        assert_eq!(
            stdout.matches(" passed for resource ").count(),
            count(|e| e.1),
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
    for f in bundles.iter().flat_map(|b| manifests(&b.dir)) {
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
    // The only skip is the digest check, on each workload where no digest is configured, and
    // it says why.
    let skipped = report["results"]["skipped_checks"].as_array().unwrap();
    let unpinned: usize = bundles
        .iter()
        .filter(|b| !b.pinned)
        .map(|b| expected(b.kind).2)
        .sum();
    assert_eq!(skipped.len(), unpinned, "{skipped:#?}");
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
    require("git", "apt-get install -y git");
    let tmp = tempfile::tempdir().unwrap();
    // Each pod mounts the one password its probe needs (or the Job, cluster-admin's).
    for (kind, mounted) in [
        ("standalone", &["monitoring"][..]),
        ("sentinel", &["monitoring", "sentinel-peer"]),
        ("cluster", &["monitoring", "cluster-admin"]),
    ] {
        let set = format!("topology.kind={kind}");
        let b = init(tmp.path(), kind, "production", &[&set]);
        secrets_stay_in_secret_files(&b, mounted);
    }
}

fn secrets_stay_in_secret_files(b: &Path, mounted: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |rel: &str| std::fs::metadata(b.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("k8s/secrets.yaml"), 0o600);
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(b)
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    assert!(
        git(&["check-ignore", "-q", "k8s/secrets.yaml"])
            .status
            .success()
    );
    // Every owner-only file at the top (the pods' configs of a topology too) is git-ignored.
    for e in std::fs::read_dir(b).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_file() && mode(&name) == 0o600 && !name.starts_with('.') {
            assert!(
                git(&["check-ignore", "-q", &name]).status.success(),
                "{name} is not git-ignored"
            );
        }
    }
    let secrets = crate::support::env_file(&b.join("secrets.env"));
    let key = std::fs::read_to_string(b.join("tls/server.key")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    for f in manifests(b) {
        let text = std::fs::read_to_string(&f).unwrap();
        let is_secret = f.ends_with("secrets.yaml");
        if !is_secret {
            assert_eq!(mode(f.strip_prefix(b).unwrap().to_str().unwrap()), 0o644);
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
    // The pods get the passwords of their probes (and the Job cluster-admin's), no other.
    let mut pods = std::fs::read_to_string(b.join("k8s/statefulset.yaml")).unwrap();
    if let Ok(job) = std::fs::read_to_string(b.join("k8s/cluster-create-job.yaml")) {
        pods.push_str(&job);
    }
    for user in secrets
        .keys()
        .filter_map(|v| v.strip_prefix("REDIS_PASSWORD_"))
    {
        let user = user.to_lowercase().replace('_', "-");
        assert_eq!(
            pods.contains(&format!("{{key: \"{user}\"")),
            mounted.contains(&user.as_str()),
            "{user}"
        );
    }
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
        let r = init_k8s(tmp.path(), &out, env, &["--set", set]);
        r.failure(2).stderr_has(named);
        assert!(tree(&out).is_empty(), "{set}: files were written");
    }
    // Pods are placed by the StatefulSets: explicit nodes have no place in k8s/.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let nodes: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "{{name: n{i}, ip: 10.0.0.{}, port: {}}}",
                i % 3 + 1,
                6379 + i / 3
            )
        })
        .collect();
    init_k8s(
        tmp.path(),
        &out,
        "production",
        &[
            "--set",
            "topology.kind=cluster",
            "--set",
            &format!("topology.nodes=[{}]", nodes.join(", ")),
        ],
    )
    .failure(2)
    .stderr_has("topology.nodes places nodes");
    assert!(tree(&out).is_empty(), "files were written");
}

#[test]
fn the_gate_refuses_a_team_template_that_regresses_the_pod() {
    let tmp = tempfile::tempdir().unwrap();
    let team = tmp.path().join("team");
    let builtin = |name: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates")
                .join(name),
        )
        .unwrap()
    };
    let out = tmp.path().join("out");
    // `init` of the production profile with the team's templates.
    let with_team = |more: &[&str]| {
        let mut args = vec!["--templates", team.to_str().unwrap()];
        args.extend(more);
        init_k8s(tmp.path(), &out, "production", &args)
    };
    // The pod's settings are in the StatefulSet template, each container's in the partial
    // every container of every workload (the Sentinels', the cluster-create Job's) includes.
    const STS: &str = "k8s-statefulset.yaml.tera";
    const CONTAINER: &str = "k8s-container.yaml.tera";
    for (file, from, to, shown) in [
        (
            CONTAINER,
            "privileged: false",
            "privileged: true",
            "securityContext.privileged: true",
        ),
        (
            STS,
            "      securityContext:\n        runAsNonRoot: true",
            "      securityContext:\n        runAsNonRoot: false",
            "runAsNonRoot: false",
        ),
        (
            STS,
            "      automountServiceAccountToken: false",
            "      automountServiceAccountToken: false\n      hostNetwork: true",
            "spec.template.spec.hostNetwork: true",
        ),
        (
            CONTAINER,
            "            readOnlyRootFilesystem: true\n",
            "",
            "readOnlyRootFilesystem: \\\"missing",
        ),
    ] {
        let text = builtin(file);
        assert!(text.contains(from), "{from}");
        let _ = std::fs::remove_dir_all(&team);
        std::fs::create_dir(&team).unwrap();
        // Only the container's own runAsNonRoot goes: the pod's still says true.
        std::fs::write(team.join(file), text.replacen(from, to, 1)).unwrap();
        // Every workload of every kind is judged.
        for (kind, objects) in [
            ("standalone", &["StatefulSet/redis:"][..]),
            (
                "sentinel",
                &["StatefulSet/redis:", "StatefulSet/redis-sentinel:"],
            ),
            (
                "cluster",
                &["StatefulSet/redis:", "Job/redis-cluster-create:"],
            ),
        ] {
            let r = with_team(&["--set", &format!("topology.kind={kind}")]);
            r.failure(1)
                .stderr_has("[kubernetes-hardening]")
                .stderr_has(shown);
            for o in objects {
                r.stderr_has(o);
            }
            assert!(tree(&out).is_empty(), "{kind}, {to}: files were written");
        }
    }
    // Accepted on purpose, the manifest says so loudly, and every run warns.
    let r = with_team(&["--allow-insecure", "kubernetes-hardening"]);
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
fn manifests_snapshot(name: &str, sets: &[&str]) {
    use redis_harden::kubernetes;
    use redis_harden::profile::Environment;
    use redis_harden::render::Target;
    use redis_harden::templates::Templates;
    let env = Environment::Production;
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (resolved, files) = crate::support::render_seeded(env, Target::Kubernetes, &sets);
    let secrets = crate::support::seeded_secrets(&resolved.settings);
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
    crate::support::pin(name, &out);
}

#[test]
fn snapshot_of_the_production_manifests() {
    manifests_snapshot("production-kubernetes", &[]);
}

/// The pods' configs are in the Secrets manifest (secrets.yaml), so each kind's snapshot
/// pins them too.
#[test]
fn snapshot_of_the_sentinel_and_cluster_manifests() {
    manifests_snapshot(
        "production-kubernetes-sentinel",
        &["topology.kind=sentinel"],
    );
    manifests_snapshot("production-kubernetes-cluster", &["topology.kind=cluster"]);
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
    init_k8s(tmp.path(), &out, "production", &[])
        .success()
        .stderr_has("does not cover redis.redis.svc.cluster.local")
        .stderr_has("*.redis-headless.redis.svc.cluster.local, ::1");
    assert_eq!(std::fs::read(out.join("tls/server.crt")).unwrap(), cert);
    assert!(!out.join("firewall").join("nftables.nft").exists());
    assert!(out.join("k8s/statefulset.yaml").exists());
}

/// The `sh -c` scripts of a workload manifest, in order: init containers' and probes'.
fn scripts(manifest: &Path) -> Vec<String> {
    std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: [\"sh\", \"-c\", "))
        .map(|rest| serde_json::from_str(rest.trim_end_matches(']')).unwrap())
        .collect()
}

/// A pod's file system on loopback: the projected config directory (`etc`, filled from the
/// bundle's files the Secrets and ConfigMap carry), and per pod a writable conf directory
/// and a data directory. The pods' DNS names become `localhost`: there is no cluster DNS
/// here. Everything else is the manifests' own text.
struct PodFs {
    root: PathBuf,
    etc: PathBuf,
}

impl PodFs {
    fn new(root: &Path, bundle: &Path, passwords: &[&str]) -> PodFs {
        let etc = root.join("etc");
        std::fs::create_dir_all(etc.join("tls")).unwrap();
        std::fs::create_dir_all(etc.join("secrets")).unwrap();
        for f in [
            "redis.conf",
            "sentinel.conf",
            "users.acl",
            "sentinel-users.acl",
            "openssl.cnf",
            "tls/ca.crt",
            "tls/server.crt",
            "tls/server.key",
        ] {
            if bundle.join(f).exists() {
                std::fs::copy(bundle.join(f), etc.join(f)).unwrap();
            }
        }
        let secrets = crate::support::env_file(&bundle.join("secrets.env"));
        for user in passwords {
            let var = format!("REDIS_PASSWORD_{}", user.to_uppercase().replace('-', "_"));
            std::fs::write(etc.join("secrets").join(user), &secrets[&var]).unwrap();
        }
        PodFs {
            root: root.to_path_buf(),
            etc,
        }
    }

    /// `text` with the pod's paths moved into the temp dir (pod `pod`'s conf and data).
    fn moved(&self, text: &str, pod: &str) -> String {
        let conf = self.root.join(pod).join("conf");
        let data = self.root.join(pod).join("data");
        text.replace("/usr/local/etc/redis", self.etc.to_str().unwrap())
            .replace(" /conf/", &format!(" {}/", conf.display()))
            .replace("\"/conf\"", &format!("{:?}", conf.to_str().unwrap()))
            .replace("\"/data", &format!("\"{}", data.display()))
    }

    /// Runs the init container's script as pod `pod`; returns the config it wrote, with its
    /// paths moved and the pods' DNS names pointed at localhost.
    fn init(&self, script: &str, pod: &str, file: &str) -> PathBuf {
        for d in ["conf", "data"] {
            std::fs::create_dir_all(self.root.join(pod).join(d)).unwrap();
        }
        let ok = Command::new("sh")
            .args(["-c", &self.moved(script, pod)])
            .env("POD_NAME", pod)
            .status()
            .unwrap();
        assert!(ok.success(), "the init script failed for {pod}");
        let conf = self.root.join(pod).join("conf").join(file);
        let text = self.moved(&std::fs::read_to_string(&conf).unwrap(), pod);
        let mut local = String::new();
        for word in text.split_inclusive([' ', '\n']) {
            let bare = word.trim_end();
            if bare.ends_with(".svc.cluster.local") {
                local.push_str(&word.replace(bare, "localhost"));
            } else {
                local.push_str(word);
            }
        }
        std::fs::write(&conf, local).unwrap();
        conf
    }

    /// A probe script of the manifests, run as the kubelet would (`sh -c`), 10 s at most.
    fn probe(&self, script: &str) -> bool {
        Command::new("timeout")
            .args(["10", "sh", "-c", &self.moved(script, "-")])
            .status()
            .unwrap()
            .success()
    }

    /// `redis-cli` over TLS to `port` as `user` (its password from the pod's secrets dir).
    fn cli(&self, port: u16, user: &str, args: &[&str]) -> String {
        let pw = std::fs::read_to_string(self.etc.join("secrets").join(user)).unwrap();
        let etc = &self.etc;
        let out = Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(etc.join("tls/ca.crt"))
            .arg("--cert")
            .arg(etc.join("tls/server.crt"))
            .arg("--key")
            .arg(etc.join("tls/server.key"))
            .args(["-h", "localhost", "-p", &port.to_string(), "--user", user])
            .arg("--no-auth-warning")
            .args(args)
            .env("REDISCLI_AUTH", pw.trim())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The sentinel kind's pods on loopback, as the manifests lay them out: each init script
/// writes its pod's config into its conf directory; pod 0 boots as the primary, pod 1 as its
/// replica (replicaof pod 0, masteruser/masterauth, TLS), and a Sentinel from the Secret's
/// sentinel.conf (resolve-hostnames, its aclfile, its dir the writable conf directory) finds
/// the primary and its replica; the probes of both StatefulSets log in.
#[test]
fn the_sentinel_pods_boot_replicate_and_are_watched() {
    use crate::support::topology::{free_port_run, wait_until};
    require("redis-server", "apt-get install -y redis-server");
    require("redis-cli", "apt-get install -y redis-tools");
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port_run(5);
    let b = init(
        tmp.path(),
        "b",
        "production",
        &[
            "topology.kind=sentinel",
            "topology.replicas=1",
            &format!("redis.port={port}"),
            &format!("topology.sentinel_port={}", port + 2),
        ],
    );
    let (replica_port, sentinel_port) = (port + 1, port + 2);
    let fs = PodFs::new(tmp.path(), &b, &["monitoring", "sentinel-peer", "app"]);
    let sts = scripts(&b.join("k8s/statefulset.yaml"));
    let find = |what: &str, port: u16| {
        sts.iter()
            .find(|s| s.contains(what) && (what == "umask" || s.contains(&format!("-p {port} "))))
            .unwrap_or_else(|| panic!("{what} {port}: {sts:#?}"))
            .clone()
    };
    let (data_init, sentinel_init) = (&sts[0], &sts[3]);
    assert!(data_init.contains("redis.conf") && sentinel_init.contains("sentinel.conf"));
    let log = |pod: &str| tmp.path().join(format!("{pod}.log"));
    let bind = ["--bind", "127.0.0.1"];
    let primary_conf = fs.init(data_init, "redis-0", "redis.conf");
    let _primary = crate::support::Server::start_conf(&primary_conf, &bind, port, &log("redis-0"));
    let replica_conf = fs.init(data_init, "redis-1", "redis.conf");
    assert!(
        std::fs::read_to_string(&replica_conf)
            .unwrap()
            .contains(&format!("replicaof localhost {port}")),
        "pod 1 does not follow pod 0"
    );
    // Every data pod listens on the same port; on one machine pod 1 moves to the next.
    let moved_port = [
        "--tls-port",
        &replica_port.to_string(),
        "--bind",
        "127.0.0.1",
    ];
    let _replica = crate::support::Server::start_conf(
        &replica_conf,
        &moved_port,
        replica_port,
        &log("redis-1"),
    );
    wait_until(
        "the replica's link to pod 0",
        std::time::Duration::from_secs(20),
        || {
            let info = fs.cli(replica_port, "monitoring", &["info", "replication"]);
            if info.contains("master_link_status:up") {
                Ok(())
            } else {
                Err(info)
            }
        },
    );
    let sentinel_conf = fs.init(sentinel_init, "redis-sentinel-0", "sentinel.conf");
    let _sentinel = crate::support::Server::start_conf(
        &sentinel_conf,
        &["--sentinel", "--bind", "127.0.0.1"],
        sentinel_port,
        &log("redis-sentinel-0"),
    );
    // Sentinel logs in to the primary as user sentinel, sees it up and finds its replica.
    let masters = wait_until(
        "Sentinel to watch the primary",
        std::time::Duration::from_secs(30),
        || {
            let out = fs.cli(sentinel_port, "app", &["sentinel", "masters"]);
            let lines: Vec<&str> = out.lines().collect();
            let field = |k: &str| lines.iter().position(|l| *l == k).map(|i| lines[i + 1]);
            if field("flags") == Some("master") && field("num-slaves") == Some("1") {
                Ok(out)
            } else {
                Err(format!(
                    "{out}\n{}",
                    std::fs::read_to_string(log("redis-sentinel-0")).unwrap()
                ))
            }
        },
    );
    assert!(masters.contains("localhost"), "{masters}");
    // Sentinel rewrote its config in the writable conf directory (its id is there now).
    assert!(
        std::fs::read_to_string(&sentinel_conf)
            .unwrap()
            .contains("sentinel myid")
    );
    assert!(
        fs.probe(&find("monitoring", port)),
        "the data pods' probe failed"
    );
    assert!(
        fs.probe(&find("sentinel-peer", sentinel_port)),
        "the Sentinels' probe failed"
    );
}

/// A cluster pod on loopback: its init script's config boots with cluster mode, the TLS bus
/// and hostname endpoints, and the node announces its pod's DNS name; the probe logs in.
#[test]
fn the_cluster_pod_boots_and_announces_its_dns_name() {
    use crate::support::topology::free_port_block;
    require("redis-server", "apt-get install -y redis-server");
    require("redis-cli", "apt-get install -y redis-tools");
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port_block(6, Some(10000));
    let b = init(
        tmp.path(),
        "b",
        "production",
        &["topology.kind=cluster", &format!("redis.port={port}")],
    );
    let fs = PodFs::new(tmp.path(), &b, &["monitoring", "cluster-admin"]);
    let sts = scripts(&b.join("k8s/statefulset.yaml"));
    let conf = fs.init(&sts[0], "redis-0", "redis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    // The announced name stays the pod's: only peers' names were pointed at localhost.
    assert!(
        text.contains("cluster-announce-hostname localhost"),
        "{text}"
    );
    let conf_text = text.replace(
        "cluster-announce-hostname localhost",
        "cluster-announce-hostname redis-0.redis-headless.redis.svc.cluster.local",
    );
    std::fs::write(&conf, conf_text).unwrap();
    let _node = crate::support::Server::start_conf(
        &conf,
        &["--bind", "127.0.0.1"],
        port,
        &tmp.path().join("redis-0.log"),
    );
    let nodes = fs.cli(port, "cluster-admin", &["cluster", "nodes"]);
    assert!(
        nodes.contains(&format!(
            ":{port}@{},redis-0.redis-headless.redis.svc.cluster.local myself,master",
            port + 10000
        )),
        "{nodes}"
    );
    assert!(fs.probe(&sts[1]), "the probe failed");
    // The Job's script logs in as cluster-admin with REDISCLI_AUTH from its file, never argv.
    let job = scripts(&b.join("k8s/cluster-create-job.yaml"));
    let pw = std::fs::read_to_string(fs.etc.join("secrets/cluster-admin")).unwrap();
    assert!(job[0].contains("REDISCLI_AUTH=\"$(cat /usr/local/etc/redis/secrets/cluster-admin)\""));
    assert!(!job[0].contains(" -a ") && !job[0].contains(pw.trim()));
}

/// `SENTINEL SENTINELS` as redis-cli prints it: one map per known peer.
fn sentinel_peers(out: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let lines: Vec<&str> = out.lines().collect();
    let mut peers: Vec<std::collections::BTreeMap<String, String>> = vec![];
    for kv in lines.chunks(2) {
        if let [k, v] = kv {
            if *k == "name" {
                peers.push(Default::default());
            }
            if let Some(peer) = peers.last_mut() {
                peer.insert((*k).to_owned(), (*v).to_owned());
            }
        }
    }
    peers
}

/// A sentinel bundle (1 replica, the admin user on) with its pods on loopback, booted on
/// demand from their init scripts' configs: data pod `i` on the data port + `i`, Sentinel pod
/// `i` on the profile's Sentinel port + `i` (every pod has the same port in the cluster).
struct SentinelPods {
    root: PathBuf,
    bundle: PathBuf,
    /// The profile's settings, for `rotate` to name the same ports.
    sets: Vec<String>,
    fs: PodFs,
    sentinel_port: u16,
    data_init: String,
    sentinel_init: String,
    master: String,
}

impl SentinelPods {
    fn start(root: &Path, sentinels: u16) -> SentinelPods {
        require("redis-server", "apt-get install -y redis-server");
        require("redis-cli", "apt-get install -y redis-tools");
        let port = crate::support::topology::free_port_run(2 + sentinels);
        let sets = vec![
            "topology.kind=sentinel".to_owned(),
            "topology.replicas=1".to_owned(),
            // admin asks the Sentinels for their ids and runs the rotation steps
            "acl.admin.enabled=true".to_owned(),
            format!("redis.port={port}"),
            format!("topology.sentinel_port={}", port + 2),
        ];
        let set_refs: Vec<&str> = sets.iter().map(String::as_str).collect();
        let bundle = init(root, "b", "production", &set_refs);
        let fs = PodFs::new(root, &bundle, &["monitoring", "sentinel-peer", "admin"]);
        let sts = scripts(&bundle.join("k8s/statefulset.yaml"));
        let (data_init, sentinel_init) = (&sts[0], &sts[3]);
        assert!(sentinel_init.contains("sentinel.conf"), "{sentinel_init}");
        let master = std::fs::read_to_string(bundle.join("sentinel.conf"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("sentinel monitor "))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_owned();
        SentinelPods {
            root: root.to_path_buf(),
            bundle,
            sets,
            fs,
            sentinel_port: port + 2,
            data_init: data_init.clone(),
            sentinel_init: sentinel_init.clone(),
            master,
        }
    }

    /// Runs data pod `i`'s init script (a no-op while its conf dir holds the copy), then
    /// boots it; `boot` numbers the log.
    fn data(&self, i: u16, boot: u32) -> crate::support::Server {
        self.boot(
            &format!("redis-{i}"),
            &self.data_init,
            "redis.conf",
            self.data_port() + i,
            boot,
            &[],
        )
    }

    fn data_port(&self) -> u16 {
        self.sentinel_port - 2
    }

    /// Runs Sentinel pod `i`'s init script (a no-op while its conf dir holds the copy), then
    /// boots it; `boot` numbers the log.
    fn sentinel(&self, i: u16, boot: u32) -> crate::support::Server {
        let pod = format!("redis-sentinel-{i}");
        let port = self.sentinel_port + i;
        self.boot(
            &pod,
            &self.sentinel_init,
            "sentinel.conf",
            port,
            boot,
            &["--sentinel"],
        )
    }

    fn boot(
        &self,
        pod: &str,
        script: &str,
        file: &str,
        port: u16,
        boot: u32,
        mode: &[&str],
    ) -> crate::support::Server {
        let conf = self.fs.init(script, pod, file);
        let port_s = port.to_string();
        let mut args = mode.to_vec();
        args.extend(["--bind", "127.0.0.1", "--tls-port", &port_s]);
        crate::support::Server::start_conf(
            &conf,
            &args,
            port,
            &self.root.join(format!("{pod}.{boot}.log")),
        )
    }

    fn admin(&self, port: u16, args: &[&str]) -> String {
        self.fs.cli(port, "admin", args)
    }
}

/// A Sentinel pod deleted and recreated (rolling restart, node drain) gets an empty
/// emptyDir; its init script writes the same `sentinel myid` again, so Redis 7.0's Sentinel
/// comes back with its old id, and a second Sentinel that watched it go and come back knows
/// exactly one peer, with that id. (Measured without the fixed id: the Sentinel comes back
/// with a new random id, and the peer, which hears it at the same announced DNS name, drops
/// the old id, `+sentinel-invalid-addr`, so the list holds one entry either way; the id
/// assertion is what fails then.)
#[test]
fn a_sentinel_pod_keeps_its_id_when_its_emptydir_is_wiped() {
    use crate::support::topology::wait_until;
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let pods = SentinelPods::start(tmp.path(), 2);
    let _primary = pods.data(0, 0);
    let (s0_port, s1_port) = (pods.sentinel_port, pods.sentinel_port + 1);
    let myid = |port: u16| pods.admin(port, &["sentinel", "myid"]).trim().to_owned();
    let peers_of =
        |port: u16| sentinel_peers(&pods.admin(port, &["sentinel", "sentinels", &pods.master]));
    let s0 = pods.sentinel(0, 0);
    let _s1 = pods.sentinel(1, 0);
    let id0 = myid(s0_port);
    assert_eq!(id0.len(), 40, "{id0}");
    assert_ne!(id0, myid(s1_port));
    wait_until(
        "Sentinel 1 to know Sentinel 0",
        Duration::from_secs(30),
        || match peers_of(s1_port).as_slice() {
            [p] if p["runid"] == id0 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // The pod is deleted: the process ends and its emptyDir is gone.
    drop(s0);
    std::fs::remove_dir_all(tmp.path().join("redis-sentinel-0").join("conf")).unwrap();
    let restarted = Instant::now();
    let _s0 = pods.sentinel(0, 1);
    assert_eq!(myid(s0_port), id0, "a new id after the wipe");
    // Sentinel 1 hears from Sentinel 0 again (a hello newer than the restart), and still
    // lists exactly one peer: the same id, at its address.
    let peer = wait_until(
        "a hello from the restarted Sentinel",
        Duration::from_secs(30),
        || {
            let peers = peers_of(s1_port);
            let fresh = peers.iter().any(|p| {
                p["last-hello-message"].parse::<u128>().unwrap() < restarted.elapsed().as_millis()
            });
            match peers.as_slice() {
                [p] if fresh => Ok(p.clone()),
                _ if fresh => panic!("more than one peer after the restart: {peers:?}"),
                _ => Err(format!("{peers:?}")),
            }
        },
    );
    assert_eq!(peer["runid"], id0);
    assert_eq!(peer["port"], s0_port.to_string());
}

/// The reload steps `rotate` prints for a Kubernetes sentinel bundle, run against real pods on
/// loopback (kubectl exec's part dropped, the pods' paths moved): after a password rotation
/// (the admin's own included), each pod's wait loop ends once its mount holds the bundle's new
/// ACL file, `ACL LOAD` answers OK on the data pod and on the Sentinel with the old admin
/// password on stdin, and the new admin password logs in to both afterwards; a certificate
/// rotation's `CONFIG SET tls-cert-file ...` answers OK on the data pod, and the quorum check
/// after the Sentinels' restart says NOQUORUM while one Sentinel of three is up and OK once
/// all three are.
#[test]
fn the_printed_reload_steps_run_inside_the_sentinel_pods() {
    let tmp = tempfile::tempdir().unwrap();
    let pods = SentinelPods::start(tmp.path(), 3);
    let _primary = pods.data(0, 0);
    let _s0 = pods.sentinel(0, 0);
    let rotate = |what: &str| {
        let mut args = vec![
            "rotate",
            what,
            "--env",
            "production",
            "--target",
            "kubernetes",
        ];
        let out = pods.bundle.to_str().unwrap().to_owned();
        args.extend(["--out", &out]);
        for s in &pods.sets {
            args.extend(["--set", s.as_str()]);
        }
        let r = run(tmp.path(), &args);
        r.success();
        // The kubelet's refresh of the mounted Secrets.
        PodFs::new(tmp.path(), &pods.bundle, &[]);
        r.stdout
    };
    // A pod's commands (after its `N. POD (` line), as the pod itself would run them.
    let steps_of = |stdout: &str, pod: &str| -> Vec<String> {
        stdout
            .lines()
            .skip_while(|l| !l.contains(&format!(". {pod} (")))
            .skip(1)
            .take(2)
            .map(|c| {
                let c = c.trim();
                let c = c
                    .replace(&format!("kubectl exec -i -n redis {pod} -c server -- "), "")
                    .replace(&format!("kubectl exec -n redis {pod} -c server -- "), "");
                pods.fs.moved(&c, pod)
            })
            .collect()
    };
    let sh = |script: &str| {
        let secrets = crate::support::env_file(&pods.bundle.join("secrets.env"));
        let out = Command::new("timeout")
            .args(["20", "sh", "-c", script])
            .current_dir(tmp.path())
            .envs(&secrets)
            .output()
            .unwrap();
        // A wait loop still waiting when `timeout` ends it fails here.
        assert!(out.status.success(), "{script}: {out:?}");
        crate::support::said(&out)
    };
    let printed = rotate("passwords");
    for (pod, port) in [
        ("redis-0", pods.data_port()),
        ("redis-sentinel-0", pods.sentinel_port),
    ] {
        let steps = steps_of(&printed, pod);
        assert_eq!(steps.len(), 2, "{pod}:\n{printed}");
        assert!(steps[0].starts_with("until cat "), "{}", steps[0]);
        assert_eq!(sh(&steps[0]), "", "{pod}: the wait loop");
        assert!(
            steps[1].contains("$PREVIOUS_REDIS_PASSWORD_ADMIN"),
            "{}",
            steps[1]
        );
        assert_eq!(sh(&steps[1]).trim(), "OK", "{pod}: {}", steps[1]);
        // ACL LOAD read the new file: the new admin password logs in.
        let secrets = crate::support::env_file(&pods.bundle.join("secrets.env"));
        let new = &secrets["REDIS_PASSWORD_ADMIN"];
        std::fs::write(tmp.path().join("etc/secrets/admin"), new).unwrap();
        assert_eq!(pods.admin(port, &["ping"]).trim(), "PONG", "{pod}");
    }
    let printed = rotate("certs");
    let steps = steps_of(&printed, "redis-0");
    assert!(
        steps[1].contains("CONFIG SET tls-cert-file"),
        "{}",
        steps[1]
    );
    assert_eq!(sh(&steps[0]), "", "the wait loop for the new certificate");
    assert_eq!(sh(&steps[1]).trim(), "OK", "{}", steps[1]);
    // After the Sentinels' rolling restart: Sentinel pod 0's own count of the quorum.
    let wait = "then repeat until it prints OK, before the next step: ";
    let quorum = printed
        .lines()
        .skip_while(|l| !l.contains(". statefulset/redis-sentinel ("))
        .find_map(|l| l.trim().strip_prefix(wait))
        .unwrap_or_else(|| panic!("no quorum check after the Sentinels' restart:\n{printed}"));
    let quorum = pods.fs.moved(
        &quorum.replace(
            "kubectl exec -i -n redis redis-sentinel-0 -c server -- ",
            "",
        ),
        "redis-sentinel-0",
    );
    // One Sentinel of three is up: no quorum (CKQUORUM exits 0 either way; "OK" tells).
    let said = sh(&quorum);
    assert!(said.starts_with("NOQUORUM 1 usable"), "{quorum}: {said}");
    let _others: Vec<_> = (1..3).map(|i| pods.sentinel(i, 0)).collect();
    crate::support::topology::wait_until(
        "Sentinel pod 0 to count a quorum",
        std::time::Duration::from_secs(60),
        || {
            let said = sh(&quorum);
            said.starts_with("OK 3 usable Sentinels")
                .then_some(())
                .ok_or(said)
        },
    );
}

/// What the rolling restart of the Sentinels relies on: a Sentinel pod recreated after a
/// failover starts from the Secret's sentinel.conf, which still names pod 0 as the primary,
/// and learns the current primary through pod 0 (a replica by then) and its peers' hellos.
/// On loopback with Redis 7.0: 3 Sentinels fail over from pod 0 to pod 1; pod 0 is recreated
/// (empty emptyDir, its PVC kept) and Sentinel turns it into pod 1's replica; then Sentinel
/// pod 0 is recreated from the Secret's config and reports pod 1 as the primary.
#[test]
fn a_sentinel_recreated_after_a_failover_finds_the_current_primary() {
    use crate::support::topology::wait_until;
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let pods = SentinelPods::start(tmp.path(), 3);
    let (p0, p1) = (pods.data_port(), pods.data_port() + 1);
    let primary = pods.data(0, 0);
    let _replica = pods.data(1, 0);
    let sentinels: Vec<_> = (0..3).map(|i| pods.sentinel(i, 0)).collect();
    let sport = |i: u16| pods.sentinel_port + i;
    let primary_of = |port: u16| {
        pods.admin(port, &["sentinel", "get-master-addr-by-name", &pods.master])
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    let wait = |what: &str, ok: &dyn Fn() -> Result<(), String>| {
        wait_until(what, Duration::from_secs(60), ok)
    };
    wait("every Sentinel to know 2 peers and the replica", &|| {
        for i in 0..3 {
            let peers =
                sentinel_peers(&pods.admin(sport(i), &["sentinel", "sentinels", &pods.master]));
            let info = pods.admin(sport(i), &["sentinel", "master", &pods.master]);
            let lines: Vec<&str> = info.lines().collect();
            let replicas = lines
                .iter()
                .position(|l| *l == "num-slaves")
                .map(|at| lines[at + 1]);
            if peers.len() != 2 || replicas != Some("1") {
                return Err(format!("sentinel {i}: {peers:?} {replicas:?}"));
            }
        }
        Ok(())
    });
    assert_eq!(primary_of(sport(1)), p0.to_string());

    // Pod 0 fails: the Sentinels promote pod 1.
    drop(primary);
    wait("the failover to pod 1", &|| {
        let now = primary_of(sport(1));
        (now == p1.to_string()).then_some(()).ok_or(now)
    });
    // Pod 0 is recreated: a fresh config copy (a primary again), its data kept; Sentinel
    // turns it into pod 1's replica.
    std::fs::remove_dir_all(tmp.path().join("redis-0").join("conf")).unwrap();
    let _pod0 = pods.data(0, 1);
    wait("pod 0 to follow pod 1", &|| {
        let info = pods.admin(p0, &["info", "replication"]);
        (info.contains("role:slave") && info.contains(&format!("master_port:{p1}")))
            .then_some(())
            .ok_or(info)
    });
    // Sentinel pod 0 is recreated from the Secret's config, which names pod 0.
    let mut sentinels = sentinels;
    drop(sentinels.remove(0));
    std::fs::remove_dir_all(tmp.path().join("redis-sentinel-0").join("conf")).unwrap();
    let _s0 = pods.sentinel(0, 1);
    wait("the recreated Sentinel to report pod 1", &|| {
        let now = primary_of(sport(0));
        (now == p1.to_string()).then_some(()).ok_or(now)
    });
}
