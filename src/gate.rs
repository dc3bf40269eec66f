//! The policy gate: every rendered file is checked against the environment's policy before
//! anything is written. A violation stops the run; a rule accepted with --allow-insecure is
//! let through with a loud comment in the output and a warning on every run.

use std::io::Write;

use crate::build::Built;
use crate::inputs::Prepared;
use crate::policy;
use crate::profile;
use crate::render::{self, Target};

/// Refuses `built` on a finding not accepted on purpose; marks the accepted ones.
pub fn gate(built: &mut Built, p: &Prepared, stderr: &mut dyn Write) -> Result<(), crate::Error> {
    let (accepted, refused) = judge(built, p);
    if !refused.is_empty() {
        return Err(crate::Error::Policy { findings: refused });
    }
    accept(built, &accepted, stderr);
    for f in advisories(built, p) {
        let _ = writeln!(stderr, "note: {f} (fix: {})", f.fix);
    }
    Ok(())
}

/// Low-severity findings: worth saying, not worth refusing (e.g. rename-command in a team
/// template, which is weaker than ACLs but not a hole).
pub fn advisories(built: &Built, p: &Prepared) -> Vec<policy::Finding> {
    policy_findings(built, p)
        .into_iter()
        .filter(|f| {
            f.severity == policy::Severity::Low && !p.allow_insecure.iter().any(|id| id == f.rule)
        })
        .collect()
}

/// Policy findings of a bundle, split into those accepted with --allow-insecure and the rest.
pub fn judge(built: &Built, p: &Prepared) -> (Vec<policy::Finding>, Vec<policy::Finding>) {
    policy_findings(built, p)
        .into_iter()
        .filter(|f| f.severity > policy::Severity::Low)
        .partition(|f| p.allow_insecure.iter().any(|id| id == f.rule))
}

/// Marks accepted findings: a warning now, and a loud comment in the output for every reader.
pub fn accept(built: &mut Built, accepted: &[policy::Finding], stderr: &mut dyn Write) {
    for f in accepted {
        // ACL lines carry password hashes; the comment lands in a file others may read.
        let text = f
            .text
            .split(' ')
            .map(|t| {
                if t.starts_with('#') && t.len() > 16 {
                    "#<hash>"
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let f = &policy::Finding { text, ..f.clone() };
        let _ = writeln!(
            stderr,
            "warning: INSECURE: policy rule {} accepted with --allow-insecure: {} ({})",
            f.rule, f.text, f.why
        );
        let loud = format!(
            "!!! INSECURE: policy rule \"{}\" accepted on purpose with --allow-insecure {}: {:?} in {}: {}",
            f.rule, f.rule, f.text, f.artifact, f.why
        );
        // ACL files take no comments: the notice goes into the config of the same server.
        let target = match policy::Kind::of(&f.artifact).comment() {
            Some(_) => f.artifact.clone(),
            None if f.artifact.starts_with("dragonfly") => "dragonfly.flags".to_owned(),
            None => render::REDIS_CONF.to_owned(),
        };
        if let Some(file) = built.files.iter_mut().find(|x| x.rel == target) {
            let mut content = format!("# {loud}\n").into_bytes();
            content.extend_from_slice(&file.content);
            file.content = content;
        }
    }
}

/// Whether firewall rules restrict who reaches the data port: some source is listed, and
/// none of them is "everyone" (a /0 network allows the whole address family).
fn firewalled(p: &profile::EnvProfile) -> bool {
    let f = &p.firewall;
    !f.app_cidrs.is_empty()
        && f.app_cidrs
            .iter()
            .chain(&f.monitoring_cidrs)
            .all(|c| c.net().prefix_len() > 0)
}

/// Policy findings for every rendered file of a bundle.
pub fn policy_findings(built: &Built, p: &Prepared) -> Vec<policy::Finding> {
    let settings = &p.resolved.settings;
    let policy = policy::Policy::for_env(
        p.resolved.env,
        firewalled(settings),
        p.target == Target::Docker,
    )
    .for_server(settings.server_facts());
    // Every target has one CA path the bundle rendered for each server (for `local`, inside
    // the output directory): any other file, or a directory of CAs, lets in another CA's
    // clients.
    let redis = policy.clone().with_trust_anchor(
        render::server_dir(settings, p.target, &p.out_conf)
            .join(crate::pki::CA_CERT)
            .as_str(),
    );
    let dragonfly = policy.with_trust_anchor(
        crate::dragonfly::server_dir(p.target, &p.out_conf)
            .join(crate::pki::CA_CERT)
            .as_str(),
    );
    built
        .files
        .iter()
        .filter(|f| built.rendered.contains(&f.rel))
        .flat_map(|f| {
            let base = match policy::Kind::of(&f.rel) {
                policy::Kind::DragonflyFlags => &dragonfly,
                _ => &redis,
            };
            let policy = policy::Policy {
                secret_file: f.secret,
                ..base.clone()
            };
            policy::check(&f.rel, &String::from_utf8_lossy(&f.content), &policy)
        })
        .collect()
}
