//! `redis-harden rotate`: new passwords, encryption key, leaf certificates or CA, with an
//! overlap during which old and new both work. Nothing old is dropped until the operator runs
//! the same command with `--finish`.
//!
//! Whether a rotation is running is decided by what manifest.json records (`rotation`), which
//! the same transaction that starts or finishes it updates; never by which files exist. The
//! old values live in the bundle: `PREVIOUS_<NAME>` lines in secrets.env (both password
//! hashes end up in the ACL file, both keys in `REDIS_ENCRYPTION_KEYS`), and
//! `tls/*.previous.*` copies of replaced keys and certificates. Files that disagree with the
//! recorded state (an old value the manifest knows nothing of) are refused, not guessed at.
//! `init`, `render` and `check` keep working at every step.

use std::io::Write;
use std::path::Path;

use rand::CryptoRng;

use crate::build::{self, Mode};
use crate::bundle::layout::previous_path;
use crate::bundle::manifest::Rotation;
use crate::bundle::txn::Recovery;
use crate::bundle::{Committed, File};
use crate::error::Error;
use crate::gate;
use crate::init::{self, Options, Prepared, Runtime, stdout_err};
use crate::pki;
use crate::render::{self, Target};
use crate::secrets::{self, Secrets};
use crate::values::UserName;

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
    /// The command line that names this rotation, as recorded in a transaction's journal.
    fn command(&self, finish: bool) -> String {
        let kind = match self {
            What::Passwords { user: Some(u) } => format!("passwords --user {u}"),
            What::Passwords { user: None } => "passwords".into(),
            What::EncryptionKey => "encryption-key".into(),
            What::Certs => "certs".into(),
            What::Ca => "ca".into(),
        };
        format!("rotate {kind}{}", if finish { " --finish" } else { "" })
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
    let command = what.command(finish);
    let mut session = init::open(opts, rt.cwd)?;
    if let Some(Recovery::RolledForward { command: done }) = &session.recovered
        && *done == command
    {
        // The same command crashed after its commit point: it is complete now, and running
        // it again would start a second rotation.
        writeln!(
            stdout,
            "recovered: completed the interrupted `redis-harden {command}`; nothing else to do"
        )
        .map_err(stdout_err)?;
        return Ok(());
    }
    let mut p = init::prepare(opts, rt.cwd)?;
    refuse_changed_inputs(&p, opts)?;
    let mut plan = Plan::default();
    match what {
        What::Passwords { user } => passwords(&p, user.as_deref(), finish, rt, &mut plan)?,
        What::EncryptionKey => encryption_key(&p, finish, rt, &mut plan)?,
        What::Certs => certs(&p, finish, rt, &mut plan)?,
        What::Ca => ca(&p, finish, rt, &mut plan)?,
    }
    let rotation = next_rotation(p.rotation(), what, finish, &plan.users);
    // A --finish whose old values are already gone still clears the recorded state.
    if plan.files.is_empty() && plan.remove.is_empty() && rotation == p.rotation() {
        let mut summary = init::summary(&p, &session, None, &[], &command);
        summary.next = None;
        summary
            .notes
            .push(format!("nothing to do: {}", plan.notes.join("; ")));
        return summary.print(format, stdout).map_err(stdout_err);
    }
    // Configs that depend on what changed (users.acl, client.env, ...) follow in the same
    // transaction, except in master-key mode, where the profile's generation must be
    // bumped first.
    let derived_secret = p.master.is_some()
        && !finish
        && matches!(what, What::Passwords { .. } | What::EncryptionKey);
    if derived_secret {
        plan.notes.push(format!(
            "then run `redis-harden render --env {}` to update users.acl and client.env",
            p.resolved.env
        ));
    }
    let (files, notes) = with_configs(&mut p, &mut plan, !derived_secret, rt, stderr)?;
    let changes = init::plan(&p, files, &plan.remove, !derived_secret, rotation)?;
    // The bundle exists (rotate read its secrets), so it was locked before anything was read.
    if session.commit(&changes, &command)? == Committed::Restart {
        unreachable!("rotate only runs on an existing, locked bundle");
    }
    let mut summary = init::summary(&p, &session, Some(&changes), &notes, &command);
    summary.next = None;
    summary.notes.append(&mut plan.notes);
    apply_steps(&p, &plan, finish, &mut summary);
    summary.print(format, stdout).map_err(stdout_err)
}

