//! The deployment's private CA and its leaf certificates.
//!
//! Every deployment gets its own CA: Redis does not check peer hostnames on replication links,
//! so any certificate from a shared CA would be accepted as a peer. Existing CA and leaf files
//! are reused as they are; only missing pairs are created.

use std::net::{IpAddr, Ipv4Addr};

use rand::CryptoRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::profile::{Environment, KeyType, TlsSettings};
use crate::values::{Hostname, ProjectName};

/// Paths of the PKI files, relative to the output directory.
pub const CA_CERT: &str = "tls/ca.crt";
pub const CA_KEY: &str = "tls/ca.key";
pub const SERVER_CERT: &str = "tls/server.crt";
pub const SERVER_KEY: &str = "tls/server.key";
pub const CLIENT_CERT: &str = "tls/client.crt";
pub const CLIENT_KEY: &str = "tls/client.key";

/// Backdating absorbs small clock differences between the issuing and the verifying host.
const BACKDATE: Duration = Duration::hours(1);

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPair")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What is on disk already; `None` for a missing file.
#[derive(Debug, Default, Clone)]
pub struct Existing {
    pub ca: (Option<String>, Option<String>),
    pub server: (Option<String>, Option<String>),
    pub client: (Option<String>, Option<String>),
}

/// The pairs of a deployment and which of them this run created.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: CertPair,
    /// `None` when the deployment has no single-server pair ([`Subject::server`]).
    pub server: Option<CertPair>,
    pub client: CertPair,
    pub created: Created,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Created {
    pub ca: bool,
    pub server: bool,
    pub client: bool,
}

/// Why the PKI on disk cannot be used: the file (relative path) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiError {
    pub file: &'static str,
    pub reason: String,
    pub help: String,
}

/// Who the certificates are for.
pub struct Subject<'a> {
    pub project: &'a ProjectName,
    pub env: Environment,
    pub tls: &'a TlsSettings,
    pub client_name: &'a str,
    /// Whether the deployment has the single-server pair (`tls/server.*`): multi-node bundles
    /// outside Kubernetes give every node its own instead
    /// ([`crate::topology::layout::has_server_pair`]). Without it, `Existing::server` is unread.
    pub server: bool,
    /// Names and addresses the server certificate needs beyond the profile's, for where it is
    /// deployed (`--target kubernetes`: the Services' names and a wildcard for the pods).
    pub extra_names: Vec<String>,
    pub extra_ips: Vec<IpAddr>,
}

/// Reuses every pair that exists and creates the missing ones. A leaf can be re-issued from an
/// existing CA; leaves without their CA, or a certificate without its key, are refused.
pub fn ensure<R: CryptoRng + ?Sized>(
    existing: &Existing,
    subject: &Subject<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Pki, PkiError> {
    let mut created = Created::default();
    let ca_pair = load_pair(&existing.ca, CA_CERT, CA_KEY)?;
    let server_pair = if subject.server {
        load_pair(&existing.server, SERVER_CERT, SERVER_KEY)?
    } else {
        None
    };
    let client_pair = load_pair(&existing.client, CLIENT_CERT, CLIENT_KEY)?;

    let leaves_exist = server_pair.is_some() || client_pair.is_some();
    let (ca, ca_key) = match ca_pair {
        Some(pair) => pair,
        None => {
            created.ca = true;
            new_ca(leaves_exist, subject, now, rng)?
        }
    };
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key).map_err(|e| PkiError {
        file: CA_CERT,
        reason: format!("cannot be used to sign certificates: {e}"),
        help: "restore a valid CA from a backup".into(),
    })?;

    let leaf = |pair: Option<(CertPair, KeyPair)>,
                params: CertificateParams,
                file: &'static str,
                flag: &mut bool|
     -> Result<CertPair, PkiError> {
        if let Some((pair, _)) = pair {
            return Ok(pair);
        }
        *flag = true;
        let key = generate_key(subject.tls.key_type)?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| crypto(file, e))?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    };
    let server = if subject.server {
        Some(leaf(
            server_pair,
            server_params(subject, now, rng)?,
            SERVER_CERT,
            &mut created.server,
        )?)
    } else {
        None
    };
    let client = leaf(
        client_pair,
        client_params(subject, now, rng),
        CLIENT_CERT,
        &mut created.client,
    )?;
    Ok(Pki {
        ca,
        server,
        client,
        created,
    })
}

