//! A running `janee serve` and a loopback upstream, for server tests.
//!
//! - [`Janee`]: a throwaway home set up through the real binary (services, capabilities, agents),
//!   its audit log, and `janee serve` started as a child process ([`Server`], killed on drop).
//! - [`Mcp`]: a minimal MCP-over-HTTP JSON-RPC client (initialize + session, or stateless),
//!   reading both JSON and SSE answers. [`StdioMcp`]: the same over a child's stdin/stdout.
//! - [`Upstream`]: loopback HTTP servers inside the test process that record every request they
//!   receive (method, raw target, headers, body): a plain recorder, a reflector that echoes the
//!   credential in many encodings, a redirector and a slow endpoint. [`ChunkedReflector`] echoes
//!   the credential split across many small chunks.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::util::Env;

/// The MCP protocol version the clients here speak (initialize handshake era).
pub const PROTOCOL: &str = "2025-11-25";
/// How long any single wait in the harness may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The home and the server process
// ---------------------------------------------------------------------------------------------

/// A Janee home in a temp dir, initialised with `JANEE_PASSPHRASE` and no keyring.
pub struct Janee {
    pub env: Env,
}

impl Default for Janee {
    fn default() -> Self {
        Self::new()
    }
}

impl Janee {
    pub fn new() -> Self {
        Self { env: Env::init() }
    }

