//! Secret value types. None of them implements `Display` or `Serialize`, and `Debug` prints
//! `[REDACTED]`. The plaintext is reachable only through `expose()`, which a reviewer can grep.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// One secret value (an API key, a password, a private key in PEM, ...).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The plaintext. Call sites: the store format, credential injection, child environments.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    pub fn len(&self) -> usize {
        self.expose().len()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(value: Zeroizing<String>) -> Self {
        Self::new(value.as_str())
    }
}

/// The secret material of one service: named fields (`key`, `username`, `password`,
/// `header.X-Api-Key`, `privateKey`, ...). Field names are public; values are not.
#[derive(Clone, Default)]
pub struct SecretFields(BTreeMap<String, Secret>);

impl SecretFields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, field: impl Into<String>, value: Secret) {
        self.0.insert(field.into(), value);
    }

    pub fn get(&self, field: &str) -> Option<&Secret> {
        self.0.get(field)
    }

    pub fn remove(&mut self, field: &str) -> Option<Secret> {
        self.0.remove(field)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

impl FromIterator<(String, Secret)> for SecretFields {
    fn from_iter<T: IntoIterator<Item = (String, Secret)>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// The 256-bit key that encrypts the store and keys the audit MAC chain.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A second copy of the key (for handing to the keyring after the store takes ownership).
    pub fn from_bytes_copy(other: &MasterKey) -> Self {
        Self::from_bytes(*other.bytes())
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Self(bytes))
    }

    /// Parse the base64 form used by `JANEE_MASTER_KEY`, key files and the keyring.
    pub fn from_base64(text: &str) -> Option<Self> {
        use base64::Engine as _;
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        use base64::Engine as _;
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key for a separate purpose (`"audit"`, `"store-mac"`, ...), derived with HMAC-SHA256 so
    /// that no two uses share key material.
    pub fn subkey(&self, purpose: &str) -> SubKey {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"janee/subkey/v1/");
        mac.update(purpose.as_bytes());
        let out: [u8; 32] = mac.finalize().into_bytes().into();
        SubKey(Zeroizing::new(out))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// A purpose-bound key derived from the master key.
#[derive(Clone)]
pub struct SubKey(Zeroizing<[u8; 32]>);

impl SubKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "sk_live_CANARY_7f3a9c2e1b";

    #[test]
    fn debug_never_prints_the_value() {
        let s = Secret::new(CANARY);
        let mut f = SecretFields::new();
        f.insert("key", s.clone());
        let printed = format!("{s:?} {f:?} {:?}", MasterKey::from_bytes([7; 32]));
        assert!(!printed.contains(CANARY), "{printed}");
        assert!(printed.contains("[REDACTED]"));
        assert!(printed.contains("key"), "field names are public: {printed}");
    }

    #[test]
    fn master_key_base64_round_trip_and_rejects_wrong_length() {
        let k = MasterKey::generate().unwrap();
        let b = k.to_base64();
        let k2 = MasterKey::from_base64(&b).unwrap();
        assert_eq!(k.bytes(), k2.bytes());
        assert!(MasterKey::from_base64("AAAA").is_none());
        assert!(MasterKey::from_base64("not base64!").is_none());
    }

    #[test]
    fn subkeys_differ_by_purpose() {
        let k = MasterKey::from_bytes([1; 32]);
        assert_ne!(k.subkey("audit").bytes(), k.subkey("store").bytes());
        assert_eq!(k.subkey("audit").bytes(), k.subkey("audit").bytes());
    }
}
