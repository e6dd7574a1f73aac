//! The command line, as clap types. Each subcommand is carried out in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "janee",
    version,
    about = "Secrets manager for AI agents: agents call APIs and CLIs through Janee and never see a credential",
    long_about = None,
    after_help = "Home: $JANEE_HOME, else ~/.janee. Key: JANEE_MASTER_KEY, JANEE_PASSPHRASE (or a prompt), the OS keyring, or a key file chosen at init."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the home directory, config.yaml and the encrypted store
    Init(InitArgs),
    /// Add a service (an API and its credential) and a capability for it
    Add(AddArgs),
    /// Remove a service, its secrets and the capabilities that use it
    Remove(RemoveArgs),
    /// List services
    List(JsonFlag),
    /// Manage capabilities (what agents may ask for)
    #[command(subcommand)]
    Cap(CapCommand),
    /// Manage agents and their tokens
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Import secrets from a Janee 0.16 home or a dotenv file
    #[command(subcommand)]
    Import(ImportCommand),
    /// Check the home, the key, the config and every service
    Doctor(JsonFlag),
    /// Find a built-in service template (`janee add NAME` uses it)
    Search(SearchArgs),
    /// Make a harmless authenticated call to check a service's credential
    Test(TestArgs),
    /// Serve MCP to agents (stdio by default, or Streamable HTTP)
    Serve(ServeArgs),
    /// Show the audit log
    Logs(LogsArgs),
    /// Check the audit log's MAC chain
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A self-contained walkthrough on a throwaway home and a local upstream
    Demo(DemoArgs),
    /// List sessions (live, expired and revoked)
    Sessions(SessionsArgs),
    /// Revoke a session, an agent's sessions, a capability's, or all: the next call is refused
    Revoke(RevokeArgs),
    /// List approval requests waiting for a human
    Approvals(JsonFlag),
    /// Approve a waiting request: its session opens
    Approve(ApproveArgs),
    /// Deny a waiting request
    Deny(DenyArgs),
    /// git credential helper used inside janee_exec (not for direct use)
    #[command(name = "git-credential-helper", hide = true)]
    GitCredentialHelper {
        /// get, store or erase
        operation: String,
    },
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Include expired and revoked sessions
    #[arg(long)]
    pub all: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["id", "agent", "capability", "all"]))]
