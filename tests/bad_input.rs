//! Bad input is refused with exit code 2 and an error that names where the value came from
//! (file or `--set` argument), the key and the offending value, followed by a `help:` line.
//! Nothing is written: a fresh `--out` is not created, and an existing bundle stays byte for
//! byte and mode for mode as it was.

use std::path::Path;

use crate::support::{Run, env_file, run, tree};

/// Checks the shape every refusal shares: exit 2, nothing on stdout, an `error:` line, a
/// non-empty `help:` line, and each of `names` somewhere in stderr.
#[track_caller]
fn assert_refused(r: &Run, names: &[&str]) {
    r.failure(2);
    assert!(
        r.stdout.is_empty(),
        "a refused run printed on stdout:\n{}",
        r.stdout
    );
    assert!(r.stderr.starts_with("error: "), "stderr:\n{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l
            .strip_prefix("help: ")
            .is_some_and(|h| !h.trim().is_empty())),
        "no help: line in stderr:\n{}",
        r.stderr
    );
    for name in names {
        r.stderr_has(name);
    }
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, content) in files {
        std::fs::write(dir.join(rel), content).unwrap();
    }
}

fn init_args<'a>(env: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["init", "--env", env, "--out", out];
    args.extend_from_slice(extra);
    args
}

/// Runs `init --env ENV --out OUT EXTRA` with `files` in the working directory, twice:
///
/// * into a fresh `--out`, which must still not exist afterwards;
/// * over a bundle made by a prior successful `init --env ENV --out OUT` (before `files` were
///   written), which must stay byte for byte and mode for mode as it was.
///
/// In both, nothing else in the working directory may change either. Returns the first run.
#[track_caller]
fn assert_init_refused(env: &str, files: &[(&str, &str)], extra: &[&str], names: &[&str]) -> Run {
    assert_init_refused_into(env, "out", files, extra, names)
}

#[track_caller]
fn assert_init_refused_into(
    env: &str,
    out: &str,
    files: &[(&str, &str)],
    extra: &[&str],
    names: &[&str],
) -> Run {
    // A fresh output directory.
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), files);
    let before = tree(tmp.path());
    let existed = tmp.path().join(out).exists();
    let fresh = run(tmp.path(), &init_args(env, out, extra));
    assert_refused(&fresh, names);
    assert!(
        existed || !tmp.path().join(out).exists(),
        "a refused init created {out}"
    );
    assert!(
        tree(tmp.path()) == before,
        "a refused init changed the working directory"
    );

    // An existing bundle.
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["init", "--env", env, "--out", "bundle"]).success();
    // Point the bad run at the existing bundle (unless `out` is itself the bad input).
    let target = if out == "out" { "bundle" } else { out };
    write_files(tmp.path(), files);
    let before = tree(tmp.path());
    assert!(before.len() > 10, "the prior init wrote a bundle");
    let again = run(tmp.path(), &init_args(env, target, extra));
    assert_refused(&again, names);
    assert!(
        tree(tmp.path()) == before,
        "a refused init changed an existing bundle"
    );
    fresh
}

/// `profile show` refuses the same input the same way (it shares the resolver with init).
#[track_caller]
fn assert_show_refused(env: &str, files: &[(&str, &str)], extra: &[&str], names: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), files);
    let before = tree(tmp.path());
    let mut args = vec!["profile", "show", "--env", env];
    args.extend_from_slice(extra);
    assert_refused(&run(tmp.path(), &args), names);
    assert!(tree(tmp.path()) == before);
}

/// Both commands refuse it.
#[track_caller]
fn assert_bad(env: &str, files: &[(&str, &str)], extra: &[&str], names: &[&str]) {
    assert_init_refused(env, files, extra, names);
    assert_show_refused(env, files, extra, names);
}

/// A profile file with one environment section.
fn profile(env: &str, body: &str) -> String {
    let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("version: 1\nenvironments:\n  {env}:\n{indented}")
}

// ---------------------------------------------------------------------------------------
// The profile file

