//! The bundle as a safe store (docs/bundle.md): recorded inputs, the lock, recovery of an
//! interrupted transaction, unsafe directories, stale files, --dry-run, a CI clone, and
//! check's exit codes. All through the real binary. (Crash injection and concurrent writers
//! have their own suites.)

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{BIN, require, run, tree};

fn init_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["init", "--env", "production", "--out", out];
    a.extend_from_slice(extra);
    a
}

fn files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|(_, (bytes, _))| bytes != b"<dir>")
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .filter(|p| p != ".lock")
        .collect()
}

/// The directories inside `dir`, relative.
fn dirs(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|(_, (bytes, _))| bytes == b"<dir>")
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// `init --set ...` once; then every rotate kind and every --finish without a --set keeps
/// the port, the admin switch and the target, and check stays green.
#[test]
fn rotations_without_flags_keep_the_recorded_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let sets = [
        "--set",
        "redis.port=6390",
        "--set",
        "acl.admin.enabled=true",
    ];
    run(
        tmp.path(),
        &init_args("b", &[&sets[..], &["--target", "host"]].concat()),
    )
    .success();
    let kinds: [&[&str]; 8] = [
        &["passwords"],
        &["passwords", "--finish"],
        &["encryption-key"],
        &["encryption-key", "--finish"],
        &["certs"],
        &["certs", "--finish"],
        &["ca"],
        &["ca", "--finish"],
    ];
    for kind in kinds {
        if kind == ["ca", "--finish"] {
            // Finishing a CA rotation needs leaves from the new CA first.
            run(
                tmp.path(),
                &["rotate", "certs", "--env", "production", "--out", "b"],
            )
            .success();
        }
        let args = [
            &["rotate"][..],
            kind,
            &["--env", "production", "--out", "b"],
        ]
        .concat();
        let r = run(tmp.path(), &args);
        r.success();
        let conf = std::fs::read_to_string(out.join("redis.conf")).unwrap();
        assert!(conf.contains("\ntls-port 6390\n"), "{kind:?}:\n{conf}");
        assert!(
            conf.contains("/etc/redis/tls/server.crt"),
            "{kind:?}: target host kept"
        );
        let acl = std::fs::read_to_string(out.join("users.acl")).unwrap();
        assert!(
            acl.lines().any(|l| l.starts_with("user admin on")),
            "{kind:?}:\n{acl}"
        );
        let client = std::fs::read_to_string(out.join("client.env")).unwrap();
        assert!(client.contains(":6390/0"), "{kind:?}");
        let m = manifest(&out);
        assert_eq!(m["target"], "host");
        assert_eq!(
            m["sets"],
            serde_json::json!(["redis.port=6390", "acl.admin.enabled=true"])
        );
        run(tmp.path(), &["check", "--env", "production", "--out", "b"]).success();
    }
    // The extra certificate rotation above is the one still open; --finish closes it.
    assert_eq!(manifest(&out)["rotation"]["certs"], true);
    run(
        tmp.path(),
        &[
            "rotate",
            "certs",
            "--finish",
            "--env",
            "production",
            "--out",
            "b",
        ],
    )
    .success();
    let m = manifest(&out);
    assert_eq!(
        m["rotation"],
        serde_json::json!({"ca": false, "certs": false, "encryption_key": false, "passwords": []})
    );
}

fn rotate(cwd: &Path, args: &[&str]) -> crate::support::Run {
    run(
        cwd,
        &[
            &["rotate"][..],
            args,
            &["--env", "production", "--out", "b"],
        ]
        .concat(),
    )
}

