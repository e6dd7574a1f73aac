//! `janee serve`.

use anyhow::{Result, bail};

use super::{require_init, usage};
use crate::cli::ServeArgs;
use crate::config::raw::IdentityMode;
use crate::home::Home;
use crate::names::AgentName;
use crate::policy::{Caller, IdentitySource, LOCAL_DEFAULT_AGENT};
use crate::server::{self, HttpOptions};
use crate::state::{AppState, ServeOptions};

/// Logs go to stderr: on stdio, stdout carries only protocol bytes.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JANEE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("janee=info,rmcp=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn run(home: Home, args: ServeArgs) -> Result<()> {
    require_init(&home)?;
    init_tracing();
    // Exec descendants that leave their process group come back to us to be killed.
    if !crate::exec::become_subreaper() {
        tracing::debug!("not a child subreaper: descendants that call setsid are not swept");
    }
    let transport = args.transport.as_str();
    if !matches!(transport, "stdio" | "http") {
        return Err(usage(format!(
            "--transport must be stdio or http, not {transport:?}"
        )));
    }
    if transport == "http" && args.agent.is_some() {
        return Err(usage(
            "--agent is for stdio; over HTTP the agent is the owner of the bearer token",
        ));
    }
    if transport == "stdio" && (args.allow_anonymous || args.stateless || args.port.is_some()) {
        return Err(usage(
            "--port, --allow-anonymous and --stateless are for --transport http",
        ));
    }
    let agent = args
        .agent
        .clone()
        .map(|a| AgentName::new(a).map_err(|e| usage(format!("--agent: {e}"))))
        .transpose()?;
    // Stdin carries MCP on stdio, so only the environment can unlock the store there.
    let store = home.open_store(false)?;
    let config = home.load_config()?;
    if config.server.identity == IdentityMode::ClientAsserted {
        tracing::warn!(
            "server.identity is client-asserted: agents are named by their own clientInfo.name, which any client can fake"
        );
    }
    if let Some(a) = &agent
        && !config.agents.iter().any(|x| x == a)
    {
        tracing::warn!(
            "agent {a} is not listed in config.yaml (`janee agent add {a}`); continuing"
        );
    }
    let http_opts = HttpOptions {
        host: args
            .host
            .clone()
            .unwrap_or_else(|| config.server.host.clone()),
        port: args.port.unwrap_or(config.server.port),
        stateless: args.stateless,
        extra_hosts: args.allowed_host.clone(),
    };
    if transport == "http" && !is_loopback(&http_opts.host) && args.allow_anonymous {
        bail!(
            "--allow-anonymous is refused on a non-loopback address ({}): anyone on the network could call",
            http_opts.host
        );
    }
    let options = ServeOptions {
        allow_anonymous: args.allow_anonymous,
    };
    let served = runtime()?.block_on(async move {
        let state = AppState::new(home, store, options).await?;
        match transport {
            "http" => server::serve_http(state, http_opts).await,
            _ => {
                let caller = match agent {
                    Some(a) => Caller {
                        agent: Some(a.to_string()),
                        via: IdentitySource::StdioFlag,
                        label: None,
                    },
                    None => Caller {
                        agent: Some(LOCAL_DEFAULT_AGENT.to_string()),
                        via: IdentitySource::LocalDefault,
                        label: None,
                    },
                };
                server::serve_stdio(state, caller).await
            }
        }
    });
    crate::exec::remove_pooled_homes();
    served
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_matches(['[', ']']);
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
