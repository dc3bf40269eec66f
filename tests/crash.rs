//! Fault injection: every writing command is killed (SIGKILL, through strace) at each of its
//! file-system syscalls in turn, then simply run again. Whatever the crash point:
//! - the re-run exits 0 (recovery, never a refusal);
//! - the bundle then is the command's result: byte for byte the uninterrupted run's for
//!   commands without randomness, the same files with the same modes for those that make new
//!   secrets;
//! - no secret that existed before is lost or changed, unless the command rotates it, and then
//!   the old one is still there in its "previous" place;
//! - secrets, users.acl, client.env and the TLS keys and certificates agree;
//! - no temp file or staging directory is left, and `check` exits 0.
//!
//! A crash during the recovery itself is tested too (`crash_during_recovery_of_*`): the
//! re-run that finds a staging directory is killed at each of its renames and unlinks.
//!
//! A case is one command on one bundle directory, restored before each kill. The counts of
//! each syscall come from `strace -c`; N runs from 1 until the command completes unkilled.
//! tests/crash-matrix.sh reruns one case by hand.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use crate::support::store::{
    Snapshot, differing, leftovers, pem_certs, restore, secrets_consistent, secrets_of, snapshot,
    tls_consistent, unrecovered,
};
use crate::support::strace::{args, check_fails, first_lines, previous_place, strace};
use crate::support::{Run, env_file, run};

/// The syscalls a crash can fall between: renames, unlinks, directory changes, writes, opens,
/// syncs and mode changes. Those the binary never calls are skipped after the count.
const SYSCALLS: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "link",
    "linkat",
    "openat",
    "write",
    "pwrite64",
    "writev",
    "ftruncate",
    "fsync",
    "fdatasync",
    "syncfs",
    "fchmod",
    "fchmodat",
    "chmod",
];

/// What the command does to secrets, which decides how its result is judged.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// No randomness: the re-run's bundle equals the uninterrupted run's byte for byte.
    Deterministic,
    /// A fresh init: new secrets, nothing existed before.
    FreshInit,
    Passwords,
    EncryptionKey,
    Certs,
    Ca,
}

struct Case {
    /// Commands (verb words, BASE appended) that make the bundle the command starts from.
    setup: &'static [&'static [&'static str]],
    command: &'static [&'static str],
    kind: Kind,
}

/// The extra flags of a command (what follows its verb words), for `check`.
fn flags<'a>(command: &[&'a str]) -> Vec<&'a str> {
    let at = command
        .iter()
        .position(|w| w.starts_with("--"))
        .unwrap_or(command.len());
    command[at..]
        .iter()
        .copied()
        .filter(|w| *w != "--finish")
        .collect()
}

/// `strace -f -c`: how often the command calls each syscall of SYSCALLS (it runs for real).
fn syscall_counts(cwd: &Path, cmd: &[&str]) -> BTreeMap<String, u64> {
    let out = cwd.join("strace-count.txt");
    let count = ["-c".to_owned(), format!("-etrace={}", SYSCALLS.join(","))];
    let status = strace(cwd, &out, &count, cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run strace -c");
    // The command's own exit status is judged by the callers; only strace failing matters.
    assert!(
        status.code().is_some_and(|c| c < 128),
        "strace -c {cmd:?}: {status}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if cols.len() >= 5 && SYSCALLS.contains(cols.last().unwrap()) {
            counts.insert(cols.last().unwrap().to_string(), cols[3].parse().unwrap());
        }
    }
    counts
}

/// Runs the command under strace, SIGKILLed on entering the `n`th call of `syscall`.
/// Returns whether it was killed.
fn run_killed_at(cwd: &Path, cmd: &[&str], syscall: &str, n: u64) -> (bool, Run) {
    // `-e trace=none` would disable the injection too (strace 6.1): trace only the one.
    let kill = [
        format!("-etrace={syscall}"),
        format!("-einject={syscall}:signal=KILL:when={n}"),
    ];
    let out = strace(cwd, Path::new("/dev/null"), &kill, cmd)
        .output()
        .expect("run strace");
    let killed = out.status.signal() == Some(9) || out.status.code() == Some(128 + 9);
    (killed, out.into())
}

