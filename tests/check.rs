//! `check` and `render` through the binary: `check` compares a bundle with what the profile
//! and templates render now (drift with a diff, missing files, wrong modes, certificates near
//! expiry), exits 1 with a `help:` line naming the command that fixes it, hides the content of
//! files that hold secrets, and never writes. `render` re-renders configs from the secrets and
//! keys already there, never creates or touches one, and refuses (exit 2) when they are missing.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::support::{Run, env_file, run, tree};

/// A production bundle made by `init --out bundle` in a fresh temp dir.
struct Fixture {
    tmp: tempfile::TempDir,
}

impl Fixture {
    fn init(extra: &[&str]) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["init", "--env", "production", "--out", "bundle"];
        args.extend_from_slice(extra);
        run(tmp.path(), &args).success();
        Fixture { tmp }
    }

    fn cwd(&self) -> &Path {
        self.tmp.path()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join("bundle").join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn write(&self, rel: &str, content: &str) {
        std::fs::write(self.path(rel), content).unwrap();
    }

    /// `check --env production --out bundle EXTRA`.
    fn check(&self, extra: &[&str]) -> Run {
        let mut args = vec!["check", "--env", "production", "--out", "bundle"];
        args.extend_from_slice(extra);
        run(self.cwd(), &args)
    }

    /// `render --env production --out bundle EXTRA`.
    fn render(&self, extra: &[&str]) -> Run {
        let mut args = vec!["render", "--env", "production", "--out", "bundle"];
        args.extend_from_slice(extra);
        run(self.cwd(), &args)
    }

    /// Every secret value of the bundle (secrets.env), for "never printed" assertions.
    fn secret_values(&self) -> Vec<String> {
        env_file(&self.path("secrets.env")).into_values().collect()
    }
}

/// Asserts a green check: exit 0, the `ok` line, nothing on stderr.
#[track_caller]
fn assert_green(r: &Run) {
    r.success();
    assert!(
        r.stdout.starts_with("ok"),
        "a green check says ok:\n{}",
        r.stdout
    );
    assert!(r.stderr.is_empty(), "a green check is quiet:\n{}", r.stderr);
}

/// The text of the `help:` line of stderr.
#[track_caller]
fn help_line(r: &Run) -> String {
    r.stderr
        .lines()
        .find_map(|l| l.strip_prefix("help: "))
        .unwrap_or_else(|| panic!("no help: line in stderr:\n{}", r.stderr))
        .to_owned()
}

/// The command quoted in backticks in the `help:` line, as arguments without `redis-harden`.
#[track_caller]
fn help_command(r: &Run) -> Vec<String> {
    let help = help_line(r);
    let cmd = help
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("the help line quotes no command: {help}"));
    let mut words = cmd.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("redis-harden"), "{help}");
    words.collect()
}

