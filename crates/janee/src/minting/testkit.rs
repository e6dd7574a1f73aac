//! Test support for the minting tests: a loopback server, a fake store, request checks,
//! and a throwaway 2048-bit RSA key pair (generated once with
//! `openssl genrsa -traditional 2048`; it signs nothing outside these tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

pub(super) type Reply = (StatusCode, String);

/// Serves the router `app(base_url)` builds on 127.0.0.1 and returns the base URL.
pub(super) async fn serve(app: impl FnOnce(Url) -> Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let router = app(base.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A store holding `pairs`.
pub(super) fn store(
    pairs: &[(&str, &str)],
) -> impl Fn(&str) -> Option<Zeroizing<String>> + Send + Sync + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).map(|v| Zeroizing::new(v.clone()))
}

/// A 400 naming the failed check, which the test then sees in `MintError::Http`.
pub(super) fn check(ok: bool, what: &str) -> Result<(), Reply> {
    if ok {
        Ok(())
    } else {
        Err((StatusCode::BAD_REQUEST, format!("check failed: {what}")))
    }
}

pub(super) fn ok_json(value: Value) -> Result<Reply, Reply> {
    Ok((StatusCode::OK, value.to_string()))
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub(super) fn verify(
    jwt: &str,
    validation: &Validation,
) -> Result<jsonwebtoken::TokenData<Value>, Reply> {
    let key = DecodingKey::from_rsa_pem(PUBLIC_PEM.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, validation)
        .map_err(|e| (StatusCode::UNAUTHORIZED, format!("bad JWT: {e}")))
}

/// Decodes one `application/x-www-form-urlencoded` component.
pub(super) fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The private key as GitHub hands it out (PKCS#1).
pub(super) const PKCS1_PEM: &str = include_str!("../../tests/fixtures/rsa-pkcs1.pem");

/// The same key as in a Google service-account file (PKCS#8).
pub(super) const PKCS8_PEM: &str = include_str!("../../tests/fixtures/rsa-pkcs8.pem");

/// Its public half, for the loopback servers to verify with.
pub(super) const PUBLIC_PEM: &str = include_str!("../../tests/fixtures/rsa-public.pem");
