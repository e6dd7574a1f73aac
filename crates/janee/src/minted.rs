//! Minted tokens in a running janee: one [`TokenCache`] per process, the scope a capability
//! asks for, rotated refresh tokens written back to the store, and the scrub patterns that
//! cover the token in use as well as the stored credential.
//!
//! The proxy and exec mode ask a service's [`ServiceSecrets`](crate::state::ServiceSecrets)
//! for its [`Token`]; a service whose scheme does not mint has none. After an upstream 401
//! the proxy calls [`MintBinding::forget`] and asks once more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use janee_vault::{Secret, SecretFields, Store};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::{Service, TokenScope};
use crate::home::Home;
use crate::minting::{MintError, Minted, Minter, TokenCache};
use crate::scrub::Patterns;

/// A token is minted afresh once it has less than this left.
const MARGIN: Duration = Duration::from_secs(60);
/// Superseded refresh tokens remembered per service (see [`Rotation`]).
const HISTORY: usize = 8;
/// Scrubbers kept per service, one per token in use (capabilities with different scopes
/// hold different tokens).
const PATTERN_SLOTS: usize = 8;

/// The process-wide minting state, shared by every snapshot of the configuration.
pub struct Minting {
    cache: TokenCache,
    client: reqwest::Client,
    home: Home,
    /// The store the rotated refresh tokens are written to (reopened from disk under the
    /// home lock before each write, so changes made by the CLI are kept).
    writer: Mutex<Store>,
    rotations: Mutex<HashMap<String, Rotation>>,
}

/// The latest refresh token a service's token endpoint issued, and those it replaced. Until
/// the store on disk (and the snapshot built from it) catches up, a lookup that finds one of
/// the replaced tokens gets the latest instead; once the human stores another token, it is
/// used as it is.
struct Rotation {
    latest: Zeroizing<String>,
    replaced: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Minting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minting")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl Minting {
    /// `store` should be a store of its own (`Store::reopen`), used only for write-backs.
    /// `client` must not follow redirects.
    pub fn new(home: Home, store: Store, client: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            cache: TokenCache::new(MARGIN),
            client,
            home,
            writer: Mutex::new(store),
            rotations: Mutex::new(HashMap::new()),
        })
    }

    /// The refresh token to use: the stored one, unless a rotation this process saw
    /// replaced it.
    fn refresh_token(&self, service: &str, stored: Option<&Secret>) -> Option<Zeroizing<String>> {
        let stored = stored.map(|s| Zeroizing::new(s.expose().to_string()));
        let rotations = self
            .rotations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match (rotations.get(service), &stored) {
            (Some(r), Some(s)) if r.replaced.iter().any(|old| old == s) => Some(r.latest.clone()),
            (Some(r), None) => Some(r.latest.clone()),
            _ => stored,
        }
    }

    /// Remembers a rotation and writes the new refresh token to the store in place of
    /// `used`, unless the store holds another one by now (the human replaced it).
    async fn rotate(
        self: &Arc<Self>,
        service: &str,
        used: Zeroizing<String>,
        new: Zeroizing<String>,
    ) {
        {
            let mut rotations = self
                .rotations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let entry = rotations.entry(service.to_string()).or_insert(Rotation {
                latest: new.clone(),
                replaced: Vec::new(),
            });
            entry.replaced.push(used.clone());
            if entry.replaced.len() > HISTORY {
                entry.replaced.remove(0);
            }
            entry.latest = new.clone();
        }
        let this = self.clone();
        let name = service.to_string();
        let written = tokio::task::spawn_blocking(move || this.write_back(&name, &used, &new))
            .await
            .unwrap_or_else(|e| Err(format!("the write task failed: {e}")));
        match written {
            Ok(true) => tracing::info!("service {service}: rotated refresh token saved"),
            Ok(false) => tracing::warn!(
                "service {service}: the token endpoint rotated the refresh token, but the store now holds a different one; the stored one was kept"
            ),
            Err(e) => tracing::warn!(
                "service {service}: the rotated refresh token could not be saved ({e}); it is kept in memory until the server stops"
            ),
        }
    }

    fn write_back(&self, service: &str, used: &str, new: &str) -> Result<bool, String> {
        let _lock = self.home.lock().map_err(|e| e.to_string())?;
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fresh = writer.reopen().map_err(|e| e.to_string())?;
        let Some(mut fields) = fresh.service(service).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        let current = fields.get("refreshToken").map(Secret::expose);
        if current.is_some_and(|c| c != used) {
            return Ok(false);
        }
        fields.insert("refreshToken", Secret::new(new));
        fresh
            .set_service(service, &fields)
            .map_err(|e| e.to_string())?;
        fresh.save().map_err(|e| e.to_string())?;
        *writer = fresh;
        Ok(true)
    }
}

