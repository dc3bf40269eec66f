//! How a rotation reaches the pods of a Kubernetes topology (sentinel, cluster): `kubectl
//! apply` of the manifests, then what makes each pod take the change, in a safe order, all
//! inside the overlap window (old and new passwords, or certificates of both CAs, work until
//! `--finish`).
//!
//! - Data pods read users.acl and the certificate from the mounted Secrets: with the admin
//!   user they reload online (`ACL LOAD`, `CONFIG SET tls-*`) once the kubelet has refreshed
//!   the mount, checked by comparing the pod's file with the bundle's. Without it, nothing in
//!   a pod may reload, so the StatefulSet restarts (one pod at a time, highest ordinal first).
//! - What a server logs in with itself (`masterauth`, Sentinel's `auth-pass` and
//!   `sentinel-pass`) lives in the config copy the init container wrote into the pod's
//!   emptyDir; a restarted pod gets a fresh copy from the Secret, so those rotations restart
//!   the StatefulSet, after every ACL file accepts the new password.
//! - Sentinels cannot reload TLS (no TLS options in Sentinel's `CONFIG SET`; redis/redis
//!   issues 12028 and 12691) and read their config copy only at start: a rolling restart,
//!   then (with the admin user) `SENTINEL CKQUORUM` from pod 0 until the quorum is back.
//!
//! The admin password goes into `kubectl exec` on stdin, never on a command line.

use std::path::Path;

use crate::pki;
use crate::profile::{Engine, EnvProfile};
use crate::topology::rollout::{Change, Step};
use crate::topology::{Kind, render::SENTINEL_ACL, users};

use super::topo::{data_pods, data_set, headless, sentinel_set, svc_domain};

/// The main container of every StatefulSet pod (k8s-statefulset.yaml.tera).
const CONTAINER: &str = "server";

/// A StatefulSet of the bundle, as the steps need it.
struct Set {
    name: String,
    pods: usize,
    port: u16,
}

impl Set {
    /// Pod names in the order a StatefulSet updates them: highest ordinal first.
    fn pods(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.pods).rev().map(|i| format!("{}-{i}", self.name))
    }
}

struct Ctx<'a> {
    p: &'a EnvProfile,
    ns: &'a str,
    /// The bundle as the operator typed it (`--out`).
    shown: &'a Path,
    /// The secrets.env variable with the admin password the pods accept now.
    admin_var: &'a str,
    data: Set,
    sentinels: Option<Set>,
    /// Whether the admin user exists, so that pods may reload online.
    admin: bool,
    /// Why the Sentinels restart only after the data pods are Ready.
    learns: String,
    /// What restarting a primary does.
    failover: &'static str,
    /// The name the Sentinels monitor the primary under.
    master: &'a str,
}

/// Why the StatefulSets restart when the admin user is off.
const NO_ADMIN: &str = "the admin user is off in this profile, so no pod reloads online: the StatefulSet restarts its pods one at a time, highest ordinal first, each Ready before the next";

impl Ctx<'_> {
    /// The mounted config directory in every pod.
    fn pod_dir(&self) -> &'static str {
        self.p.server_facts().container_config_dir
    }

    fn address(&self, set: &Set, pod: Option<&str>) -> String {
        let host = pod.map_or_else(
            || headless(&set.name),
            |pod| format!("{pod}.{}", headless(&set.name)),
        );
        format!("{host}.{}:{}", svc_domain(self.p), set.port)
    }

    /// Repeat until pod `pod` sees the bundle's `rel` in its mounted Secret (the kubelet
    /// refreshes mounts within about a minute); the content stays off the screen.
    fn wait_for_file(&self, pod: &str, rel: &str) -> String {
        format!(
            "until kubectl exec -n {ns} {pod} -c {CONTAINER} -- cat {dir}/{rel} | cmp -s - {local}; do sleep 5; done",
            ns = self.ns,
            dir = self.pod_dir(),
            local = self.shown.join(rel).display(),
        )
    }

    /// `command` run inside `pod` as admin over loopback with the pod's own certificate, the
    /// password on stdin (as the standalone line does).
    fn admin_exec(&self, pod: &str, port: u16, command: &str) -> String {
        let dir = self.pod_dir();
        let facts = self.p.server_facts();
        let cli = if self.p.engine == Engine::Dragonfly {
            "redis-cli"
        } else {
            facts.cli_program
        };
        format!(
            "printf '%s' \"${var}\" | kubectl exec -i -n {ns} {pod} -c {CONTAINER} -- sh -c 'REDISCLI_AUTH=\"$(cat)\" {cli} \
             --tls --cacert {dir}/{ca} --cert {dir}/{crt} --key {dir}/{key} -h localhost -p {port} --user admin --no-auth-warning {command}'",
            var = self.admin_var,
            ns = self.ns,
            ca = pki::CA_CERT,
            crt = pki::SERVER_CERT,
            key = pki::SERVER_KEY,
        )
    }

    fn restart(&self, set: &Set, why: String) -> Step {
        // `rollout status` waits for Ready (a PING); a Sentinel's own count of the Sentinels
        // it can reach says the quorum is back before anything else changes.
        let quorum = (self.admin && self.sentinels.as_ref().is_some_and(|s| s.name == set.name))
            .then(|| {
                let pod = format!("{}-0", set.name);
                self.admin_exec(
                    &pod,
                    set.port,
                    &format!("SENTINEL CKQUORUM {}", self.master),
                )
            });
        Step {
            node: format!("statefulset/{}", set.name),
            address: self.address(set, None),
            action: "restart",
            commands: vec![
                format!(
                    "kubectl rollout restart -n {} statefulset/{}",
                    self.ns, set.name
                ),
                format!(
                    "kubectl rollout status -n {} statefulset/{} --timeout=15m",
                    self.ns, set.name
                ),
            ],
            wait_for_ok: quorum,
            why,
        }
    }

    /// One online reload per pod, each after its mount shows the new `rel`.
    fn reloads(&self, set: &Set, rel: &str, command: &str, why: &str) -> Vec<Step> {
        set.pods()
            .map(|pod| Step {
                address: self.address(set, Some(&pod)),
                action: "reload",
                commands: vec![
                    self.wait_for_file(&pod, rel),
                    self.admin_exec(&pod, set.port, command),
                ],
                wait_for_ok: None,
                why: why.to_owned(),
                node: pod,
            })
            .collect()
    }
}

