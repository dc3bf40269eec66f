//! Master-key mode through the binary: reproducible secrets, per-secret generations, and
//! refusal to overwrite or to accept a weak key. The derivation itself is pinned by the
//! known-answer vectors in src/masterkey.rs.

use std::path::Path;
use std::process::Command;

use crate::support::{BIN, Run, env_file, tree};

const KEY_A: &str = "tD3vQ8yR2mK9xW4pL7nB1cZ6fH0jS5gA";
const KEY_B: &str = "Zq8Lm3Xv7Rt2Wp9Ks4Hn6Bd1Gf5Jc0Ya";

/// Runs the binary with REDIS_HARDEN_MASTER_KEY set (or not), nothing else inherited.
fn run_with_key(cwd: &Path, key: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    if let Some(key) = key {
        cmd.env("REDIS_HARDEN_MASTER_KEY", key);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn init(
    cwd: &Path,
    key: &str,
    out: &str,
    extra: &[&str],
) -> std::collections::BTreeMap<String, String> {
    let mut args = vec!["init", "--env", "production", "--out", out];
    args.extend_from_slice(extra);
    let r = run_with_key(cwd, Some(key), &args);
    r.success();
    assert!(
        !r.stdout.contains(key) && !r.stderr.contains(key),
        "the master key was printed"
    );
    env_file(&cwd.join(out).join("secrets.env"))
}

#[test]
fn same_key_same_secrets_anywhere_different_key_all_differ() {
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a1 = init(t1.path(), KEY_A, "x", &[]);
    let a2 = init(t2.path(), KEY_A, "elsewhere", &[]);
    assert_eq!(a1, a2);
    assert_eq!(
        std::fs::read(t1.path().join("x/users.acl")).unwrap(),
        std::fs::read(t2.path().join("elsewhere/users.acl")).unwrap()
    );
    let b = init(t1.path(), KEY_B, "y", &[]);
    assert_eq!(a1.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, value) in &a1 {
        assert_ne!(value, &b[name], "{name} did not change with the master key");
    }
    // The key itself is in no file of the bundle.
    for (path, (bytes, _)) in tree(&t1.path().join("x")) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY_A),
            "{} holds the master key",
            path.display()
        );
    }
}

#[test]
fn bumping_one_generation_changes_exactly_that_secret() {
    let t = tempfile::tempdir().unwrap();
    let before = init(t.path(), KEY_A, "g1", &[]);
    let after = init(
        t.path(),
        KEY_A,
        "g2",
        &["--set", "secrets.generations.monitoring=2"],
    );
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(changed, ["REDIS_PASSWORD_MONITORING"]);
    let after = init(
        t.path(),
        KEY_A,
        "g3",
        &["--set", "secrets.generations.encryption_key=2"],
    );
    let changed: Vec<&String> = before.keys().filter(|k| before[*k] != after[*k]).collect();
    assert_eq!(changed, ["REDIS_ENCRYPTION_KEY"]);
}

#[test]
fn differing_existing_secrets_are_refused_and_kept() {
    let t = tempfile::tempdir().unwrap();
    // A bundle made at random, then the same directory in master-key mode.
    crate::support::run(t.path(), &["init", "--env", "production", "--out", "b"]).success();
    let before = tree(&t.path().join("b"));
    let r = run_with_key(
        t.path(),
        Some(KEY_A),
        &["init", "--env", "production", "--out", "b"],
    );
    r.failure(2)
        .stderr_has("differ")
        .stderr_has("REDIS_PASSWORD_APP")
        .stderr_has("help:");
    assert_eq!(
        tree(&t.path().join("b")),
        before,
        "a refused run changed the bundle"
    );
    // A generation bump on a master-key bundle is refused the same way.
    init(t.path(), KEY_A, "m", &[]);
    let before = tree(&t.path().join("m"));
    let r = run_with_key(
        t.path(),
        Some(KEY_A),
        &[
            "init",
            "--env",
            "production",
            "--out",
            "m",
            "--set",
            "secrets.generations.app=2",
        ],
    );
    r.failure(2).stderr_has("REDIS_PASSWORD_APP");
    assert_eq!(tree(&t.path().join("m")), before);
}

#[test]
fn weak_or_empty_keys_are_refused_without_echo() {
    let t = tempfile::tempdir().unwrap();
    for weak in [
        "hunter2",
        "correct horse",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "",
    ] {
        let r = run_with_key(
            t.path(),
            Some(weak),
            &["init", "--env", "production", "--out", "w"],
        );
        r.failure(2).stderr_has("help:");
        if !weak.is_empty() {
            assert!(!r.stderr.contains(weak), "the key was echoed: {}", r.stderr);
        }
        assert!(
            !t.path().join("w").exists(),
            "{weak:?}: something was written"
        );
    }
}

#[test]
fn key_file_works_and_check_rebuilds_secret_files_in_ci() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("master.key"), format!("{KEY_A}\n")).unwrap();
    let args = [
        "init",
        "--env",
        "production",
        "--out",
        "b",
        "--master-key-file",
        "master.key",
    ];
    run_with_key(t.path(), None, &args).success();
    assert_eq!(
        env_file(&t.path().join("b/secrets.env")),
        init(t.path(), KEY_A, "env-made", &[])
    );

    // CI: the checked-in bundle has no secret files; the master key re-derives them.
    let b = t.path().join("b");
    let acl = std::fs::read(b.join("users.acl")).unwrap();
    for f in [
        "secrets.env",
        "client.env",
        "tls/ca.key",
        "tls/server.key",
        "tls/client.key",
    ] {
        std::fs::remove_file(b.join(f)).unwrap();
    }
    run_with_key(
        t.path(),
        Some(KEY_A),
        &["check", "--env", "production", "--out", "b"],
    )
    .success();
    // A users.acl that does not match the key's secrets is drift.
    std::fs::write(
        b.join("users.acl"),
        String::from_utf8(acl).unwrap().replacen("#", "#0", 1),
    )
    .unwrap();
    let r = run_with_key(
        t.path(),
        Some(KEY_A),
        &["check", "--env", "production", "--out", "b"],
    );
    r.failure(1).stdout_has("users.acl");
    // Without the key, files that hold secrets are not checked, the rest still is.
    run_with_key(
        t.path(),
        None,
        &["check", "--env", "production", "--out", "b"],
    )
    .success()
    .stdout_has("not checked");
}
