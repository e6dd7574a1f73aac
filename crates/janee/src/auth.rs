//! Auth schemes: which secret fields each needs (kept in the store) and how they are applied to
//! an outgoing request. Secret values are exposed only inside `apply`.

use base64::Engine as _;
use janee_vault::{Secret, SecretFields};

use crate::config::raw::RawAuth;
use crate::minting::{Grant, Minter};

/// The auth schemes this janee can inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    /// `Authorization: <scheme> <key>` (scheme `Bearer` unless configured).
    Bearer { scheme: String },
    /// `Authorization: Basic base64(username:password)` (RFC 7617).
    Basic,
    /// One or more fixed headers, each a secret field `header.<Name>`.
    Headers,
    /// The key as a query parameter (`?api_key=...`).
    Query { param: String },
    /// A signature computed per request (exchange HMACs, AWS SigV4, OAuth 1.0a).
    Signed(crate::signing::Scheme),
    /// A short-lived token minted from the stored credential (GitHub App, Google service
    /// account, OAuth 2.0) and sent as `Authorization: Bearer <token>`.
    Minted(Minter),
}

pub const SUPPORTED: &[&str] = &[
    "bearer",
    "basic",
    "headers",
    "query",
    "hmac-bybit",
    "hmac-okx",
    "hmac-mexc",
    "aws-sigv4",
    "oauth1a-twitter",
    "github-app",
    "service-account",
    "oauth2",
];

/// One secret field of a scheme, for prompts, flags and `doctor`.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
}

pub const HEADER_PREFIX: &str = "header.";

