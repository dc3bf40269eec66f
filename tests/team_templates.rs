//! Team templates and the policy gate, through the binary: `templates list` and `export`,
//! `--templates DIR` / `templates:` in the profile, `{% extends "builtin/NAME" %}` with a
//! block override, template errors that name the file and line, and for every policy rule a
//! team template that breaks it: refused (exit 1, nothing written) naming the rule and the
//! artifact; accepted with `--allow-insecure RULE` (a warning on every run, a loud comment in
//! the output); no other rule slips through with it.

use std::path::{Path, PathBuf};

use crate::support::{Run, run, tree};

/// A temp working directory with a team template directory `team/` in it.
struct Team {
    tmp: tempfile::TempDir,
}

impl Team {
    fn new(files: &[(&str, &str)]) -> Team {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("team")).unwrap();
        let t = Team { tmp };
        for (name, text) in files {
            t.file(name, text);
        }
        t
    }

    fn cwd(&self) -> &Path {
        self.tmp.path()
    }

    fn file(&self, name: &str, text: &str) {
        std::fs::write(self.tmp.path().join("team").join(name), text).unwrap();
    }

    fn out(&self, out: &str) -> PathBuf {
        self.tmp.path().join(out)
    }

    fn read(&self, out: &str, rel: &str) -> String {
        std::fs::read_to_string(self.out(out).join(rel))
            .unwrap_or_else(|e| panic!("{out}/{rel}: {e}"))
    }

    /// `COMMAND --env ENV --out OUT --templates team EXTRA`.
    fn run(&self, command: &str, env: &str, out: &str, extra: &[&str]) -> Run {
        let mut args = vec![command, "--env", env, "--out", out, "--templates", "team"];
        args.extend_from_slice(extra);
        run(self.cwd(), &args)
    }
}

/// A team file that extends the built-in `template` and overrides its `block` with `body`.
fn extends(template: &str, block: &str, body: &str) -> String {
    format!(
        "{{% extends \"builtin/{template}\" %}}\n{{% block {block} %}}\n{body}\n{{% endblock {block} %}}\n"
    )
}

/// The built-in templates, by name, as `templates export` writes them.
fn builtins() -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["templates", "export", "t"]).success();
    let mut out: Vec<(String, String)> = std::fs::read_dir(tmp.path().join("t"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn builtin(name: &str) -> String {
    builtins()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no built-in {name}"))
        .1
}

/// The names `templates list` shows (first column).
fn listed() -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["templates", "list"]);
    r.success();
    r.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The lines of a file that are not comments.
fn directives(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

// ---------------------------------------------------------------------------------------
// templates list / export

#[test]
fn templates_list_shows_every_builtin_and_marks_overrides() {
    let names: Vec<String> = builtins().into_iter().map(|(n, _)| n).collect();
    for expected in ["redis.conf.tera", "users.acl.tera", "client.env.tera"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert_eq!(listed(), names, "list shows exactly the exported built-ins");

    let team = Team::new(&[
        (
            "redis.conf.tera",
            &extends("redis.conf.tera", "extra", "latency-monitor-threshold 100"),
        ),
        ("users.acl.tera", &builtin("users.acl.tera")),
        (
            "partial.tera",
            "{# a partial #}\nlatency-monitor-threshold 100\n",
        ),
        ("notes.txt", "not a template\n"),
    ]);
    let r = run(team.cwd(), &["templates", "list", "--templates", "team"]);
    r.success();
    for name in &names {
        let line = r
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} not listed:\n{}", r.stdout));
        let overridden = name == "redis.conf.tera" || name == "users.acl.tera";
        assert_eq!(
            line.contains("overridden"),
            overridden,
            "{name}: {line}\n{}",
            r.stdout
        );
        if !overridden {
            assert!(line.contains("built-in"), "{line}");
        }
    }
    // A team file that is no built-in's name is shown as the team's; non-.tera files are not.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("partial.tera") && l.contains("team")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("notes.txt"), "{}", r.stdout);
}

#[test]
fn templates_export_writes_the_builtins_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["templates", "export", "team"]);
    r.success();
    let dir = tmp.path().join("team");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, listed());
    // Byte for byte the templates the binary renders with.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for name in &names {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(shipped.join(name)).unwrap(),
            "{name}"
        );
    }
    // An exported directory renders exactly like the built-ins.
    run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "a",
            "--target",
            "host",
        ],
    )
    .success();
    std::fs::create_dir(tmp.path().join("b")).unwrap();
    for f in ["secrets.env", "tls"] {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(tmp.path().join("a").join(f))
            .arg(tmp.path().join("b"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let args = [
        "--env",
        "production",
        "--target",
        "host",
        "--templates",
        "team",
    ];
    run(tmp.path(), &[&["render", "--out", "b"][..], &args].concat()).success();
    for rel in ["redis.conf", "users.acl", ".gitignore"] {
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(rel)).unwrap(),
            std::fs::read(tmp.path().join("b").join(rel)).unwrap(),
            "{rel}"
        );
    }

    // Exporting again over identical files is fine.
    let before = tree(tmp.path());
    run(tmp.path(), &["templates", "export", "team"]).success();
    assert!(tree(tmp.path()) == before);

    // A differing file is never overwritten, and nothing else is written either.
    let edited = dir.join("redis.conf.tera");
    std::fs::write(&edited, "# ours\n").unwrap();
    std::fs::remove_file(dir.join("users.acl.tera")).unwrap();
    let before = tree(tmp.path());
    let r = run(tmp.path(), &["templates", "export", "team"]);
    r.failure(2);
    r.stderr_has("redis.conf.tera").stderr_has("help: ");
    assert!(tree(tmp.path()) == before, "a refused export wrote");
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "# ours\n");
}

