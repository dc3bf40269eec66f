//! `audit`: the static audit of any redis.conf, ACL file or Dragonfly flagfile (a bundle from
//! `init`, Debian's stock /etc/redis/redis.conf, the field notes' configs, a deliberately weak
//! config), and the live audit of a real `redis-server` started from each. Every expected
//! finding is asserted by rule and line, and no password is ever printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{BIN, Bundle, Run, Server, free_port};

const DEBIAN_CONF: &str = "/etc/redis/redis.conf";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

/// Runs the binary like `support::run`, with REDISCLI_AUTH set when a password is given.
pub(crate) fn audit(cwd: &Path, args: &[&str], password: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("audit")
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C");
    if let Some(pw) = password {
        cmd.env("REDISCLI_AUTH", pw);
    }
    let out = cmd.output().expect("run redis-harden");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `audit --env ENV --out BUNDLE --url rediss://USER@localhost:PORT --format json EXTRA` against
/// a bundle's running server: the bundle's environment and JSON unless `extra` names
/// `--env` or `--format`; `password` goes in REDISCLI_AUTH (None: the audit reads the
/// bundle's client.env).
pub(crate) fn live_audit(b: &Bundle, user: &str, password: Option<&str>, extra: &[&str]) -> Run {
    let url = format!("rediss://{user}@localhost:{}", b.port);
    let dir = b.dir.to_str().unwrap();
    let mut args = vec!["--out", dir, "--url", &url];
    if !extra.contains(&"--env") {
        args.extend(["--env", &b.env]);
    }
    if !extra.contains(&"--format") {
        args.extend(["--format", "json"]);
    }
    args.extend_from_slice(extra);
    audit(b.tmp.path(), &args, password)
}

/// The findings of a `--format json` run as (rule, line, severity), in report order.
pub(crate) fn findings(r: &Run) -> Vec<(String, Option<u64>, String)> {
    report(r)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["line"].as_u64(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn report(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

/// The rules of the findings, without the `info` notes.
pub(crate) fn rules(r: &Run) -> Vec<String> {
    findings(r)
        .into_iter()
        .filter(|(_, _, s)| s != "info")
        .map(|(rule, _, _)| rule)
        .collect()
}

#[track_caller]
fn assert_silent_about(r: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !r.stdout.contains(s) && !r.stderr.contains(s),
            "a password was printed:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// Debian's stock config, or a failed test that says how to get it.
#[track_caller]
fn debian_conf() -> String {
    assert!(
        Path::new(DEBIAN_CONF).is_file(),
        "{DEBIAN_CONF} is missing; this test audits Debian's stock config. Install it with: apt-get install -y redis-server"
    );
    std::fs::read_to_string(DEBIAN_CONF).unwrap_or_else(|e| {
        panic!("{DEBIAN_CONF}: {e}; run the tests as root or as a member of the redis group")
    })
}

/// The 1-based line of the first line of `conf` equal to `text`.
fn line_of(conf: &str, text: &str) -> u64 {
    conf.lines()
        .position(|l| l.trim() == text)
        .unwrap_or_else(|| panic!("no line {text:?}")) as u64
        + 1
}

// ---------------------------------------------------------------------------------------
// static

#[test]
fn a_bundle_from_init_passes() {
    for env in ["production", "staging", "testing"] {
        let b = Bundle::init(env, &[]);
        let dir = b.dir.to_str().unwrap();
        // Without FILE: the bundle's own config files.
        let r = audit(
            b.tmp.path(),
            &["--env", env, "--out", dir, "--format", "json"],
            None,
        );
        r.success();
        let audited: Vec<String> = report(&r)["audited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["target"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(audited, ["redis.conf", "users.acl"], "{env}");
        assert!(
            findings(&r)
                .iter()
                .all(|(_, _, s)| s == "low" || s == "info"),
            "{env}: {}",
            r.stdout
        );
        // The same files named on the command line.
        let conf = b.path("redis.conf");
        let acl = b.path("users.acl");
        let r = audit(
            b.tmp.path(),
            &["--env", env, conf.to_str().unwrap(), acl.to_str().unwrap()],
            None,
        );
        r.success().stdout_has("ok: ");
    }
}

#[test]
fn debian_stock_config() {
    let conf = debian_conf();
    let port = line_of(&conf, "port 6379");
    let tmp = tempfile::tempdir().unwrap();
    let r = audit(
        tmp.path(),
        &["--env", "production", DEBIAN_CONF, "--format", "json"],
        None,
    );
    r.failure(1)
        .stderr_has("audit found 3 findings at or above high");
    assert_eq!(report(&r)["audited"][0]["kind"], "redis.conf");
    assert_eq!(
        findings(&r),
        [
            ("aclfile".into(), None, "high".into()),
            ("default-user".into(), None, "critical".into()),
            ("plaintext-port".into(), Some(port), "high".into()),
        ]
    );
    // `bind 127.0.0.1 -::1` is loopback only: no bind finding, and no TLS listener means no
    // tls-protocols finding either.
    // Testing allows plaintext on loopback: the missing ACL file and open default user stay.
    let r = audit(tmp.path(), &["--env", "testing", DEBIAN_CONF], None);
    r.failure(1)
        .stdout_has(&format!("{DEBIAN_CONF}: critical [default-user] "))
        .stdout_has(&format!(
            "{DEBIAN_CONF}: high [aclfile] no `aclfile` directive (no ACL file)\n"
        ))
        .stdout_has("    fix: ");
    assert!(!r.stdout.contains("plaintext"), "{}", r.stdout);
}

#[test]
fn a_weak_config_has_each_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let weak = fixture("weak.conf");
    let conf = std::fs::read_to_string(&weak).unwrap();
    let at = |t: &str| Some(line_of(&conf, t));
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            weak.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    r.failure(1);
    let expected: Vec<(String, Option<u64>, String)> = [
        ("aclfile", None, "high"),
        ("bind-all-interfaces", at("bind 0.0.0.0"), "high"),
        ("protected-mode", at("protected-mode no"), "medium"),
        ("plaintext-port", at("port 6379"), "high"),
        (
            "password-in-conf",
            at("requirepass weak-fixture-default-password"),
            "high",
        ),
        (
            "user-in-conf",
            at("user app on >weak-fixture-app-password ~* &* +@all"),
            "medium",
        ),
        // An inline user gets the ACL file's checks too.
        (
            "acl-plaintext-password",
            at("user app on >weak-fixture-app-password ~* &* +@all"),
            "high",
        ),
        (
            "app-permissions",
            at("user app on >weak-fixture-app-password ~* &* +@all"),
            "high",
        ),
        ("debug-command", at("enable-debug-command yes"), "high"),
        ("module-command", at("enable-module-command yes"), "high"),
        (
            "protected-configs",
            at("enable-protected-configs yes"),
            "medium",
        ),
        (
            "tls-protocols",
            at("tls-protocols \"TLSv1 TLSv1.1 TLSv1.2\""),
            "high",
        ),
        ("tls-auth-clients", at("tls-auth-clients no"), "high"),
        ("rename-command", at("rename-command FLUSHALL \"\""), "low"),
        ("rename-command", at("rename-command KEYS \"\""), "low"),
    ]
    .into_iter()
    .map(|(r, l, s)| (r.to_owned(), l, s.to_owned()))
    .collect();
    assert_eq!(findings(&r), expected);
    let secrets = ["weak-fixture-default-password", "weak-fixture-app-password"];
    assert_silent_about(&r, &secrets);

    // Text: file:line, severity, rule, the offending text, why and fix.
    let r = audit(
        tmp.path(),
        &["--env", "production", weak.to_str().unwrap()],
        None,
    );
    r.failure(1)
        .stdout_has(&format!(
            "{}:6: high [plaintext-port] port 6379\n    why: ",
            weak.display()
        ))
        .stdout_has("    fix: set `port 0` and serve clients on `tls-port`\n")
        .stdout_has("requirepass <redacted>")
        .stdout_has("failed: 15 findings (10 high, 3 medium, 2 low); 10 at or above high\n")
        .stderr_has("audit found 10 findings at or above high");
    assert_silent_about(&r, &secrets);

    // --fail-on decides the exit code, not what is shown.
    let path = weak.to_str().unwrap();
    audit(
        tmp.path(),
        &["--env", "production", path, "--fail-on", "critical"],
        None,
    )
    .success()
    .stdout_has("ok: 15 findings");
    audit(
        tmp.path(),
        &["--env", "production", path, "--fail-on", "low"],
        None,
    )
    .failure(1)
    .stderr_has("15 findings at or above low");
    // Testing allows plaintext on loopback, not on every interface.
    let r = audit(
        tmp.path(),
        &["--env", "testing", path, "--format", "json"],
        None,
    );
    let found = rules(&r);
    assert!(found.contains(&"plaintext-bind".to_owned()), "{found:?}");
    assert!(
        found.contains(&"tls-protocols".to_owned()),
        "TLSv1 is old even where TLS is optional: {found:?}"
    );
    assert!(!found.contains(&"tls-auth-clients".to_owned()), "{found:?}");
}

#[test]
fn the_field_notes_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |name: &str, env: &str| {
        let path = fixture(name);
        let r = audit(
            tmp.path(),
            &["--env", env, path.to_str().unwrap(), "--format", "json"],
            None,
        );
        assert_silent_about(
            &r,
            &[
                "fixture-app-password",
                "fixture-requirepass-password",
                "fixture-dragonfly-password",
            ],
        );
        (
            r.code,
            findings(&r),
            report(&r)["audited"][0]["kind"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };

    // TLS block + rename-command: TLSv1.2 is not production's, no bind, each rename a note
    // (and the secret new name of SHUTDOWN never shown).
    let (code, found, kind) = check("fieldnotes-tls-rename.conf", "production");
    assert_eq!((code, kind.as_str()), (1, "redis.conf"));
    let high: Vec<&str> = found
        .iter()
        .filter(|f| f.2 == "high")
        .map(|f| f.0.as_str())
        .collect();
    // `port 0   # Disable non-TLS port`: Redis has no trailing comments, and redis-server
    // 7.0.15 refuses both commented lines (wrong number of arguments).
    assert_eq!(
        high,
        [
            "bind-all-interfaces",
            "unloadable-line",
            "unloadable-line",
            "tls-protocols"
        ]
    );
    let renames = found
        .iter()
        .filter(|f| f.0 == "rename-command" && f.2 == "low")
        .count();
    assert_eq!(renames, 14);
    let path = fixture("fieldnotes-tls-rename.conf");
    let r = audit(
        tmp.path(),
        &["--env", "staging", path.to_str().unwrap()],
        None,
    );
    r.failure(1)
        .stdout_has("rename-command SHUTDOWN <redacted>");
    assert!(
        !r.stdout.contains("SHUTDOWN_FITNESSMEALPLANNER_2024"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("[tls-protocols]"),
        "staging allows TLSv1.2:\n{}",
        r.stdout
    );

    // requirepass on a TLS-only server: password in the config, no ACL file.
    let (code, found, _) = check("fieldnotes-requirepass-tls.conf", "production");
    assert_eq!(code, 1);
    let got: Vec<(&str, Option<u64>)> = found.iter().map(|f| (f.0.as_str(), f.1)).collect();
    assert_eq!(
        got,
        [
            ("bind-all-interfaces", None),
            ("aclfile", None),
            ("tls-protocols", Some(8)),
            ("password-in-conf", Some(9))
        ]
    );

    // The ACL file: plaintext passwords everywhere; app, monitoring and session users can
    // reach dangerous commands (+@write includes FLUSHALL).
    let (code, found, kind) = check("fieldnotes-users.acl", "production");
    assert_eq!((code, kind.as_str()), (1, "ACL file"));
    let got: Vec<(&str, Option<u64>)> = found.iter().map(|f| (f.0.as_str(), f.1)).collect();
    assert_eq!(
        got,
        [
            ("acl-plaintext-password", Some(2)),
            ("app-permissions", Some(2)),
            ("acl-plaintext-password", Some(3)),
            ("app-permissions", Some(3)),
            ("acl-plaintext-password", Some(4)),
            ("acl-plaintext-password", Some(5)),
            ("app-permissions", Some(5)),
        ]
    );

    // A Dragonfly flagfile named dragonfly.conf is read as a flagfile by its content.
    let (code, found, kind) = check("dragonfly.conf", "production");
    assert_eq!((code, kind.as_str()), (1, "Dragonfly flagfile"));
    let got: Vec<(&str, &str)> = found.iter().map(|f| (f.0.as_str(), f.2.as_str())).collect();
    assert_eq!(
        got,
        [
            ("dragonfly-http-console", "critical"),
            ("aclfile", "high"),
            ("dragonfly-version-check", "medium"),
            ("password-in-conf", "high"),
            // Production allows only TLS 1.3; Dragonfly cannot refuse TLS 1.2.
            ("dragonfly-tls12", "low")
        ]
    );
}

#[test]
fn kind_flag_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    // --kind wins over the content.
    let flags = fixture("dragonfly.conf");
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--kind",
            "redis-conf",
            flags.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(report(&r)["audited"][0]["kind"], "redis.conf");
    // An ACL file with a neutral name.
    std::fs::write(
        tmp.path().join("acl-rules"),
        "user default on nopass ~* +@all\n",
    )
    .unwrap();
    let r = audit(
        tmp.path(),
        &["--env", "production", "acl-rules", "--format", "json"],
        None,
    );
    r.failure(1);
    assert_eq!(rules(&r), ["acl-plaintext-password", "default-user"]);

    audit(tmp.path(), &["--env", "production", "missing.conf"], None)
        .failure(2)
        .stderr_has("missing.conf: cannot be read")
        .stderr_has("help: ");
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--url",
            "rediss://app:hunter2@127.0.0.1:6379",
        ],
        None,
    );
    r.failure(2).stderr_has("REDISCLI_AUTH");
    assert_silent_about(&r, &["hunter2"]);
    // Nothing to audit: no FILE, no --url, no bundle.
    audit(tmp.path(), &["--env", "production"], None)
        .failure(2)
        .stderr_has("nothing to audit");
    // rediss:// needs a CA.
    audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--url",
            "rediss://app@127.0.0.1:6379",
        ],
        None,
    )
    .failure(2)
    .stderr_has("--ca FILE");
    // Nothing listening: bad input, not a finding.
    let url = format!("redis://127.0.0.1:{}", free_port());
    audit(tmp.path(), &["--env", "testing", "--url", &url], None)
        .failure(2)
        .stderr_has("cannot connect");
}

// ---------------------------------------------------------------------------------------
// live

/// A redis-server from `conf` on a free loopback port, whatever the file says about where
/// to listen, write and log.
fn start(conf: &Path, tmp: &Path) -> (Server, u16) {
    let port = free_port();
    let dir = tmp.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let (port_s, dir_s, pid) = (
        port.to_string(),
        dir.to_str().unwrap().to_owned(),
        tmp.join("redis.pid").to_str().unwrap().to_owned(),
    );
    let overrides = [
        "--port",
        &port_s,
        "--bind",
        "127.0.0.1",
        "--dir",
        &dir_s,
        "--daemonize",
        "no",
        "--supervised",
        "no",
        "--logfile",
        "",
        "--pidfile",
        &pid,
        "--save",
        "",
    ];
    let server = Server::start_conf(conf, &overrides, port, &tmp.join("redis-server.log"));
    (server, port)
}

#[test]
fn live_production_bundle_has_no_high_findings() {
    let b = Bundle::init("production", &["--set", "acl.admin.enabled=true"]);
    let _server = Server::start(&b);
    let secrets: Vec<String> = ["app", "admin", "monitoring"]
        .iter()
        .map(|u| b.password(u))
        .collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    // As the application user, password from the bundle's client.env: what it may not read
    // is noted (info), its own permissions are probed with MULTI/DISCARD.
    let url = format!("rediss://app@localhost:{}", b.port);
    let r = live_audit(&b, "app", None, &[]);
    r.success();
    assert_silent_about(&r, &secrets);
    let found = findings(&r);
    assert!(found.iter().all(|(_, _, s)| s == "info"), "{}", r.stdout);
    assert!(
        r.stdout.contains("probed with MULTI/DISCARD"),
        "{}",
        r.stdout
    );
    assert_eq!(report(&r)["audited"][0]["target"], url.as_str());

    // As admin (REDISCLI_AUTH): ACL DRYRUN, ACL GETUSER and CONFIG GET all run: no finding.
    let r = live_audit(&b, "admin", Some(secrets[1]), &[]);
    r.success();
    assert_eq!(findings(&r), [], "{}", r.stdout);
    assert_silent_about(&r, &secrets);

    // A wrong password is bad input (exit 2), and not echoed.
    let r = live_audit(&b, "admin", Some("not-the-password"), &["--format", "text"]);
    r.failure(2).stderr_has("authentication as admin failed");
    assert_silent_about(&r, &["not-the-password"]);

    // Staging's policy allows TLSv1.2, which this server refuses: a low note, not a failure.
    let r = live_audit(&b, "admin", Some(secrets[1]), &["--env", "staging"]);
    r.success();
    assert_eq!(rules(&r), ["tls-version-refused"], "{}", r.stdout);

    // A CA that did not issue the server's certificate: reported, and no password is sent.
    let other = Bundle::init("production", &[]);
    let r = live_audit(
        &b,
        "admin",
        Some(secrets[1]),
        &["--ca", other.path("tls/ca.crt").to_str().unwrap()],
    );
    r.failure(1);
    assert_eq!(rules(&r), ["server-certificate"], "{}", r.stdout);
    assert!(r.stdout.contains("no password is sent"), "{}", r.stdout);
}

#[test]
fn live_staging_server_under_production_policy_offers_tls12() {
    let b = Bundle::init("staging", &[]);
    let _server = Server::start(&b);
    let r = live_audit(&b, "app", None, &["--env", "production"]);
    r.failure(1);
    assert_eq!(rules(&r), ["tls-protocols"], "{}", r.stdout);
    assert!(
        r.stdout.contains("offering only TLSv1.2 succeeded"),
        "{}",
        r.stdout
    );
}

#[test]
fn live_debian_stock_config() {
    debian_conf();
    let tmp = tempfile::tempdir().unwrap();
    let (_server, port) = start(Path::new(DEBIAN_CONF), tmp.path());
    let url = format!("redis://127.0.0.1:{port}");
    let r = audit(
        tmp.path(),
        &["--env", "production", "--url", &url, "--format", "json"],
        None,
    );
    r.failure(1);
    assert_eq!(
        rules(&r),
        [
            "plaintext-port",
            "unauthenticated-access",
            // Debian's config sets no maxmemory: the running server shows its default, 0.
            "memory-limit",
            "tls-replication",
            "aclfile",
            "acl-plaintext-password",
            "default-user"
        ],
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("there is no user `app`"), "{}", r.stdout);
}

#[test]
fn live_weak_config() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, port) = start(&fixture("weak.conf"), tmp.path());
    let url = format!("redis://app@127.0.0.1:{port}");
    let r = audit(
        tmp.path(),
        &["--env", "production", "--url", &url, "--format", "json"],
        Some("weak-fixture-app-password"),
    );
    r.failure(1);
    assert_silent_about(
        &r,
        &["weak-fixture-app-password", "weak-fixture-default-password"],
    );
    let report = report(&r);
    let texts: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["text"].as_str().unwrap()))
        .collect();
    let expected: &[(&str, &str)] = &[
        ("plaintext-port", "NOAUTH"),
        ("app-permissions", "CONFIG SET"),
        ("app-permissions", "MODULE LOAD"),
        // EVAL alone is what acl.app.scripting grants on purpose: low severity.
        ("app-scripting", "EVAL"),
        ("app-permissions", "REPLICAOF"),
        ("app-permissions", "DEBUG"),
        // FLUSHALL and KEYS are renamed away: refused, if for the wrong reason.
        ("app-permissions", "SHUTDOWN"),
        // The static redis.conf checks, on CONFIG GET.
        ("tls-protocols", "TLSv1 TLSv1.1 TLSv1.2"),
        ("tls-auth-clients", "no"),
        ("memory-limit", "maxmemory: 0"),
        ("tls-replication", "no"),
        ("protected-mode", "no"),
        ("debug-command", "yes"),
        ("module-command", "yes"),
        ("protected-configs", "yes"),
        ("aclfile", "no ACL file"),
        // The ACL file checks, on ACL LIST: hashes are not shown.
        ("app-permissions", "user app on #<hash> ~* &* +@all"),
        (
            "default-user-password",
            "user default on #<hash> ~* &* +@all",
        ),
    ];
    assert_eq!(texts.len(), expected.len(), "{}", r.stdout);
    for ((rule, text), (want_rule, want)) in texts.iter().zip(expected) {
        assert_eq!(rule, want_rule, "{}", r.stdout);
        assert!(text.contains(want), "{rule}: {text:?} lacks {want:?}");
    }
}

