//! HMAC-SHA256 schemes of crypto exchanges: Bybit V5, OKX v5, MEXC spot v3.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{
    Fields, SignError, Signed, Unsigned, hmac_sha256, is_form_encoded, iso8601_millis, parse_form,
    unix_millis,
};

pub(super) const BYBIT_HEADERS: &[&str] = &[
    "x-bapi-api-key",
    "x-bapi-timestamp",
    "x-bapi-recv-window",
    "x-bapi-sign",
    "x-bapi-sign-type",
];
pub(super) const OKX_HEADERS: &[&str] = &[
    "ok-access-key",
    "ok-access-sign",
    "ok-access-timestamp",
    "ok-access-passphrase",
];
pub(super) const MEXC_HEADERS: &[&str] = &["x-mexc-apikey"];

/// Bybit V5: `X-BAPI-SIGN` = hex(HMAC-SHA256(apiSecret, timestamp + apiKey + recvWindow +
/// payload)), where the payload is the raw query string (as sent, unsorted, without `?`) for
/// GET and the raw body for every other method.
pub(super) fn sign_bybit(
    req: &Unsigned<'_>,
    fields: &Fields<'_>,
    recv_window_ms: u64,
) -> Result<Signed, SignError> {
    let api_key = fields.header_value("apiKey")?;
    let secret = fields.required("apiSecret")?;
    let timestamp = unix_millis(req.now)?.to_string();
    let recv_window = recv_window_ms.to_string();
    let payload = if req.method.eq_ignore_ascii_case("GET") {
        req.url.query().unwrap_or_default().as_bytes()
    } else {
        req.body
    };
    let mac = hmac_sha256(
        secret.as_bytes(),
        &[
            timestamp.as_bytes(),
            api_key.as_bytes(),
            recv_window.as_bytes(),
            payload,
        ],
    );
    let mut signed = Signed::default();
    signed.header("x-bapi-api-key", api_key.as_str());
    signed.header("x-bapi-timestamp", timestamp);
    signed.header("x-bapi-recv-window", recv_window);
    signed.header("x-bapi-sign", hex::encode(mac));
    // 2 = HMAC-SHA256 with a hex signature (Bybit's HMAC sign type).
    signed.header("x-bapi-sign-type", "2");
    Ok(signed)
}

/// OKX v5: `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath +
/// body)), requestPath = path plus `?query` when there is one; timestamp in ISO 8601 UTC
/// with milliseconds, the same string as `OK-ACCESS-TIMESTAMP`.
pub(super) fn sign_okx(req: &Unsigned<'_>, fields: &Fields<'_>) -> Result<Signed, SignError> {
    let api_key = fields.header_value("apiKey")?;
    let secret = fields.required("apiSecret")?;
    let passphrase = fields.header_value("passphrase")?;
    let timestamp = iso8601_millis(req.now)?;
    let method = req.method.to_ascii_uppercase();
    let mut request_path = req.url.path().to_owned();
    if let Some(query) = req.url.query().filter(|q| !q.is_empty()) {
        request_path.push('?');
        request_path.push_str(query);
    }
    let mac = hmac_sha256(
        secret.as_bytes(),
        &[
            timestamp.as_bytes(),
            method.as_bytes(),
            request_path.as_bytes(),
            req.body,
        ],
    );
    let mut signed = Signed::default();
    signed.header("ok-access-key", api_key.as_str());
    signed.header("ok-access-sign", BASE64.encode(mac));
    signed.header("ok-access-timestamp", timestamp);
    // OKX sends the passphrase itself: the one secret that goes on the wire by design.
    signed.header("ok-access-passphrase", passphrase.as_str());
    Ok(signed)
}

