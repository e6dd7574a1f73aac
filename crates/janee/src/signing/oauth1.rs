//! OAuth 1.0a, HMAC-SHA1, user context (RFC 5849 section 3), as X/Twitter documents it in
//! "Creating a signature" and "Authorizing a request".

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use super::{
    Fields, SignError, Signed, UNRESERVED, Unsigned, is_form_encoded, parse_form, pct, unix_millis,
};

pub(super) const HEADERS: &[&str] = &["authorization"];

pub(super) fn sign(
    req: &Unsigned<'_>,
    fields: &Fields<'_>,
    nonce: &dyn Fn() -> String,
) -> Result<Signed, SignError> {
    let consumer_key = fields.required("consumerKey")?;
    let consumer_secret = fields.required("consumerSecret")?;
    let token = fields.required("accessToken")?;
    let token_secret = fields.required("accessTokenSecret")?;
    let form_body = is_form_encoded(req.headers).then_some(req.body);
    refuse_protocol_params(req.url, form_body)?;

    let timestamp = (unix_millis(req.now)? / 1000).to_string();
    let nonce = nonce();
    let protocol: [(&str, &str); 6] = [
        ("oauth_consumer_key", &consumer_key),
        ("oauth_nonce", &nonce),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", &timestamp),
        ("oauth_token", &token),
        ("oauth_version", "1.0"),
    ];
    let base = base_string(req.method, req.url, form_body, &protocol);
    let signature = signature(&consumer_secret, &token_secret, &base);

    // Section 3.5.1: each value percent-encoded, in double quotes, ", " between parameters;
    // the order X/Twitter's "Authorizing a request" shows (alphabetical).
    let header = format!(
        "OAuth oauth_consumer_key=\"{}\", oauth_nonce=\"{}\", oauth_signature=\"{}\", \
         oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"{}\", oauth_token=\"{}\", \
         oauth_version=\"1.0\"",
        pct(consumer_key.as_bytes()),
        pct(nonce.as_bytes()),
        pct(signature.as_bytes()),
        pct(timestamp.as_bytes()),
        pct(token.as_bytes()),
    );
    let mut signed = Signed::default();
    signed.header("authorization", header);
    Ok(signed)
}

/// Protocol parameters travel in the `Authorization` header only; an `oauth_*` parameter in
/// the query or form body would be signed as a request parameter and could shadow ours.
fn refuse_protocol_params(url: &url::Url, form_body: Option<&[u8]>) -> Result<(), SignError> {
    let query = url.query().unwrap_or_default().as_bytes();
    for input in [query, form_body.unwrap_or_default()] {
        if parse_form(input)
            .iter()
            .any(|(name, _)| name.starts_with(b"oauth_"))
        {
            return Err(SignError::ReservedParam("oauth_*"));
        }
    }
    Ok(())
}

/// Section 3.4.1: `METHOD&pct(base string URI)&pct(normalized parameters)`.
fn base_string(
    method: &str,
    url: &url::Url,
    form_body: Option<&[u8]>,
    protocol: &[(&str, &str)],
) -> String {
    format!(
        "{}&{}&{}",
        pct(method.to_ascii_uppercase().as_bytes()),
        pct(base_string_uri(url).as_bytes()),
        pct(normalized_parameters(url, form_body, protocol).as_bytes())
    )
}

/// Section 3.4.1.2: scheme and host lower-case, the port only when it is not the scheme's
/// default, the path as sent; no query, no fragment. (`url::Url` already lower-cases scheme
/// and host and drops a default port.)
fn base_string_uri(url: &url::Url) -> String {
    let mut uri = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        uri.push_str(&format!(":{port}"));
    }
    uri.push_str(url.path());
    uri
}

