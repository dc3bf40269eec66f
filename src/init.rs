//! `redis-harden init`: resolve the profile, reuse or create secrets and certificates, render
//! every file, then write them all or nothing. Everything is decided and rendered in memory
//! before the first byte is written, so bad input never leaves a half-written bundle.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::CryptoRng;
use time::OffsetDateTime;

use std::collections::BTreeMap;

use crate::error::Error;
use crate::masterkey::{self, MasterKey, Stretched};
use crate::pki::{self, CertInfo};
use crate::policy;
use crate::profile::{self, Environment, Resolved};
use crate::render::{self, Target};
use crate::secrets::{self, Secrets};
use crate::templates::Templates;
use crate::values::ConfPath;
use crate::writer::{self, Action, FileSpec};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub env: Environment,
    pub out: Option<PathBuf>,
    pub profile: Option<PathBuf>,
    pub sets: Vec<String>,
    pub target: Target,
    /// A team template directory; overrides `templates:` in the profile file.
    pub templates: Option<PathBuf>,
    /// Policy rules accepted on purpose (`--allow-insecure RULE`).
    pub allow_insecure: Vec<String>,
    /// Derive secrets from the master key in this file (else from REDIS_HARDEN_MASTER_KEY).
    pub master_key_file: Option<PathBuf>,
}

/// `init` creates what is missing; `render` and `check` only ever read secrets and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Init,
    Render,
    Check,
}

/// The world outside the arguments: injected so tests are deterministic.
pub struct Runtime<'a, R: CryptoRng + ?Sized> {
    pub cwd: &'a Path,
    pub now: OffsetDateTime,
    pub rng: &'a mut R,
}

/// The default output directory for `env`.
pub fn default_out(env: Environment) -> PathBuf {
    Path::new("deploy").join(env.name())
}

/// Resolves `--out` (or the default) to an absolute path that is safe to write into configs.
pub fn out_dir(
    out: Option<&Path>,
    env: Environment,
    cwd: &Path,
) -> Result<(PathBuf, ConfPath), Error> {
    let rel = out.map_or_else(|| default_out(env), Path::to_path_buf);
    let abs = normalize(&if rel.is_absolute() {
        rel.clone()
    } else {
        cwd.join(&rel)
    });
    let shown = crate::values::visible(&rel.display().to_string());
    let conf = ConfPath::from_path(&abs).map_err(|e| Error::Usage {
        message: format!("--out {shown}: {e}"),
        help: "the path is written into redis.conf and, unquoted, into client.env: use letters, digits and / . _ - + , : @ =".into(),
    })?;
    if abs.exists() && !abs.is_dir() {
        return Err(Error::Usage {
            message: format!("--out {shown}: exists and is not a directory"),
            help: "choose a directory with --out".into(),
        });
    }
    Ok((abs, conf))
}

/// Removes `.` and resolves `..` lexically, so `out`, `./out` and `x/../out` are one
/// directory and render the same paths into redis.conf.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Resolves the profile, output directory, templates and accepted rules of a run.
pub fn prepare(opts: &Options, cwd: &Path) -> Result<Prepared, Error> {
    for id in &opts.allow_insecure {
        if policy::rule(id).is_none() {
            let ids: Vec<&str> = policy::RULES
                .iter()
                .filter(|r| policy::rule(r.id).is_some())
                .map(|r| r.id)
                .collect();
            return Err(Error::Usage {
                message: format!(
                    "--allow-insecure {}: no such rule",
                    crate::values::visible(id)
                ),
                help: format!("rules: {}", ids.join(", ")),
            });
        }
    }
    let resolved = profile::resolve(opts.env, opts.profile.as_deref(), &opts.sets, cwd)?;
    let (out_abs, out_conf) = out_dir(opts.out.as_deref(), opts.env, cwd)?;
    let template_dir = opts
        .templates
        .as_ref()
        .map(|d| cwd.join(d))
        .or_else(|| resolved.templates.clone());
    let templates = Templates::load(template_dir.as_deref())?;
    let key = match &opts.master_key_file {
        Some(file) => Some(MasterKey::from_file(&cwd.join(file))),
        None => MasterKey::from_env().transpose(),
    };
    let master = match key {
        None => None,
        Some(key) => {
            let key_error = |e: masterkey::MasterKeyError| Error::Usage {
                help: e.help(),
                message: e.to_string(),
            };
            // Deliberately slow (Argon2id, 64 MiB): done once per run, only in this mode.
            Some(
                key.map_err(key_error)?
                    .stretch(&resolved.project)
                    .map_err(key_error)?,
            )
        }
    };
    Ok(Prepared {
        out_shown: opts.out.clone().unwrap_or_else(|| default_out(opts.env)),
        resolved,
        out_abs,
        out_conf,
        templates,
        master,
    })
}

