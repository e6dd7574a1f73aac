//! The stateless-HTTP fast path for `tools/call` answers exactly as rmcp does.
//!
//! Each call is sent twice as raw HTTP/1.1: once with `Content-Length` (answered by the fast
//! path) and once with `Transfer-Encoding: chunked` (which the fast path leaves to rmcp). The two
//! answers, and the audit records the two calls leave, must be the same.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::{Janee, Upstream};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A home with service `api` (bearer `key`, on `up`) and agent `claude`, whose token is returned.
fn with_api(up: &Upstream, key: &str) -> (Janee, String) {
    let j = Janee::new();
    j.add_bearer("api", &up.url(), key);
    let token = j.add_agent("claude");
    (j, token)
}

/// POST `body` to `/mcp` as raw HTTP/1.1 and read the whole answer (`Connection: close`).
async fn post(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Reply {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(&request(addr, token, body, chunked))
        .await
        .unwrap();
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).await.unwrap();
    parse_reply(&raw)
}

/// The bytes of a `POST /mcp` carrying `body`, with `Content-Length` or chunked.
fn request(addr: std::net::SocketAddr, token: Option<&str>, body: &[u8], chunked: bool) -> Vec<u8> {
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nConnection: close\r\n",
        addr.port()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let mut bytes = Vec::new();
    if chunked {
        req.push_str("Transfer-Encoding: chunked\r\n\r\n");
        bytes.extend_from_slice(req.as_bytes());
        // Two chunks, so nothing can mistake the body for a fixed-length one.
        let (a, b) = body.split_at(body.len() / 2);
        for part in [a, b] {
            bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            bytes.extend_from_slice(part);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        bytes.extend_from_slice(req.as_bytes());
        bytes.extend_from_slice(body);
    }
    bytes
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

/// The upstream's `Date` header differs from one call to the next; blank it.
fn without_dates(body: &[u8]) -> String {
    let mut s = String::from_utf8(body.to_vec()).unwrap();
    let key = "date\\\":\\\"";
    let mut from = 0;
    while let Some(i) = s[from..].find(key) {
        let start = from + i + key.len();
        let end = start + s[start..].find('\\').unwrap();
        s.replace_range(start..end, "DATE");
        from = start;
    }
    s
}

/// An audit record without the members that differ between any two calls.
fn comparable(mut rec: Value) -> Value {
    let o = rec.as_object_mut().unwrap();
    for k in ["seq", "time", "durationMs", "prev", "mac"] {
        o.remove(k);
    }
    rec
}

/// One call of each kind: allowed, refused, malformed, and every tool but `janee_exec`.
fn calls() -> Vec<(&'static str, Value)> {
    vec![
        // Allowed.
        (
            "allowed",
            json!({"name": "execute", "arguments": {"capability": "api", "method": "get", "path": "/v1/items?limit=5"}}),
        ),
        // Refused by policy: a tool result with isError.
        (
            "denied",
            json!({"name": "execute", "arguments": {"capability": "nope", "method": "GET", "path": "/"}}),
        ),
        (
            "bad path",
            json!({"name": "execute", "arguments": {"capability": "api", "method": "GET", "path": "/a/%2e%2e/b"}}),
        ),
        // Malformed: JSON-RPC -32602 naming the field.
        (
            "missing field",
            json!({"name": "execute", "arguments": {"capability": "api", "method": "GET"}}),
        ),
        (
            "unknown field",
            json!({"name": "execute", "arguments": {"capability": "api", "method": "GET", "path": "/", "evil": 1}}),
        ),
        (
            "wrong type",
            json!({"name": "execute", "arguments": {"capability": "api", "method": 5, "path": "/"}}),
        ),
        ("no arguments", json!({"name": "execute"})),
        ("unknown tool", json!({"name": "nope", "arguments": {}})),
        ("whoami", json!({"name": "whoami", "arguments": {}})),
        ("list_services", json!({"name": "list_services"})),
        (
            "explain_access",
            json!({"name": "explain_access", "arguments": {"capability": "api", "method": "DELETE", "path": "/x"}}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_answers_and_audits_like_rmcp() {
    let up = Upstream::recorder().await;
    let (j, token) = with_api(&up, "sk_fastpath_0123456789abcdef");
    let server = j.serve_http(&["--stateless"]);
    let addr = server.addr;

    let calls = calls();
    for (i, (what, params)) in calls.iter().enumerate() {
        for id in [json!(i), json!(format!("id-{i}"))] {
            let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
            let body = serde_json::to_vec(&msg).unwrap();
            let before = j.logs().len();
            let fast = post(addr, Some(&token), &body, false).await;
            let after_fast = j.logs();
            let slow = post(addr, Some(&token), &body, true).await;
            let after_slow = j.logs();
            assert_eq!(fast.status, 200, "{what}: {}", fast.text());
            assert_eq!(slow.status, 200, "{what}: {}", slow.text());
            assert_eq!(
                fast.header("content-type"),
                slow.header("content-type"),
                "{what}"
            );
            assert_eq!(
                without_dates(&fast.body),
                without_dates(&slow.body),
                "{what}: the fast path and rmcp answered differently"
            );
            // The same audit records, in the same number (a first allowed call also opens a
            // session, which the second reuses).
            let fast_recs: Vec<Value> = after_fast[before..]
                .iter()
                .filter(|r| r["event"] != "session-open")
                .cloned()
                .map(comparable)
                .collect();
            let slow_recs: Vec<Value> = after_slow[after_fast.len()..]
                .iter()
                .cloned()
                .map(comparable)
                .collect();
            assert_eq!(fast_recs, slow_recs, "{what}: audit records differ");
        }
    }
    let (code, report) = j.audit_verify();
    assert_eq!(code, Some(0), "{report}");

    // The allowed call really went out, with the canonical path, once per request.
    let hits = up
        .requests()
        .iter()
        .filter(|r| r.target == "/v1/items?limit=5")
        .count();
    assert_eq!(hits, 4);

    // Without a token, or with a wrong one: 401 before any tool runs, on both paths.
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "execute", "arguments": {"capability": "api", "method": "GET", "path": "/v1/anon"}}});
    let body = serde_json::to_vec(&msg).unwrap();
    for chunked in [false, true] {
        for token in [None, Some("janee_at_not-a-real-token")] {
            let r = post(addr, token, &body, chunked).await;
            assert_eq!(r.status, 401, "{}", r.text());
            assert!(r.header("www-authenticate").is_some());
        }
    }
    assert!(
        up.requests().iter().all(|r| r.target != "/v1/anon"),
        "an unauthenticated call reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_fast_path_does_not_take_still_work() {
    let up = Upstream::recorder().await;
    let (j, token) = with_api(&up, "sk_fastpath_0123456789abcdef");
    let server = j.serve_http(&["--stateless"]);
    let addr = server.addr;

    // Not JSON, not JSON-RPC, a batch, a notification: rmcp's own answers, on both paths.
    for body in [
        &b"{not json"[..],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        br#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#,
        br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}]"#,
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        br#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"whoami","_meta":{"progressToken":1}}}"#,
    ] {
        let fast = post(addr, Some(&token), body, false).await;
        let slow = post(addr, Some(&token), body, true).await;
        assert_eq!(fast.status, slow.status, "{}", String::from_utf8_lossy(body));
        assert_eq!(
            fast.text(),
            slow.text(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_or_misshapen_arguments_never_reach_the_upstream() {
    let up = Upstream::recorder().await;
    let (j, token) = with_api(&up, "sk_fastpath_0123456789abcdef");
    let server = j.serve_http(&["--stateless"]);
    let call = |arguments: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"execute","arguments":{arguments}}}}}"#
        )
    };
    // A member given twice: refused, naming it, rather than one of the two chosen silently.
    let twice = call(r#"{"capability":"api","method":"GET","path":"/ok","path":"/admin"}"#);
    let r = post(server.addr, Some(&token), twice.as_bytes(), false).await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"]["code"], json!(-32602), "{}", r.text());
    assert_eq!(v["error"]["data"]["field"], json!("path"), "{}", r.text());
    // Arguments that are not an object (which a struct would take field by field): an error
    // on both paths.
    for args in [r#"["api","GET","/ok"]"#, r#""api""#, "7"] {
        for chunked in [false, true] {
            let r = post(server.addr, Some(&token), call(args).as_bytes(), chunked).await;
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            assert!(
                v.get("error").is_some()
                    || v["result"]["isError"] == json!(true)
                    || r.status >= 400,
                "{args} (chunked {chunked}): {}",
                r.text()
            );
        }
    }
    assert!(up.requests().is_empty(), "{:?}", up.requests());
}

/// A body of about 400 KB of JSON lines with every kind of byte JSON escapes, non-ASCII text,
/// and the key twice per hundred lines.
fn large_body(key: &str) -> String {
    (0..8_000)
        .map(|i| {
            let k = if i % 50 == 0 { key } else { "-" };
            format!(
                "{{\"n\":{i},\"q\":\"a\\\"b\\\\c\u{1}\u{7f}\",\"t\":\"\té😀\r\",\"k\":\"{k}\"}}\n"
            )
        })
        .collect()
}

/// A large upstream body reaches the agent whole and scrubbed, the same over stdio, the HTTP
/// fast path, rmcp's stateless handling and an HTTP session (Janee's encoder escapes the body
/// into the message as it writes it; rmcp's writers get the text whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_arrive_whole_and_scrubbed_over_every_transport() {
    let key = "sk_large_body_0123456789abcdef";
    let up = Upstream::serve(axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::OK,
            [("content-type", "application/x-ndjson")],
            large_body(key),
        )
    }))
    .await;
    let (j, token) = with_api(&up, key);
    let want = large_body("[REDACTED]");
    assert!(want.len() > 300_000);

    let mut stdio = j.stdio(&["serve", "--agent", "claude"], "large-client");
    let r = stdio.execute("api", "GET", "/large");
    assert_eq!(
        r.status(),
        Some(200),
        "{}",
        r.text.chars().take(300).collect::<String>()
    );
    assert!(r.body() == want, "stdio: the body differs");
    assert_ne!(r.json()["truncated"], json!(true));
    drop(stdio);

    let server = j.serve_http(&["--stateless"]);
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "execute", "arguments": {"capability": "api", "method": "GET", "path": "/large"}}});
    let body = serde_json::to_vec(&msg).unwrap();
    let fast = post(server.addr, Some(&token), &body, false).await;
    let slow = post(server.addr, Some(&token), &body, true).await;
    assert_eq!(fast.status, 200);
    assert_eq!(
        without_dates(&fast.body),
        without_dates(&slow.body),
        "the fast path and rmcp answered differently"
    );
    let reply: Value = serde_json::from_slice(&fast.body).unwrap();
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    let result: Value = serde_json::from_str(text).unwrap();
    assert!(result["body"] == json!(want), "HTTP: the body differs");
    assert!(!String::from_utf8_lossy(&fast.body).contains(key));
    drop(server);

    let server = j.serve_http(&[]);
    let session = server.connect(Some(&token), "large-client").await;
    let r = session.execute("api", "GET", "/large").await;
    assert!(r.body() == want, "HTTP session: the body differs");
}