/// A new CA, unless leaf certificates exist: they were signed by the CA that is missing,
/// and a new one would not match them.
fn new_ca<R: CryptoRng + ?Sized>(
    leaves_exist: bool,
    subject: &Subject<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<(CertPair, KeyPair), PkiError> {
    if leaves_exist {
        return Err(PkiError {
            file: CA_CERT,
            reason: "is missing, but leaf certificates signed by it exist".into(),
            help: "restore tls/ca.crt and tls/ca.key from a backup; a new CA would not \
                   match the existing certificates"
                .into(),
        });
    }
    let key = generate_key(subject.tls.key_type)?;
    let cert = ca_params(subject, now, rng)
        .self_signed(&key)
        .map_err(|e| crypto(CA_CERT, e))?;
    let pair = CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok((pair, key))
}

fn crypto(file: &'static str, e: impl std::fmt::Display) -> PkiError {
    PkiError {
        file,
        reason: format!("could not be created: {e}"),
        help: "this is a bug in redis-harden; please report it".into(),
    }
}

/// Loads a cert/key pair and checks that the key belongs to the certificate.
fn load_pair(
    files: &(Option<String>, Option<String>),
    cert_file: &'static str,
    key_file: &'static str,
) -> Result<Option<(CertPair, KeyPair)>, PkiError> {
    let (cert_pem, key_pem) = match files {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            return Err(PkiError {
                file: key_file,
                reason: format!("is missing, but {cert_file} exists"),
                help: format!(
                    "restore {key_file} from a backup, or move {cert_file} away to issue a new pair"
                ),
            });
        }
        (None, Some(_)) => {
            return Err(PkiError {
                file: cert_file,
                reason: format!("is missing, but {key_file} exists"),
                help: format!(
                    "restore {cert_file} from a backup, or move {key_file} away to issue a new pair"
                ),
            });
        }
    };
    let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError {
        file: key_file,
        reason: format!("is not a PKCS#8 private key redis-harden can use: {e}"),
        help: "restore the key from a backup".into(),
    })?;
    let info = CertInfo::parse(cert_pem).map_err(|reason| PkiError {
        file: cert_file,
        reason,
        help: "restore the certificate from a backup".into(),
    })?;
    if info.spki != key.subject_public_key_info() {
        return Err(PkiError {
            file: key_file,
            reason: format!("does not belong to {cert_file}"),
            help: "restore the matching pair from a backup".into(),
        });
    }
    Ok(Some((
        CertPair {
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
        },
        key,
    )))
}

fn generate_key(kind: KeyType) -> Result<KeyPair, PkiError> {
    let fail = |e: String| PkiError {
        file: CA_KEY,
        reason: format!("key generation failed: {e}"),
        help: "this is a bug in redis-harden; please report it".into(),
    };
    match kind {
        KeyType::EcdsaP256 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))
        }
        KeyType::EcdsaP384 => {
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(|e| fail(e.to_string()))
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            // ring (our rcgen backend, ~1 ms per bundle) signs with RSA but cannot generate RSA
            // keys; aws-lc-rs can, and is only touched here, so ECDSA runs never pay for its
            // one-time start-up cost.
            use aws_lc_rs::encoding::AsDer;
            use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
            let size = match kind {
                KeyType::Rsa2048 => KeySize::Rsa2048,
                KeyType::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let rsa = RsaKeyPair::generate(size).map_err(|e| fail(e.to_string()))?;
            let der = rsa.as_der().map_err(|e| fail(e.to_string()))?;
            let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_ref().to_vec());
            KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| fail(e.to_string()))
        }
    }
}

/// A positive 128-bit serial from the injected RNG (RFC 5280 allows up to 20 octets).
fn serial<R: CryptoRng + ?Sized>(rng: &mut R) -> SerialNumber {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero octet, so the DER encoding is always 16 bytes
    SerialNumber::from_slice(&bytes)
}

fn base_params<R: CryptoRng + ?Sized>(
    cn: &str,
    now: OffsetDateTime,
    days: u32,
    rng: &mut R,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "redis-harden");
    p.distinguished_name = dn;
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(i64::from(days));
    p.serial_number = Some(serial(rng));
    p
}

