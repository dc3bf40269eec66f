//! The command tables the gate checks ACL rules against (src/server/*.commands), judged by
//! the real servers: a corpus of command rules is loaded by each server (in a `user` line of
//! its config, in its ACL file, and in a Sentinel's ACL file) and audited by redis-harden for
//! the same version; the gate must refuse exactly what the server refuses. And the checked-in
//! tables must be what tests/gen-command-tables.sh measures on the installed servers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::ServerUnderTest;

crate::live::on_every_server!(the_gate_refuses_exactly_the_command_rules_the_server_refuses);

/// Command rules: known ones in every spelling Redis accepts, typos, unknown subcommands,
/// first-argument rules, selectors, commands of one version only, and module commands.
const CORPUS: &[&str] = &[
    "+get",
    "+GET",
    "-get",
    "+ping",
    "+config",
    "-config",
    "+config|get",
    "+CONFIG|GET",
    "+Config|Get",
    "-config|get",
    "+select|0",
    "+flushall|async",
    "(+get ~x)",
    "+nonsensecmd",
    "-nonsensecmd",
    "-flushal",
    "+config|bogus",
    "-config|bogus",
    "+foo|bar",
    "-select|0",
    "+config|get|x",
    "+config|",
    "+|get",
    "+",
    "(+nonsense ~x)",
    // Not in every version: Redis 8.0 adds HGETEX, Redis 8.0 and Valkey have CLIENT SETINFO,
    // Valkey 8.0 SCRIPT SHOW, Valkey 8.1 COMMANDLOG.
    "+hgetex",
    "+client|setinfo",
    "+script|show",
    "+commandlog|get",
    // Module commands: Redis 8.0's built-in vector sets, and modules none of them loads.
    "+vadd",
    "+json.get",
    "+ft.search",
    // A Sentinel's own.
    "+sentinel|masters",
    "+sentinel|get-primary-addr-by-name",
    "+sentinel|bogus",
];

/// How the rule reaches the server.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// `user x ... RULE` in redis.conf.
    ConfUser,
    /// The same line in the ACL file the config names.
    AclFile,
    /// In the ACL file of a Sentinel (`--sentinel`).
    SentinelAcl,
}

const FORMS: [Form; 3] = [Form::ConfUser, Form::AclFile, Form::SentinelAcl];

