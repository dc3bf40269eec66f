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

use std::path::{Path, PathBuf};
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

/// The shell lines that give a process the service's view of the files: in a private mount
/// namespace, a tmpfs over the image's config directory's parent with the compose file's
/// bind mounts in it. Only the data directory moves: `/data` may not exist on this machine
/// (and Redis enters it while reading the config), so a mounted redis.conf is a copy (in
/// `scratch`) with that one line mapped to `data`.
fn mounts(doc: &Value, service: &str, data: &Path, scratch: &Path) -> String {
    let mut script = String::from("set -e; mount -t tmpfs -o mode=0755 tmpfs /usr/local/etc\n");
    for (mut source, target) in bind_mounts(doc, service) {
        assert!(
            target.starts_with("/usr/local/etc/") || target == "/data",
            "a mount outside the emulated directories: {target}"
        );
        if target == "/data" {
            continue;
        }
        if target.ends_with("/redis.conf") {
            let conf = std::fs::read_to_string(&source).unwrap();
            source = scratch.join(format!("{service}.redis.conf"));
            std::fs::write(&source, map_data_dir(&conf, data)).unwrap();
        }
        let make = if source.is_dir() { "mkdir -p" } else { "touch" };
        script.push_str(&format!(
            "mkdir -p \"$(dirname '{target}')\"; {make} '{target}'; mount --bind '{}' '{target}'\n",
            source.display()
        ));
    }
    script
}

/// A config with its `dir "/data"` line pointed at `data`.
fn map_data_dir(conf: &str, data: &Path) -> String {
    assert!(conf.contains("\ndir \"/data\"\n"), "{conf}");
    conf.replace(
        "\ndir \"/data\"\n",
        &format!("\ndir \"{}\"\n", data.display()),
    )
}

/// The service's server, started like its container: [`mounts`], then the compose command
/// and environment.
fn start_service(doc: &Value, service: &str, scratch: &Path, port: u16, boot: u32) -> Server {
    require("unshare", "apt-get install -y util-linux");
    assert!(
        crate::support::running_as_root(),
        "this test bind-mounts files in a private mount namespace: run it as root (sudo bash tests/run.sh)"
    );
    let svc = &doc["services"][service];
    let data = scratch.join(format!("{service}-data-{boot}"));
    std::fs::create_dir_all(&data).unwrap();
    let mut script = mounts(doc, service, &data, scratch);
    let command: Vec<String> = strings(&svc["command"])
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    script.push_str(&format!("exec {}\n", command.join(" ")));
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    if let Some(env) = svc["environment"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap());
        }
    }
    Server::start_command(cmd, port, &scratch.join(format!("{service}-{boot}.log")))
}

