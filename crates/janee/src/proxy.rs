//! Carry out an allowed HTTP request: the canonical path on the service's origin, the credential
//! injected, agent headers filtered, no redirects followed, the response capped and scrubbed.

mod client;

use std::collections::BTreeMap;

use hyper::header::{HeaderMap, HeaderName, HeaderValue};

pub use client::{Pool, Upstream};

use crate::canon::CanonicalPath;
use crate::config::{Service, TokenScope};
use crate::minted::Token;
use crate::scrub::Patterns;
use crate::state::ServiceSecrets;

pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Response headers never passed back to the agent.
const DROP_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-authenticate",
    "trailer",
    "upgrade",
];

#[derive(Debug)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub path: &'a CanonicalPath,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    pub max_response_bytes: u64,
    /// The capability's limits for a minted token (GitHub App down-scoping).
    pub scope: Option<&'a TokenScope>,
}

#[derive(Debug, serde::Serialize)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(skip)]
    pub scrub_hits: usize,
    #[serde(skip)]
    pub bytes_in: u64,
}

/// Why the upstream call failed: names the service, never a secret or the full URL.
#[derive(Debug, thiserror::Error)]
#[error("upstream {service}: {reason}")]
pub struct UpstreamError {
    pub service: String,
    pub reason: String,
}

/// The URL exactly as it will be sent: the service's origin (parsed once, with the config) and
/// the canonical path under its base path. The path always starts with exactly one '/', so it
/// is read as a path and never for an authority.
pub fn target_url(service: &Service, path: &CanonicalPath) -> Result<url::Url, url::ParseError> {
    let wire = path.wire_path(service.base.base_path());
    if wire.starts_with("//") {
        return Err(url::ParseError::EmptyHost);
    }
    url::Url::options()
        .base_url(Some(service.base.url()))
        .parse(&wire)
}

pub async fn send(
    client: &Upstream,
    service: &Service,
    secrets: &ServiceSecrets,
    req: Outgoing<'_>,
) -> Result<Response, UpstreamError> {
    let fail = |reason: String| UpstreamError {
        service: service.name.to_string(),
        reason: secrets.patterns.scrub_str(&reason).0,
    };
    let mut token = secrets
        .minted(service, req.scope)
        .await
        .map_err(|e| fail(format!("could not mint an access token: {e}")))?;
    let mut resp = dispatch(client, service, secrets, &req, token.as_ref()).await?;
    // A minted token the upstream refuses may have been revoked early: mint once more.
    if resp.status() == 401
        && let Some(refused) = &token
    {
        secrets.forget_minted(req.scope, refused).await;
        token = secrets
            .minted(service, req.scope)
            .await
            .map_err(|e| fail(format!("could not mint an access token: {e}")))?;
        resp = dispatch(client, service, secrets, &req, token.as_ref()).await?;
    }
    let patterns = token.as_ref().map_or(&secrets.patterns, |t| &t.patterns);
    let fail = |reason: String| UpstreamError {
        service: service.name.to_string(),
        reason: patterns.scrub_str(&reason).0,
    };
    let status = resp.status();
    let mut out_headers = BTreeMap::new();
    let mut hits = 0;
    for (k, v) in resp.headers() {
        let name = k.as_str();
        if DROP_RESPONSE_HEADERS.contains(&name) {
            continue;
        }
        // Header names are the upstream's to choose, and arrive lower-cased: one that holds a
        // secret (in any case) is dropped whole.
        if secrets.name_holds_secret(name)
            || token.as_ref().is_some_and(|t| {
                name.contains(&t.secret.expose().to_ascii_lowercase())
                    || patterns.scrub_cow(name).1 > 0
            })
        {
            hits += 1;
            continue;
        }
        let text = String::from_utf8_lossy(v.as_bytes());
        let (clean, h) = patterns.scrub_cow(&text);
        hits += h;
        match out_headers.get_mut(name) {
            Some(e) => {
                let e: &mut String = e;
                e.push_str(", ");
                e.push_str(&clean);
            }
            None => {
                out_headers.insert(name.to_string(), clean.into_owned());
            }
        }
    }

    let cap = req.max_response_bytes;
    let mut stream = patterns.stream();
    let expected = resp.content_length().unwrap_or(0).min(cap);
    let mut body = body_buffer(usize::try_from(expected).unwrap_or(0));
    let mut read: u64 = 0;
    let mut truncated = false;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                return Err(fail(format!(
                    "reading the response failed: {}",
                    e.describe(service.timeout)
                )));
            }
        };
        let room = cap.saturating_sub(read);
        let take = usize::try_from(room.min(chunk.len() as u64)).unwrap_or(chunk.len());
        read += take as u64;
        stream.push_into(&chunk[..take], &mut body);
        if take < chunk.len() {
            truncated = true;
            break;
        }
    }
    if !truncated {
        stream.finish_into(&mut body);
    }
    // When the cap cut the body, the bytes the scrubber still holds may be the start of a
    // secret that was cut in half: they are dropped, never flushed.
    hits += stream.hits();
    Ok(Response {
        status,
        headers: out_headers,
        body: String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        truncated,
        scrub_hits: hits,
        bytes_in: read,
    })
}

