//! The conventions of a mature CLI: shell completions that load in a real shell, a man page
//! that `man` renders, a JSON Schema of the profile that a real validator applies, one flag
//! name per idea, `--profile -`, and error messages that point at the line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{BIN, Run, require, require_python, run};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `redis-harden ARGS` in `cwd` with `stdin` as its standard input.
fn run_stdin(cwd: &Path, args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C");
    let out = crate::support::output_with_stdin(&mut cmd, stdin);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What bash completes for the words of `line` (the last one being completed), using the
/// script `completions bash` printed, loaded the way bash-completion loads it.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source {script}
spec=$(complete -p redis-harden) || exit 3
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$fn" redis-harden "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display(),
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_loads_in_bash_and_completes_subcommands() {
    require("bash", "apt-get install -y bash");
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["completions", "bash"]);
    r.success();
    let script = tmp.path().join("redis-harden.bash");
    std::fs::write(&script, &r.stdout).unwrap();

    assert_eq!(bash_complete(&script, &["redis-harden", "ini"]), ["init"]);
    let rotate = bash_complete(&script, &["redis-harden", "rotate", ""]);
    for sub in ["passwords", "encryption-key", "certs", "ca"] {
        assert!(rotate.iter().any(|w| w == sub), "{sub} not in {rotate:?}");
    }
    let envs = bash_complete(&script, &["redis-harden", "init", "--env", "prod"]);
    assert_eq!(envs, ["production"]);
}

#[test]
fn zsh_and_fish_completions_are_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let zsh = run(tmp.path(), &["completions", "zsh"]);
    zsh.success().stdout_has("#compdef redis-harden");
    let fish = run(tmp.path(), &["completions", "fish"]);
    fish.success()
        .stdout_has("complete -c redis-harden")
        .stdout_has("rotate");
    run(tmp.path(), &["completions", "tcsh"])
        .failure(2)
        .stderr_has("invalid value 'tcsh'");
}

#[test]
fn the_man_page_renders_with_man() {
    require("man", "apt-get install -y man-db");
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["man"]);
    r.success();
    let page = tmp.path().join("redis-harden.1");
    std::fs::write(&page, &r.stdout).unwrap();
    let out = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .env("LANG", "C")
        .output()
        .expect("run man");
    // Justified text: compare with single spaces.
    let text = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "man failed: {warnings}");
    assert!(warnings.trim().is_empty(), "man warned: {warnings}");
    for needle in [
        "redis-harden - Render a hardened Redis deployment",
        "redis-harden-init - Create or refresh a deployment bundle",
        "redis-harden-rotate-ca - A new CA",
        "--warn-days",
        "Exit codes: 0 success",
    ] {
        assert!(text.contains(needle), "man page lacks {needle:?}:\n{text}");
    }
}

/// Every example profile (walked like tests/examples.rs), as JSON for the validator.
fn example_profiles_as_json(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = vec![];
    let mut stack = vec![root().join("examples")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let skip = path
                .file_name()
                .is_some_and(|n| n == "ci" || n == "node_modules");
            if path.is_dir() && !skip {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let value: serde_json::Value = serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let json = dir.join(format!("example-{}.json", out.len()));
                std::fs::write(&json, serde_json::to_string(&value).unwrap()).unwrap();
                out.push((path, json));
            }
        }
    }
    out.sort();
    out
}

