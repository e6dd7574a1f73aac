//! The minters against loopback token endpoints that check what a real one would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use super::testkit::*;
use super::*;

/// A fake GitHub under `/api/v3` (like GitHub Enterprise Server) that checks the app JWT and
/// the down-scoping body it is told to expect.
async fn fake_github(expected_body: Option<Value>, hits: Arc<AtomicUsize>) -> Url {
    let handler = move |Path(id): Path<String>, headers: HeaderMap, body: Bytes| async move {
        hits.fetch_add(1, Ordering::SeqCst);
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["12345"]);
        validation.set_required_spec_claims(&["iat", "exp", "iss"]);
        let claims = verify(&bearer, &validation)?.claims;
        let now = unix(SystemTime::now());
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        check(now - 62 <= iat && iat <= now - 58, "iat is now - 60")?;
        check(exp == iat + 600, "exp is iat + 600")?;
        check(id == "4242", "installation id")?;
        check(
            headers[header::ACCEPT] == "application/vnd.github+json",
            "Accept",
        )?;
        check(headers.contains_key(header::USER_AGENT), "User-Agent")?;
        match &expected_body {
            Some(expected) => {
                let got: Value = serde_json::from_slice(&body).unwrap_or_default();
                check(&got == expected, "down-scoping body")?;
                check(
                    headers[header::CONTENT_TYPE] == "application/json",
                    "Content-Type",
                )?;
            }
            None => check(body.is_empty(), "no body without down-scoping")?,
        }
        Ok::<_, Reply>((
            StatusCode::CREATED,
            json!({"token": "ghs_MINTEDtoken0123456789", "expires_at": "2030-01-01T00:00:00Z",
                   "permissions": {"contents": "read"}, "repository_selection": "selected"})
            .to_string(),
        ))
    };
    serve(|_| {
        Router::new().route(
            "/api/v3/app/installations/{id}/access_tokens",
            post(handler),
        )
    })
    .await
}

