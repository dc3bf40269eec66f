//! Concurrent writers on one bundle: 50 pairs of real processes started together (rotate +
//! rotate of the same and of different kinds, init + rotate, render + rotate). Without
//! `--wait` exactly one of a pair succeeds and the other exits 2 at once saying the bundle is
//! locked; with `--wait` both succeed, one after the other. Afterwards the bundle is whole:
//! every password users.acl accepts is in secrets.env, the Fernet keys in client.env are in
//! secrets.env, keys match certificates, nothing is staged, no secret is lost, `check` exits 0.
//!
//! Both writers run under strace with a short delay on each write, rename and fsync, and the
//! second starts only once the first holds the bundle's lock (seen in /proc/locks): the two
//! always overlap, so "exactly one" is decided by the lock and not by scheduling luck. The
//! loser is refused before it writes.

use std::path::Path;
use std::process::Stdio;

use crate::support::store::{
    Snapshot, leftovers, restore, secrets_consistent, secrets_of, snapshot, tls_consistent,
};
use crate::support::strace::{args, check_fails, first_lines, previous_place, strace};
use crate::support::{Run, run};

/// Slows every file write of a writer, so that a winner still holds the bundle when the
/// other writer starts.
const SLOW: &str = "write,rename,renameat,renameat2,fsync,fdatasync";