fn start_container(b: &Bundle, doc: &Value, service: &str, boot: u32) -> Server {
    start_service(doc, service, &b.dir, b.port, boot)
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
            let passwords = what == ["rotate", "passwords"];
            // With the admin user, a password rotation then sets the Sentinels' own new
            // passwords at run time (a Sentinel's rewrite may have put the old ones back).
            let set_own = passwords && admin && kind == "sentinel";
            let got: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
            let want: Vec<&str> = ["files"]
                .into_iter()
                .chain(data.iter().map(String::as_str))
                .chain(sentinels.iter().map(String::as_str))
                .chain(sentinels.iter().map(String::as_str).filter(|_| set_own))
                .collect();
            assert_eq!(got, want, "{label}:\n{}", r.stdout);
            assert!(
                steps[0].2[0].contains("chown 999:999 b/users.acl "),
                "{label}"
            );
            let compose = "docker compose -p redis-production-b -f b/docker-compose.yml";
            // While the admin's own new password is not in use yet: the old one.
            let var = if passwords {
                "PREVIOUS_REDIS_PASSWORD_ADMIN"
            } else {
                "REDIS_PASSWORD_ADMIN"
            };
            let cli = |node: &str| {
                let port = 26379 + node["sentinel-".len()..].parse::<u16>().unwrap();
                format!(
                    "redis-cli --tls --cacert /usr/local/etc/redis/tls/ca.crt --cert /usr/local/etc/redis/nodes/{node}/tls/node.crt --key /usr/local/etc/redis/nodes/{node}/tls/node.key -h localhost -p {port} --user admin --no-auth-warning"
                )
            };
            let quorum_line = |node: &str| {
                format!(
                    "then repeat until it prints OK, before the next step: printf '%s' \"${var}\" | {compose} exec -T {node} sh -c 'REDISCLI_AUTH=\"$(cat)\" {} SENTINEL CKQUORUM redis'",
                    cli(node)
                )
            };
            let recreated = 1 + data.len() + sentinels.len();
            for (node, action, cmds) in &steps[1..recreated] {
                assert_eq!(action, "restart", "{label}");
                assert_eq!(
                    cmds[0],
                    format!("{compose} up -d --no-deps --force-recreate --wait {node}"),
                    "{label}"
                );
                // A new sentinel-peer password: the quorum comes back only after the last.
                let quorum = admin && node.starts_with("sentinel-") && !passwords;
                assert_eq!(cmds.len(), 1 + usize::from(quorum), "{label}: {cmds:?}");
                if quorum {
                    assert_eq!(cmds[1], quorum_line(node), "{label}");
                }
            }
            for (node, action, cmds) in &steps[recreated..] {
                assert_eq!(action, "reload", "{label}");
                let set = |pw: &str, command: &str| {
                    format!(
                        "printf '%s\\n%s' \"${var}\" \"${pw}\" | {compose} exec -T {node} sh -c 'read -r REDISCLI_AUTH && export REDISCLI_AUTH && exec {} -x {command}'",
                        cli(node)
                    )
                };
                assert_eq!(
                    cmds,
                    &[
                        set("REDIS_PASSWORD_SENTINEL", "SENTINEL SET redis auth-pass"),
                        set(
                            "REDIS_PASSWORD_SENTINEL_PEER",
                            "SENTINEL CONFIG SET sentinel-pass"
                        ),
                        quorum_line(node),
                    ],
                    "{label}"
                );
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

/// The Sentinel lines of a docker password rotation, run against the bundle's own Sentinel
/// in its emulated container (the compose file's mounts and command); `docker compose exec -T
/// sentinel-0` becomes entering the same mounts. The Sentinel starts with the old auth-pass
/// in its sentinel.conf, as after a rewrite from memory (a failover does one). Both passwords
/// go over stdin; the Sentinel takes the new auth-pass and sentinel-pass and saves them in
/// its sentinel.conf; the quorum line logs in and counts (NOQUORUM: one Sentinel of three).
#[test]
fn the_sentinel_password_lines_set_the_new_passwords_in_the_running_sentinel() {
    let tmp = tempfile::tempdir().unwrap();
    let sport = crate::support::topology::free_port_block(3, None);
    let sets = [
        "topology.kind=sentinel".to_owned(),
        "acl.admin.enabled=true".to_owned(),
        format!("topology.sentinel_port={sport}"),
    ];
    let with = |first: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = first.iter().map(|s| (*s).to_owned()).collect();
        args.extend(["--env", "production", "--target", "docker", "--out", "b"].map(str::to_owned));
        for s in &sets {
            args.extend(["--set".to_owned(), s.clone()]);
        }
        args
    };
    let call = |args: Vec<String>| {
        run(
            tmp.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    call(with(&["init"])).success();
    let out = tmp.path().join("b");
    let doc = resolved(&out);
    let r = call(with(&["rotate", "passwords"]));
    r.success();
    let secrets = env_file(&out.join("secrets.env"));
    let (old, new, peer) = (
        &secrets["PREVIOUS_REDIS_PASSWORD_SENTINEL"],
        &secrets["REDIS_PASSWORD_SENTINEL"],
        &secrets["REDIS_PASSWORD_SENTINEL_PEER"],
    );
    let conf = out.join("nodes/sentinel-0/sentinel.conf");
    let data = tmp.path().join("sentinel-0-data");
    std::fs::create_dir_all(&data).unwrap();
    // The value of a `sentinel KEY... VALUE` line, quoted or not.
    let value = |text: &str, key: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        value(&text, "sentinel auth-pass redis ").as_ref(),
        Some(new)
    );
    let reverted = map_data_dir(&text, &data).replace(new.as_str(), old);
    std::fs::write(&conf, reverted).unwrap();
    let _sentinel = start_service(&doc, "sentinel-0", tmp.path(), sport, 0);

    let enter = tmp.path().join("enter-sentinel-0.sh");
    std::fs::write(
        &enter,
        format!(
            "{}exec \"$@\"\n",
            mounts(&doc, "sentinel-0", &data, tmp.path())
        ),
    )
    .unwrap();
    let exec = "docker compose -p redis-production-b -f b/docker-compose.yml exec -T sentinel-0 ";
    let steps = rollout(&r.stdout);
    let (_, action, cmds) = steps.last().unwrap();
    assert_eq!(action, "reload", "{}", r.stdout);
    let sh = |line: &str| {
        assert!(line.contains(exec), "{line}");
        let line = line.replace(
            exec,
            &format!(
                "unshare --mount --propagation private sh {} ",
                enter.display()
            ),
        );
        let out = Command::new("timeout")
            .args(["20", "sh", "-c", &line])
            .current_dir(tmp.path())
            .envs(&secrets)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {out:?}");
        crate::support::said(&out)
    };
    assert_eq!(sh(&cmds[0]).trim(), "OK", "{}", cmds[0]);
    assert_eq!(sh(&cmds[1]).trim(), "OK", "{}", cmds[1]);
    let quorum = cmds[2]
        .strip_prefix("then repeat until it prints OK, before the next step: ")
        .unwrap();
    let said = sh(quorum);
    assert!(said.starts_with("NOQUORUM 1 usable Sentinels"), "{said}");
    // Saved by the Sentinel itself, over the old value.
    let saved = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        value(&saved, "sentinel auth-pass redis ").as_ref(),
        Some(new)
    );
    assert_eq!(
        value(&saved, "sentinel sentinel-pass ").as_ref(),
        Some(peer)
    );
    assert!(!saved.contains(old.as_str()));
}
