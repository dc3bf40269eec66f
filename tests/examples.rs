//! Every example profile under `examples/` loads for every environment and renders a bundle.
//! The directory is walked, so a new example is covered the moment it is added.

use std::path::{Path, PathBuf};

use crate::support::{run, tree};

const ENVS: [&str; 4] = ["production", "staging", "development", "testing"];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every `*.yaml` / `*.yml` file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            // The CI workflow and npm's dependencies are YAML too, but not profiles.
            let skip = path
                .file_name()
                .is_some_and(|n| n == "ci" || n == "node_modules");
            if path.is_dir() && !skip {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn example_profiles() -> Vec<PathBuf> {
    let found = yaml_files(&examples_dir());
    assert!(
        !found.is_empty(),
        "no example profiles under {}: this test would pass vacuously",
        examples_dir().display()
    );
    found
}

#[test]
fn the_team_example_is_among_the_profiles_found() {
    let found = example_profiles();
    assert!(
        found.contains(&examples_dir().join("redis-harden.yaml")),
        "{found:?}"
    );
}

#[test]
fn every_example_profile_loads_for_every_environment() {
    let tmp = tempfile::tempdir().unwrap();
    for file in example_profiles() {
        let profile = file.to_str().unwrap();
        for env in ENVS {
            for format in ["yaml", "json"] {
                let r = run(
                    tmp.path(),
                    &[
                        "profile",
                        "show",
                        "--env",
                        env,
                        "--profile",
                        profile,
                        "--format",
                        format,
                    ],
                );
                assert_eq!(
                    r.code, 0,
                    "{profile} --env {env} --format {format}:\n{}",
                    r.stderr
                );
                assert!(
                    r.stdout.contains(env),
                    "{profile} --env {env}: output does not name the environment:\n{}",
                    r.stdout
                );
                assert!(r.stderr.is_empty(), "{profile} --env {env}:\n{}", r.stderr);
            }
        }
    }
    // profile show never writes anything.
    assert!(tree(tmp.path()).is_empty());
}

#[test]
fn every_example_profile_renders_a_bundle_for_every_environment() {
    for file in example_profiles() {
        let profile = file.to_str().unwrap();
        for env in ENVS {
            let tmp = tempfile::tempdir().unwrap();
            let r = run(
                tmp.path(),
                &["init", "--env", env, "--profile", profile, "--out", "out"],
            );
            assert_eq!(
                r.code, 0,
                "init {profile} --env {env}:\nstdout:\n{}\nstderr:\n{}",
                r.stdout, r.stderr
            );
            let out = tmp.path().join("out");
            for rel in [
                "redis.conf",
                "users.acl",
                "secrets.env",
                "client.env",
                ".gitignore",
                "tls/ca.crt",
                "tls/server.crt",
                "tls/client.crt",
            ] {
                assert!(out.join(rel).is_file(), "{profile} --env {env}: no {rel}");
            }
            // Only the output directory was written.
            let top: Vec<_> = std::fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(top, ["out"], "{profile} --env {env}");
        }
    }
}

#[test]
fn every_example_profile_rerenders_identically() {
    for file in example_profiles() {
        let profile = file.to_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let args = [
            "init",
            "--env",
            "production",
            "--profile",
            profile,
            "--out",
            "out",
        ];
        run(tmp.path(), &args).success();
        let before = tree(tmp.path());
        run(tmp.path(), &args).success();
        assert!(
            before == tree(tmp.path()),
            "{profile}: re-run changed files"
        );
    }
}

/// The team example is the documentation of the profile format: it shows the keys teams
/// change most, with what they do.
#[test]
fn the_team_example_shows_the_commonly_changed_keys() {
    let path = examples_dir().join("redis-harden.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    for needle in [
        "version: 1",
        "project:",
        "environments:",
        "production:",
        "staging:",
        "development:",
        "testing:",
        "port:",
        "bind:",
        "maxmemory:",
        "maxmemory_policy:",
        "hostnames:",
        "ips:",
        "key_type:",
        "leaf_validity_days:",
        "password_length:",
        "keys:",
        "channels:",
        "admin:",
        "enabled:",
        "users:",
        "name:",
        "commands:",
        "# ",
    ] {
        assert!(text.contains(needle), "{} lacks {needle:?}", path.display());
    }

    // The production section really sets them (not only in comments).
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "profile",
            "show",
            "--env",
            "production",
            "--profile",
            path.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    r.success();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for (pointer, what) in [
        ("/tls/hostnames/0", "tls.hostnames"),
        ("/tls/ips/0", "tls.ips"),
        ("/acl/users/0/name", "acl.users"),
        ("/acl/app/keys/0", "acl.app.keys"),
        ("/acl/app/channels/0", "acl.app.channels"),
    ] {
        assert!(
            v.pointer(pointer).is_some(),
            "production sets no {what}:\n{}",
            r.stdout
        );
    }
    assert_ne!(
        v["redis"]["bind"],
        serde_json::json!(["127.0.0.1", "-::1"]),
        "redis.bind is the default"
    );
}
