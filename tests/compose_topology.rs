//! `--target docker` for the sentinel and cluster kinds: one hardened compose service per
//! node, at a fixed address on the bundle's internal network.
//!
//! No Docker engine runs here, so no container boots. What is proven instead:
//! - the real `docker-compose config` validates and resolves every topology bundle, and the
//!   hardening is checked on what it resolved, service by service;
//! - the policy gate checks every service (a team template weakening only the Sentinels is
//!   refused, naming each one);
//! - the real servers boot from the docker bundle's own node configs, with the compose
//!   command and healthcheck of each service, in one network namespace per "container"
//!   joined by a bridge at the compose file's addresses: the only change is the two
//!   in-container prefixes (`/usr/local/etc/redis`, `/data`) mapped to temp directories.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use redis_harden::profile::Environment;
use redis_harden::render::Target;
use serde_json::Value;

use crate::deploy::{docker_compose, strings};
use crate::support::netns::{Lab, ok, output};
use crate::support::topology::{init_kind, wait_until};
use crate::support::{env_file, pin, render_seeded, require_python, run};

const KINDS: [&str; 2] = ["sentinel", "cluster"];
/// A topology needs TLS: the testing environment (TLS off) is refused.
const TLS_ENVS: [Environment; 3] = [
    Environment::Production,
    Environment::Staging,
    Environment::Development,
];
/// Where the image reads the bundle, and each container's data volume.
const CONFIG_DIR: &str = "/usr/local/etc/redis";
const DATA_DIR: &str = "/data";

/// `init --target docker` of `kind` into `cwd/out`, plus `extra` args.
fn init_docker(cwd: &Path, env: &str, kind: &str, extra: &[&str]) -> crate::support::Run {
    init_kind(cwd, env, "docker", "out", kind, extra)
}