/// May the command replace this secret (keeping the old value in its previous place)?
fn rotates(kind: Kind, secret: &str) -> bool {
    match kind {
        Kind::Passwords => secret.starts_with("REDIS_PASSWORD_"),
        Kind::EncryptionKey => secret == "REDIS_ENCRYPTION_KEY",
        Kind::Certs => secret == "tls/server.key" || secret == "tls/client.key",
        Kind::Ca => secret == "tls/ca.key",
        Kind::Deterministic | Kind::FreshInit => false,
    }
}

/// Everything wrong with the bundle after the re-run (`after`), compared with the bundle
/// before the command (`old`) and the uninterrupted run's (`new`).
fn judge(case: &Case, dir: &Path, old: Option<&Snapshot>, new: &Snapshot) -> Vec<String> {
    let mut problems = vec![];
    let after = snapshot(&dir.join("bundle")).unwrap_or_default();
    let stray = leftovers(dir);
    if !stray.is_empty() {
        problems.push(format!("temp/staging files left: {stray:?}"));
    }
    if case.kind == Kind::Deterministic {
        let diff = differing(new, &after);
        if !diff.is_empty() {
            problems.push(format!("differs from the uninterrupted run in {diff:?}"));
        }
    } else {
        // Same files with the same modes as the uninterrupted run...
        let shape = |s: &Snapshot| -> BTreeMap<String, u32> {
            s.iter()
                .map(|(p, (_, m))| (p.display().to_string(), *m))
                .collect()
        };
        if shape(&after) != shape(new) {
            problems.push(format!(
                "files or modes differ from the uninterrupted run: {:?}",
                differing(&strip(new), &strip(&after))
            ));
        }
        if let Some(old) = old {
            // ...what the command does not touch is untouched, and what it changes has
            // changed (no file left at its old version beside new ones).
            for (path, (bytes, _)) in old {
                let (Some((n, _)), Some((a, _))) = (new.get(path), after.get(path)) else {
                    continue;
                };
                if n == bytes && a != bytes {
                    problems.push(format!("{} changed, the command keeps it", path.display()));
                }
                if n != bytes && a == bytes && path.as_os_str() != "" {
                    problems.push(format!("{} is still the old one", path.display()));
                }
            }
        }
    }
    if let Some(old) = old {
        let before = secrets_of(old);
        let now = secrets_of(&after);
        for (name, value) in &before {
            if now.get(name) == Some(value) {
                continue;
            }
            if rotates(case.kind, name) && now.get(&previous_place(name)) == Some(value) {
                continue;
            }
            // Finishing a rotation is the one command that may drop a previous value.
            let dropped_by_finish = case.command.contains(&"--finish")
                && (name.starts_with("PREVIOUS_") || name.contains(".previous."))
                && !secrets_of(new).contains_key(name);
            if !dropped_by_finish {
                problems.push(format!("secret {name} was lost or changed"));
            }
        }
        if case.kind == Kind::Ca {
            // The old CA stays trusted until --finish.
            let ca = String::from_utf8_lossy(&old[Path::new("tls/ca.crt")].0).into_owned();
            let trusted = pem_certs(&dir.join("bundle/tls/ca.crt"));
            if !trusted.iter().any(|c| ca.contains(c.as_str())) {
                problems.push("the old CA is no longer in tls/ca.crt".into());
            }
        }
    }
    // A deterministic result equal to the uninterrupted run's is as consistent as that one
    // (checked once in `crash_case`); files a rotation keeps were compared above.
    if !after.contains_key(Path::new("secrets.env")) {
        problems.push("secrets.env is missing".into());
    } else if case.kind != Kind::Deterministic {
        problems.extend(secrets_consistent(&dir.join("bundle")));
        if matches!(case.kind, Kind::FreshInit | Kind::Certs | Kind::Ca) {
            problems.extend(tls_consistent(&dir.join("bundle")));
        }
    }
    problems.extend(check_fails(dir, &flags(case.command)));
    problems
}