/// Validates each instance with Python's `jsonschema` (the reference implementation) and
/// returns its verdict per file: None when valid, else the validator's message.
fn validate(schema: &Path, instances: &[&Path]) -> Vec<Option<String>> {
    require_python("jsonschema", "jsonschema");
    let program = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.path))
    def say(e):
        # anyOf/oneOf failures keep the reasons of each branch in e.context.
        return "/".join(map(str, e.absolute_path)) + ": " + e.message + "".join(
            " | " + say(c) for c in e.context)
    print(json.dumps("; ".join(map(say, errors)) if errors else None))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(program)
        .arg(schema)
        .args(instances)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_example_profile_is_valid_against_the_schema_and_a_wrong_one_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), &["profile", "schema"]);
    r.success();
    let schema = tmp.path().join("schema.json");
    std::fs::write(&schema, &r.stdout).unwrap();

    let examples = example_profiles_as_json(tmp.path());
    assert!(examples.len() >= 3, "{examples:?}");
    let verdicts = validate(
        &schema,
        &examples
            .iter()
            .map(|(_, j)| j.as_path())
            .collect::<Vec<_>>(),
    );
    for ((yaml, _), verdict) in examples.iter().zip(&verdicts) {
        assert_eq!(verdict, &None, "{}", yaml.display());
    }

    // Each of these is refused by redis-harden too; the schema must refuse it in the editor.
    let wrong = [
        (
            r#"{"version": 1, "environments": {"production": {"redis": {"prot": 6380}}}}"#,
            "prot",
        ),
        (r#"{"version": 1, "environments": {"prod": {}}}"#, "prod"),
        (
            r#"{"version": 1, "environments": {"staging": {"redis": {"port": 70000}}}}"#,
            "70000",
        ),
        (
            r#"{"version": 1, "environments": {"staging": {"tls": {"client_auth": "maybe"}}}}"#,
            "maybe",
        ),
        (r#"{"version": 2}"#, "2"),
        (
            r#"{"version": 1, "environments": {"staging": {"acl": {"users": [{"name": "worker"}]}}}}"#,
            "commands",
        ),
        (
            r#"{"version": 1, "environments": {"staging": {"redis": {"maxmemory": "lots"}}}}"#,
            "lots",
        ),
    ];
    let paths: Vec<PathBuf> = wrong
        .iter()
        .enumerate()
        .map(|(i, (json, _))| {
            let p = tmp.path().join(format!("wrong-{i}.json"));
            std::fs::write(&p, json).unwrap();
            p
        })
        .collect();
    let verdicts = validate(
        &schema,
        &paths.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    );
    for ((json, needle), verdict) in wrong.iter().zip(verdicts) {
        let message = verdict.unwrap_or_else(|| panic!("the schema accepted {json}"));
        assert!(message.contains(needle), "{json}: {message}");
    }
}

#[test]
fn the_team_example_points_editors_at_the_schema() {
    let example = std::fs::read_to_string(root().join("examples/redis-harden.yaml")).unwrap();
    let first = example.lines().next().unwrap();
    let path = first
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| panic!("first line is {first:?}"));
    let schema = root().join("examples").join(path);
    assert!(schema.is_file(), "{} does not exist", schema.display());
}

#[test]
fn check_takes_warn_days_like_certs_and_audit_and_the_old_spelling_still_works() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["init", "--env", "development"]).success();
    // Development leaves live 365 days: a window of 400 reports them, 10 does not.
    for flag in ["--warn-days", "--renew-days"] {
        run(tmp.path(), &["check", "--env", "development", flag, "400"])
            .failure(1)
            .stdout_has("expires");
        run(tmp.path(), &["check", "--env", "development", flag, "10"]).success();
    }
    let help = run(tmp.path(), &["check", "--help"]);
    help.success().stdout_has("--warn-days");
    assert!(!help.stdout.contains("--renew-days <"), "{}", help.stdout);
    // The fix command check suggests drops both spellings.
    let r = run(
        tmp.path(),
        &["check", "--env", "development", "--renew-days", "400"],
    );
    r.failure(1).stderr_has("help: ");
    assert!(
        !r.stderr.contains("--renew-days") && !r.stderr.contains("--warn-days"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_and_audit_name_the_same_things_the_same_way_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["init", "--env", "production"]).success();
    let conf = tmp.path().join("deploy/production/redis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text + "protected-mode no\n").unwrap();

    // check: the edited file drifted; audit: the edit breaks a rule.
    let check = run(
        tmp.path(),
        &["check", "--env", "production", "--format", "json"],
    );
    check.failure(1);
    let audit = run(
        tmp.path(),
        &[
            "audit",
            "--env",
            "production",
            "--format",
            "json",
            "--fail-on",
            "medium",
        ],
    );
    audit.failure(1);
    let check: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let audit: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    for key in ["ok", "environment", "findings"] {
        assert!(
            check.get(key).is_some() && audit.get(key).is_some(),
            "{key}"
        );
    }
    assert_eq!(check["ok"], false);
    assert_eq!(audit["ok"], false);
    let first = |report: &serde_json::Value, field: &str, value: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[field] == value)
            .unwrap_or_else(|| panic!("no finding with {field} = {value}: {report}"))
            .clone()
    };
    let drift = first(&check, "kind", "drift");
    let rule = first(&audit, "rule", "protected-mode");
    // The file a finding is about, under one name in both.
    assert_eq!(drift["artifact"], "redis.conf", "{drift}");
    assert_eq!(rule["artifact"], "redis.conf", "{rule}");
    assert!(drift.get("file").is_none(), "{drift}");
}

