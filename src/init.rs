//! `redis-harden init` and `render`: each a short composition of the stages
//! inputs -> secrets and PKI -> render -> gate -> plan -> commit.

use std::io::Write;
use std::path::Path;

use rand::CryptoRng;

use crate::build;
use crate::bundle::manifest::{MANIFEST, Rotation};
use crate::bundle::{self, Committed, File, Plan, Session, layout};
use crate::error::Error;
use crate::gate;
use crate::profile;
use crate::render::{self, Target};

pub use crate::build::Mode;
pub use crate::inputs::{Options, Prepared, Runtime, default_out, out_dir, prepare};

/// `init` (mode Init) and `render` (mode Render): build in memory, gate, then commit.
pub fn run<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    // A restart happens only when another writer created the bundle while this one planned
    // on an empty directory; the second attempt locks before it reads anything.
    for _ in 0..3 {
        if attempt(opts, mode, rt, stdout, stderr)? == Committed::Done {
            return Ok(());
        }
    }
    Err(Error::Usage {
        message: "the bundle kept changing while this command planned".into(),
        help: "run the command again once the other redis-harden has finished".into(),
    })
}

fn attempt<R: CryptoRng + ?Sized>(
    opts: &Options,
    mode: Mode,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Committed, Error> {
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
        return Ok(Committed::Restart);
    }
    for w in &built.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    report(stdout, &p, &session, &plan, &built.notes)
        .and_then(|()| next_step(stdout, &p))
        .map_err(stdout_err)?;
    Ok(Committed::Done)
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
    if rendered {
        stale.extend(layout::rendered_paths());
    } else {
        let secret = |rel: &str| render::ARTIFACTS.iter().any(|a| a.path == rel && a.secret);
        keep.extend(
            layout::rendered_paths()
                .into_iter()
                .map(|r| (r.clone(), secret(&r))),
        );
    }
    keep.retain(|(r, _)| r != MANIFEST);
    Plan::new(&p.out_abs, files, &keep, &stale)?.finish(
        &p.out_abs,
        p.manifest(rotation),
        layout::dirs(p.target),
    )
}

pub fn stdout_err(source: std::io::Error) -> Error {
    Error::Write {
        path: "<stdout>".into(),
        source,
    }
}

/// The header, the input changes, and one line per file (plus diffs on a dry run).
pub fn report(
    out: &mut dyn Write,
    p: &Prepared,
    session: &Session,
    plan: &Plan,
    notes: &[(String, String)],
) -> std::io::Result<()> {
    let dry = session.dry_run();
    writeln!(
        out,
        "{}{} bundle for project {:?} in {} (target: {})",
        if dry {
            "dry run, nothing written: "
        } else {
            ""
        },
        p.resolved.env,
        p.resolved.project.as_str(),
        p.out_shown.display(),
        p.target
    )?;
    recovery_note(out, session)?;
    for change in p.input_changes() {
        writeln!(out, "  change {change}")?;
    }
    bundle::print_plan(out, plan, notes, dry)
}

/// Says what recovery did, or (dry run) that it is pending.
pub fn recovery_note(out: &mut dyn Write, session: &Session) -> std::io::Result<()> {
    if session.pending() {
        writeln!(
            out,
            "note: an interrupted transaction is in the bundle; the next writing command completes or discards it first"
        )?;
    }
    match &session.recovered {
        Some(bundle::txn::Recovery::RolledForward { command }) => writeln!(
            out,
            "recovered: completed the interrupted transaction of `{command}`"
        ),
        Some(bundle::txn::Recovery::RolledBack) => writeln!(
            out,
            "recovered: discarded an interrupted transaction that had not committed"
        ),
        None => Ok(()),
    }
}

fn next_step(out: &mut dyn Write, p: &Prepared) -> std::io::Result<()> {
    let shown = &p.out_shown;
    let conf = shown.join(render::REDIS_CONF);
    let settings = &p.resolved.settings;
    match p.target {
        Target::Local if settings.engine == profile::Engine::Dragonfly => writeln!(
            out,
            "next: set -a; . {}; set +a; dragonfly --flagfile {}",
            shown.join("server.env").display(),
            shown.join("dragonfly.flags").display()
        ),
        Target::Local => writeln!(out, "next: redis-server {}", conf.display()),
        // Only what the server reads: ca.key and client.key never belong on the server.
        Target::Host => writeln!(
            out,
            "next: install redis.conf and users.acl into /etc/redis/, and tls/ca.crt, tls/server.crt and \
             tls/server.key into /etc/redis/tls/ (owner redis, modes kept), then restart redis-server"
        ),
        Target::Docker => writeln!(
            out,
            "next: {}",
            crate::compose::next_step(settings, &p.resolved.project, p.resolved.env, shown)
        ),
    }
}
