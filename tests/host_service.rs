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
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join(name);
    let mut text = std::fs::read_to_string(debian_unit).unwrap();
    if let Some(program) = program {
        // verify checks that ExecStart's program exists; the sandboxing is left as it is.
        let packaged = format!("/usr/bin/{}", name.trim_end_matches(".service"));
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