/// Asserts that no secret value appears in stdout or stderr.
#[track_caller]
fn assert_no_secret_shown(r: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(
            !r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()),
            "a secret value was printed:\nstdout:\n{}\nstderr:\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// The `KIND: FILE` heads of the text findings, in order.
fn finding_heads(r: &Run) -> Vec<String> {
    r.stdout
        .lines()
        .filter_map(|l| {
            let (kind, rest) = l.split_once(": ")?;
            ["drift", "missing", "mode", "expiry", "policy"]
                .contains(&kind)
                .then(|| format!("{kind}: {}", rest.split_whitespace().next().unwrap_or("")))
        })
        .collect()
}

/// Modification times of every file under `dir`.
fn mtimes(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    tree(dir)
        .into_keys()
        .map(|rel| {
            let t = std::fs::symlink_metadata(dir.join(&rel))
                .unwrap()
                .modified()
                .unwrap();
            (rel, t)
        })
        .collect()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---------------------------------------------------------------------------------------
// check

#[test]
fn check_is_green_right_after_init() {
    let f = Fixture::init(&[]);
    assert_green(&f.check(&[]));
    // Every target and the other TLS environments too.
    for (env, target) in [
        ("staging", "host"),
        ("development", "docker"),
        ("testing", "local"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let args = ["--env", env, "--out", "b", "--target", target];
        run(tmp.path(), &[&["init"][..], &args].concat()).success();
        assert_green(&run(tmp.path(), &[&["check"][..], &args].concat()));
    }
}

#[test]
fn a_hand_edited_redis_conf_is_drift_with_a_diff_and_render_fixes_it() {
    let f = Fixture::init(&[]);
    let conf = f.read("redis.conf");
    assert!(conf.contains("\nmaxclients 10000\n"), "{conf}");
    f.write(
        "redis.conf",
        &conf.replace("\nmaxclients 10000\n", "\nmaxclients 99999\n"),
    );

    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: redis.conf"], "{}", r.stdout);
    r.stdout_has("--- redis.conf (in the bundle)\n")
        .stdout_has("+++ redis.conf (fresh render)\n")
        .stdout_has("\n-maxclients 99999\n")
        .stdout_has("\n+maxclients 10000\n")
        .stdout_has("@@ ");
    // Only the edited line changes: no other +/- lines in the diff.
    let changed: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed, ["-maxclients 99999", "+maxclients 10000"]);
    assert!(
        help_line(&r).contains("redis-harden render --env production --out bundle"),
        "{}",
        r.stderr
    );

    // The command the help names fixes it, and check is green again.
    let fix = help_command(&r);
    let fix: Vec<&str> = fix.iter().map(String::as_str).collect();
    assert_eq!(fix[0], "render");
    run(f.cwd(), &fix).success();
    assert_eq!(f.read("redis.conf"), conf);
    assert_green(&f.check(&[]));
}

#[test]
fn a_changed_profile_value_is_drift_of_redis_conf() {
    let f = Fixture::init(&[]);
    let r = f.check(&["--set", "redis.maxmemory=1gb"]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: redis.conf"], "{}", r.stdout);
    r.stdout_has("\n-maxmemory 256mb\n")
        .stdout_has("\n+maxmemory 1gb\n");
    r.stderr_has("help: ").stderr_has("redis-harden render");

    // Rendering with the new value brings the bundle in line with it.
    f.render(&["--set", "redis.maxmemory=1gb"]).success();
    assert_green(&f.check(&["--set", "redis.maxmemory=1gb"]));
    // ... and now the old profile is the one that drifted.
    f.check(&[]).failure(1);
}

#[test]
fn a_missing_rendered_file_is_reported_and_render_restores_it() {
    let f = Fixture::init(&[]);
    std::fs::remove_file(f.path("users.acl")).unwrap();
    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["missing: users.acl"], "{}", r.stdout);
    assert!(
        help_line(&r).contains("redis-harden render --env production --out bundle"),
        "a missing config is fixed by render:\n{}",
        r.stderr
    );
    f.render(&[]).success();
    assert_green(&f.check(&[]));
}

#[test]
fn a_missing_key_is_reported_with_help_naming_init() {
    for key in ["tls/client.key", "tls/ca.key", "tls/server.crt"] {
        let f = Fixture::init(&[]);
        std::fs::remove_file(f.path(key)).unwrap();
        let r = f.check(&[]);
        r.failure(1);
        assert!(
            finding_heads(&r).contains(&format!("missing: {key}")),
            "{key}:\n{}",
            r.stdout
        );
        let help = help_line(&r);
        assert!(
            help.contains("redis-harden init --env production --out bundle"),
            "{key}: a missing key is created by init:\n{}",
            r.stderr
        );
        // render refuses to create it.
        let before = tree(f.cwd());
        let r = f.render(&[]);
        r.failure(2).stderr_has(key).stderr_has("init");
        assert!(tree(f.cwd()) == before, "a refused render wrote");
    }
}

#[test]
fn a_wrong_mode_is_reported() {
    let f = Fixture::init(&[]);
    chmod(&f.path("users.acl"), 0o644);
    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["mode: users.acl"], "{}", r.stdout);
    r.stdout_has("644").stdout_has("600");
    // A world-readable key too.
    chmod(&f.path("users.acl"), 0o600);
    chmod(&f.path("tls/server.key"), 0o644);
    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["mode: tls/server.key"], "{}", r.stdout);
}