/// Every secret `profile` needs, derived from the stretched master key.
fn derived_secrets(
    master: &Stretched,
    env: Environment,
    profile: &profile::EnvProfile,
) -> BTreeMap<String, String> {
    let s = &profile.secrets;
    let len = s.password_length as usize;
    let mut out = BTreeMap::new();
    for user in profile.password_users() {
        let value = master.password(env, &user, s.generation(user.as_str()), len);
        out.insert(user.password_var(), value);
    }
    if profile.engine == profile::Engine::Dragonfly {
        let value = master.requirepass(env, s.generation("dragonfly_requirepass"), len);
        out.insert(secrets::DRAGONFLY_REQUIREPASS_VAR.to_owned(), value);
    }
    out.insert(
        secrets::ENCRYPTION_KEY_VAR.to_owned(),
        master.fernet_key(env, s.generation("encryption_key")),
    );
    out
}

/// A run's inputs, resolved and validated.
pub struct Prepared {
    pub resolved: Resolved,
    pub out_abs: PathBuf,
    pub out_conf: ConfPath,
    /// The output directory as the user wrote it, for messages.
    pub out_shown: PathBuf,
    pub templates: Templates,
    /// The master key, stretched, when secrets are derived rather than drawn at random.
    pub master: Option<Stretched>,
}

/// `init` (mode Init) and `render` (mode Render): build in memory, gate, then write; the
/// summary is printed as text.
pub fn run<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    execute(opts, mode, rt, stderr)?
        .print(crate::summary::Format::Text, stdout)
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })
}

/// `init` or `render`, returning the summary for the caller to print.
pub fn execute<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stderr: &mut dyn Write,
) -> Result<crate::summary::Summary, Error> {
    let prepared = prepare(opts, rt.cwd)?;
    let (resolved, out_abs) = (&prepared.resolved, &prepared.out_abs);
    let mut bundle = build(&prepared, opts.target, mode, rt)?;
    gate(&mut bundle, resolved, opts, stderr)?;
    if mode == Mode::Render {
        // render never touches a secret or a key, even to re-write identical bytes.
        bundle.files.retain(|f| bundle.rendered.contains(&f.rel));
    }

    let dirs: &[(&str, u32)] = match opts.target {
        Target::Local => &[(render::DATA_DIR, 0o700), ("tls", 0o750)],
        Target::Host | Target::Docker => &[("tls", 0o750)],
    };
    let outcomes = writer::write_all(out_abs, dirs, bundle.files)?;

    for w in &bundle.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    let mut summary = summary(
        resolved,
        opts.target,
        &prepared.out_shown,
        &outcomes,
        &bundle.notes,
    );
    summary.command = match mode {
        Mode::Render => "render",
        _ => "init",
    }
    .into();
    Ok(summary)
}

/// The in-memory bundle: every file, plus what the summary says about some of them.
pub struct Bundle {
    pub files: Vec<FileSpec>,
    /// Paths of the files rendered from templates (the rest are keys, certificates, secrets).
    pub rendered: Vec<String>,
    pub notes: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// Key and certificate files that are missing (only `check` gets this far without them).
    pub missing: Vec<&'static str>,
    /// `check` of a bundle without secrets.env (checked into git, secrets kept elsewhere):
    /// files that hold secrets (mode 0600) are not required. Without a master key they were
    /// rendered from throwaway values and are not compared either.
    pub secretless: bool,
    /// Secrets come from the master key.
    pub derived: bool,
    /// `check` only: secrets the profile needs that secrets.env lacks (files that hold
    /// secrets were then rendered from throwaway values and are not compared).
    pub missing_secrets: Vec<String>,
}

