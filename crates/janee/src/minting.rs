//! Short-lived access tokens minted from long-lived credentials, cached until shortly
//! before they expire.
//!
//! Some upstreams never see the stored secret itself: Janee signs or exchanges it for a
//! token that lives minutes to an hour, injects that token, and mints the next one when it
//! runs out or the upstream answers 401.
//!
//! # Layout
//! - this file: the [`Minter`] kinds, their inputs and outputs, and [`MintError`].
//! - `github`: GitHub App installation tokens (RS256 app JWT, then the installation
//!   `access_tokens` endpoint, optionally down-scoped).
//! - `service_account`: Google service accounts (RS256 JWT-bearer assertion, RFC 7523).
//! - `oauth2`: OAuth 2.0 client credentials and refresh tokens (RFC 6749 sections 4.4, 6).
//! - `jwt`: RS256 signing shared by the first two.
//! - `http`: the token-endpoint round trip: timeout, body cap, and error text stripped of
//!   every secret that was sent.
//! - `cache`: [`TokenCache`], single-flight per key, with `invalidate` after a 401.
//!
//! # Secrets
//! Inputs arrive through a [`Field`] closure and stay in [`Zeroizing`] buffers. No `Debug`
//! impl here prints a token or key, and no error carries one: upstream error bodies are
//! reduced to their `error`/`error_description`/`message` fields, every value this module
//! sent is replaced by `[REDACTED]`, and the text is capped. Callers still run their own
//! scrubber over anything that leaves the process.
//!
//! The `reqwest::Client` passed to [`Minter::mint`] should not follow redirects (Janee's
//! shared client uses `redirect::Policy::none()`): a 307 would replay a refresh token or an
//! assertion to wherever the upstream pointed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

mod cache;
mod github;
mod http;
mod jwt;
mod oauth2;
mod service_account;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use cache::TokenCache;

/// How a minted token is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Minter {
    /// GitHub App: an RS256 JWT `{iat: now-60, exp: now+540, iss: app_id}` signed with the
    /// app's PEM private key (store field `privateKey`), exchanged at
    /// `POST {api_base}/app/installations/{installation_id}/access_tokens`. Non-empty
    /// `repositories` / `permissions` down-scope the token.
    GithubApp {
        api_base: url::Url,
        app_id: String,
        installation_id: String,
        repositories: Vec<String>,
        permissions: BTreeMap<String, String>,
    },
    /// Google service account: the key JSON (store field `credentials`) signs an RS256
    /// assertion for `scopes`, exchanged at the key's `token_uri` (or `token_uri_override`,
    /// which then is also the assertion's audience).
    ServiceAccount {
        scopes: Vec<String>,
        token_uri_override: Option<url::Url>,
    },
    /// OAuth 2.0 (RFC 6749) client credentials or refresh token grant at `token_url`.
    /// Store fields `clientId`, `clientSecret`, `refreshToken`.
    OAuth2 {
        token_url: url::Url,
        scopes: Vec<String>,
        grant: Grant,
    },
}

/// The OAuth 2.0 grant a [`Minter::OAuth2`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// RFC 6749 section 4.4: `clientId` and `clientSecret` sent with HTTP Basic.
    ClientCredentials,
    /// RFC 6749 section 6: `refreshToken`; the client authenticates with HTTP Basic when
    /// `clientSecret` is stored, or sends `client_id` in the body when only `clientId` is.
    RefreshToken,
}

/// Reads one secret input from the caller's store by field name.
pub type Field<'a> = &'a (dyn Fn(&str) -> Option<Zeroizing<String>> + Send + Sync);

/// A freshly minted token.
pub struct Minted {
    /// The access token to inject.
    pub token: Zeroizing<String>,
    /// When the upstream says it stops working.
    pub expires_at: SystemTime,
    /// A new refresh token the upstream issued in place of the stored one (rotation); the
    /// caller must write it back to the store, because the old one may now be dead.
    pub rotated_refresh_token: Option<Zeroizing<String>>,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted")
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field(
                "rotated_refresh_token",
                &self.rotated_refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Why a token could not be minted. No variant ever holds secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// A required secret field is absent or empty in the store.
    #[error(
        "credential field `{0}` is missing or empty; store it with the service's other credentials"
    )]
    MissingField(&'static str),
    /// The stored key or credential file, or the minting configuration, is unusable.
    #[error("cannot mint a token: {0}")]
    BadKey(String),
    /// The token endpoint refused; `detail` is its own message with every value this module
    /// sent replaced by `[REDACTED]`.
    #[error("token endpoint answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    /// The token endpoint could not be reached or did not answer in time.
    #[error("token endpoint unreachable: {0}")]
    Network(String),
    /// The token endpoint answered success with something that is not a usable token.
    #[error("token endpoint response unusable: {0}")]
    BadResponse(String),
}

impl Minter {
    /// Mints one token now. `now` is the caller's clock: JWT times and `expires_in` count
    /// from it.
    pub async fn mint(
        &self,
        client: &reqwest::Client,
        field: Field<'_>,
        now: SystemTime,
    ) -> Result<Minted, MintError> {
        match self {
            Minter::GithubApp {
                api_base,
                app_id,
                installation_id,
                repositories,
                permissions,
            } => {
                let app = github::App {
                    api_base,
                    app_id,
                    installation_id,
                    repositories,
                    permissions,
                };
                app.mint(client, field, now).await
            }
            Minter::ServiceAccount {
                scopes,
                token_uri_override,
            } => {
                service_account::mint(client, field, scopes, token_uri_override.as_ref(), now).await
            }
            Minter::OAuth2 {
                token_url,
                scopes,
                grant,
            } => oauth2::mint(client, field, token_url, scopes, *grant, now).await,
        }
    }
}

/// Reads a required field; an empty value counts as missing.
fn required(field: Field<'_>, name: &'static str) -> Result<Zeroizing<String>, MintError> {
    match field(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(MintError::MissingField(name)),
    }
}

/// Reads an optional field; an empty value counts as absent.
fn optional(field: Field<'_>, name: &str) -> Option<Zeroizing<String>> {
    field(name).filter(|value| !value.is_empty())
}

/// Seconds since the Unix epoch, as JWT `iat`/`exp` want them.
fn unix_seconds(t: SystemTime) -> Result<u64, MintError> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| MintError::BadKey("the system clock is before 1970".into()))
}
