//! `janee cap list|add|edit|remove`: capabilities live in config.yaml only (no key needed).

use anyhow::{Result, bail};
use indexmap::IndexMap;
use serde_json::json;

use super::{print_json, split_pair, usage};
use crate::cli::{CapAddArgs, CapEditArgs, CapFields, CapRemoveArgs};
use crate::config::raw::{Access, Mode, RawCapability, RawRateLimit};
use crate::config::{Capability, Config};
use crate::duration::{ConfigDuration, format_duration, parse_duration};
use crate::home::Home;
use crate::names::CapabilityName;

/// The JSON shape shared by `cap list` and the MCP `list_services` tool.
pub fn capability_json(c: &Capability) -> serde_json::Value {
    let mut v = json!({
        "name": c.name.as_str(),
        "service": c.service.as_str(),
        "mode": c.mode.as_str(),
        "ttl": format_duration(c.ttl),
        "autoApprove": c.auto_approve,
        "requiresReason": c.requires_reason,
    });
    let obj = v.as_object_mut();
    if let Some(o) = obj {
        match &c.exec {
            None => {
                if !c.allow.is_empty() || !c.deny.is_empty() {
                    o.insert(
                        "rules".into(),
                        json!({
                            "allow": c.allow.iter().map(|r| r.as_text()).collect::<Vec<_>>(),
                            "deny": c.deny.iter().map(|r| r.as_text()).collect::<Vec<_>>(),
                        }),
                    );
                }
            }
            Some(e) => {
                o.insert("allowCommands".into(), json!(e.allow_commands));
                o.insert("env".into(), json!(e.env.keys().collect::<Vec<_>>()));
                if !e.allow.is_empty() || !e.deny.is_empty() {
                    o.insert("rules".into(), json!({"allow": e.allow, "deny": e.deny}));
                }
            }
        }
        if let Some(a) = &c.allowed_agents {
            o.insert("allowedAgents".into(), json!(a));
        }
        if let Some(a) = c.access {
            o.insert("access".into(), json!(a));
        }
        if let Some(rl) = &c.rate_limit {
            o.insert(
                "rateLimit".into(),
                json!({"requests": rl.requests, "per": format_duration(rl.per), "scope": if rl.per_agent { "agent" } else { "capability" }}),
            );
        }
    }
    v
}

