//! The Janee home: `$JANEE_HOME` or `~/.janee`, 0700, every file 0600.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use janee_vault::fsutil::{self, HomeLock};
use janee_vault::{KeyInputs, Store};
use zeroize::Zeroizing;

use crate::config::raw::RawConfig;
use crate::config::{self, Config, ConfigError};

pub const STORE_FILE: &str = "store.janee";
pub const CONFIG_FILE: &str = "config.yaml";

#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot find the home directory; set JANEE_HOME")]
    NoHome,
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Home {
    /// `$JANEE_HOME` (relative paths are taken from the current directory), else `~/.janee`.
    pub fn from_env() -> Result<Self, HomeError> {
        let dir = match std::env::var_os("JANEE_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => std::env::home_dir()
                .ok_or(HomeError::NoHome)?
                .join(".janee"),
        };
        let dir = if dir.is_relative() {
            std::env::current_dir()
                .map_err(|source| HomeError::Io {
                    action: "resolve",
                    path: dir.clone(),
                    source,
                })?
                .join(dir)
        } else {
            dir
        };
        Ok(Self { dir })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Create the home and its `logs/` with mode 0700.
    pub fn ensure(&self) -> Result<(), HomeError> {
        for d in [self.dir.clone(), self.logs_dir()] {
            fsutil::ensure_private_dir(&d).map_err(|source| HomeError::Io {
                action: "create",
                path: d.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// The exclusive lock every writer of the home holds around read-modify-write.
    pub fn lock(&self) -> Result<HomeLock, HomeError> {
        self.ensure()?;
        HomeLock::acquire(&self.dir).map_err(|source| HomeError::Io {
            action: "lock",
            path: self.dir.join(".lock"),
            source,
        })
    }

    pub fn load_config(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config_path())
    }

    /// Validate and write `raw` atomically.
    pub fn save_config(&self, raw: RawConfig) -> Result<Config, anyhow::Error> {
        let path = self.config_path();
        let cfg = Config::from_raw_edit(&path, raw)?;
        fsutil::atomic_write(&path, config::to_yaml(&cfg.raw).as_bytes())
            .map_err(|e| anyhow::anyhow!("could not write {}: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn open_store(&self, interactive: bool) -> Result<Store, janee_vault::StoreError> {
        Store::open(&self.store_path(), &key_inputs(interactive))
    }
}

/// What the environment offers to unlock the store: `JANEE_MASTER_KEY`, `JANEE_PASSPHRASE`, a
/// prompt when stdin is a terminal, and the OS keyring unless `JANEE_NO_KEYRING` is set.
pub fn key_inputs(interactive: bool) -> KeyInputs {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Zeroizing::new)
    };
    let prompt: Option<Box<dyn Fn() -> Option<Zeroizing<String>>>> =
        if interactive && std::io::stdin().is_terminal() {
            Some(Box::new(|| {
                rpassword::prompt_password("Janee passphrase: ")
                    .ok()
                    .map(Zeroizing::new)
            }))
        } else {
            None
        };
    KeyInputs {
        master_key: var("JANEE_MASTER_KEY"),
        passphrase: var("JANEE_PASSPHRASE"),
        prompt,
        use_keyring: std::env::var_os("JANEE_NO_KEYRING").is_none(),
    }
}