fn github_minter(base: &Url, repositories: &[&str], permissions: &[(&str, &str)]) -> Minter {
    Minter::GithubApp {
        api_base: base.join("api/v3").unwrap(),
        app_id: "12345".into(),
        installation_id: "4242".into(),
        repositories: repositories.iter().map(|r| (*r).to_owned()).collect(),
        permissions: permissions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

#[tokio::test]
async fn github_app_mints_a_down_scoped_installation_token() {
    let expected =
        json!({"repositories": ["janee"], "permissions": {"contents": "read", "issues": "write"}});
    let hits = Arc::new(AtomicUsize::new(0));
    let base = fake_github(Some(expected), Arc::clone(&hits)).await;
    let minter = github_minter(
        &base,
        &["janee"],
        &[("issues", "write"), ("contents", "read")],
    );
    let field = store(&[("privateKey", PKCS1_PEM)]);
    let minted = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(minted.token.as_str(), "ghs_MINTEDtoken0123456789");
    assert_eq!(unix(minted.expires_at), 1_893_456_000); // 2030-01-01T00:00:00Z
    assert!(minted.rotated_refresh_token.is_none());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn github_app_without_down_scoping_sends_no_body_and_takes_pkcs8() {
    let base = fake_github(None, Arc::default()).await;
    // PKCS#8, and PKCS#1 pasted on one line with `\n` escapes.
    let one_line = PKCS1_PEM.replace('\n', "\\n");
    for pem in [PKCS8_PEM, &one_line] {
        let field = store(&[("privateKey", pem)]);
        let minted = github_minter(&base, &[], &[])
            .mint(&client(), &field, SystemTime::now())
            .await
            .unwrap();
        assert_eq!(minted.token.as_str(), "ghs_MINTEDtoken0123456789");
    }
}

#[tokio::test]
async fn github_app_input_errors_name_the_problem_not_the_key() {
    let base = fake_github(None, Arc::default()).await;
    let minter = github_minter(&base, &[], &[]);
    let none = store(&[]);
    let err = minter
        .mint(&client(), &none, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(err, MintError::MissingField("privateKey"));

    // A PEM with its body damaged: the error must not quote it.
    let body_line = PKCS1_PEM.lines().nth(3).unwrap();
    let broken = PKCS1_PEM.replace(PKCS1_PEM.lines().nth(1).unwrap(), "AAAA");
    let field = store(&[("privateKey", &broken)]);
    let err = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, MintError::BadKey(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(body_line));

    let mut bad_id = minter.clone();
    if let Minter::GithubApp {
        installation_id, ..
    } = &mut bad_id
    {
        *installation_id = "../../user".into();
    }
    let field = store(&[("privateKey", PKCS1_PEM)]);
    let err = bad_id
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap_err();
    assert!(matches!(err, MintError::BadKey(_)), "{err:?}");
}

#[tokio::test]
async fn github_app_rejection_keeps_the_message_and_drops_the_jwt() {
    // GitHub answers 401 for a wrong app id; this one also echoes the JWT it got.
    let handler = |headers: HeaderMap| async move {
        let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_owned();
        let jwt = auth.trim_start_matches("Bearer ");
        let message = format!("A JSON web token could not be decoded: {jwt}");
        (
            StatusCode::UNAUTHORIZED,
            json!({ "message": message }).to_string(),
        )
    };
    let base = serve(|_| {
        Router::new().route(
            "/api/v3/app/installations/{id}/access_tokens",
            post(handler),
        )
    })
    .await;
    let field = store(&[("privateKey", PKCS1_PEM)]);
    let err = github_minter(&base, &[], &[])
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap_err();
    let MintError::Http { status, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 401);
    assert_eq!(detail, "A JSON web token could not be decoded: [REDACTED]");
}

/// A fake Google token endpoint at `/token` that checks the JWT-bearer assertion.
async fn fake_google(hits: Arc<AtomicUsize>) -> Url {
    serve(|base| {
        let audience = base.join("token").unwrap().to_string();
        let handler = move |body: Bytes| async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let form = form(&body);
            check(
                form.get("grant_type").map(String::as_str)
                    == Some("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                "grant_type",
            )?;
            let assertion = form.get("assertion").cloned().unwrap_or_default();
            let mut validation = Validation::new(Algorithm::RS256);
            validation.set_issuer(&["janee@project.iam.gserviceaccount.com"]);
            validation.set_audience(&[&audience]);
            validation.set_required_spec_claims(&["iat", "exp", "iss", "aud"]);
            let data = verify(&assertion, &validation)?;
            check(data.header.kid.as_deref() == Some("key-id-1"), "kid")?;
            let claims = data.claims;
            check(claims["scope"] == "scope-a scope-b", "scope")?;
            let iat = claims["iat"].as_u64().unwrap();
            check(
                claims["exp"].as_u64() == Some(iat + 3600),
                "exp is iat + 3600",
            )?;
            ok_json(
                json!({"access_token": "ya29.MINTED", "expires_in": 3599, "token_type": "Bearer"}),
            )
        };
        Router::new().route("/token", post(handler))
    })
    .await
}

fn key_file(private_key: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "project",
        "private_key_id": "key-id-1",
        "private_key": private_key,
        "client_email": "janee@project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.example.invalid/token",
    })
    .to_string()
}

#[tokio::test]
async fn service_account_assertion_is_accepted() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = fake_google(Arc::clone(&hits)).await;
    let minter = Minter::ServiceAccount {
        scopes: vec!["scope-a".into(), "scope-b".into()],
        token_uri_override: Some(base.join("token").unwrap()),
    };
    let credentials = key_file(PKCS8_PEM);
    let field = store(&[("credentials", &credentials)]);
    let now = SystemTime::now();
    let minted = minter.mint(&client(), &field, now).await.unwrap();
    assert_eq!(minted.token.as_str(), "ya29.MINTED");
    assert_eq!(unix(minted.expires_at), unix(now) + 3599);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn service_account_bad_credentials_are_not_quoted() {
    let minter = Minter::ServiceAccount {
        scopes: vec![],
        token_uri_override: Some(Url::parse("http://127.0.0.1:9/token").unwrap()),
    };
    let canary = "CANARY-private-key-material";
    for credentials in [
        key_file(canary),
        format!("{{\"private_key\": \"{canary}\", oops"),
        format!("{{\"private_key\": 7, \"client_email\": \"{canary}\"}}"),
    ] {
        let field = store(&[("credentials", &credentials)]);
        let err = minter
            .mint(&client(), &field, SystemTime::now())
            .await
            .unwrap_err();
        assert!(matches!(err, MintError::BadKey(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("CANARY"), "{err:?}");
    }
}

/// A fake OAuth 2.0 token endpoint at `/token`. It decodes HTTP Basic client credentials
/// the RFC 6749 section 2.3.1 way and answers by grant.
async fn fake_oauth(hits: Arc<AtomicUsize>, delay: Duration) -> Url {
    let handler = move |headers: HeaderMap, body: Bytes| async move {
        let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(delay).await;
        let form = form(&body);
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|raw| {
                let raw = String::from_utf8(raw).unwrap();
                let (id, secret) = raw.split_once(':').unwrap();
                let decode = |s: &str| form_decode(s);
                (decode(id), decode(secret))
            });
        let get = |k: &str| form.get(k).map(String::as_str);
        match get("grant_type") {
            Some("client_credentials") => {
                check(
                    basic == Some(("app-client".into(), "s3cr3t+/=:x".into())),
                    "Basic client auth",
                )?;
                check(get("scope") == Some("read write"), "scope")?;
                ok_json(
                    json!({"access_token": format!("cc-token-{n}"), "token_type": "Bearer", "expires_in": "600"}),
                )
            }
            Some("refresh_token") => {
                let rt = get("refresh_token").unwrap_or_default();
                match basic {
                    Some(pair) => {
                        check(pair == ("app-client".into(), "s3cr3t+/=:x".into()), "Basic")?
                    }
                    None => check(get("client_id") == Some("public-client"), "client_id")?,
                }
                let next = if rt == "rt-keep" { "rt-keep" } else { "rt-new" };
                ok_json(
                    json!({"access_token": format!("rt-token-{n}"), "token_type": "bearer",
                               "expires_in": 3600, "refresh_token": next}),
                )
            }
            _ => Err((
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}).to_string(),
            )),
        }
    };
    serve(|_| Router::new().route("/token", post(handler))).await
}

fn oauth_minter(base: &Url, grant: Grant, scopes: &[&str]) -> Minter {
    Minter::OAuth2 {
        token_url: base.join("token").unwrap(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        grant,
    }
}

const CLIENT: [(&str, &str); 2] = [("clientId", "app-client"), ("clientSecret", "s3cr3t+/=:x")];

#[tokio::test]
async fn oauth2_client_credentials_uses_basic_auth() {
    let base = fake_oauth(Arc::default(), Duration::ZERO).await;
    let field = store(&CLIENT);
    let now = SystemTime::now();
    let minted = oauth_minter(&base, Grant::ClientCredentials, &["read", "write"])
        .mint(&client(), &field, now)
        .await
        .unwrap();
    assert_eq!(minted.token.as_str(), "cc-token-1");
    assert_eq!(unix(minted.expires_at), unix(now) + 600);
    assert!(minted.rotated_refresh_token.is_none());

    let only_id = store(&CLIENT[..1]);
    let err = oauth_minter(&base, Grant::ClientCredentials, &[])
        .mint(&client(), &only_id, now)
        .await
        .unwrap_err();
    assert_eq!(err, MintError::MissingField("clientSecret"));
}

#[tokio::test]
async fn oauth2_refresh_reports_a_rotated_refresh_token() {
    let base = fake_oauth(Arc::default(), Duration::ZERO).await;
    let minter = oauth_minter(&base, Grant::RefreshToken, &[]);
    let field = store(&[CLIENT[0], CLIENT[1], ("refreshToken", "rt-old")]);
    let minted = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(minted.token.as_str(), "rt-token-1");
    assert_eq!(
        minted.rotated_refresh_token.as_deref().map(String::as_str),
        Some("rt-new")
    );

    // The same refresh token handed back is not a rotation.
    let field = store(&[CLIENT[0], CLIENT[1], ("refreshToken", "rt-keep")]);
    let minted = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap();
    assert!(minted.rotated_refresh_token.is_none());

    // A public client sends client_id in the body and no Authorization.
    let field = store(&[("clientId", "public-client"), ("refreshToken", "rt-old")]);
    let minted = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap();
    assert!(minted.rotated_refresh_token.is_some());

    let field = store(&CLIENT);
    let err = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(err, MintError::MissingField("refreshToken"));
}

#[tokio::test]
async fn canary_secrets_never_reach_errors_or_debug() {
    const SECRET: &str = "CANARY-client-secret-0123";
    const REFRESH: &str = "CANARY-refresh-token-4567";
    const TOKEN: &str = "CANARY-access-token-89ab";
    // A token endpoint that quotes back everything it was sent: in the JSON error, and raw.
    let handler = |Path(kind): Path<String>, headers: HeaderMap, body: Bytes| async move {
        let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_owned();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let echo = format!("you sent {auth} with {body}; secret {SECRET} refresh {REFRESH}");
        match kind.as_str() {
            "json" => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client", "error_description": echo}).to_string(),
            ),
            "text" => (StatusCode::BAD_REQUEST, format!("<html>{echo}\r\n</html>")),
            _ => (
                StatusCode::OK,
                json!({"error": "server_error", "error_description": echo, "token": TOKEN})
                    .to_string(),
            ),
        }
    };
    let base = serve(|_| Router::new().route("/{kind}", post(handler))).await;
    let field = store(&[
        ("clientId", "app-client"),
        ("clientSecret", SECRET),
        ("refreshToken", REFRESH),
    ]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("app-client:{SECRET}"));
    for kind in ["json", "text", "ok"] {
        let minter = Minter::OAuth2 {
            token_url: base.join(kind).unwrap(),
            scopes: vec![],
            grant: Grant::RefreshToken,
        };
        let err = minter
            .mint(&client(), &field, SystemTime::now())
            .await
            .unwrap_err();
        let shown = format!("{err} {err:?}");
        for canary in [SECRET, REFRESH, TOKEN, basic.as_str()] {
            assert!(!shown.contains(canary), "{kind}: {shown}");
        }
        assert!(shown.contains("[REDACTED]"), "{kind}: {shown}");
        assert!(!shown.contains('\r') && !shown.contains('\n'), "{shown}");
    }

    let minted = Minted {
        token: Zeroizing::new(TOKEN.into()),
        expires_at: SystemTime::now(),
        rotated_refresh_token: Some(Zeroizing::new(REFRESH.into())),
    };
    let shown = format!("{minted:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains(REFRESH),
        "{shown}"
    );
}

#[tokio::test]
async fn unusable_answers_and_unreachable_endpoints() {
    let handler = |Path(kind): Path<String>| async move {
        let body = match kind.as_str() {
            "crlf" => json!({"access_token": "abc\r\nX-Injected: 1", "expires_in": 60}),
            "no-expiry" => json!({"access_token": "abc"}),
            "bad-expiry" => json!({"access_token": "abc", "expires_in": -5}),
            _ => json!([1, 2]),
        };
        (StatusCode::OK, body.to_string())
    };
    let base = serve(|_| Router::new().route("/{kind}", post(handler))).await;
    let field = store(&CLIENT);
    let mint = |kind: &str| {
        let minter = Minter::OAuth2 {
            token_url: base.join(kind).unwrap(),
            scopes: vec![],
            grant: Grant::ClientCredentials,
        };
        let field = &field;
        async move { minter.mint(&client(), field, SystemTime::now()).await }
    };
    for kind in ["crlf", "bad-expiry", "array"] {
        let err = mint(kind).await.unwrap_err();
        assert!(matches!(err, MintError::BadResponse(_)), "{kind}: {err:?}");
    }
    // No expires_in: a short default lifetime.
    let minted = mint("no-expiry").await.unwrap();
    let left = minted.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(left <= Duration::from_secs(300) && left > Duration::from_secs(290));

    // Nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let minter = Minter::OAuth2 {
        token_url: Url::parse(&format!("http://127.0.0.1:{port}/token?x=1")).unwrap(),
        scopes: vec![],
        grant: Grant::ClientCredentials,
    };
    let err = minter
        .mint(&client(), &field, SystemTime::now())
        .await
        .unwrap_err();
    let MintError::Network(text) = &err else {
        panic!("{err:?}")
    };
    assert!(
        text.starts_with(&format!("POST http://127.0.0.1:{port}/token: ")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_mints_once_for_twenty_concurrent_callers() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = fake_oauth(Arc::clone(&hits), Duration::from_millis(100)).await;
    let minter = Arc::new(oauth_minter(
        &base,
        Grant::ClientCredentials,
        &["read", "write"],
    ));
    let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
    let http = client();
    let get = || {
        let (cache, minter, http) = (Arc::clone(&cache), Arc::clone(&minter), http.clone());
        async move {
            let field = store(&CLIENT);
            cache
                .get("oauth/cap", || async {
                    minter.mint(&http, &field, SystemTime::now()).await
                })
                .await
        }
    };
    let tasks: Vec<_> = (0..20).map(|_| tokio::spawn(get())).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().as_str(), "cc-token-1");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    assert_eq!(get().await.unwrap().as_str(), "cc-token-1");
    cache.invalidate("oauth/cap");
    assert_eq!(get().await.unwrap().as_str(), "cc-token-2");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}