fn read_optional(dir: &Path, rel: &str) -> Result<Option<String>, Error> {
    let path = dir.join(rel);
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::State {
                path,
                reason: "is not UTF-8 text".into(),
                help: "restore it from a backup".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
        Err(source) => Err(Error::Write { path, source }),
    }
}

fn run_init(env: Environment, out: &Path, target: Target, rel: &str, what: &str) -> Error {
    let target = if target == Target::Local {
        String::new()
    } else {
        format!(" --target {target}")
    };
    Error::State {
        path: rel.into(),
        reason: format!("{what} is missing"),
        help: format!(
            "run `redis-harden init --env {env} --out {}{target}` (with the same --profile and --set) first: \
             render and check never create secrets or keys",
            crate::values::visible(&out.display().to_string())
        ),
    }
}

/// Reads what exists in the output directory, generates what is missing (init only), and
/// renders everything in memory.
pub fn build<R: CryptoRng + ?Sized>(
    prepared: &Prepared,
    target: Target,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
) -> Result<Bundle, Error> {
    let (resolved, out_abs) = (&prepared.resolved, prepared.out_abs.as_path());
    let profile = &resolved.settings;
    let env = resolved.env;
    let mut warnings = vec![];
    let mut notes = vec![];

    let stored = read_optional(out_abs, render::SECRETS_ENV)?;
    let had_secrets_file = stored.is_some();
    let mut missing_secrets = vec![];
    // A checked-in bundle has no secrets.env and no private keys. One with keys but without
    // secrets.env has lost its secrets: that is checked as a finding, not waved through.
    let any_key = [pki::CA_KEY, pki::SERVER_KEY, pki::CLIENT_KEY]
        .iter()
        .any(|k| out_abs.join(k).exists());
    let secretless = stored.is_none() && !any_key && mode == Mode::Check;
    let mut secrets = match stored {
        Some(text) => Secrets::parse(&text).map_err(|reason| Error::State {
            path: out_abs.join(render::SECRETS_ENV),
            reason,
            help: "fix the line named above; redis-harden will not overwrite a secrets file it cannot read".into(),
        })?,
        None => Secrets::default(),
    };
    if let Some(master) = &prepared.master {
        secrets.adopt(derived_secrets(master, env, profile)).map_err(|conflicts| Error::State {
            path: out_abs.join(render::SECRETS_ENV),
            reason: format!(
                "holds {} that differ{} from what the master key derives",
                conflicts.join(", "),
                if conflicts.len() == 1 { "s" } else { "" }
            ),
            help: "redis-harden never overwrites a secret: if the master key or a generation changed on purpose, \
                   remove those lines from secrets.env and run again; otherwise use the master key this bundle was made with"
                .into(),
        })?;
        notes.push((
            render::SECRETS_ENV.to_string(),
            "derived from the master key".to_string(),
        ));
    } else if secretless {
        // (Without a master key.)
        // A checked-in bundle without secrets: throwaway values let the non-secret files be
        // rendered and compared; files that hold secrets are not checked.
        secrets.ensure(profile, rt.rng);
    } else {
        let lacking = secrets.missing(profile);
        if mode == Mode::Render
            && let Some(var) = lacking.first()
        {
            return Err(run_init(
                env,
                &prepared.out_shown,
                target,
                &out_abs.join(render::SECRETS_ENV).display().to_string(),
                var,
            ));
        }
        if mode == Mode::Init {
            guard_lost_secrets(out_abs, had_secrets_file, any_key, &secrets)?;
        }
        if mode == Mode::Check {
            // Reported as findings; throwaway values below only let the rest be rendered.
            missing_secrets = lacking;
        }
        let ensured = secrets.ensure(profile, rt.rng);
        for (var, len) in &ensured.short {
            warnings.push(format!(
                "{var} is kept at {len} characters, shorter than this profile's {} (redis-harden never replaces a secret)",
                profile.secrets.password_length
            ));
        }
    }
    let users = profile.password_users();
    let shortest = users
        .iter()
        .filter_map(|u| secrets.password(u))
        .map(str::len)
        .min()
        .unwrap_or(profile.secrets.password_length as usize);
    notes.push((
        render::SECRETS_ENV.to_string(),
        format!(
            "{} passwords (at least {shortest} chars, {:.0} bits) + Fernet key (256 bits)",
            users.len(),
            secrets::entropy_bits(shortest)
        ),
    ));

    let pki_files = [
        pki::CA_CERT,
        pki::CA_KEY,
        pki::SERVER_CERT,
        pki::SERVER_KEY,
        pki::CLIENT_CERT,
        pki::CLIENT_KEY,
    ];
    let mut on_disk = Vec::new();
    for rel in pki_files {
        on_disk.push(read_optional(out_abs, rel)?);
    }
    let missing: Vec<&'static str> = pki_files
        .iter()
        .zip(&on_disk)
        .filter(|(_, c)| c.is_none())
        .map(|(r, _)| *r)
        .collect();
    if mode == Mode::Render
        && let Some(rel) = missing.first()
    {
        return Err(run_init(
            env,
            &prepared.out_shown,
            target,
            &out_abs.join(rel).display().to_string(),
            rel,
        ));
    }
    let mut files = vec![];
    let mut add = |rel: &str, content: &str, mode: u32, create_only: bool| {
        files.push(FileSpec {
            rel: rel.to_owned(),
            content: content.as_bytes().to_vec(),
            mode,
            create_only,
        });
    };
    if mode == Mode::Init || missing.is_empty() {
        let mut it = on_disk.into_iter();
        let mut pair = || (it.next().flatten(), it.next().flatten());
        let existing = pki::Existing {
            ca: pair(),
            server: pair(),
            client: pair(),
        };
        let subject = pki::Subject {
            project: &resolved.project,
            env,
            tls: &profile.tls,
            client_name: "app",
        };
        let pki = pki::ensure(&existing, &subject, rt.now, rt.rng).map_err(|e| Error::State {
            path: out_abs.join(e.file),
            reason: e.reason,
            help: e.help,
        })?;
        for (rel, pem) in [
            (pki::CA_CERT, &pki.ca.cert_pem),
            (pki::SERVER_CERT, &pki.server.cert_pem),
            (pki::CLIENT_CERT, &pki.client.cert_pem),
        ] {
            let info = CertInfo::parse(pem).map_err(|reason| Error::State {
                path: out_abs.join(rel),
                reason,
                help: "restore it from a backup".into(),
            })?;
            // Rounded: certificates have whole-second validity, `now` does not.
            let days = ((info.not_after - rt.now).whole_seconds() + 43_200).div_euclid(86_400);
            notes.push((
                rel.to_string(),
                format!("expires {} ({days} days)", info.not_after.date()),
            ));
            if rel == pki::SERVER_CERT {
                let missing_names = uncovered_names(profile, &info);
                if !missing_names.is_empty() {
                    warnings.push(format!(
                        "the existing {rel} does not cover {}: clients using those names will fail verification \
                         (move tls/server.crt and tls/server.key away and run init again to issue a new one)",
                        missing_names.join(", ")
                    ));
                }
            }
        }
        add(pki::CA_CERT, &pki.ca.cert_pem, 0o644, true);
        add(pki::CA_KEY, &pki.ca.key_pem, 0o600, true);
        add(pki::SERVER_CERT, &pki.server.cert_pem, 0o644, true);
        add(pki::SERVER_KEY, &pki.server.key_pem, 0o600, true);
        add(pki::CLIENT_CERT, &pki.client.cert_pem, 0o644, true);
        add(pki::CLIENT_KEY, &pki.client.key_pem, 0o600, true);
    }

    let rendered = render::render(
        &prepared.templates,
        &render::Input {
            project: &resolved.project,
            env,
            profile,
            secrets: &secrets,
            target,
            out_dir: &prepared.out_conf,
        },
    )?;
    add(
        render::SECRETS_ENV,
        &secrets.to_file(&render::secrets_header(&resolved.project, env)),
        0o600,
        false,
    );
    for (rel, file) in &rendered {
        add(rel, &file.content, file.mode, false);
    }
    Ok(Bundle {
        files,
        rendered: rendered.keys().map(|k| (*k).to_owned()).collect(),
        notes,
        warnings,
        missing: if mode == Mode::Init { vec![] } else { missing },
        secretless,
        derived: prepared.master.is_some(),
        missing_secrets,
    })
}

