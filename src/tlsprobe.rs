//! TLS handshakes with a live server, for `certs status --connect` and `audit --url`: which
//! protocol versions it accepts and which certificate chain it presents.
//!
//! The probe verifies the chain with rustls' WebPKI verifier but does not stop at a failure:
//! it records the error so the caller can report it as a finding. The handshake signature is
//! still checked, and nothing secret is ever sent over a probe connection.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A TLS protocol version rustls can speak. (rustls has no TLS 1.0 or 1.1, so those can only
/// be judged from the server's configuration.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            Version::Tls12 => &rustls::version::TLS12,
            Version::Tls13 => &rustls::version::TLS13,
        }
    }
}

/// A client certificate and its key, for servers that require one (mTLS).
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Parses a PEM certificate (chain) and its PEM private key.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, String> {
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        if chain.is_empty() {
            return Err("no certificate in the certificate file".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| format!("not a PEM private key: {e}"))?;
        Ok(Self { chain, key })
    }

    /// Loads a PEM certificate (chain) and its PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: cannot read a PEM certificate: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: holds no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("{}: cannot read a PEM private key: {e}", key.display()))?;
        Ok(Self { chain, key })
    }
}

/// What one handshake showed.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The negotiated version, when the handshake completed.
    pub version: Option<Version>,
    /// Why it did not complete.
    pub error: Option<String>,
    /// The chain the server presented (leaf first, DER), when it got that far.
    pub chain: Vec<Vec<u8>>,
    /// Why the chain does not verify against the given CAs (for the given name), if it does not.
    pub verify_error: Option<String>,
}

/// The rustls provider this crate uses: ring, already built for rcgen.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses every certificate of a PEM bundle (a CA file may hold several during a rotation).
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate bundle: {e}"))
}

/// Connects to HOST:PORT and runs one TLS handshake offering only `versions`.
/// Fails (Err) only when the TCP connection cannot be made or the arguments are unusable; a
/// refused handshake or a chain that does not verify is reported in [`Handshake`].
pub fn handshake(
    host: &str,
    port: u16,
    roots: &[CertificateDer<'static>],
    identity: Option<&Identity>,
    versions: &[Version],
    timeout: Duration,
) -> Result<Handshake, String> {
    let provider = provider();
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| format!("a CA certificate cannot be used as a trust anchor: {e}"))?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| format!("no usable CA certificate: {e}"))?;
    let recorder = Arc::new(Recorder {
        inner,
        seen: Mutex::new(None),
    });
    let versions: Vec<_> = versions.iter().map(|v| v.rustls()).collect();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone());
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| format!("the client certificate and key cannot be used: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| format!("{host}: not a host name or IP address: {e}"))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let mut sock = connect(host, port, timeout)?;

    let mut error = None;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            error = Some(describe_io_error(&e));
            break;
        }
    }
    let version = if error.is_none() {
        match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => Some(Version::Tls13),
            Some(rustls::ProtocolVersion::TLSv1_2) => Some(Version::Tls12),
            _ => None,
        }
    } else {
        None
    };
    if version.is_some() {
        // Say goodbye cleanly; the server never sees a command from a probe.
        conn.send_close_notify();
        let _ = conn.complete_io(&mut sock);
        let _ = sock.flush();
    }
    let (chain, verify_error) = recorder
        .seen
        .lock()
        .expect("verifier lock")
        .take()
        .unwrap_or_default();
    Ok(Handshake {
        version,
        error,
        chain,
        verify_error,
    })
}

/// A TCP connection with a bound on every step, so a silent server cannot hang the audit.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: cannot resolve: {e}"))?
        .collect();
    let mut last = format!("{host}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(sock) => {
                sock.set_read_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                sock.set_write_timeout(Some(timeout))
                    .map_err(|e| e.to_string())?;
                return Ok(sock);
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

fn describe_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            "no TLS answer in time (is it a plaintext port?)".into()
        }
        std::io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => e.to_string(),
    }
}

/// The presented chain (leaf first, DER) and why it does not verify, if it does not.
type Seen = (Vec<Vec<u8>>, Option<String>);

/// Verifies like rustls' WebPKI verifier, but records the outcome instead of failing, so an
/// expired or foreign chain can be shown and reported.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        *self.seen.lock().expect("verifier lock") =
            Some((chain, result.err().map(|e| e.to_string())));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
