//! `--target host`: one systemd drop-in (`systemd/redis-harden.conf`) for the unit that runs
//! the server. For Debian's `redis-server.service` and `valkey-server.service` it keeps the
//! package's sandboxing and tightens it (owner-only files, read-only config); with TLS it also
//! points the server at the bundle's OpenSSL configuration (`OPENSSL_CONF`, for the TLS
//! groups). Dragonfly has no Debian unit: its drop-in is for the upstream package's
//! `dragonfly.service` (tools/packaging/debian/ in dragonflydb/dragonfly), and makes that unit
//! run the bundle as written: the bundle's flagfile instead of the package's, server.env as
//! `EnvironmentFile=` (Dragonfly reads `DFLY_requirepass` as its `requirepass` flag) and
//! `UMask=0077`.
//!
//! A multi-node topology has one drop-in per node instead (`nodes/NAME/systemd/...`), for
//! Debian's template units, so that several nodes may share a host: `redis-server@NAME` for a
//! data node and `redis-sentinel@NAME` for a Sentinel (Valkey: `valkey-server@`,
//! `valkey-sentinel@`). It points the unit at the node's config and keeps Debian's sandboxing;
//! a Sentinel may write its node directory only, where it rewrites sentinel.conf.

use serde::Serialize;

use crate::profile::{Engine, EnvProfile};
use crate::target::Target;
use crate::topology::{Node, Role};

/// Where the drop-in sits in the bundle; installed as
/// `/etc/systemd/system/UNIT.d/redis-harden.conf`.
pub use crate::target::SYSTEMD_DROPIN as DROPIN;

/// A standalone host bundle has one drop-in (every engine's unit needs one: Debian's for the
/// sandboxing, Dragonfly's to run the bundle's flagfile and password); a multi-node topology
/// has one per node instead ([`node_context`]).
pub fn enabled(p: &EnvProfile, target: Target) -> bool {
    target == Target::Host && p.topology.kind == crate::topology::Kind::Standalone
}

/// Whether every node of a host topology gets its own drop-in.
pub fn nodes_enabled(p: &EnvProfile, target: Target) -> bool {
    target == Target::Host && debian_unit(p) && p.topology.kind != crate::topology::Kind::Standalone
}

/// Whether the unit is a Debian package's (Redis, Valkey), whose sandboxing the drop-in
/// keeps and tightens.
fn debian_unit(p: &EnvProfile) -> bool {
    p.engine != Engine::Dragonfly
}

/// The systemd unit the drop-in belongs to (`redis-server.service`, `valkey-server.service`,
/// Dragonfly's `dragonfly.service`).
pub fn unit(p: &EnvProfile) -> String {
    match p.engine {
        Engine::Dragonfly => "dragonfly.service".into(),
        _ => format!("{}.service", p.server_facts().host_layout.service),
    }
}

/// Where the drop-in is installed on the host.
pub fn install_path(p: &EnvProfile) -> String {
    format!("/etc/systemd/system/{}.d/redis-harden.conf", unit(p))
}

/// What the drop-in template sees as `systemd`.
#[derive(Debug, Serialize)]
pub struct Context {
    unit: String,
    /// The unit's name without `.service`, for `systemctl restart`.
    service: String,
    install_path: String,
    /// Debian's unit: keep and tighten its sandboxing.
    sandbox: bool,
    /// The directories the server writes besides its data directory (Debian's layout).
    log_dir: String,
    run_dir: String,
    /// A topology node's drop-in: what it runs and where it may write (None: standalone).
    node: Option<NodeUnit>,
    /// Dragonfly's package unit: what replaces its `ExecStart=` and what it reads.
    dragonfly: Option<DragonflyUnit>,
}

/// What a Dragonfly drop-in sets in the upstream package's `dragonfly.service`.
#[derive(Debug, Serialize)]
pub struct DragonflyUnit {
    /// `ExecStart=`: the bundle's flagfile, plus the two settings of the package's own
    /// flagfile (`dragonfly.conf`) that its unit relies on: the pid file its `PIDFile=` names
    /// and the log directory it may write.
    exec_start: String,
    /// `EnvironmentFile=`: the bundle's server.env (`DFLY_requirepass`).
    environment_file: String,
}

/// The upstream unit's `ExecStart=` program (tools/packaging/debian/dragonfly.service).
pub const DRAGONFLY_PROGRAM: &str = "/usr/bin/dragonfly";