/// A snapshot without contents, for listing differences of shape only.
fn strip(s: &Snapshot) -> Snapshot {
    s.iter()
        .map(|(p, (_, m))| (p.clone(), (vec![], *m)))
        .collect()
}

/// A case's scratch directory with the bundle its setup makes, the bundle before (`old`)
/// and after (`new`) an uninterrupted run of the command, and what the command calls.
struct Scene {
    tmp: tempfile::TempDir,
    old: Option<Snapshot>,
    new: Snapshot,
    cmd: Vec<&'static str>,
    counts: BTreeMap<String, u64>,
}

impl Scene {
    fn new(case: &Case) -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let bundle = dir.join("bundle");
        for step in case.setup {
            run(dir, &args(step)).success();
        }
        let old = snapshot(&bundle);
        let cmd = args(case.command);
        run(dir, &cmd).success();
        let new = snapshot(&bundle).expect("the command made no bundle");
        let sound: Vec<String> = secrets_consistent(&bundle)
            .into_iter()
            .chain(tls_consistent(&bundle))
            .collect();
        assert!(sound.is_empty(), "{cmd:?} uninterrupted: {sound:?}");
        restore(&bundle, old.as_ref());
        let counts = syscall_counts(dir, &cmd);
        Scene {
            tmp,
            old,
            new,
            cmd,
            counts,
        }
    }
}

/// Runs the command again after a crash at `at`: what is wrong, if anything (at most one
/// line, naming the crash point).
fn rerun(
    case: &Case,
    dir: &Path,
    cmd: &[&str],
    old: Option<&Snapshot>,
    new: &Snapshot,
    at: &str,
) -> Option<String> {
    let again = run(dir, cmd);
    if again.code != 0 {
        let why = first_lines(&again.stderr);
        return Some(format!("{at}: re-run exits {}: {why}", again.code));
    }
    let problems = judge(case, dir, old, new);
    (!problems.is_empty()).then(|| format!("{at}: {}", problems.join("; ")))
}

