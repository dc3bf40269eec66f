//! `redis-harden init`: resolve the profile, reuse or create secrets and certificates, render
//! every file, then write them all or nothing. Everything is decided and rendered in memory
//! before the first byte is written, so bad input never leaves a half-written bundle.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::CryptoRng;
use time::OffsetDateTime;

use crate::error::Error;
use crate::pki::{self, CertInfo};
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
        help: "the path is written into redis.conf; choose one without quotes, backslashes or control characters".into(),
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

pub fn run<R: CryptoRng + ?Sized>(
    opts: &Options,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let resolved = profile::resolve(opts.env, opts.profile.as_deref(), &opts.sets, rt.cwd)?;
    let (out_abs, out_conf) = out_dir(opts.out.as_deref(), opts.env, rt.cwd)?;
    let bundle = build(&resolved, opts.target, &out_abs, &out_conf, rt)?;

    let dirs: &[(&str, u32)] = match opts.target {
        Target::Local => &[(render::DATA_DIR, 0o700), ("tls", 0o750)],
        Target::Host | Target::Docker => &[("tls", 0o750)],
    };
    let outcomes = writer::write_all(&out_abs, dirs, bundle.files)?;

    let shown = opts.out.clone().unwrap_or_else(|| default_out(opts.env));
    for w in &bundle.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    summary(
        stdout,
        &resolved,
        opts.target,
        &shown,
        &outcomes,
        &bundle.notes,
    )
    .map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })
}

/// The in-memory bundle: every file, plus what the summary says about some of them.
pub struct Bundle {
    pub files: Vec<FileSpec>,
    pub notes: Vec<(String, String)>,
    pub warnings: Vec<String>,
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

/// Reads what exists in `out_abs`, generates what is missing, and renders everything.
pub fn build<R: CryptoRng + ?Sized>(
    resolved: &Resolved,
    target: Target,
    out_abs: &Path,
    out_conf: &ConfPath,
    rt: &mut Runtime<'_, R>,
) -> Result<Bundle, Error> {
    let profile = &resolved.settings;
    let mut warnings = vec![];
    let mut notes = vec![];

    let mut secrets = match read_optional(out_abs, render::SECRETS_ENV)? {
        Some(text) => Secrets::parse(&text).map_err(|reason| Error::State {
            path: out_abs.join(render::SECRETS_ENV),
            reason,
            help: "fix the line named above; redis-harden will not overwrite a secrets file it cannot read".into(),
        })?,
        None => Secrets::default(),
    };
    let ensured = secrets.ensure(profile, rt.rng);
    for (var, len) in &ensured.short {
        warnings.push(format!(
            "{var} is kept at {len} characters, shorter than this profile's {} (redis-harden never replaces a secret)",
            profile.secrets.password_length
        ));
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

    let existing = pki::Existing {
        ca: (
            read_optional(out_abs, pki::CA_CERT)?,
            read_optional(out_abs, pki::CA_KEY)?,
        ),
        server: (
            read_optional(out_abs, pki::SERVER_CERT)?,
            read_optional(out_abs, pki::SERVER_KEY)?,
        ),
        client: (
            read_optional(out_abs, pki::CLIENT_CERT)?,
            read_optional(out_abs, pki::CLIENT_KEY)?,
        ),
    };
    let subject = pki::Subject {
        project: &resolved.project,
        env: resolved.env,
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
            let missing: Vec<String> = pki::server_dns_names(&profile.tls)
                .iter()
                .map(ToString::to_string)
                .filter(|n| !info.dns_names.contains(n))
                .chain(
                    pki::server_ips(&profile.tls)
                        .iter()
                        .filter(|ip| !info.ips.contains(ip))
                        .map(ToString::to_string),
                )
                .collect();
            if !missing.is_empty() {
                warnings.push(format!(
                    "the existing {rel} does not cover {}: clients using those names will fail verification \
                     (move tls/server.crt and tls/server.key away and run init again to issue a new one)",
                    missing.join(", ")
                ));
            }
        }
    }

    let templates = Templates::builtin()?;
    let rendered = render::render(
        &templates,
        &render::Input {
            project: &resolved.project,
            env: resolved.env,
            profile,
            secrets: &secrets,
            target,
            out_dir: out_conf,
        },
    )?;

    let mut files = vec![];
    let mut add = |rel: &str, content: &str, mode: u32, create_only: bool| {
        files.push(FileSpec {
            rel: rel.to_owned(),
            content: content.as_bytes().to_vec(),
            mode,
            create_only,
        });
    };
    add(pki::CA_CERT, &pki.ca.cert_pem, 0o644, true);
    add(pki::CA_KEY, &pki.ca.key_pem, 0o600, true);
    add(pki::SERVER_CERT, &pki.server.cert_pem, 0o644, true);
    add(pki::SERVER_KEY, &pki.server.key_pem, 0o600, true);
    add(pki::CLIENT_CERT, &pki.client.cert_pem, 0o644, true);
    add(pki::CLIENT_KEY, &pki.client.key_pem, 0o600, true);
    add(
        render::SECRETS_ENV,
        &secrets.to_file(&render::secrets_header(&resolved.project, resolved.env)),
        0o600,
        false,
    );
    for (rel, file) in &rendered {
        add(rel, &file.content, file.mode, false);
    }
    Ok(Bundle {
        files,
        notes,
        warnings,
    })
}

fn summary(
    out: &mut dyn Write,
    resolved: &Resolved,
    target: Target,
    shown: &Path,
    outcomes: &[writer::Outcome],
    notes: &[(String, String)],
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} bundle for project {:?} in {} (target: {target})",
        resolved.env,
        resolved.project.as_str(),
        shown.display()
    )?;
    for o in outcomes {
        let action = match &o.action {
            Action::Created => "created".to_string(),
            Action::Updated => "updated".to_string(),
            Action::Unchanged => "kept".to_string(),
            Action::ModeFixed { from } => format!("kept, mode {from:o} -> fixed"),
        };
        let note = notes
            .iter()
            .find(|(rel, _)| *rel == o.rel)
            .map(|(_, n)| n.as_str())
            .unwrap_or("");
        writeln!(out, "  {action:<10} {:<16} {note}", o.rel)?;
    }
    let conf = shown.join(render::REDIS_CONF);
    match target {
        Target::Local => writeln!(out, "next: redis-server {}", conf.display())?,
        Target::Host => writeln!(
            out,
            "next: copy redis.conf, users.acl and tls/ into /etc/redis/ (owner redis, modes kept), then restart redis-server"
        )?,
        Target::Docker => writeln!(
            out,
            "next: mount {} read-only at /usr/local/etc/redis in the Redis container",
            shown.display()
        )?,
    }
    Ok(())
}