fn ca_params<R: CryptoRng + ?Sized>(
    s: &Subject<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> CertificateParams {
    let mut p = base_params(
        &format!("{} {} CA", s.project, s.env),
        now,
        s.tls.ca_validity_days,
        rng,
    );
    // pathlen:0: this CA signs leaves only, never another CA.
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn leaf_key_usages(kind: KeyType) -> Vec<KeyUsagePurpose> {
    match kind {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => vec![KeyUsagePurpose::DigitalSignature],
        _ => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
    }
}

/// The DNS names in the server certificate: the profile's, then `localhost`.
pub fn server_dns_names(tls: &TlsSettings) -> Vec<Hostname> {
    let mut names = tls.hostnames.clone();
    let localhost = Hostname::parse("localhost").expect("valid");
    if !names.contains(&localhost) {
        names.push(localhost);
    }
    names
}

/// The IP addresses in the server certificate: the profile's, then 127.0.0.1.
pub fn server_ips(tls: &TlsSettings) -> Vec<IpAddr> {
    let mut ips = tls.ips.clone();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if !ips.contains(&lo) {
        ips.push(lo);
    }
    ips
}

fn server_params<R: CryptoRng + ?Sized>(
    s: &Subject<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<CertificateParams, PkiError> {
    let names = server_dns_names(s.tls);
    let mut p = base_params(names[0].as_str(), now, s.tls.leaf_validity_days, rng);
    for name in &names {
        let ia5 = name
            .as_str()
            .to_owned()
            .try_into()
            .map_err(|e| crypto(SERVER_CERT, e))?;
        p.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for name in &s.extra_names {
        let ia5 = name
            .clone()
            .try_into()
            .map_err(|e| crypto(SERVER_CERT, e))?;
        p.subject_alt_names.push(SanType::DnsName(ia5));
    }
    let mut ips = server_ips(s.tls);
    for ip in &s.extra_ips {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    for ip in ips {
        p.subject_alt_names.push(SanType::IpAddress(ip));
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = leaf_key_usages(s.tls.key_type);
    // clientAuth too: with tls-replication a replica presents this certificate to its master.
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn client_params<R: CryptoRng + ?Sized>(
    s: &Subject<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> CertificateParams {
    let mut p = base_params(s.client_name, now, s.tls.leaf_validity_days, rng);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = leaf_key_usages(s.tls.key_type);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p
}

/// A node certificate of a multi-node topology, signed by the deployment CA: serverAuth and
/// clientAuth (replicas, Sentinels and cluster nodes present it as a client certificate on
/// their outbound links), with `dns` and `ips` as its SANs.
pub fn issue_node<R: CryptoRng + ?Sized>(
    ca: &CertPair,
    name: &str,
    dns: &[Hostname],
    ips: &[IpAddr],
    tls: &TlsSettings,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<CertPair, String> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| e.to_string())?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key).map_err(|e| e.to_string())?;
    let mut p = base_params(name, now, tls.leaf_validity_days, rng);
    for d in dns {
        let ia5 = d
            .as_str()
            .to_owned()
            .try_into()
            .map_err(|e| format!("{e}"))?;
        p.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for ip in ips {
        p.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = leaf_key_usages(tls.key_type);
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    let key = generate_key(tls.key_type).map_err(|e| e.reason)?;
    let cert = p.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    Ok(CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Why an existing certificate and key cannot be used together, if they cannot.
pub fn pair_problem(cert_pem: &str, key_pem: &str) -> Option<String> {
    let key = match KeyPair::from_pem(key_pem) {
        Ok(k) => k,
        Err(e) => return Some(format!("the key is not a PKCS#8 private key: {e}")),
    };
    match CertInfo::parse(cert_pem) {
        Err(reason) => Some(reason),
        Ok(info) if info.spki != key.subject_public_key_info() => {
            Some("the key does not belong to the certificate".into())
        }
        Ok(_) => None,
    }
}

/// Whether the certificate `leaf_pem` carries a valid signature of the CA `ca_pem`.
pub fn signed_by(leaf_pem: &str, ca_pem: &str) -> bool {
    let parse = |pem: &str| {
        x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .ok()
            .map(|(_, p)| p)
    };
    let (Some(leaf), Some(ca)) = (parse(leaf_pem), parse(ca_pem)) else {
        return false;
    };
    let (Ok(leaf), Ok(ca)) = (leaf.parse_x509(), ca.parse_x509()) else {
        return false;
    };
    leaf.verify_signature(Some(ca.public_key())).is_ok()
}

/// What the summary and checks need to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub not_after: OffsetDateTime,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    spki: Vec<u8>,
}

impl CertInfo {
    pub fn parse(pem: &str) -> Result<Self, String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| format!("is not a PEM certificate: {e}"))?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("is not a valid X.509 certificate: {e}"))?;
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| format!("has an invalid expiry date: {e}"))?;
        let mut dns_names = vec![];
        let mut ips = vec![];
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(n) => {
                        dns_names.push((*n).to_owned())
                    }
                    x509_parser::extensions::GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            ips.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            ips.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Self {
            subject: cert.subject().to_string(),
            not_after,
            dns_names,
            ips,
            spki: cert.public_key().raw.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Environment, builtin};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    fn make(existing: &Existing, tls: &TlsSettings) -> Result<Pki, PkiError> {
        let project = ProjectName::parse("shop").unwrap();
        let subject = Subject {
            project: &project,
            env: Environment::Production,
            tls,
            client_name: "app",
            server: true,
            extra_names: vec![],
            extra_ips: vec![],
        };
        ensure(existing, &subject, now(), &mut StdRng::seed_from_u64(3))
    }

    #[test]
    fn new_bundle_has_expected_names_and_validity() {
        let mut tls = builtin(Environment::Production).tls;
        tls.hostnames = vec![Hostname::parse("redis.internal").unwrap()];
        tls.ips = vec!["10.0.1.5".parse().unwrap()];
        let pki = make(&Existing::default(), &tls).unwrap();
        assert!(pki.created.ca && pki.created.server && pki.created.client);
        let server = CertInfo::parse(&pki.server.unwrap().cert_pem).unwrap();
        assert_eq!(server.dns_names, ["redis.internal", "localhost"]);
        assert_eq!(
            server.ips,
            [
                "10.0.1.5".parse::<IpAddr>().unwrap(),
                "127.0.0.1".parse().unwrap()
            ]
        );
        assert_eq!(server.not_after, now() + Duration::days(90));
        let ca = CertInfo::parse(&pki.ca.cert_pem).unwrap();
        assert!(ca.subject.contains("shop production CA"), "{}", ca.subject);
    }

    #[test]
    fn existing_pairs_are_reused_and_missing_leaf_is_reissued() {
        let tls = builtin(Environment::Production).tls;
        let first = make(&Existing::default(), &tls).unwrap();
        let existing = Existing {
            ca: (
                Some(first.ca.cert_pem.clone()),
                Some(first.ca.key_pem.clone()),
            ),
            server: (
                Some(first.server.as_ref().unwrap().cert_pem.clone()),
                Some(first.server.as_ref().unwrap().key_pem.clone()),
            ),
            client: (None, None),
        };
        let second = make(&existing, &tls).unwrap();
        assert_eq!(second.ca, first.ca);
        assert_eq!(second.server, first.server);
        assert!(second.created.client && !second.created.ca && !second.created.server);
        assert_ne!(second.client.key_pem, first.client.key_pem);
    }

    /// A multi-node bundle has no single-server pair: none is issued, and one left on disk
    /// by an earlier version is neither read nor checked.
    #[test]
    fn without_a_server_pair_none_is_issued_or_read() {
        let tls = builtin(Environment::Production).tls;
        let project = ProjectName::parse("shop").unwrap();
        let subject = Subject {
            project: &project,
            env: Environment::Production,
            tls: &tls,
            client_name: "app",
            server: false,
            extra_names: vec![],
            extra_ips: vec![],
        };
        let mut rng = StdRng::seed_from_u64(3);
        let first = ensure(&Existing::default(), &subject, now(), &mut rng).unwrap();
        assert!(first.server.is_none() && !first.created.server);
        assert!(first.created.ca && first.created.client);
        let leftover = Existing {
            ca: (
                Some(first.ca.cert_pem.clone()),
                Some(first.ca.key_pem.clone()),
            ),
            server: (Some("not a certificate".into()), None),
            client: (
                Some(first.client.cert_pem.clone()),
                Some(first.client.key_pem.clone()),
            ),
        };
        let second = ensure(&leftover, &subject, now(), &mut rng).unwrap();
        assert!(second.server.is_none());
        assert_eq!((second.ca, second.client), (first.ca, first.client));
    }

    #[test]
    fn inconsistent_state_is_refused() {
        let tls = builtin(Environment::Production).tls;
        let first = make(&Existing::default(), &tls).unwrap();
        let orphan_leaf = Existing {
            server: (
                Some(first.server.as_ref().unwrap().cert_pem.clone()),
                Some(first.server.as_ref().unwrap().key_pem.clone()),
            ),
            ..Default::default()
        };
        assert_eq!(make(&orphan_leaf, &tls).unwrap_err().file, CA_CERT);
        let lone_cert = Existing {
            ca: (Some(first.ca.cert_pem.clone()), None),
            ..Default::default()
        };
        assert_eq!(make(&lone_cert, &tls).unwrap_err().file, CA_KEY);
        let wrong_key = Existing {
            ca: (
                Some(first.ca.cert_pem.clone()),
                Some(first.server.as_ref().unwrap().key_pem.clone()),
            ),
            ..Default::default()
        };
        let err = make(&wrong_key, &tls).unwrap_err();
        assert!(err.reason.contains("does not belong"), "{err:?}");
    }

    #[test]
    fn rsa_and_p384_keys_work() {
        for kind in [KeyType::EcdsaP384, KeyType::Rsa2048] {
            let mut tls = builtin(Environment::Production).tls;
            tls.key_type = kind;
            let pki = make(&Existing::default(), &tls).unwrap();
            CertInfo::parse(&pki.server.unwrap().cert_pem).unwrap();
        }
    }
}
