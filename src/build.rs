//! Stages two to four: secrets and PKI, then rendering, all in memory. Reads what exists in
//! the bundle (through [`Prepared::read`], so `rotate`'s pending changes are seen), creates
//! what is missing (init only) and renders every file. Nothing here writes.

use std::collections::BTreeMap;
use std::path::Path;

use rand::CryptoRng;

use crate::bundle::File;
use crate::error::Error;
use crate::inputs::{Prepared, Runtime};
use crate::masterkey::Stretched;
use crate::pki::{self, CertInfo};
use crate::profile::{self, Environment};
use crate::render::{self, Target};
use crate::secrets::{self, Secrets};

/// `init` creates what is missing; `render` and `check` only ever read secrets and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Init,
    Render,
    Check,
}

/// The in-memory bundle: every file, plus what the summary says about some of them.
pub struct Built {
    pub files: Vec<File>,
    /// Paths of the files rendered from templates (the rest are keys, certificates, secrets).
    pub rendered: Vec<String>,
    pub notes: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// Key and certificate files that are missing (only `check` gets this far without them).
    pub missing: Vec<String>,
    /// `check` of a bundle without secrets.env (checked into git, secrets kept elsewhere):
    /// files that hold secrets are not required. Without a master key they were rendered
    /// from throwaway values and are not compared either.
    pub secretless: bool,
    /// Secrets come from the master key.
    pub derived: bool,
    /// `check` only: secrets the profile needs that secrets.env lacks (files that hold
    /// secrets were then rendered from throwaway values and are not compared).
    pub missing_secrets: Vec<String>,
}

/// The shared key and certificate files of `p`'s bundle, in pairs (certificate, key): the
/// CA's, the server's when the bundle has one ([`crate::topology::layout::has_server_pair`])
/// and the application's client pair.
fn pki_files(p: &Prepared) -> Vec<&'static str> {
    let mut out = vec![pki::CA_CERT, pki::CA_KEY];
    if has_server_pair(p) {
        out.extend([pki::SERVER_CERT, pki::SERVER_KEY]);
    }
    out.extend([pki::CLIENT_CERT, pki::CLIENT_KEY]);
    out
}

fn has_server_pair(p: &Prepared) -> bool {
    crate::topology::layout::has_server_pair(&p.resolved.settings, p.target)
}

fn run_init(p: &Prepared, rel: &str, what: &str) -> Error {
    let target = if p.target == Target::Local {
        String::new()
    } else {
        format!(" --target {}", p.target)
    };
    Error::State {
        path: p.out_abs.join(rel),
        reason: format!("{what} is missing"),
        help: format!(
            "run `redis-harden init --env {} --out {}{target}` (with the same --profile and --set) first: \
             render and check never create secrets or keys",
            p.resolved.env,
            crate::values::visible(&p.out_shown.display().to_string())
        ),
    }
}

/// Reads what exists, generates what is missing (init only), renders everything.
pub fn build<R: CryptoRng + ?Sized>(
    p: &Prepared,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
) -> Result<Built, Error> {
    let mut built = Built {
        files: vec![],
        rendered: vec![],
        notes: vec![],
        warnings: vec![],
        missing: vec![],
        secretless: false,
        derived: p.master.is_some(),
        missing_secrets: vec![],
    };
    let secrets = load_secrets(p, mode, rt, &mut built)?;
    pki_stage(p, mode, rt, &mut built)?;
    crate::topology::certs::stage(p, mode, rt, &mut built)?;
    let rendered = render::render(
        &p.templates,
        &render::Input {
            project: &p.resolved.project,
            env: p.resolved.env,
            profile: &p.resolved.settings,
            secrets: &secrets,
            target: p.target,
            out_dir: &p.out_conf,
        },
    )?;
    let rendered = kubernetes_stage(p, &secrets, &built, rendered)?;
    let header = render::secrets_header(&p.resolved.project, p.resolved.env);
    built.files.push(File::secret(
        render::SECRETS_ENV,
        secrets.to_file(&header).into_bytes(),
    ));
    for (rel, file) in rendered {
        built.files.push(File {
            secret: file.secret,
            ..File::public(&rel, file.content.into_bytes(), file.mode)
        });
        built.rendered.push(rel);
    }
    crate::topology::sentinel::keep_rewrites(p, &mut built)?;
    Ok(built)
}