fn dragonfly_unit() -> DragonflyUnit {
    use crate::dragonfly::{HOST_DIR, HOST_LOG_DIR, HOST_PID_FILE};
    use crate::target::DRAGONFLY_FLAGS;
    DragonflyUnit {
        exec_start: format!(
            "{DRAGONFLY_PROGRAM} --flagfile={HOST_DIR}/{DRAGONFLY_FLAGS} --pidfile={HOST_PID_FILE} \
             --log_dir={HOST_LOG_DIR}"
        ),
        environment_file: format!("{HOST_DIR}/{}", crate::compose::SERVER_ENV),
    }
}

/// What a node's drop-in sets beyond the standalone one.
#[derive(Debug, Serialize)]
pub struct NodeUnit {
    name: String,
    sentinel: bool,
    /// `ExecStart=`: Debian's program on the node's config, as Debian's unit runs it.
    exec_start: String,
    /// Where the node's config puts its pid file: the instance's runtime directory.
    pid_file: String,
    /// `ReadWritePaths=`: the data directory (data node) or the node directory (Sentinel,
    /// which rewrites its config there), the log directory and the runtime directory.
    write_paths: Vec<String>,
}

pub fn context(p: &EnvProfile) -> Context {
    let layout = p.server_facts().host_layout;
    let parent = |file: &str| {
        std::path::Path::new(file)
            .parent()
            .map_or_else(String::new, |d| d.display().to_string())
    };
    let unit = unit(p);
    Context {
        service: unit.trim_end_matches(".service").to_owned(),
        install_path: install_path(p),
        sandbox: debian_unit(p),
        log_dir: parent(layout.logfile),
        run_dir: parent(layout.pidfile),
        unit,
        node: None,
        dragonfly: (p.engine == Engine::Dragonfly).then(dragonfly_unit),
    }
}

/// The Debian service a node runs under: `redis-server` or `redis-sentinel` (Valkey's alike).
fn node_service(p: &EnvProfile, node: &Node) -> String {
    let service = p.server_facts().host_layout.service;
    if node.role == Role::Sentinel {
        service.replace("-server", "-sentinel")
    } else {
        service.to_owned()
    }
}

/// The node's instance of Debian's template unit: `redis-sentinel@sentinel-0.service`.
pub fn node_unit(p: &EnvProfile, node: &Node) -> String {
    format!("{}@{}.service", node_service(p, node), node.name)
}

/// The pid file of a node's instance, in the runtime directory Debian's template unit
/// creates for it (`RuntimeDirectory=redis-%i`, `sentinel-%i`), which is all it may write
/// in /run: `/run/redis-data-0/redis-server.pid`, `/run/sentinel-sentinel-0/redis-sentinel.pid`.
pub fn node_pid_file(p: &EnvProfile, node: &Node) -> String {
    let service = node_service(p, node);
    let run = if node.role == Role::Sentinel {
        "sentinel"
    } else {
        service.trim_end_matches("-server")
    };
    format!("/run/{run}-{}/{service}.pid", node.name)
}

/// A topology node's drop-in context: `conf` is the node's config and `data_dir` its data
/// directory as the host sees them.
pub fn node_context(p: &EnvProfile, node: &Node, conf: &str, data_dir: &str) -> Context {
    let mut ctx = context(p);
    let unit = node_unit(p, node);
    let service = node_service(p, node);
    let pid_file = node_pid_file(p, node);
    let parent = |f: &str| {
        std::path::Path::new(f)
            .parent()
            .map_or_else(String::new, |d| d.display().to_string())
    };
    let sentinel = node.role == Role::Sentinel;
    let mut write_paths = vec![if sentinel {
        // Not optional: without it Sentinel starts but never saves its state.
        parent(conf)
    } else {
        format!("-{data_dir}")
    }];
    write_paths.push(format!("-{}", ctx.log_dir));
    write_paths.push(format!("-{}", parent(&pid_file)));
    ctx.install_path = format!("/etc/systemd/system/{unit}.d/redis-harden.conf");
    ctx.service = unit.trim_end_matches(".service").to_owned();
    ctx.unit = unit;
    ctx.node = Some(NodeUnit {
        name: node.name.clone(),
        sentinel,
        exec_start: format!("/usr/bin/{service} {conf} --supervised systemd --daemonize no"),
        pid_file,
        write_paths,
    });
    ctx
}
