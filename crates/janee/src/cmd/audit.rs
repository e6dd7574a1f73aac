//! `janee logs` and `janee audit verify`.

use std::io::Write;

use anyhow::Result;
use serde_json::json;

use super::{interactive, print_json, require_init, usage};
use crate::audit::{self, Filter};
use crate::cli::LogsArgs;
use crate::duration::parse_duration;
use crate::home::Home;

pub fn logs(home: &Home, args: LogsArgs) -> Result<()> {
    let since = match &args.since {
        Some(s) => {
            let d = parse_duration(s).map_err(|m| usage(format!("--since: {m}")))?;
            let d = chrono::Duration::from_std(d).map_err(|_| usage("--since is too long"))?;
            Some(chrono::Utc::now() - d)
        }
        None => None,
    };
    let filter = Filter {
        agent: args.agent.clone(),
        capability: args.capability.clone(),
        since,
        last: args.lines.or(if args.follow { Some(10) } else { None }),
    };
    let print = |v: &serde_json::Value| -> bool {
        let line = if args.json {
            serde_json::to_string(v).unwrap_or_default()
        } else {
            audit::format_human(v)
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`janee logs | head`) ends the listing quietly.
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    if args.follow {
        audit::follow(&home.logs_dir(), &filter, print)?;
        return Ok(());
    }
    let lines = audit::read(&home.logs_dir(), &filter)?;
    if lines.is_empty() && !args.json {
        eprintln!(
            "No audit records{}.",
            if args.agent.is_some() || args.capability.is_some() || args.since.is_some() {
                " match"
            } else {
                " yet"
            }
        );
    }
    for v in &lines {
        if !print(v) {
            break;
        }
    }
    Ok(())
}

pub fn verify(home: &Home, json: bool) -> Result<()> {
    require_init(home)?;
    let store = home.open_store(interactive())?;
    let report = audit::verify(&home.logs_dir(), &store.key().subkey("audit"))?;
    if json {
        print_json(&json!({
            "ok": report.is_ok(),
            "lines": report.lines,
            "files": report.files,
            "lastSeq": report.last_seq,
            "firstProblem": report.first_problem,
        }))?;
    } else if let Some(p) = &report.first_problem {
        println!("Audit log is NOT intact: first problem at {p}");
        println!("{} line(s) verified before it.", report.lines);
    } else {
        println!(
            "Audit log intact: {} line(s) in {} file(s), MAC chain verified.",
            report.lines, report.files
        );
    }
    match &report.first_problem {
        None => Ok(()),
        Some(p) => Err(anyhow::anyhow!(
            "audit log tampered or damaged at {}:{}",
            p.file.display(),
            p.line
        )),
    }
}