// ---------------------------------------------------------------------------------------
// extends, the profile's templates: key, errors

#[test]
fn a_team_template_extending_the_builtin_adds_lines_and_passes_the_gate() {
    let team = Team::new(&[
        (
            "redis.conf.tera",
            "{% extends \"builtin/redis.conf.tera\" %}\n\
             {% block header %}# Team payments: reviewed by security.\n{% endblock header %}\n\
             {% block extra %}\n# Ours.\nlatency-monitor-threshold 100\n{% endblock extra %}\n",
        ),
        (
            "users.acl.tera",
            &extends(
                "users.acl.tera",
                "extra",
                "user reporter off resetkeys resetchannels ~reports:* -@all +get",
            ),
        ),
    ]);
    let r = team.run("init", "production", "out", &[]);
    r.success();
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let conf = team.read("out", "redis.conf");
    assert!(
        conf.lines().any(|l| l == "latency-monitor-threshold 100"),
        "{conf}"
    );
    assert!(conf.contains("# Team payments: reviewed by security.\n"));
    // Everything the built-in renders is still there, in order, around the additions.
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        &["init", "--env", "production", "--out", "plain"],
    )
    .success();
    let plain = std::fs::read_to_string(tmp.path().join("plain/redis.conf")).unwrap();
    let ours = directives(&conf);
    let theirs = directives(&plain);
    let ours_without: Vec<&str> = ours
        .iter()
        .filter(|l| **l != "latency-monitor-threshold 100")
        .copied()
        .collect();
    assert_eq!(
        ours_without.len(),
        theirs.len(),
        "ours:\n{conf}\nbuilt-in:\n{plain}"
    );
    let acl = team.read("out", "users.acl");
    assert!(
        acl.lines().any(|l| l.starts_with("user reporter off")),
        "{acl}"
    );
    assert!(
        acl.lines().any(|l| l.starts_with("user default off")),
        "{acl}"
    );

    // check agrees with the team's rendering; the manifest recorded the template
    // directory, so a check without --templates uses it too.
    let r = team.run("check", "production", "out", &[]);
    r.success();
    let r = run(
        team.cwd(),
        &["check", "--env", "production", "--out", "out"],
    );
    r.success();
}

#[test]
fn templates_in_the_profile_file_works_like_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let conf_dir = tmp.path().join("conf");
    std::fs::create_dir_all(conf_dir.join("team")).unwrap();
    std::fs::write(
        conf_dir.join("team/redis.conf.tera"),
        extends("redis.conf.tera", "extra", "latency-monitor-threshold 100"),
    )
    .unwrap();
    // Relative to the profile file, not to the working directory.
    std::fs::write(conf_dir.join("team.yaml"), "version: 1\ntemplates: team\n").unwrap();
    let host = ["--env", "production", "--target", "host"];
    run(
        tmp.path(),
        &[
            &["init", "--out", "a", "--profile", "conf/team.yaml"][..],
            &host,
        ]
        .concat(),
    )
    .success();
    let a = std::fs::read_to_string(tmp.path().join("a/redis.conf")).unwrap();
    assert!(
        a.lines().any(|l| l == "latency-monitor-threshold 100"),
        "{a}"
    );

    // The flag gives the same bytes (same secrets: render into a copy).
    std::fs::create_dir(tmp.path().join("b")).unwrap();
    for f in ["secrets.env", "tls"] {
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(tmp.path().join("a").join(f))
            .arg(tmp.path().join("b"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    run(
        tmp.path(),
        &[
            &["render", "--out", "b", "--templates", "conf/team"][..],
            &host,
        ]
        .concat(),
    )
    .success();
    for rel in ["redis.conf", "users.acl"] {
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(rel)).unwrap(),
            std::fs::read(tmp.path().join("b").join(rel)).unwrap(),
            "{rel}"
        );
    }
    // check with the profile is green; so is one without it (the manifest recorded it).
    run(
        tmp.path(),
        &[
            &["check", "--out", "a", "--profile", "conf/team.yaml"][..],
            &host,
        ]
        .concat(),
    )
    .success();
    run(tmp.path(), &[&["check", "--out", "a"][..], &host].concat()).success();

    // The implicit ./redis-harden.yaml is read the same way, from the working directory.
    std::fs::write(
        tmp.path().join("redis-harden.yaml"),
        "version: 1\ntemplates: conf/team\n",
    )
    .unwrap();
    run(tmp.path(), &[&["check", "--out", "a"][..], &host].concat()).success();

    // --templates wins over the profile's `templates:`.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("redis.conf.tera"),
        extends("redis.conf.tera", "extra", "latency-monitor-threshold 200"),
    )
    .unwrap();
    run(
        tmp.path(),
        &[&["render", "--out", "a", "--templates", "other"][..], &host].concat(),
    )
    .success();
    let a = std::fs::read_to_string(tmp.path().join("a/redis.conf")).unwrap();
    assert!(
        a.lines().any(|l| l == "latency-monitor-threshold 200"),
        "{a}"
    );
    assert!(!a.contains("latency-monitor-threshold 100"), "{a}");
}