#[test]
fn malformed_yaml_in_the_profile_file() {
    let text = "version: 1\nenvironments:\n  production:\n    redis: {port: [\n";
    assert_bad(
        "production",
        &[("team.yaml", text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "not a valid profile", "line 4"],
    );
    // Bad indentation: a tab where YAML wants spaces.
    let text = "version: 1\nenvironments:\n  production:\n\tredis: {port: 1}\n";
    assert_bad(
        "production",
        &[("team.yaml", text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "not a valid profile"],
    );
    // The implicit ./redis-harden.yaml is read and refused the same way.
    assert_bad(
        "production",
        &[("redis-harden.yaml", "version: 1\nenvironments: [\n")],
        &[],
        &["redis-harden.yaml", "not a valid profile"],
    );
    // An empty file is not a profile.
    assert_bad(
        "production",
        &[("team.yaml", "")],
        &["--profile", "team.yaml"],
        &["team.yaml", "not a valid profile"],
    );
}

#[test]
fn unknown_key_in_the_profile_file() {
    let text = profile("production", "redis: {prot: 1}");
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`redis.prot`",
            "= 1",
            "unknown key `prot`",
            "`port`",
        ],
    );
    // At the top level, and as an environment name.
    assert_bad(
        "production",
        &[("team.yaml", "verison: 1\n")],
        &["--profile", "team.yaml"],
        &["team.yaml", "verison"],
    );
    assert_bad(
        "production",
        &[(
            "team.yaml",
            "version: 1\nenvironments:\n  prod:\n    redis: {port: 1}\n",
        )],
        &["--profile", "team.yaml"],
        &["team.yaml", "prod", "production"],
    );
    // A section that is not a mapping.
    assert_bad(
        "production",
        &[(
            "team.yaml",
            "version: 1\nenvironments:\n  production: [1]\n",
        )],
        &["--profile", "team.yaml"],
        &["team.yaml", "environments.production", "[1]", "mapping"],
    );
}

/// Every section of the file is checked, not only the one of `--env`: a typo in staging is
/// found while working on production.
#[test]
fn a_bad_value_in_another_environment_is_found_too() {
    let text = format!(
        "{}  staging:\n    redis: {{port: 0}}\n",
        profile("production", "redis: {port: 6380}")
    );
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &["team.yaml (environments.staging)", "`redis.port`", "= 0"],
    );
}

#[test]
fn duplicated_key_in_the_profile_file() {
    let text = profile("production", "redis:\n  port: 6380\n  port: 6381");
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "duplicate", "port"],
    );
    // A duplicated environment section is just as ambiguous.
    let text = format!(
        "{}  production:\n    redis: {{port: 6381}}\n",
        profile("production", "redis: {port: 6380}")
    );
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "duplicate", "production"],
    );
}

#[test]
fn unsupported_profile_version() {
    assert_bad(
        "production",
        &[("team.yaml", "version: 2\n")],
        &["--profile", "team.yaml"],
        &["team.yaml", "version: 2", "version 1"],
    );
}