/// The steps that apply `change` to the pods of `p`'s topology (sentinel or cluster).
/// `shown` is the bundle directory as the operator named it; `master` the name the
/// Sentinels monitor the primary under.
pub fn plan(
    p: &EnvProfile,
    shown: &Path,
    master: &str,
    change: &Change,
    admin_var: &str,
) -> Vec<Step> {
    let ns = p.kubernetes.namespace.as_str();
    let data = Set {
        name: data_set(p),
        pods: data_pods(p),
        port: p.redis.port.get(),
    };
    // Why the Sentinels restart after the data pods (kubernetes.rs's loopback test
    // `a_sentinel_recreated_after_a_failover_finds_the_current_primary`).
    let learns = format!(
        "; a restarted Sentinel starts from the Secret's config, which names {}-0, and learns the current primary through it: start only when every data pod is Ready",
        data.name
    );
    let c = Ctx {
        p,
        ns,
        shown,
        admin_var,
        data,
        sentinels: (p.topology.kind == Kind::Sentinel).then(|| Set {
            name: sentinel_set(p),
            pods: p.topology.sentinels as usize,
            port: p.topology.sentinel_port.get(),
        }),
        admin: p.acl.admin.enabled,
        learns,
        failover: match p.topology.kind {
            Kind::Sentinel => "; restarting the primary makes Sentinel fail over to a replica",
            _ => "; restarting a shard's primary makes the cluster fail over to its replica",
        },
        master,
    };
    let mut steps = vec![Step {
        node: super::DIR.to_owned(),
        address: format!("namespace {ns}"),
        action: "apply",
        commands: vec![format!(
            "kubectl apply -n {ns} -f {}",
            shown.join(super::DIR).display()
        )],
        wait_for_ok: None,
        why: "updates the Secrets the pods mount (and their config copies' source)".into(),
    }];
    match change {
        Change::Certs => steps.extend(tls_steps(&c, false)),
        Change::Ca => steps.extend(tls_steps(&c, true)),
        Change::Passwords { .. } => steps.extend(password_steps(&c, |u| change.rotates(u))),
    }
    steps
}

/// A new certificate (`ca`: and a new CA): data pods reload it online or restart; the
/// Sentinels always restart.
fn tls_steps(c: &Ctx<'_>, ca: bool) -> Vec<Step> {
    let d = c.pod_dir();
    let (crt, key) = (pki::SERVER_CERT, pki::SERVER_KEY);
    let (rel, set, why) = if ca {
        (
            pki::CA_CERT,
            format!(
                "tls-ca-cert-file {d}/{ca} tls-cert-file {d}/{crt} tls-key-file {d}/{key}",
                ca = pki::CA_CERT
            ),
            "reads the new CA file",
        )
    } else {
        (
            crt,
            format!("tls-cert-file {d}/{crt} tls-key-file {d}/{key}"),
            "reads the new certificate and key (same paths) for new connections",
        )
    };
    let mut steps = if c.admin {
        c.reloads(&c.data, rel, &format!("CONFIG SET {set}"), why)
    } else {
        vec![c.restart(&c.data, format!("{NO_ADMIN}{}", c.failover))]
    };
    if let Some(s) = &c.sentinels {
        steps.push(c.restart(
            s,
            format!("Sentinel cannot reload TLS files at run time (redis/redis#12028, #12691): the StatefulSet restarts one Sentinel at a time, each Ready before the next, so a quorum stays up{}", c.learns),
        ));
    }
    steps
}

