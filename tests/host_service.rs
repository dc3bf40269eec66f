//! `--target host`: the systemd drop-ins. systemd itself judges each against the packaged unit
//! it belongs to (Debian's redis-server/redis-sentinel units, Debian 13's valkey-server/
//! valkey-sentinel units, upstream Dragonfly's dragonfly.service): `systemd-analyze verify`
//! loads the unit with the drop-in without a complaint, and `systemd-analyze security
//! --offline=yes` rates the exposure no worse than the unit alone. Host topology bundles are
//! also booted as their drop-ins say, on Redis 7.0 and Valkey 8.1.

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_harden::{profile::Environment, render::Target};

use std::time::Duration;

use crate::support::topology::{Shape, Topology, info_field, wait_until};
use crate::support::{
    ServerUnderTest, env_file, pin, render_seeded, require, run, running_as_root, servers_prefix,
};

/// Debian's unit, as the redis-server package installs it.
const DEBIAN_REDIS_UNIT: &str = "/lib/systemd/system/redis-server.service";

/// Debian 13's valkey units (packages valkey-server and valkey-sentinel), unpacked by
/// tests/install-servers.sh.
fn debian_valkey_unit(name: &str) -> PathBuf {
    servers_prefix()
        .join("root/usr/lib/systemd/system")
        .join(name)
}

/// Upstream Dragonfly's packaged unit and flagfile (tools/packaging/debian/), vendored with
/// their source URL and commit: Dragonfly has no Debian package.
const DRAGONFLY_UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dragonfly/dragonfly.service"
);
const DRAGONFLY_PACKAGE_FLAGS: &str = include_str!("fixtures/dragonfly/dragonfly.conf");

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

