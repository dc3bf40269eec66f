//! `--target host`: the one systemd drop-in (`systemd/redis-harden.conf`) for Debian's
//! redis-server.service and valkey-server.service. systemd itself judges it:
//! `systemd-analyze verify` loads the unit with the drop-in without a complaint, and
//! `systemd-analyze security --offline=yes` rates the exposure no worse than Debian's unit
//! alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_harden::{profile::Environment, render::Target};

use crate::support::{pin, render_seeded, require, servers_prefix};

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
