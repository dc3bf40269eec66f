//! `--target host`: the one systemd drop-in (`systemd/redis-harden.conf`) for Debian's
//! redis-server.service and valkey-server.service. systemd itself judges it:
//! `systemd-analyze verify` loads the unit with the drop-in without a complaint, and
//! `systemd-analyze security --offline=yes` rates the exposure no worse than Debian's unit
//! alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_harden::{profile::Environment, render::Target};

use std::time::Duration;

use crate::support::topology::{Shape, Topology, info_field, wait_until};
use crate::support::{REDIS_7_0, pin, render_seeded, require, running_as_root, servers_prefix};

/// Debian's unit, as the redis-server package installs it.
const DEBIAN_REDIS_UNIT: &str = "/lib/systemd/system/redis-server.service";

/// Debian's template units for several servers (and Sentinels) on one host, from the
/// redis-server and redis-sentinel packages.
const DEBIAN_REDIS_INSTANCE_UNIT: &str = "/lib/systemd/system/redis-server@.service";
const DEBIAN_SENTINEL_UNIT: &str = "/lib/systemd/system/redis-sentinel@.service";

/// Debian 13's valkey-server.service, unpacked by tests/install-servers.sh.
fn debian_valkey_unit() -> PathBuf {
    servers_prefix().join("root/usr/lib/systemd/system/valkey-server.service")
}

