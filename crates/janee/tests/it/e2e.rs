//! End-to-end tests through MCP clients this project did not write.
//!
//! The official Python `mcp` SDK (scripts in `tests/e2e/`) and the MCP Inspector CLI drive the
//! real binary over stdio and Streamable HTTP, in both protocol eras, against a loopback
//! upstream that runs inside this test process. `scripts/setup-test-deps.sh` installs both
//! clients under `target/`; when they are missing these tests fail and say so.
//!
//! Every test gets its own home (see [`Fixture`]), upstream port and server port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Response, StatusCode, header};
use base64::Engine as _;

use super::util::{Env, PASSPHRASE, bin};

/// The service credential. Only the upstream may ever see it.
const SECRET: &str = "sk_e2e_9f3c1a7b5d2e4f60a8b7c6d5e4f3a2b1";
/// The names below are the fixture contract with `tests/e2e/common.py`.
const AGENT: &str = "a1";
const OTHER_AGENT: &str = "b2";
const CAP: &str = "api";
const HIDDEN_CAP: &str = "hidden";
const GREETING: &str = "hello from the e2e upstream";
const SETUP: &str =
    "run scripts/setup-test-deps.sh (it installs the outside MCP clients into target/)";
/// Upper bound for one client run; the whole suite stays well under a minute.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------------------------
// The upstream: a loopback HTTP server that records what it received.

struct Upstream {
    url: String,
    /// `"METHOD /path"` and the Authorization header of every request received.
    seen: Arc<Mutex<Vec<(String, String)>>>,
    _rt: tokio::runtime::Runtime,
}

impl Upstream {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("upstream addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                let log = Arc::clone(&log);
                async move { respond(&req, &log) }
            });
            axum::serve(listener, app).await.expect("upstream serve");
        });
        Self {
            url: format!("http://{addr}"),
            seen,
            _rt: rt,
        }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

