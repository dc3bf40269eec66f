//! What `init` and `rotate` tell the operator to do next, where the words used to be wrong:
//! a Dragonfly host bundle named Redis's paths, and a Kubernetes rotation said
//! `redis-cli -h localhost` with the workstation's certificate paths, which reach no pod.

use std::process::Command;

use crate::support::{Server, env_file, free_port, require, run};

/// The `next:` line of a Dragonfly `--target host` bundle names Dragonfly's paths, its user
/// and the files the bundle has, never Redis's; the paths are the ones dragonfly.flags reads.
#[test]
fn dragonfly_host_next_step_names_dragonflys_own_paths() {
    for (env, tls) in [("production", true), ("testing", false)] {
        let tmp = tempfile::tempdir().unwrap();
        let r = run(
            tmp.path(),
            &[
                "init",
                "--env",
                env,
                "--engine",
                "dragonfly",
                "--target",
                "host",
                "--out",
                "b",
            ],
        );
        r.success();
        let next = r
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("next: "))
            .unwrap_or_else(|| panic!("no next: line:\n{}", r.stdout));
        assert!(
            !next.contains("/etc/redis") && !next.contains("redis-server"),
            "{next}"
        );
        let mut expected = vec![
            "install dragonfly.flags, dragonfly.acl and server.env into /etc/dragonfly/",
            "(owner dfly, modes kept)",
            "dragonfly --flagfile=/etc/dragonfly/dragonfly.conf",
            "--flagfile=/etc/dragonfly/dragonfly.flags",
            "EnvironmentFile=/etc/dragonfly/server.env",
            "restart dragonfly",
        ];
        if tls {
            expected.extend([
                "tls/ca.crt, tls/server.crt and tls/server.key into /etc/dragonfly/tls/",
                "openssl.cnf into /etc/dragonfly/",
                "/etc/systemd/system/dragonfly.service.d/redis-harden.conf",
            ]);
        } else {
            assert!(!next.contains("tls/"), "{next}");
        }
        for part in expected {
            assert!(next.contains(part), "{env}: next: lacks {part:?}:\n{next}");
        }
        // Every file it names is in the bundle, and the flagfile reads them where it says.
        let dir = tmp.path().join("b");
        let mut files = vec!["dragonfly.flags", "dragonfly.acl", "server.env"];
        if tls {
            files.extend([
                "tls/ca.crt",
                "tls/server.crt",
                "tls/server.key",
                "openssl.cnf",
            ]);
        }
        for f in &files {
            assert!(dir.join(f).is_file(), "{env}: {f} is not in the bundle");
        }
        let flags = std::fs::read_to_string(dir.join("dragonfly.flags")).unwrap();
        assert!(flags.contains("--aclfile=/etc/dragonfly/dragonfly.acl"));
        if tls {
            assert!(flags.contains("--tls_cert_file=/etc/dragonfly/tls/server.crt"));
        }
    }
}

