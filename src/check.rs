//! `redis-harden check`: render in memory and compare with the output directory. Reports
//! drift (with a unified diff, except for files that hold secrets), missing files, wrong
//! modes, certificates near expiry and policy findings. Never writes.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use rand::CryptoRng;
use serde::Serialize;
use time::Duration;

use crate::cli::Format;
use crate::error::Error;
use crate::init::{self, Mode, Options, Runtime};
use crate::pki;

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

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    environment: String,
    findings: &'a [Finding],
}

/// Files whose content is secret (mode 0600 by construction): drift is reported, never shown.
fn is_secret(mode: u32) -> bool {
    mode == 0o600
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
    let prepared = init::prepare(opts, rt.cwd)?;
    let mut bundle = init::build(&prepared, opts.target, Mode::Check, rt)?;
    // Rules accepted with --allow-insecure get their loud comment, as init wrote it.
    let (accepted, refused) = init::judge(&bundle, &prepared.resolved, opts);
    init::accept(&mut bundle, &accepted, stderr);
    let mut findings = vec![];

    // A bundle without secrets (checked into git, secrets kept elsewhere): files that hold
    // secrets are mode 0600 by construction, and are neither compared nor required.
    let secret_file =
        |rel: &str, mode: u32| bundle.secretless && (is_secret(mode) || rel.ends_with(".key"));
    for var in &bundle.missing_secrets {
        findings.push(Finding {
            kind: "missing",
            file: crate::render::SECRETS_ENV.to_owned(),
            message: format!("lacks {var}"),
            diff: None,
            rule: None,
        });
    }
    for rel in bundle.missing.iter().filter(|r| !secret_file(r, 0)) {
        findings.push(Finding {
            kind: "missing",
            file: (*rel).to_owned(),
            message: "is missing".into(),
            diff: None,
            rule: None,
        });
    }
    for spec in bundle.files.iter() {
        let path = prepared.out_abs.join(&spec.rel);
        let present = std::fs::symlink_metadata(&path).is_ok();
        // Secret files of a secretless bundle: never required; compared only when present and
        // the master key re-derives their content.
        if secret_file(&spec.rel, spec.mode) && (!present || !bundle.derived) {
            continue;
        }
        // Rendered from throwaway stand-ins for the missing secrets: comparing would only
        // report noise (the missing secrets themselves are reported above).
        if !bundle.missing_secrets.is_empty() && spec.mode == 0o600 {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            findings.push(Finding {
                kind: "missing",
                file: spec.rel.clone(),
                message: "is missing".into(),
                diff: None,
                rule: None,
            });
            continue;
        };
        let current = std::fs::read(&path).unwrap_or_default();
        if current != spec.content {
            let diff = (!is_secret(spec.mode)).then(|| {
                let old = String::from_utf8_lossy(&current);
                let new = String::from_utf8_lossy(&spec.content);
                similar::TextDiff::from_lines(old.as_ref(), new.as_ref())
                    .unified_diff()
                    .context_radius(3)
                    // Say which side is which: `-` lines are on disk, `+` lines would be rendered.
                    .header(
                        &format!("{} (in the bundle)", spec.rel),
                        &format!("{} (fresh render)", spec.rel),
                    )
                    .to_string()
            });
            findings.push(Finding {
                kind: "drift",
                file: spec.rel.clone(),
                message: if diff.is_some() {
                    "differs from what the profile and templates render".into()
                } else {
                    "differs from what the profile and templates render (holds secrets: diff not shown)".into()
                },
                diff,
                rule: None,
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        // git keeps no modes (a checkout is 0644): only a full, deployed bundle is held to them.
        if mode != spec.mode && !bundle.secretless {
            findings.push(Finding {
                kind: "mode",
                file: spec.rel.clone(),
                message: format!("has mode {mode:o}, expected {:o}", spec.mode),
                diff: None,
                rule: None,
            });
        }
    }
    let window = Duration::days(i64::from(renew_days));
    for rel in [pki::CA_CERT, pki::SERVER_CERT, pki::CLIENT_CERT] {
        let Ok(pem) = std::fs::read_to_string(prepared.out_abs.join(rel)) else {
            continue;
        };
        let Ok(info) = pki::CertInfo::parse(&pem) else {
            findings.push(Finding {
                kind: "invalid",
                file: rel.to_owned(),
                message: "is not a valid PEM certificate".into(),
                diff: None,
                rule: None,
            });
            continue;
        };
        let left = info.not_after - rt.now;
        if left <= window {
            findings.push(Finding {
                kind: "expiry",
                file: rel.to_owned(),
                message: if left.is_negative() {
                    format!("expired on {}", info.not_after.date())
                } else {
                    format!(
                        "expires on {} ({} days left, renewal window {renew_days} days)",
                        info.not_after.date(),
                        left.whole_days()
                    )
                },
                diff: None,
                rule: None,
            });
        }
    }
    for f in refused {
        findings.push(Finding {
            kind: "policy",
            file: f.artifact.clone(),
            message: format!("{:?}: {}", f.text, f.why),
            diff: None,
            rule: Some(f.rule),
        });
    }

    let env = prepared.resolved.env;
    let out = &prepared.out_shown;
    if bundle.secretless && format == Format::Text {
        let _ = writeln!(
            stdout,
            "note: no secrets.env{}: files that hold secrets were {}",
            if bundle.derived {
                ""
            } else {
                " and no master key"
            },
            if bundle.derived {
                "checked where present"
            } else {
                "not checked"
            }
        );
    }
    let written = match format {
        Format::Json => {
            let report = Report {
                ok: findings.is_empty(),
                environment: env.to_string(),
                findings: &findings,
            };
            writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            )
        }
        Format::Text => print_text(stdout, &findings),
    };
    written.map_err(|source| Error::Write {
        path: "<stdout>".into(),
        source,
    })?;
    if findings.is_empty() {
        return Ok(());
    }
    let needs_init = findings
        .iter()
        .any(|f| f.kind == "missing" && !bundle.rendered.contains(&f.file));
    let lost_secrets = findings
        .iter()
        .any(|f| f.kind == "missing" && f.file == crate::render::SECRETS_ENV);
    let help = if lost_secrets {
        "restore secrets.env from a backup: init refuses to replace the secrets of an existing bundle, \
         because that would lock clients out and lose the encryption key"
            .to_string()
    } else if needs_init {
        format!(
            "run `redis-harden {}` to create the missing keys and secrets",
            rerun.replacen("check", "init", 1)
        )
    } else if findings.iter().all(|f| f.kind == "expiry") {
        format!(
            "re-issue the certificates: `redis-harden {}`",
            rerun.replacen("check", "rotate certs", 1)
        )
    } else {
        format!(
            "run `redis-harden {}` to bring the files in line (it never touches secrets or keys)",
            rerun.replacen("check", "render", 1)
        )
    };
    Err(Error::Check {
        summary: format!(
            "check found {} problem{} in {}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            out.display()
        ),
        help,
    })
}

fn print_text(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "ok: every file matches the profile and templates");
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
    Ok(())
}
