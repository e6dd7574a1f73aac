//! Janee: a secrets manager for AI agents.
//!
//! Agents reach APIs and command-line tools through Janee's MCP server and never see a
//! credential: Janee checks each request against policy, injects the credential server-side,
//! scrubs secret values from what comes back, and writes a tamper-evident audit record.
//!
//! # Layout
//! - [`cli`], [`cmd`]: the `janee` command line; one file per subcommand.
//! - [`home`], [`config`]: the home directory and `config.yaml` (raw serde types validated
//!   into typed ones; errors name file, line and key).
//! - [`names`], [`duration`]: validated names and config durations.
//! - [`auth`]: auth schemes: their secret fields and how they are injected.
//! - [`signing`]: per-request signatures (exchange HMACs, AWS SigV4, OAuth 1.0a).
//! - [`minting`]: short-lived tokens (GitHub App, Google service account, OAuth2) and their
//!   cache; [`minted`] ties them to a running server (scopes, rotation write-back, scrubbing).
//! - [`canon`]: the path canonicaliser and policy rule globs.
//! - [`headers`]: which agent-supplied headers may pass.
//! - [`scrub`]: streaming removal of secrets and their encodings.
//! - [`token`]: agent tokens.
//! - [`templates`], [`probe`]: built-in service templates and the credential check.
//! - [`exec`]: running an allowed command: resolved executable, minimal environment, process
//!   group, timeout, capped and scrubbed output.
//! - [`policy`], [`exec_policy`]: the one decision function every entry point uses.
//! - [`session`], [`gate`]: sessions, revocation, human approval and rate limits, after policy.
//! - [`proxy`]: carrying out an allowed HTTP request.
//! - [`mcp`], [`server`], [`state`]: the MCP tools, the stdio and HTTP transports, the
//!   reloadable snapshot of config and secrets.
//! - [`audit`]: the chained-MAC audit log.
//!
//! Secret material at rest is handled by the `janee-vault` crate.
//!
//! # Threat model
//! The agent is the adversary's puppet: every tool argument may come from a prompt injection.
//! Defences are structural: canonicalise once and send what was matched; least privilege; no
//! secret in the agent's reach; scrubbing is the last line, not the first.

pub mod audit;
pub mod auth;
pub mod canon;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod duration;
pub mod exec;
pub mod exec_policy;
pub mod gate;
pub mod headers;
pub mod home;
pub mod mcp;
pub mod minted;
pub mod minting;
pub mod names;
pub mod policy;
pub mod probe;
pub mod proxy;
pub mod scrub;
pub mod server;
pub mod session;
pub mod signing;
pub mod state;
pub mod templates;
pub mod token;