/// Sections 3.4.1.3.1–2: every query parameter, the form-body parameters (only for an
/// `application/x-www-form-urlencoded` body) and the protocol parameters, minus
/// `oauth_signature`; names and values decoded, then percent-encoded (unreserved set only),
/// sorted by encoded name then encoded value (byte order), `name=value` joined with `&`.
fn normalized_parameters(
    url: &url::Url,
    form_body: Option<&[u8]>,
    protocol: &[(&str, &str)],
) -> String {
    let mut params: Vec<(String, String)> = parse_form(url.query().unwrap_or_default().as_bytes())
        .into_iter()
        .chain(parse_form(form_body.unwrap_or_default()))
        .filter(|(name, _)| name.as_slice() != b"oauth_signature")
        .map(|(name, value)| (pct(&name), pct(&value)))
        .chain(
            protocol
                .iter()
                .map(|(name, value)| (pct(name.as_bytes()), pct(value.as_bytes()))),
        )
        .collect();
    params.sort();
    params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Section 3.4.2: base64(HMAC-SHA1(pct(consumer secret) & pct(token secret), base string)).
fn signature(consumer_secret: &str, token_secret: &str, base: &str) -> String {
    use std::fmt::Write as _;
    // Sized for the worst case (every byte escaped) so the buffer never reallocates and
    // leaves an unwiped copy behind; the encoders write straight into it.
    let mut key = Zeroizing::new(String::with_capacity(
        3 * (consumer_secret.len() + token_secret.len()) + 1,
    ));
    let _ = write!(
        key,
        "{}&{}",
        percent_encoding::percent_encode(consumer_secret.as_bytes(), UNRESERVED),
        percent_encoding::percent_encode(token_secret.as_bytes(), UNRESERVED)
    );
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(base.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, UNIX_EPOCH};

    use super::super::{Scheme, SignError, Signed};
    use super::{base_string, base_string_uri, signature};

    const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

    struct Creds<'c> {
        consumer_key: &'c str,
        consumer_secret: &'c str,
        token: &'c str,
        token_secret: &'c str,
    }

    const TWITTER: Creds<'static> = Creds {
        consumer_key: "xvz1evFS4wEEPTGEFPHBog",
        consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        token_secret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    };
    const TWITTER_NONCE: &str = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg";
    const TWITTER_TIME: u64 = 1_318_622_958;
    const TWITTER_URL: &str =
        "https://api.twitter.com/1.1/statuses/update.json?include_entities=true";
    const TWITTER_BODY: &str =
        "status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21";

    fn try_sign(
        creds: &Creds<'_>,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        secs: u64,
        nonce: &str,
    ) -> Result<Signed, SignError> {
        let field = |name: &str| {
            Some(
                match name {
                    "consumerKey" => creds.consumer_key,
                    "consumerSecret" => creds.consumer_secret,
                    "accessToken" => creds.token,
                    "accessTokenSecret" => creds.token_secret,
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let now = UNIX_EPOCH + Duration::from_secs(secs);
        crate::signing::test_support::sign_for_test(
            &Scheme::OAuth1aTwitter,
            method,
            url,
            headers,
            body,
            now,
            &field,
            nonce,
        )
    }

    fn authorization(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> String {
        let signed = try_sign(
            &TWITTER,
            method,
            url,
            headers,
            body,
            TWITTER_TIME,
            TWITTER_NONCE,
        )
        .unwrap();
        assert_eq!(signed.headers.len(), 1);
        assert_eq!(signed.headers[0].0, "authorization");
        assert!(signed.query.is_empty());
        signed.headers[0].1.to_string()
    }

    fn oauth_signature(header: &str) -> &str {
        header
            .split("oauth_signature=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
    }

    /// X/Twitter developer docs, "Creating a signature": the status-update example with its
    /// exact inputs; documented signature `hCtSmYh+iHYCEqBWrE7C7hYmtUk=`. The header layout is
    /// the one "Authorizing a request" shows.
    #[test]
    fn twitter_creating_a_signature() {
        let header = authorization("POST", TWITTER_URL, &[FORM], TWITTER_BODY);
        assert_eq!(
            header,
            "OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", \
             oauth_nonce=\"kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg\", \
             oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1318622958\", \
             oauth_token=\"370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb\", \
             oauth_version=\"1.0\""
        );
    }

    /// The same page's signature base string, built from the same inputs.
    #[test]
    fn twitter_signature_base_string() {
        let url = url::Url::parse(TWITTER_URL).unwrap();
        let protocol = [
            ("oauth_consumer_key", TWITTER.consumer_key),
            ("oauth_nonce", TWITTER_NONCE),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1318622958"),
            ("oauth_token", TWITTER.token),
            ("oauth_version", "1.0"),
        ];
        assert_eq!(
            base_string("POST", &url, Some(TWITTER_BODY.as_bytes()), &protocol),
            "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
        );
    }

    /// RFC 5849 section 3.4.1.1: the example request's signature base string (repeated
    /// parameter names, an empty value, `+` in a form body, a double-encoded value, `@` in a
    /// name, the realm left out). The RFC prints signature `bYT5CMsGcbgUdFHObYMEfcx6bsw=`,
    /// which Errata ID 2550 corrects to `r6/TJjbCOr97/+UU0NsvSne7s5g=` for the section 3.1
    /// secrets (`j49sk3j29djd`, `dh893hdasih9`); re-checked with
    /// `echo -n '<base>' | openssl dgst -sha1 -hmac 'j49sk3j29djd&dh893hdasih9' -binary | base64`.
    #[test]
    fn rfc5849_3_4_1_base_string() {
        let url =
            url::Url::parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b").unwrap();
        let protocol = [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
        ];
        let base = base_string("POST", &url, Some(b"c2&a3=2+q"), &protocol);
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
        assert_eq!(
            signature("j49sk3j29djd", "dh893hdasih9", &base),
            "r6/TJjbCOr97/+UU0NsvSne7s5g="
        );
    }

    /// RFC 5849 section 1.2: the photos example (no oauth_version), documented signature
    /// `MdpQcU8iPSUjWoN/UDMsK2sui9I=`.
    #[test]
    fn rfc5849_1_2_example_signature() {
        let url =
            url::Url::parse("http://photos.example.net/photos?file=vacation.jpg&size=original")
                .unwrap();
        let protocol = [
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ];
        let base = base_string("GET", &url, None, &protocol);
        assert_eq!(
            signature("kd94hf93k423kf44", "pfkkdhi9sl3r4s00", &base),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    /// OAuth Core 1.0 Appendix A.5 (same photos request, with oauth_version=1.0), through the
    /// public API: documented signature `tR3+Ty81lMeYAr/Fid0kMTYa/WM=`.
    #[test]
    fn oauth_core_1_0_appendix_a_through_sign() {
        let creds = Creds {
            consumer_key: "dpf43f3p2l4k3l03",
            consumer_secret: "kd94hf93k423kf44",
            token: "nnch734d00sl2jdk",
            token_secret: "pfkkdhi9sl3r4s00",
        };
        let signed = try_sign(
            &creds,
            "GET",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
            &[],
            "",
            1_191_242_096,
            "kllo9940pd9333jh",
        )
        .unwrap();
        assert_eq!(
            oauth_signature(&signed.headers[0].1),
            "tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D"
        );
    }

    /// RFC 5849 section 3.4.1.2's base string URI examples, plus a non-default port kept.
    #[test]
    fn rfc5849_3_4_1_2_base_string_uri() {
        let uri = |s: &str| base_string_uri(&url::Url::parse(s).unwrap());
        assert_eq!(
            uri("http://EXAMPLE.COM:80/r%20v/X?id=123"),
            "http://example.com/r%20v/X"
        );
        assert_eq!(
            uri("https://www.example.net:8080/?q=1"),
            "https://www.example.net:8080/"
        );
        assert_eq!(
            uri("https://api.x.com:443/2/tweets"),
            "https://api.x.com/2/tweets"
        );
    }

    /// Janee 0.16 signed OAuth requests without their query parameters, so every request with
    /// a query failed upstream. The query must be in the signature.
    #[test]
    fn janee_0_16_query_parameters_are_signed() {
        let base = "https://api.x.com/1.1/statuses/home_timeline.json";
        let plain = authorization("GET", base, &[], "");
        let one = authorization("GET", &format!("{base}?count=1"), &[], "");
        let two = authorization("GET", &format!("{base}?count=2"), &[], "");
        assert_ne!(oauth_signature(&plain), oauth_signature(&one));
        assert_ne!(oauth_signature(&one), oauth_signature(&two));
        // The same parameters in another order normalise to the same signature.
        let ab = authorization("GET", &format!("{base}?a=1&b=2"), &[], "");
        let ba = authorization("GET", &format!("{base}?b=2&a=1"), &[], "");
        assert_eq!(oauth_signature(&ab), oauth_signature(&ba));
    }

    /// Body parameters count only when the body is form-encoded (RFC 5849 3.4.1.3.1).
    #[test]
    fn form_body_parameters_only_for_form_content_type() {
        let url = "https://api.x.com/1.1/statuses/update.json";
        let sig = |headers: &[(&str, &str)], body: &str| {
            oauth_signature(&authorization("POST", url, headers, body)).to_owned()
        };
        let empty = sig(&[], "");
        assert_ne!(sig(&[FORM], "status=a"), sig(&[FORM], "status=b"));
        assert_ne!(sig(&[FORM], "status=a"), empty);
        let charset = (
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        );
        assert_eq!(sig(&[charset], "status=a"), sig(&[FORM], "status=a"));
        let json = ("content-type", "application/json");
        assert_eq!(sig(&[json], "status=a"), empty);
        assert_eq!(sig(&[json], "{\"text\":\"hi\"}"), empty);
        assert_eq!(sig(&[], "status=a"), empty);
    }

    #[test]
    fn oauth_parameters_from_the_caller_are_refused() {
        for (url, headers, body) in [
            ("https://api.x.com/x?oauth_token=evil", &[][..], ""),
            (
                "https://api.x.com/x",
                &[FORM][..],
                "oauth_signature_method=PLAINTEXT",
            ),
        ] {
            let err = try_sign(&TWITTER, "POST", url, headers, body, 1, "n").unwrap_err();
            assert!(matches!(err, SignError::ReservedParam("oauth_*")));
        }
        // Not form-encoded: the body is opaque and not a parameter source.
        try_sign(
            &TWITTER,
            "POST",
            "https://api.x.com/x",
            &[],
            "oauth_x=1",
            1,
            "n",
        )
        .unwrap();
    }

    /// The nonce and timestamp vary per request, so the same request signs differently.
    #[test]
    fn nonce_and_timestamp_are_signed() {
        let sig = |secs, nonce| {
            let s = try_sign(
                &TWITTER,
                "GET",
                "https://api.x.com/2/me",
                &[],
                "",
                secs,
                nonce,
            )
            .unwrap();
            oauth_signature(&s.headers[0].1).to_owned()
        };
        assert_ne!(sig(1, "a"), sig(1, "b"));
        assert_ne!(sig(1, "a"), sig(2, "a"));
        assert_eq!(sig(1, "a"), sig(1, "a"));
    }
}