/// MEXC spot v3: appends `timestamp` (ms) and then `signature` = hex(HMAC-SHA256(secret,
/// totalParams)) to the query, where totalParams is the query string as sent (timestamp
/// included) concatenated, with no separator, with the body when the body is
/// `application/x-www-form-urlencoded` (MEXC: "totalParams is defined as the query string
/// concatenated with the request body").
pub(super) fn sign_mexc(req: &Unsigned<'_>, fields: &Fields<'_>) -> Result<Signed, SignError> {
    let api_key = fields.header_value("apiKey")?;
    let secret = fields.required("apiSecret")?;
    let form_body: &[u8] = if is_form_encoded(req.headers) {
        req.body
    } else {
        b""
    };
    for input in [req.url.query().unwrap_or_default().as_bytes(), form_body] {
        for (name, _) in parse_form(input) {
            for reserved in ["timestamp", "signature"] {
                if name == reserved.as_bytes() {
                    return Err(SignError::ReservedParam(reserved));
                }
            }
        }
    }
    let timestamp = unix_millis(req.now)?.to_string();
    let mut signed = Signed::default();
    signed.query.push(("timestamp".to_owned(), timestamp));
    // The query exactly as it will read once `timestamp` is appended by `apply_query`.
    let mut wire = req.url.clone();
    signed.apply_query(&mut wire);
    let query = wire.query().unwrap_or_default();
    let signature = mexc_signature(secret.as_bytes(), query.as_bytes(), form_body);
    signed.query.push(("signature".to_owned(), signature));
    signed.header("x-mexc-apikey", api_key.as_str());
    Ok(signed)
}