/// How the running servers take the rotation: a rollout per node or pod for a topology,
/// one command for a single server.
fn apply_steps(p: &Prepared, plan: &Plan, finish: bool, summary: &mut crate::summary::Summary) {
    if p.target == Target::Host && plan.apply.is_some() {
        let files: Vec<&str> = summary
            .files
            .iter()
            .filter(|f| f.action == "updated" && read_on_host(&f.path))
            .map(|f| f.path.as_str())
            .collect();
        if !files.is_empty() {
            let note = host_install_note(&p.resolved.settings, &files);
            summary.notes.push(note);
        }
        if let Some(note) = host_exporter_note(summary) {
            summary.notes.push(note);
        }
    }
    let nodes = topology_nodes(p);
    let k8s_topology = p.target == Target::Kubernetes
        && p.resolved.settings.topology.kind != crate::topology::Kind::Standalone;
    match plan.apply.as_deref() {
        // Containers see a replaced file only once recreated (compose::rollout).
        Some(step) if p.target == Target::Docker => {
            let settings = &p.resolved.settings;
            summary.rollout = crate::compose::rollout::plan(
                &crate::compose::rollout::Bundle {
                    profile: settings,
                    project: &p.resolved.project,
                    env: p.resolved.env,
                    shown: &p.out_shown,
                    master: &crate::topology::master_name(settings, &p.resolved.project),
                    admin_var: admin_var(&plan.users, finish),
                },
                &change(step, &plan.users, finish),
            );
        }
        Some(step) if k8s_topology => {
            let admin = admin_var(&plan.users, finish);
            let settings = &p.resolved.settings;
            summary.rollout = crate::kubernetes::rollout::plan(
                settings,
                &p.out_shown,
                &crate::topology::master_name(settings, &p.resolved.project),
                &change(step, &plan.users, finish),
                admin,
            );
        }
        Some(step) if !nodes.is_empty() => {
            summary.rollout = rollout(p, &nodes, step, &plan.users, finish);
            if !p.resolved.settings.acl.admin.enabled {
                summary.notes.push("the admin user is off in this profile: enable acl.admin.enabled to run the steps below, or restart each node instead".into());
            }
        }
        step => {
            let admin = admin_var(&plan.users, finish);
            summary.apply = step.map(|step| apply_command(p, p.target, step, admin));
        }
    }
}

/// Per-file notes for the summary: (path, note).
type Notes = Vec<(String, String)>;

/// The rotated files plus (unless `render` must follow) every config rendered from them,
/// gated: the whole change set of the rotation, built in memory.
fn with_configs<R: CryptoRng + ?Sized>(
    p: &mut Prepared,
    plan: &mut Plan,
    render: bool,
    rt: &mut Runtime<'_, R>,
    stderr: &mut dyn Write,
) -> Result<(Vec<File>, Notes), Error> {
    for f in &plan.files {
        p.overlay.insert(f.rel.clone(), Some(f.content.clone()));
    }
    for rel in &plan.remove {
        p.overlay.insert(rel.clone(), None);
    }
    let mut files = std::mem::take(&mut plan.files);
    if !render {
        return Ok((files, vec![]));
    }
    let mut built = build::build(p, Mode::Render, rt)?;
    gate::gate(&mut built, p, stderr)?;
    let rendered = &built.rendered;
    files.extend(built.files.drain(..).filter(|f| rendered.contains(&f.rel)));
    Ok((files, built.notes))
}