#[test]
fn drift_of_files_that_hold_secrets_is_reported_without_content() {
    // client.env: the URL carries the app password.
    let f = Fixture::init(&[]);
    let secrets = f.secret_values();
    let client = f.read("client.env");
    f.write(
        "client.env",
        &client.replace("@localhost:", "@other-host.example:"),
    );
    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: client.env"], "{}", r.stdout);
    assert!(!r.stdout.contains("--- a/client.env"), "{}", r.stdout);
    assert!(!r.stdout.contains("other-host"), "{}", r.stdout);
    assert_no_secret_shown(&r, &secrets);
    // The same through JSON: no diff for it.
    let json = f.check(&["--format", "json"]);
    json.failure(1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(v["findings"][0].get("diff").is_none(), "{}", json.stdout);
    assert_no_secret_shown(&json, &secrets);

    // secrets.env: an extra line is drift, shown by name only.
    let f = Fixture::init(&[]);
    let secrets = f.secret_values();
    let text = f.read("secrets.env");
    f.write("secrets.env", &format!("{text}# a note\n"));
    let r = f.check(&[]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: secrets.env"], "{}", r.stdout);
    assert!(!r.stdout.contains("--- a/secrets.env"), "{}", r.stdout);
    assert!(!r.stdout.contains("a note"), "{}", r.stdout);
    assert_no_secret_shown(&r, &secrets);
    assert_no_secret_shown(&f.check(&["--format", "json"]), &secrets);

    // A changed password in secrets.env: what is rendered from it drifts, and neither the
    // old nor the new password is printed.
    let f = Fixture::init(&[]);
    let mut secrets = f.secret_values();
    let new_pw = "NewPasswordNewPasswordNewPasswordNewPassword1234";
    let old_pw = env_file(&f.path("secrets.env"))["REDIS_PASSWORD_APP"].clone();
    f.write(
        "secrets.env",
        &f.read("secrets.env").replace(
            &format!("REDIS_PASSWORD_APP={old_pw}"),
            &format!("REDIS_PASSWORD_APP={new_pw}"),
        ),
    );
    secrets.push(new_pw.to_owned());
    let r = f.check(&[]);
    r.failure(1);
    let heads = finding_heads(&r);
    assert!(
        heads.contains(&"drift: client.env".to_owned()),
        "{}",
        r.stdout
    );
    assert!(
        heads.contains(&"drift: users.acl".to_owned()),
        "{}",
        r.stdout
    );
    assert_no_secret_shown(&r, &secrets);
    assert_no_secret_shown(&f.check(&["--format", "json"]), &secrets);
}

/// `--target docker` (when it renders a `server.env`) puts passwords the server process needs
/// into server.env: its drift must not be shown either.
#[test]
fn drift_of_server_env_is_reported_without_content() {
    let f = Fixture::init(&["--target", "docker"]);
    assert!(
        f.path("server.env").exists(),
        "--target docker renders server.env"
    );
    let original = f.read("server.env");
    let mut secrets = f.secret_values();
    secrets.extend(env_file(&f.path("server.env")).into_values());
    let edited: String = original
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, _)) if !l.starts_with('#') => format!("{k}=edited\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(edited, original, "server.env holds a KEY=value line");
    f.write("server.env", &edited);
    let r = f.check(&["--target", "docker"]);
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: server.env"], "{}", r.stdout);
    assert_no_secret_shown(&r, &secrets);
}

#[test]
fn certificates_inside_the_renewal_window_are_reported() {
    // Production leaf certificates are valid 90 days.
    let f = Fixture::init(&[]);
    let r = f.check(&["--renew-days", "100"]);
    r.failure(1);
    let heads = finding_heads(&r);
    assert_eq!(
        heads,
        ["expiry: tls/server.crt", "expiry: tls/client.crt"],
        "{}",
        r.stdout
    );
    r.stdout_has("renewal window 100 days");
    r.stderr_has("help: ");
    // The CA (5 years) is outside the window; a 10-day window finds nothing.
    assert_green(&f.check(&["--renew-days", "10"]));
    // A window beyond the CA's lifetime includes it.
    let r = f.check(&["--renew-days", "2000"]);
    r.failure(1);
    assert!(
        finding_heads(&r).contains(&"expiry: tls/ca.crt".to_owned()),
        "{}",
        r.stdout
    );
}

#[test]
fn json_format_gives_the_same_findings() {
    let f = Fixture::init(&[]);
    let r = f.check(&["--format", "json"]);
    r.success();
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout));
    assert_eq!(v["ok"], true, "{}", r.stdout);
    assert_eq!(v["findings"], serde_json::json!([]), "{}", r.stdout);

    // Several kinds at once.
    let conf = f.read("redis.conf");
    f.write("redis.conf", &format!("{conf}# edited\n"));
    std::fs::remove_file(f.path("firewall/ufw.sh")).unwrap();
    chmod(&f.path("users.acl"), 0o640);
    let text = f.check(&["--renew-days", "100"]);
    let r = f.check(&["--renew-days", "100", "--format", "json"]);
    r.failure(1);
    assert_eq!(text.code, r.code);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout));
    assert_eq!(v["ok"], false);
    let findings = v["findings"].as_array().expect("findings is an array");
    let mut got: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_owned(),
                f["artifact"].as_str().expect("artifact").to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("drift", "redis.conf"),
        ("expiry", "tls/client.crt"),
        ("expiry", "tls/server.crt"),
        ("missing", "firewall/ufw.sh"),
        ("mode", "users.acl"),
    ]
    .iter()
    .map(|(k, f)| (k.to_string(), f.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{}", r.stdout);
    // The text output has the same findings.
    let mut text_heads: Vec<String> = finding_heads(&text);
    text_heads.sort();
    let want_heads: Vec<String> = want.iter().map(|(k, f)| format!("{k}: {f}")).collect();
    assert_eq!(text_heads, want_heads, "{}", text.stdout);
    // The drift finding carries its diff; every finding has a message.
    let drift = findings.iter().find(|f| f["kind"] == "drift").unwrap();
    let diff = drift["diff"].as_str().expect("a drift finding has a diff");
    assert!(
        diff.contains("--- redis.conf (in the bundle)") && diff.contains("-# edited"),
        "{diff}"
    );
    assert!(findings.iter().all(|f| f["message"].is_string()));
}

#[test]
fn check_never_writes() {
    let f = Fixture::init(&[]);
    let snapshot = |f: &Fixture| (tree(f.cwd()), mtimes(f.cwd()));

    let before = snapshot(&f);
    assert_green(&f.check(&[]));
    f.check(&["--format", "json"]).success();
    assert!(snapshot(&f) == before, "a green check wrote");

    // With findings of every kind, and with flags that render something else.
    let conf = f.read("redis.conf");
    f.write(
        "redis.conf",
        &conf.replace("maxclients 10000", "maxclients 1"),
    );
    std::fs::remove_file(f.path("users.acl")).unwrap();
    std::fs::remove_file(f.path("tls/client.key")).unwrap();
    chmod(&f.path("secrets.env"), 0o644);
    chmod(&f.path("tls/ca.key"), 0o640);
    let before = snapshot(&f);
    for extra in [
        &[][..],
        &["--format", "json"],
        &["--renew-days", "1000"],
        &["--set", "redis.maxmemory=1gb", "--target", "host"],
    ] {
        f.check(extra).failure(1);
        assert!(snapshot(&f) == before, "check {extra:?} wrote");
    }
    // Into a directory that does not exist: nothing is created.
    let r = run(
        f.cwd(),
        &["check", "--env", "production", "--out", "nowhere"],
    );
    assert_ne!(r.code, 0);
    assert!(!f.cwd().join("nowhere").exists(), "check created its --out");
}

// ---------------------------------------------------------------------------------------
// render

#[test]
fn render_without_secrets_exits_2_says_init_and_writes_nothing() {
    // A fresh directory.
    let tmp = tempfile::tempdir().unwrap();
    let before = tree(tmp.path());
    let r = run(
        tmp.path(),
        &["render", "--env", "production", "--out", "fresh"],
    );
    r.failure(2);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    r.stderr_has("error: ").stderr_has("redis-harden init");
    assert!(!tmp.path().join("fresh").exists(), "render created --out");
    assert!(tree(tmp.path()) == before);

    // A bundle whose secrets.env is gone: nothing else changes either.
    let f = Fixture::init(&[]);
    std::fs::remove_file(f.path("secrets.env")).unwrap();
    let conf = f.read("redis.conf");
    f.write("redis.conf", &format!("{conf}# stale\n"));
    let before = tree(f.cwd());
    let r = f.render(&[]);
    r.failure(2);
    r.stderr_has("secrets.env").stderr_has("redis-harden init");
    assert!(tree(f.cwd()) == before, "a refused render wrote");

    // One secret missing from secrets.env.
    let f = Fixture::init(&[]);
    let text = f.read("secrets.env");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("REDIS_PASSWORD_MONITORING="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, text);
    f.write("secrets.env", &without);
    let before = tree(f.cwd());
    let r = f.render(&[]);
    r.failure(2);
    r.stderr_has("REDIS_PASSWORD_MONITORING").stderr_has("init");
    assert!(tree(f.cwd()) == before, "a refused render wrote");
}

/// The help of a refused render must name a command that works: `init` with the same
/// `--out`, not the default directory.
#[test]
fn render_without_secrets_names_the_init_command_for_that_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "render",
            "--env",
            "staging",
            "--out",
            "somewhere/else",
            "--target",
            "host",
        ],
    );
    r.failure(2);
    assert!(
        help_line(&r)
            .contains("redis-harden init --env staging --out somewhere/else --target host"),
        "{}",
        r.stderr
    );
}

