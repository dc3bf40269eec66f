//! Re-running `init` on an existing bundle: secrets, the CA, keys and certificates are
//! reused, never replaced; only what is missing is created; configs are re-rendered byte for
//! byte; file modes are exact whatever the umask.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{BIN, Run, env_file, require, run, tree};

type Tree = BTreeMap<PathBuf, (Vec<u8>, u32)>;

const ENVS: [&str; 4] = ["production", "staging", "development", "testing"];
const TARGETS: [&str; 3] = ["local", "host", "docker"];
const WORKER: &str =
    r#"acl.users=[{name: worker, keys: ["jobs:*"], commands: ["+@read", "-@dangerous"]}]"#;

fn init_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["init", "--env", "production", "--out", out];
    args.extend_from_slice(extra);
    args
}

/// The paths whose bytes or mode differ between two snapshots, including added and removed.
fn changed(before: &Tree, after: &Tree) -> BTreeSet<String> {
    before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The files of a bundle (not directories), relative.
fn files(t: &Tree) -> Vec<String> {
    t.iter()
        .filter(|(_, (bytes, _))| bytes != b"<dir>")
        // The lock file is not part of the bundle's content (and not in the summary).
        .filter(|(p, _)| !p.ends_with(".lock"))
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect()
}

/// The summary's verdict for each file: `create`, `keep`, `update`, `remove`, or
/// `update, mode 644 -> fixed` for a file whose mode was set back.
fn actions(r: &Run) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in r.stdout.lines().filter(|l| l.starts_with("  ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [verb, path, rest @ ..] = words.as_slice() else {
            continue;
        };
        if !["create", "update", "keep", "remove"].contains(verb) {
            continue;
        }
        let verb = match rest {
            ["mode", from, "->", "fixed", ..] => format!("{verb}, mode {from} -> fixed"),
            _ => (*verb).to_owned(),
        };
        out.insert((*path).to_owned(), verb);
    }
    out
}

/// Runs the binary like `support::run`, but under `umask`.
fn run_with_umask(cwd: &Path, umask: &str, args: &[&str]) -> Run {
    let script = format!("umask {umask} && touch .umask-probe && exec \"$0\" \"$@\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C")
        .output()
        .expect("run redis-harden under sh");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

// ---------------------------------------------------------------------------------------

#[test]
fn rerun_with_the_same_arguments_changes_nothing() {
    let team = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/redis-harden.yaml");
    let team = team.to_str().unwrap();
    for env in ENVS {
        for target in TARGETS {
            let tmp = tempfile::tempdir().unwrap();
            let args = [
                "init", "--env", env, "--out", "out", "--target", target, "--set", WORKER,
            ];
            run(tmp.path(), &args).success();
            let before = tree(tmp.path());
            let bundle = files(&tree(&tmp.path().join("out")));
            assert!(bundle.len() >= 11, "{bundle:?}");

            for _ in 0..2 {
                let r = run(tmp.path(), &args);
                r.success();
                let after = tree(tmp.path());
                assert!(
                    changed(&before, &after).is_empty(),
                    "{env}/{target}: re-run changed {:?}",
                    changed(&before, &after)
                );
                // The summary lists every file of the bundle as kept.
                let acts = actions(&r);
                for f in &bundle {
                    assert_eq!(
                        acts.get(f).map(String::as_str),
                        Some("keep"),
                        "{env}/{target}: {f}\n{}",
                        r.stdout
                    );
                }
                assert!(r.stderr.is_empty(), "{}", r.stderr);
            }
        }
    }
    // And with a team profile.
    let tmp = tempfile::tempdir().unwrap();
    let args = init_args("out", &["--profile", team]);
    run(tmp.path(), &args).success();
    let before = tree(tmp.path());
    let r = run(tmp.path(), &args);
    r.success();
    assert!(changed(&before, &tree(tmp.path())).is_empty());
    assert!(actions(&r).values().all(|a| a == "keep"), "{}", r.stdout);
}

/// `--out out`, `--out ./out`, `--out out/` and the absolute path are the same directory: a
/// re-run with another spelling must not rewrite redis.conf with different paths.
#[test]
fn another_spelling_of_the_same_out_dir_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("out", &[])).success();
    let before = tree(tmp.path());
    let abs = tmp.path().join("out");
    for out in ["./out", "out/", abs.to_str().unwrap(), "out/../out"] {
        run(tmp.path(), &init_args(out, &[])).success();
        assert!(
            changed(&before, &tree(tmp.path())).is_empty(),
            "--out {out} changed {:?}",
            changed(&before, &tree(tmp.path()))
        );
    }
}

