//! `--target host`: one systemd drop-in (`systemd/redis-harden.conf`) for the unit that runs
//! the server. For Debian's `redis-server.service` and `valkey-server.service` it keeps the
//! package's sandboxing and tightens it (owner-only files, read-only config); with TLS it also
//! points the server at the bundle's OpenSSL configuration (`OPENSSL_CONF`, for the TLS
//! groups). Dragonfly has no Debian unit: its drop-in (for the upstream package's
//! `dragonfly.service`) carries `OPENSSL_CONF` only.

use serde::Serialize;

use crate::profile::{Engine, EnvProfile};
use crate::target::Target;

/// Where the drop-in sits in the bundle; installed as
/// `/etc/systemd/system/UNIT.d/redis-harden.conf`.
pub use crate::target::SYSTEMD_DROPIN as DROPIN;

/// A drop-in is written for a host bundle that has something to say to its unit.
pub fn enabled(p: &EnvProfile, target: Target) -> bool {
    target == Target::Host && (debian_unit(p) || p.tls.enabled)
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
    }
}
