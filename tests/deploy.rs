//! Deploy artifacts: DragonflyDB's flagfile and ACL file, docker-compose.yml and server.env.
//!
//! Snapshots pin them for every environment (same deterministic inputs as `snapshots.rs`:
//! built-in profiles, a seeded RNG, fixed paths; server.env carries passwords and is not
//! pinned). The real `docker-compose config` validates every compose file and resolves it;
//! the tests then check the hardening on what docker-compose itself understood.
//!
//! Dragonfly itself is not booted here: there is no Dragonfly binary on the test machines.
//! Its flags are checked against the flags defined in its source (unit tests in
//! `src/dragonfly.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use redis_harden::profile::{self, Environment};
use redis_harden::render::Target;
use serde_json::Value;

use crate::support::{Bundle, Server, env_file, pin, require, run};

const ENGINES: [&str; 3] = ["redis", "valkey", "dragonfly"];

fn rendered(env: Environment, engine: &str, names: &[&str]) -> String {
    let (_, files) =
        crate::support::render_seeded(env, Target::Docker, &[format!("engine={engine}")]);
    names
        .iter()
        .map(|name| format!("==== {name} ====\n{}", files[*name].content))
        .collect()
}

#[test]
fn dragonfly_bundles_of_every_environment() {
    for env in Environment::ALL {
        pin(
            &format!("dragonfly-{env}-docker"),
            &rendered(
                env,
                "dragonfly",
                &["dragonfly.flags", "dragonfly.acl", "docker-compose.yml"],
            ),
        );
    }
}

#[test]
fn redis_compose_files_of_every_environment() {
    for env in Environment::ALL {
        pin(
            &format!("redis-{env}-compose"),
            &rendered(env, "redis", &["docker-compose.yml"]),
        );
    }
}

