//! How a rotation reaches a running multi-node deployment: one step per node, in order, all
//! inside the overlap window (old and new certificates, or old and new passwords, both work
//! until `--finish`).
//!
//! Data nodes reload without a restart (`CONFIG SET tls-cert-file ...`, `ACL LOAD`). Sentinel
//! cannot: its `CONFIG SET` has no TLS options (redis/redis issues 12028 and 12691, open), so
//! a certificate or CA change restarts the Sentinels one at a time, each waited for before
//! the next, and a quorum is always up.

use serde::Serialize;

use crate::profile::{Engine, EnvProfile};
use crate::render::Target;
use crate::values::ConfPath;

use super::{Node, Role, layout};

/// What a rotation changed, as far as the running servers care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Every node's certificate and key (same paths, new content).
    Certs,
    /// The CA file (and, on `--finish`, nothing else).
    Ca,
    /// ACL files (both users.acl and the Sentinels' file), plus the passwords the servers
    /// themselves log in with when one of these users was rotated.
    Passwords { users: Vec<String> },
}

/// One node's part of the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub node: String,
    /// `host:port` as clients dial it.
    pub address: String,
    /// `reload` (commands to the running server) or `restart` (stop, start again, wait).
    pub action: &'static str,
    /// Shell commands, in order, run where secrets.env's variables are set
    /// (`set -a; . ./secrets.env; set +a`). No secret is written out: `$REDIS_PASSWORD_...`.
    pub commands: Vec<String>,
    /// `restart`: a command to repeat until it prints `OK` before the next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for_ok: Option<String>,
    /// Why, in a few words.
    pub why: String,
}

/// What the rollout needs to know about the bundle.
pub struct Bundle<'a> {
    pub profile: &'a EnvProfile,
    pub target: Target,
    /// The bundle directory as configs name it (`--target local`).
    pub out_conf: &'a ConfPath,
    /// The name the Sentinels monitor.
    pub master_name: &'a str,
}

impl Bundle<'_> {
    /// Where the node's server reads the bundle: the output directory (local) or the
    /// server's config directory (host, docker).
    fn base(&self) -> ConfPath {
        crate::render::server_base(self.profile, self.target)
            .unwrap_or_else(|| self.out_conf.clone())
    }

    fn cli_program(&self) -> &'static str {
        let facts = self.profile.server_facts();
        if self.profile.engine == Engine::Dragonfly {
            "redis-cli"
        } else {
            facts.cli_program
        }
    }

    /// `REDISCLI_AUTH="$REDIS_PASSWORD_ADMIN" redis-cli --tls ... -h HOST -p PORT --user admin`
    /// against `node`, with the bundle's CA and app client certificate (the operator's
    /// machine holds the bundle).
    fn admin_cli(&self, node: &Node) -> String {
        let dir = self.out_conf.as_str();
        let tls = if self.profile.tls.enabled {
            format!(
                "--tls --cacert \"{dir}/tls/ca.crt\" --cert \"{dir}/tls/client.crt\" --key \"{dir}/tls/client.key\" "
            )
        } else {
            String::new()
        };
        format!(
            "REDISCLI_AUTH=\"$REDIS_PASSWORD_ADMIN\" {} {tls}-h {} -p {} --user admin --no-auth-warning",
            self.cli_program(),
            node.ip,
            node.port
        )
    }

    fn file(&self, rel: &str) -> String {
        self.base().join(rel).as_str().to_owned()
    }
}

/// The steps that apply `change` to every node of `nodes`: data nodes first (each reloads
/// on its own), then the Sentinels one at a time.
pub fn plan(b: &Bundle<'_>, nodes: &[Node], change: &Change) -> Vec<Step> {
    let data = nodes.iter().filter(|n| n.role.is_data());
    let sentinels = nodes.iter().filter(|n| n.role == Role::Sentinel);
    let mut steps: Vec<Step> = data.filter_map(|n| data_step(b, n, change)).collect();
    steps.extend(sentinels.filter_map(|n| sentinel_step(b, n, change)));
    steps
}