#[test]
fn render_never_changes_secrets_keys_or_certificates() {
    let f = Fixture::init(&[]);
    let protected = [
        "secrets.env",
        "tls/ca.crt",
        "tls/ca.key",
        "tls/server.crt",
        "tls/server.key",
        "tls/client.crt",
        "tls/client.key",
    ];
    let state = |f: &Fixture| -> Vec<(Vec<u8>, u32, SystemTime)> {
        protected
            .iter()
            .map(|rel| {
                let meta = std::fs::symlink_metadata(f.path(rel)).unwrap();
                (
                    std::fs::read(f.path(rel)).unwrap(),
                    meta.permissions().mode() & 0o7777,
                    meta.modified().unwrap(),
                )
            })
            .collect()
    };
    let before = state(&f);
    let conf = f.read("redis.conf");
    // Let the clock move, so a rewrite would show in the mtime.
    std::thread::sleep(std::time::Duration::from_millis(50));

    // Configs change (a new value, another target, a new user); secrets and keys do not.
    for extra in [
        &["--set", "redis.maxmemory=1gb"][..],
        &["--target", "host"],
        &["--set", "tls.hostnames=[redis.internal]"],
        &[],
    ] {
        let r = f.render(extra);
        r.success();
        let listed: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        assert!(
            listed
                .iter()
                .all(|p| *p != "secrets.env" && !p.starts_with("tls/")),
            "render listed a secret or key file:\n{}",
            r.stdout
        );
        assert!(
            state(&f) == before,
            "render {extra:?} touched a secret, key or certificate"
        );
    }
    assert_eq!(
        f.read("redis.conf"),
        conf,
        "the last render restored the config"
    );

    // Even when secrets.env and a key have drifted in format or mode, render leaves them.
    let text = f.read("secrets.env");
    f.write("secrets.env", &format!("{text}# kept as is\n"));
    chmod(&f.path("tls/ca.key"), 0o640);
    let before = state(&f);
    f.render(&[]).success();
    assert!(
        state(&f) == before,
        "render rewrote secrets.env or re-moded a key"
    );
}