/// A Kubernetes rotation is applied with `kubectl apply`, then inside the pod with `kubectl
/// exec`, where `localhost` is the server and the pod's mounted certificate is the client's;
/// the admin password goes in on stdin. The in-pod command is proven on a real server that
/// reads the bundle's files: its ACL LOAD answers OK, and the new admin password works after.
#[test]
fn kubernetes_rotation_reloads_inside_the_pod_with_kubectl_exec() {
    require("redis-cli", "apt-get install -y redis-tools");
    let tmp = tempfile::tempdir().unwrap();
    let mut init = vec!["init"];
    init.extend(K8S_BUNDLE);
    init.extend(["--set", "acl.admin.enabled=true"]);
    run(tmp.path(), &init).success();
    let dir = tmp.path().join("b");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The pod's paths are the bundle's, here.
    const POD_DIR: &str = "/usr/local/etc/redis";
    let conf = std::fs::read_to_string(dir.join("redis.conf"))
        .unwrap()
        .replace(POD_DIR, dir.to_str().unwrap())
        .replace("\"/data\"", &format!("\"{}\"", data.display()));
    let conf_path = tmp.path().join("pod-redis.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let port = free_port();
    let port_s = port.to_string();
    let _server = Server::start_conf(
        &conf_path,
        &["--tls-port", &port_s, "--bind", "127.0.0.1"],
        port,
        &tmp.path().join("server.log"),
    );

    let mut rotate = vec!["rotate", "passwords"];
    rotate.extend(&init[1..]);
    let r = run(tmp.path(), &rotate);
    r.success();
    let apply: Vec<&str> = apply_lines(&r.stdout).into_iter().map(str::trim).collect();
    assert_eq!(apply.len(), 3, "{}", r.stdout);
    assert_eq!(apply[0], "kubectl apply -n redis -f b/k8s");
    assert!(apply[1].starts_with("# once the pod sees the new files"));
    let prefix = "printf '%s' \"$PREVIOUS_REDIS_PASSWORD_ADMIN\" | kubectl exec -i -n redis redis-0 -- sh -c '";
    let inner = apply[2]
        .strip_prefix(prefix)
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not a kubectl exec line: {}", apply[2]));
    assert!(
        inner.contains("-h localhost -p 6379 --user admin") && inner.ends_with("ACL LOAD"),
        "{inner}"
    );
    assert!(
        !inner.contains(dir.to_str().unwrap()),
        "workstation paths in the pod: {inner}"
    );

    // In the "pod": the same command, with the bundle's directory for the mount and the
    // test's port; the password on stdin, as printf gives it.
    let secrets = env_file(&dir.join("secrets.env"));
    let in_pod = inner
        .replace(POD_DIR, dir.to_str().unwrap())
        .replace("-p 6379", &format!("-p {port}"));
    let sh = |password: &str, script: &str| {
        let mut cmd = Command::new("timeout");
        cmd.args(["10", "sh", "-c", script])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap());
        crate::support::said(&crate::support::output_with_stdin(&mut cmd, password))
    };
    let said = sh(&secrets["PREVIOUS_REDIS_PASSWORD_ADMIN"], &in_pod);
    assert_eq!(said.trim(), "OK", "{in_pod}");
    // ACL LOAD read the rotated users.acl: the new admin password logs in.
    let ping = in_pod.replace("ACL LOAD", "PING");
    assert_eq!(sh(&secrets["REDIS_PASSWORD_ADMIN"], &ping).trim(), "PONG");
}

/// The production Kubernetes bundle `b` the rotation tests start from.
const K8S_BUNDLE: [&str; 6] = [
    "--env",
    "production",
    "--target",
    "kubernetes",
    "--out",
    "b",
];

/// The lines under `rotate`'s "apply without a restart:" (a single server), as printed.
fn apply_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("apply without a restart:"))
        .skip(1)
        .collect()
}

/// Fails if `out` holds a value of `secrets` (a secrets.env) longer than 15 characters.
pub(crate) fn no_secret_printed(secrets: &std::path::Path, out: &str, label: &str) {
    for (var, value) in &env_file(secrets) {
        assert!(
            value.len() < 16 || !out.contains(value.as_str()),
            "{label}: {var} printed"
        );
    }
}

/// The numbered steps `rotate` prints for a topology: (node, action, commands).
pub(crate) fn rollout_steps(stdout: &str) -> Vec<(String, String, Vec<String>)> {
    let mut steps: Vec<(String, String, Vec<String>)> = vec![];
    let block = stdout
        .lines()
        .skip_while(|l| !l.starts_with("apply to the running deployment"))
        .skip(1);
    for line in block {
        let t = line.trim_start();
        let numbered = t
            .split_once(". ")
            .filter(|(n, _)| n.parse::<usize>().is_ok());
        if let (Some((_, rest)), false) = (numbered, line.starts_with("       ")) {
            let (node, rest) = rest.split_once(" (").unwrap();
            let action = rest.split_once("): ").unwrap().1.split(',').next().unwrap();
            steps.push((node.to_owned(), action.to_owned(), vec![]));
        } else if let Some(last) = steps.last_mut() {
            last.2.push(t.to_owned());
        }
    }
    steps
}

