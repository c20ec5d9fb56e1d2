//! Passwords (argon2id, salted, OWASP parameters) and SASL PLAIN (RFC 4616).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::io::Read;

/// Hashes a password into a PHC string. Blocking (tens of milliseconds): call off the executor.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| format!("no randomness for the salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string. Blocking: call off the executor.
pub fn verify_password(password: &[u8], phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
}

/// A hash to verify against when the user does not exist, so timing does not reveal it.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(b"not a real password").unwrap_or_default())
}

/// Decoded SASL PLAIN message: `[authzid] NUL authcid NUL passwd`.
pub struct Plain {
    pub authzid: String,
    pub user: String,
    pub password: Vec<u8>,
}

/// Parses the base64 SASL PLAIN response.
pub fn decode_plain(b64: &[u8]) -> Option<Plain> {
    let raw = crate::base64::decode(b64)?;
    let mut parts = raw.split(|&b| b == 0);
    let authzid = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = parts.next()?.to_vec();
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some(Plain {
        authzid,
        user,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password(b"secret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(b"secret", &h));
        assert!(!verify_password(b"Secret", &h));
        assert_ne!(h, hash_password(b"secret").unwrap(), "salted");
        assert!(!verify_password(b"x", "garbage"));
    }

    #[test]
    fn sasl_plain() {
        let p = decode_plain(b"AGFsaWNlAHB3").unwrap();
        assert_eq!(
            (p.authzid.as_str(), p.user.as_str(), p.password.as_slice()),
            ("", "alice", b"pw".as_slice())
        );
        assert!(decode_plain(b"YWxpY2U=").is_none());
    }
}