pub struct RevokeArgs {
    /// A session id (from `janee sessions`)
    pub id: Option<String>,
    /// Every session of this agent
    #[arg(long)]
    pub agent: Option<String>,
    /// Every session of this capability
    #[arg(long)]
    pub capability: Option<String>,
    /// Every session
    #[arg(long)]
    pub all: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The request id (from `janee approvals`)
    pub id: String,
    /// How long the session it opens lasts (default: the capability's TTL)
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for in names, titles and tags (all templates when omitted)
    pub query: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The service (all services when omitted)
    pub name: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// stdio or http
    #[arg(short = 't', long, default_value = "stdio")]
    pub transport: String,
    /// HTTP port (default: server.port in config.yaml, else 9119; 0 picks a free port)
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// HTTP bind address (default: server.host, else 127.0.0.1)
    #[arg(long)]
    pub host: Option<String>,
    /// stdio: the agent this connection speaks for
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// HTTP: accept callers without an agent token (they match no allowedAgents)
    #[arg(long)]
    pub allow_anonymous: bool,
    /// HTTP: serve without MCP sessions (each request stands alone; JSON responses)
    #[arg(long)]
    pub stateless: bool,
    /// HTTP: another Host name to accept (repeatable), e.g. when behind a reverse proxy
    #[arg(long, value_name = "HOST")]
    pub allowed_host: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new records
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Print JSON lines
    #[arg(long)]
    pub json: bool,
    /// Only this agent
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this capability
    #[arg(long)]
    pub capability: Option<String>,
    /// Only records newer than this (30m, 1h, 7d)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only the last N records
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every line's MAC and the chain; report the first edited, removed or reordered line
    Verify(JsonFlag),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the throwaway home and print its path
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Keep a random master key in this file (created 0600); `doctor` will warn about it
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Require the OS keyring (fail instead of falling back to a passphrase)
    #[arg(long, conflicts_with = "key_file")]
    pub keyring: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Service name (asked for on a terminal when omitted)
    pub name: Option<String>,
    /// Base URL of the API, e.g. `https://api.stripe.com`
    #[arg(short = 'u', long)]
    pub url: Option<String>,
    /// bearer, basic, headers, query, hmac-bybit, hmac-okx, hmac-mexc, aws-sigv4,
    /// oauth1a-twitter, github-app, service-account or oauth2
    #[arg(long, value_name = "TYPE")]
    pub auth_type: Option<String>,
    /// Read the key (bearer/query) from this environment variable
    #[arg(long, value_name = "VAR")]
    pub key_from_env: Option<String>,
    /// Read the key (bearer/query) from standard input
    #[arg(long, conflicts_with = "key_from_env")]
    pub key_stdin: bool,
    /// The key itself: visible to other users in `ps`; prefer --key-from-env
    #[arg(short = 'k', long, conflicts_with_all = ["key_from_env", "key_stdin"])]
    pub key: Option<String>,
    /// basic: the username
    #[arg(long)]
    pub username: Option<String>,
    /// basic: read the username from this environment variable
    #[arg(long, value_name = "VAR", conflicts_with = "username")]
    pub username_from_env: Option<String>,
    /// basic: read the password from this environment variable
    #[arg(long, value_name = "VAR")]
    pub password_from_env: Option<String>,
    /// headers: NAME=VAR, the header NAME takes its value from environment variable VAR (repeatable)
    #[arg(long, value_name = "NAME=VAR")]
    pub header_from_env: Vec<String>,
    /// headers: NAME=VALUE (visible in `ps`; prefer --header-from-env)
    #[arg(long, value_name = "NAME=VALUE")]
    pub header: Vec<String>,
    /// hmac-*, aws-sigv4, oauth1a-twitter, github-app, service-account, oauth2: FIELD=VAR, a
    /// secret field from an environment variable (repeatable), e.g. apiSecret=OKX_SECRET
    #[arg(long, value_name = "FIELD=VAR")]
    pub field_from_env: Vec<String>,
    /// FIELD=PATH, a secret field read from a file (repeatable), e.g. privateKey=app.pem or
    /// credentials=service-account.json
    #[arg(long, value_name = "FIELD=PATH")]
    pub field_from_file: Vec<String>,
    /// aws-sigv4: the signing region (e.g. us-east-1)
    #[arg(long, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// aws-sigv4: the service's signing name (e.g. s3, ses)
    #[arg(long, value_name = "NAME")]
    pub aws_service: Option<String>,
    /// hmac-* (apiSecret), aws-sigv4 (secretAccessKey), oauth2 (clientSecret): read the
    /// secret from this environment variable
    #[arg(long, value_name = "VAR", visible_alias = "api-secret-from-env")]
    pub secret_from_env: Option<String>,
    /// The API secret itself (visible in `ps`; prefer --secret-from-env)
    #[arg(long, value_name = "SECRET", conflicts_with = "secret_from_env")]
    pub api_secret: Option<String>,
    /// hmac-okx: read the passphrase from this environment variable
    #[arg(long, value_name = "VAR")]
    pub passphrase_from_env: Option<String>,
    /// hmac-okx: the passphrase itself (visible in `ps`; prefer --passphrase-from-env)
    #[arg(long, conflicts_with = "passphrase_from_env")]
    pub passphrase: Option<String>,
    /// oauth1a-twitter: read the consumer key from this environment variable
    #[arg(long, value_name = "VAR")]
    pub consumer_key_from_env: Option<String>,
    /// oauth1a-twitter: read the consumer secret from this environment variable
    #[arg(long, value_name = "VAR")]
    pub consumer_secret_from_env: Option<String>,
    /// oauth1a-twitter: read the access token from this environment variable
    #[arg(long, value_name = "VAR")]
    pub access_token_from_env: Option<String>,
    /// oauth1a-twitter: read the access token secret from this environment variable
    #[arg(long, value_name = "VAR")]
    pub access_token_secret_from_env: Option<String>,
    /// oauth1a-twitter: the consumer key (visible in `ps`; prefer --consumer-key-from-env)
    #[arg(long, conflicts_with = "consumer_key_from_env")]
    pub consumer_key: Option<String>,
    /// oauth1a-twitter: the consumer secret (visible in `ps`)
    #[arg(long, conflicts_with = "consumer_secret_from_env")]
    pub consumer_secret: Option<String>,
    /// oauth1a-twitter: the access token (visible in `ps`)
    #[arg(long, conflicts_with = "access_token_from_env")]
    pub access_token: Option<String>,
    /// oauth1a-twitter: the access token secret (visible in `ps`)
    #[arg(long, conflicts_with = "access_token_secret_from_env")]
    pub access_token_secret: Option<String>,
    /// github-app: the App's private key file (PEM)
    #[arg(long, value_name = "PATH")]
    pub pem_file: Option<String>,
    /// service-account: the Google service-account key file (JSON)
    #[arg(long, value_name = "PATH")]
    pub credentials_file: Option<String>,
    /// service-account, oauth2: one OAuth scope (repeatable; --scopes takes a list)
    #[arg(long, value_name = "SCOPE", num_args = 1..)]
    pub scope: Vec<String>,
    /// github-app: the App's id
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
    /// github-app: the installation id whose tokens are minted
    #[arg(long, value_name = "ID")]
    pub installation_id: Option<String>,
    /// github-app: the REST API root of the token endpoint (default the --url)
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// service-account, oauth2: OAuth scopes, comma-separated
    #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// oauth2: the token endpoint (service-account: overrides the key file's token_uri)
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// oauth2: client_credentials (default) or refresh_token
    #[arg(long, value_name = "GRANT")]
    pub grant: Option<String>,
    /// query: the query parameter that carries the key (e.g. api_key)
    #[arg(long, value_name = "NAME")]
    pub param: Option<String>,
    /// bearer: the word before the token (default Bearer)
    #[arg(long, value_name = "WORD")]
    pub scheme: Option<String>,
    /// A harmless authenticated GET path used by `janee test`
    #[arg(long, value_name = "PATH")]
    pub test_path: Option<String>,
    /// Allow plain http to a host that is not loopback
    #[arg(long)]
    pub allow_http: bool,
    /// Make the capability an exec capability (run CLI tools with the credential in their environment)
    #[arg(long)]
    pub exec: bool,
    /// exec: executables the agent may run, comma-separated
    #[arg(long, value_name = "CMDS", value_delimiter = ',')]
    pub allow_commands: Vec<String>,
    /// exec: VAR={{credential}} (repeatable)
    #[arg(long, value_name = "VAR=TEMPLATE")]
    pub env_map: Vec<String>,
    /// exec: working directory
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
    /// Request or command timeout (30s, 5m, or milliseconds)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Do not create a capability for the service
    #[arg(long)]
    pub no_capability: bool,
    /// Ignore the built-in template of the same name
    #[arg(long)]
    pub no_template: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CapCommand {
    /// List capabilities
    List(JsonFlag),
    /// Add a capability
    Add(CapAddArgs),
    /// Change a capability
    Edit(CapEditArgs),
    /// Remove a capability
    Remove(CapRemoveArgs),
}

#[derive(Debug, Args)]
pub struct CapAddArgs {
    pub name: String,
    /// The service the capability uses
    #[arg(short = 's', long)]
    pub service: String,
    #[command(flatten)]
    pub fields: CapFields,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CapEditArgs {
    pub name: String,
    #[command(flatten)]
    pub fields: CapFields,
    /// Remove all allow and deny rules
    #[arg(long)]
    pub clear_rules: bool,
    /// Remove the allowed-agents list
    #[arg(long)]
    pub clear_agents: bool,
    /// Remove the access override
    #[arg(long)]
    pub clear_access: bool,
    /// Remove the rate limit
    #[arg(long)]
    pub clear_rate_limit: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CapFields {
    /// Session lifetime (30m, 1h, 7d)
    #[arg(short = 't', long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Calls proceed without a human's approval
    #[arg(long, overrides_with = "no_auto_approve")]
    pub auto_approve: bool,
    /// The first call of each session waits for `janee approve`
    #[arg(long)]
    pub no_auto_approve: bool,
    /// Agents must give a reason with each call
    #[arg(long, overrides_with = "no_requires_reason")]
    pub requires_reason: bool,
    #[arg(long)]
    pub no_requires_reason: bool,
    /// Allow rule "METHOD PATH" (repeatable; replaces the list)
    #[arg(long, value_name = "RULE")]
    pub allow: Vec<String>,
    /// Deny rule "METHOD PATH" (repeatable; replaces the list)
    #[arg(long, value_name = "RULE")]
    pub deny: Vec<String>,
    /// Only these agents may use the capability (comma-separated)
    #[arg(long, value_name = "AGENTS", value_delimiter = ',')]
    pub allowed_agents: Vec<String>,
    /// open or restricted (overrides server.defaultAccess)
    #[arg(long, value_name = "POLICY")]
    pub access: Option<String>,
    /// proxy or exec
    #[arg(long)]
    pub mode: Option<String>,
    /// exec: executables the agent may run, comma-separated
    #[arg(long, value_name = "CMDS", value_delimiter = ',')]
    pub allow_commands: Vec<String>,
    /// exec: VAR={{credential}} (repeatable)
    #[arg(long, value_name = "VAR=TEMPLATE")]
    pub env_map: Vec<String>,
    /// exec: working directory
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
    /// Request or command timeout
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// N/DURATION, e.g. 100/1m
    #[arg(long, value_name = "N/DURATION")]
    pub rate_limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct CapRemoveArgs {
    pub name: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent and print its token once
    Add(AgentAddArgs),
    /// List agents
    List(JsonFlag),
    /// Remove an agent; its token stops working at once
    Remove(AgentRemoveArgs),
}

#[derive(Debug, Args)]
pub struct AgentAddArgs {
    pub name: String,
    /// A note about the agent
    #[arg(long)]
    pub description: Option<String>,
    /// Print {"name","token"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentRemoveArgs {
    pub name: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import services, capabilities and secrets from a Janee 0.16 home (config.yaml + credentials.json)
    Janee(ImportJaneeArgs),
    /// Import keys from a dotenv file into services that are already configured
    Dotenv(ImportDotenvArgs),
}

#[derive(Debug, Args)]
pub struct ImportJaneeArgs {
    /// The Janee 0.16 home, e.g. ~/.janee-old
    pub dir: PathBuf,
    /// Replace services and capabilities that already exist here
    #[arg(long)]
    pub overwrite: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportDotenvArgs {
    pub file: PathBuf,
    /// VAR=SERVICE or VAR=SERVICE.FIELD: where a variable goes (repeatable). Without it, a
    /// variable goes to the service its name starts with (STRIPE_API_KEY -> stripe).
    #[arg(long, value_name = "VAR=SERVICE[.FIELD]")]
    pub map: Vec<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
