//! Rotations of `--target docker` bundles (compose::rollout).
//!
//! Compose bind-mounts single files, and a bind mount keeps the inode it was made with, so a
//! running container never sees a file that redis-harden replaced by renaming a new one over
//! it. No Docker engine runs here. The live test makes the compose file's own bind mounts
//! (mount(2) with MS_BIND, as the container runtime does) in a private mount namespace and
//! runs the real server from the container's paths: after `rotate`, `ACL LOAD` in the running
//! "container" answers OK and keeps the old users, and the container started again from fresh
//! mounts (what `up --force-recreate` does) has the new ones. The printed steps are pinned for
//! every kind: recreate, never reload, and nothing dials the host's loopback.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::compose_topology::resolved;
use crate::deploy::strings;
use crate::next_steps::{no_secret_printed, rollout_steps as rollout};
use crate::support::{Bundle, Server, env_file, require, run};

/// The service's bind mounts, as docker-compose resolved them: (host file, container path).
fn bind_mounts(doc: &Value, service: &str) -> Vec<(PathBuf, String)> {
    doc["services"][service]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| match v {
            Value::Object(m) if m["type"] == "bind" => Some((
                PathBuf::from(m["source"].as_str().unwrap()),
                m["target"].as_str().unwrap().to_owned(),
            )),
            // docker-compose v1's short syntax: SOURCE:TARGET[:MODE]
            Value::String(s) if s.starts_with('/') => {
                let mut parts = s.split(':');
                Some((parts.next()?.into(), parts.next()?.to_owned()))
            }
            _ => None,
        })
        .collect()
}

/// The service's server, started like its container: in a private mount namespace, a tmpfs
/// over the image's config directory's parent with the compose file's bind mounts in it, the
/// compose command and environment. Only the data directory moves: `/data` may not exist on
/// this machine (and Redis enters it while reading the config), so the config mounted is a
/// copy with that one line mapped.
fn start_container(b: &Bundle, doc: &Value, service: &str, boot: u32) -> Server {
    require("unshare", "apt-get install -y util-linux");
    let svc = &doc["services"][service];
    let data = b.path(&format!("data-{boot}"));
    std::fs::create_dir_all(&data).unwrap();
    let mut script = String::from("set -e; mount -t tmpfs -o mode=0755 tmpfs /usr/local/etc\n");
    for (mut source, target) in bind_mounts(doc, service) {
        if target.ends_with("/redis.conf") {
            let conf = std::fs::read_to_string(&source).unwrap();
            assert!(conf.contains("\ndir \"/data\"\n"), "{conf}");
            source = b.path(&format!("redis.conf.container-{boot}"));
            let mapped = conf.replace(
                "\ndir \"/data\"\n",
                &format!("\ndir \"{}\"\n", data.display()),
            );
            std::fs::write(&source, mapped).unwrap();
        }
        assert!(
            target.starts_with("/usr/local/etc/") || target == "/data",
            "a mount outside the emulated directories: {target}"
        );
        if target == "/data" {
            continue;
        }
        script.push_str(&format!(
            "mkdir -p \"$(dirname '{target}')\"; touch '{target}'; mount --bind '{}' '{target}'\n",
            source.display()
        ));
    }
    script.push_str(&format!("exec {}\n", strings(&svc["command"]).join(" ")));
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    if let Some(env) = svc["environment"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap());
        }
    }
    Server::start_command(cmd, b.port, &b.path(&format!("container-{boot}.log")))
}

/// A standalone docker bundle's rotation in its "container": the replaced users.acl is
/// invisible to the running server (ACL LOAD answers OK, the new password is refused);
/// after the printed steps (the chown run for real, the recreate as a fresh start with fresh
/// mounts) the new app password works, the old one too until --finish, and the container's
/// user owns the files again.
#[test]
fn a_running_container_keeps_the_old_files_so_rotate_recreates_it() {
    let b = Bundle::init(
        "production",
        &["--target", "docker", "--set", "acl.admin.enabled=true"],
    );
    let doc = resolved(&b.dir);
    let old_app = b.password("app");
    let server = start_container(&b, &doc, "redis", 0);
    let ping = |user: &str, pw: &str| b.cli().user(user, pw).run(&["PING"]).trim().to_owned();
    assert_eq!(ping("app", &old_app), "PONG");

    let out = b.dir.to_str().unwrap().to_owned();
    let r = run(
        b.dir.parent().unwrap(),
        &[
            "rotate",
            "passwords",
            "--env",
            "production",
            "--target",
            "docker",
            "--out",
            &out,
            "--set",
            &format!("redis.port={}", b.port),
            "--set",
            "acl.admin.enabled=true",
        ],
    );
    r.success();
    let new_app = b.password("app");
    assert_ne!(new_app, old_app);
    let secrets = env_file(&b.path("secrets.env"));
    // What the old printed step did: ACL LOAD in the running container. It reads the file
    // its mount still holds.
    let admin = b
        .cli()
        .user("admin", &secrets["PREVIOUS_REDIS_PASSWORD_ADMIN"])
        .run(&["ACL", "LOAD"]);
    assert_eq!(admin.trim(), "OK");
    assert!(
        ping("app", &new_app).contains("WRONGPASS"),
        "the running container saw the replaced users.acl: the premise of compose::rollout is wrong"
    );

    let steps = rollout(&r.stdout);
    let names: Vec<(&str, &str)> = steps
        .iter()
        .map(|(n, a, _)| (n.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        names,
        [("files", "apply"), ("redis", "restart")],
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("apply without a restart"),
        "{}",
        r.stdout
    );
    // Step 1 for real: the files go back to the containers' user.
    let chown = &steps[0].2;
    assert_eq!(chown.len(), 1);
    let status = Command::new("sh")
        .args(["-c", &chown[0]])
        .current_dir(b.dir.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "{}", chown[0]);
    for f in ["redis.conf", "users.acl", "tls/server.key"] {
        let meta = std::fs::metadata(b.path(f)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.uid(), meta.gid()), (999, 999), "{f}");
    }
    // Step 2: recreate, waiting for health.
    assert_eq!(
        steps[1].2,
        [format!(
            "docker compose -p redis-production-bundle -f {out}/docker-compose.yml up -d --force-recreate --wait"
        )]
    );
    drop(server);
    let _server = start_container(&b, &doc, "redis", 1);
    assert_eq!(ping("app", &new_app), "PONG");
    assert_eq!(
        ping("app", &old_app),
        "PONG",
        "the overlap: old and new both work"
    );
}

