//! `janee init`: home, config.yaml, the encrypted store, with the key kept as the user chose.

use anyhow::{Result, bail};
use janee_vault::crypto::KdfParams;
use janee_vault::custody::{keyring_get, keyring_set};
use janee_vault::fsutil;
use janee_vault::{Custody, MasterKey, Store};
use serde_json::json;
use zeroize::Zeroizing;

use super::{interactive, print_json, usage};
use crate::cli::InitArgs;
use crate::config::raw::{RawConfig, RawServer};
use crate::home::{self, Home};

pub fn run(home: &Home, args: InitArgs) -> Result<()> {
    home.ensure()?;
    let _lock = home.lock()?;
    let store_path = home.store_path();
    if store_path.exists() {
        // Already initialised: prove the key works rather than silently succeeding.
        let store = home.open_store(interactive())?;
        return report(home, args.json, store.header().custody, false);
    }

    let env = home::key_inputs(false);
    let (key, custody, kdf, key_file) = if let Some(text) = &env.master_key {
        let key = MasterKey::from_base64(text)
            .ok_or_else(|| usage("JANEE_MASTER_KEY is not base64 of 32 bytes"))?;
        (key, Custody::MasterKey, None, None)
    } else if let Some(path) = &args.key_file {
        let path = if path.is_relative() {
            std::env::current_dir()?.join(path)
        } else {
            path.clone()
        };
        let key = if path.exists() {
            let text = Zeroizing::new(std::fs::read_to_string(&path)?);
            MasterKey::from_base64(&text).ok_or_else(|| {
                usage(format!(
                    "{} exists but does not hold base64 of 32 bytes",
                    path.display()
                ))
            })?
        } else {
            let key = MasterKey::generate()?;
            let mut text = key.to_base64();
            text.push('\n');
            fsutil::create_private(&path, text.as_bytes())?;
            key
        };
        (
            key,
            Custody::KeyFile,
            None,
            Some(path.display().to_string()),
        )
    } else if let Some(pass) = &env.passphrase {
        let kdf = KdfParams::generate()?;
        (
            kdf.derive(pass.as_bytes())?,
            Custody::Passphrase,
            Some(kdf),
            None,
        )
    } else if args.keyring || (env.use_keyring && keyring_reachable()) {
        (MasterKey::generate()?, Custody::Keyring, None, None)
    } else if interactive() {
        let first = Zeroizing::new(rpassword::prompt_password("New Janee passphrase: ")?);
        if first.chars().count() < 8 {
            bail!("the passphrase must be at least 8 characters");
        }
        let second = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *first != *second {
            bail!("the passphrases differ; nothing was created");
        }
        let kdf = KdfParams::generate()?;
        (
            kdf.derive(first.as_bytes())?,
            Custody::Passphrase,
            Some(kdf),
            None,
        )
    } else {
        bail!(
            "no way to keep the master key: no OS keyring is reachable and there is no terminal to ask for a passphrase. Set JANEE_PASSPHRASE (a passphrase), or JANEE_MASTER_KEY (base64 of 32 random bytes), or run `janee init --key-file PATH`"
        );
    };

    let keyring_copy = (custody == Custody::Keyring).then(|| MasterKey::from_bytes_copy(&key));
    let store = Store::create(&store_path, key, custody, kdf, key_file)?;
    if let Some(k) = keyring_copy
        && let Err(why) = keyring_set(&store.header().store_id, &k)
    {
        let _ = std::fs::remove_file(&store_path);
        bail!(
            "could not keep the master key in the OS keyring ({why}); nothing was created. Set JANEE_PASSPHRASE instead"
        );
    }
    if !home.config_path().exists() {
        let raw = RawConfig {
            server: RawServer {
                port: Some(crate::config::DEFAULT_PORT),
                host: Some("127.0.0.1".into()),
                default_access: Some(crate::config::raw::Access::Open),
                ..RawServer::default()
            },
            ..RawConfig::default()
        };
        home.save_config(raw)?;
    }
    report(home, args.json, custody, true)
}

fn keyring_reachable() -> bool {
    // A reachable keyring answers "no entry" for an id that was never stored.
    match keyring_get("janee-probe") {
        Ok(_) => true,
        Err(why) => why.contains("no entry"),
    }
}

fn report(home: &Home, json: bool, custody: Custody, created: bool) -> Result<()> {
    let how = match custody {
        Custody::Passphrase => "derived from your passphrase (JANEE_PASSPHRASE or the prompt)",
        Custody::Keyring => "kept in the OS keyring",
        Custody::KeyFile => "kept in the key file you named (doctor will remind you it is weaker)",
        Custody::MasterKey => "supplied as JANEE_MASTER_KEY; keep it safe, it is the only copy",
    };
    if json {
        return print_json(&json!({
            "ok": true,
            "created": created,
            "home": home.dir(),
            "custody": custody.as_str(),
        }));
    }
    if created {
        println!("Initialised Janee at {}", home.dir().display());
    } else {
        println!("Janee is already initialised at {}", home.dir().display());
    }
    println!("Master key: {how}.");
    if created {
        println!("Next: janee add NAME --url URL --key-from-env VAR");
    }
    Ok(())
}