/// rotate changes secrets only: configs from other inputs than the recorded ones would mix
/// two changes in one step, so that is refused.
fn refuse_changed_inputs(p: &Prepared, opts: &Options) -> Result<(), Error> {
    let changes = p.input_changes();
    if changes.is_empty() {
        return Ok(());
    }
    Err(Error::Usage {
        message: format!(
            "{}: rotate changes secrets only, but these inputs differ from the ones recorded in manifest.json: {}",
            p.out_shown.display(),
            changes.join("; ")
        ),
        help: format!(
            "apply them first with `redis-harden render --env {}{}` (with the new --set/--profile/--target), then rotate",
            opts.env,
            opts.out
                .as_ref()
                .map(|o| format!(" --out {}", o.display()))
                .unwrap_or_default()
        ),
    })
}

/// The rotation state after this command: started, or finished, per kind.
fn next_rotation(mut r: Rotation, what: &What, finish: bool, users: &[String]) -> Rotation {
    match what {
        What::Passwords { .. } if finish => r.passwords.retain(|u| !users.contains(u)),
        What::Passwords { .. } => {
            r.passwords.extend(users.iter().cloned());
            r.passwords.sort();
            r.passwords.dedup();
        }
        What::EncryptionKey => r.encryption_key = !finish,
        What::Certs => r.certs = !finish,
        What::Ca => r.ca = !finish,
    }
    r
}

/// What a rotation writes, removes and tells the operator.
#[derive(Default)]
struct Plan {
    files: Vec<File>,
    remove: Vec<String>,
    /// The users whose passwords this command rotated or finished.
    users: Vec<String>,
    notes: Vec<String>,
    /// The Redis command that makes the server pick the change up.
    apply: Option<String>,
}

/// The nodes whose own files a rotation covers: none on Kubernetes, where every pod uses the
/// shared certificate and the manifests carry the rest.
fn topology_nodes(p: &Prepared) -> Vec<crate::topology::Node> {
    if p.target == crate::target::Target::Kubernetes {
        return vec![];
    }
    crate::topology::nodes(&p.resolved.settings)
}

fn state(path: &Path, reason: impl Into<String>, help: impl Into<String>) -> Error {
    Error::State {
        path: path.to_path_buf(),
        reason: reason.into(),
        help: help.into(),
    }
}

/// A rotation of `kind` is recorded as running: a second one would overwrite its old values.
fn unfinished(p: &Prepared, kind: &str, command: &str) -> Error {
    state(
        &p.out_abs.join(crate::bundle::manifest::MANIFEST),
        format!("records an unfinished {kind} rotation"),
        format!(
            "finish it first: `redis-harden rotate {command} --env {} --finish`",
            p.resolved.env
        ),
    )
}