/// Bodies from this size up are large: their buffer may be kept for the next large body.
const SPARE_MIN: usize = 1 << 20;
/// The largest buffer kept.
const SPARE_MAX: usize = 16 << 20;

/// One large body buffer kept from a finished call for the next large response, so that each
/// large response does not fault in (and have the kernel zero) fresh pages.
static SPARE: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

fn spare() -> std::sync::MutexGuard<'static, Vec<u8>> {
    SPARE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A buffer for a body of `expected` bytes (0 when unknown): the spare one when the body is
/// large and fits, else a new one.
fn body_buffer(expected: usize) -> Vec<u8> {
    if expected >= SPARE_MIN {
        let mut spare = spare();
        if spare.capacity() >= expected {
            return std::mem::take(&mut *spare);
        }
    }
    Vec::with_capacity(expected)
}

/// Hand back the body of a response that has been written, to be reused by a later one.
pub fn recycle(body: String) {
    let mut body = body.into_bytes();
    if !(SPARE_MIN..=SPARE_MAX).contains(&body.capacity()) {
        return;
    }
    let mut spare = spare();
    if spare.capacity() < body.capacity() {
        body.clear();
        *spare = body;
    }
}

/// Builds and sends one attempt of `req`, with the credential (or the minted `token`).
async fn dispatch(
    client: &Upstream,
    service: &Service,
    secrets: &ServiceSecrets,
    req: &Outgoing<'_>,
    token: Option<&Token>,
) -> Result<client::Response, UpstreamError> {
    let fail = |reason: String| UpstreamError {
        service: service.name.to_string(),
        reason: token
            .map_or(&secrets.patterns, |t| &t.patterns)
            .scrub_str(&reason)
            .0,
    };
    let method = hyper::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| fail(format!("invalid method {:?}", req.method)))?;
    let mut url =
        target_url(service, req.path).map_err(|e| fail(format!("could not form the URL: {e}")))?;
    let credential = secrets.credential(service);
    if !credential.query.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in &credential.query {
            q.append_pair(k, v.expose());
        }
    }
    let mut headers = HeaderMap::new();
    for (k, v) in req.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| fail(format!("invalid header name {k:?}")))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| fail(format!("invalid value for header {k}")))?;
        headers.append(name, value);
    }
    for (k, v) in &credential.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| fail("invalid credential header name".into()))?;
        let mut value = HeaderValue::from_str(v.expose()).map_err(|_| {
            fail(format!(
                "the stored credential for header {k} is not a valid header value"
            ))
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.secret.expose()))
            .map_err(|_| fail("the minted token is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(hyper::header::AUTHORIZATION, value);
    }
    if req.body.is_some() && !headers.contains_key(hyper::header::CONTENT_TYPE) {
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let crate::auth::AuthKind::Signed(scheme) = &service.auth {
        let listed: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let unsigned = crate::signing::Unsigned {
            method: req.method,
            url: &url,
            headers: &listed,
            body: req.body.map(str::as_bytes).unwrap_or_default(),
            now: std::time::SystemTime::now(),
        };
        let fields = secrets.fields();
        let field = |name: &str| fields.get(name).map(|s| s.expose().to_string());
        let nonce = || hex::encode(janee_vault::crypto::random_bytes::<16>().unwrap_or_default());
        let signed = scheme
            .sign(&unsigned, &field, &nonce)
            .map_err(|e| fail(format!("signing failed: {e}")))?;
        signed.apply_query(&mut url);
        for (k, v) in &signed.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| fail("invalid signature header".into()))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| fail(format!("invalid value for signature header {k}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    client
        .send(client::Outgoing {
            method,
            url: &url,
            headers,
            body: req.body,
            timeout: service.timeout,
        })
        .await
        .map_err(|e| fail(e.describe(service.timeout)))
}

/// Scrub arbitrary text with every known secret (errors that may quote upstream text).
pub fn scrub_text(patterns: &Patterns, text: &str) -> String {
    patterns.scrub_str(text).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_url_is_the_one_a_full_parse_of_origin_and_wire_path_gives() {
        let bases = [
            "https://api.example.com",
            "https://API.Example.com:443/v1/",
            "http://127.0.0.1:8080/base/path",
            "http://[::1]:9/x",
            "https://bücher.example/api",
        ];
        let paths = [
            "/",
            "/v1/charges?limit=3&x=%20y",
            "/a/./b/../c",
            "/@evil.example/x",
            "/:80/y?z=@w",
            "/spaces here/{x}|^[]",
            "/%41%2d%7e?q=%27",
            "/ch_1?a=b?c",
        ];
        for base in bases {
            let service = Service {
                name: crate::names::ServiceName::new("s").expect("name"),
                base: crate::config::BaseUrl::parse(base, false).expect("base"),
                auth: crate::auth::AuthKind::Bearer {
                    scheme: "Bearer".into(),
                },
                test_path: None,
                timeout: std::time::Duration::from_secs(1),
                max_response_bytes: 1,
            };
            for raw in paths {
                let path = crate::canon::canonicalize(raw).expect(raw);
                let full = format!(
                    "{}{}",
                    service.base.origin(),
                    path.wire_path(service.base.base_path())
                );
                let url = target_url(&service, &path).expect(raw);
                assert_eq!(url.as_str(), url::Url::parse(&full).expect(raw).as_str());
                assert_eq!(url.origin(), service.base.url().origin(), "{base} {raw}");
            }
        }
    }

    #[test]
    fn a_large_body_buffer_is_reused_empty_and_small_or_huge_ones_are_not_kept() {
        // Nothing else in this process hands back buffers of these sizes.
        let mut large = String::with_capacity(3 << 20);
        large.push_str("secret-free but stale");
        let ptr = large.as_ptr();
        recycle(large);
        let again = body_buffer(2 << 20);
        assert_eq!(again.as_ptr(), ptr, "the spare buffer is handed out again");
        assert!(again.is_empty(), "and holds nothing of the last body");
        let fresh = body_buffer(2 << 20);
        assert!(fresh.as_ptr() != ptr, "only once");

        recycle(String::with_capacity(64 << 10));
        assert!(spare().capacity() < SPARE_MIN, "a small buffer is not kept");
        recycle(String::with_capacity(SPARE_MAX + 1));
        assert!(spare().capacity() <= SPARE_MAX, "nor a huge one");
        // A body that does not fit the spare gets a buffer of its own.
        recycle(String::with_capacity(2 << 20));
        let bigger = body_buffer(4 << 20);
        assert!(bigger.capacity() >= 4 << 20);
        assert_eq!(
            spare().capacity(),
            2 << 20,
            "the spare stays for a body it fits"
        );
    }
}