#[test]
fn profile_dash_reads_standard_input() {
    let tmp = tempfile::tempdir().unwrap();
    let profile =
        "version: 1\nproject: shop\nenvironments:\n  staging:\n    redis:\n      port: 6390\n";
    let r = run_stdin(
        tmp.path(),
        &[
            "profile",
            "show",
            "--env",
            "staging",
            "--profile",
            "-",
            "--format",
            "json",
        ],
        profile,
    );
    r.success();
    let shown: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(shown["project"], "shop");
    assert_eq!(shown["redis"]["port"], 6390);

    // Errors name standard input, and the line.
    let r = run_stdin(
        tmp.path(),
        &["init", "--env", "staging", "--profile", "-"],
        "version: 1\nenvironments:\n  staging:\n    redis:\n      port: 0\n",
    );
    r.failure(2)
        .stderr_has("<stdin> (environments.staging), line 5: `redis.port` = 0");
    assert!(!tmp.path().join("deploy").exists());
}

#[test]
fn errors_in_profile_values_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = "version: 1\n\
                   environments:\n\
                   \x20 production:\n\
                   \x20   tls:\n\
                   \x20     hostnames: [redis.internal]\n\
                   \x20 staging:\n\
                   \x20   redis:\n\
                   \x20     bind: [10.0.0.5]\n\
                   \x20     maxclients: 0\n";
    std::fs::write(tmp.path().join("redis-harden.yaml"), profile).unwrap();
    let r = run(tmp.path(), &["profile", "show", "--env", "staging"]);
    r.failure(2)
        .stderr_has("redis-harden.yaml (environments.staging), line 9: `redis.maxclients` = 0");

    // A list item: the line of the item itself.
    let profile = "version: 1\nenvironments:\n  development:\n    tls:\n      hostnames:\n        - good.example\n        - \"bad name\"\n";
    std::fs::write(tmp.path().join("redis-harden.yaml"), profile).unwrap();
    let r = run(tmp.path(), &["profile", "show", "--env", "development"]);
    r.failure(2)
        .stderr_has("redis-harden.yaml (environments.development), line 7: `tls.hostnames[1]`");
}

#[test]
fn two_docker_bundles_of_one_environment_share_no_compose_name() {
    let tmp = tempfile::tempdir().unwrap();
    let mut names = vec![];
    for out in ["deploy/production", "deploy/production-eu"] {
        let r = run(
            tmp.path(),
            &[
                "init",
                "--env",
                "production",
                "--target",
                "docker",
                "--out",
                out,
            ],
        );
        r.success();
        let compose =
            std::fs::read_to_string(tmp.path().join(out).join("docker-compose.yml")).unwrap();
        let compose: serde_json::Value = serde_saphyr::from_str(&compose).unwrap();
        let next = r
            .stdout
            .lines()
            .find(|l| l.starts_with("next: "))
            .expect("a next: line")
            .to_owned();
        let project = next
            .split_once("docker compose -p ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no `docker compose -p` in {next}"))
            .to_owned();
        assert!(!next.contains("docker-compose -p"), "{next}");
        assert_eq!(
            next.starts_with("next: sudo "),
            !crate::support::running_as_root(),
            "{next}"
        );
        names.push((
            project,
            compose["networks"]["backend"]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
            compose["volumes"]["data"]["name"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    assert_eq!(
        names[0],
        (
            "redis-production".to_owned(),
            "redis-production-redis".to_owned(),
            "redis-production-redis-data".to_owned()
        )
    );
    let (a, b) = (&names[0], &names[1]);
    assert!(a.0 != b.0 && a.1 != b.1 && a.2 != b.2, "{names:?}");
}

#[test]
fn quiet_prints_nothing_on_success_and_everything_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let env = ["--env", "production"];
    for args in [
        &["init", "-q"][..],
        &["render", "--quiet"],
        &["check", "-q"],
        &["-q", "rotate", "passwords"],
        &["rotate", "passwords", "--finish", "-q"],
        &["certs", "status", "-q"],
    ] {
        let mut argv = args.to_vec();
        argv.extend(env);
        let r = run(tmp.path(), &argv);
        r.success();
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{argv:?}");
    }
    // A failure still says everything: check's findings, and the error.
    let conf = tmp.path().join("deploy/production/redis.conf");
    std::fs::write(&conf, "# edited\n").unwrap();
    let r = run(tmp.path(), &["check", "-q", "--env", "production"]);
    r.failure(1)
        .stdout_has("redis.conf")
        .stderr_has("error: ")
        .stderr_has("help: ");
    run(
        tmp.path(),
        &["init", "-q", "--env", "production", "--set", "redis.port=0"],
    )
    .failure(2)
    .stderr_has("`redis.port`");
    // Commands whose output is the product are not silenced.
    run(
        tmp.path(),
        &["profile", "show", "-q", "--env", "production"],
    )
    .success()
    .stdout_has("redis:");
}

/// Parses a `--format json` summary, failing with the output when it is not JSON.
fn summary(r: &Run) -> serde_json::Value {
    r.success();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout))
}

