//! `redis-harden rotate`: new passwords, encryption key, leaf certificates or CA, with an
//! overlap during which old and new both work. Nothing old is dropped until the operator runs
//! the same command with `--finish`.
//!
//! State lives in the bundle itself: `PREVIOUS_<NAME>` lines in secrets.env (both password
//! hashes end up in the ACL file, both keys in `REDIS_ENCRYPTION_KEYS`), and
//! `tls/*.previous.*` copies of replaced keys and certificates. `init`, `render` and `check`
//! keep working at every step.

use std::io::Write;
use std::path::Path;

use rand::CryptoRng;

use crate::error::Error;
use crate::init::{self, Mode, Options, Prepared, Runtime};
use crate::pki;
use crate::render::{self, Target};
use crate::secrets::{self, Secrets};
use crate::values::UserName;
use crate::writer::{self, FileSpec};

/// What to rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// One user's password, or every user's.
    Passwords {
        user: Option<String>,
    },
    EncryptionKey,
    Certs,
    Ca,
}

impl What {
    /// The subcommand that rotates it, as the summary names the run.
    pub fn name(&self) -> &'static str {
        match self {
            What::Passwords { .. } => "passwords",
            What::EncryptionKey => "encryption-key",
            What::Certs => "certs",
            What::Ca => "ca",
        }
    }
}

/// Where a replaced file is kept during the overlap: `tls/server.key` → `tls/server.previous.key`.
pub fn previous_path(rel: &str) -> String {
    match rel.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.previous.{ext}"),
        None => format!("{rel}.previous"),
    }
}

const LEAVES: [&str; 4] = [
    pki::SERVER_CERT,
    pki::SERVER_KEY,
    pki::CLIENT_CERT,
    pki::CLIENT_KEY,
];
const CA: [&str; 2] = [pki::CA_CERT, pki::CA_KEY];

pub fn run<R: CryptoRng + ?Sized>(
    opts: &Options,
    what: &What,
    finish: bool,
    format: crate::summary::Format,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let prepared = init::prepare(opts, rt.cwd)?;
    let print = |summary: crate::summary::Summary, stdout: &mut dyn Write| {
        summary.print(format, stdout).map_err(stdout_err)
    };
    let command = format!(
        "rotate {}{}",
        what.name(),
        if finish { " --finish" } else { "" }
    );
    let out = prepared.out_abs.clone();
    let env = prepared.resolved.env;
    let mut plan = Plan::default();
    match what {
        What::Passwords { user } => passwords(&prepared, user.as_deref(), finish, rt, &mut plan)?,
        What::EncryptionKey => encryption_key(&prepared, finish, rt, &mut plan)?,
        What::Certs => certs(&prepared, finish, rt, &mut plan)?,
        What::Ca => ca(&prepared, finish, rt, &mut plan)?,
    }
    if plan.files.is_empty() && plan.remove.is_empty() {
        let summary = crate::summary::Summary {
            command,
            environment: env.to_string(),
            project: prepared.resolved.project.as_str().to_owned(),
            out: prepared.out_shown.display().to_string(),
            target: opts.target.to_string(),
            notes: vec![format!("nothing to do: {}", plan.notes.join("; "))],
            ..Default::default()
        };
        return print(summary, stdout);
    }
    // What the touched files hold now, so a refused re-render can put everything back.
    let before = snapshot(
        &out,
        plan.files
            .iter()
            .map(|f| f.rel.as_str())
            .chain(plan.remove.iter().map(String::as_str)),
    );
    writer::write_all(&out, &[], plan.files)?;
    for rel in &plan.remove {
        match std::fs::remove_file(out.join(rel)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Write {
                    path: out.join(rel),
                    source: e,
                });
            }
            _ => {}
        }
    }
    // Configs that depend on what changed (users.acl, client.env, ...) follow at once, except
    // in master-key mode, where the profile's generation must be bumped first.
    let derived_secret = prepared.master.is_some()
        && !finish
        && matches!(what, What::Passwords { .. } | What::EncryptionKey);
    let mut summary = if derived_secret {
        plan.notes.push(format!(
            "then run `redis-harden render --env {env}` to update users.acl and client.env"
        ));
        crate::summary::Summary {
            environment: env.to_string(),
            project: prepared.resolved.project.as_str().to_owned(),
            out: prepared.out_shown.display().to_string(),
            target: opts.target.to_string(),
            ..Default::default()
        }
    } else {
        match init::execute(opts, Mode::Render, rt, stderr) {
            Ok(summary) => summary,
            Err(e) => {
                // The new configs were refused (bad profile, policy gate): undo the rotation,
                // so the bundle is as it was and the same command can be run again once that
                // is fixed.
                restore(&out, before)?;
                return Err(e);
            }
        }
    };
    summary.command = command;
    summary.notes.append(&mut plan.notes);
    summary.apply = plan
        .apply
        .map(|step| apply_command(&prepared, opts.target, &step));
    print(summary, stdout)
}