#[test]
fn deleting_a_leaf_pair_reissues_only_that_pair() {
    require("openssl", "apt-get install -y openssl");
    for leaf in ["client", "server"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        run(tmp.path(), &init_args("out", &[])).success();
        let before = tree(tmp.path());
        let crt = format!("tls/{leaf}.crt");
        let key = format!("tls/{leaf}.key");
        std::fs::remove_file(out.join(&crt)).unwrap();
        std::fs::remove_file(out.join(&key)).unwrap();

        let r = run(tmp.path(), &init_args("out", &[]));
        r.success();
        let after = tree(tmp.path());
        let crt_path = PathBuf::from(format!("out/{crt}"));
        let key_path = PathBuf::from(format!("out/{key}"));
        assert_eq!(
            changed(&before, &after),
            // The manifest records the new files' hashes.
            set(&[
                &format!("out/{crt}"),
                &format!("out/{key}"),
                "out/manifest.json"
            ]),
            "{leaf}: more than the {leaf} pair changed"
        );
        assert_ne!(before[&crt_path].0, after[&crt_path].0, "a new certificate");
        assert_ne!(before[&key_path].0, after[&key_path].0, "a new key");
        assert_eq!(after[&crt_path].1, 0o644);
        assert_eq!(after[&key_path].1, 0o600);

        let acts = actions(&r);
        for (file, action) in &acts {
            let expected = if *file == crt || *file == key {
                "create"
            } else if file == "manifest.json" {
                "update"
            } else {
                "keep"
            };
            assert_eq!(action, expected, "{leaf}: {file}\n{}", r.stdout);
        }
        assert!(
            acts.contains_key(&crt) && acts.contains_key(&key),
            "{}",
            r.stdout
        );

        // The new certificate is signed by the existing CA, for its purpose.
        let purpose = if leaf == "client" {
            "sslclient"
        } else {
            "sslserver"
        };
        let v = Command::new("openssl")
            .args(["verify", "-purpose", purpose, "-CAfile", "tls/ca.crt", &crt])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(
            v.status.success(),
            "{leaf}: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
}

#[test]
fn an_extra_user_added_on_rerun_gets_a_password_and_every_other_secret_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(tmp.path(), &init_args("out", &[])).success();
    let before = tree(tmp.path());
    let secrets_before = env_file(&out.join("secrets.env"));
    assert!(!secrets_before.contains_key("REDIS_PASSWORD_WORKER"));

    let r = run(tmp.path(), &init_args("out", &["--set", WORKER]));
    r.success();
    let after = tree(tmp.path());
    let secrets_after = env_file(&out.join("secrets.env"));
    for (name, value) in &secrets_before {
        assert_eq!(
            secrets_after.get(name),
            Some(value),
            "{name} changed on re-run"
        );
    }
    let worker = &secrets_after["REDIS_PASSWORD_WORKER"];
    assert_eq!(worker.len(), 48, "production password length");
    assert!(worker.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(
        secrets_before.values().all(|v| v != worker),
        "a fresh password"
    );
    assert_eq!(secrets_after.len(), secrets_before.len() + 1);

    // Only the secrets and the ACL file change: keys, certificates and the rest are reused.
    assert_eq!(
        changed(&before, &after),
        set(&["out/secrets.env", "out/users.acl", "out/manifest.json"])
    );
    let acts = actions(&r);
    assert_eq!(acts["secrets.env"], "update", "{}", r.stdout);
    assert_eq!(acts["users.acl"], "update", "{}", r.stdout);
    assert_eq!(after[Path::new("out/secrets.env")].1, 0o600);
    assert_eq!(after[Path::new("out/users.acl")].1, 0o600);
    let acl = std::fs::read_to_string(out.join("users.acl")).unwrap();
    assert!(
        acl.lines().any(|l| l.starts_with("user worker on ")
            && l.contains("~jobs:*")
            && l.contains("+@read")),
        "{acl}"
    );
    assert!(
        !acl.contains(worker.as_str()),
        "users.acl holds a plain password"
    );

    // Again with the same user: nothing changes.
    let again = tree(tmp.path());
    run(tmp.path(), &init_args("out", &["--set", WORKER])).success();
    assert!(changed(&again, &tree(tmp.path())).is_empty());

    // The user removed from the profile (the manifest recorded the --set, so it is given
    // again without the user): its line leaves users.acl, its secret is kept.
    run(tmp.path(), &init_args("out", &["--set", "acl.users=[]"])).success();
    let secrets_last = env_file(&out.join("secrets.env"));
    assert_eq!(secrets_last, secrets_after, "no secret is ever dropped");
    let acl = std::fs::read_to_string(out.join("users.acl")).unwrap();
    assert!(!acl.contains("user worker"), "{acl}");
}

#[test]
fn a_file_whose_mode_was_loosened_is_set_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run(tmp.path(), &init_args("out", &[])).success();
    let before = tree(tmp.path());

    for (rel, loose) in [
        ("tls/ca.key", 0o644),
        ("tls/server.key", 0o666),
        ("secrets.env", 0o644),
        ("users.acl", 0o604),
        ("client.env", 0o640),
        ("redis.conf", 0o666),
    ] {
        std::fs::set_permissions(out.join(rel), std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let r = run(tmp.path(), &init_args("out", &[]));
    r.success();
    assert!(
        changed(&before, &tree(tmp.path())).is_empty(),
        "contents or modes differ: {:?}",
        changed(&before, &tree(tmp.path()))
    );
    let acts = actions(&r);
    assert_eq!(
        acts["tls/ca.key"], "update, mode 644 -> fixed",
        "{}",
        r.stdout
    );
    assert_eq!(acts["tls/server.key"], "update, mode 666 -> fixed");
    assert_eq!(acts["secrets.env"], "update, mode 644 -> fixed");
    assert_eq!(acts["redis.conf"], "update, mode 666 -> fixed");
    assert_eq!(acts["tls/client.key"], "keep");
    assert_eq!(mode(&out.join("tls/ca.key")), 0o600);
}

#[test]
fn a_broken_pki_on_disk_is_refused_and_left_alone() {
    // (files to delete, files to overwrite with another file's bytes, what stderr names)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &["tls/ca.key"],
            &[],
            &["tls/ca.key", "missing", "tls/ca.crt"],
        ),
        (
            &["tls/ca.crt", "tls/ca.key"],
            &[],
            &["tls/ca.crt", "missing", "leaf"],
        ),
        (
            &["tls/ca.crt"],
            &[],
            &["tls/ca.crt", "missing", "tls/ca.key"],
        ),
        (&["tls/server.key"], &[], &["tls/server.key", "missing"]),
        (
            &[],
            &[("tls/server.key", "tls/client.key")],
            &["tls/server.key", "does not belong"],
        ),
        (
            &[],
            &[("tls/ca.crt", "tls/server.crt")],
            &["tls/ca.key", "does not belong"],
        ),
    ];
    for (delete, copy, names) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        run(tmp.path(), &init_args("out", &[])).success();
        for rel in *delete {
            std::fs::remove_file(out.join(rel)).unwrap();
        }
        for (dst, src) in *copy {
            std::fs::copy(out.join(src), out.join(dst)).unwrap();
        }
        let before = tree(tmp.path());
        // Also with a change that would otherwise rewrite configs and secrets.
        for extra in [&[][..], &["--set", WORKER, "--set", "redis.port=6390"][..]] {
            let r = run(tmp.path(), &init_args("out", extra));
            r.failure(2);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            for name in *names {
                r.stderr_has(name);
            }
            assert!(
                r.stderr.lines().any(|l| l.starts_with("help: ")),
                "{}",
                r.stderr
            );
            assert!(
                changed(&before, &tree(tmp.path())).is_empty(),
                "{delete:?} {copy:?}: a refused run changed {:?}",
                changed(&before, &tree(tmp.path()))
            );
        }
    }
}