pub fn list(home: &Home, json: bool) -> Result<()> {
    let config = home.load_config()?;
    if json {
        return print_json(&serde_json::Value::Array(
            config
                .capabilities
                .values()
                .map(|c| capability_json(c))
                .collect(),
        ));
    }
    if config.capabilities.is_empty() {
        println!(
            "No capabilities yet. `janee add` creates one per service; `janee cap add` adds more."
        );
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:<6} {:<6} {:<8} RULES",
        "CAPABILITY", "SERVICE", "MODE", "TTL", "APPROVE"
    );
    for c in config.capabilities.values() {
        let rules = match &c.exec {
            Some(e) => format!("commands: {}", e.allow_commands.join(", ")),
            None if c.allow.is_empty() && c.deny.is_empty() => "(all requests)".into(),
            None => format!(
                "allow {} / deny {}",
                c.allow
                    .iter()
                    .map(|r| r.as_text())
                    .collect::<Vec<_>>()
                    .join(", "),
                c.deny
                    .iter()
                    .map(|r| r.as_text())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        println!(
            "{:<20} {:<16} {:<6} {:<6} {:<8} {rules}",
            c.name.as_str(),
            c.service.as_str(),
            c.mode.as_str(),
            format_duration(c.ttl),
            if c.auto_approve { "auto" } else { "human" },
        );
    }
    Ok(())
}

fn apply(cap: &mut RawCapability, f: &CapFields) -> Result<()> {
    if let Some(t) = &f.ttl {
        cap.ttl = Some(ConfigDuration::from_duration(
            parse_duration(t).map_err(|m| usage(format!("--ttl: {m}")))?,
        ));
    }
    if f.auto_approve {
        cap.auto_approve = Some(true);
    }
    if f.no_auto_approve {
        cap.auto_approve = Some(false);
    }
    if f.requires_reason {
        cap.requires_reason = Some(true);
    }
    if f.no_requires_reason {
        cap.requires_reason = Some(false);
    }
    if !f.allow.is_empty() || !f.deny.is_empty() {
        let mut rules = cap.rules.clone().unwrap_or_default();
        if !f.allow.is_empty() {
            rules.allow = f.allow.clone();
        }
        if !f.deny.is_empty() {
            rules.deny = f.deny.clone();
        }
        cap.rules = Some(rules);
    }
    if !f.allowed_agents.is_empty() {
        cap.allowed_agents = Some(
            f.allowed_agents
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
        );
    }
    if let Some(a) = &f.access {
        cap.access = Some(match a.as_str() {
            "open" => Access::Open,
            "restricted" => Access::Restricted,
            other => {
                return Err(usage(format!(
                    "--access: {other:?} is not open or restricted"
                )));
            }
        });
    }
    if let Some(m) = &f.mode {
        cap.mode = Some(match m.as_str() {
            "proxy" => Mode::Proxy,
            "exec" => Mode::Exec,
            other => return Err(usage(format!("--mode: {other:?} is not proxy or exec"))),
        });
    }
    if !f.allow_commands.is_empty() {
        cap.allow_commands = Some(f.allow_commands.clone());
    }
    if !f.env_map.is_empty() {
        let mut env = IndexMap::new();
        for pair in &f.env_map {
            let (k, v) = split_pair("--env-map", pair)?;
            env.insert(k.to_string(), v.to_string());
        }
        cap.env = Some(env);
    }
    if let Some(w) = &f.work_dir {
        cap.work_dir = Some(w.clone());
    }
    if let Some(t) = &f.timeout {
        cap.timeout = Some(ConfigDuration::from_duration(
            parse_duration(t).map_err(|m| usage(format!("--timeout: {m}")))?,
        ));
    }
    if let Some(rl) = &f.rate_limit {
        let (n, per) = rl
            .split_once('/')
            .ok_or_else(|| usage("--rate-limit takes N/DURATION, e.g. 100/1m"))?;
        let requests: u32 = n
            .trim()
            .parse()
            .map_err(|_| usage(format!("--rate-limit: {n:?} is not a number")))?;
        let per = parse_duration(per).map_err(|m| usage(format!("--rate-limit: {m}")))?;
        cap.rate_limit = Some(RawRateLimit {
            requests,
            per: ConfigDuration::from_duration(per),
            scope: cap.rate_limit.as_ref().and_then(|r| r.scope.clone()),
        });
    }
    Ok(())
}

fn save_and_report(
    home: &Home,
    raw: crate::config::raw::RawConfig,
    name: &str,
    verb: &str,
    json: bool,
) -> Result<()> {
    let config: Config = home.save_config(raw)?;
    let cap = config
        .capability(name)
        .ok_or_else(|| anyhow::anyhow!("capability {name} vanished while saving"))?;
    if json {
        let mut v = capability_json(cap);
        if let Some(o) = v.as_object_mut() {
            o.insert("ok".into(), json!(true));
        }
        print_json(&v)
    } else {
        println!(
            "{verb} capability {name} (service {}, {})",
            cap.service,
            cap.mode.as_str()
        );
        Ok(())
    }
}

pub fn add(home: &Home, args: CapAddArgs) -> Result<()> {
    let name = CapabilityName::new(args.name.clone()).map_err(|e| usage(e.to_string()))?;
    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    if raw.capabilities.items.contains_key(name.as_str()) {
        bail!("capability {name} exists already; change it with `janee cap edit {name}`");
    }
    if !raw.services.contains_key(&args.service) {
        bail!(
            "no service named {:?}; `janee list` shows the services",
            super::shorten(&args.service)
        );
    }
    let mut cap = RawCapability {
        service: args.service.clone(),
        ttl: Some(ConfigDuration::from_duration(crate::config::DEFAULT_TTL)),
        ..RawCapability::default()
    };
    apply(&mut cap, &args.fields)?;
    raw.capabilities.items.insert(name.to_string(), cap);
    save_and_report(home, raw, name.as_str(), "Added", args.json)
}

pub fn edit(home: &Home, args: CapEditArgs) -> Result<()> {
    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    let Some(cap) = raw.capabilities.items.get_mut(&args.name) else {
        bail!(
            "no capability named {:?}; `janee cap list` shows them",
            super::shorten(&args.name)
        );
    };
    if args.clear_rules {
        cap.rules = None;
    }
    if args.clear_agents {
        cap.allowed_agents = None;
    }
    if args.clear_access {
        cap.access = None;
    }
    if args.clear_rate_limit {
        cap.rate_limit = None;
    }
    apply(cap, &args.fields)?;
    save_and_report(home, raw, &args.name, "Updated", args.json)
}

pub fn remove(home: &Home, args: CapRemoveArgs) -> Result<()> {
    let _lock = home.lock()?;
    let mut raw = home.load_config()?.raw;
    if raw.capabilities.items.shift_remove(&args.name).is_none() {
        bail!(
            "no capability named {:?}; `janee cap list` shows them",
            super::shorten(&args.name)
        );
    }
    home.save_config(raw)?;
    if args.json {
        print_json(&json!({"ok": true, "capability": args.name}))
    } else {
        println!("Removed capability {}", args.name);
        Ok(())
    }
}
