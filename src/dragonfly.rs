//! DragonflyDB: the flags redis-harden may write into `dragonfly.flags`, the profile rules
//! Dragonfly adds to Redis's, and the values its templates need.
//!
//! Facts from Dragonfly v1.40's source that shape the output: `--bind` takes one address
//! (empty means every interface); `--maxmemory` must be at least 256 MiB per thread or the
//! server exits; `--tls_ca_cert_file` makes client certificates mandatory (there is no
//! "optional"); TLS 1.2 is always the floor (there is no `tls_protocols`); the ACL file has no
//! comments, no selectors and no `cmd|subcmd` rules, and a file without a `default` line
//! leaves `default` as `on nopass +@all`.

use serde::Serialize;

use crate::error::Error;
use crate::mozilla;
use crate::profile::{
    CipherProfile, ClientAuth, EnvProfile, MaxmemoryPolicy, TlsProtocol, Violation,
};
use crate::target::Target;
use crate::values::ConfPath;

/// The Dragonfly files' names in the bundle and in the container. They live in `target`, so
/// compose mounts them without importing this module.
pub use crate::target::{
    DRAGONFLY_ACL as ACL_FILE, DRAGONFLY_CONTAINER_DIR as CONTAINER_DIR,
    DRAGONFLY_FLAGS as FLAGS_FILE,
};

/// Dragonfly exits at startup with less maxmemory than this per proactor thread.
pub const MEMORY_PER_THREAD: u64 = 256 * 1024 * 1024;

/// Every flag the built-in `dragonfly.flags` may write. Each is defined under Dragonfly
/// v1.40's `src/` (`dragonfly-flags.tsv`, checked by a test), and a rendered flagfile may use
/// no other (also checked). `requirepass` is deliberately absent: it is a secret and comes from
/// the `DFLY_requirepass` environment variable.
pub const FLAGS: &[&str] = &[
    "bind",
    "port",
    "memcached_port",
    "primary_port_http_enabled",
    "admin_port",
    "admin_nopass",
    "timeout",
    "tcp_keepalive",
    "maxclients",
    "tls",
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_cert_file",
    "tls_ciphers",
    "tls_cipher_suites",
    "tls_prefer_server_ciphers",
    "tls_replication",
    "aclfile",
    "maxmemory",
    "cache_mode",
    "dir",
    "dbfilename",
    "version_check",
];

/// Flags of helio, the I/O library Dragonfly is built on (a submodule outside `src/`, so the
/// TSV cannot list them). `proactor_threads` (helio `util/proactor_pool.cc`) is the only way
/// to fix the thread count; without it Dragonfly starts one thread per CPU and exits when
/// maxmemory is below 256 MiB times that.
pub const HELIO_FLAGS: &[&str] = &["proactor_threads"];

/// Dragonfly's packages (upstream's .deb and .rpm; Debian has none): the config directory,
/// the flagfile their `dragonfly.service` runs with, and the user it runs as.
pub const HOST_DIR: &str = "/etc/dragonfly";
pub const HOST_PACKAGE_FLAGFILE: &str = "/etc/dragonfly/dragonfly.conf";
pub const HOST_USER: &str = "dfly";
/// What the package's flagfile sets besides `--dir`, and its unit relies on: the pid file of
/// its `PIDFile=` and the log directory of its `ReadWritePaths=` (`--log_dir`, glog's flag).
/// The host drop-in passes both, since it runs the bundle's flagfile instead.
pub const HOST_PID_FILE: &str = "/var/run/dragonfly/dragonfly.pid";
pub const HOST_LOG_DIR: &str = "/var/log/dragonfly";

/// Where the Dragonfly files are on the server: the output directory itself (local), the
/// Debian package's layout (host), or the mounts of docker-compose.yml (docker).
pub fn server_dir(target: Target, out_dir: &ConfPath) -> ConfPath {
    match target {
        Target::Local => out_dir.clone(),
        Target::Host => ConfPath::parse(HOST_DIR).expect("valid"),
        Target::Docker | Target::Kubernetes => ConfPath::parse(CONTAINER_DIR).expect("valid"),
    }
}