fn mexc_signature(secret: &[u8], query: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, &[query, body]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::super::{Scheme, Signed, Unsigned};
    use super::mexc_signature;

    fn at_ms(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn sign(
        scheme: &Scheme,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        now: SystemTime,
        creds: &[(&str, &str)],
    ) -> Signed {
        crate::signing::test_support::sign_for_test(
            scheme,
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

    fn header<'s>(signed: &'s Signed, name: &str) -> &'s str {
        signed
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no header {name}"))
    }

    const BYBIT_CREDS: &[(&str, &str)] = &[
        ("apiKey", "XXXXXXXXXX"),
        ("apiSecret", "janee-bybit-test-secret"),
    ];

    /// Bybit V5 "Integration guidance", GET example: string to sign
    /// `1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C`. The guide
    /// prints no secret, so the expected value is an independent reference:
    /// `echo -n '<string>' | openssl dgst -sha256 -hmac 'janee-bybit-test-secret'`.
    #[test]
    fn bybit_guide_get_example() {
        let signed = sign(
            &Scheme::HmacBybit {
                recv_window_ms: 5000,
            },
            "GET",
            "https://api-testnet.bybit.com/v5/order/realtime?category=option&symbol=BTC-29JUL22-25000-C",
            &[],
            "",
            at_ms(1_658_384_314_791),
            BYBIT_CREDS,
        );
        assert_eq!(
            header(&signed, "x-bapi-sign"),
            "6edc35d92f332dd8d205a4f09b9a1f91f8621878a6627404296f29e50feb6961"
        );
        assert_eq!(header(&signed, "x-bapi-api-key"), "XXXXXXXXXX");
        assert_eq!(header(&signed, "x-bapi-timestamp"), "1658384314791");
        assert_eq!(header(&signed, "x-bapi-recv-window"), "5000");
        assert_eq!(header(&signed, "x-bapi-sign-type"), "2");
        assert!(signed.query.is_empty());
    }

    /// Bybit V5 "Integration guidance", POST example: string to sign
    /// `1658385579423XXXXXXXXXX5000{"category": "option"}`; reference from openssl as above.
    #[test]
    fn bybit_guide_post_example() {
        let signed = sign(
            &Scheme::HmacBybit {
                recv_window_ms: 5000,
            },
            "POST",
            "https://api-testnet.bybit.com/v5/order/create",
            &[("content-type", "application/json")],
            r#"{"category": "option"}"#,
            at_ms(1_658_385_579_423),
            BYBIT_CREDS,
        );
        assert_eq!(
            header(&signed, "x-bapi-sign"),
            "07c4b9d7211c7d07541106502a8afe84b9e1477797395accecbda62f61db7f87"
        );
    }

    /// GET signs the query (not the body); POST signs the body (not the query).
    #[test]
    fn bybit_payload_follows_the_method() {
        let scheme = Scheme::HmacBybit {
            recv_window_ms: 5000,
        };
        let run = |method: &str, url: &str, body: &str| {
            let s = sign(&scheme, method, url, &[], body, at_ms(1), BYBIT_CREDS);
            header(&s, "x-bapi-sign").to_owned()
        };
        let base = "https://api.bybit.com/v5/x";
        assert_ne!(
            run("GET", &format!("{base}?a=1"), ""),
            run("GET", &format!("{base}?a=2"), "")
        );
        assert_eq!(
            run("GET", &format!("{base}?a=1"), "x"),
            run("GET", &format!("{base}?a=1"), "y")
        );
        assert_ne!(
            run("POST", base, "{\"a\":1}"),
            run("POST", base, "{\"a\":2}")
        );
        assert_eq!(
            run("POST", &format!("{base}?a=1"), "{}"),
            run("POST", &format!("{base}?a=2"), "{}")
        );
    }

    const OKX_CREDS: &[(&str, &str)] = &[
        ("apiKey", "okx-api-key"),
        // The example SecretKey printed in OKX's v5 REST authentication section.
        ("apiSecret", "22582BD0CFF14C41EDBF1AB98506286D"),
        ("passphrase", "okx-pass phrase"),
    ];

    /// OKX v5 "REST Authentication": timestamp `2020-12-08T09:08:57.715Z`, GET
    /// `/api/v5/account/balance?ccy=BTC`, the doc's example SecretKey. OKX prints no resulting
    /// signature, so the reference is independent:
    /// `echo -n '2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC' |
    ///  openssl dgst -sha256 -hmac 22582BD0CFF14C41EDBF1AB98506286D -binary | base64`.
    #[test]
    fn okx_doc_get_example() {
        let signed = sign(
            &Scheme::HmacOkx,
            "GET",
            "https://www.okx.com/api/v5/account/balance?ccy=BTC",
            &[],
            "",
            at_ms(1_607_418_537_715),
            OKX_CREDS,
        );
        assert_eq!(
            header(&signed, "ok-access-sign"),
            "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
        );
        assert_eq!(
            header(&signed, "ok-access-timestamp"),
            "2020-12-08T09:08:57.715Z"
        );
        assert_eq!(header(&signed, "ok-access-key"), "okx-api-key");
        assert_eq!(header(&signed, "ok-access-passphrase"), "okx-pass phrase");
        assert!(signed.query.is_empty());
    }

    /// OKX v5 "REST Authentication" body example
    /// `{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}` POSTed to
    /// `/api/v5/trade/order`; reference from openssl as above.
    #[test]
    fn okx_doc_post_example() {
        let signed = sign(
            &Scheme::HmacOkx,
            "POST",
            "https://www.okx.com/api/v5/trade/order",
            &[("content-type", "application/json")],
            r#"{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}"#,
            at_ms(1_607_418_537_715),
            OKX_CREDS,
        );
        assert_eq!(
            header(&signed, "ok-access-sign"),
            "B1CIgFITj5o4lMDG+Uz5juzEGMCIDXO9bxM4MBgQ62g="
        );
    }

    const MEXC_CREDS: &[(&str, &str)] = &[
        ("apiKey", "mx0aBYs33eIilxBWC5"),
        ("apiSecret", "45d0b3c26f2644f19bfb98b07741b2f5"),
    ];

    /// MEXC spot v3 "SIGNED Endpoint Examples for POST /api/v3/order", Example 2 (all
    /// parameters in the query string): apiKey `mx0aBYs33eIilxBWC5`, secretKey
    /// `45d0b3c26f2644f19bfb98b07741b2f5`, timestamp 1644489390087, documented signature
    /// `fd3e4e85…837a`. (The doc's Example 1 prints `323c96ab…` for the identical input;
    /// `openssl dgst` gives `fd3e4e85…`, so Example 1's printed value is a doc error.)
    #[test]
    fn mexc_doc_example_2_query_string() {
        let signed = sign(
            &Scheme::HmacMexc,
            "POST",
            "https://api.mexc.com/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000",
            &[],
            "",
            at_ms(1_644_489_390_087),
            MEXC_CREDS,
        );
        assert_eq!(
            signed.query,
            vec![
                ("timestamp".to_owned(), "1644489390087".to_owned()),
                (
                    "signature".to_owned(),
                    "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a".to_owned()
                ),
            ]
        );
        assert_eq!(header(&signed, "x-mexc-apikey"), "mx0aBYs33eIilxBWC5");
        let mut url = url::Url::parse("https://api.mexc.com/api/v3/order?symbol=BTCUSDT").unwrap();
        signed.apply_query(&mut url);
        assert!(url.as_str().ends_with("&timestamp=1644489390087&signature=fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"));
    }

    /// MEXC doc Example 3 (mixed query string and form body): totalParams is the query
    /// concatenated with the body with no `&` between them; documented signature `d1a67661…`.
    #[test]
    fn mexc_doc_example_3_total_params_concatenation() {
        assert_eq!(
            mexc_signature(
                b"45d0b3c26f2644f19bfb98b07741b2f5",
                b"symbol=BTCUSDT&side=BUY&type=LIMIT",
                b"quantity=1&price=11&recvWindow=5000&timestamp=1644489390087",
            ),
            "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
        );
    }

    /// A form-encoded body is part of totalParams; the timestamp goes in the query. Reference:
    /// `echo -n 'symbol=BTCUSDT&side=BUY&type=LIMIT&timestamp=1644489390087quantity=1&price=11&recvWindow=5000'
    ///  | openssl dgst -sha256 -hmac 45d0b3c26f2644f19bfb98b07741b2f5`.
    #[test]
    fn mexc_form_body_is_signed_json_body_is_not() {
        let url = "https://api.mexc.com/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT";
        let body = "quantity=1&price=11&recvWindow=5000";
        let now = at_ms(1_644_489_390_087);
        let form = sign(
            &Scheme::HmacMexc,
            "POST",
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
            now,
            MEXC_CREDS,
        );
        assert_eq!(
            form.query[1].1,
            "77d02ca9b7389d81355dde8e3ea63832bb690eea541f0b4abd07dbc2598fcfe9"
        );
        let json = sign(
            &Scheme::HmacMexc,
            "POST",
            url,
            &[("content-type", "application/json")],
            body,
            now,
            MEXC_CREDS,
        );
        let bare = sign(&Scheme::HmacMexc, "POST", url, &[], "", now, MEXC_CREDS);
        assert_eq!(json.query, bare.query);
        assert_ne!(json.query, form.query);
    }

    #[test]
    fn mexc_refuses_caller_supplied_timestamp_or_signature() {
        for url in [
            "https://api.mexc.com/api/v3/order?timestamp=1",
            "https://api.mexc.com/api/v3/order?a=1&signature=00",
        ] {
            let url = url::Url::parse(url).unwrap();
            let req = Unsigned {
                method: "GET",
                url: &url,
                headers: &[],
                body: b"",
                now: at_ms(1),
            };
            let field = |n: &str| Some(format!("v-{n}"));
            let err = Scheme::HmacMexc
                .sign(&req, &field, &String::new)
                .unwrap_err();
            assert!(matches!(
                err,
                super::SignError::ReservedParam("timestamp" | "signature")
            ));
        }
    }
}
