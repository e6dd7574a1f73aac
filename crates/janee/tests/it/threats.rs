//! THREATS.md classes against the real server: each test plays the hostile agent against a
//! `janee serve` child process and checks, from what the loopback upstreams actually received and
//! from the audit log, that nothing leaked and nothing unintended ran.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::{
    ChunkedReflector, Janee, Mcp, Recorded, ToolResult, Trickle, Upstream, find_leak,
};
use super::util::all_files;

/// A bearer key made of unreserved characters only.
const KEY: &str = "sk_test_51HqLyjWDarjtT1zdp7dc0123456789";
/// A key whose percent-encoding and JSON escaping differ from the raw value.
const SPECIAL_KEY: &str = "sk_live+Ab/9=Zq\"x\\y-0123456789abc";
/// An all-lower-case key (hex-style tokens): survives header-name lower-casing intact.
const LOWER_KEY: &str = "sk_lower_0123456789abcdefghij";
/// The password of a basic-auth service.
const BASIC_PASSWORD: &str = "pw/Very-Secret+Pass=2024xyz";
/// The credential of a query-auth service.
const QUERY_KEY: &str = "qk_live+7Hq/ZZ=0123456789";
/// The credential of a header-auth service.
const HEADER_KEY: &str = "hk_9f8e7d6c5b4a3210fedcba";
const ALL_KEYS: [&str; 6] = [
    KEY,
    SPECIAL_KEY,
    LOWER_KEY,
    HEADER_KEY,
    BASIC_PASSWORD,
    QUERY_KEY,
];

