//! `config.yaml` as written: serde types with `deny_unknown_fields`, compatible with Janee 0.16.
//! Nothing here holds a secret value: `auth` carries only non-secret parameters.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::ConfigDuration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    /// Janee 0.16 writes `version: 0.3.0`; kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub services: IndexMap<String, RawService>,
    #[serde(default)]
    pub capabilities: RawCapabilities,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub agents: IndexMap<String, RawAgent>,
    /// Janee 0.16's optional LLM section; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Open,
    Restricted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Proxy,
    Exec,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Exec => "exec",
        }
    }
}

/// How the agent's identity is established over MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    /// Bearer tokens over HTTP, `--agent` over stdio.
    #[default]
    Verified,
    /// Janee 0.16 behaviour: the client's self-chosen `clientInfo.name`.
    ClientAsserted,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawServer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_access: Option<Access>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityMode>,
    /// Janee 0.16: accepted; decryption here is always strict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_decryption: Option<bool>,
    /// Janee 0.16: request bodies in the audit log. Here bodies are logged only when a
    /// capability opts in with `logBodies: true`; this server-wide switch is accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bodies: Option<bool>,
    /// Largest MCP request body over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
    /// Default cap on an upstream response body returned to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Where exec-mode commands are looked up (PATH syntax); default
    /// `/usr/local/bin:/usr/bin:/bin`. Never inherited from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_path: Option<String>,
    /// How long a call that needs a human's approval waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout: Option<ConfigDuration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawService {
    pub base_url: String,
    pub auth: RawAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Send the credential over plain HTTP to a host that is not loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    /// Janee 0.16 ownership metadata; accepted and kept, not used for decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<serde_yaml_ng::Value>,
}

/// The non-secret half of a service's auth scheme. Secret fields live in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAuth {
    #[serde(rename = "type")]
    pub kind: String,
    /// `query`: the name of the query parameter that carries the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// `bearer`: the scheme word before the token (default `Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// `aws-sigv4`: the signing region, e.g. `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `aws-sigv4`: the signing name of the service, e.g. `s3` or `ses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_service: Option<String>,
    /// `hmac-bybit`: the receive window in milliseconds (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_window: Option<u64>,
    /// `github-app`: the App's numeric id (the JWT issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<IdValue>,
    /// `github-app`: the installation whose token is minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<IdValue>,
    /// `github-app`: the REST API root the token endpoint hangs off (default the service's
    /// base URL; GitHub Enterprise Server: `https://HOST/api/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    /// `service-account`, `oauth2`: the OAuth scopes asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `oauth2`: the token endpoint; `service-account`: overrides the key file's `token_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// `oauth2`: `client_credentials` (default) or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
}

/// An id written as a YAML number or a string (`appId: 12345` or `appId: "12345"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdValue {
    Number(u64),
    Text(String),
}

impl std::fmt::Display for IdValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl RawAuth {
    /// Only a type: every other parameter left at its default.
    pub fn of(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            param: None,
            scheme: None,
            region: None,
            aws_service: None,
            recv_window: None,
            app_id: None,
            installation_id: None,
            api_base: None,
            scopes: None,
            token_url: None,
            grant: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRateLimit {
    pub requests: u32,
    pub per: ConfigDuration,
    /// `capability` (default): one budget shared by all agents; `agent`: one per agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCapability {
    /// Only in the list form; in the map form the key is the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_reason: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<RawRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_agents: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_commands: Option<Vec<String>>,
    #[serde(default, alias = "envMap", skip_serializing_if = "Option::is_none")]
    pub env: Option<IndexMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cwd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RawRateLimit>,
    /// exec: the host (and port) the git credential helper may give the token to; default the
    /// service's host with a leading `api.` removed (`api.github.com` -> `github.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_host: Option<String>,
    /// exec: largest stdout and stderr kept, per stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// Record scrubbed request and response bodies in the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bodies: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// `github-app` services: mint this capability's token for these repositories only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    /// `github-app` services: mint this capability's token with these permissions only
    /// (`contents: read`, `issues: write`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<IndexMap<String, String>>,
}

/// `capabilities` as a map keyed by name (Janee's form) or a list of entries with `name`.
#[derive(Debug, Clone, Default)]
pub struct RawCapabilities {
    pub list_form: bool,
    pub items: IndexMap<String, RawCapability>,
}

impl Serialize for RawCapabilities {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.list_form {
            let list: Vec<RawCapability> = self
                .items
                .iter()
                .map(|(name, c)| RawCapability {
                    name: Some(name.clone()),
                    ..c.clone()
                })
                .collect();
            list.serialize(s)
        } else {
            self.items.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for RawCapabilities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCapabilities;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of capabilities keyed by name, or a list of entries with `name`")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RawCapabilities::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut items = IndexMap::new();
                while let Some((name, cap)) = map.next_entry::<String, RawCapability>()? {
                    if cap.name.as_deref().is_some_and(|n| n != name) {
                        return Err(de::Error::custom(format!(
                            "capability `{name}` has a different `name:` inside; remove it"
                        )));
                    }
                    if items.insert(name.clone(), cap).is_some() {
                        return Err(de::Error::custom(format!(
                            "capability `{name}` is defined twice"
                        )));
                    }
                }
                Ok(RawCapabilities {
                    list_form: false,
                    items,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = IndexMap::new();
                while let Some(mut cap) = seq.next_element::<RawCapability>()? {
                    let Some(name) = cap.name.take() else {
                        return Err(de::Error::custom("a capability in list form needs `name:`"));
                    };
                    if items.insert(name.clone(), cap).is_some() {
                        return Err(de::Error::custom(format!(
                            "capability `{name}` is defined twice"
                        )));
                    }
                }
                Ok(RawCapabilities {
                    list_form: true,
                    items,
                })
            }
        }
        d.deserialize_any(V)
    }
}
