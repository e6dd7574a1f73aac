//! Request-signing auth schemes: the credential is an input to a signature computed over the
//! exact request that goes on the wire, so the secret itself is never sent.
//!
//! Pure and synchronous: no network, no clock (the caller passes `now`), no randomness (the
//! caller passes a nonce source). Each scheme follows its published specification to the
//! letter and is pinned by known-answer tests taken from that documentation:
//!
//! | scheme | spec | where the code lives |
//! |---|---|---|
//! | [`Scheme::HmacBybit`] | Bybit V5 "Integration guidance" | `signing/exchange.rs` |
//! | [`Scheme::HmacOkx`] | OKX v5 REST authentication | `signing/exchange.rs` |
//! | [`Scheme::HmacMexc`] | MEXC spot v3 "SIGNED" endpoints | `signing/exchange.rs` |
//! | [`Scheme::AwsSigV4`] | AWS Signature Version 4 (official `aws-sigv4` crate) | `signing/aws.rs` |
//! | [`Scheme::OAuth1aTwitter`] | RFC 5849 HMAC-SHA1, as used by X/Twitter | `signing/oauth1.rs` |
//!
//! # Contract with the proxy
//! - [`Unsigned`] must describe the request byte for byte as it will be sent: the URL (path and
//!   query exactly as on the wire), every agent header that will be sent, and the body.
//! - Add every header in [`Signed::headers`] (replacing any of the same name) and append
//!   [`Signed::query`] with [`Signed::apply_query`] (which appends exactly the way the
//!   signature assumed). Change nothing else afterwards: any later edit invalidates the
//!   signature.
//! - Agents may not supply any header in [`Scheme::header_names`]; [`Scheme::sign`] also refuses
//!   them itself, so a missed check fails closed.

mod aws;
mod exchange;
mod oauth1;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

/// A request as it will be sent, before signing.
pub struct Unsigned<'a> {
    /// HTTP method, upper-case.
    pub method: &'a str,
    /// Full URL including the query, exactly as it will go on the wire.
    pub url: &'a url::Url,
    /// Agent headers that will be sent (lower-case names).
    pub headers: &'a [(String, String)],
    /// The request body, byte for byte.
    pub body: &'a [u8],
    /// The signing time.
    pub now: SystemTime,
}

impl fmt::Debug for Unsigned<'_> {
    // Header values and the body are the agent's data: show their shape, not their content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Unsigned")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .field("now", &self.now)
            .finish()
    }
}

/// What to add to the request.
#[derive(Default)]
pub struct Signed {
    /// Headers to set (lower-case names). Values can carry credentials (the OKX passphrase,
    /// an AWS session token), hence `Zeroizing`.
    pub headers: Vec<(String, Zeroizing<String>)>,
    /// Query parameters appended to the URL, in order (use [`Signed::apply_query`]).
    pub query: Vec<(String, String)>,
}

impl Signed {
    fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers
            .push((name.to_owned(), Zeroizing::new(value.into())));
    }

    /// Appends [`Signed::query`] to `url` the way the signature was computed: each pair
    /// `application/x-www-form-urlencoded`-serialised after the existing query, joined by `&`
    /// (`Url::query_pairs_mut().append_pair`, which is also what `reqwest`'s `.query()` does).
    pub fn apply_query(&self, url: &mut url::Url) {
        if self.query.is_empty() {
            return;
        }
        let mut pairs = url.query_pairs_mut();
        for (name, value) in &self.query {
            pairs.append_pair(name, value);
        }
    }
}

impl fmt::Debug for Signed {
    // Values are never printed: a header may carry a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let query: Vec<&str> = self.query.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Signed")
            .field("header_names", &headers)
            .field("query_names", &query)
            .finish_non_exhaustive()
    }
}