/// The connecting user may not run ACL DRYRUN but may run FLUSHALL and EVAL: the MULTI
/// probe finds them, and nothing runs (the data survives).
#[test]
fn live_permission_probe_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("users.acl"),
        "user default off\nuser app on >probe-fixture-password ~* &* +@all -@admin -@dangerous -@scripting +flushall +eval\n",
    )
    .unwrap();
    let conf = tmp.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!("aclfile {}\n", tmp.path().join("users.acl").display()),
    )
    .unwrap();
    let (_server, port) = start(&conf, tmp.path());
    let b = tmp.path();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &port.to_string(),
                "--user",
                "app",
                "--no-auth-warning",
            ])
            .args(args)
            .env("REDISCLI_AUTH", "probe-fixture-password")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    crate::support::require("redis-cli", "apt-get install -y redis-tools");
    assert_eq!(cli(&["SET", "survivor", "1"]), "OK");

    let url = format!("redis://app@127.0.0.1:{port}");
    let r = audit(
        b,
        &["--env", "testing", "--url", &url, "--format", "json"],
        Some("probe-fixture-password"),
    );
    r.failure(1);
    let report = report(&r);
    let allowed = |rule: &str| -> Vec<&str> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["text"].as_str().unwrap())
            .collect()
    };
    // EVAL is what acl.app.scripting grants on purpose: its own rule, low severity.
    let scripting = allowed("app-scripting");
    assert_eq!(scripting.len(), 1, "{}", r.stdout);
    assert!(
        scripting[0].starts_with("app may run EVAL"),
        "{scripting:?}"
    );
    let allowed = allowed("app-permissions");
    assert_eq!(allowed.len(), 1, "{}", r.stdout);
    assert!(
        allowed[0].starts_with("app may run FLUSHALL"),
        "{allowed:?}"
    );
    assert_eq!(
        cli(&["GET", "survivor"]),
        "1",
        "the audit ran a command it only meant to probe"
    );
}

