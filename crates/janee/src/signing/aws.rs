//! AWS Signature Version 4 in the `Authorization` header, computed by the official
//! `aws-sigv4` crate; this file only chooses its settings and maps the request onto it.

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign as sigv4_sign,
};
use aws_sigv4::sign::v4;

use super::{Fields, SignError, Signed, Unsigned, pct};

pub(super) const HEADERS: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
];

/// Signs with SigV4. For `service == "s3"` S3's rules apply: an `x-amz-content-sha256` header
/// carrying the hex SHA-256 of the body (a signed payload, never `UNSIGNED-PAYLOAD`), the path
/// URI-encoded once, and no dot-segment normalisation. Every other service gets SigV4's
/// general rules: path encoded twice and normalised, no payload header. All agent headers are
/// signed except the ones `aws-sigv4` leaves out by default (`user-agent`,
/// `transfer-encoding`, `x-amzn-trace-id`), which proxies may rewrite.
pub(super) fn sign(
    req: &Unsigned<'_>,
    fields: &Fields<'_>,
    region: &str,
    service: &str,
) -> Result<Signed, SignError> {
    let access_key_id = fields.header_value("accessKeyId")?;
    let secret_access_key = fields.required("secretAccessKey")?;
    let session_token = fields.optional("sessionToken");
    if let Some(token) = &session_token {
        super::check_header_value("sessionToken", token)?;
    }
    let credentials = aws_credential_types::Credentials::new(
        access_key_id.as_str(),
        secret_access_key.as_str(),
        session_token.as_ref().map(|t| t.to_string()),
        None,
        "janee",
    );
    let identity = credentials.into();

    let is_s3 = service == "s3";
    let mut settings = SigningSettings::default();
    let uri = if is_s3 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        s3_signing_uri(req.url)
    } else {
        req.url[..url::Position::AfterQuery].to_owned()
    };
    let headers = req
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let method = req.method.to_ascii_uppercase();
    let signable = SignableRequest::new(&method, uri, headers, SignableBody::Bytes(req.body))
        .map_err(aws_error)?;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(req.now)
        .settings(settings)
        .build()
        .map_err(aws_error)?
        .into();
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(aws_error)?
        .into_parts();

    let mut signed = Signed::default();
    for (name, value) in instructions.headers() {
        signed.header(&name.to_ascii_lowercase(), value);
    }
    Ok(signed)
}

/// The URI S3 will reconstruct when it checks the signature: S3 percent-decodes the request
/// path and URI-encodes each segment again (RFC 3986 unreserved characters kept, `/`
/// between segments kept), so `/test$file.text` is signed as `/test%24file.text` whether the
/// wire carries `$` or `%24`, as in S3's own "PUT Object" signing example. Query unchanged.
fn s3_signing_uri(url: &url::Url) -> String {
    let path: Vec<String> = url
        .path()
        .split('/')
        .map(|segment| {
            let raw: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
            pct(&raw)
        })
        .collect();
    format!(
        "{}{}{}",
        &url[..url::Position::BeforePath],
        path.join("/"),
        &url[url::Position::AfterPath..url::Position::AfterQuery]
    )
}

