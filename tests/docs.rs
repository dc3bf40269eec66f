//! The docs cannot rot: every ```console command in README.md, CONTRIBUTING.md and docs/ runs
//! as written, every relative link resolves, and the generated parts (the profile key table,
//! the committed JSON Schema) match what the binary generates now.
//!
//! Convention for runnable examples: in a ```console block, each line starting with `$ ` is a
//! command (a trailing `\` continues it on the next line). A file's commands run in order, in
//! one scratch directory of their own, with the freshly built binary on PATH as `redis-harden`
//! and this repository's `examples/` linked in. A command must exit 0 unless it ends with a
//! `# exit N` comment. Other lines are output and are not compared. ```text and ```sh blocks
//! are never run.
//!
//! Set REDIS_HARDEN_BLESS=1 to rewrite the generated parts instead of comparing them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::BIN;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, CONTRIBUTING.md and every docs/*.md, whoever wrote them.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One runnable command: where it is written and what it must exit with.
#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    exit: i32,
}

/// The `$ ` commands of every ```console block of `text`, in order.
fn console_commands(text: &str) -> Vec<Example> {
    let mut out = vec![];
    let mut in_console = false;
    let mut in_other = false;
    let mut pending: Option<Example> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            if in_console || in_other {
                in_console = false;
                in_other = false;
            } else if info.trim() == "console" {
                in_console = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(mut ex) = pending.take() {
            ex.command.push('\n');
            ex.command.push_str(line);
            if line.ends_with('\\') {
                pending = Some(ex);
            } else {
                out.push(ex);
            }
            continue;
        }
        if let Some(cmd) = trimmed.strip_prefix("$ ") {
            let ex = Example {
                line: i + 1,
                command: cmd.to_owned(),
                exit: 0,
            };
            if cmd.ends_with('\\') {
                pending = Some(ex);
            } else {
                out.push(ex);
            }
        }
    }
    assert!(
        pending.is_none(),
        "a console command ends with a dangling `\\`"
    );
    for ex in &mut out {
        let last = ex.command.lines().last().unwrap_or_default();
        if let Some((_, n)) = last.rsplit_once("# exit ") {
            ex.exit = n
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("line {}: `# exit N` needs a number: {last}", ex.line));
        }
    }
    out
}

#[test]
fn console_blocks_are_found_and_exit_codes_read() {
    let text = "a\n```console\n$ redis-harden init --env testing\nout\n$ false \\\n  x # exit 1\n```\n```sh\n$ rm -rf /\n```\n";
    let found = console_commands(text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].command, "redis-harden init --env testing");
    assert_eq!((found[0].line, found[0].exit), (3, 0));
    assert_eq!(found[1].command, "false \\\n  x # exit 1");
    assert_eq!(found[1].exit, 1);
}

