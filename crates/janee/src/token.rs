//! Agent tokens: 256 random bits, shown once, stored only as a SHA-256 hash, compared in
//! constant time.

use base64::Engine as _;
use janee_vault::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "janee_at_";

/// A new random token.
pub fn generate() -> Result<Secret, getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())?;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
    Ok(Secret::new(format!("{PREFIX}{body}")))
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The owner of `presented` among `(agent, hash)` pairs. Every hash is compared, in constant
/// time, so timing says nothing about which agent (if any) matched.
pub fn verify<'a>(presented: &str, known: &'a [(String, [u8; 32])]) -> Option<&'a str> {
    let h = hash(presented);
    let mut found = None;
    for (name, stored) in known {
        if bool::from(h.ct_eq(stored)) {
            found = Some(name.as_str());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_verify_only_their_owner() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(PREFIX));
        let known = vec![
            ("alice".to_string(), hash(a.expose())),
            ("bob".to_string(), hash(b.expose())),
        ];
        assert_eq!(verify(a.expose(), &known), Some("alice"));
        assert_eq!(verify(b.expose(), &known), Some("bob"));
        assert_eq!(verify("janee_at_forged", &known), None);
        assert_eq!(verify("", &known), None);
    }
}