#[test]
fn missing_profile_file() {
    assert_bad(
        "production",
        &[],
        &["--profile", "nope.yaml"],
        &["nope.yaml", "cannot read the profile"],
    );
    // A directory is not a profile file either.
    let r = assert_init_refused("production", &[], &["--profile", "."], &["cannot read"]);
    assert!(r.stderr.contains(".:"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// --set

#[test]
fn unknown_key_via_set() {
    assert_bad(
        "production",
        &[],
        &["--set", "redis.prot=1"],
        &["--set redis.prot=1", "`redis.prot`", "unknown key", "port"],
    );
    assert_bad(
        "production",
        &[],
        &["--set", "redsi.port=1"],
        &["--set redsi.port=1", "`redsi`", "unknown key", "redis"],
    );
    // A scalar has no sub-keys.
    assert_bad(
        "production",
        &[],
        &["--set", "redis.port.x=1"],
        &["--set redis.port.x=1", "`redis.port`", "no sub-keys"],
    );
}

#[test]
fn set_without_equals_sign_or_with_an_empty_part() {
    assert_bad(
        "production",
        &[],
        &["--set", "redis.port"],
        &["--set", "\"redis.port\"", "missing '='"],
    );
    assert_bad(
        "production",
        &[],
        &["--set", "redis.port="],
        &["--set", "\"redis.port=\"", "value is empty"],
    );
    assert_bad(
        "production",
        &[],
        &["--set", "redis..port=1"],
        &["--set", "\"redis..port=1\"", "empty part"],
    );
    assert_bad(
        "production",
        &[],
        &["--set", "redis.bind=[127.0.0.1"],
        &["--set", "redis.bind=[127.0.0.1", "not valid YAML"],
    );
}

// ---------------------------------------------------------------------------------------
// Values

#[test]
fn invalid_port() {
    for (arg, shown) in [
        ("redis.port=0", "= 0"),
        ("redis.port=70000", "= 70000"),
        ("redis.port=-1", "= -1"),
        ("redis.port=abc", "= \"abc\""),
    ] {
        assert_bad(
            "production",
            &[],
            &["--set", arg],
            &[&format!("--set {arg}"), "`redis.port`", shown],
        );
    }
    for (value, shown) in [("0", "= 0"), ("70000", "= 70000"), ("abc", "= \"abc\"")] {
        let text = profile("staging", &format!("redis: {{port: {value}}}"));
        assert_bad(
            "staging",
            &[("team.yaml", &text)],
            &["--profile", "team.yaml"],
            &["team.yaml (environments.staging)", "`redis.port`", shown],
        );
    }
}

#[test]
fn invalid_bind_address_or_ip() {
    for (arg, key, shown) in [
        (
            "redis.bind=[10.0.0.300]",
            "`redis.bind[0]`",
            "\"10.0.0.300\"",
        ),
        ("redis.bind=[0.0.0.0/0]", "`redis.bind[0]`", "\"0.0.0.0/0\""),
        (
            "redis.bind=[127.0.0.1, localhost]",
            "`redis.bind[1]`",
            "\"localhost\"",
        ),
        ("redis.bind=[]", "`redis.bind`", "= []"),
        ("tls.ips=[10.0.0.0/8]", "`tls.ips[0]`", "\"10.0.0.0/8\""),
        ("tls.ips=[not-an-ip]", "`tls.ips[0]`", "\"not-an-ip\""),
        ("tls.ips=[\"10.0.0.1 \"]", "`tls.ips[0]`", "\"10.0.0.1 \""),
    ] {
        assert_bad(
            "production",
            &[],
            &["--set", arg],
            &[&format!("--set {arg}"), key, shown],
        );
    }
    let text = profile("production", "redis:\n  bind: [10.0.1.5, 10.0.1.256]");
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`redis.bind[1]`",
            "\"10.0.1.256\"",
        ],
    );
    let text = profile("production", "tls:\n  ips: [fe80::1::2]");
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`tls.ips[0]`",
            "\"fe80::1::2\"",
        ],
    );
}

#[test]
fn invalid_hostname() {
    for (value, why) in [
        ("bad_host.example", "'_'"),
        ("-lead.example", "'-'"),
        ("a..example", "empty label"),
        ("10.0.0.1", "tls.ips"),
        ("*.example.com", "'*'"),
        ("redis.example.123", "numeric"),
    ] {
        let arg = format!("tls.hostnames=[\"{value}\"]");
        assert_bad(
            "production",
            &[],
            &["--set", &arg],
            &[
                &format!("--set {arg}"),
                "`tls.hostnames[0]`",
                &format!("\"{value}\""),
                why,
            ],
        );
    }
    let long = format!("{}.example", "a".repeat(64));
    let text = profile(
        "staging",
        &format!("tls:\n  hostnames: [ok.example, {long}]"),
    );
    assert_bad(
        "staging",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.staging)",
            "`tls.hostnames[1]`",
            &long,
            "63",
        ],
    );
}

#[test]
fn invalid_acl_user() {
    for (users, key, shown) in [
        (
            r#"[{name: Bad, commands: ["+@read"]}]"#,
            "`acl.users[0].name`",
            "\"Bad\"",
        ),
        (
            r#"[{name: "app on >pw", commands: ["+@read"]}]"#,
            "`acl.users[0].name`",
            "\"app on >pw\"",
        ),
        (
            r#"[{name: 1worker, commands: ["+@read"]}]"#,
            "`acl.users[0].name`",
            "\"1worker\"",
        ),
        (
            r#"[{name: default, commands: ["+@read"]}]"#,
            "`acl.users[0].name`",
            "built-in user",
        ),
        (
            r#"[{name: a-b, commands: ["+@read"]}, {name: a_b, commands: ["+@read"]}]"#,
            "`acl.users[1].name`",
            "REDIS_PASSWORD_A_B",
        ),
        (
            r#"[{name: worker, commands: []}]"#,
            "`acl.users[0].commands`",
            "= []",
        ),
        (
            r#"[{name: worker, commands: ["@read"]}]"#,
            "`acl.users[0].commands[0]`",
            "\"@read\"",
        ),
        (
            r#"[{name: worker, commands: ["+@read"], pasword: x}]"#,
            "`acl.users[0].pasword`",
            "unknown key",
        ),
    ] {
        let arg = format!("acl.users={users}");
        assert_bad(
            "production",
            &[],
            &["--set", &arg],
            &[&format!("--set {arg}"), key, shown],
        );
    }
    let text = profile(
        "production",
        "acl:\n  users:\n    - name: Worker\n      commands: [\"+@read\"]",
    );
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`acl.users[0].name`",
            "\"Worker\"",
        ],
    );
}