/// The modes every bundle file and directory must have, whatever the umask.
fn expected_mode(rel: &str) -> Option<u32> {
    Some(match rel {
        "" => 0o750,
        "tls" => 0o750,
        "data" => 0o700,
        "redis.conf" => 0o640,
        ".gitignore" => 0o644,
        "firewall/ufw.sh" => 0o755,
        r if r.starts_with("firewall/") => 0o644,
        "secrets.env" | "users.acl" | "client.env" => 0o600,
        r if r.starts_with("tls/") && r.ends_with(".key") => 0o600,
        r if r.starts_with("tls/") && r.ends_with(".crt") => 0o644,
        _ => return None,
    })
}

#[test]
fn modes_are_exact_whatever_the_umask() {
    for target in TARGETS {
        for (umask, probe_mode) in [("000", 0o666), ("077", 0o600), ("027", 0o640)] {
            let tmp = tempfile::tempdir().unwrap();
            let args = [
                "init",
                "--env",
                "production",
                "--out",
                "out",
                "--target",
                target,
            ];
            run_with_umask(tmp.path(), umask, &args).success();
            // The umask really applied to the process (the probe was created under it).
            assert_eq!(mode(&tmp.path().join(".umask-probe")), probe_mode);

            let out = tmp.path().join("out");
            assert_eq!(mode(&out), 0o750, "umask {umask}: the output directory");
            for (rel, (bytes, m)) in tree(&out) {
                let rel = rel.to_string_lossy().into_owned();
                match expected_mode(&rel) {
                    Some(want) => assert_eq!(
                        m, want,
                        "umask {umask}, target {target}: {rel} is {m:o}, want {want:o}"
                    ),
                    // A file added later: at least never writable by others, never executable.
                    None if bytes == b"<dir>" => {
                        assert_eq!(m & 0o027, 0, "umask {umask}: {rel} is {m:o}")
                    }
                    // Scripts (firewall/ufw.sh) are meant to run; still never writable by others.
                    None if rel.ends_with(".sh") => {
                        assert_eq!(m & 0o022, 0, "umask {umask}: {rel} is {m:o}")
                    }
                    None => assert_eq!(m & 0o133, 0, "umask {umask}: {rel} is {m:o}"),
                }
            }
            for rel in [
                "tls/ca.key",
                "tls/server.key",
                "tls/client.key",
                "tls/ca.crt",
                "tls/server.crt",
                "tls/client.crt",
                "secrets.env",
                "users.acl",
                "client.env",
                "redis.conf",
                ".gitignore",
            ] {
                assert_eq!(mode(&out.join(rel)), expected_mode(rel).unwrap(), "{rel}");
            }
            if target == "local" {
                assert_eq!(mode(&out.join("data")), 0o700);
            }

            // A re-run under another umask changes nothing.
            let before = tree(tmp.path());
            let other = if umask == "000" { "077" } else { "000" };
            run_with_umask(tmp.path(), other, &args).success();
            let after = tree(tmp.path());
            let diff = changed(&before, &after);
            assert!(
                diff.iter().all(|p| p == ".umask-probe"),
                "umask {umask} then {other}: {diff:?}"
            );
        }
    }
}

