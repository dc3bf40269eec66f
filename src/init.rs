//! `redis-harden init` and `render`: each a short composition of the stages
//! inputs -> secrets and PKI -> render -> gate -> plan -> commit.

use std::io::Write;
use std::path::Path;

use rand::CryptoRng;

use crate::build;
use crate::bundle::manifest::{MANIFEST, Rotation};
use crate::bundle::{self, Action, Committed, File, Plan, Session, layout};
use crate::error::Error;
use crate::gate;
use crate::profile;
use crate::render::{self, Target};
use crate::summary::Summary;

pub use crate::build::Mode;
pub use crate::inputs::{Options, Prepared, Runtime, default_out, out_dir, prepare};

/// `init` (mode Init) and `render` (mode Render): build in memory, gate, then commit; the
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
        .map_err(stdout_err)
}

/// `init` or `render`, returning the summary for the caller to print.
pub fn execute<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stderr: &mut dyn Write,
) -> Result<Summary, Error> {
    // A restart happens only when another writer created the bundle while this one planned
    // on an empty directory; the second attempt locks before it reads anything.
    for _ in 0..3 {
        if let Some(summary) = attempt(opts, mode, rt, stderr)? {
            return Ok(summary);
        }
    }
    Err(Error::Usage {
        message: "the bundle kept changing while this command planned".into(),
        help: "run the command again once the other redis-harden has finished".into(),
    })
}

/// One pass of the pipeline; None when it must start over (see [`Committed::Restart`]).
fn attempt<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stderr: &mut dyn Write,
) -> Result<Option<Summary>, Error> {
    let mut session = open(opts, rt.cwd)?;
    let p = prepare(opts, rt.cwd)?;
    let mut built = build::build(&p, mode, rt)?;
    gate::gate(&mut built, &p, stderr)?;
    if mode == Mode::Render {
        // render never touches a secret or a key, even to re-write identical bytes.
        built.files.retain(|f| built.rendered.contains(&f.rel));
    }
    let plan = plan(
        &p,
        std::mem::take(&mut built.files),
        &[],
        true,
        p.rotation(),
    )?;
    let command = if mode == Mode::Init { "init" } else { "render" };
    if session.commit(&plan, command)? == Committed::Restart {
        return Ok(None);
    }
    for w in &built.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    Ok(Some(summary(
        &p,
        &session,
        Some(&plan),
        &built.notes,
        command,
    )))
}

/// Locks the bundle (or, for --dry-run, only looks at it) and completes any interrupted
/// transaction.
pub fn open(opts: &Options, cwd: &Path) -> Result<Session, Error> {
    let (out_abs, _) = out_dir(opts.out.as_deref(), opts.env, cwd)?;
    let shown = opts.out.clone().unwrap_or_else(|| default_out(opts.env));
    Session::open(&out_abs, &shown, opts.access)
}

/// The change set: `files` to write where they differ, `removes` to delete, leftovers of
/// another target or engine removed (when `rendered`: the configs are part of `files`), and
/// everything else of the bundle kept and listed in the manifest.
pub fn plan(
    p: &Prepared,
    files: Vec<File>,
    removes: &[String],
    rendered: bool,
    rotation: Rotation,
) -> Result<Plan, Error> {
    let mut keep = layout::kept_files();
    if let Some(m) = &p.recorded {
        keep.extend(m.files.iter().map(|(r, e)| (r.clone(), e.secret)));
    }
    let mut stale = removes.to_vec();
    // The single-server pair an earlier version wrote into multi-node bundles: no node reads
    // it. Removed where the manifest records it as the bundle's; a file it does not know of
    // is not the bundle's to delete (nor to list).
    let unused = crate::topology::layout::unused_server_files(&p.resolved.settings, p.target);
    keep.retain(|(r, _)| !unused.contains(r));
    stale.extend(
        unused
            .into_iter()
            .filter(|r| p.recorded.as_ref().is_some_and(|m| m.files.contains_key(r))),
    );
    if rendered {
        stale.extend(layout::rendered_paths());
        // Node configs of nodes this topology no longer has (node keys are kept).
        if let Some(m) = &p.recorded {
            stale.extend(
                m.files
                    .keys()
                    .filter(|r| crate::topology::layout::is_node_conf(r))
                    .cloned(),
            );
        }
    } else {
        let secret = |rel: &str| render::ARTIFACTS.iter().any(|a| a.path == rel && a.secret);
        keep.extend(
            layout::rendered_paths()
                .into_iter()
                .map(|r| (r.clone(), secret(&r))),
        );
    }
    keep.retain(|(r, _)| r != MANIFEST);
    let mut dirs = layout::dirs(p.target);
    dirs.extend(crate::topology::layout::dirs(
        &crate::topology::nodes(&p.resolved.settings),
        p.target,
    ));
    Plan::new(&p.out_abs, files, &keep, &stale)?.finish(&p.out_abs, p.manifest(rotation), dirs)
}

pub fn stdout_err(source: std::io::Error) -> Error {
    Error::Write {
        path: "<stdout>".into(),
        source,
    }
}