/// An extra user's command must exist in the targeted version (the server would refuse the
/// ACL file): a typo is named with the nearest command, and a command of a newer version
/// needs that version.
#[test]
fn an_extra_users_unknown_command_is_refused_for_its_version() {
    for (commands, version, key, shown) in [
        (
            r#"["+@read", "-@dangerous", "-flushal"]"#,
            "7.0",
            "`acl.users[0].commands[2]`",
            "\"-flushal\": Redis 7.0 has no such command (nearest: -flushall)",
        ),
        (
            r#"["+@read", "-@dangerous", "+config|gte"]"#,
            "8.0",
            "`acl.users[0].commands[2]`",
            "Redis 8.0 has no such subcommand (nearest: +config|get)",
        ),
        (
            r#"["+@read", "-@dangerous", "+hgetex"]"#,
            "7.0",
            "`acl.users[0].commands[2]`",
            "\"+hgetex\": Redis 7.0 has no such command (Redis 8.0 has it)",
        ),
    ] {
        let arg = format!("acl.users=[{{name: worker, commands: {commands}}}]");
        let version = format!("server.version={version}");
        assert_bad(
            "production",
            &[],
            &["--set", &version, "--set", &arg],
            &[&format!("--set {arg}"), key, shown],
        );
    }
    // Redis 8.0 has HGETEX.
    let tmp = tempfile::tempdir().unwrap();
    crate::support::run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "o",
            "--set",
            "server.version=8.0",
            "--set",
            r#"acl.users=[{name: worker, commands: ["+@read", "-@dangerous", "+hgetex"]}]"#,
        ],
    )
    .success();
}

// ---------------------------------------------------------------------------------------
// Config injection: a value that would add a directive or an ACL rule of its own.

/// The offending value is shown escaped: no line of stderr starts with the smuggled text.
#[track_caller]
fn assert_not_smuggled(r: &Run, smuggled: &str) {
    assert!(
        !r.stderr
            .lines()
            .any(|l| l.trim_start().starts_with(smuggled)),
        "stderr shows {smuggled:?} on a line of its own:\n{}",
        r.stderr
    );
}

#[test]
fn newline_injection_via_set() {
    // YAML's "\n" escape: the value holds a real newline.
    let arg = r#"tls.hostnames=["a.example\nport 6379"]"#;
    let names = [
        &format!("--set {arg}") as &str,
        "`tls.hostnames[0]`",
        r#""a.example\nport 6379""#,
        "newline",
    ];
    let r = assert_init_refused("production", &[], &["--set", arg], &names);
    assert_not_smuggled(&r, "port 6379");
    assert_show_refused("production", &[], &["--set", arg], &names);

    for (arg, key, shown, why) in [
        (
            r#"acl.app.keys=["app:*\nuser evil on nopass +@all"]"#,
            "`acl.app.keys[0]`",
            r#""app:*\nuser evil on nopass +@all""#,
            "newline",
        ),
        (
            r#"acl.users=[{name: w, commands: ["+@read\r\nuser x on"]}]"#,
            "`acl.users[0].commands[0]`",
            r#""+@read\r\nuser x on""#,
            "carriage return",
        ),
        (
            r#"redis.bind=["127.0.0.1\nbind 0.0.0.0"]"#,
            "`redis.bind[0]`",
            r#""127.0.0.1\nbind 0.0.0.0""#,
            "newline",
        ),
        (
            r#"redis.maxmemory="1gb\nenable-debug-command yes""#,
            "`redis.maxmemory`",
            r#""1gb\nenable-debug-command yes""#,
            "newline",
        ),
    ] {
        let r = assert_init_refused(
            "production",
            &[],
            &["--set", arg],
            &[&format!("--set {arg}"), key, shown, why],
        );
        assert_not_smuggled(&r, "user ");
        assert_not_smuggled(&r, "bind ");
        assert_not_smuggled(&r, "enable-debug-command");
    }
}