/// Runs the real docker-compose (v1 or v2 both validate without a Docker engine) on a bundle.
pub(crate) fn docker_compose(dir: &Path, args: &[&str]) -> std::process::Output {
    require("docker-compose", "apt-get install -y docker-compose");
    Command::new("docker-compose")
        .args(["-f", "docker-compose.yml"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .expect("run docker-compose")
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// The host IP of each published port, from either config output format (v1's short
/// strings, v2's mappings).
fn published_host_ips(svc: &Value) -> Vec<String> {
    svc.get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| match p {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                assert_eq!(parts.len(), 3, "published without a host IP: {s}");
                parts[0].to_owned()
            }
            Value::Object(o) => o["host_ip"].as_str().expect("host_ip").to_owned(),
            other => panic!("unexpected port {other}"),
        })
        .collect()
}

#[test]
fn docker_compose_validates_and_resolves_hardened_for_every_environment_and_engine() {
    for env in Environment::ALL {
        for engine in ENGINES {
            let tmp = tempfile::tempdir().unwrap();
            let r = run(
                tmp.path(),
                &[
                    "init",
                    "--env",
                    env.name(),
                    "--engine",
                    engine,
                    "--target",
                    "docker",
                    "--out",
                    "out",
                ],
            );
            r.success();
            let out = tmp.path().join("out");
            let ctx = format!("{env}/{engine}");

            let check = docker_compose(&out, &["config", "-q"]);
            assert!(
                check.status.success(),
                "{ctx}: docker-compose config -q failed:\n{}",
                String::from_utf8_lossy(&check.stderr)
            );
            let resolved = docker_compose(&out, &["config"]);
            assert!(resolved.status.success(), "{ctx}: {resolved:?}");
            let doc: Value =
                serde_saphyr::from_str(&String::from_utf8(resolved.stdout).unwrap()).unwrap();

            let services = doc["services"].as_object().unwrap();
            assert_eq!(services.keys().collect::<Vec<_>>(), [engine], "{ctx}");
            let svc = &services[engine];
            let text = std::fs::read_to_string(out.join("docker-compose.yml")).unwrap();

            // Pinned image from the profile, non-root user from the profile.
            let builtin = profile::builtin(env);
            let image = match engine {
                "redis" => builtin.docker.redis_image.to_string(),
                // Valkey's default version pins its own image.
                "valkey" => "valkey/valkey:8.1.1-bookworm".to_owned(),
                _ => builtin.docker.dragonfly_image.to_string(),
            };
            assert_eq!(svc["image"], image.as_str(), "{ctx}");
            assert_eq!(svc["user"], "999:999", "{ctx}");
            // Locked down.
            assert_eq!(svc["read_only"], true, "{ctx}");
            assert_eq!(strings(&svc["cap_drop"]), ["ALL"], "{ctx}");
            assert!(
                strings(&svc["security_opt"]).contains(&"no-new-privileges:true".to_owned()),
                "{ctx}"
            );
            assert!(svc.get("privileged").is_none() && svc.get("cap_add").is_none());
            assert_eq!(svc["restart"], "unless-stopped", "{ctx}");
            assert!(
                svc.get("mem_limit").is_some() && svc.get("cpus").is_some(),
                "{ctx}"
            );

            // Networks: internal; ports only in development and only on loopback.
            let networks = doc["networks"].as_object().unwrap();
            assert_eq!(networks["backend"]["internal"], true, "{ctx}");
            let ips = published_host_ips(svc);
            if env == Environment::Development {
                assert_eq!(ips, ["127.0.0.1"], "{ctx}");
            } else {
                assert!(ips.is_empty(), "{ctx}: published {ips:?}");
                assert_eq!(networks.len(), 1, "{ctx}: {networks:?}");
            }

            // Mounts: read-only bundle files (never the CA key, client key or secrets.env),
            // data on a named volume.
            let mut targets = vec![];
            for v in svc["volumes"].as_array().unwrap() {
                match v["type"].as_str().unwrap() {
                    "bind" => {
                        assert_eq!(v["read_only"], true, "{ctx}: {v}");
                        let source = Path::new(v["source"].as_str().unwrap());
                        let rel = source.strip_prefix(&out).unwrap_or_else(|_| {
                            panic!("{ctx}: mounts {} from outside the bundle", source.display())
                        });
                        let rel = rel.to_string_lossy().into_owned();
                        assert!(source.is_file(), "{ctx}: {rel} missing");
                        assert!(
                            !["tls/ca.key", "tls/client.key", "secrets.env", "client.env"]
                                .contains(&rel.as_str()),
                            "{ctx}: mounts {rel}"
                        );
                        targets.push(v["target"].as_str().unwrap().to_owned());
                    }
                    "volume" => {
                        assert_eq!(v["source"], "data", "{ctx}");
                        assert_eq!(v["target"], "/data", "{ctx}");
                    }
                    other => panic!("{ctx}: unexpected mount type {other}"),
                }
            }
            assert!(doc["volumes"]["data"]["name"].is_string(), "{ctx}");

            // Every path the server config names inside its config directory is mounted.
            let (config, dir) = match engine {
                "redis" => ("redis.conf", "/usr/local/etc/redis/"),
                "valkey" => ("redis.conf", "/usr/local/etc/valkey/"),
                _ => ("dragonfly.flags", "/etc/dragonfly/"),
            };
            let config_text = std::fs::read_to_string(out.join(config)).unwrap();
            let named: Vec<String> = config_text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .flat_map(|l| l.split(['"', '=', ' ']))
                .filter(|w| w.starts_with(dir))
                .map(str::to_owned)
                .collect();
            assert!(!named.is_empty(), "{ctx}");
            for path in &named {
                assert!(
                    targets.contains(path),
                    "{ctx}: {path} is not mounted: {targets:?}"
                );
            }
            let command = strings(&svc["command"]).join(" ");
            assert!(
                targets.iter().any(|t| command.contains(t.as_str())),
                "{ctx}: the command does not name a mounted config: {command}"
            );

            // Passwords: only through env_file, exactly the ones the server needs.
            let secrets = env_file(&out.join("secrets.env"));
            for value in secrets.values() {
                assert!(!text.contains(value.as_str()), "{ctx}: a secret is inline");
            }
            let environment: BTreeMap<String, String> = svc["environment"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let mut want = BTreeMap::from([(
                "REDISCLI_AUTH".to_owned(),
                secrets["REDIS_PASSWORD_MONITORING"].clone(),
            )]);
            if engine == "dragonfly" {
                want.insert(
                    "DFLY_requirepass".to_owned(),
                    secrets["DRAGONFLY_REQUIREPASS"].clone(),
                );
            }
            // TLS: the bundle's OpenSSL configuration (key-exchange groups), mounted read-only.
            if builtin.tls.enabled {
                let dir = match engine {
                    "dragonfly" => "/etc/dragonfly",
                    "valkey" => "/usr/local/etc/valkey",
                    _ => "/usr/local/etc/redis",
                };
                want.insert("OPENSSL_CONF".to_owned(), format!("{dir}/openssl.cnf"));
            }
            assert_eq!(environment, want, "{ctx}");
            // The requirepass is nobody's login.
            if engine == "dragonfly" {
                let dedicated = &secrets["DRAGONFLY_REQUIREPASS"];
                assert_eq!(
                    secrets.values().filter(|v| *v == dedicated).count(),
                    1,
                    "{ctx}"
                );
            }

            // The healthcheck logs in as monitoring, over TLS where TLS is on, without -a.
            let test = strings(&svc["healthcheck"]["test"]);
            assert_eq!(test[0], "CMD-SHELL", "{ctx}");
            let words: Vec<&str> = test[1].split_whitespace().collect();
            assert!(
                words.windows(2).any(|w| w == ["--user", "monitoring"]),
                "{ctx}"
            );
            assert!(
                !words.contains(&"-a") && !words.contains(&"--pass"),
                "{ctx}"
            );
            assert_eq!(
                words.contains(&"--tls"),
                env != Environment::Testing,
                "{ctx}"
            );
            assert!(test[1].ends_with("| grep -qx PONG"), "{ctx}");
            if env != Environment::Testing {
                for flag in ["--cacert", "--cert", "--key"] {
                    let i = words.iter().position(|w| *w == flag).unwrap();
                    assert!(targets.contains(&words[i + 1].to_owned()), "{ctx}: {flag}");
                }
            }

            // init says how to hand the key files to the container's user.
            let files = match engine {
                "redis" | "valkey" => "out/redis.conf out/users.acl",
                _ => "out/dragonfly.flags out/dragonfly.acl",
            };
            let tls_key = if env == Environment::Testing {
                ""
            } else {
                " out/tls/server.key"
            };
            // Compose v2, and `sudo` only for a user who is not root already. The bundle
            // directory is `out`, not ENV, so the project name carries it.
            let sudo = if crate::support::running_as_root() {
                ""
            } else {
                "sudo "
            };
            r.stdout_has(&format!("next: {sudo}chown 999:999 {files}{tls_key} && "))
                .stdout_has(&format!(
                    "docker compose -p redis-{env}-out -f out/docker-compose.yml up -d --force-recreate --wait"
                ));
        }
    }
}

/// The server in a container binds its own namespace's interfaces (clients are other
/// containers); plaintext (testing) stays on loopback even there.
#[test]
fn the_docker_target_binds_the_container_network() {
    for env in Environment::ALL {
        let conf = rendered(env, "redis", &["redis.conf"]);
        let bind = conf.lines().find(|l| l.starts_with("bind ")).unwrap();
        if env == Environment::Testing {
            assert_eq!(bind, "bind 127.0.0.1 -::1");
        } else {
            assert_eq!(bind, "bind 0.0.0.0 -::");
        }
    }
}

#[test]
fn dragonfly_needs_256_mib_per_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--engine",
            "dragonfly",
            "--out",
            "out",
            "--set",
            "dragonfly.threads=2",
        ],
    );
    r.failure(2)
        .stderr_has("`dragonfly.threads`")
        .stderr_has("512 MiB");
    assert!(!tmp.path().join("out").exists());
    // The same profile is fine for Redis, which has no such limit.
    run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--set",
            "dragonfly.threads=2",
        ],
    )
    .success();
}