/// `--target kubernetes`: the manifests, which carry the rendered configs and the PKI.
fn kubernetes_stage(
    p: &Prepared,
    secrets: &Secrets,
    built: &Built,
    mut rendered: render::Rendered,
) -> Result<render::Rendered, Error> {
    if p.target != Target::Kubernetes {
        return Ok(rendered);
    }
    let pem = |rel: &str| {
        built
            .files
            .iter()
            .find(|f| f.rel == rel)
            .and_then(|f| std::str::from_utf8(&f.content).ok())
    };
    let tls = match (
        pem(pki::CA_CERT),
        pem(pki::SERVER_CERT),
        pem(pki::SERVER_KEY),
    ) {
        (Some(ca_cert), Some(cert), Some(key)) => {
            Some(crate::kubernetes::TlsPems { ca_cert, cert, key })
        }
        _ => None,
    };
    let manifests = crate::kubernetes::render(
        &p.templates,
        &crate::kubernetes::Input {
            project: &p.resolved.project,
            env: p.resolved.env,
            profile: &p.resolved.settings,
            secrets,
            rendered: &rendered,
            tls,
        },
    )?;
    rendered.extend(manifests);
    Ok(rendered)
}

/// Secrets: from secrets.env, adopted from the master key, or made (init only).
fn load_secrets<R: CryptoRng + ?Sized>(
    p: &Prepared,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    built: &mut Built,
) -> Result<Secrets, Error> {
    let profile = &p.resolved.settings;
    let stored = p.read(render::SECRETS_ENV)?;
    let had_secrets_file = stored.is_some();
    // A checked-in bundle has no secrets.env and no private keys. One with keys but without
    // secrets.env has lost its secrets: that is checked as a finding, not waved through.
    let mut any_key = false;
    for k in pki_files(p).into_iter().filter(|r| r.ends_with(".key")) {
        any_key |= p.read(k)?.is_some();
    }
    built.secretless = stored.is_none() && !any_key && mode == Mode::Check;
    let mut secrets = match stored {
        Some(text) => Secrets::parse(&text).map_err(|reason| Error::State {
            path: p.out_abs.join(render::SECRETS_ENV),
            reason,
            help: "fix the line named above; redis-harden will not overwrite a secrets file it cannot read".into(),
        })?,
        None => Secrets::default(),
    };
    if let Some(master) = &p.master {
        adopt(p, master, &mut secrets)?;
        built.notes.push((
            render::SECRETS_ENV.into(),
            "derived from the master key".into(),
        ));
    } else if built.secretless {
        // A checked-in bundle without secrets: throwaway values let the non-secret files be
        // rendered and compared; files that hold secrets are not checked.
        secrets.ensure(profile, rt.rng);
    } else {
        let lacking = secrets.missing(profile);
        if mode == Mode::Render
            && let Some(var) = lacking.first()
        {
            return Err(run_init(p, render::SECRETS_ENV, var));
        }
        if mode == Mode::Init {
            guard_lost_secrets(p, had_secrets_file, any_key, &secrets)?;
        }
        if mode == Mode::Check {
            // Reported as findings; throwaway values below only let the rest be rendered.
            built.missing_secrets = lacking;
        }
        let ensured = secrets.ensure(profile, rt.rng);
        for (var, len) in &ensured.short {
            built.warnings.push(format!(
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
    built.notes.push((
        render::SECRETS_ENV.to_string(),
        format!(
            "{} passwords (at least {shortest} chars, {:.0} bits) + Fernet key (256 bits)",
            users.len(),
            secrets::entropy_bits(shortest)
        ),
    ));
    Ok(secrets)
}

fn adopt(p: &Prepared, master: &Stretched, secrets: &mut Secrets) -> Result<(), Error> {
    let derived = derived_secrets(master, p.resolved.env, &p.resolved.settings);
    secrets.adopt(derived).map_err(|conflicts| Error::State {
        path: p.out_abs.join(render::SECRETS_ENV),
        reason: format!(
            "holds {} that differ{} from what the master key derives",
            conflicts.join(", "),
            if conflicts.len() == 1 { "s" } else { "" }
        ),
        help: "redis-harden never overwrites a secret: if the master key or a generation changed on purpose, \
               remove those lines from secrets.env and run again; otherwise use the master key this bundle was made with"
            .into(),
    })?;
    Ok(())
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

/// The CA, server and client certificates and keys: read, or issued where missing (init).
fn pki_stage<R: CryptoRng + ?Sized>(
    p: &Prepared,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    built: &mut Built,
) -> Result<(), Error> {
    let rels = pki_files(p);
    let mut on_disk = Vec::new();
    for rel in &rels {
        on_disk.push(p.read(rel)?);
    }
    let missing: Vec<String> = rels
        .iter()
        .zip(&on_disk)
        .filter(|(_, c)| c.is_none())
        .map(|(r, _)| (*r).to_owned())
        .collect();
    if mode == Mode::Render
        && let Some(rel) = missing.first()
    {
        return Err(run_init(p, rel, rel));
    }
    if mode != Mode::Init {
        built.missing = missing.clone();
    }
    if mode != Mode::Init && !missing.is_empty() {
        return Ok(());
    }
    let mut it = on_disk.into_iter();
    let mut pair = || (it.next().flatten(), it.next().flatten());
    let server = has_server_pair(p);
    let existing = pki::Existing {
        ca: pair(),
        server: if server { pair() } else { (None, None) },
        client: pair(),
    };
    let (extra_names, extra_ips) = crate::kubernetes::extra_sans(&p.resolved.settings, p.target);
    let subject = pki::Subject {
        project: &p.resolved.project,
        env: p.resolved.env,
        tls: &p.resolved.settings.tls,
        client_name: "app",
        server,
        extra_names,
        extra_ips,
    };
    let pki = pki::ensure(&existing, &subject, rt.now, rt.rng).map_err(|e| Error::State {
        path: p.out_abs.join(e.file),
        reason: e.reason,
        help: e.help,
    })?;
    let pairs = [
        (pki::CA_CERT, pki::CA_KEY, Some(&pki.ca)),
        (pki::SERVER_CERT, pki::SERVER_KEY, pki.server.as_ref()),
        (pki::CLIENT_CERT, pki::CLIENT_KEY, Some(&pki.client)),
    ];
    let pairs = pairs
        .iter()
        .filter_map(|(c, k, pair)| pair.map(|pair| (*c, *k, pair)));
    for (rel, _, pair) in pairs.clone() {
        cert_notes(p, rel, &pair.cert_pem, rt.now, built)?;
    }
    let files = pairs
        .flat_map(|(cert, key, pair)| [(cert, &pair.cert_pem, false), (key, &pair.key_pem, true)]);
    for (rel, pem, secret) in files {
        let bytes = pem.as_bytes().to_vec();
        let file = if secret {
            File::secret(rel, bytes)
        } else {
            File::public(rel, bytes, 0o644)
        };
        built.files.push(File {
            create_only: true,
            ..file
        });
    }
    Ok(())
}

/// The expiry note of a certificate, and a warning when the server's misses a name.
fn cert_notes(
    p: &Prepared,
    rel: &str,
    pem: &str,
    now: time::OffsetDateTime,
    built: &mut Built,
) -> Result<(), Error> {
    let info = CertInfo::parse(pem).map_err(|reason| Error::State {
        path: p.out_abs.join(rel),
        reason,
        help: "restore it from a backup".into(),
    })?;
    // Rounded: certificates have whole-second validity, `now` does not.
    let days = ((info.not_after - now).whole_seconds() + 43_200).div_euclid(86_400);
    built.notes.push((
        rel.to_string(),
        format!("expires {} ({days} days)", info.not_after.date()),
    ));
    if rel == pki::SERVER_CERT {
        let mut missing_names = uncovered_names(&p.resolved.settings, &info);
        // A bundle moved to --target kubernetes keeps its certificate: say what it lacks.
        let (names, ips) = crate::kubernetes::extra_sans(&p.resolved.settings, p.target);
        missing_names.extend(names.into_iter().filter(|n| !info.dns_names.contains(n)));
        missing_names.extend(
            ips.iter()
                .filter(|ip| !info.ips.contains(ip))
                .map(ToString::to_string),
        );
        if !missing_names.is_empty() {
            built.warnings.push(format!(
                "the existing {rel} does not cover {}: clients using those names will fail verification \
                 (move tls/server.crt and tls/server.key away and run init again to issue a new one)",
                missing_names.join(", ")
            ));
        }
    }
    Ok(())
}

/// init on a bundle whose secrets are gone would make new ones and overwrite client.env, the
/// only other copy of the encryption key: data encrypted with it would be lost for good.
fn guard_lost_secrets(
    p: &Prepared,
    had_secrets_file: bool,
    any_key: bool,
    secrets: &Secrets,
) -> Result<(), Error> {
    let out_abs: &Path = &p.out_abs;
    let client_env = p.read(render::CLIENT_ENV)?;
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
