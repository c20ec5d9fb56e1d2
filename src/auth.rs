//! Passwords (argon2id, salted, OWASP parameters) and SASL PLAIN (RFC 4616).
//!
//! The server verifies through [`Verifier`]: a few verifications at once, off the executor. Each
//! allocates argon2's working memory (~19 MiB) and frees it when done, so an idle server holds
//! none: large blocks go back to the system at free (musl does so by itself; glibc builds fix
//! malloc's mmap threshold at start, see `main.rs`, which otherwise grows after the first free
//! and makes freed blocks accumulate with every login attempt).

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// A hash to verify against when the user does not exist, so timing does not reveal it: the
/// parameters of [`hash_password`], a hash no password produces in practice.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGZhY2hkdW1teQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
}

/// Checks a password against a PHC string, with `memory` as argon2's working memory (grown as
/// needed, kept by the caller). Blocking: call off the executor.
pub fn verify_password_in(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm),
        version,
        Params::try_from(&hash),
    ) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password, salt, &mut out, memory.as_mut_slice())
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|o| o == expected)
}

/// Bounded, memory-reusing password verification; see the module docs.
pub struct Verifier {
    slots: smol::lock::Semaphore,
}

impl Verifier {
    /// At most `concurrent` verifications at once.
    pub fn new(concurrent: usize) -> Verifier {
        Verifier {
            slots: smol::lock::Semaphore::new(concurrent),
        }
    }

    /// Checks `password` against the PHC string `phc` on the blocking pool.
    pub async fn verify(&self, password: Vec<u8>, phc: String) -> bool {
        let _slot = self.slots.acquire().await;
        smol::unblock(move || verify_password_in(&password, &phc, &mut Vec::new())).await
    }
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
        assert_ne!(h, hash_password(b"secret").unwrap(), "salted");
        let mut mem = Vec::new();
        assert!(verify_password_in(b"secret", &h, &mut mem));
        assert!(!verify_password_in(b"Secret", &h, &mut mem));
        assert!(!verify_password_in(b"x", "garbage", &mut mem));
        assert!(PasswordHash::new(dummy_hash()).is_ok());
        assert!(!verify_password_in(b"", dummy_hash(), &mut mem));
        let v = Verifier::new(1);
        assert!(smol::block_on(v.verify(b"secret".to_vec(), h.clone())));
        assert!(!smol::block_on(v.verify(b"no".to_vec(), h)));
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