/// Every docker topology rotation prints: the chown of the replaced files, then each node's
/// container recreated (`up -d --no-deps --force-recreate --wait NODE`), data nodes highest
/// index first, then the Sentinels; with the admin user, each Sentinel's own quorum count
/// inside its container (the password on stdin) before the next. Never a redis-cli to the
/// host's loopback (nothing is published), never a password.
#[test]
fn docker_topology_rotations_recreate_each_node_in_a_safe_order() {
    for (kind, admin) in [
        ("sentinel", true),
        ("sentinel", false),
        ("cluster", true),
        ("cluster", false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let admin_set = format!("acl.admin.enabled={admin}");
        let base = [
            "--env",
            "production",
            "--target",
            "docker",
            "--out",
            "b",
            "--set",
            &format!("topology.kind={kind}"),
            "--set",
            &admin_set,
        ]
        .map(str::to_owned);
        let with = |first: &[&str]| -> Vec<String> {
            first
                .iter()
                .map(|s| (*s).to_owned())
                .chain(base.iter().cloned())
                .collect()
        };
        let init = with(&["init"]);
        run(
            tmp.path(),
            &init.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .success();
        let (data, sentinels): (Vec<String>, Vec<String>) = if kind == "sentinel" {
            (
                (0..3).rev().map(|i| format!("data-{i}")).collect(),
                (0..3).rev().map(|i| format!("sentinel-{i}")).collect(),
            )
        } else {
            ((0..6).rev().map(|i| format!("node-{i}")).collect(), vec![])
        };
        for what in [
            &["rotate", "passwords"][..],
            &["rotate", "passwords", "--finish"],
            &["rotate", "certs"],
            &["rotate", "certs", "--finish"],
            &["rotate", "ca"],
            &["rotate", "certs"],
            &["rotate", "certs", "--finish"],
            &["rotate", "ca", "--finish"],
        ] {
            let label = format!("{kind}, admin {admin}, {}", what.join(" "));
            let args = with(what);
            let r = run(
                tmp.path(),
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            r.success();
            let steps = rollout(&r.stdout);
            if what.ends_with(&["certs", "--finish"]) {
                // Only the previous pair goes: nothing in a container changes.
                assert!(steps.is_empty(), "{label}:\n{}", r.stdout);
                continue;
            }
            let got: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
            let want: Vec<&str> = ["files"]
                .into_iter()
                .chain(data.iter().map(String::as_str))
                .chain(sentinels.iter().map(String::as_str))
                .collect();
            assert_eq!(got, want, "{label}:\n{}", r.stdout);
            assert!(
                steps[0].2[0].contains("chown 999:999 b/users.acl "),
                "{label}"
            );
            let compose = "docker compose -p redis-production-b -f b/docker-compose.yml";
            for (node, action, cmds) in &steps[1..] {
                assert_eq!(action, "restart", "{label}");
                assert_eq!(
                    cmds[0],
                    format!("{compose} up -d --no-deps --force-recreate --wait {node}"),
                    "{label}"
                );
                let quorum = admin && node.starts_with("sentinel-");
                // While the admin's own new password is not in use yet: the old one.
                let var = if what == ["rotate", "passwords"] {
                    "PREVIOUS_REDIS_PASSWORD_ADMIN"
                } else {
                    "REDIS_PASSWORD_ADMIN"
                };
                assert_eq!(cmds.len(), 1 + usize::from(quorum), "{label}: {cmds:?}");
                if quorum {
                    let port = 26379 + node["sentinel-".len()..].parse::<u16>().unwrap();
                    assert_eq!(
                        cmds[1],
                        format!(
                            "then repeat until it prints OK, before the next step: printf '%s' \"${var}\" | {compose} exec -T {node} sh -c 'REDISCLI_AUTH=\"$(cat)\" redis-cli --tls --cacert /usr/local/etc/redis/tls/ca.crt --cert /usr/local/etc/redis/nodes/{node}/tls/node.crt --key /usr/local/etc/redis/nodes/{node}/tls/node.key -h localhost -p {port} --user admin --no-auth-warning SENTINEL CKQUORUM redis'"
                        ),
                        "{label}"
                    );
                }
            }
            assert!(
                !r.stdout.contains("-h 127.0.0.1") && !r.stdout.contains("apply without"),
                "{label}:\n{}",
                r.stdout
            );
            no_secret_printed(&tmp.path().join("b/secrets.env"), &r.stdout, &label);
            if what == ["rotate", "passwords"] {
                // Rotating replicator by recreating containers pauses replication: said.
                assert!(r.stdout.contains("replication pauses"), "{label}");
            }
        }
    }
}