/// `systemd-analyze ARGS`: exit code and stderr (+ stdout).
fn analyze(args: &[&str], unit: &Path) -> (i32, String, String) {
    require("systemd-analyze", "apt-get install -y systemd");
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .expect("run systemd-analyze");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// "Overall exposure level for redis-server.service: 1.2 OK" -> 1.2
fn exposure(unit: &Path) -> f64 {
    let (code, stdout, stderr) = analyze(&["security", "--offline=yes", "--no-pager"], unit);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let name = unit.file_name().unwrap().to_str().unwrap();
    stdout
        .lines()
        .find_map(|l| {
            l.split(&format!("Overall exposure level for {name}: "))
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}"))
}

/// Debian's `unit` next to a drop-in directory holding `dropin`: systemd-analyze reads both,
/// as systemd does with /lib/systemd/system/UNIT and /etc/systemd/system/UNIT.d/. `verify`
/// must be silent and the exposure no higher than the unit's alone (UMask shown as passed).
/// `program` is where this machine has the server, when not where the unit says.
fn assert_verifies_and_tightens(debian_unit: &Path, dropin: &str, program: Option<&Path>) {
    let name = debian_unit.file_name().unwrap().to_str().unwrap();
    assert_verifies_and_tightens_as(debian_unit, name, dropin, program);
}

/// The same, for `debian_unit` loaded as `name` (an instance of a template unit:
/// `redis-sentinel@sentinel-0.service` from `redis-sentinel@.service`). Returns the exposure
/// without and with the drop-in.
fn assert_verifies_and_tightens_as(
    debian_unit: &Path,
    name: &str,
    dropin: &str,
    program: Option<&Path>,
) -> (f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join(name);
    let mut text = std::fs::read_to_string(debian_unit).unwrap();
    if let Some(program) = program {
        // verify checks that ExecStart's program exists; the sandboxing is left as it is.
        let service = name.trim_end_matches(".service");
        let packaged = format!("/usr/bin/{}", service.split('@').next().unwrap());
        assert!(text.contains(&packaged), "{text}");
        text = text.replacen(
            &format!("ExecStart={packaged}"),
            &format!("ExecStart={}", program.display()),
            1,
        );
    }
    std::fs::write(&unit, text).unwrap();
    let base = exposure(&unit);
    let dir = tmp.path().join(format!("{name}.d"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("redis-harden.conf"), dropin).unwrap();

    let (code, stdout, stderr) = analyze(&["verify", "--man=no"], &unit);
    assert!(
        code == 0 && stderr.is_empty(),
        "systemd-analyze verify {name} (exit {code}):\n{stdout}{stderr}"
    );
    let with = exposure(&unit);
    assert!(
        with <= base,
        "{name}: exposure {with} with the drop-in, {base} without"
    );
    // The drop-in was read: UMask is no longer the group-writable default.
    let (_, report, _) = analyze(&["security", "--offline=yes", "--no-pager"], &unit);
    let umask = report
        .lines()
        .find(|l| l.contains("UMask="))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(umask.starts_with('✓'), "{name}: {umask}");

    // verify is a real judge: a key systemd does not know is reported.
    std::fs::write(dir.join("zz-bad.conf"), "[Service]\nUMaskk=0077\n").unwrap();
    let (_, _, stderr) = analyze(&["verify", "--man=no"], &unit);
    assert!(stderr.contains("Unknown key"), "{name}: {stderr}");
    (base, with)
}

/// systemd's view of a unit with its drop-ins: `systemctl show`'s properties are not
/// available offline, so the merged unit text as `systemd-analyze cat-config` would show it
/// is judged by `verify` above; here the drop-in's own lines are checked.
fn dropin_lines(dropin: &str) -> Vec<&str> {
    dropin
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// A host topology: one drop-in per node, for the node's instance of Debian's template unit
/// (`redis-server@NAME`, `redis-sentinel@NAME`), so that nodes may share a host. Each points
/// the unit at the node's config (and the pid file the config names), keeps Debian's
/// sandboxing (verify passes; the exposure is no higher than the unit's alone) and lets a
/// Sentinel write its own node directory, where it rewrites sentinel.conf, and nothing else
/// of the config directory. No standalone drop-in.
#[test]
fn systemd_dropins_per_node_for_sentinel_topology() {
    for unit in [DEBIAN_SENTINEL_UNIT, DEBIAN_REDIS_INSTANCE_UNIT] {
        assert!(
            Path::new(unit).is_file(),
            "{unit} is missing; install it with: apt-get install -y redis-server redis-sentinel"
        );
    }
    let (_, files) = render_seeded(
        Environment::Production,
        Target::Host,
        &["topology.kind=sentinel".into()],
    );
    let systemd: Vec<&str> = files
        .keys()
        .filter(|k| k.contains("systemd/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        systemd,
        [
            "nodes/data-0/systemd/redis-harden.conf",
            "nodes/data-1/systemd/redis-harden.conf",
            "nodes/data-2/systemd/redis-harden.conf",
            "nodes/sentinel-0/systemd/redis-harden.conf",
            "nodes/sentinel-1/systemd/redis-harden.conf",
            "nodes/sentinel-2/systemd/redis-harden.conf",
        ]
    );
    let sentinel = &files["nodes/sentinel-0/systemd/redis-harden.conf"];
    let data = &files["nodes/data-1/systemd/redis-harden.conf"];
    assert_eq!((sentinel.mode, sentinel.secret), (0o644, false));
    pin("systemd-dropin-sentinel-node", &sentinel.content);
    pin("systemd-dropin-data-node", &data.content);
    assert_eq!(
        dropin_lines(&sentinel.content),
        [
            "[Service]",
            "ExecStart=",
            "ExecStart=/usr/bin/redis-sentinel /etc/redis/nodes/sentinel-0/sentinel.conf --supervised systemd --daemonize no",
            "PIDFile=/run/sentinel-sentinel-0/redis-sentinel.pid",
            "UMask=0077",
            "ReadWritePaths=",
            "ReadWritePaths=/etc/redis/nodes/sentinel-0 -/var/log/redis -/run/sentinel-sentinel-0",
            "PrivateIPC=true",
            "PrivateMounts=true",
            "Environment=OPENSSL_CONF=/etc/redis/openssl.cnf",
        ]
    );
    // The node's config names the pid file the unit watches, in the instance's runtime
    // directory (the only part of /run it may write).
    for (conf, pid) in [
        (
            "nodes/sentinel-0/sentinel.conf",
            "pidfile \"/run/sentinel-sentinel-0/redis-sentinel.pid\"",
        ),
        (
            "nodes/data-1/redis.conf",
            "pidfile \"/run/redis-data-1/redis-server.pid\"",
        ),
    ] {
        assert!(
            files[conf].content.lines().any(|l| l == pid),
            "{conf}: {pid}"
        );
    }
    let (base, with) = assert_verifies_and_tightens_as(
        Path::new(DEBIAN_SENTINEL_UNIT),
        "redis-sentinel@sentinel-0.service",
        &sentinel.content,
        None,
    );
    eprintln!("redis-sentinel@sentinel-0.service exposure: {base} alone, {with} with the drop-in");
    let (base, with) = assert_verifies_and_tightens_as(
        Path::new(DEBIAN_REDIS_INSTANCE_UNIT),
        "redis-server@data-1.service",
        &data.content,
        None,
    );
    eprintln!("redis-server@data-1.service exposure: {base} alone, {with} with the drop-in");
    // A cluster's nodes: the same data-node drop-in (nodes.conf is in the data directory).
    let (_, files) = render_seeded(
        Environment::Production,
        Target::Host,
        &["topology.kind=cluster".into()],
    );
    let node = &files["nodes/node-3/systemd/redis-harden.conf"].content;
    assert!(
        dropin_lines(node)
            .contains(&"ReadWritePaths=-/var/lib/redis/node-3 -/var/log/redis -/run/redis-node-3"),
        "{node}"
    );
    assert!(!files.keys().any(|k| k.starts_with("systemd/")));
    assert_verifies_and_tightens_as(
        Path::new(DEBIAN_REDIS_INSTANCE_UNIT),
        "redis-server@node-3.service",
        node,
        None,
    );
}

#[test]
fn systemd_dropin_verifies_and_keeps_debians_sandboxing() {
    assert!(
        Path::new(DEBIAN_REDIS_UNIT).is_file(),
        "{DEBIAN_REDIS_UNIT} is missing; install it with: apt-get install -y redis-server"
    );
    let (_, files) = render_seeded(Environment::Production, Target::Host, &[]);
    let dropin = &files["systemd/redis-harden.conf"];
    assert_eq!(dropin.mode, 0o644);
    // One file: the sandboxing and the OpenSSL configuration for the TLS groups.
    let systemd: Vec<&String> = files.keys().filter(|k| k.starts_with("systemd/")).collect();
    assert_eq!(systemd, ["systemd/redis-harden.conf"]);
    assert!(
        dropin
            .content
            .contains("\nEnvironment=OPENSSL_CONF=/etc/redis/openssl.cnf\n"),
        "{}",
        dropin.content
    );
    pin("systemd-dropin", &dropin.content);
    // Only on a host.
    for target in [Target::Local, Target::Docker] {
        let (_, files) = render_seeded(Environment::Production, target, &[]);
        assert!(!files.keys().any(|k| k.starts_with("systemd/")), "{target}");
    }
    assert_verifies_and_tightens(Path::new(DEBIAN_REDIS_UNIT), &dropin.content, None);
}

/// Valkey on a host: the same drop-in, for Debian's valkey-server.service and its paths.
#[test]
fn systemd_dropin_for_valkey_verifies_and_keeps_debians_sandboxing() {
    let unit = debian_valkey_unit();
    let program = servers_prefix().join("bin/valkey-server");
    assert!(
        unit.is_file() && program.is_file(),
        "{} or {} is missing; install it with: sudo bash tests/install-servers.sh",
        unit.display(),
        program.display()
    );
    let (_, files) = render_seeded(
        Environment::Production,
        Target::Host,
        &["engine=valkey".into()],
    );
    let dropin = &files["systemd/redis-harden.conf"].content;
    pin("systemd-dropin-valkey", dropin);
    for line in [
        "ReadWritePaths=-/var/lib/valkey -/var/log/valkey -/run/valkey",
        "Environment=OPENSSL_CONF=/etc/valkey/openssl.cnf",
    ] {
        assert!(dropin.lines().any(|l| l == line), "{line}:\n{dropin}");
    }
    for redis_path in [
        "/etc/redis",
        "/var/lib/redis",
        "/var/log/redis",
        "/run/redis",
    ] {
        assert!(!dropin.contains(redis_path), "{redis_path}:\n{dropin}");
    }
    assert_verifies_and_tightens(&unit, dropin, Some(&program));
}

/// A host topology's processes, started in a private mount namespace (`unshare --mount`):
/// tmpfs over /etc/redis, /var/lib/redis, /var/log/redis and /run, the bundle installed there
/// as `init`'s next steps say, and each node run as its drop-in says (ExecStart, UMask,
/// OPENSSL_CONF) as the redis user, with /etc/redis read-only but for the Sentinels' node
/// directories (the drop-ins' ReadWritePaths). The network is the machine's: loopback ports.
/// Killed (the whole process group) on drop; the mounts go with the namespace.
struct HostNamespace {
    child: std::process::Child,
}

impl HostNamespace {
    fn start(topo: &Topology) -> HostNamespace {
        use std::os::unix::process::CommandExt;
        require("unshare", "apt-get install -y util-linux");
        require("setpriv", "apt-get install -y util-linux");
        let mut script = String::from(
            "set -eu\n\
             for d in /etc/redis /var/lib/redis /var/log/redis /run; do\n\
               mkdir -p \"$d\"; mount -t tmpfs -o mode=0755 tmpfs \"$d\"\n\
             done\n\
             b=\"$1\"\n\
             mkdir -p /etc/redis/tls\n\
             cp \"$b/tls/ca.crt\" /etc/redis/tls/\n\
             cp \"$b/users.acl\" \"$b/openssl.cnf\" /etc/redis/\n\
             if [ -f \"$b/sentinel-users.acl\" ]; then cp \"$b/sentinel-users.acl\" /etc/redis/; fi\n\
             cp -r \"$b/nodes\" /etc/redis/\n\
             chown -R redis:redis /etc/redis /var/log/redis\n\
             chmod 0750 /etc/redis\n",
        );
        for node in topo.nodes() {
            let dropin = std::fs::read_to_string(node.dir.join("systemd/redis-harden.conf"))
                .unwrap_or_else(|e| panic!("{}: {e}", node.name));
            let value = |key: &str| -> String {
                dropin
                    .lines()
                    .filter_map(|l| l.strip_prefix(key))
                    .rfind(|v| !v.is_empty())
                    .unwrap_or_else(|| panic!("{}: no {key}:\n{dropin}", node.name))
                    .to_owned()
            };
            let exec = value("ExecStart=");
            let umask = value("UMask=");
            let openssl = value("Environment=");
            let pid = value("PIDFile=");
            let run_dir = Path::new(&pid).parent().unwrap().display().to_string();
            // The data directory init's next steps create, the runtime directory systemd
            // creates for the unit (RuntimeDirectory=).
            let data = format!("/var/lib/redis/{}", node.name);
            script.push_str(&format!(
                "install -d -m 0700 -o redis -g redis {data}\n\
                 install -d -m 2755 -o redis -g redis {run_dir}\n\
                 setpriv --reuid=redis --regid=redis --init-groups \
                 sh -c 'umask {umask}; export {openssl}; exec \"$@\"' sh {exec} &\n"
            ));
        }
        script.push_str("wait\n");
        // As the drop-ins leave it under ProtectSystem=strict: the config directory read-only
        // but for each Sentinel's node directory (bind-mounted onto itself, then the rest
        // remounted read-only), before anything starts.
        let mut protect = String::new();
        for s in topo.sentinels() {
            protect.push_str(&format!(
                "mount --bind /etc/redis/nodes/{0} /etc/redis/nodes/{0}\n",
                s.name
            ));
        }
        protect.push_str("mount -o remount,bind,ro /etc/redis\n");
        let at = script.find("install -d").expect("a node");
        script.insert_str(at, &protect);
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                "sh",
            ])
            .arg(&topo.dir)
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("run unshare");
        HostNamespace { child }
    }

    /// A path as the namespace's processes see it.
    fn path(&self, inside: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{inside}", self.child.id()))
    }
}

impl Drop for HostNamespace {
    fn drop(&mut self) {
        let pgid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

/// Issue 11, host target booted for real: a `--target host` sentinel bundle (a primary, 2
/// replicas, 3 Sentinels, production TLS) installed in a private mount namespace where its
/// paths exist (/etc/redis, /var/lib/redis, ...), every node started as its systemd drop-in
/// says, as the redis user: the replicas link over TLS, every Sentinel finds the primary, its
/// 2 replicas and the 2 other Sentinels, and each Sentinel rewrote its own sentinel.conf in
/// its node directory (its id saved; mode 0600 under UMask=0077).
#[test]
fn host_sentinel_bundle_boots_in_a_private_mount_namespace() {
    assert!(
        running_as_root(),
        "this test mounts tmpfs in a private mount namespace: run it as root (sudo bash tests/run.sh)"
    );
    for program in ["/usr/bin/redis-server", "/usr/bin/redis-sentinel"] {
        assert!(
            Path::new(program).is_file(),
            "{program} is missing; install it with: apt-get install -y redis-server redis-sentinel"
        );
    }
    let topo = Topology::init_for(
        &REDIS_7_0,
        "production",
        Shape::Sentinel {
            replicas: 2,
            sentinels: 3,
        },
        "host",
        &["--set", "acl.admin.enabled=true"],
    );
    let ns = HostNamespace::start(&topo);
    let data = topo.data_nodes();
    let master = topo.client_env()["REDIS_SENTINEL_MASTER"].clone();
    wait_until(
        "the primary to see 2 online replicas",
        Duration::from_secs(30),
        || {
            let info = topo
                .cli_as(&data[0].name, "admin")
                .run(&["INFO", "replication"]);
            let online = info.matches("state=online").count();
            if info_field(&info, "connected_slaves").as_deref() == Some("2") && online == 2 {
                Ok(())
            } else {
                Err(info)
            }
        },
    );
    for s in topo.sentinels() {
        wait_until(
            &format!("{} to find the primary, 2 replicas and 2 Sentinels", s.name),
            Duration::from_secs(30),
            || {
                let out = topo
                    .cli_as(&s.name, "admin")
                    .run(&["SENTINEL", "MASTER", &master]);
                let lines: Vec<&str> = out.lines().collect();
                let field = |f: &str| lines.windows(2).find(|w| w[0] == f).map(|w| w[1]);
                if field("num-slaves") == Some("2") && field("num-other-sentinels") == Some("2") {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
        let addr =
            topo.cli_as(&s.name, "admin")
                .run(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &master]);
        assert_eq!(addr, format!("127.0.0.1\n{}", data[0].port), "{}", s.name);
        // Sentinel saved its state into its node directory (which the drop-in makes
        // writable), owner-only.
        let conf = ns.path(&format!("/etc/redis/nodes/{}/sentinel.conf", s.name));
        wait_until(
            &format!("{} to save its id", s.name),
            Duration::from_secs(10),
            || {
                let text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
                if text.contains("sentinel myid ") && text.contains("sentinel known-sentinel ") {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        );
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&conf).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "{}", s.name);
    }
    // The rest of the config directory is read-only, as under the drop-ins.
    let probe = Command::new("nsenter")
        .args([
            "-t",
            &ns.child.id().to_string(),
            "-m",
            "touch",
            "/etc/redis/probe",
        ])
        .output()
        .expect("run nsenter (apt-get install -y util-linux)");
    assert!(!probe.status.success(), "/etc/redis is writable");
    // The servers write where their configs say: the data node's log and data directory.
    assert!(ns.path("/var/log/redis/redis-server-data-0.log").is_file());
    assert!(ns.path("/var/lib/redis/data-1").is_dir());
}

/// The same for a `--target host` cluster bundle (3 shards x 1 replica, Redis 7.0): every node
/// started as its drop-in says, with /etc/redis read-only, the bundle's cluster-create.sh (run
/// from the bundle, outside the namespace) forms the cluster, every node reaches
/// `cluster_state:ok`, and each node saved its cluster state to nodes.conf in its own data
/// directory, the one its drop-in lets it write.
#[test]
fn host_cluster_bundle_boots_in_a_private_mount_namespace() {
    assert!(
        running_as_root(),
        "this test mounts tmpfs in a private mount namespace: run it as root (sudo bash tests/run.sh)"
    );
    let topo = Topology::init_for(
        &REDIS_7_0,
        "production",
        Shape::Cluster {
            shards: 3,
            replicas_per_shard: 1,
        },
        "host",
        &[],
    );
    let ns = HostNamespace::start(&topo);
    let nodes = topo.data_nodes();
    for node in &nodes {
        wait_until(
            &format!("{} to answer", node.name),
            Duration::from_secs(20),
            || {
                let out = topo
                    .cli_as(&node.name, "cluster-admin")
                    .run(&["INFO", "server"]);
                if out.contains("redis_mode:cluster") {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
    }
    let out = Command::new("timeout")
        .args(["-k", "2", "60"])
        .arg(topo.path("cluster-create.sh"))
        .env("REDIS_CLI", REDIS_7_0.cli_program())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("All 16384 slots covered"),
        "cluster-create.sh: {said}"
    );
    for node in &nodes {
        wait_until(
            &format!("cluster_state:ok on {}", node.name),
            Duration::from_secs(30),
            || {
                let info = topo
                    .cli_as(&node.name, "cluster-admin")
                    .run(&["CLUSTER", "INFO"]);
                match info_field(&info, "cluster_state").as_deref() {
                    Some("ok") => Ok(()),
                    _ => Err(info),
                }
            },
        );
        let state = ns.path(&format!("/var/lib/redis/{}/nodes.conf", node.name));
        let text =
            std::fs::read_to_string(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
        assert!(text.contains("myself"), "{}: {text}", node.name);
    }
}