/// Asks git which of `paths` (relative to `repo`) it would ignore.
fn git_ignored(repo: &Path, paths: &[String]) -> BTreeSet<String> {
    require("git", "apt-get install -y git");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run git")
    };
    let init = git(&["init", "-q", "."]);
    assert!(init.status.success(), "{init:?}");
    let mut args = vec!["check-ignore", "--no-index", "--"];
    args.extend(paths.iter().map(String::as_str));
    let out = git(&args);
    // 0: some ignored, 1: none ignored, anything else: an error.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn gitignore_covers_every_key_and_secret() {
    for target in TARGETS {
        let tmp = tempfile::tempdir().unwrap();
        let args = [
            "init",
            "--env",
            "production",
            "--out",
            "out",
            "--target",
            target,
            "--set",
            WORKER,
        ];
        run(tmp.path(), &args).success();
        let out = tmp.path().join("out");
        let text = std::fs::read_to_string(out.join(".gitignore")).unwrap();
        for pattern in ["tls/*.key", "secrets.env", "client.env", "users.acl"] {
            assert!(
                text.contains(pattern),
                "{target}: .gitignore lacks {pattern}:\n{text}"
            );
        }

        // What git itself makes of it, with the bundle inside a repository.
        let t = tree(&out);
        let all: Vec<String> = files(&t).iter().map(|f| format!("out/{f}")).collect();
        let mut probe = all.clone();
        probe.push("out/README.md".into());
        probe.push("out/.lock".into());
        let ignored = git_ignored(tmp.path(), &probe);
        assert!(!ignored.contains("out/README.md"), "{ignored:?}");
        for f in [
            "tls/ca.key",
            "tls/server.key",
            "tls/client.key",
            "secrets.env",
            "client.env",
            "users.acl",
        ] {
            assert!(
                ignored.contains(&format!("out/{f}")),
                "{target}: git would commit {f}:\n{text}"
            );
        }
        // Every owner-only file holds something secret: all of them are ignored.
        for (rel, (bytes, m)) in &t {
            if bytes != b"<dir>" && m & 0o077 == 0 {
                let path = format!("out/{}", rel.display());
                assert!(
                    ignored.contains(&path),
                    "{target}: {path} is mode {m:o} but not ignored"
                );
            }
        }
    }
}