#[test]
fn newline_injection_via_the_profile_file() {
    let text = profile(
        "production",
        "tls:\n  hostnames: [\"a.example\\nport 6379\"]",
    );
    assert!(text.contains(r#""a.example\nport 6379""#), "{text}");
    let names = [
        "team.yaml (environments.production)",
        "`tls.hostnames[0]`",
        r#""a.example\nport 6379""#,
        "newline",
    ];
    let files = [("team.yaml", text.as_str())];
    let r = assert_init_refused("production", &files, &["--profile", "team.yaml"], &names);
    assert_not_smuggled(&r, "port 6379");
    assert_show_refused("production", &files, &["--profile", "team.yaml"], &names);

    // A block scalar carries a literal newline without any escape.
    let text = profile(
        "production",
        "acl:\n  app:\n    keys:\n      - |\n        app:*\n        user evil on nopass +@all",
    );
    let r = assert_bad_returning(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`acl.app.keys[0]`",
            r#""app:*\nuser evil on nopass +@all\n""#,
            "newline",
        ],
    );
    assert_not_smuggled(&r, "user evil");
}

fn assert_bad_returning(env: &str, files: &[(&str, &str)], extra: &[&str], names: &[&str]) -> Run {
    let r = assert_init_refused(env, files, extra, names);
    assert_show_refused(env, files, extra, names);
    r
}

#[test]
fn space_in_a_key_pattern() {
    let arg = r#"acl.app.keys=["a b"]"#;
    assert_bad(
        "production",
        &[],
        &["--set", arg],
        &[
            &format!("--set {arg}"),
            "`acl.app.keys[0]`",
            r#""a b""#,
            "space",
        ],
    );
    // The classic: widen the app user's rights from inside its key pattern.
    let arg = r#"acl.app.channels=["app:* +@all"]"#;
    assert_bad(
        "production",
        &[],
        &["--set", arg],
        &[
            &format!("--set {arg}"),
            "`acl.app.channels[0]`",
            r#""app:* +@all""#,
            "space",
        ],
    );
    let text = profile(
        "production",
        "acl:\n  users:\n    - name: worker\n      keys: [\"jobs:* ~*\"]\n      commands: [\"+@read\"]",
    );
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.production)",
            "`acl.users[0].keys[0]`",
            r#""jobs:* ~*""#,
            "space",
        ],
    );
}

#[test]
fn quote_in_a_value() {
    for (arg, key, shown, why) in [
        (
            r#"acl.app.keys=['a"b']"#,
            "`acl.app.keys[0]`",
            r#""a\"b""#,
            "double quote",
        ),
        (
            r#"acl.app.keys=["a'b"]"#,
            "`acl.app.keys[0]`",
            r#""a'b""#,
            "single quote",
        ),
        (
            r#"tls.hostnames=['a"b.example']"#,
            "`tls.hostnames[0]`",
            r#""a\"b.example""#,
            "double quote",
        ),
        (
            r#"redis.maxmemory='1gb"'"#,
            "`redis.maxmemory`",
            r#""1gb\"""#,
            "double quote",
        ),
        (
            r#"acl.users=[{name: "w\"x", commands: ["+@read"]}]"#,
            "`acl.users[0].name`",
            r#""w\"x""#,
            "double quote",
        ),
    ] {
        assert_bad(
            "production",
            &[],
            &["--set", arg],
            &[&format!("--set {arg}"), key, shown, why],
        );
    }
}

#[test]
fn plaintext_bind_to_a_non_loopback_address() {
    // Testing has TLS off: only loopback is allowed.
    for (arg, addr) in [
        ("redis.bind=[10.0.0.5]", "10.0.0.5"),
        ("redis.bind=[127.0.0.1, 0.0.0.0]", "0.0.0.0"),
        ("redis.bind=[\"-::\"]", "::"),
    ] {
        assert_bad(
            "testing",
            &[],
            &["--set", arg],
            &[&format!("--set {arg}"), "`redis.bind`", addr, "loopback"],
        );
    }
    let text = profile("testing", "redis:\n  bind: [192.168.1.10]");
    assert_bad(
        "testing",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &[
            "team.yaml (environments.testing)",
            "`redis.bind`",
            "192.168.1.10",
            "loopback",
        ],
    );
    // Turning TLS off elsewhere has the same rule.
    let text = profile("production", "tls: {enabled: false}");
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml", "--set", "redis.bind=[10.0.1.5]"],
        &[
            "--set redis.bind=[10.0.1.5]",
            "`redis.bind`",
            "10.0.1.5",
            "loopback",
        ],
    );
}