/// Over stdio a plain tool call is answered by Janee's own pump; the same call with `_meta` in
/// its params goes through rmcp. Both answers, and the audit records they leave, are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_plain_calls_answer_and_audit_like_rmcp() {
    let up = Upstream::recorder().await;
    let (j, _) = with_api(&up, "sk_fastpath_0123456789abcdef");
    let mut s = j.stdio(&["serve", "--agent", "claude"], "stdio-client");
    // The first call opens the session; later ones only use it.
    assert_eq!(s.execute("api", "GET", "/warm").status(), Some(200));
    for (what, params) in calls() {
        let before = j.logs().len();
        let plain = s.request("tools/call", params.clone());
        let after_plain = j.logs();
        let mut with_meta = params.clone();
        with_meta["_meta"] = json!({});
        let through_rmcp = s.request("tools/call", with_meta);
        let after_rmcp = j.logs();
        assert_eq!(
            without_dates(&serde_json::to_vec(&plain).unwrap()),
            without_dates(&serde_json::to_vec(&through_rmcp).unwrap()),
            "{what}: the pump and rmcp answered differently"
        );
        let plain_recs: Vec<Value> = after_plain[before..]
            .iter()
            .cloned()
            .map(comparable)
            .collect();
        let rmcp_recs: Vec<Value> = after_rmcp[after_plain.len()..]
            .iter()
            .cloned()
            .map(comparable)
            .collect();
        assert_eq!(plain_recs, rmcp_recs, "{what}: audit records differ");
    }
    assert_eq!(up.count(), 3, "each allowed call reached the upstream once");
}