/// `aws-sigv4` errors print fixed strings; keep the whole chain for the operator.
fn aws_error(err: impl std::error::Error) -> SignError {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    SignError::Aws(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::super::{Scheme, Signed, Unsigned};

    /// The AWS SigV4 test suite's credentials and time (2015-08-30T12:36:00Z).
    const SUITE_KEY: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_TIME: u64 = 1_440_938_160;
    /// The S3 API reference's signing examples: credentials and time (2013-05-24T00:00:00Z).
    const S3_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const S3_TIME: u64 = 1_369_353_600;
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[allow(clippy::too_many_arguments)]
    fn sign(
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        secs: u64,
        creds: &[(&str, &str)],
    ) -> Signed {
        let scheme = Scheme::AwsSigV4 {
            region: "us-east-1".into(),
            service: service.into(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(secs);
        crate::signing::test_support::sign_for_test(
            &scheme,
            method,
            url,
            headers,
            body,
            now,
            &crate::signing::test_support::lookup(creds),
            "",
        )
        .unwrap()
    }

    fn suite(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Signed {
        let creds = [
            ("accessKeyId", SUITE_KEY),
            ("secretAccessKey", SUITE_SECRET),
        ];
        sign("service", method, url, headers, body, SUITE_TIME, &creds)
    }

    fn s3(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Signed {
        let creds = [("accessKeyId", S3_KEY), ("secretAccessKey", S3_SECRET)];
        sign("s3", method, url, headers, body, S3_TIME, &creds)
    }

    fn header<'s>(signed: &'s Signed, name: &str) -> Option<&'s str> {
        signed
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn suite_authorization(signed_headers: &str, signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}"
        )
    }

    /// AWS SigV4 test suite, `get-vanilla`.
    #[test]
    fn suite_get_vanilla() {
        let signed = suite("GET", "https://example.amazonaws.com/", &[], "");
        assert_eq!(
            header(&signed, "authorization").unwrap(),
            suite_authorization(
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
        assert_eq!(header(&signed, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(header(&signed, "x-amz-content-sha256"), None);
        assert_eq!(header(&signed, "x-amz-security-token"), None);
        assert!(signed.query.is_empty());
    }

    /// AWS SigV4 test suite, `get-vanilla-query-order-key-case`: query parameters are sorted
    /// in the canonical request but sent as given.
    #[test]
    fn suite_get_vanilla_query_order_key_case() {
        let signed = suite(
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &[],
            "",
        );
        assert_eq!(
            header(&signed, "authorization").unwrap(),
            suite_authorization(
                "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            )
        );
    }

    /// AWS SigV4 test suite (the original 2015 suite from the AWS General Reference),
    /// `post-x-www-form-urlencoded`: request headers Content-Type and Host, body
    /// `Param1=value1`, signed headers `content-type;host;x-amz-date`.
    #[test]
    fn suite_post_x_www_form_urlencoded() {
        let signed = suite(
            "POST",
            "https://example.amazonaws.com/",
            &[("content-type", "application/x-www-form-urlencoded")],
            "Param1=value1",
        );
        assert_eq!(
            header(&signed, "authorization").unwrap(),
            suite_authorization(
                "content-type;host;x-amz-date",
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            )
        );
    }

    /// AWS SigV4 test suite, `post-vanilla-query`.
    #[test]
    fn suite_post_vanilla_query() {
        let signed = suite(
            "POST",
            "https://example.amazonaws.com/?Param1=value1",
            &[],
            "",
        );
        assert_eq!(
            header(&signed, "authorization").unwrap(),
            suite_authorization(
                "host;x-amz-date",
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
            )
        );
    }

    /// AWS SigV4 test suite, `get-vanilla-with-session-token`: the token is sent and signed.
    #[test]
    fn suite_get_vanilla_with_session_token() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let creds = [
            ("accessKeyId", SUITE_KEY),
            ("secretAccessKey", SUITE_SECRET),
            ("sessionToken", token),
        ];
        let signed = sign(
            "service",
            "GET",
            "https://example.amazonaws.com/",
            &[],
            "",
            SUITE_TIME,
            &creds,
        );
        assert_eq!(
            header(&signed, "authorization").unwrap(),
            suite_authorization(
                "host;x-amz-date;x-amz-security-token",
                "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
            )
        );
        assert_eq!(header(&signed, "x-amz-security-token"), Some(token));
    }

    /// `aws-sigv4` separates the Authorization fields with ", "; S3's examples print ",".
    /// Both are accepted; compare the fields.
    fn s3_fields(signed: &Signed) -> (String, String) {
        let auth = header(signed, "authorization").unwrap();
        let field = |key: &str| {
            auth.split(", ")
                .find_map(|part| {
                    part.split_once(&format!("{key}="))
                        .map(|(_, v)| v.to_owned())
                })
                .unwrap()
        };
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        ));
        (field("SignedHeaders"), field("Signature"))
    }

    /// S3 API reference, "Signature Calculations for the Authorization Header: Transferring
    /// Payload in a Single Chunk", Example: GET Object (first 10 bytes of test.txt).
    #[test]
    fn s3_doc_get_object() {
        let signed = s3(
            "GET",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[("range", "bytes=0-9")],
            "",
        );
        assert_eq!(
            s3_fields(&signed),
            (
                "host;range;x-amz-content-sha256;x-amz-date".to_owned(),
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41".to_owned()
            )
        );
        assert_eq!(header(&signed, "x-amz-content-sha256"), Some(EMPTY_SHA256));
        assert_eq!(header(&signed, "x-amz-date"), Some("20130524T000000Z"));
    }

    /// Same page, Example: PUT Object (`test$file.text`, body "Welcome to Amazon S3.",
    /// signed Date and x-amz-storage-class headers). The key is signed as `test%24file.text`
    /// whether the wire carries `$` or `%24`.
    #[test]
    fn s3_doc_put_object() {
        for path in ["test$file.text", "test%24file.text"] {
            let signed = s3(
                "PUT",
                &format!("https://examplebucket.s3.amazonaws.com/{path}"),
                &[
                    ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                "Welcome to Amazon S3.",
            );
            assert_eq!(
                s3_fields(&signed),
                (
                    "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class".to_owned(),
                    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd".to_owned()
                )
            );
            assert_eq!(
                header(&signed, "x-amz-content-sha256"),
                Some("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
            );
        }
    }

    /// Same page, Example: GET Bucket (List Objects), `?max-keys=2&prefix=J`.
    #[test]
    fn s3_doc_list_objects() {
        let signed = s3(
            "GET",
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            &[],
            "",
        );
        assert_eq!(
            s3_fields(&signed),
            (
                "host;x-amz-content-sha256;x-amz-date".to_owned(),
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7".to_owned()
            )
        );
    }

    /// SES (v2 REST) uses the general rules: scope names `ses`, no payload-hash header, and the
    /// JSON body is still covered through the canonical request's payload hash.
    #[test]
    fn ses_uses_general_rules_and_signs_the_body() {
        let creds = [
            ("accessKeyId", SUITE_KEY),
            ("secretAccessKey", SUITE_SECRET),
        ];
        let url = "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails";
        let headers = [("content-type", "application/json")];
        let a = sign(
            "ses",
            "POST",
            url,
            &headers,
            "{\"a\":1}",
            SUITE_TIME,
            &creds,
        );
        let b = sign(
            "ses",
            "POST",
            url,
            &headers,
            "{\"a\":2}",
            SUITE_TIME,
            &creds,
        );
        let auth = header(&a, "authorization").unwrap();
        assert!(auth.contains(
            "/20150830/us-east-1/ses/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
        ));
        assert_eq!(header(&a, "x-amz-content-sha256"), None);
        assert_ne!(auth, header(&b, "authorization").unwrap());
    }

    #[test]
    fn signing_time_comes_from_the_request() {
        let later: SystemTime = UNIX_EPOCH + Duration::from_secs(SUITE_TIME + 86_400);
        let creds = [
            ("accessKeyId", SUITE_KEY),
            ("secretAccessKey", SUITE_SECRET),
        ];
        let url = url::Url::parse("https://example.amazonaws.com/").unwrap();
        let req = Unsigned {
            method: "GET",
            url: &url,
            headers: &[],
            body: b"",
            now: later,
        };
        let field = |name: &str| {
            creds
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        let scheme = Scheme::AwsSigV4 {
            region: "us-east-1".into(),
            service: "service".into(),
        };
        let signed = scheme.sign(&req, &field, &String::new).unwrap();
        assert_eq!(header(&signed, "x-amz-date"), Some("20150831T123600Z"));
    }
}
