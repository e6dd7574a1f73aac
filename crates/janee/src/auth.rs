//! Auth schemes: which secret fields each needs (kept in the store) and how they are applied to
//! an outgoing request. Secret values are exposed only inside `apply`.

use base64::Engine as _;
use janee_vault::{Secret, SecretFields};

use crate::config::raw::RawAuth;

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
];

/// One secret field of a scheme, for prompts, flags and `doctor`.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
}

pub const HEADER_PREFIX: &str = "header.";

impl AuthKind {
    pub fn from_raw(raw: &RawAuth) -> Result<Self, String> {
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
        }
    }

    /// The names of the secret fields the scheme needs (`headers` has dynamic ones).
    pub fn required_field_names(&self) -> Vec<&'static str> {
        match self {
            Self::Signed(s) => s.required_fields().to_vec(),
            _ => self.fields().iter().map(|f| f.name).collect(),
        }
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
            Self::Headers | Self::Signed(_) => &[],
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
        }
    }

    /// The values to scrub from anything returned to the agent: every field, and for basic auth
    /// the encoded `username:password` pair too.
    pub fn scrub_values(&self, fields: &SecretFields) -> Vec<Secret> {
        // A basic-auth username is an identifier, often short: the password and the encoded
        // pair are what must not come back.
        let mut out: Vec<Secret> = fields
            .iter()
            .filter(|(k, _)| !(matches!(self, Self::Basic) && *k == "username"))
            .map(|(_, v)| v.clone())
            .collect();
        if let Self::Basic = self
            && let Some(pair) = basic_pair(fields)
        {
            out.push(pair);
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
            // Signed per request in the proxy, where the whole request is known.
            Self::Signed(_) => {}
        }
        c
    }
}

/// Check an exec env template: literal text and `{{credential}}` or `{{FIELD}}` placeholders.
pub fn check_template(template: &str) -> Result<(), String> {
    placeholders(template).map(|_| ())
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
            // Name the field: {{apiKey}}, {{accessKeyId}}, ...
            Self::Signed(_) => None,
        }
    }

    /// Fill an exec env template with secret fields. A placeholder with nothing behind it is an
    /// error: a CLI is never handed an empty credential.
    pub fn fill_template(
        &self,
        template: &str,
        fields: &SecretFields,
    ) -> Result<zeroize::Zeroizing<String>, String> {
        let mut out = zeroize::Zeroizing::new(String::with_capacity(template.len() + 64));
        let mut last = 0;
        for (start, end, name) in placeholders(template)? {
            out.push_str(&template[last..start]);
            let value = if name == "credential" {
                self.primary_field(fields)
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
            AuthKind::from_raw(&raw("bearer")).unwrap(),
            AuthKind::Bearer {
                scheme: "Bearer".into()
            }
        );
        assert!(AuthKind::from_raw(&raw("query")).is_err());
        let e = AuthKind::from_raw(&raw("kerberos")).unwrap_err();
        assert!(e.contains("bearer, basic, headers, query"), "{e}");
        assert!(
            AuthKind::from_raw(&raw("aws-sigv4")).is_err(),
            "region and service are required"
        );
        let mut a = raw("aws-sigv4");
        a.region = Some("us-east-1".into());
        a.aws_service = Some("s3".into());
        assert_eq!(AuthKind::from_raw(&a).unwrap().type_name(), "aws-sigv4");
        assert_eq!(
            AuthKind::from_raw(&raw("hmac-okx"))
                .unwrap()
                .required_field_names(),
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
            b.fill_template("{{credential}}", &f).unwrap().as_str(),
            "tok_123456789"
        );
        assert_eq!(
            b.fill_template("x-{{ key }}-y", &f).unwrap().as_str(),
            "x-tok_123456789-y"
        );
        assert!(b.fill_template("{{password}}", &f).is_err());
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
