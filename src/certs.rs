//! `redis-harden certs status`: every certificate of a bundle, of files, or of a live
//! endpoint, with its names, expiry and key, and whether its chain verifies.
//!
//! Exit 1 when a certificate expires within `--warn-days` (or has expired) or a chain does not
//! verify, so the command can run from cron or CI as it is. `--format prometheus` writes
//! node_exporter textfile metrics; the expiry metric is the not-after time as a Unix
//! timestamp (as the SSL exporters do), so an alert reads
//! `redis_harden_cert_expiry_timestamp_seconds - time() < 30 * 86400`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::error::Error;
use crate::init;
use crate::pki;
use crate::profile::Environment;
use crate::tlsprobe;

/// How `certs status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

/// What `certs status` looks at and how it reports.
#[derive(Debug, Clone)]
pub struct Options {
    pub env: Option<Environment>,
    pub out: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub connect: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub warn_days: u32,
    pub format: Format,
    /// Write the report here (atomically) instead of to stdout.
    pub output: Option<PathBuf>,
}

/// One certificate, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Cert {
    /// The file it came from (relative to the bundle for a bundle), or HOST:PORT.
    pub source: String,
    /// 1-based position in its file or presented chain.
    pub position: usize,
    pub subject: String,
    pub sans: Vec<String>,
    pub issuer: String,
    /// Hex, as `openssl x509 -serial` prints it (lowercase).
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub not_after_unix: i64,
    /// Whole days until not-after, rounded down: negative once expired.
    pub days_left: i64,
    pub key_type: String,
    pub ca: bool,
    pub chain: Chain,
    /// Expires within the warning window, or has expired.
    pub expiring: bool,
}

/// Whether a certificate verifies against the CA certificates it was checked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Chain {
    Ok { by: String },
    Failed { reason: String },
    NotChecked { reason: String },
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    environment: Option<String>,
    warn_days: u32,
    certificates: &'a [Cert],
    problems: &'a [String],
}

/// A parsed certificate with where it came from.
struct Loaded {
    source: String,
    position: usize,
    der: Vec<u8>,
}

impl Loaded {
    fn parsed(&self) -> X509Certificate<'_> {
        X509Certificate::from_der(&self.der)
            .expect("parsed once when loaded")
            .1
    }
}

/// Reads every certificate of a PEM file. Text outside the PEM blocks is ignored.
fn load_pem(path: &Path, source: &str) -> Result<Vec<Loaded>, Error> {
    let bad = |reason: String| Error::File {
        path: path.to_path_buf(),
        reason,
        help: "pass a PEM certificate file (-----BEGIN CERTIFICATE-----)".into(),
    };
    let bytes = std::fs::read(path).map_err(|e| Error::File {
        path: path.to_path_buf(),
        reason: format!("cannot be read: {e}"),
        help: "check the path; for a bundle pass --env ENV (and --out DIR if it is not deploy/ENV)"
            .into(),
    })?;
    let mut out = vec![];
    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let pem = pem.map_err(|e| bad(format!("holds a broken PEM block: {e}")))?;
        if pem.label != "CERTIFICATE" {
            continue;
        }
        X509Certificate::from_der(&pem.contents).map_err(|e| {
            bad(format!(
                "certificate {} is not valid X.509: {e}",
                out.len() + 1
            ))
        })?;
        out.push(Loaded {
            source: source.to_owned(),
            position: out.len() + 1,
            der: pem.contents,
        });
    }
    if out.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(out)
}

/// "ECDSA P-256", "RSA 2048", "Ed25519"...
pub fn key_type(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                Some("1.3.132.0.34") => "ECDSA P-384".into(),
                Some("1.3.132.0.35") => "ECDSA P-521".into(),
                Some(other) => format!("EC ({other}, {} bits)", point.key_size()),
                None => format!("EC ({} bits)", point.key_size()),
            }
        }
        _ if alg == "1.3.101.112" => "Ed25519".into(),
        _ if alg == "1.3.101.113" => "Ed448".into(),
        _ => format!("unknown ({alg})"),
    }
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return vec![];
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
            GeneralName::IPAddress(b) => {
                let ip = <[u8; 4]>::try_from(*b)
                    .map(std::net::IpAddr::from)
                    .or_else(|_| <[u8; 16]>::try_from(*b).map(std::net::IpAddr::from))
                    .ok()?;
                Some(format!("IP:{ip}"))
            }
            GeneralName::RFC822Name(m) => Some(format!("email:{m}")),
            GeneralName::URI(u) => Some(format!("URI:{u}")),
            _ => None,
        })
        .collect()
}

