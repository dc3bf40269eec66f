//! The built-in policy of each environment: the lowest layer of every profile.

use super::{
    AclSettings, AdminUser, AppUser, CipherProfile, ClientAuth, DockerSettings, DragonflySettings,
    Engine, EnvProfile, Environment, FirewallSettings, KeyType, LogLevel, MaxmemoryPolicy,
    RedisSettings, SecretSettings, ServerSettings, TlsProtocol, TlsSettings,
};
use crate::values::{BindAddr, ImageRef, KeyPattern, MemorySize, Port};

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
        engine: Engine::Redis,
        server: ServerSettings {
            version: crate::server::default_version(Engine::Redis),
        },
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
        secrets: SecretSettings {
            password_length,
            generations: Default::default(),
        },
        acl: AclSettings {
            app: AppUser {
                keys: vec![parsed::<KeyPattern>("*")],
                channels: vec![parsed::<KeyPattern>("*")],
                scripting: false,
            },
            admin: AdminUser { enabled: false },
            users: vec![],
        },
        firewall: FirewallSettings {
            app_cidrs: vec![],
            monitoring_cidrs: vec![],
            exporter_port: Port::new(9121).expect("valid port"),
        },
        docker: DockerSettings {
            // The release the default version's facts were measured on (Debian's
            // redis-server 7.0.15, which the tests boot); a profile that names another engine
            // or version gets that version's image instead (profile::load).
            redis_image: parsed::<ImageRef>(
                crate::server::facts(Engine::Redis, crate::server::default_version(Engine::Redis))
                    .expect("the default version is supported")
                    .image,
            ),
            dragonfly_image: parsed::<ImageRef>(
                "docker.dragonflydb.io/dragonflydb/dragonfly:v1.40.0",
            ),
            // The redis user of the official image (and the dfly user of Dragonfly's).
            uid: 999,
            gid: 999,
            memory_limit: parsed::<MemorySize>("512mb"),
            cpus: 1.0,
            exporter: false,
            // The release the exporter tests run (Debian's prometheus-redis-exporter 1.45).
            exporter_image: parsed::<ImageRef>("oliver006/redis_exporter:v1.45.0"),
        },
        dragonfly: DragonflySettings { threads: 1 },
        topology: Default::default(),
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
