//! Minted tokens end to end: a loopback GitHub App installation endpoint, an OAuth 2.0 token
//! endpoint and a Google-style service-account endpoint that verify what they are sent
//! (JWT signatures with the public key, refresh tokens, client secrets), and an API that
//! accepts only the tokens they issued and reflects them back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::harness::{Janee, Upstream};

const PRIVATE_PKCS1: &str = include_str!("../fixtures/rsa-pkcs1.pem");
const PRIVATE_PKCS8: &str = include_str!("../fixtures/rsa-pkcs8.pem");
const PUBLIC: &str = include_str!("../fixtures/rsa-public.pem");
const APP_ID: &str = "4242";
const INSTALLATION: &str = "77";
const CLIENT_ID: &str = "client-id-for-janee";
const CLIENT_SECRET: &str = "client-secret-CANARY-5f1d9a";
const FIRST_REFRESH: &str = "refresh-CANARY-0-d2c81e";
const SA_EMAIL: &str = "janee@project.iam.gserviceaccount.com";

/// What the loopback identity provider has issued and seen.
#[derive(Default)]
struct Idp {
    /// Every token endpoint call (all three kinds).
    mints: AtomicUsize,
    /// Access tokens the API accepts now.
    valid: Mutex<Vec<String>>,
    /// Every access token ever issued.
    issued: Mutex<Vec<String>>,
    /// The only refresh token the endpoint accepts now; each use rotates it.
    refresh: Mutex<String>,
    /// Every refresh token ever issued.
    refresh_issued: Mutex<Vec<String>>,
    /// GitHub down-scoping bodies, in order.
    scope_bodies: Mutex<Vec<Value>>,
    /// Calls the API answered 401.
    refused: AtomicUsize,
    base: Mutex<String>,
}

type Shared = Arc<Idp>;

impl Idp {
    fn issue(&self, prefix: &str) -> String {
        let n = self.mints.fetch_add(1, Ordering::SeqCst);
        let token = format!("{prefix}_{n}_{}", hex::encode(rand_bytes()));
        self.valid.lock().unwrap().push(token.clone());
        self.issued.lock().unwrap().push(token.clone());
        token
    }
}

fn rand_bytes() -> [u8; 12] {
    let mut b = [0u8; 12];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (i, x) in b.iter_mut().enumerate() {
        *x = (nanos >> (i * 5)) as u8 ^ (i as u8).wrapping_mul(37);
    }
    b
}

fn refuse(why: &str) -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        json!({"message": why}).to_string(),
    )
}

fn verify(jwt: &str, validation: &Validation) -> Result<Value, (StatusCode, String)> {
    let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, validation)
        .map(|d| d.claims)
        .map_err(|e| refuse(&format!("bad JWT: {e}")))
}

/// `POST /app/installations/{id}/access_tokens`, as GitHub: the app JWT must verify.
async fn github_mint(
    State(idp): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(jwt) = auth.strip_prefix("Bearer ") else {
        return refuse("no app JWT");
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[APP_ID]);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    if let Err(e) = verify(jwt, &v) {
        return e;
    }
    if id != INSTALLATION {
        return (StatusCode::NOT_FOUND, "no such installation".into());
    }
    let scope: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    idp.scope_bodies.lock().unwrap().push(scope);
    let token = idp.issue("ghs");
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    (
        StatusCode::CREATED,
        json!({"token": token, "expires_at": expires}).to_string(),
    )
}