/// A template error: exit 2, the team file's name and the line in stderr, nothing written,
/// from `init` into a fresh directory and from `init`, `render` and `check` over a bundle.
#[track_caller]
fn assert_template_error(file: &str, text: &str, line: usize) {
    let team = Team::new(&[(file, text)]);
    let assert_points_at_it = |command: &str, r: &Run| {
        r.failure(2);
        assert!(r.stdout.is_empty(), "{command}: {}", r.stdout);
        r.stderr_has("error: ")
            .stderr_has(file)
            .stderr_has("help: ");
        assert!(
            r.stderr.contains(&format!("{file}:{line}")),
            "{command}: stderr does not point at {file}:{line}:\n{}",
            r.stderr
        );
    };
    let before = tree(team.cwd());
    assert_points_at_it("init", &team.run("init", "production", "out", &[]));
    assert!(
        tree(team.cwd()) == before,
        "init wrote after a template error"
    );
    assert!(!team.out("out").exists());

    run(
        team.cwd(),
        &["init", "--env", "production", "--out", "bundle"],
    )
    .success();
    let before = tree(team.cwd());
    for command in ["init", "render", "check"] {
        assert_points_at_it(command, &team.run(command, "production", "bundle", &[]));
        assert!(
            tree(team.cwd()) == before,
            "{command} wrote after a template error"
        );
    }
}

#[test]
fn a_template_syntax_error_names_the_file_and_line() {
    // Line 4 opens an expression that is never closed.
    let text = "{% extends \"builtin/redis.conf.tera\" %}\n{% block extra %}\n# fine\nlatency-monitor-threshold {{ redis.port \n{% endblock extra %}\n";
    assert_template_error("redis.conf.tera", text, 5);
    // An unclosed tag in a full replacement of the ACL file.
    assert_template_error(
        "users.acl.tera",
        "user default off -@all\n{% if true %}\nuser x off\n",
        4,
    );
}

#[test]
fn an_undefined_variable_names_the_file_and_line() {
    let text = "{% extends \"builtin/redis.conf.tera\" %}\n{% block extra %}\n\nmaxmemory-samples {{ redis.no_such_value }}\n{% endblock extra %}\n";
    assert_template_error("redis.conf.tera", text, 4);
    let team = Team::new(&[("redis.conf.tera", text)]);
    team.run("init", "production", "out", &[])
        .stderr_has("no_such_value");

    // A top-level name too, in a full replacement.
    assert_template_error("users.acl.tera", "user default off -@all\n{{ nope }}\n", 2);
}

// ---------------------------------------------------------------------------------------
// The policy gate

/// One way of breaking one rule.
struct Case {
    rule: &'static str,
    env: &'static str,
    /// Extra arguments of every run (target, engine).
    args: Vec<&'static str>,
    /// Team files that break the rule.
    files: Vec<(&'static str, String)>,
    /// The artifact the finding names.
    artifact: &'static str,
    /// Text that must never reach stderr (a password in the offending line).
    secret: Option<&'static str>,
}

impl Case {
    fn conf(rule: &'static str, env: &'static str, line: &str) -> Case {
        Case {
            rule,
            env,
            args: vec![],
            files: vec![("redis.conf.tera", extends("redis.conf.tera", "extra", line))],
            artifact: "redis.conf",
            secret: None,
        }
    }