/// The packaged unit `packaged`, loaded as `name` (itself, or an instance of a template unit:
/// `redis-sentinel@sentinel-0.service` from `redis-sentinel@.service`), next to a drop-in
/// directory holding `dropin`: systemd-analyze reads both, as systemd does with
/// /lib/systemd/system/UNIT and /etc/systemd/system/UNIT.d/. `verify` must be silent and the
/// exposure no higher than the unit's alone (UMask shown as passed). `program` is where this
/// machine has the program the unit runs (`/usr/bin/NAME`, NAME the unit's name up to `@`),
/// when not there: it replaces that path in the unit and the drop-in (verify checks that
/// ExecStart's program exists; the sandboxing is left as it is). Prints and returns the
/// exposure without and with the drop-in.
fn judge(packaged: &Path, name: &str, dropin: &str, program: Option<&Path>) -> (f64, f64) {
    assert!(
        packaged.is_file(),
        "{} is missing; install it with: sudo bash tests/run.sh (apt-get install -y \
         redis-server redis-sentinel; tests/install-servers.sh)",
        packaged.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join(name);
    let mut text = std::fs::read_to_string(packaged).unwrap();
    let mut dropin = dropin.to_owned();
    if let Some(program) = program {
        let service = name.trim_end_matches(".service");
        let packaged = format!("/usr/bin/{}", service.split('@').next().unwrap());
        assert!(text.contains(&format!("ExecStart={packaged}")), "{text}");
        text = text.replacen(
            &format!("ExecStart={packaged}"),
            &format!("ExecStart={}", program.display()),
            1,
        );
        dropin = dropin.replace(
            &format!("ExecStart={packaged} "),
            &format!("ExecStart={} ", program.display()),
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
    eprintln!("{name} exposure: {base} alone, {with} with the drop-in");
    (base, with)
}

/// The files of a `--target host` bundle for `env` with `sets` (seeded, in memory).
fn host_files(env: Environment, sets: &[&str]) -> redis_harden::render::Rendered {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    render_seeded(env, Target::Host, &sets).1
}

/// A drop-in's settings: its lines but comments and blank ones.
fn dropin_lines(dropin: &str) -> Vec<&str> {
    dropin
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

/// The last non-empty value a drop-in gives `key` (an empty assignment resets a list).
fn dropin_value<'a>(dropin: &'a str, key: &str) -> &'a str {
    dropin
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .rfind(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no {key}= in:\n{dropin}"))
}

/// Debian's template units of one server family, for the nodes of a host topology, and where
/// this machine has the programs they run when not in /usr/bin (Valkey: Debian 13's, under
/// the private prefix).
struct TemplateUnits {
    server: PathBuf,
    sentinel: PathBuf,
    /// `init` arguments that select the family.
    sets: &'static [&'static str],
    programs: Option<PathBuf>,
}

impl TemplateUnits {
    fn redis() -> TemplateUnits {
        TemplateUnits {
            server: "/lib/systemd/system/redis-server@.service".into(),
            sentinel: "/lib/systemd/system/redis-sentinel@.service".into(),
            sets: &[],
            programs: None,
        }
    }

    fn valkey() -> TemplateUnits {
        TemplateUnits {
            server: debian_valkey_unit("valkey-server@.service"),
            sentinel: debian_valkey_unit("valkey-sentinel@.service"),
            sets: &["engine=valkey"],
            programs: Some(servers_prefix().join("bin")),
        }
    }

    /// Judges `dropin`, for the instance `unit` (`valkey-sentinel@sentinel-0.service`).
    fn judge(&self, unit: &str, dropin: &str) -> (f64, f64) {
        let family = unit.split('@').next().unwrap();
        let packaged = if family.ends_with("-sentinel") {
            &self.sentinel
        } else {
            &self.server
        };
        let program = self.programs.as_ref().map(|dir| dir.join(family));
        if let Some(p) = &program {
            assert!(
                p.is_file(),
                "{} is missing; install it with: sudo bash tests/install-servers.sh",
                p.display()
            );
        }
        judge(packaged, unit, dropin, program.as_deref())
    }

    /// A production host bundle of topology `kind` for this family.
    fn render(&self, kind: &str) -> redis_harden::render::Rendered {
        let kind = format!("topology.kind={kind}");
        host_files(
            Environment::Production,
            &[self.sets, &[kind.as_str()]].concat(),
        )
    }

    /// A host topology's drop-ins, judged: one per node, for the node's instance of Debian's
    /// template unit (`SERVICE@NAME`, `SENTINEL@NAME`), none standalone; the Sentinel's, a
    /// data node's and a cluster node's pass verify and keep or lower the exposure. Returns
    /// the drop-ins of sentinel-0, data-1 and (a cluster's) node-3.
    fn judge_topology(&self, service: &str) -> [String; 3] {
        let files = self.render("sentinel");
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
        assert_eq!((sentinel.mode, sentinel.secret), (0o644, false));
        let data = &files["nodes/data-1/systemd/redis-harden.conf"].content;
        // The node's config names the pid file the unit watches, in the instance's runtime
        // directory (the only part of /run it may write).
        for (conf, dropin) in [
            ("nodes/sentinel-0/sentinel.conf", &sentinel.content),
            ("nodes/data-1/redis.conf", data),
        ] {
            let pid = format!("pidfile \"{}\"", dropin_value(dropin, "PIDFile"));
            assert!(
                files[conf].content.lines().any(|l| l == pid),
                "{conf}: {pid}"
            );
        }
        let sentinel_unit = service.replace("-server", "-sentinel");
        self.judge(
            &format!("{sentinel_unit}@sentinel-0.service"),
            &sentinel.content,
        );
        self.judge(&format!("{service}@data-1.service"), data);
        // A cluster's nodes: the same data-node drop-in (nodes.conf is in the data directory).
        let files = self.render("cluster");
        assert!(!files.keys().any(|k| k.starts_with("systemd/")));
        let node = files["nodes/node-3/systemd/redis-harden.conf"]
            .content
            .clone();
        self.judge(&format!("{service}@node-3.service"), &node);
        [sentinel.content.clone(), data.clone(), node]
    }
}

/// A host topology: one drop-in per node, for the node's instance of Debian's template unit
/// (`redis-server@NAME`, `redis-sentinel@NAME`), so that nodes may share a host. Each points
/// the unit at the node's config (and the pid file the config names), keeps Debian's
/// sandboxing (verify passes; the exposure is no higher than the unit's alone) and lets a
/// Sentinel write its own node directory, where it rewrites sentinel.conf, and nothing else
/// of the config directory. No standalone drop-in.
#[test]
fn systemd_dropins_per_node_for_sentinel_topology() {
    per_node_dropins(&TemplateUnits::redis(), "redis", "");
}

/// The same on Valkey, against Debian 13's own template units: valkey-sentinel@.service (from
/// the valkey-sentinel package) and valkey-server@.service, with Valkey's programs and paths
/// (/etc/valkey, /var/lib/valkey, /var/log/valkey, the valkey-* runtime directories) and no
/// Redis path left.
#[test]
fn systemd_dropins_per_node_for_valkey_sentinel_topology() {
    per_node_dropins(&TemplateUnits::valkey(), "valkey", "valkey-");
}

/// The per-node drop-ins of `family` (`redis`, `valkey`), judged, pinned (`systemd-dropin-
/// {pin}sentinel-node`, `...data-node`) and read line by line.
fn per_node_dropins(units: &TemplateUnits, family: &str, pin_prefix: &str) {
    let [sentinel, data, node] = units.judge_topology(&format!("{family}-server"));
    pin(
        &format!("systemd-dropin-{pin_prefix}sentinel-node"),
        &sentinel,
    );
    pin(&format!("systemd-dropin-{pin_prefix}data-node"), &data);
    let (etc, run) = (format!("/etc/{family}"), "/run/sentinel-sentinel-0");
    assert_eq!(
        dropin_lines(&sentinel),
        [
            "[Service]".to_owned(),
            "ExecStart=".into(),
            format!(
                "ExecStart=/usr/bin/{family}-sentinel {etc}/nodes/sentinel-0/sentinel.conf \
                 --supervised systemd --daemonize no"
            ),
            format!("PIDFile={run}/{family}-sentinel.pid"),
            "UMask=0077".into(),
            "ReadWritePaths=".into(),
            format!("ReadWritePaths={etc}/nodes/sentinel-0 -/var/log/{family} -{run}"),
            "PrivateIPC=true".into(),
            "PrivateMounts=true".into(),
            format!("Environment=OPENSSL_CONF={etc}/openssl.cnf"),
        ]
    );
    assert_eq!(
        dropin_value(&data, "ExecStart"),
        format!(
            "/usr/bin/{family}-server {etc}/nodes/data-1/redis.conf --supervised systemd \
             --daemonize no"
        )
    );
    assert_eq!(
        dropin_value(&node, "ReadWritePaths"),
        format!("-/var/lib/{family}/node-3 -/var/log/{family} -/run/{family}-node-3")
    );
    // No other family's path or program.
    let other = if family == "redis" { "valkey" } else { "redis" };
    for dropin in [&sentinel, &data, &node] {
        for path in ["/etc/", "/var/lib/", "/var/log/", "/usr/bin/"] {
            assert!(
                !dropin.contains(&format!("{path}{other}")),
                "{path}{other}:\n{dropin}"
            );
        }
    }
}

#[test]
fn systemd_dropin_verifies_and_keeps_debians_sandboxing() {
    let (_, files) = render_seeded(Environment::Production, Target::Host, &[]);
    let dropin = &files["systemd/redis-harden.conf"];
    assert_eq!(dropin.mode, 0o644);
    // One file: the sandboxing and the OpenSSL configuration for the TLS groups.
    let systemd: Vec<&String> = files.keys().filter(|k| k.starts_with("systemd/")).collect();
    assert_eq!(systemd, ["systemd/redis-harden.conf"]);
    assert_eq!(
        dropin_value(&dropin.content, "Environment"),
        "OPENSSL_CONF=/etc/redis/openssl.cnf"
    );
    pin("systemd-dropin", &dropin.content);
    // Only on a host.
    for target in [Target::Local, Target::Docker] {
        let (_, files) = render_seeded(Environment::Production, target, &[]);
        assert!(!files.keys().any(|k| k.starts_with("systemd/")), "{target}");
    }
    judge(
        Path::new(DEBIAN_REDIS_UNIT),
        "redis-server.service",
        &dropin.content,
        None,
    );
}

/// Valkey on a host: the same drop-in, for Debian's valkey-server.service and its paths.
#[test]
fn systemd_dropin_for_valkey_verifies_and_keeps_debians_sandboxing() {
    let files = host_files(Environment::Production, &["engine=valkey"]);
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
    let program = servers_prefix().join("bin/valkey-server");
    assert!(
        program.is_file(),
        "{} is missing; install it with: sudo bash tests/install-servers.sh",
        program.display()
    );
    judge(
        &debian_valkey_unit("valkey-server.service"),
        "valkey-server.service",
        dropin,
        Some(&program),
    );
}

/// Dragonfly on a host, against upstream's packaged dragonfly.service (vendored): the drop-in
/// makes the unit run the bundle as written, with no hand edit. verify passes and the
/// exposure does not rise (there is no Dragonfly program here: ExecStart's is replaced by a
/// stand-in that exists, since verify checks only that); it runs the bundle's flagfile
/// where the bundle says to install it, plus the package flagfile's pid file (the unit's
/// PIDFile=) and log directory; and every variable server.env sets is one Dragonfly reads:
/// `DFLY_<flag>` for a flag defined in its source (src/dragonfly-flags.tsv), which the
/// flagfile does not set (a flag given on the command line wins over its variable), with the
/// password among them. Without TLS the drop-in is written too (no OPENSSL_CONF).
#[test]
fn systemd_dropin_for_dragonfly_runs_the_bundle_with_upstreams_unit() {
    let files = host_files(Environment::Production, &["engine=dragonfly"]);
    let dropin = &files["systemd/redis-harden.conf"];
    assert_eq!((dropin.mode, dropin.secret), (0o644, false));
    pin("systemd-dropin-dragonfly", &dropin.content);
    let dropin = &dropin.content;
    judge(
        Path::new(DRAGONFLY_UNIT),
        "dragonfly.service",
        dropin,
        Some(Path::new("/bin/true")),
    );

    let tsv_flags: Vec<&str> = include_str!("../src/dragonfly-flags.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let package_flags: Vec<&str> = DRAGONFLY_PACKAGE_FLAGS
        .lines()
        .filter_map(|l| l.strip_prefix("--")?.split('=').next())
        .collect();
    let unit = std::fs::read_to_string(DRAGONFLY_UNIT).unwrap();

    // ExecStart: the bundle's flagfile where the next steps install it; the rest are flags
    // the package's own flagfile passes, with the values the unit relies on.
    let exec: Vec<&str> = dropin_value(dropin, "ExecStart").split(' ').collect();
    assert_eq!(exec[0], "/usr/bin/dragonfly");
    assert_eq!(exec[1], "--flagfile=/etc/dragonfly/dragonfly.flags");
    assert!(files.contains_key("dragonfly.flags"));
    for flag in &exec[2..] {
        let name = flag.strip_prefix("--").unwrap().split('=').next().unwrap();
        assert!(
            package_flags.contains(&name),
            "{flag}: not in the package's flagfile"
        );
        assert!(
            DRAGONFLY_PACKAGE_FLAGS.lines().any(|l| l == *flag),
            "{flag}"
        );
    }
    let pid = dropin_value(&unit, "PIDFile");
    assert!(
        exec.contains(&format!("--pidfile={pid}").as_str()),
        "{exec:?}"
    );

    // EnvironmentFile: server.env, where the next steps install it; each variable names a
    // flag Dragonfly defines (an unknown DFLY_ variable is fatal at startup).
    assert_eq!(
        dropin_value(dropin, "EnvironmentFile"),
        "/etc/dragonfly/server.env"
    );
    let tmp = tempfile::tempdir().unwrap();
    let env_path = tmp.path().join("server.env");
    std::fs::write(&env_path, &files["server.env"].content).unwrap();
    let env = env_file(&env_path);
    assert!(env.contains_key("DFLY_requirepass"), "{env:?}");
    for (key, value) in &env {
        let flag = key
            .strip_prefix("DFLY_")
            .unwrap_or_else(|| panic!("server.env: {key} is not a DFLY_ variable"));
        assert!(
            tsv_flags.contains(&flag),
            "server.env: {key}: no flag {flag} in Dragonfly"
        );
        assert!(!value.is_empty(), "{key}");
        let flagfile = &files["dragonfly.flags"].content;
        assert!(
            !flagfile
                .lines()
                .any(|l| l.starts_with(&format!("--{flag}="))),
            "dragonfly.flags sets --{flag}, which wins over {key}"
        );
    }
    // The judge is real: a misspelt variable would not pass.
    assert!(!tsv_flags.contains(&"require_pass"));

    // Without TLS: the drop-in still runs the bundle; no OPENSSL_CONF.
    let files = host_files(Environment::Testing, &["engine=dragonfly"]);
    let plain = &files["systemd/redis-harden.conf"].content;
    assert!(!plain.contains("OPENSSL_CONF"), "{plain}");
    assert_eq!(
        dropin_value(plain, "EnvironmentFile"),
        "/etc/dragonfly/server.env"
    );
}

/// `init`'s next step for a Dragonfly host bundle: install the files and the drop-in, then
/// daemon-reload and restart; no hand edit of the package's files is left.
#[test]
fn dragonfly_host_next_step_installs_the_dropin_instead_of_hand_edits() {
    for (env, tls) in [("production", true), ("testing", false)] {
        let tmp = tempfile::tempdir().unwrap();
        let init = ["--engine", "dragonfly", "--target", "host", "--out", "b"];
        let r = run(tmp.path(), &[&["init", "--env", env][..], &init].concat());
        let next = r.next_line();
        for part in [
            "systemd/redis-harden.conf as /etc/systemd/system/dragonfly.service.d/redis-harden.conf",
            "EnvironmentFile=/etc/dragonfly/server.env",
            "--flagfile=/etc/dragonfly/dragonfly.flags",
            "systemctl daemon-reload && systemctl restart dragonfly",
        ] {
            assert!(next.contains(part), "{env}: next: lacks {part:?}:\n{next}");
        }
        assert!(!next.contains("make that file"), "{next}");
        assert_eq!(next.contains("openssl.cnf"), tls, "{next}");
        assert!(
            tmp.path().join("b/systemd/redis-harden.conf").is_file(),
            "{env}"
        );
    }
}

/// A host topology's processes, started in a private mount namespace (`unshare --mount`):
/// tmpfs over the server family's host directories (/etc/redis, /var/lib/redis,
/// /var/log/redis; Valkey's /etc/valkey, ...) and /run, the bundle installed there as `init`'s
/// next steps say, and each node run as its drop-in says (ExecStart, UMask, OPENSSL_CONF) as
/// the unit's user (redis, valkey), with the config directory read-only but for the
/// Sentinels' node directories (the drop-ins' ReadWritePaths). For a server under test that
/// tests/install-servers.sh provides (Valkey 8.1), the program the drop-in names in /usr/bin
/// runs from its prefix instead (`valkey-server`, `valkey-sentinel` wrappers).
/// The network is the machine's: loopback ports. Killed (the whole process group) on drop;
/// the mounts go with the namespace.
struct HostNamespace {
    child: std::process::Child,
}

impl HostNamespace {
    fn start(topo: &Topology) -> HostNamespace {
        use std::os::unix::process::CommandExt;
        require("unshare", "apt-get install -y util-linux");
        require("setpriv", "apt-get install -y util-linux");
        let host = topo.server.facts().host_layout;
        let (etc, lib, user) = (host.config_dir, host.data_dir, host.user);
        let log = Path::new(host.logfile)
            .parent()
            .unwrap()
            .display()
            .to_string();
        let known = Command::new("id").arg(user).output().expect("run id");
        assert!(
            known.status.success(),
            "no user {user} on this machine; create it as Debian's package does: \
             adduser --system --group --home {lib} {user} (tests/run.sh does)"
        );
        let mut script = format!(
            "set -eu\n\
             for d in {etc} {lib} {log} /run; do\n\
               mkdir -p \"$d\"; mount -t tmpfs -o mode=0755 tmpfs \"$d\"\n\
             done\n\
             b=\"$1\"\n\
             mkdir -p {etc}/tls\n\
             cp \"$b/tls/ca.crt\" {etc}/tls/\n\
             cp \"$b/users.acl\" \"$b/openssl.cnf\" {etc}/\n\
             if [ -f \"$b/sentinel-users.acl\" ]; then cp \"$b/sentinel-users.acl\" {etc}/; fi\n\
             cp -r \"$b/nodes\" {etc}/\n\
             chown -R {user}:{user} {etc} {log}\n\
             chmod 0750 {etc}\n"
        );
        // As the drop-ins leave it under ProtectSystem=strict: the config directory read-only
        // but for each Sentinel's node directory (bind-mounted onto itself, then the rest
        // remounted read-only), before anything starts.
        for s in topo.sentinels() {
            script.push_str(&format!(
                "mount --bind {etc}/nodes/{0} {etc}/nodes/{0}\n",
                s.name
            ));
        }
        script.push_str(&format!("mount -o remount,bind,ro {etc}\n"));
        for node in topo.nodes() {
            let dropin = std::fs::read_to_string(node.dir.join("systemd/redis-harden.conf"))
                .unwrap_or_else(|e| panic!("{}: {e}", node.name));
            let exec = dropin_value(&dropin, "ExecStart");
            let (program, args) = exec.split_once(' ').unwrap();
            // The server under test's own program: Debian 12's in /usr/bin (Redis 7.0), or
            // the wrapper of the same name under the private prefix (Valkey 8.1), never
            // another version that happens to be installed in /usr/bin.
            let program = if topo.server.server_program().is_absolute() {
                let name = Path::new(program).file_name().unwrap();
                servers_prefix().join("bin").join(name)
            } else {
                PathBuf::from(program)
            };
            assert!(
                program.is_file(),
                "{}: {} is missing; install it with: {}",
                node.name,
                program.display(),
                if program.starts_with("/usr/bin") {
                    "apt-get install -y redis-server redis-sentinel"
                } else {
                    "sudo bash tests/install-servers.sh"
                }
            );
            let umask = dropin_value(&dropin, "UMask");
            let openssl = dropin_value(&dropin, "Environment");
            let pid = dropin_value(&dropin, "PIDFile");
            let run_dir = Path::new(pid).parent().unwrap().display().to_string();
            // The data directory init's next steps create, the runtime directory systemd
            // creates for the unit (RuntimeDirectory=).
            script.push_str(&format!(
                "install -d -m 0700 -o {user} -g {user} {lib}/{name}\n\
                 install -d -m 2755 -o {user} -g {user} {run_dir}\n\
                 setpriv --reuid={user} --regid={user} --init-groups \
                 sh -c 'umask {umask}; export {openssl}; exec \"$@\"' sh {program} {args} &\n",
                name = node.name,
                program = program.display(),
            ));
        }
        script.push_str("wait\n");
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

// The servers the host boot tests run on: Redis 7.0 (Debian 12's) and Valkey 8.1 (Debian
// 13's, with its own paths, user and units), as tests/sentinel.rs and tests/cluster.rs do.
crate::support::on_topology_servers!(
    host_sentinel_bundle_boots_in_a_private_mount_namespace,
    host_cluster_bundle_boots_in_a_private_mount_namespace,
);

/// A `--target host` topology of `shape` for `srv`, started in a [`HostNamespace`] (as root).
fn boot_host_topology(
    srv: &'static ServerUnderTest,
    shape: Shape,
    extra: &[&str],
) -> (Topology, HostNamespace) {
    assert!(
        running_as_root(),
        "this test mounts tmpfs in a private mount namespace: run it as root (sudo bash tests/run.sh)"
    );
    eprintln!("server under test: {}", srv.label);
    srv.server_program();
    let topo = Topology::init_for(srv, "production", shape, "host", extra);
    let ns = HostNamespace::start(&topo);
    (topo, ns)
}

/// Issue 11, host target booted for real: a `--target host` sentinel bundle (a primary, 2
/// replicas, 3 Sentinels, production TLS) installed in a private mount namespace where its
/// paths exist (/etc/redis, /var/lib/redis, ...; Valkey's /etc/valkey, ...), every node
/// started as its systemd drop-in says, as the unit's user: the replicas link over TLS, every
/// Sentinel finds the primary, its 2 replicas and the 2 other Sentinels, and each Sentinel
/// rewrote its own sentinel.conf in its node directory (its id saved; mode 0600 under
/// UMask=0077).
fn host_sentinel_bundle_boots_in_a_private_mount_namespace(srv: &'static ServerUnderTest) {
    let shape = Shape::Sentinel {
        replicas: 2,
        sentinels: 3,
    };
    let (topo, ns) = boot_host_topology(srv, shape, &["--set", "acl.admin.enabled=true"]);
    let host = srv.facts().host_layout;
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
    // The server under test runs, not another version.
    let info = topo.cli_as(&data[0].name, "admin").run(&["INFO", "server"]);
    assert!(info.contains(srv.info_version), "{}: {info}", srv.label);
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
        let conf = ns.path(&format!(
            "{}/nodes/{}/sentinel.conf",
            host.config_dir, s.name
        ));
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
        .args(["-t", &ns.child.id().to_string(), "-m", "touch"])
        .arg(format!("{}/probe", host.config_dir))
        .output()
        .expect("run nsenter (apt-get install -y util-linux)");
    assert!(!probe.status.success(), "{} is writable", host.config_dir);
    // The servers write where their configs say: the data node's log and data directory.
    let log = Path::new(host.logfile)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let service = host.service;
    assert!(ns.path(&format!("{log}/{service}-data-0.log")).is_file());
    assert!(ns.path(&format!("{}/data-1", host.data_dir)).is_dir());
}

/// The same for a `--target host` cluster bundle (3 shards x 1 replica): every node started
/// as its drop-in says, with the config directory read-only, the bundle's cluster-create.sh
/// (run from the bundle, outside the namespace) forms the cluster, every node reaches
/// `cluster_state:ok`, and each node saved its cluster state to nodes.conf in its own data
/// directory, the one its drop-in lets it write.
fn host_cluster_bundle_boots_in_a_private_mount_namespace(srv: &'static ServerUnderTest) {
    let shape = Shape::Cluster {
        shards: 3,
        replicas_per_shard: 1,
    };
    let (topo, ns) = boot_host_topology(srv, shape, &[]);
    let nodes = topo.data_nodes();
    for node in &nodes {
        wait_until(
            &format!("{} to answer", node.name),
            Duration::from_secs(20),
            || {
                let out = topo
                    .cli_as(&node.name, "cluster-admin")
                    .run(&["CLUSTER", "INFO"]);
                if info_field(&out, "cluster_state").is_some() {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
    }
    let (status, said) = topo.cluster_create();
    assert!(
        status.success() && said.contains("All 16384 slots covered"),
        "cluster-create.sh: {said}"
    );
    topo.wait_cluster_ok(Duration::from_secs(30));
    for node in &nodes {
        let state = ns.path(&format!(
            "{}/{}/nodes.conf",
            srv.facts().host_layout.data_dir,
            node.name
        ));
        let text =
            std::fs::read_to_string(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
        assert!(text.contains("myself"), "{}: {text}", node.name);
    }
}
