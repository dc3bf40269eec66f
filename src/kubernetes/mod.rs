//! `--target kubernetes`: the bundle's configs, ACL file, certificate and passwords as
//! namespaced manifests under `k8s/` (StatefulSet, headless and client Services, ConfigMap,
//! NetworkPolicy, Secrets), rendered from the `k8s-*.yaml.tera` templates.
//!
//! One certificate serves every pod (as Bitnami's charts do): its SANs are the Services'
//! names, a wildcard for the pods behind the headless Service, and `localhost`, `127.0.0.1`
//! and `::1` for what a pod dials inside itself (its probes). Per-node certificates matter
//! for hostname-checking clients that dial one pod by name and for revoking one node; here
//! every pod is `*.NAME-headless...`, which the wildcard covers.

pub mod rollout;
mod settings;
pub mod topo;
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
use crate::topology::{Kind, users};
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
/// Cluster kind: the Job that forms the cluster once its pods run.
pub const JOB: &str = "k8s/cluster-create-job.yaml";

/// One manifest file: where it goes, its template, and whether it holds secrets.
pub struct Manifest {
    pub path: &'static str,
    pub template: &'static str,
    pub secret: bool,
}

/// Every manifest, in the order `kubectl apply -f k8s/` reads them does not matter: the
/// StatefulSet's pods wait for their Secrets and ConfigMap. The Job is the cluster kind's
/// only ([`manifests`]).
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
    // The same pod template as the StatefulSets: one place says how a pod is hardened.
    Manifest {
        path: JOB,
        template: templates::K8S_STATEFULSET,
        secret: false,
    },
];

/// The manifests of `p`'s topology.
pub fn manifests(p: &EnvProfile) -> impl Iterator<Item = &'static Manifest> {
    let cluster = p.topology.kind == Kind::Cluster;
    MANIFESTS.iter().filter(move |m| m.path != JOB || cluster)
}

/// Where the pod's password files are mounted, below the config directory.
const SECRET_SUBDIR: &str = "secrets";

use topo::svc_domain;

/// The host of client.env's `REDIS_URL`: the client Service's fully qualified name; with
/// Sentinel, the first data pod's (the primary at start: Sentinel-aware clients ask the
/// Sentinels instead).
pub fn client_host(p: &EnvProfile) -> String {
    match p.topology.kind {
        Kind::Sentinel => topo::pod_host(p, &topo::data_set(p), 0),
        _ => format!("{}.{}", p.kubernetes.name, svc_domain(p)),
    }
}

