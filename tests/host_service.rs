//! `--target host`: the systemd drop-ins for Debian's redis-server.service (redis-harden.conf,
//! with openssl.conf next to it). systemd itself judges them: `systemd-analyze verify` loads the unit with the drop-in without a complaint,
//! and `systemd-analyze security --offline=yes` rates the exposure no worse than Debian's unit
//! alone.

use std::path::Path;
use std::process::Command;

use crate::support::{pin, render_seeded, require};

/// Debian's unit, as the redis-server package installs it.
const DEBIAN_UNIT: &str = "/lib/systemd/system/redis-server.service";

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
    stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for redis-server.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{stdout}"))
}

#[test]
fn systemd_dropin_verifies_and_keeps_debians_sandboxing() {
    use redis_harden::{profile::Environment, render::Target};
    assert!(
        Path::new(DEBIAN_UNIT).is_file(),
        "{DEBIAN_UNIT} is missing; install it with: apt-get install -y redis-server"
    );
    let (_, files) = render_seeded(Environment::Production, Target::Host, &[]);
    let dropin = &files["systemd/redis-harden.conf"];
    // The bundle's other drop-in (OPENSSL_CONF for the TLS groups) goes next to it.
    let openssl = &files["systemd/openssl.conf"];
    assert_eq!(dropin.mode, 0o644);
    pin("systemd-dropin", &dropin.content);
    // Only for Redis on a host.
    for target in [Target::Local, Target::Docker] {
        let (_, files) = render_seeded(Environment::Production, target, &[]);
        assert!(!files.keys().any(|k| k.starts_with("systemd/")), "{target}");
    }

    // Debian's unit next to a drop-in directory: systemd-analyze reads both, as systemd does
    // with /lib/systemd/system/redis-server.service and /etc/systemd/system/...d/.
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("redis-server.service");
    std::fs::copy(DEBIAN_UNIT, &unit).unwrap();
    let base = exposure(&unit);
    let dir = tmp.path().join("redis-server.service.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("redis-harden.conf"), &dropin.content).unwrap();
    std::fs::write(dir.join("openssl.conf"), &openssl.content).unwrap();

    let (code, stdout, stderr) = analyze(&["verify", "--man=no"], &unit);
    assert!(
        code == 0 && stderr.is_empty(),
        "systemd-analyze verify (exit {code}):\n{stdout}{stderr}"
    );
    let with = exposure(&unit);
    assert!(
        with <= base,
        "exposure {with} with the drop-in, {base} without"
    );
    // The drop-in was read: UMask is no longer the group-writable default.
    let (_, report, _) = analyze(&["security", "--offline=yes", "--no-pager"], &unit);
    let umask = report
        .lines()
        .find(|l| l.contains("UMask="))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(umask.starts_with('✓'), "{umask}");

    // verify is a real judge: a key systemd does not know is reported.
    std::fs::write(dir.join("zz-bad.conf"), "[Service]\nUMaskk=0077\n").unwrap();
    let (_, _, stderr) = analyze(&["verify", "--man=no"], &unit);
    assert!(stderr.contains("Unknown key"), "{stderr}");
}
