//! `--target kubernetes`: the bundle's configs, ACL file, certificate and passwords as
//! namespaced manifests under `k8s/` (StatefulSet, headless and client Services, ConfigMap,
//! NetworkPolicy, Secrets), rendered from the `k8s-*.yaml.tera` templates.
//!
//! One certificate serves every pod (as Bitnami's charts do): its SANs are the Services'
//! names, a wildcard for the pods behind the headless Service, and `localhost`, `127.0.0.1`
//! and `::1` for what a pod dials inside itself (its probes). Per-node certificates matter
//! for hostname-checking clients that dial one pod by name and for revoking one node; here
//! every pod is `*.NAME-headless...`, which the wildcard covers.

mod settings;
pub mod yaml;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use base64::Engine as _;
use serde::Serialize;

use crate::error::Error;
use crate::pki;
use crate::profile::{Engine, EnvProfile, Environment};
use crate::render::{Rendered, RenderedFile};
use crate::secrets::Secrets;
use crate::target::{self, Target};
use crate::templates::{self, Templates};
use crate::values::ProjectName;

pub use settings::{Digest, K8sName, KubernetesSettings, Quantity};

/// The manifests' directory in the bundle.
pub const DIR: &str = "k8s";
pub const CONFIGMAP: &str = "k8s/configmap.yaml";
pub const SERVICES: &str = "k8s/services.yaml";
pub const STATEFULSET: &str = "k8s/statefulset.yaml";
pub const NETWORKPOLICY: &str = "k8s/networkpolicy.yaml";
/// The Secrets: the TLS pair and CA, the ACL file, the passwords. Mode 0600, git-ignored.
pub const SECRETS: &str = "k8s/secrets.yaml";

/// One manifest file: where it goes, its template, and whether it holds secrets.
pub struct Manifest {
    pub path: &'static str,
    pub template: &'static str,
    pub secret: bool,
}

/// Every manifest, in the order `kubectl apply -f k8s/` reads them does not matter: the
/// StatefulSet's pods wait for their Secrets and ConfigMap.
pub const MANIFESTS: &[Manifest] = &[
    Manifest {
        path: CONFIGMAP,
        template: templates::K8S_CONFIGMAP,
        secret: false,
    },
    Manifest {
        path: SECRETS,
        template: templates::K8S_SECRETS,
        secret: true,
    },
    Manifest {
        path: SERVICES,
        template: templates::K8S_SERVICES,
        secret: false,
    },
    Manifest {
        path: STATEFULSET,
        template: templates::K8S_STATEFULSET,
        secret: false,
    },
    Manifest {
        path: NETWORKPOLICY,
        template: templates::K8S_NETWORKPOLICY,
        secret: false,
    },
];

/// Where the pod's password files are mounted, below the config directory.
const SECRET_SUBDIR: &str = "secrets";

fn svc_domain(p: &EnvProfile) -> String {
    let k = &p.kubernetes;
    format!("{}.svc.{}", k.namespace, k.cluster_domain)
}

/// The client Service's fully qualified name: the host of client.env's `REDIS_URL`.
pub fn client_host(p: &EnvProfile) -> String {
    format!("{}.{}", p.kubernetes.name, svc_domain(p))
}

/// The Services of this bundle: (name of the client Service, of the headless one).
fn services(p: &EnvProfile) -> Vec<(String, String)> {
    let name = p.kubernetes.name.as_str();
    vec![(name.to_owned(), format!("{name}-headless"))]
}

/// The DNS names of the shared certificate, beyond the profile's own `tls.hostnames`.
pub fn cert_names(p: &EnvProfile) -> Vec<String> {
    let k = &p.kubernetes;
    let domain = svc_domain(p);
    let mut out = vec![];
    for (client, headless) in services(p) {
        out.extend([
            format!("{client}.{domain}"),
            format!("{client}.{}.svc", k.namespace),
            format!("{client}.{}", k.namespace),
            client.clone(),
            format!("{headless}.{domain}"),
            // Every pod: POD.NAME-headless.NS.svc.DOMAIN.
            format!("*.{headless}.{domain}"),
        ]);
    }
    out
}