fn the_gate_refuses_exactly_the_command_rules_the_server_refuses(srv: &'static ServerUnderTest) {
    let program = srv.server_program();
    let tmp = tempfile::tempdir().unwrap();
    let mut disagree = vec![];
    let mut refused_by_server = 0;
    for form in FORMS {
        // The files the gate audits, all at once: one per rule.
        let mut files = vec![];
        let mut server_loads = vec![];
        for (i, rule) in CORPUS.iter().enumerate() {
            let user = format!("user x off resetpass ~* {rule}");
            let acl = format!("user default off\n{user}\n");
            let (name, text) = match form {
                Form::ConfUser => (format!("{i}.conf"), user.clone()),
                Form::AclFile => (format!("users-{i}.acl"), acl.clone()),
                Form::SentinelAcl => (format!("sentinel-users-{i}.acl"), acl.clone()),
            };
            std::fs::write(tmp.path().join(&name), text).unwrap();
            files.push(name);
            server_loads.push(loads(&program, tmp.path(), form, &user, &acl));
        }
        let refused = gate_refuses(tmp.path(), srv, form, &files);
        for ((rule, server), gate) in CORPUS.iter().zip(&server_loads).zip(&refused) {
            refused_by_server += usize::from(!server);
            if *gate == *server {
                disagree.push(format!(
                    "{rule:?} in {form:?}: {} {}, the gate {}",
                    srv.label,
                    if *server { "loads it" } else { "refuses it" },
                    if *gate { "refuses it" } else { "lets it pass" }
                ));
            }
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    // The corpus means something on every server: some rules pass, many are refused.
    assert!(
        refused_by_server > CORPUS.len(),
        "{}: only {refused_by_server} refusals",
        srv.label
    );
}

/// Whether the real server starts with `user` (in its config, or `acl` as its ACL file).
/// Started: it says so once its users are loaded ("ready to accept connections", or a
/// Sentinel's "Sentinel ID is"); refused: it exits.
fn loads(program: &Path, dir: &Path, form: Form, user: &str, acl: &str) -> bool {
    let sock = dir.join("s.sock");
    let _ = std::fs::remove_file(&sock);
    let mut conf = format!(
        "port 0\nunixsocket {}\nunixsocketperm 700\nsave \"\"\nappendonly no\ndir {}\n",
        sock.display(),
        dir.display()
    );
    let acl_path = dir.join("server.acl");
    match form {
        Form::ConfUser => conf.push_str(&format!("{user}\n")),
        Form::AclFile | Form::SentinelAcl => {
            std::fs::write(&acl_path, acl).unwrap();
            conf.push_str(&format!("aclfile {}\n", acl_path.display()));
        }
    }
    let mut cmd = Command::new(program);
    let conf_path = dir.join("server.conf");
    if form == Form::SentinelAcl {
        conf.push_str("sentinel monitor m 127.0.0.1 1 1\n");
    }
    std::fs::write(&conf_path, conf).unwrap();
    cmd.arg(&conf_path);
    if form == Form::SentinelAcl {
        cmd.arg("--sentinel");
    }
    let log = dir.join("server.log");
    let mut child = cmd
        .current_dir(dir)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        // 7.0 says "ready to accept connections at SOCKET" when no TCP port listens.
        let lower = said.to_ascii_lowercase();
        if lower.contains("ready to accept connections") || lower.contains("sentinel id is") {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                !status.success(),
                "{} exited 0 without starting:\n{said}",
                program.display()
            );
            return false;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{} neither started nor exited:\n{said}", program.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// For each file, whether `audit` (for the server's engine and version) refuses a rule in
/// it as the server would: `unknown-command` or `unloadable-line`.
fn gate_refuses(dir: &Path, srv: &ServerUnderTest, form: Form, files: &[String]) -> Vec<bool> {
    let kind = if form == Form::ConfUser {
        "redis-conf"
    } else {
        "acl"
    };
    let mut args = vec![
        "audit", "--env", "testing", "--kind", kind, "--format", "json",
    ];
    args.extend(srv.init_args);
    args.extend(files.iter().map(String::as_str));
    let r = crate::support::run(dir, &args);
    let report: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    let findings = report["findings"].as_array().unwrap();
    files
        .iter()
        .map(|name| {
            findings.iter().any(|f| {
                f["artifact"].as_str() == Some(name.as_str())
                    && matches!(
                        f["rule"].as_str(),
                        Some("unknown-command" | "unloadable-line")
                    )
            })
        })
        .collect()
}

/// The checked-in tables are exactly what the script measures on the installed servers: a
/// server release that adds or drops a command fails here, with the command to re-run.
#[test]
fn the_checked_in_command_tables_are_what_the_servers_report() {
    for srv in crate::support::ALL_SERVERS {
        srv.server_program();
        srv.cli_program();
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/gen-command-tables.sh"))
        .arg(tmp.path())
        .output()
        .expect("run tests/gen-command-tables.sh");
    assert!(
        out.status.success(),
        "tests/gen-command-tables.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let mut compared = 0;
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let measured = entry.unwrap().path();
        let file = measured.file_name().unwrap().to_str().unwrap().to_owned();
        let checked_in = root.join("src/server").join(&file);
        let (live, ours) = (names(&measured), names(&checked_in));
        let added: Vec<_> = live.iter().filter(|n| !ours.contains(n)).collect();
        let dropped: Vec<_> = ours.iter().filter(|n| !live.contains(n)).collect();
        assert!(
            added.is_empty() && dropped.is_empty(),
            "src/server/{file} differs from the installed server: it lacks {added:?} and has \
             {dropped:?} that the server does not. A server release changed its commands: re-run \
             `bash tests/gen-command-tables.sh` and commit src/server/*.commands"
        );
        compared += 1;
    }
    assert_eq!(compared, 8, "four servers, data and Sentinel tables");
}

/// A team template's typo in a deny rule is refused by the gate (exit 1, nothing written),
/// naming the file, the line, the user, the rule and the nearest command; it was never a
/// restriction, and the server would not start on the file.
#[test]
fn a_typo_in_a_team_templates_deny_rule_is_refused_with_the_nearest_command() {
    use crate::policy_review::{assert_refused_by_gate, extends};
    let line = format!(
        "user worker on #{} ~* +@all -@dangerous -@admin -@scripting -flushal",
        "a".repeat(64)
    );
    let files = [("users.acl.tera", extends("users.acl.tera", &line))];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    assert_refused_by_gate(&files, "production", &[], "unknown-command", "users.acl");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("team")).unwrap();
    std::fs::write(tmp.path().join("team/users.acl.tera"), files[0].1).unwrap();
    let r = crate::support::run(
        tmp.path(),
        &["init", "--env", "production", "--templates", "team"],
    );
    r.failure(1);
    let finding = r
        .stderr
        .lines()
        .find(|l| l.contains("[unknown-command]"))
        .unwrap_or_else(|| panic!("no finding:\n{}", r.stderr));
    // default, app, monitoring, admin, the block's opening newline, then the team's line.
    let acl_line = 6;
    assert!(
        finding.contains(&format!("users.acl:{acl_line}:"))
            && finding.contains(
                "user worker: -flushal: Redis 7.0 has no such command (nearest: -flushall)"
            ),
        "{finding}"
    );
}