/// Files by relative path, with their bytes and mode (None: the file does not exist).
type Snapshot = Vec<(String, Option<(Vec<u8>, u32)>)>;

/// The current bytes and mode of each file.
fn snapshot<'a>(out: &Path, rels: impl Iterator<Item = &'a str>) -> Snapshot {
    use std::os::unix::fs::PermissionsExt;
    rels.map(|rel| {
        let path = out.join(rel);
        let state = std::fs::read(&path)
            .ok()
            .zip(std::fs::metadata(&path).ok())
            .map(|(bytes, meta)| (bytes, meta.permissions().mode() & 0o7777));
        (rel.to_owned(), state)
    })
    .collect()
}

fn restore(out: &Path, before: Snapshot) -> Result<(), Error> {
    let mut files = vec![];
    for (rel, state) in before {
        match state {
            Some((content, mode)) => files.push(FileSpec {
                rel,
                content,
                mode,
                create_only: false,
            }),
            None => {
                let _ = std::fs::remove_file(out.join(&rel));
            }
        }
    }
    writer::write_all(out, &[], files).map(|_| ())
}

fn stdout_err(source: std::io::Error) -> Error {
    Error::Write {
        path: "<stdout>".into(),
        source,
    }
}

/// What a rotation writes, removes and tells the operator.
#[derive(Default)]
struct Plan {
    files: Vec<FileSpec>,
    remove: Vec<String>,
    notes: Vec<String>,
    /// The Redis command that makes the server pick the change up.
    apply: Option<String>,
}

fn state(path: &Path, reason: impl Into<String>, help: impl Into<String>) -> Error {
    Error::State {
        path: path.to_path_buf(),
        reason: reason.into(),
        help: help.into(),
    }
}

fn load_secrets(p: &Prepared) -> Result<Secrets, Error> {
    let path = p.out_abs.join(render::SECRETS_ENV);
    let env = p.resolved.env;
    let text = std::fs::read_to_string(&path).map_err(|_| {
        state(
            &path,
            "is missing",
            format!("run `redis-harden init --env {env}` first; rotate only replaces what exists"),
        )
    })?;
    Secrets::parse(&text).map_err(|reason| state(&path, reason, "fix the line named above"))
}

fn secrets_file(p: &Prepared, s: &Secrets) -> FileSpec {
    FileSpec {
        rel: render::SECRETS_ENV.into(),
        content: s
            .to_file(&render::secrets_header(&p.resolved.project, p.resolved.env))
            .into_bytes(),
        mode: 0o600,
        create_only: false,
    }
}

