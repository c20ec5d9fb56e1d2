//! TLS: the rustls server configuration, its certificate, and reload without restart.
//!
//! The configuration uses the ring provider explicitly, with TLS 1.2 and 1.3 only. The
//! certificate comes from the operator's PEM files (`--cert`, `--key`: full chain and key, read
//! with rustls-pki-types' PEM parser) or, when none is given, from a self-signed certificate that
//! the first start generates into the data directory and later starts reuse.
//!
//! Both IMAPS (RFC 8314 implicit TLS) and STARTTLS (RFC 3501 §6.2.1) take an acceptor from
//! [`Tls::acceptor`], which holds the configuration current at that moment: [`Tls::reload`]
//! (SIGHUP) changes what new handshakes present, and established connections keep theirs.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures_rustls::TlsAcceptor;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{CertSource, SELF_SIGNED_CERT, SELF_SIGNED_KEY};

/// The live TLS configuration; see the module docs.
pub struct Tls {
    source: CertSource,
    current: RwLock<Loaded>,
}

/// One loaded certificate.
#[derive(Clone)]
pub struct Loaded {
    config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, `AB:CD:…` like `openssl x509 -fingerprint -sha256`.
    pub fingerprint: String,
    /// The certificate file it came from.
    pub cert_path: PathBuf,
    /// True when this load generated a new self-signed certificate.
    pub generated: bool,
}

impl Tls {
    /// Loads the certificate (generating a self-signed one if needed). Blocking file I/O.
    pub fn load(source: CertSource) -> Result<Tls, String> {
        let loaded = load(&source)?;
        Ok(Tls {
            source,
            current: RwLock::new(loaded),
        })
    }

    /// An acceptor for one handshake, with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current().config)
    }

    /// The certificate in use for new handshakes.
    pub fn current(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the certificate source again; on error the previous certificate stays in use.
    /// Blocking file I/O.
    pub fn reload(&self) -> Result<Loaded, String> {
        let loaded = load(&self.source)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded.clone();
        Ok(loaded)
    }
}

fn load(source: &CertSource) -> Result<Loaded, String> {
    let (cert_path, key_path, generated) = match source {
        CertSource::Files { cert, key } => (cert.clone(), key.clone(), false),
        CertSource::SelfSigned { dir } => {
            let (cert, key) = (dir.join(SELF_SIGNED_CERT), dir.join(SELF_SIGNED_KEY));
            let generated = if cert.exists() && key.exists() {
                false
            } else {
                generate_self_signed(&cert, &key)?;
                true
            };
            (cert, key, generated)
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert_path.display()))?;
    let Some(leaf) = chain.first() else {
        return Err(format!("no certificate in {}", cert_path.display()));
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("cannot read private key from {}: {e}", key_path.display()))?;
    let config = server_config(chain, key)
        .map_err(|e| format!("unusable certificate {}: {e}", cert_path.display()))?;
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
        cert_path,
        generated,
    })
}

/// ring provider, TLS 1.2 and 1.3, no client certificates. rustls checks that key and leaf match.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
}

/// SHA-256 over the DER certificate, as colon-separated upper-case hex.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert);
    let mut s = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Writes a new ECDSA P-256 self-signed certificate for localhost and this host's name; the key
/// file is created with mode 0600.
fn generate_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| format!("certificate names: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "postfach self-signed");
    // Valid from last year for ten years, so small clock skew does not matter.
    let year = 1970
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("self-signing: {e}"))?;
    write_file(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert_path, cert.pem().as_bytes(), 0o644)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    r.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once() {
        let dir = std::env::temp_dir().join(format!("postfach-tls-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let source = CertSource::SelfSigned { dir: dir.clone() };
        let tls = Tls::load(source.clone()).unwrap();
        let first = tls.current();
        assert!(first.generated);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(SELF_SIGNED_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Tls::load(source).unwrap().current();
        assert!(!again.generated);
        assert_eq!(again.fingerprint, first.fingerprint);
        // A broken file on reload keeps the old certificate.
        std::fs::write(dir.join(SELF_SIGNED_CERT), "garbage").unwrap();
        assert!(tls.reload().is_err());
        assert_eq!(tls.current().fingerprint, first.fingerprint);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprint_format() {
        let f = fingerprint(b"");
        assert!(f.starts_with("E3:B0:C4:42"), "{f}");
    }
}
