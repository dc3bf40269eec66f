//! Stage one of every bundle command: the inputs. Flags, the bundle's manifest (what it was
//! made from last time) and the profile file become one [`Prepared`]: validated profile,
//! output directory, templates, accepted rules and the stretched master key.
//!
//! A flag that is given wins; one that is not falls back to the manifest, so
//! `rotate passwords --env production` keeps the `--set redis.port=6390` of the `init`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::CryptoRng;
use time::OffsetDateTime;

use crate::bundle::Access;
use crate::bundle::manifest::{self, InputFile, Manifest};
use crate::error::Error;
use crate::masterkey::{self, MasterKey, Stretched};
use crate::policy;
use crate::profile::{self, Environment, ProfileSource, Resolved};
use crate::render::Target;
use crate::templates::Templates;
use crate::values::ConfPath;

/// What the user asked for. `None` and empty lists mean "as recorded in the manifest".
#[derive(Debug, Clone)]
pub struct Options {
    pub env: Environment,
    pub out: Option<PathBuf>,
    pub profile: Option<PathBuf>,
    pub sets: Vec<String>,
    pub target: Option<Target>,
    /// A team template directory; overrides `templates:` in the profile file.
    pub templates: Option<PathBuf>,
    /// Policy rules accepted on purpose (`--allow-insecure RULE`).
    pub allow_insecure: Vec<String>,
    /// Derive secrets from the master key in this file (else from REDIS_HARDEN_MASTER_KEY).
    pub master_key_file: Option<PathBuf>,
    /// How a writing command uses the bundle (ignored by `check`).
    pub access: Access,
}

/// The world outside the arguments: injected so tests are deterministic.
pub struct Runtime<'a, R: CryptoRng + ?Sized> {
    pub cwd: &'a Path,
    pub now: OffsetDateTime,
    pub rng: &'a mut R,
}