impl AuthKind {
    /// The scheme `raw` describes; `base` is the service's base URL (the default API root of
    /// a GitHub App).
    pub fn from_raw(raw: &RawAuth, base: &url::Url) -> Result<Self, String> {
        // The minting keys, and the auth types each belongs to.
        let minting_keys: [(&str, bool, &[&str]); 6] = [
            ("appId", raw.app_id.is_some(), &["github-app"]),
            (
                "installationId",
                raw.installation_id.is_some(),
                &["github-app"],
            ),
            ("apiBase", raw.api_base.is_some(), &["github-app"]),
            (
                "scopes",
                raw.scopes.is_some(),
                &["service-account", "oauth2"],
            ),
            (
                "tokenUrl",
                raw.token_url.is_some(),
                &["service-account", "oauth2"],
            ),
            ("grant", raw.grant.is_some(), &["oauth2"]),
        ];
        for (key, set, kinds) in minting_keys {
            if set && !kinds.contains(&raw.kind.as_str()) {
                return Err(format!(
                    "`{key}` applies only to auth type {}, not `{}`",
                    kinds.join(" or "),
                    raw.kind
                ));
            }
        }
        let no_param = |kind: &str| {
            if raw.param.is_some() {
                Err(format!(
                    "`param` applies only to auth type `query`, not `{kind}`"
                ))
            } else {
                Ok(())
            }
        };
        match raw.kind.as_str() {
            "bearer" => {
                no_param("bearer")?;
                let scheme = raw.scheme.clone().unwrap_or_else(|| "Bearer".into());
                if scheme.is_empty()
                    || !scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    return Err(format!(
                        "invalid `scheme` {scheme:?}: use a single word such as Bearer or Token"
                    ));
                }
                Ok(Self::Bearer { scheme })
            }
            "basic" => no_param("basic").map(|()| Self::Basic),
            "headers" => no_param("headers").map(|()| Self::Headers),
            "query" => {
                let param = raw.param.clone().ok_or(
                    "auth type `query` needs `param:` (the query parameter name, e.g. api_key)",
                )?;
                if param.is_empty()
                    || !param
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(format!("invalid query parameter name {param:?}"));
                }
                Ok(Self::Query { param })
            }
            "hmac-bybit" => no_param("hmac-bybit").map(|()| {
                Self::Signed(crate::signing::Scheme::HmacBybit {
                    recv_window_ms: raw.recv_window.unwrap_or(5000),
                })
            }),
            "hmac-okx" => {
                no_param("hmac-okx").map(|()| Self::Signed(crate::signing::Scheme::HmacOkx))
            }
            "hmac-mexc" => {
                no_param("hmac-mexc").map(|()| Self::Signed(crate::signing::Scheme::HmacMexc))
            }
            "oauth1a-twitter" => no_param("oauth1a-twitter")
                .map(|()| Self::Signed(crate::signing::Scheme::OAuth1aTwitter)),
            "aws-sigv4" => {
                no_param("aws-sigv4")?;
                let word = |v: &Option<String>, key: &str| {
                    v.clone()
                        .filter(|s| {
                            !s.is_empty()
                                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        })
                        .ok_or_else(|| {
                            format!(
                                "auth type `aws-sigv4` needs `{key}:` (e.g. {})",
                                if key == "region" {
                                    "us-east-1"
                                } else {
                                    "s3 or ses"
                                }
                            )
                        })
                };
                Ok(Self::Signed(crate::signing::Scheme::AwsSigV4 {
                    region: word(&raw.region, "region")?,
                    service: word(&raw.aws_service, "awsService")?,
                }))
            }
            "github-app" | "service-account" | "oauth2" => {
                no_param(&raw.kind)?;
                minter_from_raw(raw, base).map(Self::Minted)
            }
            other => Err(format!(
                "unsupported auth type `{other}`; this janee supports {}",
                SUPPORTED.join(", ")
            )),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bearer { .. } => "bearer",
            Self::Basic => "basic",
            Self::Headers => "headers",
            Self::Query { .. } => "query",
            Self::Signed(s) => match s {
                crate::signing::Scheme::HmacBybit { .. } => "hmac-bybit",
                crate::signing::Scheme::HmacOkx => "hmac-okx",
                crate::signing::Scheme::HmacMexc => "hmac-mexc",
                crate::signing::Scheme::AwsSigV4 { .. } => "aws-sigv4",
                crate::signing::Scheme::OAuth1aTwitter => "oauth1a-twitter",
            },
            Self::Minted(m) => match m {
                Minter::GithubApp { .. } => "github-app",
                Minter::ServiceAccount { .. } => "service-account",
                Minter::OAuth2 { .. } => "oauth2",
            },
        }
    }

    /// The names of the secret fields the scheme needs (`headers` has dynamic ones).
    pub fn required_field_names(&self) -> Vec<&'static str> {
        match self {
            Self::Signed(s) => s.required_fields().to_vec(),
            Self::Minted(m) => minted_fields(m).0.to_vec(),
            _ => self.fields().iter().map(|f| f.name).collect(),
        }
    }

    /// Secret fields the store may hold besides the required ones.
    pub fn optional_field_names(&self) -> &'static [&'static str] {
        match self {
            Self::Signed(s) => s.optional_fields(),
            Self::Minted(m) => minted_fields(m).1,
            _ => &[],
        }
    }

    /// Whether the secret fields are named by the scheme (given with `--field-from-env`
    /// and `--field-from-file`) rather than by dedicated flags.
    pub fn has_named_fields(&self) -> bool {
        matches!(self, Self::Signed(_) | Self::Minted(_))
    }

    /// The fixed secret fields of the scheme (`headers` has dynamic `header.<Name>` fields).
    pub fn fields(&self) -> &'static [FieldSpec] {
        match self {
            Self::Bearer { .. } | Self::Query { .. } => &[FieldSpec {
                name: "key",
                label: "API key or token",
            }],
            Self::Basic => &[
                FieldSpec {
                    name: "username",
                    label: "username",
                },
                FieldSpec {
                    name: "password",
                    label: "password",
                },
            ],
            Self::Headers | Self::Signed(_) | Self::Minted(_) => &[],
        }
    }

    /// Say what is missing from `fields`, if anything.
    pub fn missing_fields(&self, fields: &SecretFields) -> Vec<String> {
        let mut missing: Vec<String> = self
            .required_field_names()
            .into_iter()
            .filter(|f| fields.get(f).is_none_or(Secret::is_empty))
            .map(str::to_string)
            .collect();
        if matches!(self, Self::Headers) && !fields.names().any(|n| n.starts_with(HEADER_PREFIX)) {
            missing.push("header.<Name> (at least one header)".into());
        }
        missing
    }

    /// Header names this scheme sets; agents may not supply them.
    pub fn header_names(&self, fields: &SecretFields) -> Vec<String> {
        match self {
            Self::Bearer { .. } | Self::Basic => vec!["authorization".into()],
            Self::Headers => fields
                .names()
                .filter_map(|n| n.strip_prefix(HEADER_PREFIX))
                .map(str::to_ascii_lowercase)
                .collect(),
            Self::Query { .. } => Vec::new(),
            Self::Signed(s) => s.header_names().iter().map(|h| h.to_string()).collect(),
            Self::Minted(_) => vec!["authorization".into()],
        }
    }

    /// The values to scrub from anything returned to the agent: every field, and for basic auth
    /// the encoded `username:password` pair too. Key files (a GitHub App's PEM, a service
    /// account's JSON) are scrubbed by their secret parts, the PEM body line by line (the
    /// scrubber matches across line breaks): whole, they would make the scrubber large and
    /// slow to build for text that is never sent upstream.
    pub fn scrub_values(&self, fields: &SecretFields) -> Vec<Secret> {
        // A basic-auth username is an identifier, often short: the password and the encoded
        // pair are what must not come back.
        let skip = |k: &str| match self {
            Self::Basic => k == "username",
            Self::Minted(Minter::GithubApp { .. }) => k == "privateKey",
            Self::Minted(Minter::ServiceAccount { .. }) => k == "credentials",
            _ => false,
        };
        let mut out: Vec<Secret> = fields
            .iter()
            .filter(|(k, _)| !skip(k))
            .map(|(_, v)| v.clone())
            .collect();
        if let Self::Basic = self
            && let Some(pair) = basic_pair(fields)
        {
            out.push(pair);
        }
        if let Self::Minted(Minter::ServiceAccount { .. }) = self
            && let Some(file) = fields.get("credentials")
        {
            match serde_json::from_str::<serde_json::Value>(file.expose()) {
                Ok(serde_json::Value::Object(map)) => {
                    if let Some(serde_json::Value::String(id)) = map.get("private_key_id") {
                        out.push(Secret::new(id.as_str()));
                    }
                    if let Some(serde_json::Value::String(pem)) = map.get("private_key") {
                        out.extend(pem_body_lines(pem));
                    }
                }
                // Not a key file after all: scrub it whole.
                _ => out.push(file.clone()),
            }
        }
        if let Self::Minted(Minter::GithubApp { .. }) = self
            && let Some(pem) = fields.get("privateKey")
        {
            let lines = pem_body_lines(pem.expose());
            if lines.is_empty() {
                out.push(pem.clone());
            }
            out.extend(lines);
        }
        out
    }

    /// The credential as (header name, header value) pairs and query parameters.
    pub fn credential(&self, fields: &SecretFields) -> Credential {
        let mut c = Credential::default();
        match self {
            Self::Bearer { scheme } => {
                if let Some(key) = fields.get("key") {
                    c.headers.push((
                        "authorization".into(),
                        Secret::new(format!("{scheme} {}", key.expose())),
                    ));
                }
            }
            Self::Basic => {
                if let Some(pair) = basic_pair(fields) {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(pair.expose());
                    c.headers.push((
                        "authorization".into(),
                        Secret::new(format!("Basic {encoded}")),
                    ));
                }
            }
            Self::Headers => {
                for (name, value) in fields.iter() {
                    if let Some(h) = name.strip_prefix(HEADER_PREFIX) {
                        c.headers.push((h.to_string(), value.clone()));
                    }
                }
            }
            Self::Query { param } => {
                if let Some(key) = fields.get("key") {
                    c.query.push((param.clone(), key.clone()));
                }
            }
            // Signed per request in the proxy, where the whole request is known; minted
            // tokens are injected there too.
            Self::Signed(_) | Self::Minted(_) => {}
        }
        c
    }
}