/// The StatefulSets of this bundle: (name, which is also its client Service's, headless
/// Service).
fn services(p: &EnvProfile) -> Vec<(String, String)> {
    let mut sets = vec![topo::data_set(p)];
    if p.topology.kind == Kind::Sentinel {
        sets.push(topo::sentinel_set(p));
    }
    sets.into_iter()
        .map(|s| {
            let h = topo::headless(&s);
            (s, h)
        })
        .collect()
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
    if !p.topology.nodes.is_empty() {
        return Err(Error::Usage {
            message: "--target kubernetes: topology.nodes places nodes on machines, but on Kubernetes the StatefulSets name and place the pods".into(),
            help: "remove topology.nodes (the pods are NAME-0, NAME-1, ... behind NAME-headless), or use --target host".into(),
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

/// The `next:` line of `init --target kubernetes`: the start order.
pub fn next_step(p: &EnvProfile, shown: &Path) -> String {
    let apply = format!(
        "kubectl create namespace {ns} (once), then kubectl apply -n {ns} -f {}",
        shown.join(DIR).display(),
        ns = p.kubernetes.namespace
    );
    let name = &p.kubernetes.name;
    match p.topology.kind {
        Kind::Standalone => apply,
        Kind::Sentinel => format!(
            "{apply}; the data pods start first ({name}-0 the primary), the Sentinels ({name}-sentinel-N) \
             restart until {name}-0 resolves; apps label their pods {name}-client=true and read REDIS_SENTINELS"
        ),
        Kind::Cluster => format!(
            "{apply}; the Job {name}-cluster-create forms the cluster once every pod answers (once: \
             `kubectl wait -n {ns} --for=condition=complete job/{name}-cluster-create`); apps label \
             their pods {name}-client=true and read REDIS_CLUSTER_NODES",
            ns = p.kubernetes.namespace
        ),
    }
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
    /// Topologies: the pods' configs, which hold passwords (masterauth, auth-pass).
    configs: Vec<Pair>,
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
    /// `standalone`, `sentinel` or `cluster`.
    kind: Kind,
    /// The labels every object carries. Lists, not maps: Tera iterates maps in no fixed
    /// order, and the output must be the same bytes every run.
    labels: Vec<Pair>,
    /// Pods labelled `CLIENT_LABEL: "true"` in the namespace may connect.
    client_label: String,
    image: String,
    /// The image is pinned by digest; otherwise checkov's digest check is skipped, with why.
    digest_pinned: bool,
    uid: u32,
    gid: u32,
    cpu: String,
    memory: String,
    storage: String,
    /// The data port.
    port: u16,
    /// Where the projected config volume is mounted (the paths the configs name).
    config_dir: String,
    data_dir: &'static str,
    openssl_conf: String,
    /// Keys of the ConfigMap, and where they appear in the config directory.
    config_items: Vec<Item>,
    cert_names: Vec<String>,
    /// The Services, each with the pods it selects.
    services: Vec<Service>,
    /// One NetworkPolicy per kind of pod.
    policies: Vec<Policy>,
}

/// One StatefulSet or Job: its pods' spec.
#[derive(Serialize, Clone)]
struct Workload {
    /// `StatefulSet` or `Job`.
    kind: &'static str,
    /// The manifest file it is written to.
    #[serde(skip)]
    file: &'static str,
    name: String,
    /// What it runs, for the comment above it.
    about: String,
    /// Its pods' labels (and the StatefulSet's selector).
    labels: Vec<Pair>,
    /// StatefulSet: the headless Service that names its pods.
    service: String,
    replicas: usize,
    ports: Vec<PortSpec>,
    command: Vec<String>,
    /// `sh -c` script of the liveness and readiness probes: a TLS login over loopback.
    probe: Option<String>,
    /// `sh -c` script of the init container that writes the pod's config into `conf_dir`.
    init: Option<String>,
    /// The writable emptyDir the server runs its config from (topologies).
    conf_dir: Option<&'static str>,
    /// The projected, read-only config directory: ConfigMap and Secret keys.
    sources: Vec<Source>,
    /// A PersistentVolumeClaim for /data.
    data: bool,
}

#[derive(Serialize, Clone)]
struct PortSpec {
    name: String,
    port: u16,
}

fn port(name: &str, port: u16) -> PortSpec {
    PortSpec {
        name: name.to_owned(),
        port,
    }
}

/// Keys of one ConfigMap or Secret projected into the config directory.
#[derive(Serialize, Clone)]
struct Source {
    /// `configMap` or `secret`.
    kind: &'static str,
    name: String,
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Service {
    name: String,
    headless: bool,
    /// The pods it selects.
    selector: Vec<Pair>,
    ports: Vec<PortSpec>,
}

#[derive(Serialize)]
struct Policy {
    name: String,
    about: String,
    /// The pods it governs.
    selector: Vec<Pair>,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
    /// Egress to the cluster's DNS (kube-dns), for pods that dial each other by name.
    dns: bool,
}

/// Pods with these labels (in the namespace), on these TCP ports.
#[derive(Serialize)]
struct Rule {
    peers: Vec<Vec<Pair>>,
    ports: Vec<u16>,
}

/// One key and value, in a list whose order is the output's.
#[derive(Serialize, Clone, PartialEq)]
struct Pair {
    key: String,
    value: String,
}

fn pairs(map: BTreeMap<String, String>) -> Vec<Pair> {
    map.into_iter()
        .map(|(key, value)| Pair { key, value })
        .collect()
}

#[derive(Serialize, Clone)]
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

/// The labels of one kind of pod: the deployment's, plus its component (topologies only, so
/// a standalone deployment's selectors stay what they were).
fn with_component(base: &[Pair], component: Option<&str>) -> Vec<Pair> {
    let mut map: BTreeMap<String, String> = base
        .iter()
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect();
    if let Some(c) = component {
        map.insert("app.kubernetes.io/component".into(), c.into());
    }
    pairs(map)
}

/// What builds the pods: the server's facts and the paths inside the pod.
struct Pods<'p> {
    p: &'p EnvProfile,
    dir: &'static str,
    name: String,
    base: Vec<Pair>,
}

impl Pods<'_> {
    /// A TLS login over loopback as `user`, whose password is read from its file into
    /// REDISCLI_AUTH; only a PONG proves the login worked (redis-cli exits 0 on NOAUTH too).
    fn probe(&self, user: &str, port: u16) -> String {
        let dir = self.dir;
        format!(
            "REDISCLI_AUTH=\"$(cat {dir}/{SECRET_SUBDIR}/{user})\" {cli} --tls --cacert {dir}/{ca} --cert {dir}/{crt} --key {dir}/{key} \
             -h localhost -p {port} --user {user} --no-auth-warning ping | grep -qx PONG",
            cli = self.p.server_facts().cli_program,
            ca = pki::CA_CERT,
            crt = pki::SERVER_CERT,
            key = pki::SERVER_KEY,
        )
    }

    fn tls(&self) -> Source {
        Source {
            kind: "secret",
            name: format!("{}-tls", self.name),
            items: vec![
                item("tls.crt", pki::SERVER_CERT),
                item("tls.key", pki::SERVER_KEY),
                item("ca.crt", pki::CA_CERT),
            ],
        }
    }

    fn secret(&self, suffix: &str, items: Vec<Item>) -> Source {
        Source {
            kind: "secret",
            name: format!("{}-{suffix}", self.name),
            items,
        }
    }

    fn password(&self, user: &str) -> Source {
        self.secret(
            "passwords",
            vec![item(user, &format!("{SECRET_SUBDIR}/{user}"))],
        )
    }

    fn configmap(&self, items: Vec<Item>) -> Source {
        Source {
            kind: "configMap",
            name: format!("{}-config", self.name),
            items,
        }
    }

    fn server(&self) -> &'static str {
        self.p.server_facts().server_program
    }
}

fn context<'a>(input: &Input<'a>) -> (Context<'a>, Vec<Workload>) {
    let p = input.profile;
    let k = &p.kubernetes;
    let facts = p.server_facts();
    let dir = facts.container_config_dir;
    let name = k.name.to_string();
    let app = facts.server_program.trim_end_matches("-server").to_owned();
    let labels = pairs(BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), app.clone()),
        ("app.kubernetes.io/instance".to_owned(), name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "redis-harden".to_owned(),
        ),
    ]));
    let (image, digest_pinned) = image(p);
    let mut config_items = vec![];
    if p.topology.kind == Kind::Standalone {
        config_items.push(item(target::REDIS_CONF, target::REDIS_CONF));
    }
    if input.rendered.contains_key(crate::openssl::CNF) {
        config_items.push(item(crate::openssl::CNF, crate::openssl::CNF));
    }
    let pods = Pods {
        p,
        dir,
        name: name.clone(),
        base: labels.clone(),
    };
    let (workloads, services, policies) = match p.topology.kind {
        Kind::Standalone => standalone(&pods, &config_items),
        Kind::Sentinel => sentinel(&pods, &config_items),
        Kind::Cluster => cluster(&pods, &config_items),
    };
    let config = config_items
        .iter()
        .filter_map(|i| {
            input.rendered.get(&i.key).map(|f| Pair {
                key: i.key.clone(),
                value: f.content.clone(),
            })
        })
        .collect();
    let k8s = K8s {
        namespace: k.namespace.to_string(),
        app,
        kind: p.topology.kind,
        labels,
        client_label: format!("{name}-client"),
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
        port: p.redis.port.get(),
        config_dir: dir.to_owned(),
        data_dir: "/data",
        openssl_conf: format!("{dir}/{}", crate::openssl::CNF),
        config_items,
        cert_names: cert_names(p),
        services,
        policies,
        name,
    };
    let ctx = Context {
        project: input.project,
        environment: input.env,
        k8s,
        config,
    };
    (ctx, workloads)
}

