//! Server families and versions beyond the bundles themselves (those are proven on every
//! server in `live` and `client_examples`): the gate and `audit` judge by the targeted
//! version's tables, statically (`--engine`, `--set server.version=`) and live (`audit --url`
//! detects the family and version with `HELLO 3`), on Redis 7.0.15, Redis 8.0.2 and Valkey
//! 8.1.1.

use crate::audit::{audit, findings, live_audit, report, rules};
use crate::live::on_every_server;
use crate::support::{Bundle, Server, ServerUnderTest, run};

on_every_server!(audit_url_names_the_server_and_judges_by_its_version);

/// `audit --url` as the admin and as the application user (which may not run INFO): both
/// name the family and release HELLO reported, a fresh bundle has no finding, and a setting
/// only this version has is read and judged.
fn audit_url_names_the_server_and_judges_by_its_version(srv: &'static ServerUnderTest) {
    let b = Bundle::init_for(srv, "production", &["--set", "acl.admin.enabled=true"]);
    let _server = Server::start(&b);
    let named = format!(
        "{} {}",
        srv.facts().name,
        &srv.info_version[srv.info_version.find(':').unwrap() + 1..]
    );
    let admin_pw = b.password("admin");
    let live = |user: &str, pw: Option<&str>, format: &str| {
        live_audit(&b, user, pw, &["--format", format])
    };
    for (user, pw) in [("admin", Some(admin_pw.as_str())), ("app", None)] {
        let r = live(user, pw, "json");
        r.success();
        assert_eq!(
            report(&r)["audited"][0]["server"],
            named.as_str(),
            "{}",
            r.stdout
        );
        assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);
        let r = live(user, pw, "text");
        r.success().stdout_has(&format!("(live server: {named})"));
    }

    // The bundle's redis.conf audited with the server: judged by the version HELLO found
    // (as Redis 7.0, the default, Redis 8.0's and Valkey's would have unknown directives).
    let conf = b.path("redis.conf");
    let r = live_audit(&b, "admin", Some(&admin_pw), &[conf.to_str().unwrap()]);
    r.success();
    assert_eq!(
        report(&r)["audited"][0]["server"],
        srv.facts().label().as_str()
    );
    assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);

    // hide-user-data-from-log exists from Redis 8.0 and in Valkey: switched off at run time,
    // the audit of those versions reports it; Redis 7.0 has no such setting.
    let off = b
        .cli()
        .login("admin")
        .run(&["CONFIG", "SET", "hide-user-data-from-log", "no"]);
    let r = live("admin", Some(&admin_pw), "json");
    r.success();
    if srv.facts().has_directive("hide-user-data-from-log") {
        assert_eq!(off, "OK");
        assert_eq!(rules(&r), ["user-data-in-log"], "{}", r.stdout);
    } else {
        assert!(off.contains("ERR"), "{off}");
        assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);
    }

    // Naming another version on the command line does not override what HELLO found: noted.
    let other = if srv.version == (7, 0) { "8.0" } else { "7.0" };
    let set = format!("server.version={other}");
    let engine_args: &[&str] = if srv.engine == redis_harden::profile::Engine::Valkey {
        &[]
    } else {
        &["--set", &set]
    };
    if !engine_args.is_empty() {
        let r = live_audit(&b, "admin", Some(&admin_pw), engine_args);
        assert!(
            findings(&r)
                .iter()
                .any(|(rule, _, _)| rule == "unsupported-server"),
            "{}",
            r.stdout
        );
        assert_eq!(report(&r)["audited"][0]["server"], named.as_str());
    }
}

/// Valkey 8.1's COMMANDLOG is @dangerous there: the live audit asks about it on Valkey
/// (and only there: the command does not exist in Redis).
#[test]
fn live_audit_probes_valkeys_own_dangerous_commands() {
    let srv = &crate::support::VALKEY_8_1;
    let b = Bundle::init_for(srv, "production", &["--set", "acl.admin.enabled=true"]);
    let _server = Server::start(&b);
    let admin = || b.cli().login("admin");
    // An application user that may read COMMANDLOG and reset it, and nothing else forbidden.
    let set = admin().run(&[
        "ACL",
        "SETUSER",
        "ops",
        "on",
        ">ops-password-1234",
        "~*",
        "+get",
        "+commandlog",
    ]);
    assert_eq!(set, "OK");
    let r = live_audit(
        &b,
        "admin",
        Some(&b.password("admin")),
        &["--app-user", "ops"],
    );
    r.failure(1);
    // Found twice: by ACL DRYRUN, and by replaying `ACL LIST` like an ACL file.
    let mut found = rules(&r);
    found.dedup();
    assert_eq!(found, ["app-permissions"], "{}", r.stdout);
    assert!(
        r.stdout
            .contains("ACL DRYRUN ops COMMANDLOG RESET slow: allowed"),
        "{}",
        r.stdout
    );
}

/// The gate replays ACL rules against the targeted version's table: `+commandlog` is
/// dangerous in Valkey 8.1, so `init --engine valkey` refuses a user that has it.
#[test]
fn the_gate_refuses_valkeys_own_dangerous_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--engine",
            "valkey",
            "--out",
            "out",
            "--set",
            "acl.users=[{name: ops, keys: [\"ops:*\"], commands: [\"+@read\", \"-@dangerous\", \"+commandlog\"]}]",
        ],
    );
    r.failure(1)
        .stderr_has("app-permissions")
        .stderr_has("user ops");
    assert!(
        !tmp.path().join("out").exists(),
        "the refused bundle was written"
    );
}