#[test]
fn init_render_and_rotate_summaries_parse_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |cmd: &[&'static str]| -> Vec<&'static str> {
        let mut a = cmd.to_vec();
        a.extend(["--env", "staging", "--out", "bundle", "--format", "json"]);
        a
    };
    let first = summary(&run(tmp.path(), &args(&["init"])));
    assert_eq!(first["command"], "init");
    assert_eq!(first["environment"], "staging");
    assert_eq!(first["project"], "redis");
    assert_eq!(first["out"], "bundle");
    assert_eq!(first["target"], "local");
    // TLS (staging): the server starts with the bundle's OpenSSL configuration.
    assert!(
        first["next"]
            .as_str()
            .unwrap()
            .starts_with("OPENSSL_CONF=bundle/openssl.cnf redis-server "),
        "{first}"
    );
    let files = first["files"].as_array().unwrap();
    assert!(files.len() >= 10, "{first}");
    assert!(files.iter().all(|f| f["action"] == "created"), "{first}");
    let cert = files
        .iter()
        .find(|f| f["path"] == "tls/server.crt")
        .unwrap();
    assert!(cert["note"].as_str().unwrap().contains("expires"), "{cert}");

    // A second run keeps everything; a loosened mode is reported as fixed, with the old mode.
    let key = tmp.path().join("bundle/tls/client.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let again = summary(&run(tmp.path(), &args(&["render"])));
    assert_eq!(again["command"], "render");
    let files = again["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            // The manifest records the loosened mode it found.
            .all(|f| f["action"] == "kept"
                || f["path"] == "tls/client.key"
                || f["path"] == "manifest.json"),
        "{again}"
    );
    let fixed = files.iter().find(|f| f["path"] == "tls/client.key");
    assert!(fixed.is_none(), "render never touches a key: {again}");
    let init_again = summary(&run(tmp.path(), &args(&["init"])));
    let fixed = init_again["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "tls/client.key")
        .unwrap()
        .clone();
    assert_eq!(fixed["action"], "mode-fixed", "{init_again}");
    assert_eq!(fixed["mode_was"], "644", "{init_again}");

    let rotated = summary(&run(tmp.path(), &args(&["rotate", "passwords"])));
    assert_eq!(rotated["command"], "rotate passwords");
    let updated: Vec<&str> = rotated["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "updated")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        updated.contains(&"users.acl") && updated.contains(&"client.env"),
        "{rotated}"
    );
    assert!(rotated["apply"].is_string(), "{rotated}");
    assert!(
        !rotated["notes"].as_array().unwrap().is_empty(),
        "{rotated}"
    );

    // Nothing to do is a summary too; and no summary carries a secret.
    let again = run(tmp.path(), &args(&["rotate", "certs", "--finish"]));
    let nothing = summary(&again);
    assert!(
        nothing["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("nothing to do"),
        "{nothing}"
    );
    let secrets = crate::support::env_file(&tmp.path().join("bundle/secrets.env"));
    for json in [first.to_string(), rotated.to_string(), nothing.to_string()] {
        for secret in secrets.values().filter(|s| s.len() >= 12) {
            assert!(!json.contains(secret.as_str()), "a secret in a summary");
        }
    }
}
