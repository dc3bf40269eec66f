//! The built-in policy of each environment: the lowest layer of every profile.

use super::{
    AclSettings, AdminUser, AppUser, CipherProfile, ClientAuth, EnvProfile, Environment, KeyType,
    LogLevel, MaxmemoryPolicy, RedisSettings, SecretSettings, TlsProtocol, TlsSettings,
};
use crate::values::{BindAddr, KeyPattern, MemorySize, Port};

fn parsed<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("built-in default is valid")
}

/// The built-in profile of `env`, before any profile file or `--set`.
pub fn builtin(env: Environment) -> EnvProfile {
    use Environment::*;
    use TlsProtocol::*;
    let (password_length, protocols, ciphers, client_auth, leaf_days) = match env {
        Production => (
            48,
            vec![Tls13],
            CipherProfile::Modern,
            ClientAuth::Required,
            90,
        ),
        Staging => (
            32,
            vec![Tls12, Tls13],
            CipherProfile::Intermediate,
            ClientAuth::Required,
            90,
        ),
        Development => (
            24,
            vec![Tls12, Tls13],
            CipherProfile::Intermediate,
            ClientAuth::Optional,
            365,
        ),
        Testing => (
            12,
            vec![],
            CipherProfile::Intermediate,
            ClientAuth::Off,
            365,
        ),
    };
    EnvProfile {
        redis: RedisSettings {
            port: Port::new(6379).expect("6379 is a valid port"),
            // Loopback only until the team names the interface clients use.
            bind: vec![parsed::<BindAddr>("127.0.0.1"), parsed("-::1")],
            maxmemory: parsed::<MemorySize>("256mb"),
            maxmemory_policy: MaxmemoryPolicy::AllkeysLru,
            maxclients: 10_000,
            timeout: 300,
            tcp_keepalive: 60,
            loglevel: LogLevel::Notice,
        },
        tls: TlsSettings {
            enabled: env != Testing,
            protocols,
            ciphers,
            client_auth,
            hostnames: vec![],
            ips: vec![],
            key_type: KeyType::EcdsaP256,
            leaf_validity_days: leaf_days,
            ca_validity_days: 1825,
        },
        secrets: SecretSettings { password_length },
        acl: AclSettings {
            app: AppUser {
                keys: vec![parsed::<KeyPattern>("*")],
                channels: vec![parsed::<KeyPattern>("*")],
            },
            admin: AdminUser { enabled: false },
            users: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_is_valid() {
        for env in Environment::ALL {
            builtin(env)
                .validate()
                .unwrap_or_else(|v| panic!("{env}: {v:?}"));
        }
    }
}