/// The compose healthcheck, run for real against a live server of each family and version
/// (the same bundle files, at their local paths): it passes with the monitoring password in
/// REDISCLI_AUTH and fails with a wrong one, so it proves a TLS login rather than a listening
/// port. Valkey's healthcheck runs valkey-cli.
#[test]
fn the_healthcheck_really_logs_in() {
    for srv in crate::support::ALL_SERVERS {
        for env in ["production", "testing"] {
            let bundle = Bundle::init_for(srv, env, &[]);
            let _server = Server::start(&bundle);
            // The docker bundle of the same profile, for its healthcheck command.
            let docker = bundle.tmp.path().join("docker");
            let port = format!("redis.port={}", bundle.port);
            let mut args = vec![
                "init", "--env", env, "--target", "docker", "--out", "docker", "--set", &port,
            ];
            args.extend_from_slice(srv.init_args);
            run(bundle.tmp.path(), &args).success();
            let compose: Value = serde_saphyr::from_str(
                &std::fs::read_to_string(docker.join("docker-compose.yml")).unwrap(),
            )
            .unwrap();
            let facts = srv.facts();
            let service = if facts.name == "Valkey" {
                "valkey"
            } else {
                "redis"
            };
            let test = strings(&compose["services"][service]["healthcheck"]["test"]);
            let local = format!("{}/", bundle.dir.display());
            let cmd = test[1].replace(&format!("{}/", facts.container_config_dir), &local);
            assert!(cmd.starts_with(facts.cli_program), "{cmd}");
            // The image's cli: Debian's redis-cli, or valkey-cli from install-servers.sh.
            let cli = srv.cli_program();
            let mut path = std::ffi::OsString::new();
            if facts.cli_program == "valkey-cli" {
                path.push(cli.parent().unwrap());
                path.push(":");
            } else {
                require("redis-cli", "apt-get install -y redis-tools");
            }
            path.push(std::env::var_os("PATH").unwrap_or_default());
            let healthcheck = |password: &str| {
                Command::new("timeout")
                    .args(["-k", "1", "10", "sh", "-c", &cmd])
                    .env_clear()
                    .env("PATH", &path)
                    .env("REDISCLI_AUTH", password)
                    .status()
                    .expect("run the healthcheck")
            };
            let ctx = format!("{} {env}: {cmd}", srv.label);
            assert!(
                healthcheck(&bundle.password("monitoring")).success(),
                "{ctx}"
            );
            assert!(!healthcheck("wrong-password").success(), "{ctx}");
        }
    }
}