fn data_dir(target: Target, out_dir: &ConfPath) -> ConfPath {
    match target {
        Target::Local => out_dir.join(crate::target::DATA_DIR),
        Target::Host => ConfPath::parse("/var/lib/dragonfly").expect("valid"),
        // The image's VOLUME, owned by its dfly user.
        Target::Docker | Target::Kubernetes => ConfPath::parse("/data").expect("valid"),
    }
}

/// Whether this profile's bundle has the Dragonfly files.
pub fn enabled(p: &EnvProfile, _: Target) -> bool {
    p.engine == crate::profile::Engine::Dragonfly
}

/// The rules Dragonfly adds to a profile. A broken one is a startup failure (or a silently
/// different server), so it is refused here, with exit code 2, before anything is written.
pub fn check_profile(p: &EnvProfile) -> Result<(), Violation> {
    let fail = |keys: &str, reason: String| {
        Err(Violation {
            keys: keys.split(',').map(str::to_owned).collect(),
            reason,
        })
    };
    let threads = u64::from(p.dragonfly.threads);
    let needed = threads * MEMORY_PER_THREAD;
    let maxmemory = p.redis.maxmemory.bytes().unwrap_or(0);
    if maxmemory < needed {
        return fail(
            "redis.maxmemory,dragonfly.threads,engine",
            format!(
                "Dragonfly needs 256 MiB of maxmemory per thread: {threads} thread(s) need {} MiB, \
                 but redis.maxmemory is {} (raise redis.maxmemory or lower dragonfly.threads)",
                needed >> 20,
                p.redis.maxmemory
            ),
        );
    }
    if p.acl.app.scripting {
        return fail(
            "acl.app.scripting,engine",
            "Dragonfly's ACL file has no subcommand rules, so app cannot be given SCRIPT LOAD \
             without SCRIPT FLUSH and KILL; leave acl.app.scripting off with Dragonfly"
                .into(),
        );
    }
    let required: Vec<_> = p.redis.bind.iter().filter(|b| !b.optional).collect();
    if required.len() != 1 {
        return fail(
            "redis.bind,engine",
            format!(
                "Dragonfly listens on exactly one address (--bind takes one), but redis.bind \
                 lists {} required address(es); list one (optional '-' addresses are ignored)",
                required.len()
            ),
        );
    }
    if matches!(
        p.redis.maxmemory_policy,
        MaxmemoryPolicy::VolatileLru
            | MaxmemoryPolicy::VolatileLfu
            | MaxmemoryPolicy::VolatileRandom
            | MaxmemoryPolicy::VolatileTtl
    ) {
        return fail(
            "redis.maxmemory_policy,engine",
            "Dragonfly either evicts any key (cache mode, like allkeys-*) or none \
             (noeviction); it cannot limit eviction to keys with a TTL"
                .into(),
        );
    }
    for (i, user) in p.acl.users.iter().enumerate() {
        if let Some(rule) = user.commands.iter().find(|r| r.as_str().contains('|')) {
            return fail(
                &format!("acl.users[{i}].commands,engine"),
                format!(
                    "{rule}: Dragonfly's ACL file has no subcommand rules, and one unknown rule \
                     makes it ignore the whole file; grant or deny the whole command"
                ),
            );
        }
    }
    Ok(())
}

/// What the Dragonfly templates need beyond the shared context.
#[derive(Debug, Serialize)]
pub struct Context {
    /// The one listen address.
    bind: String,
    threads: u32,
    /// In bytes: unambiguous, whatever unit the profile used.
    maxmemory: u64,
    /// Dragonfly's only eviction switch: on for allkeys-*, off for noeviction.
    cache_mode: bool,
    /// Client certificates are mandatory (only when the profile requires them: Dragonfly
    /// has no "optional").
    verify_clients: bool,
    /// TLS 1.2 ciphers. Dragonfly cannot refuse TLS 1.2, so a TLS 1.3-only profile still
    /// gets Mozilla intermediate's (all ECDHE + AEAD) for it.
    tls_ciphers: String,
    tls_cipher_suites: String,
    tls_prefer_server_ciphers: bool,
    /// The profile allows only TLS 1.3, which Dragonfly cannot enforce.
    tls13_only: bool,
    paths: Paths,
}

#[derive(Debug, Serialize)]
struct Paths {
    flagfile: ConfPath,
    aclfile: ConfPath,
    tls_cert_file: ConfPath,
    tls_key_file: ConfPath,
    tls_ca_cert_file: ConfPath,
    dir: ConfPath,
}