/// A cross-field rule broken by the user's value must be blamed on that value, not on the
/// built-in defaults with a "this is a bug in redis-harden" help line.
#[test]
fn a_conflict_with_a_builtin_value_names_the_users_setting() {
    for (env, arg) in [
        ("production", "tls.ca_validity_days=30"),
        ("production", "tls.protocols=[TLSv1.2, TLSv1.3]"),
        ("testing", "tls.enabled=true"),
    ] {
        let r = assert_init_refused(env, &[], &["--set", arg], &[&format!("--set {arg}")]);
        assert!(!r.stderr.contains("bug in redis-harden"), "{}", r.stderr);
    }
}

#[test]
fn cross_field_conflicts_are_refused() {
    // Whatever the blame (see above), these never reach the disk.
    for (env, arg, key) in [
        (
            "production",
            "tls.ca_validity_days=30",
            "`tls.ca_validity_days`",
        ),
        (
            "production",
            "tls.protocols=[TLSv1.2, TLSv1.3]",
            "`tls.protocols`",
        ),
        ("testing", "tls.enabled=true", "`tls.enabled`"),
        (
            "production",
            "secrets.password_length=8",
            "`secrets.password_length`",
        ),
        (
            "production",
            "tls.leaf_validity_days=900",
            "`tls.leaf_validity_days`",
        ),
        ("production", "acl.app.keys=[]", "`acl.app.keys`"),
    ] {
        assert_init_refused(env, &[], &["--set", arg], &[key]);
    }
}

// ---------------------------------------------------------------------------------------
// The output directory

#[test]
fn unwritable_output_directory() {
    // Root ignores permission bits, but not a regular file where a directory must be.
    let files = [("file.txt", "not a directory\n")];
    let r = assert_init_refused_into("production", "file.txt/out", &files, &[], &["file.txt/out"]);
    assert!(r.stderr.contains("cannot write"), "{}", r.stderr);
    // --out naming a regular file.
    assert_init_refused_into(
        "production",
        "file.txt",
        &files,
        &[],
        &["--out file.txt", "not a directory"],
    );
}

#[test]
fn an_existing_bundle_with_a_blocked_path_is_left_alone() {
    // `tls` is a file: nothing can be written under it.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    std::fs::write(tmp.path().join("out/tls"), "x").unwrap();
    let before = tree(tmp.path());
    let r = run(tmp.path(), &init_args("production", "out", &[]));
    assert_refused(&r, &["out/tls"]);
    assert!(tree(tmp.path()) == before);

    // A directory where redis.conf belongs, in an otherwise complete bundle, on a run that
    // would change other files too: refused before anything is written.
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("production", "out", &[])).success();
    let conf = tmp.path().join("out/redis.conf");
    std::fs::remove_file(&conf).unwrap();
    std::fs::create_dir(&conf).unwrap();
    let before = tree(tmp.path());
    let r = run(
        tmp.path(),
        &init_args(
            "production",
            "out",
            &[
                "--set",
                "redis.port=6390",
                "--set",
                r#"acl.users=[{name: worker, commands: ["+@read", "-@dangerous"]}]"#,
            ],
        ),
    );
    assert_refused(&r, &["redis.conf", "not a regular file"]);
    assert!(tree(tmp.path()) == before);

    // `data` is a file: the directory cannot be created, and no temp file is left behind.
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("production", "out", &[])).success();
    let data = tmp.path().join("out/data");
    std::fs::remove_dir(&data).unwrap();
    std::fs::write(&data, "").unwrap();
    let before = tree(tmp.path());
    let r = run(
        tmp.path(),
        &init_args("production", "out", &["--set", "redis.port=6390"]),
    );
    assert_refused(&r, &["out/data"]);
    assert!(tree(tmp.path()) == before);
}

