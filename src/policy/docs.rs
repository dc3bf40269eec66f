//! The rules reference (docs/policy.md), generated from the rule table and the check tables
//! so that it cannot drift from what the gate and the audits do. A unit test compares it
//! with the committed file; `REDIS_HARDEN_BLESS=1 cargo test --lib policy::docs` rewrites it.

use super::redis_conf::CHECKS;
use super::{Kind, Live, RULES, Rule, Scope, Severity, checked_in};

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::RedisConf => "redis.conf",
        Kind::Acl => "ACL file",
        Kind::DragonflyFlags => "Dragonfly flags",
        Kind::Compose => "compose file",
        Kind::Kubernetes => "Kubernetes manifest",
        Kind::Other => "other",
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// Where the live audit runs a static rule: the settings it reads, or every user.
fn live_coverage(rule: &Rule) -> Vec<String> {
    let mut settings: Vec<&str> = vec![];
    for c in CHECKS.iter().filter(|c| c.rules.contains(rule)) {
        if let Live::Settings(names) = c.live {
            settings.extend(names);
        }
    }
    settings.sort_unstable();
    settings.dedup();
    let mut out = vec![];
    if !settings.is_empty() {
        out.push(format!("live: `CONFIG GET {}`", settings.join(" ")));
    }
    // `ACL LIST` is replayed as an ACL file.
    if checked_in(rule).contains(&Kind::Acl) {
        out.push("live: `ACL LIST`".into());
    }
    out
}

/// Markdown table cells must not hold a `|` or a newline.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// docs/policy.md.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Policy rules\n\n\
         <!-- Generated from src/policy/rules.rs and the check tables by \
         `REDIS_HARDEN_BLESS=1 cargo test --lib policy::docs`; do not edit. -->\n\n\
         Every rule the policy gate (`init`, `render`), `check`, and the static and live \
         `audit` apply. The gate refuses a finding above `low` unless `--allow-insecure ID` \
         accepts it; `audit` fails on findings at or above `--fail-on`. \"Checked in\" lists \
         the file formats whose checks can break the rule, and what a live audit reads to \
         apply the same rule to a running server (an admin user may read it; with less, the \
         audit lists the checks it could not run as `check-skipped`).\n\n\
         | rule id | severity | checked in | why | fix |\n\
         |---|---|---|---|---|\n",
    );
    for r in RULES {
        let mut checked: Vec<String> = checked_in(r)
            .into_iter()
            .map(|k| kind_name(k).to_owned())
            .collect();
        match r.scope {
            Scope::Files => checked.extend(live_coverage(r)),
            Scope::LiveOnly => checked.push("live only".into()),
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            r.id,
            severity(r.severity),
            cell(&checked.join("; ")),
            cell(r.why),
            cell(r.fix)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_policy_md_is_generated_from_the_rule_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/policy.md");
        let want = markdown();
        if std::env::var_os("REDIS_HARDEN_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "docs/policy.md is not what the rule table generates:\n{}\nhelp: run `REDIS_HARDEN_BLESS=1 cargo test --lib policy::docs` and commit docs/policy.md",
            similar::TextDiff::from_lines(&got, &want).unified_diff()
        );
    }

    #[test]
    fn every_file_rule_is_checked_somewhere() {
        for r in RULES.iter().filter(|r| r.scope == Scope::Files) {
            assert!(!checked_in(r).is_empty(), "{} is in no check table", r.id);
        }
    }
}