/// The base64 body lines of a PEM block (the last may be short; a fragment under 16
/// characters is no use on its own).
fn pem_body_lines(pem: &str) -> Vec<Secret> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.len() >= 16)
        .map(Secret::new)
        .collect()
}

/// The required and optional secret fields of a minting scheme.
fn minted_fields(m: &Minter) -> (&'static [&'static str], &'static [&'static str]) {
    match m {
        Minter::GithubApp { .. } => (&["privateKey"], &[]),
        Minter::ServiceAccount { .. } => (&["credentials"], &[]),
        Minter::OAuth2 {
            grant: Grant::ClientCredentials,
            ..
        } => (&["clientId", "clientSecret"], &[]),
        Minter::OAuth2 {
            grant: Grant::RefreshToken,
            ..
        } => (&["refreshToken"], &["clientId", "clientSecret"]),
    }
}

/// The minting configuration of a `github-app`, `service-account` or `oauth2` service.
fn minter_from_raw(raw: &RawAuth, base: &url::Url) -> Result<Minter, String> {
    // Keys of the other minting types were refused by `from_raw`.
    let kind = raw.kind.as_str();
    let https_url = |key: &str, text: &str| -> Result<url::Url, String> {
        let url = url::Url::parse(text).map_err(|e| format!("`{key}` {text:?}: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(format!("`{key}` {text:?} has no host")),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "`{key}` must be an https URL (plain http only to loopback)"
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{key}` must not carry a username, password or fragment"
            ));
        }
        Ok(url)
    };
    let scopes = || -> Result<Vec<String>, String> {
        let scopes = raw.scopes.clone().unwrap_or_default();
        if let Some(bad) = scopes
            .iter()
            .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!(
                "scope {bad:?} is not a single scope (list each scope separately)"
            ));
        }
        Ok(scopes)
    };
    match kind {
        "github-app" => {
            let id = |key: &str, v: &Option<crate::config::raw::IdValue>| {
                let text = v
                    .as_ref()
                    .map(ToString::to_string)
                    .ok_or_else(|| format!("auth type `github-app` needs `{key}:` (a number)"))?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("`{key}` must be a number, not {text:?}"));
                }
                Ok(text)
            };
            let api_base = match &raw.api_base {
                Some(text) => https_url("apiBase", text)?,
                None => base.clone(),
            };
            Ok(Minter::GithubApp {
                api_base,
                app_id: id("appId", &raw.app_id)?,
                installation_id: id("installationId", &raw.installation_id)?,
                repositories: Vec::new(),
                permissions: std::collections::BTreeMap::new(),
            })
        }
        "service-account" => {
            let scopes = scopes()?;
            if scopes.is_empty() {
                return Err(
                    "auth type `service-account` needs `scopes:` (e.g. [https://www.googleapis.com/auth/cloud-platform])"
                        .into(),
                );
            }
            Ok(Minter::ServiceAccount {
                scopes,
                token_uri_override: raw
                    .token_url
                    .as_deref()
                    .map(|t| https_url("tokenUrl", t))
                    .transpose()?,
            })
        }
        _ => {
            let token_url = raw
                .token_url
                .as_deref()
                .ok_or("auth type `oauth2` needs `tokenUrl:` (the token endpoint)")?;
            let grant = match raw.grant.as_deref() {
                None | Some("client_credentials") => Grant::ClientCredentials,
                Some("refresh_token") => Grant::RefreshToken,
                Some(other) => {
                    return Err(format!(
                        "unknown grant {other:?}: use client_credentials or refresh_token"
                    ));
                }
            };
            Ok(Minter::OAuth2 {
                token_url: https_url("tokenUrl", token_url)?,
                scopes: scopes()?,
                grant,
            })
        }
    }
}

/// Check an exec env template: literal text and `{{credential}}` or `{{FIELD}}` placeholders.
pub fn check_template(template: &str) -> Result<(), String> {
    placeholders(template).map(|_| ())
}

/// Whether a template puts a secret into its value (a literal, like a region, does not).
pub fn holds_placeholder(template: &str) -> bool {
    placeholders(template).is_ok_and(|p| !p.is_empty())
}

fn placeholders(template: &str) -> Result<Vec<(usize, usize, &str)>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = template[from..].find("{{") {
        let start = from + i;
        let Some(j) = template[start..].find("}}") else {
            return Err("unclosed `{{` in the template".into());
        };
        let name = template[start + 2..start + j].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!("invalid placeholder {{{{{name}}}}}"));
        }
        out.push((start, start + j + 2, name));
        from = start + j + 2;
    }
    Ok(out)
}

impl AuthKind {
    /// The field `{{credential}}` stands for.
    fn primary_field<'a>(&self, fields: &'a SecretFields) -> Option<&'a Secret> {
        match self {
            Self::Bearer { .. } | Self::Query { .. } => fields.get("key"),
            Self::Basic => fields.get("password"),
            Self::Headers => fields
                .iter()
                .find(|(k, _)| k.starts_with(HEADER_PREFIX))
                .map(|(_, v)| v),
            // Name the field: {{apiKey}}, {{accessKeyId}}, ...; a minted token is passed in.
            Self::Signed(_) | Self::Minted(_) => None,
        }
    }

    /// The environment an exec capability without `env` gives its commands: what the usual
    /// CLIs read for this scheme (`GH_TOKEN` for a GitHub App, `AWS_*` for SigV4, ...), as
    /// templates. Optional fields the store lacks are left out, never set empty.
    pub fn default_env(&self, fields: &SecretFields) -> Vec<(String, String)> {
        let token = |vars: &[&str]| {
            vars.iter()
                .map(|v| (v.to_string(), "{{credential}}".to_string()))
                .collect()
        };
        match self {
            Self::Minted(Minter::GithubApp { .. }) => token(&["GH_TOKEN", "GITHUB_TOKEN"]),
            Self::Minted(Minter::ServiceAccount { .. }) => {
                token(&["CLOUDSDK_AUTH_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"])
            }
            Self::Minted(Minter::OAuth2 { .. }) => token(&["ACCESS_TOKEN"]),
            Self::Signed(crate::signing::Scheme::AwsSigV4 { region, .. }) => {
                let mut env = vec![
                    ("AWS_ACCESS_KEY_ID".into(), "{{accessKeyId}}".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "{{secretAccessKey}}".into()),
                    ("AWS_REGION".into(), region.clone()),
                    ("AWS_DEFAULT_REGION".into(), region.clone()),
                ];
                if fields.get("sessionToken").is_some_and(|s| !s.is_empty()) {
                    env.push(("AWS_SESSION_TOKEN".into(), "{{sessionToken}}".into()));
                }
                env
            }
            _ => Vec::new(),
        }
    }

    /// Fill an exec env template with secret fields; `{{credential}}` is `minted` when the
    /// scheme mints tokens. A placeholder with nothing behind it is an error: a CLI is never
    /// handed an empty credential.
    pub fn fill_template(
        &self,
        template: &str,
        fields: &SecretFields,
        minted: Option<&Secret>,
    ) -> Result<zeroize::Zeroizing<String>, String> {
        let mut out = zeroize::Zeroizing::new(String::with_capacity(template.len() + 64));
        let mut last = 0;
        for (start, end, name) in placeholders(template)? {
            out.push_str(&template[last..start]);
            let value = if name == "credential" {
                match self {
                    Self::Minted(_) => minted,
                    _ => self.primary_field(fields),
                }
            } else {
                fields.get(name)
            };
            match value.filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(v.expose()),
                None => return Err(format!("the store has no value for {{{{{name}}}}}")),
            }
            last = end;
        }
        out.push_str(&template[last..]);
        Ok(out)
    }
}

fn basic_pair(fields: &SecretFields) -> Option<Secret> {
    let user = fields.get("username")?;
    let pass = fields.get("password")?;
    Some(Secret::new(format!("{}:{}", user.expose(), pass.expose())))
}

/// What one request carries to prove itself to the upstream.
#[derive(Debug, Default)]
pub struct Credential {
    pub headers: Vec<(String, Secret)>,
    pub query: Vec<(String, Secret)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: &str) -> RawAuth {
        RawAuth::of(kind)
    }

    fn parse(raw: &RawAuth) -> Result<AuthKind, String> {
        AuthKind::from_raw(raw, &url::Url::parse("https://api.example.com/v1").unwrap())
    }

    #[test]
    fn minting_schemes_parse_with_their_keys_only() {
        use crate::config::raw::IdValue;
        let mut gh = raw("github-app");
        assert!(parse(&gh).unwrap_err().contains("appId"));
        gh.app_id = Some(IdValue::Number(42));
        gh.installation_id = Some(IdValue::Text("7".into()));
        let AuthKind::Minted(Minter::GithubApp {
            api_base,
            app_id,
            installation_id,
            ..
        }) = parse(&gh).unwrap()
        else {
            panic!("not a GitHub App");
        };
        assert_eq!(api_base.as_str(), "https://api.example.com/v1");
        assert_eq!((app_id.as_str(), installation_id.as_str()), ("42", "7"));
        gh.installation_id = Some(IdValue::Text("7; rm".into()));
        assert!(parse(&gh).unwrap_err().contains("installationId"));
        gh.installation_id = Some(IdValue::Number(7));
        gh.scopes = Some(vec!["repo".into()]);
        assert!(parse(&gh).unwrap_err().contains("`scopes`"));

        let mut sa = raw("service-account");
        assert!(parse(&sa).unwrap_err().contains("scopes"));
        sa.scopes = Some(vec!["a b".into()]);
        assert!(parse(&sa).unwrap_err().contains("single scope"));
        sa.scopes = Some(vec![
            "https://www.googleapis.com/auth/drive.readonly".into(),
        ]);
        assert_eq!(parse(&sa).unwrap().required_field_names(), ["credentials"]);
        sa.token_url = Some("http://token.example.com/".into());
        assert!(
            parse(&sa).unwrap_err().contains("https"),
            "plain http off loopback"
        );
        sa.token_url = Some("http://127.0.0.1:9/token".into());
        assert!(parse(&sa).is_ok());

        let mut o = raw("oauth2");
        assert!(parse(&o).unwrap_err().contains("tokenUrl"));
        o.token_url = Some("https://auth.example.com/token".into());
        assert_eq!(
            parse(&o).unwrap().required_field_names(),
            ["clientId", "clientSecret"]
        );
        o.grant = Some("refresh_token".into());
        let refresh = parse(&o).unwrap();
        assert_eq!(refresh.required_field_names(), ["refreshToken"]);
        assert_eq!(refresh.optional_field_names(), ["clientId", "clientSecret"]);
        assert_eq!(
            refresh.header_names(&SecretFields::new()),
            ["authorization"]
        );
        o.grant = Some("password".into());
        assert!(parse(&o).unwrap_err().contains("unknown grant"));

        let mut b = raw("bearer");
        b.token_url = Some("https://auth.example.com/token".into());
        assert!(parse(&b).unwrap_err().contains("tokenUrl"));
    }

    #[test]
    fn key_files_are_scrubbed_by_their_secret_lines() {
        let pem = include_str!("../tests/fixtures/rsa-pkcs1.pem");
        let mut gh = raw("github-app");
        gh.app_id = Some(crate::config::raw::IdValue::Number(1));
        gh.installation_id = Some(crate::config::raw::IdValue::Number(2));
        let mut f = SecretFields::new();
        f.insert("privateKey", Secret::new(pem));
        let values = parse(&gh).unwrap().scrub_values(&f);
        assert!(
            values.iter().all(|v| v.expose().len() <= 64),
            "no whole-file pattern"
        );
        let refs: Vec<&str> = values.iter().map(Secret::expose).collect();
        let patterns = crate::scrub::Patterns::new(&refs);
        for echo in [
            pem.to_string(),
            pem.replace('\n', "\r\n"),
            pem.replace('\n', ""),
        ] {
            let (out, hits) = patterns.scrub_str(&echo);
            assert!(hits > 0);
            for line in pem.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!out.contains(line), "{line} left in {out}");
            }
        }
    }

    #[test]
    fn minted_credential_fills_templates_and_is_never_empty() {
        let mut o = raw("oauth2");
        o.token_url = Some("https://auth.example.com/token".into());
        let kind = parse(&o).unwrap();
        let f = SecretFields::new();
        let token = Secret::new("minted-token-0123456789");
        assert_eq!(
            kind.fill_template("Bearer {{credential}}", &f, Some(&token))
                .unwrap()
                .as_str(),
            "Bearer minted-token-0123456789"
        );
        assert!(kind.fill_template("{{credential}}", &f, None).is_err());
    }

    #[test]
    fn basic_is_rfc7617_not_bearer() {
        let mut f = SecretFields::new();
        f.insert("username", Secret::new("Aladdin"));
        f.insert("password", Secret::new("open sesame"));
        let c = AuthKind::Basic.credential(&f);
        assert_eq!(c.headers.len(), 1);
        // RFC 7617 section 2 example.
        assert_eq!(
            c.headers[0].1.expose(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn parses_supported_types_and_refuses_others() {
        assert_eq!(
            parse(&raw("bearer")).unwrap(),
            AuthKind::Bearer {
                scheme: "Bearer".into()
            }
        );
        assert!(parse(&raw("query")).is_err());
        let e = parse(&raw("kerberos")).unwrap_err();
        assert!(e.contains("bearer, basic, headers, query"), "{e}");
        assert!(
            parse(&raw("aws-sigv4")).is_err(),
            "region and service are required"
        );
        let mut a = raw("aws-sigv4");
        a.region = Some("us-east-1".into());
        a.aws_service = Some("s3".into());
        assert_eq!(parse(&a).unwrap().type_name(), "aws-sigv4");
        assert_eq!(
            parse(&raw("hmac-okx")).unwrap().required_field_names(),
            vec!["apiKey", "apiSecret", "passphrase"]
        );
    }

    #[test]
    fn templates_fill_and_refuse_empty_values() {
        let mut f = SecretFields::new();
        f.insert("key", Secret::new("tok_123456789"));
        let b = AuthKind::Bearer {
            scheme: "Bearer".into(),
        };
        assert_eq!(
            b.fill_template("{{credential}}", &f, None)
                .unwrap()
                .as_str(),
            "tok_123456789"
        );
        assert_eq!(
            b.fill_template("x-{{ key }}-y", &f, None).unwrap().as_str(),
            "x-tok_123456789-y"
        );
        assert!(b.fill_template("{{password}}", &f, None).is_err());
        assert!(check_template("{{credential").is_err());
        assert!(check_template("{{a b}}").is_err());
    }

    #[test]
    fn missing_fields_are_named() {
        let f = SecretFields::new();
        assert_eq!(
            AuthKind::Basic.missing_fields(&f),
            vec!["username", "password"]
        );
        assert_eq!(AuthKind::Headers.missing_fields(&f).len(), 1);
    }
}
