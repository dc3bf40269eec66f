//! Rendering is byte-for-byte reproducible: the same profile, templates, secrets and keys give
//! the same files whatever the directory, time zone, locale or umask, and rendering a bundle
//! again changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{BIN, Run, run, tree};

type Tree = BTreeMap<PathBuf, (Vec<u8>, u32)>;

/// The files `render` writes (not secrets, keys or certificates) in a bundle snapshot.
fn rendered(t: &Tree) -> Tree {
    t.iter()
        .filter(|(p, (bytes, _))| {
            let p = p.to_string_lossy();
            bytes != b"<dir>" && p != "secrets.env" && !p.starts_with("tls/")
        })
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect()
}

/// The paths whose bytes or mode differ between two snapshots, including added and removed.
fn differing(a: &Tree, b: &Tree) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Copies secrets.env and tls/ of bundle `from` over those of bundle `to`.
fn copy_secrets_and_keys(from: &Path, to: &Path) {
    std::fs::copy(from.join("secrets.env"), to.join("secrets.env")).unwrap();
    for entry in std::fs::read_dir(from.join("tls")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("tls").join(entry.file_name())).unwrap();
    }
}

/// Runs the binary in `cwd` with exactly `env` (plus PATH) under `umask`.
fn run_in(cwd: &Path, env: &[(&str, &str)], umask: &str, args: &[&str]) -> Run {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run redis-harden under sh");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Environments that differ in everything a renderer could accidentally depend on.
const WORLDS: &[(&[(&str, &str)], &str)] = &[
    (&[("LANG", "C")], "022"),
    (
        &[
            ("LANG", "de_DE.UTF-8"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("TZ", "Pacific/Chatham"),
        ],
        "077",
    ),
    (
        &[
            ("LANG", "tr_TR.UTF-8"),
            ("LC_ALL", "tr_TR.UTF-8"),
            ("LC_CTYPE", "tr_TR.UTF-8"),
            ("TZ", "America/St_Johns"),
        ],
        "000",
    ),
    (
        &[
            ("LANG", "ja_JP.eucJP"),
            ("LC_ALL", "C.UTF-8"),
            ("TZ", "UTC-14"),
        ],
        "027",
    ),
];

#[test]
fn two_directories_with_the_same_secrets_render_the_same_bytes() {
    for (env, extra) in [
        ("production", &[][..]),
        ("staging", &["--set", "tls.hostnames=[redis.internal]"][..]),
        ("testing", &[][..]),
    ] {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let args = |command: &'static str| -> Vec<&str> {
            let mut a = vec![command, "--env", env, "--out", "bundle", "--target", "host"];
            a.extend_from_slice(extra);
            a
        };
        run(one.path(), &args("init")).success();
        run(two.path(), &args("init")).success();
        let (a, b) = (one.path().join("bundle"), two.path().join("bundle"));
        copy_secrets_and_keys(&a, &b);
        run(two.path(), &args("render")).success();

        let (ta, tb) = (tree(&a), tree(&b));
        assert!(rendered(&ta).len() >= 5, "{:?}", ta.keys());
        // client.env names this bundle's own certificate files (absolute paths, for the
        // application on this machine): the one file that may, and must, differ by directory.
        // manifest.json records the directory the bundle was rendered for, and the hash of
        // client.env is not in it (a secret file).
        let mut diff = differing(&ta, &tb);
        diff.retain(|p| p != "client.env" && p != "manifest.json");
        assert!(
            diff.is_empty(),
            "{env}: differs between directories: {diff:?}"
        );
        let ca = String::from_utf8(ta[Path::new("client.env")].0.clone()).unwrap();
        let cb = String::from_utf8(tb[Path::new("client.env")].0.clone()).unwrap();
        assert_eq!(
            ca.replace(a.to_str().unwrap(), "DIR"),
            cb.replace(b.to_str().unwrap(), "DIR"),
            "{env}: client.env differs by more than its directory"
        );
        // redis.conf for the host names no temp directory at all.
        let conf = String::from_utf8(ta[Path::new("redis.conf")].0.clone()).unwrap();
        assert!(!conf.contains(one.path().to_str().unwrap()), "{conf}");
        // And check agrees in both places.
        run(one.path(), &args("check")).success();
        run(two.path(), &args("check")).success();
    }
}

#[test]
fn locale_time_zone_and_umask_do_not_change_the_bytes() {
    for target in ["local", "host", "docker"] {
        let tmp = tempfile::tempdir().unwrap();
        let args = |command: &'static str| {
            vec![
                command,
                "--env",
                "production",
                "--out",
                "bundle",
                "--target",
                target,
            ]
        };
        run(tmp.path(), &args("init")).success();
        let bundle = tmp.path().join("bundle");
        let baseline = tree(&bundle);
        let to_render = rendered(&baseline);
        assert!(to_render.len() >= 4, "{target}: {:?}", baseline.keys());

        for (env, umask) in WORLDS {
            // Delete every rendered file so this world writes each one anew.
            for rel in to_render.keys() {
                std::fs::remove_file(bundle.join(rel)).unwrap();
            }
            let r = run_in(tmp.path(), env, umask, &args("render"));
            r.success();
            let now = tree(&bundle);
            assert!(
                differing(&baseline, &now).is_empty(),
                "{target} under {env:?} umask {umask}: {:?} differ",
                differing(&baseline, &now)
            );
            let r = run_in(tmp.path(), env, umask, &args("check"));
            assert_eq!(r.code, 0, "{target} under {env:?}: check\n{}", r.stdout);
        }

        // init, re-run in every world, keeps every byte too.
        for (env, umask) in WORLDS {
            run_in(tmp.path(), env, umask, &args("init")).success();
            assert!(
                differing(&baseline, &tree(&bundle)).is_empty(),
                "{target}: init under {env:?} changed {:?}",
                differing(&baseline, &tree(&bundle))
            );
        }
    }
}

#[test]
fn rendering_the_same_directory_twice_is_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |command: &'static str| {
        vec![
            command,
            "--env",
            "production",
            "--out",
            "bundle",
            "--target",
            "local",
        ]
    };
    run(tmp.path(), &args("init")).success();
    let bundle = tmp.path().join("bundle");
    let first = tree(tmp.path());

    for _ in 0..2 {
        let r = run(tmp.path(), &args("render"));
        r.success();
        assert!(
            differing(&first, &tree(tmp.path())).is_empty(),
            "render changed {:?}",
            differing(&first, &tree(tmp.path()))
        );
        // Every file is reported as kept: nothing was rewritten.
        for line in r.stdout.lines().filter(|l| l.starts_with("  ")) {
            assert!(
                line.trim_start().starts_with("keep "),
                "{line}\n{}",
                r.stdout
            );
        }
    }

    // Rendered anew from nothing but secrets and keys: the same bytes again.
    let renderable = rendered(&tree(&bundle));
    for rel in renderable.keys() {
        std::fs::remove_file(bundle.join(rel)).unwrap();
    }
    run(tmp.path(), &args("render")).success();
    run(tmp.path(), &args("render")).success();
    assert!(
        differing(&first, &tree(tmp.path())).is_empty(),
        "{:?}",
        differing(&first, &tree(tmp.path()))
    );
}