/// The review's server: a production bundle started with every weakening the static rules
/// know (but `bind`: live tests listen on loopback only), plus a backdoor user. As admin the
/// live audit reads the running settings and every user and finds each one; as the
/// application user it lists exactly the checks it could not run.
#[test]
fn live_audit_reads_the_running_config_and_every_user() {
    let b = Bundle::init("production", &["--set", "acl.admin.enabled=true"]);
    let other = Bundle::init("production", &[]);
    let foreign_ca = other.tmp.path().join("foreign-ca");
    std::fs::create_dir_all(&foreign_ca).unwrap();
    std::fs::copy(other.path("tls/ca.crt"), foreign_ca.join("ca.crt")).unwrap();
    let sock = b.tmp.path().join("r.sock");
    let (sock_s, ca_dir) = (
        sock.to_str().unwrap().to_owned(),
        foreign_ca.to_str().unwrap().to_owned(),
    );
    let log = b.tmp.path().join("weakened.log");
    let _server = Server::start_conf(
        &b.path("redis.conf"),
        &[
            "--tls-replication",
            "no",
            "--unixsocket",
            &sock_s,
            "--unixsocketperm",
            "777",
            "--tls-ciphers",
            "ALL",
            "--tls-ca-cert-dir",
            &ca_dir,
        ],
        b.port,
        &log,
    );
    let admin = b.password("admin");
    let backdoor = "backdoor-fixture-password";
    let hash = {
        use std::fmt::Write;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(backdoor.as_bytes());
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    let setuser = format!("ACL SETUSER backdoor on #{hash} ~* &* +@all");
    let args: Vec<&str> = setuser.split(' ').collect();
    assert_eq!(b.cli().login("admin").run(&args), "OK");

    let r = live_audit(&b, "admin", Some(&admin), &[]);
    r.failure(1);
    assert_silent_about(&r, &[&admin, backdoor, &hash]);
    let found = report(&r);
    let texts: Vec<(&str, &str)> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["text"].as_str().unwrap()))
        .collect();
    let expected: &[(&str, &str)] = &[
        ("unix-socket", "unixsocketperm 777"),
        ("trust-anchor", "CONFIG GET tls-ca-cert-dir"),
        ("weak-ciphers", "CONFIG GET tls-ciphers: ALL"),
        ("tls-replication", "CONFIG GET tls-replication: no"),
        ("app-permissions", "user backdoor on #<hash> ~* &* +@all"),
    ];
    assert_eq!(texts.len(), expected.len(), "{}", r.stdout);
    for ((rule, text), (want_rule, want)) in texts.iter().zip(expected) {
        assert_eq!(rule, want_rule, "{}", r.stdout);
        assert!(text.contains(want), "{rule}: {text:?} lacks {want:?}");
    }

    // The application user may not run CONFIG GET or ACL LIST: each check it could not run
    // is named.
    let r = live_audit(&b, "app", None, &[]);
    r.success();
    let found = report(&r);
    let skipped: Vec<&str> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "check-skipped")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    let config = skipped
        .iter()
        .find(|t| t.starts_with("CONFIG GET: NOPERM"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    for id in [
        "aclfile",
        "bind-all-interfaces",
        "trust-anchor",
        "unix-socket",
        "weak-ciphers",
        "tls-replication",
    ] {
        assert!(config.contains(id), "{config}: {id}");
    }
    let users = skipped
        .iter()
        .find(|t| t.starts_with("ACL LIST: NOPERM"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(users.contains("app-permissions, default-user"), "{users}");
}