/// A line longer than the limit (16 MiB) is dropped as it arrives, never held whole, and the
/// server goes on answering.
#[test]
fn stdio_drops_an_overlong_line_without_holding_it() {
    let j = Janee::new();
    j.add_agent("claude");
    let mut s = j.stdio(&["serve", "--agent", "claude"], "stdio-client");
    let before = s.peak_rss();
    let chunk = vec![b'x'; 1 << 20];
    let mut start =
        b"{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"tools/call\",\"params\":{\"name\":\""
            .to_vec();
    start.extend_from_slice(&chunk);
    s.send_raw(&start);
    for _ in 0..80 {
        s.send_raw(&chunk);
    }
    s.send_raw(b"\"}}\n");
    assert_eq!(s.whoami()["agentId"], json!("claude"));
    let grown = s.peak_rss().saturating_sub(before);
    assert!(
        grown < 48 << 20,
        "an 81 MiB line raised peak memory by {} MiB",
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_client_hangs_up_still_reaches_the_end_and_the_audit_log() {
    let up = Upstream::slow(std::time::Duration::from_millis(600)).await;
    let (j, token) = with_api(&up, "sk_hangup_0123456789");
    let server = j.serve_http(&["--stateless"]);
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "execute", "arguments": {"capability": "api", "method": "GET", "path": "/slow"}}});
    let body = serde_json::to_vec(&msg).unwrap();
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(&request(server.addr, Some(&token), &body, false))
        .await
        .unwrap();
    // Hang up while the upstream is still thinking.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(up.requests().len(), 1, "the call reached the upstream");
    drop(sock);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let record = loop {
        let found = j.logs().into_iter().find(|r| {
            r["event"] == "call" && r["capability"] == "api" && r.get("status").is_some()
        });
        if let Some(r) = found {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit record of the call"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(record["status"], 200, "{record}");
    assert_eq!(record["decision"], "allow", "{record}");
}