/// Every form of `key` the agent could read: the tool text, the raw JSON-RPC result, the
/// decoded body and every decoded response header value.
fn assert_no_leak(r: &ToolResult, key: &str, what: &str) {
    let raw = serde_json::to_string(&r.raw).unwrap();
    let v = r.json();
    let mut places = vec![
        ("tool text".to_string(), r.text.clone()),
        ("JSON-RPC result".to_string(), raw),
        (
            "body".to_string(),
            v["body"].as_str().unwrap_or_default().to_string(),
        ),
    ];
    if let Some(h) = v["headers"].as_object() {
        for (k, val) in h {
            places.push((
                format!("header {k}"),
                val.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    for (place, text) in places {
        if let Some(form) = find_leak(&text, key) {
            panic!("{what}: the credential leaked ({form} form) in the {place}: {text}");
        }
    }
}

/// The calls recorded in the audit log for `capability` (allowed or denied).
fn audit_calls(logs: &[Value], capability: &str) -> Vec<Value> {
    logs.iter()
        .filter(|l| l["capability"] == json!(capability))
        .filter(|l| l["event"] == json!("call") || l["event"] == json!("denied"))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Classes 1 and 2: secret echo, plain and encoded
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class1_2_reflected_credential_never_reaches_the_agent_in_any_encoding() {
    let refl = Upstream::reflector().await;
    let chunked = ChunkedReflector::start().await;
    let j = Janee::new();
    j.add_bearer("plain", &refl.url(), KEY);
    j.add_bearer("special", &refl.url(), SPECIAL_KEY);
    j.add_bearer("chunky", &chunked.url(), KEY);
    j.add_bearer("lower", &refl.url(), LOWER_KEY);
    j.add_header_auth("hdr", &refl.url(), "X-Api-Key", HEADER_KEY);
    j.add_basic("basic", &refl.url(), "alice", BASIC_PASSWORD);
    // The recorder's answer quotes the request target, which carries the query credential.
    let rec = Upstream::recorder().await;
    j.add_query_auth("query", &rec.url(), "api_key", QUERY_KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "echo-client").await;

    for (cap, key) in [("plain", KEY), ("special", SPECIAL_KEY)] {
        for (path, status) in [("/v1/echo", 200), ("/v1/echo?x=1", 200), ("/v1/error", 401)] {
            let what = format!("{cap} GET {path}");
            let r = mcp.execute(cap, "GET", path).await;
            assert!(!r.is_error, "{what}: {}", r.text);
            assert_eq!(r.status(), Some(status), "{what}: {}", r.text);
            assert_no_leak(&r, key, &what);
            assert!(
                r.text.contains("[REDACTED]"),
                "{what}: nothing was redacted: {}",
                r.text
            );
            assert!(
                !r.json()["headers"]
                    .as_object()
                    .is_some_and(|h| h.contains_key("set-cookie")),
                "{what}: Set-Cookie passed to the agent"
            );
        }
    }
    for (cap, key) in [
        ("lower", LOWER_KEY),
        ("hdr", HEADER_KEY),
        ("basic", BASIC_PASSWORD),
        ("query", QUERY_KEY),
    ] {
        let r = mcp.execute(cap, "GET", "/v1/echo").await;
        assert!(!r.is_error, "{cap}: {}", r.text);
        assert_no_leak(&r, key, cap);
        assert!(r.text.contains("[REDACTED]"), "{cap}: {}", r.text);
    }
    // The upstream really did receive (and so could reflect) each key: the test is not vacuous.
    let seen: Vec<Vec<String>> = refl
        .requests()
        .iter()
        .map(|r| {
            r.header_values("authorization")
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
        .collect();
    assert_eq!(seen.len(), 9);
    for (i, auths) in seen.iter().take(6).enumerate() {
        let key = if i < 3 { KEY } else { SPECIAL_KEY };
        assert_eq!(auths, &vec![format!("Bearer {key}")], "request {i}");
    }

    assert_eq!(
        refl.requests()[8].header_values("authorization"),
        vec![format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("alice:{BASIC_PASSWORD}")
            )
        )]
    );
    assert_eq!(rec.count(), 1);
    assert!(
        rec.requests()[0].target.contains("api_key="),
        "{:?}",
        rec.requests()[0].target
    );

    // The key and its base64/hex split across many small chunks of a chunked response.
    let r = mcp.execute("chunky", "GET", "/stream").await;
    assert!(!r.is_error, "chunked: {}", r.text);
    assert_eq!(chunked.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(r.body().starts_with("token="), "chunked body: {}", r.text);
    assert_no_leak(&r, KEY, "chunked reflector");
    assert!(r.body().contains("[REDACTED]"), "chunked: {}", r.text);

    // The audit log counts the scrubbing, and holds no form of either key.
    let logs = j.logs();
    for cap in [
        "plain", "special", "chunky", "lower", "hdr", "basic", "query",
    ] {
        let calls = audit_calls(&logs, cap);
        assert!(!calls.is_empty(), "no audit record for {cap}");
        for c in calls {
            let hits = c["scrubHits"].as_u64().unwrap_or(0);
            assert!(hits > 0, "{cap}: audit record without scrub hits: {c}");
        }
    }
    for (path, bytes) in all_files(&j.logs_dir()) {
        let text = String::from_utf8_lossy(&bytes);
        for key in ALL_KEYS {
            assert_eq!(
                find_leak(&text, key),
                None,
                "{} holds the key",
                path.display()
            );
        }
    }
    for key in ALL_KEYS {
        assert_eq!(
            find_leak(&srv.stderr(), key),
            None,
            "server stderr holds the key"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class1_response_header_names_never_carry_the_credential() {
    // Under `/names` the reflector also sends a header named `x-echo-name-<key>`. Names travel lower-cased, so a
    // lower-case key arrives intact and a mixed-case one loses only its case.
    let refl = Upstream::reflector().await;
    let j = Janee::new();
    j.add_bearer("lower", &refl.url(), LOWER_KEY);
    j.add_bearer("mixed", &refl.url(), KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "names").await;
    let mut leaks = Vec::new();
    for (cap, key) in [("lower", LOWER_KEY), ("mixed", KEY)] {
        let r = mcp.execute(cap, "GET", "/v1/names").await;
        assert!(!r.is_error, "{cap}: {}", r.text);
        let v = r.json();
        let names: Vec<String> = v["headers"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        assert!(
            names.iter().any(|n| n.starts_with("x-echo")),
            "{cap}: {names:?}"
        );
        let lower = key.to_ascii_lowercase();
        leaks.extend(names.into_iter().filter(|n| n.contains(&lower)));
    }
    assert!(
        leaks.is_empty(),
        "the credential reached the agent in response header names: {leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class2_response_size_cap_never_cuts_a_secret_in_half() {
    let refl = Upstream::reflector().await;
    let j = Janee::new();
    j.add_bearer("svc", &refl.url(), KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "truncation").await;
    // The default response cap is 1 MiB: place the key so the cap falls inside it.
    let cap = 1usize << 20;
    let mut leaks = Vec::new();
    for inside in [1, 8, 12, 20, KEY.len() - 1] {
        let r = mcp
            .execute("svc", "GET", &format!("/pad?n={}", cap - inside))
            .await;
        assert!(
            !r.is_error,
            "{}",
            r.text.chars().take(300).collect::<String>()
        );
        assert_eq!(
            r.json()["truncated"],
            json!(true),
            "cut {inside} bytes into the key"
        );
        let body = r.body();
        if let Some(k) = (8..=KEY.len()).rev().find(|&k| body.contains(&KEY[..k])) {
            let tail: String = body
                .chars()
                .skip(body.chars().count().saturating_sub(60))
                .collect();
            leaks.push(format!(
                "cap {inside} bytes into the key: first {k} characters: ...{tail}"
            ));
        }
    }
    assert!(
        leaks.is_empty(),
        "truncation leaked a prefix of the key:\n{}",
        leaks.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Class 3: path games
// ---------------------------------------------------------------------------------------------

/// What a request that passed policy may look like on the wire.
fn assert_within_v1(rec: &Recorded, payload: &str) {
    let path = rec.path();
    let lower = path.to_ascii_lowercase();
    assert!(
        path.starts_with("/base/v1/"),
        "{payload:?} reached {:?}, outside /base/v1/",
        rec.target
    );
    for bad in [
        "admin", "..", "%2e", "%2f", "%5c", "\\", "//", ";", "%00", "%3b", "%25",
    ] {
        assert!(
            !lower.contains(bad),
            "{payload:?} reached {:?} (contains {bad:?})",
            rec.target
        );
    }
    assert_eq!(rec.method, "GET", "{payload:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class3_path_games_never_leave_the_allowed_prefix() {
    let up = Upstream::recorder().await;
    let other = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &format!("{}/base", up.url()), KEY);
    j.add_cap(
        "v1",
        "svc",
        &["--allow", "GET /v1/*", "--deny", "* /v1/admin*"],
    );
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "paths").await;
    let elsewhere = format!("127.0.0.1:{}", other.addr.port());

    // Controls: these must get through (and land under /base/v1/).
    let controls = [
        "/v1/users",
        "/v1/users?limit=5",
        "/v1/a/b/../c",
        "/v1/./users",
        "/v1/users?x=/../../admin",
        "/v1/users?%2e%2e/admin",
        "/v1/adm/in",
    ];
    let attacks: Vec<String> = [
        "/v1/admin",
        "/v1/admin/",
        "/v1/admin?x=1",
        "/v1/ADMIN/../admin",
        "/v1/../v1/admin",
        "/v1/users/../admin",
        "/v1/users/../../v1/admin",
        "/v1/./admin",
        "/v1/%2e%2e/v1/admin",
        "/v1/users/%2e%2e/admin",
        "/v1/users/%2E%2e/admin",
        "/v1/users/.%2e/admin",
        "/v1/users/%2e./admin",
        "/v1/users/%252e%252e/admin",
        "/v1/users/%25%32%65%25%32%65/admin",
        "/v1/users%2f..%2fadmin",
        "/v1/users%2F..%2Fadmin",
        "/v1/users/..%2fadmin",
        "/v1/%2e%2e%2fadmin",
        "/v1/users/%252f..%252fadmin",
        "/v1/users/..%5cadmin",
        "/v1/users/%5c..%5cadmin",
        "/v1/users/..\\admin",
        "/v1\\admin",
        "/v1/users/\\..\\admin",
        "//v1/admin",
        "/v1//admin",
        "/v1/users//../admin",
        "/v1/admin;x=1",
        "/v1/users/..;/admin",
        "/v1/users;/../admin",
        "/v1/users/%3b/../admin",
        "/v1/admin%3bx",
        "/v1/users#/../../admin",
        "/v1/users%3f/../admin",
        "/v1/users%23/../admin",
        "/v1/%c0%ae%c0%ae/admin",
        "/v1/users/%c0%ae%c0%ae/%c0%afadmin",
        "/v1/%e0%80%ae%e0%80%ae/admin",
        "/v1/users/%c0%2e%c0%2e/admin",
        "/v1/users/%u002e%u002e/admin",
        "/v1/adm%69n",
        "/v1/%61dmin",
        "/v1/%61%64%6d%69%6e",
        "/V1/users",
        "/v1/users/.../admin",
        "/v1/users/.. /admin",
        "/v1/users/%00/../admin",
        "/v1/users\u{0}/admin",
        "/v1/users\r\n/admin",
        "/v1/users/..%00/admin",
        "/../base/v1/admin",
        "/v1/../../v1/users",
        "/v1/../../../etc/passwd",
        "/..",
        "v1/users",
        "/v1/\u{fc}ber",
        "//evil.example.com/v1/users",
        "http://evil.example.com/v1/users",
        "HTTP://evil.example.com/v1/users",
        "http:/v1/users",
        "http:v1/users",
        "https://127.0.0.1/base/v1/users",
        "/v1/users/%2e%2e/%2e%2e/admin",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("//{elsewhere}/v1/users"),
        format!("http://{elsewhere}/v1/users"),
        format!("//user@{elsewhere}/v1/users"),
    ])
    .collect();
    assert!(attacks.len() >= 30);

    let mut reached = Vec::new();
    for (i, p) in controls
        .iter()
        .map(|s| s.to_string())
        .chain(attacks.iter().cloned())
        .enumerate()
    {
        let before = up.count();
        let r = mcp
            .try_call(
                "execute",
                json!({"capability": "v1", "method": "GET", "path": p}),
            )
            .await;
        let after = up.count();
        match r {
            Err(e) => assert_eq!(
                after, before,
                "{p:?}: protocol error {e}, yet a request went out"
            ),
            Ok(r) if r.is_error => {
                assert_eq!(after, before, "{p:?} was refused, yet a request went out");
                assert!(
                    r.reason_code().is_some(),
                    "{p:?}: refusal without a denial: {}",
                    r.text
                );
                assert!(i >= controls.len(), "control {p:?} was refused: {}", r.text);
            }
            Ok(r) => {
                assert_eq!(
                    after,
                    before + 1,
                    "{p:?}: allowed but not exactly one request"
                );
                assert_eq!(r.status(), Some(200), "{p:?}: {}", r.text);
                let rec = up.requests()[before].clone();
                assert_within_v1(&rec, &p);
                reached.push(p);
            }
        }
    }
    assert!(
        reached.len() >= controls.len(),
        "controls did not all get through: {reached:?}"
    );
    assert_eq!(other.count(), 0, "a path reached another origin");
    for rec in up.requests() {
        assert_within_v1(&rec, "(any)");
    }

    // The audit log records exactly what went on the wire (minus the base path).
    let logs = j.logs();
    let audited: Vec<String> = audit_calls(&logs, "v1")
        .iter()
        .filter(|l| l.get("status").is_some())
        .map(|l| format!("/base{}", l["path"].as_str().unwrap_or("?")))
        .collect();
    let wire: Vec<String> = up.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        audited, wire,
        "audit paths differ from what the upstream received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class3_dot_segments_cannot_climb_out_of_the_service_base_path() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    // `janee add` creates capability "api" with no rules: everything under the base is allowed.
    j.add_bearer("api", &format!("{}/api/v2", up.url()), KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "climb").await;
    let payloads = [
        "/../v1/users",
        "/%2e%2e/v1/users",
        "/%2E%2E/v1/users",
        "/.%2e/v1/users",
        "/./../v1/users",
        "/users/../../v1/users",
        "/users/../../../api/v1/users",
        "/..",
        "/../",
        "/..;/v1/users",
        "/..\\v1/users",
        "/users/..%2f..%2fv1",
        "/%252e%252e/v1/users",
        "/users/..%00/../../v1",
    ];
    let mut ok = 0;
    for p in payloads {
        let before = up.count();
        let r = mcp.execute("api", "GET", p).await;
        if r.is_error {
            assert_eq!(up.count(), before, "{p:?} refused, yet a request went out");
        } else {
            ok += 1;
        }
    }
    let r = mcp.execute("api", "GET", "/users/../v2ok").await;
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(up.requests().last().unwrap().target, "/api/v2/v2ok");
    for rec in up.requests() {
        assert!(
            rec.target.starts_with("/api/v2/") && !rec.target.contains(".."),
            "request escaped the base path: {:?}",
            rec.target
        );
    }
    assert_eq!(up.count(), ok + 1);
}

// ---------------------------------------------------------------------------------------------
// Class 4: SSRF, redirects, userinfo
// ---------------------------------------------------------------------------------------------

fn pct(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class4_credential_never_follows_a_redirect_or_leaves_the_origin() {
    let a = Upstream::redirector().await;
    let b = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &a.url(), KEY);
    j.add_cap("guarded", "svc", &["--deny", "* /admin*"]);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "ssrf").await;
    let port_b = b.addr.port();

    // Redirects to another port (by IP and by name), and back to a denied path on the origin.
    let targets = [
        format!("http://127.0.0.1:{port_b}/landing"),
        format!("http://localhost:{port_b}/landing"),
        format!("http://user:pw@127.0.0.1:{port_b}/landing"),
        format!("//127.0.0.1:{port_b}/landing"),
        "/admin".to_string(),
        format!("{}/admin", a.url()),
    ];
    for code in [301, 302, 303, 307, 308] {
        for to in &targets {
            let path = format!("/redirect/{code}?to={}", pct(to));
            let before = a.count();
            let r = mcp.execute("guarded", "GET", &path).await;
            assert!(
                a.count() > before,
                "{code} -> {to}: the redirecting request did not reach the origin: {}",
                r.text
            );
            assert_no_leak(&r, KEY, &format!("redirect {code} -> {to}"));
        }
    }
    for rec in b.requests() {
        assert!(
            rec.header_values("authorization").is_empty()
                && !rec.headers.iter().any(|(_, v)| v.contains(KEY)),
            "a redirect carried the credential to another port: {rec:?}"
        );
    }
    for rec in a.requests() {
        assert!(
            !rec.path().starts_with("/admin"),
            "a same-origin redirect dodged the deny rule: {}",
            rec.target
        );
    }

    // Absolute URLs and network paths in `path` are refused before anything is sent.
    let before = a.count();
    for p in [
        format!("http://127.0.0.1:{port_b}/landing"),
        format!("https://127.0.0.1:{port_b}/landing"),
        format!("//127.0.0.1:{port_b}/landing"),
        format!("//user:pw@127.0.0.1:{port_b}/landing"),
        format!("http:127.0.0.1:{port_b}/landing"),
        format!("@127.0.0.1:{port_b}/landing"),
        format!("127.0.0.1:{port_b}/landing"),
        format!("\\\\127.0.0.1:{port_b}/landing"),
        format!("/\\127.0.0.1:{port_b}/landing"),
    ] {
        let r = mcp.execute("svc", "GET", &p).await;
        assert!(r.is_error, "{p:?} was not refused: {}", r.text);
        assert_eq!(
            r.reason_code().as_deref(),
            Some("INVALID_REQUEST"),
            "{p:?}: {}",
            r.text
        );
    }
    assert_eq!(a.count(), before, "a refused path still produced a request");

    // Userinfo-looking paths stay on the origin.
    for p in [
        format!("/@127.0.0.1:{port_b}/landing"),
        format!("/user:pw@127.0.0.1:{port_b}/landing"),
        format!("/%40127.0.0.1:{port_b}/landing"),
        format!("/.@127.0.0.1:{port_b}/landing"),
        format!("/x?@127.0.0.1:{port_b}/landing"),
    ] {
        let before = a.count();
        let r = mcp.execute("svc", "GET", &p).await;
        if !r.is_error {
            assert_eq!(a.count(), before + 1, "{p:?} did not reach the origin");
        }
    }
    assert_eq!(
        b.count(),
        0,
        "a request reached the other port: {:?}",
        b.requests()
    );
    for rec in a.requests() {
        assert_eq!(
            rec.header_values("authorization"),
            vec![format!("Bearer {KEY}")],
            "{}",
            rec.target
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Class 5: header smuggling
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class5_agent_headers_cannot_smuggle_credentials_routing_or_methods() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &up.url(), KEY);
    j.add_header_auth("hdr", &up.url(), "X-Api-Key", HEADER_KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "headers").await;
    let host = format!("127.0.0.1:{}", up.addr.port());

    // A harmless header passes: the recorder sees agent headers at all.
    let r = mcp
        .call(
            "execute",
            json!({"capability": "svc", "method": "GET", "path": "/ok", "headers": {"X-Trace": "harmless-123"}}),
        )
        .await;
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(
        up.requests()[0].header_values("x-trace"),
        vec!["harmless-123"]
    );

    let attacks: Vec<(&str, &str, &str)> = vec![
        ("svc", "Authorization", "Bearer SMUGGLED-agent-token"),
        ("svc", "authorization", "Basic U01VR0dMRUQ6eA=="),
        ("svc", "AUTHORIZATION", "Bearer SMUGGLED"),
        ("svc", "Proxy-Authorization", "Basic SMUGGLED"),
        ("svc", "Host", "SMUGGLED.example.com"),
        ("svc", "host", "evil.example.com"),
        ("svc", "Cookie", "session=SMUGGLED"),
        ("svc", "Cookie2", "session=SMUGGLED"),
        ("svc", "X-Forwarded-For", "6.6.6.6, SMUGGLED"),
        ("svc", "X-Forwarded-Host", "SMUGGLED.example.com"),
        ("svc", "X-Forwarded-Proto", "SMUGGLED"),
        ("svc", "Forwarded", "for=SMUGGLED;host=evil.example.com"),
        ("svc", "X-Real-IP", "6.6.6.6"),
        ("svc", "X-HTTP-Method-Override", "DELETE"),
        ("svc", "X-HTTP-Method", "DELETE"),
        ("svc", "X-Method-Override", "DELETE"),
        ("svc", "X-Original-URL", "/admin/SMUGGLED"),
        ("svc", "X-Rewrite-URL", "/admin/SMUGGLED"),
        ("svc", "Transfer-Encoding", "chunked"),
        ("svc", "Content-Length", "5"),
        ("svc", "Connection", "close, Authorization"),
        ("svc", "Keep-Alive", "timeout=1"),
        ("svc", "TE", "trailers"),
        ("svc", "Upgrade", "h2c"),
        ("svc", "Trailer", "X-SMUGGLED"),
        ("svc", "Expect", "100-continue"),
        ("svc", "Via", "1.1 SMUGGLED"),
        ("svc", "X-Trace", "ok\r\nInjected: SMUGGLED"),
        ("svc", "X-Trace", "ok\nInjected: SMUGGLED"),
        ("svc", "X-Trace", "ok\rInjected: SMUGGLED"),
        ("svc", "X-Trace", "ok\u{0}SMUGGLED"),
        ("svc", "X-Trace\r\nInjected", "SMUGGLED"),
        ("svc", "X Trace", "SMUGGLED"),
        ("svc", "X-Trace:", "SMUGGLED"),
        ("svc", "", "SMUGGLED"),
        ("hdr", "X-Api-Key", "SMUGGLED"),
        ("hdr", "x-api-key", "SMUGGLED"),
        ("hdr", "X-API-KEY", "SMUGGLED"),
        ("hdr", "Authorization", "Bearer SMUGGLED"),
    ];
    for (cap, name, value) in attacks {
        let before = up.count();
        let mut headers = serde_json::Map::new();
        headers.insert(name.to_string(), json!(value));
        let r = mcp
            .try_call(
                "execute",
                json!({"capability": cap, "method": "GET", "path": "/ok", "headers": headers}),
            )
            .await;
        let what = format!("{cap}: {name:?}: {value:?}");
        match r {
            Ok(r) if !r.is_error => {
                assert_eq!(up.count(), before + 1, "{what}");
                let rec = up.requests()[before].clone();
                assert!(
                    !rec.headers
                        .iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case(name) && v == value),
                    "{what} reached the upstream: {rec:?}"
                );
            }
            Ok(r) => {
                assert_eq!(up.count(), before, "{what} refused, yet sent");
                assert!(r.reason_code().is_some(), "{what}: {}", r.text);
            }
            Err(_) => assert_eq!(up.count(), before, "{what} was a protocol error, yet sent"),
        }
    }

    // Two spellings of Authorization in one call.
    let before = up.count();
    let r = mcp
        .call(
            "execute",
            json!({"capability": "svc", "method": "GET", "path": "/ok",
                   "headers": {"Authorization": "Bearer SMUGGLED", "authorization": "Bearer SMUGGLED2"}}),
        )
        .await;
    assert!(r.is_error || up.count() == before + 1, "{}", r.text);

    for rec in up.requests() {
        assert_eq!(rec.method, "GET", "method changed: {rec:?}");
        assert!(
            !rec.headers.iter().any(|(k, v)| {
                let (k, v) = (k.to_ascii_lowercase(), v.to_ascii_lowercase());
                v.contains("smuggled") || k.contains("smuggled") || k == "injected"
            }),
            "smuggled header reached the upstream: {rec:?}"
        );
        for h in [
            "cookie",
            "proxy-authorization",
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-http-method-override",
            "x-http-method",
            "x-method-override",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(
                rec.header_values(h).is_empty(),
                "{h} reached the upstream: {rec:?}"
            );
        }
        assert_eq!(rec.header_values("host"), vec![host.as_str()], "{rec:?}");
        if rec.header_values("x-api-key").is_empty() {
            assert_eq!(
                rec.header_values("authorization"),
                vec![format!("Bearer {KEY}")],
                "the upstream must see exactly Janee's Authorization: {rec:?}"
            );
        } else {
            assert_eq!(rec.header_values("x-api-key"), vec![HEADER_KEY], "{rec:?}");
            assert!(
                rec.header_values("authorization").is_empty(),
                "agent Authorization on a header-auth service: {rec:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Class 6: identity spoofing
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class6_one_agent_cannot_act_as_another() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &up.url(), KEY);
    j.add_cap("a-only", "svc", &["--allowed-agents", "alice"]);
    let alice = j.add_agent("alice");
    let bob = j.add_agent("bob");
    let srv = j.serve_http(&[]);

    // Bob, even calling himself "alice" in clientInfo, is Bob.
    for label in ["bob-client", "alice"] {
        let m = srv.connect(Some(&bob), label).await;
        let who = m.whoami().await;
        assert_eq!(who["agentId"], json!("bob"), "{who}");
        assert_eq!(who["verified"], json!(true), "{who}");
        let r = m.execute("a-only", "GET", "/x").await;
        assert!(r.is_error, "bob used alice's capability: {}", r.text);
        assert_eq!(
            r.reason_code().as_deref(),
            Some("AGENT_NOT_ALLOWED"),
            "{}",
            r.text
        );
        let listed = m.call("list_services", json!({})).await.json();
        assert!(
            !listed.to_string().contains("a-only"),
            "bob sees a-only: {listed}"
        );
    }
    assert_eq!(up.count(), 0, "a refused call reached the upstream");
    let m = srv.connect(Some(&alice), "whatever").await;
    assert_eq!(m.whoami().await["agentId"], json!("alice"));
    let r = m.execute("a-only", "GET", "/x").await;
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(up.count(), 1);

    // Bob riding Alice's MCP session id is still Bob; no token at all on her session is refused.
    let mut hijack = m.clone();
    hijack.token = Some(bob.clone());
    assert_eq!(hijack.whoami().await["agentId"], json!("bob"));
    let r = hijack.execute("a-only", "GET", "/x").await;
    assert!(r.is_error, "bob used alice's session: {}", r.text);
    hijack.token = None;
    let reply = hijack
        .post(&json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
                       "params": {"name": "whoami", "arguments": {}}}))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(up.count(), 1);

    // Forged, altered, empty and missing tokens: 401 before any MCP handling.
    let mut altered = alice.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let http = Mcp::http_client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "alice", "version": "1"}}});
    for auth in [
        None,
        Some("Bearer janee_at_forgedforgedforgedforgedforgedforgedforg".to_string()),
        Some(format!("Bearer {altered}")),
        Some(format!("Bearer {}", &alice[..alice.len() - 1])),
        Some("Bearer ".to_string()),
        Some(format!("Basic {alice}")),
        Some(alice.clone()),
        Some("Bearer alice".to_string()),
    ] {
        let mut rb = http
            .post(&srv.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(init.to_string());
        if let Some(a) = &auth {
            rb = rb.header("Authorization", a);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "Authorization {auth:?}");
    }

    // Without a token, even an anonymous-friendly server grants nothing restricted.
    drop(srv);
    let anon = j.serve_http(&["--allow-anonymous"]);
    let m = anon.connect(None, "alice").await;
    let who = m.whoami().await;
    assert_ne!(who["agentId"], json!("alice"), "{who}");
    assert_eq!(who["verified"], json!(false), "{who}");
    let r = m.execute("a-only", "GET", "/x").await;
    assert!(r.is_error, "anonymous caller used a-only: {}", r.text);
    assert_eq!(up.count(), 1);
    let m = anon.connect(Some(&bob), "alice").await;
    assert_eq!(m.whoami().await["agentId"], json!("bob"));
    drop(anon);

    // Over stdio the identity is --agent, whatever clientInfo.name says.
    let mut s = j.stdio(&["serve", "--agent", "bob"], "alice");
    let who = s.whoami();
    assert_eq!(who["agentId"], json!("bob"), "{who}");
    assert_eq!(who["identitySource"], json!("stdio-flag"), "{who}");
    let r = s.execute("a-only", "GET", "/x");
    assert!(r.is_error, "stdio bob used a-only: {}", r.text);
    drop(s);
    let mut s = j.stdio(&["serve"], "alice");
    let who = s.whoami();
    assert_ne!(who["agentId"], json!("alice"), "{who}");
    assert!(
        s.execute("a-only", "GET", "/x").is_error,
        "default stdio agent used a-only"
    );
    drop(s);
    let mut s = j.stdio(&["serve", "--agent", "alice"], "bob");
    assert_eq!(s.whoami()["agentId"], json!("alice"));
    let r = s.execute("a-only", "GET", "/x");
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(up.count(), 2);

    // The audit log names the verified agent, and the label separately.
    let logs = j.logs();
    let denied: Vec<&Value> = logs
        .iter()
        .filter(|l| l["capability"] == json!("a-only") && l["event"] == json!("denied"))
        .collect();
    assert!(
        denied
            .iter()
            .any(|l| l["agent"] == json!("bob") && l["label"] == json!("alice"))
    );
    assert!(
        denied.iter().all(|l| l["agent"] != json!("alice")),
        "{denied:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Class 9: audit tampering and injection
// ---------------------------------------------------------------------------------------------

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The audit files of a home's `logs/`, oldest first.
fn audit_files(logs: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class9_audit_log_detects_tampering_and_keeps_one_line_per_event() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &up.url(), KEY);
    j.add_cap("limited", "svc", &["--deny", "* /secret*"]);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv
        .connect(Some(&token), "audit\n{\"seq\":1}\u{1b}[31m")
        .await;
    let reason = "fine\n{\"seq\":1,\"event\":\"call\",\"agent\":\"root\"}\r\n\u{1b}[2J\u{1b}[31mred\u{1b}[0m\u{2028}\u{202e}end";
    let calls = [
        ("svc", "/one"),
        ("svc", "/two"),
        ("limited", "/secret"),
        ("svc", "/three"),
        ("nope\n{\"seq\":2}", "/x"),
    ];
    for (cap, path) in calls {
        let r = mcp
            .call(
                "execute",
                json!({"capability": cap, "method": "GET", "path": path, "reason": reason}),
            )
            .await;
        assert_no_leak(&r, KEY, path);
    }
    assert_eq!(up.count(), 3);
    let logs_dir = j.logs_dir();
    let (code, report) = j.audit_verify();
    assert_eq!(code, Some(0), "fresh log does not verify: {report}");
    drop(srv);

    let files = audit_files(&logs_dir);
    assert!(!files.is_empty());
    let file = files.last().unwrap().clone();
    let bytes = std::fs::read(&file).unwrap();
    // One line per record: no raw control characters, no line separators, every line a record.
    assert!(!bytes.contains(&0x1b), "raw ESC in the audit file");
    assert!(!bytes.contains(&b'\r'), "raw CR in the audit file");
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(!text.contains('\u{2028}') && !text.contains('\u{202e}'));
    let lines: Vec<&str> = text.lines().collect();
    let mut seqs = Vec::new();
    for l in &lines {
        assert!(l.starts_with("{\"seq\":"), "line is not a record: {l:?}");
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        seqs.push(v["seq"].as_u64().unwrap());
        for (_, val) in v.as_object().unwrap() {
            if let Some(s) = val.as_str() {
                assert!(
                    !s.chars()
                        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{202e}'),
                    "control character survived in {l:?}"
                );
            }
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "seqs {seqs:?}");
    let with_reason: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("reason").is_some())
        .collect();
    assert_eq!(with_reason.len(), calls.len(), "one record per call");
    assert!(
        with_reason
            .iter()
            .all(|v| v["reason"].as_str().unwrap().contains("red"))
    );
    assert_eq!(
        text.matches("{\"seq\":1,").count(),
        usize::from(files.len() == 1),
        "an injected seq looks like a record start"
    );
    for (path, b) in all_files(&logs_dir) {
        assert_eq!(
            find_leak(&String::from_utf8_lossy(&b), KEY),
            None,
            "{} holds the key",
            path.display()
        );
    }
    let human = j.env.run(&["logs"]);
    assert!(human.status.success());
    assert!(!human.stdout.contains(&0x1b), "`janee logs` prints raw ESC");
    assert!(
        !String::from_utf8_lossy(&human.stdout).contains('\r'),
        "`janee logs` prints raw CR"
    );

    // Tampered copies: each reports the first bad line (line 3 of the file) and exits 1.
    assert!(
        lines.len() >= 6,
        "too few lines to tamper with: {}",
        lines.len()
    );
    let name = file.file_name().unwrap().to_owned();
    let (first, second) = (2usize, 3usize); // 0-based: lines 3 and 4
    let mut edited = lines.clone();
    let l = edited[first].to_string();
    let z = l.find("Z\"").expect("time member");
    let digit = l.as_bytes()[z - 1];
    let swapped_digit = if digit == b'9' {
        '0'
    } else {
        char::from(digit + 1)
    };
    let edited_line = format!("{}{}{}", &l[..z - 1], swapped_digit, &l[z..]);
    edited[first] = &edited_line;
    let mut deleted = lines.clone();
    deleted.remove(first);
    let mut reordered = lines.clone();
    reordered.swap(first, second);
    for (label, content, kind) in [
        ("edited byte", edited, "bad-mac"),
        ("deleted line", deleted, "seq-gap"),
        ("swapped lines", reordered, "seq-order"),
    ] {
        let copy = j
            .env
            .dir
            .path()
            .join(format!("copy-{}", label.replace(' ', "-")));
        copy_dir(&j.env.home, &copy);
        let mut body = content.join("\n");
        body.push('\n');
        std::fs::write(copy.join("logs").join(&name), body).unwrap();
        let (code, report) = super::harness::audit_verify_at(&j.env, &copy);
        assert_eq!(code, Some(1), "{label}: {report}");
        assert_eq!(report["ok"], json!(false), "{label}: {report}");
        let p = &report["firstProblem"];
        assert_eq!(p["line"], json!(first + 1), "{label}: {report}");
        assert_eq!(p["kind"], json!(kind), "{label}: {report}");
        assert!(
            p["file"]
                .as_str()
                .unwrap_or_default()
                .ends_with(name.to_str().unwrap()),
            "{label}: {report}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Class 10: local server exposure
// ---------------------------------------------------------------------------------------------

/// POST `len` bytes of padding to `/mcp` over a raw socket, declared with a Content-Length or
/// sent with chunked transfer encoding, writing in one task while reading the answer in
/// another (a server may answer and close before the body is sent). The answer's status code,
/// or `None` if the server closed without one.
/// Like a simple client (Python's `urllib`): writes the whole oversized body, only then reads.
async fn post_then_read(addr: std::net::SocketAddr, token: &str, len: usize) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
        addr.port()
    );
    let mut request = head.into_bytes();
    request.resize(request.len() + len, b' ');
    s.write_all(&request).await.ok()?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let read = async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), read).await;
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn post_oversized(
    addr: std::net::SocketAddr,
    token: &str,
    len: usize,
    chunked: bool,
) -> Option<u16> {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
        addr.port()
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await.ok()?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let frame = if chunked {
                [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat()
            } else {
                chunk.clone()
            };
            wr.write_all(&frame).await.ok()?;
            sent += chunk.len();
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await.ok()?;
        }
        // Like a real client, keep the connection open (not half-closed) for the answer.
        std::future::pending::<()>().await;
        drop(wr);
        Some(())
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let read = async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), read).await;
    writer.abort();
    let line = String::from_utf8_lossy(&got).to_string();
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class10_http_transport_rejects_rebinding_cross_origin_unauthenticated_and_huge() {
    let j = Janee::new();
    let token = j.add_agent("agent");
    let mut srv = j.serve_http(&[]);
    let http = Mcp::http_client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}})
    .to_string();
    let port = srv.addr.port();
    let post = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let mut rb = http
            .post(&srv.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    let bearer = format!("Bearer {token}");

    let health = http
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert_eq!(v["ok"], json!(true));
    // The routes: /healthz answers GET and HEAD only; /mcp and what is under it go through the
    // guard (no token: 401); anything else is a 404.
    let status = |method: reqwest::Method, path: &'static str| {
        let rb = http.request(method, format!("{}{path}", srv.base));
        async move { rb.send().await.unwrap() }
    };
    assert_eq!(
        status(reqwest::Method::HEAD, "/healthz").await.status(),
        200
    );
    let wrong = status(reqwest::Method::POST, "/healthz").await;
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET,HEAD");
    for (path, code) in [
        ("/mcp", 401),
        ("/mcp/anything", 401),
        ("/mcp?x=1", 401),
        ("/mcp/", 404),
        ("/mcpx", 404),
        ("/MCP", 404),
        ("/healthz/", 404),
        ("/", 404),
    ] {
        let r = status(reqwest::Method::GET, path).await;
        assert_eq!(r.status().as_u16(), code, "GET {path}");
    }

    // Control: the right host, origin and token work.
    for origin in [
        None,
        Some(format!("http://127.0.0.1:{port}")),
        Some(format!("http://localhost:{port}")),
    ] {
        let mut h = vec![("Authorization", bearer.clone())];
        if let Some(o) = origin.clone() {
            h.push(("Origin", o));
        }
        let r = post(h, init.clone().into_bytes()).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "origin {origin:?}");
    }

    for bad_host in [
        "evil.example.com".to_string(),
        format!("evil.example.com:{port}"),
        format!("127.0.0.1.evil.example.com:{port}"),
        format!("localhost.evil.example.com:{port}"),
        "0.0.0.0".to_string(),
    ] {
        let r = post(
            vec![
                ("Authorization", bearer.clone()),
                ("Host", bad_host.clone()),
            ],
            init.clone().into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 403, "Host {bad_host}");
    }
    for bad_origin in [
        "http://evil.example.com",
        "https://evil.example.com",
        "http://127.0.0.1.evil.example.com",
        "null",
        "file://",
    ] {
        let r = post(
            vec![
                ("Authorization", bearer.clone()),
                ("Origin", bad_origin.to_string()),
            ],
            init.clone().into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 403, "Origin {bad_origin}");
    }
    for auth in [None, Some("Bearer nope".to_string())] {
        let h = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let r = post(h, init.clone().into_bytes()).await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let g = http.get(&srv.url).send().await.unwrap();
        assert_eq!(g.status().as_u16(), 401, "GET /mcp without a token");
        let d = http.delete(&srv.url).send().await.unwrap();
        assert_eq!(d.status().as_u16(), 401, "DELETE /mcp without a token");
    }

    // 5 MiB with a Content-Length, then chunked without one: 413, and the server keeps serving.
    for chunked in [false, true] {
        let status = post_oversized(srv.addr, &token, 5 << 20, chunked).await;
        assert_eq!(status, Some(413), "5 MiB body, chunked: {chunked}");
    }
    // A client that sends all of a 40 MiB body before reading gets the 413, not a reset.
    assert_eq!(post_then_read(srv.addr, &token, 40 << 20).await, Some(413));
    // Just over the limit, through an ordinary client.
    let mut big = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{"pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', (1 << 20) + 1));
    big.extend_from_slice(br#""}}}"#);
    let r = post(vec![("Authorization", bearer.clone())], big).await;
    assert_eq!(
        r.map(|r| r.status().as_u16()).ok(),
        Some(413),
        "1 MiB + 1 body"
    );
    assert!(srv.is_running(), "server died");
    let m = srv.connect(Some(&token), "after").await;
    assert_eq!(m.whoami().await["agentId"], json!("agent"));
    let health = http
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------------------------
// Class 11: resource exhaustion
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class11_hundred_concurrent_calls_succeed_while_a_slow_upstream_hangs() {
    let started = Instant::now();
    let fast = Upstream::recorder().await;
    let slow = Upstream::slow(Duration::from_secs(5)).await;
    let j = Janee::new();
    j.add_bearer("fast", &fast.url(), KEY);
    j.add_bearer("slow", &slow.url(), KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&["--stateless"]);
    let mcp = srv.stateless(Some(&token));

    let m = mcp.clone();
    let slow_call = tokio::spawn(async move { m.execute("slow", "GET", "/hang").await });
    let wait = Instant::now();
    while slow.count() == 0 {
        assert!(
            wait.elapsed() < Duration::from_secs(5),
            "slow call never reached upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let t0 = Instant::now();
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let m = mcp.clone();
            tokio::spawn(async move { m.execute("fast", "GET", &format!("/v1/items/{i}")).await })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        let r = c.await.unwrap();
        assert!(!r.is_error, "{}", r.text);
        assert_eq!(r.status(), Some(200), "{}", r.text);
        ok += 1;
    }
    let burst = t0.elapsed();
    assert_eq!(ok, 100);
    assert!(
        !slow_call.is_finished(),
        "the burst took {burst:?}: longer than the slow call, so nothing was shown"
    );
    let mut targets: Vec<String> = fast.requests().into_iter().map(|r| r.target).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), 100);

    let r = slow_call.await.unwrap();
    assert!(!r.is_error, "{}", r.text);
    assert_eq!(r.status(), Some(200));
    assert_eq!(slow.count(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class11_deep_json_and_oversized_arguments_do_not_take_the_server_down() {
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer("svc", &up.url(), KEY);
    let token = j.add_agent("agent");
    let mut srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "deep").await;

    let depth = 10_000;
    let nested_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let nested_object = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for (label, nested) in [("array", nested_array), ("object", nested_object)] {
        for template in [
            r#"{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"execute","arguments":{"capability":"svc","method":"GET","path":"/x","body":NESTED}}}"#,
            r#"{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"execute","arguments":{"capability":"svc","method":"GET","path":"/x","headers":NESTED}}}"#,
            r#"{"jsonrpc":"2.0","id":77,"method":"tools/call","params":NESTED}"#,
        ] {
            let body = template.replace("NESTED", &nested);
            let reply = mcp.post_bytes(body.into_bytes()).await;
            let answered_error = reply.status != 200
                || reply.message(77).is_some_and(|m| m.get("error").is_some())
                || reply
                    .message(77)
                    .is_some_and(|m| m["result"]["isError"] == json!(true));
            assert!(
                answered_error,
                "{label}: deep JSON was not refused: HTTP {} {}",
                reply.status,
                reply.text.chars().take(300).collect::<String>()
            );
            assert!(
                srv.is_running(),
                "{label}: server died; stderr:\n{}",
                srv.stderr()
            );
        }
    }
    assert_eq!(up.count(), 0);

    // A path near the request size limit, and a very long header value.
    let r = mcp
        .execute("svc", "GET", &format!("/{}", "a/".repeat(300_000)))
        .await;
    assert!(r.is_error, "a 600 KB path was sent: {}", r.text.len());
    assert_eq!(up.count(), 0);

    // The same session and a fresh one still work.
    let r = mcp.execute("svc", "GET", "/still-alive").await;
    assert!(!r.is_error, "{}", r.text);
    let fresh = srv.connect(Some(&token), "fresh").await;
    assert_eq!(fresh.whoami().await["agentId"], json!("agent"));
    assert!(srv.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class11_a_trickling_upstream_is_cut_off_by_the_service_timeout() {
    let trickle = Trickle::start(Duration::from_millis(100)).await;
    let up = Upstream::recorder().await;
    let j = Janee::new();
    j.add_bearer_with("drip", &trickle.url(), KEY, &["--timeout", "2s"]);
    j.add_bearer("fast", &up.url(), KEY);
    let token = j.add_agent("agent");
    let srv = j.serve_http(&[]);
    let mcp = srv.connect(Some(&token), "drip").await;
    let m = mcp.clone();
    let started = Instant::now();
    let drip = tokio::spawn(async move { m.execute("drip", "GET", "/forever").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = mcp.execute("fast", "GET", "/meanwhile").await;
    assert!(!r.is_error, "{}", r.text);
    let r = tokio::time::timeout(Duration::from_secs(10), drip)
        .await
        .expect("a 2 s service timeout did not end a call whose body never finishes")
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        r.is_error || r.json()["truncated"] == json!(true),
        "{}",
        r.text
    );
    let wait = Instant::now();
    while trickle.closed.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(
            wait.elapsed() < Duration::from_secs(3),
            "Janee kept reading the trickling upstream after answering"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