type Parts = (Vec<Workload>, Vec<Service>, Vec<Policy>);

/// The client label's pods: the applications.
fn clients(pods: &Pods<'_>) -> Vec<Pair> {
    vec![Pair {
        key: format!("{}-client", pods.name),
        value: "true".into(),
    }]
}

/// One server, as before topologies: its StatefulSet, headless and client Services, and a
/// policy that lets clients in and nothing out.
fn standalone(pods: &Pods<'_>, config_items: &[Item]) -> Parts {
    let p = pods.p;
    let port_no = p.redis.port.get();
    let w = Workload {
        kind: "StatefulSet",
        file: STATEFULSET,
        name: pods.name.clone(),
        about: format!("{} with its data on a PersistentVolumeClaim", pods.server()),
        labels: pods.base.clone(),
        service: topo::headless(&pods.name),
        replicas: 1,
        ports: vec![port("redis-tls", port_no)],
        command: vec![
            pods.server().to_owned(),
            format!("{}/{}", pods.dir, target::REDIS_CONF),
        ],
        probe: Some(pods.probe("monitoring", port_no)),
        init: None,
        conf_dir: None,
        sources: vec![
            pods.configmap(config_items.to_vec()),
            pods.secret("acl", vec![item(target::USERS_ACL, target::USERS_ACL)]),
            pods.tls(),
            // The probes log in as monitoring; no other password enters a pod.
            pods.password("monitoring"),
        ],
        data: true,
    };
    let services = vec![
        Service {
            name: topo::headless(&pods.name),
            headless: true,
            selector: pods.base.clone(),
            ports: w.ports.clone(),
        },
        Service {
            name: pods.name.clone(),
            headless: false,
            selector: pods.base.clone(),
            ports: w.ports.clone(),
        },
    ];
    let policies = vec![Policy {
        name: pods.name.clone(),
        about: "A standalone server dials nothing.".into(),
        selector: pods.base.clone(),
        ingress: vec![Rule {
            peers: vec![clients(pods)],
            ports: vec![port_no],
        }],
        egress: vec![],
        dns: false,
    }];
    (vec![w], services, policies)
}