fn data_step(b: &Bundle<'_>, node: &Node, change: &Change) -> Option<Step> {
    let cli = b.admin_cli(node);
    let (cert, key) = (
        b.file(&layout::cert(&node.name)),
        b.file(&layout::key(&node.name)),
    );
    let ca = b.file(crate::pki::CA_CERT);
    let (commands, why) = match change {
        Change::Certs => (
            vec![format!(
                "{cli} CONFIG SET tls-cert-file \"{cert}\" tls-key-file \"{key}\""
            )],
            "reads the new certificate and key (same paths) for new connections".to_owned(),
        ),
        Change::Ca => (
            vec![format!(
                "{cli} CONFIG SET tls-ca-cert-file \"{ca}\" tls-cert-file \"{cert}\" tls-key-file \"{key}\""
            )],
            "reads the new CA file".to_owned(),
        ),
        Change::Passwords { users } => {
            let mut c = vec![format!("{cli} ACL LOAD")];
            if users.iter().any(|u| u == super::users::REPLICATOR) {
                // masterauth is how this node logs in to its primary (after a failover too).
                c.push(format!(
                    "{cli} CONFIG SET masterauth \"$REDIS_PASSWORD_REPLICATOR\""
                ));
            }
            (
                c,
                "users.acl accepts the old and the new passwords".to_owned(),
            )
        }
    };
    Some(Step {
        node: node.name.clone(),
        address: node.host_port(),
        action: "reload",
        commands,
        wait_for_ok: None,
        why,
    })
}

fn sentinel_step(b: &Bundle<'_>, node: &Node, change: &Change) -> Option<Step> {
    let cli = b.admin_cli(node);
    let name = b.master_name;
    match change {
        Change::Certs | Change::Ca => {
            let facts = b.profile.server_facts();
            let conf = b.file(&layout::conf(node));
            let start = match b.target {
                Target::Host => format!(
                    "stop {}'s Sentinel process, then start it again: {} {conf} --sentinel",
                    node.name, facts.server_program
                ),
                _ => format!(
                    "stop its process, then start it again: {} \"{conf}\" --sentinel",
                    facts.server_program
                ),
            };
            Some(Step {
                node: node.name.clone(),
                address: node.host_port(),
                action: "restart",
                commands: vec![start],
                // The quorum of Sentinels it can reach, as it counts them itself.
                wait_for_ok: Some(format!("{cli} SENTINEL CKQUORUM {name}")),
                why: "Sentinel cannot reload TLS files at run time (redis/redis#12028, #12691): one Sentinel at a time, so a quorum stays up".into(),
            })
        }
        Change::Passwords { users } => {
            let mut commands = vec![format!("{cli} ACL LOAD")];
            if users.iter().any(|u| u == super::users::SENTINEL) {
                commands.push(format!(
                    "{cli} SENTINEL SET {name} auth-pass \"$REDIS_PASSWORD_SENTINEL\""
                ));
            }
            if users.iter().any(|u| u == super::users::SENTINEL_PEER) {
                commands.push(format!(
                    "{cli} SENTINEL CONFIG SET sentinel-pass \"$REDIS_PASSWORD_SENTINEL_PEER\""
                ));
            }
            Some(Step {
                node: node.name.clone(),
                address: node.host_port(),
                action: "reload",
                commands,
                wait_for_ok: None,
                why: "the Sentinels' ACL file accepts the old and the new passwords; Sentinel saves what SENTINEL SET changes in its own sentinel.conf".into(),
            })
        }
    }
}

/// The text `rotate` prints for a plan.
pub fn text(steps: &[Step]) -> String {
    let mut out = String::from(
        "apply to the running deployment, in this order, while old and new both work (before --finish):\n",
    );
    for (i, s) in steps.iter().enumerate() {
        out.push_str(&format!(
            "  {}. {} ({}): {}, {}\n",
            i + 1,
            s.node,
            s.address,
            s.action,
            s.why
        ));
        for c in &s.commands {
            out.push_str(&format!("       {c}\n"));
        }
        if let Some(w) = &s.wait_for_ok {
            out.push_str(&format!(
                "       then repeat until it prints OK, before the next step: {w}\n"
            ));
        }
    }
    out
}