/// `rel` holds an old value (`what`) of a rotation that manifest.json does not record as
/// running: the bundle was changed outside redis-harden, and neither keeping nor deleting the
/// old value is safe to guess.
fn unrecorded(p: &Prepared, rel: &str, what: &str, kind: &str) -> Error {
    state(
        &p.out_abs.join(rel),
        format!("holds {what}, but manifest.json records no {kind} rotation"),
        "the bundle was changed outside redis-harden: restore it (manifest.json included) from \
         version control or a backup, or, if no rotation is running, remove the old value",
    )
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

fn secrets_file(p: &Prepared, s: &Secrets) -> File {
    let header = render::secrets_header(&p.resolved.project, p.resolved.env);
    File::secret(render::SECRETS_ENV, s.to_file(&header).into_bytes())
}

/// `--user NAME`, or every user with a password.
fn selected_users(p: &Prepared, user: Option<&str>) -> Result<Vec<UserName>, Error> {
    let known = p.resolved.settings.password_users();
    let Some(name) = user else {
        return Ok(known);
    };
    let found = known.iter().find(|u| u.as_str() == name).cloned();
    Ok(vec![found.ok_or_else(|| Error::Usage {
        message: format!(
            "--user {}: no such user in this profile",
            crate::values::visible(name)
        ),
        help: format!(
            "users: {}",
            known.iter().map(UserName::as_str).collect::<Vec<_>>().join(", ")
        ),
    })?])
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
    let users = selected_users(p, user)?;
    let mut secrets = load_secrets(p)?;
    let path = p.out_abs.join(render::SECRETS_ENV);
    let len = profile.secrets.password_length as usize;
    let rotating = p.rotation().passwords;
    let mut changed = vec![];
    for u in &users {
        let var = u.password_var();
        let recorded = rotating.contains(&u.to_string());
        if !recorded && secrets.previous(&var).is_some() {
            let what = format!("{}{var}", secrets::PREVIOUS_PREFIX);
            return Err(unrecorded(
                p,
                render::SECRETS_ENV,
                &what,
                &format!("password ({u})"),
            ));
        }
        if finish {
            if recorded {
                secrets.finish(&var);
                changed.push(u.to_string());
            }
            continue;
        }
        if recorded {
            return Err(unfinished(p, &format!("password ({u})"), "passwords"));
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
        secrets
            .rotate(&var, new)
            .map_err(|reason| state(&path, reason, "restore it from a backup"))?;
        changed.push(u.to_string());
    }
    if changed.is_empty() {
        plan.notes
            .push("no password rotation was in progress".into());
        return Ok(());
    }
    plan.files.push(secrets_file(p, &secrets));
    plan.users = changed.clone();
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
    let recorded = p.rotation().encryption_key;
    if !recorded && secrets.previous(var).is_some() {
        let what = format!("{}{var}", secrets::PREVIOUS_PREFIX);
        return Err(unrecorded(p, render::SECRETS_ENV, &what, "encryption key"));
    }
    if finish {
        if !recorded {
            plan.notes
                .push("no encryption key rotation was in progress".into());
            return Ok(());
        }
        secrets.finish(var);
        plan.notes.push("finished: the previous key is gone from REDIS_ENCRYPTION_KEYS; data still encrypted with it can no longer be read".into());
    } else {
        if recorded {
            return Err(unfinished(p, "encryption key", "encryption-key"));
        }
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
                "restore it from a backup",
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

/// The `*.previous.*` copies of `rels` that exist.
fn previous_files(p: &Prepared, rels: &[&str]) -> Vec<String> {
    rels.iter()
        .map(|r| previous_path(r))
        .filter(|r| p.out_abs.join(r).exists())
        .collect()
}

/// The old copies of `rels` when manifest.json records their rotation (`recorded`) as
/// running; an old copy it does not know of is refused.
fn recorded_previous(
    p: &Prepared,
    rels: &[&str],
    recorded: bool,
    kind: &str,
) -> Result<Vec<String>, Error> {
    let found = previous_files(p, rels);
    match found.first() {
        Some(rel) if !recorded => Err(unrecorded(p, rel, "an old copy", kind)),
        _ => Ok(found),
    }
}

/// The current files `rels`, to be kept as `*.previous.*` by a rotation that is not running.
fn keep_previous(p: &Prepared, rels: &[&str], plan: &mut Plan) -> Result<(), Error> {
    for rel in rels {
        let prev = previous_path(rel);
        plan.files.push(File {
            create_only: true,
            ..pki_file(&prev, read(p, rel)?)
        });
    }
    Ok(())
}

fn subject(p: &Prepared) -> pki::Subject<'_> {
    let (extra_names, extra_ips) = crate::kubernetes::extra_sans(&p.resolved.settings, p.target);
    pki::Subject {
        project: &p.resolved.project,
        env: p.resolved.env,
        tls: &p.resolved.settings.tls,
        client_name: "app",
        server: crate::topology::layout::has_server_pair(&p.resolved.settings, p.target),
        extra_names,
        extra_ips,
    }
}

/// A key (secret, 0600) or certificate (0644) file.
fn pki_file(rel: &str, content: String) -> File {
    if rel.ends_with(".key") {
        File::secret(rel, content.into_bytes())
    } else {
        File::public(rel, content.into_bytes(), 0o644)
    }
}

fn replace(plan: &mut Plan, rel: &str, content: &str) {
    // Deliberate replacement: the old content is kept under *.previous.* by this same plan.
    plan.files.push(pki_file(rel, content.to_owned()));
}

/// The leaf files a certificate rotation replaces: the server's pair (where the bundle has
/// one: [`crate::topology::layout::has_server_pair`]), the app's client pair, and every
/// node's pair.
fn leaves(p: &Prepared, nodes: &[crate::topology::Node]) -> Vec<String> {
    let server = [pki::SERVER_CERT, pki::SERVER_KEY];
    let keep_server = crate::topology::layout::has_server_pair(&p.resolved.settings, p.target);
    let mut out: Vec<String> = LEAVES
        .iter()
        .filter(|r| keep_server || !server.contains(r))
        .map(|r| (*r).to_owned())
        .collect();
    for n in nodes {
        out.push(crate::topology::layout::cert(&n.name));
        out.push(crate::topology::layout::key(&n.name));
    }
    out
}

fn certs<R: CryptoRng + ?Sized>(
    p: &Prepared,
    finish: bool,
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    let env = p.resolved.env;
    let nodes = topology_nodes(p);
    let leaves = leaves(p, &nodes);
    let rels: Vec<&str> = leaves.iter().map(String::as_str).collect();
    let recorded = p.rotation().certs;
    let previous = recorded_previous(p, &rels, recorded, "certificate")?;
    if finish {
        plan.remove = previous;
        plan.notes.push(if recorded {
            "finished: the previous leaf certificates and keys are deleted".into()
        } else {
            "no certificate rotation was in progress".into()
        });
        return Ok(());
    }
    if recorded {
        return Err(unfinished(p, "certificate", "certs"));
    }
    keep_previous(p, &rels, plan)?;
    let existing = pki::Existing {
        ca: (Some(read(p, pki::CA_CERT)?), Some(read(p, pki::CA_KEY)?)),
        ..Default::default()
    };
    let new = pki::ensure(&existing, &subject(p), rt.now, rt.rng)
        .map_err(|e| state(&p.out_abs.join(e.file), e.reason, e.help))?;
    if let Some(server) = &new.server {
        replace(plan, pki::SERVER_CERT, &server.cert_pem);
        replace(plan, pki::SERVER_KEY, &server.key_pem);
    }
    replace(plan, pki::CLIENT_CERT, &new.client.cert_pem);
    replace(plan, pki::CLIENT_KEY, &new.client.key_pem);
    node_certs(p, &nodes, rt, plan)?;
    plan.notes.push(format!(
        "new {} certificates from the same CA; the old ones stay valid until they expire and are kept as \
         *.previous.*. Hand the new client certificate to applications, then run `redis-harden rotate certs --env {env} --finish`",
        if nodes.is_empty() { "server and client".to_owned() } else { format!("client and {} node", nodes.len()) }
    ));
    plan.apply = Some("CONFIG SET tls-cert-file".into());
    Ok(())
}

/// A new pair for every node of a topology, with the SANs `init` gives it, from the CA that
/// signs now (the first certificate of ca.crt: during a CA rotation it holds two).
fn node_certs<R: CryptoRng + ?Sized>(
    p: &Prepared,
    nodes: &[crate::topology::Node],
    rt: &mut Runtime<'_, R>,
    plan: &mut Plan,
) -> Result<(), Error> {
    if nodes.is_empty() {
        return Ok(());
    }
    let ca_path = p.out_abs.join(pki::CA_CERT);
    let ca = pki::CertPair {
        cert_pem: pem_blocks(&read(p, pki::CA_CERT)?)
            .into_iter()
            .next()
            .ok_or_else(|| state(&ca_path, "holds no certificate", "restore it from a backup"))?,
        key_pem: read(p, pki::CA_KEY)?,
    };
    for node in nodes {
        let (dns, ips) = crate::topology::certs::sans(&p.resolved, node);
        let pair = pki::issue_node(
            &ca,
            &node.name,
            &dns,
            &ips,
            &p.resolved.settings.tls,
            rt.now,
            rt.rng,
        )
        .map_err(|reason| {
            state(
                &p.out_abs.join(crate::topology::layout::cert(&node.name)),
                format!("could not be re-issued: {reason}"),
                "check that tls/ca.crt and tls/ca.key belong together",
            )
        })?;
        replace(
            plan,
            &crate::topology::layout::cert(&node.name),
            &pair.cert_pem,
        );
        replace(
            plan,
            &crate::topology::layout::key(&node.name),
            &pair.key_pem,
        );
    }
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
    let recorded = p.rotation().ca;
    let previous = recorded_previous(p, &CA, recorded, "CA")?;
    if finish {
        if !recorded {
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
        let nodes = topology_nodes(p);
        for leaf in leaves(p, &nodes).iter().filter(|r| r.ends_with(".crt")) {
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
        plan.remove = previous;
        plan.notes.push("finished: ca.crt holds only the new CA; certificates of the old CA are no longer trusted".into());
        plan.apply = Some("CONFIG SET tls-ca-cert-file".into());
        return Ok(());
    }
    if recorded {
        return Err(unfinished(p, "CA", "ca"));
    }
    keep_previous(p, &CA, plan)?;
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

/// The per-node steps that apply `step` to a running multi-node deployment.
fn rollout(
    p: &Prepared,
    nodes: &[crate::topology::Node],
    step: &str,
    users: &[String],
    finish: bool,
) -> Vec<crate::topology::rollout::Step> {
    use crate::topology::rollout;
    let change = change(step, users, finish);
    let master = crate::topology::master_name(&p.resolved.settings, &p.resolved.project);
    let bundle = rollout::Bundle {
        profile: &p.resolved.settings,
        target: p.target,
        out_conf: &p.out_conf,
        master_name: &master,
        admin_var: admin_var(users, finish),
    };
    rollout::plan(&bundle, nodes, &change)
}

/// Whether a host's server reads its own copy of the bundle file `rel`: not the operator's
/// files (secrets, client side, the CA key, the manifest, the exporter's env), no previous
/// pair, and not a Sentinel's sentinel.conf, which the Sentinel keeps and rewrites itself.
fn read_on_host(rel: &str) -> bool {
    const OPERATOR: [&str; 5] = [
        "secrets.env",
        "client.env",
        "manifest.json",
        "exporter.env",
        pki::CA_KEY,
    ];
    !OPERATOR.contains(&rel)
        && !rel.starts_with("tls/client.")
        && !rel.contains(".previous.")
        && !rel.ends_with("/sentinel.conf")
}

/// The host's redis_exporter reads its own copies too (exporter.env, and the CA and client
/// pair in its directory): what to install, then its restart. None without an exporter or
/// when none of its files changed.
fn host_exporter_note(summary: &crate::summary::Summary) -> Option<String> {
    use crate::exporter::{ENV_FILE, HOST_TLS_DIR};
    let updated = |rel: &str| {
        summary
            .files
            .iter()
            .any(|f| f.path == rel && f.action == "updated")
    };
    if !summary.files.iter().any(|f| f.path == ENV_FILE) {
        return None;
    }
    let mut parts = vec![];
    if updated(ENV_FILE) {
        parts.push(format!(
            "{ENV_FILE} as /etc/default/prometheus-redis-exporter (root, 0600)"
        ));
    }
    let tls: Vec<&str> = [pki::CA_CERT, pki::CLIENT_CERT, pki::CLIENT_KEY]
        .into_iter()
        .filter(|f| updated(f))
        .collect();
    if !tls.is_empty() {
        parts.push(format!(
            "{} into {HOST_TLS_DIR}/ (owner prometheus, modes kept)",
            tls.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "the exporter, once the server took the change: install {}, then `systemctl restart prometheus-redis-exporter`",
            parts.join(", and ")
        )
    })
}

/// On a host the server reads its own copies of the bundle's files: the updated ones go
/// there before the reload.
fn host_install_note(settings: &crate::profile::EnvProfile, files: &[&str]) -> String {
    let (dir, user) = if settings.engine == crate::profile::Engine::Dragonfly {
        (crate::dragonfly::HOST_DIR, crate::dragonfly::HOST_USER)
    } else {
        let layout = settings.server_facts().host_layout;
        (layout.config_dir, layout.user)
    };
    let files = files.join(", ");
    if settings.topology.kind == crate::topology::Kind::Standalone {
        format!(
            "first install {files} into {dir}/ (owner {user}, modes kept), as at init: the server reads its copies there"
        )
    } else {
        format!(
            "first install {files} into {dir}/ on the hosts of the nodes that read them (owner {user}, modes kept), as at init; a Sentinel's sentinel.conf stays: the Sentinel keeps its own copy, and the steps below update it"
        )
    }
}

/// What a rotation's apply step changed, as far as the running servers care.
fn change(step: &str, users: &[String], finish: bool) -> crate::topology::rollout::Change {
    use crate::topology::rollout::Change;
    match step {
        "ACL LOAD" => Change::Passwords {
            users: users.to_vec(),
            finish,
        },
        "CONFIG SET tls-cert-file" => Change::Certs,
        _ => Change::Ca,
    }
}

/// The secrets.env variable holding the admin password the running servers accept now:
/// after a rotation of the admin's own password, the old one until ACL LOAD.
fn admin_var(rotated: &[String], finish: bool) -> &'static str {
    if !finish && rotated.iter().any(|u| u == "admin") {
        "PREVIOUS_REDIS_PASSWORD_ADMIN"
    } else {
        "REDIS_PASSWORD_ADMIN"
    }
}

/// The exact redis-cli line that applies a change on the running server.
fn apply_command(p: &Prepared, target: Target, step: &str, admin_var: &str) -> String {
    let profile = &p.resolved.settings;
    let dir = p.out_conf.as_str();
    // Where the version's server reads its files ([`crate::server`]), as in redis.conf.
    let facts = profile.server_facts();
    let conf = |rel: &str| match target {
        Target::Local => format!("{dir}/{rel}"),
        Target::Host => format!("{}/{rel}", facts.host_layout.config_dir),
        Target::Docker | Target::Kubernetes => format!("{}/{rel}", facts.container_config_dir),
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
    if target == Target::Kubernetes {
        return format!(
            "{admin}{}",
            kubernetes_apply(p, cli, &conf, &command, admin_var)
        );
    }
    format!(
        "{admin}REDISCLI_AUTH=\"${admin_var}\" {cli} {tls}-h localhost -p {} --user admin --no-auth-warning {command}",
        profile.redis.port
    )
}

/// On Kubernetes the server sees the new files once the Secrets are applied and the kubelet
/// has refreshed the pod's projected volume; the command then runs inside the pod (`kubectl
/// exec`), where `localhost` is the server and its own certificate is the client's (as in
/// the probes). The admin password goes in on stdin, never on a command line.
fn kubernetes_apply(
    p: &Prepared,
    cli: &str,
    conf: &dyn Fn(&str) -> String,
    command: &str,
    admin_var: &str,
) -> String {
    let profile = &p.resolved.settings;
    let k = &profile.kubernetes;
    let ns = k.namespace.as_str();
    let tls = if profile.tls.enabled {
        format!(
            "--tls --cacert {} --cert {} --key {} ",
            conf(pki::CA_CERT),
            conf(pki::SERVER_CERT),
            conf(pki::SERVER_KEY)
        )
    } else {
        String::new()
    };
    format!(
        "kubectl apply -n {ns} -f {manifests}\n  \
         # once the pod sees the new files (the kubelet refreshes mounted Secrets within about a minute), inside the pod:\n  \
         printf '%s' \"${admin_var}\" | kubectl exec -i -n {ns} {pod}-0 -- sh -c 'REDISCLI_AUTH=\"$(cat)\" {cli} {tls}-h localhost -p {port} --user admin --no-auth-warning {command}'",
        manifests = p.out_shown.join(crate::kubernetes::DIR).display(),
        pod = k.name.as_str(),
        port = profile.redis.port,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_split_bundles() {
        let a = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks(&format!("{a}{b}")), [a, b]);
        assert_eq!(pem_blocks(a), [a]);
    }
}