/// The `help:` of a failed check names a command that fixes the findings: it keeps the
/// flags that decide what is rendered (`--templates`, `--set`, `--profile`,
/// `--allow-insecure`). Without them, `render` renders something else (here: drops the team's
/// line), and check stays red.
#[test]
fn the_help_of_check_names_a_command_that_fixes_it() {
    let f = Fixture::init(&[]);
    let team = f.cwd().join("team");
    std::fs::create_dir(&team).unwrap();
    std::fs::write(
        team.join("redis.conf.tera"),
        "{% extends \"builtin/redis.conf.tera\" %}\n{% block extra %}\nlatency-monitor-threshold 100\n{% endblock extra %}\n",
    )
    .unwrap();
    let flags = ["--templates", "team", "--set", "redis.maxmemory=1gb"];
    let r = f.check(&flags);
    r.failure(1);
    let fix = help_command(&r);
    let fix: Vec<&str> = fix.iter().map(String::as_str).collect();
    run(f.cwd(), &fix).success();
    assert_green(&f.check(&flags));
}

// ---------------------------------------------------------------------------------------
// A bundle checked into git, checked in CI (examples/ci/redis-harden-check.yml)

/// Whether `rel` matches one of the bundle's .gitignore lines (`/secrets.env`, `/tls/*.key`,
/// `/data/`: anchored names, a `*` within the last component, directories).
fn ignored_by(gitignore: &str, rel: &str) -> bool {
    gitignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|pattern| {
            let pattern = pattern.trim_start_matches('/');
            if let Some(dir) = pattern.strip_suffix('/') {
                return rel.starts_with(&format!("{dir}/"));
            }
            match pattern.split_once('*') {
                Some((head, tail)) => {
                    rel.len() >= head.len() + tail.len()
                        && rel.starts_with(head)
                        && rel.ends_with(tail)
                        && !rel[head.len()..rel.len() - tail.len()].contains('/')
                }
                None => rel == pattern,
            }
        })
}

