//! Request signing end to end: a loopback upstream recomputes each signature from what it
//! received, independently of Janee's signer.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::harness::{Janee, Upstream};

fn hmac_sha256(key: &str, msg: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn add_signed(
    j: &Janee,
    name: &str,
    url: &str,
    kind: &str,
    fields: &[(&str, &str)],
    extra: &[&str],
) {
    let mut args = vec!["add", name, "--url", url, "--auth-type", kind];
    let mut env = Vec::new();
    let pairs: Vec<String> = fields.iter().map(|(f, _)| format!("{f}=F_{f}")).collect();
    for p in &pairs {
        args.push("--field-from-env");
        args.push(p);
    }
    args.extend_from_slice(extra);
    let vars: Vec<(String, String)> = fields
        .iter()
        .map(|(f, v)| (format!("F_{f}"), v.to_string()))
        .collect();
    for (k, v) in &vars {
        env.push((k.as_str(), v.as_str()));
    }
    let out = j.env.run_env(&args, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_okx_and_bybit_signatures_verify_at_the_upstream() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    let (okx_secret, bybit_secret) = (
        "okx-secret-0123456789ABCDEF",
        "bybit-secret-0123456789ABCDEF",
    );
    add_signed(
        &j,
        "okx",
        &up.url(),
        "hmac-okx",
        &[
            ("apiKey", "okx-key-123456"),
            ("apiSecret", okx_secret),
            ("passphrase", "okx-pass-phrase"),
        ],
        &[],
    );
    add_signed(
        &j,
        "bybit",
        &up.url(),
        "hmac-bybit",
        &[("apiKey", "bybit-key-12345"), ("apiSecret", bybit_secret)],
        &[],
    );
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;

    let r = mcp.call("execute", json!({"capability": "okx", "method": "POST", "path": "/api/v5/trade/order?x=1", "body": "{\"instId\":\"BTC-USDT\"}"})).await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let got = up.requests().pop().unwrap();
    let ts = got.header_values("ok-access-timestamp")[0].to_string();
    let body = String::from_utf8(got.body.clone()).unwrap();
    let want = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        okx_secret,
        &format!("{ts}POST{}{body}", got.target),
    ));
    assert_eq!(got.header_values("ok-access-sign"), vec![want.as_str()]);
    assert_eq!(
        got.header_values("ok-access-passphrase"),
        vec!["okx-pass-phrase"]
    );

    let r = mcp
        .execute(
            "bybit",
            "GET",
            "/v5/account/wallet-balance?accountType=UNIFIED",
        )
        .await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let got = up.requests().pop().unwrap();
    let ts = got.header_values("x-bapi-timestamp")[0].to_string();
    let recv = got.header_values("x-bapi-recv-window")[0].to_string();
    let query = got.target.split_once('?').unwrap().1.to_string();
    let want = hex::encode(hmac_sha256(
        bybit_secret,
        &format!("{ts}bybit-key-12345{recv}{query}"),
    ));
    assert_eq!(got.header_values("x-bapi-sign"), vec![want.as_str()]);

    // The agent cannot supply the scheme's own headers.
    let r = mcp.call("execute", json!({"capability": "okx", "method": "GET", "path": "/x", "headers": {"OK-ACCESS-SIGN": "forged"}})).await;
    assert_eq!(
        r.reason_code().as_deref(),
        Some("INVALID_REQUEST"),
        "{}",
        r.text
    );
    // Secrets never come back, and never reach the audit log.
    for l in j.logs() {
        let t = l.to_string();
        assert!(
            !t.contains(okx_secret) && !t.contains(bybit_secret) && !t.contains("okx-pass-phrase"),
            "{t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_aws_sigv4_request_is_signed_as_it_is_sent() {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let up = Upstream::recorder().await;
    let j = Janee::new();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    add_signed(
        &j,
        "s3",
        &up.url(),
        "aws-sigv4",
        &[("accessKeyId", "AKIDEXAMPLE"), ("secretAccessKey", secret)],
        &["--aws-region", "us-east-1", "--aws-service", "s3"],
    );
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let r = mcp
        .execute("s3", "GET", "/my-bucket/some/key.txt?list-type=2&prefix=a")
        .await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let got = up.requests().pop().unwrap();
    let auth = got.header_values("authorization")[0].to_string();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(!auth.contains(secret));

    // Re-sign what arrived, at the time it claims, over the headers it says were signed.
    let amz_date = got.header_values("x-amz-date")[0].to_string();
    let when = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let signed_names: Vec<String> = auth
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .map(str::to_string)
        .collect();
    let headers: Vec<(String, String)> = signed_names
        .iter()
        .map(|n| {
            (
                n.clone(),
                got.header_values(n)
                    .first()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let identity = Credentials::new("AKIDEXAMPLE", secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(std::time::SystemTime::from(when))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("{}{}", up.url(), got.target);
    let req = SignableRequest::new(
        "GET",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&got.body),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let want = instructions
        .headers()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_string())
        .unwrap();
    assert_eq!(
        auth, want,
        "the signature does not match the request as received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_8_aws_template_and_exec_environment() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    let (key_id, secret) = ("AKIDEXAMPLE12345", "aws-secret-CANARY-0123456789abcdef");
    // The template supplies the scheme, region and signing name.
    add_signed(
        &j,
        "aws-s3",
        &up.url(),
        "aws-sigv4",
        &[("accessKeyId", key_id), ("secretAccessKey", secret)],
        &[],
    );
    let config = std::fs::read_to_string(j.env.config_path()).unwrap();
    assert!(
        config.contains("region: us-east-1") && config.contains("awsService: s3"),
        "{config}"
    );
    // An exec capability without `env` gets what the AWS CLI reads.
    add_signed(
        &j,
        "aws-cli",
        &up.url(),
        "aws-sigv4",
        &[("accessKeyId", key_id), ("secretAccessKey", secret)],
        &[
            "--aws-region",
            "eu-west-1",
            "--aws-service",
            "s3",
            "--exec",
            "--allow-commands",
            "printenv",
        ],
    );
    let token = j.add_agent("bot");
    let server = j.serve_http(&[]);
    let mcp = server.connect(Some(&token), "bot").await;
    let r = mcp.execute("aws-s3", "GET", "/").await;
    assert_eq!(r.status(), Some(200), "{}", r.text);
    let got = up.requests().pop().unwrap();
    let auth = got.header_values("authorization")[0].to_string();
    assert!(
        auth.contains("/us-east-1/s3/aws4_request"),
        "signed for the template's region and service: {auth}"
    );

    let r = mcp
        .call(
            "janee_exec",
            json!({"capability": "aws-cli", "command": ["printenv", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"]}),
        )
        .await;
    let v = r.json();
    assert_eq!(v["exitCode"], 0, "{}", r.text);
    assert_eq!(
        v["stdout"], "[REDACTED]\n[REDACTED]\neu-west-1\neu-west-1\n",
        "{}",
        r.text
    );
    // No session token is stored, so none is set (never an empty value).
    let r = mcp
        .call(
            "janee_exec",
            json!({"capability": "aws-cli", "command": ["printenv", "AWS_SESSION_TOKEN"]}),
        )
        .await;
    assert_eq!(r.json()["exitCode"], 1, "{}", r.text);
    for l in j.logs() {
        let t = l.to_string();
        assert!(!t.contains(secret) && !t.contains(key_id), "{t}");
    }
}