/// The static audit judges a file by `--engine`/`--set server.version`: a directive the
/// version lacks would stop the server, and Redis 8.0's default logs user data.
#[test]
fn static_audit_judges_by_the_named_version() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Bundle::init_for(&crate::support::REDIS_8_0, "production", &[]);
    let conf = b.path("redis.conf");
    let conf = conf.to_str().unwrap();
    let static_audit = |extra: &[&str]| {
        let mut args = vec!["--env", "production", "--format", "json", conf];
        args.extend_from_slice(extra);
        audit(tmp.path(), &args, None)
    };
    // As what it was made for: clean, and named so.
    let r = static_audit(&["--set", "server.version=8.0"]);
    r.success();
    assert_eq!(report(&r)["audited"][0]["server"], "Redis 8.0");
    assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);
    // As Valkey 8.1 (which has hide-user-data-from-log too): still clean.
    static_audit(&["--engine", "valkey"]).success();
    // As Redis 7.0 (the default): hide-user-data-from-log does not exist there.
    let r = static_audit(&[]);
    r.failure(1);
    assert_eq!(rules(&r), ["unknown-directive"], "{}", r.stdout);
    assert_eq!(report(&r)["audited"][0]["server"], "Redis 7.0");

    // Without the directive: Redis 8.0's default logs user data; Valkey's does not.
    let bare = tmp.path().join("bare.conf");
    let text = std::fs::read_to_string(conf).unwrap();
    std::fs::write(&bare, text.replace("hide-user-data-from-log yes\n", "")).unwrap();
    let bare = bare.to_str().unwrap();
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--format",
            "json",
            "--set",
            "server.version=8.0",
            bare,
        ],
        None,
    );
    r.success();
    assert_eq!(rules(&r), ["user-data-in-log"], "{}", r.stdout);
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--format",
            "json",
            "--engine",
            "valkey",
            bare,
        ],
        None,
    );
    assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);

    // Bad input: exit 2, naming the argument, key and value.
    for (args, needle) in [
        (
            &["--set", "server.version=9.9"][..],
            "`server.version` = \"9.9\": Redis 9.9 is not supported",
        ),
        (
            &["--engine", "valkey", "--set", "server.version=7.2"][..],
            "Valkey 7.2 is not supported",
        ),
        (&["--set", "server.version=8"][..], "`server.version`"),
        (
            &["--set", "redis.port=1"][..],
            "audit takes only engine and server.version",
        ),
    ] {
        let mut all = vec!["--env", "production", conf];
        all.extend_from_slice(args);
        audit(tmp.path(), &all, None).failure(2).stderr_has(needle);
    }
}

/// `audit` of a bundle (no FILE, no --url) judges it by the version its profile names.
#[test]
fn a_bundle_audit_follows_the_profiles_version() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("redis-harden.yaml"),
        "version: 1\nenvironments:\n  production:\n    engine: valkey\n",
    )
    .unwrap();
    run(tmp.path(), &["init", "--env", "production"]).success();
    let r = audit(
        tmp.path(),
        &["--env", "production", "--format", "json"],
        None,
    );
    r.success();
    assert_eq!(report(&r)["audited"][0]["server"], "Valkey 8.1");
    assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);
    // Named on the command line, another version wins (and Redis 7.0 lacks a directive).
    let r = audit(
        tmp.path(),
        &[
            "--env",
            "production",
            "--format",
            "json",
            "--engine",
            "redis",
        ],
        None,
    );
    r.failure(1);
    assert_eq!(rules(&r), ["unknown-directive"], "{}", r.stdout);
}

/// `server.version` is validated per engine, and the image must be the engine's at that
/// version: bad input exits 2 naming the key and value, and writes nothing.
#[test]
fn versions_and_images_are_validated_per_engine() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            &["--set", "server.version=9.9"][..],
            "`server.version` = 9.9: Redis 9.9 is not supported; supported versions: 7.0, 8.0",
        ),
        (
            &["--engine", "valkey", "--set", "server.version=7.2"][..],
            "Valkey 7.2 is not supported; supported versions: 8.0, 8.1",
        ),
        (
            &["--set", "server.version=\"8.0\\nport 6379\""][..],
            "is not a server version",
        ),
        (
            &["--set", "docker.redis_image=valkey/valkey:8.1"][..],
            "`docker.redis_image` = \"valkey/valkey:8.1\": is not a Redis image",
        ),
        (
            &[
                "--set",
                "server.version=8.0",
                "--set",
                "docker.redis_image=redis:8.2.1",
            ][..],
            "tag \"8.2.1\" is not a Redis 8.0 release",
        ),
        (
            &[
                "--engine",
                "valkey",
                "--set",
                "docker.redis_image=redis:7.0.15",
            ][..],
            "is not a Valkey image",
        ),
    ] {
        let mut all = vec!["init", "--env", "production", "--out", "out"];
        all.extend_from_slice(args);
        run(tmp.path(), &all).failure(2).stderr_has(needle);
        assert!(!tmp.path().join("out").exists(), "{args:?} wrote a bundle");
    }
    // A profile file may write the version as a YAML number; the image follows it.
    std::fs::write(
        tmp.path().join("redis-harden.yaml"),
        "version: 1\nenvironments:\n  staging:\n    server:\n      version: 8.0\n",
    )
    .unwrap();
    let r = run(tmp.path(), &["profile", "show", "--env", "staging"]);
    r.success()
        .stdout_has("version: \"8.0\"")
        .stdout_has("redis_image: redis:8.0.2-bookworm");
}
