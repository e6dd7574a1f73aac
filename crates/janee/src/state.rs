//! What a running server knows: a snapshot of config and decrypted secrets, swapped whole on
//! reload, plus the shared HTTP client and audit log. `AppState` is cheap to clone.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use janee_vault::{SecretFields, Store};
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditLog, EventKind, Record};
use crate::auth::{AuthKind, Credential};
use crate::config::{Config, Service, TokenScope};
use crate::home::Home;
use crate::minted::{MintBinding, Minting, Token};
use crate::minting::MintError;
use crate::scrub::Patterns;

/// A service's decrypted secret material and the scrubber built from it.
pub struct ServiceSecrets {
    fields: SecretFields,
    pub patterns: Patterns,
    /// The same secrets lower-cased, for text that arrives case-folded (HTTP header names).
    lower_patterns: Patterns,
    /// Lower-case header names the auth scheme sets.
    pub scheme_headers: Vec<String>,
    /// The link to the token cache, when the scheme mints tokens.
    mint: Option<MintBinding>,
}

impl std::fmt::Debug for ServiceSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSecrets")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl ServiceSecrets {
    /// `minting` is needed only by services whose scheme mints tokens (without it they
    /// cannot obtain one).
    pub fn new(service: &Service, fields: SecretFields, minting: Option<&Arc<Minting>>) -> Self {
        let values = service.auth.scrub_values(&fields);
        let mint = minting.and_then(|m| MintBinding::new(m, service, &fields, values.clone()));
        let exposed: Vec<&str> = values.iter().map(|s| s.expose()).collect();
        let lower: Vec<zeroize::Zeroizing<String>> = exposed
            .iter()
            .map(|s| zeroize::Zeroizing::new(s.to_ascii_lowercase()))
            .collect();
        let lower_refs: Vec<&str> = lower.iter().map(|s| s.as_str()).collect();
        Self {
            patterns: Patterns::new(&exposed),
            lower_patterns: Patterns::new(&lower_refs),
            scheme_headers: service.auth.header_names(&fields),
            fields,
            mint,
        }
    }

    /// The minted token for a call under `scope`, or `None` when the scheme does not mint.
    pub async fn minted(
        &self,
        service: &Service,
        scope: Option<&TokenScope>,
    ) -> Result<Option<Token>, MintError> {
        match (&self.mint, &service.auth) {
            (Some(mint), _) => mint.token(&self.fields, scope).await.map(Some),
            (None, AuthKind::Minted(_)) => Err(MintError::BadKey(
                "this process cannot mint tokens for the service".into(),
            )),
            (None, _) => Ok(None),
        }
    }

    /// Forgets the minted token of `scope` after the upstream refused it.
    pub async fn forget_minted(&self, scope: Option<&TokenScope>, refused: &Token) {
        if let Some(mint) = &self.mint {
            mint.forget(scope, &refused.secret).await;
        }
    }

    /// Whether case-folded text (a header name) carries a secret in any case.
    pub fn name_holds_secret(&self, name: &str) -> bool {
        let lower = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        self.lower_patterns.scrub_cow(&lower).1 > 0 || self.patterns.scrub_cow(name).1 > 0
    }

    pub fn credential(&self, service: &Service) -> Credential {
        service.auth.credential(&self.fields)
    }

    pub fn fields(&self) -> &SecretFields {
        &self.fields
    }
}

/// Everything a request needs, consistent with itself.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub secrets: HashMap<String, Arc<ServiceSecrets>>,
    pub tokens: Vec<(String, [u8; 32])>,
    /// Patterns of every secret, for text that may mention any of them (errors, logs).
    pub all_patterns: Patterns,
    pub(crate) stamp: Stamp,
}

/// File identity used to notice changes made by the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Stamp(Vec<Option<(SystemTime, u64)>>);

fn stamp(paths: &[PathBuf]) -> Stamp {
    Stamp(
        paths
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
            })
            .collect(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] janee_vault::StoreError),
}

