//! Each node's own certificate and key (`nodes/NAME/tls/node.{crt,key}`), signed by the
//! deployment CA. Created once, when missing, and never replaced: a differing file on disk is
//! an error, not an update (the bundle's create-only files).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::CryptoRng;

use crate::build::{Built, Mode};
use crate::bundle::File;
use crate::error::Error;
use crate::inputs::{Prepared, Runtime};
use crate::pki::{self, CertPair};
use crate::profile::Resolved;
use crate::values::Hostname;

use super::{Node, layout};

/// The SANs of a node's certificate: its host name and address, plus what a process on the
/// node itself dials (a local probe, Sentinel's monitor target on one machine), plus its
/// compose service name and address ([`crate::compose::node_sans`]).
pub fn sans(resolved: &Resolved, node: &Node) -> (Vec<Hostname>, Vec<IpAddr>) {
    let (compose_name, compose_ip) =
        crate::compose::node_sans(&resolved.settings, &resolved.project, resolved.env, node);
    let mut dns = vec![node.host.clone()];
    let localhost = Hostname::parse("localhost").expect("valid");
    for name in [Some(localhost), compose_name].into_iter().flatten() {
        if !dns.contains(&name) {
            dns.push(name);
        }
    }
    let mut ips = vec![node.ip];
    ips.extend(compose_ip.filter(|ip| *ip != node.ip));
    for ip in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    (dns, ips)
}

/// Reads every node's pair, issues the missing ones (init only) and adds them to `built`.
/// Runs after the shared PKI stage, whose CA pair is in `built.files`.
pub fn stage<R: CryptoRng + ?Sized>(
    p: &Prepared,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    built: &mut Built,
) -> Result<(), Error> {
    let nodes = super::nodes(&p.resolved.settings);
    // Kubernetes pods share one certificate with wildcard names (k8s/secrets.yaml).
    if nodes.is_empty() || p.target == crate::target::Target::Kubernetes {
        return Ok(());
    }
    let ca = ca_pair(built);
    let mut issued = 0;
    for node in &nodes {
        let (cert_rel, key_rel) = (layout::cert(&node.name), layout::key(&node.name));
        let pair = match existing_pair(p, &cert_rel, &key_rel)? {
            Some(pair) => pair,
            None if mode == Mode::Init => {
                issued += 1;
                issue(p, node, ca.as_ref(), &cert_rel, rt)?
            }
            None => {
                built.missing.push(cert_rel);
                built.missing.push(key_rel);
                continue;
            }
        };
        built.files.push(File {
            create_only: true,
            ..File::public(&cert_rel, pair.cert_pem.into_bytes(), 0o644)
        });
        built.files.push(File {
            create_only: true,
            ..File::secret(&key_rel, pair.key_pem.into_bytes())
        });
    }
    built.notes.push((
        format!("{}/*/{}", layout::NODES_DIR, layout::NODE_CERT),
        format!(
            "{} node certificates (serverAuth and clientAuth){}",
            nodes.len(),
            if issued > 0 {
                format!(", {issued} issued now")
            } else {
                String::new()
            }
        ),
    ));
    Ok(())
}

/// The node's pair on disk: both halves, matching, or neither; half a pair or a key that
/// does not match its certificate is an error to repair by hand, never replaced.
fn existing_pair(p: &Prepared, cert_rel: &str, key_rel: &str) -> Result<Option<CertPair>, Error> {
    match (p.read(cert_rel)?, p.read(key_rel)?) {
        (Some(cert_pem), Some(key_pem)) => {
            if let Some(reason) = pki::pair_problem(&cert_pem, &key_pem) {
                return Err(Error::State {
                    path: p.out_abs.join(key_rel),
                    reason,
                    help: format!(
                        "restore {cert_rel} and {key_rel} from a backup, or move both away \
                         and run init to issue a new pair"
                    ),
                });
            }
            Ok(Some(CertPair { cert_pem, key_pem }))
        }
        (Some(_), None) | (None, Some(_)) => {
            let (have, lack) = if p.read(cert_rel)?.is_some() {
                (cert_rel, key_rel)
            } else {
                (key_rel, cert_rel)
            };
            Err(Error::State {
                path: p.out_abs.join(lack),
                reason: format!("is missing, but {have} exists"),
                help: format!(
                    "restore {lack} from a backup, or move {have} away to issue a new pair"
                ),
            })
        }
        (None, None) => Ok(None),
    }
}

/// A new pair for `node`, signed by the bundle's CA.
fn issue<R: CryptoRng + ?Sized>(
    p: &Prepared,
    node: &Node,
    ca: Option<&CertPair>,
    cert_rel: &str,
    rt: &mut Runtime<'_, R>,
) -> Result<CertPair, Error> {
    let Some(ca) = ca else {
        return Err(Error::State {
            path: p.out_abs.join(pki::CA_KEY),
            reason: "is missing: node certificates cannot be signed".into(),
            help: "restore tls/ca.crt and tls/ca.key from a backup".into(),
        });
    };
    let (dns, ips) = sans(&p.resolved, node);
    pki::issue_node(
        ca,
        &node.name,
        &dns,
        &ips,
        &p.resolved.settings.tls,
        rt.now,
        rt.rng,
    )
    .map_err(|reason| Error::State {
        path: p.out_abs.join(cert_rel),
        reason: format!("could not be created: {reason}"),
        help: "this is a bug in redis-harden; please report it".into(),
    })
}

fn ca_pair(built: &Built) -> Option<CertPair> {
    let get = |rel: &str| {
        built
            .files
            .iter()
            .find(|f| f.rel == rel)
            .and_then(|f| String::from_utf8(f.content.clone()).ok())
    };
    Some(CertPair {
        cert_pem: get(pki::CA_CERT)?,
        key_pem: get(pki::CA_KEY)?,
    })
}