    fn acl(rule: &'static str, users_acl: String) -> Case {
        Case {
            rule,
            env: "production",
            args: vec![],
            files: vec![("users.acl.tera", users_acl)],
            artifact: "users.acl",
            secret: None,
        }
    }
}

/// A well-formed ACL password hash: `#` and 64 hex digits.
const HASH: &str = "#0c4c42c5a1d2ef8d6f5e5cfb4a8b8ef7a5b0f4b1f3e2c1d0a9b8c7d6e5f4a3b2";

fn redis_cases() -> Vec<Case> {
    let acl = builtin("users.acl.tera");
    let conf = builtin("redis.conf.tera");
    let default_on = acl.replace("user default off", "user default on");
    assert_ne!(default_on, acl, "the built-in ACL has `user default off`");
    let without_aclfile: String = conf
        .lines()
        .filter(|l| !l.trim_start().starts_with("aclfile "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        without_aclfile, conf,
        "the built-in redis.conf has an aclfile line"
    );
    vec![
        Case::conf("plaintext-port", "production", "port 6380"),
        Case::conf("plaintext-bind", "testing", "bind 10.0.0.5"),
        Case::conf(
            "tls-protocols",
            "production",
            "tls-protocols \"TLSv1.2 TLSv1.3\"",
        ),
        Case::conf(
            "tls-auth-clients",
            "production",
            "tls-auth-clients optional",
        ),
        Case::conf("tls-auth-clients", "staging", "tls-auth-clients no"),
        Case::conf("protected-mode", "production", "protected-mode no"),
        Case::conf(
            "include-directive",
            "production",
            "include /etc/redis/local.conf",
        ),
        Case::conf("debug-command", "production", "enable-debug-command local"),
        Case::conf("module-command", "production", "enable-module-command yes"),
        Case::conf(
            "protected-configs",
            "production",
            "enable-protected-configs yes",
        ),
        Case {
            files: vec![("redis.conf.tera", without_aclfile)],
            ..Case::conf("aclfile", "production", "")
        },
        Case::conf(
            "user-in-conf",
            "production",
            &format!("user ops off {HASH} -@all"),
        ),
        Case {
            secret: Some("Hunter2Hunter2"),
            ..Case::conf(
                "password-in-conf",
                "production",
                "masterauth Hunter2Hunter2",
            )
        },
        Case {
            secret: Some("Hunter2Hunter2"),
            ..Case::conf("password-in-conf", "staging", "requirepass Hunter2Hunter2")
        },
        Case::acl("default-user", default_on),
        Case::acl(
            "default-user-password",
            acl.replace(
                "user default off resetpass",
                &format!("user default on resetpass {HASH}"),
            ),
        ),
        Case::conf(
            "unix-socket",
            "production",
            "unixsocket /run/redis/redis.sock\nunixsocketperm 777",
        ),
        Case::conf("trust-anchor", "staging", "tls-ca-cert-dir /etc/ssl/certs"),
        Case::conf("unloadable-line", "production", "port 0 6380"),
        Case {
            secret: Some("Hunter2Hunter2"),
            ..Case::acl(
                "acl-plaintext-password",
                extends(
                    "users.acl.tera",
                    "extra",
                    "user worker on >Hunter2Hunter2 resetkeys ~jobs:* -@all +get",
                ),
            )
        },
        Case::acl(
            "acl-plaintext-password",
            extends(
                "users.acl.tera",
                "extra",
                "user worker on nopass resetkeys ~jobs:* -@all +get",
            ),
        ),
        Case::acl(
            "app-permissions",
            extends(
                "users.acl.tera",
                "extra",
                &format!("user worker on {HASH} ~* +@all -@dangerous -@admin"),
            ),
        ),
        Case::acl(
            "app-permissions",
            extends(
                "users.acl.tera",
                "extra",
                &format!("user worker on {HASH} ~* -@all +@read +flushall"),
            ),
        ),
        Case::conf("bind-all-interfaces", "production", "bind 0.0.0.0 -::1"),
        Case::conf("bind-all-interfaces", "staging", "bind * -::*"),
        Case::conf("weak-ciphers", "staging", "tls-ciphers \"HIGH:RC4-SHA\""),
        Case::conf("tls-replication", "production", "tls-replication no"),
        Case::conf(
            "weak-ciphers",
            "production",
            "tls-ciphersuites TLS_AES_128_CCM_8_SHA256",
        ),
        Case::conf("memory-limit", "testing", "maxmemory 0"),
        Case::conf("data-dir", "development", "dir /tmp"),
        Case::acl(
            "unloadable-line",
            extends(
                "users.acl.tera",
                "extra",
                &format!("user worker on {HASH} ~jobs:* -@all +@all|x"),
            ),
        ),
        // A directive of another version (Redis 8.0's) in a Redis 7.0 bundle: 7.0 would not start.
        Case::conf(
            "unknown-directive",
            "production",
            "hide-user-data-from-log yes",
        ),
        // A typo in a deny rule: Redis would refuse the file, and it denied nothing.
        Case::acl(
            "unknown-command",
            acl.replace(
                "+@all -@dangerous -@admin -@scripting",
                "+@all -@dangerous -@admin -@scripting -flushal",
            ),
        ),
        Case::acl(
            "monitoring-permissions",
            // Key access: what a leaked exporter password must never give.
            acl.replace(
                "resetkeys resetchannels -@all +ping +info",
                "resetkeys resetchannels ~* -@all +ping +info",
            ),
        ),
    ]
}

/// Every rule id `--allow-insecure` knows, from its own error message.
fn known_rules() -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--allow-insecure",
            "no-such-rule",
        ],
    );
    r.failure(2);
    let help = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("help: rules: "))
        .unwrap_or_else(|| panic!("no rule list:\n{}", r.stderr));
    help.split(", ").map(|s| s.trim().to_owned()).collect()
}