/// docker-compose's own reading of the bundle's compose file.
pub(crate) fn resolved(out: &Path) -> Value {
    let check = docker_compose(out, &["config", "-q"]);
    assert!(
        check.status.success(),
        "docker-compose config -q failed:\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let r = docker_compose(out, &["config"]);
    assert!(r.status.success(), "{r:?}");
    serde_saphyr::from_str(&String::from_utf8(r.stdout).unwrap()).unwrap()
}

/// The node names of a bundle: its nodes/ directories.
fn node_names(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("nodes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A certificate's subjectAltName, as openssl prints it.
fn sans(cert: &Path) -> String {
    ok(std::process::Command::new("openssl").args([
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        cert.to_str().unwrap(),
    ]))
}

#[test]
fn docker_compose_resolves_every_topology_bundle_with_each_node_confined() {
    // Every TLS environment on Redis; Valkey (its own image, paths and programs) once.
    let combos = TLS_ENVS
        .iter()
        .flat_map(|env| KINDS.map(|kind| (*env, kind, "redis")))
        .chain(KINDS.map(|kind| (Environment::Production, kind, "valkey")));
    for (env, kind, engine) in combos {
        let ctx = format!("{env}/{kind}/{engine}");
        let tmp = tempfile::tempdir().unwrap();
        init_docker(tmp.path(), env.name(), kind, &["--engine", engine]).success();
        let out = tmp.path().join("out");
        let doc = resolved(&out);
        let services = doc["services"].as_object().unwrap();
        let names = node_names(&out);
        assert_eq!(
            services.keys().cloned().collect::<Vec<_>>(),
            names,
            "{ctx}: one service per node"
        );
        let secrets: Vec<String> = env_file(&out.join("secrets.env"))
            .into_values()
            .filter(|v| v.len() >= 8)
            .collect();
        let text = std::fs::read_to_string(out.join("docker-compose.yml")).unwrap();
        assert!(
            secrets.iter().all(|s| !text.contains(s.as_str())),
            "{ctx}: a secret in docker-compose.yml"
        );

        let net = &doc["networks"]["backend"];
        assert_eq!(net["internal"], true, "{ctx}");
        let subnet: ipnet::Ipv4Net = net["ipam"]["config"][0]["subnet"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut addresses = vec![];
        for (name, svc) in services {
            let ctx = format!("{ctx}/{name}");
            let sentinel = name.starts_with("sentinel-");
            assert_eq!(svc["user"], "999:999", "{ctx}");
            assert_eq!(svc["read_only"], true, "{ctx}");
            assert_eq!(strings(&svc["cap_drop"]), ["ALL"], "{ctx}");
            assert!(
                strings(&svc["security_opt"]).contains(&"no-new-privileges:true".into()),
                "{ctx}"
            );
            assert!(svc.get("privileged").is_none() && svc.get("cap_add").is_none());
            assert!(svc.get("ports").is_none(), "{ctx}: publishes a port");
            assert!(svc.get("mem_limit").is_some() && svc.get("cpus").is_some());
            assert!(svc.get("pids_limit").is_some(), "{ctx}");

            // The healthcheck logs in with a password from the env file, never argv.
            let check = strings(&svc["healthcheck"]["test"]).join(" ");
            let user = if sentinel {
                "sentinel-peer"
            } else {
                "monitoring"
            };
            assert!(
                check.contains(&format!("--user {user} ping")),
                "{ctx}: {check}"
            );
            assert!(check.contains("--tls --cacert"), "{ctx}: {check}");
            assert!(
                !check.contains(" -a ") && !check.contains("--pass"),
                "{ctx}"
            );
            let env_name = if sentinel {
                "sentinel.env"
            } else {
                "server.env"
            };
            let env_path = out.join(env_name);
            assert_eq!(
                std::fs::metadata(&env_path).unwrap().permissions().mode() & 0o777,
                0o600,
                "{ctx}: {env_name}"
            );
            let auth = &env_file(&env_path)["REDISCLI_AUTH"];
            let pw_var = format!("REDIS_PASSWORD_{}", user.to_uppercase().replace('-', "_"));
            assert_eq!(auth, &env_file(&out.join("secrets.env"))[&pw_var], "{ctx}");

            // Mounts: the node's own files from the bundle, read-only except a
            // Sentinel's directory; never another node's key, the CA key, the client
            // key or secrets.env.
            for v in svc["volumes"].as_array().unwrap() {
                if v["type"] == "volume" {
                    assert_eq!(v["target"], DATA_DIR, "{ctx}");
                    continue;
                }
                assert_eq!(v["type"], "bind", "{ctx}: {v}");
                let source = Path::new(v["source"].as_str().unwrap());
                let rel = source.strip_prefix(&out).unwrap().to_string_lossy();
                assert!(source.exists(), "{ctx}: {rel} missing");
                let config_dir = CONFIG_DIR.replace("redis", engine);
                assert_eq!(
                    v["target"].as_str().unwrap(),
                    format!("{config_dir}/{rel}"),
                    "{ctx}"
                );
                if rel.starts_with("nodes/") {
                    assert!(rel.starts_with(&format!("nodes/{name}")), "{ctx}: {rel}");
                }
                assert!(
                    !["tls/ca.key", "tls/client.key", "secrets.env", "client.env"]
                        .contains(&rel.as_ref()),
                    "{ctx}: mounts {rel}"
                );
                let writable = v.get("read_only") != Some(&Value::Bool(true));
                assert_eq!(
                    writable,
                    sentinel && rel == format!("nodes/{name}"),
                    "{ctx}: {rel} writable: {writable}"
                );
            }

            // A fixed address in the subnet, which the node's certificate names along
            // with the service name.
            let ip: std::net::Ipv4Addr = svc["networks"]["backend"]["ipv4_address"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(subnet.contains(&ip), "{ctx}: {ip} outside {subnet}");
            addresses.push(ip);
            let san = sans(&out.join(format!("nodes/{name}/tls/node.crt")));
            assert!(
                san.contains(&format!("DNS:{name}")) && san.contains(&format!("IP Address:{ip}")),
                "{ctx}: {san}"
            );
        }
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), names.len(), "{ctx}: shared addresses");

        // What an app on the compose network dials: the service names.
        let client = env_file(&out.join("client.env"));
        let (key, prefix) = if kind == "sentinel" {
            ("REDIS_SENTINELS", "sentinel-")
        } else {
            ("REDIS_CLUSTER_NODES", "node-")
        };
        let listed: Vec<&str> = client[key]
            .split(',')
            .map(|hp| hp.rsplit_once(':').unwrap().0)
            .collect();
        let want: Vec<&str> = names
            .iter()
            .filter(|n| n.starts_with(prefix))
            .map(String::as_str)
            .collect();
        assert_eq!(listed, want, "{ctx}: {key}");
    }
}

#[test]
fn topology_compose_bundles_are_pinned() {
    for kind in KINDS {
        let sets = vec![format!("topology.kind={kind}")];
        let (_, files) = render_seeded(Environment::Production, Target::Docker, &sets);
        let mut names = vec!["docker-compose.yml"];
        if kind == "cluster" {
            names.extend(["cluster-create.sh", "nodes/node-3/redis.conf"]);
        } else {
            names.extend(["nodes/data-1/redis.conf", "nodes/sentinel-0/sentinel.conf"]);
        }
        let text: String = names
            .iter()
            .map(|n| format!("==== {n} ====\n{}", files[*n].content))
            .collect();
        pin(&format!("topology-{kind}-production-docker"), &text);
    }
}

/// The bundle's files (not directories: data directories are never removed), relative.
fn files(dir: &Path) -> Vec<String> {
    let mut names = crate::support::file_names(dir);
    names.retain(|n| n != ".lock");
    names
}

#[test]
fn a_sentinel_bundle_moved_local_docker_local_holds_exactly_each_targets_files() {
    let fresh = |target: &str| {
        let tmp = tempfile::tempdir().unwrap();
        init_kind(tmp.path(), "production", target, "out", "sentinel", &[]).success();
        files(&tmp.path().join("out"))
    };
    let (local, docker) = (fresh("local"), fresh("docker"));
    assert!(
        docker.contains(&"docker-compose.yml".into()) && docker.contains(&"sentinel.env".into())
    );
    assert!(
        !docker.iter().any(|f| f.ends_with("nftables.nft")),
        "{docker:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (target, want) in [("local", &local), ("docker", &docker), ("local", &local)] {
        init_kind(tmp.path(), "production", target, "out", "sentinel", &[]).success();
        assert_eq!(&files(&out), want, "after --target {target}");
    }
}

#[test]
fn docker_topology_combinations_that_cannot_work_exit_2_writing_nothing() {
    let placed = "topology.nodes=[{name: a, ip: 10.0.0.1, port: 6379}, {name: b, ip: 10.0.0.2, port: 6379}, \
         {name: s0, ip: 10.0.0.1, port: 26379}, {name: s1, ip: 10.0.0.2, port: 26379}, \
         {name: s2, ip: 10.0.0.3, port: 26379}]";
    let cases: [(&str, &str, &[&str], &str); 5] = [
        (
            "production",
            "sentinel",
            &["--set", "topology.replicas=1", "--set", placed],
            "topology.nodes",
        ),
        (
            "production",
            "sentinel",
            &[
                "--set",
                "docker.exporter=true",
                "--set",
                "tls.hostnames=[redis.internal]",
            ],
            "docker.exporter",
        ),
        (
            "production",
            "cluster",
            &["--set", "topology.shards=130"],
            "at most 245",
        ),
        ("testing", "sentinel", &[], "tls.enabled"),
        (
            "production",
            "cluster",
            &["--engine", "dragonfly"],
            "Dragonfly",
        ),
    ];
    for (env, kind, extra, says) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let r = init_docker(tmp.path(), env, kind, extra);
        r.failure(2).stderr_has(says);
        assert!(
            !tmp.path().join("out").exists(),
            "{env}/{kind} {extra:?} wrote"
        );
    }
}

#[test]
fn the_gate_checks_every_node_service_of_a_topology_compose_file() {
    use crate::policy_review::{assert_refused_by_gate, builtin};
    let compose = builtin("docker-compose.yml.tera");
    // Only the Sentinels' services lose read_only (the first occurrence is the server
    // services' shared body): the data nodes' stay as built.
    let weakened = compose.replacen(
        "    read_only: true\n",
        "    read_only: {{ s.env_file != \"sentinel.env\" }}\n",
        1,
    );
    assert_ne!(weakened, compose);
    let sets = ["--target", "docker", "--set", "topology.kind=sentinel"];
    assert_refused_by_gate(
        &[("docker-compose.yml.tera", &weakened)],
        "production",
        &sets,
        "compose-hardening",
        "docker-compose.yml",
    );
    let tmp = crate::policy_review::team(&[("docker-compose.yml.tera", &weakened)]);
    let mut args = vec![
        "init",
        "--env",
        "production",
        "--out",
        "o",
        "--templates",
        "team",
    ];
    args.extend_from_slice(&sets);
    let r = run(tmp.path(), &args);
    r.failure(1);
    for n in 0..3 {
        r.stderr_has(&format!("services.sentinel-{n}.read_only"));
    }
    assert!(!r.stderr.contains("services.data-"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// The real servers, booted from the docker bundle in a simulated compose network.
// ---------------------------------------------------------------------------------------

/// What one service of the compose file runs, mapped out of the container: its command,
/// healthcheck and env file, and its address.
struct Container {
    name: String,
    ip: String,
    command: Vec<String>,
    healthcheck: String,
    env: BTreeMap<String, String>,
}

/// The docker bundle `out` as the containers see it: a copy of the bundle under `root` (the
/// image's /usr/local/etc/redis) whose node configs name `root` and each node's own data
/// directory under `data` (its /data volume). Fails if a config names another path: then
/// the mapping would not be honest.
fn map_out_of_containers(out: &Path, root: &Path, data: &Path, doc: &Value) -> Vec<Container> {
    ok(std::process::Command::new("cp").args([
        "-a",
        out.to_str().unwrap(),
        root.to_str().unwrap(),
    ]));
    let map = |s: &str, name: &str| {
        s.replace(CONFIG_DIR, root.to_str().unwrap()).replace(
            &format!("\"{DATA_DIR}"),
            &format!("\"{}/{name}", data.display()),
        )
    };
    let mut out_services = vec![];
    for (name, svc) in doc["services"].as_object().unwrap() {
        std::fs::create_dir_all(data.join(name)).unwrap();
        let conf_name = if name.starts_with("sentinel-") {
            "sentinel.conf"
        } else {
            "redis.conf"
        };
        let conf = root.join("nodes").join(name).join(conf_name);
        let text = map(&std::fs::read_to_string(&conf).unwrap(), name);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            for word in line.split_whitespace().map(|w| w.trim_matches('"')) {
                assert!(
                    !word.starts_with('/')
                        || word.starts_with(root.to_str().unwrap())
                        || word.starts_with(data.to_str().unwrap()),
                    "{name}: a path outside the two mapped prefixes: {line}"
                );
            }
        }
        std::fs::write(&conf, text).unwrap();
        let env_file = strings(&svc["env_file"]);
        let env = if env_file.is_empty() {
            // docker-compose v1 inlines the env file into `environment`.
            svc["environment"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        } else {
            crate::support::env_file(Path::new(&env_file[0]))
        };
        let env = env.into_iter().map(|(k, v)| (k, map(&v, name))).collect();
        out_services.push(Container {
            name: name.clone(),
            ip: svc["networks"]["backend"]["ipv4_address"]
                .as_str()
                .unwrap()
                .to_owned(),
            command: strings(&svc["command"])
                .iter()
                .map(|c| map(c, name))
                .collect(),
            healthcheck: map(&strings(&svc["healthcheck"]["test"])[1], name),
            env,
        });
    }
    out_services
}

/// One network namespace per container, each at its compose address on one bridge, each
/// resolving the service names like compose's DNS; plus `app`, where clients run.
fn compose_network(lab: &mut Lab, containers: &[Container]) -> (BTreeMap<String, String>, String) {
    let switch = lab.add("switch");
    lab.bridge(&switch, "br0");
    let names: Vec<(String, String)> = containers
        .iter()
        .map(|c| (c.ip.clone(), c.name.clone()))
        .collect();
    let mut namespaces = BTreeMap::new();
    for (i, c) in containers.iter().enumerate() {
        let ns = lab.add(&c.name);
        lab.plug(
            &ns,
            &format!("{}/24", c.ip),
            (&switch, "br0"),
            &format!("c{i}"),
        );
        lab.hosts(&ns, &names);
        namespaces.insert(c.name.clone(), ns);
    }
    let app = lab.add("app");
    // The app's address: the subnet's .200, which no node has (nodes start at .10).
    let ip = containers[0].ip.rsplit_once('.').unwrap().0.to_owned() + ".200/24";
    lab.plug(&app, &ip, (&switch, "br0"), "app");
    lab.hosts(&app, &names);
    (namespaces, app)
}

/// Starts each container's command in its namespace, with its env file's variables.
fn start(
    lab: &mut Lab,
    namespaces: &BTreeMap<String, String>,
    containers: &[Container],
    logs: &Path,
) {
    for c in containers {
        let mut args: Vec<String> = vec!["env".into()];
        args.extend(c.env.iter().map(|(k, v)| format!("{k}={v}")));
        args.extend(c.command.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.spawn(
            &namespaces[&c.name],
            &args,
            &logs.join(format!("{}.log", c.name)),
        );
    }
}

/// Every container's own healthcheck passes (bounded wait: the servers are starting).
fn healthchecks_pass(lab: &Lab, namespaces: &BTreeMap<String, String>, containers: &[Container]) {
    for c in containers {
        wait_until(
            &format!("{}'s healthcheck", c.name),
            Duration::from_secs(20),
            || {
                let mut cmd = lab.exec(&namespaces[&c.name], &["sh", "-c", &c.healthcheck]);
                cmd.envs(&c.env);
                let (o, text) = output(&mut cmd);
                if o.status.success() {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        );
    }
}

/// Waits (argv[2] seconds at most; polls every 0.5 s) until every Sentinel of client.env (argv[1]) reports the
/// primary with 2 replicas and 2 other Sentinels, asking as the app user (its discovery
/// commands include SENTINEL MASTERS).
fn sentinels_know_all() -> String {
    format!(
        "{}
import time, urllib.parse, redis
u = urllib.parse.urlparse(env['REDIS_URL'])
tls = dict(ssl=True, ssl_ca_certs=env['REDIS_TLS_CA_FILE'], ssl_certfile=env['REDIS_TLS_CERT_FILE'],
           ssl_keyfile=env['REDIS_TLS_KEY_FILE'], ssl_cert_reqs='required', ssl_check_hostname=True)
hosts = [h.rsplit(':', 1) for h in env['REDIS_SENTINELS'].split(',')]
deadline = time.monotonic() + float(sys.argv[2])
start = time.monotonic()
while True:
    seen = []
    for h, p in hosts:
        try:
            r = redis.Redis(host=h, port=int(p), username=urllib.parse.unquote(u.username),
                            password=urllib.parse.unquote(u.password), socket_timeout=2, **tls)
            m = r.sentinel_masters()[env['REDIS_SENTINEL_MASTER']]
            seen.append((m['num-slaves'], m['num-other-sentinels']))
        except Exception as e:
            seen.append(repr(e))
    if all(s == (2, 2) for s in seen):
        print('%.1f' % (time.monotonic() - start))
        break
    if time.monotonic() > deadline:
        sys.exit('not every Sentinel knows 2 replicas and 2 Sentinels: %r' % seen)
    time.sleep(0.5)
",
        crate::support::topology::PY_CLIENT_ENV
    )
}

/// `kill -9` of every process in the container's namespace (all started by this test).
fn kill_container(ns: &str) {
    let (o, pids) = output(std::process::Command::new("ip").args(["netns", "pids", ns]));
    assert!(o.status.success(), "ip netns pids {ns}: {pids}");
    for pid in pids.split_whitespace() {
        ok(std::process::Command::new("kill").args(["-KILL", pid]));
    }
}

/// A docker bundle of one kind booted in a simulated compose network: every container
/// started at once, as compose starts them, each one's healthcheck passing. The lab is the
/// first field, so its processes and namespaces go before the temp directory.
struct Booted {
    lab: Lab,
    namespaces: BTreeMap<String, String>,
    /// The namespace where clients run.
    app: String,
    containers: Vec<Container>,
    out: std::path::PathBuf,
    root: std::path::PathBuf,
    logs: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Booted {
    fn new(kind: &str) -> Booted {
        require_python("redis", "redis");
        let tmp = tempfile::tempdir().unwrap();
        init_docker(tmp.path(), "production", kind, &[]).success();
        let out = tmp.path().join("out");
        let (root, data, logs) = (
            tmp.path().join("root"),
            tmp.path().join("data"),
            tmp.path().join("logs"),
        );
        std::fs::create_dir_all(&logs).unwrap();
        let containers = map_out_of_containers(&out, &root, &data, &resolved(&out));
        let mut lab = Lab::new();
        let (namespaces, app) = compose_network(&mut lab, &containers);
        start(&mut lab, &namespaces, &containers, &logs);
        healthchecks_pass(&lab, &namespaces, &containers);
        Booted {
            lab,
            namespaces,
            app,
            containers,
            out,
            root,
            logs,
            _tmp: tmp,
        }
    }

    fn container(&self, name: &str) -> &Container {
        self.containers.iter().find(|c| c.name == name).unwrap()
    }

    /// Every container's log, for a failure message.
    fn logs(&self) -> String {
        self.containers
            .iter()
            .map(|c| {
                let log = std::fs::read_to_string(self.logs.join(format!("{}.log", c.name)));
                format!("---- {}\n{}", c.name, log.unwrap_or_default())
            })
            .collect()
    }

    /// A redis-py script run in the app's namespace with argv client.env, `args`, then
    /// `secs` (the script's own bound; the process gets 10 s more): its output, trimmed.
    /// Fails with every container's log unless it exits 0.
    fn python(&self, what: &str, script: &str, args: &[&str], secs: u32) -> String {
        let (bound, secs) = ((secs + 10).to_string(), secs.to_string());
        let env = self.out.join("client.env");
        let mut argv = vec!["timeout", "-k", "2", &bound, "python3", "-c", script];
        argv.push(env.to_str().unwrap());
        argv.extend(args);
        argv.push(&secs);
        let (o, text) = output(&mut self.lab.exec(&self.app, &argv));
        assert!(o.status.success(), "{what}: {text}\n{}", self.logs());
        text.trim().to_owned()
    }
}

#[test]
fn the_docker_sentinel_bundle_boots_in_a_simulated_compose_network_and_serves_client_env() {
    let b = Booted::new("sentinel");
    let primary = format!("{}:6379", b.container("data-0").ip);
    // Both replicas linked over TLS to the primary's fixed address (monitoring may INFO;
    // the same login as the healthcheck, in the replica's own container).
    for c in ["data-1", "data-2"].map(|n| b.container(n)) {
        let info = c
            .healthcheck
            .replace(" ping | grep -qx PONG", " info replication");
        wait_until(
            &format!("{} linked", c.name),
            Duration::from_secs(20),
            || {
                let mut cmd = b.lab.exec(&b.namespaces[&c.name], &["sh", "-c", &info]);
                cmd.envs(&c.env);
                let (_, text) = output(&mut cmd);
                let want = format!("master_host:{}", b.container("data-0").ip);
                if text.contains("master_link_status:up") && text.contains(&want) {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        );
    }

    // A redis-py Sentinel client configured only from client.env, in the app's namespace,
    // with hostname checks on: Sentinels by service name, the primary and a replica at the
    // addresses Sentinel hands out.
    let client = crate::sentinel::sentinel_client();
    let wrote = b.python("sentinel client", &client, &["none"], 30);
    assert_eq!(wrote, primary, "the primary: data-0");

    // A failover needs what the Sentinels learn after they start: the replicas (from the
    // primary's INFO, which Sentinel asks for every 10 s) and each other (hello messages
    // every 2 s). A primary killed before that leaves no replica to promote and no quorum:
    // `+sdown` and nothing more, which is what made this failover flaky.
    b.python("discovery", &sentinels_know_all(), &[], 30);
    // kill -9 of the primary's container: the Sentinels promote a replica and the same
    // client, still configured from client.env alone, writes to it. Bound: down-after (5 s)
    // plus one aborted attempt's retry (twice failover-timeout, 20 s) plus the promotion.
    kill_container(&b.namespaces["data-0"]);
    let promoted = b.python("after the failover", &client, &[&primary], 30);
    assert!(
        ["data-1", "data-2"]
            .iter()
            .any(|r| promoted.starts_with(&format!("{}:", b.container(r).ip))),
        "promoted {promoted}: not a replica\n{}",
        b.logs()
    );

    // Each Sentinel rewrote its config (it does so at start) and kept it owner-only: the
    // compose command's umask 077.
    for n in 0..3 {
        let conf = b.root.join(format!("nodes/sentinel-{n}/sentinel.conf"));
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(
            text.contains("sentinel myid"),
            "sentinel-{n} did not rewrite its config"
        );
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o600,
            "sentinel-{n}"
        );
    }
}

#[test]
fn the_docker_cluster_bundle_forms_a_cluster_in_a_simulated_compose_network() {
    let b = Booted::new("cluster");
    let (out, root) = (&b.out, &b.root);

    // cluster-create.sh's redis-cli line, as it runs in node-0's container: its arguments
    // from the script, the in-container paths mapped, the password in REDISCLI_AUTH.
    let script = std::fs::read_to_string(out.join("cluster-create.sh")).unwrap();
    let from = script
        .find("' redis-cli \\")
        .expect("the in-container redis-cli line");
    let args: Vec<String> = script[from + 2..]
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(|w| w.replace(CONFIG_DIR, root.to_str().unwrap()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let secrets = env_file(&out.join("secrets.env"));
    let mut create = b.lab.exec(&b.namespaces["node-0"], &["timeout", "60"]);
    create
        .args(&args)
        .env("REDISCLI_AUTH", &secrets["REDIS_PASSWORD_CLUSTER_ADMIN"]);
    let said = ok(&mut create);
    assert!(said.contains("[OK] All 16384 slots covered"), "{said}");

    // A RedisCluster client configured only from client.env, from the app's namespace,
    // with hostname checks on: it starts at node-0 by service name, then follows the
    // addresses CLUSTER SLOTS hands out.
    let py = format!(
        "{}
import time, urllib.parse
from redis.cluster import RedisCluster, ClusterNode
u = urllib.parse.urlparse(env['REDIS_URL'])
nodes = [ClusterNode(h.rsplit(':', 1)[0], int(h.rsplit(':', 1)[1])) for h in env['REDIS_CLUSTER_NODES'].split(',')]
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        c = RedisCluster(startup_nodes=nodes, username=urllib.parse.unquote(u.username),
                         password=urllib.parse.unquote(u.password), ssl=True,
                         ssl_ca_certs=env['REDIS_TLS_CA_FILE'], ssl_certfile=env['REDIS_TLS_CERT_FILE'],
                         ssl_keyfile=env['REDIS_TLS_KEY_FILE'], ssl_cert_reqs='required', ssl_check_hostname=True)
        for k in ('a', 'b', 'c', 'd', 'e', 'f'):
            c.set(k, k)
        print(len({{c.get_node_from_key(k).name for k in ('a', 'b', 'c', 'd', 'e', 'f')}}))
        break
    except Exception as e:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
",
        crate::support::topology::PY_CLIENT_ENV
    );
    let shards = b.python("cluster client", &py, &[], 30);
    // Slots of a..f: b and f in the first shard's range, c in the second's, a, d, e in the
    // third's.
    assert_eq!(shards, "3", "keys on every shard");
}