fn build(home: &Home, store: &Store, minting: &Arc<Minting>) -> Result<Snapshot, LoadError> {
    let paths = [home.config_path(), home.store_path()];
    let stamp = stamp(&paths);
    let config = home.load_config()?;
    let mut secrets = HashMap::new();
    let mut all = Vec::new();
    for svc in config.services.values() {
        if let Some(fields) = store.service(svc.name.as_str())? {
            all.extend(svc.auth.scrub_values(&fields));
            secrets.insert(
                svc.name.to_string(),
                Arc::new(ServiceSecrets::new(svc, fields, Some(minting))),
            );
        }
    }
    let exposed: Vec<&str> = all.iter().map(|s| s.expose()).collect();
    Ok(Snapshot {
        config: Arc::new(config),
        secrets,
        tokens: store.agent_token_hashes()?,
        all_patterns: Patterns::new(&exposed),
        stamp,
    })
}

/// Settings given on the `serve` command line.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub allow_anonymous: bool,
}

struct Inner {
    home: Home,
    gate: crate::gate::Gatekeeper,
    snapshot: RwLock<Arc<Snapshot>>,
    store: Mutex<Store>,
    audit: AuditLog,
    upstream: crate::proxy::Upstream,
    minting: Arc<Minting>,
    shutdown: CancellationToken,
    options: ServeOptions,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("home", &self.0.home)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub async fn new(home: Home, store: Store, options: ServeOptions) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .user_agent(concat!("janee/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let upstream = crate::proxy::Upstream::new(http.clone())?;
        let minting = Minting::new(home.clone(), store.reopen()?, http.clone());
        let snapshot = build(&home, &store, &minting)?;
        let audit = AuditLog::open(&home.logs_dir(), store.key().subkey("audit")).await?;
        let gate = crate::gate::Gatekeeper::new(home.dir(), store.key().subkey("sessions"));
        Ok(Self(Arc::new(Inner {
            gate,
            home,
            snapshot: RwLock::new(Arc::new(snapshot)),
            store: Mutex::new(store),
            audit,
            upstream,
            minting,
            shutdown: CancellationToken::new(),
            options,
        })))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.0.snapshot.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn gate(&self) -> &crate::gate::Gatekeeper {
        &self.0.gate
    }

    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    /// The client of `execute`'s upstream calls.
    pub fn upstream(&self) -> &crate::proxy::Upstream {
        &self.0.upstream
    }

    pub fn home(&self) -> &Home {
        &self.0.home
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// The master key in base64, for in-process tools that must reopen the store (the demo).
    pub fn master_key_b64(&self) -> Option<zeroize::Zeroizing<String>> {
        self.0.store.lock().ok().map(|s| s.key().to_base64())
    }

    pub fn options(&self) -> &ServeOptions {
        &self.0.options
    }

    /// Reload config and store if either file changed. An invalid new config is reported and
    /// the old one stays in force.
    pub async fn reload_if_changed(&self) {
        let paths = [self.0.home.config_path(), self.0.home.store_path()];
        let now = stamp(&paths);
        if now == self.snapshot().stamp {
            return;
        }
        let this = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut store = this.0.store.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = store.reopen()?;
            let snap = build(&this.0.home, &fresh, &this.0.minting)?;
            *store = fresh;
            Ok::<_, LoadError>(snap)
        })
        .await;
        let mut rec = Record::new(EventKind::ConfigReload);
        match result {
            Ok(Ok(snap)) => {
                let detail = format!(
                    "{} services, {} capabilities, {} agents",
                    snap.config.services.len(),
                    snap.config.capabilities.len(),
                    snap.tokens.len()
                );
                tracing::info!("reloaded: {detail}");
                rec.detail = Some(detail);
                let mut w = self.0.snapshot.write().unwrap_or_else(|p| p.into_inner());
                *w = Arc::new(snap);
            }
            Ok(Err(e)) => {
                tracing::warn!("reload failed, keeping the previous config: {e}");
                rec.error = Some(e.to_string());
                // Do not retry the same broken files on every tick.
                let mut w = self.0.snapshot.write().unwrap_or_else(|p| p.into_inner());
                let old = w.clone();
                *w = Arc::new(Snapshot {
                    config: old.config.clone(),
                    secrets: old.secrets.clone(),
                    tokens: old.tokens.clone(),
                    all_patterns: old.all_patterns.clone(),
                    stamp: now,
                });
            }
            Err(e) => {
                rec.error = Some(format!("reload task failed: {e}"));
            }
        }
        let _ = self.0.audit.append(rec).await;
    }

    /// Poll for changes until shutdown.
    pub fn spawn_reloader(&self, every: Duration) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = this.0.shutdown.cancelled() => break,
                    _ = tick.tick() => this.reload_if_changed().await,
                }
            }
        });
    }
}