/// The IP addresses of the shared certificate beyond the profile's: both loopbacks.
pub fn cert_ips() -> Vec<IpAddr> {
    vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
}

/// What the server certificate needs beyond the profile's names, for `target`.
pub fn extra_sans(p: &EnvProfile, target: Target) -> (Vec<String>, Vec<IpAddr>) {
    if target == Target::Kubernetes {
        (cert_names(p), cert_ips())
    } else {
        (vec![], vec![])
    }
}

/// Refuses what the manifests cannot carry, before anything is rendered (exit 2).
pub fn check_target(p: &EnvProfile, target: Target) -> Result<(), Error> {
    if target != Target::Kubernetes {
        return Ok(());
    }
    if p.engine == Engine::Dragonfly {
        return Err(Error::Usage {
            message:
                "--target kubernetes: Dragonfly is not supported; the manifests run Redis or Valkey"
                    .into(),
            help: "use --engine redis or --engine valkey, or --target docker for Dragonfly".into(),
        });
    }
    if p.topology.kind != crate::topology::Kind::Standalone {
        return Err(Error::Usage {
            message: format!(
                "--target kubernetes: a {} topology has no manifests yet; k8s/ is written for standalone",
                p.topology.kind
            ),
            help: "use --target local or --target host for a multi-node topology, or topology.kind=standalone".into(),
        });
    }
    if !p.tls.enabled {
        return Err(Error::Usage {
            message: "--target kubernetes needs TLS: pods reach each other over the pod network, and plaintext may only listen on loopback".into(),
            help: "use an environment with TLS (production, staging, development), or --set tls.enabled=true with redis.bind".into(),
        });
    }
    Ok(())
}

/// The `next:` line of `init --target kubernetes`.
pub fn next_step(p: &EnvProfile, shown: &Path) -> String {
    format!(
        "kubectl create namespace {ns} (once), then kubectl apply -n {ns} -f {}",
        shown.join(DIR).display(),
        ns = p.kubernetes.namespace
    )
}

/// The deployment's CA certificate and the shared server pair, PEM.
pub struct TlsPems<'a> {
    pub ca_cert: &'a str,
    pub cert: &'a str,
    pub key: &'a str,
}

/// Everything the manifests are rendered from.
pub struct Input<'a> {
    pub project: &'a ProjectName,
    pub env: Environment,
    pub profile: &'a EnvProfile,
    pub secrets: &'a Secrets,
    /// The bundle's rendered files: the configs the ConfigMap and Secrets carry.
    pub rendered: &'a Rendered,
    /// None when the keys are missing (`check` of a checked-in bundle): no Secrets manifest.
    pub tls: Option<TlsPems<'a>>,
}

#[derive(Serialize)]
struct Context<'a> {
    project: &'a ProjectName,
    environment: Environment,
    k8s: K8s,
    /// Non-secret files of the bundle the ConfigMap carries, by key.
    config: Vec<Pair>,
}

/// The secret half: only the Secrets template sees it.
#[derive(Serialize)]
struct SecretContext {
    /// Files of the bundle that hold secrets (users.acl), by key.
    files: Vec<Pair>,
    /// Every user's password, by user name.
    passwords: Vec<Pair>,
    /// base64 of the PEM files, as `data:` of a kubernetes.io/tls Secret wants them.
    tls_crt: String,
    tls_key: String,
    ca_crt: String,
}