/// A request-signing auth scheme. Secret material is never held here: it is read through the
/// `field` callback at signing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Bybit V5 HMAC-SHA256. Fields: `apiKey`, `apiSecret`.
    HmacBybit {
        /// Value of `X-BAPI-RECV-WINDOW` in milliseconds (Bybit's default is 5000).
        recv_window_ms: u64,
    },
    /// OKX v5 HMAC-SHA256. Fields: `apiKey`, `apiSecret`, `passphrase`.
    HmacOkx,
    /// MEXC spot v3 HMAC-SHA256. Fields: `apiKey`, `apiSecret`.
    HmacMexc,
    /// AWS Signature Version 4. Fields: `accessKeyId`, `secretAccessKey`, optional `sessionToken`.
    AwsSigV4 {
        /// Signing region, e.g. `us-east-1`.
        region: String,
        /// Signing name, e.g. `s3` or `ses`. `s3` switches on S3's rules (payload hash header,
        /// single URI encoding, no path normalisation).
        service: String,
    },
    /// OAuth 1.0a HMAC-SHA1 with user context (RFC 5849). Fields: `consumerKey`,
    /// `consumerSecret`, `accessToken`, `accessTokenSecret`.
    OAuth1aTwitter,
}

/// Why a request could not be signed. Never carries a secret value or a request body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A required credential field is absent (or empty) in the store.
    #[error(
        "credential field `{0}` is missing or empty for this service's auth scheme; store it with the service's other credentials"
    )]
    MissingField(&'static str),
    /// A credential field would have to go into a header but holds control characters.
    #[error(
        "credential field `{0}` contains control characters and cannot be sent in an HTTP header; re-enter it"
    )]
    InvalidField(&'static str),
    /// The caller supplied a header the scheme sets itself.
    #[error(
        "header `{0}` is set by the service's signing scheme and may not be supplied by the caller; remove it"
    )]
    ReservedHeader(&'static str),
    /// The caller supplied a query or form parameter the scheme sets itself.
    #[error(
        "parameter `{0}` is set by the service's signing scheme and may not be supplied in the query or form body; remove it"
    )]
    ReservedParam(&'static str),
    /// The system clock reads earlier than 1970-01-01.
    #[error("the system clock is set before 1970-01-01; fix the clock to sign requests")]
    ClockBeforeEpoch,
    /// The `aws-sigv4` signer refused the request (its messages are fixed strings).
    #[error("AWS SigV4 signing failed: {0}")]
    Aws(String),
}

impl Scheme {
    /// Credential fields the store must hold for this scheme.
    pub fn required_fields(&self) -> &'static [&'static str] {
        match self {
            Scheme::HmacBybit { .. } | Scheme::HmacMexc => &["apiKey", "apiSecret"],
            Scheme::HmacOkx => &["apiKey", "apiSecret", "passphrase"],
            Scheme::AwsSigV4 { .. } => &["accessKeyId", "secretAccessKey"],
            Scheme::OAuth1aTwitter => &[
                "consumerKey",
                "consumerSecret",
                "accessToken",
                "accessTokenSecret",
            ],
        }
    }

    /// Credential fields the store may hold for this scheme.
    pub fn optional_fields(&self) -> &'static [&'static str] {
        match self {
            Scheme::AwsSigV4 { .. } => &["sessionToken"],
            _ => &[],
        }
    }

    /// Header names this scheme sets (lower-case), so agents may not supply them.
    pub fn header_names(&self) -> &'static [&'static str] {
        match self {
            Scheme::HmacBybit { .. } => exchange::BYBIT_HEADERS,
            Scheme::HmacOkx => exchange::OKX_HEADERS,
            Scheme::HmacMexc => exchange::MEXC_HEADERS,
            Scheme::AwsSigV4 { .. } => aws::HEADERS,
            Scheme::OAuth1aTwitter => oauth1::HEADERS,
        }
    }

    /// Signs `req`. `field(name)` returns a secret field's plaintext from the encrypted store;
    /// `nonce()` returns a fresh random nonce (used by OAuth 1.0a only).
    pub fn sign(
        &self,
        req: &Unsigned<'_>,
        field: &dyn Fn(&str) -> Option<String>,
        nonce: &dyn Fn() -> String,
    ) -> Result<Signed, SignError> {
        let own = self.header_names();
        if let Some(name) = req
            .headers
            .iter()
            .find_map(|(n, _)| own.iter().find(|o| n.eq_ignore_ascii_case(o)))
        {
            return Err(SignError::ReservedHeader(name));
        }
        let fields = Fields(field);
        match self {
            Scheme::HmacBybit { recv_window_ms } => {
                exchange::sign_bybit(req, &fields, *recv_window_ms)
            }
            Scheme::HmacOkx => exchange::sign_okx(req, &fields),
            Scheme::HmacMexc => exchange::sign_mexc(req, &fields),
            Scheme::AwsSigV4 { region, service } => aws::sign(req, &fields, region, service),
            Scheme::OAuth1aTwitter => oauth1::sign(req, &fields, nonce),
        }
    }
}

