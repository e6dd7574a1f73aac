//! `janee search` and `janee test`.

use anyhow::{Result, bail};
use serde_json::json;

use super::{interactive, print_json, require_init};
use crate::cli::{SearchArgs, TestArgs};
use crate::home::Home;
use crate::state::ServiceSecrets;

pub fn search(args: SearchArgs) -> Result<()> {
    let found = crate::templates::search(args.query.as_deref().unwrap_or(""));
    if args.json {
        return print_json(&serde_json::to_value(&found)?);
    }
    if found.is_empty() {
        println!(
            "No template matches. Add the service by hand: janee add NAME --url URL --key-from-env VAR"
        );
        return Ok(());
    }
    for t in &found {
        let auth = t.auth.type_name();
        println!("{:<14} {:<24} {:<10} {}", t.name, t.title, auth, t.base_url);
    }
    println!(
        "\nAdd one: janee add NAME --key-from-env VAR (the template fills in URL, auth and a read-only capability)"
    );
    Ok(())
}

pub fn test(home: &Home, args: TestArgs) -> Result<()> {
    require_init(home)?;
    let config = home.load_config()?;
    let store = home.open_store(interactive())?;
    let services: Vec<_> = match &args.name {
        Some(n) => match config.service(n) {
            Some(s) => vec![s.clone()],
            None => bail!(
                "no service named {:?}; `janee list` shows them",
                super::shorten(n)
            ),
        },
        None => config.services.values().cloned().collect(),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(crate::probe::PROBE_TIMEOUT)
        .build()?;
    let minting = crate::minted::Minting::new(home.clone(), store.reopen()?, client.clone());
    let upstream = crate::proxy::Upstream::new(client)?;
    let mut secrets = Vec::new();
    for s in &services {
        secrets.push(
            store
                .service(s.name.as_str())?
                .map(|f| ServiceSecrets::new(s, f, Some(&minting))),
        );
    }
    let results = super::serve::runtime()?.block_on(async {
        let mut out = Vec::new();
        for (s, sec) in services.iter().zip(&secrets) {
            out.push(crate::probe::probe(&upstream, s, sec.as_ref()).await);
        }
        out
    });
    let all_ok = results.iter().all(|r| r.auth_ok);
    if args.json {
        print_json(&json!(results))?;
    } else {
        for r in &results {
            let verdict = if r.auth_ok { "ok  " } else { "FAIL" };
            let status = r
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "{verdict} {:<18} GET {:<28} {status:>4} {:>5} ms  {}",
                r.service,
                r.test_path,
                r.latency_ms,
                r.error.as_deref().unwrap_or("")
            );
        }
    }
    if all_ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "some services did not accept their credential"
        ))
    }
}
