//! The OpenSSL configuration every TLS bundle ships (openssl.cnf): Redis and Dragonfly
//! have no directive for key-exchange groups, and OpenSSL's defaults offer X448 and
//! secp521r1, which Mozilla's modern and intermediate profiles leave out (an outside scan,
//! sslyze's `--mozilla_config`, fails every bundle on `tls_curves` without it). The server
//! reads it through `OPENSSL_CONF`, which every way the bundle starts a server sets: the
//! printed start line, the host's systemd drop-in, and compose's `environment:`.

use crate::profile::EnvProfile;
use crate::target::Target;

/// Where the file sits in the bundle (and, below the server's base directory, on the server).
pub use crate::target::OPENSSL_CNF as CNF;

/// Mozilla's groups (server-side TLS 6.0, modern and intermediate alike) that OpenSSL 3.0
/// knows: X25519MLKEM768 needs OpenSSL 3.5, and an unknown name stops the server reading its
/// TLS settings.
pub const GROUPS: &str = "X25519:P-256:P-384";

pub fn enabled(p: &EnvProfile, _: Target) -> bool {
    p.tls.enabled
}
