//! Snapshots of rendered output, pinned under the top-level `snapshots/` directory.
//!
//! Inputs are deterministic: built-in profiles, a seeded RNG for the (test-only) passwords
//! and fixed paths. Only configs are pinned; no key material, and client.env (which carries a
//! password) is left out.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use redis_harden::cli::ShowFormat;
use redis_harden::profile::{self, Environment};
use redis_harden::render::{self, Target};
use redis_harden::secrets::Secrets;
use redis_harden::templates::Templates;
use redis_harden::values::ConfPath;

fn rendered(
    env: Environment,
    target: Target,
    sets: &[&str],
    profile_file: Option<&Path>,
) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let resolved = profile::resolve(env, profile_file, &sets, Path::new("/nonexistent")).unwrap();
    let mut secrets = Secrets::default();
    secrets.ensure(&resolved.settings, &mut StdRng::seed_from_u64(42));
    let out_dir = ConfPath::parse(&format!("/srv/redis-harden/{env}")).unwrap();
    let files = render::render(
        &Templates::builtin().unwrap(),
        &render::Input {
            project: &resolved.project,
            env,
            profile: &resolved.settings,
            secrets: &secrets,
            target,
            out_dir: &out_dir,
        },
    )
    .unwrap();
    let mut out = format!(
        "==== effective profile ====\n{}",
        redis_harden::show_profile(&resolved, ShowFormat::Yaml)
    );
    for name in [render::REDIS_CONF, render::USERS_ACL] {
        out.push_str(&format!("==== {name} ====\n{}", files[name].content));
    }
    out
}

fn pin(name: &str, content: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, content);
    });
}

#[test]
fn builtin_environments_target_host() {
    for env in Environment::ALL {
        pin(
            &format!("{env}-host"),
            &rendered(env, Target::Host, &[], None),
        );
    }
}

#[test]
fn production_target_docker_and_local() {
    pin(
        "production-docker",
        &rendered(Environment::Production, Target::Docker, &[], None),
    );
    pin(
        "production-local",
        &rendered(Environment::Production, Target::Local, &[], None),
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
        &rendered(Environment::Production, Target::Host, &sets, None),
    );
}

#[test]
fn rendering_is_byte_for_byte_reproducible() {
    for env in Environment::ALL {
        assert_eq!(
            rendered(env, Target::Local, &[], None),
            rendered(env, Target::Local, &[], None)
        );
    }
}