/// A run's inputs, resolved and validated.
pub struct Prepared {
    pub resolved: Resolved,
    pub out_abs: PathBuf,
    /// The directory configs point into (`--target local`); `check` may use the recorded one.
    pub out_conf: ConfPath,
    /// The output directory as the user wrote it, for messages.
    pub out_shown: PathBuf,
    pub target: Target,
    /// Effective `--set`s and accepted rules (given, or recorded).
    pub sets: Vec<String>,
    pub allow_insecure: Vec<String>,
    pub templates: Templates,
    /// The master key, stretched, when secrets are derived rather than drawn at random.
    pub master: Option<Stretched>,
    /// What the bundle recorded last time, if it has a manifest.
    pub recorded: Option<Manifest>,
    pub profile_input: Option<InputFile>,
    pub templates_input: Option<InputFile>,
    /// Files a command has already decided to change (rotate), read instead of the disk:
    /// Some(bytes) is the new content, None a removal.
    pub overlay: BTreeMap<String, Option<Vec<u8>>>,
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
pub fn normalize(path: &Path) -> PathBuf {
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

/// The flags given, completed from the manifest where a flag was left out.
struct Merged {
    profile: Option<PathBuf>,
    sets: Vec<String>,
    target: Target,
    templates: Option<PathBuf>,
    allow_insecure: Vec<String>,
}

fn merge(opts: &Options, m: Option<&Manifest>, out: &Path) -> Result<Merged, Error> {
    let Some(m) = m else {
        return Ok(Merged {
            profile: opts.profile.clone(),
            sets: opts.sets.clone(),
            target: opts.target.unwrap_or(Target::Local),
            templates: opts.templates.clone(),
            allow_insecure: opts.allow_insecure.clone(),
        });
    };
    if m.environment != opts.env.name() {
        return Err(Error::Usage {
            message: format!(
                "{}: this bundle was made for environment {}, not {}",
                out.display(),
                m.environment,
                opts.env
            ),
            help: format!(
                "use --env {}, or a different --out for {}",
                m.environment, opts.env
            ),
        });
    }
    let recorded = |i: &Option<InputFile>| i.as_ref().map(|i| manifest::resolve(out, &i.path));
    let or = |given: &[String], rec: &[String]| {
        if given.is_empty() {
            rec.to_vec()
        } else {
            given.to_vec()
        }
    };
    Ok(Merged {
        profile: opts.profile.clone().or_else(|| recorded(&m.profile)),
        sets: or(&opts.sets, &m.sets),
        target: opts.target.unwrap_or(m.target),
        templates: opts.templates.clone().or_else(|| recorded(&m.templates)),
        allow_insecure: or(&opts.allow_insecure, &m.allow_insecure),
    })
}

pub fn check_rules(ids: &[String]) -> Result<(), Error> {
    for id in ids {
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
    Ok(())
}

/// Resolves the profile, output directory, templates and accepted rules of a run.
pub fn prepare(opts: &Options, cwd: &Path) -> Result<Prepared, Error> {
    check_rules(&opts.allow_insecure)?;
    let (out_abs, out_conf) = out_dir(opts.out.as_deref(), opts.env, cwd)?;
    let recorded = Manifest::load(&out_abs)?;
    let merged = merge(opts, recorded.as_ref(), &out_abs)?;
    check_rules(&merged.allow_insecure)?;
    let resolved = profile::resolve(opts.env, merged.profile.as_deref(), &merged.sets, cwd)?;
    crate::topology::check_target(&resolved.settings, merged.target)?;
    let template_dir = merged
        .templates
        .as_ref()
        .map(|d| cwd.join(d))
        .or_else(|| resolved.templates.clone());
    let templates = Templates::load(template_dir.as_deref())?;
    let profile_input = match &resolved.source {
        // A profile read from stdin (`--profile -`) cannot be read again: not recorded.
        ProfileSource::File(p) if p.as_os_str() == "<stdin>" || p.as_os_str() == "-" => None,
        ProfileSource::File(p) => Some(manifest::file_input(&out_abs, &normalize(&cwd.join(p)))?),
        ProfileSource::BuiltIn => None,
    };
    let templates_input = template_dir
        .map(|d| manifest::dir_input(&out_abs, &normalize(&cwd.join(d))))
        .transpose()?;
    Ok(Prepared {
        out_shown: opts.out.clone().unwrap_or_else(|| default_out(opts.env)),
        master: stretch(opts, cwd, &resolved)?,
        resolved,
        out_abs,
        out_conf,
        target: merged.target,
        sets: merged.sets,
        allow_insecure: merged.allow_insecure,
        templates,
        recorded,
        profile_input,
        templates_input,
        overlay: BTreeMap::new(),
    })
}

/// The stretched master key, when one is given (`--master-key-file` or the environment).
fn stretch(opts: &Options, cwd: &Path, resolved: &Resolved) -> Result<Option<Stretched>, Error> {
    let key = match &opts.master_key_file {
        Some(file) => Some(MasterKey::from_file(&cwd.join(file))),
        None => MasterKey::from_env().transpose(),
    };
    let Some(key) = key else { return Ok(None) };
    let key_error = |e: masterkey::MasterKeyError| Error::Usage {
        help: e.help(),
        message: e.to_string(),
    };
    // Deliberately slow (Argon2id, 64 MiB): done once per run, only in this mode.
    Ok(Some(
        key.map_err(key_error)?
            .stretch(&resolved.project)
            .map_err(key_error)?,
    ))
}

impl Prepared {
    /// The manifest this run would record (its file list is filled in by the plan).
    pub fn manifest(&self, rotation: manifest::Rotation) -> Manifest {
        let effective = profile::Effective {
            project: &self.resolved.project,
            environment: self.resolved.env,
            settings: &self.resolved.settings,
        };
        let derived = self.master.is_some()
            || self
                .recorded
                .as_ref()
                .is_some_and(|m| m.master_key == "derived");
        Manifest {
            format: manifest::FORMAT,
            tool: format!("redis-harden {}", env!("CARGO_PKG_VERSION")),
            environment: self.resolved.env.name().to_owned(),
            engine: serde_json::to_value(self.resolved.settings.engine)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            target: self.target,
            rendered_for: self.out_conf.as_str().to_owned(),
            profile: self.profile_input.clone(),
            sets: self.sets.clone(),
            templates: self.templates_input.clone(),
            allow_insecure: self.allow_insecure.clone(),
            master_key: if derived { "derived" } else { "random" }.to_owned(),
            rotation,
            settings: serde_json::to_value(&effective).expect("profile serializes"),
            files: Default::default(),
        }
    }

    /// The recorded inputs that this run's differ from, as `key: old -> new` lines.
    pub fn input_changes(&self) -> Vec<String> {
        match &self.recorded {
            Some(old) => old.changes(&self.manifest(old.rotation.clone())),
            None => vec![],
        }
    }

    /// A bundle file as text (the overlay first, then the disk), None when it does not exist.
    pub fn read(&self, rel: &str) -> Result<Option<String>, Error> {
        let path = self.out_abs.join(rel);
        let bytes = match self.overlay.get(rel) {
            Some(content) => content.clone(),
            None => crate::bundle::read(&self.out_abs, rel)?.map(|(b, _)| b),
        };
        bytes
            .map(|b| {
                String::from_utf8(b).map_err(|_| Error::State {
                    path,
                    reason: "is not UTF-8 text".into(),
                    help: "restore it from a backup".into(),
                })
            })
            .transpose()
    }

    /// The rotation state manifest.json records. A bundle without one (deleted, or made
    /// before manifests) has it read once from its old values, and recorded from then on.
    pub fn rotation(&self) -> manifest::Rotation {
        match &self.recorded {
            Some(m) => m.rotation.clone(),
            None => self.rotation_from_files(),
        }
    }

    /// The rotations whose old values the bundle holds: `PREVIOUS_*` lines in secrets.env,
    /// `tls/*.previous.*` files. Unreadable secrets are no rotation: the command that needs
    /// them reports the file.
    fn rotation_from_files(&self) -> manifest::Rotation {
        use crate::bundle::layout::previous_path;
        use crate::{pki, secrets};
        let has_previous = |rels: &[&str]| {
            rels.iter()
                .any(|r| self.out_abs.join(previous_path(r)).exists())
        };
        let stored = self
            .read(crate::target::SECRETS_ENV)
            .ok()
            .flatten()
            .and_then(|text| secrets::Secrets::parse(&text).ok());
        let previous = |var: &str| stored.as_ref().is_some_and(|s| s.previous(var).is_some());
        let mut passwords: Vec<String> = (self.resolved.settings.password_users().iter())
            .filter(|u| previous(&u.password_var()))
            .map(ToString::to_string)
            .collect();
        passwords.sort();
        manifest::Rotation {
            passwords,
            encryption_key: previous(secrets::ENCRYPTION_KEY_VAR),
            certs: has_previous(&[
                pki::SERVER_CERT,
                pki::SERVER_KEY,
                pki::CLIENT_CERT,
                pki::CLIENT_KEY,
            ]),
            ca: has_previous(&[pki::CA_CERT, pki::CA_KEY]),
        }
    }
}