/// Whether a rotation runs is what manifest.json records, not which files exist. Old values
/// the manifest knows nothing of are refused by the start and the --finish of their kind,
/// changing no byte; a recorded rotation whose old values are gone is still running (a new
/// one is refused) and --finish ends it.
#[test]
fn rotate_decides_from_the_recorded_rotation_not_from_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("b");
    run(t, &init_args("b", &[])).success();

    // Files that look rotated, a manifest that says no rotation.
    std::fs::copy(
        out.join("tls/server.crt"),
        out.join("tls/server.previous.crt"),
    )
    .unwrap();
    let secrets = std::fs::read_to_string(out.join("secrets.env")).unwrap();
    let fake = "PREVIOUS_REDIS_PASSWORD_APP=looksrotated0123456789\n";
    std::fs::write(out.join("secrets.env"), format!("{secrets}{fake}")).unwrap();
    let before = tree(&out);
    for kind in [&["certs"][..], &["certs", "--finish"]] {
        rotate(t, kind)
            .failure(2)
            .stderr_has("tls/server.previous.crt")
            .stderr_has("manifest.json records no certificate rotation");
    }
    for kind in [&["passwords"][..], &["passwords", "--finish"]] {
        rotate(t, kind)
            .failure(2)
            .stderr_has("PREVIOUS_REDIS_PASSWORD_APP")
            .stderr_has("manifest.json records no password (app) rotation");
    }
    assert_eq!(tree(&out), before, "a refused rotate changed the bundle");
    std::fs::remove_file(out.join("tls/server.previous.crt")).unwrap();
    std::fs::write(out.join("secrets.env"), &secrets).unwrap();

    // A recorded rotation whose old values were deleted by hand.
    rotate(t, &["certs"]).success();
    rotate(t, &["encryption-key"]).success();
    assert_eq!(manifest(&out)["rotation"]["certs"], true);
    for rel in ["server", "client"] {
        for ext in ["crt", "key"] {
            std::fs::remove_file(out.join(format!("tls/{rel}.previous.{ext}"))).unwrap();
        }
    }
    let rotated = std::fs::read_to_string(out.join("secrets.env")).unwrap();
    let unrotated: String = rotated
        .lines()
        .filter(|l| !l.starts_with("PREVIOUS_"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(rotated, unrotated, "rotate encryption-key kept no old key");
    std::fs::write(out.join("secrets.env"), &unrotated).unwrap();
    let before = tree(&out);
    rotate(t, &["certs"])
        .failure(2)
        .stderr_has("records an unfinished certificate rotation")
        .stderr_has("rotate certs --env production --finish");
    rotate(t, &["encryption-key"])
        .failure(2)
        .stderr_has("records an unfinished encryption key rotation");
    assert_eq!(tree(&out), before, "a refused rotate changed the bundle");
    rotate(t, &["certs", "--finish"])
        .success()
        .stdout_has("finished: the previous leaf certificates");
    rotate(t, &["encryption-key", "--finish"])
        .success()
        .stdout_has("finished: the previous key");
    assert_eq!(
        manifest(&out)["rotation"],
        serde_json::json!({"ca": false, "certs": false, "encryption_key": false, "passwords": []})
    );
    run(t, &["check", "--env", "production", "--out", "b"]).success();
    // Finished means finished: a second --finish has nothing to do, a new rotation starts.
    rotate(t, &["certs", "--finish"])
        .success()
        .stdout_has("no certificate rotation was in progress");
    rotate(t, &["certs"]).success();
    // Without manifest.json (deleted, or from before manifests) the old values tell, once.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    rotate(t, &["certs", "--finish"])
        .success()
        .stdout_has("finished: the previous leaf certificates");
    assert!(!out.join("tls/server.previous.crt").exists());
    assert_eq!(manifest(&out)["rotation"]["certs"], false);
}

/// A second writer fails at once with exit 2, naming the bundle and --wait; with --wait it
/// queues and succeeds once the first is done. check never takes the lock.
#[test]
fn a_second_writer_is_refused_or_waits() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("b", &[])).success();
    let lock = File::options()
        .write(true)
        .open(tmp.path().join("b/.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let before = tree(&tmp.path().join("b"));
    for args in [
        init_args("b", &[]),
        vec!["render", "--env", "production", "--out", "b"],
        vec!["rotate", "passwords", "--env", "production", "--out", "b"],
    ] {
        run(tmp.path(), &args)
            .failure(2)
            .stderr_has("b: another redis-harden is writing this bundle")
            .stderr_has("--wait");
    }
    assert!(
        tree(&tmp.path().join("b")) == before,
        "a refused writer wrote"
    );
    run(tmp.path(), &["check", "--env", "production", "--out", "b"]).success();

    // Unlock from another thread while the child blocks on the lock.
    let handle = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(lock);
    });
    let out = Command::new(BIN)
        .args([
            "rotate",
            "passwords",
            "--env",
            "production",
            "--out",
            "b",
            "--wait",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    handle.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An interrupted transaction: check refuses (exit 2) without touching it; the next writer
/// discards an uncommitted one, staged secrets included.
#[test]
fn an_uncommitted_transaction_is_discarded_by_the_next_writer() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("b", &[])).success();
    // Beside the record of init's transaction, a staged file no journal names.
    let txn = tmp.path().join("b/.txn");
    std::fs::write(txn.join("2.0"), "REDIS_PASSWORD_APP=staged-secret\n").unwrap();
    let before = tree(&tmp.path().join("b"));
    run(tmp.path(), &["check", "--env", "production", "--out", "b"])
        .failure(2)
        .stderr_has("interrupted")
        .stderr_has("writing command");
    assert!(tree(&tmp.path().join("b")) == before, "check wrote");
    run(tmp.path(), &["render", "--env", "production", "--out", "b"])
        .success()
        .stdout_has("recovered: discarded");
    assert!(!txn.join("2.0").exists());
    run(tmp.path(), &["check", "--env", "production", "--out", "b"]).success();
}

