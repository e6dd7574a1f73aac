//! RS256 JWT signing for the GitHub App and service-account minters.

use std::sync::Once;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use zeroize::Zeroizing;

use super::MintError;

/// Signs `claims` with the PEM RSA private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8
/// `PRIVATE KEY`). A PEM pasted on one line with literal `\n` escapes (as it appears inside
/// JSON or an environment variable) is accepted too. `what` names the key in errors
/// ("GitHub App private key"); the error never quotes the key.
pub(super) fn sign_rs256(
    pem: &str,
    kid: Option<&str>,
    claims: &impl Serialize,
    what: &str,
) -> Result<Zeroizing<String>, MintError> {
    install_provider();
    let unescaped;
    let pem = if !pem.contains('\n') && pem.contains("\\n") {
        unescaped = Zeroizing::new(pem.replace("\\n", "\n"));
        unescaped.as_str()
    } else {
        pem
    };
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
        let why = match e.kind() {
            ErrorKind::InvalidKeyFormat => "is not a PEM RSA private key",
            ErrorKind::InvalidRsaKey(_) => "is not a valid RSA private key",
            _ => "could not be read as an RSA private key",
        };
        MintError::BadKey(format!("the {what} {why}"))
    })?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key)
        .map(Zeroizing::new)
        .map_err(|_| MintError::BadKey(format!("signing with the {what} failed")))
}

/// Makes the pure-Rust backend jsonwebtoken's process default. jsonwebtoken infers it from
/// its `rust_crypto` feature alone, but if another crate in the graph also turns on
/// `aws_lc_rs` the inference gives way to a provider that panics; installing explicitly
/// avoids that. An `Err` only means a provider was installed already, which is fine.
fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    });
}
