//! The process setup tests/crash.rs and tests/concurrency.rs share: writing commands on
//! `./bundle` of the production environment, run hermetically (as [`super::run`]) under
//! strace, which kills or delays them at chosen syscalls, and judged by `check`.

use std::path::Path;
use std::process::Command;

use super::{BIN, hermetic, require, run};

/// Every command runs with these after its verb words.
pub const BASE: [&str; 4] = ["--env", "production", "--out", "bundle"];

/// The verb words plus [`BASE`].
pub fn args<'a>(verb: &[&'a str]) -> Vec<&'a str> {
    let mut v = verb.to_vec();
    v.extend_from_slice(&BASE);
    v
}

/// `strace -f -qq -o LOG OPTIONS... redis-harden CMD` in `cwd`, with the binary's clean
/// environment. strace missing fails the test with an install hint.
pub fn strace(cwd: &Path, log: &Path, options: &[String], cmd: &[&str]) -> Command {
    require("strace", "apt-get install -y strace");
    let mut c = hermetic(Command::new("strace"), cwd);
    c.args(["-f", "-qq", "-o"])
        .arg(log)
        .args(options)
        .arg(BIN)
        .args(cmd);
    c
}

/// `check` on the bundle (with the command's extra `flags`): why it fails, if it does.
pub fn check_fails(cwd: &Path, flags: &[&str]) -> Option<String> {
    let c = run(cwd, &[&args(&["check"])[..], flags].concat());
    (c.code != 0).then(|| {
        format!(
            "check exits {}: {} | {}",
            c.code,
            first_lines(&c.stdout),
            first_lines(&c.stderr)
        )
    })
}

/// Where a rotated secret's old value stays during the overlap: `tls/ca.key` in
/// `tls/ca.previous.key`, `REDIS_PASSWORD_APP` in `PREVIOUS_REDIS_PASSWORD_APP`.
pub fn previous_place(secret: &str) -> String {
    match secret.strip_suffix(".key") {
        Some(stem) => format!("{stem}.previous.key"),
        None => format!("PREVIOUS_{secret}"),
    }
}

/// The first few non-blank lines of an output, on one line, for a failure list.
pub fn first_lines(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(4)
        .collect::<Vec<_>>()
        .join(" | ")
}