/// Reads credential fields, wrapping each plaintext in `Zeroizing` at once.
struct Fields<'f>(&'f dyn Fn(&str) -> Option<String>);

impl Fields<'_> {
    fn required(&self, name: &'static str) -> Result<Zeroizing<String>, SignError> {
        self.optional(name).ok_or(SignError::MissingField(name))
    }

    /// An absent or empty field is `None`.
    fn optional(&self, name: &'static str) -> Option<Zeroizing<String>> {
        (self.0)(name).map(Zeroizing::new).filter(|v| !v.is_empty())
    }

    /// A field that is sent as (part of) a header value.
    fn header_value(&self, name: &'static str) -> Result<Zeroizing<String>, SignError> {
        let value = self.required(name)?;
        check_header_value(name, &value)?;
        Ok(value)
    }
}

/// Refuses what `http::HeaderValue` would refuse (and what could split a header): control
/// characters other than horizontal tab.
fn check_header_value(name: &'static str, value: &str) -> Result<(), SignError> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(SignError::InvalidField(name));
    }
    Ok(())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Milliseconds since the Unix epoch.
fn unix_millis(now: SystemTime) -> Result<u64, SignError> {
    let since = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::ClockBeforeEpoch)?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// ISO 8601 UTC with milliseconds, e.g. `2020-12-08T09:08:57.715Z`.
fn iso8601_millis(now: SystemTime) -> Result<String, SignError> {
    let ms = unix_millis(now)?;
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// RFC 3986 unreserved characters; everything else is percent-encoded (upper-case hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `bytes` leaving only RFC 3986 unreserved characters.
fn pct(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}

/// Whether the request body is `application/x-www-form-urlencoded` per its `Content-Type`.
fn is_form_encoded(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, v)| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Parses `application/x-www-form-urlencoded` bytes (a query string or a form body) into
/// decoded name/value byte strings: `&`-separated, empty pairs skipped, split at the first
/// `=`, `+` is a space, `%XX` decoded (malformed escapes kept literally). Works on bytes so
/// that non-UTF-8 escapes survive exactly.
fn parse_form(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn decode(raw: &[u8]) -> Vec<u8> {
        let plus: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus).collect()
    }
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(i) => (decode(&pair[..i]), decode(&pair[i + 1..])),
            None => (decode(pair), Vec::new()),
        })
        .collect()
}

