//! `janee sessions`, `revoke`, `approvals`, `approve`, `deny`. They write `sessions.json`; a
//! running server sees the change on its very next call.

use anyhow::{Result, bail};
use chrono::Utc;
use serde_json::json;

use super::{interactive, print_json, require_init, usage, warn};
use crate::audit::{AuditLog, EventKind, Record};
use crate::cli::{ApproveArgs, DenyArgs, RevokeArgs, SessionsArgs};
use crate::duration::parse_duration;
use crate::home::Home;
use crate::session::{ApprovalStatus, Scope, SessionFile};

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Append CLI events to the audit log when a key is at hand. Revocation must work without one.
fn audit_best_effort(home: &Home, records: Vec<Record>, required: bool) -> Result<()> {
    let store = match home.open_store(interactive()) {
        Ok(s) => s,
        Err(e) if !required => {
            warn(&format!("done, but not audited: {e}"));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let log = AuditLog::open_blocking(&home.logs_dir(), store.key().subkey("audit"))?;
    for r in records {
        log.append_blocking(r)?;
    }
    log.flush_blocking()?;
    Ok(())
}

pub fn list(home: &Home, args: SessionsArgs) -> Result<()> {
    let data = SessionFile::new(home.dir()).load()?;
    let now = Utc::now();
    let rows: Vec<serde_json::Value> = data
        .sessions
        .iter()
        .filter(|s| args.all || (s.revoked_at.is_none() && s.expires_at > now))
        .map(|s| {
            let state = if s.revoked_at.is_some() {
                "revoked"
            } else if s.expires_at <= now {
                "expired"
            } else {
                "active"
            };
            json!({
                "id": s.id, "agent": s.agent, "capability": s.capability, "state": state,
                "openedAt": ts(s.opened_at), "expiresAt": ts(s.expires_at),
                "revokedAt": s.revoked_at.map(ts), "approval": s.approval,
            })
        })
        .collect();
    if args.json {
        return print_json(&serde_json::Value::Array(rows));
    }
    if rows.is_empty() {
        println!("No {}sessions.", if args.all { "" } else { "active " });
    } else {
        println!(
            "{:<22} {:<16} {:<18} {:<8} EXPIRES",
            "SESSION", "AGENT", "CAPABILITY", "STATE"
        );
        for r in &rows {
            println!(
                "{:<22} {:<16} {:<18} {:<8} {}",
                r["id"].as_str().unwrap_or(""),
                r["agent"].as_str().unwrap_or(""),
                r["capability"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or(""),
                r["expiresAt"].as_str().unwrap_or("")
            );
        }
    }
    let blocks: Vec<String> = data
        .revocations
        .iter()
        .map(|r| format!("{:?} since {}", r.scope, ts(r.at)))
        .collect();
    if !blocks.is_empty() && !args.json {
        println!("Revocations in force: {}", blocks.join("; "));
    }
    Ok(())
}

pub fn revoke(home: &Home, args: RevokeArgs) -> Result<()> {
    let scope = match (&args.id, &args.agent, &args.capability, args.all) {
        (Some(id), None, None, false) => Scope::Session(id.clone()),
        (None, Some(a), None, false) => Scope::Agent(a.clone()),
        (None, None, Some(c), false) => Scope::Capability(c.clone()),
        (None, None, None, true) => Scope::All,
        _ => {
            return Err(usage(
                "give exactly one of: a session ID, --agent A, --capability C, --all",
            ));
        }
    };
    let file = SessionFile::new(home.dir());
    if let Scope::Session(id) = &scope
        && !file.load()?.sessions.iter().any(|s| &s.id == id)
    {
        bail!("no session {id:?}; `janee sessions --all` lists them");
    }
    let now = Utc::now();
    let (_, hit) = file.update(|d| d.revoke(scope.clone(), now))?;
    let what = match &scope {
        Scope::Session(id) => format!("session {id}"),
        Scope::Agent(a) => format!("agent {a}"),
        Scope::Capability(c) => format!("capability {c}"),
        Scope::All => "all sessions".into(),
    };
    let mut rec = Record::new(EventKind::Revoke);
    rec.detail = Some(format!("{what}; {} live session(s) ended", hit.len()));
    match &scope {
        Scope::Session(id) => rec.session = Some(id.clone()),
        Scope::Agent(a) => rec.agent = Some(a.clone()),
        Scope::Capability(c) => rec.capability = Some(c.clone()),
        Scope::All => {}
    }
    if args.json {
        print_json(
            &json!({"ok": true, "revoked": what, "sessions": hit.iter().map(|s| &s.id).collect::<Vec<_>>(), "at": ts(now)}),
        )?;
    } else {
        println!(
            "Revoked {what}: {} live session(s) ended; the next call is refused.",
            hit.len()
        );
    }
    if home.store_path().exists() {
        audit_best_effort(home, vec![rec], false)?;
    }
    Ok(())
}

pub fn approvals(home: &Home, json: bool) -> Result<()> {
    let data = SessionFile::new(home.dir()).load()?;
    let now = Utc::now();
    let pending: Vec<_> = data
        .approvals
        .iter()
        .filter(|a| {
            a.status == ApprovalStatus::Pending
                && now
                    < a.created_at
                        + chrono::Duration::from_std(crate::session::PENDING_LIFETIME)
                            .unwrap_or_default()
        })
        .collect();
    if json {
        return print_json(&serde_json::Value::Array(
            pending
                .iter()
                .map(|a| json!({"id": a.id, "agent": a.agent, "capability": a.capability, "request": a.request, "reason": a.reason, "createdAt": ts(a.created_at)}))
                .collect(),
        ));
    }
    if pending.is_empty() {
        println!("No approval requests are waiting.");
    }
    for a in pending {
        println!(
            "{}  {} wants {}: {}",
            a.id,
            a.agent,
            a.capability,
            a.request.describe()
        );
        if let Some(r) = &a.reason {
            println!("    the agent says: {r:?}");
        }
        println!("    janee approve {}   |   janee deny {}", a.id, a.id);
    }
    Ok(())
}

fn decide(
    home: &Home,
    id: &str,
    approve: bool,
    grant: Option<std::time::Duration>,
    json: bool,
) -> Result<()> {
    require_init(home)?;
    // Deciding needs the key: it signs the decision so that nothing without the key can forge one.
    let store = home.open_store(interactive())?;
    let key = store.key().subkey("sessions");
    let now = Utc::now();
    let (_, found) = SessionFile::new(home.dir()).update(|d| {
        let a = d.approvals.iter_mut().find(|a| a.id == id)?;
        if a.status != ApprovalStatus::Pending {
            return Some(Err(a.status));
        }
        a.status = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        a.decided_at = Some(now);
        a.grant_ms = grant.map(|g| u64::try_from(g.as_millis()).unwrap_or(u64::MAX));
        a.seal(&key);
        Some(Ok(a.clone()))
    })?;
    let a = match found {
        None => bail!("no approval request {id:?}; `janee approvals` lists the waiting ones"),
        Some(Err(status)) => bail!("request {id} is already {status:?}"),
        Some(Ok(a)) => a,
    };
    let rec = a.decision_record();
    let log = AuditLog::open_blocking(&home.logs_dir(), store.key().subkey("audit"))?;
    log.append_blocking(rec)?;
    log.flush_blocking()?;
    let verb = if approve { "Approved" } else { "Denied" };
    if json {
        print_json(
            &json!({"ok": true, "id": a.id, "status": a.status, "agent": a.agent, "capability": a.capability}),
        )
    } else {
        println!(
            "{verb} {}: {} on {} ({})",
            a.id,
            a.agent,
            a.capability,
            a.request.describe()
        );
        Ok(())
    }
}

pub fn approve(home: &Home, args: ApproveArgs) -> Result<()> {
    let grant = args
        .for_
        .as_deref()
        .map(|d| parse_duration(d).map_err(|m| usage(format!("--for: {m}"))))
        .transpose()?;
    decide(home, &args.id, true, grant, args.json)
}

pub fn deny(home: &Home, args: DenyArgs) -> Result<()> {
    decide(home, &args.id, false, None, args.json)
}
