//! `config.yaml`: parsed into [`raw::RawConfig`] (serde, unknown keys refused), then validated
//! into [`Config`] with typed names, URLs, durations and rules. Errors name file, line and key.
//! A plaintext secret in the file is refused with the way to move it into the store.

pub mod locate;
pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use url::Url;

use crate::auth::AuthKind;
use crate::canon::Rule;
use crate::names::{AgentName, CapabilityName, ServiceName};
use raw::{Access, IdentityMode, Mode, RawConfig};

pub const DEFAULT_PORT: u16 = 9119;
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_RESPONSE: u64 = 1024 * 1024;
pub const DEFAULT_MAX_REQUEST: u64 = 1024 * 1024;
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Keys that hold secret material in Janee 0.16 configs.
const SECRET_KEYS: &[&str] = &[
    "key",
    "apiKey",
    "apiSecret",
    "passphrase",
    "privateKey",
    "credentials",
    "consumerKey",
    "consumerSecret",
    "accessToken",
    "accessTokenSecret",
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "password",
    "username",
    "token",
    "secret",
    "clientSecret",
    "refreshToken",
    "headers",
];

/// A config problem, located.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted path of the offending key, e.g. `capabilities.stripe.ttl`.
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub default_access: Access,
    pub identity: IdentityMode,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
    pub approval_timeout: Duration,
    pub trusted_path: String,
}

/// Where a service lives: only its origin, under its base path, is ever contacted.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    url: Url,
    base_path: String,
    /// As written in config.yaml, for display.
    written: String,
}

impl BaseUrl {
    pub fn parse(text: &str, allow_http: bool) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = match url.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                if !loopback && !allow_http {
                    return Err(format!(
                        "{text:?} is plain http to a non-loopback host, which would send the credential in clear; use https, or set `allowHttp: true` on the service"
                    ));
                }
            }
            other => return Err(format!("unsupported URL scheme {other:?}: use https")),
        }
        if url.host().is_none() {
            return Err(format!("{text:?} has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "the base URL must not carry a username or password; put credentials in the store"
                    .into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the base URL must not have a query or fragment".into());
        }
        let base_path = url.path().trim_end_matches('/').to_string();
        if base_path.contains("/./") || base_path.contains("/../") || base_path.ends_with("/..") {
            return Err("the base URL path must not contain dot segments".into());
        }
        Ok(Self {
            url,
            base_path,
            written: text.to_string(),
        })
    }

    /// The URL as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Scheme, host and port.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The path prefix every request stays under, without a trailing '/'.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    pub fn url(&self) -> &Url {
        &self.url
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: ServiceName,
    pub base: BaseUrl,
    pub auth: AuthKind,
    pub test_path: Option<String>,
    pub timeout: Duration,
    pub max_response_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
    pub per_agent: bool,
}

#[derive(Debug, Clone)]
pub struct ExecSpec {
    pub allow_commands: Vec<String>,
    /// Each allowed command resolved, once, to an absolute path in the trusted PATH.
    pub resolved: Arc<crate::exec::ResolvedCommands>,
    /// Commands that were not found at load (their calls are refused; `doctor` reports them).
    pub missing: Vec<String>,
    pub git_host: Option<String>,
    pub max_output_bytes: u64,
    pub env: IndexMap<String, String>,
    pub work_dir: Option<PathBuf>,
    pub allow_cwd: Vec<PathBuf>,
    pub timeout: Duration,
    /// Argv rules (`gh issue *`), matched against the argv joined by spaces.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Capability {
    pub name: CapabilityName,
    pub service: ServiceName,
    pub mode: Mode,
    pub ttl: Duration,
    pub auto_approve: bool,
    pub requires_reason: bool,
    pub allow: Vec<Rule>,
    pub deny: Vec<Rule>,
    /// `None`: not restricted by name. `Some(list)`: only these agents.
    pub allowed_agents: Option<Vec<String>>,
    pub access: Option<Access>,
    pub rate_limit: Option<RateLimit>,
    pub log_bodies: bool,
    pub max_response_bytes: Option<u64>,
    pub exec: Option<ExecSpec>,
    /// GitHub App services: the repositories and permissions this capability's token is
    /// limited to.
    pub token_scope: Option<TokenScope>,
}

/// What a minted GitHub App token is limited to (empty parts: as installed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScope {
    pub repositories: Vec<String>,
    pub permissions: std::collections::BTreeMap<String, String>,
}

