//! `janee list`: services, from config and the store's record names (no key needed).

use anyhow::Result;
use janee_vault::store::{RecordKind, record_names};
use serde_json::json;

use super::print_json;
use crate::home::Home;

pub fn run(home: &Home, json: bool) -> Result<()> {
    let config = home.load_config()?;
    let stored: Vec<String> = match record_names(&home.store_path()) {
        Ok(names) => names
            .into_iter()
            .filter(|(k, _)| *k == RecordKind::Service)
            .map(|(_, n)| n)
            .collect(),
        Err(janee_vault::StoreError::Missing(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let rows: Vec<serde_json::Value> = config
        .services
        .values()
        .map(|s| {
            let caps: Vec<&str> = config
                .capabilities
                .values()
                .filter(|c| c.service == s.name)
                .map(|c| c.name.as_str())
                .collect();
            json!({
                "name": s.name.as_str(),
                "baseUrl": s.base.as_str(),
                "authType": s.auth.type_name(),
                "capabilities": caps,
                "hasSecret": stored.iter().any(|n| n == s.name.as_str()),
            })
        })
        .collect();
    if json {
        return print_json(&serde_json::Value::Array(rows));
    }
    if rows.is_empty() {
        println!("No services yet. Add one: janee add NAME --url URL --key-from-env VAR");
        return Ok(());
    }
    println!(
        "{:<20} {:<8} {:<40} CAPABILITIES",
        "SERVICE", "AUTH", "BASE URL"
    );
    for r in rows {
        let caps: Vec<&str> = r["capabilities"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let missing = if r["hasSecret"] == true {
            ""
        } else {
            "  (secret missing)"
        };
        println!(
            "{:<20} {:<8} {:<40} {}{missing}",
            r["name"].as_str().unwrap_or(""),
            r["authType"].as_str().unwrap_or(""),
            r["baseUrl"].as_str().unwrap_or(""),
            caps.join(", ")
        );
    }
    Ok(())
}