/// `POST /oauth/token`: refresh-token (rotating), client-credentials and JWT-bearer grants.
async fn oauth_token(
    State(idp): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            let mut current = idp.refresh.lock().unwrap();
            if form.get("refresh_token") != Some(&*current) {
                // Quote what was sent, as careless servers do: Janee must not pass it on.
                let sent = form.get("refresh_token").cloned().unwrap_or_default();
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"error": "invalid_grant", "error_description": format!("refresh token {sent} is not valid")}).to_string(),
                );
            }
            let next = format!(
                "refresh-CANARY-{}-{}",
                idp.mints.load(Ordering::SeqCst) + 1,
                hex::encode(rand_bytes())
            );
            *current = next.clone();
            idp.refresh_issued.lock().unwrap().push(next.clone());
            drop(current);
            let token = idp.issue("at");
            (
                StatusCode::OK,
                json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "refresh_token": next}).to_string(),
            )
        }
        Some("client_credentials") => {
            let want = format!("{CLIENT_ID}:{CLIENT_SECRET}");
            if basic.as_deref() != Some(want.as_str()) {
                let sent = basic.unwrap_or_default();
                return (
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "invalid_client", "error_description": format!("client {sent} refused")}).to_string(),
                );
            }
            let token = idp.issue("cc");
            (
                StatusCode::OK,
                json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600})
                    .to_string(),
            )
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let aud = format!("{}oauth/token", idp.base.lock().unwrap());
            let mut v = Validation::new(Algorithm::RS256);
            v.set_issuer(&[SA_EMAIL]);
            v.set_audience(&[aud.as_str()]);
            let claims = match verify(form.get("assertion").map_or("", String::as_str), &v) {
                Ok(c) => c,
                Err(e) => return e,
            };
            if claims["scope"] != "https://www.googleapis.com/auth/drive.readonly" {
                return refuse("wrong scope");
            }
            let token = idp.issue("ya29");
            (
                StatusCode::OK,
                json!({"access_token": token, "token_type": "Bearer", "expires_in": 3599})
                    .to_string(),
            )
        }
        _ => (StatusCode::BAD_REQUEST, "unsupported grant".into()),
    }
}

/// The API: accepts only valid issued tokens, and reflects the token it was given (raw and
/// base64) as a careless API might.
async fn api(State(idp): State<Shared>, headers: HeaderMap) -> (StatusCode, String) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !idp.valid.lock().unwrap().contains(&token) {
        idp.refused.fetch_add(1, Ordering::SeqCst);
        return refuse("Bad credentials");
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&token);
    (
        StatusCode::OK,
        json!({"ok": true, "you_sent": token, "b64": b64}).to_string(),
    )
}

async fn idp() -> (Upstream, Shared) {
    let state: Shared = Arc::default();
    *state.refresh.lock().unwrap() = FIRST_REFRESH.to_string();
    let router = Router::new()
        .route("/app/installations/{id}/access_tokens", post(github_mint))
        .route("/oauth/token", post(oauth_token))
        .route("/api/{*rest}", any(api))
        .with_state(state.clone());
    let up = Upstream::serve(router).await;
    *state.base.lock().unwrap() = format!("{}/", up.url());
    (up, state)
}

/// Every secret an output must never contain: the keys, the client secret and every token
/// and refresh token the provider issued.
fn assert_clean(idp: &Idp, what: &str, text: &str) {
    let mut canaries: Vec<String> = vec![CLIENT_SECRET.into(), FIRST_REFRESH.into()];
    canaries.extend(idp.issued.lock().unwrap().iter().cloned());
    canaries.extend(idp.refresh_issued.lock().unwrap().iter().cloned());
    for pem in [PRIVATE_PKCS1, PRIVATE_PKCS8] {
        canaries.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string),
        );
    }
    for c in canaries {
        assert!(!text.contains(&c), "{what} leaked {c:?}: {text}");
    }
}