fn respond(
    req: &axum::extract::Request,
    log: &Mutex<Vec<(String, String)>>,
) -> Response<axum::body::Body> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path = req.uri().path().to_owned();
    log.lock()
        .unwrap()
        .push((format!("{} {path}", req.method()), auth.clone()));
    let echoed = match path.as_str() {
        "/v1/hello" => None,
        "/echo/raw" => Some(auth.clone()),
        "/echo/b64" => Some(base64::engine::general_purpose::STANDARD.encode(&auth)),
        "/echo/hex" => Some(hex::encode(&auth)),
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body("no such path".into())
                .unwrap();
        }
    };
    let body = match echoed {
        None => serde_json::json!({ "greeting": GREETING }),
        Some(v) => serde_json::json!({ "youSent": v }),
    };
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string().into())
        .unwrap();
    if path == "/echo/raw" {
        let v = HeaderValue::from_str(&auth).unwrap();
        resp.headers_mut().insert("x-echo-authorization", v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// The home, prepared with the real binary.

struct Fixture {
    env: Env,
    upstream: Upstream,
    /// Bearer token of [`AGENT`].
    token: String,
}

impl Fixture {
    fn new() -> Self {
        let upstream = Upstream::start();
        let env = Env::init();
        let out = env.run_env(
            &[
                "add",
                "upstream",
                "--url",
                &upstream.url,
                "--key-from-env",
                "SVC_KEY",
                "--no-capability",
            ],
            &[("SVC_KEY", SECRET)],
        );
        assert!(
            out.status.success(),
            "janee add: {}",
            super::util::stderr(&out)
        );
        env.ok(&[
            "cap",
            "add",
            CAP,
            "--service",
            "upstream",
            "--allow",
            "GET /v1/*",
            "--allow",
            "GET /echo/*",
            "--deny",
            "* /v1/admin*",
        ]);
        env.ok(&[
            "cap",
            "add",
            HIDDEN_CAP,
            "--service",
            "upstream",
            "--allowed-agents",
            OTHER_AGENT,
        ]);
        let token = env.ok(&["agent", "add", AGENT]).trim().to_owned();
        assert!(token.starts_with("janee_at_"), "agent token: {token:?}");
        env.ok(&["agent", "add", OTHER_AGENT]);
        Self {
            env,
            upstream,
            token,
        }
    }

    /// The upstream got the injected credential, and never a request a rule denies.
    fn assert_upstream_saw_credential_and_no_denied_request(&self) {
        let seen = self.upstream.seen();
        assert!(!seen.is_empty(), "the upstream received nothing");
        for (req, auth) in &seen {
            assert_eq!(auth, &format!("Bearer {SECRET}"), "{req}: credential");
            assert!(
                !req.contains("/v1/admin"),
                "a denied request reached the upstream: {req}"
            );
        }
    }
}

/// `janee serve -t http --port 0`, killed on drop.
struct HttpServer {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl HttpServer {
    fn start(env: &Env) -> Self {
        let mut child = env
            .cmd()
            .args(["serve", "-t", "http", "--port", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn janee serve");
        let pipe = child.stderr.take().expect("stderr pipe");
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = Arc::clone(&stderr);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving MCP on ").nth(1) {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "janee serve -t http did not announce its URL:\n{}",
                stderr.lock().unwrap()
            );
        };
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
            "{url}"
        );
        Self { child, url, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Running the outside clients.

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run `cmd` with its output in files under the fixture's directory, killed after
/// [`CLIENT_TIMEOUT`].
fn run_bounded(fx: &Fixture, name: &str, mut cmd: Command) -> Run {
    let out_path = fx.env.dir.path().join(format!("{name}.stdout"));
    let err_path = fx.env.dir.path().join(format!("{name}.stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    assert!(
        status.is_some(),
        "{name} timed out after {CLIENT_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run
}

/// Run `tests/e2e/<script>` with the venv's Python and require exit 0.
fn python(fx: &Fixture, script: &str, vars: &[(&str, &str)]) -> String {
    let py = repo_root().join("target/e2e-venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: {SETUP}. These tests drive janee through the official Python mcp client.",
        py.display()
    );
    let mut cmd = Command::new(py);
    cmd.arg(repo_root().join("tests/e2e").join(script))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", fx.env.dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("JANEE_BIN", bin())
        .env("JANEE_HOME", &fx.env.home)
        .env("JANEE_PASSPHRASE", PASSPHRASE)
        .env("JANEE_NO_KEYRING", "1")
        .env("E2E_AGENT", AGENT);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let run = run_bounded(fx, script, cmd);
    assert_eq!(
        run.code,
        Some(0),
        "{script} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    print!("{}", run.stdout);
    run.stdout
}

/// The MCP Inspector CLI (`mcp-inspector --cli --format json ARGS`).
fn inspector(fx: &Fixture, name: &str, args: &[&str]) -> Run {
    let cli = repo_root().join("target/e2e-node/node_modules/.bin/mcp-inspector");
    assert!(
        cli.exists(),
        "{} is missing: {SETUP}. These tests drive janee through the MCP Inspector CLI.",
        cli.display()
    );
    let mut cmd = Command::new(cli);
    cmd.args(["--cli", "--format", "json", "--quiet"])
        .args(args)
        .current_dir(fx.env.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // The Inspector keeps its catalog and any stored auth under $HOME.
        .env("HOME", fx.env.dir.path());
    run_bounded(fx, name, cmd)
}

/// The JSON result of a successful Inspector run.
fn inspector_ok(fx: &Fixture, name: &str, args: &[&str]) -> serde_json::Value {
    let run = inspector(fx, name, args);
    assert_eq!(
        run.code,
        Some(0),
        "inspector {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("inspector {args:?}: not JSON ({e}): {}", run.stdout));
    v.get("result")
        .cloned()
        .unwrap_or_else(|| panic!("inspector {args:?}: no result: {v}"))
}

/// The JSON text of a tool result returned by the Inspector.
fn tool_json(result: &serde_json::Value) -> serde_json::Value {
    assert_eq!(result["isError"], false, "tool error: {result}");
    let text = result["content"][0]["text"].as_str().expect("text content");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("tool text is not JSON ({e}): {text}"))
}

fn assert_tools_list(result: &serde_json::Value) {
    let tools = result["tools"].as_array().expect("tools array");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for want in ["list_services", "execute", "whoami", "explain_access"] {
        assert!(names.contains(&want), "tools/list lacks {want}: {names:?}");
    }
    let execute = tools.iter().find(|t| t["name"] == "execute").unwrap();
    let required = execute["inputSchema"]["required"]
        .as_array()
        .expect("required");
    for field in ["capability", "method", "path"] {
        assert!(
            required.iter().any(|r| r == field),
            "execute schema: {execute}"
        );
    }
}

fn listed_names(services: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = services
        .as_array()
        .expect("list_services array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn python_mcp_client_over_stdio_legacy_and_auto() {
    let fx = Fixture::new();
    let out = python(&fx, "stdio_client.py", &[]);
    assert!(out.contains("STDIO OK"), "{out}");
    fx.assert_upstream_saw_credential_and_no_denied_request();
}

#[test]
fn python_mcp_client_over_http_legacy_and_auto() {
    let fx = Fixture::new();
    let server = HttpServer::start(&fx.env);
    let out = python(
        &fx,
        "http_client.py",
        &[("E2E_URL", &server.url), ("E2E_TOKEN", &fx.token)],
    );
    assert!(
        out.contains("HTTP OK"),
        "{out}\nserver stderr:\n{}",
        server.stderr()
    );
    fx.assert_upstream_saw_credential_and_no_denied_request();
    assert!(!server.stderr().contains(SECRET), "{}", server.stderr());
}

#[test]
fn python_mcp_client_never_sees_an_echoed_secret() {
    let fx = Fixture::new();
    let server = HttpServer::start(&fx.env);
    let out = python(
        &fx,
        "secret_echo.py",
        &[
            ("E2E_URL", &server.url),
            ("E2E_TOKEN", &fx.token),
            ("E2E_SECRET", SECRET),
        ],
    );
    assert!(out.contains("SECRET ECHO OK"), "{out}");
    // The redaction is not vacuous: the upstream really got, and echoed, the credential.
    let echoes = fx
        .upstream
        .seen()
        .into_iter()
        .filter(|(req, _)| req.starts_with("GET /echo/"))
        .count();
    assert_eq!(echoes, 6, "three echo paths over two transports");
    fx.assert_upstream_saw_credential_and_no_denied_request();
}

#[test]
fn mcp_inspector_cli_over_stdio() {
    let fx = Fixture::new();
    let home = format!("JANEE_HOME={}", fx.env.home.display());
    let pass = format!("JANEE_PASSPHRASE={PASSPHRASE}");
    let stdio = |era: &'static str, extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["--protocol-era", era, "-e", &home, "-e", &pass]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        a.extend(["-e", "JANEE_NO_KEYRING=1", bin(), "serve", "--agent", AGENT].map(String::from));
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let call = |name: &str, era: &'static str, extra: &[&'static str]| {
        let args = stdio(era, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        inspector_ok(&fx, name, &args)
    };

    assert_tools_list(&call("tools-list", "legacy", &["--method", "tools/list"]));

    let listed = call(
        "list-services",
        "legacy",
        &["--method", "tools/call", "--tool-name", "list_services"],
    );
    assert_eq!(listed_names(&tool_json(&listed)), [CAP]);

    let me = tool_json(&call(
        "whoami",
        "legacy",
        &["--method", "tools/call", "--tool-name", "whoami"],
    ));
    assert_eq!(me["agentId"], AGENT, "{me}");

    // The stateless protocol era through the same client.
    let out = tool_json(&call(
        "execute-auto",
        "auto",
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "execute",
            "--tool-args-json",
            r#"{"capability":"api","method":"GET","path":"/v1/hello"}"#,
        ],
    ));
    assert_eq!(out["status"], 200, "{out}");
    assert!(out["body"].as_str().unwrap().contains(GREETING), "{out}");
    fx.assert_upstream_saw_credential_and_no_denied_request();
}

#[test]
fn mcp_inspector_cli_over_http_with_bearer_header() {
    let fx = Fixture::new();
    let server = HttpServer::start(&fx.env);
    let bearer = format!("Authorization: Bearer {}", fx.token);
    let http = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            server.url.as_str(),
            "--transport",
            "http",
            "--header",
            &bearer,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let call = |name: &str, extra: &[&str]| {
        let args = http(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        inspector_ok(&fx, name, &args)
    };

    assert_tools_list(&call("http-tools-list", &["--method", "tools/list"]));
    let listed = call(
        "http-list-services",
        &["--method", "tools/call", "--tool-name", "list_services"],
    );
    assert_eq!(listed_names(&tool_json(&listed)), [CAP]);
    let me = tool_json(&call(
        "http-whoami-modern",
        &[
            "--protocol-era",
            "modern",
            "--method",
            "tools/call",
            "--tool-name",
            "whoami",
        ],
    ));
    assert_eq!(me["agentId"], AGENT, "{me}");
    assert_eq!(me["identitySource"], "token", "{me}");

    // A wrong token: refused, and the Inspector (kept non-interactive) reports it needs auth.
    let wrong = "Authorization: Bearer janee_at_notARealToken000000000000000000000000";
    let run = inspector(
        &fx,
        "http-wrong-token",
        &[
            &server.url,
            "--transport",
            "http",
            "--header",
            wrong,
            "--stored-auth-only",
            "--method",
            "tools/list",
        ],
    );
    assert_ne!(run.code, Some(0), "wrong token accepted: {}", run.stdout);
    assert!(!run.stdout.contains("list_services"), "{}", run.stdout);
    assert!(run.stderr.contains("auth_required"), "{}", run.stderr);
}

#[test]
fn python_mcp_client_approves_through_elicitation_over_stdio() {
    let fx = Fixture::new();
    fx.env.ok(&[
        "cap",
        "add",
        "guarded",
        "--service",
        "upstream",
        "--no-auto-approve",
    ]);
    let out = python(&fx, "elicit_approval.py", &[]);
    assert!(out.contains("ELICIT OK"), "{out}");
    let events: Vec<String> = fx
        .env
        .ok(&["logs", "--json"])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["event"].as_str().map(str::to_string))
        .collect();
    for e in ["approval-request", "approve", "deny", "session-open"] {
        assert!(events.iter().any(|x| x == e), "no {e} event in {events:?}");
    }
}
