//! Snapshots of rendered output, pinned under the top-level `snapshots/` directory.
//!
//! Inputs are deterministic: built-in profiles, a seeded RNG for the (test-only) passwords
//! and fixed paths. Only configs are pinned; no key material, and client.env (which carries a
//! password) is left out.

use redis_harden::cli::ShowFormat;
use redis_harden::profile::Environment;
use redis_harden::render::{self, Target};

use crate::support::pin;

fn rendered(env: Environment, target: Target, sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (resolved, files) = crate::support::render_seeded(env, target, &sets);
    let mut out = format!(
        "==== effective profile ====\n{}",
        redis_harden::show_profile(&resolved, ShowFormat::Yaml)
    );
    for name in [render::REDIS_CONF, render::USERS_ACL] {
        out.push_str(&format!("==== {name} ====\n{}", files[name].content));
    }
    out
}

#[test]
fn builtin_environments_target_host() {
    for env in Environment::ALL {
        pin(&format!("{env}-host"), &rendered(env, Target::Host, &[]));
    }
}

#[test]
fn production_target_docker_and_local() {
    pin(
        "production-docker",
        &rendered(Environment::Production, Target::Docker, &[]),
    );
    pin(
        "production-local",
        &rendered(Environment::Production, Target::Local, &[]),
    );
}

#[test]
fn production_with_team_settings() {
    let sets = [
        "redis.bind=[10.0.1.5, 127.0.0.1]",
        "tls.hostnames=[redis.internal.example.com]",
        "tls.ips=[10.0.1.5]",
        "acl.app.keys=[\"shop:*\", \"session:*\"]",
        "acl.admin.enabled=true",
        "acl.users=[{name: reporting, keys: [\"shop:*\"], commands: [\"+@read\", \"-@dangerous\"]}]",
    ];
    pin(
        "production-team",
        &rendered(Environment::Production, Target::Host, &sets),
    );
}

/// Each supported engine and version other than the default (Redis 7.0, pinned above): the
/// directives follow the version, and the compose file runs the version's own image and
/// programs.
#[test]
fn each_engine_and_version() {
    for (name, sets) in [
        ("redis-8.0", &["server.version=8.0"][..]),
        ("valkey-8.0", &["engine=valkey", "server.version=8.0"][..]),
        ("valkey-8.1", &["engine=valkey"][..]),
    ] {
        pin(
            &format!("{name}-production-host"),
            &rendered(Environment::Production, Target::Host, sets),
        );
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let (_, files) =
            crate::support::render_seeded(Environment::Production, Target::Docker, &sets);
        pin(
            &format!("{name}-production-compose"),
            &files[redis_harden::compose::COMPOSE_FILE].content,
        );
    }
}

#[test]
fn rendering_is_byte_for_byte_reproducible() {
    for env in Environment::ALL {
        assert_eq!(
            rendered(env, Target::Local, &[]),
            rendered(env, Target::Local, &[])
        );
    }
}

/// "Every generated directive exists in the targeted server version": each supported engine
/// and version, every environment and target, read the way the server reads redis.conf and
/// checked against the version's measured directive table (which a live test compares with
/// the real server's `CONFIG GET *`).
#[test]
fn every_rendered_directive_exists_in_its_version() {
    for facts in redis_harden::server::SUPPORTED {
        let sets = vec![
            format!(
                "engine={}",
                serde_json::to_value(facts.engine)
                    .unwrap()
                    .as_str()
                    .unwrap()
            ),
            format!("server.version={}", facts.version),
        ];
        for env in Environment::ALL {
            for target in [Target::Local, Target::Host, Target::Docker] {
                let (_, files) = crate::support::render_seeded(env, target, &sets);
                let conf = &files[render::REDIS_CONF].content;
                assert!(conf.contains(&facts.label()), "{conf}");
                for d in redis_harden::policy::parse_redis_conf(conf) {
                    assert!(
                        facts.has_directive(&d.name),
                        "{} {env} {target}: `{}` does not exist in {}",
                        facts.label(),
                        d.name,
                        facts.label()
                    );
                }
            }
        }
    }
}