/// The gate's verdict on one case: refused into a fresh and over an existing bundle (init and
/// render), accepted with `--allow-insecure`, and a warning on every run.
fn assert_gate(case: &Case) {
    let ctx = format!("{} ({} {:?})", case.rule, case.env, case.args);
    let files: Vec<(&str, &str)> = case.files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let team = Team::new(&files);

    // A fresh --out: refused, nothing created.
    let before = tree(team.cwd());
    let r = team.run("init", case.env, "fresh", &case.args);
    r.failure(1);
    assert!(r.stdout.is_empty(), "{ctx}: stdout:\n{}", r.stdout);
    let finding = r
        .stderr
        .lines()
        .find(|l| l.contains(&format!("[{}]", case.rule)))
        .unwrap_or_else(|| panic!("{ctx}: no finding for the rule:\n{}", r.stderr));
    assert!(
        finding.trim_start().starts_with(case.artifact),
        "{ctx}: the finding names another artifact: {finding}"
    );
    assert!(
        r.stderr
            .contains(&format!("--allow-insecure {}", case.rule)),
        "{ctx}: the help names the rule's switch:\n{}",
        r.stderr
    );
    if let Some(secret) = case.secret {
        assert!(
            !r.stderr.contains(secret),
            "{ctx}: a password in stderr:\n{}",
            r.stderr
        );
    }
    assert!(
        !team.out("fresh").exists(),
        "{ctx}: a refused init created --out"
    );
    assert!(tree(team.cwd()) == before, "{ctx}: a refused init wrote");

    // An existing bundle (made with the built-ins): unchanged by init and by render.
    let mut args = vec!["init", "--env", case.env, "--out", "bundle"];
    args.extend_from_slice(&case.args);
    run(team.cwd(), &args).success();
    let before = tree(team.cwd());
    for command in ["init", "render"] {
        let r = team.run(command, case.env, "bundle", &case.args);
        r.failure(1);
        assert!(
            r.stderr.contains(&format!("[{}]", case.rule)),
            "{ctx}: {command}:\n{}",
            r.stderr
        );
        assert!(
            tree(team.cwd()) == before,
            "{ctx}: a refused {command} changed the bundle"
        );
    }
    // check sees the same problem (as a policy finding) and writes nothing.
    let r = team.run("check", case.env, "bundle", &case.args);
    r.failure(1);
    assert!(
        r.stdout.contains(&format!("[{}]", case.rule)),
        "{ctx}: check:\n{}",
        r.stdout
    );
    assert!(tree(team.cwd()) == before);

    // Accepted on purpose: written, with a warning and a loud comment.
    let mut allowed = case.args.clone();
    allowed.extend(["--allow-insecure", case.rule]);
    for run_no in 0..2 {
        let r = team.run("init", case.env, "accepted", &allowed);
        r.success();
        let warning = r
            .stderr
            .lines()
            .find(|l| l.starts_with("warning: INSECURE"))
            .unwrap_or_else(|| panic!("{ctx}: run {run_no}: no INSECURE warning:\n{}", r.stderr));
        assert!(warning.contains(case.rule), "{ctx}: {warning}");
        if let Some(secret) = case.secret {
            assert!(!r.stderr.contains(secret), "{ctx}: a password in stderr");
        }
    }
    // ACL files take no comments: the notice goes into redis.conf.
    let noted = if case.artifact.ends_with(".acl") {
        "redis.conf"
    } else {
        case.artifact
    };
    let text = team.read("accepted", noted);
    let loud = text
        .lines()
        .find(|l| l.contains("!!! INSECURE"))
        .unwrap_or_else(|| panic!("{ctx}: no loud comment in {noted}:\n{text}"));
    assert!(loud.starts_with('#'), "{ctx}: {loud}");
    assert!(loud.contains(case.rule), "{ctx}: {loud}");
    // A re-run does not stack another copy of the comment.
    assert_eq!(
        text.matches("!!! INSECURE").count(),
        1,
        "{ctx}: the comment is repeated:\n{text}"
    );
    // render warns too.
    let r = team.run("render", case.env, "accepted", &allowed);
    r.success().stderr_has("warning: INSECURE");
}

#[test]
fn every_redis_policy_rule_is_enforced_on_team_templates() {
    let cases = redis_cases();
    // Every rule a Redis bundle can break has a case (compose and Dragonfly rules are tested
    // below when those templates exist).
    let rules = known_rules();
    for rule in &rules {
        // rename-command and user-data-in-log are advisory (low severity): warned about, not
        // refused (rename-command below; user-data-in-log in servers.rs). app-scripting too
        // (acl.app.scripting): tests/frameworks.rs.
        // kubernetes-hardening: tests/kubernetes.rs (a k8s template regressed, refused and accepted).
        if rule.starts_with("dragonfly-")
            || rule.starts_with("compose-")
            || rule.starts_with("kubernetes-")
            || rule == "rename-command"
            || rule == "user-data-in-log"
            || rule == "app-scripting"
        {
            continue;
        }
        assert!(
            cases.iter().any(|c| c.rule == rule),
            "no test case for rule {rule}"
        );
    }
    for case in &cases {
        assert!(
            rules.iter().any(|r| r == case.rule),
            "--allow-insecure does not know {}",
            case.rule
        );
        assert_gate(case);
    }
}

#[test]
fn compose_published_port_is_enforced_when_compose_is_rendered() {
    assert!(
        listed().iter().any(|n| n == "docker-compose.yml.tera"),
        "docker-compose.yml.tera is not built in"
    );
    let compose = "# Team compose file.\nservices:\n  redis:\n    image: \"redis:7.0.15-bookworm\"\n    user: \"999:999\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    ports:\n      - \"6379:6379\"\n";
    assert_gate(&Case {
        rule: "compose-published-port",
        env: "production",
        args: vec!["--target", "docker"],
        files: vec![("docker-compose.yml.tera", compose.to_owned())],
        artifact: "docker-compose.yml",
        secret: None,
    });
    // Publishing on loopback only passes.
    let team = Team::new(&[(
        "docker-compose.yml.tera",
        &compose.replace("\"6379:6379\"", "\"127.0.0.1:6379:6379\""),
    )]);
    team.run("init", "production", "out", &["--target", "docker"])
        .success();
}