fn passwords<R: CryptoRng + ?Sized>(
    p: &Prepared,
    user: Option<&str>,
    finish: bool,
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let profile = &p.resolved.settings;
    let env = p.resolved.env;
    let users: Vec<UserName> = match user {
        None => profile.password_users(),
        Some(name) => {
            let known = profile.password_users();
            let found = known.iter().find(|u| u.as_str() == name).cloned();
            vec![found.ok_or_else(|| Error::Usage {
                message: format!(
                    "--user {}: no such user in this profile",
                    crate::values::visible(name)
                ),
                help: format!(
                    "users: {}",
                    known.iter().map(UserName::as_str).collect::<Vec<_>>().join(", ")
                ),
            })?]
        }
    };
    let mut secrets = load_secrets(p)?;
    let path = p.out_abs.join(render::SECRETS_ENV);
    let len = profile.secrets.password_length as usize;
    let mut changed = vec![];
    for u in &users {
        let var = u.password_var();
        if finish {
            if secrets.finish(&var) {
                changed.push(u.to_string());
            }
            continue;
        }
        let new = match &p.master {
            Some(master) => {
                let next = profile.secrets.generation(u.as_str()) + 1;
                plan.notes.push(format!(
                    "master-key mode: set `secrets.generations.{u}: {next}` in the profile for environment {env}; \
                     until then init and render refuse, because the stored password no longer matches the derived one"
                ));
                master.password(env, u, next, len)
            }
            None => secrets::generate_password(rt.rng, len),
        };
        secrets.rotate(&var, new).map_err(|reason| {
            state(&path, reason, format!("finish the running rotation first: `redis-harden rotate passwords --env {env} --finish`"))
        })?;
        changed.push(u.to_string());
    }
    if changed.is_empty() {
        plan.notes
            .push("no password rotation was in progress".into());
        return Ok(());
    }
    plan.files.push(secrets_file(p, &secrets));
    plan.notes.push(if finish {
        format!("finished: old passwords of {} dropped from users.acl", changed.join(", "))
    } else {
        format!(
            "rotated {}: users.acl accepts the old and the new password, client.env has the new one; \
             once every client uses it, run `redis-harden rotate passwords --env {env} --finish`",
            changed.join(", ")
        )
    });
    plan.apply = Some("ACL LOAD".into());
    Ok(())
}

fn encryption_key<R: CryptoRng + ?Sized>(
    p: &Prepared,
    finish: bool,
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let env = p.resolved.env;
    let mut secrets = load_secrets(p)?;
    let var = secrets::ENCRYPTION_KEY_VAR;
    if finish {
        if !secrets.finish(var) {
            plan.notes
                .push("no encryption key rotation was in progress".into());
            return Ok(());
        }
        plan.notes.push("finished: the previous key is gone from REDIS_ENCRYPTION_KEYS; data still encrypted with it can no longer be read".into());
    } else {
        let new = match &p.master {
            Some(master) => {
                let next = p.resolved.settings.secrets.generation("encryption_key") + 1;
                plan.notes.push(format!(
                    "master-key mode: set `secrets.generations.encryption_key: {next}` in the profile for environment {env}"
                ));
                master.fernet_key(env, next)
            }
            None => secrets::generate_fernet_key(rt.rng),
        };
        secrets.rotate(var, new).map_err(|reason| {
            state(
                &p.out_abs.join(render::SECRETS_ENV),
                reason,
                format!("finish the running rotation first: `redis-harden rotate encryption-key --env {env} --finish`"),
            )
        })?;
        plan.notes.push(format!(
            "new primary key; REDIS_ENCRYPTION_KEYS in client.env lists new,old (Python: MultiFernet). \
             Re-encrypt stored data (MultiFernet.rotate), then run `redis-harden rotate encryption-key --env {env} --finish`"
        ));
    }
    plan.files.push(secrets_file(p, &secrets));
    Ok(())
}

fn read(p: &Prepared, rel: &str) -> Result<String, Error> {
    let env = p.resolved.env;
    std::fs::read_to_string(p.out_abs.join(rel)).map_err(|_| {
        state(
            &p.out_abs.join(rel),
            "is missing",
            format!("run `redis-harden init --env {env}` first"),
        )
    })
}