/// `docker.exporter`: redis_exporter as a second service, for Redis and Valkey in every TLS
/// environment. docker-compose validates and resolves the file; the exporter is confined as
/// the server is, gets its password only from exporter.env (never inline, never argv), reads
/// only the CA and the client pair, joins only the internal network, and publishes /metrics
/// on loopback in development only.
#[test]
fn the_exporter_service_is_hardened_and_validated_by_docker_compose() {
    pin("redis-production-compose-exporter", &{
        let (_, files) = crate::support::render_seeded(
            Environment::Production,
            Target::Docker,
            &[
                "docker.exporter=true".into(),
                "tls.hostnames=[\"redis.internal\"]".into(),
            ],
        );
        files["docker-compose.yml"].content.clone()
    });
    for env in [
        Environment::Production,
        Environment::Staging,
        Environment::Development,
    ] {
        for engine in ["redis", "valkey"] {
            let ctx = format!("{env}/{engine}");
            let tmp = tempfile::tempdir().unwrap();
            let r = run(
                tmp.path(),
                &[
                    "init",
                    "--env",
                    env.name(),
                    "--engine",
                    engine,
                    "--target",
                    "docker",
                    "--out",
                    "out",
                    "--set",
                    "docker.exporter=true",
                    "--set",
                    "tls.hostnames=[\"redis.internal\"]",
                ],
            );
            // The gate (compose policy included) accepts it.
            r.success();
            // The exporter reads the client key as the container user: init says to chown it.
            r.stdout_has("out/tls/client.key");
            let out = tmp.path().join("out");
            let check = docker_compose(&out, &["config", "-q"]);
            assert!(
                check.status.success(),
                "{ctx}: {}",
                String::from_utf8_lossy(&check.stderr)
            );
            let resolved = docker_compose(&out, &["config"]);
            assert!(resolved.status.success(), "{ctx}: {resolved:?}");
            let doc: Value =
                serde_saphyr::from_str(&String::from_utf8(resolved.stdout).unwrap()).unwrap();
            let services = doc["services"].as_object().unwrap();
            let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
            names.sort_unstable();
            let mut want = [engine, "redis-exporter"];
            want.sort_unstable();
            assert_eq!(names, want, "{ctx}");
            let x = &services["redis-exporter"];
            assert_eq!(x["image"], "oliver006/redis_exporter:v1.45.0", "{ctx}");
            assert_eq!(x["user"], "999:999", "{ctx}");
            assert_eq!(x["read_only"], true, "{ctx}");
            assert_eq!(strings(&x["cap_drop"]), ["ALL"], "{ctx}");
            assert!(
                strings(&x["security_opt"]).contains(&"no-new-privileges:true".to_owned()),
                "{ctx}"
            );
            for key in [
                "privileged",
                "cap_add",
                "command",
                "entrypoint",
                "pid",
                "ipc",
            ] {
                assert!(x.get(key).is_none(), "{ctx}: {key}");
            }
            assert!(x.get("network_mode").is_none(), "{ctx}");

            // The password: resolved from exporter.env by compose, absent from the YAML.
            let secrets = env_file(&out.join("secrets.env"));
            let password = &secrets["REDIS_PASSWORD_MONITORING"];
            let text = std::fs::read_to_string(out.join("docker-compose.yml")).unwrap();
            for value in secrets.values() {
                assert!(!text.contains(value.as_str()), "{ctx}: a secret is inline");
            }
            let environment = x["environment"].as_object().unwrap();
            assert_eq!(environment["REDIS_PASSWORD"], password.as_str(), "{ctx}");
            assert_eq!(environment["REDIS_USER"], "monitoring", "{ctx}");
            // mTLS to the server, by a name the network resolves to it.
            let addr = environment["REDIS_ADDR"].as_str().unwrap();
            assert!(
                addr.starts_with("rediss://redis.internal:"),
                "{ctx}: {addr}"
            );
            let aliases = strings(&services[engine]["networks"]["backend"]["aliases"]);
            assert!(aliases.contains(&"redis.internal".to_owned()), "{ctx}");

            // Mounts: exactly the CA and the client pair, read-only, where exporter.env
            // points; never the CA key or the server key.
            let mut mounted = BTreeMap::new();
            for v in x["volumes"].as_array().unwrap() {
                assert_eq!(v["type"], "bind", "{ctx}: {v}");
                assert_eq!(v["read_only"], true, "{ctx}: {v}");
                let source = Path::new(v["source"].as_str().unwrap());
                let rel = source
                    .strip_prefix(&out)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                mounted.insert(rel, v["target"].as_str().unwrap().to_owned());
            }
            let want: BTreeMap<String, String> = [
                ("tls/ca.crt", "REDIS_EXPORTER_TLS_CA_CERT_FILE"),
                ("tls/client.crt", "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE"),
                ("tls/client.key", "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE"),
            ]
            .into_iter()
            .map(|(rel, var)| {
                (
                    rel.to_owned(),
                    environment[var].as_str().unwrap().to_owned(),
                )
            })
            .collect();
            assert_eq!(mounted, want, "{ctx}");

            // Networks and ports: the internal one; published on loopback in development only.
            let networks: Vec<&String> = x["networks"].as_object().unwrap().keys().collect();
            let ips = published_host_ips(x);
            if env == Environment::Development {
                assert_eq!(ips, ["127.0.0.1"], "{ctx}");
                assert_eq!(networks, ["backend", "published"], "{ctx}");
            } else {
                assert!(ips.is_empty(), "{ctx}: published {ips:?}");
                assert_eq!(networks, ["backend"], "{ctx}");
            }
            assert_eq!(doc["networks"]["backend"]["internal"], true, "{ctx}");
        }
    }
    // Where it cannot work, the switch is bad input and nothing is written.
    for (sets, says) in [
        (
            &[
                "--env",
                "testing",
                "--set",
                "tls.hostnames=[\"redis.internal\"]",
            ][..],
            "without TLS",
        ),
        (&["--env", "production"][..], "tls.hostnames"),
        (
            &[
                "--env",
                "production",
                "--engine",
                "dragonfly",
                "--set",
                "tls.hostnames=[\"redis.internal\"]",
            ][..],
            "Dragonfly",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["init", "--target", "docker", "--out", "out"];
        args.extend_from_slice(sets);
        args.extend(["--set", "docker.exporter=true"]);
        run(tmp.path(), &args)
            .failure(2)
            .stderr_has("docker.exporter")
            .stderr_has(says);
        assert!(!tmp.path().join("out").exists(), "{sets:?}");
    }
}