#[test]
fn dragonfly_rules_are_enforced_when_dragonfly_is_rendered() {
    assert!(
        listed().iter().any(|n| n == "dragonfly.flags.tera"),
        "dragonfly.flags.tera is not built in"
    );
    let flags = |line: &str| {
        vec![(
            "dragonfly.flags.tera",
            extends("dragonfly.flags.tera", "extra", line),
        )]
    };
    for (rule, line) in [
        ("dragonfly-http-console", "--primary_port_http_enabled=true"),
        ("dragonfly-admin-port", "--admin_port=9999"),
    ] {
        assert_gate(&Case {
            rule,
            env: "production",
            args: vec!["--engine", "dragonfly"],
            files: flags(line),
            artifact: "dragonfly.flags",
            secret: None,
        });
    }
}

#[test]
fn an_unknown_rule_is_refused_with_the_list_of_rules() {
    let tmp = tempfile::tempdir().unwrap();
    for command in ["init", "render", "check"] {
        let r = run(
            tmp.path(),
            &[
                command,
                "--env",
                "production",
                "--out",
                "out",
                "--allow-insecure",
                "no-such-rule",
            ],
        );
        r.failure(2);
        r.stderr_has("no-such-rule")
            .stderr_has("plaintext-port")
            .stderr_has("default-user")
            .stderr_has("app-permissions");
        assert!(!tmp.path().join("out").exists());
    }
    assert!(known_rules().len() >= 15, "{:?}", known_rules());
}

#[test]
fn allowing_one_rule_does_not_let_another_through() {
    let team = Team::new(&[
        (
            "redis.conf.tera",
            &extends(
                "redis.conf.tera",
                "extra",
                "protected-mode no\nenable-debug-command yes",
            ),
        ),
        (
            "users.acl.tera",
            &extends(
                "users.acl.tera",
                "extra",
                "user worker on nopass ~* -@all +get",
            ),
        ),
    ]);
    let all = ["protected-mode", "debug-command", "acl-plaintext-password"];
    for allowed in all {
        let r = team.run("init", "production", "out", &["--allow-insecure", allowed]);
        r.failure(1);
        for rule in all {
            assert_eq!(
                r.stderr.contains(&format!("[{rule}]")),
                rule != allowed,
                "allowing {allowed}: {rule}\n{}",
                r.stderr
            );
        }
        assert!(!team.out("out").exists(), "allowing {allowed} wrote");
    }
    // Two of three is still refused; all three is accepted, with a warning for each.
    let r = team.run(
        "init",
        "production",
        "out",
        &[
            "--allow-insecure",
            "protected-mode",
            "--allow-insecure",
            "debug-command",
        ],
    );
    r.failure(1).stderr_has("[acl-plaintext-password]");
    assert!(!team.out("out").exists());
    let mut args = vec![];
    for rule in all {
        args.extend(["--allow-insecure", rule]);
    }
    let r = team.run("init", "production", "out", &args);
    r.success();
    for rule in all {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("warning: INSECURE") && l.contains(rule)),
            "{rule}:\n{}",
            r.stderr
        );
    }
}

#[test]
fn a_weakened_profile_value_is_refused_with_the_builtin_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let weak = [
        "--set",
        "tls.protocols=[TLSv1.2, TLSv1.3]",
        "--set",
        "tls.ciphers=intermediate",
    ];
    for command in ["init", "render"] {
        let r = run(
            tmp.path(),
            &[&[command, "--env", "production", "--out", "out"][..], &weak].concat(),
        );
        if command == "render" {
            // Nothing to render from yet: refused before the gate, still nothing written.
            assert_ne!(r.code, 0);
        } else {
            r.failure(1);
            r.stderr_has("[tls-protocols]").stderr_has("redis.conf");
        }
        assert!(!tmp.path().join("out").exists());
    }
    // Over an existing bundle: unchanged.
    run(tmp.path(), &["init", "--env", "production", "--out", "out"]).success();
    let before = tree(tmp.path());
    for command in ["init", "render"] {
        let r = run(
            tmp.path(),
            &[&[command, "--env", "production", "--out", "out"][..], &weak].concat(),
        );
        r.failure(1).stderr_has("[tls-protocols]");
        assert!(tree(tmp.path()) == before, "{command} wrote");
    }
    // check reports it as a policy finding.
    let r = run(
        tmp.path(),
        &[&["check", "--env", "production", "--out", "out"][..], &weak].concat(),
    );
    r.failure(1).stdout_has("[tls-protocols]");
    // Accepted on purpose, it is written with the notice.
    let r = run(
        tmp.path(),
        &[
            &["init", "--env", "production", "--out", "out"][..],
            &weak,
            &["--allow-insecure", "tls-protocols"],
        ]
        .concat(),
    );
    r.success().stderr_has("warning: INSECURE");
    let conf = std::fs::read_to_string(tmp.path().join("out/redis.conf")).unwrap();
    assert!(conf.starts_with("# !!! INSECURE"), "{conf}");
    assert!(conf.contains("tls-protocols \"TLSv1.2 TLSv1.3\""), "{conf}");
}