/// The Dragonfly context of a validated profile.
pub fn context(p: &EnvProfile, target: Target, out_dir: &ConfPath) -> Result<Context, Error> {
    let base = server_dir(target, out_dir);
    let paths = Paths {
        flagfile: base.join(FLAGS_FILE),
        aclfile: base.join(ACL_FILE),
        tls_cert_file: base.join(crate::pki::SERVER_CERT),
        tls_key_file: base.join(crate::pki::SERVER_KEY),
        tls_ca_cert_file: base.join(crate::pki::CA_CERT),
        dir: data_dir(target, out_dir),
    };
    // A flagfile value runs to the end of its line, and rendering trims trailing blanks.
    if [&paths.flagfile, &paths.dir]
        .iter()
        .any(|p| p.as_str() != p.as_str().trim())
    {
        return Err(Error::Usage {
            message: format!("--out {:?}: starts or ends with a blank", out_dir.as_str()),
            help: "a Dragonfly flagfile cannot carry a path with leading or trailing blanks; \
                   choose another --out"
                .into(),
        });
    }
    let bind = crate::target::server_bind(p, target)
        .into_iter()
        .find(|b| !b.optional)
        .map(|b| b.ip.to_string())
        .expect("a validated Dragonfly profile binds exactly one required address");
    let moz = mozilla::configuration(p.tls.ciphers);
    let tls12 = if moz.ciphers().is_empty() {
        mozilla::configuration(CipherProfile::Intermediate).ciphers()
    } else {
        moz.ciphers()
    };
    Ok(Context {
        bind,
        threads: p.dragonfly.threads,
        maxmemory: p.redis.maxmemory.bytes().expect("validated memory size"),
        cache_mode: !matches!(p.redis.maxmemory_policy, MaxmemoryPolicy::Noeviction),
        verify_clients: p.tls.client_auth == ClientAuth::Required,
        tls_ciphers: tls12.join(":"),
        tls_cipher_suites: moz.ciphersuites.join(":"),
        tls_prefer_server_ciphers: moz.server_preferred_order,
        tls13_only: !p.tls.protocols.contains(&TlsProtocol::Tls12),
        paths,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::profile::{self, Engine, Environment};
    use crate::secrets::Secrets;
    use crate::templates::Templates;

    const TSV: &str = include_str!("dragonfly-flags.tsv");

    /// Flag name -> (source files, help texts) of every flag defined in Dragonfly's source.
    fn known_flags() -> BTreeMap<&'static str, Vec<(&'static str, &'static str)>> {
        let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for line in TSV.lines().skip_while(|l| l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "malformed TSV line: {line:?}");
            out.entry(cols[0]).or_default().push((cols[3], cols[4]));
        }
        out
    }

    /// Source files that are not part of the server: the benchmark tool, the no-op backend
    /// and tests define flags of their own.
    fn is_server_source(file: &str) -> bool {
        !(file.ends_with("_test.cc")
            || file.ends_with("_bench.cc")
            || file.ends_with("test_utils.cc")
            || file.ends_with("dfly_bench.cc")
            || file.ends_with("ok_main.cc"))
    }

    #[test]
    fn every_emittable_flag_is_a_live_dragonfly_server_flag() {
        let known = known_flags();
        assert!(known.len() > 200, "the TSV looks truncated");
        for flag in FLAGS {
            let defs = known
                .get(flag)
                .unwrap_or_else(|| panic!("--{flag} is not defined in Dragonfly v1.40"));
            assert!(
                defs.iter()
                    .any(|(file, help)| is_server_source(file) && !help.starts_with("[RETIRED]")),
                "--{flag} is only defined outside the server or retired: {defs:?}"
            );
        }
        for flag in HELIO_FLAGS {
            // Once the TSV covers helio, the flag belongs in FLAGS and is checked like the rest.
            assert!(
                !known.contains_key(flag),
                "--{flag} is in the TSV: move it to FLAGS"
            );
        }
        for gone in ["rename_command", "tls_protocols", "requirepass"] {
            assert!(!FLAGS.contains(&gone), "--{gone} must never be emitted");
        }
        let unique: BTreeSet<_> = FLAGS.iter().chain(HELIO_FLAGS).collect();
        assert_eq!(unique.len(), FLAGS.len() + HELIO_FLAGS.len());
    }

    fn render(env: Environment, target: Target) -> BTreeMap<String, String> {
        let sets = vec!["engine=dragonfly".to_string()];
        let resolved =
            profile::resolve(env, None, &sets, std::path::Path::new("/nonexistent")).unwrap();
        let mut secrets = Secrets::default();
        secrets.ensure(&resolved.settings, &mut StdRng::seed_from_u64(7));
        let out_dir = ConfPath::parse("/srv/bundle").unwrap();
        crate::render::render(
            &Templates::builtin().unwrap(),
            &crate::render::Input {
                project: &resolved.project,
                env,
                profile: &resolved.settings,
                secrets: &secrets,
                target,
                out_dir: &out_dir,
            },
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.content))
        .collect()
    }

    /// `--name=value` lines of a flagfile, comments and blank lines skipped (absl's rules).
    fn flags_of(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(str::trim_start)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let body = l
                    .strip_prefix("--")
                    .unwrap_or_else(|| panic!("not a --flag line: {l:?}"));
                let (name, value) = body
                    .split_once('=')
                    .unwrap_or_else(|| panic!("no value: {l:?}"));
                // absl takes quotes literally: a quoted value would be a different value.
                assert!(!value.contains(['"', '\'']), "quoted: {l:?}");
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    #[test]
    fn rendered_flagfiles_use_only_listed_flags_and_respect_dragonfly() {
        for env in Environment::ALL {
            for target in [Target::Local, Target::Host, Target::Docker] {
                let files = render(env, target);
                let text = &files[FLAGS_FILE];
                assert!(!text.contains('\r'), "{env}/{target}");
                let flags = flags_of(text);
                let get = |n: &str| flags.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
                let mut seen = BTreeSet::new();
                for (name, _) in &flags {
                    assert!(
                        FLAGS.contains(&name.as_str()) || HELIO_FLAGS.contains(&name.as_str()),
                        "{env}/{target}: --{name} is not in dragonfly::FLAGS"
                    );
                    assert!(seen.insert(name.clone()), "{env}/{target}: --{name} twice");
                }
                assert_eq!(get("primary_port_http_enabled"), Some("false"));
                assert_eq!(get("admin_port"), Some("0"));
                assert_eq!(get("admin_nopass"), Some("false"));
                assert_eq!(get("memcached_port"), Some("0"));
                assert_eq!(get("version_check"), Some("false"));
                assert_eq!(get("requirepass"), None);
                assert_eq!(get("unixsocket"), None);
                assert!(get("bind").is_some_and(|b| !b.is_empty() && !b.contains(' ')));
                let dbfilename = get("dbfilename").unwrap();
                assert!(!dbfilename.is_empty() && !dbfilename.contains('/'));
                assert!(get("dir").is_some_and(|d| d.starts_with('/')));
                let maxmemory: u64 = get("maxmemory").unwrap().parse().unwrap();
                let threads: u64 = get("proactor_threads").unwrap().parse().unwrap();
                assert!(maxmemory >= threads * MEMORY_PER_THREAD);
                let tls_flags: Vec<_> =
                    flags.iter().filter(|(k, _)| k.starts_with("tls")).collect();
                if env == Environment::Testing {
                    assert!(tls_flags.is_empty(), "{env}/{target}: {tls_flags:?}");
                } else {
                    assert_eq!(get("tls"), Some("true"));
                    assert_eq!(get("tls_replication"), Some("true"));
                    assert!(get("tls_ciphers").is_some_and(|c| c.starts_with("ECDHE-")));
                    assert!(get("tls_cipher_suites").is_some_and(|c| c.starts_with("TLS_")));
                    let required = profile::builtin(env).tls.client_auth == ClientAuth::Required;
                    assert_eq!(get("tls_ca_cert_file").is_some(), required, "{env}");
                }
            }
        }
    }

    /// The loader's rules (acl_family.cc `MaterializeFileContents`): LF lines, each
    /// `USER name` plus at least two rules, no comments; plus ours: passwords only as hashes.
    #[test]
    fn rendered_acl_files_follow_dragonflys_loader() {
        let extra = "acl.users=[{name: worker, keys: [\"jobs:*\"], commands: [\"+@read\", \"-@dangerous\"]}]";
        for env in Environment::ALL {
            let sets = vec!["engine=dragonfly".to_string(), extra.to_string()];
            let resolved = profile::resolve(env, None, &sets, std::path::Path::new("/x")).unwrap();
            assert_eq!(resolved.settings.engine, Engine::Dragonfly);
            let mut secrets = Secrets::default();
            secrets.ensure(&resolved.settings, &mut StdRng::seed_from_u64(7));
            let out_dir = ConfPath::parse("/srv/bundle").unwrap();
            let files = crate::render::render(
                &Templates::builtin().unwrap(),
                &crate::render::Input {
                    project: &resolved.project,
                    env,
                    profile: &resolved.settings,
                    secrets: &secrets,
                    target: Target::Host,
                    out_dir: &out_dir,
                },
            )
            .unwrap();
            let acl = &files[ACL_FILE].content;
            assert!(!acl.contains('\r'));
            let lines: Vec<Vec<&str>> = acl.lines().map(|l| l.split(' ').collect()).collect();
            let names: Vec<&str> = lines.iter().map(|t| t[1]).collect();
            assert_eq!(names, ["default", "app", "monitoring", "admin", "worker"]);
            for tokens in &lines {
                assert_eq!(tokens[0], "USER", "{tokens:?}");
                assert!(tokens.len() >= 4, "{tokens:?}");
                assert!(tokens.iter().all(|t| !t.is_empty() && !t.starts_with('(')));
                assert!(!tokens.iter().any(|t| t.starts_with('>') || *t == "nopass"));
                if tokens[1] != "default" {
                    let hashes: Vec<_> = tokens.iter().filter(|t| t.starts_with('#')).collect();
                    assert_eq!(hashes.len(), 1, "{tokens:?}");
                    assert_eq!(hashes[0].len(), 65);
                }
            }
            assert_eq!(&lines[0][..3], ["USER", "default", "off"]);
            assert!(lines[0].contains(&"resetpass") && lines[0].contains(&"-@all"));
            // The same hash as users.acl: one password per user, whichever engine runs.
            let redis_app = files[crate::render::USERS_ACL]
                .content
                .lines()
                .nth(1)
                .unwrap();
            let hash = lines[1].iter().find(|t| t.starts_with('#')).unwrap();
            assert!(redis_app.contains(hash));
            assert!(
                crate::policy::check(
                    ACL_FILE,
                    acl,
                    &crate::policy::Policy::for_env(env, false, true)
                )
                .is_empty()
            );
        }
    }

    fn with(sets: &[&str]) -> Result<(), String> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        profile::resolve(
            Environment::Production,
            None,
            &sets,
            std::path::Path::new("/x"),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    #[test]
    fn profile_rules_refuse_what_dragonfly_cannot_run() {
        with(&["engine=dragonfly"]).unwrap();
        with(&[
            "engine=dragonfly",
            "dragonfly.threads=4",
            "redis.maxmemory=1gb",
        ])
        .unwrap();
        let err = with(&["engine=dragonfly", "dragonfly.threads=2"]).unwrap_err();
        assert!(
            err.contains("dragonfly.threads") && err.contains("512 MiB"),
            "{err}"
        );
        let err = with(&["engine=dragonfly", "redis.maxmemory=100mb"]).unwrap_err();
        assert!(err.contains("redis.maxmemory"), "{err}");
        let err = with(&["engine=dragonfly", "redis.bind=[10.0.0.5, 127.0.0.1]"]).unwrap_err();
        assert!(
            err.contains("redis.bind") && err.contains("one address"),
            "{err}"
        );
        with(&["engine=dragonfly", "redis.bind=[10.0.0.5, -::1]"]).unwrap();
        let err = with(&["engine=dragonfly", "redis.maxmemory_policy=volatile-lru"]).unwrap_err();
        assert!(err.contains("redis.maxmemory_policy"), "{err}");
        let err = with(&[
            "engine=dragonfly",
            "acl.users=[{name: w, commands: [\"+@read\", \"+client|setname\"]}]",
        ])
        .unwrap_err();
        assert!(err.contains("acl.users[0].commands"), "{err}");
        // Redis has none of these limits.
        with(&["dragonfly.threads=2", "redis.bind=[10.0.0.5, 127.0.0.1]"]).unwrap();
    }
}
