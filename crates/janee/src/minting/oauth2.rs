//! OAuth 2.0 access tokens (RFC 6749): the client credentials grant (section 4.4) and the
//! refresh token grant (section 6), with refresh-token rotation reported to the caller.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use url::Url;
use zeroize::Zeroizing;

use super::http::{self, Redactor};
use super::{Field, Grant, MintError, Minted, optional, required};

/// How long a token is assumed to live when the answer has no `expires_in` (RFC 6749 only
/// recommends it). Short, so a token of unknown lifetime is re-minted often rather than
/// replayed long after it died; a 401 invalidates it sooner anyway.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

pub(super) async fn mint(
    client: &reqwest::Client,
    field: Field<'_>,
    token_url: &Url,
    scopes: &[String],
    grant: Grant,
    now: SystemTime,
) -> Result<Minted, MintError> {
    let refresh_token = match grant {
        Grant::ClientCredentials => None,
        Grant::RefreshToken => Some(required(field, "refreshToken")?),
    };
    // Client authentication (section 2.3.1): HTTP Basic when there is a secret; a public
    // client (refresh grant, no secret) identifies itself with `client_id` in the body.
    let (client_id, client_secret) = match grant {
        Grant::ClientCredentials => (
            Some(required(field, "clientId")?),
            Some(required(field, "clientSecret")?),
        ),
        Grant::RefreshToken => (optional(field, "clientId"), optional(field, "clientSecret")),
    };
    let basic = match (&client_id, &client_secret) {
        (Some(id), Some(secret)) => Some(basic_credentials(id, secret)),
        (None, Some(_)) => return Err(MintError::MissingField("clientId")),
        _ => None,
    };
    let body_client_id = if basic.is_none() {
        client_id.as_deref().map(String::as_str)
    } else {
        None
    };
    let body = form_body(
        refresh_token.as_deref().map(String::as_str),
        scopes,
        body_client_id,
    );
    let mut redactor = Redactor::default();
    for sent in [&refresh_token, &client_secret, &basic]
        .into_iter()
        .flatten()
    {
        redactor.add(sent);
    }

    let mut request = client
        .post(token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.to_string());
    if let Some(basic) = &basic {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Basic {}", basic.as_str())).map_err(
                |_| MintError::BadKey("the client credentials cannot form a header".into()),
            )?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let mut answer = http::exchange(request, token_url, &redactor).await?;

    let token = http::take_token(&mut answer, "access_token", &redactor)?;
    let expires_at = http::expires_in(&answer, now, Some(DEFAULT_LIFETIME))?;
    // A refresh token in a client-credentials answer has nowhere to go (section 4.4.3 says
    // not to issue one); in a refresh answer it is a rotation only if it differs.
    let issued = http::take_string(&mut answer, "refresh_token").filter(|t| !t.is_empty());
    let rotated_refresh_token = match (refresh_token, issued) {
        (Some(old), Some(new)) if *old != *new => Some(new),
        _ => None,
    };
    Ok(Minted {
        token,
        expires_at,
        rotated_refresh_token,
    })
}

/// The form body of the token request: the refresh grant when there is a refresh token,
/// else client credentials.
fn form_body(
    refresh_token: Option<&str>,
    scopes: &[String],
    client_id: Option<&str>,
) -> Zeroizing<String> {
    // Sized up front so the buffer holding the secrets is not reallocated (and copied).
    let mut body = Zeroizing::new(String::with_capacity(4096));
    let mut form = url::form_urlencoded::Serializer::new(&mut *body);
    match refresh_token {
        Some(refresh_token) => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh_token);
        }
        None => {
            form.append_pair("grant_type", "client_credentials");
        }
    }
    if !scopes.is_empty() {
        form.append_pair("scope", &scopes.join(" "));
    }
    if let Some(id) = client_id {
        form.append_pair("client_id", id);
    }
    form.finish();
    body
}

/// `base64(urlencode(id) ":" urlencode(secret))`, the form-encoding RFC 6749 section 2.3.1
/// asks for (servers decode it; for the usual unreserved-character ids it is a no-op).
fn basic_credentials(id: &str, secret: &str) -> Zeroizing<String> {
    let mut pair = Zeroizing::new(String::new());
    pair.extend(url::form_urlencoded::byte_serialize(id.as_bytes()));
    pair.push(':');
    pair.extend(url::form_urlencoded::byte_serialize(secret.as_bytes()));
    Zeroizing::new(STANDARD.encode(pair.as_bytes()))
}