/// After an accepted rule, the bundle is what the same flags render: `check` with them is
/// green (and warns, like every run), rather than reporting the loud comment as drift.
#[test]
fn check_agrees_with_a_bundle_written_with_allow_insecure() {
    let team = Team::new(&[(
        "redis.conf.tera",
        &extends("redis.conf.tera", "extra", "protected-mode no"),
    )]);
    let flags = ["--allow-insecure", "protected-mode"];
    team.run("init", "production", "out", &flags).success();
    let r = team.run("check", "production", "out", &flags);
    r.success();
    r.stderr_has("warning: INSECURE");
}

// ---------------------------------------------------------------------------------------
// Gate bypasses: lines that weaken the server exactly like a rule's, but that the gate lets
// through. Each was confirmed against redis-server 7.0.15.

/// Refused with `rule` in stderr, nothing written.
#[track_caller]
fn assert_refused(files: &[(&str, &str)], env: &str, rule: &str) {
    let team = Team::new(files);
    let r = team.run("init", env, "out", &[]);
    r.failure(1);
    assert!(
        r.stderr.contains(&format!("[{rule}]")),
        "{rule}:\n{}",
        r.stderr
    );
    assert!(!team.out("out").exists());
}

/// `tls-protocols ""` is NULL to Redis (EMPTY_STRING_IS_NULL): its default, TLSv1.2 and
/// TLSv1.3, where production allows only TLSv1.3. A TLSv1.2 handshake succeeds.
#[test]
fn an_empty_tls_protocols_is_refused() {
    let conf = extends("redis.conf.tera", "extra", "tls-protocols \"\"");
    assert_refused(&[("redis.conf.tera", &conf)], "production", "tls-protocols");
}

/// `aclfile ""` means no ACL file: Redis's default user (on, nopass, +@all) serves every
/// connection without a password.
#[test]
fn an_empty_aclfile_is_refused() {
    let conf = extends("redis.conf.tera", "extra", "aclfile \"\"");
    assert_refused(&[("redis.conf.tera", &conf)], "production", "aclfile");
}

/// `::0` and `0:0:0:0:0:0:0:0` are the IPv6 any-address spelled differently.
#[test]
fn another_spelling_of_all_interfaces_is_refused() {
    for bind in ["bind ::0", "bind 0:0:0:0:0:0:0:0"] {
        let conf = extends("redis.conf.tera", "extra", bind);
        assert_refused(
            &[("redis.conf.tera", &conf)],
            "production",
            "bind-all-interfaces",
        );
    }
}

/// Categories that overlap @dangerous/@admin/@scripting re-grant their commands when added
/// after them (`+@slow` gives back CONFIG, SHUTDOWN, EVAL...; `+@write` gives back FLUSHALL),
/// and a selector `(+@all ~*)` grants everything. ACL DRYRUN confirms each.
#[test]
fn regranting_dangerous_commands_is_refused() {
    for rules in [
        "~* +@all -@dangerous -@admin -@scripting +@slow",
        "~* +@all -@dangerous -@admin -@scripting +@write",
        "~* -@all +@read +@keyspace",
        "~* +@all -@dangerous -@admin -@scripting (+@all ~*)",
    ] {
        let acl = extends(
            "users.acl.tera",
            "extra",
            &format!("user worker on {HASH} {rules}"),
        );
        assert_refused(&[("users.acl.tera", &acl)], "production", "app-permissions");
    }
}

/// Renaming commands is weaker than ACLs but not a hole: the gate writes the file and says so.
#[test]
fn rename_command_is_an_advisory() {
    let conf = extends("redis.conf.tera", "extra", "rename-command FLUSHALL \"\"");
    let team = Team::new(&[("redis.conf.tera", &conf)]);
    let r = team.run("init", "production", "out", &[]);
    r.success().stderr_has("rename-command");
    assert!(
        team.read("out", "redis.conf")
            .contains("rename-command FLUSHALL")
    );
}

/// `include` pulls in directives the gate never sees.
#[test]
fn include_is_refused() {
    let conf = extends("redis.conf.tera", "extra", "include /etc/redis/local.conf");
    let team = Team::new(&[("redis.conf.tera", &conf)]);
    team.run("init", "production", "out", &[]).failure(1);
    assert!(!team.out("out").exists());
}

