//! TLS: IMAPS (RFC 8314), STARTTLS (RFC 3501 §6.2.1), the plaintext-password policy
//! (LOGINDISABLED, PRIVACYREQUIRED), the self-signed certificate and reload on SIGHUP, and curl.
//!
//! The client is rustls with a verifier that pins the server's certificate by its DER bytes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, PASSWORD, Server, TempDir};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Accepts exactly one certificate (or any, when `pin` is `None`), checking handshake signatures.
#[derive(Debug)]
struct Pinned {
    pin: Option<Vec<u8>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            Some(pin) if pin.as_slice() != end_entity.as_ref() => Err(rustls::Error::General(
                "certificate does not match the pinned one".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(pin: Option<Vec<u8>>, tls12_only: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, provider }))
        .with_no_client_auth();
    Arc::new(config)
}

/// The leaf certificate in a PEM file, as DER.
fn cert_der(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// An IMAP client over TLS.
struct TlsClient {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    next_tag: usize,
    greeting: String,
}

impl TlsClient {
    /// Implicit TLS: handshake first, then the greeting.
    fn imaps(port: u16, pin: Option<Vec<u8>>) -> Result<TlsClient, std::io::Error> {
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        let mut c = Self::handshake(tcp, client_config(pin, false))?;
        c.greeting = c.read_line();
        Ok(c)
    }

    /// STARTTLS on a plain connection whose greeting was read; nothing may be buffered.
    fn starttls(mut plain: Client, pin: Option<Vec<u8>>) -> TlsClient {
        plain.ok("STARTTLS");
        assert!(plain.reader.buffer().is_empty());
        Self::handshake(plain.writer, client_config(pin, false)).expect("handshake")
    }

    fn handshake(tcp: TcpStream, config: Arc<ClientConfig>) -> std::io::Result<TlsClient> {
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(TlsClient {
            stream: BufReader::new(stream),
            next_tag: 0,
            greeting: String::new(),
        })
    }

    fn conn(&self) -> &ClientConnection {
        &self.stream.get_ref().conn
    }

    /// SHA-256 of the certificate the server presented.
    fn peer_fingerprint(&self) -> Vec<u8> {
        sha256(&self.conn().peer_certificates().unwrap()[0])
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.stream.read_line(&mut line).expect("read");
        assert!(n > 0, "connection closed");
        line.trim_end_matches("\r\n").to_string()
    }

    fn cmd(&mut self, cmd: &str) -> Vec<String> {
        self.next_tag += 1;
        let tag = format!("s{}", self.next_tag);
        let s = self.stream.get_mut();
        s.write_all(format!("{tag} {cmd}\r\n").as_bytes()).unwrap();
        s.flush().unwrap();
        let mut lines = Vec::new();
        loop {
            let l = self.read_line();
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    fn ok(&mut self, cmd: &str) -> Vec<String> {
        let lines = self.cmd(cmd);
        assert!(
            lines.last().unwrap().split(' ').nth(1) == Some("OK"),
            "{cmd}: {lines:#?}"
        );
        lines
    }

    fn capabilities(&mut self) -> Vec<String> {
        let lines = self.ok("CAPABILITY");
        words(&lines[0])
    }
}

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(String::from).collect()
}

fn has(caps: &[String], cap: &str) -> bool {
    caps.iter().any(|c| c == cap)
}

fn plain_capabilities(c: &mut Client) -> Vec<String> {
    let lines = c.ok("CAPABILITY");
    words(&lines[0])
}

#[test]
fn imaps_handshake_login_and_capabilities() {
    let s = Server::start_with(&["--imaps", "127.0.0.1:0"]);
    let pin = cert_der(&s.data.join("tls-cert.pem"));
    let mut c = TlsClient::imaps(s.imaps_port, Some(pin)).unwrap();
    assert_eq!(
        c.conn().protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY "),
        "{}",
        c.greeting
    );
    let caps = c.capabilities();
    assert!(has(&caps, "AUTH=PLAIN"), "{caps:?}");
    assert!(!has(&caps, "STARTTLS") && !has(&caps, "LOGINDISABLED"));
    c.ok(&format!("LOGIN alice {PASSWORD}"));
    c.ok("SELECT INBOX");
    c.ok("LOGOUT");

    // TLS 1.2 still works.
    let tcp = TcpStream::connect(("127.0.0.1", s.imaps_port)).unwrap();
    let mut c12 = TlsClient::handshake(tcp, client_config(None, true)).unwrap();
    c12.read_line();
    assert_eq!(
        c12.conn().protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    c12.ok(&format!("LOGIN bob {PASSWORD}"));

    // A client pinning another certificate refuses the server's.
    let err = TlsClient::imaps(s.imaps_port, Some(b"another".to_vec()));
    assert!(err.is_err());
}

#[test]
fn starttls_with_remote_policy() {
    let s = Server::start_with(&["--plaintext-policy", "remote"]);
    let mut c = s.connect();
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    let caps = plain_capabilities(&mut c);
    assert!(
        has(&caps, "STARTTLS") && has(&caps, "LOGINDISABLED"),
        "{caps:?}"
    );
    assert!(!caps.iter().any(|c| c.starts_with("AUTH=")), "{caps:?}");
    let (st, lines) = c.status(&format!("LOGIN alice {PASSWORD}"));
    assert_eq!(st, "NO");
    assert!(
        lines.last().unwrap().contains("[PRIVACYREQUIRED]"),
        "{lines:?}"
    );
    let (st, lines) = c.status("AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==");
    assert_eq!(st, "NO");
    assert!(
        lines.last().unwrap().contains("[PRIVACYREQUIRED]"),
        "{lines:?}"
    );

    let pin = cert_der(&s.data.join("tls-cert.pem"));
    let mut t = TlsClient::starttls(c, Some(pin));
    let caps = t.capabilities();
    assert!(has(&caps, "AUTH=PLAIN"), "{caps:?}");
    assert!(
        !has(&caps, "STARTTLS") && !has(&caps, "LOGINDISABLED"),
        "{caps:?}"
    );
    // A second STARTTLS is refused.
    let lines = t.cmd("STARTTLS");
    assert!(lines.last().unwrap().contains(" BAD "), "{lines:?}");
    // SASL-IR over TLS: "\0alice\0secret".
    t.ok("AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==");
    t.ok("SELECT INBOX");
}

#[test]
fn loopback_and_allow_plaintext() {
    // Default policy: loopback clients may log in without TLS, STARTTLS is still offered.
    let s = Server::start();
    let mut c = s.connect();
    let caps = plain_capabilities(&mut c);
    assert!(
        has(&caps, "STARTTLS") && has(&caps, "AUTH=PLAIN"),
        "{caps:?}"
    );
    assert!(!has(&caps, "LOGINDISABLED"));
    c.ok(&format!("LOGIN alice {PASSWORD}"));

    // Remote policy, but the operator allowed plaintext.
    let s = Server::start_with(&["--plaintext-policy", "remote", "--allow-plaintext"]);
    let mut c = s.connect();
    assert!(!has(&plain_capabilities(&mut c), "LOGINDISABLED"));
    c.ok(&format!("LOGIN alice {PASSWORD}"));
}

#[test]
fn starttls_injection_is_refused() {
    let s = Server::start();
    let mut c = s.connect();
    // A man in the middle appends a command to STARTTLS in the same packet.
    c.send_raw(format!("a STARTTLS\r\nb LOGIN alice {PASSWORD}\r\n").as_bytes());
    let line = c.read_line();
    assert!(line.starts_with("* BYE"), "{line}");
    let mut rest = String::new();
    c.reader.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("a OK") && !rest.contains("b OK"), "{rest}");
}

#[test]
fn self_signed_certificate_is_reused() {
    let mut s = Server::start_with(&["--imaps", "127.0.0.1:0"]);
    let cert = s.data.join("tls-cert.pem");
    let first = TlsClient::imaps(s.imaps_port, Some(cert_der(&cert)))
        .unwrap()
        .peer_fingerprint();
    assert_eq!(first, sha256(&cert_der(&cert)));
    s.restart();
    let again = TlsClient::imaps(s.imaps_port, None)
        .unwrap()
        .peer_fingerprint();
    assert_eq!(first, again);
}

/// Writes a new self-signed certificate and key to `cert` and `key`.
fn write_cert(cert: &Path, key: &Path) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cert, c.cert.pem()).unwrap();
    std::fs::write(key, c.signing_key.serialize_pem()).unwrap();
}