#[derive(Serialize)]
struct K8s {
    namespace: String,
    name: String,
    /// `redis` or `valkey`: app.kubernetes.io/name.
    app: String,
    /// The labels every object and pod carries. Lists, not maps: Tera iterates maps in no
    /// fixed order, and the output must be the same bytes every run.
    labels: Vec<Pair>,
    /// Pods labelled `CLIENT_LABEL: "true"` in the namespace may connect.
    client_label: String,
    headless: String,
    client_host: String,
    image: String,
    /// The image is pinned by digest; otherwise checkov's digest check is skipped, with why.
    digest_pinned: bool,
    uid: u32,
    gid: u32,
    cpu: String,
    memory: String,
    storage: String,
    port: u16,
    /// Where the projected config volume is mounted (the paths redis.conf names).
    config_dir: String,
    data_dir: &'static str,
    command: Vec<String>,
    /// `sh -c` script of the liveness and readiness probes: a TLS login as monitoring.
    probe: String,
    openssl_conf: String,
    /// Keys of the ConfigMap and Secrets, and where they appear in the config directory.
    config_items: Vec<Item>,
    acl_items: Vec<Item>,
    password_items: Vec<Item>,
    tls_items: Vec<Item>,
    cert_names: Vec<String>,
}

/// One key and value, in a list whose order is the output's.
#[derive(Serialize)]
struct Pair {
    key: String,
    value: String,
}

fn pairs(map: BTreeMap<String, String>) -> Vec<Pair> {
    map.into_iter()
        .map(|(key, value)| Pair { key, value })
        .collect()
}

#[derive(Serialize)]
struct Item {
    key: String,
    path: String,
}

fn item(key: &str, path: &str) -> Item {
    Item {
        key: key.to_owned(),
        path: path.to_owned(),
    }
}

/// Memory as Kubernetes writes it: Mi when whole, else bytes.
fn memory_quantity(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}Mi", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

/// CPU in millicores (docker.cpus is validated to 0.01..=1024).
fn cpu_quantity(cpus: f64) -> String {
    format!("{}m", (cpus * 1000.0).round() as u64)
}

fn image(p: &EnvProfile) -> (String, bool) {
    let base = p.docker.redis_image.as_str();
    match &p.kubernetes.image_digest {
        Some(d) => {
            let without = base.split('@').next().unwrap_or(base);
            (format!("{without}@{d}"), true)
        }
        None => (base.to_owned(), base.contains('@')),
    }
}

fn context<'a>(input: &Input<'a>) -> Context<'a> {
    let p = input.profile;
    let k = &p.kubernetes;
    let facts = p.server_facts();
    let dir = facts.container_config_dir;
    let name = k.name.to_string();
    let app = facts.server_program.trim_end_matches("-server").to_owned();
    let labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), app.clone()),
        ("app.kubernetes.io/instance".to_owned(), name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "redis-harden".to_owned(),
        ),
    ]);
    let (image, digest_pinned) = image(p);
    let port = p.redis.port.get();
    let probe = format!(
        "REDISCLI_AUTH=\"$(cat {dir}/{SECRET_SUBDIR}/monitoring)\" {cli} --tls --cacert {dir}/{ca} --cert {dir}/{crt} --key {dir}/{key} \
         -h localhost -p {port} --user monitoring --no-auth-warning ping | grep -qx PONG",
        cli = facts.cli_program,
        ca = pki::CA_CERT,
        crt = pki::SERVER_CERT,
        key = pki::SERVER_KEY,
    );
    let mut config_items = vec![item(target::REDIS_CONF, target::REDIS_CONF)];
    if input.rendered.contains_key(crate::openssl::CNF) {
        config_items.push(item(crate::openssl::CNF, crate::openssl::CNF));
    }
    K8s {
        namespace: k.namespace.to_string(),
        app,
        labels: pairs(labels),
        client_label: format!("{name}-client"),
        headless: format!("{name}-headless"),
        client_host: client_host(p),
        image,
        digest_pinned,
        uid: k.uid,
        gid: k.gid,
        cpu: cpu_quantity(p.docker.cpus),
        memory: memory_quantity(
            p.docker
                .memory_limit
                .bytes()
                .expect("validated memory size"),
        ),
        storage: k.storage_size.to_string(),
        port,
        config_dir: dir.to_owned(),
        data_dir: "/data",
        command: vec![
            facts.server_program.to_owned(),
            format!("{dir}/{}", target::REDIS_CONF),
        ],
        probe,
        openssl_conf: format!("{dir}/{}", crate::openssl::CNF),
        config_items,
        acl_items: vec![item(target::USERS_ACL, target::USERS_ACL)],
        // The probes log in as monitoring; no other password enters a pod.
        password_items: vec![item("monitoring", &format!("{SECRET_SUBDIR}/monitoring"))],
        tls_items: vec![
            item("tls.crt", pki::SERVER_CERT),
            item("tls.key", pki::SERVER_KEY),
            item("ca.crt", pki::CA_CERT),
        ],
        cert_names: cert_names(p),
        name,
    }
    .into_context(input)
}