/// What the command did (or, on a dry run, would do): the input changes, one entry per
/// file (with the config diff on a dry run), and how to start the server.
pub fn summary(
    p: &Prepared,
    session: &Session,
    plan: Option<&Plan>,
    notes: &[(String, String)],
    command: &str,
) -> Summary {
    let dry = session.dry_run();
    let files = plan.map_or_else(Vec::new, |plan| {
        plan.entries
            .iter()
            .filter(|e| e.listed)
            .map(|e| {
                // The JSON vocabulary (`--format json`); the text says create/update/keep/remove.
                let (action, mode_was) = match &e.action {
                    Action::Create => ("created", None),
                    Action::Update => ("updated", None),
                    Action::Keep => ("kept", None),
                    Action::FixMode { from } => ("mode-fixed", Some(format!("{from:o}"))),
                    Action::Remove => ("removed", None),
                };
                let note = notes.iter().find(|(rel, _)| *rel == e.rel);
                crate::summary::File {
                    path: e.rel.clone(),
                    action,
                    mode_was,
                    note: note.map(|(_, n)| n.clone()).unwrap_or_default(),
                    diff: e.diff.clone().filter(|_| dry),
                }
            })
            .collect()
    });
    let mut notes = vec![];
    if session.pending() {
        notes.push("an interrupted transaction is in the bundle; the next writing command completes or discards it first".into());
    }
    Summary {
        command: command.to_owned(),
        environment: p.resolved.env.to_string(),
        project: p.resolved.project.as_str().to_owned(),
        out: p.out_shown.display().to_string(),
        target: p.target.to_string(),
        dry_run: dry,
        recovered: session.recovered.as_ref().map(|r| match r {
            bundle::txn::Recovery::RolledForward { command } => {
                format!("completed the interrupted transaction of `{command}`")
            }
            bundle::txn::Recovery::RolledBack => {
                "discarded an interrupted transaction that had not committed".into()
            }
        }),
        changes: p.input_changes(),
        files,
        next: Some(next_step(p)),
        notes,
        apply: None,
        rollout: vec![],
    }
}

/// The host target's systemd drop-in (sandboxing, and the OpenSSL configuration with TLS,
/// installed into `config_dir`), when the bundle has one.
fn host_dropin_step(settings: &profile::EnvProfile, config_dir: &str) -> String {
    if !crate::systemd::enabled(settings, Target::Host) {
        return String::new();
    }
    format!(
        "; {tls}{dropin} as {path} (systemctl daemon-reload before the restart)",
        tls = if settings.tls.enabled {
            format!("with TLS also openssl.cnf into {config_dir}/, and ")
        } else {
            "and ".into()
        },
        dropin = crate::systemd::DROPIN,
        path = crate::systemd::install_path(settings),
    )
}

/// How to start the server with this bundle.
fn next_step(p: &Prepared) -> String {
    let shown = &p.out_shown;
    let settings = &p.resolved.settings;
    let conf = shown.join(render::REDIS_CONF);
    // TLS bundles start the server with the bundle's OpenSSL configuration (key-exchange groups).
    let openssl = if settings.tls.enabled {
        format!(
            "OPENSSL_CONF={} ",
            shown.join(crate::openssl::CNF).display()
        )
    } else {
        String::new()
    };
    let compose_up = if p.target == Target::Docker {
        crate::compose::next_step(settings, &p.resolved.project, p.resolved.env, shown)
    } else {
        String::new()
    };
    if p.target != Target::Kubernetes
        && let Some(steps) =
            crate::topology::steps::next_steps(settings, p.target, shown, &openssl, &compose_up)
    {
        return steps;
    }
    match p.target {
        Target::Local if settings.engine == profile::Engine::Dragonfly => format!(
            "set -a; . {}; set +a; {openssl}dragonfly --flagfile {}",
            shown.join("server.env").display(),
            shown.join("dragonfly.flags").display()
        ),
        Target::Local => format!(
            "{openssl}{} {}",
            settings.server_facts().server_program,
            conf.display()
        ),
        // Only what the server reads: ca.key and client.key never belong on the server.
        Target::Host if settings.engine == profile::Engine::Dragonfly => {
            use crate::dragonfly::{HOST_DIR, HOST_PACKAGE_FLAGFILE, HOST_USER};
            let tls = if settings.tls.enabled {
                format!(
                    ", tls/ca.crt, tls/server.crt and tls/server.key into {HOST_DIR}/tls/, and \
                     openssl.cnf into {HOST_DIR}/"
                )
            } else {
                String::new()
            };
            // The drop-in does what the package's unit lacks: no hand edit of its files.
            format!(
                "install dragonfly.flags, dragonfly.acl and server.env into {HOST_DIR}/{tls} \
                 (owner {HOST_USER}, modes kept), and {dropin} as {path}: it replaces the \
                 package's `dragonfly --flagfile={HOST_PACKAGE_FLAGFILE}` with \
                 --flagfile={HOST_DIR}/dragonfly.flags, loads EnvironmentFile={HOST_DIR}/server.env \
                 (the password, DFLY_requirepass) and sets UMask=0077; then `systemctl \
                 daemon-reload && systemctl restart dragonfly`",
                dropin = crate::systemd::DROPIN,
                path = crate::systemd::install_path(settings),
            )
        }
        Target::Host => {
            let host = settings.server_facts().host_layout;
            format!(
                "install redis.conf as {dir}/{conf} and users.acl into {dir}/, and tls/ca.crt, tls/server.crt and \
                 tls/server.key into {dir}/tls/ (owner {user}, modes kept), then restart {service}",
                dir = host.config_dir,
                conf = host.conf_file,
                user = host.user,
                service = host.service,
            ) + &host_dropin_step(settings, host.config_dir)
        }
        Target::Docker => compose_up,
        Target::Kubernetes => crate::kubernetes::next_step(settings, shown),
    }
}