/// A minted token ready to inject, with the scrubber that covers it.
pub struct Token {
    pub secret: Secret,
    pub patterns: Patterns,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// One service's link to [`Minting`], built with each configuration snapshot.
pub struct MintBinding {
    minting: Arc<Minting>,
    minter: Minter,
    service: String,
    /// Names the cache entry: the service, its minting configuration and the stored
    /// credential apart from the refresh token (which rotates without changing who the
    /// token is for), hashed.
    key: String,
    /// The stored secrets' scrub values, to which each token is added.
    values: Vec<Secret>,
    patterns: Mutex<Vec<(Secret, Patterns)>>,
}

impl std::fmt::Debug for MintBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintBinding")
            .field("service", &self.service)
            .field("minter", &self.minter)
            .finish_non_exhaustive()
    }
}

impl MintBinding {
    /// The binding of `service` when its scheme mints tokens.
    pub fn new(
        minting: &Arc<Minting>,
        service: &Service,
        fields: &SecretFields,
        values: Vec<Secret>,
    ) -> Option<Self> {
        let crate::auth::AuthKind::Minted(minter) = &service.auth else {
            return None;
        };
        let mut hash = Sha256::new();
        hash.update(service.name.as_str().as_bytes());
        hash.update([0]);
        hash.update(format!("{minter:?}").as_bytes());
        for (name, value) in fields.iter().filter(|(n, _)| *n != "refreshToken") {
            hash.update([0]);
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(value.expose().as_bytes());
        }
        let digest = hash.finalize();
        Some(Self {
            minting: minting.clone(),
            minter: minter.clone(),
            service: service.name.to_string(),
            key: hex::encode(&digest[..16]),
            values,
            patterns: Mutex::new(Vec::new()),
        })
    }

    fn scoped(&self, scope: Option<&TokenScope>) -> (String, Minter) {
        match (scope, &self.minter) {
            (
                Some(scope),
                Minter::GithubApp {
                    api_base,
                    app_id,
                    installation_id,
                    ..
                },
            ) => {
                let mut h = Sha256::new();
                h.update(format!("{:?}/{:?}", scope.repositories, scope.permissions).as_bytes());
                let key = format!("{}/{}", self.key, hex::encode(&h.finalize()[..8]));
                let minter = Minter::GithubApp {
                    api_base: api_base.clone(),
                    app_id: app_id.clone(),
                    installation_id: installation_id.clone(),
                    repositories: scope.repositories.clone(),
                    permissions: scope.permissions.clone(),
                };
                (key, minter)
            }
            _ => (self.key.clone(), self.minter.clone()),
        }
    }

    /// The token for a call under `scope`: cached while it has more than a minute left,
    /// else minted now (one mint at a time; concurrent callers share it).
    pub async fn token(
        &self,
        fields: &SecretFields,
        scope: Option<&TokenScope>,
    ) -> Result<Token, MintError> {
        let (key, minter) = self.scoped(scope);
        let minting = &self.minting;
        let secret = minting
            .cache
            .get(&key, || async {
                let refresh = minting.refresh_token(&self.service, fields.get("refreshToken"));
                let field = |name: &str| -> Option<Zeroizing<String>> {
                    if name == "refreshToken" {
                        return refresh.clone();
                    }
                    fields
                        .get(name)
                        .map(|v| Zeroizing::new(v.expose().to_string()))
                };
                let mut minted: Minted = minter
                    .mint(&minting.client, &field, SystemTime::now())
                    .await?;
                if let (Some(new), Some(used)) =
                    (minted.rotated_refresh_token.take(), refresh.clone())
                {
                    minting.rotate(&self.service, used, new).await;
                }
                Ok(minted)
            })
            .await?;
        let secret = Secret::new(secret.as_str());
        Ok(Token {
            patterns: self.patterns_for(&secret),
            secret,
        })
    }

    /// Forgets the token of `scope` if it is still `refused` (the upstream refused it): the
    /// next call mints.
    pub async fn forget(&self, scope: Option<&TokenScope>, refused: &Secret) {
        let key = self.scoped(scope).0;
        self.minting
            .cache
            .invalidate_token(&key, refused.expose())
            .await;
    }

    fn patterns_for(&self, token: &Secret) -> Patterns {
        let mut slots = self.patterns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, p)) = slots.iter().find(|(t, _)| t.expose() == token.expose()) {
            return p.clone();
        }
        let mut all: Vec<&str> = self.values.iter().map(Secret::expose).collect();
        all.push(token.expose());
        let patterns = Patterns::new(&all);
        if slots.len() >= PATTERN_SLOTS {
            slots.remove(0);
        }
        slots.push((token.clone(), patterns.clone()));
        patterns
    }
}
