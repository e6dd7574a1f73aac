//! `janee git-credential-helper get`: the credential helper Janee configures for git inside
//! `janee_exec`. It answers only for the service's own protocol and host (with port), so a
//! remote pointing anywhere else gets nothing.

use std::io::{BufRead, Write};

use anyhow::Result;
use zeroize::Zeroizing;

pub fn run(operation: &str) -> Result<()> {
    if operation != "get" {
        // `store` and `erase`: nothing is kept, nothing to forget.
        return Ok(());
    }
    let (Ok(host), Ok(protocol)) = (
        std::env::var("JANEE_GIT_HOST"),
        std::env::var("JANEE_GIT_PROTOCOL"),
    ) else {
        return Ok(());
    };
    let mut asked_host = None;
    let mut asked_protocol = None;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k {
                "host" => asked_host = Some(v.to_string()),
                "protocol" => asked_protocol = Some(v.to_string()),
                _ => {}
            }
        }
    }
    if asked_host.as_deref() != Some(host.as_str())
        || asked_protocol.as_deref() != Some(protocol.as_str())
    {
        return Ok(());
    }
    let Ok(token) = std::env::var("JANEE_GIT_TOKEN").map(Zeroizing::new) else {
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "username=x-access-token")?;
    writeln!(out, "password={}", token.as_str())?;
    Ok(())
}