#[test]
fn every_console_command_in_the_docs_runs_as_written() {
    crate::support::require("bash", "apt-get install -y bash");
    let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut ran = 0;
    let mut failures = vec![];
    for file in doc_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let examples = console_commands(&text);
        if examples.is_empty() {
            continue;
        }
        let scratch = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root().join("examples"), scratch.path().join("examples"))
            .unwrap();
        for ex in examples {
            let out = Command::new("bash")
                .args(["-c", &ex.command])
                .current_dir(scratch.path())
                .env_clear()
                .env("PATH", &path)
                .env("HOME", scratch.path())
                .env("LANG", "C")
                .output()
                .expect("run bash");
            ran += 1;
            let code = out.status.code().unwrap_or(-1);
            if code != ex.exit {
                failures.push(format!(
                    "{}:{}: `{}` exited {code}, expected {}\nstdout:\n{}\nstderr:\n{}",
                    file.strip_prefix(root()).unwrap().display(),
                    ex.line,
                    ex.command,
                    ex.exit,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} documented commands failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(ran >= 10, "only {ran} documented commands found");
}

/// Docs other branches add; the lead checks these links once they are merged.
const PENDING: [&str; 3] = ["docs/policy.md", "docs/bundle.md", "docs/servers.md"];

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fence = false;
    let mut out = vec![];
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        if !fence && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let link = |s: &str| -> Vec<String> {
        let mut out = vec![];
        let mut rest = s;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_owned());
            }
        }
        out
    };
    let mut broken = vec![];
    let mut checked = 0;
    for file in doc_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for target in link(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let rel = dest
                .canonicalize()
                .ok()
                .and_then(|d| d.strip_prefix(root()).ok().map(Path::to_path_buf));
            let shown = file.strip_prefix(root()).unwrap().display().to_string();
            let Some(rel) = rel else {
                let pending = PENDING.iter().any(|p| root().join(p) == normalize(&dest));
                if !pending {
                    broken.push(format!("{shown}: ({target}): no such file"));
                }
                continue;
            };
            if !anchor.is_empty() && rel.extension().is_some_and(|e| e == "md") {
                let body = std::fs::read_to_string(root().join(&rel)).unwrap();
                if !anchors(&body).iter().any(|a| a == anchor) {
                    broken.push(format!("{shown}: ({target}): no heading #{anchor}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 15, "only {checked} links checked");
}

/// `a/docs/../b` without touching the disk (the file may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn readme_links_every_reference_doc() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for doc in doc_files().iter().skip(2) {
        let rel = doc.strip_prefix(root()).unwrap().display().to_string();
        assert!(
            readme.contains(&format!("]({rel})")),
            "README.md's table of contents lacks {rel}"
        );
    }
    for pending in PENDING {
        assert!(readme.contains(&format!("]({pending})")), "{pending}");
    }
}

/// Compares `path` with `generated`, or rewrites it under REDIS_HARDEN_BLESS=1.
fn matches_generated(path: &Path, generated: &str) {
    if std::env::var_os("REDIS_HARDEN_BLESS").is_some() {
        std::fs::write(path, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    if on_disk != generated {
        let diff = similar::TextDiff::from_lines(&on_disk, generated)
            .unified_diff()
            .header(&format!("{} (committed)", path.display()), "generated now")
            .to_string();
        panic!(
            "{} is out of date; regenerate it with \
             `REDIS_HARDEN_BLESS=1 cargo test --test integration docs::`\n{diff}",
            path.display()
        );
    }
}

#[test]
fn committed_schema_is_what_profile_schema_prints() {
    let r = crate::support::run(&root(), &["profile", "schema"]);
    r.success();
    assert_eq!(r.stdout, redis_harden::profile::schema::json());
    matches_generated(&root().join("docs/redis-harden.schema.json"), &r.stdout);
}

#[test]
fn profile_key_table_is_generated_from_the_schema() {
    const BEGIN: &str = "<!-- BEGIN GENERATED: profile keys (tests/docs.rs) -->\n";
    const END: &str = "<!-- END GENERATED: profile keys -->";
    let path = root().join("docs/profile.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once(BEGIN).expect("BEGIN marker");
    let (_, tail) = rest.split_once(END).expect("END marker");
    let table = redis_harden::profile::schema::keys_markdown();
    for key in [
        "redis.port",
        "tls.client_auth",
        "acl.users[].commands",
        "docker.cpus",
    ] {
        assert!(
            table.contains(&format!("| `{key}` |")),
            "{key} missing:\n{table}"
        );
    }
    matches_generated(&path, &format!("{head}{BEGIN}{table}{END}{tail}"));
}

/// The code spans of the first column of each table row under `heading`, split into tables.
pub(crate) fn context_tables(text: &str, heading: &str) -> Vec<Vec<String>> {
    let section = text
        .split_once(heading)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let mut tables: Vec<Vec<String>> = vec![];
    let mut in_table = false;
    for line in section.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            tables.push(vec![]);
            in_table = true;
        }
        let first = line.split('|').nth(1).unwrap_or_default();
        let names = first.split('`').skip(1).step_by(2).map(str::to_owned);
        tables.last_mut().unwrap().extend(names);
    }
    tables
}

#[test]
fn every_documented_template_variable_exists() {
    let text = std::fs::read_to_string(root().join("docs/templates.md")).unwrap();
    let tables = context_tables(&text, "## Template context");
    assert_eq!(tables.len(), 2, "{tables:?}");
    let (everywhere, secret) = (&tables[0], &tables[1]);
    assert!(everywhere.len() >= 30 && secret.len() >= 6, "{tables:?}");
    // Printing a variable fails on an undefined name (`set` would not), objects included.
    let lines = |names: &[String]| -> String {
        names.iter().map(|n| format!("# {{{{ {n} }}}}\n")).collect()
    };
    let team = |dir: &Path, conf_extra: &str, client_env: &str| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("redis.conf.tera"),
            format!(
                "{{% extends \"builtin/redis.conf.tera\" %}}{{% block extra %}}{conf_extra}{{% endblock extra %}}"
            ),
        )
        .unwrap();
        if !client_env.is_empty() {
            // client.env (mode 0600) has no blocks: replace it whole.
            std::fs::write(dir.join("client.env.tera"), client_env).unwrap();
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    // Dragonfly in a container: the one bundle with every optional part.
    let args = [
        "init",
        "--env",
        "production",
        "--engine",
        "dragonfly",
        "--target",
        "docker",
        "--templates",
        "team",
    ];
    team(
        &tmp.path().join("team"),
        &lines(everywhere),
        &(lines(everywhere) + &lines(secret)),
    );
    crate::support::run(tmp.path(), &args).success();
    let conf = std::fs::read_to_string(tmp.path().join("deploy/production/redis.conf")).unwrap();
    assert!(conf.contains("# production\n"), "{conf}");

    // And an undocumented name fails, so the check above can fail.
    let tmp = tempfile::tempdir().unwrap();
    team(
        &tmp.path().join("team"),
        &lines(&["redis.no_such_thing".into()]),
        "",
    );
    crate::support::run(tmp.path(), &args)
        .failure(2)
        .stderr_has("no_such_thing");

    // The secret ones really are kept from files others may read.
    for name in secret {
        let tmp = tempfile::tempdir().unwrap();
        team(
            &tmp.path().join("team"),
            &lines(std::slice::from_ref(name)),
            "",
        );
        crate::support::run(tmp.path(), &args)
            .failure(2)
            .stderr_has("redis.conf.tera");
    }
}