/// The data pods of a topology: `redis.conf` from the config Secret, run from the emptyDir
/// the init container wrote it to.
fn data_workload(pods: &Pods<'_>, config_items: &[Item], about: String) -> Workload {
    let p = pods.p;
    let port_no = p.redis.port.get();
    let data = topo::data_set(p);
    let mut ports = vec![port("redis-tls", port_no)];
    if p.topology.kind == Kind::Cluster {
        ports.push(port("cluster-bus", topo::bus_port(p)));
    }
    Workload {
        kind: "StatefulSet",
        file: STATEFULSET,
        about,
        labels: with_component(&pods.base, Some("data")),
        service: topo::headless(&data),
        replicas: topo::data_pods(p),
        ports,
        command: vec![
            pods.server().to_owned(),
            format!("{}/{}", topo::CONF_DIR, topo::DATA_CONF),
        ],
        probe: Some(pods.probe("monitoring", port_no)),
        init: Some(topo::data_init(p)),
        conf_dir: Some(topo::CONF_DIR),
        sources: vec![
            pods.configmap(config_items.to_vec()),
            pods.secret("conf", vec![item(topo::DATA_CONF, topo::DATA_CONF)]),
            pods.secret("acl", vec![item(target::USERS_ACL, target::USERS_ACL)]),
            pods.tls(),
            pods.password("monitoring"),
        ],
        data: true,
        name: data,
    }
}

/// A headless Service for a StatefulSet's pods and a client Service in front of them.
fn services_of(w: &Workload, client: bool) -> Vec<Service> {
    let mut out = vec![Service {
        name: w.service.clone(),
        headless: true,
        selector: w.labels.clone(),
        ports: w.ports.clone(),
    }];
    if client {
        out.push(Service {
            name: w.name.clone(),
            headless: false,
            selector: w.labels.clone(),
            // Clients use the data (or Sentinel) port only, never the bus.
            ports: w.ports[..1].to_vec(),
        });
    }
    out
}