/// init on a bundle whose secrets are gone would make new ones and overwrite client.env, the
/// only other copy of the encryption key: data encrypted with it would be lost for good.
fn guard_lost_secrets(
    out_abs: &Path,
    had_secrets_file: bool,
    any_key: bool,
    secrets: &Secrets,
) -> Result<(), Error> {
    let client_env = read_optional(out_abs, render::CLIENT_ENV)?;
    let client_has_key = client_env.as_deref().is_some_and(|t| {
        t.lines()
            .any(|l| l.starts_with(&format!("{}=", secrets::ENCRYPTION_KEY_VAR)))
    });
    let help = "restore secrets.env from a backup (client.env holds the app password and the encryption key); \
                to start a new deployment instead, move this directory away"
        .to_string();
    if !had_secrets_file && (any_key || client_env.is_some()) {
        return Err(Error::State {
            path: out_abs.join(render::SECRETS_ENV),
            reason: "is missing, but this bundle has keys or a client.env: new secrets would lock clients out \
                     and replace the encryption key, making encrypted data unreadable"
                .into(),
            help,
        });
    }
    if secrets.encryption_key().is_none() && client_has_key {
        return Err(Error::State {
            path: out_abs.join(render::SECRETS_ENV),
            reason: format!(
                "lacks {}, but client.env still has one: a new key would make data encrypted with the old one unreadable",
                secrets::ENCRYPTION_KEY_VAR
            ),
            help: format!(
                "copy the {} line from client.env back into secrets.env; to change the key, use `redis-harden rotate encryption-key`",
                secrets::ENCRYPTION_KEY_VAR
            ),
        });
    }
    Ok(())
}