#[test]
fn out_path_that_cannot_be_written_into_redis_conf() {
    for (out, why) in [
        ("o\nut", "newline"),
        ("o\"ut", "double quote"),
        ("o'ut", "single quote"),
        ("o\\ut", "backslash"),
        ("o\rut", "carriage return"),
    ] {
        assert_init_refused_into("production", out, &[], &[], &["--out", why]);
    }
    // Nested under a fresh directory: not even the parent is created.
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &init_args("production", "new/o\"ut", &[]));
    assert_refused(&r, &["--out", "double quote"]);
    assert!(tree(tmp.path()).is_empty());
}

/// An error message is one line of its own: a newline in `--out` or `--set` must not let
/// the argument print extra lines (e.g. a fake `help:` line).
#[test]
fn arguments_are_echoed_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &init_args("production", "o\nhelp: fake", &[]));
    r.failure(2);
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("help: ")).count(),
        1,
        "{}",
        r.stderr
    );
    let r = run(
        tmp.path(),
        &init_args("production", "out", &["--set", "redis.port=0\nhelp: fake"]),
    );
    r.failure(2);
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("help: ")).count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn unknown_environment_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["init", "--env", "prod", "--out", "out"]);
    r.failure(2).stderr_has("prod").stderr_has("production");
    assert!(tree(tmp.path()).is_empty());
}

// ---------------------------------------------------------------------------------------
// Secrets never reach the terminal

/// Every secret of a bundle: the values in secrets.env and the private keys.
fn secrets_of(dir: &Path) -> Vec<String> {
    let mut secrets: Vec<String> = env_file(&dir.join("secrets.env")).into_values().collect();
    assert!(secrets.len() >= 4, "{secrets:?}");
    for key in ["tls/ca.key", "tls/server.key", "tls/client.key"] {
        let pem = std::fs::read_to_string(dir.join(key)).unwrap();
        // The base64 body lines: any one of them in the output would be a leak.
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----") && l.len() > 16)
                .map(str::to_owned),
        );
    }
    secrets
}

#[track_caller]
fn assert_no_secret_in(r: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()),
            "a secret was printed:\nstdout:\n{}\nstderr:\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn no_secret_appears_in_the_output_of_init() {
    for env in ["production", "staging", "development", "testing"] {
        for target in ["local", "host", "docker"] {
            let tmp = tempfile::tempdir().unwrap();
            let args = [
                "init",
                "--env",
                env,
                "--out",
                "out",
                "--target",
                target,
                "--set",
                r#"acl.users=[{name: worker, keys: ["jobs:*"], commands: ["+@read", "-@dangerous"]}]"#,
            ];
            let first = run(tmp.path(), &args);
            first.success();
            let out = tmp.path().join("out");
            let secrets = secrets_of(&out);
            assert_no_secret_in(&first, &secrets);
            // The app's URL in client.env embeds its password: not printed either.
            let url = env_file(&out.join("client.env"))
                .remove("REDIS_URL")
                .unwrap();
            assert!(!first.stdout.contains(&url) && !first.stderr.contains(&url));

            // A re-run, and profile show, print none either.
            assert_no_secret_in(run(tmp.path(), &args).success(), &secrets);
            let show = run(tmp.path(), &["profile", "show", "--env", env]);
            assert_no_secret_in(show.success(), &secrets);
        }
    }
}

#[test]
fn no_secret_appears_in_warnings_or_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let short = [
        "init",
        "--env",
        "testing",
        "--out",
        "out",
        "--set",
        "secrets.password_length=12",
    ];
    run(tmp.path(), &short).success();
    let out = tmp.path().join("out");
    let secrets = secrets_of(&out);

    // Longer passwords asked for: the short ones are kept, with a warning naming the variable.
    let long = [
        "init",
        "--env",
        "testing",
        "--out",
        "out",
        "--set",
        "secrets.password_length=32",
    ];
    let r = run(tmp.path(), &long);
    r.success().stderr_has("warning: REDIS_PASSWORD_APP");
    assert_no_secret_in(&r, &secrets);

    // A refused run over the bundle prints none either.
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "testing",
            "--out",
            "out",
            "--set",
            "redis.port=0",
        ],
    );
    r.failure(2);
    assert_no_secret_in(&r, &secrets);

    // A broken secrets.env is refused, naming the line but never its value.
    let path = out.join("secrets.env");
    let text = std::fs::read_to_string(&path).unwrap();
    let app = env_file(&path).remove("REDIS_PASSWORD_APP").unwrap();
    let broken = text.replace(
        &format!("REDIS_PASSWORD_APP={app}"),
        &format!("REDIS_PASSWORD_APP={app} hunter2"),
    );
    assert_ne!(text, broken);
    std::fs::write(&path, &broken).unwrap();
    let before = tree(tmp.path());
    let r = run(tmp.path(), &short);
    assert_refused(&r, &["secrets.env", "REDIS_PASSWORD_APP", "line "]);
    assert!(
        !r.stderr.contains("hunter2") && !r.stderr.contains(&app),
        "{}",
        r.stderr
    );
    assert!(
        tree(tmp.path()) == before,
        "a broken secrets.env was touched"
    );
}

