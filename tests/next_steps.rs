//! What `init` and `rotate` tell the operator to do next, where the words used to be wrong:
//! a Dragonfly host bundle named Redis's paths, and a Kubernetes rotation said
//! `redis-cli -h localhost` with the workstation's certificate paths, which reach no pod.

use std::io::Write;
use std::process::{Command, Stdio};

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
    let init = [
        "init",
        "--env",
        "production",
        "--target",
        "kubernetes",
        "--out",
        "b",
        "--set",
        "acl.admin.enabled=true",
    ];
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
    let apply: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("apply without a restart:"))
        .skip(1)
        .map(str::trim)
        .collect();
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
        let mut child = Command::new("timeout")
            .args(["10", "sh", "-c", script])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let said = sh(&secrets["PREVIOUS_REDIS_PASSWORD_ADMIN"], &in_pod);
    assert_eq!(said.trim(), "OK", "{in_pod}");
    // ACL LOAD read the rotated users.acl: the new admin password logs in.
    let ping = in_pod.replace("ACL LOAD", "PING");
    assert_eq!(sh(&secrets["REDIS_PASSWORD_ADMIN"], &ping).trim(), "PONG");
}