    /// `janee add NAME --url URL --key-from-env` (bearer); also creates capability NAME.
    pub fn add_bearer(&self, name: &str, url: &str, key: &str) {
        let out = self.env.add_bearer(name, url, key);
        assert!(
            out.status.success(),
            "janee add {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `janee add NAME --url URL --key-from-env ... EXTRA...` (bearer, with extra flags).
    pub fn add_bearer_with(&self, name: &str, url: &str, key: &str, extra: &[&str]) {
        let mut args = vec!["add", name, "--url", url, "--key-from-env", "SVC_KEY"];
        args.extend_from_slice(extra);
        let out = self.env.run_env(&args, &[("SVC_KEY", key)]);
        assert!(
            out.status.success(),
            "janee add {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A service whose credential is the header `header` (e.g. `X-Api-Key`).
    pub fn add_header_auth(&self, name: &str, url: &str, header: &str, key: &str) {
        let spec = format!("{header}=HDR_KEY");
        let out = self.env.run_env(
            &[
                "add",
                name,
                "--url",
                url,
                "--auth-type",
                "headers",
                "--header-from-env",
                &spec,
            ],
            &[("HDR_KEY", key)],
        );
        assert!(
            out.status.success(),
            "janee add {name} (headers) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A basic-auth service (`user` and `password`); also creates capability NAME.
    pub fn add_basic(&self, name: &str, url: &str, user: &str, password: &str) {
        let out = self.env.run_env(
            &[
                "add",
                name,
                "--url",
                url,
                "--auth-type",
                "basic",
                "--username",
                user,
                "--password-from-env",
                "BASIC_PW",
            ],
            &[("BASIC_PW", password)],
        );
        assert!(
            out.status.success(),
            "janee add {name} (basic) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A service whose key travels in the query parameter `param`.
    pub fn add_query_auth(&self, name: &str, url: &str, param: &str, key: &str) {
        let out = self.env.run_env(
            &[
                "add",
                name,
                "--url",
                url,
                "--auth-type",
                "query",
                "--param",
                param,
                "--key-from-env",
                "QUERY_KEY",
            ],
            &[("QUERY_KEY", key)],
        );
        assert!(
            out.status.success(),
            "janee add {name} (query) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `janee cap add NAME --service SERVICE EXTRA...`.
    pub fn add_cap(&self, name: &str, service: &str, extra: &[&str]) {
        let mut args = vec!["cap", "add", name, "--service", service];
        args.extend_from_slice(extra);
        self.env.ok(&args);
    }

    /// `janee agent add NAME`: the agent's bearer token.
    pub fn add_agent(&self, name: &str) -> String {
        let token = self.env.ok(&["agent", "add", name]).trim().to_string();
        assert!(token.starts_with("janee_at_"), "unexpected token {token:?}");
        token
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.env.home.join("logs")
    }

    /// `janee logs --json`: one record per line.
    pub fn logs(&self) -> Vec<Value> {
        self.env
            .ok(&["logs", "--json"])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("janee logs --json line"))
            .collect()
    }

    /// `janee audit verify --json` on this home: exit code and report.
    pub fn audit_verify(&self) -> (Option<i32>, Value) {
        audit_verify_at(&self.env, &self.env.home)
    }

    /// `janee serve -t http --port 0 EXTRA...`, waiting for the "serving MCP on" line.
    pub fn serve_http(&self, extra: &[&str]) -> Server {
        let mut c = self.env.cmd();
        c.args(["serve", "-t", "http", "--port", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn janee serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain(stderr, log.clone(), Some(tx));
        let Ok(url) = rx.recv_timeout(WAIT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "janee serve did not print its address; stderr:\n{}",
                log.lock().unwrap()
            );
        };
        let base = url.trim_end_matches("/mcp").to_string();
        let addr: SocketAddr = base
            .trim_start_matches("http://")
            .parse()
            .expect("address in the serving line");
        Server {
            child,
            url,
            base,
            addr,
            stderr: log,
        }
    }

    /// `janee serve ARGS...` over stdio, initialised with `clientInfo.name = client_name`.
    pub fn stdio(&self, args: &[&str], client_name: &str) -> StdioMcp {
        StdioMcp::start(&self.env, args, client_name)
    }
}

/// `janee audit verify --json` with `JANEE_HOME=home` (e.g. a tampered copy).
pub fn audit_verify_at(env: &Env, home: &std::path::Path) -> (Option<i32>, Value) {
    let out = env
        .cmd()
        .env("JANEE_HOME", home)
        .args(["audit", "verify", "--json"])
        .output()
        .expect("run janee audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "audit verify --json printed no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

/// Read `r` line by line into `log`; the first "serving MCP on URL" line's URL goes to `tx`.
fn drain(
    r: impl std::io::Read + Send + 'static,
    log: Arc<Mutex<String>>,
    tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut tx = tx;
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.split("serving MCP on ").nth(1)
                && let Some(t) = tx.take()
            {
                let _ = t.send(url.trim().to_string());
            }
            let mut l = log.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
}

/// A `janee serve -t http` child process, killed on drop.
pub struct Server {
    child: Child,
    /// `http://ADDR/mcp`.
    pub url: String,
    /// `http://ADDR`.
    pub base: String,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Everything the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A stateful MCP client (initialize + session) with this bearer token.
    pub async fn connect(&self, token: Option<&str>, client_name: &str) -> Mcp {
        Mcp::connect(&self.url, token, client_name).await
    }

    /// A client that sends `tools/call` without a session (server started with `--stateless`).
    pub fn stateless(&self, token: Option<&str>) -> Mcp {
        Mcp::stateless(&self.url, token)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// MCP clients
// ---------------------------------------------------------------------------------------------

/// A `tools/call` result.
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub is_error: bool,
    /// The first content block's text.
    pub text: String,
    /// The whole JSON-RPC `result`.
    pub raw: Value,
}

impl ToolResult {
    fn from_result(raw: Value) -> Self {
        let text = raw["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Self {
            is_error: raw["isError"].as_bool().unwrap_or(false),
            text,
            raw,
        }
    }

    /// The text parsed as JSON (Janee's tools answer JSON), or `Null`.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// `denial.reasonCode` of a refusal.
    pub fn reason_code(&self) -> Option<String> {
        self.json()["denial"]["reasonCode"]
            .as_str()
            .map(str::to_string)
    }

    /// `status` of an `execute` result.
    pub fn status(&self) -> Option<u64> {
        self.json()["status"].as_u64()
    }

    /// `body` of an `execute` result.
    pub fn body(&self) -> String {
        self.json()["body"].as_str().unwrap_or_default().to_string()
    }
}

/// An HTTP answer from the MCP endpoint.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl HttpReply {
    /// The JSON-RPC message with `id` from a JSON or SSE body.
    pub fn message(&self, id: u64) -> Option<Value> {
        let is_sse = self
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("text/event-stream"));
        let candidates: Vec<Value> = if is_sse {
            self.text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect()
        } else {
            serde_json::from_str(&self.text).ok().into_iter().collect()
        };
        candidates.into_iter().find(|m| m["id"] == json!(id))
    }
}

/// A minimal MCP client over Streamable HTTP. Cloning shares the connection pool and session.
#[derive(Debug, Clone)]
pub struct Mcp {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    ids: Arc<AtomicU64>,
}

impl Mcp {
    pub fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(WAIT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client")
    }

    /// No session: every request stands alone.
    pub fn stateless(url: &str, token: Option<&str>) -> Self {
        Self {
            http: Self::http_client(),
            url: url.to_string(),
            token: token.map(str::to_string),
            session: None,
            ids: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `initialize` (as `client_name`), keep the session id, send `notifications/initialized`.
    pub async fn connect(url: &str, token: Option<&str>, client_name: &str) -> Self {
        let mut c = Self::stateless(url, token);
        let id = c.next_id();
        let msg = json!({
            "jsonrpc": "2.0", "id": id, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": "1.0"},
            }
        });
        let reply = c.post(&msg).await;
        assert_eq!(reply.status, 200, "initialize: {}", reply.text);
        let m = reply.message(id).expect("initialize answer");
        assert!(m.get("result").is_some(), "initialize failed: {m}");
        c.session = reply
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = c.post(&note).await;
        assert!(r.status < 300, "initialized: {} {}", r.status, r.text);
        c
    }

    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// POST raw bytes to the endpoint with this client's headers.
    pub async fn post_bytes(&self, body: Vec<u8>) -> HttpReply {
        let mut rb = self
            .http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = &self.token {
            rb = rb.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(s) = &self.session {
            rb = rb
                .header("Mcp-Session-Id", s)
                .header("MCP-Protocol-Version", PROTOCOL);
        }
        let resp = rb.send().await.expect("POST /mcp");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("read /mcp answer");
        HttpReply {
            status,
            headers,
            text,
        }
    }

    pub async fn post(&self, msg: &Value) -> HttpReply {
        self.post_bytes(serde_json::to_vec(msg).expect("json"))
            .await
    }

    /// A JSON-RPC request: `Ok(result)` or `Err(error)`. Panics on a non-200 HTTP answer.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id();
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = self.post(&msg).await;
        assert_eq!(
            reply.status, 200,
            "{method}: HTTP {}: {}",
            reply.status, reply.text
        );
        let m = reply
            .message(id)
            .unwrap_or_else(|| panic!("{method}: no answer with id {id} in {}", reply.text));
        match m.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(m["error"].clone()),
        }
    }

    /// `tools/call`; a JSON-RPC error is `Err`.
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<ToolResult, Value> {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
            .await
            .map(ToolResult::from_result)
    }

    /// `tools/call`; panics on a JSON-RPC error.
    pub async fn call(&self, tool: &str, args: Value) -> ToolResult {
        self.try_call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("tools/call {tool}: JSON-RPC error {e}"))
    }

    /// `execute {capability, method, path}`.
    pub async fn execute(&self, capability: &str, method: &str, path: &str) -> ToolResult {
        self.call(
            "execute",
            json!({"capability": capability, "method": method, "path": path}),
        )
        .await
    }

    pub async fn whoami(&self) -> Value {
        self.call("whoami", json!({})).await.json()
    }
}

/// `janee serve` over stdio, driven line by line. Killed on drop.
pub struct StdioMcp {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    stderr: Arc<Mutex<String>>,
}

impl StdioMcp {
    pub fn start(env: &Env, args: &[&str], client_name: &str) -> Self {
        let mut child = env
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn janee serve (stdio)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().expect("stderr"), stderr.clone(), None);
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut c = Self {
            child,
            stdin,
            lines,
            next_id: 1,
            stderr,
        };
        let init = c.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": "1.0"},
            }),
        );
        assert!(init.is_ok(), "stdio initialize failed: {init:?}");
        c.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        c
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Write raw bytes to the server's stdin.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write to janee stdin");
        self.stdin.flush().expect("flush janee stdin");
    }

    /// The server's peak resident set (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            * 1024
    }

    fn send(&mut self, msg: &Value) {
        let mut line = serde_json::to_vec(msg).expect("json");
        line.push(b'\n');
        self.stdin.write_all(&line).expect("write to janee stdin");
        self.stdin.flush().expect("flush janee stdin");
    }

    /// A JSON-RPC request: `Ok(result)` or `Err(error)`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self.lines.recv_timeout(WAIT).unwrap_or_else(|_| {
                panic!(
                    "no stdio answer to {method} (id {id}); stderr:\n{}",
                    self.stderr()
                )
            });
            let Ok(m) = serde_json::from_str::<Value>(&line) else {
                panic!("stdout carried a non-JSON line: {line:?}");
            };
            if m["id"] == json!(id) {
                return match m.get("result") {
                    Some(r) => Ok(r.clone()),
                    None => Err(m["error"].clone()),
                };
            }
        }
    }

    pub fn call(&mut self, tool: &str, args: Value) -> ToolResult {
        let r = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .unwrap_or_else(|e| panic!("tools/call {tool}: JSON-RPC error {e}"));
        ToolResult::from_result(r)
    }

    pub fn execute(&mut self, capability: &str, method: &str, path: &str) -> ToolResult {
        self.call(
            "execute",
            json!({"capability": capability, "method": method, "path": path}),
        )
    }

    pub fn whoami(&mut self) -> Value {
        self.call("whoami", json!({})).json()
    }
}

impl Drop for StdioMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Upstreams
// ---------------------------------------------------------------------------------------------

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw request target (path and query) exactly as sent.
    pub target: String,
    /// Every header line, names lower-cased, in arrival order (repeats kept).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

type RequestLog = Arc<Mutex<Vec<Recorded>>>;

async fn record(State(log): State<RequestLog>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    log.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| parts.uri.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A loopback HTTP server in the test process that records every request. Stopped on drop.
#[derive(Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    log: RequestLog,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Serve `router` on 127.0.0.1:0, recording every request before it is handled.
    pub async fn serve(router: Router) -> Self {
        let log: RequestLog = Arc::default();
        let app = router.layer(axum::middleware::from_fn_with_state(log.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log, task }
    }

    /// Answers every request 200 `{"ok": true, "method", "target"}`.
    pub async fn recorder() -> Self {
        Self::serve(Router::new().fallback(ok_handler)).await
    }

    /// Sleeps `delay` before answering 200.
    pub async fn slow(delay: Duration) -> Self {
        Self::serve(Router::new().fallback(move || async move {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "slow answer")
        }))
        .await
    }

    /// Reflects the credential it receives in every encoding of [`echo_forms`], in the body and
    /// in `X-Echo-*` response headers (under `/names` also in a header name). Under `/error` it answers 401 with a
    /// message quoting the key (body and `WWW-Authenticate`); under `/pad?n=N` the body is N
    /// filler bytes followed by the key.
    pub async fn reflector() -> Self {
        Self::serve(Router::new().fallback(reflect_handler)).await
    }

    /// `/redirect/<code>?to=<url>` answers `<code>` with `Location: <url>`; anything else 200.
    pub async fn redirector() -> Self {
        Self::serve(Router::new().fallback(redirect_handler)).await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ok_handler(req: Request) -> Response {
    let body = json!({
        "ok": true,
        "method": req.method().as_str(),
        "target": req.uri().path_and_query().map(|p| p.as_str()),
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The credential from an `Authorization` header: the part after the scheme, or the whole value.
fn presented_key(headers: &HeaderMap) -> String {
    let auth = headers
        .get("authorization")
        .or_else(|| headers.get("x-api-key"))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    match auth.split_once(' ') {
        Some((_, k)) => k.to_string(),
        None => auth,
    }
}

async fn reflect_handler(req: Request) -> Response {
    let key = presented_key(req.headers());
    let full = req
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if req.uri().path().ends_with("/error") {
        let body = json!({"error": {
            "message": format!("Invalid API Key provided: {key}"),
            "type": "invalid_request_error",
        }});
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", error_description=\"bad key {key}\""
        )) {
            resp.headers_mut().insert("www-authenticate", v);
        }
        return resp;
    }
    if req.uri().path().ends_with("/pad") {
        // `?n=N`: N filler bytes, then the key; lets a test place the key at a size cap.
        let n = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("n="))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = "x".repeat(n);
        body.push_str(&key);
        body.push('\n');
        return (StatusCode::OK, [("content-type", "text/plain")], body).into_response();
    }
    let forms = echo_forms(&key);
    let mut body = String::new();
    for (name, value) in &forms {
        body.push_str(name);
        body.push_str(": ");
        body.push_str(value);
        body.push('\n');
    }
    body.push_str(&json!({"authorization": full, "key": key}).to_string());
    body.push('\n');
    let mut resp = (StatusCode::OK, [("content-type", "text/plain")], body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&full) {
        h.append("x-echo-authorization", v);
    }
    for (name, value) in &forms {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.append("x-echo", v.clone());
            if let Ok(n) = axum::http::HeaderName::from_bytes(format!("x-echo-{name}").as_bytes()) {
                h.append(n, v);
            }
        }
    }
    // Under `/names`, the key as part of a header name (names travel lower-cased).
    if req.uri().path().ends_with("/names")
        && let Ok(n) = axum::http::HeaderName::from_bytes(format!("x-echo-name-{key}").as_bytes())
    {
        h.append(n, HeaderValue::from_static("1"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("session={key}")) {
        h.append("set-cookie", v);
    }
    resp
}

async fn redirect_handler(req: Request) -> Response {
    let path = req.uri().path().to_string();
    if let Some(code) = path.strip_prefix("/redirect/") {
        let to = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("to="))
            .map(|t| {
                percent_encoding::percent_decode_str(t)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_else(|| "/".into());
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::FOUND);
        return (status, [("location", to)], "redirecting").into_response();
    }
    ok_handler(req).await
}

/// Percent-encoding of everything outside RFC 3986 "unreserved".
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The reflected forms of `key`: raw, base64 (standard and url-safe, padded and not, at every
/// alignment, including `user:KEY` as in Basic auth), hex in both cases, percent-encoding with
/// upper- and lower-case hex, and JSON string escaping.
pub fn echo_forms(key: &str) -> Vec<(String, String)> {
    let mut out = vec![("raw".to_string(), key.to_string())];
    for prefix in ["", "x", "xy", "user:", "Bearer "] {
        let input = format!("{prefix}{key}");
        let tag = match prefix {
            "" => "0",
            "x" => "1",
            "xy" => "2",
            "user:" => "user",
            _ => "bearer",
        };
        out.push((format!("b64-{tag}"), STANDARD.encode(&input)));
        out.push((format!("b64nopad-{tag}"), STANDARD_NO_PAD.encode(&input)));
        out.push((format!("b64url-{tag}"), URL_SAFE.encode(&input)));
        out.push((format!("b64urlnopad-{tag}"), URL_SAFE_NO_PAD.encode(&input)));
    }
    out.push(("hex".into(), hex::encode(key)));
    out.push(("hex-upper".into(), hex::encode_upper(key)));
    let pct = utf8_percent_encode(key, NOT_UNRESERVED).to_string();
    out.push(("pct-lower".into(), lower_escapes(&pct)));
    out.push(("pct".into(), pct));
    let json = serde_json::to_string(key).expect("json string");
    out.push(("json".into(), json[1..json.len() - 1].to_string()));
    out
}

fn lower_escapes(pct: &str) -> String {
    let mut out = String::with_capacity(pct.len());
    let mut rest = pct;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        out.push_str(&rest[i..i + 3].to_ascii_lowercase());
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Substrings that betray `key` in any form of [`echo_forms`]. For base64 of `prefix + key` this
/// is the run of characters determined by the key's bytes alone, so a needle is found whatever
/// surrounds the key.
pub fn leak_needles(key: &str) -> Vec<(String, String)> {
    let mut out = vec![("raw".to_string(), key.to_string())];
    for p in 0..3usize {
        let input = [&b"xyz"[..p], key.as_bytes()].concat();
        let start = (p * 4).div_ceil(3);
        let end = (input.len() * 8) / 6;
        for (name, enc) in [
            ("b64", STANDARD.encode(&input)),
            ("b64url", URL_SAFE.encode(&input)),
        ] {
            out.push((format!("{name}-align{p}"), enc[start..end].to_string()));
        }
    }
    for (name, form) in echo_forms(key) {
        if name.starts_with("hex") || name.starts_with("pct") || name == "json" {
            out.push((name, form));
        }
    }
    out
}

/// The first needle of [`leak_needles`] found in `haystack`, by name.
pub fn find_leak(haystack: &str, key: &str) -> Option<String> {
    leak_needles(key)
        .into_iter()
        .find(|(_, n)| haystack.contains(n.as_str()))
        .map(|(name, _)| name)
}

/// A raw TCP upstream that answers with the credential it received split across many small
/// chunked-encoding chunks (raw, then base64, then hex), flushing and pausing between them.
#[derive(Debug)]
pub struct ChunkedReflector {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ChunkedReflector {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind chunked reflector");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(chunked_answer(sock));
            }
        });
        Self { addr, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ChunkedReflector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chunked_answer(mut sock: tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization").then(|| {
                v.trim()
                    .split_once(' ')
                    .map_or(v.trim(), |(_, k)| k)
                    .to_string()
            })
        })
        .unwrap_or_default();
    let mut pieces: Vec<String> = vec!["token=".into()];
    for text in [key.clone(), STANDARD.encode(&key), hex::encode(&key)] {
        let chars: Vec<char> = text.chars().collect();
        for (i, c) in chars.chunks(3).enumerate() {
            // Alternate 3- and 2-character pieces so no piece boundary lines up with a pattern.
            let s: String = c.iter().collect();
            if i % 2 == 0 || s.len() < 2 {
                pieces.push(s);
            } else {
                pieces.push(s[..2].to_string());
                pieces.push(s[2..].to_string());
            }
        }
        pieces.push("\n".into());
    }
    let header = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    if sock.write_all(header.as_bytes()).await.is_err() {
        return;
    }
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        let chunk = format!("{:x}\r\n{p}\r\n", p.len());
        if sock.write_all(chunk.as_bytes()).await.is_err() || sock.flush().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let _ = sock.write_all(b"0\r\n\r\n").await;
    let _ = sock.shutdown().await;
}

/// A raw TCP upstream that sends response headers at once and then one body byte every
/// `every`, forever (until the client goes away or a minute passes).
#[derive(Debug)]
pub struct Trickle {
    pub addr: SocketAddr,
    /// Connections that have been closed by the client (the trickle stopped).
    pub closed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Trickle {
    pub async fn start(every: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind trickle");
        let addr = listener.local_addr().expect("addr");
        let closed = Arc::new(AtomicUsize::new(0));
        let c = closed.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                    while tokio::time::Instant::now() < deadline {
                        if sock.write_all(b"1\r\nx\r\n").await.is_err() {
                            c.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        tokio::time::sleep(every).await;
                    }
                });
            }
        });
        Self { addr, closed, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