fn uncovered_names(profile: &profile::EnvProfile, info: &CertInfo) -> Vec<String> {
    pki::server_dns_names(&profile.tls)
        .iter()
        .map(ToString::to_string)
        .filter(|n| !info.dns_names.contains(n))
        .chain(
            pki::server_ips(&profile.tls)
                .iter()
                .filter(|ip| !info.ips.contains(ip))
                .map(ToString::to_string),
        )
        .collect()
}

/// The policy gate: every rendered file is checked against the environment's policy. A
/// violation stops the run; a rule accepted with --allow-insecure is let through with a loud
/// comment in the output and a warning on every run.
pub fn gate(
    bundle: &mut Bundle,
    resolved: &Resolved,
    opts: &Options,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let (accepted, refused) = judge(bundle, resolved, opts);
    if !refused.is_empty() {
        return Err(Error::Policy { findings: refused });
    }
    accept(bundle, &accepted, stderr);
    for f in advisories(bundle, resolved, opts) {
        let _ = writeln!(stderr, "note: {f} (fix: {})", f.fix);
    }
    Ok(())
}

/// Low-severity findings: worth saying, not worth refusing (e.g. rename-command in a team
/// template, which is weaker than ACLs but not a hole).
pub fn advisories(bundle: &Bundle, resolved: &Resolved, opts: &Options) -> Vec<policy::Finding> {
    policy_findings(bundle, resolved, opts.target)
        .into_iter()
        .filter(|f| {
            f.severity == policy::Severity::Low
                && !opts.allow_insecure.iter().any(|id| id == f.rule)
        })
        .collect()
}

/// Policy findings of a bundle, split into those accepted with --allow-insecure and the rest.
pub fn judge(
    bundle: &Bundle,
    resolved: &Resolved,
    opts: &Options,
) -> (Vec<policy::Finding>, Vec<policy::Finding>) {
    policy_findings(bundle, resolved, opts.target)
        .into_iter()
        .filter(|f| f.severity > policy::Severity::Low)
        .partition(|f| opts.allow_insecure.iter().any(|id| id == f.rule))
}