/// Sentinel: the data pods (pod 0 the primary at start), the Sentinels, and a client Service
/// for the Sentinels only: apps ask them where the primary is, then dial its pod by name.
fn sentinel(pods: &Pods<'_>, config_items: &[Item]) -> Parts {
    let p = pods.p;
    let port_no = p.redis.port.get();
    let sport = p.topology.sentinel_port.get();
    let data = data_workload(
        pods,
        config_items,
        format!(
            "{} data pods: pod 0 is the primary at start, the others replicate it; Sentinel fails over",
            pods.server()
        ),
    );
    let set = topo::sentinel_set(p);
    let sentinels = Workload {
        kind: "StatefulSet",
        file: STATEFULSET,
        about: "the Sentinels, which watch the primary and fail over to a replica".into(),
        labels: with_component(&pods.base, Some("sentinel")),
        service: topo::headless(&set),
        replicas: p.topology.sentinels as usize,
        ports: vec![port("sentinel-tls", sport)],
        command: vec![
            pods.server().to_owned(),
            format!("{}/{}", topo::CONF_DIR, topo::SENTINEL_CONF),
            "--sentinel".into(),
        ],
        // sentinel-peer's password is in sentinel.conf already; no other enters the pod.
        probe: Some(pods.probe(users::SENTINEL_PEER, sport)),
        init: Some(topo::sentinel_init(p)),
        conf_dir: Some(topo::CONF_DIR),
        sources: vec![
            pods.configmap(config_items.to_vec()),
            pods.secret("conf", vec![item(topo::SENTINEL_CONF, topo::SENTINEL_CONF)]),
            pods.secret(
                "acl",
                vec![item(
                    crate::topology::render::SENTINEL_ACL,
                    crate::topology::render::SENTINEL_ACL,
                )],
            ),
            pods.tls(),
            pods.password(users::SENTINEL_PEER),
        ],
        data: false,
        name: set,
    };
    let mut services = services_of(&data, false);
    services.extend(services_of(&sentinels, true));
    let policies = vec![
        Policy {
            name: data.name.clone(),
            about: "Data pods: clients, the other data pods (replication) and the Sentinels may connect; they dial the other data pods and DNS only.".into(),
            selector: data.labels.clone(),
            ingress: vec![Rule {
                peers: vec![clients(pods), data.labels.clone(), sentinels.labels.clone()],
                ports: vec![port_no],
            }],
            egress: vec![Rule {
                peers: vec![data.labels.clone()],
                ports: vec![port_no],
            }],
            dns: true,
        },
        Policy {
            name: sentinels.name.clone(),
            about: "Sentinels: clients and the other Sentinels may connect; they dial the data pods, the other Sentinels and DNS only.".into(),
            selector: sentinels.labels.clone(),
            ingress: vec![Rule {
                peers: vec![clients(pods), sentinels.labels.clone()],
                ports: vec![sport],
            }],
            egress: vec![
                Rule {
                    peers: vec![data.labels.clone()],
                    ports: vec![port_no],
                },
                Rule {
                    peers: vec![sentinels.labels.clone()],
                    ports: vec![sport],
                },
            ],
            dns: true,
        },
    ];
    (vec![data, sentinels], services, policies)
}

