//! Mozilla's server-side TLS guidelines, embedded as published (`mozilla-server-side-tls.json`,
//! version 6.0), so cipher lists come from the source rather than from a hand-copied string.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::profile::CipherProfile;

const GUIDELINES_JSON: &str = include_str!("mozilla-server-side-tls.json");

#[derive(Debug, Deserialize)]
struct Guidelines {
    version: f64,
    configurations: Configurations,
}

#[derive(Debug, Deserialize)]
struct Configurations {
    modern: Configuration,
    intermediate: Configuration,
}

/// One of Mozilla's configurations, reduced to what redis.conf needs.
#[derive(Debug, Deserialize)]
pub struct Configuration {
    ciphers: Ciphers,
    /// TLS 1.3 suites, OpenSSL names.
    pub ciphersuites: Vec<String>,
    pub server_preferred_order: bool,
    pub tls_versions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Ciphers {
    openssl: Vec<String>,
}

impl Configuration {
    /// TLS 1.2 ciphers in OpenSSL syntax (empty for `modern`, which is TLS 1.3 only).
    pub fn ciphers(&self) -> &[String] {
        &self.ciphers.openssl
    }
}

fn guidelines() -> &'static Guidelines {
    static PARSED: OnceLock<Guidelines> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(GUIDELINES_JSON).expect("embedded guidelines parse"))
}

pub fn configuration(profile: CipherProfile) -> &'static Configuration {
    let c = &guidelines().configurations;
    match profile {
        CipherProfile::Modern => &c.modern,
        CipherProfile::Intermediate => &c.intermediate,
    }
}

/// The guideline version, quoted in generated files.
pub fn version() -> String {
    format!("{:.1}", guidelines().version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_guidelines_have_the_expected_shape() {
        assert_eq!(version(), "6.0");
        let modern = configuration(CipherProfile::Modern);
        assert!(modern.ciphers().is_empty());
        assert_eq!(modern.tls_versions, ["TLSv1.3"]);
        let inter = configuration(CipherProfile::Intermediate);
        assert!(inter.ciphers().iter().all(|c| c.starts_with("ECDHE-")));
        assert_eq!(inter.ciphersuites.len(), 3);
        assert!(!inter.server_preferred_order);
    }
}
