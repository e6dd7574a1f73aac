//! One file per subcommand. `anyhow` lives here and in `main`; library modules use typed errors.

pub mod agent;
pub mod audit;
pub mod cap;
pub mod demo;
pub mod doctor;
pub mod gitcred;
pub mod import;
pub mod init;
pub mod list;
pub mod probe;
pub mod serve;
pub mod service;
pub mod sessions;

use std::io::{IsTerminal, Read, Write};

use anyhow::{Context, Result};
use janee_vault::Secret;
use zeroize::Zeroizing;

use crate::cli::{AgentCommand, AuditCommand, CapCommand, Cli, Command, ImportCommand};
use crate::home::Home;

/// A mistake in how the command was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

pub fn run(cli: Cli) -> Result<()> {
    if let Command::GitCredentialHelper { operation } = &cli.command {
        return gitcred::run(operation);
    }
    let home = Home::from_env()?;
    match cli.command {
        Command::Init(a) => init::run(&home, a),
        Command::Add(a) => service::add(&home, a),
        Command::Remove(a) => service::remove(&home, a),
        Command::List(a) => list::run(&home, a.json),
        Command::Cap(CapCommand::List(a)) => cap::list(&home, a.json),
        Command::Cap(CapCommand::Add(a)) => cap::add(&home, a),
        Command::Cap(CapCommand::Edit(a)) => cap::edit(&home, a),
        Command::Cap(CapCommand::Remove(a)) => cap::remove(&home, a),
        Command::Agent(AgentCommand::Add(a)) => agent::add(&home, a),
        Command::Agent(AgentCommand::List(a)) => agent::list(&home, a.json),
        Command::Agent(AgentCommand::Remove(a)) => agent::remove(&home, a),
        Command::Import(ImportCommand::Janee(a)) => import::janee(&home, a),
        Command::Import(ImportCommand::Dotenv(a)) => import::dotenv(&home, a),
        Command::Doctor(a) => doctor::run(&home, a.json),
        Command::Search(a) => probe::search(a),
        Command::Test(a) => probe::test(&home, a),
        Command::Serve(a) => serve::run(home, a),
        Command::Logs(a) => audit::logs(&home, a),
        Command::Audit(AuditCommand::Verify(a)) => audit::verify(&home, a.json),
        Command::Demo(a) => demo::run(a),
        Command::Sessions(a) => sessions::list(&home, a),
        Command::Revoke(a) => sessions::revoke(&home, a),
        Command::Approvals(a) => sessions::approvals(&home, a.json),
        Command::Approve(a) => sessions::approve(&home, a),
        Command::Deny(a) => sessions::deny(&home, a),
        Command::GitCredentialHelper { .. } => Ok(()),
    }
}

/// A person is at the keyboard: prompts are allowed.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

pub fn warn(msg: &str) {
    eprintln!("janee: warning: {msg}");
}

/// A secret from an environment variable; the error names the variable, never a value.
pub fn secret_from_env(var: &str) -> Result<Secret> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        Ok(_) => Err(usage(format!("environment variable {var} is empty"))),
        Err(std::env::VarError::NotPresent) => {
            Err(usage(format!("environment variable {var} is not set")))
        }
        Err(std::env::VarError::NotUnicode(_)) => Err(usage(format!(
            "environment variable {var} is not valid UTF-8"
        ))),
    }
}

/// A secret read from standard input (one value; a trailing newline is dropped).
pub fn secret_from_stdin() -> Result<Secret> {
    let mut buf = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut buf)
        .context("could not read the secret from standard input")?;
    let v = buf.trim_end_matches(['\n', '\r']);
    if v.is_empty() {
        return Err(usage("standard input was empty; pipe the secret in"));
    }
    Ok(Secret::new(v))
}

pub fn prompt_secret(label: &str) -> Result<Secret> {
    let v = Zeroizing::new(rpassword::prompt_password(format!("{label}: "))?);
    if v.is_empty() {
        return Err(usage(format!("no {label} given")));
    }
    Ok(Secret::new(v.as_str()))
}

pub fn prompt_line(label: &str, default: Option<&str>) -> Result<String> {
    let mut err = std::io::stderr().lock();
    match default {
        Some(d) => write!(err, "{label} [{d}]: ")?,
        None => write!(err, "{label}: ")?,
    }
    err.flush()?;
    drop(err);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim().to_string();
    match (line.is_empty(), default) {
        (true, Some(d)) => Ok(d.to_string()),
        (true, None) => Err(usage(format!("no {label} given"))),
        _ => Ok(line),
    }
}

pub fn confirm(question: &str) -> Result<bool> {
    let answer = prompt_line(&format!("{question} (y/N)"), Some("n"))?;
    Ok(matches!(answer.as_str(), "y" | "Y" | "yes"))
}

/// `KEY=VALUE` split, naming the flag when malformed.
pub fn split_pair<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| usage(format!("{flag} takes NAME=VALUE, got {:?}", shorten(text))))
}

/// At most 40 characters of user input, for messages.
pub fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The store must exist before anything secret is written.
pub fn require_init(home: &Home) -> Result<()> {
    if !home.store_path().exists() {
        anyhow::bail!(
            "Janee is not initialised at {}: run `janee init` first",
            home.dir().display()
        );
    }
    Ok(())
}