/// Kills `case.command` at every call of every syscall it makes, re-runs it after each kill
/// and judges the result; fails listing every crash point that went wrong and why.
fn crash_case(case: &Case) {
    let Scene {
        tmp,
        old,
        new,
        cmd,
        counts,
    } = Scene::new(case);
    let dir = tmp.path();
    let bundle = dir.join("bundle");
    assert!(
        counts
            .keys()
            .any(|s| s.starts_with("rename") || s.starts_with("unlink")),
        "{cmd:?} renames and deletes nothing? counts: {counts:?}"
    );

    let mut failures = vec![];
    let mut kills = 0;
    for syscall in counts.keys() {
        for n in 1.. {
            restore(&bundle, old.as_ref());
            let (killed, first) = run_killed_at(dir, &cmd, syscall, n);
            if !killed {
                // Ran to the end: it must have succeeded like the uninterrupted run.
                if first.code != 0 {
                    failures.push(format!(
                        "{syscall} #{n}: unkilled run exits {}: {}",
                        first.code,
                        first_lines(&first.stderr)
                    ));
                }
                break;
            }
            kills += 1;
            // Exit 0 even when the killed run had already committed: the issue asks for it,
            // and a user who re-runs `rotate passwords` after a crash must hear "done", not
            // "already being rotated, run --finish" (which would drop the old passwords before
            // any client has the new ones). So the commit record has to outlive every step of
            // the command, the summary on stdout included.
            failures.extend(rerun(
                case,
                dir,
                &cmd,
                old.as_ref(),
                &new,
                &format!("{syscall} #{n}"),
            ));
        }
    }
    restore(&bundle, old.as_ref());
    eprintln!(
        "{cmd:?}: {kills} crash points over {:?}, {} failures",
        counts,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{cmd:?}: {} of {kills} crash points fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The syscalls that move the bundle from one state to another once files are staged.
const FILE_OPS: &[&str] = &[
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "rmdir",
];

/// A crash during recovery: kills `case.command` at each rename/unlink that leaves a staging
/// directory behind, then kills the re-run (which recovers first) at each of its own
/// renames/unlinks, then re-runs once more and judges the result like a single crash.
fn crash_twice(case: &Case) {
    let Scene {
        tmp,
        old,
        new,
        cmd,
        counts,
    } = Scene::new(case);
    let dir = tmp.path();
    let bundle = dir.join("bundle");

    let mut failures = vec![];
    let (mut firsts, mut kills) = (0, 0);
    for syscall in counts.keys().filter(|s| FILE_OPS.contains(&s.as_str())) {
        for n in 1.. {
            restore(&bundle, old.as_ref());
            if !run_killed_at(dir, &cmd, syscall, n).0 {
                break;
            }
            if !unrecovered(&bundle) {
                continue;
            }
            firsts += 1;
            let crashed = snapshot(&bundle);
            let during = syscall_counts(dir, &cmd);
            for second in during.keys().filter(|s| FILE_OPS.contains(&s.as_str())) {
                for m in 1.. {
                    restore(&bundle, crashed.as_ref());
                    if !run_killed_at(dir, &cmd, second, m).0 {
                        break;
                    }
                    kills += 1;
                    let at = format!("{syscall} #{n}, then {second} #{m} of the re-run");
                    failures.extend(rerun(case, dir, &cmd, old.as_ref(), &new, &at));
                }
            }
        }
    }
    restore(&bundle, old.as_ref());
    eprintln!("{cmd:?}: {firsts} staged crash points, {kills} crashes during recovery");
    assert!(
        firsts > 0,
        "{cmd:?}: no crash point left a .txn/ staging directory to recover"
    );
    assert!(
        failures.is_empty(),
        "{cmd:?}: {} of {kills} crashes during recovery fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------

/// One test per row: `name: judge, setup commands, command, kind;`. `crash_case` kills the
/// command at every crash point; `crash_twice` also kills the recovery that follows.
macro_rules! crash_cases {
    ($($name:ident: $judge:ident, $setup:expr, $command:expr, $kind:ident;)*) => {$(
        #[test]
        fn $name() {
            $judge(&Case { setup: $setup, command: $command, kind: Kind::$kind });
        }
    )*};
}

crash_cases! {
    crash_during_fresh_init: crash_case, &[], &["init"], FreshInit;
    // init over a bundle with a changed input: configs change, every secret is kept.
    crash_during_init_with_changed_input:
        crash_case, &[&["init"]], &["init", "--set", "redis.port=6390"], Deterministic;
    crash_during_render:
        crash_case, &[&["init"]], &["render", "--set", "redis.port=6390"], Deterministic;
    crash_during_rotate_passwords: crash_case, &[&["init"]], &["rotate", "passwords"], Passwords;
    crash_during_rotate_passwords_finish: crash_case,
        &[&["init"], &["rotate", "passwords"]], &["rotate", "passwords", "--finish"], Deterministic;
    crash_during_rotate_encryption_key:
        crash_case, &[&["init"]], &["rotate", "encryption-key"], EncryptionKey;
    crash_during_rotate_encryption_key_finish: crash_case,
        &[&["init"], &["rotate", "encryption-key"]], &["rotate", "encryption-key", "--finish"],
        Deterministic;
    crash_during_rotate_certs: crash_case, &[&["init"]], &["rotate", "certs"], Certs;
    crash_during_rotate_certs_finish: crash_case,
        &[&["init"], &["rotate", "certs"]], &["rotate", "certs", "--finish"], Deterministic;
    crash_during_rotate_ca: crash_case, &[&["init"]], &["rotate", "ca"], Ca;
    // The last step of a CA rotation: after `rotate ca` and `rotate certs`, drop the old CA.
    crash_during_rotate_ca_finish: crash_case,
        &[&["init"], &["rotate", "ca"], &["rotate", "certs"]], &["rotate", "ca", "--finish"],
        Deterministic;
    crash_during_recovery_of_fresh_init: crash_twice, &[], &["init"], FreshInit;
    crash_during_recovery_of_rotate_passwords:
        crash_twice, &[&["init"]], &["rotate", "passwords"], Passwords;
    crash_during_recovery_of_rotate_ca: crash_twice, &[&["init"]], &["rotate", "ca"], Ca;
}

/// The protocol's own crash points, named: a command killed right after its one flush (at
/// the unlink of the earlier transaction's record, the first file operation after the
/// `syncfs`) leaves both journals and every staged file; killed at its second rename, the
/// earlier record is gone and the renames are half done. The re-run completes either.
#[test]
fn crash_right_after_the_flush_and_between_renames_with_an_earlier_record() {
    let case = Case {
        setup: &[&["init"]],
        command: &["render", "--set", "redis.port=6390"],
        kind: Kind::Deterministic,
    };
    let Scene {
        tmp, old, new, cmd, ..
    } = Scene::new(&case);
    let dir = tmp.path();
    let bundle = dir.join("bundle");
    let names = || -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(bundle.join(".txn"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let mut failures = vec![];
    for (syscall, n, expect_record) in [("unlink", 1, true), ("rename", 2, false)] {
        restore(&bundle, old.as_ref());
        assert_eq!(names(), ["1.done"], "init's record");
        assert!(
            run_killed_at(dir, &cmd, syscall, n).0,
            "{syscall} #{n}: not killed"
        );
        let left = names();
        assert!(
            left.contains(&"2.journal".to_owned()),
            "{syscall} #{n}: {left:?}"
        );
        assert_eq!(
            left.contains(&"1.done".to_owned()),
            expect_record,
            "{left:?}"
        );
        assert!(
            left.iter().any(|f| f.starts_with("2.") && f != "2.journal"),
            "{left:?}"
        );
        failures.extend(rerun(
            &case,
            dir,
            &cmd,
            old.as_ref(),
            &new,
            &format!("{syscall} #{n}"),
        ));
        assert_eq!(names(), ["2.done"], "the re-run's record");
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// A commit flushes the disk once: one `syncfs`, no fsync of any file or directory. (A count
/// of system calls, not a timing.)
#[test]
fn a_commit_flushes_once() {
    for (setup, command) in [
        (&[][..], &["init"][..]),
        (&[&["init"][..]][..], &["rotate", "passwords"][..]),
        (
            &[&["init"][..]][..],
            &["render", "--set", "redis.port=6390"][..],
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        for step in setup {
            run(tmp.path(), &args(step)).success();
        }
        let counts = syscall_counts(tmp.path(), &args(command));
        let flushes: BTreeMap<&String, &u64> =
            counts.iter().filter(|(s, _)| s.contains("sync")).collect();
        assert_eq!(
            flushes,
            BTreeMap::from([(&"syncfs".to_owned(), &1)]),
            "{command:?}"
        );
    }
}

/// Env parsing used above stays in step with the harness's.
#[test]
fn crash_harness_reads_secrets_like_env_file() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &args(&["init"])).success();
    let snap = snapshot(&tmp.path().join("bundle")).unwrap();
    let mine = secrets_of(&snap);
    for (k, v) in env_file(&tmp.path().join("bundle/secrets.env")) {
        assert_eq!(mine.get(&k), Some(&v.into_bytes()), "{k}");
    }
    assert!(mine.contains_key("tls/ca.key"));
}
