//! Google service-account access tokens: the key file signs an RS256 assertion (RFC 7523
//! JWT bearer grant) exchanged at the key's `token_uri`.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use super::http::{self, Redactor};
use super::{Field, MintError, Minted, jwt, required, unix_seconds};

/// The token endpoint Google's key files name; used when a key file leaves it out.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The RFC 7523 grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_S: u64 = 3600;

/// The fields of a service-account key file this module reads. The private key moves into
/// a [`Zeroizing`] buffer as soon as the file is parsed.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

pub(super) async fn mint(
    client: &reqwest::Client,
    field: Field<'_>,
    scopes: &[String],
    token_uri_override: Option<&Url>,
    now: SystemTime,
) -> Result<Minted, MintError> {
    let credentials = required(field, "credentials")?;
    // Only the position of a syntax error is reported: serde's messages can quote values.
    let mut key_file: KeyFile = serde_json::from_str(&credentials).map_err(|e| {
        MintError::BadKey(format!(
            "the service-account credentials are not a JSON key file (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    drop(credentials);
    let private_key = Zeroizing::new(key_file.private_key.take().unwrap_or_default());
    if let Some(kind) = key_file.kind.as_deref()
        && kind != "service_account"
    {
        return Err(MintError::BadKey(
            "the credentials are not a service-account key (its `type` is not \"service_account\")"
                .into(),
        ));
    }
    let email = key_file.client_email.as_deref().unwrap_or_default();
    if email.is_empty() || private_key.is_empty() {
        return Err(MintError::BadKey(
            "the service-account key file lacks `client_email` or `private_key`".into(),
        ));
    }
    let token_uri = match (token_uri_override, key_file.token_uri.as_deref()) {
        (Some(url), _) => url.clone(),
        (None, Some(uri)) => Url::parse(uri).map_err(|_| {
            MintError::BadKey("the service-account key file's `token_uri` is not a URL".into())
        })?,
        (None, None) => Url::parse(GOOGLE_TOKEN_URI)
            .map_err(|_| MintError::BadKey("the default token URI is not a URL".into()))?,
    };

    let iat = unix_seconds(now)?;
    let scope = scopes.join(" ");
    let claims = Assertion {
        iss: email,
        scope: &scope,
        aud: token_uri.as_str(),
        iat,
        exp: iat + ASSERTION_LIFETIME_S,
    };
    let assertion = jwt::sign_rs256(
        &private_key,
        key_file
            .private_key_id
            .as_deref()
            .filter(|id| !id.is_empty()),
        &claims,
        "service-account private key",
    )?;
    drop(private_key);

    let mut redactor = Redactor::default();
    redactor.add(&assertion);
    let body = Zeroizing::new(
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", &assertion)
            .finish(),
    );
    let request = client
        .post(token_uri.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.to_string());
    let mut answer = http::exchange(request, &token_uri, &redactor).await?;

    let token = http::take_token(&mut answer, "access_token", &redactor)?;
    let expires_at = http::expires_in(&answer, now, None)?;
    Ok(Minted {
        token,
        expires_at,
        rotated_refresh_token: None,
    })
}