/// With `--engine dragonfly`, an accepted rule of dragonfly.acl (which takes no comments)
/// must be noted in the file Dragonfly reads, dragonfly.flags, not in a redis.conf it ignores
/// (and that may not be rendered for Dragonfly at all, which would drop the notice).
#[test]
fn an_accepted_dragonfly_acl_rule_is_noted_in_the_flagfile() {
    assert!(
        listed().iter().any(|n| n == "dragonfly.acl.tera"),
        "dragonfly.acl.tera is not built in"
    );
    let team = Team::new(&[(
        "dragonfly.acl.tera",
        &extends(
            "dragonfly.acl.tera",
            "extra",
            "USER worker on nopass ~* -@all +get",
        ),
    )]);
    let args = ["--engine", "dragonfly"];
    let r = team.run("init", "production", "out", &args);
    r.failure(1).stderr_has("dragonfly.acl");
    let allowed = [&args[..], &["--allow-insecure", "acl-plaintext-password"]].concat();
    team.run("init", "production", "out", &allowed).success();
    let flags = team.read("out", "dragonfly.flags");
    assert!(flags.contains("!!! INSECURE"), "{flags}");
}

/// Tera that renders nothing when `name` exists and fails, naming it, when it does not.
fn must_exist(name: &str) -> String {
    format!(
        "{{% if {name} is undefined %}}{{{{ undocumented_{} }}}}{{% endif %}}",
        name.replace(['.', '[', ']'], "_")
    )
}

/// docs/templates.md's Kubernetes variables, used by team overrides of two k8s templates:
/// `k8s-statefulset.yaml.tera` (extends the built-in; its `extra` block adds a
/// PodDisruptionBudget per StatefulSet from `workloads`, `k8s.*` and `project`, and names every
/// variable listed for all templates and for each workload) and `k8s-secrets.yaml.tera` (names
/// the secret-only ones). Every kind renders and passes the gate (and kubernetes-validate
/// --strict); an undocumented name, or a secret-only one in the StatefulSet template, fails
/// with exit 2. (A team override that makes a pod privileged is refused:
/// `kubernetes::the_gate_refuses_a_team_template_that_regresses_the_pod`.)
#[test]
fn a_team_kubernetes_template_using_the_documented_variables_passes_the_gate() {
    crate::support::require(
        "kubernetes-validate",
        "pip install kubernetes-validate checkov",
    );
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/templates.md"))
            .unwrap();
    let tables = crate::docs::context_tables(&text, "## Kubernetes template context");
    assert_eq!(tables.len(), 3, "{tables:?}");
    let (every, each, secret) = (&tables[0], &tables[1], &tables[2]);
    assert!(
        every.len() >= 20 && each.len() >= 10 && secret.len() >= 5,
        "{tables:?}"
    );
    let checks = |names: &[String]| -> String { names.iter().map(|n| must_exist(n)).collect() };
    let per_workload: String = each
        .iter()
        .map(|n| must_exist(&n.replace("workloads[]", "w")))
        .collect();
    let pdb = "{% for w in workloads %}{% if w.kind == \"StatefulSet\" %}
---
# Team addition for {{ project }}: at most one pod of {{ w.name }} down at a time.
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ (w.name ~ \"-pdb\") | yaml_quote }}
  namespace: {{ k8s.namespace | yaml_quote }}
  labels:
{%- for l in k8s.labels %}
    {{ l.key | yaml_quote }}: {{ l.value | yaml_quote }}
{%- endfor %}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
{%- for l in w.labels %}
      {{ l.key | yaml_quote }}: {{ l.value | yaml_quote }}
{%- endfor %}
{% endif %}{% endfor %}";
    let sts = |extra: &str| {
        extends(
            "k8s-statefulset.yaml.tera",
            "extra",
            &format!(
                "{}{{% for w in workloads %}}{per_workload}{{% endfor %}}{extra}{pdb}",
                checks(every)
            ),
        )
    };
    let team = Team::new(&[
        ("k8s-statefulset.yaml.tera", &sts("")),
        (
            "k8s-secrets.yaml.tera",
            &extends(
                "k8s-secrets.yaml.tera",
                "extra",
                &(checks(every) + &checks(secret)),
            ),
        ),
    ]);
    let k8s = ["--target", "kubernetes", "--set"];
    for (kind, sets) in [
        ("standalone", vec!["redis"]),
        ("sentinel", vec!["redis", "redis-sentinel"]),
        ("cluster", vec!["redis"]),
    ] {
        let set = format!("topology.kind={kind}");
        let mut extra = k8s.to_vec();
        extra.push(&set);
        let r = team.run("init", "production", kind, &extra);
        r.success();
        let out = team.read(kind, "k8s/statefulset.yaml");
        let pdbs: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("  name: \"")?.strip_suffix("-pdb\""))
            .collect();
        assert_eq!(pdbs, sets, "{kind}:\n{out}");
        let v = std::process::Command::new("kubernetes-validate")
            .args(["--strict", "-k", "1.29.0"])
            .arg(team.out(kind).join("k8s/statefulset.yaml"))
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
    // An undocumented name fails, so the checks above can fail; so does a secret-only name
    // in a template of a file others may read.
    for name in ["k8s.no_such_thing", "secret.passwords"] {
        team.file("k8s-statefulset.yaml.tera", &sts(&must_exist(name)));
        let r = team.run("init", "production", "bad", &["--target", "kubernetes"]);
        r.failure(2)
            .stderr_has("k8s-statefulset.yaml.tera")
            .stderr_has(&name.replace('.', "_"));
        assert!(
            tree(&team.out("bad")).is_empty(),
            "{name}: files were written"
        );
    }
}
