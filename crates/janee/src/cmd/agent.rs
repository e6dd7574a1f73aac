//! `janee agent add|list|remove`: agents are named in config.yaml; their token hashes live in
//! the store. A token is printed once and never again.

use anyhow::{Result, bail};
use janee_vault::store::{RecordKind, record_names};
use serde_json::json;

use super::{interactive, print_json, require_init, usage};
use crate::cli::{AgentAddArgs, AgentRemoveArgs};
use crate::config::raw::RawAgent;
use crate::home::Home;
use crate::names::AgentName;

pub fn add(home: &Home, args: AgentAddArgs) -> Result<()> {
    require_init(home)?;
    let name = AgentName::new(args.name.clone()).map_err(|e| usage(e.to_string()))?;
    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    if raw.agents.contains_key(name.as_str()) {
        bail!(
            "agent {name} exists already; `janee agent remove {name}` first to issue a new token"
        );
    }
    let mut store = home.open_store(interactive())?;
    let token = crate::token::generate()?;
    store.set_agent_token_hash(name.as_str(), &crate::token::hash(token.expose()))?;
    raw.agents.insert(
        name.to_string(),
        RawAgent {
            description: args.description.clone(),
            created_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        },
    );
    store.save()?;
    home.save_config(raw)?;
    if args.json {
        print_json(&json!({"name": name.as_str(), "token": token.expose()}))?;
    } else {
        println!("{}", token.expose());
        eprintln!(
            "Token for agent {name} (shown once; Janee keeps only its hash). Give it to the agent's MCP client as `Authorization: Bearer <token>`."
        );
    }
    Ok(())
}

pub fn list(home: &Home, json: bool) -> Result<()> {
    let config = home.load_config()?;
    let tokens: Vec<String> = match record_names(&home.store_path()) {
        Ok(n) => n
            .into_iter()
            .filter(|(k, _)| *k == RecordKind::AgentToken)
            .map(|(_, n)| n)
            .collect(),
        Err(janee_vault::StoreError::Missing(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let rows: Vec<serde_json::Value> = config
        .raw
        .agents
        .iter()
        .map(|(name, a)| {
            json!({
                "name": name,
                "description": a.description,
                "createdAt": a.created_at,
                "hasToken": tokens.contains(name),
            })
        })
        .collect();
    if json {
        return print_json(&serde_json::Value::Array(rows));
    }
    if rows.is_empty() {
        println!("No agents yet. Create one: janee agent add NAME");
        return Ok(());
    }
    println!("{:<24} {:<22} DESCRIPTION", "AGENT", "CREATED");
    for r in rows {
        println!(
            "{:<24} {:<22} {}",
            r["name"].as_str().unwrap_or(""),
            r["createdAt"].as_str().unwrap_or("-"),
            r["description"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub fn remove(home: &Home, args: AgentRemoveArgs) -> Result<()> {
    require_init(home)?;
    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    if !raw.agents.contains_key(&args.name) {
        bail!(
            "no agent named {:?}; `janee agent list` shows them",
            super::shorten(&args.name)
        );
    }
    let mut store = home.open_store(interactive())?;
    store.remove_agent(&args.name);
    raw.agents.shift_remove(&args.name);
    store.save()?;
    home.save_config(raw)?;
    if args.json {
        print_json(&json!({"ok": true, "agent": args.name}))
    } else {
        println!("Removed agent {}; its token no longer works", args.name);
        Ok(())
    }
}
