//! redis_exporter's configuration (`exporter.env`): the Prometheus exporter scrapes the server
//! as the `monitoring` user, over mTLS when the bundle has TLS.
//!
//! Everything goes in environment variables that redis_exporter reads (REDIS_ADDR,
//! REDIS_PASSWORD, REDIS_EXPORTER_*), so the file is a systemd `EnvironmentFile=` or a
//! compose `env_file` and the password never reaches argv, where `ps` shows it. (The
//! exporter's `-redis.password-file` takes a JSON map and logs every load at error level.)

use serde::Serialize;

use crate::pki;
use crate::profile::EnvProfile;
use crate::target::Target;
use crate::values::ConfPath;

/// The exporter's environment file, relative to the bundle. Secret: mode 0600.
pub use crate::target::EXPORTER_ENV as ENV_FILE;

/// Where the exporter reads the bundle's CA, client certificate and key on a host: a
/// directory of its own, owned by the `prometheus` user Debian's unit runs it as (the
/// server's /etc/redis/tls is the redis user's, and holds no client key).
pub const HOST_TLS_DIR: &str = "/etc/prometheus/redis-exporter";
/// The same inside the exporter's container.
pub use crate::target::EXPORTER_DOCKER_TLS_DIR as DOCKER_TLS_DIR;

/// Redis and Valkey (users.acl): Dragonfly's ACL file has no subcommand rules, so its
/// monitoring user cannot be given `CLIENT SETNAME` alone. Not in Kubernetes, whose
/// manifests have no exporter (yet). Not for a multi-node topology on any target either:
/// exporter.env names one server, and such a bundle has none at that address (an exporter
/// per data node is not written yet).
pub fn enabled(p: &EnvProfile, target: Target) -> bool {
    p.engine.reads_redis_conf()
        && target != Target::Kubernetes
        && p.topology.kind == crate::topology::Kind::Standalone
}

/// What `exporter.env` is rendered from.
#[derive(Debug, Serialize)]
pub struct Context {
    /// `rediss://HOST:PORT`: a name the server certificate covers, so verification stays on.
    pub addr: String,
    pub password: String,
    /// Where the certificates below live (for the install hint).
    pub tls_dir: ConfPath,
    pub ca_file: ConfPath,
    pub cert_file: ConfPath,
    pub key_file: ConfPath,
    /// Where it serves /metrics: loopback for a local bundle; every interface on a host or in
    /// a container, where the firewall rules (monitoring_cidrs) or the compose network decide
    /// who reaches it.
    pub listen: String,
}

/// `host` is the server name of client.env's URL; `password` is monitoring's.
pub fn context(
    p: &EnvProfile,
    target: Target,
    out_dir: &ConfPath,
    host: &str,
    password: &str,
) -> Context {
    let scheme = if p.tls.enabled { "rediss" } else { "redis" };
    let (tls_dir, ca, cert, key) = match target {
        Target::Local => (
            out_dir.clone(),
            pki::CA_CERT,
            pki::CLIENT_CERT,
            pki::CLIENT_KEY,
        ),
        Target::Host => (
            ConfPath::parse(HOST_TLS_DIR).expect("valid"),
            "ca.crt",
            "client.crt",
            "client.key",
        ),
        Target::Docker | Target::Kubernetes => (
            ConfPath::parse(DOCKER_TLS_DIR).expect("valid"),
            "ca.crt",
            "client.crt",
            "client.key",
        ),
    };
    let port = p.firewall.exporter_port.get();
    Context {
        addr: format!("{scheme}://{host}:{}", p.redis.port),
        password: password.to_owned(),
        ca_file: tls_dir.join(ca),
        cert_file: tls_dir.join(cert),
        key_file: tls_dir.join(key),
        tls_dir,
        listen: match target {
            Target::Local => format!("127.0.0.1:{port}"),
            Target::Host | Target::Docker | Target::Kubernetes => format!(":{port}"),
        },
    }
}