/// Cluster: every node one pod of one StatefulSet, and a Job that forms the cluster once.
fn cluster(pods: &Pods<'_>, config_items: &[Item]) -> Parts {
    let p = pods.p;
    let port_no = p.redis.port.get();
    let bus = topo::bus_port(p);
    let data = data_workload(
        pods,
        config_items,
        format!(
            "{} cluster nodes: {} shards of 1 primary and {} replica(s)",
            pods.server(),
            p.topology.shards,
            p.topology.replicas_per_shard
        ),
    );
    let admin = users::CLUSTER_ADMIN;
    let job = Workload {
        kind: "Job",
        file: JOB,
        name: format!("{}-cluster-create", pods.name),
        about: "forms the cluster once every node answers (redis-cli --cluster create over TLS, as cluster-admin)".into(),
        labels: with_component(&pods.base, Some("cluster-create")),
        service: String::new(),
        replicas: 1,
        ports: vec![],
        command: vec![
            "sh".into(),
            "-c".into(),
            topo::cluster_create_script(p),
        ],
        probe: None,
        init: None,
        conf_dir: None,
        sources: vec![
            pods.configmap(config_items.to_vec()),
            pods.tls(),
            pods.password(admin),
        ],
        data: false,
    };
    let services = services_of(&data, true);
    let policies = vec![
        Policy {
            name: data.name.clone(),
            about: "Cluster nodes: clients and the cluster-create Job may connect to the data port, the other nodes to the data port and the bus; they dial the other nodes and DNS only.".into(),
            selector: data.labels.clone(),
            ingress: vec![
                Rule {
                    peers: vec![clients(pods), job.labels.clone()],
                    ports: vec![port_no],
                },
                Rule {
                    peers: vec![data.labels.clone()],
                    ports: vec![port_no, bus],
                },
            ],
            egress: vec![Rule {
                peers: vec![data.labels.clone()],
                ports: vec![port_no, bus],
            }],
            dns: true,
        },
        Policy {
            name: job.name.clone(),
            about: "The cluster-create Job: nothing connects to it; it dials the nodes' data port and DNS only.".into(),
            selector: job.labels.clone(),
            ingress: vec![],
            egress: vec![Rule {
                peers: vec![data.labels.clone()],
                ports: vec![port_no],
            }],
            dns: true,
        },
    ];
    (vec![data, job], services, policies)
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
    let take = |keys: &[&str]| -> Vec<Pair> {
        keys.iter()
            .filter_map(|k| {
                input.rendered.get(*k).map(|f| Pair {
                    key: (*k).to_owned(),
                    value: f.content.clone(),
                })
            })
            .collect()
    };
    let (files, configs) = match input.profile.topology.kind {
        Kind::Standalone => (take(&[target::USERS_ACL]), vec![]),
        _ => (
            take(&[target::USERS_ACL, crate::topology::render::SENTINEL_ACL]),
            take(&[topo::DATA_CONF, topo::SENTINEL_CONF]),
        ),
    };
    Ok(SecretContext {
        files,
        configs,
        passwords: pairs(passwords),
        tls_crt: b64(tls.cert),
        tls_key: b64(tls.key),
        ca_crt: b64(tls.ca_cert),
    })
}

/// Renders every manifest. Templates of files others may read never see a secret, and their
/// output is searched for every secret value anyway, as in [`crate::render::render`].
pub fn render(templates: &Templates, input: &Input<'_>) -> Result<Rendered, Error> {
    let (ctx, workloads) = context(input);
    let tera_err = |e: tera::Error| Error::Template {
        name: "context".into(),
        report: e.to_string(),
    };
    let public = tera::Context::from_serialize(&ctx).map_err(tera_err)?;
    let secret_values: Vec<&str> = input.secrets.values().filter(|v| v.len() >= 8).collect();
    let mut out = Rendered::new();
    for m in manifests(input.profile) {
        let mut public = public.clone();
        let mine: Vec<&Workload> = workloads.iter().filter(|w| w.file == m.path).collect();
        public.insert("workloads", &mine);
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

    #[test]
    fn a_sentinel_deployment_s_certificate_covers_the_sentinels_and_client_lists_name_pods() {
        let mut p = crate::profile::builtin(Environment::Production);
        p.topology.kind = Kind::Sentinel;
        let names = cert_names(&p);
        for n in [
            "redis-sentinel.redis.svc.cluster.local",
            "*.redis-sentinel-headless.redis.svc.cluster.local",
            "*.redis-headless.redis.svc.cluster.local",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        // REDIS_URL names the primary at start, which the wildcard covers.
        assert_eq!(
            client_host(&p),
            "redis-0.redis-headless.redis.svc.cluster.local"
        );
        p.topology.kind = Kind::Cluster;
        assert_eq!(topo::data_pods(&p), 6);
        assert!(!cert_names(&p).iter().any(|n| n.contains("sentinel")));
    }
}