#[test]
fn certificate_reload_on_sighup() {
    let dir = TempDir::new();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    write_cert(&cert, &key);
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let s = Server::start_with(&["--imaps", "127.0.0.1:0", "--cert", &c, "--key", &k]);
    assert!(!s.data.join("tls-cert.pem").exists());
    let old = sha256(&cert_der(&cert));
    let mut first = TlsClient::imaps(s.imaps_port, None).unwrap();
    assert_eq!(first.peer_fingerprint(), old);
    first.ok(&format!("LOGIN alice {PASSWORD}"));

    write_cert(&cert, &key);
    let new = sha256(&cert_der(&cert));
    assert_ne!(old, new);
    let hup = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let c = TlsClient::imaps(s.imaps_port, None).unwrap();
        if c.peer_fingerprint() == new {
            break;
        }
        assert!(Instant::now() < until, "certificate not reloaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The STARTTLS listener uses the new one too; the old connection goes on.
    let t = TlsClient::starttls(s.connect(), Some(cert_der(&cert)));
    assert_eq!(t.peer_fingerprint(), new);
    first.ok("SELECT INBOX");
    first.ok("NOOP");
}

#[test]
fn curl_over_starttls_and_imaps() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl not installed, skipping");
        return;
    }
    // The remote policy makes curl's login fail unless STARTTLS really happened.
    let s = Server::start_with(&["--imaps", "127.0.0.1:0", "--plaintext-policy", "remote"]);
    let user = format!("alice:{PASSWORD}");
    for url in [
        format!("imap://127.0.0.1:{}/", s.port),
        format!("imaps://127.0.0.1:{}/", s.imaps_port),
    ] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--ssl-reqd",
                "-k",
                "--max-time",
                "20",
                "-u",
                &user,
                &url,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("INBOX"),
            "{url}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
