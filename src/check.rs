//! `redis-harden check`: render in memory from the recorded inputs (or the flags given) and
//! compare with the bundle. Reports drift (with a unified diff, except for files that hold
//! secrets), a profile or template directory that no longer matches the manifest, missing,
//! stale and wrongly-moded files, unsafe directories, certificates near expiry and policy
//! findings. Never writes and never takes the lock.

use std::io::Write;

use rand::CryptoRng;
use serde::Serialize;
use time::Duration;

use crate::build::{self, Built, Mode};
use crate::bundle::{self, layout, manifest::MANIFEST, txn};
use crate::cli::Format;
use crate::error::Error;
use crate::gate;
use crate::init::{self, Options, Prepared, Runtime, stdout_err};
use crate::pki;
use crate::values::ConfPath;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: &'static str,
    /// `artifact`, as `audit` calls the file a finding is about.
    #[serde(rename = "artifact")]
    pub file: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
}

impl Finding {
    fn new(kind: &'static str, file: &str, message: impl Into<String>) -> Self {
        Finding {
            kind,
            file: file.to_owned(),
            message: message.into(),
            diff: None,
            rule: None,
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    environment: String,
    findings: &'a [Finding],
}

pub fn run<R: CryptoRng + ?Sized>(
    opts: &Options,
    format: Format,
    renew_days: u32,
    rt: &mut Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    rerun: &str,
) -> Result<(), Error> {
    let mut p = open(opts, rt)?;
    let moved = relocate(&mut p);
    let mut built = build::build(&p, Mode::Check, rt)?;
    // Rules accepted with --allow-insecure get their loud comment, as init wrote it.
    let (accepted, refused) = gate::judge(&built, &p);
    gate::accept(&mut built, &accepted, stderr);

    let mut findings = input_findings(&p);
    for (path, reason) in bundle::unsafe_dirs(&p.out_abs) {
        let rel = path
            .strip_prefix(&p.out_abs)
            .unwrap_or(&path)
            .display()
            .to_string();
        findings.push(Finding::new(
            "unsafe",
            if rel.is_empty() { "." } else { &rel },
            reason,
        ));
    }
    findings.extend(file_findings(&p, &built));
    findings.extend(expiry_findings(&p, renew_days, rt.now));
    for f in refused {
        findings.push(Finding {
            rule: Some(f.rule),
            ..Finding::new("policy", &f.artifact, format!("{:?}: {}", f.text, f.why))
        });
    }
    print(stdout, format, &p, &built, &findings, moved.as_deref()).map_err(stdout_err)?;
    if findings.is_empty() {
        return Ok(());
    }
    Err(Error::Check {
        summary: format!(
            "check found {} problem{} in {}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            p.out_shown.display()
        ),
        help: help(&findings, &built, &p, opts, rerun),
    })
}

/// The inputs of the bundle to check. A missing bundle or an interrupted transaction is
/// exit 2: there is nothing consistent to compare.
fn open<R: CryptoRng + ?Sized>(opts: &Options, rt: &Runtime<'_, R>) -> Result<Prepared, Error> {
    crate::inputs::check_rules(&opts.allow_insecure)?;
    let (out_abs, _) = init::out_dir(opts.out.as_deref(), opts.env, rt.cwd)?;
    let shown = opts
        .out
        .clone()
        .unwrap_or_else(|| init::default_out(opts.env));
    let shown = crate::values::visible(&shown.display().to_string());
    if !out_abs.exists() {
        return Err(Error::Usage {
            message: format!("--out {shown}: no such directory"),
            help: format!(
                "make the bundle first (`redis-harden init --env {} --out {shown}`), or point --out at it",
                opts.env
            ),
        });
    }
    if txn::pending(&out_abs) {
        return Err(Error::State {
            path: out_abs.join(txn::TXN_DIR),
            reason: "an interrupted (or running) transaction: the bundle may be half old, half new"
                .into(),
            help: format!(
                "run any writing command (e.g. `redis-harden render --env {} --out {shown}`) to complete or discard it, then check again",
                opts.env
            ),
        });
    }
    init::prepare(opts, rt.cwd)
}

/// A bundle checked out elsewhere (a CI clone) is compared as rendered for its recorded
/// directory; returns that directory when it differs from where the bundle is now.
fn relocate(p: &mut Prepared) -> Option<String> {
    let recorded = p.recorded.as_ref()?.rendered_for.clone();
    if recorded == p.out_conf.as_str() {
        return None;
    }
    p.out_conf = ConfPath::parse(&recorded).ok()?;
    Some(recorded)
}

/// The profile or template directory changed since the bundle was written.
fn input_findings(p: &Prepared) -> Vec<Finding> {
    let Some(m) = &p.recorded else { return vec![] };
    let mut out = vec![];
    let mut compare = |what: &str,
                       old: &Option<bundle::manifest::InputFile>,
                       new: &Option<bundle::manifest::InputFile>| {
        if old.as_ref().map(|i| &i.sha256) != new.as_ref().map(|i| &i.sha256) {
            let show = |i: &Option<bundle::manifest::InputFile>| {
                i.as_ref().map_or("(none)".into(), |i| {
                    format!("{} (sha256 {:.12})", i.path, i.sha256)
                })
            };
            out.push(Finding::new(
                "inputs",
                MANIFEST,
                format!(
                    "the {what} differs from the one the bundle was made with: {} -> {}",
                    show(old),
                    show(new)
                ),
            ));
        }
    };
    compare("profile", &m.profile, &p.profile_input);
    compare("template directory", &m.templates, &p.templates_input);
    out
}

/// Drift, missing, stale and wrongly-moded files.
fn file_findings(p: &Prepared, built: &Built) -> Vec<Finding> {
    let mut findings = vec![];
    for var in &built.missing_secrets {
        findings.push(Finding::new(
            "missing",
            crate::render::SECRETS_ENV,
            format!("lacks {var}"),
        ));
    }
    // A bundle without secrets (checked into git, secrets kept elsewhere): files that hold
    // secrets are neither compared nor required.
    let secret_skipped = |secret: bool| built.secretless && secret;
    for rel in &built.missing {
        let secret = layout::PKI.iter().any(|(r, s)| r == rel && *s);
        if !secret_skipped(secret) {
            findings.push(Finding::new("missing", rel, "is missing"));
        }
    }
    for spec in &built.files {
        let path = p.out_abs.join(&spec.rel);
        let on_disk = bundle::read(&p.out_abs, &spec.rel).ok().flatten();
        // Secret files of a secretless bundle: compared only when present and the master
        // key re-derives their content. Rendered from throwaway stand-ins for missing
        // secrets: comparing would only report noise.
        if (secret_skipped(spec.secret) && (on_disk.is_none() || !built.derived))
            || (!built.missing_secrets.is_empty() && spec.secret)
        {
            continue;
        }
        let Some((current, mode)) = on_disk else {
            let kind = if path.exists() { "invalid" } else { "missing" };
            findings.push(Finding::new(
                kind,
                &spec.rel,
                if path.exists() {
                    "is not a regular file"
                } else {
                    "is missing"
                },
            ));
            continue;
        };
        if current != spec.content {
            findings.push(drift(&spec.rel, &current, &spec.content, spec.secret));
        }
        // git keeps no modes (a checkout is 0644): only a full, deployed bundle is held to them.
        if mode != spec.mode && !built.secretless {
            findings.push(Finding::new(
                "mode",
                &spec.rel,
                format!("has mode {mode:o}, expected {:o}", spec.mode),
            ));
        }
    }
    for rel in layout::rendered_paths() {
        if !built.rendered.contains(&rel) && p.out_abs.join(&rel).exists() {
            findings.push(Finding::new(
                "stale",
                &rel,
                format!("does not belong to a {} bundle of this profile (left from another target or engine)", p.target),
            ));
        }
    }
    let recorded = |rel: &str| {
        p.recorded
            .as_ref()
            .is_some_and(|m| m.files.contains_key(rel))
    };
    for rel in crate::topology::layout::unused_server_files(&p.resolved.settings, p.target) {
        if p.out_abs.join(&rel).exists() {
            findings.push(Finding::new(
                "stale",
                &rel,
                if recorded(&rel) {
                    "is read by no node of this topology (each has its own pair; an earlier version wrote it): render removes it"
                } else {
                    "is read by no node of this topology (each has its own pair) and manifest.json does not list it: move it away"
                },
            ));
        }
    }
    findings
}

fn drift(rel: &str, current: &[u8], wanted: &[u8], secret: bool) -> Finding {
    let diff = (!secret).then(|| {
        let old = String::from_utf8_lossy(current);
        let new = String::from_utf8_lossy(wanted);
        similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
            .unified_diff()
            .context_radius(3)
            // Say which side is which: `-` lines are on disk, `+` lines would be rendered.
            .header(
                &format!("{rel} (in the bundle)"),
                &format!("{rel} (fresh render)"),
            )
            .to_string()
    });
    let message = if secret {
        "differs from what the profile and templates render (holds secrets: diff not shown)"
    } else {
        "differs from what the profile and templates render"
    };
    Finding {
        diff,
        ..Finding::new("drift", rel, message)
    }
}

fn expiry_findings(p: &Prepared, renew_days: u32, now: time::OffsetDateTime) -> Vec<Finding> {
    let window = Duration::days(i64::from(renew_days));
    let mut findings = vec![];
    let server = crate::topology::layout::has_server_pair(&p.resolved.settings, p.target);
    let certs = [pki::CA_CERT, pki::SERVER_CERT, pki::CLIENT_CERT];
    for rel in certs
        .into_iter()
        .filter(|r| server || *r != pki::SERVER_CERT)
    {
        let Ok(pem) = std::fs::read_to_string(p.out_abs.join(rel)) else {
            continue;
        };
        let Ok(info) = pki::CertInfo::parse(&pem) else {
            findings.push(Finding::new(
                "invalid",
                rel,
                "is not a valid PEM certificate",
            ));
            continue;
        };
        let left = info.not_after - now;
        if left <= window {
            let message = if left.is_negative() {
                format!("expired on {}", info.not_after.date())
            } else {
                format!(
                    "expires on {} ({} days left, renewal window {renew_days} days)",
                    info.not_after.date(),
                    left.whole_days()
                )
            };
            findings.push(Finding::new("expiry", rel, message));
        }
    }
    findings
}

fn print(
    out: &mut dyn Write,
    format: Format,
    p: &Prepared,
    built: &Built,
    findings: &[Finding],
    moved: Option<&str>,
) -> std::io::Result<()> {
    if format == Format::Json {
        let report = Report {
            ok: findings.is_empty(),
            environment: p.resolved.env.to_string(),
            findings,
        };
        let json = serde_json::to_string_pretty(&report).expect("report serializes");
        return writeln!(out, "{json}");
    }
    if findings.is_empty() {
        writeln!(out, "ok: every file matches the profile and templates")?;
    }
    for f in findings {
        match f.rule {
            Some(rule) => writeln!(out, "{}: {} [{rule}]: {}", f.kind, f.file, f.message)?,
            None => writeln!(out, "{}: {} {}", f.kind, f.file, f.message)?,
        }
        if let Some(diff) = &f.diff {
            write!(out, "{diff}")?;
        }
    }
    if built.secretless {
        let (key, checked) = if built.derived {
            ("", "checked where present")
        } else {
            (" and no master key", "not checked")
        };
        writeln!(
            out,
            "note: no secrets.env{key}: files that hold secrets were {checked}"
        )?;
    }
    if let Some(dir) = moved {
        writeln!(
            out,
            "note: compared as rendered for {dir}, where this bundle was written; `render` re-points its paths to where it is now"
        )?;
    }
    Ok(())
}

/// The command that fixes the findings, with the bundle's recorded inputs.
fn help(findings: &[Finding], built: &Built, p: &Prepared, opts: &Options, rerun: &str) -> String {
    let missing = |f: &&Finding| f.kind == "missing";
    if findings
        .iter()
        .filter(missing)
        .any(|f| f.file == crate::render::SECRETS_ENV)
    {
        return "restore secrets.env from a backup: init refuses to replace the secrets of an existing bundle, \
                because that would lock clients out and lose the encryption key"
            .to_string();
    }
    if findings
        .iter()
        .filter(missing)
        .any(|f| !built.rendered.contains(&f.file))
    {
        return format!(
            "run `redis-harden {}` to create the missing keys and secrets",
            fix_command("init", p, opts, rerun)
        );
    }
    if findings.iter().all(|f| f.kind == "expiry") {
        return format!(
            "re-issue the certificates: `redis-harden {}`",
            fix_command("rotate certs", p, opts, rerun)
        );
    }
    if findings.iter().any(|f| f.kind == "unsafe") {
        return "make the directories named above owner-writable real directories (no symlinks), then run check again".into();
    }
    format!(
        "run `redis-harden {}` to bring the files in line (it never touches secrets or keys)",
        fix_command("render", p, opts, rerun)
    )
}

/// `verb` with this run's flags; a bundle with a manifest needs none beyond --env and --out
/// (every other input is recorded), unless this check was given different ones.
fn fix_command(verb: &str, p: &Prepared, opts: &Options, rerun: &str) -> String {
    if p.recorded.is_none() {
        return rerun.replacen("check", verb, 1);
    }
    let mut words = vec![verb.to_owned(), "--env".into(), p.resolved.env.to_string()];
    words.extend(["--out".into(), p.out_shown.display().to_string()]);
    if opts.target.is_some() {
        words.extend(["--target".into(), p.target.to_string()]);
    }
    if let Some(file) = &opts.profile {
        words.extend(["--profile".into(), file.display().to_string()]);
    }
    for s in &opts.sets {
        words.extend(["--set".into(), s.clone()]);
    }
    if let Some(dir) = &opts.templates {
        words.extend(["--templates".into(), dir.display().to_string()]);
    }
    for r in &opts.allow_insecure {
        words.extend(["--allow-insecure".into(), r.clone()]);
    }
    if let Some(file) = &opts.master_key_file {
        words.extend(["--master-key-file".into(), file.display().to_string()]);
    }
    crate::values::visible(&words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
}

fn quote(a: &str) -> String {
    if a.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c))
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}
