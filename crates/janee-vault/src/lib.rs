//! Janee's vault: secret types, cryptography and the encrypted store.
//!
//! Synchronous, no network, no async runtime. Everything that touches secret material at rest
//! lives here so that it can be reviewed in one place.
//!
//! # Layout
//! - [`secret`]: `Secret`, `SecretFields`, `MasterKey`: `Debug` prints `[REDACTED]`, no
//!   `Display`, no `Serialize`; plaintext only through `expose()`.
//! - [`crypto`]: XChaCha20-Poly1305 with associated data, Argon2id key derivation.
//! - [`store`]: the store file: per-record AEAD bound to the record's identity, a keyed MAC over
//!   the record set, an integrity checksum, versioned header with KDF parameters.
//! - [`custody`]: where the master key comes from, in the documented order.
//! - [`fsutil`]: 0700/0600 files, atomic replace, the home lock.
//!
//! # Threats handled here
//! Storage faults (crash mid-write, concurrent writers, wrong passphrase, corruption) give a
//! clear error and never a lost or half-written secret; secrets never reach `Debug` output or
//! error text.

pub mod crypto;
pub mod custody;
pub mod fsutil;
pub mod secret;
pub mod store;

pub use custody::{Custody, KeyInputs, KeySource, UnlockError};
pub use secret::{MasterKey, Secret, SecretFields, SubKey};
pub use store::{Store, StoreError};
