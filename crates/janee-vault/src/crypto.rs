//! The cryptographic primitives of the store: XChaCha20-Poly1305 records with associated data,
//! Argon2id passphrase derivation, random bytes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::MasterKey;

pub const NONCE_LEN: usize = 24;

/// Decryption failed: wrong key, or the ciphertext or its associated data were altered. The
/// cause is deliberately not said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

/// Encrypt `plaintext` under `key`, binding `aad`. Returns (nonce, ciphertext||tag).
pub fn seal(
    key: &MasterKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), getrandom::Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Encryption fails only for plaintexts beyond 2^38 bytes; records are tiny.
        .unwrap_or_else(|_| unreachable!("record larger than the AEAD limit"));
    Ok((nonce, ct))
}

/// Decrypt what `seal` produced. Any mismatch is one opaque error.
pub fn open(
    key: &MasterKey,
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if nonce.len() != NONCE_LEN {
        return Err(OpenError);
    }
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenError)
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)?;
    Ok(out)
}

/// Argon2id parameters, stored in the store header so that they can be raised later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KdfParams {
    pub algorithm: String,
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Base64 salt, 16 bytes.
    pub salt: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KdfError {
    #[error("unsupported key-derivation algorithm {0:?} in the store header")]
    Algorithm(String),
    #[error("invalid key-derivation parameters in the store header")]
    Params,
    #[error("the operating system's random number generator failed")]
    Random,
}

impl KdfParams {
    /// Fresh parameters with a random salt: Argon2id, 64 MiB, 3 passes, 1 lane (RFC 9106's
    /// second recommended option).
    pub fn generate() -> Result<Self, KdfError> {
        use base64::Engine as _;
        let salt: [u8; 16] = random_bytes().map_err(|_| KdfError::Random)?;
        Ok(Self {
            algorithm: "argon2id".into(),
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
            salt: base64::engine::general_purpose::STANDARD.encode(salt),
        })
    }

    /// Derive the master key from a passphrase.
    pub fn derive(&self, passphrase: &[u8]) -> Result<MasterKey, KdfError> {
        use base64::Engine as _;
        if self.algorithm != "argon2id" {
            return Err(KdfError::Algorithm(self.algorithm.clone()));
        }
        let salt = base64::engine::general_purpose::STANDARD
            .decode(&self.salt)
            .map_err(|_| KdfError::Params)?;
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|_| KdfError::Params)?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, &salt, out.as_mut())
            .map_err(|_| KdfError::Params)?;
        Ok(MasterKey::from_bytes(*out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = MasterKey::from_bytes([9; 32]);
        let (nonce, ct) = seal(&key, b"service/stripe", b"hello").unwrap();
        assert_eq!(
            open(&key, b"service/stripe", &nonce, &ct)
                .unwrap()
                .as_slice(),
            b"hello"
        );
        assert_eq!(open(&key, b"service/github", &nonce, &ct), Err(OpenError));
        let other = MasterKey::from_bytes([8; 32]);
        assert_eq!(open(&other, b"service/stripe", &nonce, &ct), Err(OpenError));
        let mut flipped = ct.clone();
        flipped[0] ^= 1;
        assert_eq!(
            open(&key, b"service/stripe", &nonce, &flipped),
            Err(OpenError)
        );
    }

    #[test]
    fn kdf_is_deterministic_per_salt() {
        let mut p = KdfParams::generate().unwrap();
        p.memory_kib = 1024; // keep the test quick
        p.iterations = 1;
        let a = p.derive(b"correct horse").unwrap();
        let b = p.derive(b"correct horse").unwrap();
        let c = p.derive(b"wrong horse").unwrap();
        assert_eq!(a.bytes(), b.bytes());
        assert_ne!(a.bytes(), c.bytes());
    }
}
