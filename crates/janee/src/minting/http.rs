//! One round trip to a token endpoint: a deadline, a capped body, JSON out, and error text
//! that never carries what was sent.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use url::Url;
use zeroize::Zeroizing;

use super::MintError;

/// The whole exchange, connect to last body byte, must finish within this.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// A success body larger than this is refused (GitHub's answer lists the granted
/// repositories, so it is not tiny).
const MAX_BODY: usize = 4 << 20;
/// Of an error body only this much is read.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Upstream error text kept in [`MintError::Http`], in characters.
const MAX_DETAIL_CHARS: usize = 300;
/// What a secret becomes in error text.
const REDACTED: &str = "[REDACTED]";
/// The identifying `User-Agent` (GitHub refuses requests without one).
pub(super) const USER_AGENT: &str = concat!("janee/", env!("CARGO_PKG_VERSION"));

/// The secret values sent in one exchange, in the encodings an upstream might echo them in,
/// so error text can be stripped of them.
#[derive(Default)]
pub(super) struct Redactor {
    needles: Vec<Zeroizing<String>>,
}

impl Redactor {
    /// Adds a value sent upstream: raw, form-encoded (`+` and `%20` for spaces) and
    /// JSON-escaped.
    pub(super) fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let form = Zeroizing::new(form);
        let spaces = Zeroizing::new(form.replace('+', "%20"));
        let json = Zeroizing::new(serde_json::to_string(secret).unwrap_or_default());
        let json = json
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or_default();
        for form in [secret, form.as_str(), spaces.as_str(), json] {
            if !form.is_empty() && !self.needles.iter().any(|n| n.as_str() == form) {
                self.needles.push(Zeroizing::new(form.to_owned()));
            }
        }
        // Longest first, so a secret that contains another is removed whole.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    fn apply(&self, text: &str) -> String {
        let mut out = Zeroizing::new(text.to_owned());
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Zeroizing::new(out.replace(needle.as_str(), REDACTED));
            }
        }
        out.to_string()
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .finish()
    }
}

/// Sends `request` to `endpoint` and returns the JSON object of a 2xx answer. A non-2xx
/// answer becomes [`MintError::Http`] with the upstream's own message, redacted and capped.
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    endpoint: &Url,
    redactor: &Redactor,
) -> Result<Map<String, Value>, MintError> {
    let mut response = request
        .timeout(TIMEOUT)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .send()
        .await
        .map_err(|e| network(endpoint, e))?;
    let status = response.status();
    let cap = if status.is_success() {
        MAX_BODY
    } else {
        MAX_ERROR_BODY
    };
    let mut body = Zeroizing::new(Vec::with_capacity(
        response
            .content_length()
            .map_or(0, |n| usize::try_from(n).unwrap_or(cap).min(cap)),
    ));
    let mut complete = true;
    while let Some(chunk) = response.chunk().await.map_err(|e| network(endpoint, e))? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            complete = false;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(MintError::Http {
            status: status.as_u16(),
            detail: upstream_detail(&body, redactor),
        });
    }
    if !complete {
        return Err(MintError::BadResponse(format!(
            "the body is larger than {} MiB",
            MAX_BODY >> 20
        )));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(MintError::BadResponse(
            "the body is not a JSON object".into(),
        )),
    }
}

/// Removes the string `name` from a success answer and checks it can go in an HTTP header.
/// When it is absent, any error the upstream put in the body is reported instead.
pub(super) fn take_token(
    map: &mut Map<String, Value>,
    name: &str,
    redactor: &Redactor,
) -> Result<Zeroizing<String>, MintError> {
    let Some(token) = take_string(map, name) else {
        let said = error_fields(map)
            .map(|text| format!("; it says: {}", clean(&redactor.apply(&text))))
            .unwrap_or_default();
        return Err(MintError::BadResponse(format!(
            "no `{name}` string in the answer{said}"
        )));
    };
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(MintError::BadResponse(format!(
            "`{name}` is empty or has characters an HTTP header cannot carry"
        )));
    }
    Ok(token)
}

/// Removes the string `name` from a success answer, if it is one.
pub(super) fn take_string(map: &mut Map<String, Value>, name: &str) -> Option<Zeroizing<String>> {
    match map.remove(name) {
        Some(Value::String(s)) => Some(Zeroizing::new(s)),
        _ => None,
    }
}

/// `now + expires_in`; `expires_in` may be a number or a numeric string (some servers send
/// one). When absent, `default` applies, or the answer is refused if there is none.
pub(super) fn expires_in(
    map: &Map<String, Value>,
    now: SystemTime,
    default: Option<Duration>,
) -> Result<SystemTime, MintError> {
    let seconds = match map.get("expires_in") {
        None | Some(Value::Null) => default.map(|d| d.as_secs()),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    let seconds = seconds.ok_or_else(|| {
        MintError::BadResponse("`expires_in` is missing or not a whole number of seconds".into())
    })?;
    now.checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| MintError::BadResponse("`expires_in` is out of range".into()))
}

/// The upstream's error message, redacted, flattened and capped.
fn upstream_detail(body: &[u8], redactor: &Redactor) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => error_fields(&map),
        _ => None,
    }
    .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = Zeroizing::new(text);
    let detail = clean(&redactor.apply(&text));
    if detail.is_empty() {
        "(no message)".into()
    } else {
        detail
    }
}

/// `error`, `error_description` (RFC 6749 section 5.2) and `message` (GitHub, and the
/// `error.message` of Google APIs), joined.
fn error_fields(map: &Map<String, Value>) -> Option<String> {
    let mut parts = Vec::new();
    for name in ["error", "error_description", "message"] {
        match map.get(name) {
            Some(Value::String(s)) => parts.push(s.as_str()),
            Some(Value::Object(inner)) => {
                if let Some(Value::String(s)) = inner.get("message") {
                    parts.push(s.as_str());
                }
            }
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// Control characters and runs of whitespace become one space; the result is capped.
fn clean(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if chars > 0 {
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars >= MAX_DETAIL_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// A transport failure, naming the endpoint without its query and the cause chain.
fn network(endpoint: &Url, error: reqwest::Error) -> MintError {
    let cause = if error.is_timeout() {
        format!("no complete answer within {} s", TIMEOUT.as_secs())
    } else {
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(inner) = source {
            let inner_text = inner.to_string();
            if !text.ends_with(&inner_text) {
                text.push_str(": ");
                text.push_str(&inner_text);
            }
            source = inner.source();
        }
        text
    };
    MintError::Network(format!(
        "POST {}{}: {cause}",
        endpoint.origin().ascii_serialization(),
        endpoint.path()
    ))
}