fn assert_logs_clean(j: &Janee, idp: &Idp) {
    for line in j.logs() {
        assert_clean(idp, "audit log", &line.to_string());
    }
    for (path, bytes) in super::util::all_files(&j.env.home) {
        assert_clean(
            idp,
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

/// Adds a capability to config.yaml as a human would edit it.
fn add_capability_yaml(j: &Janee, name: &str, body: Value) {
    let path = j.env.config_path();
    let mut cfg: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let caps = cfg
        .get_mut("capabilities")
        .and_then(|c| c.as_mapping_mut())
        .unwrap();
    caps.insert(name.into(), serde_yaml_ng::to_value(body).unwrap());
    std::fs::write(&path, serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
}

fn add_github_app(j: &Janee, url: &str, extra: &[&str]) {
    let pem = j.env.home.join("..").join("app.pem");
    std::fs::write(&pem, PRIVATE_PKCS1).unwrap();
    let spec = format!("privateKey={}", pem.display());
    let mut args = vec![
        "add",
        "gh",
        "--url",
        url,
        "--auth-type",
        "github-app",
        "--app-id",
        APP_ID,
        "--installation-id",
        INSTALLATION,
        "--field-from-file",
        &spec,
    ];
    args.extend_from_slice(extra);
    j.env.ok(&args);
    std::fs::remove_file(&pem).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_github_app_token_minted_once_scoped_per_capability_and_refreshed_on_401() {
    let (up, idp) = idp().await;
    let j = Janee::new();
    add_github_app(&j, &up.url(), &[]);
    add_capability_yaml(
        &j,
        "gh-docs",
        json!({"service": "gh", "repositories": ["docs"], "permissions": {"contents": "read"}}),
    );
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;

    for i in 0..5 {
        let r = mcp.execute("gh", "GET", &format!("/api/repos/{i}")).await;
        assert_eq!(r.status(), Some(200), "{}", r.text);
        assert_clean(&idp, "tool result", &r.text);
        assert!(
            r.text.contains("[REDACTED]"),
            "the reflected token is scrubbed: {}",
            r.text
        );
    }
    assert_eq!(
        idp.mints.load(Ordering::SeqCst),
        1,
        "one mint for many calls"
    );
    assert_eq!(*idp.scope_bodies.lock().unwrap(), vec![Value::Null]);

    // A capability with its own scope gets its own, down-scoped token.
    let r = mcp.execute("gh-docs", "GET", "/api/repos/docs").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(idp.mints.load(Ordering::SeqCst), 2);
    assert_eq!(
        idp.scope_bodies.lock().unwrap()[1],
        json!({"repositories": ["docs"], "permissions": {"contents": "read"}})
    );

    // The provider revokes every token early: the next call sees a 401, mints once more and
    // succeeds.
    idp.valid.lock().unwrap().clear();
    let r = mcp.execute("gh", "GET", "/api/after-revoke").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(idp.refused.load(Ordering::SeqCst), 1);
    assert_eq!(idp.mints.load(Ordering::SeqCst), 3);
    // Nothing about the retry reaches the agent but the final answer.
    assert_clean(&idp, "tool result", &r.text);
    assert_logs_clean(&j, &idp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_github_app_token_reaches_exec_as_gh_token_and_is_scrubbed() {
    let (up, idp) = idp().await;
    let j = Janee::new();
    add_github_app(&j, &up.url(), &["--exec", "--allow-commands", "printenv"]);
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;

    let r = mcp
        .call(
            "janee_exec",
            json!({"capability": "gh", "command": ["printenv", "GH_TOKEN", "GITHUB_TOKEN"]}),
        )
        .await;
    let v = r.json();
    assert_eq!(v["exitCode"], 0, "{}", r.text);
    // Both variables were set (printenv exits 1 when one is missing) to the minted token,
    // which the scrubber removed from the output.
    assert_eq!(
        v["stdout"].as_str().unwrap(),
        "[REDACTED]\n[REDACTED]\n",
        "{}",
        r.text
    );
    assert_eq!(idp.mints.load(Ordering::SeqCst), 1);
    assert_clean(&idp, "tool result", &r.text);
    assert_logs_clean(&j, &idp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_oauth2_rotated_refresh_token_is_written_back_and_survives_a_restart() {
    let (up, idp) = idp().await;
    let j = Janee::new();
    let token_url = format!("{}/oauth/token", up.url());
    let out = j.env.run_env(
        &[
            "add",
            "crm",
            "--url",
            &up.url(),
            "--auth-type",
            "oauth2",
            "--grant",
            "refresh_token",
            "--token-url",
            &token_url,
            "--field-from-env",
            "refreshToken=RT",
            "--field-from-env",
            "clientId=CID",
        ],
        &[("RT", FIRST_REFRESH), ("CID", CLIENT_ID)],
    );
    assert!(out.status.success(), "{}", super::util::stderr(&out));
    let agent = j.add_agent("bot");

    {
        let server = j.serve_http(&[]);
        let mcp = server.connect(Some(&agent), "bot").await;
        for _ in 0..3 {
            let r = mcp.execute("crm", "GET", "/api/contacts").await;
            assert_eq!(r.status(), Some(200), "{}", r.text);
            assert_clean(&idp, "tool result", &r.text);
        }
        assert_eq!(idp.mints.load(Ordering::SeqCst), 1);
    }
    // The provider accepts only the rotated refresh token now. A fresh server must read it
    // from the store.
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&agent), "bot").await;
    let r = mcp.execute("crm", "GET", "/api/contacts").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    assert_eq!(idp.mints.load(Ordering::SeqCst), 2);
    assert_eq!(idp.refresh_issued.lock().unwrap().len(), 2);
    assert_clean(&idp, "tool result", &r.text);
    assert_logs_clean(&j, &idp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_token_endpoint_errors_name_the_service_and_never_carry_secrets() {
    let (up, idp) = idp().await;
    let j = Janee::new();
    let token_url = format!("{}/oauth/token", up.url());
    let wrong_secret = "wrong-secret-CANARY-93a1c7";
    let out = j.env.run_env(
        &[
            "add",
            "billing",
            "--url",
            &up.url(),
            "--auth-type",
            "oauth2",
            "--token-url",
            &token_url,
            "--scopes",
            "read,write",
            "--field-from-env",
            "clientId=CID",
            "--field-from-env",
            "clientSecret=CS",
        ],
        &[("CID", CLIENT_ID), ("CS", wrong_secret)],
    );
    assert!(out.status.success(), "{}", super::util::stderr(&out));
    let agent = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&agent), "bot").await;
    let r = mcp.execute("billing", "GET", "/api/invoices").await;
    assert!(r.is_error, "{}", r.text);
    assert!(r.text.contains("billing"), "names the service: {}", r.text);
    assert!(r.text.contains("invalid_client"), "says why: {}", r.text);
    assert!(!r.text.contains(wrong_secret), "{}", r.text);
    let pair =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{wrong_secret}"));
    assert!(!r.text.contains(&pair), "{}", r.text);
    assert_eq!(
        up.requests()
            .iter()
            .filter(|q| q.path().starts_with("/api"))
            .count(),
        0
    );
    for line in j.logs() {
        let t = line.to_string();
        assert!(!t.contains(wrong_secret), "{t}");
    }
    assert_clean(&idp, "tool result", &r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_service_account_assertion_verifies_at_the_token_endpoint() {
    let (up, idp) = idp().await;
    let j = Janee::new();
    let key_file = json!({
        "type": "service_account",
        "project_id": "janee-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": PRIVATE_PKCS8,
        "client_email": SA_EMAIL,
        "token_uri": format!("{}/oauth/token", up.url()),
    });
    let path = j.env.home.join("..").join("sa.json");
    std::fs::write(&path, key_file.to_string()).unwrap();
    let spec = format!("credentials={}", path.display());
    j.env.ok(&[
        "add",
        "drive",
        "--url",
        &up.url(),
        "--auth-type",
        "service-account",
        "--scopes",
        "https://www.googleapis.com/auth/drive.readonly",
        "--field-from-file",
        &spec,
    ]);
    std::fs::remove_file(&path).unwrap();
    let agent = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&agent), "bot").await;
    for _ in 0..3 {
        let r = mcp.execute("drive", "GET", "/api/files").await;
        assert_eq!(r.status(), Some(200), "{}", r.text);
        assert_clean(&idp, "tool result", &r.text);
    }
    assert_eq!(idp.mints.load(Ordering::SeqCst), 1);
    assert_logs_clean(&j, &idp);
}

#[test]
fn issue_8_add_names_missing_minting_settings_by_their_flags() {
    let j = Janee::new();
    let out = j.env.run(&[
        "add",
        "gh",
        "--url",
        "https://api.github.com",
        "--auth-type",
        "github-app",
        "--installation-id",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = super::util::stderr(&out);
    assert!(err.contains("--app-id"), "{err}");
    let out = j.env.run(&[
        "add",
        "crm",
        "--url",
        "https://api.example.com",
        "--auth-type",
        "oauth2",
    ]);
    assert!(super::util::stderr(&out).contains("--token-url"));
    let out = j.env.run(&[
        "add",
        "gh",
        "--url",
        "https://api.github.com",
        "--app-id",
        "1",
        "--installation-id",
        "2",
    ]);
    let err = super::util::stderr(&out);
    assert!(err.contains("--field-from-file privateKey=PATH"), "{err}");
    // Nothing was written.
    assert!(j.env.json(&["list", "--json"]).to_string().contains("[]"));
}
