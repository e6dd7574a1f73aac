//! `janee doctor`: the home's permissions, the key source, the config, the store and every
//! service's secret fields. Exit 1 when any check fails.

use anyhow::Result;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use janee_vault::Custody;
use serde_json::json;

use super::{interactive, print_json};
use crate::home::Home;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

struct Check {
    name: String,
    status: Status,
    detail: String,
}

fn mode_of(p: &Path) -> Option<u32> {
    #[cfg(unix)]
    return std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    #[cfg(not(unix))]
    {
        let _ = p;
        None
    }
}

pub fn run(home: &Home, json: bool) -> Result<()> {
    let mut checks: Vec<Check> = Vec::new();
    let mut add = |name: &str, status: Status, detail: String| {
        checks.push(Check {
            name: name.into(),
            status,
            detail,
        })
    };

    // Home and file permissions.
    match mode_of(home.dir()) {
        None => add(
            "home",
            Status::Fail,
            format!("{} does not exist: run `janee init`", home.dir().display()),
        ),
        Some(0o700) => add(
            "home",
            Status::Ok,
            format!("{} (0700)", home.dir().display()),
        ),
        Some(m) => add(
            "home",
            Status::Warn,
            format!(
                "{} is {m:o}; run `chmod 700 {}`",
                home.dir().display(),
                home.dir().display()
            ),
        ),
    }
    let mut loose = Vec::new();
    for dir in [home.dir().to_path_buf(), home.logs_dir()] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_file() && mode_of(&p).is_some_and(|m| m & 0o077 != 0) {
                    loose.push(p.display().to_string());
                }
            }
        }
    }
    if loose.is_empty() {
        add(
            "permissions",
            Status::Ok,
            "every file is private (0600)".into(),
        );
    } else {
        add(
            "permissions",
            Status::Warn,
            format!(
                "readable by others: {}; run chmod 600 on them",
                loose.join(", ")
            ),
        );
    }

    // Config.
    let config = match home.load_config() {
        Ok(c) => {
            add(
                "config",
                Status::Ok,
                format!(
                    "{} services, {} capabilities, {} agents",
                    c.services.len(),
                    c.capabilities.len(),
                    c.agents.len()
                ),
            );
            Some(c)
        }
        Err(e) => {
            add("config", Status::Fail, e.to_string());
            None
        }
    };

    // Store and key.
    let mut key_source = None;
    let store = match janee_vault::store::read_header(&home.store_path()) {
        Err(e) => {
            add("store", Status::Fail, e.to_string());
            None
        }
        Ok(header) => {
            add(
                "store",
                Status::Ok,
                format!(
                    "{} (format {}, integrity checked)",
                    home.store_path().display(),
                    header.version
                ),
            );
            if header.custody == Custody::KeyFile {
                add(
                    "key-custody",
                    Status::Warn,
                    format!(
                        "the master key is in a key file ({}); anyone who can read it and the store has every secret. Prefer a passphrase or the OS keyring",
                        header.key_file.as_deref().unwrap_or("?")
                    ),
                );
            } else {
                add("key-custody", Status::Ok, header.custody.as_str().into());
            }
            match home.open_store(interactive()) {
                Ok(s) => {
                    key_source = Some(s.key_source().describe());
                    add(
                        "key",
                        Status::Ok,
                        format!("unlocked with {}", s.key_source().describe()),
                    );
                    Some(s)
                }
                Err(e) => {
                    add("key", Status::Fail, e.to_string());
                    None
                }
            }
        }
    };

    // Services and agents.
    if let (Some(cfg), Some(store)) = (&config, &store) {
        for svc in cfg.services.values() {
            let name = format!("service:{}", svc.name);
            match store.service(svc.name.as_str()) {
                Ok(Some(fields)) => {
                    let missing = svc.auth.missing_fields(&fields);
                    if missing.is_empty() {
                        add(
                            &name,
                            Status::Ok,
                            format!(
                                "{} with {}",
                                svc.auth.type_name(),
                                fields.names().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    } else {
                        add(&name, Status::Fail, format!("missing secret fields: {}; re-add it with `janee remove {0}` and `janee add {0}`", missing.join(", ")).replace("{0}", svc.name.as_str()));
                    }
                }
                Ok(None) => add(
                    &name,
                    Status::Fail,
                    format!(
                        "no secret in the store; `janee import dotenv` or re-add it with `janee add {}`",
                        svc.name
                    ),
                ),
                Err(e) => add(&name, Status::Fail, e.to_string()),
            }
            if svc.base.url().scheme() == "http" {
                add(
                    &name,
                    Status::Warn,
                    "plain http: only safe on loopback".into(),
                );
            }
        }
        for orphan in store
            .service_names()
            .into_iter()
            .filter(|n| cfg.service(n).is_none())
        {
            add(
                "orphan-secret",
                Status::Warn,
                format!("the store holds secrets for {orphan}, which config.yaml does not name"),
            );
        }
        for agent in &cfg.agents {
            if store
                .agent_token_hash(agent.as_str())
                .ok()
                .flatten()
                .is_none()
            {
                add(
                    &format!("agent:{agent}"),
                    Status::Warn,
                    "no token: `janee agent remove` and `agent add` it again".into(),
                );
            }
        }
        for cap in cfg.capabilities.values() {
            if let Some(e) = &cap.exec {
                let name = format!("capability:{}", cap.name);
                if e.missing.is_empty() {
                    let paths: Vec<String> = e
                        .allow_commands
                        .iter()
                        .filter_map(|c| e.resolved.get(c).map(|p| p.display().to_string()))
                        .collect();
                    add(&name, Status::Ok, format!("exec: {}", paths.join(", ")));
                } else {
                    add(
                        &name,
                        Status::Fail,
                        format!(
                            "exec commands not found in the trusted PATH ({}): {}",
                            cfg.server.trusted_path,
                            e.missing.join(", ")
                        ),
                    );
                }
            }
            for a in cap.allowed_agents.iter().flatten() {
                if !cfg.agents.iter().any(|x| x.as_str() == a) {
                    add(
                        &format!("capability:{}", cap.name),
                        Status::Warn,
                        format!("allowedAgents names {a:?}, which is not a known agent"),
                    );
                }
            }
        }
    }

    let ok = checks.iter().all(|c| c.status != Status::Fail);
    let label = |s: Status| match s {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Fail => "fail",
    };
    if json {
        print_json(&json!({
            "ok": ok,
            "home": home.dir(),
            "keySource": key_source,
            "checks": checks.iter().map(|c| json!({"check": c.name, "status": label(c.status), "detail": c.detail})).collect::<Vec<_>>(),
        }))?;
    } else {
        for c in &checks {
            println!("{:<5} {:<22} {}", label(c.status), c.name, c.detail);
        }
        println!(
            "{}",
            if ok {
                "All checks passed."
            } else {
                "Some checks failed."
            }
        );
    }
    if ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!("doctor found problems (see above)"))
    }
}