/// Starts both commands at once, each under strace's delay, and waits for both.
fn race(cwd: &Path, a: &[&str], b: &[&str]) -> (Run, Run) {
    // The winner also holds the lock 300 ms before it goes on: a writer with little to write
    // (an init that changes nothing) must still be holding it when the other one starts.
    let delay = [
        format!("-etrace={SLOW},flock"),
        format!("-einject={SLOW}:delay_enter=25ms"),
        "-einject=flock:delay_exit=300ms".to_owned(),
    ];
    let spawn = |cmd: &[&str]| {
        strace(cwd, Path::new("/dev/null"), &delay, cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strace")
    };
    let mut pa = spawn(a);
    // Scheduling alone does not make the two overlap on a busy machine: the second writer
    // starts once the first holds the bundle's lock (or has already finished).
    wait_until_locked(&cwd.join("bundle"), &mut pa);
    let pb = spawn(b);
    let collect = |p: std::process::Child| Run::from(p.wait_with_output().unwrap());
    (collect(pa), collect(pb))
}

/// Waits (at most 30 s) until some process holds the flock on `bundle/.lock`, as
/// /proc/locks shows it (looking takes no lock, so it cannot itself lock a writer out), or
/// until `first` has exited.
fn wait_until_locked(bundle: &Path, first: &mut std::process::Child) {
    use std::os::unix::fs::MetadataExt;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if first.try_wait().unwrap().is_some() {
            return;
        }
        if let Ok(meta) = std::fs::metadata(bundle.join(".lock")) {
            let inode = format!(":{}", meta.ino());
            let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
            if locks
                .lines()
                .any(|l| l.contains("FLOCK") && l.split_whitespace().any(|f| f.ends_with(&inode)))
            {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// What is wrong with the bundle after a pair ran on it, starting from `base`.
fn whole(cwd: &Path, base: &Snapshot) -> Vec<String> {
    let dir = cwd.join("bundle");
    let mut problems = secrets_consistent(&dir);
    problems.extend(tls_consistent(&dir));
    let stray = leftovers(cwd);
    if !stray.is_empty() {
        problems.push(format!("temp/staging files left: {stray:?}"));
    }
    // One rotation keeps the old secret in its previous place; two would push it out.
    let now = secrets_of(&snapshot(&dir).unwrap_or_default());
    for (name, value) in secrets_of(base) {
        if now.get(&name) != Some(&value) && now.get(&previous_place(&name)) != Some(&value) {
            problems.push(format!("secret {name} was lost"));
        }
    }
    problems.extend(check_fails(cwd, &[]));
    problems
}

fn locked_out(r: &Run) -> bool {
    let e = r.stderr.to_lowercase();
    r.code == 2 && (e.contains("locked") || e.contains("another redis-harden"))
}

/// Runs `pairs` (each `count` times) on a fresh copy of the bundle `setup` makes, and fails
/// listing every pair that went wrong.
fn pairs(
    setup: &[&[&str]],
    pairs: &[(&[&'static str], &[&'static str], usize)],
    wait: bool,
) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let bundle = cwd.join("bundle");
    for step in setup {
        run(cwd, &args(step)).success();
    }
    let base = snapshot(&bundle).unwrap();
    let mut failures = vec![];
    let mut ran = 0;
    for (a, b, count) in pairs {
        for i in 0..*count {
            restore(&bundle, Some(&base));
            let with_wait = |verb: &[&'static str]| {
                let mut v = verb.to_vec();
                if wait {
                    v.push("--wait");
                }
                args(&v)
            };
            let (ra, rb) = race(cwd, &with_wait(a), &with_wait(b));
            ran += 1;
            let label = format!("{a:?} + {b:?} #{i}");
            if wait {
                for (cmd, r) in [(a, &ra), (b, &rb)] {
                    if r.code != 0 {
                        failures.push(format!(
                            "{label}: {cmd:?} with --wait exits {}: {}",
                            r.code,
                            first_lines(&r.stderr)
                        ));
                    }
                }
            } else {
                let ok = [&ra, &rb].iter().filter(|r| r.code == 0).count();
                let refused = [&ra, &rb].iter().filter(|r| locked_out(r)).count();
                if ok != 1 || refused != 1 {
                    failures.push(format!(
                        "{label}: want one success and one 'locked' exit 2, got exit {} ({}) and exit {} ({})",
                        ra.code,
                        first_lines(&ra.stderr),
                        rb.code,
                        first_lines(&rb.stderr)
                    ));
                }
            }
            for p in whole(cwd, &base) {
                failures.push(format!("{label}: {p}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems in {ran} pairs:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ran
}

const PASSWORDS: &[&str] = &["rotate", "passwords"];
const KEY: &[&str] = &["rotate", "encryption-key"];
const CERTS: &[&str] = &["rotate", "certs"];
const CA: &[&str] = &["rotate", "ca"];
const INIT: &[&str] = &["init"];
const RENDER: &[&str] = &["render"];

/// 35 pairs without --wait: one wins, the other is refused at once.
#[test]
fn concurrent_writers_one_wins_the_other_is_locked_out() {
    let n = pairs(
        &[INIT],
        &[
            (PASSWORDS, PASSWORDS, 8),
            (KEY, KEY, 5),
            (CA, CA, 5),
            (CERTS, CERTS, 3),
            (PASSWORDS, KEY, 4),
            (CERTS, CA, 2),
            (INIT, PASSWORDS, 5),
            (RENDER, KEY, 3),
        ],
        false,
    );
    assert_eq!(n, 35);
}

/// 15 pairs with --wait: the second writer waits for the first, then both succeed. The
/// pairs are ones that may run one after the other (a second rotation of the same kind before
/// --finish is refused for its own reason).
#[test]
fn concurrent_writers_with_wait_both_succeed_in_turn() {
    let n = pairs(
        &[INIT],
        &[
            (INIT, PASSWORDS, 5),
            (PASSWORDS, KEY, 4),
            (RENDER, CERTS, 3),
            (INIT, CA, 3),
        ],
        true,
    );
    assert_eq!(n, 15);
}

/// Two `init`s of a bundle that does not exist yet, started together: one makes it, the
/// other is refused, and the bundle holds one CA, one set of secrets, consistently.
#[test]
fn concurrent_fresh_inits_make_one_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let mut failures = vec![];
    for i in 0..5 {
        restore(&cwd.join("bundle"), None);
        let (ra, rb) = race(cwd, &args(INIT), &args(INIT));
        let ok = [&ra, &rb].iter().filter(|r| r.code == 0).count();
        let refused = [&ra, &rb].iter().filter(|r| locked_out(r)).count();
        if ok != 1 || refused != 1 {
            failures.push(format!(
                "#{i}: want one success and one 'locked' exit 2, got exit {} ({}) and exit {} ({})",
                ra.code,
                first_lines(&ra.stderr),
                rb.code,
                first_lines(&rb.stderr)
            ));
        }
        let empty = Snapshot::new();
        for p in whole(cwd, &empty) {
            failures.push(format!("#{i}: {p}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