/// Marks accepted findings: a warning now, and a loud comment in the output for every reader.
pub fn accept(bundle: &mut Bundle, accepted: &[policy::Finding], stderr: &mut dyn Write) {
    for f in accepted {
        // ACL lines carry password hashes; the comment lands in a file others may read.
        let text = f
            .text
            .split(' ')
            .map(|t| {
                if t.starts_with('#') && t.len() > 16 {
                    "#<hash>"
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let f = &policy::Finding { text, ..f.clone() };
        let _ = writeln!(
            stderr,
            "warning: INSECURE: policy rule {} accepted with --allow-insecure: {} ({})",
            f.rule, f.text, f.why
        );
        let loud = format!(
            "!!! INSECURE: policy rule \"{}\" accepted on purpose with --allow-insecure {}: {:?} in {}: {}",
            f.rule, f.rule, f.text, f.artifact, f.why
        );
        // ACL files take no comments: the notice goes into the config of the same server.
        let target = match policy::Kind::of(&f.artifact).comment() {
            Some(_) => f.artifact.clone(),
            None if f.artifact.starts_with("dragonfly") => "dragonfly.flags".to_owned(),
            None => render::REDIS_CONF.to_owned(),
        };
        if let Some(file) = bundle.files.iter_mut().find(|x| x.rel == target) {
            let mut content = format!("# {loud}\n").into_bytes();
            content.extend_from_slice(&file.content);
            file.content = content;
        }
    }
}

/// Whether firewall rules restrict who reaches the data port: some source is listed, and
/// none of them is "everyone" (a /0 network allows the whole address family).
fn firewalled(p: &profile::EnvProfile) -> bool {
    let f = &p.firewall;
    !f.app_cidrs.is_empty()
        && f.app_cidrs
            .iter()
            .chain(&f.monitoring_cidrs)
            .all(|c| c.net().prefix_len() > 0)
}

/// Policy findings for every rendered file of a bundle.
pub fn policy_findings(
    bundle: &Bundle,
    resolved: &Resolved,
    target: Target,
) -> Vec<policy::Finding> {
    let p = policy::Policy::for_env(
        resolved.env,
        firewalled(&resolved.settings),
        target == Target::Docker,
    )
    .for_server(resolved.settings.server_facts());
    bundle
        .files
        .iter()
        .filter(|f| bundle.rendered.contains(&f.rel))
        .flat_map(|f| policy::check(&f.rel, &String::from_utf8_lossy(&f.content), &p))
        .collect()
}

fn summary(
    resolved: &Resolved,
    target: Target,
    shown: &Path,
    outcomes: &[writer::Outcome],
    notes: &[(String, String)],
) -> crate::summary::Summary {
    let files = outcomes
        .iter()
        .map(|o| {
            let (action, mode_was) = match &o.action {
                Action::Created => ("created", None),
                Action::Updated => ("updated", None),
                Action::Unchanged => ("kept", None),
                Action::ModeFixed { from } => ("mode-fixed", Some(format!("{from:o}"))),
            };
            let note = notes
                .iter()
                .find(|(rel, _)| *rel == o.rel)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            crate::summary::File {
                path: o.rel.clone(),
                action,
                mode_was,
                note,
            }
        })
        .collect();
    let conf = shown.join(render::REDIS_CONF);
    let next = match target {
        Target::Local if resolved.settings.engine == profile::Engine::Dragonfly => format!(
            "set -a; . {}; set +a; dragonfly --flagfile {}",
            shown.join("server.env").display(),
            shown.join("dragonfly.flags").display()
        ),
        Target::Local => format!(
            "{} {}",
            resolved.settings.server_facts().server_program,
            conf.display()
        ),
        // Only what the server reads: ca.key and client.key never belong on the server.
        Target::Host => {
            let host = resolved.settings.server_facts().host_layout;
            format!(
                "install redis.conf as {dir}/{conf} and users.acl into {dir}/, and tls/ca.crt, tls/server.crt and \
                 tls/server.key into {dir}/tls/ (owner {user}, modes kept), then restart {service}",
                dir = host.config_dir,
                conf = host.conf_file,
                user = host.user,
                service = host.service,
            )
        }
        Target::Docker => {
            crate::compose::next_step(&resolved.settings, &resolved.project, resolved.env, shown)
        }
    };
    crate::summary::Summary {
        command: String::new(),
        environment: resolved.env.to_string(),
        project: resolved.project.as_str().to_owned(),
        out: shown.display().to_string(),
        target: target.to_string(),
        files,
        next: Some(next),
        notes: vec![],
        apply: None,
    }
}