fn timestamp(t: x509_parser::time::ASN1Time) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn valid_at(cert: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
    let v = cert.validity();
    timestamp(v.not_before) <= now && now <= timestamp(v.not_after)
}

/// Verifies `cert` against the CA certificates `cas`: a CA whose subject is the certificate's
/// issuer must have signed it, and both must be valid now. A self-signed CA verifies itself.
pub fn verify(
    cert: &X509Certificate<'_>,
    cas: &[X509Certificate<'_>],
    now: OffsetDateTime,
) -> Chain {
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    if self_issued && cert.verify_signature(None).is_ok() {
        return if !cert.is_ca() {
            Chain::Failed {
                reason: "self-signed, and not a CA".into(),
            }
        } else if valid_at(cert, now) {
            Chain::Ok {
                by: "self-signed CA".into(),
            }
        } else {
            Chain::Failed {
                reason: "outside its validity period".into(),
            }
        };
    }
    let issuers: Vec<_> = cas
        .iter()
        .filter(|ca| ca.subject().as_raw() == cert.issuer().as_raw())
        .collect();
    if issuers.is_empty() {
        return Chain::Failed {
            reason: format!(
                "its issuer ({}) is not among the CA certificates",
                cert.issuer()
            ),
        };
    }
    let Some(ca) = issuers
        .iter()
        .find(|ca| cert.verify_signature(Some(ca.public_key())).is_ok())
    else {
        return Chain::Failed {
            reason: format!(
                "not signed by the CA named {} that it was checked against (a certificate from another CA with the same name?)",
                cert.issuer()
            ),
        };
    };
    if !ca.is_ca() {
        Chain::Failed {
            reason: "its issuer is not a CA certificate".into(),
        }
    } else if !valid_at(ca, now) {
        Chain::Failed {
            reason: "the CA that signed it is outside its validity period".into(),
        }
    } else if !valid_at(cert, now) {
        Chain::Failed {
            reason: "outside its validity period".into(),
        }
    } else {
        Chain::Ok {
            by: ca.subject().to_string(),
        }
    }
}

fn describe(l: &Loaded, chain: Chain, now: OffsetDateTime, warn_days: u32) -> Cert {
    let cert = l.parsed();
    let not_after = timestamp(cert.validity().not_after);
    let left = not_after - now;
    let days_left = left.whole_seconds().div_euclid(86_400);
    Cert {
        source: l.source.clone(),
        position: l.position,
        subject: cert.subject().to_string(),
        sans: sans(&cert),
        issuer: cert.issuer().to_string(),
        serial: hex::encode(cert.raw_serial()),
        not_before: rfc3339(timestamp(cert.validity().not_before)),
        not_after: rfc3339(not_after),
        not_after_unix: not_after.unix_timestamp(),
        days_left,
        key_type: key_type(&cert),
        ca: cert.is_ca(),
        chain,
        expiring: left <= time::Duration::days(i64::from(warn_days)),
    }
}

/// Checks every loaded certificate: CA certificates (those of `ca_set`, or any marked CA)
/// verify themselves, the rest verify against them.
fn check_all(
    loaded: &[Loaded],
    ca_set: &[Loaded],
    now: OffsetDateTime,
    warn_days: u32,
) -> Vec<Cert> {
    let cas: Vec<_> = ca_set.iter().map(Loaded::parsed).collect();
    loaded
        .iter()
        .map(|l| {
            let chain = if cas.is_empty() {
                let cert = l.parsed();
                if cert.subject().as_raw() == cert.issuer().as_raw() {
                    verify(&cert, &[], now)
                } else {
                    Chain::NotChecked {
                        reason: "no CA certificate given (pass --ca FILE)".into(),
                    }
                }
            } else {
                verify(&l.parsed(), &cas, now)
            };
            describe(l, chain, now, warn_days)
        })
        .collect()
}

pub fn run(
    opts: &Options,
    now: OffsetDateTime,
    cwd: &Path,
    stdout: &mut dyn Write,
) -> Result<(), Error> {
    let env = opts.env.map(|e| e.to_string());
    let (certs, problems) = match gather(opts, now, cwd) {
        Ok(found) => found,
        // A textfile collector keeps serving the last file it read: a run that could not
        // read the certificates says so (last_run_success 0) instead of leaving stale or
        // empty metrics. Usage errors write nothing.
        Err(e) if opts.format == Format::Prometheus && !matches!(e, Error::Usage { .. }) => {
            emit(opts, cwd, stdout, &prometheus_failed(env.as_deref(), now))?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let text = match opts.format {
        Format::Text => text(&certs, &problems, opts.warn_days),
        Format::Json => {
            let report = Report {
                ok: problems.is_empty(),
                environment: env.clone(),
                warn_days: opts.warn_days,
                certificates: &certs,
                problems: &problems,
            };
            serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
        }
        Format::Prometheus => prometheus(&certs, env.as_deref().unwrap_or(""), now),
    };
    emit(opts, cwd, stdout, &text)?;
    if problems.is_empty() {
        return Ok(());
    }
    let expiring = certs.iter().any(|c| c.expiring);
    Err(Error::Check {
        summary: format!(
            "certs status found {} problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
        help: if expiring {
            "re-issue the expiring certificates (`redis-harden rotate certs`, or move the pair out of tls/ and run `redis-harden init`), then reload the server".into()
        } else {
            "a certificate that does not verify against ca.crt will be refused by clients and servers: re-issue it from the bundle's CA".into()
        },
    })
}

/// Writes the report to stdout, or to `--output FILE` through a temp file and a rename, so
/// a reader (node_exporter's textfile collector) never sees a partial file.
fn emit(opts: &Options, cwd: &Path, stdout: &mut dyn Write, text: &str) -> Result<(), Error> {
    let Some(out) = &opts.output else {
        return stdout
            .write_all(text.as_bytes())
            .map_err(|source| Error::Write {
                path: "<stdout>".into(),
                source,
            });
    };
    let path = cwd.join(out);
    let name = path.file_name().ok_or_else(|| Error::Usage {
        message: format!("--output {}: not a file name", out.display()),
        help: "e.g. --output /var/lib/prometheus/node-exporter/redis-harden.prom".into(),
    })?;
    // Same directory, so the rename is atomic; a dot name, which the collector ignores.
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            // Metrics are public: the collector runs as its own user.
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        Error::Write {
            path: path.clone(),
            source,
        }
    })
}

/// Every certificate the options name, checked, and the problems found.
fn gather(
    opts: &Options,
    now: OffsetDateTime,
    cwd: &Path,
) -> Result<(Vec<Cert>, Vec<String>), Error> {
    if opts.connect.is_some() && !opts.files.is_empty() {
        return Err(Error::Usage {
            message: "certs status takes certificate files or --connect, not both".into(),
            help: "run it twice: once with the files, once with --connect HOST:PORT".into(),
        });
    }
    let bundle = bundle_dir(opts, cwd)?;
    let mut problems = vec![];
    let certs = if let Some(target) = &opts.connect {
        connect(opts, target, bundle.as_deref(), cwd, now, &mut problems)?
    } else if !opts.files.is_empty() {
        let mut loaded = vec![];
        for f in &opts.files {
            loaded.extend(load_pem(&cwd.join(f), &f.display().to_string())?);
        }
        let ca_set = match &opts.ca {
            Some(ca) => load_pem(&cwd.join(ca), &ca.display().to_string())?,
            None => loaded
                .iter()
                .filter(|l| l.parsed().is_ca())
                .map(|l| Loaded {
                    source: l.source.clone(),
                    position: l.position,
                    der: l.der.clone(),
                })
                .collect(),
        };
        check_all(&loaded, &ca_set, now, opts.warn_days)
    } else {
        let Some(dir) = &bundle else {
            return Err(Error::Usage {
                message: "certs status needs a bundle (--env ENV [--out DIR]), certificate files, or --connect HOST:PORT".into(),
                help: "e.g. `redis-harden certs status --env production`".into(),
            });
        };
        let mut loaded = vec![];
        for rel in bundle_certs(dir) {
            loaded.extend(load_pem(&dir.join(&rel), &rel)?);
        }
        // Every certificate in ca.crt is a trust anchor: during a CA rotation it holds two.
        let ca_set: Vec<Loaded> = loaded
            .iter()
            .filter(|l| l.source == pki::CA_CERT)
            .map(|l| Loaded {
                source: l.source.clone(),
                position: l.position,
                der: l.der.clone(),
            })
            .collect();
        check_all(&loaded, &ca_set, now, opts.warn_days)
    };

    for c in &certs {
        let name = format!("{}{}: {}", c.source, position_suffix(&certs, c), c.subject);
        if c.days_left < 0 || c.not_after_unix < now.unix_timestamp() {
            problems.push(format!("{name} expired on {}", &c.not_after[..10]));
        } else if c.expiring {
            problems.push(format!(
                "{name} expires on {} ({} days left, warning window {} days)",
                &c.not_after[..10],
                c.days_left,
                opts.warn_days
            ));
        }
        if let Chain::Failed { reason } = &c.chain {
            problems.push(format!("{name}: chain does not verify: {reason}"));
        }
    }

    Ok((certs, problems))
}

/// A bundle's certificates: the CA, the server's (one server's, or the one Kubernetes pods
/// share; a pair an earlier version left beside the nodes' own is unused and not listed),
/// every node's (`nodes/NAME/tls/node.crt`, in name order), and the application's client
/// certificate.
fn bundle_certs(dir: &Path) -> Vec<String> {
    use crate::topology::layout;
    let mut nodes: Vec<String> = std::fs::read_dir(dir.join(layout::NODES_DIR))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| layout::cert(&e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    let mut rels = vec![pki::CA_CERT.to_owned()];
    if nodes.is_empty() {
        rels.push(pki::SERVER_CERT.to_owned());
    }
    rels.extend(nodes);
    rels.push(pki::CLIENT_CERT.to_owned());
    rels
}

/// " (2 of 3)" when the source holds more than one certificate.
fn position_suffix(all: &[Cert], c: &Cert) -> String {
    let n = all.iter().filter(|x| x.source == c.source).count();
    if n > 1 {
        format!(" ({} of {n})", c.position)
    } else {
        String::new()
    }
}

/// The bundle directory, when `--env` or `--out` names one.
fn bundle_dir(opts: &Options, cwd: &Path) -> Result<Option<PathBuf>, Error> {
    match (opts.env, &opts.out) {
        (Some(env), out) => Ok(Some(init::out_dir(out.as_deref(), env, cwd)?.0)),
        (None, Some(out)) => Ok(Some(cwd.join(out))),
        (None, None) => Ok(None),
    }
}

/// Handshakes with HOST:PORT and reports the chain it presents, verified (name included)
/// against the CA certificates.
fn connect(
    opts: &Options,
    target: &str,
    bundle: Option<&Path>,
    cwd: &Path,
    now: OffsetDateTime,
    problems: &mut Vec<String>,
) -> Result<Vec<Cert>, Error> {
    let (host, port) = split_host_port(target).ok_or_else(|| Error::Usage {
        message: format!(
            "--connect {}: expected HOST:PORT",
            crate::values::visible(target)
        ),
        help: "e.g. --connect 127.0.0.1:6379 or --connect [::1]:6379".into(),
    })?;
    let ca_loaded = load_ca(opts, bundle, cwd)?;
    let roots: Vec<_> = ca_loaded
        .iter()
        .map(|l| rustls::pki_types::CertificateDer::from(l.der.clone()))
        .collect();
    let identity = client_identity(opts, bundle, cwd)?;
    let hs = handshake(target, &host, port, &roots, identity.as_ref())?;
    if let Some(e) = &hs.error {
        problems.push(format!(
            "{target}: the TLS handshake failed after the server presented its chain: {e}"
        ));
    }
    let cas: Vec<_> = ca_loaded.iter().map(Loaded::parsed).collect();
    let presented = presented_chain(target, &hs.chain)?;
    Ok(presented
        .iter()
        .map(|l| {
            let chain = if l.position > 1 {
                Chain::NotChecked {
                    reason: "checked as part of the leaf's chain".into(),
                }
            } else {
                match &hs.verify_error {
                    // rustls (WebPKI) checked the chain and the name; name the CA for the report.
                    None => match verify(&l.parsed(), &cas, now) {
                        Chain::Ok { by } => Chain::Ok { by },
                        _ => Chain::Ok {
                            by: "the CA file".into(),
                        },
                    },
                    Some(e) => Chain::Failed {
                        reason: format!("{e} (checked for {host})"),
                    },
                }
            };
            describe(l, chain, now, opts.warn_days)
        })
        .collect())
}

/// `--FLAG FILE` relative to the working directory, else the bundle's file `rel`.
fn flag_or_bundle(
    flag: Option<&PathBuf>,
    bundle: Option<&Path>,
    cwd: &Path,
    rel: &str,
) -> Option<PathBuf> {
    flag.map(|p| cwd.join(p))
        .or_else(|| bundle.map(|b| b.join(rel)))
}

/// The CA certificates the server's chain must lead to: `--ca`, else the bundle's.
fn load_ca(opts: &Options, bundle: Option<&Path>, cwd: &Path) -> Result<Vec<Loaded>, Error> {
    let Some(ca) = flag_or_bundle(opts.ca.as_ref(), bundle, cwd, pki::CA_CERT) else {
        return Err(Error::Usage {
            message: "--connect needs the CA certificate to verify the server".into(),
            help: "pass --env ENV (the bundle's tls/ca.crt) or --ca FILE".into(),
        });
    };
    load_pem(&ca, &ca.display().to_string())
}

/// The client certificate and key for mTLS (`--cert`/`--key`, else the bundle's), when both
/// exist: a server that asks for none is still reported.
fn client_identity(
    opts: &Options,
    bundle: Option<&Path>,
    cwd: &Path,
) -> Result<Option<tlsprobe::Identity>, Error> {
    let cert = flag_or_bundle(opts.cert.as_ref(), bundle, cwd, pki::CLIENT_CERT);
    let key = flag_or_bundle(opts.key.as_ref(), bundle, cwd, pki::CLIENT_KEY);
    match (cert, key) {
        (Some(c), Some(k)) if c.exists() && k.exists() => tlsprobe::Identity::load(&c, &k)
            .map(Some)
            .map_err(|reason| Error::Usage {
                message: reason,
                help: "pass the client certificate and key with --cert FILE --key FILE".into(),
            }),
        _ => Ok(None),
    }
}

/// One handshake (TLSv1.3 or 1.2); an error when the server presented no certificate.
fn handshake(
    target: &str,
    host: &str,
    port: u16,
    roots: &[rustls::pki_types::CertificateDer<'static>],
    identity: Option<&tlsprobe::Identity>,
) -> Result<tlsprobe::Handshake, Error> {
    let hs = tlsprobe::handshake(
        host,
        port,
        roots,
        identity,
        &[tlsprobe::Version::Tls13, tlsprobe::Version::Tls12],
        Duration::from_secs(10),
    )
    .map_err(|reason| Error::Usage {
        message: format!("--connect {target}: {reason}"),
        help: "check that the server is running and listens on that address".into(),
    })?;
    if hs.chain.is_empty() {
        return Err(Error::Usage {
            message: format!(
                "--connect {target}: the TLS handshake failed before the server presented a certificate: {}",
                hs.error.as_deref().unwrap_or("no certificate")
            ),
            help: "check that HOST:PORT is the TLS port (tls-port) and that the server speaks TLS"
                .into(),
        });
    }
    Ok(hs)
}

/// The presented chain, leaf first; every certificate must parse as X.509.
fn presented_chain(target: &str, chain: &[Vec<u8>]) -> Result<Vec<Loaded>, Error> {
    chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509Certificate::from_der(der).map_err(|e| Error::Usage {
                message: format!(
                    "{target}: the server presented a certificate that is not valid X.509: {e}"
                ),
                help: "check the server's tls-cert-file".into(),
            })?;
            Ok(Loaded {
                source: target.to_owned(),
                position: i + 1,
                der: der.clone(),
            })
        })
        .collect()
}

/// "HOST:PORT" or "[V6]:PORT".
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse().ok()?;
    if host.is_empty() || (host.contains(':') && !host.starts_with('[')) {
        return None;
    }
    Some((host.to_owned(), port))
}

fn text(certs: &[Cert], problems: &[String], warn_days: u32) -> String {
    let mut out = String::new();
    for c in certs {
        out.push_str(&format!("{}{}\n", c.source, position_suffix(certs, c)));
        let sans = if c.sans.is_empty() {
            "-".into()
        } else {
            c.sans.join(", ")
        };
        let left = if c.days_left < 0 {
            format!("expired {} days ago", -c.days_left)
        } else {
            format!("{} days left", c.days_left)
        };
        let chain = match &c.chain {
            Chain::Ok { by } => format!("ok ({by})"),
            Chain::Failed { reason } => format!("DOES NOT VERIFY: {reason}"),
            Chain::NotChecked { reason } => format!("not checked: {reason}"),
        };
        for (k, v) in [
            ("subject", c.subject.clone()),
            ("SANs", sans),
            ("issuer", c.issuer.clone()),
            ("serial", c.serial.clone()),
            ("not after", format!("{} ({left})", c.not_after)),
            ("key", c.key_type.clone()),
            ("chain", chain),
        ] {
            out.push_str(&format!("  {k:<10} {v}\n"));
        }
    }
    if problems.is_empty() {
        out.push_str(&format!(
            "ok: {} certificate{}; none expires within {warn_days} days, and every checked chain verifies\n",
            certs.len(),
            if certs.len() == 1 { "" } else { "s" }
        ));
    }
    for p in problems {
        out.push_str(&format!("problem: {p}\n"));
    }
    out
}

/// A label value in the Prometheus text exposition format.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metric names; one place, so the docs and the tests name the same series.
pub const METRIC_EXPIRY: &str = "redis_harden_cert_expiry_timestamp_seconds";
pub const METRIC_CHAIN_OK: &str = "redis_harden_cert_chain_ok";
pub const METRIC_LAST_RUN_SUCCESS: &str = "redis_harden_certs_last_run_success";
pub const METRIC_LAST_RUN: &str = "redis_harden_certs_last_run_timestamp_seconds";

/// HELP and TYPE of one gauge.
fn gauge_header(out: &mut String, name: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
}

/// The run's own gauges: whether it read and checked every certificate, and when.
fn last_run(out: &mut String, env: &str, ok: bool, now: OffsetDateTime) {
    let env = escape_label(env);
    gauge_header(
        out,
        METRIC_LAST_RUN_SUCCESS,
        "1 when the last run read and checked every certificate, 0 when it could not (see its stderr).",
    );
    out.push_str(&format!(
        "{METRIC_LAST_RUN_SUCCESS}{{env=\"{env}\"}} {}\n",
        u8::from(ok)
    ));
    gauge_header(
        out,
        METRIC_LAST_RUN,
        "When the last run happened, as a Unix timestamp in seconds.",
    );
    out.push_str(&format!(
        "{METRIC_LAST_RUN}{{env=\"{env}\"}} {}\n",
        now.unix_timestamp()
    ));
}

/// node_exporter textfile metrics. Labels name the file and the certificate's position in
/// it, never its serial or subject: a rotation updates the same series instead of starting a
/// new one (and leaving the old one to alert until it goes stale).
fn prometheus(certs: &[Cert], env: &str, now: OffsetDateTime) -> String {
    let labels = |c: &Cert| {
        format!(
            "env=\"{}\",file=\"{}\",position=\"{}\"",
            escape_label(env),
            escape_label(&c.source),
            c.position
        )
    };
    let mut out = String::new();
    gauge_header(
        &mut out,
        METRIC_EXPIRY,
        "When the certificate expires (its not-after), as a Unix timestamp in seconds.",
    );
    for c in certs {
        out.push_str(&format!(
            "{METRIC_EXPIRY}{{{}}} {}\n",
            labels(c),
            c.not_after_unix
        ));
    }
    gauge_header(
        &mut out,
        METRIC_CHAIN_OK,
        "1 when the certificate verifies against the CA certificates, 0 when it does not (absent when not checked).",
    );
    for c in certs {
        let v = match c.chain {
            Chain::Ok { .. } => "1",
            Chain::Failed { .. } => "0",
            Chain::NotChecked { .. } => continue,
        };
        out.push_str(&format!("{METRIC_CHAIN_OK}{{{}}} {v}\n", labels(c)));
    }
    last_run(&mut out, env, true, now);
    out
}

/// What a run that could not read the certificates writes: only its own gauges.
fn prometheus_failed(env: Option<&str>, now: OffsetDateTime) -> String {
    let mut out = String::new();
    last_run(&mut out, env.unwrap_or(""), false, now);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"CN=a "b" \ c"#), r#"CN=a \"b\" \\ c"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
    }

    fn der(cert: &rcgen::Certificate) -> Vec<u8> {
        cert.der().to_vec()
    }

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        X509Certificate::from_der(der).unwrap().1
    }

    /// A CA named `name` (the same name twice makes two CAs only the key tells apart).
    fn ca(name: &str) -> (Vec<u8>, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        (der(&cert), rcgen::Issuer::new(p, key))
    }

    fn leaf(
        issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
        days: (i64, i64),
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let now = OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(days.0);
        p.not_after = now + time::Duration::days(days.1);
        der(&p.signed_by(&key, issuer).unwrap())
    }

    #[test]
    fn chains_verify_by_signature_and_validity() {
        let now = OffsetDateTime::now_utc();
        let (ca_der, issuer) = ca("shop production CA");
        let (other_der, other) = ca("shop production CA");
        let good = leaf(&issuer, (-1, 90), &rcgen::PKCS_ECDSA_P256_SHA256);
        let cas = [parse(&ca_der)];
        assert_eq!(
            verify(&parse(&good), &cas, now),
            Chain::Ok {
                by: "CN=shop production CA".into()
            }
        );
        assert_eq!(
            verify(&parse(&ca_der), &[], now),
            Chain::Ok {
                by: "self-signed CA".into()
            }
        );
        // Same issuer name, other key.
        let foreign = leaf(&other, (-1, 90), &rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(
            matches!(verify(&parse(&foreign), &cas, now), Chain::Failed { reason } if reason.contains("not signed"))
        );
        // Both CAs in one file (a CA rotation): either leaf verifies.
        let both = [parse(&ca_der), parse(&other_der)];
        assert!(matches!(
            verify(&parse(&foreign), &both, now),
            Chain::Ok { .. }
        ));
        assert!(matches!(
            verify(&parse(&good), &both, now),
            Chain::Ok { .. }
        ));
        // Expired, and not yet valid.
        for days in [(-30, -1), (1, 30)] {
            let bad = leaf(&issuer, days, &rcgen::PKCS_ECDSA_P256_SHA256);
            assert!(
                matches!(verify(&parse(&bad), &cas, now), Chain::Failed { reason } if reason.contains("validity")),
                "{days:?}"
            );
        }
    }

    #[test]
    fn key_types() {
        let (_, issuer) = ca("ca");
        let p384 = leaf(&issuer, (-1, 1), &rcgen::PKCS_ECDSA_P384_SHA384);
        assert_eq!(key_type(&parse(&p384)), "ECDSA P-384");
        let ed = leaf(&issuer, (-1, 1), &rcgen::PKCS_ED25519);
        assert_eq!(key_type(&parse(&ed)), "Ed25519");
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:6379"),
            Some(("127.0.0.1".into(), 6379))
        );
        assert_eq!(split_host_port("[::1]:6380"), Some(("[::1]".into(), 6380)));
        assert_eq!(split_host_port("::1:6380"), None);
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port(":6379"), None);
    }
}