/// A bundle directory every user can write, or a symlinked tls/, is refused by every writer
/// with exit 2 and nothing written; check reports both.
#[test]
fn unsafe_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = tree(tmp.path());
    run(tmp.path(), &init_args("b", &[]))
        .failure(2)
        .stderr_has("writable by every user")
        .stderr_has("chmod o-w");
    assert!(tree(tmp.path()) == before, "a refused init wrote");

    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o750)).unwrap();
    run(tmp.path(), &init_args("b", &[])).success();
    // tls/ (holding the keys) writable by everyone: reported by check, refused by writers.
    let tls = out.join("tls");
    std::fs::set_permissions(&tls, std::fs::Permissions::from_mode(0o777)).unwrap();
    run(tmp.path(), &["check", "--env", "production", "--out", "b"])
        .failure(1)
        .stdout_has("unsafe: tls");
    run(
        tmp.path(),
        &["rotate", "certs", "--env", "production", "--out", "b"],
    )
    .failure(2);
    std::fs::set_permissions(&tls, std::fs::Permissions::from_mode(0o750)).unwrap();

    // tls/ as a symlink to a directory elsewhere: keys would land there.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::rename(out.join("tls"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("tls")).unwrap();
    // (support::tree reads a symlink as a file: compare the target and the rest apart.)
    let snapshot = || {
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let manifest = std::fs::read(out.join("manifest.json")).unwrap();
        (tree(&elsewhere), names, manifest)
    };
    let before = snapshot();
    for args in [
        init_args("b", &[]),
        vec!["render", "--env", "production", "--out", "b"],
        vec!["rotate", "ca", "--env", "production", "--out", "b"],
    ] {
        run(tmp.path(), &args).failure(2).stderr_has("symlink");
        assert!(snapshot() == before, "{args:?} wrote");
    }
    run(tmp.path(), &["check", "--env", "production", "--out", "b"])
        .failure(1)
        .stdout_has("unsafe: tls is a symlink");
}

/// local -> docker -> local: each step leaves exactly the files of the current target (the
/// others are listed as removed), and check is green after each.
#[test]
fn changing_target_removes_the_files_of_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |target: &str| {
        let t = tempfile::tempdir().unwrap();
        run(t.path(), &init_args("b", &["--target", target])).success();
        (files(&t.path().join("b")), dirs(&t.path().join("b")))
    };
    let ((local, local_dirs), (docker, docker_dirs)) = (fresh("local"), fresh("docker"));
    assert!(local.contains(&"firewall/nftables.nft".to_string()));
    assert!(local_dirs.contains(&"firewall".to_string()));
    assert!(docker.contains(&"docker-compose.yml".to_string()));
    run(tmp.path(), &init_args("b", &[])).success();
    let out = tmp.path().join("b");
    let r = run(
        tmp.path(),
        &[
            "render",
            "--env",
            "production",
            "--out",
            "b",
            "--target",
            "docker",
        ],
    );
    r.success()
        .stdout_has("change target: local -> docker")
        .stdout_has("remove firewall/nftables.nft")
        .stdout_has("create docker-compose.yml");
    assert_eq!(files(&out), docker);
    // The emptied firewall/ went in the same transaction; no directory is left over.
    assert!(!docker_dirs.contains(&"firewall".to_string()));
    assert_eq!(dirs(&out), docker_dirs);
    run(tmp.path(), &["check", "--env", "production", "--out", "b"]).success();
    run(
        tmp.path(),
        &[
            "render",
            "--env",
            "production",
            "--out",
            "b",
            "--target",
            "local",
        ],
    )
    .success()
    .stdout_has("remove docker-compose.yml");
    assert_eq!(files(&out), local);
    assert_eq!(dirs(&out), local_dirs);
    run(tmp.path(), &["check", "--env", "production", "--out", "b"]).success();

    // A leftover the manifest does not explain is reported by check as stale.
    std::fs::write(out.join("docker-compose.yml"), "services: {}\n").unwrap();
    run(tmp.path(), &["check", "--env", "production", "--out", "b"])
        .failure(1)
        .stdout_has("stale: docker-compose.yml");
}