/// What a fresh `git clone` of a committed bundle holds: every file its .gitignore does not
/// exclude, at mode 644 (755 if executable: git records nothing else), in a new directory.
fn checkout(bundle: &Path, into: &Path) {
    let gitignore = std::fs::read_to_string(bundle.join(".gitignore")).unwrap();
    let mut committed = 0;
    for (rel, (bytes, mode)) in tree(bundle) {
        let rel_str = rel.to_string_lossy();
        if bytes == b"<dir>" || ignored_by(&gitignore, &rel_str) {
            continue;
        }
        let dest = into.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, &bytes).unwrap();
        chmod(&dest, if mode & 0o100 != 0 { 0o755 } else { 0o644 });
        committed += 1;
    }
    assert!(committed >= 5, "the checkout holds the public files");
    for secret in ["secrets.env", "users.acl", "client.env", "tls/ca.key"] {
        assert!(!into.join(secret).exists(), "{secret} is git-ignored");
    }
}

/// The CI flow: a bundle made with a master key, committed without its secrets and keys,
/// checked out at another path and checked there. The workflow restores the one mode git
/// cannot record (redis.conf is 0640).
#[test]
fn a_checked_in_bundle_is_checked_without_its_secrets() {
    let dev = tempfile::tempdir().unwrap();
    let key = "correct-horse-battery-staple-7Qm2xV9pLr4KzT8wNc3Hb";
    std::fs::write(dev.path().join("master.key"), key).unwrap();
    let args = |command: &'static str| {
        vec![
            command,
            "--env",
            "production",
            "--out",
            "deploy/production",
            "--target",
            "host",
            "--master-key-file",
            "master.key",
        ]
    };
    run(dev.path(), &args("init")).success();

    let ci = tempfile::tempdir().unwrap();
    checkout(
        &dev.path().join("deploy/production"),
        &ci.path().join("deploy/production"),
    );
    std::fs::write(ci.path().join("master.key"), key).unwrap();
    chmod(&ci.path().join("deploy/production/redis.conf"), 0o640);
    let before = tree(ci.path());

    let r = run(ci.path(), &args("check"));
    r.success().stdout_has("ok");
    // Without the master key too.
    run(
        ci.path(),
        &[
            "check",
            "--env",
            "production",
            "--out",
            "deploy/production",
            "--target",
            "host",
        ],
    )
    .success();
    let json = run(
        ci.path(),
        &[&args("check")[..], &["--format", "json"]].concat(),
    );
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["ok"], true, "{}", json.stdout);
    assert!(tree(ci.path()) == before, "check wrote");

    // The exact command of examples/ci/redis-harden-check.yml, with the master key in the
    // environment as the workflow gives it.
    let workflow = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/redis-harden-check.yml"),
    )
    .unwrap();
    let line = workflow
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("redis-harden check"))
        .expect("the workflow runs redis-harden check");
    assert!(
        workflow.contains("${{ secrets.REDIS_HARDEN_MASTER_KEY }}"),
        "the workflow takes the master key from the secret store"
    );
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let out = std::process::Command::new(crate::support::BIN)
        .args(&words)
        .current_dir(ci.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("REDIS_HARDEN_MASTER_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tree(ci.path()) == before, "check wrote");

    // A committed file that drifted is still found.
    let conf = ci.path().join("deploy/production/redis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("maxclients 10000", "maxclients 5")).unwrap();
    let r = run(ci.path(), &args("check"));
    r.failure(1);
    assert_eq!(finding_heads(&r), ["drift: redis.conf"], "{}", r.stdout);
    r.stdout_has("+maxclients 10000");
}

/// The same without the chmod: git cannot record 0640, so a fresh clone has redis.conf at
/// 0644 and check fails on every CI run unless the workflow fixes the mode first.
#[test]
fn a_fresh_clone_of_a_bundle_passes_check() {
    let dev = tempfile::tempdir().unwrap();
    let args = |command: &'static str| {
        vec![
            command,
            "--env",
            "production",
            "--out",
            "deploy/production",
            "--target",
            "host",
        ]
    };
    run(dev.path(), &args("init")).success();
    let ci = tempfile::tempdir().unwrap();
    checkout(
        &dev.path().join("deploy/production"),
        &ci.path().join("deploy/production"),
    );
    run(ci.path(), &args("check")).success();
}