/// The current files `rels`, to be kept as `*.previous.*`. Refused while older copies exist.
fn keep_previous(p: &Prepared, rels: &[&str], plan: &mut Plan, command: &str) -> Result<(), Error> {
    let env = p.resolved.env;
    for rel in rels {
        let prev = previous_path(rel);
        if p.out_abs.join(&prev).exists() {
            return Err(state(
                &p.out_abs.join(&prev),
                "exists: an earlier rotation is not finished",
                format!("run `redis-harden rotate {command} --env {env} --finish` first"),
            ));
        }
        let mode = if rel.ends_with(".key") { 0o600 } else { 0o644 };
        plan.files.push(FileSpec {
            rel: prev,
            content: read(p, rel)?.into_bytes(),
            mode,
            create_only: true,
        });
    }
    Ok(())
}

fn subject(p: &Prepared) -> pki::Subject<'_> {
    pki::Subject {
        project: &p.resolved.project,
        env: p.resolved.env,
        tls: &p.resolved.settings.tls,
        client_name: "app",
    }
}

fn replace(plan: &mut Plan, rel: &str, content: &str) {
    let mode = if rel.ends_with(".key") { 0o600 } else { 0o644 };
    // Deliberate replacement: the old content is kept under *.previous.* by this same plan.
    plan.files.push(FileSpec {
        rel: rel.into(),
        content: content.as_bytes().to_vec(),
        mode,
        create_only: false,
    });
}

fn certs<R: CryptoRng + ?Sized>(
    p: &Prepared,
    finish: bool,
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let env = p.resolved.env;
    if finish {
        plan.remove = LEAVES
            .iter()
            .map(|r| previous_path(r))
            .filter(|r| p.out_abs.join(r).exists())
            .collect();
        plan.notes.push(if plan.remove.is_empty() {
            "no certificate rotation was in progress".into()
        } else {
            "finished: the previous leaf certificates and keys are deleted".into()
        });
        return Ok(());
    }
    keep_previous(p, &LEAVES, plan, "certs")?;
    let existing = pki::Existing {
        ca: (Some(read(p, pki::CA_CERT)?), Some(read(p, pki::CA_KEY)?)),
        ..Default::default()
    };
    let new = pki::ensure(&existing, &subject(p), rt.now, rt.rng)
        .map_err(|e| state(&p.out_abs.join(e.file), e.reason, e.help))?;
    replace(plan, pki::SERVER_CERT, &new.server.cert_pem);
    replace(plan, pki::SERVER_KEY, &new.server.key_pem);
    replace(plan, pki::CLIENT_CERT, &new.client.cert_pem);
    replace(plan, pki::CLIENT_KEY, &new.client.key_pem);
    plan.notes.push(format!(
        "new server and client certificates from the same CA; the old ones stay valid until they expire and are kept as \
         tls/*.previous.*. Hand the new client certificate to applications, then run `redis-harden rotate certs --env {env} --finish`"
    ));
    plan.apply = Some("CONFIG SET tls-cert-file".into());
    Ok(())
}

/// The PEM certificate blocks of a file, in order.
fn pem_blocks(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .filter_map(|chunk| {
            chunk
                .find("-----BEGIN CERTIFICATE-----")
                .map(|i| format!("{}\n", &chunk[i..]))
        })
        .collect()
}