/// `rotate` on Kubernetes topology bundles (sentinel, cluster), for every kind and each
/// `--finish`: `kubectl apply` first, then the real pods and StatefulSets in a safe order
/// (data pods before Sentinels, highest ordinal first, every ACL file before a server logs
/// in with a new password). With the admin user: per-pod reloads inside the pod after its
/// mount shows the new file; without it: rolling restarts and no admin command anywhere.
/// No password in the output, ever.
#[test]
fn kubernetes_topology_rotations_name_the_real_pods_in_a_safe_order() {
    type Want = &'static [(&'static str, &'static str)];
    type Steps<'a> = &'a [(&'a str, &'a str)];
    const APPLY: (&str, &str) = ("k8s", "apply");
    const DATA: (&str, &str) = ("statefulset/redis", "restart");
    const SENT: (&str, &str) = ("statefulset/redis-sentinel", "restart");
    const D: [(&str, &str); 3] = [
        ("redis-2", "reload"),
        ("redis-1", "reload"),
        ("redis-0", "reload"),
    ];
    const S: [(&str, &str); 3] = [
        ("redis-sentinel-2", "reload"),
        ("redis-sentinel-1", "reload"),
        ("redis-sentinel-0", "reload"),
    ];
    let cluster_pods: Vec<(String, &str)> = (0..6)
        .rev()
        .map(|i| (format!("redis-{i}"), "reload"))
        .collect();
    let sentinel_admin_passwords: Vec<(&str, &str)> = [APPLY]
        .into_iter()
        .chain(D)
        .chain(S)
        .chain([DATA, SENT])
        .collect();
    let sentinel_admin_finish: Vec<(&str, &str)> = [APPLY].into_iter().chain(D).chain(S).collect();
    let sentinel_admin_tls: Vec<(&str, &str)> =
        [APPLY].into_iter().chain(D).chain([SENT]).collect();
    let cluster_admin: Vec<(&str, &str)> = [APPLY]
        .into_iter()
        .chain(cluster_pods.iter().map(|(n, a)| (n.as_str(), *a)))
        .collect();
    let cluster_admin_passwords: Vec<(&str, &str)> =
        cluster_admin.iter().copied().chain([DATA]).collect();
    // (kind, admin, [passwords, passwords --finish, certs, ca, ca --finish])
    let cases: [(&str, bool, [Steps<'_>; 5]); 4] = [
        (
            "sentinel",
            true,
            [
                &sentinel_admin_passwords,
                &sentinel_admin_finish,
                &sentinel_admin_tls,
                &sentinel_admin_tls,
                &sentinel_admin_tls,
            ],
        ),
        ("sentinel", false, [&[APPLY, DATA, SENT] as Want; 5]),
        (
            "cluster",
            true,
            [
                &cluster_admin_passwords,
                &cluster_admin,
                &cluster_admin,
                &cluster_admin,
                &cluster_admin,
            ],
        ),
        ("cluster", false, [&[APPLY, DATA] as Want; 5]),
    ];
    for (kind, admin, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let sets = [
            "--set".to_owned(),
            format!("topology.kind={kind}"),
            "--set".to_owned(),
            format!("acl.admin.enabled={admin}"),
        ];
        let mut base = K8S_BUNDLE.to_vec();
        base.extend(sets.iter().map(String::as_str));
        let mut init = vec!["init"];
        init.extend(&base);
        run(tmp.path(), &init).success();
        let rotations: [(&[&str], Option<Steps<'_>>); 9] = [
            (&["passwords"], Some(want[0])),
            (&["passwords", "--finish"], Some(want[1])),
            (&["certs"], Some(want[2])),
            (&["certs", "--finish"], None),
            (&["ca"], Some(want[3])),
            (&["certs"], Some(want[2])),
            (&["certs", "--finish"], None),
            (&["ca", "--finish"], Some(want[4])),
            (&["encryption-key"], None),
        ];
        for (what, want) in rotations {
            let mut args = vec!["rotate"];
            args.extend(what);
            args.extend(&base);
            let r = run(tmp.path(), &args);
            r.success();
            let label = format!("{kind}, admin {admin}, rotate {}", what.join(" "));
            let steps = rollout_steps(&r.stdout);
            let got: Vec<(&str, &str)> = steps
                .iter()
                .map(|(n, a, _)| (n.as_str(), a.as_str()))
                .collect();
            assert_eq!(got, want.unwrap_or(&[]), "{label}:\n{}", r.stdout);
            // Never the standalone line's pod or its "apply without a restart" block.
            assert!(!r.stdout.contains("apply without a restart"), "{label}");
            let commands: Vec<&String> = steps.iter().flat_map(|s| &s.2).collect();
            if let Some((first, _, cmds)) = steps.first() {
                assert_eq!(first, "k8s");
                assert_eq!(cmds, &["kubectl apply -n redis -f b/k8s"], "{label}");
            }
            for (node, action, cmds) in &steps {
                match action.as_str() {
                    "reload" => {
                        // The pod's mount shows the bundle's file first, then the reload
                        // inside that very pod, the password on stdin.
                        assert_eq!(cmds.len(), 2, "{label}: {cmds:?}");
                        assert!(
                            cmds[0].starts_with(&format!(
                                "until kubectl exec -n redis {node} -c server -- cat /usr/local/etc/redis/"
                            )),
                            "{label}: {}",
                            cmds[0]
                        );
                        let pod = format!(
                            " | kubectl exec -i -n redis {node} -c server -- sh -c 'REDISCLI_AUTH=\"$(cat)\" redis-cli --tls"
                        );
                        assert!(
                            cmds[1].starts_with("printf '%s' \"$") && cmds[1].contains(&pod),
                            "{label}: {}",
                            cmds[1]
                        );
                        let port = if node.contains("sentinel") {
                            26379
                        } else {
                            6379
                        };
                        assert!(
                            cmds[1].contains(&format!("-h localhost -p {port} --user admin ")),
                            "{label}"
                        );
                    }
                    "restart" => {
                        let set = node.strip_prefix("statefulset/").unwrap();
                        assert_eq!(
                            cmds[..2],
                            [
                                format!("kubectl rollout restart -n redis statefulset/{set}"),
                                format!(
                                    "kubectl rollout status -n redis statefulset/{set} --timeout=15m"
                                ),
                            ],
                            "{label}"
                        );
                        // Restarted Sentinels: with the admin user, their own count of the
                        // quorum before anything else changes.
                        let quorum = (admin && set == "redis-sentinel").then_some(
                            "then repeat until it prints OK, before the next step: printf '%s' \"$",
                        );
                        assert_eq!(cmds.len(), 2 + usize::from(quorum.is_some()), "{label}");
                        if let Some(prefix) = quorum {
                            assert!(
                                cmds[2].starts_with(prefix)
                                    && cmds[2].contains(" | kubectl exec -i -n redis redis-sentinel-0 -c server -- sh -c ")
                                    && cmds[2].ends_with("-p 26379 --user admin --no-auth-warning SENTINEL CKQUORUM redis'"),
                                "{label}: {}",
                                cmds[2]
                            );
                        }
                    }
                    _ => {}
                }
            }
            if !admin {
                assert!(
                    !commands.iter().any(|c| c.contains("admin")),
                    "{label}: an admin command with the admin user off:\n{}",
                    r.stdout
                );
            }
            no_secret_printed(&tmp.path().join("b/secrets.env"), &r.stdout, &label);
        }
    }
}

/// The standalone Kubernetes lines stay as they were, with the admin user off too (where the
/// comment above them says so).
#[test]
fn kubernetes_standalone_rotation_lines_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let base = K8S_BUNDLE;
    let mut init = vec!["init"];
    init.extend(base);
    run(tmp.path(), &init).success();
    let mut rotate = vec!["rotate", "certs"];
    rotate.extend(base);
    let r = run(tmp.path(), &rotate);
    r.success();
    let apply = apply_lines(&r.stdout);
    assert_eq!(
        apply,
        [
            "    # the admin user is off in this profile: enable acl.admin.enabled, or restart the server instead",
            "  kubectl apply -n redis -f b/k8s",
            "  # once the pod sees the new files (the kubelet refreshes mounted Secrets within about a minute), inside the pod:",
            "  printf '%s' \"$REDIS_PASSWORD_ADMIN\" | kubectl exec -i -n redis redis-0 -- sh -c 'REDISCLI_AUTH=\"$(cat)\" redis-cli --tls --cacert /usr/local/etc/redis/tls/ca.crt --cert /usr/local/etc/redis/tls/server.crt --key /usr/local/etc/redis/tls/server.key -h localhost -p 6379 --user admin --no-auth-warning CONFIG SET tls-cert-file \"/usr/local/etc/redis/tls/server.crt\" tls-key-file \"/usr/local/etc/redis/tls/server.key\"'",
        ],
        "{}",
        r.stdout
    );
}

/// On a host the server reads its own copies of the bundle's files (installed at init), so
/// a rotation says which updated files to install before the reload: exactly those the
/// server reads, never the operator's (secrets, client files, the manifest), and never a
/// Sentinel's sentinel.conf (the Sentinel keeps its own); and the exporter's own copies
/// (exporter.env, its CA and client pair), then its restart. Local bundles are read in place.
#[test]
fn host_rotations_name_the_files_to_install_before_the_reload() {
    let note = |stdout: &str| -> Option<String> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("first install "))
            .map(|l| l.split(" into ").next().unwrap().to_owned())
    };
    let tmp = tempfile::tempdir().unwrap();
    let rotate = |target: &str, out: &str, sets: &[&str], what: &str| {
        let mut args = vec!["--env", "production", "--target", target, "--out", out];
        for s in sets {
            args.extend(["--set", s]);
        }
        let mut init = vec!["init"];
        init.extend(&args);
        if !tmp.path().join(out).exists() {
            run(tmp.path(), &init).success();
        }
        let mut rotate = vec!["rotate", what];
        rotate.extend(&args);
        let r = run(tmp.path(), &rotate);
        r.success();
        r.stdout
    };
    let host = |what| rotate("host", "h", &[], what);
    let exporter = |stdout: &str| -> Option<String> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("the exporter, once the server took the change: install "))
            .map(str::to_owned)
    };
    let out = host("passwords");
    assert_eq!(note(&out).as_deref(), Some("users.acl"));
    assert_eq!(
        exporter(&out).as_deref(),
        Some(
            "exporter.env as /etc/default/prometheus-redis-exporter (root, 0600), then `systemctl restart prometheus-redis-exporter`"
        )
    );
    let out = host("certs");
    assert_eq!(
        note(&out).as_deref(),
        Some("tls/server.crt, tls/server.key")
    );
    assert_eq!(
        exporter(&out).as_deref(),
        Some(
            "tls/client.crt, tls/client.key into /etc/prometheus/redis-exporter/ (owner prometheus, modes kept), then `systemctl restart prometheus-redis-exporter`"
        )
    );
    let out = host("ca");
    let line = out
        .lines()
        .find(|l| l.starts_with("first install "))
        .unwrap();
    assert!(
        line.ends_with("into /etc/redis/ (owner redis, modes kept), as at init: the server reads its copies there"),
        "{line}"
    );
    assert_eq!(note(&out).as_deref(), Some("tls/ca.crt"));
    assert!(
        exporter(&out)
            .is_some_and(|e| e.starts_with("tls/ca.crt into /etc/prometheus/redis-exporter/")),
        "{out}"
    );
    let sentinel = rotate("host", "s", &["topology.kind=sentinel"], "passwords");
    assert_eq!(
        note(&sentinel).as_deref(),
        Some(
            "nodes/data-0/redis.conf, nodes/data-1/redis.conf, nodes/data-2/redis.conf, sentinel-users.acl, users.acl"
        ),
        "{sentinel}"
    );
    assert!(
        sentinel.contains("update nodes/sentinel-0/sentinel.conf"),
        "{sentinel}"
    );
    // No exporter in topology bundles.
    assert_eq!(exporter(&sentinel), None, "{sentinel}");
    let local = rotate("local", "l", &[], "passwords");
    assert_eq!(note(&local), None, "{local}");
    assert_eq!(exporter(&local), None, "{local}");
}
