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
    /// themselves log in with when one of these users was rotated (not on `--finish`: the
    /// new passwords are in use already).
    Passwords { users: Vec<String>, finish: bool },
}

impl Change {
    /// Whether `user` got a new password that servers must start logging in with (a password
    /// rotation naming it, not its `--finish`).
    pub fn rotates(&self, user: &str) -> bool {
        matches!(self, Change::Passwords { users, finish: false } if users.iter().any(|u| u == user))
    }
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
    /// The secrets.env variable with the admin password the running servers accept:
    /// `PREVIOUS_REDIS_PASSWORD_ADMIN` while the admin's own new password is not loaded yet.
    pub admin_var: &'a str,
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
            "REDISCLI_AUTH=\"${}\" {} {tls}-h {} -p {} --user admin --no-auth-warning",
            self.admin_var,
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
/// on its own), then the Sentinels one at a time. For passwords, every ACL file is reloaded
/// before any server starts logging in with a new password (the primary may be any node).
pub fn plan(b: &Bundle<'_>, nodes: &[Node], change: &Change) -> Vec<Step> {
    let data: Vec<&Node> = nodes.iter().filter(|n| n.role.is_data()).collect();
    let sentinels: Vec<&Node> = nodes.iter().filter(|n| n.role == Role::Sentinel).collect();
    match change {
        Change::Certs | Change::Ca => data
            .iter()
            .map(|n| tls_reload(b, n, change))
            .chain(sentinels.iter().map(|n| sentinel_restart(b, n)))
            .collect(),
        Change::Passwords { users, finish } => {
            let mut steps: Vec<Step> = data
                .iter()
                .chain(&sentinels)
                .map(|n| acl_load(b, n))
                .collect();
            if !finish {
                steps.extend(
                    data.iter()
                        .chain(&sentinels)
                        .filter_map(|n| own_credentials(b, n, users)),
                );
            }
            steps
        }
    }
}

fn step(node: &Node, action: &'static str, commands: Vec<String>, why: &str) -> Step {
    Step {
        node: node.name.clone(),
        address: node.host_port(),
        action,
        commands,
        wait_for_ok: None,
        why: why.to_owned(),
    }
}

fn tls_reload(b: &Bundle<'_>, node: &Node, change: &Change) -> Step {
    let cli = b.admin_cli(node);
    let (cert, key) = (
        b.file(&layout::cert(&node.name)),
        b.file(&layout::key(&node.name)),
    );
    let ca = b.file(crate::pki::CA_CERT);
    let (set, why) = if *change == Change::Ca {
        (
            format!("tls-ca-cert-file \"{ca}\" tls-cert-file \"{cert}\" tls-key-file \"{key}\""),
            "reads the new CA file",
        )
    } else {
        (
            format!("tls-cert-file \"{cert}\" tls-key-file \"{key}\""),
            "reads the new certificate and key (same paths) for new connections",
        )
    };
    step(node, "reload", vec![format!("{cli} CONFIG SET {set}")], why)
}

fn sentinel_restart(b: &Bundle<'_>, node: &Node) -> Step {
    let program = b.profile.server_facts().server_program;
    let conf = b.file(&layout::conf(node));
    // Started again exactly as `init`'s next steps start it.
    let start = match b.target {
        Target::Local => {
            let openssl = if b.profile.tls.enabled {
                format!("OPENSSL_CONF=\"{}\" ", b.file(crate::openssl::CNF))
            } else {
                String::new()
            };
            format!(
                "stop {}'s Sentinel process, then start it again: (umask 077; {openssl}{program} \"{conf}\" --sentinel)",
                node.name
            )
        }
        _ => format!(
            "restart {}'s Sentinel service ({program} {conf} --sentinel under systemd, UMask=0077)",
            node.name
        ),
    };
    Step {
        // The quorum of Sentinels it can reach, as it counts them itself.
        wait_for_ok: Some(format!(
            "{} SENTINEL CKQUORUM {}",
            b.admin_cli(node),
            b.master_name
        )),
        ..step(
            node,
            "restart",
            vec![start],
            "Sentinel cannot reload TLS files at run time (redis/redis#12028, #12691): one Sentinel at a time, so a quorum stays up",
        )
    }
}

fn acl_load(b: &Bundle<'_>, node: &Node) -> Step {
    let why = if node.role == Role::Sentinel {
        "re-reads the Sentinels' ACL file"
    } else {
        "re-reads users.acl"
    };
    step(
        node,
        "reload",
        vec![format!("{} ACL LOAD", b.admin_cli(node))],
        why,
    )
}

/// The passwords a node itself logs in with, set at run time when their user was rotated:
/// `masterauth` (every data node: a former primary rejoins as a replica), and on a Sentinel
/// `auth-pass` (to the data nodes) and `sentinel-pass` (to the other Sentinels), which
/// Sentinel then saves in its own sentinel.conf.
fn own_credentials(b: &Bundle<'_>, node: &Node, users: &[String]) -> Option<Step> {
    let cli = b.admin_cli(node);
    let rotated = |u: &str| users.iter().any(|x| x == u);
    let mut commands = vec![];
    if node.role.is_data() && rotated(super::users::REPLICATOR) {
        commands.push(format!(
            "{cli} CONFIG SET masterauth \"$REDIS_PASSWORD_REPLICATOR\""
        ));
    }
    if node.role == Role::Sentinel && rotated(super::users::SENTINEL) {
        commands.push(format!(
            "{cli} SENTINEL SET {} auth-pass \"$REDIS_PASSWORD_SENTINEL\"",
            b.master_name
        ));
    }
    if node.role == Role::Sentinel && rotated(super::users::SENTINEL_PEER) {
        commands.push(format!(
            "{cli} SENTINEL CONFIG SET sentinel-pass \"$REDIS_PASSWORD_SENTINEL_PEER\""
        ));
    }
    (!commands.is_empty()).then(|| {
        step(
            node,
            "reload",
            commands,
            "logs in to its peers with the new password from now on",
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Environment;

    fn profile() -> EnvProfile {
        let sets = [
            "topology.kind=sentinel".to_owned(),
            "redis.port=7000".to_owned(),
            "topology.sentinel_port=27000".to_owned(),
            "acl.admin.enabled=true".to_owned(),
        ];
        crate::profile::resolve(
            Environment::Production,
            None,
            &sets,
            std::path::Path::new("/nonexistent"),
        )
        .unwrap()
        .settings
    }

    fn steps(change: &Change, admin_var: &str) -> Vec<Step> {
        let p = profile();
        let out = ConfPath::parse("/srv/b").unwrap();
        let b = Bundle {
            profile: &p,
            target: Target::Local,
            out_conf: &out,
            master_name: "cache",
            admin_var,
        };
        plan(&b, &super::super::nodes(&p), change)
    }

    fn order(steps: &[Step]) -> Vec<(String, &'static str, usize)> {
        steps
            .iter()
            .map(|s| (s.node.clone(), s.action, s.commands.len()))
            .collect()
    }

    #[test]
    fn certificates_reload_the_data_nodes_then_restart_each_sentinel() {
        let s = steps(&Change::Certs, "REDIS_PASSWORD_ADMIN");
        let want: Vec<(String, &str, usize)> = [
            ("data-0", "reload"),
            ("data-1", "reload"),
            ("data-2", "reload"),
            ("sentinel-0", "restart"),
            ("sentinel-1", "restart"),
            ("sentinel-2", "restart"),
        ]
        .iter()
        .map(|(n, a)| ((*n).to_owned(), *a, 1))
        .collect();
        assert_eq!(order(&s), want);
        assert!(s[1].commands[0].ends_with(
            "-h 127.0.0.1 -p 7001 --user admin --no-auth-warning CONFIG SET tls-cert-file \"/srv/b/nodes/data-1/tls/node.crt\" tls-key-file \"/srv/b/nodes/data-1/tls/node.key\""
        ), "{}", s[1].commands[0]);
        assert!(s[4].commands[0].ends_with(
            "(umask 077; OPENSSL_CONF=\"/srv/b/openssl.cnf\" redis-server \"/srv/b/nodes/sentinel-1/sentinel.conf\" --sentinel)"
        ), "{}", s[4].commands[0]);
        assert!(
            s[4].wait_for_ok
                .as_deref()
                .unwrap()
                .ends_with("-p 27001 --user admin --no-auth-warning SENTINEL CKQUORUM cache")
        );
        let ca = steps(&Change::Ca, "REDIS_PASSWORD_ADMIN");
        assert!(ca[0].commands[0].contains("CONFIG SET tls-ca-cert-file \"/srv/b/tls/ca.crt\""));
        assert_eq!(ca[5].action, "restart");
    }

    #[test]
    fn passwords_load_every_acl_file_before_any_new_login_and_finish_only_loads() {
        let users: Vec<String> = ["app", "admin", "replicator", "sentinel", "sentinel-peer"]
            .iter()
            .map(|u| (*u).to_owned())
            .collect();
        let change = Change::Passwords {
            users: users.clone(),
            finish: false,
        };
        let s = steps(&change, "PREVIOUS_REDIS_PASSWORD_ADMIN");
        let loads = s
            .iter()
            .take_while(|s| s.commands[0].ends_with(" ACL LOAD"));
        assert_eq!(loads.count(), 6);
        let logins: Vec<(String, usize)> = s[6..]
            .iter()
            .map(|s| (s.node.clone(), s.commands.len()))
            .collect();
        assert_eq!(
            logins,
            [
                ("data-0".to_owned(), 1),
                ("data-1".to_owned(), 1),
                ("data-2".to_owned(), 1),
                ("sentinel-0".to_owned(), 2),
                ("sentinel-1".to_owned(), 2),
                ("sentinel-2".to_owned(), 2),
            ]
        );
        assert!(s[6].commands[0].ends_with("CONFIG SET masterauth \"$REDIS_PASSWORD_REPLICATOR\""));
        assert!(
            s[9].commands[1]
                .ends_with("SENTINEL CONFIG SET sentinel-pass \"$REDIS_PASSWORD_SENTINEL_PEER\"")
        );
        // No secret in a command: only variable names; the admin's old password until loaded.
        assert!(s.iter().all(|s| {
            s.commands[0].starts_with("REDISCLI_AUTH=\"$PREVIOUS_REDIS_PASSWORD_ADMIN\" ")
        }));

        // Only the app: no server logs in as it, so ACL LOAD is all.
        let app = Change::Passwords {
            users: vec!["app".into()],
            finish: false,
        };
        assert_eq!(steps(&app, "REDIS_PASSWORD_ADMIN").len(), 6);
        let finish = Change::Passwords {
            users,
            finish: true,
        };
        assert_eq!(steps(&finish, "REDIS_PASSWORD_ADMIN").len(), 6);
    }
}