impl K8s {
    fn into_context<'a>(self, input: &Input<'a>) -> Context<'a> {
        let config = self
            .config_items
            .iter()
            .filter_map(|i| {
                input.rendered.get(&i.key).map(|f| Pair {
                    key: i.key.clone(),
                    value: f.content.clone(),
                })
            })
            .collect();
        Context {
            project: input.project,
            environment: input.env,
            k8s: self,
            config,
        }
    }
}

fn secret_context(input: &Input<'_>, tls: &TlsPems<'_>) -> Result<SecretContext, Error> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut passwords = BTreeMap::new();
    for user in input.profile.password_users() {
        let pw = input.secrets.password(&user).ok_or_else(|| Error::State {
            path: target::SECRETS_ENV.into(),
            reason: format!("{} is missing", user.password_var()),
            help: "run `redis-harden init` to generate it".into(),
        })?;
        passwords.insert(user.to_string(), pw.to_owned());
    }
    let files = [target::USERS_ACL]
        .iter()
        .filter_map(|k| {
            input.rendered.get(*k).map(|f| Pair {
                key: (*k).to_owned(),
                value: f.content.clone(),
            })
        })
        .collect();
    Ok(SecretContext {
        files,
        passwords: pairs(passwords),
        tls_crt: b64(tls.cert),
        tls_key: b64(tls.key),
        ca_crt: b64(tls.ca_cert),
    })
}

/// Renders every manifest. Templates of files others may read never see a secret, and their
/// output is searched for every secret value anyway, as in [`crate::render::render`].
pub fn render(templates: &Templates, input: &Input<'_>) -> Result<Rendered, Error> {
    let ctx = context(input);
    let tera_err = |e: tera::Error| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    };
    let public = tera::Context::from_serialize(&ctx).map_err(tera_err)?;
    let secret_values: Vec<&str> = input.secrets.values().filter(|v| v.len() >= 8).collect();
    let mut out = Rendered::new();
    for m in MANIFESTS {
        let content = if m.secret {
            let Some(tls) = &input.tls else { continue };
            let mut full = public.clone();
            full.insert("secret", &secret_context(input, tls)?);
            templates.render(m.template, &full).map_err(|e| match e {
                Error::Template { name, .. } => Error::Template {
                    name,
                    report: "failed (values are not shown: this template can see secrets)".into(),
                },
                other => other,
            })?
        } else {
            let content = templates.render(m.template, &public)?;
            if secret_values.iter().any(|v| content.contains(v)) {
                return Err(Error::Template {
                    name: m.template.into(),
                    report: format!(
                        "puts a secret into {}, which is no Secret: secrets belong in {SECRETS} only",
                        m.path
                    ),
                });
            }
            content
        };
        out.insert(
            m.path.to_owned(),
            RenderedFile {
                content,
                mode: if m.secret { 0o600 } else { 0o644 },
                secret: m.secret,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(memory_quantity(512 << 20), "512Mi");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(cpu_quantity(1.0), "1000m");
        assert_eq!(cpu_quantity(0.25), "250m");
    }

    #[test]
    fn the_certificate_covers_every_service_and_pod() {
        let p = crate::profile::builtin(Environment::Production);
        let names = cert_names(&p);
        for n in [
            "redis.redis.svc.cluster.local",
            "redis",
            "*.redis-headless.redis.svc.cluster.local",
            "redis-headless.redis.svc.cluster.local",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert!(cert_ips().contains(&"::1".parse().unwrap()));
    }
}
