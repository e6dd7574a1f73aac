//! GitHub App installation access tokens: an app JWT (RS256, at most ten minutes) exchanged
//! at `POST /app/installations/{id}/access_tokens` for a token that lives an hour.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use url::Url;

use super::http::{self, Redactor};
use super::{Field, MintError, Minted, jwt, required, unix_seconds};

/// The borrowed configuration of one [`super::Minter::GithubApp`].
pub(super) struct App<'a> {
    pub(super) api_base: &'a Url,
    pub(super) app_id: &'a str,
    pub(super) installation_id: &'a str,
    pub(super) repositories: &'a [String],
    pub(super) permissions: &'a BTreeMap<String, String>,
}

/// GitHub's app JWT claims. `iat` is backdated a minute against clock drift and `exp` is
/// nine minutes ahead, inside GitHub's ten-minute limit.
#[derive(Serialize)]
struct AppClaims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// The optional down-scoping body; absent parts are left out.
#[derive(Serialize)]
struct ScopeBody<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    repositories: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    permissions: &'a BTreeMap<String, String>,
}

impl App<'_> {
    pub(super) async fn mint(
        &self,
        client: &reqwest::Client,
        field: Field<'_>,
        now: SystemTime,
    ) -> Result<Minted, MintError> {
        let endpoint = self.endpoint()?;
        if self.app_id.is_empty() {
            return Err(MintError::BadKey("the GitHub App id is empty".into()));
        }
        let pem = required(field, "privateKey")?;
        let now_s = unix_seconds(now)?;
        let claims = AppClaims {
            iat: now_s.saturating_sub(60),
            exp: now_s + 540,
            iss: self.app_id,
        };
        let app_jwt = jwt::sign_rs256(&pem, None, &claims, "GitHub App private key")?;
        drop(pem);

        let mut redactor = Redactor::default();
        redactor.add(&app_jwt);
        let mut request = client
            .post(endpoint.clone())
            .bearer_auth(app_jwt.as_str())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if !self.repositories.is_empty() || !self.permissions.is_empty() {
            let body = ScopeBody {
                repositories: self.repositories,
                permissions: self.permissions,
            };
            let body = serde_json::to_vec(&body).map_err(|_| {
                MintError::BadKey("the down-scoping request could not be encoded".into())
            })?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let mut answer = http::exchange(request, &endpoint, &redactor).await?;

        let token = http::take_token(&mut answer, "token", &redactor)?;
        let expires_at = match answer.get("expires_at") {
            Some(serde_json::Value::String(at)) => chrono::DateTime::parse_from_rfc3339(at)
                .map(SystemTime::from)
                .map_err(|_| {
                    MintError::BadResponse("`expires_at` is not an RFC 3339 time".into())
                })?,
            _ => {
                return Err(MintError::BadResponse(
                    "no `expires_at` string in the answer".into(),
                ));
            }
        };
        Ok(Minted {
            token,
            expires_at,
            rotated_refresh_token: None,
        })
    }

    /// `{api_base}/app/installations/{installation_id}/access_tokens`; `api_base` may carry
    /// a path prefix (GitHub Enterprise Server's `/api/v3`).
    fn endpoint(&self) -> Result<Url, MintError> {
        let id = self.installation_id;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MintError::BadKey(
                "the GitHub App installation id must be a number".into(),
            ));
        }
        let mut url = self.api_base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| MintError::BadKey("the GitHub API base is not an http(s) URL".into()))?
            .pop_if_empty()
            .extend(["app", "installations", id, "access_tokens"]);
        Ok(url)
    }
}