/// --dry-run prints the plan and the config diff, changes no byte, and exits 0: for a fresh
/// init (not even the directory appears), a render with new inputs, and every rotation.
#[test]
fn dry_run_changes_no_byte() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &init_args("b", &["--dry-run"]))
        .success()
        .stdout_has("dry run")
        .stdout_has("create tls/ca.key");
    assert!(
        !tmp.path().join("b").exists(),
        "a dry-run init created --out"
    );

    run(tmp.path(), &init_args("b", &["--set", "redis.port=6390"])).success();
    let secrets = std::fs::read_to_string(tmp.path().join("b/secrets.env")).unwrap();
    let before = tree(tmp.path());
    let r = run(
        tmp.path(),
        &[
            "render",
            "--env",
            "production",
            "--out",
            "b",
            "--set",
            "redis.port=6400",
            "--dry-run",
        ],
    );
    r.success()
        .stdout_has("change redis.port: 6390 -> 6400")
        .stdout_has("update redis.conf")
        .stdout_has("-tls-port 6390\n+tls-port 6400\n")
        .stdout_has("update client.env");
    assert!(tree(tmp.path()) == before, "a dry-run render wrote");
    for kind in [&["passwords"][..], &["encryption-key"], &["certs"], &["ca"]] {
        let args = [
            &["rotate"][..],
            kind,
            &["--env", "production", "--out", "b", "--dry-run"],
        ]
        .concat();
        let r = run(tmp.path(), &args);
        r.success().stdout_has("dry run");
        assert!(tree(tmp.path()) == before, "a dry-run {kind:?} wrote");
        for line in secrets
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(_, v)| v)
        {
            assert!(v_not_in(line, &r.stdout), "{kind:?} printed a secret");
        }
    }
}

fn v_not_in(secret: &str, text: &str) -> bool {
    secret.len() < 8 || !text.contains(secret)
}

/// A team's repo: a profile and a committed bundle (what .gitignore leaves), cloned by git to
/// another path. check there with the master key exits 0; after a profile change it exits 1,
/// names the changed profile and shows the diff.
#[test]
fn a_git_clone_at_another_path_is_not_drift_until_the_profile_changes() {
    require("git", "apt-get install -y git");
    let dev = tempfile::tempdir().unwrap();
    let key = "correct-horse-battery-staple-7Qm2xV9pLr4KzT8wNc3Hb";
    std::fs::write(dev.path().join("master.key"), key).unwrap();
    std::fs::write(
        dev.path().join("redis-harden.yaml"),
        "version: 1\nproject: shop\nenvironments:\n  production:\n    redis:\n      maxmemory: 1gb\n",
    )
    .unwrap();
    std::fs::write(dev.path().join(".gitignore"), "/master.key\n").unwrap();
    let args = [
        "--env",
        "production",
        "--out",
        "deploy/production",
        "--master-key-file",
        "master.key",
    ];
    run(dev.path(), &[&["init"][..], &args].concat()).success();
    let git = |cwd: &Path, a: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(a)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(dev.path(), &["init", "-q"]);
    git(dev.path(), &["add", "-A"]);
    git(dev.path(), &["commit", "-qm", "bundle"]);

    let ci = tempfile::tempdir().unwrap();
    let clone = ci.path().join("somewhere/else");
    git(
        ci.path(),
        &[
            "clone",
            "-q",
            dev.path().to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    assert!(!clone.join("deploy/production/secrets.env").exists());
    assert!(clone.join("deploy/production/manifest.json").exists());
    std::fs::write(clone.join("master.key"), key).unwrap();
    // git records no mode but the executable bit; the CI workflow restores this one.
    std::fs::set_permissions(
        clone.join("deploy/production/redis.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let r = run(&clone, &[&["check"][..], &args].concat());
    r.success().stdout_has("ok");

    std::fs::write(
        clone.join("redis-harden.yaml"),
        "version: 1\nproject: shop\nenvironments:\n  production:\n    redis:\n      maxmemory: 2gb\n",
    )
    .unwrap();
    let r = run(&clone, &[&["check"][..], &args].concat());
    r.failure(1)
        .stdout_has("inputs: manifest.json the profile differs")
        .stdout_has("-maxmemory 1gb\n+maxmemory 2gb\n")
        .stderr_has("redis-harden render --env production --out deploy/production");
}

/// check: a --out that does not exist is exit 2 (not drift); output cut short by `| head`
/// ends quietly.
#[test]
fn check_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        &["check", "--env", "production", "--out", "nowhere"],
    )
    .failure(2)
    .stderr_has("--out nowhere: no such directory")
    .stderr_has("redis-harden init");
    run(tmp.path(), &init_args("b", &[])).success();
    // Many findings with long diffs: more than a pipe buffer, so `head` closes it early.
    let conf = tmp.path().join("b/redis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.repeat(40).replace("port", "p0rt")).unwrap();
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("{BIN} check --env production --out b | head -1"),
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "check | head is not quiet: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