fn ca<R: CryptoRng + ?Sized>(
    p: &Prepared,
    finish: bool,
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let env = p.resolved.env;
    let current = read(p, pki::CA_CERT)?;
    if finish {
        let prev = previous_path(pki::CA_CERT);
        if !p.out_abs.join(&prev).exists() {
            plan.notes.push("no CA rotation was in progress".into());
            return Ok(());
        }
        // The new CA is the first certificate of the bundle (the one ca.key belongs to).
        let Some(new_ca) = pem_blocks(&current).into_iter().next() else {
            return Err(state(
                &p.out_abs.join(pki::CA_CERT),
                "holds no certificate",
                "restore it from a backup",
            ));
        };
        // Dropping the old CA while a leaf still depends on it would cut that leaf off.
        for leaf in [pki::SERVER_CERT, pki::CLIENT_CERT] {
            if !pki::signed_by(&read(p, leaf)?, &new_ca) {
                return Err(state(
                    &p.out_abs.join(leaf),
                    "is still signed by the old CA",
                    format!(
                        "run `redis-harden rotate certs --env {env}` (and deploy the new certificates) before finishing"
                    ),
                ));
            }
        }
        replace(plan, pki::CA_CERT, &new_ca);
        plan.remove = CA
            .iter()
            .map(|r| previous_path(r))
            .filter(|r| p.out_abs.join(r).exists())
            .collect();
        plan.notes.push("finished: ca.crt holds only the new CA; certificates of the old CA are no longer trusted".into());
        plan.apply = Some("CONFIG SET tls-ca-cert-file".into());
        return Ok(());
    }
    keep_previous(p, &CA, plan, "ca")?;
    // Only the CA changes now: everyone first learns to trust the new CA (ca.crt lists both),
    // while the current certificates, signed by the old one, keep working.
    let fresh = pki::ensure(&pki::Existing::default(), &subject(p), rt.now, rt.rng)
        .map_err(|e| state(&p.out_abs.join(e.file), e.reason, e.help))?;
    let old_ca = pem_blocks(&current).concat();
    // New first: it is the CA that ca.key belongs to and that signs from now on.
    replace(
        plan,
        pki::CA_CERT,
        &format!("{}{old_ca}", fresh.ca.cert_pem),
    );
    replace(plan, pki::CA_KEY, &fresh.ca.key_pem);
    plan.notes.push(format!(
        "new CA: tls/ca.crt now trusts the new and the old CA; the certificates in use are unchanged. Next: \
         distribute ca.crt to every client and server and apply it, then `redis-harden rotate certs --env {env}` \
         re-issues the certificates from the new CA, then `redis-harden rotate ca --env {env} --finish`"
    ));
    plan.apply = Some("CONFIG SET tls-ca-cert-file".into());
    Ok(())
}

/// The exact redis-cli line that applies a change on the running server.
fn apply_command(p: &Prepared, target: Target, step: &str) -> String {
    let profile = &p.resolved.settings;
    let dir = p.out_conf.as_str();
    // Where the version's server reads its files ([`crate::server`]), as in redis.conf.
    let facts = profile.server_facts();
    let conf = |rel: &str| match target {
        Target::Local => format!("{dir}/{rel}"),
        Target::Host => format!("{}/{rel}", facts.host_layout.config_dir),
        Target::Docker => format!("{}/{rel}", facts.container_config_dir),
    };
    let cli = if profile.engine == crate::profile::Engine::Dragonfly {
        "redis-cli"
    } else {
        facts.cli_program
    };
    let command = match step {
        "ACL LOAD" => "ACL LOAD".to_string(),
        "CONFIG SET tls-cert-file" => format!(
            "CONFIG SET tls-cert-file \"{}\" tls-key-file \"{}\"",
            conf(pki::SERVER_CERT),
            conf(pki::SERVER_KEY)
        ),
        _ => format!(
            "CONFIG SET tls-ca-cert-file \"{}\" tls-cert-file \"{}\" tls-key-file \"{}\"",
            conf(pki::CA_CERT),
            conf(pki::SERVER_CERT),
            conf(pki::SERVER_KEY)
        ),
    };
    let tls = if profile.tls.enabled {
        format!(
            "--tls --cacert \"{dir}/tls/ca.crt\" --cert \"{dir}/tls/client.crt\" --key \"{dir}/tls/client.key\" "
        )
    } else {
        String::new()
    };
    let admin = if profile.acl.admin.enabled {
        ""
    } else {
        "  # the admin user is off in this profile: enable acl.admin.enabled, or restart the server instead\n  "
    };
    format!(
        "{admin}REDISCLI_AUTH=\"$REDIS_PASSWORD_ADMIN\" {cli} {tls}-h localhost -p {} --user admin --no-auth-warning {command}",
        profile.redis.port
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_paths() {
        assert_eq!(previous_path("tls/server.key"), "tls/server.previous.key");
        assert_eq!(previous_path("tls/ca.crt"), "tls/ca.previous.crt");
    }

    #[test]
    fn pem_blocks_split_bundles() {
        let a = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks(&format!("{a}{b}")), [a, b]);
        assert_eq!(pem_blocks(a), [a]);
    }
}