/// The validated configuration. `raw` is kept for editing and writing back.
#[derive(Debug, Clone)]
pub struct Config {
    pub raw: RawConfig,
    pub server: Server,
    pub services: IndexMap<ServiceName, Arc<Service>>,
    pub capabilities: IndexMap<CapabilityName, Arc<Capability>>,
    pub agents: Vec<AgentName>,
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: locate::line_of(self.text, path),
            key: path.join("."),
            message: message.into(),
        }
    }
}

impl Config {
    /// Read and validate `file`. A missing file is an empty config.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(file) {
            Ok(text) => Self::parse(file, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Self::from_raw(file, "", RawConfig::default())
            }
            Err(e) => Err(ConfigError {
                file: file.to_path_buf(),
                line: None,
                key: "(file)".into(),
                message: format!("cannot read: {e}"),
            }),
        }
    }

    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let ctx = Ctx { file, text };
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| yaml_err(file, &e))?;
        refuse_plaintext_secrets(&ctx, &value)?;
        let raw: RawConfig = if value.is_null() {
            RawConfig::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| yaml_err(file, &e))?
        };
        Self::from_raw(file, text, raw)
    }

    /// Validate an edited raw config (the CLI's path): errors carry no line numbers.
    pub fn from_raw_edit(file: &Path, raw: RawConfig) -> Result<Self, ConfigError> {
        Self::from_raw(file, "", raw)
    }

    fn from_raw(file: &Path, text: &str, raw: RawConfig) -> Result<Self, ConfigError> {
        let ctx = Ctx { file, text };
        let s = &raw.server;
        let server = Server {
            host: s.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
            port: s.port.unwrap_or(DEFAULT_PORT),
            default_access: s.default_access.unwrap_or(Access::Open),
            identity: s.identity.unwrap_or_default(),
            max_request_bytes: s.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST),
            max_response_bytes: s.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE),
            approval_timeout: s
                .approval_timeout
                .map(|d| d.get())
                .unwrap_or(DEFAULT_APPROVAL_TIMEOUT),
            trusted_path: s
                .trusted_path
                .clone()
                .unwrap_or_else(|| crate::exec::DEFAULT_TRUSTED_PATH.to_string()),
        };

        let mut services = IndexMap::new();
        for (name, rs) in &raw.services {
            let at = |k: &'static str| vec!["services", name.as_str(), k];
            let sname = ServiceName::new(name.clone())
                .map_err(|e| ctx.err(&["services", name], e.to_string()))?;
            let base = BaseUrl::parse(&rs.base_url, rs.allow_http.unwrap_or(false))
                .map_err(|m| ctx.err(&at("baseUrl"), m))?;
            let auth = AuthKind::from_raw(&rs.auth, base.url())
                .map_err(|m| ctx.err(&["services", name, "auth", "type"], m))?;
            if let Some(tp) = &rs.test_path {
                crate::canon::canonicalize(tp)
                    .map_err(|e| ctx.err(&at("testPath"), e.to_string()))?;
            }
            services.insert(
                sname.clone(),
                Arc::new(Service {
                    name: sname,
                    base,
                    auth,
                    test_path: rs.test_path.clone(),
                    timeout: rs.timeout.map(|d| d.get()).unwrap_or(DEFAULT_TIMEOUT),
                    max_response_bytes: rs.max_response_bytes.unwrap_or(server.max_response_bytes),
                }),
            );
        }

        let mut agents = Vec::new();
        for name in raw.agents.keys() {
            agents.push(
                AgentName::new(name.clone())
                    .map_err(|e| ctx.err(&["agents", name], e.to_string()))?,
            );
        }

        let mut capabilities = IndexMap::new();
        for (name, rc) in &raw.capabilities.items {
            let at = |k: &'static str| vec!["capabilities", name.as_str(), k];
            let cname = CapabilityName::new(name.clone())
                .map_err(|e| ctx.err(&["capabilities", name], e.to_string()))?;
            let service = ServiceName::new(rc.service.clone())
                .ok()
                .filter(|s| services.contains_key(s))
                .ok_or_else(|| {
                    ctx.err(
                        &at("service"),
                        format!(
                            "no service named {:?}; add it with `janee add {}` or fix the name",
                            rc.service, rc.service
                        ),
                    )
                })?;
            let mode = rc.mode.unwrap_or_default();
            let rules = rc.rules.clone().unwrap_or_default();
            let (allow, deny, exec) = match mode {
                Mode::Proxy => {
                    for key in ["allowCommands", "env", "workDir", "allowCwd"] {
                        let present = match key {
                            "allowCommands" => rc.allow_commands.is_some(),
                            "env" => rc.env.is_some(),
                            "workDir" => rc.work_dir.is_some(),
                            _ => rc.allow_cwd.is_some(),
                        };
                        if present {
                            return Err(ctx.err(
                                &at(key),
                                format!("`{key}` applies only to `mode: exec` capabilities"),
                            ));
                        }
                    }
                    let parse = |list: &[String], which: &str| {
                        list.iter()
                            .map(|r| {
                                Rule::parse(r).map_err(|e| {
                                    ctx.err(
                                        &["capabilities", name, "rules", which],
                                        format!("rule {r:?}: {e}"),
                                    )
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    };
                    (
                        parse(&rules.allow, "allow")?,
                        parse(&rules.deny, "deny")?,
                        None,
                    )
                }
                Mode::Exec => {
                    let spec = exec_spec(&ctx, name, rc, &rules, &server.trusted_path)?;
                    (Vec::new(), Vec::new(), Some(spec))
                }
            };
            let rate_limit = match &rc.rate_limit {
                None => None,
                Some(rl) => {
                    if rl.requests == 0 || rl.per.get().is_zero() {
                        return Err(ctx.err(
                            &at("rateLimit"),
                            "`requests` and `per` must both be greater than zero",
                        ));
                    }
                    let per_agent = match rl.scope.as_deref() {
                        None | Some("capability") => false,
                        Some("agent") => true,
                        Some(other) => {
                            return Err(ctx.err(
                                &at("rateLimit"),
                                format!("unknown scope {other:?}: use `capability` or `agent`"),
                            ));
                        }
                    };
                    Some(RateLimit {
                        requests: rl.requests,
                        per: rl.per.get(),
                        per_agent,
                    })
                }
            };
            let token_scope = token_scope(&ctx, name, rc, &services[&service].auth)?;
            let ttl = rc.ttl.map(|d| d.get()).unwrap_or(DEFAULT_TTL);
            if ttl.is_zero() {
                return Err(ctx.err(&at("ttl"), "the TTL must be greater than zero"));
            }
            capabilities.insert(
                cname.clone(),
                Arc::new(Capability {
                    name: cname,
                    service,
                    mode,
                    ttl,
                    auto_approve: rc.auto_approve.unwrap_or(true),
                    requires_reason: rc.requires_reason.unwrap_or(false),
                    allow,
                    deny,
                    allowed_agents: rc.allowed_agents.clone().filter(|a| !a.is_empty()),
                    access: rc.access,
                    rate_limit,
                    log_bodies: rc.log_bodies.unwrap_or(false),
                    max_response_bytes: rc.max_response_bytes,
                    exec,
                    token_scope,
                }),
            );
        }

        Ok(Self {
            raw,
            server,
            services,
            capabilities,
            agents,
        })
    }

    /// Serialise `raw` back to YAML.
    pub fn to_yaml(&self) -> String {
        to_yaml(&self.raw)
    }

    pub fn service(&self, name: &str) -> Option<&Arc<Service>> {
        self.services.get(name)
    }

    pub fn capability(&self, name: &str) -> Option<&Arc<Capability>> {
        self.capabilities.get(name)
    }
}

/// A capability's `repositories` / `permissions`, which only a GitHub App service can honour.
fn token_scope(
    ctx: &Ctx<'_>,
    name: &str,
    rc: &raw::RawCapability,
    auth: &AuthKind,
) -> Result<Option<TokenScope>, ConfigError> {
    let at = |k: &'static str| vec!["capabilities", name, k];
    if rc.repositories.is_none() && rc.permissions.is_none() {
        return Ok(None);
    }
    if !matches!(
        auth,
        AuthKind::Minted(crate::minting::Minter::GithubApp { .. })
    ) {
        let key = if rc.repositories.is_some() {
            "repositories"
        } else {
            "permissions"
        };
        return Err(ctx.err(
            &at(key),
            format!("`{key}` limits a minted GitHub App token; this capability's service uses auth type `{}`", auth.type_name()),
        ));
    }
    let repositories = rc.repositories.clone().unwrap_or_default();
    if let Some(bad) = repositories.iter().find(|r| {
        r.is_empty()
            || !r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    }) {
        return Err(ctx.err(
            &at("repositories"),
            format!("{bad:?} is not a repository name (give the name without the owner)"),
        ));
    }
    let mut permissions = std::collections::BTreeMap::new();
    for (perm, level) in rc.permissions.clone().unwrap_or_default() {
        if perm.is_empty() || !perm.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(ctx.err(
                &at("permissions"),
                format!("{perm:?} is not a GitHub permission name (e.g. contents, issues)"),
            ));
        }
        if !["read", "write", "admin"].contains(&level.as_str()) {
            return Err(ctx.err(
                &at("permissions"),
                format!("{perm}: {level:?} is not a level; use read, write or admin"),
            ));
        }
        permissions.insert(perm, level);
    }
    Ok(Some(TokenScope {
        repositories,
        permissions,
    }))
}

fn exec_spec(
    ctx: &Ctx<'_>,
    name: &str,
    rc: &raw::RawCapability,
    rules: &raw::RawRules,
    trusted_path: &str,
) -> Result<ExecSpec, ConfigError> {
    let at = |k: &'static str| vec!["capabilities", name, k];
    let cmds = rc.allow_commands.clone().unwrap_or_default();
    if cmds.is_empty() {
        return Err(ctx.err(
            &at("allowCommands"),
            "`mode: exec` needs `allowCommands` (the executables the agent may run)",
        ));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for c in &cmds {
        if c.is_empty() || c.contains('/') || c == "." || c == ".." {
            return Err(ctx.err(
                &at("allowCommands"),
                format!(
                    "{c:?}: name a command by its bare name (it is looked up in the trusted PATH)"
                ),
            ));
        }
        if let Some(why) = crate::exec_policy::launcher_refusal(c) {
            return Err(ctx.err(&at("allowCommands"), format!("{c}: {why}")));
        }
        match crate::exec::ResolvedCommands::resolve(std::slice::from_ref(c), trusted_path) {
            Ok(_) => found.push(c.clone()),
            Err(_) => missing.push(c.clone()),
        }
    }
    let resolved = crate::exec::ResolvedCommands::resolve(&found, trusted_path)
        .map_err(|e| ctx.err(&at("allowCommands"), e.to_string()))?;
    let env = rc.env.clone().unwrap_or_default();
    for (var, template) in &env {
        if var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ctx.err(
                &at("env"),
                format!("{var:?} is not a valid environment variable name"),
            ));
        }
        if crate::exec::is_dangerous_env_name(var) {
            return Err(ctx.err(
                &at("env"),
                format!("{var} changes how programs load or run code; Janee will not set it"),
            ));
        }
        crate::auth::check_template(template)
            .map_err(|m| ctx.err(&at("env"), format!("{var}: {m}")))?;
    }
    let mut allow_cwd = Vec::new();
    for d in rc.allow_cwd.iter().flatten() {
        let p = std::path::Path::new(d);
        if !p.is_absolute() {
            return Err(ctx.err(&at("allowCwd"), format!("{d:?} must be an absolute path")));
        }
        // Symlinks are resolved now, so a later `cwd` is compared with the real directory.
        allow_cwd.push(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    }
    let work_dir = rc.work_dir.as_ref().map(PathBuf::from);
    if let Some(w) = &work_dir
        && !w.is_absolute()
    {
        return Err(ctx.err(&at("workDir"), "workDir must be an absolute path"));
    }
    Ok(ExecSpec {
        allow_commands: cmds,
        resolved: Arc::new(resolved),
        missing,
        git_host: rc.git_host.clone(),
        max_output_bytes: rc.max_output_bytes.unwrap_or(DEFAULT_MAX_RESPONSE),
        env,
        work_dir,
        allow_cwd,
        timeout: rc.timeout.map(|d| d.get()).unwrap_or(DEFAULT_TIMEOUT),
        allow: rules.allow.clone(),
        deny: rules.deny.clone(),
    })
}

pub fn to_yaml(raw: &RawConfig) -> String {
    let body = serde_yaml_ng::to_string(raw).unwrap_or_default();
    format!(
        "# Janee configuration. This file never holds a secret value: secrets live in the\n# encrypted store (see `janee add`, `janee doctor`). Edit freely; the server reloads it.\n{body}"
    )
}

fn yaml_err(file: &Path, e: &serde_yaml_ng::Error) -> ConfigError {
    let msg = e.to_string();
    // serde_yaml_ng appends " at line L column C"; keep the message, move the line up front.
    let (message, line) = match e.location() {
        Some(loc) => {
            let cut = msg.rfind(" at line ").unwrap_or(msg.len());
            (msg[..cut].to_string(), Some(loc.line()))
        }
        None => (msg, None),
    };
    let (key, message) = match message.split_once(": ") {
        Some((k, m)) if !k.contains(' ') => (k.to_string(), m.to_string()),
        _ => ("(document)".to_string(), message),
    };
    ConfigError {
        file: file.to_path_buf(),
        line,
        key,
        message,
    }
}

fn refuse_plaintext_secrets(
    ctx: &Ctx<'_>,
    value: &serde_yaml_ng::Value,
) -> Result<(), ConfigError> {
    let hint = "secrets are kept only in the encrypted store, never in config.yaml. Move it there with `janee add NAME --key-from-env VAR` (or `janee import janee DIR` for a Janee 0.16 home), then delete this line";
    if value.get("masterKey").is_some_and(|v| !v.is_null()) {
        return Err(ctx.err(
            &["masterKey"],
            format!("this is a Janee 0.2 config with an inline master key; {hint}"),
        ));
    }
    let Some(services) = value.get("services").and_then(|v| v.as_mapping()) else {
        return Ok(());
    };
    for (name, svc) in services {
        let name = name.as_str().unwrap_or("?");
        let Some(auth) = svc.get("auth").and_then(|a| a.as_mapping()) else {
            continue;
        };
        for (k, v) in auth {
            let Some(k) = k.as_str() else { continue };
            if SECRET_KEYS.contains(&k) && !v.is_null() {
                return Err(ctx.err(
                    &["services", name, "auth", k],
                    format!("holds a plaintext secret; {hint}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("config.yaml"), text)
    }

    #[test]
    fn janee_016_config_loads() {
        let c = parse(
            "version: 0.3.0\nserver:\n  port: 9119\n  host: localhost\n  strictDecryption: true\nservices:\n  stripe:\n    baseUrl: https://api.stripe.com\n    auth:\n      type: bearer\n    testPath: /v1/balance\ncapabilities:\n  stripe:\n    service: stripe\n    ttl: 1h\n    autoApprove: true\n    rules:\n      allow: ['GET /v1/charges*']\n      deny: ['* /v1/admin*']\n",
        )
        .unwrap();
        let cap = c.capability("stripe").unwrap();
        assert_eq!(cap.ttl, Duration::from_secs(3600));
        assert_eq!(cap.allow.len(), 1);
        assert_eq!(c.server.port, 9119);
    }

    #[test]
    fn capabilities_list_form_loads() {
        let c = parse(
            "services:\n  gh:\n    baseUrl: https://api.github.com\n    auth: {type: bearer}\ncapabilities:\n  - name: gh-read\n    service: gh\n    ttl: 30m\n",
        )
        .unwrap();
        assert_eq!(
            c.capability("gh-read").unwrap().ttl,
            Duration::from_secs(1800)
        );
        assert!(c.to_yaml().contains("- name: gh-read"));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse("services:\n  s:\n    baseUrl: https://x.test\n    auth:\n      type: bearer\n    bogus: 1\n")
            .unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn plaintext_secret_is_refused_with_the_way_out() {
        let e = parse("services:\n  stripe:\n    baseUrl: https://api.stripe.com\n    auth:\n      type: bearer\n      key: sk_live_abcdefgh123\n")
            .unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.line, Some(6), "{msg}");
        assert!(msg.contains("services.stripe.auth.key"), "{msg}");
        assert!(msg.contains("janee add"), "{msg}");
        assert!(!msg.contains("sk_live_abcdefgh123"), "{msg}");
    }

    #[test]
    fn semantic_errors_are_located() {
        let e = parse("services: {}\ncapabilities:\n  c:\n    service: nope\n").unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.key, "capabilities.c.service");
        let e =
            parse("services:\n  s:\n    baseUrl: http://example.com\n    auth: {type: bearer}\n")
                .unwrap_err();
        assert!(e.message.contains("https"), "{e}");
        let e = parse("services:\n  s:\n    baseUrl: https://x.test\n    auth: {type: bearer}\ncapabilities:\n  c:\n    service: s\n    ttl: 5x\n").unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
    }

    #[test]
    fn base_url_keeps_origin_and_path() {
        let b = BaseUrl::parse("https://api.example.com/v2/", false).unwrap();
        assert_eq!(b.origin(), "https://api.example.com");
        assert_eq!(b.base_path(), "/v2");
        assert!(BaseUrl::parse("https://u:p@x.test", false).is_err());
        assert!(BaseUrl::parse("http://127.0.0.1:8080", false).is_ok());
        assert!(BaseUrl::parse("ftp://x.test", false).is_err());
    }
}