// ---------------------------------------------------------------------------------------
// Topologies (issue 11): each bad value names its file/argument, key and value; nothing written.

#[test]
fn bad_topology_values_are_refused() {
    let cases: [(&[&str], &[&str]); 7] = [
        (
            &["--set", "topology.kind=ring"],
            &["--set topology.kind=ring", "`topology.kind`", "ring"],
        ),
        (
            &[
                "--set",
                "topology.kind=cluster",
                "--set",
                "topology.shards=2",
            ],
            &["`topology.shards`", "= 2", "at least 3 primaries"],
        ),
        (
            &[
                "--set",
                "topology.kind=sentinel",
                "--set",
                "topology.sentinels=2",
            ],
            &["`topology.sentinels`", "= 2", "at least 3 Sentinels"],
        ),
        (
            &[
                "--set",
                "topology.kind=sentinel",
                "--set",
                "topology.replicas=0",
            ],
            &["`topology.replicas`", "= 0"],
        ),
        (
            &[
                "--set",
                "topology.kind=cluster",
                "--set",
                "redis.port=60000",
            ],
            &["`redis.port`", "= 60000", "above 65535"],
        ),
        (
            &[
                "--set",
                "topology.kind=sentinel",
                "--set",
                "topology.sentinel_port=6380",
            ],
            &["`topology.sentinel_port`", "= 6380", "collides"],
        ),
        (
            &[
                "--set",
                "topology.kind=sentinel",
                "--set",
                "engine=dragonfly",
            ],
            &["`topology.kind`", "sentinel", "Dragonfly"],
        ),
    ];
    for (extra, names) in cases {
        assert_bad("production", &[], extra, names);
    }
    // Plaintext replication is refused: the testing environment has TLS off.
    assert_bad(
        "testing",
        &[],
        &["--set", "topology.kind=cluster"],
        &["`topology.kind`", "cluster", "needs TLS"],
    );
}

#[test]
fn bad_topology_nodes_in_the_profile_file_are_refused() {
    let nodes = |list: &str| {
        profile(
            "production",
            &format!("topology:\n  kind: cluster\n  nodes:\n{list}"),
        )
    };
    let one = |name: &str, ip: &str| format!("    - {{name: {name}, ip: {ip}, port: 6379}}\n");
    // Too few nodes for 3 shards x 1 replica.
    let text = nodes(&one("a", "10.0.0.1"));
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "`topology.nodes`", "lists 1 nodes", "has 6"],
    );
    // A duplicate name.
    let six: String = ["a", "b", "c", "d", "e", "a"]
        .iter()
        .enumerate()
        .map(|(i, n)| one(n, &format!("10.0.0.{}", i + 1)))
        .collect();
    assert_bad(
        "production",
        &[("team.yaml", &nodes(&six))],
        &["--profile", "team.yaml"],
        &["team.yaml", "`topology.nodes[5].name`", "\"a\""],
    );
    // Two nodes on one address and port.
    let six: String = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .enumerate()
        .map(|(i, n)| one(n, &format!("10.0.0.{}", i.min(4) + 1)))
        .collect();
    assert_bad(
        "production",
        &[("team.yaml", &nodes(&six))],
        &["--profile", "team.yaml"],
        &["team.yaml", "`topology.nodes[5].port`", "collides"],
    );
    // A name that would leave the nodes/ directory.
    let text = nodes(&one("../x", "10.0.0.1"));
    assert_bad(
        "production",
        &[("team.yaml", &text)],
        &["--profile", "team.yaml"],
        &["team.yaml", "topology.nodes[0].name", "../x"],
    );
}