/// Shared set-up for the schemes' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Scheme, SignError, Signed, Unsigned};

    /// Sign a request described by plain strings: the shared set-up of the schemes' tests.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sign_for_test(
        scheme: &Scheme,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        now: std::time::SystemTime,
        field: &dyn Fn(&str) -> Option<String>,
        nonce: &str,
    ) -> Result<Signed, SignError> {
        let url = url::Url::parse(url).unwrap();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let req = Unsigned {
            method,
            url: &url,
            headers: &headers,
            body: body.as_bytes(),
            now,
        };
        scheme.sign(&req, field, &|| nonce.to_owned())
    }

    /// A field lookup over `(name, value)` pairs, for tests.
    pub(crate) fn lookup<'a>(
        creds: &'a [(&'a str, &'a str)],
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            creds
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// Distinct, recognisable values for every field; the secret ones must never be sent.
    const CANARIES: &[(&str, &str)] = &[
        ("apiKey", "canary-public-api-key"),
        ("apiSecret", "canary-SECRET-api-secret-7f3a"),
        ("passphrase", "canary-okx-passphrase"),
        ("accessKeyId", "AKIACANARYPUBLICID"),
        ("secretAccessKey", "canary-SECRET-aws-secret-access-key"),
        ("sessionToken", "canary-aws-session-token"),
        ("consumerKey", "canary-consumer-key"),
        ("consumerSecret", "canary-SECRET-consumer-secret"),
        ("accessToken", "canary-access-token"),
        ("accessTokenSecret", "canary-SECRET-token-secret"),
    ];
    const NEVER_SENT: &[&str] = &[
        "apiSecret",
        "secretAccessKey",
        "consumerSecret",
        "accessTokenSecret",
    ];

    fn all_schemes() -> Vec<Scheme> {
        vec![
            Scheme::HmacBybit {
                recv_window_ms: 5000,
            },
            Scheme::HmacOkx,
            Scheme::HmacMexc,
            Scheme::AwsSigV4 {
                region: "eu-west-1".into(),
                service: "s3".into(),
            },
            Scheme::AwsSigV4 {
                region: "eu-west-1".into(),
                service: "ses".into(),
            },
            Scheme::OAuth1aTwitter,
        ]
    }

    fn canary(name: &str) -> Option<String> {
        CANARIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }

    fn sign_with(
        scheme: &Scheme,
        headers: &[(String, String)],
        field: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Signed, SignError> {
        let url = url::Url::parse("https://upstream.example/v1/things?limit=5").unwrap();
        let req = Unsigned {
            method: "POST",
            url: &url,
            headers,
            body: b"a=1&b=2",
            now: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        };
        scheme.sign(&req, field, &|| "nonce-123".to_owned())
    }

    /// Every representation of a secret a careless scheme might send.
    fn encodings(secret: &str) -> Vec<String> {
        use base64::Engine as _;
        vec![
            secret.to_owned(),
            pct(secret.as_bytes()),
            hex::encode(secret),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        ]
    }

    #[test]
    fn canary_secrets_never_leave_in_headers_or_query() {
        let form = [(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )];
        for scheme in all_schemes() {
            let signed = sign_with(&scheme, &form, &canary).unwrap();
            assert!(!signed.headers.is_empty(), "{scheme:?} set no header");
            let sent: Vec<&str> = signed
                .headers
                .iter()
                .map(|(_, v)| v.as_str())
                .chain(signed.query.iter().map(|(_, v)| v.as_str()))
                .collect();
            for field in NEVER_SENT {
                let secret = canary(field).unwrap();
                for encoded in encodings(&secret) {
                    for value in &sent {
                        assert!(!value.contains(&encoded), "{scheme:?} sent {field}");
                    }
                }
            }
            let debug = format!("{signed:?}");
            for (_, value) in CANARIES {
                assert!(
                    !debug.contains(value),
                    "{scheme:?}: Debug shows a field value"
                );
            }
            for (name, _) in &signed.headers {
                assert!(scheme.header_names().contains(&name.as_str()), "{name}");
            }
        }
    }

    /// Only the OKX passphrase is a secret that is sent, and only in its own header.
    #[test]
    fn okx_passphrase_is_sent_only_in_its_header() {
        let signed = sign_with(&Scheme::HmacOkx, &[], &canary).unwrap();
        let holders: Vec<&str> = signed
            .headers
            .iter()
            .filter(|(_, v)| v.contains("canary-okx-passphrase"))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(holders, ["ok-access-passphrase"]);
    }

    #[test]
    fn missing_fields_are_named_and_errors_carry_no_secret() {
        for scheme in all_schemes() {
            for missing in scheme.required_fields() {
                let field = |name: &str| if name == *missing { None } else { canary(name) };
                let err = sign_with(&scheme, &[], &field).unwrap_err();
                assert!(matches!(err, SignError::MissingField(m) if m == *missing));
                let text = format!("{err} {err:?}");
                assert!(text.contains(missing));
                for (_, value) in CANARIES {
                    assert!(!text.contains(value));
                }
                // Empty counts as missing.
                let empty = |name: &str| {
                    if name == *missing {
                        Some(String::new())
                    } else {
                        canary(name)
                    }
                };
                assert!(matches!(
                    sign_with(&scheme, &[], &empty),
                    Err(SignError::MissingField(_))
                ));
            }
            for optional in scheme.optional_fields() {
                let field = |name: &str| {
                    if name == *optional {
                        None
                    } else {
                        canary(name)
                    }
                };
                sign_with(&scheme, &[], &field).unwrap();
            }
        }
    }

    #[test]
    fn header_injection_through_a_field_is_refused() {
        let evil = "key\r\nx-injected: 1";
        for (scheme, field_name) in [
            (Scheme::HmacOkx, "passphrase"),
            (Scheme::HmacMexc, "apiKey"),
            (
                Scheme::AwsSigV4 {
                    region: "us-east-1".into(),
                    service: "ses".into(),
                },
                "sessionToken",
            ),
        ] {
            let field = |name: &str| {
                if name == field_name {
                    Some(evil.to_owned())
                } else {
                    canary(name)
                }
            };
            let err = sign_with(&scheme, &[], &field).unwrap_err();
            assert!(matches!(err, SignError::InvalidField(f) if f == field_name));
            assert!(!err.to_string().contains(evil));
        }
    }

    #[test]
    fn caller_cannot_supply_scheme_headers() {
        for scheme in all_schemes() {
            for own in scheme.header_names() {
                let headers = [(own.to_ascii_uppercase(), "x".to_owned())];
                let err = sign_with(&scheme, &headers, &canary).unwrap_err();
                assert!(matches!(err, SignError::ReservedHeader(h) if h == *own));
            }
        }
    }

    #[test]
    fn field_lists() {
        assert_eq!(
            Scheme::HmacOkx.required_fields(),
            ["apiKey", "apiSecret", "passphrase"]
        );
        let aws = Scheme::AwsSigV4 {
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        assert_eq!(aws.required_fields(), ["accessKeyId", "secretAccessKey"]);
        assert_eq!(aws.optional_fields(), ["sessionToken"]);
        assert!(Scheme::OAuth1aTwitter.optional_fields().is_empty());
        for scheme in all_schemes() {
            for name in scheme.header_names() {
                assert_eq!(*name, name.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn clock_before_epoch_is_an_error() {
        let url = url::Url::parse("https://upstream.example/").unwrap();
        let req = Unsigned {
            method: "GET",
            url: &url,
            headers: &[],
            body: b"",
            now: UNIX_EPOCH - Duration::from_secs(1),
        };
        for scheme in [Scheme::HmacOkx, Scheme::OAuth1aTwitter] {
            let err = scheme.sign(&req, &canary, &String::new).unwrap_err();
            assert!(matches!(err, SignError::ClockBeforeEpoch));
        }
    }

    #[test]
    fn iso8601_with_milliseconds() {
        let at = |ms| iso8601_millis(UNIX_EPOCH + Duration::from_millis(ms)).unwrap();
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // OKX's documented example timestamp (`date -u -d @1607418537.715`).
        assert_eq!(at(1_607_418_537_715), "2020-12-08T09:08:57.715Z");
        assert_eq!(at(951_782_400_001), "2000-02-29T00:00:00.001Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn form_parsing_is_bytewise() {
        assert_eq!(
            parse_form(b"a=1&&b&c=x+y%2B&%FF=%zz"),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), Vec::new()),
                (b"c".to_vec(), b"x y+".to_vec()),
                (vec![0xff], b"%zz".to_vec()),
            ]
        );
        assert_eq!(pct("a b+~*".as_bytes()), "a%20b%2B~%2A");
    }

    #[test]
    fn apply_query_appends_in_order() {
        let signed = Signed {
            headers: Vec::new(),
            query: vec![("t".into(), "1".into()), ("s".into(), "a b".into())],
        };
        for (before, after) in [
            ("https://h.example/p", "https://h.example/p?t=1&s=a+b"),
            (
                "https://h.example/p?x=%20",
                "https://h.example/p?x=%20&t=1&s=a+b",
            ),
        ] {
            let mut url = url::Url::parse(before).unwrap();
            signed.apply_query(&mut url);
            assert_eq!(url.as_str(), after);
        }
    }

    #[test]
    fn unsigned_debug_hides_header_values_and_body() {
        let url = url::Url::parse("https://h.example/p").unwrap();
        let headers = [("x-note".to_owned(), "private-header-value".to_owned())];
        let req = Unsigned {
            method: "POST",
            url: &url,
            headers: &headers,
            body: b"private-body",
            now: UNIX_EPOCH,
        };
        let debug = format!("{req:?}");
        assert!(debug.contains("x-note"));
        assert!(!debug.contains("private-header-value"));
        assert!(!debug.contains("private-body"));
    }
}
