//! Master-key custody. Sources are tried in this order (SPEC "Master key custody"):
//!
//! 1. `JANEE_MASTER_KEY`: base64 of 32 random bytes.
//! 2. `JANEE_PASSPHRASE`, or a prompt on a terminal: Argon2id with the header's parameters.
//! 3. The OS keyring, where one is reachable (cargo feature `keyring`).
//! 4. A key file, only when the user chose one at `init`.
//!
//! The key is always checked against the store's sealed key-check value before anything is
//! read or written, so a wrong key changes nothing.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::MasterKey;
use crate::store::Header;

/// How the store's key is kept, chosen at `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Custody {
    /// Derived from a passphrase (environment or prompt).
    Passphrase,
    /// A random key held by the OS keyring.
    Keyring,
    /// A random key in a file the user named.
    KeyFile,
    /// A random key the user supplies as `JANEE_MASTER_KEY`.
    MasterKey,
}

impl Custody {
    pub(crate) fn source(self) -> KeySource {
        match self {
            Self::Passphrase => KeySource::Passphrase,
            Self::Keyring => KeySource::Keyring,
            Self::KeyFile => KeySource::KeyFile,
            Self::MasterKey => KeySource::MasterKeyEnv,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passphrase => "passphrase",
            Self::Keyring => "keyring",
            Self::KeyFile => "key-file",
            Self::MasterKey => "master-key",
        }
    }
}

/// Which source produced the key for this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    MasterKeyEnv,
    Passphrase,
    Prompt,
    Keyring,
    KeyFile,
}

impl KeySource {
    pub fn describe(self) -> &'static str {
        match self {
            Self::MasterKeyEnv => "JANEE_MASTER_KEY",
            Self::Passphrase => "JANEE_PASSPHRASE",
            Self::Prompt => "the passphrase typed at the prompt",
            Self::Keyring => "the OS keyring",
            Self::KeyFile => "the key file",
        }
    }
}

/// What the caller can offer to unlock a store. The vault never reads the environment itself.
#[derive(Default)]
pub struct KeyInputs {
    pub master_key: Option<Zeroizing<String>>,
    pub passphrase: Option<Zeroizing<String>>,
    /// Asks for the passphrase on a terminal; `None` when there is none.
    pub prompt: Option<Box<dyn Fn() -> Option<Zeroizing<String>>>>,
    pub use_keyring: bool,
}

impl fmt::Debug for KeyInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInputs")
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "[REDACTED]"),
            )
            .field("prompt", &self.prompt.is_some())
            .field("use_keyring", &self.use_keyring)
            .finish()
    }
}

impl KeyInputs {
    pub fn none() -> Self {
        Self::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error(
        "JANEE_MASTER_KEY is not base64 of 32 bytes; generate one with `openssl rand -base64 32`"
    )]
    InvalidMasterKey,
    #[error(
        "wrong {what}: {} does not unlock the store at {path}; nothing was changed",
        via.describe()
    )]
    WrongKey {
        what: &'static str,
        via: KeySource,
        path: String,
    },
    #[error(
        "no key to unlock the store at {path}; tried {}. Set JANEE_PASSPHRASE (or JANEE_MASTER_KEY), or run on a terminal to be asked",
        tried.join(", ")
    )]
    NoKey { path: String, tried: Vec<String> },
    #[error("could not read the key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

type Check<'a> = &'a dyn Fn(&MasterKey) -> bool;

fn verify(
    key: MasterKey,
    source: KeySource,
    what: &'static str,
    path: &Path,
    check: Check<'_>,
) -> Result<(MasterKey, KeySource), UnlockError> {
    if check(&key) {
        Ok((key, source))
    } else {
        Err(UnlockError::WrongKey {
            what,
            via: source,
            path: path.display().to_string(),
        })
    }
}

pub(crate) fn unlock(
    header: &Header,
    path: &Path,
    inputs: &KeyInputs,
    check: Check<'_>,
) -> Result<(MasterKey, KeySource), UnlockError> {
    let mut tried = Vec::new();
    if let Some(text) = &inputs.master_key {
        let key = MasterKey::from_base64(text).ok_or(UnlockError::InvalidMasterKey)?;
        return verify(key, KeySource::MasterKeyEnv, "master key", path, check);
    }
    tried.push("JANEE_MASTER_KEY (not set)".to_string());

    if let Some(kdf) = &header.kdf {
        let derive = |p: &str| {
            kdf.derive(p.as_bytes()).map_err(|e| UnlockError::KeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        if let Some(pass) = &inputs.passphrase {
            return verify(
                derive(pass)?,
                KeySource::Passphrase,
                "passphrase",
                path,
                check,
            );
        }
        if let Some(pass) = inputs.prompt.as_ref().and_then(|prompt| prompt()) {
            return verify(derive(&pass)?, KeySource::Prompt, "passphrase", path, check);
        }
        tried.push("JANEE_PASSPHRASE (not set, and no terminal to ask on)".to_string());
    }

    if inputs.use_keyring {
        match keyring_get(&header.store_id) {
            Ok(text) => {
                if let Some(key) = MasterKey::from_base64(&text) {
                    return verify(key, KeySource::Keyring, "keyring key", path, check);
                }
                tried.push("the OS keyring (its entry is not a Janee key)".to_string());
            }
            Err(why) => tried.push(format!("the OS keyring ({why})")),
        }
    } else {
        tried.push("the OS keyring (disabled)".to_string());
    }

    if let Some(file) = &header.key_file {
        let text = std::fs::read_to_string(file).map_err(|e| UnlockError::KeyFile {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        let key =
            MasterKey::from_base64(&Zeroizing::new(text)).ok_or_else(|| UnlockError::KeyFile {
                path: file.clone(),
                reason: "it does not hold base64 of 32 bytes".into(),
            })?;
        return verify(key, KeySource::KeyFile, "key file", path, check);
    }

    Err(UnlockError::NoKey {
        path: path.display().to_string(),
        tried,
    })
}

const KEYRING_SERVICE: &str = "janee";

/// Read the master key for store `store_id` from the OS keyring.
#[cfg(feature = "keyring")]
pub fn keyring_get(store_id: &str) -> Result<Zeroizing<String>, String> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, store_id).map_err(short)?;
    entry.get_password().map(Zeroizing::new).map_err(short)
}

/// Keep the master key for store `store_id` in the OS keyring.
#[cfg(feature = "keyring")]
pub fn keyring_set(store_id: &str, key: &MasterKey) -> Result<(), String> {
    let entry = keyring::Entry::new(KEYRING_SERVICE, store_id).map_err(short)?;
    entry.set_password(&key.to_base64()).map_err(short)
}

#[cfg(feature = "keyring")]
fn short(e: keyring::Error) -> String {
    match e {
        keyring::Error::NoEntry => "no entry for this store".into(),
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            "not reachable".into()
        }
        other => {
            let s = other.to_string();
            s.lines()
                .next()
                .unwrap_or("unavailable")
                .chars()
                .take(120)
                .collect()
        }
    }
}

#[cfg(not(feature = "keyring"))]
pub fn keyring_get(_store_id: &str) -> Result<Zeroizing<String>, String> {
    Err("this janee was built without keyring support".into())
}

#[cfg(not(feature = "keyring"))]
pub fn keyring_set(_store_id: &str, _key: &MasterKey) -> Result<(), String> {
    Err("this janee was built without keyring support".into())
}