/// New passwords: every ACL file first, so that no server logs in with a new password that a
/// peer does not accept yet; then the StatefulSets whose servers log in with a rotated one.
fn password_steps(c: &Ctx<'_>, rotated: impl Fn(&str) -> bool) -> Vec<Step> {
    let failover = c.failover;
    let mut steps = Vec::new();
    if c.admin {
        let acl = crate::target::USERS_ACL;
        steps.extend(c.reloads(&c.data, acl, "ACL LOAD", "re-reads users.acl"));
        if let Some(s) = &c.sentinels {
            let why = "re-reads the Sentinels' ACL file";
            steps.extend(c.reloads(s, SENTINEL_ACL, "ACL LOAD", why));
        }
        if rotated(users::REPLICATOR) {
            steps.push(c.restart(
                &c.data,
                format!("masterauth is in the config copy each pod makes at start: a restarted pod logs in with the new replicator password, which every users.acl accepts now{failover}"),
            ));
        }
    } else {
        let why = if rotated(users::REPLICATOR) {
            format!(
                "{NO_ADMIN}{failover}; a replica restarted before its primary logs in with the new replicator password, which the primary accepts only once it restarted too: replication pauses until the rollout ends (enable acl.admin.enabled to rotate replicator without that)"
            )
        } else {
            format!("{NO_ADMIN}{failover}")
        };
        steps.push(c.restart(&c.data, why));
    }
    let Some(s) = &c.sentinels else {
        return steps;
    };
    let own = rotated(users::SENTINEL) || rotated(users::SENTINEL_PEER);
    if !c.admin || own {
        let why = if c.admin {
            "Sentinel's auth-pass and sentinel-pass are in the config copy each Sentinel makes at start: one Sentinel at a time, each Ready before the next, logs in with the new passwords, which every ACL file accepts now".to_owned()
        } else if rotated(users::SENTINEL_PEER) {
            format!(
                "{NO_ADMIN}; until the last Sentinel restarted, a restarted one cannot log in to those not yet restarted (sentinel-peer), so failover votes may fail during the rollout"
            )
        } else {
            NO_ADMIN.to_owned()
        };
        steps.push(c.restart(s, format!("{why}{}", c.learns)));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Environment;

    fn profile(sets: &[&str]) -> EnvProfile {
        let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        crate::profile::resolve(
            Environment::Production,
            None,
            &sets,
            Path::new("/nonexistent"),
        )
        .unwrap()
        .settings
    }

    fn order(steps: &[Step]) -> Vec<(String, &'static str)> {
        steps.iter().map(|s| (s.node.clone(), s.action)).collect()
    }

    fn names(v: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        v.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect()
    }

    #[test]
    fn sentinel_certificates_reload_data_pods_then_restart_the_sentinels() {
        let p = profile(&["topology.kind=sentinel", "acl.admin.enabled=true"]);
        let s = plan(
            &p,
            Path::new("b"),
            "cache",
            &Change::Certs,
            "REDIS_PASSWORD_ADMIN",
        );
        assert_eq!(
            order(&s),
            names(&[
                ("k8s", "apply"),
                ("redis-2", "reload"),
                ("redis-1", "reload"),
                ("redis-0", "reload"),
                ("statefulset/redis-sentinel", "restart"),
            ])
        );
        assert_eq!(s[0].commands, ["kubectl apply -n redis -f b/k8s"]);
        assert_eq!(
            s[1].commands[0],
            "until kubectl exec -n redis redis-2 -c server -- cat /usr/local/etc/redis/tls/server.crt | cmp -s - b/tls/server.crt; do sleep 5; done"
        );
        assert!(s[1].commands[1].starts_with("printf '%s' \"$REDIS_PASSWORD_ADMIN\" | kubectl exec -i -n redis redis-2 -c server -- sh -c 'REDISCLI_AUTH=\"$(cat)\" redis-cli --tls"));
        assert!(s[1].commands[1].ends_with("-h localhost -p 6379 --user admin --no-auth-warning CONFIG SET tls-cert-file /usr/local/etc/redis/tls/server.crt tls-key-file /usr/local/etc/redis/tls/server.key'"));
        assert_eq!(
            s[4].commands,
            [
                "kubectl rollout restart -n redis statefulset/redis-sentinel",
                "kubectl rollout status -n redis statefulset/redis-sentinel --timeout=15m",
            ]
        );
        let quorum = s[4].wait_for_ok.as_deref().unwrap();
        assert!(
            quorum.contains(" | kubectl exec -i -n redis redis-sentinel-0 -c server -- sh -c ")
        );
        assert!(quorum.ends_with(
            "-h localhost -p 26379 --user admin --no-auth-warning SENTINEL CKQUORUM cache'"
        ));
    }

    #[test]
    fn without_admin_nothing_runs_as_admin() {
        let p = profile(&["topology.kind=cluster"]);
        for change in [
            Change::Certs,
            Change::Ca,
            Change::Passwords {
                users: vec!["app".into(), "replicator".into()],
                finish: false,
            },
        ] {
            let s = plan(&p, Path::new("b"), "cache", &change, "REDIS_PASSWORD_ADMIN");
            assert_eq!(
                order(&s),
                names(&[("k8s", "apply"), ("statefulset/redis", "restart")])
            );
            assert!(
                s.iter()
                    .all(|s| s.commands.iter().all(|c| !c.contains("admin")))
            );
        }
    }
}
